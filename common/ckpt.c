/* ckpt.c -- safetensors reading and writing; see ckpt.h for the contract.
 *
 * Three parts: a strict JSON parser for the header (a small tree of values),
 * the checks that turn a parsed header into a Ckpt, and the writer. */
#include "ckpt.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "safetensors stores little-endian data; this code writes memory as it is");

#define JSON_MAX_DEPTH 16
#define JSON_MAX_ARRAY 64

/* A name from the file, fit for a one-line message: at most 40 printable
 * ASCII characters, others shown as '?'. */
static const char *shown(const char *s, char out[48]) {
    size_t i = 0;
    for (; s[i] && i < 40; i++) out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    strcpy(out + i, s[i] ? "..." : "");
    return out;
}

/* A growing byte string (NUL-terminated). */
typedef struct { char *s; size_t n, cap; } Buf;

static void buf_put(Buf *b, const void *p, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->s = xrealloc(b->s, b->cap);
    }
    memcpy(b->s + b->n, p, n);
    b->n += n;
    b->s[b->n] = '\0';
}

static void buf_putc(Buf *b, char c) { buf_put(b, &c, 1); }
static void buf_puts(Buf *b, const char *s) { buf_put(b, s, strlen(s)); }

/* Length of the valid UTF-8 sequence at p (1 to 4), or 0 if it is not one:
 * no overlong forms, no surrogates (U+D800..DFFF), nothing above U+10FFFF. */
