/* bench/gpu.c -- every kernel of common/gpu at GPT-2-small sizes, beside
 * the two ceilings measured in the same run.
 *
 * Ceilings.  Bandwidth: a 2 GiB device-to-device copy, counting the bytes
 * read plus the bytes written.  Arithmetic: an 8192^3 cuBLAS bf16 GEMM
 * with f32 accumulation (gemm_cuda), 2 * 8192^3 flops.
 *
 * Kernels.  Memory-bound ones are reported in GB/s of the fewest bytes the
 * job must move (each input read once, each output written once; a
 * gradient that is accumulated into is read and written), and as a
 * fraction of the copy bandwidth.  Matrix products and attention are
 * reported in TFLOP/s and as a fraction of the GEMM ceiling.  Sizes: B*T =
 * 16384 rows, C = 768 channels, 4C = 3072 for the MLP, V = 50304 for the
 * vocabulary, 12 heads of 64 for attention at T = 1024, 124M parameters for
 * AdamW (GPT-2 small's count).
 *
 * Timing.  Inputs are random (never zeros); each input set is replicated
 * enough times that the sets rotate through more memory than the L2 cache
 * holds.  A case is timed back to back: L launches between two CUDA events
 * (L chosen so that the window lasts about 2 ms), the time per launch being
 * the window over L; after warm-up, the median of 15 such windows is
 * reported (and their spread, min to max, in the TSV).  Timing one launch
 * per window instead, as this bench first did, adds the events' own cost
 * and the launch's ramp and tail to every number: for a kernel of 20 us
 * that is 10-15 points of the copy ceiling, and the ms_single column keeps
 * that number beside the other so the difference stays visible.
 *
 * Variants (--variants): the kernels bench/gpu_before.cu keeps as they were
 * before a change, timed the same way beside today's, into
 * DIR/bench-gpu-fixes.tsv (bench/gpu-notes.md has the predictions).
 *
 * Usage: bench-gpu [--dtype bf16|f32|f16] [--quick] [--variants] [--out DIR]
 *   --quick    small sizes and few runs (what compute-sanitizer runs)
 *   --variants also time the kernels before each change (bench/gpu_before.cu)
 *   --out DIR  also write DIR/bench-gpu-DTYPE.tsv with provenance
 * Run it as `make bench-gpu` on a machine with a GPU. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "gpu.h"
#include "gpu_before.h"
#include "tsv.h"
#include "rng.h"
#include "util.h"

typedef struct {
    Gpu *g;
    DType dt;
    size_t e;                   /* bytes per element */
    int N, C, H, V, B, T, NH;   /* sizes */
    size_t nparams;
    int sets;                   /* input sets rotated through */
    /* buffers: [sets] copies of each input */
    void *x[4], *y[4], *dy[4], *dx[4], *w, *b, *dw, *db, *big[2], *qkv, *att, *scr, *dqkv;
    float *mean[4], *rstd[4], *loss, *lse, *m, *v, *master;
    int32_t *ids, *targets, *zipf;  /* uniform ids, the same as targets, Zipf-distributed ids */
    void *sort, *zipf_sort;         /* embedding_sort_cuda of ids and of zipf */
} Bench;

typedef void (*Run)(Bench *b, int k);

static size_t big_elems(const Bench *b) {
    size_t a = (size_t)b->N * b->V, p = b->nparams;
    return a > p ? a : p;
}

/* ---- the cases --------------------------------------------------------------------- */

