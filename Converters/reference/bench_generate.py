"""Times transformers' BLT generation (the baseline `blt generate` is compared with).

Greedy, `use_cache=False` (transformers 5.24's BLT cache crashes; see hf-reference.md), so every
new byte recomputes the entropy model and the whole model over the full prefix. Prints one JSON
object per run: new bytes, seconds, bytes per second and the generated ids.

    .venv-ref/bin/python Converters/reference/bench_generate.py MODEL_DIR --prompt "..." --new 64 256
"""
import argparse, json, time
import torch
from transformers import BltForCausalLM

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--prompt", required=True)
    parser.add_argument("--new", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = BltForCausalLM.from_pretrained(args.model, dtype=getattr(torch, args.dtype)).eval()
    ids = torch.tensor([[1] + [b + 4 for b in args.prompt.encode()]])
    with torch.no_grad():
        model.generate(ids, max_new_tokens=2, min_new_tokens=2, do_sample=False, use_cache=False)   # warm-up
        for new in args.new:
            start = time.perf_counter()
            out = model.generate(ids, max_new_tokens=new, min_new_tokens=new, do_sample=False, use_cache=False,
                                 eos_token_id=None, pad_token_id=0)
            seconds = time.perf_counter() - start
            generated = out[0, ids.shape[1]:].tolist()
            print(json.dumps({"engine": "transformers-5.24", "dtype": args.dtype, "threads": args.threads,
                              "prompt_ids": ids.shape[1], "new_bytes": len(generated), "seconds": seconds,
                              "bytes_per_second": len(generated) / seconds, "generated_ids": generated}), flush=True)

if __name__ == "__main__":
    main()
