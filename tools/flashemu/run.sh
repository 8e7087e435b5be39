#!/usr/bin/env bash
# tools/flashemu/run.sh FLASH_CU [INTERNAL_CUH] -- run tests/test_flash_emu's
# cases (no mutants) on another copy of flash.cu, e.g. another branch's,
# under the CPU emulator; each case is printed.  Run from the repository
# root after `make build/12-memopt/.tangled build/libcommon-cpu.a`.
# FLASH_EMU_VERSIONS=N or M-N checks those versions (default: all that the
# file's flash_check accepts); FLASH_EMU_ONLY=orig
# is set, so every case is printed; FLASH_EMU_SHAPES=B:H:T,... other shapes;
# ASAN=1 builds with AddressSanitizer (a kernel reading or writing past a
# buffer stops it).
set -euo pipefail
src=${1:?usage: tools/flashemu/run.sh FLASH_CU [INTERNAL_CUH]}
internal=${2:-common/gpu/internal.cuh}
dir=$(mktemp -d /tmp/flashemu-XXXXXX)
trap 'rm -rf "$dir"' EXIT
san=""
[ "${ASAN:-0}" = 1 ] && san="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all"
flags="-std=c++17 -O2 -g -fno-strict-aliasing -Wall -Wextra -Wno-unused-function -Wno-unused-parameter -Wno-unused-variable -Wno-psabi -Icommon -Itools/flashemu $san"
python3 tools/flashemu/gen.py "$src" "$internal" "$dir/orig.cpp" --prefix emu_orig
${CXX:-g++} $flags -c "$dir/orig.cpp" -o "$dir/orig.o"
${CXX:-g++} $flags -c tools/flashemu/emu.cpp -o "$dir/emu.o"
python3 tools/flashemu/gen.py tools/flashemu/mbar_test.cu "$internal" "$dir/mbar.cpp" --prefix emu_mbart
${CXX:-g++} $flags -c "$dir/mbar.cpp" -o "$dir/mbar.o"
python3 tools/flashemu/gen.py tools/flashemu/tma_test.cu "$internal" "$dir/tma.cpp" --prefix emu_tmat
${CXX:-g++} $flags -c "$dir/tma.cpp" -o "$dir/tma.o"
${CC:-gcc} -std=c11 -D_GNU_SOURCE -O2 -g -Icommon -Ibuild/12-memopt -DTESTING -DFLASH_EMU_NO_MUTANTS \
  $san -DBOOK_ROOT="\"$PWD\"" -o "$dir/test_flash_emu" tests/test_flash_emu.c "$dir/emu.o" "$dir/mbar.o" "$dir/tma.o" "$dir/orig.o" \
  build/libcommon-cpu.a -lm -lpthread -lstdc++ -fopenmp
FLASH_EMU_ONLY=orig "$dir/test_flash_emu"
