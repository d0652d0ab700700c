#!/usr/bin/env python3
"""Build the tiny `facebook/blt-1b`-layout checkpoint and its expected `transformers` conversion.

Pinned reference: torch 2.13.0+cpu, transformers 5.24.0, safetensors, tokenizers 0.23.3
(the repository's `.venv-ref`).  Run from the repository root:

    /work/main/.venv-ref/bin/python Converters/reference/make_hub_checkpoint.py \
        Tests/Fixtures/hub-tiny Tests/Fixtures/hub-tiny-expected

1. A tiny random `BltForCausalLM` (fp32, use_cache=False, randomised RMSNorm weights, a hash table
   made of 2 functions x 2 group sizes, a global transformer wider than encoder_dim * cross_attn_k so
   that `token_embedding_projection` exists, sliding windows shorter than the test text).
2. Its HF names are inverted to the original names and written in the hub layout:
   config.json {"args": ...}, model.safetensors (4 separate hash tables), train_args.json,
   entropy_model/params.json, entropy_model/consolidated.pth (torch.save of {"model": state_dict}).
3. The hub checkpoint is converted back with the rules of transformers'
   `models/blt/convert_blt_weights_to_hf.py` (config merge, substring renames, lm_head move,
   `model.` prefix, row-wise hash-table fusion), plus the fields that script leaves out and that
   transformers >= 5.23 needs to reproduce the original model (see `complete_config`).  This is
   the expected output of `blt convert`.
4. `BltForCausalLM.from_pretrained(expected)` must load with no missing/unexpected keys, hold
   exactly the original tensors and give bitwise the same logits; the logits of a short text are
   saved as logits.safetensors + ids.json.
5. The expected `blt convert --dtype bf16` / `--dtype f16` tensors: the reference conversion of the
   hub checkpoint, each tensor cast by torch's own `.to(torch.bfloat16)` / `.to(torch.float16)`,
   written to EXPECTED-dtypes/model.bf16.safetensors and model.f16.safetensors.

Two more modes, both leaving the committed hub checkpoint and expected conversion untouched (a full
re-run on another CPU changes the threshold and logits in their last bits):

    # step 5 only, from the committed hub checkpoint (the casts are bit-exact on every CPU)
    .venv-ref/bin/python Converters/reference/make_hub_checkpoint.py --dtypes \
        Tests/Fixtures/hub-tiny Tests/Fixtures/hub-tiny-expected-dtypes

    # Python reads what the Swift converter and safetensors writer produced: runs BLT convert on the
    # hub checkpoint (f32, bf16, f16, bf16 sharded) and checks with `safetensors` and `transformers`
    # that every tensor equals the expected one bit for bit
    .venv-ref/bin/python Converters/reference/make_hub_checkpoint.py --check-swift .build/debug/blt \
        Tests/Fixtures/hub-tiny Tests/Fixtures/hub-tiny-expected
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import OrderedDict

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import transformers
from transformers import BltConfig, BltForCausalLM, PreTrainedTokenizerFast

TEXT = "Hello, BLT! Bytes become patches when the entropy rises."
SEED = 1234


# --------------------------------------------------------------------------------------------
# 1. tiny HF model
# --------------------------------------------------------------------------------------------
def ffn_size(dim, multiple_of):
    hidden = int(8 * dim / 3)
    return multiple_of * ((hidden + multiple_of - 1) // multiple_of)


ARGS = {
    # the original ByteLatentTransformerArgs names (subset that describes the architecture)
    "seed": 42,
    "vocab_size": 260,
    "dim": 48,
    "n_layers": 2,
    "head_dim": None,
    "n_heads": 4,
    "n_kv_heads": None,
    "n_kv_heads_global": None,
    "ffn_dim_multiplier": 1.0,
    "multiple_of": 16,
    "norm_eps": 1e-05,
    "init_base_std": None,
    "init_std_factor": "disabled",
    "max_seqlen": 256,
    "attn_impl": "xformers",
    "attn_bias_type": "block_causal",
    "eos_id": 2,
    "weight_tying": False,
    "patch_in_forward": False,
    "dim_token": None,
    "dim_global": 48,
    "dim_local_decoder": 16,
    "dim_local_encoder": 16,
    "n_layers_global": 2,
    "n_layers_local_decoder": 2,
    "n_layers_local_encoder": 1,
    "n_heads_global": 4,
    "n_heads_local_decoder": 2,
    "n_heads_local_encoder": 2,
    "patch_size": 4.5,
    "patching_mode": "entropy",
    "patching_threshold": 1.335442066192627,
    "patching_threshold_add": None,
    "monotonicity": False,
    "patching_batch_size": 1,
    "patching_device": "cuda",
    "max_patch_length": None,
    "tie_local_encoder_decoder_logits": False,
    "use_local_encoder_transformer": True,
    "encoder_lm_loss": False,
    "max_encoder_seq_length": 1024,
    "pad_to_max_length": True,
    "encoder_enable_byte_ngrams": False,
    "encoder_enable_byte_group_hash": False,
    "ngram_vocab_sizes": None,
    "cross_attn_encoder": True,
    "cross_attn_decoder": True,
    "cross_attn_window_encoder": None,
    "cross_attn_window_decoder": None,
    "cross_attn_k": 2,
    "cross_attn_nheads": 2,
    "cross_attn_all_layers_decoder": True,
    "cross_attn_all_layers_encoder": False,
    "cross_attn_use_flex_attention": True,
    "cross_attn_init_by_pooling": True,
    "encoder_hash_byte_group_size": [3, 4],
    "encoder_hash_byte_group_vocab": 64,
    "encoder_hash_byte_group_nb_functions": 2,
    "log_patch_lengths": False,
    "non_linearity": "swiglu",
    "use_rope": True,
    "norm_affine": True,
    "pre_norm": True,
    "norm_type": "rmsnorm",
    "dropout": 0.0,
    "downsampling_by_pooling": "max",
    "local_attention_window_len": 8,
    "rope_theta": 500000.0,
    "rope_use_fp32_in_outer_product": True,
    "entropy_model_checkpoint_dir": None,
    "entropy_model_is_ngram_model": False,
}

ENTROPY_ARGS = {
    # the original LMTransformerArgs of the entropy model
    "seed": 42,
    "vocab_size": 260,
    "dim": 16,
    "n_layers": 2,
    "head_dim": None,
    "n_heads": 2,
    "n_kv_heads": None,
    "ffn_dim_multiplier": None,
    "multiple_of": 16,
    "norm_eps": 1e-05,
    "init_base_std": None,
    "init_std_factor": "disabled",
    "max_seqlen": 512,
    "attn_impl": "xformers",
    "attn_bias_type": "local_block_causal",
    "eos_id": 2,
    "rope_theta": 10000.0,
    "sliding_window": 8,
    "weight_tying": False,
}


def build_model():
    a, e = ARGS, ENTROPY_ARGS
    def local_config(part):
        """The local encoder's or decoder's sub-config, from the original `*_local_{part}` arguments."""
        dim = a[f"dim_local_{part}"]
        return dict(
            vocab_size=a["vocab_size"], hidden_size=dim,
            num_hidden_layers=a[f"n_layers_local_{part}"], num_attention_heads=a[f"n_heads_local_{part}"],
            cross_attn_all_layers=a[f"cross_attn_all_layers_{part}"], cross_attn_k=a["cross_attn_k"],
            hidden_size_global=a["dim_global"], max_position_embeddings=a["max_encoder_seq_length"],
            intermediate_size=ffn_size(dim, a["multiple_of"]),
            rope_parameters={"rope_type": "default", "rope_theta": a["rope_theta"]},
        )

    cfg = BltConfig(
        vocab_size=a["vocab_size"],
        max_position_embeddings=a["max_seqlen"],
        patch_in_forward=True,
        patch_size=int(a["patch_size"]),
        patching_mode="entropy",
        patching_threshold=1.0,  # replaced below once the entropies are known
        max_patch_length=None,
        local_attention_window_len=a["local_attention_window_len"],
        cross_attn_k=a["cross_attn_k"],
        encoder_hash_byte_group_size=a["encoder_hash_byte_group_size"],
        encoder_hash_byte_group_vocab=a["encoder_hash_byte_group_vocab"],
        encoder_hash_byte_group_nb_functions=a["encoder_hash_byte_group_nb_functions"],
        use_cache=False,
        tie_word_embeddings=False,
        patcher_config=dict(
            vocab_size=e["vocab_size"], hidden_size=e["dim"], num_hidden_layers=e["n_layers"],
            num_attention_heads=e["n_heads"], max_position_embeddings=e["max_seqlen"],
            intermediate_size=ffn_size(e["dim"], e["multiple_of"]), sliding_window=e["sliding_window"],
            rope_parameters={"rope_type": "default", "rope_theta": e["rope_theta"]},
        ),
        encoder_config=local_config("encoder"),
        decoder_config=local_config("decoder"),
        global_config=dict(
            hidden_size=a["dim_global"], num_hidden_layers=a["n_layers_global"],
            num_attention_heads=a["n_heads_global"], max_position_embeddings=a["max_seqlen"],
            intermediate_size=ffn_size(a["dim_global"], a["multiple_of"]),
            rope_parameters={"rope_type": "default", "rope_theta": a["rope_theta"]},
        ),
    )
    set_eager(cfg)
    torch.manual_seed(SEED)
    model = BltForCausalLM(cfg).float().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or name.endswith("layernorm.weight"):
                p.uniform_(0.5, 1.5)
    return model


def set_eager(cfg):
    for c in [cfg, cfg.patcher_config, cfg.encoder_config, cfg.decoder_config, cfg.global_config]:
        c._attn_implementation = "eager"


def text_ids():
    return [1] + [b + 4 for b in TEXT.encode("utf-8")]


# --------------------------------------------------------------------------------------------
# 2. HF names -> original names
# --------------------------------------------------------------------------------------------
HF_TO_ORIGINAL = [
    (".self_attn.", ".attention."), (".mlp.", ".feed_forward."),
    (".input_layernorm.", ".attention_norm."), (".post_attention_layernorm.", ".ffn_norm."),
    (".embed_tokens.", ".tok_embeddings."), (".q_norm.", ".cross_attn_norm_q."),
    (".k_norm.", ".cross_attn_norm_kv."), (".gate_proj.", ".w1."), (".down_proj.", ".w2."),
    (".up_proj.", ".w3."), (".q_proj.", ".wq."), (".k_proj.", ".wk."), (".v_proj.", ".wv."),
    (".o_proj.", ".wo."), (".lm_head.", ".output."),
]


def to_original(hf_state, cfg):
    main, entropy = OrderedDict(), OrderedDict()
    nb = cfg.encoder_hash_byte_group_nb_functions * len(cfg.encoder_hash_byte_group_size)
    vocab = cfg.encoder_hash_byte_group_vocab
    for name, t in hf_state.items():
        t = t.detach().clone().contiguous()
        if name == "lm_head.weight":
            main["local_decoder.output.weight"] = t
            continue
        if name == "model.encoder_hash_tok_embedding.weight":
            for i in range(nb):
                main[f"encoder_hash_tok_embedding.{i}.weight"] = t[i * vocab:(i + 1) * vocab].clone()
            continue
        assert name.startswith("model."), name
        key = "." + name[len("model."):]
        for hf, orig in HF_TO_ORIGINAL:
            key = key.replace(hf, orig)
        key = key[1:]
        if key.startswith("patcher."):
            entropy[key[len("patcher."):]] = t
        else:
            main[key] = t
    return main, entropy


def write_hub(model, threshold, src):
    cfg = model.config
    main, entropy = to_original(model.state_dict(), cfg)
    os.makedirs(os.path.join(src, "entropy_model"), exist_ok=True)
    args = dict(ARGS)
    patcher_args = {
        "realtime_patching": True,
        "entropy_model_checkpoint_dir": "hf-weights/entropy_model",
        "patching_mode": "entropy",
        "threshold": threshold,
        "threshold_add": None,
        "max_patch_length": 6,
        "patch_size": 4.5,
        "patching_batch_size": 1,
        "device": "cuda",
        "monotonicity": False,
        "log_time": False,
    }
    tokenizer_args = {"name": "blt", "init_kwargs": {"bpe_tokenizer_path": "/home/artidoro/tokenizers/llama_v2.tokenizer.model"}}
    with open(os.path.join(src, "config.json"), "w") as f:
        json.dump({"args": args}, f, indent=2)
    save_file(main, os.path.join(src, "model.safetensors"), metadata={"format": "pt"})
    train_args = {
        "name": "blt_1b_tiny",
        "dump_dir": "/tmp/blt-tiny",
        "seed": 42,
        "model": args,
        "entropy_model": None,
        "data": {"seq_len": 256, "patcher_args": patcher_args, "tokenizer_args": tokenizer_args},
        "distributed": {"model_dtype": "bf16"},
    }
    with open(os.path.join(src, "train_args.json"), "w") as f:
        json.dump(train_args, f, indent=2)
    entropy_params = {
        "name": "entropy_model_tiny",
        "model": None,
        "entropy_model": ENTROPY_ARGS,
        "data": {"seq_len": 512, "patcher_args": patcher_args, "tokenizer_args": tokenizer_args},
        "distributed": {"model_dtype": "bf16"},
    }
    with open(os.path.join(src, "entropy_model", "params.json"), "w") as f:
        json.dump(entropy_params, f, indent=2)
    torch.save({"model": entropy}, os.path.join(src, "entropy_model", "consolidated.pth"))


# --------------------------------------------------------------------------------------------
# 3. hub layout -> transformers layout, with the rules of convert_blt_weights_to_hf.py
# --------------------------------------------------------------------------------------------
def ffn_rule(dim, multiple_of):
    """The converter script's intermediate size: round int(8*dim/3) up to multiple_of."""
    return multiple_of * ((int(8 * dim / 3) + multiple_of - 1) // multiple_of)


def upstream_config(args, entropy_params):
    """Config merge as convert_blt_weights_to_hf.merge_configurations does it."""
    ent = entropy_params.get("entropy_model", {})
    pa = entropy_params.get("data", {}).get("patcher_args", {})
    g = args.get
    patch_size = pa.get("patch_size", 8)
    if isinstance(patch_size, float):
        patch_size = int(patch_size)
    p_dim = int(ent.get("dim", 512))
    patcher = {
        "vocab_size": int(ent.get("vocab_size", 256)),
        "hidden_size": p_dim,
        "num_hidden_layers": int(ent.get("n_layers", 8)),
        "num_attention_heads": int(ent.get("n_heads", 8)),
        "num_key_value_heads": int(ent["n_kv_heads"]) if ent.get("n_kv_heads") is not None else None,
        "max_position_embeddings": int(ent.get("max_seqlen", 1024)),
        "norm_eps": ent.get("norm_eps", 1e-5),
        "dropout": ent.get("dropout", 0.0),
        "rope_theta": ent.get("rope_theta", 10000.0),
        "attn_impl": ent.get("attn_impl", "sdpa"),
        "attn_bias_type": ent.get("attn_bias_type", "causal"),
        "intermediate_size": ffn_rule(p_dim, int(ent.get("multiple_of", 256))),
    }

    def local(prefix, dflt_layers, dflt_all):
        dim = g(f"dim_local_{prefix}", 1024)
        c = {
            "vocab_size": g("vocab_size", 256),
            "cross_attn_all_layers": g(f"cross_attn_all_layers_{prefix}", dflt_all),
            "cross_attn_k": g("cross_attn_k", 2),
            "hidden_size_global": g("dim_global", 2048),
        }
        if prefix == "encoder":
            c["pm_size"] = g("pm_size", 0)
        c.update({
            "hidden_size": dim,
            "num_attention_heads": g(f"n_heads_local_{prefix}", 16),
            "num_key_value_heads": g("n_kv_heads"),
            "num_hidden_layers": g(f"n_layers_local_{prefix}", dflt_layers),
            "norm_eps": g("norm_eps", 1e-5),
            "dropout": g("dropout", 0.0),
            "max_position_embeddings": g("max_encoder_seq_length") or g("max_seqlen", 1024),
            "rope_theta": g("rope_theta", 10000.0),
            "rope_scaling": {"rope_type": "default"},
            "hidden_act": g("hidden_act", "silu"),
            "_attn_implementation": g("_attn_implementation", "sdpa"),
            "intermediate_size": ffn_rule(dim, g("multiple_of", 256)),
        })
        return c

    gdim = g("dim_global", 2048)
    glob = {
        "hidden_size": gdim,
        "num_attention_heads": g("n_heads_global", 16),
        "num_key_value_heads": g("n_kv_heads_global"),
        "num_hidden_layers": g("n_layers_global", 25),
        "norm_eps": g("norm_eps", 1e-5),
        "dropout": g("dropout", 0.0),
        "max_position_embeddings": g("max_seqlen", 1024),
        "rope_theta": g("rope_theta", 10000.0),
        "rope_scaling": {"rope_type": "default"},
        "hidden_act": g("hidden_act", "silu"),
        "_attn_implementation": g("_attn_implementation", "sdpa"),
        "intermediate_size": ffn_rule(gdim, g("multiple_of", 256)),
    }
    return {
        "model_type": "blt",
        "vocab_size": g("vocab_size", 256),
        "max_position_embeddings": g("max_seqlen", 1024),
        "patch_in_forward": True,
        "realtime_patching": True,
        "patching_mode": "entropy",
        "patch_size": patch_size,
        "patching_threshold": pa.get("threshold", 0.5),
        "patching_threshold_add": pa.get("threshold_add", 0.0),
        "max_patch_length": pa.get("max_patch_length"),
        "patching_batch_size": pa.get("patching_batch_size", 1),
        "patching_device": pa.get("patching_device", "cuda"),
        "monotonicity": pa.get("monotonicity", False),
        "cross_attn_k": g("cross_attn_k", 2),
        "encoder_hash_byte_group_size": g("encoder_hash_byte_group_size"),
        "encoder_hash_byte_group_vocab": g("encoder_hash_byte_group_vocab", 30000),
        "encoder_hash_byte_group_nb_functions": g("encoder_hash_byte_group_nb_functions", 3),
        "pm_size": g("pm_size", 0),
        "patcher_config": patcher,
        "encoder_config": local("encoder", 1, False),
        "decoder_config": local("decoder", 9, False),
        "global_config": glob,
        "tie_word_embeddings": False,
    }


def complete_config(cfg, args, entropy_params, train_args, weights):
    """What the upstream script leaves out; each line is a documented rule of `blt convert`.

    - patcher args come from train_args.json `data.patcher_args` when present (else params.json's);
    - windows: `local_attention_window_len` from the args (HF >= 5.23 reads it), the patcher's
      `sliding_window` from entropy_model.sliding_window (the original loader hard-codes 512);
    - `rms_norm_eps` and `rope_parameters` (transformers 5.x names) next to norm_eps/rope_theta;
    - intermediate sizes taken from the w1 (gate_proj) tensors, not from a formula;
    - `use_cache: false` (5.24 crashes with the default True), `architectures`.
    """
    ent = entropy_params.get("entropy_model", {})
    pa = (train_args or {}).get("data", {}).get("patcher_args") or entropy_params.get("data", {}).get("patcher_args", {})
    if train_args is not None:
        ps = pa.get("patch_size", 8)
        cfg["patch_size"] = int(ps) if isinstance(ps, float) else ps
        cfg["patching_threshold"] = pa.get("threshold", 0.5)
        cfg["patching_threshold_add"] = pa.get("threshold_add", 0.0)
        cfg["max_patch_length"] = pa.get("max_patch_length")
        cfg["patching_batch_size"] = pa.get("patching_batch_size", 1)
        cfg["patching_device"] = pa.get("patching_device", "cuda")
        cfg["monotonicity"] = pa.get("monotonicity", False)
    cfg["architectures"] = ["BltForCausalLM"]
    cfg["use_cache"] = False
    cfg["local_attention_window_len"] = args.get("local_attention_window_len", 512)
    cfg["patcher_config"]["sliding_window"] = ent.get("sliding_window") or 512
    for key, prefix in [("patcher_config", "model.patcher.layers.0."), ("encoder_config", "model.local_encoder.layers.0."),
                        ("decoder_config", "model.local_decoder.layers.0."), ("global_config", "model.global_transformer.layers.0.")]:
        sub = cfg[key]
        sub["rms_norm_eps"] = sub["norm_eps"]
        sub["rope_parameters"] = {"rope_type": "default", "rope_theta": sub["rope_theta"]}
        w = weights.get(prefix + "mlp.gate_proj.weight")
        if w is not None:
            sub["intermediate_size"] = int(w.shape[0])
    return cfg


RENAMES = [
    (".attention.", ".self_attn."), (".feed_forward.", ".mlp."), (".attention_norm.", ".input_layernorm."),
    (".ffn_norm.", ".post_attention_layernorm."), (".tok_embeddings.", ".embed_tokens."),
    (".cross_attn_norm_q.", ".q_norm."), (".cross_attn_norm_kv.", ".k_norm."), (".w1.", ".gate_proj."),
    (".w2.", ".down_proj."), (".w3.", ".up_proj."), (".wq.", ".q_proj."), (".wk.", ".k_proj."),
    (".wv.", ".v_proj."), (".wo.", ".o_proj."), (".output.", ".lm_head."),
]


def upstream_weights(main, entropy, cfg):
    """Renames, lm_head move, `model.` prefix and hash fusion as the upstream script does them."""
    merged = dict(main)
    for k, t in entropy.items():
        merged["patcher." + k] = t
    renamed = {}
    for k, t in merged.items():
        for old, new in RENAMES:
            if old in k:
                k = k.replace(old, new)
        renamed[k] = t
    renamed["lm_head.weight"] = renamed.pop("local_decoder.lm_head.weight")
    out = {}
    for k, t in renamed.items():
        out[k if k == "lm_head.weight" or k.startswith("model.") else "model." + k] = t
    hash_keys = sorted([k for k in out if "encoder_hash_tok_embedding." in k and k.split(".")[-2].isdigit()],
                       key=lambda k: int(k.split(".")[-2]))
    n = cfg["encoder_hash_byte_group_nb_functions"] * len(cfg["encoder_hash_byte_group_size"])
    vocab = cfg["encoder_hash_byte_group_vocab"]
    fused = torch.zeros(vocab * n, cfg["encoder_config"]["hidden_size"])
    for i, k in enumerate(hash_keys):
        fused[i * vocab:(i + 1) * vocab] = out.pop(k)
    out["model.encoder_hash_tok_embedding.weight"] = fused
    return out


# ---- tokenizer (hf-reference section 7) ----------------------------------------------------------
def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


SPECIALS = ["<boe>", "<s>", "</s>", "<pad>"]


def tokenizer_json():
    enc = bytes_to_unicode()
    vocab = {s: i for i, s in enumerate(SPECIALS)}
    for b in range(256):
        vocab[enc[b]] = b + 4
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True} for i, s in enumerate(SPECIALS)
        ],
        "normalizer": None,
        "pre_tokenizer": byte_level,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}},
        },
        "decoder": byte_level,
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
            "vocab": vocab, "merges": [],
        },
    }


