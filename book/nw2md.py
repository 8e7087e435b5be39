#!/usr/bin/env python3
"""nw2md.py -- a noweb back end that writes pandoc Markdown.

Reads noweb's pipeline representation on stdin (the output of
`markup | autodefs.c | finduses | noidx`, described in the noweb Hacker's
Guide) and writes one chapter as pandoc Markdown on stdout:

  * documentation chunks pass through untouched (Markdown, $math$, tables,
    footnotes), except that [[quoted code]] becomes inline code and
    {{data references}} are replaced by numbers read from figures/data/*.tsv;
  * each code chunk becomes a raw HTML block and a raw LaTeX block (pandoc
    keeps the one that matches its output format): a header with the chunk's
    number and name and links to its previous and next parts, the highlighted
    code in which every <<chunk>> use and every identifier defined in the
    chapter is a link (a page reference in the PDF), and a footer saying where
    the chunk is used and continued and what it defines;
  * the chapter ends with an index of its chunks and of its identifiers.

Data references keep every number in the prose tied to the experiment that
produced it.  Inline:      {{ch01-orders val_ppl order=3 :.2f}}
                           file stem, column, selectors (column=value, or
                           row=N / row=last), then an optional format: a Python
                           format spec after ':' (':,d', ':.3g'), or ':raw'.
A whole table, alone on its line:
    {{table ch01-orders cols=order,train_ppl,val_ppl head="Order|Train|Val" fmt=":d|:.2f|:.2f" where=k=v}}
An unresolvable reference stops the build with a message naming the
source line, so prose cannot drift from the data.

Usage: markup x.nw | autodefs.c | finduses | noidx | nw2md.py --chapter 01-markov
"""
import argparse
import html
import math
import os
import re
import shlex
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from highlight import classify, language_of  # noqa: E402

DATA_DIR = "figures/data"
USE_MARK = "\x00"   # stands in for a chunk use while classifying a line


# ---------------------------------------------------------------------------
# The chunks, as read from the pipeline
# ---------------------------------------------------------------------------

class DocChunk:
    def __init__(self, line):
        self.parts = []        # strings and ("quote", [segments])
        self.line = line       # source line where it starts


class CodeChunk:
    def __init__(self, line):
        self.line = line
        self.label = None      # noweb's label for this definition
        self.name = None
        self.lines = [[]]      # each line: list of segments
        self.prevdef = self.nextdef = None
        self.continued = []    # labels of later definitions (first def only)
        self.used_in = []      # labels of chunks using this one (first def only)
        self.notused = False
        self.defines = []      # identifiers defined here
        self.seen_header_nl = False


class Chapter:
    def __init__(self):
        self.chunks = []       # DocChunk and CodeChunk in order
        self.chunk_list = []   # (label, name, [use labels], [defn labels])
        self.index = []        # (ident, first def label, [use labels], [defn labels])
        self.file = None


