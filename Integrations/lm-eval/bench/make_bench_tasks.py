#!/usr/bin/env python3
"""Data for the lm-eval benchmark tasks (Docs/benchmarks.md), from Models/sample.txt, written to bench-out/lm-eval/:

- multiple_choice.jsonl: 50 questions x 4 choices = 200 loglikelihood requests. Each query is 6 to 9 words of a
  line of the sample; the choices are the true next word and the next words of three other questions.
- rolling.jsonl: the sample cut into 4 documents of about 640 bytes (2,545 bytes in all).

Deterministic (seeded). Run from the repository root: python3 Integrations/lm-eval/bench/make_bench_tasks.py
"""
import json
import os
import random

random.seed(14)
text = open(os.path.join("Models", "sample.txt"), encoding="utf-8").read()
out = os.path.join("bench-out", "lm-eval")
os.makedirs(out, exist_ok=True)

words = text.split()
starts = list(range(0, len(words) - 10, 7))
items = []
for s in starts[:50]:
    n = 6 + s % 4
    items.append((" ".join(words[s : s + n]), words[s + n]))
assert len(items) == 50
with open(os.path.join(out, "multiple_choice.jsonl"), "w", encoding="utf-8") as f:
    for i, (query, answer) in enumerate(items):
        others = [w for _, w in random.sample(items[:i] + items[i + 1 :], 10) if w != answer]
        choices = [answer] + list(dict.fromkeys(others))[:3]
        random.shuffle(choices)
        f.write(json.dumps({"query": query, "choices": choices, "gold": choices.index(answer)}, ensure_ascii=False) + "\n")

data = text.encode("utf-8")
with open(os.path.join(out, "rolling.jsonl"), "w", encoding="utf-8") as f:
    cut, start = [], 0
    for k in range(1, 4):
        end = data.index(b"\n", k * len(data) // 4) + 1
        cut.append(data[start:end].decode("utf-8"))
        start = end
    cut.append(data[start:].decode("utf-8"))
    for document in cut:
        f.write(json.dumps({"text": document}, ensure_ascii=False) + "\n")
print(f"wrote {out}/multiple_choice.jsonl (50 x 4 requests) and rolling.jsonl ({len(data)} bytes in 4 documents)")
