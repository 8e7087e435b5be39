/* gpu_before.cu -- see gpu_before.h.  The kernels are copies of
 * common/gpu.cu at fb06733 (the last commit before the split), with the
 * steps between that and today's kernels as template switches. */
#include "../common/gpu/internal.cuh"

extern "C" {
#include "gpu_before.h"
}

#define GELU_K 0.7978845608028654f

template <bool TANH> __device__ __forceinline__ float gelu_v(float x) {
    if (TANH) return 0.5f * x * (1.0f + tanhf(GELU_K * (x + 0.044715f * x * x * x)));
    float u = GELU_K * x * (1.0f + 0.044715f * x * x);
    return __fdividef(x, 1.0f + __expf(-2.0f * u));
}

template <typename T, bool TANH, int U> __global__ void gelu_variant(T *out, const T *inp, size_t n) {
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
            for (int j = 0; j < P; j++) y.v[j] = fromf<T>(gelu_v<TANH>(tof(x[k].v[j])));
            store_pack(out + p * P, y);
        } else {
            for (size_t i = p * P; i < n; i++) out[i] = fromf<T>(gelu_v<TANH>(tof(inp[i])));
        }
    }
}

template <typename T>
static void gelu_launch(Gpu *g, T *out, const T *inp, size_t n, bool tanhf_form, int packs) {
    unsigned blocks = blocks_for((n + Pack<T>::N - 1) / Pack<T>::N, 256 * packs);
    if (tanhf_form && packs == 1) gelu_variant<T, true, 1><<<blocks, 256, 0, g->stream>>>(out, inp, n);
    else if (tanhf_form) gelu_variant<T, true, 2><<<blocks, 256, 0, g->stream>>>(out, inp, n);
    else if (packs == 1) gelu_variant<T, false, 1><<<blocks, 256, 0, g->stream>>>(out, inp, n);
    else gelu_variant<T, false, 2><<<blocks, 256, 0, g->stream>>>(out, inp, n);
    LAUNCH_CHECK("before_gelu_forward");
}

extern "C" void before_gelu_forward(Gpu *g, DType dt, void *out, const void *inp, size_t n, bool tanhf_form, int packs) {
    DISPATCH(dt, T, gelu_launch<T>(g, (T *)out, (const T *)inp, n, tanhf_form, packs))
}

/* fb06733's merge: two exponentials */
__device__ __forceinline__ void lse_merge2(float &m, float &s, float m2, float s2) {
    float mm = fmaxf(m, m2);
    if (mm == -INFINITY) return;
    s = s * __expf(m - mm) + s2 * __expf(m2 - mm);
    m = mm;
}

template <bool MERGE2> __device__ void block_lse_v(float &m, float &s) {
    __shared__ float pm[32], ps[32];
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nw = blockDim.x / 32;
    for (int o = 16; o > 0; o >>= 1) {
        float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
        if (MERGE2) lse_merge2(m, s, m2, s2); else lse_merge(m, s, m2, s2);
    }
    __syncthreads();
    if (lane == 0) pm[warp] = m, ps[warp] = s;
    __syncthreads();
    m = lane < nw ? pm[lane] : -INFINITY;
    s = lane < nw ? ps[lane] : 0.0f;
    for (int o = 16; o > 0; o >>= 1) {
        float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
        if (MERGE2) lse_merge2(m, s, m2, s2); else lse_merge(m, s, m2, s2);
    }
}

template <typename T, int U, bool MERGE2>
__global__ void xent_fwd_variant(float *losses, float *lse, const T *logits, const int32_t *targets, int V) {
    constexpr int P = Pack<T>::N;
    const T *x = logits + (size_t)blockIdx.x * V;
    float m = -INFINITY, s = 0;
    int np = V / P, stride = blockDim.x;
    for (int p0 = threadIdx.x; p0 < np; p0 += U * stride) {
        Pack<T> a[U];
#pragma unroll
        for (int k = 0; k < U; k++)
            if (p0 + k * stride < np) a[k] = load_pack(x + (size_t)(p0 + k * stride) * P);
#pragma unroll
        for (int k = 0; k < U; k++) {
            if (p0 + k * stride >= np) continue;
            if (MERGE2) {
                float pm = -INFINITY, ps = 0;
#pragma unroll
                for (int j = 0; j < P; j++) pm = fmaxf(pm, tof(a[k].v[j]));
#pragma unroll
                for (int j = 0; j < P; j++) ps += __expf(tof(a[k].v[j]) - pm);
                lse_merge2(m, s, pm, ps);
            } else {
                float pm = tof(a[k].v[0]);
#pragma unroll
                for (int j = 1; j < P; j++) pm = fmaxf(pm, tof(a[k].v[j]));
                if (pm > m) s *= __expf(m - pm), m = pm;
                if (m == -INFINITY) continue;
#pragma unroll
                for (int j = 0; j < P; j++) s += __expf(tof(a[k].v[j]) - m);
            }
        }
    }
    block_lse_v<MERGE2>(m, s);
    if (threadIdx.x == 0) {
        float l = m + logf(s);
        int t = targets[blockIdx.x];
        if (lse) lse[blockIdx.x] = l;
        if (losses) losses[blockIdx.x] = t >= 0 ? l - tof(x[t]) : 0.0f;
    }
}

