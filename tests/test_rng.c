/* test_rng.c -- common/rng: pinned outputs, reproducibility, and statistical
 * checks of every distribution.
 *
 * The statistical checks use a fixed seed, so they are deterministic; their
 * bounds are nevertheless set where a correct generator would fail with
 * probability about 1e-6 or less (6 standard deviations for means and
 * moments, the chi-square quantile at p = 1e-6 for frequencies), while the
 * mistakes they guard against (modulo bias, an off-by-one in a cumulative
 * sum, a wrong Box-Muller constant) move the statistic far past them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "expect_die.h"
#include "rng.h"
#include "util.h"

/* The first outputs for seed 1, and the state after seeding.  They were
 * computed by this implementation and checked independently against a
 * separate Python re-implementation of splitmix64 and xoshiro256** written
 * from the published reference code (Vigna, prng.di.unimi.it), run on the
 * development machine:
 *
 *   M = (1 << 64) - 1
 *   def splitmix64(x):
 *       x = (x + 0x9e3779b97f4a7c15) & M; z = x
 *       z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M
 *       z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M
 *       return x, z ^ (z >> 31)
 *   def rotl(x, k): return ((x << k) | (x >> (64 - k))) & M
 *   def nxt(s):
 *       out = (rotl((s[1] * 5) & M, 7) * 9) & M; t = (s[1] << 17) & M
 *       s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]
 *       s[2] ^= t; s[3] = rotl(s[3], 45); return out
 *
 * splitmix64(1) = 0x910a2dec89025cc1 also matches the value published with
 * splitmix64 by others. */
static const uint64_t SEED1_STATE[4] = {0x910a2dec89025cc1ull, 0xbeeb8da1658eec67ull,
                                        0xf893a2eefb32555eull, 0x71c18690ee42c90bull};
static const uint64_t SEED1_FIRST[6] = {0xb3f2af6d0fc710c5ull, 0x853b559647364ceaull,
                                        0x92f89756082a4514ull, 0x642e1c7bc266a3a7ull,
                                        0xb27a48e29a233673ull, 0x24c123126ffda722ull};
static const uint64_t SEED0_FIRST[2] = {0x99ec5f36cb75f2b4ull, 0xbf6e1f784956452aull};

/* Chi-square critical values at p = 1e-6, computed from the regularized
 * upper incomplete gamma function (at p = 1e-3 the same code gives the
 * textbook 10.83 for 1 and 27.88 for 9 degrees of freedom). */
#define CHI2_1E6_DF2 27.63
#define CHI2_1E6_DF4 33.38
#define CHI2_1E6_DF5 35.89
#define CHI2_1E6_DF6 38.26
#define CHI2_1E6_DF9 44.81

static double chi_square(const long *counts, const double *expected, size_t k) {
    double x = 0;
    for (size_t i = 0; i < k; i++) x += (counts[i] - expected[i]) * (counts[i] - expected[i]) / expected[i];
    return x;
}

static void test_pinned(Check *t) {
    Rng r;
    rng_seed(&r, 1);
    for (int i = 0; i < 4; i++) check_true(t, r.s[i] == SEED1_STATE[i], "seed 1 state word %d", i);
    for (int i = 0; i < 6; i++) {
        uint64_t x = rng_u64(&r);
        check_true(t, x == SEED1_FIRST[i], "seed 1 output %d is %016llx (got %016llx)", i,
                   (unsigned long long)SEED1_FIRST[i], (unsigned long long)x);
    }
    rng_seed(&r, 0);
    for (int i = 0; i < 2; i++) check_true(t, rng_u64(&r) == SEED0_FIRST[i], "seed 0 output %d", i);
    /* The derived functions pin down too: the same first word, used 3 ways. */
    rng_seed(&r, 1);
    check_true(t, rng_u32(&r) == (uint32_t)(SEED1_FIRST[0] >> 32), "rng_u32 is the high half");
    rng_seed(&r, 1);
    check_true(t, rng_uniform(&r) == (double)(SEED1_FIRST[0] >> 11) * 0x1p-53, "rng_uniform from 53 bits");
    rng_seed(&r, 1);
    check_true(t, rng_uniform_f32(&r) == (float)(SEED1_FIRST[0] >> 40) * 0x1p-24f, "rng_uniform_f32 from 24 bits");
    rng_seed(&r, 1);
    const uint64_t below10[5] = {7, 2, 0, 3, 1};  /* SEED1_FIRST[i] % 10, from Python */
    for (int i = 0; i < 5; i++) check_true(t, rng_below(&r, 10) == below10[i], "rng_below(10) draw %d", i);
}

