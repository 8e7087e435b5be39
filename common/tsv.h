/* tsv.h -- the data behind every figure: TSV files with provenance, and
 * reading them back.
 *
 * An experiment writes its results with a Tsv; gnuplot scripts (chunks of
 * the chapters) read them; tests and later chapters read them back with
 * tsv_load.  A file looks like this:
 *
 *     # ch01-orders: perplexity of Markov models against their order
 *     # command: build/bin/ch01-markov orders --out figures/data
 *     # device: cpu (AMD EPYC 7B13, 16 threads)
 *     # date: 2026-11-27T21:33:41Z
 *     # git: a9767c0 (modified)
 *     order	train_ppl	val_ppl
 *     1	12.31	12.40
 *     ...
 *
 * Writing.  tsv_create makes DIR (like mkdir -p) and opens DIR/NAME
 * atomically (util.h atomic_open): the file appears under its name, complete,
 * only at tsv_close; a program that dies or calls tsv_abort leaves the
 * previous version in place.  NAME is a file name without '/'; ".tsv" is
 * appended if it does not end so, and the first header line names the file
 * without it.  The header, written at once, carries the lines of the run's
 * Provenance (provenance.h: command, device, date, git; BOOK_GIT and
 * BOOK_DATE honoured); the Tsv keeps no pointer to it.  prov may be NULL
 * (tests, tools): the file then gets a Provenance of its own, with command
 * "unknown".
 *
 * Checked runtime errors (die, one line naming the file): a NAME with '/'
 * or empty; columns empty, with an empty name or a newline; a row whose
 * number of tab-separated fields differs from the columns; a row with a
 * newline in it (use tsv_escape for text) or starting with '#' (readers take
 * it for a comment); any I/O error, at the latest in tsv_close.
 *
 * Reading.  tsv_load returns NULL and a one-line message in err (naming the
 * file and, for a bad row, its line) when the file cannot be read, has no
 * column names line, or has a row with the wrong number of fields.  Comment
 * lines ('#') are skipped wherever they are; "# key: value" lines before the
 * column names are the metadata.  tsv_cell dies when row or column is out of
 * range.  Everything a TsvTable hands out lives until tsv_free.
 *
 * Ownership: tsv_create's Tsv is freed by tsv_close or tsv_abort (exactly
 * one of them); tsv_load's TsvTable by tsv_free. */
#ifndef TSV_H
#define TSV_H

#include <stddef.h>

#include "provenance.h"

typedef struct Tsv Tsv;

Tsv *tsv_create(const char *dir, const char *name, const Provenance *prov, const char *description,
                const char *columns /* "order\ttrain_ppl\tval_ppl" */);
/* One row, printf-style, fields separated by '\t'; dies if the number of
 * fields differs from the columns. */
void tsv_row(Tsv *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A text field with '\\', '\t', '\n' and '\r' escaped as \\ \t \n \r; the
 * string lives until the next tsv_row (so several may be used in one row). */
const char *tsv_escape(Tsv *t, const char *s);
/* The final path, "DIR/NAME.tsv" (valid until close or abort). */
const char *tsv_path(const Tsv *t);
/* Commit: rename into place; dies on any I/O error. Frees t. */
void tsv_close(Tsv *t);
/* Discard: remove the temporary file, leave any previous version. Frees t. */
void tsv_abort(Tsv *t);

typedef struct TsvTable TsvTable;
TsvTable *tsv_load(const char *path, char *err, size_t errlen);
size_t tsv_rows(const TsvTable *t);
size_t tsv_cols(const TsvTable *t);
int tsv_col(const TsvTable *t, const char *name);               /* -1 if absent */
const char *tsv_colname(const TsvTable *t, int col);
const char *tsv_cell(const TsvTable *t, size_t row, int col);   /* unescaped */
double tsv_num(const TsvTable *t, size_t row, int col);         /* NAN if not a number */
/* "command", "device", "date", "git", any other "# key: value" key, the
 * file's NAME (giving its description), or "name" and "description".
 * NULL if absent. */
const char *tsv_meta(const TsvTable *t, const char *key);
void tsv_free(TsvTable *t);

#endif
