/* test_ch04.c -- chapter 4, a neural language model.
 *
 * Includes the tangled program (build/04-mlp/mlp.c, with TESTING defined so
 * that it has no main) and the tangled solutions to the coding exercises,
 * then checks every derivation of the chapter numerically:
 *   a one-hot row times the embedding matrix is a lookup; the parameter
 *   count formula; the log-sum-exp trick (equal where the naive formula is
 *   computable, finite where it overflows); softmax is the maximum-entropy
 *   distribution; the chapter's softmax and cross-entropy agree with nn.h's;
 *   the gradient of the cross-entropy is q - e_y (central differences);
 *   cross-entropy is -log likelihood / N, and its minimizer over free
 *   logits is chapter 1's normalized counts; the derivatives of ReLU, GELU
 *   and Swish; Swish's mean square under He's initialization; GELU's
 *   tanh formula against x Phi(x); the whole model's
 *   gradient against central differences (every activation, depths 0-3);
 *   perplexity is exp(mean loss) = 1 / geometric mean of probabilities;
 *   power-iteration PCA; the interpolating ReLU network and its error bound;
 *   a checkpoint round trip;
 * then runs every experiment in --quick mode into a temporary directory and
 * checks the TSV files it writes, and checks the program's one-line errors.
 * CPU only: tests/test_ch04_gpu.c compares the devices.
 * Run from the repository root (make test does). */
#include "mlp.c"
#include "ch04-solutions.c"

#include "check.h"
#include "expect_die.h"
#include "matmul.h"

#include <sys/wait.h>
#include "chapter_test.h"

static void random_fill(float *x, size_t n, double scale, Rng *rng) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(scale * rng_normal(rng));
}

static void test_embedding_is_lookup(Check *t) {
    Rng rng;
    rng_seed(&rng, 3);
    int V = 7, D = 5;
    float E[35], onehot[7 * 7] = {0}, prod[35], look[35];
    random_fill(E, 35, 1, &rng);
    int32_t ids[7] = {3, 0, 6, 3, 1, 2, 5};
    for (int i = 0; i < V; i++) onehot[i * V + ids[i]] = 1;
    matmul_f32(false, false, V, D, V, 1, onehot, V, E, D, 0, prod, D);
    embedding_forward(look, ids, E, NULL, 1, V, D);
    bool same = memcmp(prod, look, sizeof prod) == 0;
    check_true(t, same, "one-hot rows times E equal the lookup E[ids], bit for bit");
}

static void test_param_count(Check *t) {
    MlpConfig c = {.V = 5, .T = 3, .D = 2, .H = 4, .L = 1, .act = ACT_RELU};
    /* by hand: (5+1)*2 + (4*6 + 4) + (5*4 + 5) = 12 + 28 + 25 */
    check_true(t, mlp_param_count(&c) == 65, "parameters of V5 T3 D2 H4 L1: 65 (got %zu)", mlp_param_count(&c));
    for (int L = 0; L <= 4; L++) {
        MlpConfig d = {.V = 85, .T = 16, .D = 24, .H = 512, .L = L};
        MlpTensors tt;
        size_t used = mlp_layout(&tt, NULL, &d);
        check_true(t, used == mlp_param_count(&d), "L=%d: the layout uses exactly the counted parameters", L);
    }
}

static void test_log_sum_exp(Check *t) {
    Rng rng;
    rng_seed(&rng, 5);
    float z[85];
    random_fill(z, 85, 3, &rng);
    check_close(t, log_sum_exp(z, 85), log_sum_exp_naive(z, 85), 1e-5, 1e-6, "LSE = naive formula for moderate scores");
    for (int j = 0; j < 85; j++) z[j] = 100;
    check_true(t, isinf(log_sum_exp_naive(z, 85)), "the naive formula overflows for scores of 100");
    check_close(t, log_sum_exp(z, 85), 100 + log(85.0), 1e-6, 1e-7, "LSE of 85 scores of 100 is 100 + ln 85");
    for (int j = 0; j < 85; j++) z[j] = -110;
    check_true(t, isinf(log_sum_exp_naive(z, 85)), "the naive formula underflows to log 0 for scores of -110");
    check_close(t, log_sum_exp(z, 85), -110 + log(85.0), 1e-6, 1e-7, "LSE of scores of -110 is -110 + ln 85");
    /* shift invariance of the softmax */
    float q1[85], q2[85], z2[85];
    random_fill(z, 85, 2, &rng);
    for (int j = 0; j < 85; j++) z2[j] = z[j] + 1000;
    softmax_row(q1, z, 85), softmax_row(q2, z2, 85);
    check_close_f32(t, q2, q1, 85, 1e-6, 1e-3, "softmax(z + 1000) = softmax(z)");
}

static double entropy(const double *q, int V) {
    double h = 0;
    for (int j = 0; j < V; j++) h -= q[j] > 0 ? q[j] * log(q[j]) : 0;
    return h;
}

static void test_softmax(Check *t) {
    Rng rng;
    rng_seed(&rng, 7);
    int N = 6, V = 11;
    float z[66], mine[66], ref[66];
    random_fill(z, 66, 2, &rng);
    for (int n = 0; n < N; n++) softmax_row(mine + n * V, z + n * V, V);
    softmax_forward(ref, z, N, V);
    check_close_f32(t, mine, ref, 66, F32_ATOL, F32_RTOL, "softmax_row agrees with nn.h softmax_forward");
    /* maximum entropy: perturbations keeping sum(q) = 1 and sum(q z) fixed lower the entropy */
    double q[11], best;
    double lz = log_sum_exp(z, V);
    for (int j = 0; j < V; j++) q[j] = exp(z[j] - lz);   /* the softmax, in double */
    best = entropy(q, V);
    int lower = 0, tries = 200;
    for (int k = 0; k < tries; k++) {
        double d[11], a = 0, b = 0, c = 0, e = 0, f = 0;
        for (int j = 0; j < V; j++) d[j] = rng_normal(&rng);
        /* project d onto {sum d = 0, sum d z = 0} (Gram-Schmidt against 1 and z - mean z) */
        double zm = 0;
        for (int j = 0; j < V; j++) zm += z[j] / V;
        for (int j = 0; j < V; j++) a += d[j];
        for (int j = 0; j < V; j++) d[j] -= a / V;
        for (int j = 0; j < V; j++) b += d[j] * (z[j] - zm), c += (z[j] - zm) * (z[j] - zm);
        for (int j = 0; j < V; j++) d[j] -= b / c * (z[j] - zm);
        double eps = 1e-5, p[11];
        for (int j = 0; j < V; j++) p[j] = q[j] + eps * d[j], e += p[j] - q[j], f += (p[j] - q[j]) * z[j];
        bool feasible = fabs(e) < 1e-12 && fabs(f) < 1e-9;
        for (int j = 0; j < V; j++) feasible &= p[j] > 0;
        lower += feasible && entropy(p, V) < best;
    }
    check_true(t, lower == tries, "softmax has the largest entropy at its expected score (%d of %d perturbations lower it)",
               lower, tries);
}

typedef struct { const int32_t *y; int B, V; } XentCtx;
static double xent_loss_f32(const float *z, void *ctx) {
    XentCtx *c = ctx;
    float lse[16];
    return xent_forward(lse, z, c->y, c->B, c->V);
}

