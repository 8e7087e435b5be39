/* test_ch11_gpu.c -- chapter 11 on a GPU.
 *
 *   the calculator's activations equal gpt.c's count on the GPU (attention
 *   scratch and sorted tokens included), buffers, arena and fused;
 *   the arena changes nothing: the same loss and gradients, bit for bit, as
 *   the plain model (same kernels, same order), in f32 and bf16;
 *   the fused classifier: the same loss and gradients to rounding (f32:
 *   1e-5 relative; bf16: the logits' gradient rounded per chunk, 2-norm of
 *   the difference under 1e-2 of the gradient's);
 *   the classifier's gradient dW alone in bf16, whole and in chunks, against
 *   an f64 reference with an error bound from the roundings (test_head_grad);
 *   inference with one block's buffers: gpt_forward's loss, f32 and bf16;
 *   the GPU timeline: every event's live bytes equal the prediction, peak
 *   after the head.
 * Without a GPU it prints "skipped: ..." and checks nothing. */
#include "memory.c"

#include "chapter_test.h"
#include "check.h"

static double rel_diff(const float *a, const float *b, size_t n) {
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++) d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]), r += (double)b[i] * b[i];
    return sqrt(d / (r > 0 ? r : 1));
}

static void test_counts(Check *t, Run *r) {
    GptConfig cs[] = {{.V = 256, .maxT = 64, .L = 2, .NH = 4, .C = 32, .F = 128},
                      {.V = 1000, .maxT = 128, .L = 3, .NH = 2, .C = 64, .F = 256}};
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 3; k++) {
            GptMemOptions o = {.arena = k == 1, .classifier_rows = k == 2 ? 100 : 0};
            MemPlan p = plan_for(r, DT_BF16, 5, 48, o.arena, o.classifier_rows);
            MemPrediction m = predict(&cs[i], &p);
            size_t want = gpt_activation_bytes_opts(&cs[i], DT_BF16, 5, 48, &o);
            check_true(t, m.act == want, "GPU model %d option %d: predicted activations %zu = gpt.c's %zu", i, k, m.act, want);
        }
}

static void test_same(Check *t, Gpu *g, DType dt) {
    GptConfig c = {.V = 1000, .maxT = 64, .L = 2, .NH = 4, .C = 64, .F = 256};
    int B = 4, T = 48, N = B * T;
    int32_t *tok = xmalloc_array((size_t)N + 1, sizeof *tok);
    for (int i = 0; i <= N; i++) tok[i] = (i * 7919 + 13) % c.V;
    GptMemOptions opts[] = {{0}, {.arena = true}, {.classifier_rows = 50}, {.arena = true, .classifier_rows = 64}};
    float *ref = NULL, *gr = NULL, loss0 = 0;
    for (int k = 0; k < 4; k++) {
        Gpt *m = gpt_new_opts(&c, g, dt, B, T, &opts[k]);
        gpt_init(m, 5);
        gpt_zero_grad(m);
        float loss = gpt_forward_backward(m, tok, tok + 1, B, T);
        if (!ref) ref = xcalloc(m->nparams, sizeof *ref), gr = xcalloc(m->nparams, sizeof *gr);
        gpt_get_grads(m, k == 0 ? ref : gr);
        if (k == 0) { loss0 = loss; gpt_free(m); continue; }
        if (k == 1) {
            check_true(t, loss == loss0 && memcmp(gr, ref, m->nparams * sizeof *gr) == 0,
                       "%s: the arena gives the plain model's loss and gradients bit for bit", dtype_name(dt));
        } else {
            double tol = dt == DT_F32 ? 1e-5 : 1e-2, d = rel_diff(gr, ref, m->nparams);
            check_close(t, loss, loss0, 1e-5, dt == DT_F32 ? 1e-6 : 1e-3, "%s, fused (%d rows): the loss", dtype_name(dt), opts[k].classifier_rows);
            check_true(t, d < tol, "%s, fused (%d rows): gradients within %.0e (2-norm, got %.2e)", dtype_name(dt),
                       opts[k].classifier_rows, tol, d);
        }
        gpt_free(m);
    }
    free(ref), free(gr), free(tok);
}

