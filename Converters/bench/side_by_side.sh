#!/usr/bin/env bash
# Interleaved rounds of `blt eval` for two binaries (e.g. the previous release and this one) on one
# model and file: each round runs both, in alternating order, under /usr/bin/time; prints one line per
# run (name, seconds, peak RSS in KB, bits per byte, minor page faults) and the medians.
#
#   Converters/bench/side_by_side.sh ROUNDS MODEL FILE PREVIOUS_BLT CURRENT_BLT [blt eval options…]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/interleave.sh"
rounds=$1 model=$2 file=$3 previous=$4 current=$5
shift 5
options=("$@")
log=$(mktemp)
trap 'rm -f "$log"' EXIT
run() {   # name binary
  local out
  out=$( { /usr/bin/time -f "rss_kb=%M faults=%R" "$2" eval --model "$model" --json "${options[@]}" "$file" ; } 2>&1 >/tmp/side_by_side.json )
  local seconds bpb rss
  seconds=$(python3 -c 'import json;d=json.load(open("/tmp/side_by_side.json"));print(d.get("seconds") or d["timing"]["seconds"])' 2>/dev/null || echo nan)
  bpb=$(python3 -c 'import json;d=json.load(open("/tmp/side_by_side.json"));print(d["bits_per_byte"])')
  rss=$(sed -n 's/.*rss_kb=\([0-9]*\).*/\1/p' <<<"$out" | tail -1)
  faults=$(sed -n 's/.*faults=\([0-9]*\).*/\1/p' <<<"$out" | tail -1)
  echo "$1 $seconds $rss $bpb $faults" | tee -a "$log"
}
interleave "$rounds" "$previous" "$current"
python3 - "$log" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
for name in ("previous", "current"):
    mine = [r for r in rows if r[0] == name]
    print(f"{name}: median {statistics.median(float(r[1]) for r in mine):.2f} s, peak RSS {max(int(r[2]) for r in mine) / 1e6:.2f} GB, "
          f"minor page faults (median) {statistics.median(int(r[4]) for r in mine)}, bits/byte {mine[0][3]}")
prev = {i: float(r[1]) for i, r in enumerate(r for r in rows if r[0] == "previous")}
cur = {i: float(r[1]) for i, r in enumerate(r for r in rows if r[0] == "current")}
ratios = [prev[i] / cur[i] for i in prev]
print(f"previous/current time per round: median {statistics.median(ratios):.3f} (range {min(ratios):.2f}-{max(ratios):.2f})")
PY
