#!/usr/bin/env python3
"""bench/gpu_torch.py -- PyTorch doing the same jobs as bench/gpu.c, at the
same sizes and dtype: the library a reader would otherwise use, timed three
ways beside ours.

  eager    the call as a user writes it, launched back to back: L calls
           between two CUDA events (a window of about 2 ms), inputs rotated
           through more memory than the L2 holds; the median of 10 windows.
           PyTorch's host-side work (9-25 us a call) overlaps the GPU's only
           when a call's kernels take longer than that, so for small jobs
           this column is what eager PyTorch costs, not what its kernels do;
  graph    the same calls captured once in a CUDA graph and replayed: the
           kernels PyTorch launches, without its host overhead;
  compile  torch.compile (Inductor, default mode) of the same job, its
           kernels captured in a CUDA graph the same way.  Backward passes
           are compiled from their formula (autograd.grad does not compile);
           matrix products, attention and the optimizer step are not
           compiled (cuBLAS and flash attention do the work either way), and
           their cell is empty;
  single   eager, each call timed alone between two events (how this bench
           timed everything before): host overhead inside the window.

With --ours FILE (bench-gpu-DTYPE.tsv of the same run) the TSV gets our
kernel's back-to-back time beside PyTorch's, row by row.  --wait-for PATH:
compile and capture everything, then wait until PATH exists before timing
(bench/gpu-device.sh compiles while compute-sanitizer runs, and times once
the GPU is otherwise idle).

Not always the same algorithm: PyTorch's AdamW (fused=True) updates bf16
parameters in place with no f32 master copy, so it moves fewer bytes than
ours; its embedding backward writes a dense gradient of the whole table.  The
bytes column says what each moved.

Provenance: BOOK_GIT and BOOK_DATE, when set, are the file's git and date
lines (the device machine's checkout and clock are not the book's).

Usage: python3 bench/gpu_torch.py [--dtype bf16|f32] [--out DIR] [--ours FILE] [--wait-for PATH] [--quick]"""
import argparse
import datetime
import math
import os
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("--dtype", default="bf16", choices=["bf16", "f32", "f16"])
ap.add_argument("--out")
ap.add_argument("--ours")
ap.add_argument("--wait-for")
ap.add_argument("--quick", action="store_true")
ap.add_argument("--no-compile", action="store_true")
args = ap.parse_args()
dt = {"bf16": torch.bfloat16, "f32": torch.float32, "f16": torch.float16}[args.dtype]
e = torch.tensor([], dtype=dt).element_size()
dev = "cuda"
if args.quick:
    N, C, H, V, T, NH, P = 512, 96, 384, 1000, 64, 4, 100000
else:
    N, C, H, V, T, NH, P = 16384, 768, 3072, 50304, 1024, 12, 124475904
B = N // T
l2 = torch.cuda.get_device_properties(0).L2_cache_size
sets = max(1, min(4, math.ceil(4 * l2 / (N * C * e * 2))))
WINDOWS, WINDOW_MS = (3, 0.5) if args.quick else (10, 2.0)
torch.manual_seed(0)
t_start = time.time()


def rnd(*shape, scale=1.0, dtype=dt):
    return (torch.rand(*shape, device=dev, dtype=torch.float32) * 2 - 1).mul_(scale).to(dtype)


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def window_calls(est_ms):
    return int(min(2000, max(4, math.ceil(WINDOW_MS / max(est_ms, 1e-4)))))


def time_b2b(fn):
    """eager, back to back: (median ms per call, calls per window)"""
    for i in range(3):
        fn(i % sets)
    torch.cuda.synchronize()
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    a.record()
    for i in range(4):
        fn(i % sets)
    b.record()
    b.synchronize()
    L = window_calls(a.elapsed_time(b) / 4)
    ms, call = [], 0
    for w in range(WINDOWS):
        a.record()
        for i in range(L):
            fn(call % sets)
            call += 1
        b.record()
        b.synchronize()
        ms.append(a.elapsed_time(b) / L)
    return median(ms), L


def time_single(fn):
    ms = []
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for i in range(WINDOWS * 2):
        a.record()
        fn(i % sets)
        b.record()
        b.synchronize()
        ms.append(a.elapsed_time(b))
    return median(ms)


