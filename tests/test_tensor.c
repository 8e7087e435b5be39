/* test_tensor.c -- common/tensor: dtypes, the bf16/f16 conversions (exhaustive
 * round trips, rounding against independent references, hand-picked ties),
 * arenas and their accounting, tensors and their checked errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "expect_die.h"
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif
#include "rng.h"
#include "tensor.h"

static uint32_t bits_of(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }
static float float_of(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }

/* ---- dtypes ---------------------------------------------------------------------- */

static void test_dtypes(Check *t) {
    const struct { DType dt; const char *name; size_t size; } want[] = {
        {DT_F32, "F32", 4}, {DT_F64, "F64", 8}, {DT_BF16, "BF16", 2}, {DT_F16, "F16", 2},
        {DT_I8, "I8", 1},   {DT_U8, "U8", 1},   {DT_I32, "I32", 4},   {DT_I64, "I64", 8},
        {DT_I4X2, "I4X2", 1}, {DT_FP4X2, "FP4X2", 1},
    };
    int ok = 0;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        DType back;
        ok += dtype_size(want[i].dt) == want[i].size && strcmp(dtype_name(want[i].dt), want[i].name) == 0 &&
              dtype_from_name(want[i].name, &back) && back == want[i].dt;
    }
    check_true(t, ok == DT_COUNT && DT_COUNT == 10, "every dtype: size, name, name back to dtype (%d)", ok);
    DType dt = DT_I8;
    check_true(t, !dtype_from_name("F8_E4M3", &dt) && !dtype_from_name("f32", &dt) && !dtype_from_name("", &dt)
                      && dt == DT_I8, "unknown names are refused and leave the output alone");
    check_true(t, dtype_values_per_element(DT_I4X2) == 2 && dtype_values_per_element(DT_FP4X2) == 2 &&
                      dtype_values_per_element(DT_BF16) == 1, "packed types hold 2 values per element");
    check_true(t, dtype_is_float(DT_BF16) && !dtype_is_float(DT_I32) && !dtype_is_float(DT_FP4X2),
               "dtype_is_float");
    check_true(t, strcmp(device_name(DEV_CPU), "cpu") == 0 && strcmp(device_name(DEV_CUDA), "cuda") == 0,
               "device names");
}

/* ---- Independent references for the conversions ---------------------------------- */

/* The value of f16 bits, decoded with ldexp from the definition of the format. */
static double f16_value(uint16_t h) {
    int sign = h >> 15, exp = (h >> 10) & 31, mant = h & 1023;
    double mag = exp == 0 ? ldexp(mant, -24) : exp == 31 ? (mant ? NAN : INFINITY) : ldexp(1024 + mant, exp - 25);
    return sign ? -mag : mag;
}

/* Round a finite x to a binary format with p significand bits and smallest
 * normal exponent emin, ties to even, by arithmetic: the spacing of the
 * format near x is q = 2^(max(floor(log2|x|), emin) - (p - 1)), and x / q
 * is exact in double, so nearbyint (ties to even) rounds it once. */
static double round_to_format(double x, int p, int emin) {
    if (x == 0) return x;
    int e = ilogb(x) < emin ? emin : ilogb(x);
    double q = ldexp(1, e - (p - 1));
    return nearbyint(x / q) * q;
}

/* What f32_to_f16 must return for x, as a value (NaN for NaN). */
static double f16_expected(double x) {
    if (isnan(x) || isinf(x)) return x;
    double r = round_to_format(x, 11, -14);
    return fabs(r) > 65504 ? copysign(INFINITY, x) : r;
}

static double bf16_expected(double x) {
    if (isnan(x) || isinf(x)) return x;
    double r = round_to_format(x, 8, -126);
    return fabs(r) > 0x1.fep127 ? copysign(INFINITY, x) : r;
}

/* got (bits of the narrow format, decoded by `value`) against the expected value,
 * signs of zero included. */
static bool same_value(double got, double want) {
    if (isnan(want)) return isnan(got);
    return got == want && signbit(got) == signbit(want);
}

/* ---- Round trips, exhaustive ------------------------------------------------------ */

