#!/usr/bin/env python3
"""includes.py PAGE.md > out.md -- copy a Markdown page, replacing each line
`<!-- include: PATH -->` by the file at PATH as a code block (C for .h and .c,
gnuplot for .gp), and resolving data references in the prose as the weaver does.  The
runtime appendix shows the headers of common/ this way, so the book prints
the very contracts the compiler reads."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dataref  # noqa: E402

LANG = {".h": "c", ".c": "c", ".gp": "gnuplot"}
out, prose = [], []
prose_line = 1     # the source line prose[0] is on


def flush():
    if prose:
        try:
            out.append(dataref.substitute("".join(prose), sys.argv[1], prose_line))
        except dataref.DataRefError as e:
            sys.exit(str(e))
        prose.clear()


for n, line in enumerate(open(sys.argv[1], encoding="utf-8"), 1):
    s = line.strip()
    if s.startswith("<!-- include:") and s.endswith("-->"):
        path = s[len("<!-- include:"):-3].strip()
        try:
            body = open(path, encoding="utf-8").read()
        except OSError as e:
            sys.exit("%s:%d: cannot include %s: %s" % (sys.argv[1], n, path, e.strerror))
        lang = LANG.get(os.path.splitext(path)[1], "text")
        flush()
        out.append("````%s\n%s%s````\n" % (lang, body, "" if body.endswith("\n") else "\n"))
    else:
        if not prose:
            prose_line = n
        prose.append(line)
flush()
sys.stdout.write("".join(out))
