/* gpt.h -- the book's GPT: GPT-2's decoder-only transformer, its parameters
 * under GPT-2's names, forward and backward on the CPU (nn.h) or a GPU
 * (gpu.h), GPT-2's initialization, an AdamW training step with gradient
 * clipping, and safetensors files that Hugging Face transformers reads and
 * writes.  Chapter 8 derives every piece and writes the plain version;
 * tests/test_ch08.c proves the two agree; chapters 9 and 11-18 use this one.
 *
 * The model (shape letters as in the book: B sequences of T positions, C
 * channels, NH heads of hs = C/NH, F hidden units of the feed-forward
 * network, V symbols, L blocks):
 *
 *     x = wte[tokens] + wpe[0..T)                               [B,T,C]
 *     for each block l:                                         (pre-LN)
 *         x = x + attn.c_proj(attention(attn.c_attn(ln_1(x))))
 *         x = x + mlp.c_proj(gelu(mlp.c_fc(ln_2(x))))
 *     logits = ln_f(x) wte^T                  (tied embeddings) [B,T,V]
 *     loss = mean over positions with a target of lse(logits) - logits[target]
 *
 * with nn.h's layer norm (eps 1e-5), tanh GELU ("gelu_new") and causal
 * attention scaled by 1/sqrt(hs): exactly GPT2LMHeadModel with its default
 * configuration and dropout off.
 *
 * Parameters.  One contiguous block (llm.c's habit), so that the optimizer,
 * the gradient norm, a copy to the GPU and a checkpoint each handle one
 * array.  GptTensorInfo lists the tensors in GPT-2's order with their names
 * ("wte.weight", "h.3.attn.c_attn.weight", ...), their shapes in OUR layout
 * and their place in the block.  Our layout is nn.h's: a linear layer's
 * weight is [out, in].  GPT-2 stores its four projections as Conv1D weights,
 * [in, out]: gpt_save and gpt_load transpose those four (hf_transposed).
 * In the block the matrices (wte, wpe and the four projections of every
 * block) come first, [0, ndecay), then the vectors (biases and the norms'
 * gains and offsets), [ndecay, nparams): AdamW decays the first range only.
 * Each tensor starts on a multiple of 32 elements (the padding between them
 * stays zero, with zero gradient, and AdamW leaves it at zero).
 *
 * Devices and dtypes.  gpt_new(cfg, NULL, DT_F32, ...) makes a model on the
 * CPU: f32 everywhere, every layer through nn.h, deterministic.  With a Gpu
 * it lives on the GPU: parameters, gradients and activations in `dt`
 * (DT_F32, DT_BF16 or DT_F16; gpu.h computes in f32 and rounds when it
 * stores), and, when dt is not f32, f32 master weights that AdamW updates
 * (the parameters are their rounded copy); AdamW's moments are f32.  The
 * arithmetic is the same on both devices, in the same order of layers; sums
 * are taken in other orders, so results agree to rounding, not to the bit.
 * The GPU's training pass sorts the batch's tokens once (gpu.h
 * embedding_sort_cuda) for the embedding's deterministic backward pass, so
 * a GPU run repeated with the same seed gives the same bits.
 *
 * Using it.
 *     Gpt *m = gpt_new(&cfg, NULL, DT_F32, B, T);  gpt_init(m, seed);
 *     loss = gpt_step(m, tokens, targets, B, T, &opt);   // one training step
 *     gpt_forward(m, tokens, targets, B, T);             // scoring: logits, losses
 * tokens and targets are host arrays [B,T] of int32; a target < 0 marks a
 * position with no loss.  B and T may be anything up to the sizes given to
 * gpt_new (T also at most maxT).
 *
 * Gradients ACCUMULATE over gpt_forward_backward calls (as in nn.h) until
 * gpt_zero_grad; gpt_step zeroes them itself.  The forward pass of
 * gpt_forward_backward overwrites the logits with their gradient (on the GPU
 * through the fused cross-entropy; on the CPU in place): read logits after
 * gpt_forward, not after a training step.
 *
 * Checked runtime errors (one line via die(), exit 1): a configuration
 * that is not positive, C not a multiple of NH, L above GPT_MAX_LAYERS; B or
 * T beyond what the model was made for; a token outside [0, V) or a target
 * outside [-1, V) (named with its position); a dtype the device cannot take;
 * memory options out of range (GptMemOptions), or the arena with
 * recomputation; every CUDA error (gpu.h).  gpt_load and gpt_save return false/NULL with a
 * one-line message instead (a missing or extra tensor, a wrong shape, no
 * head count, an untied lm_head, an I/O error).
 *
 * Ownership: gpt_new's model is freed by gpt_free; every buffer it points to
 * belongs to it. */