static void test_cross_entropy(Check *t) {
    Rng rng;
    rng_seed(&rng, 9);
    int B = 5, V = 13;
    float z[65], lse[5], lse_ref[5], losses[5], g[65], gref[65];
    int32_t y[5] = {0, 12, 4, 4, 7};
    random_fill(z, 65, 2, &rng);
    double mine = xent_forward(lse, z, y, B, V), ref = cross_entropy_forward(losses, lse_ref, z, y, B, V);
    check_close(t, mine, ref, 1e-6, 1e-6, "xent_forward agrees with nn.h cross_entropy_forward");
    check_close_f32(t, lse, lse_ref, 5, F32_ATOL, F32_RTOL, "and so do the saved log-sum-exps");
    xent_backward(g, z, lse, y, B, V);
    memset(gref, 0, sizeof gref);
    cross_entropy_backward(gref, z, lse_ref, y, 1.0f / B, B, V);
    check_close_f32(t, g, gref, 65, F32_ATOL, F32_RTOL, "xent_backward agrees with nn.h cross_entropy_backward");
    XentCtx c = {y, B, V};
    GradErr e = gradcheck_f32(xent_loss_f32, &c, z, 65, g, 1e-2f);
    check_true(t, e.max_abs < 1e-4, "d loss / d z = (q - e_y) / B against central differences (max abs err %.1e)", e.max_abs);
    /* bounded: every component of q - e_y is in [-1, 1] */
    bool bounded = true;
    for (int i = 0; i < 65; i++) bounded &= fabsf(g[i] * B) <= 1.0f;
    check_true(t, bounded, "every component of q - e_y lies in [-1, 1]");
}

/* Cross-entropy is -log likelihood / N; its minimizer over free logits is the counts. */
static void test_mle(Check *t) {
    Rng rng;
    rng_seed(&rng, 13);
    int V = 4, N = 3000;
    int32_t *x = xmalloc_array((size_t)N, sizeof *x);
    for (int i = 0; i < N; i++) x[i] = i > 0 && rng_uniform(&rng) < 0.5 ? (x[i - 1] + 1) % V : (int32_t)rng_below(&rng, (uint64_t)V);
    /* a free logit row per previous symbol: Z[V, V] */
    float Z[16], *logits = xmalloc_array((size_t)(N - 1) * V, sizeof *logits), *lse = xmalloc_array((size_t)N, sizeof *lse);
    random_fill(Z, 16, 1, &rng);
    for (int i = 1; i < N; i++) memcpy(logits + (size_t)(i - 1) * V, Z + x[i - 1] * V, (size_t)V * sizeof *Z);
    double loss = xent_forward(lse, logits, x + 1, N - 1, V), loglik = 0;
    for (int i = 1; i < N; i++) {
        float q[4];
        softmax_row(q, Z + x[i - 1] * V, V);
        loglik += log(q[x[i]]);
    }
    check_close(t, loss, -loglik / (N - 1), 1e-9, 1e-6, "mean cross-entropy = -(log likelihood) / N");
    /* gradient descent on the mean cross-entropy of the free rows converges to the counts */
    double counts[16] = {0}, tot[4] = {0};
    for (int i = 1; i < N; i++) counts[x[i - 1] * V + x[i]]++, tot[x[i - 1]]++;
    float *g = xmalloc_array((size_t)(N - 1) * V, sizeof *g);
    for (int it = 0; it < 3000; it++) {
        for (int i = 1; i < N; i++) memcpy(logits + (size_t)(i - 1) * V, Z + x[i - 1] * V, (size_t)V * sizeof *Z);
        xent_forward(lse, logits, x + 1, N - 1, V);
        xent_backward(g, logits, lse, x + 1, N - 1, V);
        float dZ[16] = {0};
        for (int i = 1; i < N; i++)
            for (int j = 0; j < V; j++) dZ[x[i - 1] * V + j] += g[(size_t)(i - 1) * V + j];
        for (int k = 0; k < 16; k++) Z[k] -= 20.0f * dZ[k];
    }
    double worst = 0;
    for (int a = 0; a < V; a++) {
        float q[4];
        softmax_row(q, Z + a * V, V);
        for (int b = 0; b < V; b++) worst = worst_of(worst, fabs(q[b] - counts[a * V + b] / tot[a]));
    }
    check_true(t, worst < 2e-3, "minimizing cross-entropy over free logits gives the normalized counts (worst %.1e)", worst);
    free(x), free(logits), free(lse), free(g);
}

typedef struct { Activation a; } ActCtx;
static void test_activations(Check *t) {
    double worst[3] = {0};
    for (int a = 0; a < 3; a++)
        for (int i = 0; i <= 240; i++) {
            float x = -6.0f + 0.05f * i + 0.013f;   /* off the kink of ReLU */
            float h = 1e-2f, fp, fm;
            act_forward((Activation)a, &fp, (float[]){x + h}, 1);
            act_forward((Activation)a, &fm, (float[]){x - h}, 1);
            double fd = ((double)fp - fm) / (2 * h);
            worst[a] = fmax(worst[a], fabs(fd - act_grad((Activation)a, x)));
        }
    for (int a = 0; a < 3; a++)
        check_true(t, worst[a] < 2e-3, "%s' against central differences (max err %.1e)", ACT_NAMES[a], worst[a]);
    float xs[241], mine[241], ref[241], gm[241], gr[241], ones[241];
    double gap = 0, minv = 0, argmin = 0;
    for (int i = 0; i <= 240; i++) xs[i] = -6.0f + 0.05f * i, ones[i] = 1.0f;
    for (int i = 0; i <= 240; i++) mine[i] = gelu_tanh(xs[i]), gm[i] = gelu_tanh_grad(xs[i]), gr[i] = 0;
    gelu_forward(ref, xs, 241);
    gelu_backward(gr, ones, xs, 241);
    check_close_f32(t, mine, ref, 241, 1e-6, 1e-5, "gelu_tanh agrees with nn.h gelu_forward");
    check_close_f32(t, gm, gr, 241, 1e-5, 1e-4, "gelu_tanh_grad agrees with nn.h gelu_backward");
    for (int i = 0; i <= 12000; i++) {
        double x = -6 + 0.001 * i;
        gap = worst_of(gap, fabs(gelu_exact(x) - gelu_tanh((float)x)));
        if (gelu_exact(x) < minv) minv = gelu_exact(x), argmin = x;
    }
    check_true(t, gap < 5e-4, "the tanh formula is within 5e-4 of x Phi(x) (max %.1e)", gap);
    check_true(t, fabs(minv + 0.17) < 0.005 && fabs(argmin + 0.75) < 0.02, "GELU's minimum is about -0.17 near -0.75 (%.3f at %.2f)",
               minv, argmin);
    double smin = 0;
    for (int i = 0; i <= 12000; i++) smin = fmin(smin, swish((float)(-6 + 0.001 * i)));
    check_true(t, fabs(smin + 0.278) < 0.002, "Swish's minimum is about -0.28 (%.3f)", smin);
    /* The initialization's claim: for z ~ N(0, 1), E[relu(z)^2] = 1/2, E[swish(z)^2] about 0.36,
     * so He's 2/n keeps about 0.7 of the mean square per Swish layer (midpoint rule on [-12, 12]). */
    double ms_relu = 0, ms_swish = 0, wsum = 0;
    for (int k = 0; k < 24000; k++) {
        double z = -12 + (k + 0.5) * 0.001, w = exp(-z * z / 2);
        ms_relu += w * relu((float)z) * relu((float)z), ms_swish += w * swish((float)z) * swish((float)z), wsum += w;
    }
    ms_relu /= wsum, ms_swish /= wsum;
    check_close(t, ms_relu, 0.5, 1e-6, 1e-5, "E[relu(z)^2] = 1/2 for z ~ N(0, 1) (%.6f)", ms_relu);
    check_true(t, fabs(ms_swish - 0.36) < 0.005 && fabs(2 * ms_swish - 0.7) < 0.02,
               "E[swish(z)^2] is about 0.36, so 2/n keeps about 0.7 of it per layer (%.4f, %.3f)", ms_swish,
               2 * ms_swish);
    /* GELU's derivative is Phi(x) + x phi(x) */
    double d = 0;
    for (int i = 0; i <= 120; i++) {
        double x = -6 + 0.1 * i, phi = exp(-x * x / 2) / sqrt(2 * M_PI), Phi = 0.5 * (1 + erf(x / sqrt(2)));
        double fd = (gelu_exact(x + 1e-5) - gelu_exact(x - 1e-5)) / 2e-5;
        d = worst_of(d, fabs(fd - (Phi + x * phi)));
    }
    check_true(t, d < 1e-6, "d/dx x Phi(x) = Phi(x) + x phi(x) (max err %.1e)", d);
}

