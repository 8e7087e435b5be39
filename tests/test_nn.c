/* test_nn.c -- common/nn: every backward pass against central finite
 * differences of its forward pass, the accumulate-into-gradient convention,
 * NULL gradients skipped, and the properties each forward pass promises
 * (rows of softmax sum to one, layer norm's output has mean 0 and variance
 * 1, cross-entropy is -log softmax at the target, causal attention at t = 0
 * returns v_0, AdamW's first step moves each weight by lr against the sign
 * of its gradient).
 *
 * The gradient checks.  Each forward pass is wrapped in a scalar loss
 * L = sum_i out_i r_i with fixed random r, so dL/dout = r, and the backward
 * pass, given dout = r, must return dL/dinput.  The forward passes compute
 * in f32, so the central difference carries rounding noise of about
 * 1e-7 |L| / h, and truncation error O(h^2); with h = 1e-2 and inputs of
 * order 1 both stay near 1e-4 of the gradient's scale.  The tolerance is
 * 2e-3 of the largest gradient in the array.  The bugs this catches -- a
 * dropped term, a wrong sign, a missing factor -- move a gradient by O(1) of
 * itself. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "matmul.h"
#include "nn.h"
#include "rng.h"
#include "util.h"

#define GRAD_TOL 2e-3

typedef struct Case Case;
struct Case {
    void (*forward)(Case *c);
    float *out, *r;
    size_t nout;
    /* inputs and saved state, used by the forward functions below */
    float *x, *w, *b, *s1, *s2;
    int32_t *ids;
    int B, T, C, N, V, H, NH, OC;
};

static double case_loss(const float *unused, void *ctx) {
    (void)unused;
    Case *c = ctx;
    c->forward(c);
    double L = 0;
    for (size_t i = 0; i < c->nout; i++) L += (double)c->out[i] * c->r[i];
    return L;
}

static float *randn(Rng *r, size_t n, float scale) {
    float *p = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = scale * (float)rng_normal(r);
    return p;
}

static float *zeros(size_t n) { return xcalloc(n, sizeof(float)); }

/* Check grad (analytic, for array x of n values) against the finite
 * difference: the worst absolute disagreement, relative to the largest
 * gradient in the array, must be under GRAD_TOL. */
static void expect_grad(Check *t, Case *c, float *x, const float *grad, size_t n, const char *what) {
    GradErr e = gradcheck_f32(case_loss, c, x, n, grad, 1e-2f);
    double scale = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(grad[i]));
    double err = e.max_abs / fmax(scale, 1e-12);
    check_true(t, err < GRAD_TOL, "%s: gradient matches finite differences (max error %.2e of max |grad| at %zu)",
               what, err, e.worst);
}

/* ---- forward wrappers --------------------------------------------------------- */

static void fw_linear(Case *c) { linear_forward(c->out, c->x, c->w, c->b, c->N, c->C, c->OC); }
static void fw_layernorm(Case *c) { layernorm_forward(c->out, c->s1, c->s2, c->x, c->w, c->b, c->N, c->C); }
static void fw_rmsnorm(Case *c) { rmsnorm_forward(c->out, c->s1, c->x, c->w, c->N, c->C); }
static void fw_gelu(Case *c) { gelu_forward(c->out, c->x, c->nout); }
static void fw_swiglu(Case *c) { swiglu_forward(c->out, c->x, c->N, c->H); }
static void fw_softmax(Case *c) { softmax_forward(c->out, c->x, c->N, c->V); }
static void fw_attention(Case *c) { attention_forward(c->out, c->s1, c->x, c->B, c->T, c->C, c->NH); }
static void fw_embedding(Case *c) { embedding_forward(c->out, c->ids, c->w, c->b, c->B, c->T, c->C); }
static void fw_residual(Case *c) { residual_forward(c->out, c->x, c->w, c->nout); }
static void fw_xent(Case *c) {
    /* out = the per-row losses; r = 1/count on every row, so L is the mean loss */
    cross_entropy_forward(c->out, c->s1, c->x, c->ids, c->N, c->V);
}

