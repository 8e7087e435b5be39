/* test_gpu_absent.c -- what a program does when --device cuda is asked for
 * and there is no GPU (or the build has no CUDA): one line naming the
 * problem, exit status 1.  On a machine with a GPU there is nothing to
 * test, and the suite says so. */
#include "check.h"
#include "expect_die.h"
#include "gpu.h"

static void open_gpu(void *ctx) {
    (void)ctx;
    gpu_open(0);
}

int main(void) {
    Check t;
    check_init(&t, "gpu_absent");
    if (gpu_available()) {
        printf("skipped: a GPU is present\n");
        return check_summary(&t);
    }
    expect_die(&t, open_gpu, NULL, "--device cuda:", "gpu_open without a GPU");
    return check_summary(&t);
}
