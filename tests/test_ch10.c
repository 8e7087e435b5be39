/* test_ch10.c -- chapter 10, tokenization.
 *
 * Includes the tangled program (build/10-tokenization/tokenization.c, with
 * TESTING defined so that it has no main) and the tangled solutions to the
 * coding exercises, then checks the chapter's claims numerically:
 *   Kraft's inequality (Huffman's sum is 1, Shannon's at most 1), both codes
 *   within [H, H + 1), Huffman optimal among whole-number lengths (exhaustive
 *   search), a Huffman code worked by hand; BPE by hand on the four words of
 *   the chapter's table, with both trainers; the simple and fast trainers
 *   make the same merges on random texts and on Brown; UTF-8 decoding of
 *   every code point and of every kind of invalid sequence; the heap merge
 *   equals the scanning merge; the fast encoder equals the plain one (cache
 *   on and off, one thread and several, cut at the safe places or not);
 *   decoding inverts encoding on arbitrary bytes; GPT-2's ids for a sentence
 *   worked by hand; the merges derived from tiktoken's ranks are vocab.bpe's;
 *   every token of GPT-2, cl100k_base and o200k_base encodes to itself; the
 *   tokenizer file round trip and its errors; token files; Viterbi and
 *   forward-backward against brute force over all segmentations; EM never
 *   lowers the likelihood; the vocabulary-cost optimum is a stationary
 *   minimum;
 * then runs the experiments in --quick mode into a temporary directory
 * (the exactness test on the adversarial text and a prefix of Brown, with
 * node) and checks the TSV files, and checks the program's one-line errors.
 * tests/test_ch10_exact.sh runs the exactness test on a 1 MB sample of each
 * real corpus (exact --sample), or with CH10_EXACT_FULL=1 on the whole corpora.
 * Run from the repository root (make test does). */
#include "tokenization.c"
#include "ch10-solutions.c"

#include "check.h"
#include "expect_die.h"

#include <sys/wait.h>
#include "chapter_test.h"

/* ---- Compression ------------------------------------------------------------ */

static double avg_len(const uint64_t *w, const int *len, int n) {
    double total = 0, s = 0;
    for (int i = 0; i < n; i++) total += (double)w[i];
    for (int i = 0; i < n; i++) s += (double)w[i] / total * len[i];
    return s;
}

/* The best average length over all whole-number lengths 1..n-1 that satisfy Kraft. */
static double best_lengths(const uint64_t *w, int n) {
    int len[8];
    double best = INFINITY;
    long combos = 1;
    for (int i = 0; i < n; i++) combos *= (n - 1);
    for (long c = 0; c < combos; c++) {
        long x = c;
        double kraft = 0;
        for (int i = 0; i < n; i++) len[i] = 1 + (int)(x % (n - 1)), x /= (n - 1), kraft += ldexp(1, -len[i]);
        if (kraft <= 1 + 1e-12) {
            double a = avg_len(w, len, n);
            if (a < best) best = a;
        }
    }
    return best;
}

static void test_codes(Check *t) {
    uint64_t w[4] = {5, 2, 1, 1};
    int len[4];
    huffman_lengths(w, 4, len);
    check_true(t, len[0] == 1 && len[1] == 2 && len[2] == 3 && len[3] == 3,
               "Huffman by hand: counts 5 2 1 1 get lengths 1 2 3 3 (got %d %d %d %d)", len[0], len[1], len[2], len[3]);
    Rng rng;
    rng_seed(&rng, 10);
    int bad_kraft = 0, bad_bounds = 0, not_optimal = 0, tries = 300;
    for (int k = 0; k < tries; k++) {
        int n = 2 + (int)rng_below(&rng, 5);              /* 2 .. 6 symbols */
        uint64_t c[8];
        double total = 0, H = 0, shannon = 0, ks = 0, kh = 0;
        for (int i = 0; i < n; i++) c[i] = 1 + rng_below(&rng, k % 2 ? 1000 : 10), total += (double)c[i];
        int l[8];
        huffman_lengths(c, n, l);
        for (int i = 0; i < n; i++) {
            double p = (double)c[i] / total;
            int ls = (int)ceil(-log2(p));
            H -= p * log2(p), shannon += p * ls, ks += ldexp(1, -ls), kh += ldexp(1, -l[i]);
        }
        double huff = avg_len(c, l, n);
        bad_kraft += fabs(kh - 1) > 1e-12 || ks > 1 + 1e-12;
        bad_bounds += !(H <= huff + 1e-12 && huff < H + 1) || !(H <= shannon + 1e-12 && shannon < H + 1) || huff > shannon + 1e-12;
        not_optimal += fabs(huff - best_lengths(c, n)) > 1e-12;
    }
    check_true(t, bad_kraft == 0, "Kraft: Huffman's sum is exactly 1, Shannon's at most 1 (%d of %d failed)", bad_kraft, tries);
    check_true(t, bad_bounds == 0, "H <= Huffman <= Shannon < H + 1 (%d of %d failed)", bad_bounds, tries);
    check_true(t, not_optimal == 0, "Huffman is optimal among whole-number lengths, by exhaustive search (%d of %d not)",
               not_optimal, tries);
}

/* ---- BPE training ----------------------------------------------------------- */

static Words words_from(const char *const *w, const uint64_t *count, size_t n) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += strlen(w[i]);
    Words W = {xcalloc(n, sizeof(Word)), n, xmalloc_array(total + 1, 4)};
    uint32_t *at = W.store;
    for (size_t i = 0; i < n; i++) {
        W.w[i] = (Word){at, (uint32_t)strlen(w[i]), count[i]};
        for (const char *p = w[i]; *p; p++) *at++ = (uint8_t)*p;
    }
    return W;
}

