/* matmul.c -- blocked, packed, threaded sgemm; see matmul.h for the contract.
 *
 * The idea (Goto and van de Geijn, 2008; the BLIS papers).  A matrix
 * multiply does 2MNK flops on MN + MK + KN numbers, so each number can be
 * reused about min(M, N, K) times -- but only if it is still in a register
 * or a cache when it is needed again.  The loops are cut into blocks sized
 * to the memory hierarchy, innermost first:
 *
 *   registers  An MR x NR block of C lives in vector registers for a whole
 *              KC-long run of k.  Each step of k loads one row of NR values
 *              of B (NR/VLEN vectors), broadcasts MR values of A, and does
 *              MR * NR/VLEN fused multiply-adds.  With AVX-512 (32 registers
 *              of 16 floats), MR x NR = 12 x 32: 24 accumulators + 2 for B +
 *              1 for A = 27 registers, and 24 FMAs per 14 loads -- enough
 *              independent FMAs to hide their 4-cycle latency on 2 pipes.
 *   L1         The micro-kernel streams a KC x NR sliver of packed B (KC=256:
 *              32 KB) against MC/MR slivers of packed A in turn, so that B
 *              sliver is read from L1 again and again (L1d here: 48 KB).
 *   L2         A block of MC x KC of A (MC=144: 144 KB) is packed once and
 *              reused for every NR-wide sliver of B (L2 here: 1 MB).
 *   L3         A panel of KC x NC of B (NC=4096: 4 MB) is packed once and
 *              reused for every MC-tall block of A.
 *
 * Packing copies a block into the exact order the micro-kernel reads it --
 * contiguous, aligned, zero-padded to whole tiles -- which also makes the
 * four transpose cases the same problem: only the packing routines know
 * about trans_a, trans_b and the leading dimensions.
 *
 * Loops, outermost first (C is M x N, A is M x K, B is K x N after op):
 *
 *   split C into one part per thread (whole rows or whole columns)
 *   in each thread, for its part:
 *     for jc in steps of NC over N:           B panel columns
 *       for pc in steps of KC over K:         the k range of this pass
 *         pack B[pc:pc+KC, jc:jc+NC]
 *         for ic in steps of MC over M:       A block rows
 *           pack A[ic:ic+MC, pc:pc+KC]
 *           for jr in steps of NR:            B sliver stays in L1
 *             for ir in steps of MR:          A sliver from L2
 *               C[ir, jr] tile (+)= A sliver x B sliver    (micro-kernel)
 *
 * The first pass over k applies the caller's beta; later passes add (beta 1).
 * Threads share nothing but the inputs and never wait for each other until
 * the end (see matmul_f32).  Every element of C is the same sum in the same
 * order whatever the thread count, so the result does not depend on it. */
#include "matmul.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#ifdef _OPENMP
#include <omp.h>
#define OMP(directive) _Pragma(#directive)
#else
#define OMP(directive)  /* serial: no pragma, so no unknown-pragma warning */
#endif

/* ---- Tile and block sizes ------------------------------------------------------- */

#if defined(__AVX512F__)
#define VLEN 16  /* floats per vector register */
#define MR 12
#elif defined(__AVX__)
#define VLEN 8
#define MR 6
#else
#define VLEN 4
#define MR 4
#endif
#define NV 2               /* vectors per row of the tile */
#define NR (NV * VLEN)     /* columns of the tile */

#ifndef MC
#define MC 144             /* rows of an A block (a multiple of MR) */
#endif
#ifndef KC
#define KC 256             /* depth of a pass over k */
#endif
#ifndef NC
#define NC 4096            /* columns of a B panel (a multiple of NR) */
#endif

/* Small products are not worth waking threads for (flops below this). */
#define PARALLEL_MIN_FLOPS (1 << 22)

typedef float vfloat __attribute__((vector_size(VLEN * sizeof(float))));
/* The same vector as it is loaded from and stored to float arrays, which it
 * is allowed to alias: vfloat_mem at any address, vfloat_aligned at a
 * multiple of its size (the packed panels and the tile buffer). */
typedef float vfloat_mem __attribute__((vector_size(VLEN * sizeof(float)), aligned(4), may_alias));
typedef float vfloat_aligned __attribute__((vector_size(VLEN * sizeof(float)), may_alias));

/* ISO C mode (-std=c11) turns off contracting a * b + c into one fused
 * multiply-add; the micro-kernel asks for it back, so that its inner loop
 * compiles to vfmadd instructions. */
