/* test_ch08.c -- chapter 8, multi-head attention and the transformer.
 *
 * Includes the tangled program (build/08-transformer/transformer.c, with
 * TESTING defined so that it has no main) and the tangled solutions, then
 * checks every derivation of the chapter numerically:
 *   the chapter's multi-head attention against nn.h's (forward, backward);
 *   the subspace decomposition: W_O [o_1; ...; o_H] = sum_h W_O^(h) o_h;
 *   the rank of one head's scores is at most its width d (and the Jacobi
 *   singular values against a matrix whose singular values are known);
 *   the parameter count P = VC + TC + L(12C^2 + 13C) + 2C, and 124,439,808
 *   for GPT-2 small; the same count for every H;
 *   a residual block whose branches write zero is the identity, forward and
 *   backward; post-LN blocks output rows of mean 0 and variance 1; in a
 *   pre-LN stack at initialization the stream grows with depth;
 *   the whole model's gradient against central differences (Richardson's
 *   extrapolation of h = 8e-3 and 4e-3, so that truncation error, O(h^4),
 *   stays below the f32 rounding noise, about 1e-7 |L| / h), in every
 *   variant (pre-LN, post-LN, no norm, no residual, no FFN, QK-norm, soft
 *   cap);
 *   QK-norm makes the scores invariant to the scale of W_Q and W_K, and
 *   bounds them by sqrt(d) max|g_q| max|g_k|; a large cap changes nothing;
 *   the chapter's model and the runtime's GPT (common/gpt.h): the same
 *   initial parameters, bit for bit; the same logits, loss, gradients and
 *   training step;
 *   the text scorer scores every position once; the learning-rate schedule;
 *   the spread of the top state (0 for identical states, 1 for states of mean 0);
 *   the solutions of the coding exercises (local attention, the output cap,
 *   removing one head);
 * then runs every CPU experiment in --quick mode into a temporary directory,
 * checks the files they write, and checks the program's one-line errors.
 * Run from the repository root (make test does). */
#include "transformer.c"
#include "ch08-solutions.c"

#include "chapter_test.h"
#ifdef _OPENMP
#include <omp.h>
#endif
#include "check.h"

static void fill(float *x, size_t n, double scale, Rng *rng) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(scale * rng_normal(rng));
}

/* Perturb every parameter: weights N(0, 0.3), gains 1 + N(0, 0.2), the rest N(0, 0.1). */
static void perturb(Tf *m, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < m->nspans; i++) {
        const TfSpan *s = &m->spans[i];
        bool gain = (strstr(s->name, "ln_") || strstr(s->name, "_norm.")) && strstr(s->name, ".weight");
        for (size_t j = 0; j < s->n; j++)
            m->params[s->offset + j] = (float)(s->cols ? 0.3 * rng_normal(&r) : gain ? 1 + 0.2 * rng_normal(&r) : 0.1 * rng_normal(&r));
    }
}

static void random_tokens(Tf *m, int B, int T, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < B * T; i++)
        m->tok[i] = (int32_t)rng_below(&r, (uint64_t)m->cfg.V), m->tgt[i] = i % 5 == 4 ? -1 : (int32_t)rng_below(&r, (uint64_t)m->cfg.V);
}

static TfConfig tiny(void) {
    return (TfConfig){.V = 7, .T = 6, .L = 2, .NH = 2, .C = 8, .F = 16, .norm = NORM_PRE, .residual = true};
}

static void test_attention(Check *t) {
    int B = 2, T = 7, C = 12, NH = 3;
    size_t n3 = (size_t)B * T * 3 * C, nc = (size_t)B * T * C, na = (size_t)B * NH * T * T;
    float *qkv = xmalloc_array(n3, 4), *o1 = xmalloc_array(nc, 4), *o2 = xmalloc_array(nc, 4);
    float *a1 = xmalloc_array(na, 4), *a2 = xmalloc_array(na, 4), *sc = xmalloc_array(na, 4);
    float *g = xmalloc_array(nc, 4), *d1 = xcalloc(n3, 4), *d2 = xcalloc(n3, 4);
    Rng r;
    rng_seed(&r, 1);
    fill(qkv, n3, 1, &r), fill(g, nc, 1, &r);
    mha_forward(o1, a1, sc, qkv, B, T, C, NH, 0);
    attention_forward(o2, a2, qkv, B, T, C, NH);
    check_close_f32(t, o1, o2, nc, 1e-6, 1e-5, "mha_forward = nn.h's attention_forward");
    check_close_f32(t, a1, a2, na, 1e-7, 1e-5, "and the same weights");
    mha_backward(d1, g, qkv, a1, sc, B, T, C, NH, 0);
    attention_backward(d2, g, qkv, a2, B, T, C, NH);
    check_close_f32(t, d1, d2, n3, 1e-6, 1e-4, "mha_backward = nn.h's attention_backward");
    /* the subspace decomposition */
    float *Wo = xmalloc_array((size_t)C * C, 4), *y = xmalloc_array(nc, 4);
    fill(Wo, (size_t)C * C, 0.5, &r);
    linear_forward(y, o1, Wo, NULL, B * T, C, C);
    int hs = C / NH;
    double worst = 0;
    for (int n = 0; n < B * T; n++)
        for (int i = 0; i < C; i++) {
            double s = 0;
            for (int h = 0; h < NH; h++) {   /* W_O^(h) o_h: the columns h hs .. h hs + hs - 1 */
                const float *oh = o1 + (size_t)n * C + h * hs;
                for (int j = 0; j < hs; j++) s += (double)Wo[(size_t)i * C + h * hs + j] * oh[j];
            }
            worst = worst_of(worst, fabs(s - y[(size_t)n * C + i]));
        }
    check_true(t, worst < 1e-5, "W_O [o_1; ...; o_H] = sum over heads of W_O^(h) o_h (worst difference %.1e)", worst);
    /* a softcap far above the scores changes nothing */
    mha_forward(o2, a2, sc, qkv, B, T, C, NH, 1e4f);
    check_close_f32(t, o2, o1, nc, 1e-6, 1e-5, "a soft cap of 10^4 leaves the outputs unchanged");
    free(qkv), free(o1), free(o2), free(a1), free(a2), free(sc), free(g), free(d1), free(d2), free(Wo), free(y);
}

