/* test_ch06.c -- chapter 6, training stability.
 *
 * Includes the tangled program (build/06-stability/stability.c, with TESTING
 * defined so that it has no main) and the tangled solutions to the coding
 * exercises, then checks every derivation of the chapter numerically:
 *   the slopes of the activations (central differences, and GELU against nn.h);
 *   the Gaussian expectations against their closed forms; Var(y) =
 *   fan_in Var(W) E[x^2] (the mean square, not the variance); the length map of
 *   linear, ReLU and tanh stacks (closed forms and tanh's fixed point); one layer
 *   of a wide random stack against the map; the fan-in / fan-out / Glorot rules
 *   on a funnel; batch, layer and RMS norm: central differences, agreement with
 *   common/nn.h (batch norm as layer norm of the transpose), the properties of
 *   their gradients, the running statistics, their dependence on the batch and
 *   on later positions; the whole model's gradient (every normalization,
 *   pre and post, with dropout and z-loss) against central differences; the
 *   z-loss gradient along the shift of all logits; pre-norm's stream growing like
 *   sqrt(1 + l), post-norm's gain of one per block and its sqrt(L) sensitivity; inverted dropout's expectation
 *   and the weight-scaling rule as an exact geometric mean for a softmax layer;
 *   weight decay as a Gaussian prior (ridge = MAP); early stopping as L2;
 *   the warm-up schedule; the smaller training text of whole documents;
 * then runs every experiment in --quick mode into a temporary directory and
 * checks the TSV files it writes, and checks the program's one-line errors.
 * Run from the repository root (make test does). */
#include "stability.c"
#include "ch06-solutions.c"

#include "check.h"
#include "chapter_test.h"

static void random_fill(float *x, size_t n, double scale, double shift, Rng *rng) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(scale * rng_normal(rng) + shift);
}

/* ---- Signal propagation ---------------------------------------------------- */

static void test_activations(Check *t) {
    double worst = 0;
    for (int a = 0; a < NACT; a++)
        for (int i = 0; i <= 80; i++) {
            double x = -4 + 0.1 * i + 0.013, h = 1e-5;
            double fd = (act_value((Act)a, x + h) - act_value((Act)a, x - h)) / (2 * h);
            worst = worst_of(worst, fabs(fd - act_slope((Act)a, x)));
        }
    check_true(t, worst < 1e-6, "every activation's slope against central differences (%.1e)", worst);
    float x[64], y[64], dy[64], dx[64] = {0}, dx2[64] = {0};
    Rng rng;
    rng_seed(&rng, 2);
    random_fill(x, 64, 2, 0, &rng), random_fill(dy, 64, 1, 0, &rng);
    gelu_forward(y, x, 64);
    gelu_backward(dx, dy, x, 64);
    double dv = 0, ds = 0;
    for (int i = 0; i < 64; i++) {
        dv = worst_of(dv, fabs(y[i] - gelu_value(x[i])));
        dx2[i] = (float)(dy[i] * gelu_slope(x[i]));
        ds = worst_of(ds, fabs(dx[i] - dx2[i]));
    }
    check_true(t, dv < 1e-6 && ds < 1e-5, "GELU and its slope agree with nn.h's gelu_forward/backward (%.1e, %.1e)", dv, ds);
}

static void test_gauss_expect(Check *t) {
    for (double q = 0.25; q <= 4; q *= 2) {
        check_close(t, gauss_expect(ACT_LINEAR, MOMENT_SQUARE, q), q, 1e-10, 1e-9, "E[z^2] = q (q = %g)", q);
        check_close(t, gauss_expect(ACT_RELU, MOMENT_SQUARE, q), q / 2, 1e-8, 1e-6, "E[relu(z)^2] = q/2 (q = %g)", q);
        check_close(t, gauss_expect(ACT_RELU, MOMENT_MEAN, q), sqrt(q / (2 * M_PI)), 1e-8, 1e-5,
                    "E[relu(z)] = sqrt(q / 2 pi) (q = %g)", q);
        check_close(t, gauss_expect(ACT_RELU, MOMENT_SLOPE_SQUARE, q), 0.5, 1e-6, 1e-4, "E[relu'(z)^2] = 1/2 (q = %g)", q);
        check_close(t, gauss_expect(ACT_TANH, MOMENT_MEAN, q), 0, 1e-12, 0, "E[tanh(z)] = 0 (q = %g)", q);
    }
    /* small q: tanh is the identity to first order, GELU is x/2 + x^2/sqrt(2 pi) */
    double q = 1e-4;
    check_close(t, gauss_expect(ACT_TANH, MOMENT_SQUARE, q), q, 0, 1e-3, "E[tanh(z)^2] ~ q for small q");
    check_close(t, gauss_expect(ACT_GELU, MOMENT_MEAN, q), q / sqrt(2 * M_PI), 0, 2e-2, "E[gelu(z)] ~ q / sqrt(2 pi) for small q");
    check_close(t, gauss_expect(ACT_GELU, MOMENT_SQUARE, q), q / 4, 0, 2e-2,
                "E[gelu(z)^2] ~ q/4 for small q: Kaiming's gain halves a small GELU signal");
    /* exercise 1: the variance of relu(z) is q (1/2 - 1/(2 pi)); a gain chosen from it, 1/0.341,
     * makes the true map q -> 1.47 q */
    double vr = gauss_expect(ACT_RELU, MOMENT_SQUARE, 1) - pow(gauss_expect(ACT_RELU, MOMENT_MEAN, 1), 2);
    check_close(t, vr, 0.5 - 1 / (2 * M_PI), 1e-8, 1e-6, "Var(relu(z)) = q (1/2 - 1/(2 pi)) = %.3f q", vr);
    LayerStats wrong[60];
    predict_stack(ACT_RELU, 1 / vr, 1, 60, wrong);
    check_close(t, wrong[59].q / wrong[58].q, 0.5 / vr, 1e-9, 1e-6, "and the map with gain 1/Var grows by %.3f per layer",
                0.5 / vr);
    check_true(t, log10(wrong[59].q) > 9.5 && log10(wrong[59].q) < 10.5, "about 10^10 over sixty layers (10^%.1f)",
               log10(wrong[59].q));
    /* GELU against Monte Carlo */
    Rng rng;
    rng_seed(&rng, 5);
    double s = 0, n = 400000;
    for (int i = 0; i < (int)n; i++) s += pow(gelu_value(1.5 * rng_normal(&rng)), 2);
    check_close(t, gauss_expect(ACT_GELU, MOMENT_SQUARE, 2.25), s / n, 0, 1e-2, "E[gelu(z)^2] by quadrature = by Monte Carlo");
}

