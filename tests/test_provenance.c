/* test_provenance.c -- common/provenance: the git line of a repository of
 * our own (clean, changed, only figures changed, no repository), BOOK_GIT and
 * BOOK_DATE overriding git and the clock, the comment lines and the data
 * files other than TSV (DOT), and the checkpoint metadata. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "provenance.h"
#include "remove_tree.h"
#include "util.h"

static char tmpdir[] = "/tmp/test_provenance-XXXXXX";

static void sh(const char *cmd) {
    if (system(cmd) != 0) die("test setup failed: %s", cmd);
}

static void test_git(Check *t) {
    /* a repository of our own: clean, then a tracked file changed, then only figures/ changed */
    char *repo = xasprintf("%s/repo", tmpdir);
    char *cmd = xasprintf("set -e; mkdir -p %s/figures/data && cd %s && git init -q . && echo a > f.c && "
                          "echo 1 > figures/data/x.tsv && git add . && "
                          "git -c user.name=t -c user.email=t@t commit -q -m init",
                          repo, repo);
    sh(cmd);
    free(cmd);
    cmd = xasprintf("git -C %s rev-parse --short HEAD", repo);
    FILE *p = popen(cmd, "r");
    char rev[64] = "";
    if (p) {
        if (!fgets(rev, sizeof rev, p)) rev[0] = '\0';
        pclose(p);
    }
    rev[strcspn(rev, "\n")] = '\0';
    free(cmd);

    char *g = provenance_git(repo);
    check_true(t, rev[0] && strcmp(g, rev) == 0, "clean repository: the short revision (%s, git says %s)", g, rev);
    free(g);
    cmd = xasprintf("echo 2 > %s/figures/data/x.tsv && echo untracked > %s/new.c", repo, repo);
    sh(cmd);
    free(cmd);
    g = provenance_git(repo);
    check_true(t, strcmp(g, rev) == 0, "rewritten figure data and untracked files do not count (%s)", g);
    free(g);
    cmd = xasprintf("echo b >> %s/f.c", repo);
    sh(cmd);
    free(cmd);
    g = provenance_git(repo);
    char *want = xasprintf("%s (modified)", rev);
    check_true(t, strcmp(g, want) == 0, "a changed tracked file: \"%s\" (got \"%s\")", want, g);
    free(want);
    free(g);

    char *none = xasprintf("%s/norepo", tmpdir);
    mkdir_p(none);
    setenv("GIT_CEILING_DIRECTORIES", tmpdir, 1); /* do not find a repository above tmpdir */
    g = provenance_git(none);
    check_true(t, strcmp(g, "unknown") == 0, "no repository: unknown (%s)", g);
    free(g);
    unsetenv("GIT_CEILING_DIRECTORIES");
    free(none);
    free(repo);
}

static void test_init(Check *t) {
    unsetenv("BOOK_GIT"), unsetenv("BOOK_DATE"), unsetenv("BOOK_COMMAND");
    Provenance p;
    provenance_init(&p, "build/bin/x run\n--quick", 2);
    check_true(t, strcmp(p.command, "build/bin/x run --quick") == 0, "the command, one line (%s)", p.command);
    check_true(t, p.threads == 2 && text_matches(p.cpu, "^cpu \\(.+, 2 threads\\)$") && strcmp(p.device, p.cpu) == 0,
               "device: the cpu line with the threads (%s)", p.device);
    check_true(t, text_matches(p.git, "^([0-9a-f]{7,}( \\(modified\\))?|unknown)$"), "git measured (%s)", p.git);
    check_true(t, text_matches(p.date, "^20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z$"),
               "date measured (%s)", p.date);
    provenance_set_device(&p, "cuda (Test\nGPU)");
    check_true(t, strcmp(p.device, "cuda (Test GPU)") == 0 && text_matches(p.cpu, "^cpu "), "set_device: one line; cpu kept");
    provenance_free(&p);
    check_true(t, !p.command && !p.device && !p.git, "free clears");
    provenance_free(&p);  /* twice is safe */

    provenance_init(&p, NULL, 1);
    check_true(t, strcmp(p.command, "unknown") == 0 && strstr(p.cpu, "1 thread)"), "no command: unknown; 1 thread");
    provenance_free(&p);
    provenance_init(&p, "", 0);
    check_true(t, strcmp(p.command, "unknown") == 0 && p.threads >= 1, "empty command; threads from OpenMP");
    provenance_free(&p);
}

