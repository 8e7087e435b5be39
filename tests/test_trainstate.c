/* test_trainstate.c -- common/trainstate (a training state saved and loaded
 * whole: round trip bit for bit, every refusal the contract lists, and a
 * refused load that leaves the state untouched), and the parts of
 * common/util that writers lean on: atomic_try_open failing gently,
 * atomic_sweep, the permissions of atomic files, file_read refusing
 * devices, and die()'s one line. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "expect_die.h"
#include "remove_tree.h"
#include "trainstate.h"
#include "util.h"

static char tmpdir[64];

static char *tmp_path(const char *name) { return xasprintf("%s/%s", tmpdir, name); }

typedef struct {
    float w[6], wm[6], wv[6], b[3];
    NamedTensor p[4];   /* w with its two moments, and b without any */
    TrainState s;
} Fixture;

static Tensor f32(int ndim, const int64_t *shape, float *data) { return tensor_wrap(DT_F32, DEV_CPU, ndim, shape, data); }

static void fixture(Fixture *f, const char *config, float fill) {
    for (int i = 0; i < 6; i++) f->w[i] = f->wm[i] = f->wv[i] = fill;
    for (int i = 0; i < 3; i++) f->b[i] = fill;
    const int64_t w_shape[2] = {2, 3}, b_shape[1] = {3};
    f->p[0] = (NamedTensor){"w", f32(2, w_shape, f->w)};
    f->p[1] = (NamedTensor){"w.adam_m", f32(2, w_shape, f->wm)};
    f->p[2] = (NamedTensor){"w.adam_v", f32(2, w_shape, f->wv)};
    f->p[3] = (NamedTensor){"b", f32(1, b_shape, f->b)};
    f->s = (TrainState){.tensors = f->p, .ntensors = 4, .step = 0, .data_pos = 0, .loss = 0, .config = config};
    rng_seed(&f->s.rng, 0);
}

static bool same_state(const Fixture *a, const Fixture *b) {
    return memcmp(a->w, b->w, sizeof a->w) == 0 && memcmp(a->wm, b->wm, sizeof a->wm) == 0 &&
           memcmp(a->wv, b->wv, sizeof a->wv) == 0 && memcmp(a->b, b->b, sizeof a->b) == 0 &&
           a->s.step == b->s.step && a->s.data_pos == b->s.data_pos &&
           memcmp(&a->s.rng, &b->s.rng, sizeof a->s.rng) == 0 &&
           (a->s.loss == b->s.loss || (isnan(a->s.loss) && isnan(b->s.loss)));
}

static void test_round_trip(Check *t) {
    Fixture a, b;
    fixture(&a, "run A", 0);
    Rng r;
    rng_seed(&r, 42);
    for (int i = 0; i < 6; i++) a.w[i] = (float)rng_normal(&r), a.wm[i] = -a.w[i] / 3, a.wv[i] = a.w[i] * a.w[i];
    a.w[5] = -0.0f, a.b[0] = 1e-45f, a.b[1] = NAN, a.b[2] = -INFINITY;  /* odd values survive too */
    a.s.step = INT64_MAX, a.s.data_pos = UINT64_MAX, a.s.loss = 1.0 / 3;
    rng_seed(&a.s.rng, 7);
    rng_u64(&a.s.rng);
    char err[512], *path = tmp_path("state.safetensors");
    check_true(t, trainstate_save(path, &a.s, NULL, err, sizeof err), "save (%s)", err);
    fixture(&b, "run A", 9);
    check_true(t, trainstate_load(path, &b.s, err, sizeof err) && same_state(&a, &b),
               "load gives back every bit: parameters, moments, step, data position, rng, loss (%s)", err);
    Rng x = a.s.rng, y = b.s.rng;
    check_true(t, rng_u64(&x) == rng_u64(&y), "the resumed generator continues the same stream");
    a.s.loss = NAN;
    check_true(t, trainstate_save(path, &a.s, NULL, err, sizeof err) && trainstate_load(path, &b.s, err, sizeof err) &&
                      isnan(b.s.loss), "a NaN loss (before the first step) round-trips");
    Ckpt *c = ckpt_load(path, err, sizeof err);
    check_true(t, c && c->n == 4 && ckpt_find(c, "w") && ckpt_find(c, "w.adam_m") && ckpt_find(c, "w.adam_v") &&
                      ckpt_find(c, "b") && !ckpt_find(c, "b.adam_m") && ckpt_meta(c, "step") &&
                      strcmp(ckpt_meta(c, "step"), "9223372036854775807") == 0 &&
                      strcmp(ckpt_meta(c, "format"), "llmc-trainstate") == 0,
               "the file is a plain safetensors checkpoint: weights under their names, moments beside them");
    ckpt_free(c);

    /* with the run's provenance, the metadata says where the state came from */
    Provenance prov;
    provenance_init(&prov, "fault_trainer --steps 5", 1);
    check_true(t, trainstate_save(path, &a.s, &prov, err, sizeof err) && trainstate_load(path, &b.s, err, sizeof err),
               "save with a provenance, load (%s)", err);
    c = ckpt_load(path, err, sizeof err);
    check_true(t, c && strcmp(ckpt_meta(c, "command"), "fault_trainer --steps 5") == 0 &&
                      strcmp(ckpt_meta(c, "git"), prov.git) == 0 && ckpt_meta(c, "date") && ckpt_meta(c, "device"),
               "the provenance is in the metadata");
    ckpt_free(c);
    provenance_free(&prov);
    free(path);
}