def parse(stream):
    """Turn the pipeline's keyword lines into a Chapter."""
    ch = Chapter()
    cur = None
    quote = None           # segments of a [[quote]] being read
    pending_label = pending_ref = None
    pending_ident = None   # an '@index use' waiting for its @text
    src_line = 1
    mode = None            # inside which begin/end group of xref/index lists
    entry = None
    for raw in stream:
        raw = raw.rstrip("\n")
        if not raw.startswith("@"):
            continue
        kw, _, arg = raw[1:].partition(" ")
        if kw == "file":
            ch.file = arg
        elif kw == "begin":
            kind = arg.split()[0]
            cur = DocChunk(src_line) if kind == "docs" else CodeChunk(src_line)
            ch.chunks.append(cur)
        elif kw == "end":
            cur = None
        elif kw == "defn":
            cur.name = arg
            cur.label = pending_label
            pending_label = None
        elif kw == "nl":
            src_line += 1
            if cur is None:
                continue
            if isinstance(cur, CodeChunk):
                if not cur.seen_header_nl:
                    cur.seen_header_nl = True
                else:
                    cur.lines.append([])
            elif quote is not None:
                quote.append(("t", "\n"))
            else:
                cur.parts.append("\n")
        elif kw == "text":
            if cur is None:
                continue
            if isinstance(cur, CodeChunk):
                if pending_ident is not None and arg == pending_ident[0]:
                    cur.lines[-1].append(("id", arg, pending_ident[1]))
                else:
                    cur.lines[-1].append(("t", arg))
                pending_ident = None
            elif quote is not None:
                quote.append(("t", arg))
            else:
                cur.parts.append(arg)
        elif kw == "quote":
            quote = []
        elif kw == "endquote":
            cur.parts.append(("quote", quote))
            quote = None
        elif kw == "use":
            seg = ("use", arg, pending_ref)
            if isinstance(cur, CodeChunk):
                cur.lines[-1].append(seg)
            elif quote is not None:
                quote.append(seg)
            pending_ref = None
        elif kw == "xref":
            sub, _, rest = arg.partition(" ")
            if sub == "label":
                pending_label = rest
            elif sub == "ref":
                pending_ref = rest
            elif sub == "prevdef":
                cur.prevdef = rest
            elif sub == "nextdef":
                cur.nextdef = rest
            elif sub in ("begindefs", "beginuses", "beginchunks"):
                mode = sub
            elif sub in ("enddefs", "enduses", "endchunks"):
                mode = None
            elif sub == "defitem" and mode == "begindefs":
                cur.continued.append(rest)
            elif sub == "useitem" and mode == "beginuses":
                cur.used_in.append(rest)
            elif sub == "notused":
                cur.notused = True
            elif sub == "chunkbegin":
                label, _, name = rest.partition(" ")
                entry = (label, name, [], [])
                ch.chunk_list.append(entry)
            elif sub == "chunkuse":
                entry[2].append(rest)
            elif sub == "chunkdefn":
                entry[3].append(rest)
        elif kw == "index":
            sub, _, rest = arg.partition(" ")
            if sub == "nl":            # the newline of an "@ %def" line
                src_line += 1
            if sub == "use" and isinstance(cur, CodeChunk):
                pending_ident = (rest, pending_ref)
                pending_ref = None
            elif sub == "defn" and isinstance(cur, CodeChunk):
                if rest not in cur.defines:
                    cur.defines.append(rest)
            elif sub == "entrybegin":
                label, _, ident = rest.partition(" ")
                entry = (ident, label, [], [])
                ch.index.append(entry)
            elif sub == "entryuse":
                entry[2].append(rest)
            elif sub == "entrydefn":
                entry[3].append(rest)
    return ch


# ---------------------------------------------------------------------------
# Names, numbers, anchors and languages
# ---------------------------------------------------------------------------

def slugify(name):
    s = re.sub(r"[^A-Za-z0-9]+", "-", name.lower()).strip("-")
    return s or "chunk"


def number_chunks(ch, chapnum):
    """Give every code chunk its number (3.12), a stable anchor and a language."""
    code = [c for c in ch.chunks if isinstance(c, CodeChunk)]
    seen = {}
    by_label = {}
    for i, c in enumerate(code, 1):
        k = seen.get(c.name, 0) + 1
        seen[c.name] = k
        c.number = "%d.%d" % (chapnum, i)
        c.slug = "c%02d-%s%s" % (chapnum, slugify(c.name), "" if k == 1 else "-%d" % k)
        c.first = k == 1
        by_label[c.label] = c
    # The language of a chunk is the language of the root file it ends up in.
    uses = {}
    for c in code:
        for line in c.lines:
            for seg in line:
                if seg[0] == "use":
                    uses.setdefault(c.name, set()).add(seg[1])
    lang = {}

    def spread(name, language):
        if name in lang:
            return
        lang[name] = language
        for u in uses.get(name, ()):
            spread(u, language)
    roots = [c.name for c in code if c.first and c.notused]
    for r in roots:
        spread(r, language_of(r))
    for c in code:
        c.lang = lang.get(c.name, "c")
        c.is_root = c.name in roots
    return code, by_label


