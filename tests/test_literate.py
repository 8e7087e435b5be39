#!/usr/bin/env python3
"""test_literate.py -- the literate toolchain's parts, each on its own.

  * tools/nwreader.py, the one reader of noweb's markup stream: chunk kinds,
    names, source lines, uses and what they refer to, identifiers, quotes
    that span lines, a last line without a newline, noidx's cross-references;
    and, on every chapter, that each line the reader gives (code and prose)
    is the very source line it names;
  * tools/nwtangle.py on that reader: indentation of included chunks, uses
    inside a line, #line directives, an undefined chunk;
  * book/dataref.py, the data-reference language: every selector and format
    the chapters use, tables, and one clear error for each way a reference
    can be wrong; through book/nw2md.py, a bad reference stops the weave
    with one line naming the source file, the reference's own line and the
    reference;
  * book/nw2md.py: a quote written against inline code ([[f]]`(x)`) is one
    code span, not two run together as ``;
  * book/chapters.py: every page's metadata, the contents page's title;
  * book/filters/book.lua: figure and table ids scoped by chapter (the
    whole book's LaTeX and EPUB have each chapter's own; a chapter's page
    keeps them as written); a reference to one the chapter lacks stops the
    build, naming the chapter; an id given twice is reported;
  * book/filters/katex.lua: every formula typeset when the page is built,
    macros kept across a page, and one line for a formula KaTeX refuses;
    book/search_docs.py reads a typeset formula as its TeX.

Run from the repository root; prints "N passed, N failed".
"""
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "tools"), os.path.join(ROOT, "book")]
import dataref  # noqa: E402
import nw2md  # noqa: E402
import nwreader  # noqa: E402
import nwtangle  # noqa: E402

NOWEBLIB = os.environ.get("NOWEBLIB", "/usr/lib/noweb")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pycheck import Checks  # noqa: E402

check = Checks("FAIL literate: ")


def markup(path, index=True):
    """noweb's markup stream of a file (with finduses and noidx, as the weave runs it)."""
    cmd = "%s/markup %s" % (NOWEBLIB, path)
    if index:
        cmd += " | %s/finduses | %s/noidx" % (NOWEBLIB, NOWEBLIB)
    r = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s: %s" % (cmd, r.stderr))
    return r.stdout.splitlines(True)


# ---------------------------------------------------------------------------
# The reader
# ---------------------------------------------------------------------------

SAMPLE = """\
Some [[code
more]] text @<<x>> and [[a <<Use>> b]].

<<x.c>>=
int a; <<Use>>
    <<Use>>
@ %def a

<<Use>>=
b
@
Between.
<<Use>>=
c;
@ %def c
Last line, no newline"""


