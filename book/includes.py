#!/usr/bin/env python3
"""includes.py PAGE.md > out.md -- copy a Markdown page, replacing each line
`<!-- include: PATH -->` by the file at PATH as a C code block.  The runtime
appendix shows the headers of common/ this way, so the book prints the very
contracts the compiler reads."""
import sys

for line in open(sys.argv[1], encoding="utf-8"):
    s = line.strip()
    if s.startswith("<!-- include:") and s.endswith("-->"):
        path = s[len("<!-- include:"):-3].strip()
        try:
            body = open(path, encoding="utf-8").read()
        except OSError as e:
            sys.exit("%s: cannot include %s: %s" % (sys.argv[1], path, e.strerror))
        sys.stdout.write("```c\n/* %s */\n%s```\n" % (path, body if body.endswith("\n") else body + "\n"))
    else:
        sys.stdout.write(line)
