/* test_ch04_gpu.c -- chapter 4 on a GPU: the model of chapter 4 run with the
 * runtime's CUDA kernels (gpu.h) against the same model on the CPU.
 *
 *   forward:  the logits of one batch, from identical parameters;
 *   backward: every parameter's gradient of the batch's mean loss;
 *   training: AGREE_STEPS steps from one seed on identical batches, the
 *             loss of every step (gpu_agree, the chapter's own experiment);
 *   the train experiment with --device cuda in --quick mode, through the
 *             run's one Gpu (run_gpu), its files' device line naming it;
 *   the chapter's own kernels: ReLU and Swish forward and backward, and
 *             dropout, whose masks must equal the CPU's bit for bit;
 *   regularized training (dropout 0.2, weight decay 0.1) step by step on both
 *             devices, early stopping's saved copy; regularize --quick.
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

static void test_forward_backward(Check *t, Gpu *dev, Activation act, float dropout) {
    MlpConfig c = {.V = 85, .T = 16, .D = 16, .H = 128, .L = 2, .act = act};
    int B = 64;
    Mlp *cpu = mlp_new(&c, B, 5), *gpu = mlp_new(&c, B, 5);
    cpu->dropout = gpu->dropout = dropout;
    cpu->step = gpu->step = 7;   /* the masks depend on the step: both at the same one */
    mlp_gpu_attach(gpu, dev);
    printf("%s, dropout %.1f:\n", ACT_NAMES[act], (double)dropout);
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
    if (dropout > 0) {   /* the masks are hashed, not drawn: bit for bit the same on both devices */
        size_t n = (size_t)B * c.H, same = 0, dropped = 0;
        float *mk = xmalloc_array(n, sizeof *mk);
        gpu_download(gpu->gpu->g, mk, gpu->gpu->mask[1], n * sizeof(float));
        for (size_t i = 0; i < n; i++) same += mk[i] == cpu->mask[1][i], dropped += cpu->mask[1][i] == 0;
        check_true(t, same == n, "the GPU's dropout mask equals the CPU's (%zu of %zu)", same, n);
        check_true(t, fabs((double)dropped / n - dropout) < 0.03, "about %.0f%% of the units dropped (%.1f%%)",
                   100.0 * dropout, 100.0 * dropped / n);
        free(mk);
    }
    free(g);
    mlp_free(cpu), mlp_free(gpu);
}

/* Training with every regularizer on: weight decay, dropout, and a ReLU/Swish network the
 * chapter's own kernels run.  The losses of both devices step by step, and early stopping's copy. */
static void test_regularized_training(Check *t, Run *r, Activation act) {
    Dataset *d = load_data(r);
    MlpConfig c = {.V = d->vocab.size, .T = 16, .D = 16, .H = 128, .L = 2, .act = act};
    Mlp *cpu = mlp_new(&c, AGREE_BATCH, r->c.seed), *gpu = mlp_new(&c, AGREE_BATCH, r->c.seed);
    cpu->dropout = gpu->dropout = 0.2f, cpu->weight_decay = gpu->weight_decay = 0.1f;
    mlp_gpu_attach(gpu, run_gpu(r));
    Rng rng;
    rng_stream(&rng, r->c.seed, STREAM_BATCHES);
    double worst = 0;
    float *cpu40 = xmalloc_array(cpu->n, sizeof *cpu40), *gpu40 = xmalloc_array(gpu->n, sizeof *gpu40);
    for (int s = 0; s < 100; s++) {
        sample_batch(cpu, d->train.ids, d->train.len, AGREE_BATCH, &rng);
        memcpy(gpu->ctx, cpu->ctx, (size_t)AGREE_BATCH * c.T * sizeof(int32_t));
        memcpy(gpu->y, cpu->y, (size_t)AGREE_BATCH * sizeof(int32_t));
        double lr = lr_at(s, 100, 3e-3), a = mlp_step(cpu, AGREE_BATCH, lr), b = mlp_step(gpu, AGREE_BATCH, lr);
        worst = worst_of(worst, fabs(a - b));
        if (s == 40) {   /* keep step 40 on each device, and a host snapshot of each to compare with */
            mlp_best_save(cpu), mlp_best_save(gpu);
            memcpy(cpu40, cpu->params, cpu->n * sizeof *cpu40);
            gpu_download(gpu->gpu->g, gpu40, gpu->gpu->params, gpu->n * sizeof *gpu40);
        }
    }
    check_true(t, worst <= AGREE_TOL, "%s with dropout 0.2 and weight decay 0.1: 100 steps within %.0e nats (%.2e)",
               ACT_NAMES[act], AGREE_TOL, worst);
    mlp_best_restore(cpu), mlp_best_restore(gpu);
    mlp_gpu_download(gpu);
    check_true(t, memcmp(cpu->params, cpu40, cpu->n * sizeof *cpu40) == 0 &&
                      memcmp(gpu->params, gpu40, gpu->n * sizeof *gpu40) == 0,
               "early stopping restores each device's parameters of step 40 exactly");
    free(cpu40), free(gpu40);
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
    test_forward_backward(&t, dev, ACT_GELU, 0);
    test_forward_backward(&t, dev, ACT_RELU, 0);
    test_forward_backward(&t, dev, ACT_SWISH, 0);
    test_forward_backward(&t, dev, ACT_SWISH, 0.3f);
    test_forward_backward(&t, dev, ACT_GELU, 0.5f);
    gpu_close(dev);
    char dir[] = "/tmp/test-ch04-gpu-XXXXXX";
    if (!mkdtemp(dir)) die("cannot make a temporary directory");
    char *model = xasprintf("%s/quick.safetensors", dir);
    Run r = {.context = 16, .embed = 16, .hidden = 128, .layers = 2, .steps = 0, .batch = 64, .length = 50,
             .lr = 2e-3, .activation = "gelu", .model = model, .prompt = "", .probs = "", .run = -1,
             .source = "gpu"};
    quick_common(&r.c, "test_ch04_gpu", dir);
    r.c.device = DEV_CUDA;
    Dataset *d = load_data(&r);
    double worst = gpu_agree(&r, AGREE_STEPS, NULL);
    check_true(&t, worst <= AGREE_TOL, "%d training steps: CPU and GPU losses within %.0e nats (worst %.2e)", AGREE_STEPS,
               AGREE_TOL, worst);
    test_regularized_training(&t, &r, ACT_SWISH);
    test_regularized_training(&t, &r, ACT_RELU);
    check_true(&t, experiment_regularize(&r) == 0, "regularize --device cuda --quick runs");
    check_true(&t, experiment_lrbatch(&r) == 0, "lrbatch --device cuda --quick runs");
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
    remove_tree(dir);
    free(path), free(model);
    return check_summary(&t);
}
