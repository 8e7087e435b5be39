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
 * Writing.  ckpt_save writes tensors in the order given, back to back, with
 * "__metadata__" first (when there is any) and the header padded to a
 * multiple of 8 bytes, so the data starts 8-aligned.  The file is written
 * atomically (util.h): the old file at `path`, if any, stays intact until the
 * new one is complete, and stays intact if writing fails.
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
 * Ownership.  A Ckpt and everything in it belong to the Ckpt: names, keys,
 * values and one 64-byte aligned block holding all tensor data (blob).
 * ckpt_free releases it all; pointers into it die with it.  ckpt_save reads
 * the caller's tensors and keeps nothing.
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

#include "tensor.h"

#define CKPT_MAX_HEADER (100u * 1000 * 1000)

typedef struct {
    char *name;
    DType dtype;
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];
    void *data;            /* nbytes bytes, row-major, contiguous */
    size_t nbytes;         /* numel * dtype_size(dtype) */
} CkptTensor;

typedef struct {
    CkptTensor *tensors;   /* in the order of their data in the file */
    size_t n;
    char **keys, **values; /* metadata, nmeta pairs, in header order */
    size_t nmeta;
    void *blob;            /* all tensor data */
} Ckpt;

/* Write n tensors and metadata (meta: key, value, key, value, ..., NULL; or
 * NULL for none) to path.  Checks the tensors as the reader would (names
 * unique, non-empty and valid UTF-8, shapes and sizes consistent, data
 * present) and returns false with a message if anything is wrong or writing
 * fails. */
bool ckpt_save(const char *path, const CkptTensor *t, size_t n, const char *const *meta, char *err,
               size_t errlen);
/* Parse a whole safetensors file held in memory; copies what it keeps. */
Ckpt *ckpt_parse(const void *buf, size_t len, char *err, size_t errlen);
Ckpt *ckpt_load(const char *path, char *err, size_t errlen);
/* The tensor or metadata value with that name, or NULL. */
const CkptTensor *ckpt_find(const Ckpt *c, const char *name);
const char *ckpt_meta(const Ckpt *c, const char *key);
void ckpt_free(Ckpt *c);  /* NULL is fine */

/* Bridges to tensor.h.  ckpt_tensor_of describes a contiguous CPU tensor for
 * ckpt_save (the name is not copied; dies if the tensor is strided or not
 * on the CPU).  ckpt_as_tensor wraps a loaded tensor's data (owned by the Ckpt). */
CkptTensor ckpt_tensor_of(const char *name, const Tensor *t);
Tensor ckpt_as_tensor(const CkptTensor *t);

#endif