/* Var(y) = fan_in Var(W) E[x^2]: with inputs of mean 1 and variance 1, E[x^2] = 2. */
static void test_one_layer(Check *t) {
    Rng rng;
    rng_seed(&rng, 7);
    int n = 256, trials = 4000;
    float *W = xmalloc_array((size_t)n, sizeof *W), *x = xmalloc_array((size_t)n, sizeof *x);
    double s = 0, var = 0.5 / n;
    for (int k = 0; k < trials; k++) {
        init_normal(W, 1, n, var, &rng);
        random_fill(x, (size_t)n, 1, 1, &rng);
        double y = 0;
        for (int i = 0; i < n; i++) y += (double)W[i] * x[i];
        s += y * y;
    }
    check_close(t, s / trials, n * var * 2.0, 0, 0.06, "Var(y) = fan_in Var(W) E[x^2] = 0.5 * 2 (got %.3f)", s / trials);
    free(W), free(x);
    check_close(t, init_variance(INIT_GLOROT, 300, 100, 1), 2.0 / 400, 1e-15, 1e-12, "Glorot: 2 / (fan_in + fan_out)");
    check_close(t, init_variance(INIT_FAN_IN, 300, 100, 2), 2.0 / 300, 1e-15, 1e-12, "Kaiming: 2 / fan_in");
    check_close(t, init_variance(INIT_FAN_OUT, 300, 100, 1), 1.0 / 100, 1e-15, 1e-12, "fan-out: 1 / fan_out");
}

static void test_length_map(Check *t) {
    LayerStats p[20];
    predict_stack(ACT_LINEAR, 1, 1, 20, p);
    check_close(t, p[19].q, 1, 1e-9, 1e-9, "linear, Xavier: q stays 1 for 20 layers");
    predict_stack(ACT_RELU, 2, 1, 20, p);
    bool flat = true;
    for (int l = 0; l < 20; l++) flat &= fabs(p[l].q - 2) < 1e-6 && fabs(p[l].chi - 1) < 1e-5;
    check_true(t, flat, "ReLU, Kaiming: q = 2 at every layer and chi = 1");
    predict_stack(ACT_RELU, 1, 1, 20, p);
    check_close(t, p[10].q, pow(0.5, 10), 1e-12, 1e-6, "ReLU, Xavier: q halves at every layer");
    predict_stack(ACT_TANH, 2, 1, 20, p);
    double qs = p[19].q, fixed = 2 * gauss_expect(ACT_TANH, MOMENT_SQUARE, qs);
    check_close(t, fixed, qs, 1e-6, 1e-5, "tanh, sigma2 = 2: q converges to a fixed point q* = 2 E[tanh^2] (%.4f)", qs);
    predict_stack(ACT_TANH, 1, 1, 20, p);
    check_true(t, p[19].q < p[9].q && p[9].q < p[0].q && p[19].q > 0.01,
               "tanh, sigma2 = 1: q decays slowly, like a power of the depth (%.3f after 20 layers)", p[19].q);
    /* E[tanh^2] = q - 2 q^2 + O(q^3), so 1 / q_l grows by about 2 per layer: q ~ 1 / (2 l) */
    LayerStats *pp = xcalloc(400, sizeof *pp);
    predict_stack(ACT_TANH, 1, 1, 400, pp);
    double slope = (1 / pp[399].q - 1 / pp[199].q) / 200;
    check_close(t, slope, 2.0, 0, 0.05, "tanh, sigma2 = 1: 1/q grows by 2 per layer (%.3f)", slope);
    free(pp);
}

/* One layer of a wide stack follows the map; the gradient follows chi. */
static void test_stack_step(Check *t) {
    int L = 3, D = 512, B = 64;
    for (int a = 0; a < NACT; a++) {
        Stack s;
        stack_init(&s, L, D, B, (Act)a);
        LayerStats meas[3], pred[3];
        double g[4];
        Rng rng;
        rng_seed(&rng, 11 + (uint64_t)a);
        stack_measure(&s, 2.0, &rng, meas, g);
        double in = mean_square(s.h, (size_t)B * D);
        check_close(t, meas[0].q, 2 * in, 0, 0.03, "%s: q_1 = sigma2 E[x^2] (%.4f)", ACT_NAMES[a], meas[0].q);
        check_close(t, meas[1].q, 2 * meas[0].msq, 0, 0.04, "%s: q_2 = sigma2 E[h_1^2] (%.4f)", ACT_NAMES[a], meas[1].q);
        predict_stack((Act)a, 2.0, in, 1, pred);
        check_close(t, meas[0].msq, pred[0].msq, 0, 0.03, "%s: E[phi(z)^2] of layer 1 = the Gaussian expectation", ACT_NAMES[a]);
        check_close(t, g[2] / g[3], 2 * gauss_expect((Act)a, MOMENT_SLOPE_SQUARE, meas[2].q), 0, 0.05,
                    "%s: the gradient's mean square shrinks by chi = sigma2 E[phi'^2] through the top layer", ACT_NAMES[a]);
        stack_free(&s);
    }
}

/* ---- Normalization ----------------------------------------------------------- */

/* Over each group (a row for layer and RMS norm, a column for batch norm): the
 * normalized values have mean 0 (if centred) and mean square ~1; the input
 * gradient sums to 0 (if centred) and is orthogonal to xhat. */
static void check_group_properties(Check *t, const NormBench *b, const char *name) {
    bool center = b->kind != NORM_RMS, rows = b->kind != NORM_BATCH;
    int G = rows ? b->N : b->C, n = rows ? b->C : b->N;
    double worst_mean = 0, worst_msq = 0, worst_sum = 0, worst_dot = 0;
    for (int g = 0; g < G; g++) {
        double m = 0, msq = 0, sum = 0, dot = 0, scale = 0;
        for (int k = 0; k < n; k++) {
            size_t i = rows ? (size_t)g * b->C + k : (size_t)k * b->C + g;
            m += b->s.xhat[i] / n, msq += b->s.xhat[i] * b->s.xhat[i] / n;
            sum += b->dx[i], dot += b->dx[i] * b->s.xhat[i], scale += fabs(b->dx[i]);
        }
        worst_mean = fmax(worst_mean, center ? fabs(m) : 0), worst_msq = worst_of(worst_msq, fabs(msq - 1));
        worst_sum = fmax(worst_sum, center ? fabs(sum) / scale : 0), worst_dot = fmax(worst_dot, fabs(dot) / scale);
    }
    check_true(t, worst_mean < 1e-6 && worst_msq < 1e-4, "%s: each group of xhat has mean 0 and mean square 1 (%.1e, %.1e)",
               name, worst_mean, worst_msq);
    check_true(t, worst_sum < 1e-5 && worst_dot < 1e-4,
               "%s: the gradient has no component along 1 (if centred) or along xhat (%.1e, %.1e)", name, worst_sum, worst_dot);
}

