/* tests/gpt_perturb.h: parameters for a GPT that exercise every code path.
 *
 * test_gpt.c (CPU against finite differences and checkpoints) and
 * test_gpt_gpu.c (GPU against CPU) both start from random parameters rather
 * than the initializer's, so that no gain is exactly 1 and no bias exactly 0.
 * Matrices (2-D tensors) get N(0, w^2), layer-norm gains 1 + N(0, g^2), every
 * other vector N(0, b^2), drawn in the model's tensor order from one seed.
 */
#ifndef GPT_PERTURB_H
#define GPT_PERTURB_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "gpt.h"
#include "rng.h"

static inline void gpt_perturb(float *h, const Gpt *m, uint64_t seed, double w, double g, double b) {
    Rng r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < m->ntensors; i++) {
        const GptTensorInfo *t = &m->info[i];
        bool gain = strstr(t->name, "ln_") && strstr(t->name, ".weight");
        for (size_t j = 0; j < t->numel; j++)
            h[t->offset + j] = (float)(t->ndim == 2 ? w * rng_normal(&r) : gain ? 1 + g * rng_normal(&r) : b * rng_normal(&r));
    }
}

#endif
