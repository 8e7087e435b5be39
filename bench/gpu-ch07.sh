#!/usr/bin/env bash
# bench/gpu-ch07.sh -- chapter 7's GPU data in one call on a lent machine
# (nvcc, PyTorch, no noweb): the tangled sources travel in build/07-attention/
# and the runtime's CUDA objects, compiled for sm_90 where the book is
# built, in build/common/gpu/; the C is compiled here, for this machine's
# processor.  Then: the runtime's GPU suite (tests/test_gpu.c), chapter 7's
# (tests/test_ch07_gpu.c), `ch07-attention cost --device cuda` and the
# PyTorch reference tangled from the chapter (ch07-torch.py), one after the
# other on an otherwise idle GPU.  Data and logs go to $OUT; BOOK_GIT and
# BOOK_DATE (set by the caller) become the data files' git and date lines.
set -u -o pipefail
cd "$(dirname "$0")/.."
out=${OUT:-build/gpu-out}
mkdir -p "$out" build/bin build/tests
export PATH=/usr/local/cuda/bin:$PATH NO_PROGRESS=1 PYTHONUNBUFFERED=1
log() { echo "[+${SECONDS}s] $*"; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
CF="-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-function -O2 -march=native -g -fopenmp -Icommon -DBOOK_ROOT=\"$PWD\""
LD="-lm -fopenmp -lpthread -L/usr/local/cuda/lib64 -Wl,-rpath,/usr/local/cuda/lib64 -lcublasLt -lcublas -lcudart -lstdc++"
log "build"
gcc $CF -DTESTING -o build/tests/test_gpu tests/test_gpu.c common/*.c build/common/gpu/*.o $LD & p1=$!
gcc $CF -DTESTING -Ibuild/07-attention -o build/tests/test_ch07_gpu tests/test_ch07_gpu.c common/*.c build/common/gpu/*.o $LD & p2=$!
gcc $CF -Ibuild/07-attention -o build/bin/ch07-attention build/07-attention/attention.c common/*.c build/common/gpu/*.o $LD & p3=$!
wait $p1 && wait $p2 && wait $p3 || { echo "build failed"; exit 1; }
rc=0
log "tests/test_gpu.c"
build/tests/test_gpu > "$out/test_gpu.log" 2>&1 || rc=1
grep -E '^FAIL|try_malloc|passed' "$out/test_gpu.log"
log "tests/test_ch07_gpu.c"
build/tests/test_ch07_gpu > "$out/test_ch07_gpu.log" 2>&1 || rc=1
grep -E '^FAIL|passed' "$out/test_ch07_gpu.log"
log "cost --device cuda"
BOOK_COMMAND="build/bin/ch07-attention cost --device cuda --out figures/data" \
  build/bin/ch07-attention cost --device cuda --out "$out" 2>&1 | tee "$out/cost.log" || rc=1
log "PyTorch: ch07-torch.py"
BOOK_COMMAND="python3 build/07-attention/ch07-torch.py figures/data" \
  python3 build/07-attention/ch07-torch.py "$out" 2>&1 | tee "$out/torch.log" || rc=1
log "done"
exit $rc
