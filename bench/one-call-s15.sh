#!/usr/bin/env bash
# bench/one-call-s15.sh -- one device call: build, check, time and profile
# chapter 12's forward kernels.  Staged as dev/GUIDE.md says; with carry
# [".gpu/NAME"]:
#   cd .gpu/NAME && BOOK_GIT=<commit> OUT=$OUT timeout 560 bash bench/one-call-s15.sh > $OUT/call.txt 2>&1
# Every log goes to a scratch folder that ends as $OUT/logs.tgz (the tool
# returns only a few files); what the prose needs is printed to call.txt.
# Environment (defaults in brackets):
#   TEST_S [150]           test_ch12_gpu's time limit; 0 skips the suite
#   SANITIZE_FIRST []      when set, racecheck and memcheck of versions >= it (small shapes)
#   SPEED_VERSIONS [3,7,9,10]  versions timed beside PyTorch's back ends
#   NCU_VERSIONS [10]      versions whose d 128 bf16 forward kernel ncu profiles (details page)
#   NCU_KERNEL [flash9_forward_kernel<__nv_bfloat16, .int.128,]  the kernel regex
set -u
cd "$(dirname "$0")/.."
export PATH=/usr/local/cuda/bin:$PATH BOOK_ROOT=$PWD NO_PROGRESS=1 PYTHONUNBUFFERED=1
: "${OUT:=build/gpu-out}"
L=/tmp/s15-logs; rm -rf $L; mkdir -p "$L/data" "$OUT"
finish() { tar -C /tmp -czf "$OUT/logs.tgz" s15-logs; echo "== end at ${SECONDS}s"; }
trap finish EXIT
echo "# bench/one-call-s15.sh BOOK_GIT ${BOOK_GIT:-?} $(date -u +%Y-%m-%dT%H:%MZ)"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader
memopt=build/bin/ch12-memopt t12=build/tests/test_ch12_gpu
make NOTANGLE=1 -j16 $t12 $memopt > "$L/build.txt" 2>&1
echo "== build exit $? at ${SECONDS}s"; tail -3 "$L/build.txt"
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
vs=${SPEED_VERSIONS:-3,7,9,10}
BOOK_COMMAND="CH12_SPEED_VERSIONS=$vs ch12-memopt speed --device cuda --out figures/data (bench/one-call-s15.sh)" \
  CH12_SPEED_VERSIONS=$vs timeout 100 $memopt speed --device cuda --out "$L/data" > "$L/speed.txt" 2>&1
echo "== speed exit $? at ${SECONDS}s"
grep -v '^#' "$L/data/ch12-speed.tsv" 2> /dev/null | awk -F'\t' 'NR==1{for(i=1;i<=NF;i++)h[$i]=i; next} {print "   ", $h["shape"], "v" $h["version"], $h["pass"], $h["ms"], "ms", $h["tflops"]}'
timeout 80 python3 build/12-memopt/ch12-torch.py "$L/data" > "$L/torch.txt" 2>&1
echo "== torch exit $? at ${SECONDS}s"; tail -12 "$L/torch.txt"
ncu_bin=/usr/local/cuda/bin/ncu
for v in ${NCU_VERSIONS:-10}; do
  CH12_SPEED_VERSIONS=$v, timeout ${NCU_S:-45} "$ncu_bin" --clock-control none --set full --import-source yes \
    --kernel-name-base demangled -k "regex:${NCU_KERNEL:-flash9_forward_kernel<__nv_bfloat16, .int.128,}" -c 1 --kill yes -f \
    -o /tmp/ncu-v$v $memopt speed --device cuda --out /tmp/ncu-scratch > "$L/ncu-v$v.log" 2>&1
  echo "== ncu v$v exit $? at ${SECONDS}s"
  if [ -f /tmp/ncu-v$v.ncu-rep ]; then
    "$ncu_bin" --import /tmp/ncu-v$v.ncu-rep --page details > "$L/ncu-v$v-details.txt" 2>&1
    "$ncu_bin" --import /tmp/ncu-v$v.ncu-rep --page source --csv --print-source sass 2>&1 | gzip > "$L/ncu-v$v-sass.csv.gz"
    grep -E "^ +(Duration|L2 Cache Throughput|DRAM Throughput|Compute .SM. Throughput|Issue Slots Busy|Eligible Warps|No Eligible|Registers Per|L1/TEX Hit|L2 Hit)" "$L/ncu-v$v-details.txt" | head -12
  else tail -5 "$L/ncu-v$v.log"; fi
done
