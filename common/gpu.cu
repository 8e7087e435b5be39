/* gpu.cu -- see gpu.h.  CUDA C++ used as C with templates: one kernel per
 * layer and direction, templated over the storage type T (float,
 * __nv_bfloat16, __half) and instantiated by DISPATCH from a DType.
 *
 * Patterns, each used several times below:
 *   - elementwise kernels move 16 bytes per thread per access (a Pack of 4
 *     floats or 8 halves), one pack per thread, the tail done element by
 *     element by the thread that owns it;
 *   - row kernels give one warp to a row when rows are short (norms, the
 *     causal softmax) and one block to a row when they are long (softmax,
 *     cross-entropy over a vocabulary), and reduce with warp shuffles;
 *   - sums over rows (the weight gradients of the norms, a bias gradient, a
 *     gradient norm) are taken per block into partials and then across
 *     blocks by one more kernel in a fixed order, so they are deterministic;
 *   - matrix products go to cuBLAS, with f32 accumulation. */
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

#define _Noreturn [[noreturn]]  /* util.h is C11; this file is C++ */
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

/* ---- The context ----------------------------------------------------------------- */

struct Gpu {
    int device;
    cudaStream_t stream;
    cublasHandle_t blas;
    cublasLtHandle_t lt;    /* for matrix products with a bias epilogue */
    void *lt_workspace;
    GpuInfo info;
    void *scratch;          /* partial sums of the reductions */
    size_t scratch_bytes;
};

#define LT_WORKSPACE ((size_t)32 << 20)

static void *scratch(Gpu *g, size_t bytes) {
    if (bytes > g->scratch_bytes) {
        CUDA_CHECK(cudaStreamSynchronize(g->stream));
        if (g->scratch) CUDA_CHECK(cudaFree(g->scratch));
        g->scratch_bytes = bytes < ((size_t)1 << 20) ? (size_t)1 << 20 : bytes;
        CUDA_CHECK(cudaMalloc(&g->scratch, g->scratch_bytes));
    }
    return g->scratch;
}

extern "C" bool gpu_available(void) {
    int n = 0;
    return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

extern "C" Gpu *gpu_open(int device) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0)
        die("--device cuda: no usable CUDA GPU here (CUDA says: %s); --device cpu runs everything",
            e != cudaSuccess ? cudaGetErrorString(e) : "no devices");
    if (device < 0 || device >= n) die("--device cuda: there is no GPU %d (this machine has %d)", device, n);
    Gpu *g = (Gpu *)xcalloc(1, sizeof *g);
    g->device = device;
    CUDA_CHECK(cudaSetDevice(device));
    CUDA_CHECK(cudaStreamCreateWithFlags(&g->stream, cudaStreamNonBlocking));
    CUBLAS_CHECK(cublasCreate(&g->blas));
    CUBLAS_CHECK(cublasSetStream(g->blas, g->stream));
    CUBLAS_CHECK(cublasLtCreate(&g->lt));
    CUDA_CHECK(cudaMalloc(&g->lt_workspace, LT_WORKSPACE));
    cudaDeviceProp p;
    CUDA_CHECK(cudaGetDeviceProperties(&p, device));
    snprintf(g->info.name, sizeof g->info.name, "%s", p.name);
    g->info.major = p.major, g->info.minor = p.minor, g->info.sms = p.multiProcessorCount;
    g->info.memory = p.totalGlobalMem, g->info.l2 = (size_t)p.l2CacheSize;
    CUDA_CHECK(cudaDriverGetVersion(&g->info.driver));
    CUDA_CHECK(cudaRuntimeGetVersion(&g->info.runtime));
    return g;
}

extern "C" void gpu_close(Gpu *g) {
    if (!g) return;
    CUDA_CHECK(cudaStreamSynchronize(g->stream));
    if (g->scratch) CUDA_CHECK(cudaFree(g->scratch));
    CUBLAS_CHECK(cublasDestroy(g->blas));
    CUBLAS_CHECK(cublasLtDestroy(g->lt));
    CUDA_CHECK(cudaFree(g->lt_workspace));
    CUDA_CHECK(cudaStreamDestroy(g->stream));
    free(g);
}

extern "C" GpuInfo gpu_info(const Gpu *g) { return g->info; }

extern "C" void gpu_sync(Gpu *g) {
    CUDA_CHECK(cudaStreamSynchronize(g->stream));
    CUDA_CHECK(cudaGetLastError());
}

/* ---- Memory ------------------------------------------------------------------------- */

extern "C" void *gpu_malloc(size_t bytes) {
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e != cudaSuccess) die("CUDA: cannot allocate %zu bytes of device memory: %s", bytes, cudaGetErrorString(e));
    return p;
}

extern "C" void *gpu_try_malloc(size_t bytes) {
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();   /* clear it, so that the next launch check does not report it */
        return NULL;
    }
    if (e != cudaSuccess) die("CUDA: cannot allocate %zu bytes of device memory: %s", bytes, cudaGetErrorString(e));
    return p;
}

extern "C" void gpu_free(void *p) {
    if (p) CUDA_CHECK(cudaFree(p));
}

extern "C" Arena *gpu_arena_new(Gpu *g, const char *name, size_t capacity) {
    (void)g;
    Arena *a = (Arena *)xcalloc(1, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    a->device = DEV_CUDA;
    a->capacity = (capacity + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    a->base = (unsigned char *)gpu_malloc(a->capacity);
    return a;
}

extern "C" void gpu_arena_free(Arena *a) {
    if (!a) return;
    if (a->device != DEV_CUDA) die("gpu_arena_free: arena \"%s\" is not device memory", a->name);
    gpu_free(a->base);
    free(a);
}

extern "C" void gpu_upload(Gpu *g, void *dst, const void *src, size_t bytes) {
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, g->stream));
    CUDA_CHECK(cudaStreamSynchronize(g->stream));  /* the host buffer may be reused at once */
}

extern "C" void gpu_download(Gpu *g, void *dst, const void *src, size_t bytes) {
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, g->stream));
    CUDA_CHECK(cudaStreamSynchronize(g->stream));
}

extern "C" void gpu_copy(Gpu *g, void *dst, const void *src, size_t bytes) {
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, g->stream));
}

extern "C" void gpu_zero(Gpu *g, void *dst, size_t bytes) {
    CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, g->stream));
}

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

static void check_aligned(const void *p, const char *who) {
    if ((uintptr_t)p % 16) die("%s: device pointer %p is not 16-byte aligned", who, p);
}

static bool aligned16(const void *p) { return ((uintptr_t)p % 16) == 0; }

static unsigned blocks_for(size_t n, unsigned threads) { return (unsigned)((n + threads - 1) / threads); }

__device__ __forceinline__ float warp_sum(float x) {
    for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
    return x;
}
__device__ __forceinline__ float warp_max(float x) {
    for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
    return x;
}

/* Sum over a block (blockDim.x a multiple of 32, at most 1024); every thread gets it. */
__device__ float block_sum(float x) {
    __shared__ float part[32];
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nw = blockDim.x / 32;
    x = warp_sum(x);
    __syncthreads();                 /* part[] may still be read from a previous call */
    if (lane == 0) part[warp] = x;
    __syncthreads();
    x = lane < nw ? part[lane] : 0.0f;
    return warp_sum(x);
}

/* Online max and sum of exponentials: (m, s) stands for s * exp(m). */
__device__ __forceinline__ void lse_merge(float &m, float &s, float m2, float s2) {
    float mm = fmaxf(m, m2);
    if (mm == -INFINITY) return;
    s = s * __expf(m - mm) + s2 * __expf(m2 - mm);
    m = mm;
}

__device__ void block_lse(float &m, float &s) {
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

/* ---- Conversions --------------------------------------------------------------------- */

template <typename D, typename S> __global__ void convert_kernel(D *dst, const S *src, size_t n) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) dst[i] = fromf<D>(tof(src[i]));
}

extern "C" void gpu_convert(Gpu *g, DType dst_dt, void *dst, DType src_dt, const void *src, size_t n) {
    if (n == 0) return;
    DISPATCH(dst_dt, D, DISPATCH(src_dt, S, {
        convert_kernel<D, S><<<blocks_for(n, 256), 256, 0, g->stream>>>((D *)dst, (const S *)src, n);
        LAUNCH_CHECK("convert");
    }))
}

extern "C" void gpu_upload_f32(Gpu *g, DType dt, void *dst, const float *src, size_t n) {
    if (dt == DT_F32) return gpu_upload(g, dst, src, n * sizeof(float));
    float *tmp = (float *)gpu_malloc(n * sizeof(float));
    gpu_upload(g, tmp, src, n * sizeof(float));
    gpu_convert(g, dt, dst, DT_F32, tmp, n);
    gpu_sync(g);
    gpu_free(tmp);
}

extern "C" void gpu_download_f32(Gpu *g, DType dt, float *dst, const void *src, size_t n) {
    if (dt == DT_F32) return gpu_download(g, dst, src, n * sizeof(float));
    float *tmp = (float *)gpu_malloc(n * sizeof(float));
    gpu_convert(g, DT_F32, tmp, dt, src, n);
    gpu_download(g, dst, tmp, n * sizeof(float));
    gpu_free(tmp);
}

/* ---- Timing ------------------------------------------------------------------------- */

struct GpuTimer {
    cudaStream_t stream;
    cudaEvent_t start, stop;
};

extern "C" GpuTimer *gpu_timer_new(Gpu *g) {
    GpuTimer *t = (GpuTimer *)xcalloc(1, sizeof *t);
    t->stream = g->stream;
    CUDA_CHECK(cudaEventCreate(&t->start));
    CUDA_CHECK(cudaEventCreate(&t->stop));
    return t;
}

