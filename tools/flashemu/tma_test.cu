/* tools/flashemu/tma_test.cu -- the emulator's own test kernel for the bulk
 * tensor copy (TMA) and the mbarrier's transaction count
 * (tests/test_flash_emu.c, test_tma_unit): rewritten by gen.py like
 * flash.cu, so that the asm literals below (those a Hopper kernel with TMA
 * uses) go through gen.py's translation as well as the emulator, and the
 * host code through emu.h's tensor map and driver entry point.
 *
 * tma_box: one block of 64 threads; the last thread initializes an mbarrier
 * (count 1), makes an mbarrier.arrive.expect_tx with the box's bytes and
 * issues a cp.async.bulk.tensor.4d of the box at (c0, c1, c2, c3) into
 * shared memory; every thread waits for the barrier's phase 0 and copies
 * its part of the two 8 KiB box areas of shared memory to out.  `how`
 * breaks it (TMT_* below). */
#include "internal.cuh"
#include <cuda.h>
#include <cudaTypedefs.h>

__device__ __forceinline__ uint32_t smem_addr(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }

/* the helpers as a TMA kernel has them */
__device__ __forceinline__ void mbar_init(uint64_t *bar, int count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint64_t *bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(smem_addr(bar)) : "memory");
}
/* the transaction count: expect `bytes` more in the current phase, and arrive */
__device__ __forceinline__ void mbar_arrive_expect_tx(uint64_t *bar, uint32_t bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(bytes) : "memory");
}
/* ... without arriving */
__device__ __forceinline__ void mbar_expect_tx(uint64_t *bar, uint32_t bytes) {
    asm volatile("mbarrier.expect_tx.shared::cta.b64 [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(bytes) : "memory");
}
__device__ __forceinline__ bool mbar_test(uint64_t *bar, int parity) {
    uint32_t done;
    asm volatile("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
                 : "=r"(done) : "r"(smem_addr(bar)), "r"(parity) : "memory");
    return done;
}
__device__ __forceinline__ void mbar_wait(uint64_t *bar, int parity) { while (!mbar_test(bar, parity)) {} }
/* the box of the tensor map at coordinates (c0, c1, c2, c3) into dst; its bytes complete bar's transaction */
__device__ __forceinline__ void tma_load_4d(void *dst, const CUtensorMap *map, int c0, int c1, int c2, int c3,
                                            uint64_t *bar) {
    asm volatile("cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
                 " [%0], [%1, {%2, %3, %4, %5}], [%6];\n"
                 ::"r"(smem_addr(dst)), "l"(map), "r"(c0), "r"(c1), "r"(c2), "r"(c3), "r"(smem_addr(bar))
                 : "memory");
}
__device__ __forceinline__ void tma_load_2d(void *dst, const CUtensorMap *map, int c0, int c1, uint64_t *bar) {
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
                 " [%0], [%1, {%2, %3}], [%4];\n"
                 ::"r"(smem_addr(dst)), "l"(map), "r"(c0), "r"(c1), "r"(smem_addr(bar))
                 : "memory");
}

enum {
    TMT_AREA = 8192,       /* bytes of each of the two box areas */
    TMT_OK = 0,            /* as described */
    TMT_COPY_FIRST,        /* the copy issued before the arrive.expect_tx (the tx-count negative for a while) */
    TMT_SEPARATE,          /* mbarrier.expect_tx, the copy, then a plain mbarrier.arrive */
    TMT_READ_EARLY,        /* the threads read the box area before waiting */
    TMT_TX_MORE,           /* 16 bytes more expected than the box has: the phase never completes */
    TMT_TX_FEWER,          /* a second copy of the box into the second area, its bytes not expected: the phase
                              completes with the first, and the second lands with no phase anyone waits for */
    TMT_UNINIT,            /* no mbarrier.init */
    TMT_MISALIGNED,        /* the box into the first area + 16 */
    TMT_PAST_END,          /* the box into shared memory that ends 128 bytes too early */
    TMT_BAD_MAP,           /* the host passes 128 zero bytes as the map */
    TMT_TX_RANGE,          /* expect_tx of 2^20 bytes */
};