def test_reader(tmp):
    path = os.path.join(tmp, "s.nw")
    with open(path, "w") as f:
        f.write(SAMPLE)
    doc = nwreader.read(markup(path))
    src = SAMPLE.split("\n")
    check(doc.file == path, "the reader takes the file name from @file (%s)" % doc.file)
    kinds = [(c.kind, c.name) for c in doc.chunks]
    check([k for k, _ in kinds] == ["docs", "code", "docs", "code", "docs", "code", "docs"],
          "chunks in source order, docs and code (%s)" % kinds)
    code = [c for c in doc.chunks if c.is_code]
    check([c.name for c in code] == ["x.c", "Use", "Use"], "code chunk names")
    check([c.line for c in code] == [4, 9, 13], "a code chunk starts on its <<name>>= line (%s)" % [c.line for c in code])
    check([l.src for l in code[0].lines] == [5, 6], "code lines carry their source lines (%s)" % [l.src for l in code[0].lines])
    check([l.src for l in code[2].lines] == [14], "lines after an '@ %%def' line are counted (%s)" % [l.src for l in code[2].lines])
    segs = code[0].lines[0].segments
    check(segs[0] == ("id", "int", None) or segs[0][0] == "text", "plain text segment")
    use = [s for s in segs if s[0] == "use"]
    check(len(use) == 1 and use[0][1] == "Use" and use[0][2] == code[1].label,
          "a use refers to the label of the chunk's first definition (%s)" % (use,))
    check(code[0].lines[1].segments[0] == ("text", "    ") and code[0].lines[1].segments[1][0] == "use",
          "a use alone on its line keeps its indentation as text")
    check(code[0].defines == ["a"] and code[2].defines == ["c"], "'@ %%def' identifiers (%s, %s)" % (code[0].defines, code[2].defines))
    check(code[0].notused and not code[1].notused, "a root is marked not used")
    check(code[1].continued == [code[2].label] and code[1].nextdef == code[2].label and code[2].prevdef == code[1].label,
          "a chunk's later parts: continued, nextdef and prevdef")
    check(code[1].used_in == [code[0].label], "a chunk knows where it is used")
    ids = [s for c in code for l in c.lines for s in l.segments if s[0] == "id"]
    check(any(s[1] == "a" and s[2] == code[0].label for s in ids), "an identifier's use links to its defining chunk (%s)" % ids)
    defs = doc.definitions()
    check(list(defs) == ["x.c", "Use"] and [p.lines[0].text() for p in defs["Use"]] == ["b", "c;"],
          "definitions(): every name, its parts in order")
    first = doc.chunks[0]
    quotes = [s for l in first.lines for s in l.segments if s[0] == "quote"]
    check(len(quotes) == 2 and ("nl",) in quotes[0][1], "a quote that spans lines holds the newline")
    check(any(s[0] == "use" and s[1] == "Use" for s in quotes[1][1]), "a quote holds its chunk use")
    check(first.lines[0].src == 1 and first.lines[0].nl and [l.src for l in first.lines] == [1, 3],
          "a quote spanning lines belongs to the line it starts on (%s)" % first.lines)
    check("@<<x>>" not in "".join(s[1] for s in first.lines[0].segments if s[0] == "text")
          and "<<x>>" in "".join(s[1] for s in first.lines[0].segments if s[0] == "text"),
          "an escaped @<< in prose reads as <<")
    last = doc.chunks[-1]
    check(last.lines[-1].text() == "Last line, no newline" and last.lines[-1].src == len(src),
          "a last line without a newline (line %d)" % last.lines[-1].src)
    check(first.lines[0].text() == "Some [[code\nmore]] text <<x>> and [[a <<Use>> b]].",
          "a line's text writes its quotes as [[...]] (%r)" % first.lines[0].text())
    check([e[1] for e in doc.chunk_index] == ["Use", "x.c"], "noidx's chunk index (%s)" % [e[1] for e in doc.chunk_index])
    check(sorted(e[0] for e in doc.ident_index) == ["a", "c"], "noidx's identifier index")
    # the reader reads markup alone (the tangler's input) the same way
    bare = nwreader.read(markup(path, index=False))
    check([(c.kind, c.name, [(l.src, l.text()) for l in c.lines]) for c in bare.chunks]
          == [(c.kind, c.name, [(l.src, l.text()) for l in c.lines]) for c in doc.chunks],
          "markup alone and markup | finduses | noidx give the same chunks and lines")


def test_chapters():
    """On every chapter: each line the reader gives is the source line it names."""
    for nw in sorted(glob.glob(os.path.join(ROOT, "chapters/[0-9][0-9]-*/*.nw"))):
        with open(nw, encoding="utf-8") as f:
            src = f.read().split("\n")
        doc = nwreader.read(markup(nw))
        bad = []
        for c in doc.chunks:
            if c.is_code and not re.match(r"^<<.*>>=\s*$", src[c.line - 1]):
                bad.append("chunk <<%s>> at %d" % (c.name, c.line))
            for l in c.lines:
                if any(s[0] == "quote" for s in l.segments):
                    continue           # quoted code is written [[...]]: compared below
                want = src[l.src - 1].replace("@<<", "<<")
                if c.is_code:
                    want = want.replace("@@", "@") if want.startswith("@@") else want
                if l.text() != want and not (not c.is_code and want.startswith("@") and want[1:].lstrip() == l.text()):
                    bad.append("%d: %r != %r" % (l.src, l.text(), want))
        name = os.path.relpath(nw, ROOT)
        check(not bad, "%s: every line the reader gives is its source line%s" % (name, (" (%s)" % "; ".join(bad[:3])) if bad else ""))
        n = sum(len(c.lines) for c in doc.chunks if c.is_code)
        check(n > 100, "%s: the reader finds its code (%d lines)" % (name, n))
        spaced = []
        for c in doc.chunks:
            if not c.is_code:
                spaced += spaced_code_spans("\n".join(l.text() for l in c.lines))
        check(not spaced, "%s: no inline code starts or ends with a space, which pandoc drops (write \u2423)%s" % (
            name, (" (%s)" % "; ".join(spaced[:3])) if spaced else ""))


SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.S)


def spaced_code_spans(prose):
    """Inline code in prose whose text begins or ends with a space: pandoc trims it, so `` ` the` `` reads
    "the" in the book.  A span of two or more backquotes may pad a backquote at its edge with one space."""
    bad, kept, fence = [], [], None
    for line in prose.split("\n"):                 # fenced code blocks are not inline code
        f = re.match(r"^\s*(`{3,}|~{3,})", line)
        if fence is None and f:
            fence = f.group(1)
        elif fence is not None and f and f.group(1).startswith(fence[0] * len(fence)) and not line.strip().strip(fence[0]):
            fence = None
        elif fence is None:
            kept.append(line)
    prose = "\n".join(kept)
    for m in SPAN.finditer(prose):
        fence, body = m.group(1), m.group(2)
        if not body.strip():
            continue
        if len(fence) > 1 and body.startswith(" ") and body.endswith(" ") and "`" in (body[1], body[-2]):
            body = body[1:-1]
        if body[0] in " \t" or body[-1] in " \t":
            bad.append(m.group(0).replace("\n", " "))
    return bad


# ---------------------------------------------------------------------------
# The tangler
# ---------------------------------------------------------------------------

TANGLE = """\
<<t.c>>=
int main(void) {
    <<Body>>
    return <<Value>>;
}
@
<<Body>>=
int x = 1;
if (x)
    x++;
@
<<Value>>=
x
  + 1
@
<<bad.c>>=
<<Nowhere>>
@
"""


def test_tangler(tmp):
    path = os.path.join(tmp, "t.nw")
    with open(path, "w") as f:
        f.write(TANGLE)
    stream = markup(path, index=False)
    out = "\n".join(nwtangle.tangle(stream, "t.c")).split("\n")
    check(out == ["int main(void) {", "    int x = 1;", "    if (x)", "        x++;",
                  "    return x", "             + 1;", "}"],
          "an included chunk takes its use's indentation; a use inside a line is expanded in place (%s)" % out)
    lined = "\n".join(nwtangle.tangle(stream, "t.c", lines=True)).split("\n")
    check(lined[0] == '#line 2 "%s"' % path and "    /* Body */" in lined,
          "--lines: #line directives and chunk-name comments (%s)" % lined[:4])
    src = TANGLE.split("\n")
    ok = True
    for i, l in enumerate(lined):
        m = re.match(r'#line (\d+) ', l)
        if m and i + 1 < len(lined) and "<<" not in src[int(m.group(1)) - 1]:
            ok &= lined[i + 1].strip() == src[int(m.group(1)) - 1].strip()
    check(ok and lined.count('#line 8 "%s"' % path) == 1, "the line after each #line N is line N of the source")
    try:
        nwtangle.tangle(stream, "bad.c")
        check(False, "an undefined chunk stops the tangler")
    except SystemExit as e:
        check("<<Nowhere>>" in str(e) and "never defined" in str(e), "an undefined chunk stops the tangler: %s" % e)


# ---------------------------------------------------------------------------
# Data references
# ---------------------------------------------------------------------------

T1 = """\
# t1: a data file for the tests
# command: none
order\ttrain_ppl\tval_ppl\tname\tn\tflag
1\t10.5\t12.25\tone\t1000\t0
2\t5\t8.5\ttwo, words\t2000000\t1
3\t4\t9.75\ta_b*c\t52000000\t1
"""


def ref(body):
    return dataref.resolve(body)