# ---------------------------------------------------------------------------
# Data references: numbers and tables from figures/data/*.tsv
# ---------------------------------------------------------------------------

class DataError(Exception):
    pass


_tsv_cache = {}


def unescape_tsv(s):
    return re.sub(r"\\(.)", lambda m: {"t": "\t", "n": "\n", "\\": "\\"}.get(m.group(1), m.group(1)), s)


def load_tsv(stem):
    if stem in _tsv_cache:
        return _tsv_cache[stem]
    path = os.path.join(DATA_DIR, stem + ".tsv")
    if not os.path.exists(path):
        raise DataError("no data file %s (run the chapter's experiments: make chNN-figures)" % path)
    meta, cols, rows = {}, None, []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("#"):
                k, _, v = line[1:].strip().partition(": ")
                meta[k] = v
                continue
            fields = [unescape_tsv(x) for x in line.split("\t")]
            if cols is None:
                cols = fields
            elif line:
                if len(fields) != len(cols):
                    raise DataError("%s: a row has %d fields, the header %d" % (path, len(fields), len(cols)))
                rows.append(dict(zip(cols, fields)))
    if cols is None:
        raise DataError("%s has no header line" % path)
    _tsv_cache[stem] = (path, cols, rows, meta)
    return _tsv_cache[stem]


_SAFE = {"abs": abs, "min": min, "max": max, "log": math.log, "log2": math.log2,
         "log10": math.log10, "exp": math.exp, "sqrt": math.sqrt}


def row_value(path, cols, row, expr):
    """A column's value (a string), or an arithmetic expression of columns."""
    if expr in cols:
        return row[expr]
    env = {}
    for c in cols:
        try:
            env[c] = float(row[c])
        except ValueError:
            pass
    try:
        return repr(float(eval(expr, {"__builtins__": {}}, dict(_SAFE, **env))))
    except NameError as e:
        raise DataError("%s has no column %s (columns: %s)" % (path, str(e).split("'")[1], ", ".join(cols)))
    except Exception as e:
        raise DataError("cannot evaluate '%s' on %s: %s" % (expr, path, e))


def as_number(s):
    try:
        return float(s)
    except ValueError:
        return None


def select_rows(stem, selectors):
    """Rows of a data file that pass every selector, in order:
    row=first|last|N, EXPR=min|max (the row where EXPR is smallest/largest),
    EXPR=VALUE (numeric or string equality), or a condition (order>3)."""
    path, cols, rows, _ = load_tsv(stem)
    out = rows
    for sel in selectors:
        m = re.match(r"^(.+?)(?<![<>!=])=(?!=)(.*)$", sel)
        if not m:
            # a condition such as val_unseen_ctx>0.5: keep the rows where it holds
            out = [r for r in out if float(row_value(path, cols, r, sel)) != 0]
            continue
        k, v = m.group(1), m.group(2)
        if k == "row":
            if v == "last":
                out = out[-1:]
            elif v == "first":
                out = out[:1]
            else:
                out = out[int(v):int(v) + 1]
            continue
        vals = [row_value(path, cols, r, k) for r in out]
        if v in ("min", "max"):
            nums = [(as_number(x), i) for i, x in enumerate(vals) if as_number(x) is not None
                    and not math.isnan(as_number(x))]
            if not nums:
                raise DataError("%s: no numeric values of '%s' to take the %s of" % (path, k, v))
            best = (min if v == "min" else max)(nums)
            out = [out[best[1]]]
            continue

        def same(a, b):
            x, y = as_number(a), as_number(b)
            return x == y if x is not None and y is not None else a == b
        out = [r for r, x in zip(out, vals) if same(x, v)]
    return path, cols, out


def md_escape(s):
    return re.sub(r"([\\`*_{}\[\]<>#|$~^])", r"\\\1", s)


