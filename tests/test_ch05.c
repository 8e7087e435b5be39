/* test_ch05.c -- chapter 5, optimization.
 *
 * Includes the tangled program (build/05-optimization/optimization.c, with
 * TESTING defined so that it has no main) and the tangled solutions to the
 * coding exercises, then checks every derivation of the chapter numerically:
 *   the descent lemma's bound on a non-convex smooth function; gradient
 *   descent, the heavy ball and Nesterov on quadratic bowls at their
 *   predicted rates; PyTorch's Nesterov form is Sutskever's look-ahead form;
 *   RMSprop's steps do not depend on the gradient's scale, and RMSprop is
 *   Adam with beta1 = 0 and no bias correction; Adam's first step by hand,
 *   with and without the correction; the bias correction makes the moments
 *   unbiased (by simulation); the chapter's Adam is the runtime's AdamW to
 *   the bit; L2 in Adam against AdamW's decoupled decay; the schedules and
 *   chapter 4's lr_at; steepest descent under the spectral norm is U V^T;
 *   odd polynomials act on singular values (Newton-Schulz on a matrix of
 *   known SVD, wide and tall); Jacobi's eigenvalues; Muon's FLOP count; the
 *   model's gradient against central differences (and chapter 4's initial draws);
 *   the optimizers' state in bytes; the range test on a quadratic; filter
 *   normalization; Muon's step against its formulas; exercise 2's roots; gpu-agree's verdict
 *   (runs_agree), and the committed GPU data against the committed CPU control
 *   (figures/data/ch05-gpu-agree.tsv, ch05-butterfly.tsv); then runs every experiment in --quick mode into a
 *   temporary directory and checks the TSV files, and checks the program's
 *   one-line errors.  CPU only: tests/test_ch05_gpu.c compares the devices.
 * Run from the repository root (make test does). */
#include <unistd.h>

#include "optimization.c"
#include "ch05-solutions.c"

#include "chapter_test.h"
#include "check.h"

static void random_fill(float *x, size_t n, double scale, Rng *rng) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(scale * rng_normal(rng));
}

/* ---- The landscape and the step ------------------------------------------------ */

/* The descent lemma on the chapter's bumpy function, f = sin x cos y + 0.1 (x^2 + y^2): its Hessian's
 * eigenvalues are 0.2 - sin(x -+ y) (checked here by finite differences at random points), so it is
 * 1.2-smooth, and f >= -1 everywhere. */
static void test_descent_lemma(Check *t) {
    Rng rng;
    rng_seed(&rng, 11);
    double worst = 0;
    for (int i = 0; i < 200; i++) {
        float p[2] = {(float)(3 * rng_normal(&rng)), (float)(3 * rng_normal(&rng))}, gp[2], gm[2];
        double H[2][2], h = 1e-3;
        for (int j = 0; j < 2; j++) {
            float q[2] = {p[0], p[1]}, hi = p[j] + (float)h, lo = p[j] - (float)h;
            q[j] = hi, bumpy_f(q, gp);
            q[j] = lo, bumpy_f(q, gm);
            for (int k = 0; k < 2; k++) H[k][j] = (gp[k] - gm[k]) / ((double)hi - lo);
        }
        double tr = H[0][0] + H[1][1], det = H[0][0] * H[1][1] - H[0][1] * H[1][0];
        double disc = sqrt(fmax(0, tr * tr / 4 - det)), e1 = tr / 2 + disc, e2 = tr / 2 - disc;
        double x = p[0], y = p[1], a = 0.2 - sin(x - y), b = 0.2 - sin(x + y);
        double w1 = fmax(a, b), w2 = fmin(a, b);
        worst = fmax(worst, fmax(fabs(e1 - w1), fabs(e2 - w2)));
    }
    check_true(t, worst < 1e-3, "the bumpy function's Hessian eigenvalues are 0.2 - sin(x -+ y) (worst %.1e)", worst);
    const float x0[2] = {2.5f, -1.7f};
    DescentCheck d = descent_check(x0, 1.2, -1, DESCENT_STEPS);
    check_true(t, d.every_step, "gradient descent with eta = 1/L lowers f by at least |g|^2 / 2L at every step");
    check_true(t, d.min_grad2 <= d.bound && d.bound > 0, "min |grad|^2 = %.2e <= 2 L (f0 - f*) / K = %.2e (the non-convex bound)",
               d.min_grad2, d.bound);
}

static void test_bowl_rates(Check *t) {
    const double kappas[3] = {10, 100, 1000};
    const Method ms[3] = {SGD, MOMENTUM, NESTEROV};
    for (int k = 0; k < 3; k++)
        for (int m = 0; m < 3; m++) {
            Quadratic q = quadratic_new(BOWL_DIM, kappas[k]);
            double pred;
            OptimSpec o = bowl_spec(ms[m], kappas[k], &pred);
            int T = (int)fmax(4000, 50 / (1 - pred));
            double got = measure_rate(&o, &q, T, NULL);
            check_close(t, got, pred, 0, 5e-4, "kappa %g, %s: rate %.6f measured, %.6f predicted", kappas[k],
                        METHOD_NAMES[ms[m]], got, pred);
        }
    Quadratic q = quadratic_new(4, 50);
    check_close(t, q.lambda[0], 1, 0, 1e-12, "the bowl's curvatures start at 1");
    check_close(t, q.lambda[3], 50, 0, 1e-12, "and end at kappa");
    /* the heavy ball's characteristic roots have modulus sqrt(mu) for every lambda in the interval */
    double pred, worst = 0;
    OptimSpec o = bowl_spec(MOMENTUM, 100, &pred);
    for (int i = 0; i <= 100; i++) {
        double lam = pow(100, i / 100.0), b = 1 + o.momentum - o.lr * lam, disc = b * b - 4 * o.momentum;
        double modulus = disc < 0 ? sqrt(o.momentum) : fmax(fabs(b + sqrt(disc)), fabs(b - sqrt(disc))) / 2;
        worst = worst_of(worst, fabs(modulus - sqrt(o.momentum)));
    }
    check_true(t, worst < 1e-6, "the tuned heavy ball's roots all have modulus sqrt(mu) (worst deviation %.1e)", worst);
}

/* PyTorch's form p -= lr (g + mu b) is Sutskever's v = mu v - lr g(theta + mu v), theta += v,
 * with p = theta + mu v and v = -lr b_{t-1}. */
static void test_nesterov_forms(Check *t) {
    float p[2] = {-1.2f, 1.0f}, b[2] = {0, 0}, g[2];
    double th[2] = {-1.2, 1.0}, v[2] = {0, 0}, worst = 0;
    float lr = 1e-4f, mu = 0.9f;
    for (int k = 0; k < 200; k++) {
        rosenbrock_f(p, g, NULL);
        momentum_update(p, g, b, 2, lr, mu, true);
        float look[2] = {(float)(th[0] + mu * v[0]), (float)(th[1] + mu * v[1])}, gl[2];
        rosenbrock_f(look, gl, NULL);
        for (int i = 0; i < 2; i++) v[i] = mu * v[i] - lr * gl[i], th[i] += v[i];
        for (int i = 0; i < 2; i++) worst = worst_of(worst, fabs(p[i] - (th[i] + mu * v[i])));
    }
    check_true(t, worst < 1e-4, "PyTorch's Nesterov is Sutskever's look-ahead method in other variables (%.1e)", worst);
}

/* ---- RMSprop, Adam, AdamW ---------------------------------------------------------- */

