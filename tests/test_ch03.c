/* test_ch03.c -- chapter 3, backpropagation by hand.
 *
 * Includes the tangled program (build/03-backprop/backprop.c, with TESTING
 * defined so that it has no main) and the tangled solutions to the coding
 * exercises, then checks every derivation of the chapter numerically:
 *   every backward pass against finite differences and against common/nn.h
 *   (the verify table), the worked examples of the prose (a matrix product
 *   and softmax + cross-entropy by hand), the properties the derivations
 *   promise (the softmax Jacobian is symmetric, positive semi-definite and
 *   its rows sum to zero; layer norm's gradient is orthogonal to the ones
 *   vector and nearly to x-hat; the residual highway passes the gradient
 *   unchanged; backward passes accumulate), attention against common/nn.h
 *   with several sequences and heads, the cross-entropy in place; every
 *   operation built on chapter 2's tape against the chapter's backward pass;
 *   the mean-field theory of deep stacks (ReLU's chi, tanh's small-q
 *   expansion, the power law at the critical gain); attention's row sums
 *   D = rowsum(dO * O);
 * then runs every experiment in --quick mode into a temporary directory and
 * checks the TSV files (the factors per layer multiply to the ratios;
 * vanishing, exploding and the highway where the
 * chapter says; clipping keeps the weights finite; the naive softmax fails
 * and the log-space one does not), the exercises' solutions, and the
 * program's one-line errors.  Run from the repository root (make test does). */
#include "backprop.c"
#include "ch03-solutions.c"

#include "check.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include "chapter_test.h"

/* ---- the verify table, at test size --------------------------------------- */

static void test_every_backward_pass(Check *t) {
    Rng rng;
    rng_seed(&rng, 31);
    for (int i = 0; i < NOP_CHECKS; i++) {
        CheckResult res = check_op(&OP_CHECKS[i], 5, &rng);
        check_true(t, res.numeric < 1e-7, "%s: backward pass agrees with finite differences (%.2e of the gradient)",
                   OP_CHECKS[i].op, res.numeric);
        if (OP_CHECKS[i].common)
            check_true(t, res.common < 1e-5, "%s: common/nn.h agrees with the chapter (%.2e)", OP_CHECKS[i].op,
                       res.common);
    }
}

/* ---- worked examples of the prose ------------------------------------------ */

static void test_worked_examples(Check *t) {
    /* the prose's example: X = (1 2), W = [1 0 -1; 2 1 0], dY = (1 0 2) */
    double X[2] = {1, 2}, W[6] = {1, 0, -1, 2, 1, 0}, Y[3], dY[3] = {1, 0, 2}, dX[2] = {0}, dW[6] = {0};
    const double Y_ref[3] = {5, 2, -1}, dX_ref[2] = {-1, 2}, dW_ref[6] = {1, 0, 2, 2, 0, 4};
    ch03_matmul_forward(Y, X, W, 1, 2, 3);
    ch03_matmul_backward(dX, dW, dY, X, W, 1, 2, 3);
    check_close_f64(t, Y, Y_ref, 3, 0, 0, "matmul by hand: Y = (5, 2, -1)");
    check_close_f64(t, dX, dX_ref, 2, 0, 0, "matmul by hand: dX = dY W^T = (-1, 2)");
    check_close_f64(t, dW, dW_ref, 6, 0, 0, "matmul by hand: dW = X^T dY = [1 0 2; 2 0 4]");
    /* softmax + cross-entropy of (1, 2, 3), target 0, as in the prose */
    double x[3] = {1, 2, 3}, y[3], g[3] = {0};
    ch03_softmax_forward(y, x, 1, 3);
    ch03_cross_entropy_backward(g, x, 0, 3, 1);
    const double y_ref[3] = {0.0900, 0.2447, 0.6652}, g_ref[3] = {-0.9100, 0.2447, 0.6652};
    check_close_f64(t, y, y_ref, 3, 5e-5, 0, "softmax(1, 2, 3) = (0.0900, 0.2447, 0.6652)");
    check_close_f64(t, g, g_ref, 3, 5e-5, 0, "cross-entropy gradient = (-0.9100, 0.2447, 0.6652)");
    check_close(t, ch03_cross_entropy(x, 0, 3), 2.408, 5e-4, 0, "cross-entropy loss = 2.408");
    check_close(t, g[0] + g[1] + g[2], 0, 1e-15, 0, "the cross-entropy gradient sums to zero");
}

/* ---- properties the derivations promise ------------------------------------ */

