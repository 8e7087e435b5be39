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
#include "corpus.h"
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
    {"orders", "perplexity against the order of the model", run_orders, .in_all = true},
    {"heatmap", "the bigram matrix as a heat map", run_heatmap, .in_all = true},
    {"sample", "generate text", run_sample, .in_all = false},
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

static bool spec_no_corpus;   /* the spec of the next run_args says the program reads no corpus */

static CliSpec make_spec(Opts *o, bool gpu) {
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
                     "Expected run times: orders 2 min, heatmap 5 s.", commands, 3, opt_table, 8, gpu, spec_no_corpus};
}

/* Run cli_run on a NULL-terminated list of arguments; stderr goes to *err. */
typedef struct {
    int rc;
    char err[4096], out[8192];
    CliCommon common;
    Ctx ctx;
    Opts opts;
} Result;

static void run_args(Result *r, bool gpu, ...) {
    char *argv[32];
    int argc = 0;
    argv[argc++] = "build/bin/ch01-markov";
    va_list ap;
    va_start(ap, gpu);
    for (char *a; (a = va_arg(ap, char *)) != NULL;) argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;

    set_defaults(&r->opts);
    memset(&r->ctx, 0, sizeof r->ctx);
    r->ctx.order_target = &r->opts.order;
    CliSpec spec = make_spec(&r->opts, gpu);

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
    run_args(&r, false, ARGS("orders"));
    check_true(t, r.rc == 0 && r.ctx.ran_orders == 1 && r.ctx.ran_heatmap == 0, "orders runs alone");
    check_true(t, r.common.seed == 1 && r.common.threads >= 1 && strcmp(r.common.out, "figures/data") == 0 &&
                      !r.common.quick && strcmp(r.common.data, "brown") == 0 && r.common.device == DEV_CPU,
               "common defaults");
    check_true(t, r.opts.order == 3 && r.opts.temperature == 1.0 && strcmp(r.opts.init, "zeros") == 0 &&
                      r.opts.smooth && !r.opts.verbose,
               "program defaults untouched");
    check_true(t, r.err[0] == '\0' && r.out[0] == '\0', "a clean run prints nothing");
    cli_free(&r.common);

    /* flags before and after the experiment, both spellings */
    run_args(&r, true,
             ARGS("--order", "5", "orders", "--temperature=0.5", "--lr", "-1e-3", "--prompt=Hello world", "--init",
                  "xavier", "--verbose", "--no-smooth", "--seed", "18446744073709551615", "--threads=1",
                  "--out", "/tmp/x", "--quick", "--data=mobydick", "--device", "cuda", "--steps", "-7"));
    check_true(t, r.rc == 0 && r.ctx.ran_orders == 1 && r.ctx.order == 5, "--order 5 seen by the experiment");
    check_true(t, r.opts.temperature == 0.5 && r.opts.lr == -1e-3 && strcmp(r.opts.prompt, "Hello world") == 0 &&
                      strcmp(r.opts.init, "xavier") == 0 && r.opts.verbose && !r.opts.smooth && r.opts.steps == -7,
               "program options filled");
    check_true(t, r.common.seed == UINT64_MAX && r.common.threads == 1 && strcmp(r.common.out, "/tmp/x") == 0 &&
                      r.common.quick && strcmp(r.common.data, "mobydick") == 0 &&
                      r.common.device == DEV_CUDA,
               "common options filled");
    check_true(t, r.common.prov.command &&
                      strcmp(r.common.prov.command,
                             "build/bin/ch01-markov --order 5 orders --temperature=0.5 --lr -1e-3 "
                             "'--prompt=Hello world' --init xavier --verbose --no-smooth --seed "
                             "18446744073709551615 --threads=1 --out /tmp/x --quick --data=mobydick "
                             "--device cuda --steps -7") == 0,
               "command line joined and quoted into the provenance (%s)", r.common.prov.command);
    check_true(t, r.common.prov.threads == 1 && strstr(r.common.prov.device, "1 thread)") &&
                      strcmp(r.common.prov.device, r.common.prov.cpu) == 0 && r.common.prov.git && r.common.prov.date,
               "the provenance has the run's threads, device, git and date (%s)", r.common.prov.device);
    cli_free(&r.common);
    check_true(t, r.common.prov.command == NULL, "cli_free clears the provenance");
    cli_free(&r.common); /* twice is safe */

    run_args(&r, false, ARGS("--quick=false", "--verbose=yes", "--smooth=0", "heatmap", "--order=12"));
    check_true(t, r.rc == 0 && !r.common.quick && r.opts.verbose && !r.opts.smooth && r.opts.order == 12 &&
                      r.ctx.ran_heatmap == 1,
               "boolean values and the range's upper end");
    cli_free(&r.common);

    run_args(&r, false, ARGS("--order", "1", "--", "sample"));
    check_true(t, r.rc == 0 && r.ctx.ran_sample == 1 && r.opts.order == 1, "-- ends the flags");
    cli_free(&r.common);

    run_args(&r, false, ARGS("--temperature", "10", "sample", "--temperature", "0"));
    check_true(t, r.rc == 0 && r.opts.temperature == 0, "the last of repeated flags wins; range ends inclusive");
    cli_free(&r.common);

    /* the experiment's exit status is cli_run's */
    set_defaults(&r.opts);
    run_args(&r, false, ARGS("all"));
    check_true(t, r.rc == 0 && r.ctx.ran_orders == 1 && r.ctx.ran_heatmap == 1 && r.ctx.ran_sample == 0,
               "'all' runs every experiment marked in_all, and only those");
    check_true(t, strstr(r.err, "ch01-markov all: orders (1 of 2)\n") && strstr(r.err, "all: orders done in ") &&
                      strstr(r.err, "all: heatmap (2 of 2)\n") && strstr(r.err, "all: heatmap done in ") &&
                      strstr(r.err, "ch01-markov all: 2 experiments in ") && strstr(r.err, ": orders ") &&
                      strstr(r.err, ", heatmap "),
               "'all' prints each experiment's time and a summary (%s)", r.err);
    check_true(t, !strstr(r.err, "sample"), "'all' does not mention what it does not run");
    cli_free(&r.common);

    /* --device cpu on a program with GPU code; the seed's whole range */
    run_args(&r, true, ARGS("orders", "--device", "cpu", "--seed", "0"));
    check_true(t, r.rc == 0 && r.common.device == DEV_CPU && r.common.seed == 0, "--device cpu, --seed 0");
    cli_free(&r.common);
    run_args(&r, false, ARGS("orders", "--seed=007"));
    check_true(t, r.rc == 0 && r.common.seed == 7, "--seed 007 is 7");
    cli_free(&r.common);
}

