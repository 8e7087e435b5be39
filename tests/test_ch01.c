/* test_ch01.c -- chapter 1, the simplest language model.
 *
 * Includes the tangled program (build/01-markov/markov.c, with TESTING
 * defined so that it has no main) and the tangled solutions to the coding
 * exercises, then checks every derivation of the chapter numerically:
 *   the chain rule (a joint recovered from its conditionals; a model's
 *   product of conditionals sums to 1 over all sequences), counting is
 *   maximum likelihood (normalized counts; stationarity; every feasible
 *   perturbation lowers the likelihood), smoothing sums to one, the
 *   Dirichlet posterior mean is add-alpha (numerical integration), the
 *   uniform model has perplexity V (exactly, on a de Bruijn sequence),
 *   sampling matches the model (chi-square), the arithmetic coder decodes
 *   what it encodes within two bits of the model's cross-entropy (and codes
 *   the chapter's worked example "bc" as 1010, with one pending bit);
 *   modified Kneser-Ney: discounts and continuation counts as worked by hand
 *   on a 22-symbol text, every row of every order sums to one (seen and
 *   unseen contexts, one and three discounts), the one-pass scorers agree
 *   with the probabilities they add up;
 * then runs every experiment in --quick mode into a temporary directory and
 * checks the TSV files it writes, and checks the program's one-line errors.
 * Run from the repository root (make test does). */
#include "markov.c"
#include "ch01-solutions.c"

#include "check.h"
#include "expect_die.h"

#include <sys/stat.h>
#include "chapter_test.h"

/* A small text over a few symbols, deterministic. */
static uint32_t *random_text(Rng *rng, size_t n, int V) {
    uint32_t *x = xmalloc_array(n, sizeof *x);
    for (size_t i = 0; i < n; i++) {
        /* skewed: symbol s with weight V - s, and some structure: repeat the previous now and then */
        if (i > 0 && rng_uniform(rng) < 0.3) x[i] = x[i - 1];
        else {
            double w[16];
            for (int s = 0; s < V; s++) w[s] = V - s;
            x[i] = (uint32_t)rng_categorical(rng, w, (size_t)V);
        }
    }
    return x;
}

static void test_counts(Check *t) {
    Rng rng;
    rng_seed(&rng, 11);
    size_t N = 20000;
    int V = 5;
    uint32_t *x = random_text(&rng, N, V);
    Bigram b;
    bigram_train(&b, V, x, N);
    uint64_t sum = 0;
    for (int i = 0; i < V * V; i++) sum += b.count[i];
    check_true(t, sum == N - 1, "bigram counts sum to N - 1 (%" PRIu64 ")", sum);
    for (int k = 0; k <= 5; k++) {
        NgramModel m;
        ngram_train(&m, k, V, x, N);
        uint64_t g = 0, c = 0;
        for (size_t i = 0; i < m.gram.cap; i++) if (m.gram.pos[i] != EMPTY) g += m.gram.count[i];
        for (size_t i = 0; i < m.ctx.cap; i++) if (m.ctx.pos[i] != EMPTY) c += m.ctx.count[i];
        check_true(t, g == N - (size_t)k && c == N - (size_t)k,
                   "order %d: (k+1)-gram and context counts both sum to N - k", k);
        /* dense and hashed bigram agree */
        if (k == 1) {
            bool same = true;
            uint32_t w[2];
            for (uint32_t a = 0; a < (uint32_t)V; a++)
                for (uint32_t c2 = 0; c2 < (uint32_t)V; c2++)
                    for (double alpha = 0; alpha <= 2; alpha += 0.5) {
                        w[0] = a, w[1] = c2;
                        same &= fabs(ngram_prob(&m, w, alpha) - bigram_prob(&b, a, c2, alpha)) < 1e-15;
                    }
            check_true(t, same, "hashed order-1 model equals the dense bigram table, alpha 0..2");
        }
        ngram_free(&m);
    }
    bigram_free(&b);
    free(x);
}

/* Sum over b of P(b | context) for the context x[i-k .. i-1] and for an unseen one. */
static void test_rows_sum_to_one(Check *t) {
    Rng rng;
    rng_seed(&rng, 12);
    size_t N = 5000;
    int V = 6;
    uint32_t *x = random_text(&rng, N, V);
    const double alphas[] = {0, 1e-3, 0.5, 1, 10};
    for (int k = 0; k <= 4; k++) {
        /* the model's vocabulary has one symbol more than the text uses, so a
         * context holding it is certainly unseen */
        NgramModel m;
        ngram_train(&m, k, V + 1, x, N);
        double worst = 0;
        uint32_t w[MAX_ORDER + 1];
        for (int trial = 0; trial < 50; trial++) {
            size_t i = (size_t)k + rng_below(&rng, N - (size_t)k);
            memcpy(w, x + i - k, (size_t)k * sizeof *w);
            bool unseen = k > 0 && trial % 10 == 9;
            if (unseen) w[0] = (uint32_t)V;
            if (unseen && table_count(&m.ctx, w) != 0) check_true(t, false, "the planted context is unseen");
            for (int a = 0; a < 5; a++) {
                double s = 0;
                for (int b = 0; b <= V; b++) { w[k] = (uint32_t)b; s += ngram_prob(&m, w, alphas[a]); }
                worst = worst_of(worst, fabs(s - 1));
            }
        }
        check_true(t, worst < 1e-12, "order %d: every row, of seen and of unseen contexts, sums to 1 (worst |sum - 1| = %.1e)", k, worst);
        ngram_free(&m);
    }
    free(x);
}

/* Kneser-Ney on a text small enough to count by hand:
 *   a b c d e f g g h h i i j j j k k k l l l l     (22 symbols, V = 12)
 * Order 0, raw counts: a..f once (6), g h i twice (3), j k three times (2),
 * l four times (1): n1..n4 = 6 3 2 1, so Y = 6/12 = 1/2 and
 * D1 = 1 - 2(1/2)(3/6) = 1/2, D2 = 2 - 3(1/2)(2/3) = 1, D3+ = 3 - 4(1/2)(1/2) = 2.
 * Freed mass: 6(1/2) + 3(1) + 3(2) = 12, so P(a) = (1 - 1/2 + 12/12)/22 = 1.5/22
 * and P(l) = (4 - 2 + 1)/22 = 3/22.
 * Continuation counts (distinct symbols before each): a 0 (it starts the text),
 * b..f 1 each, g..l 2 each (f g and g g, g h and h h, ...): total 17.
 * They give n1..n4 = 5 6 0 0: Y = 5/17, D1 = 1 - 2(5/17)(6/5) = 5/17; the
 * formula's D2 = 2 and D3+ (0/0) fall outside (0, r) and take the defaults
 * 1 and 3/2.  Freed mass 5(5/17) + 6(1), so the order-0 continuation
 * probability of h is (2 - 1 + (25/17 + 6)/12)/17.
 * Order 1, raw: g is followed by g and h once each (c(g .) = 2); the bigram
 * counts have n1..n4 = 14 2 1 0, so Y = 14/18 = 7/9, D1 = 1 - 2(7/9)(2/14) = 7/9
 * (D2 = 5/6; D3+ = 3 falls outside and is 3/2), freed mass 2(7/9), and
 * P(h | g) = (1 - 7/9 + (14/9) P_cont(h)) / 2. */
