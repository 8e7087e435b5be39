/* test_ch09.c -- chapter 9, positional information.
 *
 * Includes the tangled program (build/09-positions/positions.c, TESTING
 * defined so that it has no main) and the tangled solutions, then checks
 * every derivation of the chapter numerically:
 *   the chapter's attention, with no bias, against nn.h's attention_forward
 *   and attention_backward (written independently);
 *   permutation equivariance: one block without the mask and without
 *   positions commutes with shuffling its inputs; the causal mask and every
 *   encoding break it;
 *   the sinusoids' shift map PE(p + k) = M_k PE(p), and PE(p).PE(p+k) =
 *   sum_i cos(k w_i), a function of k alone;
 *   RoPE: rotation keeps norms, the backward rotation undoes the forward
 *   one, q(m).k(n) depends on n - m only (3/7 against 100/104 and
 *   1000/1004);
 *   ALiBi's slopes for 8 heads are 1/2, 1/4, ..., 1/256, and the biased
 *   attention's weights equal the softmax of mult q.k/sqrt(hs) - m_h (t - u)
 *   written out in double; with q = k = 0 at T = 512, head 0's weights turn
 *   subnormal exactly at the distances e^(-d/4)/Z < FLT_MIN predicts, and no
 *   other head's, nor any at T = 64 or with zero slopes (the cost table's
 *   ALiBi row at 8T);
 *   the extensions' frequencies: position interpolation divides every
 *   frequency by s; NTK-aware scaling leaves the first and divides the last
 *   by exactly s, and pair i by s^(2i/(d-2)); YaRN (at T = 4096, where all
 *   three cases occur) leaves pairs that turn more than beta times, divides
 *   those that turn less than alpha times by s, and multiplies the logits
 *   by (0.1 ln s + 1)^2;
 *   the learned table past its last row repeats the last row;
 *   rope_rotate (its cosines and sines built once a call) turns every query
 *   and key exactly as rope_rotate_vec does, to the bit;
 *   the whole model's gradient against central differences (Richardson's
 *   extrapolation of h = 8e-3 and 4e-3), for every encoding, for RoPE with
 *   each extension, and without the mask;
 *   the solutions of the coding exercises;
 * then runs every experiment in --quick mode into a temporary directory,
 * checks the files they write (the cost table's rows and units among them),
 * runs a partial race (--encodings rope) and checks that its models are the
 * full race's to the digit, and checks the program's one-line errors.
 * Run from the repository root (make test does). */
#include "positions.c"
#include "ch09-solutions.c"

#include "chapter_test.h"
#ifdef _OPENMP
#include <omp.h>
#endif
#include "check.h"
#include <float.h>

static void fill(float *x, size_t n, double scale, Rng *rng) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(scale * rng_normal(rng));
}

static void test_attention(Check *t) {
    int B = 2, T = 7, C = 12, NH = 3;
    size_t n = (size_t)B * T * 3 * C, no = (size_t)B * T * C, na = (size_t)B * NH * T * T;
    Rng r;
    rng_seed(&r, 11);
    float *qkv = xmalloc_array(n, 4), *o1 = xmalloc_array(no, 4), *o2 = xmalloc_array(no, 4);
    float *a1 = xmalloc_array(na, 4), *a2 = xmalloc_array(na, 4), *g = xmalloc_array(no, 4);
    float *d1 = xcalloc(n, 4), *d2 = xcalloc(n, 4), zero[3] = {0, 0, 0};
    fill(qkv, n, 1, &r), fill(g, no, 1, &r);
    pos_attention_forward(o1, a1, qkv, B, T, C, NH, zero, 1, true);
    attention_forward(o2, a2, qkv, B, T, C, NH);
    check_close_f32(t, o1, o2, no, 1e-6, 1e-5, "attention without bias = nn.h's attention_forward");
    check_close_f32(t, a1, a2, na, 1e-6, 1e-5, "the same weights");
    pos_attention_backward(d1, g, qkv, a1, B, T, C, NH, 1, true);
    attention_backward(d2, g, qkv, a2, B, T, C, NH);
    check_close_f32(t, d1, d2, n, 1e-6, 1e-4, "attention backward = nn.h's attention_backward");
    free(qkv), free(o1), free(o2), free(a1), free(a2), free(g), free(d1), free(d2);
}

