#!/usr/bin/env python3
"""Linear-layer FLOPs of a `blt eval --json` run, and the rate they were done at.

  eval_flops.py MODEL_DIR/config.json EVAL.json [EVAL.json ...]

Counts 2·rows·in·out for every linear layer of the four stacks (entropy model, local encoder,
global transformer, local decoder), from the run's ids (targets + one BOS per window, --context 0)
and patches (scored patches + one BOS patch per window). Attention's own products, norms and
the rest are not counted, so FLOPs / seconds is a lower bound on the GEMM rate reached.
Standard library only.
"""
import json
import sys


def stack(c, rows):
    d, i = c["hidden_size"], c["intermediate_size"]
    kv = c.get("num_key_value_heads") or c["num_attention_heads"]
    kv_width = kv * (d // c["num_attention_heads"])
    return rows * c["num_hidden_layers"] * 2 * (2 * d * d + 2 * d * kv_width + 3 * d * i)


def flops(config, ids, patches):
    p, e, g, dc = (config[k] for k in ("patcher_config", "encoder_config", "global_config", "decoder_config"))
    k = config["cross_attn_k"]
    de, dd, dg = e["hidden_size"], dc["hidden_size"], g["hidden_size"]
    parts = {
        "entropy model": stack(p, ids) + 2 * ids * p["hidden_size"] * 260,
        # layers; cross-attention: k/v over bytes, q/o over k queries per patch; patch projection
        "local encoder": stack(e, ids) + 2 * ids * 2 * de * de + 2 * patches * k * 2 * de * de + 2 * patches * de * k * de,
        "global transformer": stack(g, patches) + (2 * patches * k * de * dg if k * de != dg else 0),
        # patch projection; per cross-attention layer q/o over bytes, k/v over k rows per patch; LM head
        "local decoder": stack(dc, ids) + 2 * patches * dg * k * dd
        + dc["num_hidden_layers"] * (2 * ids * 2 * dd * dd + 2 * patches * k * 2 * dd * dd) + 2 * ids * dd * 260,
    }
    return parts


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    config = json.load(open(sys.argv[1]))
    for path in sys.argv[2:]:
        run = json.load(open(path))
        if run["settings"]["context"] != 0:
            sys.exit(f"{path}: only --context 0 runs are counted")
        ids = run["targets"] + run["windows"]
        patches = run["patches"] + run["windows"]
        parts = flops(config, ids, patches)
        total = sum(parts.values())
        print(f"{path}: {ids} ids, {patches} patches, {run['seconds']:.2f} s")
        for name, value in parts.items():
            print(f"  {name:20s} {value / 1e9:9.1f} GFLOP")
        print(f"  {'all linear layers':20s} {total / 1e9:9.1f} GFLOP, {total / 1e9 / run['seconds']:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
