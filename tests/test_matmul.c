/* test_matmul.c -- common/matmul: matmul_f32 against matmul_ref_f32 on many
 * shapes, all four transpose cases, alpha and beta, padded leading
 * dimensions; BLAS semantics of beta == 0, alpha == 0, K == 0; results that
 * do not depend on the thread count; checked errors.
 *
 * The tolerance.  check.h's f32 rule (|got - ref| <= atol + rtol |ref|) is
 * for a value rounded a few times; an element of C is a sum of K products,
 * and each addition may round.  For any order of summation, with or without
 * fused multiply-adds, the computed dot product s of length K obeys
 *     |s - exact| <= gamma_K sum_k |a_k b_k|,   gamma_K = K u / (1 - K u),
 * u = 2^-24 (Higham, Accuracy and Stability of Numerical Algorithms, 3.1).
 * Then alpha s and beta c and their sum add three roundings.  So each element
 * is held to
 *     |got - ref| <= F32_ATOL + gamma_{K+3} (|alpha| (|A||B|)_ij + |beta c_ij|),
 * the f32 tolerance scaled by K through the magnitudes that the sum actually
 * adds.  It is a bound, not an estimate: it cannot fail for a correct
 * implementation, whatever the blocking; and it fails for the bugs that
 * matter (a dropped or doubled term changes an element by |a_ik b_kj|, about
 * 1/K of (|A||B|)_ij, far above K u of it).  Typical errors sit near
 * sqrt(K) u, well inside; CHECK_VERBOSE=1 prints the worst ratio seen. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "expect_die.h"
#include "matmul.h"
#include "rng.h"
#include "util.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* One problem: op(A) is M x K, op(B) is K x N; the stored matrices have
 * leading dimensions wider than their rows by pad, and the padding holds NaN
 * (so reading it would show).  C's padding columns hold a sentinel. */
typedef struct {
    bool ta, tb;
    int M, N, K, lda, ldb, ldc;
    float alpha, beta;
    float *A, *B, *C0;  /* inputs, C0 the initial C */
} Problem;

static const float SENTINEL = 12345.0f;

static void problem_make(Problem *p, Rng *r, bool ta, bool tb, int M, int N, int K, int pad, float alpha, float beta) {
    *p = (Problem){ta, tb, M, N, K, 0, 0, 0, alpha, beta, NULL, NULL, NULL};
    int a_rows = ta ? K : M, a_cols = ta ? M : K, b_rows = tb ? N : K, b_cols = tb ? K : N;
    p->lda = a_cols + pad, p->ldb = b_cols + pad, p->ldc = N + pad;
    p->A = xmalloc(sizeof(float) * ((size_t)a_rows * p->lda + 1));
    p->B = xmalloc(sizeof(float) * ((size_t)b_rows * p->ldb + 1));
    p->C0 = xmalloc(sizeof(float) * ((size_t)M * p->ldc + 1));
    for (int i = 0; i < a_rows; i++)
        for (int j = 0; j < p->lda; j++) p->A[(size_t)i * p->lda + j] = j < a_cols ? 2 * rng_uniform_f32(r) - 1 : NAN;
    for (int i = 0; i < b_rows; i++)
        for (int j = 0; j < p->ldb; j++) p->B[(size_t)i * p->ldb + j] = j < b_cols ? 2 * rng_uniform_f32(r) - 1 : NAN;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < p->ldc; j++) p->C0[(size_t)i * p->ldc + j] = j < N ? 2 * rng_uniform_f32(r) - 1 : SENTINEL;
}

static void problem_free(Problem *p) { free(p->A), free(p->B), free(p->C0); }

static float *c_copy(const Problem *p) {
    size_t n = (size_t)p->M * p->ldc + 1;
    return memcpy(xmalloc(sizeof(float) * n), p->C0, sizeof(float) * n);
}

static float *run_fast(const Problem *p) {
    float *C = c_copy(p);
    matmul_f32(p->ta, p->tb, p->M, p->N, p->K, p->alpha, p->A, p->lda, p->B, p->ldb, p->beta, C, p->ldc);
    return C;
}

/* The tolerance of every element: F32_ATOL + gamma_{K+3} (|alpha| (|A||B|) + |beta c|),
 * with |A||B| computed by the reference on absolute values. */
