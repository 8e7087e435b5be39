/* tsv.c -- see tsv.h for the contract. */
#include "tsv.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct Tsv {
    AtomicFile af;
    char *columns;
    size_t ncols;
    char **escaped;      /* tsv_escape's strings since the last row */
    size_t nescaped, capescaped;
};

/* ---- Writing ---------------------------------------------------------------- */

static size_t count_fields(const char *s) {
    size_t n = 1;
    for (; *s; s++) n += *s == '\t';
    return n;
}

Tsv *tsv_create(const char *dir, const char *name, const Provenance *prov, const char *description,
                const char *columns) {
    if (!name || !*name || strchr(name, '/'))
        die("tsv_create: bad file name '%s' (a name without '/')", name ? name : "");
    if (!columns || !*columns || strpbrk(columns, "\n\r"))
        die("tsv_create: %s: the columns must be one non-empty line", name);
    for (const char *c = columns; *c; c++)
        if (*c == '\t' && (c == columns || c[1] == '\t' || c[1] == '\0'))
            die("tsv_create: %s: a column has an empty name in \"%s\"", name, columns);
    size_t nlen = strlen(name);
    bool has_ext = nlen > 4 && strcmp(name + nlen - 4, ".tsv") == 0;
    char *file = has_ext ? xstrdup(name) : xasprintf("%s.tsv", name);

    Provenance own = {0};
    if (!prov) provenance_init(&own, NULL, 0);
    Tsv *t = xcalloc(1, sizeof *t);
    t->columns = xstrdup(columns);
    t->ncols = count_fields(columns);
    FILE *fp = provenance_open(&t->af, dir, file, "# ", prov ? prov : &own, description);
    fprintf(fp, "%s\n", columns);
    provenance_free(&own);
    free(file);
    return t;
}

const char *tsv_path(const Tsv *t) { return t->af.path; }

static void free_escaped(Tsv *t) {
    for (size_t i = 0; i < t->nescaped; i++) free(t->escaped[i]);
    t->nescaped = 0;
}

void tsv_row(Tsv *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *row = NULL;
    int n = vasprintf(&row, fmt, ap);
    va_end(ap);
    if (n < 0) die("tsv_row: %s: out of memory or bad format \"%s\"", t->af.path, fmt);
    if (strpbrk(row, "\n\r"))
        die("tsv_row: %s: a row has a newline in it (escape text with tsv_escape): \"%.*s...\"", t->af.path,
            (int)strcspn(row, "\n\r"), row);
    if (row[0] == '#') die("tsv_row: %s: a row starts with '#', which readers skip as a comment", t->af.path);
    size_t fields = count_fields(row);
    if (fields != t->ncols)
        die("tsv_row: %s: a row has %zu field%s but there are %zu columns (%s): \"%.60s\"", t->af.path, fields,
            fields == 1 ? "" : "s", t->ncols, t->columns, row);
    fputs(row, t->af.fp);
    fputc('\n', t->af.fp);
    free(row);
    free_escaped(t);
    if (ferror(t->af.fp)) {
        int e = errno;
        char *path = xstrdup(t->af.path);
        atomic_abort(&t->af);  /* no temporary file left behind on a full disk */
        die("tsv_row: cannot write %s: %s", path, strerror(e));
    }
}

const char *tsv_escape(Tsv *t, const char *s) {
    if (!s) s = "";
    char *e = xmalloc(2 * strlen(s) + 1), *p = e;
    for (; *s; s++) {
        switch (*s) {
        case '\\': p = stpcpy(p, "\\\\"); break;
        case '\t': p = stpcpy(p, "\\t"); break;
        case '\n': p = stpcpy(p, "\\n"); break;
        case '\r': p = stpcpy(p, "\\r"); break;
        default: *p++ = *s;
        }
    }
    *p = '\0';
    if (t->nescaped == t->capescaped) {
        t->capescaped = t->capescaped ? 2 * t->capescaped : 8;
        t->escaped = xrealloc(t->escaped, t->capescaped * sizeof *t->escaped);
    }
    t->escaped[t->nescaped++] = e;
    return e;
}

static void tsv_destroy(Tsv *t) {
    free_escaped(t);
    free(t->escaped);
    free(t->columns);
    free(t);
}

void tsv_close(Tsv *t) {
    atomic_commit_or_die(&t->af);
    tsv_destroy(t);
}

void tsv_abort(Tsv *t) {
    atomic_abort(&t->af);
    tsv_destroy(t);
}

/* ---- Reading ------------------------------------------------------------------------- */

struct TsvTable {
    char *text;            /* the file, cut into NUL-terminated cells in place */
    size_t nrows, ncols;
    char **colnames;       /* ncols */
    char **cells;          /* nrows * ncols, row-major */
    char **keys, **values; /* metadata */
    size_t nmeta;
    char *name, *description;
};

/* Undo tsv_escape in place. */
static void unescape(char *s) {
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r == '\\' && r[1]) {
            char c = r[1];
            char out = c == 't' ? '\t' : c == 'n' ? '\n' : c == 'r' ? '\r' : c == '\\' ? '\\' : 0;
            if (out) {
                *w++ = out;
                r++;
                continue;
            }
        }
        *w++ = *r;
    }
    *w = '\0';
}

