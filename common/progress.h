/* progress.h -- how long a loop has run and how long it still needs.
 *
 *     Progress p;
 *     progress_start(&p, "train", steps);
 *     for (uint64_t s = 0; s < steps; s++) {
 *         ...
 *         progress_update(&p, s + 1, "loss %.3f", loss);
 *     }
 *     progress_finish(&p);
 *
 * Output goes to stderr (progress_start_to picks another stream), never to
 * stdout, so it never mixes with a program's results.
 *
 * On a terminal: one line, redrawn in place with '\r' at most 10 times a
 * second (and always at the end), cut to the terminal's width:
 *     train [#########.........]  45%  12.3k/s  0:41 elapsed  ETA 0:50  loss 2.310
 * Anywhere else (a pipe, a log file): plain lines, never '\r', one each time
 * `done` crosses a tenth of `total` (one line even if an update jumps over
 * several tenths) and, between tenths, one at least every 30 seconds:
 *     train: 4500/10000 (45%)  12.3k/s  0:41 elapsed  ETA 0:50  loss 2.310
 * progress_finish prints the last line, the same on both:
 *     train: done, 10000 in 1:31 (11.0k/s)  loss 1.874
 * total == 0 means "unknown": no bar, percent or ETA; a plain line every 30 s.
 *
 * NO_PROGRESS=1 in the environment silences all of it.
 *
 * Rates: items per second with a k, M or G suffix (3 significant digits).
 * Times: M:SS, or H:MM:SS from an hour on.
 *
 * Ownership: a Progress lives wherever the caller puts it (the stack) and
 * holds no allocation; label and stream must outlive it.  The extra text is
 * copied (cut at 127 bytes).  Checked: `done` larger than `total` is shown
 * as is (the percentage is capped at 100); nothing here dies.  Not thread
 * safe: update from one thread. */
#ifndef PROGRESS_H
#define PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    const char *label;
    uint64_t total, done;
    FILE *out;             /* stderr unless progress_start_to said otherwise */
    bool tty;              /* redraw one line; else plain lines */
    bool quiet;            /* NO_PROGRESS=1 */
    double t0;             /* now_seconds() at start */
    double last_draw;      /* when the last line or redraw was printed */
    double period;         /* non-terminal: seconds between lines between tenths (30) */
    int tenths;            /* non-terminal: tenths of total already reported */
    int width;             /* terminal columns */
    char extra[128];       /* the last extra text */
} Progress;

void progress_start(Progress *p, const char *label, uint64_t total);
void progress_start_to(Progress *p, FILE *out, const char *label, uint64_t total);
/* done: items completed so far (not an increment).  extra_fmt: printf-style
 * text shown after the numbers, e.g. "loss %.3f"; NULL keeps the last one. */
void progress_update(Progress *p, uint64_t done, const char *extra_fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The final line, with elapsed time and rate. */
void progress_finish(Progress *p);

/* The formats, for callers that print their own lines: "12.3k", "1:02:03". */
void progress_format_rate(double per_second, char *buf, size_t n);
void progress_format_time(double seconds, char *buf, size_t n);

#endif
