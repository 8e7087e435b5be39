"""flash_bwd_summary.py -- the short summary bench/flash-bwd-device.sh prints:
the backward pass alone, from chapter 12's speed experiment and its PyTorch
baseline (the backward's time is fwd+bwd minus fwd, both medians of the same
run; TFLOP/s with FlashAttention-2's count, backward = 2.5 x forward); the
Nsight Compute metrics of the profiled launches; the atomics in the SASS.
Usage: python3 bench/flash_bwd_summary.py speed DATA_DIR
       python3 bench/flash_bwd_summary.py ncu RAW_CSV...
       python3 bench/flash_bwd_summary.py sass SASS_FILE"""
import csv
import io
import re
import sys
from collections import Counter


def read_tsv(path):
    with open(path) as f:
        lines = [l for l in f if not l.startswith("#") and l.strip()]
    return list(csv.DictReader(lines, delimiter="\t"))


def fwd_flops(shape):
    B, H, T, d = (int(x) for x in re.match(r"B(\d+)H(\d+)T(\d+)d(\d+)", shape).groups())
    return 4.0 * B * H * T * T * d * 0.5


def speed(data):
    rows = {}                               # (shape, who) -> {pass: ms}
    for r in read_tsv(f"{data}/ch12-speed.tsv"):
        rows.setdefault((r["shape"], f"ours v{r['version']}"), {})[r["pass"]] = float(r["ms"])
    try:
        for r in read_tsv(f"{data}/ch12-speed-torch.tsv"):
            rows.setdefault((r["shape"], f"torch {r['backend']}"), {})[r["pass"]] = float(r["ms"])
    except FileNotFoundError:
        print("(no ch12-speed-torch.tsv)")
    print(f"{'shape':16} {'who':16} {'fwd ms':>8} {'f+b ms':>8} {'bwd ms':>8} {'bwd TF/s':>9} {'f+b TF/s':>9}")
    for (shape, who), p in sorted(rows.items()):
        if "fwd" not in p or "fwd+bwd" not in p or p["fwd"] != p["fwd"]:
            continue
        f = fwd_flops(shape)
        bwd = p["fwd+bwd"] - p["fwd"]
        print(f"{shape:16} {who:16} {p['fwd']:8.4f} {p['fwd+bwd']:8.4f} {bwd:8.4f} "
              f"{2.5 * f / bwd / 1e9 if bwd > 0 else float('nan'):9.1f} {3.5 * f / p['fwd+bwd'] / 1e9:9.1f}")
    for shape in sorted({s for s, _ in rows}):
        a, b = rows.get((shape, "ours v3")), rows.get((shape, "ours v4"))
        if a and b and "fwd+bwd" in a and "fwd+bwd" in b:
            ba, bb = a["fwd+bwd"] - a["fwd"], b["fwd+bwd"] - b["fwd"]
            print(f"{shape}: version 4's backward against version 2's (as versions 3 and 4 run them): "
                  f"{bb:.4f} ms against {ba:.4f} ms, {ba / bb:.2f}x")
        c = rows.get((shape, "ours v7"))
        if b and c and "fwd+bwd" in b and "fwd+bwd" in c:
            bb, bc = b["fwd+bwd"] - b["fwd"], c["fwd+bwd"] - c["fwd"]
            print(f"{shape}: version 7's backward (wgmma) against version 4's (both after version 3's forward): "
                  f"{bc:.4f} ms against {bb:.4f} ms, {bb / bc:.2f}x")


WANT = [("gpu__time_duration.sum", "duration"), ("launch__registers_per_thread", "registers/thread"),
        ("launch__shared_mem_per_block_dynamic", "dynamic smem/block"),
        ("launch__occupancy_limit_registers", "blocks/SM by registers"),
        ("launch__occupancy_limit_shared_mem", "blocks/SM by smem"),
        ("sm__warps_active.avg.pct_of_peak_sustained_active", "achieved occupancy %"),
        ("sm__throughput.avg.pct_of_peak_sustained_elapsed", "SM throughput %"),
        ("sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active", "tensor pipe active %"),
        ("gpu__compute_memory_throughput.avg.pct_of_peak_sustained_elapsed", "memory throughput %"),
        ("dram__throughput.avg.pct_of_peak_sustained_elapsed", "DRAM throughput %"),
        ("lts__t_sectors_op_red.sum", "L2 sectors, reductions"),
        ("lts__t_sectors_op_atom.sum", "L2 sectors, atomics"),
        ("l1tex__data_bank_conflicts_pipe_lsu_mem_shared.sum", "shared bank conflicts"),
        ("smsp__inst_executed_op_global_red.sum", "RED instructions")]


def ncu(paths):
    for path in paths:
        text = open(path).read()
        rows = list(csv.reader(io.StringIO(text[text.find('"ID"'):] if '"ID"' in text else text)))
        if len(rows) < 3:
            print(f"{path}: no profiled launch")
            continue
        head, units = rows[0], rows[1]
        for vals in rows[2:]:
            col = dict(zip(head, vals))
            unit = dict(zip(head, units))
            print(f"{path}: {col.get('Kernel Name', '?')[:90]}")
            for m, name in WANT:
                if m in col:
                    print(f"  {name:28} {col[m]} {unit.get(m, '')}")
            stalls = [(float(v.replace(',', '')), k) for k, v in col.items()
                      if k.startswith("smsp__average_warps_issue_stalled_") and k.endswith("_per_issue_active.ratio")
                      and re.match(r"^[\d.,]+$", v or "")]
            for v, k in sorted(stalls, reverse=True)[:6]:
                print(f"  stall {k[len('smsp__average_warps_issue_stalled_'):-len('_per_issue_active.ratio')]:22} {v:.2f}")


def sass(path):
    fun, counts = None, {}
    for line in open(path):
        m = re.search(r"Function : (\S+)", line)
        if m:
            fun = m.group(1)
            continue
        if fun and "backward_kernel" in fun:
            for op in re.findall(r"\b(RED\S*|ATOM\S*|LDGSTS\S*)", line):
                counts.setdefault(fun, Counter())[op] += 1
    for fun, c in counts.items():
        print(f"{fun[:70]}: " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())))


if __name__ == "__main__":
    {"speed": lambda: speed(sys.argv[2]), "ncu": lambda: ncu(sys.argv[2:]), "sass": lambda: sass(sys.argv[2])}[sys.argv[1]]()