static void test_rank(Check *t) {
    /* A = U diag(3, 2, 1, 0.5) V^T with rotations for U and V: singular values 3, 2, 1, 0.5 */
    double A[16] = {0}, sv[4], s[4] = {3, 2, 1, 0.5}, c = cos(0.7), sn = sin(0.7);
    double U[16] = {c, -sn, 0, 0, sn, c, 0, 0, 0, 0, c, sn, 0, 0, -sn, c}, Vt[16] = {1, 0, 0, 0, 0, c, -sn, 0, 0, sn, c, 0, 0, 0, 0, 1};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            for (int k = 0; k < 4; k++) A[i * 4 + j] += U[i * 4 + k] * s[k] * Vt[k * 4 + j];
    singular_values(A, 4, 4, sv);
    check_close_f64(t, sv, s, 4, 1e-12, 1e-12, "Jacobi finds the singular values 3, 2, 1, 0.5");
    char dir[] = "/tmp/test-ch08-rank-XXXXXX";
    if (!mkdtemp(dir)) die("mkdtemp");
    Run r = {0};
    quick_common(&r.c, "test_ch08", dir);
    check_true(t, experiment_rank(&r) == 0, "rank runs");
    TsvTable *tab = load(t, dir, "ch08-rank");
    if (tab) {
        bool ok = true;
        for (size_t i = 0; i < tsv_rows(tab); i++) {
            int d = (int)num(t, tab, i, "d"), idx = (int)num(t, tab, i, "index"), rank = (int)num(t, tab, i, "numerical_rank");
            ok &= rank == d;                                       /* the rank is the width */
            if (idx > d) ok &= num(t, tab, i, "relative") < 1e-12;  /* and the rest is noise */
        }
        check_true(t, ok, "a head of width d has exactly d singular values above 1e-10 of the largest, the rest below 1e-12");
        tsv_free(tab);
    }
    cli_free(&r.c);
    remove_tree(dir);
}

static void test_param_count(Check *t) {
    TfTensors tt;
    for (int L = 1; L <= 3; L++) {
        TfConfig c = {.V = 85, .T = 64, .L = L, .NH = 4, .C = 32, .F = 128, .norm = NORM_PRE, .residual = true};
        size_t P = (size_t)85 * 32 + 64 * 32 + (size_t)L * (12 * 32 * 32 + 13 * 32) + 2 * 32;
        check_true(t, tf_layout(&tt, NULL, &c, NULL, NULL) == P, "L = %d: P = VC + TC + L(12C^2 + 13C) + 2C = %zu", L, P);
        for (int H = 1; H <= 32; H *= 2) {
            c.NH = H;
            if (tf_layout(&tt, NULL, &c, NULL, NULL) != P) check_true(t, false, "the count does not depend on the heads (H = %d)", H);
        }
    }
    TfConfig g2 = {.V = 50257, .T = 1024, .L = 12, .NH = 12, .C = 768, .F = 3072, .norm = NORM_PRE, .residual = true};
    check_true(t, tf_layout(&tt, NULL, &g2, NULL, NULL) == 124439808, "GPT-2 small: 124,439,808 parameters");
    TfSpan sp[MAX_SPANS];
    int ns;
    TfConfig c = tiny();
    tf_layout(&tt, NULL, &c, sp, &ns);
    check_true(t, ns == 4 + 12 * c.L && strcmp(sp[4].name, "h.0.attn.c_attn.weight") == 0 && strcmp(sp[ns - 1].name, "ln_f.bias") == 0,
               "the spans carry GPT-2's names in GPT-2's order");
}

static void test_residual_and_norms(Check *t) {
    TfConfig c = tiny();
    int B = 2, T = 6, N = B * T;
    Tf *m = tf_new(&c, B, 3);
    perturb(m, 4);
    random_tokens(m, B, T, 5);
    /* zero the two projections that write into the stream: the block is the identity */
    memset(m->p.h[0].projw, 0, (size_t)c.C * c.C * 4), memset(m->p.h[0].projb, 0, (size_t)c.C * 4);
    memset(m->p.h[0].fcprojw, 0, (size_t)c.C * c.F * 4), memset(m->p.h[0].fcprojb, 0, (size_t)c.C * 4);
    float *x = xmalloc_array((size_t)N * c.C, 4), *dy = xmalloc_array((size_t)N * c.C, 4), *dx = xmalloc_array((size_t)N * c.C, 4);
    Rng r;
    rng_seed(&r, 6);
    fill(x, (size_t)N * c.C, 1, &r), fill(dy, (size_t)N * c.C, 1, &r);
    block_forward(m, 0, x, B, T);
    check_true(t, memcmp(m->h[0].y, x, (size_t)N * c.C * 4) == 0, "a pre-LN block whose branches write zero is the identity");
    block_backward(m, 0, dy, dx, B, T);
    check_close_f32(t, dx, dy, (size_t)N * c.C, 1e-7, 1e-6, "and passes the gradient unchanged: d x = d y");
    tf_free(m);
    /* post-LN: each block's output rows have mean 0 and variance 1 (gains 1, offsets 0 at init) */
    c.norm = NORM_POST;
    m = tf_new(&c, B, 3);
    random_tokens(m, B, T, 5);
    tf_forward(m, B, T);
    double worst = 0;
    for (int n = 0; n < N; n++) {
        double mu = 0, var = 0;
        for (int i = 0; i < c.C; i++) mu += m->h[1].y[n * c.C + i] / c.C;
        for (int i = 0; i < c.C; i++) var += pow(m->h[1].y[n * c.C + i] - mu, 2) / c.C;
        worst = fmax(worst, fmax(fabs(mu), fabs(var - 1)));
    }
    check_true(t, worst < 1e-3, "post-LN blocks output rows of mean 0 and variance 1 (within the norm's eps; worst %.1e)", worst);
    tf_free(m);
    /* pre-LN at GPT-2's initialization: the stream's size grows with depth */
    TfConfig d = {.V = 85, .T = 16, .L = 8, .NH = 4, .C = 32, .F = 128, .norm = NORM_PRE, .residual = true};
    m = tf_new(&d, 4, 9);
    random_tokens(m, 4, 16, 10);
    tf_forward(m, 4, 16);
    bool grows = true;
    double prev = rms_of(m->x0, (size_t)64 * d.C);
    for (int l = 0; l < d.L; l++) {
        double now = rms_of(m->h[l].y, (size_t)64 * d.C);
        grows &= now > prev;
        prev = now;
    }
    check_true(t, grows, "in a pre-LN stack at initialization each block's output is larger than its input");
    tf_free(m);
    free(x), free(dy), free(dx);
}

