#!/usr/bin/env python3
"""bench/ncu_tsv.py -- the numbers the chapter quotes from an Nsight Compute
details page (`ncu --import R --page details`), as a data file:

    python3 bench/ncu_tsv.py DETAILS.txt OUT.tsv "DEVICE" "DATE" "GIT" "COMMAND"

writes OUT.tsv (through a temporary name) with the book's provenance header
and rows `metric value unit`: the throughputs (sm_pct, l2_pct, dram_pct),
the schedulers' (eligible_warps, issue_pct: cycles with a warp eligible),
the L2 cache's hit rate (l2_hit_pct), the cycles an SM was active on
average and the launch's elapsed cycles (sm_active_cycles, elapsed_cycles),
and from them the share of the launch an SM stood idle (sm_idle_pct),
duration_ms, registers, and the source counters' excess rule
(global_sectors, global_sectors_excess, shared_wavefronts,
shared_wavefronts_excess; left out when the page has no such rule, which
fires only where it finds excess).  A metric the page lacks stops it (one line,
exit 1), and nothing is written."""
import os
import re
import sys

TABLE = {   # details-page metric name -> (key, unit)
    "Compute (SM) Throughput": ("sm_pct", "%"),
    "L2 Cache Throughput": ("l2_pct", "%"),
    "DRAM Throughput": ("dram_pct", "%"),
    "Eligible Warps Per Scheduler": ("eligible_warps", "warp"),
    "One or More Eligible": ("issue_pct", "%"),
    "Duration": ("duration", None),
    "Registers Per Thread": ("registers", "register/thread"),
    "Local Memory Spilling Requests": ("spill_requests", "requests"),
    "L2 Hit Rate": ("l2_hit_pct", "%"),
    "SM Active Cycles": ("sm_active_cycles", "cycle"),
    "Elapsed Cycles": ("elapsed_cycles", "cycle"),
}


def main():
    if len(sys.argv) != 7:
        sys.exit("usage: ncu_tsv.py DETAILS.txt OUT.tsv DEVICE DATE GIT COMMAND")
    src, out, device, date, git, command = sys.argv[1:]
    text = open(src).read()
    rows = {}
    for line in text.splitlines():
        for name, (key, unit) in TABLE.items():
            m = re.match(r"\s+%s\s+(?:(\S+)\s+)?([\d,.]+)\s*$" % re.escape(name), line)   # a count has no unit
            if m and key not in rows:
                u, v = m.group(1) or unit, float(m.group(2).replace(",", ""))
                if key == "duration":
                    v, u, key = (v / 1000, "ms", "duration_ms") if u == "us" else (v, u, "duration_ms")
                rows[key] = (v, u)
    flat = " ".join(text.split())
    for kind, what in (("global", "sectors"), ("shared", "wavefronts")):
        m = re.search(r"uncoalesced %s accesses resulting in a total of (\d+) excessive %s \(\d+%% of the total (\d+) %s\)"
                      % (kind, what, what), flat)
        if m:
            rows["%s_%s_excess" % (kind, what)] = (float(m.group(1)), what)
            rows["%s_%s" % (kind, what)] = (float(m.group(2)), what)
    if "sm_active_cycles" in rows and "elapsed_cycles" in rows:   # the share of the launch an SM stood idle, on average
        rows["sm_idle_pct"] = (round(100 * (1 - rows["sm_active_cycles"][0] / rows["elapsed_cycles"][0]), 2), "%")
    want = [k for k, _ in TABLE.values() if k != "duration"] + ["sm_idle_pct", "duration_ms", "global_sectors",
                                                               "global_sectors_excess", "shared_wavefronts",
                                                               "shared_wavefronts_excess"]
    for kind, what in (("global", "sectors"), ("shared", "wavefronts")):   # a rule that did not fire: no rows
        if "%s_%s" % (kind, what) not in rows and ("uncoalesced %s accesses" % kind) not in flat:
            want = [k for k in want if not k.startswith("%s_%s" % (kind, what))]
    missing = [k for k in want if k not in rows]
    if missing:
        sys.exit("ncu_tsv.py: %s: no %s" % (src, ", ".join(missing)))
    kernel = next((l.strip() for l in text.splitlines() if "_kernel<" in l), "?")
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        f.write("# %s: Nsight Compute, one launch of %s (details page, --set full, clocks not locked)\n"
                % (os.path.basename(out)[:-4], kernel.split("(T1")[0]))
        f.write("# command: %s\n# device: %s\n# date: %s\n# git: %s\n" % (command, device, date, git))
        f.write("metric\tvalue\tunit\n")
        for k in want:
            v, u = rows[k]
            f.write("%s\t%s\t%s\n" % (k, ("%d" % v) if v == int(v) else ("%g" % v), u))
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