extern "C" void gpu_timer_free(GpuTimer *t) {
    if (!t) return;
    CUDA_CHECK(cudaEventDestroy(t->start));
    CUDA_CHECK(cudaEventDestroy(t->stop));
    free(t);
}

extern "C" void gpu_timer_start(GpuTimer *t) { CUDA_CHECK(cudaEventRecord(t->start, t->stream)); }

extern "C" float gpu_timer_stop(GpuTimer *t) {
    CUDA_CHECK(cudaEventRecord(t->stop, t->stream));
    CUDA_CHECK(cudaEventSynchronize(t->stop));
    CUDA_CHECK(cudaGetLastError());
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, t->start, t->stop));
    return ms;
}

/* ---- Matrix multiplication ------------------------------------------------------------- */

static cudaDataType_t cuda_type(DType dt) {
    switch (dt) {
    case DT_F32: return CUDA_R_32F;
    case DT_BF16: return CUDA_R_16BF;
    case DT_F16: return CUDA_R_16F;
    default: die("gemm_cuda: dtype %s is not supported on the GPU (F32, BF16, F16)", dtype_name(dt));
    }
}

/* Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: cuBLAS sees
 * B first, A second, and the dimensions N, M. */
static void gemm_batched(Gpu *g, DType dt, bool ta, bool tb, int M, int N, int K, float alpha,
                         const void *A, int lda, long long sa, const void *B, int ldb, long long sb,
                         float beta, void *C, int ldc, long long sc, int batch) {
    if (M == 0 || N == 0) return;
    cudaDataType_t t = cuda_type(dt);
    CUBLAS_CHECK(cublasGemmStridedBatchedEx(g->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                                            N, M, K, &alpha, B, t, ldb, sb, A, t, lda, sa, &beta, C, t, ldc, sc,
                                            batch, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

extern "C" void gemm_cuda(Gpu *g, DType dt, bool ta, bool tb, int M, int N, int K, float alpha, const void *A,
                          int lda, const void *B, int ldb, float beta, void *C, int ldc) {
    if (M < 0 || N < 0 || K < 0) die("gemm_cuda: negative dimension (M %d, N %d, K %d)", M, N, K);
    if (lda < (ta ? M : K) || ldb < (tb ? K : N) || ldc < N)
        die("gemm_cuda: a leading dimension is smaller than its row (lda %d, ldb %d, ldc %d)", lda, ldb, ldc);
    if (M == 0 || N == 0) return;
    if (lda == 0) lda = 1;
    if (ldb == 0) ldb = 1;
    gemm_batched(g, dt, ta, tb, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
}

template <typename T> __global__ void add_bias_kernel(T *out, const T *bias, int N, int OC) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < (size_t)N * OC) out[i] = fromf<T>(tof(out[i]) + tof(bias[i % OC]));
}

/* Deterministic column sums: x[N, C] -> partials[nchunks, C] -> dst[C] += sum.
 * Block (32, 8): 32 columns, 8 row-stripes; a fixed order everywhere. */
template <typename T> __global__ void colsum_partial_kernel(const T *x, int N, int C, int rows_per_chunk,
                                                            float *partials) {
    __shared__ float acc[8][33];
    int c = blockIdx.x * 32 + threadIdx.x, r0 = blockIdx.y * rows_per_chunk;
    int r1 = min(N, r0 + rows_per_chunk);
    float s = 0;
    if (c < C)
        for (int r = r0 + threadIdx.y; r < r1; r += 8) s += tof(x[(size_t)r * C + c]);
    acc[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        float t = 0;
        for (int k = 0; k < 8; k++) t += acc[k][threadIdx.x];
        partials[(size_t)blockIdx.y * C + c] = t;
    }
}

template <typename T> __global__ void colsum_final_kernel(T *dst, const float *partials, int nchunks, int C) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float s = 0;
    for (int k = 0; k < nchunks; k++) s += partials[(size_t)k * C + c];
    dst[c] = fromf<T>(tof(dst[c]) + s);
}

template <typename T> static void colsum_add(Gpu *g, T *dst, const T *x, int N, int C) {
    int rows = 256, nchunks = (N + rows - 1) / rows;
    float *part = (float *)scratch(g, (size_t)nchunks * C * sizeof(float));
    colsum_partial_kernel<T><<<dim3((C + 31) / 32, nchunks), dim3(32, 8), 0, g->stream>>>(x, N, C, rows, part);
    LAUNCH_CHECK("colsum_partial");
    colsum_final_kernel<T><<<blocks_for(C, 256), 256, 0, g->stream>>>(dst, part, nchunks, C);
    LAUNCH_CHECK("colsum_final");
}

/* out = inp weight^T + bias in one cuBLASLt call, the bias added in the
 * GEMM's epilogue (no second pass over out).  Column-major, that is
 * out^T[OC, N] = weight[OC, C] inp^T[C, N]: A = weight stored as a
 * column-major C x OC matrix, transposed; B = inp as C x N.  Returns false
 * when cuBLASLt has no algorithm for the shape (odd sizes), and the caller
 * falls back to a GEMM and a bias kernel. */
static bool lt_linear(Gpu *g, DType dt, void *out, const void *inp, const void *weight, const void *bias, int N, int C,
                      int OC) {
    cudaDataType_t t = cuda_type(dt);
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulPreference_t pref;
    cublasOperation_t opT = CUBLAS_OP_T, opN = CUBLAS_OP_N;
    cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
    size_t ws = LT_WORKSPACE;
    CUBLAS_CHECK(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &opT, sizeof opT));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &opN, sizeof opN));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&la, t, C, OC, C));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&lb, t, C, N, C));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&lc, t, OC, N, OC));
    CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
    cublasLtMatmulHeuristicResult_t heur;
    int found = 0;
    cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(g->lt, desc, la, lb, lc, lc, pref, 1, &heur, &found);
    bool ok = st == CUBLAS_STATUS_SUCCESS && found > 0;
    if (ok) {
        float alpha = 1.0f, beta = 0.0f;
        CUBLAS_CHECK(cublasLtMatmul(g->lt, desc, &alpha, weight, la, inp, lb, &beta, out, lc, out, lc, &heur.algo,
                                    g->lt_workspace, LT_WORKSPACE, g->stream));
    }
    CUBLAS_CHECK(cublasLtMatmulPreferenceDestroy(pref));
    CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(la));
    CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(lb));
    CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(lc));
    CUBLAS_CHECK(cublasLtMatmulDescDestroy(desc));
    return ok;
}

extern "C" void linear_forward_cuda(Gpu *g, DType dt, void *out, const void *inp, const void *weight,
                                    const void *bias, int N, int C, int OC) {
    if (bias && N > 0 && OC > 0 && C > 0 && lt_linear(g, dt, out, inp, weight, bias, N, C, OC)) return;
    gemm_cuda(g, dt, false, true, N, OC, C, 1.0f, inp, C, weight, C, 0.0f, out, OC);
    if (!bias) return;
    DISPATCH(dt, T, {
        add_bias_kernel<T><<<blocks_for((size_t)N * OC, 256), 256, 0, g->stream>>>((T *)out, (const T *)bias, N, OC);
        LAUNCH_CHECK("add_bias");
    })
}

extern "C" void linear_backward_cuda(Gpu *g, DType dt, void *dinp, void *dweight, void *dbias, const void *dout,
                                     const void *inp, const void *weight, int N, int C, int OC) {
    if (dinp) gemm_cuda(g, dt, false, false, N, C, OC, 1.0f, dout, OC, weight, C, 1.0f, dinp, C);
    if (dweight) gemm_cuda(g, dt, true, false, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f, dweight, C);
    if (dbias) DISPATCH(dt, T, colsum_add<T>(g, (T *)dbias, (const T *)dout, N, OC))
}

/* ---- Embedding ------------------------------------------------------------------------------ */

template <typename T, bool VEC> __global__ void embedding_fwd_kernel(T *out, const int32_t *tokens, const T *wte,
                                                                    const T *wpe, int BT, int T_, int C) {
    constexpr int P = VEC ? Pack<T>::N : 1;
    size_t i = (blockIdx.x * (size_t)blockDim.x + threadIdx.x) * P;
    if (i >= (size_t)BT * C) return;
    int row = (int)(i / C), c = (int)(i % C);
    const T *e = wte + (size_t)tokens[row] * C + c, *p = wpe ? wpe + (size_t)(row % T_) * C + c : NULL;
    if (VEC) {
        Pack<T> a = load_pack(e), b, o;
        if (p) b = load_pack(p);
#pragma unroll
        for (int k = 0; k < Pack<T>::N; k++) o.v[k] = fromf<T>(tof(a.v[k]) + (p ? tof(b.v[k]) : 0.0f));
        store_pack(out + i, o);
    } else {
        out[i] = fromf<T>(tof(*e) + (p ? tof(*p) : 0.0f));
    }
}

__device__ __forceinline__ void atomic_add_t(float *p, float v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_add_t(bf16 *p, float v) { atomicAdd(p, __float2bfloat16_rn(v)); }
__device__ __forceinline__ void atomic_add_t(f16 *p, float v) { atomicAdd(p, __float2half_rn(v)); }

template <typename T> __global__ void embedding_bwd_kernel(T *dwte, T *dwpe, const T *dout, const int32_t *tokens,
                                                          int BT, int T_, int C) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= (size_t)BT * C) return;
    int row = (int)(i / C), c = (int)(i % C);
    float d = tof(dout[i]);
    if (dwte) atomic_add_t(&dwte[(size_t)tokens[row] * C + c], d);
    if (dwpe) atomic_add_t(&dwpe[(size_t)(row % T_) * C + c], d);
}

