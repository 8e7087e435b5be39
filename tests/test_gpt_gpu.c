/* test_gpt_gpu.c -- common/gpt on a GPU against the same model on the CPU.
 *
 *   forward and backward in f32: logits within atol 1e-5 + rtol 1e-4
 *     (cuBLAS sums in another order than matmul_f32), every gradient within
 *     atol 1e-6 + rtol 1e-3 (the embedding's backward adds atomically, in
 *     whatever order the additions land);
 *   the same in bf16 with f32 master weights, normwise: logits within 2e-2
 *     and gradients within 1e-1 relative (bf16 keeps 8 bits of mantissa,
 *     about 4e-3 relative per stored value, and the errors compound over the
 *     layers);
 *   40 training steps from one seed on identical batches: f32 losses within
 *     1e-3 nats of the CPU's at every step;
 *   the Hugging Face fixture (tests/fixtures/gpt2-tiny) on the GPU in f32,
 *     within the bounds of tests/test_gpt.c;
 *   a save from the GPU loads on the CPU with the same parameters;
 *   the profile names the layers and the step's operations;
 *   chapter 12's flash attention as the GPT's attention (bf16 and f16, head
 *     sizes 64 and 128, T not a multiple of a tile): the loss and every
 *     gradient within the dtype's bound of the plain path's and the CPU's;
 *   gradient checkpointing (selective, every block, sqrt(L), segments of 3),
 *     with no fusion and with all: plain attention bit for bit as without
 *     it (but selective recomputation under the GELU fusion, which rebuilds
 *     GELU's output with another implementation than the forward pass's:
 *     bit for bit but mlp.c_proj.weight's gradient, within 2^-8 relative),
 *     flash within 4 times the spread of two runs without it (or 2^-8,
 *     relative, if more);
 *   the step's fusions (GPT_FUSE_*) in f32, bf16 and f16 against the
 *     unfused step and the CPU (test_fusions says how).
 * Without a GPU (or a build without CUDA) it prints "skipped: ..." and the
 * closing line with nothing checked, which tests/run reports as skipped. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "gpt.h"
#include "gpt_perturb.h"
#include "rng.h"
#include "util.h"

static double relnorm(const float *a, const float *b, size_t n) {
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++) d += pow((double)a[i] - b[i], 2), r += (double)b[i] * b[i];
    return sqrt(d / (r > 0 ? r : 1));
}

static void test_devices(Check *t, Gpu *g, DType dt) {
    GptConfig c = {.V = 96, .maxT = 64, .L = 2, .NH = 4, .C = 64, .F = 256};
    int B = 4, T = 64, N = B * T;
    Gpt *cpu = gpt_new(&c, NULL, DT_F32, B, T), *gpu = gpt_new(&c, g, dt, B, T);
    float *h = xcalloc(cpu->nparams, 4);
    gpt_perturb(h, cpu, 3, 0.2, 0.1, 0.05);
    gpt_set_params(cpu, h), gpt_set_params(gpu, h);
    int32_t *tok = xmalloc_array(N, 4), *tgt = xmalloc_array(N, 4);
    Rng r;
    rng_seed(&r, 4);
    for (int i = 0; i < N; i++) tok[i] = (int32_t)rng_below(&r, 96), tgt[i] = i % 9 == 0 ? -1 : (int32_t)rng_below(&r, 96);
    float *lc = xmalloc_array((size_t)N * c.V, 4), *lg = xmalloc_array((size_t)N * c.V, 4);
    float a = gpt_forward(cpu, tok, tgt, B, T), b = gpt_forward(gpu, tok, tgt, B, T);
    gpt_get_logits(cpu, lc), gpt_get_logits(gpu, lg);
    const char *name = dt == DT_F32 ? "f32" : "bf16";
    if (dt == DT_F32) {
        check_close_f32(t, lg, lc, (size_t)N * c.V, 1e-5, 1e-4, "GPU f32 logits = CPU logits");
        check_close(t, b, a, 1e-5, 1e-5, "GPU f32 loss = CPU loss (%.6f)", a);
    } else {
        check_true(t, relnorm(lg, lc, (size_t)N * c.V) < 2e-2, "GPU bf16 logits within 2e-2 of the CPU's (%.2e)",
                   relnorm(lg, lc, (size_t)N * c.V));
        check_close(t, b, a, 2e-2, 1e-2, "GPU bf16 loss near the CPU's (%.4f, %.4f)", b, a);
    }
    gpt_zero_grad(cpu), gpt_zero_grad(gpu);
    gpt_forward_backward(cpu, tok, tgt, B, T), gpt_forward_backward(gpu, tok, tgt, B, T);
    float *gc = xmalloc_array(cpu->nparams, 4), *gg = xmalloc_array(cpu->nparams, 4);
    gpt_get_grads(cpu, gc), gpt_get_grads(gpu, gg);
    for (size_t i = 0; i < cpu->ntensors; i++) {
        const GptTensorInfo *ti = &cpu->info[i];
        if (dt == DT_F32)
            check_close_f32(t, gg + ti->offset, gc + ti->offset, ti->numel, 1e-6, 1e-3, "GPU f32 gradient of %s", ti->name);
        else
            check_true(t, relnorm(gg + ti->offset, gc + ti->offset, ti->numel) < 1e-1, "GPU bf16 gradient of %s within 1e-1 (%.2e)",
                       ti->name, relnorm(gg + ti->offset, gc + ti->offset, ti->numel));
    }
    /* training curves */
    if (dt == DT_F32) {
        gpt_init(cpu, 9), gpt_init(gpu, 9);
        GptAdamW o = {.lr = 3e-3f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f, .grad_clip = 1};
        double worst = 0;
        for (int s = 0; s < 40; s++) {
            for (int i = 0; i < N; i++) tok[i] = (int32_t)rng_below(&r, 96), tgt[i] = (tok[i] * 5 + 1) % 96;
            worst = worst_of(worst, fabs(gpt_step(cpu, tok, tgt, B, T, &o, NULL) - gpt_step(gpu, tok, tgt, B, T, &o, NULL)));
        }
        check_true(t, worst < 1e-3, "40 %s training steps: CPU and GPU losses within 1e-3 nats (worst %.2e)", name, worst);
        /* a save from the GPU loads on the CPU */
        char path[] = "/tmp/test-gpt-gpu-XXXXXX";
        int fd = mkstemp(path);
        if (fd < 0) die("mkstemp");
        char err[256];
        check_true(t, gpt_save(gpu, path, NULL, NULL, err, sizeof err), "gpt_save from the GPU");
        Gpt *back = gpt_load(path, NULL, DT_F32, 1, 8, err, sizeof err);
        check_true(t, back != NULL, "and it loads on the CPU");
        if (back) {
            float *p1 = xmalloc_array(cpu->nparams, 4), *p2 = xmalloc_array(cpu->nparams, 4);
            gpt_get_params(gpu, p1), gpt_get_params(back, p2);
            check_true(t, memcmp(p1, p2, cpu->nparams * 4) == 0, "with the same parameters, bit for bit");
            free(p1), free(p2);
            gpt_free(back);
        }
        unlink(path);
    }
    /* the profile */
    gpt_profile_start(gpu);
    GptAdamW o = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f, .grad_clip = 1};
    gpt_step(gpu, tok, tgt, B, T, &o, NULL);
    GptProfileRow rows[48];
    int n = gpt_profile_report(gpu, rows, 48);
    bool has_attn = false, has_adam = false, positive = true;
    for (int i = 0; i < n; i++) {
        has_attn |= strcmp(rows[i].name, "attention bwd") == 0 && rows[i].calls == c.L;
        has_adam |= strcmp(rows[i].name, "adamw") == 0;
        positive &= rows[i].ms > 0;
    }
    check_true(t, has_attn && has_adam && positive, "%s profile: %d operations, each with a positive time", name, n);
    gpt_profile_stop(gpu);
    free(h), free(tok), free(tgt), free(lc), free(lg), free(gc), free(gg);
    gpt_free(cpu), gpt_free(gpu);
}

