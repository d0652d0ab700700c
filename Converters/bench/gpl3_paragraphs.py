#!/usr/bin/env python3
"""Benchmark inputs for packed evaluation, made from the GPL-3 text Debian ships.

  gpl3_paragraphs.py jsonl OUT.jsonl   the first 60 paragraphs of 150-300 bytes, one {"text": ...} per line
  gpl3_paragraphs.py long OUT.txt      one 2 KiB document: bytes 325 ..< 2373 (as in Docs/benchmarks.md)
  gpl3_paragraphs.py concat OUT.txt    the JSONL's paragraphs joined by blank lines, as one document

Paragraphs are split at blank lines; whitespace runs inside a paragraph become one space. A paragraph
longer than 300 bytes is cut at sentence ends (". ", "; ", ": ") into pieces of at most 300 bytes; pieces
(and paragraphs) shorter than 150 bytes are left out.
Standard library only, deterministic: the same licence file gives the same bytes.
"""
import json
import re
import sys

SOURCE = "/usr/share/common-licenses/GPL-3"
COUNT, SHORTEST, LONGEST = 60, 150, 300


def paragraphs():
    text = open(SOURCE, encoding="utf-8").read()
    chosen = []
    for block in re.split(r"\n\s*\n", text):
        piece = ""
        for sentence in re.split(r"(?<=[.;:])\s+", " ".join(block.split())):
            joined = (piece + " " + sentence).strip()
            if len(joined.encode()) <= LONGEST:
                piece = joined
                continue
            if SHORTEST <= len(piece.encode()) <= LONGEST:
                chosen.append(piece)
            piece = sentence
        if SHORTEST <= len(piece.encode()) <= LONGEST:
            chosen.append(piece)
    chosen = chosen[:COUNT]
    if len(chosen) < COUNT:
        sys.exit(f"only {len(chosen)} paragraphs of {SHORTEST}-{LONGEST} bytes in {SOURCE}")
    return chosen


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("jsonl", "long", "concat"):
        sys.exit(__doc__)
    mode, out = sys.argv[1], sys.argv[2]
    with open(out, "wb") as f:
        if mode == "jsonl":
            for p in paragraphs():
                f.write((json.dumps({"text": p}, ensure_ascii=False) + "\n").encode())
        elif mode == "long":
            f.write(open(SOURCE, "rb").read()[325:325 + 2048])
        else:
            f.write("\n\n".join(paragraphs()).encode())


if __name__ == "__main__":
    main()
