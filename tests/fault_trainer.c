/* fault_trainer.c -- a small trainer for the fault-injection test
 * (tests/test_faults.py): a character-level MLP (three characters of
 * context, embeddings of 16, one tanh layer, softmax) trained with Adam
 * (nn.h adamw_update, no weight decay) on a
 * slice of a text, checkpointing its whole training state (trainstate.h)
 * every few steps and writing its data (a token file, a TSV of the loss)
 * atomically (util.h).  The test kills it at random moments, fills its disk, takes
 * its folder's write permission away, and checks that what it leaves
 * behind loads and resumes to the bits of a run that was never stopped.
 *
 *   fault_trainer train --data FILE --dir DIR [--steps N] [--every K]
 *       DIR/tokens.bin          the slice, tokenized (written once, then read)
 *       DIR/state.safetensors   the training state, every K steps and at the end
 *       DIR/loss.tsv            step and loss of the last checkpoint
 *     prints "done: step N loss X" at the end; resumes from DIR/state.safetensors
 *     when it exists.
 *   fault_trainer check --dir DIR   loads the state; prints "step N data_pos P"
 *
 * Deterministic: one thread, no clocks; the same --seed and files give the
 * same bits. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "corpus.h"
#include "nn.h"
#include "rng.h"
#include "trainstate.h"
#include "util.h"

enum { CTX = 3, EMB = 16, BATCH = 32 };

typedef struct {
    CliCommon common;
    const char *dir;
    int64_t steps, every, hidden, bytes;
    double lr;
} Args;

typedef struct {
    int V, H;
    float *E, *W1, *b1, *W2, *b2;      /* parameters */
    float *gE, *gW1, *gb1, *gW2, *gb2; /* gradients */
    NamedTensor t[15];                 /* the 5 parameters, then Adam's m and v of each */
    char names[15][16];
} Model;

static float *param(Model *m, int i) { return m->t[i].t.data; }
static float *moment(Model *m, int i, int which) { return m->t[5 + 2 * i + which].t.data; }
static size_t numel(const Model *m, int i) { return (size_t)tensor_numel(&m->t[i].t); }

static void model_init(Model *m, int V, int H) {
    m->V = V, m->H = H;
    struct { const char *name; int ndim; int64_t a, b; float **w, **g; } spec[5] = {
        {"emb", 2, V, EMB, &m->E, &m->gE},      {"w1", 2, CTX * EMB, H, &m->W1, &m->gW1},
        {"b1", 1, H, 0, &m->b1, &m->gb1},       {"w2", 2, H, V, &m->W2, &m->gW2},
        {"b2", 1, V, 0, &m->b2, &m->gb2}};
    for (int i = 0; i < 5; i++) {
        size_t n = (size_t)(spec[i].a * (spec[i].ndim == 2 ? spec[i].b : 1));
        *spec[i].w = xcalloc(n, sizeof(float));
        *spec[i].g = xcalloc(n, sizeof(float));
        const int64_t shape[2] = {spec[i].a, spec[i].b};
        snprintf(m->names[i], 16, "%s", spec[i].name);
        m->t[i] = (NamedTensor){m->names[i], tensor_wrap(DT_F32, DEV_CPU, spec[i].ndim, shape, *spec[i].w)};
        for (int k = 0; k < 2; k++) {
            int j = 5 + 2 * i + k;
            snprintf(m->names[j], 16, "%s.adam_%c", spec[i].name, "mv"[k]);
            m->t[j] = (NamedTensor){m->names[j], tensor_wrap(DT_F32, DEV_CPU, spec[i].ndim, shape, xcalloc(n, sizeof(float)))};
        }
    }
}

static void model_free(Model *m) {
    float *g[5] = {m->gE, m->gW1, m->gb1, m->gW2, m->gb2};
    for (int i = 0; i < 15; i++) free(m->t[i].t.data);
    for (int i = 0; i < 5; i++) free(g[i]);
}

static void model_randomize(Model *m, Rng *r) {
    for (int i = 0; i < 5; i++) {
        float scale = m->t[i].t.ndim == 1 ? 0.0f : i == 0 ? 1.0f : 1.0f / sqrtf((float)m->t[i].t.shape[0]);
        for (size_t k = 0; k < numel(m, i); k++) param(m, i)[k] = scale * (float)rng_normal(r);
    }
}

