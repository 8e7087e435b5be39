#!/usr/bin/env bash
# bench/ch12-call.sh -- one device call for chapter 12's kernels, in one staged tree
# (dev/GUIDE.md: stage, carry [".gpu/NAME"]), each part chosen by the environment:
#   cd .gpu/NAME && BOOK_GIT=<commit> OUT=$OUT timeout 580 bash bench/ch12-call.sh > $OUT/call.txt 2>&1
# Logs go to a scratch folder that ends as $OUT/logs.tgz; what the prose
# needs is printed to call.txt.  Parts, in this order (defaults in brackets):
#   SKIP_BUILD [""]      non-empty: use the carried binaries (built elsewhere without -march=native)
#   TEST_S [90]          test_ch12_gpu's time limit; 0 skips the suite (it and the sanitizers print each case as
#                        it passes, line-buffered, so a run cut by the limit still counts what it did)
#   SUITE_FIRST [1]      the suite's first version (CH12_FIRST_VERSION; above 1, no experiments or mixed precision)
#   SANITIZE_FIRST [14]  racecheck and memcheck of versions >= it on small shapes, beside the suite; empty: none
#   SPEED_VERSIONS [3,7,12,14]  versions timed in one sweep before PyTorch's back ends and one after; empty: none
#   NO_TORCH [""]        non-empty: the first sweep alone
#   AB [""]              versions timed alone, each in its own process, in this order ("14 15 15 14 ...")
#   NCU [""]             lines VERSION:REGEX, each a kernel ncu profiles (details and source pages)
# (bench/one-call-s15.sh and -s17.sh, and ab-s17.sh, are earlier calls as they ran.)
set -u
cd "$(dirname "$0")/.."
export PATH=/usr/local/cuda/bin:$PATH BOOK_ROOT=$PWD NO_PROGRESS=1 PYTHONUNBUFFERED=1
: "${OUT:=build/gpu-out}"
L=/tmp/ch12-logs; rm -rf $L; mkdir -p "$L" "$OUT"
finish() { tar -C /tmp -czf "$OUT/logs.tgz" ch12-logs; echo "== end at ${SECONDS}s"; }
trap finish EXIT
trap 'exit 143' TERM
echo "# bench/ch12-call.sh BOOK_GIT ${BOOK_GIT:-?} $(date -u +%Y-%m-%dT%H:%MZ)"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader
memopt=build/bin/ch12-memopt t12=build/tests/test_ch12_gpu
if [ -n "${SKIP_BUILD:-}" ]; then   # binaries built elsewhere and carried (without -march=native)
  echo "== build skipped: $(ls -l $t12 $memopt | awk '{print $5, $9}' | tr '\n' ' ')"
else
  make NOTANGLE=1 -j16 $t12 $memopt > "$L/build.txt" 2>&1
  echo "== build exit $? at ${SECONDS}s"; tail -3 "$L/build.txt"
fi

if [ "${TEST_S:-90}" != 0 ]; then
  CHECK_VERBOSE=1 CH12_FIRST_VERSION=${SUITE_FIRST:-1} timeout ${TEST_S:-90} stdbuf -oL $t12 > "$L/test-ch12-gpu.txt" 2>&1 &
  sf=${SANITIZE_FIRST-14}
  if [ -n "$sf" ]; then
    for tool in racecheck memcheck; do
      CHECK_VERBOSE=1 CH12_FIRST_VERSION=$sf CH12_SANITIZE=1 timeout ${TEST_S:-90} stdbuf -oL compute-sanitizer --tool $tool --error-exitcode 1 \
        $t12 > "$L/$tool.txt" 2>&1 &
    done
  fi
  wait
  for f in test-ch12-gpu racecheck memcheck; do
    [ -f "$L/$f.txt" ] || continue
    echo "== $f: $(grep -E 'passed, [0-9]+ failed' "$L/$f.txt" | tail -1) $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$L/$f.txt" | tail -1)"
    grep -q 'passed, [0-9]* failed' "$L/$f.txt" || echo "   (cut by TEST_S: $(grep -c '^ok ' "$L/$f.txt") cases ok so far)"
    grep -E '^FAIL' "$L/$f.txt" | head -8
  done
  echo "== tests done at ${SECONDS}s"
fi

rows() {   # rows TSV: the timing rows, one a line
  grep -v '^#' "$1" 2> /dev/null | awk -F'\t' 'NR==1{for(i=1;i<=NF;i++)h[$i]=i; next}
    {print "   ", $h["shape"], "v" $h["version"], $h["pass"], $h["ms"], "ms", $h["tflops"]}'
}
speed() {   # speed VERSIONS DIR LABEL
  mkdir -p "$2"
  BOOK_COMMAND="CH12_SPEED_VERSIONS=$1 ch12-memopt speed --device cuda --out figures/data (bench/ch12-call.sh, $3)" \
    CH12_SPEED_VERSIONS=$1 timeout 100 $memopt speed --device cuda --out "$2" > "$2.txt" 2>&1
  echo "== speed $3 exit $? at ${SECONDS}s"; rows "$2/ch12-speed.tsv"
}
vs=${SPEED_VERSIONS-3,7,12,14}
if [ -n "$vs" ]; then
  speed "$vs" "$L/data-a" "sweep, first"
  if [ -z "${NO_TORCH:-}" ]; then
    timeout 80 python3 build/12-memopt/ch12-torch.py "$L/data-a" > "$L/torch.txt" 2>&1
    echo "== torch exit $? at ${SECONDS}s"; tail -12 "$L/torch.txt"
    speed "$vs" "$L/data-b" "sweep, again"
  fi
fi

i=0
for v in ${AB:-}; do
  i=$((i + 1)); speed "$v," "$L/ab/run$i-v$v" "alone, run $i"
done

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
    grep -E "^ +(Duration|L2 Cache Throughput|DRAM Throughput|Compute .SM. Throughput|Memory Throughput|Issue Slots Busy|Eligible Warps|Registers Per|L2 Hit|Local Memory Spilling Requests |Achieved Occupancy|No Eligible)" "$L/ncu-$i-details.txt" | head -14
  else tail -5 "$L/ncu-$i.log"; fi
done <<< "${NCU:-}"
