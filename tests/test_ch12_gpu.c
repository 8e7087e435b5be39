/* test_ch12_gpu.c -- chapter 12 on a GPU: the runtime's flash attention
 * (common/gpu/flash.cu), every version (FLASH_VERSIONS), against the chapter's CPU reference.
 *
 *   every combination of dtype (bf16, fp16), version (1: a thread per row;
 *   2: tensor cores; 3: two row tiles per warp; 4: version 3's forward, the
 *   backward pass of 8 warps with a prefetched query tile; 5: the forward
 *   pass on wgmma with version 4's backward; 6: version 5's forward with the
 *   products overlapping the softmax, three key stages; 7: version 3's
 *   forward, the backward pass on wgmma; 8: version 6's forward with tiles
 *   of 128 keys, version 7's backward; 9: version 8 with a producer
 *   warpgroup loading the tiles, mbarriers between it and the computing
 *   warpgroups), head size (64, 128) and
 *   mask (causal or not), on shapes that break kernels: T = 1; T = 77 and
 *   200 (no multiple of a tile; 200 is two of version 4's key blocks, the
 *   second partial, and four of its query tiles, both stages used twice);
 *   B*H = 3 and 5 (odd); forward (o, lse) and backward (dq, dk, dv),
 *   each within the chapter's bounds (largest error relative to the
 *   reference's largest magnitude): bf16 2e-2 forward, 4e-2 backward;
 *   fp16 4e-3 and 8e-3;
 *   the backward pass adds into the gradients (run twice: twice the result);
 *   flash attention reading the runtime's packed qkv in place (strides)
 *   agrees with the plain attention_forward_cuda / attention_backward_cuda
 *   (causal, bf16, B = 2, T = 200, 3 heads of 64), with version 2's backward
 *   pass and with version 4's and version 7's after version 3's forward, and
 *   with versions 5, 6, 8 and 9 forward and backward; versions 8 and 9 also
  *   at B = 1, H = 2, T = 520 (five key tiles of 128, so that their three
 *   stages are reused, and version 9's barriers complete phases of both
 *   parities), in every run, the sanitizers' included;
 *   the check, speed and sweep experiments in --quick mode write their files;
 *   mixed precision: one GPT made in f32 and fp16 from one seed, B 256 and
 *   T 64 (N = 2^14 positions, so that every logit gradient, (p - y) / N, is
 *   smaller than 2^-14, fp16's smallest normal number, unless scaled; B 16
 *   under the sanitizers, CH12_SANITIZE): the fp16
 *   gradients of S L, over S, equal the f32 gradients within 1e-2 (2-norm,
 *   relative) and are closer than the unscaled fp16 ones; the true norm and
 *   the loss after one scaled fp16 step match the f32 step's; S = 2^40
 *   overflows and the step is skipped; precision --quick writes its files
 *   (4 runs; underflow counted both ways, alike; the histogram holds every
 *   nonzero gradient).  CH12_MIXED_ONLY=1 runs only these.
 * CH12_SANITIZE=1 (set by the compute-sanitizer runs) keeps to the smallest
 * shapes (T = 70 for the third), plus, for versions 4 to 7, B = 2 and
 * T = 200, so that racecheck sees version 4's prefetch overwrite a stage that
 * was read (at T = 70, d = 64 has only two query tiles) and a second, partial
 * key block with its masked warps, version 5's key stages each used
 * twice (four key tiles), version 6's first stage used twice, and version
 * 7's query stages each used twice and a second key block whose second
 * warpgroup stores zeros; and skips the experiments.  CH12_FIRST_VERSION=N
 * tests versions N and up only (the mixed-precision runs and the experiments
 * only when N is 1): a sanitizer's run of the newest kernels.  Without a GPU (or a build without
 * CUDA) it prints "skipped: ..." and the closing line with nothing checked. */
#include "memopt.c"

#include "check.h"
#include "chapter_test.h"

static int first_version = 1;   /* CH12_FIRST_VERSION: test versions from this one on (a sanitizer's run of the newest) */