typedef struct { Tf *m; int B, T; } Fd;

static void check_model_gradient(Check *t, TfConfig c, const char *what) {
    int B = 2, T = c.T;
    Tf *m = tf_new(&c, B, 3);
    perturb(m, 7);
    random_tokens(m, B, T, 8);
    memset(m->grads, 0, m->n * 4);
    tf_forward(m, B, T);
    tf_backward(m, B, T);
    float *g = xmalloc_array(m->n, 4);
    memcpy(g, m->grads, m->n * 4);
    int bad = 0;
    double worst_ratio = 0;
    for (int i = 0; i < m->nspans; i++) {
        const TfSpan *s = &m->spans[i];
        double scale = 0, worst = 0;
        for (size_t j = 0; j < s->n; j++) scale = fmax(scale, fabs(g[s->offset + j]));
        for (size_t j = 0; j < s->n; j++) {
            float *p = &m->params[s->offset + j], keep = *p;
            double d[2];
            for (int k = 0; k < 2; k++) {   /* h = 8e-3 and 4e-3 */
                float h = k ? 4e-3f : 8e-3f;
                *p = keep + h;
                double up = tf_forward(m, B, T);
                *p = keep - h;
                d[k] = (up - tf_forward(m, B, T)) / (2.0 * h);
                *p = keep;
            }
            worst = worst_of(worst, fabs((4 * d[1] - d[0]) / 3 - g[s->offset + j]));   /* Richardson: O(h^4) */
        }
        double ratio = worst / fmax(scale, 2e-2);   /* 2e-3 of 2e-2 is the rounding noise floor, ~4e-5 */
        worst_ratio = fmax(worst_ratio, ratio);
        if (ratio > 2e-3) {
            bad++;
            check_true(t, false, "%s: d loss / d %s: worst |numeric - analytic| %.2e, largest gradient %.2e", what, s->name, worst, scale);
        }
    }
    check_true(t, bad == 0, "%s: every parameter's gradient agrees with central differences (worst %.1e of the largest)", what,
               worst_ratio);
    free(g);
    tf_free(m);
}

static void test_gradients(Check *t) {
    TfConfig c = tiny();
    check_model_gradient(t, c, "pre-LN");
    c.norm = NORM_POST;
    check_model_gradient(t, c, "post-LN");
    c.norm = NORM_NONE;
    check_model_gradient(t, c, "no norm");
    c = tiny(), c.residual = false;
    check_model_gradient(t, c, "no residual");
    c = tiny(), c.F = 0;
    check_model_gradient(t, c, "no FFN");
    c = tiny(), c.F = 0, c.norm = NORM_POST;
    check_model_gradient(t, c, "post-LN, no FFN");
    c = tiny(), c.qk_norm = true;
    check_model_gradient(t, c, "QK-norm");
    c = tiny(), c.softcap = 1.5f;
    check_model_gradient(t, c, "soft cap 1.5");
    c = tiny(), c.NH = 4;
    check_model_gradient(t, c, "four heads of two");
}

static void test_qk_norm(Check *t) {
    TfConfig c = tiny();
    int B = 2, T = 6;
    for (int q = 0; q < 2; q++) {
        c.qk_norm = q;
        Tf *m = tf_new(&c, B, 3);
        perturb(m, 4);
        random_tokens(m, B, T, 5);
        tf_forward(m, B, T);
        size_t na = (size_t)B * c.NH * T * T;
        float *s1 = xmalloc_array(na, 4);
        memcpy(s1, m->h[0].score, na * 4);
        for (size_t i = 0; i < (size_t)2 * c.C * c.C; i++) m->p.h[0].qkvw[i] *= 3;   /* W_Q and W_K: the first 2C rows */
        for (int i = 0; i < 2 * c.C; i++) m->p.h[0].qkvb[i] *= 3;
        tf_forward(m, B, T);
        double worst = 0, ratio = 0;
        for (size_t i = 0; i < na; i++)
            if (fabs(s1[i]) > 1e-3) worst = worst_of(worst, fabs(m->h[0].score[i] - s1[i])), ratio = fmax(ratio, m->h[0].score[i] / s1[i]);
        if (q) check_true(t, worst < 1e-4, "with QK-norm, scaling W_Q and W_K by 3 leaves the scores unchanged (%.1e)", worst);
        else check_true(t, fabs(ratio - 9) < 1e-3, "without it the scores grow by 3^2 = 9 (%.4f)", ratio);
        if (q) {   /* Cauchy-Schwarz: |s| <= sqrt(d) max|g_q| max|g_k| */
            int hs = c.C / c.NH;
            double gq = 0, gk = 0, top = 0;
            for (int i = 0; i < hs; i++) gq = fmax(gq, fabs(m->p.h[0].qn[i])), gk = fmax(gk, fabs(m->p.h[0].kn[i]));
            for (size_t i = 0; i < na; i++) top = fmax(top, fabs(m->h[0].score[i]));
            check_true(t, top <= sqrt((double)hs) * gq * gk * (1 + 1e-5),
                       "with QK-norm every score is within sqrt(d) max|g_q| max|g_k| (%.3f <= %.3f)", top, sqrt((double)hs) * gq * gk);
        }
        free(s1);
        tf_free(m);
    }
}

