#!/usr/bin/env bash
# Runs the libFuzzer harnesses one at a time, one worker each, at the lowest CPU priority.
#   Fuzz/run.sh [SECONDS] [HARNESS ...]     (default: 600 seconds, every harness)
# Each harness starts from the committed seeds in Fuzz/Corpus/<harness>/ and grows a working corpus in
# Fuzz/.work/<harness>/corpus (not committed). Crashing inputs land in Fuzz/.work/<harness>/ as
# crash-*, and the run goes on (fork mode with -ignore_crashes), so one bug does not end the session.
# A summary line per harness (executions, crashes) goes to Fuzz/.work/summary.txt.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-600}
shift || true
all=(FuzzSafetensorsHeader FuzzSafetensorsIndex FuzzZip FuzzUnpickler FuzzConfig FuzzJSONL FuzzEvalMerge)

[ $# -gt 0 ] && harnesses=("$@") || harnesses=("${all[@]}")
mkdir -p .work/bin
for h in "${harnesses[@]}"; do
  work=.work/$h
  mkdir -p "$work/corpus"
  # Run a copy: rebuilding while a harness runs must not pull the binary from under it.
  cp ".build/debug/$h" ".work/bin/$h"
  echo "== $h: ${seconds}s" >&2
  start=$(date +%s)
  set +e
  nice -n 19 ".work/bin/$h" "$work/corpus" "Corpus/$h" \
    -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
    -print_funcs=0 -artifact_prefix="$work/" -print_final_stats=1 > "$work/log.txt" 2>&1
  status=$?
  set -e
  end=$(date +%s)
  # Fork mode reports the executions of all jobs on its status lines ("#N ... exec/s").
  execs=$(grep -oE '^#[0-9]+' "$work/log.txt" | tail -1 | tr -d '#')
  crashes=$(ls "$work" | grep -cE '^(crash|leak|timeout|oom)-' || true)
  line="$h seconds=$((end - start)) executions=${execs:-?} artifacts=$crashes exit=$status"
  echo "$line" | tee -a .work/summary.txt >&2
done
