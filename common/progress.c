/* progress.c -- see progress.h for the contract. */
#include "progress.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util.h"

void progress_format_rate(double per_second, char *buf, size_t n) {
    static const char suffix[] = {'\0', 'k', 'M', 'G', 'T'};
    double r = isfinite(per_second) && per_second > 0 ? per_second : 0;
    int s = 0;
    while (r >= 999.5 && s < 4) {
        r /= 1000;
        s++;
    }
    if (s == 0) snprintf(buf, n, r < 9.995 ? "%.2f" : r < 99.95 ? "%.1f" : "%.0f", r);
    else snprintf(buf, n, r < 9.995 ? "%.2f%c" : r < 99.95 ? "%.1f%c" : "%.0f%c", r, suffix[s]);
}

void progress_format_time(double seconds, char *buf, size_t n) {
    if (!isfinite(seconds) || seconds < 0) {
        snprintf(buf, n, "?");
        return;
    }
    uint64_t s = (uint64_t)(seconds + 0.5);
    if (s >= 3600)
        snprintf(buf, n, "%llu:%02llu:%02llu", (unsigned long long)(s / 3600),
                 (unsigned long long)(s / 60 % 60), (unsigned long long)(s % 60));
    else snprintf(buf, n, "%llu:%02llu", (unsigned long long)(s / 60), (unsigned long long)(s % 60));
}

void progress_start_to(Progress *p, FILE *out, const char *label, uint64_t total) {
    const char *q = getenv("NO_PROGRESS");
    memset(p, 0, sizeof *p);
    p->label = label ? label : "";
    p->total = total;
    p->out = out;
    p->quiet = q && strcmp(q, "0") != 0 && *q;
    p->tty = isatty(fileno(out));
    p->t0 = p->last_draw = now_seconds();
    p->period = 30;
    p->width = 80;
    struct winsize ws;
    if (p->tty && ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) p->width = ws.ws_col;
}

void progress_start(Progress *p, const char *label, uint64_t total) {
    progress_start_to(p, stderr, label, total);
}

/* "45%  12.3k/s  0:41 elapsed  ETA 0:50" (no percent or ETA when total is 0). */
static void numbers(const Progress *p, double now, char *buf, size_t n) {
    double elapsed = now - p->t0, rate = elapsed > 0 ? (double)p->done / elapsed : 0;
    char r[32], e[32], eta[32];
    progress_format_rate(rate, r, sizeof r);
    progress_format_time(elapsed, e, sizeof e);
    if (p->total == 0) {
        snprintf(buf, n, "%s/s  %s elapsed", r, e);
        return;
    }
    uint64_t left = p->done < p->total ? p->total - p->done : 0;
    if (rate > 0) progress_format_time((double)left / rate, eta, sizeof eta);
    else snprintf(eta, sizeof eta, "?");
    snprintf(buf, n, "%s/s  %s elapsed  ETA %s", r, e, eta);
}

static int percent(const Progress *p) {
    if (p->total == 0) return 0;
    uint64_t d = p->done < p->total ? p->done : p->total;
    return (int)((double)d * 100.0 / (double)p->total);
}

static void draw_tty(Progress *p, double now) {
    char line[512], nums[160];
    numbers(p, now, nums, sizeof nums);
    int len;
    if (p->total) {
        enum { BAR = 20 };
        char bar[BAR + 1];
        int full = (int)((double)(p->done < p->total ? p->done : p->total) * BAR / (double)p->total);
        for (int i = 0; i < BAR; i++) bar[i] = i < full ? '#' : '.';
        bar[BAR] = '\0';
        len = snprintf(line, sizeof line, "%s [%s] %3d%%  %s%s%s", p->label, bar, percent(p), nums,
                       p->extra[0] ? "  " : "", p->extra);
    } else {
        len = snprintf(line, sizeof line, "%s %llu  %s%s%s", p->label, (unsigned long long)p->done, nums,
                       p->extra[0] ? "  " : "", p->extra);
    }
    int max = p->width - 1; /* a line that wraps cannot be redrawn with \r */
    if (len > max) len = max;
    if (len > (int)sizeof line - 1) len = (int)sizeof line - 1;
    fprintf(p->out, "\r%.*s\033[K", len, line);
    fflush(p->out);
    p->last_draw = now;
}

static void plain_line(Progress *p, double now) {
    char nums[160];
    numbers(p, now, nums, sizeof nums);
    if (p->total)
        fprintf(p->out, "%s: %llu/%llu (%d%%)  %s%s%s\n", p->label, (unsigned long long)p->done,
                (unsigned long long)p->total, percent(p), nums, p->extra[0] ? "  " : "", p->extra);
    else
        fprintf(p->out, "%s: %llu  %s%s%s\n", p->label, (unsigned long long)p->done, nums,
                p->extra[0] ? "  " : "", p->extra);
    fflush(p->out);
    p->last_draw = now;
}

void progress_update(Progress *p, uint64_t done, const char *extra_fmt, ...) {
    if (p->quiet) return;
    p->done = done;
    if (extra_fmt) {
        va_list ap;
        va_start(ap, extra_fmt);
        vsnprintf_line(p->extra, sizeof p->extra, extra_fmt, ap);
        va_end(ap);
    }
    double now = now_seconds();
    if (p->tty) {
        if (now - p->last_draw >= 0.1 || (p->total && done >= p->total)) draw_tty(p, now);
        return;
    }
    int tenths = p->total ? (int)((double)(done < p->total ? done : p->total) * 10.0 / (double)p->total) : 0;
    if (tenths > p->tenths) {
        p->tenths = tenths;
        plain_line(p, now);
    } else if (now - p->last_draw >= p->period) {
        plain_line(p, now);
    }
}

void progress_finish(Progress *p) {
    if (p->quiet) return;
    double now = now_seconds(), elapsed = now - p->t0;
    char r[32], e[32];
    progress_format_rate(elapsed > 0 ? (double)p->done / elapsed : 0, r, sizeof r);
    progress_format_time(elapsed, e, sizeof e);
    if (p->tty) fprintf(p->out, "\r\033[K");
    fprintf(p->out, "%s: done, %llu in %s (%s/s)%s%s\n", p->label, (unsigned long long)p->done, e, r,
            p->extra[0] ? "  " : "", p->extra);
    fflush(p->out);
}