static void test_rmsprop_and_adam(Check *t) {
    Rng rng;
    rng_seed(&rng, 3);
    enum { N = 257 };
    float p1[N], p2[N], g[N], g2[N], v1[N] = {0}, v2[N] = {0};
    random_fill(p1, N, 1, &rng);
    memcpy(p2, p1, sizeof p1);
    float p0[N];
    memcpy(p0, p1, sizeof p1);
    for (int k = 0; k < 20; k++) {
        random_fill(g, N, 1, &rng);
        for (int i = 0; i < N; i++) g2[i] = 1000 * g[i];
        rmsprop_update(p1, g, v1, N, 1e-2f, 0.99f, 0);
        rmsprop_update(p2, g2, v2, N, 1e-2f, 0.99f, 0);
    }
    check_close_f32(t, p2, p1, N, 1e-6, 1e-5, "RMSprop takes the same steps when the gradient is 1000 times larger");
    /* RMSprop = Adam with beta1 = 0 and no bias correction */
    float q1[N], q2[N], m[N] = {0}, v3[N] = {0}, v4[N] = {0};
    memcpy(q1, p0, sizeof p0), memcpy(q2, p0, sizeof p0);
    for (int k = 1; k <= 10; k++) {
        random_fill(g, N, 1, &rng);
        rmsprop_update(q1, g, v3, N, 1e-2f, 0.99f, 1e-8f);
        adam_update(q2, g, m, v4, N, 1e-2f, 0.0f, 0.99f, 1e-8f, 0, k, false);
    }
    check_close_f32(t, q2, q1, N, 1e-7, 1e-6, "RMSprop is Adam with beta1 = 0 and no bias correction");
    /* the first step of Adam by hand */
    float x = 0, mm = 0, vv = 0, gg = 0.5f;     /* x = 0, so that the step is not rounded away */
    adam_update(&x, &gg, &mm, &vv, 1, 1e-3f, 0.9f, 0.999f, 1e-8f, 0, 1, true);
    check_true(t, fabsf(mm - 0.05f) < 1e-6f && fabsf(vv - 0.00025f) < 1e-4f * 0.00025f,
                  "g = 0.5: m1 = 0.05 and v1 = 0.00025 (1 - 0.999 is 0.99999e-3 in float)");
    check_close(t, -x, 1e-3, 0, 1e-5, "and the first step is the learning rate (up to epsilon and float rounding)");
    x = 0, mm = 0, vv = 0, gg = -2000;
    adam_update(&x, &gg, &mm, &vv, 1, 1e-3f, 0.9f, 0.999f, 1e-8f, 0, 1, true);
    check_close(t, x, 1e-3, 0, 1e-5, "g = -2000: the same step, the other way");
    x = 0, mm = 0, vv = 0, gg = 0.5f;
    adam_update(&x, &gg, &mm, &vv, 1, 1e-3f, 0.9f, 0.999f, 1e-8f, 0, 1, false);
    check_close(t, -x, sqrt(10) * 1e-3, 0, 1e-4, "without the correction the first step is sqrt(10) times larger");
    /* the chapter's Adam is the runtime's AdamW, to the bit */
    float a1[N], a2[N], ma[N] = {0}, va[N] = {0}, mb[N] = {0}, vb[N] = {0};
    random_fill(a1, N, 1, &rng);
    memcpy(a2, a1, sizeof a1);
    AdamW opt = {.lr = 3e-3f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f};
    for (int k = 1; k <= 5; k++) {
        random_fill(g, N, 1, &rng);
        adam_update(a1, g, ma, va, N, 3e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, k, true);
        adamw_update(a2, g, mb, vb, N, &opt, k, 1.0f);
    }
    check_true(t, memcmp(a1, a2, sizeof a1) == 0, "adam_update equals the runtime's adamw_update bit for bit");
}

/* The moments' bias, by simulation: E[m_t] = (1 - b1^t) E[g], E[mhat_t] = E[g]. */
static void test_bias_correction(Check *t) {
    enum { STREAMS = 20000, STEPS = 40 };
    Rng rng;
    rng_seed(&rng, 11);
    double mu = 0.3, b1 = 0.9, b2 = 0.999;
    double *m = xcalloc(STREAMS, sizeof *m), *v = xcalloc(STREAMS, sizeof *v);
    bool raw_biased = true, m_ok = true, v_ok = true;
    double worst_z = 0;
    for (int s = 1; s <= STEPS; s++) {
        double sm = 0, sm2 = 0, sv = 0;
        for (int i = 0; i < STREAMS; i++) {
            double g = mu + rng_normal(&rng);
            m[i] = b1 * m[i] + (1 - b1) * g, v[i] = b2 * v[i] + (1 - b2) * g * g;
            sm += m[i], sm2 += m[i] * m[i], sv += v[i];
        }
        double mean = sm / STREAMS, se = sqrt((sm2 / STREAMS - mean * mean) / STREAMS);
        double c1 = 1 - pow(b1, s), c2 = 1 - pow(b2, s);
        double z = fabs(mean / c1 - mu) / (se / c1);
        worst_z = fmax(worst_z, z);
        m_ok &= z < 4.5;
        raw_biased &= s > 20 || fabs(mean - mu) > 5 * se;                    /* early on the raw mean is off */
        v_ok &= fabs(sv / STREAMS / c2 - (mu * mu + 1)) < 0.05 * (mu * mu + 1);
    }
    check_true(t, m_ok, "the corrected first moment is on E[g] at every step (worst %.1f standard errors)", worst_z);
    check_true(t, raw_biased, "the raw first moment is measurably below E[g] for the first 20 steps");
    check_true(t, v_ok, "the corrected second moment is on E[g^2] at every step (within 5%%)");
    free(m), free(v);
}

/* Exercise 4's solution: the ratio of the uncorrected to the corrected step, (1 - b1^t) / sqrt(1 - b2^t),
 * measured on adam_update itself with a constant gradient (so that m and v follow their formulas exactly). */
static double step_ratio(double b2, int t) {
    float p = 0, q = 0, m1 = 0, v1 = 0, m2 = 0, v2 = 0, g = 0.5f, before_p = 0, before_q = 0;
    for (int k = 1; k <= t; k++) {
        before_p = p, before_q = q;
        adam_update(&p, &g, &m1, &v1, 1, 1e-3f, 0.9f, (float)b2, 0, 0, k, false);
        adam_update(&q, &g, &m2, &v2, 1, 1e-3f, 0.9f, (float)b2, 0, 0, k, true);
    }
    return (double)(p - before_p) / (double)(q - before_q);
}
static void test_exercise4(Check *t) {
    int peak = 0;
    double best = 0;
    for (int k = 1; k <= 60; k++) {
        double r = (1 - pow(0.9, k)) / sqrt(1 - pow(0.999, k));
        if (r > best) best = r, peak = k;
    }
    check_true(t, peak == 12 && fabs(best - 6.57) < 0.01, "exercise 4: with (0.9, 0.999) the ratio peaks at t = 12 at 6.57 (%d, %.3f)",
               peak, best);
    check_close(t, step_ratio(0.999, 1), sqrt(10), 0, 1e-4, "adam_update's own steps: sqrt(10) at t = 1");
    check_close(t, step_ratio(0.999, 12), best, 0, 1e-3, "and 6.57 at t = 12");
    check_close(t, step_ratio(0.999, 100), (1 - pow(0.9, 100)) / sqrt(1 - pow(0.999, 100)), 0, 1e-3,
                "%.2f at t = 100", step_ratio(0.999, 100));
    check_close(t, (1 - pow(0.9, 1000)) / sqrt(1 - pow(0.999, 1000)), 1.26, 0, 0.005, "1.26 at t = 1000");
    check_close(t, step_ratio(0.99, 1), 1, 0, 1e-4, "with beta2 = 0.99 the first steps are equal");
    best = 0, peak = 0;
    for (int k = 1; k <= 200; k++) {
        double r = (1 - pow(0.9, k)) / sqrt(1 - pow(0.99, k));
        if (r > best) best = r, peak = k;
    }
    check_true(t, peak == 13 && fabs(best - 2.13) < 0.01, "and the ratio still peaks, at 2.13 at t = 13 (%d, %.3f)", peak, best);
}