__global__ void tma_box(const __grid_constant__ CUtensorMap map, int c0, int c1, int c2, int c3, int bytes, int how,
                        unsigned char *out) {
    extern __shared__ __align__(1024) unsigned char smem[];
    uint64_t *full = (uint64_t *)(smem + 2 * TMT_AREA + 256);
    unsigned char *dst = smem + (how == TMT_MISALIGNED ? 16 : how == TMT_PAST_END ? 2 * TMT_AREA + 256 + 128 - bytes : 0);
    int producer = blockDim.x - 1;   /* the last thread: the others run up to their wait before it issues */
    if ((int)threadIdx.x == producer && how != TMT_UNINIT) mbar_init(full, 1);
    __syncthreads();
    if (how == TMT_READ_EARLY)
        for (int i = 16 * threadIdx.x; i < 2 * TMT_AREA; i += 16 * blockDim.x) memcpy(out + i, smem + i, 16);
    if ((int)threadIdx.x == producer) {
        if (how == TMT_COPY_FIRST) {
            tma_load_4d(dst, &map, c0, c1, c2, c3, full);
            mbar_arrive_expect_tx(full, bytes);
        } else if (how == TMT_SEPARATE) {
            mbar_expect_tx(full, bytes);
            tma_load_4d(dst, &map, c0, c1, c2, c3, full);
            mbar_arrive(full);
        } else if (how == TMT_TX_RANGE) {
            mbar_expect_tx(full, 1 << 20);
        } else {
            mbar_arrive_expect_tx(full, how == TMT_TX_MORE ? bytes + 16 : bytes);
            tma_load_4d(dst, &map, c0, c1, c2, c3, full);
            if (how == TMT_TX_FEWER) tma_load_4d(smem + TMT_AREA, &map, c0, c1, c2, c3, full);
        }
    }
    mbar_wait(full, 0);
    if (how != TMT_READ_EARLY)
        for (int i = 16 * threadIdx.x; i < 2 * TMT_AREA; i += 16 * blockDim.x) memcpy(out + i, smem + i, 16);
}

static PFN_cuTensorMapEncodeTiled_v12000 encode_fn(void) {
    void *fn = nullptr;
    cudaDriverEntryPointQueryResult q;
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &q) != cudaSuccess ||
        q != cudaDriverEntryPointSuccess || !fn)
        die("tma_test: no cuTensorMapEncodeTiled");
    return (PFN_cuTensorMapEncodeTiled_v12000)fn;
}