/* The whole model's gradient against central differences. */
typedef struct { Mlp *m; int B; bool training; } ModelCtx;
static double model_loss(const float *params, void *ctx) {
    ModelCtx *c = ctx;
    (void)params;   /* gradcheck perturbs m->params in place */
    c->m->training = c->training;   /* with dropout: the same step, so the same masks */
    mlp_forward(c->m, c->B);
    c->m->training = false;
    return xent_forward(c->m->lse, c->m->logits, c->m->y, c->B, c->m->cfg.V);
}

static void test_model_gradient(Check *t) {
    for (int a = 0; a < 3; a++)
        for (int L = 0; L <= 3; L++) {
            MlpConfig c = {.V = 7, .T = 3, .D = 4, .H = 6, .L = L, .act = (Activation)a};
            Mlp *m = mlp_new(&c, 5, 100 + (uint64_t)L);
            Rng rng;
            rng_seed(&rng, 21);
            for (size_t i = 0; i < m->n; i++) m->params[i] += (float)(0.3 * rng_normal(&rng));  /* biases too */
            for (int i = 0; i < 5 * 3; i++) m->ctx[i] = (int32_t)rng_below(&rng, 8);       /* padding too */
            for (int i = 0; i < 5; i++) m->y[i] = (int32_t)rng_below(&rng, 7);
            mlp_gradients(m, 5);
            float *g = xmalloc_array(m->n, sizeof *g);
            memcpy(g, m->grads, m->n * sizeof *g);
            ModelCtx mc = {m, 5, false};
            GradErr e = gradcheck_f32(model_loss, &mc, m->params, m->n, g, 1e-3f);
            check_true(t, e.max_abs < 3e-3, "%s, %d hidden layers: every gradient against central differences (max abs err %.1e)",
                       ACT_NAMES[a], L, e.max_abs);
            free(g);
            mlp_free(m);
        }
}

/* Dropout: the mask's statistics, the identity E[mask] = 1, the gradient through a fixed mask,
 * and nothing dropped at evaluation. */
static void test_dropout(Check *t) {
    size_t n = 200000, zeros = 0;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        float mk = drop_mask(12345, i, 0.3f);
        zeros += mk == 0, sum += mk;
        if (mk != 0 && mk != 1.0f / 0.7f) { check_true(t, false, "a mask value is 0 or 1/(1-p) (%g)", mk); break; }
    }
    check_close(t, (double)zeros / n, 0.3, 0.005, 0, "dropout 0.3 zeroes 30%% of the units (%.4f)", (double)zeros / n);
    check_close(t, sum / n, 1, 0.01, 0, "and the mask's mean is 1, so E[output] is unchanged (%.4f)", sum / n);
    check_true(t, drop_mask(1, 7, 0.3f) == drop_mask(1, 7, 0.3f) && drop_mask(1, 7, 0.5f) != drop_mask(2, 7, 0.5f) + 5,
               "the mask is a function of (key, index): the same draw every time");
    for (int a = 0; a < 3; a++) {   /* the whole model's gradient with dropout on: the mask is fixed by the step */
        MlpConfig c = {.V = 7, .T = 3, .D = 4, .H = 6, .L = 2, .act = (Activation)a};
        Mlp *m = mlp_new(&c, 5, 200);
        m->dropout = 0.4f, m->step = 3;
        Rng rng;
        rng_seed(&rng, 22);
        for (size_t i = 0; i < m->n; i++) m->params[i] += (float)(0.3 * rng_normal(&rng));
        for (int i = 0; i < 5 * 3; i++) m->ctx[i] = (int32_t)rng_below(&rng, 8);
        for (int i = 0; i < 5; i++) m->y[i] = (int32_t)rng_below(&rng, 7);
        mlp_gradients(m, 5);
        float *g = xmalloc_array(m->n, sizeof *g);
        memcpy(g, m->grads, m->n * sizeof *g);
        ModelCtx mc = {m, 5, true};
        GradErr e = gradcheck_f32(model_loss, &mc, m->params, m->n, g, 1e-3f);
        check_true(t, e.max_abs < 3e-3, "%s with dropout 0.4: every gradient against central differences (%.1e)",
                   ACT_NAMES[a], e.max_abs);
        mlp_forward(m, 5);   /* evaluation: no mask */
        float *h = xmalloc_array(5 * 6, sizeof *h);
        act_forward(c.act, h, m->pre[1], 5 * 6);
        check_close_f32(t, m->h[1], h, 5 * 6, 0, 0, "%s: at evaluation nothing is dropped", ACT_NAMES[a]);
        free(g), free(h);
        mlp_free(m);
    }
}

/* Weight decay shrinks the weights and the embeddings, never the biases; the spans tile the block. */
static void test_weight_decay(Check *t) {
    MlpConfig c = {.V = 7, .T = 3, .D = 4, .H = 6, .L = 2, .act = ACT_RELU};
    Mlp *m = mlp_new(&c, 5, 300);
    Span sp[2 * MAX_LAYERS + 3];
    int k = mlp_spans(&c, sp);
    size_t covered = 0;
    bool tiled = true;
    for (int i = 0; i < k; i++) tiled &= sp[i].at == covered, covered += sp[i].n;
    check_true(t, tiled && covered == m->n && k == 2 * c.L + 3, "the spans tile the parameter block (%zu of %zu)", covered,
               m->n);
    for (int l = 0; l <= c.L; l++)
        for (int j = 0; j < layer_out(&c, l); j++) m->p.b[l][j] = 1;
    float *before = xmalloc_array(m->n, sizeof *before);
    memcpy(before, m->params, m->n * sizeof *before);
    memset(m->grads, 0, m->n * sizeof(float));
    m->weight_decay = 0.5f;
    mlp_update(m, 0.1, 1);   /* zero gradients: only the decay moves anything */
    bool shrunk = true, kept = true;
    for (int i = 0; i < k; i++)
        for (size_t j = sp[i].at; j < sp[i].at + sp[i].n; j++) {
            if (sp[i].decay) shrunk &= fabsf(m->params[j] - before[j] * (1 - 0.1f * 0.5f)) <= 1e-6f * fabsf(before[j]) + 1e-9f;
            else kept &= m->params[j] == before[j];
        }
    check_true(t, shrunk, "weight decay multiplies every weight and embedding by 1 - lr lambda");
    check_true(t, kept, "and leaves the biases alone");
    free(before);
    mlp_free(m);
}