static int utf8_len(const unsigned char *p, const unsigned char *end) {
    unsigned c = p[0];
    int n;
    unsigned lo = 0x80, hi = 0xbf;  /* allowed range of the second byte */
    if (c < 0x80) return 1;
    else if (c >= 0xc2 && c <= 0xdf) n = 2;
    else if (c >= 0xe0 && c <= 0xef) n = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
    else if (c >= 0xf0 && c <= 0xf4) n = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    else return 0;
    if (end - p < n || p[1] < lo || p[1] > hi) return 0;
    for (int i = 2; i < n; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    return n;
}

static bool utf8_valid(const char *s) {
    const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
    for (int n; p < end; p += n)
        if ((n = utf8_len(p, end)) == 0) return false;
    return true;
}

/* ---- Strict JSON ----------------------------------------------------------------------------- */

typedef enum { J_INT, J_STRING, J_ARRAY, J_OBJECT } JKind;

typedef struct JValue JValue;
struct JValue {
    JKind kind;
    int64_t num;        /* J_INT */
    char *str;          /* J_STRING: UTF-8, no NUL inside */
    size_t n, cap;      /* J_ARRAY, J_OBJECT: members, and room for them */
    char **keys;        /* J_OBJECT: n keys */
    JValue *items;      /* J_ARRAY, J_OBJECT: n values */
};

typedef struct {
    const unsigned char *p, *start, *end;
    int depth;
    char *err;
    size_t errlen;
} JParser;

static bool jfail(JParser *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool jfail(JParser *j, const char *fmt, ...) {
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf_line(j->err, j->errlen, "invalid JSON in the header at byte %zu: %s", (size_t)(j->p - j->start), msg);
    return false;
}

static void jfree(JValue *v) {
    free(v->str);
    for (size_t i = 0; i < v->n; i++) {
        if (v->keys) free(v->keys[i]);
        jfree(&v->items[i]);
    }
    free(v->keys);
    free(v->items);
    *v = (JValue){0};
}

static void skip_ws(JParser *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

static int hex_digit(unsigned c) {
    return c >= '0' && c <= '9' ? (int)(c - '0') : c >= 'a' && c <= 'f' ? (int)(c - 'a' + 10)
         : c >= 'A' && c <= 'F' ? (int)(c - 'A' + 10) : -1;
}

/* Four hex digits after "\u". */
static bool parse_hex4(JParser *j, unsigned *cp) {
    if (j->end - j->p < 4) return jfail(j, "truncated \\u escape");
    *cp = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_digit(j->p[i]);
        if (d < 0) return jfail(j, "bad hex digit in \\u escape");
        *cp = *cp * 16 + (unsigned)d;
    }
    j->p += 4;
    return true;
}

static void put_utf8(Buf *b, unsigned cp) {
    char s[4];
    size_t n;
    if (cp < 0x80) s[0] = (char)cp, n = 1;
    else if (cp < 0x800) s[0] = (char)(0xc0 | cp >> 6), s[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
    else if (cp < 0x10000)
        s[0] = (char)(0xe0 | cp >> 12), s[1] = (char)(0x80 | ((cp >> 6) & 0x3f)), s[2] = (char)(0x80 | (cp & 0x3f)), n = 3;
    else
        s[0] = (char)(0xf0 | cp >> 18), s[1] = (char)(0x80 | ((cp >> 12) & 0x3f)),
        s[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), s[3] = (char)(0x80 | (cp & 0x3f)), n = 4;
    buf_put(b, s, n);
}

/* An escape after the backslash: \" \\ \/ \b \f \n \r \t, or \uXXXX (a
 * surrogate pair for code points above U+FFFF; U+0000 refused, since names
 * are C strings). */
static bool parse_escape(JParser *j, Buf *b) {
    if (j->p >= j->end) return jfail(j, "truncated escape");
    unsigned c = *j->p++, cp;
    const char *simple = strchr("\"\\/bfnrt", (int)c);
    if (c && simple) {
        static const char decoded[] = "\"\\/\b\f\n\r\t";
        buf_putc(b, decoded[simple - "\"\\/bfnrt"]);
        return true;
    }
    if (c != 'u') return jfail(j, "unknown escape \\%c", c >= 0x20 && c < 0x7f ? (int)c : '?');
    if (!parse_hex4(j, &cp)) return false;
    if (cp >= 0xdc00 && cp <= 0xdfff) return jfail(j, "lone low surrogate \\u%04x", cp);
    if (cp >= 0xd800 && cp <= 0xdbff) {
        unsigned lo;
        if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u') return jfail(j, "lone high surrogate \\u%04x", cp);
        j->p += 2;
        if (!parse_hex4(j, &lo)) return false;
        if (lo < 0xdc00 || lo > 0xdfff) return jfail(j, "high surrogate not followed by a low one");
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    if (cp == 0) return jfail(j, "\\u0000 is not allowed in a string");
    put_utf8(b, cp);
    return true;
}

static bool parse_string(JParser *j, char **out) {
    Buf b = {0};
    buf_put(&b, "", 0);
    j->p++;  /* the opening quote */
    for (;;) {
        if (j->p >= j->end) { free(b.s); return jfail(j, "unterminated string"); }
        unsigned c = *j->p;
        if (c == '"') break;
        bool ok = true;
        if (c == '\\') j->p++, ok = parse_escape(j, &b);
        else if (c < 0x20) ok = jfail(j, "control character 0x%02x in a string", c);
        else {
            int n = utf8_len(j->p, j->end);
            if (n == 0) ok = jfail(j, "invalid UTF-8 in a string");
            else buf_put(&b, j->p, (size_t)n), j->p += n;
        }
        if (!ok) { free(b.s); return false; }
    }
    j->p++;
    *out = b.s;
    return true;
}

/* An integer: -?(0|[1-9][0-9]*), within int64_t; fractions and exponents refused. */
static bool parse_int(JParser *j, int64_t *out) {
    bool neg = *j->p == '-';
    if (neg) j->p++;
    if (j->p >= j->end || *j->p < '0' || *j->p > '9') return jfail(j, "expected a digit");
    if (*j->p == '0' && j->p + 1 < j->end && j->p[1] >= '0' && j->p[1] <= '9')
        return jfail(j, "leading zero in a number");
    uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        unsigned d = *j->p - '0';
        if (v > (limit - d) / 10) return jfail(j, "integer out of range");
        v = v * 10 + d;
        j->p++;
    }
    if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E'))
        return jfail(j, "only integers are allowed (found a fraction or an exponent)");
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

static bool parse_value(JParser *j, JValue *out);

/* Room for one more member (and its key, in an object), doubling as needed;
 * arrays stop at JSON_MAX_ARRAY, which the header never needs to exceed
 * (a shape has at most 8 dimensions). */
static JValue *append_item(JParser *j, JValue *v) {
    if (v->kind == J_ARRAY && v->n == JSON_MAX_ARRAY)
        return jfail(j, "an array longer than %d items", JSON_MAX_ARRAY), NULL;
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 4;
        v->items = xrealloc(v->items, v->cap * sizeof *v->items);
        if (v->kind == J_OBJECT) v->keys = xrealloc(v->keys, v->cap * sizeof *v->keys);
    }
    v->items[v->n] = (JValue){0};
    if (v->kind == J_OBJECT) v->keys[v->n] = NULL;
    return &v->items[v->n++];
}

static bool parse_array(JParser *j, JValue *out) {
    out->kind = J_ARRAY;
    j->p++;
    skip_ws(j);
    if (j->p < j->end && *j->p == ']') return j->p++, true;
    for (;;) {
        JValue *item = append_item(j, out);
        if (!item || !parse_value(j, item)) return false;
        skip_ws(j);
        if (j->p >= j->end) return jfail(j, "unterminated array");
        if (*j->p == ']') return j->p++, true;
        if (*j->p != ',') return jfail(j, "expected ',' or ']' in an array");
        j->p++;
    }
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* The first string that appears twice in names[0..n) (which it sorts), or NULL. */
static const char *first_duplicate(const char **names, size_t n) {
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 1; i < n; i++)
        if (strcmp(names[i], names[i - 1]) == 0) return names[i];
    return NULL;
}

/* Refuse an object whose keys repeat (sorting, so that a header of many
 * keys costs n log n, not n^2). */
static bool check_unique_keys(JParser *j, const JValue *obj) {
    const char **keys = xmalloc_array(obj->n ? obj->n : 1, sizeof *keys);
    for (size_t i = 0; i < obj->n; i++) keys[i] = obj->keys[i];
    const char *dup = first_duplicate(keys, obj->n);
    char s[48];
    bool ok = dup ? jfail(j, "duplicate key \"%s\"", shown(dup, s)) : true;
    free(keys);
    return ok;
}

static bool parse_object(JParser *j, JValue *out) {
    out->kind = J_OBJECT;
    j->p++;
    skip_ws(j);
    if (j->p < j->end && *j->p == '}') return j->p++, true;
    for (;;) {
        skip_ws(j);
        if (j->p >= j->end || *j->p != '"') return jfail(j, "expected a string key");
        JValue *item = append_item(j, out);
        if (!parse_string(j, &out->keys[out->n - 1])) return false;
        skip_ws(j);
        if (j->p >= j->end || *j->p != ':') return jfail(j, "expected ':' after a key");
        j->p++;
        if (!parse_value(j, item)) return false;
        skip_ws(j);
        if (j->p >= j->end) return jfail(j, "unterminated object");
        if (*j->p == '}') { j->p++; return check_unique_keys(j, out); }
        if (*j->p != ',') return jfail(j, "expected ',' or '}' in an object");
        j->p++;
    }
}

static bool parse_value(JParser *j, JValue *out) {
    skip_ws(j);
    if (j->p >= j->end) return jfail(j, "unexpected end of the header");
    unsigned c = *j->p;
    if (c == '"') { out->kind = J_STRING; return parse_string(j, &out->str); }
    if (c == '-' || (c >= '0' && c <= '9')) { out->kind = J_INT; return parse_int(j, &out->num); }
    if (c == '{' || c == '[') {
        if (++j->depth > JSON_MAX_DEPTH) return jfail(j, "nested deeper than %d levels", JSON_MAX_DEPTH);
        bool ok = c == '{' ? parse_object(j, out) : parse_array(j, out);
        j->depth--;
        return ok;
    }
    if (c == 't' || c == 'f' || c == 'n') return jfail(j, "true, false and null are not allowed");
    return jfail(j, "unexpected character 0x%02x", c);
}

/* The whole header: one value (an object, checked later), then only whitespace. */
static bool parse_json(const void *text, size_t len, JValue *root, char *err, size_t errlen) {
    JParser j = {text, text, (const unsigned char *)text + len, 0, err, errlen};
    *root = (JValue){0};
    bool ok = parse_value(&j, root);
    if (ok) {
        skip_ws(&j);
        if (j.p != j.end) ok = jfail(&j, "unexpected data after the header object");
    }
    if (!ok) jfree(root);
    return ok;
}

/* ---- From a parsed header to a Ckpt ----------------------------------------------------------- */

static const JValue *member(const JValue *obj, const char *key) {
    for (size_t i = 0; i < obj->n; i++)
        if (strcmp(obj->keys[i], key) == 0) return &obj->items[i];
    return NULL;
}

/* A tensor of the header, before its data is attached. */
typedef struct {
    char *name;
    DType dtype;
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];
    size_t nbytes;
} Entry;

/* One tensor entry {"dtype": ..., "shape": [...], "data_offsets": [b, e]}, exactly. */
static bool read_entry(const char *name, const JValue *v, size_t data_len, Entry *t, size_t *begin,
                       char *err, size_t errlen) {
    char s[48], d[48];
    shown(name, s);
    if (!*name) return snprintf_line(err, errlen, "a tensor has an empty name"), false;
    const JValue *dt = v->kind == J_OBJECT ? member(v, "dtype") : NULL;
    const JValue *shape = v->kind == J_OBJECT ? member(v, "shape") : NULL;
    const JValue *offs = v->kind == J_OBJECT ? member(v, "data_offsets") : NULL;
    if (!dt || !shape || !offs || v->n != 3)
        return snprintf_line(err, errlen, "tensor \"%s\": expected an object with exactly dtype, shape and data_offsets", s), false;
    if (dt->kind != J_STRING || !dtype_from_name(dt->str, &t->dtype))
        return snprintf_line(err, errlen, "tensor \"%s\": unknown dtype \"%s\"", s,
                             dt->kind == J_STRING ? shown(dt->str, d) : "(not a string)"), false;
    if (shape->kind != J_ARRAY || shape->n > TENSOR_MAX_DIMS)
        return snprintf_line(err, errlen, "tensor \"%s\": shape must be an array of at most %d integers", s, TENSOR_MAX_DIMS), false;
    int64_t limit = (int64_t)((uint64_t)INT64_MAX / dtype_size(t->dtype)), numel = 1;
    t->ndim = (int)shape->n;
    for (size_t i = 0; i < shape->n; i++) {
        const JValue *dim = &shape->items[i];
        if (dim->kind != J_INT || dim->num < 0)
            return snprintf_line(err, errlen, "tensor \"%s\": dimension %zu is not a non-negative integer", s, i), false;
        if (dim->num > 0 && numel > limit / dim->num)
            return snprintf_line(err, errlen, "tensor \"%s\": the shape's size overflows", s), false;
        t->shape[i] = dim->num;
        numel *= dim->num;
    }
    if (offs->kind != J_ARRAY || offs->n != 2 || offs->items[0].kind != J_INT || offs->items[1].kind != J_INT ||
        offs->items[0].num < 0 || offs->items[1].num < offs->items[0].num)
        return snprintf_line(err, errlen, "tensor \"%s\": data_offsets must be [begin, end] with 0 <= begin <= end", s), false;
    uint64_t b = (uint64_t)offs->items[0].num, e = (uint64_t)offs->items[1].num;
    if (e > data_len)
        return snprintf_line(err, errlen, "tensor \"%s\": data_offsets [%llu, %llu] go past the end of the data (%zu bytes)",
                       s, (unsigned long long)b, (unsigned long long)e, data_len), false;
    t->nbytes = (size_t)numel * dtype_size(t->dtype);
    if (e - b != t->nbytes)
        return snprintf_line(err, errlen, "tensor \"%s\": %s of %lld elements needs %zu bytes, data_offsets cover %llu", s,
                       dtype_name(t->dtype), (long long)numel, t->nbytes, (unsigned long long)(e - b)), false;
    t->name = xstrdup(name);
    *begin = (size_t)b;
    return true;
}

static bool read_metadata(Ckpt *c, const JValue *v, char *err, size_t errlen) {
    if (v->kind != J_OBJECT) return snprintf_line(err, errlen, "__metadata__ must be an object of strings"), false;
    c->keys = xcalloc(v->n ? v->n : 1, sizeof *c->keys);
    c->values = xcalloc(v->n ? v->n : 1, sizeof *c->values);
    for (size_t i = 0; i < v->n; i++) {
        char s[48];
        if (v->items[i].kind != J_STRING)
            return snprintf_line(err, errlen, "__metadata__ value of \"%s\" is not a string", shown(v->keys[i], s)), false;
        c->keys[i] = xstrdup(v->keys[i]);
        c->values[i] = xstrdup(v->items[i].str);
        c->nmeta++;
    }
    return true;
}

typedef struct { size_t begin, end, index; } Span;

static int cmp_span(const void *a, const void *b) {
    const Span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* The tensors, sorted by offset, must tile [0, data_len) exactly: each one
 * begins where the previous ended. */
static bool check_tiling(const Entry *t, Span *spans, size_t n, size_t data_len, char *err, size_t errlen) {
    qsort(spans, n, sizeof *spans, cmp_span);
    size_t expect = 0;
    char s[48], p[48];
    for (size_t i = 0; i < n; i++) {
        const char *name = shown(t[spans[i].index].name, s);
        if (spans[i].begin < expect)
            return snprintf_line(err, errlen, "tensor \"%s\" overlaps tensor \"%s\" (data_offsets begin at %zu, before %zu)", name,
                           shown(t[spans[i - 1].index].name, p), spans[i].begin, expect), false;
        if (spans[i].begin > expect)
            return snprintf_line(err, errlen, "data bytes [%zu, %zu) belong to no tensor (a gap before \"%s\")", expect,
                           spans[i].begin, name), false;
        expect = spans[i].end;
    }
    if (expect != data_len)
        return snprintf_line(err, errlen, "the last %zu bytes of data belong to no tensor", data_len - expect), false;
    return true;
}

/* Every check of ckpt.h on a parsed header; the tensors come out in file
 * order, each data pointer still an offset (set by attach_blob). */
static Ckpt *ckpt_from_header(const JValue *root, size_t data_len, size_t **begins_out, char *err, size_t errlen) {
    if (root->kind != J_OBJECT) return snprintf_line(err, errlen, "the header is not a JSON object"), NULL;
    Ckpt *c = xcalloc(1, sizeof *c);
    Entry *t = xcalloc(root->n ? root->n : 1, sizeof *t);
    Span *spans = xcalloc(root->n ? root->n : 1, sizeof *spans);
    size_t nt = 0;
    bool ok = true;
    for (size_t i = 0; i < root->n && ok; i++) {
        if (strcmp(root->keys[i], "__metadata__") == 0) ok = read_metadata(c, &root->items[i], err, errlen);
        else if ((ok = read_entry(root->keys[i], &root->items[i], data_len, &t[nt], &spans[nt].begin, err, errlen)))
            spans[nt].end = spans[nt].begin + t[nt].nbytes, spans[nt].index = nt, nt++;
    }
    ok = ok && check_tiling(t, spans, nt, data_len, err, errlen);
    if (ok) {  /* file order */
        c->tensors = xcalloc(nt ? nt : 1, sizeof *c->tensors);
        *begins_out = xcalloc(nt ? nt : 1, sizeof **begins_out);
        for (size_t i = 0; i < nt; i++) {
            const Entry *e = &t[spans[i].index];
            NamedTensor *x = &c->tensors[i];
            x->name = e->name;
            x->t = (Tensor){.dtype = e->dtype, .device = DEV_CPU, .ndim = e->ndim};
            int64_t stride = 1;
            for (int d = e->ndim - 1; d >= 0; d--) x->t.shape[d] = e->shape[d], x->t.strides[d] = stride, stride *= e->shape[d];
            (*begins_out)[i] = spans[i].begin;
        }
        c->n = nt;
    } else {
        for (size_t i = 0; i < nt; i++) free(t[i].name);
    }
    free(t);
    free(spans);
    if (!ok) { ckpt_free(c); return NULL; }
    return c;
}

static void *aligned_blob(size_t n) {
    size_t bytes = (n + 63) / 64 * 64;
    void *p = aligned_alloc(64, bytes ? bytes : 64);
    if (!p) die("out of memory (a checkpoint of %zu bytes)", n);
    return p;
}

static void attach_blob(Ckpt *c, void *blob, const size_t *begins) {
    c->blob = blob;
    for (size_t i = 0; i < c->n; i++) c->tensors[i].t.data = (unsigned char *)blob + begins[i];
}

static uint64_t read_le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* The length prefix, checked against the file size and the limit. */
static bool check_header_len(uint64_t n, size_t file_len, char *err, size_t errlen) {
    if (file_len < 8) return snprintf_line(err, errlen, "%zu bytes: too short for the 8-byte header length", file_len), false;
    if (n > CKPT_MAX_HEADER)
        return snprintf_line(err, errlen, "header length %llu is larger than the limit of %u bytes", (unsigned long long)n, CKPT_MAX_HEADER), false;
    if (n > file_len - 8)
        return snprintf_line(err, errlen, "header length %llu is larger than the file (%zu bytes)", (unsigned long long)n, file_len), false;
    return true;
}

Ckpt *ckpt_parse(const void *buf, size_t len, char *err, size_t errlen) {
    const unsigned char *p = buf;
    uint64_t n = len >= 8 ? read_le64(p) : 0;
    if (!check_header_len(n, len, err, errlen)) return NULL;
    JValue root;
    if (!parse_json(p + 8, (size_t)n, &root, err, errlen)) return NULL;
    size_t data_len = len - 8 - (size_t)n, *begins = NULL;
    Ckpt *c = ckpt_from_header(&root, data_len, &begins, err, errlen);
    jfree(&root);
    if (!c) return NULL;
    void *blob = aligned_blob(data_len);
    if (data_len) memcpy(blob, p + 8 + n, data_len);
    attach_blob(c, blob, begins);
    free(begins);
    return c;
}

/* Read exactly n bytes or say why not. */
static bool read_exact(FILE *fp, void *dst, size_t n, const char *path, char *err, size_t errlen) {
    if (n == 0 || fread(dst, 1, n, fp) == n) return true;
    snprintf_line(err, errlen, "%s: %s", path, ferror(fp) ? strerror(errno) : "the file is shorter than its header says");
    return false;
}

Ckpt *ckpt_load(const char *path, char *err, size_t errlen) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return snprintf_line(err, errlen, "cannot open %s: %s", path, strerror(errno)), NULL;
    struct stat st;
    unsigned char len8[8];
    char why[400];
    Ckpt *c = NULL;
    char *header = NULL;
    size_t *begins = NULL;
    void *blob = NULL;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf_line(err, errlen, "%s: not a regular file", path);
        goto done;
    }
    size_t size = (size_t)st.st_size;
    if (size >= 8 && !read_exact(fp, len8, 8, path, err, errlen)) goto done;
    uint64_t n = size >= 8 ? read_le64(len8) : 0;
    if (!check_header_len(n, size, why, sizeof why)) {
        snprintf_line(err, errlen, "%s: %s", path, why);
        goto done;
    }
    header = xmalloc((size_t)n + 1);
    if (!read_exact(fp, header, (size_t)n, path, err, errlen)) goto done;
    JValue root;
    if (!parse_json(header, (size_t)n, &root, why, sizeof why)) {
        snprintf_line(err, errlen, "%s: %s", path, why);
        goto done;
    }
    size_t data_len = size - 8 - (size_t)n;
    c = ckpt_from_header(&root, data_len, &begins, why, sizeof why);
    jfree(&root);
    if (!c) {
        snprintf_line(err, errlen, "%s: %s", path, why);
        goto done;
    }
    blob = aligned_blob(data_len);
    if (!read_exact(fp, blob, data_len, path, err, errlen)) {
        free(blob);
        ckpt_free(c);
        c = NULL;
        goto done;
    }
    attach_blob(c, blob, begins);
done:
    free(header);
    free(begins);
    fclose(fp);
    return c;
}

const NamedTensor *ckpt_find(const Ckpt *c, const char *name) {
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->tensors[i].name, name) == 0) return &c->tensors[i];
    return NULL;
}

