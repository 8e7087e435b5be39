#!/usr/bin/env python3
"""bench/gpu_torch.py -- PyTorch doing the same jobs as bench/gpu.c, at the
same sizes and dtype, timed the same way (random inputs rotated through more
memory than the L2 holds, warm-up, then the median of 50 runs each timed
alone with CUDA events).  It is the baseline the closing table compares
against: the library a reader would otherwise use.

PyTorch's functions are not always the same algorithm: its attention here is
written out the plain way (two matmuls and a masked softmax), like ours;
F.linear adds the bias inside cuBLASLt's epilogue; its AdamW (fused=True)
updates bf16 parameters in place with no f32 master copy, so it moves fewer
bytes than ours (which keeps f32 master weights) -- the bytes column says
what each moved.

Usage: python3 bench/gpu_torch.py [--dtype bf16|f32] [--out DIR]"""
import argparse, datetime, math, os, subprocess, sys

import torch
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("--dtype", default="bf16", choices=["bf16", "f32", "f16"])
ap.add_argument("--out")
args = ap.parse_args()
dt = {"bf16": torch.bfloat16, "f32": torch.float32, "f16": torch.float16}[args.dtype]
e = torch.tensor([], dtype=dt).element_size()
dev = "cuda"
N, C, H, V, T, NH, P = 16384, 768, 3072, 50304, 1024, 12, 124475904
B = N // T
l2 = torch.cuda.get_device_properties(0).L2_cache_size
sets = max(1, min(4, math.ceil(4 * l2 / (N * C * e * 2))))
torch.manual_seed(0)


def rnd(*shape, scale=1.0, dtype=dt):
    return (torch.rand(*shape, device=dev, dtype=torch.float32) * 2 - 1).mul_(scale).to(dtype)