static void test_cases(Check *t, Gpu *g, bool small) {
    int shapes[][3] = {{1, 1, 1}, {1, 3, 77}, {5, 1, 200}, {2, 1, 200}, {1, 2, 520}};   /* B, H, T */
    if (small) shapes[2][0] = 3, shapes[2][2] = 70;
    DType dts[2] = {DT_BF16, DT_F16};
    Rng rng;
    rng_seed(&rng, 12);
    for (int di = 0; di < 2; di++)
        for (int vi = 0; vi < NFLASH_VERSIONS; vi++)
            for (int d = 64; d <= 128; d *= 2)
                for (int causal = 0; causal < 2; causal++)
                    for (int s = 0; s < 5; s++) {
                        int B = shapes[s][0], H = shapes[s][1], T = shapes[s][2], version = FLASH_VERSIONS[vi];
                        if ((s == 3 && !(small && version >= 4)) || (s == 4 && version < 8) || version < first_version) continue;
                        Errors e = check_case(g, dts[di], version, B, H, T, d, causal, &rng);
                        double bf = bound_forward(dts[di]), bb = bound_backward(dts[di]);
                        check_true(t, e.o <= bf && e.lse <= bound_lse() && e.dq <= bb && e.dk <= bb && e.dv <= bb,
                                   "%s v%d d%d %s B%d H%d T%d: o %.2e lse %.2e dq %.2e dk %.2e dv %.2e (bounds %g, %g)",
                                   dtype_name(dts[di]), version, d, causal ? "causal" : "full", B, H, T, e.o, e.lse,
                                   e.dq, e.dk, e.dv, bf, bb);
                    }
}

/* Versions 21 and 22 with their blocks forced to fewer than their tiles (on this GPU a small shape has fewer tiles
 * than SMs, a block each): one block taking every tile, two and five taking them in rounds both ways round, the ring of stages
 * and its parities running across tiles of different lengths under the mask.  B 3, H 2, T 300 (three query tiles
 * a head, 18 in all; under a sanitizer B 2, H 1, T 260: six); version 24 the same, its backward pass at d 64 in
 * as many blocks (items of one key block a head, the last of one query tile under the mask at T 300); then, but
 * under a sanitizer, the launch's own blocks on more tiles (and version 24's backward pass on more items) than this
 * GPU has SMs. */
static void test_persistent(Check *t, Gpu *g, bool small) {
    int B = small ? 2 : 3, H = small ? 1 : 2, T = small ? 260 : 300, blocks[] = {1, 2, 5};
    Rng rng;
    rng_seed(&rng, 21);
    for (int version = 21; version <= 24; version++)   /* 23: version 22's forward pass, its backward not persistent */
        for (int i = 0; i < 3 && version != 23; i++)
            for (int d = 64; d <= 128; d *= 2)
                for (int causal = 0; causal < 2; causal++) {
                    flash_forward_blocks_force(blocks[i]);
                    flash_backward_blocks_force(blocks[i]);   /* version 24 at d 64: several items a block */
                    Errors e = check_case(g, DT_BF16, version, B, H, T, d, causal, &rng);
                    double bf = bound_forward(DT_BF16), bb = bound_backward(DT_BF16);
                    check_true(t, e.o <= bf && e.lse <= bound_lse() && e.dq <= bb && e.dk <= bb && e.dv <= bb,
                               "v%d d%d %s B%d H%d T%d in %d blocks: o %.2e lse %.2e dq %.2e", version, d,
                               causal ? "causal" : "full", B, H, T, blocks[i], e.o, e.lse, e.dq);
                }
    flash_forward_blocks_force(0);
    flash_backward_blocks_force(0);
    if (small) return;
    for (int causal = 0; causal < 2; causal++) {   /* the launch's own blocks, one an SM, with more tiles than SMs */
        int tiles = 2 * 40 * ((200 + 127) / 128);   /* B 2, H 40, T 200: 160 (an H100 has 132 SMs, an H200 too) */
        for (int version = 21; version <= 24; version++) {   /* version 24: 160 items of the backward pass too */
            if (version == 23) continue;
            Errors e = check_case(g, DT_BF16, version, 2, 40, 200, 64, causal, &rng);
            double bf = bound_forward(DT_BF16), bb = bound_backward(DT_BF16);
            check_true(t, e.o <= bf && e.lse <= bound_lse() && e.dq <= bb && e.dk <= bb && e.dv <= bb,
                       "v%d d64 %s B2 H40 T200, %d tiles on the launch's own blocks: o %.2e lse %.2e", version,
                       causal ? "causal" : "full", tiles, e.o, e.lse);
        }
    }
}

/* Version 20 with its groups forced to sizes that leave a short last group (on this GPU the model takes
 * one group of all the heads at these small shapes, every block running at once): each head's blocks found, the
 * launch taking the size asked.  Seven heads (five under a sanitizer) in groups of 2, 3 and 4: short last groups of
 * 1, 1 and 3 heads (1, 2 and 1). */