def format_value(value, spec):
    if spec == ":raw":
        return value
    if spec in ("", ":text"):
        try:
            float(value)
            return value
        except ValueError:
            return md_escape(value)
    fmt = spec[1:]
    try:
        x = float(value)
    except ValueError:
        raise DataError("value '%s' is not a number (format %s)" % (value, spec))
    if fmt.startswith("sci"):
        # scientific notation as math: :sci -> $5.2 \times 10^{7}$ (2 significant digits),
        # :sci3 for 3; numbers below 10,000 are written plainly
        digits = int(fmt[3:] or 2)
        if x == 0 or (1 <= abs(x) < 1e4 and x == int(x)):
            return format(int(x), ",d") if x == int(x) else format(x, ".%dg" % digits)
        e = int(math.floor(math.log10(abs(x))))
        m = x / 10 ** e
        if round(m, digits - 1) >= 10:
            m, e = m / 10, e + 1
        return "$%.*f \\times 10^{%d}$" % (digits - 1, m, e)
    if fmt.endswith("d"):
        if not math.isfinite(x) or x != int(x):
            raise DataError("value %s is not an integer (format %s)" % (value, spec))
        x = int(x)
    return format(x, fmt)


def resolve_inline(body):
    toks = shlex.split(body)
    if len(toks) < 2:
        raise DataError("a data reference needs a file and a column")
    stem, col = toks[0], toks[1]
    spec = ""
    if toks[-1].startswith(":"):
        spec = toks.pop()
    path, cols, rows = select_rows(stem, toks[2:])
    if len(rows) != 1:
        raise DataError("%s: the selectors %s match %d rows, not one" % (path, toks[2:] or "(none)", len(rows)))
    return format_value(row_value(path, cols, rows[0], col), spec)


def resolve_table(body):
    toks = shlex.split(body)
    stem, opts = toks[1], {}
    for t in toks[2:]:
        k, _, v = t.partition("=")
        opts.setdefault(k, []).append(v)
    path, cols, rows = select_rows(stem, opts.get("where", []))
    want = opts.get("cols", [",".join(cols)])[0].split(",")
    for c in want:
        if c not in cols:
            raise DataError("%s has no column '%s' (columns: %s)" % (path, c, ", ".join(cols)))
    heads = opts["head"][0].split("|") if "head" in opts else want
    fmts = opts["fmt"][0].split("|") if "fmt" in opts else [""] * len(want)
    align = opts["align"][0] if "align" in opts else ""
    if len(heads) != len(want) or len(fmts) != len(want):
        raise DataError("table %s: cols, head and fmt must have the same number of entries" % stem)
    if not rows:
        raise DataError("table %s: no rows match" % stem)
    rule = []
    for i in range(len(want)):
        a = align[i] if i < len(align) else ("l" if fmts[i] in ("", ":text", ":raw") else "r")
        rule.append({"l": ":---", "r": "---:", "c": ":---:"}[a])
    out = ["| " + " | ".join(heads) + " |", "|" + "|".join(rule) + "|"]
    for r in rows:
        out.append("| " + " | ".join(format_value(r[c], f) for c, f in zip(want, fmts)) + " |")
    return "\n".join(out)


_DATA_REF = re.compile(r"\{\{(.*?)\}\}", re.S)


def substitute_data(text, where):
    def one(m):
        body = m.group(1).strip()
        try:
            if body.startswith("table "):
                return resolve_table(body)
            return resolve_inline(body)
        except DataError as e:
            sys.exit("%s: {{%s}}: %s" % (where, body, e))
        except (ValueError, IndexError) as e:
            sys.exit("%s: {{%s}}: malformed reference (%s)" % (where, body, e))
    return _DATA_REF.sub(one, text)


# ---------------------------------------------------------------------------
# Rendering code chunks
# ---------------------------------------------------------------------------

