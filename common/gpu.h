/* gpu.h -- the GPU half of the runtime: a context, device memory with byte
 * accounting, copies and conversions, event timing, and the layers of nn.h
 * as CUDA kernels with the same arguments.
 *
 * Context.  gpu_open(device) returns a Gpu: one CUDA stream, one cuBLAS
 * handle, and a small scratch buffer for reductions.  Every function below
 * takes it first and runs on its stream, in order; nothing here is global.
 * Results on the device are ready after gpu_sync (or any function that
 * returns a host value, which synchronizes).  gpu_open dies with one line
 * when the program was built without CUDA, when no CUDA device is present,
 * or when the device cannot be used; gpu_available() asks the same question
 * without dying.
 *
 * Memory.  Device arenas are tensor.h Arenas whose device is DEV_CUDA: one
 * cudaMalloc at creation (never managed memory), then arena_alloc bumps a
 * pointer and counts bytes exactly as on the CPU (arena_report prints the
 * same line).  Release with gpu_arena_free, not arena_free.  Tensors made
 * with tensor_new on such an arena describe device memory; functions of
 * tensor.h that touch data refuse them.
 *
 * Dtypes.  The kernels take a DType for their activations, weights and
 * gradients: DT_F32, DT_BF16 or DT_F16.  All arithmetic is in f32 (sums over
 * a row are f32 with a tree reduction), and each value is rounded to the
 * dtype once, when it is stored.  Saved statistics (mean, rstd, rrms, lse,
 * losses) and AdamW's moments and master weights are always f32.  Token ids
 * and targets are int32 on the device.
 *
 * Semantics.  Each *_cuda function computes what its nn.h namesake computes,
 * on device pointers, with the same layouts; backward passes accumulate into
 * gradients (+=), and NULL gradients are skipped, as on the CPU.  The
 * exceptions are stated at the function.  tests/test_gpu.c holds every one
 * of them to its CPU reference; bench/gpu.c times them.
 *
 * Files.  The kernels live in common/gpu/, one file per family (context,
 * gemm, embedding, norms, activations, softmax, attention, optimizer; see
 * common/gpu/internal.cuh).  A build without CUDA gets a stand-in for every
 * function declared here, generated from this header (common/gpu/stubs.py):
 * each dies with one line saying the program was built without CUDA, except
 * gpu_available (false) and gpu_close (nothing to close).
 *
 * Checked runtime errors (one line via die(), exit status 1): every CUDA and
 * cuBLAS call's status, and every kernel launch (cudaGetLastError), naming
 * the call, the file and line and CUDA's message; an unsupported dtype; a
 * device arena that runs out (as on the CPU).  Not checked: whether a
 * pointer is device memory of the right size. */
#ifndef GPU_H
#define GPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nn.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct Gpu Gpu;

typedef struct {
    char name[256];
    int major, minor;          /* compute capability */
    int sms;                   /* multiprocessors */
    size_t memory;             /* bytes of device memory */
    size_t l2;                 /* bytes of L2 cache */
    int driver, runtime;       /* versions, e.g. 13000 */
} GpuInfo;

bool gpu_available(void);                  /* built with CUDA and a device present */
Gpu *gpu_open(int device);                 /* dies with one line if not available */
void gpu_close(Gpu *g);                    /* NULL is fine */
GpuInfo gpu_info(const Gpu *g);
/* Whether the GPU has Hopper's warpgroup instructions (wgmma, sm_90a): compute
 * capability 9.0 exactly, which flash attention's versions 5 to 7 need. */
static inline bool gpu_has_wgmma(const GpuInfo *i) { return i->major == 9 && i->minor == 0; }
void gpu_sync(Gpu *g);                     /* wait for the stream; check for errors */

/* ---- Memory -------------------------------------------------------------------- */

Arena *gpu_arena_new(Gpu *g, const char *name, size_t capacity);
void gpu_arena_free(Arena *a);
void *gpu_malloc(size_t bytes);            /* plain cudaMalloc, checked */
/* cudaMalloc that returns NULL when the device has not that much memory free
 * (any other failure dies, as gpu_malloc does): for finding a device's limit. */
