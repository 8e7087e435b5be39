/* tensor.c -- dtypes, conversions, arenas, tensors; see tensor.h for the contract. */
#include "tensor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* ---- Element types ---------------------------------------------------------- */

static const struct { const char *name; size_t size; int per_element; bool is_float; } DTYPES[DT_COUNT] = {
    [DT_F32] = {"F32", 4, 1, true},     [DT_F64] = {"F64", 8, 1, true},
    [DT_BF16] = {"BF16", 2, 1, true},   [DT_F16] = {"F16", 2, 1, true},
    [DT_I8] = {"I8", 1, 1, false},      [DT_U8] = {"U8", 1, 1, false},
    [DT_I32] = {"I32", 4, 1, false},    [DT_I64] = {"I64", 8, 1, false},
    [DT_I4X2] = {"I4X2", 1, 2, false},  [DT_FP4X2] = {"FP4X2", 1, 2, false},
};

static void check_dtype(DType dt) {
    if ((unsigned)dt >= DT_COUNT) die("invalid dtype value %d", (int)dt);
}

size_t dtype_size(DType dt) { check_dtype(dt); return DTYPES[dt].size; }
int dtype_values_per_element(DType dt) { check_dtype(dt); return DTYPES[dt].per_element; }
bool dtype_is_float(DType dt) { check_dtype(dt); return DTYPES[dt].is_float; }
const char *dtype_name(DType dt) { check_dtype(dt); return DTYPES[dt].name; }

bool dtype_from_name(const char *name, DType *dt) {
    for (int i = 0; i < DT_COUNT; i++)
        if (strcmp(name, DTYPES[i].name) == 0) { *dt = (DType)i; return true; }
    return false;
}

const char *device_name(Device dev) {
    switch (dev) {
    case DEV_CPU: return "cpu";
    case DEV_CUDA: return "cuda";
    }
    die("invalid device value %d", (int)dev);
}

bool device_from_name(const char *name, Device *dev) {
    if (strcmp(name, "cpu") == 0) { *dev = DEV_CPU; return true; }
    if (strcmp(name, "cuda") == 0) { *dev = DEV_CUDA; return true; }
    return false;
}

/* ---- Conversions -------------------------------------------------------------- */

static uint32_t f32_bits(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }
static float f32_from_bits(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }

/* bf16 is the top half of an f32.  Rounding to nearest even: add 0x7fff plus
 * the lowest bit that is kept, and let the carry ripple; a mantissa that
 * overflows carries into the exponent, and past the largest finite value
 * into infinity, which is what rounding should do.  A NaN whose payload lives
 * only in the low half would truncate to infinity, so NaNs set the quiet bit. */
uint16_t f32_to_bf16(float x) {
    uint32_t u = f32_bits(x);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float bf16_to_f32(uint16_t h) { return f32_from_bits((uint32_t)h << 16); }

/* Round the integer m / 2^shift to the nearest integer, ties to even. */
static uint32_t round_shift_rne(uint32_t m, int shift) {
    uint32_t q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    return q + (rem > half || (rem == half && (q & 1u)));
}

/* f16: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits.  Finite f16
 * values reach 65504; normal ones start at 2^-14; subnormals are m * 2^-24.
 * For an f32 with biased exponent e and 24-bit significand m (implicit 1):
 *   |x| >= 65520 (halfway to 2^16, and 65504 is odd): infinity;
 *   |x| >= 2^-14: rebias the exponent (e - 127 + 15), round m to 11 bits;
 *   below: |x| / 2^-24 = m * 2^(e - 126), rounded: a subnormal (or 2^-14). */
uint16_t f32_to_f16(float x) {
    uint32_t u = f32_bits(x);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return sign | 0x7e00u | (uint16_t)((a >> 13) & 0x3ffu);  /* NaN, quiet */
    if (a >= 0x477ff000u) return sign | 0x7c00u;                                  /* 65520 and up: inf */
    if (a >= 0x38800000u) {                                                        /* normal */
        uint32_t biased = (((a >> 23) - 127 + 15) << 10) | ((a >> 13) & 0x3ffu);
        uint32_t rem = a & 0x1fffu;
        biased += rem > 0x1000u || (rem == 0x1000u && (biased & 1u));
        return sign | (uint16_t)biased;
    }
    if (a <= 0x33000000u) return sign;  /* at most 2^-25, half the smallest subnormal: 0 */
    uint32_t e = a >> 23, m = (a & 0x7fffffu) | 0x800000u;
    return sign | (uint16_t)round_shift_rne(m, (int)(126 - e));
}

float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    if (exp == 0x1f) return f32_from_bits(sign | 0x7f800000u | (mant << 13));  /* inf, NaN */
    if (exp == 0) {
        if (mant == 0) return f32_from_bits(sign);                            /* +-0 */
        int e = -14;                                                          /* subnormal: normalize */
        while (!(mant & 0x400u)) mant <<= 1, e--;
        return f32_from_bits(sign | ((uint32_t)(e + 127) << 23) | ((mant & 0x3ffu) << 13));
    }
    return f32_from_bits(sign | ((exp - 15 + 127) << 23) | (mant << 13));
}

