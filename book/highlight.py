"""highlight.py -- a small lexer that gives every character of a code chunk a class.

The weaver (nw2md.py) needs more than a highlighter can give: code blocks whose
chunk references and identifiers are links.  Pandoc's code blocks cannot hold
links, so we classify characters ourselves and emit HTML and LaTeX directly.
The classes are few on purpose (the book's style, not an IDE's):

    kw  keyword          ty  type name         st  string or char literal
    co  comment          nu  number            pp  preprocessor directive
    op  (unused)         ""  plain

classify(text, lang) returns one class per character of text.  The lexers are
regular-expression scanners; they are wrong only in ways that do not matter
for reading (a '#' inside a gnuplot string, say).
"""
import re

C_KEYWORDS = set("""
auto break case const continue default do else enum extern for goto if inline
register restrict return sizeof static struct switch typedef union volatile while
_Alignas _Alignof _Atomic _Generic _Noreturn _Static_assert _Thread_local
__global__ __device__ __host__ __shared__ __constant__ __restrict__ __forceinline__
__launch_bounds__ __syncthreads __syncwarp template typename
""".split())

C_TYPES = set("""
void char short int long float double signed unsigned bool _Bool size_t ssize_t
ptrdiff_t intptr_t uintptr_t int8_t int16_t int32_t int64_t uint8_t uint16_t
uint32_t uint64_t FILE va_list dim3 half __half __nv_bfloat16 cudaError_t
cudaStream_t cudaEvent_t cublasHandle_t float2 float4 int2 int4
""".split())

GNUPLOT_KEYWORDS = set("""
set unset plot splot replot using with title notitle lines linespoints points
boxes histogram histograms image pm3d palette for in if else do while load call
print reset every index smooth axes ls lt lw lc dt ps pt fs fill solid pattern
noborder border key autotitle columnheader columnhead xtics ytics x2tics y2tics
mxtics mytics xlabel ylabel x2label y2label xrange yrange cbrange cbtics logscale
format grid size term terminal output label arrow from to rgb style datafile
separator multiplot layout origin margin lmargin rmargin tmargin bmargin offset
font center left right top bottom front back textcolor tc columns column stringcolumn
sprintf word words strlen stats name nooutput linestyle linetype linewidth linecolor
dashtype pointtype pointsize boxwidth yerrorbars errorbars filledcurves view map
""".split())

SH_KEYWORDS = set("""
if then else elif fi for in do done while until case esac function return exit
set export local readonly shift
""".split())

_C_TOKEN = re.compile(r"""
    (?P<co>/\*.*?(\*/|\Z) | //[^\n]*)
  | (?P<pp>^[ \t]*\#[ \t]*[A-Za-z_]+)
  | (?P<st>"(\\.|[^"\\\n])*"? | '(\\.|[^'\\\n])*'?)
  | (?P<nu>\b(0[xX][0-9a-fA-F]+|[0-9]+\.?[0-9]*([eE][+-]?[0-9]+)?|\.[0-9]+([eE][+-]?[0-9]+)?)[uUlLfF]*\b)
  | (?P<id>[A-Za-z_][A-Za-z0-9_]*)
""", re.X | re.S | re.M)

_GP_TOKEN = re.compile(r"""
    (?P<st>"(\\.|[^"\\\n])*"? | '[^'\n]*'?)
  | (?P<co>\#[^\n]*)
  | (?P<nu>\b[0-9]+\.?[0-9]*([eE][+-]?[0-9]+)?\b)
  | (?P<id>[A-Za-z_][A-Za-z0-9_]*)
""", re.X | re.S | re.M)

_SH_TOKEN = re.compile(r"""
    (?P<st>"(\\.|[^"\\])*"? | '[^']*'?)
  | (?P<co>(?<![$\w])\#[^\n]*)
  | (?P<nu>\b[0-9]+\b)
  | (?P<id>[A-Za-z_][A-Za-z0-9_]*)
""", re.X | re.S | re.M)


def _classify(text, pattern, keywords, types, camel_types):
    cls = [""] * len(text)
    for m in pattern.finditer(text):
        kind = m.lastgroup
        if kind == "id":
            word = m.group()
            if word in keywords:
                kind = "kw"
            elif word in types or (camel_types and re.match(r"[A-Z][a-z]+[A-Za-z0-9]*$", word)
                                   and not word.isupper()):
                kind = "ty"
            else:
                continue
        for i in range(m.start(), m.end()):
            cls[i] = kind
    return cls


def classify(text, lang):
    """One class name per character of text (see the module comment)."""
    if lang in ("c", "cuda", "h"):
        return _classify(text, _C_TOKEN, C_KEYWORDS, C_TYPES, True)
    if lang == "gnuplot":
        return _classify(text, _GP_TOKEN, GNUPLOT_KEYWORDS, set(), False)
    if lang in ("sh", "make"):
        return _classify(text, _SH_TOKEN, SH_KEYWORDS, set(), False)
    return [""] * len(text)


def language_of(filename):
    """The language of a root chunk, from its file name."""
    if filename.endswith((".c", ".h")):
        return "c"
    if filename.endswith((".cu", ".cuh")):
        return "cuda"
    if filename.endswith(".gp"):
        return "gnuplot"
    if filename.endswith(".sh"):
        return "sh"
    if filename == "Makefile" or filename.endswith(".mk"):
        return "make"
    return "text"