static void test_worked_example(Check *t) {
    static const char *const words[] = {"low", "lower", "newest", "widest"};
    static const uint64_t counts[] = {5, 2, 6, 3};
    static const char *const expect[][3] = {{"e", "s", "9"}, {"es", "t", "9"}, {"l", "o", "7"}, {"lo", "w", "7"},
                                            {"e", "w", "6"}, {"n", "ew", "6"}, {"new", "est", "6"}};
    for (int trainer = 0; trainer < 2; trainer++) {
        Words W = words_from(words, counts, 4);
        Merge m[7];
        uint64_t pc[7], ta[7], wc[7];
        TrainLog log = {pc, ta, 0, wc};
        uint32_t done = trainer ? train_fast(&W, 7, m, &log) : train_simple(&W, 7, m, &log);
        Bpe *b = bpe_from_merges("worked", "gpt2", m, done);
        bool ok = done == 7;
        for (int k = 0; k < 7 && ok; k++) {
            char a[64], c[64];
            ok = strcmp(token_name(b, m[k].left, a, sizeof a), expect[k][0]) == 0 &&
                 strcmp(token_name(b, m[k].right, c, sizeof c), expect[k][1]) == 0 && pc[k] == (uint64_t)atoi(expect[k][2]);
        }
        char last[64];
        size_t wl = W.w[3].len;
        ok = ok && wl == 4 && strcmp(token_name(b, W.w[3].sym[3], last, sizeof last), "est") == 0 && W.w[2].len == 1;
        check_true(t, ok, "the worked example: the %s trainer makes the seven merges of the table, widest = w i d est",
                   trainer ? "fast" : "simple");
        bpe_free(b), words_free(&W);
    }
}

static void test_trainers_agree(Check *t, Run *r) {
    Rng rng;
    rng_seed(&rng, 4);
    int disagree = 0;
    for (int k = 0; k < 40; k++) {
        size_t n = 200 + rng_below(&rng, 2000);
        char *s = xmalloc(n + 1);
        const char alpha[] = "aab ba\nab'st 1";
        int A = 2 + (int)rng_below(&rng, (uint64_t)strlen(alpha) - 1);
        for (size_t i = 0; i < n; i++) s[i] = alpha[rng_below(&rng, (uint64_t)A)];
        s[n] = 0;
        Words W1 = words_count(r->uni, split_gpt2, (const uint8_t *)s, n), W2 = words_count(r->uni, split_gpt2, (const uint8_t *)s, n);
        Merge m1[300], m2[300];
        uint32_t n1 = train_simple(&W1, 300, m1, NULL), n2 = train_fast(&W2, 300, m2, NULL);
        disagree += n1 != n2 || memcmp(m1, m2, n1 * sizeof *m1) != 0;
        words_free(&W1), words_free(&W2), free(s);
    }
    check_true(t, disagree == 0, "simple and fast trainers make the same merges on 40 random texts (%d differ)", disagree);
    Words W1 = words_count(r->uni, split_gpt2, (const uint8_t *)r->train.text, r->train.len);
    Words W2 = words_count(r->uni, split_gpt2, (const uint8_t *)r->train.text, r->train.len);
    Merge *m1 = xmalloc_array(400, sizeof *m1), *m2 = xmalloc_array(400, sizeof *m2);
    uint32_t n1 = train_simple(&W1, 400, m1, NULL), n2 = train_fast(&W2, 400, m2, NULL);
    check_true(t, n1 == 400 && n1 == n2 && memcmp(m1, m2, n1 * sizeof *m1) == 0,
               "simple and fast trainers make the same 400 merges on Brown's (quick) training text");
    bool lens = true;
    for (size_t w = 0; w < W1.n; w++) lens &= W1.w[w].len == W2.w[w].len;
    check_true(t, lens, "and leave every word with the same tokens");
    words_free(&W1), words_free(&W2), free(m1), free(m2);
}

/* ---- UTF-8 and the pre-tokenizers ------------------------------------------- */

static int utf8_encode(uint32_t c, uint8_t *b) {
    if (c < 0x80) return b[0] = (uint8_t)c, 1;
    if (c < 0x800) return b[0] = (uint8_t)(0xC0 | c / 64), b[1] = (uint8_t)(0x80 | (c & 63)), 2;
    if (c < 0x10000)
        return b[0] = (uint8_t)(0xE0 | c / 4096), b[1] = (uint8_t)(0x80 | (c / 64 & 63)), b[2] = (uint8_t)(0x80 | (c & 63)), 3;
    b[0] = (uint8_t)(0xF0 | c / 262144), b[1] = (uint8_t)(0x80 | (c / 4096 & 63));
    b[2] = (uint8_t)(0x80 | (c / 64 & 63)), b[3] = (uint8_t)(0x80 | (c & 63));
    return 4;
}

static void test_utf8(Check *t) {
    size_t bad = 0;
    for (uint32_t c = 0; c < UNICODE_SIZE; c++) {
        if (c >= 0xD800 && c <= 0xDFFF) continue;
        uint8_t b[4];
        int n = utf8_encode(c, b);
        uint32_t got;
        bad += utf8_decode(b, (size_t)n, 0, &got) != n || got != c;
    }
    check_true(t, bad == 0, "every code point's UTF-8 decodes to itself (%zu fail)", bad);
    static const char *const invalid[] = {"\x80", "\xbf", "\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf", "\xe0\x9f\xbf",
                                          "\xed\xa0\x80", "\xed\xbf\xbf", "\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80",
                                          "\xf5\x80\x80\x80", "\xff", "\xfe", "\xe2\x82", "\xf0\x9f\x98", "\xc3"};
    int ok = 0, n = (int)(sizeof invalid / sizeof invalid[0]);
    for (int i = 0; i < n; i++) {
        uint32_t cp;
        ok += utf8_decode((const uint8_t *)invalid[i], strlen(invalid[i]), 0, &cp) == 1 && cp == UTF8_INVALID;
    }
    check_true(t, ok == n, "overlong forms, surrogates, > U+10FFFF, stray and cut-short sequences are one invalid byte (%d of %d)",
               ok, n);
}

