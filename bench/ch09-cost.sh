#!/usr/bin/env bash
# bench/ch09-cost.sh -- chapter 9's `cost` experiment on a quiet machine's
# CPU (the lent GPU machine's cores, which nothing else uses during a call).
# The tangled sources travel in build/09-positions/ with the chapter's CUDA
# objects compiled where the book is built (as in bench/gpu-ch09.sh); the C
# is compiled here.  Then:
#   1. one job alone, one thread: `ch09-positions cost --threads 1`, the
#      table the chapter prints (ch09-cost.tsv);
#   2. JOBS jobs at once (default 8; 0 for none), one thread each, each pinned to its own
#      physical core: their rows side by side (ch09-cost-repeats.tsv), which
#      say how much a step's time moves between runs of the same program.
# Data go to $OUT (or build/cost-out), a log to $OUT/cost-log.txt; BOOK_GIT
# and BOOK_DATE (set by the caller) become the data files' git and date lines;
# QUICK=1 runs the test sizes (a check of this script, in seconds).
set -u -o pipefail
cd "$(dirname "$0")/.."
out=${OUT:-build/cost-out}
jobs=${JOBS:-8}
mkdir -p "$out" build/bin build/cost-obj build/cost-data
export NO_PROGRESS=1
log() { echo "[+${SECONDS}s] $*"; }
lscpu | grep -E 'Model name|^CPU\(s\)|Thread|Core|Socket|NUMA node\(s\)'
uptime
CF="-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-function -O2 -march=native -g -fopenmp -Icommon -DBOOK_ROOT=\"$PWD\""
LD="-lm -fopenmp -lpthread -L/usr/local/cuda/lib64 -Wl,-rpath,/usr/local/cuda/lib64 -lcublasLt -lcublas -lcudart -lstdc++"
log "build"
cc=()
for f in common/*.c build/09-positions/positions.c; do
  gcc $CF -Ibuild/09-positions -c "$f" -o "build/cost-obj/$(basename "$f" .c).o" & cc+=($!)
done
for p in "${cc[@]}"; do wait "$p" || { echo "build failed"; exit 1; }; done
gcc -o build/bin/ch09-positions build/cost-obj/*.o build/09-positions/libcuda.a build/common/gpu/*.o $LD ||
  { echo "link failed"; exit 1; }
log "one job alone"
BOOK_COMMAND="build/bin/ch09-positions cost --threads 1 --out figures/data" \
  build/bin/ch09-positions cost --threads 1 ${QUICK:+--quick} --out build/cost-data/alone > build/cost-data/alone.log 2>&1 || exit 1
cp build/cost-data/alone/ch09-cost.tsv "$out/"
cat "$out/ch09-cost.tsv"
[ "$jobs" -gt 0 ] || { log "done (JOBS=0: no repeats)"; cp build/cost-data/alone.log "$out/cost-log.txt"; exit 0; }
# One logical CPU of each physical core, as many as the jobs.
cpus=$(lscpu -p=CPU,CORE,SOCKET | grep -v '^#' | sort -t, -k3,3n -k2,2n -u | cut -d, -f1 | head -n "$jobs")
log "$jobs jobs at once on CPUs $(echo $cpus)"
pids=() j=0
for c in $cpus; do
  j=$((j + 1))
  taskset -c "$c" build/bin/ch09-positions cost --threads 1 ${QUICK:+--quick} --out build/cost-data/j$j > build/cost-data/j$j.log 2>&1 &
  pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
log "jobs done, exit $rc"
r="$out/ch09-cost-repeats.tsv"
{
  echo "# ch09-cost-repeats: the cost experiment run as $j jobs at once, one thread each, each pinned to its own core:" \
       "per job, encoding and window length, ms per training step (the job's median of its rounds, processor time)" \
       "and that time over NoPE's in the same job"
  echo "# command: bench/ch09-cost.sh (JOBS=$jobs: taskset -c CPU build/bin/ch09-positions cost --threads 1, $j at once)"
  sed -n 's/^# device: \(.*\)$/# device: \1, '"$j"' jobs at once/p' build/cost-data/j1/ch09-cost.tsv
  grep -E '^# (date|git):' build/cost-data/j1/ch09-cost.tsv
  printf 'job\tencoding\tcontext\tbatch\tms_step\trel_step\n'
  for i in $(seq 1 "$j"); do
    awk -F'\t' -v j="$i" '!/^#/ && $1 != "encoding" {print j "\t" $1 "\t" $2 "\t" $3 "\t" $7 "\t" $8}' \
      build/cost-data/j$i/ch09-cost.tsv
  done
} > "$r.tmp" && mv "$r.tmp" "$r"
cat "$r"
log "done"
for f in build/cost-data/*.log; do echo "==== $f"; tail -5 "$f"; done > "$out/cost-log.txt"
exit $rc
