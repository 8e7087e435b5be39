/* test_ch11.c -- chapter 11, where the memory goes.
 *
 * Includes the tangled program (TESTING: no main) and checks, on the CPU:
 *   the parameter count by hand equals gpt_param_count, gpt.h's tensor
 *   table and the padded block, for GPT-2 small to XL, and the published
 *   totals of small, medium, large and XL (V 50257);
 *   one block's bytes (tally_block) equal the closed form
 *   s b h (e (8 + 2F/C) + e a s / h + 16 / h) where no rounding applies;
 *   the calculator's activations equal gpt.c's own count
 *   (gpt_activation_bytes_opts) with and without the arena and the fused
 *   classifier, and its total equals the CPU's accounting of a real step;
 *   the timeline: every event's live bytes equal the prediction, the peak
 *   is after "head", the bytes grow through the forward pass and shrink
 *   through the backward pass;
 *   the fused classifier and the arena change nothing: same loss, same
 *   gradients (to rounding: loss 1e-6, gradients 1e-5 relative) as the plain model;
 *   inference with one block's buffers: gpt_forward's loss, in the bytes
 *   predicted; the GPU's reduction scratch as the runtime sizes it;
 *   a --quick run of every experiment writes well-formed data (the grid's
 *   error zero on the CPU);
 *   bad input: one line and a nonzero exit. */
#include "memory.c"
#include "ch11-solutions.c"

#ifdef _OPENMP
#include <omp.h>
#endif
#include "chapter_test.h"
#include "check.h"

static void test_params(Check *t) {
    const size_t published[NSHAPES_GPT2] = {124439808, 354823168, 774030080, 1557611200};
    for (int i = 0; i < NSHAPES_GPT2; i++) {
        GptConfig c = gpt2_shape(i, 50257);
        ParamCount p = param_count(&c);
        size_t ndecay;
        check_true(t, p.total == gpt_param_count(&c), "%s: by hand %zu = gpt_param_count %zu", GPT2_NAMES[i], p.total,
                   gpt_param_count(&c));
        check_true(t, p.total == published[i], "%s: %zu = the published %zu", GPT2_NAMES[i], p.total, published[i]);
        check_true(t, p.padded == gpt_layout(&c, NULL, &ndecay), "%s: the padded block", GPT2_NAMES[i]);
        size_t C = (size_t)c.C;
        check_true(t, p.attn + p.ffn + p.norms - 2 * C == (size_t)c.L * (12 * C * C + 13 * C), "%s: a block is 12C^2 + 13C",
                   GPT2_NAMES[i]);
    }
}

static void test_block_bytes(Check *t) {
    GptConfig c = {.V = 512, .maxT = 256, .L = 3, .NH = 4, .C = 64, .F = 256};
    DType dts[] = {DT_F32, DT_BF16};
    for (int d = 0; d < 2; d++)
        for (int T = 64; T <= 256; T *= 2) {
            Tally x = {0};
            tally_block(&x, &c, dts[d], 4, T);
            check_close(t, (double)x.bytes, block_bytes_closed(&c, dts[d], 4, T), 0, 0,
                        "%s T %d: a block's bytes = s b h (e(8 + 2F/C) + e a s/h + 16/h)", dtype_name(dts[d]), T);
        }
    /* GPT-2 small in bf16: our coefficient 32 + 2as/h + 16/h against Korthikanti's 34 + 5as/h */
    GptConfig s = gpt2_shape(0, 50304);
    double sbh = 1024.0 * 8 * 768;
    check_close(t, block_bytes_closed(&s, DT_BF16, 8, 1024) / sbh, 32 + 2.0 * 12 * 1024 / 768 + 16.0 / 768, 1e-12, 1e-12,
                "GPT-2 small, bf16: the coefficient is 32 + 2as/h + 16/h");
    Tally hand = {0};
    tally_block(&hand, &s, DT_BF16, 8, 1024);
    check_true(t, hand.bytes == 402784256, "the worked example: GPT-2 small, B 8, T 1024, bf16: 402,784,256 bytes a block (got %zu)",
               hand.bytes);
    /* the calculator's head and base by hand (GPT-2 small, B 8, T 1024, bf16, a GPU's plan) */
    MemPlan p = {.dt = DT_BF16, .B = 8, .T = 1024, .gpu = true};
    Tally head = {0}, base = {0};
    tally_head(&head, &s, &p), tally_base(&base, &s, &p);
    check_true(t, head.bytes == 836861952, "by hand: the head is 836,861,952 bytes (got %zu)", head.bytes);
    size_t small = sort_bytes(8192) + 3 * r256(8192 * 4);
    check_true(t, base.bytes == 465569280 + small, "by hand: the base is 465,569,280 bytes plus the batch and sorted tokens (got %zu)",
               base.bytes - small);
}