static void test_fixture(Check *t, Gpu *g) {
    char err[256];
    Gpt *m = gpt_load("tests/fixtures/gpt2-tiny/model.safetensors", g, DT_F32, 4, 32, err, sizeof err);
    check_true(t, m != NULL, "the transformers fixture loads on the GPU%s%s", m ? "" : ": ", m ? "" : err);
    if (!m) return;
    size_t n = 0;
    GptRefRow *rows = gpt_compare_reference(m, "tests/fixtures/gpt2-tiny/expected.safetensors", 1e-5, 1e-4, &n, err, sizeof err);
    check_true(t, rows != NULL, "its reference loads%s%s", rows ? "" : ": ", rows ? "" : err);
    int bad = 0;
    double worst = 0;
    for (size_t i = 0; rows && i < n; i++) bad += rows[i].worst > 1, worst = fmax(worst, rows[i].rel);
    check_true(t, rows && bad == 0, "on the GPU in f32, logits, loss and all gradients agree with transformers (worst rel %.2e)", worst);
    free(rows);
    gpt_free(m);
}

/* One forward-backward pass of model m on the batch: its loss, gradients into g. */
static float grads_of(Gpt *m, const float *h, const int32_t *tok, const int32_t *tgt, int B, int T, float *g) {
    gpt_set_params(m, h), gpt_zero_grad(m);
    float loss = gpt_forward_backward(m, tok, tgt, B, T);
    gpt_get_grads(m, g);
    return loss;
}