/* The chapter's model and the runtime's GPT, tensor by tensor through the names. */
static void test_against_runtime(Check *t) {
    TfConfig c = {.V = 11, .T = 8, .L = 2, .NH = 2, .C = 8, .F = 32, .norm = NORM_PRE, .residual = true};
    GptConfig gc = {.V = 11, .maxT = 8, .L = 2, .NH = 2, .C = 8, .F = 32};
    int B = 2, T = 8;
    Tf *m = tf_new(&c, B, 21);
    Gpt *g = gpt_new(&gc, NULL, DT_F32, B, T);
    gpt_init(g, 21);
    float *gp = xmalloc_array(g->nparams, 4), *gg = xmalloc_array(g->nparams, 4);
    gpt_get_params(g, gp);
    const GptTensorInfo *info[MAX_SPANS];
    bool same = g->ntensors == (size_t)m->nspans;
    for (int i = 0; i < m->nspans && same; i++) {
        info[i] = NULL;
        for (size_t k = 0; k < g->ntensors; k++) if (strcmp(g->info[k].name, m->spans[i].name) == 0) info[i] = &g->info[k];
        same &= info[i] && info[i]->numel == m->spans[i].n;
    }
    check_true(t, same, "the two have the same tensors under the same names");
    if (!same) return;
    bool bits = true;
    for (int i = 0; i < m->nspans; i++) bits &= memcmp(gp + info[i]->offset, m->params + m->spans[i].offset, m->spans[i].n * 4) == 0;
    check_true(t, bits, "the same seed gives the same initial parameters, bit for bit");
    perturb(m, 22);
    for (int i = 0; i < m->nspans; i++) memcpy(gp + info[i]->offset, m->params + m->spans[i].offset, m->spans[i].n * 4);
    gpt_set_params(g, gp);
    random_tokens(m, B, T, 23);
    memset(m->grads, 0, m->n * 4);
    double l1 = tf_forward(m, B, T);
    float *logits = xmalloc_array((size_t)B * T * c.V, 4);
    float l2 = gpt_forward(g, m->tok, m->tgt, B, T);
    gpt_get_logits(g, logits);
    check_close_f32(t, logits, m->logits, (size_t)B * T * c.V, 1e-5, 1e-5, "the same logits");
    check_close(t, l2, l1, 1e-6, 1e-6, "the same loss (%.6f)", l1);
    tf_backward(m, B, T);
    gpt_zero_grad(g);
    gpt_forward_backward(g, m->tok, m->tgt, B, T);
    gpt_get_grads(g, gg);
    for (int i = 0; i < m->nspans; i++)
        check_close_f32(t, gg + info[i]->offset, m->grads + m->spans[i].offset, m->spans[i].n, 1e-6, 1e-4, "the same gradient of %s",
                        m->spans[i].name);
    /* one training step from there: the same parameters */
    GptAdamW o = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = WEIGHT_DECAY, .grad_clip = CLIP};
    /* Adam's first step moves each weight by about lr sign(g): for a gradient
     * within rounding of zero the sign is rounding noise, so compare the
     * weights whose gradient is clearly nonzero */
    float *g0 = xmalloc_array(m->n, 4);
    memcpy(g0, m->grads, m->n * 4);
    tf_step(m, B, T, 1e-2);
    gpt_step(g, m->tok, m->tgt, B, T, &o, NULL);
    gpt_get_params(g, gp);
    double worst = 0;
    size_t compared = 0;
    for (int i = 0; i < m->nspans; i++)
        for (size_t j = 0; j < m->spans[i].n; j++)
            if (fabsf(g0[m->spans[i].offset + j]) > 1e-4f)
                worst = worst_of(worst, fabs(gp[info[i]->offset + j] - m->params[m->spans[i].offset + j])), compared++;
    check_true(t, worst < 1e-5 && compared > m->n / 2, "and after one AdamW step the same parameters (worst difference %.1e over "
               "the %zu of %zu whose gradient exceeds 1e-4)", worst, compared, m->n);
    free(g0);
    free(gp), free(gg), free(logits);
    gpt_free(g), tf_free(m);
}

static void test_scoring(Check *t) {
    TfConfig c = tiny();
    c.T = 6;
    Tf *m = tf_new(&c, 3, 1);
    uint32_t x[200];
    for (int i = 0; i < 200; i++) x[i] = (uint32_t)(i * 7 % 7);
    for (int n = 20; n <= 200; n += 37) {
        size_t count = 0;
        tf_cross_entropy(m, x, (size_t)n, CH01_START, 1, &count);
        check_true(t, count == (size_t)n - CH01_START, "a text of %d: every position from %d on is scored once (%zu)", n,
                   CH01_START, count);
    }
    tf_free(m);
    check_close(t, lr_at(0, 100, 10, 1.0), 0.1, 1e-12, 0, "warm-up starts at lr / warmup");
    check_close(t, lr_at(9, 100, 10, 1.0), 1.0, 1e-12, 0, "and reaches lr at its last step");
    check_close(t, lr_at(100, 100, 10, 1.0), 0.1, 1e-12, 0, "the cosine ends at lr / 10");
}