LATEX_CODE_ESC = {"\\": r"\nwbs{}", "{": r"\nwob{}", "}": r"\nwcb{}"}
LATEX_TEXT_ESC = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "_": r"\_", "%": r"\%",
                  "&": r"\&", "#": r"\#", "$": r"\$", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}"}


def latex_code(s):
    return "".join(LATEX_CODE_ESC.get(ch, ch) for ch in s)


def latex_label(slug):
    """Labels inside Verbatim must avoid the characters fancyvrb makes active."""
    return slug.replace("-", ".")


def latex_text(s):
    return "".join(LATEX_TEXT_ESC.get(ch, ch) for ch in s)


def line_runs(chunk):
    """Split the chunk into lines of runs: ("text", s, cls, link) or ("use", name, label)."""
    flat, marks = [], []   # characters, and per character (class placeholder, link)
    for li, line in enumerate(chunk.lines):
        if li:
            flat.append("\n")
            marks.append(None)
        for seg in line:
            if seg[0] == "use":
                flat.append(USE_MARK)
                marks.append(("use", seg[1], seg[2]))
            else:
                text = seg[1].expandtabs(8)
                link = seg[2] if seg[0] == "id" else None
                for ch in text:
                    flat.append(ch)
                    marks.append(("link", link))
    text = "".join(flat)
    cls = classify(text, chunk.lang)
    lines, cur, run = [], [], None
    for ch, c, m in zip(text, cls, marks):
        if ch == "\n":
            if run:
                cur.append(run)
            lines.append(cur)
            cur, run = [], None
            continue
        if m[0] == "use":
            if run:
                cur.append(run)
            run = None
            cur.append(("use", m[1], m[2]))
            continue
        key = (c, m[1])
        if run and (run[2], run[3]) == key:
            run = ("text", run[1] + ch, c, m[1])
        else:
            if run:
                cur.append(run)
            run = ("text", ch, c, m[1])
    if run:
        cur.append(run)
    lines.append(cur)
    while lines and not lines[-1]:
        lines.pop()
    return lines