static void test_kneser_ney_by_hand(Check *t) {
    const char *text = "abcdefgghhiijjjkkkllll";
    size_t N = strlen(text);
    Vocab v;
    vocab_build(&v, text, N);
    uint32_t *x = encode(&v, text, N);
    NgramModel models[3];
    for (int j = 0; j <= 2; j++) ngram_train(&models[j], j, v.size, x, N);
    KneserNey kn;
    kn_build(&kn, models, 2, false);
    const KnLevel *L0 = &kn.level[0];
    check_true(t, L0->n_raw[1] == 6 && L0->n_raw[2] == 3 && L0->n_raw[3] == 2 && L0->n_raw[4] == 1,
               "order 0: count-of-counts n1..n4 = 6 3 2 1 (got %g %g %g %g)", L0->n_raw[1], L0->n_raw[2],
               L0->n_raw[3], L0->n_raw[4]);
    check_true(t, fabs(L0->d_raw[1] - 0.5) < 1e-12 && fabs(L0->d_raw[2] - 1) < 1e-12 && fabs(L0->d_raw[3] - 2) < 1e-12,
               "order 0: D1, D2, D3+ = 1/2, 1, 2 as the formula gives (got %g %g %g)", L0->d_raw[1], L0->d_raw[2],
               L0->d_raw[3]);
    const int cont_by_hand[12] = {0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2};   /* a .. l */
    bool cont_ok = true;
    uint32_t w[3];
    for (int b = 0; b < 12; b++) {
        w[0] = (uint32_t)b;
        size_t g = table_slot(&models[0].gram, w);
        cont_ok &= models[0].gram.pos[g] != EMPTY && L0->cont[g] == (uint32_t)cont_by_hand[b];
    }
    uint32_t none[1] = {0};
    check_true(t, fabs(L0->d_cont[1] - 5.0 / 17) < 1e-12 && L0->d_cont[2] == 1 && L0->d_cont[3] == 1.5,
               "order 0, continuation counts: D1 = 5/17 by the formula, D2 and D3+ the defaults 1 and 3/2");
    check_true(t, cont_ok && L0->cont_total[table_slot(&models[0].ctx, none)] == 17,
               "order 0: the continuation counts are the hand-counted 0 1 1 1 1 1 2 2 2 2 2 2, total 17");
    w[0] = (uint32_t)v.id_of['a'];
    double pa = kn_prob(&kn, 0, w);
    w[0] = (uint32_t)v.id_of['l'];
    double pl = kn_prob(&kn, 0, w);
    check_true(t, fabs(pa - 1.5 / 22) < 1e-15 && fabs(pl - 3.0 / 22) < 1e-15,
               "order 0: P(a) = 1.5/22 and P(l) = 3/22 (got %.6f, %.6f)", pa, pl);
    w[0] = (uint32_t)v.id_of['g'], w[1] = (uint32_t)v.id_of['h'];
    double cont_h = (2 - 1 + (25.0 / 17 + 6) / 12) / 17;
    double hand = (1 - 7.0 / 9 + 14.0 / 9 * cont_h) / 2, ph = kn_prob(&kn, 1, w);
    check_true(t, fabs(ph - hand) < 1e-15, "order 1: P(h | g) = %.9f, as worked by hand (%.9f)", ph, hand);
    kn_free(&kn);
    for (int j = 0; j <= 2; j++) ngram_free(&models[j]);
    free(x);
}

/* Kneser-Ney and interpolation on a random text: every row sums to one, and
 * the one-pass scorers agree with the probabilities they add up. */
static void test_kneser_ney_properties(Check *t) {
    Rng rng;
    rng_seed(&rng, 13);
    size_t N = 20000;
    int V = 6, K = 5;
    uint32_t *x = random_text(&rng, N, V);
    NgramModel models[6];
    for (int j = 0; j <= K; j++) ngram_train(&models[j], j, V + 1, x, N);   /* symbol V never occurs */
    for (int one = 0; one <= 1; one++) {
        KneserNey kn;
        kn_build(&kn, models, K, one);
        double worst = 0;
        uint32_t w[MAX_ORDER + 1];
        for (int k = 0; k <= K; k++)
            for (int trial = 0; trial < 40; trial++) {
                size_t i = (size_t)k + rng_below(&rng, N - (size_t)k);
                memcpy(w, x + i - k, (size_t)k * sizeof *w);
                if (k > 0 && trial % 8 == 7) w[rng_below(&rng, (uint64_t)k)] = (uint32_t)V;   /* unseen */
                double sum = 0;
                for (int b = 0; b <= V; b++) { w[k] = (uint32_t)b; sum += kn_prob(&kn, k, w); }
                worst = worst_of(worst, fabs(sum - 1));
            }
        check_true(t, worst < 1e-12, "Kneser-Ney (%s): every row of orders 0..5, seen and unseen, sums to 1 "
                   "(worst %.1e)", one ? "one discount" : "three discounts", worst);
        double q[8], dgap = 0;
        for (int k = 0; k <= K; k++)
            for (int trial = 0; trial < 20; trial++) {
                size_t i = (size_t)k + rng_below(&rng, N - (size_t)k);
                memcpy(w, x + i - k, (size_t)k * sizeof *w);
                if (k > 0 && trial % 5 == 4) w[0] = (uint32_t)V;   /* unseen */
                kn_distribution(&kn, k, w, q);
                for (int b = 0; b <= V; b++) { w[k] = (uint32_t)b; dgap = worst_of(dgap, fabs(q[b] - kn_prob(&kn, k, w))); }
            }
        check_true(t, dgap < 1e-15, "kn_distribution gives every symbol the probability kn_prob gives it (%.1e)", dgap);
        double nll[MAX_ORDER + 1], gap = 0;
        kn_nll(&kn, x, 3000, (size_t)K, nll);
        for (int k = 0; k <= K; k++) {
            double direct = 0;
            for (size_t i = (size_t)K; i < 3000; i++) direct -= log(kn_prob(&kn, k, x + i - k));
            gap = worst_of(gap, fabs(direct - nll[k]) / direct);
        }
        check_true(t, gap < 1e-12, "kn_nll scores every order as kn_prob does (worst relative gap %.1e)", gap);
        kn_free(&kn);
    }
    double (*nll)[MAX_ORDER + 1] = xmalloc_array(NLAMBDA, sizeof *nll), gap = 0;
    jm_nll(models, K, x, 3000, (size_t)K, 0.01, nll);
    for (int l = 0; l < NLAMBDA; l += 5)
        for (int k = 0; k <= K; k++) {
            double direct = 0;
            for (size_t i = (size_t)K; i < 3000; i++) {
                double q = ngram_prob(&models[0], x + i, 0.01);
                for (int j = 1; j <= k; j++) {
                    double c = table_count(&models[j].ctx, x + i - j);
                    if (c > 0) q = LAMBDAS[l] * table_count(&models[j].gram, x + i - j) / c + (1 - LAMBDAS[l]) * q;
                }
                direct -= log(q);
            }
            gap = worst_of(gap, fabs(direct - nll[l][k]) / direct);
        }
    check_true(t, gap < 1e-12, "jm_nll scores every order and weight as the recursion does (worst gap %.1e)", gap);
    free(nll);
    for (int j = 0; j <= K; j++) ngram_free(&models[j]);
    free(x);
}

