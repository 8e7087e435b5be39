#!/usr/bin/env python3
"""test_book.py -- the woven book, checked as a reader would find it.

  * every chapter source weaves (its Markdown and HTML page exist) and is
    listed on the contents page;
  * every link inside the HTML book resolves: #anchors on the same page,
    other pages, anchors on other pages; no chunk use is left undefined;
  * every figure the prose shows exists as SVG (HTML) and PDF (print), and
    every image in the HTML loads from disk;
  * no {{data reference}} and no raw $math$ delimiters survive into the HTML
    outside the KaTeX-rendered spans; the math is typeset when the page is
    built (every span.math holds KaTeX's HTML, none is a KaTeX error, no
    page loads a script to typeset it); no inline code shows two quotes run
    together (``);
  * identifiers are unique: no id twice on an HTML page, no LaTeX label
    twice in the book (and no "multiply defined" from LaTeX), no id twice
    in the EPUB, whose chapters share one space of ids;
  * the PDF exists, and LaTeX reported no undefined references;
  * print quality: no code line runs off the page (no overfull box set in
    the monospaced font) and nothing else sticks out more than 20pt; no
    character is missing from its font; every font is embedded; the figure
    PDFs are vector drawings (no raster images); and a sample of Greek, CJK,
    Devanagari and emoji, in prose and in a code chunk, set with the book's preamble,
    finds a font for every character;
  * every gnuplot figure has its dark-mode drawing (figures/x-dark.svg), and in
    both drawings the text (and in the dark one the curves) contrasts with
    the background: a colour fixed in a figure script that vanishes on the
    dark page is caught here (figures/style.gp offers ink, faint, paper);
  * the EPUB exists, has every chapter, math as MathML, and passes
    epubcheck (where Debian's epubcheck is installed).

The browser's view of the HTML book is tests/test_browser.sh.
Run from the repository root after `make html pdf epub`; prints "N passed, N failed".
"""
import collections
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from html.parser import HTMLParser

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pycheck import Checks  # noqa: E402

check = Checks("FAIL book: ")


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.hrefs, self.imgs = set(), [], []
        self.id_list = []
        self.math_spans = self.math_typeset = self.math_errors = 0
        self.scripts = []
        self.inline_code = []      # text of <code> outside <pre>
        self.code_depth = self.pre_depth = 0
        self.in_script = False
        self.in_math = 0
        self.text_outside_math = []
        self.stack = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
            self.id_list.append(a["id"])
        if tag == "script":
            self.scripts.append((a.get("src") or "") + " ")
            self.in_script = True
        if tag == "code" and not self.pre_depth:
            if not self.code_depth:
                self.inline_code.append("")
            self.code_depth += 1
        if tag == "pre":
            self.pre_depth += 1
        if tag == "a" and "href" in a:
            self.hrefs.append(a["href"])
        if tag == "img" and "src" in a:
            self.imgs.append(a["src"])
        cls = a.get("class", "") or ""
        math = tag == "span" and "math" in cls.split()
        if math:
            self.math_spans += 1
        if tag == "span" and "katex" in cls.split() and self.in_math:
            self.math_typeset += 1
        if "katex-error" in cls.split():
            self.math_errors += 1
        skip = tag in ("code", "pre", "script", "style")
        self.stack.append(math or skip)
        if math or skip:
            self.in_math += 1

    def handle_endtag(self, tag):
        if tag == "pre":
            self.pre_depth -= 1
        if tag == "code" and self.code_depth:
            self.code_depth -= 1
        if tag == "script":
            self.in_script = False
        if self.stack and self.stack.pop():
            self.in_math -= 1

    def handle_data(self, data):
        if self.in_script:
            self.scripts[-1] += data
        if self.code_depth:
            self.inline_code[-1] += data
        if not self.in_math:
            self.text_outside_math.append(data)