static size_t pieces_of(const Run *r, SplitFn f, const char *s, size_t *out, size_t cap) {
    size_t n = strlen(s), k = 0;
    for (size_t i = 0; i < n && k < cap;) {
        size_t e = f(r->uni, (const uint8_t *)s, n, i);
        out[k++] = e - i, i = e;
    }
    return k;
}

static void test_splitters_by_hand(Check *t, Run *r) {
    static const struct { SplitFn f; const char *name, *text; size_t lens[12]; } CASES[] = {
        {split_gpt2, "gpt2", "a  b", {1, 1, 2}},
        {split_gpt2, "gpt2", "don't\n\nThe", {3, 2, 1, 1, 3}},
        {split_gpt2, "gpt2", " 1961, 42", {5, 1, 3}},
        {split_gpt2, "gpt2", "x   ", {1, 3}},
        {split_cl100k, "cl100k", "12345 (word", {3, 2, 2, 4}},
        {split_cl100k, "cl100k", "DON'T\n\n x", {3, 2, 2, 2}},
        {split_o200k, "o200k", "HelloWorld don't", {5, 5, 6}},
        {split_o200k, "o200k", "ABC a.\n/x", {3, 2, 3, 1}},
    };
    for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++) {
        size_t got[16], n = pieces_of(r, CASES[c].f, CASES[c].text, got, 16), k = 0;
        while (k < 12 && CASES[c].lens[k]) k++;
        bool same = n == k;
        for (size_t i = 0; i < n && same; i++) same = got[i] == CASES[c].lens[i];
        check_true(t, same, "%s pre-tokenizer by hand on \"%s\"", CASES[c].name, CASES[c].text);
    }
}

/* ---- Encoding ----------------------------------------------------------------- */

static bool same_ids(const IdVec *a, const IdVec *b) { return a->n == b->n && memcmp(a->v, b->v, a->n * 4) == 0; }

static void test_gpt2_by_hand(Check *t, Run *r) {
    Bpe *b = load_tokenizer(r, "gpt2");
    IdVec ids = {0};
    Encoder e;
    encoder_init(&e, true);
    encode_text(b, r->uni, &e, (const uint8_t *)"The jury said", 13, &ids);
    check_true(t, ids.n == 3 && ids.v[0] == 464 && ids.v[1] == 9002 && ids.v[2] == 531,
               "GPT-2: \"The jury said\" is 464 9002 531");
    static const struct { const char *text; size_t n; uint32_t first, second; } INTRO[] = {
        {"Fulton", 2, 37, 37944}, {" Fulton", 1, 44373, 0}, {"                    x", 20, 220, 220}};
    for (int k = 0; k < 3; k++) {
        ids.n = 0;
        encode_text(b, r->uni, &e, (const uint8_t *)INTRO[k].text, strlen(INTRO[k].text), &ids);
        check_true(t, ids.n == INTRO[k].n && ids.v[0] == INTRO[k].first && (ids.n < 2 || ids.v[1] == INTRO[k].second),
                   "GPT-2: \"%s\" is %zu token(s) (the chapter's opening)", INTRO[k].text, INTRO[k].n);
    }
    check_true(t, b->nvocab == 50256 && b->vocab_size == 50257 && b->nmerges == 50000 && b->whole_pieces,
               "GPT-2: 50,256 ordinary tokens, 50,257 ids, 50,000 merges, every token encodes to itself");
    bool id_rank = true;
    for (uint32_t k = 0; k < b->nmerges; k++) id_rank &= b->merges[k].token == 256 + k;
    check_true(t, id_rank, "GPT-2: the id of merge r's token is 256 + r");
    Bpe *g = load_tokenizer(r, "gpt2-ranks");
    check_true(t, g->nmerges == b->nmerges && memcmp(g->merges, b->merges, b->nmerges * sizeof *b->merges) == 0,
               "the merges derived from js-tiktoken's gpt2 ranks are vocab.bpe's, in order");
    for (int k = 2; k < 4; k++) {
        Bpe *x = load_tokenizer(r, k == 2 ? "cl100k" : "o200k");
        check_true(t, x->whole_pieces && x->nmerges + 256 == x->nvocab, "%s: every token encodes to itself; one merge per multi-byte token",
                   x->name);
    }
    idvec_free(&ids), encoder_free(&e);
}