class Renderer:
    def __init__(self, chapnum, code, by_label):
        self.chapnum = chapnum
        self.code = code
        self.by_label = by_label
        self.by_name = {}
        for c in code:
            if c.first:
                self.by_name[c.name] = c

    def target(self, label):
        return self.by_label.get(label)

    def chunk_of_use(self, name, label):
        return self.by_label.get(label) or self.by_name.get(name)

    # -- HTML ---------------------------------------------------------------
    def html_use(self, name, label):
        t = self.chunk_of_use(name, label)
        if t is None:
            return '<span class="nw-use nw-undefined">&#x27E8;%s&#x27E9;</span>' % html.escape(name)
        return ('<span class="nw-use">&#x27E8;<a href="#%s">%s</a>&#x2009;<span class="nw-num">%s</span>&#x27E9;</span>'
                % (t.slug, html.escape(name), t.number))

    def html_ref(self, label):
        t = self.target(label)
        return '<a href="#%s">%s</a>' % (t.slug, t.number) if t else "?"

    def html_chunk(self, c):
        head = ['<div class="nw-chunk" id="%s">' % c.slug, '<div class="nw-head">',
                '<a class="nw-num" href="#%s">%s</a> ' % (c.slug, c.number),
                '<span class="nw-name">&#x27E8;%s&#x27E9;</span>' % html.escape(c.name),
                '<span class="nw-eq">%s</span>' % ("&#x2261;" if c.first else "+&#x2261;")]
        nav = []
        if c.prevdef:
            nav.append('<a href="#%s" title="previous part">&#x25C2;&#x2009;%s</a>'
                       % (self.target(c.prevdef).slug, self.target(c.prevdef).number))
        if c.nextdef:
            nav.append('<a href="#%s" title="next part">%s&#x2009;&#x25B8;</a>'
                       % (self.target(c.nextdef).slug, self.target(c.nextdef).number))
        if nav:
            head.append('<span class="nw-nav">%s</span>' % " ".join(nav))
        head.append("</div>")
        body = []
        for line in line_runs(c):
            out = []
            for r in line:
                if r[0] == "use":
                    out.append(self.html_use(r[1], r[2]))
                    continue
                s = html.escape(r[1], quote=False)
                if r[2]:
                    s = '<span class="%s">%s</span>' % (r[2], s)
                t = self.target(r[3]) if r[3] else None
                if t is not None and t is not c:
                    s = '<a class="nw-id" href="#%s">%s</a>' % (t.slug, s)
                out.append(s)
            body.append("".join(out))
        code = '<pre class="nw-code lang-%s"><code>%s</code></pre>' % (c.lang, "\n".join(body))
        foot = self.foot(c, self.html_ref, lambda s: "<code>%s</code>" % html.escape(s))
        parts = head + [code]
        if foot:
            parts.append('<div class="nw-foot">%s</div>' % foot)
        parts.append("</div>")
        return "".join(parts[:-1]) + parts[-1]

    # -- LaTeX --------------------------------------------------------------
    def latex_use(self, name, label):
        t = self.chunk_of_use(name, label)
        if t is None:
            return r"\nwundef{%s}" % latex_code(name)
        return r"\nwuse{%s}{%s}" % (latex_label(t.slug), latex_code(name))

    def latex_ref(self, label):
        t = self.target(label)
        return r"\nwref{%s}" % latex_label(t.slug) if t else "?"

    def latex_chunk(self, c):
        out = [r"\begin{nwchunk}",
               r"\nwhead{%s}{%s}{%s}%%" % (latex_label(c.slug), latex_text(c.name), "" if c.first else "+"),
               r"\begin{nwcode}"]
        for line in line_runs(c):
            s = []
            for r in line:
                if r[0] == "use":
                    s.append(self.latex_use(r[1], r[2]))
                elif r[2]:
                    s.append(r"\nw%s{%s}" % (r[2], latex_code(r[1])))
                else:
                    s.append(latex_code(r[1]))
            out.append("".join(s))
        out.append(r"\end{nwcode}")
        foot = self.foot(c, self.latex_ref, lambda s: r"\texttt{%s}" % latex_text(s))
        if foot:
            out.append(r"\nwfoot{%s}" % foot)
        out.append(r"\end{nwchunk}")
        return "\n".join(out)

    # -- Shared -------------------------------------------------------------
    def foot(self, c, ref, ident):
        bits = []
        if c.first and c.is_root:
            bits.append("Root chunk: tangled to %s." % ident("build/%s/%s" % (CHAPTER, c.name)))
        if c.first and c.used_in:
            bits.append("Used in %s." % ", ".join(ref(l) for l in c.used_in))
        if c.first and c.continued:
            bits.append("Continued in %s." % ", ".join(ref(l) for l in c.continued))
        if c.defines:
            bits.append("Defines %s." % ", ".join(ident(d) for d in c.defines))
        return " ".join(bits)


# ---------------------------------------------------------------------------
# Documentation chunks and the whole chapter
# ---------------------------------------------------------------------------

def inline_code(text):
    ticks = "`"
    while ticks in text:
        ticks += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return ticks + pad + text + pad + ticks


def render_doc(d, renderer, where):
    out = []
    for p in d.parts:
        if isinstance(p, str):
            out.append(p)
            continue
        segs = p[1]
        if len(segs) == 1 and segs[0][0] == "use":
            t = renderer.chunk_of_use(segs[0][1], segs[0][2])
            name = segs[0][1]
            out.append("[&#x27E8;%s&#x27E9;](#%s)" % (md_escape(name), t.slug) if t else md_escape(name))
        else:
            text = "".join(s[1] if s[0] != "use" else "<<%s>>" % s[1] for s in segs)
            out.append(inline_code(text))
    return substitute_data("".join(out), where)


