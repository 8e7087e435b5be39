#!/usr/bin/env bash
# bench/s18_ptxas.sh -- ptxas's report on the forward kernels of versions 9 to 16 (flash9_forward_kernel), as
# the tree has them and with their two setmaxnreg calls removed, into bench/logs/s18-ptxas/ptxas-v16.txt and
# ptxas-v16-no-setmaxnreg.txt (tests/test_ch12.c reads version 16's lines: three consumer warpgroups at d 64,
# a launch of 512 threads at 128 registers each).  Needs nvcc only.
set -eu
cd "$(dirname "$0")/.."
out=bench/logs/s18-ptxas tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
flags="-std=c++17 -O3 -gencode arch=compute_90a,code=sm_90a -Icommon -Icommon/gpu -cubin -Xptxas -v"
tree=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- common/gpu/flash.cu || echo +)
cp common/gpu/internal.cuh "$tmp/"
sed 's/^\(\s*\)wg_set_registers<[^;]*>([a-z]*);/\1\/* removed *\//' common/gpu/flash.cu > "$tmp/flash.cu"
[ "$(grep -c 'removed \*/' "$tmp/flash.cu")" = 2 ] || { echo "s18_ptxas: the two setmaxnreg calls were not found" >&2; exit 1; }
for which in tree no-setmaxnreg; do
  src=common/gpu/flash.cu name=ptxas-v16.txt
  [ $which = tree ] || src=$tmp/flash.cu name=ptxas-v16-no-setmaxnreg.txt
  {
    echo "# $(nvcc --version | tail -1); nvcc $flags flash.cu (tree $tree; $which), the lines of flash9_forward_kernel (versions 9 to 16)"
    nvcc $flags "$src" -o "$tmp/f.cubin" 2>&1 | grep -A3 "flash9_forward_kernel" | grep -v "^--$" | grep -v "Compile time"
  } > "$out/$name.tmp"
  mv "$out/$name.tmp" "$out/$name"
  echo "wrote $out/$name"
done
