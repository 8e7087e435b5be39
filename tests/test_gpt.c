/* test_gpt.c -- common/gpt, the book's GPT, on the CPU.
 *
 *   layout: the table covers every parameter once, in GPT-2's order and
 *     names, matrices before vectors, aligned, and the count formula agrees;
 *   gradients: every parameter's gradient against central differences of
 *     the loss (a tiny model with non-trivial weights, some positions
 *     without a target), tolerance 2e-3 of the largest gradient of each
 *     tensor (f32 forward passes, h = 4e-3: rounding noise about
 *     1e-7 |L| / h and truncation O(h^2) both near 1e-4 of the gradients);
 *   AdamW: decay reaches the matrices and not the vectors; the step and the
 *     clipping;
 *   files: save and load round trip bit for bit; the file has GPT-2's names
 *     and Conv1D shapes and the metadata transformers needs; the
 *     "transformer." prefix, a tied lm_head and the old mask buffers are
 *     accepted; an untied lm_head, a missing tensor, an extra tensor and a
 *     file without a head count are refused with one line; config.json
 *     supplies the head count;
 *   Hugging Face: the model transformers wrote (tests/fixtures/gpt2-tiny,
 *     made by tests/hf_gpt2.py on a machine with PyTorch) loads, and its
 *     logits, loss and every gradient, computed by PyTorch in float64, agree
 *     with ours within the bounds stated at test_hf_fixture;
 *   training: a few steps lower the loss of a repeated batch; the profile
 *     counts the layer calls;
 *   recomputation (gradient checkpointing): every policy gives the same
 *     loss, gradients and steps, bit for bit, in fewer bytes;
 *   the fusion switches (GPT_FUSE_*): parsed and named, an unknown name
 *     refused, and no change on the CPU.
 * Run from the repository root (make test does). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "ckpt.h"
#include "expect_die.h"
#include "gpt.h"
#include "gpt_perturb.h"
#include "remove_tree.h"
#include "rng.h"
#include "util.h"

#define FIXTURE "tests/fixtures/gpt2-tiny"

static GptConfig tiny(void) { return (GptConfig){.V = 11, .maxT = 8, .L = 2, .NH = 2, .C = 8, .F = 12}; }

/* Perturb every parameter so that no code path is trivial: weights N(0, 0.3),
 * gains 1 + N(0, 0.2), offsets and biases N(0, 0.1). */
static void perturb(Gpt *m, uint64_t seed) {
    float *h = xcalloc(m->nparams, sizeof *h);
    gpt_perturb(h, m, seed, 0.3, 0.2, 0.1);
    gpt_set_params(m, h);
    free(h);
}

static void random_batch(Rng *r, int32_t *tok, int32_t *tgt, int n, int V, bool holes) {
    for (int i = 0; i < n; i++) {
        tok[i] = (int32_t)rng_below(r, (uint64_t)V);
        tgt[i] = holes && i % 4 == 3 ? -1 : (int32_t)rng_below(r, (uint64_t)V);
    }
}

static void test_layout(Check *t) {
    GptConfig cfgs[] = {tiny(), {.V = 50304, .maxT = 1024, .L = 12, .NH = 12, .C = 768, .F = 3072},
                        {.V = 85, .maxT = 64, .L = 3, .NH = 4, .C = 20, .F = 50}};
    for (size_t k = 0; k < 3; k++) {
        GptConfig *c = &cfgs[k];
        size_t n = gpt_num_tensors(c), nd, sum = 0;
        GptTensorInfo *info = xcalloc(n, sizeof *info);
        size_t total = gpt_layout(c, info, &nd);
        bool aligned = true, order = true, inside = true;
        for (size_t i = 0; i < n; i++) {
            sum += info[i].numel;
            aligned &= info[i].offset % GPT_ALIGN == 0;
            order &= info[i].decay ? info[i].offset + info[i].numel <= nd : info[i].offset >= nd;
            inside &= info[i].offset + info[i].numel <= total;
        }
        bool disjoint = true;   /* sorted by offset, each ends before the next begins */
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++)
                if (i != j && info[i].offset <= info[j].offset && info[j].offset < info[i].offset + info[i].numel) disjoint = false;
        check_true(t, sum == gpt_param_count(c), "config %zu: the table holds gpt_param_count = %zu parameters (got %zu)", k,
                   gpt_param_count(c), sum);
        check_true(t, aligned && inside && disjoint, "config %zu: tensors aligned, inside the block, disjoint", k);
        check_true(t, order, "config %zu: matrices (decayed) before vectors", k);
        check_true(t, strcmp(info[0].name, "wte.weight") == 0 && strcmp(info[2].name, "h.0.ln_1.weight") == 0 &&
                          strcmp(info[4].name, "h.0.attn.c_attn.weight") == 0 && strcmp(info[n - 1].name, "ln_f.bias") == 0,
                   "config %zu: GPT-2's names in GPT-2's order", k);
        free(info);
    }
    /* GPT-2 small: 124,475,904 parameters with V = 50257 (the published count, 124M) */
    GptConfig s = gpt2_small_config(50257);
    check_true(t, gpt_param_count(&s) == 124439808, "GPT-2 small has 124,439,808 parameters (got %zu)", gpt_param_count(&s));
    char err[256];
    GptConfig bad = tiny();
    bad.C = 9;
    check_true(t, !gpt_config_valid(&bad, err, sizeof err) && strstr(err, "multiple"), "C = 9 with 2 heads is refused: %s", err);
}