/* ---- tests --------------------------------------------------------------------- */

static void test_linear(Check *t, Rng *g) {
    int N = 7, C = 13, OC = 5;
    Case c = {.forward = fw_linear, .N = N, .C = C, .OC = OC, .nout = (size_t)N * OC};
    c.x = randn(g, (size_t)N * C, 1), c.w = randn(g, (size_t)OC * C, 0.5f), c.b = randn(g, OC, 1);
    c.out = zeros(c.nout), c.r = randn(g, c.nout, 1);
    /* forward against the reference product */
    float *ref = zeros(c.nout);
    matmul_ref_f32(false, true, N, OC, C, 1, c.x, C, c.w, C, 0, ref, OC);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) ref[n * OC + o] += c.b[o];
    fw_linear(&c);
    check_close_f32(t, c.out, ref, c.nout, 1e-5, 1e-5, "linear forward = inp w^T + b");
    float *dx = zeros((size_t)N * C), *dw = zeros((size_t)OC * C), *db = zeros(OC);
    linear_backward(dx, dw, db, c.r, c.x, c.w, N, C, OC);
    expect_grad(t, &c, c.x, dx, (size_t)N * C, "linear dinp");
    expect_grad(t, &c, c.w, dw, (size_t)OC * C, "linear dweight");
    expect_grad(t, &c, c.b, db, OC, "linear dbias");
    /* accumulation: a second call doubles, NULL pointers are skipped */
    float *dx2 = zeros((size_t)N * C);
    memcpy(dx2, dx, (size_t)N * C * sizeof(float));
    linear_backward(dx2, NULL, NULL, c.r, c.x, c.w, N, C, OC);
    for (size_t i = 0; i < (size_t)N * C; i++) dx[i] *= 2;
    check_close_f32(t, dx2, dx, (size_t)N * C, 1e-6, 1e-5, "linear backward accumulates into dinp");
    free(c.x), free(c.w), free(c.b), free(c.out), free(c.r), free(ref), free(dx), free(dw), free(db), free(dx2);
}

static void test_layernorm(Check *t, Rng *g) {
    int N = 5, C = 11;
    Case c = {.forward = fw_layernorm, .N = N, .C = C, .nout = (size_t)N * C};
    c.x = randn(g, c.nout, 2), c.w = randn(g, C, 1), c.b = randn(g, C, 1);
    for (size_t i = 0; i < c.nout; i++) c.x[i] += 3.0f;   /* a mean far from 0 */
    c.s1 = zeros(N), c.s2 = zeros(N), c.out = zeros(c.nout), c.r = randn(g, c.nout, 1);
    /* with w = 1, b = 0 each row has mean 0 and variance 1 (up to eps) */
    float *ones = xmalloc(C * sizeof(float));
    for (int i = 0; i < C; i++) ones[i] = 1;
    layernorm_forward(c.out, c.s1, c.s2, c.x, ones, NULL, N, C);
    for (int n = 0; n < N; n++) {
        double m = 0, v = 0;
        for (int i = 0; i < C; i++) m += c.out[n * C + i];
        m /= C;
        for (int i = 0; i < C; i++) v += (c.out[n * C + i] - m) * (c.out[n * C + i] - m);
        v /= C;
        check_close(t, m, 0, 1e-5, 0, "layernorm row %d has mean 0", n);
        check_close(t, v, 1, 1e-4, 1e-4, "layernorm row %d has variance 1", n);
    }
    fw_layernorm(&c);
    float *dx = zeros(c.nout), *dw = zeros(C), *db = zeros(C);
    layernorm_backward(dx, dw, db, c.r, c.x, c.w, c.s1, c.s2, N, C);
    expect_grad(t, &c, c.x, dx, c.nout, "layernorm dinp");
    expect_grad(t, &c, c.w, dw, C, "layernorm dweight");
    expect_grad(t, &c, c.b, db, C, "layernorm dbias");
    /* the input gradient of each row sums to zero: shifting a row changes nothing */
    for (int n = 0; n < N; n++) {
        double s = 0;
        for (int i = 0; i < C; i++) s += dx[n * C + i];
        check_close(t, s, 0, 1e-4, 0, "layernorm dinp row %d sums to 0", n);
    }
    free(ones), free(c.x), free(c.w), free(c.b), free(c.s1), free(c.s2), free(c.out), free(c.r);
    free(dx), free(dw), free(db);
}