/* With no data gradient: Adam + L2 moves a weight by ~lr per step for any lambda; AdamW shrinks it
 * by (1 - lr lambda). */
static void test_decoupled_decay(Check *t) {
    for (int k = 0; k < 2; k++) {
        double lambda = k ? 10 : 1e-3;
        float p = 1, m = 0, v = 0, q = 1, m2 = 0, v2 = 0, zero = 0, lr = 1e-3f;
        for (int s = 1; s <= 10; s++) {
            float g = (float)(lambda * p);
            adam_update(&p, &g, &m, &v, 1, lr, 0.9f, 0.999f, 1e-8f, 0, s, true);
            adam_update(&q, &zero, &m2, &v2, 1, lr, 0.9f, 0.999f, 1e-8f, (float)lambda, s, true);
        }
        check_close(t, 1 - p, 10 * 1e-3, 0, 1e-3, "lambda %g: Adam with an L2 penalty moves the weight by lr per step",
                    lambda);
        check_close(t, q, pow(1 - 1e-3 * lambda, 10), 0, 1e-5, "lambda %g: AdamW shrinks it by (1 - lr lambda) per step",
                    lambda);
    }
}

static void test_schedules(Check *t) {
    int64_t T = 1000;
    Schedule c4 = chapter4_schedule(T);
    double worst = 0;
    for (int64_t s = 0; s < T; s++) {
        /* chapter 4's lr_at, as written there */
        int64_t warm = T / 50 + 1;
        double ref = s < warm ? (double)(s + 1) / (double)warm
                              : 0.1 + 0.9 * 0.5 * (1.0 + cos(M_PI * (double)(s - warm) / (double)(T - warm)));
        worst = worst_of(worst, fabs(lr_multiplier(&c4, s, T) - ref));
    }
    check_true(t, worst < 1e-15, "chapter4_schedule reproduces chapter 4's lr_at at every step (%.1e)", worst);
    Schedule st = {SCHED_STEP, 0, 0}, co = {SCHED_COSINE, 100, 0}, k = {SCHED_CONSTANT, 10, 0};
    check_true(t, lr_multiplier(&st, 499, T) == 1 && lr_multiplier(&st, 500, T) == 0.1 && lr_multiplier(&st, 750, T) == 0.01,
               "step decay: 1, then 0.1 from half-way, then 0.01 from three quarters");
    check_close(t, lr_multiplier(&co, 99, T), 1, 0, 1e-12, "a warm-up ends at the peak");
    check_close(t, lr_multiplier(&co, 550, T), 0.5, 0, 1e-12, "cosine is at half the peak half-way through its decay");
    check_close(t, lr_multiplier(&k, 4, T), 0.5, 0, 1e-12, "linear warm-up: step 4 of 10 is at half");
}

/* ---- Muon ----------------------------------------------------------------------------- */

/* An orthonormal basis of random vectors (Gram-Schmidt), as the columns of Q[n, k]. */
static void random_orthonormal(double *Q, int n, int k, Rng *rng) {
    for (int j = 0; j < k; j++) {
        for (int i = 0; i < n; i++) Q[i * k + j] = rng_normal(rng);
        for (int pass = 0; pass < 2; pass++)
            for (int l = 0; l < j; l++) {
                double d = 0;
                for (int i = 0; i < n; i++) d += Q[i * k + j] * Q[i * k + l];
                for (int i = 0; i < n; i++) Q[i * k + j] -= d * Q[i * k + l];
            }
        double s = 0;
        for (int i = 0; i < n; i++) s += Q[i * k + j] * Q[i * k + j];
        for (int i = 0; i < n; i++) Q[i * k + j] /= sqrt(s);
    }
}

static double scalar_p(const float k[3], double s, int iters) {
    for (int i = 0; i < iters; i++) s = k[0] * s + k[1] * s * s * s + k[2] * s * s * s * s * s;
    return s;
}

/* G = U diag(s) V^T of known singular values: Newton-Schulz gives U diag(p^5(s / |s|)) V^T. */
static void test_newton_schulz(Check *t) {
    Rng rng;
    rng_seed(&rng, 17);
    const int shapes[2][2] = {{12, 30}, {30, 12}};
    for (int sh = 0; sh < 2; sh++) {
        int r = shapes[sh][0], c = shapes[sh][1], k = r < c ? r : c;
        double *U = xmalloc_array((size_t)r * k, sizeof *U), *V = xmalloc_array((size_t)c * k, sizeof *V), s[12], fro = 0;
        random_orthonormal(U, r, k, &rng), random_orthonormal(V, c, k, &rng);
        for (int i = 0; i < k; i++) s[i] = pow(10, -2.5 * i / (k - 1)), fro += s[i] * s[i];
        float *G = xcalloc((size_t)r * c, sizeof *G), *want = xcalloc((size_t)r * c, sizeof *want);
        float *ws = xmalloc_array(4 * (size_t)r * c, sizeof *ws);
        for (int q = 0; q < 2; q++) {
            const float *kk = q ? NS_QUINTIC : NS_CUBIC;
            for (int i = 0; i < r; i++)
                for (int j = 0; j < c; j++) {
                    double a = 0, b = 0;
                    for (int l = 0; l < k; l++)
                        a += U[i * k + l] * s[l] * V[j * k + l], b += U[i * k + l] * scalar_p(kk, s[l] / sqrt(fro), 5) * V[j * k + l];
                    G[(size_t)i * c + j] = (float)a, want[(size_t)i * c + j] = (float)b;
                }
            Dev cpu = {NULL};
            newton_schulz(&cpu, G, r, c, 5, kk, ws);
            check_close_f32(t, G, want, (size_t)r * c, 2e-5, 1e-3,
                            "%dx%d, %s: five iterations apply p^5 to each singular value and keep U, V", r, c,
                            q ? "quintic" : "cubic");
        }
        free(U), free(V), free(G), free(want), free(ws);
    }
    /* Jacobi's eigenvalues of a matrix of known spectrum */
    int n = 9;
    double *Q = xmalloc_array((size_t)n * n, sizeof *Q), *A = xcalloc((size_t)n * n, sizeof *A), w[9];
    random_orthonormal(Q, n, n, &rng);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            for (int l = 0; l < n; l++) A[i * n + j] += Q[i * n + l] * (l + 1.5) * Q[j * n + l];
    jacobi_eigenvalues(A, n, w);
    double worst = 0;
    for (int i = 0; i < n; i++) {
        double best = INFINITY;
        for (int l = 0; l < n; l++) best = fmin(best, fabs(w[i] - (l + 1.5)));
        worst = fmax(worst, best);
    }
    check_true(t, worst < 1e-9, "Jacobi rotations find the eigenvalues 1.5, 2.5, ..., 9.5 (worst %.1e)", worst);
    free(Q), free(A);
    /* the quintic leaves a band around 1; the cubic leaves small values small */
    check_true(t, scalar_p(NS_QUINTIC, 0.01, 5) > 0.6 && scalar_p(NS_QUINTIC, 0.01, 5) < 1.3,
               "five quintic iterations lift sigma = 0.01 into the band (%.3f)", scalar_p(NS_QUINTIC, 0.01, 5));
    check_true(t, scalar_p(NS_CUBIC, 0.01, 5) < 0.1, "five cubic ones leave it below 0.1 (%.4f)", scalar_p(NS_CUBIC, 0.01, 5));
    int half = 0, most = 0;
    for (int k = 1; k <= 30 && !most; k++) {
        double v = scalar_p(NS_CUBIC, 1e-3, k);
        if (!half && v >= 0.5) half = k;
        if (v >= 0.9) most = k;
    }
    check_true(t, half == 16 && most == 18, "the cubic lifts 1e-3 to 0.5 in %d iterations and past 0.9 in %d (the text: 16, 18)",
               half, most);
    check_close(t, pow(NS_QUINTIC[0], 5), 485, 0, 0.002, "the quintic multiplies tiny values by a^5 = %.1f per five iterations",
                pow(NS_QUINTIC[0], 5));
    check_close(t, ns_flops(768, 768) / layer_flops(768, 768, 500000), 5.0 * 768 / 500000, 0, 1e-12,
                "Newton-Schulz costs 5 s / N of a square layer's training (%.4f at s = 768, N = 500000)",
                ns_flops(768, 768) / layer_flops(768, 768, 500000));
}

