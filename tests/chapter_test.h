/* chapter_test.h -- what every chapter's test suite does with the data files
 * its program's --quick experiments write: load one (it must be a
 * well-formed TSV that records its provenance) and read a number from it
 * (the column must exist).  Both report through the suite's Check. */
#ifndef CHAPTER_TEST_H
#define CHAPTER_TEST_H

#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "plot.h"
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

#endif