static void test_prediction(Check *t, Run *r) {
    GptConfig cs[] = {{.V = 256, .maxT = 64, .L = 2, .NH = 4, .C = 32, .F = 128},
                      {.V = 300, .maxT = 64, .L = 3, .NH = 2, .C = 48, .F = 100}};
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 3; k++) {
            GptMemOptions o = {.arena = k == 1, .classifier_rows = k == 2 ? 24 : 0};
            MemPlan p = plan_for(r, DT_F32, 3, 40, o.arena, o.classifier_rows);
            MemPrediction m = predict(&cs[i], &p);
            check_true(t, m.act == gpt_activation_bytes_opts(&cs[i], DT_F32, 3, 40, &o),
                       "model %d, %s: predicted activations %zu = gpt.c's count %zu", i, k == 0 ? "buffers" : k == 1 ? "arena" : "fused", m.act,
                       gpt_activation_bytes_opts(&cs[i], DT_F32, 3, 40, &o));
            Measured x = measure_step(r, &cs[i], DT_F32, 3, 40, &o, NULL, 0);
            check_true(t, x.measured == m.total, "model %d, %s: the CPU's accounting of a step %zu = prediction %zu", i,
                       k == 0 ? "buffers" : k == 1 ? "arena" : "fused", x.measured, m.total);
        }
    MemPlan p = plan_for(r, DT_F32, 4, 64, false, 0);
    GptConfig c = cs[0];
    MemPrediction none = predict(&c, &p);
    p.recompute = RECOMPUTE_FULL;
    MemPrediction full = predict(&c, &p);
    check_true(t, full.blocks == c.L * r256((size_t)4 * 64 * c.C * 4) + none.block, "recompute: L inputs plus one block");
    p.recompute = RECOMPUTE_NONE, p.optim = OPTIM_SGD;
    check_true(t, predict(&c, &p).total + none.optim == none.total, "SGD saves exactly AdamW's 8 bytes a parameter");
}

static void test_timeline(Check *t) {
    GptConfig c = {.V = 256, .maxT = 64, .L = 3, .NH = 4, .C = 32, .F = 128};
    GptMemOptions o = {.arena = true};
    Gpt *m = gpt_new_opts(&c, NULL, DT_F32, 2, 16, &o);
    gpt_init(m, 3);
    int32_t tok[33];
    for (int i = 0; i < 33; i++) tok[i] = (i * 37) % 256;
    gpt_forward_backward(m, tok, tok + 1, 2, 16);
    Run r = {0};
    MemPrediction pr = predict(&c, &(MemPlan){.dt = DT_F32, .B = 2, .T = 16});
    bool all = true, grow = true, shrink = true;
    int peak_at = -1;
    size_t peak = 0;
    for (int i = 0; i < m->nevents; i++) {
        const GptMemEvent *e = &m->events[i];
        all &= e->live == predicted_live(&c, &pr, e->what);
        if (e->live > peak) peak = e->live, peak_at = i;
        if (i > 0 && !strstr(e->what, "backward")) grow &= e->live > m->events[i - 1].live;
        if (i > 0 && strstr(e->what, "backward")) shrink &= e->live < m->events[i - 1].live;
    }
    (void)r;
    check_true(t, m->nevents == 2 * c.L + 3, "timeline: %d events (embedding, L blocks, head, back)", m->nevents);
    check_true(t, all, "timeline: every event's live bytes equal the prediction");
    check_true(t, peak_at >= 0 && !strcmp(m->events[peak_at].what, "head") && peak == m->arena->peak,
               "timeline: the peak is after the head, and equals the arena's peak");
    check_true(t, grow && shrink, "timeline: it grows through the forward pass and shrinks through the backward pass");
    gpt_free(m);
}

