#!/usr/bin/env python3
"""Write a synthetic checkpoint with the exact names, shapes and dtype (bf16) of facebook/blt-1b,
in the hub layout, for converter benchmarks (not run in CI; ~9.3 GB).

    .venv-ref/bin/python Converters/reference/make_blt1b_synthetic.py OUT_DIR

OUT_DIR gets config.json ({"args": ...}), model.safetensors (4.53 B parameters, six separate
500002-row hash tables), train_args.json, entropy_model/params.json and
entropy_model/consolidated.pth (torch.save of {"model": state_dict}, 99.5 M parameters).
Values are random normal(0, 0.02) rounded to bf16 (RMSNorm weights around 1). The safetensors
file is written by hand, one tensor at a time in 32 MB chunks, so memory stays small.
"""
import json
import os
import struct
import sys
import time
from collections import OrderedDict

import numpy as np
import torch

ARGS = {
    "seed": 777, "vocab_size": 260, "dim": 512, "n_layers": 8, "head_dim": None, "n_heads": 8,
    "n_kv_heads": None, "n_kv_heads_global": None, "ffn_dim_multiplier": 1.0, "multiple_of": 256,
    "norm_eps": 1e-05, "init_base_std": None, "init_std_factor": "disabled", "max_seqlen": 4096,
    "attn_impl": "xformers", "attn_bias_type": "block_causal", "eos_id": 2, "weight_tying": False,
    "patch_in_forward": False, "dim_token": None, "dim_global": 2048, "dim_local_decoder": 1024,
    "dim_local_encoder": 1024, "n_layers_global": 25, "n_layers_local_decoder": 9,
    "n_layers_local_encoder": 1, "n_heads_global": 16, "n_heads_local_decoder": 16,
    "n_heads_local_encoder": 16, "patch_size": 4.5, "patching_mode": "entropy",
    "patching_threshold": 1.335442066192627, "patching_threshold_add": None, "monotonicity": False,
    "patching_batch_size": 1, "patching_device": "cuda", "max_patch_length": None,
    "tie_local_encoder_decoder_logits": False, "use_local_encoder_transformer": True,
    "encoder_lm_loss": False, "max_encoder_seq_length": 24576, "pad_to_max_length": True,
    "encoder_enable_byte_ngrams": False, "encoder_enable_byte_group_hash": False,
    "ngram_vocab_sizes": None, "cross_attn_encoder": True, "cross_attn_decoder": True,
    "cross_attn_window_encoder": None, "cross_attn_window_decoder": None, "cross_attn_k": 2,
    "cross_attn_nheads": 16, "cross_attn_all_layers_decoder": True, "cross_attn_all_layers_encoder": False,
    "cross_attn_use_flex_attention": True, "cross_attn_init_by_pooling": True,
    "encoder_hash_byte_group_size": [3, 4, 5, 6, 7, 8], "encoder_hash_byte_group_vocab": 500002,
    "encoder_hash_byte_group_nb_functions": 1, "log_patch_lengths": False, "non_linearity": "swiglu",
    "use_rope": True, "norm_affine": True, "pre_norm": True, "norm_type": "rmsnorm", "dropout": 0,
    "downsampling_by_pooling": "max", "local_attention_window_len": 512, "rope_theta": 500000.0,
    "rope_use_fp32_in_outer_product": True, "entropy_model_checkpoint_dir": None,
    "entropy_model_is_ngram_model": False,
}
ENTROPY = {
    "seed": 777, "vocab_size": 260, "dim": 768, "n_layers": 14, "head_dim": None, "n_heads": 12,
    "n_kv_heads": None, "ffn_dim_multiplier": 1.0, "multiple_of": 256, "norm_eps": 1e-05,
    "max_seqlen": 8192, "attn_impl": "xformers", "attn_bias_type": "local_block_causal",
    "eos_id": 2, "rope_theta": 10000.0, "sliding_window": 512, "weight_tying": False,
}
PATCHER_ARGS = {
    "realtime_patching": True, "entropy_model_checkpoint_dir": "hf-weights/entropy_model",
    "patching_mode": "entropy", "threshold": 1.335442066192627, "threshold_add": None,
    "max_patch_length": None, "patch_size": 4.5, "patching_batch_size": 1, "device": "cuda",
    "monotonicity": False, "log_time": False,
}


