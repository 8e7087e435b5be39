#!/usr/bin/env python3
"""bench/sass_tsv.py -- what the chapter quotes from Nsight Compute's source
page (`ncu --import R --page source --csv --print-source sass`), as a data
file: for each LABEL=CSV given, the warp-level instructions the kernel
executed, in all and by kind of instruction (its SASS opcode), and the
stall samples:

    python3 bench/sass_tsv.py OUT.tsv "DEVICE" "DATE" "GIT" "COMMAND" LABEL=FILE.csv ...

rows `kernel metric value`: inst (all), inst_ldgsts (cp.async), inst_tma
(UTMALDG, the bulk tensor copy), inst_syncs (the mbarriers' instructions:
arrive, try_wait), inst_bra, inst_hgmma (wgmma), inst_mufu (exp2),
inst_int (IMAD, IADD3, LEA, SHF, LOP3, ISETP, VIADD and their uniform U-
forms: address and index arithmetic), inst_trywait (SYNCS.PHASECHK, one
poll of an mbarrier's phase each) and samples (warp stall samples, all);
and each inst_X again as pct_inst_X, a percentage of inst; and
ldgsts_{sectors,sectors_ideal,wavefronts,wavefronts_ideal}_per_warp: a
cp.async warp instruction's global sectors and shared-memory wavefronts,
as counted and as the profiler's ideal; ldgsts_top_n, the cp.async
instructions executed most often (the same count: a kernel's loop), and
ldgsts_top_{sectors,...}_per_warp, the same four for those alone.  Written through a temporary name; a file that
is not a source page stops it (one line, exit 1)."""
import csv
import os
import sys

INT = {"IMAD", "IADD3", "LEA", "SHF", "LOP3", "ISETP", "VIADD", "IADD", "IMAD.WIDE"}


def opcode(src):
    w = src.split()
    if w and w[0].startswith("@"):
        w = w[1:]
    return w[0].split(".")[0] if w else ""


def summarize(path):
    rows = list(csv.reader(open(path)))
    head = next((i for i, r in enumerate(rows) if r[:2] == ["Address", "Source"]), None)
    if head is None:
        sys.exit("sass_tsv.py: %s: not an ncu source page (no Address, Source header)" % path)
    h = {n: i for i, n in enumerate(rows[head])}

    def num(r, c):
        try:
            return float(r[h[c]].replace(",", ""))
        except (ValueError, IndexError):
            return 0.0

    out = {k: 0.0 for k in ("inst", "inst_ldgsts", "inst_tma", "inst_syncs", "inst_bra", "inst_hgmma", "inst_mufu",
                            "inst_int", "inst_trywait", "inst_fmul", "inst_ffma", "inst_fsetp", "inst_fsel", "samples")}
    per = {k: 0.0 for k in ("sectors", "sectors_ideal", "wavefronts", "wavefronts_ideal")}
    for r in rows[head + 1:]:
        if len(r) < 3:
            continue
        op, e, smp = opcode(r[1]), num(r, "Instructions Executed"), num(r, "Warp Stall Sampling (All Samples)")
        base = op[1:] if op.startswith("U") and op[1:] in INT else op
        out["inst"] += e
        out["samples"] += smp
        key = {"LDGSTS": "inst_ldgsts", "UTMALDG": "inst_tma", "SYNCS": "inst_syncs", "BRA": "inst_bra",
               "HGMMA": "inst_hgmma", "MUFU": "inst_mufu", "FMUL": "inst_fmul", "FFMA": "inst_ffma",
               "FSETP": "inst_fsetp", "FSEL": "inst_fsel"}.get(op)
        if key:
            out[key] += e
        if base in INT:
            out["inst_int"] += e
        if r[1].split()[-4:] and "SYNCS.PHASECHK" in r[1]:
            out["inst_trywait"] += e
        if op == "LDGSTS":
            per["sectors"] += num(r, "L2 Theoretical Sectors Global")
            per["sectors_ideal"] += num(r, "L2 Theoretical Sectors Global Ideal")
            per["wavefronts"] += num(r, "L1 Wavefronts Shared")
            per["wavefronts_ideal"] += num(r, "L1 Wavefronts Shared Ideal")
    for k, v in per.items():   # a cp.async warp instruction's sectors and shared wavefronts, counted and ideal
        out["ldgsts_%s_per_warp" % k] = v / out["inst_ldgsts"] if out["inst_ldgsts"] else 0.0
    # the cp.async instructions executed most often (a kernel's loop), apart: how many, and the same per warp
    ld = [r for r in rows[head + 1:] if len(r) >= 3 and opcode(r[1]) == "LDGSTS"]
    most = max((num(r, "Instructions Executed") for r in ld), default=0.0)
    top = [r for r in ld if most and num(r, "Instructions Executed") == most]
    out["ldgsts_top_n"] = float(len(top))
    for k, c in (("sectors", "L2 Theoretical Sectors Global"), ("sectors_ideal", "L2 Theoretical Sectors Global Ideal"),
                 ("wavefronts", "L1 Wavefronts Shared"), ("wavefronts_ideal", "L1 Wavefronts Shared Ideal")):
        out["ldgsts_top_%s_per_warp" % k] = sum(num(r, c) for r in top) / (most * len(top)) if top else 0.0
    return out


def main():
    if len(sys.argv) < 7:
        sys.exit("usage: sass_tsv.py OUT.tsv DEVICE DATE GIT COMMAND LABEL=FILE.csv ...")
    out, device, date, git, command = sys.argv[1:6]
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        f.write("# %s: Nsight Compute's source page, the instructions executed and the stall samples, by kind of "
                "instruction\n" % os.path.basename(out)[:-4])
        f.write("# command: %s\n# device: %s\n# date: %s\n# git: %s\n" % (command, device, date, git))
        f.write("kernel\tmetric\tvalue\n")
        for arg in sys.argv[6:]:
            label, path = arg.split("=", 1)
            got = summarize(path)
            for k, v in got.items():
                f.write("%s\t%s\t%s\n" % (label, k, ("%d" % v) if v == int(v) else ("%.2f" % v)))
            for k, v in got.items():   # the same, as percentages of all instructions
                if k.startswith("inst_"):
                    f.write("%s\tpct_%s\t%.2f\n" % (label, k, 100 * v / got["inst"]))
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
