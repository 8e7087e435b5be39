/* gpu_before.h -- kernels of common/gpu as they were before a change, and
 * the steps between, kept beside the bench so that one run times each
 * change against what it replaced (bench/gpu-notes.md has the predictions).
 * Not part of the runtime: only bench/gpu.c links them. */
#ifndef GPU_BEFORE_H
#define GPU_BEFORE_H

#include "gpu.h"

#ifdef __cplusplus
extern "C" {
#endif

/* GELU forward: tanhf = true is fb06733's formula (tanhf), false the
 * exponential form gpu.h uses now; packs = 16-byte packs per thread. */
void before_gelu_forward(Gpu *g, DType dt, void *out, const void *inp, size_t n, bool tanhf_form, int packs);
/* Cross-entropy forward: packs_ahead = packs a thread loads before using
 * them (fb06733: 1); merge2 = two exponentials per merged pack (fb06733)
 * rather than a running maximum (now). */
void before_cross_entropy_forward(Gpu *g, DType dt, float *losses, float *lse, const void *logits,
                                  const int32_t *targets, int N, int V, int packs_ahead, bool merge2);
/* Cross-entropy backward as at fb06733 (one pack in flight per thread). */
void before_cross_entropy_backward(Gpu *g, DType dt, void *dlogits, const void *logits, const float *lse,
                                   const int32_t *targets, float dloss, int N, int V);
/* Embedding backward as at fb06733: atomic adds into dwte and dwpe. */
void before_embedding_backward(Gpu *g, DType dt, void *dwte, void *dwpe, const void *dout, const int32_t *tokens,
                               int B, int T, int C);

#ifdef __cplusplus
}
#endif

#endif