/* Chapter 12's flash attention inside the GPT, against the plain path and the CPU:
 * head sizes 64 and 128, bf16 and f16, a T that is no multiple of a tile. */
static void test_flash(Check *t, Gpu *g, DType dt, int NH) {
    GptConfig c = {.V = 96, .maxT = 128, .L = 2, .NH = NH, .C = 128, .F = 512};
    int B = 3, T = 100, N = B * T, hs = c.C / NH;
    GptMemOptions fo = {.attention = GPT_ATTENTION_FLASH}, po = {.attention = GPT_ATTENTION_PLAIN};
    Gpt *cpu = gpt_new(&c, NULL, DT_F32, B, T), *plain = gpt_new_opts(&c, g, dt, B, T, &po), *flash = gpt_new_opts(&c, g, dt, B, T, &fo);
    const char *name = dt == DT_BF16 ? "bf16" : "f16";
    double bound = dt == DT_BF16 ? 1e-1 : 2e-2;   /* gradients, normwise per tensor (bf16: as above; f16 3 bits finer) */
    check_true(t, flash->flash && !plain->flash, "%s hs %d: the flash option takes the flash path", name, hs);
    check_true(t, flash->act_bytes < plain->act_bytes, "%s hs %d: flash keeps %zu bytes of activations, plain %zu", name, hs,
               flash->act_bytes, plain->act_bytes);
    float *h = xcalloc(cpu->nparams, 4), *gc = xcalloc(cpu->nparams, 4), *gp = xcalloc(cpu->nparams, 4), *gf = xcalloc(cpu->nparams, 4);
    gpt_perturb(h, cpu, 7, 0.2, 0.1, 0.05);
    int32_t *tok = xmalloc_array(N, 4), *tgt = xmalloc_array(N, 4);
    Rng r;
    rng_seed(&r, 8);
    for (int i = 0; i < N; i++) tok[i] = (int32_t)rng_below(&r, 96), tgt[i] = i % 11 == 0 ? -1 : (int32_t)rng_below(&r, 96);
    float lc = grads_of(cpu, h, tok, tgt, B, T, gc), lp = grads_of(plain, h, tok, tgt, B, T, gp);
    float lf = grads_of(flash, h, tok, tgt, B, T, gf);
    check_close(t, lf, lp, dt == DT_BF16 ? 2e-2 : 4e-3, 0, "%s hs %d: flash loss %.5f, plain %.5f, CPU %.5f", name, hs, lf, lp, lc);
    double worst_fp = 0, worst_fc = 0, worst_pc = 0;
    for (size_t i = 0; i < cpu->ntensors; i++) {
        const GptTensorInfo *ti = &cpu->info[i];
        worst_fp = fmax(worst_fp, relnorm(gf + ti->offset, gp + ti->offset, ti->numel));
        worst_fc = fmax(worst_fc, relnorm(gf + ti->offset, gc + ti->offset, ti->numel));
        worst_pc = fmax(worst_pc, relnorm(gp + ti->offset, gc + ti->offset, ti->numel));
    }
    check_true(t, worst_fp < bound && worst_fc < bound,
               "%s hs %d: every gradient of flash within %.0e of plain's (worst %.2e) and the CPU's (%.2e; plain's %.2e)",
               name, hs, bound, worst_fp, worst_fc, worst_pc);
    free(h), free(gc), free(gp), free(gf), free(tok), free(tgt);
    gpt_free(cpu), gpt_free(plain), gpt_free(flash);
}