extern "C" void embedding_forward_cuda(Gpu *g, DType dt, void *out, const int32_t *tokens, const void *wte,
                                       const void *wpe, int B, int T, int C) {
    size_t n = (size_t)B * T * C;
    DISPATCH(dt, Ty, {
        if (C % Pack<Ty>::N == 0 && aligned16(out) && aligned16(wte) && (!wpe || aligned16(wpe)))
            embedding_fwd_kernel<Ty, true><<<blocks_for(n / Pack<Ty>::N, 256), 256, 0, g->stream>>>(
                (Ty *)out, tokens, (const Ty *)wte, (const Ty *)wpe, B * T, T, C);
        else
            embedding_fwd_kernel<Ty, false><<<blocks_for(n, 256), 256, 0, g->stream>>>(
                (Ty *)out, tokens, (const Ty *)wte, (const Ty *)wpe, B * T, T, C);
        LAUNCH_CHECK("embedding_forward");
    })
}

extern "C" void embedding_backward_cuda(Gpu *g, DType dt, void *dwte, void *dwpe, const void *dout,
                                        const int32_t *tokens, int B, int T, int C) {
    size_t n = (size_t)B * T * C;
    DISPATCH(dt, Ty, {
        embedding_bwd_kernel<Ty><<<blocks_for(n, 256), 256, 0, g->stream>>>((Ty *)dwte, (Ty *)dwpe, (const Ty *)dout,
                                                                          tokens, B * T, T, C);
        LAUNCH_CHECK("embedding_backward");
    })
}

/* ---- Layer norm and RMS norm: a warp per row ------------------------------------------------ */

/* Loop over a row of C values: lane owns Pack<T>::N neighbours at a time
 * when the row divides into packs, else every 32nd value. */
template <typename T, typename F> __device__ __forceinline__ void row_loop(int C, int lane, F body) {
    if (C % Pack<T>::N == 0) {
        for (int c0 = lane * Pack<T>::N; c0 < C; c0 += 32 * Pack<T>::N) {
#pragma unroll
            for (int k = 0; k < Pack<T>::N; k++) body(c0 + k);
        }
    } else {
        for (int c = lane; c < C; c += 32) body(c);
    }
}

template <typename T> __global__ void layernorm_fwd_kernel(T *out, float *mean, float *rstd, const T *inp,
                                                          const T *w, const T *b, int N, int C) {
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= N) return;
    const T *x = inp + (size_t)row * C;
    float s = 0;
    row_loop<T>(C, lane, [&](int c) { s += tof(x[c]); });
    float m = warp_sum(s) / C;
    float v = 0;
    row_loop<T>(C, lane, [&](int c) { float d = tof(x[c]) - m; v += d * d; });
    float r = rsqrtf(warp_sum(v) / C + NN_NORM_EPS);
    T *y = out + (size_t)row * C;
    row_loop<T>(C, lane, [&](int c) { y[c] = fromf<T>((tof(x[c]) - m) * r * tof(w[c]) + (b ? tof(b[c]) : 0.0f)); });
    if (lane == 0) {
        if (mean) mean[row] = m;
        if (rstd) rstd[row] = r;
    }
}

/* dinp per row; dweight and dbias partial sums per warp in shared memory,
 * summed over the block's warps in order into partials[block][2C]. */
template <typename T> __global__ void layernorm_bwd_kernel(T *dinp, float *partials, const T *dout, const T *inp,
                                                          const T *w, const float *mean, const float *rstd,
                                                          int N, int C) {
    extern __shared__ float sh[];  /* [warps][2C] */
    int nw = blockDim.x / 32, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    float *dw = sh + (size_t)warp * 2 * C, *db = dw + C;
    for (int c = lane; c < C; c += 32) dw[c] = 0, db[c] = 0;
    __syncwarp();  /* the row loop below gives lanes other columns */
    for (int row = blockIdx.x * nw + warp; row < N; row += gridDim.x * nw) {
        const T *x = inp + (size_t)row * C, *dy = dout + (size_t)row * C;
        float m = mean[row], r = rstd[row], sg = 0, sgx = 0;
        row_loop<T>(C, lane, [&](int c) {
            float xh = (tof(x[c]) - m) * r, d = tof(dy[c]), gg = d * tof(w[c]);
            sg += gg, sgx += gg * xh;
            dw[c] += d * xh, db[c] += d;
        });
        sg = warp_sum(sg) / C, sgx = warp_sum(sgx) / C;
        if (dinp) {
            T *dx = dinp + (size_t)row * C;
            row_loop<T>(C, lane, [&](int c) {
                float xh = (tof(x[c]) - m) * r;
                dx[c] = fromf<T>(tof(dx[c]) + r * (tof(dy[c]) * tof(w[c]) - sg - xh * sgx));
            });
        }
    }
    __syncthreads();
    for (int c = threadIdx.x; c < 2 * C; c += blockDim.x) {
        float s = 0;
        for (int k = 0; k < nw; k++) s += sh[(size_t)k * 2 * C + c];
        partials[(size_t)blockIdx.x * 2 * C + c] = s;
    }
}

/* dst[c] += sum over blocks of partials[block][offset + c] (stride `width`).
 * A block per 32 columns; its 16 rows of threads take every 16th block's
 * partial, then add their 16 sums in order: parallel, and deterministic. */
template <typename T> __global__ void partials_final_kernel(T *dst, const float *partials, int nblocks, int width,
                                                            int offset, int C) {
    __shared__ float acc[16][33];
    int c = blockIdx.x * 32 + threadIdx.x;
    float s = 0;
    if (c < C)
        for (int k = threadIdx.y; k < nblocks; k += 16) s += partials[(size_t)k * width + offset + c];
    acc[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        float t = 0;
        for (int k = 0; k < 16; k++) t += acc[k][threadIdx.x];
        dst[c] = fromf<T>(tof(dst[c]) + t);
    }
}

#define PARTIALS_FINAL(T, dst, part, nb, width, offset, C)                                               \
    partials_final_kernel<T><<<((C) + 31) / 32, dim3(32, 16), 0, g->stream>>>(dst, part, nb, width, offset, C)

static int row_blocks(Gpu *g, int N, int rows_per_block) {
    int want = (N + rows_per_block - 1) / rows_per_block, cap = 2 * g->info.sms;
    return want < cap ? want : cap;
}

/* warps per block for a backward kernel holding `per_warp` floats of shared memory */
template <typename K> static int shared_warps(K kernel, size_t per_warp, size_t *bytes) {
    size_t limit = 160 * 1024;
    int w = (int)(limit / (per_warp * sizeof(float)));
    if (w > 8) w = 8;
    if (w < 1) die("a row of %zu values is too long for the GPU norms' backward pass", per_warp / 2);
    *bytes = (size_t)w * per_warp * sizeof(float);
    CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)*bytes));
    return w;
}


/* The fast path for rows that divide into packs (C a multiple of 4 floats or
 * 8 halves, up to 32 * 8 packs): a warp per row, the row held in registers
 * between passes, every access 16 bytes wide.  Lane l owns packs l, l + 32,
 * ..., at most K of them, so a warp's loads are 512 contiguous bytes.  RMS
 * selects RMS norm (no mean, no bias).  The backward pass keeps each lane's
 * weight-gradient sums in registers across all the rows its warp visits,
 * then sums the warps of a block in order, then the blocks in order. */
template <typename T, int K, bool RMS>
__global__ void norm_fwd_fast(T *out, float *stat1, float *stat2, const T *inp, const T *w, const T *b, int N, int C) {
    constexpr int P = Pack<T>::N;
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32, np = C / P;
    if (row >= N) return;
    const T *x = inp + (size_t)row * C;
    float v[K][P], s = 0;
#pragma unroll
    for (int k = 0; k < K; k++) {
        int p = lane + 32 * k;
        if (p < np) {
            Pack<T> a = load_pack(x + (size_t)p * P);
#pragma unroll
            for (int j = 0; j < P; j++) v[k][j] = tof(a.v[j]), s += RMS ? v[k][j] * v[k][j] : v[k][j];
        }
    }
    float m = 0, r;
    if (RMS) {
        r = rsqrtf(warp_sum(s) / C + NN_NORM_EPS);
    } else {
        m = warp_sum(s) / C;
        float q = 0;
#pragma unroll
        for (int k = 0; k < K; k++)
            if (lane + 32 * k < np)
#pragma unroll
                for (int j = 0; j < P; j++) q += (v[k][j] - m) * (v[k][j] - m);
        r = rsqrtf(warp_sum(q) / C + NN_NORM_EPS);
    }
    T *y = out + (size_t)row * C;
#pragma unroll
    for (int k = 0; k < K; k++) {
        int p = lane + 32 * k;
        if (p < np) {
            Pack<T> wp = load_pack(w + (size_t)p * P), bp, o;
            if (!RMS && b) bp = load_pack(b + (size_t)p * P);
#pragma unroll
            for (int j = 0; j < P; j++)
                o.v[j] = fromf<T>((v[k][j] - m) * r * tof(wp.v[j]) + (!RMS && b ? tof(bp.v[j]) : 0.0f));
            store_pack(y + (size_t)p * P, o);
        }
    }
    if (lane == 0) {
        if (RMS) {
            if (stat1) stat1[row] = r;
        } else {
            if (stat1) stat1[row] = m;
            if (stat2) stat2[row] = r;
        }
    }
}

/* Each warp keeps its weight-gradient sums in shared memory, laid out
 * [k][j][lane] so that the 32 lanes of a warp touch 32 different banks;
 * registers hold only the current row (xhat and g), which leaves room for
 * three blocks on a multiprocessor. */
