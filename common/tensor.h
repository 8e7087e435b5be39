/* tensor.h -- element types, arenas with byte accounting, and tensors.
 *
 * Three things, each small on purpose: this is a runtime, not a framework.
 *
 * DType.  The element types of the book, with their sizes and their names as
 * safetensors spells them ("F32", "BF16", "I8", ...).  The two packed 4-bit
 * types hold two values per byte; one *element* of such a tensor is that
 * byte, so its shape counts pairs (dtype_size 1, dtype_values_per_element 2)
 * and how the nibbles are read is up to the chapter that packs them.  Their
 * names "I4X2" and "FP4X2" are this book's: safetensors has none.
 *
 * Conversions.  bf16 and f16 values are stored as their raw uint16_t bits.
 * Every narrowing conversion rounds to nearest, ties to even; it overflows
 * to infinity, produces subnormals where the format has them, keeps the sign
 * of zero, and turns a NaN into a (quiet) NaN of the same sign, never into
 * infinity.  The f64 versions round once (through round-to-odd), never twice.
 * Widening conversions are exact.
 *
 * Arena.  One named block of memory, allocated once, from which tensors are
 * carved by bumping a pointer; each allocation starts on a 64-byte boundary
 * (a cache line, and the widest vector load).  Freeing is wholesale: back to
 * a mark, or to empty.  The arena counts what it hands out -- bytes in use
 * (padding included), bytes asked for, the peak, the number of live
 * allocations -- and chapter 11 prints those numbers.  Ownership: arena_new
 * returns an arena the caller frees with arena_free; memory from arena_alloc
 * belongs to the arena and stays valid until it is released (arena_release_to
 * a mark before it, arena_reset, arena_free).  Builds with AddressSanitizer
 * poison released memory, so a use after release is reported.
 *
 * Tensor.  A small struct passed by value: dtype, device, shape, strides (in
 * elements) and a data pointer it does not own.  tensor_new places the data
 * in an arena, contiguous and row-major (the last index varies fastest),
 * zero-filled; tensor_wrap describes memory owned by someone else;
 * tensor_view and tensor_transpose make new descriptions of the same data.
 *
 * Device.  Every arena and tensor says where its bytes live.  arena_new makes
 * CPU arenas; gpu.h's gpu_arena_new makes device arenas, from which arena_alloc, marks, releases
 * and reports work the same way.  tensor_new on a device arena leaves the
 * data uninitialized (zero it with gpu_zero); arena_alloc_zero and the
 * functions that touch data die on memory that is not on the CPU.
 *
 * Checked runtime errors (one line via die(), exit status 1): an invalid
 * dtype or device value; ndim outside 0..TENSOR_MAX_DIMS; a negative
 * dimension; a shape whose byte size overflows; an arena that runs out (the
 * message names the arena and its numbers); a mark that is not from this
 * arena's past; tensor_f32 on another dtype; a view of a non-contiguous
 * tensor or of a different number of elements; copies between different
 * shapes or incompatible dtypes; a fill value that the dtype cannot hold.
 * Not checked: NULL pointers, and tensors whose data overlap in tensor_copy. */
#ifndef TENSOR_H
#define TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- Element types ---------------------------------------------------------- */

typedef enum {
    DT_F32, DT_F64, DT_BF16, DT_F16, DT_I8, DT_U8, DT_I32, DT_I64,
    DT_I4X2,   /* two signed 4-bit integers per byte */
    DT_FP4X2,  /* two 4-bit floats (e2m1) per byte */
    DT_COUNT
} DType;

typedef enum { DEV_CPU, DEV_CUDA } Device;

size_t dtype_size(DType dt);                 /* bytes per element (packed types: 1) */
int dtype_values_per_element(DType dt);      /* 2 for the packed types, else 1 */
bool dtype_is_float(DType dt);               /* F32, F64, BF16, F16 */
const char *dtype_name(DType dt);            /* "F32", "BF16", "I4X2", ... */
bool dtype_from_name(const char *name, DType *dt);  /* false if the name is unknown */
const char *device_name(Device dev);         /* "cpu", "cuda" */
bool device_from_name(const char *name, Device *dev);  /* false if the name is unknown */

/* ---- Conversions (bits of bf16 and f16 in uint16_t) -------------------------- */

