#!/usr/bin/env python3
"""mkbook.py PAGE.md ... > book.md -- the whole book as one pandoc document.

Chapters keep their own numbers (a raw \\setcounter before each, so that
chapter 7 is chapter 7 even while chapters 2-6 are being written); pages
named appendix-*.md follow \\appendix."""
import os
import re
import sys

out = []
in_appendix = False
for path in sys.argv[1:]:
    stem = os.path.basename(path)[:-3]
    m = re.match(r"(\d+)-", stem)
    if m:
        out.append("\n```{=latex}\n\\setcounter{chapter}{%d}\n```\n" % (int(m.group(1)) - 1))
    elif not in_appendix:
        out.append("\n```{=latex}\n\\appendix\n```\n")
        in_appendix = True
    with open(path, encoding="utf-8") as f:
        out.append("\n" + f.read() + "\n")
sys.stdout.write("".join(out))