static void test_same_results(Check *t) {
    GptConfig c = {.V = 200, .maxT = 32, .L = 2, .NH = 2, .C = 32, .F = 96};
    int B = 3, T = 20;
    int32_t tok[61];
    for (int i = 0; i < 61; i++) tok[i] = (i * 53 + 7) % 200;
    GptMemOptions opts[] = {{0}, {.arena = true}, {.classifier_rows = 7}, {.arena = true, .classifier_rows = 16}};
    float *ref = NULL, *g = NULL;
    float loss0 = 0, score0 = 0;
    for (int k = 0; k < 4; k++) {
        Gpt *m = gpt_new_opts(&c, NULL, DT_F32, B, T, &opts[k]);
        gpt_init(m, 11);
        int32_t targets[60];
        for (int i = 0; i < 60; i++) targets[i] = tok[i + 1];
        targets[29] = -1;   /* position 29 has no target */
        float score = gpt_forward(m, tok, targets, B, T);
        gpt_zero_grad(m);
        float loss = gpt_forward_backward(m, tok, targets, B, T);
        if (!ref) ref = xcalloc(m->nparams, sizeof *ref), g = xcalloc(m->nparams, sizeof *g);
        gpt_get_grads(m, k == 0 ? ref : g);
        if (k == 0) { loss0 = loss, score0 = score; gpt_free(m); continue; }
        const char *name[] = {"", "arena", "fused (7 rows)", "arena and fused (16 rows)"};
        check_close(t, loss, loss0, 1e-6, 1e-6, "%s: the training loss equals the plain model's", name[k]);
        check_close(t, score, score0, 1e-6, 1e-6, "%s: the scoring loss equals the plain model's", name[k]);
        check_close_f32(t, g, ref, m->nparams, 1e-7, 1e-5, "%s: every gradient equals the plain model's", name[k]);
        gpt_free(m);
    }
    free(ref), free(g);
}

/* the chapter's chunked classifier against the whole logits at once */
static void test_chunked(Check *t) {
    int N = 23, C = 8, V = 37;
    Rng rng;
    rng_seed(&rng, 9);
    float *x = xcalloc((size_t)N * C, 4), *W = xcalloc((size_t)V * C, 4), *z = xcalloc((size_t)N * V, 4);
    float *l0 = xcalloc(N, 4), *l1 = xcalloc(N, 4), *lse = xcalloc(N, 4), *dx0 = xcalloc((size_t)N * C, 4), *dx1 = xcalloc((size_t)N * C, 4);
    float *dW0 = xcalloc((size_t)V * C, 4), *dW1 = xcalloc((size_t)V * C, 4), *buf = xcalloc((size_t)5 * V, 4);
    int32_t y[23];
    for (int i = 0; i < N * C; i++) x[i] = (float)rng_normal(&rng);
    for (int i = 0; i < V * C; i++) W[i] = (float)(0.3 * rng_normal(&rng));
    for (int i = 0; i < N; i++) y[i] = i == 4 ? -1 : (int32_t)rng_below(&rng, (uint64_t)V);
    int count = N - 1;
    linear_forward(z, x, W, NULL, N, C, V);
    float mean = cross_entropy_forward(l0, lse, z, y, N, V);
    cross_entropy_backward(z, z, lse, y, 1.0f / count, N, V);
    matmul_f32(false, false, N, C, V, 1.0f, z, V, W, C, 0.0f, dx0, C);
    matmul_f32(true, false, V, C, N, 1.0f, z, V, x, C, 0.0f, dW0, C);
    double got = classifier_chunked(x, W, y, N, C, V, 5, l1, dx1, dW1, buf, lse);
    check_close(t, got, mean, 1e-6, 1e-6, "chunked classifier (5 rows of 23): the mean loss");
    check_close_f32(t, l1, l0, N, 1e-6, 1e-5, "chunked classifier: every position's loss");
    check_close_f32(t, dx1, dx0, (size_t)N * C, 1e-7, 1e-5, "chunked classifier: dx");
    check_close_f32(t, dW1, dW0, (size_t)V * C, 1e-7, 1e-5, "chunked classifier: dW");
    free(x), free(W), free(z), free(l0), free(l1), free(lse), free(dx0), free(dx1), free(dW0), free(dW1), free(buf);
}