void *gpu_try_malloc(size_t bytes);
void gpu_free(void *p);
/* The device's free and total bytes as the driver counts them (cudaMemGetInfo):
 * every process's and library's allocations, rounded to the driver's pages. */
void gpu_memory_info(Gpu *g, size_t *free_bytes, size_t *total_bytes);
void gpu_upload(Gpu *g, void *dst, const void *src, size_t bytes);    /* host -> device */
void gpu_download(Gpu *g, void *dst, const void *src, size_t bytes);  /* device -> host, synchronizes */
void gpu_copy(Gpu *g, void *dst, const void *src, size_t bytes);      /* device -> device */
void gpu_zero(Gpu *g, void *dst, size_t bytes);
/* dst[i] = (dst_dt) src[i] for n values; F32, BF16, F16 in any pair;
 * narrowing rounds to nearest even, as tensor.h does on the CPU. */
void gpu_convert(Gpu *g, DType dst_dt, void *dst, DType src_dt, const void *src, size_t n);
/* Upload n f32 values from the host into dst, converted to dt. */
void gpu_upload_f32(Gpu *g, DType dt, void *dst, const float *src, size_t n);
/* Download n values of dtype dt from the device into f32 on the host. */
void gpu_download_f32(Gpu *g, DType dt, float *dst, const void *src, size_t n);

/* ---- Timing ---------------------------------------------------------------------- */

typedef struct GpuTimer GpuTimer;
GpuTimer *gpu_timer_new(Gpu *g);
void gpu_timer_free(GpuTimer *t);
void gpu_timer_start(GpuTimer *t);         /* records an event on the stream */
float gpu_timer_stop(GpuTimer *t);         /* records, synchronizes; milliseconds since start */

/* ---- Matrix multiplication (cuBLAS) ------------------------------------------- */

/* C = alpha op(A) op(B) + beta C, row-major, exactly matmul_f32's contract,
 * with A, B, C of dtype dt and f32 accumulation (for DT_F32: true f32, no
 * TF32).  beta == 0 overwrites. */
void gemm_cuda(Gpu *g, DType dt, bool trans_a, bool trans_b, int M, int N, int K, float alpha,
               const void *A, int lda, const void *B, int ldb, float beta, void *C, int ldc);

void linear_forward_cuda(Gpu *g, DType dt, void *out, const void *inp, const void *weight,
                         const void *bias, int N, int C, int OC);
void linear_backward_cuda(Gpu *g, DType dt, void *dinp, void *dweight, void *dbias,
                          const void *dout, const void *inp, const void *weight,
                          int N, int C, int OC);

/* Linear layers fused with their neighbours through cuBLASLt's epilogues
 * (the GPT's switches, gpt.h GPT_FUSE_*).  Each falls back to the separate
 * kernels when cuBLASLt has no algorithm for the request (for the GELU
 * ones: OC, or C for the backward pass, not a multiple of 8).
 *   linear_gelu_forward_cuda: pre = inp weight^T + bias (GELU's input, kept
 *     for the backward pass) and out = gelu(pre) in one product (epilogue
 *     GELU_AUX_BIAS, which applies GELU before rounding the sum, so out may
 *     differ from gelu_forward_cuda of pre by a rounding step);
 *   linear_dgelu_backward_cuda: dinp [N,C] = (dout [N,OC] weight [OC,C]) *
 *     gelu'(pre [N,C]), OVERWRITTEN (epilogue DGELU): the input gradient of
 *     a linear layer whose input was gelu(pre), GELU's backward pass folded
 *     in; the weight's and bias's gradients are linear_backward_cuda's;
 *   linear_residual_forward_cuda: out = inp weight^T + bias + res (beta 1
 *     with C = res, one rounding), out != res.
 * cuBLAS documents its GELU only as "GELU"; tests/test_gpu.c checks, in f32
 * and f16, that it is the tanh form that gelu_forward_cuda computes. */
void linear_gelu_forward_cuda(Gpu *g, DType dt, void *out, void *pre, const void *inp, const void *weight,
                              const void *bias, int N, int C, int OC);
void linear_dgelu_backward_cuda(Gpu *g, DType dt, void *dinp, const void *dout, const void *weight,
                                const void *pre, int N, int C, int OC);