static void test_rmsnorm(Check *t, Rng *g) {
    int N = 4, C = 9;
    Case c = {.forward = fw_rmsnorm, .N = N, .C = C, .nout = (size_t)N * C};
    c.x = randn(g, c.nout, 2), c.w = randn(g, C, 1), c.s1 = zeros(N);
    c.out = zeros(c.nout), c.r = randn(g, c.nout, 1);
    fw_rmsnorm(&c);
    float *dx = zeros(c.nout), *dw = zeros(C);
    rmsnorm_backward(dx, dw, c.r, c.x, c.w, c.s1, N, C);
    expect_grad(t, &c, c.x, dx, c.nout, "rmsnorm dinp");
    expect_grad(t, &c, c.w, dw, C, "rmsnorm dweight");
    free(c.x), free(c.w), free(c.s1), free(c.out), free(c.r), free(dx), free(dw);
}

static void test_pointwise(Check *t, Rng *g) {
    size_t n = 41;
    Case c = {.forward = fw_gelu, .nout = n};
    c.x = randn(g, n, 2), c.out = zeros(n), c.r = randn(g, n, 1);
    float *dx = zeros(n);
    gelu_backward(dx, c.r, c.x, n);
    expect_grad(t, &c, c.x, dx, n, "gelu dinp");
    /* the tanh form stays within 1e-3 of the exact x Phi(x) */
    fw_gelu(&c);
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double x = c.x[i], exact = 0.5 * x * (1 + erf(x / sqrt(2)));
        worst = worst_of(worst, fabs(c.out[i] - exact));
    }
    check_true(t, worst < 1e-3, "gelu tanh form within 1e-3 of x Phi(x) (worst %.1e)", worst);
    free(c.x), free(c.out), free(c.r), free(dx);

    int N = 3, H = 7;
    Case s = {.forward = fw_swiglu, .N = N, .H = H, .nout = (size_t)N * H};
    s.x = randn(g, (size_t)N * 2 * H, 1.5f), s.out = zeros(s.nout), s.r = randn(g, s.nout, 1);
    float *dsx = zeros((size_t)N * 2 * H);
    swiglu_backward(dsx, s.r, s.x, N, H);
    expect_grad(t, &s, s.x, dsx, (size_t)N * 2 * H, "swiglu dinp");
    free(s.x), free(s.out), free(s.r), free(dsx);

    Case r = {.forward = fw_residual, .nout = n};
    r.x = randn(g, n, 1), r.w = randn(g, n, 1), r.out = zeros(n), r.r = randn(g, n, 1);
    float *da = zeros(n), *db = zeros(n);
    residual_backward(da, db, r.r, n);
    expect_grad(t, &r, r.x, da, n, "residual da");
    expect_grad(t, &r, r.w, db, n, "residual db");
    free(r.x), free(r.w), free(r.out), free(r.r), free(da), free(db);
}

