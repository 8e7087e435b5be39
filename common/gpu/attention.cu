/* attention.cu -- causal multi-head attention the plain way: heads gathered,
 * batched GEMMs around a causal softmax that writes the T x T probabilities.
 * Chapter 12 replaces it with a fused (flash) version.  See gpu.h. */
#include "internal.cuh"

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

