"""dataref.py -- the book's data references: numbers and tables in the prose,
read from the experiments' data files (figures/data/*.tsv) when the book is woven.

Every number in the prose that an experiment measured is written as a
reference to the data file that holds it, so the text cannot drift from
the data.  The weaver (book/nw2md.py) resolves them in a chapter's
documentation, book/includes.py in the appendices.

A number, inline:

    {{STEM COLUMN [SELECTOR ...] [:FORMAT]}}
    {{ch01-orders val_ppl order=3 :.2f}}

  STEM      the data file figures/data/STEM.tsv
  COLUMN    a column's name, or an arithmetic expression of columns
            (100*train_acc, val_ppl-train_ppl, grad_forward_s/grad_reverse_s;
            abs min max log log2 log10 exp sqrt may be called)
  SELECTOR  narrows the rows, in order, until exactly one is left:
              row=first | row=last | row=N      (N counts from 0)
              EXPR=min | EXPR=max               the row where EXPR is least/greatest
              EXPR=VALUE                        numeric equality (3 = 3.0), else
                                                string equality; quote a value
                                                with spaces: run="relu, no clipping"
              EXPR!=VALUE                       the rows where it is not equal
              a condition: val_unseen_ctx>0.5, step<=100, val_loss<2
  FORMAT    a Python format spec after ':' (:.2f :,d :.1% :.3g :.1e :d ...;
            :d insists on an integer), :sci / :sciN (scientific notation as
            math, N significant digits, 2 by default; plain below 10,000),
            :text (a string, Markdown-escaped; the default), :raw (as is)

A count of rows, inline:

    {{count STEM [SELECTOR ...]}}
    {{count ch08-hf-reverse quantity!=logits quantity!=loss}}

  the number of rows the selectors leave (any number, zero included),
  written as an integer with thousands separators.

A whole table, alone on its line:

    {{table STEM cols=A,B,C head="A|B|C" fmt=":d|:.2f|:text" align=lrr where=SELECTOR}}

  cols   the columns, in order (default: all);  head  their headings;
  fmt    one FORMAT per column;  align  one of l r c per column (default: l
  for text, r for numbers);  where  a SELECTOR (repeatable).

A reference that cannot be resolved (no such file, column or row, several
rows, a format the value does not fit, a malformed reference) raises
DataRefError; substitute() says where: "FILE:LINE: {{reference}}: what is
wrong", one line, and the build stops on it.
"""
import math
import os
import re
import shlex

DATA_DIR = "figures/data"


class DataRefError(Exception):
    pass


_tsv_cache = {}


def unescape_tsv(s):
    return re.sub(r"\\(.)", lambda m: {"t": "\t", "n": "\n", "\\": "\\"}.get(m.group(1), m.group(1)), s)


def load_tsv(stem):
    """(path, columns, rows as dicts, provenance) of figures/data/STEM.tsv."""
    path = os.path.join(DATA_DIR, stem + ".tsv")
    if path in _tsv_cache:
        return _tsv_cache[path]
    if not re.match(r"^[A-Za-z0-9_.-]+$", stem) or not os.path.exists(path):
        raise DataRefError("no data file %s (run the chapter's experiments: make chNN-figures)" % path)
    meta, cols, rows = {}, None, []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("#"):
                k, _, v = line[1:].strip().partition(": ")
                meta[k] = v
                continue
            fields = [unescape_tsv(x) for x in line.split("\t")]
            if cols is None:
                cols = fields
            elif line:
                if len(fields) != len(cols):
                    raise DataRefError("%s: a row has %d fields, the header %d" % (path, len(fields), len(cols)))
                rows.append(dict(zip(cols, fields)))
    if cols is None:
        raise DataRefError("%s has no header line" % path)
    _tsv_cache[path] = (path, cols, rows, meta)
    return _tsv_cache[path]


_SAFE = {"abs": abs, "min": min, "max": max, "log": math.log, "log2": math.log2,
         "log10": math.log10, "exp": math.exp, "sqrt": math.sqrt}