static void test_softmax_xent(Check *t, Rng *g) {
    int N = 6, V = 10;
    Case c = {.forward = fw_softmax, .N = N, .V = V, .nout = (size_t)N * V};
    c.x = randn(g, c.nout, 3), c.out = zeros(c.nout), c.r = randn(g, c.nout, 1);
    fw_softmax(&c);
    for (int n = 0; n < N; n++) {
        double s = 0;
        for (int i = 0; i < V; i++) s += c.out[n * V + i];
        check_close(t, s, 1, 1e-6, 0, "softmax row %d sums to 1", n);
    }
    float *dx = zeros(c.nout);
    softmax_backward(dx, c.r, c.out, N, V);
    expect_grad(t, &c, c.x, dx, c.nout, "softmax dinp");

    /* cross-entropy: rows 0..N-1, row 2 without a target (recompute the
     * probabilities: the finite differences left them at a moved input) */
    fw_softmax(&c);
    int32_t ids[6] = {3, 0, -1, 9, 4, 4};
    Case e = {.forward = fw_xent, .N = N, .V = V, .nout = (size_t)N, .ids = ids};
    e.x = c.x, e.out = zeros(N), e.s1 = zeros(N), e.r = zeros(N);
    for (int n = 0; n < N; n++) e.r[n] = 1.0f / 5;
    float mean = cross_entropy_forward(e.out, e.s1, e.x, ids, N, V);
    double want = 0;
    for (int n = 0; n < N; n++)
        if (ids[n] >= 0) {
            check_close(t, e.out[n], -log(c.out[n * V + ids[n]]), 1e-5, 1e-5,
                        "cross-entropy row %d = -log softmax[target]", n);
            want += e.out[n] / 5;
        }
    check_close(t, e.out[2], 0, 0, 0, "cross-entropy: a row without a target has no loss");
    check_close(t, mean, want, 1e-6, 1e-6, "cross-entropy returns the mean over rows with a target");
    float *dl = zeros(c.nout);
    cross_entropy_backward(dl, e.x, e.s1, ids, 1.0f / 5, N, V);
    expect_grad(t, &e, e.x, dl, c.nout, "cross-entropy dlogits");
    /* in place: the logits become the gradient (recompute lse: the checks moved it) */
    cross_entropy_forward(e.out, e.s1, e.x, ids, N, V);
    float *inplace = xmalloc(c.nout * sizeof(float));
    memcpy(inplace, e.x, c.nout * sizeof(float));
    cross_entropy_backward(inplace, inplace, e.s1, ids, 1.0f / 5, N, V);
    check_close_f32(t, inplace, dl, c.nout, 1e-7, 1e-6, "cross-entropy backward in place");
    /* huge logits: log-sum-exp keeps the loss finite and right */
    float big[3] = {1000.0f, 999.0f, -1000.0f}, lse1, loss1;
    int32_t tg = 1;
    cross_entropy_forward(&loss1, &lse1, big, &tg, 1, 3);
    check_close(t, loss1, 1.0 + log1p(exp(-1.0)), 1e-4, 1e-5, "cross-entropy with logits near 1000 (%g)", loss1);
    free(c.x), free(c.out), free(c.r), free(dx), free(e.out), free(e.s1), free(e.r), free(dl), free(inplace);
}

static void test_attention(Check *t, Rng *g) {
    int B = 2, T = 5, C = 8, NH = 2;
    size_t nq = (size_t)B * T * 3 * C, no = (size_t)B * T * C;
    Case c = {.forward = fw_attention, .B = B, .T = T, .C = C, .NH = NH, .nout = no};
    c.x = randn(g, nq, 1), c.s1 = zeros((size_t)B * NH * T * T), c.out = zeros(no), c.r = randn(g, no, 1);
    fw_attention(&c);
    /* position 0 attends only to itself: out = v_0 */
    for (int b = 0; b < B; b++)
        check_close_f32(t, c.out + (size_t)b * T * C, c.x + (size_t)b * T * 3 * C + 2 * C, C, 1e-6, 1e-6,
                        "attention at t = 0 returns v_0 (batch %d)", b);
    /* causal rows are distributions over u <= t, zero above */
    bool ok = true;
    for (int r = 0; r < B * NH * T; r++) {
        int tt = r % T;
        double s = 0;
        for (int u = 0; u < T; u++) {
            float a = c.s1[(size_t)r * T + u];
            if (u > tt && a != 0) ok = false;
            s += a;
        }
        if (fabs(s - 1) > 1e-5) ok = false;
    }
    check_true(t, ok, "attention rows sum to 1 and are 0 above the diagonal");
    float *dq = zeros(nq);
    attention_backward(dq, c.r, c.x, c.s1, B, T, C, NH);
    expect_grad(t, &c, c.x, dq, nq, "attention dqkv");
    free(c.x), free(c.s1), free(c.out), free(c.r), free(dq);
}

