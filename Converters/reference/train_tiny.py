#!/usr/bin/env python3
"""Train the tiny Byte Latent Transformer that ships in Models/blt-tiny.

Run from the repository root with the pinned reference environment
(transformers==5.24.0, torch==2.13.0+cpu):

    .venv-ref/bin/python Converters/reference/train_tiny.py

Outputs (all deterministic for a given machine / thread count):
    Models/sample.txt                    held-out prose (never trained on)
    Models/blt-tiny/config.json          BltConfig, patch_in_forward=True, patching_threshold set
    Models/blt-tiny/model.safetensors    bf16 weights
    Models/blt-tiny/reference-eval.json  bits-per-byte etc. of Models/sample.txt, computed by transformers
                                         from the *saved* weights (reloaded, upcast to fp32)
    Models/blt-tiny/training-log.json    hyper-parameters, timings, losses

Data: the Python Language Reference text that Debian ships as
/usr/lib/python3.11/pydoc_data/topics.py (package libpython3.11-stdlib 3.11.2-6+deb12u6,
Python Software Foundation License Version 2; see /usr/share/doc/libpython3.11-stdlib/copyright).
The file is a Python dict literal {topic: text}; it is read with ast.literal_eval (never imported).
The topics "execmodel", "naming", "exceptions" and "dynamic-features" (the "Execution model" chapter,
whose paragraphs those topics share) are held out; Models/sample.txt is cut from "execmodel".

Stage 1 trains the entropy model (the `model.patcher` submodule, a small Llama-style byte LM).
The threshold is then chosen from held-out entropies so that patches average ~4.5 bytes.
Stage 2 trains the full BltForCausalLM with the patcher frozen, feeding it the patch lengths the
frozen patcher produces (computed per row exactly as `patch_in_forward=True` does for batch size 1).
"""

import argparse
import ast
import hashlib
import json
import math
import os
import random
import sys
import time

# The build machine is shared: with the default (spinning) OpenMP wait policy, 2 threads are ~3x slower
# than 1 when the cores are oversubscribed (measured: 3.2 s vs 1.0 s per stage-1 step). PASSIVE fixes it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch
import torch.nn.functional as F

from transformers import BltConfig, BltForCausalLM
from transformers.models.blt.modeling_blt import BltPatcher

DATA_FILE = "/usr/lib/python3.11/pydoc_data/topics.py"
DATA_SHA256 = "2d8108030912648feda37d4894ab700d247582568fe7a53260dd6a3c2d8e518d"
HELD_OUT_TOPICS = ("execmodel", "naming", "exceptions", "dynamic-features")
SAMPLE_TOPIC, SAMPLE_START, SAMPLE_MAX_BYTES = "execmodel", "Resolution of names\n", 3072

BOS, EOS, OFFSET = 1, 2, 4
T0 = time.time()


def log(msg):
    print(f"[{time.time() - T0:7.1f}s] {msg}", flush=True)


