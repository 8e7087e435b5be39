# tests/fuzz/common.sh -- sourced by tests/test_fuzz.sh and tests/fuzz/run.
# fuzz_targets: the names (ckpt, cli, ...) of tests/fuzz/fuzz_*.c.
# fuzz_inputs NAME: the committed inputs of a target, seeds and regressions.
fuzz_targets() {
  local f
  for f in tests/fuzz/fuzz_*.c; do f=${f##*/fuzz_}; echo "${f%.c}"; done
}
fuzz_inputs() {
  local f
  for f in tests/fuzz/corpus/"$1"/* tests/fuzz/regress/"$1"/*; do [ -f "$f" ] && echo "$f"; done
}
# Flags for every run: a timeout per input, memory limits, the dictionary.
fuzz_flags() {
  echo "-timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 -max_len=65536 -dict=tests/fuzz/$1.dict"
}
