/* test_ch05_gpu.c -- chapter 5 on a GPU: the optimizers and the model run with
 * the runtime's CUDA kernels against the same code on the CPU.
 *
 *   the model: the logits and every gradient of one batch;
 *   Newton-Schulz: five quintic iterations on a wide and a tall matrix
 *                  (cuBLAS against matmul_f32);
 *   every optimizer: one step on identical gradients, every parameter;
 *   training: every optimizer for 100 steps (a run of 100 steps) on identical batches, the loss
 *             of every step within AGREE_TOL (the chapter's agree_one);
 *   the sweep, gpu-agree and the race in --quick mode with --device cuda.
 * Tolerances (the book's rule |got - ref| <= atol + rtol |ref|): logits
 * atol 1e-5, rtol 1e-4 and gradients atol 1e-6, rtol 1e-3, as in chapter 4
 * (f32 sums in another order, in cuBLAS and in the embedding's backward pass); parameters after
 * one step atol 1e-6, rtol 1e-4 (Adam divides by sqrt(v), which amplifies a
 * last-bit difference in a tiny gradient; Muon's iteration multiplies
 * matrices ten times); losses within AGREE_TOL = 1e-3 nats at every step.
 * Without a GPU (or a build without CUDA) it prints "skipped: ..." and the
 * closing line with nothing checked, which tests/run reports as skipped. */
#include "optimization.c"

#include "check.h"
#include "remove_tree.h"

static void test_model(Check *t) {
    ModelConfig c = {.V = 85, .T = 16, .D = 16, .H = 128, .L = 2};
    int B = 64;
    Gpu *G = gpu_open(0);
    Model *cpu = model_new(&c, B, 5), *gpu = model_new(&c, B, 5);
    model_gpu_attach(gpu, G);
    Rng rng;
    rng_seed(&rng, 17);
    for (int i = 0; i < B * c.T; i++) cpu->ctx[i] = gpu->ctx[i] = (int32_t)rng_below(&rng, (uint64_t)c.V + 1);
    for (int i = 0; i < B; i++) cpu->y[i] = gpu->y[i] = (int32_t)rng_below(&rng, (uint64_t)c.V);
    model_forward(cpu, B);
    model_gpu_forward(gpu, B);
    float *lg = xmalloc_array((size_t)B * c.V, sizeof *lg);
    gpu_download(gpu->gpu->g, lg, gpu->gpu->logits, (size_t)B * c.V * sizeof(float));
    check_close_f32(t, lg, cpu->logits, (size_t)B * c.V, 1e-5, 1e-4, "GPU logits = CPU logits");
    double lc = model_gradients(cpu, B), lgpu = model_gradients(gpu, B);
    check_close(t, lgpu, lc, 1e-6, 1e-5, "GPU batch loss = CPU batch loss");
    float *g = xmalloc_array(gpu->n, sizeof *g);
    model_download_grads(gpu, g);
    check_close_f32(t, g, cpu->grads, cpu->n, 1e-6, 1e-3, "GPU gradients = CPU gradients (all %zu)", cpu->n);
    /* one step of every optimizer from these gradients */
    for (int k = 0; k < NMETHODS; k++) {
        Model *a = model_new(&c, B, 5), *b = model_new(&c, B, 5);
        memcpy(a->grads, cpu->grads, cpu->n * sizeof(float));
        model_gpu_attach(b, G);
        gpu_upload(b->gpu->g, b->gpu->grads, cpu->grads, cpu->n * sizeof(float));
        OptimSpec o = optim_defaults((Method)k, k == SGD ? 0.3 : k <= NESTEROV || k == MUON ? 0.03 : 3e-3);
        o.lr_adam = 3e-3;
        Optim *oa = optim_new(&o, a), *ob = optim_new(&o, b);
        optim_step(oa, a, 1.0), optim_step(ob, b, 1.0);
        float *p = xmalloc_array(b->n, sizeof *p);
        gpu_download(b->gpu->g, p, b->gpu->params, b->n * sizeof(float));
        check_close_f32(t, p, a->params, a->n, 1e-6, 1e-4, "%s: one step on the GPU = one step on the CPU", METHOD_NAMES[k]);
        free(p), optim_free(oa), optim_free(ob), model_free(a), model_free(b);
    }
    free(lg), free(g);
    model_free(cpu), model_free(gpu);
    gpu_close(G);
}

