#!/usr/bin/env python3
"""bench/compare_tsv.py -- data files that compare rows of other data files,
so that a ratio in the prose comes from a file and is not typed (a data
reference reads one row of one file).

    python3 bench/compare_tsv.py step OURS_ALL.tsv OURS_UNFUSED.tsv TORCH.tsv OUT.tsv NOTE
    python3 bench/compare_tsv.py epilogue DIR OUT.tsv NOTE
    python3 bench/compare_tsv.py bwd SPEED.tsv OUT.tsv NOTE
    python3 bench/compare_tsv.py variants DIR OUT.tsv NOTE

step: chapter 8's bench with every fusion (OURS_ALL, a ch08-bench.tsv with
ms_back_to_back; where it has the column fusions, not "none") and with
none (OURS_UNFUSED; fusions "none" where it has the column; "-": none
timed, no rows for it), against PyTorch's
(TORCH, a ch08-bench-torch.tsv), all from one device call.  For each of
ours (fusions all, none), the flash attention's batch of 16 and its largest
batch, and each timing (step: the median of steps timed one at a time;
back-to-back: the mean of as many steps run with no synchronization
between them by the timer, though our step still waits inside for its
loss and gradient norm), a row with our tokens a second (and in thousands) and its ratio to each of
PyTorch's modes, timed the same way, at 16 or at the largest batch that
mode ran (torch_batch: one number, or eager/compile/graphs where they
differ, as when eager runs out of memory first).

epilogue: chapter 12's speed experiment run in turn by a binary after a
change and one before it (DIR/after-R/ch12-speed.tsv and
DIR/before-R/ch12-speed.tsv, R = 1, 2, ...), as bench/one-call-s10-flash.sh
does.  For each shape and version, the backward pass's time (fwd+bwd less
fwd) of each round, their mean before and after, and before / after.

bwd: chapter 12's speed table (a ch12-speed.tsv): for each shape and
version, the backward pass's time (fwd+bwd less fwd, one run) and version
4's backward time over it (how many times as fast as version 4's).

variants: chapter 12's speed experiment run in turn by the tree's binary
and by binaries built with variants of flash.cu (DIR/NAME-R/ch12-speed.tsv,
NAME "tree" and each variant's, R = 1, 2, ...; a directory without the
file, a round that failed, is left out), as bench/one-call-s12-v8.sh does.
For each variant, shape, version and pass, how many rounds timed it and
each round's time, their mean, the tree's mean, and the tree's over the
variant's (above 1: the variant is faster).

OUT is written through a temporary name; its provenance lines are those of
the first input (command, device, date, git), with this command and NOTE
added.  step's three inputs must be of one call (the same git, date and
device), and each pair of rows compared of one T.  A missing file, column or row is an error (one line, exit 1)."""
import os
import sys


def die(msg):
    sys.stderr.write("compare_tsv.py: %s\n" % msg)
    sys.exit(1)


def read_tsv(path):
    """(provenance {key: value}, [row dicts]) of a data file"""
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError as e:
        die("%s: %s" % (path, e.strerror))
    prov, body = {}, []
    for line in lines:
        if line.startswith("#"):
            key, _, val = line[1:].strip().partition(":")
            prov.setdefault(key.strip(), val.strip())
        elif line.strip():
            body.append(line.split("\t"))
    if not body:
        die("%s: no header line" % path)
    head = body[0]
    return prov, [dict(zip(head, r)) for r in body[1:]]


def num(row, col, path):
    if col not in row:
        die("%s: no column %s" % (path, col))
    return float(row[col])


def pick(rows, path, **want):
    got = [r for r in rows if all(r.get(k) == str(v) for k, v in want.items())]
    if len(got) != 1:
        die("%s: %d rows where %s (want 1)" % (path, len(got), want))
    return got[0]


ALL_FUSIONS = "gelu,residual,gelu-set,bgrad"   # gpt_fusions_name(GPT_FUSE_ALL)


