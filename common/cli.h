/* cli.h -- the command line of every chapter program.
 *
 * A chapter program is a set of experiments (subcommands) and flags:
 *
 *     ch01-markov orders --max-order 8 --quick
 *     ch01-markov --seed 7 heatmap
 *
 * The program describes itself once, in a CliSpec, and hands argv to cli_run,
 * which parses it, fills the targets, and runs the named experiment.
 *
 * What cli_run accepts.  Flags may come before or after the experiment name,
 * as `--name value` or `--name=value`; a boolean flag is `--name` (true),
 * `--no-name` (false) or `--name=true|false|yes|no|on|off|1|0`.  `--` ends
 * the flags.  `-h` or `--help` anywhere prints the help to stdout and returns
 * 0 without running anything.
 *
 * `all`.  The experiment "all" is built in: it runs every experiment marked
 * in_all (the ones behind the book's figures), in the order of
 * spec->commands, prints each one's name before it starts and its time when
 * it ends, stops at the first that fails (returning its status), and ends
 * with one line listing every time (Makefile: `make chNN-figures` runs
 * `chNN-x all --out figures/data`).  A program with no experiment marked has
 * no "all"; no program may name an experiment "all" itself.
 *
 * What is checked (each a one-line message on stderr naming the flag, the
 * accepted values and what was given, then return 2 without running
 * anything): unknown flags; a missing or empty value; integers with trailing
 * junk, overflow or out of range; numbers that are not finite (NaN is always
 * refused, an infinity only where the range includes it) or out of range;
 * choices not in the list; booleans that are not one of the words above;
 * an unknown experiment; a second experiment name; --device naming a device
 * the chapter has no code for (CliSpec.gpu false: "--device cuda: this
 * chapter has no GPU code (accepted: cpu)"); --data in a program that reads
 * no corpus (CliSpec.no_corpus: "--data: this chapter reads no corpus").  The message stays one line whatever the
 * argument: a value's control characters are escaped (\n) and a message
 * longer than 1 KB is cut.  No experiment at all prints the help to
 * stderr and returns 2.
 *
 * Programming errors in the spec (an option with no name or target, two
 * options with one name, an option named like a common flag, a default
 * outside its own range or choices, a range on an OPT_U64, an experiment
 * named "all") are not the user's fault: cli_run dies (util.h die(), exit 1)
 * naming the option.
 *
 * Defaults.  The targets of the program's own options keep whatever the
 * caller stored in them before cli_run, and --help prints those values as
 * the defaults.  The common flags (CliCommon) get the defaults listed in the
 * struct below; cli_run overwrites *common entirely.
 *
 * Provenance.  Once the flags are read, and before the experiment runs,
 * cli_run builds common->prov (provenance.h): the command line, the CPU and
 * its threads, the git revision and the date, once for the whole run.  Every
 * data file the run writes takes &common->prov.  A chapter that opens its GPU
 * with cli_open_gpu has the device line name it.
 *
 * Ownership.  String targets (OPT_STRING, OPT_CHOICE, common->out, ->data)
 * point into argv or at the caller's defaults; nothing is copied.
 * common->prov is built by cli_run and freed by cli_free, which is safe to
 * call on a zeroed CliCommon and twice.  cli_common_init gives tests and
 * tools that call experiments without cli_run the defaults and a Provenance.
 *
 * Threads.  cli_run calls omp_set_num_threads(common->threads) when the
 * program is built with OpenMP; without OpenMP --threads is accepted and
 * ignored beyond being recorded. */
#ifndef CLI_H
#define CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "provenance.h"
#include "tensor.h"   /* Device */

/* The kinds of values, and the type of each target:
 *   OPT_INT     int64_t      in [min, max] (min == max == 0: any)
 *   OPT_U64     uint64_t     0 .. 2^64 - 1, decimal digits only (a seed); no range (min, max 0)
 *   OPT_DOUBLE  double       finite, in [min, max] (min == max == 0: any finite number)
 *   OPT_STRING  const char*  not empty; `choices`, if given, names the value in --help ("DIR")
 *   OPT_BOOL    bool
 *   OPT_CHOICE  const char*  one of `choices`, "a|b|c"
 *   OPT_DEVICE  Device       "cpu", or "cuda" where the program has GPU code (CliSpec.gpu) */
