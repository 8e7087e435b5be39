#!/usr/bin/env bash
# test_tangle.sh -- tools/tangle guards against noweb's silent failures.
#
# Each case is a small .nw file: an unescaped CUDA launch and a line with
# both shifts must be refused with a message naming the line; a misspelled
# continuation (an extra root) must be refused; an escaped launch must come
# out intact; chunk names must appear as comments without moving any line
# that #line directives point to; roots that disappear are removed.
set -u
cd "$(dirname "$0")/.." || exit 1
root=$PWD
tangle=$root/tools/tangle
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL tangle: $1"; }

printf '# T\n\n<<t.c>>=\nint main(void) { k<<<grid, block>>>(x); return 0; }\n@\n' > launch.nw
if out=$("$tangle" launch.nw o 2>&1); then bad "an unescaped launch is accepted"
else [[ "$out" == *"launch.nw:4:"*"@<<<"* ]] && ok || bad "the launch message names the line and the fix: $out"; fi

printf '# T\n\n<<t.c>>=\nint f(int a, int b) { return (a << 4) | (b >> 2); }\n@\n' > shift.nw
if out=$("$tangle" shift.nw o 2>&1); then bad "a line with << and >> is accepted"
else [[ "$out" == *"shift.nw:4:"* ]] && ok || bad "the shift message names the line: $out"; fi

printf '# T\n\n<<t.c>>=\n<<Helper>>\n@\n<<Helper>>=\nint z;\n@\n<<Helpr>>=\nint w;\n@\n' > typo.nw
if out=$("$tangle" typo.nw o 2>&1); then bad "a misspelled continuation is accepted"
else [[ "$out" == *"<<Helpr>>"*"never used"* ]] && ok || bad "the typo message names the chunk: $out"; fi

printf '# T\n\n<<t.c>>=\nint main(void) { k@<<<grid, block>>>(x); return 0; }\n@\n' > escaped.nw
if "$tangle" escaped.nw o 2>/dev/null && grep -q 'k<<<grid, block>>>(x)' o/t.c; then ok
else bad "an escaped launch comes out intact"; fi

printf '# T\n\nProse.\n\n<<t.c>>=\nint main(void) {\n    <<Do the work>>\n}\n@ %%def main\n\nMore prose.\n\n<<Do the work>>=\nreturn 42;\n@\n' > names.nw
if "$tangle" names.nw o 2>/dev/null; then
  grep -q '^    /\* Do the work \*/$' o/t.c && ok || bad "the chunk name is a comment in the tangled file"
  # the line after each #line N must be line N of the source
  awk -v src=names.nw 'FNR == NR { nw[FNR] = $0; next }
       /^#line / { want = $2; getline; sub(/^[ \t]+/, ""); w = nw[want]; sub(/^[ \t]+/, "", w); if ($0 != w) bad = 1 }
       END { exit bad }' names.nw o/t.c && ok || bad "#line directives still point at the right source lines"
else bad "a correct file tangles"; fi

printf '# T\n\n<<t.c>>=\nint x;\n@\n<<u.gp>>=\nplot x\n@\n' > two.nw
"$tangle" two.nw o2 2>/dev/null
printf '# T\n\n<<t.c>>=\nint x;\n@\n' > two.nw
"$tangle" two.nw o2 2>/dev/null
[ -f o2/t.c ] && [ ! -f o2/u.gp ] && ok || bad "a root that is gone is removed from the output"

# Every tangled chapter: the line after each #line N is line N of its source.
for c in "$root"/build/[0-9][0-9]-*/*.c; do
  [ -f "$c" ] || continue
  awk 'FNR == NR { nw[FNR] = $0; next }
       /^#line / { want = $2; getline; a = $0; sub(/^[ \t]+/, "", a); w = nw[want]; sub(/^[ \t]+/, "", w)
                   if (a != w) bad++ }
       END { exit bad > 0 }' "$(sed -n 's/^#line [0-9]* "\(.*\)"$/\1/p' "$c" | head -1 | sed "s|^|$root/|")" "$c" \
    && ok || bad "$(basename "$c"): every #line directive points at its source line"
done

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
