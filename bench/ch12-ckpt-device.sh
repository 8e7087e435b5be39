#!/usr/bin/env bash
# bench/ch12-ckpt-device.sh -- chapter 12's gradient checkpointing and the GPT
# with flash attention, in one call on a lent GPU machine (nvcc and PyTorch,
# no noweb: build/12-memopt is tangled beforehand; binaries built elsewhere
# for x86-64-v3 and sm_90 travel with the tree and are rebuilt here, make
# NOTANGLE=1, only if they do not run).  In order, each step logged and timed:
#   test-gpt-gpu  tests/test_gpt_gpu (flash attention in the GPT against the
#                 plain path and the CPU; the recomputation policies)
#   ckpt          ch12-memopt ckpt --device cuda: GPT-2 small, B16 T1024 bf16,
#                 every policy with the plain and the flash attention
#   torch         bench/gpt2_torch.py --batch 16 --name ch12-gpt2-torch:
#                 PyTorch eager and torch.compile on the same model and GPU
#   memcheck      compute-sanitizer memcheck on tests/test_gpt_gpu
# CH12_STEPS, a list of the names above, runs only those (default: all).
# BOOK_GIT and BOOK_DATE (provenance.h) are set by the caller.  Data and logs
# are written to $OUT.
set -u -o pipefail
cd "$(dirname "$0")/.."
out=${OUT:-build/gpu-out}
mkdir -p "$out"
export PATH=/usr/local/cuda/bin:$PATH BOOK_ROOT=$PWD NO_PROGRESS=1 PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv,noheader | tee "$out/gpu.txt"
if ! build/bin/ch12-memopt --help > /dev/null 2>&1 || ! [ -x build/tests/test_gpt_gpu ]; then
  echo "rebuilding here"
  make -j16 NOTANGLE=1 CFLAGS="-O2 -march=x86-64-v3 -g" build/bin/ch12-memopt build/tests/test_gpt_gpu \
    > "$out/build.txt" 2>&1 || { tail -20 "$out/build.txt"; exit 1; }
fi
steps=" ${CH12_STEPS:-test-gpt-gpu ckpt torch memcheck} "
step_logs=$out step_data=$out step_via=bench/ch12-ckpt-device.sh
. bench/step.sh
step test-gpt-gpu 120 build/tests/test_gpt_gpu
grep FAIL "$out/test-gpt-gpu.txt"
step ckpt 200 build/bin/ch12-memopt ckpt --device cuda --out "$out"
step torch 240 python3 bench/gpt2_torch.py --out "$out" --batch 16 --name ch12-gpt2-torch
step memcheck 150 compute-sanitizer --tool memcheck --error-exitcode 1 build/tests/test_gpt_gpu
grep -E 'ERROR SUMMARY' "$out/memcheck.txt" | tail -1
cat "$out/ckpt.txt"
