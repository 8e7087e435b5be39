#!/usr/bin/env python3
"""chunk_lengths.py [--over N] FILE.nw ... -- the code chunks longer than N lines (default 40).

Prints FILE:LINE: LINES lines <<NAME>> for each definition (a `<<name>>=`
line up to the `@` that ends it, or the next definition) whose body is
longer than N lines, longest first, and, for a name defined in several
parts, the total when it is over N.  The book's rule (dev/WRITER.md): a
chunk stays short, about 40 lines at most; split a longer one into named
pieces the prose explains in turn.  Exits 0; it reports, it does not judge.
"""
import re
import sys
from collections import defaultdict


def definitions(path):
    """(line, name, length) of every code chunk definition in path."""
    out, name, start = [], None, 0
    lines = open(path, encoding="utf-8").read().split("\n")
    for i, line in enumerate(lines, 1):
        m = re.match(r"^<<(.+)>>=\s*$", line)
        if m or (name is not None and re.match(r"^@(\s|$|%)", line)):
            if name is not None:
                out.append((start, name, i - start - 1))
            name, start = (m.group(1), i) if m else (None, 0)
    if name is not None:
        out.append((start, name, len(lines) - start))
    return out


def main(argv):
    over = 40
    if argv[:1] == ["--over"]:
        over, argv = int(argv[1]), argv[2:]
    for path in argv:
        defs = definitions(path)
        for line, name, n in sorted(defs, key=lambda d: -d[2]):
            if n > over:
                print("%s:%d: %d lines <<%s>>" % (path, line, n, name))
        total, parts = defaultdict(int), defaultdict(int)
        for _, name, n in defs:
            total[name] += n
            parts[name] += 1
        for name in sorted(total, key=lambda k: -total[k]):
            if parts[name] > 1 and total[name] > over:
                print("%s: <<%s>> in %d parts, %d lines in all" % (path, name, parts[name], total[name]))


if __name__ == "__main__":
    main(sys.argv[1:])