static void r_layernorm_fwd(Bench *b, int k) {
    layernorm_forward_cuda(b->g, b->dt, b->y[k], b->mean[k], b->rstd[k], b->x[k], b->w, b->b, b->N, b->C);
}
static void r_layernorm_bwd(Bench *b, int k) {
    layernorm_backward_cuda(b->g, b->dt, b->dx[k], b->dw, b->db, b->dy[k], b->x[k], b->w, b->mean[k], b->rstd[k],
                            b->N, b->C);
}
static void r_rmsnorm_fwd(Bench *b, int k) {
    rmsnorm_forward_cuda(b->g, b->dt, b->y[k], b->rstd[k], b->x[k], b->w, b->N, b->C);
}
static void r_rmsnorm_bwd(Bench *b, int k) {
    rmsnorm_backward_cuda(b->g, b->dt, b->dx[k], b->dw, b->dy[k], b->x[k], b->w, b->rstd[k], b->N, b->C);
}
static void r_gelu_fwd(Bench *b, int k) { gelu_forward_cuda(b->g, b->dt, b->y[k], b->x[k], (size_t)b->N * b->H); }
static void r_gelu_bwd(Bench *b, int k) {
    gelu_backward_cuda(b->g, b->dt, b->dx[k], b->dy[k], b->x[k], (size_t)b->N * b->H);
}
static void r_swiglu_fwd(Bench *b, int k) { swiglu_forward_cuda(b->g, b->dt, b->y[k], b->x[k], b->N, b->H / 2); }
static void r_swiglu_bwd(Bench *b, int k) {
    swiglu_backward_cuda(b->g, b->dt, b->dx[k], b->dy[k], b->x[k], b->N, b->H / 2);
}
static void r_residual_fwd(Bench *b, int k) {
    residual_forward_cuda(b->g, b->dt, b->y[k], b->x[k], b->dy[k], (size_t)b->N * b->C);
}
static void r_residual_bwd(Bench *b, int k) {
    residual_backward_cuda(b->g, b->dt, b->dx[k], b->y[k], b->dy[k], (size_t)b->N * b->C);
}
static void r_softmax_fwd(Bench *b, int k) { softmax_forward_cuda(b->g, b->dt, b->y[k], b->x[k], b->N, b->H); }
static void r_softmax_bwd(Bench *b, int k) {
    softmax_backward_cuda(b->g, b->dt, b->dx[k], b->dy[k], b->y[k], b->N, b->H);
}
static void r_embedding_fwd(Bench *b, int k) {
    embedding_forward_cuda(b->g, b->dt, b->y[k], b->ids, b->big[0], b->w, b->N / b->T, b->T, b->C);
}
static void r_embedding_bwd(Bench *b, int k) {
    embedding_backward_cuda(b->g, b->dt, b->big[1], b->dw, b->dy[k], b->ids, b->N / b->T, b->T, b->C);
}
static void r_embedding_bwd_sorted(Bench *b, int k) {
    embedding_backward_sorted_cuda(b->g, b->dt, b->big[1], b->dw, b->dy[k], b->sort, b->N / b->T, b->T, b->C);
}
static void r_embedding_bwd_zipf(Bench *b, int k) {
    embedding_backward_cuda(b->g, b->dt, b->big[1], b->dw, b->dy[k], b->zipf, b->N / b->T, b->T, b->C);
}
static void r_xent_fwd(Bench *b, int k) {
    (void)k;
    cross_entropy_forward_cuda(b->g, b->dt, b->loss, b->lse, b->big[0], b->targets, b->N, b->V);
}
static void r_xent_bwd(Bench *b, int k) {
    (void)k;  /* in place, as training does it */
    cross_entropy_backward_cuda(b->g, b->dt, b->big[0], b->big[0], b->lse, b->targets, 1.0f / b->N, b->N, b->V);
}
static void r_xent_fused(Bench *b, int k) {
    (void)k;
    cross_entropy_fused_cuda(b->g, b->dt, b->loss, b->big[0], b->targets, 1.0f / b->N, b->N, b->V);
}
static void r_adamw(Bench *b, int k) {
    AdamW opt = {3e-4f, 0.9f, 0.95f, 1e-8f, 0.1f};
    adamw_update_cuda(b->g, b->dt, b->big[0], b->dt == DT_F32 ? NULL : b->master, b->big[1], b->m, b->v, b->nparams,
                      &opt, 10 + k, 1.0f);
}
static void r_gradnorm(Bench *b, int k) {
    (void)k;
    grad_norm_squared_cuda(b->g, b->dt, b->big[1], b->nparams);
}
static void r_linear_qkv(Bench *b, int k) {
    linear_forward_cuda(b->g, b->dt, b->y[k], b->x[k], b->big[0], b->b, b->N, b->C, 3 * b->C);
}
static void r_linear_fc(Bench *b, int k) {
    linear_forward_cuda(b->g, b->dt, b->y[k], b->x[k], b->big[0], b->b, b->N, b->C, b->H);
}
static void r_linear_fc_bwd(Bench *b, int k) {
    linear_backward_cuda(b->g, b->dt, b->dx[k], b->big[1], b->db, b->dy[k], b->x[k], b->big[0], b->N, b->C, b->H);
}
static void r_attention_fwd(Bench *b, int k) {
    (void)k;
    attention_forward_cuda(b->g, b->dt, b->y[0], b->att, b->qkv, b->scr, b->N / b->T, b->T, b->C, b->NH);
}
static void r_attention_bwd(Bench *b, int k) {
    (void)k;
    attention_backward_cuda(b->g, b->dt, b->dqkv, b->dy[0], b->qkv, b->att, b->scr, b->N / b->T, b->T, b->C, b->NH);
}