/* Rounding an f64 first to f32 (nearest) and then to f16 can round twice the
 * same way across a tie: 1 + 2^-11 + 2^-40 becomes the tie 1 + 2^-11 and then
 * 1, where one rounding gives 1 + 2^-10.  Rounding to f32 *to odd* instead
 * (truncate, and set the last bit if anything was lost) keeps the lost part
 * visible, and a format with at least two more bits than the target rounds
 * correctly afterwards (Boldo and Melquiond, 2008); f32 has 24, f16 11, bf16 8. */
static float f64_to_f32_round_odd(double x) {
    float f = (float)x;
    if (isnan(x) || (double)f == x) return f;
    if (fabs((double)f) > fabs(x)) f = nextafterf(f, 0.0f);
    return f32_from_bits(f32_bits(f) | 1u);
}

uint16_t f64_to_bf16(double x) { return f32_to_bf16(f64_to_f32_round_odd(x)); }
uint16_t f64_to_f16(double x) { return f32_to_f16(f64_to_f32_round_odd(x)); }

void f32_to_bf16_array(uint16_t *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = f32_to_bf16(src[i]);
}
void bf16_to_f32_array(float *dst, const uint16_t *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = bf16_to_f32(src[i]);
}
void f32_to_f16_array(uint16_t *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = f32_to_f16(src[i]);
}
void f16_to_f32_array(float *dst, const uint16_t *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = f16_to_f32(src[i]);
}

/* ---- Arenas -------------------------------------------------------------------- */

static size_t round_up_align(size_t n) { return (n + (ARENA_ALIGN - 1)) & ~(size_t)(ARENA_ALIGN - 1); }