/* The bias itself, against the formula written out: weights = softmax_u(mult q.k / sqrt(hs) - m_h (t - u)), u <= t,
 * with ALiBi's slopes for 4 heads (1/4 ... 1/256) and a multiplier; a bias of the wrong sign or size fails here,
 * though it would pass the relative-position and gradient checks. */
static void test_alibi_bias(Check *t) {
    int B = 1, T = 40, NH = 4, hs = 4, C = NH * hs;
    size_t n = (size_t)B * T * 3 * C, no = (size_t)B * T * C, na = (size_t)B * NH * T * T;
    Rng r;
    rng_seed(&r, 12);
    float *qkv = xmalloc_array(n, 4), *o = xmalloc_array(no, 4), *a = xmalloc_array(na, 4), slope[4];
    fill(qkv, n, 1, &r);
    alibi_slopes(slope, NH);
    float mult = 1.7f;
    pos_attention_forward(o, a, qkv, B, T, C, NH, slope, mult, true);
    double worst = 0;
    for (int h = 0; h < NH; h++)
        for (int q = 0; q < T; q++) {
            double s[40], mx = -INFINITY, z = 0;
            for (int u = 0; u <= q; u++) {
                double d = 0;
                for (int i = 0; i < hs; i++) d += (double)qkv[(size_t)q * 3 * C + h * hs + i] * qkv[(size_t)u * 3 * C + C + h * hs + i];
                s[u] = mult * d / sqrt((double)hs) - pow(2.0, -2.0 * (h + 1)) * (q - u);
                mx = fmax(mx, s[u]);
            }
            for (int u = 0; u <= q; u++) z += exp(s[u] - mx);
            for (int u = 0; u < T; u++) {
                double want = u <= q ? exp(s[u] - mx) / z : 0;
                worst = worst_of(worst, fabs(a[((size_t)h * T + q) * T + u] - want));
            }
        }
    check_true(t, worst < 3e-6, "ALiBi weights = softmax(mult q.k/sqrt(hs) - 4^-(h+1) (t-u)) over u <= t (largest error %.1e)", worst);
    free(qkv), free(o), free(a);
}

/* Why ALiBi's step costs more at T = 512 on some processors: with zero scores (q = k = 0) a weight is
 * e^(-m d) / Z_t, and for head 0 (m = 1/4) it falls below FLT_MIN, the smallest normal float, once
 * d/4 > ln(1/FLT_MIN) - ln Z = 87.34 - 1.51 (Z = 1/(1 - e^(-1/4)) for long rows): distances from about 344
 * until it rounds to zero near 410.  Such subnormal weights appear in head 0 alone, only at those
 * distances, not at all at T = 64 nor with zero slopes (NoPE's). */