def seed_all(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def encode(text):
    return [BOS] + [b + OFFSET for b in text.encode("utf-8")] + [EOS]


# ----------------------------------------------------------------------------------------------- data
def load_data():
    raw = open(DATA_FILE, "rb").read()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != DATA_SHA256:
        log(f"WARNING: {DATA_FILE} sha256 {digest} != expected {DATA_SHA256}; results will differ")
    src = raw.decode("utf-8")
    topics = ast.literal_eval(src.split("=", 1)[1].strip())

    held_paras = set()
    for k in HELD_OUT_TOPICS:
        held_paras.update(topics[k].split("\n\n"))

    # training docs: every other topic, paragraphs de-duplicated (topics such as "compound" repeat
    # the text of "if", "while", ...), and nothing that also appears in a held-out topic.
    seen, train_docs = set(), []
    for k in sorted(topics):
        if k in HELD_OUT_TOPICS:
            continue
        keep = []
        for p in topics[k].split("\n\n"):
            if p in held_paras or (len(p) >= 40 and p in seen):
                continue
            seen.add(p)
            keep.append(p)
        if keep:
            train_docs.append("\n\n".join(keep))

    # held-out sample: consecutive paragraphs of "execmodel" starting at SAMPLE_START, <= 3 KB
    text = topics[SAMPLE_TOPIC]
    rest = text[text.index(SAMPLE_START):].split("\n\n")
    sample_paras, size = [], 0
    for p in rest:
        if size + len(p.encode()) + 2 > SAMPLE_MAX_BYTES:
            break
        sample_paras.append(p)
        size += len(p.encode()) + 2
    sample = "\n\n".join(sample_paras) + "\n"

    # validation text (for the threshold and progress only): held-out topics minus the sample paragraphs
    sample_set = set(sample_paras)
    val_docs, vseen = [], set()
    for k in HELD_OUT_TOPICS:
        keep = [p for p in topics[k].split("\n\n") if p not in sample_set and p not in vseen]
        vseen.update(keep)
        if keep:
            val_docs.append("\n\n".join(keep))
    return train_docs, val_docs, sample, digest


def make_stream(docs):
    ids = []
    for d in docs:
        ids += encode(d)
    return torch.tensor(ids, dtype=torch.long)


def batch_from_stream(stream, batch, seqlen, gen):
    """Rows = [BOS] + seqlen-1 consecutive ids from the packed stream at a random offset."""
    offs = torch.randint(0, len(stream) - seqlen, (batch,), generator=gen)
    rows = torch.stack([stream[o:o + seqlen] for o in offs.tolist()])
    rows[:, 0] = BOS
    return rows


def eval_windows(stream, seqlen):
    n = (len(stream) - 1) // (seqlen - 1)
    rows = []
    for i in range(n):
        r = stream[i * (seqlen - 1): i * (seqlen - 1) + seqlen].clone()
        r[0] = BOS
        rows.append(r)
    return torch.stack(rows)


# ---------------------------------------------------------------------------------------------- model
def build_config(a):
    rope_main = {"rope_type": "default", "rope_theta": 500000.0}
    rope_patcher = {"rope_type": "default", "rope_theta": 10000.0}
    c = BltConfig(
        vocab_size=260,
        max_position_embeddings=8192,
        patch_in_forward=True,
        patch_size=4,
        patching_mode="entropy",
        patching_threshold=1.335442066192627,  # replaced after stage 1
        max_patch_length=None,
        local_attention_window_len=a.window,
        cross_attn_k=2,
        encoder_hash_byte_group_size=[3, 4, 5, 6],
        encoder_hash_byte_group_vocab=a.hash_vocab,
        encoder_hash_byte_group_nb_functions=1,
        use_cache=False,  # 5.24: use_cache=True crashes BltModel.forward (DynamicCache wants num_hidden_layers)
        tie_word_embeddings=False,
        rope_parameters=rope_main,
        patcher_config=dict(
            vocab_size=260, hidden_size=a.patcher_dim, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=a.patcher_dim * 8 // 3, max_position_embeddings=8192,
            sliding_window=a.window, rope_parameters=rope_patcher),
        encoder_config=dict(
            vocab_size=260, hidden_size=a.local_dim, num_hidden_layers=1, num_attention_heads=4,
            intermediate_size=a.local_dim * 8 // 3, hidden_size_global=a.global_dim, cross_attn_k=2,
            cross_attn_all_layers=False, max_position_embeddings=8192, rope_parameters=rope_main),
        decoder_config=dict(
            vocab_size=260, hidden_size=a.local_dim, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=a.local_dim * 8 // 3, hidden_size_global=a.global_dim, cross_attn_k=2,
            cross_attn_all_layers=True, max_position_embeddings=8192, rope_parameters=rope_main),
        global_config=dict(
            hidden_size=a.global_dim, num_hidden_layers=a.global_layers, num_attention_heads=4,
            intermediate_size=a.global_dim * 8 // 3, max_position_embeddings=4096, rope_parameters=rope_main),
    )
    set_eager(c)
    return c


def set_attn(c, impl):
    c._attn_implementation = impl
    for s in (c.patcher_config, c.encoder_config, c.decoder_config, c.global_config):
        s._attn_implementation = impl


def set_eager(c):
    set_attn(c, "eager")


def lr_at(step, total, peak, warmup):
    if step < warmup:
        return peak * (step + 1) / warmup
    prog = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * prog)))


def round_bf16_(module):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(p.to(torch.bfloat16).to(torch.float32))


