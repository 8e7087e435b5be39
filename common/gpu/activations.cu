/* activations.cu -- GELU, SwiGLU and the residual add, forward and backward:
 * elementwise, 16 bytes per access.  See gpu.h. */
#include "internal.cuh"

/* GELU, the tanh form: gelu(x) = x/2 (1 + tanh u), u = sqrt(2/pi) (x + 0.044715 x^3).
 * Since (1 + tanh u)/2 = 1/(1 + e^{-2u}) = s, the logistic function of 2u,
 *     gelu(x) = x s,    gelu'(x) = s + 2 x s (1 - s) u',    1 - s = e^{-2u} s,
 * which costs one exponential and one reciprocal (the multiprocessor's fast
 * ex2 and rcp, relative error about 1e-7) per value, where tanhf costs two
 * dozen instructions: on an H200 that arithmetic, not memory, set the pace
 * (bench/gpu-notes.md).  1 - s is computed as e s, without cancellation. */
#define GELU_K 0.7978845608028654f
#define GELU_C 0.044715f

__device__ __forceinline__ float gelu_f(float x) {
    float u = GELU_K * x * (1.0f + GELU_C * x * x);
    return __fdividef(x, 1.0f + __expf(-2.0f * u));
}
__device__ __forceinline__ float gelu_grad(float x) {
    float u = GELU_K * x * (1.0f + GELU_C * x * x), du = GELU_K * (1.0f + 3.0f * GELU_C * x * x);
    float e = __expf(-2.0f * u), s = __fdividef(1.0f, 1.0f + e);
    return isinf(e) ? 0.0f : s + 2.0f * x * (e * s) * s * du;
}

/* U packs per thread, a block's packs contiguous (thread t takes packs t,
 * t + blockDim, ...): every load of a thread is issued before the first
 * value is used, so U times 16 bytes per input are in flight per thread.
 * The pack that holds the tail is finished element by element. */
#define GELU_U 2

template <typename T, int U> __global__ void gelu_fwd_kernel(T *out, const T *inp, size_t n) {
    constexpr int P = Pack<T>::N;
    size_t p0 = (size_t)blockIdx.x * U * blockDim.x + threadIdx.x;
    Pack<T> x[U];
#pragma unroll
    for (int k = 0; k < U; k++) {
        size_t p = p0 + (size_t)k * blockDim.x;
        if ((p + 1) * P <= n) x[k] = load_pack(inp + p * P);
    }
#pragma unroll
    for (int k = 0; k < U; k++) {
        size_t p = p0 + (size_t)k * blockDim.x;
        if ((p + 1) * P <= n) {
            Pack<T> y;
#pragma unroll
            for (int j = 0; j < P; j++) y.v[j] = fromf<T>(gelu_f(tof(x[k].v[j])));
            store_pack(out + p * P, y);
        } else {
            for (size_t i = p * P; i < n; i++) out[i] = fromf<T>(gelu_f(tof(inp[i])));
        }
    }
}

template <typename T, int U> __global__ void gelu_bwd_kernel(T *dinp, const T *dout, const T *inp, size_t n) {
    constexpr int P = Pack<T>::N;
    size_t p0 = (size_t)blockIdx.x * U * blockDim.x + threadIdx.x;
    Pack<T> x[U], d[U], acc[U];
#pragma unroll
    for (int k = 0; k < U; k++) {
        size_t p = p0 + (size_t)k * blockDim.x;
        if ((p + 1) * P <= n) x[k] = load_pack(inp + p * P), d[k] = load_pack(dout + p * P), acc[k] = load_pack(dinp + p * P);
    }
#pragma unroll
    for (int k = 0; k < U; k++) {
        size_t p = p0 + (size_t)k * blockDim.x;
        if ((p + 1) * P <= n) {
#pragma unroll
            for (int j = 0; j < P; j++)
                acc[k].v[j] = fromf<T>(tof(acc[k].v[j]) + gelu_grad(tof(x[k].v[j])) * tof(d[k].v[j]));
            store_pack(dinp + p * P, acc[k]);
        } else {
            for (size_t i = p * P; i < n; i++) dinp[i] = fromf<T>(tof(dinp[i]) + gelu_grad(tof(inp[i])) * tof(dout[i]));
        }
    }
}