static void test_alibi_subnormals(Check *t) {
    int NH = 4, hs = 4, C = NH * hs;
    float slope[4], zero[4] = {0, 0, 0, 0};
    alibi_slopes(slope, NH);
    long count[2][2][4] = {{{0}}};             /* [T = 64, 512][ALiBi, NoPE][head] */
    int dlo = 1 << 30, dhi = -1;
    for (int k = 0; k < 2; k++) {
        int T = k ? 512 : 64;
        float *qkv = xcalloc((size_t)T * 3 * C, 4), *o = xmalloc_array((size_t)T * C, 4);
        float *a = xmalloc_array((size_t)NH * T * T, 4);
        for (int z = 0; z < 2; z++) {
            pos_attention_forward(o, a, qkv, 1, T, C, NH, z ? zero : slope, 1, true);
            for (int h = 0; h < NH; h++)
                for (int q = 0; q < T; q++)
                    for (int u = 0; u <= q; u++)
                        if (fpclassify(a[((size_t)h * T + q) * T + u]) == FP_SUBNORMAL) {
                            count[k][z][h]++;
                            if (k && !z && h == 0) dlo = q - u < dlo ? q - u : dlo, dhi = q - u > dhi ? q - u : dhi;
                        }
        }
        free(qkv), free(o), free(a);
    }
    double lnz = -log(1 - exp(-0.25)), first = 4 * (log(1 / (double)FLT_MIN) - lnz);
    double last = 4 * (log(2 / (double)FLT_TRUE_MIN) - lnz);
    check_true(t, count[1][0][0] > 0 && dlo >= (int)floor(first) && dlo <= (int)ceil(first) + 1 &&
                      dhi >= (int)floor(last) - 1 && dhi <= (int)ceil(last),
               "ALiBi, T = 512: head 0 has %ld subnormal weights, at distances %d..%d (predicted %.1f..%.1f)",
               count[1][0][0], dlo, dhi, first, last);
    long others = count[1][0][1] + count[1][0][2] + count[1][0][3], none = 0;
    for (int h = 0; h < NH; h++) none += count[0][0][h] + count[0][1][h] + count[1][1][h];
    check_true(t, others == 0 && none == 0,
               "no subnormal weights in ALiBi's heads 1-3 at T = 512 (%ld), at T = 64, or with NoPE's zero slopes (%ld)",
               others, none);
}

static void test_permutation(Check *t) {
    check_true(t, permutation_gap(POS_NOPE, true, 16, 3) < 1e-5,
               "no positions, no mask: block(shuffled) = shuffle(block) (gap %.1e)", permutation_gap(POS_NOPE, true, 16, 3));
    check_true(t, permutation_gap(POS_NOPE, false, 16, 3) > 1e-3, "the causal mask breaks the equivariance");
    for (int e = 1; e < NPOS; e++)
        check_true(t, permutation_gap((PosKind)e, true, 16, 3) > 1e-4, "%s breaks the equivariance (gap %.1e)",
                   POS_NAMES[e], permutation_gap((PosKind)e, true, 16, 3));
}

static void test_sinusoid(Check *t) {
    float a[64], b[64], s[64];
    double worst = 0, dworst = 0;
    int ks[] = {1, 2, 5, 17, 64, 333};
    for (size_t j = 0; j < 6; j++) {
        double dref = 0;
        for (int i = 0; i < 32; i++) dref += cos(ks[j] * pow(10000.0, -2.0 * i / 64));
        for (int p = 0; p < 2000; p += 7) {
            sinusoid_row(a, p, 64), sinusoid_row(b, p + ks[j], 64), sinusoid_shift(s, a, ks[j], 64);
            double d = 0;
            for (int i = 0; i < 64; i++) worst = worst_of(worst, fabs(s[i] - b[i])), d += (double)a[i] * b[i];
            dworst = worst_of(dworst, fabs(d - dref));
        }
    }
    check_true(t, worst < 1e-5, "PE(p+k) = M_k PE(p) for p < 2000 (largest error %.1e)", worst);
    check_true(t, dworst < 1e-4, "PE(p).PE(p+k) = sum_i cos(k w_i), whatever p (largest error %.1e)", dworst);
    sinusoid_row(a, 0, 64);
    check_true(t, a[0] == 0 && a[1] == 1 && a[62] == 0 && a[63] == 1, "PE(0) alternates 0 and 1");
}

