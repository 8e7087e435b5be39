#!/usr/bin/env bash
# bench/one-call-s10-step.sh -- issue 25 in one device call (session 10):
# chapter 8's training step, with chapter 12's flash attention after the
# change to its dK and dV epilogue, against PyTorch's step on the same GPU,
# in about 550 s:
#
#   1. build (make NOTANGLE=1: test_gpt_gpu, ch08-transformer);
#   2. tests/test_gpt_gpu (the GPT with flash version 7 against the CPU, every
#      fusion against the unfused step);
#   3. chapter 8's bench with every fusion on (GPT_FUSE=all): both attentions,
#      B 16 and the largest batch, one step at a time and back to back;
#   4. PyTorch's bench/gpt2_torch.py --batch 16 64 --cudagraphs, at most 300 s
#      (it writes its data file after each configuration);
#   5. chapter 8's bench with no fusion, with what is left of STEP_BUDGET
#      (default 560; skipped under 60 s).
#
# Staged as dev/GUIDE.md says; carry [".gpu/NAME"], timeout_s 600:
#   cd .gpu/NAME && BOOK_GIT=<commit> BOOK_DATE=<utc> bash bench/one-call-s10-step.sh
# Logs and data go under $OUT (default build/s10-out).
set -u
cd "$(dirname "$0")/.."
export PATH=/usr/local/cuda/bin:$PATH BOOK_ROOT=$PWD NO_PROGRESS=1 PYTHONUNBUFFERED=1
unset GPT_FUSE
o=${OUT:-build/s10-out}
mkdir -p "$o/data" "$o/ch08-all" "$o/ch08-plain"
log() { echo "== [${SECONDS}s] $*"; }
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv,noheader
log "build"
make NOTANGLE=1 -j"$(nproc)" build/tests/test_gpt_gpu build/bin/ch08-transformer > "$o/build.log" 2>&1 || { tail -30 "$o/build.log"; exit 1; }
log "test_gpt_gpu"
timeout 150 build/tests/test_gpt_gpu > "$o/test-gpt-gpu.log" 2>&1; echo "exit $?"
grep -E '^FAIL|fell back|passed' "$o/test-gpt-gpu.log" | head -20
log "ch08-transformer bench, GPT_FUSE=all"
GPT_FUSE=all BOOK_COMMAND="GPT_FUSE=all build/bin/ch08-transformer bench --device cuda --out figures/data (bench/one-call-s10-step.sh)" \
  timeout 200 build/bin/ch08-transformer bench --device cuda --out "$o/ch08-all" > "$o/ch08-all.log" 2>&1; echo "exit $?"
grep -E 'bench:|rror' "$o/ch08-all.log" | head -12
grep -v '^#' "$o/ch08-all/ch08-bench.tsv" 2>/dev/null
log "PyTorch B 16 and 64, eager, compiled, CUDA graphs (at most 300 s)"
BOOK_COMMAND="python3 bench/gpt2_torch.py --out figures/data --batch 16 64 --cudagraphs (bench/one-call-s10-step.sh)" \
  timeout 300 python3 bench/gpt2_torch.py --out "$o/data" --batch 16 64 --cudagraphs > "$o/torch.log" 2>&1; echo "exit $?"
grep -E 'PyTorch|rror' "$o/torch.log" | head -12
left=$(( ${STEP_BUDGET:-560} - SECONDS ))
log "ch08-transformer bench, no fusion (${left}s left)"
if [ "$left" -gt 60 ]; then
  BOOK_COMMAND="build/bin/ch08-transformer bench --device cuda --out figures/data (bench/one-call-s10-step.sh)" \
    timeout "$left" build/bin/ch08-transformer bench --device cuda --out "$o/ch08-plain" > "$o/ch08-plain.log" 2>&1; echo "exit $?"
  grep -E 'bench:|rror' "$o/ch08-plain.log" | head -12
fi
log "end"