static void test_softmax_jacobian(Check *t) {
    Rng rng;
    rng_seed(&rng, 32);
    enum { V = 9 };
    double x[V], y[V], J[V * V], dy[V], dx[V] = {0}, explicit_dx[V] = {0};
    for (int i = 0; i < V; i++) x[i] = 2 * rng_normal(&rng), dy[i] = rng_normal(&rng);
    ch03_softmax_forward(y, x, 1, V);
    ch03_softmax_jacobian(J, y, V);
    double asym = 0, rowsum = 0, min_quad = INFINITY;
    for (int i = 0; i < V; i++) {
        double s = 0;
        for (int j = 0; j < V; j++) {
            asym = worst_of(asym, fabs(J[i * V + j] - J[j * V + i]));
            s += J[i * V + j];
            explicit_dx[j] += J[i * V + j] * dy[i];
        }
        rowsum = fmax(rowsum, fabs(s));
    }
    for (int trial = 0; trial < 100; trial++) {
        double v[V], q = 0;
        for (int i = 0; i < V; i++) v[i] = rng_normal(&rng);
        for (int i = 0; i < V; i++)
            for (int j = 0; j < V; j++) q += v[i] * J[i * V + j] * v[j];
        min_quad = fmin(min_quad, q);
    }
    ch03_softmax_backward(dx, dy, y, 1, V);
    check_true(t, asym < 1e-17, "the softmax Jacobian is symmetric (%.1e)", asym);
    check_true(t, rowsum < 1e-15, "every row of the softmax Jacobian sums to zero (%.1e)", rowsum);
    check_true(t, min_quad >= -1e-15, "the softmax Jacobian is positive semi-definite (min v'Jv %.1e)", min_quad);
    check_close_f64(t, dx, explicit_dx, V, 1e-15, 1e-12, "the collapsed softmax backward pass equals J^T dy");
}

static void test_layernorm_properties(Check *t) {
    Rng rng;
    rng_seed(&rng, 33);
    enum { N = 3, C = 10 };
    double x[N * C], g[C], b[C], y[N * C], dy[N * C], dx[N * C] = {0}, mean[N], rstd[N];
    for (int i = 0; i < N * C; i++) x[i] = 3 * rng_normal(&rng) + 1, dy[i] = rng_normal(&rng);
    for (int i = 0; i < C; i++) g[i] = rng_normal(&rng), b[i] = rng_normal(&rng);
    ch03_layernorm_forward(y, mean, rstd, x, g, b, N, C);
    ch03_layernorm_backward(dx, NULL, NULL, dy, x, g, mean, rstd, N, C);
    for (int n = 0; n < N; n++) {
        double s = 0, sx = 0, dxhat_xhat = 0, xhat2 = 0;
        for (int j = 0; j < C; j++) {
            double xhat = (x[n * C + j] - mean[n]) * rstd[n];
            s += dx[n * C + j];
            sx += dx[n * C + j] * xhat;
            dxhat_xhat += dy[n * C + j] * g[j] * xhat;
            xhat2 += xhat * xhat / C;
        }
        check_true(t, fabs(s) < 1e-12, "layer norm row %d: the gradient sums to zero (%.1e)", n, s);
        check_close(t, sx, rstd[n] * dxhat_xhat * (1 - xhat2), 1e-12, 1e-9,
                    "layer norm row %d: sum dx * xhat = r sum(dxhat xhat)(1 - mean xhat^2)", n);
    }
}

static void test_highway_and_accumulation(Check *t) {
    enum { N = 2, D = 3 };
    double x[N * D] = {0.5, -1, 2, 0.1, 0.2, -0.3}, W[D * D] = {0}, y[N * D], a[N * D];
    double dy[N * D] = {1, 2, 3, -1, -2, -3}, dx[N * D] = {0}, dW[D * D] = {0};
    ch03_residual_forward(y, a, x, W, N, D);
    ch03_residual_backward(dx, dW, dy, x, W, a, N, D);
    check_close_f64(t, dx, dy, N * D, 0, 0, "a residual block with a zero branch passes the gradient unchanged");
    /* two calls add: the accumulate convention */
    double X[6] = {1, 2, 3, 4, 5, 6}, Wm[6] = {1, -1, 0.5, 2, 0, 1}, G[4] = {1, 0.5, -1, 2};
    double dX1[6] = {0}, dW1[6] = {0}, dX2[6] = {0}, dW2[6] = {0};
    ch03_matmul_backward(dX1, dW1, G, X, Wm, 2, 3, 2);
    ch03_matmul_backward(dX2, dW2, G, X, Wm, 2, 3, 2);
    ch03_matmul_backward(dX2, dW2, G, X, Wm, 2, 3, 2);
    for (int i = 0; i < 6; i++) dX1[i] *= 2, dW1[i] *= 2;
    check_close_f64(t, dX2, dX1, 6, 1e-15, 0, "matmul backward accumulates into dX");
    check_close_f64(t, dW2, dW1, 6, 1e-15, 0, "matmul backward accumulates into dW");
}