def row_value(path, cols, row, expr):
    """A column's value (a string), or an arithmetic expression of columns."""
    if expr in cols:
        return row[expr]
    env = {}
    for c in cols:
        try:
            env[c] = float(row[c])
        except ValueError:
            pass
    try:
        return repr(float(eval(expr, {"__builtins__": {}}, dict(_SAFE, **env))))
    except NameError as e:
        raise DataRefError("%s has no column %s (columns: %s)" % (path, str(e).split("'")[1], ", ".join(cols)))
    except Exception as e:
        raise DataRefError("cannot evaluate '%s' on %s: %s" % (expr, path, e))


def as_number(s):
    try:
        return float(s)
    except ValueError:
        return None


_SELECTOR = re.compile(r"^(.+?)(?<![<>!=])=(?!=)(.*)$")
_UNEQUAL = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)!=(?!=)(.*)$")


def select_rows(stem, selectors):
    """The rows of a data file that pass every selector, in order (see the module comment)."""
    path, cols, rows, _ = load_tsv(stem)
    out = rows
    for sel in selectors:
        m = _UNEQUAL.match(sel)
        if m:   # a column unequal to a value: knob!=ablation
            k, v = m.group(1), m.group(2)
            out = [r for r in out if not _same(row_value(path, cols, r, k), v)]
            continue
        m = _SELECTOR.match(sel)
        if not m:
            # a condition such as val_unseen_ctx>0.5: keep the rows where it holds
            out = [r for r in out if float(row_value(path, cols, r, sel)) != 0]
            continue
        k, v = m.group(1), m.group(2)
        if k == "row":
            if v == "last":
                out = out[-1:]
            elif v == "first":
                out = out[:1]
            elif re.match(r"^\d+$", v):
                out = out[int(v):int(v) + 1]
            else:
                raise DataRefError("row=%s: a row is first, last or a number counted from 0" % v)
            continue
        vals = [row_value(path, cols, r, k) for r in out]
        if v in ("min", "max"):
            nums = [(as_number(x), i) for i, x in enumerate(vals) if as_number(x) is not None
                    and not math.isnan(as_number(x))]
            if not nums:
                raise DataRefError("%s: no numeric values of '%s' to take the %s of" % (path, k, v))
            best = (min if v == "min" else max)(nums)
            out = [out[best[1]]]
            continue
        out = [r for r, x in zip(out, vals) if _same(x, v)]
    return path, cols, out


def _same(a, b):
    """Numeric equality when both are numbers, else string equality."""
    x, y = as_number(a), as_number(b)
    return x == y if x is not None and y is not None else a == b


def md_escape(s):
    return re.sub(r"([\\`*_{}\[\]<>#|$~^])", r"\\\1", s)


def format_value(value, spec):
    """A value from a data file, written as the format spec says (see the module comment)."""
    if spec == ":raw":
        return value
    if spec in ("", ":text"):
        try:
            float(value)
            return value
        except ValueError:
            return md_escape(value)
    if not spec.startswith(":"):
        raise DataRefError("a format starts with ':' (not '%s')" % spec)
    fmt = spec[1:]
    try:
        x = float(value)
    except ValueError:
        raise DataRefError("value '%s' is not a number (format %s)" % (value, spec))
    if re.match(r"^sci\d*$", fmt):
        # scientific notation as math: :sci -> $5.2 \times 10^{7}$ (2 significant digits),
        # :sci3 for 3; numbers below 10,000 are written plainly
        digits = int(fmt[3:] or 2)
        if digits < 1:
            raise DataRefError("format %s: at least one significant digit" % spec)
        if x == 0 or (1 <= abs(x) < 1e4 and x == int(x)):
            return format(int(x), ",d") if x == int(x) else format(x, ".%dg" % digits)
        if not math.isfinite(x):
            raise DataRefError("value %s is not finite (format %s)" % (value, spec))
        e = int(math.floor(math.log10(abs(x))))
        m = x / 10 ** e
        if round(m, digits - 1) >= 10:
            m, e = m / 10, e + 1
        return "$%.*f \\times 10^{%d}$" % (digits - 1, m, e)
    if fmt.endswith("d"):
        if not math.isfinite(x) or x != int(x):
            raise DataRefError("value %s is not an integer (format %s)" % (value, spec))
        x = int(x)
    try:
        return format(x, fmt)
    except ValueError as e:
        raise DataRefError("format %s: %s" % (spec, e))


