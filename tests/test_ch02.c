/* test_ch02.c -- chapter 2, automatic differentiation.
 *
 * Includes the tangled program (build/02-autodiff/autodiff.c, with TESTING
 * defined so that it has no main) and the tangled solutions to the coding
 * exercises, then checks every derivation of the chapter numerically:
 *   the derivatives of x^2, x^7, e^x, log x, sin x, the product, quotient and
 *   chain rules against central differences at 1000 random points each and
 *   against the complex step to 1e-14 (and a wrong derivative is caught); the
 *   complex step's error term; the matrix chain rule J(f o g) = J(f) J(g);
 *   the scalar engine against the values worked by hand in the text (the
 *   neuron, f = (a + b) a) and against finite differences on an expression
 *   using every operation; the topological order; dual numbers against
 *   central differences and against reverse mode; every tensor backward
 *   (the book's tolerance rule), the matmul backward worked by hand, the whole network's
 *   gradient; the freeing backward pass equals the ordinary one and frees
 *   everything; the bytes the backward pass reads, counted by hand for a
 *   small network; static and dynamic graphs give identical losses; fp32 and
 *   emulated fp16 differ from fp64 by single- and half-precision amounts;
 *   backward of an output with no parameter dies with one line; the three
 *   solutions, exercise 6 at its kink (a zero last layer trains);
 * then runs every experiment in --quick mode into a temporary directory and
 * checks the files it writes, and checks the program's one-line errors.
 * Run from the repository root (make test does). */
#include "autodiff.c"
#include "ch02-solutions.c"

#include "check.h"
#include "expect_die.h"
#include "chapter_test.h"

/* ---- Derivatives from the limit ---------------------------------------------- */

static double wrong_d_sin(double x) { return sin(x); }

static void test_rules(Check *t) {
    Rng rng;
    rng_seed(&rng, 21);
    for (int i = 0; i < NRULES; i++) {
        const Rule *r = &RULES[i];
        double worst = 0, h = 1e-5;
        for (int k = 0; k < 1000; k++) {
            double x = r->lo + (r->hi - r->lo) * rng_uniform(&rng);
            double numeric = (r->f(x + h) - r->f(x - h)) / (2 * h);
            worst = fmax(worst, rel_error(r->df(x), numeric, 1));
        }
        check_true(t, worst < 1e-7, "d/dx %s matches central differences at 1000 random points (worst %.1e)", r->name,
                   worst);
    }
    Rule wrong = {"sin x, derivative written wrong", sin, wrong_d_sin, -6, 6, csin};
    check_true(t, rule_tolerance(&wrong, 1000, 1e-5, false) > 0.3, "a wrong derivative (sin for cos) is caught");
    check_true(t, rule_tolerance(&RULES[4], 1000, 1e-5, false) < 1e-7, "rule_tolerance passes the right one");
    /* the complex step: no subtraction, so the derivations hold to the last digits */
    double worst_cs = 0;
    for (int i = 0; i < NRULES; i++) worst_cs = fmax(worst_cs, rule_tolerance(&RULES[i], 1000, 1e-20, true));
    check_true(t, worst_cs < 1e-14, "the complex step confirms every rule to %.1e", worst_cs);
    check_true(t, fabs(complex_step(csin, 1.0, 1e-20) - cos(1.0)) <= 2.3e-16,
               "the complex step at h = 1e-20 gives cos 1 to a rounding (%.1e)", fabs(complex_step(csin, 1.0, 1e-20) - cos(1.0)));
    check_true(t, fabs(complex_step(csin, 1.0, 1e-3) - cos(1.0) * (1 + 1e-6 / 6)) < 1e-12,
               "at h = 1e-3 its error is -h^2 f'''/6 = +h^2 cos(1)/6 (Taylor's next term)");
    check_true(t, rule_tolerance(&wrong, 1000, 1e-20, true) > 0.3, "the complex step catches the wrong derivative too");
}

/* J(f o g) = J(f) J(g) for g: R^3 -> R^2, f: R^2 -> R^2, by central differences. */
static void map_g(const double *x, double *u) { u[0] = sin(x[0]) * x[1], u[1] = exp(x[1] - x[2]) + x[0] * x[0]; }
static void map_f(const double *u, double *y) { y[0] = u[0] * u[1], y[1] = tanh(u[0]) + log(1 + u[1] * u[1]); }
static void map_fg(const double *x, double *y) { double u[2]; map_g(x, u); map_f(u, y); }

static void jacobian_fd(void (*fn)(const double *, double *), const double *x, int n, int m, double *J) {
    double xp[3], xm[3], yp[2], ym[2], h = 1e-6;
    for (int j = 0; j < n; j++) {
        memcpy(xp, x, (size_t)n * sizeof *x), memcpy(xm, x, (size_t)n * sizeof *x);
        xp[j] += h, xm[j] -= h;
        fn(xp, yp), fn(xm, ym);
        for (int i = 0; i < m; i++) J[i * n + j] = (yp[i] - ym[i]) / (2 * h);
    }
}

static void test_matrix_chain_rule(Check *t) {
    double x[3] = {0.3, -0.7, 0.2}, u[2], Jg[6], Jf[4], Jfg[6], prod[6];
    map_g(x, u);
    jacobian_fd(map_g, x, 3, 2, Jg);
    jacobian_fd(map_f, u, 2, 2, Jf);
    jacobian_fd(map_fg, x, 3, 2, Jfg);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) prod[i * 3 + j] = Jf[i * 2 + 0] * Jg[0 * 3 + j] + Jf[i * 2 + 1] * Jg[1 * 3 + j];
    check_close_f64(t, prod, Jfg, 6, 1e-8, 1e-7, "the Jacobian of f o g is J(f) J(g)");
}

