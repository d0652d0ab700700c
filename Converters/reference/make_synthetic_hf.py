"""Writes a random BLT checkpoint in the transformers layout, for benchmarks (not run in CI).

Presets: `1b` has the exact names, shapes and sizes of facebook/blt-1b converted to the
transformers layout (4.63 B parameters, ~9.3 GB in bf16); `small` keeps the structure at a
fraction of the size. Weights are random bf16 (norms ~U(0.5, 1.5)); the patcher's lm_head is
scaled so entropies vary, and the threshold is chosen so that a sample text averages about 4.5
bytes per patch, like the released models.

    .venv-ref/bin/python Converters/reference/make_synthetic_hf.py --preset small /tmp/blt-small
"""
import argparse, json, math, os, sys
import torch
from transformers import BltConfig, BltForCausalLM

PRESETS = {
    "1b": dict(enc=1024, enc_heads=16, enc_ffn=2816, dec_layers=9, glob=2048, glob_layers=25, glob_heads=16,
               glob_ffn=5632, pat=768, pat_layers=14, pat_heads=12, pat_ffn=2048, hash_vocab=500002,
               groups=[3, 4, 5, 6, 7, 8]),
    "small": dict(enc=512, enc_heads=8, enc_ffn=1536, dec_layers=4, glob=1024, glob_layers=8, glob_heads=8,
                  glob_ffn=2816, pat=384, pat_layers=6, pat_heads=6, pat_ffn=1024, hash_vocab=50002,
                  groups=[3, 4, 5, 6, 7, 8]),
}

def sample_text():
    path = "/usr/share/common-licenses/GPL-3"
    if os.path.exists(path):
        return open(path, "rb").read()[325:325 + 2048]
    return (b"The quick brown fox jumps over the lazy dog. " * 50)[:2048]

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("out")
    args = parser.parse_args()
    p = PRESETS[args.preset]
    torch.manual_seed(args.seed)
    local = lambda layers: dict(hidden_size=p["enc"], num_hidden_layers=layers, num_attention_heads=p["enc_heads"],
                                intermediate_size=p["enc_ffn"], cross_attn_k=2, hidden_size_global=p["glob"],
                                max_position_embeddings=24576)
    config = BltConfig(
        use_cache=False, cross_attn_k=2, encoder_hash_byte_group_size=p["groups"],
        encoder_hash_byte_group_vocab=p["hash_vocab"], encoder_hash_byte_group_nb_functions=1,
        local_attention_window_len=512, patching_threshold=1.335442066192627,
        patcher_config=dict(hidden_size=p["pat"], num_hidden_layers=p["pat_layers"], num_attention_heads=p["pat_heads"],
                            intermediate_size=p["pat_ffn"], sliding_window=512, max_position_embeddings=8192,
                            rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
        encoder_config=dict(local(1), cross_attn_all_layers=False),
        decoder_config=dict(local(p["dec_layers"]), cross_attn_all_layers=True),
        global_config=dict(hidden_size=p["glob"], num_hidden_layers=p["glob_layers"], num_attention_heads=p["glob_heads"],
                           intermediate_size=p["glob_ffn"], max_position_embeddings=4096),
    )
    with torch.no_grad():
        # Built on the meta device and filled directly: transformers' own init of 4.6 B
        # parameters takes many minutes on two cores.
        with torch.device("meta"):
            model = BltForCausalLM(config)
        model = model.to_empty(device="cpu").to(torch.bfloat16).eval()
        for name, param in model.named_parameters():
            if "norm" in name:
                param.uniform_(0.5, 1.5)
            else:
                param.normal_(0.0, 0.02)
        for name, buffer in model.named_buffers():   # RoPE inverse frequencies are not saved: recompute
            if name.endswith("inv_freq"):
                module = model.get_submodule(name.rsplit(".", 1)[0])
                inv_freq, _ = module.compute_default_rope_parameters(module.config)
                buffer.copy_(inv_freq)
                module.original_inv_freq.copy_(inv_freq)
        model.model.patcher.lm_head.weight.mul_(8)
        ids = torch.tensor([[1] + [b + 4 for b in sample_text()]])
        entropies, _, _ = model.model.patcher.float()(ids, patch_size=None)
        model.model.patcher.to(torch.bfloat16)
        values = entropies[0, 1:].float()
        # Pick θ so that about one position in 4.5 starts a patch.
        threshold = float(torch.quantile(values, 1 - 1 / 4.5))
        model.config.patching_threshold = threshold
        model.save_pretrained(args.out, max_shard_size="4GB")
    params = sum(t.numel() for t in model.parameters())
    print(json.dumps({"out": args.out, "preset": args.preset, "parameters": params, "threshold": threshold}))

if __name__ == "__main__":
    main()
