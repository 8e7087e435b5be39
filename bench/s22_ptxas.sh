#!/usr/bin/env bash
# bench/s22_ptxas.sh -- ptxas's report on the forward kernels of versions 9 to 21 (flash9_forward_kernel), as the
# tree has them, into bench/logs/s22-ptxas/ptxas-v21.txt (tests/test_ch12.c reads the bf16 lines of version 15's
# kernel and version 21's at both head sizes: registers a thread, which with setmaxnreg are the launch's, and
# bytes spilled).  Needs nvcc only.
set -eu
cd "$(dirname "$0")/.."
out=bench/logs/s22-ptxas tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
flags="-std=c++17 -O3 -gencode arch=compute_90a,code=sm_90a -Icommon -Icommon/gpu -cubin -Xptxas -v"
tree=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- common/gpu/flash.cu || echo +)
{
  echo "# $(nvcc --version | tail -1); nvcc $flags flash.cu (tree $tree), the lines of flash9_forward_kernel (versions 9 to 21)"
  nvcc $flags common/gpu/flash.cu -o "$tmp/f.cubin" 2>&1 | grep -A3 "flash9_forward_kernel" | grep -v "^--$" | grep -v "Compile time"
} > "$out/ptxas-v21.txt.tmp"
mv "$out/ptxas-v21.txt.tmp" "$out/ptxas-v21.txt"
echo "wrote $out/ptxas-v21.txt"