/* Maximum likelihood: the estimate is the normalized counts, the Lagrangian's
 * gradient is constant across the row, and feasible moves lower the likelihood. */
static void test_mle(Check *t) {
    Rng rng;
    rng_seed(&rng, 13);
    size_t N = 30000;
    int V = 6;
    uint32_t *x = random_text(&rng, N, V);
    Bigram m;
    bigram_train(&m, V, x, N);
    int worse = 0, trials = 0;
    double max_grad_spread = 0;
    for (uint32_t a = 0; a < (uint32_t)V; a++) {
        double theta[16], c[16], n = (double)m.total[a];
        for (int b = 0; b < V; b++) {
            c[b] = (double)m.count[(size_t)a * V + b];
            theta[b] = bigram_prob(&m, a, (uint32_t)b, 0);
            check_close(t, theta[b], c[b] / n, 0, 1e-15, "P(%d | %u) is count / total", b, a);
        }
        /* d/dtheta_b sum c log theta = c_b / theta_b, equal (to n) for every b with c_b > 0 */
        for (int b = 0; b < V; b++)
            if (c[b] > 0) max_grad_spread = worst_of(max_grad_spread, fabs(c[b] / theta[b] - n) / n);
        double ll0 = 0;
        for (int b = 0; b < V; b++) if (c[b] > 0) ll0 += c[b] * log(theta[b]);
        for (int trial = 0; trial < 200; trial++) {
            double d[16], mean = 0, th[16], ll = 0;
            for (int b = 0; b < V; b++) mean += (d[b] = rng_normal(&rng)) / V;
            bool ok = true;
            for (int b = 0; b < V; b++) { th[b] = theta[b] + 1e-3 * (d[b] - mean); ok &= th[b] > 0; }
            if (!ok) continue;
            for (int b = 0; b < V; b++) if (c[b] > 0) ll += c[b] * log(th[b]);
            trials++;
            worse += ll < ll0;
        }
    }
    check_true(t, max_grad_spread < 1e-12, "the log-likelihood's gradient is the same for every symbol at the MLE (stationary on the simplex)");
    check_true(t, trials > 500 && worse == trials, "every one of %d feasible perturbations of the MLE lowers the log-likelihood (%d did)", trials, worse);
    bigram_free(&m);
    free(x);
}

/* The chain rule, both ways. */
static void test_chain_rule(Check *t) {
    /* (a) a random joint over sequences of length 3 over 3 symbols, recovered
     * from conditionals computed by marginalization */
    Rng rng;
    rng_seed(&rng, 14);
    double joint[27], total = 0;
    for (int i = 0; i < 27; i++) total += (joint[i] = rng_uniform(&rng) + 0.01);
    for (int i = 0; i < 27; i++) joint[i] /= total;
    double worst = 0;
    for (int s = 0; s < 27; s++) {
        int a = s / 9, b = (s / 3) % 3, c = s % 3;
        double pa = 0, pab = 0;
        for (int u = 0; u < 9; u++) pa += joint[a * 9 + u];
        for (int u = 0; u < 3; u++) pab += joint[a * 9 + b * 3 + u];
        double product = pa * (pab / pa) * (joint[a * 9 + b * 3 + c] / pab);
        worst = worst_of(worst, fabs(product - joint[s]));
    }
    check_true(t, worst < 1e-15, "chain rule: P(a) P(b|a) P(c|a,b) recovers the joint (worst %.1e)", worst);

    /* (b) an autoregressive model's product of conditionals sums to 1 over all V^L sequences */
    size_t N = 3000;
    int V = 3, K = 2, L = 6;
    uint32_t *x = random_text(&rng, N, V);
    NgramModel models[3];
    for (int j = 0; j <= K; j++) ngram_train(&models[j], j, V, x, N);
    double sum = 0;
    uint32_t seq[8];
    int nseq = 1;
    for (int i = 0; i < L; i++) nseq *= V;
    for (int s = 0; s < nseq; s++) {
        int code = s;
        for (int i = 0; i < L; i++) { seq[i] = (uint32_t)(code % V); code /= V; }
        double p = 1;
        for (int i = 0; i < L; i++) {
            int j = i < K ? i : K;   /* the longest context available, as generate does */
            p *= ngram_prob(&models[j], seq + i - j, 0.5);
        }
        sum += p;
    }
    check_close(t, sum, 1, 1e-12, 0, "the order-2 model's probabilities of all %d sequences of length %d sum to 1", nseq, L);
    for (int j = 0; j <= K; j++) ngram_free(&models[j]);
    free(x);
}

/* A de Bruijn sequence of order n over V symbols contains every n-gram exactly
 * once (cyclically); the order n-1 MLE model is uniform on it. */
static void de_bruijn_step(int t, int p, int V, int n, int *a, uint32_t *out, size_t *len) {
    if (t > n) {
        if (n % p == 0)
            for (int i = 1; i <= p; i++) out[(*len)++] = (uint32_t)a[i];
        return;
    }
    a[t] = a[t - p];
    de_bruijn_step(t + 1, p, V, n, a, out, len);
    for (int j = a[t - p] + 1; j < V; j++) {
        a[t] = j;
        de_bruijn_step(t + 1, t, V, n, a, out, len);
    }
}