def step_rows(all_rows, unf_rows, torch_rows, paths):
    """[(ours, batch, torch_batch, timing, tokens_per_s, over_eager, over_compile, over_cudagraphs)]"""
    tb = [int(r["batch"]) for r in torch_rows]
    if not tb:
        die("%s: no rows" % paths[2])
    out = []
    for ours, rows, path in (("all fusions", all_rows, paths[0]), ("no fusion", unf_rows, paths[1])):
        if rows is None:   # OURS_UNFUSED given as "-"
            continue
        flash = [r for r in rows if r.get("attention") == "flash"]
        if not flash:
            die("%s: no flash rows" % path)
        for size in ("16", "largest"):
            r = pick(flash, path, batch=16) if size == "16" else max(flash, key=lambda x: int(x["batch"]))
            if size == "largest" and int(r["batch"]) == 16:   # no larger batch was timed: nothing more to compare
                continue
            fz = r.get("fusions")   # the column came in session 11; older files lack it
            if fz is not None and fz != ("none" if ours == "no fusion" else ALL_FUSIONS):
                die("%s: batch %s ran with fusions %s, but the file is read as %s" % (path, r["batch"], fz, ours))
            b, T = int(r["batch"]), int(num(r, "T", path))
            impls = ("pytorch-eager", "pytorch-compile", "pytorch-compile-cudagraphs")
            for i in impls:
                if not any(x.get("impl") == i for x in torch_rows):
                    die("%s: no rows of %s" % (paths[2], i))
            t_bs = [16 if size == "16" else max(int(x["batch"]) for x in torch_rows if x.get("impl") == i)
                    for i in impls]   # each of PyTorch's modes at 16, or at the largest batch it ran
            t_b = str(t_bs[0]) if len(set(t_bs)) == 1 else "/".join(map(str, t_bs))
            for timing, col in (("step", "ms_per_step"), ("back-to-back", "ms_back_to_back")):
                ours_tps = b * T * 1000 / num(r, col, path)
                ratios = []
                for impl, t_bi in zip(impls, t_bs):
                    tr = pick(torch_rows, paths[2], impl=impl, batch=t_bi)
                    if int(num(tr, "T", paths[2])) != T:
                        die("%s: T %s, but %s has T %d" % (paths[2], tr["T"], path, T))
                    ratios.append(ours_tps / (t_bi * T * 1000 / num(tr, col, paths[2])))
                out.append((ours, b, t_b, timing, ours_tps) + tuple(ratios))
    return out


def bwd_ms(rows, path, shape, version):
    """the backward pass's time in one speed file: fwd+bwd less fwd"""
    f = pick(rows, path, shape=shape, version=version, **{"pass": "fwd"})
    fb = pick(rows, path, shape=shape, version=version, **{"pass": "fwd+bwd"})
    return num(fb, "ms", path) - num(f, "ms", path)


def epilogue_rows(rounds):
    """rounds: {("before"|"after", R): rows}; [(shape, version, bwd ms of each round..., mean before, mean after, ratio)]"""
    keys = sorted({(r["shape"], int(r["version"])) for rows in rounds.values() for r in rows})
    out = []
    for shape, version in keys:
        per = {}
        for (when, rnd), rows in sorted(rounds.items()):
            per.setdefault(when, []).append(bwd_ms(rows, "%s-%d" % (when, rnd), shape, version))
        if set(per) != {"before", "after"}:
            die("%s version %d: not timed both before and after" % (shape, version))
        b, a = sum(per["before"]) / len(per["before"]), sum(per["after"]) / len(per["after"])
        out.append((shape, version, per["before"], per["after"], b, a, b / a))
    return out


def bwd_rows(rows, path):
    """[(shape, version, bwd ms, version 4's bwd ms / this one's)]"""
    keys = sorted({(r["shape"], int(r["version"])) for r in rows})
    bwd = {(shape, version): bwd_ms(rows, path, shape, version) for shape, version in keys}
    out = []
    for shape, version in keys:
        if (shape, 4) not in bwd:
            die("%s: no version 4 at %s" % (path, shape))
        out.append((shape, version, bwd[(shape, version)], bwd[(shape, 4)] / bwd[(shape, version)]))
    return out


def variant_rows(rounds):
    """rounds: {(NAME, R): rows}; [(variant, shape, version, pass, ms of each round, mean, tree's mean, ratio)]"""
    times = {}
    for (name, rnd), rows in sorted(rounds.items()):
        for r in rows:
            key = (name, r["shape"], int(r["version"]), r["pass"])
            times.setdefault(key, []).append(num(r, "ms", "%s-%d" % (name, rnd)))
    out = []
    for (name, shape, version, ps), ms in sorted(times.items()):
        if name == "tree":
            continue
        tree = times.get(("tree", shape, version, ps))
        if tree is None:
            die("%s %s version %d %s: the tree's binary did not time it" % (name, shape, version, ps))
        m, t = sum(ms) / len(ms), sum(tree) / len(tree)
        out.append((name, shape, version, ps, ms, m, t, t / m))
    if not out:
        die("no variant besides the tree's binary, or no rows")
    return out


def write(path, prov, title, command, note, head, rows):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("# %s: %s\n" % (os.path.basename(path)[:-4], title))
        f.write("# command: %s (the first input's command: %s)\n" % (command, prov.get("command", "?")))
        f.write("# device: %s\n# date: %s\n# git: %s\n" % (prov.get("device", "?"), prov.get("date", "?"), prov.get("git", "?")))
        f.write("# note: %s\n" % note)
        f.write("\t".join(head) + "\n")
        for r in rows:
            f.write("\t".join(r) + "\n")
    os.replace(tmp, path)