static void test_encoders_agree(Check *t, Run *r) {
    size_t na, ns;
    char *adv = adversarial_text(3, true, &na), *sotu = text_named(r, "sotu", &ns);
    const char *names[] = {"gpt2", "cl100k", "o200k"};
    for (int k = 0; k < 3; k++) {
        Bpe *b = load_tokenizer(r, names[k]);
        const struct { const char *what; const uint8_t *s; size_t n; } texts[] = {
            {"Brown", (const uint8_t *)r->train.text, r->train.len < 200000 ? r->train.len : 200000},
            {"the adversarial text", (const uint8_t *)adv, na}, {"the addresses", (const uint8_t *)sotu, ns}};
        for (int x = 0; x < 3; x++) {
            IdVec plain = {0}, cached = {0}, nocache = {0}, par = {0}, cut = {0};
            bpe_encode_plain(b, r->uni, texts[x].s, texts[x].n, &plain);
            Encoder e1, e2;
            encoder_init(&e1, true), encoder_init(&e2, false);
            encode_text(b, r->uni, &e1, texts[x].s, texts[x].n, &cached);
            encode_text(b, r->uni, &e2, texts[x].s, texts[x].n, &nocache);
            encode_parallel(b, r->uni, texts[x].s, texts[x].n, 3, &par, NULL);
            size_t cuts[64], nc = safe_cuts(texts[x].s, texts[x].n, 40, cuts);
            for (size_t j = 0; j < nc; j++) encode_text(b, r->uni, &e1, texts[x].s + cuts[j], cuts[j + 1] - cuts[j], &cut);
            check_true(t, same_ids(&plain, &cached) && same_ids(&plain, &nocache) && same_ids(&plain, &par) && same_ids(&plain, &cut),
                       "%s on %s: plain = fast with and without cache = 3 threads = %zu parts cut at safe places", names[k],
                       texts[x].what, nc);
            size_t dl;
            uint8_t *back = bpe_decode(b, plain.v, plain.n, &dl);
            check_true(t, dl == texts[x].n && memcmp(back, texts[x].s, dl) == 0, "%s on %s: decode(encode(x)) = x", names[k],
                       texts[x].what);
            free(back), encoder_free(&e1), encoder_free(&e2);
            idvec_free(&plain), idvec_free(&cached), idvec_free(&nocache), idvec_free(&par), idvec_free(&cut);
        }
    }
    free(adv), free(sotu);
}

static void test_long_pieces(Check *t, Run *r) {
    Bpe *b = load_tokenizer(r, "gpt2");
    Rng rng;
    rng_seed(&rng, 8);
    Encoder e;
    encoder_init(&e, false);
    int bad = 0, tries = 300;
    const char *alpha[] = {" ", "a", "e", "t", "h", "\n", "1", "'", "\xc3\xa9", "\xe4\xb8\xad", "\xff"};
    for (int k = 0; k < tries; k++) {
        size_t n = 0, want = 1 + rng_below(&rng, k < 200 ? 80 : 3000);
        uint8_t *p = xmalloc(want * 3 + 4);
        int A = 1 + (int)rng_below(&rng, 11);
        while (n < want) {
            const char *a = alpha[rng_below(&rng, (uint64_t)A)];
            memcpy(p + n, a, strlen(a)), n += strlen(a);
        }
        encoder_reserve(&e, n);
        uint32_t *s1 = xmalloc_array(n, 4), *rk = xmalloc_array(n, 4);
        size_t k1 = merge_short(b, p, n, s1, rk), k2 = merge_long(b, &e, p, n);
        bad += k1 != k2 || memcmp(s1, e.sym, k1 * 4) != 0;
        free(s1), free(rk), free(p);
    }
    check_true(t, bad == 0, "the heap merge equals the scanning merge on %d random pieces up to 3,000 bytes (%d differ)", tries, bad);
    /* decode inverts encode on arbitrary bytes */
    int fails = 0;
    for (int k = 0; k < 200; k++) {
        size_t n = rng_below(&rng, 300);
        uint8_t *p = xmalloc(n + 1);
        for (size_t i = 0; i < n; i++) p[i] = (uint8_t)rng_below(&rng, 256);
        IdVec ids = {0};
        encode_text(b, r->uni, &e, p, n, &ids);
        size_t dl;
        uint8_t *back = bpe_decode(b, ids.v, ids.n, &dl);
        fails += dl != n || memcmp(back, p, n) != 0;
        free(back), free(p), idvec_free(&ids);
    }
    check_true(t, fails == 0, "decode(encode(x)) = x for 200 strings of random bytes (%d fail)", fails);
    encoder_free(&e);
}

/* ---- Files ------------------------------------------------------------------------ */

static void bad_tokenizer(void *path) { bpe_load_file(path); }

static void test_files(Check *t, Run *r, const char *dir) {
    Words W = words_count(r->uni, split_gpt2, (const uint8_t *)r->train.text, r->train.len);
    Merge m[500];
    uint32_t done = train_fast(&W, 500, m, NULL);
    Bpe *b = bpe_from_merges("t", "gpt2", m, done);
    char *path = xasprintf("%s/t.bpe", dir);
    bpe_save(b, path);
    Bpe *c = bpe_load_file(path);
    check_true(t, c->nmerges == b->nmerges && memcmp(c->merges, b->merges, b->nmerges * sizeof *b->merges) == 0 &&
                      c->whole_pieces == b->whole_pieces,
               "a saved tokenizer loads with the same merges");
    static const struct { const char *content, *needle; } BAD[] = {
        {"hello\n", "not a tokenizer file"}, {"ch10-bpe 2\npre-tokenizer gpt2\nmerges 0\n", "version 2"},
        {"ch10-bpe 1\npre-tokenizer bogus\nmerges 0\n", "unknown pre-tokenizer"},
        {"ch10-bpe 1\npre-tokenizer gpt2\nmerges 2\n32 116\n", "merge 2"},
        {"ch10-bpe 1\npre-tokenizer gpt2\nmerges 1\n300 1\n", "does not exist yet"}};
    for (size_t k = 0; k < sizeof BAD / sizeof BAD[0]; k++) {
        char *p = xasprintf("%s/bad%zu.bpe", dir, k);
        write_file(p, BAD[k].content, strlen(BAD[k].content));
        expect_die(t, bad_tokenizer, p, BAD[k].needle, "a damaged tokenizer file is refused in one line");
        free(p);
    }
    /* token files: tokenize --input, then read back */
    char *in = xasprintf("%s/in.txt", dir), *out = xasprintf("%s/in.tok", dir);
    write_file(in, r->val.text, r->val.len);
    r->input = in, r->output = out, r->tokenizer = "gpt2";
    experiment_tokenize(r);
    r->input = r->output = NULL;
    size_t n;
    uint32_t vs;
    char err[256];
    uint32_t *ids = tokens_read(out, &n, &vs, err, sizeof err);
    IdVec direct = {0};
    Encoder e;
    encoder_init(&e, true);
    encode_text(load_tokenizer(r, "gpt2"), r->uni, &e, (const uint8_t *)r->val.text, r->val.len, &direct);
    check_true(t, ids && vs == 50257 && n == direct.n && memcmp(ids, direct.v, n * 4) == 0,
               "tokenize --input writes a token file (vocabulary 50,257) that reads back as the encoding");
    free(ids), idvec_free(&direct), encoder_free(&e), free(in), free(out);
    /* the corpus's three splits, as the later chapters read them */
    check_true(t, experiment_tokenize(r) == 0, "tokenize writes the three splits' token files");
    const DataSplit *split[3] = {&r->train, &r->val, &r->test};
    static const char *const SPLIT[3] = {"train", "val", "test"};
    for (int k = 0; k < 3; k++) {
        char *p = xasprintf("%s/brown-gpt2-%s.tok", r->tokens_dir, SPLIT[k]);
        uint32_t *got = tokens_read(p, &n, &vs, err, sizeof err);
        IdVec want = {0};
        encoder_init(&e, true);
        encode_text(load_tokenizer(r, "gpt2"), r->uni, &e, (const uint8_t *)split[k]->text, split[k]->len, &want);
        check_true(t, got && vs == 50257 && n == want.n && memcmp(got, want.v, n * 4) == 0,
                   "%s: the %s split's token file reads back as its encoding (%zu tokens)", p, SPLIT[k], want.n);
        free(got), free(p), idvec_free(&want), encoder_free(&e);
    }
    bpe_free(b), bpe_free(c), words_free(&W), free(path);
}

