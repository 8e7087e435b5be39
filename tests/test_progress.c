/* test_progress.c -- common/progress: the plain lines a log file gets, the
 * redrawn line a terminal (a pseudo-terminal here) gets, NO_PROGRESS, and
 * the rate and time formats. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "check.h"
#include "progress.h"
#include "util.h"

/* Run fn with a Progress writing into a temporary file; return what it wrote. */
static char *capture(void (*fn)(Progress *), uint64_t total) {
    FILE *fp = tmpfile();
    if (!fp) die("tmpfile failed");
    Progress p;
    progress_start_to(&p, fp, "train", total);
    fn(&p);
    fflush(fp);
    rewind(fp);
    char *buf = xcalloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static void thousand_steps(Progress *p) {
    for (uint64_t i = 1; i <= 1000; i++) progress_update(p, i, "loss %.2f", 3.0 - (double)i / 1000);
    progress_finish(p);
}

static void two_jumps(Progress *p) {
    progress_update(p, 0, NULL);
    progress_update(p, 550, NULL);
    progress_update(p, 560, NULL);
    progress_update(p, 1000, "acc %d%%", 97);
    progress_finish(p);
}

static void unknown_total(Progress *p) {
    p->period = 0.05;
    progress_update(p, 10, NULL); /* too soon: no line */
    usleep(80 * 1000);
    progress_update(p, 20, "x");  /* a period has passed: one line */
    progress_update(p, 30, "y");  /* too soon again */
    progress_finish(p);
}

static void test_plain(Check *t) {
    char *out = capture(thousand_steps, 1000);
    check_true(t, count_lines(out) == 11, "1000 steps: 10 lines at the tenths and the final one (%d)", count_lines(out));
    check_true(t, strchr(out, '\r') == NULL && strchr(out, '\033') == NULL, "no \\r or escapes off a terminal");
    /* each line: "train: D/1000 (P%)  R/s  T elapsed  ETA T  loss L" */
    char *line = out;
    bool formats = true;
    for (int k = 1; k <= 10; k++) {
        unsigned long long d, tot;
        int pct;
        char rest[200];
        if (sscanf(line, "train: %llu/%llu (%d%%) %199[^\n]", &d, &tot, &pct, rest) != 4 || d != 100ull * k ||
            tot != 1000 || pct != 10 * k || !strstr(rest, "/s  ") || !strstr(rest, " elapsed  ETA ") ||
            !strstr(rest, "  loss ")) {
            formats = false;
            check_true(t, false, "line %d reads \"%.*s\"", k, (int)(strchr(line, '\n') - line), line);
            break;
        }
        line = strchr(line, '\n') + 1;
    }
    check_true(t, formats, "the tenths lines: counts, percentages, rate, elapsed, ETA, extra");
    check_true(t, strstr(out, "train: 1000/1000 (100%)") && strstr(out, "loss 2.00\ntrain: done, 1000 in 0:00 ("),
               "the last tenth carries the last extra; the final line says done");
    check_true(t, strncmp(line, "train: done, 1000 in ", 21) == 0 && strstr(line, "/s)  loss 2.00\n"),
               "final line format (%s)", line);
    free(out);

    out = capture(two_jumps, 1000);
    check_true(t, count_lines(out) == 3 && strstr(out, "train: 550/1000 (55%)") &&
                      strstr(out, "train: 1000/1000 (100%)") && strstr(out, "acc 97%") && !strstr(out, "560/"),
               "jumping over tenths prints one line per jump (%s)", out);
    free(out);

    out = capture(unknown_total, 0);
    check_true(t, count_lines(out) == 2 && strncmp(out, "train: 20  ", 11) == 0 && !strstr(out, "ETA") &&
                      strstr(out, "elapsed  x\ntrain: done, 30 in "),
               "unknown total: a line per period, no ETA (%s)", out);
    free(out);
}

static void test_quiet(Check *t) {
    setenv("NO_PROGRESS", "1", 1);
    char *out = capture(thousand_steps, 1000);
    check_true(t, out[0] == '\0', "NO_PROGRESS=1 prints nothing (%zu bytes)", strlen(out));
    free(out);
    unsetenv("NO_PROGRESS");
}

static void test_formats(Check *t) {
    struct { double v; const char *want; } rates[] = {
        {0, "0.00"}, {5.5, "5.50"}, {42.25, "42.2"}, {999, "999"}, {999.6, "1.00k"},
        {12345, "12.3k"}, {456789, "457k"}, {1.5e6, "1.50M"}, {2.5e9, "2.50G"},
    };
    for (size_t i = 0; i < sizeof rates / sizeof *rates; i++) {
        char buf[32];
        progress_format_rate(rates[i].v, buf, sizeof buf);
        check_true(t, strcmp(buf, rates[i].want) == 0, "rate %g -> %s (got %s)", rates[i].v, rates[i].want, buf);
    }
    struct { double v; const char *want; } times[] = {
        {0, "0:00"}, {9.4, "0:09"}, {61, "1:01"}, {3599, "59:59"}, {3723, "1:02:03"}, {-1, "?"},
    };
    for (size_t i = 0; i < sizeof times / sizeof *times; i++) {
        char buf[32];
        progress_format_time(times[i].v, buf, sizeof buf);
        check_true(t, strcmp(buf, times[i].want) == 0, "time %g -> %s (got %s)", times[i].v, times[i].want, buf);
    }
}

/* A pseudo-terminal 40 columns wide: redraws with \r, at most ~10 a second,
 * each cut to 39 columns, one final line. */
static void test_terminal(Check *t) {
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) {
        /* some sandboxes have no /dev/ptmx: say so, and count nothing */
        printf("skip progress: no pseudo-terminal here; the terminal display is not tested\n");
        if (master >= 0) close(master);
        return;
    }
    int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
    struct termios tio;
    tcgetattr(slave, &tio);
    cfmakeraw(&tio);
    tcsetattr(slave, TCSANOW, &tio);
    struct winsize ws = {.ws_row = 24, .ws_col = 40};
    ioctl(slave, TIOCSWINSZ, &ws);
    FILE *fp = fdopen(slave, "w");

    Progress p;
    progress_start_to(&p, fp, "run", 300000);
    check_true(t, p.tty && p.width == 40, "a pty is a terminal 40 columns wide (%d)", p.width);
    double t0 = now_seconds();
    for (uint64_t i = 1; i <= 300000; i++) progress_update(&p, i, "loss %.3f", 1.0);
    double secs = now_seconds() - t0;
    progress_finish(&p);
    fclose(fp);

    fcntl(master, F_SETFL, O_NONBLOCK);
    char buf[1 << 16];
    size_t len = 0;
    ssize_t got;
    while (len < sizeof buf - 1 && (got = read(master, buf + len, sizeof buf - 1 - len)) > 0) len += (size_t)got;
    buf[len] = '\0';
    close(master);

    int redraws = 0, newlines = 0;
    size_t longest = 0;
    for (char *s = buf; *s; s++) {
        if (*s == '\n') newlines++;
        if (*s != '\r') continue;
        redraws++;
        size_t n = strcspn(s + 1, "\r\033\n");
        if (n > longest) longest = n;
    }
    int allowed = 2 + (int)(secs * 10) + 1; /* the 100% redraw, the finish, 10 a second */
    check_true(t, redraws >= 2 && redraws <= allowed, "%d redraws in %.2f s (at most %d)", redraws, secs, allowed);
    check_true(t, longest <= 39, "redrawn lines fit 39 columns (longest %zu)", longest);
    check_true(t, newlines == 1 && strstr(buf, "run: done, 300000 in "),
               "one newline, at the final line");
    check_true(t, strstr(buf, "[####################] 100%") != NULL, "the bar fills at 100%%");
}

