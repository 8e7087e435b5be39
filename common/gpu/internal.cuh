/* internal.cuh -- what the kernel files of common/gpu/ share, and nothing a
 * chapter needs: gpu.h is the public header.  CUDA C++ used as C with
 * templates: each kernel is templated over its storage type T (float,
 * __nv_bfloat16, __half) and instantiated by DISPATCH from a DType.
 *
 * The files, one per family of kernels:
 *   context.cu     the Gpu, device memory, copies, conversions, timers
 *   gemm.cu        cuBLAS and cuBLASLt: gemm_cuda, linear layers, column sums
 *   embedding.cu   token + position embedding; the sorted backward pass
 *   norms.cu       layer norm and RMS norm
 *   activations.cu GELU, SwiGLU, the residual add
 *   softmax.cu     softmax and cross-entropy
 *   attention.cu   the plain causal attention
 *   optimizer.cu   AdamW and the gradient norm
 * A new kernel goes into the file of its family (or a new file here, which
 * the Makefile finds by itself) and its declaration into gpu.h; the no-CUDA
 * stand-in is generated from gpu.h (stubs.py).
 *
 * Patterns, each used several times:
 *   - elementwise kernels move 16 bytes per thread per access (a Pack of 4
 *     floats or 8 halves), the tail done element by element by the thread
 *     that owns it;
 *   - row kernels give one warp to a row when rows are short (norms, the
 *     causal softmax) and one block to a row when they are long (softmax,
 *     cross-entropy over a vocabulary), and reduce with warp shuffles;
 *   - sums over rows (the weight gradients of the norms, a bias gradient, a
 *     gradient norm, the embedding's gradient) are taken in pieces and then
 *     across pieces in a fixed order, so they are deterministic;
 *   - matrix products go to cuBLAS, with f32 accumulation. */
#ifndef GPU_INTERNAL_CUH
#define GPU_INTERNAL_CUH

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define _Noreturn [[noreturn]]  /* util.h is C11; these files are C++ */
extern "C" {
#include "gpu.h"
#include "util.h"
}
#undef _Noreturn

/* ---- Checked calls ------------------------------------------------------------- */

