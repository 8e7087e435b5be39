#!/usr/bin/env python3
"""tests/test_gpu_api.py: gpu.h, its CUDA files and its generated stand-in
agree.

common/gpu.h declares the GPU half of the runtime; common/gpu/*.cu define
it (extern "C"); common/gpu/stubs.py writes the no-CUDA stand-in from the
header.  This test checks, without a GPU:

  1. the stand-in (build/common/gpu_none.o, or the AddressSanitizer build's)
     defines exactly the functions gpu.h declares;
  2. where nvcc built the CUDA objects (build/common/gpu/*.o), they define
     each declared function exactly once, and no C function the header does
     not declare (a kernel a chapter could not call);
  3. stubs.py reads a chapter's .cu (its extern "C" definitions and its
     quoted .h includes) into C that compiles with the book's warnings, and
     stops with one line on input it cannot read.

The closing line is "N passed, N failed"."""
import glob
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "common", "gpu"))
import stubs  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pycheck import Checks  # noqa: E402

check = Checks("FAIL: ")


def defined(obj):
    """extern "C" functions an object file defines (global text, unmangled)"""
    out = subprocess.run(["nm", "--defined-only", obj], capture_output=True, text=True).stdout
    return [l.split()[2] for l in out.splitlines() if len(l.split()) == 3 and l.split()[1] == "T"
            and not l.split()[2].startswith("_")]


header = open(os.path.join(ROOT, "common", "gpu.h")).read()
declared = {re.match(r"^.*?\b(\w+)\s*\(", p).group(1) for p in stubs.prototypes_from_header(header, "gpu.h")}
check(len(declared) >= 40, f"gpu.h declares {len(declared)} functions (expected 40 or more)")

stub_objs = [p for p in ("build/common/gpu_none.o", "build/asan/common/gpu_none.o") if os.path.exists(os.path.join(ROOT, p))]
check(stub_objs, "a stand-in object was built (make test builds the AddressSanitizer one)")
for p in stub_objs:
    names = defined(os.path.join(ROOT, p))
    check(set(names) == declared and len(names) == len(set(names)),
          f"{p} defines what gpu.h declares (missing {sorted(declared - set(names))}, extra {sorted(set(names) - declared)})")

cuda_objs = sorted(glob.glob(os.path.join(ROOT, "build", "common", "gpu", "*.o")))
if cuda_objs:
    names = [n for o in cuda_objs for n in defined(o)]
    twice = sorted({n for n in names if names.count(n) > 1})
    check(not twice, f"each function is defined in one CUDA file only (twice: {twice})")
    check(set(names) == declared,
          f"the CUDA files define what gpu.h declares (missing {sorted(declared - set(names))}, "
          f"undeclared {sorted(set(names) - declared)})")
else:
    print("(no CUDA objects: nvcc is not here)")

with tempfile.TemporaryDirectory() as tmp:
    cu = os.path.join(tmp, "demo.cu")
    with open(cu, "w") as f:
        f.write('#include "../common/gpu/internal.cuh"\n#include "demo.h"\n'
                "__global__ void twice_kernel(float *x, int n) { }\n"
                'extern "C" void demo_twice_cuda(Gpu *g, float *x, int n) {\n  twice_kernel<<<1, 1, 0, 0>>>(x, n);\n}\n'
                'extern "C" size_t demo_bytes(int rows,\n                         const int32_t *ids) { return 0; }\n')
    with open(os.path.join(tmp, "demo.h"), "w") as f:
        f.write('#include "gpu.h"\nvoid demo_twice_cuda(Gpu *g, float *x, int n);\nsize_t demo_bytes(int rows, const int32_t *ids);\n')
    r = subprocess.run([sys.executable, os.path.join(ROOT, "common", "gpu", "stubs.py"), cu], capture_output=True, text=True)
    check(r.returncode == 0 and "demo_twice_cuda(Gpu *g, float *x, int n)" in r.stdout and '#include "demo.h"' in r.stdout
          and "internal.cuh" not in r.stdout, "stubs.py reads a chapter's .cu: " + (r.stderr.strip() or "ok"))
    c = os.path.join(tmp, "demo_none.c")
    open(c, "w").write(r.stdout)
    cc = subprocess.run(["gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-Wshadow", "-I" + os.path.join(ROOT, "common"),
                         "-I" + tmp, "-c", c, "-o", os.path.join(tmp, "demo_none.o")], capture_output=True, text=True)
    check(cc.returncode == 0, "the chapter's stand-in compiles with -Wall -Wextra -Werror: " + cc.stderr.strip()[:300])
    if cc.returncode == 0:
        check(sorted(defined(os.path.join(tmp, "demo_none.o"))) == ["demo_bytes", "demo_twice_cuda"],
              "the chapter's stand-in defines its two functions")
    bad = os.path.join(tmp, "bad.h")
    open(bad, "w").write("void ok(int n);\nint (*weird)(int);\n")
    r = subprocess.run([sys.executable, os.path.join(ROOT, "common", "gpu", "stubs.py"), bad], capture_output=True, text=True)
    check(r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and "bad.h" in r.stderr,
          f"stubs.py stops with one line naming the file it cannot read (got: {r.stderr.strip()!r})")
    r = subprocess.run([sys.executable, os.path.join(ROOT, "common", "gpu", "stubs.py"), os.path.join(tmp, "none.h")],
                       capture_output=True, text=True)
    check(r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1, "stubs.py: a missing file is one line")

sys.exit(check.finish())
