/* norms.cu -- layer norm and RMS norm, forward and backward: a warp per row,
 * the weight gradients summed per block and then across blocks in a fixed
 * order.  See gpu.h. */
#include "internal.cuh"

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