const char *ckpt_meta(const Ckpt *c, const char *key) {
    for (size_t i = 0; i < c->nmeta; i++)
        if (strcmp(c->keys[i], key) == 0) return c->values[i];
    return NULL;
}

void ckpt_free(Ckpt *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) free((char *)c->tensors[i].name);
    for (size_t i = 0; i < c->nmeta; i++) free(c->keys[i]), free(c->values[i]);
    free(c->tensors);
    free(c->keys);
    free(c->values);
    free(c->blob);
    free(c);
}

/* ---- Writing ---------------------------------------------------------------------------------- */

/* A JSON string: quotes, backslashes and control characters escaped, the
 * rest (UTF-8 included) as it is. */
static void put_json_string(Buf *b, const char *s) {
    buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') buf_putc(b, '\\'), buf_putc(b, (char)*p);
        else if (*p == '\n') buf_puts(b, "\\n");
        else if (*p == '\t') buf_puts(b, "\\t");
        else if (*p == '\r') buf_puts(b, "\\r");
        else if (*p < 0x20) snprintf(esc, sizeof esc, "\\u%04x", *p), buf_puts(b, esc);
        else buf_putc(b, (char)*p);
    }
    buf_putc(b, '"');
}

/* What the reader would refuse, refused before writing anything.  meta
 * holds nmeta key-value pairs. */