/* ---- The unigram tokenizer ---------------------------------------------------------- */

/* log sum over all segmentations of s[i..n) and the best one's score, by recursion. */
static void brute(const Unigram *u, const uint8_t *s, size_t n, size_t i, double acc, double *lse, double *best) {
    if (i == n) { *lse = log_add(*lse, acc), *best = acc > *best ? acc : *best; return; }
    for (size_t l = 1; l <= (size_t)u->maxlen && i + l <= n; l++) {
        uint32_t id = strmap_find(&u->pieces, s + i, l);
        if (id != NONE) brute(u, s, n, i + l, acc + u->logp[id], lse, best);
    }
}

static void test_unigram(Check *t) {
    static const char *const words[] = {" the", " then", " there", " these", " other", " unhappiness", " happy", " un"};
    static const uint64_t counts[] = {50, 10, 8, 6, 7, 1, 3, 2};
    Words W = words_from(words, counts, 8);
    const uint8_t *text[8];
    for (int i = 0; i < 8; i++) text[i] = (const uint8_t *)words[i];
    Unigram *u = unigram_seed(&W, text, 40);
    Rng rng;
    rng_seed(&rng, 2);
    for (uint32_t id = 0; id < u->pieces.n; id++) u->logp[id] = log(0.01 + rng_uniform(&rng));
    int bad = 0;
    double alpha[32], beta[32], score[32], *exp_ = xcalloc(u->pieces.n, 8);
    uint32_t seg[32], back[32];
    for (int i = 0; i < 8; i++) {
        size_t n = strlen(words[i]);
        double lse = -INFINITY, best = -INFINITY, vit = 0;
        brute(u, text[i], n, 0, 0, &lse, &best);
        double fb = unigram_expect(u, text[i], n, 1, exp_, alpha, beta);
        size_t k = unigram_viterbi(u, text[i], n, seg, score, back);
        for (size_t j = 0; j < k; j++) vit += u->logp[seg[j]];
        bad += fabs(fb - lse) > 1e-9 || fabs(vit - best) > 1e-9;
    }
    check_true(t, bad == 0, "forward = log-sum over all segmentations, Viterbi = the best one, by brute force (%d fail)", bad);
    unigram_em(u, &W, text, exp_);              /* from here on the probabilities sum to one */
    double prev = -INFINITY;
    int fell = 0;
    for (int it = 0; it < 8; it++) {
        double ll = unigram_em(u, &W, text, exp_);
        fell += ll < prev - 1e-9 * fabs(prev), prev = ll;
    }
    check_true(t, fell == 0, "EM never lowers the likelihood (8 steps from normalized probabilities, fixed vocabulary)");
    free(exp_), unigram_free(u), words_free(&W);
}

/* ---- The cost of a vocabulary ---------------------------------------------------------------- */

static void test_cost(Check *t) {
    CostFit f = {1.2, 0.3};
    for (size_t k = 0; k < sizeof COST_MODELS / sizeof COST_MODELS[0]; k++) {
        const CostModel *m = &COST_MODELS[k];
        double v = optimal_vocab(m, f), h = v * 1e-4;
        double d = (cost_per_byte(m, f, v + h) - cost_per_byte(m, f, v - h)) / (2 * h);
        double scale = cost_per_byte(m, f, v) / v;
        check_true(t, fabs(d) < 1e-6 * scale && cost_per_byte(m, f, v * 1.2) > cost_per_byte(m, f, v) &&
                          cost_per_byte(m, f, v / 1.2) > cost_per_byte(m, f, v),
                   "%s: F'(V*) = 0 by central differences and V* = %.0f is a minimum", m->name, v);
        double lo = cost_crossing(m, f, v, 1.05, -1), hi = cost_crossing(m, f, v, 1.05, +1), best = cost_per_byte(m, f, v);
        check_true(t, lo < v && v < hi && fabs(cost_per_byte(m, f, lo) / best - 1.05) < 1e-9 &&
                          fabs(cost_per_byte(m, f, hi) / best - 1.05) < 1e-9,
                   "%s: F = 1.05 F(V*) at V = %.0f and %.0f, on either side of V*", m->name, lo, hi);
    }
    CostModel ex5 = {"exercise 5", "ex5", 24, 1024, 8192};
    double v1 = optimal_vocab_rounds(&ex5, f, 50000, 1), v2 = optimal_vocab_rounds(&ex5, f, v1, 1);
    check_true(t, fabs(v2 - optimal_vocab_rounds(&ex5, f, 50000, 2)) < 1e-9 * v2 &&
                      fabs(optimal_vocab_rounds(&ex5, f, 50000, 6) - optimal_vocab(&ex5, f)) < 1e-3 * optimal_vocab(&ex5, f),
               "exercise 5: rounds compose, and six rounds are within 0.1%% of the fixed point");
}

