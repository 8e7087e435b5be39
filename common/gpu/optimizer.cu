/* optimizer.cu -- the fused AdamW step (f32 master weights for 16-bit
 * parameters), the RMSprop step, y = a x + b y (the linear steps of SGD,
 * momentum, Nesterov and Muon, chapter 5) and the deterministic squared
 * gradient norm.  See gpu.h. */
#include "internal.cuh"

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

__global__ void rmsprop_kernel(float *param, const float *grad, float *v, size_t n, float lr, float rho, float eps) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= n) return;
    float g = grad[i], vi = rho * v[i] + (1.0f - rho) * g * g;
    v[i] = vi;
    param[i] -= lr * g / (sqrtf(vi) + eps);
}

extern "C" void rmsprop_update_cuda(Gpu *g, float *param, const float *grad, float *v, size_t n, float lr, float rho,
                                    float eps) {
    if (n == 0) return;
    rmsprop_kernel<<<blocks_for(n, 256), 256, 0, g->stream>>>(param, grad, v, n, lr, rho, eps);
    LAUNCH_CHECK("rmsprop");
}

__global__ void axpby_kernel(size_t n, float a, const float *x, float b, float *y) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) y[i] = a * x[i] + b * y[i];
}

extern "C" void axpby_cuda(Gpu *g, size_t n, float a, const float *x, float b, float *y) {
    if (n == 0) return;
    axpby_kernel<<<blocks_for(n, 256), 256, 0, g->stream>>>(n, a, x, b, y);
    LAUNCH_CHECK("axpby");
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