/* One Muon step against the text's formulas, computed here one operation at a time:
 * b = mu b + (1 - mu) g;  u = (1 - mu) g + mu b;  p = (1 - lr wd) p - lr sqrt(max(1, r/c)) orth(u),
 * twice (so that the buffer matters), on a tall matrix (scale sqrt(r/c) > 1) and a wide one (scale 1). */
static void test_muon_step(Check *t) {
    Rng rng;
    rng_seed(&rng, 29);
    const int shapes[2][2] = {{12, 5}, {5, 12}};
    for (int sh = 0; sh < 2; sh++) {
        int r = shapes[sh][0], c = shapes[sh][1], n = r * c, s = r < c ? r : c;
        float p[60], q[60], b[60] = {0}, bq[60] = {0}, u[60], g[60], mu = 0.95f, lr = 0.02f, wd = 0.1f;
        float *ws = xmalloc_array((size_t)(2 * n + 2 * s * s), sizeof *ws);
        random_fill(p, (size_t)n, 1, &rng);
        memcpy(q, p, sizeof p);
        Dev cpu = {NULL};
        double scale = sqrt(fmax(1.0, (double)r / c));
        for (int step = 0; step < 2; step++) {
            random_fill(g, (size_t)n, 1, &rng);
            muon_update(&cpu, p, g, b, r, c, lr, mu, wd, ws);
            for (int i = 0; i < n; i++) bq[i] = mu * bq[i] + (1 - mu) * g[i];
            for (int i = 0; i < n; i++) u[i] = (1 - mu) * g[i] + mu * bq[i];
            newton_schulz(&cpu, u, r, c, NS_STEPS, NS_QUINTIC, ws + n);
            for (int i = 0; i < n; i++) q[i] = (float)((1 - lr * wd) * q[i] - lr * scale * u[i]);
        }
        check_close_f32(t, b, bq, (size_t)n, 1e-7, 1e-6, "Muon %dx%d: the momentum buffer is mu b + (1 - mu) g", r, c);
        check_close_f32(t, p, q, (size_t)n, 1e-6, 1e-5,
                        "Muon %dx%d: two steps are (1 - lr wd) p - lr %.3f orth((1 - mu) g + mu b)", r, c, scale);
        free(ws);
    }
}

/* Exercise 2: the tuned heavy ball outside its interval, at kappa = 100. */
static double heavy_ball_modulus(double mu, double a) {       /* the larger |root| of z^2 - (1 + mu - a) z + mu */
    double b = 1 + mu - a, disc = b * b - 4 * mu;
    return disc < 0 ? sqrt(mu) : fmax(fabs(b + sqrt(disc)), fabs(b - sqrt(disc))) / 2;
}
static void test_exercise2(Check *t) {
    double pred;
    OptimSpec o = bowl_spec(MOMENTUM, 100, &pred);
    double mu = o.momentum, lo = pow(1 + sqrt(mu), 2), hi = 2 * (1 + mu);
    check_true(t, fabs(lo - 3.31) < 0.005 && fabs(hi - 3.34) < 0.005, "exercise 2: (1 + sqrt mu)^2 = %.3f, 2 (1 + mu) = %.3f",
               lo, hi);
    check_close(t, o.lr * 100, lo, 0, 1e-12, "the tuned eta puts eta lambda_max exactly at (1 + sqrt mu)^2");
    double mid = heavy_ball_modulus(mu, (lo + hi) / 2);
    check_true(t, mid > sqrt(mu) && mid < 1, "between the two it converges, slower than sqrt(mu) (%.4f against %.4f)", mid,
               sqrt(mu));
    check_true(t, heavy_ball_modulus(mu, hi * 1.001) > 1 && heavy_ball_modulus(mu, 2 * lo) > 1,
               "beyond 2 (1 + mu), and at twice lambda_max, a root has modulus above 1 (%.3f at twice)",
               heavy_ball_modulus(mu, 2 * lo));
}

/* <G, D> >= -|G|_* for every D of spectral norm <= 1, with equality at D = -U V^T. */
static double spectral_norm(const double *D, int r, int c, Rng *rng) {
    double x[20], y[20], s = 0;
    for (int j = 0; j < c; j++) x[j] = rng_normal(rng);
    for (int it = 0; it < 300; it++) {
        for (int i = 0; i < r; i++) { y[i] = 0; for (int j = 0; j < c; j++) y[i] += D[i * c + j] * x[j]; }
        s = 0;
        for (int j = 0; j < c; j++) { x[j] = 0; for (int i = 0; i < r; i++) x[j] += D[i * c + j] * y[i]; s += x[j] * x[j]; }
        s = sqrt(s);
        for (int j = 0; j < c; j++) x[j] /= s;
    }
    return sqrt(s);
}

static void test_spectral_steepest_descent(Check *t) {
    Rng rng;
    rng_seed(&rng, 23);
    int r = 6, c = 9;
    float G[54];
    random_fill(G, 54, 1, &rng);
    double sv[6], nuclear = 0;
    singular_values(G, r, c, sv);
    for (int i = 0; i < r; i++) nuclear += sv[i];
    /* U V^T by many cubic iterations (they converge to exactly 1) */
    float X[54], ws[4 * 54];
    memcpy(X, G, sizeof G);
    Dev cpu = {NULL};
    newton_schulz(&cpu, X, r, c, 60, NS_CUBIC, ws);
    double ip = 0;
    for (int i = 0; i < 54; i++) ip += (double)G[i] * X[i];
    check_close(t, ip, nuclear, 0, 1e-4, "<G, U V^T> is the sum of the singular values (%.4f)", nuclear);
    bool never_lower = true;
    for (int k = 0; k < 300; k++) {
        double D[54], d = 0;
        for (int i = 0; i < 54; i++) D[i] = rng_normal(&rng);
        double sn = spectral_norm(D, r, c, &rng);
        for (int i = 0; i < 54; i++) D[i] /= sn, d += G[i] * D[i];
        never_lower &= d >= -nuclear - 1e-9;
    }
    check_true(t, never_lower, "no update of spectral norm 1 lowers the tangent plane more than -U V^T (300 tries)");
}

/* ---- The model, the data, the optimizer object -------------------------------------- */

static double swish_of(double x) { return x / (1 + exp(-x)); }
typedef struct { Model *m; int B; } ModelCtx;
static double model_loss_of(const float *params, void *ctx) {
    ModelCtx *c = ctx;
    (void)params;
    model_forward(c->m, c->B);
    return cross_entropy_forward(c->m->losses, c->m->lse, c->m->logits, c->m->y, c->B, c->m->cfg.V);
}