static void test_round_trips(Check *t) {
    int f16_bad = 0, bf16_bad = 0, decode_bad = 0, nan_bad = 0;
    for (uint32_t i = 0; i < 65536; i++) {
        uint16_t h = (uint16_t)i;
        float f = f16_to_f32(h);
        uint16_t back = f32_to_f16(f);
        decode_bad += !same_value(f, f16_value(h));
        if (isnan(f)) nan_bad += ((back & 0x7c00) != 0x7c00 || (back & 0x3ff) == 0 || (back >> 15) != (h >> 15));
        else f16_bad += back != h;

        float g = bf16_to_f32(h);
        uint16_t bback = f32_to_bf16(g);
        if (isnan(g)) nan_bad += ((bback & 0x7f80) != 0x7f80 || (bback & 0x7f) == 0 || (bback >> 15) != (h >> 15));
        else bf16_bad += bback != h;
        decode_bad += !isnan(g) && bits_of(g) != (uint32_t)h << 16;
    }
    check_true(t, decode_bad == 0, "f16_to_f32 and bf16_to_f32 decode all 65536 patterns (%d wrong)", decode_bad);
    check_true(t, f16_bad == 0, "f16 -> f32 -> f16 is the identity on all non-NaN patterns (%d wrong)", f16_bad);
    check_true(t, bf16_bad == 0, "bf16 -> f32 -> bf16 is the identity on all non-NaN patterns (%d wrong)", bf16_bad);
    check_true(t, nan_bad == 0, "every NaN pattern stays a NaN of the same sign (%d wrong)", nan_bad);
}

/* ---- Rounding against the references ---------------------------------------------- */

static int check_one_f32(float x, int *f16_bad, int *bf16_bad, int *hw_bad) {
    *f16_bad += !same_value(f16_to_f32(f32_to_f16(x)), f16_expected(x));
    *bf16_bad += !same_value(bf16_to_f32(f32_to_bf16(x)), bf16_expected(x));
#ifdef __FLT16_MAX__
    /* The compiler's own conversion (F16C or libgcc), a third opinion. */
    _Float16 hw = (_Float16)x;
    uint16_t hb;
    memcpy(&hb, &hw, 2);
    uint16_t ours = f32_to_f16(x);
    *hw_bad += isnan(x) ? !isnan(f16_to_f32(ours)) : hb != ours;
#else
    (void)hw_bad;
#endif
    return 1;
}

static void test_rounding(Check *t) {
    int f16_bad = 0, bf16_bad = 0, hw_bad = 0, n = 0;
    /* Around every midpoint between consecutive finite values of each format,
     * both signs: the midpoint itself (a tie) and its f32 neighbours. */
    for (uint32_t h = 0; h < 0x7c00; h++) {
        float mid = (float)((f16_value((uint16_t)h) + f16_value((uint16_t)(h + 1))) / 2);
        for (int s = 0; s < 2; s++) {
            float m = s ? -mid : mid;
            n += check_one_f32(m, &f16_bad, &bf16_bad, &hw_bad);
            n += check_one_f32(nextafterf(m, INFINITY), &f16_bad, &bf16_bad, &hw_bad);
            n += check_one_f32(nextafterf(m, -INFINITY), &f16_bad, &bf16_bad, &hw_bad);
        }
    }
    for (uint32_t h = 0; h < 0x7f80; h++) {
        float mid = float_of((h << 16) | 0x8000);
        for (int s = 0; s < 2; s++) {
            float m = s ? -mid : mid;
            n += check_one_f32(m, &f16_bad, &bf16_bad, &hw_bad);
            n += check_one_f32(nextafterf(m, INFINITY), &f16_bad, &bf16_bad, &hw_bad);
            n += check_one_f32(nextafterf(m, -INFINITY), &f16_bad, &bf16_bad, &hw_bad);
        }
    }
    /* And two million random f32 bit patterns (every class: NaN, inf, subnormal). */
    Rng r;
    rng_seed(&r, 16);
    for (int i = 0; i < 2000000; i++) n += check_one_f32(float_of(rng_u32(&r)), &f16_bad, &bf16_bad, &hw_bad);
    check_true(t, f16_bad == 0, "f32_to_f16 rounds like the arithmetic reference on %d values (%d wrong)", n, f16_bad);
    check_true(t, bf16_bad == 0, "f32_to_bf16 rounds like the arithmetic reference on %d values (%d wrong)", n, bf16_bad);
#ifdef __FLT16_MAX__
    check_true(t, hw_bad == 0, "f32_to_f16 agrees with the compiler's _Float16 on %d values (%d wrong)", n, hw_bad);
#endif

    /* f64 sources round once: random doubles near the f16 and bf16 ranges. */
    int d16_bad = 0, db16_bad = 0;
    for (int i = 0; i < 1000000; i++) {
        double x = ldexp(rng_uniform(&r) + 0.5, (int)rng_below(&r, 70) - 40) * (rng_u32(&r) & 1 ? -1 : 1);
        d16_bad += !same_value(f16_to_f32(f64_to_f16(x)), f16_expected(x));
        db16_bad += !same_value(bf16_to_f32(f64_to_bf16(x)), bf16_expected(x));
    }
    check_true(t, d16_bad == 0, "f64_to_f16 rounds once on 1e6 random doubles (%d wrong)", d16_bad);
    check_true(t, db16_bad == 0, "f64_to_bf16 rounds once on 1e6 random doubles (%d wrong)", db16_bad);
}