static void test_groups(Check *t, Gpu *g, bool small) {
    int B = small ? 5 : 7, H = 1, T = small ? 140 : 200, sizes[] = {2, 3, 4};
    Rng rng;
    rng_seed(&rng, 20);
    for (int i = 0; i < 3; i++)
        for (int d = 64; d <= 128; d *= 2) {
            flash_head_group_force(sizes[i]);
            Errors e = check_case(g, DT_BF16, 20, B, H, T, d, true, &rng);
            int used = flash_head_group_used();
            double bf = bound_forward(DT_BF16), bb = bound_backward(DT_BF16);
            check_true(t, used == sizes[i] && e.o <= bf && e.lse <= bound_lse() && e.dq <= bb && e.dk <= bb && e.dv <= bb,
                       "v20 d%d causal B%d H%d T%d in groups of %d (the launch took %d): o %.2e dq %.2e dk %.2e dv %.2e",
                       d, B, H, T, sizes[i], used, e.o, e.dq, e.dk, e.dv);
        }
    flash_head_group_force(0);
}

/* The backward pass accumulates: run it twice into zeroed gradients. */
static void test_accumulates(Check *t, Gpu *g, int version) {
    int B = 1, H = 2, T = 70, d = 64;
    size_t n = (size_t)B * H * T * d;
    GpuHeads h;
    check_true(t, gpu_heads_alloc(&h, DT_F16, B, H, T, d), "the heads fit");
    float *x = xmalloc_array(n, sizeof *x), *twice = xmalloc_array(n, sizeof *twice);
    Rng rng;
    rng_seed(&rng, 5);
    void *dev[4] = {h.q, h.k, h.v, h.dout};
    for (int i = 0; i < 4; i++) fill_normal(x, n, &rng), gpu_upload_f32(g, DT_F16, dev[i], x, n);
    void *grads[3] = {h.dq, h.dk, h.dv};
    for (int i = 0; i < 3; i++) gpu_zero(g, grads[i], n * 2);
    gpu_heads_forward(g, &h, version, true);
    gpu_heads_backward(g, &h, version, true);
    float *firsts[3];
    for (int i = 0; i < 3; i++) {
        firsts[i] = xmalloc_array(n, sizeof(float));
        gpu_download_f32(g, DT_F16, firsts[i], grads[i], n);
    }
    gpu_heads_backward(g, &h, version, true);
    const char *names[3] = {"dq", "dk", "dv"};
    for (int i = 0; i < 3; i++) {
        gpu_download_f32(g, DT_F16, twice, grads[i], n);
        for (size_t j = 0; j < n; j++) firsts[i][j] *= 2;
        check_true(t, rel_err(twice, firsts[i], n, 1e-30) <= 2e-3, "version %d: a second backward pass adds: %s doubles",
                   version, names[i]);
        free(firsts[i]);
    }
    free(x), free(twice);
    gpu_heads_free(&h);
}

/* Flash attention on the packed qkv of the runtime's plain attention, the
 * backward pass of version bwd (2, 4, 5, 6, 7 or 8), the forward pass of version 3
 * (version bwd with bwd >= 5: version 7's forward pass is version 3's). */