static void test_model(Check *t) {
    ModelConfig c = {.V = 7, .T = 3, .D = 4, .H = 6, .L = 2};
    Model *m = model_new(&c, 5, 9);
    size_t n = (size_t)8 * 4 + (6 * 12 + 6) + (6 * 6 + 6) + (7 * 6 + 7);
    check_true(t, m->n == n && m->nt == 7, "the table of tensors covers every parameter (%zu = %zu by hand)", m->n, n);
    check_true(t, m->t[TW(0)].role == ROLE_HIDDEN && m->t[TW(1)].role == ROLE_HIDDEN && m->t[TW(2)].role == ROLE_HEAD &&
                      m->t[0].role == ROLE_EMBED && m->t[TB(1)].role == ROLE_BIAS,
               "roles: embedding, hidden matrices, output layer, biases");
    Rng rng;
    rng_seed(&rng, 21);
    for (size_t i = 0; i < m->n; i++) m->params[i] += (float)(0.3 * rng_normal(&rng));
    for (int i = 0; i < 15; i++) m->ctx[i] = (int32_t)rng_below(&rng, 8);
    for (int i = 0; i < 5; i++) m->y[i] = (int32_t)rng_below(&rng, 7);
    int32_t ctx[15], y[5];
    memcpy(ctx, m->ctx, sizeof ctx), memcpy(y, m->y, sizeof y);
    model_gradients(m, 5);
    float *g = xmalloc_array(m->n, sizeof *g);
    memcpy(g, m->grads, m->n * sizeof *g);
    memcpy(m->ctx, ctx, sizeof ctx), memcpy(m->y, y, sizeof y);
    ModelCtx mc = {m, 5};
    GradErr e = gradcheck_f32(model_loss_of, &mc, m->params, m->n, g, 1e-3f);
    check_true(t, e.max_abs < 3e-3, "every gradient of the model against central differences (max abs err %.1e)", e.max_abs);
    /* the same with Swish, chapter 4's activation */
    m->cfg.act = ACT_SWISH;
    memcpy(m->ctx, ctx, sizeof ctx), memcpy(m->y, y, sizeof y);
    model_gradients(m, 5);
    memcpy(g, m->grads, m->n * sizeof *g);
    memcpy(m->ctx, ctx, sizeof ctx), memcpy(m->y, y, sizeof y);
    e = gradcheck_f32(model_loss_of, &mc, m->params, m->n, g, 1e-3f);
    check_true(t, e.max_abs < 3e-3, "with Swish too (max abs err %.1e)", e.max_abs);
    float one = 1, sw, dsw = 0, up = 1;
    act_forward(ACT_SWISH, &sw, &one, 1);
    act_backward(ACT_SWISH, &dsw, &up, &one, 1);
    check_close(t, sw, 1 / (1 + exp(-1.0)), 0, 1e-6, "swish(1) = 1 / (1 + e^-1)");
    check_close(t, dsw, (swish_of(1 + 1e-4) - swish_of(1 - 1e-4)) / 2e-4, 0, 1e-5, "swish'(1) against a central difference");
    m->cfg.act = ACT_GELU;
    /* the optimizers' memory, as the arena counts it */
    size_t hidden = (size_t)6 * 12 + 6 * 6, want[NMETHODS] = {0, 4 * n, 4 * n, 4 * n, 8 * n, 8 * n, 4 * hidden + 8 * (n - hidden)};
    for (int k = 0; k < NMETHODS; k++) {
        OptimSpec o = optim_defaults((Method)k, 1e-3);
        Optim *opt = optim_new(&o, m);
        check_true(t, opt->state->requested == want[k], "%s keeps %zu bytes of state (%zu expected)", METHOD_NAMES[k],
                   opt->state->requested, want[k]);
        optim_free(opt);
    }
    free(g);
    model_free(m);
    /* chapter 4's initialization: the same first numbers from the same seed */
    ModelConfig c4 = {.V = 85, .T = 16, .D = 24, .H = 512, .L = 2};
    Model *m4 = model_new(&c4, 4, 1);
    Rng r4;
    rng_stream(&r4, 1, STREAM_INIT);
    float e0 = (float)rng_normal(&r4);
    check_true(t, tensor_of(m4, 0)[0] == e0, "the initialization draws from the seed in chapter 4's order");
    model_free(m4);
}

/* The range test on noisy gradient descent on f = lambda x^2 / 2 (x is kicked by noise every step):
 * the loss settles at a level that is lowest near lr = 1 / lambda and blows up at lr = 2 / lambda. */
typedef struct { double x, lambda, noise; Rng rng; } Par;
static double par_step(void *ctx, double lr) {
    Par *p = ctx;
    double loss = 0.5 * p->lambda * p->x * p->x;
    p->x -= lr * p->lambda * p->x;
    p->x += p->noise * rng_normal(&p->rng);
    return loss;
}
static void test_range_test(Check *t) {
    Par p = {3.0, 50, 0.1, {{0}}};
    rng_seed(&p.rng, 5);
    RangeTest *rt = xmalloc(sizeof *rt);
    lr_range_test(rt, par_step, &p, 1e-5, 10, 300);
    double stop = rt->lr[rt->n - 1];
    check_true(t, rt->n < 300 && stop > 2 / p.lambda && stop < 20 / p.lambda,
               "on noisy lambda x^2 / 2 the test stops after lr = 2 / lambda, late by the smoothing's lag (%.3g; 2 / lambda = %.3g)",
               stop, 2 / p.lambda);
    check_true(t, rt->lowest < 4 / p.lambda && rt->lowest > 0.1 / p.lambda && rt->steepest < rt->lowest,
               "its lowest point (%.3g) is within the smoothing lag of 1 / lambda, and the suggestion (%.3g) below it", rt->lowest, rt->steepest);
    /* the smoothing is bias-corrected: a constant loss is smoothed to itself from the first step */
    Par q = {1.0, 0, 0, {{0}}};
    rng_seed(&q.rng, 1);
    lr_range_test(rt, par_step, &q, 1e-3, 1, 10);
    check_close(t, rt->smooth[0], 0, 0, 0, "a zero loss smooths to zero");
    free(rt);
}

static void test_filter_normalization(Check *t) {
    ModelConfig c = {.V = 7, .T = 3, .D = 4, .H = 6, .L = 2};
    Model *m = model_new(&c, 2, 9);
    Rng rng;
    rng_seed(&rng, 2);
    float *d = xmalloc_array(m->n, sizeof *d);
    filter_normalized_direction(d, m->params, m, &rng);
    double worst = 0;
    bool bias_zero = true;
    for (int k = 0; k < m->nt; k++)
        for (int i = 0; i < m->t[k].rows; i++) {
            double nd = 0, np = 0;
            for (int j = 0; j < m->t[k].cols; j++) {
                size_t at = m->t[k].offset + (size_t)i * m->t[k].cols + j;
                nd += (double)d[at] * d[at], np += (double)m->params[at] * m->params[at];
                if (m->t[k].role == ROLE_BIAS) bias_zero &= d[at] == 0;
            }
            if (m->t[k].role != ROLE_BIAS) worst = worst_of(worst, fabs(sqrt(nd) - sqrt(np)) / fmax(sqrt(np), 1e-12));
        }
    check_true(t, worst < 1e-5, "every row of the direction has the norm of the same row of the parameters (%.1e)", worst);
    check_true(t, bias_zero, "and the direction is zero on the biases");
    free(d);
    model_free(m);
}

/* ---- The devices' agreement, judged against the CPU's own chaos --------------------------- */

static void test_runs_agree(Check *t) {
    double quiet[4] = {1e-7, 1e-7, 1e-7, 1e-7}, small[4] = {1e-7, 2e-6, 5e-5, 4e-4};
    double drift[4] = {1e-7, 1e-4, 5e-3, 0.1}, nudged[4] = {2e-7, 1e-4, 4e-3, 0.08}, early[4] = {2e-3, 2e-3, 5e-3, 0.1};
    double nan4[4] = {1e-7, NAN, 0, 0};
    check_true(t, runs_agree(small, quiet, 4), "runs within the tolerance agree");
    check_true(t, runs_agree(drift, nudged, 4), "runs that drift as the CPU drifts from itself agree");
    check_true(t, !runs_agree(early, nudged, 4), "runs that leave the tolerance before the CPU strays do not");
    check_true(t, !runs_agree(drift, quiet, 4), "nor do runs that drift where the CPU does not");
    check_true(t, !runs_agree(nan4, nudged, 4), "nor a run that is not finite");
}

