#!/usr/bin/env python3
"""bench/s12_variants.py -- write the variants of common/gpu/flash.cu that
bench/one-call-s12-v8.sh times against the tree's, each a whole flash.cu:

    bench/variant-pn64.cu  version 8 at d 128 with P V in two products of 64
                           columns (its scores still 128 wide): the two
                           changes of version 8 told apart;
    bench/variant-bc64.cu  version 8 at d 128 with tiles of 64 keys and P V
                           128 wide: the other half;
    bench/variant-nwg3.cu  version 8 at d 64 with three warpgroups a block;
    bench/variant-grid.cu  version 7's backward grid in FlashAttention-2's
                           order (key blocks of a head side by side in x).

Run from the repository root: python3 bench/s12_variants.py.  Each edit
must match exactly once, or it stops (one line, exit 1) and writes nothing.
The files are ignored by git; stage them beside the tree (dev/GUIDE.md)."""
import sys

SRC = "common/gpu/flash.cu"
V8_128 = "flash6_forward<T, 128, 2, 128, 128>("
GRID_IDX = "    int bh = blockIdx.x, b = bh / NH, h = bh % NH, k0 = blockIdx.y * BC;"
GRID_LAUNCH = '''    dim3 grid(B * NH, (Tn + BC - 1) / BC);
    if (grid.y > 65535) die("flash_backward_cuda: T = %d needs %u key blocks, more than 65535", Tn, grid.y);
    kern<<<grid, NWG * 128, smem, g->stream>>>(dk, dv, dq_acc, dout, q, k, v, lse, dd, NH, Tn, in, out, scale, causal);
    LAUNCH_CHECK("flash7_backward");'''


def once(text, old, new, what):
    if text.count(old) != 1:
        sys.exit("s12_variants.py: %s: %d matches of %r, not 1" % (what, text.count(old), old[:60]))
    return text.replace(old, new)


def main():
    s = open(SRC).read()
    out = {
        "pn64": once(s, V8_128, "flash6_forward<T, 128, 2, 128, 64>(", "pn64"),
        "bc64": once(s, V8_128, "flash6_forward<T, 128, 2, 64, 128>(", "bc64"),
        "nwg3": once(s, "#define V8_NWG_D64 2 ", "#define V8_NWG_D64 3 ", "nwg3"),
    }
    # version 7's kernel is the second of the two kernels with heads in x (version 4's is the first)
    i = s.rfind(GRID_IDX)
    if i < 0 or s.count(GRID_IDX) != 2:
        sys.exit("s12_variants.py: grid: %d kernels with heads in x, not 2" % s.count(GRID_IDX))
    g = s[:i] + "    int bh = blockIdx.y, b = bh / NH, h = bh % NH, k0 = blockIdx.x * BC;" + s[i + len(GRID_IDX):]
    out["grid"] = once(g, GRID_LAUNCH, GRID_LAUNCH.replace("dim3 grid(B * NH, (Tn + BC - 1) / BC);",
                                                           "dim3 grid((Tn + BC - 1) / BC, B * NH);").replace(
        'if (grid.y > 65535) die("flash_backward_cuda: T = %d needs %u key blocks, more than 65535", Tn, grid.y);',
        'if (grid.y > 65535) die("flash_backward_cuda: %d sequences of %d heads are %u blocks in y, more than 65535", '
        'B, NH, grid.y);'), "grid")
    for name, text in out.items():
        with open("bench/variant-%s.cu" % name, "w") as f:
            f.write(text)
    print("wrote " + ", ".join("bench/variant-%s.cu" % n for n in out))


if __name__ == "__main__":
    main()
