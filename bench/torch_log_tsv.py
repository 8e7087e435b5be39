#!/usr/bin/env python3
"""bench/torch_log_tsv.py -- a data file from the log of bench/gpt2_torch.py,
for a run cut off before it wrote its own (as session 9's H100 call was; the
script now writes after each configuration).

    python3 bench/torch_log_tsv.py LOG DEVICE GIT DATE OUT.tsv

reads the lines the script prints for each configuration,

    PyTorch compile  B  16     38.79 ms/step     422.3k tok/s  MFU  36.5%  back to back 36.85 ms  (... attention cudnn)

and writes OUT.tsv (through a temporary name) with the columns impl, batch,
T, ms_per_step, tokens_per_s, ms_back_to_back, tokens_per_s_back_to_back,
sdpa_backend: the throughputs computed from the logged milliseconds (B x
1,024 tokens a step), the provenance from the arguments.  A log with no such
line is an error (one line, exit 1)."""
import os
import re
import sys

T = 1024
LINE = re.compile(r"^\s*PyTorch (\S+)\s+B\s+(\d+)\s+([\d.]+) ms/step\s+[\d.]+k tok/s\s+MFU\s+[\d.]+%\s+"
                  r"back to back ([\d.]+) ms\s+\(.*attention (\S+)\)\s*$")


def parse(text):
    """[(impl, batch, ms, ms_back_to_back, backend)] for each configuration line of a gpt2_torch.py log."""
    rows = []
    for line in text.splitlines():
        m = LINE.match(line)
        if m:
            rows.append(("pytorch-" + m.group(1), int(m.group(2)), float(m.group(3)), float(m.group(4)), m.group(5)))
    return rows


def main(argv):
    if len(argv) != 6:
        sys.stderr.write("usage: torch_log_tsv.py LOG DEVICE GIT DATE OUT.tsv\n")
        return 2
    log, device, git, date, out = argv[1:]
    try:
        rows = parse(open(log, encoding="utf-8").read())
    except OSError as ex:
        sys.stderr.write(f"torch_log_tsv.py: {log}: {ex.strerror}\n")
        return 1
    if not rows:
        sys.stderr.write(f"torch_log_tsv.py: {log}: no 'PyTorch MODE B N ... ms/step' line\n")
        return 1
    stem = os.path.basename(out)[:-4] if out.endswith(".tsv") else os.path.basename(out)
    with open(out + ".tmp", "w") as f:
        f.write(f"# {stem}: PyTorch training steps on the GPT-2 small shape, read from the log of bench/gpt2_torch.py\n")
        f.write(f"# command: python3 bench/torch_log_tsv.py {log} '{device}' {git} {date} figures/data/{stem}.tsv\n")
        f.write(f"# device: cuda ({device})\n# date: {date}\n# git: {git}\n")
        f.write("impl\tbatch\tT\tms_per_step\ttokens_per_s\tms_back_to_back\ttokens_per_s_back_to_back\tsdpa_backend\n")
        for impl, B, ms, b2b, backend in rows:
            f.write(f"{impl}\t{B}\t{T}\t{ms:.2f}\t{B * T * 1000 / ms:.0f}\t{b2b:.2f}\t{B * T * 1000 / b2b:.0f}\t{backend}\n")
    os.replace(out + ".tmp", out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