#if defined(__clang__)
#define FMA_CONTRACT
#define FMA_CONTRACT_BODY _Pragma("clang fp contract(fast)")
#elif defined(__GNUC__)
#define FMA_CONTRACT __attribute__((optimize("fp-contract=fast")))
#define FMA_CONTRACT_BODY
#else
#define FMA_CONTRACT
#define FMA_CONTRACT_BODY
#endif

static int imin(int a, int b) { return a < b ? a : b; }
static int imax(int a, int b) { return a > b ? a : b; }
/* x in every lane.  (Written x - 0 rather than 0 + x: adding +0 is not an
 * identity for x = -0, so the compiler would have to keep the add.) */
static inline vfloat splat(float x) { return x - (vfloat){0}; }
/* ceil(x / m) and x rounded up to a multiple of m, for x >= 0, m > 0, without
 * forming x + m - 1 (which could overflow for x near INT_MAX). */
static int ceil_div(int x, int m) { return x == 0 ? 0 : (x - 1) / m + 1; }
static int round_up(int x, int m) { return ceil_div(x, m) * m; }

/* ---- The micro-kernel -------------------------------------------------------------- */

/* One MR x NR tile:  tile[i][j] = sum_k Ap[k][i] * Bp[k][j]  over kc steps,
 * each term added with one fused multiply-add, k in order.  Ap holds kc
 * groups of MR values (a column of the A tile per k), Bp holds kc rows of NR
 * values; Bp and tile are 64-byte aligned. */