/* The committed GPU data (written on a GPU) against the committed control (written on the CPU): gpu-agree's verdict. */
static void test_committed_agreement(Check *t) {
    TsvTable *g = load(t, "figures/data", "ch05-gpu-agree"), *b = load(t, "figures/data", "ch05-butterfly");
    if (!g || !b) { tsv_free(g), tsv_free(b); return; }
    for (int k = 0; k < NMETHODS; k++) {
        double diff[AGREE_STEPS], nudged[AGREE_STEPS];
        int n = 0, m = 0;
        for (size_t i = 0; i < tsv_rows(g) && n < AGREE_STEPS; i++)
            if (strcmp(tsv_cell(g, i, tsv_col(g, "method")), METHOD_NAMES[k]) == 0) {
                double d = num(t, g, i, "abs_diff");
                diff[n++] = isfinite(d) ? d : INFINITY;
            }
        for (size_t i = 0; i < tsv_rows(b) && m < AGREE_STEPS; i++)
            if (strcmp(tsv_cell(b, i, tsv_col(b, "method")), METHOD_NAMES[k]) == 0) nudged[m++] = num(t, b, i, "abs_diff");
        check_true(t, n == AGREE_STEPS && m == AGREE_STEPS && runs_agree(diff, nudged, n),
                   "figures/data: %s on the GPU agrees with the CPU as well as the CPU agrees with itself (%d, %d steps)",
                   METHOD_NAMES[k], n, m);
    }
    tsv_free(g), tsv_free(b);
}

/* ---- The worked solutions ------------------------------------------------------------- */

static void test_solutions(Check *t) {
    float p = 0, g = 1, s = 0;
    bool sqrt_t = true;
    for (int k = 1; k <= 16; k++) {
        float before = p;
        adagrad_update(&p, &g, &s, 1, 1.0f, 0);
        sqrt_t &= fabs((before - p) - 1 / sqrt(k)) < 1e-6;
    }
    check_true(t, sqrt_t, "solution 5: AdaGrad's step under a constant gradient is lr / sqrt(t)");
    float a = 1, b = 1, m1 = 0, v1 = 0, m2 = 0, v2 = 0, vmax = 0;
    bool same = true;
    for (int k = 1; k <= 20; k++) {
        float gg = 0.1f * k;                        /* growing gradients: v rises every step */
        adam_update(&a, &gg, &m1, &v1, 1, 1e-2f, 0.9f, 0.999f, 1e-8f, 0, k, true);
        amsgrad_update(&b, &gg, &m2, &v2, &vmax, 1, 1e-2f, 0.9f, 0.999f, 1e-8f, k);
        same &= a == b;
    }
    check_true(t, same, "solution 6: while v grows, AMSGrad takes exactly Adam's steps");
    float a0 = a, b0 = b, tiny = 1e-4f;
    adam_update(&a, &tiny, &m1, &v1, 1, 1e-2f, 0.9f, 0.999f, 1e-8f, 0, 21, true);
    amsgrad_update(&b, &tiny, &m2, &v2, &vmax, 1, 1e-2f, 0.9f, 0.999f, 1e-8f, 21);
    check_true(t, vmax > v2 && fabsf(b - b0) <= fabsf(a - a0), "solution 6: after a drop, vmax keeps the step no larger than Adam's");
    check_true(t, lr_multiplier_wsd(4, 100, 10, 0.8) == 0.5 && lr_multiplier_wsd(50, 100, 10, 0.8) == 1 &&
                      fabs(lr_multiplier_wsd(90, 100, 10, 0.8) - 0.5) < 1e-12 && lr_multiplier_wsd(100, 100, 10, 0.8) == 0,
               "solution 7: warm-up, stable, then a linear decay to zero");
}

/* ---- The experiments, in --quick mode --------------------------------------------- */

static bool all_finite(Check *t, TsvTable *tab, const char *col) {
    bool ok = tsv_rows(tab) > 0;
    for (size_t i = 0; i < tsv_rows(tab); i++) ok &= isfinite(num(t, tab, i, col));
    return ok;
}
static size_t row_of(TsvTable *tab, const char *col, const char *value) {
    int c = tsv_col(tab, col);
    for (size_t i = 0; c >= 0 && i < tsv_rows(tab); i++)
        if (strcmp(tsv_cell(tab, i, c), value) == 0) return i;
    return 0;
}