static void test_solutions(Check *t) {
    int B = 2, T = 7, C = 12, NH = 3;
    size_t n3 = (size_t)B * T * 3 * C, nc = (size_t)B * T * C, na = (size_t)B * NH * T * T;
    float *qkv = xmalloc_array(n3, 4), *o1 = xmalloc_array(nc, 4), *o2 = xmalloc_array(nc, 4);
    float *a1 = xmalloc_array(na, 4), *a2 = xmalloc_array(na, 4), *sc = xmalloc_array(na, 4);
    Rng r;
    rng_seed(&r, 2);
    fill(qkv, n3, 1, &r);
    mha_forward(o1, a1, sc, qkv, B, T, C, NH, 0);
    mha_forward_local(o2, a2, qkv, B, T, C, NH, T);
    check_close_f32(t, o2, o1, nc, 1e-6, 1e-5, "exercise 6: a window W >= T is plain causal attention");
    mha_forward_local(o2, a2, qkv, B, T, C, NH, 1);
    bool own = true;
    for (int n = 0; n < B * T; n++)
        for (int i = 0; i < C; i++) own &= fabsf(o2[(size_t)n * C + i] - qkv[(size_t)n * 3 * C + 2 * C + i]) < 1e-6f;
    check_true(t, own, "exercise 6: W = 1 returns each position's own value");
    mha_forward_local(o2, a2, qkv, B, T, C, NH, 3);
    bool band = true;
    for (int bh = 0; bh < B * NH; bh++)
        for (int tt = 0; tt < T; tt++)
            for (int u = 0; u < T; u++) band &= (u > tt || u <= tt - 3) == (a2[((size_t)bh * T + tt) * T + u] == 0);
    check_true(t, band, "exercise 6: W = 3 gives weights in a band of width 3, zero elsewhere");
    /* exercise 7: the derivative of the cap */
    float z[6] = {-40, -3, -0.5f, 0.2f, 2, 50}, zz[6], keep[6], d[6];
    double worst = 0;
    for (int i = 0; i < 6; i++) {
        float up = z[i] + 1e-2f, dn = z[i] - 1e-2f, k;
        softcap_forward(&up, &k, 1, 30), softcap_forward(&dn, &k, 1, 30);
        memcpy(zz, z, sizeof z);
        softcap_forward(zz, keep, 6, 30);
        for (int j = 0; j < 6; j++) d[j] = 1;
        softcap_backward(d, keep, 6);
        worst = worst_of(worst, fabs((up - dn) / 2e-2 - d[i]));
    }
    check_true(t, worst < 1e-3, "exercise 7: the cap's derivative agrees with central differences (%.1e)", worst);
    float small[3] = {0.5f, -1, 2}, ks[3];
    softcap_forward(small, ks, 3, 1000);
    check_true(t, fabsf(small[2] - 2) < 8.0f / (3 * 1000 * 1000) + 1e-6f, "exercise 7: a cap of 1000 moves 2 by less than z^3/3cap^2");
    /* exercise 8: removing one head is subtracting its term W_O^(h) o_h */
    {
        TfConfig c = tiny();
        c.NH = 4;
        int Bt = 2, Tt = 6, Cc = c.C, hs = Cc / c.NH, h = 2;
        Tf *m = tf_new(&c, Bt, 3);
        perturb(m, 12);
        random_tokens(m, Bt, Tt, 13);
        double full = tf_forward(m, Bt, Tt);
        size_t n8 = (size_t)Bt * Tt * Cc;
        float *ao = xmalloc_array(n8, 4), *before = xmalloc_array(m->n, 4);
        memcpy(ao, m->h[0].ao, n8 * 4), memcpy(before, m->params, m->n * 4);
        double without = loss_without_head(m, 0, h, Bt, Tt);
        check_true(t, memcmp(before, m->params, m->n * 4) == 0, "exercise 8: the columns of W_O come back bit for bit");
        double worst8 = 0;
        for (int n = 0; n < Bt * Tt; n++)
            for (int i = 0; i < Cc; i++) {
                double term = 0;   /* W_O^(h) o_h: head h's columns of c_proj times its part of atty */
                for (int j = 0; j < hs; j++) term += (double)m->p.h[0].projw[(size_t)i * Cc + h * hs + j] * m->h[0].atty[(size_t)n * Cc + h * hs + j];
                worst8 = worst_of(worst8, fabs(ao[(size_t)n * Cc + i] - term - m->h[0].ao[(size_t)n * Cc + i]));
            }
        check_true(t, worst8 < 1e-5, "exercise 8: without head h the sub-layer's output is the full one minus W_O^(h) o_h (%.1e)", worst8);
        check_true(t, isfinite(without) && without != full, "exercise 8: and the loss changes (%.4f -> %.4f)", full, without);
        free(ao), free(before);
        tf_free(m);
    }
    free(qkv), free(o1), free(o2), free(a1), free(a2), free(sc);
}

/* The smaller derivations of the prose and the exercises: the variance of q.k
 * is d, and without the division 64 such scores give a nearly one-hot softmax
 * (exercise 2); without the position table causal attention does not see the
 * order of the past (exercise 3); the output layer moves the embedding of a
 * symbol absent from the inputs (exercise 5); GELU's two forms differ by less
 * than 5e-4; the FLOPs of a training step, 6N + 12LTC per token, with N the
 * weights of the matrix products. */