/* A program with no experiment marked in_all has no "all". */
static const CliCommand unmarked[] = {
    {"orders", "perplexity", run_orders, .in_all = false},
};

static void test_no_all(Check *t) {
    Opts o;
    set_defaults(&o);
    CliSpec spec = make_spec(&o, false);
    spec.commands = unmarked, spec.ncommands = 1;
    Ctx ctx = {0};
    ctx.order_target = &o.order;
    char *argv[] = {"prog", "all", NULL};
    CliCommon c;
    fflush(stderr);
    char epath[] = "/tmp/test_cli_err-XXXXXX";
    int efd = mkstemp(epath), saved = dup(2);
    dup2(efd, 2);
    int rc = cli_run(&spec, &c, 2, argv, &ctx);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(efd);
    char *err = file_read(epath, NULL, NULL, 0);
    unlink(epath);
    check_true(t, rc == 2 && ctx.ran_orders == 0 && err && strstr(err, "unknown experiment 'all'; choose one of: orders\n"),
               "no experiment marked: 'all' is unknown (%s)", err ? err : "");
    free(err);
    cli_free(&c);
}

static void test_exit_status(Check *t) {
    Opts o;
    set_defaults(&o);
    CliSpec spec = make_spec(&o, false);
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
    run_args(&r, false, ARGS("orders", "--order", "x"));
    expect_error(t, &r, "ch01-markov: --order expects an integer in [1, 12], got 'x'\n");
    run_args(&r, false, ARGS("orders", "--order", "13"));
    expect_error(t, &r, "--order expects an integer in [1, 12], got '13'");
    run_args(&r, false, ARGS("orders", "--order=0"));
    expect_error(t, &r, "--order expects an integer in [1, 12], got '0'");
    run_args(&r, false, ARGS("orders", "--order", "5x"));
    expect_error(t, &r, "got '5x'");
    run_args(&r, false, ARGS("orders", "--order", "5.0"));
    expect_error(t, &r, "got '5.0'");
    run_args(&r, false, ARGS("orders", "--order", " 5"));
    expect_error(t, &r, "got ' 5'");
    run_args(&r, false, ARGS("orders", "--order="));
    expect_error(t, &r, "--order expects an integer in [1, 12], got ''");
    run_args(&r, false, ARGS("orders", "--steps", "99999999999999999999"));
    expect_error(t, &r, "--steps expects an integer, got '99999999999999999999'");
    const char *bad_seeds[] = {"-1", "18446744073709551616", "99999999999999999999999", "+1", " 1", "1 ", "1e3",
                               "0x10", "", "1.0", "-0"};
    for (size_t i = 0; i < sizeof bad_seeds / sizeof *bad_seeds; i++) {
        char *arg = xasprintf("--seed=%s", bad_seeds[i]), *want = xasprintf(
            "--seed expects an integer in [0, 18446744073709551615], got '%s'\n", bad_seeds[i]);
        run_args(&r, false, ARGS("orders", arg));
        expect_error(t, &r, want);
        free(arg), free(want);
    }
    run_args(&r, false, ARGS("orders", "--threads", "0"));
    expect_error(t, &r, "--threads expects an integer in [1, 65536], got '0'");
    run_args(&r, false, ARGS("orders", "--order"));
    expect_error(t, &r, "--order needs a value: an integer in [1, 12]");
    run_args(&r, false, ARGS("orders", "--out", "--quick"));
    expect_error(t, &r, "--out needs a value");

    run_args(&r, false, ARGS("orders", "--temperature", "nan"));
    expect_error(t, &r, "--temperature expects a number in [0, 10], got 'nan'");
    run_args(&r, false, ARGS("orders", "--temperature", "inf"));
    expect_error(t, &r, "got 'inf'");
    run_args(&r, false, ARGS("orders", "--temperature", "10.5"));
    expect_error(t, &r, "got '10.5'");
    run_args(&r, false, ARGS("orders", "--temperature", "1,5"));
    expect_error(t, &r, "got '1,5'");
    run_args(&r, false, ARGS("orders", "--lr", "1e999"));
    expect_error(t, &r, "--lr expects a finite number, got '1e999'");
    run_args(&r, false, ARGS("orders", "--lr", "-inf"));
    expect_error(t, &r, "--lr expects a finite number, got '-inf'");
    run_args(&r, false, ARGS("orders", "--lr", ""));
    expect_error(t, &r, "--lr expects a finite number, got ''");

    run_args(&r, false, ARGS("orders", "--prompt="));
    expect_error(t, &r, "--prompt expects a non-empty value");
    run_args(&r, false, ARGS("orders", "--init", "ones"));
    expect_error(t, &r, "--init expects one of zeros|normal|xavier, got 'ones'");
    run_args(&r, false, ARGS("orders", "--init", "zero"));
    expect_error(t, &r, "got 'zero'");
    run_args(&r, false, ARGS("orders", "--verbose=maybe"));
    expect_error(t, &r, "--verbose expects true or false, got 'maybe'");
    run_args(&r, false, ARGS("orders", "--no-order"));
    expect_error(t, &r, "unknown option --no-order (see --help)");
    run_args(&r, false, ARGS("orders", "--no-verbose=1"));
    expect_error(t, &r, "--no-verbose takes no value");

    run_args(&r, false, ARGS("orders", "--ordr", "3"));
    expect_error(t, &r, "ch01-markov: unknown option --ordr (see --help)\n");
    run_args(&r, false, ARGS("--ordr=3", "orders"));
    expect_error(t, &r, "ch01-markov: unknown option --ordr (see --help)\n");
    run_args(&r, false, ARGS("orders", "-o", "3"));
    expect_error(t, &r, "unknown option -o (see --help)");
    run_args(&r, false, ARGS("ordrs"));
    expect_error(t, &r, "ch01-markov: unknown experiment 'ordrs'; choose one of: orders, heatmap, sample, all\n");
    run_args(&r, false, ARGS("orders", "heatmap"));
    expect_error(t, &r, "unexpected argument 'heatmap' after the experiment 'orders'");

    run_args(&r, false, ARGS("orders", "--device", "cuda"));
    expect_error(t, &r, "ch01-markov: --device cuda: this chapter has no GPU code (accepted: cpu)\n");
    run_args(&r, false, ARGS("orders", "--device=cuda"));
    expect_error(t, &r, "--device cuda: this chapter has no GPU code (accepted: cpu)");
    run_args(&r, true, ARGS("orders", "--device", "tpu"));
    expect_error(t, &r, "--device expects one of cpu|cuda, got 'tpu'");
    run_args(&r, false, ARGS("orders", "--device", "gpu"));
    expect_error(t, &r, "--device expects one of cpu, got 'gpu'");
    run_args(&r, true, ARGS("orders", "--device", "CUDA"));
    expect_error(t, &r, "--device expects one of cpu|cuda, got 'CUDA'");
    run_args(&r, true, ARGS("orders", "--device="));
    expect_error(t, &r, "--device expects one of cpu|cuda, got ''");
    run_args(&r, true, ARGS("orders", "--device"));
    expect_error(t, &r, "--device needs a value: one of cpu|cuda");
    run_args(&r, false, ARGS("all", "orders"));
    expect_error(t, &r, "unexpected argument 'orders' after the experiment 'all'");
}

