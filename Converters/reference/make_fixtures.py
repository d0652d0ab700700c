#!/usr/bin/env python3
"""Build tiny random BLT models with Hugging Face transformers and write golden fixtures.

Run from the repository root with the pinned reference venv (see Converters/reference/README.md):

    .venv-ref/bin/python Converters/reference/make_fixtures.py                  # everything
    .venv-ref/bin/python Converters/reference/make_fixtures.py --derived-only   # only the derived copies
    .venv-ref/bin/python Converters/reference/make_fixtures.py --windowed-only  # only the `windowed` keys

Everything under Tests/Fixtures/models/ (except README.md) is deleted and regenerated.
The script is deterministic: fixed seeds, eager attention, fp32, CPU, batch size 1. The weights are bitwise the
same on every machine, but torch's float results (hence thresholds and expected numbers) differ in the last bits
between CPUs (AVX2 vs AVX-512 kernels): a full re-run on another CPU rewrites the expected files. `--derived-only`
rebuilds only the derived copies (tiny-a-f16 and tiny-b-sharded) from the committed base directories and leaves
every other file byte-identical. `--windowed-only` recomputes only the `windowed` key of every expected.json that has a
`long` case, from the committed model files (no model is rebuilt; every other key stays byte-identical).

Per model directory:
  config.json, model.safetensors   exactly as `save_pretrained` writes them (generation_config.json removed)
  expected.json                    numbers computed by transformers (schema in Tests/Fixtures/models/README.md)
  expected.safetensors             F32 tensors referenced from expected.json
"""

from __future__ import annotations

import copy
import json
import math
import os
import shutil
import sys
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
import transformers
from safetensors.torch import load_file, save_file
from transformers import BltConfig, BltForCausalLM
from transformers.models.blt.modeling_blt import BltPatcher, BltRMSNorm, process_patch_lengths

EXPECTED_TRANSFORMERS = "5.24.0"
EXPECTED_TORCH = "2.13.0+cpu"

OUT_ROOT = os.path.join("Tests", "Fixtures", "models")

ENTROPY_MARGIN = 1e-3  # every patcher entropy must be at least this far from the threshold
TOP2_MARGIN = 1e-4  # greedy generation: logit[top1] - logit[top2] at every step
GEN_NEW_TOKENS = 72

# ---------------------------------------------------------------------------------------------
# Texts
# ---------------------------------------------------------------------------------------------
TEXTS = [
    (
        "prose",
        "The quick brown fox jumps over the lazy dog. Bytes are grouped into patches by an entropy model.",
    ),
    (
        "code",
        "def mean(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return total / len(xs)\n",
    ),
    ("utf8", "Café naïve über Größe — 東京 ☕ 😀 ok!"),
    ("one_byte", "A"),
    (
        "long",
        "In the beginning the engine read every byte on its own, and the encoder pooled them into patches. "
        "Later the global transformer saw only patches, while the local decoder turned each patch back "
        "into bytes. Long inputs exceed every window, on purpose.",
    ),
]

PROMPTS = [
    "Once upon a time, there was a",
    "def fib(n):\n    return",
]

INTERMEDIATES_CASE = "prose"


def text_ids(text: str, eos: bool = True) -> list[int]:
    ids = [1] + [b + 4 for b in text.encode("utf-8")]
    if eos:
        ids.append(2)
    return ids


# ---------------------------------------------------------------------------------------------
# Model specs
# ---------------------------------------------------------------------------------------------
@dataclass
class Spec:
    name: str
    seed: int
    cross_attn_k: int
    hash_sizes: list
    hash_vocab: int
    hash_fns: int
    local_window: int
    max_patch_length: int | None
    patcher: dict
    encoder: dict
    decoder: dict
    global_: dict
    patcher_head_scale: float = 6.0
    lm_head_scale: float = 2.0
    qk_scale: float = 2.0
    percentile: float = 60.0
    covers: list = field(default_factory=list)


def rope(theta: float) -> dict:
    return {"rope_type": "default", "rope_theta": float(theta)}


SPECS = [
    Spec(
        name="tiny-a",
        seed=1001,
        cross_attn_k=2,
        hash_sizes=[3, 4, 5],
        hash_vocab=61,
        hash_fns=1,
        local_window=24,
        max_patch_length=None,
        patcher=dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=40,
                     sliding_window=32, rope_parameters=rope(10000.0)),
        encoder=dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=40,
                     cross_attn_all_layers=False),
        decoder=dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=40,
                     cross_attn_all_layers=True),
        global_=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64),
        covers=[
            "1 hash function, group sizes [3,4,5], hash vocab 61",
            "k*enc_h == global_h (2*16 = 32): no token_embedding_projection",
            "decoder cross-attn in all layers (2 decoder layers)",
            "local window 24, patcher window 32, patcher theta 10000 vs 500000 elsewhere",
            "no max_patch_length",
        ],
    ),
    Spec(
        name="tiny-b",
        seed=2002,
        cross_attn_k=3,
        hash_sizes=[2, 3, 5, 8],
        hash_vocab=47,
        hash_fns=2,
        local_window=20,
        max_patch_length=4,
        patcher=dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                     intermediate_size=32, sliding_window=28, rope_parameters=rope(500000.0)),
        encoder=dict(hidden_size=24, num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2,
                     intermediate_size=48, cross_attn_all_layers=False),
        decoder=dict(hidden_size=24, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                     intermediate_size=48, cross_attn_all_layers=False),
        global_=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2,
                     intermediate_size=64),
        covers=[
            "2 hash functions, group sizes [2,3,5,8], hash vocab 47",
            "cross_attn_k 3, k*enc_h = 72 != global_h 32: token_embedding_projection present",
            "decoder cross-attn in the first layer only (2 decoder layers)",
            "max_patch_length 4 (long patches split; zero-length patches dropped)",
            "GQA (4 heads / 2 kv heads) in patcher, encoder, decoder (incl. cross-attn), global",
            "local window 20, patcher window 28; patcher theta set to 500000 like the rest (HF default for the patcher is 10000)",
        ],
    ),
    Spec(
        name="tiny-c",
        seed=3003,
        cross_attn_k=2,
        hash_sizes=[3, 4, 5, 6, 7, 8],
        hash_vocab=31,
        hash_fns=3,
        local_window=16,
        max_patch_length=None,
        patcher=dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                     sliding_window=24, rope_parameters=rope(10000.0)),
        encoder=dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                     cross_attn_all_layers=True),
        decoder=dict(hidden_size=16, num_hidden_layers=3, num_attention_heads=2, intermediate_size=32,
                     cross_attn_all_layers=True),
        global_=dict(hidden_size=24, num_hidden_layers=1, num_attention_heads=2, intermediate_size=48),
        covers=[
            "3 hash functions, group sizes [3..8] (as released), hash vocab 31",
            "2 encoder layers with encoder cross_attn_all_layers=True (HF re-pools after every layer; only the "
            "last layer's cross-attn result survives)",
            "3 decoder layers with cross-attn in all",
            "k*enc_h = 32 != global_h 24: token_embedding_projection present; global head_dim 12",
            "local window 16, patcher window 24, patcher theta 10000",
        ],
    ),
    Spec(
        name="tiny-d",
        seed=4004,
        cross_attn_k=2,
        hash_sizes=[1, 3, 6],
        hash_vocab=32,
        hash_fns=2,
        local_window=32,
        max_patch_length=6,
        patcher=dict(hidden_size=24, num_hidden_layers=1, num_attention_heads=3, num_key_value_heads=1,
                     intermediate_size=40, sliding_window=16, rope_parameters=rope(10000.0), rms_norm_eps=1e-6),
        encoder=dict(hidden_size=24, num_hidden_layers=1, num_attention_heads=3, intermediate_size=32,
                     cross_attn_all_layers=False, rope_parameters=rope(20000.0), rms_norm_eps=1e-6),
        decoder=dict(hidden_size=24, num_hidden_layers=2, num_attention_heads=3, intermediate_size=32,
                     cross_attn_all_layers=False, rope_parameters=rope(100000.0), rms_norm_eps=1e-6),
        global_=dict(hidden_size=48, num_hidden_layers=1, num_attention_heads=3, intermediate_size=64,
                     rope_parameters=rope(500000.0), rms_norm_eps=1e-6),
        covers=[
            "3 heads everywhere: local hidden 24 (head_dim 8), global hidden 48 (head_dim 16)",
            "2 hash functions, group sizes [1,3,6] (size 1 = current id only), hash vocab 32",
            "k*enc_h == global_h (2*24 = 48): no projection",
            "decoder cross-attn first layer only (2 decoder layers)",
            "patcher window 16 < local window 32; patcher GQA 3 heads / 1 kv head",
            "distinct RoPE thetas: patcher 1e4, encoder 2e4, decoder 1e5, global 5e5; rms_norm_eps 1e-6",
            "max_patch_length 6",
        ],
    ),
]