/* common/nn.h's attention with B sequences and NH heads, against the chapter's
 * single head run on every (sequence, head) slice. */
static void test_attention_heads(Check *t) {
    enum { B = 2, T = 5, C = 8, NH = 2, HS = C / NH };
    Rng rng;
    rng_seed(&rng, 34);
    float qkv[B * T * 3 * C], out[B * T * C], att[B * NH * T * T], dout[B * T * C], dqkv[B * T * 3 * C] = {0};
    for (int i = 0; i < B * T * 3 * C; i++) qkv[i] = (float)rng_normal(&rng);
    for (int i = 0; i < B * T * C; i++) dout[i] = (float)rng_normal(&rng);
    attention_forward(out, att, qkv, B, T, C, NH);
    attention_backward(dqkv, dout, qkv, att, B, T, C, NH);
    double worst_out = 0, worst_grad = 0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            double Q[T * HS], K[T * HS], V[T * HS], O[T * HS], P[T * T], dO[T * HS];
            double dQ[T * HS] = {0}, dK[T * HS] = {0}, dV[T * HS] = {0};
            for (int s = 0; s < T; s++)
                for (int c = 0; c < HS; c++) {
                    const float *row = qkv + (size_t)(b * T + s) * 3 * C + h * HS + c;
                    Q[s * HS + c] = row[0], K[s * HS + c] = row[C], V[s * HS + c] = row[2 * C];
                    dO[s * HS + c] = dout[(b * T + s) * C + h * HS + c];
                }
            ch03_attention_forward(O, P, Q, K, V, T, HS);
            ch03_attention_backward(dQ, dK, dV, dO, Q, K, V, P, T, HS);
            for (int s = 0; s < T; s++)
                for (int c = 0; c < HS; c++) {
                    const float *g = dqkv + (size_t)(b * T + s) * 3 * C + h * HS + c;
                    worst_out = worst_of(worst_out, fabs(out[(b * T + s) * C + h * HS + c] - O[s * HS + c]));
                    worst_grad = worst_of(worst_grad, fabs(g[0] - dQ[s * HS + c]));
                    worst_grad = worst_of(worst_grad, fabs(g[C] - dK[s * HS + c]));
                    worst_grad = worst_of(worst_grad, fabs(g[2 * C] - dV[s * HS + c]));
                }
        }
    check_true(t, worst_out < 1e-5, "attention with 2 sequences and 2 heads: outputs agree with common/nn.h (%.1e)",
               worst_out);
    check_true(t, worst_grad < 1e-5, "attention with 2 sequences and 2 heads: gradients agree with common/nn.h (%.1e)",
               worst_grad);
}

/* common/nn.h's cross-entropy overwriting its logits in place gives the chapter's gradient. */
static void test_cross_entropy_in_place(Check *t) {
    enum { N = 3, V = 7 };
    Rng rng;
    rng_seed(&rng, 35);
    float logits[N * V], losses[N], lse[N];
    double xd[N * V], g[N * V] = {0};
    int32_t targets[N] = {2, -1, 6};
    for (int i = 0; i < N * V; i++) xd[i] = 3 * rng_normal(&rng), logits[i] = (float)xd[i];
    cross_entropy_forward(losses, lse, logits, targets, N, V);
    cross_entropy_backward(logits, logits, lse, targets, 0.5f, N, V);
    for (int n = 0; n < N; n++)
        if (targets[n] >= 0) ch03_cross_entropy_backward(g + n * V, xd + n * V, targets[n], V, 0.5);
    double worst = 0;
    for (int i = 0; i < N * V; i++) worst = worst_of(worst, fabs(logits[i] - g[i]));
    check_true(t, worst < 1e-6, "cross_entropy_backward in place equals the chapter's gradient; a row without target gets 0 (%.1e)",
               worst);
}

/* ---- the solutions to the coding exercises --------------------------------- */

enum { RN = 3, RC = 7 };
typedef struct { double r[RN * RC]; } RmsProbe;

/* p = [x (RN x RC) | gamma (RC)] */
static double probe_rmsnorm(const double *p, void *ctx) {
    double y[RN * RC], rrms[RN], s = 0;
    ch03_rmsnorm_forward(y, rrms, p, p + RN * RC, RN, RC);
    for (int i = 0; i < RN * RC; i++) s += ((RmsProbe *)ctx)->r[i] * y[i];
    return s;
}

static double probe_gelu(const double *p, void *ctx) {
    (void)ctx;
    return gelu(p[0]);
}

