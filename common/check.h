/* check.h -- the test harness every test in tests/ uses, and the numerical
 * checks the chapters' derivations are held to.
 *
 * One tolerance rule for the whole book:
 *
 *     |got - ref| <= atol + rtol * |ref|
 *
 * with the per-dtype defaults below.  A test binary makes one Check, runs
 * its checks against it, and ends with `return check_summary(&t);`, which
 * prints the closing line "N passed, N failed" and returns the exit status
 * (0 only if nothing failed).  Each failed check prints one line naming the
 * suite, the check and the numbers; passing checks are silent unless
 * CHECK_VERBOSE=1 is set in the environment. */
#ifndef CHECK_H
#define CHECK_H

#include <stdbool.h>
#include <stddef.h>

/* Default tolerances (see the rule above). */
#define F64_ATOL 1e-12
#define F64_RTOL 1e-9
#define F32_ATOL 1e-6
#define F32_RTOL 1e-5
#define BF16_ATOL 1e-3
#define BF16_RTOL 1e-2

typedef struct {
    const char *suite;  /* printed before each failure */
    int passed, failed;
    bool verbose;       /* CHECK_VERBOSE=1: print passing checks too */
    bool silent;        /* print nothing (a scratch Check whose failures are expected) */
} Check;

void check_init(Check *t, const char *suite);
/* Each returns whether it passed. `what` is a printf format naming the check. */
bool check_true(Check *t, bool cond, const char *what, ...) __attribute__((format(printf, 3, 4)));
bool check_close(Check *t, double got, double ref, double atol, double rtol,
                 const char *what, ...) __attribute__((format(printf, 6, 7)));
/* Every element within tolerance; on failure names the worst index. */
bool check_close_f32(Check *t, const float *got, const float *ref, size_t n,
                     double atol, double rtol, const char *what, ...)
    __attribute__((format(printf, 7, 8)));
bool check_close_f64(Check *t, const double *got, const double *ref, size_t n,
                     double atol, double rtol, const char *what, ...)
    __attribute__((format(printf, 7, 8)));
/* Prints "N passed, N failed"; returns 0 if none failed, else 1. */
int check_summary(const Check *t);

/* Whether s (NULL: false) matches the POSIX extended regular expression re
 * anywhere; for checking lines a program wrote (provenance, messages). */
bool text_matches(const char *s, const char *re);

/* Relative error of one value against a reference, as the book reports it:
 * |a - b| / max(|a|, |b|, floor).  floor keeps exact zeros from dividing by 0. */
double rel_error(double a, double b, double floor);

/* Finite-difference gradient checks.  f maps n inputs to a scalar loss;
 * grad is the analytic gradient at x.  Each coordinate is checked with the
 * central difference (f(x + h e_i) - f(x - h e_i)) / 2h, whose error is
 * O(h^2); x is restored before returning.  The result reports the worst
 * coordinate: its absolute and relative error (rel_error, floor 1e-8 for
 * f64 and 1e-4 for f32). */
typedef struct {
    double max_abs;     /* max |numeric - analytic| */
    double max_rel;     /* max rel_error(numeric, analytic) */
    size_t worst;       /* index of the coordinate with the largest max_rel */
} GradErr;

typedef double (*LossF64)(const double *x, void *ctx);
typedef double (*LossF32)(const float *x, void *ctx);  /* computes in f32, returns as double */

GradErr gradcheck_f64(LossF64 f, void *ctx, double *x, size_t n, const double *grad, double h);
GradErr gradcheck_f32(LossF32 f, void *ctx, float *x, size_t n, const float *grad, float h);

#endif