def render_indexes(ch, renderer):
    code = renderer.code
    firsts = [c for c in code if c.first]
    firsts.sort(key=lambda c: c.name.lower())
    defs_of = {}
    for c in code:
        defs_of.setdefault(c.name, []).append(c)

    h = ['<div class="nw-index"><ul class="nw-chunk-index">']
    lx = [r"\begin{nwindex}"]
    for c in firsts:
        parts = defs_of[c.name]
        users = [renderer.target(l) for l in c.used_in]
        users = [u for u in users if u]
        h.append('<li><span class="nw-name">&#x27E8;<a href="#%s">%s</a>&#x27E9;</span> %s%s</li>' % (
            c.slug, html.escape(c.name),
            ", ".join('<a href="#%s">%s</a>' % (p.slug, p.number) for p in parts),
            ("; used in " + ", ".join('<a href="#%s">%s</a>' % (u.slug, u.number) for u in users)) if users else ""))
        lx.append(r"\item $\langle$%s$\rangle$ %s%s" % (
            latex_text(c.name), ", ".join(r"\nwref{%s}" % latex_label(p.slug) for p in parts),
            ("; used in " + ", ".join(r"\nwref{%s}" % latex_label(u.slug) for u in users)) if users else ""))
    h.append("</ul></div>")
    lx.append(r"\end{nwindex}")
    out = ["\n\n## Index of chunks {.unnumbered .nw-index-head}\n",
           "\n````{=html}\n%s\n````\n" % "\n".join(h),
           "\n````{=latex}\n%s\n````\n" % "\n".join(lx)]

    idents = sorted(ch.index, key=lambda e: e[0].lower())
    if idents:
        h = ['<div class="nw-index"><ul class="nw-ident-index">']
        lx = [r"\begin{nwindex}"]
        for ident, _, uses, defs in idents:
            d = [renderer.target(l) for l in defs]
            u = [renderer.target(l) for l in uses if l not in defs]
            d = [x for x in d if x]
            u = [x for x in u if x]
            h.append('<li><code>%s</code>: defined in %s%s</li>' % (
                html.escape(ident), ", ".join('<a href="#%s">%s</a>' % (x.slug, x.number) for x in d),
                ("; used in " + ", ".join('<a href="#%s">%s</a>' % (x.slug, x.number) for x in u)) if u else ""))
            lx.append(r"\item \texttt{%s}: defined in %s%s" % (
                latex_text(ident), ", ".join(r"\nwref{%s}" % latex_label(x.slug) for x in d),
                ("; used in " + ", ".join(r"\nwref{%s}" % latex_label(x.slug) for x in u)) if u else ""))
        h.append("</ul></div>")
        lx.append(r"\end{nwindex}")
        out += ["\n## Index of identifiers {.unnumbered .nw-index-head}\n",
                "\n````{=html}\n%s\n````\n" % "\n".join(h),
                "\n````{=latex}\n%s\n````\n" % "\n".join(lx)]
    return "".join(out)


CHAPTER = ""


def main():
    global CHAPTER
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chapter", required=True, help="the chapter's directory name, e.g. 01-markov")
    args = ap.parse_args()
    CHAPTER = args.chapter
    m = re.match(r"(\d+)-", args.chapter)
    chapnum = int(m.group(1)) if m else 0

    ch = parse(sys.stdin)
    code, by_label = number_chunks(ch, chapnum)
    r = Renderer(chapnum, code, by_label)
    src = ch.file or args.chapter
    out = []
    for c in ch.chunks:
        if isinstance(c, DocChunk):
            out.append(render_doc(c, r, "%s:%d" % (src, c.line)))
        else:
            out.append("\n\n````{=html}\n%s\n````\n\n````{=latex}\n%s\n````\n\n"
                       % (r.html_chunk(c), r.latex_chunk(c)))
    out.append(render_indexes(ch, r))
    text = "".join(out)
    text = re.sub(r"\n{3,}", "\n\n", text)
    sys.stdout.write(text.lstrip("\n"))


if __name__ == "__main__":
    main()