typedef struct { Gpt *m; int32_t *tok, *tgt; int B, T; } Fd;

static double fd_loss(const float *x, void *ctx) {
    Fd *f = ctx;
    gpt_set_params(f->m, x);
    return gpt_forward(f->m, f->tok, f->tgt, f->B, f->T);
}

static void test_gradients(Check *t) {
    GptConfig c = tiny();
    int B = 2, T = 7;
    Gpt *m = gpt_new(&c, NULL, DT_F32, B, 8);
    perturb(m, 3);
    Rng r;
    rng_seed(&r, 4);
    int32_t tok[14], tgt[14];
    random_batch(&r, tok, tgt, B * T, c.V, true);
    gpt_zero_grad(m);
    float loss = gpt_forward_backward(m, tok, tgt, B, T);
    float *g = xmalloc_array(m->nparams, sizeof *g), *x = xmalloc_array(m->nparams, sizeof *x);
    gpt_get_grads(m, g);
    gpt_get_params(m, x);
    check_true(t, isfinite(loss) && loss > 0, "the loss of the tiny model is finite and positive (%.4f)", loss);
    Fd f = {m, tok, tgt, B, T};
    int bad = 0;
    for (size_t i = 0; i < m->ntensors; i++) {
        const GptTensorInfo *ti = &m->info[i];
        double worst = 0, scale = 0;
        for (size_t j = 0; j < ti->numel; j++) scale = fmax(scale, fabs(g[ti->offset + j]));
        for (size_t j = 0; j < ti->numel; j++) {
            size_t k = ti->offset + j;
            float keep = x[k];
            x[k] = keep + 4e-3f;
            double up = fd_loss(x, &f);
            x[k] = keep - 4e-3f;
            double down = fd_loss(x, &f);
            x[k] = keep;
            worst = worst_of(worst, fabs((up - down) / 8e-3 - g[k]));
        }
        /* wpe rows at positions >= T get no gradient: scale may be 0 only there */
        bool ok = worst <= 2e-3 * fmax(scale, 1e-3);
        if (!ok) bad++;
        check_true(t, ok, "d loss / d %s: worst |numeric - analytic| %.2e, largest gradient %.2e", ti->name, worst, scale);
    }
    check_true(t, bad == 0, "all %zu tensors' gradients agree with central differences", m->ntensors);
    gpt_set_params(m, x);
    /* the position without a target contributes nothing: changing its target changes nothing */
    float l1 = gpt_forward(m, tok, tgt, B, T);
    int32_t tgt2[14];
    memcpy(tgt2, tgt, sizeof tgt);
    tgt2[3] = -1;   /* already -1: i % 4 == 3 */
    check_true(t, l1 == gpt_forward(m, tok, tgt2, B, T), "a target of -1 carries no loss");
    free(g), free(x);
    gpt_free(m);
}

