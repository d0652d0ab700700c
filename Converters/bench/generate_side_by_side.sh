#!/usr/bin/env bash
# Interleaved rounds of `blt generate` (greedy, --ignore-eos) for two binaries on one model and
# prompt: each round runs both, in alternating order; prints one line per run (name, bytes/s, GB/s
# of weights read, peak RSS in KB) and the medians, beside this machine's read bandwidth
# (`blt bench-kernels --machine`, measured before and after the rounds).
#
#   Converters/bench/generate_side_by_side.sh ROUNDS MODEL PROMPT_FILE NEW_BYTES PREVIOUS_BLT CURRENT_BLT [blt generate options…]
set -euo pipefail
rounds=$1 model=$2 prompt_file=$3 new=$4 previous=$5 current=$6
shift 6
options=("$@")
prompt=$(cat "$prompt_file")
log=$(mktemp) out=$(mktemp)
trap 'rm -f "$log" "$out"' EXIT
bandwidth() { "$current" bench-kernels --machine | sed -n 's/^read bandwidth *\([0-9.]*\) GB\/s.*/\1/p'; }
before=$(bandwidth)
run() {   # name binary
  local timing
  timing=$( { /usr/bin/time -f "rss_kb=%M" "$2" generate --model "$model" --prompt "$prompt" --max-bytes "$new" \
              --ignore-eos --json "${options[@]}" >"$out"; } 2>&1 )
  python3 - "$1" "$out" "$(sed -n 's/.*rss_kb=\([0-9]*\).*/\1/p' <<<"$timing" | tail -1)" <<'PY' | tee -a "$log"
import json, sys
d = json.load(open(sys.argv[2]))
print(sys.argv[1], d["bytes_per_second"], d["weight_gigabytes_per_second"], sys.argv[3])
PY
}
for ((r = 1; r <= rounds; r++)); do
  if (( r % 2 )); then run previous "$previous"; run current "$current"
  else run current "$current"; run previous "$previous"; fi
done
after=$(bandwidth)
python3 - "$log" "$before" "$after" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
low, high = sorted(float(x) for x in sys.argv[2:4])
print(f"read bandwidth before / after the rounds: {sys.argv[2]} / {sys.argv[3]} GB/s")
for name in ("previous", "current"):
    mine = [r for r in rows if r[0] == name]
    rate = statistics.median(float(r[1]) for r in mine)
    gbs = statistics.median(float(r[2]) for r in mine)
    print(f"{name}: median {rate:.2f} bytes/s, {gbs:.2f} GB/s of weights ({gbs / high:.0%}-{gbs / low:.0%} of the read bandwidth), "
          f"peak RSS {max(int(r[3]) for r in mine) / 1e6:.2f} GB")
PY
