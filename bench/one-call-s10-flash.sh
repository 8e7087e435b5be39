#!/usr/bin/env bash
# (as it ran; CH12_SPEED_VERSIONS has since become a list with commas: the strings of digits below, "356" for versions 3, 5 and 6, would now be written "3,5,6")
# bench/one-call-s10-flash.sh -- one device call (session 10): chapter 12's
# flash attention after the change to "Write dK and dV, adding to what is
# there" (every load of dK and dV first, then every store, four bytes at a
# time, instead of a load and a store of two bytes in turn, which the
# compiler had to keep in order), checked, sanitized and timed, and timed
# against the chunk as it was, in the same call.  Staged as dev/GUIDE.md
# says, with bench/flash_before.cu (common/gpu/flash.cu before the change,
# `git show <before>:common/gpu/flash.cu`) added to the staged tree; then,
# with carry [".gpu/NAME"], timeout_s 600:
#   cd .gpu/NAME && BOOK_GIT=<commit> BOOK_DATE=<utc> bash bench/one-call-s10-flash.sh
# Steps:
#   1. bench/flash-bwd-device.sh (build, test_ch12_gpu, memcheck, racecheck,
#      synccheck, test_gpt_gpu, speed of every version, PyTorch's SDPA back
#      ends, Nsight Compute on version 7's backward kernel, the SASS's atomics)
#      within BUDGET (default 300) seconds;
#   2. the same program built a second time with bench/flash_before.cu, and
#      the two binaries timed in turn, after, before, after, before
#      (CH12_SPEED_VERSIONS=247: the versions whose backward kernels end with
#      the chunk), into $OUT/ab.tar.gz.
# Read $OUT/summary.txt first.
set -u
cd "$(dirname "$0")/.."
export PATH=/usr/local/cuda/bin:$PATH BOOK_ROOT=$PWD NO_PROGRESS=1
: "${OUT:=build/gpu-out}"
mkdir -p "$OUT"
export OUT
STEPS="build test-ch12-gpu memcheck racecheck synccheck test-gpt-gpu speed torch ncu-v7 sass" BUDGET=${BUDGET:-300} NCU_S=60 \
  bash bench/flash-bwd-device.sh > "$OUT/fb.txt" 2>&1
echo "== flash-bwd-device.sh exit $? at ${SECONDS}s"
cat "$OUT/summary.txt"
ab=/tmp/ab && rm -rf $ab && mkdir -p $ab
if [ -f bench/flash_before.cu ] && [ -x build/bin/ch12-memopt ]; then
  cp build/bin/ch12-memopt $ab/memopt-after
  cp common/gpu/flash.cu $ab/flash_after.cu
  cp bench/flash_before.cu common/gpu/flash.cu
  make NOTANGLE=1 -j16 build/bin/ch12-memopt > $ab/build-before.txt 2>&1 && cp build/bin/ch12-memopt $ab/memopt-before
  cp $ab/flash_after.cu common/gpu/flash.cu
  echo "== before built at ${SECONDS}s: $(ls $ab)"
  for round in 1 2; do
    for w in after before; do
      [ -x $ab/memopt-$w ] || continue
      mkdir -p $ab/$w-$round
      BOOK_COMMAND="CH12_SPEED_VERSIONS=247 ch12-memopt speed --device cuda ($w the change; bench/one-call-s10-flash.sh)" \
        CH12_SPEED_VERSIONS=247 timeout 60 $ab/memopt-$w speed --device cuda --out $ab/$w-$round > $ab/$w-$round.txt 2>&1
      echo "== $w round $round exit $? at ${SECONDS}s"
      grep -v '^#' $ab/$w-$round/ch12-speed.tsv 2>/dev/null | awk -F'\t' 'NR==1{for(i=1;i<=NF;i++)h[$i]=i; next} {print "   ", $h["shape"], "v" $h["version"], $h["pass"], $h["ms"], "ms"}'
    done
  done
  rm -f $ab/memopt-* $ab/flash_after.cu
  tar czf "$OUT/ab.tar.gz" -C /tmp ab
fi
echo "== end at ${SECONDS}s"
