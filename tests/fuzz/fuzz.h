/* fuzz.h -- what every fuzz target of tests/fuzz/ shares.
 *
 * Each fuzz_NAME.c defines LLVMFuzzerTestOneInput and is built with clang's
 * libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer (make fuzz;
 * make test builds them too and tests/test_fuzz.sh replays their corpora and
 * runs each for a few seconds).  What counts as a crash: a sanitizer report,
 * a signal, a timeout, a leak, or a broken promise of the function under
 * test, which the target checks with FUZZ_ASSERT (abort: libFuzzer keeps the
 * input).  What does not: the function refusing the input the way its
 * contract says, with an error return and a one-line message, or a die()
 * (util.h): die_exit is redefined here to jump back into the target, so that
 * a die is a graceful rejection, counted in fuzz_dies, never a crash.
 *
 * Files.  Loaders that take a path get the input through fuzz_file(), one
 * file per process in $TMPDIR (else /dev/shm, else /tmp), rewritten for
 * every input and removed when the process exits normally; libFuzzer ends
 * some runs with _Exit, so tests/test_fuzz.sh and tests/fuzz/run point
 * TMPDIR at a scratch folder of their own and remove it. */
#ifndef FUZZ_H
#define FUZZ_H

#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static jmp_buf fuzz_jmp;
static int fuzz_armed;
static unsigned long fuzz_dies;

/* die() ends here in a fuzz build: back to FUZZ_TRY's setjmp. */
_Noreturn void die_exit(const char *message) {
    (void)message;
    if (!fuzz_armed) abort();
    fuzz_armed = 0;
    fuzz_dies++;
    longjmp(fuzz_jmp, 1);
}

/* Run the statement; a die() inside it ends it early, gracefully. */
#define FUZZ_TRY(stmt) do { if (setjmp(fuzz_jmp) == 0) { fuzz_armed = 1; stmt; } fuzz_armed = 0; } while (0)

#define FUZZ_ASSERT(cond, ...) do { if (!(cond)) { fprintf(stderr, "FUZZ_ASSERT failed: %s: ", #cond); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); abort(); } } while (0)

/* A message promised to be one line: non-empty, no newline. */
#define FUZZ_ONE_LINE(msg) FUZZ_ASSERT((msg)[0] && !strpbrk((msg), "\n\r"), "message \"%s\"", (msg))

static char fuzz_in_path[256], fuzz_out_name[300];

static void fuzz_remove_files(void) {
    if (fuzz_in_path[0]) unlink(fuzz_in_path);
    if (fuzz_out_name[0]) unlink(fuzz_out_name);
}

static const char *fuzz_dir(void) {
    static int registered;
    if (!registered) registered = 1, atexit(fuzz_remove_files);
    const char *t = getenv("TMPDIR");
    return t && *t && access(t, W_OK) == 0 ? t : access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
}

/* The input as a file; returns its path (static storage; removed at exit). */
static const char *fuzz_file(const uint8_t *data, size_t size) {
    char *path = fuzz_in_path;
    if (!path[0]) snprintf(path, sizeof fuzz_in_path, "%s/llmc-fuzz-%d", fuzz_dir(), (int)getpid());
    FILE *fp = fopen(path, "wb");
    if (!fp || (size && fwrite(data, 1, size, fp) != size) || fclose(fp) != 0) abort();
    return path;
}

/* A scratch path beside it, for writers (removed at exit). */
static const char *fuzz_out_path(void) {
    if (!fuzz_out_name[0]) snprintf(fuzz_out_name, sizeof fuzz_out_name, "%s/llmc-fuzz-out-%d", fuzz_dir(), (int)getpid());
    return fuzz_out_name;
}

#endif
