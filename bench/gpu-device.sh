#!/usr/bin/env bash
# bench/gpu-device.sh STAGE -- what one call on a lent GPU machine runs (it
# has nvcc but no noweb; nothing here needs tangling).  Logs and data go to
# $OUT (or build/gpu-out).  Stages: test (build, make test-gpu's first step,
# a quick bench), sanitize (memcheck and racecheck), bench (bench-gpu, bf16
# and f32, and PyTorch), all.
set -u -o pipefail
cd "$(dirname "$0")/.."
out=${OUT:-build/gpu-out}
mkdir -p "$out"
export PATH=/usr/local/cuda/bin:$PATH
stage=${1:-all}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
make -j16 build/tests/test_gpu build/bin/bench-gpu > "$out/build.log" 2>&1 || { tail -30 "$out/build.log"; exit 1; }
rc=0
if [ "$stage" = test ] || [ "$stage" = all ]; then
  build/tests/test_gpu > "$out/test-gpu.log" 2>&1 || rc=1
  grep -E '^FAIL|passed' "$out/test-gpu.log" | head -60
  build/bin/bench-gpu --quick > "$out/bench-quick.log" 2>&1 || { rc=1; tail -5 "$out/bench-quick.log"; }
fi
if [ "$stage" = sanitize ] || [ "$stage" = all ]; then
  for tool in memcheck racecheck; do
    extra=; [ $tool = memcheck ] && extra="--leak-check full"
    t0=$(date +%s)
    compute-sanitizer --tool $tool $extra --error-exitcode 1 build/tests/test_gpu > "$out/sanitize-$tool.log" 2>&1
    r=$?; [ $r -ne 0 ] && rc=1
    echo "compute-sanitizer $tool: exit $r, $(( $(date +%s) - t0 )) s; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$out/sanitize-$tool.log" | tail -1); $(tail -1 "$out/sanitize-$tool.log")"
  done
fi
if [ "$stage" = bench ] || [ "$stage" = all ]; then
  mkdir -p "$out/data"
  build/bin/bench-gpu --dtype bf16 --out "$out/data" 2>&1 | tee "$out/bench-bf16.log" || rc=1
  build/bin/bench-gpu --dtype f32 --out "$out/data" > "$out/bench-f32.log" 2>&1 || rc=1
  tail -26 "$out/bench-f32.log"
  python3 bench/gpu_torch.py --dtype bf16 --out "$out/data" 2>&1 | tee "$out/bench-torch.log" || rc=1
fi
# one log file back instead of many (the device tool returns at most 8 files)
for f in "$out"/*.log; do [ -f "$f" ] && { echo "==== $(basename "$f")"; cat "$f"; rm -f "$f"; }; done >> "$out/logs-$stage.txt"
[ -d "$out/data" ] && mv "$out"/data/*.tsv "$out"/ 2>/dev/null && rmdir "$out/data"
exit $rc
