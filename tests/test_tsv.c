/* test_tsv.c -- common/tsv: TSV files written with provenance, read back;
 * the checked errors of writing (in forked children) and of reading. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "expect_die.h"
#include "remove_tree.h"
#include "cli.h"
#include "tsv.h"
#include "util.h"

static char tmpdir[] = "/tmp/test_tsv-XXXXXX";

static size_t files_in(const char *dir) {
    DIR *d = opendir(dir);
    size_t n = 0;
    if (!d) return 0;
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static const char *texts[] = {"plain", "tab\there", "line\nbreak\r\n", "back\\slash", "\\t is not a tab",
                              "", "#not a comment", "na\xc3\xafve caf\xc3\xa9"};
enum { NTEXTS = sizeof texts / sizeof *texts };

static void test_round_trip(Check *t) {
    char *dir = xasprintf("%s/figures/data", tmpdir);
    char *argv[] = {"build/bin/t01-demo", "orders", "--out", dir, "--prompt", "it's", NULL};
    char *line = cli_join_argv(6, argv);
    Provenance prov;
    provenance_init(&prov, line, 3);
    free(line);

    Tsv *w = tsv_create(dir, "t01-demo", &prov, "a demo\nin two lines", "i\ttext\tvalue");
    char *path = xasprintf("%s/t01-demo.tsv", dir);
    check_true(t, strcmp(tsv_path(w), path) == 0, "the path gets .tsv (%s)", tsv_path(w));
    for (int i = 0; i < NTEXTS; i++) {
        /* two escaped fields in one row must both survive until tsv_row */
        const char *a = tsv_escape(w, texts[i]);
        const char *b = tsv_escape(w, texts[(i + 1) % NTEXTS]);
        char *text = xasprintf("%s|%s", a, b);
        tsv_row(w, "%d\t%s\t%.17g", i, text, i * 0.1 - 1e-3);
        free(text);
    }
    tsv_row(w, "%d\t%s\t%s", 100, "x", "nan");
    tsv_row(w, "%d\t%s\t%s", 101, "x", "12abc");
    tsv_row(w, "%d\t%s\t%s", 102, "x", "");
    check_true(t, !file_exists(path), "nothing under the final name before tsv_close");
    tsv_close(w);
    check_true(t, file_exists(path) && files_in(dir) == 1, "tsv_close puts exactly one file in place");

    char err[256] = "";
    TsvTable *r = tsv_load(path, err, sizeof err);
    check_true(t, r != NULL, "load what was written (%s)", err);
    if (!r) return;
    check_true(t, tsv_rows(r) == NTEXTS + 3 && tsv_cols(r) == 3, "%zu rows, %zu columns", tsv_rows(r), tsv_cols(r));
    int ci = tsv_col(r, "i"), ct = tsv_col(r, "text"), cv = tsv_col(r, "value");
    check_true(t, ci == 0 && ct == 1 && cv == 2 && tsv_col(r, "Text") == -1 && strcmp(tsv_colname(r, 2), "value") == 0,
               "columns by name");
    bool same = true, nums = true;
    for (int i = 0; i < NTEXTS; i++) {
        char *want = xasprintf("%s|%s", texts[i], texts[(i + 1) % NTEXTS]);
        if (strcmp(tsv_cell(r, (size_t)i, ct), want) != 0) {
            same = false;
            check_true(t, false, "row %d text round trip: got \"%s\"", i, tsv_cell(r, (size_t)i, ct));
        }
        free(want);
        nums = nums && tsv_num(r, (size_t)i, ci) == i && tsv_num(r, (size_t)i, cv) == i * 0.1 - 1e-3;
    }
    check_true(t, same, "escaped text round-trips (tabs, newlines, CR, backslashes, '#', UTF-8)");
    check_true(t, nums, "numbers read back bit-exact (%%.17g)");
    check_true(t, isnan(tsv_num(r, NTEXTS, cv)) && isnan(tsv_num(r, NTEXTS + 1, cv)) &&
                      isnan(tsv_num(r, NTEXTS + 2, cv)) && isnan(tsv_num(r, 0, ct)),
               "nan, trailing junk, empty and text are NAN");

    check_true(t, tsv_meta(r, "t01-demo") && strcmp(tsv_meta(r, "t01-demo"), "a demo in two lines") == 0 &&
                      strcmp(tsv_meta(r, "name"), "t01-demo") == 0 &&
                      strcmp(tsv_meta(r, "description"), "a demo in two lines") == 0,
               "name and description (newline flattened)");
    check_true(t, tsv_meta(r, "command") && strcmp(tsv_meta(r, "command"), prov.command) == 0 &&
                      strstr(prov.command, "'it'\\''s'"),
               "command line (%s)", tsv_meta(r, "command"));
    check_true(t, text_matches(tsv_meta(r, "device"), "^cpu \\(.+, 3 threads\\)$"), "device (%s)", tsv_meta(r, "device"));
    check_true(t, text_matches(tsv_meta(r, "date"), "^20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z$"),
               "date (%s)", tsv_meta(r, "date"));
    check_true(t, text_matches(tsv_meta(r, "git"), "^([0-9a-f]{7,}( \\(modified\\))?|unknown)$"), "git (%s)",
               tsv_meta(r, "git"));
    check_true(t, tsv_meta(r, "nonsense") == NULL, "absent key: NULL");
    tsv_free(r);

    /* the header's exact shape: five comment lines, then the column names */
    char *text = file_read(path, NULL, NULL, 0);
    check_true(t, text && text_matches(text, "^# t01-demo: a demo in two lines\n# command: [^\n]+\n# device: [^\n]+\n"
                                         "# date: [^\n]+\n# git: [^\n]+\ni\ttext\tvalue\n0\tplain\\|tab\\\\there\t"),
               "the header lines, in order");
    free(text);

    /* rewriting: the old version stays until the new one is committed */
    Provenance gpu;
    provenance_init(&gpu, NULL, 0);
    provenance_set_device(&gpu, "cuda (Test GPU)");
    w = tsv_create(dir, "t01-demo.tsv", &gpu, "second", "a");
    provenance_free(&gpu);  /* the Tsv keeps no pointer to it */
    tsv_row(w, "1");
    r = tsv_load(path, err, sizeof err);
    check_true(t, r && tsv_rows(r) == NTEXTS + 3, "before close the old file is intact");
    tsv_free(r);
    tsv_close(w);
    r = tsv_load(path, err, sizeof err);
    check_true(t, r && tsv_rows(r) == 1 && tsv_cols(r) == 1 && strcmp(tsv_meta(r, "device"), "cuda (Test GPU)") == 0 &&
                      strcmp(tsv_meta(r, "t01-demo"), "second") == 0 && strcmp(tsv_meta(r, "command"), "unknown") == 0,
               "after close: the new file, with the device line set and NAME.tsv not doubled");
    tsv_free(r);

    /* abort leaves the previous version and no temporary file */
    w = tsv_create(dir, "t01-demo", NULL, "third", "a\tb");
    tsv_row(w, "1\t2");
    tsv_abort(w);
    r = tsv_load(path, err, sizeof err);
    check_true(t, r && strcmp(tsv_meta(r, "t01-demo"), "second") == 0 && files_in(dir) == 1,
               "tsv_abort: previous version kept, no temporary left");
    tsv_free(r);

    /* a file with no rows is fine */
    w = tsv_create(dir, "t01-empty", NULL, "no rows", "x\ty");
    tsv_close(w);
    char *epath = xasprintf("%s/t01-empty.tsv", dir);
    r = tsv_load(epath, err, sizeof err);
    check_true(t, r && tsv_rows(r) == 0 && tsv_cols(r) == 2, "a header-only file loads with 0 rows");
    tsv_free(r);
    free(epath);

    /* no provenance given: one of the file's own */
    w = tsv_create(dir, "t01-noprov", NULL, "tools", "x");
    tsv_close(w);
    char *npath = xasprintf("%s/t01-noprov.tsv", dir);
    r = tsv_load(npath, err, sizeof err);
    check_true(t, r && strcmp(tsv_meta(r, "command"), "unknown") == 0 && text_matches(tsv_meta(r, "device"), "^cpu \\(") &&
                      tsv_meta(r, "date") && tsv_meta(r, "git"),
               "NULL provenance: command unknown, the rest measured");
    tsv_free(r);
    free(npath);

    free(path);
    free(dir);
    provenance_free(&prov);
}