BF16_OF = "tiny-a"
F16_OF = "tiny-a"  # F16 copy: weights `.to(torch.float16)`, expected computed from them upcast to fp32
SHARDED_OF = "tiny-b"  # sharded copy: `save_pretrained(max_shard_size=SHARD_BYTES)` of the same weights
SHARD_BYTES = 100_000
DERIVED_MARKER = "<!-- derived copies: written by make_fixtures.py (also with --derived-only) -->"
STATS: dict = {}


# ---------------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------------
def all_configs(cfg: BltConfig):
    return [cfg, cfg.patcher_config, cfg.encoder_config, cfg.decoder_config, cfg.global_config]


def set_eager(cfg: BltConfig):
    for c in all_configs(cfg):
        c._attn_implementation = "eager"


def build_config(spec: Spec, threshold: float) -> BltConfig:
    k = spec.cross_attn_k
    g = spec.global_["hidden_size"]
    enc = dict(spec.encoder, cross_attn_k=k, hidden_size_global=g)
    dec = dict(spec.decoder, cross_attn_k=k, hidden_size_global=g)
    cfg = BltConfig(
        vocab_size=260,
        use_cache=False,
        patch_in_forward=True,
        patching_mode="entropy",
        patch_size=4,
        patching_threshold=threshold,
        max_patch_length=spec.max_patch_length,
        local_attention_window_len=spec.local_window,
        cross_attn_k=k,
        encoder_hash_byte_group_size=list(spec.hash_sizes),
        encoder_hash_byte_group_vocab=spec.hash_vocab,
        encoder_hash_byte_group_nb_functions=spec.hash_fns,
        patcher_config=dict(spec.patcher),
        encoder_config=enc,
        decoder_config=dec,
        global_config=dict(spec.global_),
        dtype="float32",
    )
    set_eager(cfg)
    return cfg


@torch.no_grad()
def randomize(model: BltForCausalLM, spec: Spec):
    """Make the random model less degenerate: random RMSNorm gains, sharper attention and patcher."""
    gen = torch.Generator().manual_seed(spec.seed + 17)
    for name, mod in model.named_modules():
        if isinstance(mod, BltRMSNorm):
            mod.weight.copy_(torch.rand(mod.weight.shape, generator=gen) + 0.5)  # U(0.5, 1.5)
    for name, p in model.named_parameters():
        if name.endswith("q_proj.weight") or name.endswith("k_proj.weight"):
            p.mul_(spec.qk_scale)
    model.model.patcher.lm_head.weight.mul_(spec.patcher_head_scale)
    model.lm_head.weight.mul_(spec.lm_head_scale)


def build_model(spec: Spec, seed: int) -> BltForCausalLM:
    torch.manual_seed(seed)
    cfg = build_config(spec, threshold=1.0)
    model = BltForCausalLM(cfg).float().eval()
    randomize(model, spec)
    check_eager(model)
    return model


def check_eager(model):
    for name, mod in model.named_modules():
        c = getattr(mod, "config", None)
        if c is not None:
            assert c._attn_implementation == "eager", (name, c._attn_implementation)


# ---------------------------------------------------------------------------------------------
# Reference runs
# ---------------------------------------------------------------------------------------------
class Capture:
    """Forward hooks on the HF modules; records what the reference forward actually computed."""

    def __init__(self, model: BltForCausalLM, intermediates: bool):
        self.model = model
        self.data = {}
        self.handles = []
        m = model.model
        self.handles.append(m.patcher.register_forward_hook(self._patcher))
        if intermediates:
            self.handles.append(m.local_encoder.register_forward_pre_hook(self._enc_pre, with_kwargs=True))
            self.handles.append(m.local_encoder.register_forward_hook(self._enc_out))
            self.handles.append(m.global_transformer.register_forward_pre_hook(self._glob_pre, with_kwargs=True))
            self.handles.append(m.global_transformer.register_forward_hook(self._glob_out))
            self.handles.append(m.local_decoder.norm.register_forward_pre_hook(self._dec_norm_pre))

    def _patcher(self, mod, args, out):
        ent, pl, logits = out
        self.data["entropies"] = ent.detach().clone()
        self.data["patch_lengths"] = pl.detach().clone()
        self.data["patcher_logits"] = logits.detach().clone()

    def _enc_pre(self, mod, args, kwargs):
        self.data["embeddings"] = kwargs["inputs_embeds"].detach().clone()
        self.data["patch_ids"] = kwargs["patch_ids"].detach().clone()

    def _enc_out(self, mod, args, out):
        self.data["encoder_states"] = out[0].detach().clone()
        self.data["encoder_patches"] = out[1].detach().clone()

    def _glob_pre(self, mod, args, kwargs):
        self.data["global_in"] = kwargs["inputs_embeds"].detach().clone()

    def _glob_out(self, mod, args, out):
        self.data["global_out"] = out.detach().clone()

    def _dec_norm_pre(self, mod, args):
        self.data["decoder_states"] = args[0].detach().clone()

    def close(self):
        for h in self.handles:
            h.remove()


@torch.no_grad()
def run(model, ids: list[int], intermediates=False):
    cap = Capture(model, intermediates)
    try:
        out = model(input_ids=torch.tensor([ids]), use_cache=False)
    finally:
        cap.close()
    d = cap.data
    d["logits"] = out.logits.detach().clone()
    return d