static size_t de_bruijn(int V, int n, uint32_t *out) {
    int a[32] = {0};
    size_t len = 0;
    de_bruijn_step(1, 1, V, n, a, out, &len);
    return len;
}

static void test_perplexity(Check *t) {
    int V = 3, n = 4;
    uint32_t seq[256];
    size_t len = de_bruijn(V, n, seq);
    check_true(t, len == 81, "de Bruijn B(3,4) has 81 symbols (%zu)", len);
    for (int i = 0; i < n - 1; i++) seq[len + (size_t)i] = seq[i];   /* unroll the cycle */
    size_t N = len + (size_t)n - 1;
    NgramModel m;
    ngram_train(&m, n - 1, V, seq, N);
    double h = cross_entropy(&m, seq, N, (size_t)n - 1, 0);
    check_close(t, exp(h), V, 0, 1e-12, "a model uniform over V = 3 symbols at every step has perplexity exactly V");
    check_close(t, h / log(2), log2(V), 0, 1e-12, "bits per character = log2 perplexity");
    ngram_free(&m);
    /* a model that knows nothing (alpha -> infinity) has perplexity V on any text */
    Rng rng;
    rng_seed(&rng, 15);
    uint32_t *x = random_text(&rng, 2000, 7);
    NgramModel m2;
    ngram_train(&m2, 2, 7, x, 2000);
    check_close(t, exp(cross_entropy(&m2, x, 2000, 2, 1e12)), 7, 0, 1e-6, "alpha -> infinity gives perplexity V = 7");
    /* perplexity is at least 1, and 1 for a certain, correct model */
    uint32_t same[100];
    for (int i = 0; i < 100; i++) same[i] = (uint32_t)(i % 2);
    NgramModel m3;
    ngram_train(&m3, 1, 2, same, 100);
    check_close(t, exp(cross_entropy(&m3, same, 100, 1, 0)), 1, 0, 1e-15, "a certain, correct model has perplexity 1");
    /* one unseen (k+1)-gram with alpha = 0 makes the perplexity infinite */
    uint32_t other[4] = {0, 0, 1, 1};
    check_true(t, isinf(cross_entropy(&m3, other, 4, 1, 0)), "an unseen bigram under maximum likelihood gives infinite cross-entropy");
    ngram_free(&m2);
    ngram_free(&m3);
    free(x);
}

/* Simpson's rule for the posterior mean of theta under Beta(c1 + a, c2 + a). */
static void test_dirichlet(Check *t) {
    const double cases[][3] = {{3, 5, 1}, {0, 4, 1}, {10, 2, 2.5}, {1, 1, 1}, {7, 0, 3}, {2, 9, 1.5}};
    for (size_t q = 0; q < sizeof cases / sizeof cases[0]; q++) {
        double c1 = cases[q][0], c2 = cases[q][1], a = cases[q][2];
        int n = 200000;
        double num = 0, den = 0, h = 1.0 / n;
        for (int i = 0; i <= n; i++) {
            double th = i * h, w = (i == 0 || i == n) ? 1 : (i % 2 ? 4 : 2);
            double dens = pow(th, c1 + a - 1) * pow(1 - th, c2 + a - 1);
            num += w * th * dens;
            den += w * dens;
        }
        double posterior_mean = num / den;
        /* the chapter's add-alpha estimate for a 2-symbol context with these counts */
        uint32_t text[64];
        size_t len = 0;
        for (int i = 0; i < (int)c1; i++) { text[len++] = 0; text[len++] = 0; }
        for (int i = 0; i < (int)c2; i++) { text[len++] = 0; text[len++] = 1; }
        NgramModel m;
        ngram_train(&m, 1, 2, text, len);
        /* count(0 0) includes the pairs across blocks; use the model's own counts */
        uint32_t w00[2] = {0, 0}, w01[2] = {0, 1};
        double n00 = table_count(&m.gram, w00), n01 = table_count(&m.gram, w01);
        double mean2 = (n00 + a) / (n00 + n01 + 2 * a);
        check_close(t, ngram_prob(&m, w00, a), mean2, 0, 1e-14, "add-alpha equals (c + a)/(n + 2a) (case %zu)", q);
        check_close(t, posterior_mean, (c1 + a) / (c1 + c2 + 2 * a), 0, 1e-6,
                    "posterior mean of Beta(%g + %g, %g + %g) by integration is (c1 + a)/(n + 2a)", c1, a, c2, a);
        /* the mode (MAP), by a fine grid search of the log density, for a >= 1 */
        double best = -INFINITY, mode = 0;
        for (int i = 1; i < n; i++) {
            double th = i * h, ld = (c1 + a - 1) * log(th) + (c2 + a - 1) * log(1 - th);
            if (ld > best) best = ld, mode = th;
        }
        if (c1 + a > 1 && c2 + a > 1)
            check_close(t, mode, (c1 + a - 1) / (c1 + c2 + 2 * (a - 1)), 2 * h, 0,
                        "posterior mode of Beta(%g + %g, %g + %g) by search is (c1 + a - 1)/(n + 2(a - 1))", c1, a, c2, a);
        ngram_free(&m);
    }
}

static void test_sampling(Check *t) {
    double p[6] = {0.05, 0.3, 0.1, 0.25, 0.2, 0.1};
    int n = 200000;
    long seen[6] = {0};
    Rng a, b;
    rng_seed(&a, 21);
    rng_seed(&b, 21);
    bool same = true;
    for (int i = 0; i < n; i++) {
        uint32_t s = sample_categorical(p, 6, &a);
        same &= s == (uint32_t)rng_categorical(&b, p, 6);
        seen[s]++;
    }
    double chi2 = 0;
    for (int s = 0; s < 6; s++) chi2 += pow(seen[s] - n * p[s], 2) / (n * p[s]);
    check_true(t, chi2 < 20.52, "sample frequencies match the distribution: chi-square %.2f < 20.52 (5 df, p = 0.001)", chi2);
    check_true(t, same, "sample_categorical draws what rng_categorical draws from the same stream");
    double q[3] = {0, 1, 0};
    check_true(t, sample_categorical(q, 3, &a) == 1, "a certain symbol is always drawn");
}