/* ---- The scalar engine ------------------------------------------------------------ */

static Value *find(Value **order, int n, const char *label) {
    for (int i = 0; i < n; i++)
        if (order[i]->label && !strcmp(order[i]->label, label)) return order[i];
    die("no node %s", label);
}

static void test_neuron_by_hand(Check *t) {
    Graph g = {.arena = arena_new("test", 1 << 16)};
    Value *o = build_neuron(&g);
    value_backward(&g, o);
    Value **order;
    int n = value_topo(&g, o, &order);
    check_close(t, o->data, 1 / sqrt(2.0), 1e-12, 1e-12, "the neuron's output is 1/sqrt 2");
    const struct { const char *node; double grad; } want[] = {
        {"o", 1}, {"n", 0.5}, {"s", 0.5}, {"b", 0.5}, {"w1", 1.0}, {"x1", -1.5}, {"w2", 0}, {"x2", 0.5}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        check_close(t, find(order, n, want[i].node)->grad, want[i].grad, 1e-12, 1e-12, "neuron: d o / d %s by hand",
                    want[i].node);
    free(order);
    /* f = (a + b) a at a = 3, b = 2: df/da = 8, df/db = 3 */
    arena_reset(g.arena);
    g.count = 0;
    Value *a = v_leaf(&g, 3, "a"), *b = v_leaf(&g, 2, "b");
    Value *f = v_mul(&g, v_add(&g, a, b), a);
    value_backward(&g, f);
    check_true(t, a->grad == 8 && b->grad == 3, "f = (a + b) a: gradients 8 and 3 (got %g, %g)", a->grad, b->grad);
    value_backward(&g, f);
    check_true(t, a->grad == 8, "a second backward gives the same gradient (zeroed first)");
    arena_free(g.arena);
}

/* An expression using every operation of the scalar engine; leaves[0..2] = a, b, c. */
static Value *every_op_graph(Graph *g, const double *x, Value **leaves) {
    arena_reset(g->arena);
    g->count = 0;
    Value *a = v_leaf(g, x[0], "a"), *b = v_leaf(g, x[1], "b"), *c = v_leaf(g, x[2], "c");
    Value *e = v_add(g, v_mul(g, a, b), v_pow(g, c, 3));
    e = v_add(g, e, v_div(g, v_exp(g, a), v_add(g, v_log(g, c), v_leaf(g, 2, NULL))));
    e = v_sub(g, v_tanh(g, v_mul(g, e, v_sin(g, b))), v_relu(g, v_mul(g, a, c)));
    e = v_add(g, e, v_mul(g, a, a));   /* a used again */
    e = v_add(g, e, v_cos(g, v_mul(g, b, c)));
    leaves[0] = a, leaves[1] = b, leaves[2] = c;
    return e;
}

static double every_op(const double *x, void *ctx) {
    Value *leaves[3];
    return every_op_graph(ctx, x, leaves)->data;
}

static void test_value_gradcheck(Check *t) {
    Graph g = {.arena = arena_new("test", 1 << 16)};
    Rng rng;
    rng_seed(&rng, 22);
    double worst = 0;
    int trials = 0;
    while (trials < 20) {
        double x[3] = {rng_uniform(&rng) * 2 - 1, rng_uniform(&rng) * 2 - 1, 0.2 + rng_uniform(&rng)}, grad[3];
        if (fabs(x[0] * x[2]) < 0.01) continue;   /* keep away from ReLU's kink */
        Value *leaves[3], *e = every_op_graph(&g, x, leaves);
        value_backward(&g, e);
        for (int i = 0; i < 3; i++) grad[i] = leaves[i]->grad;
        GradErr err = gradcheck_f64(every_op, &g, x, 3, grad, 1e-6);
        worst = fmax(worst, err.max_rel);
        trials++;
    }
    check_true(t, worst < 1e-6, "the scalar engine matches central differences on every operation (worst %.1e)",
               worst);
    arena_free(g.arena);
}

static void test_topo(Check *t) {
    Graph g = {.arena = arena_new("test", (size_t)8 << 20)};
    Rng rng;
    rng_seed(&rng, 23);
    Value *pool[200];
    int np = 0;
    for (int i = 0; i < 10; i++) pool[np++] = v_leaf(&g, rng_uniform(&rng), NULL);
    while (np < 200) {   /* random DAG: each node uses one or two earlier ones */
        Value *a = pool[rng_below(&rng, (uint64_t)np)], *b = pool[rng_below(&rng, (uint64_t)np)];
        pool[np++] = rng_uniform(&rng) < 0.5 ? v_add(&g, a, b) : v_sin(&g, a);
    }
    Value **order;
    int n = value_topo(&g, pool[199], &order);
    int *pos = xmalloc_array((size_t)g.count, sizeof *pos);
    for (int i = 0; i < g.count; i++) pos[i] = -1;
    bool once = true, after = true;
    for (int i = 0; i < n; i++) {
        once &= pos[order[i]->id] == -1;
        pos[order[i]->id] = i;
    }
    for (int i = 0; i < n; i++)
        for (int p = 0; p < order[i]->nparents; p++) after &= pos[order[i]->parent[p]->id] >= 0 && pos[order[i]->parent[p]->id] < i;
    check_true(t, once && after && order[n - 1] == pool[199],
               "topological order: each reachable node once, after its parents, the root last (%d nodes)", n);
    free(order), free(pos);
    /* a long chain sorts without recursion */
    arena_reset(g.arena);
    g.count = 0;
    Value *s = v_leaf(&g, 0.1, NULL);
    for (int i = 0; i < 20000; i++) s = v_sin(&g, s);
    n = value_topo(&g, s, &order);
    check_true(t, n == 20001, "a chain of 20,000 nodes sorts (%d)", n);
    free(order);
    arena_free(g.arena);
}

/* ---- Forward mode --------------------------------------------------------------- */

static double chain_f_plain(const double *x, void *ctx) {
    int n = *(int *)ctx;
    double s = x[0];
    for (int i = 1; i < n; i++) s = sin(s) + s * x[i];
    return s;
}

static void test_modes(Check *t) {
    Rng rng;
    rng_seed(&rng, 24);
    int n = 30;
    double x[30], gf[30], gr[30];
    for (int i = 0; i < n; i++) x[i] = rng_uniform(&rng) - 0.5;
    Graph g = {.arena = arena_new("test", 1 << 20)};
    grad_forward(x, n, gf);
    grad_reverse(&g, x, n, gr);
    check_true(t, max_diff(gf, gr, n) < 1e-13, "forward and reverse gradients agree (%.1e)", max_diff(gf, gr, n));
    GradErr e = gradcheck_f64(chain_f_plain, &n, x, (size_t)n, gf, 1e-6);
    check_true(t, e.max_abs < 1e-8, "the dual-number gradient matches central differences (%.1e)", e.max_abs);
    /* the dual part of a product is the product rule; of exp, exp */
    Dual p = dual_mul(dual_var(3), dual_const(5)), q = dual_exp(dual_var(0.5)), l = dual_log(dual_var(2));
    check_true(t, p.d == 5 && q.d == exp(0.5) && l.d == 0.5, "dual arithmetic: d(5x) = 5, d(e^x) = e^x, d(log x) = 1/x");
    Dual th = dual_tanh(dual_var(0.3));
    check_close(t, th.d, 1 / (cosh(0.3) * cosh(0.3)), 1e-15, 1e-14, "d tanh x = 1 / cosh^2 x");
    Dual co = dual_cos(dual_mul(dual_var(0.7), dual_const(2)));
    check_close(t, co.d, -2 * sin(1.4), 1e-15, 1e-14, "d cos 2x = -2 sin 2x");
    Dual si = dual_sin(dual_var(0.7));
    check_true(t, co.v == cos(1.4) && si.d == cos(0.7), "dual sin and cos: values and tangents");
    double jf[40], jr[40];
    jacobian_forward(0.3, 40, jf);
    jacobian_reverse(&g, 0.3, 40, jr);
    check_true(t, max_diff(jf, jr, 40) < 1e-13, "forward and reverse Jacobians agree (%.1e)", max_diff(jf, jr, 40));
    double h = 1e-6, yp[40], ym[40];
    Dual *dp = xmalloc_array(40, sizeof *dp);
    chain_g_dual(dual_const(0.3 + h), dp, 40);
    for (int j = 0; j < 40; j++) yp[j] = dp[j].v;
    chain_g_dual(dual_const(0.3 - h), dp, 40);
    for (int j = 0; j < 40; j++) ym[j] = dp[j].v;
    double worst = 0;
    for (int j = 0; j < 40; j++) worst = fmax(worst, rel_error((yp[j] - ym[j]) / (2 * h), jf[j], 1));
    check_true(t, worst < 1e-7, "the Jacobian matches central differences (%.1e)", worst);
    free(dp);
    arena_free(g.arena);
}

/* ---- The tensor tape --------------------------------------------------------------- */

static void test_tensor_ops(Check *t) {
    for (int i = 0; i < NCHECKS; i++) {
        double tol = check_op(&CHECKS[i], 100, (uint64_t)i);
        check_true(t, tol < 1e-6, "backward of %s (%dx%d with %dx%d) matches central differences (tol %.1e)",
                   CHECKS[i].name, CHECKS[i].ar, CHECKS[i].ac, CHECKS[i].br, CHECKS[i].bc, tol);
    }
    /* by hand: L = sum(AB), A = [1 2; 3 4], B = [5 6; 7 8]: dA = [11 15; 11 15], dB = [4 4; 6 6] */
    Tape *tp = tape_new("test", 1 << 16);
    double a[] = {1, 2, 3, 4}, b[] = {5, 6, 7, 8}, da[] = {11, 15, 11, 15}, db[] = {4, 4, 6, 6};
    Node *A = leaf(tp, 2, 2, a, true), *B = leaf(tp, 2, 2, b, true);
    Node *L = t_sum(tp, t_matmul(tp, A, B));
    tape_backward(tp, L);
    check_true(t, L->data[0] == 134, "sum(AB) = 134 (%g)", L->data[0]);
    check_close_f64(t, A->grad, da, 4, 0, 0, "dA = dY B^T worked by hand");
    check_close_f64(t, B->grad, db, 4, 0, 0, "dB = A^T dY worked by hand");
    /* broadcasting a bias: its gradient is the column sums */
    tape_clear(tp);
    double x[] = {1, 2, 3, 4, 5, 6}, bias[] = {0.5, -1, 2}, w[] = {1, 2, 3, 4, 5, 6}, dbias[] = {5, 7, 9};
    Node *X = leaf(tp, 2, 3, x, false), *bb = leaf(tp, 1, 3, bias, true), *W = leaf(tp, 2, 3, w, false);
    tape_backward(tp, t_sum(tp, t_mul(tp, t_add(tp, X, bb), W)));
    check_close_f64(t, bb->grad, dbias, 3, 0, 0, "a broadcast bias gets the column sums of its gradient");
    check_true(t, X->grad == NULL, "a node without parameters gets no gradient buffer");
    tape_free(tp);
}

typedef struct { Mlp *m; Tape *t; const double *X, *negy; int n; } MlpCtx;

static void set_params(Mlp *m, const double *p) {
    size_t k = 0;
    for (int i = 0; i < m->params->len; i++)
        for (int j = 0; j < m->params->node[i]->rows * m->params->node[i]->cols; j++) m->params->node[i]->data[j] = p[k++];
}

static double mlp_loss_at(const double *p, void *ctx) {
    MlpCtx *c = ctx;
    set_params(c->m, p);
    tape_clear(c->t);
    return logistic_loss(c->t, mlp_forward(c->m, c->t, leaf(c->t, c->n, 2, c->X, false)),
                         leaf(c->t, c->n, 1, c->negy, false))->data[0];
}

static void test_mlp(Check *t) {
    Rng rng;
    rng_seed(&rng, 25);
    int n = 20;
    double X[40], y[20], Xr[40];
    make_spirals(&rng, n, X, y);
    for (int i = 0; i < n; i++) y[i] = -y[i];
    Mlp m;
    mlp_init(&m, 2, 5, 2, &rng);
    for (int i = 0; i < m.params->len; i++)   /* non-zero biases, so that their gradients are tested too */
        if (m.params->node[i]->rows == 1)
            for (int j = 0; j < m.params->node[i]->cols; j++) m.params->node[i]->data[j] = 0.1 * rng_normal(&rng);
    Tape *tp = tape_new("test", 1 << 20);
    size_t np = mlp_nparams(&m);
    double *p = xmalloc_array(np, sizeof *p), *g = xmalloc_array(np, sizeof *g);
    size_t k = 0;
    for (int i = 0; i < m.params->len; i++)
        for (int j = 0; j < m.params->node[i]->rows * m.params->node[i]->cols; j++) p[k++] = m.params->node[i]->data[j];
    mlp_gradient(&m, tp, X, y, n, PREC_F64, g);
    MlpCtx c = {&m, tp, X, y, n};
    GradErr e = gradcheck_f64(mlp_loss_at, &c, p, np, g, 1e-6);
    check_true(t, e.max_abs < 1e-8, "the whole network's gradient (%zu parameters) matches central differences (%.1e)",
               np, e.max_abs);
    set_params(&m, p);
    /* freeing backward = ordinary backward, and frees every node */
    double *g2 = xmalloc_array(np, sizeof *g2);
    for (int i = 0; i < m.params->len; i++)
        memset(m.params->node[i]->grad, 0, (size_t)m.params->node[i]->rows * m.params->node[i]->cols * sizeof(double));
    tape_clear(tp);
    Node *loss = logistic_loss(tp, mlp_forward(&m, tp, leaf(tp, n, 2, X, false)), leaf(tp, n, 1, y, false));
    size_t *used = xmalloc_array((size_t)tp->len, sizeof *used);
    int nodes = tp->len;
    tape_backward_freeing(tp, loss, used);
    k = 0;
    for (int i = 0; i < m.params->len; i++)
        for (int j = 0; j < m.params->node[i]->rows * m.params->node[i]->cols; j++) g2[k++] = m.params->node[i]->grad[j];
    check_close_f64(t, g2, g, np, 0, 0, "the freeing backward pass gives the same gradients");
    bool falling = true;
    for (int i = 1; i < nodes; i++) falling &= used[i] <= used[i - 1];
    check_true(t, falling && used[nodes - 1] == 0, "the freeing backward releases memory monotonically, down to 0 bytes");
    free(used);
    /* what backward reads, counted by hand for this network (2 hidden layers of 5, n points):
     * X (n x 2) for dW1, each tanh output (n x 5, twice) for the next dW and its own backward,
     * -y (n x 1) for dz, exp's output and log's input (n x 1 each), 1/n (1 x 1) for the mean */
    tape_clear(tp);
    logistic_loss(tp, mlp_forward(&m, tp, leaf(tp, n, 2, X, false)), leaf(tp, n, 1, y, false));
    TapeBytes tb = tape_bytes(tp);
    size_t by_hand = (size_t)(n * 2 + 2 * n * 5 + 3 * n + 1) * sizeof(double);
    check_true(t, tb.saved == by_hand, "the backward pass reads %zu bytes, as counted by hand (%zu)", tb.saved, by_hand);
    check_true(t, tb.saved < tb.data && tb.grad < tb.data, "it reads less than the tape holds (%zu of %zu + %zu)",
               tb.saved, tb.data, tb.grad);
    /* fp32 and fp16 against fp64 */
    memcpy(Xr, X, sizeof X);
    for (int i = 0; i < 2 * n; i++) Xr[i] = round_to(PREC_F16, Xr[i]);
    mlp_round_params(&m, PREC_F16);
    mlp_gradient(&m, tp, Xr, y, n, PREC_F64, g);
    mlp_gradient(&m, tp, Xr, y, n, PREC_F32, g2);
    double d = max_diff(g2, g, (int)np);
    check_true(t, d > 1e-10 && d < 1e-4, "fp32 gradients differ from fp64 by a single-precision amount (%.1e)", d);
    mlp_gradient(&m, tp, Xr, y, n, PREC_F16, g2);
    double d16 = max_diff(g2, g, (int)np);
    check_true(t, d16 > 1e-5 && d16 < 0.1, "fp16 gradients differ by a half-precision amount (%.1e)", d16);
    check_true(t, round_to(PREC_F16, 1.0 + 1.0 / 4096) == 1.0 && round_to(PREC_F16, 1.0 + 1.0 / 1024) == 1.0 + 1.0 / 1024 &&
                      round_to(PREC_F16, 70000) == INFINITY && round_to(PREC_F16, 1e-8) == 0,
               "emulated fp16: 11 bits of mantissa, overflow above 65504, underflow to 0");
    free(p), free(g), free(g2);
    tape_free(tp), tape_free(m.params);
}

static void test_static_dynamic(Check *t) {
    Rng rng;
    rng_seed(&rng, 26);
    int n = 50, steps = 30;
    double X[100], y[50], ld[30], ls[30];
    make_spirals(&rng, n, X, y);
    for (int i = 0; i < n; i++) y[i] = -y[i];
    for (int mode = 0; mode < 2; mode++) {
        Rng init;
        rng_seed(&init, 7);
        Mlp m;
        mlp_init(&m, 2, 8, 2, &init);
        double *vel = xcalloc(mlp_nparams(&m), sizeof *vel);
        Tape *tp = tape_new("test", 1 << 20);
        if (mode == 0)
            for (int s = 0; s < steps; s++) ld[s] = train_step(&m, tp, X, y, n, 0.1, vel);
        else {
            Node *loss = logistic_loss(tp, mlp_forward(&m, tp, leaf(tp, n, 2, X, false)), leaf(tp, n, 1, y, false));
            for (int s = 0; s < steps; s++) ls[s] = train_step_static(&m, tp, loss, 0.1, vel);
        }
        tape_free(tp), tape_free(m.params);
        free(vel);
    }
    check_true(t, memcmp(ld, ls, sizeof ld) == 0, "static and dynamic graphs give bit-identical losses");
    check_true(t, ld[steps - 1] < ld[0], "the loss falls in 30 steps (%.4f -> %.4f)", ld[0], ld[steps - 1]);
}

static void bad_matmul(void *ctx) {
    (void)ctx;
    Tape *tp = tape_new("test", 1 << 16);
    t_matmul(tp, leaf(tp, 2, 3, NULL, false), leaf(tp, 2, 3, NULL, false));
}
static void bad_broadcast(void *ctx) {
    (void)ctx;
    Tape *tp = tape_new("test", 1 << 16);
    t_add(tp, leaf(tp, 2, 3, NULL, false), leaf(tp, 3, 2, NULL, false));
}
static void bad_reshape(void *ctx) {
    (void)ctx;
    Tape *tp = tape_new("test", 1 << 16);
    t_reshape(tp, leaf(tp, 2, 3, NULL, false), 4, 2);
}

static void backward_without_parameters(void *ctx) {
    (void)ctx;
    Tape *tp = tape_new("test", 1 << 16);
    double x[] = {1, 2};
    tape_backward(tp, t_sum(tp, leaf(tp, 1, 2, x, false)));
}

static void test_shape_errors(Check *t) {
    expect_die(t, backward_without_parameters, NULL, "depends on no parameter",
               "backward of an output that depends on no parameter");
    expect_die(t, bad_matmul, NULL, "matmul: 2 x 3 times 2 x 3", "a matmul of mismatched shapes");
    expect_die(t, bad_broadcast, NULL, "cannot broadcast 2 x 3 with 3 x 2", "an impossible broadcast");
    expect_die(t, bad_reshape, NULL, "reshape: 2 x 3 has 6 elements", "a reshape to another size");
}

/* ---- The solutions ------------------------------------------------------------------ */

/* The tempting version of exercise 6, with |u| = relu(u) + relu(-u): wrong at u = 0. */
static Node *two_relu_loss(Tape *t, Node *z, Node *negy) {
    double one = 1, minus_one = -1, inv_n = 1.0 / z->rows;
    Node *m1 = leaf(t, 1, 1, &minus_one, false), *u = t_mul(t, z, negy);
    Node *pos = t_relu(t, u), *abs_u = t_add(t, pos, t_relu(t, t_mul(t, u, m1)));
    Node *l = t_add(t, pos, t_log(t, t_add(t, t_exp(t, t_mul(t, abs_u, m1)), leaf(t, 1, 1, &one, false))));
    return t_mul(t, t_sum(t, l), leaf(t, 1, 1, &inv_n, false));
}

/* Train a network whose last layer starts at zero, with one of the two losses; the final loss. */
static double train_from_zero(Node *(*lossfn)(Tape *, Node *, Node *), int steps) {
    Rng rng;
    rng_seed(&rng, 29);
    int n = 64;
    double X[128], y[64];
    make_spirals(&rng, n, X, y);
    for (int i = 0; i < n; i++) y[i] = -y[i];
    Mlp m;
    mlp_init(&m, 2, 8, 1, &rng);
    memset(m.W[1]->data, 0, sizeof(double) * 8);   /* the last layer: z = 0 for every point */
    double *vel = xcalloc(mlp_nparams(&m), sizeof *vel), loss = 0;
    Tape *tp = tape_new("test", 1 << 20);
    for (int s = 0; s < steps; s++) {
        tape_clear(tp);
        Node *L = lossfn(tp, mlp_forward(&m, tp, leaf(tp, n, 2, X, false)), leaf(tp, n, 1, y, false));
        loss = L->data[0];
        tape_backward(tp, L);
        sgd_step(&m, 0.1, vel);
    }
    tape_free(tp), tape_free(m.params);
    free(vel);
    return loss;
}

static void test_exercise6_kink(Check *t, const double ny[4]) {
    double z0[4] = {0, 0, 0, 0}, worst = 0;
    Tape *tp = tape_new("test", 1 << 20);
    Node *Z = leaf(tp, 4, 1, z0, true);
    tape_backward(tp, stable_logistic_loss(tp, Z, leaf(tp, 4, 1, ny, false)));
    for (int i = 0; i < 4; i++) worst = worst_of(worst, fabs(Z->grad[i] - ny[i] * 0.5 / 4));
    check_true(t, worst < 1e-15, "exercise 6: at the kink z = 0 the gradient is -y sigma(0) / N = -y / 2N (%.1e)", worst);
    tape_clear(tp);
    Z = leaf(tp, 4, 1, z0, true);
    tape_backward(tp, two_relu_loss(tp, Z, leaf(tp, 4, 1, ny, false)));
    bool zero = true;
    for (int i = 0; i < 4; i++) zero &= Z->grad[i] == 0;
    check_true(t, zero, "exercise 6: with |u| = relu(u) + relu(-u) the gradient at the kink is 0 (the bug the solution avoids)");
    tape_free(tp);
    double stuck = train_from_zero(two_relu_loss, 30), trained = train_from_zero(stable_logistic_loss, 30);
    check_true(t, fabs(stuck - log(2.0)) < 1e-12, "exercise 6: a zero last layer never trains with the two-ReLU loss "
               "(still log 2 = %.6f after 30 steps)", stuck);
    check_true(t, trained < log(2.0) - 1e-3, "exercise 6: it trains with the solution's loss (%.4f after 30 steps)", trained);
}

static void test_solutions(Check *t) {
    /* 5: jets against central differences of the first derivative */
    double worst = 0, h = 1e-5;
    for (int m = 1; m <= 50; m += 7)
        for (double tt = -0.4; tt <= 0.4; tt += 0.2) {
            double jp[50], jm[50];
            jacobian_forward(tt + h, m, jp);
            jacobian_forward(tt - h, m, jm);
            Jet j = chain_g_jet(tt, m);
            double jf[50];
            jacobian_forward(tt, m, jf);
            worst = fmax(worst, rel_error(j.dd, (jp[m - 1] - jm[m - 1]) / (2 * h), 1));
            worst = fmax(worst, rel_error(j.d, jf[m - 1], 1e-12) * 1e3);
        }
    check_true(t, worst < 1e-6, "exercise 5: jets give the first and second derivative of the chain (%.1e)", worst);
    /* 6: the stable loss */
    Tape *tp = tape_new("test", 1 << 20);
    double z[] = {0.3, -1.2, 2.5, -0.1}, ny[] = {-1, 1, 1, -1}, big[] = {1000, -1000, 800, -800};
    Node *Z = leaf(tp, 4, 1, z, true), *NY = leaf(tp, 4, 1, ny, false);
    double l1 = logistic_loss(tp, Z, NY)->data[0], l2 = stable_logistic_loss(tp, Z, NY)->data[0];
    check_close(t, l2, l1, 1e-12, 1e-12, "exercise 6: the stable loss equals the plain one on ordinary logits");
    Node *B = leaf(tp, 4, 1, big, true);
    double lb = stable_logistic_loss(tp, B, NY)->data[0], lp = logistic_loss(tp, B, NY)->data[0];
    check_true(t, isfinite(lb) && !isfinite(lp), "exercise 6: finite for logits of 1000 (%g) where the plain loss is %g",
               lb, lp);
    check_close(t, lb, (0 + 0 + 800 + 800) / 4.0, 1e-9, 1e-12,   /* u = -yz = -1000, -1000, 800, 800 */
                "exercise 6: log(1 + e^u) = u for large u, 0 for very negative u");
    tape_free(tp);
    /* gradient of the stable loss */
    double zz[4];
    memcpy(zz, z, sizeof z);
    Tape *t2 = tape_new("test", 1 << 20);
    Node *Z2 = leaf(t2, 4, 1, zz, true);
    Node *L = stable_logistic_loss(t2, Z2, leaf(t2, 4, 1, ny, false));
    tape_backward(t2, L);
    double g[4];
    memcpy(g, Z2->grad, sizeof g);
    double worst6 = 0;
    for (int i = 0; i < 4; i++) {   /* d/dz of mean log(1 + e^{-yz}) = -y sigma(-yz) / N */
        double u = ny[i] * z[i], want = ny[i] / (1 + exp(-u)) / 4;
        worst6 = worst_of(worst6, fabs(g[i] - want));
    }
    check_true(t, worst6 < 1e-14, "exercise 6: its gradient is -y sigma(-yz) / N (%.1e)", worst6);
    tape_free(t2);
    test_exercise6_kink(t, ny);
    /* 7: checkpointing */
    Rng rng;
    rng_seed(&rng, 27);
    int n = 1000;
    double *x = xmalloc_array((size_t)n, sizeof *x), *gr = xmalloc_array((size_t)n, sizeof *gr);
    double *gc = xmalloc_array((size_t)n, sizeof *gc);
    for (int i = 0; i < n; i++) x[i] = rng_uniform(&rng) - 0.5;
    Graph g3 = {.arena = arena_new("test", (size_t)16 << 20)};
    grad_reverse(&g3, x, n, gr);
    size_t full = g3.arena->used;
    size_t peak = grad_checkpointed(&g3, x, n, 32, gc);
    check_true(t, max_diff(gc, gr, n) < 1e-13, "exercise 7: the checkpointed gradient equals the full one (%.1e)",
               max_diff(gc, gr, n));
    check_true(t, peak * 20 < full, "exercise 7: its peak is a small fraction of the full graph (%zu of %zu bytes)",
               peak, full);
    arena_free(g3.arena);
    free(x), free(gr), free(gc);
}

/* ---- --quick runs of every experiment -------------------------------------------------- */

static void test_quick_experiments(Check *t, Run *r) {
    check_true(t, run_all_experiments("ch02-autodiff", COMMANDS, sizeof COMMANDS / sizeof *COMMANDS, r) == 0,
               "every experiment of 'all' runs in --quick mode");
    const char *d = r->c.out;
    TsvTable *lim = load(t, d, "ch02-limits");
    if (lim) {
        double best_c = INFINITY, best_f = INFINITY;
        for (size_t i = 0; i < tsv_rows(lim); i++)
            best_c = fmin(best_c, num(t, lim, i, "central_err")), best_f = fmin(best_f, num(t, lim, i, "forward_err"));
        check_true(t, best_c < 1e-9 && best_f > 1e-10 && best_f < 1e-6,
                   "central differences reach 1e-9, forward ones stop near 1e-8 (%.1e, %.1e)", best_c, best_f);
        check_true(t, num(t, lim, tsv_rows(lim) - 1, "forward_err") > 0.1, "at h = 1e-20 the forward difference fails");
        check_true(t, num(t, lim, tsv_rows(lim) - 1, "complex_err") < 1e-15, "at h = 1e-20 the complex step does not");
        tsv_free(lim);
    }
    TsvTable *ru = load(t, d, "ch02-rules");
    if (ru) {
        bool ok = tsv_rows(ru) == (size_t)NRULES;
        for (size_t i = 0; i < tsv_rows(ru); i++) ok &= num(t, ru, i, "tol") < 1e-7 && num(t, ru, i, "complex_tol") < 1e-14;
        check_true(t, ok, "ch02-rules: every rule within 1e-7 by central differences, 1e-14 by the complex step");
        tsv_free(ru);
    }
    TsvTable *mo = load(t, d, "ch02-modes");
    if (mo) {
        bool ok = tsv_rows(mo) == 4;
        for (size_t i = 0; i < tsv_rows(mo); i++)
            ok &= num(t, mo, i, "grad_maxdiff") < 1e-12 && num(t, mo, i, "jac_maxdiff") < 1e-12 &&
                  num(t, mo, i, "grad_forward_s") > 0 && num(t, mo, i, "jac_reverse_s") > 0;
        check_true(t, ok, "ch02-modes: 4 sizes, positive times, the modes agree");
        bool bigger = true;
        for (size_t i = 0; i < tsv_rows(mo); i++) bigger &= num(t, mo, i, "grad_graph_kb") > num(t, mo, i, "graph_kb");
        check_true(t, bigger, "ch02-modes: the gradient's graph (4n nodes) is bigger than the Jacobian's (1 + 3m)");
        tsv_free(mo);
    }
    TsvTable *gc = load(t, d, "ch02-gradcheck");
    if (gc) {
        bool ok = tsv_rows(gc) == (size_t)NCHECKS;
        for (size_t i = 0; i < tsv_rows(gc); i++) ok &= num(t, gc, i, "tol") < 1e-6;
        check_true(t, ok, "ch02-gradcheck: every operation within 1e-6");
        tsv_free(gc);
    }
    TsvTable *tr = load(t, d, "ch02-train");
    if (tr) {
        size_t n = tsv_rows(tr);
        check_true(t, n == 30 && num(t, tr, n - 1, "loss") < num(t, tr, 0, "loss"), "ch02-train: the loss falls");
        tsv_free(tr);
    }
    TsvTable *bd = load(t, d, "ch02-boundary");
    if (bd) {
        bool ok = tsv_rows(bd) == 400;
        for (size_t i = 0; i < tsv_rows(bd); i++) ok &= num(t, bd, i, "p") >= 0 && num(t, bd, i, "p") <= 1;
        check_true(t, ok, "ch02-boundary: a 20 x 20 grid of probabilities");
        tsv_free(bd);
    }
    TsvTable *me = load(t, d, "ch02-memory");
    if (me) {
        size_t n = tsv_rows(me), top = 0;
        for (size_t i = 0; i < n; i++) if (num(t, me, i, "mb") > num(t, me, top, "mb")) top = i;
        check_true(t, n % 2 == 0 && top == n / 2 - 1 && num(t, me, n - 1, "mb") == 0,
                   "ch02-memory: the peak is at the end of the forward pass, and backward frees everything");
        tsv_free(me);
    }
    TsvTable *md = load(t, d, "ch02-memory-depth");
    if (md) {
        bool ok = true;
        for (size_t i = 1; i < 4; i++) ok &= num(t, md, i, "peak_mb") > num(t, md, i - 1, "peak_mb");
        double s1 = num(t, md, 3, "mb_per_layer"), s2 = num(t, md, 7, "mb_per_layer");
        check_true(t, ok && fabs(s2 / s1 - 2) < 0.2, "ch02-memory-depth: peak grows with depth, slope doubles with width (%.2f)",
                   s2 / s1);
        double n1 = num(t, md, 3, "saved_per_layer"), n2 = num(t, md, 7, "saved_per_layer");
        check_true(t, n1 > 0 && n1 < s1 && fabs(n2 / n1 - 2) < 0.2,
                   "ch02-memory-depth: what backward reads grows more slowly than what is kept, and doubles with width");
        tsv_free(md);
    }
    TsvTable *to = load(t, d, "ch02-tradeoffs");
    if (to) {
        check_true(t, tsv_rows(to) == 7, "ch02-tradeoffs: seven rows");
        check_true(t, num(t, to, 2, "diff") == 0 && num(t, to, 3, "diff") == 0, "static and dynamic runs agree exactly");
        double e = num(t, to, 5, "diff"), e16 = num(t, to, 6, "diff");
        check_true(t, e > 1e-10 && e < 1e-4, "the fp32 gradient error is of single-precision size (%.1e)", e);
        check_true(t, e16 > 10 * e && e16 < 0.1, "the fp16 gradient error is larger, of half-precision size (%.1e)", e16);
        check_true(t, num(t, to, 0, "diff") < 1e-12, "forward and reverse mode agree");
        tsv_free(to);
    }
    TsvTable *mi = load(t, d, "ch02-memory-info");
    if (mi) {
        double peak = num(t, mi, 0, "peak_mb"), saved = num(t, mi, 0, "saved_mb"), data = num(t, mi, 0, "data_mb");
        check_true(t, saved > 0 && saved < data && data < peak, "ch02-memory-info: needed < values < kept (%.3f, %.3f, %.3f MB)",
                   saved, data, peak);
        tsv_free(mi);
    }
    TsvTable *ti = load(t, d, "ch02-tradeoffs-info");
    if (ti) {
        double q = num(t, ti, 0, "graph_ratio"), lo = num(t, ti, 0, "graph_ratio_lo"), hi = num(t, ti, 0, "graph_ratio_hi");
        check_true(t, q > 0 && lo <= hi && isfinite(q), "ch02-tradeoffs-info: a finite ratio of medians and its spread");
        tsv_free(ti);
    }
    const char *others[] = {"ch02-neuron", "ch02-points", "ch02-train-info", "ch02-modes-info"};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        TsvTable *x = load(t, d, others[i]);
        if (x) {
            check_true(t, tsv_rows(x) > 0, "%s has rows", others[i]);
            tsv_free(x);
        }
    }
    const char *dots[] = {"ch02-graph", "ch02-flow", "ch02-orders"};
    for (int i = 0; i < 3; i++) {
        char *path = xasprintf("%s/%s.dot", d, dots[i]), err[256];
        size_t len;
        char *s = file_read(path, &len, err, sizeof err);
        check_true(t, s && strstr(s, "// command: ") && strstr(s, "digraph G {") && s[len - 2] == '}',
                   "%s.dot is a DOT graph with provenance", dots[i]);
        if (s && i == 1) check_true(t, strstr(s, "grad 8}") != NULL, "the flow shows a's gradient, 8");
        if (s && i == 2)
            check_true(t, strstr(s, "tangent 8\"") && strstr(s, "grad 3\""),
                       "the orders figure: forward finds df/da = 8, reverse also df/db = 3");
        free(s), free(path);
    }
}

