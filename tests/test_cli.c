/* test_cli.c -- common/cli: every error path, the happy paths, --help.
 * Each case calls cli_run with a synthetic argv and checks the return code,
 * the filled targets, and what cli_run wrote on stderr (captured in a file). */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "cli.h"
#include "expect_die.h"
#include "util.h"

typedef struct {
    int ran_orders, ran_heatmap, ran_sample;
    int order;                 /* --order seen by the experiment when it ran */
    int fail_heatmap;          /* heatmap returns this */
    int64_t *order_target;
} Ctx;

static int run_orders(void *p) { Ctx *c = p; c->ran_orders++; c->order = (int)*c->order_target; return 0; }
static int run_heatmap(void *p) { Ctx *c = p; c->ran_heatmap++; return c->fail_heatmap; }
static int run_sample(void *p) { Ctx *c = p; c->ran_sample++; return 0; }

static const CliCommand commands[] = {
    {"orders", "perplexity against the order of the model", run_orders},
    {"heatmap", "the bigram matrix as a heat map", run_heatmap},
    {"sample", "generate text", run_sample},
};

typedef struct {
    int64_t order, steps;
    double temperature, lr;
    const char *prompt, *init;
    bool verbose, smooth;
} Opts;

static void set_defaults(Opts *o) {
    *o = (Opts){3, 1000, 1.0, 0.01, "The", "zeros", false, true};
}

static CliOpt opt_table[8];

static CliSpec make_spec(Opts *o, const char *devices) {
    CliOpt t[8] = {
        {"order", OPT_INT, &o->order, "order of the Markov model", 1, 12, NULL},
        {"steps", OPT_INT, &o->steps, "training steps", 0, 0, NULL},
        {"temperature", OPT_DOUBLE, &o->temperature, "sampling temperature", 0, 10, NULL},
        {"lr", OPT_DOUBLE, &o->lr, "learning rate", 0, 0, NULL},
        {"prompt", OPT_STRING, &o->prompt, "text to start from", 0, 0, NULL},
        {"init", OPT_CHOICE, &o->init, "initialization", 0, 0, "zeros|normal|xavier"},
        {"verbose", OPT_BOOL, &o->verbose, "print more", 0, 0, NULL},
        {"smooth", OPT_BOOL, &o->smooth, "add-one smoothing", 0, 0, NULL},
    };
    memcpy(opt_table, t, sizeof t);
    return (CliSpec){"ch01-markov", "Character-level Markov models of the Brown corpus.",
                     "Expected run times: orders 2 min, heatmap 5 s.", commands, 3, opt_table, 8, devices};
}

/* Run cli_run on a NULL-terminated list of arguments; stderr goes to *err. */
typedef struct {
    int rc;
    char err[4096], out[8192];
    CliCommon common;
    Ctx ctx;
    Opts opts;
} Result;

static void run_args(Result *r, const char *devices, ...) {
    char *argv[32];
    int argc = 0;
    argv[argc++] = "build/bin/ch01-markov";
    va_list ap;
    va_start(ap, devices);
    for (char *a; (a = va_arg(ap, char *)) != NULL;) argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;

    set_defaults(&r->opts);
    memset(&r->ctx, 0, sizeof r->ctx);
    r->ctx.order_target = &r->opts.order;
    CliSpec spec = make_spec(&r->opts, devices);

    char epath[] = "/tmp/test_cli_err-XXXXXX", opath[] = "/tmp/test_cli_out-XXXXXX";
    int efd = mkstemp(epath), ofd = mkstemp(opath);
    fflush(stdout);
    fflush(stderr);
    int saved_err = dup(2), saved_out = dup(1);
    dup2(efd, 2);
    dup2(ofd, 1);
    r->rc = cli_run(&spec, &r->common, argc, argv, &r->ctx);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_err, 2);
    dup2(saved_out, 1);
    close(saved_err);
    close(saved_out);
    close(efd);
    close(ofd);
    char *text = file_read(epath, NULL, NULL, 0);
    snprintf(r->err, sizeof r->err, "%s", text ? text : "");
    free(text);
    text = file_read(opath, NULL, NULL, 0);
    snprintf(r->out, sizeof r->out, "%s", text ? text : "");
    free(text);
    unlink(epath);
    unlink(opath);
}