/* the forward pass with one block's buffers scores a batch as gpt_forward does, in the bytes predicted */
static void test_infer(Check *t, Run *r) {
    GptConfig c = {.V = 300, .maxT = 64, .L = 3, .NH = 4, .C = 32, .F = 96};
    int B = 2, T = 24, N = B * T;
    Gpt *m = gpt_new(&c, NULL, DT_F32, B, T);
    gpt_init(m, 21);
    float *host = xcalloc(m->nparams, sizeof *host);
    gpt_get_params(m, host);
    int32_t tok[49], tgt[48];
    for (int i = 0; i <= N; i++) tok[i] = (i * 61 + 5) % 300;
    for (int i = 0; i < N; i++) tgt[i] = i == 7 ? -1 : tok[i + 1];
    float want = gpt_forward(m, tok, tgt, B, T);
    Infer *f = infer_new(&c, NULL, DT_F32, B, T, host);
    float got = infer_forward(f, tok, tgt);
    check_close(t, got, want, 0, 1e-6, "inference with one block's buffers: the loss equals gpt_forward's (%.6f)", want);
    MemPrediction p = predict(&c, &(MemPlan){.dt = DT_F32, .B = B, .T = T});
    size_t used = m->nparams * 4 + f->arena->peak;
    check_true(t, used == p.inference, "inference: parameters + arena %zu = predicted %zu bytes", used, p.inference);
    check_true(t, f->arena->peak == f->arena->capacity, "inference: the arena is used to its last byte");
    Measured x = measure_infer(r, &c, DT_F32, B, T, host);
    check_true(t, x.measured == p.inference, "measure_infer on the CPU: %zu = predicted %zu", x.measured, p.inference);
    check_true(t, p.inference < predict(&c, &(MemPlan){.dt = DT_F32, .B = B, .T = T}).total, "inference takes less than training");
    /* the part ratios of training against inference: 16/e for the arrays, L for the blocks, 1 for the head */
    GptConfig s2 = gpt2_shape(0, 50304);
    MemPrediction q = predict(&s2, &(MemPlan){.dt = DT_BF16, .B = 8, .T = 1024, .gpu = true});
    check_true(t, q.params + q.grads + q.optim + q.master == 8 * q.params, "training keeps 16 bytes a parameter, inference 2: ratio 8");
    check_true(t, q.blocks == (size_t)s2.L * q.block, "training keeps L blocks, inference one: ratio L");
    Tally ti = {0};
    tally_infer(&ti, &s2, &(MemPlan){.dt = DT_BF16, .B = 8, .T = 1024, .gpu = true});
    size_t N2 = 8192;
    check_true(t, ti.bytes == q.block + q.head + 2 * r256(N2 * 768 * 2) + 3 * r256(N2 * 4) + r256(att_scratch_bytes(&s2, DT_BF16, 8, 1024)),
               "inference's activations: one block, the head, two [N,C], the batch, the attention scratch");
    /* the base's ratio (working buffers against two [N,C], the attention scratch on both sides) is at most 3
     * on the GPU, and the totals' ratio lies between 1 and the largest part ratio, max(16/e, L) */
    size_t base_infer = 2 * r256(N2 * 768 * 2) + 3 * r256(N2 * 4) + r256(att_scratch_bytes(&s2, DT_BF16, 8, 1024));
    check_true(t, q.base > base_infer && q.base < 3 * base_infer, "the base: at most 3 times inference's (%.2f)",
               (double)q.base / base_infer);
    for (int i = 0; i < NSHAPES_GPT2; i++) {
        GptConfig g2 = gpt2_shape(i, 50304);
        MemPrediction w = predict(&g2, &(MemPlan){.dt = DT_BF16, .B = 8, .T = 1024, .gpu = true});
        double ratio = (double)w.total / (double)w.inference, top = g2.L > 8 ? g2.L : 8;
        check_true(t, ratio > 1 && ratio < top, "%s: training / inference = %.2f, between 1 and max(16/e, L) = %.0f",
                   GPT2_NAMES[i], ratio, top);
    }
    infer_free(f), gpt_free(m), free(host);
}

/* at a fixed number of tokens N = B T, memory is linear in T with slope (L + 1) e N H (the softmax
 * weights of every block and the attention's scratch) */