static void test_packed(Check *t, Gpu *g, int bwd) {
    int B = 2, T = 200, H = 3, d = 64, C = H * d;
    size_t nqkv = (size_t)B * T * 3 * C, nout = (size_t)B * T * C;
    DType dt = DT_BF16;
    float *x = xmalloc_array(nqkv, sizeof *x), *a = xmalloc_array(nqkv, sizeof *a), *b = xmalloc_array(nqkv, sizeof *b);
    Rng rng;
    rng_seed(&rng, 7);
    void *qkv = gpu_malloc(nqkv * 2), *out1 = gpu_malloc(nout * 2), *out2 = gpu_malloc(nout * 2);
    void *dout = gpu_malloc(nout * 2), *dqkv1 = gpu_malloc(nqkv * 2), *dqkv2 = gpu_malloc(nqkv * 2);
    void *att = gpu_malloc((size_t)B * H * T * T * 2), *scr = gpu_malloc(attention_scratch_bytes(dt, B, T, C, H));
    float *lse = gpu_malloc((size_t)B * H * T * sizeof(float));
    void *fscr = gpu_malloc(flash_backward_scratch_bytes(B, H, T, d));
    fill_normal(x, nqkv, &rng), gpu_upload_f32(g, dt, qkv, x, nqkv);
    fill_normal(x, nout, &rng), gpu_upload_f32(g, dt, dout, x, nout);
    gpu_zero(g, dqkv1, nqkv * 2), gpu_zero(g, dqkv2, nqkv * 2);
    attention_forward_cuda(g, dt, out1, att, qkv, scr, B, T, C, H);
    attention_backward_cuda(g, dt, dqkv1, dout, qkv, att, scr, B, T, C, H);
    FlashLayout in = {(long long)T * 3 * C, d, 3 * C}, ol = {(long long)T * C, d, C};
    const char *q = qkv, *k = (const char *)qkv + (size_t)C * 2, *v = (const char *)qkv + (size_t)2 * C * 2;
    char *dq = dqkv2, *dk = (char *)dqkv2 + (size_t)C * 2, *dv = (char *)dqkv2 + (size_t)2 * C * 2;
    flash_forward_cuda(g, dt, bwd >= 5 ? bwd : 3, out2, lse, q, k, v, B, H, T, d, true, in, ol);
    flash_backward_cuda(g, dt, bwd, dq, dk, dv, dout, q, k, v, out2, lse, fscr, B, H, T, d, true, in, ol);
    gpu_download_f32(g, dt, a, out1, nout), gpu_download_f32(g, dt, b, out2, nout);
    check_true(t, rel_err(b, a, nout, 1e-30) <= 2e-2,
               "packed qkv: flash output (version %d) = plain attention_forward_cuda (%.2e)", bwd >= 5 ? bwd : 3,
               rel_err(b, a, nout, 1e-30));
    gpu_download_f32(g, dt, a, dqkv1, nqkv), gpu_download_f32(g, dt, b, dqkv2, nqkv);
    check_true(t, rel_err(b, a, nqkv, 1e-30) <= 4e-2,
               "packed qkv: flash dqkv (version %d's backward) = plain attention_backward_cuda (%.2e)", bwd,
               rel_err(b, a, nqkv, 1e-30));
    void *all[] = {qkv, out1, out2, dout, dqkv1, dqkv2, att, scr, lse, fscr};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) gpu_free(all[i]);
    free(x), free(a), free(b);
}

/* Mixed precision on the GPU: one model made twice from one seed, f32 and
 * fp16; the fp16 gradients of S L, divided by S, against the f32 ones
 * (and closer than the fp16 gradients of L itself); the loss after one
 * scaled fp16 step against the loss after the f32 step; and an overflow
 * (S = 2^40) skipped, nothing changed. */
static double rel_diff(const float *a, const float *ref, size_t n, float s) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) num += ((double)a[i] / s - ref[i]) * ((double)a[i] / s - ref[i]), den += (double)ref[i] * ref[i];
    return sqrt(num / den);
}
static void test_mixed(Check *t, Gpu *g, bool small) {
    GptConfig c = {.V = 64, .maxT = 64, .L = 2, .NH = 2, .C = 64, .F = 256};
    int B = small ? 16 : 256, T = 64;     /* N = 2^14: unscaled, the logit gradients are fp16 subnormals */
    Gpt *m32 = gpt_new(&c, g, DT_F32, B, T), *m16 = gpt_new(&c, g, DT_F16, B, T);
    gpt_init(m32, 9), gpt_init(m16, 9);
    int32_t *tok = xmalloc_array((size_t)B * T, sizeof *tok), *tgt = xmalloc_array((size_t)B * T, sizeof *tgt);
    Rng rng;
    rng_seed(&rng, 10);
    for (int i = 0; i < B * T; i++) tok[i] = (int32_t)rng_below(&rng, 64), tgt[i] = (int32_t)rng_below(&rng, 64);
    size_t n = m32->nparams;
    float *g32 = xmalloc_array(n, sizeof *g32), *g16 = xmalloc_array(n, sizeof *g16), *p = xmalloc_array(n, sizeof *p);
    float S = 1024;
    gpt_zero_grad(m32), gpt_zero_grad(m16);
    gpt_forward_backward(m32, tok, tgt, B, T);
    gpt_forward_backward(m16, tok, tgt, B, T);
    gpt_get_grads(m32, g32), gpt_get_grads(m16, g16);
    double plain = rel_diff(g16, g32, n, 1);
    gpt_zero_grad(m16);
    gpt_forward_backward_scaled(m16, tok, tgt, B, T, S);
    gpt_get_grads(m16, g16);
    double scaled = rel_diff(g16, g32, n, S);
    check_true(t, scaled <= 1e-2, "fp16 gradients of S L / S = f32 gradients of L (relative 2-norm %.2e, bound 1e-2)", scaled);
    check_true(t, scaled < plain, "  closer than the fp16 gradients of L unscaled (%.2e)", plain);
    GptAdamW o = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f, .grad_clip = 1.0f};
    float n32 = gpt_update(m32, &o), n16 = gpt_update_scaled(m16, &o, S);
    check_close(t, n16, n32, 0, 1e-2, "the true gradient norm from the scaled fp16 gradients (%.4f, f32 %.4f)", n16, n32);
    float l32 = gpt_forward(m32, tok, tgt, B, T), l16 = gpt_forward(m16, tok, tgt, B, T);
    check_close(t, l16, l32, 0, 2e-3, "the loss after one scaled fp16 step = after the f32 step (%.5f, %.5f)", l16, l32);
    gpt_get_params(m16, g16);
    gpt_zero_grad(m16);
    gpt_forward_backward_scaled(m16, tok, tgt, B, T, (float)ldexp(1, 40));
    float over = gpt_update_scaled(m16, &o, (float)ldexp(1, 40));
    gpt_get_params(m16, p);
    check_true(t, !isfinite(over) && m16->step == 1 && memcmp(p, g16, n * sizeof *p) == 0,
               "S = 2^40 overflows fp16: the norm is %g, the step is skipped, the weights unchanged", over);
    free(g32), free(g16), free(p), free(tok), free(tgt);
    gpt_free(m32), gpt_free(m16);
}