template <typename T, int K, bool RMS>
__global__ void __launch_bounds__(256, 3) norm_bwd_fast(T *dinp, float *partials, const T *dout, const T *inp,
                                                        const T *w, const float *mean, const float *rstd, int N, int C) {
    constexpr int P = Pack<T>::N, W = K * P * 32;  /* floats per warp per sum */
    extern __shared__ float sh[];                 /* [warps][2][W] */
    int nw = blockDim.x / 32, warp = threadIdx.x / 32, lane = threadIdx.x % 32, np = C / P;
    float *dw = sh + (size_t)warp * 2 * W, *db = dw + W;
#pragma unroll
    for (int i = 0; i < K * P; i++) dw[i * 32 + lane] = 0, db[i * 32 + lane] = 0;
    for (int row = blockIdx.x * nw + warp; row < N; row += gridDim.x * nw) {
        const T *x = inp + (size_t)row * C, *dy = dout + (size_t)row * C;
        float m = RMS ? 0.0f : mean[row], r = rstd[row], sg = 0, sgx = 0;
        float xh[K][P], gg[K][P];
#pragma unroll
        for (int k = 0; k < K; k++) {
            int p = lane + 32 * k;
            if (p < np) {
                Pack<T> xp = load_pack(x + (size_t)p * P), dp = load_pack(dy + (size_t)p * P);
                Pack<T> wp = load_pack(w + (size_t)p * P);
#pragma unroll
                for (int j = 0; j < P; j++) {
                    float d = tof(dp.v[j]);
                    xh[k][j] = (tof(xp.v[j]) - m) * r;
                    gg[k][j] = d * tof(wp.v[j]);
                    sg += gg[k][j], sgx += gg[k][j] * xh[k][j];
                    dw[(k * P + j) * 32 + lane] += d * xh[k][j];
                    db[(k * P + j) * 32 + lane] += d;
                }
            }
        }
        sg = RMS ? 0.0f : warp_sum(sg) / C;
        sgx = warp_sum(sgx) / C;
        if (!dinp) continue;
        T *dx = dinp + (size_t)row * C;
#pragma unroll
        for (int k = 0; k < K; k++) {
            int p = lane + 32 * k;
            if (p < np) {
                Pack<T> o = load_pack(dx + (size_t)p * P);
#pragma unroll
                for (int j = 0; j < P; j++) o.v[j] = fromf<T>(tof(o.v[j]) + r * (gg[k][j] - sg - xh[k][j] * sgx));
                store_pack(dx + (size_t)p * P, o);
            }
        }
    }
    __syncthreads();
    int width = RMS ? C : 2 * C;
    for (int c = threadIdx.x; c < width; c += blockDim.x) {
        int half = c >= C, cc = c - half * C, p = cc / P, j = cc % P;
        int idx = half * W + ((p / 32) * P + j) * 32 + p % 32;
        float s = 0;
        for (int k = 0; k < nw; k++) s += sh[(size_t)k * 2 * W + idx];
        partials[(size_t)blockIdx.x * width + c] = s;
    }
}

/* K for a row of C values: the smallest of 1, 2, 3, 4, 6, 8 packs per lane that holds it; 0 if none. */
template <typename T> static int fast_k(int C) {
    constexpr int P = Pack<T>::N;
    if (C % P) return 0;
    int need = (C / P + 31) / 32;
    static const int ks[] = {1, 2, 3, 4, 6, 8};
    for (int i = 0; i < 6; i++)
        if (ks[i] >= need) return ks[i];
    return 0;
}

#define NORM_K_SWITCH(K, CALL)                                                                  \
    switch (K) {                                                                                \
    case 1: CALL(1); break;                                                                     \
    case 2: CALL(2); break;                                                                     \
    case 3: CALL(3); break;                                                                     \
    case 4: CALL(4); break;                                                                     \
    case 6: CALL(6); break;                                                                     \
    case 8: CALL(8); break;                                                                     \
    }

template <typename T, bool RMS>
static bool norm_fwd_fast_launch(Gpu *g, T *out, float *s1, float *s2, const T *inp, const T *w, const T *b, int N,
                                 int C) {
    int K = fast_k<T>(C);
    if (!K || !aligned16(out) || !aligned16(inp) || !aligned16(w) || (b && !aligned16(b))) return false;
#define FWD(KK) norm_fwd_fast<T, KK, RMS><<<blocks_for(N, 8), 256, 0, g->stream>>>(out, s1, s2, inp, w, b, N, C)
    NORM_K_SWITCH(K, FWD)
#undef FWD
    LAUNCH_CHECK(RMS ? "rmsnorm_forward (fast)" : "layernorm_forward (fast)");
    return true;
}

/* returns the number of blocks whose partials are in part, 0 if the fast path does not apply */
template <typename T, bool RMS>
static int norm_bwd_fast_launch(Gpu *g, T *dinp, float **part, const T *dout, const T *inp, const T *w,
                                const float *mean, const float *rstd, int N, int C) {
    int K = fast_k<T>(C);
    if (!K || (dinp && !aligned16(dinp)) || !aligned16(dout) || !aligned16(inp) || !aligned16(w)) return 0;
    size_t shbytes = 0;
    int warps = 0;
#define WARPS(KK) warps = shared_warps(norm_bwd_fast<T, KK, RMS>, 2 * (size_t)KK * Pack<T>::N * 32, &shbytes)
    NORM_K_SWITCH(K, WARPS)
#undef WARPS
    int nb = (N + warps - 1) / warps, cap = 3 * g->info.sms;
    if (nb > cap) nb = cap;
    *part = (float *)scratch(g, (size_t)nb * 2 * C * sizeof(float));
#define BWD(KK) norm_bwd_fast<T, KK, RMS><<<nb, 32 * warps, shbytes, g->stream>>>(dinp, *part, dout, inp, w, mean, rstd, N, C)
    NORM_K_SWITCH(K, BWD)
#undef BWD
    LAUNCH_CHECK(RMS ? "rmsnorm_backward (fast)" : "layernorm_backward (fast)");
    return nb;
}

extern "C" void layernorm_forward_cuda(Gpu *g, DType dt, void *out, float *mean, float *rstd, const void *inp,
                                       const void *weight, const void *bias, int N, int C) {
    check_aligned(inp, "layernorm_forward_cuda"), check_aligned(out, "layernorm_forward_cuda");
    DISPATCH(dt, T, {
        if (norm_fwd_fast_launch<T, false>(g, (T *)out, mean, rstd, (const T *)inp, (const T *)weight, (const T *)bias, N, C))
            return;
        layernorm_fwd_kernel<T><<<blocks_for(N, 8), 256, 0, g->stream>>>((T *)out, mean, rstd, (const T *)inp,
                                                                         (const T *)weight, (const T *)bias, N, C);
        LAUNCH_CHECK("layernorm_forward");
    })
}

extern "C" void layernorm_backward_cuda(Gpu *g, DType dt, void *dinp, void *dweight, void *dbias, const void *dout,
                                        const void *inp, const void *weight, const float *mean, const float *rstd,
                                        int N, int C) {
    DISPATCH(dt, T, {
        float *part = NULL;
        int nb = norm_bwd_fast_launch<T, false>(g, (T *)dinp, &part, (const T *)dout, (const T *)inp, (const T *)weight,
                                                mean, rstd, N, C);
        if (!nb) {
            size_t shbytes;
            int w = shared_warps(layernorm_bwd_kernel<T>, 2 * (size_t)C, &shbytes);
            nb = row_blocks(g, N, w);
            part = (float *)scratch(g, (size_t)nb * 2 * C * sizeof(float));
            layernorm_bwd_kernel<T><<<nb, 32 * w, shbytes, g->stream>>>((T *)dinp, part, (const T *)dout,
                                                                       (const T *)inp, (const T *)weight, mean, rstd, N, C);
            LAUNCH_CHECK("layernorm_backward");
        }
        if (dweight) {
            PARTIALS_FINAL(T, (T *)dweight, part, nb, 2 * C, 0, C);
            LAUNCH_CHECK("layernorm_backward (dweight)");
        }
        if (dbias) {
            PARTIALS_FINAL(T, (T *)dbias, part, nb, 2 * C, C, C);
            LAUNCH_CHECK("layernorm_backward (dbias)");
        }
    })
}

template <typename T> __global__ void rmsnorm_fwd_kernel(T *out, float *rrms, const T *inp, const T *w, int N, int C) {
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= N) return;
    const T *x = inp + (size_t)row * C;
    float ss = 0;
    row_loop<T>(C, lane, [&](int c) { float v = tof(x[c]); ss += v * v; });
    float r = rsqrtf(warp_sum(ss) / C + NN_NORM_EPS);
    T *y = out + (size_t)row * C;
    row_loop<T>(C, lane, [&](int c) { y[c] = fromf<T>(tof(x[c]) * r * tof(w[c])); });
    if (lane == 0 && rrms) rrms[row] = r;
}

template <typename T> __global__ void rmsnorm_bwd_kernel(T *dinp, float *partials, const T *dout, const T *inp,
                                                        const T *w, const float *rrms, int N, int C) {
    extern __shared__ float sh[];  /* [warps][C] */
    int nw = blockDim.x / 32, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    float *dw = sh + (size_t)warp * C;
    for (int c = lane; c < C; c += 32) dw[c] = 0;
    __syncwarp();
    for (int row = blockIdx.x * nw + warp; row < N; row += gridDim.x * nw) {
        const T *x = inp + (size_t)row * C, *dy = dout + (size_t)row * C;
        float r = rrms[row], sgx = 0;
        row_loop<T>(C, lane, [&](int c) {
            float xh = tof(x[c]) * r, d = tof(dy[c]);
            sgx += d * tof(w[c]) * xh;
            dw[c] += d * xh;
        });
        sgx = warp_sum(sgx) / C;
        if (dinp) {
            T *dx = dinp + (size_t)row * C;
            row_loop<T>(C, lane, [&](int c) {
                float xh = tof(x[c]) * r;
                dx[c] = fromf<T>(tof(dx[c]) + r * (tof(dy[c]) * tof(w[c]) - xh * sgx));
            });
        }
    }
    __syncthreads();
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float s = 0;
        for (int k = 0; k < nw; k++) s += sh[(size_t)k * C + c];
        partials[(size_t)blockIdx.x * C + c] = s;
    }
}

