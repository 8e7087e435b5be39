/* gemm.cu -- matrix products through cuBLAS (gemm_cuda, row-major, f32
 * accumulation), the linear layer with its bias in cuBLASLt's epilogue, and
 * the deterministic column sums of its bias gradient.  See gpu.h. */
#include "internal.cuh"

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
void gemm_batched(Gpu *g, DType dt, bool ta, bool tb, int M, int N, int K, float alpha,
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

/* One cuBLASLt product with an epilogue, column-major D[m, n] = op(A) op(B)
 * (+ beta C) with the epilogue's extras: A stored k x m (opA T) or m x k
 * (opA N), B n x k (opB T) or k x n (opB N), C and D m x n, all packed
 * (leading dimension the row count).  bias: [m] (the BIAS epilogues), or
 * the bias gradient [n] that BGRADB writes; aux: m x n, leading dimension
 * m, GELU's input (written by GELU_AUX_BIAS, read by DGELU); res: C for
 * beta = 1 (NULL: beta = 0; D itself: D accumulates).  Returns false when cuBLASLt has no algorithm
 * for the request (odd sizes, an aux leading dimension that is no multiple
 * of 8, a misaligned pointer), and the caller falls back to separate
 * kernels. */
typedef struct {
    cublasLtEpilogue_t epi;
    const void *bias;
    void *aux;
    const void *res;
} LtEpilogue;

static bool lt_matmul(Gpu *g, DType dt, bool ta, bool tb, int m, int n, int k, const void *A, const void *B, void *D,
                      const LtEpilogue *e) {
    if (e->aux && (m % 8 != 0 || !aligned16(e->aux))) return false;
    cudaDataType_t t = cuda_type(dt);
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulPreference_t pref;
    cublasOperation_t opA = ta ? CUBLAS_OP_T : CUBLAS_OP_N, opB = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    size_t ws = LT_WORKSPACE;
    CUBLAS_CHECK(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &opA, sizeof opA));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &opB, sizeof opB));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &e->epi, sizeof e->epi));
    if (e->bias) CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &e->bias, sizeof e->bias));
    if (e->aux) {
        int64_t ld = m;
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &e->aux, sizeof e->aux));
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &ld, sizeof ld));
    }
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&la, t, ta ? k : m, ta ? m : k, ta ? k : m));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&lb, t, tb ? n : k, tb ? k : n, tb ? n : k));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&lc, t, m, n, m));
    CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
    cublasLtMatmulHeuristicResult_t heur;
    int found = 0;
    cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(g->lt, desc, la, lb, lc, lc, pref, 1, &heur, &found);
    bool ok = st == CUBLAS_STATUS_SUCCESS && found > 0;
    if (ok) {
        float alpha = 1.0f, beta = e->res ? 1.0f : 0.0f;
        const void *C = e->res ? e->res : D;
        CUBLAS_CHECK(cublasLtMatmul(g->lt, desc, &alpha, A, la, B, lb, &beta, C, lc, D, lc, &heur.algo,
                                    g->lt_workspace, LT_WORKSPACE, g->stream));
    }
    CUBLAS_CHECK(cublasLtMatmulPreferenceDestroy(pref));
    CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(la));
    CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(lb));
    CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(lc));
    CUBLAS_CHECK(cublasLtMatmulDescDestroy(desc));
    return ok;
}

/* out = inp weight^T + bias in one cuBLASLt call, the bias added in the
 * GEMM's epilogue (no second pass over out).  Column-major, that is
 * out^T[OC, N] = weight[OC, C] inp^T[C, N]: A = weight stored as a
 * column-major C x OC matrix, transposed; B = inp as C x N.  Returns false
 * when cuBLASLt has no algorithm for the shape (odd sizes), and the caller
 * falls back to a GEMM and a bias kernel. */