Arena *arena_new(const char *name, size_t capacity) {
    if (capacity > SIZE_MAX - ARENA_ALIGN) die("arena \"%s\": capacity %zu is too large", name, capacity);
    Arena *a = xcalloc(1, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    a->device = DEV_CPU;
    a->capacity = round_up_align(capacity);
    a->base = aligned_alloc(ARENA_ALIGN, a->capacity ? a->capacity : ARENA_ALIGN);
    if (!a->base) die("arena \"%s\": out of memory (asked for %zu bytes)", name, a->capacity);
    POISON(a->base, a->capacity);
    return a;
}

void arena_free(Arena *a) {
    if (!a) return;
    if (a->device != DEV_CPU) die("arena \"%s\": device arenas are freed with gpu_arena_free", a->name);
    UNPOISON(a->base, a->capacity);
    free(a->base);
    free(a);
}

void *arena_alloc(Arena *a, size_t bytes) {
    size_t free_bytes = a->capacity - a->used;
    if (bytes > free_bytes || round_up_align(bytes) > free_bytes)
        die("arena \"%s\" is full: asked for %zu bytes with %zu of %zu free (%zu allocations, peak %zu)",
            a->name, bytes, free_bytes, a->capacity, a->nallocs, a->peak);
    unsigned char *p = a->base + a->used;
    a->used += round_up_align(bytes);
    a->requested += bytes;
    if (a->used > a->peak) a->peak = a->used;
    a->nallocs++, a->total_allocs++;
    UNPOISON(p, bytes);
    return p;
}

void *arena_alloc_zero(Arena *a, size_t bytes) {
    if (a->device != DEV_CPU) die("arena \"%s\": arena_alloc_zero on %s memory (use gpu_zero)", a->name,
                                  device_name(a->device));
    return memset(arena_alloc(a, bytes), 0, bytes);
}

ArenaMark arena_mark(const Arena *a) { return (ArenaMark){a->used, a->requested, a->nallocs}; }

void arena_release_to(Arena *a, ArenaMark m) {
    if (m.used > a->used || m.requested > a->requested || m.nallocs > a->nallocs)
        die("arena \"%s\": release to a mark at %zu bytes, but only %zu are in use (a mark from "
            "another arena, or from before a release?)", a->name, m.used, a->used);
    POISON(a->base + m.used, a->used - m.used);
    a->used = m.used, a->requested = m.requested, a->nallocs = m.nallocs;
}

void arena_reset(Arena *a) { arena_release_to(a, (ArenaMark){0, 0, 0}); }

void arena_report(const Arena *a, FILE *fp) {
    fprintf(fp, "%s: %zu of %zu bytes in use (%zu asked for), peak %zu, %zu allocations\n", a->name,
            a->used, a->capacity, a->requested, a->peak, a->nallocs);
}

/* ---- Tensors: shapes ---------------------------------------------------------- */

/* Check ndim and every dimension, and that numel * dtype size fits in
 * int64_t and size_t; returns numel. */
static int64_t checked_numel(DType dt, int ndim, const int64_t *shape, const char *who) {
    check_dtype(dt);
    if (ndim < 0 || ndim > TENSOR_MAX_DIMS)
        die("%s: %d dimensions (a tensor has 0 to %d)", who, ndim, TENSOR_MAX_DIMS);
    int64_t limit = (int64_t)((SIZE_MAX < (uint64_t)INT64_MAX ? SIZE_MAX : (uint64_t)INT64_MAX) / dtype_size(dt));
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) die("%s: dimension %d is %lld (must be >= 0)", who, d, (long long)shape[d]);
        if (shape[d] > 0 && n > limit / shape[d])
            die("%s: shape overflows (dimension %d is %lld)", who, d, (long long)shape[d]);
        n *= shape[d];
    }
    return n;
}

static void set_contiguous_strides(Tensor *t) {
    int64_t stride = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        t->strides[d] = stride;
        stride *= t->shape[d];
    }
}

Tensor tensor_wrap(DType dt, Device dev, int ndim, const int64_t *shape, void *data) {
    checked_numel(dt, ndim, shape, "tensor_wrap");
    device_name(dev);
    Tensor t = {.dtype = dt, .device = dev, .ndim = ndim, .data = data};
    for (int d = 0; d < ndim; d++) t.shape[d] = shape[d];
    set_contiguous_strides(&t);
    return t;
}

Tensor tensor_new(Arena *a, DType dt, int ndim, const int64_t *shape) {
    int64_t n = checked_numel(dt, ndim, shape, "tensor_new");
    /* device memory is zeroed by the GPU runtime (gpu_zero), not here */
    void *data = a->device == DEV_CPU ? arena_alloc_zero(a, (size_t)n * dtype_size(dt))
                                      : arena_alloc(a, (size_t)n * dtype_size(dt));
    return tensor_wrap(dt, a->device, ndim, shape, data);
}

int64_t tensor_numel(const Tensor *t) {
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
    return n;
}

size_t tensor_nbytes(const Tensor *t) { return (size_t)tensor_numel(t) * dtype_size(t->dtype); }

/* Row-major contiguous: each stride is the product of the later dimensions.
 * Dimensions of size 1 may carry any stride, and an empty tensor is contiguous. */
bool tensor_is_contiguous(const Tensor *t) {
    if (tensor_numel(t) == 0) return true;
    int64_t expect = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->strides[d] != expect) return false;
        expect *= t->shape[d];
    }
    return true;
}

