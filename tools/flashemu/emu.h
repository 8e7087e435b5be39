/* emu.h -- what a CUDA kernel file rewritten by tools/flashemu/gen.py needs
 * to run on the CPU: the CUDA built-ins it uses (threadIdx, __syncthreads,
 * __shfl_xor_sync, atomicAdd, the 16-bit types and their conversions, the
 * runtime calls of the launches), the instructions its inline PTX names
 * (cp.async, ldmatrix, stmatrix, mma.sync m16n8k16, Hopper's wgmma with
 * fence.proxy.async, warpgroup-collective, mbarrier with cp.async's
 * arrive and the transaction count, the bulk tensor copy (TMA), named
 * barriers), the driver API's tensor map encoding, and the launch itself.
 *
 * Each CUDA thread of a block is a coroutine (tools/flashemu/emu.cpp runs
 * them on one OS thread, one block after another); a warp-collective
 * operation (ldmatrix, mma, a shuffle) waits until the warp's 32 lanes have
 * arrived with their operands and is then computed for all of them, so the
 * fragment layouts are the PTX ISA's, lane by lane.  Not modelled: timing,
 * bank conflicts, memory ordering beyond what the barriers give, races
 * (threads run in a fixed order between barriers), and the hardware's exact
 * accumulation order inside an mma (it is summed in f32 here, term by term).
 * See tools/flashemu/README.md. */
#ifndef FLASHEMU_EMU_H
#define FLASHEMU_EMU_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <functional>
#include <tuple>
#include <utility>

#define _Noreturn [[noreturn]]
extern "C" {
#include "gpu.h"
#include "tensor.h"
#include "util.h"
}
#undef _Noreturn

/* ---- Qualifiers --------------------------------------------------------------- */

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
#define __restrict__ __restrict
#define __grid_constant__

/* The kernels are compiled for an H200 (sm_90): code under
 * #if __CUDA_ARCH__ >= 900 is the code that runs.  (Host code that tests
 * __CUDA_ARCH__ to tell itself from device code would take the device
 * branch here; flash.cu has none.) */
#define __CUDA_ARCH__ 900
/* ... and for sm_90a, with the architecture-specific instructions (wgmma) */
#define __CUDA_ARCH_FEAT_SM90_ALL 1

/* ---- The thread's coordinates -------------------------------------------------- */

struct uint3 { unsigned x, y, z; };
struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

struct EmuCoords { uint3 thread, block; dim3 bdim, gdim; };
extern EmuCoords *emu_coords;      /* the running thread's (emu.cpp) */
#define threadIdx (emu_coords->thread)
#define blockIdx (emu_coords->block)
#define blockDim (emu_coords->bdim)
#define gridDim (emu_coords->gdim)
#define warpSize 32

/* ---- The runtime's calls ------------------------------------------------------------ */

typedef int cudaError_t;
typedef void *cudaStream_t;
typedef void *cublasHandle_t;
typedef void *cublasLtHandle_t;
typedef int cublasStatus_t;
#define cudaSuccess 0
#define CUBLAS_STATUS_SUCCESS 0
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize, cudaFuncAttributePreferredSharedMemoryCarveout };
static inline const char *cudaGetErrorString(cudaError_t) { return "emulated"; }
static inline const char *cublasGetStatusString(cublasStatus_t) { return "emulated"; }
static inline cudaError_t cudaGetLastError(void) { return cudaSuccess; }
static inline cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }
static inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }

/* the shared memory a kernel may ask for (an H200's 227 KiB) */
#define EMU_MAX_DYNAMIC_SMEM (227 * 1024)
template <typename F> cudaError_t cudaFuncSetAttribute(F, cudaFuncAttribute attr, int value) {
    if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize && (value < 0 || value > EMU_MAX_DYNAMIC_SMEM))
        die("flashemu: cudaFuncSetAttribute: %d bytes of dynamic shared memory (at most %d)", value,
            EMU_MAX_DYNAMIC_SMEM);
    return cudaSuccess;
}
static inline cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t = 0) {
    memset(p, v, n);
    return cudaSuccess;
}
static inline cudaError_t cudaMemcpyAsync(void *d, const void *s, size_t n, int, cudaStream_t = 0) {
    memmove(d, s, n);
    return cudaSuccess;
}

/* ---- 16-bit types (bits, converted by the runtime's round-to-nearest-even) ------- */

