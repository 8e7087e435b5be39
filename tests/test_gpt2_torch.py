#!/usr/bin/env python3
"""tests/test_gpt2_torch.py: bench/gpt2_torch.py's record of which attention
PyTorch ran (the sdpa_backend column of chapter 8's ch08-bench-torch.tsv).

The script needs torch and a GPU; its classifier of kernel names does not.
This test takes classify_kernels out of the script's source (ast: no torch
import) and runs it on kernel names of the kinds the H200's profiles logged
(the cuDNN names are those of bench/logs/s7-eface79-h200/1-torch.txt; the others are
of the forms PyTorch's kernels take): cuDNN's attention, whose names
also say "flash", counts as cudnn only; FlashAttention-2's as flash; the
memory-efficient kernels as efficient; none of them as math; no names at
all as none-seen.  It also checks bench/torch_log_tsv.py, which reads the
script's printed lines back into a data file, on a line of the H100 log.
The closing line is "N passed, N failed"."""
import ast
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from pycheck import Checks  # noqa: E402
import torch_log_tsv  # noqa: E402

check = Checks()


def load():
    path = os.path.join(ROOT, "bench", "gpt2_torch.py")
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    fns = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "classify_kernels"]
    if len(fns) != 1:
        check(False, "bench/gpt2_torch.py has a function classify_kernels")
        sys.exit(check.finish())
    env = {}
    exec(compile(ast.Module(body=fns, type_ignores=[]), path, "exec"), env)
    return env["classify_kernels"]


classify = load()
CUDNN_F = "cudnn_generated_fort_native_sdpa_sm90_flash_fprop_wgmma_f16_knob_7_64x128x64_4x1x1_cga1x1x1_kernel0_0"
CUDNN_B = "cudnn_generated_fort_native_sdpa_sm90_flash_bprop_wgmma_f16_knob_26_64x64x64_1x4x1_cga1x1x1_kernel0_0"
FA2_F = "void pytorch_flash::flash_fwd_kernel<Flash_fwd_kernel_traits<64, 128, 128, 4, false, false, cutlass::bfloat16_t>>"
FA2_B = "void pytorch_flash::flash_bwd_dq_dk_dv_loop_seqk_parallel_kernel<Flash_bwd_kernel_traits<64>>"
EFF = "fmha_cutlassF_bf16_aligned_64x64_rf_sm80(PyTorchMemEffAttention::AttentionKernel<...>::Params)"
GEMM = "sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x64_warpgroupsize1x1x1_execute_segment_k_off_kernel__5x_cublas"
SOFTMAX = "void at::native::(anonymous namespace)::cunn_SoftMaxForward<8, c10::BFloat16, float, float>"

tag, hits = classify({CUDNN_F, CUDNN_B, GEMM})
check(tag == "cudnn", "cuDNN's sdpa kernels (names with 'flash' in them) give %r, not 'cudnn'" % tag)
check(hits == [("cudnn", sorted([CUDNN_B, CUDNN_F]))], "cuDNN's kernels are listed under cudnn only: %r" % (hits,))
tag, _ = classify({FA2_F, FA2_B, GEMM})
check(tag == "flash", "FlashAttention-2's kernels give %r, not 'flash'" % tag)
tag, _ = classify({EFF, GEMM})
check(tag == "efficient", "the memory-efficient kernel gives %r, not 'efficient'" % tag)
tag, hits = classify({GEMM, SOFTMAX})
check(tag == "math" and hits == [], "no fused attention kernel gives %r, not 'math'" % tag)
tag, hits = classify(set())
check(tag == "none-seen" and hits == [], "no kernels at all give %r, not 'none-seen'" % tag)
tag, _ = classify({CUDNN_F, FA2_B})
check(tag == "cudnn+flash", "cuDNN's forward with FlashAttention-2's backward gives %r" % tag)
tag, _ = classify({CUDNN_F.upper()})
check(tag == "cudnn", "the match ignores case: %r" % tag)
LOG = """sdpa backend cudnn: cudnn_generated_fort_native_sdpa_sm90_flash_fprop_wgmma_f16
PyTorch compile  B  16     38.79 ms/step     422.3k tok/s  MFU  36.5%  back to back 36.85 ms  (warm-up 28.2 s, loss 0.727, attention cudnn)
PyTorch compile-cudagraphs  B  64    137.16 ms/step     477.8k tok/s  MFU  41.3%  back to back 136.05 ms  (warm-up 42.1 s, loss 6.329, attention none-seen)
PyTorch compile B 64: OutOfMemoryError: CUDA out of memory"""
rows = torch_log_tsv.parse(LOG)
check(rows == [("pytorch-compile", 16, 38.79, 36.85, "cudnn"),
               ("pytorch-compile-cudagraphs", 64, 137.16, 136.05, "none-seen")],
      "torch_log_tsv.parse reads the two configuration lines and nothing else: %r" % (rows,))
check(torch_log_tsv.parse("") == [], "an empty log gives no rows")
check(round(16 * torch_log_tsv.T * 1000 / 38.79) == 422377, "tokens a second from the logged ms (422.3k as printed)")
sys.exit(check.finish())
