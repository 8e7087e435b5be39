/* test_ch07.c -- chapter 7, attention from first principles.
 *
 * Includes the tangled program (build/07-attention/attention.c, with TESTING
 * defined so that it has no main) and the tangled solutions to the coding
 * exercises, then checks every derivation of the chapter numerically:
 *   the soft lookup is a weighted average that tends to the hard lookup;
 *   masks: the causal, window and dilated patterns, their score counts
 *   against the closed forms of the text, the diagonal always allowed;
 *   attend_forward against nn.h's causal attention and against a plain
 *   weighted average, under every mask; its rows sum to one, zeros where
 *   masked; the stable softmax with huge scores; attend_backward against
 *   central differences under every mask and against nn.h's backward;
 *   the banded window against the full matrix with a window mask;
 *   Var(q.k) = d Var(q) Var(k) and the behaviour of the softmax with and
 *   without 1/sqrt(d); the model's parameter count by hand and its
 *   gradient against central differences (masks, depths, readouts);
 *   model_cross_entropy scores every target once, with the context it
 *   promises; the repeated sequences of the induction task;
 * then runs every experiment in --quick mode into a temporary directory and
 * checks the files they write, and checks the program's one-line errors.
 * CPU only: tests/test_ch07_gpu.c checks the GPU path.
 * Run from the repository root (make test does). */
#include "attention.c"
#include "ch07-solutions.c"

#include "check.h"
#include "chapter_test.h"
#ifdef _OPENMP
#include <omp.h>
#endif

static void random_fill(float *x, size_t n, double scale, Rng *rng) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(scale * rng_normal(rng));
}

/* The larger of a running worst error and a new one, a NaN counting as
 * infinitely wrong: fmax would drop it, and a check of the worst error could
 * then pass on a function that returns NaN. */
static double worse(double worst, double err) {
    return isnan(worst) || isnan(err) ? INFINITY : fmax(worst, err);
}

/* ---- The soft lookup ------------------------------------------------------------ */

static void test_lookup(Check *t) {
    double keys[6] = {1, 0, 0, 1, -1, 0}, values[3] = {1, 2, 3}, q[2] = {0.9, 0.1}, w[3];
    double out = soft_lookup(w, q, keys, values, 3, 2, 0);
    check_close(t, out, 2, 1e-12, 1e-12, "beta = 0: the soft lookup is the plain mean of the values");
    out = soft_lookup(w, q, keys, values, 3, 2, 1);
    /* by hand: scores 0.9, 0.1, -0.9; weights e^s / sum */
    double z = exp(0.9) + exp(0.1) + exp(-0.9);
    check_close(t, w[0], exp(0.9) / z, 1e-12, 1e-12, "beta = 1: weight of the first key is e^0.9 / sum");
    check_close(t, out, (exp(0.9) + 2 * exp(0.1) + 3 * exp(-0.9)) / z, 1e-12, 1e-12, "and the output the weighted mean");
    check_close(t, w[0] + w[1] + w[2], 1, 1e-12, 1e-12, "the weights sum to one");
    out = soft_lookup(w, q, keys, values, 3, 2, 200);
    check_close(t, out, hard_lookup(q, keys, values, 3, 2), 1e-9, 0, "beta = 200: the soft lookup is the hard one");
    /* permuting the keys and the values together leaves the output unchanged */
    double pk[6] = {-1, 0, 1, 0, 0, 1}, pv[3] = {3, 1, 2};
    check_close(t, soft_lookup(w, q, pk, pv, 3, 2, 1.7), soft_lookup(w, q, keys, values, 3, 2, 1.7), 1e-12, 1e-12,
                "keys and values permuted together: the same output (a sum does not care about order)");
    out = soft_lookup(w, q, keys, values, 3, 2, 1e6);
    check_true(t, isfinite(out) && out == 1, "beta = 1e6 (scores far past exp's range): still finite, still 1");
}

/* ---- Masks ------------------------------------------------------------------------ */

static int64_t brute_count(const Mask *m, int n) {
    int64_t c = 0;
    for (int t = 0; t < n; t++)
        for (int j = 0; j < n; j++) c += mask_allows(m, t, j);
    return c;
}

static void test_masks(Check *t) {
    Mask causal = {MASK_CAUSAL, 0, 0}, win = {MASK_WINDOW, 4, 0}, dil = {MASK_DILATED, 4, 3};
    check_true(t, mask_allows(&causal, 5, 0) && mask_allows(&causal, 5, 5) && !mask_allows(&causal, 5, 6),
               "causal: the past and the present, never the future");
    check_true(t, mask_allows(&win, 9, 6) && !mask_allows(&win, 9, 5) && !mask_allows(&win, 9, 10),
               "window 4: query 9 sees keys 6..9 only");
    check_true(t, mask_allows(&dil, 9, 9) && mask_allows(&dil, 9, 6) && mask_allows(&dil, 9, 0) &&
                      !mask_allows(&dil, 9, 7) && !mask_allows(&dil, 12, 0),
               "dilated (w 4, k 3): query 9 sees 9, 6, 3, 0; query 12 not 0 (the fifth)");
    bool diag = true;
    const Mask *all[3] = {&causal, &win, &dil};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 200; i++) diag &= mask_allows(all[k], i, i);
    check_true(t, diag, "every mask lets a query see its own key: no row is ever empty");
    bool counts = true;
    for (int k = 0; k < 3; k++)
        for (int n = 1; n <= 70; n++) counts &= mask_count(all[k], n) == brute_count(all[k], n);
    check_true(t, counts, "mask_count agrees with counting the pattern, every mask, n = 1..70");
    /* the closed forms of the text */
    bool closed = true;
    for (int64_t n = 1; n <= 5000; n += 37) {
        closed &= mask_count(&causal, n) == n * (n + 1) / 2;
        int64_t w = 4;
        closed &= mask_count(&win, n) == (n <= w ? n * (n + 1) / 2 : w * (w + 1) / 2 + (n - w) * w);
        int64_t kw = 3 * 4, d = n <= kw ? 0 : n - kw, m = n < kw ? n : kw;   /* queries past the span see w */
        int64_t head = 0;
        for (int64_t q = 0; q < m; q++) head += q / 3 + 1;
        closed &= mask_count(&dil, n) == head + d * 4;
    }
    check_true(t, closed, "causal n(n+1)/2; window w(w+1)/2 + (n-w)w; dilated: as the text sums them");
    check_true(t, mask_count(&causal, 10) == 55, "10 positions, causal: 55 scores");
    check_true(t, mask_reach(&win, 100) == 3 && mask_reach(&dil, 100) == 9 && mask_reach(&causal, 100) == 99,
               "reach: w - 1 = 3, k (w - 1) = 9, n - 1 = 99");
}

