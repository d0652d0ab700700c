"""Writes a random BLT checkpoint in the transformers layout tensor by tensor, so that a model far
larger than RAM (facebook/blt-7b's shapes: 10.65 B parameters, 21.3 GB of bf16) is written with
a few GB of memory. Not run in CI; used by the benchmarks (Docs/benchmarks.md).

Names and shapes come from transformers' own BltForCausalLM built on the meta device (no memory),
so they are exactly what `from_pretrained` expects. Weights are random bf16 (norms ~U(0.5, 1.5),
others ~N(0, 0.02), read from one pool of 64 Mi draws at random offsets). The entropy model is blt-1b's (the released blt-7b uses the same one): made
here like make_synthetic_hf.py does, its lm_head scaled so that entropies vary, and the threshold
picked so that the GPL-3 sample averages about 4.5 bytes per patch.

    .venv-ref/bin/python Converters/reference/make_synthetic_hf_streaming.py --preset 7b /tmp/blt-7b
"""
import argparse, json, math, os, struct, sys
import torch
from transformers import BltConfig, BltForCausalLM

PRESETS = {
    # facebook/blt-7b converted to the transformers layout.
    "7b": dict(enc=1280, enc_heads=20, enc_ffn=3584, enc_layers=1, dec_layers=6, cross_k=4, glob=4096, glob_layers=32,
               glob_heads=32, glob_ffn=11008, hash_vocab=500002, groups=[3, 4, 5, 6, 7, 8]),
    # facebook/blt-1b (the same shapes as make_synthetic_hf.py's 1b preset), to check this writer.
    "1b": dict(enc=1024, enc_heads=16, enc_ffn=2816, enc_layers=1, dec_layers=9, cross_k=2, glob=2048, glob_layers=25,
               glob_heads=16, glob_ffn=5632, hash_vocab=500002, groups=[3, 4, 5, 6, 7, 8]),
    "small": dict(enc=320, enc_heads=5, enc_ffn=896, enc_layers=1, dec_layers=2, cross_k=4, glob=1024, glob_layers=2,
                  glob_heads=8, glob_ffn=2752, hash_vocab=5002, groups=[3, 4, 5, 6, 7, 8]),
}
PATCHER = dict(hidden_size=768, num_hidden_layers=14, num_attention_heads=12, intermediate_size=2048, sliding_window=512,
               max_position_embeddings=8192, rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
SHARD_BYTES = 5 * 1000**3
CHUNK_ELEMENTS = 64 * 1024 * 1024


def sample_text():
    path = "/usr/share/common-licenses/GPL-3"
    if os.path.exists(path):
        return open(path, "rb").read()[325:325 + 2048]
    return (b"The quick brown fox jumps over the lazy dog. " * 50)[:2048]


def make_config(p):
    local = lambda layers: dict(hidden_size=p["enc"], num_hidden_layers=layers, num_attention_heads=p["enc_heads"],
                                intermediate_size=p["enc_ffn"], cross_attn_k=p["cross_k"], hidden_size_global=p["glob"],
                                max_position_embeddings=24576)
    return BltConfig(
        use_cache=False, cross_attn_k=p["cross_k"], encoder_hash_byte_group_size=p["groups"],
        encoder_hash_byte_group_vocab=p["hash_vocab"], encoder_hash_byte_group_nb_functions=1,
        local_attention_window_len=512, patching_threshold=1.0, patcher_config=dict(PATCHER),
        encoder_config=dict(local(p["enc_layers"]), cross_attn_all_layers=False),
        decoder_config=dict(local(p["dec_layers"]), cross_attn_all_layers=True),
        global_config=dict(hidden_size=p["glob"], num_hidden_layers=p["glob_layers"], num_attention_heads=p["glob_heads"],
                           intermediate_size=p["glob_ffn"], max_position_embeddings=4096),
    )


def make_patcher(model):
    """The entropy model, in memory (~100 M parameters), with its threshold."""
    patcher = model.model.patcher.to_empty(device="cpu")
    with torch.no_grad():
        for name, param in patcher.named_parameters():
            if "norm" in name:
                param.uniform_(0.5, 1.5)
            else:
                param.normal_(0.0, 0.02)
        for name, buffer in patcher.named_buffers():
            if name.endswith("inv_freq"):
                module = patcher.get_submodule(name.rsplit(".", 1)[0])
                inv_freq, _ = module.compute_default_rope_parameters(module.config)
                buffer.copy_(inv_freq)
                module.original_inv_freq.copy_(inv_freq)
        patcher.lm_head.weight.mul_(8)
        patcher.to(torch.bfloat16)
        ids = torch.tensor([[1] + [b + 4 for b in sample_text()]])
        entropies, _, _ = patcher.float()(ids, patch_size=None)
        values = entropies[0, 1:].float()
        threshold = float(torch.quantile(values, 1 - 1 / 4.5))
        patcher.to(torch.bfloat16)
    return {"model.patcher." + k: v for k, v in patcher.state_dict().items()}, threshold


class RandomPool:
    """Random bf16 values, drawn once and read from a random offset for each chunk: drawing 10 B
    normals would take the better part of an hour on two cores, while the benchmarks only need
    weights that are random-looking, of the right scale and reproducible."""

    def __init__(self, generator):
        self.generator = generator
        self.normal = torch.empty(CHUNK_ELEMENTS).normal_(0.0, 0.02, generator=generator).to(torch.bfloat16)
        self.normal = torch.cat([self.normal, self.normal]).view(torch.int16).numpy()
        self.norm = torch.empty(CHUNK_ELEMENTS).uniform_(0.5, 1.5, generator=generator).to(torch.bfloat16)
        self.norm = torch.cat([self.norm, self.norm]).view(torch.int16).numpy()

    def chunks(self, name, shape):
        """The tensor's bf16 bytes, in chunks of at most CHUNK_ELEMENTS."""
        pool = self.norm if "norm" in name else self.normal
        count, done = math.prod(shape), 0
        while done < count:
            n = min(count - done, CHUNK_ELEMENTS)
            start = int(torch.randint(0, CHUNK_ELEMENTS, (1,), generator=self.generator))
            yield pool[start:start + n].tobytes()
            done += n


def write_shards(out, entries, patcher_tensors, seed):
    """entries: [(name, shape)] in state_dict order. Returns the index's weight_map and total size."""
    shards, current, size = [], [], 0
    for name, shape in entries:
        nbytes = 2 * math.prod(shape)
        if current and size + nbytes > SHARD_BYTES:
            shards.append(current)
            current, size = [], 0
        current.append((name, shape, nbytes))
        size += nbytes
    if current:
        shards.append(current)
    weight_map, total = {}, 0
    pool = RandomPool(torch.Generator().manual_seed(seed))
    for i, shard in enumerate(shards):
        file = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        header, offset = {"__metadata__": {"format": "pt"}}, 0
        for name, shape, nbytes in shard:
            header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
            offset += nbytes
        blob = json.dumps(header, separators=(",", ":")).encode()
        blob += b" " * (-len(blob) % 8)
        with open(os.path.join(out, file), "wb") as f:
            f.write(struct.pack("<Q", len(blob)))
            f.write(blob)
            for name, shape, nbytes in shard:
                if name in patcher_tensors:
                    f.write(patcher_tensors[name].contiguous().view(torch.int16).numpy().tobytes())
                else:
                    for chunk in pool.chunks(name, shape):
                        f.write(chunk)
                weight_map[name] = file
                total += nbytes
                print(f"  {file} {name} {list(shape)}", file=sys.stderr)
    return weight_map, total


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--list", action="store_true", help="print the tensor names and shapes, write nothing")
    parser.add_argument("out")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    config = make_config(PRESETS[args.preset])
    with torch.device("meta"):
        model = BltForCausalLM(config)
    entries = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    if args.list:
        for name, shape in entries:
            print(name, list(shape))
        return
    if os.path.exists(args.out) and os.listdir(args.out):
        sys.exit(f"{args.out} exists and is not empty; choose a new folder")
    os.makedirs(args.out, exist_ok=True)
    patcher_tensors, threshold = make_patcher(model)
    config.patching_threshold = threshold
    config.dtype = torch.bfloat16
    weight_map, total = write_shards(args.out, entries, patcher_tensors, args.seed)
    with open(os.path.join(args.out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    config.save_pretrained(args.out)
    params = sum(math.prod(s) for _, s in entries)
    print(json.dumps({"out": args.out, "preset": args.preset, "parameters": params, "bytes": total, "threshold": threshold}))


if __name__ == "__main__":
    main()