static bool one_line(const char *s) {
    const char *nl = strchr(s, '\n');
    return nl && nl[1] == '\0';
}

/* Bad input: return 2, nothing ran, one line on stderr that contains want. */
static void expect_error(Check *t, Result *r, const char *want) {
    bool nothing_ran = r->ctx.ran_orders + r->ctx.ran_heatmap + r->ctx.ran_sample == 0;
    check_true(t, r->rc == 2 && nothing_ran && one_line(r->err) && strstr(r->err, want),
               "error \"%s\" (rc %d, stderr \"%.200s\")", want, r->rc, r->err);
    cli_free(&r->common);
}

#define ARGS(...) __VA_ARGS__, (char *)NULL

static void test_happy(Check *t) {
    Result r;
    run_args(&r, "cpu", ARGS("orders"));
    check_true(t, r.rc == 0 && r.ctx.ran_orders == 1 && r.ctx.ran_heatmap == 0, "orders runs alone");
    check_true(t, r.common.seed == 1 && r.common.threads >= 1 && strcmp(r.common.out, "figures/data") == 0 &&
                      !r.common.quick && strcmp(r.common.data, "brown") == 0 && strcmp(r.common.device, "cpu") == 0,
               "common defaults");
    check_true(t, r.opts.order == 3 && r.opts.temperature == 1.0 && strcmp(r.opts.init, "zeros") == 0 &&
                      r.opts.smooth && !r.opts.verbose,
               "program defaults untouched");
    check_true(t, r.err[0] == '\0' && r.out[0] == '\0', "a clean run prints nothing");
    cli_free(&r.common);

    /* flags before and after the experiment, both spellings */
    run_args(&r, "cpu|cuda",
             ARGS("--order", "5", "orders", "--temperature=0.5", "--lr", "-1e-3", "--prompt=Hello world", "--init",
                  "xavier", "--verbose", "--no-smooth", "--seed", "18446744073709551615", "--threads=1",
                  "--out", "/tmp/x", "--quick", "--data=mobydick", "--device", "cuda", "--steps", "-7"));
    check_true(t, r.rc == 0 && r.ctx.ran_orders == 1 && r.ctx.order == 5, "--order 5 seen by the experiment");
    check_true(t, r.opts.temperature == 0.5 && r.opts.lr == -1e-3 && strcmp(r.opts.prompt, "Hello world") == 0 &&
                      strcmp(r.opts.init, "xavier") == 0 && r.opts.verbose && !r.opts.smooth && r.opts.steps == -7,
               "program options filled");
    check_true(t, r.common.seed == UINT64_MAX && r.common.threads == 1 && strcmp(r.common.out, "/tmp/x") == 0 &&
                      r.common.quick && strcmp(r.common.data, "mobydick") == 0 &&
                      strcmp(r.common.device, "cuda") == 0,
               "common options filled");
    check_true(t, r.common.command_line &&
                      strcmp(r.common.command_line,
                             "build/bin/ch01-markov --order 5 orders --temperature=0.5 --lr -1e-3 "
                             "'--prompt=Hello world' --init xavier --verbose --no-smooth --seed "
                             "18446744073709551615 --threads=1 --out /tmp/x --quick --data=mobydick "
                             "--device cuda --steps -7") == 0,
               "command line joined and quoted (%s)", r.common.command_line);
    cli_free(&r.common);
    check_true(t, r.common.command_line == NULL, "cli_free clears command_line");
    cli_free(&r.common); /* twice is safe */

    run_args(&r, "cpu", ARGS("--quick=false", "--verbose=yes", "--smooth=0", "heatmap", "--order=12"));
    check_true(t, r.rc == 0 && !r.common.quick && r.opts.verbose && !r.opts.smooth && r.opts.order == 12 &&
                      r.ctx.ran_heatmap == 1,
               "boolean values and the range's upper end");
    cli_free(&r.common);

    run_args(&r, "cpu", ARGS("--order", "1", "--", "sample"));
    check_true(t, r.rc == 0 && r.ctx.ran_sample == 1 && r.opts.order == 1, "-- ends the flags");
    cli_free(&r.common);

    run_args(&r, "cpu", ARGS("--temperature", "10", "sample", "--temperature", "0"));
    check_true(t, r.rc == 0 && r.opts.temperature == 0, "the last of repeated flags wins; range ends inclusive");
    cli_free(&r.common);

    /* the experiment's exit status is cli_run's */
    set_defaults(&r.opts);
    run_args(&r, "cpu", ARGS("all"));
    check_true(t, r.rc == 0 && r.ctx.ran_orders == 1 && r.ctx.ran_heatmap == 1 && r.ctx.ran_sample == 1,
               "'all' runs every experiment");
    cli_free(&r.common);
}

