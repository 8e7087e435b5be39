/* test_gpu.c -- common/gpu: every kernel against its CPU reference in
 * common/nn, in f32, bf16 and f16, on fresh random inputs of awkward shapes
 * (odd sizes, rows that do not divide into 16-byte packs, a row longer than
 * a block), with every forward output poisoned (all bits set: NaN in each
 * float format) before the kernel runs, so an element it forgot to write
 * shows.
 *
 * The inputs are drawn in f32 and rounded to the dtype on the host; the CPU
 * reference computes in f32 from those same rounded values.  The GPU result
 * is then held to the normwise rule ||gpu - cpu|| / ||cpu|| <= tol(dtype),
 * with every element finite:
 *   f32   1e-5   (both sides f32; they differ by the order of their sums)
 *   bf16  1.5e-2 (8 bits of mantissa: one rounding of a stored value is
 *                 up to 2^-9 = 2e-3, and intermediates such as attention's
 *                 scores and probabilities are stored in the dtype too)
 *   f16   4e-3   (11 bits)
 * Backward passes accumulate: their gradient buffers start from random
 * values on both sides, so the += is checked too.
 *
 * Without a GPU (or in a build without CUDA) the suite prints "skipped: ..."
 * and passes nothing: tests/run reports it as skipped. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gpu.h"
#include "matmul.h"
#include "nn.h"
#include "rng.h"
#include "tensor.h"
#include "util.h"

typedef struct {
    Gpu *g;
    Check *t;
    Rng *r;
    DType dt;
} Ctx;

static double tol(DType dt) { return dt == DT_F32 ? 1e-5 : dt == DT_BF16 ? 1.5e-2 : 4e-3; }

static float round_to(DType dt, float x) {
    return dt == DT_BF16 ? bf16_to_f32(f32_to_bf16(x)) : dt == DT_F16 ? f16_to_f32(f32_to_f16(x)) : x;
}

/* n normal values times scale, already rounded to the dtype */
static float *hrand(Ctx *c, size_t n, float scale) {
    float *p = xmalloc_array(n ? n : 1, sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = round_to(c->dt, scale * (float)rng_normal(c->r));
    return p;
}

static float *hcopy(const float *x, size_t n) {
    float *p = xmalloc_array(n ? n : 1, sizeof(float));
    memcpy(p, x, n * sizeof(float));
    return p;
}

static void *dev(Ctx *c, const float *h, size_t n) {
    void *d = gpu_malloc(n * dtype_size(c->dt));
    gpu_upload_f32(c->g, c->dt, d, h, n);
    return d;
}

static void *dev_poisoned(Ctx *c, size_t n, size_t elem) {
    void *d = gpu_malloc(n * elem);
    size_t bytes = n * elem;
    void *h = xmalloc(bytes > 0 ? bytes : 1);
    memset(h, 0xff, n * elem);
    gpu_upload(c->g, d, h, n * elem);
    free(h);
    return d;
}

static int32_t *dev_ids(Ctx *c, const int32_t *h, size_t n) {
    int32_t *d = gpu_malloc(n * sizeof(int32_t));
    gpu_upload(c->g, d, h, n * sizeof(int32_t));
    return d;
}

/* download (dtype, or f32 when is_f32) and hold to the normwise rule */
static void expect_near(Ctx *c, const void *d, bool is_f32, const float *ref, size_t n, double tolerance,
                        const char *what, int a, int b) {
    float *got = xmalloc_array(n ? n : 1, sizeof(float));
    gpu_download_f32(c->g, is_f32 ? DT_F32 : c->dt, got, d, n);
    double num = 0, den = 0;
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) bad++;
        num += ((double)got[i] - ref[i]) * ((double)got[i] - ref[i]);
        den += (double)ref[i] * ref[i];
    }
    double err = sqrt(num) / fmax(sqrt(den), 1e-30);
    if (bad)
        check_true(c->t, false, "%s %s (%d, %d): %zu of %zu values not finite (unwritten?)", what,
                   dtype_name(c->dt), a, b, bad, n);
    else
        check_true(c->t, err <= tolerance, "%s %s (%d, %d): relative error %.2e <= %.1e", what,
                   dtype_name(c->dt), a, b, err, tolerance);
    free(got);
}
#define EXPECT(d, ref, n, what, a, b) expect_near(c, d, false, ref, n, tol(c->dt), what, a, b)
#define EXPECT_F32(d, ref, n, what, a, b) expect_near(c, d, true, ref, n, tol(c->dt), what, a, b)

/* ---- one test per layer ------------------------------------------------------------ */

static void test_convert(Ctx *c) {
    size_t n = 1001;
    float *h = hrand(c, n, 3);
    void *d = dev(c, h, n);
    float *back = xmalloc(n * sizeof(float));
    gpu_download_f32(c->g, c->dt, back, d, n);
    bool same = memcmp(back, h, n * sizeof(float)) == 0;
    check_true(c->t, same, "upload and download round-trip exactly in %s", dtype_name(c->dt));
    /* the device rounds as the host does: f32 -> dt on the GPU vs f32_to_* on the CPU */
    float *raw = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) raw[i] = 3.0f * (float)rng_normal(c->r);
    float *draw = gpu_malloc(n * sizeof(float));
    gpu_upload(c->g, draw, raw, n * sizeof(float));
    void *dd = gpu_malloc(n * dtype_size(c->dt));
    gpu_convert(c->g, c->dt, dd, DT_F32, draw, n);
    gpu_download_f32(c->g, c->dt, back, dd, n);
    size_t differ = 0;
    for (size_t i = 0; i < n; i++) differ += back[i] != round_to(c->dt, raw[i]);
    check_true(c->t, differ == 0, "GPU rounding to %s matches the CPU's on %zu values (%zu differ)",
               dtype_name(c->dt), n, differ);
    gpu_free(d), gpu_free(draw), gpu_free(dd), free(h), free(back), free(raw);
}