/* a quick run of the chapter's experiments on the GPU into a fresh temporary
 * directory (dir, a mkdtemp template), and its end: free what the run
 * loaded and remove the directory */
static void quick_gpu_begin(Run *r, char *dir) {
    if (!mkdtemp(dir)) die("cannot make a temporary directory");
    *r = (Run){0};
    quick_common(&r->c, "test_ch12_gpu", dir);
    r->c.device = DEV_CUDA;
}
static void quick_gpu_end(Run *r, const char *dir) {
    dataset_free(r->data);
    gpu_close(r->gpu);
    cli_free(&r->c);
    if (!remove_tree(dir)) warn("could not remove %s", dir);
}

static void test_precision_quick(Check *t) {
    char dir[] = "/tmp/test-ch12-mp-XXXXXX";
    Run r;
    quick_gpu_begin(&r, dir);
    check_true(t, experiment_precision(&r) == 0, "precision --device cuda --quick runs");
    TsvTable *s = load(t, dir, "ch12-precision");
    if (s) {
        bool ok = tsv_rows(s) == 4;
        for (size_t i = 0; i < tsv_rows(s); i++)
            ok &= isfinite(num(t, s, i, "val_loss")) && num(t, s, i, "val_loss") < log(r.data->vocab.size) &&
                  num(t, s, i, "tokens_per_s") > 0 && num(t, s, i, "model_bytes") > 0;
        check_true(t, ok, "ch12-precision: 4 runs, each learned something (loss below ln V), speed and memory");
        double fs = num(t, s, 1, "final_scale");
        check_true(t, num(t, s, 1, "scaled") == 1 && fs == ldexp(1, ilogb(fs)) &&
                          (num(t, s, 1, "max_scale") > 65536 || num(t, s, 1, "skipped") > 0),
                   "  the scaled fp16 run moved its scale (max %g, final %g, a power of two)", num(t, s, 1, "max_scale"), fs);
        tsv_free(s);
    }
    TsvTable *c = load(t, dir, "ch12-precision-curve");
    if (c) check_true(t, tsv_rows(c) == 4 * 31, "ch12-precision-curve: 31 points of each run (%zu rows)", tsv_rows(c)), tsv_free(c);
    TsvTable *u = load(t, dir, "ch12-underflow"), *h = load(t, dir, "ch12-gradients");
    if (u && h) {
        bool same = tsv_rows(u) == 8, sums = true;
        const char *f[4] = {"zero", "subnormal", "normal", "overflow"};
        for (size_t i = 0; i < tsv_rows(u); i++) {
            double tot = 0;
            for (int k = 0; k < 4; k++) {
                char bits[32];
                snprintf(bits, sizeof bits, "%s_bits", f[k]);
                same &= num(t, u, i, f[k]) == num(t, u, i, bits);
                tot += num(t, u, i, f[k]);
            }
            sums &= fabs(tot - 1) < 1e-4;
        }
        check_true(t, same && sums, "ch12-underflow: 8 rows, thresholds = conversion, fractions sum to 1");
        double hist = 0;
        for (size_t i = 0; i < tsv_rows(h); i++) hist += num(t, h, i, "step") == 0 ? num(t, h, i, "weights") : 0;
        check_true(t, hist == num(t, u, 0, "nonzero"), "ch12-gradients: the histogram at step 0 holds the %g nonzero "
                   "gradients", num(t, u, 0, "nonzero"));
    }
    tsv_free(u), tsv_free(h);
    TsvTable *w = load(t, dir, "ch12-master");
    if (w) {
        bool ok = tsv_rows(w) == 2;
        for (size_t i = 0; i < tsv_rows(w); i++) ok &= num(t, w, i, "updates") > 0 && num(t, w, i, "lost_bf16") >= num(t, w, i, "lost_fp16");
        check_true(t, ok, "ch12-master: 2 steps; bf16 loses at least as many updates as fp16");
        tsv_free(w);
    }
    quick_gpu_end(&r, dir);
}