@torch.no_grad()
def patcher_entropies(model, ids: list[int]) -> torch.Tensor:
    """Entropies straight from the HF patcher module (threshold independent)."""
    ent, _, _ = model.model.patcher(torch.tensor([ids]), patch_size=None)
    return ent[0]


def hf_patch_lengths(ent: torch.Tensor, threshold: float, max_patch_length) -> list[int]:
    """HF's own patching functions applied to HF entropies (used only to pick a threshold)."""
    pl = BltPatcher.patch_lengths_from_entropies(ent[None], ent.shape[0], patch_size=4, threshold=threshold)
    pl = process_patch_lengths(pl, max_patch_length)
    return pl[0].tolist()


@torch.no_grad()
def greedy(model, prompt_ids: list[int], threshold_check: float):
    """Manual greedy loop: full forward over the whole prefix each step (patcher re-patches every step)."""
    ids = list(prompt_ids)
    top2 = math.inf
    emargin = math.inf
    all_ent = []
    zero_tail = 0
    for _ in range(GEN_NEW_TOKENS):
        d = run(model, ids)
        zero_tail += int(d["patch_lengths"][0, -1] == 0)
        last = d["logits"][0, -1]
        v, i = torch.topk(last, 2)
        top2 = min(top2, float(v[0] - v[1]))
        ent = d["entropies"][0]
        all_ent.extend(ent.tolist())
        emargin = min(emargin, float((ent - threshold_check).abs().min()))
        ids.append(int(i[0]))
    return ids[len(prompt_ids):], top2, emargin, all_ent, zero_tail


def f32(x: float) -> float:
    return float(np.float32(x))


def choose_threshold(pool: list[float], percentile: float, exclude: list[float]):
    """Candidate thresholds: float32 midpoints of gaps >= 2.5*margin in the pooled entropies, nearest the
    requested percentile first."""
    s = np.sort(np.array(pool, dtype=np.float64))
    lo, hi = np.percentile(s, 40), np.percentile(s, 85)
    target = np.percentile(s, percentile)
    cands = []
    for a, b in zip(s[:-1], s[1:]):
        if b - a >= 2.5 * ENTROPY_MARGIN and lo <= a and b <= hi:
            t = f32((a + b) / 2)
            if min(t - a, b - t) >= ENTROPY_MARGIN * 1.2 and t not in exclude:
                cands.append((abs(t - target) / (b - a) ** 0.5, t))
    cands.sort()
    return [t for _, t in cands]


def patch_stats_ok(name: str, pl: list[int], n: int) -> bool:
    if n < 10:
        return True
    nonzero = [x for x in pl if x > 0]
    mean = n / len(nonzero)
    long3 = sum(1 for x in pl if x >= 3)
    need = 2 if n < 80 else 3
    return mean >= 2.0 and long3 >= need


def select_threshold(model, spec: Spec, prefer: float | None = None):
    """Pick a threshold with >= ENTROPY_MARGIN to every entropy of every text and every generation step."""
    cases = [(n, text_ids(t)) for n, t in TEXTS]
    pool = []
    for _, ids in cases:
        pool.extend(patcher_entropies(model, ids).tolist())
    for p in PROMPTS:
        pool.extend(patcher_entropies(model, text_ids(p, eos=False)).tolist())
    tried = []
    for _ in range(12):
        cands = choose_threshold(pool, spec.percentile, tried)
        if prefer is not None and not tried:
            cands = [prefer] + cands
        chosen = None
        for t in cands:
            ok = True
            for n, ids in cases:
                ent = patcher_entropies(model, ids)
                if float((ent - t).abs().min()) < ENTROPY_MARGIN:
                    ok = False
                    break
                if not patch_stats_ok(n, hf_patch_lengths(ent, t, spec.max_patch_length), len(ids)):
                    ok = False
                    break
            if ok:
                chosen = t
                break
        if chosen is None:
            return None
        tried.append(chosen)
        model.config.patching_threshold = chosen
        good = True
        for p in PROMPTS:
            _, top2, em, ents, _ = greedy(model, text_ids(p, eos=False), chosen)
            pool.extend(ents)
            if em < ENTROPY_MARGIN or top2 < TOP2_MARGIN:
                good = False
        if good:
            return chosen
    return None


# ---------------------------------------------------------------------------------------------
# Fixture computation
# ---------------------------------------------------------------------------------------------
def nll_nats(logits: torch.Tensor, ids: list[int]) -> float:
    lg = logits[0, :-1].double()
    tgt = torch.tensor(ids[1:])
    return float(F.cross_entropy(lg, tgt, reduction="sum"))