/* the kernels as they were before each change (bench/gpu_before.cu) */
static void v_gelu_tanh1(Bench *b, int k) { before_gelu_forward(b->g, b->dt, b->y[k], b->x[k], (size_t)b->N * b->H, true, 1); }
static void v_gelu_tanh2(Bench *b, int k) { before_gelu_forward(b->g, b->dt, b->y[k], b->x[k], (size_t)b->N * b->H, true, 2); }
static void v_gelu_exp1(Bench *b, int k) { before_gelu_forward(b->g, b->dt, b->y[k], b->x[k], (size_t)b->N * b->H, false, 1); }
static void v_xent_1_merge2(Bench *b, int k) {
    (void)k;
    before_cross_entropy_forward(b->g, b->dt, b->loss, b->lse, b->big[0], b->targets, b->N, b->V, 1, true);
}
static void v_xent_4_merge2(Bench *b, int k) {
    (void)k;
    before_cross_entropy_forward(b->g, b->dt, b->loss, b->lse, b->big[0], b->targets, b->N, b->V, 4, true);
}
static void v_xent_1_running(Bench *b, int k) {
    (void)k;
    before_cross_entropy_forward(b->g, b->dt, b->loss, b->lse, b->big[0], b->targets, b->N, b->V, 1, false);
}
static void v_xent_bwd(Bench *b, int k) {
    (void)k;
    before_cross_entropy_backward(b->g, b->dt, b->big[0], b->big[0], b->lse, b->targets, 1.0f / b->N, b->N, b->V);
}
static void v_embedding_atomic(Bench *b, int k) {
    before_embedding_backward(b->g, b->dt, b->big[1], b->dw, b->dy[k], b->ids, b->N / b->T, b->T, b->C);
}
static void v_embedding_atomic_zipf(Bench *b, int k) {
    before_embedding_backward(b->g, b->dt, b->big[1], b->dw, b->dy[k], b->zipf, b->N / b->T, b->T, b->C);
}

typedef struct {
    const char *name, *shape;
    Run run;
    double bytes, flops;  /* per run, in units of elements (bytes: times e, plus f32 extras) */
} Case;

/* ---- setup -------------------------------------------------------------------------- */

/* Fill n elements of dtype dt with uniform values in [-scale, scale): a random
 * block uploaded once, then copied over the buffer. */
static void fill(Bench *b, void *dst, DType dt, size_t n, float scale, Rng *r) {
    size_t block = (size_t)1 << 22, e = dtype_size(dt);
    if (block > n) block = n;
    float *h = xmalloc_array(block, sizeof(float));
    for (size_t i = 0; i < block; i++) h[i] = scale * (2 * rng_uniform_f32(r) - 1);
    gpu_upload_f32(b->g, dt, dst, h, block);
    for (size_t off = block; off < n; off += block)
        gpu_copy(b->g, (char *)dst + off * e, dst, (n - off < block ? n - off : block) * e);
    gpu_sync(b->g);
    free(h);
}

static void *alloc_fill(Bench *b, size_t n, float scale, Rng *r) {
    void *p = gpu_malloc(n * b->e);
    fill(b, p, b->dt, n, scale, r);
    return p;
}

static int cmp_float(const void *a, const void *c) {
    float x = *(const float *)a, y = *(const float *)c;
    return (x > y) - (x < y);
}

typedef struct { float median, min, max, single; int launches; } Timing;