/* ---- One head: forward ---------------------------------------------------------------- */

/* The worked example of the text: T = 3, d = 1, q = (1, 2, 0), k = (1, 0, 1), v = (3, -1, 2). */
static void test_worked_example(Check *t) {
    float qkv[9] = {1, 1, 3, 2, 0, -1, 0, 1, 2}, out[3], P[9];
    Mask causal = {MASK_CAUSAL, 0, 0};
    attend_forward(out, P, qkv, 3, 1, &causal, 1.0f);
    double e2 = exp(2.0);
    check_close(t, out[0], 3, 1e-6, 0, "worked example: the first position sees only itself, o_0 = v_0 = 3");
    check_close(t, P[3], e2 / (e2 + 1), 1e-6, 1e-6, "row 1's weights are (e^2, 1) / (e^2 + 1): %.3f", P[3]);
    check_close(t, out[1], 3 * e2 / (e2 + 1) - 1 / (e2 + 1), 1e-6, 1e-6, "o_1 = 2.523 (%.4f)", out[1]);
    check_close(t, out[2], 4.0 / 3, 1e-6, 1e-6, "a zero query averages all three values: o_2 = 4/3");
    check_true(t, P[1] == 0 && P[2] == 0 && P[5] == 0, "and the future gets weight exactly 0");
}

static void test_attend_forward(Check *t) {
    Rng rng;
    rng_seed(&rng, 11);
    int T = 13, d = 8;
    float qkv[13 * 24], out[13 * 8], P[13 * 13], ref[13 * 8], att[13 * 13];
    random_fill(qkv, sizeof qkv / sizeof *qkv, 1.0, &rng);
    Mask causal = {MASK_CAUSAL, 0, 0};
    attend_forward(out, P, qkv, T, d, &causal, 1 / sqrtf((float)d));
    attention_forward(ref, att, qkv, 1, T, d, 1);
    check_close_f32(t, out, ref, (size_t)T * d, 1e-6, 1e-5, "causal: the output equals nn.h's attention_forward");
    check_close_f32(t, P, att, (size_t)T * T, 1e-7, 1e-5, "and so do the weights");
    const Mask masks[3] = {{MASK_CAUSAL, 0, 0}, {MASK_WINDOW, 3, 0}, {MASK_DILATED, 3, 2}};
    for (int k = 0; k < 3; k++) {
        attend_forward(out, P, qkv, T, d, &masks[k], 0.5f);
        double worst_sum = 0, worst_out = 0;
        bool zeros = true;
        for (int i = 0; i < T; i++) {
            double sum = 0, z = 0, mx = -INFINITY;
            double e[13];
            for (int j = 0; j < T; j++) {
                sum += P[i * T + j];
                zeros &= mask_allows(&masks[k], i, j) || P[i * T + j] == 0;
                if (!mask_allows(&masks[k], i, j)) continue;
                double s = 0;
                for (int c = 0; c < d; c++) s += (double)qkv[i * 3 * d + c] * qkv[j * 3 * d + d + c];
                e[j] = 0.5 * s, mx = fmax(mx, e[j]);
            }
            for (int j = 0; j < T; j++) if (mask_allows(&masks[k], i, j)) z += exp(e[j] - mx);
            for (int c = 0; c < d; c++) {
                double o = 0;
                for (int j = 0; j < T; j++)
                    if (mask_allows(&masks[k], i, j)) o += exp(e[j] - mx) / z * qkv[j * 3 * d + 2 * d + c];
                worst_out = worse(worst_out, fabs(o - out[i * d + c]));
            }
            worst_sum = worse(worst_sum, fabs(sum - 1));
        }
        check_true(t, worst_sum < 1e-6 && zeros, "mask %d: every row of P sums to one, zero where masked", k);
        check_true(t, worst_out < 1e-5, "mask %d: out is the weighted mean of the allowed values (%.1e)", k, worst_out);
    }
    /* huge scores: the max is subtracted before exp */
    for (int i = 0; i < T * 3 * d; i++) qkv[i] *= 300;
    attend_forward(out, P, qkv, T, d, &causal, 1.0f);
    bool fin = true;
    for (int i = 0; i < T * d; i++) fin &= isfinite(out[i]);
    check_true(t, fin, "scores in the tens of thousands: the stable softmax stays finite");
}

/* ---- One head: backward ------------------------------------------------------------ */

typedef struct { int T, d; const Mask *m; const float *g; float scale; } HeadCtx;
static double head_loss(const float *qkv, void *ctx) {
    HeadCtx *c = ctx;
    float *out = xmalloc_array((size_t)c->T * c->d, sizeof *out), *P = xmalloc_array((size_t)c->T * c->T, sizeof *P);
    attend_forward(out, P, qkv, c->T, c->d, c->m, c->scale);
    double l = 0;
    for (int i = 0; i < c->T * c->d; i++) l += (double)c->g[i] * out[i];
    free(out), free(P);
    return l;
}

static void test_attend_backward(Check *t) {
    Rng rng;
    rng_seed(&rng, 12);
    enum { T = 9, d = 5 };
    float qkv[T * 3 * d], g[T * d], dqkv[T * 3 * d], out[T * d], P[T * T];
    const Mask masks[3] = {{MASK_CAUSAL, 0, 0}, {MASK_WINDOW, 3, 0}, {MASK_DILATED, 3, 2}};
    for (int k = 0; k < 3; k++) {
        random_fill(qkv, T * 3 * d, 1.0, &rng), random_fill(g, T * d, 1.0, &rng);
        HeadCtx c = {T, d, &masks[k], g, 1 / sqrtf((float)d)};
        attend_forward(out, P, qkv, T, d, &masks[k], c.scale);
        memset(dqkv, 0, sizeof dqkv);
        attend_backward(dqkv, g, qkv, P, T, d, c.scale);
        GradErr e = gradcheck_f32(head_loss, &c, qkv, T * 3 * d, dqkv, 1e-2f);
        check_true(t, e.max_abs < 2e-3, "mask %d: dq, dk, dv against central differences (worst %.1e)", k, e.max_abs);
    }
    /* against nn.h, causal, and accumulation */
    float dref[T * 3 * d], att[T * T];
    random_fill(qkv, T * 3 * d, 1.0, &rng), random_fill(g, T * d, 1.0, &rng);
    attend_forward(out, P, qkv, T, d, &masks[0], 1 / sqrtf((float)d));
    attention_forward(out, att, qkv, 1, T, d, 1);
    for (int i = 0; i < T * 3 * d; i++) dqkv[i] = dref[i] = 0.25f;
    attend_backward(dqkv, g, qkv, P, T, d, 1 / sqrtf((float)d));
    attention_backward(dref, g, qkv, att, 1, T, d, 1);
    check_close_f32(t, dqkv, dref, T * 3 * d, 1e-5, 1e-4, "causal: equals nn.h's attention_backward, both adding to 0.25");
}