extern "C" void rmsnorm_forward_cuda(Gpu *g, DType dt, void *out, float *rrms, const void *inp, const void *weight,
                                     int N, int C) {
    check_aligned(inp, "rmsnorm_forward_cuda"), check_aligned(out, "rmsnorm_forward_cuda");
    DISPATCH(dt, T, {
        if (norm_fwd_fast_launch<T, true>(g, (T *)out, rrms, NULL, (const T *)inp, (const T *)weight, NULL, N, C)) return;
        rmsnorm_fwd_kernel<T><<<blocks_for(N, 8), 256, 0, g->stream>>>((T *)out, rrms, (const T *)inp,
                                                                       (const T *)weight, N, C);
        LAUNCH_CHECK("rmsnorm_forward");
    })
}

extern "C" void rmsnorm_backward_cuda(Gpu *g, DType dt, void *dinp, void *dweight, const void *dout, const void *inp,
                                      const void *weight, const float *rrms, int N, int C) {
    DISPATCH(dt, T, {
        float *part = NULL;
        int nb = norm_bwd_fast_launch<T, true>(g, (T *)dinp, &part, (const T *)dout, (const T *)inp, (const T *)weight,
                                               NULL, rrms, N, C);
        if (!nb) {
            size_t shbytes;
            int w = shared_warps(rmsnorm_bwd_kernel<T>, (size_t)C, &shbytes);
            nb = row_blocks(g, N, w);
            part = (float *)scratch(g, (size_t)nb * C * sizeof(float));
            rmsnorm_bwd_kernel<T><<<nb, 32 * w, shbytes, g->stream>>>((T *)dinp, part, (const T *)dout, (const T *)inp,
                                                                     (const T *)weight, rrms, N, C);
            LAUNCH_CHECK("rmsnorm_backward");
        }
        if (dweight) {
            PARTIALS_FINAL(T, (T *)dweight, part, nb, C, 0, C);
            LAUNCH_CHECK("rmsnorm_backward (dweight)");
        }
    })
}

/* ---- Elementwise: GELU, residual; SwiGLU ------------------------------------------------------ */

#define GELU_K 0.7978845608028654f

__device__ __forceinline__ float gelu_f(float x) {
    return 0.5f * x * (1.0f + tanhf(GELU_K * (x + 0.044715f * x * x * x)));
}
__device__ __forceinline__ float gelu_grad(float x) {
    float th = tanhf(GELU_K * (x + 0.044715f * x * x * x));
    return 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
}

/* One pack per thread; the thread holding the tail finishes it one by one. */
template <typename T, typename Full, typename Scalar>
__device__ __forceinline__ void packed_map(size_t n, Full full, Scalar scalar) {
    size_t i0 = (blockIdx.x * (size_t)blockDim.x + threadIdx.x) * Pack<T>::N;
    if (i0 + Pack<T>::N <= n) full(i0);
    else
        for (size_t i = i0; i < n; i++) scalar(i);
}

template <typename T> __global__ void gelu_fwd_kernel(T *out, const T *inp, size_t n) {
    packed_map<T>(n, [&](size_t i0) {
        Pack<T> x = load_pack(inp + i0), y;
#pragma unroll
        for (int k = 0; k < Pack<T>::N; k++) y.v[k] = fromf<T>(gelu_f(tof(x.v[k])));
        store_pack(out + i0, y);
    }, [&](size_t i) { out[i] = fromf<T>(gelu_f(tof(inp[i]))); });
}

template <typename T> __global__ void gelu_bwd_kernel(T *dinp, const T *dout, const T *inp, size_t n) {
    packed_map<T>(n, [&](size_t i0) {
        Pack<T> x = load_pack(inp + i0), d = load_pack(dout + i0), acc = load_pack(dinp + i0);
#pragma unroll
        for (int k = 0; k < Pack<T>::N; k++)
            acc.v[k] = fromf<T>(tof(acc.v[k]) + gelu_grad(tof(x.v[k])) * tof(d.v[k]));
        store_pack(dinp + i0, acc);
    }, [&](size_t i) { dinp[i] = fromf<T>(tof(dinp[i]) + gelu_grad(tof(inp[i])) * tof(dout[i])); });
}

template <typename T> __global__ void residual_fwd_kernel(T *out, const T *a, const T *b, size_t n) {
    packed_map<T>(n, [&](size_t i0) {
        Pack<T> x = load_pack(a + i0), y = load_pack(b + i0), z;
#pragma unroll
        for (int k = 0; k < Pack<T>::N; k++) z.v[k] = fromf<T>(tof(x.v[k]) + tof(y.v[k]));
        store_pack(out + i0, z);
    }, [&](size_t i) { out[i] = fromf<T>(tof(a[i]) + tof(b[i])); });
}

template <typename T> __global__ void accumulate_kernel(T *dst, const T *src, size_t n) {
    packed_map<T>(n, [&](size_t i0) {
        Pack<T> x = load_pack(dst + i0), y = load_pack(src + i0);
#pragma unroll
        for (int k = 0; k < Pack<T>::N; k++) x.v[k] = fromf<T>(tof(x.v[k]) + tof(y.v[k]));
        store_pack(dst + i0, x);
    }, [&](size_t i) { dst[i] = fromf<T>(tof(dst[i]) + tof(src[i])); });
}

/* residual backward into both at once: one read of dout */
template <typename T> __global__ void residual_bwd_kernel(T *da, T *db, const T *dout, size_t n) {
    packed_map<T>(n, [&](size_t i0) {
        Pack<T> d = load_pack(dout + i0), x = load_pack(da + i0), y = load_pack(db + i0);
#pragma unroll
        for (int k = 0; k < Pack<T>::N; k++) {
            x.v[k] = fromf<T>(tof(x.v[k]) + tof(d.v[k]));
            y.v[k] = fromf<T>(tof(y.v[k]) + tof(d.v[k]));
        }
        store_pack(da + i0, x), store_pack(db + i0, y);
    }, [&](size_t i) { da[i] = fromf<T>(tof(da[i]) + tof(dout[i])); db[i] = fromf<T>(tof(db[i]) + tof(dout[i])); });
}

