#!/usr/bin/env python3
"""Expected values for the lm-evaluation-harness backend (`blt serve`, Integrations/lm-eval), computed with
transformers 5.24 in fp32 — never with our engine.

Run from the repository root with the pinned reference venv (Converters/reference/README.md):

    .venv-ref/bin/python Converters/reference/make_lm_eval_fixtures.py

Writes Tests/Fixtures/lm-eval/:
  expected.json     per model: loglikelihood requests (context, continuation) with the sum of natural-log
                    probabilities of the continuation bytes given BOS + context (float64 log-softmax of the fp32
                    logits of one full forward over BOS + context + continuation, no EOS) and is_greedy; and a
                    multiple-choice task on Models/blt-tiny with every choice's loglikelihood, acc and acc_norm
                    as lm-eval defines them.
  multiple_choice.jsonl, rolling.jsonl
                    the local task data (read by Integrations/lm-eval/tests/tasks/*.yaml).

Deterministic (1 thread, deterministic algorithms, eager attention). Requests whose patching is fragile (a patcher
entropy within 1e-4 of the threshold) or whose is_greedy is fragile (a target logit within 1e-4 of the best other
logit) are dropped and counted, so float rounding differences cannot flip a patch boundary or an argmax.
"""

from __future__ import annotations

import json
import math
import os
import sys

import torch
import torch.nn.functional as F
import transformers
from transformers import BltForCausalLM

EXPECTED_TRANSFORMERS = "5.24.0"
EXPECTED_TORCH = "2.13.0+cpu"
OUT = os.path.join("Tests", "Fixtures", "lm-eval")
MARGIN = 1e-4

MODELS = {
    "tiny-a": "Tests/Fixtures/models/tiny-a",
    "tiny-b": "Tests/Fixtures/models/tiny-b",
    "tiny-c": "Tests/Fixtures/models/tiny-c",
    "tiny-d": "Tests/Fixtures/models/tiny-d",
    "tiny-a-bf16": "Tests/Fixtures/models/tiny-a-bf16",
    "blt-tiny": "Models/blt-tiny",
}

# (context, continuation); the empty context and multi-byte UTF-8 are deliberate.
REQUESTS = [
    ("", "The quick"),
    ("The quick brown", " fox"),
    ("The quick brown", " cat"),
    ("The quick brown", " dog jumps"),
    ("def mean(xs):\n", "    return"),
    ("Café naïve", " über Größe"),
    ("A", "B"),
    ("In the beginning the engine read every byte on its own, and the encoder pooled them", " into patches."),
    ("Names refer to objects. Names are introduced by", " name binding operations."),
]
GREEDY_PROMPTS = ["Once upon a time", "def f(x):\n    return", "The ", "A scope defines", "Hello, world", "abc", "12345",
                  "The quick brown", "Names refer to"]

# Multiple choice on the trained bundled model: lm-eval feeds context = query, continuation = " " + choice.
MC_DOCS = [
    ("A function is defined with the keyword", ["def", "class", "import", "while"], 0),
    ("A class is defined with the keyword", ["def", "class", "lambda", "pass"], 1),
    ("The statement that leaves a loop early is", ["break", "yield", "global", "assert"], 0),
    ("An exception is raised with the statement", ["raise", "return", "del", "print"], 0),
    ("Names refer to", ["objects", "bananas", "colours", "sounds"], 0),
    ("A module is imported with the statement", ["import", "except", "with", "nonlocal"], 0),
    ("The value of an empty tuple is written", ["()", "[]", "{}", "''"], 0),
    ("Exceptions are handled with the statement", ["try", "for", "if", "del"], 0),
    ("The body of a function is a block of", ["statements", "bytes", "numbers", "files"], 0),
    ("A generator function contains the keyword", ["yield", "class", "import", "global"], 0),
    ("Boolean operations are", ["and, or and not", "plus and minus", "red and blue", "up and down"], 0),
    ("The built-in function that returns the length of a sequence is", ["len()", "size()", "count()", "long()"], 0),
]

ROLLING_TEXTS = [
    "Names refer to objects. Names are introduced by name binding operations. Each occurrence of a name in the "
    "program text refers to the binding of that name established in the innermost function block containing the use.",
    "A scope defines the visibility of a name within a block.",
    "Café naïve über Größe — 東京 ☕ 😀 ok! The quick brown fox jumps over the lazy dog. " * 3,
    "x",
]


def load(directory: str) -> BltForCausalLM:
    m = BltForCausalLM.from_pretrained(directory, attn_implementation="eager", use_cache=False).float().eval()
    for c in [m.config] + [getattr(m.config, n) for n in dir(m.config) if n.endswith("_config")]:
        if hasattr(c, "_attn_implementation"):
            c._attn_implementation = "eager"
    return m


def ids_of(text: str) -> list[int]:
    return [b + 4 for b in text.encode("utf-8")]