static void test_adamw(Check *t) {
    GptConfig c = tiny();
    Gpt *m = gpt_new(&c, NULL, DT_F32, 1, 4);
    perturb(m, 9);
    float *before = xmalloc_array(m->nparams, sizeof *before), *after = xmalloc_array(m->nparams, sizeof *after);
    gpt_get_params(m, before);
    gpt_zero_grad(m);
    GptAdamW o = {.lr = 0.1f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.5f, .grad_clip = 1};
    float norm = gpt_update(m, &o);
    gpt_get_params(m, after);
    bool mats = true, vecs = true;
    for (size_t i = 0; i < m->ntensors; i++) {
        const GptTensorInfo *ti = &m->info[i];
        for (size_t j = 0; j < ti->numel; j++) {
            size_t k = ti->offset + j;
            if (ti->decay) mats &= fabsf(after[k] - before[k] * (1 - 0.1f * 0.5f)) <= 1e-7f * (1 + fabsf(before[k]));
            else vecs &= after[k] == before[k];
        }
    }
    check_true(t, norm == 0, "zero gradients have norm 0");
    check_true(t, mats, "with zero gradients, weight decay shrinks every matrix by 1 - lr wd");
    check_true(t, vecs, "and leaves every bias and norm parameter alone");
    /* clipping: a batch's update with clip 1e-3 equals the update of the scaled gradient */
    Rng r;
    rng_seed(&r, 5);
    int32_t tok[4], tgt[4];
    random_batch(&r, tok, tgt, 4, c.V, false);
    gpt_set_params(m, before);
    gpt_zero_grad(m);
    gpt_forward_backward(m, tok, tgt, 1, 4);
    float *g = xmalloc_array(m->nparams, sizeof *g);
    gpt_get_grads(m, g);
    double n2 = 0;
    for (size_t i = 0; i < m->nparams; i++) n2 += (double)g[i] * g[i];
    o.weight_decay = 0;
    o.grad_clip = 1e-3f;
    norm = gpt_update(m, &o);
    check_close(t, norm, sqrt(n2), 1e-6, 1e-5, "gpt_update returns the gradient's norm before clipping");
    free(before), free(after), free(g);
    gpt_free(m);
}

static const char *tmpdir(void) {
    static char dir[64];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/test-gpt-XXXXXX");
        if (!mkdtemp(dir)) die("cannot make a temporary directory");
    }
    return dir;
}

/* Write the tensors of file `src` to `dst` with names changed by `edit` (NULL: drop). */
static void rewrite(const char *src, const char *dst, const char *(*edit)(const char *, char *), const NamedTensor *extra,
                    const char *const *meta) {
    char err[256], buf[96];
    Ckpt *k = ckpt_load(src, err, sizeof err);
    if (!k) die("%s", err);
    NamedTensor *t = xcalloc(k->n + 1, sizeof *t);
    char (*names)[96] = xcalloc(k->n, sizeof *names);
    size_t n = 0;
    for (size_t i = 0; i < k->n; i++) {
        const char *nm = edit ? edit(k->tensors[i].name, buf) : k->tensors[i].name;
        if (!nm) continue;
        snprintf(names[n], 96, "%s", nm);
        t[n] = k->tensors[i], t[n].name = names[n], n++;
    }
    if (extra) t[n++] = *extra;
    if (!ckpt_save(dst, t, n, NULL, meta, err, sizeof err)) die("%s", err);
    free(t), free(names);
    ckpt_free(k);
}

static const char *add_prefix(const char *s, char *buf) { snprintf(buf, 96, "transformer.%s", s); return buf; }
static const char *drop_ln_f(const char *s, char *buf) { (void)buf; return strcmp(s, "ln_f.bias") == 0 ? NULL : s; }

