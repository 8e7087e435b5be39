#!/usr/bin/env bash
# bench/ptxas.sh OUT KERNEL -- ptxas's report (registers a thread, bytes spilled, barriers) on every
# instantiation of the kernel KERNEL (a name in common/gpu/flash.cu, e.g. flash7_backward_kernel) as the tree
# has it, into OUT (a file under bench/logs/), its first line the compiler and the tree.  Needs nvcc only, no
# GPU.  tests/test_ch12.c reads these files (ptxas_entry).  The scripts s13/s18/s19_ptxas.sh wrote the
# earlier files; this one does the same for any kernel.
set -eu
[ $# -eq 2 ] || { echo "usage: bench/ptxas.sh OUT KERNEL" >&2; exit 2; }
cd "$(dirname "$0")/.."
out=$1 kernel=$2 tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$(dirname "$out")"
flags="-std=c++17 -O3 -gencode arch=compute_90a,code=sm_90a -Icommon -Icommon/gpu -cubin -Xptxas -v"
tree=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- common/gpu/flash.cu || echo +)
{
  echo "# $(nvcc --version | tail -1); nvcc $flags flash.cu (tree $tree), the lines of $kernel"
  nvcc $flags common/gpu/flash.cu -o "$tmp/f.cubin" 2>&1 | grep -A3 "$kernel" | grep -v "^--$" | grep -v "Compile time"
} > "$out.tmp"
grep -q "Used" "$out.tmp" || { rm -f "$out.tmp"; echo "bench/ptxas.sh: ptxas reported no instantiation of $kernel" >&2; exit 1; }
mv "$out.tmp" "$out"
echo "wrote $out"
