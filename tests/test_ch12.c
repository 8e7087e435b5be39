/* test_ch12.c -- chapter 12, memory optimization (first part: flash attention).
 *
 * Includes the tangled program (build/12-memopt/memopt.c, with TESTING
 * defined so that it has no main) and checks every derivation of the
 * chapter numerically:
 *   the online softmax (one pass, and block by block with merges in any
 *   grouping) equals the two-pass softmax: random rows, huge scores, rows
 *   that begin with masked (-inf) scores, a single finite score, blocks
 *   from 1 to longer than the row; merging two empty summaries gives an
 *   empty one, not NaN;
 *   the I/O model: the walk of the tiled loops equals 2Td + 2Td ceil(T/Br)
 *   without a mask, the blocks fit the fast memory, the causal walk moves
 *   less, standard attention's count is 4Td + 4T^2;
 *   tiled attention on the CPU equals the plain computation (output and
 *   log-sum-exp), causal and not, T = 1 and T not a multiple of the tile;
 *   the plain backward pass equals central differences of sum(dO * O);
 *   the tiled backward pass (P from lse, D_i = do_i . o_i) equals the plain
 *   one, and D_i equals sum_k p_ik dP_ik;
 *   the formats: fp32's, fp16's and bf16's largest, smallest normal and
 *   smallest subnormal numbers by formula equal the ones decoded from their
 *   bit patterns; loss scaling: 1e-8 underflows to 0 in fp16 and survives
 *   scaled by 2^16 (to fp16's precision); 65520 overflows; 2^-25 rounds to 0;
 *   mixed precision: fp16's fate of a value (flushed, subnormal, normal,
 *   infinity) by the derived thresholds = by the runtime's conversion, at
 *   the edges and across 2^-40 .. 2^20; the logits' largest gradient 1/N =
 *   2^-14; count_fates both ways and against the histogram; the loss
 *   scaler (an overflow skips and halves, N clean steps double, an
 *   overflow resets the count, at most one skip per interval); lost
 *   updates (bf16 loses 1e-3 on a weight of 1, fp16 1e-4); and on the CPU
 *   gpt_forward_backward_scaled = S x gpt_forward_backward and
 *   gpt_update_scaled = gpt_update, bit for bit, an infinite S skipped;
 *   gradient checkpointing: the worked example's bytes; the calculator's
 *   buffers against k b + (ceil(L/k) - 1) c and L (b - r) + r; sqrt(L c/b)
 *   minimizes the continuous form; the best segment switches to two above
 *   2b/c; the runtime recomputes floor((L-1)/k) k blocks; the calculator
 *   equals the runtime's count;
 *   exercises 8, 10, 11 and 12: the floored scaler, M(k)/c and R(k), the
 *   clamp of k, the combined policy's saving, the integer optimum at 384;
 *   the tensor-core fragments: ldmatrix's two address orders, with and
 *   without .trans, deliver the A and B fragments the prose says; C of two
 *   16x8 tiles is A of one 16x16; the figures' tile sizes are flash.cu's;
 *   common/gpu/flash.cu is byte-identical to the chapter's tangled
 *   build/12-memopt/flash.cu.in;
 * then runs the CPU experiments in --quick mode into a temporary directory,
 * checks the files they write, and checks the program's one-line errors.
 * Run from the repository root (make test does). */
#include <float.h>
#include <unistd.h>

#include "memopt.c"

#include "check.h"
#include "chapter_test.h"

/* the summary of x[lo..hi) merged as a tree of pairs (halves summarized apart, then merged), as a reduction
 * across threads would */
static Online online_tree(const float *x, int lo, int hi) {
    if (hi - lo <= 1) return lo < hi ? online_step((Online){-INFINITY, 0}, x[lo]) : (Online){-INFINITY, 0};
    int mid = lo + (hi - lo) / 2;
    return online_merge(online_tree(x, lo, mid), online_tree(x, mid, hi));
}

static void test_online(Check *t) {
    Rng rng;
    rng_seed(&rng, 3);
    enum { N = 100 };
    float x[N], y2[N], y1[N];
    double worst = 0, worst_blocks = 0;
    for (int trial = 0; trial < 40; trial++) {
        int n = 1 + (int)rng_below(&rng, N), masked = trial % 4 == 0 ? (int)rng_below(&rng, (uint64_t)(n + 1) / 2) : 0;
        double spread = trial % 5 == 1 ? 300 : 3;                  /* huge scores: e^s would overflow */
        for (int i = 0; i < n; i++) x[i] = i < masked ? -INFINITY : (float)(spread * rng_normal(&rng));
        if (trial == 7) for (int i = 0; i < n - 1; i++) x[i] = -INFINITY;   /* one finite score */
        softmax_two_pass(y2, x, n);
        softmax_online(y1, x, n);
        worst = fmax(worst, max_abs_diff(y1, y2, (size_t)n));
        Online whole = online_blocks(x, n, n + 5);
        for (int block = 1; block <= n + 5; block += 1 + block / 3) {
            Online b = online_blocks(x, n, block);
            worst_blocks = worst_of(worst_blocks, fabs(b.m - whole.m) + fabs(b.l - whole.l) / whole.l);
        }
        Online tree = online_tree(x, 0, n);
        worst_blocks = worst_of(worst_blocks, fabs(tree.m - whole.m) + fabs(tree.l - whole.l) / whole.l);
        bool finite = true;
        for (int i = 0; i < n; i++) finite &= isfinite(y1[i]) && (i >= masked || y1[i] == 0);
        check_true(t, finite, "online softmax, row %d (n = %d, %d masked): finite, zero where masked", trial, n, masked);
    }
    check_true(t, worst <= 1e-7, "online softmax = two-pass softmax (worst %.1e)", worst);
    check_true(t, worst_blocks <= 1e-12, "block summaries merged = one summary, any block size, and merged as a tree of pairs (worst %.1e)", worst_blocks);
    Online e = online_merge((Online){-INFINITY, 0}, (Online){-INFINITY, 0});
    check_true(t, e.m == -INFINITY && e.l == 0, "two empty summaries merge into an empty one, not NaN");
    Online a = online_step(online_step((Online){-INFINITY, 0}, -INFINITY), 2.0);
    check_true(t, a.m == 2 && a.l == 1, "a masked start, then one score: m = 2, l = 1");
    Online b = online_merge((Online){1, 2}, (Online){3, 1});
    check_close(t, b.l, 2 * exp(-2.0) + 1, 0, 1e-15, "merge by hand: (1, 2) + (3, 1) = (3, 2e^-2 + 1)");
}

/* A kernel that writes NaN must fail every comparison that uses max_abs_diff (and so rel_err):
 * fmax(e, NaN) is e, so a NaN output once passed with error 0. */
static void test_nan_fails(Check *t) {
    float ref[3] = {1, 2, 3}, got[3] = {1, NAN, 3}, same[3] = {1, 2, 3};
    check_true(t, isinf(max_abs_diff(got, ref, 3)), "max_abs_diff: a NaN difference is infinite, not skipped");
    check_true(t, isinf(rel_err(got, ref, 3, 1e-30)), "rel_err: a NaN output is an infinite error");
    check_true(t, max_abs_diff(same, ref, 3) == 0, "max_abs_diff: equal arrays differ by 0");
}

static void test_io(Check *t) {
    long Ms[3] = {16384, 65536, 262144}, d = 64;
    for (int i = 0; i < 3; i++) {
        long Br, Bc;
        io_blocks(Ms[i], d, &Br, &Bc);
        check_true(t, 2 * Br * d + 2 * Bc * d + Br * Bc <= Ms[i], "M = %ld: the blocks fit (Br %ld, Bc %ld)", Ms[i], Br, Bc);
        for (long T = 1; T <= 5000; T = T * 3 + 1) {
            double walk = io_tiled(T, d, Br, Bc, false), formula = 2.0 * T * d + 2.0 * T * d * (double)((T + Br - 1) / Br);
            check_true(t, walk == formula, "M = %ld, T = %ld: the walk = 2Td + 2Td ceil(T/Br)", Ms[i], T);
            check_true(t, io_tiled(T, d, Br, Bc, true) <= walk, "M = %ld, T = %ld: the causal walk moves no more", Ms[i], T);
        }
    }
    check_true(t, io_standard(1024, 64) == 4.0 * 1024 * 64 + 4.0 * 1024 * 1024, "standard: 4Td + 4T^2");
    long Br, Bc;
    io_blocks(65536, 64, &Br, &Bc);
    double T = 1 << 16, ratio = io_standard(T, 64) / io_tiled(1 << 16, 64, Br, Bc, false);
    check_close(t, ratio, 2.0 * Br / 64, 0, 0.02, "for large T the ratio is 2 Br / d (%.3f)", ratio);
}

/* Exercise 5's solution: without a mask the tile's B_c does not change the count; with the causal mask a finer
 * B_c skips a little more of the diagonal (about 1% at T = 4,096, d = 64, B_r = 170) */
static void test_exercise_io_bc(Check *t) {
    long T = 4096, d = 64, Br = 170;
    double full1 = io_tiled(T, d, Br, 1, false), full64 = io_tiled(T, d, Br, 64, false);
    double c1 = io_tiled(T, d, Br, 1, true), c64 = io_tiled(T, d, Br, 64, true);
    check_true(t, full1 == full64, "exercise 5: without a mask B_c = 1 and 64 move the same (%.0f, %.0f)", full1, full64);
    check_true(t, c1 < c64 && c64 / c1 - 1 > 0.005 && c64 / c1 - 1 < 0.02,
               "exercise 5: with the mask B_c = 64 moves %.1f%% more than B_c = 1 (%.0f, %.0f)", 100 * (c64 / c1 - 1), c64,
               c1);
}

static void test_tiled_forward(Check *t) {
    int shapes[][3] = {{1, 8, 4}, {7, 8, 4}, {77, 16, 32}, {64, 32, 64}, {130, 64, 32}};   /* T, d, Bc */
    Rng rng;
    rng_seed(&rng, 4);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int causal = 0; causal < 2; causal++) {
            int T = shapes[s][0], d = shapes[s][1], Bc = shapes[s][2];
            Head h = head_new(T, d, &rng);
            attention_reference(h.o_ref, h.lse_ref, NULL, h.q, h.k, h.v, T, d, causal);
            flash_forward_cpu(h.o, h.lse, h.q, h.k, h.v, T, d, causal, Bc);
            check_close_f32(t, h.o, h.o_ref, (size_t)T * d, 1e-6, 1e-5, "tiled = plain, T %d d %d Bc %d %s: output", T, d,
                            Bc, causal ? "causal" : "full");
            check_close_f32(t, h.lse, h.lse_ref, (size_t)T, 1e-6, 1e-6, "  and log-sum-exp");
            head_free(&h);
        }
}

/* sum(dout * O) for the finite differences */
static double loss_of(const Head *h, bool causal, float *q, float *k, float *v) {
    float *o = xmalloc_array((size_t)h->T * h->d, sizeof *o), *lse = xmalloc_array((size_t)h->T, sizeof *lse);
    attention_reference(o, lse, NULL, q, k, v, h->T, h->d, causal);
    double L = 0;
    for (size_t i = 0; i < (size_t)h->T * h->d; i++) L += (double)h->dout[i] * o[i];
    free(o), free(lse);
    return L;
}

static void test_backward(Check *t) {
    Rng rng;
    rng_seed(&rng, 5);
    for (int causal = 0; causal < 2; causal++) {
        int T = 5, d = 4;
        Head h = head_new(T, d, &rng);
        double *P = xmalloc_array((size_t)T * T, sizeof *P);
        attention_reference(h.o_ref, h.lse_ref, P, h.q, h.k, h.v, T, d, causal);
        attention_reference_backward(h.dq_ref, h.dk_ref, h.dv_ref, h.dout, h.q, h.k, h.v, P, T, d);
        float *ins[3] = {h.q, h.k, h.v}, *grads[3] = {h.dq_ref, h.dk_ref, h.dv_ref};
        const char *names[3] = {"dq", "dk", "dv"};
        for (int w = 0; w < 3; w++) {
            double worst = 0;
            for (size_t i = 0; i < (size_t)T * d; i++) {
                float keep = ins[w][i], eps = 1e-2f;
                ins[w][i] = keep + eps;
                double up = loss_of(&h, causal, h.q, h.k, h.v);
                ins[w][i] = keep - eps;
                double down = loss_of(&h, causal, h.q, h.k, h.v);
                ins[w][i] = keep;
                double fd = (up - down) / (2 * (double)eps);
                worst = worst_of(worst, fabs(fd - grads[w][i]) / (1e-3 + fabs(fd)));
            }
            check_true(t, worst <= 2e-3, "%s: plain backward = central differences (%s, worst relative %.1e)", names[w],
                       causal ? "causal" : "full", worst);
        }
        free(P);
        head_free(&h);
    }
    int shapes[][3] = {{1, 8, 4}, {9, 8, 4}, {70, 16, 32}};
    for (size_t s = 0; s < 3; s++)
        for (int causal = 0; causal < 2; causal++) {
            int T = shapes[s][0], d = shapes[s][1], Bc = shapes[s][2];
            Head h = head_new(T, d, &rng);
            double *P = xmalloc_array((size_t)T * T, sizeof *P);
            attention_reference(h.o_ref, h.lse_ref, P, h.q, h.k, h.v, T, d, causal);
            attention_reference_backward(h.dq_ref, h.dk_ref, h.dv_ref, h.dout, h.q, h.k, h.v, P, T, d);
            flash_backward_cpu(h.dq, h.dk, h.dv, h.dout, h.q, h.k, h.v, h.o_ref, h.lse_ref, T, d, causal, Bc);
            size_t n = (size_t)T * d;
            check_close_f32(t, h.dq, h.dq_ref, n, 1e-5, 1e-4, "tiled backward = plain, T %d %s: dq", T, causal ? "causal" : "full");
            check_close_f32(t, h.dk, h.dk_ref, n, 1e-5, 1e-4, "  dk");
            check_close_f32(t, h.dv, h.dv_ref, n, 1e-5, 1e-4, "  dv");
            double worst = 0;                                   /* D_i = sum_k p_ik dP_ik */
            for (int i = 0; i < T; i++) {
                double Di = 0, rowdot = 0;
                for (int c = 0; c < d; c++) Di += (double)h.dout[(size_t)i * d + c] * h.o_ref[(size_t)i * d + c];
                for (int j = 0; j < T; j++) {
                    double dp = 0;
                    for (int c = 0; c < d; c++) dp += (double)h.dout[(size_t)i * d + c] * h.v[(size_t)j * d + c];
                    rowdot += P[(size_t)i * T + j] * dp;
                }
                worst = worst_of(worst, fabs(Di - rowdot) / (1 + fabs(rowdot)));
            }
            check_true(t, worst <= 1e-6, "  D_i = do_i . o_i = sum_k p_ik dP_ik (worst %.1e)", worst);
            free(P);
            head_free(&h);
        }
}

static void test_formats(Check *t) {
    Format f16 = {"fp16", 5, 10}, bf16 = {"bf16", 8, 7}, f32 = {"fp32", 8, 23};
    check_true(t, format_max(f16) == 65504 && f16_to_f32(0x7BFF) == 65504, "fp16: largest = (2 - 2^-10) 2^15 = 65504");
    check_true(t, format_min_normal(f16) == f16_to_f32(0x0400) && format_min_subnormal(f16) == f16_to_f32(0x0001),
               "fp16: smallest normal 2^-14 and subnormal 2^-24 decode from 0x0400 and 0x0001");
    check_true(t, format_max(bf16) == bf16_to_f32(0x7F7F) && format_min_normal(bf16) == bf16_to_f32(0x0080) &&
                      format_min_subnormal(bf16) == bf16_to_f32(0x0001), "bf16: the three extremes decode");
    check_true(t, format_max(f32) == FLT_MAX && format_min_normal(f32) == FLT_MIN && format_epsilon(f32) == FLT_EPSILON,
               "fp32: FLT_MAX, FLT_MIN, FLT_EPSILON");
    check_true(t, f16_to_f32(f32_to_f16(1e-8f)) == 0, "loss scaling: 1e-8 rounds to zero in fp16");
    float back = f16_to_f32(f32_to_f16(1e-8f * 65536)) / 65536;
    check_close(t, back, 1e-8, 0, ldexp(1, -11), "  and scaled by 2^16 it survives, to fp16's precision (%.4g)", back);
    check_true(t, isinf(f16_to_f32(f32_to_f16(65520.0f))), "65520 overflows fp16 (rounds to even: infinity)");
    check_true(t, f16_to_f32(f32_to_f16((float)ldexp(1, -25))) == 0 &&
                      f16_to_f32(f32_to_f16((float)ldexp(1.01, -25))) == (float)ldexp(1, -24),
               "2^-25 rounds to 0 in fp16 (a tie, to even), a little more to 2^-24");
    check_true(t, bf16_to_f32(f32_to_bf16(1e-8f)) != 0, "bf16 holds 1e-8 without scaling");
    /* the bounds of the GPU checks: rounding to bf16 errs by at most 2^-8 relative (half the spacing 2^-7), to
     * fp16 by 2^-11, and both bounds are nearly reached; an update below half the spacing near w is lost */
    Rng rng;
    rng_seed(&rng, 8);
    double worst_bf = 0, worst_h = 0;
    for (int i = 0; i < 100000; i++) {
        float x = (float)(ldexp(1 + rng_uniform(&rng), (int)rng_below(&rng, 20) - 10));
        worst_bf = worst_of(worst_bf, fabs(bf16_to_f32(f32_to_bf16(x)) - x) / x);
        worst_h = worst_of(worst_h, fabs(f16_to_f32(f32_to_f16(x)) - x) / x);
    }
    check_true(t, worst_bf <= ldexp(1, -8) && worst_bf > 0.9 * ldexp(1, -8),
               "bf16 rounds with relative error at most 2^-8 and nearly reaches it (%.3g)", worst_bf);
    check_true(t, worst_h <= ldexp(1, -11) && worst_h > 0.9 * ldexp(1, -11), "fp16: at most 2^-11 (%.3g)", worst_h);
    float w = 1.0f, w2 = 1.99f;
    check_true(t, bf16_to_f32(f32_to_bf16(w + (float)ldexp(1, -9))) == w &&
                      bf16_to_f32(f32_to_bf16(w2 + (float)ldexp(0.99, -8) * w2)) != bf16_to_f32(f32_to_bf16(w2)),
               "bf16: an update of 2^-9 |w| is lost at w = 1, one of 0.99 2^-8 |w| survives at w = 1.99");
}

/* ---- The exercises' solutions, at their edges ---------------------------------------- */

/* Exercise 1: scores in increasing order rescale the sum at every step and
 * still give the two-pass denominator; in decreasing order, never. */
static void test_exercise_order(Check *t) {
    enum { N = 64 };
    float up[N], down[N];
    for (int i = 0; i < N; i++) up[i] = (float)(0.25 * i - 4);
    for (int i = 0; i < N; i++) down[i] = up[N - 1 - i];
    int rescaled_up = 0, rescaled_down = 0;
    Online a = {-INFINITY, 0}, b = {-INFINITY, 0};
    for (int i = 0; i < N; i++) {
        Online a2 = online_step(a, up[i]), b2 = online_step(b, down[i]);
        rescaled_up += i > 0 && a2.m != a.m, rescaled_down += i > 0 && b2.m != b.m;
        a = a2, b = b2;
    }
    double m = up[N - 1], l = 0;
    for (int i = 0; i < N; i++) l += exp((double)up[i] - m);
    check_true(t, rescaled_up == N - 1 && rescaled_down == 0,
               "exercise 1: increasing order rescales at each of the %d later steps (%d), decreasing never (%d)", N - 1,
               rescaled_up, rescaled_down);
    check_close(t, a.l, l, 0, 1e-14, "  and both give the two-pass denominator: increasing %.15g", a.l);
    check_close(t, b.l, l, 0, 1e-14, "  decreasing %.15g", b.l);
    /* in a random order, a rescaling at each record after the first: H_n - 1 on average */
    Rng rng;
    rng_stream(&rng, 12, 1);
    enum { ROWS = 20000 };
    double total = 0, harmonic = 0;
    for (int k = 1; k <= N; k++) harmonic += 1.0 / k;
    for (int row = 0; row < ROWS; row++) {
        float x[N];
        memcpy(x, up, sizeof x);
        rng_shuffle(&rng, x, N, sizeof x[0]);
        Online c = {-INFINITY, 0};
        for (int i = 0; i < N; i++) {
            Online c2 = online_step(c, x[i]);
            total += i > 0 && c2.m != c.m;
            c = c2;
        }
    }
    check_close(t, total / ROWS, harmonic - 1, 0.05, 0, "exercise 1: %d random orders of %d scores rescale %.3f times "
                "on average, H_%d - 1 = %.3f", ROWS, N, total / ROWS, N, harmonic - 1);
}

