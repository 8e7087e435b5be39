#!/usr/bin/env bash
# bench/s13_ptxas.sh -- ptxas's report on version 9's forward kernel
# (flash9_forward_kernel), as the tree has it and with its two setmaxnreg
# calls removed, into bench/logs/s13-ptxas/ptxas-v9.txt and
# ptxas-v9-no-setmaxnreg.txt (tests/test_ch12.c reads both).  Needs nvcc only.
set -eu
cd "$(dirname "$0")/.."
out=bench/logs/s13-ptxas tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
flags="-std=c++17 -O3 -gencode arch=compute_90a,code=sm_90a -Icommon -Icommon/gpu -cubin -Xptxas -v"
tree=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- common/gpu/flash.cu || echo +)
cp common/gpu/internal.cuh "$tmp/"
sed 's/^\(\s*\)wg_set_registers<V9_[A-Z_]*>([a-z]*);/\1\/* removed *\//' common/gpu/flash.cu > "$tmp/flash.cu"
[ "$(grep -c 'removed \*/' "$tmp/flash.cu")" = 2 ] || { echo "s13_ptxas: the two setmaxnreg calls were not found" >&2; exit 1; }
for which in tree no-setmaxnreg; do
  src=common/gpu/flash.cu name=ptxas-v9.txt
  [ $which = tree ] || src=$tmp/flash.cu name=ptxas-v9-no-setmaxnreg.txt
  {
    echo "# $(nvcc --version | tail -1); nvcc $flags flash.cu (tree $tree; $which), the lines of flash9_forward_kernel (version 9)"
    nvcc $flags "$src" -o "$tmp/f.cubin" 2>&1 | grep -A3 "flash9_forward_kernel" | grep -v "^--$" | grep -v "Compile time"
  } > "$out/$name.tmp"
  mv "$out/$name.tmp" "$out/$name"
  echo "wrote $out/$name"
done
