/* rng.c -- xoshiro256** seeded by splitmix64; see rng.h for the contract. */
#include "rng.h"

#include <math.h>
#include <string.h>

#include "util.h"

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* splitmix64: a Weyl sequence (add the golden-ratio constant) passed through
 * a bijective mixer; consecutive outputs fill the xoshiro state. */
static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void rng_seed(Rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

/* splitmix64 of (seed, stream): mix the seed, fold in the stream id, mix
 * again.  Each step is a bijection of 64-bit words, so for a fixed seed the
 * result is a bijection of the stream id, and for a fixed id one of the seed. */
void rng_stream(Rng *r, uint64_t seed, uint64_t stream) {
    uint64_t x = seed, k = splitmix64(&x) ^ stream;
    rng_seed(r, splitmix64(&k));
}

/* xoshiro256**: output = rotl(s1 * 5, 7) * 9, then the linear xor-shift step. */
uint64_t rng_u64(Rng *r) {
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

uint32_t rng_u32(Rng *r) { return (uint32_t)(rng_u64(r) >> 32); }

/* The top 53 bits as an integer k, times 2^-53: exact, and < 1. */
double rng_uniform(Rng *r) { return (double)(rng_u64(r) >> 11) * 0x1.0p-53; }

float rng_uniform_f32(Rng *r) { return (float)(rng_u64(r) >> 40) * 0x1.0p-24f; }

/* Rejection: of the 2^64 possible draws, throw away the lowest 2^64 mod n of
 * them; what is left is a whole number of copies of [0, n), so x mod n is
 * uniform.  (-n) % n computes 2^64 mod n in 64-bit unsigned arithmetic.  At
 * most half the draws are rejected, so the loop ends after 2 tries on average
 * in the worst case and after 1 almost always. */
uint64_t rng_below(Rng *r, uint64_t n) {
    if (n == 0) die("rng_below: n must be positive (got 0)");
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t x = rng_u64(r);
        if (x >= threshold) return x % n;
    }
}

/* Box-Muller: for independent u1 in (0,1] and u2 in [0,1),
 *     z = sqrt(-2 ln u1) cos(2 pi u2)
 * is a standard normal.  u1 = 1 - uniform keeps log away from 0. */
double rng_normal(Rng *r) {
    double u1 = 1.0 - rng_uniform(r);
    double u2 = rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Categorical by inversion: draw u uniform in [0, S) with S = sum w, return
 * the first i whose running sum w[0] + ... + w[i] exceeds u.  The running
 * sum adds the same numbers in the same order as S, so it ends at exactly S,
 * and since u < S some index always qualifies; an index of weight 0 never
 * does (its running sum equals the previous one, which did not exceed u).
 * The fallback after the loop only guards against rounding in u itself. */
#define CATEGORICAL_BODY(W, N, NAME)                                               \
    if ((N) == 0) die(NAME ": no weights (n = 0)");                                \
    double total = 0;                                                              \
    for (size_t i = 0; i < (N); i++) {                                             \
        double wi = (double)(W)[i];                                                \
        if (!(wi >= 0) || !isfinite(wi))                                           \
            die(NAME ": weight %zu is %g; weights must be finite and >= 0", i, wi); \
        total += wi;                                                               \
    }                                                                              \
    if (!(total > 0) || !isfinite(total))                                          \
        die(NAME ": the %zu weights sum to %g; the sum must be finite and > 0", (size_t)(N), total); \
    double u = rng_uniform(r) * total, run = 0;                                    \
    size_t last = 0;                                                               \
    for (size_t i = 0; i < (N); i++) {                                             \
        run += (double)(W)[i];                                                     \
        if ((W)[i] > 0) last = i;                                                  \
        if (run > u) return i;                                                     \
    }                                                                              \
    return last;

size_t rng_categorical(Rng *r, const double *w, size_t n) { CATEGORICAL_BODY(w, n, "rng_categorical") }

size_t rng_categorical_f32(Rng *r, const float *w, size_t n) {
    CATEGORICAL_BODY(w, n, "rng_categorical_f32")
}

/* Swap two elements of `size` bytes through a small stack buffer. */
static void swap_bytes(unsigned char *a, unsigned char *b, size_t size) {
    unsigned char tmp[64];
    while (size > 0) {
        size_t k = size < sizeof tmp ? size : sizeof tmp;
        memcpy(tmp, a, k);
        memcpy(a, b, k);
        memcpy(b, tmp, k);
        a += k, b += k, size -= k;
    }
}

/* Fisher-Yates: for i = n-1 down to 1, swap element i with a uniformly
 * chosen j in [0, i].  Each of the n! permutations comes out with
 * probability 1/n (for position n-1) x 1/(n-1) x ... = 1/n!. */
void rng_shuffle(Rng *r, void *base, size_t n, size_t size) {
    if (n > 0 && base == NULL) die("rng_shuffle: NULL array of %zu elements", n);
    if (size == 0) die("rng_shuffle: element size must be positive");
    unsigned char *p = base;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)rng_below(r, i);
        if (j != i - 1) swap_bytes(p + (i - 1) * size, p + j * size, size);
    }
}
