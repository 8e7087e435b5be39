/* gpu_none.c -- gpu.h for a build without CUDA (no nvcc found, or the
 * AddressSanitizer build of the tests): gpu_available() says no, and every
 * function that would need a GPU ends the program with one line saying why. */
#include "gpu.h"
#include "util.h"

#define NO_CUDA die("--device cuda: this program was built without CUDA (nvcc was not found when it was built)")

bool gpu_available(void) { return false; }
Gpu *gpu_open(int device) { (void)device; NO_CUDA; }
void gpu_close(Gpu *g) { (void)g; }
GpuInfo gpu_info(const Gpu *g) { (void)g; NO_CUDA; }
void gpu_sync(Gpu *g) { (void)g; NO_CUDA; }
Arena *gpu_arena_new(Gpu *g, const char *name, size_t capacity) { (void)g, (void)name, (void)capacity; NO_CUDA; }
void gpu_arena_free(Arena *a) { (void)a; NO_CUDA; }
void *gpu_malloc(size_t bytes) { (void)bytes; NO_CUDA; }
void *gpu_try_malloc(size_t bytes) { (void)bytes; NO_CUDA; }
void gpu_free(void *p) { (void)p; NO_CUDA; }
GpuTimer *gpu_timer_new(Gpu *g) { (void)g; NO_CUDA; }
void gpu_upload(Gpu *g, void *dst, const void *src, size_t bytes) {
    (void)g; (void)dst; (void)src; (void)bytes;
    NO_CUDA;
}
void gpu_download(Gpu *g, void *dst, const void *src, size_t bytes) {
    (void)g; (void)dst; (void)src; (void)bytes;
    NO_CUDA;
}
void gpu_copy(Gpu *g, void *dst, const void *src, size_t bytes) {
    (void)g; (void)dst; (void)src; (void)bytes;
    NO_CUDA;
}
void gpu_zero(Gpu *g, void *dst, size_t bytes) {
    (void)g; (void)dst; (void)bytes;
    NO_CUDA;
}
void gpu_convert(Gpu *g, DType dst_dt, void *dst, DType src_dt, const void *src, size_t n) {
    (void)g; (void)dst_dt; (void)dst; (void)src_dt; (void)src; (void)n;
    NO_CUDA;
}
void gpu_upload_f32(Gpu *g, DType dt, void *dst, const float *src, size_t n) {
    (void)g; (void)dt; (void)dst; (void)src; (void)n;
    NO_CUDA;
}
void gpu_download_f32(Gpu *g, DType dt, float *dst, const void *src, size_t n) {
    (void)g; (void)dt; (void)dst; (void)src; (void)n;
    NO_CUDA;
}
void gpu_timer_free(GpuTimer *t) {
    (void)t;
    NO_CUDA;
}
void gpu_timer_start(GpuTimer *t) {
    (void)t;
    NO_CUDA;
}
float gpu_timer_stop(GpuTimer *t) {
    (void)t;
    NO_CUDA;
}
void gemm_cuda(Gpu *g, DType dt, bool trans_a, bool trans_b, int M, int N, int K, float alpha, const void *A, int lda, const void *B, int ldb, float beta, void *C, int ldc) {
    (void)g; (void)dt; (void)trans_a; (void)trans_b; (void)M; (void)N; (void)K; (void)alpha; (void)A; (void)lda; (void)B; (void)ldb; (void)beta; (void)C; (void)ldc;
    NO_CUDA;
}
void linear_forward_cuda(Gpu *g, DType dt, void *out, const void *inp, const void *weight, const void *bias, int N, int C, int OC) {
    (void)g; (void)dt; (void)out; (void)inp; (void)weight; (void)bias; (void)N; (void)C; (void)OC;
    NO_CUDA;
}
void linear_backward_cuda(Gpu *g, DType dt, void *dinp, void *dweight, void *dbias, const void *dout, const void *inp, const void *weight, int N, int C, int OC) {
    (void)g; (void)dt; (void)dinp; (void)dweight; (void)dbias; (void)dout; (void)inp; (void)weight; (void)N; (void)C; (void)OC;
    NO_CUDA;
}
void embedding_forward_cuda(Gpu *g, DType dt, void *out, const int32_t *tokens, const void *wte, const void *wpe, int B, int T, int C) {
    (void)g; (void)dt; (void)out; (void)tokens; (void)wte; (void)wpe; (void)B; (void)T; (void)C;
    NO_CUDA;
}
void embedding_backward_cuda(Gpu *g, DType dt, void *dwte, void *dwpe, const void *dout, const int32_t *tokens, int B, int T, int C) {
    (void)g; (void)dt; (void)dwte; (void)dwpe; (void)dout; (void)tokens; (void)B; (void)T; (void)C;
    NO_CUDA;
}
void layernorm_forward_cuda(Gpu *g, DType dt, void *out, float *mean, float *rstd, const void *inp, const void *weight, const void *bias, int N, int C) {
    (void)g; (void)dt; (void)out; (void)mean; (void)rstd; (void)inp; (void)weight; (void)bias; (void)N; (void)C;
    NO_CUDA;
}
void layernorm_backward_cuda(Gpu *g, DType dt, void *dinp, void *dweight, void *dbias, const void *dout, const void *inp, const void *weight, const float *mean, const float *rstd, int N, int C) {
    (void)g; (void)dt; (void)dinp; (void)dweight; (void)dbias; (void)dout; (void)inp; (void)weight; (void)mean; (void)rstd; (void)N; (void)C;
    NO_CUDA;
}
void rmsnorm_forward_cuda(Gpu *g, DType dt, void *out, float *rrms, const void *inp, const void *weight, int N, int C) {
    (void)g; (void)dt; (void)out; (void)rrms; (void)inp; (void)weight; (void)N; (void)C;
    NO_CUDA;
}
void rmsnorm_backward_cuda(Gpu *g, DType dt, void *dinp, void *dweight, const void *dout, const void *inp, const void *weight, const float *rrms, int N, int C) {
    (void)g; (void)dt; (void)dinp; (void)dweight; (void)dout; (void)inp; (void)weight; (void)rrms; (void)N; (void)C;
    NO_CUDA;
}
void gelu_forward_cuda(Gpu *g, DType dt, void *out, const void *inp, size_t n) {
    (void)g; (void)dt; (void)out; (void)inp; (void)n;
    NO_CUDA;
}
void gelu_backward_cuda(Gpu *g, DType dt, void *dinp, const void *dout, const void *inp, size_t n) {
    (void)g; (void)dt; (void)dinp; (void)dout; (void)inp; (void)n;
    NO_CUDA;
}
void swiglu_forward_cuda(Gpu *g, DType dt, void *out, const void *inp, int N, int H) {
    (void)g; (void)dt; (void)out; (void)inp; (void)N; (void)H;
    NO_CUDA;
}
void swiglu_backward_cuda(Gpu *g, DType dt, void *dinp, const void *dout, const void *inp, int N, int H) {
    (void)g; (void)dt; (void)dinp; (void)dout; (void)inp; (void)N; (void)H;
    NO_CUDA;
}
void residual_forward_cuda(Gpu *g, DType dt, void *out, const void *a, const void *b, size_t n) {
    (void)g; (void)dt; (void)out; (void)a; (void)b; (void)n;
    NO_CUDA;
}
void residual_backward_cuda(Gpu *g, DType dt, void *da, void *db, const void *dout, size_t n) {
    (void)g; (void)dt; (void)da; (void)db; (void)dout; (void)n;
    NO_CUDA;
}
void softmax_forward_cuda(Gpu *g, DType dt, void *out, const void *inp, int N, int V) {
    (void)g; (void)dt; (void)out; (void)inp; (void)N; (void)V;
    NO_CUDA;
}
void softmax_backward_cuda(Gpu *g, DType dt, void *dinp, const void *dout, const void *out, int N, int V) {
    (void)g; (void)dt; (void)dinp; (void)dout; (void)out; (void)N; (void)V;
    NO_CUDA;
}
void cross_entropy_forward_cuda(Gpu *g, DType dt, float *losses, float *lse, const void *logits, const int32_t *targets, int N, int V) {
    (void)g; (void)dt; (void)losses; (void)lse; (void)logits; (void)targets; (void)N; (void)V;
    NO_CUDA;
}
void cross_entropy_backward_cuda(Gpu *g, DType dt, void *dlogits, const void *logits, const float *lse, const int32_t *targets, float dloss, int N, int V) {
    (void)g; (void)dt; (void)dlogits; (void)logits; (void)lse; (void)targets; (void)dloss; (void)N; (void)V;
    NO_CUDA;
}
void cross_entropy_fused_cuda(Gpu *g, DType dt, float *losses, void *logits, const int32_t *targets, float dloss, int N, int V) {
    (void)g; (void)dt; (void)losses; (void)logits; (void)targets; (void)dloss; (void)N; (void)V;
    NO_CUDA;
}
size_t attention_scratch_bytes(DType dt, int B, int T, int C, int NH) {
    (void)dt; (void)B; (void)T; (void)C; (void)NH;
    NO_CUDA;
}
void attention_forward_cuda(Gpu *g, DType dt, void *out, void *att, const void *qkv, void *scratch, int B, int T, int C, int NH) {
    (void)g; (void)dt; (void)out; (void)att; (void)qkv; (void)scratch; (void)B; (void)T; (void)C; (void)NH;
    NO_CUDA;
}
void attention_backward_cuda(Gpu *g, DType dt, void *dqkv, const void *dout, const void *qkv, const void *att, void *scratch, int B, int T, int C, int NH) {
    (void)g; (void)dt; (void)dqkv; (void)dout; (void)qkv; (void)att; (void)scratch; (void)B; (void)T; (void)C; (void)NH;
    NO_CUDA;
}
void adamw_update_cuda(Gpu *g, DType dt, void *param, float *master, const void *grad, float *m, float *v, size_t n, const AdamW *opt, int step, float grad_scale) {
    (void)g; (void)dt; (void)param; (void)master; (void)grad; (void)m; (void)v; (void)n; (void)opt; (void)step; (void)grad_scale;
    NO_CUDA;
}
double grad_norm_squared_cuda(Gpu *g, DType dt, const void *grad, size_t n) {
    (void)g; (void)dt; (void)grad; (void)n;
    NO_CUDA;
}