char *tensor_describe(const Tensor *t, char *buf, size_t n) {
    size_t len = 0;
    len += (size_t)snprintf(buf, n, "%s[", dtype_name(t->dtype));
    for (int d = 0; d < t->ndim && len < n; d++)
        len += (size_t)snprintf(buf + len, n - len, "%s%lld", d ? "," : "", (long long)t->shape[d]);
    if (len < n) snprintf(buf + len, n - len, "]");
    return buf;
}

static void require_cpu(const Tensor *t, const char *who) {
    if (t->device != DEV_CPU) die("%s: the tensor is on %s, not the cpu", who, device_name(t->device));
}

float *tensor_f32(const Tensor *t) {
    char s[128];
    if (t->dtype != DT_F32) die("tensor_f32: the tensor is %s, not F32", tensor_describe(t, s, sizeof s));
    require_cpu(t, "tensor_f32");
    return t->data;
}

Tensor tensor_view(const Tensor *t, int ndim, const int64_t *shape) {
    char s[128];
    if (!tensor_is_contiguous(t))
        die("tensor_view: %s is not contiguous (copy it first)", tensor_describe(t, s, sizeof s));
    if (ndim < 0 || ndim > TENSOR_MAX_DIMS) die("tensor_view: %d dimensions (at most %d)", ndim, TENSOR_MAX_DIMS);
    int64_t want[TENSOR_MAX_DIMS] = {0}, known = 1;
    int infer = -1;
    for (int d = 0; d < ndim; d++) {
        want[d] = shape[d];
        if (shape[d] == -1 && infer < 0) { infer = d; continue; }
        if (shape[d] < 0) die("tensor_view: dimension %d is %lld", d, (long long)shape[d]);
        known *= shape[d];
    }
    int64_t numel = tensor_numel(t);
    if (infer >= 0) {
        if (known == 0 || numel % known != 0)
            die("tensor_view: cannot infer dimension %d of %s from %lld elements", infer,
                tensor_describe(t, s, sizeof s), (long long)numel);
        want[infer] = numel / known;
    }
    Tensor v = tensor_wrap(t->dtype, t->device, ndim, want, t->data);
    if (tensor_numel(&v) != numel)
        die("tensor_view: %s has %lld elements, the new shape %lld", tensor_describe(t, s, sizeof s),
            (long long)numel, (long long)tensor_numel(&v));
    return v;
}

Tensor tensor_transpose(const Tensor *t, int d0, int d1) {
    if (d0 < 0 || d0 >= t->ndim || d1 < 0 || d1 >= t->ndim)
        die("tensor_transpose: dimensions %d and %d of a %d-dimensional tensor", d0, d1, t->ndim);
    Tensor v = *t;
    v.shape[d0] = t->shape[d1], v.shape[d1] = t->shape[d0];
    v.strides[d0] = t->strides[d1], v.strides[d1] = t->strides[d0];
    return v;
}

/* ---- Tensors: element loops ---------------------------------------------------- */

/* Visit the elements of a (possibly strided) tensor in row-major order: `off`
 * is the element offset of the current multi-index `idx`.  Advancing adds the
 * last dimension's stride; when an index wraps, its whole span is taken back
 * and the next dimension up advances, like an odometer. */
typedef struct { const Tensor *t; int64_t idx[TENSOR_MAX_DIMS]; int64_t off; } Walk;

static void walk_next(Walk *w) {
    for (int d = w->t->ndim - 1; d >= 0; d--) {
        w->off += w->t->strides[d];
        if (++w->idx[d] < w->t->shape[d]) return;
        w->off -= w->t->strides[d] * w->t->shape[d];
        w->idx[d] = 0;
    }
}

static double load_float(const unsigned char *p, DType dt) {
    float f;
    double x;
    uint16_t h;
    switch (dt) {
    case DT_F32: memcpy(&f, p, 4); return f;
    case DT_F64: memcpy(&x, p, 8); return x;
    case DT_BF16: memcpy(&h, p, 2); return bf16_to_f32(h);
    case DT_F16: memcpy(&h, p, 2); return f16_to_f32(h);
    default: die("load_float: %s is not a floating dtype", dtype_name(dt));
    }
}