# Graphs are captured on this stream; a backward pass runs on the stream of
# its forward pass, so the graph column's forward passes are computed on it too.
cap_stream = torch.cuda.Stream()


def capture(fn):
    """a CUDA graph of G calls (every input set, at least 8 calls); None if capture fails"""
    G = sets * math.ceil(8 / sets)
    s = cap_stream
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for i in range(3):
            fn(i % sets)
    torch.cuda.current_stream().wait_stream(s)
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    try:
        with torch.cuda.graph(g, stream=s):
            for i in range(G):
                fn(i % sets)
    except Exception as ex:  # noqa: BLE001 -- reported, and the cell stays empty
        print(f"  (capture failed: {type(ex).__name__}: {str(ex).splitlines()[0][:120]})", flush=True)
        torch.cuda.synchronize()
        return None
    torch.cuda.synchronize()
    return g, G


def time_graph(cap):
    g, G = cap
    g.replay()
    torch.cuda.synchronize()
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    a.record()
    g.replay()
    b.record()
    b.synchronize()
    R = max(1, window_calls(a.elapsed_time(b) / G) // G)
    ms = []
    for w in range(WINDOWS):
        a.record()
        for r in range(R):
            g.replay()
        b.record()
        b.synchronize()
        ms.append(a.elapsed_time(b) / (R * G))
    return median(ms)


# ---- the jobs --------------------------------------------------------------------------

x = [rnd(N, H, scale=2) for _ in range(sets)]
dy = [rnd(N, H) for _ in range(sets)]
xc = [t[:, :C].contiguous() for t in x]
dyc = [t[:, :C].contiguous() for t in dy]
w, b = rnd(C), rnd(C)
cases = []


def case(name, ours, shape, eager, compiled=None, nbytes=0, flops=0, graph=None):
    """eager(k) runs the job on input set k; compiled is (function, args(k)) for torch.compile;
    graph, if given, is the function captured instead of eager (a capturable variant), False for none"""
    cases.append(dict(name=name, ours=ours, shape=shape, eager=eager, compiled=compiled, bytes=nbytes, flops=flops,
                      graph=eager if graph is None else graph))


case("layernorm_forward", "layernorm_forward", f"{N}x{C}", lambda k: F.layer_norm(xc[k], (C,), w, b),
     (lambda t, w_, b_: F.layer_norm(t, (C,), w_, b_), lambda k: (xc[k], w, b)), 2 * N * C * e + 2 * C * e)

xr = [t.clone().requires_grad_(True) for t in xc]
wr, br = w.clone().requires_grad_(True), b.clone().requires_grad_(True)
ln_out = [F.layer_norm(t, (C,), wr, br) for t in xr]
with torch.cuda.stream(cap_stream):
    ln_out_s = [F.layer_norm(t, (C,), wr, br) for t in xr]
torch.cuda.synchronize()
xf = [t.float() for t in xc]
mean = [t.mean(-1, keepdim=True) for t in xf]
rstd = [torch.rsqrt(t.var(-1, unbiased=False, keepdim=True) + 1e-5) for t in xf]


def ln_bwd_formula(x_, dy_, w_, mean_, rstd_):
    xh = (x_.float() - mean_) * rstd_
    g = dy_.float() * w_.float()
    dx = rstd_ * (g - g.mean(-1, keepdim=True) - xh * (g * xh).mean(-1, keepdim=True))
    return dx.to(x_.dtype), (dy_.float() * xh).sum(0).to(x_.dtype), dy_.float().sum(0).to(x_.dtype)


case("layernorm_backward", "layernorm_backward", f"{N}x{C}",
     lambda k: torch.autograd.grad(ln_out[k], (xr[k], wr, br), dyc[k], retain_graph=True),
     (ln_bwd_formula, lambda k: (xc[k], dyc[k], w, mean[k], rstd[k])), 3 * N * C * e + 8 * N + 3 * C * e,
     graph=lambda k: torch.autograd.grad(ln_out_s[k], (xr[k], wr, br), dyc[k], retain_graph=True))
case("rmsnorm_forward", "rmsnorm_forward", f"{N}x{C}", lambda k: F.rms_norm(xc[k], (C,), w),
     (lambda t, w_: F.rms_norm(t, (C,), w_), lambda k: (xc[k], w)), 2 * N * C * e + C * e)
case("gelu_forward", "gelu_forward", f"{N}x{H}", lambda k: F.gelu(x[k], approximate="tanh"),
     (lambda t: F.gelu(t, approximate="tanh"), lambda k: (x[k],)), 2 * N * H * e)
gx = [t.clone().requires_grad_(True) for t in x]
gout = [F.gelu(t, approximate="tanh") for t in gx]
with torch.cuda.stream(cap_stream):
    gout_s = [F.gelu(t, approximate="tanh") for t in gx]
torch.cuda.synchronize()


def gelu_bwd_formula(x_, dy_):
    xf_ = x_.float()
    u = 0.7978845608028654 * (xf_ + 0.044715 * xf_ ** 3)
    th = torch.tanh(u)
    d = 0.5 * (1 + th) + 0.5 * xf_ * (1 - th * th) * 0.7978845608028654 * (1 + 3 * 0.044715 * xf_ * xf_)
    return (d * dy_.float()).to(x_.dtype)


case("gelu_backward", "gelu_backward", f"{N}x{H}",
     lambda k: torch.autograd.grad(gout[k], gx[k], dy[k], retain_graph=True),
     (gelu_bwd_formula, lambda k: (x[k], dy[k])), 3 * N * H * e,
     graph=lambda k: torch.autograd.grad(gout_s[k], gx[k], dy[k], retain_graph=True))
case("residual_forward", "residual_forward", f"{N}x{C}", lambda k: torch.add(xc[k], dyc[k]),
     (lambda a_, b_: torch.add(a_, b_), lambda k: (xc[k], dyc[k])), 3 * N * C * e)
case("softmax_forward", "softmax_forward", f"{N}x{H}", lambda k: torch.softmax(x[k], dim=-1),
     (lambda t: torch.softmax(t, dim=-1), lambda k: (x[k],)), 2 * N * H * e)

wte = rnd(V, C)
ids = torch.randint(0, V, (N,), device=dev)
wter = wte.clone().requires_grad_(True)
emb_out = F.embedding(ids, wter)
distinct = torch.unique(ids).numel()
# not captured: its sort may read a count back to the host, which a capture cannot hold
case("embedding_backward (autograd, dense)", "embedding_backward", f"{N}x{C}",
     lambda k: torch.autograd.grad(emb_out, wter, dyc[k], retain_graph=True), None,
     N * C * e + V * C * e, graph=False)

logits = rnd(N, V, scale=2)
targets = torch.randint(0, V, (N,), device=dev)
case("cross_entropy_forward", "cross_entropy_forward", f"{N}x{V}", lambda k: F.cross_entropy(logits, targets),
     (lambda l_, t_: F.cross_entropy(l_, t_), lambda k: (logits, targets)), N * V * e)
lg = logits.clone().requires_grad_(True)
xent_loss = F.cross_entropy(lg, targets)
with torch.cuda.stream(cap_stream):
    xent_loss_s = F.cross_entropy(lg, targets)
torch.cuda.synchronize()


def xent_fb_formula(lg_, t_):
    lf = lg_.float()
    lse = torch.logsumexp(lf, -1, keepdim=True)
    loss = (lse.squeeze(-1) - lf.gather(1, t_[:, None]).squeeze(-1)).mean()
    grad = torch.exp(lf - lse)
    grad.scatter_add_(1, t_[:, None], torch.full_like(lse, -1.0))
    return loss, (grad / lf.shape[0]).to(lg_.dtype)


case("cross_entropy forward+backward", "cross_entropy_fused", f"{N}x{V}",
     lambda k: torch.autograd.grad(xent_loss, lg, retain_graph=True),
     (xent_fb_formula, lambda k: (logits, targets)), 2 * N * V * e,
     graph=lambda k: torch.autograd.grad(xent_loss_s, lg, retain_graph=True))

param = torch.nn.Parameter(rnd(P))
param.grad = rnd(P)
opt = torch.optim.AdamW([param], lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1, fused=True)
param2 = torch.nn.Parameter(rnd(P))
param2.grad = rnd(P)
opt2 = torch.optim.AdamW([param2], lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1, fused=True, capturable=True)
case("adamw_update (fused, no master)", "adamw_update", f"{P}", lambda k: opt.step(), None,
     P * (3 * e + 16), graph=lambda k: opt2.step())
case("grad_norm (vector_norm)", "grad_norm_squared", f"{P}", lambda k: torch.linalg.vector_norm(param.grad.float()),
     (lambda g_: torch.linalg.vector_norm(g_.float()), lambda k: (param.grad,)), P * e)

Wqkv, bqkv = rnd(3 * C, C, scale=0.1), rnd(3 * C)
Wfc, bfc = rnd(H, C, scale=0.1), rnd(H)
case("linear_forward (qkv)", "linear_forward (qkv)", f"{N}x{C}->{3*C}", lambda k: F.linear(xc[k], Wqkv, bqkv), None,
     0, 2 * N * C * 3 * C)
case("linear_forward (fc)", "linear_forward (fc)", f"{N}x{C}->{H}", lambda k: F.linear(xc[k], Wfc, bfc), None,
     0, 2 * N * C * H)
q, kk, v = (rnd(B, NH, T, C // NH) for _ in range(3))
mask = torch.ones(T, T, device=dev, dtype=torch.bool).tril()


def attn_plain(k):
    s = (q @ kk.transpose(-1, -2)) * (1.0 / math.sqrt(C // NH))
    p = torch.softmax(s.masked_fill(~mask, float("-inf")), dim=-1)
    return p @ v


case("attention_forward (plain)", "attention_forward", f"B{B} T{T} NH{NH} hs{C//NH}", attn_plain, None, 0,
     4 * B * NH * T * T * (C // NH))
case("attention_forward (sdpa, flash)", "attention_forward", f"B{B} T{T} NH{NH} hs{C//NH}",
     lambda k: F.scaled_dot_product_attention(q, kk, v, is_causal=True), None, 0, 4 * B * NH * T * T * (C // NH))

# ---- preparation: graphs, compilation ------------------------------------------------------

name = torch.cuda.get_device_name(0)
print(f"device: {name}; torch {torch.__version__}; {sets} input sets; {len(cases)} jobs", flush=True)
compile_budget = float(os.environ.get("COMPILE_BUDGET_S", "240"))
for cs in cases:
    if cs["compiled"] and time.time() - t_start > compile_budget:
        print(f"  {cs['name']}: not compiled (past COMPILE_BUDGET_S = {compile_budget:.0f} s)")
        cs["compiled"] = None
    cs["cap"] = capture(cs["graph"]) if cs["graph"] else None
    cs["cap_c"] = None
    if cs["compiled"] and not args.no_compile:
        fn, argf = cs["compiled"]
        t0 = time.time()
        try:
            cf = torch.compile(fn, dynamic=False)
            for k in range(sets):
                cf(*argf(k))
            torch.cuda.synchronize()
            cs["cap_c"] = capture(lambda k, cf=cf, argf=argf: cf(*argf(k)))
        except Exception as ex:  # noqa: BLE001 -- reported, and the cell stays empty
            print(f"  {cs['name']}: torch.compile failed: {type(ex).__name__}: {str(ex).splitlines()[0][:120]}")
        print(f"  compiled {cs['name']} in {time.time() - t0:.1f} s", flush=True)
print(f"prepared in {time.time() - t_start:.0f} s", flush=True)
if args.wait_for:
    t0 = time.time()
    while not os.path.exists(args.wait_for) and time.time() - t0 < 600:
        time.sleep(0.2)
    print(f"waited {time.time() - t0:.0f} s for {args.wait_for}", flush=True)

# ---- timing -------------------------------------------------------------------------------

ours, copy_gbs, gemm_tf = {}, None, None
if args.ours and os.path.exists(args.ours):
    cols = None
    for line in open(args.ours):
        if line.startswith("#"):
            continue
        f = line.rstrip("\n").split("\t")
        if cols is None:
            cols = f
            continue
        row = dict(zip(cols, f))
        ours[row["kernel"]] = float(row["ms_median"])
        copy_gbs, gemm_tf = float(row["copy_gbs"]), float(row["gemm_tflops"])
if copy_gbs is None:  # no file of ours: the ceilings here, measured the same way
    src = torch.empty(1 << 28, device=dev, dtype=torch.float32).uniform_()
    dst = torch.empty_like(src)
    copy_gbs = 2 * src.numel() * 4 / (time_b2b(lambda k: dst.copy_(src))[0] * 1e-3) / 1e9
    del src, dst
    S = 8192
    ga, gb = rnd(S, S, dtype=torch.bfloat16), rnd(S, S, dtype=torch.bfloat16)
    gemm_tf = 2 * S ** 3 / (time_b2b(lambda k: ga @ gb)[0] * 1e-3) / 1e12
    del ga, gb

print(f"ceilings: copy {copy_gbs:.0f} GB/s, bf16 GEMM {gemm_tf:.0f} TFLOP/s ({'ours' if ours else 'measured here'})")
hdr = f"{'job':36} {'ours':>8} {'eager':>8} {'graph':>8} {'compile':>8} {'single':>8}  ms; % of ceiling: ours/eager/graph/compile"
print(hdr)
rows = []
nan = float("nan")


def pct(ms, nbytes, flops):
    if ms != ms:
        return nan
    return 100 * (flops / (ms * 1e-3) / 1e12) / gemm_tf if flops else 100 * (nbytes / (ms * 1e-3) / 1e9) / copy_gbs


def attempt(f, what):
    try:
        return f()
    except Exception as ex:  # noqa: BLE001 -- one job failing leaves the others their numbers
        print(f"  {what}: {type(ex).__name__}: {str(ex).splitlines()[0][:120]}", flush=True)
        return None


for cs in cases:
    eager, L = attempt(lambda: time_b2b(cs["eager"]), cs["name"] + " eager") or (nan, 0)
    single = attempt(lambda: time_single(cs["eager"]), cs["name"] + " single") or nan
    graph = (attempt(lambda: time_graph(cs["cap"]), cs["name"] + " graph") if cs["cap"] else None) or nan
    comp = (attempt(lambda: time_graph(cs["cap_c"]), cs["name"] + " compile") if cs["cap_c"] else None) or nan
    o = ours.get(cs["ours"], nan)
    # our row's bytes differ where the job differs (accumulating gradients, master weights): our % uses ours
    nb, fl = cs["bytes"], cs["flops"]
    p = [pct(eager, nb, fl), pct(graph, nb, fl), pct(comp, nb, fl)]
    print(f"{cs['name']:36} {o:8.4f} {eager:8.4f} {graph:8.4f} {comp:8.4f} {single:8.4f}  "
          f"{'/'.join('-' if q != q else f'{q:.0f}' for q in p)}", flush=True)
    rows.append((cs["name"], cs["ours"], cs["shape"], args.dtype.upper(), o, eager, graph, comp, single, L, nb, fl,
                 p[0], p[1], p[2], copy_gbs, gemm_tf))
print(f"total {time.time() - t_start:.0f} s")

if args.out:
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"bench-gpu-torch-{args.dtype}.tsv")
    git = os.environ.get("BOOK_GIT")
    if not git:
        try:
            git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        except OSError:
            git = ""
    date = os.environ.get("BOOK_DATE") or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    command = os.environ.get("BOOK_COMMAND") or "python3 " + " ".join(sys.argv)

    def cell(x, fmt=".4f"):  # an empty cell for a job not run that way
        return "" if x != x else format(x, fmt)

    with open(path + ".tmp", "w") as f:
        f.write(f"# bench-gpu-torch-{args.dtype}: PyTorch {torch.__version__} doing bench/gpu.c's jobs, same sizes, "
                f"timed eager, as a CUDA graph and compiled, beside ours\n")
        f.write(f"# command: {command}\n# device: cuda ({name})\n# date: {date}\n# git: {git or 'unknown'}\n")
        f.write("kernel\tours_kernel\tshape\tdtype\tours_ms\teager_ms\tgraph_ms\tcompile_ms\tsingle_ms\tlaunches\tbytes"
                "\tflops\teager_pct\tgraph_pct\tcompile_pct\tcopy_gbs\tgemm_tflops\n")
        for r in rows:
            f.write("\t".join([r[0], r[1], r[2], r[3], cell(r[4]), cell(r[5]), cell(r[6]), cell(r[7]), cell(r[8]),
                               str(r[9]), f"{r[10]:.0f}", f"{r[11]:.0f}", cell(r[12], ".1f"), cell(r[13], ".1f"),
                               cell(r[14], ".1f"), f"{r[15]:.0f}", f"{r[16]:.1f}"]) + "\n")
    os.replace(path + ".tmp", path)