def main():
    global EPUBCHECK
    EPUBCHECK = start_epubcheck()
    chapters = sorted(glob.glob("chapters/[0-9][0-9]-*/*.nw"))
    check(len(chapters) > 0, "there is at least one chapter")
    pages = {}
    for path in sorted(glob.glob("book/html/*.html")):
        p = Page()
        with open(path, encoding="utf-8") as f:
            p.feed(f.read())
        pages[os.path.basename(path)] = p
    check("index.html" in pages, "book/html/index.html exists")

    for nw in chapters:
        stem = os.path.basename(os.path.dirname(nw))
        check(os.path.exists("build/book/%s.md" % stem), "%s weaves (build/book/%s.md)" % (nw, stem))
        check("%s.html" % stem in pages, "%s has an HTML page" % nw)
        if "index.html" in pages:
            check(any(h == "%s.html" % stem for h in pages["index.html"].hrefs),
                  "the contents page links to %s.html" % stem)
        # every figure the prose shows exists in both formats
        with open(nw, encoding="utf-8") as f:
            src = f.read()
        for fig in re.findall(r"!\[[^\]]*\]\((figures/[^)\s]+)\)", src):
            for ext in (".svg", ".pdf"):
                check(os.path.exists(fig + ext), "%s shows %s%s, which exists" % (nw, fig, ext))

    for name, p in pages.items():
        bad = []
        for h in p.hrefs:
            if re.match(r"^[a-z]+:", h):
                continue           # external (none expected, but not ours to check)
            page, _, frag = h.partition("#")
            target = pages.get(page) if page else p
            if target is None:
                bad.append(h)
            elif frag and frag not in target.ids:
                bad.append(h)
        check(not bad, "%s: every link resolves%s" % (name, (" (broken: %s)" % ", ".join(bad[:5])) if bad else ""))
        missing = [s for s in p.imgs if not os.path.exists(os.path.join("book/html", s))]
        check(not missing, "%s: every image exists%s" % (name, (" (missing: %s)" % ", ".join(missing)) if missing else ""))
        text = "".join(p.text_outside_math)
        check("{{" not in text, "%s: no unresolved {{data reference}}" % name)
        leftovers = re.findall(r"\$[^$\s][^$]*\\[a-zA-Z]+[^$]*\$|\\frac|\\sum_", text)
        check(not leftovers, "%s: no raw TeX outside math%s" % (name, (" (%s)" % leftovers[0][:60]) if leftovers else ""))
        with open(os.path.join("book/html", name), encoding="utf-8") as f:
            check("nw-undefined" not in f.read(), "%s: every chunk use names a defined chunk" % name)
        twice = sorted(i for i, n in collections.Counter(p.id_list).items() if n > 1)
        check(not twice, "%s: no id is given twice%s" % (name, (" (%s)" % ", ".join(twice[:5])) if twice else ""))
        check(p.math_typeset >= p.math_spans and not p.math_errors,
              "%s: all %d formulas are typeset in the page as built (%d typeset, %d KaTeX errors)" % (
                  name, p.math_spans, p.math_typeset, p.math_errors))
        check(not any("katex" in x.lower() for x in p.scripts), "%s: no script typesets math in the browser" % name)
        run = [c for c in p.inline_code if "``" in c]
        check(not run, "%s: no inline code shows two quotes run together%s" % (name, (" (%s)" % run[0][:50]) if run else ""))

    check(os.path.exists("book/book.pdf") and os.path.getsize("book/book.pdf") > 10000, "book/book.pdf exists")
    log = "build/book/xelatex.log"
    if os.path.exists(log):
        with open(log, encoding="utf-8", errors="replace") as f:
            text = f.read()
        undefined = re.findall(r"Reference `([^']+)' on page", text)
        check(not undefined, "the PDF has no undefined references%s" % ((" (%s)" % ", ".join(undefined[:5])) if undefined else ""))
        multiple = re.findall(r"Label `([^']+)' multiply defined", text)
        check(not multiple and "multiply defined" not in text and "multiply-defined" not in text,
              "LaTeX finds no label multiply defined%s" % ((" (%s)" % ", ".join(sorted(set(multiple))[:5])) if multiple else ""))
    # solutions: folded under their exercises in HTML, gathered at the end
    # of the chapter in the PDF
    tex = open("build/book/book.tex", encoding="utf-8").read() if os.path.exists("build/book/book.tex") else ""
    labels = collections.Counter(re.findall(r"\\label\{([^}]*)\}", tex))
    twice = sorted(l for l, n in labels.items() if n > 1)
    check(tex and not twice, "no LaTeX label is given twice in the book (%d labels%s)" % (
        len(labels), "; twice: %s" % ", ".join(twice[:5]) if twice else ""))
    for nw in chapters:
        stem = os.path.basename(os.path.dirname(nw))
        with open(nw, encoding="utf-8") as f:
            n = len(re.findall(r"^\s*:::+\s*\{?\s*\.solution\b", f.read(), re.M))
        if not n:
            continue
        page = os.path.join("book/html", stem + ".html")
        html_text = open(page, encoding="utf-8").read() if os.path.exists(page) else ""
        check(html_text.count('<details class="solution">') == n,
              "%s: its %d solutions fold away under their exercises in HTML" % (stem, n))
        chap = re.search(r"\\setcounter\{chapter\}\{%d\}(.*?)(?:\\setcounter\{chapter\}|\\appendix|\Z)" % (int(stem[:2]) - 1), tex, re.S)
        body = chap.group(1) if chap else ""
        tail = body.split("\\section*{Solutions}")[-1] if "\\section*{Solutions}" in body else ""
        check(len(re.findall(r"\\textbf\{Exercise \d+\.\}", tail)) == n,
              "%s: the PDF gathers its %d solutions at the end of the chapter" % (stem, n))
    print_quality()
    epub(chapters)
    for nw in chapters:
        with open(nw, encoding="utf-8") as f:
            src = f.read()
        gnuplot = set(re.findall(r"^<<(ch\d\d-[A-Za-z0-9_-]+)\.gp>>=", src, re.M))
        for fig in re.findall(r"!\[[^\]]*\]\((figures/[^)\s]+)\)", src):
            # gnuplot draws its figures for the dark page too; a figure drawn
            # otherwise (graphviz, say) sits on a white card in dark mode
            if os.path.basename(fig) in gnuplot:
                check(os.path.exists(fig + "-dark.svg"), "%s: %s has its dark-mode drawing %s-dark.svg" % (nw, fig, fig))
            for svg, paper, dark in ((fig + ".svg", "#ffffff", False), (fig + "-dark.svg", "#1d1f23", True)):
                if os.path.exists(svg):
                    weak = svg_weak_colours(svg, paper, dark)
                    check(not weak, "%s: its text%s reads on its background%s" % (
                        svg, " and curves" if dark else "", " (%s)" % ", ".join(weak[:4]) if weak else ""))
    return check.finish()