struct __nv_bfloat16 { uint16_t x; };
struct __half { uint16_t x; };
struct __nv_bfloat162 { __nv_bfloat16 x, y; };
struct __half2 { __half x, y; };
static inline float __bfloat162float(__nv_bfloat16 h) { return bf16_to_f32(h.x); }
static inline float __half2float(__half h) { return f16_to_f32(h.x); }
static inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __nv_bfloat16{f32_to_bf16(f)}; }
static inline __nv_bfloat16 __float2bfloat16(float f) { return __float2bfloat16_rn(f); }
static inline __half __float2half_rn(float f) { return __half{f32_to_f16(f)}; }
static inline __half __float2half(float f) { return __float2half_rn(f); }
static inline __nv_bfloat162 __floats2bfloat162_rn(float lo, float hi) {
    return __nv_bfloat162{__float2bfloat16_rn(lo), __float2bfloat16_rn(hi)};
}
static inline __half2 __floats2half2_rn(float lo, float hi) { return __half2{__float2half_rn(lo), __float2half_rn(hi)}; }
static_assert(sizeof(__nv_bfloat162) == 4 && sizeof(__half2) == 4, "two 16-bit values in 32 bits");

/* ---- Arithmetic ---------------------------------------------------------------- */

static inline float emu_expf(float x) { return expf(x); }
static inline float emu_logf(float x) { return logf(x); }
#define __expf emu_expf
#define __logf emu_logf
static inline float __fdividef(float a, float b) { return a / b; }
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
/* CUDA's integer min and max, mixed signedness as CUDA has them (unsigned wins) */
static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }
static inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
static inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
static inline unsigned min(int a, unsigned b) { return min((unsigned)a, b); }
static inline unsigned min(unsigned a, int b) { return min(a, (unsigned)b); }
static inline unsigned max(int a, unsigned b) { return max((unsigned)a, b); }
static inline unsigned max(unsigned a, int b) { return max(a, (unsigned)b); }
static inline long long min(long long a, long long b) { return a < b ? a : b; }
static inline long long max(long long a, long long b) { return a > b ? a : b; }
static inline size_t min(size_t a, size_t b) { return a < b ? a : b; }
static inline size_t max(size_t a, size_t b) { return a > b ? a : b; }
static inline float min(float a, float b) { return fminf(a, b); }
static inline float max(float a, float b) { return fmaxf(a, b); }

struct alignas(8) float2 { float x, y; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(16) uint4 { unsigned x, y, z, w; };   /* 16 bytes of 16-bit values (version 23's loads) */
static inline float2 make_float2(float x, float y) { return float2{x, y}; }
static inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }

/* one OS thread runs every CUDA thread, switching only at a barrier or a
 * warp-collective operation, so an atomic is a plain read-modify-write */
static inline float atomicAdd(float *p, float v) { float o = *p; *p = o + v; return o; }
static inline int atomicAdd(int *p, int v) { int o = *p; *p = o + v; return o; }
static inline unsigned atomicAdd(unsigned *p, unsigned v) { unsigned o = *p; *p = o + v; return o; }
/* sm_90's vector atomics: the address must be aligned to the vector */
[[noreturn]] void emu_misaligned(const char *what, const void *p);
static inline float2 atomicAdd(float2 *p, float2 v) {
    if ((uintptr_t)p % 8) emu_misaligned("atomicAdd(float2 *)", p);
    float2 o = *p;
    p->x += v.x, p->y += v.y;
    return o;
}
static inline float4 atomicAdd(float4 *p, float4 v) {
    if ((uintptr_t)p % 16) emu_misaligned("atomicAdd(float4 *)", p);
    float4 o = *p;
    p->x += v.x, p->y += v.y, p->z += v.z, p->w += v.w;
    return o;
}
static inline float atomicMax(float *p, float v) { float o = *p; *p = fmaxf(o, v); return o; }
static inline int atomicMax(int *p, int v) { int o = *p; *p = o > v ? o : v; return o; }
static inline void __threadfence(void) {}
[[noreturn]] static inline void __trap(void) { die("flashemu: __trap()"); }
static inline void __threadfence_block(void) {}

/* ---- Barriers and warp-collective operations (emu.cpp) ------------------------------ */