/* ---- The program's one-line errors ---------------------------------------------------------- */

static void test_command_line(Check *t) {
    const ProgramCase cases[] = {
        {"train --depth 99", 2, "--depth"},
        {"train --lr 0", 2, "--lr"},
        {"train --steps x", 2, "--steps"},
        {"trian", 2, "unknown experiment"},
        {"limits --bogus", 2, "unknown option"},
        {"limits --device cuda", 2, "no GPU code"},
        {"limits --data brown", 2, "reads no corpus"},
        {"train --lr 90 --steps 200 --out /tmp/test-ch02-diverge", 1, "diverged"},
        {"--help", 0, "usage"},
    };
    expect_programs(t, "ch02-autodiff", cases, sizeof cases / sizeof cases[0]);
    remove_tree("/tmp/test-ch02-diverge");
}

int main(void) {
    Check t;
    check_init(&t, "ch02");
    test_rules(&t);
    test_matrix_chain_rule(&t);
    test_neuron_by_hand(&t);
    test_value_gradcheck(&t);
    test_topo(&t);
    test_modes(&t);
    test_tensor_ops(&t);
    test_mlp(&t);
    test_static_dynamic(&t);
    test_shape_errors(&t);
    test_solutions(&t);

    char dir[] = "/tmp/test-ch02-XXXXXX";
    if (!mkdtemp(dir)) die("cannot make a temporary directory");
    Run r = {.steps = 300, .width = 32, .depth = 2, .lr = 0.05};
    quick_common(&r.c, "test_ch02", dir);
    setenv("NO_PROGRESS", "1", 1);
    test_quick_experiments(&t, &r);
    cli_free(&r.c);
    remove_tree(dir);
    test_command_line(&t);
    return check_summary(&t);
}
