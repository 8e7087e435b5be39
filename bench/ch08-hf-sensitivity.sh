#!/usr/bin/env bash
# bench/ch08-hf-sensitivity.sh -- how loudly chapter 8's transformers check
# (ch08-transformer hf-check, CPU, against tests/fixtures/gpt2-tiny) fails
# when the runtime gets one detail of GPT-2 wrong.  For each mutation it
# copies common/nn.c with one line changed, links the chapter's program with
# that copy in place of the runtime's nn.o (the CPU path of gpt.h calls nn.h),
# runs hf-check, and reads its table: how many of the quantities fall outside
# |diff| <= 1e-5 + 1e-4 |ref|, and the worst normwise relative error.
#   none     the runtime as it is
#   gelu     GELU's exact form x Phi(x) instead of GPT-2's tanh form
#   eps      the norms' epsilon 1e-6 instead of GPT-2's 1e-5
#   scale    attention scores divided by sqrt(d + 1) instead of sqrt(d)
# Run from the repository root after `make ch08`; writes
# figures/data/ch08-hf-sensitivity.tsv (or $1/ch08-hf-sensitivity.tsv).
set -eu -o pipefail
out=${1:-figures/data}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
CC=${CC:-gcc}
flags="-std=c11 -D_GNU_SOURCE -O2 -fopenmp -Icommon"
libs="-lm -fopenmp -lpthread -L/usr/local/cuda/lib64 -Wl,-rpath,/usr/local/cuda/lib64 -lcublasLt -lcublas -lcudart -lstdc++"
declare -A edit=(
  [none]='s|^||'
  [gelu]='s|out\[i\] = 0.5f \* x \* (1.0f + tanhf(GELU_K \* (x + 0.044715f \* x \* x \* x)));|out[i] = 0.5f * x * (1.0f + erff(x * 0.70710678f));|'
  [eps]='s|ss / C + NN_NORM_EPS|ss / C + 1e-6|'
  [scale]='0,/1.0f \/ sqrtf((float)hs)/s||1.0f / sqrtf((float)hs + 1.0f)|'
)
rows=""
for name in none gelu eps scale; do
  sed "${edit[$name]}" common/nn.c > "$tmp/nn_$name.c"
  if [ "$name" != none ] && cmp -s common/nn.c "$tmp/nn_$name.c"; then
    echo "ch08-hf-sensitivity: the $name edit no longer matches common/nn.c" >&2; exit 1
  fi
  $CC $flags -c "$tmp/nn_$name.c" -o "$tmp/nn_$name.o"
  $CC $flags -DBOOK_ROOT="\"$PWD\"" -Ibuild/08-transformer -o "$tmp/ch08_$name" build/08-transformer/transformer.c \
      "$tmp/nn_$name.o" build/libcommon.a $libs
  mkdir -p "$tmp/o_$name"
  "$tmp/ch08_$name" hf-check --out "$tmp/o_$name" > /dev/null 2>&1 || true
  f="$tmp/o_$name/ch08-hf-cpu.tsv"
  [ -s "$f" ] || { echo "ch08-hf-sensitivity: hf-check wrote no table for $name" >&2; exit 1; }
  rows+=$(awk -F'\t' -v m="$name" '/^#/ || $1 == "direction" {next}
      {n++; bad += ($7 == 0); if ($6 + 0 > w) w = $6 + 0}
      END {printf "%s\t%d\t%d\t%.3e\n", m, n, bad, w}' "$f")$'\n'
done
mkdir -p "$out"
{
  echo "# ch08-hf-sensitivity: hf-check (CPU) with one detail of GPT-2 changed in the runtime"
  echo "# command: bench/ch08-hf-sensitivity.sh $*"
  echo "# device: cpu ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'))"
  echo "# date: ${BOOK_DATE:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}"
  echo "# git: ${BOOK_GIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}"
  printf "mutation\tquantities\toutside\tworst_rel_error\n"
  printf "%s" "$rows"
} > "$out/ch08-hf-sensitivity.tsv.tmp"
mv "$out/ch08-hf-sensitivity.tsv.tmp" "$out/ch08-hf-sensitivity.tsv"
cat "$out/ch08-hf-sensitivity.tsv"
