/* bench/matmul.c -- common/matmul's matmul_f32 against OpenBLAS's cblas_sgemm.
 *
 * For each shape (square 256, 512, 1024, 2048 and one from a GPT-2 small
 * MLP layer, M=512 tokens x K=768 -> N=3072), with the same number of
 * threads for both: check that the two agree, then time each (warm-up runs,
 * then the median of many runs) and print GFLOP/s = 2MNK / seconds / 1e9
 * and the ratio ours / OpenBLAS.
 *
 * Agreement.  At 1000 sampled entries of C, both results are compared with
 * the exact dot product (in double) against the worst-case bound for any
 * order of f32 summation, |got - exact| <= gamma_K * sum_k |a_ik b_kj| with
 * gamma_K = K u / (1 - K u), u = 2^-24 (Higham, Accuracy and Stability of
 * Numerical Algorithms, 3.1).  A disagreement ends the program with status 1
 * before anything is timed.
 *
 * Usage: bench-matmul [--threads N] [--out DIR]
 *   --threads N  threads for both libraries (default: the number of cores)
 *   --out DIR    also write the table to DIR/bench-matmul-cpu.tsv, with provenance
 * Run it as `make bench`. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "matmul.h"
#include "rng.h"
#include "cli.h"
#include "tsv.h"
#include "util.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* OpenBLAS's own controls (declared here too, in case cblas.h is another BLAS's). */
void openblas_set_num_threads(int num_threads);
char *openblas_get_corename(void);

typedef struct { int M, N, K; const char *name; } Shape;

static const Shape SHAPES[] = {
    {256, 256, 256, "square 256"},   {512, 512, 512, "square 512"}, {1024, 1024, 1024, "square 1024"},
    {2048, 2048, 2048, "square 2048"}, {512, 3072, 768, "GPT-2 MLP 512x768x3072"},
};

typedef struct { int threads; const char *out; } Options;

static Options parse_args(int argc, char **argv) {
    Options o = {(int)sysconf(_SC_NPROCESSORS_ONLN), NULL};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: bench-matmul [--threads N] [--out DIR]\n"
                   "  GFLOP/s of common/matmul's matmul_f32 and OpenBLAS's cblas_sgemm, same threads.\n"
                   "  --threads N  threads for both (default: %d, the number of cores)\n"
                   "  --out DIR    also write DIR/bench-matmul-cpu.tsv (with provenance)\n", o.threads);
            exit(0);
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            char *end;
            long n = strtol(argv[++i], &end, 10);
            if (*end || n < 1 || n > 1024) die("--threads expects an integer in [1, 1024], got '%s'", argv[i]);
            o.threads = (int)n;
        } else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
            o.out = argv[++i];
        } else {
            die("unknown or incomplete option '%s' (see --help)", argv[i]);
        }
    }
    return o;
}

/* ---- The two contenders, with the same signature ----------------------------------------- */

typedef void (*Gemm)(const Shape *s, const float *A, const float *B, float *C);

static void ours(const Shape *s, const float *A, const float *B, float *C) {
    matmul_f32(false, false, s->M, s->N, s->K, 1.0f, A, s->K, B, s->N, 0.0f, C, s->N);
}

static void openblas(const Shape *s, const float *A, const float *B, float *C) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->M, s->N, s->K, 1.0f, A, s->K, B, s->N, 0.0f, C, s->N);
}

/* ---- Agreement ------------------------------------------------------------------------------ */

/* Largest |got - exact| / (gamma_K sum |a||b|) over sampled entries; <= 1 passes. */
static double worst_error_ratio(const Shape *s, const float *A, const float *B, const float *C, Rng *r) {
    double u = 0x1p-24, gamma = s->K * u / (1 - s->K * u), worst = 0;
    for (int n = 0; n < 1000; n++) {
        int i = (int)rng_below(r, (uint64_t)s->M), j = (int)rng_below(r, (uint64_t)s->N);
        double exact = 0, mag = 0;
        for (int k = 0; k < s->K; k++) {
            double p = (double)A[(size_t)i * s->K + k] * B[(size_t)k * s->N + j];
            exact += p, mag += fabs(p);
        }
        double ratio = fabs(C[(size_t)i * s->N + j] - exact) / (gamma * mag + 1e-30);
        if (ratio > worst) worst = ratio;
    }
    return worst;
}