def _tokens(body):
    try:
        return shlex.split(body)
    except ValueError as e:
        raise DataRefError("malformed reference (%s)" % e)


def resolve_inline(body):
    """The text of an inline reference, given its body (what is between the braces)."""
    toks = _tokens(body)
    if len(toks) < 2 or toks[1].startswith(":"):
        raise DataRefError("a data reference needs a file and a column")
    stem, col = toks[0], toks[1]
    spec = ""
    if toks[-1].startswith(":"):
        spec = toks.pop()
    path, cols, rows = select_rows(stem, toks[2:])
    if len(rows) != 1:
        raise DataRefError("%s: the selectors %s match %d rows, not one" % (
            path, " ".join(toks[2:]) or "(none)", len(rows)))
    return format_value(row_value(path, cols, rows[0], col), spec)


def resolve_table(body):
    """The Markdown pipe table of a table reference, given its body."""
    toks = _tokens(body)
    if len(toks) < 2:
        raise DataRefError("a table reference needs a file: {{table STEM cols=... head=... fmt=...}}")
    stem, opts = toks[1], {}
    for t in toks[2:]:
        k, eq, v = t.partition("=")
        if not eq or k not in ("cols", "head", "fmt", "align", "where"):
            raise DataRefError("table %s: unknown option '%s' (options: cols= head= fmt= align= where=)" % (stem, t))
        opts.setdefault(k, []).append(v)
    path, cols, rows = select_rows(stem, opts.get("where", []))
    want = opts.get("cols", [",".join(cols)])[0].split(",")
    for c in want:
        if c not in cols:
            raise DataRefError("%s has no column '%s' (columns: %s)" % (path, c, ", ".join(cols)))
    heads = opts["head"][0].split("|") if "head" in opts else want
    fmts = opts["fmt"][0].split("|") if "fmt" in opts else [""] * len(want)
    align = opts["align"][0] if "align" in opts else ""
    if len(heads) != len(want) or len(fmts) != len(want):
        raise DataRefError("table %s: cols, head and fmt must have the same number of entries" % stem)
    if any(a not in "lrc" for a in align):
        raise DataRefError("table %s: align takes l, r or c for each column (not '%s')" % (stem, align))
    if not rows:
        raise DataRefError("table %s: no rows match" % stem)
    rule = []
    for i in range(len(want)):
        a = align[i] if i < len(align) else ("l" if fmts[i] in ("", ":text", ":raw") else "r")
        rule.append({"l": ":---", "r": "---:", "c": ":---:"}[a])
    out = ["| " + " | ".join(heads) + " |", "|" + "|".join(rule) + "|"]
    for r in rows:
        out.append("| " + " | ".join(format_value(r[c], f) for c, f in zip(want, fmts)) + " |")
    return "\n".join(out)


def resolve_count(body):
    """The number of rows a count reference's selectors leave, given its body."""
    toks = _tokens(body)
    if len(toks) < 2:
        raise DataRefError("a count reference needs a file: {{count STEM [SELECTOR ...]}}")
    if toks[-1].startswith(":"):
        raise DataRefError("a count takes no format (it is written as an integer)")
    _, _, rows = select_rows(toks[1], toks[2:])
    return format(len(rows), ",d")


def resolve(body):
    """The text a reference stands for, given its body."""
    body = body.strip()
    if body.startswith("count "):
        return resolve_count(body)
    if body.startswith("table ") or body == "table":
        return resolve_table(body)
    return resolve_inline(body)


REFERENCE = re.compile(r"\{\{(.*?)\}\}", re.S)


def substitute(text, source, first_line=1):
    """text with every {{reference}} replaced.  source and first_line say where
    text comes from (the file, and the line its first character is on), so
    that an error names the reference's own line: DataRefError("FILE:LINE:
    {{reference}}: what is wrong"), a single line."""
    def one(m):
        try:
            return resolve(m.group(1))
        except DataRefError as e:
            line = first_line + text.count("\n", 0, m.start())
            shown = re.sub(r"\s+", " ", m.group(1).strip())
            raise DataRefError("%s:%d: {{%s}}: %s" % (source, line, shown, " ".join(str(e).split())))
    return REFERENCE.sub(one, text)