static void test_newton_schulz_gpu(Check *t) {
    Gpu *g = gpu_open(0);
    Rng rng;
    rng_seed(&rng, 3);
    const int shapes[2][2] = {{128, 256}, {384, 128}};
    for (int s = 0; s < 2; s++) {
        int r = shapes[s][0], c = shapes[s][1];
        size_t n = (size_t)r * c, ws = 2 * n + 2 * (size_t)(r < c ? r : c) * (r < c ? r : c);
        float *X = xmalloc_array(n, sizeof *X), *got = xmalloc_array(n, sizeof *got), *w = xmalloc_array(ws, sizeof *w);
        for (size_t i = 0; i < n; i++) X[i] = (float)rng_normal(&rng);
        float *DX = gpu_malloc(n * sizeof(float)), *DW = gpu_malloc(ws * sizeof(float));
        gpu_upload(g, DX, X, n * sizeof(float));
        Dev cpu = {NULL}, dev = {g};
        newton_schulz(&cpu, X, r, c, NS_STEPS, NS_QUINTIC, w);
        newton_schulz(&dev, DX, r, c, NS_STEPS, NS_QUINTIC, DW);
        gpu_download(g, got, DX, n * sizeof(float));
        check_close_f32(t, got, X, n, 1e-5, 1e-3, "Newton-Schulz on a %dx%d matrix: cuBLAS = matmul_f32", r, c);
        gpu_free(DX), gpu_free(DW);
        free(X), free(got), free(w);
    }
    gpu_close(g);
}

int main(void) {
    Check t;
    check_init(&t, "ch05-gpu");
    if (!gpu_available()) {
        printf("skipped: no CUDA device (or a build without CUDA)\n");
        return check_summary(&t);
    }
    setenv("NO_PROGRESS", "1", 1);
    test_model(&t);
    test_newton_schulz_gpu(&t);
    char dir[] = "/tmp/test-ch05-gpu-XXXXXX";
    if (!mkdtemp(dir)) die("cannot make a temporary directory");
    Run r = {.steps = 0, .batch = 64, .context = 16, .embed = 16, .hidden = 0, .layers = 2, .optimizer = "", .activation = "gelu", .sweep = "", .grid = "", .jobs = 1};
    cli_common_init(&r.c, "test_ch05_gpu");
    r.c.threads = 1, r.c.out = dir, r.c.quick = true, r.c.device = DEV_CUDA;
    load_data(&r);
    check_true(&t, r.gpu != NULL, "load_data opens the run's GPU with --device cuda");
    check_true(&t, experiment_sweep(&r) == 0, "sweep --device cuda --quick runs");
    ModelConfig c = race_config(&r);
    for (int k = 0; k < NMETHODS; k++) {
        double worst = agree_one(&r, &c, tuned_spec(&r, (Method)k), 100, 100, NULL, NULL);
        check_true(&t, worst <= AGREE_TOL, "%s, 100 steps: CPU and GPU losses within %.0e nats (worst %.2e)",
                   METHOD_NAMES[k], AGREE_TOL, worst);
    }
    check_true(&t, experiment_gpu_agree(&r) == 0,
               "gpu-agree --quick: the first steps of the race within tolerance on both devices, every optimizer");
    check_true(&t, experiment_race(&r) == 0, "race --device cuda --quick runs");
    char *path = xasprintf("%s/ch05-gpu-tradeoffs.tsv", dir), err[256];
    TsvTable *tab = tsv_load(path, err, sizeof err);
    check_true(&t, tab != NULL, "it writes ch05-gpu-tradeoffs.tsv%s%s", tab ? "" : ": ", tab ? "" : err);
    if (tab) {
        check_true(&t, strncmp(tsv_meta(tab, "device"), "cuda", 4) == 0, "and its device line names the GPU");
        tsv_free(tab);
    }
    gpu_close(r.gpu);
    dataset_free(r.data);
    cli_free(&r.c);
    if (!remove_tree(dir)) warn("could not remove %s", dir);
    free(path);
    return check_summary(&t);
}