static void test_norm_layers(Check *t) {
    Rng rng;
    rng_seed(&rng, 13);
    NormKind kinds[] = {NORM_BATCH, NORM_BATCH, NORM_LAYER, NORM_RMS};
    bool train[] = {true, false, true, true};
    const char *names[] = {"batch norm (train)", "batch norm (eval)", "layer norm", "RMS norm"};
    for (int k = 0; k < 4; k++) {
        NormBench b;
        bench_init(&b, kinds[k], train[k], 12, 10, &rng);
        double fd = bench_gradcheck(&b);
        check_true(t, fd < 2e-4, "%s: dx, dgamma, dbeta against central differences (%.1e of the largest)", names[k], fd);
        float ry[120], rdx[120];
        bench_forward(&b), bench_backward(&b);
        bench_reference(&b, ry, rdx);
        check_close_f32(t, b.y, ry, 120, 1e-5, 1e-5, "%s: forward agrees with %s", names[k],
                        kinds[k] == NORM_BATCH ? (train[k] ? "nn.h layer norm of the transpose" : "the affine formula") : "common/nn.h");
        check_close_f32(t, b.dx, rdx, 120, 1e-5, 1e-4, "%s: backward agrees", names[k]);
        if (train[k]) check_group_properties(t, &b, names[k]);
        bench_free(&b);
    }
}

/* The example worked by hand in the prose: x = (0, 3, 6), gradient (1, 0, 0) at xhat. */
static void test_worked_example(Check *t) {
    float x[3] = {0, 3, 6}, mean[1], var[1], rstd[1], xhat[3], g[3] = {1, 0, 0}, dx[3] = {0};
    norm_statistics(mean, var, rstd, x, 1, 3, AXIS_ROWS, true);
    normalize_apply(xhat, x, mean, rstd, 1, 3, AXIS_ROWS);
    normalize_backward(dx, g, xhat, rstd, 1, 3, AXIS_ROWS, true, true);
    double r = 1 / sqrt(6 + NORM_EPS);
    check_true(t, fabs(mean[0] - 3) < 1e-6 && fabs(var[0] - 6) < 1e-5 && fabs(xhat[2] - 3 * r) < 1e-5,
               "worked example: mean 3, variance 6, xhat = (-3, 0, 3) / sqrt 6");
    check_true(t, fabs(dx[0] - r / 6) < 1e-6 && fabs(dx[1] + r / 3) < 1e-6 && fabs(dx[2] - r / 6) < 1e-6,
               "worked example: the gradient is (r/6, -r/3, r/6) (%.5f %.5f %.5f)", dx[0], dx[1], dx[2]);
}

static void test_running_statistics(Check *t) {
    float rm[3] = {0, 0, 0}, rv[3] = {1, 1, 1}, mean[3] = {2, -1, 0.5f}, var[3] = {4, 1, 0.25f};
    bn_update_running(rm, rv, mean, var, 5, 3, 0.1f);
    check_close(t, rm[0], 0.2, 1e-7, 1e-6, "running mean after one step: 0.9 * 0 + 0.1 * 2");
    check_close(t, rv[0], 0.9 + 0.1 * 4 * 5.0 / 4.0, 1e-6, 1e-6, "running variance: unbiased, 0.9 * 1 + 0.1 * 4 * 5/4");
    for (int k = 0; k < 300; k++) bn_update_running(rm, rv, mean, var, 5, 3, 0.1f);
    check_close(t, rm[1], -1, 1e-5, 1e-5, "after many steps the running mean is the batch mean");
    check_close(t, rv[2], 0.25 * 1.25, 1e-5, 1e-5, "and the running variance N/(N-1) times the batch variance");
    /* dependence on the batch and on later positions */
    Rng rng;
    rng_seed(&rng, 17);
    check_true(t, batch_dependence(NORM_BATCH, 32, 16, &rng) > 0.01, "batch norm: a row's output depends on the other rows");
    check_true(t, batch_dependence(NORM_LAYER, 32, 16, &rng) == 0 && batch_dependence(NORM_RMS, 32, 16, &rng) == 0,
               "layer and RMS norm: it does not, bit for bit");
    check_true(t, future_leak(NORM_BATCH, 4, 8, 16, &rng) > 1e-4, "batch norm over positions: earlier outputs see later inputs");
    check_true(t, future_leak(NORM_LAYER, 4, 8, 16, &rng) == 0 && future_leak(NORM_RMS, 4, 8, 16, &rng) == 0,
               "layer and RMS norm: no position sees another");
    NormBench one;
    bench_init(&one, NORM_BATCH, true, 1, 8, &rng);
    bench_forward(&one);
    bool zero = true;
    for (int c = 0; c < 8; c++) zero &= one.s.xhat[c] == 0 && one.y[c] == one.beta[c];
    check_true(t, zero, "batch norm on a batch of one row: every output is beta, whatever the input");
    bench_free(&one);
}

/* ---- The model --------------------------------------------------------------- */

typedef struct { Model *m; int B; double zloss; Rng drop; float *rm, *rv; } ModelCtx;

/* The training objective at the model's current parameters, with the same dropout
 * masks and running statistics every time. */
static double model_objective(const float *p, void *ctx) {
    ModelCtx *c = ctx;
    (void)p;
    size_t nr = (size_t)(c->m->nnorm > 0 ? c->m->nnorm : 1) * c->m->cfg.D;
    c->m->drop = c->drop;
    model_forward(c->m, c->B, MODE_TRAIN);
    memcpy(c->m->run_mean, c->rm, nr * sizeof(float)), memcpy(c->m->run_var, c->rv, nr * sizeof(float));
    LossStats s = loss_forward(c->m, c->B, c->zloss, false);
    return s.loss + c->zloss * s.logz_sq;
}

