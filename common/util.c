/* util.c -- see util.h for the contracts. */
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef BOOK_ROOT
#define BOOK_ROOT "."
#endif

extern char *program_invocation_short_name;

void fput_one_line(FILE *fp, const char *s, size_t max) {
    size_t i = 0;
    for (; s[i] && (max == 0 || i < max); i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') fputs("\\n", fp);
        else if (c == '\r') fputs("\\r", fp);
        else if ((c < 0x20 && c != '\t') || c == 0x7f) fprintf(fp, "\\x%02x", c);
        else fputc(c, fp);
    }
    if (s[i]) fputs("...", fp);
}

/* "<program>: <prefix><message>\n" on stderr, the message kept on one line;
 * the message (truncated to n bytes) is left in buf. */
static void report(char *buf, size_t n, const char *prefix, const char *fmt, va_list ap) {
    fflush(stdout);
    vsnprintf(buf, n, fmt, ap);
    fprintf(stderr, "%s: %s", program_invocation_short_name, prefix);
    fput_one_line(stderr, buf, 0);
    fputc('\n', stderr);
}

__attribute__((weak)) void die_exit(const char *message) {
    (void)message;
    exit(1);
}

void die(const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    report(msg, sizeof msg, "", fmt, ap);
    va_end(ap);
    die_exit(msg);
}

void warn(const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    report(msg, sizeof msg, "warning: ", fmt, ap);
    va_end(ap);
}

void *xmalloc(size_t size) {
    void *p = malloc(size ? size : 1);
    if (!p) die("out of memory (asked for %zu bytes)", size);
    return p;
}

void *xmalloc_array(size_t n, size_t size) {
    if (size && n > SIZE_MAX / size) die("out of memory (%zu x %zu bytes overflows)", n, size);
    return xmalloc(n * size);
}

void *xcalloc(size_t n, size_t size) {
    if (size && n > SIZE_MAX / size) die("out of memory (%zu x %zu bytes overflows)", n, size);
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) die("out of memory (asked for %zu x %zu bytes)", n, size);
    return p;
}

void *xrealloc(void *p, size_t size) {
    void *q = realloc(p, size ? size : 1);
    if (!q) die("out of memory (asked for %zu bytes)", size);
    return q;
}

char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

char *xasprintf(const char *fmt, ...) {
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) die("xasprintf: bad format \"%s\"", fmt);
    char *s = xmalloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return s;
}

void vsnprintf_line(char *buf, size_t n, const char *fmt, va_list ap) {
    if (!buf || n == 0) return;
    vsnprintf(buf, n, fmt, ap);
    for (char *c = buf; *c; c++)
        if (*c == '\n' || *c == '\r') *c = ' ';
}

void snprintf_line(char *buf, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf_line(buf, n, fmt, ap);
    va_end(ap);
}

FILE *xfopen(const char *path, const char *mode) {
    FILE *fp = fopen(path, mode);
    if (!fp)
        die("cannot open %s for %s: %s", path, mode[0] == 'r' ? "reading" : "writing",
            strerror(errno));
    return fp;
}

