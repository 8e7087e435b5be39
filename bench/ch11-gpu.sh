#!/usr/bin/env bash
# bench/ch11-gpu.sh -- chapter 11 on a lent GPU machine with no noweb, in one
# call: build from the tangled sources carried in build/NN-*/ (make
# NOTANGLE=1); the chapter's GPU suite plainly and under compute-sanitizer
# memcheck, test_gpt_gpu (gpt.c's memory options must leave it as it was);
# then the book's GPU experiments: grid, sizes, timeline, classifier, head
# (with PyTorch's classifier beside it, bench/ch11_torch.py), maxbatch.
# Data to $OUT/ch11-*.tsv, everything printed to $OUT/ch11-gpu.log.
# BOOK_GIT and BOOK_DATE, when set, are the git and date lines of the data.
set -u -o pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/cuda/bin:$PATH NO_PROGRESS=1
out=${OUT:-build/gpu-out}
mkdir -p "$out"
log="$out/ch11-gpu.log"
t0=$(date +%s)
stamp() { echo "== $1 at +$(( $(date +%s) - t0 )) s" >> "$log"; }
stamp build
make NOTANGLE=1 -j"$(nproc)" build/bin/ch11-memory build/tests/test_ch11_gpu build/tests/test_gpt_gpu >> "$log" 2>&1 \
  || { tail -30 "$log"; exit 1; }
nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv >> "$log" 2>&1
stamp tests
build/tests/test_ch11_gpu >> "$log" 2>&1; echo "test_ch11_gpu: $(tail -1 "$log")"
compute-sanitizer --tool memcheck --error-exitcode 3 build/tests/test_ch11_gpu > "$out/memcheck.txt" 2>&1
echo "memcheck test_ch11_gpu: exit $? ($(grep -c 'ERROR SUMMARY: 0 errors' "$out/memcheck.txt") clean summaries); $(grep 'passed,' "$out/memcheck.txt" | tail -1)"
tail -3 "$out/memcheck.txt" >> "$log"
build/tests/test_gpt_gpu > "$out/gpt_gpu.txt" 2>&1; echo "test_gpt_gpu: $(tail -1 "$out/gpt_gpu.txt")"
tail -1 "$out/gpt_gpu.txt" >> "$log"
for e in grid sizes timeline classifier head torch maxbatch; do
  stamp "$e"
  if [ "$e" = torch ]; then
    BOOK_COMMAND="python3 bench/ch11_torch.py --out figures/data" \
      timeout 120 python3 bench/ch11_torch.py --out "$out" >> "$log" 2>&1 || echo "torch failed: exit $?"
    continue
  fi
  BOOK_COMMAND="build/bin/ch11-memory $e --device cuda --out figures/data" \
    build/bin/ch11-memory "$e" --device cuda --out "$out" >> "$log" 2>&1 || echo "$e failed: exit $?"
done
stamp done
grep -E '^== ' "$log"
rm -f "$out/gpt_gpu.txt"