static float median_of(float *ms, int n) {
    qsort(ms, (size_t)n, sizeof *ms, cmp_float);
    return ms[n / 2];
}

/* Back to back: `windows` windows of L launches each, L set so that a
 * window lasts about 2 ms (at least 4 launches).  Then, for comparison, the
 * same number of windows of one launch each. */
static Timing time_case(Bench *b, Run run, int windows) {
    GpuTimer *t = gpu_timer_new(b->g);
    for (int i = 0; i < 3; i++) run(b, i % b->sets);
    gpu_sync(b->g);
    gpu_timer_start(t);
    for (int i = 0; i < 4; i++) run(b, i % b->sets);
    float est = gpu_timer_stop(t) / 4;
    int L = (int)fmin(2000, fmax(4, ceil(2.0 / fmax(est, 1e-4))));
    float *ms = xmalloc_array((size_t)windows, sizeof(float));
    Timing out = {0};
    int call = 0;
    for (int w = 0; w < windows; w++) {
        gpu_timer_start(t);
        for (int i = 0; i < L; i++) run(b, call++ % b->sets);
        ms[w] = gpu_timer_stop(t) / L;
    }
    out.median = median_of(ms, windows), out.min = ms[0], out.max = ms[windows - 1], out.launches = L;
    for (int w = 0; w < windows; w++) {
        gpu_timer_start(t);
        run(b, call++ % b->sets);
        ms[w] = gpu_timer_stop(t);
    }
    out.single = median_of(ms, windows);
    free(ms);
    gpu_timer_free(t);
    return out;
}

/* ids drawn from a Zipf distribution over V (P(k) proportional to 1/(k+1)), as words in text are */
/* how many different ids: the rows of dwte an embedding backward pass must read and write */
static double distinct(const int32_t *ids, int n, int V) {
    unsigned char *seen = xcalloc((size_t)V, 1);
    int d = 0;
    for (int i = 0; i < n; i++) d += !seen[ids[i]], seen[ids[i]] = 1;
    free(seen);
    return d;
}

static void zipf_ids(int32_t *ids, int n, int V, Rng *r) {
    double *cdf = xmalloc_array((size_t)V, sizeof(double)), s = 0;
    for (int k = 0; k < V; k++) cdf[k] = (s += 1.0 / (k + 1));
    for (int i = 0; i < n; i++) {
        double u = rng_uniform(r) * s;
        int lo = 0, hi = V - 1;
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (cdf[mid] < u) lo = mid + 1;
            else hi = mid;
        }
        ids[i] = lo;
    }
    free(cdf);
}