static float *tolerances(const Problem *p) {
    int a_rows = p->ta ? p->K : p->M, b_rows = p->tb ? p->N : p->K;
    size_t na = (size_t)a_rows * p->lda, nb = (size_t)b_rows * p->ldb;
    float *absA = xmalloc(sizeof(float) * (na + 1)), *absB = xmalloc(sizeof(float) * (nb + 1));
    for (size_t i = 0; i < na; i++) absA[i] = fabsf(p->A[i]);
    for (size_t i = 0; i < nb; i++) absB[i] = fabsf(p->B[i]);
    float *mag = c_copy(p);
    for (size_t i = 0; i < (size_t)p->M * p->ldc; i++) mag[i] = fabsf(mag[i]);
    matmul_ref_f32(p->ta, p->tb, p->M, p->N, p->K, fabsf(p->alpha), absA, p->lda, absB, p->ldb, fabsf(p->beta), mag,
                   p->ldc);
    double u = 0x1p-24, gamma = (p->K + 3) * u / (1 - (p->K + 3) * u);
    for (size_t i = 0; i < (size_t)p->M * p->ldc; i++) mag[i] = (float)(F32_ATOL + gamma * mag[i] * (1 + 1e-6));
    free(absA), free(absB);
    return mag;
}

/* Compare matmul_f32 with the reference; returns the worst |error| / tolerance
 * (INFINITY for a NaN, a broken sentinel or a mismatch of infinities). */
static double worst_ratio(const Problem *p) {
    float *got = run_fast(p), *ref = c_copy(p), *tol = tolerances(p);
    matmul_ref_f32(p->ta, p->tb, p->M, p->N, p->K, p->alpha, p->A, p->lda, p->B, p->ldb, p->beta, ref, p->ldc);
    double worst = 0;
    for (int i = 0; i < p->M; i++) {
        for (int j = 0; j < p->ldc; j++) {
            size_t k = (size_t)i * p->ldc + j;
            double ratio = j >= p->N ? (got[k] == SENTINEL ? 0 : INFINITY)
                         : isfinite(got[k]) ? fabs((double)got[k] - ref[k]) / tol[k] : INFINITY;
            if (ratio > worst) worst = ratio;
        }
    }
    free(got), free(ref), free(tol);
    return worst;
}

static const int SIZES[] = {1, 2, 3, 7, 17, 33, 64, 65, 127, 129};
enum { NSIZES = sizeof SIZES / sizeof SIZES[0] };

/* Every (M, N, K) from SIZES, for each transpose case, with padding, random
 * alpha and beta (one in four beta is 0). */
static void test_all_shapes(Check *t, Rng *r) {
    for (int trans = 0; trans < 4; trans++) {
        bool ta = trans & 1, tb = trans & 2;
        double worst = 0;
        int wm = 0, wn = 0, wk = 0, count = 0;
        for (int a = 0; a < NSIZES; a++)
            for (int b = 0; b < NSIZES; b++)
                for (int c = 0; c < NSIZES; c++) {
                    Problem p;
                    float alpha = (float)(rng_uniform(r) * 4 - 2), beta = rng_below(r, 4) ? (float)(rng_uniform(r) * 2 - 1) : 0;
                    problem_make(&p, r, ta, tb, SIZES[a], SIZES[b], SIZES[c], (int)rng_below(r, 4), alpha, beta);
                    double w = worst_ratio(&p);
                    if (w > worst) worst = w, wm = p.M, wn = p.N, wk = p.K;
                    count++;
                    problem_free(&p);
                }
        check_true(t, worst <= 1, "trans_a=%d trans_b=%d: %d shapes within the bound (worst %.3g of it at %dx%dx%d)",
                   ta, tb, count, worst, wm, wn, wk);
    }
}

/* Shapes that cross the blocking: more rows than an A block (MC = 144), a
 * depth of several passes (KC = 256), more columns than a B panel (NC = 4096). */