static void test_window(Check *t) {
    Rng rng;
    rng_seed(&rng, 13);
    int T = 37, d = 6;
    float *qkv = xmalloc_array((size_t)T * 3 * d, sizeof(float)), out[37 * 6], ref[37 * 6], P[37 * 37];
    random_fill(qkv, (size_t)T * 3 * d, 1.0, &rng);
    int ws[3] = {1, 5, 64};
    for (int k = 0; k < 3; k++) {
        int w = ws[k];
        float *Pw = xmalloc_array((size_t)T * w, sizeof *Pw);
        Mask m = {MASK_WINDOW, w, 0};
        attend_forward(ref, P, qkv, T, d, &m, 0.4f);
        attend_window_forward(out, Pw, qkv, T, d, w, 0.4f);
        check_close_f32(t, out, ref, (size_t)T * d, 1e-6, 1e-5, "window %d: the banded version's output equals the full one's", w);
        bool same = true;
        for (int i = 0; i < T; i++)
            for (int s = 0; s < w; s++) {
                int j = i - (w - 1) + s;
                float want = j >= 0 ? P[i * T + j] : 0;
                same &= fabsf(Pw[(size_t)i * w + s] - want) <= 1e-6f + 1e-5f * fabsf(want);
            }
        check_true(t, same, "window %d: and its band holds the full matrix's diagonals", w);
        free(Pw);
    }
    free(qkv);
}

/* ---- The scale --------------------------------------------------------------------- */

static void test_scaling_stats(Check *t) {
    /* row_stats by hand: two keys, d = 1 */
    double q[1] = {1}, K[2] = {2, 0}, V[2] = {1, -1}, g[1] = {1}, p[2], dp[2];
    RowStats s = row_stats(q, K, V, g, 2, 1, 1.0, p, dp);
    double p0 = 1 / (1 + exp(-2.0));
    check_close(t, p[0], p0, 1e-12, 1e-12, "two keys: p = sigmoid(2)");
    check_close(t, s.entropy, -(p0 * log(p0) + (1 - p0) * log(1 - p0)), 1e-12, 1e-10, "its entropy");
    /* J = [[p(1-p), -p(1-p)], [-p(1-p), p(1-p)]]: |J|_F = 2 p (1 - p) */
    check_close(t, s.jacobian, 2 * p0 * (1 - p0), 1e-12, 1e-10, "the Jacobian's norm 2 p (1 - p)");
    /* L = p0 - p1 = 2 p0 - 1, dL/dq = 2 p0 (1 - p0) * (k0 - k1) = 4 p0 (1 - p0) */
    check_close(t, s.grad_q, 4 * p0 * (1 - p0), 1e-12, 1e-10, "and |dL/dq| = 4 p (1 - p)");
}

/* |J|_F^2 for J = diag(p) - p p^T, entry by entry, against the closed form of the text. */
static void test_jacobian_norm(Check *t) {
    Rng rng;
    rng_seed(&rng, 31);
    double worst = 0;
    for (int trial = 0; trial < 20; trial++) {
        int n = 2 + trial;
        double q[1] = {1}, K[40], V[40], g[1] = {0}, p[40], dp[40];
        for (int j = 0; j < n; j++) K[j] = 3 * rng_normal(&rng), V[j] = 0;
        RowStats s = row_stats(q, K, V, g, n, 1, 1.0, p, dp);
        double direct = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double J = (i == j ? p[i] : 0) - p[i] * p[j];
                direct += J * J;
            }
        worst = worse(worst, fabs(s.jacobian - sqrt(direct)));
    }
    check_true(t, worst < 1e-12, "|J|_F from the closed form equals the sum of the squared entries (worst %.1e)", worst);
}

static void test_scaling_quick(Check *t, const char *dir) {
    TsvTable *s = load(t, dir, "ch07-scaling");
    if (!s) return;
    size_t n = tsv_rows(s);
    check_true(t, n == 11, "d = 1, 2, ..., 1024: eleven rows (%zu)", n);
    bool var = true, mixed = true, ent = true;
    for (size_t i = 0; i < n; i++) {
        double d = num(t, s, i, "d"), m = num(t, s, i, "trials") * num(t, s, i, "keys");
        /* The mean of m independent z^2 estimates Var z with relative standard deviation
         * sqrt((E z^4 / (E z^2)^2 - 1) / m).  For z a sum of d products a b of variance s2 and
         * fourth moment m4 = E a^4 E b^4: E z^4 = d m4 + 3 d (d - 1) s2^2.  Normal pairs: s2 = 1,
         * m4 = 9; uniform (E a^4 = 0.45) and +-sqrt 3 (E b^4 = 9): s2 = 1.5, m4 = 4.05.  Held to 5 sigma. */
        double ru = sqrt(((9 * d + 3 * d * (d - 1)) / (d * d) - 1) / m);
        double rm = sqrt(((4.05 * d + 3 * d * (d - 1) * 2.25) / (2.25 * d * d) - 1) / m);
        var &= fabs(num(t, s, i, "var_unit") / d - 1) < 5 * ru;
        mixed &= fabs(num(t, s, i, "var_mixed") / (1.5 * d) - 1) < 5 * rm;
        ent &= num(t, s, i, "ent_scaled") > 2.5;
    }
    check_true(t, var, "Var(q.k) = d for unit variances, at every d (within 5 standard errors)");
    check_true(t, mixed, "Var(q.k) = d Var(q) Var(k) = 1.5 d for uniform (0.5) and +-sqrt 3 (3) entries");
    check_true(t, ent, "scaled: the entropy stays high at every d (above 2.5 of ln 64 = 4.16)");
    check_true(t, num(t, s, n - 1, "ent_raw") < 0.3 && num(t, s, n - 1, "pmax_raw") > 0.9,
               "unscaled, d = 1024: nearly one-hot (entropy %.2f, top weight %.2f)", num(t, s, n - 1, "ent_raw"),
               num(t, s, n - 1, "pmax_raw"));
    check_true(t, num(t, s, n - 1, "jac_med_raw") < 0.05 * num(t, s, n - 1, "jac_med_scaled"),
               "and the median row's Jacobian passes back less than a twentieth of the scaled one's (%.2g, %.2g)",
               num(t, s, n - 1, "jac_med_raw"), num(t, s, n - 1, "jac_med_scaled"));
    check_close(t, num(t, s, 0, "ent_raw"), num(t, s, 0, "ent_scaled"), 1e-9, 1e-9, "at d = 1 the two are the same");
    /* expf overflows above ln(FLT_MAX) = 88.72.  Scaled scores have standard deviation 1: never.  Unscaled, at
     * d = 1024, 64 scores of standard deviation about 32: 1 - Phi(88.72 / 32)^64 = 0.163 of the rows. */
    bool none = true;
    for (size_t i = 0; i < n; i++)
        none &= num(t, s, i, "overflow_scaled") == 0 && (num(t, s, i, "d") > 256 || num(t, s, i, "overflow_raw") == 0);
    check_true(t, none, "no scaled score, and no unscaled one up to d = 256, would overflow expf");
    double pred = 1 - pow(1 - 0.5 * erfc(F32_EXP_MAX / 32 / sqrt(2.0)), 64), trials = num(t, s, n - 1, "trials");
    check_close(t, num(t, s, n - 1, "overflow_raw"), pred, 5 * sqrt(pred * (1 - pred) / trials), 0,
                "unscaled, d = 1024: the fraction of rows whose largest score overflows expf (%.3f) is 1 - Phi(88.72/32)^64",
                num(t, s, n - 1, "overflow_raw"));
    tsv_free(s);
}