def err(body):
    try:
        out = dataref.resolve(body)
        return "no error (%r)" % out
    except dataref.DataRefError as e:
        return str(e)


def test_dataref(tmp):
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    with open(os.path.join(data, "t1.tsv"), "w") as f:
        f.write(T1)
    with open(os.path.join(data, "ragged.tsv"), "w") as f:
        f.write("a\tb\n1\t2\n3\n")
    dataref.DATA_DIR = data
    dataref._tsv_cache.clear()
    cases = [
        # selectors
        ("t1 val_ppl order=2 :.2f", "8.50"),                 # column=number
        ("t1 val_ppl order=2.0 :.2f", "8.50"),               # numeric equality
        ("t1 order name=one :d", "1"),                       # column=string
        ('t1 order name="two, words" :d', "2"),             # a quoted value with spaces
        ("t1 val_ppl row=first", "12.25"),                   # no format: as written
        ("t1 val_ppl row=last", "9.75"),
        ("t1 val_ppl row=1", "8.5"),
        ("t1 order val_ppl=min :d", "2"),
        ("t1 order val_ppl=max :d", "1"),
        ("t1 order val_ppl-train_ppl=min :d", "1"),          # an expression's minimum
        ("t1 order train_ppl*2=10 :d", "2"),                 # an expression's value
        ("t1 order val_ppl<9 :d", "2"),                      # conditions
        ("t1 order val_ppl>9 row=last :d", "3"),
        ("t1 order order>=2 val_ppl<=9 :d", "2"),
        ("t1 order flag>0.5 row=first :d", "2"),
        ("t1 order order!=1 order!=2.0 :d", "3"),               # unequal (numeric)
        ('t1 order name!=one flag=1 row=first :d', "2"),     # unequal, as a string
        # columns as expressions
        ("t1 val_ppl-train_ppl order=1 :.2f", "1.75"),
        ("t1 100*flag order=2 :.0f", "100"),
        ("t1 n/(order*1000) order=2 :,.0f", "1,000"),
        ("t1 log2(n/1000) order=1 :g", "0"),
        # formats
        ("t1 n order=2 :d", "2000000"),
        ("t1 n order=2 :,d", "2,000,000"),
        ("t1 val_ppl order=3 :.0f", "10"),
        ("t1 val_ppl order=3 :.1f", "9.8"),
        ("t1 val_ppl order=1 :.3f", "12.250"),
        ("t1 val_ppl order=1 :.4f", "12.2500"),
        ("t1 n order=3 :,.0f", "52,000,000"),
        ("t1 flag*0.25 order=2 :.0%", "25%"),
        ("t1 flag*0.25 order=2 :.1%", "25.0%"),
        ("t1 flag*0.125 order=2 :.2%", "12.50%"),
        ("t1 flag*0.125 order=2 :.3%", "12.500%"),
        ("t1 n order=3 :.1e", "5.2e+07"),
        ("t1 n order=3 :.0e", "5e+07"),
        ("t1 val_ppl order=1 :g", "12.25"),
        ("t1 n order=3 :.3g", "5.2e+07"),
        ("t1 val_ppl order=3 :.3g", "9.75"),
        ("t1 n order=3 :sci", "$5.2 \\times 10^{7}$"),
        ("t1 n order=3 :sci1", "$5 \\times 10^{7}$"),
        ("t1 n order=3 :sci3", "$5.20 \\times 10^{7}$"),
        ("t1 n order=1 :sci", "1,000"),                      # below 10,000: plain
        ("t1 val_ppl*1e-6 order=1 :sci", "$1.2 \\times 10^{-5}$"),
        ("t1 val_ppl*1e-6 order=3 :sci", "$9.8 \\times 10^{-6}$"),
        ("t1 9.96e5+0*n order=1 :sci", "$1.0 \\times 10^{6}$"),  # rounding carries into the exponent
        ("t1 name order=3", "a\\_b\\*c"),                    # text is Markdown-escaped
        ("t1 name order=3 :text", "a\\_b\\*c"),
        ("t1 name order=3 :raw", "a_b*c"),
    ]
    for body, want in cases:
        try:
            got = ref(body)
        except dataref.DataRefError as e:
            got = "error: %s" % e
        check(got == want, "{{%s}} is %r (got %r)" % (body, want, got))

    for body, want in [("count t1", "3"), ("count t1 order>=2", "2"), ("count t1 name!=one flag=1", "2"),
                       ("count t1 order>5", "0"), ("count t1 n>0 row=last", "1")]:
        got = ref(body)
        check(got == want, "{{%s}} counts %s rows (got %r)" % (body, want, got))
    for body, want in [("count t1 :d", "takes no format"), ("count nothere", "no data file")]:
        e = err(body)
        check(want in e, "{{%s}} is refused: %r (got %r)" % (body, want, e))

    table = ref('table t1 cols=order,name,val_ppl head="Order|Name|Val" fmt=":d|:text|:.1f" where=order>=2')
    check(table.split("\n") == ["| Order | Name | Val |", "|---:|:---|---:|", "| 2 | two, words | 8.5 |", "| 3 | a\\_b\\*c | 9.8 |"],
          "a table: columns, headings, formats, default alignment, a where selector (%r)" % table)
    table = ref('table t1 cols=order,n align=cl')
    check(table.split("\n")[:3] == ["| order | n |", "|:---:|:---|", "| 1 | 1000 |"],
          "a table with explicit alignment and the column names as headings (%r)" % table)
    table = ref('table t1 cols=order where=flag=1 where=row=last fmt=":d"')
    check(table.split("\n")[2:] == ["| 3 |"], "a table's where selectors apply in order (%r)" % table)

    errors = [
        ("nothere val :d", "no data file"),
        ("../t1 val :d", "no data file"),
        ("t1", "needs a file and a column"),
        ("t1 :d", "needs a file and a column"),
        ("t1 nocol order=1", "has no column nocol"),
        ("t1 val_ppl nocol=3", "has no column nocol"),
        ("t1 val_ppl", "match 3 rows, not one"),
        ("t1 val_ppl order=9", "match 0 rows, not one"),
        ("t1 val_ppl order=1 :d", "not an integer"),
        ("t1 name order=1 :.2f", "'one' is not a number"),
        ("t1 val_ppl order=1 :q", "format :q"),
        ("t1 val_ppl order=1 .2f", "cannot evaluate '.2f'"),  # a format without its ':'
        ("t1 val_ppl row=middle", "row=middle"),
        ('t1 val_ppl name="two', "malformed reference"),
        ("t1 order name=min", "no numeric values"),
        ("t1 val_ppl+ order=1", "cannot evaluate"),
        ("ragged a row=0", "a row has 1 fields, the header 2"),
        ("table", "a table reference needs a file"),
        ("table t1 cols=order,nocol", "has no column 'nocol'"),
        ('table t1 cols=order,name head="A"', "the same number of entries"),
        ("table t1 cols=order colz=name", "unknown option 'colz=name'"),
        ("table t1 cols=order align=x", "align takes l, r or c"),
        ("table t1 cols=order where=order=7", "no rows match"),
    ]
    for body, want in errors:
        got = err(body)
        check(want in got and "\n" not in got, "{{%s}} is refused: %r (got %r)" % (body, want, got))

    text = "One {{t1 order row=0 :d}} and\nthen on\nthe third line {{t1 nocol\n row=0}} here."
    try:
        dataref.substitute(text, "chapters/99-x/x.nw", 40)
        check(False, "a bad reference raises an error")
    except dataref.DataRefError as e:
        msg = str(e)
        check(msg.startswith("chapters/99-x/x.nw:42: {{t1 nocol row=0}}: ") and "\n" not in msg,
              "the error names the file, the reference's own line and the reference, on one line (%r)" % msg)
    check(dataref.substitute("a {{t1 order row=last :d}} b {{t1 n row=0 :,d}}", "x", 1) == "a 3 b 1,000",
          "substitute replaces every reference")