/* Gradient checkpointing on the GPU, with the fusions given: with the plain
 * attention every policy gives the bits of the model that keeps everything
 * (the same kernels on the same inputs, and no atomic sums), except
 * selective recomputation under the GELU fusion (below); with flash attention (whose dQ is summed
 * with atomics, in an order that changes from run to run; its forward pass
 * has none) the same loss, and gradients as close to the reference's as
 * the reference's two runs are to each other: within 4 times their spread,
 * or one bf16 rounding step (2^-8, relative) if that is more; and each
 * policy in fewer bytes. */
static void test_recompute_gpu(Check *t, Gpu *g, DType dt, int attention, unsigned fuse) {
    GptConfig c = {.V = 96, .maxT = 64, .L = 5, .NH = 2, .C = 128, .F = 512};
    int B = 2, T = 64, N = B * T;
    GptMemOptions pol[] = {{.recompute = GPT_RECOMPUTE_SELECTIVE}, {.recompute = GPT_RECOMPUTE_SEGMENTS, .segment = 1},
                           {.recompute = GPT_RECOMPUTE_SEGMENTS}, {.recompute = GPT_RECOMPUTE_SEGMENTS, .segment = 3}};
    const char *names[] = {"selective", "every block", "sqrt(L) segments", "segments of 3"};
    GptMemOptions base = {.attention = attention};
    Gpt *ref = gpt_new_opts(&c, g, dt, B, T, &base);
    gpt_set_fusions(ref, fuse);
    char fz[64];
    gpt_fusions_name(fuse, fz, sizeof fz);
    float *h = xcalloc(ref->nparams, 4), *g0 = xcalloc(ref->nparams, 4), *g1 = xcalloc(ref->nparams, 4);
    gpt_perturb(h, ref, 9, 0.2, 0.1, 0.05);
    int32_t *tok = xmalloc_array(N, 4), *tgt = xmalloc_array(N, 4);
    for (int i = 0; i < N; i++) tok[i] = (i * 37 + 5) % 96, tgt[i] = (i * 11 + 2) % 96;
    float l0 = grads_of(ref, h, tok, tgt, B, T, g0);
    const char *dn = dt == DT_F32 ? "f32" : dt == DT_BF16 ? "bf16" : "f16";
    double spread = 0;                     /* the reference against itself: the atomics' order alone */
    if (ref->flash) {
        float *g2 = xcalloc(ref->nparams, 4), l2 = grads_of(ref, h, tok, tgt, B, T, g2);
        for (size_t i = 0; i < ref->ntensors; i++)
            spread = fmax(spread, relnorm(g2 + ref->info[i].offset, g0 + ref->info[i].offset, ref->info[i].numel));
        check_true(t, l2 == l0, "GPU %s flash, run twice: the same loss; gradients %.2e apart at most", dn, spread);
        free(g2);
    }
    double bound = fmax(4 * spread, 0x1p-8);
    for (size_t k = 0; k < sizeof pol / sizeof pol[0]; k++) {
        pol[k].attention = attention;
        Gpt *m = gpt_new_opts(&c, g, dt, B, T, &pol[k]);
        gpt_set_fusions(m, fuse);
        float l1 = grads_of(m, h, tok, tgt, B, T, g1);
        /* with the GELU fusion, selective recomputation rebuilds GELU's output
         * with the GELU kernel, where the forward pass had it from the fc
         * product's epilogue (gpt.h): the same loss, and only the gradient
         * of the product that reads GELU's output in the backward pass, the
         * feed-forward network's second weight (mlp.c_proj.weight), may differ */
        bool regelu = pol[k].recompute == GPT_RECOMPUTE_SELECTIVE && (fuse & GPT_FUSE_GELU);
        if (!ref->flash && !regelu) {
            check_true(t, l1 == l0 && memcmp(g0, g1, ref->nparams * 4) == 0,
                       "GPU %s plain, fusions %s, recompute %s: loss and gradients bit for bit as without it", dn, fz,
                       names[k]);
        } else if (!ref->flash) {
            bool same = true;
            double worst = 0;
            for (size_t i = 0; i < ref->ntensors; i++) {
                const GptTensorInfo *ti = &ref->info[i];
                if (ti->layer >= 0 && ti->kind == GPT_FCPROJW)   /* mlp.c_proj.weight */
                    worst = fmax(worst, relnorm(g1 + ti->offset, g0 + ti->offset, ti->numel));
                else
                    same = same && memcmp(g0 + ti->offset, g1 + ti->offset, ti->numel * 4) == 0;
            }
            printf("  GPU %s plain, fusions %s, recompute %s: mlp.c_proj.weight's gradient %.2e from the reference's\n", dn,
                   fz, names[k], worst);
            check_true(t, l1 == l0 && same && worst <= 0x1p-8,
                       "GPU %s plain, fusions %s, recompute %s: the same loss, every gradient bit for bit but "
                       "mlp.c_proj.weight's, within %.2e (%.2e)", dn, fz, names[k], 0x1p-8, worst);
        } else {
            double worst = 0;
            for (size_t i = 0; i < ref->ntensors; i++)
                worst = fmax(worst, relnorm(g1 + ref->info[i].offset, g0 + ref->info[i].offset, ref->info[i].numel));
            check_true(t, l1 == l0 && worst <= bound,
                       "GPU %s flash, fusions %s, recompute %s: the same loss, gradients within %.2e (worst %.2e)", dn,
                       fz, names[k], bound, worst);
        }
        check_true(t, m->act_bytes < ref->act_bytes, "and %zu bytes of activations against %zu", m->act_bytes, ref->act_bytes);
        gpt_free(m);
    }
    free(h), free(g0), free(g1), free(tok), free(tgt);
    gpt_free(ref);
}