typedef enum { OPT_INT, OPT_U64, OPT_DOUBLE, OPT_STRING, OPT_BOOL, OPT_CHOICE, OPT_DEVICE } OptKind;

typedef struct {
    const char *name;      /* "order" means --order */
    OptKind kind;
    void *target;          /* see OptKind */
    const char *help;      /* one line; the default is printed after it automatically */
    double min, max;       /* OPT_INT / OPT_DOUBLE: accepted range, inclusive (min == max == 0: any) */
    const char *choices;   /* OPT_CHOICE: "a|b|c"; OPT_STRING: the value's name in --help (NULL: TEXT) */
} CliOpt;

typedef struct {
    const char *name;      /* experiment (subcommand) name */
    const char *help;      /* one line */
    int (*run)(void *ctx); /* returns the exit status */
    bool in_all;           /* the built-in `all` runs it (the experiments behind the book's figures) */
} CliCommand;

typedef struct CliCommon { /* the flags every program has */
    uint64_t seed;         /* --seed N      (default 1; OPT_U64) */
    int64_t threads;       /* --threads N   (default: all cores; calls omp_set_num_threads) */
    const char *out;       /* --out DIR     (default "figures/data") where experiments write data */
    bool quick;            /* --quick       test-size run, seconds */
    const char *data;      /* --data NAME|PATH (default "brown"; corpus.h) */
    Device device;         /* --device cpu|cuda (default DEV_CPU) */
    Provenance prov;       /* this run's provenance, for every data file it writes */
} CliCommon;

typedef struct {
    const char *program;   /* "ch01-markov" */
    const char *summary;   /* one paragraph: what the program is */
    const char *footer;    /* e.g. expected run times; may be NULL */
    const CliCommand *commands; size_t ncommands;
    const CliOpt *opts; size_t nopts;   /* the program's own flags */
    bool gpu;              /* the program has GPU code: --device cuda is accepted */
    bool no_corpus;        /* the program reads no text: --data is neither listed nor accepted */
} CliSpec;

/* Parse argv (argv[0] is the program as invoked), fill *common and the
 * targets, run the named experiment with ctx and return its exit status;
 * 0 after --help; 2 on bad input, with one line on stderr such as
 *   "ch01-markov: --max-order expects an integer in [0, 12], got 'x'"
 *   "ch01-markov: unknown option --ordr (see --help)"
 *   "ch01-markov: unknown experiment 'ordrs'; choose one of: orders, heatmap, all"
 *   "ch01-markov: --device cuda: this chapter has no GPU code (accepted: cpu)" */
int cli_run(const CliSpec *spec, CliCommon *common, int argc, char **argv, void *ctx);

/* What the experiment "all" does, for tests that call a program's
 * experiments directly: run every experiment of spec marked in_all, in
 * order, each timed on stderr; the first nonzero status, or 0.  Only
 * spec->program, ->commands and ->ncommands are read. */
int cli_run_all(const CliSpec *spec, void *ctx);

/* Free what cli_run allocated in *common (the provenance). */
void cli_free(CliCommon *common);

/* The run's GPU, for a program with GPU code (CliSpec.gpu): with --device
 * cuda, gpu.h's gpu_open(0), and common->prov's device line becomes
 * "cuda (NAME)"; with --device cpu, NULL.  A chapter opens it once per run
 * (at the first experiment that needs it, before that experiment creates
 * its data files: a file's provenance is written when it is created),
 * passes it down, and closes it with gpu_close after cli_run.  It lives in common/cli_gpu.c, so that
 * programs that never call it do not link CUDA. */
typedef struct Gpu Gpu;
Gpu *cli_open_gpu(CliCommon *common);

/* The common flags at their defaults, and common->prov built for `command`
 * (threads: all cores), as cli_run would leave them for a run without flags;
 * for tests and tools that call experiments directly.  Free with cli_free. */
void cli_common_init(CliCommon *common, const char *command);

/* Print the help cli_run prints for --help (to stdout there) to fp, with
 * the current values of the targets as defaults. */
void cli_print_help(const CliSpec *spec, FILE *fp);

/* argv joined with spaces, each argument shell-quoted where it needs it
 * ('it'\''s', ''), so that the line can be pasted back into a shell.
 * Owned by the caller. */
char *cli_join_argv(int argc, char **argv);

#endif