static void test_experiments(Check *t) {
    char dir[] = "/tmp/test-ch12-gpu-XXXXXX";
    Run r;
    quick_gpu_begin(&r, dir);
    check_true(t, experiment_check(&r) == 0, "check --device cuda --quick runs");
    TsvTable *c = load(t, dir, "ch12-check");
    if (c) {
        bool all = tsv_rows(c) == 24 * NFLASH_VERSIONS;
        for (size_t i = 0; i < tsv_rows(c); i++) all &= num(t, c, i, "pass") == 1;
        check_true(t, all, "ch12-check: %d cases (%d versions), every one within its bounds", 24 * NFLASH_VERSIONS,
                   NFLASH_VERSIONS);
        tsv_free(c);
    }
    check_true(t, experiment_speed(&r) == 0, "speed --device cuda --quick runs");
    TsvTable *s = load(t, dir, "ch12-speed");
    if (s) {
        bool ok = tsv_rows(s) == 4 * NFLASH_VERSIONS;
        for (size_t i = 0; i < tsv_rows(s); i++) ok &= num(t, s, i, "ms") > 0 && num(t, s, i, "tflops") > 0;
        check_true(t, ok, "ch12-speed: %d rows (%d versions, 2 shapes, 2 passes) of positive times", 4 * NFLASH_VERSIONS,
                   NFLASH_VERSIONS);
        tsv_free(s);
    }
    check_true(t, experiment_sweep(&r) == 0, "sweep --device cuda --quick runs");
    TsvTable *w = load(t, dir, "ch12-sweep");
    if (w) {
        check_true(t, tsv_rows(w) == 4, "ch12-sweep: plain and flash at 2 lengths (%zu rows)", tsv_rows(w));
        bool less = true;
        for (size_t i = 0; i + 1 < tsv_rows(w); i += 2) less &= num(t, w, i + 1, "extra_bytes") < num(t, w, i, "extra_bytes");
        check_true(t, less, "ch12-sweep: flash attention needs fewer extra bytes at every length");
        tsv_free(w);
    }
    quick_gpu_end(&r, dir);
}

int main(void) {
    Check t;
    check_init(&t, "ch12-gpu");
    if (!gpu_available()) {
        printf("skipped: no CUDA device (or a build without CUDA)\n");
        return check_summary(&t);
    }
    setenv("NO_PROGRESS", "1", 1);
    bool small = getenv("CH12_SANITIZE") != NULL;
    bool mixed_only = getenv("CH12_MIXED_ONLY") != NULL;
    Gpu *g = gpu_open(0);
    const char *fv = getenv("CH12_FIRST_VERSION");
    if (fv) first_version = atoi(fv);
    if (first_version == 1) test_mixed(&t, g, small);
    if (mixed_only) {
        gpu_close(g);
        if (!small) test_precision_quick(&t);
        return check_summary(&t);
    }
    test_cases(&t, g, small);
    for (int v = first_version; v <= 10; v++) test_accumulates(&t, g, v);
    for (int v = first_version > 17 ? first_version : 17; v <= 20; v++) test_accumulates(&t, g, v);   /* the old rows copied at the start */
    if (first_version <= 20) test_groups(&t, g, small);
    if (first_version <= 24) test_persistent(&t, g, small);
    int packed[] = {2, 4, 5, 6, 7, 8, 9, 10};
    for (int i = 0; i < 8; i++)
        if (!small && packed[i] >= first_version) test_packed(&t, g, packed[i]);
    gpu_close(g);
    if (!small && first_version == 1) test_experiments(&t), test_precision_quick(&t);
    return check_summary(&t);
}
