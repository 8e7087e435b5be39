/* expect_die.h -- death tests for the checked runtime errors of common/.
 *
 * expect_die(t, fn, ctx, needle, what) runs fn(ctx) in a forked child with
 * its stderr captured, and passes when the child exits with status 1 after
 * printing exactly one line that contains `needle` (the contract of die()).
 * A child that returns normally, dies of a signal, exits with another status
 * or prints several lines fails the check.  The child's leak check is turned
 * off under AddressSanitizer: a program that dies on purpose does not free;
 * and the child leaves through the exit_group system call with the status
 * exit() was given, so that no exit-time check of the sanitizers (they hook
 * exit and _exit) runs in a forked copy of a process whose other threads
 * (OpenMP's) did not come along. */
#ifndef EXPECT_DIE_H
#define EXPECT_DIE_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define EXPECT_DIE_NO_LEAK_CHECK() __lsan_disable()
#else
#define EXPECT_DIE_NO_LEAK_CHECK() ((void)0)
#endif

static void expect_die_exit_now(int status, void *arg) {
    (void)arg;
    syscall(SYS_exit_group, status);
}

static bool expect_die(Check *t, void (*fn)(void *), void *ctx, const char *needle, const char *what) {
    int fds[2];
    if (pipe(fds) != 0) return check_true(t, false, "%s: pipe failed", what);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return check_true(t, false, "%s: fork failed", what);
    if (pid == 0) {
        EXPECT_DIE_NO_LEAK_CHECK();
        on_exit(expect_die_exit_now, NULL);
        close(fds[0]);
        dup2(fds[1], 2);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) dup2(devnull, 1);
        fn(ctx);
        syscall(SYS_exit_group, 0);
    }
    close(fds[1]);
    char msg[1024];
    size_t len = 0;
    ssize_t got;
    while ((got = read(fds[0], msg + len, sizeof msg - 1 - len)) > 0) len += (size_t)got;
    msg[len] = '\0';
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    bool exited1 = WIFEXITED(status) && WEXITSTATUS(status) == 1;
    char *nl = strchr(msg, '\n');
    bool one_line = nl != NULL && nl[1] == '\0';
    bool found = strstr(msg, needle) != NULL;
    for (char *c = msg; len > 0 && c < msg + len - 1; c++)
        if (*c == '\n') *c = '|';  /* all of it on the check's line */
    if (len > 0 && msg[len - 1] == '\n') msg[len - 1] = '\0';
    return check_true(t, exited1 && one_line && found, "%s dies with \"...%s...\" (status %d, said \"%s\")",
                      what, needle, WIFEXITED(status) ? WEXITSTATUS(status) : -1, msg);
}

#endif