static void test_files(Check *t) {
    GptConfig c = tiny();
    Gpt *m = gpt_new(&c, NULL, DT_F32, 1, 8);
    perturb(m, 11);
    char err[256];
    char *path = xasprintf("%s/m.safetensors", tmpdir()), *p2 = xasprintf("%s/p.safetensors", tmpdir());
    check_true(t, gpt_save(m, path, NULL, (const char *const[]){"note", "test", NULL}, err, sizeof err), "gpt_save writes %s", path);
    Ckpt *k = ckpt_load(path, err, sizeof err);
    check_true(t, k != NULL, "and it loads as safetensors");
    if (k) {
        const NamedTensor *a = ckpt_find(k, "h.1.attn.c_attn.weight"), *f = ckpt_find(k, "h.0.mlp.c_proj.weight");
        check_true(t, a && a->t.shape[0] == 8 && a->t.shape[1] == 24, "c_attn.weight is stored [C, 3C] as GPT-2's Conv1D");
        check_true(t, f && f->t.shape[0] == 12 && f->t.shape[1] == 8, "mlp.c_proj.weight is stored [F, C]");
        check_true(t, ckpt_meta(k, "format") && strcmp(ckpt_meta(k, "format"), "pt") == 0 && ckpt_meta(k, "n_head") &&
                          strcmp(ckpt_meta(k, "n_head"), "2") == 0 && ckpt_meta(k, "note"),
                   "metadata: format pt, n_head 2, and the caller's");
        check_true(t, k->n == m->ntensors, "one tensor per parameter tensor (%zu)", k->n);
        ckpt_free(k);
    }
    Gpt *b = gpt_load(path, NULL, DT_F32, 1, 8, err, sizeof err);
    check_true(t, b != NULL, "gpt_load reads it back%s%s", b ? "" : ": ", b ? "" : err);
    if (b) {
        float *x = xmalloc_array(m->nparams, 4), *y = xmalloc_array(m->nparams, 4);
        gpt_get_params(m, x), gpt_get_params(b, y);
        check_true(t, memcmp(x, y, m->nparams * 4) == 0, "save and load round trip, bit for bit");
        check_true(t, b->cfg.NH == 2 && b->cfg.F == 12 && b->cfg.maxT == 8 && b->cfg.L == 2, "the configuration is recovered");
        free(x), free(y);
        gpt_free(b);
    }
    /* transformers' prefix, a tied lm_head, a mask buffer */
    Ckpt *orig = ckpt_load(path, err, sizeof err);
    const NamedTensor *wte = ckpt_find(orig, "wte.weight");
    NamedTensor lm = *wte;
    lm.name = "lm_head.weight";
    rewrite(path, p2, add_prefix, &lm, (const char *const[]){"format", "pt", "n_head", "2", NULL});
    b = gpt_load(p2, NULL, DT_F32, 1, 8, err, sizeof err);
    check_true(t, b != NULL, "names with the transformer. prefix and a tied lm_head load%s%s", b ? "" : ": ", b ? "" : err);
    gpt_free(b);
    float *junk = xcalloc(64, 4);
    NamedTensor mask = {"h.0.attn.bias", tensor_wrap(DT_F32, DEV_CPU, 4, (int64_t[]){1, 1, 8, 8}, junk)};
    rewrite(path, p2, NULL, &mask, (const char *const[]){"format", "pt", "n_head", "2", NULL});
    b = gpt_load(p2, NULL, DT_F32, 1, 8, err, sizeof err);
    check_true(t, b != NULL, "the causal-mask buffer of older GPT-2 files is ignored%s%s", b ? "" : ": ", b ? "" : err);
    gpt_free(b);
    /* refusals */
    NamedTensor untied = lm;
    float *other = xcalloc(tensor_nbytes(&wte->t) / 4, 4);
    untied.t.data = other;
    rewrite(path, p2, NULL, &untied, (const char *const[]){"format", "pt", "n_head", "2", NULL});
    b = gpt_load(p2, NULL, DT_F32, 1, 8, err, sizeof err);
    check_true(t, !b && strstr(err, "lm_head") && !strchr(err, '\n'), "an untied lm_head is refused in one line: %s", err);
    NamedTensor extra = {"h.0.attn.q_norm.weight", tensor_wrap(DT_F32, DEV_CPU, 1, (int64_t[]){4}, junk)};
    rewrite(path, p2, NULL, &extra, (const char *const[]){"n_head", "2", NULL});
    b = gpt_load(p2, NULL, DT_F32, 1, 8, err, sizeof err);
    check_true(t, !b && strstr(err, "unexpected tensor h.0.attn.q_norm.weight"), "an extra tensor is refused: %s", err);
    rewrite(path, p2, drop_ln_f, NULL, (const char *const[]){"n_head", "2", NULL});
    b = gpt_load(p2, NULL, DT_F32, 1, 8, err, sizeof err);
    check_true(t, !b && strstr(err, "no tensor ln_f.bias"), "a missing tensor is refused: %s", err);
    char *p3 = xasprintf("%s/nohead/model.safetensors", tmpdir()), *cj = xasprintf("%s/nohead/config.json", tmpdir());
    char *d3 = xasprintf("%s/nohead", tmpdir());
    mkdir_p(d3);
    rewrite(path, p3, NULL, NULL, NULL);
    b = gpt_load(p3, NULL, DT_F32, 1, 8, err, sizeof err);
    check_true(t, !b && strstr(err, "number of heads"), "no n_head anywhere is refused: %s", err);
    FILE *fp = xfopen(cj, "w");
    fprintf(fp, "{\n  \"activation_function\": \"gelu_new\",\n  \"n_head\": 2,\n  \"n_layer\": 2\n}\n");
    fclose(fp);
    b = gpt_load(p3, NULL, DT_F32, 1, 8, err, sizeof err);
    check_true(t, b && b->cfg.NH == 2, "config.json beside the file supplies n_head%s%s", b ? "" : ": ", b ? "" : err);
    gpt_free(b);
    GptConfig other_cfg = c;
    other_cfg.F = 16;
    Gpt *o = gpt_new(&other_cfg, NULL, DT_F32, 1, 8);
    check_true(t, !gpt_load_into(o, path, err, sizeof err) && strstr(err, "F 12"), "loading into another configuration is refused: %s", err);
    gpt_free(o);
    ckpt_free(orig);
    free(junk), free(other), free(path), free(p2), free(p3), free(cj), free(d3);
    gpt_free(m);
}