/* ---- Why three projections ------------------------------------------------------------ */

/* Scores q_t . k_j with q = W_Q x_t, k = W_K x_j (W_Q, W_K: [d, C]), for all pairs of n vectors. */
static void projected_scores(double *S, const double *WQ, const double *WK, const double *x, int n, int d, int C) {
    for (int a = 0; a < n; a++)
        for (int b = 0; b < n; b++) {
            double s = 0;
            for (int i = 0; i < d; i++) {
                double q = 0, k = 0;
                for (int c = 0; c < C; c++) q += WQ[i * C + c] * x[a * C + c], k += WK[i * C + c] * x[b * C + c];
                s += q * k;
            }
            S[a * n + b] = s;
        }
}

/* The text: q . k = x^T (W_Q^T W_K) x', and W_Q -> G W_Q, W_K -> G^{-T} W_K leaves it unchanged (the
 * 2dC numbers of a head hold 2dC - d^2 degrees of freedom); a plain x . x' is symmetric, a head need not be. */
static void test_qk_circuit(Check *t) {
    enum { C = 6, D = 3, N = 5 };
    Rng rng;
    rng_seed(&rng, 77);
    double WQ[D * C], WK[D * C], x[N * C], G[D * D], Gi[D * D], WQ2[D * C] = {0}, WK2[D * C] = {0};
    for (int i = 0; i < D * C; i++) WQ[i] = rng_normal(&rng), WK[i] = rng_normal(&rng);
    for (int i = 0; i < N * C; i++) x[i] = rng_normal(&rng);
    for (int i = 0; i < D * D; i++) G[i] = rng_normal(&rng) + (i % (D + 1) == 0 ? 3 : 0);
    double det = G[0] * (G[4] * G[8] - G[5] * G[7]) - G[1] * (G[3] * G[8] - G[5] * G[6]) + G[2] * (G[3] * G[7] - G[4] * G[6]);
    for (int i = 0; i < 3; i++)               /* the adjugate over the determinant */
        for (int j = 0; j < 3; j++) {
            int r0 = (j + 1) % 3, r1 = (j + 2) % 3, c0 = (i + 1) % 3, c1 = (i + 2) % 3;
            Gi[i * 3 + j] = (G[r0 * 3 + c0] * G[r1 * 3 + c1] - G[r0 * 3 + c1] * G[r1 * 3 + c0]) / det;
        }
    double id = 0;                            /* check the inverse itself */
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double e = 0;
            for (int k = 0; k < 3; k++) e += G[i * 3 + k] * Gi[k * 3 + j];
            id = worse(id, fabs(e - (i == j)));
        }
    check_true(t, id < 1e-12, "G Gi = I (worst %.1e)", id);
    for (int i = 0; i < D; i++)               /* WQ2 = G WQ, WK2 = Gi^T WK */
        for (int c = 0; c < C; c++)
            for (int k = 0; k < D; k++) WQ2[i * C + c] += G[i * D + k] * WQ[k * C + c], WK2[i * C + c] += Gi[k * D + i] * WK[k * C + c];
    double S[N * N], S2[N * N], worst = 0, asym = 0;
    projected_scores(S, WQ, WK, x, N, D, C), projected_scores(S2, WQ2, WK2, x, N, D, C);
    for (int i = 0; i < N * N; i++) worst = worse(worst, fabs(S[i] - S2[i]) / (1 + fabs(S[i])));
    for (int a = 0; a < N; a++)
        for (int b = 0; b < N; b++) asym = worse(asym, fabs(S[a * N + b] - S[b * N + a]));
    check_true(t, worst < 1e-10, "scores unchanged under W_Q -> G W_Q, W_K -> G^-T W_K (worst %.1e)", worst);
    check_true(t, isfinite(asym) && asym > 0.1, "and, with separate W_Q and W_K, not symmetric (largest |S_ab - S_ba| %.2f)", asym);
}

/* Conceptual exercise 2: for q with independent standard normal coordinates, q . q has mean d and variance
 * 2d, an off-diagonal q . k mean 0 and variance d.  Sampled, held to 5 standard errors. */
static void test_self_score(Check *t) {
    enum { D = 64, M = 20000 };
    Rng rng;
    rng_seed(&rng, 78);
    double s1 = 0, s2 = 0, o1 = 0, o2 = 0;
    for (int m = 0; m < M; m++) {
        double qq = 0, qk = 0;
        for (int i = 0; i < D; i++) {
            double q = rng_normal(&rng), k = rng_normal(&rng);
            qq += q * q, qk += q * k;
        }
        s1 += qq, s2 += qq * qq, o1 += qk, o2 += qk * qk;
    }
    double mean = s1 / M, var = s2 / M - mean * mean, omean = o1 / M, ovar = o2 / M - omean * omean;
    /* standard errors: of a mean, sqrt(var / M); of a variance, about var sqrt(2 / M) plus the kurtosis' share */
    check_close(t, mean, D, 5 * sqrt(2.0 * D / M), 0, "q . q: mean d = 64 (got %.2f)", mean);
    check_close(t, var, 2 * D, 5 * 2 * D * sqrt(3.0 / M), 0, "q . q: variance 2d = 128 (got %.1f)", var);
    check_close(t, omean, 0, 5 * sqrt((double)D / M), 0, "q . k: mean 0 (got %.3f)", omean);
    check_close(t, ovar, D, 5 * D * sqrt(3.0 / M), 0, "q . k: variance d = 64 (got %.1f)", ovar);
}

