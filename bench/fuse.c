/* bench/fuse.c -- issue 25: GPT-2 small's training step on the GPU (bf16
 * activations, f32 master weights, the default attention, T 1024) with the
 * fusions of common/gpt.h (GPT_FUSE_*) off and on, timed in one process on
 * one model, so that the differences are the fusions' and not the loan's.
 *
 * For R rounds, each configuration in turn (none, gelu, residual, gelu-set,
 * bgrad, gelu+residual, all): switch it on (gpt_set_fusions), two warm-up steps,
 * then S steps timed one by one (wall clock around gpt_step and a
 * synchronization, as chapter 8's bench times them).  The rounds interleave
 * the configurations so that a drift of the clock or of the temperature
 * falls on all of them alike; the table gives each configuration's median
 * over all its R x S steps, its minimum and maximum, and its median
 * relative to none's.  Then one profiled step per configuration (CUDA
 * events per operation, gpt_profile_start) into a second table.  The same
 * batch throughout (synthetic tokens, as chapter 8's bench).
 *
 * Usage: bench-fuse [--batch B] [--steps S] [--rounds R] [--out DIR]
 *   --out DIR: write DIR/bench-fuse.tsv and DIR/bench-fuse-profile.tsv
 * Correctness is tests/test_gpu.c's and tests/test_gpt_gpu.c's (test_fusions),
 * not this program's; it only prints each configuration's loss on the first
 * step from the same initialization (they should agree to bf16's rounding). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpt.h"
#include "provenance.h"
#include "rng.h"
#include "tsv.h"
#include "util.h"

#define MAXS 64

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int int_arg(const char *flag, const char *v, int lo, int hi) {
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || x < lo || x > hi) die("%s takes an integer in [%d, %d], not '%s'", flag, lo, hi, v);
    return (int)x;
}

int main(int argc, char **argv) {
    int B = 16, S = 10, R = 3;
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            printf("usage: bench-fuse [--batch B] [--steps S] [--rounds R] [--out DIR]\n"
                   "  GPT-2 small training steps (bf16, T 1024) with each GPT_FUSE_* fusion off and on.\n"
                   "  --batch B   sequences a step (default 16)\n"
                   "  --steps S   steps timed per configuration and round (default 10, at most %d)\n"
                   "  --rounds R  rounds over the configurations (default 3)\n"
                   "  --out DIR   write DIR/bench-fuse.tsv and DIR/bench-fuse-profile.tsv\n", MAXS);
            return 0;
        } else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) B = int_arg("--batch", argv[++i], 1, 1024);
        else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc) S = int_arg("--steps", argv[++i], 1, MAXS);
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) R = int_arg("--rounds", argv[++i], 1, 20);
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) out = argv[++i];
        else die("unknown argument '%s' (see --help)", argv[i]);
    }
    if (!gpu_available()) die("no CUDA device (or a build without CUDA)");
    Gpu *g = gpu_open(0);
    GptConfig c = gpt2_small_config(50304);
    int T = 1024;
    Gpt *m = gpt_new(&c, g, DT_BF16, B, T);
    gpt_init(m, 1);
    int32_t *tok = xmalloc_array((size_t)B * T, 4), *tgt = xmalloc_array((size_t)B * T, 4);
    Rng rng;
    rng_seed(&rng, 25);
    for (int i = 0; i < B * T; i++) tok[i] = (int32_t)rng_below(&rng, 50257), tgt[i] = (int32_t)rng_below(&rng, 50257);
    GptAdamW o = {.lr = 6e-4f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f, .grad_clip = 1.0f};
    const unsigned cfg[] = {0, GPT_FUSE_GELU, GPT_FUSE_RESIDUAL, GPT_FUSE_GELU_SET, GPT_FUSE_BGRAD,
                            GPT_FUSE_GELU | GPT_FUSE_RESIDUAL, GPT_FUSE_ALL};
    enum { NC = sizeof cfg / sizeof cfg[0] };
    double *ms = xcalloc((size_t)NC * R * S, sizeof *ms);
    float first[NC];
    size_t fb0 = linear_fused_fallbacks();
    for (int k = 0; k < NC; k++) {   /* each configuration's first step from the same initialization */
        gpt_init(m, 1);
        gpt_set_fusions(m, cfg[k]);
        first[k] = gpt_step(m, tok, tgt, B, T, &o, NULL);
    }
    for (int r = 0; r < R; r++)
        for (int k = 0; k < NC; k++) {
            gpt_set_fusions(m, cfg[k]);
            gpt_step(m, tok, tgt, B, T, &o, NULL), gpt_step(m, tok, tgt, B, T, &o, NULL);
            for (int s = 0; s < S; s++) {
                gpu_sync(g);
                double t0 = now_seconds();
                gpt_step(m, tok, tgt, B, T, &o, NULL);
                gpu_sync(g);
                ms[((size_t)k * R + r) * S + s] = 1000 * (now_seconds() - t0);
            }
        }
    Provenance prov;
    provenance_init(&prov, "build/bin/bench-fuse", 1);
    GpuInfo info = gpu_info(g);
    char dev[300];
    snprintf(dev, sizeof dev, "cuda (%s)", info.name);
    provenance_set_device(&prov, dev);
    Tsv *t = out ? tsv_create(out, "bench-fuse", &prov, "GPT-2 small training step (bf16, T 1024) by fusion, wall clock",
                              "fuse\tbatch\tms_per_step\ttokens_per_s\tms_min\tms_max\tsteps\tover_none\tfirst_loss")
                 : NULL;
    double med0 = 0;
    for (int k = 0; k < NC; k++) {
        double *v = ms + (size_t)k * R * S;
        qsort(v, (size_t)R * S, sizeof *v, cmp_double);
        int n = R * S;
        double med = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
        if (k == 0) med0 = med;
        char nm[64];
        gpt_fusions_name(cfg[k], nm, sizeof nm);
        printf("bench-fuse: B %d, fuse %-22s %.3f ms a step (min %.3f, max %.3f), %.1fk tokens/s, %.4f of none's; first loss %.4f\n",
               B, nm, med, v[0], v[n - 1], B * T / med, med / med0, first[k]);
        if (t) tsv_row(t, "%s\t%d\t%.3f\t%.0f\t%.3f\t%.3f\t%d\t%.4f\t%.4f", nm, B, med, B * T / (med / 1000), v[0], v[n - 1], n,
                       med / med0, first[k]);
    }
    printf("bench-fuse: fused products that fell back to separate kernels: %zu\n", linear_fused_fallbacks() - fb0);
    if (t) tsv_close(t);
    Tsv *p = out ? tsv_create(out, "bench-fuse-profile", &prov, "time per operation in one step by fusion, CUDA events",
                              "fuse\top\tcalls\tms")
                 : NULL;
    for (int k = 0; k < NC; k++) {
        char nm[64];
        gpt_fusions_name(cfg[k], nm, sizeof nm);
        gpt_set_fusions(m, cfg[k]);
        gpt_profile_start(m);
        gpt_step(m, tok, tgt, B, T, &o, NULL);
        GptProfileRow rows[48];
        int n = gpt_profile_report(m, rows, 48);
        double total = 0;
        for (int i = 0; i < n; i++) {
            total += rows[i].ms;
            if (p) tsv_row(p, "%s\t%s\t%d\t%.3f", nm, rows[i].name, rows[i].calls, rows[i].ms);
        }
        printf("bench-fuse: profile, fuse %s: %d operations, %.3f ms in all\n", nm, n, total);
        for (int i = 0; i < n; i++) printf("    %-34s %3d %8.3f\n", rows[i].name, rows[i].calls, rows[i].ms);
        gpt_profile_stop(m);
    }
    if (p) tsv_close(p);
    provenance_free(&prov);
    free(ms), free(tok), free(tgt);
    gpt_free(m);
    gpu_close(g);
    return 0;
}