static void test_solutions(Check *t) {
    Rng rng;
    rng_seed(&rng, 36);
    /* exercise 5: RMS norm */
    RmsProbe pr;
    double p[RN * RC + RC], g[RN * RC + RC] = {0}, y[RN * RC], rrms[RN];
    for (int i = 0; i < RN * RC; i++) pr.r[i] = rng_normal(&rng);
    for (int i = 0; i < RN * RC + RC; i++) p[i] = rng_normal(&rng);
    ch03_rmsnorm_forward(y, rrms, p, p + RN * RC, RN, RC);
    ch03_rmsnorm_backward(g, g + RN * RC, pr.r, p, p + RN * RC, rrms, RN, RC);
    GradErr e = gradcheck_f64(probe_rmsnorm, &pr, p, RN * RC + RC, g, FD_STEP);
    check_true(t, e.max_abs / max_abs(g, RN * RC + RC) < 1e-7, "exercise 5: RMS norm backward agrees with finite differences (%.1e)",
               e.max_abs / max_abs(g, RN * RC + RC));
    float pf[RN * RC + RC], yf[RN * RC], rf[RN], dy[RN * RC], dpf[RN * RC + RC] = {0};
    for (int i = 0; i < RN * RC + RC; i++) pf[i] = (float)p[i];
    for (int i = 0; i < RN * RC; i++) dy[i] = (float)pr.r[i];
    rmsnorm_forward(yf, rf, pf, pf + RN * RC, RN, RC);
    rmsnorm_backward(dpf, dpf + RN * RC, dy, pf, pf + RN * RC, rf, RN, RC);
    double worst = 0;
    worst_f32(&worst, yf, y, RN * RC);
    worst_f32(&worst, dpf, g, RN * RC + RC);
    check_true(t, worst < 1e-5, "exercise 5: RMS norm agrees with common/nn.h (%.1e)", worst);
    for (int n = 0; n < RN; n++) {
        double sx = 0, scale = 0;
        for (int j = 0; j < RC; j++) sx += g[n * RC + j] * p[n * RC + j], scale += fabs(g[n * RC + j] * p[n * RC + j]);
        check_true(t, fabs(sx) < 1e-3 * scale, "exercise 2: RMS norm's gradient is nearly orthogonal to x (row %d: %.1e)", n, sx);
    }
    /* exercise 6: GELU */
    double gd_worst = 0, gc_worst = 0;
    for (int k = 0; k <= 40; k++) {
        double x = -5 + 0.25 * k, d = gelu_derivative(x), gx[1] = {d}, xv[1] = {x};
        GradErr ge = gradcheck_f64(probe_gelu, NULL, xv, 1, gx, FD_STEP);
        gd_worst = fmax(gd_worst, ge.max_abs);
        float xf = (float)x, one = 1, dxf = 0, yg;
        gelu_forward(&yg, &xf, 1);
        gelu_backward(&dxf, &one, &xf, 1);
        gc_worst = fmax(gc_worst, fmax(fabs(dxf - d), fabs(yg - gelu(x))));
    }
    check_true(t, gd_worst < 1e-8, "exercise 6: GELU's derivative agrees with finite differences at 41 points (%.1e)", gd_worst);
    check_true(t, gc_worst < 1e-5, "exercise 6: GELU and its derivative agree with common/nn.h (%.1e)", gc_worst);
    /* exercise 7: clip by value turns the gradient, clip by norm does not */
    Stack s;
    stack_init(&s, 50, 16, 8, ACT_RELU, false);
    stack_init_weights(&s, STANDARD_GAIN[ACT_RELU] * 2, &rng);
    for (int i = 0; i < 8 * 16; i++) s.h[i] = rng_normal(&rng);
    stack_forward(&s);
    for (int i = 0; i < 8 * 16; i++) s.dh[50 * 8 * 16 + i] = rng_normal(&rng);
    stack_backward(&s);
    size_t nw = (size_t)50 * 16 * 16;
    double *by_value = xmalloc_array(nw, sizeof *by_value), *by_norm = xmalloc_array(nw, sizeof *by_norm);
    double norm = norm2(s.dW, nw), scale = clip_scale(norm, 1.0f);
    for (size_t i = 0; i < nw; i++) by_value[i] = s.dW[i], by_norm[i] = s.dW[i] * scale;
    clip_by_value(by_value, nw, 1e-3 * norm / sqrt((double)nw));
    check_close(t, norm2(by_norm, nw), 1, 1e-5, 0, "common/nn.h's clip_scale brings the norm to 1");
    check_close(t, cosine(by_norm, s.dW, nw), 1, 1e-12, 0, "exercise 7: clipping by the norm keeps the direction");
    check_true(t, cosine(by_value, s.dW, nw) < 0.9, "exercise 7: clipping by value turns the gradient (cosine %.3f)",
               cosine(by_value, s.dW, nw));
    free(by_value);
    free(by_norm);
    stack_free(&s);
    /* exercise 8: forgetting the variance is an error of the order of the gradient */
    Probe lp;
    double q[PN * PC + 2 * PC], right[PN * PC + 2 * PC] = {0}, wrong[PN * PC] = {0}, yl[PN * PC], mean[PN], rstd[PN];
    for (int i = 0; i < PROBE_MAX; i++) lp.r[i] = rng_normal(&rng);
    for (int i = 0; i < PN * PC + 2 * PC; i++) q[i] = rng_normal(&rng);
    grad_layernorm(right, q, &lp);
    ch03_layernorm_forward(yl, mean, rstd, q, q + PN * PC, q + PN * PC + PC, PN, PC);
    layernorm_backward_no_variance(wrong, lp.r, q + PN * PC, rstd, PN, PC);
    double err = 0;
    for (int i = 0; i < PN * PC; i++) err = worst_of(err, fabs(wrong[i] - right[i]));
    check_true(t, err > 1e-2 * max_abs(right, PN * PC), "exercise 8: without the variance term the error is %.2f of the gradient",
               err / max_abs(right, PN * PC));
}

