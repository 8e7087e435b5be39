#!/usr/bin/env bash
# bench/one-call-s11-step.sh -- issue 25 in one device call (session 11):
# chapter 8's training step as the runtime now ships it (every fusion on in
# bf16, gpt.h) and with none, against PyTorch's step on the same GPU, with
# chapter 12's flash attention after its dK and dV are written a row at a
# time (add_dk_dv), in at most STEP_BUDGET (default 590) seconds:
#
#   1. build (make NOTANGLE=1: ch08-transformer);
#   2. chapter 8's bench as it ships (GPT_FUSE unset: the default fusions):
#      both attentions, B 16 and the largest batch, one step at a time and
#      back to back;
#   3. PyTorch's bench/gpt2_torch.py --batch $TORCH_BATCHES (default
#      "16 64 128") --cudagraphs, within
#      TORCH_S (default 400) seconds (it writes its data file after each
#      configuration, so what finishes is kept);
#   4. chapter 8's bench with no fusion (GPT_FUSE empty), with what is left
#      of STEP_BUDGET (skipped under 60 s).
#
# Staged as dev/GUIDE.md says; carry [".gpu/NAME"], timeout_s 600:
#   cd .gpu/NAME && BOOK_GIT=<commit> BOOK_DATE=<utc> bash bench/one-call-s11-step.sh
# Logs and data go under $OUT (default build/s11-out).
set -u
cd "$(dirname "$0")/.."
export PATH=/usr/local/cuda/bin:$PATH BOOK_ROOT=$PWD NO_PROGRESS=1 PYTHONUNBUFFERED=1
unset GPT_FUSE
o=${OUT:-build/s11-out}
mkdir -p "$o/data" "$o/ch08-default" "$o/ch08-none"
log() { echo "== [${SECONDS}s] $*"; }
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv,noheader
log "build"
make NOTANGLE=1 -j"$(nproc)" build/bin/ch08-transformer > "$o/build.log" 2>&1 || { tail -30 "$o/build.log"; exit 1; }
log "ch08-transformer bench, default fusions"
BOOK_COMMAND="build/bin/ch08-transformer bench --device cuda --out figures/data (bench/one-call-s11-step.sh)" \
  timeout 200 build/bin/ch08-transformer bench --device cuda --out "$o/ch08-default" > "$o/ch08-default.log" 2>&1; echo "exit $?"
grep -E 'bench:|rror' "$o/ch08-default.log" | head -12
tb=${TORCH_BATCHES:-16 64 128}
log "PyTorch B $tb, eager, compiled, CUDA graphs (at most ${TORCH_S:-400} s)"
BOOK_COMMAND="python3 bench/gpt2_torch.py --out figures/data --batch $tb --cudagraphs (bench/one-call-s11-step.sh)" \
  timeout "${TORCH_S:-400}" python3 bench/gpt2_torch.py --out "$o/data" --batch $tb --cudagraphs > "$o/torch.log" 2>&1; echo "exit $?"
grep -E 'PyTorch|rror' "$o/torch.log" | head -12
left=$(( ${STEP_BUDGET:-590} - SECONDS ))
log "ch08-transformer bench, no fusion (${left}s left)"
if [ "$left" -gt 60 ]; then
  GPT_FUSE= BOOK_COMMAND="GPT_FUSE= build/bin/ch08-transformer bench --device cuda --out figures/data (bench/one-call-s11-step.sh)" \
    timeout "$left" build/bin/ch08-transformer bench --device cuda --out "$o/ch08-none" > "$o/ch08-none.log" 2>&1; echo "exit $?"
  grep -E 'bench:|rror' "$o/ch08-none.log" | head -12
fi
log "end"