static void test_reproducible(Check *t) {
    Rng a, b;
    rng_seed(&a, 12345);
    rng_seed(&b, 12345);
    int same = 0;
    for (int i = 0; i < 10000; i++) same += rng_u64(&a) == rng_u64(&b);
    check_true(t, same == 10000, "same seed, same 10000 outputs (%d equal)", same);

    rng_seed(&a, 1);
    rng_seed(&b, 2);
    int equal = 0;
    for (int i = 0; i < 1000; i++) equal += rng_u64(&a) == rng_u64(&b);
    check_true(t, equal == 0, "seeds 1 and 2 share no output among 1000 (%d equal)", equal);

    /* Saving the struct and restoring it resumes the stream exactly. */
    rng_seed(&a, 7);
    for (int i = 0; i < 100; i++) rng_u64(&a);
    Rng saved = a;
    uint64_t want[50];
    for (int i = 0; i < 50; i++) want[i] = rng_u64(&a);
    a = saved;
    int resumed = 0;
    for (int i = 0; i < 50; i++) resumed += rng_u64(&a) == want[i];
    check_true(t, resumed == 50, "a copied state resumes the stream (%d of 50)", resumed);
}

static void test_uniform(Check *t) {
    enum { N = 1000000 };
    Rng r;
    rng_seed(&r, 2024);
    double sum = 0, sum2 = 0, lo = 1, hi = 0;
    for (int i = 0; i < N; i++) {
        double u = rng_uniform(&r);
        sum += u, sum2 += u * u;
        lo = fmin(lo, u), hi = fmax(hi, u);
    }
    double mean = sum / N, var = sum2 / N - mean * mean;
    /* sd(mean) = sqrt(1/12 / N) = 2.9e-4; sd(var) = sqrt((1/80 - 1/144) / N) = 7.5e-5 */
    check_close(t, mean, 0.5, 6 * 2.9e-4, 0, "uniform mean over %d draws", N);
    check_close(t, var, 1.0 / 12, 6 * 7.5e-5, 0, "uniform variance over %d draws", N);
    check_true(t, lo >= 0 && hi < 1, "uniform stays in [0,1) (min %g, max %.17g)", lo, hi);

    float flo = 1, fhi = 0;
    double fsum = 0;
    for (int i = 0; i < N; i++) {
        float u = rng_uniform_f32(&r);
        fsum += u;
        flo = fminf(flo, u), fhi = fmaxf(fhi, u);
    }
    check_close(t, fsum / N, 0.5, 6 * 2.9e-4, 0, "uniform_f32 mean over %d draws", N);
    check_true(t, flo >= 0 && fhi < 1, "uniform_f32 stays in [0,1) (max %.9g)", fhi);
}

static void test_normal(Check *t) {
    enum { N = 1000000 };
    Rng r;
    rng_seed(&r, 99);
    double m1 = 0, m2 = 0, m3 = 0, m4 = 0;
    for (int i = 0; i < N; i++) {
        double z = rng_normal(&r);
        m1 += z, m2 += z * z, m3 += z * z * z, m4 += z * z * z * z;
    }
    m1 /= N, m2 /= N, m3 /= N, m4 /= N;
    double var = m2 - m1 * m1;
    /* sd(mean) = 1/sqrt(N) = 1e-3; sd(m2) = sqrt(2/N) = 1.4e-3;
     * sd(m3) = sqrt(15/N) = 3.9e-3; sd(m4) = sqrt((105 - 9)/N) = 9.8e-3. */
    check_close(t, m1, 0, 6 * 1e-3, 0, "normal mean");
    check_close(t, var, 1, 6 * 1.4e-3, 0, "normal variance");
    check_close(t, m3, 0, 6 * 3.9e-3, 0, "normal third moment (skewness)");
    check_close(t, m4 / (var * var), 3, 6 * 9.8e-3, 0, "normal kurtosis");

    /* Tails: P(|z| > 3) = 0.0026998; the count is binomial, sd = sqrt(N p (1-p)) = 51.9. */
    rng_seed(&r, 100);
    long tail = 0;
    for (int i = 0; i < N; i++) tail += fabs(rng_normal(&r)) > 3;
    check_close(t, (double)tail, 0.0026998 * N, 6 * 51.9, 0, "normal P(|z| > 3) count");
}