/* Exercise 3's solution: the CPU forward pass a block of Br query rows at a
 * time, the key tile outside the block's rows, m, l, acc per row. */
static void forward_block_rows(float *o, float *lse, const float *q, const float *k, const float *v, int T, int d,
                               bool causal, int Br, int Bc) {
    double scale = 1 / sqrt((double)d);
    double *m = xmalloc_array((size_t)Br, sizeof *m), *l = xmalloc_array((size_t)Br, sizeof *l);
    double *acc = xmalloc_array((size_t)Br * d, sizeof *acc), *s = xmalloc_array((size_t)Br * Bc, sizeof *s);
    for (int i0 = 0; i0 < T; i0 += Br) {
        int rows = T - i0 < Br ? T - i0 : Br;
        for (int r = 0; r < rows; r++) {
            m[r] = -INFINITY, l[r] = 0;
            for (int c = 0; c < d; c++) acc[(size_t)r * d + c] = 0;
        }
        for (int j0 = 0; j0 < T; j0 += Bc) {
            int n = T - j0 < Bc ? T - j0 : Bc;
            for (int r = 0; r < rows; r++) {       /* the Br x Bc tile of scores */
                int i = i0 + r;
                double mt = -INFINITY;
                for (int j = 0; j < n; j++) {
                    double dot = 0;
                    for (int c = 0; c < d; c++) dot += (double)q[(size_t)i * d + c] * k[(size_t)(j0 + j) * d + c];
                    s[(size_t)r * Bc + j] = causal && j0 + j > i ? -INFINITY : dot * scale;
                    mt = fmax(mt, s[(size_t)r * Bc + j]);
                }
                if (mt == -INFINITY) continue;     /* this row's part of the tile is all in its future */
                double mnew = fmax(m[r], mt), alpha = exp(m[r] - mnew);
                l[r] *= alpha;
                for (int c = 0; c < d; c++) acc[(size_t)r * d + c] *= alpha;
                for (int j = 0; j < n; j++) {
                    double p = exp(s[(size_t)r * Bc + j] - mnew);
                    l[r] += p;
                    for (int c = 0; c < d; c++) acc[(size_t)r * d + c] += p * v[(size_t)(j0 + j) * d + c];
                }
                m[r] = mnew;
            }
        }
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < d; c++) o[(size_t)(i0 + r) * d + c] = (float)(acc[(size_t)r * d + c] / l[r]);
            lse[i0 + r] = (float)(m[r] + log(l[r]));
        }
    }
    free(m), free(l), free(acc), free(s);
}

static void test_exercise_block_rows(Check *t) {
    int shapes[][4] = {{1, 8, 4, 4}, {7, 8, 3, 4}, {77, 16, 16, 32}, {130, 64, 64, 32}, {65, 16, 1, 7}};  /* T d Br Bc */
    Rng rng;
    rng_seed(&rng, 6);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int causal = 0; causal < 2; causal++) {
            int T = shapes[s][0], d = shapes[s][1], Br = shapes[s][2], Bc = shapes[s][3];
            Head h = head_new(T, d, &rng);
            attention_reference(h.o_ref, h.lse_ref, NULL, h.q, h.k, h.v, T, d, causal);
            forward_block_rows(h.o, h.lse, h.q, h.k, h.v, T, d, causal, Br, Bc);
            check_close_f32(t, h.o, h.o_ref, (size_t)T * d, 1e-6, 1e-5, "exercise 3: rows in blocks of %d, T %d Bc %d %s",
                            Br, T, Bc, causal ? "causal" : "full");
            check_close_f32(t, h.lse, h.lse_ref, (size_t)T, 1e-6, 1e-6, "  and log-sum-exp");
            head_free(&h);
        }
}

/* Exercise 4's solution: with a window (key j visible to query i when
 * i - w < j <= i), a block of queries [q0, q0 + BR) starts at key tile
 * max(0, floor((q0 - w + 1) / 64)), and a tile needs the per-element mask
 * at its back edge if its first key is at most q0 + BR - 1 - w.  Both held to
 * a brute-force walk of every score, windows from 1 to past the sequence. */
static void test_exercise_window(Check *t) {
    enum { BC = 64 };
    int BRs[2] = {64, 128}, bad_first = 0, bad_edge = 0, cases = 0;
    for (int bi = 0; bi < 2; bi++)
        for (int T = 1; T <= 700; T += 99)
            for (int w = 1; w <= T + 70; w += 13)
                for (int q0 = 0; q0 < T; q0 += BRs[bi]) {
                    int BR = BRs[bi], last = q0 + BR - 1 < T - 1 ? q0 + BR - 1 : T - 1;
                    int first = q0 - w + 1 > 0 ? (q0 - w + 1) / BC : 0, brute_first = -1;
                    for (int j = 0; j * BC < T; j++) {
                        bool any = false, back = false;       /* a visible key in the tile; a key cut by the window */
                        for (int i = q0; i <= last; i++)
                            for (int key = j * BC; key < (j + 1) * BC && key < T; key++)
                                any |= i - w < key && key <= i, back |= key <= i - w;
                        if (any && brute_first < 0) brute_first = j;
                        bool edge = j * BC <= q0 + BR - 1 - w;
                        if (any) bad_edge += edge != back && !(edge && q0 + BR - 1 > last);   /* extra masking in a short last block is harmless */
                    }
                    bad_first += first != brute_first;
                    cases++;
                }
    check_true(t, bad_first == 0, "exercise 4: the first key tile a windowed block needs (%d cases, %d wrong)", cases,
               bad_first);
    check_true(t, bad_edge == 0, "  and the tiles that need the window's mask (%d wrong)", bad_edge);
}

/* Exercise 5: the ratio of standard to tiled traffic grows as M until a
 * single query block holds the sequence (then it is 1 + T/d, whatever M),
 * and below M = 6d the block of one row is all that is left. */
static void test_exercise_io_range(Check *t) {
    long T = 4096, d = 64, Br, Bc;
    io_blocks(6 * T * d, d, &Br, &Bc);
    double sat = io_standard((double)T, (double)d) / io_tiled(T, d, Br, Bc, false);
    check_close(t, sat, 1.0 + (double)T / d, 0, 1e-12, "exercise 5: M = 6Td, one query block: ratio 1 + T/d (%.1f)", sat);
    io_blocks(64 * T * d, d, &Br, &Bc);
    check_close(t, io_standard((double)T, (double)d) / io_tiled(T, d, Br, Bc, false), sat, 0, 1e-12,
                "  and a larger M changes nothing");
    io_blocks(6 * d - 1, d, &Br, &Bc);
    double floor1 = io_standard((double)T, (double)d) / io_tiled(T, d, Br, Bc, false);
    check_true(t, Br == 1 && fabs(floor1 - (4.0 * T * d + 4.0 * T * T) / (2.0 * T * d + 2.0 * T * T * d)) < 1e-12,
               "  M < 6d: blocks of one row, ratio (4Td + 4T^2) / (2Td + 2T^2 d) = %.4f", floor1);
    double worst = 0;                      /* in between (many query blocks): M / 3d^2, to the block's rounding */
    for (long M = 4096; M <= 65536; M *= 2) {
        io_blocks(M, d, &Br, &Bc);
        double ratio = io_standard((double)T, (double)d) / io_tiled(T, d, Br, Bc, false);
        worst = worst_of(worst, fabs(ratio / (2.0 * Br / d) - 1));
    }
    check_true(t, worst < 0.1, "  between, the ratio is 2 Br / d ~ M / 3d^2 (worst %.2f relative)", worst);
}

/* CH12_SPEED_VERSIONS: a list separated by commas ("26" is version 26, not 2 and 6); a name that is not a
 * version is reported */
static void test_speed_list(Check *t) {
    check_true(t, speed_listed("26", 26) && !speed_listed("26", 2) && !speed_listed("26", 6),
               "CH12_SPEED_VERSIONS=26 lists version 26 alone");
    check_true(t, speed_listed("3,9,10", 10) && speed_listed("3,9,10", 3) && !speed_listed("3,9,10", 1) &&
               speed_listed("23,", 23) && !speed_listed("23,", 0) && speed_listed(NULL, 17),
               "a list with commas, a trailing comma, and no list (every version)");
    char buf[48];
    const char *bad = speed_list_bad("23,28", buf, sizeof buf);
    check_true(t, bad && strcmp(bad, "28") == 0, "'23,28': 28 is not a version (got '%s')", bad ? bad : "(none)");
    bad = speed_list_bad("2x", buf, sizeof buf);
    check_true(t, bad && strcmp(bad, "2x") == 0, "'2x' is not a version");
    check_true(t, !speed_list_bad("1,27,", buf, sizeof buf) && !speed_list_bad(NULL, buf, sizeof buf) &&
               speed_list_bad("", buf, sizeof buf) && speed_list_bad(",,", buf, sizeof buf) &&
               speed_list_bad("0", buf, sizeof buf),
               "'1,27,' and no list are good; an empty list, ',,' and 0 are not");
}

/* "Why the master weights are f32": AdamW's |m_hat| / sqrt(v_hat) reaches 1.17 for beta 0.9 and 0.95, by
 * Cauchy-Schwarz sqrt(sum a_k^2 / c_k) with a_k = (1 - b1) b1^k, c_k = (1 - b2) b2^k, attained by gradients
 * growing as (b2 / b1)^k */
static void test_adam_bound(Check *t) {
    double b1 = 0.9, b2 = 0.95, bound = sqrt((1 - b1) * (1 - b1) / ((1 - b2) * (1 - b1 * b1 / b2)));
    double m = 0, v = 0, worst = 0;
    for (int step = 1; step <= 2000; step++) {
        double g = pow(b2 / b1, step);
        m = b1 * m + (1 - b1) * g, v = b2 * v + (1 - b2) * g * g;
        worst = fmax(worst, (m / (1 - pow(b1, step))) / sqrt(v / (1 - pow(b2, step))));
    }
    check_true(t, fabs(bound - 1.165) < 1e-3 && worst <= bound + 1e-9 && worst > bound - 1e-3,
               "AdamW's step ratio reaches %.4f (the bound %.4f) with gradients growing as (b2/b1)^t", worst, bound);
    check_true(t, bound * 1e-3 < ldexp(1, -9), "so at a learning rate of 1e-3 a step at a bf16 gain of 1 is lost");
}

/* "The largest model": V independent logits of variance s2 give a first loss near ln V + s2 / 2; at GPT-2
 * small's width (s2 = 768 * 0.02^2) 10.98, at 4,096 11.6 */
static void test_first_loss(Check *t) {
    Rng rng;
    rng_stream(&rng, 12, 7);
    int V = 50304, widths[2] = {768, 4096};
    for (int w = 0; w < 2; w++) {
        double s = 0.02 * sqrt((double)widths[w]), mean = 0;
        for (int row = 0; row < 8; row++) {
            double sum = 0;
            for (int j = 0; j < V; j++) sum += exp(s * rng_normal(&rng));
            mean += log(sum) / 8;
        }
        double want = log((double)V) + s * s / 2;
        check_close(t, mean, want, 0.02, 0, "a first loss of %.3f for %d random logits of variance %.3f: ln V + "
                    "%.3f = %.3f", mean, V, s * s, s * s / 2, want);
    }
}

/* "What a segment costs": of every way to cut a chain of L equal blocks into s segments (2^(L-1) cuttings), the
 * least longest segment is ceil(L / s), which equal lengths reach */
static void test_uniform_segments(Check *t) {
    enum { L = 12 };
    int best[L + 1];
    for (int s = 0; s <= L; s++) best[s] = L + 1;
    for (unsigned cuts = 0; cuts < 1u << (L - 1); cuts++) {   /* bit i: a cut after block i + 1 */
        int segs = 1, longest = 0, run = 0;
        for (int i = 0; i < L; i++) {
            run++;
            if (i < L - 1 && cuts >> i & 1) longest = run > longest ? run : longest, run = 0, segs++;
        }
        longest = run > longest ? run : longest;
        if (longest < best[segs]) best[segs] = longest;
    }
    bool ok = true;
    for (int s = 1; s <= L; s++) ok &= best[s] == (L + s - 1) / s;
    check_true(t, ok, "checkpointing: for every count of segments of a chain of %d equal blocks, the least longest "
               "segment is ceil(L / s), the uniform cutting's", L);
    /* and the program's search over uniform k finds the least memory of any cutting, for a light block and heavy */
    for (int i = 0; i < 2; i++) {
        double b = i ? 16.04 : 0.5, c = 1, uniform = INFINITY, any = INFINITY;
        for (int k = 1; k <= L; k++) uniform = fmin(uniform, segments_bytes(L, k, b, c));
        for (int seg = 1; seg <= L; seg++) any = fmin(any, best[seg] * b + (seg - 1) * c);
        check_close(t, uniform, any, 1e-12, 0, "segments_bytes over uniform k: %.4g, the best of every cutting: %.4g "
                    "(b/c = %g)", uniform, any, b / c);
    }
}

/* The FLOP count of the speed tables: 4 T^2 d per head forward, half with
 * the mask, 3.5x for forward and backward; and the same count as the sum of
 * 2mnk over the products (two forward; five backward, S recomputed). */
static void test_flop_count(Check *t) {
    int B = 3, H = 5, T = 100, d = 64;
    double mm = 2.0 * T * T * d;                         /* one T x T x d product */
    check_true(t, attention_flops(B, H, T, d, false, false) == B * H * 2 * mm, "flops: forward = 2 products per head");
    check_true(t, attention_flops(B, H, T, d, false, true) == B * H * (2 + 5) * mm,
               "flops: forward + backward = 2 + 5 products (S recomputed in the backward)");
    check_true(t, attention_flops(B, H, T, d, true, true) == 0.5 * attention_flops(B, H, T, d, false, true),
               "flops: causal is half");
}

/* The counts of chapter 12's paragraphs on the dK/dV epilogue (version 2's
 * section and version 7's profile): the query tiles a block of version 7's
 * backward pass visits under the causal mask (its loop: q0 from
 * k0 / BR * BR to T in steps of BR = V7_BR = 64, blocks of BC = 128 keys,
 * as flash.cu has them), 16 - 2j and 9 on average at T = 1,024, 64 - 2j and
 * 33 at T = 4,096; and the excess sectors of the old and new epilogue at
 * B 16, H 12, T 1,024, d 64, whose difference is the change between the
 * two Nsight Compute profiles (bench/logs: 18,087,936 - 11,796,480). */
static void test_epilogue_counts(Check *t) {
    const int BR = 64, BC = 128;
    const int Ts[2] = {1024, 4096}, means[2] = {9, 33};
    for (int k = 0; k < 2; k++) {
        int T = Ts[k], blocks = 0, tiles = 0, formula = 1;
        for (int k0 = 0; k0 < T; k0 += BC, blocks++) {
            int n = 0;
            for (int q0 = k0 / BR * BR; q0 < T; q0 += BR) n++;
            formula &= n == T / BR - 2 * (k0 / BC);
            tiles += n;
        }
        check_true(t, formula, "epilogue: block j of T = %d sees %d - 2j query tiles", T, T / BR);
        check_true(t, tiles == means[k] * blocks, "epilogue: T = %d, %d tiles over %d blocks, %d on average", T, tiles,
                   blocks, means[k]);
    }
    long long warps = 16LL * 12 * (1024 / BC) * 8;            /* 192 heads x 8 key blocks, 8 warps a block */
    long long old_excess = warps * 2 * 8 * 2 * 2 * 2 * (8 - 2);  /* rows, column pairs, values, tensors, load+store */
    long long new_excess = warps * 2 * 8 * 2 * 2 * (8 - 4);      /* rows, column pairs, tensors, load+store */
    check_true(t, warps == 12288 && old_excess == 9437184 && new_excess == 3145728,
               "epilogue: 12,288 warps, 9,437,184 and 3,145,728 excess sectors (%lld, %lld, %lld)", warps, old_excess,
               new_excess);
    check_true(t, old_excess - new_excess == 18087936LL - 11796480LL,
               "epilogue: their difference is the two profiles' difference, 6,291,456");
    /* a thread's four-byte loads: d/8 pairs of each of dK and dV a row, two rows; loaded first, all are
     * held at once (64 registers at d = 128), a row at a time half of them (32), 16 a row at d = 64 */
    int per_row64 = 64 / 8 * 2, per_row128 = 128 / 8 * 2;
    check_true(t, per_row64 == 16 && 2 * per_row128 == 64 && per_row128 == 32,
               "epilogue: 16 loads a row at d 64; 64 registers held at d 128 loading both rows first, 32 a row at a time");
}

/* Version 8's arithmetic (section "Version 8"): a wgmma m64nNk16 with both
 * operands in shared memory does 2 * 64 * N * 16 FLOPs and reads (64 + N) * 16
 * two-byte elements; at 4,096 FLOPs and 128 shared bytes an SM a clock the
 * reads take (64 + N) / (2 N) of the product's time: 1 at N = 64, 3/4 at 128,
 * 1/2 with A in registers; shared memory and registers of a block. */
static char *slurp(const char *path, size_t *len);

/* the registers ptxas gave the bf16 flash6_forward_kernel whose mangled
 * template arguments contain args, in a log of bench/logs/s12-ptxas/; -1 if absent */
static int ptxas_registers(const char *path, const char *args) {
    size_t n;
    char *log = slurp(path, &n), *p;
    int regs = -1;
    if (!log) return -1;
    log = xrealloc(log, n + 1), log[n] = '\0', p = log;
    while (regs < 0 && (p = strstr(p, "Compiling entry function '_Z21flash6_forward_kernelI13__nv_bfloat16")) != NULL) {
        char *end = strchr(p, '\n'), *used = end ? strstr(end, "Used ") : NULL;
        bool mine = end && memmem(p, (size_t)(end - p), args, strlen(args)) != NULL;
        if (mine && used) regs = atoi(used + 5);
        p = end ? end : p + 1;
    }
    free(log);
    return regs;
}

static void test_v8_arithmetic(Check *t) {
    double ratio[2];
    for (int i = 0; i < 2; i++) {
        int N = 64 << i;
        double flops = 2.0 * 64 * N * 16, bytes = (64.0 + N) * 16 * 2;
        ratio[i] = (bytes / 128) / (flops / 4096);
    }
    double rs = (128.0 * 16 * 2 / 128) / (2.0 * 64 * 128 * 16 / 4096);
    check_true(t, ratio[0] == 1.0 && ratio[1] == 0.75 && rs == 0.5,
               "version 8: shared reads / product time %.2f at N 64, %.2f at N 128, %.2f with A in registers",
               ratio[0], ratio[1], rs);
    size_t smem128 = (size_t)(128 + 2 * 3 * 128) * 128 * 2, smem64 = (size_t)(128 + 2 * 3 * 128) * 64 * 2;   /* Q, 3 stages of K and V */
    check_true(t, smem128 == 224 * 1024 && smem64 == 112 * 1024 && smem128 <= 227 * 1024,
               "version 8: 224 KiB of shared memory a block at d 128 (at most 227), 112 KiB at d 64");
    double n8 = (64.0 + 8) / (2 * 8), n256 = (64.0 + 256) / (2 * 256);
    check_true(t, n8 == 4.5 && n256 == 0.625, "exercise 13: the ratio is 4.5 at N 8 and 0.625 at N 256");
    bool half = true;
    for (int N = 8; N <= 256; N += 8) half &= (32.0 * N / 128) / (2048.0 * N / 4096) == 0.5;
    check_true(t, half, "exercise 13: with A in registers the ratio is 1/2 at every N from 8 to 256");
    const char *v8log = "bench/logs/s12-ptxas/ptxas-v8.txt", *nwg3log = "bench/logs/s12-ptxas/ptxas-v8-nwg3.txt";
    int r64 = ptxas_registers(v8log, "Li64ELi2ELi128ELi64E"), r128 = ptxas_registers(v8log, "Li128ELi2ELi128ELi128E");
    check_true(t, r64 == 163 && r128 == 207, "version 8: the ptxas log gives 163 registers at d 64, 207 at d 128 (%d, %d)",
               r64, r128);
    int over64 = r64 - (64 + 32 + 32), over128 = r128 - (64 + 32 + 64);
    int k256_64 = 128 + 64 + 32 + over64, k256_128 = 128 + 64 + 64 + over128;
    check_true(t, over64 == 35 && over128 == 47 && k256_64 == 259 && k256_128 == 303 && k256_64 > 255 && k256_128 > 255,
               "exercise 13: tiles of 256 keys need %d registers at d 64 and %d at d 128, over 255", k256_64, k256_128);
    int regs64 = (r64 + 7) / 8 * 8 * 256;   /* ptxas's registers, allocated 8 at a time, 256 threads */
    check_true(t, regs64 == 43008 && 2 * regs64 > 65536, "version 8: 43,008 registers a block at d 64, so one block an SM");
    /* the variant of three warpgroups: 384 threads may have 65,536 / 384 = 170.7 registers, 168 in multiples of 8 */
    int r3 = ptxas_registers(nwg3log, "Li64ELi3ELi128ELi64E"), cap384 = 65536 / 384 / 8 * 8;
    check_true(t, cap384 == 168 && r3 == 163 && r3 <= cap384,
               "version 8, three warpgroups at d 64: %d registers (the log), within the %d that 384 threads allow", r3, cap384);
}