static bool check_for_save(const NamedTensor *t, size_t n, const char *const *meta, size_t nmeta, char *err,
                           size_t errlen) {
    char s[48];
    const char **names = xmalloc_array(n > nmeta ? n : nmeta ? nmeta : 1, sizeof *names);
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        const NamedTensor *x = &t[i];
        if (!x->name || !*x->name || strcmp(x->name, "__metadata__") == 0 || !utf8_valid(x->name))
            ok = (snprintf_line(err, errlen, "tensor %zu: a name must be non-empty UTF-8 other than __metadata__", i), false);
        else if ((unsigned)x->t.dtype >= DT_COUNT || x->t.ndim < 0 || x->t.ndim > TENSOR_MAX_DIMS)
            ok = (snprintf_line(err, errlen, "tensor \"%s\": invalid dtype or number of dimensions", shown(x->name, s)), false);
        else if (x->t.device != DEV_CPU)
            ok = (snprintf_line(err, errlen, "tensor \"%s\": not on the cpu (download it first)", shown(x->name, s)), false);
        int64_t numel = 1, limit = ok ? (int64_t)((uint64_t)INT64_MAX / dtype_size(x->t.dtype)) : 0;
        for (int d = 0; ok && d < x->t.ndim; d++) {
            if (x->t.shape[d] < 0 || (x->t.shape[d] > 0 && numel > limit / x->t.shape[d]))
                ok = (snprintf_line(err, errlen, "tensor \"%s\": bad dimension %d", shown(x->name, s), d), false);
            else numel *= x->t.shape[d];
        }
        if (ok && !tensor_is_contiguous(&x->t))
            ok = (snprintf_line(err, errlen, "tensor \"%s\": not contiguous (copy it first)", shown(x->name, s)), false);
        if (ok && numel > 0 && !x->t.data) ok = (snprintf_line(err, errlen, "tensor \"%s\": no data", shown(x->name, s)), false);
        names[i] = x->name;
    }
    const char *dup = ok ? first_duplicate(names, n) : NULL;
    if (dup) ok = (snprintf_line(err, errlen, "two tensors are named \"%s\"", shown(dup, s)), false);
    for (size_t i = 0; i < nmeta && ok; i++) {
        if (!utf8_valid(meta[2 * i]) || !utf8_valid(meta[2 * i + 1]))
            ok = (snprintf_line(err, errlen, "metadata %zu is not valid UTF-8", i), false);
        names[i] = meta[2 * i];
    }
    dup = ok ? first_duplicate(names, nmeta) : NULL;
    if (dup) ok = (snprintf_line(err, errlen, "metadata key \"%s\" appears twice", shown(dup, s)), false);
    free(names);
    return ok;
}

