/* flash.cu -- flash attention: attention computed tile by tile with an
 * online softmax, so the T x T matrix of scores never exists in device
 * memory.  Chapter 12 (chapters/12-memopt/memopt.nw) derives and presents
 * every line of this file and tangles it (build/12-memopt/flash.cu.in);
 * tests/test_ch12.c checks that this copy is byte-identical.  Edit the
 * chapter, then copy the tangled file here.  See gpu.h for the contract.
 *
 * The versions, each a step further:
 *   version 1  one thread per row, f32 arithmetic on CUDA cores, K and V
 *              (or Q and dO) tiles in shared memory: the algorithm, plainly;
 *   version 2  tensor cores (mma.sync m16n8k16, f32 accumulation), a warp
 *              per 16 rows, tiles brought in by cp.async, fragments read
 *              by ldmatrix, the probabilities kept in registers;
 *   version 3  the forward pass of version 2 with 32 rows per warp (its
 *              backward pass is version 2's);
 *   version 4  version 3's forward pass; a backward pass with eight warps
 *              (128 keys) a block, the next query tile loaded while this
 *              one is computed, dQ added two floats at a time;
 *   version 5  version 4's backward pass; a forward pass on Hopper's
 *              warpgroup instructions (wgmma, sm_90a), 64 query rows a
 *              warpgroup, two warpgroups a block (correct on the H200, but
 *              no faster there than version 3's forward pass);
 *   version 6  version 5 with the softmax overlapping the products (wait_group
 *              1), three key/value stages (correct on the H200; no faster);
 *   version 7  version 3's forward pass; a backward pass on wgmma, two warpgroups,
 *              dS^T by stmatrix for dQ (the GPT's; version 13's is faster);
 *   version 8  version 7's backward pass; version 6's forward pass with
 *              tiles of 128 keys and products 128 columns wide (correct on
 *              the H200; slower than version 3's forward pass);
 *   version 9  version 8 with the loads given to a warpgroup of their own, which
 *              signals the computing warpgroups through mbarriers (correct on
 *              the H200, where it was our fastest forward pass at d 128);
 *   version 10 version 9 with its producer's loads made by one thread
 *              through TMA (cp.async.bulk.tensor), tiles laid out 16-byte
 *              column by column (correct on an H100);
 *   version 11 version 10 with boxes of 64 columns, rows of 128 bytes, in the
 *              128-byte swizzle (correct on an H100);
 *   version 12 version 11 with fewer instructions in the softmax: masks on the
 *              edge tiles only, the scale inside the exponential's FFMA,
 *              ex2.approx (correct on an H100; our fastest forward pass);
 *   version 13 version 12's forward pass; version 7's backward pass with
 *              version 12's cuts (correct on an H100);
 *   version 14 version 12's forward pass with its two computing warpgroups
 *              taking turns at the tensor cores; version 13's backward pass
 *              with its query tiles swizzled;
 *   version 15 version 14 with the first and last turns given at the issue
 *              of their products, not after; version 14's backward pass;
 *   version 16 version 15 with three computing warpgroups, 192 query rows a
 *              block, at d 64 (version 15 at d 128);
 *   version 17 version 15's forward pass; at d 64 version 14's backward pass
 *              with its query tiles requested two ahead into three stages and
 *              the old dK and dV rows copied in at the start (version 14's at
 *              d 128);
 *   version 18 version 17 with the backward pass's blocks numbered key block
 *              first, so that a head's key blocks run side by side (at d 128
 *              on version 14's backward kernel);
 *   version 19 version 17 with each warpgroup's part of dQ staged in shared
 *              memory and added into the f32 buffer by one bulk reduction
 *              (TMA) a tile, not by atomics (at d 128 on version 14's
 *              backward kernel);
 *   version 20 version 19 with the backward pass's blocks numbered in groups
 *              of heads, key block first within a group, the group's size
 *              chosen by a model of the schedule within a third of the L2
 *              cache;
 *   version 21 version 20 with a persistent forward pass: a block an SM,
 *              each taking query tiles in turn, the longest first, its
 *              producer loading the next tile's queries (by TMA) and keys
 *              while the consumers finish the last;
 *   version 22 version 21 with a head's query tiles side by side (the
 *              heads one after another), so that the tiles running at
 *              once share few heads' keys and values in the L2 cache;
 *   version 23 version 22 with the kernels before and after the backward
 *              pass's main kernel made two of 16-byte loads: D_i computed
 *              and the f32 buffer of dQ cleared in one, dQ finished in
 *              the other;
 *   version 24 version 23 with a persistent backward pass at d 64: a block
 *              an SM taking key blocks from a counter, the next one's
 *              keys, values and first query tiles copied under the end
 *              of the last;
 *   version 25 version 23 (not 24) with each warpgroup's own dQ over
 *              its 64 keys at d 64 (no faster);
 *   version 26 version 25 with the query tiles, dO, lse and D copied by
 *              TMA from a producer warpgroup, on mbarriers;
 *   version 27 version 26 with the two computing warpgroups taking turns
 *              to issue their products (slower). */
/* CUtensorMap, and the type of cuTensorMapEncodeTiled (versions 10 on) */
#include <cuda.h>
#include <cudaTypedefs.h>
#include "internal.cuh"
/* ---- What every version shares --------------------------------------------------- */

#define LOG2E 1.4426950408889634f

static void flash_check(const char *who, DType dt, int version, int B, int NH, int T, int hs) {
    if (B < 1 || NH < 1 || T < 1) die("%s: B = %d, NH = %d, T = %d must be positive", who, B, NH, T);
    if (hs != 64 && hs != 128) die("%s: head size %d is not supported (64 or 128)", who, hs);
    if (version < 1 || version > 27) die("%s: version %d does not exist (1 to 27)", who, version);
    if (version >= 2 && dt != DT_BF16 && dt != DT_F16)
        die("%s: versions 2 to 27 (tensor cores) take bf16 or f16, not %s", who, dtype_name(dt));
    if ((long long)B * NH > 65535) die("%s: B * NH = %lld is more than 65535", who, (long long)B * NH);
}

/* ---- Version 1: one thread per query row -------------------------------------------- */

#define V1_BR 64    /* query rows per block: one per thread */
#define V1_BC 32    /* keys per tile in shared memory */

/* rows [row0, row0 + V1_BC) of a and b (row strides lda, ldb) into A and B as
 * f32, the threads of the block sharing the work; rows past Tn become zeros */
template <typename T, int D>
__device__ __forceinline__ void load_rows_f32(float (*A)[D], float (*B)[D], const T *a, const T *b, long long lda,
                                              long long ldb, int row0, int Tn) {
    for (int x = threadIdx.x; x < V1_BC * D; x += V1_BR) {
        int r = x / D, d = x % D, j = row0 + r;
        A[r][d] = j < Tn ? tof(a[j * lda + d]) : 0;
        B[r][d] = j < Tn ? tof(b[j * ldb + d]) : 0;
    }
}

template <typename T, int D>
__global__ void __launch_bounds__(V1_BR) flash1_forward_kernel(T *o, float *lse, const T *q, const T *k, const T *v,
                                                               int NH, int Tn, FlashLayout in, FlashLayout out,
                                                               float scale, bool causal) {
    __shared__ float Ks[V1_BC][D], Vs[V1_BC][D];
    int bh = blockIdx.y, b = bh / NH, h = bh % NH, i = blockIdx.x * V1_BR + threadIdx.x;
    const T *qb = q + b * in.b + h * in.h, *kb = k + b * in.b + h * in.h, *vb = v + b * in.b + h * in.h;
    float qi[D], acc[D], m = -INFINITY, l = 0;
    for (int d = 0; d < D; d++) qi[d] = i < Tn ? tof(qb[i * in.t + d]) * scale : 0, acc[d] = 0;
    int kv_end = causal ? min(Tn, (blockIdx.x + 1) * V1_BR) : Tn;
    for (int j0 = 0; j0 < kv_end; j0 += V1_BC) {
        __syncthreads();                      /* everyone is done with the last tile */
        load_rows_f32<T, D>(Ks, Vs, kb, vb, in.t, in.t, j0, Tn);
        __syncthreads();
        int jn = min(V1_BC, Tn - j0);
        if (causal) jn = min(jn, i - j0 + 1);
        for (int jj = 0; i < Tn && jj < jn; jj++) {
            float s = 0;
            for (int d = 0; d < D; d++) s += qi[d] * Ks[jj][d];
            float mnew = fmaxf(m, s), alpha = __expf(m - mnew), p = __expf(s - mnew);
            l = l * alpha + p;
            for (int d = 0; d < D; d++) acc[d] = acc[d] * alpha + p * Vs[jj][d];
            m = mnew;
        }
    }
    if (i >= Tn) return;
    T *ob = o + b * out.b + h * out.h + i * out.t;
    for (int d = 0; d < D; d++) ob[d] = fromf<T>(acc[d] / l);
    lse[(size_t)bh * Tn + i] = m + logf(l);
}

/* dd[row] = sum_d dO[row, d] O[row, d]: a warp per row */
template <typename T>
__global__ void flash_dot_kernel(float *dd, const T *dout, const T *o, int NH, int Tn, int hs, FlashLayout out,
                                 int rows) {
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= rows) return;
    int bh = row / Tn, i = row % Tn, b = bh / NH, h = bh % NH;
    size_t off = b * out.b + h * out.h + i * out.t;
    float s = 0;
    for (int d = lane; d < hs; d += 32) s += tof(dout[off + d]) * tof(o[off + d]);
    s = warp_sum(s);
    if (lane == 0) dd[row] = s;
}

/* dQ: one thread per query row, K and V tiles in shared memory */
template <typename T, int D>
__global__ void __launch_bounds__(V1_BR) flash1_dq_kernel(T *dq, const T *dout, const T *q, const T *k, const T *v,
                                                          const float *lse, const float *dd, int NH, int Tn,
                                                          FlashLayout in, FlashLayout out, float scale, bool causal) {
    __shared__ float Ks[V1_BC][D], Vs[V1_BC][D];
    int bh = blockIdx.y, b = bh / NH, h = bh % NH, i = blockIdx.x * V1_BR + threadIdx.x;
    size_t ib = b * in.b + h * in.h, ob = b * out.b + h * out.h;
    float qi[D], doi[D], acc[D], li = 0, di = 0;
    for (int d = 0; d < D; d++) {
        qi[d] = i < Tn ? tof(q[ib + i * in.t + d]) * scale : 0;
        doi[d] = i < Tn ? tof(dout[ob + i * out.t + d]) : 0;
        acc[d] = 0;
    }
    if (i < Tn) li = lse[(size_t)bh * Tn + i], di = dd[(size_t)bh * Tn + i];
    int kv_end = causal ? min(Tn, (blockIdx.x + 1) * V1_BR) : Tn;
    for (int j0 = 0; j0 < kv_end; j0 += V1_BC) {
        __syncthreads();
        load_rows_f32<T, D>(Ks, Vs, k + ib, v + ib, in.t, in.t, j0, Tn);
        __syncthreads();
        int jn = min(V1_BC, Tn - j0);
        if (causal) jn = min(jn, i - j0 + 1);
        for (int jj = 0; i < Tn && jj < jn; jj++) {
            float s = 0, dp = 0;
            for (int d = 0; d < D; d++) s += qi[d] * Ks[jj][d], dp += doi[d] * Vs[jj][d];
            float ds = __expf(s - li) * (dp - di);
            for (int d = 0; d < D; d++) acc[d] += ds * Ks[jj][d];
        }
    }
    if (i >= Tn) return;
    for (int d = 0; d < D; d++) {
        T *p = dq + ib + i * in.t + d;
        *p = fromf<T>(tof(*p) + acc[d] * scale);
    }
}

/* dK and dV: one thread per key row, Q and dO tiles in shared memory */
template <typename T, int D>
__global__ void __launch_bounds__(V1_BR) flash1_dkv_kernel(T *dk, T *dv, const T *dout, const T *q, const T *k,
                                                           const T *v, const float *lse, const float *dd, int NH,
                                                           int Tn, FlashLayout in, FlashLayout out, float scale,
                                                           bool causal) {
    __shared__ float Qs[V1_BC][D], dOs[V1_BC][D], ls[V1_BC], ds_[V1_BC];
    int bh = blockIdx.y, b = bh / NH, h = bh % NH, j = blockIdx.x * V1_BR + threadIdx.x;
    size_t ib = b * in.b + h * in.h, ob = b * out.b + h * out.h;
    float kj[D], vj[D], dkj[D], dvj[D];
    for (int d = 0; d < D; d++) {
        kj[d] = j < Tn ? tof(k[ib + j * in.t + d]) * scale : 0;
        vj[d] = j < Tn ? tof(v[ib + j * in.t + d]) : 0;
        dkj[d] = dvj[d] = 0;
    }
    int q_begin = causal ? blockIdx.x * V1_BR / V1_BC * V1_BC : 0;
    for (int i0 = q_begin; i0 < Tn; i0 += V1_BC) {
        __syncthreads();
        load_rows_f32<T, D>(Qs, dOs, q + ib, dout + ob, in.t, out.t, i0, Tn);
        for (int r = threadIdx.x; r < V1_BC; r += V1_BR) {
            ls[r] = i0 + r < Tn ? lse[(size_t)bh * Tn + i0 + r] : 0;
            ds_[r] = i0 + r < Tn ? dd[(size_t)bh * Tn + i0 + r] : 0;
        }
        __syncthreads();
        int ii = causal ? max(0, j - i0) : 0, in_ = min(V1_BC, Tn - i0);
        for (; j < Tn && ii < in_; ii++) {
            float s = 0, dp = 0;
            for (int d = 0; d < D; d++) s += Qs[ii][d] * kj[d], dp += dOs[ii][d] * vj[d];
            float p = __expf(s - ls[ii]), ds = p * (dp - ds_[ii]);
            for (int d = 0; d < D; d++) dvj[d] += p * dOs[ii][d], dkj[d] += ds * Qs[ii][d];
        }
    }
    if (j >= Tn) return;
    for (int d = 0; d < D; d++) {
        T *pk = dk + ib + j * in.t + d, *pv = dv + ib + j * in.t + d;
        *pk = fromf<T>(tof(*pk) + dkj[d] * scale);
        *pv = fromf<T>(tof(*pv) + dvj[d]);
    }
}

/* ---- Version 2: tensor cores ----------------------------------------------------------- */

/* The instructions, each one line of PTX. */
__device__ __forceinline__ uint32_t smem_addr(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }

/* 16 bytes global -> shared without passing through registers; zeros when !valid */
__device__ __forceinline__ void cp_async16(void *dst, const void *src, bool valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src),
                 "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

/* four 8x8 matrices of 16-bit values from shared memory, as mma fragments */
__device__ __forceinline__ void ldsm_x4(uint32_t r[4], const void *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldsm_x4_t(uint32_t r[4], const void *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(smem_addr(p)));
}

/* This lane's row address for an ldmatrix.x4 of the 16x16 piece at (r0, c0)
 * of a tile with ld elements per row: its quarters taken down the columns
 * (top left, bottom left, top right, bottom right) or across the rows. */
template <typename T> __device__ __forceinline__ const T *quarters_down(const T *t, int ld, int r0, int c0) {
    int lane = threadIdx.x % 32;
    return t + (r0 + lane % 16) * ld + c0 + lane / 16 * 8;
}
template <typename T> __device__ __forceinline__ const T *quarters_across(const T *t, int ld, int r0, int c0) {
    int lane = threadIdx.x % 32;
    return t + (r0 + lane % 8 + lane / 16 * 8) * ld + c0 + (lane / 8 % 2) * 8;
}

/* c (16x8, f32) += a (16x16) b (16x8) */
template <typename T> __device__ __forceinline__ void mma16816(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1);
template <> __device__ __forceinline__ void mma16816<bf16>(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                 "{%0, %1, %2, %3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <> __device__ __forceinline__ void mma16816<f16>(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                 "{%0, %1, %2, %3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* two floats rounded to T, packed into one register (lo in the low half) */
template <typename T> __device__ __forceinline__ uint32_t pack2(float lo, float hi);
template <> __device__ __forceinline__ uint32_t pack2<bf16>(float lo, float hi) {
    __nv_bfloat162 x = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&x);
}
template <> __device__ __forceinline__ uint32_t pack2<f16>(float lo, float hi) {
    __half2 x = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&x);
}

/* rows [row0, row0 + R) of a head (row stride ld elements, D per row) into
 * shared memory with padded rows of LD elements; rows past Tn become zeros */
template <typename T, int D, int LD, int R, int THREADS>
__device__ __forceinline__ void load_tile(T *dst, const T *src, long long ld, int row0, int Tn) {
    constexpr int CHUNKS = D / 8;             /* 16-byte pieces per row */
    for (int c = threadIdx.x; c < R * CHUNKS; c += THREADS) {
        int r = c / CHUNKS, x = c % CHUNKS, row = row0 + r;
        bool ok = row < Tn;
        cp_async16(dst + r * LD + x * 8, ok ? src + row * ld + x * 8 : src, ok);
    }
}

#define V2_BC 64   /* keys per tile */

/* The forward pass.  NW warps, each owning MT tiles of 16 query rows (BR =
 * 16 NW MT); keys in tiles of 64, two tiles in flight.  Scores in base-2
 * units: s2 = s log2 e.  Version 2 is MT = 1; version 3, MT = 2, where each
 * key and value fragment read from shared memory feeds twice the products.
 * QREG: the warp's query fragments stay in registers (else they are read
 * again from shared memory for every tile, to leave room for the rest). */