static void test_linear(Ctx *c, int N, int C, int OC) {
    float *x = hrand(c, (size_t)N * C, 1), *w = hrand(c, (size_t)OC * C, 0.3f), *b = hrand(c, OC, 1);
    float *dy = hrand(c, (size_t)N * OC, 1);
    float *dx = hrand(c, (size_t)N * C, 1), *dw = hrand(c, (size_t)OC * C, 1), *db = hrand(c, OC, 1);
    void *X = dev(c, x, (size_t)N * C), *W = dev(c, w, (size_t)OC * C), *Bi = dev(c, b, OC);
    void *DY = dev(c, dy, (size_t)N * OC), *DX = dev(c, dx, (size_t)N * C), *DW = dev(c, dw, (size_t)OC * C);
    void *DB = dev(c, db, OC), *Y = dev_poisoned(c, (size_t)N * OC, dtype_size(c->dt));
    float *y = xmalloc((size_t)N * OC * sizeof(float));
    linear_forward(y, x, w, b, N, C, OC);
    linear_forward_cuda(c->g, c->dt, Y, X, W, Bi, N, C, OC);
    EXPECT(Y, y, (size_t)N * OC, "linear forward", N, C);
    linear_backward(dx, dw, db, dy, x, w, N, C, OC);
    linear_backward_cuda(c->g, c->dt, DX, DW, DB, DY, X, W, N, C, OC);
    EXPECT(DX, dx, (size_t)N * C, "linear dinp", N, C);
    EXPECT(DW, dw, (size_t)OC * C, "linear dweight", N, C);
    EXPECT(DB, db, OC, "linear dbias", N, C);
    gpu_free(X), gpu_free(W), gpu_free(Bi), gpu_free(DY), gpu_free(DX), gpu_free(DW), gpu_free(DB), gpu_free(Y);
    free(x), free(w), free(b), free(dy), free(dx), free(dw), free(db), free(y);
}

/* The fused linear layers (cuBLASLt's epilogues, or their fallback when
 * cuBLASLt refuses the shape: OC = 29 and C = 77 below) against nn.h: GELU
 * after the product (its input kept), GELU's derivative applied to the
 * input gradient (overwriting a poisoned buffer), the residual added, the
 * bias gradient summed in the weight gradient's product. */
static void test_fused_linear(Ctx *c, int N, int C, int OC) {
    size_t no = (size_t)N * OC, ni = (size_t)N * C;
    float *x = hrand(c, ni, 1), *w = hrand(c, (size_t)OC * C, 0.1f), *b = hrand(c, OC, 0.3f), *res = hrand(c, no, 1);
    float *pre = xmalloc_array(no, 4), *y = xmalloc_array(no, 4);
    void *X = dev(c, x, ni), *W = dev(c, w, (size_t)OC * C), *Bi = dev(c, b, OC), *R = dev(c, res, no);
    void *PRE = dev_poisoned(c, no, dtype_size(c->dt)), *Y = dev_poisoned(c, no, dtype_size(c->dt));
    linear_forward(pre, x, w, b, N, C, OC);
    gelu_forward(y, pre, no);
    linear_gelu_forward_cuda(c->g, c->dt, Y, PRE, X, W, Bi, N, C, OC);
    EXPECT(PRE, pre, no, "linear+gelu forward: gelu's input", N, OC);
    EXPECT(Y, y, no, "linear+gelu forward: gelu's output", N, OC);
    for (size_t i = 0; i < no; i++) y[i] = pre[i] + res[i];   /* pre holds x w^T + b */
    gpu_free(Y), Y = dev_poisoned(c, no, dtype_size(c->dt));
    linear_residual_forward_cuda(c->g, c->dt, Y, X, W, Bi, R, N, C, OC);
    EXPECT(Y, y, no, "linear+residual forward", N, OC);
    /* dinp [N,C] = (dy [N,OC] w [OC,C]) gelu'(p [N,C]) */
    float *dy = hrand(c, no, 1), *p = hrand(c, ni, 1.5f), *prod = xmalloc_array(ni, 4), *dx = xcalloc(ni, 4);
    matmul_ref_f32(false, false, N, C, OC, 1.0f, dy, OC, w, C, 0.0f, prod, C);
    gelu_backward(dx, prod, p, ni);
    void *DY = dev(c, dy, no), *P = dev(c, p, ni), *DX = dev_poisoned(c, ni, dtype_size(c->dt));
    linear_dgelu_backward_cuda(c->g, c->dt, DX, DY, W, P, N, C, OC);
    EXPECT(DX, dx, ni, "linear+dgelu backward (overwrites)", N, C);
    /* gelu's backward pass that overwrites, in place */
    float *pd = hcopy(dy, no), *gd = xcalloc(no, 4), *q = hrand(c, no, 1.5f);
    gelu_backward(gd, pd, q, no);
    void *PD = dev(c, pd, no), *PR = dev(c, q, no);
    gelu_backward_set_cuda(c->g, c->dt, PD, PD, PR, no);
    EXPECT(PD, gd, no, "gelu backward, overwriting in place", N, OC);
    /* the weight's and the bias's gradients, the bias's sums in the epilogue, both added to random values */
    float *dw = hrand(c, (size_t)OC * C, 1), *db = hrand(c, OC, 1);
    void *DW = dev(c, dw, (size_t)OC * C), *DB = dev(c, db, OC);
    linear_backward(NULL, dw, db, dy, x, w, N, C, OC);
    linear_backward_weight_bgrad_cuda(c->g, c->dt, DW, DB, DY, X, N, C, OC);
    EXPECT(DW, dw, (size_t)OC * C, "linear dweight, bias sums in the epilogue", N, C);
    EXPECT(DB, db, OC, "linear dbias, summed in the epilogue (added)", N, C);
    gpu_free(DW), gpu_free(DB), free(dw), free(db);
    gpu_free(X), gpu_free(W), gpu_free(Bi), gpu_free(R), gpu_free(PRE), gpu_free(Y), gpu_free(DY), gpu_free(P), gpu_free(DX);
    gpu_free(PD), gpu_free(PR);
    free(x), free(w), free(b), free(res), free(pre), free(y), free(dy), free(p), free(prod), free(dx), free(pd), free(gd), free(q);
}

