/* test_check.c -- the test harness and the gradient checks of common/check.h.
 *
 * The harness is what every other suite trusts, so it is tested against
 * known answers: the tolerance rule at its boundary, NaN and infinity, the
 * array checks' reports, and the gradient checks on functions whose
 * derivatives are known in closed form, including wrong gradients that must
 * be caught.  Checks that are supposed to fail are run against a second,
 * scratch Check, whose counts are then verified. */
#include <math.h>
#include <stdio.h>

#include "check.h"
#include "util.h"

/* f(x) = sum_i x_i^3 + x_0 x_1: grad_i = 3 x_i^2 (+ x_1 for i = 0, + x_0 for i = 1) */
static double cubic_f64(const double *x, void *ctx) {
    size_t n = *(const size_t *)ctx;
    double s = x[0] * x[1];
    for (size_t i = 0; i < n; i++) s += x[i] * x[i] * x[i];
    return s;
}

static double cubic_f32(const float *x, void *ctx) {
    size_t n = *(const size_t *)ctx;
    float s = x[0] * x[1];
    for (size_t i = 0; i < n; i++) s += x[i] * x[i] * x[i];
    return s;
}

/* log-sum-exp: grad = softmax */
static double lse_f64(const double *x, void *ctx) {
    size_t n = *(const size_t *)ctx;
    double m = x[0], s = 0;
    for (size_t i = 1; i < n; i++) m = fmax(m, x[i]);
    for (size_t i = 0; i < n; i++) s += exp(x[i] - m);
    return m + log(s);
}

static void test_tolerance(Check *t) {
    Check s;
    check_init(&s, "scratch");
    s.silent = true;   /* its failures are expected: count them, print nothing */
    check_true(t, check_close(&s, 1.0 + 1e-6, 1.0, 0, 1.0001e-6, "x"), "within rtol passes");
    check_true(t, !check_close(&s, 1.0 + 1e-5, 1.0, 0, 1e-6, "x"), "outside rtol fails");
    check_true(t, check_close(&s, 1e-7, 0.0, 1e-6, 0, "x"), "atol covers a reference of zero");
    check_true(t, !check_close(&s, NAN, 1.0, 1, 1, "x"), "NaN never equals a number");
    check_true(t, check_close(&s, NAN, NAN, 0, 0, "x"), "NaN equals NaN (both missing)");
    check_true(t, !check_close(&s, INFINITY, 1e308, 1, 1, "x"), "infinity is not close to a finite number");
    check_true(t, check_close(&s, -INFINITY, -INFINITY, 0, 0, "x"), "equal infinities pass");
    float got[5] = {1, 2, 3, 4, 5}, ref[5] = {1, 2, 3.1f, 4, 5};
    check_true(t, !check_close_f32(&s, got, ref, 5, 1e-6, 1e-6, "array"), "one bad element fails the array");
    check_true(t, check_close_f32(&s, got, ref, 5, 0.11, 0, "array"), "a looser atol passes it");
    check_true(t, s.passed == 5 && s.failed == 4, "the scratch harness counted 5 passes and 4 failures (%d, %d)",
               s.passed, s.failed);
    check_close(t, rel_error(1.0, 1.1, 1e-12), 0.1 / 1.1, 0, 1e-15, "rel_error divides by the larger magnitude");
    check_close(t, rel_error(0, 1e-20, 1e-8), 1e-12, 0, 1e-9, "rel_error's floor keeps tiny values from dividing by zero");
}

