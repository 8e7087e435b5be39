#!/usr/bin/env bash
# bench/flash-device.sh -- chapter 8's bench with flash attention (gpt.c's
# default) and chapter 12's "All of it together", in one call on a lent GPU
# machine (nvcc and PyTorch, no noweb: build/08-transformer and
# build/12-memopt are tangled beforehand and built here, make NOTANGLE=1).
# In order, each step logged and timed:
#   test-gpt-gpu   tests/test_gpt_gpu (flash against plain and the CPU, the policies)
#   test-ch12-gpu  tests/test_ch12_gpu (the flash kernels against the CPU)
#   test-ch11-gpu  tests/test_ch11_gpu (chapter 11's measurements, plain attention)
#                  (named in STEPS only)
#   bench          ch08-transformer bench: GPT-2 small, plain and flash attention,
#                  batch 16 and the largest that fits, with a profile of each
#   together       ch12-memopt together: GPT-2 small under each combination
#   torch          bench/gpt2_torch.py --batch 16 64 128 256 --cudagraphs: PyTorch
#                  eager, torch.compile and compile with CUDA graphs, same GPU, same
#                  call, up to the largest batch ours tries (a batch that does not
#                  fit is logged and skipped); the data of e5dbcfc predate this and
#                  stop at 64
#   largest        ch12-memopt largest: the largest GPT that fits, trained (last:
#                  it fills the GPU)
# STEPS, a list of the names above, runs only those (default: all).
# BOOK_GIT and BOOK_DATE (provenance.h) are set by the caller.  Data and logs
# are written to $OUT/data and $OUT/logs, packed into $OUT/flash-data.tar.gz
# after every step.
set -u -o pipefail
cd "$(dirname "$0")/.."
out=${OUT:-build/gpu-out}
mkdir -p "$out/data" "$out/logs"
export PATH=/usr/local/cuda/bin:$PATH BOOK_ROOT=$PWD NO_PROGRESS=1 PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv,noheader | tee "$out/logs/gpu.txt"
t0=$(date +%s)
make -j"$(nproc)" NOTANGLE=1 build/bin/ch08-transformer build/bin/ch12-memopt build/tests/test_gpt_gpu \
  build/tests/test_ch12_gpu build/tests/test_ch11_gpu > "$out/logs/build.txt" 2>&1 || { tail -30 "$out/logs/build.txt"; exit 1; }
echo "build: $(( $(date +%s) - t0 )) s"
steps=" ${STEPS:-test-gpt-gpu test-ch12-gpu bench together torch largest} "
step_logs=$out/logs step_data=$out/data step_via=bench/flash-device.sh
step_after='tar czf "$out/flash-data.tar.gz" -C "$out" data logs'
. bench/step.sh
step test-gpt-gpu 120 build/tests/test_gpt_gpu
step test-ch12-gpu 120 build/tests/test_ch12_gpu
step test-ch11-gpu 90 build/tests/test_ch11_gpu
grep -h "FAIL" "$out"/logs/test-*.txt | head -20
step bench 120 build/bin/ch08-transformer bench --device cuda --out "$out/data"
step together 120 build/bin/ch12-memopt together --device cuda --out "$out/data"
step torch 540 python3 bench/gpt2_torch.py --out "$out/data" --batch 16 64 128 256 --cudagraphs
step largest 150 build/bin/ch12-memopt largest --device cuda --out "$out/data"
cat "$out/logs/bench.txt" "$out/logs/together.txt" "$out/logs/torch.txt" "$out/logs/largest.txt" 2>/dev/null | grep -v '^$' | tail -40
rm -rf "$out/data" "$out/logs"