/* Which GELU cuBLASLt's epilogues compute (its documentation says only
 * "GELU").  A product that is exactly the bias (zero input) puts 2048
 * values on [-6, 6] through GELU_AUX_BIAS, and a product that is exactly 1
 * through DGELU; the results' deviations from the tanh form (ours, nn.h)
 * are projected on the difference between the erf form and the tanh form
 * (at most 4.7e-4, and 8.7e-4 in the slope): a coefficient near 0 says
 * tanh, near 1 says erf, whatever noise a fast tanh or the output's
 * rounding adds.  In f32 (the clear answer) and in f16 (the rounding of
 * the output, up to 2e-3 here, is noise the projection averages over the
 * 2048 values: a coefficient within 0.35 of 0).  It must be tanh, within
 * 2e-3 (f32) or 6e-3 (f16) of ours everywhere, and through cuBLASLt (no
 * fallback, else the comparison would be of our own kernel; in f32, where
 * cuBLASLt may have no epilogue kernel, a fallback is reported and the
 * form left to f16). */
static void test_lt_gelu_form(Ctx *c) {
    int N = 8, C = 8, OC = 2048;
    size_t n = (size_t)N * OC, es = dtype_size(c->dt);
    float *x = xcalloc((size_t)N * C, 4), *w = xcalloc((size_t)OC * C, 4), *b = xmalloc_array(OC, 4);
    for (int o = 0; o < OC; o++) b[o] = round_to(c->dt, -6.0f + 12.0f * (float)o / (OC - 1));
    void *X = dev(c, x, (size_t)N * C), *W = dev(c, w, (size_t)OC * C), *Bi = dev(c, b, OC);
    void *PRE = dev_poisoned(c, n, es), *Y = dev_poisoned(c, n, es);
    size_t fb = linear_fused_fallbacks();
    linear_gelu_forward_cuda(c->g, c->dt, Y, PRE, X, W, Bi, N, C, OC);
    /* slope: dinp [N, OC] = (dy [N, 8] w1 [8, OC]) gelu'(pre), dy = e_0 rows, w1 row 0 all ones */
    float *dy = xcalloc((size_t)N * C, 4), *w1 = xcalloc((size_t)C * OC, 4);
    for (int r = 0; r < N; r++) dy[(size_t)r * C] = 1;
    for (int o = 0; o < OC; o++) w1[o] = 1;
    void *DY = dev(c, dy, (size_t)N * C), *W1 = dev(c, w1, (size_t)C * OC), *DX = dev_poisoned(c, n, es);
    linear_dgelu_backward_cuda(c->g, c->dt, DX, DY, W1, PRE, N, OC, C);
    const char *dn = dtype_name(c->dt);
    size_t fell = linear_fused_fallbacks() - fb;
    if (fell && c->dt == DT_F32) {   /* no f32 epilogue kernel: f16 answers (the GPT's step is bf16) */
        printf("  f32: cuBLASLt took %zu of the two GELU products to the fallback; the form is judged in f16\n", fell);
        goto done;
    }
    check_true(c->t, fell == 0, "%s GELU_AUX_BIAS and DGELU ran in cuBLASLt (%zu fallbacks)", dn, fell);
    float *gy = xmalloc_array(n, 4), *gd = xmalloc_array(n, 4);
    gpu_download_f32(c->g, c->dt, gy, Y, n), gpu_download_f32(c->g, c->dt, gd, DX, n);
    double num[2] = {0, 0}, den[2] = {0, 0}, worst[2] = {0, 0};
    for (size_t i = 0; i < n; i++) {
        double v = b[i % OC], u = 0.7978845608028654 * (v + 0.044715 * v * v * v);
        double du = 0.7978845608028654 * (1 + 3 * 0.044715 * v * v);
        double t = 0.5 * v * (1 + tanh(u)), e = 0.5 * v * (1 + erf(v / sqrt(2.0)));
        double dt_ = 0.5 * (1 + tanh(u)) + 0.5 * v * (1 - tanh(u) * tanh(u)) * du;
        double de = 0.5 * (1 + erf(v / sqrt(2.0))) + v * exp(-0.5 * v * v) / sqrt(2 * M_PI);
        num[0] += (gy[i] - t) * (e - t), den[0] += (e - t) * (e - t), worst[0] = fmax(worst[0], fabs(gy[i] - t));
        num[1] += (gd[i] - dt_) * (de - dt_), den[1] += (de - dt_) * (de - dt_), worst[1] = fmax(worst[1], fabs(gd[i] - dt_));
    }
    double k0 = num[0] / den[0], k1 = num[1] / den[1], kb = c->dt == DT_F32 ? 0.2 : 0.35, wb = c->dt == DT_F32 ? 2e-3 : 6e-3;
    check_true(c->t, fabs(k0) < kb && worst[0] < wb,
               "%s: cuBLASLt's GELU is the tanh form: erf coefficient %.3f (0 tanh, 1 erf), %.2e from ours at worst", dn,
               k0, worst[0]);
    check_true(c->t, fabs(k1) < kb && worst[1] < wb,
               "%s: cuBLASLt's DGELU is the tanh form's slope: erf coefficient %.3f, %.2e from ours at worst", dn, k1,
               worst[1]);
    free(gy), free(gd);
done:
    gpu_free(X), gpu_free(W), gpu_free(Bi), gpu_free(PRE), gpu_free(Y), gpu_free(DY), gpu_free(W1), gpu_free(DX);
    free(x), free(w), free(b), free(dy), free(w1);
}