template <typename T, int D, int NW, int MT, bool QREG>
__global__ void __launch_bounds__(NW * 32) flash2_forward_kernel(T *o, float *lse, const T *q, const T *k, const T *v,
                                                                 int NH, int Tn, FlashLayout in, FlashLayout out,
                                                                 float scale, bool causal) {
    constexpr int BR = 16 * NW * MT, BC = V2_BC, LD = D + 8, THREADS = NW * 32, QK = QREG ? D / 16 : 1;
    extern __shared__ __align__(16) unsigned char smem[];
    T *Qs = reinterpret_cast<T *>(smem), *Ks = Qs + BR * LD, *Vs = Ks + 2 * BC * LD;
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, tig = lane % 4;
    int nqb = (Tn + BR - 1) / BR, qb = causal ? nqb - 1 - (int)blockIdx.x : (int)blockIdx.x;
    int bh = blockIdx.y, b = bh / NH, h = bh % NH, q0 = qb * BR, wrow = warp * 16 * MT;
    const T *qg = q + b * in.b + h * in.h, *kg = k + b * in.b + h * in.h, *vg = v + b * in.b + h * in.h;
    int nkv = (Tn + BC - 1) / BC;
    if (causal) nkv = min(nkv, (q0 + BR - 1) / BC + 1);
    load_tile<T, D, LD, BR, THREADS>(Qs, qg, in.t, q0, Tn);
    load_tile<T, D, LD, BC, THREADS>(Ks, kg, in.t, 0, Tn);
    load_tile<T, D, LD, BC, THREADS>(Vs, vg, in.t, 0, Tn);
    cp_async_commit();

    uint32_t qf[MT][QK][4];                 /* this warp's query rows as A fragments */
    float acc[MT][D / 8][4] = {};           /* O, unnormalized: 16 rows x D per tile, in D/8 tiles of 16x8 */
    float m[MT][2], l[MT][2];               /* running maxima (base 2) and sums of rows g and g + 8 */
    for (int mt = 0; mt < MT; mt++) m[mt][0] = m[mt][1] = -INFINITY, l[mt][0] = l[mt][1] = 0;
    float sl = scale * LOG2E;
    for (int j = 0; j < nkv; j++) {
        const T *Kj = Ks + (j % 2) * BC * LD, *Vj = Vs + (j % 2) * BC * LD;
        if (j + 1 < nkv) {
            load_tile<T, D, LD, BC, THREADS>(Ks + ((j + 1) % 2) * BC * LD, kg, in.t, (j + 1) * BC, Tn);
            load_tile<T, D, LD, BC, THREADS>(Vs + ((j + 1) % 2) * BC * LD, vg, in.t, (j + 1) * BC, Tn);
            cp_async_commit();
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        if (QREG && j == 0)
            for (int mt = 0; mt < MT; mt++)
                for (int kk = 0; kk < QK; kk++)
                    ldsm_x4(qf[mt][kk], quarters_down(Qs, LD, wrow + mt * 16, kk * 16));

        float s[MT][BC / 8][4] = {};        /* S = Q K^T: 16 rows x 64 keys per row tile */
        for (int kk = 0; kk < D / 16; kk++) {
            if (!QREG)
                for (int mt = 0; mt < MT; mt++)
                    ldsm_x4(qf[mt][0], quarters_down(Qs, LD, wrow + mt * 16, kk * 16));
            for (int np = 0; np < BC / 16; np++) {
                uint32_t kf[4];
                ldsm_x4(kf, quarters_across(Kj, LD, np * 16, kk * 16));
                for (int mt = 0; mt < MT; mt++) {
                    mma16816<T>(s[mt][2 * np], qf[mt][QREG ? kk : 0], kf[0], kf[1]);
                    mma16816<T>(s[mt][2 * np + 1], qf[mt][QREG ? kk : 0], kf[2], kf[3]);
                }
            }
        }

        bool edge = (j + 1) * BC > Tn || (causal && (j + 1) * BC - 1 > q0);
        for (int mt = 0; mt < MT; mt++)
            for (int nt = 0; nt < BC / 8; nt++)
                for (int e = 0; e < 4; e++) {
                    int col = j * BC + nt * 8 + tig * 2 + e % 2, row = q0 + wrow + mt * 16 + g + e / 2 * 8;
                    s[mt][nt][e] *= sl;
                    if (edge && (col >= Tn || (causal && col > row))) s[mt][nt][e] = -INFINITY;
                }

        for (int mt = 0; mt < MT; mt++)
            for (int r = 0; r < 2; r++) {
                float mx = m[mt][r];
                for (int nt = 0; nt < BC / 8; nt++) mx = fmaxf(mx, fmaxf(s[mt][nt][2 * r], s[mt][nt][2 * r + 1]));
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
                float mu = mx == -INFINITY ? 0.0f : mx;     /* a row with nothing seen yet: keep exp2 finite */
                float alpha = exp2f(m[mt][r] - mu), sum = 0;
                for (int nt = 0; nt < BC / 8; nt++) {
                    s[mt][nt][2 * r] = exp2f(s[mt][nt][2 * r] - mu);
                    s[mt][nt][2 * r + 1] = exp2f(s[mt][nt][2 * r + 1] - mu);
                    sum += s[mt][nt][2 * r] + s[mt][nt][2 * r + 1];
                }
                l[mt][r] = l[mt][r] * alpha + sum;
                m[mt][r] = mx;
                for (int dt = 0; dt < D / 8; dt++) acc[mt][dt][2 * r] *= alpha, acc[mt][dt][2 * r + 1] *= alpha;
            }

        for (int kk = 0; kk < BC / 16; kk++) {  /* O += P V, P straight from the score registers */
            uint32_t a[MT][4];
            for (int mt = 0; mt < MT; mt++) {
                a[mt][0] = pack2<T>(s[mt][2 * kk][0], s[mt][2 * kk][1]);
                a[mt][1] = pack2<T>(s[mt][2 * kk][2], s[mt][2 * kk][3]);
                a[mt][2] = pack2<T>(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
                a[mt][3] = pack2<T>(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
            }
            for (int dp = 0; dp < D / 16; dp++) {
                uint32_t vf[4];
                ldsm_x4_t(vf, quarters_down(Vj, LD, kk * 16, dp * 16));
                for (int mt = 0; mt < MT; mt++) {
                    mma16816<T>(acc[mt][2 * dp], a[mt], vf[0], vf[1]);
                    mma16816<T>(acc[mt][2 * dp + 1], a[mt], vf[2], vf[3]);
                }
            }
        }
        __syncthreads();                    /* all done with this stage: the next step's first act refills it */
    }

    T *og = o + b * out.b + h * out.h;
    for (int mt = 0; mt < MT; mt++)
        for (int r = 0; r < 2; r++) {
            float lr = l[mt][r];
            lr += __shfl_xor_sync(0xffffffffu, lr, 1);
            lr += __shfl_xor_sync(0xffffffffu, lr, 2);
            int row = q0 + wrow + mt * 16 + g + r * 8;
            if (row >= Tn) continue;
            float inv = 1.0f / lr;
            for (int dt = 0; dt < D / 8; dt++)
                *reinterpret_cast<uint32_t *>(og + row * out.t + dt * 8 + tig * 2) =
                    pack2<T>(acc[mt][dt][2 * r] * inv, acc[mt][dt][2 * r + 1] * inv);
            if (tig == 0) lse[(size_t)bh * Tn + row] = (m[mt][r] + log2f(lr)) / LOG2E;
        }
}

/* Add a thread's share of a warp's dK (times scale) and dV, keys key0 and
 * key0 + 8 of the accumulators' fragments, into dk and dv (row stride ts).
 * Each row's values are all loaded before any is stored. */
template <typename T, int D>
__device__ __forceinline__ void add_dk_dv(T *dk, T *dv, size_t ts, int key0, int Tn, int tig,
                                          const float (&dka)[D / 8][4], const float (&dva)[D / 8][4], float scale) {
    for (int r = 0; r < 2; r++) {
        if (key0 + r * 8 >= Tn) continue;
        size_t x0 = (size_t)(key0 + r * 8) * ts + tig * 2;
        uint32_t wk[D / 8], wv[D / 8];                  /* the row's loads first ... */
        for (int dt = 0; dt < D / 8; dt++) {
            wk[dt] = *reinterpret_cast<const uint32_t *>(dk + x0 + dt * 8);
            wv[dt] = *reinterpret_cast<const uint32_t *>(dv + x0 + dt * 8);
        }
        for (int dt = 0; dt < D / 8; dt++) {            /* ... then its stores */
            const T *hk = reinterpret_cast<const T *>(&wk[dt]), *hv = reinterpret_cast<const T *>(&wv[dt]);
            *reinterpret_cast<uint32_t *>(dk + x0 + dt * 8) =
                pack2<T>(tof(hk[0]) + dka[dt][2 * r] * scale, tof(hk[1]) + dka[dt][2 * r + 1] * scale);
            *reinterpret_cast<uint32_t *>(dv + x0 + dt * 8) =
                pack2<T>(tof(hv[0]) + dva[dt][2 * r], tof(hv[1]) + dva[dt][2 * r + 1]);
        }
    }
}
/* The backward pass.  A block owns 64 keys (a warp 16 of them) and walks the
 * query tiles of BR rows that can see them, keeping dK and dV in registers;
 * each warp computes S^T = K Q^T for its keys, so that P^T and dS^T are A
 * fragments for dV += P^T dO and dK += dS^T Q.  dQ += dS K needs dS the
 * other way round: it goes through shared memory, and each warp adds its
 * share of dQ into an f32 buffer with atomicAdd. */
template <typename T, int D, int BR>
__global__ void __launch_bounds__(128) flash2_backward_kernel(T *dk, T *dv, float *dq_acc, const T *dout, const T *q,
                                                              const T *k, const T *v, const float *lse,
                                                              const float *dd, int NH, int Tn, FlashLayout in,
                                                              FlashLayout out, float scale, bool causal) {
    constexpr int BC = V2_BC, LD = D + 8, LDS = BR + 8, THREADS = 128;
    constexpr int RG = BR / 16, CG = 4 / RG, DC = D / CG;   /* dQ: warps as RG row groups x CG column groups */
    extern __shared__ __align__(16) unsigned char smem[];
    T *Ks = reinterpret_cast<T *>(smem), *Vs = Ks + BC * LD, *Qs = Vs + BC * LD, *dOs = Qs + BR * LD;
    T *dSs = dOs + BR * LD;                                  /* dS^T: BC keys x BR queries */
    float *ls = reinterpret_cast<float *>(dSs + BC * LDS), *ds_ = ls + BR;
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, tig = lane % 4;
    int bh = blockIdx.y, b = bh / NH, h = bh % NH, k0 = blockIdx.x * BC;
    size_t ib = b * in.b + h * in.h, ob = b * out.b + h * out.h;
    load_tile<T, D, LD, BC, THREADS>(Ks, k + ib, in.t, k0, Tn);
    load_tile<T, D, LD, BC, THREADS>(Vs, v + ib, in.t, k0, Tn);
    cp_async_commit();

    float dka[D / 8][4] = {}, dva[D / 8][4] = {};          /* this warp's 16 keys x D */
    float sl = scale * LOG2E;
    int key0 = k0 + warp * 16 + g;                         /* this thread's keys: key0 and key0 + 8 */
    for (int q0 = causal ? k0 / BR * BR : 0; q0 < Tn; q0 += BR) {
        __syncthreads();                                   /* the last tile's readers are done */
        load_tile<T, D, LD, BR, THREADS>(Qs, q + ib, in.t, q0, Tn);
        load_tile<T, D, LD, BR, THREADS>(dOs, dout + ob, out.t, q0, Tn);
        cp_async_commit();
        for (int r = threadIdx.x; r < BR; r += THREADS) {
            bool ok = q0 + r < Tn;
            ls[r] = ok ? lse[(size_t)bh * Tn + q0 + r] : 0;
            ds_[r] = ok ? dd[(size_t)bh * Tn + q0 + r] : 0;
        }
        cp_async_wait<0>();
        __syncthreads();

        float st[BR / 8][4] = {}, dpt[BR / 8][4] = {};     /* S^T and dP^T = V dO^T: 16 keys x BR queries */
        for (int kk = 0; kk < D / 16; kk++) {
            uint32_t ka[4], va[4];
            ldsm_x4(ka, quarters_down(Ks, LD, warp * 16, kk * 16));
            ldsm_x4(va, quarters_down(Vs, LD, warp * 16, kk * 16));
            for (int np = 0; np < BR / 16; np++) {
                uint32_t qf[4], of[4];
                ldsm_x4(qf, quarters_across(Qs, LD, np * 16, kk * 16));
                ldsm_x4(of, quarters_across(dOs, LD, np * 16, kk * 16));
                mma16816<T>(st[2 * np], ka, qf[0], qf[1]);
                mma16816<T>(st[2 * np + 1], ka, qf[2], qf[3]);
                mma16816<T>(dpt[2 * np], va, of[0], of[1]);
                mma16816<T>(dpt[2 * np + 1], va, of[2], of[3]);
            }
        }

        for (int nt = 0; nt < BR / 8; nt++)                /* P^T, then dS^T = P^T (dP^T - dd) */
            for (int e = 0; e < 4; e++) {
                int c = nt * 8 + tig * 2 + e % 2, qi = q0 + c, key = key0 + e / 2 * 8;
                bool keep = qi < Tn && key < Tn && !(causal && key > qi);
                float p = keep ? exp2f(st[nt][e] * sl - ls[c] * LOG2E) : 0.0f;
                st[nt][e] = p;
                dpt[nt][e] = p * (dpt[nt][e] - ds_[c]);
            }

        for (int kq = 0; kq < BR / 16; kq++) {             /* dV += P^T dO, dK += dS^T Q */
            uint32_t pa[4] = {pack2<T>(st[2 * kq][0], st[2 * kq][1]), pack2<T>(st[2 * kq][2], st[2 * kq][3]),
                              pack2<T>(st[2 * kq + 1][0], st[2 * kq + 1][1]),
                              pack2<T>(st[2 * kq + 1][2], st[2 * kq + 1][3])};
            uint32_t sa[4] = {pack2<T>(dpt[2 * kq][0], dpt[2 * kq][1]), pack2<T>(dpt[2 * kq][2], dpt[2 * kq][3]),
                              pack2<T>(dpt[2 * kq + 1][0], dpt[2 * kq + 1][1]),
                              pack2<T>(dpt[2 * kq + 1][2], dpt[2 * kq + 1][3])};
            for (int dp = 0; dp < D / 16; dp++) {
                uint32_t of[4], qf[4];
                ldsm_x4_t(of, quarters_down(dOs, LD, kq * 16, dp * 16));
                ldsm_x4_t(qf, quarters_down(Qs, LD, kq * 16, dp * 16));
                mma16816<T>(dva[2 * dp], pa, of[0], of[1]);
                mma16816<T>(dva[2 * dp + 1], pa, of[2], of[3]);
                mma16816<T>(dka[2 * dp], sa, qf[0], qf[1]);
                mma16816<T>(dka[2 * dp + 1], sa, qf[2], qf[3]);
            }
            for (int r = 0; r < 2; r++)                    /* dS^T to shared memory for dQ */
                for (int half = 0; half < 2; half++)
                    *reinterpret_cast<uint32_t *>(dSs + (warp * 16 + g + r * 8) * LDS + kq * 16 + half * 8 + tig * 2) =
                        sa[2 * half + r];
        }
        __syncthreads();

        int rg = warp % RG, cg = warp / RG;                /* dQ[rg rows, cg columns] += dS K */
        float dqa[DC / 8][4] = {};
        for (int kc = 0; kc < BC / 16; kc++) {
            uint32_t a[4];
            ldsm_x4_t(a, quarters_across(dSs, LDS, kc * 16, rg * 16));
            for (int dn = 0; dn < DC / 16; dn++) {
                uint32_t kf[4];
                ldsm_x4_t(kf, quarters_down(Ks, LD, kc * 16, cg * DC + dn * 16));
                mma16816<T>(dqa[2 * dn], a, kf[0], kf[1]);
                mma16816<T>(dqa[2 * dn + 1], a, kf[2], kf[3]);
            }
        }
        for (int r = 0; r < 2; r++) {
            int qi = q0 + rg * 16 + g + r * 8;
            if (qi >= Tn) continue;
            float *dst = dq_acc + ((size_t)bh * Tn + qi) * D + cg * DC + tig * 2;
            for (int dt = 0; dt < DC / 8; dt++)
                atomicAdd(dst + dt * 8, dqa[dt][2 * r]), atomicAdd(dst + dt * 8 + 1, dqa[dt][2 * r + 1]);
        }
    }

    add_dk_dv<T, D>(dk + ib, dv + ib, in.t, key0, Tn, tig, dka, dva, scale);
}

/* dq += scale dq_acc */
template <typename T>
__global__ void flash_dq_finish_kernel(T *dq, const float *dq_acc, int NH, int Tn, int hs, FlashLayout in,
                                       float scale, size_t n) {
    size_t x = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (x >= n) return;
    int d = (int)(x % hs);
    size_t row = x / hs;
    int i = (int)(row % Tn), bh = (int)(row / Tn), b = bh / NH, h = bh % NH;
    T *p = dq + b * in.b + h * in.h + i * in.t + d;
    *p = fromf<T>(tof(*p) + dq_acc[x] * scale);
}

/* 4 bytes global -> shared; a zero when !valid */
__device__ __forceinline__ void cp_async4(void *dst, const void *src, bool valid) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(smem_addr(dst)), "l"(src),
                 "r"(valid ? 4 : 0));
}

/* p[0] += a, p[1] += b, atomically; p 8-byte aligned (one instruction on sm_90) */
__device__ __forceinline__ void atomic_add2(float *p, float a, float b) {
#if __CUDA_ARCH__ >= 900
    atomicAdd(reinterpret_cast<float2 *>(p), make_float2(a, b));
#else
    atomicAdd(p, a), atomicAdd(p + 1, b);
#endif
}

/* The backward pass of version 4: NW warps, each 16 keys as in version 2
 * (BC = 16 NW keys a block), the next query tile loaded into a second
 * stage of shared memory while this one is computed, dQ added two floats
 * an atomic. */
template <typename T, int D, int BR, int NW>
__global__ void __launch_bounds__(NW * 32) flash4_backward_kernel(T *dk, T *dv, float *dq_acc, const T *dout, const T *q,
                                                                  const T *k, const T *v, const float *lse,
                                                                  const float *dd, int NH, int Tn, FlashLayout in,
                                                                  FlashLayout out, float scale, bool causal) {
    constexpr int BC = 16 * NW, LD = D + 8, LDS = BR + 8, THREADS = NW * 32;
    constexpr int RG = BR / 16, CG = NW / RG, DC = D / CG;   /* dQ: warps as RG row groups x CG column groups */
    static_assert(BC % BR == 0 && NW % RG == 0 && DC % 16 == 0, "the tiles do not divide");
    extern __shared__ __align__(16) unsigned char smem[];
    T *Ks = reinterpret_cast<T *>(smem), *Vs = Ks + BC * LD, *Q2 = Vs + BC * LD, *dO2 = Q2 + 2 * BR * LD;
    T *dSs = dO2 + 2 * BR * LD;                              /* dS^T: BC keys x BR queries */
    float *l2 = reinterpret_cast<float *>(dSs + BC * LDS), *d2 = l2 + 2 * BR;   /* L and D, two stages each */
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, tig = lane % 4;
    int bh = blockIdx.x, b = bh / NH, h = bh % NH, k0 = blockIdx.y * BC;
    size_t ib = b * in.b + h * in.h, ob = b * out.b + h * out.h;
    load_tile<T, D, LD, BC, THREADS>(Ks, k + ib, in.t, k0, Tn);
    load_tile<T, D, LD, BC, THREADS>(Vs, v + ib, in.t, k0, Tn);
    cp_async_commit();
    auto load_query_tile = [&](int qt, int s) {            /* rows qt, qt + 1, ... into stage s */
        load_tile<T, D, LD, BR, THREADS>(Q2 + s * BR * LD, q + ib, in.t, qt, Tn);
        load_tile<T, D, LD, BR, THREADS>(dO2 + s * BR * LD, dout + ob, out.t, qt, Tn);
        for (int r = threadIdx.x; r < BR; r += THREADS) {
            bool ok = qt + r < Tn;
            size_t x = (size_t)bh * Tn + (ok ? qt + r : 0);
            cp_async4(l2 + s * BR + r, lse + x, ok);
            cp_async4(d2 + s * BR + r, dd + x, ok);
        }
    };

    float dka[D / 8][4] = {}, dva[D / 8][4] = {};          /* this warp's 16 keys x D */
    float sl = scale * LOG2E;
    int key0 = k0 + warp * 16 + g;                         /* this thread's keys: key0 and key0 + 8 */
    int q_first = causal ? k0 / BR * BR : 0;
    load_query_tile(q_first, 0);
    cp_async_commit();
    for (int q0 = q_first, s = 0; q0 < Tn; q0 += BR, s ^= 1) {
        if (q0 + BR < Tn) load_query_tile(q0 + BR, s ^ 1);
        cp_async_commit();
        cp_async_wait<1>();                                /* all but the newest group: this tile is here */
        __syncthreads();                                   /* ...for every thread; and dS^T is free again */
        const T *Qs = Q2 + s * BR * LD, *dOs = dO2 + s * BR * LD;
        const float *ls = l2 + s * BR, *ds_ = d2 + s * BR;
        int kend = causal ? min(q0 + BR, Tn) : Tn;     /* keys below kend see some query of the tile */
        if (k0 + warp * 16 < kend) {
            float st[BR / 8][4] = {}, dpt[BR / 8][4] = {};     /* S^T and dP^T = V dO^T: 16 keys x BR queries */
            for (int kk = 0; kk < D / 16; kk++) {
                uint32_t ka[4], va[4];
                ldsm_x4(ka, quarters_down(Ks, LD, warp * 16, kk * 16));
                ldsm_x4(va, quarters_down(Vs, LD, warp * 16, kk * 16));
                for (int np = 0; np < BR / 16; np++) {
                    uint32_t qf[4], of[4];
                    ldsm_x4(qf, quarters_across(Qs, LD, np * 16, kk * 16));
                    ldsm_x4(of, quarters_across(dOs, LD, np * 16, kk * 16));
                    mma16816<T>(st[2 * np], ka, qf[0], qf[1]);
                    mma16816<T>(st[2 * np + 1], ka, qf[2], qf[3]);
                    mma16816<T>(dpt[2 * np], va, of[0], of[1]);
                    mma16816<T>(dpt[2 * np + 1], va, of[2], of[3]);
                }
            }

            for (int nt = 0; nt < BR / 8; nt++)                /* P^T, then dS^T = P^T (dP^T - dd) */
                for (int e = 0; e < 4; e++) {
                    int c = nt * 8 + tig * 2 + e % 2, qi = q0 + c, key = key0 + e / 2 * 8;
                    bool keep = qi < Tn && key < Tn && !(causal && key > qi);
                    float p = keep ? exp2f(st[nt][e] * sl - ls[c] * LOG2E) : 0.0f;
                    st[nt][e] = p;
                    dpt[nt][e] = p * (dpt[nt][e] - ds_[c]);
                }

            for (int kq = 0; kq < BR / 16; kq++) {             /* dV += P^T dO, dK += dS^T Q */
                uint32_t pa[4] = {pack2<T>(st[2 * kq][0], st[2 * kq][1]), pack2<T>(st[2 * kq][2], st[2 * kq][3]),
                                  pack2<T>(st[2 * kq + 1][0], st[2 * kq + 1][1]),
                                  pack2<T>(st[2 * kq + 1][2], st[2 * kq + 1][3])};
                uint32_t sa[4] = {pack2<T>(dpt[2 * kq][0], dpt[2 * kq][1]), pack2<T>(dpt[2 * kq][2], dpt[2 * kq][3]),
                                  pack2<T>(dpt[2 * kq + 1][0], dpt[2 * kq + 1][1]),
                                  pack2<T>(dpt[2 * kq + 1][2], dpt[2 * kq + 1][3])};
                for (int dp = 0; dp < D / 16; dp++) {
                    uint32_t of[4], qf[4];
                    ldsm_x4_t(of, quarters_down(dOs, LD, kq * 16, dp * 16));
                    ldsm_x4_t(qf, quarters_down(Qs, LD, kq * 16, dp * 16));
                    mma16816<T>(dva[2 * dp], pa, of[0], of[1]);
                    mma16816<T>(dva[2 * dp + 1], pa, of[2], of[3]);
                    mma16816<T>(dka[2 * dp], sa, qf[0], qf[1]);
                    mma16816<T>(dka[2 * dp + 1], sa, qf[2], qf[3]);
                }
                for (int r = 0; r < 2; r++)                    /* dS^T to shared memory for dQ */
                    for (int half = 0; half < 2; half++)
                        *reinterpret_cast<uint32_t *>(dSs + (warp * 16 + g + r * 8) * LDS + kq * 16 + half * 8 + tig * 2) =
                            sa[2 * half + r];
            }
        }
        __syncthreads();

        int rg = warp % RG, cg = warp / RG, nkc = min(NW, (kend - k0 + 15) / 16);   /* dQ[rg rows, cg columns] */
        float dqa[DC / 8][4] = {};
        for (int kc = 0; kc < nkc; kc++) {
            uint32_t a[4];
            ldsm_x4_t(a, quarters_across(dSs, LDS, kc * 16, rg * 16));
            for (int dn = 0; dn < DC / 16; dn++) {
                uint32_t kf[4];
                ldsm_x4_t(kf, quarters_down(Ks, LD, kc * 16, cg * DC + dn * 16));
                mma16816<T>(dqa[2 * dn], a, kf[0], kf[1]);
                mma16816<T>(dqa[2 * dn + 1], a, kf[2], kf[3]);
            }
        }
        for (int r = 0; r < 2; r++) {
            int qi = q0 + rg * 16 + g + r * 8;
            if (qi >= Tn) continue;
            float *dst = dq_acc + ((size_t)bh * Tn + qi) * D + cg * DC + tig * 2;
            for (int dt = 0; dt < DC / 8; dt++) atomic_add2(dst + dt * 8, dqa[dt][2 * r], dqa[dt][2 * r + 1]);
        }
    }

    add_dk_dv<T, D>(dk + ib, dv + ib, in.t, key0, Tn, tig, dka, dva, scale);
}
/* ---- Version 5: the warpgroup instructions of Hopper (sm_90a) -------------------------------- */

/* the matrix descriptor (PTX ISA, "Matrix Descriptor Format"): start address,
 * LBO and SBO in bytes, each divided by 16; no swizzle (bits 62-63 zero), or
 * version 11's 128-byte swizzle (mode 1; base offset 0: its atoms start on 1024 bytes) */
__device__ __forceinline__ uint64_t wg_desc(const void *p, uint32_t lbo, uint32_t sbo, bool sw128 = false) {
    uint64_t d = (smem_addr(p) & 0x3ffff) / 16;
    d |= (uint64_t)(lbo / 16) << 16;
    d |= (uint64_t)(sbo / 16) << 32;
    d |= (uint64_t)sw128 << 62;
    return d;
}
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)   /* wgmma exists in sm_90a's instruction set only */
__device__ __forceinline__ void wg_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void wg_wait() {
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
#else
__device__ __forceinline__ void wg_fence() { __trap(); }
__device__ __forceinline__ void wg_commit() { __trap(); }
template <int N> __device__ __forceinline__ void wg_wait() { __trap(); }
#endif
/* shared memory writes this thread has seen (its own, cp.async's too, or copies whose mbarrier
 * phase it waited for) made visible to wgmma's reads */
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }
/* n accumulator (or A) registers: no read or write of them moves across this point */
__device__ __forceinline__ void wg_hold(float *r, int n) {
    for (int i = 0; i < n; i++) asm volatile("" : "+f"(r[i])::"memory");
}
__device__ __forceinline__ void wg_hold(uint32_t *r, int n) {
    for (int i = 0; i < n; i++) asm volatile("" : "+r"(r[i])::"memory");
}