static void test_rope(Check *t) {
    float freq[32], q[64], k[64], v[64], w[64];
    Rng r;
    rng_seed(&r, 5);
    fill(q, 64, 1, &r), fill(k, 64, 1, &r);
    rope_frequencies(freq, 64, 128, EXT_NONE, 1);
    check_close(t, freq[0], 1, 0, 1e-7, "the first pair turns one radian a position");
    check_close(t, freq[31], pow(10000.0, -62.0 / 64), 0, 1e-6, "the last pair turns 10000^(-62/64) a position");
    memcpy(v, q, sizeof q);
    rope_rotate_vec(v, 64, 1234, freq, +1);
    double n0 = 0, n1 = 0;
    for (int i = 0; i < 64; i++) n0 += q[i] * q[i], n1 += v[i] * v[i];
    check_close(t, n1, n0, 0, 1e-5, "a rotation keeps the norm");
    rope_rotate_vec(v, 64, 1234, freq, -1);
    check_close_f32(t, v, q, 64, 1e-5, 1e-5, "turning back undoes the rotation");
    int pos[][2] = {{3, 7}, {100, 104}, {1000, 1004}, {0, 4}};
    double ref = 0;
    for (int j = 0; j < 4; j++) {
        memcpy(v, q, sizeof q), memcpy(w, k, sizeof k);
        rope_rotate_vec(v, 64, pos[j][0], freq, +1), rope_rotate_vec(w, 64, pos[j][1], freq, +1);
        double d = 0;
        for (int i = 0; i < 64; i++) d += (double)v[i] * w[i];
        if (j == 0) ref = d;
        else check_close(t, d, ref, 1e-4, 1e-4, "q(%d).k(%d) = q(3).k(7)", pos[j][0], pos[j][1]);
    }
    memcpy(v, q, sizeof q), memcpy(w, k, sizeof k);
    rope_rotate_vec(v, 64, 7, freq, +1), rope_rotate_vec(w, 64, 3, freq, +1);
    double d73 = 0;
    for (int i = 0; i < 64; i++) d73 += (double)v[i] * w[i];
    check_true(t, fabs(d73 - ref) > 1e-2, "q(7).k(3) differs from q(3).k(7): the sign of the offset matters");
    /* rope_rotate's table of cosines and sines gives exactly what turning each vector on its own gives */
    int B = 2, T = 9, NH = 2, hs = 8, C = NH * hs;
    size_t n = (size_t)B * T * 3 * C;
    float *x = xmalloc_array(n, 4), *y = xmalloc_array(n, 4), fr[4];
    fill(x, n, 1, &r), memcpy(y, x, n * 4);
    rope_frequencies(fr, hs, T, EXT_NONE, 1);
    for (double sign = 1; sign >= -1; sign -= 2) {
        rope_rotate(x, B, T, C, NH, fr, sign);
        for (int b = 0; b < B; b++)
            for (int p = 0; p < T; p++)
                for (int j = 0; j < 2 * NH; j++)
                    rope_rotate_vec(y + ((size_t)b * T + p) * 3 * C + (j / NH) * C + (j % NH) * hs, hs, p, fr, sign);
        check_true(t, memcmp(x, y, n * 4) == 0, "rope_rotate (sign %+g) = rope_rotate_vec on every query and key, "
                   "to the bit", sign);
    }
    free(x), free(y);
}

