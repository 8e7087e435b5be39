/* test_ch09_gpu.c -- chapter 9 on a GPU: the chapter's own kernels
 * (positions_kernels.cu) against the CPU loops they follow, and the whole
 * model on both devices.
 *
 *   kernels, on fresh random inputs and awkward shapes (one position, odd
 *   widths, heads wider than a warp, windows longer than the learned table,
 *   positions past 2000): the embedding with a position table and its
 *   backward pass into the table; RoPE's rotation and its inverse; attention
 *   with ALiBi's bias and YaRN's multiplier, causal and not, forward (output
 *   and weights) and backward (the gradient of queries, keys and values);
 *   the attention distance histogram;
 *   the model: for each encoding, RoPE with each extension, and without the
 *   mask, the first batch's loss and every parameter's gradient on both
 *   devices, then training on identical batches (the chapter's `agreement`);
 *   the learned table's clamped rows (windows of 9 over a table of 6);
 *   race --quick --device cuda and agree --quick --device cuda: their files,
 *   with a device line naming CUDA.
 * With CH09_GPU_SANITIZE set (under compute-sanitizer) the model trains 3
 * steps instead of 30 and the programs are not run.
 * Tolerances (the book's rule |got - ref| <= atol + rtol |ref|): kernel
 * outputs atol 1e-5, rtol 1e-4 (f32 sums in another order); RoPE atol
 * 1e-6, rtol 1e-6 (the same double-precision angle); the model's loss
 * within 1e-5, its gradients within 1e-4 of the largest gradient, losses
 * over training within AGREE_TOL.
 * Without a GPU (or a build without CUDA) it prints "skipped: ..." and the
 * closing line with nothing checked, which tests/run reports as skipped. */
#include "positions.c"

#include "chapter_test.h"
#include "check.h"

#define AGREE_TOL 2e-3

static void fill(float *x, size_t n, double scale, Rng *rng) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(scale * rng_normal(rng));
}
static float *dev_of(Gpu *g, const float *x, size_t n) {
    float *d = gpu_malloc(n * sizeof(float));
    gpu_upload(g, d, x, n * sizeof(float));
    return d;
}
static float *host_of(Gpu *g, const float *d, size_t n) {
    float *x = xmalloc_array(n, sizeof *x);
    gpu_download(g, x, d, n * sizeof(float));
    return x;
}

static void test_embedding(Check *t, Gpu *g, int B, int T, int C, int rows, int V) {
    Rng r;
    rng_seed(&r, (uint64_t)(B * 1000 + T * 10 + C));
    size_t N = (size_t)B * T;
    float *wte = xmalloc_array((size_t)V * C, 4), *tab = xmalloc_array((size_t)rows * C, 4);
    float *dout = xmalloc_array(N * C, 4), *want = xmalloc_array(N * C, 4), *dtab = xcalloc((size_t)rows * C, 4);
    int32_t *tok = xmalloc_array(N, sizeof *tok);
    fill(wte, (size_t)V * C, 1, &r), fill(tab, (size_t)rows * C, 1, &r), fill(dout, N * C, 1, &r);
    for (size_t i = 0; i < N; i++) tok[i] = (int32_t)rng_below(&r, (uint64_t)V);
    for (size_t n = 0; n < N; n++) {
        int p = (int)(n % T), row = p < rows ? p : rows - 1;
        for (int i = 0; i < C; i++) {
            want[n * C + i] = wte[(size_t)tok[n] * C + i] + tab[(size_t)row * C + i];
            dtab[(size_t)row * C + i] += dout[n * C + i];
        }
    }
    float *dw = dev_of(g, wte, (size_t)V * C), *dt = dev_of(g, tab, (size_t)rows * C), *dd = dev_of(g, dout, N * C);
    float *dx = gpu_malloc(N * C * 4), *dg = gpu_malloc((size_t)rows * C * 4);
    int32_t *dtok = gpu_malloc(N * sizeof *dtok);
    gpu_upload(g, dtok, tok, N * sizeof *tok);
    gpu_zero(g, dg, (size_t)rows * C * 4);
    pos_embed_forward_cuda(g, dx, dtok, dw, dt, rows, B, T, C);
    pos_table_backward_cuda(g, dg, dd, rows, B, T, C);
    float *x = host_of(g, dx, N * C), *gt = host_of(g, dg, (size_t)rows * C);
    check_close_f32(t, x, want, N * C, 0, 0, "embedding B=%d T=%d C=%d, table of %d rows: wte[tok] + table[min(t, rows-1)]", B, T, C, rows);
    check_close_f32(t, gt, dtab, (size_t)rows * C, 1e-5, 1e-5, "  its backward pass into the table (clamped rows summed)");
    gpu_free(dw), gpu_free(dt), gpu_free(dd), gpu_free(dx), gpu_free(dg), gpu_free(dtok);
    free(wte), free(tab), free(dout), free(want), free(dtab), free(tok), free(x), free(gt);
}