void __syncthreads(void);
void __syncwarp(unsigned mask = 0xffffffffu);
enum EmuShfl { EMU_SHFL_IDX, EMU_SHFL_UP, EMU_SHFL_DOWN, EMU_SHFL_XOR };
uint32_t emu_shfl(EmuShfl kind, unsigned mask, uint32_t v, int arg, int width);
template <typename V> static inline V emu_shfl_t(EmuShfl kind, unsigned mask, V v, int arg, int width) {
    static_assert(sizeof(V) == 4, "32-bit shuffles only");
    uint32_t u;
    memcpy(&u, &v, 4);
    u = emu_shfl(kind, mask, u, arg, width);
    memcpy(&v, &u, 4);
    return v;
}
template <typename V> V __shfl_sync(unsigned m, V v, int src, int w = 32) { return emu_shfl_t(EMU_SHFL_IDX, m, v, src, w); }
template <typename V> V __shfl_up_sync(unsigned m, V v, unsigned d, int w = 32) { return emu_shfl_t(EMU_SHFL_UP, m, v, (int)d, w); }
template <typename V> V __shfl_down_sync(unsigned m, V v, unsigned d, int w = 32) { return emu_shfl_t(EMU_SHFL_DOWN, m, v, (int)d, w); }
template <typename V> V __shfl_xor_sync(unsigned m, V v, int x, int w = 32) { return emu_shfl_t(EMU_SHFL_XOR, m, v, x, w); }

/* shared memory: the launch's dynamic shared memory, and the "shared address"
 * (an offset into it) that cvta gives and ldmatrix, stmatrix and cp.async take */
unsigned char *emu_dynamic_smem(void);
size_t __cvta_generic_to_shared(const void *p);

/* The instructions of the inline PTX, one function each (gen.py rewrites an
 * asm statement into a call of one of these).  PTX ISA 8.x, section 9.7.9.25
 * (cp.async), 9.7.14.5.15 (ldmatrix), 9.7.14.5.16 (stmatrix), 9.7.14.5.14
 * (mma) and 9.7.14.5.8 (the fragments of mma.m16n8k16). */
void emu_cp_async(uint32_t dst, const void *src, int cp_size, int src_size);
void emu_cp_async_commit(void);
void emu_cp_async_wait(int n);
void emu_ldmatrix(int num, bool trans, uint32_t addr, uint32_t *r0, uint32_t *r1, uint32_t *r2, uint32_t *r3);
void emu_stmatrix(int num, bool trans, uint32_t addr, uint32_t r0, uint32_t r1, uint32_t r2, uint32_t r3);
enum EmuAB { EMU_BF16, EMU_F16 };
void emu_mma_m16n8k16(EmuAB ab, float *d0, float *d1, float *d2, float *d3, uint32_t a0, uint32_t a1, uint32_t a2,
                      uint32_t a3, uint32_t b0, uint32_t b1, float c0, float c1, float c2, float c3);
/* wgmma (PTX ISA 9.7.15, emu.cpp): .m64nNk16 with f32 accumulators, A from a
 * shared memory descriptor (a null) or from four .f16x2 registers per thread
 * (a: their values; a_at: where the kernel keeps them, each null if unknown,
 * so that a write before the wait shows), B from a descriptor; d: the
 * thread's N/2 accumulator registers.
 * fence.proxy.async makes the thread's earlier shared memory writes visible
 * to the wgmma operations (the async proxy). */
void emu_wgmma_fence(void);
void emu_wgmma_commit(void);
void emu_wgmma_wait(int n);
void emu_wgmma_mma(EmuAB ab, int n, float **d, const uint32_t *a, const uint32_t *const *a_at, uint64_t da,
                   uint64_t db, int scale_d, int scale_a, int scale_b, int trans_a, int trans_b);
/* the address of an operand that is an lvalue, else null (gen.py's a_at) */
template <typename V> const V *emu_lvalue_at(V &x) { return &x; }
template <typename V> const V *emu_lvalue_at(V &&) { return nullptr; }
void emu_fence_proxy_async(void);
/* ex2.approx.ftz.f32: 2^x, subnormal inputs and results flushed to zero (computed exactly here; the ISA's
 * approximation is within 2 ulp, far inside the cases' bounds) */
float emu_ex2_approx_ftz(float x);
/* mbarrier (PTX ISA, section "Parallel Synchronization and Communication
 * Instructions: mbarrier"), .shared::cta .b64, at a shared address:
 * init with an expected arrival count; arrive (the state result discarded);
 * cp.async.mbarrier.arrive.noinc (an arrival that the thread's earlier
 * cp.async copies complete: they land when the phase completes);
 * try_wait.parity (true once the phase of that parity has completed; a
 * thread whose phase has not completed yields until it does). */
void emu_mbar_init(uint32_t addr, int count);
void emu_mbar_arrive(uint32_t addr);
void emu_cp_async_mbar_arrive(uint32_t addr);
bool emu_mbar_try_wait(uint32_t addr, int parity);
/* The transaction count of an mbarrier phase and the bulk tensor copy (TMA)
 * (PTX ISA, "mbarrier": "tx-count"; "cp.async.bulk.tensor"):
 * expect_tx adds bytes to the current phase's tx-count, arrive_expect_tx
 * adds them and arrives; a bulk tensor copy of `rank` dimensions (2 to 5) of
 * the box at coordinates c[] of the tensor map at tmap into shared address
 * dst takes the box's bytes off the tx-count of the barrier at bar at its
 * issue and lands when that phase completes.  The phase completes when its
 * pending arrivals and its tx-count are both 0. */