static void test_small_pieces(Check *t) {
    uint32_t x[6] = {1, 2, 3, 4, 5, 6};
    int32_t ctx[4];
    fill_context(ctx, x, 2, 4, 99);
    check_true(t, ctx[0] == 99 && ctx[1] == 99 && ctx[2] == 1 && ctx[3] == 2, "contexts before the text are padded");
    check_close(t, lr_at(0, 1000, 1), 1.0 / 21, 1e-12, 1e-9, "the learning rate warms up from lr / warm-up steps");
    check_close(t, lr_at(20, 1000, 1), 1.0, 1e-12, 1e-9, "and peaks when warm-up ends");
    check_close(t, lr_at(999, 1000, 1), 0.1, 1e-5, 1e-3, "and decays to a tenth");
    /* PCA: points spread mostly along u, then along w */
    Rng rng;
    rng_seed(&rng, 4);
    int n = 2000, d = 5;
    double u[5] = {0.6, 0.8, 0, 0, 0}, w[5] = {0, 0, 0, 1, 0};
    float *X = xmalloc_array((size_t)n * d, sizeof *X);
    for (int i = 0; i < n; i++) {
        double a = 3 * rng_normal(&rng), b = 1.5 * rng_normal(&rng);
        for (int k = 0; k < d; k++) X[i * d + k] = (float)(a * u[k] + b * w[k] + 0.1 * rng_normal(&rng) + 7);
    }
    double dirs[10], frac[2], du = 0, dw = 0, mu[5];
    pca2(X, n, d, dirs, frac, mu);
    check_close(t, mu[0], 7, 0.2, 0, "pca2 returns the mean it centred by (%.3f)", mu[0]);
    for (int k = 0; k < d; k++) du += dirs[k] * u[k], dw += dirs[d + k] * w[k];
    check_true(t, fabs(du) > 0.999 && fabs(dw) > 0.999, "power iteration finds the two principal directions (%.4f, %.4f)", du, dw);
    check_true(t, frac[0] > 0.75 && frac[0] < 0.85 && frac[1] > 0.15 && frac[1] < 0.22,
               "and their shares of the variance (%.3f, %.3f; about 9/11.3 and 2.25/11.3)", frac[0], frac[1]);
    free(X);
}

static void test_uat(Check *t) {
    for (int n = 4; n <= 256; n *= 4) {
        float q[3 * 256 + 1];
        uat_construct(n, -2, 2, uat_target, q, q + n, q + 2 * n, q + 3 * n);
        double knot = 0, worst = 0, h = 4.0 / n;
        for (int k = 0; k <= n; k++) knot = worst_of(knot, fabs(uat_eval(n, q, -2 + k * h) - uat_target(-2 + k * h)));
        for (int i = 0; i <= 4000; i++) {
            double x = -2 + 4.0 * i / 4000;
            worst = worst_of(worst, fabs(uat_eval(n, q, x) - uat_target(x)));
        }
        check_true(t, knot < 1e-4, "width %d: the constructed network passes through f at every knot (%.1e)", n, knot);
        check_true(t, worst <= h * h / 8 * 16.5 + 1e-5, "width %d: its error %.2e is within h^2 max|f''| / 8 = %.2e", n, worst,
                   h * h / 8 * 16.5);
    }
}

static void die_load(void *path) { mlp_load(path, 85, 4); }
static void die_load_other(void *path) { mlp_load(path, 84, 4); }

static void test_checkpoint(Check *t, const char *dir) {
    MlpConfig c = {.V = 85, .T = 5, .D = 3, .H = 7, .L = 2, .act = ACT_SWISH};
    Mlp *m = mlp_new(&c, 4, 77);
    char *path = xasprintf("%s/model.safetensors", dir);
    Provenance prov;
    provenance_init(&prov, "test_ch04 checkpoint", 1);
    mlp_save(m, path, &prov);
    provenance_free(&prov);
    Mlp *k = mlp_load(path, 85, 4);
    check_true(t, k->n == m->n && memcmp(k->params, m->params, m->n * sizeof(float)) == 0 && k->cfg.act == ACT_SWISH &&
                      k->cfg.L == 2 && k->cfg.T == 5,
               "a saved model loads back with the same configuration and parameters");
    char err[256];
    Ckpt *ck = ckpt_load(path, err, sizeof err);
    check_true(t, ck && ck->n == 7 && ckpt_find(ck, "layer2.bias") && ckpt_meta(ck, "format") &&
                      strcmp(ckpt_meta(ck, "command"), "test_ch04 checkpoint") == 0 && ckpt_meta(ck, "git"),
               "it is a safetensors file of named tensors with the run's provenance");
    ckpt_free(ck);
    expect_die(t, die_load_other, path, "vocabulary", "a model for another vocabulary is refused");
    char *bad = xasprintf("%s/garbage.safetensors", dir);
    FILE *f = fopen(bad, "w");
    if (f) fputs("this is not a checkpoint at all, just text", f), fclose(f);
    expect_die(t, die_load, bad, "garbage.safetensors", "a corrupt checkpoint gives one line naming the file");
    mlp_free(m), mlp_free(k);
    free(path), free(bad);
}

/* Perplexity = exp(mean loss) = 1 / geometric mean of the probabilities. */
static void test_perplexity(Check *t, Run *r) {
    Dataset *d = load_data(r);
    MlpConfig c = {.V = d->vocab.size, .T = 8, .D = 4, .H = 16, .L = 1, .act = ACT_GELU};
    Mlp *m = mlp_new(&c, 64, 1);
    size_t n = 2000;
    double ce = mlp_cross_entropy(m, d->val.ids, n, CH01_START, 1, NULL), logprod = 0;
    float *q = xmalloc_array((size_t)c.V, sizeof *q);
    for (size_t i = CH01_START; i < n; i++) {
        fill_context(m->ctx, d->val.ids, i, c.T, c.V);
        mlp_forward(m, 1);
        softmax_row(q, m->logits, c.V);
        logprod += log(q[d->val.ids[i]]);
    }
    check_close(t, exp(ce), exp(-logprod / (double)(n - CH01_START)), 1e-6, 1e-5,
                "exp(mean loss) = (product of q)^(-1/N), on the model's own predictions");
    check_close(t, exp(ce), c.V, 0, 0.2, "an untrained model is near the uniform perplexity V (%.1f)", exp(ce));
    free(q);
    mlp_free(m);
}

/* --quick runs of every experiment, and what they write. */
static bool all_finite(Check *t, TsvTable *tab, const char *col) {
    bool ok = tsv_rows(tab) > 0;
    for (size_t i = 0; i < tsv_rows(tab); i++) ok &= isfinite(num(t, tab, i, col));
    return ok;
}

