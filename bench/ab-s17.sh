#!/usr/bin/env bash
# bench/ab-s17.sh -- version 12 against version 14, forward, alternating processes (a second device call)
set -u
cd "$(dirname "$0")/.."
export PATH=/usr/local/cuda/bin:$PATH BOOK_ROOT=$PWD NO_PROGRESS=1
: "${OUT:=build/gpu-out}"; mkdir -p "$OUT/ab"
echo "# bench/ab-s17.sh BOOK_GIT ${BOOK_GIT:-?} $(date -u +%Y-%m-%dT%H:%MZ)"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader
make NOTANGLE=1 -j16 build/bin/ch12-memopt > "$OUT/ab/build.txt" 2>&1; echo "== build exit $? at ${SECONDS}s"
i=0
for v in 12 14 12 14 14 12 13 14 12 14; do
  i=$((i + 1)); d="$OUT/ab/run$i-v$v"
  BOOK_COMMAND="CH12_SPEED_VERSIONS=$v, ch12-memopt speed --device cuda --out figures/data (bench/ab-s17.sh, run $i)" \
    CH12_SPEED_VERSIONS=$v, timeout 40 build/bin/ch12-memopt speed --device cuda --out "$d" > "$d.txt" 2>&1
  echo "== run $i v$v exit $? at ${SECONDS}s"
  grep -v '^#' "$d/ch12-speed.tsv" 2> /dev/null | awk -F'\t' 'NR==1{for(i=1;i<=NF;i++)h[$i]=i; next} {print "   ", $h["shape"], "v" $h["version"], $h["pass"], $h["ms"], "ms", $h["tflops"]}'
done
tar -C "$OUT" -czf "$OUT/ab.tgz" ab && rm -rf "$OUT/ab"
