#!/usr/bin/env python3
"""bench/ab_tsv.py OUT.tsv NAME DESCRIPTION COMMAND GIT RUNDIR...: the timing
rows of separate `ch12-memopt speed` runs (each RUNDIR/ch12-speed.tsv, one
process each, as bench/ch12-call.sh's AB part writes them: runN-vV/) as one
data file with a first column `run` (N, read from the folder's name), the
device and the dates read from the runs' own headers.  A run folder without
its file, or with no rows, stops it (one line); the file is written through
a temporary name."""
import os
import re
import sys


def read(path):
    head, rows = {}, []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("# "):
                k, _, v = line[2:].partition(": ")
                head[k] = v
            elif line:
                rows.append(line.split("\t"))
    if len(rows) < 2:
        sys.exit(f"bench/ab_tsv.py: {path}: no timing rows")
    return head, rows


def main():
    if len(sys.argv) < 7:
        sys.exit("usage: bench/ab_tsv.py OUT.tsv NAME DESCRIPTION COMMAND GIT RUNDIR...")
    out, name, desc, command, git, dirs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6:]
    devices, dates, body, header = set(), [], [], None
    runnum = lambda d: int(m.group(1)) if (m := re.search(r"run(\d+)-v\d+/?$", d)) else -1
    for d in sorted(dirs, key=runnum):
        m = re.search(r"run(\d+)-v\d+/?$", d)
        if not m:
            sys.exit(f"bench/ab_tsv.py: {d}: not a folder named runN-vV")
        path = os.path.join(d, "ch12-speed.tsv")
        if not os.path.exists(path):
            sys.exit(f"bench/ab_tsv.py: {path}: missing")
        head, rows = read(path)
        devices.add(head.get("device", "?"))
        dates.append(head.get("date", "?"))
        if header is None:
            header = rows[0]
        elif rows[0] != header:
            sys.exit(f"bench/ab_tsv.py: {path}: other columns than the first run's")
        body += [[m.group(1)] + r for r in rows[1:]]
    if len(devices) != 1:
        sys.exit(f"bench/ab_tsv.py: the runs name {len(devices)} devices: {sorted(devices)}")
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"# {name}: {desc}\n# command: {command}\n# device: {devices.pop()}\n")
        f.write(f"# date: {min(dates)} to {max(dates)}\n# git: {git}\n")
        f.write("\t".join(["run"] + header) + "\n")
        for r in body:
            f.write("\t".join(r) + "\n")
    os.replace(tmp, out)
    print(f"wrote {out}: {len(body)} rows from {len(dirs)} runs")


if __name__ == "__main__":
    main()