def ffn(dim, multiple_of=256):
    h = int(8 * dim / 3)
    return multiple_of * ((h + multiple_of - 1) // multiple_of)


def block(prefix, dim, layers):
    h = ffn(dim)
    out = []
    for i in range(layers):
        p = f"{prefix}layers.{i}."
        out += [(p + "attention_norm.weight", [dim]), (p + "attention.wq.weight", [dim, dim]),
                (p + "attention.wk.weight", [dim, dim]), (p + "attention.wv.weight", [dim, dim]),
                (p + "attention.wo.weight", [dim, dim]), (p + "ffn_norm.weight", [dim]),
                (p + "feed_forward.w1.weight", [h, dim]), (p + "feed_forward.w3.weight", [h, dim]),
                (p + "feed_forward.w2.weight", [dim, h])]
    return out


def cross(prefix, dim, count):
    out = []
    for j in range(count):
        p = f"{prefix}cross_attn_layers.{j}."
        out += [(p + "cross_attn_norm_q.weight", [dim]), (p + "cross_attn_norm_kv.weight", [dim])]
        out += [(p + w + ".weight", [dim, dim]) for w in ("wq", "wk", "wv", "wo")]
    return out


def main_tensors(a):
    e, d, g, k = a["dim_local_encoder"], a["dim_local_decoder"], a["dim_global"], a["cross_attn_k"]
    n_hash = a["encoder_hash_byte_group_nb_functions"] * len(a["encoder_hash_byte_group_size"])
    t = [(f"encoder_hash_tok_embedding.{i}.weight", [a["encoder_hash_byte_group_vocab"], e]) for i in range(n_hash)]
    t += [("local_encoder.tok_embeddings.weight", [a["vocab_size"], e])]
    t += block("local_encoder.", e, a["n_layers_local_encoder"])
    t += [("local_encoder.patch_embedding_projection.weight", [k * e, e])]
    t += cross("local_encoder.", e, a["n_layers_local_encoder"] if a["cross_attn_all_layers_encoder"] else 1)
    if k * e != g:
        t += [("global_transformer.token_embedding_projection.weight", [g, k * e])]
    t += block("global_transformer.", g, a["n_layers_global"])
    t += [("local_decoder.patch_embedding_projection.weight", [k * d, g])]
    t += cross("local_decoder.", d, a["n_layers_local_decoder"] if a["cross_attn_all_layers_decoder"] else 1)
    t += block("local_decoder.", d, a["n_layers_local_decoder"])
    t += [("local_decoder.norm.weight", [d]), ("local_decoder.output.weight", [a["vocab_size"], d])]
    return t


def entropy_tensors(e):
    t = [("tok_embeddings.weight", [e["vocab_size"], e["dim"]])]
    t += block("", e["dim"], e["n_layers"])
    t += [("norm.weight", [e["dim"]]), ("output.weight", [e["vocab_size"], e["dim"]])]
    return t


def bf16_chunk(rng, n, is_norm):
    x = rng.standard_normal(n, dtype=np.float32) * np.float32(0.02)
    if is_norm:
        x += np.float32(1.0)
    bits = x.view(np.uint32)
    return ((bits + np.uint32(0x7FFF) + ((bits >> 16) & np.uint32(1))) >> 16).astype(np.uint16)


def write_safetensors(path, tensors, rng):
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for name, shape in tensors:
        n = int(np.prod(shape)) * 2
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [off, off + n]}
        off += n
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    chunk = 16 << 20
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for name, shape in tensors:
            n = int(np.prod(shape))
            for s in range(0, n, chunk):
                f.write(bf16_chunk(rng, min(chunk, n - s), name.endswith("norm.weight") or "norm_" in name).tobytes())
    return off


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(os.path.join(out, "entropy_model"), exist_ok=True)
    t0 = time.time()
    rng = np.random.default_rng(0)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump({"args": ARGS}, f, indent=2)
    tok = {"name": "blt", "init_kwargs": {"bpe_tokenizer_path": "/home/artidoro/tokenizers/llama_v2.tokenizer.model"}}
    with open(os.path.join(out, "train_args.json"), "w") as f:
        json.dump({"name": "blt_1b", "model": ARGS, "entropy_model": None,
                   "data": {"seq_len": 4096, "patcher_args": PATCHER_ARGS, "tokenizer_args": tok},
                   "distributed": {"model_dtype": "bf16"}}, f, indent=2)
    with open(os.path.join(out, "entropy_model", "params.json"), "w") as f:
        json.dump({"name": "entropy_model", "model": None, "entropy_model": ENTROPY,
                   "data": {"seq_len": 8192, "patcher_args": PATCHER_ARGS, "tokenizer_args": tok},
                   "distributed": {"model_dtype": "bf16"}}, f, indent=2)
    mt = main_tensors(ARGS)
    nbytes = write_safetensors(os.path.join(out, "model.safetensors"), mt, rng)
    print(f"model.safetensors: {len(mt)} tensors, {nbytes // 2:,} parameters, {nbytes / 1e9:.2f} GB")
    sd = OrderedDict()
    for name, shape in entropy_tensors(ENTROPY):
        n = int(np.prod(shape))
        bits = bf16_chunk(rng, n, name.endswith("norm.weight"))
        sd[name] = torch.from_numpy(bits.view(np.int16).reshape(shape)).view(torch.bfloat16)
    torch.save({"model": sd}, os.path.join(out, "entropy_model", "consolidated.pth"))
    print(f"entropy_model/consolidated.pth: {len(sd)} tensors, {sum(t.numel() for t in sd.values()):,} parameters")
    print(f"done in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
