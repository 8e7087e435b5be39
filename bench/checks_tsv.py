#!/usr/bin/env python3
"""bench/checks_tsv.py OUT.tsv NAME DESCRIPTION LOGDIR...: the pass and fail
counts of the GPU suite (test-ch12-gpu.txt) and of its runs under
compute-sanitizer (racecheck.txt, memcheck.txt) in each device call's log
folder (bench/logs/sNN-TREE-DEVICE/), as a data file the prose can name, so
that the counts it quotes are read from the logs, not typed.  Columns: tree
(the folder's), suite, passed, failed, reports (racecheck's hazards,
memcheck's errors; - for the suite itself).  A log without its closing
line is left out; a folder with none of the three is refused, and so is a
sanitizer log with counts but no summary.  The file is rewritten from the
folders given: to add a call, rerun the command in its header with the new
folder at the end."""
import os, re, shlex, sys

def main():
    if len(sys.argv) < 5:
        sys.exit("usage: bench/checks_tsv.py OUT.tsv NAME DESCRIPTION LOGDIR...")
    out, name, desc, dirs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    rows, devices, dates = [], set(), []
    for d in dirs:
        m = re.match(r"s\d+[a-z]?-([0-9a-f]{7,})-", os.path.basename(d.rstrip("/")))
        if not m:
            sys.exit(f"{d}: not a log folder named sNN-TREE-DEVICE")
        if not os.path.isdir(d):
            sys.exit(f"{d}: no such folder")
        tree, found = m.group(1), 0
        call = os.path.join(d, "call.txt")
        if os.path.exists(call):
            lines = open(call).read().splitlines()
            if lines and re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\dZ", lines[0]):
                dates.append(re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\dZ", lines[0]).group(0))
            if len(lines) > 1:
                devices.add(lines[1].split(",")[0].strip())
        for suite, fname, rep in (("test_ch12_gpu", "test-ch12-gpu.txt", None),
                                  ("racecheck", "racecheck.txt", r"RACECHECK SUMMARY: (\d+) hazards?"),
                                  ("memcheck", "memcheck.txt", r"ERROR SUMMARY: (\d+) errors?")):
            p = os.path.join(d, fname)
            if os.path.exists(p):
                text = open(p, errors="replace").read()
            elif os.path.exists(call):      # the call's own line: "== racecheck: N passed, N failed ... SUMMARY ..."
                line = re.findall("^== " + re.escape(fname[:-4]) + ": (.*)$", open(call).read(), re.M)
                text = line[-1].replace(" failed ", " failed\n") if line else ""
            else:
                continue
            counts = re.findall(r"^(\d+) passed, (\d+) failed$", text, re.M)
            if not counts:
                continue
            reports = ""
            if rep:
                r = re.findall(rep, text)
                if not r:
                    sys.exit(f"{p if os.path.exists(p) else call}: {suite}'s counts but no summary line")
                reports = r[-1]
            if any(x[0] == tree and x[1] == suite for x in rows):
                sys.exit(f"{d}: tree {tree}'s {suite} is in two folders")
            rows.append((tree, suite, counts[-1][0], counts[-1][1], reports or "-"))
            found += 1
        if not found:
            sys.exit(f"{d}: no suite log with its closing line")
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"# {name}: {desc}\n")
        f.write("# command: " + " ".join(shlex.quote(a) for a in ["bench/checks_tsv.py"] + sys.argv[1:]) + "\n")
        f.write(f"# device: cuda ({', '.join(sorted(devices)) or 'unknown'})\n")
        f.write(f"# date: {', '.join(sorted(set(dates))) or 'unknown'}\n")
        f.write(f"# git: {', '.join(dict.fromkeys(r[0] for r in rows))} (the trees the calls ran)\n")
        f.write("tree\tsuite\tpassed\tfailed\treports\n")
        for r in rows:
            f.write("\t".join(r) + "\n")
    os.replace(tmp, out)

if __name__ == "__main__":
    main()
