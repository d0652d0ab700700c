"""Times transformers' BLT scoring of one document (the baseline `blt eval` is compared with).

ids = BOS + bytes + EOS, one forward pass with patch_in_forward (the patcher runs inside), NLL
summed over every id after the BOS. Prints one JSON object.

    .venv-ref/bin/python Converters/reference/bench_eval.py MODEL_DIR FILE [--dtype bfloat16]
"""
import argparse, json, math, time
import torch
from transformers import BltForCausalLM

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("file")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = BltForCausalLM.from_pretrained(args.model, dtype=getattr(torch, args.dtype)).eval()
    data = open(args.file, "rb").read()
    ids = torch.tensor([[1] + [b + 4 for b in data] + [2]])
    with torch.no_grad():
        model(ids[:, :64], use_cache=False)   # warm-up
        start = time.perf_counter()
        logits = model(ids, use_cache=False).logits[0].double()
        seconds = time.perf_counter() - start
    nll = torch.nn.functional.cross_entropy(logits[:-1], ids[0, 1:], reduction="sum").item()
    targets = ids.shape[1] - 1
    print(json.dumps({"engine": "transformers-5.24", "dtype": args.dtype, "bytes": len(data), "seconds": seconds,
                      "bytes_per_second": len(data) / seconds, "bits_per_byte": nll / math.log(2) / targets}))

if __name__ == "__main__":
    main()