static void test_model_gradient(Check *t) {
    for (int k = 0; k < NNORM; k++)
        for (int place = 0; place < 2; place++) {
            ModelConfig c = {.V = 7, .T = 3, .E = 4, .D = 6, .H = 10, .L = 3, .act = ACT_GELU, .norm = (NormKind)k,
                             .place = (Place)place, .branch_scale = 1, .dropout = 0.3f, .bn_momentum = 0.1f};
            Model *m = model_new(&c, 5, 3);
            Rng rng;
            rng_seed(&rng, 9);
            for (size_t i = 0; i < m->n; i++) m->params[i] += (float)(0.3 * rng_normal(&rng));
            for (int i = 0; i < 15; i++) m->ctx[i] = (int32_t)rng_below(&rng, 8);    /* padding too */
            for (int i = 0; i < 5; i++) m->y[i] = (int32_t)rng_below(&rng, 7);
            size_t nr = (size_t)(m->nnorm > 0 ? m->nnorm : 1) * c.D;
            ModelCtx mc = {m, 5, 0.1, m->drop, xmalloc_array(nr, sizeof(float)), xmalloc_array(nr, sizeof(float))};
            memcpy(mc.rm, m->run_mean, nr * sizeof(float)), memcpy(mc.rv, m->run_var, nr * sizeof(float));
            memset(m->grads, 0, m->n * sizeof(float));
            model_objective(m->params, &mc);
            loss_forward(m, 5, 0.1, true);
            model_backward(m, 5);
            float *g = xmalloc_array(m->n, sizeof *g);
            memcpy(g, m->grads, m->n * sizeof *g);
            GradErr e = gradcheck_f32(model_objective, &mc, m->params, m->n, g, 3e-3f);
            double big = 0;
            for (size_t i = 0; i < m->n; i++) big = fmax(big, fabs(g[i]));
            check_true(t, e.max_abs < 1e-3 * big,
                       "%s norm, %s: every gradient (dropout 0.3, z-loss 0.1) against central differences (%.1e of %.1e)",
                       NORM_NAMES[k], PLACE_NAMES[place], e.max_abs, big);
            free(g), free(mc.rm), free(mc.rv);
            model_free(m);
        }
}

/* Adam's first step, with no history, is lr times the sign of the gradient, whatever its size;
 * bf16 rounds a number near 100 to within 0.25. */
static void test_first_step(Check *t) {
    float p[6] = {0}, g[6] = {1e-3f, -2, 50, -1e-2f, 3, -7e3f}, m[6] = {0}, v[6] = {0};
    AdamW opt = {.lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0};
    adamw_update(p, g, m, v, 6, &opt, 1, 1);
    bool sign = true;
    for (int i = 0; i < 6; i++) sign &= fabs(p[i] + 0.01 * (g[i] > 0 ? 1 : -1)) < 1e-5;
    check_true(t, sign, "Adam's first step moves every parameter by lr against the sign of its gradient");
    double worst = 0;
    for (double x = 64; x < 128; x += 0.0137) worst = worst_of(worst, fabs(bf16_to_f32(f32_to_bf16((float)x)) - x));
    check_true(t, worst <= 0.25 + 1e-9, "bf16 keeps a number in [64, 128) to within 0.25 (%.4f)", worst);
}

static void test_model_pieces(Check *t) {
    ModelConfig c = {.V = 85, .T = 16, .E = 16, .D = 128, .H = 256, .L = 8, .act = ACT_RELU, .norm = NORM_LAYER,
                     .place = PLACE_PRE, .branch_scale = 1, .bn_momentum = 0.1f};
    Tensors tt;
    size_t nmat, n = model_layout(&tt, NULL, &c, &nmat);
    /* by hand: (85+1)*16 + 128*256 + 8*(256*128*2) + 85*128 matrices; 128 + 8*(256+128) + 9*2*128 + 85 vectors */
    size_t mats = 86 * 16 + 128 * 256 + 8 * 2 * 256 * 128 + 85 * 128, vecs = 128 + 8 * (256 + 128) + 9 * 256 + 85;
    check_true(t, nmat == mats && n == mats + vecs, "the parameter count of a pre-norm model (%zu, %zu)", nmat, n);
    c.place = PLACE_POST, n = model_layout(&tt, NULL, &c, &nmat);
    check_true(t, n == mats + vecs - 256, "post-norm has no final normalization");
    c.norm = NORM_RMS, n = model_layout(&tt, NULL, &c, &nmat);
    check_true(t, n == mats + vecs - 256 - 8 * 128, "RMS norm has no shift");
    /* z-loss: cross-entropy has no gradient along the shift of every logit; z-loss has 2 alpha lse / B */
    ModelConfig s = {.V = 9, .T = 2, .E = 3, .D = 4, .H = 4, .L = 1, .act = ACT_RELU, .norm = NORM_NONE, .branch_scale = 1};
    Model *m = model_new(&s, 4, 1);
    Rng rng;
    rng_seed(&rng, 3);
    random_fill(m->logits, 36, 3, 2, &rng);
    for (int b = 0; b < 4; b++) m->y[b] = b * 2;
    float keep[36], lse[4], losses[4];
    memcpy(keep, m->logits, sizeof keep);
    float ref = cross_entropy_forward(losses, lse, keep, m->y, 4, 9);
    LossStats ls = loss_forward(m, 4, 0.01, true);
    check_close(t, ls.loss, ref, 1e-6, 1e-5, "loss_forward's cross-entropy agrees with nn.h");
    bool shift = true;
    for (int b = 0; b < 4; b++) {
        double sum = 0;
        for (int j = 0; j < 9; j++) sum += m->logits[b * 9 + j];
        shift &= fabs(sum - 2 * 0.01 * lse[b] / 4) < 1e-6;
    }
    check_true(t, shift, "the gradient along (1, ..., 1) is exactly z-loss's 2 alpha log Z / B, row by row");
    model_free(m);
    TrainSpec sp = {.steps = 1000, .lr = 1, .warmup = 100, .decay = true};
    check_close(t, lr_at(&sp, 0), 0.01, 1e-12, 1e-9, "warm-up starts at lr / warmup");
    check_close(t, lr_at(&sp, 99), 1, 1e-12, 1e-9, "and reaches lr after warmup steps");
    check_close(t, lr_at(&sp, 999), 0.1, 1e-4, 1e-3, "and the cosine ends at lr / 10");
}

/* Pre- and post-norm at initialization: the pre-norm stream's variance grows like
 * 1 + l; the post-norm block passes the gradient with a gain of about one; a small
 * change of every block moves the post-norm output like sqrt(L). */
