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
    va_list ap;
    va_start(ap, fmt);
    vsnprintf_line(err, errlen, fmt, ap);
    va_end(ap);
    return false;
}

bool trainstate_save(const char *path, const TrainState *s, const Provenance *prov, char *err, size_t errlen) {
    if (!s->config || s->step < 0) return fail(err, errlen, "trainstate_save: no config, or a negative step");
    char step[32], pos[32], rng[80], loss[40];
    snprintf(loss, sizeof loss, "%.17g", s->loss);
    snprintf(step, sizeof step, "%" PRId64, s->step);
    snprintf(pos, sizeof pos, "%" PRIu64, s->data_pos);
    snprintf(rng, sizeof rng, "%016" PRIx64 ",%016" PRIx64 ",%016" PRIx64 ",%016" PRIx64, s->rng.s[0], s->rng.s[1],
             s->rng.s[2], s->rng.s[3]);
    const char *meta[] = {"format", TS_FORMAT, "version", TS_VERSION, "step", step, "data_pos", pos,
                          "loss", loss, "rng", rng, "config", s->config, NULL};
    return ckpt_save(path, s->tensors, s->ntensors, prov, meta, err, errlen);
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

bool trainstate_from_ckpt(const Ckpt *c, TrainState *s, char *err, size_t errlen) {
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
    if (!ckpt_read(c, s->tensors, s->ntensors, err, errlen)) return false;
    s->step = (int64_t)step;
    s->data_pos = pos;
    s->rng = rng;
    s->loss = loss;
    return true;
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
