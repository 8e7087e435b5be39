/* test_ckpt.c -- common/ckpt: round trips, a file worked out by hand byte by
 * byte, every truncation, single-byte corruptions and random mutations of a
 * valid file, each refusal the contract lists, atomic saves that fail, and
 * (when python3 is present) Python's json module reading what we wrote. */
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "check.h"
#include "ckpt.h"
#include "rng.h"
#include "util.h"

static char tmpdir[64];

static char *tmp_path(const char *name) { return xasprintf("%s/%s", tmpdir, name); }

/* ---- The file worked out by hand -------------------------------------------------------------- */

/* Two tensors and one metadata pair:
 *   a: F32 [2] = {1, 2}      bytes 00 00 80 3f 00 00 00 40, data_offsets [0, 8]
 *   b: U8 [3] = {1, 2, 3}    bytes 01 02 03,                data_offsets [8, 11]
 * The header, piece by piece, with running byte counts:
 *   {                                           1
 *   "__metadata__":{"k":"v"}                   25   (14 + 1 + 9)
 *   ,"a":{"dtype":"F32",                       45   (1 + 4 + 15)
 *   "shape":[2],"data_offsets":[0,8]}          78   (12 + 21)
 *   ,"b":{"dtype":"U8",                        97   (1 + 4 + 14)
 *   "shape":[3],"data_offsets":[8,11]}        131   (12 + 22)
 *   }                                         132
 * padded with 4 spaces to 136 = 0x88, a multiple of 8.  The file is
 * 8 + 136 + 11 = 155 bytes. */
static const char HAND_HEADER[] = "{\"__metadata__\":{\"k\":\"v\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
                                  "\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"U8\",\"shape\":[3],"
                                  "\"data_offsets\":[8,11]}}    ";
static const float HAND_A[2] = {1, 2};
static const unsigned char HAND_B[3] = {1, 2, 3};

static size_t hand_file(unsigned char *out) {
    const unsigned char len8[8] = {0x88, 0, 0, 0, 0, 0, 0, 0};
    const unsigned char data[11] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40, 1, 2, 3};
    memcpy(out, len8, 8);
    memcpy(out + 8, HAND_HEADER, 136);
    memcpy(out + 144, data, 11);
    return 155;
}

static NamedTensor ct(const char *name, DType dt, int ndim, const int64_t *shape, const void *data) {
    return (NamedTensor){name, tensor_wrap(dt, DEV_CPU, ndim, shape, (void *)data)};
}

static size_t nbytes(const NamedTensor *x) { return tensor_nbytes(&x->t); }

static void test_hand_worked(Check *t) {
    check_true(t, strlen(HAND_HEADER) == 136 && (strlen(HAND_HEADER) - 4) == 132, "the hand count: 132 + 4 bytes");
    NamedTensor ts[2] = {ct("a", DT_F32, 1, (const int64_t[]){2}, HAND_A), ct("b", DT_U8, 1, (const int64_t[]){3}, HAND_B)};
    const char *meta[] = {"k", "v", NULL};
    char err[256] = "", *path = tmp_path("hand.safetensors");
    bool ok = ckpt_save(path, ts, 2, NULL, meta, err, sizeof err);
    check_true(t, ok, "save the hand-worked file (%s)", err);
    size_t len = 0;
    char *got = file_read(path, &len, NULL, 0);
    unsigned char want[155];
    hand_file(want);
    check_true(t, got && len == 155 && memcmp(got, want, 155) == 0, "the file is byte for byte the hand-worked one (%zu bytes)", len);
    free(got);

    Ckpt *c = ckpt_parse(want, 155, err, sizeof err);
    check_true(t, c != NULL, "parse the hand-worked bytes (%s)", err);
    if (c) {
        const NamedTensor *a = ckpt_find(c, "a"), *b = ckpt_find(c, "b");
        check_true(t, c->n == 2 && a && b && a->t.dtype == DT_F32 && a->t.ndim == 1 && a->t.shape[0] == 2 &&
                          nbytes(a) == 8 && memcmp(a->t.data, HAND_A, 8) == 0 && b->t.dtype == DT_U8 &&
                          b->t.shape[0] == 3 && memcmp(b->t.data, HAND_B, 3) == 0 && a->t.device == DEV_CPU &&
                          tensor_is_contiguous(&a->t), "its tensors read back, contiguous CPU tensors");
        check_true(t, c->nmeta == 1 && ckpt_meta(c, "k") && strcmp(ckpt_meta(c, "k"), "v") == 0 && !ckpt_meta(c, "x") &&
                          !ckpt_find(c, "c"), "its metadata reads back; missing names give NULL");
        check_true(t, (uintptr_t)c->blob % 64 == 0 && a->t.data == c->blob, "data in one 64-byte aligned blob, in file order");
    }
    ckpt_free(c);
    free(path);
}

