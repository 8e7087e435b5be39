"""nwreader.py -- noweb's markup stream, read once for the tangler and the weaver.

noweb's `markup` turns a .nw file into a stream of keyword lines (described
in the noweb Hacker's Guide): @begin docs|code N, @text, @nl, @defn, @use,
@quote/@endquote, @end, and, after `finduses | noidx`, @xref and @index
lines that cross-reference chunks and identifiers.  Both halves of the
toolchain read that stream: tools/nwtangle.py (the tangler) and
book/nw2md.py (the weaver).  This module is the one reader they share, so
the two can never disagree about where a chunk starts, which source line a
code line came from, or what a use refers to.

    doc = read(stream)          # stream: lines of markup (a file, sys.stdin)
    doc.file                    # the source file, as markup named it
    doc.chunks                  # Chunk objects, in source order
    doc.definitions()           # code chunk name -> its parts, in order
    doc.chunk_index             # noidx's list of chunks (label, name, uses, defns)
    doc.ident_index             # noidx's list of identifiers (ident, label, uses, defns)

A Chunk has kind ("docs" or "code"), number (noweb's), line (the source
line it starts on: a code chunk's <<name>>= line, a documentation chunk's
first line) and lines: a list of Line(src, segments, nl), one per source
line of the chunk's body (a code chunk's header line is not part of its
body).  src is the line's number in the source file; nl says whether a
newline ended it (the last line of a file may have none).  A segment is a
tuple:

    ("text", s)                 literal text
    ("use", name, ref)          a <<name>> use; ref is noidx's label of the
                                chunk's first definition (None without noidx)
    ("id", s, ref)              an identifier's use, as finduses marks it: the
                                text s, and the label of the chunk defining it
    ("quote", segments)         [[quoted code]] in documentation: its own
                                segments, with ("nl",) where it spans a line

A code chunk also carries what noidx says of it: name, label, prevdef,
nextdef, continued (later definitions), used_in (labels of the chunks using
it; both on its first definition only), notused (a root) and defines (the
identifiers its "@ %def" line declares).
"""


def segments_text(segments):
    """Segments as the source wrote them: uses as <<name>>, quotes as [[...]]."""
    out = []
    for s in segments:
        if s[0] == "use":
            out.append("<<%s>>" % s[1])
        elif s[0] == "quote":
            out.append("[[%s]]" % segments_text(s[1]))
        elif s[0] == "nl":
            out.append("\n")
        else:
            out.append(s[1])
    return "".join(out)


class Line:
    __slots__ = ("src", "segments", "nl")

    def __init__(self, src, segments=None, nl=False):
        self.src, self.segments, self.nl = src, segments if segments is not None else [], nl

    def text(self):
        """The line as written: every use as <<name>>, quotes as [[...]]."""
        return segments_text(self.segments)

    def __repr__(self):
        return "Line(%d, %r%s)" % (self.src, self.segments, ", nl" if self.nl else "")


class Chunk:
    def __init__(self, kind, number, line):
        self.kind, self.number, self.line = kind, number, line
        self.lines = []
        # code chunks only
        self.name = self.label = self.prevdef = self.nextdef = None
        self.continued, self.used_in, self.defines = [], [], []
        self.notused = False

    @property
    def is_code(self):
        return self.kind == "code"

    def __repr__(self):
        return "Chunk(%s %d at line %d%s)" % (self.kind, self.number, self.line,
                                              ", <<%s>>" % self.name if self.name else "")


class Document:
    def __init__(self):
        self.file = None
        self.chunks = []
        self.chunk_index = []    # (label, name, [use labels], [defn labels])
        self.ident_index = []    # (ident, label of first defn, [use labels], [defn labels])

    def definitions(self):
        """Every code chunk name -> the parts that define it, in source order."""
        defs = {}
        for c in self.chunks:
            if c.is_code:
                defs.setdefault(c.name, []).append(c)
        return defs


class MarkupError(Exception):
    pass