/* Draw N values of rng_below(n) and bucket them into k equal slices of
 * [0, n) (n divisible by k); chi-square against the uniform expectation. */
static double below_chi_square(Rng *r, uint64_t n, size_t k, long N) {
    long counts[16] = {0};
    double expected[16];
    for (long i = 0; i < N; i++) {
        uint64_t x = rng_below(r, n);
        if (x >= n) return INFINITY;
        counts[x / (n / k)]++;
    }
    for (size_t i = 0; i < k; i++) expected[i] = (double)N / (double)k;
    return chi_square(counts, expected, k);
}

static void test_below(Check *t) {
    Rng r;
    rng_seed(&r, 5);
    double x = below_chi_square(&r, 10, 10, 1000000);
    check_true(t, x < CHI2_1E6_DF9, "rng_below(10): chi-square %.2f < %.2f (9 dof)", x, CHI2_1E6_DF9);
    x = below_chi_square(&r, 7, 7, 1000000);
    check_true(t, x < CHI2_1E6_DF6, "rng_below(7): chi-square %.2f < %.2f (6 dof)", x, CHI2_1E6_DF6);
    /* n = 3 * 2^62: 2^64 mod n = 2^62, so a plain x % n would put half the
     * draws into the first third.  With rejection the thirds are equal. */
    uint64_t n = 3ull << 62;
    x = below_chi_square(&r, n, 3, 300000);
    check_true(t, x < CHI2_1E6_DF2, "rng_below(3*2^62): chi-square %.2f < %.2f (2 dof)", x, CHI2_1E6_DF2);
    int ones = 0;
    for (int i = 0; i < 1000; i++) ones += rng_below(&r, 1) == 0;
    check_true(t, ones == 1000, "rng_below(1) is always 0");
    uint64_t big = 0;
    for (int i = 0; i < 1000; i++) { uint64_t v = rng_below(&r, UINT64_MAX); if (v > big) big = v; }
    check_true(t, big > (UINT64_MAX / 4) * 3, "rng_below(2^64-1) reaches the top quarter");
}

static void test_categorical(Check *t) {
    enum { N = 1000000 };
    const double w[6] = {0.1, 0.0, 2.5, 1.0, 0.4, 6.0};
    const float wf[6] = {0.1f, 0.0f, 2.5f, 1.0f, 0.4f, 6.0f};
    Rng r;
    rng_seed(&r, 77);
    long counts[6] = {0}, countsf[6] = {0};
    for (int i = 0; i < N; i++) counts[rng_categorical(&r, w, 6)]++;
    for (int i = 0; i < N; i++) countsf[rng_categorical_f32(&r, wf, 6)]++;
    /* Leave out the zero-weight index: 5 categories, 4 degrees of freedom. */
    long c5[5] = {counts[0], counts[2], counts[3], counts[4], counts[5]};
    long f5[5] = {countsf[0], countsf[2], countsf[3], countsf[4], countsf[5]};
    double e5[5] = {0.1 / 10 * N, 2.5 / 10 * N, 1.0 / 10 * N, 0.4 / 10 * N, 6.0 / 10 * N};
    double x = chi_square(c5, e5, 5), xf = chi_square(f5, e5, 5);
    check_true(t, counts[1] == 0 && countsf[1] == 0, "a zero weight is never drawn");
    check_true(t, x < CHI2_1E6_DF4, "categorical frequencies: chi-square %.2f < %.2f (4 dof)", x, CHI2_1E6_DF4);
    check_true(t, xf < CHI2_1E6_DF4, "categorical_f32 frequencies: chi-square %.2f < %.2f", xf, CHI2_1E6_DF4);

    /* One positive weight among zeros, at either end: always that index. */
    const double first[4] = {3, 0, 0, 0}, last[4] = {0, 0, 0, 1e-300};
    int hits = 0;
    for (int i = 0; i < 1000; i++) hits += rng_categorical(&r, first, 4) == 0;
    for (int i = 0; i < 1000; i++) hits += rng_categorical(&r, last, 4) == 3;
    check_true(t, hits == 2000, "a single positive weight is always drawn (%d of 2000)", hits);
}

