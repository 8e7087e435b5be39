#!/usr/bin/env python3
"""bench/gpt2_torch.py -- PyTorch's training step on the GPT-2 small shape, the
baseline of chapter 8's bench (build/bin/ch08-transformer bench --device cuda).

The same model as common/gpt.h, written the usual way: GPT-2 small (12 blocks,
12 heads, C 768, F 3072, tied embeddings, tanh GELU, pre-LN), vocabulary
50304, batches of B x 1024 random tokens; f32 parameters and gradients,
the matrix products and attention in bf16 under autocast, which keeps the
layer norms and the loss in f32 (the bf16 logits are upcast for the loss),
attention by torch.nn.functional.scaled_dot_product_attention (causal;
PyTorch picks one of its fused backends, flash or cuDNN or memory-efficient,
and the kernels one profiled step launched are recorded as sdpa_backend),
fused AdamW (lr 6e-4, betas 0.9/0.95, weight decay 0.1 on the
matrices), the gradient clipped to norm 1.  One step is zero_grad, forward,
loss, backward, clip, step.  Timed twice: eager, and torch.compile'd (default
mode), and with --cudagraphs also torch.compile(mode="reduce-overhead"),
which replays the compiled forward and backward passes as CUDA graphs.  Each is
warmed up, then STEPS steps are timed one by one with CUDA events (a
synchronization after each, as the runtime's bench does) and the median is
reported; then STEPS more run back to back between one pair of events, with no
synchronization between them, and their mean is reported beside it, and the
caching allocator's peak (torch.cuda.max_memory_reserved and _allocated, from
the first warm-up step on).  MFU counts 6N + 12 L T C FLOPs per token
(N the parameters of the matrix products, the tied output layer included),
as gpt.h's gpt_flops_per_token does, against the H100/H200 SXM's dense bf16
peak of 989.4 TFLOP/s.

Writes OUT/ch08-bench-torch.tsv (OUT/NAME.tsv with --name NAME).
"""
import argparse
import datetime
import math
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PEAK = 989.4e12
V, TCTX, L, NH, C = 50304, 1024, 12, 12, 768


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = nn.LayerNorm(C)
        self.c_attn = nn.Linear(C, 3 * C)
        self.c_proj = nn.Linear(C, C)
        self.ln_2 = nn.LayerNorm(C)
        self.c_fc = nn.Linear(C, 4 * C)
        self.mlp_proj = nn.Linear(4 * C, C)

    def forward(self, x):
        Bb, Tt, _ = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (z.view(Bb, Tt, NH, C // NH).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.c_proj(y.transpose(1, 2).contiguous().view(Bb, Tt, C))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(V, C)
        self.wpe = nn.Embedding(TCTX, C)
        self.h = nn.ModuleList(Block() for _ in range(L))
        self.ln_f = nn.LayerNorm(C)
        for n, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * L) if n.endswith("c_proj.weight") or n.endswith("mlp_proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)
            elif n.endswith(".bias"):
                nn.init.zeros_(p)

    def forward(self, idx, targets):
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for b in self.h:
            x = b(x)
        logits = F.linear(self.ln_f(x), self.wte.weight)
        return F.cross_entropy(logits.view(-1, V), targets.view(-1))


def flops_per_token(T):
    F_ = 4 * C
    return 6.0 * (L * (4 * C * C + 2 * C * F_) + C * V) + 12.0 * L * T * C


def bench(label, model, opt, B, warm, steps):
    x = torch.randint(0, 50257, (B, TCTX), device="cuda")
    y = torch.randint(0, 50257, (B, TCTX), device="cuda")

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    torch.cuda.reset_peak_memory_stats()
    t0 = time.time()
    for _ in range(warm):
        loss = step()
    torch.cuda.synchronize()
    warm_s = time.time() - t0
    times = []
    for _ in range(steps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        loss = step()
        e.record()
        e.synchronize()
        times.append(s.elapsed_time(e))
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record()
    for _ in range(steps):
        loss = step()
    e.record()
    e.synchronize()
    b2b = s.elapsed_time(e) / steps
    backend = sdpa_backend(step)
    ms = statistics.median(times)
    tok = B * TCTX / (ms / 1000)
    mfu = tok * flops_per_token(TCTX) / PEAK
    print(f"{label:>14}  B {B:3d}  {ms:8.2f} ms/step  {tok / 1000:8.1f}k tok/s  MFU {100 * mfu:5.1f}%  "
          f"back to back {b2b:.2f} ms  (warm-up {warm_s:.1f} s, loss {float(loss):.3f}, attention {backend})", flush=True)
    # the caching allocator's peak: the bytes it held from the device (reserved) and handed out (allocated)
    peak = (torch.cuda.max_memory_reserved() / 1e9, torch.cuda.max_memory_allocated() / 1e9)
    return (ms, tok, mfu, warm_s, min(times), max(times), b2b) + peak + (backend,)


def sdpa_backend(step):
    """Which of scaled_dot_product_attention's backends one more step ran, from
    the names of the CUDA kernels it launched (torch.profiler): flash, cudnn,
    efficient (memory-efficient), or math (none of the fused ones; "none-seen"
    when the profile caught no kernel at all); the names themselves go to the
    log."""
    try:
        from torch.profiler import profile, ProfilerActivity
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            step()
            torch.cuda.synchronize()
        names = {ev.key for ev in prof.key_averages()}
    except Exception as ex:   # a profiler that cannot run here: say so, go on
        print(f"sdpa backend: profiler failed: {type(ex).__name__}", flush=True)
        return "unknown"
    tag, hits = classify_kernels(names)
    for t, h in hits:
        print(f"sdpa backend {t}: " + "; ".join(x[:120] for x in h[:4]), flush=True)
    return tag


def classify_kernels(names):
    """(tag, [(backend, its kernel names)]) for a set of CUDA kernel names: each
    name counts for the first backend whose keys it contains, cuDNN first, since
    cuDNN's own kernels carry "flash" in their names too
    (..._sdpa_sm90_flash_fprop_wgmma_...); the tag joins the backends found with
    "+", is "math" when none of the fused ones ran, and "none-seen" when there
    were no names at all (a profile that saw no kernel makes no claim)."""
    if not names:
        return "none-seen", []
    found, seen = [], set()
    for tag, keys in (("cudnn", ("cudnn",)), ("flash", ("flash",)), ("efficient", ("fmha", "efficient", "mem_eff"))):
        hits = sorted(n for n in names if n not in seen and any(k in n.lower() for k in keys))
        seen.update(hits)
        if hits:
            found.append((tag, hits))
    return ("+".join(t for t, _ in found) if found else "math"), found


def write_rows(a, rows):
    """OUT/NAME.tsv with the rows measured so far, through a temporary name, so
    that a run cut off by its time limit leaves every configuration it finished."""
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, a.name + ".tsv")
    date = os.environ.get("BOOK_DATE", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    with open(path + ".tmp", "w") as f:
        f.write(f"# {a.name}: PyTorch training steps on the GPT-2 small shape, eager and torch.compile\n")
        args = sys.argv[1:]   # the command as a reader runs it: the data into figures/data, wherever this run wrote
        if "--out" in args and args.index("--out") + 1 < len(args):
            args[args.index("--out") + 1] = "figures/data"
        f.write(f"# command: python3 bench/gpt2_torch.py {' '.join(args)}\n")
        f.write(f"# device: cuda ({torch.cuda.get_device_name()}); torch {torch.__version__}\n")
        f.write(f"# date: {date}\n# git: {os.environ.get('BOOK_GIT', 'unknown')}\n")
        f.write("impl\tbatch\tT\tms_per_step\ttokens_per_s\tmfu\twarmup_s\tms_min\tms_max\tsteps\tms_back_to_back\t"
                "peak_reserved_gb\tpeak_allocated_gb\tsdpa_backend\n")
        for impl, B, ms, tok, mfu, warm_s, lo, hi, b2b, res, alloc, backend in rows:
            f.write(f"{impl}\t{B}\t{TCTX}\t{ms:.3f}\t{tok:.0f}\t{mfu:.4f}\t{warm_s:.1f}\t{lo:.3f}\t{hi:.3f}\t{a.steps}\t"
                    f"{b2b:.3f}\t{res:.3f}\t{alloc:.3f}\t{backend}\n")
    os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="figures/data")
    ap.add_argument("--batch", type=int, nargs="+", default=[16])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--name", default="ch08-bench-torch", help="the data file's stem (chapter 12 re-measures as ch12-gpt2-torch)")
    ap.add_argument("--cudagraphs", action="store_true", help="also torch.compile(mode='reduce-overhead') (CUDA graphs)")
    a = ap.parse_args()
    torch.manual_seed(0)
    rows = []
    modes = ["eager"] + ([] if a.no_compile else ["compile"] + (["compile-cudagraphs"] if a.cudagraphs else []))
    for mode in modes:
        for B in a.batch:
            model = GPT().cuda()
            decay = [p for p in model.parameters() if p.dim() >= 2]
            rest = [p for p in model.parameters() if p.dim() < 2]
            opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
                                    lr=6e-4, betas=(0.9, 0.95), eps=1e-8, fused=True)
            # each configuration compiled afresh for its own static shapes: without the reset, a second
            # batch size makes dynamo recompile with the batch dimension symbolic (automatic dynamic shapes)
            torch._dynamo.reset()
            run = (torch.compile(model, dynamic=False) if mode == "compile" else
                   torch.compile(model, mode="reduce-overhead", dynamic=False) if mode == "compile-cudagraphs" else model)
            try:
                r = bench(f"PyTorch {mode}", run, opt, B, 5 if mode == "eager" else 10, a.steps)
                rows.append((f"pytorch-{mode}", B) + r)
                write_rows(a, rows)
            except Exception as ex:   # out of memory at a large batch, or a compiler failure: say so, go on
                print(f"PyTorch {mode} B {B}: {type(ex).__name__}: {str(ex).splitlines()[0][:200]}", flush=True)
            del model, opt, run
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