@torch.no_grad()
def patcher_entropies(patcher, ids, bs=16):
    out = []
    for i in range(0, ids.shape[0], bs):
        logits = patcher(ids[i:i + bs])[2]
        out.append(torch.distributions.Categorical(logits=logits).entropy())
    return torch.cat(out)


def patch_lengths_rows(entropies, threshold):
    """Per-row HF patching (BltPatcher.patch_lengths_from_entropies on batch size 1), right-padded
    with zero-length patches. (The batched HF call mis-pads rows with fewer patches.)"""
    L = entropies.shape[1]
    rows = [BltPatcher.patch_lengths_from_entropies(e[None], L, threshold=threshold)[0] for e in entropies]
    P = max(len(r) for r in rows)
    out = torch.zeros(len(rows), P, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, :len(r)] = r
    return out


# ---------------------------------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="Models/blt-tiny")
    ap.add_argument("--sample", default="Models/sample.txt")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--s1-seqlen", type=int, default=512)
    ap.add_argument("--s2-seqlen", type=int, default=1024)
    ap.add_argument("--train-attn", default="sdpa", choices=["sdpa", "eager"],
                    help="attention kernel while training (the saved config and the reference eval use eager)")
    ap.add_argument("--window", type=int, default=128)
    ap.add_argument("--hash-vocab", type=int, default=2048)
    ap.add_argument("--patcher-dim", type=int, default=64)
    ap.add_argument("--local-dim", type=int, default=96)
    ap.add_argument("--global-dim", type=int, default=192)
    ap.add_argument("--global-layers", type=int, default=2)
    ap.add_argument("--s1-steps", type=int, default=150)
    ap.add_argument("--s1-batch", type=int, default=16)
    ap.add_argument("--s1-lr", type=float, default=3e-3)
    ap.add_argument("--s2-steps", type=int, default=450)
    ap.add_argument("--s2-batch", type=int, default=4)
    ap.add_argument("--s2-lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=40)
    ap.add_argument("--target-patch", type=float, default=4.5)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    seed_all(a.seed)
    gen = torch.Generator().manual_seed(a.seed)

    train_docs, val_docs, sample, digest = load_data()
    os.makedirs(os.path.dirname(a.sample) or ".", exist_ok=True)
    with open(a.sample, "w", encoding="utf-8") as f:
        f.write(sample)
    train = make_stream(train_docs)
    val = make_stream(val_docs)
    val_rows = eval_windows(val, a.s2_seqlen)
    sample_ids = torch.tensor(encode(sample))[None]
    # leakage check: fraction of the sample's 32-byte substrings found verbatim in the training text
    train_text = "\n".join(train_docs).encode()
    sb = sample.encode()
    grams = [sb[i:i + 32] for i in range(0, len(sb) - 32, 8)]
    overlap = sum(g in train_text for g in grams) / len(grams)
    log(f"data: {DATA_FILE} sha256 {digest[:12]}..  train docs {len(train_docs)} / {len(train)} ids, "
        f"val {len(val)} ids ({len(val_rows)} windows), sample {len(sb)} bytes, "
        f"32-gram overlap with train {overlap:.3f}")

    config = build_config(a)
    set_attn(config, a.train_attn)
    model = BltForCausalLM(config)
    n_params = sum(p.numel() for p in model.parameters())
    n_patcher = sum(p.numel() for p in model.model.patcher.parameters())
    log(f"model params {n_params:,} (patcher {n_patcher:,}); train attention "
        f"{model.model.local_encoder.config._attn_implementation}/{model.model.global_transformer.config._attn_implementation}")

    # ------------------------------------------------------------------ stage 1: entropy model
    patcher = model.model.patcher
    for p in patcher.parameters():
        p.requires_grad_(True)
    patcher.train()
    opt = torch.optim.AdamW(patcher.parameters(), lr=a.s1_lr, betas=(0.9, 0.95), weight_decay=0.1)
    t1 = time.time()
    s1_losses = []
    for step in range(a.s1_steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, a.s1_steps, a.s1_lr, a.warmup)
        ids = batch_from_stream(train, a.s1_batch, a.s1_seqlen, gen)
        logits = patcher(ids)[2]
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, 260), ids[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(patcher.parameters(), 1.0)
        opt.step()
        s1_losses.append(loss.item())
        if step % 25 == 0 or step == a.s1_steps - 1:
            log(f"stage1 step {step:4d} loss {loss.item():.4f} ({loss.item() / math.log(2):.3f} bpb) "
                f"lr {opt.param_groups[0]['lr']:.2e}")
    s1_time = time.time() - t1
    patcher.eval()
    for p in patcher.parameters():
        p.requires_grad_(False)
    round_bf16_(patcher)  # the shipped patcher is bf16: pick the threshold with exactly those weights
    with torch.no_grad():
        vl = patcher(val_rows)[2]
        s1_val = F.cross_entropy(vl[:, :-1].reshape(-1, 260), val_rows[:, 1:].reshape(-1)).item()
    log(f"stage1 done in {s1_time:.1f}s; held-out entropy-model loss {s1_val:.4f} nats "
        f"({s1_val / math.log(2):.3f} bpb)")

    # ------------------------------------------------------------------ threshold
    ent = patcher_entropies(patcher, val_rows)
    q = 1.0 - 1.0 / a.target_patch
    thr = float(torch.quantile(ent[:, 1:].reshape(-1).double(), q))
    thr = float(np.float32(thr))
    pl_val = patch_lengths_rows(ent, thr)
    val_mean = val_rows.numel() / int((pl_val > 0).sum())
    s_ent = patcher_entropies(patcher, sample_ids)
    pl_s = patch_lengths_rows(s_ent, thr)
    s_mean = sample_ids.numel() / int((pl_s > 0).sum())
    log(f"threshold {thr:.6f} (entropy quantile {q:.3f}): mean bytes/patch held-out val {val_mean:.3f}, "
        f"sample {s_mean:.3f}")
    model.config.patching_threshold = thr

    # ------------------------------------------------------------------ stage 2: full BLT
    # Patch lengths for each step are computed once with the frozen patcher (no gradients).
    params = [p for n, p in model.named_parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.s2_lr, betas=(0.9, 0.95))
    model.train()
    model.model.patcher.eval()
    t2 = time.time()
    s2_losses = []
    val_pl = patch_lengths_rows(patcher_entropies(patcher, val_rows), thr)

    def val_loss():
        model.eval()
        with torch.no_grad():
            tot, n = 0.0, 0
            for i in range(0, len(val_rows), 16):
                r = val_rows[i:i + 16]
                pl = val_pl[i:i + 16]
                pl = pl[:, : int((pl > 0).sum(1).max())]
                out = model(input_ids=r, patch_lengths=pl, labels=r, use_cache=False)
                tot += out.loss.item() * r[:, 1:].numel()
                n += r[:, 1:].numel()
        model.train()
        model.model.patcher.eval()
        return tot / n

    for step in range(a.s2_steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, a.s2_steps, a.s2_lr, a.warmup)
        ids = batch_from_stream(train, a.s2_batch, a.s2_seqlen, gen)
        pl = patch_lengths_rows(patcher_entropies(patcher, ids), thr)
        out = model(input_ids=ids, patch_lengths=pl, labels=ids, use_cache=False)  # HF shifts labels itself
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        s2_losses.append(out.loss.item())
        if step % 25 == 0 or step == a.s2_steps - 1:
            el = time.time() - t2
            log(f"stage2 step {step:4d} loss {out.loss.item():.4f} ({out.loss.item() / math.log(2):.3f} bpb) "
                f"lr {opt.param_groups[0]['lr']:.2e} patches/row {float((pl > 0).sum(1).float().mean()):.1f} "
                f"[{el:.0f}s, {el / (step + 1):.2f}s/step]")
        if (step + 1) % 200 == 0 and step + 1 < a.s2_steps:
            log(f"  held-out val loss {val_loss() / math.log(2):.3f} bpb")
    s2_time = time.time() - t2
    final_val = val_loss()
    final_train = float(np.mean(s2_losses[-20:]))
    log(f"stage2 done in {s2_time:.1f}s; train loss (mean last 20) {final_train:.4f} "
        f"({final_train / math.log(2):.3f} bpb); held-out val {final_val / math.log(2):.3f} bpb")

    # ------------------------------------------------------------------ save (bf16)
    os.makedirs(a.out, exist_ok=True)
    model.eval()
    model.to(torch.bfloat16)
    model.config.use_cache = False
    set_eager(model.config)
    model.save_pretrained(a.out)
    gc = os.path.join(a.out, "generation_config.json")
    if os.path.exists(gc):
        os.remove(gc)
    log(f"saved {a.out}: " + ", ".join(f"{f} {os.path.getsize(os.path.join(a.out, f)):,} B"
                                        for f in sorted(os.listdir(a.out))))

    # ------------------------------------------------------------------ reference eval from the saved files
    ref = reference_eval(a.out, a.sample)
    with open(os.path.join(a.out, "reference-eval.json"), "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")
    log(f"reference eval: {ref['bits_per_byte']:.4f} bpb over {ref['targets']} targets, "
        f"{ref['patches']} patches, {ref['mean_patch_bytes']:.3f} bytes/patch")

    info = dict(
        data=dict(file=DATA_FILE, sha256=digest, package="libpython3.11-stdlib 3.11.2-6+deb12u6 (Debian 12)",
                  licence="PSF-2.0", held_out_topics=list(HELD_OUT_TOPICS), train_ids=len(train),
                  val_ids=len(val), sample_bytes=len(sb), sample_32gram_overlap_with_train=overlap),
        args=vars(a), params=n_params, patcher_params=n_patcher,
        stage1=dict(steps=a.s1_steps, seconds=round(s1_time, 1), final_train_loss=float(np.mean(s1_losses[-20:])),
                    val_loss_nats=s1_val),
        threshold=thr, val_mean_patch_bytes=val_mean,
        stage2=dict(steps=a.s2_steps, seconds=round(s2_time, 1), final_train_loss=final_train,
                    val_loss_nats=final_val, val_bpb=final_val / math.log(2),
                    loss_curve=[round(float(np.mean(s2_losses[i:i + 25])), 4) for i in range(0, len(s2_losses), 25)]),
        total_seconds=round(time.time() - T0, 1),
        versions=dict(torch=torch.__version__, transformers=__import__("transformers").__version__,
                      python=sys.version.split()[0]),
    )
    with open(os.path.join(a.out, "training-log.json"), "w") as f:
        json.dump(info, f, indent=1)
        f.write("\n")
    log("done")


def reference_eval(model_dir, sample_path):
    m = BltForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    set_eager(m.config)
    m.config.use_cache = False
    m.eval()
    text = open(sample_path, "rb").read()
    ids = torch.tensor([[BOS] + [b + OFFSET for b in text] + [EOS]])
    with torch.no_grad():
        out = m(input_ids=ids, use_cache=False)  # patch_in_forward: the model's own patcher
        ent, pl, _ = m.model.patcher(ids, patch_size=m.config.patch_size, threshold=m.config.patching_threshold,
                                     max_patch_length=m.config.max_patch_length)
        out2 = m(input_ids=ids, patch_lengths=pl, use_cache=False)
    assert torch.equal(out.logits, out2.logits), "patch_in_forward and explicit patch_lengths disagree"
    logp = torch.log_softmax(out.logits[0].double(), dim=-1)
    nll = -float(logp[:-1].gather(1, ids[0, 1:, None]).sum())
    n = ids.shape[1]
    pl = pl[0].tolist()
    patches = sum(1 for x in pl if x > 0)
    return {
        "text_file": sample_path,
        "ids_count": n,
        "targets": n - 1,
        "nll_nats": nll,
        "bits_per_byte": nll / math.log(2) / (n - 1),
        "patches": patches,
        "mean_patch_bytes": n / patches,
        "mean_patch_bytes_note": "ids_count / patches (BOS and EOS counted as bytes; zero-length patches excluded)",
        "patching_threshold": m.config.patching_threshold,
        "patch_lengths": pl,
        "entropies_first_64": [float(x) for x in ent[0, :64]],
        "weights_dtype": "bfloat16 (upcast to float32 for this eval)",
        "attn_implementation": "eager",
        "transformers": __import__("transformers").__version__,
        "torch": torch.__version__,
    }


if __name__ == "__main__":
    main()
