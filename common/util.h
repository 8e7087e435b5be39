/* util.h -- what every program of the book needs before anything else:
 * fatal errors, checked allocation, files that are written atomically, clocks.
 *
 * Contract.  Every function here either succeeds or ends the program with
 * one line on stderr, "<program>: <what went wrong>", and exit status 1; none
 * returns a half-made result.  The exceptions say so (atomic_commit reports
 * failure to its caller so that a writer can clean up first; atomic_try_open
 * reports it so that a writer can fail gently).  A message is one line
 * whatever it quotes: die and warn print control characters in it as
 * escapes (\n, \r, \x01; a tab stays a tab), so a path or a flag value
 * with a newline in it cannot break the line; a message is cut at 2 KB.
 * Ownership: what an x* function returns belongs to the caller (free it).
 *
 * Fuzzing.  die() prints its line and then calls die_exit(message), whose
 * definition here is weak and calls exit(1).  A fuzzing harness (tests/fuzz/)
 * links its own die_exit, which longjmps back to the harness: there a die()
 * is a graceful rejection of the input, not a crash.  die_exit must not
 * return.  Programs and tests never define it. */
#ifndef UTIL_H
#define UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Print "<program>: <message>" and exit(1).  The message is one line. */
_Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "<program>: warning: <message>" and go on. */
void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The last step of die(): exit(1).  Weak; see "Fuzzing" above.  message is
 * the one line die() printed, without the program's name. */
_Noreturn void die_exit(const char *message);
/* Write s to fp with control characters but tab escaped (\n, \r, \xNN) and at
 * most max bytes of it (then "..."; max 0: all), so that it stays on one line. */
void fput_one_line(FILE *fp, const char *s, size_t max);

/* Checked allocation: die("out of memory ...") instead of returning NULL.
 * xcalloc and xmalloc_array check n * size for overflow. */
void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xmalloc_array(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);
/* printf into a fresh string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* printf into buf[0 .. n) as one line: a newline or carriage return becomes a
 * space.  Does nothing if buf is NULL or n is 0, so a loader can fill the
 * error buffer its caller may not have given (the char *err, size_t errlen
 * of ckpt_load, trainstate_load, ...). */
void snprintf_line(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void vsnprintf_line(char *buf, size_t n, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

/* fopen that dies with "cannot open PATH for reading: reason". */
FILE *xfopen(const char *path, const char *mode);
/* Read a whole file into memory (NUL-terminated, *len excludes the NUL).
 * Returns NULL and fills err (if not NULL) instead of dying, so that
 * loaders can say which file was the problem in their own words.  A
 * directory or a device (/dev/zero, a terminal) is refused ("PATH is not a
 * regular file"); pipes are read to their end. */
char *file_read(const char *path, size_t *len, char *err, size_t errlen);
/* Create a directory and its parents (like mkdir -p); dies on failure. */
void mkdir_p(const char *path);
bool file_exists(const char *path);

/* Atomic files.  Writers never leave a half-written file under the final
 * name: atomic_open writes to "PATH.tmp-XXXXXX" in the same directory, and
 * atomic_commit flushes, fsyncs, closes and renames it onto PATH.  If the
 * program dies before the commit, PATH still holds the previous complete
 * version (or does not exist).  atomic_abort removes the temporary file. */
typedef struct {
    FILE *fp;          /* write here */
    char *path;        /* final name */
    char *tmp;         /* temporary name, same directory */
} AtomicFile;
FILE *atomic_open(AtomicFile *af, const char *path);  /* dies if it cannot */
/* The same, but returns NULL with "cannot create PATH.tmp-XXXXXX: reason"
 * in err and errno set (full disk, unwritable or missing directory), *af
 * emptied. */
FILE *atomic_try_open(AtomicFile *af, const char *path, char *err, size_t errlen);
/* Remove the temporary files "PATH.tmp-XXXXXX" that writers killed before
 * their commit (SIGKILL, power loss) left beside PATH; returns how many.
 * Call it only where no other process is writing PATH. */
size_t atomic_sweep(const char *path);
bool atomic_commit(AtomicFile *af);  /* false (errno set, tmp removed) on any I/O error;
                                        after the rename the directory is fsynced too
                                        (best effort), so the new name survives a crash */
void atomic_commit_or_die(AtomicFile *af);
void atomic_abort(AtomicFile *af);

/* Clocks.  now_seconds: monotonic wall clock, for timing; cpu_seconds: the
 * processor time of the whole process (every thread); thread_seconds: the
 * processor time of the calling thread.  The two processor clocks do not
 * count the time a program waits for a core on a busy machine, so the book
 * times CPU work by them.  date_iso: "2026-11-27T21:33:41Z". */
double now_seconds(void);
double cpu_seconds(void);
double thread_seconds(void);
void date_iso(char *buf, size_t n);

/* worst_of: fmax(worst, x) for the running worst error of a check, except
 * that a NaN x makes it infinite (fmax would skip the NaN, and a result
 * that is NaN would pass with error 0). */
double worst_of(double worst, double x);

/* The repository root: $BOOK_ROOT if set, else the directory this build was
 * compiled in.  Programs find node_modules/ (the corpora) and .git there. */
const char *book_root(void);

#endif
