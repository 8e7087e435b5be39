#!/usr/bin/env bash
# bench/one-call-s10-fuse-suites.sh -- the GPU suites that build the
# runtime's GPT, run with every fusion switched on (GPT_FUSE=all), to decide
# whether the switches may be on by default: tests/test_gpt_gpu and the
# chapters' tests/test_ch09_gpu (chapter 9's program), test_ch11_gpu and
# test_ch12_gpu, each at most SUITE_S (default 150) seconds, in parallel
# (correctness only, nothing timed).  About 250 s with the build.
# Staged as dev/GUIDE.md says; carry [".gpu/NAME"]:
#   cd .gpu/NAME && bash bench/one-call-s10-fuse-suites.sh
# Logs under $OUT (default build/fuse-out), one per suite.
set -u
cd "$(dirname "$0")/.."
export PATH=/usr/local/cuda/bin:$PATH BOOK_ROOT=$PWD NO_PROGRESS=1 GPT_FUSE=all
o=${OUT:-build/fuse-out}
mkdir -p "$o"
suites="build/tests/test_gpt_gpu build/tests/test_ch09_gpu build/tests/test_ch11_gpu build/tests/test_ch12_gpu"
echo "== [${SECONDS}s] build"
make NOTANGLE=1 -j"$(nproc)" $suites build/bin/ch09-positions > "$o/build.log" 2>&1 || { tail -20 "$o/build.log"; exit 1; }
echo "== [${SECONDS}s] suites with GPT_FUSE=all"
for s in $suites; do
  ( timeout "${SUITE_S:-150}" "$s" > "$o/$(basename "$s").log" 2>&1; echo "$(basename "$s"): exit $? $(grep -E 'passed, [0-9]+ failed' "$o/$(basename "$s").log" | tail -1)" ) &
done
wait
grep -h '^FAIL' "$o"/*.log | head -20
echo "== [${SECONDS}s] end"