/* ---- Timing --------------------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median seconds of one call: 3 warm-up calls, then enough runs to fill
 * about a second (at least 7, at most 101). */
static double median_seconds(Gemm f, const Shape *s, const float *A, const float *B, float *C) {
    double t0 = now_seconds();
    for (int i = 0; i < 3; i++) f(s, A, B, C);
    double one = (now_seconds() - t0) / 3;
    int runs = (int)(1.0 / (one + 1e-9));
    runs = runs < 7 ? 7 : runs > 101 ? 101 : runs;
    double *t = xmalloc_array((size_t)runs, sizeof *t);
    for (int i = 0; i < runs; i++) {
        double start = now_seconds();
        f(s, A, B, C);
        t[i] = now_seconds() - start;
    }
    qsort(t, (size_t)runs, sizeof *t, cmp_double);
    double median = t[runs / 2];
    free(t);
    return median;
}

/* Let the other library's worker threads stop spinning before timing. */
static void pause_briefly(void) { nanosleep(&(struct timespec){0, 200 * 1000 * 1000}, NULL); }

int main(int argc, char **argv) {
    Options o = parse_args(argc, argv);
#ifdef _OPENMP
    omp_set_num_threads(o.threads);
#endif
    openblas_set_num_threads(o.threads);
    printf("matmul_f32 vs OpenBLAS %s kernel, %d thread%s, f32, row-major, C = A B (beta 0)\n",
           openblas_get_corename(), o.threads, o.threads == 1 ? "" : "s");
    printf("%-24s %6s %6s %6s %12s %12s %7s\n", "shape", "M", "N", "K", "ours GF/s", "OpenBLAS GF/s", "ratio");
    Tsv *tsv = NULL;
    char *line = cli_join_argv(argc, argv);
    Provenance prov;
    provenance_init(&prov, line, o.threads);
    free(line);
    if (o.out)
        tsv = tsv_create(o.out, "bench-matmul-cpu", &prov,
                         "GFLOP/s of matmul_f32 and OpenBLAS cblas_sgemm, median of timed runs",
                         "shape\tM\tN\tK\tthreads\topenblas_kernel\tours_gflops\topenblas_gflops\tratio");
    Rng r;
    rng_seed(&r, 1);
    for (size_t n = 0; n < sizeof SHAPES / sizeof SHAPES[0]; n++) {
        const Shape *s = &SHAPES[n];
        size_t na = (size_t)s->M * s->K, nb = (size_t)s->K * s->N, nc = (size_t)s->M * s->N;
        float *A = xmalloc_array(na, sizeof *A), *B = xmalloc_array(nb, sizeof *B);
        float *C1 = xmalloc_array(nc, sizeof *C1), *C2 = xmalloc_array(nc, sizeof *C2);
        for (size_t i = 0; i < na; i++) A[i] = 2 * rng_uniform_f32(&r) - 1;
        for (size_t i = 0; i < nb; i++) B[i] = 2 * rng_uniform_f32(&r) - 1;
        ours(s, A, B, C1);
        openblas(s, A, B, C2);
        double e1 = worst_error_ratio(s, A, B, C1, &r), e2 = worst_error_ratio(s, A, B, C2, &r);
        if (e1 > 1 || e2 > 1)
            die("%s: results outside the f32 error bound (ours %.3g, OpenBLAS %.3g of the bound)", s->name, e1, e2);
        pause_briefly();
        double t_ours = median_seconds(ours, s, A, B, C1);
        pause_briefly();
        double t_blas = median_seconds(openblas, s, A, B, C2);
        double flops = 2.0 * s->M * s->N * s->K;
        double g1 = flops / t_ours / 1e9, g2 = flops / t_blas / 1e9;
        printf("%-24s %6d %6d %6d %12.1f %12.1f %7.2f\n", s->name, s->M, s->N, s->K, g1, g2, g1 / g2);
        fflush(stdout);
        if (tsv)
            tsv_row(tsv, "%s\t%d\t%d\t%d\t%d\t%s\t%.2f\t%.2f\t%.3f", s->name, s->M, s->N, s->K, o.threads,
                    openblas_get_corename(), g1, g2, g1 / g2);
        free(A), free(B), free(C1), free(C2);
    }
    if (tsv) tsv_close(tsv);
    provenance_free(&prov);
    return 0;
}