NAMED = {"black": (0, 0, 0), "white": (255, 255, 255), "gray": (128, 128, 128), "grey": (128, 128, 128)}


def rgb_of(c):
    c = (c or "").strip().lower()
    if c in NAMED:
        return NAMED[c]
    m = re.match(r"#([0-9a-f]{6})$", c)
    if m:
        return tuple(int(m.group(1)[i:i + 2], 16) for i in (0, 2, 4))
    m = re.match(r"rgba?\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)", c)
    return tuple(int(x) for x in m.groups()) if m else None


def contrast(a, b):
    def lum(rgb):
        f = [(x / 255) / 12.92 if x / 255 <= 0.03928 else ((x / 255 + 0.055) / 1.055) ** 2.4 for x in rgb]
        return 0.2126 * f[0] + 0.7152 * f[1] + 0.0722 * f[2]
    x, y = lum(a), lum(b)
    return (max(x, y) + 0.05) / (min(x, y) + 0.05)


def svg_weak_colours(path, paper, curves):
    """Colours in a gnuplot SVG that do not read on its background: text
    below a contrast of 3 and, when curves is set, lines 2px or wider
    (the curves, not the grid) below 1.5.  Colours are inherited from the
    enclosing groups; stroke="currentColor" takes the color attribute."""
    import xml.etree.ElementTree as ET
    bg = rgb_of(paper)
    weak = set()

    def walk(e, inh):
        a = dict(inh)
        for k in ("fill", "stroke", "color", "stroke-width"):
            if e.get(k) is not None:
                a[k] = e.get(k)
        tag = e.tag.split("}")[-1]
        if tag == "defs":
            return
        if tag == "text":
            c = rgb_of(a.get("fill"))
            if c and contrast(c, bg) < 3.0:
                weak.add("text in %s" % a.get("fill"))
        elif curves and tag in ("path", "polyline", "line"):
            stroke = a.get("stroke")
            if stroke == "currentColor":
                stroke = a.get("color")
            c = rgb_of(stroke)
            try:
                width = float(a.get("stroke-width", "1"))
            except ValueError:
                width = 1
            if c and width >= 2 and contrast(c, bg) < 1.5:
                weak.add("line in %s" % stroke)
        for child in e:
            walk(child, a)
    try:
        walk(ET.parse(path).getroot(), {"fill": "black"})
    except ET.ParseError as err:
        return ["unreadable SVG: %s" % err]
    return sorted(weak)