/* Split line at tabs into at most max fields (stored in out); the count. */
static size_t split(char *line, char **out, size_t max) {
    size_t n = 0;
    for (char *p = line;;) {
        char *tab = strchr(p, '\t');
        if (n < max) out[n] = p;
        n++;
        if (!tab) break;
        *tab = '\0';
        p = tab + 1;
    }
    return n;
}

static void add_meta(TsvTable *t, char *key, char *value) {
    t->keys = xrealloc(t->keys, (t->nmeta + 1) * sizeof *t->keys);
    t->values = xrealloc(t->values, (t->nmeta + 1) * sizeof *t->values);
    t->keys[t->nmeta] = key;
    t->values[t->nmeta] = value;
    t->nmeta++;
}

TsvTable *tsv_load(const char *path, char *err, size_t errlen) {
    char dummy[8];
    if (!err) {
        err = dummy;
        errlen = sizeof dummy;
    }
    size_t len;
    char *text = file_read(path, &len, err, errlen);
    if (!text) return NULL;
    if (memchr(text, '\0', len)) {
        snprintf(err, errlen, "%s is not a text file (it has NUL bytes)", path);
        free(text);
        return NULL;
    }
    TsvTable *t = xcalloc(1, sizeof *t);
    t->text = text;
    size_t cap = 0, lineno = 0;
    bool first_comment = true;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        lineno++;
        char *next = nl ? nl + 1 : line + strlen(line);
        if (line[0] == '#') {
            if (!t->colnames) {
                char *k = line + 1;
                while (*k == ' ') k++;
                char *colon = strstr(k, ": ");
                if (colon && colon > k) {
                    *colon = '\0';
                    add_meta(t, k, colon + 2);
                    if (first_comment) {
                        t->name = k;
                        t->description = colon + 2;
                    }
                }
                first_comment = false;
            }
        } else if (!t->colnames) {
            if (!*line) {
                snprintf(err, errlen, "%s:%zu: an empty line where the column names should be", path, lineno);
                tsv_free(t);
                return NULL;
            }
            t->ncols = count_fields(line);
            t->colnames = xmalloc_array(t->ncols, sizeof *t->colnames);
            split(line, t->colnames, t->ncols);
            for (size_t c = 0; c < t->ncols; c++) unescape(t->colnames[c]);
        } else {
            if (t->nrows == cap) {
                cap = cap ? 2 * cap : 64;
                t->cells = xrealloc(t->cells, cap * t->ncols * sizeof *t->cells);
            }
            char **row = t->cells + t->nrows * t->ncols;
            size_t n = split(line, row, t->ncols);
            if (n != t->ncols) {
                snprintf(err, errlen, "%s:%zu: %zu field%s, but the header names %zu column%s", path, lineno, n,
                         n == 1 ? "" : "s", t->ncols, t->ncols == 1 ? "" : "s");
                tsv_free(t);
                return NULL;
            }
            for (size_t c = 0; c < n; c++) unescape(row[c]);
            t->nrows++;
        }
        line = next;
    }
    if (!t->colnames) {
        snprintf(err, errlen, "%s: %s", path, len == 0 ? "the file is empty" : "no line of column names");
        tsv_free(t);
        return NULL;
    }
    return t;
}

size_t tsv_rows(const TsvTable *t) { return t->nrows; }
size_t tsv_cols(const TsvTable *t) { return t->ncols; }

int tsv_col(const TsvTable *t, const char *name) {
    for (size_t c = 0; c < t->ncols; c++)
        if (strcmp(t->colnames[c], name) == 0) return (int)c;
    return -1;
}

const char *tsv_colname(const TsvTable *t, int col) {
    if (col < 0 || (size_t)col >= t->ncols)
        die("tsv_colname: column %d out of range (%zu columns)", col, t->ncols);
    return t->colnames[col];
}

const char *tsv_cell(const TsvTable *t, size_t row, int col) {
    if (row >= t->nrows || col < 0 || (size_t)col >= t->ncols)
        die("tsv_cell: row %zu, column %d out of range (%zu rows, %zu columns)", row, col, t->nrows, t->ncols);
    return t->cells[row * t->ncols + (size_t)col];
}

double tsv_num(const TsvTable *t, size_t row, int col) {
    const char *s = tsv_cell(t, row, col);
    if (!*s || isspace((unsigned char)*s)) return NAN;
    char *end;
    double v = strtod(s, &end);
    return *end == '\0' ? v : NAN;
}

const char *tsv_meta(const TsvTable *t, const char *key) {
    if (strcmp(key, "name") == 0) return t->name;
    if (strcmp(key, "description") == 0) return t->description;
    for (size_t i = 0; i < t->nmeta; i++)
        if (strcmp(t->keys[i], key) == 0) return t->values[i];
    return NULL;
}

void tsv_free(TsvTable *t) {
    if (!t) return;
    free(t->text);
    free(t->colnames);
    free(t->cells);
    free(t->keys);
    free(t->values);
    free(t);
}
