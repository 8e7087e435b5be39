#!/usr/bin/env bash
# dev/flash-emu/run.sh [--quick | --mini] -- build the emulator of flash.cu's
# tensor-core backward kernels (emu.cc, with AddressSanitizer when ASAN=1) from
# the current common/gpu/flash.cu and run it.  No GPU needed: see emu.cc.
# A full run takes minutes on two cores (every block's threads are host
# threads meeting at barriers); --quick about four, --mini about one.
# dev/flash-emu/mutate.sh checks that the emulator catches broken kernels.
set -eu -o pipefail
here=$(cd "$(dirname "$0")" && pwd); root=$here/../..
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
python3 "$here/extract.py" "$root/common/gpu/flash.cu" > "$tmp/kernels.inc"
cp "$here/emu.cc" "$tmp/"
flags="-std=c++17 -O1 -g -ffp-contract=off -Wall -Wextra -pthread"
[ "${ASAN:-0}" = 1 ] && flags="$flags -fsanitize=address -fno-omit-frame-pointer"
g++ $flags -I"$tmp" "$tmp/emu.cc" -o "$tmp/emu"
"$tmp/emu" "$@"
