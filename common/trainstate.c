/* trainstate.c -- see trainstate.h for the contract. */
#include "trainstate.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define TS_FORMAT "llmc-trainstate"
#define TS_VERSION "1"

static bool fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool fail(char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        for (char *c = err; *c; c++)
            if (*c == '\n' || *c == '\r') *c = ' ';
    }
    return false;
}

static int64_t numel_of(const TrainParam *p) {
    int64_t n = 1;
    for (int d = 0; d < p->ndim; d++) n *= p->shape[d];
    return n;
}

static CkptTensor f32_tensor(const char *name, const TrainParam *p, float *data) {
    CkptTensor t = {.name = (char *)name, .dtype = DT_F32, .ndim = p->ndim, .data = data,
                    .nbytes = (size_t)numel_of(p) * sizeof(float)};
    memcpy(t.shape, p->shape, sizeof t.shape);
    return t;
}

static bool check_params(const TrainState *s, char *err, size_t errlen) {
    for (size_t i = 0; i < s->nparams; i++) {
        const TrainParam *p = &s->params[i];
        if (!p->name || strstr(p->name, ".adam_"))
            return fail(err, errlen, "parameter %zu: a name is needed, without \".adam_\" in it", i);
        if (p->ndim < 0 || p->ndim > TENSOR_MAX_DIMS)
            return fail(err, errlen, "parameter %s: %d dimensions", p->name, p->ndim);
        int64_t n = 1;
        for (int d = 0; d < p->ndim; d++) {
            if (p->shape[d] < 0 || (p->shape[d] > 0 && n > INT64_MAX / 4 / p->shape[d]))
                return fail(err, errlen, "parameter %s: bad dimension %d", p->name, d);
            n *= p->shape[d];
        }
        if (!p->param || (!p->m) != (!p->v))
            return fail(err, errlen, "parameter %s: no values, or only one of Adam's two moments", p->name);
    }
    return true;
}

bool trainstate_save(const char *path, const TrainState *s, char *err, size_t errlen) {
    if (!s->config || s->step < 0) return fail(err, errlen, "trainstate_save: no config, or a negative step");
    if (!check_params(s, err, errlen)) return false;
    size_t nt = 0;
    CkptTensor *t = xcalloc(3 * s->nparams + 1, sizeof *t);
    char **names = xcalloc(2 * s->nparams + 1, sizeof *names);
    for (size_t i = 0; i < s->nparams; i++) {
        const TrainParam *p = &s->params[i];
        t[nt++] = f32_tensor(p->name, p, p->param);
        if (p->m) {
            names[2 * i] = xasprintf("%s.adam_m", p->name);
            names[2 * i + 1] = xasprintf("%s.adam_v", p->name);
            t[nt++] = f32_tensor(names[2 * i], p, p->m);
            t[nt++] = f32_tensor(names[2 * i + 1], p, p->v);
        }
    }
    char step[32], pos[32], rng[80], loss[40];
    snprintf(loss, sizeof loss, "%.17g", s->loss);
    snprintf(step, sizeof step, "%" PRId64, s->step);
    snprintf(pos, sizeof pos, "%" PRIu64, s->data_pos);
    snprintf(rng, sizeof rng, "%016" PRIx64 ",%016" PRIx64 ",%016" PRIx64 ",%016" PRIx64, s->rng.s[0], s->rng.s[1],
             s->rng.s[2], s->rng.s[3]);
    const char *meta[] = {"format", TS_FORMAT, "version", TS_VERSION, "step", step, "data_pos", pos,
                          "loss", loss, "rng", rng, "config", s->config, NULL};
    bool ok = ckpt_save(path, t, nt, meta, err, errlen);
    for (size_t i = 0; i < 2 * s->nparams; i++) free(names[i]);
    free(names);
    free(t);
    return ok;
}

/* A decimal number that fits uint64_t, without sign, spaces or leading zeros. */
static bool parse_dec(const char *s, uint64_t *v) {
    size_t n = strlen(s);
    if (n == 0 || n > 20 || (n > 1 && s[0] == '0')) return false;
    *v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (*v > (UINT64_MAX - d) / 10) return false;
        *v = *v * 10 + d;
    }
    return true;
}

/* A number as "%.17g" writes it (or nan, inf, -inf), nothing else. */
static bool parse_double(const char *s, double *v) {
    if (!*s || strspn(s, "0123456789+-.eEnainfNAINF") != strlen(s)) return false;
    char *end;
    *v = strtod(s, &end);
    return *end == '\0';
}

/* Four words of exactly 16 lowercase hex digits, comma-separated. */
static bool parse_rng(const char *s, Rng *r) {
    if (strlen(s) != 4 * 16 + 3) return false;
    for (int w = 0; w < 4; w++) {
        const char *p = s + 17 * w;
        if (w < 3 && p[16] != ',') return false;
        uint64_t x = 0;
        for (int i = 0; i < 16; i++) {
            char c = p[i];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0) return false;
            x = x << 4 | (uint64_t)d;
        }
        r->s[w] = x;
    }
    return (r->s[0] | r->s[1] | r->s[2] | r->s[3]) != 0;
}

