#!/usr/bin/env python3
"""bench/stall_tsv.py -- where a kernel's warps stall, from Nsight Compute's
source page (`ncu --import R --page source --csv --print-source sass`), as a
data file the prose can name:

    python3 bench/stall_tsv.py OUT.tsv NAME "DESCRIPTION" "DEVICE" "DATE" "GIT" "COMMAND" FILE.csv[.gz]

rows `kind key sass executed samples pct reason reason_pct`, each pct a
share of all samples (the page's "Warp Stall Sampling (All Samples)"):
  kind=reason  each stall reason's samples (stall_X columns, all samples,
               issued ones included as `selected`); key=unexported, the
               samples of reasons the page has no column for (on Hopper,
               some at the wgmma instructions themselves);
  kind=inst    the 12 instructions with the most samples: key is the
               instruction's index on the page, sass its text, reason the
               reason with most of its samples;
  kind=span    key=loop_wait: the most-executed `DEPBAR.LE SB0` (a
               cp.async.wait_group) and every instruction after it through
               the first branch after the next BAR.SYNC (a
               BAR.SYNC.DEFER_BLOCKING's wait is counted at a later
               instruction), summed: the wait for copies to land, the fences
               and the block's barrier at the top of a loop;
               key=tail: the first LDG.E (a plain global load) and every
               instruction after it (in these kernels, the epilogue);
               key=wgmma_wait: every WARPGROUP.DEPBAR (wgmma.wait_group);
               key=all: every sample.
Written through a temporary name; a file that is not a source page stops
it (one line, exit 1)."""
import collections
import csv
import gzip
import os
import sys


def main():
    if len(sys.argv) != 9:
        sys.exit("usage: bench/stall_tsv.py OUT.tsv NAME DESCRIPTION DEVICE DATE GIT COMMAND FILE.csv[.gz]")
    out, name, desc, device, date, git, command, path = sys.argv[1:]
    opener = gzip.open if path.endswith(".gz") else open
    rows = list(csv.reader(opener(path, "rt")))
    head = next((i for i, r in enumerate(rows) if r[:2] == ["Address", "Source"]), None)
    if head is None:
        sys.exit(f"bench/stall_tsv.py: {path}: not a source page (no Address,Source header)")
    H = rows[head]
    ix = {k: i for i, k in enumerate(H)}
    body = [r for r in rows[head + 1:] if len(r) == len(H)]
    reasons = [k for k in H if k.startswith("stall_") and "(Not Issued)" not in k]
    num = lambda r, k: int(r[ix[k]]) if r[ix[k]] not in ("", "-") else 0
    per = [collections.Counter({k[6:]: num(r, k) for k in reasons}) for r in body]
    samples = [num(r, "Warp Stall Sampling (All Samples)") for r in body]
    total = sum(samples)
    if total == 0:
        sys.exit(f"bench/stall_tsv.py: {path}: no stall samples")
    src = [r[ix["Source"]].strip() for r in body]
    ex = [num(r, "Instructions Executed") for r in body]
    out_rows = []
    tot = collections.Counter()
    for c in per:
        tot.update(c)
    tot["unexported"] = total - sum(tot.values())
    for k, v in tot.most_common():
        out_rows.append(("reason", k, "-", "-", v, 100 * v / total, k, 100.0))

    def top_reason(idx):
        c = collections.Counter()
        for i in idx:
            c.update(per[i])
        k, v = c.most_common(1)[0]
        s = sum(c.values())
        return k, (100 * v / s if s else 0)

    for i in sorted(range(len(body)), key=lambda i: -samples[i])[:12]:
        k, p = top_reason([i])
        out_rows.append(("inst", str(i), src[i], ex[i], samples[i], 100 * samples[i] / total, k, p))
    dep = [i for i in range(len(body)) if src[i].startswith("DEPBAR.LE SB0")]
    if dep:
        start = max(dep, key=lambda i: ex[i])
        end = next((j for j in range(start, len(body)) if src[j].startswith("BAR.SYNC")), start)
        end = next((j for j in range(end, len(body)) if "BRA " in src[j]), end)
        span = list(range(start, end + 1))
        k, p = top_reason(span)
        s = sum(samples[i] for i in span)
        out_rows.append(("span", "loop_wait", f"{src[start]} .. {src[end]} ({len(span)} instructions)", ex[start], s,
                         100 * s / total, k, p))
    wg = [i for i in range(len(body)) if src[i].startswith("WARPGROUP.DEPBAR")]
    if wg:
        k, p = top_reason(wg)
        s = sum(samples[i] for i in wg)
        out_rows.append(("span", "wgmma_wait", f"WARPGROUP.DEPBAR ({len(wg)} instructions)", sum(ex[i] for i in wg), s,
                         100 * s / total, k, p))
    ldg = next((i for i in range(len(body)) if src[i].startswith("LDG.E")), None)
    if ldg is not None:
        tail = list(range(ldg, len(body)))
        k, p = top_reason(tail)
        s = sum(samples[i] for i in tail)
        out_rows.append(("span", "tail", f"{src[ldg]} .. the end ({len(tail)} instructions)", ex[ldg], s,
                         100 * s / total, k, p))
    out_rows.append(("span", "all", "-", sum(ex), total, 100.0, tot.most_common(1)[0][0], 100 * tot.most_common(1)[0][1] / total))
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"# {name}: {desc}\n# command: {command}\n# device: {device}\n# date: {date}\n# git: {git}\n")
        f.write("kind\tkey\tsass\texecuted\tsamples\tpct\treason\treason_pct\n")
        for r in out_rows:
            f.write("\t".join([r[0], r[1], r[2].replace("\t", " "), str(r[3]), str(r[4]), f"{r[5]:.1f}", r[6], f"{r[7]:.1f}"]) + "\n")
    os.replace(tmp, out)
    print(f"wrote {out}: {len(out_rows)} rows, {total} samples")


if __name__ == "__main__":
    main()