static void test_slopes_and_extensions(Check *t) {
    float s[8], f0[8], f[8];
    alibi_slopes(s, 8);
    for (int h = 0; h < 8; h++) check_close(t, s[h], pow(0.5, h + 1), 0, 1e-7, "ALiBi slope of head %d of 8", h + 1);
    rope_frequencies(f0, 16, 128, EXT_NONE, 1);
    float mult = rope_frequencies(f, 16, 128, EXT_PI, 4);
    for (int i = 0; i < 8; i++) check_close(t, f[i], f0[i] / 4, 0, 1e-6, "PI: pair %d turns 4 times slower", i);
    check_close(t, mult, 1, 0, 0, "PI leaves the logits alone");
    rope_frequencies(f, 16, 128, EXT_NTK, 4);
    check_close(t, f[0], f0[0], 0, 1e-7, "NTK: the fastest pair is unchanged");
    check_close(t, f[7], f0[7] / 4, 0, 1e-5, "NTK: the slowest pair turns exactly s times slower");
    for (int i = 1; i < 7; i++) check_true(t, f[i] < f0[i] && f[i] > f0[i] / 4, "NTK: pair %d in between", i);
    /* exactly: b' = b s^(d/(d-2)) turns pair i by theta_i s^(-2i/(d-2)) */
    for (int i = 0; i < 8; i++) check_close(t, f[i], f0[i] * pow(4.0, -2.0 * i / 14), 0, 1e-5, "NTK: pair %d is theta_i 4^(-2i/14)", i);
    /* At T = 4096 the pairs of a 16-channel head turn 652, 206, 65, 21, 6.5, 2.1, 0.65 and 0.21 times: three are kept,
     * three on the ramp, two interpolated, so every branch of YaRN's rule is taken. */
    float g0[8];
    rope_frequencies(g0, 16, 4096, EXT_NONE, 1);
    mult = rope_frequencies(f, 16, 4096, EXT_YARN, 4);
    int kept = 0, ramp = 0, interp = 0;
    for (int i = 0; i < 8; i++) {
        double turns = 4096 * g0[i] / (2 * M_PI), g = (turns - 1) / (32 - 1);
        if (turns >= YARN_BETA) kept++, check_close(t, f[i], g0[i], 0, 1e-6, "YaRN: pair %d (%.1f turns) kept", i, turns);
        else if (turns <= YARN_ALPHA) interp++, check_close(t, f[i], g0[i] / 4, 0, 1e-6, "YaRN: pair %d (%.2f turns) interpolated", i, turns);
        else ramp++, check_close(t, f[i], (1 - g) * g0[i] / 4 + g * g0[i], 0, 1e-5, "YaRN: pair %d (%.1f turns) on the ramp, gamma %.3f", i, turns, g);
    }
    check_true(t, kept == 3 && ramp == 3 && interp == 2, "YaRN at T = 4096: 3 pairs kept, 3 on the ramp, 2 interpolated");
    check_close(t, mult, pow(0.1 * log(4) + 1, 2), 0, 1e-6, "YaRN's logit multiplier (0.1 ln s + 1)^2");
}

static PmConfig tiny(PosKind pos) {
    return (PmConfig){.V = 11, .T = 6, .L = 2, .NH = 2, .C = 8, .F = 16, .pos = pos};
}

static void random_batch(Pm *m, int B, int T, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < B * T; i++) m->tok[i] = (int32_t)rng_below(&r, 11), m->tgt[i] = (int32_t)rng_below(&r, 11);
    m->tgt[1] = -1;
}

static void test_learned_clamp(Check *t) {
    PmConfig c = tiny(POS_LEARNED);
    Pm *m = pm_new(&c, 20, 2 * 20 * 20, 3);
    for (int i = 0; i < 10; i++) m->tok[i] = 4;
    pm_embed_forward(m, 1, 10);
    check_close_f32(t, m->x0 + 9 * 8, m->x0 + 5 * 8, 8, 0, 0, "the learned table repeats its last row past T");
    check_true(t, m->x0[4 * 8] != m->x0[5 * 8], "rows before T differ");
    pm_free(m);
}

/* The loss as a function of parameter j, for the central differences. */
static double loss_at(Pm *m, size_t j, float v, int B, int T) {
    float old = m->params[j];
    m->params[j] = v;
    double l = pm_forward(m, B, T);
    m->params[j] = old;
    return l;
}