#define CUDA_CHECK(call)                                                                              \
    do {                                                                                              \
        cudaError_t e_ = (call);                                                                      \
        if (e_ != cudaSuccess)                                                                        \
            die("CUDA: %s failed: %s (%s:%d)", #call, cudaGetErrorString(e_), __FILE__, __LINE__);   \
    } while (0)

#define LAUNCH_CHECK(kernel)                                                                          \
    do {                                                                                              \
        cudaError_t e_ = cudaGetLastError();                                                          \
        if (e_ != cudaSuccess)                                                                        \
            die("CUDA: kernel %s failed to launch: %s (%s:%d)", kernel, cudaGetErrorString(e_),      \
                __FILE__, __LINE__);                                                                  \
    } while (0)

#define CUBLAS_CHECK(call)                                                                            \
    do {                                                                                              \
        cublasStatus_t s_ = (call);                                                                   \
        if (s_ != CUBLAS_STATUS_SUCCESS)                                                              \
            die("cuBLAS: %s failed: %s (%s:%d)", #call, cublasGetStatusString(s_), __FILE__, __LINE__); \
    } while (0)

/* ---- The context (context.cu) ------------------------------------------------------ */

struct Gpu {
    int device;
    cudaStream_t stream;
    cublasHandle_t blas;
    cublasLtHandle_t lt;    /* for matrix products with a bias epilogue */
    void *lt_workspace;
    GpuInfo info;
    void *scratch;          /* partial sums of the reductions, sort buffers */
    size_t scratch_bytes;
};

#define LT_WORKSPACE ((size_t)32 << 20)

/* The context's scratch buffer, at least `bytes` long: valid until the next
 * call of scratch (growing it waits for the stream first). */
void *scratch(Gpu *g, size_t bytes);

/* Row-major batched C = alpha op(A) op(B) + beta C through cuBLAS (gemm.cu). */
void gemm_batched(Gpu *g, DType dt, bool ta, bool tb, int M, int N, int K, float alpha, const void *A, int lda,
                  long long sa, const void *B, int ldb, long long sb, float beta, void *C, int ldc, long long sc,
                  int batch);

/* ---- Storage types --------------------------------------------------------------- */

typedef __nv_bfloat16 bf16;
typedef __half f16;

__device__ __forceinline__ float tof(float x) { return x; }
__device__ __forceinline__ float tof(bf16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float tof(f16 x) { return __half2float(x); }

template <typename T> __device__ __forceinline__ T fromf(float x);
template <> __device__ __forceinline__ float fromf<float>(float x) { return x; }
template <> __device__ __forceinline__ bf16 fromf<bf16>(float x) { return __float2bfloat16_rn(x); }
template <> __device__ __forceinline__ f16 fromf<f16>(float x) { return __float2half_rn(x); }

/* 16 bytes of T: one vector load or store */
template <typename T> struct alignas(16) Pack {
    static constexpr int N = 16 / sizeof(T);
    T v[N];
};

template <typename T> __device__ __forceinline__ Pack<T> load_pack(const T *p) {
    return *reinterpret_cast<const Pack<T> *>(p);
}

template <typename T> __device__ __forceinline__ void store_pack(T *p, const Pack<T> &x) {
    *reinterpret_cast<Pack<T> *>(p) = x;
}

#define DISPATCH(dt, T, ...)                                                                   \
    switch (dt) {                                                                              \
    case DT_F32: { typedef float T; __VA_ARGS__; } break;                                      \
    case DT_BF16: { typedef bf16 T; __VA_ARGS__; } break;                                      \
    case DT_F16: { typedef f16 T; __VA_ARGS__; } break;                                        \
    default: die("%s: dtype %s is not supported on the GPU (F32, BF16, F16)", __func__, dtype_name(dt)); \
    }

static inline bool aligned16(const void *p) { return ((uintptr_t)p % 16) == 0; }

static inline void check_aligned(const void *p, const char *who) {
    if (!aligned16(p)) die("%s: device pointer %p is not 16-byte aligned", who, p);
}

static inline unsigned blocks_for(size_t n, unsigned threads) { return (unsigned)((n + threads - 1) / threads); }

/* ---- Reductions ------------------------------------------------------------------ */

__device__ __forceinline__ float warp_sum(float x) {
    for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
    return x;
}
__device__ __forceinline__ float warp_max(float x) {
    for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
    return x;
}

/* Sum over a block (blockDim.x a multiple of 32, at most 1024); every thread gets it. */
static __device__ float block_sum(float x) {
    __shared__ float part[32];
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nw = blockDim.x / 32;
    x = warp_sum(x);
    __syncthreads();                 /* part[] may still be read from a previous call */
    if (lane == 0) part[warp] = x;
    __syncthreads();
    x = lane < nw ? part[lane] : 0.0f;
    return warp_sum(x);
}

/* Online max and sum of exponentials: (m, s) stands for s * exp(m).  One
 * exponential per merge: the larger maximum keeps its sum as it is. */
__device__ __forceinline__ void lse_merge(float &m, float &s, float m2, float s2) {
    if (m2 > m) {
        s = s * __expf(m - m2) + s2;   /* m = -inf gives s * 0 */
        m = m2;
    } else if (m2 != -INFINITY) {
        s += s2 * __expf(m2 - m);
    }
}

static __device__ void block_lse(float &m, float &s) {
    __shared__ float pm[32], ps[32];
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nw = blockDim.x / 32;
    for (int o = 16; o > 0; o >>= 1) {
        float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
        lse_merge(m, s, m2, s2);
    }
    __syncthreads();
    if (lane == 0) pm[warp] = m, ps[warp] = s;
    __syncthreads();
    m = lane < nw ? pm[lane] : -INFINITY;
    s = lane < nw ? ps[lane] : 0.0f;
    for (int o = 16; o > 0; o >>= 1) {
        float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
        lse_merge(m, s, m2, s2);
    }
}

#endif