static void test_gemm_transposes(Ctx *c) {
    int M = 33, N = 47, K = 29;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            float *a = hrand(c, (size_t)M * K, 1), *b = hrand(c, (size_t)K * N, 1), *cc = hrand(c, (size_t)M * N, 1);
            void *A = dev(c, a, (size_t)M * K), *B = dev(c, b, (size_t)K * N), *Cd = dev(c, cc, (size_t)M * N);
            int lda = ta ? M : K, ldb = tb ? K : N;
            float *ref = hcopy(cc, (size_t)M * N);
            matmul_ref_f32(ta, tb, M, N, K, 0.5f, a, lda, b, ldb, 0.25f, ref, N);
            gemm_cuda(c->g, c->dt, ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 0.25f, Cd, N);
            EXPECT(Cd, ref, (size_t)M * N, "gemm alpha/beta (trans_a, trans_b)", ta, tb);
            gpu_free(A), gpu_free(B), gpu_free(Cd), free(a), free(b), free(cc), free(ref);
        }
}

static bool same_bits(Ctx *c, const void *a, const void *b, size_t n) {
    size_t bytes = n * dtype_size(c->dt);
    unsigned char *x = xmalloc(bytes ? bytes : 1), *y = xmalloc(bytes ? bytes : 1);
    gpu_download(c->g, x, a, bytes), gpu_download(c->g, y, b, bytes);
    bool same = memcmp(x, y, bytes) == 0;
    free(x), free(y);
    return same;
}

/* skew: three quarters of the tokens are 0, 1 or 2, so their runs in the
 * sorted order are long and cross the backward pass's tiles of 8 */
static void test_embedding(Ctx *c, int B, int T, int C, int V, bool skew) {
    int32_t *ids = xmalloc((size_t)B * T * sizeof(int32_t));
    for (int i = 0; i < B * T; i++)
        ids[i] = (int32_t)(skew && rng_below(c->r, 4) ? rng_below(c->r, 3) : rng_below(c->r, (uint64_t)V));
    ids[0] = ids[B * T - 1];  /* a repeated token */
    ids[1] = V - 1;           /* the last id */
    float *wte = hrand(c, (size_t)V * C, 1), *wpe = hrand(c, (size_t)T * C, 1), *dy = hrand(c, (size_t)B * T * C, 1);
    float *dwte = hrand(c, (size_t)V * C, 1), *dwpe = hrand(c, (size_t)T * C, 1);
    void *WTE = dev(c, wte, (size_t)V * C), *WPE = dev(c, wpe, (size_t)T * C), *DY = dev(c, dy, (size_t)B * T * C);
    void *DWTE = dev(c, dwte, (size_t)V * C), *DWPE = dev(c, dwpe, (size_t)T * C);
    void *DWTE2 = dev(c, dwte, (size_t)V * C), *DWPE2 = dev(c, dwpe, (size_t)T * C);
    void *DWTE3 = dev(c, dwte, (size_t)V * C), *DWPE3 = dev(c, dwpe, (size_t)T * C), *DWPE4 = dev(c, dwpe, (size_t)T * C);
    void *Y = dev_poisoned(c, (size_t)B * T * C, dtype_size(c->dt));
    int32_t *IDS = dev_ids(c, ids, (size_t)B * T);
    float *y = xmalloc((size_t)B * T * C * sizeof(float));
    embedding_forward(y, ids, wte, wpe, B, T, C);
    embedding_forward_cuda(c->g, c->dt, Y, IDS, WTE, WPE, B, T, C);
    EXPECT(Y, y, (size_t)B * T * C, "embedding forward", B * T, C);
    float *dwpe_only = hcopy(dwpe, (size_t)T * C);
    embedding_backward(NULL, dwpe_only, dy, ids, B, T, C);
    embedding_backward(dwte, dwpe, dy, ids, B, T, C);
    embedding_backward_cuda(c->g, c->dt, DWTE, DWPE, DY, IDS, B, T, C);
    EXPECT(DWTE, dwte, (size_t)V * C, skew ? "embedding dwte (skewed tokens)" : "embedding dwte", B * T, C);
    EXPECT(DWPE, dwpe, (size_t)T * C, "embedding dwpe", B * T, C);
    /* deterministic: a second run from the same gradients gives the same bits */
    embedding_backward_cuda(c->g, c->dt, DWTE2, DWPE2, DY, IDS, B, T, C);
    check_true(c->t, same_bits(c, DWTE, DWTE2, (size_t)V * C) && same_bits(c, DWPE, DWPE2, (size_t)T * C),
               "embedding backward %s (%d, %d): the same bits on a second run", dtype_name(c->dt), B * T, C);
    /* sorted once, the same bits again */
    void *SORT = gpu_malloc(embedding_sort_bytes(B * T));
    embedding_sort_cuda(c->g, SORT, IDS, B * T, V);
    embedding_backward_sorted_cuda(c->g, c->dt, DWTE3, DWPE3, DY, SORT, B, T, C);
    check_true(c->t, same_bits(c, DWTE, DWTE3, (size_t)V * C) && same_bits(c, DWPE, DWPE3, (size_t)T * C),
               "embedding backward %s (%d, %d): sorting once gives the same bits", dtype_name(c->dt), B * T, C);
    /* no token table: positions only */
    embedding_backward_cuda(c->g, c->dt, NULL, DWPE4, DY, IDS, B, T, C);
    EXPECT(DWPE4, dwpe_only, (size_t)T * C, "embedding dwpe alone", B * T, C);
    gpu_free(WTE), gpu_free(WPE), gpu_free(DY), gpu_free(DWTE), gpu_free(DWPE), gpu_free(Y), gpu_free(IDS);
    gpu_free(DWTE2), gpu_free(DWPE2), gpu_free(DWTE3), gpu_free(DWPE3), gpu_free(DWPE4), gpu_free(SORT);
    free(ids), free(wte), free(wpe), free(dy), free(dwte), free(dwpe), free(y), free(dwpe_only);
}