static void test_block_edges(Check *t, Rng *r) {
    const int shapes[][3] = {{295, 70, 600}, {13, 4129, 40}, {150, 97, 517}, {1, 300, 1000}, {300, 1, 1000}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        for (int trans = 0; trans < 4; trans++) {
            Problem p;
            problem_make(&p, r, trans & 1, trans & 2, shapes[s][0], shapes[s][1], shapes[s][2], 5, 0.75f, -0.5f);
            double w = worst_ratio(&p);
            check_true(t, w <= 1, "%dx%dx%d trans_a=%d trans_b=%d within the bound (worst %.3g)", p.M, p.N, p.K,
                       trans & 1, (trans & 2) != 0, w);
            problem_free(&p);
        }
    }
}

static int count_nonfinite(const float *C, int M, int N, int ldc) {
    int n = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) n += !isfinite(C[(size_t)i * ldc + j]);
    return n;
}

/* beta == 0 overwrites C without reading it; alpha == 0 and K == 0 reduce
 * to C = beta C without reading A or B; M or N == 0 touches nothing. */
static void test_blas_semantics(Check *t, Rng *r) {
    Problem p;
    problem_make(&p, r, false, false, 37, 70, 19, 0, 1.5f, 0.0f);
    float *C = c_copy(&p), *ref = c_copy(&p);
    for (int i = 0; i < 37 * 70; i++) C[i] = NAN;
    matmul_f32(false, false, 37, 70, 19, 1.5f, p.A, p.lda, p.B, p.ldb, 0.0f, C, p.ldc);
    check_true(t, count_nonfinite(C, 37, 70, 70) == 0, "beta = 0: NaN in C does not propagate");
    matmul_ref_f32(false, false, 37, 70, 19, 1.5f, p.A, p.lda, p.B, p.ldb, 0.0f, ref, p.ldc);
    float *tol = tolerances(&p);
    int bad = 0;
    for (int i = 0; i < 37 * 70; i++) bad += !(fabsf(C[i] - ref[i]) <= tol[i]);
    check_true(t, bad == 0, "beta = 0: C = alpha A B (%d elements off)", bad);
    for (int i = 0; i < 37 * 70; i++) ref[i] = NAN;
    matmul_ref_f32(false, false, 37, 70, 19, 1.5f, p.A, p.lda, p.B, p.ldb, 0.0f, ref, p.ldc);
    check_true(t, count_nonfinite(ref, 37, 70, 70) == 0, "beta = 0: the reference does not read C either");

    /* alpha = 0 with NaN in A and B: C = beta C exactly, no NaN. */
    float *nanA = xmalloc(sizeof(float) * 37 * 19), *nanB = xmalloc(sizeof(float) * 19 * 70);
    for (int i = 0; i < 37 * 19; i++) nanA[i] = NAN;
    for (int i = 0; i < 19 * 70; i++) nanB[i] = NAN;
    memcpy(C, p.C0, sizeof(float) * 37 * 70);
    matmul_f32(false, false, 37, 70, 19, 0.0f, nanA, 19, nanB, 70, 2.0f, C, 70);
    int exact = 0;
    for (int i = 0; i < 37 * 70; i++) exact += C[i] == 2.0f * p.C0[i];
    check_true(t, exact == 37 * 70, "alpha = 0: C = beta C, A and B not read (%d of %d)", exact, 37 * 70);
    matmul_f32(false, false, 37, 70, 19, 0.0f, nanA, 19, nanB, 70, 0.0f, C, 70);
    int zeros = 0;
    for (int i = 0; i < 37 * 70; i++) zeros += C[i] == 0;
    check_true(t, zeros == 37 * 70, "alpha = 0, beta = 0: C = 0");

    memcpy(C, p.C0, sizeof(float) * 37 * 70);
    matmul_f32(false, false, 37, 70, 0, 1.0f, NULL, 1, NULL, 70, -1.0f, C, 70);
    exact = 0;
    for (int i = 0; i < 37 * 70; i++) exact += C[i] == -p.C0[i];
    check_true(t, exact == 37 * 70, "K = 0: C = beta C");

    float one = SENTINEL;
    matmul_f32(false, false, 0, 5, 3, 1.0f, NULL, 3, nanB, 5, 0.0f, &one, 5);
    matmul_f32(true, true, 5, 0, 3, 1.0f, nanA, 5, NULL, 3, 0.0f, &one, 1);
    check_true(t, one == SENTINEL, "M = 0 or N = 0 writes nothing");
    free(C), free(ref), free(tol), free(nanA), free(nanB);
    problem_free(&p);
}