BAD_NW = """\
# A chapter

Fine: {{t1 order row=0 :d}}.

<<x.c>>=
int x;
@ The prose goes on, and on line 8
a reference is wrong: {{t1 val_ppl order=7 :.2f}}.
"""


def test_weave_errors(tmp):
    """Through the weaver: one line naming the file, the line and the reference."""
    os.makedirs(os.path.join(tmp, "figures/data"), exist_ok=True)
    with open(os.path.join(tmp, "figures/data/t1.tsv"), "w") as f:
        f.write(T1)
    with open(os.path.join(tmp, "bad.nw"), "w") as f:
        f.write(BAD_NW)
    with open(os.path.join(tmp, "good.nw"), "w") as f:
        f.write(BAD_NW.replace("order=7", "order=2"))
    for name, ok in (("bad.nw", False), ("good.nw", True)):
        cmd = ("set -o pipefail; %s/markup %s | %s/finduses | %s/noidx | python3 %s/book/nw2md.py --chapter 99-x"
               % (NOWEBLIB, name, NOWEBLIB, NOWEBLIB, ROOT))
        r = subprocess.run(["bash", "-c", cmd], cwd=tmp, capture_output=True, text=True)
        if ok:
            check(r.returncode == 0 and "8.50" in r.stdout and "Fine: 1." in r.stdout,
                  "the weaver resolves references (%s)" % r.stderr.strip())
        else:
            lines = r.stderr.strip().split("\n")
            check(r.returncode != 0 and len(lines) == 1
                  and lines[0].startswith("bad.nw:8: {{t1 val_ppl order=7 :.2f}}: ") and "match 0 rows" in lines[0],
                  "a bad reference stops the weave with one line naming file, line and reference (%r)" % r.stderr)


