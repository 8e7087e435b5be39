/* provenance.c -- see provenance.h for the contract. */
#include "provenance.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

char *provenance_cpu(int threads) {
    char model[256] = "unknown CPU";
    FILE *fp = fopen("/proc/cpuinfo", "r");
    if (fp) {
        char line[512];
        while (fgets(line, sizeof line, fp)) {
            if (strncmp(line, "model name", 10) != 0) continue;
            char *v = strchr(line, ':');
            if (!v) continue;
            v++;
            while (*v == ' ' || *v == '\t') v++;
            size_t n = strcspn(v, "\n");
            while (n > 0 && isspace((unsigned char)v[n - 1])) n--;
            if (n) snprintf(model, sizeof model, "%.*s", (int)n, v);
            break;
        }
        fclose(fp);
    }
    return xasprintf("cpu (%s, %d thread%s)", model, threads, threads == 1 ? "" : "s");
}

/* Run a shell command; its first line of output (without the newline), or
 * NULL if it printed nothing or failed. */
static char *first_line_of(const char *cmd, bool *any_output) {
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    char buf[256];
    bool got = fgets(buf, sizeof buf, p) != NULL;
    while (got && fgetc(p) != EOF) {}  /* drain, so the command ends normally */
    int status = pclose(p);
    if (any_output) *any_output = got;
    if (!got || status != 0) return NULL;
    buf[strcspn(buf, "\n")] = '\0';
    return xstrdup(buf);
}

static char *shell_quote(const char *s) {
    char *q = xmalloc(4 * strlen(s) + 3), *p = q;
    *p++ = '\'';
    for (; *s; s++) {
        if (*s == '\'') p = stpcpy(p, "'\\''");
        else *p++ = *s;
    }
    *p++ = '\'';
    *p = '\0';
    return q;
}

char *provenance_git(const char *root) {
    char *q = shell_quote(root);
    char *cmd = xasprintf("git -C %s rev-parse --short HEAD 2>/dev/null", q);
    char *rev = first_line_of(cmd, NULL);
    free(cmd);
    if (!rev) {
        free(q);
        return xstrdup("unknown");
    }
    cmd = xasprintf("git -C %s status --porcelain --untracked-files=no -- . ':(exclude)figures' 2>/dev/null", q);
    bool dirty = false;
    char *line = first_line_of(cmd, &dirty);
    free(line);
    free(cmd);
    free(q);
    char *s = xasprintf("%s%s", rev, dirty ? " (modified)" : "");
    free(rev);
    return s;
}

/* A copy of s with newlines and carriage returns made spaces. */
static char *one_line(const char *s) {
    char *c = xstrdup(s);
    for (char *p = c; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    return c;
}

/* $name if it is set and not empty, else NULL. */
static const char *env(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

void provenance_init(Provenance *p, const char *command, int threads) {
    if (threads <= 0) {
#ifdef _OPENMP
        threads = omp_get_max_threads();
#else
        threads = 1;
#endif
    }
    p->command = one_line(env("BOOK_COMMAND") ? env("BOOK_COMMAND") : command && *command ? command : "unknown");
    p->threads = threads;
    p->cpu = provenance_cpu(threads);
    p->device = xstrdup(p->cpu);
    p->git = env("BOOK_GIT") ? one_line(env("BOOK_GIT")) : provenance_git(book_root());
    if (env("BOOK_DATE")) {
        p->date = one_line(env("BOOK_DATE"));
    } else {
        char date[32];
        date_iso(date, sizeof date);
        p->date = xstrdup(date);
    }
}

void provenance_set_device(Provenance *p, const char *device) {
    free(p->device);
    p->device = one_line(device ? device : "unknown");
}

void provenance_free(Provenance *p) {
    free(p->command);
    free(p->device);
    free(p->cpu);
    free(p->git);
    free(p->date);
    *p = (Provenance){0};
}

static const char *or_unknown(const char *s) { return s ? s : "unknown"; }

void provenance_write(FILE *fp, const Provenance *p, const char *prefix) {
    fprintf(fp, "%scommand: %s\n%sdevice: %s\n%sdate: %s\n%sgit: %s\n", prefix, or_unknown(p->command), prefix,
            or_unknown(p->device), prefix, or_unknown(p->date), prefix, or_unknown(p->git));
}

FILE *provenance_open(AtomicFile *af, const char *dir, const char *file, const char *prefix,
                      const Provenance *p, const char *description) {
    if (!file || !*file || strchr(file, '/'))
        die("provenance_open: bad file name '%s' (a name without '/')", file ? file : "");
    const char *d = dir && *dir ? dir : ".";
    mkdir_p(d);
    char *path = xasprintf("%s/%s", d, file);
    FILE *fp = atomic_open(af, path);
    free(path);
    const char *dot = strrchr(file, '.');
    char *desc = one_line(description ? description : "");
    fprintf(fp, "%s%.*s: %s\n", prefix, (int)(dot && dot != file ? (size_t)(dot - file) : strlen(file)), file,
            desc);
    free(desc);
    provenance_write(fp, p, prefix);
    return fp;
}

void provenance_meta(const Provenance *p, const char *kv[2 * PROVENANCE_META], char buf[16]) {
    snprintf(buf, 16, "%d", p->threads);
    const char *v[PROVENANCE_META] = {or_unknown(p->command), or_unknown(p->device), buf, or_unknown(p->git),
                                      or_unknown(p->date)};
    static const char *const keys[PROVENANCE_META] = {"command", "device", "threads", "git", "date"};
    for (int i = 0; i < PROVENANCE_META; i++) kv[2 * i] = keys[i], kv[2 * i + 1] = v[i];
}