/* ---- Hand-picked cases: ties, limits, NaNs ------------------------------------------ */

static void test_hand_picked(Check *t) {
    const struct { float x; uint16_t want; const char *why; } f16[] = {
        {1.0f, 0x3c00, "1"},
        {1.0f + 0x1p-11f, 0x3c00, "1 + 2^-11: tie between 1 and 1 + 2^-10, to even (down)"},
        {1.0f + 3 * 0x1p-11f, 0x3c02, "1 + 3*2^-11: tie, to even (up)"},
        {1.0f + 0x1p-11f + 0x1p-23f, 0x3c01, "just above a tie rounds up"},
        {65504.0f, 0x7bff, "65504, the largest f16"},
        {65519.0f, 0x7bff, "65519 rounds down to 65504"},
        {65520.0f, 0x7c00, "65520: tie between 65504 and 2^16, to even (inf)"},
        {1e10f, 0x7c00, "1e10 overflows to inf"},
        {-1e10f, 0xfc00, "-1e10 overflows to -inf"},
        {0x1p-24f, 0x0001, "2^-24, the smallest subnormal"},
        {0x1p-25f, 0x0000, "2^-25: tie between 0 and 2^-24, to even (0)"},
        {0x1.8p-25f, 0x0001, "1.5 * 2^-25 rounds up to 2^-24"},
        {3 * 0x1p-25f, 0x0002, "3 * 2^-25: tie between 1 and 2 subnormal steps, to even (2)"},
        {0x1p-14f - 0x1p-25f, 0x0400, "2^-14 - 2^-25: tie between the largest subnormal and 2^-14, to even"},
        {-0.0f, 0x8000, "-0 keeps its sign"},
        {1e-30f, 0x0000, "1e-30 underflows to +0"},
        {INFINITY, 0x7c00, "inf"},
        {-INFINITY, 0xfc00, "-inf"},
    };
    for (size_t i = 0; i < sizeof f16 / sizeof f16[0]; i++) {
        uint16_t got = f32_to_f16(f16[i].x);
        check_true(t, got == f16[i].want, "f16: %s (%04x, want %04x)", f16[i].why, got, f16[i].want);
    }
    const struct { uint32_t x; uint16_t want; const char *why; } bf[] = {
        {0x3f800000, 0x3f80, "1"},
        {0x3f808000, 0x3f80, "1 + 2^-8: tie, to even (down)"},
        {0x3f818000, 0x3f82, "1 + 3*2^-8: tie, to even (up)"},
        {0x3f808001, 0x3f81, "just above a tie rounds up"},
        {0x7f7f0000, 0x7f7f, "the largest bf16"},
        {0x7f7f7fff, 0x7f7f, "just below the tie at the top"},
        {0x7f7f8000, 0x7f80, "the tie above the largest bf16 goes to inf (even)"},
        {0x7f7fffff, 0x7f80, "FLT_MAX rounds to inf"},
        {0x00008000, 0x0000, "subnormal tie, to even (0)"},
        {0x00018000, 0x0002, "subnormal tie, to even (up)"},
        {0x80000000, 0x8000, "-0"},
        {0xff800000, 0xff80, "-inf"},
    };
    for (size_t i = 0; i < sizeof bf / sizeof bf[0]; i++) {
        uint16_t got = f32_to_bf16(float_of(bf[i].x));
        check_true(t, got == bf[i].want, "bf16: %s (%04x, want %04x)", bf[i].why, got, bf[i].want);
    }
    /* NaNs whose payload sits only in the low 16 bits: truncation would give inf. */
    uint16_t b = f32_to_bf16(float_of(0x7f800001)), nb = f32_to_bf16(float_of(0xff800001));
    check_true(t, (b & 0x7f80) == 0x7f80 && (b & 0x7f) && !(b & 0x8000), "bf16: low-payload NaN stays NaN (%04x)", b);
    check_true(t, (nb & 0x7f80) == 0x7f80 && (nb & 0x7f) && (nb & 0x8000), "bf16: negative NaN keeps its sign (%04x)", nb);
    uint16_t h = f32_to_f16(float_of(0x7f800001));
    check_true(t, (h & 0x7c00) == 0x7c00 && (h & 0x3ff), "f16: low-payload NaN stays NaN (%04x)", h);
    /* Double rounding: 1 + 2^-11 + 2^-40 rounds through f32 to the tie 1 + 2^-11. */
    check_true(t, f64_to_f16(1 + 0x1p-11 + 0x1p-40) == 0x3c01, "f64_to_f16 rounds once (1 + 2^-11 + 2^-40 -> 1 + 2^-10)");
    check_true(t, f64_to_bf16(1 + 0x1p-8 + 0x1p-40) == 0x3f81, "f64_to_bf16 rounds once (1 + 2^-8 + 2^-40 -> 1 + 2^-7)");
    check_true(t, f64_to_f16(1e300) == 0x7c00 && f64_to_bf16(-1e300) == 0xff80, "f64 overflow to inf");

    /* The array versions are the scalar ones. */
    float src[257], back[257];
    uint16_t a16[257], ab16[257];
    Rng r;
    rng_seed(&r, 8);
    for (int i = 0; i < 257; i++) src[i] = (float)(rng_normal(&r) * 100);
    f32_to_f16_array(a16, src, 257);
    f32_to_bf16_array(ab16, src, 257);
    int same = 0;
    for (int i = 0; i < 257; i++) same += a16[i] == f32_to_f16(src[i]) && ab16[i] == f32_to_bf16(src[i]);
    f16_to_f32_array(back, a16, 257);
    for (int i = 0; i < 257; i++) same += back[i] == f16_to_f32(a16[i]);
    bf16_to_f32_array(back, ab16, 257);
    for (int i = 0; i < 257; i++) same += back[i] == bf16_to_f32(ab16[i]);
    check_true(t, same == 3 * 257, "array conversions match the scalar ones (%d of %d)", same, 3 * 257);
}