static void test_device_names(Check *t) {
    Device d = DEV_CUDA;
    check_true(t, device_from_name("cpu", &d) && d == DEV_CPU, "device_from_name(cpu)");
    check_true(t, device_from_name("cuda", &d) && d == DEV_CUDA, "device_from_name(cuda)");
    check_true(t, !device_from_name("Cuda", &d) && !device_from_name("", &d) && !device_from_name("cpu ", &d) &&
                      d == DEV_CUDA,
               "device_from_name refuses other names and leaves the target");
    check_true(t, strcmp(device_name(DEV_CPU), "cpu") == 0 && strcmp(device_name(DEV_CUDA), "cuda") == 0,
               "device_name is its inverse");
}

static void test_help(Check *t) {
    Result r;
    run_args(&r, true, ARGS("orders", "--order", "x", "--help"));
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
                      strstr(out, "--device cpu|cuda") && strstr(out, "(default cpu)") && strstr(out, "--out DIR") &&
                      strstr(out, "(default figures/data)") && strstr(out, "--data NAME|PATH") &&
                      strstr(out, "--prompt TEXT"),
               "help lists the common flags");
    check_true(t, out && strstr(out, "  all ") && strstr(out, "orders, heatmap, in turn, each one timed"),
               "help says what 'all' runs");
    char *names = xasprintf("corpus: %s (corpus.h)", corpus_known_names());
    check_true(t, out && strstr(out, names), "help names the corpora corpus.h knows (%s)", names);
    free(names);
    cli_free(&r.common);

    run_args(&r, false, ARGS("-h"));
    check_true(t, r.rc == 0 && strstr(r.out, "usage: ch01-markov EXPERIMENT") && r.err[0] == '\0',
               "-h: the help on stdout, status 0");
    cli_free(&r.common);

    run_args(&r, false, ARGS("--order", "4"));
    check_true(t, r.rc == 2 && strstr(r.err, "usage: ch01-markov EXPERIMENT") &&
                      strstr(r.err, "no experiment given; choose one of: orders, heatmap, sample, all") &&
                      strstr(r.err, "(default 4; 1 to 12)"),
               "no experiment: the help on stderr, status 2");
    check_true(t, r.out[0] == '\0', "no experiment: nothing on stdout");
    cli_free(&r.common);
}

