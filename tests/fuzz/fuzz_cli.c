/* fuzz_cli.c -- the command line (cli.h cli_run): the input, cut at NUL
 * bytes, is argv.  The spec has every kind of option (integers with and
 * without a range, numbers with a finite and an infinite range, a string, a
 * boolean, a choice) beside the common flags, so that every flag meets
 * missing, empty, negative, huge and non-numeric values.  Promises checked:
 * the exit status is 0 (help or a run), 2 (bad input: exactly one line on
 * stderr, or the help and a last line when no experiment is given) or what
 * the experiment returned; an experiment runs only with every value in its
 * range.  An unsigned option (OPT_U64) stands beside --seed. */
#include <math.h>

#include "cli.h"
#include "fuzz.h"

typedef struct {
    CliCommon common;
    int64_t order, count;
    uint64_t tokens;
    double alpha, temp;
    const char *name, *mode;
    bool flag;
    int ran;
} Ctx;

static void in_range(const Ctx *c) {
    FUZZ_ASSERT(c->order >= 0 && c->order <= 12, "--order %lld", (long long)c->order);
    FUZZ_ASSERT(c->alpha >= 0 && c->alpha <= 1e9 && !isnan(c->alpha), "--alpha %g", c->alpha);
    FUZZ_ASSERT(!isnan(c->temp) && c->temp >= 0, "--temp %g", c->temp);
    FUZZ_ASSERT(c->name && *c->name, "--name");
    FUZZ_ASSERT(strcmp(c->mode, "a") == 0 || strcmp(c->mode, "bb") == 0 || strcmp(c->mode, "ccc") == 0, "--mode %s", c->mode);
    FUZZ_ASSERT(c->common.threads >= 1 && c->common.threads <= 65536, "--threads");
    FUZZ_ASSERT(c->common.out && *c->common.out && c->common.data && *c->common.data, "--out, --data");
    FUZZ_ASSERT(c->common.device == DEV_CPU, "--device %d", (int)c->common.device);
    FUZZ_ASSERT(c->common.prov.command && c->common.prov.git, "the provenance is built before a run");
}

static int run_ok(void *ctx) { Ctx *c = ctx; in_range(c); c->ran++; return 0; }
static int run_fail(void *ctx) { Ctx *c = ctx; in_range(c); c->ran++; return 3; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    enum { MAXARGS = 40 };
    /* the provenance cli_run builds before a run would ask git every time */
    setenv("BOOK_GIT", "fuzz", 0);
    setenv("BOOK_DATE", "2026-01-01T00:00:00Z", 0);
    char *copy = xmalloc(size + 1);
    memcpy(copy, data, size);
    copy[size] = '\0';
    char *argv[MAXARGS + 1] = {"fuzz_cli"};
    int argc = 1;
    for (size_t i = 0; i < size && argc < MAXARGS;) {
        argv[argc++] = copy + i;
        i += strlen(copy + i) + 1;
    }
    argv[argc] = NULL;

    Ctx c = {.order = 3, .count = 10, .alpha = 0.5, .temp = 1, .name = "x", .mode = "bb"};
    const CliOpt opts[] = {
        {"order", OPT_INT, &c.order, "an integer in a range", 0, 12, NULL},
        {"count", OPT_INT, &c.count, "any integer", 0, 0, NULL},
        {"alpha", OPT_DOUBLE, &c.alpha, "a number in a range", 0, 1e9, NULL},
        {"temp", OPT_DOUBLE, &c.temp, "a number up to infinity", 0, INFINITY, NULL},
        {"name", OPT_STRING, &c.name, "a string", 0, 0, NULL},
        {"flag", OPT_BOOL, &c.flag, "a boolean", 0, 0, NULL},
        {"mode", OPT_CHOICE, &c.mode, "a choice", 0, 0, "a|bb|ccc"},
        {"tokens", OPT_U64, &c.tokens, "an unsigned 64-bit count", 0, 0, NULL},
    };
    const CliCommand cmds[] = {{"run", "returns 0", run_ok, .in_all = true}, {"fail", "returns 3", run_fail, .in_all = true}};
    const CliSpec spec = {"fuzz_cli", "the fuzzed program", NULL, cmds, 2, opts, sizeof opts / sizeof *opts, false, false};

    char *out = NULL, *errs = NULL;
    size_t out_len = 0, err_len = 0;
    FILE *saved_out = stdout, *saved_err = stderr;
    stdout = open_memstream(&out, &out_len);
    stderr = open_memstream(&errs, &err_len);
    int rc = -1;
    unsigned long dies = fuzz_dies;
    FUZZ_TRY(rc = cli_run(&spec, &c.common, argc, argv, &c));
    fclose(stdout);
    fclose(stderr);
    stdout = saved_out, stderr = saved_err;
    FUZZ_ASSERT(fuzz_dies == dies, "cli_run died on user input: %s", errs);
    if (rc == 2) {
        FUZZ_ASSERT(c.ran == 0, "an experiment ran, yet the status is 2");
        size_t lines = 0;
        for (size_t i = 0; i < err_len; i++) lines += errs[i] == '\n';
        bool no_experiment = strstr(errs, "fuzz_cli: no experiment given; choose one of: run, fail, all\n") != NULL;
        FUZZ_ASSERT(err_len > 0 && errs[err_len - 1] == '\n' && (lines == 1 || no_experiment),
                    "bad input gets one line on stderr, got %zu: \"%s\"", lines, errs);
    } else {
        FUZZ_ASSERT(rc == 0 || rc == 3, "status %d", rc);
        FUZZ_ASSERT(c.ran > 0 || (rc == 0 && strstr(out, "usage: fuzz_cli")), "status %d without a run or the help", rc);
    }
    free(out);
    free(errs);
    cli_free(&c.common);
    free(copy);
    return 0;
}