/* ---- Arenas --------------------------------------------------------------------------- */

static void test_arena(Check *t) {
    Arena *a = arena_new("scratch", 1000);
    check_true(t, a->device == DEV_CPU, "arena_new makes a CPU arena");
    check_true(t, a->capacity == 1024 && a->used == 0 && a->peak == 0 && a->nallocs == 0,
               "a new arena: capacity rounded up to 1024, nothing used");
    char *p = arena_alloc(a, 10);
    char *q = arena_alloc(a, 100);
    check_true(t, (uintptr_t)p % 64 == 0 && (uintptr_t)q % 64 == 0 && q - p == 64, "allocations are 64-byte aligned");
    check_true(t, a->used == 64 + 128 && a->requested == 110 && a->nallocs == 2 && a->peak == 192,
               "accounting after 10 + 100 bytes: used %zu, requested %zu, %zu allocations", a->used,
               a->requested, a->nallocs);
    ArenaMark m = arena_mark(a);
    arena_alloc(a, 500);
    arena_alloc(a, 1);
    check_true(t, a->used == 192 + 512 + 64 && a->peak == a->used && a->nallocs == 4, "two more allocations");
    arena_release_to(a, m);
    check_true(t, a->used == 192 && a->requested == 110 && a->nallocs == 2 && a->peak == 768 &&
                      a->total_allocs == 4, "release to a mark keeps the peak and the lifetime count");
    char *r2 = arena_alloc(a, 8);
    check_true(t, r2 == q + 128, "memory after a mark is reused");
#if defined(__SANITIZE_ADDRESS__)
    check_true(t, __asan_address_is_poisoned(r2 + 8) && __asan_address_is_poisoned(a->base + 700),
               "ASan: padding and released memory are poisoned");
#endif
    void *z = arena_alloc_zero(a, 64);
    int zeros = 0;
    for (int i = 0; i < 64; i++) zeros += ((unsigned char *)z)[i] == 0;
    check_true(t, zeros == 64, "arena_alloc_zero zeroes");
    arena_alloc(a, 0);
    check_true(t, a->nallocs == 5, "a zero-byte allocation counts");
    arena_reset(a);
    check_true(t, a->used == 0 && a->nallocs == 0 && a->peak == 768, "reset empties and keeps the peak");
    void *whole = arena_alloc(a, 1024);
    check_true(t, whole == a->base && a->used == a->capacity, "the whole capacity can be allocated");
    char line[256];
    FILE *fp = fmemopen(line, sizeof line, "w");
    arena_report(a, fp);
    fclose(fp);
    check_true(t, strcmp(line, "scratch: 1024 of 1024 bytes in use (1024 asked for), peak 1024, 1 allocations\n") == 0,
               "arena_report: %s", line);
    arena_free(a);
    arena_free(NULL);
}