char *file_read(const char *path, size_t *len, char *err, size_t errlen) {
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        if (err) snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !(S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
        if (err) snprintf(err, errlen, "%s is not a regular file", path);
        fclose(fp);
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (n + 1 >= cap) buf = xrealloc(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n - 1, fp);
        n += got;
        if (got == 0) break;
    }
    bool bad = ferror(fp);
    fclose(fp);
    if (bad) {
        if (err) snprintf(err, errlen, "cannot read %s", path);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

bool file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

void mkdir_p(const char *path) {
    char *p = xstrdup(path);
    for (char *s = p + 1; ; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST)
                die("cannot create directory %s: %s", p, strerror(errno));
            *s = c;
            if (c == '\0') break;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) die("%s is not a directory", path);
    free(p);
}

FILE *atomic_try_open(AtomicFile *af, const char *path, char *err, size_t errlen) {
    af->path = xstrdup(path);
    af->tmp = xasprintf("%s.tmp-XXXXXX", path);
    af->fp = NULL;
    int fd = mkstemp(af->tmp);
    if (fd >= 0) {  /* mkstemp makes it 0600; a file written normally gets 0666 less the umask */
        mode_t mask = umask(0);
        umask(mask);
        fchmod(fd, 0666 & ~mask);
    }
    if (fd >= 0 && !(af->fp = fdopen(fd, "wb"))) {
        int saved = errno;
        close(fd);
        unlink(af->tmp);
        errno = saved;
    }
    if (!af->fp) {
        int saved = errno;
        if (err && errlen) snprintf(err, errlen, "cannot create %s: %s", af->tmp, strerror(saved));
        free(af->tmp);
        free(af->path);
        af->tmp = af->path = NULL;
        errno = saved;
        return NULL;
    }
    return af->fp;
}

FILE *atomic_open(AtomicFile *af, const char *path) {
    char err[1024];
    if (!atomic_try_open(af, path, err, sizeof err)) die("%s", err);
    return af->fp;
}

/* Make a rename durable: fsync the directory that holds path. */
static bool sync_dir_of(const char *path) {
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (!slash) strcpy(dir, ".");
    else if (slash == dir) slash[1] = '\0';
    else *slash = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    free(dir);
    if (fd < 0) return false;
    bool ok = fsync(fd) == 0 || errno == EINVAL;  /* some file systems cannot sync a directory */
    close(fd);
    return ok;
}

size_t atomic_sweep(const char *path) {
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    const char *base = slash ? slash + 1 : path;
    if (!slash) strcpy(dir, ".");
    else if (slash == dir) slash[1] = '\0';
    else *slash = '\0';
    char *prefix = xasprintf("%s.tmp-", base);
    size_t plen = strlen(prefix), removed = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (strncmp(e->d_name, prefix, plen) != 0 || strlen(e->d_name) != plen + 6) continue;
        char *full = xasprintf("%s/%s", dir, e->d_name);
        if (unlink(full) == 0) removed++;
        free(full);
    }
    if (d) closedir(d);
    free(prefix);
    free(dir);
    return removed;
}

bool atomic_commit(AtomicFile *af) {
    bool ok = fflush(af->fp) == 0 && !ferror(af->fp);
    ok = ok && fsync(fileno(af->fp)) == 0;
    int saved = errno;
    if (fclose(af->fp) != 0 && ok) { ok = false; saved = errno; }
    af->fp = NULL;
    if (ok && rename(af->tmp, af->path) != 0) { ok = false; saved = errno; }
    if (!ok) unlink(af->tmp);
    else sync_dir_of(af->path);
    free(af->tmp);
    free(af->path);
    af->tmp = af->path = NULL;
    errno = saved;
    return ok;
}

void atomic_commit_or_die(AtomicFile *af) {
    char *path = xstrdup(af->path);
    if (!atomic_commit(af)) die("cannot write %s: %s", path, strerror(errno));
    free(path);
}

void atomic_abort(AtomicFile *af) {
    if (af->fp) fclose(af->fp);
    if (af->tmp) unlink(af->tmp);
    free(af->tmp);
    free(af->path);
    af->fp = NULL;
    af->tmp = af->path = NULL;
}

static double clock_seconds(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
double now_seconds(void) { return clock_seconds(CLOCK_MONOTONIC); }
double cpu_seconds(void) { return clock_seconds(CLOCK_PROCESS_CPUTIME_ID); }
double thread_seconds(void) { return clock_seconds(CLOCK_THREAD_CPUTIME_ID); }

void date_iso(char *buf, size_t n) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

const char *book_root(void) {
    const char *r = getenv("BOOK_ROOT");
    return (r && *r) ? r : BOOK_ROOT;
}

double worst_of(double worst, double x) { return isnan(x) ? INFINITY : fmax(worst, x); }
