#!/usr/bin/env bash
# (as it ran; CH12_SPEED_VERSIONS has since become a list with commas: the strings of digits below, "356" for versions 3, 5 and 6, would now be written "3,5,6")
# bench/one-call-s12-v8.sh -- one device call (session 12): chapter 12's
# version 8 (version 6's forward kernel with tiles of 128 keys and products
# 128 columns wide) checked, sanitized and timed beside every other version
# and PyTorch's SDPA back ends, then variants of flash.cu timed against the
# tree's in turn, in the same call.  Staged as dev/GUIDE.md says, with the
# variants added to the staged tree as bench/variant-NAME.cu (each a whole
# common/gpu/flash.cu, written by `python3 bench/s12_variants.py` and
# ignored by git; the emulator can check each: FLASH_EMU_VERSIONS=7-8
# tools/flashemu/run.sh bench/variant-NAME.cu); then, with carry
# [".gpu/NAME"], timeout_s 600:
#   cd .gpu/NAME && BOOK_GIT=<commit> BOOK_DATE=<utc> bash bench/one-call-s12-v8.sh
# Steps:
#   1. bench/flash-bwd-device.sh, STEPS (default: build, test_ch12_gpu,
#      memcheck, racecheck, synccheck, test_gpt_gpu, speed, torch) within
#      BUDGET (default 300) seconds;
#   2. for each bench/variant-*.cu: ch12-memopt built with it; then the
#      tree's binary and the variants timed in turn, twice
#      (CH12_SPEED_VERSIONS=$AB_VERSIONS, default 378; 78 suffices, version
#      7's forward pass being version 3's), into $OUT/ab.tar.gz, which
#      `python3 bench/compare_tsv.py variants DIR OUT.tsv NOTE` tabulates.
# Read $OUT/summary.txt first.
set -u
cd "$(dirname "$0")/.."
export PATH=/usr/local/cuda/bin:$PATH BOOK_ROOT=$PWD NO_PROGRESS=1
: "${OUT:=build/gpu-out}"
mkdir -p "$OUT"
export OUT
STEPS=${STEPS:-"build test-ch12-gpu memcheck racecheck synccheck test-gpt-gpu speed torch"} BUDGET=${BUDGET:-300} \
  bash bench/flash-bwd-device.sh > "$OUT/fb.txt" 2>&1
echo "== flash-bwd-device.sh exit $? at ${SECONDS}s"
cat "$OUT/summary.txt"
ab=/tmp/ab && rm -rf $ab && mkdir -p $ab
vs=${AB_VERSIONS:-378}
if ls bench/variant-*.cu > /dev/null 2>&1 && [ -x build/bin/ch12-memopt ]; then
  cp build/bin/ch12-memopt $ab/memopt-tree
  cp common/gpu/flash.cu $ab/flash_tree.cu
  names=tree
  for f in bench/variant-*.cu; do
    n=$(basename "$f" .cu); n=${n#variant-}
    cp "$f" common/gpu/flash.cu
    make NOTANGLE=1 -j16 build/bin/ch12-memopt > $ab/build-$n.txt 2>&1 && cp build/bin/ch12-memopt $ab/memopt-$n && names="$names $n"
    echo "== $n built at ${SECONDS}s"
  done
  cp $ab/flash_tree.cu common/gpu/flash.cu
  touch common/gpu/flash.cu
  for round in 1 2; do
    for w in $names; do
      mkdir -p $ab/$w-$round
      BOOK_COMMAND="CH12_SPEED_VERSIONS=$vs ch12-memopt speed --device cuda ($w; bench/one-call-s12-v8.sh)" \
        CH12_SPEED_VERSIONS=$vs timeout 60 $ab/memopt-$w speed --device cuda --out $ab/$w-$round > $ab/$w-$round.txt 2>&1
      echo "== $w round $round exit $? at ${SECONDS}s"
      grep -v '^#' $ab/$w-$round/ch12-speed.tsv 2>/dev/null | awk -F'\t' 'NR==1{for(i=1;i<=NF;i++)h[$i]=i; next} {print "   ", $h["shape"], "v" $h["version"], $h["pass"], $h["ms"], "ms", $h["tflops"]}'
    done
  done
  rm -f $ab/memopt-* $ab/flash_tree.cu
  tar czf "$OUT/ab.tar.gz" -C /tmp ab
fi
echo "== end at ${SECONDS}s"
