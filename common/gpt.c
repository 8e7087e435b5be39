/* gpt.c -- see gpt.h.  One orchestration of the model's layers over two
 * back ends: every layer call goes through a small op_* function that calls
 * nn.h on the CPU or its gpu.h twin on a GPU, so the forward and backward
 * passes below are written once.  Chapter 8 derives each step. */
#include "gpt.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt.h"
#include "matmul.h"
#include "rng.h"
#include "util.h"

/* ---- Configuration and layout -------------------------------------------------------- */

GptConfig gpt2_small_config(int V) {
    return (GptConfig){.V = V, .maxT = 1024, .L = 12, .NH = 12, .C = 768, .F = 3072};
}

bool gpt_config_valid(const GptConfig *c, char *err, size_t errlen) {
    const char *why = NULL;
    if (c->V <= 0 || c->maxT <= 0 || c->L <= 0 || c->NH <= 0 || c->C <= 0 || c->F <= 0)
        why = "every size must be positive";
    else if (c->C % c->NH) why = "the channels C must be a multiple of the heads NH";
    else if (c->L > GPT_MAX_LAYERS) why = "too many blocks (at most GPT_MAX_LAYERS, 64)";
    if (why && err)
        snprintf(err, errlen, "GPT configuration V %d, maxT %d, L %d, NH %d, C %d, F %d: %s", c->V, c->maxT, c->L,
                 c->NH, c->C, c->F, why);
    return why == NULL;
}

static const char *const LAYER_NAMES[GPT_LAYER_TENSORS] = {
    "ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight", "attn.c_proj.bias",
    "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias",
};

size_t gpt_num_tensors(const GptConfig *c) { return 4 + (size_t)GPT_LAYER_TENSORS * c->L; }

/* The shape of one tensor in our layout; returns ndim. */
static int tensor_shape(const GptConfig *c, int layer, int kind, int64_t *shape) {
    int64_t C = c->C, F = c->F;
    if (layer < 0) {
        switch (kind) {
        case 0: shape[0] = c->V, shape[1] = C; return 2;      /* wte */
        case 1: shape[0] = c->maxT, shape[1] = C; return 2;   /* wpe */
        default: shape[0] = C; return 1;                      /* ln_f */
        }
    }
    switch (kind) {
    case GPT_QKVW: shape[0] = 3 * C, shape[1] = C; return 2;
    case GPT_QKVB: shape[0] = 3 * C; return 1;
    case GPT_ATTPROJW: shape[0] = C, shape[1] = C; return 2;
    case GPT_FCW: shape[0] = F, shape[1] = C; return 2;
    case GPT_FCB: shape[0] = F; return 1;
    case GPT_FCPROJW: shape[0] = C, shape[1] = F; return 2;
    default: shape[0] = C; return 1;                          /* norms, attn.c_proj.bias, mlp.c_proj.bias */
    }
}

size_t gpt_layout(const GptConfig *c, GptTensorInfo *info, size_t *ndecay) {
    size_t n = gpt_num_tensors(c);
    GptTensorInfo *t = info ? info : xcalloc(n, sizeof *t);
    static const char *const GLOBAL_NAMES[] = {"wte.weight", "wpe.weight", "ln_f.weight", "ln_f.bias"};
    size_t k = 0;
    for (int i = 0; i < 2; i++, k++) t[k] = (GptTensorInfo){.layer = -1, .kind = i}, snprintf(t[k].name, sizeof t[k].name, "%s", GLOBAL_NAMES[i]);
    for (int l = 0; l < c->L; l++)
        for (int j = 0; j < GPT_LAYER_TENSORS; j++, k++) {
            t[k] = (GptTensorInfo){.layer = l, .kind = j};
            snprintf(t[k].name, sizeof t[k].name, "h.%d.%s", l, LAYER_NAMES[j]);
        }
    for (int i = 2; i < 4; i++, k++) t[k] = (GptTensorInfo){.layer = -1, .kind = i}, snprintf(t[k].name, sizeof t[k].name, "%s", GLOBAL_NAMES[i]);
    for (size_t i = 0; i < n; i++) {
        t[i].ndim = tensor_shape(c, t[i].layer, t[i].kind, t[i].shape);
        t[i].numel = (size_t)t[i].shape[0] * (t[i].ndim == 2 ? (size_t)t[i].shape[1] : 1);
        t[i].decay = t[i].ndim == 2;
        t[i].hf_transposed = t[i].layer >= 0 && t[i].ndim == 2;
    }
    /* matrices first (decayed), then vectors, each on a multiple of GPT_ALIGN */
    size_t at = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n; i++)
            if (t[i].decay == (pass == 0)) {
                t[i].offset = at;
                at += (t[i].numel + GPT_ALIGN - 1) / GPT_ALIGN * GPT_ALIGN;
            }
        if (pass == 0 && ndecay) *ndecay = at;
    }
    if (!info) free(t);
    return at;
}

size_t gpt_param_count(const GptConfig *c) {
    size_t C = (size_t)c->C, F = (size_t)c->F;
    size_t block = 2 * C + (3 * C * C + 3 * C) + (C * C + C) + 2 * C + (F * C + F) + (C * F + C);
    return (size_t)c->V * C + (size_t)c->maxT * C + (size_t)c->L * block + 2 * C;
}

void gpt_point(const GptConfig *c, const GptTensorInfo *info, void *base, size_t esize, GptTensors *t) {
    memset(t, 0, sizeof *t);
    for (size_t i = 0; i < gpt_num_tensors(c); i++) {
        void *p = (char *)base + info[i].offset * esize;
        if (info[i].layer >= 0) t->layer[info[i].layer][info[i].kind] = p;
        else if (info[i].kind == 0) t->wte = p;
        else if (info[i].kind == 1) t->wpe = p;
        else if (info[i].kind == 2) t->lnfw = p;
        else t->lnfb = p;
    }
}

double gpt_flops_per_token(const GptConfig *c, int T) {
    double C = c->C, F = c->F, L = c->L;
    return 6.0 * (L * (4 * C * C + 2 * C * F) + C * c->V) + 12.0 * L * T * C;
}

/* ---- Profiling ---------------------------------------------------------------------------- */

#define PROF_ROWS 48
#define PROF_LEADIN ((size_t)256 << 20)   /* bytes of the memset that covers the launch */

struct GptProfile {
    const char *name[PROF_ROWS];
    int calls[PROF_ROWS];
    double ms[PROF_ROWS];
    int n;
    GpuTimer *timer;
    void *leadin;
    double t0;
};

void gpt_profile_start(Gpt *m) {
    if (m->prof) return;
    GptProfile *p = xcalloc(1, sizeof *p);
    if (m->gpu) {
        p->timer = gpu_timer_new(m->gpu);
        p->leadin = gpu_malloc(PROF_LEADIN);
        gpu_sync(m->gpu);
    }
    m->prof = p;
}

void gpt_profile_stop(Gpt *m) {
    GptProfile *p = m->prof;
    if (!p) return;
    if (m->gpu) gpu_timer_free(p->timer), gpu_free(p->leadin);
    free(p);
    m->prof = NULL;
}

int gpt_profile_report(const Gpt *m, GptProfileRow *out, int n) {
    const GptProfile *p = m->prof;
    if (!p) return 0;
    int k = 0;
    for (int i = 0; i < p->n && k < n; i++) out[k++] = (GptProfileRow){p->name[i], p->calls[i], p->ms[i]};
    for (int i = 1; i < k; i++)   /* insertion sort, largest first */
        for (int j = i; j > 0 && out[j].ms > out[j - 1].ms; j--) {
            GptProfileRow s = out[j];
            out[j] = out[j - 1], out[j - 1] = s;
        }
    return k;
}

static void prof_begin(Gpt *m) {
    GptProfile *p = m->prof;
    if (!p) return;
    if (m->gpu) {
        gpu_zero(m->gpu, p->leadin, PROF_LEADIN);
        gpu_timer_start(p->timer);
    } else {
        p->t0 = now_seconds();
    }
}

static void prof_end(Gpt *m, const char *name) {
    GptProfile *p = m->prof;
    if (!p) return;
    double ms = m->gpu ? gpu_timer_stop(p->timer) : 1000 * (now_seconds() - p->t0);
    int i = 0;
    while (i < p->n && strcmp(p->name[i], name) != 0) i++;
    if (i == p->n) {
        if (p->n == PROF_ROWS) return;
        p->name[p->n++] = name;
    }
    p->calls[i]++, p->ms[i] += ms;
}

#define TIMED(m, name, ...) do { prof_begin(m); __VA_ARGS__; prof_end(m, name); } while (0)

/* ---- The two back ends ---------------------------------------------------------------------- */

static size_t esz(const Gpt *m) { return dtype_size(m->dt); }
static void *at(const Gpt *m, void *base, size_t elems) { return (char *)base + elems * esz(m); }

static void dev_zero(Gpt *m, void *p, size_t bytes) {
    if (m->gpu) gpu_zero(m->gpu, p, bytes);
    else memset(p, 0, bytes);
}

