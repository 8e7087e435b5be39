# bench/flash-bwd-mock.sh -- sourced by bench/flash-bwd-device.sh when MOCK=1:
# stand-ins for the GPU programs, so that the script's logic (steps, time
# limits, the summary, the packing) runs on a machine with no GPU.  The
# timings it prints are chapter 12's committed data, with made-up version 4
# and 7 rows where the data has none (the backward 0.7 and 0.6 times version
# 3's): not a measurement.
mock=$(mktemp -d)
cat > "$mock/stub" <<'STUB'
#!/usr/bin/env bash
name=$(basename "$0")
case "$name" in
  nvidia-smi) echo "MOCK GPU, 0.0, 345 MHz, 1980 MHz" ;;
  make) echo "mock make $*" ;;
  compute-sanitizer) while [ "$1" != "${1#-}" ] || [ "$1" = memcheck ] || [ "$1" = racecheck ] || [ "$1" = synccheck ] || [ "$1" = 1 ]; do shift; done
                     "$@"; echo "========= ERROR SUMMARY: 0 errors" ;;
  test_ch12_gpu|test_gpt_gpu) sleep 1; echo "ok: mock $name"; echo "12 passed, 0 failed" ;;
  ch12-memopt)
    d=; while [ $# -gt 0 ]; do [ "$1" = --out ] && d=$2; shift; done
    sleep 1
    python3 - "$BOOK_ROOT/figures/data/ch12-speed.tsv" "$d/ch12-speed.tsv" <<'PY'
import sys
lines = open(sys.argv[1]).read().splitlines()
out = [l for l in lines if l.startswith("#") or l.startswith("shape")]
body = [l.split("\t") for l in lines if not l.startswith("#") and not l.startswith("shape")]
for shape in dict.fromkeys(r[0] for r in body):
    rows = [r for r in body if r[0] == shape]
    out += ["\t".join(r) for r in rows]
    f = next(r for r in rows if r[5] == "3" and r[6] == "fwd")
    b = next(r for r in rows if r[5] == "3" and r[6] == "fwd+bwd")
    fb = float(f[7]) + 0.7 * (float(b[7]) - float(f[7]))
    out += ["\t".join(f[:5] + ["4", "fwd"] + f[7:]), "\t".join(b[:5] + ["4", "fwd+bwd", f"{fb:.4f}"] + b[8:])]
    if not any(r[5] == "7" for r in rows):   # made-up version 7 rows: the backward 0.6 times version 3's
        f7 = float(f[7]) + 0.6 * (float(b[7]) - float(f[7]))
        out += ["\t".join(f[:5] + ["7", "fwd"] + f[7:]), "\t".join(b[:5] + ["7", "fwd+bwd", f"{f7:.4f}"] + b[8:])]
open(sys.argv[2], "w").write("\n".join(out) + "\n")
PY
    ;;
  ncu)
    if [ "$1" = --import ]; then
      case "$*" in *raw*) printf '"ID","Kernel Name","gpu__time_duration.sum","launch__registers_per_thread","smsp__average_warps_issue_stalled_barrier_per_issue_active.ratio","smsp__average_warps_issue_stalled_long_scoreboard_per_issue_active.ratio"\n"","","us","register/thread","ratio","ratio"\n"0","flash4_backward_kernel (mock)","600.00","209","1.50","0.75"\n' ;;
                   *) echo "mock details of $2" ;; esac
    else
      o=; while [ $# -gt 0 ]; do [ "$1" = -o ] && o=$2; shift; done
      echo mock > "$o.ncu-rep"; echo "==PROF== mock profile written"
    fi ;;
  cuobjdump) printf '\tFunction : _Z21flash4_backward_kernelI13__nv_bfloat16Li64ELi64ELi8EEvPT_\n        /*0a10*/  RED.E.ADD.F32x2.FTZ.RN.STRONG.GPU [R2.64], R4 ;\n        /*0a20*/  LDGSTS.E.BYPASS.128 [R5], desc[UR4][R6.64] ;\n' ;;
esac
STUB
chmod +x "$mock/stub"
printf 'import os, shutil, sys\nshutil.copy(os.environ["BOOK_ROOT"] + "/figures/data/ch12-speed-torch.tsv", sys.argv[1])\n' \
  > "$mock/ch12-torch.py"
for n in nvidia-smi make compute-sanitizer ncu cuobjdump test_ch12_gpu test_gpt_gpu ch12-memopt; do
  ln -s "$mock/stub" "$mock/$n"
done
export PATH=$mock:$PATH
memopt=$mock/ch12-memopt t12=$mock/test_ch12_gpu tgpt=$mock/test_gpt_gpu
torchpy=$mock/ch12-torch.py