# ---------------------------------------------------------------------------
# The weaver's prose and the contents
# ---------------------------------------------------------------------------

def test_code_spans():
    J = nw2md.join_code
    cases = [
        ([("code", "linear_backward"), ("md", "`(dX, dW)` computes")], "`linear_backward(dX, dW)` computes"),
        ([("md", "its fields "), ("code", "Run"), ("md", "`->c.seed`, `->c.out`")], "its fields `Run->c.seed`, `->c.out`"),
        ([("md", "call `f`"), ("code", "(x)"), ("md", " now")], "call `f(x)` now"),
        ([("code", "a"), ("code", "b")], "`ab`"),
        ([("code", "a"), ("md", " `b`")], "`a` `b`"),                 # apart: two spans
        ([("code", "a"), ("md", "(x)")], "`a`(x)"),                   # not code: left alone
        ([("code", "f"), ("md", "``g`h``")], "``fg`h``"),             # a longer span's content
        ([("md", "``not closed "), ("code", "x")], "``not closed `x`"),
        ([("code", "x`y"), ("md", "!")], "``x`y``!"),
    ]
    for pieces, want in cases:
        got = J(pieces)
        check(got == want, "quotes and inline code: %r -> %r (got %r)" % (pieces, want, got))
    for prose, want in (("the token ` the` and", ["` the`"]), ("`the ` here", ["`the `"]), ("`\u2423the`, `a`", []),
                        ("a `` `x` `` b", []), ("`` ` x` ``", []), ("`` x ``", ["`` x ``"]), ("`run a\nb` c `d`", []),
                        ("`a` then ` b`", ["` b`"]), ("`` `` and ```", []),
                        ("text\n    ```\n    $ run \\\n      --flag\n    ```\nafter ` x`", ["` x`"])):
        got = spaced_code_spans(prose)
        check(got == want, "inline code with a space at an edge: %r -> %r (got %r)" % (prose, want, got))


