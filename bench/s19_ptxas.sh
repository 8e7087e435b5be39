#!/usr/bin/env bash
# bench/s19_ptxas.sh -- ptxas's report on the backward kernels of versions 7 to 17 (flash7_backward_kernel), as
# the tree has them, into bench/logs/s19-ptxas/ptxas-v17.txt (tests/test_ch12.c reads the bf16 lines of
# version 14's kernel at d 64, <64, 2, true, true, false>, and version 17's, <64, 2, true, true, true>:
# registers a thread and bytes spilled).  Needs nvcc only.
set -eu
cd "$(dirname "$0")/.."
out=bench/logs/s19-ptxas tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
flags="-std=c++17 -O3 -gencode arch=compute_90a,code=sm_90a -Icommon -Icommon/gpu -cubin -Xptxas -v"
tree=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- common/gpu/flash.cu || echo +)
{
  echo "# $(nvcc --version | tail -1); nvcc $flags flash.cu (tree $tree), the lines of flash7_backward_kernel (versions 7 to 17)"
  nvcc $flags common/gpu/flash.cu -o "$tmp/f.cubin" 2>&1 | grep -A3 "flash7_backward_kernel" | grep -v "^--$" | grep -v "Compile time"
} > "$out/ptxas-v17.txt.tmp"
mv "$out/ptxas-v17.txt.tmp" "$out/ptxas-v17.txt"
echo "wrote $out/ptxas-v17.txt"