void linear_residual_forward_cuda(Gpu *g, DType dt, void *out, const void *inp, const void *weight,
                                  const void *bias, const void *res, int N, int C, int OC);
/* linear_backward_weight_bgrad_cuda: linear_backward_cuda's dweight and
 *     dbias (both ADDED), the bias's column sums of dout taken in the
 *     weight product's epilogue (BGRADB) instead of a second pass over
 *     dout: cuBLASLt writes them to scratch in dt, and they are added to
 *     dbias (two roundings in bf16 where the separate sums make one). */
void linear_backward_weight_bgrad_cuda(Gpu *g, DType dt, void *dweight, void *dbias, const void *dout,
                                       const void *inp, int N, int C, int OC);
/* how many calls of the four above fell back to separate kernels, since the program started */
size_t linear_fused_fallbacks(void);

/* ---- The layers of nn.h -------------------------------------------------------- */

void embedding_forward_cuda(Gpu *g, DType dt, void *out, const int32_t *tokens, const void *wte,
                            const void *wpe, int B, int T, int C);
/* Backward, deterministic: the batch's tokens are sorted (stably, so equal
 * tokens keep their row order), and each token's rows of dout are summed in
 * f32 in that order and added to its row of dwte once; dwpe[t] gets the sum
 * of the B rows at position t, in order of b.  The same inputs give the same
 * bits on every run (no atomic adds).  embedding_backward_cuda sorts the
 * tokens itself, in the Gpu's scratch memory, on every call.  A training
 * step that runs the backward pass more than once over one batch (several
 * embedding tables, tied weights, micro-steps) can sort once:
 * embedding_sort_cuda into a buffer of embedding_sort_bytes(B * T) bytes
 * (V, the vocabulary size, bounds the bits the radix sort looks at), then
 * embedding_backward_sorted_cuda with that buffer as long as the tokens do
 * not change. */
void embedding_backward_cuda(Gpu *g, DType dt, void *dwte, void *dwpe, const void *dout,
                             const int32_t *tokens, int B, int T, int C);
size_t embedding_sort_bytes(int BT);
void embedding_sort_cuda(Gpu *g, void *sort, const int32_t *tokens, int BT, int V);
void embedding_backward_sorted_cuda(Gpu *g, DType dt, void *dwte, void *dwpe, const void *dout,
                                    const void *sort, int B, int T, int C);

void layernorm_forward_cuda(Gpu *g, DType dt, void *out, float *mean, float *rstd, const void *inp,
                            const void *weight, const void *bias, int N, int C);
/* dweight and dbias: sums over N rows, taken per block and then across
 * blocks in a fixed order (deterministic). */
void layernorm_backward_cuda(Gpu *g, DType dt, void *dinp, void *dweight, void *dbias,
                             const void *dout, const void *inp, const void *weight,
                             const float *mean, const float *rstd, int N, int C);

void rmsnorm_forward_cuda(Gpu *g, DType dt, void *out, float *rrms, const void *inp,
                          const void *weight, int N, int C);
void rmsnorm_backward_cuda(Gpu *g, DType dt, void *dinp, void *dweight, const void *dout,
                           const void *inp, const void *weight, const float *rrms, int N, int C);

/* GELU's tanh form, computed as x / (1 + exp(-2u)) with the fast exponential
 * (the same function; relative error about 1e-7 against tanhf's). */
void gelu_forward_cuda(Gpu *g, DType dt, void *out, const void *inp, size_t n);
void gelu_backward_cuda(Gpu *g, DType dt, void *dinp, const void *dout, const void *inp, size_t n);
/* dinp = gelu'(inp) dout, OVERWRITTEN (gelu_backward_cuda adds); dinp may be dout */
void gelu_backward_set_cuda(Gpu *g, DType dt, void *dinp, const void *dout, const void *inp, size_t n);

void swiglu_forward_cuda(Gpu *g, DType dt, void *out, const void *inp, int N, int H);
void swiglu_backward_cuda(Gpu *g, DType dt, void *dinp, const void *dout, const void *inp, int N, int H);

void residual_forward_cuda(Gpu *g, DType dt, void *out, const void *a, const void *b, size_t n);
void residual_backward_cuda(Gpu *g, DType dt, void *da, void *db, const void *dout, size_t n);