@torch.no_grad()
def compute_expected(model, name: str, weights_dtype: str):
    threshold = float(model.config.patching_threshold)
    k = model.config.cross_attn_k
    cases = []
    tensors = {}
    min_margin = math.inf
    st = STATS.setdefault(name, {"zero_tail_cases": [], "split_cases": [], "max_unsplit": 0,
                                 "bytes_per_patch": {}, "gen_steps_with_zero_tail": 0,
                                 "zero_tail_dropped": []})
    for cname, text in TEXTS:
        ids = text_ids(text)
        d = run(model, ids, intermediates=(cname == INTERMEDIATES_CASE))
        n = len(ids)
        logits = d["logits"]
        assert logits.shape == (1, n, 260) and logits.dtype == torch.float32
        ent = d["entropies"][0]
        pl = d["patch_lengths"][0].tolist()
        assert sum(pl) == n, (cname, pl)
        min_margin = min(min_margin, float((ent - threshold).abs().min()))
        # patch lengths produced inside forward == HF patching functions on the same entropies
        assert pl == hf_patch_lengths(ent, threshold, model.config.max_patch_length)
        unsplit = hf_patch_lengths(ent, threshold, None)
        st["max_unsplit"] = max(st["max_unsplit"], max(unsplit))
        if unsplit != pl:
            st["split_cases"].append(cname)
        if pl[-1] == 0:
            st["zero_tail_cases"].append(cname)
        if unsplit[-1] == 0 and pl[-1] != 0:
            st["zero_tail_dropped"].append(cname)
        st["bytes_per_patch"][cname] = round(n / sum(1 for x in pl if x > 0), 2)
        assert patch_stats_ok(cname, pl, n), (name, cname, pl)
        # forward with explicit patch_lengths gives bitwise the same logits
        again = model(input_ids=torch.tensor([ids]), patch_lengths=d["patch_lengths"], use_cache=False).logits
        assert torch.equal(again, logits)
        # entropies == Categorical entropy of the patcher logits
        assert torch.allclose(torch.distributions.Categorical(logits=d["patcher_logits"][0]).entropy(), ent,
                              atol=0, rtol=0)
        nll = nll_nats(logits, ids)
        targets = n - 1
        case = {
            "name": cname,
            "text": text,
            "ids": ids,
            "entropies": [float(x) for x in ent.tolist()],
            "patch_lengths": [int(x) for x in pl],
            "targets": targets,
            "nll_nats": nll,
            "bits_per_byte": nll / math.log(2) / targets,
            "logits": f"{cname}.logits",
        }
        cases.append(case)
        tensors[f"{cname}.logits"] = logits[0].contiguous()
        if cname == INTERMEDIATES_CASE:
            P = len(pl)
            enc_h = model.config.encoder_config.hidden_size
            emb = d["embeddings"][0]
            enc_states = d["encoder_states"][0]
            enc_patches = d["encoder_patches"][0]
            glob_out = d["global_out"][0]
            dec_states = d["decoder_states"][0]
            assert enc_patches.shape == (P * k, enc_h)
            assert glob_out.shape == (P, model.config.global_config.hidden_size)
            # consistency of the captures
            re_logits = model.lm_head(model.model.local_decoder.norm(dec_states[None])).float()
            assert torch.equal(re_logits, logits), "logits != lm_head(norm(decoder_states))"
            assert torch.equal(enc_patches.reshape(1, P, k * enc_h), d["global_in"]), "global input != encoder_patches"
            causal = torch.full((P, P), torch.finfo(torch.float32).min).triu(1)[None, None]
            re_glob = model.model.global_transformer(inputs_embeds=enc_patches.reshape(1, P, k * enc_h),
                                                     attention_mask=causal)
            assert torch.allclose(re_glob[0], glob_out, atol=1e-5), "global_out mismatch"
            check_hash_embeddings(model, ids, emb)
            tensors[f"{cname}.embeddings"] = emb.contiguous()
            tensors[f"{cname}.encoder_states"] = enc_states.contiguous()
            tensors[f"{cname}.encoder_patches"] = enc_patches.contiguous()
            tensors[f"{cname}.global_out"] = glob_out.contiguous()
            tensors[f"{cname}.decoder_states"] = dec_states.contiguous()
            tensors[f"{cname}.patcher_logits"] = d["patcher_logits"][0].contiguous()

    generation = []
    for p in PROMPTS:
        pids = text_ids(p, eos=False)
        new, top2, em, _, zt = greedy(model, pids, threshold)
        assert top2 >= TOP2_MARGIN, (name, p, top2)
        assert em >= ENTROPY_MARGIN, (name, p, em)
        check_generate_api(model, pids, new)
        min_margin = min(min_margin, em)
        st["gen_steps_with_zero_tail"] += zt
        generation.append({
            "prompt": p,
            "prompt_ids": pids,
            "generated_ids": new,
            "min_top2_margin": top2,
            "min_entropy_margin": em,
        })
    assert min_margin >= ENTROPY_MARGIN, (name, min_margin)
    if model.config.max_patch_length is not None:
        assert st["split_cases"], f"{name}: max_patch_length never split a patch"

    expected = {
        "model": name,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "weights_dtype": weights_dtype,
        "threshold": threshold,
        "min_entropy_margin": min_margin,
        "cases": cases,
        "intermediates_case": INTERMEDIATES_CASE,
        "intermediates_shapes": {
            "embeddings": "[N, enc_h]",
            "encoder_states": "[N, enc_h]",
            "encoder_patches": "[num_patches * cross_attn_k, enc_h]",
            "global_out": "[num_patches, global_h]",
            "decoder_states": "[N, dec_h]",
            "patcher_logits": "[N, 260]",
        },
        "generation": generation,
    }
    return expected, tensors


# ---------------------------------------------------------------------------------------------
# Windowed scoring oracle: transformers' NLL of every evaluation window of the `long` case
# ---------------------------------------------------------------------------------------------
WINDOWED_CASE = "long"
WINDOWED_PAIRS = [(48, 8), (64, 0), (10, 7), (64, 16), (100, 98), (8, 0)]  # (window, context)
BOS_ID = 1