static void test_exit_status(Check *t) {
    Opts o;
    set_defaults(&o);
    CliSpec spec = make_spec(&o, "cpu");
    Ctx ctx = {0};
    ctx.order_target = &o.order;
    ctx.fail_heatmap = 3;
    char *argv[] = {"prog", "heatmap", NULL};
    CliCommon c;
    int rc = cli_run(&spec, &c, 2, argv, &ctx);
    check_true(t, rc == 3, "an experiment's status is returned (%d)", rc);
    cli_free(&c);

    char *argv2[] = {"prog", "all", NULL};
    memset(&ctx, 0, sizeof ctx);
    ctx.order_target = &o.order;
    ctx.fail_heatmap = 4;
    fflush(stderr);
    int saved = dup(2), devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    rc = cli_run(&spec, &c, 2, argv2, &ctx);
    dup2(saved, 2);
    close(saved);
    close(devnull);
    check_true(t, rc == 4 && ctx.ran_orders == 1 && ctx.ran_heatmap == 1 && ctx.ran_sample == 0,
               "'all' stops at the first failure and returns its status");
    cli_free(&c);
}

static void test_errors(Check *t) {
    Result r;
    run_args(&r, "cpu", ARGS("orders", "--order", "x"));
    expect_error(t, &r, "ch01-markov: --order expects an integer in [1, 12], got 'x'\n");
    run_args(&r, "cpu", ARGS("orders", "--order", "13"));
    expect_error(t, &r, "--order expects an integer in [1, 12], got '13'");
    run_args(&r, "cpu", ARGS("orders", "--order=0"));
    expect_error(t, &r, "--order expects an integer in [1, 12], got '0'");
    run_args(&r, "cpu", ARGS("orders", "--order", "5x"));
    expect_error(t, &r, "got '5x'");
    run_args(&r, "cpu", ARGS("orders", "--order", "5.0"));
    expect_error(t, &r, "got '5.0'");
    run_args(&r, "cpu", ARGS("orders", "--order", " 5"));
    expect_error(t, &r, "got ' 5'");
    run_args(&r, "cpu", ARGS("orders", "--order="));
    expect_error(t, &r, "--order expects an integer in [1, 12], got ''");
    run_args(&r, "cpu", ARGS("orders", "--steps", "99999999999999999999"));
    expect_error(t, &r, "--steps expects an integer, got '99999999999999999999'");
    run_args(&r, "cpu", ARGS("orders", "--seed", "-1"));
    expect_error(t, &r, "--seed expects a non-negative integer, got '-1'");
    run_args(&r, "cpu", ARGS("orders", "--seed", "18446744073709551616"));
    expect_error(t, &r, "--seed expects a non-negative integer");
    run_args(&r, "cpu", ARGS("orders", "--threads", "0"));
    expect_error(t, &r, "--threads expects an integer in [1, 65536], got '0'");
    run_args(&r, "cpu", ARGS("orders", "--order"));
    expect_error(t, &r, "--order needs a value: an integer in [1, 12]");
    run_args(&r, "cpu", ARGS("orders", "--out", "--quick"));
    expect_error(t, &r, "--out needs a value");

    run_args(&r, "cpu", ARGS("orders", "--temperature", "nan"));
    expect_error(t, &r, "--temperature expects a number in [0, 10], got 'nan'");
    run_args(&r, "cpu", ARGS("orders", "--temperature", "inf"));
    expect_error(t, &r, "got 'inf'");
    run_args(&r, "cpu", ARGS("orders", "--temperature", "10.5"));
    expect_error(t, &r, "got '10.5'");
    run_args(&r, "cpu", ARGS("orders", "--temperature", "1,5"));
    expect_error(t, &r, "got '1,5'");
    run_args(&r, "cpu", ARGS("orders", "--lr", "1e999"));
    expect_error(t, &r, "--lr expects a finite number, got '1e999'");
    run_args(&r, "cpu", ARGS("orders", "--lr", "-inf"));
    expect_error(t, &r, "--lr expects a finite number, got '-inf'");
    run_args(&r, "cpu", ARGS("orders", "--lr", ""));
    expect_error(t, &r, "--lr expects a finite number, got ''");

    run_args(&r, "cpu", ARGS("orders", "--prompt="));
    expect_error(t, &r, "--prompt expects a non-empty value");
    run_args(&r, "cpu", ARGS("orders", "--init", "ones"));
    expect_error(t, &r, "--init expects one of zeros|normal|xavier, got 'ones'");
    run_args(&r, "cpu", ARGS("orders", "--init", "zero"));
    expect_error(t, &r, "got 'zero'");
    run_args(&r, "cpu", ARGS("orders", "--verbose=maybe"));
    expect_error(t, &r, "--verbose expects true or false, got 'maybe'");
    run_args(&r, "cpu", ARGS("orders", "--no-order"));
    expect_error(t, &r, "unknown option --no-order (see --help)");
    run_args(&r, "cpu", ARGS("orders", "--no-verbose=1"));
    expect_error(t, &r, "--no-verbose takes no value");

    run_args(&r, "cpu", ARGS("orders", "--ordr", "3"));
    expect_error(t, &r, "ch01-markov: unknown option --ordr (see --help)\n");
    run_args(&r, "cpu", ARGS("--ordr=3", "orders"));
    expect_error(t, &r, "ch01-markov: unknown option --ordr (see --help)\n");
    run_args(&r, "cpu", ARGS("orders", "-o", "3"));
    expect_error(t, &r, "unknown option -o (see --help)");
    run_args(&r, "cpu", ARGS("ordrs"));
    expect_error(t, &r, "ch01-markov: unknown experiment 'ordrs'; choose one of: orders, heatmap, sample, all\n");
    run_args(&r, "cpu", ARGS("orders", "heatmap"));
    expect_error(t, &r, "unexpected argument 'heatmap' after the experiment 'orders'");

    run_args(&r, "cpu", ARGS("orders", "--device", "cuda"));
    expect_error(t, &r, "ch01-markov: --device cuda: this chapter has no GPU code (accepted: cpu)\n");
    run_args(&r, NULL, ARGS("orders", "--device=cuda"));
    expect_error(t, &r, "--device cuda: this chapter has no GPU code (accepted: cpu)");
    run_args(&r, "cpu|cuda", ARGS("orders", "--device", "tpu"));
    expect_error(t, &r, "--device expects one of cpu|cuda, got 'tpu'");
}