/* A program that reads no corpus neither lists nor accepts --data. */
static void test_no_corpus(Check *t) {
    Result r;
    spec_no_corpus = true;
    run_args(&r, false, ARGS("orders", "--data", "brown"));
    expect_error(t, &r, "ch01-markov: --data: this chapter reads no corpus\n");
    run_args(&r, false, ARGS("--data=x", "orders"));
    expect_error(t, &r, "--data: this chapter reads no corpus");
    run_args(&r, false, ARGS("--help"));
    check_true(t, r.rc == 0 && strstr(r.out, "--seed N") && strstr(r.out, "--device cpu") && !strstr(r.out, "--data"),
               "no_corpus: help lists the other common flags and not --data");
    cli_free(&r.common);
    spec_no_corpus = false;
    run_args(&r, false, ARGS("orders", "--data", "brown"));
    check_true(t, r.rc == 0 && strcmp(r.common.data, "brown") == 0, "without no_corpus --data is accepted");
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
    CliSpec spec = {"prog", "s", NULL, commands, 3, opts, 1, false, false};
    char *argv[] = {"prog", "orders", NULL};
    CliCommon c;
    cli_run(&spec, &c, 2, argv, NULL);
}

static void clash(void *arg) {
    (void)arg;
    int64_t seed = 0;
    CliOpt opts[] = {{"seed", OPT_INT, &seed, "seed", 0, 0, NULL}};
    CliSpec spec = {"prog", "s", NULL, commands, 3, opts, 1, false, false};
    char *argv[] = {"prog", "orders", NULL};
    CliCommon c;
    cli_run(&spec, &c, 2, argv, NULL);
}