#define LAUNCH_PACKED(kernel, T, n, ...)                                                            \
    do {                                                                                            \
        size_t packs_ = ((n) + Pack<T>::N - 1) / Pack<T>::N;                                         \
        if (packs_) kernel<T><<<blocks_for(packs_, 256), 256, 0, g->stream>>>(__VA_ARGS__);          \
        LAUNCH_CHECK(#kernel);                                                                      \
    } while (0)

extern "C" void gelu_forward_cuda(Gpu *g, DType dt, void *out, const void *inp, size_t n) {
    check_aligned(out, __func__), check_aligned(inp, __func__);
    DISPATCH(dt, T, LAUNCH_PACKED(gelu_fwd_kernel, T, n, (T *)out, (const T *)inp, n))
}

extern "C" void gelu_backward_cuda(Gpu *g, DType dt, void *dinp, const void *dout, const void *inp, size_t n) {
    check_aligned(dinp, __func__), check_aligned(dout, __func__), check_aligned(inp, __func__);
    DISPATCH(dt, T, LAUNCH_PACKED(gelu_bwd_kernel, T, n, (T *)dinp, (const T *)dout, (const T *)inp, n))
}

extern "C" void residual_forward_cuda(Gpu *g, DType dt, void *out, const void *a, const void *b, size_t n) {
    check_aligned(out, __func__), check_aligned(a, __func__), check_aligned(b, __func__);
    DISPATCH(dt, T, LAUNCH_PACKED(residual_fwd_kernel, T, n, (T *)out, (const T *)a, (const T *)b, n))
}

extern "C" void residual_backward_cuda(Gpu *g, DType dt, void *da, void *db, const void *dout, size_t n) {
    check_aligned(dout, __func__);
    DISPATCH(dt, T, {
        if (da && db) LAUNCH_PACKED(residual_bwd_kernel, T, n, (T *)da, (T *)db, (const T *)dout, n);
        else if (da || db) LAUNCH_PACKED(accumulate_kernel, T, n, (T *)(da ? da : db), (const T *)dout, n);
    })
}

__device__ __forceinline__ float sigmoid_f(float x) { return 1.0f / (1.0f + __expf(-x)); }

/* a thread per pack of P hidden units when H divides into packs, else per unit */
template <typename T, bool VEC> __global__ void swiglu_fwd_kernel(T *out, const T *inp, int N, int H) {
    constexpr int P = VEC ? Pack<T>::N : 1;
    size_t i = (blockIdx.x * (size_t)blockDim.x + threadIdx.x) * P;
    if (i >= (size_t)N * H) return;
    size_t n = i / H, h = i % H;
    const T *gp = inp + n * 2 * H + h, *up = gp + H;
    if (VEC) {
        Pack<T> a = load_pack(gp), b = load_pack(up), o;
#pragma unroll
        for (int k = 0; k < Pack<T>::N; k++) {
            float gt = tof(a.v[k]);
            o.v[k] = fromf<T>(gt * sigmoid_f(gt) * tof(b.v[k]));
        }
        store_pack(out + i, o);
    } else {
        float gt = tof(*gp);
        out[i] = fromf<T>(gt * sigmoid_f(gt) * tof(*up));
    }
}

template <typename T, bool VEC> __global__ void swiglu_bwd_kernel(T *dinp, const T *dout, const T *inp, int N, int H) {
    constexpr int P = VEC ? Pack<T>::N : 1;
    size_t i = (blockIdx.x * (size_t)blockDim.x + threadIdx.x) * P;
    if (i >= (size_t)N * H) return;
    size_t n = i / H, h = i % H, ig = n * 2 * H + h, iu = ig + H;
    if (VEC) {
        Pack<T> a = load_pack(inp + ig), b = load_pack(inp + iu), d = load_pack(dout + i);
        Pack<T> dg = load_pack(dinp + ig), du = load_pack(dinp + iu);
#pragma unroll
        for (int k = 0; k < Pack<T>::N; k++) {
            float gt = tof(a.v[k]), up = tof(b.v[k]), dd = tof(d.v[k]), sg = sigmoid_f(gt);
            dg.v[k] = fromf<T>(tof(dg.v[k]) + dd * up * sg * (1.0f + gt * (1.0f - sg)));
            du.v[k] = fromf<T>(tof(du.v[k]) + dd * gt * sg);
        }
        store_pack(dinp + ig, dg), store_pack(dinp + iu, du);
    } else {
        float gt = tof(inp[ig]), up = tof(inp[iu]), dd = tof(dout[i]), sg = sigmoid_f(gt);
        dinp[ig] = fromf<T>(tof(dinp[ig]) + dd * up * sg * (1.0f + gt * (1.0f - sg)));
        dinp[iu] = fromf<T>(tof(dinp[iu]) + dd * gt * sg);
    }
}

extern "C" void swiglu_forward_cuda(Gpu *g, DType dt, void *out, const void *inp, int N, int H) {
    DISPATCH(dt, T, {
        size_t n = (size_t)N * H;
        if (H % Pack<T>::N == 0 && aligned16(out) && aligned16(inp))
            swiglu_fwd_kernel<T, true><<<blocks_for(n / Pack<T>::N, 256), 256, 0, g->stream>>>((T *)out, (const T *)inp, N, H);
        else
            swiglu_fwd_kernel<T, false><<<blocks_for(n, 256), 256, 0, g->stream>>>((T *)out, (const T *)inp, N, H);
        LAUNCH_CHECK("swiglu_forward");
    })
}

extern "C" void swiglu_backward_cuda(Gpu *g, DType dt, void *dinp, const void *dout, const void *inp, int N, int H) {
    DISPATCH(dt, T, {
        size_t n = (size_t)N * H;
        if (H % Pack<T>::N == 0 && aligned16(dinp) && aligned16(dout) && aligned16(inp))
            swiglu_bwd_kernel<T, true><<<blocks_for(n / Pack<T>::N, 256), 256, 0, g->stream>>>((T *)dinp, (const T *)dout,
                                                                                             (const T *)inp, N, H);
        else
            swiglu_bwd_kernel<T, false><<<blocks_for(n, 256), 256, 0, g->stream>>>((T *)dinp, (const T *)dout,
                                                                                  (const T *)inp, N, H);
        LAUNCH_CHECK("swiglu_backward");
    })
}

/* ---- Softmax and cross-entropy: a block per row ------------------------------------------------ */

#define ROW_THREADS 512

/* (m, s) over row x[0..V) with this thread's share */
template <typename T> __device__ void row_lse(const T *x, int V, float &m, float &s) {
    m = -INFINITY, s = 0;
    if (V % Pack<T>::N == 0 && ((uintptr_t)x % 16) == 0) {
        for (int c0 = threadIdx.x * Pack<T>::N; c0 < V; c0 += blockDim.x * Pack<T>::N) {
            Pack<T> p = load_pack(x + c0);
            float pm = -INFINITY;
#pragma unroll
            for (int k = 0; k < Pack<T>::N; k++) pm = fmaxf(pm, tof(p.v[k]));
            float ps = 0;
#pragma unroll
            for (int k = 0; k < Pack<T>::N; k++) ps += __expf(tof(p.v[k]) - pm);
            lse_merge(m, s, pm, ps);
        }
    } else {
        for (int c = threadIdx.x; c < V; c += blockDim.x) lse_merge(m, s, tof(x[c]), 1.0f);
    }
    block_lse(m, s);
}

template <typename T> __global__ void softmax_fwd_kernel(T *out, const T *inp, int V) {
    constexpr int P = Pack<T>::N;
    const T *x = inp + (size_t)blockIdx.x * V;
    T *y = out + (size_t)blockIdx.x * V;
    float m, s;
    row_lse(x, V, m, s);
    float inv = 1.0f / s;
    if (V % P == 0 && ((uintptr_t)x % 16) == 0 && ((uintptr_t)y % 16) == 0) {
        for (int c0 = threadIdx.x * P; c0 < V; c0 += blockDim.x * P) {
            Pack<T> a = load_pack(x + c0), o;
#pragma unroll
            for (int k = 0; k < P; k++) o.v[k] = fromf<T>(__expf(tof(a.v[k]) - m) * inv);
            store_pack(y + c0, o);
        }
    } else {
        for (int c = threadIdx.x; c < V; c += blockDim.x) y[c] = fromf<T>(__expf(tof(x[c]) - m) * inv);
    }
}

template <typename T> __global__ void softmax_bwd_kernel(T *dinp, const T *dout, const T *out, int V) {
    constexpr int P = Pack<T>::N;
    size_t off = (size_t)blockIdx.x * V;
    const T *dy = dout + off, *y = out + off;
    T *dx = dinp + off;
    bool vec = V % P == 0 && ((uintptr_t)dy % 16) == 0 && ((uintptr_t)y % 16) == 0 && ((uintptr_t)dx % 16) == 0;
    float dot = 0;
    if (vec) {
        for (int c0 = threadIdx.x * P; c0 < V; c0 += blockDim.x * P) {
            Pack<T> a = load_pack(dy + c0), b = load_pack(y + c0);
#pragma unroll
            for (int k = 0; k < P; k++) dot += tof(a.v[k]) * tof(b.v[k]);
        }
    } else {
        for (int c = threadIdx.x; c < V; c += blockDim.x) dot += tof(dy[c]) * tof(y[c]);
    }
    dot = block_sum(dot);
    if (vec) {
        for (int c0 = threadIdx.x * P; c0 < V; c0 += blockDim.x * P) {
            Pack<T> a = load_pack(dy + c0), b = load_pack(y + c0), o = load_pack(dx + c0);
#pragma unroll
            for (int k = 0; k < P; k++) o.v[k] = fromf<T>(tof(o.v[k]) + tof(b.v[k]) * (tof(a.v[k]) - dot));
            store_pack(dx + c0, o);
        }
    } else {
        for (int c = threadIdx.x; c < V; c += blockDim.x) dx[c] = fromf<T>(tof(dx[c]) + tof(y[c]) * (tof(dy[c]) - dot));
    }
}

/* threads for a block that owns a row of V values: one pack each, 64 to 512 */
template <typename T> static int row_threads(int V) {
    int packs = (V + Pack<T>::N - 1) / Pack<T>::N, t = (packs + 31) / 32 * 32;
    return t < 64 ? 64 : t > ROW_THREADS ? ROW_THREADS : t;
}

/* Softmax forward with the row in registers: K packs per thread, one read
 * and one write of device memory (the kernel above reads the row twice). */
template <typename T, int K> __global__ void softmax_fwd_reg_kernel(T *out, const T *inp, int V) {
    constexpr int P = Pack<T>::N;
    const T *x = inp + (size_t)blockIdx.x * V;
    T *y = out + (size_t)blockIdx.x * V;
    int np = V / P;
    float v[K][P], m = -INFINITY, s = 0;
#pragma unroll
    for (int k = 0; k < K; k++) {
        int p = threadIdx.x + k * blockDim.x;
        if (p < np) {
            Pack<T> a = load_pack(x + (size_t)p * P);
            float pm = -INFINITY, ps = 0;
#pragma unroll
            for (int j = 0; j < P; j++) v[k][j] = tof(a.v[j]), pm = fmaxf(pm, v[k][j]);
#pragma unroll
            for (int j = 0; j < P; j++) ps += __expf(v[k][j] - pm);
            lse_merge(m, s, pm, ps);
        }
    }
    block_lse(m, s);
    float inv = 1.0f / s;
#pragma unroll
    for (int k = 0; k < K; k++) {
        int p = threadIdx.x + k * blockDim.x;
        if (p < np) {
            Pack<T> o;
#pragma unroll
            for (int j = 0; j < P; j++) o.v[j] = fromf<T>(__expf(v[k][j] - m) * inv);
            store_pack(y + (size_t)p * P, o);
        }
    }
}

extern "C" void softmax_forward_cuda(Gpu *g, DType dt, void *out, const void *inp, int N, int V) {
    if (N == 0) return;
    DISPATCH(dt, T, {
        int packs = V / Pack<T>::N;
        if (V % Pack<T>::N == 0 && aligned16(out) && aligned16(inp) && packs <= 4 * 512) {
            int threads = ((packs + 3) / 4 + 31) / 32 * 32;
            softmax_fwd_reg_kernel<T, 4><<<N, threads, 0, g->stream>>>((T *)out, (const T *)inp, V);
            LAUNCH_CHECK("softmax_forward (registers)");
            return;
        }
        softmax_fwd_kernel<T><<<N, row_threads<T>(V), 0, g->stream>>>((T *)out, (const T *)inp, V);
        LAUNCH_CHECK("softmax_forward");
    })
}

extern "C" void softmax_backward_cuda(Gpu *g, DType dt, void *dinp, const void *dout, const void *out, int N, int V) {
    if (N == 0) return;
    DISPATCH(dt, T, {
        softmax_bwd_kernel<T><<<N, row_threads<T>(V), 0, g->stream>>>((T *)dinp, (const T *)dout, (const T *)out, V);
        LAUNCH_CHECK("softmax_backward");
    })
}

template <typename T> __global__ void xent_fwd_kernel(float *losses, float *lse, const T *logits,
                                                     const int32_t *targets, int V) {
    const T *x = logits + (size_t)blockIdx.x * V;
    float m, s;
    row_lse(x, V, m, s);
    if (threadIdx.x == 0) {
        float l = m + logf(s);
        int t = targets[blockIdx.x];
        if (lse) lse[blockIdx.x] = l;
        if (losses) losses[blockIdx.x] = t >= 0 ? l - tof(x[t]) : 0.0f;
    }
}

/* the gradient of one row: overwrite (in place, or fused) or accumulate */
template <typename T> __device__ void xent_grad_row(T *dx, const T *x, float l, int t, float dloss, int V, bool overwrite) {
    if (V % Pack<T>::N == 0 && ((uintptr_t)x % 16) == 0 && ((uintptr_t)dx % 16) == 0) {
        for (int c0 = threadIdx.x * Pack<T>::N; c0 < V; c0 += blockDim.x * Pack<T>::N) {
            Pack<T> p = load_pack(x + c0), o;
            if (!overwrite) o = load_pack(dx + c0);
#pragma unroll
            for (int k = 0; k < Pack<T>::N; k++) {
                float gr = t < 0 ? 0.0f : dloss * (__expf(tof(p.v[k]) - l) - (c0 + k == t ? 1.0f : 0.0f));
                o.v[k] = fromf<T>(overwrite ? gr : tof(o.v[k]) + gr);
            }
            store_pack(dx + c0, o);
        }
    } else {
        for (int c = threadIdx.x; c < V; c += blockDim.x) {
            float gr = t < 0 ? 0.0f : dloss * (__expf(tof(x[c]) - l) - (c == t ? 1.0f : 0.0f));
            dx[c] = fromf<T>(overwrite ? gr : tof(dx[c]) + gr);
        }
    }
}

template <typename T> __global__ void xent_bwd_kernel(T *dlogits, const T *logits, const float *lse,
                                                     const int32_t *targets, float dloss, int V) {
    size_t off = (size_t)blockIdx.x * V;
    xent_grad_row(dlogits + off, logits + off, lse[blockIdx.x], targets[blockIdx.x], dloss, V,
                  (const void *)dlogits == (const void *)logits);
}

template <typename T> __global__ void xent_fused_kernel(float *losses, T *logits, const int32_t *targets,
                                                       float dloss, int V) {
    T *x = logits + (size_t)blockIdx.x * V;
    float m, s;
    row_lse(x, V, m, s);
    float l = m + logf(s);
    int t = targets[blockIdx.x];
    if (threadIdx.x == 0 && losses) losses[blockIdx.x] = t >= 0 ? l - tof(x[t]) : 0.0f;
    __syncthreads();  /* x[t] is read above before any thread overwrites it */
    xent_grad_row(x, x, l, t, dloss, V, true);
}

/* The fused pass with the row staged in shared memory: the logits are read
 * from device memory once and written once (the version above reads them
 * twice, and a vocabulary row of 100 KB does not stay in L2 between the two
 * reads while hundreds of rows are in flight). */
template <typename T> __global__ void xent_fused_smem_kernel(float *losses, T *logits, const int32_t *targets,
                                                            float dloss, int V) {
    constexpr int P = Pack<T>::N;
    extern __shared__ __align__(16) unsigned char smem_raw[];
    T *row = reinterpret_cast<T *>(smem_raw);
    T *x = logits + (size_t)blockIdx.x * V;
    float m = -INFINITY, s = 0;
    for (int c0 = threadIdx.x * P; c0 < V; c0 += blockDim.x * P) {
        Pack<T> a = load_pack(x + c0);
        store_pack(row + c0, a);
        float pm = -INFINITY, ps = 0;
#pragma unroll
        for (int k = 0; k < P; k++) pm = fmaxf(pm, tof(a.v[k]));
#pragma unroll
        for (int k = 0; k < P; k++) ps += __expf(tof(a.v[k]) - pm);
        lse_merge(m, s, pm, ps);
    }
    block_lse(m, s);  /* its barriers also make the staged row visible to every thread */
    float l = m + logf(s);
    int t = targets[blockIdx.x];
    if (threadIdx.x == 0 && losses) losses[blockIdx.x] = t >= 0 ? l - tof(row[t]) : 0.0f;
    for (int c0 = threadIdx.x * P; c0 < V; c0 += blockDim.x * P) {
        Pack<T> a = load_pack(row + c0), o;
#pragma unroll
        for (int k = 0; k < P; k++) {
            float gr = t < 0 ? 0.0f : dloss * (__expf(tof(a.v[k]) - l) - (c0 + k == t ? 1.0f : 0.0f));
            o.v[k] = fromf<T>(gr);
        }
        store_pack(x + c0, o);
    }
}

extern "C" void cross_entropy_forward_cuda(Gpu *g, DType dt, float *losses, float *lse, const void *logits,
                                           const int32_t *targets, int N, int V) {
    if (N == 0) return;
    DISPATCH(dt, T, {
        xent_fwd_kernel<T><<<N, ROW_THREADS, 0, g->stream>>>(losses, lse, (const T *)logits, targets, V);
        LAUNCH_CHECK("cross_entropy_forward");
    })
}

extern "C" void cross_entropy_backward_cuda(Gpu *g, DType dt, void *dlogits, const void *logits, const float *lse,
                                            const int32_t *targets, float dloss, int N, int V) {
    if (N == 0) return;
    DISPATCH(dt, T, {
        xent_bwd_kernel<T><<<N, ROW_THREADS, 0, g->stream>>>((T *)dlogits, (const T *)logits, lse, targets, dloss, V);
        LAUNCH_CHECK("cross_entropy_backward");
    })
}

extern "C" void cross_entropy_fused_cuda(Gpu *g, DType dt, float *losses, void *logits, const int32_t *targets,
                                         float dloss, int N, int V) {
    if (N == 0) return;
    DISPATCH(dt, T, {
        size_t bytes = (size_t)V * sizeof(T);
        if (V % Pack<T>::N == 0 && aligned16(logits) && bytes <= 200 * 1024) {
            CUDA_CHECK(cudaFuncSetAttribute(xent_fused_smem_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                            (int)bytes));
            xent_fused_smem_kernel<T><<<N, ROW_THREADS, bytes, g->stream>>>(losses, (T *)logits, targets, dloss, V);
        } else {
            xent_fused_kernel<T><<<N, ROW_THREADS, 0, g->stream>>>(losses, (T *)logits, targets, dloss, V);
        }
        LAUNCH_CHECK("cross_entropy_fused");
    })
}

/* ---- Attention ------------------------------------------------------------------------------------ */

/* qkv[B,T,3,NH,hs] <-> q, k, v [B,NH,T,hs]; o [B,NH,T,hs] <-> out[B,T,NH,hs] */
template <typename T> __global__ void split_heads_kernel(T *q, T *k, T *v, const T *qkv, int B, int T_, int NH, int hs) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x, n = (size_t)B * NH * T_ * hs;
    if (i >= n) return;
    int d = (int)(i % hs), t = (int)(i / hs % T_), h = (int)(i / ((size_t)hs * T_) % NH), b = (int)(i / ((size_t)hs * T_ * NH));
    size_t C = (size_t)NH * hs, src = ((size_t)b * T_ + t) * 3 * C + (size_t)h * hs + d;
    q[i] = qkv[src], k[i] = qkv[src + C], v[i] = qkv[src + 2 * C];
}

