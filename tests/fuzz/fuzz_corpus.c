/* fuzz_corpus.c -- loading a text file as a corpus (corpus_try_load: any
 * bytes, invalid UTF-8, NUL bytes, empty files, one enormous line), then
 * what a program does next with it: the train/validation/test split and the
 * byte vocabulary; and the Brown cleaner (corpus_clean_brown) on the same bytes,
 * since a damaged installation feeds it anything. */
#include "corpus.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[1024] = "";
    Corpus *volatile c = NULL;
    unsigned long dies = fuzz_dies;
    const char *path = fuzz_file(data, size);
    FUZZ_TRY(c = corpus_try_load(path, err, sizeof err));
    if (!c && fuzz_dies == dies) FUZZ_ONE_LINE(err);
    if (c) {
        FUZZ_ASSERT(c->ndocs == 1 && c->docs[0].offset == 0 && c->docs[0].len == c->len, "one document");
        FUZZ_ASSERT(c->len >= 3 && strlen(c->text) == c->len && memcmp(c->text + c->len - 2, "\n\n", 2) == 0 &&
                        c->text[c->len - 3] != '\n',
                    "the text ends with exactly one blank line");
        double fractions[] = {0, 0.1, 1.0 / 3, size ? data[0] / 766.0 : 0.25};
        for (int f = 0; f < 4; f++) {
            Text tr, va, te;
            corpus_split(c, fractions[f], &tr, &va, &te);
            FUZZ_ASSERT(tr.len + va.len + te.len == c->len && memcmp(tr.text, c->text, tr.len) == 0 &&
                            memcmp(va.text, c->text + tr.len, va.len) == 0 &&
                            memcmp(te.text, c->text + tr.len + va.len, te.len) == 0,
                        "the split of a file cuts it in three, in order (fraction %g)", fractions[f]);
            text_free(&tr), text_free(&va), text_free(&te);
        }
        Vocab v;
        vocab_build(&v, c->text, c->len);
        uint32_t *ids = xmalloc_array(c->len, sizeof *ids);
        char *back = xmalloc(c->len + 1);
        vocab_encode(&v, c->text, c->len, ids);
        vocab_decode(&v, ids, c->len, back);
        FUZZ_ASSERT(memcmp(back, c->text, c->len) == 0, "vocabulary round trip");
        free(ids);
        free(back);
        corpus_free(c);
    }
    size_t out_len = 0;
    char *volatile clean = NULL;
    FUZZ_TRY(clean = corpus_clean_brown((const char *)data, size, &out_len));
    if (clean) FUZZ_ASSERT(out_len == 0 || clean[out_len - 1] == '\n', "a cleaned text ends with a newline");
    free(clean);
    return 0;
}
