#!/usr/bin/env python3
"""tests/hf_gpt2.py -- the book's GPT (common/gpt) against Hugging Face transformers.

Needs PyTorch, transformers and safetensors: run it on the GPU machine
(bench/ch08-device.sh does), not in CI.  Two directions:

  make DIR    transformers -> ours.  Builds a GPT2LMHeadModel with random
              weights (tiny: V 64, 32 positions, 2 blocks, 4 heads, C 32; every
              parameter perturbed so that no path is trivial), saves it with
              save_pretrained (DIR/model.safetensors, DIR/config.json), loads
              it back, and computes in float64 on the CPU the logits, the loss
              and every parameter's gradient for one batch (some targets -1,
              no loss there).  DIR/expected.safetensors holds them in f32, in
              the format of gpt.h's reference files.  Our program then loads
              DIR/model.safetensors and compares (ch08-transformer hf-check;
              tests/test_gpt.c does the same in CI from the committed copy in
              tests/fixtures/gpt2-tiny).  Also written: PyTorch's own float32
              results on the GPU, against the same float64 reference, as a
              yardstick for f32 rounding (DIR/torch-f32.tsv).

  check DIR   ours -> transformers.  DIR/model.safetensors was written by our
              gpt_save and DIR/expected.safetensors by our gpt_write_reference
              (ch08-transformer hf-export).  Writes DIR/config.json from the
              file's metadata, loads the model with from_pretrained (it must
              report no missing or unexpected weights, and its weights must
              equal the file's), computes the batch in float64 and compares
              with ours.

Each writes a TSV (--out, default DIR) with one row per quantity: its
largest absolute difference, the largest reference value, the normwise
relative error ||ours - ref|| / ||ref||, and whether every element meets
|ours - ref| <= atol + rtol |ref| (atol 1e-5, rtol 1e-4: f32 against f64).
Exit status 1 if any does not.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from transformers import GPT2Config, GPT2LMHeadModel

ATOL, RTOL = 1e-5, 1e-4
TINY = dict(vocab_size=64, n_positions=32, n_embd=32, n_layer=2, n_head=4, n_inner=None)
B, T = 2, 16


def config(**kw):
    return GPT2Config(activation_function="gelu_new", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                      layer_norm_epsilon=1e-5, tie_word_embeddings=True, **kw)


def load(d):
    model, info = GPT2LMHeadModel.from_pretrained(d, attn_implementation="eager", output_loading_info=True)
    return model, info


def short(name):
    return name[len("transformer."):] if name.startswith("transformer.") else name


def run(model, tokens, targets):
    """logits, loss and {GPT-2 name: gradient} of the batch, in the model's dtype."""
    model.zero_grad(set_to_none=True)
    logits = model(input_ids=tokens).logits
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-1)
    loss.backward()
    grads = {short(n): p.grad.detach() for n, p in model.named_parameters()}
    return logits.detach(), loss.detach(), grads


def compare(rows, name, ours, ref):
    ours, ref = ours.double().flatten().cpu(), ref.double().flatten().cpu()
    d = (ours - ref).abs()
    ok = bool((d <= ATOL + RTOL * ref.abs()).all()) and not bool(torch.isnan(ours).any())
    rel = float((ours - ref).norm() / ref.norm()) if float(ref.norm()) > 0 else float((ours - ref).norm())
    rows.append((name, ref.numel(), float(d.max()), float(ref.abs().max()), rel, ok))