static void test_coder(Check *t) {
    /* the chapter's worked example: q(a, b, c) = 0.3, 0.4, 0.3; the message "bc" codes as 1010,
     * with one pending bit after b */
    Encoder ex = {.low = 0, .high = CODE_TOP};
    encode_symbol(&ex, 3, 7, 10);
    check_true(t, ex.nbits == 0 && ex.pending == 1, "worked example: after b nothing is settled and one bit is pending");
    encode_symbol(&ex, 7, 10, 10);
    check_true(t, ex.nbits == 2 && ex.bits[0] == 1 && ex.bits[1] == 0 && ex.pending == 0,
               "worked example: c settles 1, then the pending bit's opposite 0");
    encode_finish(&ex);
    check_true(t, ex.nbits == 4 && ex.bits[2] == 1 && ex.bits[3] == 0, "worked example: the code of bc is 1010");
    free(ex.bits);
    Rng rng;
    rng_seed(&rng, 31);
    size_t N = 50000;
    int V = 7;
    uint32_t *x = random_text(&rng, N, V);
    for (int k = 0; k <= 3; k++) {
        NgramModel m;
        ngram_train(&m, k, V, x, N / 2);   /* trained on the first half, coding all */
        Encoder e = {.low = 0, .high = CODE_TOP};
        uint32_t freq[16], window[MAX_ORDER + 1];
        double ideal = 0;
        for (size_t i = (size_t)k; i < N; i++) {
            memcpy(window, x + i - k, (size_t)k * sizeof *window);
            uint32_t total = model_freqs(&m, window, 0.5, freq), cum = 0;
            for (uint32_t b = 0; b < x[i]; b++) cum += freq[b];
            encode_symbol(&e, cum, cum + freq[x[i]], total);
            ideal -= log2((double)freq[x[i]] / total);
        }
        encode_finish(&e);
        Decoder d;
        decode_start(&d, e.bits, e.nbits);
        bool ok = true;
        uint32_t *y = xmalloc_array(N, sizeof *y);
        memcpy(y, x, (size_t)k * sizeof *y);
        for (size_t i = (size_t)k; i < N; i++) {
            memcpy(window, y + i - k, (size_t)k * sizeof *window);
            uint32_t total = model_freqs(&m, window, 0.5, freq);
            y[i] = decode_symbol(&d, freq, V, total);
            ok &= y[i] == x[i];
        }
        check_true(t, ok, "order %d: the decoder returns every symbol the encoder coded", k);
        check_true(t, e.nbits <= ideal + 2 && e.nbits >= ideal - 1,
                   "order %d: %zu coded bits within 2 of the ideal %.1f", k, e.nbits, ideal);
        free(y);
        free(e.bits);
        ngram_free(&m);
    }
    free(x);
}

static void test_lexicon_and_folding(Check *t) {
    Lexicon lx;
    lexicon_init(&lx);
    char word[16];
    bool dense = true;
    for (int i = 0; i < 5000; i++) {
        snprintf(word, sizeof word, "w%dx", i);
        dense &= lexicon_add(&lx, word, strlen(word)) == (uint32_t)i;
    }
    check_true(t, dense, "the lexicon gives new words the ids 0, 1, 2, ...");
    bool ok = true;
    for (int i = 0; i < 5000; i++) {
        snprintf(word, sizeof word, "W%dX", i);   /* upper case finds the lower-case entry */
        ok &= lexicon_find(&lx, word, strlen(word)) == (uint32_t)i;
    }
    check_true(t, ok && lx.size == 5000, "the lexicon finds every word, case-insensitively, after growing");
    check_true(t, lexicon_find(&lx, "w5000x", 6) == LEXICON_NONE, "an absent word is absent");
    lexicon_free(&lx);
    size_t n;
    const char *in = "The jury's \"report\" (1961)--said:\nNo.";
    char *f = fold27(in, strlen(in), &n);
    check_true(t, strcmp(f, "the jury s report said no ") == 0, "fold27 keeps letters, lower-cased, one space per run: '%s'", f);
    free(f);
}

/* The word model's unknown words, by hand: a text of words where "the" occurs 3 times,
 * "cat" twice and "dog", "a" once; with rare = 1 the two words seen once become <unk>. */
static void test_unknown_words(Check *t) {
    /* the held-out text: WORD_ORDERS words of context, then cow (never seen), a (made unknown), cat */
    const char *tr = "the cat the dog the cat a ";
    char ho[256] = "";
    for (int i = 0; i < WORD_ORDERS; i++) strcat(ho, "the ");
    strcat(ho, "cow a cat ");
    Lexicon lx;
    lexicon_init(&lx);
    lexicon_add(&lx, "<unk>", 5);
    Words wt = split_words(&lx, tr, strlen(tr), true), wh = split_words(&lx, ho, strlen(ho), false);
    uint32_t V, *map = rare_word_map(&lx, &wt, 1, &V);
    uint32_t *tid = mapped_ids(map, &wt), *hid = mapped_ids(map, &wh);
    uint32_t the = lexicon_find(&lx, "the", 3), cat = lexicon_find(&lx, "cat", 3);
    check_true(t, V == 3 && map[the] == 1 && map[cat] == 2 && map[lexicon_find(&lx, "dog", 3)] == UNK_ID &&
                      map[lexicon_find(&lx, "a", 1)] == UNK_ID,
               "rare = 1: the words seen once (dog, a) become <unk>, the others are renumbered 1, 2 (V = %u)", V);
    const int W = WORD_ORDERS;
    check_true(t, tid[3] == UNK_ID && tid[6] == UNK_ID && hid[W] == UNK_ID && hid[W + 1] == UNK_ID && hid[W + 2] == 2,
               "training and held-out words are rewritten through the map (cow, unknown anyway; a, made unknown)");
    check_close(t, unknown_share(hid, wh.n), 2.0 / 3, 0, 1e-15, "two of the three scored words are unknown");
    /* spelling "cow" then a space: by letter frequencies, and by a character model of order 2 */
    Vocab v27;
    vocab_build(&v27, " abcdefghijklmnopqrstuvwxyz", 27);
    size_t n;
    char *f = fold27(tr, strlen(tr), &n);
    uint32_t *xt = encode(&v27, f, n), *xh = encode(&v27, ho, strlen(ho));
    NgramModel cm[3];
    for (int k = 0; k <= 2; k++) ngram_train(&cm[k], k, 27, xt, n);
    KneserNey kn;
    kn_build(&kn, cm, 2, false);
    Speller letters = {&cm[0], NULL, 0}, chars = {&cm[0], &kn, 2};
    uint32_t space = (uint32_t)v27.id_of[' '];
    double cow_letters = 0, cow_chars = 0;
    const char *cow = "cow ";
    size_t at = wh.at[W];   /* where cow starts: after "the " W times */
    for (int j = 0; j < 4; j++) {
        uint32_t c = (uint32_t)v27.id_of[(unsigned char)cow[j]];
        cow_letters -= log((table_count(&cm[0].gram, &c) + 1.0) / (n + 27.0));   /* Laplace, order 0 */
        uint32_t w[3] = {xh[at + j - 2], xh[at + j - 1], c};   /* the two characters before it */
        cow_chars -= log(kn_prob(&kn, 2, w));
    }
    check_true(t, at == 4 * (size_t)W, "cow starts at character %zu", at);
    check_close(t, spelling_nats(&letters, xh, at, 3, space), cow_letters, 0, 1e-12,
                "spelling cow by letter frequencies: the Laplace order-0 probabilities of c, o, w and a space");
    check_close(t, spelling_nats(&chars, xh, at, 3, space), cow_chars, 0, 1e-12,
                "spelling cow by the character model: each letter after the two characters before it");
    Heldout h = heldout_words(&wh, hid, xh, &letters, space);
    uint32_t a = (uint32_t)v27.id_of['a'];
    double spell_a = -log((table_count(&cm[0].gram, &a) + 1.0) / (n + 27.0)) -
                     log((table_count(&cm[0].gram, &space) + 1.0) / (n + 27.0));
    check_close(t, h.chars, (3 + 1) + (1 + 1) + (3 + 1), 0, 0, "the scored words cover their letters and a space each");
    check_close(t, h.extra_nats, cow_letters + spell_a, 0, 1e-12,
                "the held-out text adds the spellings of its unknown scored words, cow and a");
    kn_free(&kn);
    for (int k = 0; k <= 2; k++) ngram_free(&cm[k]);
    free(f), free(xt), free(xh), free(map), free(tid), free(hid);
    words_free(&wt), words_free(&wh);
    lexicon_free(&lx);
}

