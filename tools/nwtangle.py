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
import sys


def parse(stream):
    """chunks: name -> list of parts; a part is a list of (source line, segments)."""
    chunks, cur, line_no, fname = {}, None, 1, "stdin"
    for raw in stream:
        raw = raw.rstrip("\n")
        if not raw.startswith("@"):
            continue
        kw, _, arg = raw[1:].partition(" ")
        if kw == "file":
            fname, line_no = arg, 1
        elif kw == "begin":
            cur = {"lines": [], "header": True} if arg.split()[0] == "code" else None
        elif kw == "defn" and cur is not None:
            chunks.setdefault(arg, []).append(cur)
        elif kw == "nl":
            if cur is not None:
                if cur["header"]:
                    cur["header"] = False
                else:
                    cur["lines"].append(cur.pop("pending", (line_no, [])))
            line_no += 1
        elif kw == "index" and arg == "nl":      # the newline of an "@ %def" line
            line_no += 1
        elif kw in ("text", "use") and cur is not None and not cur["header"]:
            cur.setdefault("pending", (line_no, []))[1].append((kw, arg))
        elif kw == "end" and cur is not None:
            if "pending" in cur:                 # a last line without a newline
                cur["lines"].append(cur.pop("pending"))
            cur = None
    return chunks, fname


class Tangler:
    def __init__(self, chunks, fname, lines):
        self.chunks, self.fname, self.lines = chunks, fname, lines
        self.out = []            # whole output lines
        self.next_src = None     # the source line a directive-less next line would have

    def check(self, name, stack):
        if name not in self.chunks:
            sys.exit("nwtangle: chunk <<%s>> is used but never defined" % name)
        if name in stack:
            sys.exit("nwtangle: chunk <<%s>> uses itself" % name)

    def block(self, name, indent, stack, is_root):
        """Emit chunk `name` as whole lines, each prefixed with indent."""
        self.check(name, stack)
        for part in self.chunks[name]:
            for i, (src, segs) in enumerate(part["lines"]):
                if i == 0 and self.lines and not is_root:
                    self.out.append("%s/* %s */" % (indent, name))
                    self.next_src = None         # a comment is no source line
                self.line(src, segs, indent, stack + [name])

    def line(self, src, segs, indent, stack):
        uses = [v for k, v in segs if k == "use"]
        texts = [v for k, v in segs if k == "text"]
        after = segs[[k for k, _ in segs].index("use") + 1:] if uses else []
        if len(uses) == 1 and all(not t.strip() for t in texts) and all(v == "" for _, v in after):
            # a use alone on its line: its chunk's lines take the line's indentation
            self.block(uses[0], indent + "".join(texts), stack, False)
            return
        if self.lines and src != self.next_src:
            self.out.append('#line %d "%s"' % (src, self.fname))
        text = ""
        for kind, val in segs:
            if kind == "text":
                text += val
            else:
                inner = self.inline(val, stack)
                pad = " " * len(text)
                text += ("\n" + indent + pad).join(inner)
        self.out.append(indent + text if text else "")
        self.next_src = src + 1 if not uses else None

    def inline(self, name, stack):
        """Chunk `name` as plain lines (no directives, no comments), for a use inside a line."""
        self.check(name, stack)
        sub = Tangler(self.chunks, self.fname, False)
        sub.block(name, "", stack, False)
        return sub.out or [""]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--lines", action="store_true", help="write #line directives and chunk-name comments")
    args = ap.parse_args()
    chunks, fname = parse(sys.stdin)
    t = Tangler(chunks, fname, args.lines)
    t.block(args.root, "", [], True)
    sys.stdout.write("".join(l + "\n" for l in t.out))


if __name__ == "__main__":
    main()