/* the registers and spill-store bytes ptxas gave the kernel whose entry line begins with entry (its mangled
 * name's start) and whose mangled template arguments contain args, in a ptxas -v log (bench/logs/sNN-ptxas/) */
static void ptxas_entry(const char *path, const char *entry, const char *args, int *regs, int *spill) {
    size_t n;
    char *log = slurp(path, &n), *p;
    *regs = *spill = -1;
    if (!log) return;
    log = xrealloc(log, n + 1), log[n] = '\0', p = log;
    char *head = xasprintf("Compiling entry function '%s", entry);
    while (*regs < 0 && (p = strstr(p, head)) != NULL) {
        char *end = strchr(p, '\n'), *props = end ? strstr(end, "bytes stack frame, ") : NULL;
        char *used = end ? strstr(end, "Used ") : NULL;
        bool mine = end && memmem(p, (size_t)(end - p), args, strlen(args)) != NULL;
        if (mine && props && used) *spill = atoi(props + strlen("bytes stack frame, ")), *regs = atoi(used + 5);
        p = end ? end : p + 1;
    }
    free(head), free(log);
}

/* ptxas_entry for the bf16 flash9_forward_kernel (logs of bench/logs/s13-ptxas/ on); and whether the log warns
 * that the d 128 kernel's products are serialized */
static void ptxas_v9(const char *path, const char *args, int *regs, int *spill, bool *serialized) {
    ptxas_entry(path, "_Z21flash9_forward_kernelI13__nv_bfloat16", args, regs, spill);
    size_t n;
    char *log = slurp(path, &n);
    *serialized = false;
    if (!log) return;
    log = xrealloc(log, n + 1), log[n] = '\0';
    *serialized = strstr(log, "serialized due to insufficient register resources for the function "
                              "'_Z21flash9_forward_kernelI13__nv_bfloat16Li128E") != NULL;
    free(log);
}

/* Version 9's budget (section "Version 9"): 384 threads may have 168
 * registers each; the producer's warpgroup at 40 and two consumers' at 232
 * fit the SM's 65,536 and cover version 8's 207; ptxas spills without
 * setmaxnreg and not with it; shared memory with the barriers. */
/* the value of #define NAME in common/gpu/flash.cu, -1 if absent */
static int flash_define(const char *name) {
    size_t n;
    char *src = slurp("common/gpu/flash.cu", &n), key[64];
    int v = -1;
    if (!src) return -1;
    src = xrealloc(src, n + 1), src[n] = '\0';
    snprintf(key, sizeof key, "#define %s ", name);
    char *p = strstr(src, key);
    if (p) v = atoi(p + strlen(key));
    free(src);
    return v;
}

static void test_v9_arithmetic(Check *t) {
    int P = flash_define("V9_PRODUCER_REGS"), C = flash_define("V9_CONSUMER_REGS");
    int cap384 = 65536 / 384 / 8 * 8, budget = 128 * P + 256 * C;
    int r8 = ptxas_registers("bench/logs/s12-ptxas/ptxas-v8.txt", "Li128ELi2ELi128ELi128E");
    bool legal = P >= 24 && P <= 256 && P % 8 == 0 && C >= 24 && C <= 256 && C % 8 == 0;
    check_true(t, legal && cap384 == 168 && budget == 64512 && budget <= 384 * cap384 && r8 == 207 && r8 > cap384 && C >= r8,
               "version 9: flash.cu's %d and %d registers: 128 x %d + 256 x %d = %d <= 384 x 168, the launch's; "
               "%d covers version 8's %d, 168 does not", P, C, P, C, budget, C, r8);
        check_true(t, 128 * 32 + 256 * 240 == 65536 && 65536 > 384 * cap384 && 128 * 24 + 256 * 240 == 384 * cap384,
               "version 9: 32 and 240 would fill the SM's 65,536, more than the block's 64,512; 24 and 240 fit exactly");
    int regs, spill, regs0, spill0;
    bool ser, ser0;
    ptxas_v9("bench/logs/s13-ptxas/ptxas-v9.txt", "Li128ELi2ELi128ELi128E", &regs, &spill, &ser);
    ptxas_v9("bench/logs/s13-ptxas/ptxas-v9-no-setmaxnreg.txt", "Li128ELi2ELi128ELi128E", &regs0, &spill0, &ser0);
    check_true(t, regs == 168 && spill == 0 && !ser, "version 9 at d 128: ptxas reports the launch's %d registers, %d bytes "
               "spilled, %s", regs, spill, ser ? "products serialized" : "no serialization");
    check_true(t, regs0 == 168 && spill0 > 0 && ser0, "version 9 at d 128 without setmaxnreg: %d registers, %d bytes "
               "spilled, %s", regs0, spill0, ser0 ? "products serialized" : "no serialization");
    int r64, s64, r64n, s64n;
    bool x1, x2;
    ptxas_v9("bench/logs/s13-ptxas/ptxas-v9.txt", "Li64ELi2ELi128ELi64E", &r64, &s64, &x1);
    ptxas_v9("bench/logs/s13-ptxas/ptxas-v9-no-setmaxnreg.txt", "Li64ELi2ELi128ELi64E", &r64n, &s64n, &x2);
    check_true(t, r64 == 168 && r64n == 157 && s64 == 0 && s64n == 0,
               "version 9 at d 64: %d registers reported with setmaxnreg (the launch's), %d without", r64, r64n);
    int cap512 = (65536 - 128 * 24) / 384 / 8 * 8;   /* exercise 14: three consumer warpgroups, the producer at 24 */
    check_true(t, cap512 == 160 && cap512 < r8 && r8 - cap512 == 47,
               "exercise 14: three consumers may have %d registers a thread, 47 short of version 8's %d", cap512, r8);
    int tile = 128 * 128 * 2, v9_requests = tile / 16, v10_boxes = tile / (8 * 2 * 128), sw_boxes = tile / (64 * 2 * 128);
    check_true(t, tile == 32768 && v9_requests == 2048 && v9_requests / 128 == 16 && 2 * v9_requests == 4096 &&
                      v10_boxes == 16 && 2 * v10_boxes == 32 && 8 * 128 * 2 == 2048 && sw_boxes == 2 && 2 * sw_boxes == 4,
               "exercise 15: a stage is %d cp.async requests (version 9), %d boxes of 8 x 128 (version 10), %d of 64 x 128 "
               "swizzled", 2 * v9_requests, 2 * v10_boxes, 2 * sw_boxes);
    size_t smem = (size_t)(128 + 2 * 3 * 128) * 128 * 2 + 3 * 3 * 8;
    check_true(t, smem == 224 * 1024 + 72 && smem <= 227 * 1024, "version 9: %zu bytes of shared memory at d 128, within 227 KiB",
               smem);
}

/* The value of metric `name` in an ncu data file (bench/ncu_tsv.py's rows), NAN if absent. */
static double ncu_metric(const TsvTable *d, const char *name) {
    for (size_t i = 0; d && i < tsv_rows(d); i++)
        if (strcmp(tsv_cell(d, i, tsv_col(d, "metric")), name) == 0) return tsv_num(d, i, tsv_col(d, "value"));
    return NAN;
}

/* Version 9's excess global sectors, counted in the text (@sec:ch12-v9):
 * B4 H16 T4096 d128 causal, 128 query rows a block, 128-key tiles, rows of
 * 256 bytes (8 sectors); the profile's total less its excess is the ideal
 * count, and the excess is the ideal count of the Q, K, V loads and O stores. */
static void test_v9_sectors(Check *t) {
    char err[256], *path = xasprintf("%s/figures/data/ch12-ncu-v9-s13.tsv", book_root());
    TsvTable *d = tsv_load(path, err, sizeof err);
    long long heads = 4 * 16, qblocks = 4096 / 128, tiles = 0;
    for (long long qb = 0; qb < qblocks; qb++) tiles += qb + 1;
    long long kv = 2 * tiles * 128 * 8, q = 4096 * 8, o = 4096 * 8, lse = 4096 * 4 / 32;
    double total = ncu_metric(d, "global_sectors"), excess = ncu_metric(d, "global_sectors_excess");
    check_true(t, d && tiles == 528 && kv == 1081344 && heads * (kv + q + o + lse) == 73433088 &&
                      total - excess == 73433088 && excess == heads * (kv + q + o),
               "version 9's profile: %.0f sectors less %.0f excess = %lld, the ideal count (528 key and value tiles a "
               "head, 1,081,344 sectors; Q and O 32,768 each; lse 512; 64 heads); the excess is Q, K, V and O's "
               "count again%s%s", total, excess, heads * (kv + q + o + lse), d ? "" : ": ", d ? "" : err);
    tsv_free(d);
    free(path);
}

/* Version 9's mbarrier waits at B4 H16 T4096 d128, causal, counted as the
 * text counts them (@sec:ch12-v10): a block with n key tiles makes 2n waits
 * in each of its 8 consumer warps and max(0, n - 3) in each of its 4
 * producer warps; against the polls its profile counted, about 72 a wait. */
static void test_v9_polls(Check *t) {
    char err[256], *path = xasprintf("%s/figures/data/ch12-sass-s14a.tsv", book_root());
    TsvTable *d = tsv_load(path, err, sizeof err);
    long long waits = 0;
    for (int n = 1; n <= 4096 / 128; n++) waits += 8 * 2 * n + 4 * (n > 3 ? n - 3 : 0);
    waits *= 4 * 16;
    double polls = NAN;
    for (size_t i = 0; d && i < tsv_rows(d); i++)
        if (strcmp(tsv_cell(d, i, tsv_col(d, "kernel")), "v9") == 0 &&
            strcmp(tsv_cell(d, i, tsv_col(d, "metric")), "inst_trywait") == 0)
            polls = tsv_num(d, i, tsv_col(d, "value"));
    check_true(t, waits == 652032 && fabs(polls / waits - 72) < 0.5, "version 9: %lld mbarrier waits, %.0f polls: %.1f a "
               "wait (the text's 72)%s%s", waits, polls, polls / waits, d ? "" : ": ", d ? "" : err);
    tsv_free(d);
    free(path);
}

/* One metric of one kernel's row in a sass_tsv.py file (NAN if absent). */
static double sass_metric(TsvTable *d, const char *kernel, const char *metric) {
    for (size_t i = 0; d && i < tsv_rows(d); i++)
        if (strcmp(tsv_cell(d, i, tsv_col(d, "kernel")), kernel) == 0 &&
            strcmp(tsv_cell(d, i, tsv_col(d, "metric")), metric) == 0)
            return tsv_num(d, i, tsv_col(d, "value"));
    return NAN;
}

/* tflops of the row of shape `shape` whose column `key` is `val` and pass `pass`; NAN if none */
static double speed_cell(const TsvTable *d, const char *shape, const char *key, const char *val, const char *pass) {
    for (size_t i = 0; d && i < tsv_rows(d); i++)
        if (strcmp(tsv_cell(d, i, tsv_col(d, "shape")), shape) == 0 && strcmp(tsv_cell(d, i, tsv_col(d, key)), val) == 0 &&
            strcmp(tsv_cell(d, i, tsv_col(d, "pass")), pass) == 0)
            return tsv_num(d, i, tsv_col(d, "tflops"));
    return NAN;
}

/* @tbl:ch12-v13-speed against FlashAttention-2, as the text says it: the
 * spread is how far versions 12 and 13's forward rows (one kernel) differ;
 * version 13 ahead by more than it in three cells, within it in the fourth
 * (d 64 forward and backward), and version 12 behind there. */
static void test_v13_against_fa2(Check *t) {
    char err[256], *ps = xasprintf("%s/figures/data/ch12-speed-s15b.tsv", book_root()),
                   *pt = xasprintf("%s/figures/data/ch12-speed-torch-s15b.tsv", book_root());
    TsvTable *s = tsv_load(ps, err, sizeof err), *tt = s ? tsv_load(pt, err, sizeof err) : NULL;
    const char *d64 = "B16H12T1024d64", *d128 = "B4H16T4096d128";
    double spread = fmax(fabs(speed_cell(s, d64, "version", "12", "fwd") / speed_cell(s, d64, "version", "13", "fwd") - 1),
                         fabs(speed_cell(s, d128, "version", "12", "fwd") / speed_cell(s, d128, "version", "13", "fwd") - 1));
    bool three = speed_cell(s, d64, "version", "13", "fwd") > (1 + spread) * speed_cell(tt, d64, "backend", "flash", "fwd") &&
                 speed_cell(s, d128, "version", "13", "fwd") > (1 + spread) * speed_cell(tt, d128, "backend", "flash", "fwd") &&
                 speed_cell(s, d128, "version", "13", "fwd+bwd") >
                     (1 + spread) * speed_cell(tt, d128, "backend", "flash", "fwd+bwd");
    bool tie = fabs(speed_cell(s, d64, "version", "13", "fwd+bwd") / speed_cell(tt, d64, "backend", "flash", "fwd+bwd") - 1) <
               spread;
    bool v12 = speed_cell(s, d64, "version", "12", "fwd+bwd") < speed_cell(tt, d64, "backend", "flash", "fwd+bwd");
    check_true(t, s && tt && three && tie && v12 && spread < 0.07,
               "version 13 passes FlashAttention-2 in three cells by more than the spread (%.1f%%, the text's up to 6%%) "
               "and matches it in the fourth; version 12 is behind it at d 64 forward and backward%s%s",
               100 * spread, tt ? "" : ": ", tt ? "" : err);
    /* the final tree's run: versions 11 to 13's twelve numbers moved by up to 7% (the text's) */
    char *pc = xasprintf("%s/figures/data/ch12-speed-s15c.tsv", book_root());
    TsvTable *c = tsv_load(pc, err, sizeof err);
    double most = 0;
    int cells = 0;
    const char *vs[] = {"11", "12", "13"}, *shapes[] = {d64, d128}, *passes[] = {"fwd", "fwd+bwd"};
    for (int v = 0; v < 3; v++)
        for (int h = 0; h < 2; h++)
            for (int p = 0; p < 2; p++) {
                double x = speed_cell(s, shapes[h], "version", vs[v], passes[p]);
                double y = speed_cell(c, shapes[h], "version", vs[v], passes[p]);
                if (x > 0 && y > 0) most = fmax(most, fabs(y / x - 1)), cells++;
            }
    check_true(t, c && cells == 12 && fabs(100 * most - 7) < 0.5, "two runs: %d numbers, the largest change %.1f%% (the "
               "text's 7%%)%s%s", cells, 100 * most, c ? "" : ": ", c ? "" : err);
    tsv_free(s), tsv_free(tt), tsv_free(c);
    free(ps), free(pt), free(pc);
}

/* The runs of one version, shape and pass in ch12-speed-ab-s17 (version 12, 13 or 14 alone in a process,
 * by turns): their count, least, greatest and median TFLOP/s. */
typedef struct { int n; double lo, hi, median; } AbRuns;
static AbRuns ab_runs(const TsvTable *d, const char *shape, const char *version, const char *pass) {
    double v[16];
    AbRuns r = {0, NAN, NAN, NAN};
    for (size_t i = 0; d && i < tsv_rows(d) && r.n < 16; i++)
        if (strcmp(tsv_cell(d, i, tsv_col(d, "shape")), shape) == 0 &&
            strcmp(tsv_cell(d, i, tsv_col(d, "version")), version) == 0 &&
            strcmp(tsv_cell(d, i, tsv_col(d, "pass")), pass) == 0)
            v[r.n++] = tsv_num(d, i, tsv_col(d, "tflops"));
    if (r.n == 0) return r;
    qsort(v, (size_t)r.n, sizeof v[0], cmp_double);
    r.lo = v[0], r.hi = v[r.n - 1], r.median = r.n % 2 ? v[r.n / 2] : (v[r.n / 2 - 1] + v[r.n / 2]) / 2;
    return r;
}

/* The d 64 backward kernel's stall samples (version 14's section, ch12-stall-bwd-v14-d64-s17): the long
 * scoreboard the first reason; the loop's top (copies landing, fences, the block's barrier) and the epilogue
 * each above the products' waits; the second barrier's BSSY waits at a barrier; the two epilogue
 * instructions the text names are PRMT waiting on the long scoreboard,
 * run once a warp; and the loop's top runs 9 times a warp on average, as the causal count says: a block of
 * 128 keys at kb loops over (1,024 - 128 kb) / 64 query tiles. */
static double stall_cell(const TsvTable *d, const char *kind, const char *key, const char *col) {
    for (size_t i = 0; d && i < tsv_rows(d); i++)
        if (!strcmp(tsv_cell(d, i, tsv_col(d, "kind")), kind) && !strcmp(tsv_cell(d, i, tsv_col(d, "key")), key))
            return tsv_num(d, i, tsv_col(d, col));
    return NAN;
}

static bool stall_is(const TsvTable *d, const char *key, const char *prefix, const char *reason) {
    for (size_t i = 0; d && i < tsv_rows(d); i++)
        if (!strcmp(tsv_cell(d, i, tsv_col(d, "kind")), "inst") && !strcmp(tsv_cell(d, i, tsv_col(d, "key")), key))
            return !strncmp(tsv_cell(d, i, tsv_col(d, "sass")), prefix, strlen(prefix)) &&
                   !strcmp(tsv_cell(d, i, tsv_col(d, "reason")), reason);
    return false;
}

static void test_stall_bwd_d64(Check *t) {
    char err[256], *p = xasprintf("%s/figures/data/ch12-stall-bwd-v14-d64-s17.tsv", book_root());
    TsvTable *d = tsv_load(p, err, sizeof err);
    double lsb = stall_cell(d, "reason", "long_sb", "pct"), loop = stall_cell(d, "span", "loop_wait", "pct"),
           wg = stall_cell(d, "span", "wgmma_wait", "pct"), tops = stall_cell(d, "span", "loop_wait", "executed"),
           warps = stall_cell(d, "inst", "2996", "executed"), tail = stall_cell(d, "span", "tail", "pct");
    bool first = true;   /* long_sb the reason with most samples */
    for (size_t i = 0; d && i < tsv_rows(d); i++)
        if (!strcmp(tsv_cell(d, i, tsv_col(d, "kind")), "reason")) first = first && tsv_num(d, i, tsv_col(d, "pct")) <= lsb;
    int tiles = 0;
    for (int kb = 0; kb < 8; kb++) tiles += (1024 - 128 * kb) / 64;
    check_true(t, d && first && loop > wg && tail > wg && stall_is(d, "2645", "BSSY", "barrier") &&
                      stall_is(d, "2996", "PRMT", "long_sb") && stall_is(d, "2849", "PRMT", "long_sb") &&
                      warps == 12288 && warps == 16 * 12 * 8 * 8 && tops / warps == 9 && tiles == 72 && tiles / 8 == 9,
               "d 64 backward stalls: long scoreboard first (%.1f%%), the loop's top %.1f%% above the products' waits "
               "%.1f%%, two epilogue PRMTs on the long scoreboard, the loop's top %.0f times over %.0f warps (9 a warp, "
               "the causal count's %d tiles over 8 key blocks)%s%s", lsb, loop, wg, tops, warps, tiles, d ? "" : ": ",
               d ? "" : err);
    tsv_free(d);
    free(p);
}

/* Version 16's budget (section "Versions 15 and 16"): three consumer warpgroups and the producer, 512
 * threads, launched at 128 registers each; the producer at 24 and the consumers at 160 fit; ptxas finds the
 * kernel in them at d 64 with no spill, and spills without setmaxnreg; and what 192 query rows cost at
 * T = 1,024 under the causal mask: the 64-row by 128-key products the blocks issue, against 128 rows. */
static int causal_products(int T, int BR, int BC) {   /* a block's nkv, as flash9_forward_kernel finds it */
    int n = 0;
    for (int q0 = 0; q0 < T; q0 += BR) {
        int nkv = (T + BC - 1) / BC, c = (q0 + BR - 1) / BC + 1;
        n += BR / 64 * (c < nkv ? c : nkv);
    }
    return n;
}