static void gradcheck(Check *t, Pm *m, const char *what, uint64_t seed) {
    int B = 2, T = 9;   /* T past the learned table's 6 rows: the clamped rows get gradient too */
    Rng r;
    rng_seed(&r, seed);
    for (size_t j = 0; j < m->n; j++) m->params[j] += (float)(0.3 * rng_normal(&r));
    random_batch(m, B, T, seed + 1);
    memset(m->grads, 0, m->n * sizeof(float));
    pm_forward(m, B, T);
    pm_backward(m, B, T);
    int bad = 0, checked = 0;
    double worst = 0;
    for (size_t j = 0; j < m->n; j += 2 + rng_below(&r, 12), checked++) {
        float p = m->params[j];
        double h = 8e-3;
        double d1 = (loss_at(m, j, p + (float)h, B, T) - loss_at(m, j, p - (float)h, B, T)) / (2 * h);
        double d2 = (loss_at(m, j, p + (float)(h / 2), B, T) - loss_at(m, j, p - (float)(h / 2), B, T)) / h;
        double fd = (4 * d2 - d1) / 3, g = m->grads[j];
        double err = fabs(g - fd) / (2e-4 + 2e-2 * fabs(fd));
        worst = fmax(worst, err);
        bad += err > 1;
    }
    check_true(t, bad == 0, "%s: %d parameters' gradients against central differences (%d off; worst %.2f of the tolerance)",
               what, checked, bad, worst);
}

static void test_gradients(Check *t) {
    for (int e = 0; e < NPOS; e++) {
        PmConfig c = tiny((PosKind)e);
        Pm *m = pm_new(&c, 18, 2 * 2 * 81, 7);
        if (e == POS_ALIBI) alibi_slopes(m->slope, 2);
        gradcheck(t, m, POS_NAMES[e], 100 + e);
        pm_free(m);
    }
    for (int x = 1; x < 4; x++) {
        PmConfig c = tiny(POS_ROPE);
        Pm *m = pm_new(&c, 18, 2 * 2 * 81, 7);
        m->att_mult = rope_frequencies(m->freq, 4, 6, (RopeExt)x, 3);
        char what[64];
        snprintf(what, sizeof what, "rope, extension %d", x);
        gradcheck(t, m, what, 200 + x);
        pm_free(m);
    }
    PmConfig c = tiny(POS_ALIBI);
    c.bidirectional = true;
    Pm *m = pm_new(&c, 18, 2 * 2 * 81, 7);
    gradcheck(t, m, "alibi without the mask", 300);
    pm_free(m);
}