/* Gibbs' inequality, H(p, q) >= H(p) with equality only at q = p, and exercise 1's bound
 * on the perplexity of a smoothed model, (n + alpha V) / alpha. */
static void test_cross_entropy_bounds(Check *t) {
    Rng rng;
    rng_seed(&rng, 16);
    bool gibbs = true;
    for (int trial = 0; trial < 200; trial++) {
        double p[8], q[8], sp = 0, sq = 0, h = 0, hq = 0;
        for (int i = 0; i < 8; i++) sp += p[i] = rng_uniform(&rng), sq += q[i] = rng_uniform(&rng) + 1e-3;
        for (int i = 0; i < 8; i++) p[i] /= sp, q[i] /= sq;
        for (int i = 0; i < 8; i++) h -= p[i] * log(p[i]), hq -= p[i] * log(q[i]);
        gibbs &= hq > h;
    }
    check_true(t, gibbs, "cross-entropy exceeds entropy for 200 random pairs p != q (KL > 0)");
    uint32_t *x = random_text(&rng, 3000, 5);
    NgramModel m;
    ngram_train(&m, 2, 5, x, 1500);   /* trained on the first half, scored on the second */
    uint32_t nmax = 0;
    for (size_t i = 0; i < m.ctx.cap; i++) if (m.ctx.pos[i] != EMPTY && m.ctx.count[i] > nmax) nmax = m.ctx.count[i];
    bool bounded = true;
    for (double alpha = 1e-3; alpha <= 10; alpha *= 10)
        bounded &= exp(cross_entropy(&m, x + 1500, 1500, 2, alpha)) <= (nmax + alpha * 5) / alpha;
    check_true(t, bounded, "exercise 1: a smoothed model's perplexity is at most (n + alpha V) / alpha");
    ngram_free(&m);
    free(x);
}

/* The solutions to the coding exercises do what the chapter says. */
static void test_solutions(Check *t, Run *r) {
    Dataset *d = load_data(r);
    NgramModel models[9];
    for (int j = 0; j <= 8; j++) ngram_train(&models[j], j, d->vocab.size, d->train.ids, d->train.len);
    /* the main text's interpolation, from the smoothers experiment run to order 8 */
    r->max_order = 8;
    check_true(t, experiment_smoothers(r) == 0, "smoothers runs to order 8 in quick mode");
    r->max_order = 0;
    char *path = xasprintf("%s/ch01-smoothers.tsv", r->c.out), err[256];
    TsvTable *o = tsv_load(path, err, sizeof err);
    free(path);
    if (!o) { check_true(t, false, "ch01-smoothers.tsv reloads: %s", err); return; }
    int ci = tsv_col(o, "val_ppl_jm"), ca = tsv_col(o, "val_ppl_add");
    double interp6 = tsv_num(o, 6, ci), interp4 = tsv_num(o, 4, ci), add6 = tsv_num(o, 6, ca), add4 = tsv_num(o, 4, ca);
    double interp8 = tsv_num(o, 8, ci), kn8 = tsv_num(o, 8, tsv_col(o, "val_ppl_kn"));
    check_true(t, kn8 < interp8, "Kneser-Ney at order 8 (%.3f) beats interpolation (%.3f)", kn8, interp8);
    check_true(t, interp6 < add6, "interpolation at order 6 (%.3f) beats add-alpha at order 6 (%.3f)", interp6, add6);
    check_true(t, add6 > add4 && interp6 < 1.05 * interp4,
               "from order 4 to 6 add-alpha rises (%.3f -> %.3f), interpolation barely moves (%.3f -> %.3f)",
               add4, add6, interp4, interp6);
    tsv_free(o);
    /* exercise 6: count-dependent weights beat a single lambda at the high orders */
    double beta = 0;
    double dir8 = dirichlet_val_ppl(models, 8, d->val.ids, d->val.len, 8, &beta);
    check_true(t, dir8 < interp8, "exercise 6: count-dependent weights at order 8 (%.3f, beta %g) beat one lambda (%.3f)",
               dir8, beta, interp8);
    check_true(t, kn8 < dir8, "exercise 6: Kneser-Ney at order 8 (%.3f) beats count-dependent weights (%.3f)", kn8, dir8);
    /* exercise 6's model is a distribution at every order: rows sum to one */
    double worst = 0;
    uint32_t w[9];
    for (int trial = 0; trial < 20; trial++) {
        size_t i = 8 + (size_t)trial * 997;
        memcpy(w, d->val.ids + i - 8, 8 * sizeof *w);
        if (trial % 5 == 4) w[0] = w[1] = (uint32_t)d->vocab.size - 1;   /* likely unseen */
        double sum = 0;
        for (int b = 0; b < d->vocab.size; b++) { w[8] = (uint32_t)b; sum += dirichlet_prob(models, 8, w, 16, 0.01); }
        worst = worst_of(worst, fabs(sum - 1));
    }
    check_true(t, worst < 1e-9, "exercise 6: every row of the order-8 model sums to 1 (worst %.1e)", worst);
    /* exercise 7: temperature */
    double p[5] = {0.1, 0.5, 0.2, 0.15, 0.05};
    Rng rng;
    rng_seed(&rng, 41);
    int argmax = 0, n = 20000;
    long seen[5] = {0};
    for (int i = 0; i < 2000; i++) argmax += sample_at_temperature(p, 5, 0.01, &rng) == 1;
    check_true(t, argmax == 2000, "exercise 7: T -> 0 always draws the most probable symbol");
    for (int i = 0; i < n; i++) seen[sample_at_temperature(p, 5, 1.0, &rng)]++;
    double chi2 = 0;
    for (int s = 0; s < 5; s++) chi2 += pow(seen[s] - n * p[s], 2) / (n * p[s]);
    check_true(t, chi2 < 18.47, "exercise 7: T = 1 samples the distribution (chi-square %.2f < 18.47)", chi2);
    long flat[5] = {0};
    for (int i = 0; i < n; i++) flat[sample_at_temperature(p, 5, 1000.0, &rng)]++;
    chi2 = 0;
    for (int s = 0; s < 5; s++) chi2 += pow(flat[s] - n / 5.0, 2) / (n / 5.0);
    check_true(t, chi2 < 18.47, "exercise 7: large T is nearly uniform (chi-square %.2f)", chi2);
    /* exercise 8: greedy decoding becomes periodic */
    size_t len = 3000;
    uint32_t *out = xmalloc_array(len, sizeof *out);
    out[0] = (uint32_t)d->vocab.id_of['\n'];
    generate_greedy(models, 5, out, 1, len);
    bool periodic = false;
    for (size_t period = 1; period < 1000 && !periodic; period++) {
        bool all = true;
        for (size_t i = len - 1000; i < len && all; i++) all = out[i] == out[i - period];
        periodic = all;
    }
    check_true(t, periodic, "exercise 8: greedy decoding with the order-5 model falls into a loop");
    free(out);
    for (int j = 0; j <= 8; j++) ngram_free(&models[j]);
}