static void test_quick_experiments(Check *t, Run *r) {
    check_true(t, run_all_experiments("ch04-mlp", COMMANDS, sizeof COMMANDS / sizeof *COMMANDS, r) == 0,
               "every experiment of 'all' runs in --quick mode");
    const char *d = r->c.out;
    TsvTable *c = load(t, d, "ch04-curve");
    if (c) {
        size_t n = tsv_rows(c);
        check_true(t, all_finite(t, c, "train_loss") && all_finite(t, c, "val_loss"), "the learning curve is finite");
        check_close(t, num(t, c, 0, "val_loss"), log(r->data->vocab.size), 0, 0.1, "it starts near ln V (%.3f)", num(t, c, 0, "val_loss"));
        check_true(t, num(t, c, n - 1, "train_loss") < num(t, c, 0, "train_loss") - 0.3 &&
                          num(t, c, n - 1, "val_loss") < num(t, c, 0, "val_loss") - 0.3,
                   "training lowers both losses by more than 0.3 nats");
        tsv_free(c);
    }
    TsvTable *tr = load(t, d, "ch04-train");
    if (tr) {
        double v = num(t, tr, 0, "val_ppl");
        check_true(t, isfinite(v) && v > 1 && v < r->data->vocab.size, "validation perplexity is in (1, V): %.2f", v);
        check_true(t, num(t, tr, 0, "val_positions") == (double)(r->data->val.len - CH01_START),
                   "it is measured on chapter 1's validation positions");
        check_close(t, num(t, tr, 0, "val_bpc"), log2(v), 1e-3, 1e-3, "bits per character = log2 perplexity");
        tsv_free(tr);
    }
    TsvTable *e = load(t, d, "ch04-embed");
    if (e) {
        check_true(t, (int)tsv_rows(e) == r->data->vocab.size && all_finite(t, e, "pc1") && all_finite(t, e, "pc2"),
                   "one embedding point per symbol, finite");
        check_true(t, num(t, e, 0, "var1") >= num(t, e, 0, "var2") && num(t, e, 0, "var1") + num(t, e, 0, "var2") <= 1.0001,
                   "the first component explains at least as much as the second, together at most all");
        tsv_free(e);
    }
    TsvTable *a = load(t, d, "ch04-activations");
    if (a) {
        check_true(t, tsv_rows(a) == 3, "three activations compared");
        check_true(t, num(t, a, 0, "zero_frac") > 0.2 && num(t, a, 2, "zero_frac") < 0.01,
                   "ReLU outputs are often exactly zero (%.2f), Swish's almost never (%.4f)", num(t, a, 0, "zero_frac"),
                   num(t, a, 2, "zero_frac"));
        check_true(t, num(t, a, 0, "flat_frac") >= num(t, a, 2, "flat_frac"), "ReLU is flat at least as often as Swish");
        check_true(t, all_finite(t, a, "val_ppl"), "their perplexities are finite");
        tsv_free(a);
    }
    TsvTable *s = load(t, d, "ch04-sweep");
    if (s) {
        check_true(t, tsv_rows(s) == 20, "the sweep writes 4 knobs x 5 values (%zu rows)", tsv_rows(s));
        check_true(t, all_finite(t, s, "val_ppl") && all_finite(t, s, "ms_per_step"), "finite perplexities and times");
        bool more = true;   /* wider layers have more parameters */
        for (size_t i = 1; i < tsv_rows(s); i++)
            if (strcmp(tsv_cell(s, i, 0), "hidden") == 0 && strcmp(tsv_cell(s, i - 1, 0), "hidden") == 0)
                more &= num(t, s, i, "value") < num(t, s, i - 1, "value") || num(t, s, i, "params") >= num(t, s, i - 1, "params");
        check_true(t, more, "parameters grow with the width");
        bool sorted = true;   /* knob by knob, each knob's values increasing, as the table shows them */
        for (size_t i = 1; i < tsv_rows(s); i++)
            if (strcmp(tsv_cell(s, i, 0), tsv_cell(s, i - 1, 0)) == 0)
                sorted &= num(t, s, i, "value") > num(t, s, i - 1, "value");
        check_true(t, sorted && strcmp(tsv_cell(s, 0, 0), "context") == 0 &&
                          strcmp(tsv_cell(s, tsv_rows(s) - 1, 0), "layers") == 0,
                   "the sweep's rows go knob by knob, each knob's values in increasing order");
        tsv_free(s);
    }
    TsvTable *u = load(t, d, "ch04-uat-error");
    if (u) {
        size_t n = tsv_rows(u);
        bool falls = true, within = true;
        for (size_t i = 0; i < n; i++) {
            within &= num(t, u, i, "constructed_max_in") <= num(t, u, i, "bound") + 1e-5;
            if (i > 0) falls &= num(t, u, i, "constructed_rms_in") < num(t, u, i - 1, "constructed_rms_in");
        }
        check_true(t, falls && within, "the constructed network's error falls with width and stays within the bound");
        check_true(t, num(t, u, n - 1, "trained_rms_out") > 10 * num(t, u, n - 1, "trained_rms_in"),
                   "outside the training interval the trained network is far worse (%.3f against %.3f)",
                   num(t, u, n - 1, "trained_rms_out"), num(t, u, n - 1, "trained_rms_in"));
        tsv_free(u);
    }
    TsvTable *mx = load(t, d, "ch04-mix-cpu");
    if (mx) {
        double lam = num(t, mx, 0, "lambda"), mix = num(t, mx, 0, "mix_val_ppl");
        check_true(t, lam >= 0 && lam <= 1 && mix <= num(t, mx, 0, "mlp_val_ppl") + 1e-9 &&
                          mix <= num(t, mx, 0, "kn_val_ppl") + 1e-9,
                   "mix: lambda in [0, 1], the mixture no worse on validation than either part (%.3f)", mix);
        check_true(t, num(t, mx, 0, "kn_order") >= 0 && num(t, mx, 0, "kn_order") <= 4, "mix: Kneser-Ney's order chosen in 0..4");
        tsv_free(mx);
    }
    TsvTable *am = load(t, d, "ch04-act-map");
    if (am) {
        bool marks = true;   /* the dead column marks exactly ReLU's dead units among the map's */
        for (size_t i = 0; i < tsv_rows(am); i++) {
            double dead = num(t, am, i, "dead");
            marks &= dead == 0 || dead == 1;
            if (dead == 1) marks &= num(t, am, i, "value") == 0 || strcmp(tsv_cell(am, i, 0), "relu") != 0;
        }
        check_true(t, marks, "act-map: a dead unit (0 or 1) is a zero output wherever ReLU's is marked dead");
        tsv_free(am);
    }
    TsvTable *nn = load(t, d, "ch04-embed-nn");
    if (nn) {
        check_true(t, tsv_rows(nn) > 10 && all_finite(t, nn, "first_cos"), "the nearest-neighbour table has a row per query");
        tsv_free(nn);
    }
    const char *others[] = {"ch04-samples", "ch04-act-curves", "ch04-act-map", "ch04-act-hist", "ch04-act-shapes",
                            "ch04-sweep-curves", "ch04-uat", "ch04-mix-curve-cpu"};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        TsvTable *x = load(t, d, others[i]);
        if (x) {
            check_true(t, tsv_rows(x) > 0, "%s has rows", others[i]);
            tsv_free(x);
        }
    }
}

/* The regularized grid at --quick size: a row per run, early stopping's step within the run. */
static void test_quick_regularize(Check *t, Run *r) {
    const char *keep = r->probs;
    r->probs = "";
    check_true(t, experiment_regularize(r) == 0, "regularize --quick runs (dropout, decay and both among its runs)");
    r->probs = keep;
    TsvTable *g = load(t, r->c.out, "ch04-reg");
    if (!g) return;
    check_true(t, tsv_rows(g) == 3, "--quick: one row for each of the runs 3, 4, 5 (%zu)", tsv_rows(g));
    check_true(t, NREG == 10 && strcmp(REG_RUNS[3].name, "dropout 0.2") == 0 && REG_RUNS[4].weight_decay > 0 &&
                      REG_RUNS[5].dropout > 0 && REG_RUNS[5].weight_decay > 0,
               "the grid's runs 3, 4 and 5 are dropout, weight decay and both, as the chapter says");
    bool ok = true;
    for (size_t i = 0; i < tsv_rows(g); i++)
        ok &= num(t, g, i, "best_step") <= num(t, g, i, "last_step") && isfinite(num(t, g, i, "val_ppl")) &&
              isfinite(num(t, g, i, "test_ppl")) && num(t, g, i, "val_ppl") < r->data->vocab.size;
    check_true(t, ok, "every run: the kept step is within the run, its perplexities finite and below V");
    tsv_free(g);
}

