/* softmax.cu -- softmax and cross-entropy over rows of V values: a block per
 * row, the log-sum-exp taken online (a running maximum and a sum of
 * exponentials) and merged across the block.  See gpu.h. */
#include "internal.cuh"

#define ROW_THREADS 512

/* Packs a thread loads before it uses any of them in the row loops below.
 * One: four (64 bytes in flight per thread) was tried on an H200 for the
 * cross-entropy forward, which reaches only about 80% of the copy there,
 * and made it slower (72%) and the backward much slower (97% -> 77%): the
 * registers it takes cost blocks per multiprocessor, and the forward in
 * bf16 is not short of bytes in flight but of instructions (in f32, the
 * same loop reads at 110% of the copy).  bench/gpu-notes.md has the numbers. */
#define ROW_U 1

/* Fold one pack into this thread's (m, s): the running maximum moves only
 * when the pack holds a larger value (rarely, after the first few), so each
 * value costs one exponential. */
template <typename T> __device__ __forceinline__ void lse_pack(const Pack<T> &a, float &m, float &s) {
    float pm = tof(a.v[0]);
#pragma unroll
    for (int k = 1; k < Pack<T>::N; k++) pm = fmaxf(pm, tof(a.v[k]));
    if (pm > m) s *= __expf(m - pm), m = pm;  /* m = -inf: s is 0 */
    if (m == -INFINITY) return;               /* nothing but -inf so far */
#pragma unroll
    for (int k = 0; k < Pack<T>::N; k++) s += __expf(tof(a.v[k]) - m);
}

template <typename T> __device__ __forceinline__ bool row_vec(const T *x, int V) {
    return V % Pack<T>::N == 0 && ((uintptr_t)x % 16) == 0;
}

/* (m, s) over row x[0..V), merged across the block: every thread gets it */
template <typename T> __device__ void row_lse(const T *x, int V, float &m, float &s) {
    constexpr int P = Pack<T>::N;
    m = -INFINITY, s = 0;
    if (row_vec(x, V)) {
        int np = V / P, stride = blockDim.x;
        for (int p0 = threadIdx.x; p0 < np; p0 += ROW_U * stride) {
            Pack<T> a[ROW_U];
#pragma unroll
            for (int k = 0; k < ROW_U; k++)
                if (p0 + k * stride < np) a[k] = load_pack(x + (size_t)(p0 + k * stride) * P);
#pragma unroll
            for (int k = 0; k < ROW_U; k++)
                if (p0 + k * stride < np) lse_pack(a[k], m, s);
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
    if (row_vec(x, V) && ((uintptr_t)y % 16) == 0) {
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
    Pack<T> a[K];
    float m = -INFINITY, s = 0;
#pragma unroll
    for (int k = 0; k < K; k++) {
        int p = threadIdx.x + k * blockDim.x;
        if (p < np) a[k] = load_pack(x + (size_t)p * P);
    }
#pragma unroll
    for (int k = 0; k < K; k++)
        if (threadIdx.x + k * blockDim.x < np) lse_pack(a[k], m, s);
    block_lse(m, s);
    float inv = 1.0f / s;
#pragma unroll
    for (int k = 0; k < K; k++) {
        int p = threadIdx.x + k * blockDim.x;
        if (p < np) {
            Pack<T> o;
#pragma unroll
            for (int j = 0; j < P; j++) o.v[j] = fromf<T>(__expf(tof(a[k].v[j]) - m) * inv);
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

/* the gradient of one pack starting at column c0 */
template <typename T> __device__ __forceinline__ Pack<T> xent_grad_pack(const Pack<T> &x, const Pack<T> &acc, int c0,
                                                                        float l, int t, float dloss, bool overwrite) {
    Pack<T> o;
#pragma unroll
    for (int k = 0; k < Pack<T>::N; k++) {
        float gr = t < 0 ? 0.0f : dloss * (__expf(tof(x.v[k]) - l) - (c0 + k == t ? 1.0f : 0.0f));
        o.v[k] = fromf<T>(overwrite ? gr : tof(acc.v[k]) + gr);
    }
    return o;
}

/* The gradient of one row: overwrite (in place, or fused) or accumulate.
 * Each thread loads its ROW_U packs (and, accumulating, the gradient's)
 * before it stores any: in place, a thread reads and writes only its own
 * packs, so this is right when dx is x. */
template <typename T> __device__ void xent_grad_row(T *dx, const T *x, float l, int t, float dloss, int V, bool overwrite) {
    constexpr int P = Pack<T>::N;
    if (row_vec(x, V) && ((uintptr_t)dx % 16) == 0) {
        int np = V / P, stride = blockDim.x;
        for (int p0 = threadIdx.x; p0 < np; p0 += ROW_U * stride) {
            Pack<T> a[ROW_U], o[ROW_U];
#pragma unroll
            for (int k = 0; k < ROW_U; k++) {
                int p = p0 + k * stride;
                if (p < np) {
                    a[k] = load_pack(x + (size_t)p * P);
                    if (!overwrite) o[k] = load_pack(dx + (size_t)p * P);
                }
            }
#pragma unroll
            for (int k = 0; k < ROW_U; k++) {
                int p = p0 + k * stride;
                if (p < np) store_pack(dx + (size_t)p * P, xent_grad_pack(a[k], o[k], p * P, l, t, dloss, overwrite));
            }
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
    int np = V / P, stride = blockDim.x;
    for (int p0 = threadIdx.x; p0 < np; p0 += ROW_U * stride) {
        Pack<T> a[ROW_U];
#pragma unroll
        for (int k = 0; k < ROW_U; k++)
            if (p0 + k * stride < np) a[k] = load_pack(x + (size_t)(p0 + k * stride) * P);
#pragma unroll
        for (int k = 0; k < ROW_U; k++)
            if (p0 + k * stride < np) store_pack(row + (size_t)(p0 + k * stride) * P, a[k]), lse_pack(a[k], m, s);
    }
    block_lse(m, s);  /* its barriers also make the staged row visible to every thread */
    float l = m + logf(s);
    int t = targets[blockIdx.x];
    if (threadIdx.x == 0 && losses) losses[blockIdx.x] = t >= 0 ? l - tof(row[t]) : 0.0f;
    for (int c0 = threadIdx.x * P; c0 < V; c0 += blockDim.x * P)
        store_pack(x + c0, xent_grad_pack(load_pack(row + c0), Pack<T>(), c0, l, t, dloss, true));
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
