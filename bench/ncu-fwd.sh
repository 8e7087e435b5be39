#!/usr/bin/env bash
# bench/ncu-fwd.sh -- Nsight Compute's profile of one launch of chapter 12's
# wgmma forward kernels (flash6_forward_kernel for versions 6 and 8,
# flash9_forward_kernel for version 9) at d = 128 (B4 H16 T4096, bf16,
# causal), from `ch12-memopt speed`, as the details page in
# $OUT/ncu-fwd-vN.txt.  Run after a build, on the device:
#   OUT=... bash bench/ncu-fwd.sh
set -u
cd "$(dirname "$0")/.."
: "${OUT:=build/gpu-out}"
ncu_bin=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2> /dev/null | head -1)
[ -n "$ncu_bin" ] || { echo "ncu-fwd: no ncu on this machine"; exit 1; }
# ncu's demangled names write template arguments as "(int)128": "." matches the parentheses; no closing
# ">": version 9's kernel has a last argument, (bool)0, version 10's (bool)1 (run with CH12_SPEED_VERSIONS=9, or 10,)
for spec in "6 flash6 64 64" "8 flash6 128 128" "9 flash9 128 128"; do
  read -r v kern bc pn <<< "$spec"
  CH12_SPEED_VERSIONS=$v timeout ${NCU_S:-40} "$ncu_bin" --clock-control none --set full --kernel-name-base demangled \
    -k "regex:${kern}_forward_kernel<__nv_bfloat16, .int.128, .int.2, .int.$bc, .int.$pn" -c 1 --kill yes -f -o /tmp/ncu-fwd-v$v \
    build/bin/ch12-memopt speed --device cuda --out /tmp/ncu-fwd-scratch > /tmp/ncu-fwd-v$v.log 2>&1
  echo "ncu-fwd v$v: exit $?"
  if [ -f /tmp/ncu-fwd-v$v.ncu-rep ]; then
    "$ncu_bin" --import /tmp/ncu-fwd-v$v.ncu-rep --page details > "$OUT/ncu-fwd-v$v.txt" 2>&1
  else
    tail -5 /tmp/ncu-fwd-v$v.log
  fi
done