#ifndef GPT_H
#define GPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gpu.h"
#include "nn.h"
#include "provenance.h"
#include "tensor.h"

#define GPT_MAX_LAYERS 64
#define GPT_ALIGN 32            /* elements: each tensor starts on a multiple of this */

typedef struct {
    int V;      /* vocabulary: rows of wte, columns of the logits */
    int maxT;   /* positions: rows of wpe (GPT-2's n_positions) */
    int L;      /* blocks */
    int NH;     /* attention heads per block */
    int C;      /* channels of the residual stream (n_embd) */
    int F;      /* hidden units of the feed-forward network (n_inner; 4C in GPT-2) */
} GptConfig;

/* GPT-2 small with the vocabulary padded to a multiple of 128 (llm.c's and
 * nanoGPT's 50304): L 12, NH 12, C 768, F 3072, maxT 1024. */
GptConfig gpt2_small_config(int V);
/* false and a one-line message if the configuration is impossible */
bool gpt_config_valid(const GptConfig *c, char *err, size_t errlen);

/* The per-block tensors, in GPT-2's order, and the model-wide ones. */
enum {
    GPT_LN1W, GPT_LN1B, GPT_QKVW, GPT_QKVB, GPT_ATTPROJW, GPT_ATTPROJB,
    GPT_LN2W, GPT_LN2B, GPT_FCW, GPT_FCB, GPT_FCPROJW, GPT_FCPROJB, GPT_LAYER_TENSORS
};

typedef struct {
    void *wte, *wpe;                           /* [V,C], [maxT,C] */
    void *layer[GPT_MAX_LAYERS][GPT_LAYER_TENSORS];
    void *lnfw, *lnfb;                         /* [C], [C] */
} GptTensors;

typedef struct {
    char name[48];          /* GPT-2's name: "wte.weight", "h.3.attn.c_attn.weight", "ln_f.bias" */
    int ndim;               /* 1 or 2 */
    int64_t shape[2];       /* our layout: a projection's weight is [out, in] */
    bool hf_transposed;     /* GPT-2 files hold it [in, out] (Conv1D) */
    bool decay;             /* AdamW's weight decay applies to it */
    size_t offset, numel;   /* place in the parameter block, in elements */
    int layer, kind;        /* block and GPT_* kind, or layer -1 for wte, wpe, ln_f */
} GptTensorInfo;

/* Number of tensors (4 + 12 L), and their table (ntensors entries, GPT-2's
 * order); returns the elements of the block (padding included) and the end
 * of the decayed range in *ndecay.  info may be NULL to count only. */
size_t gpt_layout(const GptConfig *c, GptTensorInfo *info, size_t *ndecay);
size_t gpt_num_tensors(const GptConfig *c);
/* Parameters a configuration has (no padding): V C + maxT C + L (12 C^2 + ...) + 2C. */
size_t gpt_param_count(const GptConfig *c);
/* Point t's tensors into a block at base whose elements have esize bytes. */
void gpt_point(const GptConfig *c, const GptTensorInfo *info, void *base, size_t esize, GptTensors *t);

typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
    float grad_clip;        /* global norm above which gradients are scaled down; <= 0: no clipping */
} GptAdamW;

typedef struct GptProfile GptProfile;

typedef struct {
    /* forward, per block l, [B,T,...] in dt; the f32 statistics of the norms */
    void *ln1[GPT_MAX_LAYERS], *qkv[GPT_MAX_LAYERS], *atty[GPT_MAX_LAYERS], *att[GPT_MAX_LAYERS];
    void *res2[GPT_MAX_LAYERS], *ln2[GPT_MAX_LAYERS], *fch[GPT_MAX_LAYERS], *fchg[GPT_MAX_LAYERS];
    void *res3[GPT_MAX_LAYERS];                 /* the block's output, the next block's input */
    float *ln1_mean[GPT_MAX_LAYERS], *ln1_rstd[GPT_MAX_LAYERS];
    float *ln2_mean[GPT_MAX_LAYERS], *ln2_rstd[GPT_MAX_LAYERS];
    void *encoded, *lnf, *logits, *scratch;     /* [B,T,C], [B,T,C], [B,T,V], [B,T,C] */
    float *lnf_mean, *lnf_rstd, *losses, *lse;  /* [B,T] each */
    float *att_lse[GPT_MAX_LAYERS];             /* flash attention: [B,NH,T] f32, instead of att */
    /* backward scratch */
    void *dres, *dln, *dqkv, *datty, *dfch, *dfchg;   /* [B,T,C], C, 3C, C, F, F */
    void *att_scratch;                          /* GPU: attention_scratch_bytes */
    void *emb_sort;                             /* GPU: the batch's tokens sorted (embedding_sort_bytes) */
    int32_t *tokens, *targets;                  /* [B,T] on the model's device */
} GptActivations;

/* Memory options (chapter 11).  gpt_new is gpt_new_opts with every option
 * off (NULL, the same as all zero), and nothing below changes what a model
 * without them does; zero's attention is flash where it can run (below).
 *
 * arena: the activations come from one arena (tensor.h; gpu_arena_new on a
 * GPU) sized for the whole step: the batch, the backward scratch and the
 * embedding's output when the model is made, each block's activations when
 * the forward pass reaches the block, the head's (final norm, logits) after
 * the last block; the backward pass releases the head and then each block
 * as it leaves them (stack order).  Every carve and release is recorded as a
 * GptMemEvent with the bytes then live, the step's memory timeline.
 *
 * classifier_rows R > 0: the fused classifier.  The logits buffer holds R
 * rows of V instead of B T; the output layer, the cross-entropy and (in
 * training) its gradient run R positions at a time, the gradient of each
 * chunk consumed (dln, dwte) before the next chunk is computed.  Results
 * equal the unfused path's to rounding (on a GPU in bf16/f16, dwte is rounded
 * once per chunk); gpt_get_logits is refused (no full logits exist). */
typedef struct {
    bool arena;
    int classifier_rows;
    int attention;          /* GPT_ATTENTION_*: below */
    int recompute;          /* GPT_RECOMPUTE_*: below */
    int segment;            /* GPT_RECOMPUTE_SEGMENTS: blocks a segment (0: the integer nearest sqrt(L)) */
} GptMemOptions;

#define GPT_FLASH_VERSION 7            /* on compute capability 9.0 (Hopper) */
#define GPT_FLASH_VERSION_ELSEWHERE 4  /* on any other GPU: mma.sync only */