/* ---- Round trip --------------------------------------------------------------------------------- */

static void test_round_trip(Check *t) {
    Rng r;
    rng_seed(&r, 5);
    float f32[6];
    double f64[4];
    uint16_t bf[4];
    int8_t i8[6];
    int64_t i64 = -1234567890123;
    unsigned char nib[3] = {0x12, 0xab, 0xf0};
    for (int i = 0; i < 6; i++) f32[i] = (float)rng_normal(&r), i8[i] = (int8_t)(rng_u32(&r) & 0xff);
    for (int i = 0; i < 4; i++) f64[i] = rng_normal(&r), bf[i] = f32_to_bf16((float)rng_normal(&r));
    NamedTensor ts[] = {
        ct("layer.0.weight", DT_F32, 2, (const int64_t[]){2, 3}, f32),
        ct("emb \"quoted\" \\ \xc3\xbc", DT_BF16, 1, (const int64_t[]){4}, bf),
        ct("i8", DT_I8, 3, (const int64_t[]){3, 1, 2}, i8),
        ct("scalar", DT_I64, 0, NULL, &i64),
        ct("empty", DT_U8, 2, (const int64_t[]){0, 5}, NULL),
        ct("f64", DT_F64, 2, (const int64_t[]){2, 2}, f64),
        ct("packed", DT_I4X2, 1, (const int64_t[]){3}, nib),
    };
    size_t n = sizeof ts / sizeof ts[0];
    const char *meta[] = {"step", "100", "note", "tab\there, newline\nthere, \x01 \"q\" \\ caf\xc3\xa9 \xf0\x9f\x98\x80", "", "empty key", NULL};
    char err[256] = "", *path = tmp_path("round.safetensors");
    check_true(t, ckpt_save(path, ts, n, NULL, meta, err, sizeof err), "save %zu tensors of 7 dtypes (%s)", n, err);
    Ckpt *c = ckpt_load(path, err, sizeof err);
    check_true(t, c != NULL, "load them back (%s)", err);
    if (!c) { free(path); return; }
    int same = 0;
    for (size_t i = 0; i < n; i++) {
        const NamedTensor *g = ckpt_find(c, ts[i].name);
        bool ok = g && g->t.dtype == ts[i].t.dtype && g->t.ndim == ts[i].t.ndim && nbytes(g) == nbytes(&ts[i]) &&
                  (nbytes(&ts[i]) == 0 || memcmp(g->t.data, ts[i].t.data, nbytes(&ts[i])) == 0);
        for (int d = 0; ok && d < ts[i].t.ndim; d++) ok = g->t.shape[d] == ts[i].t.shape[d];
        same += ok;
    }
    check_true(t, same == (int)n && c->n == n, "every name, dtype, shape and byte survives (%d of %zu)", same, n);
    int meta_ok = c->nmeta == 3;
    for (int i = 0; meta_ok && meta[2 * i]; i++) meta_ok = ckpt_meta(c, meta[2 * i]) && strcmp(ckpt_meta(c, meta[2 * i]), meta[2 * i + 1]) == 0;
    check_true(t, meta_ok, "metadata with escapes and UTF-8 survives");
    for (size_t i = 0; i + 1 < c->n; i++)
        same = same && (char *)c->tensors[i].t.data + nbytes(&c->tensors[i]) == (char *)c->tensors[i + 1].t.data;
    check_true(t, same, "tensors come back in file order, back to back");
    ckpt_free(c);

    /* A tensor from an arena, saved with a provenance and read back into another with ckpt_read. */
    Arena *a = arena_new("ckpt", 1 << 16);
    Tensor x = tensor_new(a, DT_F16, 2, (const int64_t[]){3, 4});
    tensor_fill(&x, 0.5);
    Tensor bias = tensor_new(a, DT_F32, 1, (const int64_t[]){3});
    tensor_fill(&bias, -2);
    NamedTensor model[2] = {{"x", x}, {"bias", bias}};
    Provenance prov;
    provenance_init(&prov, "test_ckpt round trip", 1);
    const char *mine[] = {"format", "test 1", NULL};
    check_true(t, ckpt_save(path, model, 2, &prov, mine, err, sizeof err), "save arena tensors with a provenance (%s)", err);
    c = ckpt_load(path, err, sizeof err);
    check_true(t, c && c->nmeta == 6 && strcmp(c->keys[0], "command") == 0 &&
                      strcmp(ckpt_meta(c, "command"), "test_ckpt round trip") == 0 &&
                      strcmp(ckpt_meta(c, "device"), prov.device) == 0 && strcmp(ckpt_meta(c, "threads"), "1") == 0 &&
                      strcmp(ckpt_meta(c, "git"), prov.git) == 0 && strcmp(ckpt_meta(c, "date"), prov.date) == 0 &&
                      strcmp(ckpt_meta(c, "format"), "test 1") == 0 && strcmp(c->keys[5], "format") == 0,
               "the provenance's five values come first in the metadata, then the caller's");
    Tensor x2 = tensor_new(a, DT_F16, 2, (const int64_t[]){3, 4}), b2 = tensor_new(a, DT_F32, 1, (const int64_t[]){3});
    NamedTensor into[2] = {{"bias", b2}, {"x", x2}};  /* any order */
    check_true(t, c && ckpt_read(c, into, 2, err, sizeof err) && ((uint16_t *)x2.data)[11] == 0x3800 &&
                      ((float *)b2.data)[2] == -2, "ckpt_read copies them into the caller's tensors (%s)", err);
    const char *dup_meta[] = {"git", "mine", NULL};
    check_true(t, !ckpt_save(path, model, 2, &prov, dup_meta, err, sizeof err) && strstr(err, "\"git\" appears twice"),
               "a caller's key that repeats a provenance key is refused (%s)", err);
    provenance_free(&prov);

    /* ckpt_read is all or nothing */
    tensor_fill(&x2, 1), tensor_fill(&b2, 1);
    Tensor short_b = tensor_new(a, DT_F32, 1, (const int64_t[]){2}), f32x = tensor_new(a, DT_F32, 2, (const int64_t[]){3, 4});
    NamedTensor wrong_shape[2] = {{"x", x2}, {"bias", short_b}}, wrong_dtype[2] = {{"bias", b2}, {"x", f32x}};
    NamedTensor missing[3] = {{"x", x2}, {"bias", b2}, {"extra", short_b}}, fewer[1] = {{"x", x2}};
    check_true(t, c && !ckpt_read(c, wrong_shape, 2, err, sizeof err) &&
                      strstr(err, "tensor \"bias\" is F32[3] in the checkpoint, F32[2] here"), "another shape (%s)", err);
    check_true(t, c && !ckpt_read(c, wrong_dtype, 2, err, sizeof err) &&
                      strstr(err, "tensor \"x\" is F16[3,4] in the checkpoint, F32[3,4] here"), "another dtype (%s)", err);
    check_true(t, c && !ckpt_read(c, missing, 3, err, sizeof err) && strstr(err, "has no tensor \"extra\""),
               "a missing tensor (%s)", err);
    check_true(t, c && !ckpt_read(c, fewer, 1, err, sizeof err) &&
                      strstr(err, "holds a tensor \"bias\" that this program does not have"), "an unexpected tensor (%s)", err);
    check_true(t, ((uint16_t *)x2.data)[0] == 0x3c00 && ((float *)b2.data)[0] == 1, "a refused read copies nothing");
    ckpt_free(c);
    arena_free(a);
    free(path);
}