/* The classifier's gradient alone, bf16 on the GPU, whole and in chunks, against
 * an f64 reference from the same (bf16-rounded) inputs.  Error analysis: with
 * u = 2^-8 (bf16's unit roundoff) and S = sum_n |g_n| |x_n| (the sum of absolute
 * terms), rounding the logits and the gradient g costs about 3u S, the final
 * store u |dW|; each of the k chunks' stores adds at most u S more.  (The
 * logits' rounding, u |z| each, moves a softmax probability by up to 2u max|z|
 * relative, so "3u S" assumes logits of order one, as here: |z| <= 3.2 and
 * typically 0.1.)  So |got - ref| <= u (b S + 2 |ref|) with b = 4 whole and
 * 4 + k in k chunks; the test allows b = 6 and 6 + k, checks that bound as
 * written (the smallest b each element needs), and prints the worst b. */
static void test_head_grad(Check *t, Gpu *g) {
    int N = 192, C = 64, V = 1000;
    DType dt = DT_BF16;
    Rng rng;
    rng_seed(&rng, 17);
    float *x = xcalloc((size_t)N * C, 4), *W = xcalloc((size_t)V * C, 4), *got = xcalloc((size_t)V * C, 4);
    double *ref = xcalloc((size_t)V * C, 8), *S = xcalloc((size_t)V * C, 8), *z = xcalloc(V, 8);
    int32_t *y = xcalloc(N, 4);
    for (int i = 0; i < N * C; i++) x[i] = 2 * rng_uniform_f32(&rng) - 1;
    for (int i = 0; i < V * C; i++) W[i] = 0.05f * (2 * rng_uniform_f32(&rng) - 1);
    for (int i = 0; i < N; i++) y[i] = (int32_t)rng_below(&rng, (uint64_t)V);
    void *dx_ = gpu_malloc((size_t)N * C * 2), *dW = gpu_malloc((size_t)V * C * 2), *dX = gpu_malloc((size_t)N * C * 2);
    void *dWt = gpu_malloc((size_t)V * C * 2), *logits = gpu_malloc((size_t)N * V * 2);
    int32_t *dy = gpu_malloc((size_t)N * 4);
    float *losses = gpu_malloc((size_t)N * 4);
    gpu_upload_f32(g, dt, dX, x, (size_t)N * C), gpu_upload_f32(g, dt, dWt, W, (size_t)V * C);
    gpu_download_f32(g, dt, x, dX, (size_t)N * C), gpu_download_f32(g, dt, W, dWt, (size_t)V * C);   /* the bf16 inputs */
    gpu_upload(g, dy, y, (size_t)N * 4);
    for (int n = 0; n < N; n++) {
        double mx = -1e300, sum = 0;
        for (int v = 0; v < V; v++) {
            z[v] = 0;
            for (int c = 0; c < C; c++) z[v] += (double)x[n * C + c] * W[v * C + c];
            mx = fmax(mx, z[v]);
        }
        for (int v = 0; v < V; v++) sum += exp(z[v] - mx);
        for (int v = 0; v < V; v++) {
            double gv = (exp(z[v] - mx) / sum - (v == y[n])) / N;
            for (int c = 0; c < C; c++) ref[v * C + c] += gv * x[n * C + c], S[v * C + c] += fabs(gv * x[n * C + c]);
        }
    }
    int Rs[] = {N, 50};
    for (int q = 0; q < 2; q++) {
        int R = Rs[q], k = (N + R - 1) / R;
        gpu_zero(g, dW, (size_t)V * C * 2);
        for (int r0 = 0; r0 < N; r0 += R) {
            int n = N - r0 < R ? N - r0 : R;
            const char *xr = (const char *)dX + (size_t)r0 * C * 2;
            linear_forward_cuda(g, dt, logits, xr, dWt, NULL, n, C, V);
            cross_entropy_fused_cuda(g, dt, losses + r0, logits, dy + r0, 1.0f / N, n, V);
            gemm_cuda(g, dt, false, false, n, C, V, 1.0f, logits, V, dWt, C, 0.0f, (char *)dx_ + (size_t)r0 * C * 2, C);
            gemm_cuda(g, dt, true, false, V, C, n, 1.0f, logits, V, xr, C, 1.0f, dW, C);
        }
        gpu_download_f32(g, dt, got, dW, (size_t)V * C);
        double worst = 0, u = 0x1p-8;
        for (int i = 0; i < V * C; i++) {   /* the b each element needs: |got - ref| / u - 2|ref| <= b S */
            double excess = fabs(got[i] - ref[i]) / u - 2 * fabs(ref[i]);
            if (excess > 0) worst = fmax(worst, S[i] > 0 ? excess / S[i] : INFINITY);
        }
        check_true(t, worst <= 6 + (q ? k : 0), "bf16 classifier gradient dW alone, %s: |got - ref| <= u (b S + 2|ref|) "
                   "with b = %d (worst b %.2f)", q ? "50 rows at a time" : "whole", 6 + (q ? k : 0), worst);
    }
    gpu_free(dx_), gpu_free(dW), gpu_free(dX), gpu_free(dWt), gpu_free(logits), gpu_free(dy), gpu_free(losses);
    free(x), free(W), free(got), free(ref), free(S), free(z), free(y);
}