/* --quick runs of every experiment, and what they write. */
static void test_quick_experiments(Check *t, Run *r) {
    check_true(t, run_all_experiments("ch01-markov", COMMANDS, sizeof COMMANDS / sizeof *COMMANDS, r) == 0,
               "every experiment of 'all' runs in --quick mode");
    const char *d = r->c.out;
    TsvTable *o = load(t, d, "ch01-orders");
    if (o) {
        size_t n = tsv_rows(o);
        check_true(t, n == 5, "orders 0..4 in quick mode (%zu rows)", n);
        bool falling = true, finite = true;
        for (size_t i = 0; i < n; i++) {
            finite &= isfinite(num(t, o, i, "val_ppl_best")) && num(t, o, i, "val_ppl_best") >= 1;
            if (i > 0) falling &= num(t, o, i, "train_ppl") < num(t, o, i - 1, "train_ppl");
        }
        check_true(t, finite, "validation perplexities are finite and >= 1");
        check_true(t, falling, "training perplexity falls with every order");
        check_true(t, num(t, o, 2, "val_ppl_best") < num(t, o, 0, "val_ppl_best"), "order 2 predicts validation text better than order 0");
        check_true(t, num(t, o, 0, "val_ppl_best") < r->data->vocab.size, "order 0 beats the uniform model (perplexity < V)");
        tsv_free(o);
    }
    TsvTable *b = load(t, d, "ch01-bigram");
    if (b) {
        check_true(t, tsv_rows(b) == 27 * 27, "the bigram matrix has 27 x 27 cells");
        double worst = 0;
        for (size_t a = 0; a < 27; a++) {
            double s = 0;
            for (size_t c = 0; c < 27; c++) s += num(t, b, a * 27 + c, "prob");
            worst = worst_of(worst, fabs(s - 1));
        }
        check_true(t, worst < 1e-4, "every row of the written bigram matrix sums to 1 (worst %.1e)", worst);
        tsv_free(b);
    }
    TsvTable *s = load(t, d, "ch01-samples");
    if (s) {
        check_true(t, num(t, s, 3, "real_words") > num(t, s, 0, "real_words"), "order 5 writes more real words than order 1");
        check_true(t, num(t, s, 4, "copied_12grams") >= num(t, s, 1, "copied_12grams"), "order 8 copies more than order 2");
        tsv_free(s);
    }
    TsvTable *c = load(t, d, "ch01-compress");
    if (c) {
        bool close = true;
        for (size_t i = 0; i < tsv_rows(c); i++)
            if (strcmp(tsv_cell(c, i, tsv_col(c, "method")), "gzip") != 0 && strcmp(tsv_cell(c, i, tsv_col(c, "method")), "xz") != 0)
                close &= fabs(num(t, c, i, "overhead")) < 0.01;
        check_true(t, close, "the coder's output is within 1%% of the model's cross-entropy");
        double add_best = INFINITY, kn = NAN;
        for (size_t i = 0; i < tsv_rows(c); i++) {
            const char *m = tsv_cell(c, i, tsv_col(c, "method"));
            if (!strcmp(m, "add-alpha")) add_best = fmin(add_best, num(t, c, i, "coded_bpc"));
            if (!strcmp(m, "Kneser-Ney")) kn = num(t, c, i, "coded_bpc");
        }
        check_true(t, kn < add_best, "Kneser-Ney codes the text in fewer bits than the best add-alpha model (%.3f < %.3f)",
                   kn, add_best);
        tsv_free(c);
    }
    TsvTable *sm = load(t, d, "ch01-smoothers");
    if (sm) {
        size_t last = tsv_rows(sm) - 1;
        double add = num(t, sm, last, "val_ppl_add"), jm = num(t, sm, last, "val_ppl_jm");
        double kn = num(t, sm, last, "val_ppl_kn"), knt = num(t, sm, last, "test_ppl_kn");
        check_true(t, kn < jm && jm < add, "at order 4, Kneser-Ney (%.3f) < interpolation (%.3f) < add-alpha (%.3f)",
                   kn, jm, add);
        check_true(t, isfinite(knt) && knt > 1 && knt < r->data->vocab.size, "the test perplexity is sane (%.3f)", knt);
        tsv_free(sm);
    }
    TsvTable *vo = load(t, d, "ch01-vocab");
    if (vo) {
        /* rows: characters orders 0..7, then words spelled by letters and by the character
         * model, orders 0..2, each add-alpha, interpolated, Kneser-Ney */
        double c_add = INFINITY, c_kn = INFINITY, w_add1 = NAN, w_kn1 = NAN, best_kn[3] = {NAN, NAN, NAN};
        bool bounded = true;
        int chosen[3][3] = {{0}};
        for (size_t i = 0; i < tsv_rows(vo); i++) {
            const char *sp = tsv_cell(vo, i, tsv_col(vo, "speller")), *m = tsv_cell(vo, i, tsv_col(vo, "method"));
            int u = !strcmp(sp, "-") ? 0 : !strcmp(sp, "letters") ? 1 : 2;
            int mi = !strcmp(m, "add-alpha") ? 0 : !strcmp(m, "interpolated") ? 1 : 2;
            double v = num(t, vo, i, "val_bpc"), te = num(t, vo, i, "test_bpc");
            int k = (int)num(t, vo, i, "order");
            bounded &= v > 0 && v < log2(27) + 1e-9 && isfinite(te);
            if (num(t, vo, i, "chosen") == 1) {
                chosen[u][mi]++;
                if (mi == 2) best_kn[u] = v;
            }
            if (u == 0 && mi == 0) c_add = fmin(c_add, v);
            if (u == 0 && mi == 2) c_kn = fmin(c_kn, v);
            if (u == 1 && k == 1 && mi == 0) w_add1 = v;
            if (u == 1 && k == 1 && mi == 2) w_kn1 = v;
        }
        bool one_each = true;
        for (int u = 0; u < 3; u++)
            for (int mi = 0; mi < 3; mi++) one_each &= chosen[u][mi] == 1;
        check_true(t, tsv_rows(vo) == 3 * (CHAR_ORDERS + 1) + 6 * (WORD_ORDERS + 1), "ch01-vocab: every unit, speller, order and method");
        check_true(t, one_each, "ch01-vocab: validation chose exactly one order per unit, speller and method");
        check_true(t, bounded, "ch01-vocab: bits per character in (0, log2 27], test finite");
        check_true(t, c_kn < c_add && w_kn1 < w_add1, "Kneser-Ney beats add-alpha for characters (%.3f < %.3f) and the "
                   "word bigram (%.3f < %.3f)", c_kn, c_add, w_kn1, w_add1);
        check_true(t, best_kn[2] < best_kn[1], "spelling unknown words with the character model beats spelling them "
                   "letter by letter (%.3f < %.3f)", best_kn[2], best_kn[1]);
        tsv_free(vo);
    }
    TsvTable *un = load(t, d, "ch01-vocab-unknown");
    if (un) {
        check_true(t, tsv_rows(un) == (size_t)NRARE, "ch01-vocab-unknown: one row per rare-word threshold");
        double b0 = num(t, un, 0, "unk_bits"), s0 = num(t, un, 0, "unk_bits_at_share"), b1 = num(t, un, 1, "unk_bits");
        check_true(t, b0 > s0 + 3 && b1 < b0, "an <unk> never seen in training costs %.1f bits per unknown word, far "
                   "more than %.1f at its rate; counted from the rare words, %.1f", b0, s0, b1);
        check_true(t, num(t, un, 0, "val_oov") < num(t, un, 1, "val_oov"), "making rare words unknown makes more "
                   "validation words unknown");
        tsv_free(un);
    }
    TsvTable *hd = load(t, d, "ch01-headline");
    if (hd) {
        check_true(t, tsv_rows(hd) == 4, "the headline has one row per method (%zu)", tsv_rows(hd));
        tsv_free(hd);
    }
    TsvTable *dc = load(t, d, "ch01-kn-discounts");
    if (dc) {
        bool in_range = true;
        for (size_t i = 1; i < tsv_rows(dc); i++)
            for (int r1 = 1; r1 <= 3; r1++) {
                static const char *const cols[] = {"D1", "D2", "D3"};
                double D = num(t, dc, i, cols[r1 - 1]);
                in_range &= D > 0 && D < r1;
            }
        check_true(t, in_range, "every discount D_r lies in (0, r)");
        tsv_free(dc);
    }
    const char *others[] = {"ch01-corpus", "ch01-smoothing", "ch01-smoothing-table", "ch01-trigram",
                            "ch01-sparsity", "ch01-vocab", "ch01-samples-info", "ch01-compress-info"};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        TsvTable *x = load(t, d, others[i]);
        if (x) {
            check_true(t, tsv_rows(x) > 0, "%s has rows", others[i]);
            tsv_free(x);
        }
    }
}