def overfull(log_text):
    """(points, line range, is code) for every overfull box xelatex reported."""
    out = []
    lines = log_text.split("\n")
    for i, line in enumerate(lines):
        m = re.match(r"Overfull \\hbox \(([\d.]+)pt too wide\) (?:in paragraph|in alignment|detected) at lines? (\S+)", line)
        if m:
            following = " ".join(lines[i + 1:i + 3])
            out.append((float(m.group(1)), m.group(2), "Mono" in following))
    return out


SAMPLE = r"""\documentclass{book}
\usepackage{fontspec}
\setmainfont{DejaVu Serif}[Scale=0.95]
\setsansfont{DejaVu Sans}
\setmonofont{DejaVu Sans Mono}[Scale=0.85]
\usepackage{hyperref}
\input{%s}
\begin{document}
Greek: \(\alpha\) and αβγδ λόγος; Chinese: 你好，世界; Japanese: こんにちは; Korean: 안녕;
Hindi: सभी मनुष्य स्वतंत्र हैं।; emoji: 😀 🚀 👍 ❤; \textbf{bold 字 😀}, \texttt{mono 字 😀 αβ हिंदी}.
\begin{nwchunk}
\nwhead{c10-sample}{Print a few tokens}{}%%
\begin{nwcode}
printf("\nwst{你好, 世界 😀 αβγ}\\n");   \nwco{/* 中文 */}
const char *s = "🚀👍", *hi = "सभी मनुष्य";
\end{nwcode}
\end{nwchunk}
\end{document}
"""


def print_quality():
    log = "build/book/xelatex.log"
    if not os.path.exists(log):
        check(False, "build/book/xelatex.log exists (make pdf)")
        return
    with open(log, encoding="utf-8", errors="replace") as f:
        text = f.read()
    boxes = overfull(text)
    code = [b for b in boxes if b[2] and b[0] > 1.0]
    check(not code, "no code line runs off the page%s" % (
        " (overfull code at book.tex lines %s)" % ", ".join("%s by %.0fpt" % (b[1], b[0]) for b in code[:5]) if code else ""))
    wide = [b for b in boxes if b[0] > 20.0]
    check(not wide, "nothing sticks out more than 20pt%s" % (
        " (book.tex lines %s)" % ", ".join("%s by %.0fpt" % (b[1], b[0]) for b in wide[:5]) if wide else ""))
    missing = sorted(set(re.findall(r"Missing character: There is no (.*?) in font", text)))
    check(not missing, "every character of the PDF has a font%s" % (" (missing: %s)" % " ".join(missing[:10]) if missing else ""))
    if shutil.which("pdffonts") and os.path.exists("book/book.pdf"):
        out = subprocess.run(["pdffonts", "book/book.pdf"], capture_output=True, text=True).stdout.splitlines()[2:]
        unembedded = [l.split()[0] for l in out if l.split() and l.split()[-5] != "yes"]
        check(not unembedded, "every font of the PDF is embedded%s" % (" (not: %s)" % ", ".join(unembedded) if unembedded else ""))
    if shutil.which("pdfimages") and shutil.which("pdffonts"):
        # vector figures: text set in fonts, lines as paths; the one raster
        # image allowed is a data grid a script plots "with image" (a heat
        # map at the data's own resolution), never a picture of the figure
        scripts = {}
        for nw in glob.glob("chapters/[0-9][0-9]-*/*.nw"):
            with open(nw, encoding="utf-8") as f:
                for name, body in re.findall(r"^<<(ch\d\d-[A-Za-z0-9_-]+)\.gp>>=\n(.*?)^@", f.read(), re.M | re.S):
                    scripts[name] = body
        for pdf in sorted(glob.glob("figures/*.pdf")):
            fonts = subprocess.run(["pdffonts", pdf], capture_output=True, text=True).stdout.splitlines()[2:]
            images = subprocess.run(["pdfimages", "-list", pdf], capture_output=True, text=True).stdout.splitlines()[2:]
            grid = re.search(r"with image(?! pixels)", scripts.get(os.path.basename(pdf)[:-4], ""))
            check(fonts and (not images or grid), "%s is a vector drawing (%d fonts, %d raster images%s)" % (
                pdf, len(fonts), len(images), ", a data grid" if images and grid else ""))
    # the fallback fonts, on a sample of what chapter 10 prints
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "sample.tex"), "w", encoding="utf-8") as f:
            f.write(SAMPLE % os.path.abspath("book/templates/preamble.tex"))
        r = subprocess.run(["xelatex", "-interaction=nonstopmode", "-halt-on-error", "sample.tex"],
                           cwd=tmp, capture_output=True, text=True)
        check(r.returncode == 0, "a sample of Greek, CJK, Devanagari and emoji compiles with the book's preamble")
        slog = open(os.path.join(tmp, "sample.log"), encoding="utf-8", errors="replace").read() \
            if os.path.exists(os.path.join(tmp, "sample.log")) else ""
        miss = sorted(set(re.findall(r"Missing character: There is no (.*?) in font", slog)))
        check(r.returncode == 0 and not miss, "every Greek, CJK, Devanagari and emoji character of the sample has a font%s" % (
            " (missing: %s)" % " ".join(miss[:10]) if miss else ""))
        if r.returncode == 0 and shutil.which("pdffonts"):
            fonts = subprocess.run(["pdffonts", os.path.join(tmp, "sample.pdf")], capture_output=True, text=True).stdout
            check("CJK" in fonts and "Symbola" in fonts and "Devanagari" in fonts,
                  "the sample embeds the CJK, Devanagari and emoji fallback fonts")