static void test_prepost_init(Check *t) {
    int L = 16, B = 64;
    Run r = {.nval = 4000};
    uint32_t *x = xmalloc_array(r.nval, sizeof *x);
    Rng rng;
    rng_seed(&rng, 29);
    for (size_t i = 0; i < r.nval; i++) x[i] = (uint32_t)rng_below(&rng, 20);
    r.xval = x;
    double sens[2][2];
    for (int place = 0; place < 2; place++)
        for (int deep = 0; deep < 2; deep++) {
            ModelConfig c = {.V = 20, .T = 8, .E = 8, .D = 128, .H = 256, .L = deep ? L : 1, .act = ACT_RELU,
                             .norm = NORM_LAYER, .place = (Place)place, .branch_scale = 1, .bn_momentum = 0.1f};
            Model *m = model_new(&c, B, 41);
            double s = 0;
            for (int k = 0; k < 4; k++) s += output_sensitivity(m, &r, 0.01, &rng) / 4;
            sens[place][deep] = s;
            if (deep && place == PLACE_PRE) {
                model_probe(m, &r);
                bool grows = true;
                for (int l = 1; l <= L; l++) {
                    double rms = sqrt(mean_square(resid(m, l), (size_t)(B < PROBE_ROWS ? B : PROBE_ROWS) * c.D));
                    grows &= fabs(rms / sqrt(1.0 + l) - 1) < 0.15;
                }
                check_true(t, grows, "pre-norm at initialization: the stream's RMS at layer l is sqrt(1 + l) to 15%%");
            }
            if (deep && place == PLACE_POST) {
                double *g = xcalloc((size_t)L + 1, sizeof *g);
                m->grad_r = g;
                for (int b = 0; b < B; b++) {
                    for (int k = 0; k < c.T; k++) m->ctx[b * c.T + k] = (int32_t)rng_below(&rng, 20);
                    m->y[b] = (int32_t)rng_below(&rng, 20);
                }
                model_forward(m, B, MODE_BATCH);
                loss_forward(m, B, 0, true);
                model_backward(m, B);
                double per_block = pow(g[0] / g[L - 1], 1.0 / (L - 1));
                check_close(t, per_block, 1, 0, 0.05,
                            "post-norm at initialization: each block passes the gradient with a gain of 1 to 5%% (%.3f)", per_block);
                m->grad_r = NULL;
                free(g);
            }
            model_free(m);
        }
    check_close(t, sens[PLACE_POST][1] / sens[PLACE_POST][0], sqrt((double)L), 0, 0.2,
                "post-norm: the output's sensitivity to every block grows like sqrt(L) (%.2f for L = 16)",
                sens[PLACE_POST][1] / sens[PLACE_POST][0]);
    check_true(t, sens[PLACE_PRE][1] / sens[PLACE_PRE][0] < 0.7 * sqrt((double)L), "pre-norm: it grows much more slowly (%.2f)",
               sens[PLACE_PRE][1] / sens[PLACE_PRE][0]);
    free(x);
}

/* Dropout: E[mask] = 1; and for a softmax of a linear map, the weight-scaled
 * network's prediction is the normalized geometric mean of every thinned one. */
static void test_dropout(Check *t) {
    Rng rng;
    rng_seed(&rng, 19);
    size_t n = 200000;
    float *h = xmalloc_array(n, sizeof *h), *mask = xmalloc_array(n, sizeof *mask);
    for (size_t i = 0; i < n; i++) h[i] = 1;
    dropout_forward(h, mask, n, 0.3f, &rng);
    double s = 0, zeros = 0;
    for (size_t i = 0; i < n; i++) s += h[i], zeros += mask[i] == 0;
    check_close(t, s / n, 1, 0, 0.01, "inverted dropout keeps the mean (%.4f)", s / n);
    check_close(t, zeros / n, 0.3, 0, 0.02, "and drops a fraction p");
    free(h), free(mask);
    enum { U = 10, V = 4 };
    double W[V][U], x[U], p = 0.3, logg[V] = {0};
    for (int j = 0; j < V; j++) for (int i = 0; i < U; i++) W[j][i] = rng_normal(&rng);
    for (int i = 0; i < U; i++) x[i] = rng_normal(&rng);
    for (int mk = 0; mk < (1 << U); mk++) {
        double prob = 1, z[V], mx = -1e300, sum = 0;
        for (int i = 0; i < U; i++) prob *= (mk >> i & 1) ? 1 - p : p;
        for (int j = 0; j < V; j++) {
            z[j] = 0;
            for (int i = 0; i < U; i++) z[j] += (mk >> i & 1) ? W[j][i] * x[i] / (1 - p) : 0;
            mx = fmax(mx, z[j]);
        }
        for (int j = 0; j < V; j++) sum += exp(z[j] - mx);
        for (int j = 0; j < V; j++) logg[j] += prob * (z[j] - mx - log(sum));
    }
    double zg[V], full[V], mx = -1e300, mf = -1e300, sg = 0, sf = 0, worst = 0;
    for (int j = 0; j < V; j++) {
        full[j] = 0;
        for (int i = 0; i < U; i++) full[j] += W[j][i] * x[i];
        zg[j] = logg[j], mx = fmax(mx, zg[j]), mf = fmax(mf, full[j]);
    }
    for (int j = 0; j < V; j++) sg += exp(zg[j] - mx), sf += exp(full[j] - mf);
    for (int j = 0; j < V; j++) worst = worst_of(worst, fabs(exp(zg[j] - mx) / sg - exp(full[j] - mf) / sf));
    check_true(t, worst < 1e-12, "the full network's softmax = normalized geometric mean of all 1024 thinned ones (%.1e)", worst);
}

/* Weight decay is a Gaussian prior; early stopping is L2 with alpha = 1 / (eta t). */
static void test_regularizers(Check *t) {
    /* ridge regression on 2 features: gradient descent on the penalized loss reaches
     * the MAP estimate (X'X + lambda I)^-1 X'y */
    double X[6][2] = {{1, 0.5}, {0.2, 1}, {-1, 0.3}, {0.7, -0.8}, {0.1, 0.1}, {-0.4, -1.2}}, y[6] = {1, 2, -1, 0.5, 0.3, -2};
    double lambda = 0.7, A[2][2] = {{lambda, 0}, {0, lambda}}, bvec[2] = {0, 0};
    for (int i = 0; i < 6; i++)
        for (int a = 0; a < 2; a++) {
            bvec[a] += X[i][a] * y[i];
            for (int c = 0; c < 2; c++) A[a][c] += X[i][a] * X[i][c];
        }
    double det = A[0][0] * A[1][1] - A[0][1] * A[1][0];
    double map[2] = {(A[1][1] * bvec[0] - A[0][1] * bvec[1]) / det, (A[0][0] * bvec[1] - A[1][0] * bvec[0]) / det};
    double w[2] = {0, 0};
    for (int it = 0; it < 20000; it++) {
        double g[2] = {lambda * w[0], lambda * w[1]};
        for (int i = 0; i < 6; i++) {
            double r = X[i][0] * w[0] + X[i][1] * w[1] - y[i];
            g[0] += r * X[i][0], g[1] += r * X[i][1];
        }
        w[0] -= 0.05 * g[0], w[1] -= 0.05 * g[1];
    }
    check_true(t, fabs(w[0] - map[0]) < 1e-9 && fabs(w[1] - map[1]) < 1e-9,
               "gradient descent on the L2-penalized loss reaches the Gaussian-prior MAP estimate");
    /* early stopping: along an eigendirection of curvature c, gradient descent from 0
     * keeps 1 - (1 - eta c)^t of the optimum; ridge with alpha keeps c / (c + alpha) */
    double eta = 0.01, worst = 0, iter_err = 0;
    int steps = 500;
    for (double c = 1e-3; c <= 1e2; c *= 1.5) {
        double v = 0;
        for (int k = 0; k < steps; k++) v -= eta * c * (v - 1);   /* loss c/2 (v - 1)^2 */
        double kept = 1 - pow(1 - eta * c, steps), ridge = c / (c + 1 / (eta * steps));
        iter_err = worst_of(iter_err, fabs(v - kept));
        if (eta * c < 1) worst = worst_of(worst, fabs(kept - ridge));
    }
    check_true(t, iter_err < 1e-12, "gradient descent from 0 keeps exactly 1 - (1 - eta c)^t of each direction");
    check_true(t, worst < 0.21, "and that is L2's c / (c + 1/(eta t)) to within %.3f", worst);
}