static void test_gradcheck(Check *t) {
    size_t n = 7;
    double x[7] = {0.3, -1.2, 0.7, 2.0, -0.4, 1.1, 0.05}, g[7];
    for (size_t i = 0; i < n; i++) g[i] = 3 * x[i] * x[i];
    g[0] += x[1];
    g[1] += x[0];
    double before[7];
    for (size_t i = 0; i < n; i++) before[i] = x[i];
    GradErr e = gradcheck_f64(cubic_f64, &n, x, n, g, 1e-5);
    check_true(t, e.max_rel < 1e-6, "f64: the exact gradient of a cubic checks (max rel %.1e)", e.max_rel);
    bool restored = true;
    for (size_t i = 0; i < n; i++) restored &= x[i] == before[i];
    check_true(t, restored, "gradcheck restores x");
    /* central differences have error O(h^2): for x^3 it is exactly h^2 per coordinate */
    GradErr coarse = gradcheck_f64(cubic_f64, &n, x, n, g, 1e-2);
    check_close(t, coarse.max_abs, 1e-4, 0, 1e-6, "f64: the error at h = 0.01 is h^2 = 1e-4, as the Taylor series says");
    g[3] *= 1.01;   /* a 1% mistake in one coordinate */
    e = gradcheck_f64(cubic_f64, &n, x, n, g, 1e-5);
    check_true(t, e.max_rel > 5e-3 && e.worst == 3, "f64: a 1%% error in coordinate 3 is found there (rel %.1e, index %zu)",
               e.max_rel, e.worst);

    double y[5] = {0.1, 2.0, -1.0, 0.5, 0.0}, sm[5], z = 0;
    size_t m = 5;
    for (size_t i = 0; i < m; i++) z += exp(y[i]);
    for (size_t i = 0; i < m; i++) sm[i] = exp(y[i]) / z;
    e = gradcheck_f64(lse_f64, &m, y, m, sm, 1e-5);
    check_true(t, e.max_rel < 1e-8, "f64: the gradient of log-sum-exp is softmax (max rel %.1e)", e.max_rel);

    float xf[7], gf[7];
    for (size_t i = 0; i < n; i++) xf[i] = (float)before[i], gf[i] = 3 * xf[i] * xf[i];
    gf[0] += xf[1];
    gf[1] += xf[0];
    GradErr ef = gradcheck_f32(cubic_f32, &n, xf, n, gf, 1e-2f);
    check_true(t, ef.max_abs < 3e-4, "f32: the exact gradient checks to h^2 plus f32 rounding (max abs %.1e)", ef.max_abs);
    gf[5] = -gf[5];
    ef = gradcheck_f32(cubic_f32, &n, xf, n, gf, 1e-2f);
    check_true(t, ef.max_rel > 0.5 && ef.worst == 5, "f32: a wrong sign in coordinate 5 is found (rel %.2f, index %zu)",
               ef.max_rel, ef.worst);
    /* a NaN gradient must fail: a comparison with NaN is false, so "rel > max" alone would skip it */
    g[3] = 3 * x[3] * x[3], g[4] = NAN;
    e = gradcheck_f64(cubic_f64, &n, x, n, g, 1e-5);
    check_true(t, isinf(e.max_rel) && isinf(e.max_abs) && e.worst == 4, "f64: a NaN in coordinate 4 is an infinite error there");
    gf[5] = -gf[5], gf[2] = NAN;
    ef = gradcheck_f32(cubic_f32, &n, xf, n, gf, 1e-2f);
    check_true(t, isinf(ef.max_rel) && ef.worst == 2, "f32: a NaN in coordinate 2 is an infinite error there");
}

/* worst_of (util.h), the running worst error of the suites' own loops: a NaN makes it infinite */
static void test_worst_of(Check *t) {
    check_true(t, worst_of(0.5, 0.25) == 0.5 && worst_of(0.5, 2) == 2, "worst_of is fmax on numbers");
    check_true(t, isinf(worst_of(0.5, NAN)) && isinf(worst_of(worst_of(0, NAN), 1)), "worst_of: a NaN makes it infinite, and it stays so");
}

static void test_text_matches(Check *t) {
    check_true(t, text_matches("# git: a9767c0 (modified)", "^# git: [0-9a-f]{7}( \\(modified\\))?$"),
               "text_matches: a provenance line matches its pattern");
    check_true(t, !text_matches("# git: unknown", "^# git: [0-9a-f]{7}$"), "text_matches: a line that differs does not");
    check_true(t, !text_matches(NULL, "."), "text_matches: NULL matches nothing");
    check_true(t, !text_matches("x", "("), "text_matches: a malformed pattern matches nothing");
    check_true(t, text_matches("", "^$"), "text_matches: the empty line matches ^$");
}

int main(void) {
    Check t;
    check_init(&t, "check");
    test_tolerance(&t);
    test_gradcheck(&t);
    test_worst_of(&t);
    test_text_matches(&t);
    return check_summary(&t);
}