/* C = alpha op(A) op(B) + beta C (matmul.h's contract) */
static void op_gemm(Gpt *m, bool ta, bool tb, int M, int N, int K, float alpha, const void *A, int lda, const void *B,
                    int ldb, float beta, void *C, int ldc) {
    if (m->gpu) gemm_cuda(m->gpu, m->dt, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else matmul_f32(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

static void op_linear_forward(Gpt *m, void *out, const void *inp, const void *w, const void *b, int N, int C, int OC) {
    if (m->gpu) linear_forward_cuda(m->gpu, m->dt, out, inp, w, b, N, C, OC);
    else linear_forward(out, inp, w, b, N, C, OC);
}

/* The backward pass of out = inp w^T + b: dinp OVERWRITTEN (beta 0, so no
 * buffer needs zeroing), dw and db accumulated. */
static void op_linear_backward(Gpt *m, void *dinp, void *dw, void *db, const void *dout, const void *inp,
                               const void *w, int N, int C, int OC) {
    if (dinp) op_gemm(m, false, false, N, C, OC, 1.0f, dout, OC, w, C, 0.0f, dinp, C);
    if (dw && db && m->gpu && (m->fuse & GPT_FUSE_BGRAD)) {   /* the bias's sums in the weight product's epilogue */
        linear_backward_weight_bgrad_cuda(m->gpu, m->dt, dw, db, dout, inp, N, C, OC);
        return;
    }
    if (dw) op_gemm(m, true, false, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f, dw, C);
    if (db) {
        if (m->gpu) linear_backward_cuda(m->gpu, m->dt, NULL, NULL, db, dout, NULL, NULL, N, C, OC);
        else linear_backward(NULL, NULL, db, dout, NULL, NULL, N, C, OC);
    }
}

static void op_layernorm_forward(Gpt *m, void *out, float *mean, float *rstd, const void *inp, const void *w,
                                 const void *b, int N, int C) {
    if (m->gpu) layernorm_forward_cuda(m->gpu, m->dt, out, mean, rstd, inp, w, b, N, C);
    else layernorm_forward(out, mean, rstd, inp, w, b, N, C);
}

static void op_layernorm_backward(Gpt *m, void *dinp, void *dw, void *db, const void *dout, const void *inp,
                                  const void *w, const float *mean, const float *rstd, int N, int C) {
    if (m->gpu) layernorm_backward_cuda(m->gpu, m->dt, dinp, dw, db, dout, inp, w, mean, rstd, N, C);
    else layernorm_backward(dinp, dw, db, dout, inp, w, mean, rstd, N, C);
}

/* Causal attention of block l over its packed qkv [B,T,3C] into atty [B,T,C]:
 * flash.cu's version 4 (version 3's forward, the wider backward) where
 * m->flash, else the plain batched GEMMs. */
static FlashLayout flash_qkv(const Gpt *m) {
    long long C = m->cfg.C;
    return (FlashLayout){3 * (long long)m->T * C, C / m->cfg.NH, 3 * C};
}
static FlashLayout flash_out(const Gpt *m) {
    long long C = m->cfg.C;
    return (FlashLayout){(long long)m->T * C, C / m->cfg.NH, C};
}

/* The flash version the GPT runs: GPT_FLASH_VERSION on Hopper (compute
 * capability 9.0, which its wgmma backward pass needs), else version 4. */
static int flash_version(const Gpt *m) {
    GpuInfo i = gpu_info(m->gpu);
    return gpu_has_wgmma(&i) ? GPT_FLASH_VERSION : GPT_FLASH_VERSION_ELSEWHERE;
}

static void op_attention_forward(Gpt *m, int l) {
    const GptConfig *c = &m->cfg;
    GptActivations *a = &m->a;
    int B = m->B, T = m->T;
    if (m->flash) {
        const void *q = a->qkv[l];
        flash_forward_cuda(m->gpu, m->dt, flash_version(m), a->atty[l], a->att_lse[l], q, at(m, a->qkv[l], c->C), at(m, a->qkv[l], 2 * c->C),
                           B, c->NH, T, c->C / c->NH, true, flash_qkv(m), flash_out(m));
    } else if (m->gpu) {
        attention_forward_cuda(m->gpu, m->dt, a->atty[l], a->att[l], a->qkv[l], a->att_scratch, B, T, c->C, c->NH);
    } else {
        attention_forward(a->atty[l], a->att[l], a->qkv[l], B, T, c->C, c->NH);
    }
}

/* dqkv += the gradient of block l's attention, given datty */
static void op_attention_backward(Gpt *m, int l) {
    const GptConfig *c = &m->cfg;
    GptActivations *a = &m->a;
    int B = m->B, T = m->T;
    if (m->flash) {
        size_t C = (size_t)c->C;
        flash_backward_cuda(m->gpu, m->dt, flash_version(m), a->dqkv, at(m, a->dqkv, C), at(m, a->dqkv, 2 * C), a->datty, a->qkv[l],
                            at(m, a->qkv[l], C), at(m, a->qkv[l], 2 * C), a->atty[l], a->att_lse[l], a->att_scratch, B,
                            c->NH, T, c->C / c->NH, true, flash_qkv(m), flash_out(m));
    } else if (m->gpu) {
        attention_backward_cuda(m->gpu, m->dt, a->dqkv, a->datty, a->qkv[l], a->att[l], a->att_scratch, B, T, c->C, c->NH);
    } else {
        attention_backward(a->dqkv, a->datty, a->qkv[l], a->att[l], B, T, c->C, c->NH);
    }
}

static void op_gelu_forward(Gpt *m, void *out, const void *inp, size_t n) {
    if (m->gpu) gelu_forward_cuda(m->gpu, m->dt, out, inp, n);
    else gelu_forward(out, inp, n);
}

static void op_gelu_backward(Gpt *m, void *dinp, const void *dout, const void *inp, size_t n) {
    if (m->gpu) gelu_backward_cuda(m->gpu, m->dt, dinp, dout, inp, n);
    else gelu_backward(dinp, dout, inp, n);
}

static void op_residual_forward(Gpt *m, void *out, const void *a, const void *b, size_t n) {
    if (m->gpu) residual_forward_cuda(m->gpu, m->dt, out, a, b, n);
    else residual_forward(out, a, b, n);
}

/* ---- Fusions (GPT_FUSE_*; the GPU only) ---------------------------------------------------------- */

static const char *const FUSE_NAMES[] = {"gelu", "residual", "gelu-set", "bgrad"};
#define NFUSE 4

unsigned gpt_fusions_parse(const char *s) {
    unsigned f = 0;
    if (!s) return 0;
    const char *p = s;
    while (*p) {
        size_t n = strcspn(p, ",");
        bool known = false;
        if (n == 0 || (n == 4 && strncmp(p, "none", 4) == 0)) known = true;
        else if (n == 3 && strncmp(p, "all", 3) == 0) f |= GPT_FUSE_ALL, known = true;
        for (int i = 0; i < NFUSE && !known; i++)
            if (strlen(FUSE_NAMES[i]) == n && strncmp(p, FUSE_NAMES[i], n) == 0) f |= 1u << i, known = true;
        if (!known) die("GPT_FUSE: unknown fusion '%.*s' in '%s' (gelu, residual, gelu-set, bgrad, all, none)", (int)n, p, s);
        p += n + (p[n] == ',');
    }
    return f;
}

const char *gpt_fusions_name(unsigned fuse, char *buf, size_t len) {
    size_t at = 0;
    if (len) buf[0] = 0;
    for (int i = 0; i < NFUSE; i++)
        if (fuse & (1u << i) && at < len) at += (size_t)snprintf(buf + at, len - at, "%s%s", at ? "," : "", FUSE_NAMES[i]);
    if (!at && len) snprintf(buf, len, "none");
    return buf;
}

void gpt_set_fusions(Gpt *m, unsigned fuse) { m->fuse = fuse & GPT_FUSE_ALL; }

static bool fusing(const Gpt *m, unsigned f) { return m->gpu && (m->fuse & f); }

/* The output projection of an attention or feed-forward half and its
 * residual add: out = res + inp w^T + b, in the product's epilogue under
 * GPT_FUSE_RESIDUAL, else through the scratch buffer and the residual kernel. */
static void op_projection_residual(Gpt *m, const char *name, void *out, const void *res, const void *inp, const void *w,
                                   const void *b, int N, int C, int OC) {
    if (fusing(m, GPT_FUSE_RESIDUAL)) {
        TIMED(m, name, linear_residual_forward_cuda(m->gpu, m->dt, out, inp, w, b, res, N, C, OC));
        return;
    }
    TIMED(m, name, op_linear_forward(m, m->a.scratch, inp, w, b, N, C, OC));
    TIMED(m, "residual fwd", op_residual_forward(m, out, res, m->a.scratch, (size_t)N * OC));
}

/* ---- Making and freeing a model ------------------------------------------------------------------ */

/* Carve the activations, or (m->a untouched, dry) only count their bytes.
 * With an arena (GptMemOptions.arena) the buffers come from it.  flash:
 * the attention keeps its log-sum-exp instead of its probabilities;
 * segment: GPT_RECOMPUTE_SEGMENTS's blocks a segment (0: none). */
typedef struct {
    Gpt *m;
    bool dry, flash;
    int segment;
    size_t bytes;
    Arena *arena;
    GptActivations *a;
    const GptMemOptions *o;
} Carver;

static void *take(Carver *k, size_t bytes) {
    bytes = (bytes + 255) / 256 * 256;
    k->bytes += bytes;
    if (k->dry) return NULL;
    if (k->arena) return k->m->gpu ? arena_alloc(k->arena, bytes) : arena_alloc_zero(k->arena, bytes);
    void *p = k->m->gpu ? gpu_malloc(bytes) : xcalloc(1, bytes);
    Gpt *m = k->m;
    m->owned = xrealloc(m->owned, (m->nowned + 1) * sizeof *m->owned);
    m->owned[m->nowned++] = p;
    return p;
}

bool gpt_flash_allowed(const GptConfig *c, DType dt, bool gpu) {
    int hs = c->C / c->NH;
    return gpu && (dt == DT_BF16 || dt == DT_F16) && (hs == 64 || hs == 128);
}

int gpt_segment_blocks(const GptConfig *c, const GptMemOptions *o) {
    if (!o || o->recompute != GPT_RECOMPUTE_SEGMENTS) return 0;
    int k = o->segment > 0 ? o->segment : (int)lround(sqrt((double)c->L));
    return k < 1 ? 1 : k > c->L ? c->L : k;
}

/* Block l's activations: what its backward pass reads.  cheap: also the
 * three that selective recomputation rebuilds (ln1, ln2, fchg); out: also
 * the block's output res3. */
static void carve_layer_parts(Carver *k, const GptConfig *c, DType dt, int B, int T, int l, bool cheap, bool out) {
    GptActivations *a = k->a;
    size_t e = dtype_size(dt), N = (size_t)B * T, C = (size_t)c->C, F = (size_t)c->F;
    if (cheap) a->ln1[l] = take(k, N * C * e);
    a->qkv[l] = take(k, 3 * N * C * e), a->atty[l] = take(k, N * C * e);
    if (k->flash) a->att_lse[l] = take(k, N * (size_t)c->NH * 4);
    else a->att[l] = take(k, N * (size_t)c->NH * T * e);
    a->res2[l] = take(k, N * C * e);
    if (cheap) a->ln2[l] = take(k, N * C * e);
    a->fch[l] = take(k, N * F * e);
    if (cheap) a->fchg[l] = take(k, N * F * e);
    if (out) a->res3[l] = take(k, N * C * e);
    a->ln1_mean[l] = take(k, N * 4), a->ln1_rstd[l] = take(k, N * 4);
    a->ln2_mean[l] = take(k, N * 4), a->ln2_rstd[l] = take(k, N * 4);
}

static void carve_layer(Carver *k, const GptConfig *c, DType dt, int B, int T, int l) {
    carve_layer_parts(k, c, dt, B, T, l, true, true);
}

/* Block l uses block j's buffers (all but its output, which the caller sets). */
static void alias_layer(GptActivations *a, int l, int j) {
    a->ln1[l] = a->ln1[j], a->qkv[l] = a->qkv[j], a->atty[l] = a->atty[j], a->att[l] = a->att[j];
    a->att_lse[l] = a->att_lse[j], a->res2[l] = a->res2[j], a->ln2[l] = a->ln2[j];
    a->fch[l] = a->fch[j], a->fchg[l] = a->fchg[j];
    a->ln1_mean[l] = a->ln1_mean[j], a->ln1_rstd[l] = a->ln1_rstd[j];
    a->ln2_mean[l] = a->ln2_mean[j], a->ln2_rstd[l] = a->ln2_rstd[j];
}

/* The L blocks' activations under the recomputation policy. */
static void carve_blocks(Carver *k, const GptConfig *c, DType dt, int B, int T) {
    GptActivations *a = k->a;
    size_t e = dtype_size(dt), N = (size_t)B * T, C = (size_t)c->C, F = (size_t)c->F;
    int L = c->L, S = k->segment, policy = k->o ? k->o->recompute : GPT_RECOMPUTE_NONE;
    if (policy == GPT_RECOMPUTE_SELECTIVE) {   /* one shared ln1, ln2 and fchg */
        for (int l = 0; l < L; l++) carve_layer_parts(k, c, dt, B, T, l, false, true);
        void *ln1 = take(k, N * C * e), *ln2 = take(k, N * C * e), *fchg = take(k, N * F * e);
        for (int l = 0; l < L; l++) a->ln1[l] = ln1, a->ln2[l] = ln2, a->fchg[l] = fchg;
    } else if (policy == GPT_RECOMPUTE_SEGMENTS) {   /* S slots; each segment's output kept */
        for (int j = 0; j < S; j++) carve_layer_parts(k, c, dt, B, T, j, true, false);
        for (int l = 0; l < L; l++) {
            if (l >= S) alias_layer(a, l, l % S);
            bool end = (l + 1) % S == 0 || l == L - 1;
            if (end) a->res3[l] = take(k, N * C * e);
        }
        for (int l = 0; l < L; l++)   /* inside a segment, a block's output lives in the slot */
            if (!((l + 1) % S == 0 || l == L - 1)) {
                if (l < S) a->res3[l] = take(k, N * C * e);
                else a->res3[l] = a->res3[l % S];
            }
    } else {
        for (int l = 0; l < L; l++) carve_layer(k, c, dt, B, T, l);
    }
}

/* The head: the final norm, its statistics, the logits (R rows with the fused classifier), their lse. */
static void carve_head(Carver *k, const GptConfig *c, DType dt, int B, int T) {
    GptActivations *a = k->a;
    size_t e = dtype_size(dt), N = (size_t)B * T, C = (size_t)c->C;
    size_t rows = k->o && k->o->classifier_rows > 0 && (size_t)k->o->classifier_rows < N ? (size_t)k->o->classifier_rows : N;
    a->lnf = take(k, N * C * e);
    a->logits = take(k, rows * (size_t)c->V * e);
    a->lnf_mean = take(k, N * 4), a->lnf_rstd = take(k, N * 4), a->lse = take(k, N * 4);
}

/* What lives through the whole step: the embedding's output, the backward
 * scratch, the GPU's attention scratch and sorted tokens, the batch. */
static void carve_base(Carver *k, const GptConfig *c, DType dt, int B, int T) {
    GptActivations *a = k->a;
    size_t e = dtype_size(dt), N = (size_t)B * T, C = (size_t)c->C, F = (size_t)c->F;
    a->encoded = take(k, N * C * e), a->scratch = take(k, N * C * e);
    a->dres = take(k, N * C * e), a->dln = take(k, N * C * e), a->dqkv = take(k, 3 * N * C * e);
    a->datty = take(k, N * C * e), a->dfch = take(k, N * F * e), a->dfchg = take(k, N * F * e);
    bool gpu = k->dry ? gpu_available() : k->m->gpu != NULL;   /* a dry count is for sizing a GPU */
    size_t att = k->flash ? flash_backward_scratch_bytes(B, c->NH, T, c->C / c->NH)
                          : gpu ? attention_scratch_bytes(dt, B, T, c->C, c->NH) : 0;
    a->att_scratch = gpu ? take(k, att) : NULL;
    a->emb_sort = gpu ? take(k, embedding_sort_bytes((int)N)) : NULL;
    a->tokens = take(k, N * 4), a->targets = take(k, N * 4);
    a->losses = take(k, N * 4);   /* read after the step (the mean loss) */
}

static void carve_activations(Carver *k, const GptConfig *c, DType dt, int B, int T) {
    carve_base(k, c, dt, B, T);
    carve_blocks(k, c, dt, B, T);
    carve_head(k, c, dt, B, T);
}

size_t gpt_activation_bytes_opts(const GptConfig *c, DType dt, int B, int T, const GptMemOptions *o) {
    GptActivations scratch_acts;
    memset(&scratch_acts, 0, sizeof scratch_acts);
    Carver k = {.m = NULL, .dry = true, .a = &scratch_acts, .o = o, .segment = gpt_segment_blocks(c, o),
                .flash = (!o || o->attention == GPT_ATTENTION_FLASH) && gpt_flash_allowed(c, dt, gpu_available())};
    carve_activations(&k, c, dt, B, T);
    return k.bytes;
}

size_t gpt_activation_bytes(const GptConfig *c, DType dt, int B, int T) {
    return gpt_activation_bytes_opts(c, dt, B, T, NULL);
}

static void release(Gpt *m, void *p) {
    if (!p) return;
    if (m->gpu) gpu_free(p);
    else free(p);
}

Gpt *gpt_new(const GptConfig *c, Gpu *g, DType dt, int Bmax, int Tmax) {
    return gpt_new_opts(c, g, dt, Bmax, Tmax, NULL);
}

Gpt *gpt_new_opts(const GptConfig *c, Gpu *g, DType dt, int Bmax, int Tmax, const GptMemOptions *o) {
    char err[256];
    if (!gpt_config_valid(c, err, sizeof err)) die("%s", err);
    if (Bmax <= 0 || Tmax <= 0 || Tmax > c->maxT)
        die("gpt_new: batches of %d x %d do not fit a model of %d positions", Bmax, Tmax, c->maxT);
    if (!g && dt != DT_F32) die("gpt_new: the CPU model is f32 only (asked for %s)", dtype_name(dt));
    if (g && dt != DT_F32 && dt != DT_BF16 && dt != DT_F16) die("gpt_new: dtype %s is not supported on the GPU", dtype_name(dt));
    Gpt *m = xcalloc(1, sizeof *m);
    m->cfg = *c, m->gpu = g, m->dt = dt, m->Bmax = Bmax, m->Tmax = Tmax;
    const char *fe = getenv("GPT_FUSE");   /* unset: every fusion in bf16 and f16 on the GPU, none in f32 (gpt.h) */
    m->fuse = fe ? gpt_fusions_parse(fe) : g && dt != DT_F32 ? GPT_FUSE_ALL : 0;
    m->ntensors = gpt_num_tensors(c);
    m->info = xcalloc(m->ntensors, sizeof *m->info);
    m->nparams = gpt_layout(c, m->info, &m->ndecay);
    size_t n = m->nparams;
    if (g) {
        m->params = gpu_malloc(n * esz(m)), m->grads = gpu_malloc(n * esz(m));
        m->m = gpu_malloc(n * 4), m->v = gpu_malloc(n * 4);
        if (dt != DT_F32) m->master = gpu_malloc(n * 4), gpu_zero(g, m->master, n * 4);
        gpu_zero(g, m->params, n * esz(m)), gpu_zero(g, m->grads, n * esz(m));
        gpu_zero(g, m->m, n * 4), gpu_zero(g, m->v, n * 4);
    } else {
        m->params = xcalloc(n, 4), m->grads = xcalloc(n, 4), m->m = xcalloc(n, 4), m->v = xcalloc(n, 4);
    }
    gpt_point(c, m->info, m->params, esz(m), &m->p);
    gpt_point(c, m->info, m->grads, esz(m), &m->g);
    if (o) {
        if (o->classifier_rows < 0) die("gpt_new: classifier_rows must be >= 0 (0: the unfused classifier), not %d", o->classifier_rows);
        if (o->attention != GPT_ATTENTION_PLAIN && o->attention != GPT_ATTENTION_FLASH)
            die("gpt_new: attention must be GPT_ATTENTION_PLAIN or GPT_ATTENTION_FLASH, not %d", o->attention);
        if (o->recompute < GPT_RECOMPUTE_NONE || o->recompute > GPT_RECOMPUTE_SEGMENTS)
            die("gpt_new: recompute must be GPT_RECOMPUTE_NONE, _SELECTIVE or _SEGMENTS, not %d", o->recompute);
        if (o->segment < 0) die("gpt_new: segment must be >= 0 blocks (0: sqrt(L)), not %d", o->segment);
        if (o->arena && o->recompute != GPT_RECOMPUTE_NONE) die("gpt_new: the arena option cannot be combined with recomputation");
        m->mem = *o;
    }
    m->flash = m->mem.attention == GPT_ATTENTION_FLASH && gpt_flash_allowed(c, dt, g != NULL);
    m->segment = gpt_segment_blocks(c, &m->mem);
    Carver k = {.m = m, .dry = false, .a = &m->a, .o = &m->mem, .flash = m->flash, .segment = m->segment};
    if (m->mem.arena) {
        m->act_bytes = gpt_activation_bytes_opts(c, dt, Bmax, Tmax, &m->mem);
        if (g) m->arena = gpu_arena_new(g, "activations", m->act_bytes);
        else m->arena = arena_new("activations", m->act_bytes);
        k.arena = m->arena;
        carve_base(&k, c, dt, Bmax, Tmax);
        m->marks[0] = arena_mark(m->arena);
    } else {
        carve_activations(&k, c, dt, Bmax, Tmax);
        m->act_bytes = k.bytes;
    }
    m->host_targets = xmalloc_array((size_t)Bmax * Tmax, sizeof *m->host_targets);
    m->host_losses = xmalloc_array((size_t)Bmax * Tmax, sizeof *m->host_losses);
    return m;
}

void gpt_free(Gpt *m) {
    if (!m) return;
    gpt_profile_stop(m);
    if (m->arena) {   /* every activation lives in the arena */
        if (m->gpu) gpu_arena_free(m->arena);
        else arena_free(m->arena);
    }
    for (size_t i = 0; i < m->nowned; i++) release(m, m->owned[i]);
    void *ps[] = {m->params, m->grads, m->m, m->v, m->master};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) release(m, ps[i]);
    free(m->owned);
    free(m->info), free(m->host_targets), free(m->host_losses);
    free(m);
}

/* ---- Parameters ------------------------------------------------------------------------------------- */

void gpt_set_params(Gpt *m, const float *host) {
    size_t n = m->nparams;
    if (!m->gpu) { memcpy(m->params, host, n * 4); return; }
    if (m->master) {
        gpu_upload(m->gpu, m->master, host, n * 4);
        gpu_convert(m->gpu, m->dt, m->params, DT_F32, m->master, n);
        gpu_sync(m->gpu);
    } else {
        gpu_upload(m->gpu, m->params, host, n * 4);
    }
}

void gpt_get_params(const Gpt *m, float *host) {
    size_t n = m->nparams;
    if (!m->gpu) memcpy(host, m->params, n * 4);
    else if (m->master) gpu_download(m->gpu, host, m->master, n * 4);
    else gpu_download(m->gpu, host, m->params, n * 4);
}

void gpt_get_grads(const Gpt *m, float *host) {
    if (!m->gpu) memcpy(host, m->grads, m->nparams * 4);
    else gpu_download_f32(m->gpu, m->dt, host, m->grads, m->nparams);
}

void gpt_init(Gpt *m, uint64_t seed) {
    const GptConfig *c = &m->cfg;
    float *h = xcalloc(m->nparams, sizeof *h);
    Rng rng;
    rng_seed(&rng, seed);
    double proj = 0.02 / sqrt(2.0 * c->L);
    for (size_t i = 0; i < m->ntensors; i++) {
        const GptTensorInfo *t = &m->info[i];
        float *p = h + t->offset;
        bool gain = t->layer < 0 ? t->kind == 2 : (t->kind == GPT_LN1W || t->kind == GPT_LN2W);
        if (t->ndim == 2) {
            double s = t->layer >= 0 && (t->kind == GPT_ATTPROJW || t->kind == GPT_FCPROJW) ? proj : 0.02;
            for (size_t j = 0; j < t->numel; j++) p[j] = (float)(s * rng_normal(&rng));
        } else {
            for (size_t j = 0; j < t->numel; j++) p[j] = gain ? 1.0f : 0.0f;
        }
    }
    gpt_set_params(m, h);
    free(h);
    m->step = 0;
    if (m->gpu) gpu_zero(m->gpu, m->m, m->nparams * 4), gpu_zero(m->gpu, m->v, m->nparams * 4);
    else memset(m->m, 0, m->nparams * 4), memset(m->v, 0, m->nparams * 4);
}

/* ---- Forward ------------------------------------------------------------------------------------------ */

/* Check the batch, copy it to the device; returns the number of targets >= 0. */
static size_t load_batch(Gpt *m, const int32_t *tokens, const int32_t *targets, int B, int T) {
    const GptConfig *c = &m->cfg;
    if (B <= 0 || T <= 0 || B > m->Bmax || T > m->Tmax)
        die("gpt: a batch of %d x %d does not fit the model's %d x %d", B, T, m->Bmax, m->Tmax);
    size_t N = (size_t)B * T, count = 0;
    for (size_t i = 0; i < N; i++) {
        if (tokens[i] < 0 || tokens[i] >= c->V)
            die("gpt: token %d at position %zu of the batch is outside the vocabulary [0, %d)", tokens[i], i, c->V);
        int32_t y = targets ? targets[i] : -1;
        if (y < -1 || y >= c->V) die("gpt: target %d at position %zu is outside [-1, %d)", y, i, c->V);
        m->host_targets[i] = y;
        count += y >= 0;
    }
    if (m->gpu) {
        gpu_upload(m->gpu, m->a.tokens, tokens, N * 4);
        gpu_upload(m->gpu, m->a.targets, m->host_targets, N * 4);
    } else {
        memcpy(m->a.tokens, tokens, N * 4);
        memcpy(m->a.targets, m->host_targets, N * 4);
    }
    m->B = B, m->T = T;
    return count;
}

/* ---- Memory options: the arena's timeline, the fused classifier ---------------------------------- */

static void mem_event(Gpt *m, const char *what, int l) {
    if (m->nevents == GPT_MAX_EVENTS) return;
    GptMemEvent *e = &m->events[m->nevents++];
    if (l >= 0) snprintf(e->what, sizeof e->what, "%s %d", what, l);
    else snprintf(e->what, sizeof e->what, "%s", what);
    e->live = m->arena->used;
}

/* mem.arena: carve block l's activations (l < L) or the head's (l == L) for this batch */
static void arena_push(Gpt *m, int l) {
    if (!m->arena) return;
    m->marks[1 + l] = arena_mark(m->arena);
    Carver k = {.m = m, .dry = false, .a = &m->a, .o = &m->mem, .arena = m->arena, .flash = m->flash};
    if (l < m->cfg.L) carve_layer(&k, &m->cfg, m->dt, m->B, m->T, l), mem_event(m, "forward block", l);
    else carve_head(&k, &m->cfg, m->dt, m->B, m->T), mem_event(m, "head", -1);
}

/* mem.arena: release block l's activations (or the head's, l == L) */
static void arena_pop(Gpt *m, int l) {
    if (!m->arena) return;
    arena_release_to(m->arena, m->marks[1 + l]);
    if (l < m->cfg.L) mem_event(m, "backward block", l);
    else mem_event(m, "backward head", -1);
}

/* The fused classifier: logits, loss and (grad) their gradient R rows at a
 * time; dln overwritten and dwte accumulated chunk by chunk. */
static void fused_classifier(Gpt *m, bool grad, float dloss) {
    const GptConfig *c = &m->cfg;
    GptActivations *a = &m->a;
    int N = m->B * m->T, C = c->C, V = c->V, R = m->mem.classifier_rows;
    for (int r0 = 0; r0 < N; r0 += R) {
        int n = N - r0 < R ? N - r0 : R;
        const void *x = at(m, a->lnf, (size_t)r0 * C);
        TIMED(m, "matmul fwd: lm head", op_linear_forward(m, a->logits, x, m->p.wte, NULL, n, C, V));
        if (grad) {
            TIMED(m, "cross-entropy", if (m->gpu) cross_entropy_fused_cuda(m->gpu, m->dt, a->losses + r0, a->logits, a->targets + r0, dloss, n, V);
                  else {
                      cross_entropy_forward(a->losses + r0, a->lse + r0, a->logits, a->targets + r0, n, V);
                      cross_entropy_backward(a->logits, a->logits, a->lse + r0, a->targets + r0, dloss, n, V);
                  });
            TIMED(m, "matmul bwd: lm head", op_linear_backward(m, at(m, a->dln, (size_t)r0 * C), m->g.wte, NULL, a->logits, x,
                                                               m->p.wte, n, C, V));
        } else {
            TIMED(m, "cross-entropy", if (m->gpu) cross_entropy_forward_cuda(m->gpu, m->dt, a->losses + r0, a->lse + r0, a->logits, a->targets + r0, n, V);
                  else cross_entropy_forward(a->losses + r0, a->lse + r0, a->logits, a->targets + r0, n, V));
        }
    }
}

static bool fused(const Gpt *m) { return m->mem.classifier_rows > 0; }

/* Block l's input: the embedding's output or the block before's */
static const void *block_input(const Gpt *m, int l) { return l > 0 ? m->a.res3[l - 1] : m->a.encoded; }

/* The forward pass of block l, from its input to res3[l] */
static void forward_block(Gpt *m, int l) {
    const GptConfig *c = &m->cfg;
    GptActivations *a = &m->a;
    int N = m->B * m->T, C = c->C, F = c->F;
    void *const *w = m->p.layer[l];
    const void *x = block_input(m, l);
    TIMED(m, "layernorm fwd", op_layernorm_forward(m, a->ln1[l], a->ln1_mean[l], a->ln1_rstd[l], x, w[GPT_LN1W], w[GPT_LN1B], N, C));
    TIMED(m, "matmul fwd: qkv", op_linear_forward(m, a->qkv[l], a->ln1[l], w[GPT_QKVW], w[GPT_QKVB], N, C, 3 * C));
    TIMED(m, "attention fwd", op_attention_forward(m, l));
    op_projection_residual(m, fusing(m, GPT_FUSE_RESIDUAL) ? "matmul fwd: attn proj + residual" : "matmul fwd: attn proj",
                           a->res2[l], x, a->atty[l], w[GPT_ATTPROJW], w[GPT_ATTPROJB], N, C, C);
    TIMED(m, "layernorm fwd", op_layernorm_forward(m, a->ln2[l], a->ln2_mean[l], a->ln2_rstd[l], a->res2[l], w[GPT_LN2W], w[GPT_LN2B], N, C));
    if (fusing(m, GPT_FUSE_GELU)) {
        TIMED(m, "matmul fwd: fc + gelu", linear_gelu_forward_cuda(m->gpu, m->dt, a->fchg[l], a->fch[l], a->ln2[l], w[GPT_FCW], w[GPT_FCB], N, C, F));
    } else {
        TIMED(m, "matmul fwd: fc", op_linear_forward(m, a->fch[l], a->ln2[l], w[GPT_FCW], w[GPT_FCB], N, C, F));
        TIMED(m, "gelu fwd", op_gelu_forward(m, a->fchg[l], a->fch[l], (size_t)N * F));
    }
    op_projection_residual(m, fusing(m, GPT_FUSE_RESIDUAL) ? "matmul fwd: fc proj + residual" : "matmul fwd: fc proj",
                           a->res3[l], a->res2[l], a->fchg[l], w[GPT_FCPROJW], w[GPT_FCPROJB], N, F, C);
}

static void forward_blocks(Gpt *m) {
    const GptConfig *c = &m->cfg;
    GptActivations *a = &m->a;
    int B = m->B, T = m->T, N = B * T, C = c->C;
    TIMED(m, "embedding fwd", if (m->gpu) embedding_forward_cuda(m->gpu, m->dt, a->encoded, a->tokens, m->p.wte, m->p.wpe, B, T, C);
          else embedding_forward(a->encoded, a->tokens, m->p.wte, m->p.wpe, B, T, C));
    if (m->arena) {
        arena_release_to(m->arena, m->marks[0]);
        m->nevents = 0;
        mem_event(m, "embedding", -1);
    }
    for (int l = 0; l < c->L; l++) {
        arena_push(m, l);
        forward_block(m, l);
    }
    arena_push(m, c->L);
    TIMED(m, "layernorm fwd", op_layernorm_forward(m, a->lnf, a->lnf_mean, a->lnf_rstd, a->res3[c->L - 1], m->p.lnfw, m->p.lnfb, N, C));
    if (!fused(m)) TIMED(m, "matmul fwd: lm head", op_linear_forward(m, a->logits, a->lnf, m->p.wte, NULL, N, C, c->V));
}

static float mean_loss(Gpt *m, size_t count) {
    size_t N = (size_t)m->B * m->T;
    if (m->gpu) gpu_download(m->gpu, m->host_losses, m->a.losses, N * 4);
    else memcpy(m->host_losses, m->a.losses, N * 4);
    if (count == 0) return NAN;
    double s = 0;
    for (size_t i = 0; i < N; i++) s += m->host_losses[i];
    return (float)(s / (double)count);
}

float gpt_forward(Gpt *m, const int32_t *tokens, const int32_t *targets, int B, int T) {
    size_t count = load_batch(m, tokens, targets, B, T);
    forward_blocks(m);
    if (fused(m)) {
        if (!targets) return NAN;
        fused_classifier(m, false, 0.0f);
        return mean_loss(m, count);
    }
    if (!targets) return NAN;
    int N = B * T, V = m->cfg.V;
    TIMED(m, "cross-entropy", if (m->gpu) cross_entropy_forward_cuda(m->gpu, m->dt, m->a.losses, m->a.lse, m->a.logits, m->a.targets, N, V);
          else cross_entropy_forward(m->a.losses, m->a.lse, m->a.logits, m->a.targets, N, V));
    return mean_loss(m, count);
}

void gpt_get_logits(const Gpt *m, float *host) {
    if (fused(m)) die("gpt_get_logits: a model with the fused classifier keeps no logits [B,T,V]");
    size_t n = (size_t)m->B * m->T * m->cfg.V;
    if (m->gpu) gpu_download_f32(m->gpu, m->dt, host, m->a.logits, n);
    else memcpy(host, m->a.logits, n * 4);
}

void gpt_get_losses(const Gpt *m, float *host) {
    size_t n = (size_t)m->B * m->T;
    if (m->gpu) gpu_download(m->gpu, host, m->a.losses, n * 4);
    else memcpy(host, m->a.losses, n * 4);
}

/* ---- Backward ------------------------------------------------------------------------------------------ */

/* The backward pass of block l: dres holds the gradient of its output on
 * entry and of its input on return; its weights' gradients accumulate. */
static void backward_block(Gpt *m, int l) {
    const GptConfig *c = &m->cfg;
    GptActivations *a = &m->a;
    int N = m->B * m->T, C = c->C, F = c->F;
    size_t e = esz(m);
    void *const *w = m->p.layer[l];
    void *const *gw = m->g.layer[l];
    const void *x = block_input(m, l);
    /* dres is the gradient of the block's output: the feed-forward half */
    if (fusing(m, GPT_FUSE_GELU)) {   /* dfch = (dres w) gelu'(fch) in the product's epilogue; then the weight's gradients */
        TIMED(m, "matmul bwd: fc proj + gelu", {
            linear_dgelu_backward_cuda(m->gpu, m->dt, a->dfch, a->dres, w[GPT_FCPROJW], a->fch[l], N, F, C);
            op_linear_backward(m, NULL, gw[GPT_FCPROJW], gw[GPT_FCPROJB], a->dres, a->fchg[l], w[GPT_FCPROJW], N, F, C);
        });
    } else {
        TIMED(m, "matmul bwd: fc proj", op_linear_backward(m, a->dfchg, gw[GPT_FCPROJW], gw[GPT_FCPROJB], a->dres, a->fchg[l], w[GPT_FCPROJW], N, F, C));
        if (fusing(m, GPT_FUSE_GELU_SET)) {
            TIMED(m, "gelu bwd", gelu_backward_set_cuda(m->gpu, m->dt, a->dfch, a->dfchg, a->fch[l], (size_t)N * F));
        } else {
            TIMED(m, "memset", dev_zero(m, a->dfch, (size_t)N * F * e));
            TIMED(m, "gelu bwd", op_gelu_backward(m, a->dfch, a->dfchg, a->fch[l], (size_t)N * F));
        }
    }
    TIMED(m, "matmul bwd: fc", op_linear_backward(m, a->dln, gw[GPT_FCW], gw[GPT_FCB], a->dfch, a->ln2[l], w[GPT_FCW], N, C, F));
    TIMED(m, "layernorm bwd", op_layernorm_backward(m, a->dres, gw[GPT_LN2W], gw[GPT_LN2B], a->dln, a->res2[l], w[GPT_LN2W],
                                                    a->ln2_mean[l], a->ln2_rstd[l], N, C));
    /* dres is now the gradient of res2: the attention half */
    TIMED(m, "matmul bwd: attn proj", op_linear_backward(m, a->datty, gw[GPT_ATTPROJW], gw[GPT_ATTPROJB], a->dres, a->atty[l], w[GPT_ATTPROJW], N, C, C));
    TIMED(m, "memset", dev_zero(m, a->dqkv, (size_t)N * 3 * C * e));
    TIMED(m, "attention bwd", op_attention_backward(m, l));
    TIMED(m, "matmul bwd: qkv", op_linear_backward(m, a->dln, gw[GPT_QKVW], gw[GPT_QKVB], a->dqkv, a->ln1[l], w[GPT_QKVW], N, C, 3 * C));
    TIMED(m, "layernorm bwd", op_layernorm_backward(m, a->dres, gw[GPT_LN1W], gw[GPT_LN1B], a->dln, x, w[GPT_LN1W],
                                                    a->ln1_mean[l], a->ln1_rstd[l], N, C));
}

/* GPT_RECOMPUTE_SELECTIVE: rebuild block l's two norms' outputs and GELU's
 * output, the same calls on the same inputs as its forward pass made */
static void recompute_cheap(Gpt *m, int l) {
    const GptConfig *c = &m->cfg;
    GptActivations *a = &m->a;
    int N = m->B * m->T, C = c->C, F = c->F;
    void *const *w = m->p.layer[l];
    TIMED(m, "recompute", {
        op_gelu_forward(m, a->fchg[l], a->fch[l], (size_t)N * F);
        op_layernorm_forward(m, a->ln2[l], a->ln2_mean[l], a->ln2_rstd[l], a->res2[l], w[GPT_LN2W], w[GPT_LN2B], N, C);
        op_layernorm_forward(m, a->ln1[l], a->ln1_mean[l], a->ln1_rstd[l], block_input(m, l), w[GPT_LN1W], w[GPT_LN1B], N, C);
    });
}

/* The blocks' backward passes, last to first, under the recomputation policy */
static void backward_through_blocks(Gpt *m) {
    int L = m->cfg.L, S = m->segment;
    if (S == 0) {
        for (int l = L - 1; l >= 0; l--) {
            if (m->mem.recompute == GPT_RECOMPUTE_SELECTIVE) recompute_cheap(m, l);
            backward_block(m, l);
            arena_pop(m, l);
        }
        return;
    }
    int last = (L - 1) / S * S;   /* the last segment's first block: its activations are still there */
    for (int s = last; s >= 0; s -= S) {
        int end = s + S < L ? s + S : L;
        if (s != last) {   /* rerun the segment's forward pass, timed as one "recompute" */
            GptProfile *p = m->prof;
            prof_begin(m);
            m->prof = NULL;
            for (int l = s; l < end; l++) forward_block(m, l);
            m->prof = p;
            prof_end(m, "recompute");
        }
        for (int l = end - 1; l >= s; l--) backward_block(m, l);
    }
}

static void backward_blocks(Gpt *m) {
    const GptConfig *c = &m->cfg;
    GptActivations *a = &m->a;
    int B = m->B, T = m->T, N = B * T, C = c->C;
    size_t e = esz(m);
    /* the logits hold their gradient; the tied output layer first */
    if (!fused(m))   /* the fused classifier has already written dln and added into dwte */
        TIMED(m, "matmul bwd: lm head", op_linear_backward(m, a->dln, m->g.wte, NULL, a->logits, a->lnf, m->p.wte, N, C, c->V));
    TIMED(m, "memset", dev_zero(m, a->dres, (size_t)N * C * e));
    TIMED(m, "layernorm bwd", op_layernorm_backward(m, a->dres, m->g.lnfw, m->g.lnfb, a->dln, a->res3[c->L - 1], m->p.lnfw,
                                                    a->lnf_mean, a->lnf_rstd, N, C));
    arena_pop(m, c->L);
    backward_through_blocks(m);
    TIMED(m, "embedding bwd", if (m->gpu) embedding_backward_sorted_cuda(m->gpu, m->dt, m->g.wte, m->g.wpe, a->dres, a->emb_sort, B, T, C);
          else embedding_backward(m->g.wte, m->g.wpe, a->dres, a->tokens, B, T, C));
}

float gpt_forward_backward(Gpt *m, const int32_t *tokens, const int32_t *targets, int B, int T) {
    return gpt_forward_backward_scaled(m, tokens, targets, B, T, 1.0f);   /* a scale of 1: the same arithmetic */
}

void gpt_zero_grad(Gpt *m) {
    TIMED(m, "memset", dev_zero(m, m->grads, m->nparams * esz(m)));
}

float gpt_update(Gpt *m, const GptAdamW *o) {
    return gpt_update_scaled(m, o, 1.0f);
}

float gpt_step(Gpt *m, const int32_t *tokens, const int32_t *targets, int B, int T, const GptAdamW *opt, float *norm) {
    gpt_zero_grad(m);
    float loss = gpt_forward_backward(m, tokens, targets, B, T);
    float nrm = gpt_update(m, opt);
    if (norm) *norm = nrm;
    return loss;
}

/* ---- Files ------------------------------------------------------------------------------------------------ */

static void fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* dst[cols, rows] = src[rows, cols]^T */
static void transpose(float *dst, const float *src, int64_t rows, int64_t cols) {
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) dst[j * rows + i] = src[i * cols + j];
}

/* A NamedTensor of host memory: name, dtype, up to three dimensions. */
static NamedTensor named(const char *name, DType dt, int ndim, int64_t s0, int64_t s1, int64_t s2, void *data) {
    int64_t shape[3] = {s0, s1, s2};
    return (NamedTensor){.name = name, .t = tensor_wrap(dt, DEV_CPU, ndim, shape, data)};
}

bool gpt_save(const Gpt *m, const char *path, const Provenance *prov, const char *const *meta, char *err,
              size_t errlen) {
    const GptConfig *c = &m->cfg;
    float *h = xmalloc_array(m->nparams, sizeof *h), *tr = xmalloc_array(m->nparams, sizeof *tr);
    gpt_get_params(m, h);
    NamedTensor *t = xcalloc(m->ntensors, sizeof *t);
    for (size_t i = 0; i < m->ntensors; i++) {
        const GptTensorInfo *ti = &m->info[i];
        if (ti->hf_transposed) {   /* GPT-2's Conv1D layout: [in, out] */
            transpose(tr + ti->offset, h + ti->offset, ti->shape[0], ti->shape[1]);
            t[i] = named(ti->name, DT_F32, 2, ti->shape[1], ti->shape[0], 0, tr + ti->offset);
        } else {
            t[i] = named(ti->name, DT_F32, ti->ndim, ti->shape[0], ti->ndim == 2 ? ti->shape[1] : 0, 0, h + ti->offset);
        }
    }
    char v[6][24];
    snprintf(v[0], 24, "%d", c->L), snprintf(v[1], 24, "%d", c->NH), snprintf(v[2], 24, "%d", c->C);
    snprintf(v[3], 24, "%d", c->F), snprintf(v[4], 24, "%d", c->maxT), snprintf(v[5], 24, "%d", c->V);
    const char *base[] = {"format", "pt", "n_layer", v[0], "n_head", v[1], "n_embd", v[2], "n_inner", v[3],
                          "n_positions", v[4], "vocab_size", v[5]};
    size_t nb = sizeof base / sizeof base[0], nm = 0;
    while (meta && meta[nm]) nm++;
    const char **all = xcalloc(nb + nm + 1, sizeof *all);
    memcpy(all, base, sizeof base);
    for (size_t i = 0; i < nm; i++) all[nb + i] = meta[i];
    bool ok = ckpt_save(path, t, m->ntensors, prov, all, err, errlen);
    free(all), free(t), free(h), free(tr);
    return ok;
}

/* The tensor named name, or "transformer." name. */
static const Tensor *find_tensor(const Ckpt *k, const char *name) {
    const NamedTensor *t = ckpt_find(k, name);
    if (t) return &t->t;
    char buf[80];
    snprintf(buf, sizeof buf, "transformer.%s", name);
    t = ckpt_find(k, buf);
    return t ? &t->t : NULL;
}
/* The same, as the checkpoint's own entry (for its index). */
static const NamedTensor *find_named(const Ckpt *k, const char *name) {
    const NamedTensor *t = ckpt_find(k, name);
    if (t) return t;
    char buf[80];
    snprintf(buf, sizeof buf, "transformer.%s", name);
    return ckpt_find(k, buf);
}

/* "n_head": N in the config.json beside path, or 0. */
static int config_json_heads(const char *path) {
    const char *slash = strrchr(path, '/');
    char *cfg = slash ? xasprintf("%.*s/config.json", (int)(slash - path), path) : xstrdup("config.json");
    size_t len;
    char e[64];
    char *s = file_read(cfg, &len, e, sizeof e);
    free(cfg);
    if (!s) return 0;
    int heads = 0;
    const char *p = strstr(s, "\"n_head\"");
    if (p) {
        p += strlen("\"n_head\"");
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (*p == ':') heads = (int)strtol(p + 1, NULL, 10);
    }
    free(s);
    return heads > 0 ? heads : 0;
}

static bool config_of(const Ckpt *k, const char *path, GptConfig *c, char *err, size_t errlen) {
    const Tensor *wte = find_tensor(k, "wte.weight"), *wpe = find_tensor(k, "wpe.weight");
    const Tensor *fc = find_tensor(k, "h.0.mlp.c_fc.weight");
    if (!wte || !wpe || !fc || wte->ndim != 2 || wpe->ndim != 2 || fc->ndim != 2) {
        fail(err, errlen, "%s is not a GPT-2 checkpoint: it lacks wte.weight, wpe.weight or h.0.mlp.c_fc.weight of 2 dimensions", path);
        return false;
    }
    *c = (GptConfig){.V = (int)wte->shape[0], .C = (int)wte->shape[1], .maxT = (int)wpe->shape[0], .F = (int)fc->shape[1]};
    for (c->L = 0; c->L < GPT_MAX_LAYERS + 1; c->L++) {
        char name[48];
        snprintf(name, sizeof name, "h.%d.ln_1.weight", c->L);
        if (!find_tensor(k, name)) break;
    }
    const char *h = ckpt_meta(k, "n_head");
    c->NH = h ? atoi(h) : config_json_heads(path);
    if (c->NH <= 0) {
        fail(err, errlen, "%s: cannot tell the number of heads: no n_head in its metadata and no config.json beside it", path);
        return false;
    }
    char e[200];
    if (!gpt_config_valid(c, e, sizeof e)) {
        fail(err, errlen, "%s: %s", path, e);
        return false;
    }
    return true;
}

bool gpt_read_config(const char *path, GptConfig *c, char *err, size_t errlen) {
    Ckpt *k = ckpt_load(path, err, errlen);
    if (!k) return false;
    bool ok = config_of(k, path, c, err, errlen);
    ckpt_free(k);
    return ok;
}

/* n values of a checkpoint tensor as f32 */
static void to_f32(float *dst, const Tensor *t, size_t n) {
    if (t->dtype == DT_F32) memcpy(dst, t->data, n * 4);
    else if (t->dtype == DT_BF16) bf16_to_f32_array(dst, t->data, n);
    else f16_to_f32_array(dst, t->data, n);
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static bool load_ckpt(Gpt *m, const Ckpt *k, const char *path, char *err, size_t errlen) {
    float *h = xcalloc(m->nparams, sizeof *h), *tmp = xmalloc_array(m->nparams, sizeof *tmp);
    bool *used = xcalloc(k->n, sizeof *used), ok = true;
    for (size_t i = 0; ok && i < m->ntensors; i++) {
        const GptTensorInfo *ti = &m->info[i];
        const NamedTensor *nt = find_named(k, ti->name);
        const Tensor *t = nt ? &nt->t : NULL;
        int64_t s0 = ti->hf_transposed ? ti->shape[1] : ti->shape[0], s1 = ti->hf_transposed ? ti->shape[0] : ti->shape[1];
        if (!t) fail(err, errlen, "%s has no tensor %s", path, ti->name), ok = false;
        else if (t->dtype != DT_F32 && t->dtype != DT_BF16 && t->dtype != DT_F16)
            fail(err, errlen, "%s: tensor %s is %s, not F32, BF16 or F16", path, ti->name, dtype_name(t->dtype)), ok = false;
        else if (t->ndim != ti->ndim || t->shape[0] != s0 || (ti->ndim == 2 && t->shape[1] != s1))
            fail(err, errlen, "%s: tensor %s has the wrong shape for the model (expected [%lld%s%lld])", path, ti->name,
                 (long long)s0, ti->ndim == 2 ? ", " : "", ti->ndim == 2 ? (long long)s1 : 0LL), ok = false;
        if (!ok) break;
        used[nt - k->tensors] = true;
        if (ti->hf_transposed) {
            to_f32(tmp, t, ti->numel);
            transpose(h + ti->offset, tmp, s0, s1);
        } else {
            to_f32(h + ti->offset, t, ti->numel);
        }
    }
    for (size_t i = 0; ok && i < k->n; i++) {
        const NamedTensor *nt = &k->tensors[i];
        const Tensor *t = &nt->t;
        if (used[i] || ends_with(nt->name, ".attn.bias") || ends_with(nt->name, ".attn.masked_bias")) continue;
        if (strcmp(nt->name, "lm_head.weight") == 0) {
            const GptTensorInfo *wte = &m->info[0];
            size_t n = wte->numel;
            if (t->dtype == DT_F32 || t->dtype == DT_BF16 || t->dtype == DT_F16) {
                if (t->ndim == 2 && t->shape[0] == wte->shape[0] && t->shape[1] == wte->shape[1]) {
                    to_f32(tmp, t, n);
                    if (memcmp(tmp, h + wte->offset, n * 4) == 0) continue;
                }
            }
            fail(err, errlen, "%s: lm_head.weight differs from wte.weight; this model ties them", path), ok = false;
        } else {
            fail(err, errlen, "%s: unexpected tensor %s (not part of a GPT-2 model)", path, nt->name), ok = false;
        }
    }
    if (ok) gpt_set_params(m, h);
    free(h), free(tmp), free(used);
    return ok;
}

bool gpt_load_into(Gpt *m, const char *path, char *err, size_t errlen) {
    Ckpt *k = ckpt_load(path, err, errlen);
    if (!k) return false;
    GptConfig c;
    bool ok = config_of(k, path, &c, err, errlen);
    const GptConfig *d = &m->cfg;
    if (ok && (c.V != d->V || c.maxT != d->maxT || c.L != d->L || c.NH != d->NH || c.C != d->C || c.F != d->F)) {
        fail(err, errlen, "%s holds a model of V %d, maxT %d, L %d, NH %d, C %d, F %d, not the V %d, maxT %d, L %d, NH %d, C %d, F %d asked for",
             path, c.V, c.maxT, c.L, c.NH, c.C, c.F, d->V, d->maxT, d->L, d->NH, d->C, d->F);
        ok = false;
    }
    if (ok) ok = load_ckpt(m, k, path, err, errlen);
    ckpt_free(k);
    return ok;
}

Gpt *gpt_load(const char *path, Gpu *g, DType dt, int Bmax, int Tmax, char *err, size_t errlen) {
    Ckpt *k = ckpt_load(path, err, errlen);
    if (!k) return NULL;
    GptConfig c;
    Gpt *m = NULL;
    if (config_of(k, path, &c, err, errlen)) {
        if (Tmax > c.maxT) Tmax = c.maxT;
        m = gpt_new(&c, g, dt, Bmax, Tmax);
        if (!load_ckpt(m, k, path, err, errlen)) gpt_free(m), m = NULL;
    }
    ckpt_free(k);
    return m;
}

/* ---- References ------------------------------------------------------------------------------------------ */

/* Gradients of the whole block in GPT-2's layout, and their names, for a reference file. */
bool gpt_write_reference(Gpt *m, const int32_t *tokens, const int32_t *targets, int B, int T, const char *path,
                         char *err, size_t errlen) {
    const GptConfig *c = &m->cfg;
    size_t N = (size_t)B * T, nt = m->ntensors;
    float *logits = xmalloc_array(N * c->V, sizeof *logits), loss;
    float *g = xmalloc_array(m->nparams, sizeof *g), *gt = xmalloc_array(m->nparams, sizeof *gt);
    int64_t *tok = xmalloc_array(2 * N, sizeof *tok);
    gpt_forward(m, tokens, targets, B, T);
    gpt_get_logits(m, logits);
    gpt_zero_grad(m);
    loss = gpt_forward_backward(m, tokens, targets, B, T);
    gpt_get_grads(m, g);
    for (size_t i = 0; i < N; i++) tok[i] = tokens[i], tok[N + i] = targets[i];
    NamedTensor *t = xcalloc(nt + 4, sizeof *t);
    char (*names)[64] = xcalloc(nt, sizeof *names);
    t[0] = named("tokens", DT_I64, 2, B, T, 0, tok);
    t[1] = named("targets", DT_I64, 2, B, T, 0, tok + N);
    t[2] = named("logits", DT_F32, 3, B, T, c->V, logits);
    t[3] = named("loss", DT_F32, 1, 1, 0, 0, &loss);
    for (size_t i = 0; i < nt; i++) {
        const GptTensorInfo *ti = &m->info[i];
        snprintf(names[i], sizeof names[i], "grad.%s", ti->name);
        if (ti->hf_transposed) {
            transpose(gt + ti->offset, g + ti->offset, ti->shape[0], ti->shape[1]);
            t[4 + i] = named(names[i], DT_F32, 2, ti->shape[1], ti->shape[0], 0, gt + ti->offset);
        } else {
            t[4 + i] = named(names[i], DT_F32, ti->ndim, ti->shape[0], ti->ndim == 2 ? ti->shape[1] : 0, 0, g + ti->offset);
        }
    }
    bool ok = ckpt_save(path, t, nt + 4, NULL, (const char *const[]){"format", "pt", NULL}, err, errlen);
    free(logits), free(g), free(gt), free(tok), free(t), free(names);
    return ok;
}

static void compare(GptRefRow *r, const char *name, const float *got, const float *ref, size_t n, double atol, double rtol) {
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    r->n = n;
    double d2 = 0, r2 = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]), a = fabs((double)ref[i]);
        d2 += d * d, r2 += a * a;
        if (d > r->max_abs || isnan(d)) r->max_abs = isnan(d) ? INFINITY : d;
        if (a > r->max_ref) r->max_ref = a;
        double w = isnan(d) ? INFINITY : d / (atol + rtol * a);
        if (w > r->worst) r->worst = w;
    }
    r->rel = r2 > 0 ? sqrt(d2 / r2) : sqrt(d2);
}