/* The order-0 model by hand: training text 0 0 1, vocabulary of 2: counts plus one are 3 and 2,
 * so p(0) = 3/5 and p(1) = 2/5. */
static void test_unigram(Check *t) {
    uint32_t train[3] = {0, 0, 1}, val[2] = {0, 1};
    Dataset d = {.vocab = {.size = 2}};
    Run r = {.data = &d, .xtrain = train, .ntrain = 3};
    double want = -(log(3.0 / 5) + log(2.0 / 5)) / 2;
    check_close(t, unigram_loss(&r, val, 2), want, 1e-12, 1e-12, "the order-0 model's loss, by hand");
}

/* A smaller training text: every k-th document, whole. */
static void test_take_documents(Check *t) {
    const char *txt = "doc one.\n\ndoc two.\n\nthree\n\nfour!\n\n";
    Text small = take_documents(txt, strlen(txt), 20);
    check_true(t, strcmp(small.text, "doc two.\n\nfour!\n\n") == 0, "every k-th training document, whole (%s)", small.text);
    text_free(&small);
    small = take_documents(txt, strlen(txt), 1000);
    check_true(t, strcmp(small.text, txt) == 0, "a target longer than the text keeps all of it");
    text_free(&small);
    small = take_documents("no break at all", 15, 5);
    check_true(t, small.len == 5 && strcmp(small.text, "no br") == 0, "a text without document breaks is cut at the target");
    text_free(&small);
}

/* ---- The worked solutions ------------------------------------------------------ */

typedef struct { NormState s; float *x, *y, *dy, *g, *b; int N, C, G; } GroupCtx;
static double group_loss(const float *p, void *ctx) {
    GroupCtx *c = ctx;
    memcpy(c->x, p, (size_t)c->N * c->C * sizeof(float));
    groupnorm_forward(&c->s, c->y, c->x, c->g, c->b, c->N, c->C, c->G);
    double s = 0;
    for (int i = 0; i < c->N * c->C; i++) s += (double)c->dy[i] * c->y[i];
    return s;
}

static void test_solutions(Check *t) {
    Rng rng;
    rng_seed(&rng, 23);
    int n = 64;
    float *W = xmalloc_array((size_t)n * n, sizeof *W);
    init_orthogonal(W, n, &rng);
    double worst = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double d = 0;
            for (int k = 0; k < n; k++) d += (double)W[i * n + k] * W[j * n + k];
            worst = worst_of(worst, fabs(d - (i == j)));
        }
    check_true(t, worst < 1e-6, "orthogonal initialization: W W^T = I (%.1e)", worst);
    /* a linear stack of 30 orthogonal layers keeps every vector's length */
    float x[64], y[64];
    random_fill(x, 64, 1, 0, &rng);
    double before = sqrt(grad_norm_squared(x, 64));
    for (int l = 0; l < 30; l++) {
        init_orthogonal(W, n, &rng);
        matmul_f32(false, true, 1, n, n, 1, x, n, W, n, 0, y, n);
        memcpy(x, y, sizeof x);
    }
    check_close(t, sqrt(grad_norm_squared(x, 64)), before, 0, 1e-4, "30 orthogonal layers keep a vector's length exactly");
    free(W);
    /* group norm: G = 1 is layer norm; its gradient against central differences */
    int N = 6, C = 12;
    GroupCtx gc = {.N = N, .C = C, .G = 3};
    norm_state_init(&gc.s, NORM_LAYER, N * 12, C);
    gc.x = xmalloc_array(72, sizeof(float)), gc.y = xmalloc_array(72, sizeof(float)), gc.dy = xmalloc_array(72, sizeof(float));
    gc.g = xmalloc_array(12, sizeof(float)), gc.b = xmalloc_array(12, sizeof(float));
    random_fill(gc.x, 72, 2, 1, &rng), random_fill(gc.dy, 72, 1, 0, &rng), random_fill(gc.g, 12, 0.3, 1, &rng);
    random_fill(gc.b, 12, 0.3, 0, &rng);
    float ref[72];
    gc.G = 1;
    groupnorm_forward(&gc.s, gc.y, gc.x, gc.g, gc.b, N, C, 1);
    layernorm_forward(ref, NULL, NULL, gc.x, gc.g, gc.b, N, C);
    check_close_f32(t, gc.y, ref, 72, 1e-5, 1e-5, "group norm with one group is layer norm");
    gc.G = 3;
    groupnorm_forward(&gc.s, gc.y, gc.x, gc.g, gc.b, N, C, 3);
    float dx[72] = {0}, scratch[72], p[72];
    groupnorm_backward(&gc.s, dx, NULL, NULL, gc.dy, gc.g, N, C, 3, scratch);
    memcpy(p, gc.x, sizeof p);
    GradErr e = gradcheck_f32(group_loss, &gc, p, 72, dx, 3e-3f);
    double big = 0;
    for (int i = 0; i < 72; i++) big = fmax(big, fabs(dx[i]));
    check_true(t, e.max_abs < 1e-3 * big, "group norm's input gradient against central differences (%.1e of %.1e)", e.max_abs, big);
    norm_state_free(&gc.s);
    free(gc.x), free(gc.y), free(gc.dy), free(gc.g), free(gc.b);
    /* adaptive clipping: every row ends within lambda of its weight's norm, small ones untouched */
    float Wt[4 * 8], G[4 * 8], G0[4 * 8];
    random_fill(Wt, 32, 1, 0, &rng), random_fill(G, 32, 1, 0, &rng);
    for (int k = 0; k < 8; k++) G[k] *= 1e-3f;   /* row 0 is already small */
    memcpy(G0, G, sizeof G);
    int clipped = agc_clip(G, Wt, 4, 8, 0.1, 1e-3);
    bool ok = memcmp(G, G0, 8 * sizeof(float)) == 0;
    for (int i = 1; i < 4; i++)
        ok &= sqrt(grad_norm_squared(G + i * 8, 8)) <= 0.1 * sqrt(grad_norm_squared(Wt + i * 8, 8)) * (1 + 1e-6);
    check_true(t, ok && clipped == 3, "adaptive clipping: rows above lambda |W_i| are scaled to it, others untouched");
}