static void test_v16(Check *t) {
    int P = flash_define("V16_PRODUCER_REGS"), C = flash_define("V16_CONSUMER_REGS");
    int cap512 = 65536 / 512 / 8 * 8, budget = 128 * P + 384 * C;
    check_true(t, P == 24 && C == 160 && cap512 == 128 && budget == 64512 && budget <= 512 * cap512,
               "version 16: flash.cu's %d and %d registers: 128 x %d + 384 x %d = %d <= 512 x %d, the launch's", P, C, P,
               C, budget, cap512);
    int regs, spill, regs0, spill0;
    bool ser, ser0;
    ptxas_v9("bench/logs/s18-ptxas/ptxas-v16.txt", "Li64ELi3ELi128ELi64ELi16E", &regs, &spill, &ser);
    ptxas_v9("bench/logs/s18-ptxas/ptxas-v16-no-setmaxnreg.txt", "Li64ELi3ELi128ELi64ELi16E", &regs0, &spill0, &ser0);
    check_true(t, regs == 128 && spill == 0 && regs0 <= 128 && spill0 > 0,
               "version 16 at d 64: ptxas reports the launch's %d registers and %d bytes spilled; without setmaxnreg "
               "%d and %d bytes spilled", regs, spill, regs0, spill0);
    int p128 = causal_products(1024, 128, 128), p192 = causal_products(1024, 192, 128);
    check_true(t, p128 == 72 && p192 == 96 && 3 * p192 == 4 * p128 && (1024 + 191) / 192 == 6 && 1024 - 5 * 192 == 64,
               "T 1,024, causal: blocks of 192 rows issue %d products of 64 x 128 against %d for 128 rows (a third "
               "more); 6 blocks a head, the last with 64 rows", p192, p128);
}

/* Version 17's shared memory (section "Version 17"): version 7's (2 Bc + 4 Br) d + Bc Br elements and 4 Br
 * floats, plus a third stage of query and dO tiles and their L and D, plus the old dK and dV rows padded to
 * d + 8; within the 227 KiB a block may have at d 64, over it at d 128 (where either change alone would fit);
 * the padded rows free of bank conflicts at the epilogue's reads (lane g = lane / 4 on rows, tig = lane % 4
 * on column pairs), unpadded ones eight lanes to a bank; ptxas's registers and spill for the kernel at d 64
 * against version 14's (bench/s19_ptxas.sh). */
static size_t v17_smem(int d, int stages, bool old_rows) {
    int Bc = 128, Br = 64;
    return (size_t)(2 * Bc + 2 * stages * Br) * d * 2 + (size_t)Bc * Br * 2 + 2 * stages * Br * 4 +
           (old_rows ? (size_t)2 * Bc * (d + 8) * 2 : 0);
}

static int banks_of_a_read(int ld) {   /* distinct banks of one warp's 4-byte reads, at a row stride of ld elements */
    unsigned seen = 0;
    for (int lane = 0; lane < 32; lane++) seen |= 1u << ((lane / 4 * ld * 2 / 4 + lane % 4) % 32);
    return __builtin_popcount(seen);
}

/* ptxas_entry for flash7_backward_kernel (args: its mangled template arguments, the dtype's included) */
static void ptxas_v7(const char *path, const char *args, int *regs, int *spill) {
    ptxas_entry(path, "_Z22flash7_backward_kernelI", args, regs, spill);
}

/* Version 18's count (section "Version 18"): at B 16, H 12, T 1,024, d 64 a head's Q and dO (bf16) and its
 * f32 dQ rows are 512 KiB; 132 blocks, one an SM (206 registers a thread, allocated in eights, and 256
 * threads: two blocks would need more than 65,536), are 132 heads numbered heads first (66 MiB, over the
 * H100's 50 MiB and the H200's 60 MiB of L2) and 16.5 heads numbered key blocks first (8.25 MiB); the next
 * key block of a head starts 192 blocks later, 1.45 rounds of 132. */
/* Version 18's order and the SMs' idle tail (section "Version 18"): blocks as list scheduling puts them,
 * each on the SM that frees first, in the launch's order, a block of key block kb taking 16 - 2 kb query
 * tiles and one more for its epilogue: numbered heads first the last SM frees at 118, key block first at
 * 127, against the work's 116.4 spread evenly; with heads in groups of 24, key block first inside each,
 * 117. */
static double v18_makespan(int group) {   /* group 0: heads first (versions 7 to 17) */
    enum { SMS = 132, HEADS = 192, KB = 8 };
    double free_at[SMS] = {0}, end = 0;
    int G = group ? group : HEADS;
    for (int g0 = 0; g0 < HEADS; g0 += G)
        for (int i = 0; i < G * KB && g0 + i % (group ? G : HEADS) < HEADS; i++) {
            int kb = group ? i / G : i / HEADS;
            int m = 0;
            for (int j = 1; j < SMS; j++) if (free_at[j] < free_at[m]) m = j;
            free_at[m] += 16 - 2 * kb + 1;
            if (free_at[m] > end) end = free_at[m];
        }
    return end;
}

static void test_v18_order(Check *t) {
    double heads_first = v18_makespan(0), work = 0;
    for (int kb = 0; kb < 8; kb++) work += 192.0 * (16 - 2 * kb + 1);
    /* key block first within each head: a group of one head */
    double key_first = v18_makespan(1), grouped = v18_makespan(24);
    check_true(t, heads_first == 118 && key_first == 127 && grouped == 117 && fabs(work / 132 - 116.36) < 0.01,
               "version 18's order, list-scheduled: heads first %.0f, key block first %.0f, groups of 24 %.0f, the work "
               "spread evenly %.2f", heads_first, key_first, grouped, work / 132);
}

/* Version 20 (section "Version 20"): the launch's order puts every head's every key block in one block, once,
 * for groups of any size, a short last group among them; the launch's model (v20_makespan) is version 18's
 * (v18_makespan above: 118, 127, 117); and with an H100's 132 SMs and 50 MiB of L2 it takes groups of 24 heads
 * at d 64 (T 1024, 192 heads) and of 4 at d 128 (T 4096, 64 heads); and the emulator's 2 SMs and 1 MiB groups
 * of 2 on its case of 3 heads of 260. */
static void test_v20(Check *t) {
    int bad = 0, sizes = 0;
    for (int BNH = 1; BNH <= 13; BNH++)
        for (int nkb = 1; nkb <= 5; nkb++)
            for (int hg = 1; hg <= BNH + 1; hg++, sizes++) {
                int seen[13 * 5] = {0};
                for (int L = 0; L < BNH * nkb; L++) {
                    int bh, kb;
                    v20_block(L, BNH, nkb, hg, &bh, &kb);
                    if (bh < 0 || bh >= BNH || kb < 0 || kb >= nkb || seen[bh * nkb + kb]++) bad++;
                }
            }
    int bh, kb;
    v20_block(25, 7, 4, 3, &bh, &kb);   /* groups {0,1,2}, {3,4,5}, {6}: block 25 is the last group's kb 1 */
    int bh2, kb2;
    v20_block(13, 7, 4, 3, &bh2, &kb2);   /* the second group's 2nd block: place 1, kb 0, head 4 */
    check_true(t, bad == 0 && bh == 6 && kb == 1 && bh2 == 4 && kb2 == 0,
               "version 20's order: every head and key block one block's, %d group sizes (short last groups among "
               "them), %d wrong; block 25 of 7 heads x 4 in groups of 3: head %d, key block %d", sizes, bad, bh, kb);
    double heads_first = v20_makespan(192, 8, 16, 2, 192, 132), key_first = v20_makespan(192, 8, 16, 2, 1, 132),
           g24 = v20_makespan(192, 8, 16, 2, 24, 132), g25 = v20_makespan(192, 8, 16, 2, 25, 132);
    double d128_first = v20_makespan(64, 32, 64, 2, 64, 132), d128_g4 = v20_makespan(64, 32, 64, 2, 4, 132),
           d128_g3 = v20_makespan(64, 32, 64, 2, 3, 132);
    check_true(t, heads_first == v18_makespan(0) && key_first == v18_makespan(1) && g24 == v18_makespan(24) &&
                      g25 == 122 && d128_first == 530 && d128_g4 == 528 && d128_g3 == 568,
               "version 20's model: d 64 heads first %.0f, groups of 1 %.0f, 24 %.0f, 25 %.0f; d 128 heads first %.0f, "
               "groups of 4 %.0f, of 3 %.0f", heads_first, key_first, g24, g25, d128_first, d128_g4, d128_g3);
    size_t l2 = (size_t)50 << 20;
    int h64 = v20_head_group(192, 8, 16, 2, 132, l2, (size_t)1024 * 64 * 8),
        h128 = v20_head_group(64, 32, 64, 2, 132, l2, (size_t)4096 * 128 * 8),
        emu = v20_head_group(3, 3, 5, 2, 2, (size_t)1 << 20, (size_t)260 * 64 * 8),
        emu128 = v20_head_group(3, 3, 5, 2, 2, (size_t)1 << 20, (size_t)260 * 128 * 8),
        full = v20_head_group(192, 8, 16, 0, 132, l2, (size_t)1024 * 64 * 8),
        again = v20_head_group(192, 8, 16, 2, 132, l2, (size_t)1024 * 64 * 8);
    int r19, s19, r20, s20, r19b, s19b, r20b, s20b;
    const char *log = "bench/logs/s21-ptxas/ptxas-v20.txt";
    ptxas_v7(log, "13__nv_bfloat16Li64ELi2ELb1ELb1ELb1ELb0ELb1ELb0E", &r19, &s19);
    ptxas_v7(log, "13__nv_bfloat16Li64ELi2ELb1ELb1ELb1ELb0ELb1ELb1E", &r20, &s20);
    ptxas_v7(log, "13__nv_bfloat16Li128ELi2ELb1ELb1ELb0ELb0ELb1ELb0E", &r19b, &s19b);
    ptxas_v7(log, "13__nv_bfloat16Li128ELi2ELb1ELb1ELb0ELb0ELb1ELb1E", &r20b, &s20b);
    check_true(t, r19 == 204 && r20 == 209 && s19 == 0 && s20 == 0 && r19b == 255 && r20b == 255 && s19b == 16 &&
                      s20b == 60,
               "ptxas, bf16: version 20's backward kernel %d registers at d 64 (version 19's %d), no spill; at d 128 %d "
               "bytes spilled (version 19's %d)", r20, r19, s20b, s19b);
    check_true(t, h64 == 24 && h128 == 4 && emu == 2 && emu128 == 1 && full == 33 && again == 24,
               "version 20's groups: %d heads at d 64 and %d at d 128 on an H100; %d and %d in the emulator's case; "
               "%d not causal (every order ties: the largest within a third of the cache); %d asked again", h64, h128,
               emu, emu128, full, again);
}

/* Version 21 (section "Version 21"): at B 16, H 12, T 1,024, d 64 on 132 SMs, 1,536 query tiles (8 a head, the
 * longest, 8 key tiles, first) in rounds of 132, each round the other way round (the kernel's tile_of): every block
 * has 11 or 12 tiles and 52 or 53 key tiles (52.4 even); rounds all one way 48 to 56; the old order's blocks by
 * version 18's model (a block's ends one key tile more) finish at 69, version 21's, its ends but the last hidden, at
 * most 53 + 1; version 22's, a head's tiles side by side, 46 to 54 key tiles a block. */
static void test_v21(Check *t) {
    enum { SMS = 132, BNH = 192, NQB = 8 };
    int ntiles = NQB * BNH, lo = 1 << 30, hi = 0, clo = 1 << 30, chi = 0, olo = 1 << 30, ohi = 0, total = 0;
    for (int p = 0; p < SMS; p++) {
        int keys = 0, tiles = 0, one_way = 0;
        for (int i = 0;; i++) {
            int tile = i * SMS + (i % 2 ? SMS - 1 - p : p), straight = i * SMS + p;
            if (straight < ntiles) one_way += NQB - straight / BNH;
            if (tile >= ntiles) break;
            keys += NQB - tile / BNH, tiles++;   /* query block NQB - 1 - tile / BNH has that many key tiles */
        }
        lo = keys < lo ? keys : lo, hi = keys > hi ? keys : hi, clo = tiles < clo ? tiles : clo;
        chi = tiles > chi ? tiles : chi, olo = one_way < olo ? one_way : olo, ohi = one_way > ohi ? one_way : ohi;
        total += keys;
    }
    double old = v20_makespan(BNH, NQB, NQB, 1, 1, SMS), even = (double)total / SMS, sm[SMS] = {0}, lpt = 0;
    for (int tile = 0; tile < ntiles; tile++) {   /* the tiles longest first, each to the SM that frees first */
        int first = 0;
        for (int p = 1; p < SMS; p++) first = sm[p] < sm[first] ? p : first;
        sm[first] += NQB - tile / BNH + 1, lpt = sm[first] > lpt ? sm[first] : lpt;
    }
    double bare[SMS] = {0}, lpt0 = 0;   /* the same with no cost for a tile's start and finish */
    for (int tile = 0; tile < ntiles; tile++) {
        int first = 0;
        for (int p = 1; p < SMS; p++) first = bare[p] < bare[first] ? p : first;
        bare[first] += NQB - tile / BNH, lpt0 = bare[first] > lpt0 ? bare[first] : lpt0;
    }
    int ends_lo = 1 << 30, ends_hi = 0;   /* the snake's rounds with every tile's start and finish one key tile */
    for (int p = 0; p < SMS; p++) {
        int sum = 0;
        for (int i = 0, tile = p; tile < ntiles; i++, tile = i * SMS + (i % 2 ? SMS - 1 - p : p)) sum += NQB - tile / BNH + 1;
        ends_lo = sum < ends_lo ? sum : ends_lo, ends_hi = sum > ends_hi ? sum : ends_hi;
    }
    int lo22 = 1 << 30, hi22 = 0, heads = 0, seen[BNH] = {0};   /* version 22: tile t is query block t % NQB of head t / NQB */
    for (int p = 0; p < SMS; p++) {
        int sum = 0;
        for (int i = 0, tile = p; tile < ntiles; i++, tile = i * SMS + (i % 2 ? SMS - 1 - p : p)) sum += NQB - tile % NQB;
        lo22 = sum < lo22 ? sum : lo22, hi22 = sum > hi22 ? sum : hi22;
        heads += !seen[p / NQB]++;   /* the heads of the first round's tiles (version 21's: 132, one a tile) */
    }
    int second8 = 0, second7 = 0;   /* the second round, tiles 132 to 263: 60 of eight key tiles, 72 of seven */
    for (int tile = SMS; tile < 2 * SMS; tile++) second8 += NQB - tile / BNH == 8, second7 += NQB - tile / BNH == 7;
    check_true(t, second8 == 60 && second7 == 72, "version 21's second round: %d tiles of 8 key tiles, %d of 7", second8,
               second7);
    check_true(t, lo22 == 46 && hi22 == 54 && heads == 17,
               "version 22's tiles: %d to %d key tiles a block; the first round's 132 tiles from %d heads", lo22, hi22,
               heads);
    check_true(t, total == 6912 && lo == 52 && hi == 53 && clo == 11 && chi == 12 && olo == 48 && ohi == 56 &&
                      fabs(even - 52.36) < 0.01 && old == 69 && lpt == 65 && ends_lo == 63 && ends_hi == 65 &&
                      hi + 1 == 54 && lpt0 == 53,
               "version 21's tiles: %d to %d key tiles a block (%d to %d tiles; evenly %.2f), rounds one way %d to %d; "
               "by version 18's model (a tile's start and finish one key tile) the old order %.0f, the tiles longest "
               "first to the SM that frees first %.0f (with no ends %.0f), the snake %d to %d, its ends hidden but the "
               "last %d", lo, hi, clo, chi, even, olo, ohi, old, lpt, lpt0, ends_lo, ends_hi, hi + 1);
    int r64, s64, r128, s128;
    bool x64, x128;
    ptxas_v9("bench/logs/s22-ptxas/ptxas-v21.txt", "Li64ELi2ELi128ELi64ELi21E", &r64, &s64, &x64);
    ptxas_v9("bench/logs/s22-ptxas/ptxas-v21.txt", "Li128ELi2ELi128ELi128ELi21E", &r128, &s128, &x128);
    int q64, t64, q128, t128;
    ptxas_v9("bench/logs/s22-ptxas/ptxas-v21.txt", "Li64ELi2ELi128ELi64ELi22E", &q64, &t64, &x64);
    ptxas_v9("bench/logs/s22-ptxas/ptxas-v21.txt", "Li128ELi2ELi128ELi128ELi22E", &q128, &t128, &x128);
    check_true(t, r64 == 168 && r128 == 168 && s64 == 0 && s128 == 0 && q64 == 168 && q128 == 168 && t64 == 0 &&
                      t128 == 0 && !x128,
               "ptxas, bf16: versions 21 and 22's forward kernels at the launch's %d and %d registers, %d, %d, %d and %d "
               "bytes spilled, the products %s", r64, r128, s64, s128, t64, t128, x128 ? "serialized" : "not serialized");
}

/* Spearman's rank correlation of x and y (n values; ties get their mean rank) */
static double spearman(const double *x, const double *y, int n) {
    double rx[64], ry[64], mx = 0, my = 0, sxy = 0, sxx = 0, syy = 0;
    for (int i = 0; i < n; i++) {
        double lx = 0, ex = 0, ly = 0, ey = 0;
        for (int j = 0; j < n; j++) lx += x[j] < x[i], ex += x[j] == x[i], ly += y[j] < y[i], ey += y[j] == y[i];
        rx[i] = lx + (ex - 1) / 2, ry[i] = ly + (ey - 1) / 2, mx += rx[i] / n, my += ry[i] / n;
    }
    for (int i = 0; i < n; i++)
        sxy += (rx[i] - mx) * (ry[i] - my), sxx += (rx[i] - mx) * (rx[i] - mx), syy += (ry[i] - my) * (ry[i] - my);
    return sxy / sqrt(sxx * syy);
}

/* Versions 19 and 20's numbers the text computes from the data: the rank correlation of the model's finishing
 * time (sooner first) with the measured TFLOP/s over the forced sizes of ch12-groups.tsv, 0.94 at d 128 and 0.35
 * at d 64; and version 19's profile against version 17's: 3,538,944 more shared-memory wavefronts (110,592 warp
 * tiles x 8 stores x 4) and 7,077,888 fewer global sectors (x 8 atomics x 8 sectors). */
static void test_v20_data(Check *t) {
    char err[256], *p = xasprintf("%s/figures/data/ch12-groups.tsv", book_root());
    TsvTable *d = tsv_load(p, err, sizeof err);
    double rho[2] = {NAN, NAN};
    const char *shapes[2] = {"B16H12T1024d64", "B4H16T4096d128"};
    for (int s = 0; s < 2 && d; s++) {
        double m[64], f[64];
        int n = 0;
        for (size_t r = 0; r < tsv_rows(d) && n < 64; r++)
            if (!strcmp(tsv_cell(d, r, tsv_col(d, "shape")), shapes[s]) && tsv_num(d, r, tsv_col(d, "hg")) > 0)
                m[n] = -tsv_num(d, r, tsv_col(d, "model")), f[n++] = tsv_num(d, r, tsv_col(d, "tflops"));
        rho[s] = spearman(m, f, n);
    }
    check_true(t, d && fabs(rho[0] - 0.35) < 0.005 && fabs(rho[1] - 0.94) < 0.005,
               "ch12-groups: the model's rank correlation with the measured step %.2f at d 64, %.2f at d 128%s%s",
               rho[0], rho[1], d ? "" : ": ", d ? "" : err);
    tsv_free(d), free(p);
    char *p17 = xasprintf("%s/figures/data/ch12-ncu-bwd-v17-d64-s19.tsv", book_root()),
         *p19 = xasprintf("%s/figures/data/ch12-ncu-bwd-v19-d64-s21.tsv", book_root());
    TsvTable *a = tsv_load(p17, err, sizeof err), *b = a ? tsv_load(p19, err, sizeof err) : NULL;
    double wf = b ? ncu_metric(b, "shared_wavefronts") - ncu_metric(a, "shared_wavefronts") : NAN,
           gs = b ? ncu_metric(a, "global_sectors") - ncu_metric(b, "global_sectors") : NAN;
    long long tiles = 1536LL * 2 * 4 * 9;   /* blocks x warpgroups x warps x query tiles a block on average */
    check_true(t, b && tiles == 110592 && wf == tiles * 8 * 4 && wf == 3538944 && gs == tiles * 8 * 8 && gs == 7077888,
               "version 19 against 17: %.0f more shared wavefronts (%lld warp tiles x 8 stores x 4), %.0f fewer global "
               "sectors (x 8 atomics x 8)%s%s", wf, tiles, gs, b ? "" : ": ", b ? "" : err);
    tsv_free(a), tsv_free(b), free(p17), free(p19);
}

