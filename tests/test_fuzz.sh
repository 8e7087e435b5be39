#!/usr/bin/env bash
# tests/test_fuzz.sh: the fuzz targets (tests/fuzz/fuzz_*.c, built by make
# test-c with clang's libFuzzer) as a test suite.  For each target: replay
# every committed input (tests/fuzz/corpus/NAME: seeds the runtime wrote;
# tests/fuzz/regress/NAME: inputs that once crashed it), then fuzz for
# FUZZ_TEST_SECONDS (default 2) from a scratch copy of the seeds.  A crash
# fails the check; its input is left in build/fuzz/crashes/ (keep it in
# tests/fuzz/regress/NAME/ once the bug is fixed).  make fuzz runs longer.
set -u -o pipefail
cd "$(dirname "$0")/.." || exit 1
. tests/fuzz/common.sh
secs=${FUZZ_TEST_SECONDS:-2}
pass=0 fail=0
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export TMPDIR=$scratch   # where the targets put the input files their loaders read
mkdir -p build/fuzz/crashes
for name in $(fuzz_targets); do
  bin=build/fuzz/fuzz_$name
  if [ ! -x "$bin" ]; then
    echo "FAIL $name: $bin is not built (make test-c builds it; it needs clang with libFuzzer: tools/setup)"
    fail=$((fail + 1)); continue
  fi
  mapfile -t inputs < <(fuzz_inputs "$name")
  log=$scratch/$name.log
  if nice "$bin" $(fuzz_flags "$name") -runs=0 "${inputs[@]}" > "$log" 2>&1; then
    echo "ok   $name: replays its ${#inputs[@]} committed inputs"; pass=$((pass + 1))
  else
    echo "FAIL $name: a committed input crashes it:"; grep -E 'ERROR|FUZZ_ASSERT|Running:' "$log" | tail -4 | sed 's/^/    /'
    fail=$((fail + 1))
  fi
  mkdir -p "$scratch/$name"
  cp tests/fuzz/corpus/"$name"/* "$scratch/$name"/ 2>/dev/null
  if nice "$bin" $(fuzz_flags "$name") -max_total_time="$secs" -artifact_prefix="build/fuzz/crashes/$name-" \
       "$scratch/$name" > "$log" 2>&1; then
    runs=$(grep -oE '^#[0-9]+' "$log" | tail -1)
    echo "ok   $name: ${runs#\#} executions in ${secs}s, no crash"; pass=$((pass + 1))
  else
    echo "FAIL $name: fuzzing for ${secs}s found a crash:"; grep -E 'ERROR|FUZZ_ASSERT|Test unit written' "$log" | tail -4 | sed 's/^/    /'
    fail=$((fail + 1))
  fi
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
