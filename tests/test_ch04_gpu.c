/* test_ch04_gpu.c -- chapter 4 on a GPU: the model of chapter 4 run with the
 * runtime's CUDA kernels (gpu.h) against the same model on the CPU.
 *
 *   forward:  the logits of one batch, from identical parameters;
 *   backward: every parameter's gradient of the batch's mean loss;
 *   training: AGREE_STEPS steps from one seed on identical batches, the
 *             loss of every step (gpu_agree, the chapter's own experiment);
 *   the train experiment with --device cuda in --quick mode, through the
 *             run's one Gpu (run_gpu), its files' device line naming it.
 * Tolerances (the book's rule |got - ref| <= atol + rtol |ref|): logits
 * atol 1e-5, rtol 1e-4 (f32 sums in a different order: cuBLAS against
 * matmul_f32); gradients atol 1e-6, rtol 1e-3 (the embedding's atomic adds
 * reorder sums of up to B*T terms); losses within AGREE_TOL = 1e-3 nats at
 * every step, as the chapter states.
 * Without a GPU (or a build without CUDA) it prints "skipped: ..." and the
 * closing line with nothing checked, which tests/run reports as skipped. */
#include "mlp.c"

#include "chapter_test.h"
#include "check.h"

static void test_forward_backward(Check *t, Gpu *dev) {
    MlpConfig c = {.V = 85, .T = 16, .D = 16, .H = 128, .L = 2, .act = ACT_GELU};
    int B = 64;
    Mlp *cpu = mlp_new(&c, B, 5), *gpu = mlp_new(&c, B, 5);
    mlp_gpu_attach(gpu, dev);
    Rng rng;
    rng_seed(&rng, 17);
    for (int i = 0; i < B * c.T; i++) cpu->ctx[i] = gpu->ctx[i] = (int32_t)rng_below(&rng, (uint64_t)c.V + 1);
    for (int i = 0; i < B; i++) cpu->y[i] = gpu->y[i] = (int32_t)rng_below(&rng, (uint64_t)c.V);
    mlp_forward(cpu, B);
    mlp_gpu_logits(gpu, B);
    check_close_f32(t, gpu->logits, cpu->logits, (size_t)B * c.V, 1e-5, 1e-4, "GPU logits = CPU logits");
    double lc = mlp_gradients(cpu, B), lg = mlp_gpu_gradients(gpu, B);
    check_close(t, lg, lc, 1e-6, 1e-5, "GPU batch loss = CPU batch loss");
    float *g = xmalloc_array(gpu->n, sizeof *g);
    gpu_download(gpu->gpu->g, g, gpu->gpu->grads, gpu->n * sizeof(float));
    check_close_f32(t, g, cpu->grads, cpu->n, 1e-6, 1e-3, "GPU gradients = CPU gradients (all %zu)", cpu->n);
    free(g);
    mlp_free(cpu), mlp_free(gpu);
}

int main(void) {
    Check t;
    check_init(&t, "ch04-gpu");
    if (!gpu_available()) {
        printf("skipped: no CUDA device (or a build without CUDA)\n");
        return check_summary(&t);
    }
    setenv("NO_PROGRESS", "1", 1);
    Gpu *dev = gpu_open(0);
    test_forward_backward(&t, dev);
    gpu_close(dev);
    char dir[] = "/tmp/test-ch04-gpu-XXXXXX";
    if (!mkdtemp(dir)) die("cannot make a temporary directory");
    char *model = xasprintf("%s/quick.safetensors", dir);
    Run r = {.context = 16, .embed = 16, .hidden = 128, .layers = 2, .steps = 0, .batch = 64, .length = 50,
             .lr = 2e-3, .activation = "gelu", .model = model, .prompt = ""};
    quick_common(&r.c, "test_ch04_gpu", dir);
    r.c.device = DEV_CUDA;
    Dataset *d = load_data(&r);
    double worst = gpu_agree(&r, AGREE_STEPS, NULL);
    check_true(&t, worst <= AGREE_TOL, "%d training steps: CPU and GPU losses within %.0e nats (worst %.2e)", AGREE_STEPS,
               AGREE_TOL, worst);
    check_true(&t, experiment_train(&r) == 0, "train --device cuda --quick runs");
    char *path = xasprintf("%s/ch04-train.tsv", dir), err[256];
    TsvTable *tab = tsv_load(path, err, sizeof err);
    check_true(&t, tab != NULL, "it writes ch04-train.tsv%s%s", tab ? "" : ": ", tab ? "" : err);
    if (tab) {
        double v = tsv_num(tab, 0, tsv_col(tab, "val_ppl"));
        check_true(&t, isfinite(v) && v > 1 && v < d->vocab.size, "its validation perplexity is in (1, V): %.2f", v);
        check_true(&t, strncmp(tsv_meta(tab, "device"), "cuda", 4) == 0, "and its device line names the GPU");
        tsv_free(tab);
    }
    gpu_close(r.gpu);
    dataset_free(r.data);
    cli_free(&r.c);
    char *rm = xasprintf("rm -rf %s", dir);
    if (system(rm) != 0) warn("could not remove %s", dir);
    free(rm), free(path), free(model);
    return check_summary(&t);
}