/* d (64 x 64 a warpgroup, 32 f32 a thread) = A (64 x 16) B (16 x 64) + (acc ? d : 0):
 * A and B K-major through descriptors (ss), or A in registers and B N-major (rs) */
template <typename T> __device__ __forceinline__ void wgmma_ss(float d[32], uint64_t da, uint64_t db, int acc);
template <typename T> __device__ __forceinline__ void wgmma_rs(float d[32], const uint32_t a[4], uint64_t db);
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
template <> __device__ __forceinline__ void wgmma_ss<bf16>(float d[32], uint64_t da, uint64_t db, int acc) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
                 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
                 "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
                 "%32, %33, p, 1, 1, 0, 0;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
                   "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
                   "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
                   "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
                 : "l"(da), "l"(db), "r"(acc));
}
template <> __device__ __forceinline__ void wgmma_rs<bf16>(float d[32], const uint32_t a[4], uint64_t db) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
                 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
                 "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
                 "{%32, %33, %34, %35}, %36, p, 1, 1, 1;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
                   "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
                   "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
                   "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1));
}
template <> __device__ __forceinline__ void wgmma_ss<f16>(float d[32], uint64_t da, uint64_t db, int acc) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 "
                 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
                 "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
                 "%32, %33, p, 1, 1, 0, 0;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
                   "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
                   "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
                   "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
                 : "l"(da), "l"(db), "r"(acc));
}
template <> __device__ __forceinline__ void wgmma_rs<f16>(float d[32], const uint32_t a[4], uint64_t db) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 "
                 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
                 "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
                 "{%32, %33, %34, %35}, %36, p, 1, 1, 1;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
                   "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
                   "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
                   "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1));
}
#else
template <typename T> __device__ __forceinline__ void wgmma_ss(float[32], uint64_t, uint64_t, int) { __trap(); }
template <typename T> __device__ __forceinline__ void wgmma_rs(float[32], const uint32_t[4], uint64_t) { __trap(); }
#endif
/* d (64 x 128 a warpgroup, 64 f32 a thread): the products above, N = 128 */
template <typename T> __device__ __forceinline__ void wgmma_ss128(float d[64], uint64_t da, uint64_t db, int acc);
template <typename T> __device__ __forceinline__ void wgmma_rs128(float d[64], const uint32_t a[4], uint64_t db);
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
template <> __device__ __forceinline__ void wgmma_ss128<bf16>(float d[64], uint64_t da, uint64_t db, int acc) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
                 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
                 "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
                 "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
                 "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
                 "%64, %65, p, 1, 1, 0, 0;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
                   "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
                   "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
                   "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
                   "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
                   "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
                   "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
                   "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
                 : "l"(da), "l"(db), "r"(acc));
}
template <> __device__ __forceinline__ void wgmma_rs128<bf16>(float d[64], const uint32_t a[4], uint64_t db) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
                 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
                 "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
                 "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
                 "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
                 "{%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
                   "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
                   "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
                   "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
                   "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
                   "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
                   "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
                   "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1));
}
template <> __device__ __forceinline__ void wgmma_ss128<f16>(float d[64], uint64_t da, uint64_t db, int acc) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 "
                 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
                 "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
                 "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
                 "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
                 "%64, %65, p, 1, 1, 0, 0;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
                   "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
                   "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
                   "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
                   "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
                   "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
                   "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
                   "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
                 : "l"(da), "l"(db), "r"(acc));
}
template <> __device__ __forceinline__ void wgmma_rs128<f16>(float d[64], const uint32_t a[4], uint64_t db) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 "
                 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
                 "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
                 "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
                 "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
                 "{%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
                   "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
                   "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
                   "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
                   "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
                   "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
                   "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
                   "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1));
}
#else
template <typename T> __device__ __forceinline__ void wgmma_ss128(float[64], uint64_t, uint64_t, int) { __trap(); }
template <typename T> __device__ __forceinline__ void wgmma_rs128(float[64], const uint32_t[4], uint64_t) { __trap(); }
#endif
template <typename T, int N> __device__ __forceinline__ void wgmma_ss_n(float *d, uint64_t da, uint64_t db, int acc) {
    static_assert(N == 64 || N == 128, "wgmma_ss_n: N is 64 or 128");
    if constexpr (N == 64) wgmma_ss<T>(d, da, db, acc);
    else wgmma_ss128<T>(d, da, db, acc);
}
template <typename T, int N> __device__ __forceinline__ void wgmma_rs_n(float *d, const uint32_t a[4], uint64_t db) {
    static_assert(N == 64 || N == 128, "wgmma_rs_n: N is 64 or 128");
    if constexpr (N == 64) wgmma_rs<T>(d, a, db);
    else wgmma_rs128<T>(d, a, db);
}
/* rows [row0, row0 + R) of a head (row stride ld elements, D per row) into
 * shared memory as core matrices of 8 x 8 (see the text); rows past Tn zeros;
 * THREADS threads share the pieces, this one (tid) starting at piece tid */
template <typename T, int D, int R, int THREADS>
__device__ __forceinline__ void load_tile_core_by(T *dst, const T *src, long long ld, int row0, int Tn, int tid) {
    for (int i = tid; i < R * D / 8; i += THREADS) {
        int r = i / D * 8 + i % 8, c = i / 8 % (D / 8) * 8, row = row0 + r;
        bool ok = row < Tn;
        cp_async16(dst + i * 8, ok ? src + row * ld + c : src, ok);
    }
}
/* the same by all THREADS threads of the block, thread t starting at piece t */
template <typename T, int D, int R, int THREADS>
__device__ __forceinline__ void load_tile_core(T *dst, const T *src, long long ld, int row0, int Tn) {
    load_tile_core_by<T, D, R, THREADS>(dst, src, ld, row0, Tn, threadIdx.x);
}

#define V5_BC 64   /* keys per tile */

/* The forward pass on warpgroups: NWG warpgroups of 128 threads, each
 * owning 64 query rows; keys in tiles of 64, two in flight; S = Q K^T and
 * O += P V by wgmma, Q, K and V from shared memory as core matrices, P
 * from registers.  Scores in base-2 units, as in version 2. */
template <typename T, int D, int NWG>
__global__ void __launch_bounds__(NWG * 128) flash5_forward_kernel(T *o, float *lse, const T *q, const T *k, const T *v,
                                                                   int NH, int Tn, FlashLayout in, FlashLayout out,
                                                                   float scale, bool causal) {
    constexpr int MT = 1, BR = 64 * NWG, BC = V5_BC, THREADS = NWG * 128;
    extern __shared__ __align__(16) unsigned char smem[];
    T *Qs = reinterpret_cast<T *>(smem), *Ks = Qs + BR * D, *Vs = Ks + 2 * BC * D;
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, tig = lane % 4, wg = warp / 4;
    int nqb = (Tn + BR - 1) / BR, qb = causal ? nqb - 1 - (int)blockIdx.x : (int)blockIdx.x;
    int bh = blockIdx.y, b = bh / NH, h = bh % NH, q0 = qb * BR, wrow = warp * 16;
    const T *qg = q + b * in.b + h * in.h, *kg = k + b * in.b + h * in.h, *vg = v + b * in.b + h * in.h;
    int nkv = (Tn + BC - 1) / BC;
    if (causal) nkv = min(nkv, (q0 + BR - 1) / BC + 1);
    load_tile_core<T, D, BR, THREADS>(Qs, qg, in.t, q0, Tn);
    load_tile_core<T, D, BC, THREADS>(Ks, kg, in.t, 0, Tn);
    load_tile_core<T, D, BC, THREADS>(Vs, vg, in.t, 0, Tn);
    cp_async_commit();
    float s[MT][BC / 8][4] = {};            /* S, then P: this warp's 16 rows x BC keys (wgmma's d0..d(BC/2 - 1)) */
    float acc[MT][D / 8][4] = {};           /* O, unnormalized: 16 rows x D (versions 5, 6: two 64-column products at D 128) */
    float m[MT][2], l[MT][2];               /* running maxima (base 2) and sums of rows g and g + 8 */
    m[0][0] = m[0][1] = -INFINITY, l[0][0] = l[0][1] = 0;
    float sl = scale * LOG2E;
    for (int j = 0; j < nkv; j++) {
        cp_async_wait<0>();
        fence_proxy_async();
        __syncthreads();
        const T *Kj = Ks + (j % 2) * BC * D, *Vj = Vs + (j % 2) * BC * D;
        wg_hold(s[0][0], BC / 2);
        wg_fence();
        for (int kk = 0; kk < D / 16; kk++)
            wgmma_ss<T>(s[0][0], wg_desc(Qs + wg * 64 * D + kk * 128, 128, 16 * D), wg_desc(Kj + kk * 128, 128, 16 * D), kk);
        wg_commit();
        if (j + 1 < nkv) {
            load_tile_core<T, D, BC, THREADS>(Ks + (j + 1) % 2 * BC * D, kg, in.t, (j + 1) * BC, Tn);
            load_tile_core<T, D, BC, THREADS>(Vs + (j + 1) % 2 * BC * D, vg, in.t, (j + 1) * BC, Tn);
            cp_async_commit();
        }
        wg_wait<0>();
        wg_hold(s[0][0], BC / 2);

        bool edge = (j + 1) * BC > Tn || (causal && (j + 1) * BC - 1 > q0);
        for (int mt = 0; mt < MT; mt++)
            for (int nt = 0; nt < BC / 8; nt++)
                for (int e = 0; e < 4; e++) {
                    int col = j * BC + nt * 8 + tig * 2 + e % 2, row = q0 + wrow + mt * 16 + g + e / 2 * 8;
                    s[mt][nt][e] *= sl;
                    if (edge && (col >= Tn || (causal && col > row))) s[mt][nt][e] = -INFINITY;
                }

        for (int mt = 0; mt < MT; mt++)
            for (int r = 0; r < 2; r++) {
                float mx = m[mt][r];
                for (int nt = 0; nt < BC / 8; nt++) mx = fmaxf(mx, fmaxf(s[mt][nt][2 * r], s[mt][nt][2 * r + 1]));
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
                float mu = mx == -INFINITY ? 0.0f : mx;     /* a row with nothing seen yet: keep exp2 finite */
                float alpha = exp2f(m[mt][r] - mu), sum = 0;
                for (int nt = 0; nt < BC / 8; nt++) {
                    s[mt][nt][2 * r] = exp2f(s[mt][nt][2 * r] - mu);
                    s[mt][nt][2 * r + 1] = exp2f(s[mt][nt][2 * r + 1] - mu);
                    sum += s[mt][nt][2 * r] + s[mt][nt][2 * r + 1];
                }
                l[mt][r] = l[mt][r] * alpha + sum;
                m[mt][r] = mx;
                for (int dt = 0; dt < D / 8; dt++) acc[mt][dt][2 * r] *= alpha, acc[mt][dt][2 * r + 1] *= alpha;
            }

        uint32_t a[BC / 16][4];                 /* P as A fragments, 16 keys each */
        for (int kk = 0; kk < BC / 16; kk++) {
            a[kk][0] = pack2<T>(s[0][2 * kk][0], s[0][2 * kk][1]);
            a[kk][1] = pack2<T>(s[0][2 * kk][2], s[0][2 * kk][3]);
            a[kk][2] = pack2<T>(s[0][2 * kk + 1][0], s[0][2 * kk + 1][1]);
            a[kk][3] = pack2<T>(s[0][2 * kk + 1][2], s[0][2 * kk + 1][3]);
        }
        wg_hold(acc[0][0], D / 2);
        wg_hold(a[0], BC / 4);
        wg_fence();
        for (int kk = 0; kk < BC / 16; kk++)
            for (int dn = 0; dn < D / 64; dn++)
                wgmma_rs<T>(acc[0][8 * dn], a[kk], wg_desc(Vj + kk * 16 * D + dn * 512, 16 * D, 128));
        wg_commit();
        wg_wait<0>();
        wg_hold(acc[0][0], D / 2);
    }

    T *og = o + b * out.b + h * out.h;
    for (int mt = 0; mt < MT; mt++)
        for (int r = 0; r < 2; r++) {
            float lr = l[mt][r];
            lr += __shfl_xor_sync(0xffffffffu, lr, 1);
            lr += __shfl_xor_sync(0xffffffffu, lr, 2);
            int row = q0 + wrow + mt * 16 + g + r * 8;
            if (row >= Tn) continue;
            float inv = 1.0f / lr;
            for (int dt = 0; dt < D / 8; dt++)
                *reinterpret_cast<uint32_t *>(og + row * out.t + dt * 8 + tig * 2) =
                    pack2<T>(acc[mt][dt][2 * r] * inv, acc[mt][dt][2 * r + 1] * inv);
            if (tig == 0) lse[(size_t)bh * Tn + row] = (m[mt][r] + log2f(lr)) / LOG2E;
        }
}

#define V6_STAGES 3    /* key and value tiles in shared memory */
#ifndef V8_NWG_D64
#define V8_NWG_D64 2   /* version 8's warpgroups a block at d = 64 */
#endif

/* The forward pass of version 5 with the products overlapping the softmax:
 * a step issues the scores of tile j + 1 and P V of tile j, waits for the
 * scores only, and does the softmax of tile j + 1 while P V runs; three
 * stages of key and value tiles.  NWG warpgroups of 64 query rows, BC keys
 * a tile (64 or 128), PN columns of O a product of P V (64, or D).
 * Version 6 is <T, D, 2, 64, 64>; version 8 <T, D, 2, 128, D> (V8_NWG_D64 at D 64). */
template <typename T, int D, int NWG, int BC, int PN>
__global__ void __launch_bounds__(NWG * 128) flash6_forward_kernel(T *o, float *lse, const T *q, const T *k, const T *v,
                                                                   int NH, int Tn, FlashLayout in, FlashLayout out,
                                                                   float scale, bool causal) {
    constexpr int MT = 1, BR = 64 * NWG, NS = V6_STAGES, THREADS = NWG * 128;
    /* the descriptors of k-step kk of a key tile t (K-major) and of k-step kk, columns dn * PN on, of a value tile t
     * (MN-major): start, LBO and SBO; versions 6 to 9 */
    auto kdesc = [](const T *t, int kk) { return wg_desc(t + kk * 128, 128, 16 * D); };
    auto vdesc = [](const T *t, int kk, int dn) { return wg_desc(t + kk * 16 * D + dn * PN * 8, 16 * D, 128); };
    /* warpgroup w's 64 query rows of the tile at t, k-step kk (K-major, as the keys) */
    auto qdesc = [](const T *t, int w, int kk) { return wg_desc(t + w * 64 * D + kk * 128, 128, 16 * D); };
    extern __shared__ __align__(16) unsigned char smem[];
    T *Qs = reinterpret_cast<T *>(smem), *Ks = Qs + BR * D, *Vs = Ks + NS * BC * D;
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, tig = lane % 4, wg = warp / 4;
    int nqb = (Tn + BR - 1) / BR, qb = causal ? nqb - 1 - (int)blockIdx.x : (int)blockIdx.x;
    int bh = blockIdx.y, b = bh / NH, h = bh % NH, q0 = qb * BR, wrow = warp * 16;
    const T *qg = q + b * in.b + h * in.h, *kg = k + b * in.b + h * in.h, *vg = v + b * in.b + h * in.h;
    int nkv = (Tn + BC - 1) / BC;
    if (causal) nkv = min(nkv, (q0 + BR - 1) / BC + 1);
    load_tile_core<T, D, BR, THREADS>(Qs, qg, in.t, q0, Tn);
    load_tile_core<T, D, BC, THREADS>(Ks, kg, in.t, 0, Tn);
    load_tile_core<T, D, BC, THREADS>(Vs, vg, in.t, 0, Tn);
    cp_async_commit();
    if (nkv > 1) {
        load_tile_core<T, D, BC, THREADS>(Ks + BC * D, kg, in.t, BC, Tn);
        load_tile_core<T, D, BC, THREADS>(Vs + BC * D, vg, in.t, BC, Tn);
    }
    cp_async_commit();
    uint32_t a[BC / 16][4];                 /* P as A fragments, 16 keys each: the tensor cores' until the wait */
    constexpr int n0 = 0;                   /* key tiles loaded before this query tile's (version 21: a block has many) */
    float s[MT][BC / 8][4] = {};            /* S, then P: this warp's 16 rows x BC keys (wgmma's d0..d(BC/2 - 1)) */
    float acc[MT][D / 8][4] = {};           /* O, unnormalized: 16 rows x D (versions 5, 6: two 64-column products at D 128) */
    float m[MT][2], l[MT][2];               /* running maxima (base 2) and sums of rows g and g + 8 */
    m[0][0] = m[0][1] = -INFINITY, l[0][0] = l[0][1] = 0;
    float sl = scale * LOG2E;
    cp_async_wait<1>();
    fence_proxy_async();
    __syncthreads();
    wg_hold(s[0][0], BC / 2);
    wg_fence();
    for (int kk = 0; kk < D / 16; kk++)
        wgmma_ss_n<T, BC>(s[0][0], qdesc(Qs, wg, kk), kdesc(Ks + n0 % NS * BC * D, kk), kk);
    wg_commit();
    wg_wait<0>();
    wg_hold(s[0][0], BC / 2);
    for (int j = 0; j < nkv; j++) {
        bool edge = (j + 1) * BC > Tn || (causal && (j + 1) * BC - 1 > q0);
        for (int mt = 0; mt < MT; mt++)
            for (int nt = 0; nt < BC / 8; nt++)
                for (int e = 0; e < 4; e++) {
                    int col = j * BC + nt * 8 + tig * 2 + e % 2, row = q0 + wrow + mt * 16 + g + e / 2 * 8;
                    s[mt][nt][e] *= sl;
                    if (edge && (col >= Tn || (causal && col > row))) s[mt][nt][e] = -INFINITY;
                }

        float alpha[2];
        for (int r = 0; r < 2; r++) {
            float mx = m[0][r];
            for (int nt = 0; nt < BC / 8; nt++) mx = fmaxf(mx, fmaxf(s[0][nt][2 * r], s[0][nt][2 * r + 1]));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
            float mu = mx == -INFINITY ? 0.0f : mx;     /* a row with nothing seen yet: keep exp2 finite */
            float sum = 0;
            alpha[r] = exp2f(m[0][r] - mu);
            for (int nt = 0; nt < BC / 8; nt++) {
                s[0][nt][2 * r] = exp2f(s[0][nt][2 * r] - mu);
                s[0][nt][2 * r + 1] = exp2f(s[0][nt][2 * r + 1] - mu);
                sum += s[0][nt][2 * r] + s[0][nt][2 * r + 1];
            }
            l[0][r] = l[0][r] * alpha[r] + sum;
            m[0][r] = mx;
        }

        wg_wait<0>();
        wg_hold(acc[0][0], D / 2);
        for (int dt = 0; dt < D / 8; dt++)
            for (int r = 0; r < 2; r++) acc[0][dt][2 * r] *= alpha[r], acc[0][dt][2 * r + 1] *= alpha[r];

        for (int kk = 0; kk < BC / 16; kk++) {
            a[kk][0] = pack2<T>(s[0][2 * kk][0], s[0][2 * kk][1]);
            a[kk][1] = pack2<T>(s[0][2 * kk][2], s[0][2 * kk][3]);
            a[kk][2] = pack2<T>(s[0][2 * kk + 1][0], s[0][2 * kk + 1][1]);
            a[kk][3] = pack2<T>(s[0][2 * kk + 1][2], s[0][2 * kk + 1][3]);
        }
        if (j + 1 == nkv) break;

        cp_async_wait<0>();
        fence_proxy_async();
        __syncthreads();
        if (j + 2 < nkv) {
            load_tile_core<T, D, BC, THREADS>(Ks + (j + 2) % NS * BC * D, kg, in.t, (j + 2) * BC, Tn);
            load_tile_core<T, D, BC, THREADS>(Vs + (j + 2) % NS * BC * D, vg, in.t, (j + 2) * BC, Tn);
        }
        cp_async_commit();

        const T *Kn = Ks + (n0 + j + 1) % NS * BC * D, *Vj = Vs + (n0 + j) % NS * BC * D;
        wg_hold(s[0][0], BC / 2);
        wg_hold(acc[0][0], D / 2);
        wg_hold(a[0], BC / 4);
        wg_fence();
        for (int kk = 0; kk < D / 16; kk++)
            wgmma_ss_n<T, BC>(s[0][0], qdesc(Qs, wg, kk), kdesc(Kn, kk), kk);
        wg_commit();
        for (int kk = 0; kk < BC / 16; kk++)
            for (int dn = 0; dn < D / PN; dn++)
                wgmma_rs_n<T, PN>(acc[0][PN / 8 * dn], a[kk], vdesc(Vj, kk, dn));
        wg_commit();
        wg_wait<1>();
        wg_hold(s[0][0], BC / 2);
    }
    {
        const T *Vj = Vs + (n0 + nkv - 1) % NS * BC * D;
        wg_hold(acc[0][0], D / 2);
        wg_hold(a[0], BC / 4);
        wg_fence();
        for (int kk = 0; kk < BC / 16; kk++)
            for (int dn = 0; dn < D / PN; dn++)
                wgmma_rs_n<T, PN>(acc[0][PN / 8 * dn], a[kk], vdesc(Vj, kk, dn));
        wg_commit();
        wg_wait<0>();
        wg_hold(acc[0][0], D / 2);
    }

    T *og = o + b * out.b + h * out.h;
    for (int mt = 0; mt < MT; mt++)
        for (int r = 0; r < 2; r++) {
            float lr = l[mt][r];
            lr += __shfl_xor_sync(0xffffffffu, lr, 1);
            lr += __shfl_xor_sync(0xffffffffu, lr, 2);
            int row = q0 + wrow + mt * 16 + g + r * 8;
            if (row >= Tn) continue;
            float inv = 1.0f / lr;
            for (int dt = 0; dt < D / 8; dt++)
                *reinterpret_cast<uint32_t *>(og + row * out.t + dt * 8 + tig * 2) =
                    pack2<T>(acc[mt][dt][2 * r] * inv, acc[mt][dt][2 * r + 1] * inv);
            if (tig == 0) lse[(size_t)bh * Tn + row] = (m[mt][r] + log2f(lr)) / LOG2E;
        }
}