def timed(fn, warmup=5, runs=50):
    for i in range(warmup):
        fn(i % sets)
    torch.cuda.synchronize()
    ms = []
    for i in range(runs):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn(i % sets)
        b.record()
        b.synchronize()
        ms.append(a.elapsed_time(b))
    ms.sort()
    return ms[runs // 2], ms[0], ms[-1]


x = [rnd(N, H, scale=2) for _ in range(sets)]
dy = [rnd(N, H) for _ in range(sets)]
xc = [t[:, :C].contiguous() for t in x]
dyc = [t[:, :C].contiguous() for t in dy]
w, b = rnd(C), rnd(C)
cases = []


def case(name, shape, fn, nbytes=0, flops=0):
    cases.append((name, shape, fn, nbytes, flops))


def ln_fwd(k):
    F.layer_norm(xc[k], (C,), w, b)


xr = [t.clone().requires_grad_(True) for t in xc]
wr, br = w.clone().requires_grad_(True), b.clone().requires_grad_(True)
ln_out = [F.layer_norm(t, (C,), wr, br) for t in xr]


def ln_bwd(k):
    torch.autograd.grad(ln_out[k], (xr[k], wr, br), dyc[k], retain_graph=True)


case("layernorm_forward", f"{N}x{C}", ln_fwd, 2 * N * C * e + 8 * N)
case("layernorm_backward (autograd)", f"{N}x{C}", ln_bwd, 3 * N * C * e)
case("rmsnorm_forward", f"{N}x{C}", lambda k: F.rms_norm(xc[k], (C,), w), 2 * N * C * e)
case("gelu_forward", f"{N}x{H}", lambda k: F.gelu(x[k], approximate="tanh"), 2 * N * H * e)
gx = [t.clone().requires_grad_(True) for t in x]
gout = [F.gelu(t, approximate="tanh") for t in gx]
case("gelu_backward (autograd)", f"{N}x{H}", lambda k: torch.autograd.grad(gout[k], gx[k], dy[k], retain_graph=True),
     3 * N * H * e)
case("residual_forward", f"{N}x{C}", lambda k: torch.add(xc[k], dyc[k]), 3 * N * C * e)
case("softmax_forward", f"{N}x{H}", lambda k: torch.softmax(x[k], dim=-1), 2 * N * H * e)
logits = rnd(N, V, scale=2)
targets = torch.randint(0, V, (N,), device=dev)
case("cross_entropy_forward", f"{N}x{V}", lambda k: F.cross_entropy(logits, targets), N * V * e)
lg = logits.clone().requires_grad_(True)


def xent_fb(k):
    loss = F.cross_entropy(lg, targets)
    loss.backward()
    lg.grad = None


case("cross_entropy fwd+bwd (autograd)", f"{N}x{V}", xent_fb, 3 * N * V * e)
params = rnd(P, dtype=dt)
param = torch.nn.Parameter(params)
param.grad = rnd(P, dtype=dt)
opt = torch.optim.AdamW([param], lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1, fused=True)
case("adamw_update (fused, no master)", f"{P}", lambda k: opt.step(), P * (3 * e + 16))
case("grad_norm (vector_norm)", f"{P}", lambda k: torch.linalg.vector_norm(param.grad.float()), P * e)
Wqkv, bqkv = rnd(3 * C, C, scale=0.1), rnd(3 * C)
Wfc, bfc = rnd(H, C, scale=0.1), rnd(H)
case("linear_forward (qkv)", f"{N}x{C}->{3*C}", lambda k: F.linear(xc[k], Wqkv, bqkv), 0, 2 * N * C * 3 * C)
case("linear_forward (fc)", f"{N}x{C}->{H}", lambda k: F.linear(xc[k], Wfc, bfc), 0, 2 * N * C * H)
q, kk, v = (rnd(B, NH, T, C // NH) for _ in range(3))
mask = torch.ones(T, T, device=dev, dtype=torch.bool).tril()


def attn_plain(k):
    s = (q @ kk.transpose(-1, -2)) * (1.0 / math.sqrt(C // NH))
    p = torch.softmax(s.masked_fill(~mask, float("-inf")), dim=-1)
    return p @ v


case("attention_forward (plain)", f"B{B} T{T} NH{NH} hs{C//NH}", attn_plain, 0, 4 * B * NH * T * T * (C // NH))
case("attention_forward (sdpa, flash)", f"B{B} T{T} NH{NH} hs{C//NH}",
     lambda k: F.scaled_dot_product_attention(q, kk, v, is_causal=True), 0, 4 * B * NH * T * T * (C // NH))

# ceilings, the same way as bench/gpu.c
src = torch.empty(1 << 28, device=dev, dtype=torch.float32).uniform_()
dst = torch.empty_like(src)
copy_ms = timed(lambda k: dst.copy_(src), 3, 20)[0]
copy_gbs = 2 * src.numel() * 4 / (copy_ms * 1e-3) / 1e9
del src, dst
S = 8192
ga, gb = rnd(S, S, dtype=torch.bfloat16), rnd(S, S, dtype=torch.bfloat16)
gemm_ms = timed(lambda k: ga @ gb, 3, 10)[0]
gemm_tf = 2 * S**3 / (gemm_ms * 1e-3) / 1e12

name = torch.cuda.get_device_name(0)
print(f"device: {name}; torch {torch.__version__}; copy {copy_gbs:.0f} GB/s; bf16 GEMM {gemm_tf:.0f} TFLOP/s; "
      f"{sets} input sets")
print(f"{'kernel':36} {'shape':22} {'time ms':>10} {'GB/s|TF/s':>10} {'% ceiling':>9}")
rows = []
for nm, shape, fn, nbytes, flops in cases:
    med, lo, hi = timed(fn)
    s = med * 1e-3
    gbs, tf = nbytes / s / 1e9, flops / s / 1e12
    pct = 100 * tf / gemm_tf if flops else 100 * gbs / copy_gbs
    print(f"{nm:36} {shape:22} {med:10.4f} {tf if flops else gbs:10.1f} {pct:8.0f}%", flush=True)
    rows.append((nm, shape, args.dtype.upper(), med, lo, hi, nbytes, flops, gbs, tf, pct, copy_gbs, gemm_tf))

if args.out:
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"bench-gpu-torch-{args.dtype}.tsv")
    try:
        git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        git = ""
    with open(path + ".tmp", "w") as f:
        f.write(f"# bench-gpu-torch-{args.dtype}: PyTorch {torch.__version__} doing bench/gpu.c's jobs, same sizes\n")
        f.write(f"# command: python3 {' '.join(sys.argv)}\n# device: cuda ({name})\n")
        f.write(f"# date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')}\n")
        f.write(f"# git: {git or 'unknown'}\n")
        f.write("kernel\tshape\tdtype\tms_median\tms_min\tms_max\tbytes\tflops\tgbs\ttflops\tpct_ceiling\tcopy_gbs"
                "\tgemm_tflops\n")
        for r in rows:
            f.write("%s\t%s\t%s\t%.5f\t%.5f\t%.5f\t%.0f\t%.0f\t%.1f\t%.2f\t%.1f\t%.0f\t%.1f\n" % r)
    os.replace(path + ".tmp", path)