static void bad_choice_default(void *arg) {
    (void)arg;
    const char *mode = "fast";
    CliOpt opts[] = {{"mode", OPT_CHOICE, &mode, "mode", 0, 0, "slow|careful"}};
    CliSpec spec = {"prog", "s", NULL, commands, 3, opts, 1, false, false};
    char *argv[] = {"prog", "orders", NULL};
    CliCommon c;
    cli_run(&spec, &c, 2, argv, NULL);
}

static void u64_range(void *arg) {
    (void)arg;
    uint64_t n = 0;
    CliOpt opts[] = {{"count", OPT_U64, &n, "count", 0, 10, NULL}};
    CliSpec spec = {"prog", "s", NULL, commands, 3, opts, 1, false, false};
    char *argv[] = {"prog", "orders", NULL};
    CliCommon c;
    cli_run(&spec, &c, 2, argv, NULL);
}

static const CliCommand own_all[] = {
    {"orders", "perplexity", run_orders, .in_all = true},
    {"all", "my own all", run_orders, .in_all = false},
};

static void defines_all(void *arg) {
    (void)arg;
    CliSpec spec = {"prog", "s", NULL, own_all, 2, NULL, 0, false, false};
    char *argv[] = {"prog", "orders", NULL};
    CliCommon c;
    cli_run(&spec, &c, 2, argv, NULL);
}

/* A program's own OPT_U64 (not the seed): parsed like the seed. */
static void test_u64_option(Check *t) {
    uint64_t n = 5;
    CliOpt opts[] = {{"tokens", OPT_U64, &n, "how many tokens", 0, 0, NULL}};
    CliSpec spec = {"prog", "s", NULL, commands, 3, opts, 1, false, false};
    Ctx ctx = {0};
    int64_t order = 3;
    ctx.order_target = &order;
    char *argv[] = {"prog", "orders", "--tokens", "12345678901234567890", NULL};
    CliCommon c;
    int rc = cli_run(&spec, &c, 4, argv, &ctx);
    check_true(t, rc == 0 && n == 12345678901234567890ull, "an OPT_U64 option above 2^63");
    cli_free(&c);
}

static void test_common_init(Check *t) {
    CliCommon c;
    cli_common_init(&c, "test_cli");
    check_true(t, c.seed == 1 && c.device == DEV_CPU && strcmp(c.out, "figures/data") == 0 && !c.quick &&
                      strcmp(c.data, "brown") == 0 && c.threads >= 1 && strcmp(c.prov.command, "test_cli") == 0,
               "cli_common_init: the defaults and a provenance");
    cli_free(&c);
    cli_free(&c);
}

int main(void) {
    Check t;
    check_init(&t, "cli");
    unsetenv("BOOK_COMMAND"), unsetenv("BOOK_GIT"), unsetenv("BOOK_DATE");  /* the provenance measured */
    test_happy(&t);
    test_exit_status(&t);
    test_errors(&t);
    test_help(&t);
    test_no_corpus(&t);
    test_join(&t);
    test_no_all(&t);
    test_device_names(&t);
    test_u64_option(&t);
    test_common_init(&t);
    expect_die(&t, u64_range, NULL, "--count is OPT_U64, which takes no range", "OPT_U64 with a range");
    expect_die(&t, defines_all, NULL, "\"all\" is built in", "an experiment named all");
    expect_die(&t, bad_default, NULL, "the default of --order (0) is outside [1, 12]", "default out of range");
    expect_die(&t, clash, NULL, "option --seed clashes with a flag every program has", "name clash");
    expect_die(&t, bad_choice_default, NULL, "the default of --mode (fast) is not one of slow|careful",
               "choice default");
    return check_summary(&t);
}