FMA_CONTRACT
static void micro_kernel(int kc, const float *restrict Ap, const float *restrict Bp, float *restrict tile) {
    FMA_CONTRACT_BODY
    vfloat acc[MR][NV];
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
        for (int v = 0; v < NV; v++) acc[i][v] = (vfloat){0};
    for (int k = 0; k < kc; k++, Ap += MR, Bp += NR) {
        vfloat b[NV];
        for (int v = 0; v < NV; v++) b[v] = *(const vfloat_aligned *)(Bp + v * VLEN);
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            vfloat a = splat(Ap[i]);
            for (int v = 0; v < NV; v++) acc[i][v] += a * b[v];
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
        for (int v = 0; v < NV; v++) *(vfloat_aligned *)(tile + i * NR + v * VLEN) = acc[i][v];
}

/* C[i][j] = alpha * tile[i][j] + beta * C[i][j]  for the mr x nr corner of the
 * tile (C not read when beta == 0).  This is compiled without contraction, so
 * a full tile (vectors) and a tile cut short by the edge of C (scalars) round
 * identically: alpha * t, beta * c and their sum, each rounded once.  Which
 * tile an element of C falls in depends on the blocking and the thread
 * count; its value does not. */
static void write_tile(const float *tile, int mr, int nr, float *C, int ldc, float alpha, float beta) {
    if (mr == MR && nr == NR) {
        for (int i = 0; i < MR; i++) {
            for (int v = 0; v < NV; v++) {
                vfloat_mem *c = (vfloat_mem *)(C + (size_t)i * ldc + v * VLEN);
                vfloat r = alpha * *(const vfloat_aligned *)(tile + i * NR + v * VLEN);
                *c = beta == 0 ? r : r + beta * (vfloat)*c;
            }
        }
        return;
    }
    for (int i = 0; i < mr; i++) {
        float *c = C + (size_t)i * ldc;
        for (int j = 0; j < nr; j++) {
            float r = alpha * tile[i * NR + j];
            c[j] = beta == 0 ? r : r + beta * c[j];
        }
    }
}

/* ---- Packing ------------------------------------------------------------------------ */

/* Pack rows [i0, i0+mc) x columns [p0, p0+kc) of op(A) into slivers of MR
 * rows: sliver s holds, for each k, the MR values op(A)[i0 + s*MR + r][p0 + k],
 * r = 0..MR-1, with rows past mc set to zero. */
static void pack_a(bool trans_a, const float *A, int lda, int i0, int mc, int p0, int kc, float *Ap) {
    for (int s = 0; s * MR < mc; s++, Ap += (size_t)kc * MR) {
        int rows = imin(MR, mc - s * MR);
        if (rows < MR) memset(Ap, 0, sizeof(float) * (size_t)kc * MR);
        if (trans_a) {  /* op(A)[i][k] = A[k][i]: a row of A is a run of i */
            for (int k = 0; k < kc; k++) {
                const float *src = A + (size_t)(p0 + k) * lda + i0 + s * MR;
                for (int r = 0; r < rows; r++) Ap[k * MR + r] = src[r];
            }
        } else {        /* op(A)[i][k] = A[i][k]: a row of A is a run of k */
            for (int r = 0; r < rows; r++) {
                const float *src = A + (size_t)(i0 + s * MR + r) * lda + p0;
                for (int k = 0; k < kc; k++) Ap[k * MR + r] = src[k];
            }
        }
    }
}

/* Pack sliver t of B: rows [p0, p0+kc) x columns [j0, j0+NR) of op(B), row
 * by row, columns past nc (the panel's width) set to zero. */
static void pack_b_sliver(bool trans_b, const float *B, int ldb, int p0, int kc, int j0, int nc, int t,
                          float *Bp) {
    float *dst = Bp + (size_t)t * kc * NR;
    int c0 = t * NR, cols = imin(NR, nc - c0);
    if (cols < NR) memset(dst, 0, sizeof(float) * (size_t)kc * NR);
    if (trans_b) {  /* op(B)[k][j] = B[j][k] */
        for (int c = 0; c < cols; c++) {
            const float *src = B + (size_t)(j0 + c0 + c) * ldb + p0;
            for (int k = 0; k < kc; k++) dst[k * NR + c] = src[k];
        }
    } else {
        for (int k = 0; k < kc; k++) {
            const float *src = B + (size_t)(p0 + k) * ldb + j0 + c0;
            for (int c = 0; c < cols; c++) dst[k * NR + c] = src[c];
        }
    }
}

/* ---- The macro-kernel: one block of C against the packed panels ---------------------- */

/* C[0:mc, 0:nc] (+)= packed A block x packed B panel, tile by tile: each B
 * sliver outside (it stays in L1), the A slivers inside. */
static void macro_kernel(int mc, int nc, int kc, const float *Ap, const float *Bp, float *C, int ldc, float alpha,
                         float beta) {
    _Alignas(64) float tile[MR * NR];
    for (int t = 0; t * NR < nc; t++) {
        int nr = imin(NR, nc - t * NR);
        const float *b = Bp + (size_t)t * kc * NR;
        for (int s = 0; s * MR < mc; s++) {
            int mr = imin(MR, mc - s * MR);
            micro_kernel(kc, Ap + (size_t)s * kc * MR, b, tile);
            write_tile(tile, mr, nr, C + (size_t)s * MR * ldc + (size_t)t * NR, ldc, alpha, beta);
        }
    }
}

/* ---- One thread's product ---------------------------------------------------------------- */

static float *aligned_floats(size_t n) {
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    float *p = aligned_alloc(64, bytes ? bytes : 64);
    if (!p) die("matmul_f32: out of memory (asked for %zu bytes of packing space)", bytes);
    return p;
}

/* Rows [i0, i1) x columns [j0, j1) of C, by the loops described at the top,
 * with B panels nc_block columns wide.  Packing space is this call's own. */
static void gemm_part(bool trans_a, bool trans_b, int i0, int i1, int j0, int j1, int K, float alpha,
                      const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc, int nc_block) {
    int kc_max = imin(K, KC);
    float *Ap = aligned_floats((size_t)round_up(imin(i1 - i0, MC), MR) * kc_max);
    float *Bp = aligned_floats((size_t)round_up(imin(j1 - j0, nc_block), NR) * kc_max);
    for (int jc = j0, nc; jc < j1; jc += nc) {
        nc = imin(nc_block, j1 - jc);
        for (int pc = 0, kc; pc < K; pc += kc) {
            kc = imin(KC, K - pc);
            float beta_pass = pc == 0 ? beta : 1.0f;
            for (int t = 0; t * NR < nc; t++) pack_b_sliver(trans_b, B, ldb, pc, kc, jc, nc, t, Bp);
            for (int ic = i0, mc; ic < i1; ic += mc) {
                mc = imin(MC, i1 - ic);
                pack_a(trans_a, A, lda, ic, mc, pc, kc, Ap);
                macro_kernel(mc, nc, kc, Ap, Bp, C + (size_t)ic * ldc + jc, ldc, alpha, beta_pass);
            }
        }
    }
    free(Ap);
    free(Bp);
}

/* ---- Driver ---------------------------------------------------------------------------- */

/* C = beta * C (overwrite with 0 when beta == 0). */
static void scale_c(int M, int N, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++) {
        float *c = C + (size_t)i * ldc;
        for (int j = 0; j < N; j++) c[j] = beta == 0 ? 0.0f : beta * c[j];
    }
}