static void test_small_derivations(Check *t) {
    Rng r;
    rng_seed(&r, 31);
    int d = 64, n = 20000;
    double sum = 0, sq = 0;
    for (int i = 0; i < n; i++) {
        double dot = 0;
        for (int j = 0; j < d; j++) dot += rng_normal(&r) * rng_normal(&r);
        sum += dot, sq += dot * dot;
    }
    double var = sq / n - (sum / n) * (sum / n);
    check_true(t, fabs(var / d - 1) < 0.05, "Var(q.k) = d for unit-variance entries (d = 64: %.1f)", var);
    /* exercise 2: softmax of 64 scores of standard deviation 8 is nearly one-hot; of 1, soft */
    for (int k = 0; k < 2; k++) {
        double sd = k ? 8 : 1, top = 0;
        for (int rep = 0; rep < 2000; rep++) {
            double sc[64], mx = -INFINITY, z = 0, best = 0;
            for (int j = 0; j < 64; j++) sc[j] = sd * rng_normal(&r), mx = fmax(mx, sc[j]);
            for (int j = 0; j < 64; j++) z += exp(sc[j] - mx);
            for (int j = 0; j < 64; j++) best = fmax(best, exp(sc[j] - mx) / z);
            top += best / 2000;
        }
        if (k) check_true(t, top > 0.7, "64 scores of standard deviation 8: the largest weight averages %.2f > 0.7", top);
        else check_true(t, top < 0.15, "64 scores of standard deviation 1: the largest weight averages %.2f < 0.15", top);
    }
    /* permutation of the past, no position table: logits at the last position unchanged */
    TfConfig c = tiny();
    c.L = 1, c.T = 6;
    Tf *m = tf_new(&c, 1, 5);
    perturb(m, 6);
    memset(m->p.wpe, 0, (size_t)c.T * c.C * sizeof(float));
    int32_t seq[6] = {1, 4, 2, 6, 3, 5}, perm[6] = {6, 2, 1, 3, 4, 5};   /* positions 0..4 shuffled, 5 kept */
    float *z1 = xmalloc_array((size_t)c.V, 4);
    for (int i = 0; i < 6; i++) m->tok[i] = seq[i], m->tgt[i] = -1;
    tf_forward(m, 1, 6);
    memcpy(z1, m->logits + 5 * c.V, (size_t)c.V * 4);
    for (int i = 0; i < 6; i++) m->tok[i] = perm[i];
    tf_forward(m, 1, 6);
    check_close_f32(t, m->logits + 5 * c.V, z1, (size_t)c.V, 1e-5, 1e-5,
                    "without positions, permuting the past leaves the last position's logits unchanged");
    /* exercise 5: symbol 0 never occurs as an input, yet its embedding row has a gradient */
    for (int i = 0; i < 6; i++) m->tok[i] = 1 + i % 6, m->tgt[i] = 2 + i % 5;
    memset(m->grads, 0, m->n * 4);
    tf_forward(m, 1, 6);
    tf_backward(m, 1, 6);
    double g0 = 0;
    for (int i = 0; i < c.C; i++) g0 += fabs(m->g.wte[i]);
    check_true(t, g0 > 1e-6, "the output layer moves the embedding of a symbol absent from the batch (|g| = %.2e)", g0);
    free(z1);
    tf_free(m);
    /* GELU: the tanh form and the exact one differ by less than 5e-4, most near x = -2.7 */
    {
        int ng = 20001;
        float *x = xmalloc_array((size_t)ng, 4), *y = xmalloc_array((size_t)ng, 4);
        for (int i = 0; i < ng; i++) x[i] = -10.0f + 1e-3f * (float)i;
        gelu_forward(y, x, (size_t)ng);
        double worst = 0, at = 0;
        for (int i = 0; i < ng; i++) {
            double dgap = fabs((double)y[i] - gelu_exact(x[i]));
            if (dgap > worst) worst = dgap, at = x[i];
        }
        check_true(t, worst < 5e-4 && worst > 4e-4 && fabs(at + 2.7) < 0.1,
                   "GELU: tanh form against x Phi(x): largest difference %.2e at x = %.2f", worst, at);
        free(x), free(y);
    }
    /* FLOPs: 6 times the weights of the matrix products (every matrix but the position table) + 12 L T C */
    TfConfig g2 = {.V = 50304, .T = 1024, .L = 12, .NH = 12, .C = 768, .F = 3072, .norm = NORM_PRE, .residual = true};
    TfTensors tt;
    TfSpan sp[MAX_SPANS];
    int ns;
    tf_layout(&tt, NULL, &g2, sp, &ns);
    double N = 0;
    for (int i = 0; i < ns; i++)
        if (sp[i].cols && strcmp(sp[i].name, "wpe.weight") != 0) N += (double)sp[i].n;
    GptConfig gc = gpt2_small_config(50304);
    double want = 6 * N + 12.0 * 12 * 1024 * 768;
    check_close(t, gpt_flops_per_token(&gc, 1024), want, 0, 1e-12, "FLOPs a token: 6N + 12LTC = %.6g for GPT-2 small", want);
}