/* The clocks progress bars and the chapters' timings read (util.h): a busy
 * loop moves the processor clocks; sleeping moves the wall clock and not them. */
static void test_clocks(Check *t) {
    double c0 = cpu_seconds(), h0 = thread_seconds();
    volatile double x = 0;
    while (thread_seconds() - h0 < 0.02) x += 1e-9;
    double busy_c = cpu_seconds() - c0, busy_h = thread_seconds() - h0;
    check_true(t, busy_h >= 0.02 && busy_c >= busy_h - 1e-3,
               "clocks: 20 ms of work moves the thread's clock (%.4f s) and the process's (%.4f s)", busy_h, busy_c);
    c0 = cpu_seconds();
    double w0 = now_seconds();
    struct timespec nap = {0, 50000000};
    nanosleep(&nap, NULL);
    double slept_w = now_seconds() - w0, slept_c = cpu_seconds() - c0;
    check_true(t, slept_w >= 0.049 && slept_c < 0.02,
               "clocks: 50 ms asleep moves the wall clock (%.4f s), not the processor clock (%.4f s)", slept_w, slept_c);
}

int main(void) {
    Check t;
    check_init(&t, "progress");
    unsetenv("NO_PROGRESS");
    test_plain(&t);
    test_quiet(&t);
    test_formats(&t);
    test_terminal(&t);
    test_clocks(&t);
    return check_summary(&t);
}