def read(stream):
    """Read noweb's markup stream (an iterable of lines) into a Document."""
    doc = Document()
    cur = None              # the chunk being read
    line = None             # its line being read
    in_header = False       # a code chunk's <<name>>= line, before its newline
    quote = None            # segments of a [[quote]] being read
    pending_label = pending_ref = None
    pending_ident = None    # (ident, ref) of an "@index use", waiting for its @text
    src = 1                 # the source line being read
    xmode = None            # inside which @xref begin/end list
    entry = None            # the chunk or identifier index entry being read

    def segs():
        nonlocal line
        if quote is not None:
            return quote
        if line is None:
            line = Line(src)
            cur.lines.append(line)
        return line.segments

    for n, raw in enumerate(stream, 1):
        raw = raw.rstrip("\n")
        if not raw.startswith("@"):
            continue
        kw, _, arg = raw[1:].partition(" ")
        if kw == "file":
            doc.file, src = arg, 1
        elif kw == "begin":
            kind, _, num = arg.partition(" ")
            if kind not in ("docs", "code"):
                raise MarkupError("markup line %d: unknown chunk kind %r" % (n, kind))
            cur = Chunk(kind, int(num or 0), src)
            doc.chunks.append(cur)
            line, in_header, quote = None, kind == "code", None
        elif kw == "end":
            cur = line = None
        elif kw == "defn":
            if cur is None:
                raise MarkupError("markup line %d: @defn outside a chunk" % n)
            cur.name, cur.label, pending_label = arg, pending_label, None
        elif kw == "nl":
            if cur is not None:
                if in_header:
                    in_header = False
                elif quote is not None:
                    quote.append(("nl",))
                else:
                    segs()
                    line.nl = True
                    line = None
            src += 1
        elif kw == "text":
            if cur is None or in_header:
                continue
            if pending_ident is not None and arg == pending_ident[0]:
                segs().append(("id", arg, pending_ident[1]))
            else:
                segs().append(("text", arg))
            pending_ident = None
        elif kw == "quote":
            segs()             # the quote belongs to the line it starts on
            quote = []
        elif kw == "endquote":
            q, quote = quote, None
            segs().append(("quote", q))
        elif kw == "use":
            if cur is not None:
                segs().append(("use", arg, pending_ref))
            pending_ref = None
        elif kw == "xref":
            sub, _, rest = arg.partition(" ")
            if sub == "label":
                pending_label = rest
            elif sub == "ref":
                pending_ref = rest
            elif sub == "prevdef":
                cur.prevdef = rest
            elif sub == "nextdef":
                cur.nextdef = rest
            elif sub in ("begindefs", "beginuses", "beginchunks"):
                xmode = sub
            elif sub in ("enddefs", "enduses", "endchunks"):
                xmode = None
            elif sub == "defitem" and xmode == "begindefs":
                cur.continued.append(rest)
            elif sub == "useitem" and xmode == "beginuses":
                cur.used_in.append(rest)
            elif sub == "notused":
                cur.notused = True
            elif sub == "chunkbegin":
                label, _, name = rest.partition(" ")
                entry = (label, name, [], [])
                doc.chunk_index.append(entry)
            elif sub == "chunkuse":
                entry[2].append(rest)
            elif sub == "chunkdefn":
                entry[3].append(rest)
        elif kw == "index":
            sub, _, rest = arg.partition(" ")
            if sub == "nl":            # the newline of an "@ %def" line
                src += 1
            elif sub == "use" and cur is not None:
                pending_ident = (rest, pending_ref)
                pending_ref = None
            elif sub == "defn" and cur is not None and cur.is_code:
                if rest not in cur.defines:
                    cur.defines.append(rest)
            elif sub == "entrybegin":
                label, _, ident = rest.partition(" ")
                entry = (ident, label, [], [])
                doc.ident_index.append(entry)
            elif sub == "entryuse":
                entry[2].append(rest)
            elif sub == "entrydefn":
                entry[3].append(rest)
    return doc