static void test_experiments(Check *t) {
    char dir[] = "/tmp/test_ch09_XXXXXX";
    if (!mkdtemp(dir)) die("mkdtemp");
    Run r = {0};
    quick_common(&r.c, "test_ch09", dir);
    r.context = 16, r.layers = 1, r.heads = 2, r.embd = 16, r.steps = 20, r.batch = 4, r.warmup = 5;
    r.seeds = 2, r.max_factor = 4, r.ft_steps = 4, r.eval_chars = 512, r.ext_factor = 2, r.lr = 1e-2;
    r.lr_grid = "5e-3,1e-2";
    check_true(t, run_all_experiments("ch09-positions", COMMANDS, sizeof COMMANDS / sizeof COMMANDS[0], &r) == 0,
               "every experiment runs in --quick mode");
    TsvTable *p = load(t, dir, "ch09-perm");
    if (p) {
        check_true(t, tsv_rows(p) == 10, "ch09-perm has a row per encoding and mask");
        check_true(t, num(t, p, 0, "rel_gap") < 1e-5 && num(t, p, 1, "rel_gap") > 1e-3,
                   "ch09-perm: nope equivariant without the mask only");
        tsv_free(p);
    }
    TsvTable *s = load(t, dir, "ch09-shift");
    if (s) {
        bool ok = tsv_rows(s) == 4;
        for (size_t i = 0; i < tsv_rows(s); i++) ok &= num(t, s, i, "shift_err") < 1e-5 && num(t, s, i, "dot_err") < 1e-4;
        check_true(t, ok, "ch09-shift: the shift map and the dot products hold");
        tsv_free(s);
    }
    TsvTable *d = load(t, dir, "ch09-rope-dots");
    if (d) {
        check_close(t, num(t, d, 1, "dot"), num(t, d, 0, "dot"), 1e-4, 1e-4, "ch09-rope-dots: q(100).k(104) = q(3).k(7)");
        tsv_free(d);
    }
    TsvTable *sum = load(t, dir, "ch09-race-summary-16");
    if (sum) {
        bool ok = tsv_rows(sum) == NMODELS * 3;
        for (size_t i = 0; i < tsv_rows(sum); i++) {
            double v = num(t, sum, i, "ppl");
            ok &= isfinite(v) && v > 1 && v < 60 && num(t, sum, i, "ppl_min") <= v && v <= num(t, sum, i, "ppl_max");
        }
        check_true(t, ok, "ch09-race-summary: %d rows of finite perplexities, min <= mean <= max", NMODELS * 3);
        tsv_free(sum);
    }
    TsvTable *tu = load(t, dir, "ch09-tune-16");
    if (tu) {
        int chosen = 0;
        for (size_t i = 0; i < tsv_rows(tu); i++) chosen += num(t, tu, i, "chosen") == 1;
        check_true(t, tsv_rows(tu) == 2 * NPOS && chosen == NPOS, "ch09-tune: two rates per encoding, one chosen each");
        tsv_free(tu);
    }
    TsvTable *rel = load(t, dir, "ch09-relative-16");
    if (rel) {
        check_true(t, num(t, rel, POS_ROPE, "rel_share") > 0.999, "ch09-relative: RoPE's scores are relative");
        check_true(t, num(t, rel, POS_ALIBI, "rel_share") > 0.999, "ch09-relative: ALiBi's scores are relative");
        check_true(t, num(t, rel, POS_NOPE, "total") < 1e-9, "ch09-relative: NoPE's scores ignore positions");
        tsv_free(rel);
    }
    TsvTable *dist = load(t, dir, "ch09-distance-16");
    if (dist) {
        double tot = 0;
        for (size_t i = 0; i < NBINS; i++) tot += num(t, dist, i, "share");
        check_close(t, tot, 1, 1e-5, 0, "ch09-distance: the shares of one encoding add up to 1");
        tsv_free(dist);
    }
    TsvTable *tr = load(t, dir, "ch09-tradeoff-16");
    if (tr) {
        check_true(t, num(t, tr, POS_LEARNED, "pos_params") == 16 * 16, "ch09-tradeoff: the learned table has T C numbers");
        tsv_free(tr);
    }
    TsvTable *co = load(t, dir, "ch09-cost");
    if (co) {
        bool ok = tsv_rows(co) == 2 * NPOS;
        for (size_t i = 0; ok && i < tsv_rows(co); i++) {
            double ms = num(t, co, i, "ms_step"), by = num(t, co, i, "pos_bytes"), T = num(t, co, i, "context");
            double table = i % NPOS == POS_ROPE ? T * 8 : 0;   /* RoPE's cosines and sines, in double */
            ok &= isfinite(ms) && ms > 0 && by == 4 * (num(t, co, i, "pos_params") + num(t, co, i, "pos_state") - table) +
                                                      8 * table;
            ok &= num(t, co, i, "rel_q1") <= num(t, co, i, "rel_step") && num(t, co, i, "rel_step") <= num(t, co, i, "rel_q3");
            ok &= num(t, co, i, "batch") * T == num(t, co, 0, "batch") * num(t, co, 0, "context");
        }
        check_true(t, ok, "ch09-cost: a row per encoding and length, the same positions a step at T and 8T, positive "
                   "times, quartiles around the median, 4 bytes a float and 8 a double");
        check_true(t, tsv_rows(co) == 2 * NPOS && num(t, co, POS_NOPE, "rel_step") == 1 &&
                          num(t, co, POS_LEARNED, "pos_params") == 16 * 16 &&
                          num(t, co, NPOS + POS_LEARNED, "pos_params") == 128 * 16 &&
                          num(t, co, POS_ROPE, "pos_state") == 4 + 16 * 8 && num(t, co, POS_ALIBI, "pos_state") == 2,
                   "ch09-cost: NoPE is the unit; the learned table has T C numbers at T and 8T; RoPE keeps hs/2 "
                   "frequencies and T hs cosines and sines; ALiBi H slopes");
        tsv_free(co);
    }
    /* A partial race trains the very models of the full one: RoPE's rows must agree to the digit. */
    r.encodings = "rope", r.tag = "part";
    check_true(t, experiment_race(&r) == 0, "a partial race (--encodings rope --tag part) runs");
    TsvTable *full = load(t, dir, "ch09-race-summary-16"), *part = load(t, dir, "ch09-race-summary-part-16");
    if (full && part) {
        bool same = tsv_rows(part) == 5 * 3;
        for (size_t i = 0; same && i < tsv_rows(part); i++) {
            size_t j = 0;
            while (j < tsv_rows(full) && (strcmp(tsv_cell(full, j, 0), tsv_cell(part, i, 0)) ||
                                          num(t, full, j, "factor") != num(t, part, i, "factor")))
                j++;
            same &= j < tsv_rows(full) && !strcmp(tsv_cell(full, j, tsv_col(full, "ppl")), tsv_cell(part, i, tsv_col(part, "ppl")));
        }
        check_true(t, same, "the partial race: RoPE and its four fine-tunes only, the same perplexities as in the full race");
    }
    tsv_free(full), tsv_free(part);
    cli_free(&r.c);
    dataset_free(r.data);
    if (!remove_tree(dir)) check_true(t, false, "remove %s", dir);
}