/* mbarriers: an 8-byte object in shared memory counting arrivals, phase by phase */
__device__ __forceinline__ void mbar_init(uint64_t *bar, int count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint64_t *bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(smem_addr(bar)) : "memory");
}
/* arrive on bar once all of this thread's earlier cp.async copies have landed (init counts it) */
__device__ __forceinline__ void cp_async_mbar_arrive(uint64_t *bar) {
    asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(smem_addr(bar)) : "memory");
}
/* true when the barrier's phase bit differs from parity: the last phase completed had this parity */
__device__ __forceinline__ bool mbar_test(uint64_t *bar, int parity) {
    uint32_t done;
    asm volatile("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
                 : "=r"(done)
                 : "r"(smem_addr(bar)), "r"(parity)
                 : "memory");
    return done;
}
__device__ __forceinline__ void mbar_wait(uint64_t *bar, int parity) {
    while (!mbar_test(bar, parity)) {
    }
}

/* the transaction count: expect `bytes` more in the current phase, and arrive */
__device__ __forceinline__ void mbar_arrive_expect_tx(uint64_t *bar, uint32_t bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(bytes) : "memory");
}
/* the box of the tensor map at coordinates (c0, c1, c2, c3) into dst; its bytes complete bar's transaction */
__device__ __forceinline__ void tma_load_4d(void *dst, const CUtensorMap *map, int c0, int c1, int c2, int c3,
                                            uint64_t *bar) {
    asm volatile("cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
                 " [%0], [%1, {%2, %3, %4, %5}], [%6];\n"
                 ::"r"(smem_addr(dst)), "l"(map), "r"(c0), "r"(c1), "r"(c2), "r"(c3), "r"(smem_addr(bar))
                 : "memory");
}
/* the same for a map of two dimensions (version 26) */
__device__ __forceinline__ void tma_load_2d(void *dst, const CUtensorMap *map, int c0, int c1, uint64_t *bar) {
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
                 " [%0], [%1, {%2, %3}], [%4];\n"
                 ::"r"(smem_addr(dst)), "l"(map), "r"(c0), "r"(c1), "r"(smem_addr(bar))
                 : "memory");
}
/* 2^x as one ex2.approx.ftz.f32 (subnormal inputs and results flushed to zero); exp2f adds a scaling on
 * each side of it, for results below 2^-126 */
__device__ __forceinline__ float ex2_approx(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}
/* this warpgroup's registers a thread from here on: fewer (give them back) or more (wait for them);
 * sm_90a only, like wgmma (built for another target, version 9 stops at its first product anyway) */
template <int N> __device__ __forceinline__ void wg_set_registers(bool more) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    if (more) asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(N));
    else asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(N));
#endif
}

/* bar.sync / bar.arrive: hardware barriers 1 to 15 of the block, for n threads (a multiple of 32); arriving
 * does not wait.  Version 14's forward pass takes turns at two of them. */
#define V14_TURN 1   /* warpgroup w waits at barrier V14_TURN + w */
__device__ __forceinline__ void bar_sync(int id, int n) {
    asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(n) : "memory");
}
__device__ __forceinline__ void bar_arrive(int id, int n) {
    asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(n) : "memory");
}
#define V9_PRODUCER_REGS 40    /* registers a thread: the producer's warpgroup, and */
#define V9_CONSUMER_REGS 232   /* each of two consumers' (128 x 40 + 256 x 232 = 384 x 168, the launch's) */
#define V16_PRODUCER_REGS 24   /* and with three consumers (version 16 at d 64): 128 x 24 + 384 x 160 = 64,512 */
#define V16_CONSUMER_REGS 160

/* Version 8's forward pass with its loads given to a warpgroup of their own:
 * NWG warpgroups of 64 query rows compute; warpgroup NWG copies key and
 * value tiles into three stages by cp.async and says so through mbarriers,
 * and the computing warps free a stage by arriving on its third.  After the
 * query tile, no barrier of the whole block. */
template <typename T, int D, int NWG, int BC, int PN, int V>
__global__ void __launch_bounds__(NWG * 128 + 128, 1)
    flash9_forward_kernel(T *o, float *lse, const T *q, const T *k, const T *v, int NH, int Tn, FlashLayout in,
                          FlashLayout out, float scale, bool causal, const __grid_constant__ CUtensorMap kmap,
                          const __grid_constant__ CUtensorMap vmap, const __grid_constant__ CUtensorMap qmap, int BNH) {
    constexpr bool TMA = V >= 10, SW = V >= 11, PP = V >= 14, AT_ISSUE = V >= 15, PERSIST = V >= 21;   /* V: 9 to 16, 21, 22 */
    constexpr int MT = 1, BR = 64 * NWG, NS = V6_STAGES, THREADS = NWG * 128 + 128;
    /* version 10: 16-byte columns of BC rows one after another, as TMA lays out boxes of 8 x BC; version 11: boxes of
     * 64 columns x BC rows, rows of 128 bytes, swizzled (its k-steps 32 bytes apart within a row, then a box apart) */
    auto kdesc = [](const T *t, int kk) {
        if constexpr (SW) return wg_desc(t + kk % 4 * 16 + kk / 4 * 64 * BC, 16, 1024, true);
        else if constexpr (TMA) return wg_desc(t + kk * 16 * BC, 16 * BC, 128);
        else return wg_desc(t + kk * 128, 128, 16 * D);
    };
    auto vdesc = [](const T *t, int kk, int dn) {
        if constexpr (SW) return wg_desc(t + kk * 16 * 64 + dn * PN * BC, 64 * 2 * BC, 1024, true);
        else if constexpr (TMA) return wg_desc(t + kk * 128 + dn * PN * BC, 128, 16 * BC);
        else return wg_desc(t + kk * 16 * D + dn * PN * 8, 16 * D, 128);
    };
    /* warpgroup w's 64 query rows, k-step kk: version 21's from TMA as the keys' (boxes of 64 columns x BR rows,
     * swizzled; w's rows 64 on within each box), the others' core matrices loaded by the block's threads */
    auto qdesc = [](const T *t, int w, int kk) {
        if constexpr (V >= 21) return wg_desc(t + w * 64 * 64 + kk % 4 * 16 + kk / 4 * 64 * BR, 16, 1024, true);
        else return wg_desc(t + w * 64 * D + kk * 128, 128, 16 * D);
    };
    extern __shared__ __align__(1024) unsigned char smem9[];   /* TMA's boxes: 128-byte boundaries, 1024 swizzled */
    T *Qs = reinterpret_cast<T *>(smem9), *Ks = Qs + BR * D, *Vs = Ks + NS * BC * D;
    uint64_t *kfull = reinterpret_cast<uint64_t *>(Vs + NS * BC * D), *vfull = kfull + NS, *vfree = vfull + NS;
    uint64_t *qfull = vfree + NS, *qfree = qfull + 1;   /* version 21: the query tile landed, and read */
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, tig = lane % 4, wg = warp / 4, wrow = warp * 16;
    /* tile t: query block t / BNH of head t % BNH, counted from the last, so that under the causal mask the longest
     * come first.  Before version 21 a block of the grid (query blocks, BNH) takes one tile, blockIdx.x * BNH +
     * blockIdx.y; version 21's blocks, one an SM, take tiles in rounds of gridDim.x, each round the other way round */
    int nqb = (Tn + BR - 1) / BR, ntiles = nqb * BNH, b = 0, h = 0, bh = 0, q0 = 0, nkv = 0;
    auto tile_of = [&](int i) {   /* this block's i-th tile (ntiles or more: there is none) */
        if constexpr (PERSIST) return i * (int)gridDim.x + (i % 2 ? (int)gridDim.x - 1 - (int)blockIdx.x : (int)blockIdx.x);
        else return i ? ntiles : (int)blockIdx.x * BNH + (int)blockIdx.y;
    };
    auto find_tile = [&](int t) {
        int qb = V >= 22 ? t % nqb : t / BNH;   /* version 22: a head's tiles side by side, heads one after another */
        qb = causal ? nqb - 1 - qb : qb;
        bh = V >= 22 ? t / nqb : t % BNH, b = bh / NH, h = bh % NH, q0 = qb * BR;
        nkv = (Tn + BC - 1) / BC;
        if (causal) nkv = min(nkv, (q0 + BR - 1) / BC + 1);
    };
    find_tile(tile_of(0));
    const T *qg = q + b * in.b + h * in.h, *kg = k + b * in.b + h * in.h, *vg = v + b * in.b + h * in.h;
    if (threadIdx.x == 0) {
        for (int st = 0; st < NS; st++)   /* version 10: one arrival, its producer's, and the tile's bytes */
            mbar_init(kfull + st, TMA ? 1 : 128), mbar_init(vfull + st, TMA ? 1 : 128), mbar_init(vfree + st, 4 * NWG);
        if (PERSIST) mbar_init(qfull, 1), mbar_init(qfree, 4 * NWG);
        if (PERSIST) fence_proxy_async();   /* the inits seen by TMA (before, this thread's fence after the queries' copy) */
    }
    if (SW && smem_addr(smem9) % 1024) __trap();   /* the swizzle's pattern is of 1024-byte blocks, from the tile's start */
    if (!PERSIST) {   /* before version 21 every thread copies the block's one query tile */
        load_tile_core<T, D, BR, THREADS>(Qs, qg, in.t, q0, Tn);
        cp_async_commit();
        cp_async_wait<0>();
        fence_proxy_async();
    }
    __syncthreads();
    uint32_t a[BC / 16][4];                 /* P as A fragments, 16 keys each: the tensor cores' until the wait */
    if (wg == NWG) {
        wg_set_registers<NWG == 2 ? V9_PRODUCER_REGS : V16_PRODUCER_REGS>(false);
        if constexpr (TMA) {
            if (threadIdx.x == NWG * 128) {
                constexpr int BW = SW ? 64 : 8;   /* a box's columns: 16 bytes, or 128 swizzled */
                int i = 0, n = 0;                  /* the block's query tiles and key tiles so far */
                for (int t = tile_of(0); t < ntiles; t = tile_of(++i)) {   /* before version 21, one tile */
                    find_tile(t);
                    if (PERSIST) {   /* version 21: the tile's queries, once every score of the tile before is in */
                        if (i > 0) mbar_wait(qfree, (i - 1) % 2);
                        mbar_arrive_expect_tx(qfull, BR * D * sizeof(T));
                        for (int c = 0; c < D / 64; c++) tma_load_4d(Qs + c * BR * 64, &qmap, c * 64, q0, h, b, qfull);
                    }
                    for (int j = 0; j < nkv; j++, n++) {
                        int st = n % NS;
                        if (n >= NS) mbar_wait(vfree + st, (n / NS - 1) % 2);
                        mbar_arrive_expect_tx(kfull + st, BC * D * sizeof(T));
                        for (int c = 0; c < D / BW; c++) tma_load_4d(Ks + st * BC * D + c * BC * BW, &kmap, c * BW, j * BC, h, b, kfull + st);
                        mbar_arrive_expect_tx(vfull + st, BC * D * sizeof(T));
                        for (int c = 0; c < D / BW; c++) tma_load_4d(Vs + st * BC * D + c * BC * BW, &vmap, c * BW, j * BC, h, b, vfull + st);
                    }
                }
                for (int m = max(n - NS, 0); m < n; m++)   /* leave only once every copy asked for has landed */
                    mbar_wait(kfull + m % NS, m / NS % 2), mbar_wait(vfull + m % NS, m / NS % 2);
                if (PERSIST && i > 0) mbar_wait(qfull, (i - 1) % 2);
            }
        } else {
            for (int j = 0; j < nkv; j++) {
                int st = j % NS;
                if (j >= NS) mbar_wait(vfree + st, (j / NS - 1) % 2);
                load_tile_core_by<T, D, BC, 128>(Ks + st * BC * D, kg, in.t, j * BC, Tn, threadIdx.x - NWG * 128);
                cp_async_mbar_arrive(kfull + st);
                load_tile_core_by<T, D, BC, 128>(Vs + st * BC * D, vg, in.t, j * BC, Tn, threadIdx.x - NWG * 128);
                cp_async_mbar_arrive(vfull + st);
            }
            cp_async_commit();
            cp_async_wait<0>();
        }
        return;
    }
    wg_set_registers<NWG == 2 ? V9_CONSUMER_REGS : V16_CONSUMER_REGS>(true);
    if (PP && wg == NWG - 1) bar_arrive(V14_TURN, 256);   /* version 14: warpgroup 0 takes the first turn */
    for (int i = 0, n0 = 0, t = tile_of(0); t < ntiles; t = tile_of(++i)) {   /* before version 21, one tile */
        find_tile(t);
        float s[MT][BC / 8][4] = {};            /* S, then P: this warp's 16 rows x BC keys (wgmma's d0..d(BC/2 - 1)) */
        float acc[MT][D / 8][4] = {};           /* O, unnormalized: 16 rows x D (versions 5, 6: two 64-column products at D 128) */
        float m[MT][2], l[MT][2];               /* running maxima (base 2) and sums of rows g and g + 8 */
        m[0][0] = m[0][1] = -INFINITY, l[0][0] = l[0][1] = 0;
        float sl = scale * LOG2E;
        if (PERSIST) mbar_wait(qfull, i % 2);   /* version 21: the tile's queries */
        mbar_wait(kfull + n0 % NS, n0 / NS % 2);
        fence_proxy_async();
        if (PP) bar_sync(V14_TURN + wg, 256);
        wg_hold(s[0][0], BC / 2);
        wg_fence();
        for (int kk = 0; kk < D / 16; kk++)
            wgmma_ss_n<T, BC>(s[0][0], qdesc(Qs, wg, kk), kdesc(Ks + n0 % NS * BC * D, kk), kk);
        wg_commit();
        if (AT_ISSUE) bar_arrive(V14_TURN + (wg + 1) % NWG, 256);          /* version 15: the turn given at the issue */
        wg_wait<0>();
        wg_hold(s[0][0], BC / 2);
        if (PP && !AT_ISSUE) bar_arrive(V14_TURN + (wg + 1) % NWG, 256);   /* version 14: once the scores are in */
        for (int j = 0; j < nkv; j++) {
            float alpha[2];
            if constexpr (V >= 12) {
                if ((j + 1) * BC > Tn || (causal && (j + 1) * BC - 1 > q0))
                    for (int nt = 0; nt < BC / 8; nt++)
                        for (int e = 0; e < 4; e++) {
                            int col = j * BC + nt * 8 + tig * 2 + e % 2, row = q0 + wrow + g + e / 2 * 8;
                            if (col >= Tn || (causal && col > row)) s[0][nt][e] = -INFINITY;
                        }
                for (int r = 0; r < 2; r++) {
                    float mx = -INFINITY;   /* the raw scores' maximum; times sl (> 0), the scaled scores' */
                    for (int nt = 0; nt < BC / 8; nt++) mx = fmaxf(mx, fmaxf(s[0][nt][2 * r], s[0][nt][2 * r + 1]));
                    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
                    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
                    mx = fmaxf(m[0][r], mx * sl);
                    float mu = mx == -INFINITY ? 0.0f : mx, sum = 0;
                    alpha[r] = ex2_approx(m[0][r] - mu);
                    for (int nt = 0; nt < BC / 8; nt++) {
                        s[0][nt][2 * r] = ex2_approx(fmaf(s[0][nt][2 * r], sl, -mu));
                        s[0][nt][2 * r + 1] = ex2_approx(fmaf(s[0][nt][2 * r + 1], sl, -mu));
                        sum += s[0][nt][2 * r] + s[0][nt][2 * r + 1];
                    }
                    l[0][r] = l[0][r] * alpha[r] + sum;
                    m[0][r] = mx;
                }
            } else {
                bool edge = (j + 1) * BC > Tn || (causal && (j + 1) * BC - 1 > q0);
                for (int mt = 0; mt < MT; mt++)
                    for (int nt = 0; nt < BC / 8; nt++)
                        for (int e = 0; e < 4; e++) {
                            int col = j * BC + nt * 8 + tig * 2 + e % 2, row = q0 + wrow + mt * 16 + g + e / 2 * 8;
                            s[mt][nt][e] *= sl;
                            if (edge && (col >= Tn || (causal && col > row))) s[mt][nt][e] = -INFINITY;
                        }

                for (int r = 0; r < 2; r++) {
                    float mx = m[0][r];
                    for (int nt = 0; nt < BC / 8; nt++) mx = fmaxf(mx, fmaxf(s[0][nt][2 * r], s[0][nt][2 * r + 1]));
                    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
                    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
                    float mu = mx == -INFINITY ? 0.0f : mx;     /* a row with nothing seen yet: keep exp2 finite */
                    float sum = 0;
                    alpha[r] = exp2f(m[0][r] - mu);
                    for (int nt = 0; nt < BC / 8; nt++) {
                        s[0][nt][2 * r] = exp2f(s[0][nt][2 * r] - mu);
                        s[0][nt][2 * r + 1] = exp2f(s[0][nt][2 * r + 1] - mu);
                        sum += s[0][nt][2 * r] + s[0][nt][2 * r + 1];
                    }
                    l[0][r] = l[0][r] * alpha[r] + sum;
                    m[0][r] = mx;
                }
            }

            wg_wait<0>();
            wg_hold(acc[0][0], D / 2);
            for (int dt = 0; dt < D / 8; dt++)
                for (int r = 0; r < 2; r++) acc[0][dt][2 * r] *= alpha[r], acc[0][dt][2 * r + 1] *= alpha[r];
            if (j > 0 && lane == 0) mbar_arrive(vfree + (n0 + j - 1) % NS);

            for (int kk = 0; kk < BC / 16; kk++) {
                a[kk][0] = pack2<T>(s[0][2 * kk][0], s[0][2 * kk][1]);
                a[kk][1] = pack2<T>(s[0][2 * kk][2], s[0][2 * kk][3]);
                a[kk][2] = pack2<T>(s[0][2 * kk + 1][0], s[0][2 * kk + 1][1]);
                a[kk][3] = pack2<T>(s[0][2 * kk + 1][2], s[0][2 * kk + 1][3]);
            }
            if (j + 1 == nkv) break;

            mbar_wait(kfull + (n0 + j + 1) % NS, (n0 + j + 1) / NS % 2);
            mbar_wait(vfull + (n0 + j) % NS, (n0 + j) / NS % 2);
            fence_proxy_async();

            if (PP) bar_sync(V14_TURN + wg, 256);          /* version 14: wait for this warpgroup's turn */
            const T *Kn = Ks + (n0 + j + 1) % NS * BC * D, *Vj = Vs + (n0 + j) % NS * BC * D;
            wg_hold(s[0][0], BC / 2);
            wg_hold(acc[0][0], D / 2);
            wg_hold(a[0], BC / 4);
            wg_fence();
            for (int kk = 0; kk < D / 16; kk++)
                wgmma_ss_n<T, BC>(s[0][0], qdesc(Qs, wg, kk), kdesc(Kn, kk), kk);
            wg_commit();
            for (int kk = 0; kk < BC / 16; kk++)
                for (int dn = 0; dn < D / PN; dn++)
                    wgmma_rs_n<T, PN>(acc[0][PN / 8 * dn], a[kk], vdesc(Vj, kk, dn));
            wg_commit();
            if (PP) bar_arrive(V14_TURN + (wg + 1) % NWG, 256);   /* and give the next its turn */
            wg_wait<1>();
            wg_hold(s[0][0], BC / 2);
        }
        if (PERSIST && lane == 0) mbar_arrive(qfree);   /* every score of the tile is in: the queries' buffer is free */
        mbar_wait(vfull + (n0 + nkv - 1) % NS, (n0 + nkv - 1) / NS % 2);
        fence_proxy_async();
        {
            if (PP) bar_sync(V14_TURN + wg, 256);
            const T *Vj = Vs + (n0 + nkv - 1) % NS * BC * D;
            wg_hold(acc[0][0], D / 2);
            wg_hold(a[0], BC / 4);
            wg_fence();
            for (int kk = 0; kk < BC / 16; kk++)
                for (int dn = 0; dn < D / PN; dn++)
                    wgmma_rs_n<T, PN>(acc[0][PN / 8 * dn], a[kk], vdesc(Vj, kk, dn));
            wg_commit();
            if (AT_ISSUE) bar_arrive(V14_TURN + (wg + 1) % NWG, 256);          /* version 15 */
            wg_wait<0>();
            wg_hold(acc[0][0], D / 2);
            if (PP && !AT_ISSUE) bar_arrive(V14_TURN + (wg + 1) % NWG, 256);   /* version 14 */
        }
        if (PERSIST && lane == 0) mbar_arrive(vfree + (n0 + nkv - 1) % NS);   /* and the last stage, for the next */
        if (PP && !PERSIST && wg == 0) bar_sync(V14_TURN, 256);   /* the last warpgroup's last arrival */

        T *og = o + b * out.b + h * out.h;
        for (int mt = 0; mt < MT; mt++)
            for (int r = 0; r < 2; r++) {
                float lr = l[mt][r];
                lr += __shfl_xor_sync(0xffffffffu, lr, 1);
                lr += __shfl_xor_sync(0xffffffffu, lr, 2);
                int row = q0 + wrow + mt * 16 + g + r * 8;
                if (row >= Tn) continue;
                float inv = 1.0f / lr;
                for (int dt = 0; dt < D / 8; dt++)
                    *reinterpret_cast<uint32_t *>(og + row * out.t + dt * 8 + tig * 2) =
                        pack2<T>(acc[mt][dt][2 * r] * inv, acc[mt][dt][2 * r + 1] * inv);
                if (tig == 0) lse[(size_t)bh * Tn + row] = (m[mt][r] + log2f(lr)) / LOG2E;
            }
        n0 += nkv;
    }
    if (PP && PERSIST && wg == 0) bar_sync(V14_TURN, 256);   /* version 21: once, after the block's last tile */
}

/* four 8 x 8 matrices of 16-bit values from fragments r[0..3] to shared memory;
 * lane l gives the address of row l % 8 of matrix l / 8 */
__device__ __forceinline__ void stsm_x4(void *p, const uint32_t r[4]) {
    asm volatile("stmatrix.sync.aligned.m8n8.x4.shared.b16 [%0], {%1, %2, %3, %4};\n" ::"r"(smem_addr(p)), "r"(r[0]),
                 "r"(r[1]), "r"(r[2]), "r"(r[3])
                 : "memory");
}

