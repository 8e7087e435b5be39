#!/usr/bin/env bash
# bench/gpu-ch09.sh -- chapter 9's GPU work in one call on a lent machine
# (nvcc, no noweb): the tangled sources travel in build/09-positions/ with
# the chapter's kernels and the runtime's CUDA objects compiled for sm_90
# where the book is built (build/09-positions/positions_kernels.cu.o,
# build/common/gpu/*.o); the C is compiled here.  Then, on an otherwise idle
# GPU: tests/test_ch09_gpu.c; the same suite under compute-sanitizer's
# memcheck (beside the races, fewer steps: CH09_GPU_SANITIZE); `agree`; and
# the race at T = 64 and T = 128, in two processes at once (each is mostly
# kernel launches, which leaves the GPU idle half the time).  Data go to
# $OUT/data.tar, logs to $OUT/log.txt; BOOK_GIT and BOOK_DATE (set by the
# caller) become the data files' git and date lines.
set -u -o pipefail
cd "$(dirname "$0")/.."
out=${OUT:-build/gpu-out}
mkdir -p "$out" build/bin build/tests build/gpu-data
export PATH=/usr/local/cuda/bin:$PATH NO_PROGRESS=1
log() { echo "[+${SECONDS}s] $*"; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
CF="-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-function -O2 -march=native -g -fopenmp -Icommon -DBOOK_ROOT=\"$PWD\""
LD="-lm -fopenmp -lpthread -L/usr/local/cuda/lib64 -Wl,-rpath,/usr/local/cuda/lib64 -lcublasLt -lcublas -lcudart -lstdc++"
OBJ="build/09-positions/positions_kernels.cu.o build/common/gpu/*.o"
log "build"
gcc $CF -DTESTING -Ibuild/09-positions -o build/tests/test_ch09_gpu tests/test_ch09_gpu.c common/*.c $OBJ $LD & p1=$!
gcc $CF -Ibuild/09-positions -o build/bin/ch09-positions build/09-positions/positions.c common/*.c $OBJ $LD & p2=$!
wait $p1 && wait $p2 || { echo "build failed"; exit 1; }
rc=0
log "tests/test_ch09_gpu.c"
build/tests/test_ch09_gpu > build/gpu-data/test.log 2>&1 || rc=1
grep -E '^FAIL|passed' build/gpu-data/test.log
log "memcheck and agree (in the background)"
(CH09_GPU_SANITIZE=1 timeout "${SANITIZE_S:-150}" compute-sanitizer --tool memcheck --leak-check full --error-exitcode 1 \
   build/tests/test_ch09_gpu > build/gpu-data/memcheck.log 2>&1; echo "memcheck exit $?" >> build/gpu-data/memcheck.log) & m=$!
BOOK_COMMAND="build/bin/ch09-positions agree --device cuda --out figures/data" \
  build/bin/ch09-positions agree --device cuda --out build/gpu-data > build/gpu-data/agree.log 2>&1 & a=$!
log "race, T = 64 and T = 128"
for T in 64 128; do
  BOOK_COMMAND="build/bin/ch09-positions race --device cuda --context $T --out figures/data" \
    timeout "${RACE_S:-200}" build/bin/ch09-positions race --device cuda --context $T --out build/gpu-data \
    > build/gpu-data/race-$T.log 2>&1 & eval r$T=$!
done
wait $r64 || rc=1; log "race 64 done"
wait $r128 || rc=1; log "race 128 done"
wait $a || rc=1; cat build/gpu-data/agree.log
wait $m
tail -4 build/gpu-data/memcheck.log; grep -E '^FAIL|passed' build/gpu-data/memcheck.log
cat build/gpu-data/race-64.log build/gpu-data/race-128.log | grep -v '^$' | tail -30
log "done, exit $rc"
(cd build/gpu-data && tar cf - *.tsv) > "$out/data.tar"
for f in build/gpu-data/*.log; do echo "==== $f"; cat "$f"; done > "$out/log.txt"
exit $rc
