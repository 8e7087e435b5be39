/* test_ch07_gpu.c -- chapter 7 on a GPU: the head whose cost the chapter
 * measures (the runtime's attention_forward_cuda, cuBLAS-batched) against
 * the chapter's own attend_forward on the CPU, and the cost experiment's
 * GPU path.
 *
 *   one head, causal, n = 64, 256 and 1000, d = 64: the output and the
 *   weights, f32 (atol 1e-5, rtol 1e-4: cuBLAS's sums in another order than
 *   matmul_f32's) and bf16 (atol 2e-2, rtol 5e-2: inputs and outputs
 *   rounded to 8 bits of mantissa);
 *   gpu_try_malloc: a request larger than any device returns NULL, leaves no
 *   error behind, and the next allocation and launch work;
 *   cost --device cuda --quick writes ch07-cost-gpu.tsv with growing sizes.
 * Without a GPU (or a build without CUDA) it prints "skipped: ..." and the
 * closing line with nothing checked, which tests/run reports as skipped. */
#include "attention.c"

#include "check.h"
#include "chapter_test.h"

static void test_head(Check *t, DType dt, int n, double atol, double rtol) {
    int d = 64;
    Gpu *g = gpu_open(0);
    Rng rng;
    rng_seed(&rng, (uint64_t)n);
    float *qkv = xmalloc_array((size_t)n * 3 * d, sizeof *qkv), *out = xmalloc_array((size_t)n * d, sizeof *out);
    float *P = xmalloc_array((size_t)n * n, sizeof *P), *gout = xmalloc_array((size_t)n * d, sizeof *gout);
    float *gP = xmalloc_array((size_t)n * n, sizeof *gP);
    fill_normal(qkv, (size_t)n * 3 * d, 1.0, &rng);
    if (dt == DT_BF16)   /* the GPU sees bf16 inputs: give the CPU the same rounded values */
        for (size_t i = 0; i < (size_t)n * 3 * d; i++) qkv[i] = bf16_to_f32(f32_to_bf16(qkv[i]));
    Mask causal = {MASK_CAUSAL, 0, 0};
    attend_forward(out, P, qkv, n, d, &causal, 1 / sqrtf((float)d));
    GpuHead h;
    check_true(t, gpu_head_alloc(&h, dt, n, d), "%s n=%d: the head's buffers fit", dtype_name(dt), n);
    gpu_upload_f32(g, dt, h.qkv, qkv, (size_t)n * 3 * d);
    attention_forward_cuda(g, dt, h.out, h.att, h.qkv, h.scratch, 1, n, d, 1);
    gpu_download_f32(g, dt, gout, h.out, (size_t)n * d);
    gpu_download_f32(g, dt, gP, h.att, (size_t)n * n);
    check_close_f32(t, gout, out, (size_t)n * d, atol, rtol, "%s n=%d: GPU output = CPU attend_forward", dtype_name(dt), n);
    check_close_f32(t, gP, P, (size_t)n * n, atol, rtol, "%s n=%d: GPU weights = CPU weights", dtype_name(dt), n);
    gpu_head_free(&h);
    free(qkv), free(out), free(P), free(gout), free(gP);
    gpu_close(g);
}

int main(void) {
    Check t;
    check_init(&t, "ch07-gpu");
    if (!gpu_available()) {
        printf("skipped: no CUDA device (or a build without CUDA)\n");
        return check_summary(&t);
    }
    setenv("NO_PROGRESS", "1", 1);
    int ns[3] = {64, 256, 1000};
    for (int i = 0; i < 3; i++) test_head(&t, DT_F32, ns[i], 1e-5, 1e-4);
    for (int i = 0; i < 3; i++) test_head(&t, DT_BF16, ns[i], 2e-2, 5e-2);
    Gpu *g = gpu_open(0);
    void *huge = gpu_try_malloc((size_t)1 << 52);
    check_true(&t, huge == NULL, "4 PiB: gpu_try_malloc returns NULL");
    GpuHead h;
    Rng rng;
    rng_seed(&rng, 1);
    GpuTimer *tm = gpu_timer_new(g);
    bool ok = gpu_head_alloc(&h, DT_F32, 512, 64);
    double ms = ok ? time_gpu_attention(g, tm, &h, DT_F32, 512, 64, 3, &rng) : -1;
    gpu_sync(g);
    check_true(&t, ok && ms > 0, "and the next allocation and launch work (%.3f ms)", ms);
    if (ok) gpu_head_free(&h);
    gpu_timer_free(tm);
    gpu_close(g);
    char dir[] = "/tmp/test-ch07-gpu-XXXXXX";
    if (!mkdtemp(dir)) die("cannot make a temporary directory");
    Run r = {.context = 32, .width = 32, .layers = 2, .hidden = 64, .batch = 4, .window = 8, .stride = 4, .lr = 2e-3,
             .mask = "causal"};
    quick_common(&r.c, "test_ch07_gpu", dir);
    r.c.device = DEV_CUDA;
    check_true(&t, experiment_cost(&r) == 0, "cost --device cuda --quick runs");
    TsvTable *c = load(&t, dir, "ch07-cost-gpu");
    if (c) {
        bool grows = tsv_rows(c) >= 3;
        for (size_t i = 1; i < tsv_rows(c); i++)   /* within each dtype, f32 rows first */
            if (strcmp(tsv_cell(c, i, 0), tsv_cell(c, i - 1, 0)) == 0)
                grows &= num(&t, c, i, "bytes") > num(&t, c, i - 1, "bytes") && num(&t, c, i, "ms") > 0;
        check_true(&t, grows, "it writes times and growing sizes (%zu rows)", tsv_rows(c));
        check_true(&t, strncmp(tsv_meta(c, "device"), "cuda", 4) == 0, "and its device line names the GPU");
        tsv_free(c);
    }
    gpu_close(r.gpu);
    cli_free(&r.c);
    remove_tree(dir);
    return check_summary(&t);
}
