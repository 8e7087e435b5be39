#!/usr/bin/env bash
# bench/one-call-s8-step.sh -- issue 25's fusions of the GPT's training step
# (gpt.h GPT_FUSE_*: GELU in the fc product's cuBLASLt epilogue and its
# derivative in the fc-proj backward product's, the residual add in both
# projections' epilogues, GELU's backward pass overwriting instead of a
# memset) checked and timed in one device call, about 400 s:
#
#   1. build (make NOTANGLE=1; the chapters' tangled sources travel in build/);
#   2. tests/test_gpu (test_fused_linear, test_lt_gelu_form: cuBLASLt's GELU
#      is the tanh form) and tests/test_gpt_gpu (test_fusions: every fusion
#      against the unfused step and the CPU), with GPT_FUSE unset;
#   3. build/bin/bench-fuse: B 16 steps with each fusion off and on, one
#      process, interleaved rounds, and a profile per configuration;
#   4. test_gpt_gpu under compute-sanitizer memcheck (at most 100 s);
#   5. PyTorch's bench/gpt2_torch.py --batch 16 64 --cudagraphs (the same GPU);
#   6. chapter 8's bench with every fusion on (GPT_FUSE=all), profile kept,
#      with what is left of 400 s (skipped under 60 s).
#
# Run from the staged tree's root or from bench/ (it cds to the root).  Logs
# and data go under $OUT (default build/s8-out).  Set BOOK_GIT and BOOK_DATE
# for the data files' provenance.
set -u
cd "$(dirname "$0")/.."
export PATH=/usr/local/cuda/bin:$PATH BOOK_ROOT=$PWD NO_PROGRESS=1 PYTHONUNBUFFERED=1
unset GPT_FUSE
o=${OUT:-build/s8-out}
mkdir -p "$o/data"
log() { echo "== [${SECONDS}s] $*"; }
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv,noheader
log "build"
make NOTANGLE=1 -j"$(nproc)" build/tests/test_gpu build/tests/test_gpt_gpu build/bin/bench-fuse build/bin/ch08-transformer \
  > "$o/build.log" 2>&1 || { tail -30 "$o/build.log"; exit 1; }
log "test_gpu"
timeout 120 build/tests/test_gpu > "$o/test-gpu.log" 2>&1; echo "exit $?"
grep -E '^FAIL|cuBLASLt|linear\+|overwriting|passed' "$o/test-gpu.log" | head -40
log "test_gpt_gpu"
timeout 150 build/tests/test_gpt_gpu > "$o/test-gpt-gpu.log" 2>&1; echo "exit $?"
grep -E '^FAIL|fuse|fusion|passed' "$o/test-gpt-gpu.log" | head -40
log "bench-fuse (B 16)"
BOOK_COMMAND="build/bin/bench-fuse --out figures/data (bench/one-call-s8-step.sh)" \
  timeout 120 build/bin/bench-fuse --out "$o/data" > "$o/bench-fuse.log" 2>&1; echo "exit $?"
grep -E 'ms a step|fell back' "$o/bench-fuse.log"
log "compute-sanitizer memcheck on test_gpt_gpu (at most 100 s)"
timeout 100 compute-sanitizer --tool memcheck --error-exitcode 1 build/tests/test_gpt_gpu > "$o/memcheck-gpt-gpu.log" 2>&1
echo "exit $? (124: cut off at 100 s)"
grep -E 'ERROR SUMMARY|passed|^FAIL' "$o/memcheck-gpt-gpu.log" | tail -5
log "PyTorch B 16 and 64, eager, compiled, CUDA graphs"
BOOK_COMMAND="python3 bench/gpt2_torch.py --out figures/data --batch 16 64 --cudagraphs (bench/one-call-s8-step.sh)" \
  timeout 190 python3 bench/gpt2_torch.py --out "$o/data" --batch 16 64 --cudagraphs > "$o/torch.log" 2>&1; echo "exit $?"
grep -E 'PyTorch|rror' "$o/torch.log" | head -12
left=$(( ${STEP_BUDGET:-400} - SECONDS ))
log "ch08-transformer bench with GPT_FUSE=all (${left}s left)"
if [ "$left" -gt 60 ]; then
  mkdir -p "$o/ch08-all"
  GPT_FUSE=all BOOK_COMMAND="GPT_FUSE=all build/bin/ch08-transformer bench --device cuda --out figures/data (bench/one-call-s8-step.sh)" \
    timeout "$left" build/bin/ch08-transformer bench --device cuda --out "$o/ch08-all" > "$o/ch08-all.log" 2>&1; echo "exit $?"
  grep -E 'bench:|rror' "$o/ch08-all.log" | head -12
fi
left=$(( ${STEP_BUDGET:-400} + ${PLAIN_BUDGET:-0} - SECONDS ))
if [ "${PLAIN_BUDGET:-0}" -gt 0 ] && [ "$left" -gt 60 ]; then
  log "ch08-transformer bench, no fusions (${left}s left)"
  mkdir -p "$o/ch08-plain"
  BOOK_COMMAND="build/bin/ch08-transformer bench --device cuda --out figures/data (bench/one-call-s8-step.sh)" \
    timeout "$left" build/bin/ch08-transformer bench --device cuda --out "$o/ch08-plain" > "$o/ch08-plain.log" 2>&1; echo "exit $?"
  grep -E 'bench:|rror' "$o/ch08-plain.log" | head -12
fi
log "end"
