#!/usr/bin/env python3
"""bench/s14_variants.py -- write the variants of common/gpu/flash.cu that
bench/one-call-s14.sh times against the tree's (AB step), each a whole
flash.cu:

    bench/variant-sector.cu  load_tile_core_by with each quarter of a warp
                             (8 lanes) copying 4 rows x 32 bytes, whole
                             sectors of global memory, instead of 8 rows x
                             16 bytes (half sectors); its writes to shared
                             memory then meet in pairs on the same banks
                             (versions 5 to 9 load this way);
    bench/variant-v9pn64.cu  version 9 at d 128 with P V in two products of
                             64 columns.

Run from the repository root: python3 bench/s14_variants.py.  Each edit
must match exactly once, or it stops (one line, exit 1) and writes nothing.
The files are ignored by git; stage them beside the tree (dev/GUIDE.md)."""
import sys

SRC = "common/gpu/flash.cu"
MAP_OLD = """        int r = i / D * 8 + i % 8, c = i / 8 % (D / 8) * 8, row = row0 + r;
        bool ok = row < Tn;
        cp_async16(dst + i * 8, ok ? src + row * ld + c : src, ok);"""
MAP_NEW = """        int p = i % D, rr = p % 8 / 2 + 4 * (p / 8 % 2), cc = p / 16 * 2 + p % 2;
        int r = i / D * 8 + rr, c = cc * 8, row = row0 + r;
        bool ok = row < Tn;
        cp_async16(dst + (i / D * D + cc * 8 + rr) * 8, ok ? src + row * ld + c : src, ok);"""


def once(text, old, new, what):
    if text.count(old) != 1:
        sys.exit("s14_variants.py: %s: %d matches of %r, not 1" % (what, text.count(old), old[:60]))
    return text.replace(old, new)


def main():
    s = open(SRC).read()
    out = {
        "sector": once(s, MAP_OLD, MAP_NEW, "sector"),
        "v9pn64": once(s, "flash9_forward<T, 128, 2, 128, 128, false>(", "flash9_forward<T, 128, 2, 128, 64, false>(", "v9pn64"),
    }
    for name, text in out.items():
        with open("bench/variant-%s.cu" % name, "w") as f:
            f.write(text)
        print("bench/variant-%s.cu" % name)


if __name__ == "__main__":
    main()
