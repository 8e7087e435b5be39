#!/usr/bin/env python3
"""search_docs.py META_DIR PAGE.html ... > docs.json -- what the book's search finds.

Reads the woven HTML pages and writes one JSON list of documents, each a
place a search result can link to:

  * a section (<section id=...>): its heading and its prose (math as its TeX
    source, which KaTeX keeps in its MathML's annotation), without the code chunks inside it (documents of their own);
  * a code chunk (<div class="nw-chunk" id=...>): its name and its code;
  * an identifier of the chapter's index: its name, linked to the chunk that
    defines it;
  * a figure (<figure id=...>): its caption.

Each document: id, href (page.html#anchor), kind, title, page (e.g.
"Chapter 1"), text (what is searched) and excerpt (what a result shows).
book/search_index.js turns the list into the index the pages load."""
import json
import os
import re
import sys
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
SKIP = {"script", "style", "header", "footer", "nav", "button"}


class Doc:
    def __init__(self, kind, anchor, level=0):
        self.kind, self.anchor, self.level = kind, anchor, level
        self.title, self.text, self.plain = [], [], []   # plain: the text with math as "…"


class Extract(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []        # (tag, opened doc or None, flags)
        self.docs = []
        self.open = []         # docs being read, innermost last
        self.heading = None    # the doc whose heading is being read
        self.skip = 0
        self.idents = []       # (ident, anchor) from the identifier index
        self.in_ident_index = False
        self.pending_ident = None
        self.in_code = False
        self.hide = 0          # inside KaTeX's rendering of a formula (its TeX is what counts)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = (a.get("class") or "").split()
        doc, flags = None, set()
        if tag == "section" and a.get("id"):
            m = re.match(r"level(\d)", " ".join(cls))
            if "nw-index-head" not in cls:
                doc = Doc("section", a["id"], int(m.group(1)) if m else 1)
        elif tag == "div" and "nw-chunk" in cls and a.get("id"):
            doc = Doc("chunk", a["id"])
        elif tag == "figure" and a.get("id"):
            doc = Doc("figure", a["id"])
        elif tag == "ul" and "nw-ident-index" in cls:
            self.in_ident_index = True
            flags.add("ident-index")
        if tag == "span" and "math" in cls:
            flags.add("math")
            self.math = getattr(self, "math", 0) + 1
            if self.open and self.heading is None:
                self.open[-1].plain.append(" … ")
        # a formula typeset by KaTeX: its glyphs (span.katex-html) and its
        # MathML are hidden; its TeX source (the MathML's annotation) is read
        if (tag == "span" and "katex-html" in cls) or tag == "math":
            flags.add("hide")
            self.hide += 1
        if tag == "annotation" and self.hide:
            flags.add("unhide")
            self.hide -= 1
        if tag in SKIP or (tag == "div" and "nw-foot" in cls) \
                or (tag == "span" and ("nw-nav" in cls or "nw-eq" in cls)):
            flags.add("skip")
            self.skip += 1
        if re.match(r"h[1-6]$", tag) and self.open and not self.open[-1].title:
            self.heading = self.open[-1]
            flags.add("heading")
        if tag == "div" and "nw-head" in cls and self.open and self.open[-1].kind == "chunk":
            self.heading = self.open[-1]
            flags.add("heading")
        if tag == "figcaption" and self.open and self.open[-1].kind == "figure":
            self.heading = self.open[-1]
            flags.add("heading")
        if self.in_ident_index and tag == "a" and self.pending_ident and a.get("href", "").startswith("#"):
            self.idents.append((self.pending_ident, a["href"][1:]))
            self.pending_ident = None
        if self.in_ident_index and tag == "code":
            flags.add("ident-name")
            self.pending_ident = ""
        if doc:
            self.docs.append(doc)
            self.open.append(doc)
        if tag not in VOID:
            self.stack.append((tag, doc, flags))

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        while self.stack:
            t, doc, flags = self.stack.pop()
            if "skip" in flags:
                self.skip -= 1
            if "hide" in flags:
                self.hide -= 1
            if "unhide" in flags:
                self.hide += 1
            if "heading" in flags:
                self.heading = None
            if "math" in flags:
                self.math -= 1
            if "ident-index" in flags:
                self.in_ident_index = False
            if doc is not None:
                self.open.remove(doc)
            if t == tag:
                break

    def handle_data(self, data):
        if self.in_ident_index and self.pending_ident is not None and self.stack and "ident-name" in self.stack[-1][2]:
            self.pending_ident += data
            return
        if self.skip or self.hide or not self.open:
            return
        if self.heading is not None:
            self.heading.title.append(data)
            if self.heading.kind != "figure":
                return
        self.open[-1].text.append(data)
        if not getattr(self, "math", 0):
            self.open[-1].plain.append(data)


def squash(parts):
    return re.sub(r"\s+", " ", "".join(parts)).strip()


def main():
    meta_dir, pages = sys.argv[1], sys.argv[2:]
    out = []
    for path in pages:
        name = os.path.basename(path)
        stem = name[:-5]
        label = ""
        meta_path = os.path.join(meta_dir, stem + ".json")
        if os.path.exists(meta_path):
            with open(meta_path, encoding="utf-8") as f:
                meta = json.load(f)
            label = next((e["label"] for e in meta.get("chapters", []) if e["stem"] == stem), "")
        p = Extract()
        with open(path, encoding="utf-8") as f:
            p.feed(f.read())
        for d in p.docs:
            title, text, plain = squash(d.title), squash(d.text), squash(d.plain)
            plain = re.sub(r"(\s*…\s*)+", " … ", plain).replace(" … .", "….").replace(" … ,", "…,")
            if d.kind == "figure":
                title = re.sub(r"^(Figure [\w.]+):.*", r"\1", title)
                plain = re.sub(r"^Figure [\w.]+:\s*", "", plain)
            if not title and not text:
                continue
            out.append({"id": "%s#%s" % (name, d.anchor), "href": "%s#%s" % (name, d.anchor), "kind": d.kind,
                        "title": title, "page": label, "text": text,
                        "excerpt": plain[:160] + ("…" if len(plain) > 160 else "")})
        for ident, anchor in p.idents:
            out.append({"id": "%s#%s/%s" % (name, anchor, ident), "href": "%s#%s" % (name, anchor),
                        "kind": "identifier", "title": ident, "page": label, "text": ident,
                        "excerpt": "defined in the chunk %s" % next(
                            (squash(d.title) for d in p.docs if d.anchor == anchor), anchor)})
    json.dump(out, sys.stdout, ensure_ascii=False)


main()