/* ---- The experiments, at --quick size -------------------------------------------- */

static bool all_finite(Check *t, TsvTable *tab, const char *col) {
    int c = tsv_col(tab, col);
    if (c < 0) return check_true(t, false, "column %s exists", col);
    for (size_t i = 0; i < tsv_rows(tab); i++)
        if (!isfinite(tsv_num(tab, i, c))) return false;
    return true;
}

static size_t find_row(TsvTable *tab, const char *col, const char *value, const char *col2, const char *value2) {
    int a = tsv_col(tab, col), b = col2 ? tsv_col(tab, col2) : -1;
    for (size_t i = 0; i < tsv_rows(tab); i++)
        if (a >= 0 && strcmp(tsv_cell(tab, i, a), value) == 0 && (b < 0 || strcmp(tsv_cell(tab, i, b), value2) == 0))
            return i;
    return (size_t)-1;
}

static void test_quick_experiments(Check *t, Run *r) {
    const char *d = r->c.out;
    check_true(t, run_all_experiments("ch06-stability", COMMANDS, sizeof COMMANDS / sizeof COMMANDS[0], r) == 0,
               "every experiment of all runs at --quick size");
    write_times(r);
    TsvTable *tm = load(t, d, "ch06-times");
    if (tm) {
        bool pos = tsv_rows(tm) == NTIMED + 1;
        double sum = 0;
        for (size_t i = 0; i < NTIMED && pos; i++) pos &= num(t, tm, i, "seconds") >= 0, sum += num(t, tm, i, "seconds");
        check_true(t, pos && fabs(num(t, tm, NTIMED, "seconds") - sum) < 0.1 * NTIMED,
                   "all records the processor time of each experiment, and their sum");
        tsv_free(tm);
    }
    TsvTable *v = load(t, d, "ch06-variance");
    if (v) {
        size_t row = find_row(v, "act", "linear", "init", "xavier");
        check_true(t, row != (size_t)-1 && num(t, v, row + 1, "q_pred") == 1, "linear, Xavier: the predicted variance is 1");
        bool means = true;   /* the plain average of the draws lies between the extremes and above the geometric mean */
        for (size_t i = 0; i < tsv_rows(v); i++)
            if (num(t, v, i, "layer") >= 1) {
                double q = num(t, v, i, "q"), qm = num(t, v, i, "q_mean");
                means &= qm >= q * (1 - 1e-5) && qm >= num(t, v, i, "q_lo") * (1 - 1e-5) && qm <= num(t, v, i, "q_hi") * (1 + 1e-5);
            }
        check_true(t, means, "every layer's average variance lies between its smallest and largest draw, above their geometric mean");
        bool close = true;
        for (size_t i = 0; i < tsv_rows(v); i++)
            if (num(t, v, i, "layer") == 1) close &= fabs(num(t, v, i, "step_ratio") - 1) < 0.25;
        check_true(t, close, "the first layer of every stack follows the map to within the noise of a small draw");
        tsv_free(v);
    }
    TsvTable *f = load(t, d, "ch06-fans");
    if (f) {
        check_true(t, tsv_rows(f) == 3 && fabs(num(t, f, 0, "forward") - 1) < 0.3 && fabs(num(t, f, 1, "backward") - 1) < 0.3,
                   "the fan-in rule keeps the forward signal and the fan-out rule the backward one");
        double k = num(t, f, 2, "layers");
        check_close(t, num(t, f, 2, "forward_pred"), pow(4.0 / 3, k), 1e-3, 1e-3, "Glorot's rule on a funnel: (4/3)^layers forward");
        check_close(t, num(t, f, 2, "backward_pred"), pow(2.0 / 3, k), 1e-3, 1e-3, "and (2/3)^layers backward");
        tsv_free(f);
    }
    TsvTable *nm = load(t, d, "ch06-norms");
    if (nm) {
        bool agree = true;
        for (size_t i = 0; i < tsv_rows(nm); i++)
            agree &= num(t, nm, i, "ref_fwd_diff") < 1e-5 && num(t, nm, i, "ref_bwd_diff") < 1e-5 && num(t, nm, i, "fd_err") < 1e-3;
        check_true(t, tsv_rows(nm) == 4 && agree, "the normalization table: four layers that agree and pass the gradient check");
        check_true(t, num(t, nm, 0, "batch_dep") > 0 && num(t, nm, 2, "batch_dep") == 0 && num(t, nm, 0, "future_leak") > 0 &&
                      num(t, nm, 3, "future_leak") == 0 && num(t, nm, 0, "single_row_max") == 0,
                   "batch norm depends on the batch and leaks the future; layer and RMS norm do not");
        tsv_free(nm);
    }
    TsvTable *sn = load(t, d, "ch06-sensitivity");
    if (sn) {
        bool unit = tsv_rows(sn) > 0;
        for (size_t i = 0; i < tsv_rows(sn); i++)
            if (num(t, sn, i, "depth") == 1) unit &= fabs(num(t, sn, i, "growth") - 1) < 1e-9;
        check_true(t, tsv_rows(sn) > 0 && all_finite(t, sn, "sensitivity") && all_finite(t, sn, "growth") && unit,
                   "sensitivities are finite, and their growth is 1 at one block");
        tsv_free(sn);
    }
    TsvTable *lr = load(t, d, "ch06-depth-lr");
    if (lr) {
        check_true(t, tsv_rows(lr) == 2 * (NLR_CHECK + 1) && all_finite(t, lr, "val_loss") && all_finite(t, lr, "test_loss"),
                   "the learning-rate check: pre and post at every rate and with warm-up, finite losses");
        tsv_free(lr);
    }
    TsvTable *dp = load(t, d, "ch06-depth");
    if (dp) {
        bool finite = true;
        for (size_t i = 0; i < tsv_rows(dp); i++)
            if (strcmp(tsv_cell(dp, i, 0), "none") != 0) finite &= isfinite(num(t, dp, i, "val_loss")) && num(t, dp, i, "val_loss") < 4.6;
        check_true(t, tsv_rows(dp) == (size_t)NARCH * 3 && finite,
                   "the depth sweep: every normalized model trains to a finite loss below ln V");
        tsv_free(dp);
    }
    TsvTable *ug = load(t, d, "ch06-unigram");
    if (ug) {
        double u = num(t, ug, 0, "val_loss");
        double V = num(t, ug, 0, "vocab");
        check_true(t, V == 85 && u > 2.5 && u < log(V), "the order-0 model's validation loss is below ln V (%.3f)", u);
        tsv_free(ug);
    }
    TsvTable *g = load(t, d, "ch06-bn-gap");
    if (g) {
        check_true(t, tsv_rows(g) == 2 && all_finite(t, g, "bn_eval") && all_finite(t, g, "ln_eval"),
                   "batch norm against layer norm: finite losses");
        tsv_free(g);
    }
    TsvTable *rg = load(t, d, "ch06-reg");
    if (rg) {
        check_true(t, tsv_rows(rg) == 2 * (2 + NREG_DROPOUTS + NREG_DECAYS + 2), "the regularization table: every run of both widths");
        tsv_free(rg);
    }
    TsvTable *ch = load(t, d, "ch06-reg-chosen");
    if (ch) {
        bool sane = tsv_rows(ch) == 2 * 6 && all_finite(t, ch, "test_loss") && all_finite(t, ch, "gap");
        for (size_t i = 0; i < tsv_rows(ch); i++)
            if (strcmp(tsv_cell(ch, i, tsv_col(ch, "method")), "none") == 0) sane &= num(t, ch, i, "test_gain") == 0;
        check_true(t, sane, "six chosen regularizers per width, with finite losses, gains measured against none");
        tsv_free(ch);
    }
    TsvTable *rs = load(t, d, "ch06-reg-seeds");
    if (rs) {
        bool differ = tsv_rows(rs) == REG_SEEDS && all_finite(t, rs, "test_loss");
        for (size_t i = 1; i < tsv_rows(rs) && differ; i++) differ &= num(t, rs, i, "test_loss") != num(t, rs, 0, "test_loss");
        check_true(t, differ, "the widest unregularized model on %d seeds: finite, and each seed a different run", REG_SEEDS);
        tsv_free(rs);
    }
    TsvTable *en = load(t, d, "ch06-ensemble");
    if (en) {
        check_true(t, tsv_rows(en) == NENSEMBLE && num(t, en, 0, "vs_scaled") == 0 && all_finite(t, en, "val_loss"),
                   "the dropout ensemble: one row per K, the weight-scaled pass first");
        tsv_free(en);
    }
    TsvTable *co = load(t, d, "ch06-cost");
    if (co) {
        bool pos = tsv_rows(co) == NARCH + 3;
        for (size_t i = 0; i < tsv_rows(co); i++) pos &= num(t, co, i, "ms_per_step") > 0;
        check_true(t, pos, "a positive step time for every normalization and regularizer");
        check_true(t, num(t, co, 0, "relative") == 1 && num(t, co, NARCH, "relative") == 1,
                   "each group's times are relative to its first configuration");
        tsv_free(co);
    }
    TsvTable *in = load(t, d, "ch06-instability");
    if (in) {
        check_true(t, (int)tsv_rows(in) == NSCENARIOS, "one row per scenario");
        size_t nan_row = find_row(in, "run", "lr 1", NULL, NULL);
        check_true(t, nan_row != (size_t)-1 && (num(t, in, nan_row, "diverged") == 1 || num(t, in, nan_row, "peak_loss") > 100),
                   "learning rate 1 without normalization blows up (a NaN, or a loss above 100), even at --quick size");
        bool peaks = true;   /* a run that never had a finite loss after step 0 has no peak, not a peak of 0 */
        for (size_t i = 0; i < tsv_rows(in); i++)
            if (num(t, in, i, "diverged") == 1 && num(t, in, i, "diverged_at") <= 1) peaks &= isnan(num(t, in, i, "peak_loss"));
            else peaks &= num(t, in, i, "peak_loss") > 0;
        check_true(t, peaks, "each scenario's peak loss is a loss it had (nan if it had none after step 0)");
        tsv_free(in);
    }
    TsvTable *il = load(t, d, "ch06-instability-log");
    if (il) {
        bool once = true;
        int rc = tsv_col(il, "run"), sc = tsv_col(il, "step");
        for (size_t i = 1; i < tsv_rows(il); i++)
            once &= !(strcmp(tsv_cell(il, i, rc), tsv_cell(il, i - 1, rc)) == 0 &&
                      strcmp(tsv_cell(il, i, sc), tsv_cell(il, i - 1, sc)) == 0);
        check_true(t, once, "the diagnostics log has one row per run and step");
        tsv_free(il);
    }
    const char *others[] = {"ch06-depth-curves", "ch06-depth-grads", "ch06-bn-trace", "ch06-bn-modes", "ch06-reg-curves",
                            "ch06-ensemble", "ch06-instability-log", "ch06-depth-lr"};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        TsvTable *x = load(t, d, others[i]);
        if (x) {
            check_true(t, tsv_rows(x) > 0, "%s has rows", others[i]);
            tsv_free(x);
        }
    }
}

