"""Interleaved rounds of document scoring: ByteLatent (fp32 and --precision bf16, optionally a previous
release's binary too) against transformers 5.24 (float32 and bfloat16) on one model and text, the
order rotated each round. Times are the scoring seconds each engine reports (model loading
excluded on both sides: ByteLatent's mapped weights are read from disk while it scores when the
page cache lost them, which each run's count of disk page faults shows); peak RSS from
/usr/bin/time. Prints each run, then medians and the
per-round speed ratios of each ByteLatent run to the faster transformers dtype of that round.

    .venv-ref/bin/python Converters/reference/eval_rounds.py --model DIR --text FILE --rounds 3 \
        [--blt .build/release/blt] [--previous OLD_BLT] [--env OPENBLAS_CORETYPE=Haswell ...]
"""
import argparse, json, os, re, statistics, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, env):
    proc = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1)) * 1024
    # Pages read from disk during the run: ByteLatent maps its weights, so after a transformers run
    # (which evicts most of the page cache) part of its scoring time is disk reads.
    disk_faults = int(re.search(r"Major \(requiring I/O\) page faults: (\d+)", proc.stderr).group(1))
    try:
        result = json.loads(proc.stdout)
    except json.JSONDecodeError:
        result = json.loads([l for l in proc.stdout.splitlines() if l.startswith("{")][-1])
    return result["seconds"], result["bits_per_byte"], rss, disk_faults


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--text", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--blt", default=".build/release/blt")
    parser.add_argument("--previous", help="a previous release's blt binary, run the same way")
    parser.add_argument("--env", nargs="*", default=[], help="NAME=VALUE set for every engine")
    args = parser.parse_args()
    env = dict(os.environ)
    for item in args.env:
        name, _, value = item.partition("=")
        env[name] = value
    python = sys.executable
    engines = [("ByteLatent fp32", [args.blt, "eval", "--model", args.model, "--json", args.text]),
               ("ByteLatent bf16", [args.blt, "eval", "--model", args.model, "--json", "--precision", "bf16", args.text])]
    if args.previous:
        engines += [("previous fp32", [args.previous, "eval", "--model", args.model, "--json", args.text]),
                    ("previous bf16", [args.previous, "eval", "--model", args.model, "--json", "--precision", "bf16", args.text])]
    engines += [(f"transformers {d}", [python, os.path.join(HERE, "bench_eval.py"), args.model, args.text, "--dtype", d])
                for d in ("float32", "bfloat16")]
    size = os.path.getsize(args.text)
    results = {name: [] for name, _ in engines}
    for r in range(args.rounds):
        order = engines[r % len(engines):] + engines[:r % len(engines)]
        for name, cmd in order:
            seconds, bpb, rss, disk_faults = run(cmd, env)
            results[name].append((seconds, bpb, rss))
            print(f"round {r + 1}: {name}: {seconds:.2f} s ({size / seconds:.1f} B/s), bits/byte {bpb:.7f}, "
                  f"peak RSS {rss / 1e9:.2f} GB, {disk_faults} page faults read from disk", flush=True)
    print("\n| engine | scoring seconds, median | bytes/s | bits per byte | peak RSS |")
    print("|---|---|---|---|---|")
    for name, _ in engines:
        times = [s for s, _, _ in results[name]]
        print(f"| {name} | {statistics.median(times):.2f} ({', '.join(f'{t:.2f}' for t in times)}) | "
              f"{size / statistics.median(times):.1f} | {results[name][0][1]:.7f} | {max(r[2] for r in results[name]) / 1e9:.2f} GB |")
    fastest = [min(results["transformers float32"][r][0], results["transformers bfloat16"][r][0]) for r in range(args.rounds)]
    print()
    for name, _ in engines:
        if name.startswith("transformers"):
            continue
        ratios = [fastest[r] / results[name][r][0] for r in range(args.rounds)]
        # Three decimals: a median of 1.295 must not read as the 1.30 of a target.
        print(f"{name}: {statistics.median(ratios):.3f}× the faster transformers dtype "
              f"(per round {', '.join(f'{x:.3f}' for x in ratios)})")


if __name__ == "__main__":
    main()