template <typename T>
static void xent_launch(Gpu *g, float *losses, float *lse, const T *logits, const int32_t *targets, int N, int V,
                        int packs_ahead, bool merge2) {
    if (V % Pack<T>::N || !aligned16(logits)) die("before_cross_entropy_forward: the bench's rows are packed");
    if (packs_ahead == 1 && merge2) xent_fwd_variant<T, 1, true><<<N, 512, 0, g->stream>>>(losses, lse, logits, targets, V);
    else if (packs_ahead == 1) xent_fwd_variant<T, 1, false><<<N, 512, 0, g->stream>>>(losses, lse, logits, targets, V);
    else if (merge2) xent_fwd_variant<T, 4, true><<<N, 512, 0, g->stream>>>(losses, lse, logits, targets, V);
    else xent_fwd_variant<T, 4, false><<<N, 512, 0, g->stream>>>(losses, lse, logits, targets, V);
    LAUNCH_CHECK("before_cross_entropy_forward");
}

extern "C" void before_cross_entropy_forward(Gpu *g, DType dt, float *losses, float *lse, const void *logits,
                                             const int32_t *targets, int N, int V, int packs_ahead, bool merge2) {
    DISPATCH(dt, T, xent_launch<T>(g, losses, lse, (const T *)logits, targets, N, V, packs_ahead, merge2))
}

template <typename T> __global__ void xent_bwd_before(T *dlogits, const T *logits, const float *lse,
                                                     const int32_t *targets, float dloss, int V) {
    size_t off = (size_t)blockIdx.x * V;
    T *dx = dlogits + off;
    const T *x = logits + off;
    float l = lse[blockIdx.x];
    int t = targets[blockIdx.x];
    bool overwrite = (const void *)dlogits == (const void *)logits;
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
}

extern "C" void before_cross_entropy_backward(Gpu *g, DType dt, void *dlogits, const void *logits, const float *lse,
                                              const int32_t *targets, float dloss, int N, int V) {
    DISPATCH(dt, T, {
        xent_bwd_before<T><<<N, 512, 0, g->stream>>>((T *)dlogits, (const T *)logits, lse, targets, dloss, V);
        LAUNCH_CHECK("before_cross_entropy_backward");
    })
}

__device__ __forceinline__ void atomic_add_t(float *p, float v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_add_t(bf16 *p, float v) { atomicAdd(p, __float2bfloat16_rn(v)); }
__device__ __forceinline__ void atomic_add_t(f16 *p, float v) { atomicAdd(p, __float2half_rn(v)); }

template <typename T> __global__ void embedding_bwd_atomic(T *dwte, T *dwpe, const T *dout, const int32_t *tokens,
                                                          int BT, int T_, int C) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= (size_t)BT * C) return;
    int row = (int)(i / C), c = (int)(i % C);
    float d = tof(dout[i]);
    if (dwte) atomic_add_t(&dwte[(size_t)tokens[row] * C + c], d);
    if (dwpe) atomic_add_t(&dwpe[(size_t)(row % T_) * C + c], d);
}

extern "C" void before_embedding_backward(Gpu *g, DType dt, void *dwte, void *dwpe, const void *dout,
                                          const int32_t *tokens, int B, int T, int C) {
    size_t n = (size_t)B * T * C;
    DISPATCH(dt, Ty, {
        embedding_bwd_atomic<Ty><<<blocks_for(n, 256), 256, 0, g->stream>>>((Ty *)dwte, (Ty *)dwpe, (const Ty *)dout,
                                                                          tokens, B * T, T, C);
        LAUNCH_CHECK("before_embedding_backward");
    })
}