static void test_norms(Ctx *c, int N, int C) {
    size_t n = (size_t)N * C;
    float *x = hrand(c, n, 2), *w = hrand(c, C, 1), *b = hrand(c, C, 1), *dy = hrand(c, n, 1);
    for (size_t i = 0; i < n; i++) x[i] = round_to(c->dt, x[i] + 1.5f);
    float *dx = hrand(c, n, 1), *dw = hrand(c, C, 1), *db = hrand(c, C, 1);
    float *y = xmalloc(n * sizeof(float)), *mean = xmalloc(N * sizeof(float)), *rstd = xmalloc(N * sizeof(float));
    void *X = dev(c, x, n), *W = dev(c, w, C), *Bi = dev(c, b, C), *DY = dev(c, dy, n);
    void *DX = dev(c, dx, n), *DW = dev(c, dw, C), *DB = dev(c, db, C), *Y = dev_poisoned(c, n, dtype_size(c->dt));
    float *MEAN = dev_poisoned(c, N, 4), *RSTD = dev_poisoned(c, N, 4);
    layernorm_forward(y, mean, rstd, x, w, b, N, C);
    layernorm_forward_cuda(c->g, c->dt, Y, MEAN, RSTD, X, W, Bi, N, C);
    EXPECT(Y, y, n, "layernorm forward", N, C);
    EXPECT_F32(MEAN, mean, N, "layernorm mean", N, C);
    EXPECT_F32(RSTD, rstd, N, "layernorm rstd", N, C);
    layernorm_backward(dx, dw, db, dy, x, w, mean, rstd, N, C);
    layernorm_backward_cuda(c->g, c->dt, DX, DW, DB, DY, X, W, MEAN, RSTD, N, C);
    EXPECT(DX, dx, n, "layernorm dinp", N, C);
    EXPECT(DW, dw, C, "layernorm dweight", N, C);
    EXPECT(DB, db, C, "layernorm dbias", N, C);

    /* RMS norm on the same input, fresh gradients */
    float *dx2 = hrand(c, n, 1), *dw2 = hrand(c, C, 1);
    void *DX2 = dev(c, dx2, n), *DW2 = dev(c, dw2, C), *Y2 = dev_poisoned(c, n, dtype_size(c->dt));
    rmsnorm_forward(y, rstd, x, w, N, C);
    rmsnorm_forward_cuda(c->g, c->dt, Y2, RSTD, X, W, N, C);
    EXPECT(Y2, y, n, "rmsnorm forward", N, C);
    EXPECT_F32(RSTD, rstd, N, "rmsnorm 1/rms", N, C);
    rmsnorm_backward(dx2, dw2, dy, x, w, rstd, N, C);
    rmsnorm_backward_cuda(c->g, c->dt, DX2, DW2, DY, X, W, RSTD, N, C);
    EXPECT(DX2, dx2, n, "rmsnorm dinp", N, C);
    EXPECT(DW2, dw2, C, "rmsnorm dweight", N, C);
    gpu_free(X), gpu_free(W), gpu_free(Bi), gpu_free(DY), gpu_free(DX), gpu_free(DW), gpu_free(DB), gpu_free(Y);
    gpu_free(MEAN), gpu_free(RSTD), gpu_free(DX2), gpu_free(DW2), gpu_free(Y2);
    free(x), free(w), free(b), free(dy), free(dx), free(dw), free(db), free(y), free(mean), free(rstd);
    free(dx2), free(dw2);
}

static void test_pointwise(Ctx *c, size_t n, int N, int H) {
    float *x = hrand(c, n, 2), *x2 = hrand(c, n, 1), *dy = hrand(c, n, 1), *dx = hrand(c, n, 1), *dx2 = hrand(c, n, 1);
    float *y = xmalloc(n * sizeof(float));
    void *X = dev(c, x, n), *X2 = dev(c, x2, n), *DY = dev(c, dy, n), *DX = dev(c, dx, n), *DX2 = dev(c, dx2, n);
    void *Y = dev_poisoned(c, n, dtype_size(c->dt));
    gelu_forward(y, x, n);
    gelu_forward_cuda(c->g, c->dt, Y, X, n);
    EXPECT(Y, y, n, "gelu forward", (int)n, 0);
    gelu_backward(dx, dy, x, n);
    gelu_backward_cuda(c->g, c->dt, DX, DY, X, n);
    EXPECT(DX, dx, n, "gelu backward", (int)n, 0);
    residual_forward(y, x, x2, n);
    residual_forward_cuda(c->g, c->dt, Y, X, X2, n);
    EXPECT(Y, y, n, "residual forward", (int)n, 0);
    residual_backward(dx, dx2, dy, n);
    residual_backward_cuda(c->g, c->dt, DX, DX2, DY, n);
    EXPECT(DX, dx, n, "residual da", (int)n, 0);
    EXPECT(DX2, dx2, n, "residual db", (int)n, 0);
    residual_backward(dx, NULL, dy, n);
    residual_backward_cuda(c->g, c->dt, DX, NULL, DY, n);
    EXPECT(DX, dx, n, "residual da alone", (int)n, 0);
    gpu_free(X), gpu_free(X2), gpu_free(DY), gpu_free(DX), gpu_free(DX2), gpu_free(Y);
    free(x), free(x2), free(dy), free(dx), free(dx2), free(y);

    size_t m = (size_t)N * H;
    float *gu = hrand(c, 2 * m, 1.5f), *sdy = hrand(c, m, 1), *sdx = hrand(c, 2 * m, 1), *sy = xmalloc(m * sizeof(float));
    void *GU = dev(c, gu, 2 * m), *SDY = dev(c, sdy, m), *SDX = dev(c, sdx, 2 * m), *SY = dev_poisoned(c, m, dtype_size(c->dt));
    swiglu_forward(sy, gu, N, H);
    swiglu_forward_cuda(c->g, c->dt, SY, GU, N, H);
    EXPECT(SY, sy, m, "swiglu forward", N, H);
    swiglu_backward(sdx, sdy, gu, N, H);
    swiglu_backward_cuda(c->g, c->dt, SDX, SDY, GU, N, H);
    EXPECT(SDX, sdx, 2 * m, "swiglu backward", N, H);
    gpu_free(GU), gpu_free(SDY), gpu_free(SDX), gpu_free(SY), free(gu), free(sdy), free(sdx), free(sy);
}