/* Forward and backward over one batch; gradients into g*, returns the mean loss. */
static double batch_step(Model *m, const uint32_t *tok, const size_t *pos, int nb) {
    int V = m->V, H = m->H;
    float x[CTX * EMB], h[1024], dh[1024], dx[CTX * EMB], logits[65536];
    float *g[5] = {m->gE, m->gW1, m->gb1, m->gW2, m->gb2};
    for (int i = 0; i < 5; i++) memset(g[i], 0, numel(m, i) * sizeof(float));
    double loss = 0;
    for (int b = 0; b < nb; b++) {
        size_t t = pos[b];
        for (int c = 0; c < CTX; c++) memcpy(x + c * EMB, m->E + (size_t)tok[t - CTX + c] * EMB, EMB * sizeof(float));
        for (int j = 0; j < H; j++) {
            float s = m->b1[j];
            for (int i = 0; i < CTX * EMB; i++) s += x[i] * m->W1[i * H + j];
            h[j] = tanhf(s);
        }
        float mx = -INFINITY;
        for (int v = 0; v < V; v++) {
            float s = m->b2[v];
            for (int j = 0; j < H; j++) s += h[j] * m->W2[j * V + v];
            logits[v] = s;
            if (s > mx) mx = s;
        }
        double z = 0;
        for (int v = 0; v < V; v++) z += exp((double)(logits[v] - mx));
        loss += log(z) + mx - logits[tok[t]];
        for (int v = 0; v < V; v++) logits[v] = (float)(exp((double)(logits[v] - mx)) / z) / (float)nb;
        logits[tok[t]] -= 1.0f / (float)nb; /* logits now hold dloss/dlogits */
        for (int j = 0; j < H; j++) {
            float s = 0;
            for (int v = 0; v < V; v++) {
                m->gW2[j * V + v] += h[j] * logits[v];
                s += logits[v] * m->W2[j * V + v];
            }
            dh[j] = s * (1 - h[j] * h[j]);
            m->gb1[j] += dh[j];
        }
        for (int v = 0; v < V; v++) m->gb2[v] += logits[v];
        for (int i = 0; i < CTX * EMB; i++) {
            float s = 0;
            for (int j = 0; j < H; j++) {
                m->gW1[i * H + j] += x[i] * dh[j];
                s += dh[j] * m->W1[i * H + j];
            }
            dx[i] = s;
        }
        for (int c = 0; c < CTX; c++)
            for (int e = 0; e < EMB; e++) m->gE[(size_t)tok[t - CTX + c] * EMB + e] += dx[c * EMB + e];
    }
    return loss / nb;
}

static void adam(Model *m, int64_t step, double lr) {
    const AdamW opt = {(float)lr, 0.9f, 0.999f, 1e-8f, 0.0f};
    float *g[5] = {m->gE, m->gW1, m->gb1, m->gW2, m->gb2};
    for (int i = 0; i < 5; i++) adamw_update(param(m, i), g[i], moment(m, i, 0), moment(m, i, 1), numel(m, i), &opt, (int)step, 1.0f);
}

/* The tokens of DIR/tokens.bin, written from the first --bytes of --data the first time. */
static uint32_t *load_tokens(const Args *a, const char *path, size_t *n, uint32_t *V) {
    char err[1024];
    if (file_exists(path)) {
        uint32_t *ids = tokens_read(path, n, V, err, sizeof err);
        if (!ids) die("%s", err);
        return ids;
    }
    Corpus *c = corpus_try_load(a->common.data, err, sizeof err);
    if (!c) die("%s", err);
    size_t len = c->len < (size_t)a->bytes ? c->len : (size_t)a->bytes;
    Vocab vocab;
    vocab_build(&vocab, c->text, len);
    uint32_t *ids = xmalloc_array(len, sizeof *ids);
    vocab_encode(&vocab, c->text, len, ids);
    corpus_free(c);
    tokens_write(path, ids, len, (uint32_t)vocab.size);
    *n = len;
    *V = (uint32_t)vocab.size;
    return ids;
}

/* DIR/loss.tsv, written atomically (tsv.h's Tsv would add the run's
 * provenance; a plain file keeps this trainer small). */
static void write_loss(const char *path, int64_t step, double loss) {
    AtomicFile af;
    char err[1024];
    FILE *fp = atomic_try_open(&af, path, err, sizeof err);
    if (!fp) die("%s", err);
    fprintf(fp, "# loss: fault_trainer's loss at its last checkpoint\nstep\tloss\n%lld\t%.9g\n", (long long)step, loss);
    if (!atomic_commit(&af)) die("cannot write %s: %s", path, strerror(errno));
}

typedef struct { Model m; TrainState s; char *config, *tokens_path, *state_path, *loss_path; uint32_t *tok; size_t n; } Run;

