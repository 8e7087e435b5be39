/* rng.h -- the one random number generator of the book.
 *
 * What it is.  xoshiro256** (Blackman and Vigna, 2018): 256 bits of state,
 * period 2^256 - 1, fast, and good enough for every statistical use in the
 * book (initialization, dropout, sampling, shuffling).  It is not a
 * cryptographic generator.  The state is seeded from one 64-bit number by
 * running splitmix64 four times, the seeding its authors recommend; that also
 * guarantees the state is never all zeros.
 *
 * Promise.  The same seed gives the same stream on every machine and with
 * every compiler: rng_u64, rng_u32, rng_uniform, rng_uniform_f32, rng_below,
 * rng_categorical* and rng_shuffle use only integer arithmetic and exact
 * conversions, so their outputs are bit-identical everywhere.  rng_normal
 * calls log, sqrt and cos from the C library; it consumes the stream
 * identically everywhere, but its last bit may differ between two C
 * libraries whose log or cos round differently.
 *
 * Streams.  One run needs several independent streams from its one --seed:
 * the initialization, the batches, the dropout masks, each sweep point's
 * model.  rng_stream(&r, seed, id) seeds r from splitmix64 of both numbers
 * (seed mixed, id folded in, mixed again), so that stream `id` of one seed
 * is unrelated to every other (seed, id) pair: with ad-hoc schemes such as
 * seed + 1 for the batches, seed 1's batch stream would be seed 2's
 * initialization stream.  For a fixed seed, distinct ids start from
 * distinct states, and for a fixed id, distinct seeds do.  A chapter names
 * its ids once (enum { STREAM_INIT = 1, STREAM_BATCHES, ... }); an id may
 * also be computed (a sweep point's index).
 *
 * State.  An Rng is plain data with no hidden parts and no global state:
 * copy the struct to save a stream (a checkpoint stores its four words) and
 * copy it back to resume exactly where it was.  Two Rng values never share
 * anything, so each thread may own one.
 *
 * Checked runtime errors (one line via die(), exit status 1):
 *   rng_below with n == 0;
 *   rng_categorical* with n == 0, a weight that is negative or not finite,
 *   or weights whose sum is zero or not finite;
 *   rng_shuffle with a NULL base and n > 0, or size == 0.
 * Passing a NULL Rng is a programming error and is not checked. */
#ifndef RNG_H
#define RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct { uint64_t s[4]; } Rng;  /* plain data: copy it to save/restore */

/* Set the state from a 64-bit seed (any value, 0 included). */
void rng_seed(Rng *r, uint64_t seed);
/* Set the state for stream `stream` of `seed` (see Streams above). */
void rng_stream(Rng *r, uint64_t seed, uint64_t stream);
/* The next 64 random bits; every other function is built on this one. */
uint64_t rng_u64(Rng *r);
/* The high 32 bits of rng_u64 (the high bits are the best ones). */
uint32_t rng_u32(Rng *r);
/* Uniform in [0, 1): k / 2^53 for a random 53-bit k (one rng_u64). */
double rng_uniform(Rng *r);
/* Uniform in [0, 1): k / 2^24 for a random 24-bit k (one rng_u64). */
float rng_uniform_f32(Rng *r);
/* Uniform integer in [0, n), exactly unbiased (rejection), n > 0. */
uint64_t rng_below(Rng *r, uint64_t n);
/* Standard normal (mean 0, variance 1) by Box-Muller; two rng_u64 per call,
 * the second Box-Muller value is discarded so that the state stays plain. */
double rng_normal(Rng *r);
/* Index i with probability w[i] / sum(w); one rng_u64 per call.  Indices
 * with weight 0 are never returned. */
size_t rng_categorical(Rng *r, const double *w, size_t n);
size_t rng_categorical_f32(Rng *r, const float *w, size_t n);
/* Shuffle n elements of `size` bytes each, in place (Fisher-Yates): every
 * permutation equally likely; n - 1 calls of rng_below. */
void rng_shuffle(Rng *r, void *base, size_t n, size_t size);

#endif