void softmax_forward_cuda(Gpu *g, DType dt, void *out, const void *inp, int N, int V);
void softmax_backward_cuda(Gpu *g, DType dt, void *dinp, const void *dout, const void *out, int N, int V);

/* losses[N] and lse[N] (f32, device).  The mean is the caller's: download
 * the losses (the CPU version returns it). */
void cross_entropy_forward_cuda(Gpu *g, DType dt, float *losses, float *lse, const void *logits,
                                const int32_t *targets, int N, int V);
void cross_entropy_backward_cuda(Gpu *g, DType dt, void *dlogits, const void *logits, const float *lse,
                                 const int32_t *targets, float dloss, int N, int V);
/* Forward and backward in one pass over the logits, for training: the loss
 * of each row into losses, and the gradient written over the logits
 * (dlogits = dloss (softmax - onehot)), never accumulated. */
void cross_entropy_fused_cuda(Gpu *g, DType dt, float *losses, void *logits, const int32_t *targets,
                              float dloss, int N, int V);

/* Causal multi-head attention, the plain way: Q, K, V gathered per head,
 * S = Q K^T / sqrt(hs) by a batched GEMM, a causal softmax, O = P V by a
 * batched GEMM, scattered back.  att[B,NH,T,T] holds P (zeros above the
 * diagonal), as on the CPU.  scratch must hold attention_scratch_bytes. */
size_t attention_scratch_bytes(DType dt, int B, int T, int C, int NH);
void attention_forward_cuda(Gpu *g, DType dt, void *out, void *att, const void *qkv, void *scratch,
                            int B, int T, int C, int NH);
void attention_backward_cuda(Gpu *g, DType dt, void *dqkv, const void *dout, const void *qkv,
                             const void *att, void *scratch, int B, int T, int C, int NH);

/* Flash attention (flash.cu; derived in chapter 12): attention computed tile
 * by tile with an online softmax, so that the T x T scores never reach
 * device memory; memory O(T), not O(T^2).  Heads are addressed through
 * element strides: row t of head h of sequence b starts at
 * base + b*L.b + h*L.h + t*L.t, and its hs elements are contiguous.  "in"
 * describes q, k, v and dq, dk, dv; "out" describes o and dout.  For
 * [B,NH,T,hs] tensors L = {NH*T*hs, T*hs, hs}; for the packed qkv of
 * attention_forward_cuda, in = {3*T*C, hs, 3*C} (k at +C, v at +2C) and
 * out = {T*C, hs, C}.  Rows must start 16-byte aligned: for versions 2 to 27 every tensor's first element
 * on a 16-byte boundary and L.b, L.h, L.t multiples of 8 (checked; one line and exit otherwise).
 * version 1: one thread per row on CUDA cores (any dtype); version 2:
 * tensor cores (bf16, f16); version 3: version 2 with 32 query rows per
 * warp in the forward pass (its backward pass is version 2's); version 4:
 * version 3's forward pass, a backward pass of 8 warps (128 keys) a block
 * with the next query tile prefetched; version 5: version 4's backward
 * pass, a forward pass on Hopper's wgmma (bf16, f16; the forward pass dies
 * with one line on a GPU that is not compute capability 9.0); version 6:
 * version 5 with the forward pass's products overlapping its softmax (the
 * same limits; correct on the H200, no faster); version 7: version 3's forward pass,
 * a backward pass on wgmma (two warpgroups, 128 keys a block; compute
 * capability 9.0 only, as version 5; the GPT's on Hopper); versions 8 to 24:
 * later forward and backward passes on Hopper, each a step further (chapter
 * 12 presents them and what each measured; before version 21, version 14's forward pass the
 * fastest, level with version 12's at hs 128; versions 15 to 18 no faster; version 19's
 * backward pass about 3% faster at hs 64, version 20's another 2.5% (its blocks in groups of heads); both need scratch at a multiple of 16 bytes, not 8;
 * version 21: version 20 with a persistent forward pass, a block an SM taking query tiles in turn, 27% faster at hs 64;
 * version 22: version 21 with a head's query tiles side by side, 32% faster than version 20 at hs 64, 8% at hs 128;
 * version 23: version 22 with the kernels around the backward pass's main one in 16-byte loads (D_i and the cleared
 * dQ buffer in one pass, dQ finished in another), the forward and backward step 11% faster at hs 64; version 24:
 * version 23 with a persistent backward pass at hs 64, a block an SM taking key blocks from a counter in the
 * scratch, no faster; version 25: each warpgroup's own dQ at hs 64, no faster; version 26: version 25 with the
 * query tiles, dO, lse and D copied by TMA from a producer warpgroup on mbarriers (T a multiple of 4; else version
 * 25), the forward and backward step 9% faster than version 23's at hs 64; version 27: version 26 with the
 * warpgroups taking turns to issue, slower).  hs is 64 or 128; the scale is 1/sqrt(hs);
 * causal masks key j > query i.  lse[B*NH*T] (f32) receives each row's
 * log-sum-exp of the scaled scores (natural log), which the backward pass
 * reads.  The backward pass adds into dq, dk, dv (+=), which must not
 * overlap one another or the inputs; scratch must hold
 * flash_backward_scratch_bytes. */
