/* check.c -- see check.h. */
#include "check.h"
#include "util.h"

#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void check_init(Check *t, const char *suite) {
    const char *v = getenv("CHECK_VERBOSE");
    t->suite = suite;
    t->passed = t->failed = 0;
    t->verbose = v && strcmp(v, "1") == 0;
    t->silent = false;
}

static bool record(Check *t, bool ok, const char *detail, const char *what, va_list ap) {
    if (ok) t->passed++;
    else t->failed++;
    if ((!ok || t->verbose) && !t->silent) {
        printf("%s %s: ", ok ? "ok  " : "FAIL", t->suite);
        vprintf(what, ap);
        if (detail && *detail) printf(" (%s)", detail);
        putchar('\n');
        fflush(stdout);
    }
    return ok;
}

bool check_true(Check *t, bool cond, const char *what, ...) {
    va_list ap;
    va_start(ap, what);
    bool ok = record(t, cond, "", what, ap);
    va_end(ap);
    return ok;
}

static bool within(double got, double ref, double atol, double rtol) {
    if (isnan(got) || isnan(ref)) return isnan(got) && isnan(ref);
    if (isinf(got) || isinf(ref)) return got == ref;
    return fabs(got - ref) <= atol + rtol * fabs(ref);
}

bool check_close(Check *t, double got, double ref, double atol, double rtol, const char *what, ...) {
    char detail[160];
    snprintf(detail, sizeof detail, "got %.9g, expected %.9g, atol %.1e, rtol %.1e", got, ref, atol, rtol);
    va_list ap;
    va_start(ap, what);
    bool ok = record(t, within(got, ref, atol, rtol), detail, what, ap);
    va_end(ap);
    return ok;
}

#define CHECK_ARRAY(T, got, ref, n)                                                        \
    size_t bad = 0, worst = 0;                                                             \
    double worst_excess = -1;                                                              \
    for (size_t i = 0; i < (n); i++) {                                                     \
        double g = (double)(got)[i], r = (double)(ref)[i];                                 \
        if (!within(g, r, atol, rtol)) {                                                   \
            double excess = isfinite(g) ? fabs(g - r) - (atol + rtol * fabs(r)) : INFINITY; \
            if (bad++ == 0 || excess > worst_excess) { worst = i; worst_excess = excess; } \
        }                                                                                  \
    }                                                                                      \
    char detail[200] = "";                                                                 \
    if (bad)                                                                               \
        snprintf(detail, sizeof detail, "%zu of %zu outside tolerance; worst [%zu]: got %.9g, expected %.9g", \
                 bad, (size_t)(n), worst, (double)(got)[worst], (double)(ref)[worst]);     \
    va_list ap;                                                                            \
    va_start(ap, what);                                                                    \
    bool ok = record(T, bad == 0, detail, what, ap);                                       \
    va_end(ap);                                                                            \
    return ok;

bool check_close_f32(Check *t, const float *got, const float *ref, size_t n, double atol,
                     double rtol, const char *what, ...) {
    CHECK_ARRAY(t, got, ref, n)
}

bool check_close_f64(Check *t, const double *got, const double *ref, size_t n, double atol,
                     double rtol, const char *what, ...) {
    CHECK_ARRAY(t, got, ref, n)
}

int check_summary(const Check *t) {
    printf("%d passed, %d failed\n", t->passed, t->failed);
    fflush(stdout);
    return t->failed == 0 ? 0 : 1;
}

double rel_error(double a, double b, double floor) {
    double d = fmax(fmax(fabs(a), fabs(b)), floor);
    return fabs(a - b) / d;
}

GradErr gradcheck_f64(LossF64 f, void *ctx, double *x, size_t n, const double *grad, double h) {
    GradErr e = {0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        double xi = x[i];
        x[i] = xi + h;
        double fp = f(x, ctx);
        x[i] = xi - h;
        double fm = f(x, ctx);
        x[i] = xi;
        double num = (fp - fm) / (2 * h);
        double abs_err = fabs(num - grad[i]), rel = rel_error(num, grad[i], 1e-8);
        e.max_abs = worst_of(e.max_abs, abs_err);                  /* a NaN makes both infinite */
        if (isnan(rel) || rel > e.max_rel) { e.max_rel = worst_of(e.max_rel, rel); e.worst = i; }
    }
    return e;
}

GradErr gradcheck_f32(LossF32 f, void *ctx, float *x, size_t n, const float *grad, float h) {
    GradErr e = {0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        float xi = x[i];
        x[i] = xi + h;
        double fp = f(x, ctx);
        x[i] = xi - h;
        double fm = f(x, ctx);
        x[i] = xi;
        /* divide by the step actually taken, which rounding may have changed */
        float up = xi + h, down = xi - h;
        double num = (fp - fm) / ((double)up - (double)down);
        double abs_err = fabs(num - grad[i]), rel = rel_error(num, grad[i], 1e-4);
        e.max_abs = worst_of(e.max_abs, abs_err);
        if (isnan(rel) || rel > e.max_rel) { e.max_rel = worst_of(e.max_rel, rel); e.worst = i; }
    }
    return e;
}

bool text_matches(const char *s, const char *re) {
    regex_t r;
    if (!s || regcomp(&r, re, REG_EXTENDED | REG_NOSUB) != 0) return false;
    bool ok = regexec(&r, s, 0, NULL, 0) == 0;
    regfree(&r);
    return ok;
}