def window_plan(count: int, window: int, context: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Port of the Swift evaluator's `WindowPlan.plan` (Sources/ByteLatentEval/Windows.swift): a list of
    (input, scored) half-open ranges of document id indices. A window with input.lower > 0 is fed a fresh BOS
    followed by ids[input]; the first window is fed ids[input]."""
    assert window >= 2 and 0 <= context <= window - 2, (window, context)
    if count < 2:
        return []
    first = ((0, min(count, window)), (1, min(count, window)))
    plan = [first]
    nxt = first[1][1]
    while nxt < count:
        start = max(1, nxt - context)
        end = min(count, start + window - 1)
        plan.append(((start, end), (nxt, end)))
        nxt = end
    return plan


@torch.no_grad()
def window_nll(model, ids: list[int], inp: tuple[int, int], scored: tuple[int, int]):
    """One window run alone through transformers (its own patching from its own entropies, as for a whole case).
    Returns (nll in nats: float64 sum in target order, smallest |entropy - threshold| of the window, the forward's
    captures)."""
    lo, hi = inp
    prepend = lo > 0
    fed = ([BOS_ID] if prepend else []) + ids[lo:hi]
    d = run(model, fed)
    logits = d["logits"]
    assert logits.shape == (1, len(fed), 260) and logits.dtype == torch.float32
    threshold = float(model.config.patching_threshold)
    ent = d["entropies"][0]
    pl = d["patch_lengths"][0].tolist()
    assert sum(pl) == len(fed) and pl == hf_patch_lengths(ent, threshold, model.config.max_patch_length), pl
    rows = [t - lo + (1 if prepend else 0) - 1 for t in range(*scored)]  # logits row predicting target t
    assert all(fed[r + 1] == ids[t] for r, t in zip(rows, range(*scored)))
    per_target = F.cross_entropy(logits[0, rows].double(), torch.tensor(ids[scored[0]:scored[1]]), reduction="none")
    nll = 0.0
    for x in per_target.tolist():
        nll += x
    return nll, float((ent - threshold).abs().min()), d


@torch.no_grad()
def compute_windowed(model, case: dict, name: str, committed_logits: torch.Tensor) -> list[dict]:
    ids = case["ids"]
    n = len(ids)
    # Self-check: one window over the whole document (window = len(ids), context 0) is the case's own forward.
    # Its per-target values summed as nll_nats sums them (torch's reduction) must give the case's nll_nats exactly;
    # the in-order float64 sum used for the windows may differ from that only by rounding.
    whole_plan = window_plan(n, n, 0)
    assert whole_plan == [((0, n), (1, n))], whole_plan
    whole, _, d = window_nll(model, ids, *whole_plan[0])
    same_cpu = torch.equal(d["logits"][0], committed_logits)
    if same_cpu:
        assert nll_nats(d["logits"], ids) == case["nll_nats"], (name, nll_nats(d["logits"], ids), case["nll_nats"])
        assert abs(whole - case["nll_nats"]) <= 1e-12 * abs(case["nll_nats"]), (name, whole, case["nll_nats"])
    else:
        # expected.json was computed on a CPU whose torch kernels round differently (AVX2 vs AVX-512): the windows are
        # computed on this CPU, so they agree with the committed case numbers only to float32 rounding.
        assert abs(whole - case["nll_nats"]) <= 1e-6 * (n - 1), (name, whole, case["nll_nats"])
        print(f"  WARNING {name}: this CPU does not reproduce the committed `{case['name']}` logits bitwise; one window "
              f"over it gives nll {whole!r} vs committed {case['nll_nats']!r} (diff {whole - case['nll_nats']:.3g})",
              flush=True)
    entries = []
    for window, context in WINDOWED_PAIRS:
        if context > window - 2:
            continue
        plan = window_plan(n, window, context)
        # every target 1 ..< n scored exactly once, in order; each window holds its scored targets and fits
        assert sum(s[1] - s[0] for _, s in plan) == n - 1, (window, context)
        nxt = 1
        for (lo, hi), (s_lo, s_hi) in plan:
            assert s_lo == nxt < s_hi == hi and lo <= s_lo and hi - lo + (1 if lo > 0 else 0) <= window
            nxt = s_hi
        assert nxt == n
        windows = []
        total = 0.0
        margin = math.inf
        for inp, scored in plan:
            nll, m, _ = window_nll(model, ids, inp, scored)
            margin = min(margin, m)
            total += nll
            windows.append({"input": list(inp), "scored": list(scored), "nll": nll})
        entries.append({"case": case["name"], "window": window, "context": context, "windows": windows, "nll": total})
        note = "" if margin >= ENTROPY_MARGIN else f"  WARNING: an entropy within {ENTROPY_MARGIN} of the threshold"
        print(f"  {name} window {window} context {context}: {len(windows)} windows, nll {total!r} "
              f"(whole case {case['nll_nats']!r}), min entropy margin {margin:.3g}{note}", flush=True)
    return entries


def write_windowed(names: list[str] | None = None):
    """Adds (or replaces) the top-level `windowed` key of every fixture model's expected.json that has a `long`
    case, from the committed model files, keeping every other key byte-for-byte. expected.json files that are
    symlinks (tiny-b-sharded) are skipped: their target is done under its own directory."""
    names = sorted(os.listdir(OUT_ROOT)) if names is None else names
    for name in names:
        out_dir = os.path.join(OUT_ROOT, name)
        path = os.path.join(out_dir, "expected.json")
        if not os.path.isfile(path) or os.path.islink(path):
            continue
        with open(path, encoding="utf-8") as f:
            text = f.read()
        exp = json.loads(text)
        assert format_json(exp) + "\n" == text, f"{path} is not in format_json's form"
        case = next((c for c in exp["cases"] if c["name"] == WINDOWED_CASE), None)
        if case is None:
            continue
        model = load_reference(out_dir)
        assert float(model.config.patching_threshold) == exp["threshold"], name
        committed = load_file(os.path.join(out_dir, "expected.safetensors"))[case["logits"]]
        exp["windowed"] = compute_windowed(model, case, name, committed)
        new = format_json(exp) + "\n"
        without = {k: v for k, v in json.loads(new).items() if k != "windowed"}
        assert without == {k: v for k, v in json.loads(text).items() if k != "windowed"}
        with open(path, "w", encoding="utf-8") as f:
            f.write(new)


@torch.no_grad()
def check_generate_api(model, prompt_ids, new_ids):
    out = model.generate(
        torch.tensor([prompt_ids]),
        do_sample=False,
        use_cache=False,
        max_new_tokens=GEN_NEW_TOKENS,
        min_new_tokens=GEN_NEW_TOKENS,
        eos_token_id=None,
        pad_token_id=0,
    )
    got = out[0, len(prompt_ids):].tolist()
    assert got == new_ids, f"generate() != manual greedy loop:\n{got}\n{new_ids}"


PRIMES = [1000000007, 5915587277, 1500450271, 3267000013, 5754853343, 4093082899, 9576890767,
          3628273133, 2860486313, 5463458053, 3367900313]


def wrap64(x: int) -> int:
    x &= (1 << 64) - 1
    return x - (1 << 64) if x >= (1 << 63) else x


def check_hash_embeddings(model, ids, emb):
    """Independent check (not used for any fixture number): wrapping-int64 polynomial hash."""
    cfg = model.config
    tok = model.model.local_encoder.embed_tokens.weight
    table = model.model.encoder_hash_tok_embedding.weight
    V = cfg.encoder_hash_byte_group_vocab
    ref = tok[torch.tensor(ids)].clone()
    idx = 0
    for f in range(cfg.encoder_hash_byte_group_nb_functions):
        prime = PRIMES[f % len(PRIMES)]
        for g in cfg.encoder_hash_byte_group_size:
            rows = []
            for t in range(len(ids)):
                window = [ids[t - g + 1 + j] if t - g + 1 + j >= 0 else 0 for j in range(g)]
                h = 0
                pw = 1
                for j in range(g):
                    h = wrap64(h + wrap64(window[j] * pw))
                    pw = wrap64(pw * prime)
                rows.append(h % V + idx * V)  # python % is floor-mod
            ref += table[torch.tensor(rows)]
            idx += 1
    assert torch.allclose(ref, emb, atol=1e-6), float((ref - emb).abs().max())


# ---------------------------------------------------------------------------------------------
# Saving and self-check
# ---------------------------------------------------------------------------------------------
def save_model(model, out_dir: str):
    model.save_pretrained(out_dir)
    gc = os.path.join(out_dir, "generation_config.json")
    if os.path.exists(gc):
        os.remove(gc)
    assert sorted(os.listdir(out_dir)) == ["config.json", "model.safetensors"], os.listdir(out_dir)


def write_expected(out_dir: str, expected: dict, tensors: dict):
    with open(os.path.join(out_dir, "expected.json"), "w", encoding="utf-8") as f:
        f.write(format_json(expected) + "\n")
    save_file({k: v.float().contiguous() for k, v in sorted(tensors.items())},
              os.path.join(out_dir, "expected.safetensors"), metadata={"format": "pt"})


def format_json(o, level: int = 0) -> str:
    """JSON with one key per line but numeric arrays on a single line. Floats use repr (shortest round trip)."""
    pad = "  " * (level + 1)
    end = "  " * level
    if isinstance(o, dict):
        items = [f"{pad}{json.dumps(k)}: {format_json(v, level + 1)}" for k, v in o.items()]
        return "{\n" + ",\n".join(items) + "\n" + end + "}"
    if isinstance(o, list) and any(isinstance(x, (dict, list)) for x in o):
        return "[\n" + ",\n".join(pad + format_json(x, level + 1) for x in o) + "\n" + end + "]"
    if isinstance(o, float):
        assert math.isfinite(o)
    return json.dumps(o, ensure_ascii=False)


def load_reference(out_dir: str) -> BltForCausalLM:
    m = BltForCausalLM.from_pretrained(out_dir, attn_implementation="eager", use_cache=False)
    m = m.float().eval()
    set_eager(m.config)
    check_eager(m)
    return m


@torch.no_grad()
def self_check(out_dir: str):
    m = load_reference(out_dir)
    with open(os.path.join(out_dir, "expected.json")) as f:
        exp = json.load(f)
    tens = load_file(os.path.join(out_dir, "expected.safetensors"))
    assert float(m.config.patching_threshold) == exp["threshold"]
    for case in exp["cases"]:
        d = run(m, case["ids"])
        assert torch.equal(d["logits"][0], tens[case["logits"]]), (out_dir, case["name"])
        assert d["entropies"][0].tolist() == case["entropies"], (out_dir, case["name"])
        assert d["patch_lengths"][0].tolist() == case["patch_lengths"], (out_dir, case["name"])
    for g in exp["generation"]:
        new, _, _, _, _ = greedy(m, g["prompt_ids"], exp["threshold"])
        assert new == g["generated_ids"], out_dir
    # default (sdpa) attention agrees closely too
    m2 = BltForCausalLM.from_pretrained(out_dir, use_cache=False).float().eval()
    case = exp["cases"][0]
    lg = m2(input_ids=torch.tensor([case["ids"]]), use_cache=False).logits[0]
    diff = float((lg - tens[case["logits"]]).abs().max())
    assert diff < 1e-4, diff
    return diff


# ---------------------------------------------------------------------------------------------
def param_count(model):
    return sum(p.numel() for p in model.parameters())


def make(spec: Spec):
    for attempt in range(8):
        seed = spec.seed + 100 * attempt
        model = build_model(spec, seed)
        t = select_threshold(model, spec)
        if t is not None:
            model.config.patching_threshold = t
            return model, seed
        print(f"  {spec.name}: seed {seed} rejected, retrying", flush=True)
    raise SystemExit(f"{spec.name}: no seed/threshold satisfied the margins")


def main():
    assert transformers.__version__ == EXPECTED_TRANSFORMERS, transformers.__version__
    assert torch.__version__ == EXPECTED_TORCH, torch.__version__
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    if not os.path.isdir(os.path.join("Tests", "Fixtures")):
        raise SystemExit("run from the repository root")
    if sys.argv[1:] == ["--derived-only"]:
        write_derived_readme(make_derived())
        print(f"total fixture size: {dir_size(OUT_ROOT)} bytes")
        return
    if sys.argv[1:] == ["--windowed-only"]:
        write_windowed()
        return
    if sys.argv[1:]:
        raise SystemExit(__doc__)
    os.makedirs(OUT_ROOT, exist_ok=True)
    for entry in os.listdir(OUT_ROOT):
        p = os.path.join(OUT_ROOT, entry)
        if os.path.isdir(p):
            shutil.rmtree(p)

    summary = []
    built = {}
    for spec in SPECS:
        model, seed = make(spec)
        built[spec.name] = model
        out_dir = os.path.join(OUT_ROOT, spec.name)
        expected, tensors = compute_expected(model, spec.name, "float32")
        expected["seed"] = seed
        save_model(model, out_dir)
        write_expected(out_dir, expected, tensors)
        diff = self_check(out_dir)
        summary.append((spec.name, seed, expected, param_count(model), diff))
        print(f"{spec.name}: seed {seed} threshold {expected['threshold']!r} margin {expected['min_entropy_margin']:.3g}"
              f" params {param_count(model)} sdpa-diff {diff:.2g}", flush=True)

    # bf16 copy: weights rounded to bf16; expected computed from those weights upcast to fp32.
    base = SPECS[[s.name for s in SPECS].index(BF16_OF)]
    name = f"{BF16_OF}-bf16"
    out_dir = os.path.join(OUT_ROOT, name)
    m16 = copy.deepcopy(built[BF16_OF]).to(torch.bfloat16)
    save_model(m16, out_dir)
    m32 = load_reference(out_dir)  # transformers loads the bf16 file; .float() upcasts
    t = select_threshold(m32, base, prefer=float(built[BF16_OF].config.patching_threshold))
    if t is None:
        raise SystemExit(f"{name}: no threshold satisfied the margins")
    m32.config.patching_threshold = t
    expected, tensors = compute_expected(m32, name, "bfloat16")
    expected["seed"] = summary[0][1]
    m16.config.patching_threshold = t
    shutil.rmtree(out_dir)
    save_model(m16, out_dir)
    write_expected(out_dir, expected, tensors)
    diff = self_check(out_dir)
    with safe_open_dtypes(os.path.join(out_dir, "model.safetensors")) as dtypes:
        assert dtypes == {"BF16"}, dtypes
    summary.append((name, summary[0][1], expected, param_count(m32), diff))
    print(f"{name}: threshold {t!r} margin {expected['min_entropy_margin']:.3g}", flush=True)

    write_windowed([n for n, *_ in summary])
    write_readme(summary)
    derived = make_derived()
    write_derived_readme(derived)
    total = dir_size(OUT_ROOT)
    print(f"total fixture size: {total} bytes")
    for name, seed, exp, n, diff in summary:
        pls = {c["name"]: c["patch_lengths"] for c in exp["cases"]}
        print(name, "patches:", json.dumps(pls), json.dumps(STATS[name]))


# ---------------------------------------------------------------------------------------------
# Derived copies of committed models: F16 weights, and a sharded checkpoint
# ---------------------------------------------------------------------------------------------
def spec_named(name: str) -> Spec:
    return SPECS[[s.name for s in SPECS].index(name)]


def make_derived():
    """Builds tiny-a-f16 and tiny-b-sharded from the base directories on disk; returns README notes."""
    for name in (f"{F16_OF}-f16", f"{SHARDED_OF}-sharded"):
        if os.path.isdir(os.path.join(OUT_ROOT, name)):
            shutil.rmtree(os.path.join(OUT_ROOT, name))
    return [make_f16_copy(), make_sharded_copy()]


def make_f16_copy():
    """F16 copy: weights rounded by torch's `.to(torch.float16)`; expected computed by transformers from those
    weights upcast to fp32 (`from_pretrained(...).float()`), with a threshold re-checked for them."""
    base_dir = os.path.join(OUT_ROOT, F16_OF)
    name = f"{F16_OF}-f16"
    out_dir = os.path.join(OUT_ROOT, name)
    base = load_reference(base_dir)
    with torch.no_grad():
        for p in base.parameters():
            assert float(p.abs().max()) < 60000, "weights beyond the float16 range"
    m16 = copy.deepcopy(base).to(torch.float16)
    save_model(m16, out_dir)
    m32 = load_reference(out_dir)
    t = select_threshold(m32, spec_named(F16_OF), prefer=float(base.config.patching_threshold))
    if t is None:
        raise SystemExit(f"{name}: no threshold satisfied the margins")
    m32.config.patching_threshold = t
    expected, tensors = compute_expected(m32, name, "float16")
    with open(os.path.join(base_dir, "expected.json")) as f:
        expected["seed"] = json.load(f)["seed"]
    m16.config.patching_threshold = t
    shutil.rmtree(out_dir)
    save_model(m16, out_dir)
    write_expected(out_dir, expected, tensors)
    self_check(out_dir)
    with safe_open_dtypes(os.path.join(out_dir, "model.safetensors")) as dtypes:
        assert dtypes == {"F16"}, dtypes
    write_windowed([name])
    # the saved weights are exactly torch's float32 -> float16 rounding of the base weights
    w32, w16 = load_file(os.path.join(base_dir, "model.safetensors")), load_file(os.path.join(out_dir, "model.safetensors"))
    assert sorted(w32) == sorted(w16) and all(torch.equal(w32[k].to(torch.float16), w16[k]) for k in w32)
    print(f"{name}: threshold {t!r} margin {expected['min_entropy_margin']:.3g}", flush=True)
    return (f"- `{name}` (F16, {dir_size(out_dir) // 1024} KiB): copy of `{F16_OF}` with every weight rounded by torch's "
            f"`.to(torch.float16)`; expected.json/expected.safetensors computed by transformers from these weights upcast "
            f"to fp32 (eager attention), threshold {t!r} re-checked for them (min entropy margin "
            f"{expected['min_entropy_margin']:.4g}).")


def make_sharded_copy():
    """Sharded copy: the committed base model saved again by transformers with a small max_shard_size. The weights
    and config are the base's, so its expected numbers are too: expected.json / expected.safetensors are symlinks to
    the base's files, after checking that transformers gives bitwise the same outputs from both checkpoints."""
    base_dir = os.path.join(OUT_ROOT, SHARDED_OF)
    name = f"{SHARDED_OF}-sharded"
    out_dir = os.path.join(OUT_ROOT, name)
    base = load_reference(base_dir)
    base.save_pretrained(out_dir, max_shard_size=SHARD_BYTES)
    gc = os.path.join(out_dir, "generation_config.json")
    if os.path.exists(gc):
        os.remove(gc)
    files = sorted(os.listdir(out_dir))
    shards = [f for f in files if f.startswith("model-") and f.endswith(".safetensors")]
    assert files == sorted(["config.json", "model.safetensors.index.json"] + shards), files
    assert len(shards) >= 3, shards
    def without_dtype(c):  # a reloaded model's sub-configs gain "dtype": "float32"; nothing else may differ
        return {k: without_dtype(v) if isinstance(v, dict) else v for k, v in c.items() if k != "dtype"}

    with open(os.path.join(out_dir, "config.json")) as a, open(os.path.join(base_dir, "config.json")) as b:
        assert without_dtype(json.load(a)) == without_dtype(json.load(b)), "sharded config differs from the base config"
    sharded = load_reference(out_dir)
    want = load_file(os.path.join(base_dir, "model.safetensors"))
    got = sharded.state_dict()
    assert sorted(got) == sorted(want) and all(torch.equal(got[k], want[k]) for k in want)
    with open(os.path.join(base_dir, "expected.json")) as f:
        exp = json.load(f)
    with torch.no_grad():
        for case in exp["cases"]:
            a, b = run(base, case["ids"]), run(sharded, case["ids"])
            assert torch.equal(a["logits"], b["logits"]) and torch.equal(a["patch_lengths"], b["patch_lengths"]), case["name"]
    for f in ("expected.json", "expected.safetensors"):
        os.symlink(os.path.join("..", SHARDED_OF, f), os.path.join(out_dir, f))
    print(f"{name}: {len(shards)} shards", flush=True)
    return (f"- `{name}` ({len(shards)} shards, {dir_size(out_dir) // 1024} KiB): `{SHARDED_OF}` saved again by "
            f"`save_pretrained(max_shard_size={SHARD_BYTES})` (model.safetensors.index.json + {len(shards)} shards); "
            f"expected.json and expected.safetensors are symlinks to `{SHARDED_OF}`'s, since transformers gives bitwise "
            f"the same outputs from both checkpoints (checked).")


def write_derived_readme(notes):
    path = os.path.join(OUT_ROOT, "README.md")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    text = text.split("\n" + DERIVED_MARKER)[0].rstrip("\n") + "\n"
    models = dir_size(OUT_ROOT) - os.path.getsize(path)  # the model directories, not this README
    text += (f"\n{DERIVED_MARKER}\n## Derived copies\n\nBuilt from the committed base directories "
             f"(`make_fixtures.py --derived-only` rebuilds only these). All fixture model directories: "
             f"{models // 1024} KiB.\n\n" + "\n".join(notes) + "\n")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def dir_size(path: str) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            total += os.lstat(os.path.join(root, f)).st_size  # a symlink counts as itself
    return total


def write_readme(summary):
    specs = {s.name: s for s in SPECS}
    rows = []
    notes = []
    for name, seed, exp, nparams, diff in summary:
        base = name[: -len("-bf16")] if name.endswith("-bf16") else name
        spec = specs[base]
        with open(os.path.join(OUT_ROOT, name, "config.json")) as f:
            cfg = json.load(f)
        e, d, g, pt = cfg["encoder_config"], cfg["decoder_config"], cfg["global_config"], cfg["patcher_config"]

        def blk(c):
            return f"{c['hidden_size']}/{c['num_hidden_layers']}/{c['num_attention_heads']}/{c['num_key_value_heads']}"

        def th(c):
            return f"{c['rope_parameters']['rope_theta']:g}"

        st = STATS[name]
        rows.append(
            f"| `{name}` | {exp['weights_dtype']} | {nparams} | {dir_size(os.path.join(OUT_ROOT, name)) // 1024} KiB "
            f"| {cfg['encoder_hash_byte_group_nb_functions']} x {cfg['encoder_hash_byte_group_size']} mod "
            f"{cfg['encoder_hash_byte_group_vocab']} | {blk(pt)} | {blk(e)} | {blk(g)} | {blk(d)} "
            f"| {cfg['cross_attn_k']} | {'yes' if g.get('encoder_cross_output_size') else 'no'} "
            f"| {'all' if e['cross_attn_all_layers'] else 'last'} / {'all' if d['cross_attn_all_layers'] else 'first'} "
            f"| {cfg['local_attention_window_len']} / {pt['sliding_window']} "
            f"| {th(pt)} / {th(e)} / {th(g)} / {th(d)} | {cfg['max_patch_length']} "
            f"| {exp['threshold']!r} | {exp['min_entropy_margin']:.4g} "
            f"| {', '.join(st['zero_tail_cases']) or '-'} (gen steps: {st['gen_steps_with_zero_tail']}) "
            f"| {', '.join(st['split_cases']) or '-'} |"
        )
        cov = spec.covers if base == name else [
            f"bf16 copy of `{base}`: model.safetensors is BF16; expected.json/expected.safetensors were computed by "
            f"transformers from these bf16 weights upcast to fp32 (`from_pretrained(...).float()`), eager attention; "
            f"threshold re-checked for the bf16 weights"]
        notes.append(f"- `{name}` (seed {seed}, rms_norm_eps {e['rms_norm_eps']:g}): " + "; ".join(cov) + ".")
    text = README_TEMPLATE.format(
        transformers=transformers.__version__,
        torch=torch.__version__,
        rows="\n".join(rows),
        notes="\n".join(notes),
        margin=ENTROPY_MARGIN,
        top2=TOP2_MARGIN,
        ngen=GEN_NEW_TOKENS,
        texts="\n".join(f"- `{n}` ({len(t.encode())} bytes): {json.dumps(t, ensure_ascii=False)}" for n, t in TEXTS),
        prompts="\n".join(f"- {json.dumps(p, ensure_ascii=False)}" for p in PROMPTS),
        total=dir_size(OUT_ROOT) // 1024,
    )
    with open(os.path.join(OUT_ROOT, "README.md"), "w", encoding="utf-8") as f:
        f.write(text)


README_TEMPLATE = """# Tiny BLT golden fixtures

Generated by `Converters/reference/make_fixtures.py` (run from the repo root with the pinned venv, see
`Converters/reference/README.md`) using transformers {transformers}, torch {torch}, CPU, fp32, eager attention on
the top config and every sub-config, batch size 1, `use_cache=False`, `patch_in_forward=True`. Do not edit by hand:
re-run the script (it deletes and rewrites every model directory and this README). Total size: {total} KiB.

Each model directory holds `config.json` + `model.safetensors` exactly as `save_pretrained` wrote them
(`generation_config.json` removed), `expected.json` and `expected.safetensors` (F32 tensors).

Weights: HF random init with fixed seeds, then every RMSNorm weight ~ U(0.5, 1.5), all q_proj/k_proj weights x2
(self- and cross-attention, patcher included), `model.patcher.lm_head.weight` x6 (so entropies spread out and patches
are multi-byte) and `lm_head.weight` x2.

## Models

Block columns are hidden/layers/heads/kv_heads. "xattn" = encoder cross-attn after all layers or only the last /
decoder cross-attn in all layers or only the first. "proj" = `model.global_transformer.token_embedding_projection`
exists (k*enc_h != global_h). Thetas are patcher / encoder / global / decoder. "zero tail" = texts whose patch_lengths
end with a zero-length patch (and number of generation steps where that happened). "split" = texts where
max_patch_length split at least one patch.

| model | dtype | params | size | hash fns x sizes mod vocab | patcher | encoder | global | decoder | k | proj | xattn enc/dec | window local/patcher | thetas | max_patch_len | threshold | min entropy margin | zero tail | split |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
{rows}

What each model covers:
{notes}

## Texts (every model)
ids = [1] + [byte + 4 for each UTF-8 byte] + [2].
{texts}

Generation prompts (ids = [1] + bytes, no EOS), {ngen} greedy new ids each:
{prompts}

## expected.json
- `threshold`: `patching_threshold` of config.json (a float32 value). Every patcher entropy of every case and of every
  generation step (all positions, every step re-patches the full prefix) is at least {margin} from it;
  `min_entropy_margin` records the smallest distance.
- `cases[]`: `ids`, `entropies` (patcher entropies in nats, float32 values as shortest repr), `patch_lengths` (as
  produced inside `BltModel.forward`, after max_patch_length processing, including a trailing zero-length patch when
  HF produces one; they always sum to len(ids)), `targets` = N-1, `nll_nats` = sum_t CE(logits[t], ids[t+1]) in
  float64, `bits_per_byte` = nll_nats / ln 2 / targets, `logits` = name of the F32 [N, 260] tensor.
- `intermediates_case` (`prose`): F32 tensors `prose.embeddings` [N, enc_h] (hash-augmented encoder input),
  `prose.encoder_states` [N, enc_h] (encoder byte states after its last layer), `prose.encoder_patches`
  [num_patches * cross_attn_k, enc_h] (encoder cross-attn output; row p*k+j = sub-query j of patch p; the global input
  is this viewed as [num_patches, k*enc_h]), `prose.global_out` [num_patches, global_h], `prose.decoder_states`
  [N, dec_h] (decoder output before its final norm; logits == lm_head(norm(decoder_states)) bitwise),
  `prose.patcher_logits` [N, 260].
- `generation[]`: greedy argmax of the last logits of a full forward over all ids so far (identical to
  `generate(do_sample=False, use_cache=False)`), `min_top2_margin` >= {top2} (smallest top1 - top2 logit gap over steps),
  `min_entropy_margin`.
- `windowed[]`: the `long` case scored in windows as the Swift evaluator plans them (`WindowPlan.plan`, ported as
  `window_plan` in the script), one entry per (`window`, `context`): `windows[]` = the `input` and `scored` half-open
  ranges of document id indices and the `nll` (nats, float64, summed in target order) transformers gives when the
  window is run alone (a fresh BOS before `input` unless it starts at 0; its own patching), and `nll` = the windows'
  sum in order. Some windows have an entropy within {margin} of the threshold (the script prints each entry's margin).
- extra keys: `seed`, `intermediates_shapes`.

## transformers {transformers} behaviour these fixtures pin down (checked in this venv)
- Patching (`BltPatcher.patch_lengths_from_entropies`): starts = 0, 1, and every t in 2..N with H[t-1] > threshold
  (H[0] never used; compared in float32, i.e. the threshold is rounded to float32 first);
  lengths = diff(starts + [N]). If H[N-1] > threshold the start t = N gives a trailing **zero-length** patch, so
  lengths always sum to N. `patch_size` is only a switch (None => all-ones lengths).
- `max_patch_length` m (`process_patch_lengths`; applied to the patcher output, not to `patch_lengths` passed to
  forward explicitly): every patch > m becomes m, m, ..., remainder,
  and **zero-length patches are removed** (so models with m set never have a zero tail; see `zero tail` above and
  tiny-d `prose`, whose zero tail was dropped).
- Zero-length patch in the encoder cross-attention: its pooled query is 0 (scatter amax, include_self=False), its
  mask row is all `finfo(float32).min`, so the softmax is **uniform over all N bytes** (not zero): its k rows of
  `encoder_patches` equal `o_proj(mean_t v_t)` (verified). That row feeds the last global position (it influences no
  earlier patch and no decoder byte, so logits do not depend on it, but `encoder_patches` / `global_out` do).
- Encoder `cross_attn_all_layers=True` (tiny-c): after every layer HF pools the current byte states from scratch
  and runs `cross_attn_layers[i]`; each result overwrites the previous one, so only the last layer's cross-attention
  affects outputs (verified: changing `cross_attn_layers.0` leaves logits bitwise unchanged).
- Decoder byte t cross-attends to the k rows of global patch `dec_id[t]`, where dec_id = patch ids computed from
  `patch_lengths[1:]` (e.g. lengths [1,3,2,0], N=6: dec_id = [0,0,0,1,1,2], encoder ids = [0,1,1,1,2,2]).
- Local sliding window W (`local_attention_window_len`, mask built from `encoder_config.sliding_window` and shared by
  encoder and decoder): query q sees keys q-W+1..q (W keys incl. itself). Patcher: same with
  `patcher_config.sliding_window`. Global: plain causal.
- GQA: query head h uses kv head h // (heads / kv_heads) (`repeat_kv`). Cross-attention modules use the local
  config's `num_attention_heads` and `num_key_value_heads` too (tiny-b: k_proj/v_proj of cross-attn are [12, 24]).
  head_dim = hidden_size // num_attention_heads everywhere.
- RoPE theta comes from each sub-config's `rope_parameters` (patcher default 10000 when unset, others 500000);
  the top-level `rope_parameters` is unused.
- Greedy generation does not stop at EOS: several generations contain ids 0-3 (e.g. tiny-b, tiny-c, tiny-d); HF has
  no document masking, so they are ordinary inputs on the next step.
"""


class safe_open_dtypes:
    def __init__(self, path):
        self.path = path

    def __enter__(self):
        with open(self.path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(n))
        return {v["dtype"] for k, v in header.items() if k != "__metadata__"}

    def __exit__(self, *a):
        return False


if __name__ == "__main__":
    main()