typedef struct { long long b, h, t; } FlashLayout;
void flash_forward_cuda(Gpu *g, DType dt, int version, void *o, float *lse, const void *q, const void *k,
                        const void *v, int B, int NH, int T, int hs, bool causal, FlashLayout in, FlashLayout out);
size_t flash_backward_scratch_bytes(int B, int NH, int T, int hs);
/* Version 20's heads a group (chapter 12's groups experiment): n > 0 makes every later launch of version 20 take
 * groups of n heads (n >= B*NH: one group, heads first); 0, the default, lets each launch choose by its model of
 * the schedule.  flash_head_group_used: the group size the last launch of version 20 took (0 before any).
 * Process-wide, not for threads launching at once. */
void flash_head_group_force(int n);
int flash_head_group_used(void);
/* Version 21's forward pass (persistent: a block an SM, each taking query tiles in turn): n > 0 makes every later
 * launch start n blocks (or as many as there are tiles, if fewer), so that small shapes give a block several
 * tiles (chapter 12's tests); 0, the default, one block an SM.  Process-wide, as flash_head_group_force. */
void flash_forward_blocks_force(int n);
/* Version 24's backward pass at hs 64 in n blocks (0: one an SM), so that tests can give each block several
 * items on a GPU of many SMs. */
void flash_backward_blocks_force(int n);
void flash_backward_cuda(Gpu *g, DType dt, int version, void *dq, void *dk, void *dv, const void *dout,
                         const void *q, const void *k, const void *v, const void *o, const float *lse,
                         void *scratch, int B, int NH, int T, int hs, bool causal, FlashLayout in,
                         FlashLayout out);

/* ---- Optimizer -------------------------------------------------------------------- */

/* One AdamW step on n parameters, fused in one kernel.  With dt == DT_F32,
 * param is the f32 weights and master must be NULL.  Otherwise master holds
 * the f32 weights (updated), and param receives them rounded to dt (the
 * copy the forward pass reads).  grad has dtype dt; m and v are f32. */
void adamw_update_cuda(Gpu *g, DType dt, void *param, float *master, const void *grad, float *m,
                       float *v, size_t n, const AdamW *opt, int step, float grad_scale);

/* One RMSprop step on n f32 parameters: v = rho v + (1 - rho) g^2;
 * param -= lr g / (sqrt(v) + eps)  (no bias correction, as in PyTorch). */
void rmsprop_update_cuda(Gpu *g, float *param, const float *grad, float *v, size_t n, float lr, float rho, float eps);

/* y[i] = a x[i] + b y[i] for n f32 values (x may be y: then y = (a + b) y).
 * The step of every optimizer that is a linear combination of arrays (SGD,
 * momentum, Nesterov, Muon's update) is one or two of these. */
void axpby_cuda(Gpu *g, size_t n, float a, const float *x, float b, float *y);

/* sum of g[i]^2 over n values of dtype dt, in f32 per block and double
 * across blocks, in a fixed order; returns to the host (synchronizes). */
double grad_norm_squared_cuda(Gpu *g, DType dt, const void *grad, size_t n);

#ifdef __cplusplus
}
#endif

#endif
