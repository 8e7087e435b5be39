#!/usr/bin/env bash
# dev/flash-emu/mutate.sh -- does the emulator notice a wrong kernel?  Each
# mutation below breaks version 4's backward kernel in one place (a copy of
# common/gpu/flash.cu, in a scratch directory); the emulator (--mini) must
# fail on every one.  Prints one line per mutation.
set -u -o pipefail
here=$(cd "$(dirname "$0")" && pwd); root=$here/../..
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mutations=(
  'if (q0 + BR < Tn) load_query_tile(q0 + BR, s ^ 1);|if (q0 + BR < Tn) load_query_tile(q0 + BR, s);|prefetch into the stage being read'
  'cp_async_wait<1>();                                /* all but|cp_async_wait<2>();                                /* all but|wait for one group too few'
  'int rg = warp % RG, cg = warp / RG, nkc = min(NW, (kend - k0 + 15) / 16);|int rg = warp % RG, cg = warp / RG, nkc = NW;|dQ reads the skipped warps'"'"' dS rows'
  'if (k0 + warp * 16 < kend) {|if (k0 + warp * 16 < kend - 16) {|a warp skipped that sees the tile'
  'cp_async4(l2 + s * BR + r, lse + x, ok);|cp_async4(l2 + (s ^ 1) * BR + r, lse + x, ok);|lse into the other stage'
  'atomic_add2(dst + dt * 8, dqa[dt][2 * r], dqa[dt][2 * r + 1]);|atomic_add2(dst + dt * 8, dqa[dt][2 * r + 1], dqa[dt][2 * r]);|dQ pair swapped'
)
fails=0
for m in "${mutations[@]}"; do
  IFS='|' read -r from to what <<< "$m"
  python3 - "$root/common/gpu/flash.cu" "$tmp/flash.cu" "$from" "$to" <<'PY' || { echo "mutation not applied: $what"; fails=$((fails+1)); continue; }
import sys
s = open(sys.argv[1]).read()
i = s.index("flash4_backward_kernel(")          # only inside version 4's kernel
head, tail = s[:i], s[i:]
if tail.count(sys.argv[3]) != 1: sys.exit(1)
open(sys.argv[2], "w").write(head + tail.replace(sys.argv[3], sys.argv[4]))
PY
  python3 "$here/extract.py" "$tmp/flash.cu" > "$tmp/kernels.inc" && cp "$here/emu.cc" "$tmp/" &&
    g++ -std=c++17 -O1 -ffp-contract=off -pthread -I"$tmp" "$tmp/emu.cc" -o "$tmp/emu" || { echo "build failed: $what"; fails=$((fails+1)); continue; }
  if "$tmp/emu" --mini > "$tmp/log" 2>&1; then echo "NOT CAUGHT: $what"; fails=$((fails+1))
  else echo "caught: $what ($(grep -c '^FAIL' "$tmp/log") failing lines)"; fi
done
exit $((fails > 0))
