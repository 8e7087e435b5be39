/* fuzz_ckpt.c -- the safetensors reader (ckpt.h): ckpt_parse on the bytes,
 * ckpt_load on the same bytes as a file (the two must agree), and for what
 * they accept, the contract's promises, ckpt_read into tensors described
 * like the file's, and a round trip through ckpt_save. */
#include "ckpt.h"
#include "fuzz.h"

static void same_ckpt(const Ckpt *a, const Ckpt *b, const char *what) {
    FUZZ_ASSERT(a->n == b->n && a->nmeta == b->nmeta, "%s: %zu/%zu tensors, %zu/%zu metadata", what, a->n, b->n,
                a->nmeta, b->nmeta);
    for (size_t i = 0; i < a->n; i++) {
        const NamedTensor *x = &a->tensors[i], *y = &b->tensors[i];
        size_t n = tensor_nbytes(&x->t);
        FUZZ_ASSERT(strcmp(x->name, y->name) == 0 && x->t.dtype == y->t.dtype && x->t.ndim == y->t.ndim &&
                        n == tensor_nbytes(&y->t) &&
                        memcmp(x->t.shape, y->t.shape, sizeof x->t.shape[0] * (size_t)x->t.ndim) == 0 &&
                        (n == 0 || memcmp(x->t.data, y->t.data, n) == 0),
                    "%s: tensor %zu differs", what, i);
    }
    for (size_t i = 0; i < a->nmeta; i++)
        FUZZ_ASSERT(strcmp(a->keys[i], b->keys[i]) == 0 && strcmp(a->values[i], b->values[i]) == 0,
                    "%s: metadata %zu differs", what, i);
}

static void promises(const Ckpt *c, size_t len) {
    size_t total = 0;
    for (size_t i = 0; i < c->n; i++) {
        const NamedTensor *t = &c->tensors[i];
        FUZZ_ASSERT(t->t.ndim >= 0 && t->t.ndim <= TENSOR_MAX_DIMS, "ndim %d", t->t.ndim);
        FUZZ_ASSERT(t->t.device == DEV_CPU && tensor_is_contiguous(&t->t), "tensor %zu: not a contiguous CPU tensor", i);
        FUZZ_ASSERT((unsigned char *)t->t.data == (unsigned char *)c->blob + total, "tensor %zu: not in file order", i);
        FUZZ_ASSERT(ckpt_find(c, t->name) == t, "names are not unique");
        total += tensor_nbytes(&t->t);
    }
    FUZZ_ASSERT(total <= len, "tensors hold %zu bytes of a %zu-byte file", total, len);
    for (size_t i = 0; i < c->nmeta; i++) FUZZ_ASSERT(ckpt_meta(c, c->keys[i]) == c->values[i], "metadata keys repeat");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[512] = "", err2[512] = "";
    Ckpt *volatile c = NULL, *volatile c2 = NULL;
    unsigned long dies = fuzz_dies;
    FUZZ_TRY(c = ckpt_parse(data, size, err, sizeof err));
    if (!c && fuzz_dies == dies) FUZZ_ONE_LINE(err);
    const char *path = fuzz_file(data, size);
    FUZZ_TRY(c2 = ckpt_load(path, err2, sizeof err2));
    if (!c2 && fuzz_dies == dies) FUZZ_ONE_LINE(err2);
    FUZZ_ASSERT(!c == !c2, "ckpt_parse %s but ckpt_load %s (%s%s)", c ? "accepts" : "refuses",
                c2 ? "accepts" : "refuses", err, err2);
    if (c) {
        promises(c, size);
        same_ckpt(c, c2, "parse against load");
        /* What the reader accepts, the writer writes back, and it reads the same. */
        const char **meta = xcalloc(2 * c->nmeta + 1, sizeof *meta);
        for (size_t i = 0; i < c->nmeta; i++) meta[2 * i] = c->keys[i], meta[2 * i + 1] = c->values[i];
        const char *out = fuzz_out_path();
        bool saved = ckpt_save(out, c->tensors, c->n, NULL, meta, err, sizeof err);
        free(meta);
        FUZZ_ASSERT(saved, "ckpt_save refuses what ckpt_parse accepted: %s", err);
        Ckpt *back = ckpt_load(out, err, sizeof err);
        FUZZ_ASSERT(back, "ckpt_load refuses what ckpt_save wrote: %s", err);
        same_ckpt(c, back, "round trip");
        ckpt_free(back);
        unlink(out);
        /* ckpt_read into tensors described like the file's, in reverse order: it copies every byte */
        NamedTensor *dst = xcalloc(c->n ? c->n : 1, sizeof *dst);
        size_t total = 0;
        for (size_t i = 0; i < c->n; i++) total += tensor_nbytes(&c->tensors[i].t);
        unsigned char *mem = xcalloc(total ? total : 1, 1), *at = mem;
        for (size_t i = 0; i < c->n; i++) {
            const NamedTensor *x = &c->tensors[c->n - 1 - i];
            dst[i] = (NamedTensor){x->name, x->t};
            dst[i].t.data = at;
            at += tensor_nbytes(&x->t);
        }
        FUZZ_ASSERT(ckpt_read(c, dst, c->n, err, sizeof err), "ckpt_read refuses the file's own description: %s", err);
        for (size_t i = 0; i < c->n; i++) {
            const NamedTensor *x = &c->tensors[c->n - 1 - i];
            size_t n = tensor_nbytes(&x->t);
            FUZZ_ASSERT(n == 0 || memcmp(dst[i].t.data, x->t.data, n) == 0, "ckpt_read: tensor %zu differs", i);
        }
        if (c->n > 0)
            FUZZ_ASSERT(!ckpt_read(c, dst, c->n - 1, err, sizeof err), "ckpt_read accepts a tensor it was not told of");
        free(mem);
        free(dst);
    }
    ckpt_free(c);
    ckpt_free(c2);
    return 0;
}
