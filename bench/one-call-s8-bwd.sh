#!/usr/bin/env bash
# bench/one-call-s8-bwd.sh -- one device call (session 8's branch s8-bwd):
# chapter 12's version 7 (the backward pass on wgmma, never run on a GPU
# before) checked, sanitized and timed, in about 300-400 s.  Staged as
# dev/GUIDE.md says (the tangled sources; the corpus for test_ch12_gpu's
# precision run), then, with carry [".gpu/s8-bwd"], timeout_s 600:
#   cd .gpu/s8-bwd && BOOK_GIT=<commit> BOOK_DATE=<utc> bash bench/one-call-s8-bwd.sh
# Steps (bench/flash-bwd-device.sh, each logged and time-bounded):
#   build            test_ch12_gpu, test_gpt_gpu, ch12-memopt (make NOTANGLE=1 -j16)
#   test-ch12-gpu    every version (7 included) against the CPU reference,
#                    accumulation, packed qkv (version 7's backward there too)
#   memcheck, racecheck, synccheck
#                    compute-sanitizer on the suite's small shapes (CH12_SANITIZE=1;
#                    versions 4, 5 and 7 also at B 2 T 200)
#   speed            ch12-memopt speed: every version, fwd and fwd+bwd, both shapes;
#                    the summary gives each backward (fwd+bwd - fwd), version 7's against 4's
#   torch            PyTorch SDPA's cuDNN, flash, efficient and math back ends, same run
#   ncu-v7           Nsight Compute --set full on the first d64 launch of flash7_backward_kernel
#   sass             the atomics of each kernel in the SASS
# Read $OUT/summary.txt first: the racecheck and synccheck lines say "exit 124"
# with no summary line if they were cut by their limit (not checked, not passed).
# Out: $OUT/summary.txt, $OUT/flash-bwd.tar.gz (logs, ch12-speed.tsv,
# ch12-speed-torch.tsv), $OUT/ncu-v7.ncu-rep, $OUT/fb.txt (the script's own output).
set -u
cd "$(dirname "$0")/.."
export PATH=/usr/local/cuda/bin:$PATH
: "${OUT:=build/gpu-out}"
mkdir -p "$OUT"
export OUT
STEPS="build test-ch12-gpu memcheck racecheck synccheck speed torch ncu-v7 sass" BUDGET=${BUDGET:-300} NCU_S=60 \
  bash bench/flash-bwd-device.sh > "$OUT/fb.txt" 2>&1
echo "== flash-bwd-device.sh exit $? at ${SECONDS}s"
cat "$OUT/summary.txt"