/* d (64 x N a warpgroup) = A (64 x 16) B (16 x N) + (acc ? d : 0), A and B MN-major */
template <typename T, int N>
__device__ __forceinline__ void wgmma_ss_t(float d[N / 2], uint64_t da, uint64_t db, int acc);
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
template <> __device__ __forceinline__ void wgmma_ss_t<bf16, 64>(float d[32], uint64_t da, uint64_t db, int acc) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
                 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
                 "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
                 "%32, %33, p, 1, 1, 1, 1;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
                   "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
                   "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
                   "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
                 : "l"(da), "l"(db), "r"(acc));
}
template <> __device__ __forceinline__ void wgmma_ss_t<bf16, 32>(float d[16], uint64_t da, uint64_t db, int acc) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %18, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 "
                 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15}, "
                 "%16, %17, p, 1, 1, 1, 1;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
                   "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
                 : "l"(da), "l"(db), "r"(acc));
}
template <> __device__ __forceinline__ void wgmma_ss_t<f16, 64>(float d[32], uint64_t da, uint64_t db, int acc) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 "
                 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
                 "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
                 "%32, %33, p, 1, 1, 1, 1;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
                   "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
                   "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
                   "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
                 : "l"(da), "l"(db), "r"(acc));
}
template <> __device__ __forceinline__ void wgmma_ss_t<f16, 32>(float d[16], uint64_t da, uint64_t db, int acc) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %18, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n32k16.f32.f16.f16 "
                 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15}, "
                 "%16, %17, p, 1, 1, 1, 1;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
                   "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
                 : "l"(da), "l"(db), "r"(acc));
}
#else
template <typename T, int N> __device__ __forceinline__ void wgmma_ss_t(float *, uint64_t, uint64_t, int) { __trap(); }
#endif

/* rows [row0, row0 + R) of a head (row stride ld elements, D per row) into shared memory as D / 64 blocks of
 * 64 columns, each R rows of 128 bytes, the 16-byte piece c of row r at place c ^ r % 8 (TMA's 128-byte
 * swizzle, dst on a 1024-byte boundary); eight threads a row, so that each 128 bytes of a row are one request;
 * rows past Tn zeros */
template <typename T, int D, int R, int THREADS>
__device__ __forceinline__ void load_tile_sw128(T *dst, const T *src, long long ld, int row0, int Tn) {
    for (int i = threadIdx.x; i < R * D / 8; i += THREADS) {
        int c = i % 8, r = i / 8 % R, cb = i / 8 / R, row = row0 + r;
        bool ok = row < Tn;
        cp_async16(dst + cb * 64 * R + r * 64 + (c ^ r % 8) * 8, ok ? src + row * ld + cb * 64 + c * 8 : src, ok);
    }
}
/* add_dk_dv, the old values of the thread's rows read from ko and vo in shared memory (key key0 + 8 r at row
 * key0 + 8 r - k0, rows of LD elements; version 17), the sums stored to dk and dv (row stride ts) */
template <typename T, int D, int LD>
__device__ __forceinline__ void add_dk_dv_old(T *dk, T *dv, size_t ts, const T *ko, const T *vo, int key0, int k0,
                                              int Tn, int tig, const float (&dka)[D / 8][4],
                                              const float (&dva)[D / 8][4], float scale) {
    for (int r = 0; r < 2; r++) {
        if (key0 + r * 8 >= Tn) continue;
        size_t x0 = (size_t)(key0 + r * 8) * ts + tig * 2;
        int y0 = (key0 - k0 + r * 8) * LD + tig * 2;   /* LD = 72: bank 4 g + tig + 4 dt, no conflict */
        for (int dt = 0; dt < D / 8; dt++) {
            uint32_t wk = *reinterpret_cast<const uint32_t *>(ko + y0 + dt * 8);
            uint32_t wv = *reinterpret_cast<const uint32_t *>(vo + y0 + dt * 8);
            const T *hk = reinterpret_cast<const T *>(&wk), *hv = reinterpret_cast<const T *>(&wv);
            *reinterpret_cast<uint32_t *>(dk + x0 + dt * 8) =
                pack2<T>(tof(hk[0]) + dka[dt][2 * r] * scale, tof(hk[1]) + dka[dt][2 * r + 1] * scale);
            *reinterpret_cast<uint32_t *>(dv + x0 + dt * 8) =
                pack2<T>(tof(hv[0]) + dva[dt][2 * r], tof(hv[1]) + dva[dt][2 * r + 1]);
        }
    }
}
/* two floats to shared memory (st.shared, as the compiler's own store; written out so that the emulator sees it) */
__device__ __forceinline__ void st_shared_f32x2(float *p, float a, float b) {
    asm volatile("st.shared.v2.f32 [%0], {%1, %2};\n" ::"r"(smem_addr(p)), "f"(a), "f"(b) : "memory");
}
/* the box of the tensor map at (c0, c1, c2) += the floats at src in shared memory, by the TMA unit, in the
 * thread's bulk group (bulk_commit closes it); bulk_wait_read<N>: at most N groups still reading their
 * shared memory; bulk_wait<N>: at most N groups with their additions not done */
