#!/usr/bin/env python3
"""bench/ch11_torch.py -- PyTorch's classifier beside chapter 11's `head`
experiment: the logits of N positions against a tied table W [V, C], the
cross-entropy, and its gradient to x and W, at GPT-2 small's shape (C 768,
V 50304, B 16, T 1024), bf16, on the same GPU in the same device call.

Three ways a PyTorch user writes it:
  eager       loss = F.cross_entropy(x @ W.T, y) on bf16 tensors;
  eager-f32   the same with the logits cast to f32 first, which is what
              torch.autocast does (cross_entropy is on its float32 list);
  compile     torch.compile of the eager function (Inductor, default mode),
              forward and backward.
Gradients come from torch.autograd.grad, so dx and dW are new tensors (the
outputs, as our experiment's dx and dW are).  Memory: the allocator's peak
during one step (torch.cuda.max_memory_allocated) less what was allocated
before it (x, W, y) and less the two outputs: the bytes the classifier needs
beyond its inputs and outputs, the quantity ch11-head-gpu.tsv's `bytes` is,
provided dx and dW are live at the peak.  Eager PyTorch peaks inside the
loss's backward pass, before they exist, so its `bytes` is low by their
size; `peak` (the allocator's peak less x, W, y) is written beside it.
Time: CUDA events around each step, 3 warm-ups (after compiling), the median
of 20.  BOOK_GIT, BOOK_DATE, BOOK_COMMAND set the provenance lines.

Usage: python3 bench/ch11_torch.py [--out DIR] [--quick] [--no-compile]"""
import argparse
import datetime
import os
import subprocess
import sys

import torch
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("--out")
ap.add_argument("--quick", action="store_true")
ap.add_argument("--no-compile", action="store_true")
args = ap.parse_args()
dev, dt = "cuda", torch.bfloat16
B, T, C, V = (2 if args.quick else 16), 1024, 768, 50304
N = B * T
torch.manual_seed(0)
x = (torch.rand(N, C, device=dev) * 2 - 1).to(dt).requires_grad_()
W = ((torch.rand(V, C, device=dev) * 2 - 1) * 0.02).to(dt).requires_grad_()
y = torch.randint(0, V, (N,), device=dev)


def head_bf16(x, W, y):
    return F.cross_entropy(x @ W.t(), y)


def head_f32(x, W, y):
    return F.cross_entropy((x @ W.t()).float(), y)


def step(fn):
    loss = fn(x, W, y)
    dx, dW = torch.autograd.grad(loss, [x, W])
    return loss, dx, dW


variants = [("eager", head_bf16), ("eager-f32", head_f32)]
if not args.no_compile:
    variants.append(("compile", torch.compile(head_bf16)))
rows = []
for name, fn in variants:
    for _ in range(3):
        step(fn)
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    loss, dx, dW = step(fn)
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - base   # everything the step held at its worst moment
    extra = peak - (dx.numel() + dW.numel()) * dx.element_size()   # right only if dx, dW were live at the peak
    del dx, dW
    times = []
    for _ in range(20):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        step(fn)
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    ms = sorted(times)[10] * 0.5 + sorted(times)[9] * 0.5
    rows.append((name, ms, extra, float(loss), peak))
    print(f"torch {name:10s} {ms:8.3f} ms  {extra / 2**20:9.1f} MiB beyond inputs and outputs  loss {float(loss):.5f}")

if args.out:
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "ch11-head-torch.tsv")
    git = os.environ.get("BOOK_GIT")
    if not git:
        try:
            git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        except OSError:
            git = ""
    date = os.environ.get("BOOK_DATE") or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    command = os.environ.get("BOOK_COMMAND") or "python3 " + " ".join(sys.argv)
    with open(path + ".tmp", "w") as f:
        f.write(f"# ch11-head-torch: PyTorch {torch.__version__}'s classifier (logits, cross-entropy, dx, dW) at "
                f"GPT-2 small's shape, bf16: ms (median of 20, CUDA events), bytes beyond inputs and outputs (allocator peak)\n")
        f.write(f"# command: {command}\n# device: cuda ({torch.cuda.get_device_name()})\n# date: {date}\n"
                f"# git: {git or 'unknown'}\n")
        f.write("impl\tB\tT\tC\tV\trows\tms\tbytes\tloss\tpeak\n")
        for name, ms, extra, loss, peak in rows:
            f.write(f"{name}\t{B}\t{T}\t{C}\t{V}\t0\t{ms:.4f}\t{extra}\t{loss:.6f}\t{peak}\n")
    os.replace(path + ".tmp", path)