/* ---- Tensors ---------------------------------------------------------------------------- */

static void test_tensor_basics(Check *t) {
    Arena *a = arena_new("tensors", 1 << 20);
    const int64_t shape[3] = {2, 3, 4};
    Tensor x = tensor_new(a, DT_F32, 3, shape);
    check_true(t, x.ndim == 3 && x.strides[0] == 12 && x.strides[1] == 4 && x.strides[2] == 1,
               "row-major strides 12, 4, 1");
    check_true(t, tensor_numel(&x) == 24 && tensor_nbytes(&x) == 96 && tensor_is_contiguous(&x), "numel, nbytes");
    float *xf = tensor_f32(&x);
    int zeros = 0;
    for (int i = 0; i < 24; i++) zeros += xf[i] == 0;
    check_true(t, zeros == 24, "tensor_new zero-fills");
    for (int i = 0; i < 24; i++) xf[i] = (float)i;
    char s[64];
    check_true(t, strcmp(tensor_describe(&x, s, sizeof s), "F32[2,3,4]") == 0, "describe: %s", s);

    Tensor v = tensor_view(&x, 2, (const int64_t[]){-1, 8});
    check_true(t, v.shape[0] == 3 && v.shape[1] == 8 && v.data == x.data, "view with -1 infers 3 x 8");
    Tensor scalar = tensor_new(a, DT_I64, 0, NULL);
    check_true(t, tensor_numel(&scalar) == 1 && tensor_nbytes(&scalar) == 8, "a 0-dimensional tensor has one element");

    /* Transpose the last two dims: a strided view; copy it to make it contiguous. */
    Tensor tr = tensor_transpose(&x, 1, 2);
    check_true(t, !tensor_is_contiguous(&tr) && tr.shape[1] == 4 && tr.shape[2] == 3, "transpose is a strided view");
    Tensor c = tensor_new(a, DT_F32, 3, tr.shape);
    tensor_copy(&c, &tr);
    float *cf = tensor_f32(&c);
    int right = 0;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++)
            for (int k = 0; k < 3; k++) right += cf[(i * 4 + j) * 3 + k] == xf[(i * 3 + k) * 4 + j];
    check_true(t, right == 24, "copy of a transposed view puts every element right (%d of 24)", right);

    /* Copy with conversion: F32 -> BF16 -> F32, and F64 -> F16 rounding once. */
    Tensor b = tensor_new(a, DT_BF16, 3, shape);
    for (int i = 0; i < 24; i++) xf[i] = (float)i * 1.01f;
    tensor_copy(&b, &x);
    uint16_t *bb = b.data;
    int conv = 0;
    for (int i = 0; i < 24; i++) conv += bb[i] == f32_to_bf16(xf[i]);
    check_true(t, conv == 24, "copy F32 -> BF16 rounds like f32_to_bf16");
    Tensor d = tensor_new(a, DT_F64, 1, (const int64_t[]){1}), h = tensor_new(a, DT_F16, 1, (const int64_t[]){1});
    *(double *)d.data = 1 + 0x1p-11 + 0x1p-40;
    tensor_copy(&h, &d);
    check_true(t, *(uint16_t *)h.data == 0x3c01, "copy F64 -> F16 rounds once");

    /* Fill: floats rounded, integers exact, strided views only touch their elements. */
    Tensor i8 = tensor_new(a, DT_I8, 2, (const int64_t[]){3, 5});
    tensor_fill(&i8, -7);
    int sevens = 0;
    for (int i = 0; i < 15; i++) sevens += ((int8_t *)i8.data)[i] == -7;
    check_true(t, sevens == 15, "fill I8 with -7");
    Tensor col = tensor_transpose(&i8, 0, 1);
    col.shape[0] = 1;  /* the first column of i8, as a 1 x 3 strided view */
    tensor_fill(&col, 5);
    int8_t *p8 = i8.data;
    check_true(t, p8[0] == 5 && p8[5] == 5 && p8[10] == 5 && p8[1] == -7 && p8[14] == -7,
               "fill of a strided view touches only its elements");
    Tensor i64 = tensor_new(a, DT_I64, 1, (const int64_t[]){2});
    tensor_fill(&i64, -0x1p63);
    check_true(t, ((int64_t *)i64.data)[1] == INT64_MIN, "fill I64 with -2^63");
    Tensor f16 = tensor_new(a, DT_F16, 1, (const int64_t[]){4});
    tensor_fill(&f16, 0.1);
    check_true(t, ((uint16_t *)f16.data)[3] == f64_to_f16(0.1), "fill F16 with 0.1 rounds once");

    float ext[6] = {1, 2, 3, 4, 5, 6};
    Tensor w = tensor_wrap(DT_F32, DEV_CPU, 2, (const int64_t[]){2, 3}, ext);
    check_true(t, tensor_f32(&w) == ext && tensor_is_contiguous(&w), "wrap describes caller memory");
    Tensor empty = tensor_new(a, DT_F32, 2, (const int64_t[]){0, 5});
    check_true(t, tensor_numel(&empty) == 0 && tensor_nbytes(&empty) == 0, "an empty tensor");
    size_t before = a->used;
    tensor_fill(&empty, 1);
    tensor_copy(&empty, &empty);
    check_true(t, a->used == before, "fill and copy of an empty tensor do nothing");
    arena_free(a);
}