/* An integer tensor [B,T] of the reference as int32; false if it is not one. */
static bool ref_ints(const Tensor *t, int32_t *dst, size_t n) {
    if (!t || t->ndim != 2 || (size_t)(t->shape[0] * t->shape[1]) != n) return false;
    for (size_t i = 0; i < n; i++) {
        if (t->dtype == DT_I64) dst[i] = (int32_t)((const int64_t *)t->data)[i];
        else if (t->dtype == DT_I32) dst[i] = ((const int32_t *)t->data)[i];
        else return false;
    }
    return true;
}

GptRefRow *gpt_compare_reference(Gpt *m, const char *path, double atol, double rtol, size_t *nrows, char *err,
                                 size_t errlen) {
    const GptConfig *c = &m->cfg;
    Ckpt *k = ckpt_load(path, err, errlen);
    if (!k) return NULL;
    const Tensor *tok = find_tensor(k, "tokens"), *lg = find_tensor(k, "logits"), *ls = find_tensor(k, "loss");
    int B = tok && tok->ndim == 2 ? (int)tok->shape[0] : 0, T = tok && tok->ndim == 2 ? (int)tok->shape[1] : 0;
    size_t N = (size_t)B * T;
    if (B <= 0 || T <= 0 || B > m->Bmax || T > m->Tmax || !lg || lg->dtype != DT_F32 || tensor_nbytes(lg) != N * c->V * 4 ||
        !ls || ls->dtype != DT_F32 || tensor_nbytes(ls) != 4) {
        fail(err, errlen, "%s is not a reference for this model: it needs tokens [B,T] (B <= %d, T <= %d), logits F32 "
             "[B,T,%d] and loss F32 [1]", path, m->Bmax, m->Tmax, c->V);
        ckpt_free(k);
        return NULL;
    }
    int32_t *tokens = xmalloc_array(N, sizeof *tokens), *targets = xmalloc_array(N, sizeof *targets);
    if (!ref_ints(tok, tokens, N) || !ref_ints(find_tensor(k, "targets"), targets, N)) {
        fail(err, errlen, "%s: tokens and targets must be I64 or I32 tensors of the same shape", path);
        free(tokens), free(targets), ckpt_free(k);
        return NULL;
    }
    for (size_t i = 0; i < N; i++)
        if (tokens[i] < 0 || tokens[i] >= c->V || targets[i] < -1 || targets[i] >= c->V) {
            fail(err, errlen, "%s: token or target at position %zu is outside the vocabulary of %d", path, i, c->V);
            free(tokens), free(targets), ckpt_free(k);
            return NULL;
        }
    GptRefRow *rows = xcalloc(m->ntensors + 2, sizeof *rows);
    float *got = xmalloc_array(N * c->V > m->nparams ? N * c->V : m->nparams, sizeof *got);
    float *ref = xmalloc_array(m->nparams, sizeof *ref);
    float loss = gpt_forward(m, tokens, targets, B, T);
    gpt_get_logits(m, got);
    compare(&rows[0], "logits", got, lg->data, N * c->V, atol, rtol);
    compare(&rows[1], "loss", &loss, ls->data, 1, atol, rtol);
    gpt_zero_grad(m);
    gpt_forward_backward(m, tokens, targets, B, T);
    gpt_get_grads(m, got);
    size_t n = 2;
    for (size_t i = 0; i < m->ntensors; i++) {
        const GptTensorInfo *ti = &m->info[i];
        char name[64];
        snprintf(name, sizeof name, "grad.%s", ti->name);
        const Tensor *t = find_tensor(k, name);
        if (!t || t->dtype != DT_F32 || tensor_nbytes(t) != ti->numel * 4) {
            fail(err, errlen, "%s: %s is missing or not F32 of %zu values", path, name, ti->numel);
            free(rows), rows = NULL;
            break;
        }
        if (ti->hf_transposed) transpose(ref, t->data, ti->shape[1], ti->shape[0]);
        else memcpy(ref, t->data, ti->numel * 4);
        compare(&rows[n++], name, got + ti->offset, ref, ti->numel, atol, rtol);
    }
    if (rows) *nrows = n;
    free(tokens), free(targets), free(got), free(ref);
    ckpt_free(k);
    return rows;
}