/* The tensor `name`, F32 and of p's shape, or NULL with the reason in err. */
static const CkptTensor *find_f32(const Ckpt *c, const char *name, const TrainParam *p, char *err, size_t errlen) {
    const CkptTensor *t = ckpt_find(c, name);
    if (!t) return fail(err, errlen, "the checkpoint has no tensor %s", name), NULL;
    bool same = t->dtype == DT_F32 && t->ndim == p->ndim;
    for (int d = 0; same && d < p->ndim; d++) same = t->shape[d] == p->shape[d];
    if (!same) {
        char want[160] = "", got[160] = "";
        for (int d = 0; d < p->ndim; d++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", d ? "x" : "", (long long)p->shape[d]);
        for (int d = 0; d < t->ndim; d++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? "x" : "", (long long)t->shape[d]);
        return fail(err, errlen, "tensor %s is %s [%s], this run needs F32 [%s]", name, dtype_name(t->dtype), got,
                    want), NULL;
    }
    return t;
}

bool trainstate_from_ckpt(const Ckpt *c, TrainState *s, char *err, size_t errlen) {
    if (!check_params(s, err, errlen)) return false;
    const char *format = ckpt_meta(c, "format"), *version = ckpt_meta(c, "version");
    if (!format || strcmp(format, TS_FORMAT) != 0)
        return fail(err, errlen, "not a training checkpoint (no \"format\": \"" TS_FORMAT "\" in its metadata)");
    if (!version || strcmp(version, TS_VERSION) != 0)
        return fail(err, errlen, "a training checkpoint of another version (%.20s); this program reads version " TS_VERSION,
                    version ? version : "none");
    const char *step_s = ckpt_meta(c, "step"), *pos_s = ckpt_meta(c, "data_pos"), *rng_s = ckpt_meta(c, "rng");
    const char *config = ckpt_meta(c, "config"), *loss_s = ckpt_meta(c, "loss");
    uint64_t step, pos;
    double loss;
    Rng rng;
    if (!step_s || !parse_dec(step_s, &step) || step > INT64_MAX)
        return fail(err, errlen, "the step in the metadata is missing or not a decimal number");
    if (!pos_s || !parse_dec(pos_s, &pos))
        return fail(err, errlen, "the data position in the metadata is missing or not a decimal number");
    if (!loss_s || !parse_double(loss_s, &loss))
        return fail(err, errlen, "the loss in the metadata is missing or not a number");
    if (!rng_s || !parse_rng(rng_s, &rng))
        return fail(err, errlen, "the rng state in the metadata is missing, malformed or all zeros");
    if (!config || strcmp(config, s->config) != 0)
        return fail(err, errlen, "the checkpoint is of another run (its config differs from this one's); "
                                 "use another checkpoint path or the same settings");
    size_t expected = 0;
    const CkptTensor **src = xcalloc(3 * s->nparams + 1, sizeof *src);
    bool ok = true;
    for (size_t i = 0; i < s->nparams && ok; i++) {
        const TrainParam *p = &s->params[i];
        ok = (src[3 * i] = find_f32(c, p->name, p, err, errlen)) != NULL;
        expected++;
        if (ok && p->m) {
            char *mn = xasprintf("%s.adam_m", p->name), *vn = xasprintf("%s.adam_v", p->name);
            ok = (src[3 * i + 1] = find_f32(c, mn, p, err, errlen)) != NULL &&
                 (src[3 * i + 2] = find_f32(c, vn, p, err, errlen)) != NULL;
            free(mn);
            free(vn);
            expected += 2;
        }
    }
    if (ok && c->n != expected)
        ok = fail(err, errlen, "the checkpoint holds %zu tensors, this run has %zu", c->n, expected);
    if (ok) {
        for (size_t i = 0; i < s->nparams; i++) {
            const TrainParam *p = &s->params[i];
            memcpy(p->param, src[3 * i]->data, src[3 * i]->nbytes);
            if (p->m) {
                memcpy(p->m, src[3 * i + 1]->data, src[3 * i + 1]->nbytes);
                memcpy(p->v, src[3 * i + 2]->data, src[3 * i + 2]->nbytes);
            }
        }
        s->step = (int64_t)step;
        s->data_pos = pos;
        s->rng = rng;
        s->loss = loss;
    }
    free(src);
    return ok;
}

bool trainstate_load(const char *path, TrainState *s, char *err, size_t errlen) {
    char why[512];
    Ckpt *c = ckpt_load(path, err, errlen);
    if (!c) return false;
    bool ok = trainstate_from_ckpt(c, s, why, sizeof why);
    if (!ok) fail(err, errlen, "%s: %s", path, why);
    ckpt_free(c);
    return ok;
}