/* ---- The model ---------------------------------------------------------------------- */

static void test_param_count(Check *t) {
    ModelConfig c = {.V = 5, .T = 4, .C = 3, .L = 2, .H = 6};
    /* by hand: wte 15 + wpe 12 + 2 layers x (3 + 3 + 27 + 9) + lnf 6 + w1 18 + b1 6 + w2 30 + b2 5 */
    check_true(t, model_param_count(&c) == 15 + 12 + 2 * 42 + 6 + 18 + 6 + 30 + 5, "V5 T4 C3 L2 H6: 176 parameters (got %zu)",
               model_param_count(&c));
    c.H = 0;
    check_true(t, model_param_count(&c) == 15 + 12 + 84 + 6 + 15 + 5, "and with a linear readout: 137 (got %zu)",
               model_param_count(&c));
}

typedef struct { Model *m; int B, T; } ModelCtx;
static double model_loss(const float *params, void *ctx) {
    ModelCtx *c = ctx;
    memcpy(c->m->params, params, c->m->n * sizeof(float));
    model_forward(c->m, c->B, c->T);
    return cross_entropy_forward(c->m->losses, c->m->lse, c->m->logits, c->m->tgt, c->B * c->T, c->m->cfg.V);
}

static void test_model_gradient(Check *t) {
    const struct { int L, H; Mask mask; bool unscaled; } cases[] = {
        {1, 0, {MASK_CAUSAL, 0, 0}, false}, {2, 7, {MASK_CAUSAL, 0, 0}, false}, {2, 0, {MASK_WINDOW, 2, 0}, false},
        {3, 5, {MASK_DILATED, 2, 2}, false}, {2, 4, {MASK_CAUSAL, 0, 0}, true}, {0, 4, {MASK_CAUSAL, 0, 0}, false}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ModelConfig c = {.V = 7, .T = 6, .C = 4, .L = cases[k].L, .H = cases[k].H, .mask = cases[k].mask,
                         .unscaled = cases[k].unscaled};
        int B = 2, T = 5;   /* shorter than the context: positions 0..4 */
        Model *m = model_new(&c, B, 100 + k);
        Rng rng;
        rng_seed(&rng, 200 + k);
        for (int i = 0; i < B * T; i++) m->tok[i] = (int32_t)rng_below(&rng, 7), m->tgt[i] = (int32_t)rng_below(&rng, 7);
        m->tgt[3] = -1;                             /* one position without a target */
        for (size_t i = 0; i < m->n; i++) m->params[i] += (float)(0.1 * rng_normal(&rng));   /* off the init */
        model_gradients(m, B, T);
        float *grad = xmalloc_array(m->n, sizeof *grad), *x = xmalloc_array(m->n, sizeof *x);
        memcpy(grad, m->grads, m->n * sizeof *grad), memcpy(x, m->params, m->n * sizeof *x);
        ModelCtx ctx = {m, B, T};
        GradErr e = gradcheck_f32(model_loss, &ctx, x, m->n, grad, 1e-2f);
        check_true(t, e.max_abs < 3e-3, "model L%d H%d mask %d%s: all %zu gradients against central differences (worst %.1e)",
                   c.L, c.H, (int)c.mask.kind, c.unscaled ? " unscaled" : "", m->n, e.max_abs);
        free(grad), free(x);
        model_free(m);
    }
}

/* ---- The baseline: chapter 4's MLP, rebuilt ------------------------------------------------ */

typedef struct { Mlp *m; int B; } MlpCtx;
static double mlp_loss(const float *params, void *ctx) {
    MlpCtx *c = ctx;
    memcpy(c->m->params, params, c->m->n * sizeof(float));
    mlp_forward(c->m, c->B);
    return cross_entropy_forward(c->m->losses, c->m->lse, c->m->logits, c->m->y, c->B, c->m->V);
}

static void test_mlp(Check *t) {
    Mlp *big = mlp_new(85, MLP_T, MLP_D, MLP_H, 1, 1);
    check_true(t, big->n == 505445, "chapter 4's model over 85 characters: its 505,445 parameters (got %zu)", big->n);
    mlp_free(big);
    /* V 6, T 3, D 2, H 5: (6 + 1) 2 + 5 x 6 + 5 + 5 x 5 + 5 + 6 x 5 + 6 */
    Mlp *m = mlp_new(6, 3, 2, 5, 4, 7);
    check_true(t, m->n == 14 + 35 + 30 + 36, "V6 T3 D2 H5: 115 parameters (got %zu)", m->n);
    uint32_t x[40];
    Rng rng;
    rng_seed(&rng, 17);
    for (int i = 0; i < 40; i++) x[i] = (uint32_t)rng_below(&rng, 6);
    for (int b = 0; b < 4; b++) mlp_context(m, b, x, (size_t)b);   /* positions 0..3: padded contexts */
    check_true(t, m->ctx[0] == 6 && m->ctx[1] == 6 && m->ctx[2] == 6 && m->ctx[3 * 3 + 2] == (int32_t)x[2],
               "the context of position 0 is all padding (id V); position 3's ends with x[2]");
    for (size_t i = 0; i < m->n; i++) m->params[i] += (float)(0.2 * rng_normal(&rng));   /* biases off zero too */
    memset(m->grads, 0, m->n * sizeof(float));
    mlp_forward(m, 4);
    cross_entropy_forward(m->losses, m->lse, m->logits, m->y, 4, 6);
    cross_entropy_backward(m->logits, m->logits, m->lse, m->y, 0.25f, 4, 6);
    mlp_backward(m, 4);
    float *grad = xmalloc_array(m->n, sizeof *grad), *p = xmalloc_array(m->n, sizeof *p);
    memcpy(grad, m->grads, m->n * sizeof *grad), memcpy(p, m->params, m->n * sizeof *p);
    MlpCtx ctx = {m, 4};
    GradErr e = gradcheck_f32(mlp_loss, &ctx, p, m->n, grad, 1e-2f);
    check_true(t, e.max_abs < 2e-3, "the MLP's %zu gradients against central differences (worst %.1e)", m->n, e.max_abs);
    size_t scored;
    double ce = mlp_cross_entropy(m, x, 40, 10, 1, &scored);
    double direct = 0;
    for (size_t i = 10; i < 40; i++) {
        mlp_context(m, 0, x, i);
        mlp_forward(m, 1);
        direct += cross_entropy_forward(m->losses, m->lse, m->logits, m->y, 1, 6);
    }
    check_true(t, scored == 30, "mlp_cross_entropy scores positions 10..39 (%zu of 30)", scored);
    check_close(t, ce, direct / 30, 1e-6, 1e-5, "and averages their losses, computed one by one");
    free(grad), free(p);
    mlp_free(m);
}