/* ---- mean-field theory of the deep stacks ------------------------------------- */

static void test_mean_field(Check *t) {
    double ms, chi;
    mean_field(ACT_RELU, 1.7, 0.8, &ms, &chi);
    check_close(t, chi, 1.7 / sqrt(2), 1e-12, 1e-12, "mean field, ReLU: chi = g / sqrt(2) (%.6f)", chi);
    check_close(t, ms, 1.7 * 1.7 * 0.8 / 2, 1e-9, 1e-9, "mean field, ReLU: the mean square halves, times g^2");
    double q = 1e-3;
    mean_field(ACT_TANH, 1, q, &ms, &chi);
    check_close(t, ms, q - 2 * q * q, 0, 1e-5, "mean field, tanh: q' = q - 2q^2 + O(q^3) for small q");
    check_close(t, chi, 1 - q, 0, 1e-5, "mean field, tanh: chi = 1 - q + O(q^2) for small q (%.8f)", chi);
    mean_field(ACT_TANH, 0.5, 1e-12, &ms, &chi);
    check_close(t, chi, 0.5, 0, 1e-9, "mean field, tanh: at the fixed point q = 0, chi = g");
    /* at g = 1 the signal decays like 1/(2l) and the gradient like a power of L, not exponentially */
    double m = 1, logprod = 0, logprod_half = 0;
    for (int l = 0; l < 2000; l++) {
        mean_field(ACT_TANH, 1, m, &ms, &chi);
        if (l < 500) logprod_half += log(chi);
        logprod += log(chi);
        m = ms;
    }
    check_close(t, 2 * 2000 * m, 1, 0, 0.05, "mean field, tanh at g = 1: q_l -> 1/(2l) (2lq = %.3f at l = 2000)",
                2 * 2000 * m);
    double ratio = exp(logprod - logprod_half);   /* layers 500 .. 1999: four times as deep costs about 1/2 */
    check_true(t, ratio > 0.45 && ratio < 0.56, "mean field, tanh at g = 1: layers 500-2000 cost a factor near "
               "sqrt(500/2000) = 0.5 (%.3f)", ratio);
    mean_field(ACT_TANH, 2, 1, &ms, &chi);
    for (int l = 0; l < 200; l++) mean_field(ACT_TANH, 2, ms, &ms, &chi);
    check_true(t, ms > 0.1 && chi > 1, "mean field, tanh at g = 2: a fixed point q* > 0 with chi > 1 (%.3f)", chi);
}

/* D = rowsum(dO * O): attention's backward needs no P for the softmax's row sums. */
static void test_attention_rowsum(Check *t) {
    enum { T = 5, d = 3 };
    Rng rng;
    rng_seed(&rng, 35);
    double Q[T * d], K[T * d], V[T * d], O[T * d], P[T * T], dO[T * d], dP[T * T] = {0}, worst = 0;
    for (int i = 0; i < T * d; i++) Q[i] = rng_normal(&rng), K[i] = rng_normal(&rng), V[i] = rng_normal(&rng),
                                     dO[i] = rng_normal(&rng);
    ch03_attention_forward(O, P, Q, K, V, T, d);
    ch03_matmul_backward(dP, NULL, dO, P, V, T, T, d);
    for (int r = 0; r < T; r++) {
        double viaP = 0, viaO = 0;
        for (int k = 0; k < T; k++) viaP += dP[r * T + k] * P[r * T + k];
        for (int c = 0; c < d; c++) viaO += dO[r * d + c] * O[r * d + c];
        worst = worst_of(worst, fabs(viaP - viaO));
    }
    check_true(t, worst < 1e-13, "attention: sum_k dP_tk P_tk = dO_t . O_t for every row (%.1e)", worst);
}

