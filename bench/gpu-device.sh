#!/usr/bin/env bash
# bench/gpu-device.sh [all|test|bench] -- what one call on a lent GPU machine
# runs.  That machine has nvcc and PyTorch but no noweb: the chapters'
# tangled sources travel in build/NN-*/, and everything is built by
# `make NOTANGLE=1` (the Makefile's own flags, none repeated here).
#
#   test   build; tests/test_gpu.c and tests/test_gpt_gpu.c; test_gpu under compute-sanitizer's
#          memcheck and racecheck (in parallel); bench/gpu-chapters.sh
#   bench  bench-gpu bf16 (with --variants: each change beside what it
#          replaced) and f32, then PyTorch the same jobs (eager, CUDA graph,
#          torch.compile) with our times beside its own
#   all    both, overlapped where the GPU allows: PyTorch compiles and
#          captures while the sanitizers run, and everything is timed
#          afterwards, one program at a time on an otherwise idle GPU
#
# Logs and data go to $OUT (or build/gpu-out): data files *.tsv, and one
# log file per stage (the device tool returns at most 8 files).
# Provenance: BOOK_GIT and BOOK_DATE (the commit and date of the book's
# checkout, which the device machine's copy does not carry) are written
# into the data files' git and date lines.
set -u -o pipefail
cd "$(dirname "$0")/.."
out=${OUT:-build/gpu-out}
mkdir -p "$out/data"
export PATH=/usr/local/cuda/bin:$PATH NO_PROGRESS=1 PYTHONUNBUFFERED=1
stage=${1:-all}
log() { echo "[+${SECONDS}s] $*"; }
rc=0
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,clocks.mem --format=csv,noheader
log "build (make NOTANGLE=1)"
suites=$(ls tests/test_ch*_gpu.c 2>/dev/null | sed 's|tests/\(.*\)\.c|build/tests/\1|')
make NOTANGLE=1 -j"$(nproc)" build/tests/test_gpu build/tests/test_gpt_gpu build/bin/bench-gpu $suites programs > "$out/build.log" 2>&1 \
  || { tail -30 "$out/build.log"; exit 1; }

sanitize() {  # tool: the suite under compute-sanitizer, at most SANITIZE_S (240) seconds
  local extra=; [ "$1" = memcheck ] && extra="--leak-check full"
  # test_gpu's deliberate out-of-memory check is left to the plain run: memcheck
  # would report its failed cudaMalloc as an API error.
  GPU_TEST_NO_OOM=1 timeout "${SANITIZE_S:-240}" compute-sanitizer --tool "$1" $extra --error-exitcode 1 build/tests/test_gpu > "$out/sanitize-$1.log" 2>&1
  echo $? > "$out/sanitize-$1.rc"
}

if [ "$stage" = test ] || [ "$stage" = all ]; then
  log "test_gpu"
  build/tests/test_gpu > "$out/test-gpu.log" 2>&1 || rc=1
  grep -E '^FAIL|^  gelu|passed' "$out/test-gpu.log" | head -40
  log "test_gpt_gpu"
  build/tests/test_gpt_gpu > "$out/test-gpt-gpu.log" 2>&1 || rc=1
  grep -E '^FAIL|passed' "$out/test-gpt-gpu.log" | head -20
fi
if [ "$stage" = all ] || [ "$stage" = bench ]; then
  rm -f "$out/go"
  BOOK_COMMAND="python3 bench/gpu_torch.py --dtype bf16 --out figures/data --ours figures/data/bench-gpu-bf16.tsv" \
    python3 bench/gpu_torch.py --dtype bf16 --out "$out/data" --ours "$out/data/bench-gpu-bf16.tsv" \
    --wait-for "$out/go" > "$out/bench-torch.log" 2>&1 &
  torch_pid=$!
fi
if [ "$stage" = test ] || [ "$stage" = all ]; then
  log "compute-sanitizer memcheck and racecheck (PyTorch compiles meanwhile)"
  sanitize memcheck & m_pid=$!
  sanitize racecheck & r_pid=$!
  wait "$m_pid" "$r_pid"
  for tool in memcheck racecheck; do
    r=$(cat "$out/sanitize-$tool.rc" 2>/dev/null || echo missing); [ "$r" = 0 ] || rc=1
    echo "compute-sanitizer $tool: exit $r; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$out/sanitize-$tool.log" | tail -1); $(grep -E 'passed' "$out/sanitize-$tool.log" | tail -1)"
  done
fi
if [ "$stage" = all ] || [ "$stage" = bench ]; then
  log "bench-gpu bf16 (and the variants), f32"
  BOOK_COMMAND="build/bin/bench-gpu --dtype bf16 --variants --out figures/data (bench/gpu-device.sh, make bench-gpu)" \
    build/bin/bench-gpu --dtype bf16 --variants --out "$out/data" > "$out/bench-bf16.log" 2>&1 || rc=1
  cat "$out/bench-bf16.log"
  BOOK_COMMAND="build/bin/bench-gpu --dtype f32 --out figures/data (bench/gpu-device.sh, make bench-gpu)" \
    build/bin/bench-gpu --dtype f32 --out "$out/data" > "$out/bench-f32.log" 2>&1 || rc=1
  log "PyTorch"
  touch "$out/go"
  wait "$torch_pid" || rc=1
  sed -n '/^ceilings/,$p' "$out/bench-torch.log"
  grep -E 'failed|compiled .* in|prepared' "$out/bench-torch.log" | head -30
fi
if [ "$stage" = test ] || [ "$stage" = all ]; then
  log "chapters"
  bench/gpu-chapters.sh > "$out/chapters.log" 2>&1 || rc=1
  cat "$out/chapters.log"
fi
log "done, exit $rc"
# The data files' provenance: every writer (the runtime's TSV writer,
# gpu_torch.py) takes its git and date lines from BOOK_GIT and BOOK_DATE and
# its command line from BOOK_COMMAND, set above as the book runs the command,
# so nothing is rewritten here.
# one log file back instead of many
for f in "$out"/*.log; do [ -f "$f" ] && { echo "==== $(basename "$f")"; cat "$f"; rm -f "$f"; }; done > "$out/logs-$stage.txt"
rm -f "$out"/*.rc "$out/go"
mv "$out"/data/* "$out"/ 2>/dev/null; rmdir "$out/data" 2>/dev/null
exit $rc