static void test_env(Check *t) {
    setenv("BOOK_GIT", "c54801d", 1);
    setenv("BOOK_DATE", "2026-01-02T03:04:05Z", 1);
    Provenance p;
    provenance_init(&p, "cmd", 1);
    check_true(t, strcmp(p.git, "c54801d") == 0 && strcmp(p.date, "2026-01-02T03:04:05Z") == 0,
               "BOOK_GIT and BOOK_DATE are taken as they are (%s, %s)", p.git, p.date);
    provenance_free(&p);

    setenv("BOOK_COMMAND", "make bench-gpu", 1);
    provenance_init(&p, "build/bin/bench-gpu --out /tmp/x", 1);
    check_true(t, strcmp(p.command, "make bench-gpu") == 0, "BOOK_COMMAND names the command (%s)", p.command);
    provenance_free(&p);
    unsetenv("BOOK_COMMAND");

    setenv("BOOK_GIT", "a\nb", 1);
    provenance_init(&p, "cmd", 1);
    check_true(t, strcmp(p.git, "a b") == 0, "an override is kept to one line (%s)", p.git);
    provenance_free(&p);

    setenv("BOOK_GIT", "", 1);
    setenv("BOOK_DATE", "", 1);
    provenance_init(&p, "cmd", 1);
    check_true(t, strcmp(p.git, "a b") != 0 && text_matches(p.date, "^20[0-9]{2}-") &&
                      text_matches(p.git, "^([0-9a-f]{7,}( \\(modified\\))?|unknown)$"),
               "empty variables count as unset (%s, %s)", p.git, p.date);
    provenance_free(&p);
    unsetenv("BOOK_GIT"), unsetenv("BOOK_DATE");
}

static void test_write(Check *t) {
    setenv("BOOK_GIT", "abc1234", 1);
    setenv("BOOK_DATE", "2026-05-06T07:08:09Z", 1);
    Provenance p;
    provenance_init(&p, "build/bin/ch02-autodiff graph", 1);
    provenance_set_device(&p, "cpu (Test CPU, 1 thread)");
    unsetenv("BOOK_GIT"), unsetenv("BOOK_DATE");

    char *dir = xasprintf("%s/out/data", tmpdir);
    AtomicFile af;
    FILE *fp = provenance_open(&af, dir, "ch02-graph.dot", "// ", &p, "the neuron\nafter backward");
    fprintf(fp, "digraph G {}\n");
    char *path = xasprintf("%s/ch02-graph.dot", dir);
    check_true(t, !file_exists(path), "nothing under the final name before the commit");
    atomic_commit_or_die(&af);
    char *text = file_read(path, NULL, NULL, 0);
    const char *want = "// ch02-graph: the neuron after backward\n"
                       "// command: build/bin/ch02-autodiff graph\n"
                       "// device: cpu (Test CPU, 1 thread)\n"
                       "// date: 2026-05-06T07:08:09Z\n"
                       "// git: abc1234\n"
                       "digraph G {}\n";
    check_true(t, text && strcmp(text, want) == 0, "a DOT file: name, provenance, body (%s)", text ? text : "");
    free(text);

    const char *kv[2 * PROVENANCE_META];
    char buf[16];
    provenance_meta(&p, kv, buf);
    check_true(t, strcmp(kv[0], "command") == 0 && strcmp(kv[1], "build/bin/ch02-autodiff graph") == 0 &&
                      strcmp(kv[2], "device") == 0 && strcmp(kv[3], "cpu (Test CPU, 1 thread)") == 0 &&
                      strcmp(kv[4], "threads") == 0 && strcmp(kv[5], "1") == 0 && strcmp(kv[6], "git") == 0 &&
                      strcmp(kv[7], "abc1234") == 0 && strcmp(kv[8], "date") == 0 &&
                      strcmp(kv[9], "2026-05-06T07:08:09Z") == 0,
               "checkpoint metadata: the five values");
    Provenance zero = {0};
    provenance_meta(&zero, kv, buf);
    check_true(t, strcmp(kv[1], "unknown") == 0 && strcmp(kv[5], "0") == 0, "a zeroed provenance: unknown");
    free(path);
    free(dir);
    provenance_free(&p);
}

int main(void) {
    Check t;
    check_init(&t, "provenance");
    if (!mkdtemp(tmpdir)) die("mkdtemp failed");
    test_init(&t);
    test_env(&t);
    test_write(&t);
    test_git(&t);
    check_true(&t, remove_tree(tmpdir), "remove %s", tmpdir);
    return check_summary(&t);
}
