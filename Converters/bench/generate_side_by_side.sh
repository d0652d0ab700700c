#!/usr/bin/env bash
# Interleaved rounds of `blt generate` (greedy, --ignore-eos) for two binaries on one model and
# prompt: each round runs both, in alternating order. The machine's read bandwidth (`blt
# bench-kernels --machine`) is measured before every run and after the last, so each run's share
# of it uses the bandwidth next to it (the higher of the two around it, so as not to flatter): the
# bandwidth of a shared VM moves by 20 % within minutes. Prints one line per run (name, bytes/s, GB/s
# of weights read, peak RSS in KB, then decoding alone: bytes/s and GB/s of weights, "-" from a
# binary that does not report them, and the bandwidth next to the run) and the medians. GB/s come
# from each binary's own count of the weights it read.
#
#   Converters/bench/generate_side_by_side.sh ROUNDS MODEL PROMPT_FILE NEW_BYTES PREVIOUS_BLT CURRENT_BLT [blt generate options…]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/interleave.sh"
rounds=$1 model=$2 prompt_file=$3 new=$4 previous=$5 current=$6
shift 6
options=("$@")
prompt=$(cat "$prompt_file")
log=$(mktemp) out=$(mktemp)
trap 'rm -f "$log" "$out"' EXIT
bandwidth() { "$current" bench-kernels --machine | sed -n 's/^read bandwidth *\([0-9.]*\) GB\/s.*/\1/p'; }
last=$(bandwidth)
run() {   # name binary
  local timing before=$last
  timing=$( { /usr/bin/time -f "rss_kb=%M" "$2" generate --model "$model" --prompt "$prompt" --max-bytes "$new" \
              --ignore-eos --json "${options[@]}" >"$out"; } 2>&1 )
  last=$(bandwidth)
  python3 - "$1" "$out" "$(sed -n 's/.*rss_kb=\([0-9]*\).*/\1/p' <<<"$timing" | tail -1)" "$before" "$last" <<'PY' | tee -a "$log"
import json, sys
d = json.load(open(sys.argv[2]))
print(sys.argv[1], d["bytes_per_second"], d["weight_gigabytes_per_second"], sys.argv[3],
      d.get("decoding_bytes_per_second", "-"), d.get("decoding_weight_gigabytes_per_second", "-"),
      max(float(sys.argv[4]), float(sys.argv[5])))
PY
}
interleave "$rounds" "$previous" "$current"
python3 - "$log" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
print(f"read bandwidth next to the runs: {min(float(r[6]) for r in rows):.1f}-{max(float(r[6]) for r in rows):.1f} GB/s")
for name in ("previous", "current"):
    mine = [r for r in rows if r[0] == name]
    rate = statistics.median(float(r[1]) for r in mine)
    gbs = statistics.median(float(r[2]) for r in mine)
    share = statistics.median(float(r[2]) / float(r[6]) for r in mine)
    print(f"{name}: median {rate:.2f} bytes/s, {gbs:.2f} GB/s of weights (median share of the read bandwidth next to "
          f"each run {share:.0%}), peak RSS {max(int(r[3]) for r in mine) / 1e6:.2f} GB")
    if all(r[4] != "-" for r in mine):
        rate = statistics.median(float(r[4]) for r in mine)
        gbs = statistics.median(float(r[5]) for r in mine)
        shares = [float(r[5]) / float(r[6]) for r in mine]
        print(f"{name} decoding alone: median {rate:.2f} bytes/s, {gbs:.2f} GB/s of weights, share of the read bandwidth "
              f"median {statistics.median(shares):.0%} (runs: {', '.join(f'{s:.0%}' for s in shares)})")
PY