static void test_cross_entropy_windows(Check *t) {
    ModelConfig c = {.V = 6, .T = 8, .C = 4, .L = 1, .H = 0, .mask = {MASK_CAUSAL, 0, 0}};
    Model *m = model_new(&c, 3, 5);
    uint32_t x[101];
    Rng rng;
    rng_seed(&rng, 9);
    for (int i = 0; i < 101; i++) x[i] = (uint32_t)rng_below(&rng, 6);
    size_t scored;
    double ce = model_cross_entropy(m, x, 101, 10, 4, 1, &scored);
    check_true(t, scored == 91, "targets 10..100 are each scored once (%zu of 91)", scored);
    /* with min_ctx = T - 1 every window advances by one: every target gets T - 1 characters of context,
       which we can compute directly, one window per target */
    ce = model_cross_entropy(m, x, 101, 10, 7, 1, &scored);
    double direct = 0;
    for (int i = 10; i <= 100; i++) {
        int s = i - 8 >= 0 ? i - 8 : 0;     /* the window ending just before target i, or the first */
        for (int k = 0; k < 8; k++) m->tok[k] = (int32_t)x[s + k], m->tgt[k] = (int32_t)x[s + k + 1];
        model_forward(m, 1, 8);
        cross_entropy_forward(m->losses, m->lse, m->logits, m->tgt, 8, 6);
        direct += m->losses[i - s - 1];
    }
    check_true(t, scored == 91, "min_ctx = T - 1: still 91 targets");
    check_close(t, ce, direct / 91, 1e-6, 1e-5, "and each with the T - 1 characters before it (computed one by one)");
    model_free(m);
}

static void test_induction_batch(Check *t) {
    ModelConfig c = {.V = INDUCTION_V, .T = INDUCTION_T, .C = 8, .L = 2, .H = 0, .mask = {MASK_CAUSAL, 0, 0}};
    Model *m = model_new(&c, 8, 1);
    Rng rng;
    rng_seed(&rng, 3);
    int period[8];
    induction_batch(m, 8, period, &rng);
    bool ok = true;
    for (int b = 0; b < 8; b++) {
        int h = period[b];
        const int32_t *tok = m->tok + b * c.T, *tgt = m->tgt + b * c.T;
        ok &= h >= INDUCTION_MIN_H && h <= INDUCTION_MAX_H;
        for (int i = 0; i < c.T; i++) ok &= tok[i] == tok[i % h] && (i + 1 < c.T ? tgt[i] == tok[i + 1] : tgt[i] == -1);
        for (int i = 0; i < h; i++)
            for (int j = 0; j < i; j++) ok &= tok[i] != tok[j];
    }
    check_true(t, ok, "induction sequences: a period of distinct symbols, repeated; targets are the next symbol");
    model_free(m);
}

/* ---- --quick runs of every experiment ----------------------------------------------------- */

static bool all_finite(Check *t, TsvTable *tab, const char *col) {
    bool ok = tsv_rows(tab) > 0;
    for (size_t i = 0; i < tsv_rows(tab); i++) ok &= isfinite(num(t, tab, i, col));
    return ok;
}

static void test_flow_weights(Check *t, Run *r);

