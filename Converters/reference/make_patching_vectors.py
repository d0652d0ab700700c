"""Patch lengths computed by the official facebookresearch/blt patcher, for every patching rule.

Writes Tests/Fixtures/official-patching.json: fixture ids and entropies, and what the official
`Patcher.patch` (bytelatent/data/patcher.py) returns for them under each rule, threshold, patch
size, max_patch_length and include_next_token. The Swift tests (OfficialPatchingTests) compare
`PatchingScheme.officialPatchLengths` with these numbers.

The official code is non-commercial and is not part of this repository: it is extracted from the
local mirror into a temporary directory at run time and imported from there. Only patcher.py and
the tokenizer constants are loaded; the modules it imports for training (distributed setup, the
entropy model loader, the sentencepiece tokenizer) are replaced by stubs, since patching from given
entropies never calls them.

Run from the repository root with the pinned reference venv:
    .venv-ref/bin/python Converters/reference/make_patching_vectors.py
"""
import importlib.util
import json
import os
import random
import subprocess
import sys
import tempfile
import types
from types import SimpleNamespace

import numpy as np
import torch

MIRROR = os.environ.get("BLT_OFFICIAL_GIT_DIR", "/work/.mirror/facebookresearch+blt/repo")
OUT = "Tests/Fixtures/official-patching.json"


def load_official_patcher():
    root = tempfile.mkdtemp(prefix="blt-official-")
    commit = subprocess.run(["git", "--git-dir", MIRROR, "rev-parse", "HEAD"], check=True,
                            capture_output=True, text=True).stdout.strip()
    archive = subprocess.run(["git", "--git-dir", MIRROR, "archive", commit, "bytelatent"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", root], input=archive, check=True)
    # Packages as bare namespaces, so that their __init__ files (training code) do not run.
    for name in ["bytelatent", "bytelatent.data", "bytelatent.tokenizers"]:
        package = types.ModuleType(name)
        package.__path__ = [os.path.join(root, *name.split("."))]
        sys.modules[name] = package

    def load(name, relative):
        spec = importlib.util.spec_from_file_location(name, os.path.join(root, relative))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module

    constants = load("bytelatent.tokenizers.constants", "bytelatent/tokenizers/constants.py")
    stubs = {
        "bytelatent.distributed": {"get_local_rank": lambda: 0},
        "bytelatent.entropy_model": {"load_entropy_model": None},
        "bytelatent.tokenizers.blt_tokenizer": {"BPE_ID": constants.BPE_ID, "OFFSET": constants.OFFSET},
    }
    for name, attributes in stubs.items():
        module = types.ModuleType(name)
        for key, value in attributes.items():
            setattr(module, key, value)
        sys.modules[name] = module
    patcher = load("bytelatent.data.patcher", "bytelatent/data/patcher.py")
    return patcher, commit


def f32(x):
    return float(np.float32(x))


def official(patcher, mode, ids, entropies, include_next_token, threshold=None, threshold_add=None,
             monotonicity=False, patch_size=4, max_patch_length=None):
    args = SimpleNamespace(patching_mode=patcher.PatchingModeEnum(mode), realtime_patching=False, threshold=threshold,
                           threshold_add=threshold_add, max_patch_length=max_patch_length, patch_size=patch_size,
                           patching_batch_size=1, device="cpu", monotonicity=monotonicity, log_time=False)
    tokens = torch.tensor([ids], dtype=torch.long)
    scores = torch.tensor([entropies], dtype=torch.float32) if entropies is not None else None
    try:
        lengths, _ = patcher.Patcher(args).patch(tokens, include_next_token=include_next_token, entropies=scores,
                                                 threshold=threshold)
    except Exception as error:  # the official code refuses this input (e.g. top-k with too few ids)
        return {"error": type(error).__name__}
    return {"patch_lengths": [int(v) for v in lengths[0].tolist()]}


def sequences():
    vectors = json.load(open("Tests/Fixtures/official-vectors.json"))
    example = vectors["entropy_patching"]
    yield "daenerys", [int(v) for v in example["ids"]], [f32(v) for v in example["entropies_nats"]]
    rng = random.Random(20261206)
    sample = open("Models/sample.txt", "rb").read()
    texts = [b"", b"a", b"ab", b" x", b"Hi, you!", "naïve café — 漢字 test, 42!".encode(), b"a  b\n\tc--d",
             sample[:40], sample[100:197], sample[300:600]]
    for i, text in enumerate(texts):
        ids = [1] + [b + 4 for b in text] + ([2] if i % 2 == 0 else [])
        # Uniform entropies in [0, 5.5) nats, as float32: distinct values, so top-k has no ties.
        entropies = [f32(rng.random() * 5.5) for _ in ids]
        yield f"text{i}", ids, entropies


def main():
    patcher, commit = load_official_patcher()
    cases = []
    for name, ids, entropies in sequences():
        for include in (False, True):
            for max_length in (None, 3):
                common = {"sequence": name, "include_next_token": include, "max_patch_length": max_length}

                def add(rule, result, **settings):
                    cases.append({**common, "rule": rule, **settings, **result})

                for threshold in (0.5, 1.335442066192627, 2.0, 3.0):
                    t = f32(threshold)
                    add("entropy", official(patcher, "entropy", ids, entropies, include, threshold=t,
                                            max_patch_length=max_length), threshold=t)
                for threshold in (0.0, 0.5, 1.0, 2.5):
                    t = f32(threshold)
                    add("monotonic", official(patcher, "entropy", ids, entropies, include, threshold=t, monotonicity=True,
                                              max_patch_length=max_length), threshold=t)
                for threshold, add_value in ((1.0, 0.0), (1.335442066192627, 0.5), (2.0, 1.0), (0.5, -0.5)):
                    t, a = f32(threshold), f32(add_value)
                    add("entropy+monotonic", official(patcher, "entropy", ids, entropies, include, threshold=t,
                                                      threshold_add=a, max_patch_length=max_length),
                        threshold=t, threshold_add=a)
                for size in (1, 2, 3, 4, 6):
                    add("topk", official(patcher, "entropy", ids, entropies, include, threshold=None, patch_size=size,
                                         max_patch_length=max_length), patch_size=size)
                    # Static: the official model puts patch_size − 1 BOE ids (BOE_ID 0) before the BOS
                    # (nb_boe), so its first patch holds the BOS alone; the BOEs are taken off that patch
                    # here. With max_patch_length that BOE patch itself would be split: not a case.
                    if max_length is not None:
                        continue
                    result = official(patcher, "static", [0] * (size - 1) + ids, None, include, patch_size=size)
                    if "patch_lengths" in result:
                        result["patch_lengths"][0] -= size - 1
                        if result["patch_lengths"][0] == 0:
                            result["patch_lengths"] = result["patch_lengths"][1:]
                    add("static", result, patch_size=size)
                add("space", official(patcher, "space", ids, None, include, max_patch_length=max_length))
    out = {
        "source": f"facebookresearch/blt {commit}, bytelatent/data/patcher.py Patcher.patch, run by "
                  "Converters/reference/make_patching_vectors.py (torch " + torch.__version__ + ")",
        "sequences": {name: {"ids": ids, "entropies": entropies} for name, ids, entropies in sequences()},
        "cases": cases,
    }
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    errors = sum("error" in c for c in cases)
    print(f"wrote {OUT}: {len(cases)} cases ({errors} refused by the official code)")


if __name__ == "__main__":
    main()