static void test_embedding(Check *t, Rng *g) {
    int B = 2, T = 3, C = 4, V = 5;
    int32_t ids[6] = {1, 4, 1, 0, 2, 1};
    Case c = {.forward = fw_embedding, .B = B, .T = T, .C = C, .ids = ids, .nout = (size_t)B * T * C};
    c.w = randn(g, (size_t)V * C, 1), c.b = randn(g, (size_t)T * C, 1);
    c.out = zeros(c.nout), c.r = randn(g, c.nout, 1);
    float *dwte = zeros((size_t)V * C), *dwpe = zeros((size_t)T * C);
    embedding_backward(dwte, dwpe, c.r, ids, B, T, C);
    expect_grad(t, &c, c.w, dwte, (size_t)V * C, "embedding dwte (token 1 used three times)");
    expect_grad(t, &c, c.b, dwpe, (size_t)T * C, "embedding dwpe");
    free(c.w), free(c.b), free(c.out), free(c.r), free(dwte), free(dwpe);
}

static void test_adamw(Check *t, Rng *g) {
    size_t n = 100;
    float *p = randn(g, n, 1), *grad = randn(g, n, 1), *m = zeros(n), *v = zeros(n);
    float *p0 = xmalloc(n * sizeof(float));
    memcpy(p0, p, n * sizeof(float));
    AdamW opt = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0};
    adamw_update(p, grad, m, v, n, &opt, 1, 1.0f);
    /* first step: mhat = g, vhat = g^2, so the step is lr g/|g| = lr sign(g) */
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double step = p0[i] - p[i], want = opt.lr * (grad[i] > 0 ? 1 : -1);
        if (fabs(grad[i]) > 1e-3) worst = worst_of(worst, fabs(step - want));
    }
    check_true(t, worst < 1e-6, "AdamW's first step is lr sign(g) (worst %.1e)", worst);
    /* second step against the formula in double */
    opt.weight_decay = 0.1f;
    float *grad2 = randn(g, n, 1);
    double worst2 = 0;
    float before[100];
    memcpy(before, p, n * sizeof(float));
    float m1[100], v1[100];
    memcpy(m1, m, sizeof m1), memcpy(v1, v, sizeof v1);
    adamw_update(p, grad2, m, v, n, &opt, 2, 0.5f);
    for (size_t i = 0; i < n; i++) {
        double gi = 0.5 * grad2[i];
        double mm = 0.9 * m1[i] + 0.1 * gi, vv = 0.95 * v1[i] + 0.05 * gi * gi;
        double mh = mm / (1 - 0.81), vh = vv / (1 - 0.9025);
        double want = before[i] - 1e-2 * (mh / (sqrt(vh) + 1e-8) + 0.1 * before[i]);
        worst2 = worst_of(worst2, fabs(p[i] - want));
    }
    check_true(t, worst2 < 1e-5, "AdamW step 2 with decay and grad_scale matches the formula (worst %.1e)", worst2);
    /* gradient norm and clipping */
    float gg[3] = {3, 4, 0};
    check_close(t, sqrt(grad_norm_squared(gg, 3)), 5, 1e-12, 0, "grad norm of (3,4,0) is 5");
    check_close(t, clip_scale(5, 1), 1.0 / (5 + 1e-6), 1e-7, 1e-6, "clip a norm of 5 to 1");
    check_close(t, clip_scale(0.5, 1), 1, 0, 0, "a norm under the limit is not scaled");
    free(p), free(grad), free(m), free(v), free(p0), free(grad2);
}

int main(void) {
    Check t;
    check_init(&t, "nn");
    Rng g;
    rng_seed(&g, 20261127);
    test_linear(&t, &g);
    test_layernorm(&t, &g);
    test_rmsnorm(&t, &g);
    test_pointwise(&t, &g);
    test_softmax_xent(&t, &g);
    test_attention(&t, &g);
    test_embedding(&t, &g);
    test_adamw(&t, &g);
    return check_summary(&t);
}