/* Chapter 2's tape, on operations of a size the probes do not use, against the chapter's passes. */
static void test_tape(Check *t) {
    Rng rng;
    rng_seed(&rng, 36);
    TapeBox *box = taped_new((size_t)1 << 22);
    for (int i = 0; i < NTAPE_OPS; i++) {
        TapeOp op = TAPE_OPS[i];
        op.n = 7, op.k = 9, op.m = 5;
        TapeCase c = tape_case(&op, &rng);
        memset(c.g_tape, 0, c.np * sizeof *c.g_tape), memset(c.g_ours, 0, c.np * sizeof *c.g_ours);
        TapeCost cost = tape_run(box, &op, &c);
        ours_run(&op, &c);
        double err = 0;
        for (size_t j = 0; j < c.np; j++) err = worst_of(err, fabs(c.g_tape[j] - c.g_ours[j]));
        check_true(t, err < 1e-12 * max_abs(c.g_ours, (int)c.np) && cost.nodes > 1 && cost.bytes > 0,
                   "chapter 2's tape agrees with the chapter's %s backward pass (%.1e, %d nodes)", op.name, err,
                   cost.nodes);
        tape_case_free(&c);
    }
    taped_free(box);
}

/* ---- --quick runs of every experiment, and what they write ------------------ */

/* The row of ch03-depth with the given act, init, residual and layer, or -1. */
static double depth_ratio(TsvTable *d, const char *act, const char *init, int res, int layer) {
    int ca = tsv_col(d, "act"), ci = tsv_col(d, "init"), cr = tsv_col(d, "residual"), cl = tsv_col(d, "layer");
    for (size_t i = 0; i < tsv_rows(d); i++)
        if (strcmp(tsv_cell(d, i, ca), act) == 0 && strcmp(tsv_cell(d, i, ci), init) == 0 &&
            tsv_num(d, i, cr) == res && tsv_num(d, i, cl) == layer)
            return tsv_num(d, i, tsv_col(d, "grad_ratio"));
    return -1;
}

static void test_quick_verify(Check *t, const char *dir) {
    TsvTable *v = load(t, dir, "ch03-verify");
    if (v) {
        check_true(t, tsv_rows(v) == (size_t)NOP_CHECKS, "one row per operation (%zu)", tsv_rows(v));
        for (size_t i = 0; i < tsv_rows(v); i++) {
            check_true(t, num(t, v, i, "numeric_rel") < 1e-7, "verify: %s within 1e-7 of finite differences",
                       tsv_cell(v, i, 0));
            double c = num(t, v, i, "common_rel");
            if (!isnan(c)) check_true(t, c < 1e-5, "verify: %s within 1e-5 of common/nn.h", tsv_cell(v, i, 0));
        }
        tsv_free(v);
    }
    TsvTable *s = load(t, dir, "ch03-verify-step");
    if (s) {
        double best = INFINITY, best_h = 0;
        for (size_t i = 0; i < tsv_rows(s); i++)
            if (num(t, s, i, "rel") < best) best = num(t, s, i, "rel"), best_h = num(t, s, i, "h");
        check_true(t, best_h >= 1e-7 && best_h <= 1e-4, "the best finite-difference step is between 1e-7 and 1e-4 (%g)", best_h);
        check_true(t, num(t, s, 0, "rel") > 1e4 * best && num(t, s, 9, "rel") > 100 * best,
                   "the error grows on both sides of the best step (truncation and rounding)");
        double ratio = num(t, s, 1, "max_abs") / num(t, s, 2, "max_abs");
        check_true(t, ratio > 80 && ratio < 120, "truncation error falls as h^2 (%.1f per decade)", ratio);
        tsv_free(s);
    }
}

