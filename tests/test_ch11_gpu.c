/* test_ch11_gpu.c -- chapter 11 on a GPU.
 *
 *   the calculator's activations equal gpt.c's count on the GPU (attention
 *   scratch and sorted tokens included), buffers, arena and fused;
 *   the arena changes nothing: the same loss and gradients, bit for bit, as
 *   the plain model (same kernels, same order), in f32 and bf16;
 *   the fused classifier: the same loss and gradients to rounding (f32:
 *   1e-5 relative; bf16: the logits' gradient rounded per chunk, 2-norm of
 *   the difference under 1e-2 of the gradient's);
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
    gpu_close(g);
    cli_free(&r.c);
    return check_summary(&t);
}