/* Each element of C is computed in the same order whatever the thread count
 * (and whichever tile it falls in), so results are bitwise identical.  The
 * shapes cut C by rows (301 x 259, 1000 x 33) and by columns (12 x 700). */
static void test_threads(Check *t, Rng *r) {
#ifdef _OPENMP
    int saved = omp_get_max_threads();
    const int shapes[][3] = {{301, 259, 300}, {12, 700, 64}, {1000, 33, 40}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        Problem p;
        problem_make(&p, r, s == 1, s == 2, shapes[s][0], shapes[s][1], shapes[s][2], 1, 1.25f, 0.5f);
        omp_set_num_threads(1);
        float *one = run_fast(&p);
        int same = 1;
        for (int nt = 2; nt <= 5; nt++) {
            omp_set_num_threads(nt);
            float *many = run_fast(&p);
            same &= memcmp(one, many, sizeof(float) * (size_t)p.M * p.ldc) == 0;
            free(many);
        }
        check_true(t, same, "%dx%dx%d: 1 to 5 threads give bitwise the same C", p.M, p.N, p.K);
        omp_set_num_threads(3);
        double w = worst_ratio(&p);
        check_true(t, w <= 1, "%dx%dx%d with 3 threads: within the bound (worst %.3g)", p.M, p.N, p.K, w);
        free(one);
        problem_free(&p);
    }
    omp_set_num_threads(saved);
#else
    (void)t, (void)r;
    printf("note: built without OpenMP; no thread-count checks\n");
#endif
}

/* A hand-worked 2 x 3 example: [1 2; 3 4] [1 0 2; -1 1 0] = [-1 2 2; -1 4 6],
 * then C = 2 (A B) - 1 C with C = all ones: [-3 3 3; -3 7 11]. */
static void test_hand_worked(Check *t) {
    const float A[4] = {1, 2, 3, 4}, B[6] = {1, 0, 2, -1, 1, 0}, want[6] = {-3, 3, 3, -3, 7, 11};
    float C[6] = {1, 1, 1, 1, 1, 1};
    matmul_f32(false, false, 2, 3, 2, 2.0f, A, 2, B, 3, -1.0f, C, 3);
    check_close_f32(t, C, want, 6, 0, 0, "hand-worked 2x2 times 2x3, alpha 2, beta -1 (exact)");
    /* The same with both operands stored transposed. */
    const float At[4] = {1, 3, 2, 4}, Bt[6] = {1, -1, 0, 1, 2, 0};
    float C2[6] = {1, 1, 1, 1, 1, 1};
    matmul_f32(true, true, 2, 3, 2, 2.0f, At, 2, Bt, 2, -1.0f, C2, 3);
    check_close_f32(t, C2, want, 6, 0, 0, "the same from transposed storage");
}

static void die_negative(void *c) { (void)c; float x = 0; matmul_f32(false, false, -1, 1, 1, 1, &x, 1, &x, 1, 0, &x, 1); }
static void die_lda(void *c) {
    (void)c;
    float x[64] = {0};
    matmul_f32(true, false, 4, 4, 4, 1, x, 3, x, 4, 0, x, 4);
}
static void die_ldc(void *c) { (void)c; float x[64] = {0}; matmul_f32(false, false, 4, 5, 4, 1, x, 4, x, 5, 0, x, 4); }
static void die_null(void *c) { (void)c; float x[64] = {0}; matmul_f32(false, false, 4, 4, 4, 1, NULL, 4, x, 4, 0, x, 4); }

static void test_checked_errors(Check *t) {
    expect_die(t, die_negative, NULL, "negative dimension (M=-1", "a negative dimension");
    expect_die(t, die_lda, NULL, "lda=3 is less than the 4 columns of A as stored (trans_a)", "lda too small");
    expect_die(t, die_ldc, NULL, "ldc=4 is less than N=5", "ldc too small");
    expect_die(t, die_null, NULL, "A is NULL", "a NULL A");
}

int main(void) {
    Check t;
    check_init(&t, "matmul");
    Rng r;
    rng_seed(&r, 42);
    test_hand_worked(&t);
    test_all_shapes(&t, &r);
    test_block_edges(&t, &r);
    test_blas_semantics(&t, &r);
    test_threads(&t, &r);
    test_checked_errors(&t);
    return check_summary(&t);
}