/* ---- Loss scaling (chapter 12) ------------------------------------------------------------------------- */

/* The forward pass, the loss and the backward pass, with the loss's gradient
 * multiplied by loss_scale: the gradients that accumulate are loss_scale
 * times the loss's.  gpt_forward_backward is this with a scale of 1 (the
 * same arithmetic: 1/count is 1.0f/count). */
float gpt_forward_backward_scaled(Gpt *m, const int32_t *tokens, const int32_t *targets, int B, int T,
                                  float loss_scale) {
    size_t count = load_batch(m, tokens, targets, B, T);
    int N = B * T, V = m->cfg.V;
    /* the embedding's backward pass reads the batch's tokens sorted: sort them once, now */
    if (m->gpu) TIMED(m, "embedding sort", embedding_sort_cuda(m->gpu, m->a.emb_sort, m->a.tokens, N, V));
    forward_blocks(m);
    float dloss = count ? loss_scale / (float)count : 0.0f;
    GptActivations *a = &m->a;
    if (fused(m)) fused_classifier(m, true, dloss);
    else TIMED(m, "cross-entropy", if (m->gpu) cross_entropy_fused_cuda(m->gpu, m->dt, a->losses, a->logits, a->targets, dloss, N, V);
          else {
              cross_entropy_forward(a->losses, a->lse, a->logits, a->targets, N, V);
              cross_entropy_backward(a->logits, a->logits, a->lse, a->targets, dloss, N, V);
          });
    backward_blocks(m);
    return mean_loss(m, count);
}