static void test_rope(Check *t, Gpu *g, int B, int T, int C, int NH) {
    Rng r;
    rng_seed(&r, (uint64_t)(T * 7 + C));
    size_t n = (size_t)B * T * 3 * C;
    float *qkv = xmalloc_array(n, 4), *ref = xmalloc_array(n, 4), freq[PM_MAX_HS / 2];
    fill(qkv, n, 1, &r);
    memcpy(ref, qkv, n * 4);
    rope_frequencies(freq, C / NH, 64, EXT_YARN, 4);
    rope_rotate(ref, B, T, C, NH, freq, +1);
    float *d = dev_of(g, qkv, n);
    rope_rotate_cuda(g, d, B, T, C, NH, freq, +1);
    float *got = host_of(g, d, n);
    check_close_f32(t, got, ref, n, 1e-6, 1e-6, "RoPE B=%d T=%d C=%d NH=%d: the GPU turns as the CPU does", B, T, C, NH);
    rope_rotate_cuda(g, d, B, T, C, NH, freq, -1);
    free(got);
    got = host_of(g, d, n);
    check_close_f32(t, got, qkv, n, 1e-5, 1e-5, "  and turning back restores the input");
    gpu_free(d);
    free(qkv), free(ref), free(got);
}

static void test_attention(Check *t, Gpu *g, int B, int T, int C, int NH, bool causal) {
    Rng r;
    rng_seed(&r, (uint64_t)(B * 31 + T * 7 + C + causal));
    size_t n = (size_t)B * T * 3 * C, no = (size_t)B * T * C, na = (size_t)B * NH * T * T;
    float *qkv = xmalloc_array(n, 4), *dout = xmalloc_array(no, 4), *out = xmalloc_array(no, 4);
    float *att = xmalloc_array(na, 4), *dqkv = xcalloc(n, 4), slope[PM_MAX_HEADS];
    fill(qkv, n, 1, &r), fill(dout, no, 1, &r);
    alibi_slopes(slope, NH);
    float mult = 1.3f;
    pos_attention_forward(out, att, qkv, B, T, C, NH, slope, mult, causal);
    pos_attention_backward(dqkv, dout, qkv, att, B, T, C, NH, mult, causal);
    float *dq = dev_of(g, qkv, n), *dd = dev_of(g, dout, no), *dO = gpu_malloc(no * 4), *dA = gpu_malloc(na * 4);
    float *dS = gpu_malloc(na * 4), *dG = gpu_malloc(n * 4);
    gpu_zero(g, dG, n * 4);
    pos_attention_forward_cuda(g, dO, dA, dq, B, T, C, NH, slope, mult, causal);
    pos_attention_backward_cuda(g, dG, dS, dd, dq, dA, B, T, C, NH, mult, causal);
    float *o = host_of(g, dO, no), *a = host_of(g, dA, na), *gr = host_of(g, dG, n);
    const char *mask = causal ? "causal" : "no mask";
    check_close_f32(t, o, out, no, 1e-5, 1e-4, "attention B=%d T=%d C=%d NH=%d, %s, ALiBi, x1.3: output", B, T, C, NH, mask);
    check_close_f32(t, a, att, na, 1e-6, 1e-4, "  the weights (zeros above the diagonal)");
    check_close_f32(t, gr, dqkv, n, 1e-5, 1e-4, "  the gradient of the queries, keys and values");
    /* the histogram of one layer's weights, against the CPU's loop */
    double want[NBINS] = {0}, got[NBINS] = {0}, *bins = gpu_malloc((size_t)B * NH * T * NBINS * sizeof(double));
    for (size_t row = 0; row < (size_t)B * NH * T; row++) {
        int q = (int)(row % T);
        for (int u = 0; u <= q; u++) want[distance_bin(q - u)] += att[row * T + u];
    }
    distance_histogram_cuda(g, bins, dA, (size_t)B * NH * T, T);
    double *hb = xmalloc_array((size_t)B * NH * T * NBINS, sizeof *hb);
    gpu_download(g, hb, bins, (size_t)B * NH * T * NBINS * sizeof(double));
    double worst = 0;
    for (size_t row = 0; row < (size_t)B * NH * T; row++)
        for (int k = 0; k < NBINS; k++) got[k] += hb[row * NBINS + k];
    for (int k = 0; k < NBINS; k++) worst = worst_of(worst, fabs(got[k] - want[k]) / (1e-6 + fabs(want[k])));
    if (causal) check_true(t, worst < 1e-4, "  the distance histogram (relative error %.1e)", worst);
    gpu_free(dq), gpu_free(dd), gpu_free(dO), gpu_free(dA), gpu_free(dS), gpu_free(dG), gpu_free(bins);
    free(qkv), free(dout), free(out), free(att), free(dqkv), free(o), free(a), free(gr), free(hb);
}