static void run_open(Run *r, const Args *a) {
    mkdir_p(a->dir);
    r->tokens_path = xasprintf("%s/tokens.bin", a->dir);
    r->state_path = xasprintf("%s/state.safetensors", a->dir);
    r->loss_path = xasprintf("%s/loss.tsv", a->dir);
    atomic_sweep(r->tokens_path);  /* what killed writers left; nobody else writes here */
    atomic_sweep(r->state_path);
    atomic_sweep(r->loss_path);
    uint32_t V;
    r->tok = load_tokens(a, r->tokens_path, &r->n, &V);
    if (r->n < CTX + 2 || V > 65536) die("%s: %zu tokens of a vocabulary of %u: too few tokens, or too many kinds", r->tokens_path, r->n, V);
    model_init(&r->m, (int)V, (int)a->hidden);
    r->config = xasprintf("fault_trainer mlp ctx=%d emb=%d hidden=%lld vocab=%u batch=%d lr=%.17g seed=%llu tokens=%zu",
                          CTX, EMB, (long long)a->hidden, V, BATCH, a->lr, (unsigned long long)a->common.seed, r->n);
    r->s = (TrainState){.tensors = r->m.t, .ntensors = 15, .config = r->config};
}

static void run_close(Run *r) {
    model_free(&r->m);
    free(r->tok), free(r->config), free(r->tokens_path), free(r->state_path), free(r->loss_path);
}

static int cmd_train(void *ctx) {
    Args *a = ctx;
    Run r;
    run_open(&r, a);
    char err[1024];
    if (file_exists(r.state_path)) {
        if (!trainstate_load(r.state_path, &r.s, err, sizeof err)) die("%s", err);
    } else {
        rng_seed(&r.s.rng, a->common.seed);
        r.s.loss = NAN;
        model_randomize(&r.m, &r.s.rng);
    }
    size_t pos[BATCH];
    while (r.s.step < a->steps) {
        for (int b = 0; b < BATCH; b++)
            pos[b] = CTX + (r.s.data_pos + (uint64_t)b * 997 + rng_below(&r.s.rng, 64)) % (r.n - CTX);
        r.s.data_pos += BATCH;
        r.s.loss = batch_step(&r.m, r.tok, pos, BATCH);
        adam(&r.m, ++r.s.step, a->lr);
        if (r.s.step % a->every == 0 || r.s.step == a->steps) {
            /* no provenance: the test compares resumed and uninterrupted states byte for byte */
            if (!trainstate_save(r.state_path, &r.s, NULL, err, sizeof err)) die("%s", err);
            write_loss(r.loss_path, r.s.step, r.s.loss);
        }
    }
    printf("done: step %lld loss %.9g\n", (long long)r.s.step, r.s.loss);
    run_close(&r);
    return 0;
}

static int cmd_check(void *ctx) {
    Args *a = ctx;
    Run r;
    run_open(&r, a);
    char err[1024];
    if (!trainstate_load(r.state_path, &r.s, err, sizeof err)) die("%s", err);
    printf("step %lld data_pos %llu\n", (long long)r.s.step, (unsigned long long)r.s.data_pos);
    run_close(&r);
    return 0;
}

int main(int argc, char **argv) {
    Args a = {.dir = "build/fault-trainer", .steps = 60, .every = 3, .hidden = 128, .bytes = 200000, .lr = 0.01};
    const CliOpt opts[] = {
        {"dir", OPT_STRING, &a.dir, "where the tokens, the state and the loss go", 0, 0, NULL},
        {"steps", OPT_INT, &a.steps, "train until this step", 1, 1e9, NULL},
        {"every", OPT_INT, &a.every, "checkpoint every K steps", 1, 1e9, NULL},
        {"hidden", OPT_INT, &a.hidden, "hidden units", 1, 1024, NULL},
        {"bytes", OPT_INT, &a.bytes, "bytes of the text to train on", 8, 1e9, NULL},
        {"lr", OPT_DOUBLE, &a.lr, "Adam's learning rate", 1e-6, 1, NULL},
    };
    const CliCommand cmds[] = {{"train", "train, resuming from DIR/state.safetensors if it exists", cmd_train, false},
                               {"check", "load DIR/state.safetensors and print its step", cmd_check, false}};
    const CliSpec spec = {"fault_trainer", "a small trainer that the fault-injection test kills", NULL, cmds, 2,
                          opts, sizeof opts / sizeof *opts, false, false};
    int rc = cli_run(&spec, &a.common, argc, argv, &a);
    cli_free(&a.common);
    return rc;
}