__device__ __forceinline__ void tma_reduce_add_3d(const CUtensorMap *map, const float *src, int c0, int c1, int c2) {
    asm volatile("cp.reduce.async.bulk.tensor.3d.global.shared::cta.add.tile.bulk_group [%0, {%1, %2, %3}], [%4];\n"
                 ::"l"(map), "r"(c0), "r"(c1), "r"(c2), "r"(smem_addr(src)) : "memory");
}
__device__ __forceinline__ void bulk_commit() { asm volatile("cp.async.bulk.commit_group;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void bulk_wait_read() {
    asm volatile("cp.async.bulk.wait_group.read %0;\n" ::"n"(N) : "memory");
}
template <int N> __device__ __forceinline__ void bulk_wait() {
    asm volatile("cp.async.bulk.wait_group %0;\n" ::"n"(N) : "memory");
}
#define V19_DQ 3   /* warpgroup w's dQ tile: named barrier V19_DQ + w (0 is __syncthreads, 1 and 2 V14_TURN's) */
#define V7_BR 64   /* query rows per tile */
/* the byte where version 19's BR x D floats of dQ begin: after the rest of version 7's shared memory (with
 * version 17's third stage and old rows under AHEAD), on a 1024-byte boundary */
template <typename T, int D, int NWG, bool AHEAD> __host__ __device__ constexpr size_t v7_dq_at() {
    return ((size_t)(2 * 64 * NWG + 2 * (AHEAD ? 3 : 2) * V7_BR) * D * sizeof(T) + (size_t)64 * NWG * V7_BR * sizeof(T) +
            2 * (AHEAD ? 3 : 2) * V7_BR * sizeof(float) + (AHEAD ? (size_t)2 * 64 * NWG * (D + 8) * sizeof(T) : 0) +
            1023) / 1024 * 1024;
}
#define V26_KEYS 5   /* version 26: the consumers' barrier once the keys are in (0 is __syncthreads, 1 to 4 above) */
/* version 26: the query tiles' barriers, after version 25's two tiles of dQ */
template <typename T, int D, int NWG, bool AHEAD> __host__ __device__ constexpr size_t v26_bar_at() {
    return v7_dq_at<T, D, NWG, AHEAD>() + (size_t)NWG * V7_BR * D * sizeof(float);
}
/* version 26's tensor maps: the query tiles and dO (swizzled boxes of 64 x 64), lse and D (64 floats) */
struct V26Maps {
    CUtensorMap q, o, l, d;
};

/* The backward pass on warpgroups: NWG warpgroups, each owning 64 keys
 * (BC = 64 NWG a block); for each query tile, S^T = K Q^T and dP^T = V dO^T
 * by wgmma, P^T and dS^T in registers as the A operands of dV += P^T dO and
 * dK += dS^T Q; dS^T through shared memory (stmatrix) for dQ = dS K, each
 * warpgroup D / NWG of dQ's columns, added with float2 atomics.  The next
 * query tile, its dO, lse and D come into a second stage by cp.async.  Later versions, by their flags: three
 * stages (17, AHEAD), dQ by bulk reductions (19, DQB), each warpgroup's own dQ (25, DW), the query tiles by TMA
 * from a producer warpgroup (26, TQ), turns (27, PP). */
template <typename T, int D, int NWG, bool FAST, bool SWQ, bool AHEAD, bool HM, bool DQB, bool HG, bool DW, bool TQ,
          bool PP>
__global__ void __launch_bounds__(NWG * 128 + (TQ ? 128 : 0), 1)
flash7_backward_kernel(T *dk, T *dv, float *dq_acc, const T *dout, const T *q, const T *k, const T *v, const float *lse,
                       const float *dd, int NH, int Tn, FlashLayout in, FlashLayout out, float scale, bool causal,
                       const __grid_constant__ CUtensorMap dqmap, const __grid_constant__ V26Maps tq, int hg) {
    constexpr int BR = V7_BR, BC = 64 * NWG, THREADS = NWG * 128, DN = DW ? D : D / NWG;   /* DN: dQ's columns a warpgroup */
    constexpr int NQ = AHEAD ? 3 : 2;                         /* stages of query tiles (version 17: three) */
    extern __shared__ __align__(1024) unsigned char smem7[];   /* version 14's swizzled tiles: 1024-byte blocks */
    T *Ks = reinterpret_cast<T *>(smem7), *Vs = Ks + BC * D, *Q2 = Vs + BC * D, *dO2 = Q2 + NQ * BR * D;
    if (SWQ && smem_addr(smem7) % 1024) __trap();
    T *dSs = dO2 + NQ * BR * D;                               /* dS^T: BC keys x BR queries, core matrices */
    float *l2 = reinterpret_cast<float *>(dSs + BC * BR), *d2 = l2 + NQ * BR;   /* L and D, NQ stages each */
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, tig = lane % 4, wg = warp / 4;
    int bh = HM ? blockIdx.y : blockIdx.x, kb = HM ? blockIdx.x : blockIdx.y;   /* version 18 (HM): heads in y */
    if constexpr (HG) {   /* version 20: one dimension, heads in groups of hg */
        int L = blockIdx.x, nkb = (Tn + BC - 1) / BC, BNH = gridDim.x / nkb;
        {   /* groups of hg heads, the last perhaps of fewer (n); in a group, key block 0 of each, then 1, ... */
            int g0 = L / (hg * nkb) * hg, n = BNH - g0 < hg ? BNH - g0 : hg, i = L - g0 * nkb;
            kb = i / n, bh = g0 + i % n;
        }
    }
    int b = bh / NH, h = bh % NH, k0 = kb * BC;
    size_t ib = b * in.b + h * in.h, ob = b * out.b + h * out.h;
    uint64_t *qfull = reinterpret_cast<uint64_t *>(smem7 + v26_bar_at<T, D, NWG, AHEAD>()), *qfree = qfull + NQ;
    if constexpr (TQ) {   /* version 26 */
        if (threadIdx.x == 0) {
            for (int st = 0; st < NQ; st++) mbar_init(qfull + st, 1), mbar_init(qfree + st, THREADS / 32);
            fence_proxy_async();                               /* the inits seen by the TMA unit */
        }
        __syncthreads();
        if (wg == NWG) {                                       /* the third warpgroup: one thread copies */
            wg_set_registers<V9_PRODUCER_REGS>(false);
            if (threadIdx.x == THREADS) {
                int n = 0;
                for (int q0 = causal ? k0 / BR * BR : 0; q0 < Tn; q0 += BR, n++) {
                    int st = n % NQ;
                    if (n >= NQ) mbar_wait(qfree + st, (n / NQ - 1) % 2);   /* every warp is done with tile n - NQ */
                    mbar_arrive_expect_tx(qfull + st, 2 * BR * D * sizeof(T) + 2 * BR * sizeof(float));
                    tma_load_4d(Q2 + st * BR * D, &tq.q, 0, q0, h, b, qfull + st);
                    tma_load_4d(dO2 + st * BR * D, &tq.o, 0, q0, h, b, qfull + st);
                    tma_load_2d(l2 + st * BR, &tq.l, q0, bh, qfull + st);
                    tma_load_2d(d2 + st * BR, &tq.d, q0, bh, qfull + st);
                }
                for (int m = max(n - NQ, 0); m < n; m++) mbar_wait(qfull + m % NQ, m / NQ % 2);   /* its last copies landed */
            }
            return;
        }
        wg_set_registers<V9_CONSUMER_REGS>(true);
    }
    load_tile_core<T, D, BC, THREADS>(Ks, k + ib, in.t, k0, Tn);
    load_tile_core<T, D, BC, THREADS>(Vs, v + ib, in.t, k0, Tn);
    T *dKo = reinterpret_cast<T *>(d2 + NQ * BR), *dVo = dKo + BC * (D + 8);   /* version 17: the old dK, dV rows */
    float *dQs = reinterpret_cast<float *>(smem7 + v7_dq_at<T, D, NWG, AHEAD>());   /* version 19: BR x D of dQ */
    if constexpr (AHEAD) {
        load_tile<T, D, D + 8, BC, THREADS>(dKo, dk + ib, in.t, k0, Tn);
        load_tile<T, D, D + 8, BC, THREADS>(dVo, dv + ib, in.t, k0, Tn);
    }
    auto load_query_tile = [&](int qt, int s) {            /* rows qt, qt + 1, ... into stage s */
        if constexpr (SWQ) {                               /* version 14: swizzled */
            load_tile_sw128<T, D, BR, THREADS>(Q2 + s * BR * D, q + ib, in.t, qt, Tn);
            load_tile_sw128<T, D, BR, THREADS>(dO2 + s * BR * D, dout + ob, out.t, qt, Tn);
        } else {
            load_tile_core<T, D, BR, THREADS>(Q2 + s * BR * D, q + ib, in.t, qt, Tn);
            load_tile_core<T, D, BR, THREADS>(dO2 + s * BR * D, dout + ob, out.t, qt, Tn);
        }
        for (int r = threadIdx.x; r < BR; r += THREADS) {
            bool ok = qt + r < Tn;
            size_t x = (size_t)bh * Tn + (ok ? qt + r : 0);
            cp_async4(l2 + s * BR + r, lse + x, ok);
            cp_async4(d2 + s * BR + r, dd + x, ok);
        }
    };
    int q_first = causal ? k0 / BR * BR : 0;                /* the first tile that sees the block's keys */
    if constexpr (!TQ) load_query_tile(q_first, 0);
    cp_async_commit();                                     /* one group with the keys and values */
    if constexpr (AHEAD && !TQ) {
        if (q_first + BR < Tn) load_query_tile(q_first + BR, 1);
        cp_async_commit();                                     /* group 1: the second tile, or nothing */
    }
    auto qdesc = [](const T *t, int kk) {                  /* a query tile as K-major B: columns 16 kk on */
        if constexpr (SWQ) return wg_desc(t + kk % 4 * 16 + kk / 4 * 64 * BR, 16, 1024, true);
        else return wg_desc(t + kk * 128, 128, 16 * D);
    };
    auto qdesc_mn = [](const T *t, int kq, int dn) {       /* as MN-major B: rows 16 kq on, columns 64 dn on */
        if constexpr (SWQ) return wg_desc(t + kq * 16 * 64 + dn * 64 * BR, 64 * 2 * BR, 1024, true);
        else return wg_desc(t + kq * 16 * D + dn * 512, 16 * D, 128);
    };
    int j = lane / 8, key = 16 * warp + 8 * (j % 2) + lane % 8;    /* the row of dS^T this lane stores */
    auto store_ds = [&](int kq, const uint32_t r[4]) {             /* queries 16 kq to 16 kq + 15 */
        stsm_x4(dSs + key / 8 * 8 * BR + (2 * kq + j / 2) * 64 + key % 8 * 8, r);
    };

    float dka[D / 8][4] = {}, dva[D / 8][4] = {};          /* this warp's 16 keys x D */
    float sl = scale * LOG2E;
    int key0 = k0 + warp * 16 + g;                         /* this thread's keys: key0 and key0 + 8 */
    if (PP && wg == 1) bar_arrive(V14_TURN, 256);      /* version 27: warpgroup 0 takes the first turn */
    for (int q0 = q_first, s = 0; q0 < Tn; q0 += BR, s = (s + 1) % NQ) {
        if constexpr (TQ) {   /* version 26 */
            if (q0 == q_first) {                                   /* keys, values and old rows: the one cp.async group */
                cp_async_wait<0>();
                fence_proxy_async();
                bar_sync(V26_KEYS, THREADS);
            }
            mbar_wait(qfull + s, (q0 - q_first) / BR / NQ % 2);
        } else if constexpr (AHEAD) {   /* version 17 */
            cp_async_wait<1>();                        /* every group but the newest: this tile's is in */
            fence_proxy_async();
            __syncthreads();                           /* here for all threads; the last tile's products done */
            if (q0 + 2 * BR < Tn) load_query_tile(q0 + 2 * BR, (s + 2) % 3);
            cp_async_commit();                         /* a group every tile, empty past the end */
        } else {
            cp_async_wait<0>();
            fence_proxy_async();
            __syncthreads();                                   /* the tile is here; the last tile's products are done */
            if (q0 + BR < Tn) {
                load_query_tile(q0 + BR, s ^ 1);
                cp_async_commit();
            }
        }
        const T *Qs = Q2 + s * BR * D, *dOs = dO2 + s * BR * D;
        const float *ls = l2 + s * BR, *ds_ = d2 + s * BR;
        int kend = causal ? min(q0 + BR, Tn) : Tn;         /* keys below kend see some query of the tile */
        float dqa[DN / 8][4] = {};                         /* dQ: this warp's 16 queries x DN columns */
        if (k0 + 64 * wg < kend) {
            float st[BR / 8][4] = {}, dpt[BR / 8][4] = {};     /* S^T, dP^T: 64 keys x 64 queries, wgmma's d0..d31 */
            wg_hold(st[0], BR / 2);
            wg_hold(dpt[0], BR / 2);
            if constexpr (PP) bar_sync(V14_TURN + wg, 256);    /* version 27: this warpgroup's turn to issue */
            wg_fence();
            for (int kk = 0; kk < D / 16; kk++) {
                wgmma_ss<T>(st[0], wg_desc(Ks + wg * 64 * D + kk * 128, 128, 16 * D), qdesc(Qs, kk), kk);
                wgmma_ss<T>(dpt[0], wg_desc(Vs + wg * 64 * D + kk * 128, 128, 16 * D), qdesc(dOs, kk), kk);
            }
            wg_commit();
            if constexpr (PP) bar_arrive(V14_TURN + 1 - wg, 256);   /* and the other's */
            wg_wait<0>();
            wg_hold(st[0], BR / 2);
            wg_hold(dpt[0], BR / 2);

            if constexpr (FAST) {   /* versions 13 on */
                if (q0 + BR > Tn || k0 + BC > Tn || (causal && k0 + BC - 1 > q0))   /* an edge tile: some pair masked */
                    for (int nt = 0; nt < BR / 8; nt++)
                        for (int e = 0; e < 4; e++) {
                            int qi = q0 + nt * 8 + tig * 2 + e % 2, key = key0 + e / 2 * 8;
                            if (qi >= Tn || key >= Tn || (causal && key > qi)) st[nt][e] = -INFINITY;
                        }
                for (int nt = 0; nt < BR / 8; nt++)                /* P^T, then dS^T = P^T (dP^T - dd) */
                    for (int e = 0; e < 4; e++) {
                        int c = nt * 8 + tig * 2 + e % 2;
                        float p = ex2_approx(fmaf(st[nt][e], sl, -ls[c] * LOG2E));
                        st[nt][e] = p;
                        dpt[nt][e] = p * (dpt[nt][e] - ds_[c]);
                    }
            } else {
                for (int nt = 0; nt < BR / 8; nt++)                /* P^T, then dS^T = P^T (dP^T - dd) */
                    for (int e = 0; e < 4; e++) {
                        int c = nt * 8 + tig * 2 + e % 2, qi = q0 + c, key = key0 + e / 2 * 8;
                        bool keep = qi < Tn && key < Tn && !(causal && key > qi);
                        float p = keep ? exp2f(st[nt][e] * sl - ls[c] * LOG2E) : 0.0f;
                        st[nt][e] = p;
                        dpt[nt][e] = p * (dpt[nt][e] - ds_[c]);
                    }
            }

            uint32_t pa[BR / 16][4], sa[BR / 16][4];                      /* P^T and dS^T as A fragments */
            for (int kq = 0; kq < BR / 16; kq++) {
                pa[kq][0] = pack2<T>(st[2 * kq][0], st[2 * kq][1]), pa[kq][1] = pack2<T>(st[2 * kq][2], st[2 * kq][3]);
                pa[kq][2] = pack2<T>(st[2 * kq + 1][0], st[2 * kq + 1][1]);
                pa[kq][3] = pack2<T>(st[2 * kq + 1][2], st[2 * kq + 1][3]);
                sa[kq][0] = pack2<T>(dpt[2 * kq][0], dpt[2 * kq][1]), sa[kq][1] = pack2<T>(dpt[2 * kq][2], dpt[2 * kq][3]);
                sa[kq][2] = pack2<T>(dpt[2 * kq + 1][0], dpt[2 * kq + 1][1]);
                sa[kq][3] = pack2<T>(dpt[2 * kq + 1][2], dpt[2 * kq + 1][3]);
                store_ds(kq, sa[kq]);
            }
            fence_proxy_async();                               /* dS^T visible to the products of dQ */
            if constexpr (DW) bar_sync(V19_DQ + wg, 128);      /* version 25: the warpgroup's own dS^T, for its dQ */
            wg_hold(dva[0], D / 2), wg_hold(dka[0], D / 2);
            wg_hold(pa[0], BR / 4), wg_hold(sa[0], BR / 4);
            if constexpr (DW) wg_hold(dqa[0], DN / 2);
            if constexpr (PP) bar_sync(V14_TURN + wg, 256);    /* version 27 */
            wg_fence();
            for (int kq = 0; kq < BR / 16; kq++)
                for (int dn = 0; dn < D / 64; dn++) {
                    wgmma_rs<T>(dva[8 * dn], pa[kq], qdesc_mn(dOs, kq, dn));
                    wgmma_rs<T>(dka[8 * dn], sa[kq], qdesc_mn(Qs, kq, dn));
                }
            if constexpr (DW)                                  /* version 25: dQ += dS K over the warpgroup's 64 keys */
                for (int kk = 0; kk < 4; kk++)
                    wgmma_ss_t<T, DN>(dqa[0], wg_desc(dSs + (4 * wg + kk) * 16 * BR, 16 * BR, 128),
                                      wg_desc(Ks + (4 * wg + kk) * 16 * D, 16 * D, 128), kk);
            wg_commit();
            if constexpr (PP) bar_arrive(V14_TURN + 1 - wg, 256);
            wg_wait<0>();
            wg_hold(dva[0], D / 2), wg_hold(dka[0], D / 2);
            wg_hold(pa[0], BR / 4), wg_hold(sa[0], BR / 4);
            if constexpr (DW) wg_hold(dqa[0], DN / 2);
        } else if constexpr (PP) {   /* version 27: a warpgroup that skips the tile still takes its two turns */
            for (int t = 0; t < 2; t++) bar_sync(V14_TURN + wg, 256), bar_arrive(V14_TURN + 1 - wg, 256);
        } else if constexpr (!DW) {
            const uint32_t zero[4] = {};
            for (int kq = 0; kq < BR / 16; kq++) store_ds(kq, zero);
            fence_proxy_async();
        }
        if constexpr (!DW) {
            __syncthreads();                               /* every warpgroup's dS^T is in shared memory */
            wg_hold(dqa[0], DN / 2);
            wg_fence();
            for (int kk = 0; kk < BC / 16; kk++)
                wgmma_ss_t<T, DN>(dqa[0], wg_desc(dSs + kk * 16 * BR, 16 * BR, 128),
                                  wg_desc(Ks + kk * 16 * D + wg * DN * 8, 16 * D, 128), kk);
            wg_commit();
            wg_wait<0>();
            wg_hold(dqa[0], DN / 2);
            if constexpr (DQB) {   /* version 19 */
                float *dQw = dQs + wg * BR * DN;                   /* this warpgroup's BR x DN floats: DN / 32 boxes of 32 columns */
                if (threadIdx.x % 128 == 0) bulk_wait_read<0>();   /* the last tile's reduction has read them */
                bar_sync(V19_DQ + wg, 128);
                for (int r = 0; r < 2; r++) {
                    int row = warp % 4 * 16 + g + r * 8;
                    for (int dt = 0; dt < DN / 8; dt++) {
                        int col = dt * 8 + tig * 2;                /* box col / 32, 16-byte piece col % 32 / 4, swizzled */
                        st_shared_f32x2(dQw + col / 32 * BR * 32 + row * 32 + ((col % 32 / 4) ^ row % 8) * 4 + col % 4,
                                        dqa[dt][2 * r], dqa[dt][2 * r + 1]);
                    }
                }
                fence_proxy_async();                               /* the stores visible to the TMA unit */
                bar_sync(V19_DQ + wg, 128);
                if (threadIdx.x % 128 == 0) {
                    for (int c = 0; c < DN / 32; c++) tma_reduce_add_3d(&dqmap, dQw + c * BR * 32, (DW ? 0 : wg * DN) + c * 32, q0, bh);
                    bulk_commit();
                }
            } else {
                for (int r = 0; r < 2; r++) {
                    int qi = q0 + warp % 4 * 16 + g + r * 8;
                    if (qi >= Tn) continue;
                    float *dst = dq_acc + ((size_t)bh * Tn + qi) * D + wg * DN + tig * 2;
                    for (int dt = 0; dt < DN / 8; dt++) atomic_add2(dst + dt * 8, dqa[dt][2 * r], dqa[dt][2 * r + 1]);
                }
            }
        } else if (k0 + 64 * wg < kend) {                  /* version 25: the warpgroup's own dQ */
            float *dQw = dQs + wg * BR * DN;                   /* this warpgroup's BR x DN floats: DN / 32 boxes of 32 columns */
            if (threadIdx.x % 128 == 0) bulk_wait_read<0>();   /* the last tile's reduction has read them */
            bar_sync(V19_DQ + wg, 128);
            for (int r = 0; r < 2; r++) {
                int row = warp % 4 * 16 + g + r * 8;
                for (int dt = 0; dt < DN / 8; dt++) {
                    int col = dt * 8 + tig * 2;                /* box col / 32, 16-byte piece col % 32 / 4, swizzled */
                    st_shared_f32x2(dQw + col / 32 * BR * 32 + row * 32 + ((col % 32 / 4) ^ row % 8) * 4 + col % 4,
                                    dqa[dt][2 * r], dqa[dt][2 * r + 1]);
                }
            }
            fence_proxy_async();                               /* the stores visible to the TMA unit */
            bar_sync(V19_DQ + wg, 128);
            if (threadIdx.x % 128 == 0) {
                for (int c = 0; c < DN / 32; c++) tma_reduce_add_3d(&dqmap, dQw + c * BR * 32, (DW ? 0 : wg * DN) + c * 32, q0, bh);
                bulk_commit();
            }
        }
        if constexpr (TQ) {   /* version 26: this warp is done with the stage */
            __syncwarp();
            if (lane == 0) mbar_arrive(qfree + s);
        }
    }

    if constexpr (AHEAD)
        add_dk_dv_old<T, D, D + 8>(dk + ib, dv + ib, in.t, dKo, dVo, key0, k0, Tn, tig, dka, dva, scale);
    else
        add_dk_dv<T, D>(dk + ib, dv + ib, in.t, key0, Tn, tig, dka, dva, scale);
    if constexpr (DQB)   /* version 19: the last reduction done before the block's shared memory goes */
        if (threadIdx.x % 128 == 0) bulk_wait<0>();
    if (PP && wg == 0) bar_sync(V14_TURN, 256);        /* version 27: warpgroup 1's last turn given */
}

/* Version 23: the row sums D_i and the cleared f32 buffer of dQ in one pass, and dQ finished from it, each
 * thread taking 8 columns of a row in 16-byte loads and stores (D / 8 threads a row; rows and strides on
 * 16-byte boundaries, which flash_rows_vec checks at the launch) */
template <typename T, int D>
__global__ void flash_prep_kernel(float *dd, float *dq_acc, int *next_item, const T *dout, const T *o, int NH,
                                  int Tn, FlashLayout out, int rows) {
    constexpr int L = D / 8;                               /* threads a row: 8 or 16, a divisor of the warp */
    size_t x = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    int row = (int)(x / L), c = (int)(x % L) * 8;
    bool ok = row < rows;                                  /* every lane stays for the shuffles */
    float s = 0;
    if (ok) {
        int bh = row / Tn, i = row % Tn, b = bh / NH, h = bh % NH;
        size_t off = b * out.b + h * out.h + i * out.t + c;
        uint4 wd = *reinterpret_cast<const uint4 *>(dout + off), wo = *reinterpret_cast<const uint4 *>(o + off);
        const T *hd = reinterpret_cast<const T *>(&wd), *ho = reinterpret_cast<const T *>(&wo);
        for (int e = 0; e < 8; e++) s += tof(hd[e]) * tof(ho[e]);
        float4 *z = reinterpret_cast<float4 *>(dq_acc + (size_t)row * D + c);
        z[0] = make_float4(0, 0, 0, 0), z[1] = make_float4(0, 0, 0, 0);
    }
    for (int m = L / 2; m > 0; m /= 2) s += __shfl_xor_sync(0xffffffffu, s, m);   /* the row's L partial sums */
    if (ok && c == 0) dd[row] = s;
    if (x == 0) *next_item = 0;                            /* version 24's counter of items */
}

/* dq += scale dq_acc, 8 columns a thread */
template <typename T, int D>
__global__ void flash_dq_finish8_kernel(T *dq, const float *dq_acc, int NH, int Tn, FlashLayout in, float scale,
                                        int rows) {
    constexpr int L = D / 8;
    size_t x = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    int row = (int)(x / L), c = (int)(x % L) * 8;
    if (row >= rows) return;
    int bh = row / Tn, i = row % Tn, b = bh / NH, h = bh % NH;
    T *p = dq + b * in.b + h * in.h + i * in.t + c;
    const float4 *a = reinterpret_cast<const float4 *>(dq_acc + (size_t)row * D + c);
    float4 a0 = a[0], a1 = a[1];
    float f[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
    uint4 w = *reinterpret_cast<const uint4 *>(p);
    T *hw = reinterpret_cast<T *>(&w);
    for (int e = 0; e < 8; e++) hw[e] = fromf<T>(tof(hw[e]) + f[e] * scale);
    *reinterpret_cast<uint4 *>(p) = w;
}

/* whether a tensor's rows can be read in 16-byte pieces: its first element on a 16-byte boundary and every
 * stride a multiple of 8 elements (of 2 bytes) */
static bool flash_rows_vec(const void *p, FlashLayout f) {
    return (uintptr_t)p % 16 == 0 && f.b % 8 == 0 && f.h % 8 == 0 && f.t % 8 == 0;
}
/* Version 24's shared memory (d 64): two buffers of keys and values (an item's and the next's), three stages
 * of query and dO tiles, dS^T, the stages' L and D, the two items in hand, the next item's number, two buffers
 * of old dK and dV rows, then, on a 1024-byte boundary, the BR x D floats of dQ */
struct Item24 {                 /* an item in hand: where its head's rows start, its first key and query tile */
    long long ib, ob;
    int k0, q_first, bh, pad;
};
template <typename T, int D> __host__ __device__ constexpr size_t v24_dq_at() {
    return ((size_t)(4 * 128 + 2 * 3 * V7_BR) * D * sizeof(T) + (size_t)128 * V7_BR * sizeof(T) +
            2 * 3 * V7_BR * sizeof(float) + 2 * sizeof(Item24) + 16 + (size_t)4 * 128 * (D + 8) * sizeof(T) + 1023) /
           1024 * 1024;
}

/* Version 24: version 20's backward pass made persistent.  A block an SM takes items (a key block of a head)
 * in version 20's order, the next from a counter in device memory, and keeps one sequence of query tiles
 * through its three stages across items: a tile's copies are asked for two tiles ahead, the next item's
 * first ones under the end of this item's, with that item's keys, values and old dK and dV rows, into the
 * other of two buffers. */
template <typename T, int D>
__global__ void __launch_bounds__(256) flash24_backward_kernel(T *dk, T *dv, float *dq_acc, const T *dout,
                                                               const T *q, const T *k, const T *v,
                                                               const float *lse, const float *dd, int NH, int Tn,
                                                               FlashLayout in, FlashLayout out, float scale,
                                                               bool causal,
                                                               const __grid_constant__ CUtensorMap dqmap, int hg,
                                                               int BNH, int *next_item) {
    constexpr int NWG = 2, BR = V7_BR, BC = 128, THREADS = 256, DN = D / NWG, NQ = 3;
    constexpr bool FAST = true, SWQ = true, DQB = true, DW = false, PP = false;   /* as the chunks shared with version 20 read them */
    extern __shared__ __align__(1024) unsigned char smem24[];
    T *KV = reinterpret_cast<T *>(smem24), *Q2 = KV + 4 * BC * D, *dO2 = Q2 + NQ * BR * D, *dSs = dO2 + NQ * BR * D;
    float *l2 = reinterpret_cast<float *>(dSs + BC * BR), *d2 = l2 + NQ * BR;   /* L and D, NQ stages each */
    Item24 *slot = reinterpret_cast<Item24 *>(d2 + NQ * BR);   /* the items in hand, by buffer */
    int *next_s = reinterpret_cast<int *>(slot + 2);        /* the next item's number, from the counter */
    T *dKo = reinterpret_cast<T *>(next_s + 4);             /* two buffers of old dK, dV rows, padded */
    float *dQs = reinterpret_cast<float *>(smem24 + v24_dq_at<T, D>());
    if (smem_addr(smem24) % 1024) __trap();
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, tig = lane % 4, wg = warp / 4;
    int nkb = (Tn + BC - 1) / BC, nitems = nkb * BNH;      /* items: a head's key block each */
    auto decode = [&](int L, Item24 *it) {                  /* item L (version 20's block L) into a slot */
        int kb, bh;
        {   /* groups of hg heads, the last perhaps of fewer (n); in a group, key block 0 of each, then 1, ... */
            int g0 = L / (hg * nkb) * hg, n = BNH - g0 < hg ? BNH - g0 : hg, i = L - g0 * nkb;
            kb = i / n, bh = g0 + i % n;
        }
        int b = bh / NH, h = bh % NH;
        it->ib = b * in.b + h * in.h, it->ob = b * out.b + h * out.h;
        it->k0 = kb * BC, it->q_first = causal ? kb * BC / BR * BR : 0, it->bh = bh;
    };
    if (threadIdx.x == 0) decode(blockIdx.x, slot);
    __syncthreads();
    int cpar = 0, nL = -1;                                  /* this item's buffer; the next item (-1: not known) */
    int r = 0;                                              /* tiles asked for so far: tile r goes to stage r % 3 */
    auto request = [&](const Item24 &it, int par, int qt) {
        if (qt == it.q_first) {                             /* the item's first tile: its keys, values, old rows too */
            T *Kp = KV + par * 2 * BC * D, *Op = dKo + par * 2 * BC * (D + 8);
            load_tile_core<T, D, BC, THREADS>(Kp, k + it.ib, in.t, it.k0, Tn);
            load_tile_core<T, D, BC, THREADS>(Kp + BC * D, v + it.ib, in.t, it.k0, Tn);
            load_tile<T, D, D + 8, BC, THREADS>(Op, dk + it.ib, in.t, it.k0, Tn);
            load_tile<T, D, D + 8, BC, THREADS>(Op + BC * (D + 8), dv + it.ib, in.t, it.k0, Tn);
        }
        int s = r % NQ;
        load_tile_sw128<T, D, BR, THREADS>(Q2 + s * BR * D, q + it.ib, in.t, qt, Tn);
        load_tile_sw128<T, D, BR, THREADS>(dO2 + s * BR * D, dout + it.ob, out.t, qt, Tn);
        for (int i = threadIdx.x; i < BR; i += THREADS) {
            bool ok = qt + i < Tn;
            size_t x = (size_t)it.bh * Tn + (ok ? qt + i : 0);
            cp_async4(l2 + s * BR + i, lse + x, ok);
            cp_async4(d2 + s * BR + i, dd + x, ok);
        }
        cp_async_commit();                                  /* one group a tile */
        r++;
    };
    auto qdesc = [](const T *t, int kk) {                  /* a query tile as K-major B: columns 16 kk on */
        if constexpr (SWQ) return wg_desc(t + kk % 4 * 16 + kk / 4 * 64 * BR, 16, 1024, true);
        else return wg_desc(t + kk * 128, 128, 16 * D);
    };
    auto qdesc_mn = [](const T *t, int kq, int dn) {       /* as MN-major B: rows 16 kq on, columns 64 dn on */
        if constexpr (SWQ) return wg_desc(t + kq * 16 * 64 + dn * 64 * BR, 64 * 2 * BR, 1024, true);
        else return wg_desc(t + kq * 16 * D + dn * 512, 16 * D, 128);
    };
    int j = lane / 8, key = 16 * warp + 8 * (j % 2) + lane % 8;    /* the row of dS^T this lane stores */
    auto store_ds = [&](int kq, const uint32_t r[4]) {             /* queries 16 kq to 16 kq + 15 */
        stsm_x4(dSs + key / 8 * 8 * BR + (2 * kq + j / 2) * 64 + key % 8 * 8, r);
    };

    /* the cursor: the next tile to ask for, query row rq of this item (rw 0) or the next (rw 1); none while rw < 0 */
    int rw = 0, rq = slot[0].q_first;
    auto fill = [&](int c) {                                /* tiles c, c + 1, c + 2 may be held */
        while (rw >= 0 && r < c + NQ) {
            request(slot[cpar ^ rw], cpar ^ rw, rq);
            rq += BR;
            if (rq < Tn) continue;
            if (rw == 0 && nL >= 0 && nL < nitems) rw = 1, rq = slot[cpar ^ 1].q_first;
            else rw = -1;                                   /* past the items known */
        }
    };
    fill(0);
    for (int c = 0;;) {                                    /* c: the tiles taken so far, all items */
        int k0 = slot[cpar].k0, q_first = slot[cpar].q_first, bh = slot[cpar].bh;
        size_t ib = slot[cpar].ib;
        const T *Ks = KV + cpar * 2 * BC * D, *Vs = Ks + BC * D;
        if (threadIdx.x == 0) {                            /* the item after this one, into the other slot */
            int n = gridDim.x + atomicAdd(next_item, 1);
            *next_s = n;
            if (n < nitems) decode(n, slot + (cpar ^ 1));
        }
        float dka[D / 8][4] = {}, dva[D / 8][4] = {};          /* this warp's 16 keys x D */
        float sl = scale * LOG2E;
        int key0 = k0 + warp * 16 + g;                         /* this thread's keys: key0 and key0 + 8 */
        for (int q0 = q_first; q0 < Tn; q0 += BR, c++) {
            int s = c % NQ;
            if (r - c - 1 >= 2) cp_async_wait<2>();            /* tiles c + 1 and c + 2 asked for too (the first tile) */
            else if (r - c - 1 == 1) cp_async_wait<1>();       /* every group but the newest: tile c's is in */
            else cp_async_wait<0>();                           /* tile c is the newest asked for */
            fence_proxy_async();
            __syncthreads();                                   /* here for all threads; the last tile's products done */
            if (q0 == q_first) {                               /* this item's first tile: its next item is known now */
                nL = *next_s;
                if (rw < 0 && nL < nitems) rw = 1, rq = slot[cpar ^ 1].q_first;
            }
            fill(c);
            const T *Qs = Q2 + s * BR * D, *dOs = dO2 + s * BR * D;
            const float *ls = l2 + s * BR, *ds_ = d2 + s * BR;
            int kend = causal ? min(q0 + BR, Tn) : Tn;         /* keys below kend see some query of the tile */
            float dqa[DN / 8][4] = {};                         /* dQ: this warp's 16 queries x DN columns */
            if (k0 + 64 * wg < kend) {
                float st[BR / 8][4] = {}, dpt[BR / 8][4] = {};     /* S^T, dP^T: 64 keys x 64 queries, wgmma's d0..d31 */
                wg_hold(st[0], BR / 2);
                wg_hold(dpt[0], BR / 2);
                if constexpr (PP) bar_sync(V14_TURN + wg, 256);    /* version 27: this warpgroup's turn to issue */
                wg_fence();
                for (int kk = 0; kk < D / 16; kk++) {
                    wgmma_ss<T>(st[0], wg_desc(Ks + wg * 64 * D + kk * 128, 128, 16 * D), qdesc(Qs, kk), kk);
                    wgmma_ss<T>(dpt[0], wg_desc(Vs + wg * 64 * D + kk * 128, 128, 16 * D), qdesc(dOs, kk), kk);
                }
                wg_commit();
                if constexpr (PP) bar_arrive(V14_TURN + 1 - wg, 256);   /* and the other's */
                wg_wait<0>();
                wg_hold(st[0], BR / 2);
                wg_hold(dpt[0], BR / 2);

                if constexpr (FAST) {   /* versions 13 on */
                    if (q0 + BR > Tn || k0 + BC > Tn || (causal && k0 + BC - 1 > q0))   /* an edge tile: some pair masked */
                        for (int nt = 0; nt < BR / 8; nt++)
                            for (int e = 0; e < 4; e++) {
                                int qi = q0 + nt * 8 + tig * 2 + e % 2, key = key0 + e / 2 * 8;
                                if (qi >= Tn || key >= Tn || (causal && key > qi)) st[nt][e] = -INFINITY;
                            }
                    for (int nt = 0; nt < BR / 8; nt++)                /* P^T, then dS^T = P^T (dP^T - dd) */
                        for (int e = 0; e < 4; e++) {
                            int c = nt * 8 + tig * 2 + e % 2;
                            float p = ex2_approx(fmaf(st[nt][e], sl, -ls[c] * LOG2E));
                            st[nt][e] = p;
                            dpt[nt][e] = p * (dpt[nt][e] - ds_[c]);
                        }
                } else {
                    for (int nt = 0; nt < BR / 8; nt++)                /* P^T, then dS^T = P^T (dP^T - dd) */
                        for (int e = 0; e < 4; e++) {
                            int c = nt * 8 + tig * 2 + e % 2, qi = q0 + c, key = key0 + e / 2 * 8;
                            bool keep = qi < Tn && key < Tn && !(causal && key > qi);
                            float p = keep ? exp2f(st[nt][e] * sl - ls[c] * LOG2E) : 0.0f;
                            st[nt][e] = p;
                            dpt[nt][e] = p * (dpt[nt][e] - ds_[c]);
                        }
                }

                uint32_t pa[BR / 16][4], sa[BR / 16][4];                      /* P^T and dS^T as A fragments */
                for (int kq = 0; kq < BR / 16; kq++) {
                    pa[kq][0] = pack2<T>(st[2 * kq][0], st[2 * kq][1]), pa[kq][1] = pack2<T>(st[2 * kq][2], st[2 * kq][3]);
                    pa[kq][2] = pack2<T>(st[2 * kq + 1][0], st[2 * kq + 1][1]);
                    pa[kq][3] = pack2<T>(st[2 * kq + 1][2], st[2 * kq + 1][3]);
                    sa[kq][0] = pack2<T>(dpt[2 * kq][0], dpt[2 * kq][1]), sa[kq][1] = pack2<T>(dpt[2 * kq][2], dpt[2 * kq][3]);
                    sa[kq][2] = pack2<T>(dpt[2 * kq + 1][0], dpt[2 * kq + 1][1]);
                    sa[kq][3] = pack2<T>(dpt[2 * kq + 1][2], dpt[2 * kq + 1][3]);
                    store_ds(kq, sa[kq]);
                }
                fence_proxy_async();                               /* dS^T visible to the products of dQ */
                if constexpr (DW) bar_sync(V19_DQ + wg, 128);      /* version 25: the warpgroup's own dS^T, for its dQ */
                wg_hold(dva[0], D / 2), wg_hold(dka[0], D / 2);
                wg_hold(pa[0], BR / 4), wg_hold(sa[0], BR / 4);
                if constexpr (DW) wg_hold(dqa[0], DN / 2);
                if constexpr (PP) bar_sync(V14_TURN + wg, 256);    /* version 27 */
                wg_fence();
                for (int kq = 0; kq < BR / 16; kq++)
                    for (int dn = 0; dn < D / 64; dn++) {
                        wgmma_rs<T>(dva[8 * dn], pa[kq], qdesc_mn(dOs, kq, dn));
                        wgmma_rs<T>(dka[8 * dn], sa[kq], qdesc_mn(Qs, kq, dn));
                    }
                if constexpr (DW)                                  /* version 25: dQ += dS K over the warpgroup's 64 keys */
                    for (int kk = 0; kk < 4; kk++)
                        wgmma_ss_t<T, DN>(dqa[0], wg_desc(dSs + (4 * wg + kk) * 16 * BR, 16 * BR, 128),
                                          wg_desc(Ks + (4 * wg + kk) * 16 * D, 16 * D, 128), kk);
                wg_commit();
                if constexpr (PP) bar_arrive(V14_TURN + 1 - wg, 256);
                wg_wait<0>();
                wg_hold(dva[0], D / 2), wg_hold(dka[0], D / 2);
                wg_hold(pa[0], BR / 4), wg_hold(sa[0], BR / 4);
                if constexpr (DW) wg_hold(dqa[0], DN / 2);
            } else if constexpr (PP) {   /* version 27: a warpgroup that skips the tile still takes its two turns */
                for (int t = 0; t < 2; t++) bar_sync(V14_TURN + wg, 256), bar_arrive(V14_TURN + 1 - wg, 256);
            } else if constexpr (!DW) {
                const uint32_t zero[4] = {};
                for (int kq = 0; kq < BR / 16; kq++) store_ds(kq, zero);
                fence_proxy_async();
            }
            if constexpr (!DW) {
                __syncthreads();                               /* every warpgroup's dS^T is in shared memory */
                wg_hold(dqa[0], DN / 2);
                wg_fence();
                for (int kk = 0; kk < BC / 16; kk++)
                    wgmma_ss_t<T, DN>(dqa[0], wg_desc(dSs + kk * 16 * BR, 16 * BR, 128),
                                      wg_desc(Ks + kk * 16 * D + wg * DN * 8, 16 * D, 128), kk);
                wg_commit();
                wg_wait<0>();
                wg_hold(dqa[0], DN / 2);
                if constexpr (DQB) {   /* version 19 */
                    float *dQw = dQs + wg * BR * DN;                   /* this warpgroup's BR x DN floats: DN / 32 boxes of 32 columns */
                    if (threadIdx.x % 128 == 0) bulk_wait_read<0>();   /* the last tile's reduction has read them */
                    bar_sync(V19_DQ + wg, 128);
                    for (int r = 0; r < 2; r++) {
                        int row = warp % 4 * 16 + g + r * 8;
                        for (int dt = 0; dt < DN / 8; dt++) {
                            int col = dt * 8 + tig * 2;                /* box col / 32, 16-byte piece col % 32 / 4, swizzled */
                            st_shared_f32x2(dQw + col / 32 * BR * 32 + row * 32 + ((col % 32 / 4) ^ row % 8) * 4 + col % 4,
                                            dqa[dt][2 * r], dqa[dt][2 * r + 1]);
                        }
                    }
                    fence_proxy_async();                               /* the stores visible to the TMA unit */
                    bar_sync(V19_DQ + wg, 128);
                    if (threadIdx.x % 128 == 0) {
                        for (int c = 0; c < DN / 32; c++) tma_reduce_add_3d(&dqmap, dQw + c * BR * 32, (DW ? 0 : wg * DN) + c * 32, q0, bh);
                        bulk_commit();
                    }
                } else {
                    for (int r = 0; r < 2; r++) {
                        int qi = q0 + warp % 4 * 16 + g + r * 8;
                        if (qi >= Tn) continue;
                        float *dst = dq_acc + ((size_t)bh * Tn + qi) * D + wg * DN + tig * 2;
                        for (int dt = 0; dt < DN / 8; dt++) atomic_add2(dst + dt * 8, dqa[dt][2 * r], dqa[dt][2 * r + 1]);
                    }
                }
            } else if (k0 + 64 * wg < kend) {                  /* version 25: the warpgroup's own dQ */
                float *dQw = dQs + wg * BR * DN;                   /* this warpgroup's BR x DN floats: DN / 32 boxes of 32 columns */
                if (threadIdx.x % 128 == 0) bulk_wait_read<0>();   /* the last tile's reduction has read them */
                bar_sync(V19_DQ + wg, 128);
                for (int r = 0; r < 2; r++) {
                    int row = warp % 4 * 16 + g + r * 8;
                    for (int dt = 0; dt < DN / 8; dt++) {
                        int col = dt * 8 + tig * 2;                /* box col / 32, 16-byte piece col % 32 / 4, swizzled */
                        st_shared_f32x2(dQw + col / 32 * BR * 32 + row * 32 + ((col % 32 / 4) ^ row % 8) * 4 + col % 4,
                                        dqa[dt][2 * r], dqa[dt][2 * r + 1]);
                    }
                }
                fence_proxy_async();                               /* the stores visible to the TMA unit */
                bar_sync(V19_DQ + wg, 128);
                if (threadIdx.x % 128 == 0) {
                    for (int c = 0; c < DN / 32; c++) tma_reduce_add_3d(&dqmap, dQw + c * BR * 32, (DW ? 0 : wg * DN) + c * 32, q0, bh);
                    bulk_commit();
                }
            }
        }
        add_dk_dv_old<T, D, D + 8>(dk + ib, dv + ib, in.t, dKo + cpar * 2 * BC * (D + 8),
                                   dKo + cpar * 2 * BC * (D + 8) + BC * (D + 8), key0, k0, Tn, tig, dka, dva, scale);
        if (nL >= nitems) break;
        cpar ^= 1;                                         /* the next item is this one now */
        if (rw == 1) rw = 0;
    }
    if (threadIdx.x % 128 == 0) bulk_wait<0>();        /* the last reduction done before shared memory goes */
}
/* ---- The entry points ------------------------------------------------------------------ */

template <typename T, int D, int NW, int MT, bool QREG>
static void flash2_forward(Gpu *g, T *o, float *lse, const T *q, const T *k, const T *v, int B, int NH, int Tn,
                           FlashLayout in, FlashLayout out, float scale, bool causal) {
    constexpr int BR = 16 * NW * MT;
    size_t smem = (size_t)(BR + 4 * V2_BC) * (D + 8) * sizeof(T);
    auto kern = flash2_forward_kernel<T, D, NW, MT, QREG>;
    CUDA_CHECK(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    dim3 grid((Tn + BR - 1) / BR, B * NH);
    kern<<<grid, NW * 32, smem, g->stream>>>(o, lse, q, k, v, NH, Tn, in, out, scale, causal);
    LAUNCH_CHECK("flash2_forward");
}

template <typename T, int D, int BR> static void flash2_backward(Gpu *g, T *dk, T *dv, float *dq_acc, const T *dout,
                                                                 const T *q, const T *k, const T *v, const float *lse,
                                                                 const float *dd, int B, int NH, int Tn,
                                                                 FlashLayout in, FlashLayout out, float scale,
                                                                 bool causal) {
    size_t smem = (size_t)(2 * V2_BC + 2 * BR) * (D + 8) * sizeof(T) + (size_t)V2_BC * (BR + 8) * sizeof(T) +
                  2 * BR * sizeof(float);
    auto kern = flash2_backward_kernel<T, D, BR>;
    CUDA_CHECK(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    dim3 grid((Tn + V2_BC - 1) / V2_BC, B * NH);
    kern<<<grid, 128, smem, g->stream>>>(dk, dv, dq_acc, dout, q, k, v, lse, dd, NH, Tn, in, out, scale, causal);
    LAUNCH_CHECK("flash2_backward");
}

template <typename T, int D, int BR, int NW>
static void flash4_backward(Gpu *g, T *dk, T *dv, float *dq_acc, const T *dout, const T *q, const T *k, const T *v,
                            const float *lse, const float *dd, int B, int NH, int Tn, FlashLayout in,
                            FlashLayout out, float scale, bool causal) {
    constexpr int BC = 16 * NW;
    size_t smem = (size_t)(2 * BC + 4 * BR) * (D + 8) * sizeof(T) + (size_t)BC * (BR + 8) * sizeof(T) +
                  4 * BR * sizeof(float);
    auto kern = flash4_backward_kernel<T, D, BR, NW>;
    CUDA_CHECK(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    dim3 grid(B * NH, (Tn + BC - 1) / BC);
    if (grid.y > 65535) die("flash_backward_cuda: T = %d needs %u key blocks, more than 65535", Tn, grid.y);
    kern<<<grid, NW * 32, smem, g->stream>>>(dk, dv, dq_acc, dout, q, k, v, lse, dd, NH, Tn, in, out, scale, causal);
    LAUNCH_CHECK("flash4_backward");
}

template <typename T, int D, int NWG>
static void flash5_forward(Gpu *g, T *o, float *lse, const T *q, const T *k, const T *v, int B, int NH, int Tn,
                           FlashLayout in, FlashLayout out, float scale, bool causal) {
    if (!gpu_has_wgmma(&g->info))
        die("flash_forward_cuda: version 5 needs a GPU of compute capability 9.0 (Hopper), not %d.%d",
            g->info.major, g->info.minor);
    constexpr int BR = 64 * NWG;
    size_t smem = (size_t)(BR + 4 * V5_BC) * D * sizeof(T);
    auto kern = flash5_forward_kernel<T, D, NWG>;
    CUDA_CHECK(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    dim3 grid((Tn + BR - 1) / BR, B * NH);
    kern<<<grid, NWG * 128, smem, g->stream>>>(o, lse, q, k, v, NH, Tn, in, out, scale, causal);
    LAUNCH_CHECK("flash5_forward");
}

template <typename T, int D, int NWG, int BC, int PN>
static void flash6_forward(Gpu *g, T *o, float *lse, const T *q, const T *k, const T *v, int B, int NH, int Tn,
                           FlashLayout in, FlashLayout out, float scale, bool causal) {
    if (!gpu_has_wgmma(&g->info))
        die("flash_forward_cuda: version %d needs a GPU of compute capability 9.0 (Hopper), not %d.%d",
            BC == 64 && PN == 64 ? 6 : 8, g->info.major, g->info.minor);
    constexpr int BR = 64 * NWG;
    size_t smem = (size_t)(BR + 2 * V6_STAGES * BC) * D * sizeof(T);
    auto kern = flash6_forward_kernel<T, D, NWG, BC, PN>;
    CUDA_CHECK(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    dim3 grid((Tn + BR - 1) / BR, B * NH);
    kern<<<grid, NWG * 128, smem, g->stream>>>(o, lse, q, k, v, NH, Tn, in, out, scale, causal);
    LAUNCH_CHECK("flash6_forward");
}

/* m: the [B][T][NH][D]-strided tensor at base (strides in elements, as in), in boxes of 8 columns x BC rows, or
 * (sw) of 64 columns x BC rows, each row of 128 bytes swizzled */
static CUtensorMapDataType tma_dtype(const bf16 *) { return CU_TENSOR_MAP_DATA_TYPE_BFLOAT16; }
static CUtensorMapDataType tma_dtype(const f16 *) { return CU_TENSOR_MAP_DATA_TYPE_FLOAT16; }
static PFN_cuTensorMapEncodeTiled_v12000 tma_encoder(const char *who) {
    static PFN_cuTensorMapEncodeTiled_v12000 encode = NULL;
    if (!encode) {
        cudaDriverEntryPointQueryResult found;
        void *fn = NULL;
        if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &found) !=
                cudaSuccess || found != cudaDriverEntryPointSuccess || !fn)
            die("%s: versions 10 to 22: the driver has no cuTensorMapEncodeTiled", who);
        encode = (PFN_cuTensorMapEncodeTiled_v12000)fn;
    }
    return encode;
}
template <typename T>
static void tensor_map_rows(CUtensorMap *m, const T *base, FlashLayout in, int B, int NH, int Tn, int D, int BC, bool sw) {
    PFN_cuTensorMapEncodeTiled_v12000 encode = tma_encoder("flash_forward_cuda");
    cuuint64_t dims[4] = {(cuuint64_t)D, (cuuint64_t)Tn, (cuuint64_t)NH, (cuuint64_t)B};
    cuuint64_t strides[3] = {(cuuint64_t)in.t * sizeof(T), (cuuint64_t)in.h * sizeof(T), (cuuint64_t)in.b * sizeof(T)};
    cuuint32_t box[4] = {sw ? 64u : 8u, (cuuint32_t)BC, 1, 1}, step[4] = {1, 1, 1, 1};
    CUresult r = encode(m, tma_dtype(base), 4, (void *)base, dims, strides, box, step, CU_TENSOR_MAP_INTERLEAVE_NONE,
                        sw ? CU_TENSOR_MAP_SWIZZLE_128B : CU_TENSOR_MAP_SWIZZLE_NONE, CU_TENSOR_MAP_L2_PROMOTION_L2_128B,
                        CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (r != CUDA_SUCCESS)
        die("flash_forward_cuda: versions 10 to 22: cuTensorMapEncodeTiled refused the map (error %d; strides %lld, %lld, %lld "
            "elements)", (int)r, (long long)in.t, (long long)in.h, (long long)in.b);
}
/* the f32 buffer of dQ, [B NH][T][D], for version 19's reductions: boxes of 32 columns x 64 rows of one head, rows
 * of 128 bytes swizzled; rows past T are outside the tensor, and a reduction leaves them alone */
static void tensor_map_dq(CUtensorMap *m, float *dq_acc, int BNH, int Tn, int D) {
    if ((uintptr_t)dq_acc % 16) die("flash_backward_cuda: version 19: scratch %p is not 16-byte aligned", (void *)dq_acc);
    cuuint64_t dims[3] = {(cuuint64_t)D, (cuuint64_t)Tn, (cuuint64_t)BNH};
    cuuint64_t strides[2] = {(cuuint64_t)D * sizeof(float), (cuuint64_t)Tn * D * sizeof(float)};
    cuuint32_t box[3] = {32, V7_BR, 1}, step[3] = {1, 1, 1};
    CUresult r = tma_encoder("flash_backward_cuda")(m, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 3, dq_acc, dims, strides, box,
                                                    step, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                                                    CU_TENSOR_MAP_L2_PROMOTION_L2_128B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (r != CUDA_SUCCESS)
        die("flash_backward_cuda: version 19: cuTensorMapEncodeTiled refused the map of dQ (error %d, T = %d, d = %d)",
            (int)r, Tn, D);
}
static int v21_forced = 0;   /* version 21's blocks, if forced (flash_forward_blocks_force; 0: one an SM) */
template <typename T, int D, int NWG, int BC, int PN, int V>
static void flash9_forward(Gpu *g, T *o, float *lse, const T *q, const T *k, const T *v, int B, int NH, int Tn,
                           FlashLayout in, FlashLayout out, float scale, bool causal) {
    if (!gpu_has_wgmma(&g->info))
        die("flash_forward_cuda: version %d needs a GPU of compute capability 9.0 (Hopper), not %d.%d", V,
            g->info.major, g->info.minor);
    constexpr int BR = 64 * NWG;
    size_t smem = (size_t)(BR + 2 * V6_STAGES * BC) * D * sizeof(T) + (3 * V6_STAGES + 2) * sizeof(uint64_t);
    CUtensorMap kmap, vmap, qmap;   /* version 9 passes them unused, versions 10 to 20 the last */
    memset(&kmap, 0, sizeof kmap), memset(&vmap, 0, sizeof vmap), memset(&qmap, 0, sizeof qmap);
    if (V >= 10) {   /* version 10 on: TMA, in boxes of 8 columns (10) or 64, swizzled (11 on) */
        tensor_map_rows<T>(&kmap, k, in, B, NH, Tn, D, BC, V >= 11);
        tensor_map_rows<T>(&vmap, v, in, B, NH, Tn, D, BC, V >= 11);
    }
    if (V >= 21) tensor_map_rows<T>(&qmap, q, in, B, NH, Tn, D, BR, true);   /* version 21: the queries too */
    auto kern = flash9_forward_kernel<T, D, NWG, BC, PN, V>;
    CUDA_CHECK(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    int nqb = (Tn + BR - 1) / BR;
    dim3 grid(nqb, B * NH);
    if (V >= 21) {   /* version 21: a block an SM (fewer if there are fewer tiles), each taking tiles in turn */
        if ((long long)nqb * B * NH > 0x7fffffff) die("flash_forward_cuda: version 21: %d x %d tiles, too many", nqb, B * NH);
        int blocks = v21_forced > 0 ? v21_forced : g->info.sms;
        grid = dim3(nqb * B * NH < blocks ? nqb * B * NH : blocks);
    }
    kern<<<grid, NWG * 128 + 128, smem, g->stream>>>(o, lse, q, k, v, NH, Tn, in, out, scale, causal, kmap, vmap, qmap,
                                                      B * NH);
    LAUNCH_CHECK("flash9_forward");
}

/* version 20's order: block L of BNH heads x nkb key blocks, in groups of hg heads (hg >= 1, hg * nkb within an int:
 * the callers keep hg <= BNH); its head and key block */
static void v20_block(int L, int BNH, int nkb, int hg, int *head, int *key_block) {
    int bh, kb;
    {   /* groups of hg heads, the last perhaps of fewer (n); in a group, key block 0 of each, then 1, ... */
        int g0 = L / (hg * nkb) * hg, n = BNH - g0 < hg ? BNH - g0 : hg, i = L - g0 * nkb;
        kb = i / n, bh = g0 + i % n;
    }
    *head = bh, *key_block = kb;
}

/* When the last SM finishes, in units of a query tile, if the blocks go in version 20's order with groups of hg
 * heads, each to the SM that frees first (a min-heap of their finishing times), and block (head, kb) takes
 * nqt - step kb query tiles and one more for its epilogue (step: the query tiles a key block skips, causal) */
static double v20_makespan(int BNH, int nkb, int nqt, int step, int hg, int sms) {
    enum { MAX_SMS = 1024 };
    double heap[MAX_SMS] = {0}, end = 0;
    if (sms < 1) sms = 1;
    if (sms > MAX_SMS) sms = MAX_SMS;
    for (int L = 0; L < BNH * nkb; L++) {
        int bh, kb;
        v20_block(L, BNH, nkb, hg, &bh, &kb);
        double t = heap[0] + (nqt - step * kb) + 1;   /* the block goes to the SM that frees first */
        if (t > end) end = t;
        int i = 0;                                     /* that SM's new time sifts down from the top */
        for (;;) {
            int c = 2 * i + 1;
            if (c >= sms) break;
            if (c + 1 < sms && heap[c + 1] < heap[c]) c++;
            if (heap[c] >= t) break;
            heap[i] = heap[c], i = c;
        }
        heap[i] = t;
    }
    return end;
}

/* The heads of a group: of the sizes whose rows (head_bytes a head) take at most a third of the L2 cache, the
 * one the model finishes soonest, the larger on a tie; the answer for the last shape asked is kept */
static int v20_head_group(int BNH, int nkb, int nqt, int step, int sms, size_t l2, size_t head_bytes) {
    static long long last[6] = {-1};
    static int last_hg = 1;
    long long gmax = head_bytes ? (long long)(l2 / 3 / head_bytes) : BNH;
    if (gmax > BNH) gmax = BNH;
    if (gmax < 1) gmax = 1;
    long long key[6] = {BNH, nkb, nqt, step, sms, gmax};
    if (memcmp(key, last, sizeof key) == 0) return last_hg;
    int best = 1;
    double best_end = v20_makespan(BNH, nkb, nqt, step, 1, sms);
    for (int hg = 2; hg <= gmax && nkb > 1; hg++) {   /* one key block a head: every size is the same order */
        double end = v20_makespan(BNH, nkb, nqt, step, hg, sms);
        if (end <= best_end) best = hg, best_end = end;
    }
    memcpy(last, key, sizeof key), last_hg = best;
    return best;
}
/* BNH rows of Tn floats (lse or D) as a map, in boxes of 64 of a row; rows past Tn are outside */
static void tensor_map_floats(CUtensorMap *m, const float *p, int Tn, int BNH) {
    cuuint64_t dims[2] = {(cuuint64_t)Tn, (cuuint64_t)BNH}, strides[1] = {(cuuint64_t)Tn * sizeof(float)};
    cuuint32_t box[2] = {V7_BR, 1}, step[2] = {1, 1};
    CUresult r = tma_encoder("flash_backward_cuda")(m, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 2, (void *)p, dims, strides, box,
                                                    step, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_NONE,
                                                    CU_TENSOR_MAP_L2_PROMOTION_NONE, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (r != CUDA_SUCCESS)
        die("flash_backward_cuda: version 26: cuTensorMapEncodeTiled refused a map of %d x %d floats", BNH, Tn);
}
/* version 26: lse and D on 16-byte boundaries, and rows of a multiple of 16 bytes (T a multiple of 4): a map's
 * strides must be, and a box's first element in the row must be too (Q and dO's rows the entry points check) */
static bool v26_ok(const float *lse, const float *dd, int Tn) {
    return (uintptr_t)lse % 16 == 0 && (uintptr_t)dd % 16 == 0 && Tn % 4 == 0;
}
static int v20_forced = 0, v20_used = 0;   /* version 20's group: forced (flash_head_group_force), last taken */
/* a launch's group of heads in version 20's order (and version 24's): forced, or the model's */
template <typename T, int D, int BC> static int v20_group(Gpu *g, int BNH, int nkb, int Tn, bool causal) {
    v20_used = v20_forced > 0 ? (v20_forced < BNH ? v20_forced : BNH)
                              : v20_head_group(BNH, nkb, (Tn + V7_BR - 1) / V7_BR, causal ? BC / V7_BR : 0, g->info.sms,
                                               g->info.l2, (size_t)Tn * D * (2 * sizeof(T) + sizeof(float)));
    return v20_used;
}
template <typename T, int D, int NWG, bool FAST, bool SWQ, bool AHEAD = false, bool HM = false, bool DQB = false,
          bool HG = false, bool DW = false, bool TQ = false, bool PP = false>
static void flash7_backward(Gpu *g, T *dk, T *dv, float *dq_acc, const T *dout, const T *q, const T *k, const T *v,
                            const float *lse, const float *dd, int B, int NH, int Tn, FlashLayout in,
                            FlashLayout out, float scale, bool causal) {
    if (!gpu_has_wgmma(&g->info))
        die("flash_backward_cuda: version %d needs a GPU of compute capability 9.0 (Hopper), not %d.%d",
            PP ? 27 : TQ ? 26 : DW ? 25 : HG ? 20 : DQB ? 19 : HM ? 18 : AHEAD ? 17 : SWQ ? 14 : FAST ? 13 : 7, g->info.major, g->info.minor);
    static_assert(!DW || (DQB && D == 64), "version 25: d 64, with version 19's bulk reductions");
    static_assert(!TQ || (DW && AHEAD && SWQ), "version 26: version 25's kernel, three stages, swizzled");
    static_assert(!PP || (TQ && NWG == 2), "version 27: version 26's kernel, two warpgroups taking turns");
    size_t smem = TQ ? v26_bar_at<T, D, NWG, AHEAD>() + 2 * 3 * sizeof(uint64_t)
                     : v7_dq_at<T, D, NWG, AHEAD>() + (DQB ? (size_t)V7_BR * D * sizeof(float) * (DW ? NWG : 1) : 0);
    CUtensorMap dqmap;   /* versions before 19 pass it unused */
    memset(&dqmap, 0, sizeof dqmap);
    if (DQB) tensor_map_dq(&dqmap, dq_acc, B * NH, Tn, D);
    V26Maps tq;          /* versions before 26 pass them unused */
    memset(&tq, 0, sizeof tq);
    if (TQ) {
        tensor_map_rows<T>(&tq.q, q, in, B, NH, Tn, D, V7_BR, true);
        tensor_map_rows<T>(&tq.o, dout, out, B, NH, Tn, D, V7_BR, true);
        tensor_map_floats(&tq.l, lse, Tn, B * NH);
        tensor_map_floats(&tq.d, dd, Tn, B * NH);
    }
    auto kern = flash7_backward_kernel<T, D, NWG, FAST, SWQ, AHEAD, HM, DQB, HG, DW, TQ, PP>;
    CUDA_CHECK(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    constexpr int BC = 64 * NWG;
    unsigned nkb = (Tn + BC - 1) / BC;                  /* key blocks a head */
    dim3 grid = HM ? dim3(nkb, B * NH) : dim3(B * NH, nkb);   /* version 18: a head's key blocks side by side */
    int hg = 0;                                          /* version 20: heads in groups of hg, in one dimension */
    if (HG) {
        if ((long long)nkb * B * NH > 0x7fffffff) die("flash_backward_cuda: version 20: %u x %d blocks, too many", nkb, B * NH);
        hg = v20_group<T, D, BC>(g, B * NH, (int)nkb, Tn, causal);
        grid = dim3(nkb * B * NH);
    }
    if (!HM && !HG && grid.y > 65535) die("flash_backward_cuda: T = %d needs %u key blocks, more than 65535", Tn, grid.y);
    kern<<<grid, NWG * 128 + (TQ ? 128 : 0), smem, g->stream>>>(dk, dv, dq_acc, dout, q, k, v, lse, dd, NH, Tn, in, out,
                                                                scale, causal, dqmap, tq, hg);
    LAUNCH_CHECK("flash7_backward");
}

/* version 23's two kernels, D / 8 threads a row (the 16-bit types; flash_rows_vec true of the tensors) */
template <typename T>
static void flash_prep(Gpu *g, float *dd, float *dq_acc, int *next_item, const T *dout, const T *o, int NH, int Tn,
                       int hs, FlashLayout out, int rows) {
    unsigned blocks = blocks_for((size_t)rows * (hs / 8), 256);
    if (hs == 64)
        flash_prep_kernel<T, 64><<<blocks, 256, 0, g->stream>>>(dd, dq_acc, next_item, dout, o, NH, Tn, out, rows);
    else
        flash_prep_kernel<T, 128><<<blocks, 256, 0, g->stream>>>(dd, dq_acc, next_item, dout, o, NH, Tn, out, rows);
    LAUNCH_CHECK("flash_prep");
}
template <typename T>
static void flash_dq_finish8(Gpu *g, T *dq, const float *dq_acc, int NH, int Tn, int hs, FlashLayout in, float scale,
                             int rows) {
    unsigned blocks = blocks_for((size_t)rows * (hs / 8), 256);
    if (hs == 64) flash_dq_finish8_kernel<T, 64><<<blocks, 256, 0, g->stream>>>(dq, dq_acc, NH, Tn, in, scale, rows);
    else flash_dq_finish8_kernel<T, 128><<<blocks, 256, 0, g->stream>>>(dq, dq_acc, NH, Tn, in, scale, rows);
    LAUNCH_CHECK("flash_dq_finish8");
}
/* version 24 (d 64): a block an SM, or one an item if there are fewer (or as many as flash_backward_blocks_force
 * asked, for the tests); next_item (zeroed by flash_prep, or here) numbers the items taken after the first ones */
static int v24_forced = 0;
template <typename T, int D>
static void flash24_backward(Gpu *g, T *dk, T *dv, float *dq_acc, const T *dout, const T *q, const T *k, const T *v,
                             const float *lse, const float *dd, int *next_item, bool cleared, int B, int NH, int Tn,
                             FlashLayout in, FlashLayout out, float scale, bool causal) {
    if (!gpu_has_wgmma(&g->info))
        die("flash_backward_cuda: version 24 needs a GPU of compute capability 9.0 (Hopper), not %d.%d", g->info.major,
            g->info.minor);
    size_t smem = v24_dq_at<T, D>() + (size_t)V7_BR * D * sizeof(float);
    CUtensorMap dqmap;
    tensor_map_dq(&dqmap, dq_acc, B * NH, Tn, D);
    auto kern = flash24_backward_kernel<T, D>;
    CUDA_CHECK(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    long long nkb = (Tn + 127) / 128, items = nkb * B * NH;
    if (items > 0x7fffffff) die("flash_backward_cuda: version 24: %lld items, too many", items);
    int hg = v20_group<T, D, 128>(g, B * NH, (int)nkb, Tn, causal);
    int blocks = items < g->info.sms ? (int)items : g->info.sms;
    if (v24_forced > 0 && v24_forced < blocks) blocks = v24_forced;
    if (!cleared) CUDA_CHECK(cudaMemsetAsync(next_item, 0, sizeof(int), g->stream));
    kern<<<blocks, 256, smem, g->stream>>>(dk, dv, dq_acc, dout, q, k, v, lse, dd, NH, Tn, in, out, scale, causal, dqmap,
                                           hg, B * NH, next_item);
    LAUNCH_CHECK("flash24_backward");
}
/* one dtype's launches: version 2 exists for the 16-bit types only */
template <typename T>
static void flash_forward_typed(Gpu *g, int version, T *o, float *lse, const T *q, const T *k, const T *v, int B,
                                int NH, int Tn, int hs, bool causal, FlashLayout in, FlashLayout out, float scale) {
    dim3 grid((Tn + V1_BR - 1) / V1_BR, B * NH);
    if (version == 1) {
        if (hs == 64) flash1_forward_kernel<T, 64><<<grid, V1_BR, 0, g->stream>>>(o, lse, q, k, v, NH, Tn, in, out, scale, causal);
        else flash1_forward_kernel<T, 128><<<grid, V1_BR, 0, g->stream>>>(o, lse, q, k, v, NH, Tn, in, out, scale, causal);
        LAUNCH_CHECK("flash1_forward");
    }
    if constexpr (sizeof(T) == 2) {
        if (version == 2 && hs == 64) flash2_forward<T, 64, 4, 1, true>(g, o, lse, q, k, v, B, NH, Tn, in, out, scale, causal);
        if (version == 2 && hs == 128) flash2_forward<T, 128, 4, 1, true>(g, o, lse, q, k, v, B, NH, Tn, in, out, scale, causal);
        if ((version == 3 || version == 4 || version == 7) && hs == 64)
            flash2_forward<T, 64, 4, 2, true>(g, o, lse, q, k, v, B, NH, Tn, in, out, scale, causal);
        if ((version == 3 || version == 4 || version == 7) && hs == 128)
            flash2_forward<T, 128, 4, 2, false>(g, o, lse, q, k, v, B, NH, Tn, in, out, scale, causal);
        if (version == 5 && hs == 64) flash5_forward<T, 64, 2>(g, o, lse, q, k, v, B, NH, Tn, in, out, scale, causal);
        if (version == 5 && hs == 128) flash5_forward<T, 128, 2>(g, o, lse, q, k, v, B, NH, Tn, in, out, scale, causal);
        if (version == 6 && hs == 64) flash6_forward<T, 64, 2, 64, 64>(g, o, lse, q, k, v, B, NH, Tn, in, out, scale, causal);
        if (version == 6 && hs == 128) flash6_forward<T, 128, 2, 64, 64>(g, o, lse, q, k, v, B, NH, Tn, in, out, scale, causal);
        if (version == 8 && hs == 64)
            flash6_forward<T, 64, V8_NWG_D64, 128, 64>(g, o, lse, q, k, v, B, NH, Tn, in, out, scale, causal);
        if (version == 8 && hs == 128)
            flash6_forward<T, 128, 2, 128, 128>(g, o, lse, q, k, v, B, NH, Tn, in, out, scale, causal);
        if (version == 9 && hs == 64)
            flash9_forward<T, 64, 2, 128, 64, 9>(g, o, lse, q, k, v, B, NH, Tn, in, out, scale, causal);
        if (version == 9 && hs == 128)
            flash9_forward<T, 128, 2, 128, 128, 9>(g, o, lse, q, k, v, B, NH, Tn, in, out, scale, causal);
        if (version == 10 && hs == 64)
            flash9_forward<T, 64, 2, 128, 64, 10>(g, o, lse, q, k, v, B, NH, Tn, in, out, scale, causal);
        if (version == 11 && hs == 64)
            flash9_forward<T, 64, 2, 128, 64, 11>(g, o, lse, q, k, v, B, NH, Tn, in, out, scale, causal);
        if (version == 12 && hs == 64)
            flash9_forward<T, 64, 2, 128, 64, 12>(g, o, lse, q, k, v, B, NH, Tn, in, out, scale, causal);
        if (version == 13 && hs == 64)
            flash9_forward<T, 64, 2, 128, 64, 12>(g, o, lse, q, k, v, B, NH, Tn, in, out, scale, causal);
        if (version == 14 && hs == 64)
            flash9_forward<T, 64, 2, 128, 64, 14>(g, o, lse, q, k, v, B, NH, Tn, in, out, scale, causal);
        if ((version == 15 || (version >= 17 && version <= 20)) && hs == 64)
            flash9_forward<T, 64, 2, 128, 64, 15>(g, o, lse, q, k, v, B, NH, Tn, in, out, scale, causal);
        if (version == 21 && hs == 64)
            flash9_forward<T, 64, 2, 128, 64, 21>(g, o, lse, q, k, v, B, NH, Tn, in, out, scale, causal);
        if (version >= 22 && hs == 64)   /* version 23's forward pass is version 22's */
            flash9_forward<T, 64, 2, 128, 64, 22>(g, o, lse, q, k, v, B, NH, Tn, in, out, scale, causal);
        if (version == 16 && hs == 64)
            flash9_forward<T, 64, 3, 128, 64, 16>(g, o, lse, q, k, v, B, NH, Tn, in, out, scale, causal);
        if (version == 10 && hs == 128)
            flash9_forward<T, 128, 2, 128, 128, 10>(g, o, lse, q, k, v, B, NH, Tn, in, out, scale, causal);
        if (version == 11 && hs == 128)
            flash9_forward<T, 128, 2, 128, 128, 11>(g, o, lse, q, k, v, B, NH, Tn, in, out, scale, causal);
        if (version == 12 && hs == 128)
            flash9_forward<T, 128, 2, 128, 128, 12>(g, o, lse, q, k, v, B, NH, Tn, in, out, scale, causal);
        if (version == 13 && hs == 128)
            flash9_forward<T, 128, 2, 128, 128, 12>(g, o, lse, q, k, v, B, NH, Tn, in, out, scale, causal);
        if (version == 14 && hs == 128)
            flash9_forward<T, 128, 2, 128, 128, 14>(g, o, lse, q, k, v, B, NH, Tn, in, out, scale, causal);
        if (version >= 15 && version <= 20 && hs == 128)
            flash9_forward<T, 128, 2, 128, 128, 15>(g, o, lse, q, k, v, B, NH, Tn, in, out, scale, causal);
        if (version == 21 && hs == 128)
            flash9_forward<T, 128, 2, 128, 128, 21>(g, o, lse, q, k, v, B, NH, Tn, in, out, scale, causal);
        if (version >= 22 && hs == 128)
            flash9_forward<T, 128, 2, 128, 128, 22>(g, o, lse, q, k, v, B, NH, Tn, in, out, scale, causal);
    }
}

template <typename T>
static void flash_backward_typed(Gpu *g, int version, T *dq, T *dk, T *dv, const T *dout, const T *q, const T *k,
                                 const T *v, const T *o, const float *lse, float *dq_acc, float *dd, int B, int NH,
                                 int Tn, int hs, bool causal, FlashLayout in, FlashLayout out, float scale) {
    size_t rows = (size_t)B * NH * Tn;
    bool v23 = false;   /* version 23: D_i with the buffer cleared, and dQ finished, 16 bytes a load */
    int *next_item = reinterpret_cast<int *>(dd + rows);   /* version 24's counter, after D_i */
    if constexpr (sizeof(T) == 2)
        v23 = version >= 23 && (uintptr_t)dq_acc % 16 == 0;   /* dO, O and dq: the entry points check their rows */
    if (v23) {
        flash_prep<T>(g, dd, dq_acc, next_item, dout, o, NH, Tn, hs, out, (int)rows);
    } else {
        flash_dot_kernel<T><<<blocks_for(rows, 8), 256, 0, g->stream>>>(dd, dout, o, NH, Tn, hs, out, (int)rows);
        LAUNCH_CHECK("flash_dot");
    }
    dim3 grid((Tn + V1_BR - 1) / V1_BR, B * NH);
    if (version == 1 && hs == 64) {
        flash1_dq_kernel<T, 64><<<grid, V1_BR, 0, g->stream>>>(dq, dout, q, k, v, lse, dd, NH, Tn, in, out, scale, causal);
        flash1_dkv_kernel<T, 64><<<grid, V1_BR, 0, g->stream>>>(dk, dv, dout, q, k, v, lse, dd, NH, Tn, in, out, scale, causal);
    } else if (version == 1) {
        flash1_dq_kernel<T, 128><<<grid, V1_BR, 0, g->stream>>>(dq, dout, q, k, v, lse, dd, NH, Tn, in, out, scale, causal);
        flash1_dkv_kernel<T, 128><<<grid, V1_BR, 0, g->stream>>>(dk, dv, dout, q, k, v, lse, dd, NH, Tn, in, out, scale, causal);
    }
    if (version == 1) LAUNCH_CHECK("flash1_backward");
    if constexpr (sizeof(T) == 2) {
        if (version < 2) return;                /* version 3 changes the forward pass only */
        if (!v23) CUDA_CHECK(cudaMemsetAsync(dq_acc, 0, rows * hs * sizeof(float), g->stream));
        if (version >= 27 && hs == 64 && v26_ok(lse, dd, Tn))
            flash7_backward<T, 64, 2, true, true, true, false, true, true, true, true, true>(
                g, dk, dv, dq_acc, dout, q, k, v, lse, dd, B, NH, Tn, in, out, scale, causal);
        else if (version >= 26 && hs == 64 && v26_ok(lse, dd, Tn))
            flash7_backward<T, 64, 2, true, true, true, false, true, true, true, true>(g, dk, dv, dq_acc, dout, q, k, v,
                                                                                       lse, dd, B, NH, Tn, in, out,
                                                                                       scale, causal);
        else if (version >= 25 && hs == 64)
            flash7_backward<T, 64, 2, true, true, true, false, true, true, true>(g, dk, dv, dq_acc, dout, q, k, v, lse,
                                                                                 dd, B, NH, Tn, in, out, scale, causal);
        else if (version == 24 && hs == 64)
            flash24_backward<T, 64>(g, dk, dv, dq_acc, dout, q, k, v, lse, dd, next_item, v23, B, NH, Tn, in, out, scale,
                                    causal);
        else if (version >= 20 && hs == 64)   /* versions 21 to 23's main kernel is version 20's (and 24's at d 128) */
            flash7_backward<T, 64, 2, true, true, true, false, true, true>(g, dk, dv, dq_acc, dout, q, k, v, lse, dd, B,
                                                                           NH, Tn, in, out, scale, causal);
        else if (version >= 20)
            flash7_backward<T, 128, 2, true, true, false, false, true, true>(g, dk, dv, dq_acc, dout, q, k, v, lse, dd,
                                                                             B, NH, Tn, in, out, scale, causal);
        else if (version == 19 && hs == 64)
            flash7_backward<T, 64, 2, true, true, true, false, true>(g, dk, dv, dq_acc, dout, q, k, v, lse, dd, B, NH,
                                                                     Tn, in, out, scale, causal);
        else if (version == 19)
            flash7_backward<T, 128, 2, true, true, false, false, true>(g, dk, dv, dq_acc, dout, q, k, v, lse, dd, B,
                                                                       NH, Tn, in, out, scale, causal);
        else if (version == 18 && hs == 64)
            flash7_backward<T, 64, 2, true, true, true, true>(g, dk, dv, dq_acc, dout, q, k, v, lse, dd, B, NH, Tn, in,
                                                              out, scale, causal);
        else if (version == 18)
            flash7_backward<T, 128, 2, true, true, false, true>(g, dk, dv, dq_acc, dout, q, k, v, lse, dd, B, NH, Tn, in,
                                                               out, scale, causal);
        else if (version == 17 && hs == 64)
            flash7_backward<T, 64, 2, true, true, true>(g, dk, dv, dq_acc, dout, q, k, v, lse, dd, B, NH, Tn, in, out,
                                                        scale, causal);
        else if (version >= 14 && hs == 64)
            flash7_backward<T, 64, 2, true, true>(g, dk, dv, dq_acc, dout, q, k, v, lse, dd, B, NH, Tn, in, out, scale, causal);
        else if (version >= 14)
            flash7_backward<T, 128, 2, true, true>(g, dk, dv, dq_acc, dout, q, k, v, lse, dd, B, NH, Tn, in, out, scale, causal);
        else if (version == 13 && hs == 64)
            flash7_backward<T, 64, 2, true, false>(g, dk, dv, dq_acc, dout, q, k, v, lse, dd, B, NH, Tn, in, out, scale, causal);
        else if (version == 13)
            flash7_backward<T, 128, 2, true, false>(g, dk, dv, dq_acc, dout, q, k, v, lse, dd, B, NH, Tn, in, out, scale, causal);
        else if (version >= 7 && hs == 64)
            flash7_backward<T, 64, 2, false, false>(g, dk, dv, dq_acc, dout, q, k, v, lse, dd, B, NH, Tn, in, out, scale, causal);
        else if (version >= 7)
            flash7_backward<T, 128, 2, false, false>(g, dk, dv, dq_acc, dout, q, k, v, lse, dd, B, NH, Tn, in, out, scale, causal);
        else if (version >= 4 && hs == 64)
            flash4_backward<T, 64, 64, 8>(g, dk, dv, dq_acc, dout, q, k, v, lse, dd, B, NH, Tn, in, out, scale, causal);
        else if (version >= 4)
            flash4_backward<T, 128, 32, 8>(g, dk, dv, dq_acc, dout, q, k, v, lse, dd, B, NH, Tn, in, out, scale, causal);
        else if (hs == 64) flash2_backward<T, 64, 64>(g, dk, dv, dq_acc, dout, q, k, v, lse, dd, B, NH, Tn, in, out, scale, causal);
        else flash2_backward<T, 128, 32>(g, dk, dv, dq_acc, dout, q, k, v, lse, dd, B, NH, Tn, in, out, scale, causal);
        if (v23) {
            flash_dq_finish8<T>(g, dq, dq_acc, NH, Tn, hs, in, scale, (int)rows);
        } else {
            flash_dq_finish_kernel<T><<<blocks_for(rows * hs, 256), 256, 0, g->stream>>>(dq, dq_acc, NH, Tn, hs, in,
                                                                                        scale, rows * hs);
            LAUNCH_CHECK("flash_dq_finish");
        }
    }
}

/* versions 2 to 27 copy rows in 16-byte pieces (cp.async, TMA) and store pairs of elements: a tensor's first
 * element on a 16-byte boundary and its strides multiples of 8 elements, else a one-line error here rather than
 * a misaligned address at the next synchronization */
static void flash_check_rows(const char *who, int version, const char *name, const void *p, FlashLayout f) {
    if (version >= 2 && !flash_rows_vec(p, f))
        die("%s: versions 2 to 27 read %s in 16-byte pieces: its first element (%p) must be on a 16-byte boundary "
            "and its strides (%lld, %lld, %lld) multiples of 8 elements", who, name, p, f.b, f.h, f.t);
}

extern "C" void flash_forward_cuda(Gpu *g, DType dt, int version, void *o, float *lse, const void *q, const void *k,
                                   const void *v, int B, int NH, int T, int hs, bool causal, FlashLayout in,
                                   FlashLayout out) {
    const char *who = "flash_forward_cuda";
    flash_check(who, dt, version, B, NH, T, hs);
    flash_check_rows(who, version, "q", q, in), flash_check_rows(who, version, "k", k, in);
    flash_check_rows(who, version, "v", v, in), flash_check_rows(who, version, "o", o, out);
    DISPATCH(dt, Ty, flash_forward_typed<Ty>(g, version, (Ty *)o, lse, (const Ty *)q, (const Ty *)k, (const Ty *)v, B,
                                             NH, T, hs, causal, in, out, 1.0f / sqrtf((float)hs)))
}

extern "C" void flash_head_group_force(int n) {
    if (n < 0) die("flash_head_group_force: %d heads a group", n);
    v20_forced = n;
}
extern "C" int flash_head_group_used(void) { return v20_used; }
extern "C" void flash_forward_blocks_force(int n) {
    if (n < 0) die("flash_forward_blocks_force: %d blocks", n);
    v21_forced = n;
}
extern "C" void flash_backward_blocks_force(int n) {
    if (n < 0) die("flash_backward_blocks_force: %d blocks", n);
    v24_forced = n;
}

extern "C" size_t flash_backward_scratch_bytes(int B, int NH, int T, int hs) {
    return ((size_t)B * NH * T * hs + (size_t)B * NH * T + 4) * sizeof(float);   /* dQ's buffer, D_i, a counter */
}

extern "C" void flash_backward_cuda(Gpu *g, DType dt, int version, void *dq, void *dk, void *dv, const void *dout,
                                    const void *q, const void *k, const void *v, const void *o, const float *lse,
                                    void *scratch, int B, int NH, int T, int hs, bool causal, FlashLayout in,
                                    FlashLayout out) {
    const char *who = "flash_backward_cuda";
    flash_check(who, dt, version, B, NH, T, hs);
    if ((uintptr_t)scratch % 8) die("flash_backward_cuda: scratch %p is not 8-byte aligned", scratch);
    const void *ins[6] = {q, k, v, dq, dk, dv}, *outs[2] = {o, dout};
    const char *in_names[6] = {"q", "k", "v", "dq", "dk", "dv"}, *out_names[2] = {"o", "dout"};
    for (int i = 0; i < 6; i++) flash_check_rows(who, version, in_names[i], ins[i], in);
    for (int i = 0; i < 2; i++) flash_check_rows(who, version, out_names[i], outs[i], out);
    float *dq_acc = (float *)scratch, *dd = dq_acc + (size_t)B * NH * T * hs;
    DISPATCH(dt, Ty, flash_backward_typed<Ty>(g, version, (Ty *)dq, (Ty *)dk, (Ty *)dv, (const Ty *)dout,
                                              (const Ty *)q, (const Ty *)k, (const Ty *)v, (const Ty *)o, lse, dq_acc,
                                              dd, B, NH, T, hs, causal, in, out, 1.0f / sqrtf((float)hs)))
}