static void test_shuffle(Check *t) {
    enum { N = 1000 };
    int a[N];
    for (int i = 0; i < N; i++) a[i] = i;
    Rng r;
    rng_seed(&r, 3);
    rng_shuffle(&r, a, N, sizeof a[0]);
    char seen[N] = {0};
    int ok = 1, fixed = 0;
    for (int i = 0; i < N; i++) {
        if (a[i] < 0 || a[i] >= N || seen[a[i]]) ok = 0;
        else seen[a[i]] = 1;
        fixed += a[i] == i;
    }
    check_true(t, ok, "shuffle of %d ints is a permutation", N);
    check_true(t, fixed < 10, "shuffle moved almost everything (%d fixed points; expect about 1)", fixed);

    /* Elements larger than the swap buffer (100 bytes) keep their bytes together. */
    typedef struct { unsigned char b[100]; } Big;
    Big big[17];
    for (int i = 0; i < 17; i++) memset(big[i].b, i, sizeof big[i].b);
    rng_shuffle(&r, big, 17, sizeof big[0]);
    int intact = 1, sum = 0;
    for (int i = 0; i < 17; i++) {
        for (int j = 1; j < 100; j++) intact &= big[i].b[j] == big[i].b[0];
        sum += big[i].b[0];
    }
    check_true(t, intact && sum == 16 * 17 / 2, "shuffle of 100-byte elements keeps each element whole");

    /* All 6 orders of 3 elements equally likely: chi-square with 5 dof. */
    long counts[6] = {0};
    double expected[6];
    const long M = 600000;
    for (long i = 0; i < M; i++) {
        char p[3] = {0, 1, 2};
        rng_shuffle(&r, p, 3, 1);
        counts[p[0] * 2 + (p[1] > p[2])]++;
    }
    for (int i = 0; i < 6; i++) expected[i] = M / 6.0;
    double x = chi_square(counts, expected, 6);
    check_true(t, x < CHI2_1E6_DF5, "the 6 orders of 3 elements: chi-square %.2f < %.2f (5 dof)", x, CHI2_1E6_DF5);

    rng_shuffle(&r, NULL, 0, 4);  /* nothing to do, must not die */
    int one = 42;
    rng_shuffle(&r, &one, 1, sizeof one);
    check_true(t, one == 42, "shuffle of 0 and 1 elements");
}

static void die_below0(void *ctx) { Rng r; rng_seed(&r, 1); (void)ctx; rng_below(&r, 0); }
static void die_negative(void *ctx) {
    (void)ctx; Rng r; rng_seed(&r, 1);
    const double w[3] = {1, -0.5, 2};
    rng_categorical(&r, w, 3);
}
static void die_zero_sum(void *ctx) {
    (void)ctx; Rng r; rng_seed(&r, 1);
    const float w[3] = {0, 0, 0};
    rng_categorical_f32(&r, w, 3);
}
static void die_nan(void *ctx) {
    (void)ctx; Rng r; rng_seed(&r, 1);
    const double w[2] = {1, NAN};
    rng_categorical(&r, w, 2);
}
static void die_overflow_sum(void *ctx) {
    (void)ctx; Rng r; rng_seed(&r, 1);
    const double w[2] = {1e308, 1e308};
    rng_categorical(&r, w, 2);
}
static void die_empty(void *ctx) { (void)ctx; Rng r; rng_seed(&r, 1); rng_categorical(&r, NULL, 0); }
static void die_shuffle_null(void *ctx) { (void)ctx; Rng r; rng_seed(&r, 1); rng_shuffle(&r, NULL, 3, 4); }

static void test_checked_errors(Check *t) {
    expect_die(t, die_below0, NULL, "n must be positive", "rng_below(0)");
    expect_die(t, die_negative, NULL, "weight 1 is -0.5", "a negative weight");
    expect_die(t, die_nan, NULL, "weight 1 is nan", "a NaN weight");
    expect_die(t, die_zero_sum, NULL, "sum to 0", "all-zero weights");
    expect_die(t, die_overflow_sum, NULL, "sum to inf", "weights whose sum overflows");
    expect_die(t, die_empty, NULL, "n = 0", "no weights");
    expect_die(t, die_shuffle_null, NULL, "NULL array", "shuffle of NULL");
}

/* rng_stream: deterministic; stream ids and seeds independent of each other;
 * no overlap between "seed s, stream k" and "seed s + 1, stream k - 1" (what
 * seed + k schemes get wrong). */