static void test_quick_experiments(Check *t, Run *r) {
    check_true(t, run_all_experiments("ch05-optimization", COMMANDS, sizeof COMMANDS / sizeof COMMANDS[0], r) == 0,
               "every experiment of all runs in --quick mode");
    const char *d = r->c.out;
    TsvTable *x = load(t, d, "ch05-rates");
    if (x) {
        check_true(t, tsv_rows(x) == 27 && num(t, x, 0, "max_rel_err") < 1e-3,
                   "27 bowls and methods, every rate within 0.1%% of its prediction (worst %.1e)", num(t, x, 0, "max_rel_err"));
        tsv_free(x);
    }
    x = load(t, d, "ch05-paths-info");
    if (x) {
        size_t i = row_of(x, "method", "momentum") + 4, j = row_of(x, "method", "sgd") + 4;   /* the Rosenbrock rows */
        check_true(t, num(t, x, i, "distance") < num(t, x, j, "distance"),
                   "in Rosenbrock's valley momentum ends nearer the minimum than gradient descent");
        tsv_free(x);
    }
    x = load(t, d, "ch05-sweep");
    if (x) {
        check_true(t, tsv_rows(x) == NMETHODS * SWEEP_POINTS, "the sweep has %d runs", NMETHODS * SWEEP_POINTS);
        tsv_free(x);
    }
    x = load(t, d, "ch05-tradeoffs");
    if (x) {
        check_close(t, num(t, x, SGD, "memory"), 1, 0, 1e-9, "SGD needs 1x the parameters' memory");
        check_close(t, num(t, x, MOMENTUM, "memory"), 2, 0, 1e-9, "momentum 2x");
        check_close(t, num(t, x, ADAM, "memory"), 3, 0, 1e-9, "Adam 3x");
        check_true(t, num(t, x, MUON, "memory") > 2 && num(t, x, MUON, "memory") < 3, "Muon between 2x and 3x (%.2f)",
                   num(t, x, MUON, "memory"));
        check_true(t, all_finite(t, x, "val_loss") && all_finite(t, x, "ms_per_step") && all_finite(t, x, "val_loss_seed2"),
                   "finite losses (both seeds) and times");
        check_close(t, num(t, x, ADAM, "ms_vs_adam"), 1, 0, 1e-12, "times are relative to Adam's");
        tsv_free(x);
    }
    x = load(t, d, "ch05-race");
    if (x) {
        size_t n = tsv_rows(x);
        check_true(t, n >= NMETHODS * 2, "the race writes learning curves");
        check_true(t, num(t, x, n - 1, "val_loss") < num(t, x, 0, "val_loss") - 0.3, "and Muon's loss falls by 0.3 nats");
        tsv_free(x);
    }
    x = load(t, d, "ch05-moments");
    if (x) {
        size_t u = row_of(x, "label", "uncorrected");
        check_close(t, num(t, x, 0, "update_rms"), 1, 0, 1e-3, "corrected: the first step is one learning rate per parameter");
        check_close(t, num(t, x, u, "update_rms"), sqrt(10), 0, 1e-3, "uncorrected: sqrt(10) learning rates");
        check_close(t, num(t, x, 0, "m_hat"), num(t, x, 0, "m_raw") / 0.1, 0, 1e-4, "m_hat = m / (1 - beta1) at step 1");
        tsv_free(x);
    }
    const char *others[] = {"ch05-rate-curves", "ch05-contours", "ch05-paths", "ch05-sweep-info", "ch05-race-info",
                            "ch05-moments-curve", "ch05-warmup", "ch05-gradnoise", "ch05-warmup-final", "ch05-warmup-info",
                            "ch05-schedules", "ch05-schedule-curves", "ch05-schedule-final", "ch05-batch", "ch05-batch-info",
                            "ch05-lrfind", "ch05-lrfind-pick", "ch05-slice", "ch05-slice-path", "ch05-slice-paths",
                            "ch05-slice-info", "ch05-ns-map", "ch05-ns-error", "ch05-ns-sv", "ch05-ns-summary",
                            "ch05-headline", "ch05-headline-curves", "ch05-rates-info", "ch05-batch-best",
                            "ch05-headline-info", "ch05-lrfind-info", "ch05-descent"};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        x = load(t, d, others[i]);
        if (x) {
            check_true(t, tsv_rows(x) > 0, "%s has rows", others[i]);
            tsv_free(x);
        }
    }
    x = load(t, d, "ch05-headline");
    if (x) {
        check_true(t, tsv_rows(x) == (2 + CONTENDERS) * HEADLINE_SEEDS && all_finite(t, x, "test_ppl") &&
                          num(t, x, 0, "test_ppl") < r->data->vocab.size,
                   "the final comparison: %d runs from each of %d seeds with finite test perplexities below V",
                   2 + CONTENDERS, HEADLINE_SEEDS);
        check_true(t, strcmp(tsv_cell(x, 0, tsv_col(x, "activation")), "swish") == 0, "chapter 4's model, with Swish");
        tsv_free(x);
    }
    x = load(t, d, "ch05-headline-grid");
    TsvTable *h = load(t, d, "ch05-headline");
    if (x && h) {
        check_true(t, tsv_rows(x) == 1 + 2 * GRID_LRS + 4 && all_finite(t, x, "val_loss"),
                   "the grid: chapter 4's settings, %d rates with and without clipping, 4 variants, all finite", GRID_LRS);
        double lowest = INFINITY;
        for (size_t i = 0; i < tsv_rows(x); i++)
            if (strcmp(tsv_cell(x, i, tsv_col(x, "method")), "adamw") == 0) lowest = fmin(lowest, num(t, x, i, "val_loss"));
        check_close(t, num(t, h, 1, "val_loss"), lowest, 1e-9, 0,
                    "the comparison's first seed reruns the grid's lowest AdamW validation loss, to the digit");
        check_close(t, num(t, h, 0, "val_loss"), num(t, x, 0, "val_loss"), 1e-9, 0,
                    "... and its baseline reruns the grid's row of chapter 4's settings");
        check_true(t, num(t, x, 0, "clip") == 1 && num(t, x, 0, "lr") == 2e-3 && num(t, x, 0, "warmup_pct") == 2 &&
                          num(t, x, 0, "floor") == 0.1,
                   "the grid's first row is chapter 4's settings");
    }
    tsv_free(x), tsv_free(h);
    x = load(t, d, "ch05-contest");
    h = load(t, d, "ch05-headline");
    if (x && h) {
        bool ok = tsv_rows(x) == CONTENDERS * CONTEST_TRIALS && all_finite(t, x, "val_loss");
        for (int w = 0; ok && w < CONTENDERS; w++) {
            int chosen = 0;
            double lowest = INFINITY, picked = NAN;
            for (size_t i = 0; i < tsv_rows(x); i++) {
                if (strcmp(tsv_cell(x, i, tsv_col(x, "contender")), CONTENDER_NAMES[w]) != 0) continue;
                lowest = fmin(lowest, num(t, x, i, "val_loss"));
                if (num(t, x, i, "chosen") == 1) chosen++, picked = num(t, x, i, "val_loss");
            }
            ok &= chosen == 1 && picked == lowest && strcmp(tsv_cell(h, 2 + w, tsv_col(h, "label")), CONTENDER_NAMES[w]) == 0 &&
                  fabs(num(t, h, 2 + w, "val_loss") - lowest) < 1e-9;
        }
        check_true(t, ok, "the contest: %d trials for each of %d contenders, one chosen each, the lowest on validation, "
                          "which the comparison's first seed reruns to the digit", CONTEST_TRIALS, CONTENDERS);
    }
    tsv_free(x), tsv_free(h);
    x = load(t, d, "ch05-contest-cost");
    if (x) {
        check_true(t, tsv_rows(x) == 2 && all_finite(t, x, "ms_per_step") && num(t, x, 1, "ns_flops") > 0 &&
                          strcmp(tsv_cell(x, 1, tsv_col(x, "method")), "muon") == 0,
                   "the contest prices a step of Adam and of Muon on chapter 4's model");
        tsv_free(x);
    }
    x = load(t, d, "ch05-headline-summary");
    if (x) {
        bool ok = tsv_rows(x) == 2 + CONTENDERS && num(t, x, 0, "change_mean") == 0;
        for (size_t i = 1; ok && i < tsv_rows(x); i++)
            ok &= num(t, x, i, "change_min") <= num(t, x, i, "change_mean") && num(t, x, i, "change_mean") <= num(t, x, i, "change_max");
        check_true(t, ok, "the summary over the seeds: the baseline's change is 0, every other mean lies in its range");
        tsv_free(x);
    }
    x = load(t, d, "ch05-headline-info");
    if (x) {
        check_true(t, num(t, x, 0, "val_positions") == (double)(r->data->val.len - CH01_START) &&
                          num(t, x, 0, "test_positions") == (double)(r->data->test.len - CH01_START),
                   "the final comparison scores every position of the dataset's validation and test splits");
        tsv_free(x);
    }
    x = load(t, d, "ch05-timings");
    if (x) {
        bool ok = tsv_rows(x) == NEXPERIMENTS + 1 && all_finite(t, x, "cpu_seconds");
        double sum = 0;
        for (size_t i = 0; ok && i < NEXPERIMENTS; i++) sum += num(t, x, i, "cpu_seconds");
        check_true(t, ok && fabs(sum - num(t, x, NEXPERIMENTS, "cpu_seconds")) < 0.05 * NEXPERIMENTS + 1e-9,
                   "all times each of its %d experiments, and the last row is their sum", NEXPERIMENTS);
        tsv_free(x);
    }
    check_true(t, experiment_butterfly(r) == 0, "butterfly --quick runs");
    x = load(t, d, "ch05-butterfly-summary");
    if (x) {
        bool ok = tsv_rows(x) == NMETHODS && all_finite(t, x, "max_abs_diff");
        for (size_t i = 0; ok && i < NMETHODS; i++) ok &= num(t, x, i, "max_abs_diff") < 1;
        check_true(t, ok, "the nudged runs stay finite and within a nat of the unnudged ones, every optimizer");
        tsv_free(x);
    }
    x = load(t, d, "ch05-slice-path");
    if (x) {
        check_close(t, num(t, x, tsv_rows(x) - 1, "distance"), 0, 1e-6, 0, "the path ends at the slice's centre");
        tsv_free(x);
    }
}

/* ---- The program's one-line errors ----------------------------------------------- */