/* The header JSON, padded with spaces to a multiple of 8 bytes. */
static Buf make_header(const NamedTensor *t, size_t n, const char *const *meta, size_t nmeta) {
    Buf b = {0};
    buf_putc(&b, '{');
    if (nmeta) {
        buf_puts(&b, "\"__metadata__\":{");
        for (size_t i = 0; i < nmeta; i++) {
            if (i) buf_putc(&b, ',');
            put_json_string(&b, meta[2 * i]);
            buf_putc(&b, ':');
            put_json_string(&b, meta[2 * i + 1]);
        }
        buf_putc(&b, '}');
    }
    size_t offset = 0;
    for (size_t i = 0; i < n; i++) {
        char num[48];
        size_t nbytes = tensor_nbytes(&t[i].t);
        if (i || nmeta) buf_putc(&b, ',');
        put_json_string(&b, t[i].name);
        buf_puts(&b, ":{\"dtype\":\"");
        buf_puts(&b, dtype_name(t[i].t.dtype));
        buf_puts(&b, "\",\"shape\":[");
        for (int d = 0; d < t[i].t.ndim; d++) {
            snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)t[i].t.shape[d]);
            buf_puts(&b, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%zu,%zu]}", offset, offset + nbytes);
        buf_puts(&b, num);
        offset += nbytes;
    }
    buf_putc(&b, '}');
    while (b.n % 8) buf_putc(&b, ' ');
    return b;
}

