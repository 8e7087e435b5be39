#!/usr/bin/env bash
# bench/one-call-s16.sh -- one device call: chapter 12's tree beside an older
# tree (OLD, staged the same way), built, checked and timed in turns, so that
# a change to a kernel is measured against the kernel before it on the same
# machine in the same call.  Staged as dev/GUIDE.md says, both trees carried:
#   cd .gpu/NEW && OLD=../OLD BOOK_GIT=<commit> OLD_GIT=<commit> OUT=$OUT timeout 570 bash bench/one-call-s16.sh > $OUT/call.txt 2>&1
# Environment (defaults in brackets):
#   TEST_S [150]            test_ch12_gpu's time limit (this tree); 0 skips it
#   SANITIZE_FIRST []       racecheck and memcheck of versions >= it (small shapes)
#   SPEED_VERSIONS [3,7,11,12,13]  versions this tree times (twice: before and after OLD's)
#   OLD_VERSIONS [12,13]    versions OLD times
#   NCU_VERSION [13]        the version whose kernel ncu profiles in both trees
#   NCU_KERNEL [flash7_backward_kernel<__nv_bfloat16, .int.128,]  the kernel regex
# Logs go to a scratch folder that ends as $OUT/logs.tgz.
set -u
cd "$(dirname "$0")/.."
export PATH=/usr/local/cuda/bin:$PATH NO_PROGRESS=1 PYTHONUNBUFFERED=1
: "${OUT:=build/gpu-out}" "${OLD:?OLD: the folder of the older tree}"
NEW=$PWD; OLD=$(cd "$OLD" && pwd)
L=/tmp/s16-logs; rm -rf $L; mkdir -p "$L/data-a" "$L/data-old" "$L/data-b" "$OUT"
finish() { tar -C /tmp -czf "$OUT/logs.tgz" s16-logs; echo "== end at ${SECONDS}s"; }
trap finish EXIT
trap 'exit 143' TERM
echo "# bench/one-call-s16.sh BOOK_GIT ${BOOK_GIT:-?} OLD_GIT ${OLD_GIT:-?} $(date -u +%Y-%m-%dT%H:%MZ)"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader
memopt=build/bin/ch12-memopt t12=build/tests/test_ch12_gpu
(cd "$NEW" && BOOK_ROOT=$NEW make NOTANGLE=1 -j8 $t12 $memopt > "$L/build.txt" 2>&1; echo "== build exit $?") &
(cd "$OLD" && BOOK_ROOT=$OLD make NOTANGLE=1 -j8 $memopt > "$L/build-old.txt" 2>&1; echo "== old build exit $?") &
wait; echo "== builds done at ${SECONDS}s"; tail -2 "$L/build.txt"
export BOOK_ROOT=$NEW
if [ "${TEST_S:-150}" != 0 ]; then
  timeout ${TEST_S:-150} $t12 > "$L/test-ch12-gpu.txt" 2>&1 &
  if [ -n "${SANITIZE_FIRST:-}" ]; then
    CH12_FIRST_VERSION=$SANITIZE_FIRST CH12_SANITIZE=1 timeout ${TEST_S:-150} compute-sanitizer --tool racecheck --error-exitcode 1 $t12 > "$L/racecheck.txt" 2>&1 &
    CH12_FIRST_VERSION=$SANITIZE_FIRST CH12_SANITIZE=1 timeout ${TEST_S:-150} compute-sanitizer --tool memcheck --error-exitcode 1 $t12 > "$L/memcheck.txt" 2>&1 &
  fi
  wait
  for f in test-ch12-gpu racecheck memcheck; do
    [ -f "$L/$f.txt" ] || continue
    echo "== $f: $(grep -E 'passed, [0-9]+ failed' "$L/$f.txt" | tail -1) $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$L/$f.txt" | tail -1)"
    grep -E '^FAIL' "$L/$f.txt" | head -8
  done
  echo "== tests done at ${SECONDS}s"
fi
show() { grep -v '^#' "$1/ch12-speed.tsv" 2> /dev/null | awk -F'\t' 'NR==1{for(i=1;i<=NF;i++)h[$i]=i; next} {print "   ", $h["shape"], "v" $h["version"], $h["pass"], $h["ms"], "ms", $h["tflops"]}'; }
speed() {   # speed TREE VERSIONS DIR LABEL
  (cd "$1" && BOOK_ROOT=$1 BOOK_COMMAND="CH12_SPEED_VERSIONS=$2 ch12-memopt speed --device cuda --out figures/data (bench/one-call-s16.sh, $4)" \
    CH12_SPEED_VERSIONS=$2 timeout 100 $memopt speed --device cuda --out "$3" > "$3.txt" 2>&1)
  echo "== speed $4 exit $? at ${SECONDS}s"; show "$3"
}
vs=${SPEED_VERSIONS:-3,7,11,12,13}
speed "$NEW" "$vs" "$L/data-a" "this tree, first"
speed "$OLD" "${OLD_VERSIONS:-12,13}" "$L/data-old" "the old tree"
timeout 80 python3 build/12-memopt/ch12-torch.py "$L/data-a" > "$L/torch.txt" 2>&1
echo "== torch exit $? at ${SECONDS}s"; tail -12 "$L/torch.txt"
speed "$NEW" "$vs" "$L/data-b" "this tree, again"
ncu_bin=/usr/local/cuda/bin/ncu v=${NCU_VERSION:-13}
for t in new old; do
  dir=$NEW; [ $t = old ] && dir=$OLD
  (cd "$dir" && BOOK_ROOT=$dir CH12_SPEED_VERSIONS=$v, timeout ${NCU_S:-45} "$ncu_bin" --clock-control none --set full --import-source yes \
    --kernel-name-base demangled -k "regex:${NCU_KERNEL:-flash7_backward_kernel<__nv_bfloat16, .int.128,}" -c 1 --kill yes -f \
    -o /tmp/ncu-$t $memopt speed --device cuda --out /tmp/ncu-scratch-$t > "$L/ncu-$t.log" 2>&1)
  echo "== ncu $t exit $? at ${SECONDS}s"
  if [ -f /tmp/ncu-$t.ncu-rep ]; then
    "$ncu_bin" --import /tmp/ncu-$t.ncu-rep --page details > "$L/ncu-$t-details.txt" 2>&1
    "$ncu_bin" --import /tmp/ncu-$t.ncu-rep --page source --csv --print-source sass 2>&1 | gzip > "$L/ncu-$t-sass.csv.gz"
    grep -E "^ +(Duration|L2 Cache Throughput|DRAM Throughput|Compute .SM. Throughput|Memory Throughput|Issue Slots Busy|Registers Per|L1/TEX Hit|L2 Hit|Local Memory Spilling Requests )" "$L/ncu-$t-details.txt" | head -12
  else tail -5 "$L/ncu-$t.log"; fi
done