template <typename T> __global__ void merge_heads_kernel(T *out, const T *o, int B, int T_, int NH, int hs, bool accumulate,
                                                        int stride, int offset) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x, n = (size_t)B * NH * T_ * hs;
    if (i >= n) return;
    int d = (int)(i % hs), t = (int)(i / hs % T_), h = (int)(i / ((size_t)hs * T_) % NH), b = (int)(i / ((size_t)hs * T_ * NH));
    size_t dst = ((size_t)b * T_ + t) * stride + offset + (size_t)h * hs + d;
    out[dst] = accumulate ? fromf<T>(tof(out[dst]) + tof(o[i])) : o[i];
}

/* the heads of dout, gathered like q: dout[B,T,NH,hs] -> [B,NH,T,hs] */
template <typename T> __global__ void gather_heads_kernel(T *dst, const T *src, int B, int T_, int NH, int hs) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x, n = (size_t)B * NH * T_ * hs;
    if (i >= n) return;
    int d = (int)(i % hs), t = (int)(i / hs % T_), h = (int)(i / ((size_t)hs * T_) % NH), b = (int)(i / ((size_t)hs * T_ * NH));
    dst[i] = src[((size_t)b * T_ + t) * NH * hs + (size_t)h * hs + d];
}

/* att row t = softmax(pre[t, 0..t]), zeros after t; a warp per row */
template <typename T> __global__ void causal_softmax_kernel(T *att, const T *pre, int rows, int T_) {
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= rows) return;
    int t = row % T_;
    const T *x = pre + (size_t)row * T_;
    T *y = att + (size_t)row * T_;
    float m = -INFINITY, s = 0;
    for (int u = lane; u <= t; u += 32) lse_merge(m, s, tof(x[u]), 1.0f);
    for (int o = 16; o > 0; o >>= 1) {
        float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
        lse_merge(m, s, m2, s2);
    }
    float inv = 1.0f / s;
    for (int u = lane; u < T_; u += 32) y[u] = fromf<T>(u <= t ? __expf(tof(x[u]) - m) * inv : 0.0f);
}

