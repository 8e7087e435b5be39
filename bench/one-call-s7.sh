#!/usr/bin/env bash
# one device call (session 7): versions 4 and 5 checked and timed (flash-bwd-device.sh without ncu),
# then chapter 8's bench with version 4 in the GPT beside PyTorch at B 16, then the book's GPU suites.
set -u
cd "$(dirname "$0")/.."   # (run as it ran: from the staged tree's root, where it was one-call.sh)
export PATH=/usr/local/cuda/bin:$PATH BOOK_ROOT=$PWD NO_PROGRESS=1 PYTHONUNBUFFERED=1
o=$OUT
STEPS="build test-ch12-gpu memcheck racecheck synccheck test-gpt-gpu speed torch sass" BUDGET=290 \
  bash bench/flash-bwd-device.sh > $o/fb.txt 2>&1
echo "== flash-bwd exit $? at ${SECONDS}s"
cat $o/summary.txt
g=/tmp/g; mkdir -p $g
make NOTANGLE=1 -j16 build/bin/ch08-transformer > $g/build.txt 2>&1 || tail -5 $g/build.txt
echo "== ch08 bench at ${SECONDS}s"
BOOK_COMMAND="build/bin/ch08-transformer bench --device cuda --out figures/data (one-call.sh)" \
  timeout 120 build/bin/ch08-transformer bench --device cuda --out $g > $g/bench.txt 2>&1; echo "exit $?"
grep -E "bench:|error|Error" $g/bench.txt | head -12
tar czf $o/g.tar.gz -C /tmp g
echo "== torch B16 at ${SECONDS}s"
BOOK_COMMAND="python3 bench/gpt2_torch.py --out figures/data --batch 16 --cudagraphs (one-call.sh)" \
  timeout 170 python3 bench/gpt2_torch.py --out $g --batch 16 --cudagraphs > $g/torch.txt 2>&1; echo "exit $?"
grep -E "PyTorch|rror" $g/torch.txt | head -12
tar czf $o/g.tar.gz -C /tmp g
left=$(( 575 - SECONDS ))
echo "== gpu-device test at ${SECONDS}s, ${left}s left"
if [ $left -gt 40 ]; then
  mkdir -p /tmp/t
  OUT=/tmp/t SANITIZE_S=90 timeout $left bash bench/gpu-device.sh test > /tmp/t/main.txt 2>&1; echo "exit $?"
  grep -E "passed|FAIL|exit|SUMMARY" /tmp/t/main.txt | head -30
  tar czf $o/gpu-test.tar.gz -C /tmp t
fi
echo "== end at ${SECONDS}s"