/* the median of a column (ms, tflops) over the rows of an AB data file with the shape, version and pass given */
static double ab_median(TsvTable *d, const char *shape, int version, const char *pass, const char *col) {
    double v[32];
    int n = 0;
    for (size_t r = 0; d && r < tsv_rows(d) && n < 32; r++)
        if (!strcmp(tsv_cell(d, r, tsv_col(d, "shape")), shape) && tsv_num(d, r, tsv_col(d, "version")) == version &&
            !strcmp(tsv_cell(d, r, tsv_col(d, "pass")), pass))
            v[n++] = tsv_num(d, r, tsv_col(d, col));
    if (!n) return NAN;
    qsort(v, (size_t)n, sizeof v[0], cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The numbers version 21's section computes from its data: versions 21 and 22's forward passes 27% and 32% faster
 * than version 20's at d 64 (the model's bound 69/54 = 1.28), at d 128 version 21 level (within 1%) and version 22
 * 8% faster (16.5 key tiles a block there); the forward pass a sixth of the d 64 step; the global sectors fallen by
 * twice the queries' 786,432. */
static void test_v21_data(Check *t) {
    char err[256], *p = xasprintf("%s/figures/data/ch12-speed-ab-s22b.tsv", book_root());
    TsvTable *d = tsv_load(p, err, sizeof err);
    const char *s64 = "B16H12T1024d64", *s128 = "B4H16T4096d128";
    double v20 = ab_median(d, s64, 20, "fwd", "tflops"), r21 = ab_median(d, s64, 21, "fwd", "tflops") / v20,
           r22 = ab_median(d, s64, 22, "fwd", "tflops") / v20, w20 = ab_median(d, s128, 20, "fwd", "tflops"),
           q21 = ab_median(d, s128, 21, "fwd", "tflops") / w20, q22 = ab_median(d, s128, 22, "fwd", "tflops") / w20,
           share = (1 / ab_median(d, s64, 22, "fwd", "tflops")) / (3.5 / ab_median(d, s64, 22, "fwd+bwd", "tflops")), keys128 = 0;
    for (int q = 1; q <= 32; q++) keys128 += q / 32.0;
    check_true(t, d && fabs(r21 - 1.27) < 0.005 && fabs(r22 - 1.32) < 0.005 && fabs(69.0 / 54 - 1.28) < 0.005 &&
                      fabs(q21 - 1) < 0.01 && fabs(q22 - 1.08) < 0.005 && keys128 == 16.5 && share > 1 / 6.5 &&
                      share < 1 / 5.5,
               "versions 21 and 22 against 20 alone: forward %.3fx and %.3fx at d 64 (the model's bound %.3f), %.3fx "
               "and %.3fx at d 128 (%.1f key tiles a block); the forward pass %.3f of the d 64 step%s%s", r21, r22,
               69.0 / 54, q21, q22, keys128, share, d ? "" : ": ", d ? "" : err);
    tsv_free(d), free(p);
    char *p15 = xasprintf("%s/figures/data/ch12-ncu-fwd-v15-d64-s22.tsv", book_root()),
         *p21 = xasprintf("%s/figures/data/ch12-ncu-fwd-v21-d64-s22.tsv", book_root());
    TsvTable *a = tsv_load(p15, err, sizeof err), *b = a ? tsv_load(p21, err, sizeof err) : NULL;
    double gs = b ? ncu_metric(a, "global_sectors") - ncu_metric(b, "global_sectors") : NAN;
    long long q = 1536LL * 128 * 128 / 32;
    check_true(t, b && q == 786432 && gs == 2 * q, "version 21's global sectors %.0f fewer than version 15's (the queries' "
               "%lld, twice)%s%s", gs, q, b ? "" : ": ", b ? "" : err);
    tsv_free(a), tsv_free(b), free(p15), free(p21);
}

/* Versions 23 and 24's arithmetic in the prose: the elements and bytes the kernels around the backward pass
 * move at the d 64 shape, their time at the H100's 3.35 TB/s; the shuffles of a row's partial sums; version 24's
 * shared memory (v24_dq_at's terms, recomputed) against the 232,448 bytes a block may have. */
static void test_v23(Check *t) {
    long long n = 16LL * 12 * 1024 * 64;
    double mb16 = n * 2 / 1e6, bytes = 2 * n * 2 + n * 4 + (n * 4 + n * 2 + n * 2);
    int steps64 = 0, steps128 = 0;
    for (int m = 64 / 8 / 2; m > 0; m /= 2) steps64++;
    for (int m = 128 / 8 / 2; m > 0; m /= 2) steps128++;
    size_t at = ((size_t)(4 * 128 + 2 * 3 * 64) * 64 * 2 + (size_t)128 * 64 * 2 + 2 * 3 * 64 * 4 + 2 * 32 + 16 +
                 (size_t)4 * 128 * 72 * 2 + 1023) / 1024 * 1024,
           smem = at + (size_t)64 * 64 * 4;
    check_true(t, n == 12582912 && fabs(mb16 - 25.2) < 0.05 && fabs(bytes / 1e6 - 201.3) < 0.05 &&
                      fabs(bytes / 3.35e12 * 1e6 - 60) < 0.5 && steps64 == 3 && steps128 == 4 && smem == 223232 &&
                      smem <= 232448,
               "version 23: %lld elements, %.1f MB a 16-bit tensor, %.1f MB moved, %.1f us at 3.35 TB/s; %d and %d "
               "shuffles; version 24's shared memory %zu bytes", n, mb16, bytes / 1e6, bytes / 3.35e12 * 1e6,
               steps64, steps128, smem);
}


/* What version 23's section reads from its data: the d 64 step 11% faster than version 22's (the medians); at
 * d 128 2.7 times the elements a tensor and a backward pass (the step's time less the forward pass's) some six
 * times as long as at d 64. */
/* Versions 25 to 27's numbers (sections "Version 25" to "Version 27"): version 25's shared memory at d 64 (version
 * 20's less its one tile of dQ, and two), a stage's bytes for version 26's barrier, the L2 cache's reductions nearly
 * doubled, version 26's step 9% faster than version 23's by medians and both its runs past 200 (s24) */
static void test_v25_data(Check *t) {
    size_t v7 = ((size_t)(2 * 64 * 2 + 2 * 3 * 64) * 64 * 2 + (size_t)64 * 2 * 64 * 2 + 2 * 3 * 64 * 4 +
                 (size_t)2 * 128 * 72 * 2 + 1023) / 1024 * 1024,
           v25 = v7 + 2 * 64 * 64 * 4, stage = 2 * 64 * 64 * 2 + 2 * 64 * 4;
    check_true(t, v25 == 169984 && v25 + 48 <= 232448 && stage == 16896,
               "version 25: %zu bytes of shared memory at d 64 (version 26 adds six barriers); a stage %zu bytes", v25,
               stage);
    char err[256], *pa = xasprintf("%s/figures/data/ch12-speed-ab-s24.tsv", book_root()),
                   *pn = xasprintf("%s/figures/data/ch12-ncu-bwd-kernels-s24.tsv", book_root());
    TsvTable *a = tsv_load(pa, err, sizeof err), *n = a ? tsv_load(pn, err, sizeof err) : NULL;
    const char *s64 = "B16H12T1024d64";
    double r = ab_median(a, s64, 26, "fwd+bwd", "tflops") / ab_median(a, s64, 23, "fwd+bwd", "tflops"), low = INFINITY;
    for (size_t i = 0; a && i < tsv_rows(a); i++)
        if (tsv_num(a, i, tsv_col(a, "version")) == 26 && !strcmp(tsv_cell(a, i, tsv_col(a, "shape")), s64) &&
            !strcmp(tsv_cell(a, i, tsv_col(a, "pass")), "fwd+bwd"))
            low = fmin(low, tsv_num(a, i, tsv_col(a, "tflops")));
    double red[28] = {0};
    for (size_t i = 0; n && i < tsv_rows(n); i++) {
        int v = (int)tsv_num(n, i, tsv_col(n, "version"));
        if (v >= 0 && v < 28 && tsv_num(n, i, tsv_col(n, "launch")) == 2 &&
            !strcmp(tsv_cell(n, i, tsv_col(n, "metric")), "lts__t_sectors_op_red.sum"))
            red[v] = tsv_num(n, i, tsv_col(n, "value"));
    }
    /* version 25's step against version 23's at d 64 inside the spread of the d 128 rows (one kernel for all four) */
    double lo128 = INFINITY, hi128 = 0, gap = 1 - ab_median(a, s64, 25, "fwd+bwd", "tflops") / ab_median(a, s64, 23, "fwd+bwd", "tflops");
    for (size_t i = 0; a && i < tsv_rows(a); i++)
        if (!strcmp(tsv_cell(a, i, tsv_col(a, "shape")), "B4H16T4096d128") && !strcmp(tsv_cell(a, i, tsv_col(a, "pass")), "fwd+bwd"))
            lo128 = fmin(lo128, tsv_num(a, i, tsv_col(a, "tflops"))), hi128 = fmax(hi128, tsv_num(a, i, tsv_col(a, "tflops")));
    check_true(t, a && gap > 0 && gap < hi128 / lo128 - 1, "version 25's step %.3f below version 23's at d 64, the d 128 rows "
               "spread over %.3f", gap, hi128 / lo128 - 1);
    check_true(t, n && fabs(r - 1.09) < 0.005 && low > 200 && red[25] / red[23] > 1.85 && red[25] / red[23] < 2,
               "version 26's step %.3fx version 23's by medians, its slower run %.1f TFLOP/s; version 25's reductions "
               "%.2fx version 23's%s%s", r, low, red[25] / red[23], n ? "" : ": ", n ? "" : err);
    tsv_free(a), tsv_free(n), free(pa), free(pn);
}

static void test_v23_data(Check *t) {
    char err[256], *p = xasprintf("%s/figures/data/ch12-speed-ab-s23.tsv", book_root());
    TsvTable *d = tsv_load(p, err, sizeof err);
    const char *s64 = "B16H12T1024d64", *s128 = "B4H16T4096d128";
    double r = ab_median(d, s64, 23, "fwd+bwd", "tflops") / ab_median(d, s64, 22, "fwd+bwd", "tflops"),
           b64 = ab_median(d, s64, 23, "fwd+bwd", "ms") - ab_median(d, s64, 23, "fwd", "ms"),
           b128 = ab_median(d, s128, 23, "fwd+bwd", "ms") - ab_median(d, s128, 23, "fwd", "ms"),
           el = 4.0 * 16 * 4096 * 128 / (16.0 * 12 * 1024 * 64);
    check_true(t, d && fabs(r - 1.11) < 0.005 && fabs(el - 2.7) < 0.05 && b128 / b64 > 5.5 && b128 / b64 < 6.5,
               "version 23's step %.3fx version 22's at d 64; at d 128 %.2fx the elements and a backward pass %.2fx as "
               "long%s%s", r, el, b128 / b64, d ? "" : ": ", d ? "" : err);
    tsv_free(d), free(p);
    /* version 22's kernels around the main one: its backward pass (s23's medians) less the main kernel's time (s23b's
     * profile) about 127 us, more than a quarter of the backward pass, 23% of the step; the d 64 step of versions
     * 23 and 24 in the last call (s23c) 7% short of 200 */
    char *pa = xasprintf("%s/figures/data/ch12-speed-ab-s23.tsv", book_root()),
         *pn = xasprintf("%s/figures/data/ch12-ncu-bwd-kernels-s23b.tsv", book_root()),
         *pc = xasprintf("%s/figures/data/ch12-speed-ab-s23c.tsv", book_root());
    TsvTable *a = tsv_load(pa, err, sizeof err), *n = a ? tsv_load(pn, err, sizeof err) : NULL,
             *c = n ? tsv_load(pc, err, sizeof err) : NULL;
    double step = ab_median(a, s64, 22, "fwd+bwd", "ms") * 1000, bwd = step - ab_median(a, s64, 22, "fwd", "ms") * 1000,
           main_us = NAN, g23 = 200 / ab_median(c, s64, 23, "fwd+bwd", "tflops"),
           g24 = 200 / ab_median(c, s64, 24, "fwd+bwd", "tflops");
    for (size_t i = 0; n && i < tsv_rows(n); i++)
        if (tsv_num(n, i, tsv_col(n, "version")) == 23 && tsv_num(n, i, tsv_col(n, "launch")) == 1 &&
            !strcmp(tsv_cell(n, i, tsv_col(n, "metric")), "gpu__time_duration.sum"))
            main_us = tsv_num(n, i, tsv_col(n, "value"));
    double rest = bwd - main_us;
    check_true(t, c && fabs(bwd - 450) < 2 && fabs(rest - 127) < 1.5 && rest / bwd > 0.25 && fabs(rest / step - 0.23) < 0.005 &&
                      fabs(g23 - 1.07) < 0.005 && fabs(g24 - 1.07) < 0.01,
               "version 22's backward pass %.1f us, %.1f of it outside the main kernel (%.3f of it, %.3f of the step); "
               "200 is %.3fx and %.3fx versions 23 and 24's steps%s%s", bwd, rest, rest / bwd, rest / step, g23, g24,
               c ? "" : ": ", c ? "" : err);
    tsv_free(a), tsv_free(n), tsv_free(c), free(pa), free(pn), free(pc);
    /* version 24's section: version 20's shared memory at d 64 (v7_dq_at's terms, recomputed, and 16 KB of dQ), two
     * blocks past an SM's 228 KB; its first tree 8.5% more instructions and 10% slower than version 23's main kernel
     * (s23), the second's busiest unit a third busy (s23b) */
    size_t v20 = ((size_t)(2 * 64 * 2 + 2 * 3 * 64) * 64 * 2 + (size_t)64 * 2 * 64 * 2 + 2 * 3 * 64 * 4 +
                  (size_t)2 * 128 * 72 * 2 + 1023) / 1024 * 1024 + 64 * 64 * 4;
    char *p1 = xasprintf("%s/figures/data/ch12-ncu-bwd-kernels-s23.tsv", book_root()),
         *p2 = xasprintf("%s/figures/data/ch12-ncu-bwd-kernels-s23b.tsv", book_root());
    TsvTable *k1 = tsv_load(p1, err, sizeof err), *k2 = k1 ? tsv_load(p2, err, sizeof err) : NULL;
    double m[2][2][2] = {{{NAN}}};   /* [file][version 23, 24][time, instructions or throughput] */
    for (int f = 0; f < 2; f++)
        for (size_t i = 0; (f ? k2 : k1) && i < tsv_rows(f ? k2 : k1); i++) {
            TsvTable *k = f ? k2 : k1;
            int v = (int)tsv_num(k, i, tsv_col(k, "version")), launch = (int)tsv_num(k, i, tsv_col(k, "launch"));
            const char *metric = tsv_cell(k, i, tsv_col(k, "metric"));
            if ((v != 23 && v != 24) || launch != (f ? 1 : 2)) continue;
            if (!strcmp(metric, "gpu__time_duration.sum")) m[f][v - 23][0] = tsv_num(k, i, tsv_col(k, "value"));
            if (!strcmp(metric, f ? "sm__throughput.avg.pct_of_peak_sustained_elapsed" : "sm__inst_executed.sum"))
                m[f][v - 23][1] = tsv_num(k, i, tsv_col(k, "value"));
        }
    double inst = m[0][1][1] / m[0][0][1], slow = m[0][1][0] / m[0][0][0];
    check_true(t, k2 && v20 == 153600 && 2 * v20 > 228 * 1024 && fabs(inst - 1.085) < 0.005 && fabs(slow - 1.10) < 0.01 &&
                      m[1][0][1] > 30 && m[1][0][1] < 37 && m[1][1][1] > 30 && m[1][1][1] < 37,
               "version 20's shared memory %zu bytes; version 24's first tree %.3fx the instructions, %.3fx the time; "
               "the SMs' busiest unit at %.1f%% and %.1f%%%s%s", v20, inst, slow, m[1][1][1], m[1][0][1],
               k2 ? "" : ": ", k2 ? "" : err);
    tsv_free(k1), tsv_free(k2), free(p1), free(p2);
}

/* Exercise 20's answers: lane 21's partners at d 128 (29, 17, 23, 20), all in its group of 16; the two kernels'
 * bytes at B 4, H 16, T 4,096, d 128 and their time at 3.35 TB/s; version 24's buffers at d 128 past 232,448 bytes. */
static void test_ex20(Check *t) {
    int want[4] = {29, 17, 23, 20}, k = 0, ok = 1;
    for (int m = 128 / 16; m > 0; m /= 2, k++) ok &= (21 ^ m) == want[k] && (21 ^ m) / 16 == 21 / 16;
    long long n = 4LL * 16 * 4096 * 128, bytes = n * (2 + 2 + 4 + 4 + 2 + 2);
    long long smem = 4LL * 128 * 128 * 2 + 6LL * 64 * 128 * 2 + 128LL * 64 * 2;
    check_true(t, ok && k == 4 && n == 33554432 && bytes == 536870912 && fabs(bytes / 3.35e12 * 1e6 - 160) < 0.5 &&
                      smem == 245760 && smem > 232448,
               "exercise 20: partners of lane 21 found: %s; %lld bytes, %.1f us; version 24 at d 128 %lld bytes",
               ok ? "yes" : "no", bytes, bytes / 3.35e12 * 1e6, smem);
}

/* Exercise 19's answers: block 5's tiles at B 16, H 12, T 1,024 on 132 SMs and their key tiles in versions 21 and 22
 * (52 and 48); the emulator's case in version 22; two consecutive rounds give 9 key tiles in version 22. */
static void test_ex19(Check *t) {
    int want[11] = {5, 258, 269, 522, 533, 786, 797, 1050, 1061, 1314, 1325}, n = 0, ok = 1, k21 = 0, k22 = 0;
    for (int i = 0;; i++) {
        int tile = i * 132 + (i % 2 ? 131 - 5 : 5);
        if (tile >= 1536) break;
        ok &= n < 11 && tile == want[n], n++;
        k21 += 8 - tile / 192, k22 += 8 - tile % 8;
    }
    int emu[2][5] = {{0}}, ne[2] = {0}, pairs = 1;   /* (head, query block) as head * 10 + query block */
    for (int p = 0; p < 2; p++)
        for (int i = 0;; i++) {
            int tile = i * 2 + (i % 2 ? 1 - p : p);
            if (tile >= 9) break;
            emu[p][ne[p]++] = tile / 3 * 10 + (2 - tile % 3);
        }
    for (int p = 0; p < 132; p++)
        for (int i = 0; i + 1 < 11; i += 2) {
            int t1 = i * 132 + (i % 2 ? 131 - p : p), t2 = (i + 1) * 132 + ((i + 1) % 2 ? 131 - p : p);
            pairs &= (8 - t1 % 8) + (8 - t2 % 8) == 9;
        }
    int e0[5] = {2, 12, 11, 21, 20}, e1[4] = {1, 0, 10, 22};
    check_true(t, ok && n == 11 && k21 == 52 && k22 == 48 && ne[0] == 5 && ne[1] == 4 && !memcmp(emu[0], e0, sizeof e0) &&
                      !memcmp(emu[1], e1, sizeof e1) && pairs,
               "exercise 19: block 5 has %d tiles, %d key tiles in version 21 and %d in version 22; the emulator's "
               "blocks %d and %d tiles; two rounds give 9 key tiles: %s", n, k21, k22, ne[0], ne[1], pairs ? "yes" : "no");
}

/* Exercise 18's answers: block 9 of five heads of three key blocks in groups of two; the launch's choice at d 128 on a
 * GPU of 132 SMs and 60 MiB of L2 (the bound allows 5; the model's times for 1 to 5) */
static void test_ex18_groups(Check *t) {
    int bh, kb;
    v20_block(9, 5, 3, 2, &bh, &kb);
    double m[5];
    for (int h = 1; h <= 5; h++) m[h - 1] = v20_makespan(64, 32, 64, 2, h, 132);
    int pick = v20_head_group(64, 32, 64, 2, 132, (size_t)60 << 20, (size_t)4096 * 128 * 8);
    check_true(t, bh == 3 && kb == 1 && m[0] == 564 && m[1] == 556 && m[2] == 568 && m[3] == 528 && m[4] == 550 &&
                      pick == 4 && ((size_t)60 << 20) / 3 / ((size_t)4096 * 128 * 8) == 5,
               "exercise 18: block 9 is head %d's key block %d; at 60 MiB the bound allows 5, the model's times %.0f %.0f "
               "%.0f %.0f %.0f, the launch takes %d", bh, kb, m[0], m[1], m[2], m[3], m[4], pick);
}

static void test_v18(Check *t) {
    long head = 1024L * 64 * 2 * 2 + 1024L * 64 * 4, heads = 16 * 12, kb = 1024 / 128, sms = 132;
    long side = head * sms / kb * 2;   /* side: twice the bytes of 16.5 heads */
    check_true(t, head == 512 * 1024 && head * sms == 66L << 20 &&
                      (66L << 20) > (60L << 20) && side == 2 * 8448L * 1024 && 2 * 256 * 208 > 65536 &&
                      heads * kb == 1536 && heads > sms && (double)heads / sms > 1.45 && (double)heads / sms < 1.46,
               "version 18: a head's shared rows %ld bytes (512 KiB); 132 heads %ld MiB, over 60 MiB; 16.5 heads %.2f MiB; "
               "the next key block 192 blocks (1.45 rounds) on", head, head * sms >> 20, side / 2.0 / (1 << 20));
}

static void test_v17(Check *t) {
    size_t v14_64 = v17_smem(64, 2, false), v14_128 = v17_smem(128, 2, false), s64 = v17_smem(64, 3, true),
           s128 = v17_smem(128, 3, true), stage128 = v17_smem(128, 3, false), rows128 = v17_smem(128, 2, true),
           limit = 227 * 1024;
    check_true(t, v14_64 == 82944 && v14_128 == 148480 && s64 == 136704 && 2 * s64 == 267 * 1024 && s64 <= limit,
               "version 17 at d 64: %zu bytes of shared memory (133.5 KiB; version 14's %zu), within 227 KiB", s64, v14_64);
    check_true(t, s128 == 251392 && 2 * s128 == 491 * 1024 && s128 > limit && stage128 == 181760 && stage128 <= limit &&
                      rows128 == 218112 && rows128 <= limit,
               "version 17 at d 128 would take %zu bytes (245.5 KiB), over 227 KiB; the third stage alone %zu, the old "
               "rows alone %zu, each within", s128, stage128, rows128);
    size_t old_at = (size_t)(2 * 128 + 6 * 64) * 64 * 2 + 128 * 64 * 2 + 6 * 64 * 4;   /* bytes before the old rows */
    check_true(t, old_at == 99840 && old_at % 16 == 0 && (64 + 8) * 2 == 144 && 144 % 16 == 0 &&
                      (2 * 128 * 64 * 2) % 1024 == 0 && (64 * 64 * 2) % 1024 == 0,
               "version 17's layout: the old rows at byte %zu and their rows of 144 bytes on 16-byte boundaries; the "
               "query stages (8 KiB each) on 1,024-byte ones", old_at);
    int b72 = banks_of_a_read(72), b64 = banks_of_a_read(64);
    check_true(t, b72 == 32 && b64 == 4, "epilogue reads of the old rows: %d banks at rows of 72 elements, %d at 64", b72,
               b64);
    int r14, s14, r17, s17;
    ptxas_v7("bench/logs/s19-ptxas/ptxas-v17.txt", "13__nv_bfloat16Li64ELi2ELb1ELb1ELb0E", &r14, &s14);
    ptxas_v7("bench/logs/s19-ptxas/ptxas-v17.txt", "13__nv_bfloat16Li64ELi2ELb1ELb1ELb1E", &r17, &s17);
    check_true(t, r14 == 203 && r17 == 206 && s14 == 0 && s17 == 0 && r17 <= 255,
               "ptxas, bf16 at d 64: version 17's backward kernel %d registers, %d bytes spilled; version 14's %d and %d",
               r17, s17, r14, s14);
}

/* Version 19's counts (section "Version 19"): the tile of dQ at byte 137,216 (version 17's 136,704 rounded
 * up to 1,024) and 153,600 bytes in all at d 64; at 148,480 (version 14's layout) and 181,248 at d 128, both
 * within 227 KiB; a warp's store of 8 bytes a lane into the swizzled tile, served as two halves of 16 lanes,
 * takes four wavefronts, eight unswizzled, two at best; a warpgroup's float2 atomics a tile at d 64, 1,024
 * (8 a thread); and ptxas: version 19's d 64 kernel no more registers than version 17's, neither spilling. */
static int v19_store_wavefronts(bool swizzled) {
    int total = 0;
    for (int half = 0; half < 2; half++) {
        int most = 0;
        for (int bank = 0; bank < 32; bank++) {
            int words[32], n = 0;   /* the distinct 4-byte words of this half in this bank */
            for (int lane = 16 * half; lane < 16 * half + 16; lane++) {
                int g = lane / 4, tig = lane % 4, row = g, col = 2 * tig;   /* column block t = 0 */
                int piece = col % 32 / 4, at = row * 128 + (swizzled ? piece ^ row % 8 : piece) * 16 + col % 4 * 4;
                for (int w = at / 4; w < at / 4 + 2; w++) {
                    bool dup = false;
                    for (int i = 0; i < n; i++) dup |= words[i] == w;
                    if (w % 32 == bank && !dup) words[n++] = w;
                }
            }
            if (n > most) most = n;
        }
        total += most;
    }
    return total;
}

static void test_v19(Check *t) {
    size_t at64 = (v17_smem(64, 3, true) + 1023) / 1024 * 1024, at128 = (v17_smem(128, 2, false) + 1023) / 1024 * 1024;
    size_t all64 = at64 + 64 * 64 * 4, all128 = at128 + 64 * 128 * 4, limit = 227 * 1024;
    check_true(t, at64 == 137216 && all64 == 153600 && all64 == 150 * 1024 && at128 == 148480 && all128 == 181248 &&
                      all128 == 177 * 1024 && all64 <= limit && all128 <= limit && at64 % 1024 == 0 && at128 % 1024 == 0,
               "version 19: dQ's tile at byte %zu, %zu bytes in all at d 64; at %zu, %zu in all at d 128; within 227 KiB",
               at64, all64, at128, all128);
    int sw = v19_store_wavefronts(true), plain = v19_store_wavefronts(false);
    check_true(t, sw == 4 && plain == 8, "version 19's stores of dQ: %d wavefronts a warp swizzled, %d unswizzled (2 at best)",
               sw, plain);
    int per_thread = 2 * (64 / 2) / 8;   /* two rows, DN / 8 column blocks, DN = d / 2 */
    check_true(t, per_thread == 8 && 128 * per_thread == 1024, "a warpgroup's float2 atomics a tile at d 64: %d a thread",
               per_thread);
    int r17, s17, r19, s19, r14, s14, r19b, s19b;
    const char *log = "bench/logs/s21-ptxas/ptxas-v19.txt";
    ptxas_v7(log, "13__nv_bfloat16Li64ELi2ELb1ELb1ELb1ELb0ELb0E", &r17, &s17);
    ptxas_v7(log, "13__nv_bfloat16Li64ELi2ELb1ELb1ELb1ELb0ELb1E", &r19, &s19);
    ptxas_v7(log, "13__nv_bfloat16Li128ELi2ELb1ELb1ELb0ELb0ELb0E", &r14, &s14);
    ptxas_v7(log, "13__nv_bfloat16Li128ELi2ELb1ELb1ELb0ELb0ELb1E", &r19b, &s19b);
    check_true(t, r19 <= r17 && s19 == 0 && s17 == 0 && r14 == 255 && r19b == 255 && s19b < s14,
               "ptxas, bf16: version 19's backward kernel %d registers at d 64 (version 17's %d), no spill; at d 128 %d "
               "and %d bytes spilled (version 14's %d and %d)", r19, r17, r19b, s19b, r14, s14);
}

/* @sec:ch12-v14, as the text says it: in the runs alone, version 14's step (fwd+bwd) faster than version 13's one
 * run and every run of version 12's at both shapes; its backward pass alone slower than FlashAttention-2's at d 64
 * and faster at d 128 (the sweep); in the sweeps, at d 128, version 13's forward rows (version 12's kernel) behind
 * version 12's by more than the runs alone put versions 12 and 14 apart (< 2%); in those runs version 14's forward
 * pass faster than version 12's in every run at d 64, 3.5% by the medians, the ranges overlapping at d 128; version
 * 14's step at d 128 near 300 (within 4%) in all seven of its measurements and at or above it in five; cuDNN ahead
 * in all four cells; the goals: met at d 128, short at d 64; more integer instructions in version 14's backward
 * kernel than in version 13's, and a warp to issue in more of its cycles. */
static void test_v14(Check *t) {
    char err[256], *pa = xasprintf("%s/figures/data/ch12-speed-s17.tsv", book_root()),
                   *pb = xasprintf("%s/figures/data/ch12-speed-s17b.tsv", book_root()),
                   *pt = xasprintf("%s/figures/data/ch12-speed-torch-s17.tsv", book_root()),
                   *pab = xasprintf("%s/figures/data/ch12-speed-ab-s17.tsv", book_root());
    TsvTable *a = tsv_load(pa, err, sizeof err), *b = a ? tsv_load(pb, err, sizeof err) : NULL,
             *tt = b ? tsv_load(pt, err, sizeof err) : NULL, *ab = tt ? tsv_load(pab, err, sizeof err) : NULL;
    const char *d64 = "B16H12T1024d64", *d128 = "B4H16T4096d128", *shapes[] = {d64, d128};
    bool step = true;   /* the runs alone: version 14's slowest step above version 13's one run and version 12's fastest */
    for (int h = 0; h < 2; h++) {
        AbRuns s12 = ab_runs(ab, shapes[h], "12", "fwd+bwd"), s13 = ab_runs(ab, shapes[h], "13", "fwd+bwd"),
               s14 = ab_runs(ab, shapes[h], "14", "fwd+bwd");
        step = step && s13.n == 1 && s14.n == 5 && s14.lo > s13.hi && s14.lo > s12.hi;
    }
    check_true(t, ab && step, "version 14's step faster than version 13's (its one run) and version 12's in every run "
               "alone, at both shapes%s%s", ab ? "" : ": ", ab ? "" : err);
    /* the step at d 64 level with FlashAttention-2's only through the forward pass: the backward alone (step less
     * forward) slower than FlashAttention-2's at d 64 and faster at d 128, in the sweep */
    double ms14[2], msfa[2];
    for (int h = 0; h < 2; h++) {
        double st = NAN, fw = NAN, fst = NAN, ffw = NAN;
        for (size_t i = 0; a && i < tsv_rows(a); i++)
            if (!strcmp(tsv_cell(a, i, tsv_col(a, "shape")), shapes[h]) && !strcmp(tsv_cell(a, i, tsv_col(a, "version")), "14")) {
                if (!strcmp(tsv_cell(a, i, tsv_col(a, "pass")), "fwd")) fw = tsv_num(a, i, tsv_col(a, "ms"));
                else st = tsv_num(a, i, tsv_col(a, "ms"));
            }
        for (size_t i = 0; tt && i < tsv_rows(tt); i++)
            if (!strcmp(tsv_cell(tt, i, tsv_col(tt, "shape")), shapes[h]) && !strcmp(tsv_cell(tt, i, tsv_col(tt, "backend")), "flash")) {
                if (!strcmp(tsv_cell(tt, i, tsv_col(tt, "pass")), "fwd")) ffw = tsv_num(tt, i, tsv_col(tt, "ms"));
                else fst = tsv_num(tt, i, tsv_col(tt, "ms"));
            }
        ms14[h] = st - fw, msfa[h] = fst - ffw;
    }
    check_true(t, ms14[0] > msfa[0] && ms14[1] < msfa[1], "the backward pass alone: version 14 %.3f ms against "
               "FlashAttention-2's %.3f at d 64 (slower), %.3f against %.3f at d 128 (faster)", ms14[0], msfa[0], ms14[1],
               msfa[1]);
    AbRuns f12 = ab_runs(ab, d64, "12", "fwd"), f14 = ab_runs(ab, d64, "14", "fwd");
    AbRuns g12 = ab_runs(ab, d128, "12", "fwd"), g14 = ab_runs(ab, d128, "14", "fwd");
    double gain = f14.median / f12.median - 1, apart = fabs(g14.median / g12.median - 1);
    double late_a = 1 - speed_cell(a, d128, "version", "13", "fwd") / speed_cell(a, d128, "version", "12", "fwd");
    double late_b = 1 - speed_cell(b, d128, "version", "13", "fwd") / speed_cell(b, d128, "version", "12", "fwd");
    check_true(t, f12.n == 4 && f14.n == 5 && f14.lo > f12.hi && gain >= 0.0345 && gain < 0.0355,
               "d 64 forward: version 14 %.1f to %.1f (%d runs), version 12 %.1f to %.1f (%d): faster in every run, "
               "%.1f%% by the medians (the text's 3.5%%)", f14.lo, f14.hi, f14.n, f12.lo, f12.hi, f12.n, 100 * gain);
    /* the sweeps' low cells at d 128: version 14's forward below all its runs alone, version 13's step no faster
     * than version 12's there (and faster in @sec:ch12-v13's run, ch12-speed-s15b) */
    char *p15 = xasprintf("%s/figures/data/ch12-speed-s15b.tsv", book_root());
    TsvTable *c15 = tsv_load(p15, err, sizeof err);
    bool low = speed_cell(a, d128, "version", "14", "fwd") < g14.lo && speed_cell(b, d128, "version", "14", "fwd") < g14.lo &&
               speed_cell(a, d128, "version", "13", "fwd+bwd") <= speed_cell(a, d128, "version", "12", "fwd+bwd") &&
               speed_cell(c15, d128, "version", "13", "fwd+bwd") > speed_cell(c15, d128, "version", "12", "fwd+bwd");
    check_true(t, c15 && low, "d 128 sweeps: version 14's forward cells below its runs alone, version 13's step no "
               "faster than version 12's (faster in ch12-speed-s15b)%s%s", c15 ? "" : ": ", c15 ? "" : err);
    tsv_free(c15);
    free(p15);
    check_true(t, g14.lo <= g12.hi && g12.lo <= g14.hi && apart < 0.02 && late_a > apart && late_b > apart,
               "d 128 forward: the ranges overlap (%.1f-%.1f, %.1f-%.1f; medians %.1f%% apart); version 13's rows, "
               "version 12's kernel, %.1f%% and %.1f%% behind version 12's in the one-tree passes", g14.lo, g14.hi,
               g12.lo, g12.hi, 100 * apart, 100 * late_a, 100 * late_b);
    double steps[7] = {speed_cell(a, d128, "version", "14", "fwd+bwd"), speed_cell(b, d128, "version", "14", "fwd+bwd")};
    int k = 2, at = 0;
    for (size_t i = 0; ab && i < tsv_rows(ab) && k < 7; i++)
        if (strcmp(tsv_cell(ab, i, tsv_col(ab, "shape")), d128) == 0 && strcmp(tsv_cell(ab, i, tsv_col(ab, "version")), "14") == 0 &&
            strcmp(tsv_cell(ab, i, tsv_col(ab, "pass")), "fwd+bwd") == 0)
            steps[k++] = tsv_num(ab, i, tsv_col(ab, "tflops"));
    bool near = k == 7 && ab_runs(ab, d128, "14", "fwd+bwd").n == 5;
    for (int i = 0; i < k; i++) near = near && fabs(steps[i] / 300 - 1) < 0.04, at += steps[i] >= 300;
    check_true(t, near && at == 5, "d 128 step: version 14 within 4%% of 300 in all %d measurements, at or above it "
               "in %d (the text: every run near, most above)", k, at);
    bool cudnn = true;
    const char *passes[] = {"fwd", "fwd+bwd"};
    for (int h = 0; h < 2; h++)
        for (int p = 0; p < 2; p++)
            cudnn = cudnn && speed_cell(tt, shapes[h], "backend", "cudnn", passes[p]) >
                                 fmax(speed_cell(a, shapes[h], "version", "14", passes[p]),
                                      speed_cell(a, shapes[h], "version", "12", passes[p]));
    bool goals = speed_cell(a, d64, "version", "14", "fwd") < 250 && speed_cell(a, d64, "version", "14", "fwd+bwd") < 200 &&
                 speed_cell(a, d128, "version", "12", "fwd") >= 400 && speed_cell(a, d128, "version", "14", "fwd+bwd") >= 300;
    check_true(t, cudnn && goals, "cuDNN ahead of versions 12 and 14 in all four cells; the goals met at d 128 "
               "(forward by version 12, the step by version 14) and short at d 64");
    char *p13 = xasprintf("%s/figures/data/ch12-sass-bwd-v13-s15.tsv", book_root()),
         *p14 = xasprintf("%s/figures/data/ch12-sass-bwd-v14-s17.tsv", book_root()),
         *n13 = xasprintf("%s/figures/data/ch12-ncu-bwd-v13-s15.tsv", book_root()),
         *n14 = xasprintf("%s/figures/data/ch12-ncu-bwd-v14-s17.tsv", book_root());
    TsvTable *s13 = tsv_load(p13, err, sizeof err), *s14 = s13 ? tsv_load(p14, err, sizeof err) : NULL,
             *c13 = s14 ? tsv_load(n13, err, sizeof err) : NULL, *c14 = c13 ? tsv_load(n14, err, sizeof err) : NULL;
    bool ideal = sass_metric(s14, "v14", "ldgsts_top_n") == 8 && sass_metric(s13, "v13", "ldgsts_top_n") == 8 &&
                 sass_metric(s14, "v14", "ldgsts_top_sectors_per_warp") == sass_metric(s14, "v14", "ldgsts_top_sectors_ideal_per_warp") &&
                 sass_metric(s14, "v14", "ldgsts_top_wavefronts_per_warp") == sass_metric(s14, "v14", "ldgsts_top_wavefronts_ideal_per_warp") &&
                 sass_metric(s13, "v13", "ldgsts_top_sectors_per_warp") == 32 && sass_metric(s13, "v13", "ldgsts_top_wavefronts_per_warp") == 32 &&
                 sass_metric(s13, "v13", "ldgsts_top_sectors_ideal_per_warp") == 16 && sass_metric(s13, "v13", "ldgsts_top_wavefronts_ideal_per_warp") == 4;
    check_true(t, s14 && ideal, "the query tiles' 8 copy instructions: version 13 at 32 sectors and 32 wavefronts a warp "
               "(one a thread; ideal 16 and 4), version 14 at the ideal");
    check_true(t, c14 && sass_metric(s14, "v14", "inst_int") > sass_metric(s13, "v13", "inst_int") &&
                      ncu_metric(c14, "issue_pct") > ncu_metric(c13, "issue_pct") &&
                      sass_metric(s14, "v14", "ldgsts_sectors_per_warp") < sass_metric(s13, "v13", "ldgsts_sectors_per_warp"),
               "version 14's backward kernel: more integer instructions than version 13's, a warp to issue in more "
               "cycles, fewer sectors a cp.async%s%s", c14 ? "" : ": ", c14 ? "" : err);
    tsv_free(a), tsv_free(b), tsv_free(tt), tsv_free(ab), tsv_free(s13), tsv_free(s14), tsv_free(c13), tsv_free(c14);
    free(pa), free(pb), free(pt), free(pab), free(p13), free(p14), free(n13), free(n14);
}

/* Version 14's turns as the kernel takes them, played out: warpgroup 1 arrives at barrier 1, then each warpgroup
 * w, for nkv + 1 turns, waits at barrier 1 + w and arrives at the other's; warpgroup 0 (if last) waits at barrier
 * 1 once more.  A barrier counts warpgroups in (2 complete a phase: a waiter and an arrival); a warpgroup runs
 * until it waits on a phase not yet complete.  True if both finish; left[b]: arrivals at barrier b at the end. */
static bool turns_run(int nkv, int last, int left[3], int *waits0) {
    enum { ARRIVE, WAIT };
    int ops[2][2 * 80 + 4][2], n[2] = {0, 0}, pc[2] = {0, 0}, in[3] = {0, 0, 0};
    bool waiting[2] = {false, false};
    ops[1][n[1]][0] = ARRIVE, ops[1][n[1]++][1] = 1;
    for (int w = 0; w < 2; w++)
        for (int k = 0; k <= nkv; k++) {
            ops[w][n[w]][0] = WAIT, ops[w][n[w]++][1] = 1 + w;
            ops[w][n[w]][0] = ARRIVE, ops[w][n[w]++][1] = 2 - w;
        }
    if (last) ops[0][n[0]][0] = WAIT, ops[0][n[0]++][1] = 1;
    *waits0 = 0;
    for (int k = 0; k < n[0]; k++) *waits0 += ops[0][k][0] == WAIT;
    int gen[3] = {0, 0, 0}, at[2] = {0, 0};   /* a barrier's completed phases; the phase a waiter waits on */
    for (bool moved = true; moved;) {
        moved = false;
        for (int w = 0; w < 2; w++)
            while (pc[w] < n[w]) {
                int op = ops[w][pc[w]][0], b = ops[w][pc[w]][1];
                if (op == WAIT && waiting[w]) {
                    if (gen[b] == at[w]) break;         /* its phase has not completed */
                    waiting[w] = false, pc[w]++, moved = true;
                    continue;
                }
                if (op == WAIT) waiting[w] = true, at[w] = gen[b];
                if (++in[b] == 2) in[b] = 0, gen[b]++;
                if (op == ARRIVE) pc[w]++;
                moved = true;
            }
    }
    for (int b = 0; b < 3; b++) left[b] = in[b];
    return pc[0] == n[0] && pc[1] == n[1];
}

/* Exercise 17: version 14's turns counted for nkv = 1 to 64 key tiles (each warpgroup nkv + 1 turns; warpgroup 1's
 * opening arrival; warpgroup 0's last wait), and the swizzled query tile's piece 3 of row 10, columns 64-127, as
 * load_tile_sw128 places it (R 64, D 128, 256 threads): element 4,744, byte 9,488, thread 83, pass 2 (from 0). */
static void test_ex17_turns(Check *t) {
    bool balanced = true, unbalanced = true;
    for (int nkv = 1; nkv <= 64; nkv++)
        for (int last = 0; last < 2; last++) {
            int left[3], waits0;
            bool done = turns_run(nkv, last, left, &waits0);
            if (last) balanced = balanced && done && left[1] == 0 && left[2] == 0 && waits0 == nkv + 2;
            else unbalanced = unbalanced && done && left[1] == 1 && left[2] == 0;
        }
    int R = 64, D = 128, THREADS = 256, found = -1, pass = -1;
    long elem = -1;
    for (int i = 0; i < R * D / 8; i++) {
        int c = i % 8, r = i / 8 % R, cb = i / 8 / R;
        if (r == 10 && cb == 1 && c == 3) elem = cb * 64 * R + r * 64 + (c ^ r % 8) * 8, found = i % THREADS, pass = i / THREADS;
    }
    check_true(t, balanced && unbalanced && elem == 4744 && 2 * elem == 9488 && found == 83 && pass == 2,
               "ex 17: the turns balance (nkv + 2 waits and arrivals at barrier 1) and leave one arrival without the "
               "last wait; piece 3 of row 10's second block at element %ld (byte %ld), thread %d, pass %d",
               elem, 2 * elem, found, pass);
}

/* Version 12 against version 11 (@sec:ch12-v12), from their profiles: the
 * same exponentials and products; per exponential 2.9 FMUL, 1.0 FSETP and
  * 0.9 FSEL fewer (the text's, to one decimal); and exercise 16: of a
 * head's 528 (query tile, key tile) pairs at T 4096, 32 are edge tiles;
 * version 11's FSEL count less 66 a warp-tile leaves 4 a warp, and with
 * that, 64 a warp on the edge tiles and 2 a warp-tile is version 12's count
 * exactly. */
static void test_v12_instructions(Check *t) {
    char err[256], *p11 = xasprintf("%s/figures/data/ch12-sass-v11-s15.tsv", book_root()),
                   *p12 = xasprintf("%s/figures/data/ch12-sass-v12-s15.tsv", book_root());
    TsvTable *a = tsv_load(p11, err, sizeof err), *b = a ? tsv_load(p12, err, sizeof err) : NULL;
    double mufu = sass_metric(a, "v11", "inst_mufu"), mufu12 = sass_metric(b, "v12", "inst_mufu");
    double dfmul = (sass_metric(a, "v11", "inst_fmul") - sass_metric(b, "v12", "inst_fmul")) / mufu;
    double dfsetp = (sass_metric(a, "v11", "inst_fsetp") - sass_metric(b, "v12", "inst_fsetp")) / mufu;
    double dfsel = (sass_metric(a, "v11", "inst_fsel") - sass_metric(b, "v12", "inst_fsel")) / mufu;
    bool same = mufu == mufu12 && sass_metric(a, "v11", "inst_hgmma") == sass_metric(b, "v12", "inst_hgmma");
    check_true(t, a && b && same && fabs(dfmul - 2.9) < 0.05 && fabs(dfsetp - 1.0) < 0.05 && fabs(dfsel - 0.9) < 0.05,
               "version 12: the same %.0f exponentials as version 11; per exponential %.2f FMUL, %.2f FSETP, %.2f FSEL "
               "fewer (the text's 2.9, 1.0, 0.9)%s%s", mufu, dfmul, dfsetp, dfsel, b ? "" : ": ", b ? "" : err);
    long long pairs = 0, edge = 0, pairs1k = 0, edge1k = 0;
    for (int qb = 0; qb < 4096 / 128; qb++)
        for (int j = 0; j <= qb; j++) pairs++, edge += (j + 1) * 128 - 1 > qb * 128;
    for (int qb = 0; qb < 1024 / 128; qb++)
        for (int j = 0; j <= qb; j++) pairs1k++, edge1k += (j + 1) * 128 - 1 > qb * 128;
    double fsel11 = sass_metric(a, "v11", "inst_fsel"), fsel12 = sass_metric(b, "v12", "inst_fsel");
    long long wtiles = pairs * 64 * 8, warps = 4096 / 128 * 64 * 8, end = a && b ? (long long)fsel11 - wtiles * 66 : 0;
    long long predict = edge * 64 * 8 * 64 + wtiles * 2 + end;
    check_true(t, a && b && pairs == 528 && edge == 32 && pairs1k == 36 && edge1k == 8 && wtiles == 270336 &&
                      end == 4 * warps && predict == (long long)(a && b ? fsel12 : 0),
               "ex 16: 528 tile pairs a head, 32 on the edge (T 1024: 36, 8); %lld FSEL at the end (%lld a warp); "
               "version 12's predicted %lld, profiled %.0f%s%s", a && b ? end : 0, a && b ? end / warps : 0, predict,
               fsel12, b ? "" : ": ", b ? "" : err);
    double f11 = sass_metric(a, "v11", "inst_fmul"), f12 = sass_metric(b, "v12", "inst_fmul");
        check_true(t, a && b && f11 - 260.0 * wtiles == f12 - 66.0 * wtiles && f11 - 260.0 * wtiles == 71.0 * warps,
               "version 11: 260 FMUL a warp-tile (64 scale, 64 rescale, 2 x 66 around the exponentials), version 12 66, "
               "the same %.0f outside the loop (71 a warp)", f11 - 260.0 * wtiles);
    tsv_free(a), tsv_free(b);
    free(p11), free(p12);
    /* version 13's backward kernel at d 128: its spills, 6 a warp (64 heads x 32 key blocks x 8 warps) */
    char *p13 = xasprintf("%s/figures/data/ch12-ncu-bwd-v13-s15.tsv", book_root());
    TsvTable *c = tsv_load(p13, err, sizeof err);
    double spills = ncu_metric(c, "spill_requests");
    check_true(t, c && spills == 6 * 64 * 32 * 8, "version 13: %.0f spill requests, 6 a warp%s%s", spills,
               c ? "" : ": ", c ? "" : err);
    tsv_free(c);
    free(p13);
}

/* Mixed precision: the fp16 thresholds two ways, the scaler's rules, lost
 * updates, and the runtime's loss scale on the CPU (exact). */
static void test_fates(Check *t) {
    float edges[] = {(float)ldexp(1, -25), nextafterf((float)ldexp(1, -25), 1), (float)(ldexp(1, -14) - ldexp(1, -25)),
                     nextafterf((float)(ldexp(1, -14) - ldexp(1, -25)), 0), 65504, 65519.99f, 65520, 1e-30f, 1e30f};
    Fate want[] = {FATE_ZERO, FATE_SUBNORMAL, FATE_NORMAL, FATE_SUBNORMAL, FATE_NORMAL, FATE_NORMAL, FATE_OVERFLOW,
                   FATE_ZERO, FATE_OVERFLOW};
    bool ok = true;
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
        for (int sign = -1; sign <= 1; sign += 2)
            ok &= fp16_fate(sign * edges[i]) == want[i] && fp16_fate_converted(sign * edges[i]) == want[i];
    check_true(t, ok, "fp16 fates at the edges: 2^-25 -> 0, just above -> subnormal, 2^-14 - 2^-25 -> normal, "
               "65520 -> infinity, both ways");
    int disagree = 0, n = 0;
    for (double k = -40; k <= 20; k += 1.0 / 64, n++) {
        float x = (float)exp2(k);
        disagree += fp16_fate(x) != fp16_fate_converted(x);
    }
    check_true(t, disagree == 0, "fp16 fate by the thresholds = by the conversion, %d magnitudes from 2^-40 to 2^20", n);
    /* the logits' gradient (p - y)/N with N = 2^14 (B 64, T 256) */
    float N = 16384;
    check_true(t, fp16_fate_converted(1 / N) == FATE_NORMAL && (float)ldexp(1, -14) == 1 / N,
               "the largest logit gradient, 1/N = 2^-14, is fp16's smallest normal number");
    check_true(t, fp16_fate_converted((float)ldexp(1, -11) / N) == FATE_ZERO &&
                      fp16_fate_converted(1.01f * (float)ldexp(1, -11) / N) == FATE_SUBNORMAL,
               "a probability of 2^-11 gives p/N = 2^-25, flushed; a little more survives as a subnormal");
    Rng rng;
    rng_seed(&rng, 21);
    enum { M = 20000 };
    float *g = xmalloc_array(M, sizeof *g);
    for (int i = 0; i < M; i++) g[i] = i % 50 == 0 ? 0 : (float)((rng_uniform(&rng) < 0.5 ? -1 : 1) * exp2(-45 + 60 * rng_uniform(&rng)));
    size_t bins[HIST_HI - HIST_LO] = {0}, total = 0;
    histogram_log2(bins, g, M);
    for (int k = 0; k < HIST_HI - HIST_LO; k++) total += bins[k];
    bool same = true;
    for (int e = 0; e <= 24; e += 8) {
        FateCount c = count_fates(g, M, (float)ldexp(1, e));
        size_t below = 0;   /* the histogram's count below 2^-25 / S, from whole bins */
        for (int k = HIST_LO; k < -25 - e; k++) below += bins[k - HIST_LO];
        for (int f = 0; f < NFATES; f++) same &= c.formula[f] == c.bits[f];
        same &= c.zeros == M / 50 && c.nonzero == total && c.formula[FATE_ZERO] >= below;
    }
    check_true(t, same, "count_fates: thresholds = conversion at S = 1, 2^8, 2^16, 2^24; zeros apart; the histogram "
               "holds every nonzero value");
    FateCount c0 = count_fates(g, M, 1), c16 = count_fates(g, M, 65536);
    check_true(t, c16.formula[FATE_ZERO] < c0.formula[FATE_ZERO] && c16.formula[FATE_OVERFLOW] > c0.formula[FATE_OVERFLOW],
               "a scale of 2^16 flushes fewer and overflows more (%zu -> %zu zeros, %zu -> %zu infinities)",
               c0.formula[FATE_ZERO], c16.formula[FATE_ZERO], c0.formula[FATE_OVERFLOW], c16.formula[FATE_OVERFLOW]);
    free(g);
    size_t b2[HIST_HI - HIST_LO] = {0};
    float few[] = {1, 1.5f, 2, 0.25f, 0, -3};
    histogram_log2(b2, few, 6);
    check_true(t, b2[0 - HIST_LO] == 2 && b2[1 - HIST_LO] == 2 && b2[-2 - HIST_LO] == 1,
               "histogram by hand: 1 and 1.5 in [1,2), 2 and -3 in [2,4), 0.25 in [1/4,1/2), 0 nowhere");
}

static void test_scaler(Check *t) {
    LossScaler s = scaler_new(65536, 3);
    bool took = scaler_update(&s, false);
    check_true(t, !took && s.scale == 32768 && s.skipped == 1 && s.clean == 0, "an overflow: skip, halve S");
    scaler_update(&s, true), scaler_update(&s, true);
    check_true(t, s.scale == 32768 && s.clean == 2, "two clean steps: S unchanged");
    took = scaler_update(&s, true);
    check_true(t, took && s.scale == 65536 && s.clean == 0, "the third clean step doubles S");
    scaler_update(&s, true), scaler_update(&s, true), scaler_update(&s, false);
    scaler_update(&s, true), scaler_update(&s, true);
    check_true(t, s.scale == 32768 && s.skipped == 2, "an overflow resets the count of clean steps");
    LossScaler q = scaler_new(1024, 100);
    int skipped = 0;
    for (int i = 0; i < 1000; i++) skipped += !scaler_update(&q, q.scale < 4096);   /* overflow above 2^12 */
    check_true(t, q.scale <= 4096 && q.skipped == skipped && skipped <= 1000 / 100,
               "against a ceiling, at most one skipped step per growth interval (%d in 1000)", skipped);
    check_true(t, skipped == (1000 - 1 - 200) / 101 + 1,
               "and exactly one per N_g + 1 = 101 steps after the first 200 climb to the ceiling (%d)", skipped);
}

static void test_master(Check *t) {
    check_true(t, update_lost(1, 1e-3f, DT_BF16) && update_lost(1, -1e-3f, DT_BF16),
               "bf16: a step of 1e-3 on a weight of 1 is lost, up or down (below 2^-9)");
    check_true(t, !update_lost(1, 1e-3f, DT_F16) && round_into(DT_F16, 1 + 1e-3f) == 1 + (float)ldexp(1, -10),
               "fp16: 1e-3 survives, as 1 + 2^-10");
    check_true(t, update_lost(1, 1e-4f, DT_F16) && update_lost(1, -1e-4f, DT_F16) && !update_lost(1, 1e-4f, DT_F32),
               "fp16 loses 1e-4 on a weight of 1; f32 keeps it");
    check_true(t, !update_lost(0.02f, 1e-4f, DT_BF16) && update_lost(0.02f, 1e-5f, DT_BF16),
               "bf16 on a weight of 0.02 (spacing 2^-13): keeps 1e-4, loses 1e-5");
    check_true(t, !update_lost(1, 0, DT_BF16), "no update is not a lost update");
    Snapshot s = {0};
    float before[4] = {1, 0.02f, 1, 0.5f}, after[4] = {1.001f, 0.0201f, 1, 0.5f + 0.01f};
    count_lost(&s, before, after, 4);
    check_true(t, s.updates == 3 && s.lost_bf16 == 1 && s.lost_fp16 == 0, "count_lost by hand: 3 updates, bf16 loses 1");
}

/* The runtime's loss scale on the CPU, where everything is f32: the scaled
 * gradients are S times the plain ones, bit for bit, and so is the update. */
static void test_scaled_cpu(Check *t) {
    GptConfig c = {.V = 13, .maxT = 8, .L = 2, .NH = 2, .C = 8, .F = 32};
    int B = 3, T = 8;
    Gpt *a = gpt_new(&c, NULL, DT_F32, B, T), *b = gpt_new(&c, NULL, DT_F32, B, T);
    gpt_init(a, 5), gpt_init(b, 5);
    int32_t tok[24], tgt[24];
    Rng rng;
    rng_seed(&rng, 6);
    for (int i = 0; i < B * T; i++) tok[i] = (int32_t)rng_below(&rng, 13), tgt[i] = i % 7 == 3 ? -1 : (int32_t)rng_below(&rng, 13);
    float S = 1024;
    gpt_zero_grad(a), gpt_zero_grad(b);
    float la = gpt_forward_backward(a, tok, tgt, B, T), lb = gpt_forward_backward_scaled(b, tok, tgt, B, T, S);
    size_t n = a->nparams;
    float *ga = xmalloc_array(n, sizeof *ga), *gb = xmalloc_array(n, sizeof *gb);
    gpt_get_grads(a, ga), gpt_get_grads(b, gb);
    bool exact = la == lb;
    for (size_t i = 0; i < n; i++) exact &= gb[i] == S * ga[i];
    check_true(t, exact, "CPU: the gradients of S L are S times those of L, bit for bit (S = 1024); the loss is L");
    GptAdamW o = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f, .grad_clip = 0.5f};
    float na = gpt_update(a, &o), nb = gpt_update_scaled(b, &o, S);
    gpt_get_params(a, ga), gpt_get_params(b, gb);
    exact = na == nb && a->step == 1 && b->step == 1;
    for (size_t i = 0; i < n; i++) exact &= ga[i] == gb[i];
    check_true(t, exact, "CPU: the scaled update (clipped at %.1f of a norm of %.2f) = the plain one, bit for bit", 0.5, na);
    gpt_zero_grad(b);
    gpt_forward_backward_scaled(b, tok, tgt, B, T, INFINITY);
    float nn = gpt_update_scaled(b, &o, INFINITY);
    gpt_get_params(b, gb);
    bool same = !isfinite(nn) && b->step == 1;
    for (size_t i = 0; i < n; i++) same &= ga[i] == gb[i];
    check_true(t, same, "an overflow (S = infinity): the update is skipped, nothing changes");
    free(ga), free(gb);
    gpt_free(a), gpt_free(b);
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0, got;
    do {
        if (n + 65536 > cap) buf = xrealloc(buf, cap = 2 * cap + 65536);
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    fclose(f);
    *len = n;
    return buf;
}

static void test_one_artifact(Check *t) {
    size_t a = 0, b = 0;
    char *woven = slurp("build/12-memopt/flash.cu.in", &a), *runtime = slurp("common/gpu/flash.cu", &b);
    check_true(t, woven && runtime && a == b && memcmp(woven, runtime, a) == 0,
               "common/gpu/flash.cu is the chapter's tangled flash.cu.in, byte for byte (%zu and %zu bytes)", a, b);
    free(woven), free(runtime);
}

/* Exercise 8's scaler, with a floor of 1 and a ceiling of 2^24. */
static bool scaler_update_floored(LossScaler *s, bool finite) {
    if (!finite) {
        if (s->scale > 1) s->scale /= 2;
        s->clean = 0, s->skipped++;
        return false;
    }
    if (++s->clean == s->interval) {
        if (s->scale < 0x1p24f) s->scale *= 2;
        s->clean = 0;
    }
    return true;
}

/* Exercises 8, 10, 11 and 12: the numbers their solutions give. */
static void test_exercise_mixed_ckpt(Check *t) {
    LossScaler f = scaler_new(65536, 200), e = scaler_new(65536, 200);
    int to_one = 0;
    while (f.scale > 1) scaler_update_floored(&f, false), to_one++;
    for (int i = 0; i < 100; i++) scaler_update_floored(&f, false);
    check_true(t, to_one == 16 && f.scale == 1 && f.skipped == 116 && e.scale == 65536 && e.skipped == 0,
               "ex 8: the floored scaler reaches 1 in 16 overflows and stays, every step skipped; no calls, nothing moves");
    LossScaler g = scaler_new(65536, 1);
    for (int i = 0; i < 40; i++) scaler_update_floored(&g, true);
    LossScaler u = scaler_new(65536, 200);
    for (int i = 0; i < 165; i++) scaler_update(&u, false);
    bool last_subnormal = u.scale == 0x1p-149f;
    scaler_update(&u, false);
    check_true(t, g.scale == 0x1p24f && last_subnormal && u.scale == 0,
               "ex 8: the ceiling holds at 2^24; without a floor 165 halvings leave 2^-149 and the 166th 0");
    GptConfig g2 = gpt2_small_config(50304);
    double b = block_bytes(&g2, DT_BF16, 16, 1024, true), cb = output_bytes(&g2, DT_BF16, 16, 1024);
    const int ks[6] = {1, 2, 3, 4, 6, 12}, rec[6] = {11, 10, 9, 8, 6, 0};
    const double mc[6] = {27.04, 37.08, 51.12, 66.17, 97.25, 192.50};
    bool ten = true;
    for (int i = 0; i < 6; i++)
        ten &= fabs(segments_bytes(12, ks[i], b, cb) / cb - mc[i]) < 0.01 && recomputed_blocks(12, ks[i]) == rec[i];
    GptConfig one = {.V = 11, .maxT = 8, .L = 1, .NH = 2, .C = 8, .F = 12}, five = one;
    five.L = 5;
    GptMemOptions o3 = {.recompute = GPT_RECOMPUTE_SEGMENTS, .segment = 3}, o7 = o3;
    o7.segment = 7;
    check_true(t, ten && gpt_segment_blocks(&one, &o3) == 1 && gpt_segment_blocks(&five, &o7) == 5,
               "ex 10: M(k)/c = 27.0 ... 192.5 and R = 11 ... 0 at L = 12; k is clamped to L (L = 1, k = 3; L = 5, k = 7)");
    double r = cheap_bytes(&g2, DT_BF16, 16, 1024);
    bool saving = r == 150994944.0;
    for (int k = 1; k <= 12; k++) {
        double combined = k * (b - r) + r + ((12 + k - 1) / k - 1) * cb;
        saving &= fabs(segments_bytes(12, k, b, cb) - combined - (k - 1) * r) < 1;
    }
    check_true(t, saving && fabs(2 * r / 1e9 - 0.30) < 0.005,
               "ex 11: r = 150,994,944; segments without the cheap three save (k - 1) r, 0.30 GB at k = 3");
    double bp = block_bytes(&g2, DT_BF16, 16, 1024, false), b4 = block_bytes(&g2, DT_BF16, 16, 4096, false),
           c4 = output_bytes(&g2, DT_BF16, 16, 4096);
    double m3 = segments_bytes(384, 3, bp, cb) / cb, m4 = segments_bytes(384, 4, bp, cb) / cb;
    check_true(t, best_segment(384, bp, cb) == 3 && m4 - m3 > 0 && m4 - m3 < 0.02 && fabs(384 * cb / bp - 11.996) < 0.001 &&
                  fabs(best_segment_continuous(384, bp, cb) - 3.46) < 0.005,
               "ex 12: at L = 384 three beats four by %.3f c, since L c/b = %.3f is just under 3 * 4", m4 - m3, 384 * cb / bp);
    check_true(t, fabs(b4 / c4 - 80.01) < 0.005 && best_segment(160, b4, c4) == 1 && best_segment(161, b4, c4) == 1 &&
                  best_segment(162, b4, c4) == 2,
               "ex 12: at T = 4,096 b/c = %.2f, and segments of two first pay at L = 162", b4 / c4);
}

/* The fragment layouts of the tensor-core version: the four claims of the
 * ldmatrix paragraph as compositions, each operand's cells owned once, and
 * the figure's tile sizes as flash.cu has them. */
static void test_fragments(Check *t) {
    int bad[4] = {0}, owner_a[16][16] = {{0}}, owner_b[16][8] = {{0}}, owner_c[16][8] = {{0}};
    for (int l = 0; l < 32; l++)
        for (int i = 0; i < 4; i++)
            for (int h = 0; h < 2; h++) {
                int r, c, r2, c2;
                frag_a(l, i, h, &r, &c);
                owner_a[r][c]++;
                ldmatrix_element(false, false, l, i, h, &r2, &c2);   /* down: a row-major piece is A */
                bad[0] += r2 != r || c2 != c;
                ldmatrix_element(true, true, l, i, h, &r2, &c2);     /* across, .trans: a transposed piece is A */
                bad[1] += r2 != c || c2 != r;
                frag_b(l, i % 2, h, &r, &c);                         /* n tile i / 2 of a 16-wide B */
                if (i < 2) owner_b[r][c]++;
                ldmatrix_element(false, true, l, i, h, &r2, &c2);    /* down, .trans: rows of B as rows */
                bad[2] += r2 != r || c2 != c + 8 * (i / 2);
                ldmatrix_element(true, false, l, i, h, &r2, &c2);    /* across: columns of B as rows */
                bad[3] += r2 != c + 8 * (i / 2) || c2 != r;
                if (h == 0) frag_c(l, i, &r, &c), owner_c[r][c]++;
            }
    check_true(t, bad[0] == 0 && bad[1] == 0, "ldmatrix down = A fragment, across .trans = A of the transpose (%d, %d wrong)",
               bad[0], bad[1]);
    check_true(t, bad[2] == 0 && bad[3] == 0, "ldmatrix down .trans and across = two B fragments (%d, %d wrong)", bad[2],
               bad[3]);
    bool once = true, c_is_a = true;
    for (int r = 0; r < 16; r++)
        for (int c = 0; c < 16; c++) once &= owner_a[r][c] == 1 && (c >= 8 || (owner_b[r][c] == 1 && owner_c[r][c] == 1));
    check_true(t, once, "every element of A, B and C is held by exactly one lane and register");
    for (int l = 0; l < 32; l++)    /* C of two 16x8 tiles side by side is A's layout, lane for lane */
        for (int i = 0; i < 4; i++)
            for (int h = 0; h < 2; h++) {
                int ra, ca, rc, cc;
                frag_a(l, i, h, &ra, &ca);
                frag_c(l, 2 * (i % 2) + h, &rc, &cc);
                c_is_a &= ra == rc && ca == cc + 8 * (i / 2);
            }
    check_true(t, c_is_a, "C's registers of two adjacent 16x8 tiles are A's registers of one 16x16 tile");
    size_t n = 0;
    char *src = slurp("common/gpu/flash.cu", &n), want[3][96];
    snprintf(want[0], sizeof want[0], "#define V1_BR %d ", LAYOUT_V1_BR);
    snprintf(want[1], sizeof want[1], "flash2_forward<T, 64, %d, 1, true>", LAYOUT_NW);
    snprintf(want[2], sizeof want[2], "flash2_forward<T, 64, %d, 2, true>", LAYOUT_NW);
    check_true(t, src && strstr(src, want[0]) && strstr(src, want[1]) && strstr(src, want[2]),
               "ch12-threads' tile sizes are flash.cu's (V1_BR %d, %d warps, MT 1 and 2)", LAYOUT_V1_BR, LAYOUT_NW);
    free(src);
}

static void test_experiments(Check *t) {
    char dir[] = "/tmp/test-ch12-XXXXXX";
    if (!mkdtemp(dir)) die("cannot make a temporary directory");
    Run r = {0};
    quick_common(&r.c, "test_ch12", dir);
    check_true(t, run_all_experiments("ch12-memopt", COMMANDS, sizeof COMMANDS / sizeof COMMANDS[0], &r) == 0,
               "every experiment of all runs in --quick mode");
    char ckpath[64];
    snprintf(ckpath, sizeof ckpath, "%s/ch12-ckpt.tsv", dir);
    check_true(t, access(ckpath, F_OK) != 0, "all writes no ch12-ckpt.tsv: the GPU's data survive make ch12-figures");
    check_true(t, experiment_ckpt(&r) == 0, "ckpt runs on the CPU by name, --quick");
    TsvTable *io = load(t, dir, "ch12-io");
    if (io) {
        bool ok = tsv_rows(io) == 9;
        for (size_t i = 0; i < tsv_rows(io); i++) ok &= num(t, io, i, "tiled") == num(t, io, i, "formula");
        check_true(t, ok, "ch12-io: 9 rows, the walk equals the formula in each");
        tsv_free(io);
    }
    TsvTable *on = load(t, dir, "ch12-online");
    if (on) {
        size_t last = tsv_rows(on) - 1;
        check_close(t, num(t, on, last, "l"), num(t, on, last, "l_two_pass"), 0, 1e-5,
                    "ch12-online: the running sum ends at the two-pass denominator");
        bool rising = true;
        for (size_t i = 1; i <= last; i++) rising &= num(t, on, i, "m") >= num(t, on, i - 1, "m") || isnan(num(t, on, i - 1, "m")) ||
                                                     num(t, on, i - 1, "m") == -INFINITY;
        check_true(t, rising, "ch12-online: the running maximum never falls");
        tsv_free(on);
    }
    TsvTable *ti = load(t, dir, "ch12-tiled");
    if (ti) {
        bool ok = tsv_rows(ti) == 10;
        for (size_t i = 0; i < tsv_rows(ti); i++) ok &= num(t, ti, i, "err_o") <= 1e-6 && num(t, ti, i, "err_lse") <= 1e-6;
        check_true(t, ok, "ch12-tiled: 10 cases, tiled = plain to 1e-6");
        tsv_free(ti);
    }
    TsvTable *tb = load(t, dir, "ch12-tiled-bwd");
    if (tb) {
        bool ok = tsv_rows(tb) == 6;
        for (size_t i = 0; i < tsv_rows(tb); i++) ok &= num(t, tb, i, "err") <= 1e-5;
        check_true(t, ok, "ch12-tiled-bwd: 6 cases, tiled backward = plain to 1e-5");
        tsv_free(tb);
    }
    TsvTable *fm = load(t, dir, "ch12-formats");
    if (fm) {
        bool ok = tsv_rows(fm) == 3;
        for (size_t i = 0; i < tsv_rows(fm); i++)
            ok &= num(t, fm, i, "max") == num(t, fm, i, "max_decoded") &&
                  num(t, fm, i, "min_normal") == num(t, fm, i, "min_normal_decoded") &&
                  num(t, fm, i, "min_subnormal") == num(t, fm, i, "min_subnormal_decoded");
        check_true(t, ok, "ch12-formats: 3 formats, formula = decoded bits");
        tsv_free(fm);
    }
    TsvTable *th = load(t, dir, "ch12-threads");
    if (th) {
        bool ok = tsv_rows(th) == 3 * 256;
        for (size_t i = 0; i < tsv_rows(th); i++)
            ok &= num(t, th, i, "block") * num(t, th, i, "rows_per_block") +
                      num(t, th, i, "warp") * num(t, th, i, "rows_per_warp") <= num(t, th, i, "row") &&
                  num(t, th, i, "row") < num(t, th, i, "block") * num(t, th, i, "rows_per_block") +
                                             (num(t, th, i, "warp") + 1) * num(t, th, i, "rows_per_warp");
        check_true(t, ok, "ch12-threads: 3 x 256 rows, each inside its block's warp's range");
        tsv_free(th);
    }
    TsvTable *fr = load(t, dir, "ch12-fragments");
    if (fr) {
        check_true(t, tsv_rows(fr) == 256 + 128 + 128 + 2 * 256, "ch12-fragments: A, B, C and two 16 x 16 orders");
        tsv_free(fr);
    }
    TsvTable *tl = load(t, dir, "ch12-tiles");
    if (tl) {
        int skipped = 0;
        for (size_t i = 0; i < tsv_rows(tl); i++) skipped += num(t, tl, i, "state") == 0;
        check_true(t, tsv_rows(tl) == 64 && skipped == 28 && num(t, tl, 0, "skipped") == 28,
                   "ch12-tiles: 8 x 8 tiles, 28 = 8*7/2 skipped");
        tsv_free(tl);
    }
    TsvTable *ck = load(t, dir, "ch12-ckpt");
    if (ck) {
        bool ok = tsv_rows(ck) == 7, exact = true;
        double none = num(t, ck, 0, "device_bytes");
        for (size_t i = 0; i < tsv_rows(ck); i++) {
            ok &= num(t, ck, i, "loss") == num(t, ck, 0, "loss") && num(t, ck, i, "device_bytes") <= none && num(t, ck, i, "ms") > 0;
            exact &= num(t, ck, i, "device_bytes") == num(t, ck, i, "predicted_bytes");
        }
        check_true(t, ok && num(t, ck, 2, "device_bytes") < num(t, ck, 1, "device_bytes"),
                   "ch12-ckpt: 7 policies, one loss, none keeps the most, every block less than selective");
        check_true(t, exact, "ch12-ckpt: on the CPU the prediction equals the runtime's count");
        tsv_free(ck);
    }
    TsvTable *dp = load(t, dir, "ch12-ckpt-depth");
    if (dp) {
        check_true(t, tsv_rows(dp) == 12 && num(t, dp, 0, "k_best") == 1 && num(t, dp, 11, "k_best") > 1,
                   "ch12-ckpt-depth: one block is best at L = 12, longer segments at L = 384");
        tsv_free(dp);
    }
    cli_free(&r.c);
    if (!remove_tree(dir)) warn("could not remove %s", dir);
}

/* Gradient checkpointing: the worked example; the calculator's buffer list
 * against the derivation's closed forms and against the runtime's own count;
 * the optimum segment; the recomputed blocks counted in the runtime. */
static void test_checkpointing(Check *t) {
    GptConfig g2 = gpt2_small_config(50304);
    double b = block_bytes(&g2, DT_BF16, 16, 1024, true), cb = output_bytes(&g2, DT_BF16, 16, 1024);
    check_true(t, b == 403701760.0 && cb == 25165824.0, "GPT-2 small, B16 T1024 bf16, flash: b = 403,701,760, c = 25,165,824 (%.0f, %.0f)", b, cb);
    check_close(t, b / cb, 16.04, 0.005, 0, "b/c = 16.04 with flash");
    check_close(t, block_bytes(&g2, DT_BF16, 16, 1024, false) / cb, 32.01, 0.005, 0, "b/c = 32.01 with the plain attention");
    check_close(t, cheap_bytes(&g2, DT_BF16, 16, 1024) / b, 6.0 / 16, 0.005, 0, "selective: r/b = (2C + F)/(8C + 2F) = 6/16, to the norms' statistics");
    check_true(t, fabs(12 * b / 1e9 - 4.84) < 0.005 && fabs(segments_bytes(12, 1, b, cb) / 1e9 - 0.68) < 0.005 &&
                  fabs(segments_bytes(12, 3, b, cb) / 1e9 - 1.29) < 0.005,
               "the worked example: 4.84 GB kept, 0.68 GB with every block, 1.29 GB with segments of 3");
    /* the buffer list against the closed forms (every buffer here a multiple of 256 bytes) */
    bool same = true;
    for (int k = 0; k <= 12; k++) {
        GptMemOptions o = {.attention = GPT_ATTENTION_FLASH, .recompute = k ? GPT_RECOMPUTE_SEGMENTS : GPT_RECOMPUTE_SELECTIVE, .segment = k};
        Mapped m = {0};
        add_blocks(&m, &g2, DT_BF16, 16, 1024, true, &o);
        double want = k ? segments_bytes(12, k, b, cb) : 12 * (b - cheap_bytes(&g2, DT_BF16, 16, 1024)) + cheap_bytes(&g2, DT_BF16, 16, 1024);
        same &= mapped_total(&m) == want;
    }
    check_true(t, same, "the blocks' buffers add up to k b + (ceil(L/k) - 1) c for k = 1..12, and to L (b - r) + r selective");
    /* the optimum: sqrt(L c/b) minimizes k b + L c/k; with b = c the best integer k is within one of sqrt(L) */
    bool opt = true;
    for (int L = 4; L <= 400; L *= 3) {
        double ks = best_segment_continuous(L, 5.0, 2.0), f0 = ks * 5 + L * 2 / ks;
        opt &= f0 <= (ks * 1.01) * 5 + L * 2 / (ks * 1.01) && f0 <= (ks * 0.99) * 5 + L * 2 / (ks * 0.99);
        opt &= abs(best_segment(L, 1, 1) - (int)lround(sqrt((double)L))) <= 1;
    }
    check_true(t, opt, "k* = sqrt(L c / b) is the minimum of k b + L c / k; with b = c the best k is sqrt(L) to within one");
    int first2 = 0;
    for (int L = 2; L <= 80 && !first2; L += 2) if (best_segment(L, b, cb) == 2) first2 = L;
    check_true(t, best_segment(12, b, cb) == 1 && first2 > 2 * b / cb && first2 - 2 < 2 * b / cb,
               "GPT-2 small's best segment is one block at L = 12, and two from the first even L above 2b/c = %.1f (%d)",
               2 * b / cb, first2);
    /* the runtime recomputes floor((L-1)/k) segments of k blocks */
    GptConfig c = {.V = 11, .maxT = 8, .L = 7, .NH = 2, .C = 8, .F = 12};
    int32_t tok[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    bool counted = true;
    for (int k = 1; k <= 7; k++) {
        GptMemOptions o = {.recompute = GPT_RECOMPUTE_SEGMENTS, .segment = k};
        Gpt *m = gpt_new_opts(&c, NULL, DT_F32, 1, 7, &o);
        gpt_init(m, 1);
        gpt_profile_start(m);
        gpt_forward_backward(m, tok, tok + 1, 1, 7);
        GptProfileRow rows[48];
        int n = gpt_profile_report(m, rows, 48), segs = 0;
        for (int i = 0; i < n; i++) if (!strcmp(rows[i].name, "recompute")) segs = rows[i].calls;
        counted &= segs * k == recomputed_blocks(7, k) && recomputed_blocks(7, k) == 7 - (7 - (7 - 1) / k * k);
        gpt_profile_stop(m), gpt_free(m);
    }
    check_true(t, counted, "L = 7, k = 1..7: the runtime recomputes floor((L-1)/k) k blocks, all but the last segment");
    /* the calculator's activations equal the runtime's count, every policy */
    bool exact = true;
    for (size_t i = 0; i < sizeof POLICIES / sizeof POLICIES[0]; i++) {
        GptMemOptions o = {.recompute = POLICIES[i].recompute, .segment = POLICIES[i].segment};
        exact &= predict_step(&c, DT_F32, 3, 5, &o, false).act == (double)gpt_activation_bytes_opts(&c, DT_F32, 3, 5, &o);
    }
    check_true(t, exact, "the calculator predicts the runtime's activation bytes exactly, every policy (CPU)");
}

/* All of it together: the search for the largest model stops where the calculator says the
 * next block no longer fits; the FLOPs recomputation adds; the fast fill keeps gpt_init's rules */
static void test_together(Check *t) {
    GptMemOptions o = {.attention = GPT_ATTENTION_FLASH, .recompute = GPT_RECOMPUTE_SEGMENTS, .segment = 1};
    bool edge = true;
    for (double budget = 8e9; budget <= 128e9; budget *= 2) {
        int L = deepest_that_fits(1024, 16, 8, 1024, &o, budget, false);
        GptConfig c = {.V = 50304, .maxT = 1024, .L = L, .NH = 16, .C = 1024, .F = 4096}, n = c;
        n.L = L + 1;
        edge &= L >= 1 && predict_step(&c, DT_BF16, 8, 1024, &o, false).total <= budget &&
                (L == GPT_MAX_LAYERS || predict_step(&n, DT_BF16, 8, 1024, &o, false).total > budget);
    }
    check_true(t, edge, "largest: the deepest model that fits a budget, and one block more does not (8 to 128 GB)");
    check_true(t, deepest_that_fits(1024, 16, 8, 1024, &o, 1e6, false) == 0, "largest: nothing fits in a megabyte");
    GptConfig c = {.V = 96, .maxT = 64, .L = 6, .NH = 4, .C = 64, .F = 256};
    GptMemOptions none = {.attention = GPT_ATTENTION_PLAIN}, every = {.attention = GPT_ATTENTION_PLAIN,
                          .recompute = GPT_RECOMPUTE_SEGMENTS, .segment = 1};
    double block = 24.0 * 64 * 64 + 4.0 * 32 * 64;
    check_close(t, recomputed_flop_share(&c, DT_F32, 32, &none), 0, 0, 0, "together: no recomputation adds no FLOPs");
    check_close(t, recomputed_flop_share(&c, DT_F32, 32, &every), 5 * block / gpt_flops_per_token(&c, 32), 1e-12, 0,
                "together: every block a segment recomputes the forward pass of L - 1 blocks");
    Gpt *shape = gpt_new(&c, NULL, DT_F32, 1, 1), *ref = gpt_new(&c, NULL, DT_F32, 1, 1);
    gpt_init(ref, 3);
    float *h = xcalloc(shape->nparams, sizeof *h), *want = xcalloc(shape->nparams, sizeof *want);
    fill_params_quickly(shape, h, 3);
    gpt_get_params(ref, want);
    bool same_rules = true, varied = false;
    for (size_t i = 0; i < shape->ntensors; i++) {
        const GptTensorInfo *ti = &shape->info[i];
        for (size_t j = 0; j < ti->numel; j++) {
            float a = h[ti->offset + j], b = want[ti->offset + j];
            if (ti->ndim == 2) same_rules &= fabsf(a) < 0.2f && a != 0, varied |= j > 0 && a != h[ti->offset + j - 1];
            else same_rules &= a == b;
        }
    }
    check_true(t, same_rules && varied, "fill_params_quickly: gains 1, biases 0 as gpt_init; weights small, nonzero, varied");
    free(h), free(want), gpt_free(shape), gpt_free(ref);
}

int main(void) {
    Check t;
    check_init(&t, "ch12");
    test_together(&t);
    test_checkpointing(&t);
    test_online(&t);
    test_nan_fails(&t);
    test_io(&t);
    test_tiled_forward(&t);
    test_backward(&t);
    test_formats(&t);
    test_exercise_order(&t);
    test_exercise_block_rows(&t);
    test_exercise_window(&t);
    test_exercise_io_range(&t);
    test_flop_count(&t);
    test_speed_list(&t);
    test_exercise_io_bc(&t);
    test_adam_bound(&t);
    test_first_loss(&t);
    test_uniform_segments(&t);
    test_epilogue_counts(&t);
    test_v8_arithmetic(&t);
    test_v9_arithmetic(&t);
    test_v9_sectors(&t);
    test_v12_instructions(&t);
    test_v13_against_fa2(&t);
    test_v14(&t);
    test_stall_bwd_d64(&t);
    test_v16(&t);
    test_v17(&t);
    test_v18(&t);
    test_v18_order(&t);
    test_v19(&t);
    test_v20(&t);
    test_v21(&t);
    test_v21_data(&t);
    test_ex18_groups(&t);
    test_ex19(&t);
    test_v23(&t);
    test_v23_data(&t);
    test_v25_data(&t);
    test_ex20(&t);
    test_v20_data(&t);
    test_ex17_turns(&t);
    test_v9_polls(&t);
    test_fates(&t);
    test_scaler(&t);
    test_master(&t);
    test_scaled_cpu(&t);
    test_one_artifact(&t);
    test_fragments(&t);
    test_exercise_mixed_ckpt(&t);
    test_experiments(&t);
    expect_program(&t, "ch12-memopt", "check", 1, "--device cuda");
    expect_program(&t, "ch12-memopt", "io --device cuda", 1, "io runs on the CPU only");
    expect_program(&t, "ch12-memopt", "io --seed abc", 2, "--seed");
    expect_program(&t, "ch12-memopt", "io --quick extra", 2, "extra");
    expect_program(&t, "ch12-memopt", "nonsense", 2, "nonsense");
    expect_program(&t, "ch12-memopt", "precision", 1, "--device cuda");
    expect_program(&t, "ch12-memopt", "precision --steps -3", 2, "--steps");
    expect_program(&t, "ch12-memopt", "together", 1, "--device cuda");
    expect_program(&t, "ch12-memopt", "largest", 1, "--device cuda");
    expect_program(&t, "ch12-memopt", "precision --steps 2", 1, "--steps 2 is too few");
    return check_summary(&t);
}
