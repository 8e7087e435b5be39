/* fuzz_trainstate.c -- resuming training from a checkpoint (trainstate.h):
 * the bytes are parsed as safetensors, then checked against a run of two
 * parameters ("w" [3, 4] with Adam's moments, "b" [4] without).  The loader
 * must refuse without touching the state, or fill it so that saving it
 * again and loading that gives the same values back. */
#include <math.h>

#include "fuzz.h"
#include "trainstate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[512] = "";
    Ckpt *volatile c = NULL;
    unsigned long dies = fuzz_dies;
    FUZZ_TRY(c = ckpt_parse(data, size, err, sizeof err));
    if (!c) return 0;
    float w[12], wm[12], wv[12], b[4];
    for (int i = 0; i < 12; i++) w[i] = wm[i] = wv[i] = -7;
    for (int i = 0; i < 4; i++) b[i] = -7;
    const int64_t ws[2] = {3, 4}, bs[1] = {4};
    NamedTensor p[4] = {{"w", tensor_wrap(DT_F32, DEV_CPU, 2, ws, w)}, {"w.adam_m", tensor_wrap(DT_F32, DEV_CPU, 2, ws, wm)},
                        {"w.adam_v", tensor_wrap(DT_F32, DEV_CPU, 2, ws, wv)}, {"b", tensor_wrap(DT_F32, DEV_CPU, 1, bs, b)}};
    TrainState s = {.tensors = p, .ntensors = 4, .step = -1, .data_pos = 99, .rng = {{1, 2, 3, 4}}, .loss = -7, .config = "fuzz run"};
    volatile bool ok = false;
    FUZZ_TRY(ok = trainstate_from_ckpt(c, &s, err, sizeof err));
    ckpt_free(c);
    if (!ok) {
        if (fuzz_dies == dies) FUZZ_ONE_LINE(err);
        FUZZ_ASSERT(s.step == -1 && s.data_pos == 99 && s.loss == -7 && s.rng.s[0] == 1 && w[0] == -7 && wv[11] == -7 && b[3] == -7,
                    "a refused checkpoint changed the state");
        return 0;
    }
    FUZZ_ASSERT(s.step >= 0 && (s.rng.s[0] | s.rng.s[1] | s.rng.s[2] | s.rng.s[3]) != 0, "step or rng");
    const char *out = fuzz_out_path();
    FUZZ_ASSERT(trainstate_save(out, &s, NULL, err, sizeof err), "cannot save what was loaded: %s", err);
    float w2[12], wm2[12], wv2[12], b2[4];
    NamedTensor p2[4] = {{"w", tensor_wrap(DT_F32, DEV_CPU, 2, ws, w2)}, {"w.adam_m", tensor_wrap(DT_F32, DEV_CPU, 2, ws, wm2)},
                         {"w.adam_v", tensor_wrap(DT_F32, DEV_CPU, 2, ws, wv2)}, {"b", tensor_wrap(DT_F32, DEV_CPU, 1, bs, b2)}};
    TrainState s2 = {.tensors = p2, .ntensors = 4, .rng = {{1}}, .config = "fuzz run"};
    FUZZ_ASSERT(trainstate_load(out, &s2, err, sizeof err), "cannot load what was saved: %s", err);
    FUZZ_ASSERT(s2.step == s.step && s2.data_pos == s.data_pos && memcmp(&s2.rng, &s.rng, sizeof s.rng) == 0 &&
                    (s2.loss == s.loss || (isnan(s2.loss) && isnan(s.loss))) &&
                    memcmp(w, w2, sizeof w) == 0 && memcmp(wm, wm2, sizeof wm) == 0 && memcmp(wv, wv2, sizeof wv) == 0 &&
                    memcmp(b, b2, sizeof b) == 0,
                "the round trip changed the state");
    unlink(out);
    return 0;
}
