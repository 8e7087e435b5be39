#!/usr/bin/env bash
# (as it ran; CH12_SPEED_VERSIONS has since become a list with commas: the strings of digits below, "356" for versions 3, 5 and 6, would now be written "3,5,6")
# bench/one-call-s14.sh -- one device call (session 14): what session 13's
# call left unchecked, and where version 9's forward kernel loses time.
# Staged as dev/GUIDE.md says; with carry [".gpu/NAME"]:
#   cd .gpu/NAME && BOOK_GIT=<commit> OUT=$OUT timeout 560 bash bench/one-call-s14.sh > $OUT/call.txt 2>&1
# Steps (STEPS, default all; each writes $OUT/<step>.txt as it goes):
#   build     test_ch12_gpu, test_gpt_gpu, ch12-memopt
#   ncu       Nsight Compute of one launch of version 9's forward kernel at
#             d 128 and d 64, details and source (SASS) pages: which
#             instructions make the excess global sectors and shared
#             wavefronts, and where the warps stall
#   ab        for each staged bench/variant-*.cu (bench/s14_variants.py):
#             ch12-memopt built with it; then the tree's binary and the
#             variants timed in turn, twice (CH12_SPEED_VERSIONS=$AB_VERSIONS,
#             default 3689), into $OUT/ab/ (bench/compare_tsv.py variants)
#   speed     CH12_SPEED_VERSIONS=${SPEED_VERSIONS:-39} ch12-memopt speed, twice
#   sanitize  racecheck and memcheck of versions 8 and 9
#             (CH12_FIRST_VERSION=8), test_gpt_gpu, side by side, each within
#             SAN_S seconds (default 240, less if BUDGET, default 540,
#             would be passed)
set -u
cd "$(dirname "$0")/.."
export PATH=/usr/local/cuda/bin:$PATH BOOK_ROOT=$PWD NO_PROGRESS=1
: "${OUT:=build/gpu-out}"
mkdir -p "$OUT"
steps=" ${STEPS:-build ab ncu sanitize} "
has() { case "$steps" in *" $1 "*) return 0 ;; esac; return 1; }
echo "# bench/one-call-s14.sh BOOK_GIT ${BOOK_GIT:-?} $(date -u +%Y-%m-%dT%H:%MZ)"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader
memopt=build/bin/ch12-memopt t12=build/tests/test_ch12_gpu tgpt=build/tests/test_gpt_gpu
if has build; then
  make NOTANGLE=1 -j16 $t12 $tgpt $memopt > "$OUT/build.txt" 2>&1
  echo "== build exit $? at ${SECONDS}s"