static void test_quick_experiments(Check *t, Run *r) {
    const char *d = r->c.out;
    check_true(t, experiment_lookup(r) == 0, "lookup runs");
    TsvTable *lk = load(t, d, "ch07-lookup");
    if (lk) {
        size_t n = tsv_rows(lk);
        check_close(t, num(t, lk, 0, "soft"), 25, 1e-9, 1e-9, "beta 0: the mean of 10, 20, 30, 40");
        check_close(t, num(t, lk, n - 1, "soft"), num(t, lk, n - 1, "hard"), 0.01, 0, "the sharpest: the hard lookup");
        tsv_free(lk);
    }
    check_true(t, experiment_scaling(r) == 0, "scaling runs");
    test_scaling_quick(t, d);
    check_true(t, experiment_masks(r) == 0, "masks runs");
    TsvTable *mk = load(t, d, "ch07-masks");
    if (mk) {
        check_true(t, tsv_rows(mk) == 3 * PATTERN_N * PATTERN_N, "three 16 x 16 patterns");
        tsv_free(mk);
    }
    TsvTable *mc = load(t, d, "ch07-mask-counts");
    if (mc) {
        check_true(t, num(t, mc, 0, "scores") == PATTERN_N * (PATTERN_N + 1) / 2, "causal, 16: 136 scores");
        tsv_free(mc);
    }
    check_true(t, experiment_cost(r) == 0, "cost runs on the CPU");
    TsvTable *cc = load(t, d, "ch07-cost-cpu");
    if (cc) {
        check_true(t, all_finite(t, cc, "ms") && all_finite(t, cc, "bytes"), "its times and sizes are finite");
        bool grows = true;
        for (size_t i = 1; i < tsv_rows(cc); i++)
            if (strcmp(tsv_cell(cc, i, 0), "full") == 0 && strcmp(tsv_cell(cc, i - 1, 0), "full") == 0)
                grows &= num(t, cc, i, "bytes") - 16.0 * COST_D * num(t, cc, i, "n") ==
                         4 * (num(t, cc, i - 1, "bytes") - 16.0 * COST_D * num(t, cc, i - 1, "n"));
        check_true(t, grows, "full attention's n x n weights quadruple when n doubles");
        tsv_free(cc);
    }
    check_true(t, experiment_induction(r) == 0, "induction runs");
    TsvTable *in = load(t, d, "ch07-induction");
    if (in) {
        check_true(t, all_finite(t, in, "loss_repeat") && all_finite(t, in, "induction"), "its curves are finite");
        check_close(t, num(t, in, 0, "loss_first"), log(INDUCTION_V), 0, 0.1, "it starts near ln 64 (%.3f)",
                    num(t, in, 0, "loss_first"));
        tsv_free(in);
    }
    TsvTable *ii = load(t, d, "ch07-induction-info");
    if (ii) {
        check_true(t, tsv_rows(ii) == 4, "four induction runs: one and two layers, the scale with and without");
        check_true(t, num(t, ii, 3, "scaled") == 0 && num(t, ii, 2, "scaled") == 1, "the last is the unscaled one");
        tsv_free(ii);
    }
    TsvTable *ia = load(t, d, "ch07-induction-att");
    if (ia) {
        check_true(t, tsv_rows(ia) == 2 * INDUCTION_T * INDUCTION_T, "two layers of weights");
        tsv_free(ia);
    }
    check_true(t, experiment_context(r) == 0, "context runs");
    TsvTable *cx = load(t, d, "ch07-context");
    if (cx) {
        check_true(t, all_finite(t, cx, "val_ppl") && all_finite(t, cx, "ms_per_step"), "finite perplexities and times");
        bool quad = true;
        for (size_t i = 0; i < tsv_rows(cx); i++)
            quad &= num(t, cx, i, "att_bytes_seq") == 4.0 * num(t, cx, i, "layers") * num(t, cx, i, "context") * num(t, cx, i, "context");
        check_true(t, quad, "a sequence's attention weights take L T^2 floats");
        tsv_free(cx);
    }
    check_true(t, experiment_baseline(r) == 0, "baseline runs");
    TsvTable *bl = load(t, d, "ch07-baseline");
    if (bl) {
        double te = num(t, bl, 0, "test_ppl"), va = num(t, bl, 0, "val_ppl");
        check_true(t, isfinite(te) && te > 1 && te < r->data->vocab.size && isfinite(va) && va > 1,
                   "the baseline's perplexities are in (1, V): validation %.2f, test %.2f", va, te);
        check_close(t, num(t, bl, 0, "test_bpc"), log2(te), 1e-3, 1e-3, "bits per character = log2 perplexity");
        tsv_free(bl);
    }
    TsvTable *bc = load(t, d, "ch07-baseline-curve");
    if (bc) {
        size_t n = tsv_rows(bc);
        check_close(t, num(t, bc, 0, "val_loss"), log(r->data->vocab.size), 0, 0.15, "the baseline starts near ln V (%.3f)",
                    num(t, bc, 0, "val_loss"));
        check_true(t, num(t, bc, n - 1, "train_loss") < num(t, bc, 0, "train_loss") - 0.3,
                   "and its training lowers the loss by more than 0.3 nats");
        tsv_free(bc);
    }
    check_true(t, experiment_seeds(r) == 0, "seeds runs");
    TsvTable *sd = load(t, d, "ch07-seeds");
    if (sd) {
        check_true(t, tsv_rows(sd) == 2 * sizeof SEEDS / sizeof SEEDS[0] && all_finite(t, sd, "val_ppl") &&
                          all_finite(t, sd, "test_ppl"),
                   "both models from each other seed, finite perplexities");
        tsv_free(sd);
    }
    check_true(t, experiment_select(r) == 0, "select runs");
    TsvTable *se = load(t, d, "ch07-select");
    if (se) {
        check_true(t, tsv_rows(se) == 3 && all_finite(t, se, "val_ppl"), "three other configurations, finite perplexities");
        tsv_free(se);
    }
    check_true(t, experiment_train(r) == 0, "train runs");
    TsvTable *c = load(t, d, "ch07-curve");
    if (c) {
        size_t n = tsv_rows(c);
        check_true(t, all_finite(t, c, "train_loss") && all_finite(t, c, "val_loss"), "the learning curve is finite");
        check_close(t, num(t, c, 0, "val_loss"), log(r->data->vocab.size), 0, 0.15, "it starts near ln V (%.3f)",
                    num(t, c, 0, "val_loss"));
        check_true(t, num(t, c, n - 1, "train_loss") < num(t, c, 0, "train_loss") - 0.3,
                   "training lowers the loss by more than 0.3 nats");
        tsv_free(c);
    }
    TsvTable *tr = load(t, d, "ch07-train");
    if (tr) {
        double v = num(t, tr, 0, "val_ppl");
        check_true(t, isfinite(v) && v > 1 && v < r->data->vocab.size, "validation perplexity is in (1, V): %.2f", v);
        double te = num(t, tr, 0, "test_ppl");
        check_true(t, isfinite(te) && te > 1 && te < r->data->vocab.size, "test perplexity is in (1, V): %.2f", te);
        check_close(t, num(t, tr, 0, "test_bpc"), log2(te), 1e-3, 1e-3, "bits per character = log2 perplexity");
        tsv_free(tr);
    }
    TsvTable *stt = load(t, d, "ch07-step-time");
    if (stt) {
        check_true(t, tsv_rows(stt) == 2 && all_finite(t, stt, "ms_per_step") && num(t, stt, 0, "ms_per_step") > 0 &&
                          num(t, stt, 1, "ms_per_step") > 0,
                   "a step of each model is timed: two positive times");
        tsv_free(stt);
    }
    TsvTable *hm = load(t, d, "ch07-heatmap");
    if (hm) {
        bool causal = true;
        double rowsum = 0;
        for (size_t i = 0; i < tsv_rows(hm); i++) {
            if (num(t, hm, i, "j") > num(t, hm, i, "t")) causal &= num(t, hm, i, "weight") == 0;
            if (num(t, hm, i, "layer") == 0 && num(t, hm, i, "t") == 5) rowsum += num(t, hm, i, "weight");
        }
        check_true(t, causal, "the heat map is zero above the diagonal");
        check_close(t, rowsum, 1, 1e-3, 0, "and a row of it sums to one");
        tsv_free(hm);
    }
    test_flow_weights(t, r);
    char *dot = xasprintf("%s/ch07-flow.dot", d);
    size_t len = 0;
    char *text = file_read(dot, &len, NULL, 0);
    check_true(t, text && strstr(text, "digraph flow") && strstr(text, "// git:") && strstr(text, "next?"),
               "the flow graph is a DOT file with its provenance and the prediction's node");
    free(text), free(dot);
}

/* The flow graph's edges carry the weights of a forward pass over its FLOW_T
 * characters: each label equals P[t][j] of that layer, read with rows of
 * FLOW_T (not of the model's longer context). */