static void test_command_line(Check *t, const char *dir) {
    char *race = xasprintf("race --quick --out %s/empty", dir);
    char *headline = xasprintf("headline --optimizer adagrad --quick --steps 1 --out %s/bad", dir);
    char *lrfind = xasprintf("lrfind --optimizer adagrad --quick --out %s/bad", dir);
    char *cases[][3] = {
        {"slice --device cuda", "1", "CPU only"},
        {"quadratic --device cuda", "1", "CPU only"},
        {"contest --device cuda", "1", "CPU only"},
        {"gpu-agree", "1", "--device cuda"},
        {"lrfind --layers 9", "2", "--layers"},
        {"headline --quick --device cuda", "1", "--activation gelu"},
        {NULL, "1", "adagrad"},
        {NULL, "1", "adagrad"},
        {NULL, "1", "run the sweep first"},
        {"sweep --data /nonexistent/file.txt", "1", "/nonexistent/file.txt"},
        {"swep", "2", "unknown experiment"},
        {"--help", "0", "usage"},
    };
    cases[6][0] = headline, cases[7][0] = lrfind, cases[8][0] = race;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_program(t, "ch05-optimization", cases[i][0], atoi(cases[i][1]), cases[i][2]);
    /* --jobs: the same comparison, its runs in processes of their own, to the digit; and not without --threads 1 */
    char *grid = xasprintf("grid --quick --threads 1 --out %s/j1", dir);
    char *contest1 = xasprintf("contest --quick --threads 1 --out %s/j1", dir);
    char *contest4 = xasprintf("contest --quick --threads 1 --jobs 4 --out %s/j3", dir);
    char *one = xasprintf("headline --quick --threads 1 --out %s/j1", dir);
    char *three = xasprintf("headline --quick --threads 1 --jobs 3 --grid %s/j1/ch05-headline-grid.tsv --out %s/j3", dir, dir);
    char *j1 = xasprintf("%s/j1", dir), *j3 = xasprintf("%s/j3", dir);
    mkdir_p(j1), mkdir_p(j3);
    expect_program(t, "ch05-optimization", grid, 0, "");
    expect_program(t, "ch05-optimization", contest1, 0, "");
    expect_program(t, "ch05-optimization", contest4, 0, "");
    expect_program(t, "ch05-optimization", one, 0, "");
    expect_program(t, "ch05-optimization", three, 0, "");
    expect_program(t, "ch05-optimization", "headline --quick --threads 2 --jobs 3 --out /nonexistent", 1, "--threads 1");
    TsvTable *a = load(t, j1, "ch05-headline"), *b = load(t, j3, "ch05-headline");
    TsvTable *ca = load(t, j1, "ch05-headline-curves"), *cb = load(t, j3, "ch05-headline-curves");
    if (a && b && ca && cb) {
        bool same = tsv_rows(a) == tsv_rows(b) && tsv_rows(a) > 0 && tsv_rows(ca) == tsv_rows(cb);
        const char *cols[] = {"val_loss", "test_loss", "test_ppl_change"};
        for (size_t i = 0; same && i < tsv_rows(a); i++)
            for (int k = 0; k < 3; k++) same &= strcmp(tsv_cell(a, i, tsv_col(a, cols[k])), tsv_cell(b, i, tsv_col(b, cols[k]))) == 0;
        for (size_t i = 0; same && i < tsv_rows(ca); i++)
            for (int k = 0; k < 5; k++) same &= strcmp(tsv_cell(ca, i, k), tsv_cell(cb, i, k)) == 0;
        check_true(t, same, "headline --jobs 3 writes the same losses and learning curves as one run at a time");
    }
    TsvTable *c1 = load(t, j1, "ch05-contest"), *c4 = load(t, j3, "ch05-contest");
    if (c1 && c4) {
        bool same = tsv_rows(c1) == tsv_rows(c4) && tsv_rows(c1) == CONTENDERS * CONTEST_TRIALS;
        for (size_t i = 0; same && i < tsv_rows(c1); i++)
            same &= strcmp(tsv_cell(c1, i, tsv_col(c1, "val_loss")), tsv_cell(c4, i, tsv_col(c4, "val_loss"))) == 0;
        check_true(t, same, "contest --jobs 4 writes the same validation losses as one run at a time");
    }
    tsv_free(c1), tsv_free(c4);
    /* --keep, as the book's comparison was run: the baseline and the named run only, each row as in the full run */
    char *keep = xasprintf("headline --quick --threads 1 --jobs 3 --keep 'AdamW, light decay' --grid %s/ch05-headline-grid.tsv "
                           "--contest %s/ch05-contest.tsv --out %s/jk", j1, j1, dir);
    char *keep_bad = xasprintf("headline --quick --threads 1 --keep nobody --grid %s/ch05-headline-grid.tsv "
                               "--contest %s/ch05-contest.tsv --out %s/jk", j1, j1, dir);
    char *jk = xasprintf("%s/jk", dir);
    mkdir_p(jk);
    expect_program(t, "ch05-optimization", keep_bad, 1, "names none");
    expect_program(t, "ch05-optimization", keep, 0, "");
    TsvTable *k = load(t, jk, "ch05-headline");
    if (a && k) {
        bool same = tsv_rows(k) == 2 * HEADLINE_SEEDS;
        for (size_t i = 0; same && i < tsv_rows(k); i++) {
            const char *label = tsv_cell(k, i, tsv_col(k, "label"));
            bool found = false;
            same &= strcmp(label, i % 2 ? "AdamW, light decay" : "chapter 4") == 0;
            for (size_t j = 0; j < tsv_rows(a); j++)
                if (strcmp(tsv_cell(a, j, tsv_col(a, "label")), label) == 0 &&
                    strcmp(tsv_cell(a, j, tsv_col(a, "seed")), tsv_cell(k, i, tsv_col(k, "seed"))) == 0)
                    found = strcmp(tsv_cell(a, j, tsv_col(a, "val_loss")), tsv_cell(k, i, tsv_col(k, "val_loss"))) == 0 &&
                            strcmp(tsv_cell(a, j, tsv_col(a, "test_loss")), tsv_cell(k, i, tsv_col(k, "test_loss"))) == 0;
            same &= found;
        }
        check_true(t, same, "headline --keep trains the baseline and the named run alone, each seed's losses as in the full comparison");
    }
    tsv_free(k);
    free(keep), free(keep_bad), free(jk);
    free(contest1), free(contest4);
    tsv_free(a), tsv_free(b), tsv_free(ca), tsv_free(cb);
    free(grid), free(one), free(three), free(j1), free(j3);
    char *bad = xasprintf("%s/bad", dir);
    check_true(t, access(bad, F_OK) != 0, "a bad --optimizer stops the experiment before it writes anything");
    free(race), free(headline), free(lrfind), free(bad);
}

int main(void) {
    Check t;
    check_init(&t, "ch05");
    setenv("NO_PROGRESS", "1", 1);
    test_descent_lemma(&t);
    test_bowl_rates(&t);
    test_nesterov_forms(&t);
    test_rmsprop_and_adam(&t);
    test_bias_correction(&t);
    test_decoupled_decay(&t);
    test_exercise4(&t);
    test_schedules(&t);
    test_newton_schulz(&t);
    test_spectral_steepest_descent(&t);
    test_muon_step(&t);
    test_exercise2(&t);
    test_model(&t);
    test_range_test(&t);
    test_filter_normalization(&t);
    test_solutions(&t);
    test_runs_agree(&t);
    test_committed_agreement(&t);

    char dir[] = "/tmp/test-ch05-XXXXXX";
    if (!mkdtemp(dir)) die("cannot make a temporary directory");
    Run r = {.steps = 0, .batch = 32, .context = 16, .embed = 16, .hidden = 0, .layers = 2, .optimizer = "",
             .activation = "swish", .sweep = "", .grid = "", .contest = "", .keep = "", .jobs = 1};
    quick_common(&r.c, "test_ch05", dir);
    test_quick_experiments(&t, &r);
    dataset_free(r.data);
    cli_free(&r.c);
    test_command_line(&t, dir);
    if (!remove_tree(dir)) warn("could not remove %s", dir);
    return check_summary(&t);
}