/* ---- Bits per byte ---------------------------------------------------------------------------- */

/* A model whose logits are all equal gives every token probability 1/V: its code for a text of n tokens
 * and N bytes is n log2 V bits, so bits per byte are log2(V) n / N whatever the tokens are. */
static void test_bits_per_byte(Check *t, Run *r) {
    Words W = words_count(r->uni, split_gpt2, (const uint8_t *)r->train.text, r->train.len);
    Merge m[300];
    uint32_t done = train_fast(&W, 300, m, NULL);
    Bpe *b = bpe_from_merges("t", "gpt2", m, done);
    IdVec ids = {0};
    encode_parallel(b, r->uni, (const uint8_t *)r->val.text, 20000, 1, &ids, NULL);
    Rng rng;
    rng_seed(&rng, 1);
    TokenMlp *net = tmlp_new((int)b->nvocab, 5, 4, 8, 16, &rng);
    memset(net->params, 0, net->n * sizeof *net->params);
    double got = tmlp_bits_per_byte(net, b, ids.v, ids.n), bytes = 0;
    for (size_t i = 5; i < ids.n; i++) {
        size_t len;
        strmap_key(&b->tokens, ids.v[i], &len), bytes += (double)len;
    }
    double want = log2((double)b->nvocab) * (double)(ids.n - 5) / bytes;
    check_true(t, fabs(got - want) < 1e-5 * want, "bits per byte of the uniform model: %.6f = log2(%u) n / N = %.6f", got,
               b->nvocab, want);
    tmlp_free(net), idvec_free(&ids), bpe_free(b), words_free(&W);
}

/* ---- The experiments, quick ----------------------------------------------------------------------- */

static void test_quick_experiments(Check *t, Run *r) {
    static int (*const run[])(void *) = {experiment_compress, experiment_train, experiment_trainers, experiment_spm,
                                         experiment_speed, experiment_sweep, experiment_bits, experiment_patho,
                                         experiment_unigram};
    for (size_t k = 0; k < sizeof run / sizeof run[0]; k++) check_true(t, run[k](r) == 0, "quick experiment %zu runs", k);
    const char *dir = r->c.out;
    TsvTable *h = load(t, dir, "ch10-huffman");
    if (h) {
        double H = num(t, h, 1, "bits"), huff = num(t, h, 3, "bits"), kraft = num(t, h, 3, "kraft");
        check_true(t, H > 3 && H <= huff && huff < H + 1 && fabs(kraft - 1) < 1e-9, "ch10-huffman: H <= Huffman < H + 1, Kraft = 1");
        tsv_free(h);
    }
    TsvTable *mg = load(t, dir, "ch10-merges");
    if (mg) {
        bool up = true;
        for (size_t i = 1; i < tsv_rows(mg); i++) up &= num(t, mg, i, "bytes_per_token") >= num(t, mg, i - 1, "bytes_per_token");
        check_true(t, up && strcmp(tsv_cell(mg, 0, tsv_col(mg, "token")), "␣t") == 0,
                   "ch10-merges: the first merge is ␣t, and bytes per token only grow");
        tsv_free(mg);
    }
    TsvTable *tr = load(t, dir, "ch10-trainers");
    if (tr) {
        bool same = true;
        for (size_t i = 0; i < tsv_rows(tr); i++) same &= num(t, tr, i, "same") == 1;
        check_true(t, same && tsv_rows(tr) >= 2, "ch10-trainers: both trainers agree at every size");
        tsv_free(tr);
    }
    TsvTable *tm = load(t, dir, "ch10-trainers-merges");
    if (tm) {
        bool same = tsv_rows(tm) == 3;
        for (size_t i = 0; i < tsv_rows(tm); i++)
            same &= num(t, tm, i, "same") == 1 && num(t, tm, i, "vocab") == 256 + num(t, tm, i, "merges");
        check_true(t, same && num(t, tm, 2, "merges") == 200,
                   "ch10-trainers-merges: both trainers agree at 50, 100 and 200 merges");
        tsv_free(tm);
    }
    TsvTable *sp = load(t, dir, "ch10-spm");
    if (sp) {
        double share = num(t, sp, tsv_rows(sp) - 1, "share");
        check_true(t, share > 0.5 && share <= 1, "ch10-spm: most of our tokens are SentencePiece's too (%.2f)", share);
        tsv_free(sp);
    }
    TsvTable *sd = load(t, dir, "ch10-speed");
    if (sd) {
        bool same = true;
        for (size_t i = 0; i < tsv_rows(sd); i++) same &= num(t, sd, i, "same_ids") == 1 && num(t, sd, i, "mb_per_s") > 0;
        check_true(t, same, "ch10-speed: every encoder timed gives the same ids");
        tsv_free(sd);
    }
    TsvTable *sw = load(t, dir, "ch10-sweep");
    if (sw) {
        bool up = true;
        for (size_t i = 1; i < tsv_rows(sw); i++) up &= num(t, sw, i, "bytes_per_token_test") > num(t, sw, i - 1, "bytes_per_token_test");
        check_true(t, up && fabs(num(t, sw, 0, "bytes_per_token_test") - 1) < 1e-9,
                   "ch10-sweep: 256 tokens are bytes (1 byte per token), and larger vocabularies compress more");
        tsv_free(sw);
    }
    TsvTable *pp = load(t, dir, "ch10-bits");
    if (pp) {
        double b0 = num(t, pp, 0, "test_bits_per_byte");
        check_true(t, isfinite(b0) && b0 > 0.5 && b0 < 8, "ch10-bits: bits per byte are sane (%.2f)", b0);
        tsv_free(pp);
    }
    TsvTable *nm = load(t, dir, "ch10-numbers");
    if (nm) {
        bool one = true;
        for (size_t i = 0; i < 10; i++) one &= num(t, nm, i, "gpt2") == 1 && num(t, nm, i, "o200k") == 2;
        check_true(t, one && num(t, nm, 1234, "o200k") == 3 && num(t, nm, 999, "cl100k") == 2,
                   "ch10-numbers: \" 0\" .. \" 9\" one GPT-2 token; in o200k a space and groups of three digits");
        tsv_free(nm);
    }
    TsvTable *ug = load(t, dir, "ch10-unigram");
    if (ug) {
        double l0 = num(t, ug, 1, "ll_first"), l1 = num(t, ug, 1, "ll_last");
        check_true(t, l1 >= l0 - 1e-6 * fabs(l0), "ch10-unigram: training raised the likelihood (%.6g -> %.6g)", l0, l1);
        tsv_free(ug);
    }
}