uint16_t f32_to_bf16(float x);
float bf16_to_f32(uint16_t h);
uint16_t f32_to_f16(float x);
float f16_to_f32(uint16_t h);
uint16_t f64_to_bf16(double x);
uint16_t f64_to_f16(double x);
void f32_to_bf16_array(uint16_t *dst, const float *src, size_t n);
void bf16_to_f32_array(float *dst, const uint16_t *src, size_t n);
void f32_to_f16_array(uint16_t *dst, const float *src, size_t n);
void f16_to_f32_array(float *dst, const uint16_t *src, size_t n);

/* ---- Arenas -------------------------------------------------------------------- */

#define ARENA_ALIGN 64

typedef struct {
    char name[48];        /* for messages: "parameters", "activations" */
    Device device;
    unsigned char *base;  /* capacity bytes, ARENA_ALIGN-aligned */
    size_t capacity;
    size_t used;          /* bytes handed out, alignment padding included */
    size_t requested;     /* bytes asked for (used minus the padding) */
    size_t peak;          /* largest `used` ever */
    size_t nallocs;       /* live allocations */
    size_t total_allocs;  /* allocations ever made, releases notwithstanding */
} Arena;

typedef struct { size_t used, requested, nallocs; } ArenaMark;

Arena *arena_new(const char *name, size_t capacity);   /* a CPU arena */
void arena_free(Arena *a);                       /* NULL is fine */
void *arena_alloc(Arena *a, size_t bytes);       /* aligned, contents undefined */
void *arena_alloc_zero(Arena *a, size_t bytes);  /* aligned, zero-filled */
ArenaMark arena_mark(const Arena *a);
void arena_release_to(Arena *a, ArenaMark m);    /* frees everything allocated after the mark */
void arena_reset(Arena *a);                      /* frees everything; the peak is kept */
/* One line: "NAME: USED of CAPACITY bytes in use (REQUESTED asked for), peak PEAK, N allocations". */
void arena_report(const Arena *a, FILE *fp);

/* ---- Tensors ------------------------------------------------------------------- */

#define TENSOR_MAX_DIMS 8

typedef struct {
    DType dtype;
    Device device;
    int ndim;                           /* 0 is a scalar: one element */
    int64_t shape[TENSOR_MAX_DIMS];
    int64_t strides[TENSOR_MAX_DIMS];   /* in elements, not bytes */
    void *data;                         /* not owned */
} Tensor;

/* Contiguous, row-major, data in arena `a` (on a's device); zero-filled on the CPU. */
Tensor tensor_new(Arena *a, DType dt, int ndim, const int64_t *shape);
/* Contiguous description of memory owned by the caller. */
Tensor tensor_wrap(DType dt, Device dev, int ndim, const int64_t *shape, void *data);
int64_t tensor_numel(const Tensor *t);
size_t tensor_nbytes(const Tensor *t);    /* numel * dtype_size */
bool tensor_is_contiguous(const Tensor *t);
float *tensor_f32(const Tensor *t);       /* data as float*: dies unless F32 on the CPU */
/* The same data with another shape; at most one dimension may be -1 (inferred).
 * The tensor must be contiguous and the element counts equal. */
Tensor tensor_view(const Tensor *t, int ndim, const int64_t *shape);
/* The same data with dimensions d0 and d1 swapped (a strided view). */
Tensor tensor_transpose(const Tensor *t, int d0, int d1);
/* Set every element to `value`, rounded to the dtype (floats), or exactly
 * (integers: value must be a whole number in range).  Packed dtypes: dies. */
void tensor_fill(Tensor *t, double value);
/* dst = src, element by element, any strides.  Same shape; the same dtype,
 * or two floating dtypes (converted with the rounding described above). */
void tensor_copy(Tensor *dst, const Tensor *src);
/* "F32[2,3]" into buf (truncated to n bytes); returns buf. */
char *tensor_describe(const Tensor *t, char *buf, size_t n);

/* A tensor with a name: how checkpoints (ckpt.h) and training states
 * (trainstate.h) describe what they write and what they expect to read.
 * The name is not owned: it must outlive the use. */
typedef struct {
    const char *name;    /* "layer0.weight" */
    Tensor t;
} NamedTensor;

#endif