static void test_fixed_tokens(Check *t) {
    GptConfig c = gpt2_shape(0, 50304);
    int Bs[] = {64, 32, 16, 8, 4};
    bool all = true;
    for (int i = 0; i + 1 < 5; i++) {
        int B0 = Bs[i], T0 = 16384 / B0, B1 = Bs[i + 1], T1 = 16384 / B1;
        size_t m0 = predict(&c, &(MemPlan){.dt = DT_BF16, .B = B0, .T = T0, .gpu = true}).total;
        size_t m1 = predict(&c, &(MemPlan){.dt = DT_BF16, .B = B1, .T = T1, .gpu = true}).total;
        all &= m1 - m0 == (size_t)(c.L + 1) * 2 * 16384 * c.NH * (size_t)(T1 - T0);
    }
    check_true(t, all, "fixed tokens (N 16384): each extra position of context costs (L + 1) e N H = 5,111,808 bytes");
    /* solution 8: GPT-2 medium's slope, 25 * 2 * 16384 * 16 = 13,107,200 bytes a position */
    GptConfig md = gpt2_shape(1, 50304);
    size_t d0 = predict(&md, &(MemPlan){.dt = DT_BF16, .B = 32, .T = 512, .gpu = true}).total;
    size_t d1 = predict(&md, &(MemPlan){.dt = DT_BF16, .B = 16, .T = 1024, .gpu = true}).total;
    check_true(t, d1 - d0 == (size_t)13107200 * 512, "solution 8: GPT-2 medium at N 16384 costs 13,107,200 bytes a position");
    /* the premise of B* = 16 P / a_T: the activations are linear in B */
    size_t a8 = predict(&c, &(MemPlan){.dt = DT_BF16, .B = 8, .T = 1024, .gpu = true}).act;
    size_t a16 = predict(&c, &(MemPlan){.dt = DT_BF16, .B = 16, .T = 1024, .gpu = true}).act;
    check_close(t, (double)a16, 2.0 * a8, 0, 1e-5, "the activations are linear in B (B 16 against twice B 8)");
}

/* the GPU's reduction scratch: 1 MiB at least, N C bytes for the embedding's backward pass */
static void test_scratch(Check *t) {
    GptConfig c = gpt2_shape(0, 50304);
    MemPlan p = {.dt = DT_BF16, .B = 32, .T = 1024, .gpu = true};
    check_true(t, reduction_scratch_bytes(&c, &p) == (size_t)32 * 1024 * 768, "scratch at GPT-2 small, B 32, T 1024: N C bytes (24 MiB)");
    p.B = 1, p.T = 64;
    check_true(t, reduction_scratch_bytes(&c, &p) == (size_t)1 << 20, "scratch of a tiny step: the 1 MiB minimum");
    p.B = 8, p.T = 1024;
    MemPrediction m = predict(&c, &p);
    check_true(t, m.scratch == (size_t)8192 * 768 && m.total >= m.scratch, "the prediction counts the scratch (6 MiB at B 8)");
    p.gpu = false;
    check_true(t, predict(&c, &p).scratch == 0, "no reduction scratch on the CPU");
}

/* solutions 4 and 11: the calculator's totals for GPT-2 medium at B 32 (MiB, as calc prints them), and the
 * largest batches of GPT-2 large in 79 GiB, plain, fused (4096 rows), recomputed, both */
static size_t calc_total(const GptConfig *c, int B, int rows, int recompute) {
    return predict(c, &(MemPlan){.dt = DT_BF16, .B = B, .T = 1024, .rows = rows, .recompute = recompute, .gpu = true,
                                 .page = PAGE}).total;
}

static void test_solutions_4_11(Check *t) {
    GptConfig md = gpt2_shape(1, 50304), lg = gpt2_shape(2, 50304);
    const size_t mib[4] = {60194, 14614, 57444, 11864};
    const int rows[4] = {0, 0, 4096, 4096}, rec[4] = {RECOMPUTE_NONE, RECOMPUTE_FULL, RECOMPUTE_NONE, RECOMPUTE_FULL};
    for (int k = 0; k < 4; k++)
        check_true(t, calc_total(&md, 32, rows[k], rec[k]) == mib[k] << 20, "solution 4: GPT-2 medium, B 32, setting %d: %zu MiB",
                   k, mib[k]);
    const int want[4] = {22, 189, 23, 257};
    const size_t budget = (size_t)79 << 30;
    for (int k = 0; k < 4; k++)
        check_true(t, calc_total(&lg, want[k], rows[k], rec[k]) <= budget && calc_total(&lg, want[k] + 1, rows[k], rec[k]) > budget,
                   "solution 11: GPT-2 large in 79 GiB, setting %d: the largest batch is %d", k, want[k]);
    check_true(t, calc_total(&md, 1, 4096, RECOMPUTE_NONE) == calc_total(&md, 1, 0, RECOMPUTE_NONE),
               "solution 4's edge: one sequence, 4096 rows save nothing");
    GptConfig one = md;
    one.L = 1;
    check_true(t, calc_total(&one, 8, 0, RECOMPUTE_FULL) > calc_total(&one, 8, 0, RECOMPUTE_NONE),
               "solution 4's edge: one block, recomputation costs memory");
}