/* The learning-rate sweep: its design (equal examples, a ladder of rates), a --quick run, and a
 * diverged run that stops the run, not the program. */
static void die_diverge(void *ctx) {
    Run *r = ctx;
    MlpConfig c = {.V = r->data->vocab.size, .T = 4, .D = 4, .H = 8, .L = 1, .act = ACT_GELU};
    Mlp *m = mlp_new(&c, 8, 1);
    for (size_t k = 0; k < m->n; k++) m->params[k] = NAN;
    TrainSpec s = {.steps = 5, .batch = 8, .lr = 1e-3, .evals = 1, .eval_positions = 50};
    train_model(m, r, &s, NULL, "nan");
}
static void test_lrbatch(Check *t, Run *r) {
    bool equal = true, ladder = true, holds = true;
    for (int i = 0; i < NLRB; i++) {
        RegRun q = lrb_run(i, false), base = REG_RUNS[REG_BEST];
        equal &= q.steps * q.batch == LRB_EXAMPLES && q.T == base.T && q.H == base.H && q.dropout == base.dropout &&
                 q.weight_decay == base.weight_decay;
        if (i % LRB_RATES) ladder &= q.lr == 2 * lrb_run(i - 1, false).lr && q.batch == lrb_run(i - 1, false).batch;
        if (i % LRB_RATES == 0) {
            bool two = false;
            for (int k = 0; k < LRB_RATES; k++) two |= fabs(lrb_run(i + k, false).lr - 2e-3) < 1e-12;
            holds &= two;
        }
    }
    check_true(t, NLRB == 20 && equal, "lrbatch: 20 runs, each the grid's best configuration, each 2^21 examples");
    check_true(t, ladder && holds, "each batch's five rates double from one to the next, and include 2e-3");
    check_true(t, lrb_run(0, false).batch == 128 && lrb_run(19, false).batch == 2048 &&
                      fabs(lrb_run(0, false).lr - 5e-4) < 1e-12 && fabs(lrb_run(19, false).lr - 3.2e-2) < 1e-12,
               "batches 128 to 2,048; rates from 5e-4 (batch 128) to 3.2e-2 (batch 2,048)");
    char err[256];
    TsvTable *reg = tsv_load("figures/data/ch04-reg.tsv", err, sizeof err);
    if (reg) {   /* the sweep's configuration is the grid's best on validation, as the chapter says */
        size_t best = 0;
        for (size_t i = 1; i < tsv_rows(reg); i++)
            if (num(t, reg, i, "val_ppl") < num(t, reg, best, "val_ppl")) best = i;
        check_true(t, num(t, reg, best, "run") == REG_BEST, "run %d is the grid's best on validation (it is run %.0f)",
                   REG_BEST, num(t, reg, best, "run"));
        tsv_free(reg);
    }
    TsvTable *book = tsv_load("figures/data/ch04-lrbatch.tsv", err, sizeof err);
    check_true(t, book != NULL, "the book's sweep, figures/data/ch04-lrbatch.tsv, loads%s%s", book ? "" : ": ", book ? "" : err);
    if (book) {   /* the book's sweep: what the prose says of it */
        bool all = tsv_rows(book) >= (size_t)NLRB, none = true, late = true;
        for (size_t i = 0; all && i < tsv_rows(book); i++) {
            double steps = num(t, book, i, "steps");
            if (i < (size_t)NLRB) all &= num(t, book, i, "run") == (double)i && num(t, book, i, "seed") == 1;
            all &= num(t, book, i, "examples") == LRB_EXAMPLES && steps * num(t, book, i, "batch") == LRB_EXAMPLES;
            none &= num(t, book, i, "diverged_step") == -1;
            late &= num(t, book, i, "best_step") >= steps - (int64_t)(steps / REG_EVALS);   /* the last two evaluations */
        }
        check_true(t, all, "ch04-lrbatch.tsv: the 20 runs with seed 1 in order, then the second seeds, each 2^21 examples");
        check_true(t, none, "no run of the book's sweep diverged, as the chapter says");
        check_true(t, late, "every run's best step is its last evaluation or the one before, as the chapter says");
        tsv_free(book);
    }
    check_true(t, experiment_lrbatch(r) == 0, "lrbatch --quick runs (the middle rate of the smallest and the largest batch)");
    TsvTable *g = load(t, r->c.out, "ch04-lrbatch");
    if (g) {
        bool ok = tsv_rows(g) == 2;
        for (size_t i = 0; ok && i < tsv_rows(g); i++)
            ok &= num(t, g, i, "examples") == LRB_QUICK_EXAMPLES && num(t, g, i, "steps") * num(t, g, i, "batch") ==
                  LRB_QUICK_EXAMPLES && num(t, g, i, "diverged_step") == -1 && isfinite(num(t, g, i, "test_ppl")) &&
                  num(t, g, i, "val_ppl") < r->data->vocab.size && num(t, g, i, "best_step") <= num(t, g, i, "steps");
        check_true(t, ok, "--quick: two rows, each %d examples, finite and below V", LRB_QUICK_EXAMPLES);
        check_true(t, num(t, g, 0, "batch") == 4 && num(t, g, 0, "lr") == 2e-3 && num(t, g, 1, "batch") == 64 &&
                          num(t, g, 1, "lr") == 8e-3,
                   "--quick: the smallest and largest batches divided by 32, each at its middle rate");
        tsv_free(g);
    }
    /* a non-finite loss: a sweep's run stops and says where; train without the tolerance dies */
    MlpConfig c = {.V = r->data->vocab.size, .T = 4, .D = 4, .H = 8, .L = 1, .act = ACT_GELU};
    Mlp *m = mlp_new(&c, 8, 1);
    for (size_t k = 0; k < m->n; k++) m->params[k] = NAN;
    TrainSpec s = {.steps = 5, .batch = 8, .lr = 1e-3, .evals = 1, .eval_positions = 50, .tolerate_divergence = true};
    TrainResult res = train_model(m, r, &s, NULL, "nan");
    check_true(t, res.diverged_step == 0 && res.last_step == 0, "NaN parameters: the run stops at step 0 and says so");
    mlp_free(m);
    expect_die(t, die_diverge, r, "the loss became", "without the tolerance, the program stops in one line");
}

/* lrbatch-best on a made-up sweep whose validation loss is a parabola in log2(rate) with its bottom
 * at 3e-3 (B / 512)^(1/2): the vertex recovers each bottom, the exponent is 1/2; a bottom beyond
 * the window is flagged; a second seed's row is found. */