static bool lt_linear(Gpu *g, DType dt, void *out, const void *inp, const void *weight, const void *bias, int N, int C,
                      int OC) {
    LtEpilogue e = {CUBLASLT_EPILOGUE_BIAS, bias, NULL, NULL};
    return lt_matmul(g, dt, true, false, OC, N, C, weight, inp, out, &e);
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


/* ---- Fused linear layers (cuBLASLt epilogues) ------------------------------------ */

static size_t fused_fallbacks;   /* calls that cuBLASLt refused (linear_fused_fallbacks) */

extern "C" size_t linear_fused_fallbacks(void) { return fused_fallbacks; }

extern "C" void linear_gelu_forward_cuda(Gpu *g, DType dt, void *out, void *pre, const void *inp, const void *weight,
                                         const void *bias, int N, int C, int OC) {
    if (N <= 0 || OC <= 0) return;
    LtEpilogue e = {bias ? CUBLASLT_EPILOGUE_GELU_AUX_BIAS : CUBLASLT_EPILOGUE_GELU_AUX, bias, pre, NULL};
    if (C > 0 && lt_matmul(g, dt, true, false, OC, N, C, weight, inp, out, &e)) return;
    fused_fallbacks++;
    linear_forward_cuda(g, dt, pre, inp, weight, bias, N, C, OC);
    gelu_forward_cuda(g, dt, out, pre, (size_t)N * OC);
}

extern "C" void linear_dgelu_backward_cuda(Gpu *g, DType dt, void *dinp, const void *dout, const void *weight,
                                           const void *pre, int N, int C, int OC) {
    if (N <= 0 || C <= 0) return;
    /* dinp^T[C, N] = weight^T (weight [OC, C] row-major: column-major C x OC, not transposed) dout^T[OC, N] */
    LtEpilogue e = {CUBLASLT_EPILOGUE_DGELU, NULL, (void *)pre, NULL};
    if (OC > 0 && lt_matmul(g, dt, false, false, C, N, OC, weight, dout, dinp, &e)) return;
    fused_fallbacks++;
    gemm_cuda(g, dt, false, false, N, C, OC, 1.0f, dout, OC, weight, C, 0.0f, dinp, C);
    gelu_backward_set_cuda(g, dt, dinp, dinp, pre, (size_t)N * C);
}

extern "C" void linear_residual_forward_cuda(Gpu *g, DType dt, void *out, const void *inp, const void *weight,
                                             const void *bias, const void *res, int N, int C, int OC) {
    if (N <= 0 || OC <= 0) return;
    LtEpilogue e = {bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT, bias, NULL, res};
    if (out == res) die("linear_residual_forward_cuda: out must not be res (the product is added to a copy)");
    if (C > 0 && lt_matmul(g, dt, true, false, OC, N, C, weight, inp, out, &e)) return;
    fused_fallbacks++;
    linear_forward_cuda(g, dt, out, inp, weight, bias, N, C, OC);
    residual_forward_cuda(g, dt, out, res, out, (size_t)N * OC);
}

extern "C" void linear_backward_weight_bgrad_cuda(Gpu *g, DType dt, void *dweight, void *dbias, const void *dout,
                                                  const void *inp, int N, int C, int OC) {
    if (OC <= 0 || C <= 0 || N <= 0) return;
    /* dweight^T[C, OC] += inp^T[C, N] dout[N, OC]: A = inp (column-major C x N), B = dout (column-major OC x N,
     * transposed); BGRADB sums B over k = N: the column sums of dout, into scratch, then added to dbias */
    size_t e = dtype_size(dt);
    void *tmp = dbias ? scratch(g, ((size_t)OC * e + 255) / 256 * 256) : NULL;
    LtEpilogue ep = {dbias ? CUBLASLT_EPILOGUE_BGRADB : CUBLASLT_EPILOGUE_DEFAULT, tmp, NULL, dweight};
    if (lt_matmul(g, dt, false, true, C, OC, N, inp, dout, dweight, &ep)) {
        if (dbias) residual_backward_cuda(g, dt, dbias, NULL, tmp, (size_t)OC);
        return;
    }
    fused_fallbacks++;
    linear_backward_cuda(g, dt, NULL, dweight, dbias, dout, inp, NULL, N, C, OC);
}