/* The spread of the top state: 0 when every position has the same state, 1 when the states average to zero. */
static void test_spread(Check *t) {
    TfConfig c = tiny();
    Tf *m = tf_new(&c, 2, 1);
    m->B = 2, m->T = 3;
    int C = c.C;
    for (int n = 0; n < 6; n++)
        for (int i = 0; i < C; i++) m->xf[n * C + i] = (float)(i + 1);   /* every position alike */
    check_close(t, top_spread(m), 0, 1e-12, 0, "spread: identical states give 0");
    for (int n = 0; n < 6; n++)
        for (int i = 0; i < C; i++) m->xf[n * C + i] = (float)((n % 2 ? 1 : -1) * (i + 1));   /* mean zero */
    check_close(t, top_spread(m), 1, 1e-12, 0, "spread: states whose mean is zero give 1");
    for (int n = 0; n < 6; n++)
        for (int i = 0; i < C; i++) m->xf[n * C + i] = 2.0f + (n % 2 ? 1.0f : -1.0f);   /* 3 and 1: mean 2, deviation 1 */
    check_close(t, top_spread(m), 1.0 / 5.0, 1e-12, 0, "spread: states 1 and 3 alike in every channel give 1 / (1 + 4)");
    tf_free(m);
}

static void test_experiments(Check *t) {
    char dir[] = "/tmp/test-ch08-XXXXXX";
    if (!mkdtemp(dir)) die("mkdtemp");
    char *model = xasprintf("%s/m.safetensors", dir);
    Run r = {.context = 32, .layers = 2, .heads = 4, .embd = 32, .ffn = 4, .batch = 4, .warmup = 2, .length = 20, .lr = 3e-3,
             .norm = "pre", .model = model, .prompt = "", .fixture = "tests/fixtures/gpt2-tiny", .export_dir = dir,
             .dtype = "bf16", .residual = true, .run = -1};
    quick_common(&r.c, "test_ch08", dir);
    check_true(t, run_all_experiments("ch08-transformer", COMMANDS, sizeof COMMANDS / sizeof COMMANDS[0], &r) == 0,
               "all --quick runs");
    TsvTable *tab = load(t, dir, "ch08-train");
    if (tab) {
        double p = num(t, tab, 0, "test_ppl");
        check_true(t, isfinite(p) && p > 1 && p < r.vocab.size, "train: test perplexity in (1, V): %.2f", p);
        tsv_free(tab);
    }
    tab = load(t, dir, "ch08-lr");
    if (tab) check_true(t, tsv_rows(tab) == 6, "lr: three rates for each of two models"), tsv_free(tab);
    tab = load(t, dir, "ch08-budget-steps");
    if (tab) {   /* --quick: chapter 4's MLP, then the grid's first two runs */
        bool ok = tsv_rows(tab) == 3 && strcmp(tsv_cell(tab, 0, tsv_col(tab, "model")), "mlp") == 0;
        for (size_t i = 0; ok && i < tsv_rows(tab); i++)
            ok &= num(t, tab, i, "ms_min") > 0 && num(t, tab, i, "ms_min") <= num(t, tab, i, "ms_per_step") &&
                  num(t, tab, i, "ms_per_step") <= num(t, tab, i, "ms_max") && num(t, tab, i, "run") == (double)i - 1;
        check_true(t, ok, "budget-steps: the MLP and two runs timed, each median between its least and most");
        check_close(t, num(t, tab, 0, "of_mlp"), 1, 1e-9, 0, "budget-steps: the MLP's own share of its time is 1");
        tsv_free(tab);
    }
    {   /* the budget is chapter 4's main model's processor time, as its data file records it */
        char err[256];
        TsvTable *c4 = tsv_load(BOOK_ROOT "/figures/data/ch04-train.tsv", err, sizeof err);
        check_true(t, c4 != NULL, "budget: chapter 4's figures/data/ch04-train.tsv loads (%s)", c4 ? "ok" : err);
        if (c4) {
            double sec = num(t, c4, 0, "steps") * num(t, c4, 0, "cpu_ms_per_step") / 1000;
            check_true(t, fabs(sec - BUDGET_SECONDS) < 0.05, "budget: BUDGET_SECONDS %.1f is chapter 4's %.2f s",
                       BUDGET_SECONDS, sec);
            /* budget-steps times chapter 4's main model as that file records it */
            MlpBox *b = mlp_box_main(r.vocab.size, 1);
            check_true(t, num(t, c4, 0, "context") == CH04_CONTEXT && num(t, c4, 0, "embed") == CH04_EMBED &&
                              num(t, c4, 0, "hidden") == CH04_HIDDEN && num(t, c4, 0, "layers") == CH04_LAYERS &&
                              num(t, c4, 0, "batch") == CH04_BATCH && num(t, c4, 0, "lr") == CH04_LR &&
                              num(t, c4, 0, "steps") == CH04_STEPS && num(t, c4, 0, "clip") == 1 &&
                              num(t, c4, 0, "weight_decay") == 0 && num(t, c4, 0, "dropout") == 0 &&
                              strcmp(tsv_cell(c4, 0, tsv_col(c4, "activation")), "swish") == 0 &&
                              num(t, c4, 0, "params") == (double)mlp_box_params(b),
                       "budget-steps: the MLP it times is chapter 4's main model (%zu parameters)", mlp_box_params(b));
            mlp_box_free(b);
            tsv_free(c4);
        }
    }
    {   /* the grid's steps fill the MLP's time at the step times committed in ch08-budget-steps.tsv */
        char err[256];
        TsvTable *bs = tsv_load(BOOK_ROOT "/figures/data/ch08-budget-steps.tsv", err, sizeof err);
        check_true(t, bs != NULL, "budget: figures/data/ch08-budget-steps.tsv loads (%s)", bs ? "ok" : err);
        if (bs) {
            bool ok = tsv_rows(bs) == NBUDGET + 1 && num(t, bs, 0, "table_steps") == CH04_STEPS;
            double mlp = CH04_STEPS * num(t, bs, 0, "ms_per_step") / 1000, worst = 0;
            for (size_t i = 1; ok && i < tsv_rows(bs); i++) {
                const BudgetRun *b = &BUDGET[i - 1];
                ok &= num(t, bs, i, "run") == (double)i - 1 && num(t, bs, i, "table_steps") == (double)b->steps &&
                      num(t, bs, i, "context") == b->T && num(t, bs, i, "layers") == b->L && num(t, bs, i, "embd") == b->C &&
                      num(t, bs, i, "batch") == b->B;
                worst = worst_of(worst, fabs((double)b->steps * num(t, bs, i, "ms_per_step") / 1000 / mlp - 1));
            }
            check_true(t, ok, "budget: ch08-budget-steps.tsv times the MLP and every run of BUDGET, with its steps");
            check_true(t, worst < BUDGET_TOLERANCE, "budget: every run's steps take the MLP's time within %.0f%% (worst %.1f%%)",
                       100 * BUDGET_TOLERANCE, 100 * worst);
            tsv_free(bs);
        }
    }
    tab = load(t, dir, "ch08-budget");
    if (tab) {
        bool ok = tsv_rows(tab) == 2;   /* --quick: the grid's first two runs */
        size_t best = 0;
        for (size_t i = 0; ok && i < tsv_rows(tab); i++) {
            ok &= isfinite(num(t, tab, i, "val_ppl")) && num(t, tab, i, "run") == (double)i;
            if (num(t, tab, i, "val_ppl") < num(t, tab, best, "val_ppl")) best = i;
        }
        check_true(t, ok, "budget: two runs, each with a finite validation perplexity");
        TsvTable *pk = load(t, dir, "ch08-pick");
        if (pk) {
            const BudgetRun *b = &BUDGET[best];
            double p = num(t, pk, 0, "test_ppl");
            check_true(t, num(t, pk, 0, "context") == b->T && num(t, pk, 0, "layers") == b->L &&
                              num(t, pk, 0, "embd") == b->C && isfinite(p) && p > 1 && p < r.vocab.size,
                       "pick: the grid's best run, tested: perplexity %.2f", p);
            tsv_free(pk);
        }
        tsv_free(tab);
    }
    tab = load(t, dir, "ch08-sweep");
    if (tab) {
        check_true(t, tsv_rows(tab) == sizeof VARIANTS / sizeof VARIANTS[0], "sweep: one row per variant");
        bool ok = true;
        for (size_t i = 0; i < tsv_rows(tab); i++) ok &= isfinite(num(t, tab, i, "val_ppl")) && num(t, tab, i, "params") > 0;
        check_true(t, ok, "sweep: every variant has a finite perplexity");
        tsv_free(tab);
    }
    tab = load(t, dir, "ch08-heads");
    if (tab) {
        bool ok = true;
        double row = 0;
        int last = -1;
        for (size_t i = 0; i < tsv_rows(tab); i++) {   /* each query's weights sum to one */
            int q = (int)num(t, tab, i, "query");
            if (q != last && last >= 0) ok &= fabs(row - 1) < 2e-3, row = 0;
            row += num(t, tab, i, "weight"), last = q;
        }
        check_true(t, ok, "heads: every query's weights sum to one");
        tsv_free(tab);
    }
    const char *names[] = {"ch08-head-stats", "ch08-diversity", "ch08-gradnorm", "ch08-norms", "ch08-norms-summary",
                           "ch08-norms-state", "ch08-stability", "ch08-stability-attention", "ch08-stability-summary", "ch08-curve", "ch08-samples"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        tab = load(t, dir, names[i]);
        if (tab) check_true(t, tsv_rows(tab) > 0, "%s has rows", names[i]), tsv_free(tab);
    }
    char *dot = xasprintf("%s/ch08-block.dot", dir);
    check_true(t, file_exists(dot), "diagram writes ch08-block.dot");
    /* hf-check on the CPU against the committed fixture */
    bool fixture = file_exists("tests/fixtures/gpt2-tiny/expected.safetensors");
    check_true(t, fixture, "the transformers fixture is present (tests/fixtures/gpt2-tiny)");
    if (fixture)
        check_true(t, experiment_hf_check(&r) == 0, "hf-check: the runtime's GPT agrees with transformers within the bounds");
    dataset_free(r.data);
    cli_free(&r.c);
    remove_tree(dir);
    free(model), free(dot);
}