static void test_lrbatch_best(Check *t, Run *r) {
    char *dir = xasprintf("%s/lrb", r->c.out), *path = xasprintf("%s/ch04-lrbatch.tsv", dir);
    char *mk = xasprintf("mkdir -p %s", dir);
    if (system(mk) != 0) die("cannot make %s", dir);
    FILE *f = fopen(path, "w");
    if (!f) die("cannot write %s", path);
    fprintf(f, "run\tbatch\tlr\tseed\tsteps\tbest_step\tval_ppl\ttest_ppl\n");
    for (int i = 0; i < NLRB; i++) {
        RegRun q = lrb_run(i, true);
        double bottom = 3e-3 * sqrt(q.batch * 32 / 512.0), u = log2(q.lr / bottom);
        if (q.batch == 4) bottom = 1, u = log2(q.lr);   /* batch 128: the bottom far above the window */
        fprintf(f, "%d\t%d\t%g\t1\t%" PRId64 "\t%" PRId64 "\t%.10g\t%.10g\n", i, q.batch, q.lr, q.steps, q.steps,
                exp(1.5 + 0.1 * u * u), exp(1.6 + 0.1 * u * u));
    }
    fprintf(f, "99\t16\t0.004\t2\t64\t64\t5.5\t5.75\n");
    fclose(f);
    Run rr = *r;
    rr.c.out = dir;
    check_true(t, experiment_lrbatch_best(&rr) == 0, "lrbatch-best reads a sweep and writes its summary");
    TsvTable *g = load(t, dir, "ch04-lrbatch-best");
    if (g && tsv_rows(g) == 4) {
        bool ok = true;
        for (size_t b = 1; b < 4; b++)
            ok &= fabs(num(t, g, b, "vertex_lr") / (3e-3 * sqrt(num(t, g, b, "batch") * 32 / 512)) - 1) < 2e-3 &&
                  num(t, g, b, "at_edge") == 0;
        check_true(t, ok, "the parabola's vertex is each batch's bottom, 3e-3 (B/512)^(1/2), to 0.2%%");
        check_true(t, num(t, g, 0, "at_edge") == 1 && num(t, g, 0, "best_lr") == 8e-3,
                   "a bottom beyond the window: the top rung, flagged as an edge");
        check_close(t, num(t, g, 3, "local_exponent"), 0.5, 0, 2e-3, "the local exponent between 1,024 and 2,048 is 1/2");
        check_close(t, num(t, g, 3, "sqrt_lr"), 6e-3, 0, 2e-3, "the square-root rule from 512 predicts 6e-3 at 2,048");
        check_close(t, num(t, g, 3, "linear_lr"), 1.2e-2, 0, 2e-3, "the linear rule predicts 1.2e-2");
        check_true(t, num(t, g, 1, "seed2_val_ppl") == 5.5 && isnan(num(t, g, 2, "seed2_val_ppl")),
                   "a second seed's row at the best rate is found, and only there");
        check_close(t, num(t, g, 0, "exponent"), 0.5, 0, 2e-3,
                    "the fitted exponent is 1/2, over the three bottoms inside their windows (the edge left out)");
        check_true(t, isnan(num(t, g, 1, "local_exponent")), "no local exponent from an edge");
        bool ls = isnan(num(t, g, 0, "ls_vertex_lr"));
        for (size_t b = 1; b < 4; b++)
            ls &= fabs(num(t, g, b, "ls_vertex_lr") / (3e-3 * sqrt(num(t, g, b, "batch") * 32 / 512)) - 1) < 2e-3;
        check_true(t, ls, "the least-squares parabola through all five rates finds the same bottoms, none beyond a window");
        check_close(t, num(t, g, 0, "ls_exponent"), 0.5, 0, 2e-3, "... and the same exponent");
    } else {
        check_true(t, false, "lrbatch-best writes one row per batch");
    }
    if (g) tsv_free(g);
    /* the book's summary is what lrbatch-best computes from the book's sweep, and says what the prose says */
    char err[256], *cp = xasprintf("cp figures/data/ch04-lrbatch.tsv %s/", dir);
    TsvTable *book = tsv_load("figures/data/ch04-lrbatch-best.tsv", err, sizeof err);
    check_true(t, book != NULL && system(cp) == 0, "the book's figures/data/ch04-lrbatch-best.tsv loads%s%s",
               book ? "" : ": ", book ? "" : err);
    rr.c.quick = false;
    if (book && experiment_lrbatch_best(&rr) == 0 && (g = load(t, dir, "ch04-lrbatch-best")) != NULL) {
        bool same = tsv_rows(g) == tsv_rows(book) && tsv_rows(g) == 4, rising = same;
        double spread = 0;
        for (size_t b = 0; same && b < 4; b++) {
            same &= fabs(num(t, g, b, "vertex_lr") / num(t, book, b, "vertex_lr") - 1) < 1e-3 &&
                    num(t, g, b, "val_ppl") == num(t, book, b, "val_ppl") &&
                    fabs(num(t, g, b, "exponent") - num(t, book, b, "exponent")) < 1e-3 &&
                    fabs(num(t, g, b, "ls_exponent") - num(t, book, b, "ls_exponent")) < 1e-3;
            spread = worst_of(spread, fabs(num(t, book, b, "seed2_val_ppl") - num(t, book, b, "val_ppl")));
        }
        check_true(t, same, "ch04-lrbatch-best.tsv is lrbatch-best of ch04-lrbatch.tsv");
        for (size_t b = 1; rising && b < 4; b++)
            rising &= num(t, book, b, "val_ppl") - num(t, book, b - 1, "val_ppl") > spread &&
                      num(t, book, b, "test_ppl") > num(t, book, b - 1, "test_ppl");
        check_true(t, rising, "the book's sweep: each larger batch ends worse, on validation by more than the seeds' "
                              "spread (%.4f), and on test", spread);
        bool inside = true;
        for (size_t b = 0; b < tsv_rows(book); b++) inside &= num(t, book, b, "at_edge") == 0;
        double a = num(t, book, 0, "exponent"), a_ls = num(t, book, 0, "ls_exponent");
        check_true(t, inside && fabs(a - 0.5) < 0.15 && fabs(a_ls - a) < 0.02,
                   "the book's sweep: every bottom inside its window; the exponent %.3f near 1/2 (far from 1), and the "
                   "five-point reading %.3f agrees with it", a, a_ls);
        tsv_free(g);
    } else {
        check_true(t, false, "lrbatch-best reads the book's sweep");
    }
    if (book) tsv_free(book);
    free(cp), free(mk), free(path), free(dir);
}

/* The held-out log-probabilities: a round trip, and a file for another corpus refused. */
static void die_read_probs(void *path) { free(read_logprobs(path, 7, 3)); }
static void test_logprobs_file(Check *t, Run *r) {
    char *path = xasprintf("%s/lp.bin", r->c.out);
    float lp[5] = {-0.5f, -1.25f, -3.0f, -0.125f, -7.5f};
    write_logprobs(path, lp, 3, 2);
    float *back = read_logprobs(path, 3, 2);
    check_true(t, memcmp(back, lp, sizeof lp) == 0, "log-probabilities written and read back are the same");
    expect_die(t, die_read_probs, path, "3 validation and 2 test", "a file for other counts is refused in one line");
    free(back), free(path);
    /* the mixture's weight: the search includes both ends, so the mixture is never worse than either part */
    float a[4] = {-1, -2, -0.5f, -3}, b[4] = {-1.5f, -1, -2, -0.2f};
    double best = INFINITY;
    for (int j = 0; j <= 100; j++) best = fmin(best, mix_nll(a, b, 4, j / 100.0));
    check_true(t, best <= mix_nll(a, b, 4, 0) && best <= mix_nll(a, b, 4, 1), "the best mixture is no worse than either model");
    check_close(t, mix_nll(a, b, 4, 1), 1.625, 1e-12, 0, "lambda = 1 is the first model alone (mean -log p = 1.625)");
    check_close(t, mix_nll(a, a, 4, 0.3), 1.625, 1e-12, 1e-12, "a model mixed with itself is itself");
}

