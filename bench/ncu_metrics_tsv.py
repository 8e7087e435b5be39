#!/usr/bin/env python3
"""bench/ncu_metrics_tsv.py OUT.tsv NAME DESCRIPTION COMMAND GIT DEVICE DATE LOG:VERSION...: the kernels that
`ncu --metrics ...` printed (its text page, one block a launch: the kernel's line, then `name unit value`
rows) as one data file, a row a launch and metric: version (the one given with its log), launch (1, 2, ...
in the log's order), kernel (the name before its template arguments), metric, unit, value (thousands'
commas dropped).  A log with no launches stops it (one line); written through a temporary name."""
import os
import re
import sys


def launches(path):
    out, cur = [], None
    with open(path) as f:
        for line in f:
            m = re.match(r"^  (?:void )?([A-Za-z_][A-Za-z0-9_]*)[<(]", line)
            if m and "Context" in line:
                cur = [m.group(1), []]
                out.append(cur)
                continue
            m = re.match(r"^    ([a-z_]+__[a-z0-9_.]+)\s+(\S.*?)?\s+([0-9][0-9,.]*)$", line)
            if cur and m:
                cur[1].append((m.group(1), (m.group(2) or "").strip() or "-", m.group(3).replace(",", "")))
    return out


def main():
    if len(sys.argv) < 9:
        sys.exit("usage: bench/ncu_metrics_tsv.py OUT.tsv NAME DESCRIPTION COMMAND GIT DEVICE DATE LOG:VERSION...")
    out, name, desc, command, git, device, date = sys.argv[1:8]
    rows = []
    for arg in sys.argv[8:]:
        path, _, version = arg.rpartition(":")
        ls = launches(path)
        if not ls:
            sys.exit(f"bench/ncu_metrics_tsv.py: {path}: no launches")
        for i, (kernel, metrics) in enumerate(ls, 1):
            rows += [[version, str(i), kernel, m, u, v] for m, u, v in metrics]
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"# {name}: {desc}\n# command: {command}\n# device: {device}\n# date: {date}\n# git: {git}\n")
        f.write("version\tlaunch\tkernel\tmetric\tunit\tvalue\n")
        for r in rows:
            f.write("\t".join(r) + "\n")
    os.replace(tmp, out)
    print(f"wrote {out}: {len(rows)} rows")


if __name__ == "__main__":
    main()
