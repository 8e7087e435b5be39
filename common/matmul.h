/* matmul.h -- single-precision matrix multiplication on the CPU, BLAS-style.
 *
 *     C = alpha * op(A) op(B) + beta * C,      op(X) = X or X^T
 *
 * Every matrix is row-major: element (i, j) of a matrix with leading
 * dimension ld sits at X[i * ld + j], and ld may exceed the row length (a
 * block of a wider matrix).  After op, A is M x K, B is K x N and C is M x N.
 * So A is stored M x K (lda >= K) or, with trans_a, K x M (lda >= M); B is
 * stored K x N (ldb >= N) or, with trans_b, N x K (ldb >= K); ldc >= N.
 *
 * Semantics follow the reference BLAS sgemm:
 *   - beta == 0 means overwrite: C is not read, so NaN or garbage in C does
 *     not reach the result;
 *   - alpha == 0 or K == 0 means C = beta * C: A and B are not read;
 *   - M == 0 or N == 0 does nothing.
 *
 * matmul_f32 is the fast version: cache blocking with packed panels, an
 * MR x NR register-tiled micro-kernel written with GCC vector extensions
 * (no assembly; 12 x 32 with AVX-512, 6 x 16 with AVX2, 4 x 8 otherwise),
 * threaded with OpenMP over independent parts of C.  It uses as many threads as
 * omp_get_max_threads() reports (set by omp_set_num_threads or
 * OMP_NUM_THREADS), fewer for small products; without OpenMP it runs
 * serially.  The source explains the blocking and its numbers.  Its sums
 * are taken in f32 with fused multiply-adds, k ascending, in blocks of KC
 * terms whose partial sums are added into C.  Each element of C is that same
 * sum in that same order whatever the thread count and whichever tile it
 * falls in, so the result is deterministic and does not depend on the
 * number of threads (tests/test_matmul.c checks bitwise equality).
 *
 * matmul_ref_f32 is the ground truth: the plain triple loop, every dot
 * product accumulated in double and rounded to f32 once at the end.
 *
 * Memory: matmul_f32 allocates its packing buffers per call and per thread
 * (at most KC x NC floats for B, 4 MB, shared out among the threads, and
 * MC x KC floats for A, 144 KB, each) and frees them before returning; the
 * caller owns A, B and C.  C must not overlap A or B.
 *
 * Checked runtime errors (one line via die(), exit status 1): a negative
 * dimension, a leading dimension smaller than the stored row length, a NULL
 * matrix that would be read or written, and out of memory. */
#ifndef MATMUL_H
#define MATMUL_H

#include <stdbool.h>

void matmul_f32(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                const float *B, int ldb, float beta, float *C, int ldc);

void matmul_ref_f32(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                    const float *B, int ldb, float beta, float *C, int ldc);

#endif
