# bench/step.sh -- sourced by the device scripts (ch08-device.sh, flash-device.sh,
# ch12-ckpt-device.sh); defines
#
#   step NAME TIMEOUT COMMAND...
#
# which runs COMMAND under `timeout -k 10 TIMEOUT` (SIGKILL 10 s after the
# SIGTERM, for a program that ignores it) when the list in $steps names NAME,
# its output into $step_logs/NAME.txt, with BOOK_COMMAND (the data files' command
# line) set to COMMAND as a reader would type it ($step_data replaced by
# figures/data, then "(via $step_via)"), prints one line (exit status, seconds,
# the output's last line) and then runs $step_after, if set (a script packs its
# data after every step, so that a run cut short still returns what it made).
step() {   # step NAME TIMEOUT COMMAND...
  local name=$1 limit=$2; shift 2
  case "$steps" in *" $name "*) ;; *) return 0 ;; esac
  local t0; t0=$(date +%s)
  BOOK_COMMAND="$(echo "$*" | sed "s|$step_data|figures/data|g") (via $step_via)" timeout -k 10 "$limit" "$@" \
    > "$step_logs/$name.txt" 2>&1
  local rc=$?
  echo "$name: exit $rc, $(( $(date +%s) - t0 )) s: $(grep -v '^$' "$step_logs/$name.txt" | tail -1 | cut -c1-220)"
  if [ -n "${step_after:-}" ]; then eval "$step_after"; fi
}