static void check_args(const char *who, bool trans_a, bool trans_b, int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, const float *C, int ldc, float alpha) {
    if (M < 0 || N < 0 || K < 0) die("%s: negative dimension (M=%d, N=%d, K=%d)", who, M, N, K);
    int a_cols = trans_a ? M : K, b_cols = trans_b ? K : N;
    if (lda < (a_cols > 1 ? a_cols : 1))
        die("%s: lda=%d is less than the %d columns of A as stored%s", who, lda, a_cols, trans_a ? " (trans_a)" : "");
    if (ldb < (b_cols > 1 ? b_cols : 1))
        die("%s: ldb=%d is less than the %d columns of B as stored%s", who, ldb, b_cols, trans_b ? " (trans_b)" : "");
    if (ldc < (N > 1 ? N : 1)) die("%s: ldc=%d is less than N=%d", who, ldc, N);
    if (M > 0 && N > 0 && !C) die("%s: C is NULL", who);
    if (M > 0 && N > 0 && K > 0 && alpha != 0 && (!A || !B)) die("%s: %s is NULL", who, A ? "B" : "A");
}

/* Thread p's share of C: the dimension with more tiles is cut into nparts
 * runs of whole tiles (equal but for the last), the other is kept whole. */
typedef struct { int i0, i1, j0, j1; } Part;

static Part part_of(int p, int nparts, int M, int N) {
    Part q = {0, M, 0, N};
    int row_tiles = ceil_div(M, MR), col_tiles = ceil_div(N, NR);
    if (row_tiles >= col_tiles) {
        long long per = (long long)ceil_div(row_tiles, nparts) * MR;
        q.i0 = (int)(p * per < M ? p * per : M), q.i1 = (int)(q.i0 + per < M ? q.i0 + per : M);
    } else {
        long long per = (long long)ceil_div(col_tiles, nparts) * NR;
        q.j0 = (int)(p * per < N ? p * per : N), q.j1 = (int)(q.j0 + per < N ? q.j0 + per : N);
    }
    return q;
}

/* Threads: C is cut into one independent product per thread (part_of), each
 * packing its own panels, so that the threads never wait for each other
 * until the end -- no barrier per panel, which matters on a machine where
 * other programs compete for the cores.  The cost is that each thread packs
 * all of the operand that is not cut: K x N (or M x K) copies against
 * 2MNK / threads flops, well under 1% for any product big enough to thread.
 * When rows are cut, every thread has its own B panel, narrowed (nc_block)
 * so that together they take about the cache of one. */
void matmul_f32(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                const float *B, int ldb, float beta, float *C, int ldc) {
    check_args("matmul_f32", trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc, alpha);
    if (M == 0 || N == 0) return;
    if (alpha == 0 || K == 0) { scale_c(M, N, beta, C, ldc); return; }
    int nthreads = 1;
#ifdef _OPENMP
    if (2.0 * M * N * K >= PARALLEL_MIN_FLOPS) nthreads = omp_get_max_threads();
#endif
    int nc_block = round_up(imin(NC, imax(NC / nthreads, 8 * NR)), NR);
    OMP(omp parallel for num_threads(nthreads) schedule(static, 1))
    for (int p = 0; p < nthreads; p++) {
        Part q = part_of(p, nthreads, M, N);
        if (q.i0 < q.i1 && q.j0 < q.j1)
            gemm_part(trans_a, trans_b, q.i0, q.i1, q.j0, q.j1, K, alpha, A, lda, B, ldb, beta, C, ldc, nc_block);
    }
}

/* ---- The reference ---------------------------------------------------------------------- */

/* C[i][j] = alpha * sum_k op(A)[i][k] op(B)[k][j] + beta * C[i][j], the sum in
 * double, one rounding to f32 at the end. */
void matmul_ref_f32(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                    const float *B, int ldb, float beta, float *C, int ldc) {
    check_args("matmul_ref_f32", trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc, alpha);
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double sum = 0;
            for (int k = 0; alpha != 0 && k < K; k++) {
                double a = trans_a ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                double b = trans_b ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                sum += a * b;
            }
            float *c = C + (size_t)i * ldc + j;
            double r = (double)alpha * sum;
            *c = (float)(beta == 0 ? r : r + (double)beta * *c);
        }
    }
}
