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

The chunks come from noweb's markup stream as tools/nwreader.py reads it
(the tangler reads it the same way).  Data references ({{ch01-orders
val_ppl order=3 :.2f}}, and whole tables) are the language of
book/dataref.py, whose module comment describes it; an unresolvable
reference stops the build with one line naming the source line and the
reference, so prose cannot drift from the data.

Usage: markup x.nw | autodefs.c | finduses | noidx | nw2md.py --chapter 01-markov
"""
import argparse
import html
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tools"))
import dataref  # noqa: E402
import nwreader  # noqa: E402
from dataref import md_escape  # noqa: E402
from highlight import classify, language_of  # noqa: E402

USE_MARK = "\x00"   # stands in for a chunk use while classifying a line


# ---------------------------------------------------------------------------
# Names, numbers, anchors and languages
# ---------------------------------------------------------------------------

def slugify(name):
    s = re.sub(r"[^A-Za-z0-9]+", "-", name.lower()).strip("-")
    return s or "chunk"


def number_chunks(ch, chapnum):
    """Give every code chunk its number (3.12), a stable anchor and a language."""
    code = [c for c in ch.chunks if c.is_code]
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
            for seg in line.segments:
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
        for seg in line.segments:
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


def quote_text(segs):
    """A [[quote]] as the code it quotes, every use as <<name>>."""
    return "".join({"use": lambda x: "<<%s>>" % x[1], "nl": lambda x: "\n"}.get(x[0], lambda x: x[1])(x)
                   for x in segs)


_TICKS = re.compile(r"`+")


def code_spans(md):
    """The inline code spans of a Markdown text, as pandoc pairs backticks:
    (start, end, content) for each, a run of n backticks closed by the next
    run of exactly n."""
    spans, i = [], 0
    while True:
        m = _TICKS.search(md, i)
        if not m:
            return spans
        n, j = len(m.group()), m.end()
        i = m.end()
        while True:
            r = _TICKS.search(md, j)
            if not r:
                break
            if len(r.group()) == n:
                spans.append((m.start(), r.end(), md[m.end():r.start()]))
                i = r.end()
                break
            j = r.end()


def strip_pad(content):
    return content[1:-1] if len(content) > 2 and content[0] == " " and content[-1] == " " else content


def join_code(pieces):
    """Join the pieces of a documentation chunk: ("md", text) and ("code",
    the code of a [[quote]]).  A quote written against inline code, as in
    [[linear_backward]]`(dX, ...)`, or against another quote, is one stretch
    of code to the reader: it becomes one code span (written apart, the
    backticks would run together as ``, which Markdown reads as part of the
    code)."""
    merged = []
    for kind, text in pieces:
        if kind == "code":
            if merged and merged[-1][0] == "code":
                merged[-1] = ("code", merged[-1][1] + text)
                continue
            if merged and merged[-1][0] == "md":
                spans = code_spans(merged[-1][1])
                if spans and spans[-1][1] == len(merged[-1][1]):
                    start, _, content = spans[-1]
                    head = merged[-1][1][:start]
                    merged[-1] = ("md", head)
                    text = strip_pad(content) + text
            merged.append(("code", text))
        else:
            if merged and merged[-1][0] == "code":
                spans = code_spans(text)
                if spans and spans[0][0] == 0:
                    merged[-1] = ("code", merged[-1][1] + strip_pad(spans[0][2]))
                    text = text[spans[0][1]:]
            merged.append(("md", text))
    return "".join(inline_code(t) if k == "code" else t for k, t in merged)


def render_doc(d, renderer, source):
    """A documentation chunk as Markdown: quotes as inline code (a quoted
    chunk use as a link to the chunk), data references resolved."""
    pieces = []
    for line in d.lines:
        for p in line.segments:
            if p[0] != "quote":
                pieces.append(("md", p[1]))
                continue
            segs = p[1]
            if len(segs) == 1 and segs[0][0] == "use":
                t = renderer.chunk_of_use(segs[0][1], segs[0][2])
                name = segs[0][1]
                pieces.append(("md", "[&#x27E8;%s&#x27E9;](#%s)" % (md_escape(name), t.slug) if t else md_escape(name)))
            else:
                pieces.append(("code", quote_text(segs)))
        if line.nl:
            pieces.append(("md", "\n"))
    return dataref.substitute(join_code(pieces), source, d.line)


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

    idents = sorted(ch.ident_index, key=lambda e: e[0].lower())
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

    ch = nwreader.read(sys.stdin)
    code, by_label = number_chunks(ch, chapnum)
    r = Renderer(chapnum, code, by_label)
    src = ch.file or args.chapter
    out = []
    for c in ch.chunks:
        if not c.is_code:
            try:
                out.append(render_doc(c, r, src))
            except dataref.DataRefError as e:
                sys.exit(str(e))
        else:
            out.append("\n\n````{=html}\n%s\n````\n\n````{=latex}\n%s\n````\n\n"
                       % (r.html_chunk(c), r.latex_chunk(c)))
    out.append(render_indexes(ch, r))
    text = "".join(out)
    text = re.sub(r"\n{3,}", "\n\n", text)
    sys.stdout.write(text.lstrip("\n"))


if __name__ == "__main__":
    main()