void emu_mbar_expect_tx(uint32_t addr, int bytes);
void emu_mbar_arrive_expect_tx(uint32_t addr, int bytes);
void emu_tma_load(int rank, uint32_t dst, const void *tmap, const int32_t *c, uint32_t bar);
/* The bulk tensor reduction and its bulk groups (PTX ISA, "cp.reduce.async.bulk.tensor", .add on an f32
 * tensor only; "cp.async.bulk.commit_group", "cp.async.bulk.wait_group"): the box at shared address src
 * (laid out, and swizzled, as a load's) is read when the instruction is issued and added into the box of
 * the tensor at coordinates c[], elements outside the tensor skipped.  Its chunks must have been written
 * with a fence.proxy.async since (a store of the generic proxy: st.shared, stmatrix, cp.async), and none
 * may be in flight from a copy.  Until the issuing thread's wait_group (with .read or without) completes
 * its group, a store into a chunk it read stops the emulator, and so does a block that ends with a
 * reduction not waited for.  st.shared: `bytes` bytes of `v` to shared address addr, a write of the
 * generic proxy. */
void emu_tma_reduce_add(int rank, const void *tmap, const int32_t *c, uint32_t src);
void emu_bulk_commit(void);
void emu_bulk_wait(int n, bool read);
void emu_st_shared(uint32_t addr, const void *v, int bytes);
/* bar.sync / bar.arrive a, b: the named barrier a (0 to 15) with b threads
 * (a multiple of 32; -1: every thread of the block); a block that ends with
 * arrivals at a named barrier that no thread waited for is stopped (the
 * emulator's rule: the kernels leave no barrier half met) */
void emu_bar_sync(int id, int count);
/* setmaxnreg.inc / .dec: registers are not modelled; the count is checked (24 to 256, a multiple of 8) */
void emu_setmaxnreg(bool inc, int n);
void emu_bar_arrive(int id, int count);
/* the fragment layouts the emulator uses (thread t of the warpgroup, register i, half h) */
void emu_wgmma_a_frag(int t, int i, int h, int *row, int *col);
void emu_wgmma_d_frag(int t, int i, int *row, int *col);
[[noreturn]] void emu_unsupported(const char *ptx);

/* ---- Tensor maps (the driver's cuTensorMapEncodeTiled, for TMA) ---------------------
 *
 * As /usr/local/cuda/include/cuda.h and cudaTypedefs.h (CUDA 12) declare
 * them; the map is opaque, 128 bytes; emu.cpp's encode function checks the
 * arguments as the driver's documentation states (returning
 * CUDA_ERROR_INVALID_VALUE) and stores what emu_tma_load needs, with a magic
 * number, in the 128 bytes.  cudaGetDriverEntryPointByVersion gives it for
 * "cuTensorMapEncodeTiled". */
