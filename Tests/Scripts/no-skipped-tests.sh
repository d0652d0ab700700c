#!/usr/bin/env bash
# Fails when an XCTest log ($1) reports a skipped test, and names each one: a skip passes unseen in a
# green run, so the suite has none (missing tools are failures, and `make test` installs them).
set -euo pipefail
log=$1
skipped=$(grep -E "^Test Case '.*' skipped" "$log" || true)
if [ -n "$skipped" ]; then
  echo "skipped tests (each must run; install what they need or fix them):"
  echo "$skipped"
  exit 1
fi
grep -q -E "Executed [1-9][0-9]* tests?, with 0 failures" "$log" || { echo "no test ran in $log"; exit 1; }
echo "no skipped tests in $log"
