#!/usr/bin/env bash
# bench/ch08-device.sh -- chapter 8's GPU work in one call on a lent GPU machine
# (it has nvcc and PyTorch but no noweb: the binaries, built elsewhere for
# x86-64-v3 and sm_90, travel with the tree; they are rebuilt here from the
# tangled sources, make NOTANGLE=1, only if they do not run).  In order, each
# step logged and timed:
#   hf-check-cuda  ch08-transformer hf-check on the GPU, against the committed
#                  transformers fixture (tests/fixtures/gpt2-tiny; the CPU's
#                  check needs no GPU and runs where the book is built)
#   test-gpt-gpu   tests/test_gpt_gpu
#   gpu-agree      the same model on the CPU and the GPU
#   gpu-train      a larger model on Brown characters, on the GPU
#   hf-export/-reverse  that model and our results, loaded by transformers
#   bench          GPT-2 small's training step (ours), with a profile
#   torch          bench/gpt2_torch.py: PyTorch eager and torch.compile
#   gpu-agree-2    (only when named in CH08_STEPS) gpu-agree again, into a second
#                  directory, and cmp of the two files: is the GPU's curve the same
#                  bit for bit, bf16 included?
# CH08_STEPS, a list of the names above, runs only those (default: all but
# gpu-agree-2); TORCH_ARGS adds flags to gpt2_torch.py (--batch 16 64 --cudagraphs).
# BOOK_GIT, BOOK_DATE and BOOK_COMMAND (provenance.h) are set by the caller.
# What comes back: $OUT/ch08-data.tar.gz (data/*.tsv, logs).
set -u -o pipefail
cd "$(dirname "$0")/.."
out=${OUT:-build/gpu-out}
mkdir -p "$out/data" "$out/logs"
export PATH=/usr/local/cuda/bin:$PATH BOOK_ROOT=$PWD NO_PROGRESS=1 PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/logs/gpu.txt"
if ! build/bin/ch08-transformer --help > /dev/null 2>&1 || [ ! -x build/tests/test_gpt_gpu ]; then
  echo "rebuilding here"
  make -j16 NOTANGLE=1 CFLAGS="-O2 -march=x86-64-v3 -g" build/bin/ch08-transformer build/tests/test_gpt_gpu \
    > "$out/logs/build.txt" 2>&1 || { tail -20 "$out/logs/build.txt"; exit 1; }
fi
steps=" ${CH08_STEPS:-hf-check-cuda test-gpt-gpu gpu-agree gpu-train hf-export hf-reverse bench torch} "
step_logs=$out/logs step_data=$out/data step_via=bench/ch08-device.sh
step_after='tar czf "$out/ch08-data.tar.gz" -C "$out" data logs'
. bench/step.sh
bin=build/bin/ch08-transformer
step hf-check-cuda 60 $bin hf-check --device cuda --out "$out/data"
step test-gpt-gpu 90 build/tests/test_gpt_gpu
step gpu-agree 60 $bin gpu-agree --device cuda --out "$out/data"
mkdir -p "$out/again"
step gpu-agree-2 60 bash -c "$bin gpu-agree --device cuda --out $out/again && cmp <(grep -v '^#' $out/data/ch08-gpu-agree.tsv) <(grep -v '^#' $out/again/ch08-gpu-agree.tsv) && echo 'gpu-agree twice: the same bits'"
step gpu-train 150 $bin gpu-train --device cuda --steps 2000 --out "$out/data" --model /tmp/brown-gpt.safetensors
step hf-export 30 $bin hf-export --model /tmp/brown-gpt.safetensors --export "$out/ours"
step hf-reverse 90 python3 tests/hf_gpt2.py check "$out/ours" --out "$out/data"
step bench 90 $bin bench --device cuda --out "$out/data"
step torch 240 python3 bench/gpt2_torch.py --out "$out/data" ${TORCH_ARGS:---batch 16}
# only small files come back: the TSV files and logs (the exported model stays behind)
rm -rf "$out/data" "$out/ours" "$out/logs" "$out/again"
ls -la "$out"