@torch.no_grad()
def score(model, context: str, continuation: str):
    """Σ log p(continuation | BOS + context), is_greedy, the smallest entropy-threshold distance, the smallest
    |target logit − best other logit|."""
    ctx, cont = [1] + ids_of(context), ids_of(continuation)
    ids = ctx + cont
    x = torch.tensor([ids])
    logits = model(input_ids=x, use_cache=False).logits[0]
    entropies, _, _ = model.model.patcher(x, patch_size=None)
    margin = float((entropies[0] - float(model.config.patching_threshold)).abs().min())
    rows = logits[len(ctx) - 1 : len(ids) - 1]
    target = torch.tensor(cont)
    logprobs = F.log_softmax(rows.double(), dim=-1)
    ll = float(logprobs.gather(1, target[:, None]).sum())
    greedy = bool((rows.argmax(dim=-1) == target).all())
    others = rows.clone()
    others[torch.arange(len(cont)), target] = -math.inf
    gap = float((rows.gather(1, target[:, None])[:, 0] - others.max(dim=-1).values).abs().min())
    return ll, greedy, margin, gap


@torch.no_grad()
def greedy_bytes(model, prompt: str, count: int) -> str | None:
    ids = [1] + ids_of(prompt)
    for _ in range(count):
        ids.append(int(model(input_ids=torch.tensor([ids]), use_cache=False).logits[0, -1].argmax()))
    new = ids[len(ids) - count :]
    if any(i < 4 for i in new):
        return None
    try:
        return bytes(i - 4 for i in new).decode("utf-8")
    except UnicodeDecodeError:
        return None


def main():
    assert transformers.__version__ == EXPECTED_TRANSFORMERS, transformers.__version__
    assert torch.__version__ == EXPECTED_TORCH, torch.__version__
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    if not os.path.isdir(os.path.join("Tests", "Fixtures")):
        raise SystemExit("run from the repository root")
    os.makedirs(OUT, exist_ok=True)

    out = {"generator": "Converters/reference/make_lm_eval_fixtures.py",
           "transformers": transformers.__version__, "torch": torch.__version__, "margin": MARGIN, "models": {}}
    for name, directory in MODELS.items():
        model = load(directory)
        candidates = list(REQUESTS)
        for prompt in GREEDY_PROMPTS:   # continuations that are the greedy bytes (valid UTF-8 only)
            for count in (6, 3, 1):
                cont = greedy_bytes(model, prompt, count)
                if cont is not None:
                    candidates.append((prompt, cont))
                    break
        kept, dropped = [], 0
        for context, continuation in candidates:
            ll, greedy, margin, gap = score(model, context, continuation)
            if margin < MARGIN or gap < MARGIN:
                dropped += 1
                continue
            kept.append({"context": context, "continuation": continuation, "loglikelihood": ll, "is_greedy": greedy,
                         "min_entropy_margin": margin, "min_target_gap": gap})
        greedy_count = sum(r["is_greedy"] for r in kept)
        print(f"{name}: {len(kept)} requests ({greedy_count} greedy), {dropped} dropped", flush=True)
        assert len(kept) >= 6 and 0 < greedy_count < len(kept), name
        out["models"][name] = {"path": directory, "requests": kept, "dropped": dropped}

    model = load(MODELS["blt-tiny"])
    docs, correct, correct_norm = [], 0, 0
    for query, choices, gold in MC_DOCS:
        lls = []
        for choice in choices:
            ll, _, margin, _ = score(model, query, " " + choice)
            assert margin >= MARGIN, (query, choice, margin)
            lls.append(ll)
        pred = max(range(len(choices)), key=lambda i: lls[i])
        norm = [ll / len(c) for ll, c in zip(lls, choices)]   # lm-eval's acc_norm: by the choice's characters
        pred_norm = max(range(len(choices)), key=lambda i: norm[i])
        gaps = sorted(lls, reverse=True)
        assert gaps[0] - gaps[1] > MARGIN, query
        correct += pred == gold
        correct_norm += pred_norm == gold
        docs.append({"query": query, "choices": choices, "gold": gold, "loglikelihoods": lls, "pred": pred})
    out["multiple_choice"] = {"model": MODELS["blt-tiny"], "docs": docs, "acc": correct / len(docs),
                              "acc_norm": correct_norm / len(docs)}
    print(f"multiple choice: acc {correct}/{len(docs)}, acc_norm {correct_norm}/{len(docs)}")

    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")
    with open(os.path.join(OUT, "multiple_choice.jsonl"), "w") as f:
        for query, choices, gold in MC_DOCS:
            f.write(json.dumps({"query": query, "choices": choices, "gold": gold}, ensure_ascii=False) + "\n")
    with open(os.path.join(OUT, "rolling.jsonl"), "w") as f:
        for text in ROLLING_TEXTS:
            f.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    sys.exit(main())
