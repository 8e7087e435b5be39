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
 * 0 without running anything.  An experiment named "all" runs every
 * experiment in the order of spec->commands, stopping at the first that
 * fails, unless the program defines its own "all" (Makefile: `make chNN-figures`
 * runs `chNN-x all --out figures/data`).
 *
 * What is checked (each a one-line message on stderr naming the flag, the
 * accepted values and what was given, then return 2 without running
 * anything): unknown flags; a missing or empty value; integers with trailing
 * junk, overflow or out of range; numbers that are not finite (NaN is always
 * refused, an infinity only where the range includes it) or out of range;
 * choices not in the list; booleans that are not one of the words above;
 * an unknown experiment; a second experiment name; --device naming a device
 * the chapter has no code for.  The message stays one line whatever the
 * argument: a value's control characters are escaped (\n) and a message
 * longer than 1 KB is cut.  No experiment at all prints the help to
 * stderr and returns 2.
 *
 * Programming errors in the spec (an option with no name or target, two
 * options with one name, an option named like a common flag, a default
 * outside its own range or choices) are not the user's fault: cli_run dies
 * (util.h die(), exit 1) naming the option.
 *
 * Defaults.  The targets of the program's own options keep whatever the
 * caller stored in them before cli_run, and --help prints those values as
 * the defaults.  The common flags (CliCommon) get the defaults listed in the
 * struct below; cli_run overwrites *common entirely.
 *
 * Ownership.  String targets (OPT_STRING, OPT_CHOICE, common->out, ->data,
 * ->device) point into argv or at the caller's defaults; nothing is copied.
 * common->command_line is allocated by cli_run (even when it returns 2) and
 * freed by cli_free, which is safe to call on a zeroed CliCommon and twice.
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

typedef enum { OPT_INT, OPT_DOUBLE, OPT_STRING, OPT_BOOL, OPT_CHOICE } OptKind;

typedef struct {
    const char *name;      /* "order" means --order */
    OptKind kind;
    void *target;          /* int64_t*, double*, const char**, bool*, const char** (CHOICE) */
    const char *help;      /* one line; the default is printed after it automatically */
    double min, max;       /* OPT_INT / OPT_DOUBLE: accepted range, inclusive (min == max == 0: any) */
    const char *choices;   /* OPT_CHOICE: "a|b|c" */
} CliOpt;

typedef struct {
    const char *name;      /* experiment (subcommand) name */
    const char *help;      /* one line */
    int (*run)(void *ctx); /* returns the exit status */
} CliCommand;

typedef struct {           /* the flags every program has */
    uint64_t seed;         /* --seed N      (default 1) */
    int64_t threads;       /* --threads N   (default: all cores; calls omp_set_num_threads) */
    const char *out;       /* --out DIR     (default "figures/data") where experiments write TSV */
    bool quick;            /* --quick       test-size run, seconds */
    const char *data;      /* --data NAME|PATH (default "brown") */
    const char *device;    /* --device cpu|cuda (default cpu) */
    char *command_line;    /* argv joined with spaces (shell-quoted where needed), for provenance */
} CliCommon;

typedef struct {
    const char *program;   /* "ch01-markov" */
    const char *summary;   /* one paragraph: what the program is */
    const char *footer;    /* e.g. expected run times; may be NULL */
    const CliCommand *commands; size_t ncommands;
    const CliOpt *opts; size_t nopts;   /* the program's own flags */
    const char *devices;   /* "cpu" or "cpu|cuda" (NULL: "cpu") */
} CliSpec;

/* Parse argv (argv[0] is the program as invoked), fill *common and the
 * targets, run the named experiment with ctx and return its exit status;
 * 0 after --help; 2 on bad input, with one line on stderr such as
 *   "ch01-markov: --max-order expects an integer in [0, 12], got 'x'"
 *   "ch01-markov: unknown option --ordr (see --help)"
 *   "ch01-markov: unknown experiment 'ordrs'; choose one of: orders, heatmap, all"
 *   "ch01-markov: --device cuda: this chapter has no GPU code (accepted: cpu)" */
int cli_run(const CliSpec *spec, CliCommon *common, int argc, char **argv, void *ctx);

/* Free what cli_run allocated in *common (command_line). */
void cli_free(CliCommon *common);

/* Print the help cli_run prints for --help (to stdout there) to fp, with
 * the current values of the targets as defaults. */
void cli_print_help(const CliSpec *spec, FILE *fp);

/* argv joined with spaces, each argument shell-quoted where it needs it
 * ('it'\''s', ''), so that the line can be pasted back into a shell.
 * Owned by the caller. */
char *cli_join_argv(int argc, char **argv);

#endif
