#!/usr/bin/env python3
"""Shared-context scoring (Docs/benchmarks.md): a 4-choice task through `blt serve --stdio`, timed two ways.

  shared_context.py --model DIR --blt BIN [--blt BIN2 …] [--questions N]

Each question is a 300-byte context (consecutive GPL-3 text) with 4 continuations of 20 bytes (" " + 19 bytes
from elsewhere in the licence), as lm-eval's multiple-choice tasks ask. Every binary scores the same requests
in two orders, each in a `blt serve` of its own (the model load is not timed):

  grouped  a question's 4 requests one after the other, as the lm-eval adapter sends them: the engine prefills
           the context once and scores each continuation on a copy of that state;
  alone    round robin over the questions, so no request follows one with its context: every request runs
           its whole context again (what scoring each request by itself costs).

Prints seconds and requests/s per binary and order, the speed-up of grouped over alone, and the largest
relative difference of any loglikelihood from the first run's. Standard library only.
"""
import argparse
import json
import subprocess
import time

SOURCE = "/usr/share/common-licenses/GPL-3"
CONTEXT_BYTES, CONTINUATION_BYTES, CHOICES = 300, 20, 4


def questions(count):
    text = " ".join(open(SOURCE, encoding="utf-8").read().split())
    made = []
    for q in range(count):
        start = 1000 + q * CONTEXT_BYTES
        context = text[start:start + CONTEXT_BYTES]
        choices = []
        for c in range(CHOICES):
            at = 20000 + (q * CHOICES + c) * 97
            choices.append(" " + text[at:at + CONTINUATION_BYTES - 1])
        assert len(context.encode()) == CONTEXT_BYTES and all(len(c.encode()) == CONTINUATION_BYTES for c in choices)
        made.append((context, choices))
    return made


def requests(made, order):
    indices = [(q, c) for q in range(len(made)) for c in range(CHOICES)]
    if order == "alone":
        indices.sort(key=lambda qc: (qc[1], qc[0]))
    return [({"type": "loglikelihood", "context": made[q][0], "continuation": made[q][1][c], "id": f"{q}/{c}"})
            for q, c in indices]


def serve(blt, model, lines):
    process = subprocess.Popen([blt, "serve", "--stdio", "--model", model], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready = process.stderr.readline()
    if "loaded" not in ready:
        raise SystemExit(f"{blt} serve did not start: {ready}{process.stderr.read()}")
    start = time.perf_counter()
    results = {}
    for request in lines:   # one at a time: the engine answers each line before the next arrives
        process.stdin.write(json.dumps(request) + "\n")
        process.stdin.flush()
        response = json.loads(process.stdout.readline())
        if "error" in response:
            raise SystemExit(f"{blt}: {response['error']}")
        results[response["id"]] = response["loglikelihood"]
    seconds = time.perf_counter() - start
    process.stdin.close()
    process.wait()
    return seconds, results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--blt", action="append", required=True, help="a blt binary (repeat to compare binaries)")
    parser.add_argument("--questions", type=int, default=4)
    args = parser.parse_args()
    made = questions(args.questions)
    reference, rows = None, []
    for blt in args.blt:
        for order in ("grouped", "alone"):
            lines = requests(made, order)
            seconds, results = serve(blt, args.model, lines)
            reference = reference or results
            worst = max(abs(results[k] - reference[k]) / abs(reference[k]) for k in reference)
            rows.append((blt, order, seconds, len(lines) / seconds, worst))
            print(f"{blt}  {order:7}  {len(lines)} requests  {seconds:8.2f} s  {len(lines) / seconds:6.3f} requests/s  "
                  f"max relative difference {worst:.1e}", flush=True)
    for blt in args.blt:
        grouped, alone = (next(r[2] for r in rows if r[0] == blt and r[1] == order) for order in ("grouped", "alone"))
        print(f"{blt}: grouped {alone / grouped:.2f}x faster than alone")


if __name__ == "__main__":
    main()