static void test_exact_quick(Check *t, Run *r) {
    r->texts = "adversarial,brown";
    check_true(t, experiment_exact(r) == 0, "exact --quick on the adversarial text and Brown runs");
    TsvTable *ex = load(t, r->c.out, "ch10-exact");
    if (ex) {
        bool zero = tsv_rows(ex) == 8;
        for (size_t i = 0; i < tsv_rows(ex); i++) zero &= num(t, ex, i, "mismatches") == 0 && num(t, ex, i, "roundtrip") == 1;
        check_true(t, zero, "ch10-exact: our ids equal all four references' on both texts, and decode round-trips");
        tsv_free(ex);
    }
    TsvTable *iv = load(t, r->c.out, "ch10-invalid");
    if (iv) {
        bool zero = tsv_rows(iv) == 3;
        for (size_t i = 0; i < tsv_rows(iv); i++) zero &= num(t, iv, i, "mismatches") == 0 && num(t, iv, i, "roundtrip") == 1 &&
                                                       num(t, iv, i, "invalid") > 100;
        check_true(t, zero, "ch10-invalid: pieces of invalid UTF-8 fall where the references put U+FFFD's; round trips");
        tsv_free(iv);
    }
    TsvTable *uc = load(t, r->c.out, "ch10-unicode");
    if (uc) {
        check_true(t, num(t, uc, 0, "disagree") == 0 && num(t, uc, 0, "assigned") > 280000,
                   "ch10-unicode: our classes equal JavaScript's on every assigned code point");
        tsv_free(uc);
    }
}

/* ---- The solutions to the coding exercises ------------------------------------------------ */