typedef uint32_t cuuint32_t;
typedef uint64_t cuuint64_t;
typedef struct CUtensorMap_st {
    alignas(128) cuuint64_t opaque[16];
} CUtensorMap;
static_assert(sizeof(CUtensorMap) == 128, "a tensor map is 128 bytes");
typedef enum CUresult_enum { CUDA_SUCCESS = 0, CUDA_ERROR_INVALID_VALUE = 1 } CUresult;
typedef enum CUtensorMapDataType_enum {
    CU_TENSOR_MAP_DATA_TYPE_UINT8 = 0, CU_TENSOR_MAP_DATA_TYPE_UINT16, CU_TENSOR_MAP_DATA_TYPE_UINT32,
    CU_TENSOR_MAP_DATA_TYPE_INT32, CU_TENSOR_MAP_DATA_TYPE_UINT64, CU_TENSOR_MAP_DATA_TYPE_INT64,
    CU_TENSOR_MAP_DATA_TYPE_FLOAT16, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, CU_TENSOR_MAP_DATA_TYPE_FLOAT64,
    CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, CU_TENSOR_MAP_DATA_TYPE_FLOAT32_FTZ, CU_TENSOR_MAP_DATA_TYPE_TFLOAT32,
    CU_TENSOR_MAP_DATA_TYPE_TFLOAT32_FTZ
} CUtensorMapDataType;
typedef enum CUtensorMapInterleave_enum {
    CU_TENSOR_MAP_INTERLEAVE_NONE = 0, CU_TENSOR_MAP_INTERLEAVE_16B, CU_TENSOR_MAP_INTERLEAVE_32B
} CUtensorMapInterleave;
typedef enum CUtensorMapSwizzle_enum {
    CU_TENSOR_MAP_SWIZZLE_NONE = 0, CU_TENSOR_MAP_SWIZZLE_32B, CU_TENSOR_MAP_SWIZZLE_64B, CU_TENSOR_MAP_SWIZZLE_128B
} CUtensorMapSwizzle;
typedef enum CUtensorMapL2promotion_enum {
    CU_TENSOR_MAP_L2_PROMOTION_NONE = 0, CU_TENSOR_MAP_L2_PROMOTION_L2_64B, CU_TENSOR_MAP_L2_PROMOTION_L2_128B,
    CU_TENSOR_MAP_L2_PROMOTION_L2_256B
} CUtensorMapL2promotion;
typedef enum CUtensorMapFloatOOBfill_enum {
    CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE = 0, CU_TENSOR_MAP_FLOAT_OOB_FILL_NAN_REQUEST_ZERO_FMA
} CUtensorMapFloatOOBfill;
typedef CUresult (*PFN_cuTensorMapEncodeTiled_v12000)(
    CUtensorMap *tensorMap, CUtensorMapDataType tensorDataType, cuuint32_t tensorRank, void *globalAddress,
    const cuuint64_t *globalDim, const cuuint64_t *globalStrides, const cuuint32_t *boxDim,
    const cuuint32_t *elementStrides, CUtensorMapInterleave interleave, CUtensorMapSwizzle swizzle,
    CUtensorMapL2promotion l2Promotion, CUtensorMapFloatOOBfill oobFill);
/* cudaTypedefs.h has the _v12000 name only; the plain one for convenience */
typedef PFN_cuTensorMapEncodeTiled_v12000 PFN_cuTensorMapEncodeTiled;
CUresult emu_tensor_map_encode_tiled(CUtensorMap *tensorMap, CUtensorMapDataType tensorDataType,
                                     cuuint32_t tensorRank, void *globalAddress, const cuuint64_t *globalDim,
                                     const cuuint64_t *globalStrides, const cuuint32_t *boxDim,
                                     const cuuint32_t *elementStrides, CUtensorMapInterleave interleave,
                                     CUtensorMapSwizzle swizzle, CUtensorMapL2promotion l2Promotion,
                                     CUtensorMapFloatOOBfill oobFill);
enum cudaGetDriverEntryPointFlags { cudaEnableDefault = 0, cudaEnableLegacyStream = 1, cudaEnablePerThreadDefaultStream = 2 };
enum cudaDriverEntryPointQueryResult {
    cudaDriverEntryPointSuccess = 0, cudaDriverEntryPointSymbolNotFound = 1, cudaDriverEntryPointVersionNotSufficent = 2
};
#define cudaErrorSymbolNotFound 500
static inline cudaError_t cudaGetDriverEntryPointByVersion(const char *symbol, void **funcPtr, unsigned int cudaVersion,
                                                           unsigned long long flags,
                                                           cudaDriverEntryPointQueryResult *status = nullptr) {
    (void)cudaVersion, (void)flags;
    bool found = symbol && strcmp(symbol, "cuTensorMapEncodeTiled") == 0;
    if (funcPtr) *funcPtr = found ? (void *)emu_tensor_map_encode_tiled : nullptr;
    if (status) *status = found ? cudaDriverEntryPointSuccess : cudaDriverEntryPointSymbolNotFound;
    return found ? cudaSuccess : cudaErrorSymbolNotFound;
}

/* ---- The launch ------------------------------------------------------------------ */

/* how cp.async lands (0: at the wait, 1: at once) and the order threads run
 * in (0: first to last, 1: last to first); FLASHEMU_CP_ASYNC=eager and
 * FLASHEMU_ORDER=reverse set them from the environment */
extern "C" void flashemu_mode(int eager_copies, int reverse);
void emu_run_grid(dim3 grid, dim3 block, size_t smem, const std::function<void()> &body, const char *name);

template <typename S, typename... P, typename... A>
void emu_launch(const char *name, void (*kern)(P...), dim3 grid, dim3 block, size_t smem, S stream, A &&...args) {
    (void)stream;
    static_assert(sizeof...(P) == sizeof...(A), "a kernel launched with the wrong number of arguments");
    std::tuple<P...> params(static_cast<P>(std::forward<A>(args))...);   /* converted once, as the launch does */
    emu_run_grid(grid, block, smem, [&] { std::apply(kern, params); }, name);
}

#endif
