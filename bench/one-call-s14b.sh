#!/usr/bin/env bash
# bench/one-call-s14b.sh -- session 14's second device call: version 10
# (version 9 with its loads made by TMA) checked and timed.  Staged as
# dev/GUIDE.md says; with carry [".gpu/NAME"]:
#   cd .gpu/NAME && BOOK_GIT=<commit> BOOK_DATE=<utc> OUT=$OUT timeout 500 bash bench/one-call-s14b.sh > $OUT/call.txt 2>&1
# Steps, each writing $OUT/<step>.txt as it goes:
#   build       test_ch12_gpu, ch12-memopt
#   test        test_ch12_gpu (every version), beside racecheck and memcheck
#               of version 10 (CH12_FIRST_VERSION=10, small shapes)
#   speed       CH12_SPEED_VERSIONS=3,7,8,9,10 ch12-memopt speed, then
#               PyTorch's back ends (build/12-memopt/ch12-torch.py), into $OUT/data
#   ncu         Nsight Compute of one launch of versions 9 and 10's forward
#               kernels at d 128: details and source (SASS) pages
set -u
cd "$(dirname "$0")/.."
export PATH=/usr/local/cuda/bin:$PATH BOOK_ROOT=$PWD NO_PROGRESS=1 PYTHONUNBUFFERED=1
: "${OUT:=build/gpu-out}"
mkdir -p "$OUT/data"
echo "# bench/one-call-s14b.sh BOOK_GIT ${BOOK_GIT:-?} $(date -u +%Y-%m-%dT%H:%MZ)"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader
memopt=build/bin/ch12-memopt t12=build/tests/test_ch12_gpu
make NOTANGLE=1 -j16 $t12 $memopt > "$OUT/build.txt" 2>&1
echo "== build exit $? at ${SECONDS}s"; tail -3 "$OUT/build.txt"
timeout ${TEST_S:-150} $t12 > "$OUT/test-ch12-gpu.txt" 2>&1 &
CH12_FIRST_VERSION=10 CH12_SANITIZE=1 timeout ${TEST_S:-150} compute-sanitizer --tool racecheck --error-exitcode 1 $t12 > "$OUT/racecheck.txt" 2>&1 &
CH12_FIRST_VERSION=10 CH12_SANITIZE=1 timeout ${TEST_S:-150} compute-sanitizer --tool memcheck --error-exitcode 1 $t12 > "$OUT/memcheck.txt" 2>&1 &
wait
for f in test-ch12-gpu racecheck memcheck; do
  echo "== $f: $(grep -E 'passed, [0-9]+ failed' "$OUT/$f.txt" | tail -1) $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/$f.txt" | tail -1)"
  grep -E '^FAIL' "$OUT/$f.txt" | head -8
done
echo "== tests done at ${SECONDS}s"
vs=${SPEED_VERSIONS:-3,7,8,9,10}
BOOK_COMMAND="CH12_SPEED_VERSIONS=$vs ch12-memopt speed --device cuda --out figures/data (bench/one-call-s14b.sh)" \
  CH12_SPEED_VERSIONS=$vs timeout 90 $memopt speed --device cuda --out "$OUT/data" > "$OUT/speed.txt" 2>&1
echo "== speed exit $? at ${SECONDS}s"
grep -v '^#' "$OUT/data/ch12-speed.tsv" 2> /dev/null | awk -F'\t' 'NR==1{for(i=1;i<=NF;i++)h[$i]=i; next} {print "   ", $h["shape"], "v" $h["version"], $h["pass"], $h["ms"], "ms", $h["tflops"]}'
timeout 70 python3 build/12-memopt/ch12-torch.py "$OUT/data" > "$OUT/torch.txt" 2>&1
echo "== torch exit $? at ${SECONDS}s"; tail -12 "$OUT/torch.txt"
ncu_bin=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2> /dev/null | head -1)
for v in ${NCU_VERSIONS:-10 9}; do
  [ -n "$ncu_bin" ] || break
  CH12_SPEED_VERSIONS=$v, timeout ${NCU_S:-45} "$ncu_bin" --clock-control none --set full --import-source yes \
    --kernel-name-base demangled -k "regex:flash9_forward_kernel<__nv_bfloat16, .int.128," -c 1 --kill yes -f \
    -o /tmp/ncu-v$v $memopt speed --device cuda --out /tmp/ncu-scratch > "$OUT/ncu-v$v.log" 2>&1
  echo "== ncu v$v exit $? at ${SECONDS}s"
  if [ -f /tmp/ncu-v$v.ncu-rep ]; then
    "$ncu_bin" --import /tmp/ncu-v$v.ncu-rep --page details > "$OUT/ncu-v$v-details.txt" 2>&1
    "$ncu_bin" --import /tmp/ncu-v$v.ncu-rep --page source --csv --print-source sass > "$OUT/ncu-v$v-sass.csv" 2>&1
    grep -E "Duration|L2 Cache Throughput|Compute .SM. Throughput|Eligible Warps" "$OUT/ncu-v$v-details.txt" | head -5
  fi
done
echo "== end at ${SECONDS}s"
