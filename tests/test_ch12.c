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
 *   gradient checkpointing: the worked example's bytes; the calculator's
 *   buffers against k b + (ceil(L/k) - 1) c and L (b - r) + r; sqrt(L c/b)
 *   minimizes the continuous form; the best segment switches to two above
 *   2b/c; the runtime recomputes floor((L-1)/k) k blocks; the calculator
 *   equals the runtime's count;
 *   common/gpu/flash.cu is byte-identical to the chapter's tangled
 *   build/12-memopt/flash.cu.in;
 * then runs the CPU experiments in --quick mode into a temporary directory,
 * checks the files they write, and checks the program's one-line errors.
 * Run from the repository root (make test does). */
#include <float.h>

#include "memopt.c"

#include "check.h"
#include "chapter_test.h"

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
            worst_blocks = fmax(worst_blocks, fabs(b.m - whole.m) + fabs(b.l - whole.l) / whole.l);
        }
        bool finite = true;
        for (int i = 0; i < n; i++) finite &= isfinite(y1[i]) && (i >= masked || y1[i] == 0);
        check_true(t, finite, "online softmax, row %d (n = %d, %d masked): finite, zero where masked", trial, n, masked);
    }
    check_true(t, worst <= 1e-7, "online softmax = two-pass softmax (worst %.1e)", worst);
    check_true(t, worst_blocks <= 1e-12, "block summaries merged = one summary, any block size (worst %.1e)", worst_blocks);
    Online e = online_merge((Online){-INFINITY, 0}, (Online){-INFINITY, 0});
    check_true(t, e.m == -INFINITY && e.l == 0, "two empty summaries merge into an empty one, not NaN");
    Online a = online_step(online_step((Online){-INFINITY, 0}, -INFINITY), 2.0);
    check_true(t, a.m == 2 && a.l == 1, "a masked start, then one score: m = 2, l = 1");
    Online b = online_merge((Online){1, 2}, (Online){3, 1});
    check_close(t, b.l, 2 * exp(-2.0) + 1, 0, 1e-15, "merge by hand: (1, 2) + (3, 1) = (3, 2e^-2 + 1)");
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
                worst = fmax(worst, fabs(fd - grads[w][i]) / (1e-3 + fabs(fd)));
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
                worst = fmax(worst, fabs(Di - rowdot) / (1 + fabs(rowdot)));
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

static void test_experiments(Check *t) {
    char dir[] = "/tmp/test-ch12-XXXXXX";
    if (!mkdtemp(dir)) die("cannot make a temporary directory");
    Run r = {0};
    quick_common(&r.c, "test_ch12", dir);
    check_true(t, run_all_experiments("ch12-memopt", COMMANDS, sizeof COMMANDS / sizeof COMMANDS[0], &r) == 0,
               "every experiment of all runs in --quick mode");
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
    char *rm = xasprintf("rm -rf %s", dir);
    if (system(rm) != 0) warn("could not remove %s", dir);
    free(rm);
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

int main(void) {
    Check t;
    check_init(&t, "ch12");
    test_checkpointing(&t);
    test_online(&t);
    test_io(&t);
    test_tiled_forward(&t);
    test_backward(&t);
    test_formats(&t);
    test_one_artifact(&t);
    test_experiments(&t);
    expect_program(&t, "ch12-memopt", "check", 1, "--device cuda");
    expect_program(&t, "ch12-memopt", "io --device cuda", 1, "CPU only");
    expect_program(&t, "ch12-memopt", "nonsense", 2, "nonsense");
    expect_program(&t, "ch12-memopt", "io --data brown", 2, "--data");
    return check_summary(&t);
}