/* The program itself: one-line errors and nonzero exits on bad input. */
static void test_command_line(Check *t) {
    const ProgramCase cases[] = {
        {"orders --max-order 99", 2, "--max-order"},
        {"ordrs", 2, "unknown experiment"},
        {"orders --bogus", 2, "unknown option"},
        {"corpus --device cuda", 2, "no GPU code"},
        {"corpus --data /nonexistent/file.txt", 1, "/nonexistent/file.txt"},
        {"generate --prompt \"\x01\" --length 5", 1, "prompt"},
        {"corpus --data /tmp/test-ch01-tiny.txt", 1, "too small"},
        {"generate --length 0", 2, "--length"},
        {"--help", 0, "usage"},
    };
    FILE *tiny = fopen("/tmp/test-ch01-tiny.txt", "w");
    if (tiny) {
        fputs("A tiny corpus.\n", tiny);
        fclose(tiny);
    }
    expect_programs(t, "ch01-markov", cases, sizeof cases / sizeof cases[0]);
    remove("/tmp/test-ch01-tiny.txt");
}

int main(void) {
    Check t;
    check_init(&t, "ch01");
    test_counts(&t);
    test_rows_sum_to_one(&t);
    test_kneser_ney_by_hand(&t);
    test_kneser_ney_properties(&t);
    test_mle(&t);
    test_chain_rule(&t);
    test_perplexity(&t);
    test_dirichlet(&t);
    test_sampling(&t);
    test_coder(&t);
    test_lexicon_and_folding(&t);
    test_unknown_words(&t);
    test_cross_entropy_bounds(&t);

    char dir[] = "/tmp/test-ch01-XXXXXX";
    if (!mkdtemp(dir)) die("cannot make a temporary directory");
    Run r = {.max_order = 0, .order = 4, .length = 100, .alpha = 0, .prompt = ""};
    quick_common(&r.c, "test_ch01", dir);
    setenv("NO_PROGRESS", "1", 1);
    test_quick_experiments(&t, &r);
    test_solutions(&t, &r);
    dataset_free(r.data);
    cli_free(&r.c);
    remove_tree(dir);
    test_command_line(&t);
    return check_summary(&t);
}