/* attention (chapter 12).  GPT_ATTENTION_FLASH, the default (zero, and
 * gpt_new's): gpu.h's flash attention (GPT_FLASH_VERSION: version 3's
 * forward pass, version 7's wgmma backward, on Hopper; version 4 on other
 * GPUs) where the model allows it,
 * gpt_flash_allowed (a GPU, bf16 or f16, head size 64 or 128), and the plain
 * path where it does not; Gpt.flash says which was taken.
 * GPT_ATTENTION_PLAIN: chapter 8's batched GEMMs everywhere, which keep
 * every head's T x T probabilities (att) for the backward pass (chapter 11
 * measures this path, and the tests that need its bit-for-bit behaviour on
 * a GPU ask for it by name).  A flash block keeps the
 * log-sum-exp of each head and row (f32) instead of att, and the step's
 * scratch is flash_backward_scratch_bytes instead of attention_scratch_bytes.
 * Flash's backward pass adds dQ atomically: its gradients are not the same
 * bits from run to run, only the same to rounding.
 *
 * recompute (chapter 12, gradient checkpointing).  GPT_RECOMPUTE_NONE keeps
 * every block's activations for the backward pass.  GPT_RECOMPUTE_SELECTIVE
 * keeps all but the three a block can rebuild element by element (ln1 and
 * ln2 from the norms' inputs, fchg from fch through GELU): one shared copy
 * of each, recomputed at the start of each block's backward pass.
 * GPT_RECOMPUTE_SEGMENTS cuts the L blocks into segments of `segment`
 * blocks (the last may be shorter) and keeps only each segment's output
 * (and the embedding's, the first input): one set of `segment` blocks'
 * activations is shared by all segments, and the backward pass reruns the
 * forward pass of each segment but the last before going back through it.
 * segment 1 is "every block"; segment L keeps everything once, as NONE does.
 * The arithmetic is the same whichever is chosen, in the same order, so
 * the gradients are the same bits (the plain attention) or the same to
 * flash's rounding.  Not with the arena (refused: its stack of blocks is
 * the NONE layout). */
enum { GPT_ATTENTION_FLASH, GPT_ATTENTION_PLAIN };
enum { GPT_RECOMPUTE_NONE, GPT_RECOMPUTE_SELECTIVE, GPT_RECOMPUTE_SEGMENTS };
/* flash attention can run this model: a GPU, dtype bf16 or f16, head size 64 or 128 */
bool gpt_flash_allowed(const GptConfig *c, DType dt, bool gpu);
/* the blocks a segment that o asks for (0 unless o->recompute is GPT_RECOMPUTE_SEGMENTS) */
int gpt_segment_blocks(const GptConfig *c, const GptMemOptions *o);

/* Fusions (the GPU's training step; issue 25).  Each is a switch, so that
 * one run can time the step with and without it; the CPU ignores them (it
 * computes the same thing unfused).  A model made on the GPU in bf16 or f16
 * has them all on, in f32 none.  The f32 step is the one held tightly to
 * the CPU's (tests/test_gpt_gpu.c), and with the fusions one logit in
 * 24,576 came out 1.05e-5 from the CPU's, outside that bound: cuBLASLt
 * computes GELU its own way (bench/logs/s10-44e62b6-h100/3-fuse-*).  Only
 * GELU's fusion was implicated, but all four stay off in f32, so that the
 * f32 step is the unfused one the book derives.  In bf16 and f16,
 * test_fusions holds the fused step to the unfused one and to the CPU
 * within those dtypes' bounds.
 *   GPT_FUSE_GELU: the feed-forward network's first product computes GELU
 *     in cuBLASLt's epilogue (linear_gelu_forward_cuda: fch kept as GELU's
 *     input, fchg its output), and the second product's input gradient
 *     applies GELU's derivative in its epilogue (linear_dgelu_backward_cuda:
 *     dfch overwritten): no GELU kernels, no zeroing of dfch, dfchg unused.
 *   GPT_FUSE_RESIDUAL: both output projections add the residual stream in
 *     their epilogue (linear_residual_forward_cuda): no residual kernels.
 *   GPT_FUSE_GELU_SET: without GPT_FUSE_GELU, GELU's backward pass
 *     overwrites dfch (gelu_backward_set_cuda) instead of adding into a
 *     zeroed dfch: no memset.
 *   GPT_FUSE_BGRAD: each linear layer's bias gradient is summed in the
 *     epilogue of its weight-gradient product (linear_backward_weight_bgrad_cuda)
 *     instead of by a second pass over the output's gradient.
 * The results equal the unfused step's to rounding (a fused product rounds
 * once where the unfused one rounds twice; the fused bias gradient twice
 * where the unfused rounds once).  With GPT_FUSE_GELU,
 * GPT_RECOMPUTE_SELECTIVE rebuilds GELU's output with the GELU kernel from
 * the stored (rounded) input, so its gradients equal the fused step's to
 * rounding, not bit for bit.  gpt_new_opts takes the
 * switches from the environment variable GPT_FUSE, a comma-separated list
 * of gelu, residual, gelu-set, bgrad, all, none (unset: the default above;
 * empty: none; anything else: a one-line error), so that a program times
 * them without a new flag;
 * gpt_set_fusions sets them on a model. */
