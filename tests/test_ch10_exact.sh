#!/usr/bin/env bash
# test_ch10_exact.sh -- chapter 10's exactness check on whole corpora.
#
# Runs build/bin/ch10-tokenization exact (no --quick): GPT-2's ids against
# the reference encoder gpt-3-encoder (Node) on all of Brown, all 233 State
# of the Union addresses, the roff sources of Debian's manual pages (when
# installed) and the adversarial text; cl100k_base and o200k_base against
# js-tiktoken on Brown and the adversarial text; the pre-tokenizers on
# invalid UTF-8; the Unicode classes against JavaScript's.  Every id must
# match and every decode must give back the bytes.  Run once (not under
# the sanitizers: it is Node's time, not ours, and it takes minutes).
set -u -o pipefail
cd "$(dirname "$0")/.." || exit 1
prog=build/bin/ch10-tokenization
out=$(mktemp -d /tmp/test-ch10-exact-XXXXXX)
trap 'rm -rf "$out"' EXIT
pass=0 fail=0
check() {  # check NAME COMMAND...
  local name=$1; shift
  if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL ch10-exact: $name"; fi
}
if ! command -v node > /dev/null; then echo "skipped: node is not installed"; echo "0 passed, 0 failed"; exit 0; fi
rows_ok() {  # every row of the TSV has mismatches 0 and roundtrip 1, and there are at least $2 rows
  awk -F'\t' -v want="$2" '/^#/ {next} !h {h=1; for (i=1;i<=NF;i++) c[$i]=i; next}
       {n++; if ($c["mismatches"] != 0 || $c["roundtrip"] != 1) bad++}
       END {exit !(n >= want && bad == 0)}' "$1"
}
export NO_PROGRESS=1
check "GPT-2 against gpt-3-encoder and js-tiktoken on Brown, sotu, man, adversarial" \
  "$prog" exact --tokenizers gpt2 --texts brown,sotu,man,adversarial --out "$out/gpt2"
check "every GPT-2 row: no mismatch, exact round trip" rows_ok "$out/gpt2/ch10-exact.tsv" 6
check "cl100k_base and o200k_base against js-tiktoken on Brown and the adversarial text" \
  "$prog" exact --tokenizers cl100k,o200k --texts brown,adversarial --out "$out/later"
check "every cl100k/o200k row: no mismatch, exact round trip" rows_ok "$out/later/ch10-exact.tsv" 4
check "invalid UTF-8: pieces where the references put U+FFFD, round trips" rows_ok "$out/later/ch10-invalid.tsv" 2
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