/* The fusions of the training step (gpt.h GPT_FUSE_*), each alone and all
 * together, against the same model unfused and the CPU: the loss, every
 * gradient after one pass and after two passes without zeroing (the
 * fusions overwrite activation gradients, never a weight's, which must
 * still add up), every fused product through cuBLASLt in bf16 and f16 (no
 * fallback at these sizes; f32's fallbacks are printed), and the profile without the operations a fusion removes.
 * Bounds, normwise per tensor: f32 1e-4 of the unfused (they differ by
 * where a sum is rounded), bf16 5e-2 and f16 1e-2 (one rounding of an
 * activation fewer or more: 2^-9 or 2^-12 relative, compounded over the
 * layers), or 4 times the spread of the unfused path's two runs (flash
 * attention's atomic dQ) if that is more; against the CPU the bounds of
 * test_devices and test_flash. Then 20 bf16 training steps with every
 * fusion against 20 without, from one seed on the same batches. */
static void test_fusions(Check *t, Gpu *g, DType dt) {
    GptConfig c = {.V = 96, .maxT = 128, .L = 2, .NH = 2, .C = 128, .F = 512};
    int B = 3, T = 100, N = B * T;
    Gpt *cpu = gpt_new(&c, NULL, DT_F32, B, T), *ref = gpt_new(&c, g, dt, B, T), *m = gpt_new(&c, g, dt, B, T);
    gpt_set_fusions(ref, 0);
    const char *dn = dt == DT_F32 ? "f32" : dt == DT_BF16 ? "bf16" : "f16";
    size_t np = cpu->nparams;
    float *h = xcalloc(np, 4), *gc = xcalloc(np, 4), *gr = xcalloc(np, 4), *gr2 = xcalloc(np, 4), *gf = xcalloc(np, 4);
    float *gf2 = xcalloc(np, 4), *gs = xcalloc(np, 4);
    gpt_perturb(h, cpu, 11, 0.2, 0.1, 0.05);
    int32_t *tok = xmalloc_array(N, 4), *tgt = xmalloc_array(N, 4);
    Rng r;
    rng_seed(&r, 12);
    for (int i = 0; i < N; i++) tok[i] = (int32_t)rng_below(&r, 96), tgt[i] = i % 13 == 0 ? -1 : (int32_t)rng_below(&r, 96);
    float lc = grads_of(cpu, h, tok, tgt, B, T, gc), lr = grads_of(ref, h, tok, tgt, B, T, gr);
    double spread = 0;
    if (ref->flash) {
        grads_of(ref, h, tok, tgt, B, T, gs);
        for (size_t i = 0; i < ref->ntensors; i++)
            spread = fmax(spread, relnorm(gs + ref->info[i].offset, gr + ref->info[i].offset, ref->info[i].numel));
    }
    gpt_forward_backward(ref, tok, tgt, B, T), gpt_get_grads(ref, gr2);   /* a second pass, added */
    double bound = fmax(4 * spread, dt == DT_F32 ? 1e-4 : dt == DT_BF16 ? 5e-2 : 1e-2);
    double cbound = dt == DT_F32 ? 1e-3 : dt == DT_BF16 ? 1e-1 : 2e-2, lbound = dt == DT_F32 ? 1e-5 : dt == DT_BF16 ? 2e-2 : 4e-3;
    unsigned masks[] = {GPT_FUSE_GELU, GPT_FUSE_RESIDUAL, GPT_FUSE_GELU_SET, GPT_FUSE_BGRAD, GPT_FUSE_ALL};
    for (size_t k = 0; k < sizeof masks / sizeof masks[0]; k++) {
        char nm[64];
        gpt_fusions_name(masks[k], nm, sizeof nm);
        gpt_set_fusions(m, masks[k]);
        size_t fb = linear_fused_fallbacks();
        float lf = grads_of(m, h, tok, tgt, B, T, gf);
        gpt_forward_backward(m, tok, tgt, B, T), gpt_get_grads(m, gf2);
        if (dt == DT_F32)   /* f32 may lack epilogue kernels: reported; the step's dtypes must have them */
            printf("  GPU f32 fuse %s: %zu fused products fell back to separate kernels\n", nm, linear_fused_fallbacks() - fb);
        else
            check_true(t, linear_fused_fallbacks() == fb, "GPU %s fuse %s: every fused product in cuBLASLt (%zu fallbacks)",
                       dn, nm, linear_fused_fallbacks() - fb);
        check_close(t, lf, lr, lbound, 0, "GPU %s fuse %s: loss %.6f, unfused %.6f, CPU %.6f", dn, nm, lf, lr, lc);
        double w1 = 0, w2 = 0, wc = 0, wrc = 0;
        for (size_t i = 0; i < m->ntensors; i++) {
            const GptTensorInfo *ti = &m->info[i];
            w1 = fmax(w1, relnorm(gf + ti->offset, gr + ti->offset, ti->numel));
            w2 = fmax(w2, relnorm(gf2 + ti->offset, gr2 + ti->offset, ti->numel));
            wc = fmax(wc, relnorm(gf + ti->offset, gc + ti->offset, ti->numel));
            wrc = fmax(wrc, relnorm(gr + ti->offset, gc + ti->offset, ti->numel));
        }
        check_true(t, w1 <= bound && w2 <= bound,
                   "GPU %s fuse %s: every gradient within %.1e of the unfused (worst %.2e; two passes added %.2e)", dn, nm,
                   bound, w1, w2);
        check_true(t, wc <= cbound, "GPU %s fuse %s: every gradient within %.0e of the CPU's (worst %.2e; unfused %.2e)",
                   dn, nm, cbound, wc, wrc);
        /* the profile of a step: the operations the fusion removes are gone */
        gpt_profile_start(m);
        GptAdamW o = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f, .grad_clip = 1};
        gpt_step(m, tok, tgt, B, T, &o, NULL);
        GptProfileRow rows[48];
        int n = gpt_profile_report(m, rows, 48), memsets = 0;
        bool gelu = false, residual = false;
        for (int i = 0; i < n; i++) {
            gelu |= strncmp(rows[i].name, "gelu ", 5) == 0;
            residual |= strcmp(rows[i].name, "residual fwd") == 0;
            if (strcmp(rows[i].name, "memset") == 0) memsets = rows[i].calls;
        }
        gpt_profile_stop(m);
        bool want_gelu = !(masks[k] & GPT_FUSE_GELU), want_res = !(masks[k] & GPT_FUSE_RESIDUAL);
        int want_memsets = masks[k] & (GPT_FUSE_GELU | GPT_FUSE_GELU_SET) ? c.L + 2 : 2 * c.L + 2;
        check_true(t, gelu == want_gelu && residual == want_res && memsets == want_memsets,
                   "GPU %s fuse %s: the step's profile has %sGELU kernels, %sresidual kernels, %d memsets (%d expected)", dn,
                   nm, gelu ? "" : "no ", residual ? "" : "no ", memsets, want_memsets);
    }
    if (dt == DT_BF16) {   /* training: every fusion against none */
        gpt_set_fusions(m, GPT_FUSE_ALL);
        gpt_init(ref, 5), gpt_init(m, 5);
        GptAdamW o = {.lr = 3e-3f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f, .grad_clip = 1};
        double worst = 0;
        float first = 0, last = 0;
        for (int s = 0; s < 20; s++) {
            for (int i = 0; i < N; i++) tok[i] = (int32_t)rng_below(&r, 96), tgt[i] = (tok[i] * 7 + 3) % 96;
            float a = gpt_step(ref, tok, tgt, B, T, &o, NULL), b = gpt_step(m, tok, tgt, B, T, &o, NULL);
            worst = fmax(worst, fabs(a - b));
            if (s == 0) first = a;
            last = a;
        }
        check_true(t, worst < 5e-2 && last < first,
                   "20 bf16 training steps, every fusion against none: losses within 5e-2 nats (worst %.2e; %.3f to %.3f)",
                   worst, first, last);
    }
    free(h), free(gc), free(gr), free(gr2), free(gf), free(gf2), free(gs), free(tok), free(tgt);
    gpt_free(cpu), gpt_free(ref), gpt_free(m);
}