def write_tsv(path, title, rows, direction, device):
    git = os.environ.get("BOOK_GIT", "unknown")
    date = os.environ.get("BOOK_DATE", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"# {os.path.basename(path)[:-4]}: {title}\n")
        command = os.environ.get("BOOK_COMMAND") or f"python3 tests/hf_gpt2.py {' '.join(sys.argv[1:])}"
        f.write(f"# command: {command}\n")
        f.write(f"# device: {device}; torch {torch.__version__}, transformers "
                f"{__import__('transformers').__version__}\n")
        f.write(f"# date: {date}\n# git: {git}\n")
        f.write("direction\tquantity\tn\tmax_abs_diff\tmax_abs_ref\trel_error\twithin\n")
        for name, n, da, ra, rel, ok in rows:
            f.write(f"{direction}\t{name}\t{n}\t{da:.3e}\t{ra:.3e}\t{rel:.3e}\t{int(ok)}\n")
    os.replace(tmp, path)


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def make(d, out):
    torch.manual_seed(20261203)
    os.makedirs(d, exist_ok=True)
    model = GPT2LMHeadModel(config(**TINY))
    with torch.no_grad():
        for n, p in model.named_parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.3)
            elif n.endswith("ln_1.weight") or n.endswith("ln_2.weight") or n.endswith("ln_f.weight"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            else:
                p.normal_(0.0, 0.1)
    model.save_pretrained(d)
    tokens = torch.randint(0, TINY["vocab_size"], (B, T))
    targets = torch.randint(0, TINY["vocab_size"], (B, T))
    targets[:, 3::5] = -1
    # float64 on the CPU: the reference
    m64, info = load(d)
    m64 = m64.double().eval()
    logits, loss, grads = run(m64, tokens, targets)
    tensors = {"tokens": tokens.long(), "targets": targets.long(), "logits": logits.float().contiguous(),
               "loss": loss.float().reshape(1)}
    for n, g in grads.items():
        tensors["grad." + n] = g.float().contiguous()
    save_file(tensors, os.path.join(d, "expected.safetensors"), metadata={"format": "pt"})
    names = sorted(load_file(os.path.join(d, "model.safetensors")).keys())
    print(f"hf_gpt2 make: {d}/model.safetensors holds {len(names)} tensors ({names[0]} ... {names[-1]}); "
          f"loss {float(loss):.6f}; {len(grads)} gradients")
    # PyTorch's own float32 on the GPU (or CPU), against the float64 reference: the yardstick
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    m32, _ = load(d)
    m32 = m32.float().to(dev).eval()
    l32, s32, g32 = run(m32, tokens.to(dev), targets.to(dev))
    rows = []
    compare(rows, "logits", l32, logits)
    compare(rows, "loss", s32.reshape(1), loss.reshape(1))
    for n in grads:
        compare(rows, "grad." + n, g32[n], grads[n])
    devname = torch.cuda.get_device_name() if dev == "cuda" else cpu_name()
    write_tsv(os.path.join(out, "ch08-hf-torch32.tsv"), "PyTorch float32 against PyTorch float64, same model and batch",
              rows, "torch-f32", f"{dev} ({devname})")
    worst = max(r[4] for r in rows)
    print(f"hf_gpt2 make: PyTorch float32 on {dev} against float64: worst normwise relative error {worst:.2e}")
    return 0


def check(d, out):
    path = os.path.join(d, "model.safetensors")
    with safe_open(path, "pt") as f:
        meta = f.metadata() or {}
    need = ["vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "n_inner"]
    missing = [k for k in need if k not in meta]
    if missing:
        print(f"hf_gpt2 check: {path} lacks metadata {missing}", file=sys.stderr)
        return 1
    cfg = config(**{k: int(meta[k]) for k in need})
    cfg.save_pretrained(d)
    model, info = load(d)
    bad = {k: v for k, v in info.items() if v and k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    if bad.get("missing_keys"):
        bad["missing_keys"] = [k for k in bad["missing_keys"] if k != "lm_head.weight"]
    bad = {k: v for k, v in bad.items() if v}
    if bad:
        print(f"hf_gpt2 check: transformers did not load every weight: {bad}", file=sys.stderr)
        return 1
    file_tensors = load_file(path)
    state = {short(k): v for k, v in model.state_dict().items()}
    same = all(torch.equal(state[k], v) for k, v in file_tensors.items())
    if not same:
        print("hf_gpt2 check: the loaded weights differ from the file's", file=sys.stderr)
        return 1
    ref = load_file(os.path.join(d, "expected.safetensors"))
    m64 = model.double().eval()
    logits, loss, grads = run(m64, ref["tokens"].long(), ref["targets"].long())
    rows = []
    compare(rows, "logits", ref["logits"], logits)
    compare(rows, "loss", ref["loss"], loss.reshape(1))
    for n in grads:
        compare(rows, "grad." + n, ref["grad." + n], grads[n])
    write_tsv(os.path.join(out, "ch08-hf-reverse.tsv"),
              "our model and results (f32) loaded and recomputed by transformers in float64",
              rows, "ours->transformers", f"cpu ({cpu_name()})")
    fails = [r[0] for r in rows if not r[5]]
    worst = max(r[4] for r in rows)
    print(f"hf_gpt2 check: transformers loaded {len(file_tensors)} tensors; {len(rows)} quantities compared, "
          f"worst normwise relative error {worst:.2e}; {len(fails)} outside the bounds {fails[:5]}")
    return 1 if fails else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["make", "check"])
    ap.add_argument("dir")
    ap.add_argument("--out", default=None, help="where the TSV goes (default: DIR)")
    a = ap.parse_args()
    out = a.out or a.dir
    os.makedirs(out, exist_ok=True)
    return make(a.dir, out) if a.what == "make" else check(a.dir, out)


if __name__ == "__main__":
    sys.exit(main())