/* The worked solutions of the coding exercises. */
typedef struct { const int32_t *y; int B, V; double eps; } SmoothCtx;
static double smooth_loss_f32(const float *z, void *ctx) {
    SmoothCtx *c = ctx;
    float lse[8];
    return xent_smooth_forward(lse, z, c->y, c->B, c->V, c->eps);
}

static void test_solutions(Check *t, Run *r) {
    (void)r;
    double worst = 0;
    for (int i = 0; i <= 200; i++) {
        float x = -5.0f + 0.05f * i + 0.013f, h = 1e-3f;
        double fd = ((double)leaky_relu(x + h, 0.01f) - leaky_relu(x - h, 0.01f)) / (2 * h);
        worst = worst_of(worst, fabs(fd - leaky_relu_grad(x, 0.01f)));
    }
    check_true(t, worst < 1e-3, "solution 6: leaky ReLU's derivative against central differences (%.1e)", worst);
    check_true(t, leaky_relu(-2, 0.01f) == -0.02f && leaky_relu(3, 0.01f) == 3, "solution 6: leaky ReLU's values");
    /* temperature: tau -> 0 is the argmax; tau = 1 samples the softmax (chi-square) */
    Rng rng;
    rng_seed(&rng, 31);
    float z[5] = {0.5f, 2.0f, -1.0f, 1.0f, 0.0f}, q[5];
    bool greedy = true;
    for (int k = 0; k < 200; k++) greedy &= sample_temperature(z, 5, 1e-3, &rng) == 1;
    check_true(t, greedy, "solution 7: at tau = 0.001 sampling always picks the largest logit");
    softmax_row(q, z, 5);
    int n = 100000, cnt[5] = {0};
    for (int k = 0; k < n; k++) cnt[sample_temperature(z, 5, 1.0, &rng)]++;
    double chi = 0;
    for (int j = 0; j < 5; j++) chi += (cnt[j] - n * q[j]) * (cnt[j] - n * q[j]) / (n * q[j]);
    check_true(t, chi < 18.5, "solution 7: at tau = 1 draws follow the softmax (chi-square %.1f, 4 dof, p = 0.001 at 18.5)", chi);
    int top = 0;
    for (int k = 0; k < n; k++) top += sample_temperature(z, 5, 100.0, &rng) == 1;
    check_true(t, fabs((double)top / n - 0.2) < 0.01, "solution 7: at tau = 100 every symbol is nearly equally likely (%.3f)",
               (double)top / n);
    /* label smoothing: its gradient, and eps = 0 is the plain loss */
    float zz[3 * 7], g[3 * 7], lse[3];
    int32_t y[3] = {2, 6, 0};
    random_fill(zz, 21, 2, &rng);
    double plain = xent_forward(lse, zz, y, 3, 7), s0 = xent_smooth_forward(lse, zz, y, 3, 7, 0);
    check_close(t, s0, plain, 1e-9, 1e-9, "solution 8: eps = 0 gives the plain cross-entropy");
    xent_smooth_forward(lse, zz, y, 3, 7, 0.1);
    xent_smooth_backward(g, zz, lse, y, 3, 7, 0.1);
    SmoothCtx c = {y, 3, 7, 0.1};
    GradErr e = gradcheck_f32(smooth_loss_f32, &c, zz, 21, g, 1e-2f);
    check_true(t, e.max_abs < 1e-4, "solution 8: the smoothed gradient q - (1-eps) e_y - eps/V against central differences (%.1e)",
               e.max_abs);
}

/* The program itself: one-line errors and nonzero exits on bad input. */
static void test_command_line(Check *t, const char *dir) {
    char *garbage = xasprintf("%s/garbage.safetensors", dir);
    ProgramCase cases[] = {
        {"train --activation tanh", 2, "--activation"},
        {"train --layers 99", 2, "--layers"},
        {"trian", 2, "unknown experiment"},
        {"train --bogus", 2, "unknown option"},
        {"gpu-agree", 1, "--device cuda"},
        {"train --data /nonexistent/file.txt", 1, "/nonexistent/file.txt"},
        {"generate --model /nonexistent/model.safetensors", 1, "/nonexistent/model.safetensors"},
        {NULL, 1, "garbage.safetensors"},
        {"generate --length 0", 2, "--length"},
        {"--help", 0, "usage"},
        {"train --hidden 8192 --layers 8 --batch 65536", 1, "--hidden 8192 --layers 8"},
        {"regularize", 1, "--device cuda"},
        {"regularize --quick --run 10", 1, "--run 10"},
        {"mix --quick --probs /nonexistent/probs.bin", 1, "/nonexistent/probs.bin"},
        {NULL, 1, "bytes c3 a9"},
        {"lrbatch", 1, "--device cuda"},
        {"lrbatch --quick --run 20", 1, "--run 20"},
        {"lrbatch-best --out /nonexistent", 1, "/nonexistent/ch04-lrbatch.tsv"},
    };
    char *gen = xasprintf("generate --model %s", garbage);
    char *utf = xasprintf("generate --quick --model %s/quick.safetensors --prompt Caf\xc3\xa9", dir);
    cases[7].args = gen;
    cases[14].args = utf;
    expect_programs(t, "ch04-mlp", cases, sizeof cases / sizeof cases[0]);
    /* a corrupt checkpoint: its path once, and no hint to train (it exists) */
    char *cmd = xasprintf("NO_PROGRESS=1 build/bin/ch04-mlp %s 2>&1", gen), out[1024] = "";
    FILE *p = popen(cmd, "r");
    size_t got = p ? fread(out, 1, sizeof out - 1, p) : 0;
    out[got] = '\0';
    if (p) pclose(p);
    const char *first = strstr(out, "garbage.safetensors");
    check_true(t, first && !strstr(first + 1, "garbage.safetensors") && !strstr(out, "train a model first"),
               "a corrupt checkpoint's message names it once, without the hint to train (%.120s)", out);
    free(cmd), free(utf), free(gen), free(garbage);
}

int main(void) {
    Check t;
    check_init(&t, "ch04");
    setenv("NO_PROGRESS", "1", 1);
    test_embedding_is_lookup(&t);
    test_param_count(&t);
    test_log_sum_exp(&t);
    test_softmax(&t);
    test_cross_entropy(&t);
    test_mle(&t);
    test_activations(&t);
    test_model_gradient(&t);
    test_dropout(&t);
    test_weight_decay(&t);
    test_small_pieces(&t);
    test_uat(&t);

    char dir[] = "/tmp/test-ch04-XXXXXX";
    if (!mkdtemp(dir)) die("cannot make a temporary directory");
    test_checkpoint(&t, dir);
    char *model = xasprintf("%s/quick.safetensors", dir);
    char *probs = xasprintf("%s/quick-probs.bin", dir);
    Run r = {.context = 8, .embed = 8, .hidden = 64, .layers = 2, .steps = 0, .batch = 32, .length = 50,
             .lr = 3e-3, .activation = "gelu", .model = model, .prompt = "", .probs = probs, .run = -1,
             .source = "cpu"};
    quick_common(&r.c, "test_ch04", dir);
    test_perplexity(&t, &r);
    test_quick_experiments(&t, &r);
    test_quick_regularize(&t, &r);
    test_lrbatch(&t, &r);
    test_lrbatch_best(&t, &r);
    test_logprobs_file(&t, &r);
    test_solutions(&t, &r);
    dataset_free(r.data);
    cli_free(&r.c);
    test_command_line(&t, dir);
    remove_tree(dir);
    free(model), free(probs);
    return check_summary(&t);
}