/* GELU far out in its tails, where exp(-2u) overflows or underflows: finite,
 * and x or 0 (its slope 1 or 0) as on the CPU */
static void test_gelu_tails(Ctx *c) {
    float x[16] = {-1e4f, -200, -60, -30, -12, -5, -1e-20f, 0, 1e-20f, 0.5f, 5, 12, 30, 60, 200, 3e4f};
    size_t n = 16;
    for (size_t i = 0; i < n; i++) x[i] = round_to(c->dt, x[i]);
    float y[16], dx[16], dy[16], dx0[16];
    for (size_t i = 0; i < n; i++) dy[i] = 1, dx[i] = dx0[i] = 0;
    void *X = dev(c, x, n), *Y = dev_poisoned(c, n, dtype_size(c->dt)), *DY = dev(c, dy, n), *DX = dev(c, dx0, n);
    gelu_forward(y, x, n);
    gelu_forward_cuda(c->g, c->dt, Y, X, n);
    gelu_backward(dx, dy, x, n);
    gelu_backward_cuda(c->g, c->dt, DX, DY, X, n);
    float gy[16], gd[16];
    gpu_download_f32(c->g, c->dt, gy, Y, n), gpu_download_f32(c->g, c->dt, gd, DX, n);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        double ey = fabs(gy[i] - y[i]), ed = fabs(gd[i] - dx[i]);
        if (!isfinite(gy[i]) || !isfinite(gd[i]) || ey > tol(c->dt) * fmax(1, fabs(y[i])) || ed > 2 * tol(c->dt)) {
            bad++;
            printf("  gelu tail %s: x %g: y %g (cpu %g), dy/dx %g (cpu %g)\n", dtype_name(c->dt), x[i], gy[i], y[i], gd[i], dx[i]);
        }
    }
    check_true(c->t, bad == 0, "gelu %s in its tails (|x| up to %g): %zu of %zu values off", dtype_name(c->dt),
               (double)-x[0], bad, n);
    gpu_free(X), gpu_free(Y), gpu_free(DY), gpu_free(DX);
}

static void test_softmax_xent(Ctx *c, int N, int V) {
    size_t n = (size_t)N * V;
    float *x = hrand(c, n, 3), *dy = hrand(c, n, 1), *dx = hrand(c, n, 1), *y = xmalloc(n * sizeof(float));
    void *X = dev(c, x, n), *DY = dev(c, dy, n), *DX = dev(c, dx, n), *Y = dev_poisoned(c, n, dtype_size(c->dt));
    softmax_forward(y, x, N, V);
    softmax_forward_cuda(c->g, c->dt, Y, X, N, V);
    EXPECT(Y, y, n, "softmax forward", N, V);
    /* the backward pass reads the probabilities: give both sides the same rounded ones */
    float *yr = xmalloc(n * sizeof(float));
    gpu_download_f32(c->g, c->dt, yr, Y, n);
    softmax_backward(dx, dy, yr, N, V);
    softmax_backward_cuda(c->g, c->dt, DX, DY, Y, N, V);
    EXPECT(DX, dx, n, "softmax backward", N, V);

    int32_t *tg = xmalloc(N * sizeof(int32_t));
    for (int i = 0; i < N; i++) tg[i] = i % 7 == 3 ? -1 : (int32_t)rng_below(c->r, (uint64_t)V);
    int32_t *TG = dev_ids(c, tg, N);
    float *loss = xmalloc(N * sizeof(float)), *lse = xmalloc(N * sizeof(float));
    float *LOSS = dev_poisoned(c, N, 4), *LSE = dev_poisoned(c, N, 4);
    cross_entropy_forward(loss, lse, x, tg, N, V);
    cross_entropy_forward_cuda(c->g, c->dt, LOSS, LSE, X, TG, N, V);
    EXPECT_F32(LOSS, loss, N, "cross-entropy losses", N, V);
    EXPECT_F32(LSE, lse, N, "cross-entropy lse", N, V);
    float dloss = 1.0f / N;
    float *dl = hrand(c, n, 1);
    void *DL = dev(c, dl, n);
    cross_entropy_backward(dl, x, lse, tg, dloss, N, V);
    cross_entropy_backward_cuda(c->g, c->dt, DL, X, LSE, TG, dloss, N, V);
    EXPECT(DL, dl, n, "cross-entropy backward (accumulating)", N, V);
    /* fused: losses, and the gradient written over the logits */
    float *g0 = xcalloc(n, sizeof(float));
    cross_entropy_backward(g0, x, lse, tg, dloss, N, V);
    float *LOSS2 = dev_poisoned(c, N, 4);
    cross_entropy_fused_cuda(c->g, c->dt, LOSS2, X, TG, dloss, N, V);
    EXPECT_F32(LOSS2, loss, N, "cross-entropy fused losses", N, V);
    EXPECT(X, g0, n, "cross-entropy fused gradient (in place)", N, V);
    gpu_free(X), gpu_free(DY), gpu_free(DX), gpu_free(Y), gpu_free(TG), gpu_free(LOSS), gpu_free(LSE), gpu_free(DL);
    gpu_free(LOSS2);
    free(x), free(dy), free(dx), free(y), free(yr), free(tg), free(loss), free(lse), free(dl), free(g0);
}