bool ckpt_save(const char *path, const NamedTensor *t, size_t n, const Provenance *prov, const char *const *meta,
               char *err, size_t errlen) {
    size_t nuser = 0;
    while (meta && meta[2 * nuser]) {
        if (!meta[2 * nuser + 1])
            return snprintf_line(err, errlen, "metadata key \"%s\" has no value (meta must end with NULL after a value)", meta[2 * nuser]), false;
        nuser++;
    }
    /* the provenance's pairs, then the caller's */
    size_t nprov = prov ? PROVENANCE_META : 0, nmeta = nprov + nuser;
    const char **all = xmalloc_array(2 * nmeta + 1, sizeof *all);
    char threads[16];
    if (prov) provenance_meta(prov, all, threads);
    for (size_t i = 0; i < 2 * nuser; i++) all[2 * nprov + i] = meta[i];
    bool ok = check_for_save(t, n, all, nmeta, err, errlen);
    size_t total = 0;
    for (size_t i = 0; i < n && ok; i++) {
        size_t nbytes = tensor_nbytes(&t[i].t);
        if (nbytes > SIZE_MAX - total) ok = (snprintf_line(err, errlen, "the tensors' total size overflows"), false);
        else total += nbytes;
    }
    Buf h = {0};
    if (ok) h = make_header(t, n, all, nmeta);
    free(all);
    if (!ok) return false;
    if (h.n > CKPT_MAX_HEADER) {
        free(h.s);
        return snprintf_line(err, errlen, "the header would be %zu bytes, over the limit of %u", h.n, CKPT_MAX_HEADER), false;
    }
    AtomicFile af;
    FILE *fp = atomic_try_open(&af, path, NULL, 0);
    if (!fp) {
        int saved = errno;
        free(h.s);
        return snprintf_line(err, errlen, "cannot write %s: %s", path, strerror(saved)), false;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)h.n >> (8 * i));
    ok = fwrite(len8, 1, 8, fp) == 8 && fwrite(h.s, 1, h.n, fp) == h.n;
    for (size_t i = 0; i < n && ok; i++) {
        size_t nbytes = tensor_nbytes(&t[i].t);
        ok = nbytes == 0 || fwrite(t[i].t.data, 1, nbytes, fp) == nbytes;
    }
    free(h.s);
    if (!ok) {
        int saved = errno;
        atomic_abort(&af);
        return snprintf_line(err, errlen, "cannot write %s: %s", path, strerror(saved)), false;
    }
    if (!atomic_commit(&af)) return snprintf_line(err, errlen, "cannot write %s: %s", path, strerror(errno)), false;
    return true;
}