static void test_experiments(Check *t) {
    char dir[] = "/tmp/test-ch11-XXXXXX";
    if (!mkdtemp(dir)) die("cannot make a temporary directory");
    Run r = {.layers = 2, .heads = 2, .embd = 32, .vocab = 256, .ctx = 32, .batch = 4, .dtype = "f32", .optimizer = "adamw",
             .recompute = "none"};
    quick_common(&r.c, "test_ch11", dir);
    check_true(t, run_all_experiments("ch11-memory", COMMANDS, sizeof COMMANDS / sizeof COMMANDS[0], &r) == 0,
               "every experiment runs with --quick");
    const char *names[] = {"ch11-params", "ch11-timeline", "ch11-breakdown", "ch11-scaling", "ch11-grid", "ch11-classifier",
                           "ch11-sizes"};
    for (int i = 0; i < 7; i++) {
        TsvTable *tab = load(t, dir, names[i]);
        if (!tab) continue;
        check_true(t, tsv_rows(tab) > 0, "%s has rows", names[i]);
        if (i == 0)
            for (size_t j = 0; j < tsv_rows(tab); j++) check_true(t, num(t, tab, j, "match") == 1, "params row %zu matches", j);
        if (i == 4) {
            double worst = 0;
            for (size_t j = 0; j < tsv_rows(tab); j++) worst = fmax(worst, fabs(num(t, tab, j, "err_pct")));
            check_true(t, worst == 0, "grid on the CPU: predicted = accounted exactly (worst %.3g%%)", worst);
        }
        if (i == 5) {
            double l0 = num(t, tab, 0, "loss");
            for (size_t j = 1; j < tsv_rows(tab); j++)
                if (num(t, tab, j, "B") == num(t, tab, 0, "B"))
                    check_close(t, num(t, tab, j, "loss"), l0, 1e-5, 1e-5, "classifier: fused loss = unfused loss (row %zu)", j);
        }
        if (i == 6) {
            for (size_t j = 0; j < tsv_rows(tab); j++) {
                check_true(t, num(t, tab, j, "train_pred") == num(t, tab, j, "train_meas") &&
                                  num(t, tab, j, "infer_pred") == num(t, tab, j, "infer_meas"),
                           "sizes row %zu: predicted = accounted, training and inference", j);
                check_true(t, num(t, tab, j, "infer_meas") < num(t, tab, j, "train_meas"), "sizes row %zu: inference < training", j);
                check_close(t, num(t, tab, j, "infer_loss"), log(256.0), 1e-4, 1e-4, "sizes row %zu: zero weights score log V", j);
            }
            check_true(t, num(t, tab, 2, "train_meas") > num(t, tab, 0, "train_meas"), "sizes: a larger model takes more");
        }
        if (i == 3) {
            /* memory against T grows faster than linearly (the T^2 term), against B linearly above the arrays */
            double m1 = num(t, tab, 4, "total") - num(t, tab, 4, "arrays"), m2 = num(t, tab, 5, "total") - num(t, tab, 5, "arrays");
            check_true(t, m2 > 2 * m1, "scaling: doubling T more than doubles the activations (%.3g -> %.3g)", m1, m2);
        }
        tsv_free(tab);
    }
    cli_free(&r.c);
    if (!remove_tree(dir)) check_true(t, false, "removing %s", dir);
}

static void test_errors(Check *t) {
    expect_program(t, "ch11-memory", "calc --dtype f8", 2, "dtype");
    expect_program(t, "ch11-memory", "calc --heads 5 --embd 768", 1, "multiple");
    expect_program(t, "ch11-memory", "maxbatch", 1, "needs a GPU");
    expect_program(t, "ch11-memory", "head", 1, "needs a GPU");
    expect_program(t, "ch11-memory", "calc --batch 0 --quick", 1, "at least 1");
    expect_program(t, "ch11-memory", "calc --recompute full --quick", 0, "chapter 12");
}

int main(void) {
    Check t;
    check_init(&t, "ch11");
    setenv("NO_PROGRESS", "1", 1);
#ifdef _OPENMP
    omp_set_num_threads(1);
#endif
    Run r = {0};
    cli_common_init(&r.c, "test_ch11");
    test_params(&t);
    test_block_bytes(&t);
    test_prediction(&t, &r);
    test_timeline(&t);
    test_same_results(&t);
    test_chunked(&t);
    test_infer(&t, &r);
    test_scratch(&t);
    test_fixed_tokens(&t);
    test_solutions_4_11(&t);
    test_solutions(&t);
    test_experiments(&t);
    test_errors(&t);
    cli_free(&r.c);
    return check_summary(&t);
}
