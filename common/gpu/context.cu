/* context.cu -- the Gpu (stream, cuBLAS handles, scratch), device memory and
 * arenas, copies, dtype conversions, event timers.  See gpu.h. */
#include "internal.cuh"

void *scratch(Gpu *g, size_t bytes) {
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
        die("--device cuda: no usable CUDA GPU here (CUDA says: %s); --device cpu runs what does not need the GPU",
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

extern "C" void gpu_memory_info(Gpu *g, size_t *free_bytes, size_t *total_bytes) {
    CUDA_CHECK(cudaSetDevice(g->device));
    CUDA_CHECK(cudaMemGetInfo(free_bytes, total_bytes));
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