enum { GPT_FUSE_GELU = 1, GPT_FUSE_RESIDUAL = 2, GPT_FUSE_GELU_SET = 4, GPT_FUSE_BGRAD = 8, GPT_FUSE_ALL = 15 };
/* the switches a GPT_FUSE string names (NULL or empty: 0); dies with one line on an unknown name */
unsigned gpt_fusions_parse(const char *s);
/* "none", or the names of the switches, comma-separated, into buf */
const char *gpt_fusions_name(unsigned fuse, char *buf, size_t len);

#define GPT_MAX_EVENTS (2 * GPT_MAX_LAYERS + 8)
typedef struct {
    char what[40];          /* "embedding", "forward block 3", "head", "backward head", "backward block 3" */
    size_t live;            /* bytes of the activation arena in use after it */
} GptMemEvent;

typedef struct {
    GptConfig cfg;
    Gpu *gpu;               /* NULL: the CPU */
    DType dt;               /* activations, parameters as the forward pass reads them, gradients */
    size_t ntensors;
    GptTensorInfo *info;    /* [ntensors] */
    size_t nparams, ndecay; /* elements of the block; end of the decayed range */
    void *params, *grads;   /* [nparams] of dt, on the model's device */
    float *master;          /* [nparams] f32 master weights (GPU with dt != F32), else NULL */
    float *m, *v;           /* [nparams] AdamW's moments, f32, on the device */
    GptTensors p, g;        /* the tensors of params and grads */
    int Bmax, Tmax;         /* sizes the activations were allocated for */
    int B, T;               /* sizes of the last forward pass */
    GptActivations a;
    size_t act_bytes;       /* bytes of activations and scratch allocated */
    int32_t *host_targets;  /* [Bmax,Tmax] copy of the last targets (host) */
    float *host_losses;     /* [Bmax,Tmax] */
    int step;               /* AdamW steps taken */
    GptProfile *prof;       /* NULL unless gpt_profile_start */
    GptMemOptions mem;      /* gpt_new_opts's options (all off for gpt_new) */
    bool flash;             /* the attention runs through flash.cu (mem.attention and gpt_flash_allowed) */
    int segment;            /* GPT_RECOMPUTE_SEGMENTS: blocks a segment, resolved; else 0 */
    unsigned fuse;          /* GPT_FUSE_* switches (by dtype, or GPT_FUSE in the environment, when made; gpt_set_fusions) */
    void **owned;           /* every activation buffer (not with the arena), freed by gpt_free */
    size_t nowned;
    Arena *arena;           /* mem.arena: the activations' arena, else NULL */
    ArenaMark marks[GPT_MAX_LAYERS + 2];   /* mem.arena: [0] after the base, [1 + l] before block l, [1 + L] before the head */
    GptMemEvent events[GPT_MAX_EVENTS];    /* mem.arena: the last step's timeline */
    int nevents;
} Gpt;

/* Make a model of configuration c for batches up to Bmax x Tmax, on the CPU
 * (g NULL, dt DT_F32) or on the GPU g.  Parameters are zero: gpt_init or
 * gpt_load_into fills them. */
