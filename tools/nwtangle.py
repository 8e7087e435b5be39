#!/usr/bin/env python3
"""nwtangle.py -- extract one root chunk from noweb's markup stream, readably.

    markup x.nw | nwtangle.py --root x.c [--lines] > x.c

Does what `notangle -R x.c` does: expands every <<chunk>> use, the parts of
a chunk in the order they are defined, each line of an included chunk
indented as far as the use was.  With --lines it also does what
`notangle -L` is for: a `#line N "x.nw"` directive wherever the source line
does not follow from the previous one, so that compiler errors, debuggers
and __LINE__ point into the .nw.  Unlike `notangle -L`, it keeps the
indentation of included chunks (notangle -L starts them at column 0) and
writes each part's chunk name as a comment just above its directive, so the
tangled C reads like a program written by hand.  A use with other text on
its line (x = <<expr>>;) is expanded in place, without directives inside it.
tools/tangle checks, every time, that the result is exactly notangle's
output once the directives and the name comments are removed.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nwreader  # noqa: E402


class Tangler:
    """Expands chunks of a nwreader.Document's definitions into whole output lines."""

    def __init__(self, defs, fname, lines):
        self.defs, self.fname, self.lines = defs, fname, lines
        self.out = []            # whole output lines
        self.next_src = None     # the source line a directive-less next line would have

    def check(self, name, stack):
        if name not in self.defs:
            sys.exit("nwtangle: chunk <<%s>> is used but never defined" % name)
        if name in stack:
            sys.exit("nwtangle: chunk <<%s>> uses itself" % name)

    def block(self, name, indent, stack, is_root):
        """Emit chunk `name` as whole lines, each prefixed with indent."""
        self.check(name, stack)
        for part in self.defs[name]:
            for i, line in enumerate(part.lines):
                if i == 0 and self.lines and not is_root:
                    self.out.append("%s/* %s */" % (indent, name))
                    self.next_src = None         # a comment is no source line
                self.line(line.src, line.segments, indent, stack + [name])

    def line(self, src, segs, indent, stack):
        uses = [s[1] for s in segs if s[0] == "use"]
        texts = [s[1] for s in segs if s[0] != "use"]
        after = segs[[s[0] for s in segs].index("use") + 1:] if uses else []
        if len(uses) == 1 and all(not t.strip() for t in texts) and all(s[1] == "" for s in after):
            # a use alone on its line: its chunk's lines take the line's indentation
            self.block(uses[0], indent + "".join(texts), stack, False)
            return
        if self.lines and src != self.next_src:
            self.out.append('#line %d "%s"' % (src, self.fname))
        text = ""
        for seg in segs:
            if seg[0] != "use":                  # text, or an identifier's text
                text += seg[1]
            else:
                inner = self.inline(seg[1], stack)
                pad = " " * len(text)
                text += ("\n" + indent + pad).join(inner)
        self.out.append(indent + text if text else "")
        self.next_src = src + 1 if not uses else None

    def inline(self, name, stack):
        """Chunk `name` as plain lines (no directives, no comments), for a use inside a line."""
        self.check(name, stack)
        sub = Tangler(self.defs, self.fname, False)
        sub.block(name, "", stack, False)
        return sub.out or [""]


def tangle(stream, root, lines=False):
    """The root chunk `root` of a markup stream, as a list of output lines."""
    doc = nwreader.read(stream)
    t = Tangler(doc.definitions(), doc.file or "stdin", lines)
    t.block(root, "", [], True)
    return t.out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--lines", action="store_true", help="write #line directives and chunk-name comments")
    args = ap.parse_args()
    sys.stdout.write("".join(l + "\n" for l in tangle(sys.stdin, args.root, args.lines)))


if __name__ == "__main__":
    main()