static void test_solutions(Check *t, Run *r) {
    size_t got[16], n = pieces_of(r, split_gpt2_digits, " 1234 and 56.", got, 16);
    check_true(t, n == 8 && got[0] == 2 && got[1] == 1 && got[3] == 1 && got[4] == 4 && got[5] == 2,
               "solution 6: \" 1234 and 56.\" cuts into ' 1' '2' '3' '4' ' and' ' 5' '6' '.'");
    size_t a[64], b2[64], na = pieces_of(r, split_gpt2_digits, "The jury said, 'no.'", a, 64),
                          nb = pieces_of(r, split_gpt2, "The jury said, 'no.'", b2, 64);
    check_true(t, na == nb && memcmp(a, b2, na * sizeof *a) == 0, "solution 6: text without digits cuts as before");
    Bpe *b = load_tokenizer(r, "gpt2");
    size_t digits = 0, whole = 0;               /* tokens of " 0" .. " 9999": one digit per piece, and GPT-2's own cut */
    for (int v = 0; v < 10000; v++) {
        char num_text[16];
        snprintf(num_text, sizeof num_text, " %d", v);
        for (int way = 0; way < 2; way++) {
            size_t lens[8], np = pieces_of(r, way ? split_gpt2 : split_gpt2_digits, num_text, lens, 8), at = 0;
            for (size_t k = 0; k < np; k++) {
                uint32_t sym[8], rk[8];
                size_t nt = merge_short(b, (const uint8_t *)num_text + at, lens[k], sym, rk);
                *(way ? &whole : &digits) += nt, at += lens[k];
            }
        }
    }
    check_true(t, digits == 38890 && whole == 19533,
               "solution 6: \" 0\" .. \" 9999\" take 38,890 GPT-2 tokens one digit per piece, 19,533 as GPT-2 cuts them "
               "(got %zu, %zu)", digits, whole);
    Rng rng;
    rng_seed(&rng, 12);
    int same0 = 0, bytes1 = 0, tries = 200;
    for (int k = 0; k < tries; k++) {
        size_t len = 1 + rng_below(&rng, 40);
        uint8_t p[64];
        for (size_t i = 0; i < len; i++) p[i] = (uint8_t)(" etaoinshrd"[rng_below(&rng, 11)]);
        uint32_t s1[64], s2[64], rk[64];
        size_t k1 = merge_short(b, p, len, s1, rk), k2 = merge_dropout(b, p, len, s2, 0, &rng);
        same0 += k1 == k2 && memcmp(s1, s2, k1 * 4) == 0;
        bytes1 += merge_dropout(b, p, len, s2, 1, &rng) == len;
    }
    check_true(t, same0 == tries && bytes1 == tries, "solution 7: dropout 0 is plain BPE, dropout 1 leaves bytes (%d, %d of %d)",
               same0, bytes1, tries);
    size_t greedy = 0, bpe = 0, shorter = 0, longer = 0, bad = 0;
    const uint8_t *s = (const uint8_t *)r->val.text;
    uint32_t g[4096], q[4096], rk[4096];
    for (size_t i = 0; i < r->val.len;) {
        size_t e = split_gpt2(r->uni, s, r->val.len, i), len = e - i;
        if (len <= 4096) {
            size_t kg = encode_longest_match(b, s + i, len, g), kb = merge_short(b, s + i, len, q, rk);
            greedy += kg, bpe += kb, shorter += kg < kb, longer += kg > kb;
            size_t dl;
            uint8_t *back = bpe_decode(b, g, kg, &dl);
            bad += dl != len || memcmp(back, s + i, len) != 0;
            free(back);
        }
        i = e;
    }
    check_true(t, bad == 0 && shorter > 0 && longer > 0 && fabs((double)greedy / (double)bpe - 1) < 0.02,
               "solution 8: greedy decodes back; it is shorter on %zu pieces and longer on %zu; %zu tokens against BPE's %zu",
               shorter, longer, greedy, bpe);
    static const struct { const char *piece; size_t greedy, bpe; } EX[] = {{" committeewoman", 2, 4}, {" Prentice", 3, 2}};
    for (int k = 0; k < 2; k++) {
        size_t len = strlen(EX[k].piece), kg = encode_longest_match(b, (const uint8_t *)EX[k].piece, len, g),
               kb = merge_short(b, (const uint8_t *)EX[k].piece, len, q, rk);
        check_true(t, kg == EX[k].greedy && kb == EX[k].bpe, "solution 8: \"%s\" is %zu tokens greedily, %zu by BPE (got %zu, %zu)",
                   EX[k].piece, EX[k].greedy, EX[k].bpe, kg, kb);
    }
}

static void test_corpus_label(Check *t) {
    static const char *const CASES[][2] = {{"brown", "brown"}, {"/tmp/x/sotu.txt", "sotu"}, {"a.b/c", "c"},
                                           {"dir/.hidden", ".hidden"}, {"notes.v2.txt", "notes.v2"}};
    bool ok = true;
    for (int k = 0; k < 5; k++) {
        Run r = {0};
        r.c.data = CASES[k][0];
        ok &= strcmp(corpus_label(&r), CASES[k][1]) == 0;
    }
    check_true(t, ok, "sweep names its rows after --data: brown, /tmp/x/sotu.txt -> sotu, a.b/c -> c, ...");
}

static void test_command_line(Check *t, const char *dir) {
    char *garbage = xasprintf("%s/garbage.bpe", dir);
    write_file(garbage, "nonsense\n", 9);
    char *enc = xasprintf("encode --tokenizer %s", garbage);
    const ProgramCase cases[] = {
        {"encode --tokenizer /nonexistent/t.bpe", 1, "/nonexistent/t.bpe"},
        {enc, 1, "not a tokenizer file"},
        {"train --vocab 10", 2, "--vocab"},
        {"text --texts bogus", 1, "unknown text 'bogus'"},
        {"encode --unicode /nonexistent/UnicodeData.txt", 1, "unicode-data"},
        {"tokenise", 2, "unknown experiment"},
        {"train --data /nonexistent/file.txt", 1, "/nonexistent/file.txt"},
        {"--help", 0, "usage"},
    };
    expect_programs(t, "ch10-tokenization", cases, sizeof cases / sizeof cases[0]);
    free(enc), free(garbage);
}

int main(void) {
    Check t;
    check_init(&t, "ch10");
    setenv("NO_PROGRESS", "1", 1);
#ifdef _OPENMP
    omp_set_num_threads(1);      /* the small matrix products of the quick runs; encode_parallel still asks for its own */
#endif
    char dir[] = "/tmp/test-ch10-XXXXXX";
    if (!mkdtemp(dir)) die("cannot make a temporary directory");
    Run r = {.tokenizer = "gpt2", .text = "The jury said", .unicode = UNICODE_DATA, .tokens_dir = dir,
             .model = NULL, .texts = "adversarial", .tokenizers = "gpt2,cl100k,o200k", .vocab = 600};
    char *model = xasprintf("%s/brown.bpe", dir);
    r.model = model;
    quick_common(&r.c, "test_ch10", dir);
    r.c.threads = 2;
    load_corpus(&r);
    test_codes(&t);
    test_worked_example(&t);
    test_trainers_agree(&t, &r);
    test_utf8(&t);
    test_splitters_by_hand(&t, &r);
    test_gpt2_by_hand(&t, &r);
    test_encoders_agree(&t, &r);
    test_long_pieces(&t, &r);
    test_files(&t, &r, dir);
    test_unigram(&t);
    test_cost(&t);
    test_bits_per_byte(&t, &r);
    test_quick_experiments(&t, &r);
    test_exact_quick(&t, &r);
    test_solutions(&t, &r);
    test_corpus_label(&t);
    unload_all(&r);
    cli_free(&r.c);
    test_command_line(&t, dir);
    remove_tree(dir);
    free(model);
    return check_summary(&t);
}