fi
if has ab && ls bench/variant-*.cu > /dev/null 2>&1 && [ -x $memopt ]; then
  ab=$OUT/ab && mkdir -p $ab /tmp/abbin
  cp $memopt /tmp/abbin/memopt-tree && cp common/gpu/flash.cu /tmp/abbin/flash_tree.cu
  names=tree
  for f in bench/variant-*.cu; do
    n=$(basename "$f" .cu); n=${n#variant-}
    cp "$f" common/gpu/flash.cu
    make NOTANGLE=1 -j16 $memopt > $ab/build-$n.txt 2>&1 && cp $memopt /tmp/abbin/memopt-$n && names="$names $n"
    echo "== $n built at ${SECONDS}s"
  done
  cp /tmp/abbin/flash_tree.cu common/gpu/flash.cu && touch common/gpu/flash.cu
  vs=${AB_VERSIONS:-3689}
  for round in 1 2; do
    for w in $names; do
      BOOK_COMMAND="CH12_SPEED_VERSIONS=$vs ch12-memopt speed --device cuda ($w; bench/one-call-s14.sh)" \
        CH12_SPEED_VERSIONS=$vs timeout 60 /tmp/abbin/memopt-$w speed --device cuda --out $ab/$w-$round > $ab/$w-$round.txt 2>&1
      echo "== $w round $round exit $? at ${SECONDS}s"
      grep -v '^#' $ab/$w-$round/ch12-speed.tsv 2> /dev/null | awk -F'\t' 'NR==1{for(i=1;i<=NF;i++)h[$i]=i; next} $h["pass"]=="fwd"{print "   ", $h["shape"], "v" $h["version"], $h["pass"], $h["ms"], "ms", $h["tflops"]}'
    done
  done
  fi
ncu_bin=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2> /dev/null | head -1)
if has ncu && [ -n "$ncu_bin" ]; then
  for spec in "tree 128" "sector 128" "tree 64"; do
    read -r w d <<< "$spec"
    prog=/tmp/abbin/memopt-$w; [ -x $prog ] || { [ $w = tree ] && prog=$memopt || continue; }
    CH12_SPEED_VERSIONS=9 timeout ${NCU_S:-45} "$ncu_bin" --clock-control none --set full --import-source yes \
      --kernel-name-base demangled -k "regex:flash9_forward_kernel<__nv_bfloat16, .int.$d," -c 1 --kill yes -f \
      -o /tmp/ncu9-$w-d$d $prog speed --device cuda --out /tmp/ncu-scratch > "$OUT/ncu9-$w-d$d.log" 2>&1
    echo "== ncu $w d$d exit $? at ${SECONDS}s"
    if [ -f /tmp/ncu9-$w-d$d.ncu-rep ]; then
      "$ncu_bin" --import /tmp/ncu9-$w-d$d.ncu-rep --page details > "$OUT/ncu9-$w-d$d-details.txt" 2>&1
      "$ncu_bin" --import /tmp/ncu9-$w-d$d.ncu-rep --page source --csv --print-source sass > "$OUT/ncu9-$w-d$d-sass.csv" 2>&1
      echo "   source page: exit $? $(wc -l < "$OUT/ncu9-$w-d$d-sass.csv") lines"
      grep -E "L2 Cache Throughput|excessive|Duration" "$OUT/ncu9-$w-d$d-details.txt" | head -5
      [ $w = tree ] && [ $d = 128 ] && cp /tmp/ncu9-$w-d$d.ncu-rep "$OUT/"
    fi
  done
fi
if has speed; then
  for r in 1 2; do
    BOOK_COMMAND="CH12_SPEED_VERSIONS=${SPEED_VERSIONS:-39} ch12-memopt speed --device cuda (bench/one-call-s14.sh, round $r)" \
      CH12_SPEED_VERSIONS=${SPEED_VERSIONS:-39} timeout 60 $memopt speed --device cuda --out "$OUT/speed-$r" > "$OUT/speed-$r.txt" 2>&1
    echo "== speed round $r exit $? at ${SECONDS}s"
    grep -v '^#' "$OUT/speed-$r/ch12-speed.tsv" 2> /dev/null | awk -F'\t' 'NR==1{for(i=1;i<=NF;i++)h[$i]=i; next} {print "   ", $h["shape"], "v" $h["version"], $h["pass"], $h["ms"], "ms", $h["tflops"]}'
  done
fi
if has sanitize; then
  s=${SAN_S:-240}; l=$(( ${BUDGET:-540} - SECONDS - 15 )); [ $l -lt $s ] && s=$l; [ $s -lt 30 ] && s=30
  echo "== sanitizers: $s s each"
  CH12_FIRST_VERSION=8 CH12_SANITIZE=1 timeout $s compute-sanitizer --tool racecheck --error-exitcode 1 $t12 > "$OUT/racecheck.txt" 2>&1 &
  CH12_FIRST_VERSION=8 CH12_SANITIZE=1 timeout $s compute-sanitizer --tool memcheck --error-exitcode 1 $t12 > "$OUT/memcheck.txt" 2>&1 &
  timeout $s $tgpt > "$OUT/test-gpt-gpu.txt" 2>&1 &
  wait
  for f in racecheck memcheck test-gpt-gpu; do
    echo "== $f: $(grep -E 'passed, [0-9]+ failed' "$OUT/$f.txt" | tail -1) $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/$f.txt" | tail -1)"
    grep -E '^FAIL' "$OUT/$f.txt" | head -8
  done
fi
echo "== end at ${SECONDS}s"