def epub(chapters):
    path = "book/book.epub"
    check(os.path.exists(path), "book/book.epub exists (make epub)")
    if not os.path.exists(path):
        return
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        text = "".join(z.read(n).decode("utf-8", "replace") for n in names if n.endswith(".xhtml"))
    check(names[0] == "mimetype", "the EPUB starts with its mimetype")
    for nw in chapters:
        stem = os.path.basename(os.path.dirname(nw))
        md = "build/book/%s.md" % stem
        if os.path.exists(md):
            with open(md, encoding="utf-8") as f:
                title = re.sub(r"\s*\{[^}]*\}\s*$", "", f.readline()[2:]).strip()
            check(title and title in text, "the EPUB has %s (%s)" % (stem, title))
    prose = re.sub(r"<pre.*?</pre>|<code.*?</code>|<annotation.*?</annotation>", "", text, flags=re.S)
    raw = re.findall(r"\\frac|\\\(|\$[^$<]*\\[a-z]+[^$<]*\$", prose)
    check("<math" in text and not raw, "the EPUB's math is MathML%s" % (" (raw TeX: %s)" % raw[0][:40] if raw else ""))
    check('class="nw-chunk"' in text, "the EPUB has the code chunks")
    ids = collections.Counter(re.findall(r'\sid="([^"]*)"', text))
    twice = sorted(i for i, n in ids.items() if n > 1)
    check(not twice, "no id is given twice in the EPUB (its links are resolved by id across chapters)%s" % (
        " (%s)" % ", ".join(twice[:5]) if twice else ""))
    if EPUBCHECK is None:
        print("note: epubcheck not installed; the EPUB was not validated")
        return
    out, err = EPUBCHECK.communicate()
    msgs = [l for l in (out + err).splitlines() if re.match(r"(ERROR|FATAL|WARNING)", l)]
    check(EPUBCHECK.returncode == 0 and not msgs, "epubcheck finds no error in the EPUB%s" % (" (%s)" % msgs[0][:160] if msgs else ""))


def start_epubcheck():
    """epubcheck (Java) takes seconds: start it first, read its verdict last.
    Debian's /usr/bin/epubcheck is a jar; run it with java, since binfmt may
    not be set up to execute it directly.  A quick JIT is plenty for one file."""
    jar = "/usr/bin/epubcheck" if os.path.exists("/usr/bin/epubcheck") else shutil.which("epubcheck")
    if not (jar and shutil.which("java") and os.path.exists("book/book.epub")):
        return None
    return subprocess.Popen(["java", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-jar", jar, "-q", "book/book.epub"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


EPUBCHECK = None


if __name__ == "__main__":
    sys.exit(main())