static void test_help(Check *t) {
    Result r;
    run_args(&r, "cpu|cuda", ARGS("orders", "--order", "x", "--help"));
    const char *out = r.out;
    check_true(t, r.rc == 0 && r.ctx.ran_orders == 0 && r.err[0] == '\0', "--help anywhere: status 0, runs nothing");
    check_true(t, out && strstr(out, "ch01-markov -- Character-level Markov models") &&
                      strstr(out, "orders") && strstr(out, "perplexity against the order") &&
                      strstr(out, "Expected run times"),
               "help has the summary, the experiments and the footer");
    check_true(t, out && strstr(out, "--order N") && strstr(out, "(default 3; 1 to 12)") &&
                      strstr(out, "(default 0.01)") && strstr(out, "--init zeros|normal|xavier") &&
                      strstr(out, "(default zeros)") && strstr(out, "(default off)") &&
                      strstr(out, "--no-smooth turns it off") && strstr(out, "(default The)"),
               "help prints each option's default");
    check_true(t, out && strstr(out, "--seed N") && strstr(out, "(default 1)") &&
                      strstr(out, "--device cpu|cuda") && strstr(out, "--out DIR") &&
                      strstr(out, "(default figures/data)"),
               "help lists the common flags");
    cli_free(&r.common);

    run_args(&r, "cpu", ARGS("-h"));
    check_true(t, r.rc == 0 && strstr(r.out, "usage: ch01-markov EXPERIMENT") && r.err[0] == '\0',
               "-h: the help on stdout, status 0");
    cli_free(&r.common);

    run_args(&r, "cpu", ARGS("--order", "4"));
    check_true(t, r.rc == 2 && strstr(r.err, "usage: ch01-markov EXPERIMENT") &&
                      strstr(r.err, "no experiment given; choose one of: orders, heatmap, sample, all") &&
                      strstr(r.err, "(default 4; 1 to 12)"),
               "no experiment: the help on stderr, status 2");
    check_true(t, r.out[0] == '\0', "no experiment: nothing on stdout");
    cli_free(&r.common);
}