/* One rounding from double: the f32 cast rounds to nearest even, and the
 * 16-bit formats go through f64_to_*. */
static void store_float(unsigned char *p, DType dt, double x) {
    float f;
    uint16_t h;
    switch (dt) {
    case DT_F32: f = (float)x; memcpy(p, &f, 4); return;
    case DT_F64: memcpy(p, &x, 8); return;
    case DT_BF16: h = f64_to_bf16(x); memcpy(p, &h, 2); return;
    case DT_F16: h = f64_to_f16(x); memcpy(p, &h, 2); return;
    default: die("store_float: %s is not a floating dtype", dtype_name(dt));
    }
}

/* The bytes of `value` as one element of an integer dtype, or die. */
static void encode_int(unsigned char *out, DType dt, double value) {
    double lo, hi;  /* allowed range, inclusive */
    switch (dt) {
    case DT_I8: lo = -128, hi = 127; break;
    case DT_U8: lo = 0, hi = 255; break;
    case DT_I32: lo = -2147483648.0, hi = 2147483647.0; break;
    case DT_I64: lo = -0x1p63, hi = 0x1p63 - 1024; break;  /* the largest double below 2^63 */
    default: die("tensor_fill: cannot fill packed dtype %s (write its bytes)", dtype_name(dt));
    }
    if (!(value >= lo && value <= hi) || value != floor(value))
        die("tensor_fill: %s cannot hold %.17g", dtype_name(dt), value);
    int8_t i8 = (int8_t)value;
    uint8_t u8 = (uint8_t)value;
    int32_t i32 = (int32_t)value;
    int64_t i64 = (int64_t)value;
    const void *src = dt == DT_I8 ? (const void *)&i8 : dt == DT_U8 ? (const void *)&u8
                    : dt == DT_I32 ? (const void *)&i32 : (const void *)&i64;
    memcpy(out, src, dtype_size(dt));
}

void tensor_fill(Tensor *t, double value) {
    require_cpu(t, "tensor_fill");
    size_t size = dtype_size(t->dtype);
    unsigned char elem[8];
    if (dtype_is_float(t->dtype)) store_float(elem, t->dtype, value);
    else encode_int(elem, t->dtype, value);
    Walk w = {.t = t};
    unsigned char *base = t->data;
    for (int64_t i = 0, n = tensor_numel(t); i < n; i++, walk_next(&w))
        memcpy(base + w.off * (int64_t)size, elem, size);
}

void tensor_copy(Tensor *dst, const Tensor *src) {
    char a[128], b[128];
    require_cpu(dst, "tensor_copy");
    require_cpu(src, "tensor_copy");
    bool same_shape = dst->ndim == src->ndim;
    for (int d = 0; same_shape && d < dst->ndim; d++) same_shape = dst->shape[d] == src->shape[d];
    bool convert = dst->dtype != src->dtype;
    if (!same_shape || (convert && !(dtype_is_float(dst->dtype) && dtype_is_float(src->dtype))))
        die("tensor_copy: cannot copy %s into %s", tensor_describe(src, a, sizeof a),
            tensor_describe(dst, b, sizeof b));
    if (!convert && tensor_is_contiguous(dst) && tensor_is_contiguous(src)) {
        if (tensor_nbytes(src)) memcpy(dst->data, src->data, tensor_nbytes(src));
        return;
    }
    size_t ds = dtype_size(dst->dtype), ss = dtype_size(src->dtype);
    unsigned char *out = dst->data;
    const unsigned char *in = src->data;
    Walk wd = {.t = dst}, ws = {.t = src};
    for (int64_t i = 0, n = tensor_numel(src); i < n; i++, walk_next(&wd), walk_next(&ws)) {
        unsigned char *o = out + wd.off * (int64_t)ds;
        const unsigned char *s = in + ws.off * (int64_t)ss;
        if (convert) store_float(o, dst->dtype, load_float(s, src->dtype));
        else memcpy(o, s, ss);
    }
}