Gpt *gpt_new(const GptConfig *c, Gpu *g, DType dt, int Bmax, int Tmax);
void gpt_free(Gpt *m);          /* NULL is fine */
/* gpt_new with memory options (o NULL: none; see GptMemOptions). */
Gpt *gpt_new_opts(const GptConfig *c, Gpu *g, DType dt, int Bmax, int Tmax, const GptMemOptions *o);
/* gpt_activation_bytes for a model made with options o (NULL: none); with
 * o->arena, the arena's capacity. */
size_t gpt_activation_bytes_opts(const GptConfig *c, DType dt, int B, int T, const GptMemOptions *o);
/* Bytes gpt_new would allocate on a GPU for activations and scratch (the
 * attention's scratch counted only where a GPU is available). */
size_t gpt_activation_bytes(const GptConfig *c, DType dt, int B, int T);

/* Set the fusion switches (GPT_FUSE_*) of a model; on the CPU they change nothing. */
void gpt_set_fusions(Gpt *m, unsigned fuse);

/* GPT-2's initialization: every weight N(0, 0.02), the two output
 * projections of each block (attn.c_proj, mlp.c_proj) N(0, 0.02/sqrt(2L)),
 * biases 0, norm gains 1 and offsets 0.  Drawn on the host in the order of
 * the tensor table, so the same seed gives the same model on every device. */
void gpt_init(Gpt *m, uint64_t seed);

/* Host copies in f32, in the block's layout ([nparams]). */
void gpt_get_params(const Gpt *m, float *host);
void gpt_set_params(Gpt *m, const float *host);   /* also resets the master weights */
void gpt_get_grads(const Gpt *m, float *host);

/* Forward pass for scoring: logits, and with targets (may be NULL) the loss
 * of each position; returns the mean loss over positions with a target (NAN
 * with no targets or no target >= 0). */
float gpt_forward(Gpt *m, const int32_t *tokens, const int32_t *targets, int B, int T);
/* Logits [B,T,V] and losses [B,T] of the last gpt_forward, into host f32. */
void gpt_get_logits(const Gpt *m, float *host);
void gpt_get_losses(const Gpt *m, float *host);

/* Forward and backward for the mean loss over positions with a target:
 * adds the gradient into m->grads; returns the mean loss. */
float gpt_forward_backward(Gpt *m, const int32_t *tokens, const int32_t *targets, int B, int T);
void gpt_zero_grad(Gpt *m);
/* Clip to opt->grad_clip, one AdamW step (decay on [0, ndecay) only); returns
 * the gradient norm before clipping.  A non-finite norm skips the step. */
float gpt_update(Gpt *m, const GptAdamW *opt);
/* zero_grad, forward_backward, update; returns the loss; *norm (may be NULL) the gradient norm. */
float gpt_step(Gpt *m, const int32_t *tokens, const int32_t *targets, int B, int T, const GptAdamW *opt,
               float *norm);

/* Safetensors in GPT-2's naming ("wte.weight", "h.0.attn.c_attn.weight",
 * Conv1D weights [in, out]), f32, with metadata format "pt" (transformers
 * requires it) and n_layer, n_head, n_embd, n_inner, n_positions,
 * vocab_size, then the run's provenance (prov; NULL: none; ckpt.h), plus
 * meta (key, value, ..., NULL; or NULL).  Atomic. */
bool gpt_save(const Gpt *m, const char *path, const Provenance *prov, const char *const *meta, char *err,
              size_t errlen);
/* Read a GPT-2 safetensors file: the names with or without transformers'
 * "transformer." prefix; F32, BF16 or F16; lm_head.weight ignored when it
 * equals wte (tied) and refused otherwise; the causal-mask buffers
 * (attn.bias, attn.masked_bias) of older files ignored.  The configuration
 * comes from the shapes, and the head count from the metadata n_head or,
 * failing that, from a config.json in the same directory. */
