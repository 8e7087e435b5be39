#!/usr/bin/env python3
"""chapters.py OUTDIR FRONT_INDEX PAGE.md ... -- the book's table of contents.

For every page (a chapter NN-name.md or an appendix appendix-name.md, in the
order given) writes OUTDIR/meta/<page>.json, the pandoc metadata its HTML
page is built with: the book's title, the chapter's number and title, and
the previous and next pages.  Also writes OUTDIR/index.md: the front page
(FRONT_INDEX) followed by the list of chapters."""
import json
import os
import re
import sys

BOOK_TITLE = "Building Language Models from Scratch, in C"


def title_of(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("# "):
                return re.sub(r"\s*\{[^}]*\}\s*$", "", line[2:]).strip()
    sys.exit("%s: no chapter title (a first-level '# ' heading)" % path)


def main():
    outdir, front, pages = sys.argv[1], sys.argv[2], sys.argv[3:]
    entries = []
    for p in pages:
        stem = os.path.basename(p)[:-3]
        m = re.match(r"(\d+)-", stem)
        if m:
            num, label = str(int(m.group(1))), "Chapter %d" % int(m.group(1))
        else:
            letter = chr(ord("A") + sum(1 for e in entries if e["appendix"]))
            num, label = letter, "Appendix %s" % letter
        entries.append({"stem": stem, "href": stem + ".html", "num": num, "label": label,
                        "title": title_of(p), "appendix": not m})
    os.makedirs(os.path.join(outdir, "meta"), exist_ok=True)
    for i, e in enumerate(entries):
        meta = {"booktitle": BOOK_TITLE, "pagetitle": e["title"], "chaptitle": e["title"], "chapter": e["num"],
                "chapters": entries, "toc": True}
        if i > 0:
            meta["prev"] = {k: entries[i - 1][k] for k in ("href", "title", "label")}
        if i + 1 < len(entries):
            meta["next"] = {k: entries[i + 1][k] for k in ("href", "title", "label")}
        with open(os.path.join(outdir, "meta", e["stem"] + ".json"), "w") as f:
            json.dump(meta, f, indent=1)
    index_meta = {"booktitle": BOOK_TITLE, "pagetitle": BOOK_TITLE, "chapters": entries}
    if entries:
        index_meta["next"] = {k: entries[0][k] for k in ("href", "title", "label")}
    with open(os.path.join(outdir, "meta", "index.json"), "w") as f:
        json.dump(index_meta, f, indent=1)
    with open(front, encoding="utf-8") as f:
        text = f.read()
    lines = ["", "## Contents {.unnumbered}", "", '::: {.contents}']
    for e in entries:
        lines.append("- %s. [%s](%s)" % (e["label"], e["title"], e["href"]))
    lines.append(":::")
    with open(os.path.join(outdir, "index.md"), "w", encoding="utf-8") as f:
        f.write(text.rstrip("\n") + "\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
