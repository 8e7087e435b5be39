/* ckpt.h -- checkpoints as safetensors files.
 *
 * The format (https://github.com/huggingface/safetensors), so that a model
 * trained here loads in any safetensors reader and back:
 *
 *     8 bytes    N, the header length, unsigned little-endian
 *     N bytes    a JSON object, padded with spaces:
 *                {"__metadata__": {"step": "1000", ...},
 *                 "wte": {"dtype": "F32", "shape": [50257, 768], "data_offsets": [0, 154389504]},
 *                 ...}
 *     the rest   the tensors' bytes, little-endian, row-major; each tensor's
 *                data_offsets [begin, end) count from the start of this part
 *
 * Tensors are described by tensor.h's NamedTensor, {name, Tensor}, in both
 * directions: ckpt_save writes a list of them, a loaded Ckpt holds one, and
 * ckpt_read copies a loaded checkpoint into a list the caller describes.
 *
 * Writing.  ckpt_save writes tensors in the order given, back to back, with
 * "__metadata__" first (when there is any) and the header padded to a
 * multiple of 8 bytes, so the data starts 8-aligned.  Given the run's
 * Provenance (provenance.h), the metadata begins with its five values
 * ("command", "device", "threads", "git", "date"), then the caller's pairs.
 * The file is written atomically (util.h): the old file at `path`, if any,
 * stays intact until the new one is complete, and stays intact if writing
 * fails.
 *
 * Reading.  ckpt_parse (bytes in memory) and ckpt_load (a file) check
 * everything before they trust it; a file is refused with one line in err
 * naming the defect when: it is shorter than 8 bytes; the header length is
 * larger than the file or than CKPT_MAX_HEADER (100 MB); the header is not
 * strict JSON of the subset used (objects, arrays, strings with escapes,
 * integers; no floats, true, false or null; valid UTF-8; nesting at most 16
 * deep; arrays of at most 64 items); a key repeats in an object (so tensor names are unique); a
 * tensor's name is empty (ckpt_save refuses one, so a file read can be written back); the top
 * level is not an object; a tensor entry lacks dtype, shape or data_offsets
 * or has other keys; a dtype is not one of tensor.h's; a shape has more than
 * 8 dimensions, a negative dimension, or a byte size that overflows;
 * data_offsets are not two integers with begin <= end <= the data length;
 * end - begin differs from the shape's size; tensors overlap, or leave a gap
 * between them or at either end of the data; __metadata__ is not an object
 * of strings.  Only accepted dtypes are tensor.h's (F32, F64, BF16, F16, I8,
 * U8, I32, I64, and this book's I4X2 and FP4X2).  No input makes either
 * function crash, read out of bounds or run for long (time and memory grow
 * as n log n and n in the header's size): they are fuzzing targets.
 *
 * Reading into a model.  ckpt_read checks a loaded checkpoint against the
 * tensors a program expects (each name present, with the same dtype and
 * shape, and no tensor the program does not expect) and only then copies
 * every one into the caller's memory: all or nothing.
 *
 * Ownership.  A Ckpt and everything in it belong to the Ckpt: names, keys,
 * values and one 64-byte aligned block holding all tensor data (blob); its
 * tensors are contiguous CPU tensors pointing into the blob.  ckpt_free
 * releases it all; pointers into it die with it.  ckpt_save and ckpt_read
 * read the caller's tensors and keep nothing.
 *
 * Failure.  The ckpt_* functions report bad input and I/O errors by
 * returning false or NULL with a one-line message in err (truncated to
 * errlen; err may be NULL), a full disk and an unwritable or missing
 * directory included.  They die (util.h) only when memory runs out. */
#ifndef CKPT_H
#define CKPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "provenance.h"
#include "tensor.h"

#define CKPT_MAX_HEADER (100u * 1000 * 1000)

typedef struct {
    NamedTensor *tensors;  /* in the order of their data in the file */
    size_t n;
    char **keys, **values; /* metadata, nmeta pairs, in header order */
    size_t nmeta;
    void *blob;            /* all tensor data */
} Ckpt;

/* Write n tensors, the provenance (NULL: none) and metadata (meta: key,
 * value, key, value, ..., NULL; or NULL for none) to path.  Checks the
 * tensors as the reader would (names unique, non-empty and valid UTF-8; each
 * tensor contiguous, on the CPU, with data unless empty; no metadata key
 * twice) and returns false with a message if anything is wrong or writing
 * fails. */
bool ckpt_save(const char *path, const NamedTensor *t, size_t n, const Provenance *prov,
               const char *const *meta, char *err, size_t errlen);
/* Parse a whole safetensors file held in memory; copies what it keeps. */
Ckpt *ckpt_parse(const void *buf, size_t len, char *err, size_t errlen);
Ckpt *ckpt_load(const char *path, char *err, size_t errlen);
/* The tensor or metadata value with that name, or NULL. */
const NamedTensor *ckpt_find(const Ckpt *c, const char *name);
const char *ckpt_meta(const Ckpt *c, const char *key);
/* Copy the checkpoint's tensors into the n tensors described by dst (names,
 * dtypes, shapes; contiguous CPU memory to fill), all or nothing: false with
 * one line in err, and nothing copied, when a tensor is missing, has another
 * dtype or shape, or the checkpoint holds one that dst does not name. */
bool ckpt_read(const Ckpt *c, const NamedTensor *dst, size_t n, char *err, size_t errlen);
void ckpt_free(Ckpt *c);  /* NULL is fine */

#endif
