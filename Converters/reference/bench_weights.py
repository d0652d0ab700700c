"""Side-by-side benchmark for the bf16-weights engine (Docs/benchmarks.md, "Weights in their stored
dtype"): ByteLatent (this build, fp32 and --precision bf16), the previous release binary, and
transformers 5.24 (bf16 and fp32) on one model and text, each run alone, back to back, with wall
time, bits per byte and peak RSS (/usr/bin/time -v). Prints Markdown rows and appends JSON lines
to bench-out/weights.jsonl.

    .venv-ref/bin/python Converters/reference/bench_weights.py --model DIR --text FILE \
        --blt .build/release/blt --previous /path/to/old/blt [--generate 64] [--skip fp32-transformers]
"""
import argparse, json, os, platform, re, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))


def cpu():
    info = open("/proc/cpuinfo").read()
    name = re.search(r"model name\s*:\s*(.*)", info).group(1)
    flags = sorted(set(re.findall(r"\b(avx512[a-z_0-9]*|avx2|amx_[a-z0-9]+)\b", info)))
    return name, flags


def timed(cmd, env=None):
    """Runs cmd under /usr/bin/time -v; returns (stdout, wall seconds, peak RSS bytes)."""
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1)) * 1024
    return proc.stdout, wall, rss


def last_json(text):
    """The JSON object a command printed: the whole output (blt prints one object over several
    lines) or else its last line that is one (Python scripts print progress first)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return json.loads([l for l in text.splitlines() if l.startswith("{")][-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--text", required=True)
    parser.add_argument("--blt", default=".build/release/blt")
    parser.add_argument("--previous", help="the previous release's blt binary")
    parser.add_argument("--generate", type=int, default=0, help="also time greedy generation of N bytes")
    parser.add_argument("--prompt", default="The GNU General Public License is a free, copyleft license for")
    parser.add_argument("--skip", nargs="*", default=[],
                        help="runs to leave out: new-fp32 new-bf16 previous transformers-bf16 transformers-fp32")
    parser.add_argument("--repeat", type=int, default=1, help="run each engine N times, keep the fastest")
    args = parser.parse_args()
    name, flags = cpu()
    version = subprocess.run([args.blt, "--version"], capture_output=True, text=True).stdout.strip()
    header = {"cpu": name, "flags": flags, "blt_version": version, "model": args.model, "text": args.text,
              "text_bytes": os.path.getsize(args.text), "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "auto")}
    print(f"CPU {name}; flags {' '.join(flags)}; {version}; OPENBLAS_CORETYPE={header['openblas_coretype']}")
    runs = []
    eval_runs = [
        ("new-fp32", [args.blt, "eval", "--model", args.model, "--json", args.text]),
        ("new-bf16", [args.blt, "eval", "--model", args.model, "--json", "--precision", "bf16", args.text]),
        ("previous", [args.previous, "eval", "--model", args.model, "--json", args.text] if args.previous else None),
        ("transformers-bf16", [sys.executable, os.path.join(HERE, "bench_eval.py"), args.model, args.text, "--dtype", "bfloat16"]),
        ("transformers-fp32", [sys.executable, os.path.join(HERE, "bench_eval.py"), args.model, args.text, "--dtype", "float32"]),
    ]
    for label, cmd in eval_runs:
        if cmd is None or label in args.skip:
            continue
        best = None
        for _ in range(args.repeat):
            out, wall, rss = timed(cmd)
            result = last_json(out)
            row = {"task": "eval", "run": label, "seconds": result["seconds"], "wall": wall, "peak_rss": rss,
                   "bits_per_byte": result["bits_per_byte"], "bytes": result["bytes"]}
            if best is None or row["seconds"] < best["seconds"]:
                best = row
        runs.append(best)
        print(f"| eval | {label} | {best['seconds']:.2f} s | {best['bytes'] / best['seconds']:.1f} B/s | "
              f"{best['bits_per_byte']:.7f} | {best['peak_rss'] / 1e9:.2f} GB |", flush=True)
    if args.generate:
        gen_runs = [("new-fp32", args.blt, []), ("new-bf16", args.blt, ["--precision", "bf16"]), ("previous", args.previous, [])]
        for label, binary, extra in gen_runs:
            if binary is None or label in args.skip:
                continue
            cmd = [binary, "generate", "--model", args.model, "--prompt", args.prompt, "--max-bytes", str(args.generate),
                   "--ignore-eos", "--json"] + extra
            best = None
            for _ in range(args.repeat):
                out, wall, rss = timed(cmd)
                result = last_json(out)
                row = {"task": "generate", "run": label, "seconds": result["seconds"], "wall": wall, "peak_rss": rss,
                       "bytes_per_second": result["bytes_per_second"], "new_bytes": len(result["generated_ids"]),
                       "generated_ids": result["generated_ids"]}
                if best is None or row["seconds"] < best["seconds"]:
                    best = row
            runs.append(best)
            print(f"| generate {args.generate} | {label} | {best['seconds']:.2f} s | {best['bytes_per_second']:.1f} B/s | – | "
                  f"{best['peak_rss'] / 1e9:.2f} GB |", flush=True)
    os.makedirs("bench-out", exist_ok=True)
    with open("bench-out/weights.jsonl", "a") as f:
        for r in runs:
            f.write(json.dumps({**header, **r, "time": time.time()}) + "\n")


if __name__ == "__main__":
    main()