/* The fixture of tests/hf_gpt2.py: a GPT2LMHeadModel with random weights,
 * saved by transformers' save_pretrained, and PyTorch's logits, loss and
 * gradients for one batch, computed in float64 and stored in f32.  Ours are
 * computed in f32, so each differs from the reference by f32 rounding
 * accumulated over the network: we allow |ours - ref| <= 1e-5 + 1e-4 |ref|
 * element by element, and a normwise relative error below 1e-5 for every
 * quantity (observed values are printed with CHECK_VERBOSE=1). */
static void test_hf_fixture(Check *t) {
    char err[256];
    Gpt *m = gpt_load(FIXTURE "/model.safetensors", NULL, DT_F32, 4, 32, err, sizeof err);
    check_true(t, m != NULL, "the model transformers saved loads (%s)", m ? "tests/fixtures/gpt2-tiny/model.safetensors" : err);
    if (!m) return;
    size_t n = 0;
    GptRefRow *rows = gpt_compare_reference(m, FIXTURE "/expected.safetensors", 1e-5, 1e-4, &n, err, sizeof err);
    check_true(t, rows != NULL, "the reference loads%s%s", rows ? "" : ": ", rows ? "" : err);
    for (size_t i = 0; rows && i < n; i++)
        check_true(t, rows[i].worst <= 1 && rows[i].rel < 1e-5, "%s agrees with transformers: max |diff| %.2e (max |ref| %.2e), rel %.2e",
                   rows[i].name, rows[i].max_abs, rows[i].max_ref, rows[i].rel);
    check_true(t, n == 2 + m->ntensors, "logits, loss and all %zu gradients compared", m->ntensors);
    free(rows);
    gpt_free(m);
}

static void test_training(Check *t) {
    GptConfig c = {.V = 16, .maxT = 16, .L = 2, .NH = 4, .C = 16, .F = 64};
    Gpt *m = gpt_new(&c, NULL, DT_F32, 2, 16);
    gpt_init(m, 1);
    int32_t tok[32], tgt[32];
    for (int i = 0; i < 32; i++) tok[i] = (i * 7) % 16, tgt[i] = ((i + 1) * 7) % 16;
    GptAdamW o = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f, .grad_clip = 1};
    float first = gpt_step(m, tok, tgt, 2, 16, &o, NULL), last = first;
    check_close(t, first, log(16.0), 0.05, 0, "at GPT-2's initialization the loss is about ln V = %.3f (%.3f)", log(16.0), first);
    gpt_profile_start(m);
    for (int s = 0; s < 30; s++) last = gpt_step(m, tok, tgt, 2, 16, &o, NULL);
    GptProfileRow rows[48];
    int n = gpt_profile_report(m, rows, 48), attn = 0;
    for (int i = 0; i < n; i++) if (strcmp(rows[i].name, "attention fwd") == 0) attn = rows[i].calls;
    check_true(t, attn == 30 * c.L, "the profile counted %d attention calls (expected %d)", attn, 30 * c.L);
    gpt_profile_stop(m);
    check_true(t, last < 0.5 * first, "30 steps on one batch: the loss falls from %.3f to %.3f", first, last);
    check_true(t, m->step == 31, "31 AdamW steps were counted");
    gpt_free(m);
}