/* dpre = att * (datt - sum(att * datt)) * scale, in place over datt */
template <typename T> __global__ void causal_softmax_bwd_kernel(T *datt, const T *att, int rows, int T_, float scale) {
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= rows) return;
    int t = row % T_;
    T *d = datt + (size_t)row * T_;
    const T *a = att + (size_t)row * T_;
    float dot = 0;
    for (int u = lane; u <= t; u += 32) dot += tof(a[u]) * tof(d[u]);
    dot = warp_sum(dot);
    for (int u = lane; u < T_; u += 32) d[u] = fromf<T>(u <= t ? tof(a[u]) * (tof(d[u]) - dot) * scale : 0.0f);
}

extern "C" size_t attention_scratch_bytes(DType dt, int B, int T, int C, int NH) {
    (void)NH;
    size_t e = dtype_size(dt), head = (size_t)B * T * C, tt = (size_t)B * NH * T * T;
    return (5 * head + tt) * e + 6 * 256;
}

/* scratch: q, k, v, a, b (each B*NH*T*hs), then s (B*NH*T*T); each 256-aligned */
static void *carve(void *base, size_t *off, size_t bytes) {
    void *p = (char *)base + *off;
    *off += (bytes + 255) / 256 * 256;
    return p;
}

extern "C" void attention_forward_cuda(Gpu *g, DType dt, void *out, void *att, const void *qkv, void *scr,
                                       int B, int T, int C, int NH) {
    if (C % NH) die("attention_forward_cuda: C = %d is not a multiple of NH = %d", C, NH);
    int hs = C / NH, BH = B * NH;
    size_t e = dtype_size(dt), head = (size_t)B * T * C, off = 0;
    void *q = carve(scr, &off, head * e), *k = carve(scr, &off, head * e), *v = carve(scr, &off, head * e);
    void *o = carve(scr, &off, head * e);
    carve(scr, &off, head * e);
    void *pre = carve(scr, &off, (size_t)BH * T * T * e);
    float scale = 1.0f / sqrtf((float)hs);
    DISPATCH(dt, Ty, {
        split_heads_kernel<Ty><<<blocks_for(head, 256), 256, 0, g->stream>>>((Ty *)q, (Ty *)k, (Ty *)v,
                                                                          (const Ty *)qkv, B, T, NH, hs);
        LAUNCH_CHECK("split_heads");
        /* pre = scale q k^T, per head */
        gemm_batched(g, dt, false, true, T, T, hs, scale, q, hs, (long long)T * hs, k, hs, (long long)T * hs, 0.0f,
                     pre, T, (long long)T * T, BH);
        causal_softmax_kernel<Ty><<<blocks_for((size_t)BH * T, 8), 256, 0, g->stream>>>((Ty *)att, (const Ty *)pre, BH * T, T);
        LAUNCH_CHECK("causal_softmax");
        /* o = att v */
        gemm_batched(g, dt, false, false, T, hs, T, 1.0f, att, T, (long long)T * T, v, hs, (long long)T * hs, 0.0f,
                     o, hs, (long long)T * hs, BH);
        merge_heads_kernel<Ty><<<blocks_for(head, 256), 256, 0, g->stream>>>((Ty *)out, (const Ty *)o, B, T, NH, hs,
                                                                          false, C, 0);
        LAUNCH_CHECK("merge_heads");
    })
}

extern "C" void attention_backward_cuda(Gpu *g, DType dt, void *dqkv, const void *dout, const void *qkv,
                                        const void *att, void *scr, int B, int T, int C, int NH) {
    if (C % NH) die("attention_backward_cuda: C = %d is not a multiple of NH = %d", C, NH);
    int hs = C / NH, BH = B * NH;
    size_t e = dtype_size(dt), head = (size_t)B * T * C, off = 0;
    long long sh = (long long)T * hs, st = (long long)T * T;
    void *q = carve(scr, &off, head * e), *k = carve(scr, &off, head * e), *v = carve(scr, &off, head * e);
    void *dO = carve(scr, &off, head * e), *dX = carve(scr, &off, head * e);
    void *ds = carve(scr, &off, (size_t)BH * T * T * e);
    float scale = 1.0f / sqrtf((float)hs);
    DISPATCH(dt, Ty, {
        split_heads_kernel<Ty><<<blocks_for(head, 256), 256, 0, g->stream>>>((Ty *)q, (Ty *)k, (Ty *)v,
                                                                          (const Ty *)qkv, B, T, NH, hs);
        LAUNCH_CHECK("split_heads");
        gather_heads_kernel<Ty><<<blocks_for(head, 256), 256, 0, g->stream>>>((Ty *)dO, (const Ty *)dout, B, T, NH, hs);
        LAUNCH_CHECK("gather_heads");
        /* dv = att^T dO, added into dqkv's v third */
        gemm_batched(g, dt, true, false, T, hs, T, 1.0f, att, T, st, dO, hs, sh, 0.0f, dX, hs, sh, BH);
        merge_heads_kernel<Ty><<<blocks_for(head, 256), 256, 0, g->stream>>>((Ty *)dqkv, (const Ty *)dX, B, T, NH, hs,
                                                                          true, 3 * C, 2 * C);
        LAUNCH_CHECK("merge_heads (dv)");
        /* datt = dO v^T, then through the causal softmax and the scale */
        gemm_batched(g, dt, false, true, T, T, hs, 1.0f, dO, hs, sh, v, hs, sh, 0.0f, ds, T, st, BH);
        causal_softmax_bwd_kernel<Ty><<<blocks_for((size_t)BH * T, 8), 256, 0, g->stream>>>((Ty *)ds, (const Ty *)att,
                                                                                          BH * T, T, scale);
        LAUNCH_CHECK("causal_softmax_backward");
        /* dq = ds k, dk = ds^T q */
        gemm_batched(g, dt, false, false, T, hs, T, 1.0f, ds, T, st, k, hs, sh, 0.0f, dX, hs, sh, BH);
        merge_heads_kernel<Ty><<<blocks_for(head, 256), 256, 0, g->stream>>>((Ty *)dqkv, (const Ty *)dX, B, T, NH, hs,
                                                                          true, 3 * C, 0);
        LAUNCH_CHECK("merge_heads (dq)");
        gemm_batched(g, dt, true, false, T, hs, T, 1.0f, ds, T, st, q, hs, sh, 0.0f, dX, hs, sh, BH);
        merge_heads_kernel<Ty><<<blocks_for(head, 256), 256, 0, g->stream>>>((Ty *)dqkv, (const Ty *)dX, B, T, NH, hs,
                                                                          true, 3 * C, C);
        LAUNCH_CHECK("merge_heads (dk)");
    })
}

/* ---- AdamW and the gradient norm ---------------------------------------------------------------- */

template <typename T> __global__ void adamw_kernel(T *param, float *master, const T *grad, float *m, float *v, size_t n,
                                                  float lr, float b1, float b2, float eps, float wd, float c1, float c2,
                                                  float grad_scale) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= n) return;
    float gr = tof(grad[i]) * grad_scale;
    float mi = b1 * m[i] + (1.0f - b1) * gr, vi = b2 * v[i] + (1.0f - b2) * gr * gr;
    m[i] = mi, v[i] = vi;
    float p = master ? master[i] : tof(param[i]);
    p -= lr * ((mi / c1) / (sqrtf(vi / c2) + eps) + wd * p);
    if (master) master[i] = p;
    param[i] = fromf<T>(p);
}

extern "C" void adamw_update_cuda(Gpu *g, DType dt, void *param, float *master, const void *grad, float *m, float *v,
                                  size_t n, const AdamW *opt, int step, float grad_scale) {
    if (dt == DT_F32 && master) die("adamw_update_cuda: f32 parameters take no master copy");
    if (dt != DT_F32 && !master) die("adamw_update_cuda: %s parameters need f32 master weights", dtype_name(dt));
    if (n == 0) return;
    float c1 = 1.0f - powf(opt->beta1, (float)step), c2 = 1.0f - powf(opt->beta2, (float)step);
    DISPATCH(dt, T, {
        adamw_kernel<T><<<blocks_for(n, 256), 256, 0, g->stream>>>((T *)param, master, (const T *)grad, m, v, n, opt->lr,
                                                                  opt->beta1, opt->beta2, opt->eps, opt->weight_decay,
                                                                  c1, c2, grad_scale);
        LAUNCH_CHECK("adamw");
    })
}

template <typename T> __global__ void sumsq_kernel(double *partials, const T *x, size_t n) {
    constexpr int P = Pack<T>::N;
    float s = 0;
    size_t packs = ((uintptr_t)x % 16) == 0 ? n / P : 0, stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < packs; i += stride) {
        Pack<T> a = load_pack(x + i * P);
#pragma unroll
        for (int k = 0; k < P; k++) s += tof(a.v[k]) * tof(a.v[k]);
    }
    for (size_t i = packs * P + blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += stride) {
        float v = tof(x[i]);
        s += v * v;
    }
    s = block_sum(s);
    if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

__global__ void sum_partials_kernel(double *out, const double *partials, int n) {
    if (threadIdx.x == 0 && blockIdx.x == 0) {
        double s = 0;
        for (int i = 0; i < n; i++) s += partials[i];
        *out = s;
    }
}

extern "C" double grad_norm_squared_cuda(Gpu *g, DType dt, const void *grad, size_t n) {
    int nb = 4 * g->info.sms;
    double *part = (double *)scratch(g, (nb + 1) * sizeof(double)), result = 0;
    DISPATCH(dt, T, {
        sumsq_kernel<T><<<nb, 512, 0, g->stream>>>(part + 1, (const T *)grad, n);
        LAUNCH_CHECK("sumsq");
    })
    sum_partials_kernel<<<1, 32, 0, g->stream>>>(part, part + 1, nb);
    LAUNCH_CHECK("sum_partials");
    gpu_download(g, &result, part, sizeof result);
    return result;
}
