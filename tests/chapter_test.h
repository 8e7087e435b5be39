/* chapter_test.h -- what every chapter's test suite does with its program:
 * load a data file its --quick experiments wrote (it must be a well-formed
 * TSV that records its provenance) and read a number from it (the column
 * must exist); and run the program with arguments and hold it to the
 * contract for bad input (the expected exit status and, when it fails, one
 * line naming the problem).  All report through the suite's Check.  And it
 * removes the suite's scratch directory (remove_tree.h). */
#ifndef CHAPTER_TEST_H
#define CHAPTER_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "check.h"
#include "cli.h"
#include "remove_tree.h"
#include "tsv.h"
#include "util.h"

/* The number in column `col` of row `row`; NAN (and a failed check) if there is no such column. */
static double num(Check *t, TsvTable *tab, size_t row, const char *col) {
    int c = tsv_col(tab, col);
    if (c < 0) { check_true(t, false, "column %s exists", col); return NAN; }
    return tsv_num(tab, row, c);
}

/* DIR/NAME.tsv, checked to load and to carry command, date and git; NULL if it does not load. */
static TsvTable *load(Check *t, const char *dir, const char *name) {
    char *path = xasprintf("%s/%s.tsv", dir, name), err[256];
    TsvTable *tab = tsv_load(path, err, sizeof err);
    check_true(t, tab != NULL, "%s is a well-formed TSV file%s%s", path, tab ? "" : ": ", tab ? "" : err);
    if (tab) check_true(t, tsv_meta(tab, "command") && tsv_meta(tab, "date") && tsv_meta(tab, "git"),
                        "%s records its provenance", name);
    free(path);
    return tab;
}

/* Run every experiment of COMMANDS marked in_all, as `PROGRAM all` would. */
static int run_all_experiments(const char *program, const CliCommand *commands, size_t n, void *ctx) {
    CliSpec spec = {.program = program, .commands = commands, .ncommands = n};
    return cli_run_all(&spec, ctx);
}

/* A CliCommon as a --quick run with `--threads 1 --out DIR` would have it,
 * with a provenance naming the suite; free with cli_free. */
static void quick_common(CliCommon *c, const char *suite, const char *dir) {
    cli_common_init(c, suite);
    c->threads = 1;
    c->out = dir;
    c->quick = true;
}

/* Run "build/bin/PROGRAM ARGS" (progress bars off, stderr captured): it must
 * exit with `status`, print `needle`, and, if the status is not 0, print
 * exactly one line. */
static void expect_program(Check *t, const char *program, const char *args, int status, const char *needle) {
    char *cmd = xasprintf("NO_PROGRESS=1 build/bin/%s %s 2>&1", program, args);
    FILE *p = popen(cmd, "r");
    char out[8192] = "";
    size_t got = p ? fread(out, 1, sizeof out - 1, p) : 0;
    out[got] = '\0';
    int st = p ? pclose(p) : -1;
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1, lines = 0;
    for (char *q = out; *q; q++) lines += *q == '\n';
    check_true(t, code == status && strstr(out, needle) != NULL && (status == 0 || lines == 1),
               "%s %s: exit %d with one line naming '%s' (got exit %d: %.160s)", program, args, status, needle, code,
               out);
    free(cmd);
}

/* One case of a program's command-line contract: `PROGRAM args` exits with
 * status and prints needle (see expect_program). */
typedef struct {
    const char *args;
    int status;
    const char *needle;
} ProgramCase;

/* expect_program for each of the n cases. */
static void expect_programs(Check *t, const char *program, const ProgramCase *cases, size_t n) {
    for (size_t i = 0; i < n; i++) expect_program(t, program, cases[i].args, cases[i].status, cases[i].needle);
}

#endif
