#!/usr/bin/env python3
"""tests/test_compare_tsv.py: bench/compare_tsv.py, which writes the data
files of ratios between other data files (chapter 8's step against
PyTorch's, chapter 12's backward pass before and after a change).

On small files written here, whose answers are worked by hand: a step of
10 ms at a batch of 16 against PyTorch's 20 ms is 1,638,400 tokens a second
and a ratio of 2; the largest batch is matched with PyTorch's largest; the
back-to-back columns are used for the back-to-back rows; before/after is
the mean over the rounds of (fwd+bwd - fwd); a variant's mean against the
tree's.  Then the errors: a missing
column or row, an empty directory, each one line on stderr and exit 1,
and no file (nor its temporary) left behind; inputs of two calls (another
git line) and rows of different T refused; T read from the files.  The closing line is
"N passed, N failed"."""
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pycheck import Checks  # noqa: E402

check = Checks()
SCRIPT = os.path.join(ROOT, "bench", "compare_tsv.py")
PROV = "# x: title\n# command: cmd\n# device: cuda (Test GPU)\n# date: 2026-12-05T00:00Z\n# git: abc1234\n"


def write(path, head, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(PROV + "\t".join(head) + "\n" + "".join("\t".join(map(str, r)) + "\n" for r in rows))


def run(*args):
    p = subprocess.run([sys.executable, SCRIPT] + list(args), capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def read(path):
    lines = [l for l in open(path).read().splitlines() if not l.startswith("#")]
    head = lines[0].split("\t")
    return [dict(zip(head, l.split("\t"))) for l in lines[1:]], open(path).read()


def near(a, b):
    return abs(float(a) - b) <= 1e-3 * max(1.0, abs(b))


with tempfile.TemporaryDirectory() as d:
    ours_h = ["impl", "attention", "batch", "T", "ms_per_step", "tokens_per_s", "ms_back_to_back"]
    write(f"{d}/all.tsv", ours_h, [("ours", "plain", 16, 1024, 99, 0, 99), ("ours", "flash", 16, 1024, 10, 0, 8),
                                   ("ours", "flash", 128, 1024, 100, 0, 100)])
    write(f"{d}/none.tsv", ours_h, [("ours", "flash", 16, 1024, 20, 0, 20), ("ours", "flash", 64, 1024, 50, 0, 50)])
    th = ["impl", "batch", "T", "ms_per_step", "ms_back_to_back"]
    write(f"{d}/torch.tsv", th, [("pytorch-eager", 16, 1024, 40, 40), ("pytorch-compile", 16, 1024, 20, 16),
                                 ("pytorch-compile-cudagraphs", 16, 1024, 10, 10),
                                 ("pytorch-eager", 64, 1024, 100, 100), ("pytorch-compile", 64, 1024, 50, 50),
                                 ("pytorch-compile-cudagraphs", 64, 1024, 40, 40)])
    rc, _, err = run("step", f"{d}/all.tsv", f"{d}/none.tsv", f"{d}/torch.tsv", f"{d}/out.tsv", "a note")
    check(rc == 0, "step: exit 0 (stderr %r)" % err)
    rows, text = read(f"{d}/out.tsv")
    check(len(rows) == 8, "step: 8 rows (2 configurations x 2 batches x 2 timings), got %d" % len(rows))
    r = {(x["ours"], x["batch"], x["timing"]): x for x in rows}
    a = r.get(("all fusions", "16", "step"), {})
    check(near(a.get("tokens_per_s", 0), 1638400), "step: 16 x 1024 tokens in 10 ms is 1,638,400 a second")
    check(near(a.get("over_eager", 0), 4.0) and near(a.get("over_compile", 0), 2.0) and near(a.get("over_cudagraphs", 0), 1.0),
          "step: ratios 40/10, 20/10, 10/10 (%s)" % a)
    b = r.get(("all fusions", "16", "back-to-back"), {})
    check(near(b.get("over_compile", 0), 2.0) and near(b.get("tokens_per_s", 0), 16 * 1024 * 1000 / 8),
          "step: back to back uses ms_back_to_back on both sides (16/8) (%s)" % b)
    c = r.get(("all fusions", "128", "step"), {})
    check(c.get("torch_batch") == "64" and near(c.get("over_cudagraphs", 0), (128 / 100) / (64 / 40)),
          "step: the largest batch (128) against PyTorch's largest (64): (128/100)/(64/40) (%s)" % c)
    n = r.get(("no fusion", "64", "step"), {})
    check(near(n.get("over_eager", 0), (64 / 50) / (64 / 100)), "step: the unfused file's own largest batch (%s)" % n)
    check("# note: a note" in text and "# device: cuda (Test GPU)" in text and "# git: abc1234" in text,
          "step: the note and the first input's provenance are in the output")
    check(not os.path.exists(f"{d}/out.tsv.tmp"), "step: no temporary file left")

    sh = ["shape", "B", "H", "T", "d", "version", "pass", "ms", "tflops"]
    for when, rnd, fb in (("before", 1, 3.0), ("before", 2, 3.2), ("after", 1, 2.0), ("after", 2, 2.2)):
        write(f"{d}/ab/{when}-{rnd}/ch12-speed.tsv", sh,
              [("S", 1, 1, 1, 64, 7, "fwd", 1.0, 0), ("S", 1, 1, 1, 64, 7, "fwd+bwd", fb, 0)])
    rc, _, err = run("epilogue", f"{d}/ab", f"{d}/ep.tsv", "n")
    check(rc == 0, "epilogue: exit 0 (stderr %r)" % err)
    rows, _ = read(f"{d}/ep.tsv")
    e = rows[0] if rows else {}
    check(near(e.get("before_ms", 0), 2.1) and near(e.get("after_ms", 0), 1.1) and near(e.get("speedup", 0), 2.1 / 1.1),
          "epilogue: means of (fwd+bwd - fwd), 2.1 before and 1.1 after, and their ratio (%s)" % e)
    check(near(e.get("before_1", 0), 2.0) and near(e.get("after_2", 0), 1.2), "epilogue: each round kept (%s)" % e)

    for name, rnd, ms in (("tree", 1, 2.0), ("tree", 2, 2.2), ("wide", 1, 1.0), ("wide", 2, 1.1)):
        write(f"{d}/var/{name}-{rnd}/ch12-speed.tsv", sh, [("S", 1, 1, 1, 64, 8, "fwd", ms, 0)])
    rc, _, err = run("variants", f"{d}/var", f"{d}/var.tsv", "n")
    rows, _ = read(f"{d}/var.tsv") if rc == 0 else ([], "")
    v = rows[0] if rows else {}
    check(rc == 0 and len(rows) == 1 and v.get("variant") == "wide" and near(v.get("ms", 0), 1.05)
          and near(v.get("tree_ms", 0), 2.1) and near(v.get("tree_over", 0), 2.0) and v.get("ms_each") == "1.0000,1.1000"
          and v.get("rounds") == "2",
          "variants: the variant's mean 1.05 against the tree's 2.1, so 2 (rc %d, %r %r)" % (rc, rows, err))
    os.makedirs(f"{d}/var/wide-3")   # a round that failed: no file, left out
    write(f"{d}/var/odd-1/ch12-speed.tsv", sh, [("S", 1, 1, 1, 64, 8, "fwd", 4.4, 0)])
    rc, _, err = run("variants", f"{d}/var", f"{d}/var2.tsv", "n")
    rows, _ = read(f"{d}/var2.tsv") if rc == 0 else ([], "")
    o = {x["variant"]: x for x in rows}
    check(rc == 0 and o.get("odd", {}).get("rounds") == "1" and near(o.get("odd", {}).get("tree_over", 0), 2.1 / 4.4)
          and o.get("wide", {}).get("rounds") == "2",
          "variants: a failed round's directory is left out, a variant of one round is its own mean (rc %d, %r %r)"
          % (rc, rows, err))
    write(f"{d}/var3/tree-1/ch12-speed.tsv", sh, [("S", 1, 1, 1, 64, 8, "fwd", 2.0, 0)])
    write(f"{d}/var3/x-1/ch12-speed.tsv", sh, [("S", 1, 1, 1, 64, 7, "fwd", 2.0, 0)])
    rc, _, err = run("variants", f"{d}/var3", f"{d}/bad.tsv", "n")
    check(rc == 1 and "did not time it" in err and not os.path.exists(f"{d}/bad.tsv"),
          "variants: a row the tree's binary did not time is named (%r)" % err)
    write(f"{d}/var1/tree-1/ch12-speed.tsv", sh, [("S", 1, 1, 1, 64, 8, "fwd", 2.0, 0)])
    rc, _, err = run("variants", f"{d}/var1", f"{d}/bad.tsv", "n")
    check(rc == 1 and "no variant" in err and not os.path.exists(f"{d}/bad.tsv"),
          "variants: a directory with only the tree's binary is refused (%r)" % err)

    write(f"{d}/speed.tsv", sh, [("S", 1, 1, 1, 64, v, p, ms, 0) for v, p, ms in
                                 ((4, "fwd", 1.0), (4, "fwd+bwd", 4.0), (7, "fwd", 1.0), (7, "fwd+bwd", 3.0))])
    rc, _, err = run("bwd", f"{d}/speed.tsv", f"{d}/bwd.tsv", "n")
    rows, _ = read(f"{d}/bwd.tsv") if rc == 0 else ([], "")
    b = {x["version"]: x for x in rows}
    check(rc == 0 and near(b.get("7", {}).get("bwd_ms", 0), 2.0) and near(b.get("7", {}).get("over_v4", 0), 1.5)
          and near(b.get("4", {}).get("over_v4", 0), 1.0),
          "bwd: version 7's backward 3 - 1 = 2 ms, version 4's 3, so 1.5 (%r %r)" % (rows, err))
    write(f"{d}/speed7.tsv", sh, [("S", 1, 1, 1, 64, 7, "fwd", 1.0, 0), ("S", 1, 1, 1, 64, 7, "fwd+bwd", 3.0, 0)])
    rc, _, err = run("bwd", f"{d}/speed7.tsv", f"{d}/bad.tsv", "n")
    check(rc == 1 and "no version 4" in err and not os.path.exists(f"{d}/bad.tsv"), "bwd: no version 4 to compare with is named (%r)" % err)
    for args, what in ((["step", f"{d}/none.tsv", f"{d}/none.tsv", f"{d}/none.tsv", f"{d}/bad.tsv", "n"], "a file with no PyTorch rows"),
                       (["step", f"{d}/all.tsv", f"{d}/none.tsv", f"{d}/missing.tsv", f"{d}/bad.tsv", "n"], "a missing file"),
                       (["epilogue", f"{d}/all.tsv", f"{d}/bad.tsv", "n"], "a file for a directory")):
        rc, _, err = run(*args)
        check(rc == 1 and err.count("\n") == 1 and err.startswith("compare_tsv.py: "),
              "%s: one line on stderr, exit 1 (rc %d, %r)" % (what, rc, err))
        check(not os.path.exists(f"{d}/bad.tsv") and not os.path.exists(f"{d}/bad.tsv.tmp"), "%s: nothing written" % what)
    write(f"{d}/noback.tsv", ["impl", "attention", "batch", "T", "ms_per_step"], [("ours", "flash", 16, 1024, 10)])
    rc, _, err = run("step", f"{d}/noback.tsv", f"{d}/none.tsv", f"{d}/torch.tsv", f"{d}/bad.tsv", "n")
    check(rc == 1 and "ms_back_to_back" in err, "step: a bench file without ms_back_to_back is named (%r)" % err)
    with open(f"{d}/othergit.tsv", "w") as f:
        f.write(open(f"{d}/torch.tsv").read().replace("# git: abc1234", "# git: def5678"))
    rc, _, err = run("step", f"{d}/all.tsv", f"{d}/none.tsv", f"{d}/othergit.tsv", f"{d}/bad.tsv", "n")
    check(rc == 1 and "not one device call" in err, "step: inputs of two calls (another git) refused (%r)" % err)
    write(f"{d}/torch128.tsv", th, [("pytorch-eager", 16, 1024, 40, 40), ("pytorch-compile", 16, 1024, 20, 16),
                                    ("pytorch-compile-cudagraphs", 16, 1024, 10, 10),
                                    ("pytorch-eager", 64, 1024, 100, 100), ("pytorch-compile", 128, 1024, 80, 80),
                                    ("pytorch-compile-cudagraphs", 128, 1024, 64, 64)])
    rc, _, err = run("step", f"{d}/all.tsv", f"{d}/none.tsv", f"{d}/torch128.tsv", f"{d}/o128.tsv", "n")
    rows, _ = read(f"{d}/o128.tsv") if rc == 0 else ([], "")
    c = {(x["ours"], x["batch"], x["timing"]): x for x in rows}.get(("all fusions", "128", "step"), {})
    check(c.get("torch_batch") == "64/128/128" and near(c.get("over_eager", 0), (128 / 100) / (64 / 100))
          and near(c.get("over_cudagraphs", 0), (128 / 100) / (128 / 64)),
          "step: each PyTorch mode at its own largest batch (eager 64, compiled 128) (%s)" % c)
    rc, _, err = run("step", f"{d}/all.tsv", "-", f"{d}/torch.tsv", f"{d}/nou.tsv", "n")
    rows, _ = read(f"{d}/nou.tsv") if rc == 0 else ([], "")
    check(rc == 0 and len(rows) == 4 and all(x["ours"] == "all fusions" for x in rows),
          "step: no unfused file ('-'): the fused rows only (rc %d, %d rows, %r)" % (rc, len(rows), err))
    write(f"{d}/only16.tsv", ours_h, [("ours", "flash", 16, 1024, 10, 0, 8)])
    rc, _, err = run("step", f"{d}/only16.tsv", "-", f"{d}/torch.tsv", f"{d}/o16.tsv", "n")
    rows, _ = read(f"{d}/o16.tsv") if rc == 0 else ([], "")
    check(rc == 0 and len(rows) == 2 and all(x["batch"] == "16" for x in rows),
          "step: a bench of batch 16 only gives no 'largest' rows (rc %d, %d rows, %r)" % (rc, len(rows), err))
    write(f"{d}/nographs.tsv", th, [("pytorch-eager", 16, 1024, 40, 40), ("pytorch-compile", 16, 1024, 20, 16)])
    rc, _, err = run("step", f"{d}/all.tsv", "-", f"{d}/nographs.tsv", f"{d}/bad.tsv", "n")
    check(rc == 1 and "no rows of pytorch-compile-cudagraphs" in err, "step: a PyTorch mode with no rows is named (%r)" % err)
    fh = ours_h + ["fusions"]
    write(f"{d}/allf.tsv", fh, [("ours", "flash", 16, 1024, 10, 0, 8, "gelu,residual,gelu-set,bgrad")])
    write(f"{d}/nonef.tsv", fh, [("ours", "flash", 16, 1024, 20, 0, 20, "none")])
    rc, _, err = run("step", f"{d}/allf.tsv", f"{d}/nonef.tsv", f"{d}/torch.tsv", f"{d}/okf.tsv", "n")
    check(rc == 0, "step: files with the fusions column, each as named, accepted (%r)" % err)
    write(f"{d}/gelu.tsv", fh, [("ours", "flash", 16, 1024, 10, 0, 8, "gelu")])
    rc, _, err = run("step", f"{d}/gelu.tsv", "-", f"{d}/torch.tsv", f"{d}/bad.tsv", "n")
    check(rc == 1 and "fusions gelu," in err, "step: a file with some fusions is not read as all of them (%r)" % err)
    rc, _, err = run("step", f"{d}/nonef.tsv", f"{d}/allf.tsv", f"{d}/torch.tsv", f"{d}/bad.tsv", "n")
    check(rc == 1 and "fusions none" in err and not os.path.exists(f"{d}/bad.tsv"),
          "step: the unfused file given as the fused one is refused by its fusions column (%r)" % err)
    write(f"{d}/all512.tsv", ours_h, [("ours", "flash", 16, 512, 10, 0, 8), ("ours", "flash", 32, 512, 20, 0, 20)])
    write(f"{d}/none512.tsv", ours_h, [("ours", "flash", 16, 512, 20, 0, 20)])
    write(f"{d}/torch512.tsv", th, [(i, b, 512, 10, 10) for b in (16, 64) for i in
                                    ("pytorch-eager", "pytorch-compile", "pytorch-compile-cudagraphs")])
    rc, _, err = run("step", f"{d}/all512.tsv", f"{d}/none512.tsv", f"{d}/torch512.tsv", f"{d}/t512.tsv", "n")
    rows, _ = read(f"{d}/t512.tsv") if rc == 0 else ([], "")
    t = {(x["ours"], x["batch"], x["timing"]): x for x in rows}.get(("all fusions", "16", "step"), {})
    check(rc == 0 and near(t.get("tokens_per_s", 0), 16 * 512 * 100), "step: T is read from the files (512), not assumed (%s %r)" % (t, err))
    rc, _, err = run("step", f"{d}/all512.tsv", f"{d}/none512.tsv", f"{d}/torch.tsv", f"{d}/bad.tsv", "n")
    check(rc == 1 and "has T" in err, "step: rows of different T are not compared (%r)" % err)
    rc, _, _ = run("nonsense")
    check(rc == 2, "an unknown command: usage, exit 2")

sys.exit(check.finish())