static void test_attention(Ctx *c, int B, int T, int C, int NH) {
    size_t nq = (size_t)B * T * 3 * C, no = (size_t)B * T * C, na = (size_t)B * NH * T * T;
    float *qkv = hrand(c, nq, 1), *dy = hrand(c, no, 1), *dq = hrand(c, nq, 1);
    float *y = xmalloc(no * sizeof(float)), *att = xmalloc(na * sizeof(float));
    void *QKV = dev(c, qkv, nq), *DY = dev(c, dy, no), *DQ = dev(c, dq, nq);
    void *Y = dev_poisoned(c, no, dtype_size(c->dt)), *ATT = dev_poisoned(c, na, dtype_size(c->dt));
    void *SCR = gpu_malloc(attention_scratch_bytes(c->dt, B, T, C, NH));
    attention_forward(y, att, qkv, B, T, C, NH);
    attention_forward_cuda(c->g, c->dt, Y, ATT, QKV, SCR, B, T, C, NH);
    EXPECT(ATT, att, na, "attention probabilities", T, C);
    EXPECT(Y, y, no, "attention forward", T, C);
    /* backward from the GPU's own (rounded) probabilities on both sides */
    gpu_download_f32(c->g, c->dt, att, ATT, na);
    attention_backward(dq, dy, qkv, att, B, T, C, NH);
    attention_backward_cuda(c->g, c->dt, DQ, DY, QKV, ATT, SCR, B, T, C, NH);
    EXPECT(DQ, dq, nq, "attention dqkv", T, C);
    gpu_free(QKV), gpu_free(DY), gpu_free(DQ), gpu_free(Y), gpu_free(ATT), gpu_free(SCR);
    free(qkv), free(dy), free(dq), free(y), free(att);
}

static void test_adamw(Ctx *c, size_t n) {
    float *p = hrand(c, n, 1), *gr = hrand(c, n, 1), *m = xcalloc(n, sizeof(float)), *v = xcalloc(n, sizeof(float));
    AdamW opt = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f};
    float *master = hcopy(p, n);
    void *P = dev(c, p, n), *G = dev(c, gr, n);
    float *M = gpu_malloc(n * 4), *Vv = gpu_malloc(n * 4), *MASTER = NULL;
    gpu_zero(c->g, M, n * 4), gpu_zero(c->g, Vv, n * 4);
    if (c->dt != DT_F32) {
        MASTER = gpu_malloc(n * 4);
        gpu_upload(c->g, MASTER, master, n * 4);
    }
    for (int step = 1; step <= 3; step++) {
        adamw_update(master, gr, m, v, n, &opt, step, 0.5f);
        adamw_update_cuda(c->g, c->dt, P, MASTER, G, M, Vv, n, &opt, step, 0.5f);
    }
    /* f32 state against f32 state: the same formula in the same order */
    expect_near(c, M, true, m, n, 1e-6, "adamw first moment", (int)n, 3);
    expect_near(c, Vv, true, v, n, 1e-6, "adamw second moment", (int)n, 3);
    if (MASTER) expect_near(c, MASTER, true, master, n, 1e-6, "adamw master weights", (int)n, 3);
    for (size_t i = 0; i < n; i++) master[i] = round_to(c->dt, master[i]);
    EXPECT(P, master, n, "adamw parameters", (int)n, 3);
    double ss = grad_norm_squared(gr, n), gs = grad_norm_squared_cuda(c->g, c->dt, G, n);
    check_close(c->t, gs, ss, 0, 1e-5, "gradient norm squared %s (%zu values)", dtype_name(c->dt), n);
    gpu_free(P), gpu_free(G), gpu_free(M), gpu_free(Vv), gpu_free(MASTER);
    free(p), free(gr), free(m), free(v), free(master);
}

/* y = a x + b y, f32 only: the same two roundings (a*x, then the fused or
 * separate add) on both sides, so within one rounding of the result. */
static void test_axpby(Ctx *c, size_t n) {
    float *x = hrand(c, n, 1), *y = hrand(c, n, 1), *ref = hcopy(y, n), *got = xmalloc_array(n, sizeof(float));
    float *X = gpu_malloc(n * 4), *Y = gpu_malloc(n * 4);
    gpu_upload(c->g, X, x, n * 4), gpu_upload(c->g, Y, y, n * 4);
    axpby_cuda(c->g, n, -0.25f, X, 0.9f, Y);
    axpby_cuda(c->g, n, 0.5f, Y, 0.5f, Y);   /* x == y */
    for (size_t i = 0; i < n; i++) ref[i] = -0.25f * x[i] + 0.9f * ref[i], ref[i] = 0.5f * ref[i] + 0.5f * ref[i];
    gpu_download(c->g, got, Y, n * 4);
    check_close_f32(c->t, got, ref, n, 1e-6, 1e-6, "axpby (%zu values, then in place)", n);
    gpu_free(X), gpu_free(Y);
    free(x), free(y), free(ref), free(got);
}