/* Gradient checkpointing (chapter 12): every policy gives the loss, the
 * gradients (accumulated over two calls) and three training steps' parameters
 * of the model that keeps everything, bit for bit, since the recomputed
 * forward passes repeat the same calls on the same inputs; the fused
 * classifier combines with them; each policy keeps fewer bytes. */
/* Loss and gradients (two calls accumulated), then the parameters after three steps, of a model made with o. */
static float recompute_run(const GptConfig *c, const GptMemOptions *o, const float *h, const int32_t *tok,
                           const int32_t *tgt, int B, int T, float *g, float *p, size_t *act_bytes) {
    Gpt *m = gpt_new_opts(c, NULL, DT_F32, B, T, o);
    GptAdamW opt = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f, .grad_clip = 1};
    gpt_set_params(m, h), gpt_zero_grad(m);
    float loss = gpt_forward_backward(m, tok, tgt, B, T);
    gpt_forward_backward(m, tok, tgt, B, T);
    gpt_get_grads(m, g);
    for (int s = 0; s < 3; s++) gpt_step(m, tok, tgt, B, T, &opt, NULL);
    gpt_get_params(m, p);
    *act_bytes = m->act_bytes;
    gpt_free(m);
    return loss;
}

static void new_with(void *ctx) {
    GptConfig c = {.V = 13, .maxT = 8, .L = 2, .NH = 2, .C = 8, .F = 20};
    gpt_new_opts(&c, NULL, DT_F32, 1, 8, ctx);
}

static void test_recompute(Check *t) {
    GptMemOptions bad[] = {{.arena = true, .recompute = GPT_RECOMPUTE_SELECTIVE}, {.recompute = 7}, {.attention = 3},
                           {.recompute = GPT_RECOMPUTE_SEGMENTS, .segment = -1}};
    const char *needle[] = {"arena", "recompute", "attention", "segment"};
    for (int i = 0; i < 4; i++) expect_die(t, new_with, &bad[i], needle[i], "gpt_new_opts refuses a bad memory option");
    GptConfig c = {.V = 13, .maxT = 8, .L = 5, .NH = 2, .C = 8, .F = 20};
    int B = 2, T = 8, N = B * T;
    GptMemOptions pol[] = {{.recompute = GPT_RECOMPUTE_SELECTIVE}, {.recompute = GPT_RECOMPUTE_SEGMENTS, .segment = 1},
                           {.recompute = GPT_RECOMPUTE_SEGMENTS, .segment = 2}, {.recompute = GPT_RECOMPUTE_SEGMENTS},
                           {.recompute = GPT_RECOMPUTE_SEGMENTS, .segment = 3}, {.recompute = GPT_RECOMPUTE_SEGMENTS, .segment = 5},
                           {.recompute = GPT_RECOMPUTE_SEGMENTS, .segment = 2, .classifier_rows = 5}};
    const char *names[] = {"selective", "every block", "segments of 2", "sqrt(L) segments", "segments of 3 (one short)",
                           "one segment of L", "segments of 2 with the fused classifier (against it alone)"};
    size_t P = gpt_layout(&c, NULL, NULL), b0, b1;
    float *h = xcalloc(P, 4), *g0 = xcalloc(P, 4), *g1 = xcalloc(P, 4), *p0 = xcalloc(P, 4), *p1 = xcalloc(P, 4);
    Gpt *shape = gpt_new(&c, NULL, DT_F32, 1, 1);
    gpt_perturb(h, shape, 5, 0.3, 0.1, 0.05);
    gpt_free(shape);
    int32_t tok[16], tgt[16];
    for (int i = 0; i < N; i++) tok[i] = (i * 5 + 3) % 13, tgt[i] = i % 7 == 0 ? -1 : (i * 3 + 1) % 13;
    check_true(t, gpt_segment_blocks(&c, &pol[3]) == 2, "sqrt(L) segments of L = 5 blocks are 2 blocks long");
    for (size_t k = 0; k < sizeof pol / sizeof pol[0]; k++) {
        GptMemOptions plain = {.classifier_rows = pol[k].classifier_rows};
        float l0 = recompute_run(&c, &plain, h, tok, tgt, B, T, g0, p0, &b0);
        float l1 = recompute_run(&c, &pol[k], h, tok, tgt, B, T, g1, p1, &b1);
        check_true(t, l1 == l0 && memcmp(g0, g1, P * 4) == 0 && memcmp(p0, p1, P * 4) == 0,
                   "recompute %s: loss, gradients and 3 steps' parameters bit for bit as without it", names[k]);
        check_true(t, b1 < b0 || pol[k].segment == c.L, "recompute %s keeps %zu bytes of activations, against %zu",
                   names[k], b1, b0);
        check_true(t, gpt_activation_bytes_opts(&c, DT_F32, B, T, &pol[k]) == b1, "and gpt_activation_bytes_opts counts them");
    }
    free(h), free(g0), free(g1), free(p0), free(p1);
}