/* The program itself: one-line errors and nonzero exits on bad input. */
static void test_command_line(Check *t, const char *dir) {
    char *diverge = xasprintf("train --quick --lr 1 --norm none --depth 16 --steps 20 --out %s", dir);
    const ProgramCase cases[] = {
        {"train --norm group", 2, "--norm"},
        {"train --depth 999", 2, "--depth"},
        {"trian", 2, "unknown experiment"},
        {"train --bogus", 2, "unknown option"},
        {"train --data /nonexistent/file.txt", 1, "/nonexistent/file.txt"},
        {"train --dropout 1", 2, "--dropout"},
        {diverge, 1, "diverged"},
        {"--help", 0, "usage"},
    };
    expect_programs(t, "ch06-stability", cases, sizeof cases / sizeof cases[0]);
    free(diverge);
}

int main(void) {
    Check t;
    check_init(&t, "ch06");
    setenv("NO_PROGRESS", "1", 1);
    test_activations(&t);
    test_gauss_expect(&t);
    test_one_layer(&t);
    test_length_map(&t);
    test_stack_step(&t);
    test_norm_layers(&t);
    test_worked_example(&t);
    test_running_statistics(&t);
    test_model_gradient(&t);
    test_model_pieces(&t);
    test_first_step(&t);
    test_prepost_init(&t);
    test_dropout(&t);
    test_regularizers(&t);
    test_take_documents(&t);
    test_unigram(&t);
    test_solutions(&t);
    char dir[] = "/tmp/test-ch06-XXXXXX";
    if (!mkdtemp(dir)) die("cannot make a temporary directory");
    Run r = {.depth = 8, .width = 128, .steps = 0, .batch = 64, .max_depth = 64, .lr = 0, .branch_scale = 1,
             .norm = "layer", .place = "pre", .act = "relu"};
    quick_common(&r.c, "test_ch06", dir);
    test_quick_experiments(&t, &r);
    unload_data(&r);
    cli_free(&r.c);
    test_command_line(&t, dir);
    remove_tree(dir);
    return check_summary(&t);
}