/* ---- Checked errors of writing: each dies in a child ---- */

static void row_too_few(void *dir) {
    Tsv *w = tsv_create(dir, "bad", NULL, "", "order\ttrain_ppl\tval_ppl");
    tsv_row(w, "%d\t%g", 1, 2.0);
}
static void row_too_many(void *dir) {
    Tsv *w = tsv_create(dir, "bad", NULL, "", "a\tb");
    tsv_row(w, "1\t2\t3");
}
static void row_newline(void *dir) {
    Tsv *w = tsv_create(dir, "bad", NULL, "", "a\tb");
    tsv_row(w, "1\t%s", "two\nlines");
}
static void row_hash(void *dir) {
    Tsv *w = tsv_create(dir, "bad", NULL, "", "a\tb");
    tsv_row(w, "#1\t2");
}
static void bad_name(void *dir) { tsv_create(dir, "sub/x", NULL, "", "a"); }
static void bad_columns(void *dir) { tsv_create(dir, "x", NULL, "", "a\t\tb"); }
static void cell_out_of_range(void *path) {
    TsvTable *r = tsv_load(path, NULL, 0);
    tsv_cell(r, 0, 5);
}

static void test_write_errors(Check *t) {
    char *dir = xasprintf("%s/errors", tmpdir);
    expect_die(t, row_too_few, dir, "a row has 2 fields but there are 3 columns (order\ttrain_ppl\tval_ppl)",
               "too few fields");
    expect_die(t, row_too_many, dir, "a row has 3 fields but there are 2 columns", "too many fields");
    expect_die(t, row_newline, dir, "a row has a newline in it (escape text with tsv_escape)", "newline in a row");
    expect_die(t, row_hash, dir, "a row starts with '#'", "row starting with #");
    expect_die(t, bad_name, dir, "bad file name 'sub/x'", "name with /");
    expect_die(t, bad_columns, dir, "a column has an empty name", "empty column name");
    char *path = xasprintf("%s/figures/data/t01-demo.tsv", tmpdir);
    expect_die(t, cell_out_of_range, path, "tsv_cell: row 0, column 5 out of range (1 rows, 1 columns)",
               "cell out of range");
    char *bad = xasprintf("%s/bad.tsv", dir);
    check_true(t, !file_exists(bad), "a writer that died left nothing under the final name");
    free(bad);
    free(path);
    free(dir);
}

