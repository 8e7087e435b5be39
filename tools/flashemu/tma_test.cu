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
