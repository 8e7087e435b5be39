/* trainstate.h -- everything an exact resume of training needs, in one
 * checkpoint written atomically.
 *
 * What a resume needs.  Stopping a run (Ctrl-C, SIGKILL, a full disk, a
 * reboot) and starting it again from its last checkpoint must give the run
 * that never stopped, bit for bit on the CPU.  That takes more than the
 * parameters: the optimizer's moments (Adam's m and v), the number of steps
 * taken (Adam's bias correction and the learning-rate schedule read it), the
 * random generator's state (dropout, sampling of batches), and where in the
 * data the next batch starts.  A TrainState names all of them, and
 * trainstate_save / trainstate_load write and read them together.
 *
 * The file is a safetensors checkpoint (ckpt.h), and the tensors are the
 * caller's, described as NamedTensors, {name, Tensor}: the parameters under
 * their own names (so that any safetensors reader sees the model's weights)
 * and whatever else the resume needs, by convention Adam's moments as
 * NAME.adam_m and NAME.adam_v.  The metadata holds the rest:
 *     "format": "llmc-trainstate", "version": "1",
 *     "step": decimal, "data_pos": decimal,
 *     "loss": the last step's loss, "%.17g" (exact; "nan" before the first),
 *     "rng": the four words of the Rng, 16 hex digits each, separated by commas,
 *     "config": the caller's description of the run,
 * and, when trainstate_save is given one, the run's Provenance (provenance.h),
 * whose date and command make two saves of one state differ in those lines:
 * a test that compares files byte for byte saves without one.
 * Writing is ckpt_save's: a new checkpoint replaces the old one only once it
 * is complete and synced, so a run killed at any moment leaves either the
 * previous checkpoint or the new one under PATH, never a part of one (a
 * killed writer can leave a temporary PATH.tmp-XXXXXX, which no reader
 * takes for a checkpoint; util.h atomic_sweep removes them).
 *
 * Loading is all or nothing.  The caller describes the run it is resuming
 * (the tensors' names, dtypes and shapes, with room for their values, and the
 * config string); trainstate_load checks the whole file against that and
 * only then copies the values in (ckpt.h ckpt_read).  It returns false with
 * one line in err, and leaves *s and the tensors untouched, when: the file
 * cannot be read or is not a sound safetensors file (ckpt.h's checks); it is
 * not a trainstate (format, version); step, data_pos, loss or rng are not
 * what is described above (an Rng state of all zeros is refused:
 * xoshiro256** would stay at zero); the config differs from the caller's
 * (resuming another run's checkpoint); a tensor is missing or has another
 * dtype or shape; the file holds a tensor the caller did not describe.  No input makes it
 * crash: it is a fuzzing target (tests/fuzz/fuzz_trainstate.c).
 *
 * Ownership.  The caller owns every tensor and array a TrainState points to;
 * neither function keeps a pointer.  They die (util.h) only when memory runs out. */
#ifndef TRAINSTATE_H
#define TRAINSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ckpt.h"
#include "rng.h"

typedef struct {
    const NamedTensor *tensors;        /* parameters, moments, ...: contiguous, on the CPU */
    size_t ntensors;
    int64_t step;                      /* optimizer steps taken, >= 0 */
    uint64_t data_pos;                 /* where the next batch starts */
    Rng rng;                           /* the generator, as it is after `step` steps */
    double loss;                       /* the loss of the last step, so that a resumed run can report it */
    const char *config;                /* what run this is ("mlp h=128 lr=0.01 ..."); not NULL */
} TrainState;

/* prov: the run's provenance, stored in the metadata (NULL: none). */
bool trainstate_save(const char *path, const TrainState *s, const Provenance *prov, char *err, size_t errlen);
bool trainstate_load(const char *path, TrainState *s, char *err, size_t errlen);
/* The checks and copies of trainstate_load, on a checkpoint already read. */
bool trainstate_from_ckpt(const Ckpt *c, TrainState *s, char *err, size_t errlen);

#endif