static void test_quick_depth(Check *t, const char *dir) {
    TsvTable *d = load(t, dir, "ch03-depth");
    if (!d) return;
    const char *acts[] = {"tanh", "sigmoid", "relu"};
    for (int a = 0; a < 3; a++) {
        check_true(t, depth_ratio(d, acts[a], "small", 0, 0) < 1e-3, "%s, small init: the gradient vanishes", acts[a]);
        check_true(t, depth_ratio(d, acts[a], "small", 1, 0) > 0.1, "%s, small init, residual: it does not", acts[a]);
        double sc = depth_ratio(d, acts[a], "scaled", 1, 0);
        check_true(t, sc > 0.1 && sc < 100, "%s, residual with scaled branches: within [0.1, 100] (%.2f)", acts[a], sc);
        check_true(t, depth_ratio(d, acts[a], "standard", 0, 50) == 1, "%s: the top layer's ratio is 1", acts[a]);
    }
    check_true(t, depth_ratio(d, "relu", "large", 0, 0) > 1e6, "relu, large init: the gradient explodes");
    check_true(t, depth_ratio(d, "tanh", "large", 0, 0) > 10, "tanh, large init: the gradient explodes");
    double he = depth_ratio(d, "relu", "standard", 0, 0);
    check_true(t, he > 1e-3 && he < 1e3 && he > 1e6 * depth_ratio(d, "relu", "small", 0, 0),
               "relu, He init: the gradient keeps its size far better than with small weights (%.2g)", he);
    check_true(t, depth_ratio(d, "relu", "standard", 1, 0) > 1e3, "relu, residual, standard branches: the gradient explodes");
    /* the factors per layer multiply up to the ratios (both are geometric means over the same seeds) */
    int cg = tsv_col(d, "grad_ratio"), cc = tsv_col(d, "chi"), cl = tsv_col(d, "layer"), cm = tsv_col(d, "chi_mf");
    double worst = 0, logprod = 0;
    bool mf_ok = true;
    for (size_t i = tsv_rows(d); i-- > 0;) {
        if (tsv_num(d, i, cl) == 50) { logprod = 0; continue; }
        logprod += log(tsv_num(d, i, cc));
        worst = worst_of(worst, fabs(logprod - log(tsv_num(d, i, cg))));
        if (tsv_num(d, i, tsv_col(d, "residual")) == 0) mf_ok &= isfinite(tsv_num(d, i, cm)) && tsv_num(d, i, cm) > 0;
    }
    check_true(t, worst < 1e-4, "the product of the factors chi from layer l up is the ratio at l (%.1e)", worst);
    check_true(t, mf_ok, "every plain stack's layer has a mean-field prediction");
    tsv_free(d);
}

static void test_quick_clip(Check *t, const char *dir) {
    TsvTable *c = load(t, dir, "ch03-clip");
    if (c) {
        int cr = tsv_col(c, "run");
        bool died = false, clipped_finite = true, scale_ok = true;
        double first = NAN, last = NAN;
        for (size_t i = 0; i < tsv_rows(c); i++) {
            const char *run = tsv_cell(c, i, cr);
            if (strcmp(run, "relu, no clipping") == 0) died |= num(t, c, i, "weights_finite") == 0;
            if (strcmp(run, "relu, clipped to 1") == 0) {
                clipped_finite &= num(t, c, i, "weights_finite") == 1;
                if (isnan(first)) first = num(t, c, i, "loss");
                last = num(t, c, i, "loss");
                double g = num(t, c, i, "grad_norm"), sc = num(t, c, i, "clip_scale");
                if (sc < 1) scale_ok &= fabs(sc - clip_scale(g, 1.0f)) < 1e-5 * sc;
            }
        }
        check_true(t, died, "without clipping the ReLU stack's weights become non-finite");
        check_true(t, clipped_finite && last < first, "clipped, its weights stay finite and the loss falls (%.3f -> %.3f)",
                   first, last);
        check_true(t, scale_ok, "the clipping factor equals common/nn.h's clip_scale");
        tsv_free(c);
    }
    TsvTable *g = load(t, dir, "ch03-clip-grid");
    if (g) {
        check_true(t, tsv_rows(g) == NCLIP_LR * NCLIP_NORM, "the clipping grid has %d rows", NCLIP_LR * NCLIP_NORM);
        bool finite = true;
        for (size_t i = 0; i < tsv_rows(g); i++) finite &= isfinite(num(t, g, i, "final_loss"));
        check_true(t, finite, "every tanh run ends with a finite loss");
        tsv_free(g);
    }
}

static void test_quick_logspace(Check *t, const char *dir) {
    TsvTable *l = load(t, dir, "ch03-logspace");
    if (l) {
        bool stable = true;
        for (size_t i = 0; i < tsv_rows(l); i++)
            stable &= fabs(num(t, l, i, "stable_loss") - num(t, l, i, "exact_loss")) <= 1e-6 * num(t, l, i, "exact_loss") + 1e-6;
        check_true(t, stable, "the log-space loss is exact to float precision at every scale");
        check_true(t, fabs(num(t, l, 0, "naive_loss") - num(t, l, 0, "exact_loss")) < 1e-5, "the naive loss is right at scale 1");
        check_true(t, num(t, l, 5, "scale") == 60 && isinf(num(t, l, 5, "naive_loss")), "at scale 60 the naive loss is infinite");
        check_true(t, num(t, l, 9, "scale") == 100 && isnan(num(t, l, 9, "naive_prob_sum")),
                   "at scale 100 the naive probabilities are nan");
        check_true(t, isnan(num(t, l, 3, "naive_grad_err")), "at scale 50 the two-step gradient is nan");
        tsv_free(l);
    }
    TsvTable *tt = load(t, dir, "ch03-logspace-time");
    if (tt) {
        bool timed = tsv_rows(tt) == NMETHODS;
        for (size_t i = 0; timed && i < NMETHODS; i++)
            timed = num(t, tt, i, "cpu_ns_per_logit") > 0 && num(t, tt, i, "vs_naive") > 0;
        check_true(t, timed, "all four softmax versions were timed");
        check_true(t, num(t, tt, 0, "vs_naive") == 1, "the naive version is its own yardstick");
        check_close(t, num(t, tt, 0, "check"), num(t, tt, 1, "check"), 1e-3, 1e-4,
                    "on well-scaled logits the naive and log-space losses agree");
        check_close(t, num(t, tt, 1, "check"), num(t, tt, 2, "check"), 1e-3, 1e-4,
                    "the two log-space versions agree");
        check_true(t, num(t, tt, 1, "check") == num(t, tt, 3, "check"),
                   "the max by comparison and by fmaxf give the same losses, bit for bit");
        tsv_free(tt);
    }
    TsvTable *j = load(t, dir, "ch03-jacobian");
    if (j) {
        check_true(t, tsv_rows(j) == 2 * JV * JV, "the Jacobian file has two %d x %d matrices", JV, JV);
        double worst = 0;
        for (size_t r = 0; r < 2 * JV; r++) {
            double s = 0;
            for (size_t c = 0; c < JV; c++) s += num(t, j, r * JV + c, "jac");
            worst = fmax(worst, fabs(s));
        }
        check_true(t, worst < 1e-5, "every written row of the Jacobian sums to zero (%.1e)", worst);
        tsv_free(j);
    }
}