static void parse_fuse(void *ctx) { gpt_fusions_parse(ctx); }

/* The fusion switches (GPT_FUSE_*, issue 25): their names both ways, an
 * unknown name refused with one line, and on the CPU no change at all (the
 * fused kernels are the GPU's; tests/test_gpt_gpu.c checks them there). */
static void test_fusion_switches(Check *t) {
    check_true(t, gpt_fusions_parse(NULL) == 0 && gpt_fusions_parse("") == 0 && gpt_fusions_parse("none") == 0,
               "GPT_FUSE unset, empty or none: no fusion");
    check_true(t, gpt_fusions_parse("gelu") == GPT_FUSE_GELU && gpt_fusions_parse("residual,gelu-set") ==
                   (GPT_FUSE_RESIDUAL | GPT_FUSE_GELU_SET) && gpt_fusions_parse("all") == GPT_FUSE_ALL && gpt_fusions_parse("bgrad") == GPT_FUSE_BGRAD &&
                   gpt_fusions_parse("gelu,,none") == GPT_FUSE_GELU,
               "GPT_FUSE names each switch; all is every one");
    char buf[64];
    check_true(t, strcmp(gpt_fusions_name(0, buf, sizeof buf), "none") == 0 &&
                   strcmp(gpt_fusions_name(GPT_FUSE_ALL, buf, sizeof buf), "gelu,residual,gelu-set,bgrad") == 0 &&
                   gpt_fusions_parse(gpt_fusions_name(GPT_FUSE_GELU | GPT_FUSE_GELU_SET, buf, sizeof buf)) ==
                   (GPT_FUSE_GELU | GPT_FUSE_GELU_SET),
               "gpt_fusions_name writes what gpt_fusions_parse reads");
    expect_die(t, parse_fuse, "gelu,fast", "fast", "GPT_FUSE with an unknown name stops with one line naming it");
    GptConfig c = {.V = 13, .maxT = 8, .L = 2, .NH = 2, .C = 8, .F = 20};
    int B = 2, T = 8, N = B * T;
    Gpt *a = gpt_new(&c, NULL, DT_F32, B, T), *b = gpt_new(&c, NULL, DT_F32, B, T);
    gpt_set_fusions(a, 0), gpt_set_fusions(b, GPT_FUSE_ALL);
    float *h = xcalloc(a->nparams, 4), *ga = xcalloc(a->nparams, 4), *gb = xcalloc(a->nparams, 4);
    gpt_perturb(h, a, 6, 0.3, 0.1, 0.05);
    gpt_set_params(a, h), gpt_set_params(b, h);
    int32_t tok[16], tgt[16];
    for (int i = 0; i < N; i++) tok[i] = (i * 5 + 2) % 13, tgt[i] = (i * 3 + 4) % 13;
    gpt_zero_grad(a), gpt_zero_grad(b);
    float la = gpt_forward_backward(a, tok, tgt, B, T), lb = gpt_forward_backward(b, tok, tgt, B, T);
    gpt_get_grads(a, ga), gpt_get_grads(b, gb);
    check_true(t, b->fuse == GPT_FUSE_ALL && la == lb && memcmp(ga, gb, a->nparams * 4) == 0,
               "on the CPU the switches change nothing: the same loss and gradients, bit for bit");
    free(h), free(ga), free(gb);
    gpt_free(a), gpt_free(b);
}

int main(void) {
    Check t;
    check_init(&t, "gpt");
    test_recompute(&t);
    test_layout(&t);
    test_gradients(&t);
    test_adamw(&t);
    test_files(&t);
    test_hf_fixture(&t);
    test_training(&t);
    test_fusion_switches(&t);
    remove_tree(tmpdir());
    return check_summary(&t);
}
