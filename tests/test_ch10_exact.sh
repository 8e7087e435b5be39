#!/usr/bin/env bash
# test_ch10_exact.sh -- chapter 10's exactness check on real corpora.
#
# Runs build/bin/ch10-tokenization exact (no --quick): GPT-2's ids against
# the reference encoders gpt-3-encoder and js-tiktoken (Node), and
# cl100k_base's and o200k_base's against js-tiktoken; the pre-tokenizers on
# invalid UTF-8; the Unicode classes against JavaScript's.  Every id must
# match and every decode must give back the bytes.  Run once (not under
# the sanitizers: it is Node's time, not ours).
#
# By default (about a minute of processor time) a sample: about 1 MB of each
# real text -- Brown, the 233 State of the Union addresses, the roff sources
# of Debian's manual pages (when installed) -- taken as 16 runs spread over
# the whole text (exact --sample), and the whole adversarial text, for
# GPT-2; cl100k_base and o200k_base on the sample of Brown.  (tests/test_ch10
# checks all three vocabularies on the quick adversarial text; js-tiktoken's
# regular expressions take some 15 s a vocabulary on the full one's long runs
# of spaces.)
#
# CH10_EXACT_FULL=1 (or --full) checks the whole corpora, as the book's table
# does: GPT-2 on all of Brown, sotu, man and the adversarial text,
# cl100k_base and o200k_base on all of Brown and the adversarial text
# (minutes: 100-280 s on the book's shared 2-core machine).
set -u -o pipefail
cd "$(dirname "$0")/.." || exit 1
full=${CH10_EXACT_FULL:-0}
[ "${1:-}" = --full ] && full=1
prog=build/bin/ch10-tokenization
out=$(mktemp -d /tmp/test-ch10-exact-XXXXXX)
trap 'rm -rf "$out"' EXIT
pass=0 fail=0
check() {  # check NAME COMMAND...
  local name=$1; shift
  if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL ch10-exact: $name"; fi
}
# The chapter's encode examples: each "$ build/bin/ch10-tokenization encode ..." line of the .nw and the
# line after it (its output), in order; a train line trains into $out (its --model), and the encode lines
# that name build/ch10-brown.bpe read that file instead, so the book's tokenizer is never touched.
examples() {
  local nw=chapters/10-tokenization/tokenization.nw n=0 bad=0 cmd want got
  while IFS= read -r cmd && IFS= read -r want; do
    cmd=${cmd#\$ build/bin/ch10-tokenization }
    cmd=${cmd//build\/ch10-brown.bpe/$out/brown.bpe}
    case "$cmd" in
      train*) eval "\"$prog\" $cmd --model \"$out/brown.bpe\" --out \"$out/train\"" 2> /dev/null || bad=$((bad + 1)) ;;
      encode*) got=$(eval "\"$prog\" $cmd" 2>&1); n=$((n + 1))
               [ "$got" = "$want" ] || { bad=$((bad + 1)); echo "  $cmd: got '$got', the chapter shows '$want'"; } ;;
    esac
  done < <(awk '/^\$ build\/bin\/ch10-tokenization train/ {print; print ""; next}
                /^\$ build\/bin\/ch10-tokenization encode/ {print; getline; print}' "$nw")
  [ "$n" -ge 3 ] && [ "$bad" = 0 ]
}
check "the chapter's encode examples (trained tokenizer and GPT-2's) print what the chapter shows" examples
if ! command -v node > /dev/null; then echo "skipped: node is not installed"; echo "$pass passed, $fail failed"; exit 0; fi
rows_ok() {  # every row of the TSV has mismatches 0 and roundtrip 1, and there are at least $2 rows
  awk -F'\t' -v want="$2" '/^#/ {next} !h {h=1; for (i=1;i<=NF;i++) c[$i]=i; next}
       {n++; if ($c["mismatches"] != 0 || $c["roundtrip"] != 1) bad++}
       END {exit !(n >= want && bad == 0)}' "$1"
}
sampled() {  # sampled TSV MIN MAX: every row's text (but the adversarial one) has MIN to MAX bytes
  awk -F'\t' -v lo="$2" -v hi="$3" '/^#/ {next} !h {h=1; for (i=1;i<=NF;i++) c[$i]=i; next}
       $c["text"] != "adversarial" {n++; if ($c["bytes"] < lo || $c["bytes"] > hi) bad++}
       END {exit !(n > 0 && bad == 0)}' "$1"
}
export NO_PROGRESS=1
if [ "$full" = 1 ]; then
  echo "the whole corpora (CH10_EXACT_FULL)"
  sample=() later=brown,adversarial nlater=4
else
  echo "a sample of about 1 MB of each real text (CH10_EXACT_FULL=1 for the whole corpora)"
  sample=(--sample 1000000) later=brown nlater=2
fi
check "GPT-2 against gpt-3-encoder and js-tiktoken on Brown, sotu, man, adversarial" \
  "$prog" exact --tokenizers gpt2 --texts brown,sotu,man,adversarial "${sample[@]}" --out "$out/gpt2"
check "every GPT-2 row: no mismatch, exact round trip" rows_ok "$out/gpt2/ch10-exact.tsv" 6
[ "$full" = 1 ] || check "the samples are about 1 MB of each real text" sampled "$out/gpt2/ch10-exact.tsv" 900000 1100000
check "cl100k_base and o200k_base against js-tiktoken on $later" \
  "$prog" exact --tokenizers cl100k,o200k --texts "$later" "${sample[@]}" --out "$out/later"
check "every cl100k/o200k row: no mismatch, exact round trip" rows_ok "$out/later/ch10-exact.tsv" "$nlater"
check "invalid UTF-8: pieces where the references put U+FFFD, round trips" rows_ok "$out/later/ch10-invalid.tsv" 2
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