def test_contents(tmp):
    pages = []
    for stem, title in (("01-one", "First things"), ("02-two", "Second thoughts"), ("appendix-x", "Extra")):
        p = os.path.join(tmp, stem + ".md")
        with open(p, "w") as f:
            f.write("# %s {#sec:x}\n\ntext\n" % title)
        pages.append(p)
    front = os.path.join(tmp, "front.md")
    with open(front, "w") as f:
        f.write("# The book\n")
    out = os.path.join(tmp, "out")
    r = subprocess.run([sys.executable, os.path.join(ROOT, "book/chapters.py"), out, front] + pages,
                       capture_output=True, text=True)
    check(r.returncode == 0, "chapters.py runs (%s)" % r.stderr.strip())
    if r.returncode:
        return
    meta = {p: json.load(open(os.path.join(out, "meta", p + ".json"))) for p in ("index", "01-one", "02-two", "appendix-x")}
    check(meta["index"]["pagetitle"] == "Building Language Models from Scratch, in C",
          "the contents page is titled with the book's title (%s)" % meta["index"]["pagetitle"])
    check(meta["02-two"]["pagetitle"] == "Second thoughts" and meta["02-two"]["chapter"] == "2",
          "a chapter page: its title and number")
    check(meta["appendix-x"]["chapter"] == "A" and meta["appendix-x"]["prev"]["href"] == "02-two.html"
          and "next" not in meta["appendix-x"], "an appendix: its letter, previous page, no next")
    with open(os.path.join(out, "index.md")) as f:
        idx = f.read()
    check("- Chapter 1. [First things](01-one.html)" in idx and "- Appendix A. [Extra](appendix-x.html)" in idx,
          "the contents list every page")


# ---------------------------------------------------------------------------
# The pandoc filters: ids scoped by chapter, math typeset at build time
# ---------------------------------------------------------------------------

CHAPTER_MD = """\
# Chapter {n}

| a | b |
|---|---|
| 1 | 2 |

: Numbers of chapter {n}. {{#tbl:same}}

![A figure of chapter {n}](figures/none){{#fig:same}}

See @tbl:same and @fig:same.
"""


def pandoc(args, text, cwd):
    return subprocess.run(["pandoc", "--from", "markdown+tex_math_dollars+raw_html+raw_tex+raw_attribute+fenced_divs",
                           "--lua-filter", os.path.join(ROOT, "book/filters/book.lua"), "--wrap=none"] + args,
                          input=text, capture_output=True, text=True, cwd=cwd)


