#!/usr/bin/env bash
# bench/one-call-s17.sh -- one device call: build, check, time twice and
# profile chapter 12's newest kernels in one tree (version 14 beside 12
# and 13, whose kernels it changes).  Staged as dev/GUIDE.md says; with
# carry [".gpu/NAME"]:
#   cd .gpu/NAME && BOOK_GIT=<commit> OUT=$OUT timeout 330 bash bench/one-call-s17.sh > $OUT/call.txt 2>&1
# Every log goes to a scratch folder that ends as $OUT/logs.tgz; what the
# prose needs is printed to call.txt.  Environment (defaults in brackets):
#   TEST_S [90]             test_ch12_gpu's time limit; 0 skips the suite
#   SANITIZE_FIRST [14]     racecheck and memcheck of versions >= it (small shapes); empty: none
#   SPEED_VERSIONS [3,7,12,13,14]  versions timed, before and after PyTorch's back ends
#   NCU [version 14's bf16 backward at d 128, forward at d 64, backward at d 64]  lines of VERSION:REGEX:
#                           each a kernel ncu profiles (details page), run as that version
set -u
cd "$(dirname "$0")/.."
export PATH=/usr/local/cuda/bin:$PATH BOOK_ROOT=$PWD NO_PROGRESS=1 PYTHONUNBUFFERED=1
: "${OUT:=build/gpu-out}"
L=/tmp/s17-logs; rm -rf $L; mkdir -p "$L/data-a" "$L/data-b" "$OUT"
finish() { tar -C /tmp -czf "$OUT/logs.tgz" s17-logs; echo "== end at ${SECONDS}s"; }
trap finish EXIT
trap 'exit 143' TERM
echo "# bench/one-call-s17.sh BOOK_GIT ${BOOK_GIT:-?} $(date -u +%Y-%m-%dT%H:%MZ)"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader
memopt=build/bin/ch12-memopt t12=build/tests/test_ch12_gpu
make NOTANGLE=1 -j16 $t12 $memopt > "$L/build.txt" 2>&1
echo "== build exit $? at ${SECONDS}s"; tail -3 "$L/build.txt"
if [ "${TEST_S:-90}" != 0 ]; then
  timeout ${TEST_S:-90} $t12 > "$L/test-ch12-gpu.txt" 2>&1 &
  sf=${SANITIZE_FIRST-14}
  if [ -n "$sf" ]; then
    CH12_FIRST_VERSION=$sf CH12_SANITIZE=1 timeout ${TEST_S:-90} compute-sanitizer --tool racecheck --error-exitcode 1 $t12 > "$L/racecheck.txt" 2>&1 &
    CH12_FIRST_VERSION=$sf CH12_SANITIZE=1 timeout ${TEST_S:-90} compute-sanitizer --tool memcheck --error-exitcode 1 $t12 > "$L/memcheck.txt" 2>&1 &
  fi
  wait
  for f in test-ch12-gpu racecheck memcheck; do
    [ -f "$L/$f.txt" ] || continue
    echo "== $f: $(grep -E 'passed, [0-9]+ failed' "$L/$f.txt" | tail -1) $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$L/$f.txt" | tail -1)"
    grep -E '^FAIL' "$L/$f.txt" | head -8
  done
  echo "== tests done at ${SECONDS}s"
fi
vs=${SPEED_VERSIONS:-3,7,12,13,14}
speed() {   # speed DIR LABEL
  BOOK_COMMAND="CH12_SPEED_VERSIONS=$vs ch12-memopt speed --device cuda --out figures/data (bench/one-call-s17.sh, $2)" \
    CH12_SPEED_VERSIONS=$vs timeout 100 $memopt speed --device cuda --out "$1" > "$1.txt" 2>&1
  echo "== speed $2 exit $? at ${SECONDS}s"
  grep -v '^#' "$1/ch12-speed.tsv" 2> /dev/null | awk -F'\t' 'NR==1{for(i=1;i<=NF;i++)h[$i]=i; next} {print "   ", $h["shape"], "v" $h["version"], $h["pass"], $h["ms"], "ms", $h["tflops"]}'
}
speed "$L/data-a" first
timeout 80 python3 build/12-memopt/ch12-torch.py "$L/data-a" > "$L/torch.txt" 2>&1
echo "== torch exit $? at ${SECONDS}s"; tail -12 "$L/torch.txt"
speed "$L/data-b" again
ncu_bin=/usr/local/cuda/bin/ncu
i=0
while IFS= read -r job; do
  [ -n "$job" ] || continue
  i=$((i + 1)); v=${job%%:*} re=${job#*:}
  CH12_SPEED_VERSIONS=$v, timeout ${NCU_S:-45} "$ncu_bin" --clock-control none --set full --import-source yes \
    --kernel-name-base demangled -k "regex:$re" -c 1 --kill yes -f \
    -o /tmp/ncu-$i $memopt speed --device cuda --out /tmp/ncu-scratch-$i > "$L/ncu-$i.log" 2>&1
  echo "== ncu $i (version $v, $re) exit $? at ${SECONDS}s"
  if [ -f /tmp/ncu-$i.ncu-rep ]; then
    "$ncu_bin" --import /tmp/ncu-$i.ncu-rep --page details > "$L/ncu-$i-details.txt" 2>&1
    "$ncu_bin" --import /tmp/ncu-$i.ncu-rep --page source --csv --print-source sass 2>&1 | gzip > "$L/ncu-$i-sass.csv.gz"
    grep -E "^ +(Duration|L2 Cache Throughput|DRAM Throughput|Compute .SM. Throughput|Memory Throughput|Issue Slots Busy|Eligible Warps|Registers Per|L2 Hit|Local Memory Spilling Requests )" "$L/ncu-$i-details.txt" | head -12
  else tail -5 "$L/ncu-$i.log"; fi
done <<< "${NCU-14:flash7_backward_kernel<__nv_bfloat16, .int.128, .int.2, .bool.1, .bool.1>
14:flash9_forward_kernel<__nv_bfloat16, .int.64, .int.2, .int.128, .int.64, .int.14>
14:flash7_backward_kernel<__nv_bfloat16, .int.64, .int.2, .bool.1, .bool.1>}"