def tokenizer_config(cfg):
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "pad_token": "<pad>",
        "add_bos_token": True,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": cfg["encoder_config"]["max_position_embeddings"],
    }


def convert(src, dst):
    with open(os.path.join(src, "config.json")) as f:
        args = json.load(f)["args"]
    with open(os.path.join(src, "entropy_model", "params.json")) as f:
        entropy_params = json.load(f)
    train_args = None
    if os.path.exists(os.path.join(src, "train_args.json")):
        with open(os.path.join(src, "train_args.json")) as f:
            train_args = json.load(f)
    main = load_file(os.path.join(src, "model.safetensors"))
    entropy = torch.load(os.path.join(src, "entropy_model", "consolidated.pth"), map_location="cpu", weights_only=True)
    if "model" in entropy:
        entropy = entropy["model"]
    cfg = upstream_config(args, entropy_params)
    weights = upstream_weights(main, entropy, cfg)
    cfg = complete_config(cfg, args, entropy_params, train_args, weights)
    os.makedirs(dst, exist_ok=True)
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    save_file(weights, os.path.join(dst, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(dst, "tokenizer.json"), "w") as f:
        json.dump(tokenizer_json(), f, indent=2, ensure_ascii=False)
    with open(os.path.join(dst, "tokenizer_config.json"), "w") as f:
        json.dump(tokenizer_config(cfg), f, indent=2)


# --------------------------------------------------------------------------------------------
# 4. checks + logits
# --------------------------------------------------------------------------------------------
def verify(model, dst):
    ids = torch.tensor([text_ids()])
    with torch.no_grad():
        ref = model(ids, use_cache=False).logits
    loaded, info = BltForCausalLM.from_pretrained(dst, output_loading_info=True, attn_implementation="eager")
    loaded = loaded.float().eval()
    set_eager(loaded.config)
    bad = {k: v for k, v in info.items() if v}
    assert not bad, f"loading info not clean: {bad}"
    sd0, sd1 = model.state_dict(), loaded.state_dict()
    assert sorted(sd0) == sorted(sd1)
    for k in sd0:
        assert torch.equal(sd0[k], sd1[k]), k
    for key in ["patching_threshold", "max_patch_length", "local_attention_window_len"]:
        print(f"  {key} = {getattr(loaded.config, key)}")
    print(f"  patcher sliding_window = {loaded.config.patcher_config.sliding_window},"
          f" encoder sliding_window = {loaded.config.encoder_config.sliding_window}")
    with torch.no_grad():
        _, lengths, _ = loaded.model.patcher(ids, patch_size=loaded.config.patch_size,
                                             threshold=loaded.config.patching_threshold,
                                             max_patch_length=loaded.config.max_patch_length)
        out = loaded(ids, use_cache=False).logits
    print(f"  patch lengths: {lengths.int().tolist()[0]}")
    if loaded.config.max_patch_length != model.config.max_patch_length or \
            loaded.config.patching_threshold != model.config.patching_threshold:
        # the hub config carries max_patch_length; the source model had none: compare with the same patches
        with torch.no_grad():
            ref = model(ids, use_cache=False, patch_lengths=lengths).logits
    assert torch.equal(ref, out), f"logits differ: {(ref - out).abs().max()}"
    tok = PreTrainedTokenizerFast.from_pretrained(dst)
    for s in [TEXT, "héllo wörld ✓\n\t"]:
        got = tok(s)["input_ids"]
        want = [1] + [b + 4 for b in s.encode("utf-8")]
        assert got == want, (s, got, want)
        assert tok.decode(got, skip_special_tokens=True) == s
    save_file({"logits": out[0].contiguous(), "patch_lengths": lengths[0].to(torch.int64).contiguous()},
              os.path.join(dst, "logits.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(dst, "ids.json"), "w") as f:
        json.dump({"text": TEXT, "input_ids": text_ids(), "patch_lengths": lengths.int().tolist()[0],
                   "transformers_version": transformers.__version__, "torch_version": torch.__version__}, f, indent=2)


# --------------------------------------------------------------------------------------------
# 5. bf16 / f16 conversions with torch's own casts, and the check of the Swift converter's output
# --------------------------------------------------------------------------------------------
DTYPES = {"bf16": torch.bfloat16, "f16": torch.float16}


def write_dtype_expected(src, out):
    """The reference conversion of SRC cast by `.to(dtype)`: what `blt convert --dtype bf16|f16` must write."""
    with tempfile.TemporaryDirectory() as tmp:
        convert(src, tmp)
        weights = load_file(os.path.join(tmp, "model.safetensors"))
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    for tag, dtype in DTYPES.items():
        cast = {k: v.to(dtype).contiguous() for k, v in weights.items()}
        assert all(torch.isfinite(t).all() for t in cast.values()), f"{tag}: a weight overflows"
        save_file(cast, os.path.join(out, f"model.{tag}.safetensors"), metadata={"format": "pt"})
    print(f"wrote {out}: " + ", ".join(f"model.{t}.safetensors" for t in DTYPES))


def bits(t):
    """Raw bits of a float tensor, so that equality is bit for bit (NaN payloads and -0 included)."""
    return t.contiguous().view({torch.float32: torch.int32, torch.bfloat16: torch.int16, torch.float16: torch.int16}[t.dtype])


def read_with_safetensors(directory):
    """Every tensor of DIR, through model.safetensors or model.safetensors.index.json, with safetensors' safe_open."""
    single = os.path.join(directory, "model.safetensors")
    index = os.path.join(directory, "model.safetensors.index.json")
    if os.path.exists(single):
        files, weight_map = ["model.safetensors"], None
    else:
        with open(index) as f:
            weight_map = json.load(f)["weight_map"]
        files = sorted(set(weight_map.values()))
        assert len(files) > 1, files
    tensors = {}
    for name in files:
        with safe_open(os.path.join(directory, name), framework="pt") as f:
            assert f.metadata() == {"format": "pt"}, (name, f.metadata())
            for key in f.keys():
                assert key not in tensors, key
                assert weight_map is None or weight_map[key] == name, (key, name)
                tensors[key] = f.get_tensor(key)
    assert weight_map is None or sorted(weight_map) == sorted(tensors)
    return tensors


@torch.no_grad()
def check_swift(blt, src, expected_dir):
    """Runs the Swift converter and reads its output back with Python: safetensors (bit for bit against the
    reference conversion and torch's casts) and transformers (loads cleanly, same logits as the expected
    checkpoint cast the same way)."""
    dtypes_dir = expected_dir + "-dtypes"
    reference = {"f32": load_file(os.path.join(expected_dir, "model.safetensors"))}
    for tag in DTYPES:
        reference[tag] = load_file(os.path.join(dtypes_dir, f"model.{tag}.safetensors"))
    ids = torch.tensor([json.load(open(os.path.join(expected_dir, "ids.json")))["input_ids"]])
    runs = [("f32", "f32", []), ("bf16", "bf16", ["--dtype", "bf16"]), ("f16", "f16", ["--dtype", "f16"]),
            ("bf16-sharded", "bf16", ["--dtype", "bf16", "--max-shard-size", "60000"])]
    with tempfile.TemporaryDirectory() as tmp:
        for name, tag, flags in runs:
            out = os.path.join(tmp, name)
            subprocess.run([blt, "convert", src, out] + flags, check=True, stdout=subprocess.DEVNULL)
            got, want = read_with_safetensors(out), reference[tag]
            assert sorted(got) == sorted(want), (name, sorted(set(got) ^ set(want)))
            for k in want:
                assert got[k].dtype == want[k].dtype and got[k].shape == want[k].shape, (name, k, got[k].dtype)
                assert torch.equal(bits(got[k]), bits(want[k])), f"{name}: {k} differs from torch's"
            model, info = BltForCausalLM.from_pretrained(out, output_loading_info=True, attn_implementation="eager")
            assert not any(info.values()), (name, info)
            # the reference: the expected config with torch's cast weights (not `model.to(dtype)`, which would
            # also round the RoPE buffers)
            ref_dir = os.path.join(tmp, name + "-reference")
            os.makedirs(ref_dir)
            shutil.copy(os.path.join(expected_dir, "config.json"), ref_dir)
            save_file(want, os.path.join(ref_dir, "model.safetensors"), metadata={"format": "pt"})
            base = BltForCausalLM.from_pretrained(ref_dir, attn_implementation="eager")
            for m in (model, base):
                m.float().eval()
                set_eager(m.config)
            assert torch.equal(model(ids, use_cache=False).logits, base(ids, use_cache=False).logits), name
            print(f"  {name}: {len(got)} tensors equal bit for bit; transformers loads it, same logits")
    print("the Swift converter's files read back with safetensors and transformers: OK")


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--dtypes":
        write_dtype_expected(sys.argv[2], sys.argv[3])
        return
    if len(sys.argv) == 5 and sys.argv[1] == "--check-swift":
        check_swift(*sys.argv[2:])
        return
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, dst = sys.argv[1], sys.argv[2]
    for d in (src, dst):
        if os.path.exists(d):
            shutil.rmtree(d)
    model = build_model()
    ids = torch.tensor([text_ids()])
    with torch.no_grad():
        ent, _, _ = model.model.patcher(ids)
    # Multi-byte patches from a random patcher: a threshold near the median, but in the widest gap
    # between neighbouring entropies there, so that no entropy lies within 1e-3 of it (otherwise
    # float noise between implementations flips patch boundaries).
    values = sorted(ent[0, 1:].tolist())
    middle = len(values) // 2
    window = range(max(1, middle - 8), min(len(values), middle + 8))
    gap, i = max((values[j] - values[j - 1], j) for j in window)
    threshold = float(torch.tensor((values[i] + values[i - 1]) / 2, dtype=torch.float32))
    assert gap > 2e-3 and min(abs(v - threshold) for v in ent[0].tolist()) > 1e-3, (gap, threshold)
    model.config.patching_threshold = threshold
    write_hub(model, threshold, src)
    convert(src, dst)
    # the model as the converted config describes it (max_patch_length from train_args)
    model.config.max_patch_length = 6
    verify(model, dst)
    write_dtype_expected(src, dst + "-dtypes")
    total = sum(os.path.getsize(os.path.join(r, f)) for d in (src, dst) for r, _, fs in os.walk(d) for f in fs)
    print(f"wrote {src} and {dst} ({total} bytes); threshold {threshold}")


if __name__ == "__main__":
    main()