static void test_flow_weights(Check *t, Run *r) {
    ModelConfig c = {.V = r->data->vocab.size, .T = 32, .C = 8, .L = 2, .H = 0, .mask = {MASK_CAUSAL, 0, 0}};
    Model *m = model_new(&c, 1, 5);
    write_flow(r, m, 0);
    char *path = xasprintf("%s/ch07-flow.dot", r->c.out);
    size_t len = 0;
    char *text = file_read(path, &len, NULL, 0);
    model_forward(m, 1, FLOW_T);          /* what write_flow computed */
    int edges = 0, wrong = 0;
    for (char *q = text ? strstr(text, "penwidth") : NULL; q; q = strstr(q + 1, "penwidth")) {
        char *line = q;
        while (line > text && line[-1] != '\n') line--;
        int l0, j, l1, tq;
        float w;
        char *lab = strstr(line, "tooltip=\"");
        if (sscanf(line, " n%d_%d -> n%d_%d", &l0, &j, &l1, &tq) != 4 || !lab || sscanf(lab, "tooltip=\"%f", &w) != 1) continue;
        edges++;
        wrong += fabsf(w - m->att[l0][(size_t)tq * FLOW_T + j]) > 0.006f || j > tq;
    }
    check_true(t, text && edges > 0 && wrong == 0, "the flow graph's %d edges carry the weights of their layer (%d wrong)",
               edges, wrong);
    free(text), free(path);
    model_free(m);
}

static void test_command_line(Check *t) {
    const ProgramCase cases[] = {
        {"train --width 0", 2, "--width"},
        {"train --mask diagonal", 2, "--mask"},
        {"train --layers 99", 2, "--layers"},
        {"nonsense", 2, "nonsense"},
        {"train --context 4 --mask window --window 0", 2, "--window"},
    };
    expect_programs(t, "ch07-attention", cases, sizeof cases / sizeof cases[0]);
    expect_program(t, "ch07-attention", "train --quick --data /nonexistent/file.txt --out /tmp", 1, "/nonexistent/file.txt");
    if (!gpu_available()) expect_program(t, "ch07-attention", "cost --device cuda --quick --out /tmp", 1, "--device cuda");
    expect_program(t, "ch07-attention", "induction --device cuda --quick --out /tmp", 1, "cost");
}

/* ---- The worked solutions ---------------------------------------------------------------- */

static void test_solutions(Check *t);

int main(void) {
    Check t;
    check_init(&t, "ch07");
    setenv("NO_PROGRESS", "1", 1);
#ifdef _OPENMP
    omp_set_num_threads(1);   /* the --quick runs are small: one thread, as --threads 1 would give */
#endif
    test_lookup(&t);
    test_masks(&t);
    test_worked_example(&t);
    test_attend_forward(&t);
    test_attend_backward(&t);
    test_window(&t);
    test_scaling_stats(&t);
    test_jacobian_norm(&t);
    test_qk_circuit(&t);
    test_self_score(&t);
    test_param_count(&t);
    test_model_gradient(&t);
    test_cross_entropy_windows(&t);
    test_mlp(&t);
    test_induction_batch(&t);
    test_solutions(&t);
    char dir[] = "/tmp/test-ch07-XXXXXX";
    if (!mkdtemp(dir)) die("cannot make a temporary directory");
    Run r = {.context = 32, .width = 32, .layers = 2, .hidden = 64, .steps = 0, .batch = 4, .window = 8,
             .stride = 4, .max_n = 0, .lr = 2e-3, .mask = "causal"};
    quick_common(&r.c, "test_ch07", dir);
    test_quick_experiments(&t, &r);
    test_command_line(&t);
    dataset_free(r.data);
    cli_free(&r.c);
    remove_tree(dir);
    return check_summary(&t);
}

static void test_solutions(Check *t) {
    /* 7: the one-pass softmax equals the two-pass one, with huge scores and with masked entries where each
     * mask puts them: a window's row starts with them, a causal row ends with them, a dilated row has them
     * between its keys */
    Rng rng;
    rng_seed(&rng, 21);
    float a[40], b[40];
    double worst = 0;
    for (int trial = 0; trial < 60; trial++) {
        for (int j = 0; j < 40; j++) a[j] = (float)(rng_normal(&rng) * (trial % 2 ? 3 : 300));
        for (int j = 0; j < 40; j++)
            if ((trial % 3 == 0 && j < 25) || (trial % 3 == 1 && j > 12) || (trial % 3 == 2 && j % 3 != 1)) a[j] = -INFINITY;
        memcpy(b, a, sizeof a);
        softmax_online(a, 40);
        float mx = -INFINITY;
        for (int j = 0; j < 40; j++) mx = fmaxf(mx, b[j]);
        double sum = 0;
        for (int j = 0; j < 40; j++) sum += (b[j] = expf(b[j] - mx));
        for (int j = 0; j < 40; j++) worst = worse(worst, fabs(a[j] - b[j] / sum));
    }
    check_true(t, worst < 1e-6, "solution 7: the one-pass softmax equals the two-pass one, masked keys first, last "
                                "and between (worst %.1e)", worst);
    float lead[3] = {-INFINITY, -INFINITY, 2.0f};
    softmax_online(lead, 3);
    check_true(t, lead[0] == 0 && lead[1] == 0 && lead[2] == 1, "solution 7: a row whose first keys are masked: (0, 0, 1)");
    /* 8: global tokens */
    Mask win = {MASK_WINDOW, 6, 0};
    bool same = true, closed = true;
    for (int g = 0; g <= 6; g++)
        for (int n = 1; n <= 60; n++) {
            int64_t brute = 0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++) brute += mask_allows_global(&win, g, i, j);
            same &= brute == mask_count_global(&win, g, n);
            if (n - 6 >= g)
                closed &= mask_count_global(&win, g, n) == 6 * 7 / 2 + (int64_t)(n - 6) * 6 + g * (g + 1) / 2 + (int64_t)(n - 6 - g) * g;
        }
    check_true(t, same, "solution 8: mask_count_global counts the pattern (g = 0..6, n = 1..60)");
    check_true(t, closed, "solution 8: and equals the closed form of the solution");
    check_true(t, mask_allows_global(&win, 2, 40, 1) && !mask_allows_global(&win, 2, 40, 2) &&
                      !mask_allows_global(&win, 2, 0, 1),
               "solution 8: query 40 sees global key 1, not key 2; query 0 never sees the future");
    /* 9: entropy of uniform causal rows is ln(t + 1) */
    enum { T = 7 };
    float P[T * T] = {0};
    for (int i = 0; i < T; i++)
        for (int j = 0; j <= i; j++) P[i * T + j] = 1.0f / (float)(i + 1);
    double h[T];
    attention_entropy(P, T, h);
    double err = 0;
    for (int i = 0; i < T; i++) err = worse(err, fabs(h[i] - log(i + 1.0)));
    check_true(t, err < 1e-6, "solution 9: a uniform causal row t has entropy ln(t + 1) (%.1e)", err);
}