/* ---- Reading into the caller's tensors ----------------------------------------------------------- */

bool ckpt_read(const Ckpt *c, const NamedTensor *dst, size_t n, char *err, size_t errlen) {
    char s[48], want[128], got[128];
    const NamedTensor **src = xcalloc(n ? n : 1, sizeof *src);
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        const NamedTensor *d = &dst[i];
        if (d->t.device != DEV_CPU || !tensor_is_contiguous(&d->t) || (tensor_numel(&d->t) > 0 && !d->t.data))
            die("ckpt_read: tensor \"%s\" must be contiguous CPU memory", d->name);
        const NamedTensor *x = ckpt_find(c, d->name);
        bool same = x && x->t.dtype == d->t.dtype && x->t.ndim == d->t.ndim;
        for (int k = 0; same && k < d->t.ndim; k++) same = x->t.shape[k] == d->t.shape[k];
        if (!x) {
            ok = (snprintf_line(err, errlen, "the checkpoint has no tensor \"%s\"", shown(d->name, s)), false);
        } else if (!same) {
            tensor_describe(&x->t, got, sizeof got), tensor_describe(&d->t, want, sizeof want);
            ok = (snprintf_line(err, errlen, "tensor \"%s\" is %s in the checkpoint, %s here", shown(d->name, s), got, want), false);
        }
        src[i] = x;
    }
    for (size_t i = 0; i < c->n && ok && c->n > n; i++) {  /* every name of dst was found: more is extra */
        bool described = false;
        for (size_t j = 0; j < n && !described; j++) described = strcmp(c->tensors[i].name, dst[j].name) == 0;
        if (!described)
            ok = (snprintf_line(err, errlen, "the checkpoint holds a tensor \"%s\" that this program does not have",
                          shown(c->tensors[i].name, s)), false);
    }
    for (size_t i = 0; i < n && ok; i++) {
        size_t nbytes = tensor_nbytes(&src[i]->t);
        if (nbytes) memcpy(dst[i].t.data, src[i]->t.data, nbytes);
    }
    free(src);
    return ok;
}
