/* test_act_emu.c -- common/gpu/activations.cu's kernels on the CPU, under
 * tools/flashemu's emulator (the file rewritten by tools/flashemu/gen.py,
 * every kernel line as written), against nn.h.  Written for issue 25's
 * gelu_backward_set_cuda (GELU's backward pass that OVERWRITES its output
 * instead of adding into a zeroed buffer): separate buffers and in place,
 * and beside it the kernels it was made from (GELU forward, the adding
 * backward pass, the residual add), in f32, bf16 and f16, at sizes that
 * leave a tail (a pack of 16 bytes cut short; fewer values than a pack).
 *
 * The output buffers start as all-ones bytes (NaN in every float format),
 * so a value the kernel does not write, or adds to instead of overwriting,
 * shows as not finite.  Inputs are drawn in f32 and rounded to the dtype;
 * nn.h computes from the same rounded values in f32; the rule is tests/
 * test_gpu.c's: ||emu - cpu|| / ||cpu|| <= 1e-5 (f32), 1.5e-2 (bf16),
 * 4e-3 (f16), every value finite.  The cuBLASLt fusions cannot run here
 * (tests/test_gpu.c and tests/test_gpt_gpu.c check them on a GPU). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nn.h"
#include "rng.h"
#include "tensor.h"
#include "util.h"

typedef struct Gpu Gpu;
void *emu_act_gpu(void);
void emu_act_gelu_forward_cuda(Gpu *g, DType dt, void *out, const void *inp, size_t n);
void emu_act_gelu_backward_cuda(Gpu *g, DType dt, void *dinp, const void *dout, const void *inp, size_t n);
void emu_act_gelu_backward_set_cuda(Gpu *g, DType dt, void *dinp, const void *dout, const void *inp, size_t n);
void emu_act_residual_forward_cuda(Gpu *g, DType dt, void *out, const void *a, const void *b, size_t n);

static double tol(DType dt) { return dt == DT_F32 ? 1e-5 : dt == DT_BF16 ? 1.5e-2 : 4e-3; }

static float round_to(DType dt, float x) {
    return dt == DT_BF16 ? bf16_to_f32(f32_to_bf16(x)) : dt == DT_F16 ? f16_to_f32(f32_to_f16(x)) : x;
}

/* a 64-byte aligned buffer of n values of dt holding h (NULL: all bits set) */
static void *buf(DType dt, const float *h, size_t n) {
    size_t e = dtype_size(dt), bytes = (n * e + 63) / 64 * 64;
    void *p = aligned_alloc(64, bytes ? bytes : 64);
    memset(p, 0xff, bytes ? bytes : 64);
    for (size_t i = 0; h && i < n; i++) {
        if (dt == DT_F32) ((float *)p)[i] = h[i];
        else if (dt == DT_BF16) ((uint16_t *)p)[i] = f32_to_bf16(h[i]);
        else ((uint16_t *)p)[i] = f32_to_f16(h[i]);
    }
    return p;
}

static float get(DType dt, const void *p, size_t i) {
    return dt == DT_F32 ? ((const float *)p)[i] : dt == DT_BF16 ? bf16_to_f32(((const uint16_t *)p)[i])
                                                                : f16_to_f32(((const uint16_t *)p)[i]);
}

static void expect(Check *t, DType dt, const void *got, const float *ref, size_t n, const char *what) {
    double num = 0, den = 0;
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        double v = get(dt, got, i);
        if (!isfinite(v)) bad++;
        num += (v - ref[i]) * (v - ref[i]), den += (double)ref[i] * ref[i];
    }
    double err = sqrt(num) / fmax(sqrt(den), 1e-30);
    check_true(t, bad == 0 && err <= tol(dt), "emulated %s %s, n %zu: %zu values not finite, relative error %.2e <= %.1e",
               what, dtype_name(dt), n, bad, err, tol(dt));
}

static float *hrand(Rng *r, DType dt, size_t n, float scale) {
    float *p = xmalloc_array(n, sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = round_to(dt, scale * (float)rng_normal(r));
    return p;
}

static void test_size(Check *t, Gpu *g, Rng *r, DType dt, size_t n) {
    float *x = hrand(r, dt, n, 2), *dy = hrand(r, dt, n, 1), *acc = hrand(r, dt, n, 1), *x2 = hrand(r, dt, n, 1);
    float *ref = xmalloc_array(n, sizeof *ref), *zero = xcalloc(n, sizeof *zero);
    void *X = buf(dt, x, n), *DY = buf(dt, dy, n), *X2 = buf(dt, x2, n);
    /* overwriting, separate buffers: dinp starts as NaN */
    void *D = buf(dt, NULL, n);
    memcpy(ref, zero, n * sizeof *ref);
    gelu_backward(ref, dy, x, n);
    emu_act_gelu_backward_set_cuda(g, dt, D, DY, X, n);
    expect(t, dt, D, ref, n, "gelu backward, overwriting");
    /* overwriting in place: dinp is dout */
    void *DI = buf(dt, dy, n);
    emu_act_gelu_backward_set_cuda(g, dt, DI, DI, X, n);
    expect(t, dt, DI, ref, n, "gelu backward, overwriting in place");
    /* the adding one, from random values */
    void *DA = buf(dt, acc, n);
    memcpy(ref, acc, n * sizeof *ref);
    gelu_backward(ref, dy, x, n);
    emu_act_gelu_backward_cuda(g, dt, DA, DY, X, n);
    expect(t, dt, DA, ref, n, "gelu backward, adding");
    /* forward and the residual add into NaN */
    void *Y = buf(dt, NULL, n);
    gelu_forward(ref, x, n);
    emu_act_gelu_forward_cuda(g, dt, Y, X, n);
    expect(t, dt, Y, ref, n, "gelu forward");
    memset(Y, 0xff, n * dtype_size(dt));
    residual_forward(ref, x, x2, n);
    emu_act_residual_forward_cuda(g, dt, Y, X, X2, n);
    expect(t, dt, Y, ref, n, "residual forward");
    free(x), free(dy), free(acc), free(x2), free(ref), free(zero);
    free(X), free(DY), free(X2), free(D), free(DI), free(DA), free(Y);
}

int main(void) {
    Check t;
    check_init(&t, "act-emu");
    Gpu *g = emu_act_gpu();
    Rng r;
    rng_seed(&r, 2025);
    DType dts[3] = {DT_F32, DT_BF16, DT_F16};
    size_t sizes[4] = {7, 1001, 4096, 12293};
    for (int k = 0; k < 3; k++)
        for (int s = 0; s < 4; s++) test_size(&t, g, &r, dts[k], sizes[s]);
    return check_summary(&t);
}