/* The same with dinp OVERWRITTEN (dinp = gelu'(inp) dout): no zeroed buffer
 * to add into, one stream fewer; dinp may be dout (in place). */
template <typename T, int U> __global__ void gelu_bwd_set_kernel(T *dinp, const T *dout, const T *inp, size_t n) {
    constexpr int P = Pack<T>::N;
    size_t p0 = (size_t)blockIdx.x * U * blockDim.x + threadIdx.x;
    Pack<T> x[U], d[U];
#pragma unroll
    for (int k = 0; k < U; k++) {
        size_t p = p0 + (size_t)k * blockDim.x;
        if ((p + 1) * P <= n) x[k] = load_pack(inp + p * P), d[k] = load_pack(dout + p * P);
    }
#pragma unroll
    for (int k = 0; k < U; k++) {
        size_t p = p0 + (size_t)k * blockDim.x;
        if ((p + 1) * P <= n) {
#pragma unroll
            for (int j = 0; j < P; j++) d[k].v[j] = fromf<T>(gelu_grad(tof(x[k].v[j])) * tof(d[k].v[j]));
            store_pack(dinp + p * P, d[k]);
        } else {
            for (size_t i = p * P; i < n; i++) dinp[i] = fromf<T>(gelu_grad(tof(inp[i])) * tof(dout[i]));
        }
    }
}

/* One pack per thread; the thread holding the tail finishes it one by one. */
template <typename T, typename Full, typename Scalar>
__device__ __forceinline__ void packed_map(size_t n, Full full, Scalar scalar) {
    size_t i0 = (blockIdx.x * (size_t)blockDim.x + threadIdx.x) * Pack<T>::N;
    if (i0 + Pack<T>::N <= n) full(i0);
    else
        for (size_t i = i0; i < n; i++) scalar(i);
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

/* the same for kernels that take U packs per thread */
#define LAUNCH_PACKED_U(kernel, T, U, n, ...)                                                       \
    do {                                                                                            \
        size_t packs_ = ((n) + Pack<T>::N - 1) / Pack<T>::N;                                         \
        if (packs_) kernel<T, U><<<blocks_for(packs_, 256 * (U)), 256, 0, g->stream>>>(__VA_ARGS__); \
        LAUNCH_CHECK(#kernel);                                                                      \
    } while (0)

extern "C" void gelu_forward_cuda(Gpu *g, DType dt, void *out, const void *inp, size_t n) {
    check_aligned(out, __func__), check_aligned(inp, __func__);
    DISPATCH(dt, T, LAUNCH_PACKED_U(gelu_fwd_kernel, T, GELU_U, n, (T *)out, (const T *)inp, n))
}

extern "C" void gelu_backward_cuda(Gpu *g, DType dt, void *dinp, const void *dout, const void *inp, size_t n) {
    check_aligned(dinp, __func__), check_aligned(dout, __func__), check_aligned(inp, __func__);
    DISPATCH(dt, T, LAUNCH_PACKED_U(gelu_bwd_kernel, T, GELU_U, n, (T *)dinp, (const T *)dout, (const T *)inp, n))
}

extern "C" void gelu_backward_set_cuda(Gpu *g, DType dt, void *dinp, const void *dout, const void *inp, size_t n) {
    check_aligned(dinp, __func__), check_aligned(dout, __func__), check_aligned(inp, __func__);
    DISPATCH(dt, T, LAUNCH_PACKED_U(gelu_bwd_set_kernel, T, GELU_U, n, (T *)dinp, (const T *)dout, (const T *)inp, n))
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