/* Write a variant of a good state file with one metadata value changed (or removed: NULL). */
static void save_variant(const char *path, const char *key, const char *value, bool drop_tensor) {
    Fixture a;
    fixture(&a, "run A", 1);
    char err[512];
    if (!trainstate_save(path, &a.s, NULL, err, sizeof err)) die("%s", err);
    Ckpt *c = ckpt_load(path, err, sizeof err);
    if (!c) die("%s", err);
    const char *meta[32];
    size_t k = 0;
    for (size_t i = 0; i < c->nmeta; i++) {
        if (strcmp(c->keys[i], key) == 0) {
            if (value) meta[k++] = c->keys[i], meta[k++] = value;
        } else {
            meta[k++] = c->keys[i], meta[k++] = c->values[i];
        }
    }
    meta[k] = NULL;
    if (!ckpt_save(path, c->tensors, c->n - (drop_tensor ? 1 : 0), NULL, meta, err, sizeof err)) die("%s", err);
    ckpt_free(c);
}

static void test_refusals(Check *t) {
    char *path = tmp_path("bad.safetensors"), err[512];
    struct { const char *key, *value; bool drop; const char *needle; } cases[] = {
        {"format", NULL, false, "not a training checkpoint"},
        {"format", "pt", false, "not a training checkpoint"},
        {"version", "2", false, "another version"},
        {"step", "-1", false, "step"},
        {"step", "01", false, "step"},
        {"step", "99999999999999999999", false, "step"},
        {"data_pos", "1e3", false, "data position"},
        {"loss", "", false, "loss"},
        {"loss", "1.5x", false, "loss"},
        {"rng", "0000000000000000,0000000000000000,0000000000000000,0000000000000000", false, "all zeros"},
        {"rng", "0123456789abcdef,0123456789abcdef,0123456789abcdef", false, "rng"},
        {"rng", "0123456789ABCDEF,0123456789abcdef,0123456789abcdef,0123456789abcdef", false, "rng"},
        {"config", "run B", false, "another run"},
        {"config", "run A", true, "no tensor \"b\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        save_variant(path, cases[i].key, cases[i].value, cases[i].drop);
        Fixture f, before;
        fixture(&f, "run A", 5);
        fixture(&before, "run A", 5);
        bool ok = trainstate_load(path, &f.s, err, sizeof err);
        check_true(t, !ok && strstr(err, cases[i].needle) && strstr(err, path) && !strchr(err, '\n') && same_state(&f, &before),
                   "%s = %s%s is refused with \"...%s...\", the state untouched (%s)", cases[i].key,
                   cases[i].value ? cases[i].value : "(none)", cases[i].drop ? " and a tensor missing" : "",
                   cases[i].needle, err);
    }
    /* Shapes, dtypes and extra tensors. */
    Fixture a, f;
    fixture(&a, "run A", 1);
    check_true(t, trainstate_save(path, &a.s, NULL, err, sizeof err), "save");
    Fixture before;
    fixture(&before, "run A", 5);
    fixture(&f, "run A", 5);
    f.p[0].t = f32(2, (const int64_t[]){3, 2}, f.w);
    check_true(t, !trainstate_load(path, &f.s, err, sizeof err) && strstr(err, "is F32[2,3] in the checkpoint, F32[3,2] here") &&
                      memcmp(f.w, before.w, sizeof f.w) == 0,
               "another shape is refused, nothing copied (%s)", err);
    fixture(&f, "run A", 5);
    f.p[3].t = tensor_wrap(DT_BF16, DEV_CPU, 1, (const int64_t[]){3}, f.b);
    check_true(t, !trainstate_load(path, &f.s, err, sizeof err) && strstr(err, "tensor \"b\" is F32[3] in the checkpoint, BF16[3] here"),
               "another dtype is refused (%s)", err);
    fixture(&f, "run A", 5);
    f.s.ntensors = 3;
    check_true(t, !trainstate_load(path, &f.s, err, sizeof err) && strstr(err, "holds a tensor \"b\" that this program does not have"),
               "a tensor the run does not describe is refused (%s)", err);
    fixture(&f, "run A", 5);
    NamedTensor more[5];
    memcpy(more, f.p, sizeof f.p);
    more[4] = (NamedTensor){"b.adam_m", f32(1, (const int64_t[]){3}, f.wm)};
    f.s.tensors = more, f.s.ntensors = 5;
    check_true(t, !trainstate_load(path, &f.s, err, sizeof err) && strstr(err, "no tensor \"b.adam_m\""),
               "missing moments are refused (%s)", err);
    check_true(t, !trainstate_load("/nonexistent/state.safetensors", &f.s, err, sizeof err) && strstr(err, "cannot open"),
               "a missing file is refused (%s)", err);
    fixture(&f, "run A", 5);
    f.p[1].name = "w";
    check_true(t, !trainstate_save(path, &f.s, NULL, err, sizeof err) && strstr(err, "two tensors are named \"w\""),
               "two tensors of one name are refused (%s)", err);
    free(path);
}

static void test_atomic(Check *t) {
    char err[512];
    AtomicFile af;
    check_true(t, atomic_try_open(&af, "/nonexistent-dir/x", err, sizeof err) == NULL && af.tmp == NULL &&
                      strstr(err, "cannot create /nonexistent-dir/x.tmp-") && strstr(err, "No such file or directory"),
               "atomic_try_open fails gently on a missing folder (%s)", err);
    char *path = tmp_path("perm.txt");
    mode_t mask = umask(022);
    FILE *fp = atomic_open(&af, path);
    fputs("x\n", fp);
    check_true(t, atomic_commit(&af), "commit");
    struct stat st;
    check_true(t, stat(path, &st) == 0 && (st.st_mode & 0777) == 0644,
               "an atomic file gets 0666 less the umask, like any file (mode %o)", st.st_mode & 0777);
    umask(mask);
    /* three temporaries a killed writer would leave, and two look-alikes that are not */
    const char *names[] = {"perm.txt.tmp-abc123", "perm.txt.tmp-ZZZZZZ", "perm.txt.tmp-000000", "perm.txt.tmp-1234567",
                           "other.txt.tmp-abc123"};
    for (int i = 0; i < 5; i++) {
        char *p = tmp_path(names[i]);
        FILE *f = fopen(p, "w");
        if (f) fclose(f);
        free(p);
    }
    check_true(t, atomic_sweep(path) == 3, "atomic_sweep removes exactly the writer's temporaries");
    char *keep = tmp_path("perm.txt.tmp-1234567"), *keep2 = tmp_path("other.txt.tmp-abc123");
    check_true(t, file_exists(keep) && file_exists(keep2) && file_exists(path), "and nothing else");
    unlink(keep), unlink(keep2);
    free(keep), free(keep2), free(path);
}

static void read_dev_zero(void *ctx) {
    (void)ctx;
    char err[256];
    if (!file_read("/dev/zero", NULL, err, sizeof err)) die("%s", err);
}

static void die_with_newline(void *ctx) {
    (void)ctx;
    die("cannot open %s", "evil\nname\r\x01");
}

static void test_util(Check *t) {
    char err[256] = "";
    check_true(t, file_read("/dev/zero", NULL, err, sizeof err) == NULL && strstr(err, "not a regular file"),
               "file_read refuses a device instead of reading forever (%s)", err);
    expect_die(t, read_dev_zero, NULL, "/dev/zero is not a regular file", "a loader given /dev/zero");
    expect_die(t, die_with_newline, NULL, "cannot open evil\\nname\\r\\x01", "die with control characters in its message");
}

int main(void) {
    Check t;
    check_init(&t, "trainstate");
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_trainstate-XXXXXX");
    if (!mkdtemp(tmpdir)) die("cannot create a temporary directory");
    test_round_trip(&t);
    test_refusals(&t);
    test_atomic(&t);
    test_util(&t);
    check_true(&t, remove_tree(tmpdir), "remove %s", tmpdir);
    return check_summary(&t);
}