def test_filters(tmp):
    pages = []
    for n in (3, 4):
        p = os.path.join(tmp, "%02d-x.md" % n)
        with open(p, "w") as f:
            f.write(CHAPTER_MD.format(n=n))
        pages.append(p)
    book = subprocess.run([sys.executable, os.path.join(ROOT, "book/mkbook.py")] + pages,
                          capture_output=True, text=True).stdout
    r = pandoc(["--to", "latex"], book, tmp)
    labels = re.findall(r"\\label\{([^}]*:[^}]*)\}", r.stdout)
    refs = re.findall(r"\\ref\{([^}]*)\}", r.stdout)
    check(r.returncode == 0 and sorted(labels) == ["ch03-fig:same", "ch03-tbl:same", "ch04-fig:same", "ch04-tbl:same"],
          "the whole book's LaTeX: each chapter's ids made unique by its chapter (%s; %s)" % (labels, r.stderr.strip()))
    check(refs == ["ch03-tbl:same", "ch03-fig:same", "ch04-tbl:same", "ch04-fig:same"],
          "a reference names the figure or table of its own chapter (%s)" % refs)
    r = pandoc(["--to", "html5"], book, tmp)
    links = re.findall(r'<a href="#([^"]*)"[^>]*>(Table|Figure)\xa0([\d.]+)</a>', r.stdout)
    check(links == [("ch03-tbl:same", "Table", "3.1"), ("ch03-fig:same", "Figure", "3.1"),
                    ("ch04-tbl:same", "Table", "4.1"), ("ch04-fig:same", "Figure", "4.1")],
          "the whole book (as the EPUB has it): numbers and links per chapter (%s)" % links)
    r = pandoc(["--to", "html5", "-M", "chapter=3"], CHAPTER_MD.format(n=3), tmp)
    check('id="tbl:same"' in r.stdout and 'id="fig:same"' in r.stdout and 'href="#tbl:same"' in r.stdout,
          "a chapter's own HTML page keeps its ids as written")
    r = pandoc(["--to", "html5", "-M", "chapter=3"], CHAPTER_MD.format(n=3) + "\nAnd @tbl:other.\n", tmp)
    check(r.returncode != 0 and "chapter 3: reference to unknown table @tbl:other" in r.stderr,
          "a reference to a table the chapter lacks stops the build, naming the chapter (%s)" % r.stderr.strip())
    r = pandoc(["--to", "latex"], book.replace("Chapter 4\n", "Chapter 4\n\nSee @tbl:gone.\n"), tmp)
    check(r.returncode != 0 and "chapter 4: reference to unknown table @tbl:gone" in r.stderr,
          "in the whole book too (%s)" % r.stderr.strip())
    twice = CHAPTER_MD.format(n=3) + "\n| c |\n|---|\n| 3 |\n\n: Again. {#tbl:same}\n"
    r = pandoc(["--to", "html5", "-M", "chapter=3"], twice, tmp)
    check("chapter 3: table id tbl:same is given twice" in r.stderr, "an id given twice in a chapter is reported (%s)" % r.stderr.strip())

    # math, typeset when the page is built
    md = os.path.join(tmp, "01-m.md")
    with open(md, "w") as f:
        f.write("# M\n\nInline $x^2$ and\n\n$$\\sum_{i=1}^n i$$\n\n$\\gdef\\half{\\tfrac12}\\half$, $\\half$.\n")
    html = subprocess.run(["pandoc", md, "--to", "html5", "--lua-filter", os.path.join(ROOT, "book/filters/katex.lua")],
                          capture_output=True, text=True, cwd=ROOT)
    spans = re.findall(r'<span class="math (inline|display)"><span class="(katex|katex-display)">', html.stdout)
    check(html.returncode == 0 and spans == [("inline", "katex"), ("display", "katex-display"), ("inline", "katex"), ("inline", "katex")],
          "katex.lua: every formula typeset in its span.math (%s; %s)" % (spans, html.stderr.strip()))
    check("<script" not in html.stdout and "\\sum" in html.stdout and "<annotation" in html.stdout,
          "katex.lua: no script; the TeX kept in the MathML for search and screen readers")
    check(html.stdout.count("<mfrac>") == 2, "katex.lua: a macro defined in one formula holds in the next, as on the page before")
    # search reads a typeset formula as its TeX, as it read the formula before
    page = os.path.join(tmp, "01-m.html")
    with open(md, "w") as f:
        f.write("# M\n\n## Squares\n\nThe square $x^2 + y$ grows.\n")
    subprocess.run(["pandoc", md, "--to", "html5", "--section-divs", "-o", page,
                    "--lua-filter", os.path.join(ROOT, "book/filters/katex.lua")], cwd=ROOT, check=True)
    r = subprocess.run([sys.executable, os.path.join(ROOT, "book/search_docs.py"), tmp, page], capture_output=True, text=True)
    docs = {d["title"]: d for d in json.loads(r.stdout or "[]")}
    sq = docs.get("Squares", {})
    check(sq.get("text") == "The square x^2 + y grows." and sq.get("excerpt") == "The square … grows.",
          "search_docs.py: a typeset formula is searched as its TeX (%r, %r)" % (sq.get("text"), sq.get("excerpt")))
    with open(md, "w") as f:
        f.write("# M\n\nFine $x$, wrong $\\nosuch{x}$.\n")
    html = subprocess.run(["pandoc", md, "--to", "html5", "--lua-filter", os.path.join(ROOT, "book/filters/katex.lua")],
                          capture_output=True, text=True, cwd=ROOT)
    err = html.stderr.strip().split("\n")
    check(html.returncode == 0 and 'class="katex-error"' in html.stdout and len(err) == 1
          and err[0].startswith("book: 01-m: KaTeX cannot set $\\nosuch{x}$"),
          "a formula KaTeX cannot set: one line naming the page and the formula, and a katex-error the tests find (%r)" % html.stderr)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        for name, fn in (("reader", test_reader), ("tangler", test_tangler), ("dataref", test_dataref),
                         ("weave", test_weave_errors), ("contents", test_contents), ("filters", test_filters)):
            d = os.path.join(tmp, name)
            os.makedirs(d)
            try:
                fn(d)
            except Exception as e:          # a crash is a failure, reported, not a traceback
                check(False, "%s tests ran to the end (%s: %s)" % (name, type(e).__name__, e))
    test_chapters()
    test_code_spans()
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