static void test_quick_tape(Check *t, const char *dir) {
    TsvTable *tp = load(t, dir, "ch03-tape");
    if (!tp) return;
    check_true(t, tsv_rows(tp) == (size_t)NTAPE_OPS, "the tape file has one row per operation");
    bool ok = true;
    for (size_t i = 0; i < tsv_rows(tp); i++)
        ok &= num(t, tp, i, "grad_rel") < 1e-12 && num(t, tp, i, "tape_us") > 0 && num(t, tp, i, "ours_us") > 0;
    check_true(t, ok, "every operation: the tape's gradient agrees to 1e-12, both sides timed");
    tsv_free(tp);
}

/* ---- the program itself: one-line errors and nonzero exits on bad input ---- */

static void test_command_line(Check *t) {
    const ProgramCase cases[] = {
        {"depth --depth 0", 2, "--depth"},
        {"train --act softplus", 2, "--act"},
        {"train --lr -1", 2, "--lr"},
        {"verfy", 2, "unknown experiment"},
        {"verify --bogus", 2, "unknown option"},
        {"verify --device cuda", 2, "no GPU code"},
        {"depth --width 1", 2, "--width"},
        {"--help", 0, "usage"},
    };
    expect_programs(t, "ch03-backprop", cases, sizeof cases / sizeof cases[0]);
    /* a network that dies is not reported as trained (the expert read's --act relu --gain 3 --lr 1) */
    char dir[] = "/tmp/test-ch03-train-XXXXXX";
    if (!mkdtemp(dir)) die("cannot make a temporary directory");
    char *dead = xasprintf("train --act relu --gain 3 --lr 1 --steps 20 --out %s", dir);
    char *alive = xasprintf("train --act tanh --gain 1 --lr 0.01 --steps 5 --width 16 --depth 5 --out %s", dir);
    expect_program(t, "ch03-backprop", dead, 1, "died at step");
    expect_program(t, "ch03-backprop", alive, 0, "loss");
    remove_tree(dir);
    free(dead), free(alive);
}

int main(void) {
    Check t;
    check_init(&t, "ch03");
    test_every_backward_pass(&t);
    test_worked_examples(&t);
    test_softmax_jacobian(&t);
    test_layernorm_properties(&t);
    test_highway_and_accumulation(&t);
    test_attention_heads(&t);
    test_cross_entropy_in_place(&t);
    test_solutions(&t);
    test_mean_field(&t);
    test_attention_rowsum(&t);
    test_tape(&t);

    char dir[] = "/tmp/test-ch03-XXXXXX";
    if (!mkdtemp(dir)) die("cannot make a temporary directory");
    Run r = {.depth = 50, .width = 64, .steps = 10, .lr = 0.1, .gain = 1, .clip = 0, .act = "tanh"};
    quick_common(&r.c, "test_ch03", dir);
    setenv("NO_PROGRESS", "1", 1);
    check_true(&t, run_all_experiments("ch03-backprop", COMMANDS, sizeof COMMANDS / sizeof *COMMANDS, &r) == 0,
               "every experiment of 'all' runs in --quick mode");
    test_quick_verify(&t, dir);
    test_quick_depth(&t, dir);
    test_quick_clip(&t, dir);
    test_quick_logspace(&t, dir);
    test_quick_tape(&t, dir);
    cli_free(&r.c);
    remove_tree(dir);
    test_command_line(&t);
    return check_summary(&t);
}
