#!/usr/bin/env python3
"""Write the sampling oracle: what transformers' own sampling warpers keep and with which probabilities.

Run from the repository root with the pinned reference venv (see Converters/reference/README.md):

    .venv-ref/bin/python Converters/reference/make_sampling_fixture.py

Writes Tests/Fixtures/sampling/expected.json (schema below). The logits vectors are fixed: one is a row of the
committed tiny-a fixture (read from Tests/Fixtures/models/tiny-a/expected.safetensors, so the file does not depend
on the CPU that runs this script), the others are written out here with deliberate ties. For every (vector,
temperature, top_k, top_p) setting the warpers come from `model._get_logits_processor(GenerationConfig(...))` of a
real `BltForCausalLM`, i.e. the processors, their order (temperature, then top-k, then top-p) and their on/off
conditions exactly as `generate(do_sample=True)` builds them; the sampled distribution is softmax of the
processed scores (what `torch.multinomial` draws from in `_sample`).

Conventions mapped onto transformers: our top_k 0 means off (transformers: top_k=0 disables it too); our
top_p 0 means off (transformers: top_p=1.0). Temperature 0 is greedy: the expected id is `torch.argmax`.

expected.json:
  vectors[]: {name, logits (float32 values as shortest repr), argmax}
  settings[]: {vector, temperature, top_k, top_p, processors (class names in order),
               probabilities (float32 softmax of the processed scores, as doubles; 0 for removed ids),
               kept (ids with probability > 0, ascending),
               boundary_ties (ids whose logit equals the smallest kept one: transformers' choice among
                              them depends on torch.sort's order for equal values, so any of them may be kept)}
"""
import json
import math
import os
import sys

import torch
import transformers
from safetensors.torch import load_file
from transformers import BltForCausalLM, GenerationConfig

EXPECTED_TRANSFORMERS = "5.24.0"
EXPECTED_TORCH = "2.13.0+cpu"
OUT = os.path.join("Tests", "Fixtures", "sampling", "expected.json")
MODEL = os.path.join("Tests", "Fixtures", "models", "tiny-a")


def f32(x):
    return float(torch.tensor(x, dtype=torch.float32))


def vectors():
    logits = load_file(os.path.join(MODEL, "expected.safetensors"))["prose.logits"]
    model_row = logits[40].clone()  # a real next-byte distribution of tiny-a (after 40 ids of "prose")

    # ties at every boundary the settings below cut at
    ties = torch.full((260,), -3.0)
    ties[7] = 3.0
    ties[[20, 21, 22, 23]] = 2.0
    ties[[30, 31, 32, 33, 34, 35]] = 1.0
    ties[100:110] = 0.5

    # four equally likely ids (0.25 each, exactly), every other id has probability exactly 0
    exact = torch.full((260,), -1.0e4)
    exact[[65, 66, 67, 68]] = 0.0
    return [("model", model_row), ("ties", ties), ("exact", exact)]


SETTINGS = {
    "model": [(1.0, 0, 0.0), (0.7, 0, 0.0), (1.6, 0, 0.0), (1.0, 5, 0.0), (0.8, 0, 0.9), (1.0, 0, 0.5),
              (1.3, 20, 0.8), (1.0, 3, 0.95), (0.5, 40, 0.6)],
    # top-k 3: the 3rd largest value is tied 4 ways (ids 20..23) -> transformers keeps 5 ids.
    # top-k 6: cut inside the 1.0 group -> all 6 of them are kept (11 ids).
    # top-p 0.5 / 0.8: the boundary falls inside the 2.0 group / the 0.5 group.
    "ties": [(1.0, 3, 0.0), (1.0, 6, 0.0), (1.0, 0, 0.5), (1.0, 0, 0.8), (2.0, 6, 0.7), (1.0, 1, 0.0)],
    # top-p exactly at a cumulative mass: 0.5 keeps 2 of the 4 (the smallest set reaching p), 0.75 keeps 3;
    # top-k 2 keeps all 4 (tie); top-p 0.9 keeps 4 and never an id of probability 0.
    "exact": [(1.0, 0, 0.5), (1.0, 0, 0.75), (1.0, 2, 0.0), (1.0, 0, 0.9), (0.3, 0, 0.0)],
}


def processors(model, temperature, top_k, top_p):
    gc = GenerationConfig(do_sample=True, temperature=temperature, top_k=top_k,
                          top_p=top_p if top_p > 0 else 1.0)
    return model._get_logits_processor(generation_config=gc, input_ids_seq_length=1, device="cpu", model_kwargs={})


def main():
    assert transformers.__version__ == EXPECTED_TRANSFORMERS, transformers.__version__
    assert torch.__version__ == EXPECTED_TORCH, torch.__version__
    if not os.path.isdir(os.path.join("Tests", "Fixtures")):
        sys.exit("run from the repository root")
    torch.set_num_threads(1)
    model = BltForCausalLM.from_pretrained(MODEL).eval()
    out = {"transformers": transformers.__version__, "torch": torch.__version__, "vectors": [], "settings": []}
    for name, logits in vectors():
        logits = logits.float()
        out["vectors"].append({"name": name, "logits": [f32(x) for x in logits.tolist()],
                               "argmax": int(torch.argmax(logits))})
        for temperature, top_k, top_p in SETTINGS[name]:
            procs = processors(model, temperature, top_k, top_p)
            scores = procs(torch.tensor([[1]]), logits[None].clone())[0]
            probs = scores.softmax(-1)
            kept = [i for i in range(260) if probs[i] > 0]
            assert kept == [i for i in range(260) if scores[i] > -math.inf] or name == "exact", (name, temperature)
            # every warper is monotone in the logits, so ties are equal input logits
            lowest = min(float(logits[i]) for i in kept)
            ties = [i for i in range(260) if float(logits[i]) == lowest] if len(kept) < 260 else []
            out["settings"].append({
                "vector": name, "temperature": temperature, "top_k": top_k, "top_p": top_p,
                "processors": [type(p).__name__ for p in procs],
                "probabilities": [float(x) for x in probs.tolist()],
                "kept": kept,
                "boundary_ties": ties if len(ties) > 1 else [],
            })
            print(f"{name} T={temperature} k={top_k} p={top_p}: {[type(p).__name__ for p in procs]} keeps {len(kept)}"
                  f" (boundary ties {len(ties) if len(ties) > 1 else 0})")
    # the exact cases: the smallest set reaching p
    exact = [s for s in out["settings"] if s["vector"] == "exact"]
    assert len(exact[0]["kept"]) == 2 and len(exact[1]["kept"]) == 3 and len(exact[2]["kept"]) == 4, exact
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write(format_json(out) + "\n")
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes)")


def format_json(o, level=0):
    pad, end = "  " * (level + 1), "  " * level
    if isinstance(o, dict):
        return "{\n" + ",\n".join(f"{pad}{json.dumps(k)}: {format_json(v, level + 1)}" for k, v in o.items()) + "\n" + end + "}"
    if isinstance(o, list) and any(isinstance(x, (dict, list)) for x in o):
        return "[\n" + ",\n".join(pad + format_json(x, level + 1) for x in o) + "\n" + end + "]"
    return json.dumps(o)


if __name__ == "__main__":
    main()
