"""extract.py -- pull the tensor-core backward kernels (and the device helpers
they call that are plain C++) out of common/gpu/flash.cu, for emu.cc to
compile as host code.  The helpers that are one PTX instruction (cp.async,
ldmatrix, mma, the atomics) are left out: emu.cc defines them.
Usage: python3 extract.py common/gpu/flash.cu > kernels.inc"""
import re
import sys

src = open(sys.argv[1]).read()
lines = src.split("\n")

def grab(name):
    """The definition of the function (or template) `name`: from its template
    line (or its signature line) to its closing brace."""
    pat = re.compile(r"\b" + re.escape(name) + r"\s*\(")
    for i, line in enumerate(lines):
        if pat.search(line) and not line.lstrip().startswith(("//", "/*", "*")) and ";" not in line.split(name)[0]:
            # a definition: the signature's line holds a return type before the name
            if re.search(r"(__global__|__device__|void|const T \*)", line) is None:
                continue
            start = i
            if i > 0 and lines[i - 1].startswith("template"):
                start = i - 1
            depth, seen = 0, False
            for j in range(i, len(lines)):
                depth += lines[j].count("{") - lines[j].count("}")
                seen |= "{" in lines[j]
                if seen and depth == 0:
                    return "\n".join(lines[start:j + 1])
    sys.exit(f"extract.py: {name} not found")

out = ["/* extracted from common/gpu/flash.cu by dev/flash-emu/extract.py */"]
for m in re.finditer(r"^#define (LOG2E|V2_BC) .*$", src, re.M):
    out.append(m.group(0))
for name in ["quarters_down", "quarters_across", "load_tile", "flash2_backward_kernel", "flash4_backward_kernel"]:
    out.append(grab(name))
text = "\n\n".join(out)
decl = "extern __shared__ __align__(16) unsigned char smem[];"
if text.count(decl) != 2:
    sys.exit("extract.py: expected the two kernels' shared-memory declarations")
print(text.replace(decl, "unsigned char *smem = emu_smem;"))
