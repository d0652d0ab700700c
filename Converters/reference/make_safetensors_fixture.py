#!/usr/bin/env python3
"""Writes the safetensors test fixtures that Tests/SafetensorsTests reads back bit-exactly.

Run from the repository root with the reference environment (torch, safetensors, numpy,
huggingface_hub; nothing is installed by this script):

    /work/main/.venv-ref/bin/python Converters/reference/make_safetensors_fixture.py

Outputs (all deterministic, < 50 KB in total):
  Tests/Fixtures/safetensors/python.safetensors      written by safetensors.torch.save_file
  Tests/Fixtures/safetensors/python-expected.json    per tensor: dtype, shape, the raw bit pattern
                                                     of every element as an unsigned integer
                                                     ("bits"), and for float dtypes the bits of the
                                                     element converted to float32 ("f32_bits");
                                                     for integer dtypes the values ("ints")
  Tests/Fixtures/safetensors/sharded/                 a 2-shard checkpoint written by
                                                     huggingface_hub.save_torch_state_dict (shards
                                                     + model.safetensors.index.json, as HF does)
  Tests/Fixtures/safetensors/sharded-expected.json   same format as python-expected.json
"""
import json
import os
import shutil
import sys

import numpy as np
import torch
from safetensors.torch import save_file
import safetensors

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "safetensors")


def from_bits(bits, dtype, shape):
    """A tensor of `dtype` whose elements have the given raw bit patterns (unsigned ints)."""
    width = {torch.bfloat16: 16, torch.float16: 16, torch.float32: 32}[dtype]
    signed = [b - (1 << width) if b >= (1 << (width - 1)) else b for b in bits]
    idt = {16: torch.int16, 32: torch.int32}[width]
    return torch.tensor(signed, dtype=idt).view(dtype).reshape(shape)


def describe(t):
    """Expected-values entry for one tensor."""
    flat = t.contiguous().reshape(-1)
    entry = {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape)}
    if t.dtype in (torch.float32, torch.float16, torch.bfloat16, torch.float64):
        width = {torch.float32: 32, torch.float16: 16, torch.bfloat16: 16, torch.float64: 64}[t.dtype]
        idt = {16: torch.int16, 32: torch.int32, 64: torch.int64}[width]
        mask = (1 << width) - 1
        entry["bits"] = [int(v) & mask for v in flat.view(idt).tolist()]
        if t.dtype == torch.float16:
            # numpy widens binary16 exactly (payload kept); only quiet NaNs are used in the fixture.
            f32 = flat.numpy().astype(np.float32)
        elif t.dtype == torch.bfloat16:
            f32 = flat.float().numpy()  # exact: bf16 is the top half of f32
        else:
            with np.errstate(over="ignore"):
                f32 = flat.numpy().astype(np.float32)  # f64: round to nearest even (1e300 → inf)
        entry["f32_bits"] = [int(v) for v in f32.view(np.uint32).tolist()]
    else:
        entry["ints"] = [int(v) for v in flat.to(torch.int64).tolist()]
    return entry


def main():
    torch.manual_seed(1234)
    os.makedirs(OUT, exist_ok=True)

    f32_specials = [0x7F800000, 0xFF800000, 0x7FC00000, 0x00000001, 0x007FFFFF, 0x80000000,
                    0x3F800000, 0x7F7FFFFF, 0xFFC00000, 0x00800000, 0x80000001, 0x7FC00001]
    bf16_specials = [0x7F80, 0xFF80, 0x7FC0, 0x0001, 0x007F, 0x8000, 0x3F80, 0x7F7F, 0xFFC0,
                     0x0080, 0x8001, 0x4049, 0xC2F7, 0x3E80, 0x0000]
    f16_specials = [0x7C00, 0xFC00, 0x7E00, 0x0001, 0x03FF, 0x8000, 0x3C00, 0x7BFF, 0xFE00,
                    0x0400, 0x8001, 0x3555, 0x0000, 0x83FF, 0x7E01]

    tensors = {
        "f32.odd": torch.randn(3, 5),
        "f32.specials": from_bits(f32_specials, torch.float32, (4, 3)),
        "f32.scalar": torch.tensor(2.5),
        "f32.empty": torch.zeros(0, 3),
        "bf16.specials": from_bits(bf16_specials, torch.bfloat16, (5, 3)),
        "bf16.embedding": torch.randn(7, 9).to(torch.bfloat16),
        "f16.specials": from_bits(f16_specials, torch.float16, (3, 5)),
        "f16.odd": torch.randn(2, 3, 5).to(torch.float16),
        "f64.vec": torch.tensor([1.0 / 3.0, -2.5e-300, 1e300, 0.1], dtype=torch.float64),
        "i64.vec": torch.tensor([0, 1, -1, 2**62, -(2**63), 2**63 - 1, 12345], dtype=torch.int64),
        "i32.mat": torch.tensor([[1, -2, 3], [2**31 - 1, -(2**31), 0]], dtype=torch.int32),
        "i16.vec": torch.tensor([-32768, 32767, -1], dtype=torch.int16),
        "i8.vec": torch.tensor([-128, 127, 0, -5], dtype=torch.int8),
        "u8.vec": torch.tensor([0, 255, 17], dtype=torch.uint8),
        "bool.vec": torch.tensor([True, False, True, True, False]),
    }
    metadata = {"format": "pt", "producer": "make_safetensors_fixture.py", "note": "unicode \u2713 \"quoted\""}
    path = os.path.join(OUT, "python.safetensors")
    save_file(tensors, path, metadata=metadata)
    expected = {"safetensors_version": safetensors.__version__, "torch_version": torch.__version__,
                "metadata": metadata, "tensors": {k: describe(v) for k, v in tensors.items()}}
    with open(os.path.join(OUT, "python-expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")

    # Sharded checkpoint, written the way Hugging Face writes them.
    from huggingface_hub import save_torch_state_dict
    sharded_dir = os.path.join(OUT, "sharded")
    shutil.rmtree(sharded_dir, ignore_errors=True)
    os.makedirs(sharded_dir)
    sd = {
        "embed.weight": torch.randn(6, 4).to(torch.bfloat16),
        "layers.0.w": torch.randn(4, 4),
        "layers.1.w": torch.randn(4, 4),
        "norm.weight": torch.ones(4).to(torch.bfloat16),
    }
    save_torch_state_dict(sd, sharded_dir, max_shard_size=130, safe_serialization=True)
    files = sorted(os.listdir(sharded_dir))
    shards = [f for f in files if f.endswith(".safetensors")]
    if len(shards) != 2 or "model.safetensors.index.json" not in files:
        sys.exit(f"expected 2 shards and an index, got {files}")
    with open(os.path.join(OUT, "sharded-expected.json"), "w") as f:
        json.dump({"files": files, "tensors": {k: describe(v) for k, v in sd.items()}}, f, indent=1, sort_keys=True)
        f.write("\n")

    total = sum(os.path.getsize(os.path.join(dp, fn)) for dp, _, fns in os.walk(OUT) for fn in fns)
    print(f"wrote fixtures to {OUT}: {total} bytes")


if __name__ == "__main__":
    main()