static void test_errors(Check *t) {
    expect_program(t, "ch08-transformer", "train --heads 3", 1, "not a multiple");
    expect_program(t, "ch08-transformer", "train --norm sideways", 2, "--norm");
    expect_program(t, "ch08-transformer", "heads --model /nonexistent/m.safetensors", 1, "/nonexistent/m.safetensors");
    expect_program(t, "ch08-transformer", "hf-check --fixture /nonexistent", 1, "/nonexistent");
    expect_program(t, "ch08-transformer", "generate --model tests/fixtures/gpt2-tiny/model.safetensors", 1, "not a chapter 8 model");
    expect_program(t, "ch08-transformer", "bench", 1, "--device cuda");
    expect_program(t, "ch08-transformer", "train --layers 99", 2, "--layers");
}

int main(void) {
    Check t;
    check_init(&t, "ch08");
    setenv("NO_PROGRESS", "1", 1);
#ifdef _OPENMP
    omp_set_num_threads(1);   /* the experiments below are small: one thread, no waiting at barriers */
#endif
    test_attention(&t);
    test_rank(&t);
    test_param_count(&t);
    test_residual_and_norms(&t);
    test_gradients(&t);
    test_qk_norm(&t);
    test_against_runtime(&t);
    test_scoring(&t);
    test_spread(&t);
    test_small_derivations(&t);
    test_solutions(&t);
    test_experiments(&t);
    test_errors(&t);
    return check_summary(&t);
}