static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_streams(Check *t) {
    Rng a, b;
    rng_stream(&a, 42, 7);
    rng_stream(&b, 42, 7);
    bool same = true;
    for (int i = 0; i < 1000; i++) same = same && rng_u64(&a) == rng_u64(&b);
    check_true(t, same, "rng_stream: the same seed and stream give the same numbers");

    /* pinned: the first outputs of two streams, so that a change to the mixing is noticed */
    rng_stream(&a, 1, 0);
    uint64_t first10 = rng_u64(&a);
    rng_stream(&a, 0, 0);
    uint64_t first00 = rng_u64(&a);
    check_true(t, first10 != first00, "streams (1, 0) and (0, 0) differ");
    Rng s0;
    rng_seed(&s0, 1);
    rng_stream(&a, 1, 0);
    check_true(t, memcmp(&s0, &a, sizeof a) != 0, "stream 0 of a seed is not rng_seed's stream of it");

    /* a grid of seeds x streams: the first 4 outputs of each, 64 x 64 x 4 numbers, all distinct */
    enum { S = 64, K = 64, N = 4 };
    uint64_t *v = xmalloc_array((size_t)S * K * N, sizeof *v);
    size_t n = 0;
    for (uint64_t s = 0; s < S; s++)
        for (uint64_t k = 0; k < K; k++) {
            rng_stream(&a, s, k);
            for (int i = 0; i < N; i++) v[n++] = rng_u64(&a);
        }
    qsort(v, n, sizeof *v, cmp_u64);
    size_t dups = 0;
    for (size_t i = 1; i < n; i++) dups += v[i] == v[i - 1];
    check_true(t, dups == 0, "%zu outputs of %d seeds x %d streams: %zu repeats", n, S, K, dups);
    free(v);

    /* the overlap seed + k schemes have: seed 1's stream 1 against seed 2's stream 0, and so on */
    bool apart = true;
    for (uint64_t s = 0; s < 100 && apart; s++) {
        rng_stream(&a, s + 1, 0);
        rng_stream(&b, s, 1);
        Rng c;
        rng_seed(&c, s + 1);
        uint64_t x = rng_u64(&a), y = rng_u64(&b), z = rng_u64(&c);
        apart = x != y && y != z && x != z;
    }
    check_true(t, apart, "stream (s + 1, 0), stream (s, 1) and rng_seed(s + 1) are three different streams");

    /* independence: neighbouring streams of one seed, and one stream of neighbouring seeds,
     * are uncorrelated (|r| < 4 / sqrt(n) for n = 20000 pairs of uniforms) */
    enum { M = 20000 };
    const uint64_t pairs[3][4] = {{5, 0, 5, 1}, {5, 3, 6, 3}, {0, 0, 1, 0}};
    for (int p = 0; p < 3; p++) {
        rng_stream(&a, pairs[p][0], pairs[p][1]);
        rng_stream(&b, pairs[p][2], pairs[p][3]);
        double sx = 0, sy = 0, sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < M; i++) {
            double x = rng_uniform(&a), y = rng_uniform(&b);
            sx += x, sy += y, sxy += x * y, sxx += x * x, syy += y * y;
        }
        double cov = sxy / M - sx / M * sy / M, r = cov / sqrt((sxx / M - sx * sx / M / M) * (syy / M - sy * sy / M / M));
        check_true(t, fabs(r) < 4 / sqrt((double)M), "streams (%llu, %llu) and (%llu, %llu): correlation %.4f",
                   (unsigned long long)pairs[p][0], (unsigned long long)pairs[p][1], (unsigned long long)pairs[p][2],
                   (unsigned long long)pairs[p][3], r);
    }

    /* extreme ids and seeds are fine */
    rng_stream(&a, UINT64_MAX, UINT64_MAX);
    rng_stream(&b, UINT64_MAX, UINT64_MAX - 1);
    check_true(t, (a.s[0] | a.s[1] | a.s[2] | a.s[3]) != 0 && rng_u64(&a) != rng_u64(&b), "the largest seed and ids");
}

int main(void) {
    Check t;
    check_init(&t, "rng");
    test_pinned(&t);
    test_reproducible(&t);
    test_uniform(&t);
    test_normal(&t);
    test_below(&t);
    test_categorical(&t);
    test_shuffle(&t);
    test_streams(&t);
    test_checked_errors(&t);
    return check_summary(&t);
}