static void test_model(Check *t, Gpu *g, const Dataset *d, int steps) {
    PmConfig c = {.V = d->vocab.size, .T = 6, .L = 2, .NH = 2, .C = 16, .F = 64};
    for (int x = 0; x < NPOS + 4; x++) {   /* five encodings, RoPE extended three ways, ALiBi without the mask */
        c.pos = x < NPOS ? (PosKind)x : x < NPOS + 3 ? POS_ROPE : POS_ALIBI;
        c.bidirectional = x == NPOS + 3;
        RopeExt ext = x < NPOS || x == NPOS + 3 ? EXT_NONE : (RopeExt)(x - NPOS + 1);
        const char *name = x < NPOS ? POS_NAMES[x] : x < NPOS + 3 ? MODEL_NAMES[NPOS + 1 + x - NPOS] : "alibi, no mask";
        Agreement a = agreement(g, d, c, ext, 3, 9, steps, 5 + (uint64_t)x);
        check_close(t, a.loss_err, 0, 1e-5, 0, "%s: the first batch's loss, %.5f on both devices (differ by %.1e)", name,
                    a.loss, a.loss_err);
        check_true(t, a.grad_err <= 1e-4 * a.grad_max, "%s: every gradient (windows of 9, table of 6): largest difference %.1e, largest gradient %.1e",
                   name, a.grad_err, a.grad_max);
        check_true(t, a.train_err <= AGREE_TOL, "%s: %d steps on identical batches, losses within %.0e (%.1e)", name,
                   steps, AGREE_TOL, a.train_err);
    }
}

static void test_experiments(Check *t) {
    char dir[] = "/tmp/test_ch09_gpu_XXXXXX";
    if (!mkdtemp(dir)) die("mkdtemp");
    char *cmd = xasprintf("NO_PROGRESS=1 build/bin/ch09-positions race --quick --device cuda --out %s > %s/log 2>&1 && "
                          "NO_PROGRESS=1 build/bin/ch09-positions agree --quick --device cuda --out %s >> %s/log 2>&1",
                          dir, dir, dir, dir);
    check_true(t, system(cmd) == 0, "race and agree --quick --device cuda run");
    free(cmd);
    const char *files[] = {"ch09-race-summary-16", "ch09-tune-16", "ch09-tradeoff-16", "ch09-gpu-agree"};
    for (int i = 0; i < 4; i++) {
        char *p = xasprintf("%s/%s.tsv", dir, files[i]);
        char *c = xasprintf("grep -q '^# device: cuda' %s", p);
        check_true(t, system(c) == 0, "%s.tsv names the GPU in its device line", files[i]);
        free(p), free(c);
    }
    TsvTable *ag = load(t, dir, "ch09-gpu-agree");
    if (ag) {
        int col = tsv_col(ag, "train_err");
        bool ok = tsv_rows(ag) == NPOS + 3 && col >= 0;
        for (size_t i = 0; ok && i < tsv_rows(ag); i++) ok &= tsv_num(ag, i, col) < AGREE_TOL;
        check_true(t, ok, "ch09-gpu-agree: 8 models, losses within %.0e", AGREE_TOL);
        tsv_free(ag);
    }
    if (!remove_tree(dir)) check_true(t, false, "remove %s", dir);
}

int main(void) {
    Check t;
    check_init(&t, "ch09-gpu");
    if (!gpu_available()) {
        printf("skipped: no CUDA device (or a build without CUDA)\n");
        return check_summary(&t);
    }
    setenv("NO_PROGRESS", "1", 1);
    Gpu *g = gpu_open(0);
    test_embedding(&t, g, 3, 9, 12, 6, 27);
    test_embedding(&t, g, 1, 1, 5, 1, 3);
    test_embedding(&t, g, 4, 70, 64, 70, 85);
    test_rope(&t, g, 3, 37, 24, 3);
    test_rope(&t, g, 1, 2100, 16, 1);
    test_rope(&t, g, 2, 5, 256, 2);
    /* the last shape has PM_MAX_HEADS = 16 heads of 4 channels: every slot of AlibiSlopes is used */
    int shapes[][4] = {{2, 1, 8, 2}, {3, 33, 24, 3}, {1, 100, 256, 2}, {2, 70, 64, 4}, {1, 300, 16, 1}, {2, 45, 64, 16}};
    for (int i = 0; i < 6; i++)
        for (int causal = 1; causal >= 0; causal--)
            test_attention(&t, g, shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3], causal);
    Dataset *d = dataset_load("brown", true);
    bool sanitize = getenv("CH09_GPU_SANITIZE") != NULL;   /* under compute-sanitizer: fewer steps, no programs */
    test_model(&t, g, d, sanitize ? 3 : 30);
    dataset_free(d);
    gpu_close(g);
    if (!sanitize) test_experiments(&t);
    return check_summary(&t);
}
