/* test_hostile.c -- hostile inputs too big or too odd for the fuzz targets
 * (tests/fuzz/, whose inputs stay under 64 KB and are regular files): one
 * enormous line as a corpus, devices and directories given to every loader,
 * headers that claim more than the file holds, and a command-line value of
 * a megabyte.  Each must be refused in one line (or, for the enormous line,
 * loaded correctly in time linear in its size). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "ckpt.h"
#include "cli.h"
#include "corpus.h"
#include "tsv.h"
#include "util.h"

static char tmpdir[64];

static void test_enormous_line(Check *t) {
    size_t n = (size_t)16 << 20;
    char *path = xasprintf("%s/line.txt", tmpdir);
    char *s = xmalloc(n);
    for (size_t i = 0; i < n; i++) s[i] = "the quick brown fox \xc3\xa9 "[i % 23];
    FILE *fp = xfopen(path, "wb");
    fwrite(s, 1, n, fp);
    fclose(fp);
    free(s);
    double t0 = now_seconds();
    char err[512];
    Corpus *c = corpus_try_load(path, err, sizeof err);
    size_t w = n;
    while ("the quick brown fox \xc3\xa9 "[(w - 1) % 23] == ' ') w--;  /* trailing spaces are dropped */
    check_true(t, c && c->len == w + 2 && strlen(c->text) == w + 2 && memcmp(c->text + w, "\n\n", 2) == 0,
               "a 16 MB file of one line loads (%s)", c ? "ok" : err);
    if (c) {
        Text tr, va, te;
        corpus_split(c, 0.1, &tr, &va, &te);
        check_true(t, tr.len + va.len + te.len == c->len && va.len > 0 && tr.len > 0 && te.len > 0 &&
                          ((unsigned char)va.text[0] & 0xC0) != 0x80 && ((unsigned char)te.text[0] & 0xC0) != 0x80,
                   "its split cuts it at bytes (not inside a UTF-8 character): %zu + %zu + %zu", tr.len, va.len, te.len);
        Vocab v;
        vocab_build(&v, c->text, c->len);
        check_true(t, v.size == 19, "its vocabulary has the 18 bytes of the line and a newline (%d)", v.size);
        text_free(&tr), text_free(&va), text_free(&te);
        corpus_free(c);
    }
    double secs = now_seconds() - t0;
    check_true(t, secs < 30, "in %.1f s (linear time)", secs);
    size_t out;
    char *tagged = xmalloc((size_t)4 << 20);
    for (size_t i = 0; i < (size_t)4 << 20; i++) tagged[i] = "''/'' ,/, ``/`` '/' ./. "[i % 24];
    t0 = now_seconds();
    char *clean = corpus_clean_brown(tagged, (size_t)4 << 20, &out);
    secs = now_seconds() - t0;
    check_true(t, clean && out > 0 && clean[out - 1] == '\n' && secs < 20,
               "the Brown cleaner takes 4 MB of quotes and punctuation on one line in %.1f s", secs);
    free(clean);
    free(tagged);
    unlink(path);
    free(path);
}

static void test_not_files(Check *t) {
    const char *inputs[] = {"/dev/zero", "/dev/null", tmpdir};
    for (int i = 0; i < 3; i++) {
        const char *p = inputs[i];
        char err[512] = "";
        Corpus *c = corpus_try_load(p, err, sizeof err);
        check_true(t, !c && *err && !strchr(err, '\n'), "corpus %s is refused (%s)", p, err);
        corpus_free(c);
        size_t n;
        *err = '\0';
        uint32_t *ids = tokens_read(p, &n, NULL, err, sizeof err);
        check_true(t, !ids && *err && !strchr(err, '\n'), "token file %s is refused (%s)", p, err);
        free(ids);
        *err = '\0';
        Ckpt *k = ckpt_load(p, err, sizeof err);
        check_true(t, !k && *err && !strchr(err, '\n'), "checkpoint %s is refused (%s)", p, err);
        ckpt_free(k);
        *err = '\0';
        TsvTable *tt = tsv_load(p, err, sizeof err);
        check_true(t, !tt && *err && !strchr(err, '\n'), "TSV %s is refused (%s)", p, err);
        tsv_free(tt);
    }
}

static void test_lying_headers(Check *t) {
    char *path = xasprintf("%s/lie", tmpdir), err[512];
    /* a token file that claims 2^60 tokens */
    unsigned char tok[32] = {'L', 'L', 'M', 'C', 'T', 'O', 'K', 0, 1, 0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 0};
    tok[27] = 0x10;
    FILE *fp = xfopen(path, "wb");
    fwrite(tok, 1, sizeof tok, fp);
    fclose(fp);
    size_t n;
    uint32_t *ids = tokens_read(path, &n, NULL, err, sizeof err);
    check_true(t, !ids && strstr(err, "truncated"), "a token file claiming 2^60 tokens is refused (%s)", err);
    free(ids);
    /* a checkpoint whose header length is 2^63 */
    unsigned char ck[16] = {0, 0, 0, 0, 0, 0, 0, 0x80, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '};
    fp = xfopen(path, "wb");
    fwrite(ck, 1, sizeof ck, fp);
    fclose(fp);
    Ckpt *c = ckpt_load(path, err, sizeof err);
    check_true(t, !c && strstr(err, "larger than the limit"), "a header length of 2^63 is refused (%s)", err);
    ckpt_free(c);
    unlink(path);
    free(path);
}

static int noop(void *ctx) { (void)ctx; return 0; }

static void test_huge_argument(Check *t) {
    size_t n = (size_t)1 << 20;
    char *value = xmalloc(n + 1);
    memset(value, '7', n);
    value[n] = '\0';
    value[100] = '\n';
    int64_t order = 1;
    CliOpt opts[] = {{"order", OPT_INT, &order, "", 0, 12, NULL}};
    CliCommand cmds[] = {{"run", "", noop, false}};
    CliSpec spec = {"prog", "", NULL, cmds, 1, opts, 1, false, false};
    char *argv[] = {"prog", "run", "--order", value, NULL};
    CliCommon common;
    char *errs = NULL;
    size_t len = 0;
    FILE *saved = stderr;
    stderr = open_memstream(&errs, &len);
    int rc = cli_run(&spec, &common, 4, argv, NULL);
    fclose(stderr);
    stderr = saved;
    size_t lines = 0;
    for (size_t i = 0; i < len; i++) lines += errs[i] == '\n';
    check_true(t, rc == 2 && lines == 1 && len < 1200 && strstr(errs, "--order expects an integer in [0, 12], got '777"),
               "a value of a megabyte with a newline in it gets one short line (%zu bytes)", len);
    free(errs);
    cli_free(&common);
    free(value);
}

int main(void) {
    Check t;
    check_init(&t, "hostile");
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_hostile-XXXXXX");
    if (!mkdtemp(tmpdir)) die("cannot create a temporary directory");
    test_enormous_line(&t);
    test_not_files(&t);
    test_lying_headers(&t);
    test_huge_argument(&t);
    rmdir(tmpdir);
    return check_summary(&t);
}