static void test_join(Check *t) {
    char *argv[] = {"prog", "a b", "it's", "", "plain-1.5/x=y", "$HOME", NULL};
    char *s = cli_join_argv(6, argv);
    check_true(t, strcmp(s, "prog 'a b' 'it'\\''s' '' plain-1.5/x=y '$HOME'") == 0, "shell quoting (%s)", s);
    free(s);
}

/* Mistakes in the spec are the programmer's: they die with exit status 1. */
static void bad_default(void *arg) {
    (void)arg;
    int64_t order = 0;
    CliOpt opts[] = {{"order", OPT_INT, &order, "order", 1, 12, NULL}};
    CliSpec spec = {"prog", "s", NULL, commands, 3, opts, 1, "cpu"};
    char *argv[] = {"prog", "orders", NULL};
    CliCommon c;
    cli_run(&spec, &c, 2, argv, NULL);
}

static void clash(void *arg) {
    (void)arg;
    int64_t seed = 0;
    CliOpt opts[] = {{"seed", OPT_INT, &seed, "seed", 0, 0, NULL}};
    CliSpec spec = {"prog", "s", NULL, commands, 3, opts, 1, "cpu"};
    char *argv[] = {"prog", "orders", NULL};
    CliCommon c;
    cli_run(&spec, &c, 2, argv, NULL);
}

static void bad_choice_default(void *arg) {
    (void)arg;
    const char *mode = "fast";
    CliOpt opts[] = {{"mode", OPT_CHOICE, &mode, "mode", 0, 0, "slow|careful"}};
    CliSpec spec = {"prog", "s", NULL, commands, 3, opts, 1, "cpu"};
    char *argv[] = {"prog", "orders", NULL};
    CliCommon c;
    cli_run(&spec, &c, 2, argv, NULL);
}

int main(void) {
    Check t;
    check_init(&t, "cli");
    test_happy(&t);
    test_exit_status(&t);
    test_errors(&t);
    test_help(&t);
    test_join(&t);
    expect_die(&t, bad_default, NULL, "the default of --order (0) is outside [1, 12]", "default out of range");
    expect_die(&t, clash, NULL, "option --seed clashes with a flag every program has", "name clash");
    expect_die(&t, bad_choice_default, NULL, "the default of --mode (fast) is not one of slow|careful",
               "choice default");
    return check_summary(&t);
}