int main(void) {
    Check t;
    check_init(&t, "gpt-gpu");
    if (!gpu_available()) {
        printf("skipped: no CUDA device (or a build without CUDA)\n");
        return check_summary(&t);
    }
    Gpu *g = gpu_open(0);
    test_devices(&t, g, DT_F32);
    test_devices(&t, g, DT_BF16);
    test_fixture(&t, g);
    test_flash(&t, g, DT_BF16, 2);
    test_flash(&t, g, DT_BF16, 1);
    test_flash(&t, g, DT_F16, 2);
    test_flash(&t, g, DT_F16, 1);
    for (int f = 0; f < 2; f++) {   /* with no fusion and with all (bf16's default) */
        test_recompute_gpu(&t, g, DT_F32, GPT_ATTENTION_PLAIN, f ? GPT_FUSE_ALL : 0);
        test_recompute_gpu(&t, g, DT_BF16, GPT_ATTENTION_PLAIN, f ? GPT_FUSE_ALL : 0);
    }
    test_recompute_gpu(&t, g, DT_BF16, GPT_ATTENTION_FLASH, GPT_FUSE_ALL);
    test_fusions(&t, g, DT_F32);
    test_fusions(&t, g, DT_BF16);
    test_fusions(&t, g, DT_F16);
    gpu_close(g);
    return check_summary(&t);
}
