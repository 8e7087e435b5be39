#!/usr/bin/env python3
"""test_book.py -- the woven book, checked as a reader would find it.

  * every chapter source weaves (its Markdown and HTML page exist) and is
    listed on the contents page;
  * every link inside the HTML book resolves: #anchors on the same page,
    other pages, anchors on other pages; no chunk use is left undefined;
  * every figure the prose shows exists as SVG (HTML) and PDF (print), and
    every image in the HTML loads from disk;
  * no {{data reference}} and no raw $math$ delimiters survive into the HTML
    outside the KaTeX-rendered spans;
  * the PDF exists, and LaTeX reported no undefined references.

Run from the repository root after `make html pdf`; prints "N passed, N failed".
"""
import glob
import os
import re
import sys
from html.parser import HTMLParser

passed = failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL book: %s" % what)


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.hrefs, self.imgs = set(), [], []
        self.in_math = 0
        self.text_outside_math = []
        self.stack = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and "href" in a:
            self.hrefs.append(a["href"])
        if tag == "img" and "src" in a:
            self.imgs.append(a["src"])
        cls = a.get("class", "") or ""
        math = tag == "span" and "math" in cls.split()
        skip = tag in ("code", "pre", "script", "style")
        self.stack.append(math or skip)
        if math or skip:
            self.in_math += 1

    def handle_endtag(self, tag):
        if self.stack and self.stack.pop():
            self.in_math -= 1

    def handle_data(self, data):
        if not self.in_math:
            self.text_outside_math.append(data)


def main():
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

    check(os.path.exists("book/book.pdf") and os.path.getsize("book/book.pdf") > 10000, "book/book.pdf exists")
    log = "build/book/xelatex.log"
    if os.path.exists(log):
        with open(log, encoding="utf-8", errors="replace") as f:
            text = f.read()
        undefined = re.findall(r"Reference `([^']+)' on page", text)
        check(not undefined, "the PDF has no undefined references%s" % ((" (%s)" % ", ".join(undefined[:5])) if undefined else ""))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