/* ---- Refusals ----------------------------------------------------------------------------------- */

/* A file from a header string (padded to 8) and data_len zero bytes. */
static unsigned char *file_of(const char *header, size_t data_len, size_t *len) {
    size_t h = strlen(header), padded = (h + 7) / 8 * 8;
    *len = 8 + padded + data_len;
    unsigned char *f = xcalloc(*len, 1);
    for (int i = 0; i < 8; i++) f[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memset(f + 8, ' ', padded);
    memcpy(f + 8, header, h);
    return f;
}

static void expect_refusal(Check *t, const char *header, size_t data_len, const char *needle) {
    size_t len;
    unsigned char *f = file_of(header, data_len, &len);
    char err[256] = "";
    Ckpt *c = ckpt_parse(f, len, err, sizeof err);
    check_true(t, !c && strstr(err, needle) && !strchr(err, '\n'), "refuse %.60s: \"%s\" (said \"%s\")", header, needle, err);
    ckpt_free(c);
    free(f);
}

static void expect_accept(Check *t, const char *header, size_t data_len, size_t ntensors) {
    size_t len;
    unsigned char *f = file_of(header, data_len, &len);
    char err[256] = "";
    Ckpt *c = ckpt_parse(f, len, err, sizeof err);
    check_true(t, c && c->n == ntensors, "accept %.60s (%s)", header, err);
    ckpt_free(c);
    free(f);
}

#define T1(dtype, shape, offs) "{\"a\":{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":" offs "}}"

static void test_refusals(Check *t) {
    expect_refusal(t, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8, "unterminated object");
    expect_refusal(t, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},}", 8, "expected a string key");
    expect_refusal(t, T1("F32", "[2]", "[0,8.0]"), 8, "only integers");
    expect_refusal(t, T1("F32", "[2]", "[0,8e0]"), 8, "only integers");
    expect_refusal(t, T1("F32", "[2]", "[00,8]"), 8, "leading zero");
    expect_refusal(t, T1("F32", "true", "[0,8]"), 8, "true, false and null");
    expect_refusal(t, "{\"a\":null}", 0, "true, false and null");
    expect_refusal(t, "{'a':{}}", 0, "expected a string key");
    expect_refusal(t, "{\"a\":[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]}", 0, "nested deeper than 16");
    expect_refusal(t, "{\"\\ud800\":{}}", 0, "lone high surrogate");
    expect_refusal(t, "{\"\\udc00\":{}}", 0, "lone low surrogate");
    expect_refusal(t, "{\"\\u0000\":{}}", 0, "\\u0000 is not allowed");
    expect_refusal(t, "{\"\\x\":{}}", 0, "unknown escape");
    expect_refusal(t, "{\"\xff\":{}}", 0, "invalid UTF-8");
    expect_refusal(t, "{\"\xc0\xaf\":{}}", 0, "invalid UTF-8");     /* overlong '/' */
    expect_refusal(t, "{\"\xed\xa0\x80\":{}}", 0, "invalid UTF-8"); /* a surrogate, encoded */
    expect_refusal(t, "{\"a\tb\":{}}", 0, "control character 0x09");
    expect_refusal(t, "{\"a\":{}} x", 0, "unexpected data after the header object");
    expect_refusal(t, "{\"a", 0, "unterminated string");
    expect_refusal(t, "[]", 0, "not a JSON object");
    expect_refusal(t, "", 0, "unexpected end of the header");
    expect_refusal(t, T1("F32", "[99999999999999999999]", "[0,8]"), 8, "integer out of range");
    expect_refusal(t, T1("F8_E4M3", "[2]", "[0,2]"), 2, "unknown dtype \"F8_E4M3\"");
    expect_refusal(t, T1("F32", "[-1]", "[0,0]"), 0, "dimension 0 is not a non-negative integer");
    expect_refusal(t, T1("F32", "[4611686018427387904,4]", "[0,0]"), 0, "the shape's size overflows");
    expect_refusal(t, T1("F32", "[1,1,1,1,1,1,1,1,1]", "[0,4]"), 4, "at most 8 integers");
    expect_refusal(t, T1("F32", "[2]", "[0,8]"), 4, "go past the end of the data (4 bytes)");
    expect_refusal(t, T1("F32", "[3]", "[0,8]"), 8, "F32 of 3 elements needs 12 bytes, data_offsets cover 8");
    expect_refusal(t, T1("F32", "[2]", "[8,0]"), 8, "0 <= begin <= end");
    expect_refusal(t, T1("F32", "[2]", "[0,8,9]"), 9, "data_offsets must be [begin, end]");
    expect_refusal(t, T1("F32", "[2]", "[-8,0]"), 8, "data_offsets must be [begin, end]");
    expect_refusal(t, T1("F32", "[2]", "[0,8]"), 12, "the last 4 bytes of data belong to no tensor");
    expect_refusal(t, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "exactly dtype, shape and data_offsets");
    expect_refusal(t, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4, "exactly dtype");
    expect_refusal(t, "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "duplicate key \"dtype\"");
    expect_refusal(t, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                      "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "duplicate key \"a\"");
    expect_refusal(t, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "tensor \"b\" overlaps tensor \"a\"");
    expect_refusal(t, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                      "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12, "data bytes [4, 8) belong to no tensor");
    expect_refusal(t, "{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "data bytes [0, 4) belong to no tensor");
    expect_refusal(t, "{\"__metadata__\":{\"k\":1}}", 0, "__metadata__ value of \"k\" is not a string");
    expect_refusal(t, "{\"__metadata__\":[]}", 0, "__metadata__ must be an object");
    expect_refusal(t, "{\"a\":5}", 0, "exactly dtype, shape and data_offsets");
    char long_shape[400];
    strcpy(long_shape, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1");
    for (int i = 0; i < 64; i++) strcat(long_shape, ",1");
    strcat(long_shape, "],\"data_offsets\":[0,4]}}");
    expect_refusal(t, long_shape, 4, "an array longer than 64 items");

    expect_accept(t, "{}", 0, 0);
    expect_accept(t, " {\"__metadata__\":{}} \n\t", 0, 0);
    expect_accept(t, "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
                     "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, 2);
    expect_accept(t, "{\"b\":{\"dtype\":\"I4X2\",\"shape\":[],\"data_offsets\":[1,2]},"
                     "\"\\u00e9\\ud83d\\ude00\\n\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 2, 2);

    /* The length prefix. */
    char err[256] = "";
    unsigned char small[50] = {0};
    small[0] = 0xe8, small[1] = 0x03;  /* 1000 */
    Ckpt *c = ckpt_parse(small, 50, err, sizeof err);
    check_true(t, !c && strstr(err, "header length 1000 is larger than the file (50 bytes)"), "a header longer than the file (%s)", err);
    unsigned char huge[16] = {0x00, 0x00, 0x00, 0x10, 0, 0, 0, 0};  /* 2^28 = 268 MB */
    c = ckpt_parse(huge, 16, err, sizeof err);
    check_true(t, !c && strstr(err, "larger than the limit of 100000000 bytes"), "a header over 100 MB (%s)", err);
    c = ckpt_parse(small, 5, err, sizeof err);
    check_true(t, !c && strstr(err, "too short for the 8-byte header length"), "a file of 5 bytes (%s)", err);
    c = ckpt_load("/nonexistent/x.safetensors", err, sizeof err);
    check_true(t, !c && strstr(err, "cannot open /nonexistent/x.safetensors"), "a missing file (%s)", err);
    c = ckpt_load(tmpdir, err, sizeof err);
    check_true(t, !c && strstr(err, "not a regular file"), "a directory (%s)", err);
}

/* ---- Truncation, corruption, fuzzing ----------------------------------------------------------------- */

/* What any accepted file must satisfy, whatever bytes it came from. */
static bool consistent(const Ckpt *c, size_t file_len) {
    size_t total = 0;
    for (size_t i = 0; i < c->n; i++) {
        const NamedTensor *x = &c->tensors[i];
        if (x->t.ndim < 0 || x->t.ndim > 8 || x->t.device != DEV_CPU || !tensor_is_contiguous(&x->t)) return false;
        if ((char *)x->t.data != (char *)c->blob + total) return false;
        if (!x->name || ckpt_find(c, x->name) != x) return false;
        total += nbytes(x);
    }
    return total <= file_len;
}

static void test_truncations(Check *t) {
    unsigned char f[155];
    size_t len = hand_file(f);
    int refused = 0, one_line = 0;
    for (size_t l = 0; l < len; l++) {
        char err[256] = "";
        unsigned char *copy = xmalloc(l + 1);  /* exactly l bytes visible to ASan */
        memcpy(copy, f, l);
        Ckpt *c = ckpt_parse(copy, l, err, sizeof err);
        refused += c == NULL;
        one_line += err[0] && !strchr(err, '\n');
        ckpt_free(c);
        free(copy);
    }
    check_true(t, refused == (int)len && one_line == (int)len, "every one of the %zu truncations is refused with a message (%d)", len, refused);
    /* And through ckpt_load, a few lengths of a file on disk. */
    char err[256], *path = tmp_path("cut.safetensors");
    int load_refused = 0;
    const size_t cuts[] = {0, 7, 8, 100, 143, 144, 154};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        FILE *fp = xfopen(path, "wb");
        fwrite(f, 1, cuts[i], fp);
        fclose(fp);
        Ckpt *c = ckpt_load(path, err, sizeof err);
        load_refused += c == NULL && strstr(err, path) != NULL;
        ckpt_free(c);
    }
    check_true(t, load_refused == 7, "truncated files on disk are refused, naming the file (%d of 7)", load_refused);
    free(path);
}

static void test_corruptions(Check *t) {
    unsigned char f[155];
    size_t len = hand_file(f);
    const unsigned char repl[] = {0x00, ' ', '"', '\\', '{', '}', '[', ']', ',', ':', '0', '1', '9', '-', 'e', '.', 'u',
                                  'F', 'n', 0x7f, 0x80, 0xc3, 0xff};
    int refused = 0, accepted = 0, bad = 0;
    for (size_t pos = 0; pos < 144; pos++) {  /* the length prefix and the header */
        for (size_t r = 0; r < sizeof repl + 3; r++) {
            unsigned char *g = xmalloc(len);
            memcpy(g, f, len);
            g[pos] = r < sizeof repl ? repl[r] : (unsigned char)(g[pos] ^ (1u << (r - sizeof repl)));
            char err[256] = "";
            Ckpt *c = ckpt_parse(g, len, err, sizeof err);
            if (c) accepted++, bad += !consistent(c, len);
            else refused++, bad += !err[0] || strchr(err, '\n') != NULL;
            ckpt_free(c);
            free(g);
        }
    }
    check_true(t, bad == 0, "%d single-byte corruptions: %d refused with one line, %d accepted and consistent", refused + accepted,
               refused, accepted);
    check_true(t, refused > accepted, "most corruptions of the header are refused (%d of %d)", refused, refused + accepted);

    /* Random mutations: 1 to 4 bytes anywhere, sometimes a different length. */
    Rng rng;
    rng_seed(&rng, 31337);
    refused = accepted = bad = 0;
    for (int it = 0; it < 20000; it++) {
        size_t l = rng_below(&rng, 8) == 0 ? (size_t)rng_below(&rng, len + 16) : len;
        unsigned char *g = xcalloc(l + 1, 1);
        memcpy(g, f, l < len ? l : len);
        for (int k = 0, m = 1 + (int)rng_below(&rng, 4); k < m && l > 0; k++) g[rng_below(&rng, l)] = (unsigned char)rng_u32(&rng);
        char err[256] = "";
        Ckpt *c = ckpt_parse(g, l, err, sizeof err);
        if (c) accepted++, bad += !consistent(c, l);
        else refused++, bad += !err[0] || strchr(err, '\n') != NULL;
        ckpt_free(c);
        free(g);
    }
    check_true(t, bad == 0, "20000 random mutations: %d refused, %d accepted, all consistent", refused, accepted);
}

/* ---- Saving: refusals and atomicity ------------------------------------------------------------------ */

static int leftover_tmp_files(void) {
    DIR *d = opendir(tmpdir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += strstr(e->d_name, ".tmp-") != NULL;
    if (d) closedir(d);
    return n;
}

static void test_save_refusals(Check *t) {
    float x[4] = {1, 2, 3, 4};
    char err[256], *path = tmp_path("refuse.safetensors");
    NamedTensor two[2] = {ct("w", DT_F32, 1, (const int64_t[]){2}, x), ct("w", DT_F32, 1, (const int64_t[]){2}, x + 2)};
    check_true(t, !ckpt_save(path, two, 2, NULL, NULL, err, sizeof err) && strstr(err, "two tensors are named \"w\""),
               "save refuses duplicate names (%s)", err);
    float grid[6] = {0};
    Tensor g23 = tensor_wrap(DT_F32, DEV_CPU, 2, (const int64_t[]){2, 3}, grid);
    NamedTensor strided = {"w", tensor_transpose(&g23, 0, 1)};
    check_true(t, !ckpt_save(path, &strided, 1, NULL, NULL, err, sizeof err) && strstr(err, "not contiguous"),
               "save refuses a strided tensor (%s)", err);
    NamedTensor on_gpu = {"w", tensor_wrap(DT_F32, DEV_CUDA, 1, (const int64_t[]){4}, x)};
    check_true(t, !ckpt_save(path, &on_gpu, 1, NULL, NULL, err, sizeof err) && strstr(err, "not on the cpu"),
               "save refuses a device tensor (%s)", err);
    NamedTensor no_data = ct("w", DT_F32, 1, (const int64_t[]){4}, NULL);
    check_true(t, !ckpt_save(path, &no_data, 1, NULL, NULL, err, sizeof err) && strstr(err, "no data"),
               "save refuses a tensor without data (%s)", err);
    NamedTensor meta_name = ct("__metadata__", DT_F32, 1, (const int64_t[]){1}, x);
    check_true(t, !ckpt_save(path, &meta_name, 1, NULL, NULL, err, sizeof err) && strstr(err, "other than __metadata__"),
               "save refuses the name __metadata__ (%s)", err);
    NamedTensor ok1 = ct("w", DT_F32, 1, (const int64_t[]){4}, x);
    const char *odd[] = {"k", NULL};
    check_true(t, !ckpt_save(path, &ok1, 1, NULL, odd, err, sizeof err) && strstr(err, "has no value"),
               "save refuses a key without a value (%s)", err);
    const char *dup[] = {"k", "1", "k", "2", NULL};
    check_true(t, !ckpt_save(path, &ok1, 1, NULL, dup, err, sizeof err) && strstr(err, "metadata key \"k\" appears twice"),
               "save refuses a repeated metadata key (%s)", err);
    const char *bad_utf8[] = {"k", "\xff", NULL};
    check_true(t, !ckpt_save(path, &ok1, 1, NULL, bad_utf8, err, sizeof err) && strstr(err, "not valid UTF-8"),
               "save refuses metadata that is not UTF-8 (%s)", err);
    check_true(t, !ckpt_save("/nonexistent-dir/x.safetensors", &ok1, 1, NULL, NULL, err, sizeof err) &&
                      strstr(err, "cannot write /nonexistent-dir/x.safetensors: No such file or directory"),
               "save into a missing directory fails without dying (%s)", err);
    check_true(t, !file_exists(path) && leftover_tmp_files() == 0, "refused saves leave no file behind");
    free(path);
}

/* A save that fails while writing (the file size limit, RLIMIT_FSIZE, makes
 * write fail with EFBIG) must leave the previous file as it was. */
static void test_atomic_failure(Check *t) {
    float small[4] = {1, 2, 3, 4};
    char err[256] = "", *path = tmp_path("atomic.safetensors");
    NamedTensor a = ct("w", DT_F32, 1, (const int64_t[]){4}, small);
    const char *meta[] = {"version", "old", NULL};
    check_true(t, ckpt_save(path, &a, 1, NULL, meta, err, sizeof err), "save the old file (%s)", err);
    size_t old_len = 0, now_len = 0;
    char *old = file_read(path, &old_len, NULL, 0);

    enum { BIG = 1 << 16 };
    float *big = xcalloc(BIG, sizeof *big);
    NamedTensor b = ct("w", DT_F32, 1, (const int64_t[]){BIG}, big);
    const char *meta2[] = {"version", "new", NULL};
    struct rlimit saved, lim;
    getrlimit(RLIMIT_FSIZE, &saved);
    lim = saved;
    lim.rlim_cur = 4096;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    setrlimit(RLIMIT_FSIZE, &lim);
    bool ok = ckpt_save(path, &b, 1, NULL, meta2, err, sizeof err);
    setrlimit(RLIMIT_FSIZE, &saved);
    signal(SIGXFSZ, prev);
    check_true(t, !ok && strstr(err, "cannot write"), "a save past the file size limit fails (%s)", err);
    char *now = file_read(path, &now_len, NULL, 0);
    check_true(t, old && now && old_len == now_len && memcmp(old, now, old_len) == 0, "the old file is intact");
    check_true(t, leftover_tmp_files() == 0, "and no temporary file is left");
    err[0] = '\0';
    Ckpt *c = ckpt_load(path, err, sizeof err);
    check_true(t, c && strcmp(ckpt_meta(c, "version"), "old") == 0, "the old file still loads (%s)", err);
    ckpt_free(c);

    err[0] = '\0';
    check_true(t, ckpt_save(path, &b, 1, NULL, meta2, err, sizeof err), "without the limit the new save succeeds (%s)", err);
    c = ckpt_load(path, err, sizeof err);
    check_true(t, c && strcmp(ckpt_meta(c, "version"), "new") == 0 && nbytes(ckpt_find(c, "w")) == BIG * 4,
               "and replaces the old file");
    ckpt_free(c);
    free(old), free(now), free(big), free(path);
}

/* ---- An independent reader ----------------------------------------------------------------------------- */

/* Python's json module parses the header we wrote, and the offsets, dtypes,
 * shapes and metadata match; skipped (no check counted) without python3. */
static void test_python_reads_it(Check *t) {
    if (system("command -v python3 > /dev/null 2>&1") != 0) {
        printf("note: python3 not found; skipping the check with Python's json module\n");
        return;
    }
    char *path = tmp_path("py.safetensors"), err[256] = "";
    float w[6] = {1, 2, 3, 4, 5, 6};
    int32_t idx[3] = {7, -8, 9};
    NamedTensor ts[2] = {ct("w\"\\\xc3\xa9", DT_F32, 2, (const int64_t[]){2, 3}, w), ct("idx", DT_I32, 1, (const int64_t[]){3}, idx)};
    const char *meta[] = {"note", "a \"b\"\n\xe2\x82\xac", NULL};
    ckpt_save(path, ts, 2, NULL, meta, err, sizeof err);
    char *cmd = xasprintf(
        "python3 - '%s' <<'EOF'\n"
        "import json, struct, sys\n"
        "b = open(sys.argv[1], 'rb').read()\n"
        "n = struct.unpack('<Q', b[:8])[0]\n"
        "h = json.loads(b[8:8 + n].decode('utf-8'))\n"
        "d = b[8 + n:]\n"
        "assert n %% 8 == 0, n\n"
        "assert list(h)[0] == '__metadata__' and h['__metadata__'] == {'note': 'a \"b\"\\n\\u20ac'}, h\n"
        "w = h['w\"\\\\\\u00e9']\n"
        "assert w['dtype'] == 'F32' and w['shape'] == [2, 3] and w['data_offsets'] == [0, 24], w\n"
        "assert struct.unpack('<6f', d[0:24]) == (1, 2, 3, 4, 5, 6)\n"
        "i = h['idx']\n"
        "assert i['dtype'] == 'I32' and i['shape'] == [3] and i['data_offsets'] == [24, 36], i\n"
        "assert struct.unpack('<3i', d[24:36]) == (7, -8, 9) and len(d) == 36\n"
        "EOF\n", path);
    int rc = system(cmd);
    check_true(t, rc == 0, "Python's json and struct read our header, offsets and data (exit %d)", rc);
    free(cmd), free(path);
}

static void remove_tmpdir(void) {
    DIR *d = opendir(tmpdir);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char *p = tmp_path(e->d_name);
        unlink(p);
        free(p);
    }
    if (d) closedir(d);
    rmdir(tmpdir);
}

int main(void) {
    Check t;
    check_init(&t, "ckpt");
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_ckpt.XXXXXX");
    if (!mkdtemp(tmpdir)) die("cannot create a temporary directory");
    test_hand_worked(&t);
    test_round_trip(&t);
    test_refusals(&t);
    test_truncations(&t);
    test_corruptions(&t);
    test_save_refusals(&t);
    test_atomic_failure(&t);
    test_python_reads_it(&t);
    remove_tmpdir();
    return check_summary(&t);
}