/* cuTensorMapEncodeTiled of a bf16 tensor of `rank` dimensions (the L2 promotion 128B, no OOB NaN fill) */
extern "C" int tma_test_encode(void *map, void *base, int rank, const uint64_t *dims, const uint64_t *strides,
                               const uint32_t *box, const uint32_t *estrides, int swizzle) {
    static const CUtensorMapSwizzle sw[] = {CU_TENSOR_MAP_SWIZZLE_NONE, CU_TENSOR_MAP_SWIZZLE_32B,
                                            CU_TENSOR_MAP_SWIZZLE_64B, CU_TENSOR_MAP_SWIZZLE_128B};
    return (int)encode_fn()((CUtensorMap *)map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, (cuuint32_t)rank, base, dims,
                            strides, box, estrides, CU_TENSOR_MAP_INTERLEAVE_NONE, sw[swizzle],
                            CU_TENSOR_MAP_L2_PROMOTION_L2_128B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
}

/* the 4-D bf16 tensor [B][T][H][D] (D contiguous) at base as a tensor map of dimensions (D, T, H, B), the box
 * (box0, box1, 1, 1); one launch of tma_box (out: 2 * TMT_AREA bytes) */
extern "C" void tma_test_box(const void *base, int B, int T, int H, int D, int box0, int box1, int swizzle, int c0,
                             int c1, int c2, int c3, int how, unsigned char *out) {
    CUtensorMap map;
    uint64_t dims[4] = {(uint64_t)D, (uint64_t)T, (uint64_t)H, (uint64_t)B};
    uint64_t strides[3] = {(uint64_t)H * D * 2, (uint64_t)D * 2, (uint64_t)T * H * D * 2};
    uint32_t box[4] = {(uint32_t)box0, (uint32_t)box1, 1, 1}, es[4] = {1, 1, 1, 1};
    if (tma_test_encode(&map, (void *)base, 4, dims, strides, box, es, swizzle) != CUDA_SUCCESS)
        die("tma_test: the tensor map was refused");
    if (how == TMT_BAD_MAP) memset(&map, 0, sizeof map);
    tma_box<<<1, 64, 2 * TMT_AREA + 256 + 8>>>(map, c0, c1, c2, c3, box0 * box1 * 2, how, out);
}

/* ---- wgmma reading tiles that TMA wrote with the 128-byte swizzle ---------------------------------
 *
 * tma_wgmma: one warpgroup; the last thread loads A (64 x 64) and B (128 x 64, N x K) by TMA with
 * CU_TENSOR_MAP_SWIZZLE_128B into shared memory (form 0: both K-major, a box {64 K, 64 or 128 rows};
 * form 1: both MN-major, A as [K][M] in one box {64 M, 64 K}, B as [K][N] in two boxes {64 N, 64 K}
 * 8 KiB apart; form 2: A K-major, B N-major), the warpgroup waits for the mbarrier and, with no
 * fence.proxy.async (the copies are the async proxy's), computes D (64 x 128) = A B^T in four
 * wgmma.m64n128k16, its descriptors those of CUTLASS's make_gmma_desc for the 128-byte swizzle:
 * K-major start + 32 bytes per K step, SBO 1024 (8 rows of 128 bytes), LBO unused (16);
 * MN-major start + 2048 bytes per K step (16 rows of 128 bytes), SBO 1024 (8 K rows), LBO 8192 (the
 * next 64 M/N values).  out[t * 64 + i]: thread t's accumulator register i.  `how`: TWG_* below. */
__device__ __forceinline__ uint64_t desc_sw128(const void *p, uint32_t lbo, uint32_t sbo, bool swizzle = true) {
    uint64_t d = (smem_addr(p) & 0x3ffff) / 16;
    d |= (uint64_t)(lbo / 16) << 16;
    d |= (uint64_t)(sbo / 16) << 32;
    if (swizzle) d |= 1ull << 62;   /* layout type 1: the 128-byte swizzle */
    return d;
}
__device__ __forceinline__ void wg_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wg_wait0() { asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory"); }
/* d (64 x 128) += A (64 x 16) B (16 x 128), bf16; TA, TB: imm-trans-a, imm-trans-b (1: MN-major) */
template <int TA, int TB> __device__ __forceinline__ void wgmma128(float d[64], uint64_t da, uint64_t db) {
    asm volatile("wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
                 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
                 "%64, %65, 1, 1, 1, %66, %67;\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
                   "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
                   "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
                   "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
                   "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
                   "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
                   "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
                   "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
                 : "l"(da), "l"(db), "n"(TA), "n"(TB));
}

enum {
    TWG_OK = 0,
    TWG_INCOMPLETE,        /* the barrier counts 2 arrivals, the producer makes one, and no thread waits: the
                              products read tiles whose copies have not landed */
    TWG_NO_SWIZZLE_DESC,   /* the descriptors without the swizzle mode (a no-swizzle reading of the tiles) */
    TWG_LBO_ZERO,          /* B's MN-major descriptor with LBO 0 (its second 64 N values read from the first) */
    TWG_OFF_ATOM,          /* A's K-major start 128 bytes further (a row on, not at an atom's first row) */
};

__global__ void tma_wgmma(const __grid_constant__ CUtensorMap ma, const __grid_constant__ CUtensorMap mb, int form,
                          int how, float *out) {
    extern __shared__ __align__(1024) unsigned char smem[];
    unsigned char *As = smem, *Bs = smem + 8192;
    uint64_t *full = (uint64_t *)(smem + 8192 + 16384);
    int producer = blockDim.x - 1;
    if ((int)threadIdx.x == producer) mbar_init(full, how == TWG_INCOMPLETE ? 2 : 1);
    __syncthreads();
    if ((int)threadIdx.x == producer) {
        mbar_arrive_expect_tx(full, 8192 + 16384);
        tma_load_2d(As, &ma, 0, 0, full);
        tma_load_2d(Bs, &mb, 0, 0, full);
        if (form != 0) tma_load_2d(Bs + 8192, &mb, 64, 0, full);
    }
    if (how != TWG_INCOMPLETE) mbar_wait(full, 0);
    bool sw = how != TWG_NO_SWIZZLE_DESC;
    float d[64];
    for (int i = 0; i < 64; i++) d[i] = 0;
    wg_fence();
    for (int kk = 0; kk < 4; kk++) {
        uint64_t da = form == 1 ? desc_sw128(As + kk * 2048, 8192, 1024, sw)
                                : desc_sw128(As + kk * 32 + (how == TWG_OFF_ATOM ? 128 : 0), 16, 1024, sw);
        uint64_t db = form == 0 ? desc_sw128(Bs + kk * 32, 16, 1024, sw)
                                : desc_sw128(Bs + kk * 2048, how == TWG_LBO_ZERO ? 0 : 8192, 1024, sw);
        if (form == 0) wgmma128<0, 0>(d, da, db);
        else if (form == 1) wgmma128<1, 1>(d, da, db);
        else wgmma128<0, 1>(d, da, db);
    }
    wg_commit();
    wg_wait0();
    for (int i = 0; i < 64; i++) out[threadIdx.x * 64 + i] = d[i];
}

/* a: A's bf16 values as stored in global memory, [64 M][64 K] (form 0, 2) or [64 K][64 M] (form 1);
 * b: B's, [128 N][64 K] (form 0) or [64 K][128 N] (forms 1, 2); out: 128 x 64 floats */
extern "C" void tma_test_wgmma(int form, const void *a, const void *b, int how, float *out) {
    CUtensorMap ma, mb;
    uint64_t adims[2] = {64, 64}, astr[1] = {128};
    uint64_t bdims_k[2] = {64, 128}, bstr_k[1] = {128}, bdims_n[2] = {128, 64}, bstr_n[1] = {256};
    uint32_t abox[2] = {64, 64}, bbox_k[2] = {64, 128}, bbox_n[2] = {64, 64}, es[2] = {1, 1};
    if (tma_test_encode(&ma, (void *)a, 2, adims, astr, abox, es, 3) != CUDA_SUCCESS ||
        tma_test_encode(&mb, (void *)b, 2, form == 0 ? bdims_k : bdims_n, form == 0 ? bstr_k : bstr_n,
                        form == 0 ? bbox_k : bbox_n, es, 3) != CUDA_SUCCESS)
        die("tma_test: a tensor map was refused");
    tma_wgmma<<<1, 128, 8192 + 16384 + 8>>>(ma, mb, form, how, out);
}

/* ---- The bulk tensor reduction (version 19's dQ) ------------------------------------------------
 *
 * tma_reduce: one block of 128 threads; thread t stores the floats 16 t to 16 t + 15 of a box of 32 x 64 f32
 * (value 1 + its index) into shared memory by st.shared.v2.f32, at their place under the 128-byte swizzle
 * (or none); every thread fences for the async proxy, the block meets, and thread 0 adds the box into the 3-D
 * f32 tensor at (c0, c1, c2) by cp.reduce.async.bulk.tensor, commits, and waits for the group to have read
 * its shared memory, then for its additions.  `how`: TRD_* below. */
__device__ __forceinline__ void st_shared_f32x2(float *p, float a, float b) {
    asm volatile("st.shared.v2.f32 [%0], {%1, %2};\n" ::"r"(smem_addr(p)), "f"(a), "f"(b) : "memory");
}
__device__ __forceinline__ void tma_reduce_add_3d(const CUtensorMap *map, const float *src, int c0, int c1, int c2) {
    asm volatile("cp.reduce.async.bulk.tensor.3d.global.shared::cta.add.tile.bulk_group [%0, {%1, %2, %3}], [%4];\n"
                 ::"l"(map), "r"(c0), "r"(c1), "r"(c2), "r"(smem_addr(src)) : "memory");
}
__device__ __forceinline__ void bulk_commit() { asm volatile("cp.async.bulk.commit_group;\n" ::: "memory"); }
__device__ __forceinline__ void bulk_wait_read0() { asm volatile("cp.async.bulk.wait_group.read %0;\n" ::"n"(0) : "memory"); }
__device__ __forceinline__ void bulk_wait0() { asm volatile("cp.async.bulk.wait_group %0;\n" ::"n"(0) : "memory"); }

enum {
    TRD_OK = 0,
    TRD_NO_FENCE,          /* no fence.proxy.async between the stores and the reduction */
    TRD_STORE_EARLY,       /* thread 0 stores into the box after issuing the reduction, before any wait */
    TRD_NO_WAIT,           /* no wait at all: the block ends with the group outstanding */
    TRD_STORE_AFTER,       /* thread 0 stores into the box after wait_group.read (allowed) */
};

__global__ void tma_reduce(const __grid_constant__ CUtensorMap map, int c0, int c1, int c2, int swizzle, int how) {
    extern __shared__ __align__(1024) unsigned char smem[];
    float *box = (float *)smem;
    for (int i = 16 * (int)threadIdx.x; i < 16 * (int)threadIdx.x + 16; i += 2) {
        int row = i / 32, col = i % 32, piece = col / 4;
        float *p = box + row * 32 + (swizzle ? piece ^ row % 8 : piece) * 4 + col % 4;
        st_shared_f32x2(p, 1.0f + i, 2.0f + i);
    }
    if (how != TRD_NO_FENCE) asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
    __syncthreads();
    if (threadIdx.x == 0) {
        tma_reduce_add_3d(&map, box, c0, c1, c2);
        bulk_commit();
        if (how == TRD_STORE_EARLY) st_shared_f32x2(box, 0.0f, 0.0f);
        if (how != TRD_NO_WAIT) bulk_wait_read0();
        if (how == TRD_STORE_AFTER) st_shared_f32x2(box, 0.0f, 0.0f);
        if (how != TRD_NO_WAIT) bulk_wait0();
    }
}

/* the 3-D f32 tensor [N][T][D] at base as a map of dimensions (D, T, N), the box {32, 64, 1}, the 128-byte
 * swizzle (swizzle 1) or none; one launch of tma_reduce */
extern "C" void tma_test_reduce(float *base, int N, int T, int D, int c0, int c1, int c2, int swizzle, int how) {
    CUtensorMap map;
    uint64_t dims[3] = {(uint64_t)D, (uint64_t)T, (uint64_t)N}, strides[2] = {(uint64_t)D * 4, (uint64_t)T * D * 4};
    uint32_t box[3] = {32, 64, 1}, es[3] = {1, 1, 1};
    if (encode_fn()(&map, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 3, base, dims, strides, box, es, CU_TENSOR_MAP_INTERLEAVE_NONE,
                    swizzle ? CU_TENSOR_MAP_SWIZZLE_128B : CU_TENSOR_MAP_SWIZZLE_NONE, CU_TENSOR_MAP_L2_PROMOTION_L2_128B,
                    CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) != CUDA_SUCCESS)
        die("tma_test: the tensor map of the reduction was refused");
    tma_reduce<<<1, 128, 8192>>>(map, c0, c1, c2, swizzle, how);
}