/* RMSprop: the same formula on both sides, three steps. */
static void test_rmsprop(Ctx *c, size_t n) {
    float *p = hrand(c, n, 1), *gr = hrand(c, n, 1), *v = xcalloc(n, sizeof(float)), *got = xmalloc_array(n, sizeof(float));
    float *P = gpu_malloc(n * 4), *G = gpu_malloc(n * 4), *Vv = gpu_malloc(n * 4);
    gpu_upload(c->g, P, p, n * 4), gpu_upload(c->g, G, gr, n * 4), gpu_zero(c->g, Vv, n * 4);
    for (int step = 0; step < 3; step++) {
        for (size_t i = 0; i < n; i++) {
            v[i] = 0.99f * v[i] + (1.0f - 0.99f) * gr[i] * gr[i];
            p[i] -= 1e-3f * gr[i] / (sqrtf(v[i]) + 1e-8f);
        }
        rmsprop_update_cuda(c->g, P, G, Vv, n, 1e-3f, 0.99f, 1e-8f);
    }
    gpu_download(c->g, got, Vv, n * 4);
    check_close_f32(c->t, got, v, n, 1e-7, 1e-5, "rmsprop second moment (%zu values)", n);
    gpu_download(c->g, got, P, n * 4);
    check_close_f32(c->t, got, p, n, 1e-6, 1e-5, "rmsprop parameters (%zu values)", n);
    gpu_free(P), gpu_free(G), gpu_free(Vv);
    free(p), free(gr), free(v), free(got);
}

static void test_arena(Check *t, Gpu *g) {
    Arena *a = gpu_arena_new(g, "device", 1000);
    int64_t shape[2] = {3, 5};
    Tensor x = tensor_new(a, DT_BF16, 2, shape);
    check_true(t, x.device == DEV_CUDA && a->nallocs == 1 && a->requested == 30 && a->used == 64,
               "a device arena counts like a CPU one (%zu requested, %zu used)", a->requested, a->used);
    gpu_zero(g, x.data, tensor_nbytes(&x));
    gpu_arena_free(a);
}

/* gpu_try_malloc: more than the device holds gives NULL and leaves no error
 * behind (the next allocation and a kernel launch still work); a size that
 * fits gives memory. */
/* The deliberate failure is skipped under compute-sanitizer (bench/gpu-device.sh
 * sets GPU_TEST_NO_OOM there): memcheck counts the failed cudaMalloc as an API
 * error, which is what this check provokes on purpose. */
static void test_try_malloc(Check *t, Gpu *g) {
    if (getenv("GPU_TEST_NO_OOM")) {
        printf("gpu_try_malloc's out-of-memory check skipped (GPU_TEST_NO_OOM)\n");
        return;
    }
    GpuInfo info = gpu_info(g);
    void *huge = gpu_try_malloc(info.memory * 2);
    check_true(t, huge == NULL, "gpu_try_malloc of twice the device's %zu bytes returns NULL", info.memory);
    if (huge) gpu_free(huge);
    void *small = gpu_try_malloc(1 << 20);
    check_true(t, small != NULL, "gpu_try_malloc of 1 MiB after a failed one returns memory");
    if (small) gpu_zero(g, small, 1 << 20), gpu_sync(g), gpu_free(small);
}

int main(void) {
    Check t;
    check_init(&t, "gpu");
    if (!gpu_available()) {
        printf("skipped: no CUDA device (or a build without CUDA)\n");
        return check_summary(&t);
    }
    Gpu *g = gpu_open(0);
    GpuInfo info = gpu_info(g);
    printf("device: %s, compute capability %d.%d, %d SMs\n", info.name, info.major, info.minor, info.sms);
    Rng r;
    rng_seed(&r, 20261128);
    test_arena(&t, g);
    test_try_malloc(&t, g);
    Ctx c32 = {g, &t, &r, DT_F32}, c16 = {g, &t, &r, DT_F16};
    test_lt_gelu_form(&c32);
    test_lt_gelu_form(&c16);
    test_axpby(&c32, 100003);
    test_rmsprop(&c32, 10007);
    DType dts[3] = {DT_F32, DT_BF16, DT_F16};
    for (int k = 0; k < 3; k++) {
        Ctx c = {g, &t, &r, dts[k]};
        test_convert(&c);
        test_gemm_transposes(&c);
        test_linear(&c, 37, 77, 29);
        test_linear(&c, 64, 768, 256);
        test_fused_linear(&c, 37, 77, 29);
        test_fused_linear(&c, 64, 768, 256);
        test_fused_linear(&c, 50, 128, 3072);
        test_embedding(&c, 3, 17, 40, 101, false);
        test_embedding(&c, 4, 33, 77, 50, true);
        test_embedding(&c, 8, 128, 768, 5003, false);
        test_embedding(&c, 16, 64, 96, 1000, true);
        test_norms(&c, 37, 77);
        test_norms(&c, 64, 768);
        test_norms(&c, 5, 3072);
        test_pointwise(&c, 1001, 7, 33);
        test_pointwise(&c, 4096, 8, 64);
        test_pointwise(&c, 12293, 3, 40);
        test_gelu_tails(&c);
        test_softmax_xent(&c, 13, 1001);
        test_softmax_xent(&c, 9, 3072);
        test_softmax_xent(&c, 5, 776);
        test_softmax_xent(&c, 4, 50304);
        test_attention(&c, 2, 17, 48, 3);
        test_attention(&c, 2, 64, 128, 4);
        test_adamw(&c, 10007);
    }
    gpu_close(g);
    return check_summary(&t);
}