/* ---- Malformed files are refused with a message ---- */

static void refuse(Check *t, const char *content, const char *want, const char *what) {
    char *path = xasprintf("%s/malformed.tsv", tmpdir);
    FILE *fp = xfopen(path, "w");
    fputs(content, fp);
    fclose(fp);
    char err[256] = "";
    TsvTable *r = tsv_load(path, err, sizeof err);
    check_true(t, r == NULL && strstr(err, want) && strstr(err, path), "%s: refused with \"%s\" (said \"%s\")", what,
               want, err);
    tsv_free(r);
    free(path);
}

static void test_malformed(Check *t) {
    refuse(t, "# x: y\na\tb\n1\t2\n3\n", ":4: 1 field, but the header names 2 columns", "a short row");
    refuse(t, "a\tb\n1\t2\t3\n", ":2: 3 fields, but the header names 2 columns", "a long row");
    refuse(t, "a\tb\n1\t2\n\n3\t4\n", ":3: 1 field", "a blank line between rows");
    refuse(t, "# x: only comments\n# y: z\n", "no line of column names", "no header");
    refuse(t, "", "the file is empty", "an empty file");
    refuse(t, "# x: y\n\na\tb\n", ":2: an empty line where the column names should be", "empty header line");
    char err[256] = "";
    TsvTable *r = tsv_load("/nonexistent/x.tsv", err, sizeof err);
    check_true(t, r == NULL && strstr(err, "cannot open /nonexistent/x.tsv"), "a missing file (%s)", err);

    /* comments among the rows and a missing final newline are fine */
    char *path = xasprintf("%s/ok.tsv", tmpdir);
    FILE *fp = xfopen(path, "w");
    fputs("# ok: fine\na\tb\n1\t2\n# a comment\n3\t4", fp);
    fclose(fp);
    r = tsv_load(path, err, sizeof err);
    check_true(t, r && tsv_rows(r) == 2 && tsv_num(r, 1, 1) == 4 && strcmp(tsv_meta(r, "ok"), "fine") == 0,
               "comments between rows, no final newline");
    tsv_free(r);
    free(path);
}

int main(void) {
    Check t;
    check_init(&t, "tsv");
    unsetenv("BOOK_COMMAND"), unsetenv("BOOK_GIT"), unsetenv("BOOK_DATE");  /* the provenance measured */
    if (!mkdtemp(tmpdir)) die("mkdtemp failed");
    test_round_trip(&t);
    test_write_errors(&t);
    test_malformed(&t);
    remove_tree(tmpdir);
    return check_summary(&t);
}