/* inference with one block's buffers scores as gpt_forward does, on the GPU */
static void test_infer_gpu(Check *t, Gpu *g, DType dt) {
    GptConfig c = {.V = 1000, .maxT = 64, .L = 2, .NH = 4, .C = 64, .F = 256};
    int B = 3, T = 40, N = B * T;
    Gpt *m = gpt_new(&c, g, dt, B, T);
    gpt_init(m, 8);
    gpt_set_fusions(m, 0);   /* the inference runs the separate kernels, so the forward pass it is held to does too */
    float *host = xcalloc(m->nparams, sizeof *host);
    gpt_get_params(m, host);
    int32_t *tok = xmalloc_array((size_t)N + 1, sizeof *tok);
    for (int i = 0; i <= N; i++) tok[i] = (i * 4099 + 3) % c.V;
    float want = gpt_forward(m, tok, tok + 1, B, T);
    Infer *f = infer_new(&c, g, dt, B, T, host);
    float got = infer_forward(f, tok, tok + 1);
    check_close(t, got, want, 0, 1e-6, "%s: inference with one block's buffers scores as gpt_forward (%.6f, %.6f)", dtype_name(dt), got, want);
    infer_free(f), gpt_free(m), free(host), free(tok);
}

static void test_timeline_gpu(Check *t, Gpu *g, Run *r) {
    GptConfig c = {.V = 512, .maxT = 64, .L = 3, .NH = 4, .C = 64, .F = 256};
    GptMemOptions o = {.arena = true};
    Gpt *m = gpt_new_opts(&c, g, DT_BF16, 2, 32, &o);
    gpt_init(m, 3);
    int32_t tok[65];
    for (int i = 0; i < 65; i++) tok[i] = (i * 37) % 512;
    gpt_forward_backward(m, tok, tok + 1, 2, 32);
    MemPlan p = plan_for(r, DT_BF16, 2, 32, true, 0);
    MemPrediction pr = predict(&c, &p);
    bool all = true;
    for (int i = 0; i < m->nevents; i++) all &= m->events[i].live == predicted_live(&c, &pr, m->events[i].what);
    check_true(t, all && m->nevents == 2 * c.L + 3, "GPU timeline: %d events, each equal to the prediction", m->nevents);
    check_true(t, m->arena->peak == pr.act, "GPU timeline: the arena's peak %zu = predicted activations %zu", m->arena->peak, pr.act);
    gpt_free(m);
}

int main(void) {
    Check t;
    check_init(&t, "ch11-gpu");
    if (!gpu_available()) {
        printf("skipped: no CUDA device (or a build without CUDA)\n");
        return check_summary(&t);
    }
    Run r = {0};
    cli_common_init(&r.c, "test_ch11_gpu");
    r.c.device = DEV_CUDA;
    Gpu *g = gpu_open(0);
    test_counts(&t, &r);
    test_same(&t, g, DT_F32);
    test_same(&t, g, DT_BF16);
    test_timeline_gpu(&t, g, &r);
    test_head_grad(&t, g);
    test_infer_gpu(&t, g, DT_F32);
    test_infer_gpu(&t, g, DT_BF16);
    gpu_close(g);
    cli_free(&r.c);
    return check_summary(&t);
}