int main(int argc, char **argv) {
    const char *out = NULL, *dtname = "bf16";
    bool quick = false, variants = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) quick = true;
        else if (strcmp(argv[i], "--variants") == 0) variants = true;
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) out = argv[++i];
        else if (strcmp(argv[i], "--dtype") == 0 && i + 1 < argc) dtname = argv[++i];
        else if (strcmp(argv[i], "--help") == 0) {
            printf("usage: bench-gpu [--dtype bf16|f32|f16] [--quick] [--variants] [--out DIR]\n");
            return 0;
        } else die("unknown argument '%s' (try --help)", argv[i]);
    }
    DType dt = strcmp(dtname, "bf16") == 0 ? DT_BF16 : strcmp(dtname, "f16") == 0 ? DT_F16
             : strcmp(dtname, "f32") == 0 ? DT_F32 : (die("--dtype %s: expected bf16, f16 or f32", dtname), DT_F32);
    Gpu *g = gpu_open(0);
    GpuInfo info = gpu_info(g);
    Bench b = {.g = g, .dt = dt, .e = dtype_size(dt)};
    b.N = quick ? 512 : 16384, b.C = quick ? 96 : 768, b.H = 4 * b.C, b.V = quick ? 1000 : 50304;
    b.T = quick ? 64 : 1024, b.NH = quick ? 4 : 12, b.nparams = quick ? 100000 : 124475904;
    /* enough sets that one rotation of the smallest cases' data (a norm's
     * input and output) is about 4x the L2 */
    size_t per_set = (size_t)b.N * b.C * b.e * 2;
    b.sets = quick ? 1 : (int)fmin(4, ceil(4.0 * info.l2 / per_set));
    if (b.sets < 1) b.sets = 1;
    int windows = quick ? 3 : 15;
    Rng r;
    rng_seed(&r, 7);
    size_t nmax = (size_t)b.N * b.H;
    for (int k = 0; k < b.sets; k++) {
        b.x[k] = alloc_fill(&b, nmax, 2, &r), b.y[k] = alloc_fill(&b, nmax, 1, &r);
        b.dy[k] = alloc_fill(&b, nmax, 1, &r), b.dx[k] = alloc_fill(&b, nmax, 1, &r);
        b.mean[k] = gpu_malloc((size_t)b.N * 4), b.rstd[k] = gpu_malloc((size_t)b.N * 4);
    }
    b.w = alloc_fill(&b, (size_t)b.H * b.C, 1, &r), b.b = alloc_fill(&b, (size_t)b.H, 1, &r);
    b.dw = alloc_fill(&b, (size_t)b.H * b.C, 1, &r), b.db = alloc_fill(&b, (size_t)b.H, 1, &r);
    for (int k = 0; k < 2; k++) b.big[k] = alloc_fill(&b, big_elems(&b), 1, &r);
    b.loss = gpu_malloc((size_t)b.N * 4), b.lse = gpu_malloc((size_t)b.N * 4);
    b.m = gpu_malloc(b.nparams * 4), b.v = gpu_malloc(b.nparams * 4), b.master = gpu_malloc(b.nparams * 4);
    fill(&b, b.m, DT_F32, b.nparams, 0.01f, &r), gpu_zero(g, b.v, b.nparams * 4);
    fill(&b, b.master, DT_F32, b.nparams, 1, &r);
    int32_t *ids = xmalloc_array((size_t)b.N, sizeof(int32_t));
    for (int i = 0; i < b.N; i++) ids[i] = (int32_t)rng_below(&r, (uint64_t)b.V);
    double distinct_ids = distinct(ids, b.N, b.V);
    b.ids = gpu_malloc((size_t)b.N * 4), b.targets = gpu_malloc((size_t)b.N * 4), b.zipf = gpu_malloc((size_t)b.N * 4);
    gpu_upload(g, b.ids, ids, (size_t)b.N * 4), gpu_upload(g, b.targets, ids, (size_t)b.N * 4);
    zipf_ids(ids, b.N, b.V, &r);
    double distinct_zipf = distinct(ids, b.N, b.V);
    gpu_upload(g, b.zipf, ids, (size_t)b.N * 4);
    free(ids);
    b.sort = gpu_malloc(embedding_sort_bytes(b.N)), b.zipf_sort = gpu_malloc(embedding_sort_bytes(b.N));
    embedding_sort_cuda(g, b.sort, b.ids, b.N, b.V), embedding_sort_cuda(g, b.zipf_sort, b.zipf, b.N, b.V);
    b.qkv = alloc_fill(&b, (size_t)b.N * 3 * b.C, 1, &r), b.dqkv = alloc_fill(&b, (size_t)b.N * 3 * b.C, 1, &r);
    b.att = gpu_malloc((size_t)(b.N / b.T) * b.NH * b.T * b.T * b.e);
    b.scr = gpu_malloc(attention_scratch_bytes(dt, b.N / b.T, b.T, b.C, b.NH));

    /* the ceilings */
    size_t copy_bytes = quick ? (size_t)64 << 20 : (size_t)1 << 30;
    void *c0 = gpu_malloc(copy_bytes), *c1 = gpu_malloc(copy_bytes);
    fill(&b, c0, DT_F32, copy_bytes / 4, 1, &r);
    GpuTimer *tm = gpu_timer_new(g);
    float cms[20];
    for (int i = 0; i < 23; i++) {
        gpu_timer_start(tm);
        gpu_copy(g, c1, c0, copy_bytes);
        float ms = gpu_timer_stop(tm);
        if (i >= 3) cms[i - 3] = ms;
    }
    qsort(cms, 20, sizeof(float), cmp_float);
    double copy_gbs = 2.0 * copy_bytes / (cms[10] * 1e-3) / 1e9;
    gpu_free(c0), gpu_free(c1);
    int S = quick ? 1024 : 8192;
    void *ga = gpu_malloc((size_t)S * S * 2), *gb = gpu_malloc((size_t)S * S * 2), *gc = gpu_malloc((size_t)S * S * 2);
    fill(&b, ga, DT_BF16, (size_t)S * S, 1, &r), fill(&b, gb, DT_BF16, (size_t)S * S, 1, &r);
    float gms[10];
    for (int i = 0; i < 13; i++) {
        gpu_timer_start(tm);
        gemm_cuda(g, DT_BF16, false, false, S, S, S, 1.0f, ga, S, gb, S, 0.0f, gc, S);
        float ms = gpu_timer_stop(tm);
        if (i >= 3) gms[i - 3] = ms;
    }
    qsort(gms, 10, sizeof(float), cmp_float);
    double gemm_tflops = 2.0 * S * S * (double)S / (gms[5] * 1e-3) / 1e12;
    gpu_free(ga), gpu_free(gb), gpu_free(gc);
    gpu_timer_free(tm);

    double N = b.N, C = b.C, H = b.H, V = b.V, P = (double)b.nparams, e = (double)b.e;
    double Bt = b.N / b.T, T = b.T, NH = b.NH, hs = C / NH;
    /* the embedding's backward pass reads dout and the ids once, and reads
     * and writes the rows of dwte its tokens name (each once) and dwpe */
    double emb_bytes = N * C * e + 2 * distinct_ids * C * e + 2 * T * C * e + 4 * N;
    double emb_zipf_bytes = N * C * e + 2 * distinct_zipf * C * e + 2 * T * C * e + 4 * N;
    char s_nc[64], s_nh[64], s_nv[64], s_p[64], s_att[64], s_qkv[64], s_fc[64];
    snprintf(s_nc, sizeof s_nc, "%dx%d", b.N, b.C), snprintf(s_nh, sizeof s_nh, "%dx%d", b.N, b.H);
    snprintf(s_nv, sizeof s_nv, "%dx%d", b.N, b.V), snprintf(s_p, sizeof s_p, "%zu", b.nparams);
    snprintf(s_att, sizeof s_att, "B%d T%d NH%d hs%d", b.N / b.T, b.T, b.NH, b.C / b.NH);
    snprintf(s_qkv, sizeof s_qkv, "%dx%d->%d", b.N, b.C, 3 * b.C), snprintf(s_fc, sizeof s_fc, "%dx%d->%d", b.N, b.C, b.H);
    Case cases[] = {
        {"layernorm_forward", s_nc, r_layernorm_fwd, 2 * N * C * e + 2 * C * e + 8 * N, 0},
        {"layernorm_backward", s_nc, r_layernorm_bwd, 4 * N * C * e + 8 * N + 5 * C * e, 0},
        {"rmsnorm_forward", s_nc, r_rmsnorm_fwd, 2 * N * C * e + C * e + 4 * N, 0},
        {"rmsnorm_backward", s_nc, r_rmsnorm_bwd, 4 * N * C * e + 4 * N + 3 * C * e, 0},
        {"gelu_forward", s_nh, r_gelu_fwd, 2 * N * H * e, 0},
        {"gelu_backward", s_nh, r_gelu_bwd, 4 * N * H * e, 0},
        {"swiglu_forward", s_nh, r_swiglu_fwd, 1.5 * N * H * e, 0},
        {"swiglu_backward", s_nh, r_swiglu_bwd, 3.5 * N * H * e, 0},
        {"residual_forward", s_nc, r_residual_fwd, 3 * N * C * e, 0},
        {"residual_backward", s_nc, r_residual_bwd, 5 * N * C * e, 0},
        {"softmax_forward", s_nh, r_softmax_fwd, 2 * N * H * e, 0},
        {"softmax_backward", s_nh, r_softmax_bwd, 4 * N * H * e, 0},
        {"embedding_forward", s_nc, r_embedding_fwd, 2 * N * C * e + T * C * e + 4 * N, 0},
        {"embedding_backward", s_nc, r_embedding_bwd, emb_bytes, 0},
        {"embedding_backward (sorted once)", s_nc, r_embedding_bwd_sorted, emb_bytes, 0},
        {"embedding_backward (Zipf tokens)", s_nc, r_embedding_bwd_zipf, emb_zipf_bytes, 0},
        {"cross_entropy_forward", s_nv, r_xent_fwd, N * V * e + 12 * N, 0},
        {"cross_entropy_backward", s_nv, r_xent_bwd, 2 * N * V * e + 8 * N, 0},
        {"cross_entropy_fused", s_nv, r_xent_fused, 2 * N * V * e + 8 * N, 0},
        {"adamw_update", s_p, r_adamw, P * (2 * e + (dt == DT_F32 ? 16 : 20)), 0},
        {"grad_norm_squared", s_p, r_gradnorm, P * e, 0},
        {"linear_forward (qkv)", s_qkv, r_linear_qkv, 0, 2 * N * C * 3 * C},
        {"linear_forward (fc)", s_fc, r_linear_fc, 0, 2 * N * C * H},
        {"linear_backward (fc)", s_fc, r_linear_fc_bwd, 0, 4 * N * C * H},
        {"attention_forward", s_att, r_attention_fwd, 0, 4 * Bt * NH * T * T * hs},
        {"attention_backward", s_att, r_attention_bwd, 0, 8 * Bt * NH * T * T * hs},
    };

    printf("device: %s (cc %d.%d, %d SMs, %.0f GB, L2 %.0f MB), CUDA runtime %d, driver %d\n", info.name, info.major,
           info.minor, info.sms, info.memory / 1e9, info.l2 / 1e6, info.runtime, info.driver);
    printf("ceilings: device-to-device copy %.0f GB/s (read + write); cuBLAS bf16 GEMM %dx%dx%d %.0f TFLOP/s\n",
           copy_gbs, S, S, S, gemm_tflops);
    printf("dtype %s; %d input set%s rotated; median of %d event-timed windows of back-to-back launches after warm-up\n",
           dtype_name(dt), b.sets, b.sets == 1 ? "" : "s", windows);
    printf("distinct token ids in the embedding's batch: %.0f uniform, %.0f Zipf, of %d\n\n", distinct_ids,
           distinct_zipf, b.N);
    printf("%-34s %-22s %9s %9s %10s %9s %7s\n", "kernel", "shape", "ms", "ms 1-call", "GB/s|TF/s", "% ceiling",
           "1-call");
    Tsv *tsv = NULL;
    char *line = cli_join_argv(argc, argv), name[64], devline[400];
    Provenance prov;
    provenance_init(&prov, line, 0);
    free(line);
    snprintf(devline, sizeof devline, "cuda (%s, %d SMs, CUDA runtime %d, driver %d)", info.name, info.sms,
             info.runtime, info.driver);
    provenance_set_device(&prov, devline);
    snprintf(name, sizeof name, "bench-gpu-%s", dtname);
    if (out)
        tsv = tsv_create(out, name, &prov, "common/gpu kernels against the copy and GEMM ceilings of the same run",
                         "kernel\tshape\tdtype\tms_median\tms_min\tms_max\tlaunches\tms_single\tbytes\tflops\tgbs"
                         "\ttflops\tpct_ceiling\tpct_single\tcopy_gbs\tgemm_tflops");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Case *cs = &cases[i];
        Timing tmg = time_case(&b, cs->run, windows);
        double sec = tmg.median * 1e-3;
        double gbs = cs->bytes / sec / 1e9, tfl = cs->flops / sec / 1e12;
        double pct = cs->flops > 0 ? 100 * tfl / gemm_tflops : 100 * gbs / copy_gbs;
        double pct1 = pct * tmg.median / tmg.single;
        printf("%-34s %-22s %9.4f %9.4f %10.1f %8.0f%% %6.0f%%\n", cs->name, cs->shape, tmg.median, tmg.single,
               cs->flops > 0 ? tfl : gbs, pct, pct1);
        fflush(stdout);
        if (tsv)
            tsv_row(tsv, "%s\t%s\t%s\t%.5f\t%.5f\t%.5f\t%d\t%.5f\t%.0f\t%.0f\t%.1f\t%.2f\t%.1f\t%.1f\t%.0f\t%.1f",
                    tsv_escape(tsv, cs->name), cs->shape, dtype_name(dt), tmg.median, tmg.min, tmg.max, tmg.launches,
                    tmg.single, cs->bytes, cs->flops, gbs, tfl, pct, pct1, copy_gbs, gemm_tflops);
    }
    if (tsv) tsv_close(tsv);

    if (variants) {
        /* each change beside what it replaced; "now" is the runtime's kernel */
        Case vcases[] = {
            {"gelu_forward|fb06733: tanhf, 1 pack/thread", s_nh, v_gelu_tanh1, 2 * N * H * e, 0},
            {"gelu_forward|tanhf, 2 packs/thread", s_nh, v_gelu_tanh2, 2 * N * H * e, 0},
            {"gelu_forward|exp form, 1 pack/thread", s_nh, v_gelu_exp1, 2 * N * H * e, 0},
            {"gelu_forward|now: exp form, 2 packs/thread", s_nh, r_gelu_fwd, 2 * N * H * e, 0},
            {"cross_entropy_forward|fb06733: 1 pack ahead, 2 exp per merge", s_nv, v_xent_1_merge2, N * V * e + 12 * N, 0},
            {"cross_entropy_forward|4 packs ahead, 2 exp per merge", s_nv, v_xent_4_merge2, N * V * e + 12 * N, 0},
            {"cross_entropy_forward|1 pack ahead, running max", s_nv, v_xent_1_running, N * V * e + 12 * N, 0},
            {"cross_entropy_forward|now: 1 pack ahead, running max", s_nv, r_xent_fwd, N * V * e + 12 * N, 0},
            {"cross_entropy_backward|fb06733: 1 pack ahead", s_nv, v_xent_bwd, 2 * N * V * e + 8 * N, 0},
            {"cross_entropy_backward|now: 1 pack ahead", s_nv, r_xent_bwd, 2 * N * V * e + 8 * N, 0},
            {"embedding_backward|fb06733: atomic adds", s_nc, v_embedding_atomic, emb_bytes, 0},
            {"embedding_backward|now: sorted, with the sort", s_nc, r_embedding_bwd, emb_bytes, 0},
            {"embedding_backward|now: sorted once", s_nc, r_embedding_bwd_sorted, emb_bytes, 0},
            {"embedding_backward (Zipf tokens)|fb06733: atomic adds", s_nc, v_embedding_atomic_zipf, emb_zipf_bytes, 0},
            {"embedding_backward (Zipf tokens)|now: sorted, with the sort", s_nc, r_embedding_bwd_zipf, emb_zipf_bytes, 0},
        };
        printf("\nbefore and after (bench/gpu_before.cu):\n");
        if (out) {
            tsv = tsv_create(out, "bench-gpu-fixes", &prov,
                             "each kernel change of issue 19 beside the kernel it replaced, the same run",
                             "kernel\tvariant\tshape\tdtype\tms_median\tms_min\tms_max\tlaunches\tbytes\tgbs\tpct_copy"
                             "\tcopy_gbs");
        }
        for (size_t i = 0; i < sizeof vcases / sizeof vcases[0]; i++) {
            Case *cs = &vcases[i];
            Timing tmg = time_case(&b, cs->run, windows);
            double gbs = cs->bytes / (tmg.median * 1e-3) / 1e9;
            char kname[128];
            const char *bar = strchr(cs->name, '|');
            snprintf(kname, sizeof kname, "%.*s", (int)(bar - cs->name), cs->name);
            printf("%-34s %-52s %9.4f %10.1f %8.0f%%\n", kname, bar + 1, tmg.median, gbs, 100 * gbs / copy_gbs);
            fflush(stdout);
            if (tsv)
                tsv_row(tsv, "%s\t%s\t%s\t%s\t%.5f\t%.5f\t%.5f\t%d\t%.0f\t%.1f\t%.1f\t%.0f", tsv_escape(tsv, kname),
                        tsv_escape(tsv, bar + 1), cs->shape, dtype_name(dt), tmg.median, tmg.min, tmg.max,
                        tmg.launches, cs->bytes, gbs, 100 * gbs / copy_gbs, copy_gbs);
        }
        if (tsv) tsv_close(tsv);
    }
    provenance_free(&prov);
    gpu_close(g);
    return 0;
}
