/* tools/flashemu/mbar_test.cu -- the emulator's own test kernel for
 * mbarrier and named barriers (tests/test_flash_emu.c, test_mbar_unit):
 * rewritten by gen.py like flash.cu, so the device helpers below, with the
 * asm literals of the warp-specialized kernels, go through gen.py's
 * translation as well as the emulator.
 *
 * mbar_pipeline: one producer warp (warp `producer_warp` of the block)
 * copies `tiles` tiles of 512 bytes from src by cp.async (16 bytes a lane)
 * through two stages of shared memory; after its copies of a tile each
 * lane makes a cp.async.mbarrier.arrive.noinc on the stage's full barrier
 * (count 32); the consumer threads (the rest of the block, 64 of them) wait
 * for the full barrier's phase, copy 8 bytes each of the stage to out, and
 * arrive on the stage's empty barrier (count 64), which the producer waits
 * for before it reuses the stage.  Then, once the consumers have released
 * the last tile, the producer's lane 0 stores 0x5a
 * to shared memory and the producer warp makes a bar.arrive 1 for the
 * block, the consumers a bar.sync 1; consumer 0 copies the byte to
 * probe[1].  `how` breaks it (MBT_* below). */
#include "internal.cuh"

__device__ __forceinline__ uint32_t smem_addr(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }

__device__ __forceinline__ void cp_async16(void *dst, const void *src) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(smem_addr(dst)), "l"(src) : "memory");
}
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_all;\n" ::: "memory"); }

/* the helpers as the warp-specialized kernel has them */
__device__ __forceinline__ void mbar_init(uint64_t *bar, int count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint64_t *bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(smem_addr(bar)) : "memory");
}
/* arrive on bar once all of this thread's earlier cp.async copies have landed (count not incremented: init counts it) */
__device__ __forceinline__ void cp_async_mbar_arrive(uint64_t *bar) {
    asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(smem_addr(bar)) : "memory");
}
__device__ __forceinline__ bool mbar_test(uint64_t *bar, int parity) {
    uint32_t done;
    asm volatile("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
                 : "=r"(done) : "r"(smem_addr(bar)), "r"(parity) : "memory");
    return done;
}
__device__ __forceinline__ void mbar_wait(uint64_t *bar, int parity) { while (!mbar_test(bar, parity)) {} }
__device__ __forceinline__ void bar_sync(int id, int n) { asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(n) : "memory"); }
__device__ __forceinline__ void bar_arrive(int id, int n) { asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(n) : "memory"); }

enum {
    MBT_TILE = 512,
    MBT_OK = 0,            /* as described */
    MBT_READ_EARLY,        /* the consumers read a stage before waiting for its full barrier */
    MBT_NO_ARRIVE,         /* producer lane 5 makes no arrive for tile 3: the consumers wait for ever */
    MBT_UNINIT,            /* empty[1] is not initialized (and the producer does not wait for the first two
                              stages, so that a consumer's arrive is the first to meet it) */
    MBT_MISALIGNED,        /* full[0] initialized at an address 4 bytes past its own */
    MBT_REINIT,            /* thread 0 arrives on empty[0], then initializes it again */
    MBT_WAIT_GROUP,        /* producer lane 0, after its arrive for tile 0, waits for all its cp.async
                              groups and reads its chunk into probe[0] (the copy belongs to the barrier now) */
    MBT_NAMED_SHORT,       /* the consumers' bar.sync counts only themselves: they pass before the producer's store */
    MBT_NAMED_MISSING,     /* the producer makes no bar.arrive: the consumers wait for ever */
};

__global__ void mbar_pipeline(const unsigned char *src, unsigned char *out, int tiles, int producer_warp, int how,
                              unsigned char *probe) {
    extern __shared__ __align__(16) unsigned char smem[];
    uint64_t *full = (uint64_t *)(smem + 2 * MBT_TILE), *empty = full + 2;
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32, nthreads = blockDim.x;
    if (threadIdx.x == 0) {
        for (int s = 0; s < 2; s++) {
            mbar_init(how == MBT_MISALIGNED && s == 0 ? (uint64_t *)((char *)full + 4) : &full[s], 32);
            if (!(how == MBT_UNINIT && s == 1)) mbar_init(&empty[s], nthreads - 32);
        }
        if (how == MBT_REINIT) {
            mbar_arrive(&empty[0]);
            mbar_init(&empty[0], nthreads - 32);
        }
    }
    __syncthreads();
    if (warp == producer_warp) {
        for (int j = 0; j < tiles; j++) {
            int s = j % 2;
            if (how != MBT_UNINIT || j >= 2) mbar_wait(&empty[s], ((j / 2) & 1) ^ 1);   /* a fresh barrier passes parity 1 */
            cp_async16(smem + s * MBT_TILE + 16 * lane, src + (size_t)j * MBT_TILE + 16 * lane);
            if (!(how == MBT_NO_ARRIVE && j == 3 && lane == 5)) cp_async_mbar_arrive(&full[s]);
            if (how == MBT_WAIT_GROUP && j == 0 && lane == 0) {
                cp_async_wait_all();
                probe[0] = smem[0];
            }
        }
        mbar_wait(&empty[(tiles - 1) % 2], ((tiles - 1) / 2) & 1);   /* the consumers are done with the last tile */
        if (lane == 0) smem[2 * MBT_TILE + 64] = 0x5a;
        if (how != MBT_NAMED_MISSING && how != MBT_NAMED_SHORT) bar_arrive(1, nthreads);
    } else {
        int c = (int)threadIdx.x - (warp > producer_warp ? 32 : 0);   /* the consumer's rank, 0 to 63 */
        for (int j = 0; j < tiles; j++) {
            int s = j % 2;
            if (how == MBT_READ_EARLY) memcpy(out + (size_t)j * MBT_TILE + 8 * c, smem + s * MBT_TILE + 8 * c, 8);
            mbar_wait(&full[s], (j / 2) & 1);
            if (how != MBT_READ_EARLY) memcpy(out + (size_t)j * MBT_TILE + 8 * c, smem + s * MBT_TILE + 8 * c, 8);
            mbar_arrive(&empty[s]);
        }
        bar_sync(1, how == MBT_NAMED_SHORT ? nthreads - 32 : nthreads);
        if (c == 0) probe[1] = smem[2 * MBT_TILE + 64];
    }
}

/* one block of 96 threads: two consumer warps and the producer warp */
extern "C" void mbar_test_run(const unsigned char *src, unsigned char *out, int tiles, int producer_warp, int how,
                              unsigned char *probe) {
    mbar_pipeline<<<1, 96, 2 * MBT_TILE + 128>>>(src, out, tiles, producer_warp, how, probe);
}