/* ---- Checked errors ------------------------------------------------------------------------ */

static void die_full(void *c) {
    (void)c;
    Arena *a = arena_new("activations", 4096);
    arena_alloc(a, 4000);
    arena_alloc(a, 200);
}
static void die_bad_mark(void *c) {
    (void)c;
    Arena *a = arena_new("a", 4096), *b = arena_new("b", 4096);
    arena_alloc(a, 1000);
    ArenaMark m = arena_mark(a);
    arena_release_to(b, m);
}
static Arena *small_arena(void) { return arena_new("t", 1 << 16); }
static void die_f32(void *c) {
    (void)c;
    Tensor x = tensor_new(small_arena(), DT_BF16, 1, (const int64_t[]){3});
    tensor_f32(&x);
}
static void die_view_size(void *c) {
    (void)c;
    Tensor x = tensor_new(small_arena(), DT_F32, 2, (const int64_t[]){2, 3});
    tensor_view(&x, 2, (const int64_t[]){4, 2});
}
static void die_view_strided(void *c) {
    (void)c;
    Tensor x = tensor_new(small_arena(), DT_F32, 2, (const int64_t[]){2, 3});
    Tensor tr = tensor_transpose(&x, 0, 1);
    tensor_view(&tr, 1, (const int64_t[]){6});
}
static void die_view_infer(void *c) {
    (void)c;
    Tensor x = tensor_new(small_arena(), DT_F32, 2, (const int64_t[]){2, 3});
    tensor_view(&x, 2, (const int64_t[]){-1, 4});
}
static void die_ndim(void *c) {
    (void)c;
    int64_t shape[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    tensor_new(small_arena(), DT_F32, 9, shape);
}
static void die_negative(void *c) { (void)c; tensor_new(small_arena(), DT_F32, 2, (const int64_t[]){2, -3}); }
static void die_overflow(void *c) {
    (void)c;
    tensor_new(small_arena(), DT_F32, 3, (const int64_t[]){1 << 30, 1 << 30, 1 << 30});
}
static void die_fill_range(void *c) {
    (void)c;
    Tensor x = tensor_new(small_arena(), DT_I8, 1, (const int64_t[]){3});
    tensor_fill(&x, 300);
}
static void die_fill_fraction(void *c) {
    (void)c;
    Tensor x = tensor_new(small_arena(), DT_I32, 1, (const int64_t[]){3});
    tensor_fill(&x, 0.5);
}
static void die_fill_packed(void *c) {
    (void)c;
    Tensor x = tensor_new(small_arena(), DT_I4X2, 1, (const int64_t[]){3});
    tensor_fill(&x, 1);
}
static void die_copy_shape(void *c) {
    (void)c;
    Arena *a = small_arena();
    Tensor x = tensor_new(a, DT_F32, 2, (const int64_t[]){2, 3}), y = tensor_new(a, DT_F32, 2, (const int64_t[]){3, 2});
    tensor_copy(&y, &x);
}
static void die_copy_dtype(void *c) {
    (void)c;
    Arena *a = small_arena();
    Tensor x = tensor_new(a, DT_I32, 1, (const int64_t[]){4}), y = tensor_new(a, DT_F32, 1, (const int64_t[]){4});
    tensor_copy(&y, &x);
}
static void die_transpose(void *c) {
    (void)c;
    Tensor x = tensor_new(small_arena(), DT_F32, 2, (const int64_t[]){2, 3});
    tensor_transpose(&x, 0, 2);
}
static void die_cuda_tensor(void *c) {
    (void)c;
    float data[2];
    Tensor x = tensor_wrap(DT_F32, DEV_CUDA, 1, (const int64_t[]){2}, data);
    tensor_fill(&x, 0);
}

static void test_checked_errors(Check *t) {
    expect_die(t, die_full, NULL, "arena \"activations\" is full: asked for 200 bytes with 64 of 4096 free",
               "an arena that runs out");
    expect_die(t, die_bad_mark, NULL, "release to a mark at 1024 bytes", "a mark from another arena");
    expect_die(t, die_f32, NULL, "BF16[3], not F32", "tensor_f32 of a BF16 tensor");
    expect_die(t, die_view_size, NULL, "has 6 elements, the new shape 8", "a view of the wrong size");
    expect_die(t, die_view_strided, NULL, "not contiguous", "a view of a transposed tensor");
    expect_die(t, die_view_infer, NULL, "cannot infer dimension 0", "a -1 that does not divide");
    expect_die(t, die_ndim, NULL, "9 dimensions", "9 dimensions");
    expect_die(t, die_negative, NULL, "dimension 1 is -3", "a negative dimension");
    expect_die(t, die_overflow, NULL, "shape overflows", "a shape whose size overflows");
    expect_die(t, die_fill_range, NULL, "I8 cannot hold 300", "filling I8 with 300");
    expect_die(t, die_fill_fraction, NULL, "I32 cannot hold 0.5", "filling I32 with 0.5");
    expect_die(t, die_fill_packed, NULL, "packed dtype I4X2", "filling a packed dtype");
    expect_die(t, die_copy_shape, NULL, "cannot copy F32[2,3] into F32[3,2]", "a copy between shapes");
    expect_die(t, die_copy_dtype, NULL, "cannot copy I32[4] into F32[4]", "a copy from I32 to F32");
    expect_die(t, die_transpose, NULL, "dimensions 0 and 2 of a 2-dimensional", "transpose of a missing dim");
    expect_die(t, die_cuda_tensor, NULL, "on cuda, not the cpu", "filling a CUDA tensor on the CPU");
}

int main(void) {
    Check t;
    check_init(&t, "tensor");
    test_dtypes(&t);
    test_round_trips(&t);
    test_rounding(&t);
    test_hand_picked(&t);
    test_arena(&t);
    test_tensor_basics(&t);
    test_checked_errors(&t);
    return check_summary(&t);
}