/* gpt_update for gradients that hold loss_scale times the loss's gradient:
 * the norm of the scaled gradients, divided by loss_scale, is the true norm
 * (returned); clipping uses it, and AdamW multiplies each gradient by
 * clip / loss_scale in f32 as it reads it.  A non-finite norm (an overflow
 * somewhere in the scaled backward pass) skips the step: no parameter, no
 * moment and no step count changes. */
float gpt_update_scaled(Gpt *m, const GptAdamW *o, float loss_scale) {
    double ss = 0;
    TIMED(m, "grad norm", ss = m->gpu ? grad_norm_squared_cuda(m->gpu, m->dt, m->grads, m->nparams)
                                      : grad_norm_squared(m->grads, m->nparams));
    float norm = (float)(sqrt(ss) / loss_scale);
    if (!isfinite(norm)) return norm;
    float scale = (o->grad_clip > 0 ? clip_scale(norm, o->grad_clip) : 1.0f) / loss_scale;
    m->step++;
    AdamW a = {.lr = o->lr, .beta1 = o->beta1, .beta2 = o->beta2, .eps = o->eps, .weight_decay = o->weight_decay};
    AdamW b = a;
    b.weight_decay = 0;
    size_t d = m->ndecay, n = m->nparams;
    if (m->gpu) {
        TIMED(m, "adamw", {
            adamw_update_cuda(m->gpu, m->dt, m->params, m->master, m->grads, m->m, m->v, d, &a, m->step, scale);
            adamw_update_cuda(m->gpu, m->dt, at(m, m->params, d), m->master ? m->master + d : NULL, at(m, m->grads, d),
                              m->m + d, m->v + d, n - d, &b, m->step, scale);
        });
    } else {
        float *p = m->params, *g = m->grads;
        TIMED(m, "adamw", {
            adamw_update(p, g, m->m, m->v, d, &a, m->step, scale);
            adamw_update(p + d, g + d, m->m + d, m->v + d, n - d, &b, m->step, scale);
        });
    }
    return norm;
}
