"""Writes Tests/Fixtures/long-patching.json: the entropies and patch lengths of a text longer than
the entropy model's positions (max_position_embeddings 8192) under transformers' patcher, run in
one pass over the whole sequence in float64 with the rotary angles in float64 too.

Why float64: transformers computes rotary angles as float32 position x inv_freq, which at positions
near 9,000 rounds an angle by up to 1e-3 rad; its own float32 pass then strays from the exact
entropies by up to 2.2e-3 (printed below). `blt patch` runs such a text window by window
(Docs/patching.md), at small positions; where layers x sliding window fits in half the positions
(tiny-a: 2 x 32) the windows see everything the whole sequence would. Pinned:
transformers==5.24.0, torch==2.13.0+cpu (requirements.txt).

    .venv-ref/bin/python Converters/reference/make_long_patching_fixture.py
"""
import json
import os

import torch
from transformers import BltForCausalLM
from transformers.models.blt import modeling_blt

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODEL = os.path.join(ROOT, "Tests", "Fixtures", "models", "tiny-a")
OUT = os.path.join(ROOT, "Tests", "Fixtures", "long-patching.json")
TEXT_BYTES = 10_000          # + BOS + EOS: 10,002 ids, past the 8,192 positions
ENTROPIES_FROM = 7_900       # entropies stored from here on (across the first window's end)


def rotary_in_float64(self, x, position_ids):
    """transformers' BltRotaryEmbedding.forward with the angles in float64 instead of float32."""
    freqs = position_ids[..., None].to(torch.float64) * self.inv_freq.to(torch.float64)
    emb = torch.repeat_interleave(freqs, 2, dim=-1)
    return (emb.cos() * self.attention_scaling).to(x.dtype), (emb.sin() * self.attention_scaling).to(x.dtype)


def main():
    text = (open(os.path.join(ROOT, "Models", "sample.txt"), "rb").read() * 5)[:TEXT_BYTES]
    ids = [1] + [b + 4 for b in text] + [2]
    model = BltForCausalLM.from_pretrained(MODEL, attn_implementation="eager").float().eval()
    c = model.config
    with torch.no_grad():
        float32 = model.model.patcher(torch.tensor([ids]))[0][0].double()
    modeling_blt.BltRotaryEmbedding.forward = rotary_in_float64
    model = model.double()
    with torch.no_grad():
        ent = model.model.patcher(torch.tensor([ids]))[0][0]
        print(f"transformers' float32 pass strays from these by up to {float((float32 - ent).abs().max()):.3g}")
        # The threshold: the float32 midpoint of the widest gap between entropies near the config's,
        # so no decision sits within rounding of it (the test passes it with --threshold).
        values = sorted(ent.tolist())
        gaps = [(b - a, (a + b) / 2) for a, b in zip(values, values[1:]) if abs((a + b) / 2 - c.patching_threshold) < 0.5]
        threshold = float(torch.tensor(max(gaps)[1], dtype=torch.float32))
        _, lengths, _ = model.model.patcher(torch.tensor([ids]), patch_size=c.patch_size,
                                            threshold=threshold, max_patch_length=c.max_patch_length)
    margin = float((ent - threshold).abs().min())
    assert margin > 3e-3, f"an entropy is within {margin} of the threshold: pick another text"
    lengths = [int(x) for x in lengths[0].tolist()]
    while lengths and lengths[-1] == 0:
        lengths.pop()
    fixture = {
        "about": "transformers 5.24.0 patcher entropies and patch lengths of Models/sample.txt x5 cut to 10,000 bytes "
                 "(BOS + bytes + EOS = 10,002 ids) under tiny-a, one pass over the whole sequence in float64 with float64 "
                 "rotary angles; written by Converters/reference/make_long_patching_fixture.py",
        "model": "models/tiny-a",
        "text": {"source": "Models/sample.txt", "repeat": 5, "bytes": TEXT_BYTES},
        "ids": len(ids),
        "threshold": threshold,
        "min_entropy_margin": margin,
        "entropies_from": ENTROPIES_FROM,
        "entropies": [float(x) for x in ent[ENTROPIES_FROM:].tolist()],
        "patch_lengths": lengths,
    }
    with open(OUT, "w") as f:
        json.dump(fixture, f)
        f.write("\n")
    print(f"wrote {OUT}: {len(ids)} ids, {len(lengths)} patches, margin {margin:.3g}")


if __name__ == "__main__":
    main()
