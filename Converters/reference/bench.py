"""`make bench`: ByteLatent against transformers 5.24 on the same model, prompt and machine.

Generation: greedy, N new bytes, `blt generate --json --ignore-eos` against transformers'
`generate(use_cache=False)` (its BLT cache crashes in 5.24), both on fp32 compute with 2 threads.
Prints a Markdown table and writes the raw JSON lines to bench-out/.

    .venv-ref/bin/python Converters/reference/bench.py --model Models/blt-tiny --new 64 256
"""
import argparse, json, os, subprocess, sys, time

def ours(blt, model, prompt, new):
    out = subprocess.run([blt, "generate", "--model", model, "--prompt", prompt, "--max-bytes", str(new),
                          "--ignore-eos", "--json"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="Models/blt-tiny")
    parser.add_argument("--prompt", default="The GNU General Public License is a free, copyleft license for")
    parser.add_argument("--new", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--blt", default=".build/release/blt")
    parser.add_argument("--skip-transformers", action="store_true")
    parser.add_argument("--transformers-dtype", choices=["float32", "bfloat16"], default="float32",
                        help="dtype transformers runs in (ByteLatent always computes in fp32)")
    args = parser.parse_args()
    os.makedirs("bench-out", exist_ok=True)
    rows = []
    corename = os.environ.get("OPENBLAS_CORETYPE", "auto")
    for new in args.new:
        ours(args.blt, args.model, args.prompt, 2)   # warm the page cache
        mine = ours(args.blt, args.model, args.prompt, new)
        row = {"new": new, "ours_seconds": mine["seconds"], "ours_bps": mine["bytes_per_second"],
               "ours_gflops": mine.get("gflops_per_second"), "ours_weight_gbps": mine.get("weight_gigabytes_per_second"),
               "ours_decoding_gbps": mine.get("decoding_weight_gigabytes_per_second")}
        if not args.skip_transformers:
            proc = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "bench_generate.py"), args.model,
                                   "--prompt", args.prompt, "--new", str(new),
                                   "--dtype", args.transformers_dtype], check=True, capture_output=True, text=True)
            ref = json.loads([l for l in proc.stdout.splitlines() if l.startswith("{")][-1])
            row.update(ref_dtype=args.transformers_dtype, ref_seconds=ref["seconds"], ref_bps=ref["bytes_per_second"],
                       same_ids=ref["generated_ids"] == mine["generated_ids"])
        rows.append(row)
        with open("bench-out/generate.jsonl", "a") as f:
            f.write(json.dumps({"model": args.model, "time": time.time(), "openblas_coretype": corename, **row}) + "\n")
    print(f"\nGeneration, model {args.model}, prompt {len(args.prompt.encode())} bytes, greedy, OPENBLAS_CORETYPE={corename}\n")
    print(f"transformers runs in {args.transformers_dtype}; ByteLatent computes in fp32.\n")
    print("ByteLatent's GFLOP/s and GB/s of weights compare with `blt bench-kernels --machine` (printed by `make bench` first);")
    print("decoding GB/s leaves out the prompt's batched pass, which is bound by arithmetic, not by reading weights.\n")
    print("| new bytes | ByteLatent s | ByteLatent B/s | GFLOP/s | GB/s of weights | decoding GB/s of weights | transformers s | transformers B/s | speed-up | same ids |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        decoding = f"{r['ours_decoding_gbps']:.3g}" if r.get("ours_decoding_gbps") is not None else "–"
        rates = (f"{r['ours_gflops']:.3g} | {r['ours_weight_gbps']:.3g} | {decoding}" if r["ours_gflops"] is not None else "– | – | –")
        if "ref_bps" in r:
            print(f"| {r['new']} | {r['ours_seconds']:.2f} | {r['ours_bps']:.1f} | {rates} | {r['ref_seconds']:.2f} | {r['ref_bps']:.1f} | "
                  f"{r['ours_bps'] / r['ref_bps']:.1f}× | {'yes' if r['same_ids'] else 'no'} |")
        else:
            print(f"| {r['new']} | {r['ours_seconds']:.2f} | {r['ours_bps']:.1f} | {rates} | – | – | – | – |")

if __name__ == "__main__":
    main()