bool gpt_read_config(const char *path, GptConfig *c, char *err, size_t errlen);
/* Load the parameters of the file into m (its configuration must match). */
bool gpt_load_into(Gpt *m, const char *path, char *err, size_t errlen);
/* gpt_read_config + gpt_new + gpt_load_into. */
Gpt *gpt_load(const char *path, Gpu *g, DType dt, int Bmax, int Tmax, char *err, size_t errlen);

/* Checking against an independent implementation.  A reference file is a
 * safetensors file holding a batch and what a reference implementation
 * computed for it from the same parameters: "tokens" and "targets" (I64 or
 * I32, [B,T]; a target < 0 has no loss), "logits" (F32 [B,T,V]), "loss"
 * (F32 [1], the mean over targets) and "grad.NAME" for every parameter,
 * NAME and layout as in a GPT-2 file (Conv1D weights [in, out]).
 * gpt_write_reference writes one from this model (for transformers to
 * check); gpt_compare_reference runs the batch through the model, forward
 * then backward (its gradients are zeroed first and hold the batch's
 * gradient after), and returns one row per quantity (logits, loss, then the
 * gradients in the table's order; the caller frees them), or NULL with a
 * one-line message when the file is unreadable or does not fit the model. */
typedef struct {
    char name[64];          /* "logits", "loss", or "grad." and a parameter's name */
    size_t n;               /* values compared */
    double max_abs;         /* largest |ours - reference| */
    double max_ref;         /* largest |reference| */
    double rel;             /* ||ours - reference|| / ||reference|| (2-norms) */
    double worst;           /* largest |ours - ref| / (atol + rtol |ref|) for the atol, rtol given */
} GptRefRow;
bool gpt_write_reference(Gpt *m, const int32_t *tokens, const int32_t *targets, int B, int T, const char *path,
                         char *err, size_t errlen);
GptRefRow *gpt_compare_reference(Gpt *m, const char *path, double atol, double rtol, size_t *nrows, char *err,
                                 size_t errlen);

/* FLOPs of one training step per token, as the book counts them for MFU
 * (the PaLM paper's 6N + 12 L T C, N the parameters of the matrix products,
 * the tied output layer included): 6 (L (4C^2 + 2CF) + CV) + 12 L T C. */
double gpt_flops_per_token(const GptConfig *c, int T);

/* Per-operation timing.  Between gpt_profile_start and gpt_profile_stop
 * every layer call of the model is timed: on the GPU with events around it
 * (each preceded by a memset that keeps the GPU busy while the call is
 * issued, so the events time the kernels, not the launch; and followed by a
 * synchronization, so profiled steps are slower than real ones), on the CPU
 * with the wall clock.  gpt_profile_report lists, per operation, the calls
 * and the milliseconds, accumulated since start. */
void gpt_profile_start(Gpt *m);
typedef struct { const char *name; int calls; double ms; } GptProfileRow;
/* Rows into out (up to n), largest time first; returns the number of rows. */
int gpt_profile_report(const Gpt *m, GptProfileRow *out, int n);
void gpt_profile_stop(Gpt *m);

/* Loss scaling (chapter 12).  gpt_forward_backward_scaled is
 * gpt_forward_backward with the loss's gradient multiplied by loss_scale
 * (a power of two keeps it exact), so the gradients it accumulates are
 * loss_scale times the loss's; returns the (unscaled) mean loss.
 * gpt_update_scaled is gpt_update for such gradients: it divides them by
 * loss_scale in f32 inside AdamW, clips on the true norm (returned), and
 * skips the step, changing nothing, when the norm is not finite (an
 * overflow of the scaled gradients).  With loss_scale 1 both are the plain
 * functions. */
float gpt_forward_backward_scaled(Gpt *m, const int32_t *tokens, const int32_t *targets, int B, int T,
                                  float loss_scale);
float gpt_update_scaled(Gpt *m, const GptAdamW *opt, float loss_scale);

#endif