def main(argv):
    if len(argv) == 7 and argv[1] == "step":
        paths = argv[2:5]
        (prov, a), (pu, u), (pt, t) = (read_tsv(p) if p != "-" else ({}, None) for p in paths)
        for p2, pp in ((paths[1], pu), (paths[2], pt)):
            if p2 == "-":
                continue
            for key in ("git", "date"):
                if pp.get(key) != prov.get(key):
                    die("%s: %s %s, but %s has %s (not one device call)" % (p2, key, pp.get(key), paths[0], prov.get(key)))
            if pp.get("device", "").split(";")[0] != prov.get("device", "").split(";")[0]:
                die("%s: device %s, but %s has %s" % (p2, pp.get("device"), paths[0], prov.get("device")))
        rows = step_rows(a, u, t, paths)
        write(argv[5], prov, "our GPT-2 small step against PyTorch's, one device call: tokens/s and ratios",
              "python3 " + " ".join(argv[:6]), argv[6],
              ["ours", "batch", "torch_batch", "timing", "tokens_per_s", "ktokens_per_s", "over_eager", "over_compile",
               "over_cudagraphs"],
              [(o, str(b), str(tb), tm, "%.0f" % tps, "%.1f" % (tps / 1000), "%.4f" % e, "%.4f" % c, "%.4f" % g)
               for o, b, tb, tm, tps, e, c, g in rows])
        return 0
    if len(argv) == 5 and argv[1] == "bwd":
        prov, rows = read_tsv(argv[2])
        out = bwd_rows(rows, argv[2])
        write(argv[3], prov, "backward pass (fwd+bwd - fwd), ms, of each version, and version 4's over it",
              "python3 " + " ".join(argv[:4]), argv[4], ["shape", "version", "bwd_ms", "over_v4"],
              [(sh, str(v), "%.4f" % b, "%.4f" % r) for sh, v, b, r in out])
        return 0
    if len(argv) == 5 and argv[1] == "epilogue":
        d = argv[2]
        rounds, prov = {}, None
        for name in sorted(os.listdir(d)) if os.path.isdir(d) else die("%s: not a directory" % d):
            when, _, rnd = name.partition("-")
            if when in ("before", "after") and rnd.isdigit() and os.path.isdir(os.path.join(d, name)):
                p, rows = read_tsv(os.path.join(d, name, "ch12-speed.tsv"))
                rounds[(when, int(rnd))] = rows
                prov = prov or p
        if not rounds:
            die("%s: no before-R or after-R directories" % d)
        rows = epilogue_rows(rounds)
        n = max(len(r[2]) for r in rows)
        if any(len(r[2]) != n or len(r[3]) != n for r in rows):
            die("%s: not as many rounds before as after for every shape and version" % d)
        write(argv[3], prov, "backward pass (fwd+bwd - fwd), ms, with chapter 12's dK/dV epilogue before and after its change",
              "python3 " + " ".join(argv[:4]), argv[4],
              ["shape", "version"] + ["before_%d" % (i + 1) for i in range(n)] + ["after_%d" % (i + 1) for i in range(n)]
              + ["before_ms", "after_ms", "speedup"],
              [(s, str(v)) + tuple("%.4f" % x for x in bs) + tuple("%.4f" % x for x in as_) + ("%.4f" % b, "%.4f" % a, "%.4f" % r)
               for s, v, bs, as_, b, a, r in rows])
        return 0
    if len(argv) == 5 and argv[1] == "variants":
        d = argv[2]
        rounds, prov = {}, None
        for name in sorted(os.listdir(d)) if os.path.isdir(d) else die("%s: not a directory" % d):
            base, _, rnd = name.rpartition("-")
            if base and rnd.isdigit() and os.path.isfile(os.path.join(d, name, "ch12-speed.tsv")):
                p, rows = read_tsv(os.path.join(d, name, "ch12-speed.tsv"))
                rounds[(base, int(rnd))] = rows
                if base == "tree" and int(rnd) == 1:
                    prov = p
        if prov is None:
            die("%s: no tree-1 directory (the tree's binary, first round)" % d)
        rows = variant_rows(rounds)
        write(argv[3], prov, "chapter 12's speed experiment with variants of flash.cu against the tree's, ms, in turn",
              "python3 " + " ".join(argv[:4]), argv[4],
              ["variant", "shape", "version", "pass", "rounds", "ms_each", "ms", "tree_ms", "tree_over"],
              [(v, sh, str(ver), ps, str(len(ms)), ",".join("%.4f" % x for x in ms), "%.4f" % m, "%.4f" % t, "%.4f" % r)
               for v, sh, ver, ps, ms, m, t, r in rows])
        return 0
    sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