static void test_errors(Check *t) {
    expect_program(t, "ch09-positions", "race --quick --ext-factor 3 --out /tmp/test_ch09_never", 1, "--ext-factor");
    expect_program(t, "ch09-positions", "race --quick --heads 3 --out /tmp/test_ch09_never", 1, "--heads");
    expect_program(t, "ch09-positions", "race --quick --ext-factor 2.5 --out /tmp/test_ch09_never", 1, "integer");
    expect_program(t, "ch09-positions", "race --quick --lr-grid 1e-2,x --out /tmp/test_ch09_never", 1, "--lr-grid");
    expect_program(t, "ch09-positions", "race --quick --lr-grid 5 --out /tmp/test_ch09_never", 1, "--lr-grid");
    expect_program(t, "ch09-positions", "race --quick --encodings rope,rop --out /tmp/test_ch09_never", 1, "--encodings");
    expect_program(t, "ch09-positions", "race --quick --tag a/b --out /tmp/test_ch09_never", 1, "--tag");
    expect_program(t, "ch09-positions", "cost --batch 12 --out /tmp/test_ch09_never", 1, "multiple of 8");
    check_true(t, system("test ! -e /tmp/test_ch09_never") == 0, "a refused run writes nothing");
    expect_program(t, "ch09-positions", "agree --quick --out /tmp/test_ch09_never", 1, "--device cuda");
    expect_program(t, "ch09-positions", "race --context 2", 2, "--context");
    expect_program(t, "ch09-positions", "racee", 2, "unknown experiment");
    expect_program(t, "ch09-positions", "--help", 0, "race");
}

int main(void) {
    Check t;
    check_init(&t, "ch09");
    setenv("NO_PROGRESS", "1", 1);
#ifdef _OPENMP
    omp_set_num_threads(1);
#endif
    test_attention(&t);
    test_alibi_bias(&t);
    test_alibi_subnormals(&t);
    test_permutation(&t);
    test_sinusoid(&t);
    test_rope(&t);
    test_slopes_and_extensions(&t);
    test_learned_clamp(&t);
    test_gradients(&t);
    test_solutions(&t);
    test_experiments(&t);
    test_errors(&t);
    return check_summary(&t);
}
