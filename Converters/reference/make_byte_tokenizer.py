#!/usr/bin/env python3
"""Write BLT's byte tokenizer (BOS=1, EOS=2, byte b -> id b + 4) as Hugging Face tokenizer files.

transformers 5.24 ships no BLT tokenizer class, and lm-eval's `hf` backend needs one from the model directory:

    .venv-ref/bin/python Converters/reference/make_byte_tokenizer.py DIR

writes DIR/tokenizer.json, tokenizer_config.json and special_tokens_map.json (nothing else in DIR is touched).
Encoding prepends BOS when special tokens are added (lm-eval: model_args add_bos_token=True); every UTF-8 byte is
one token; decoding drops the special ids. Checked on a few strings before anything is written.
"""

import os
import sys

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

SPECIALS = ["<boe>", "<s>", "</s>", "<pad>"]   # ids 0-3


def build() -> PreTrainedTokenizerFast:
    byte_to_char = pre_tokenizers.ByteLevel.alphabet()   # GPT-2's printable stand-ins, one per byte
    table = dict(enumerate(_gpt2_chars()))
    assert set(table.values()) == set(byte_to_char)
    vocab = {s: i for i, s in enumerate(SPECIALS)}
    vocab.update({table[b]: b + 4 for b in range(256)})
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", 1)])
    tokenizer.add_special_tokens(SPECIALS)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   unk_token=None, model_max_length=8192)


def _gpt2_chars():
    """GPT-2's bytes_to_unicode, in byte order."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def check(tok: PreTrainedTokenizerFast):
    for text in ["", "A", "The quick brown fox.", "Café naïve — 東京 😀\n\t x", "  two  spaces "]:
        ids = [b + 4 for b in text.encode("utf-8")]
        assert tok(text, add_special_tokens=False)["input_ids"] == ids, text
        assert tok(text)["input_ids"] == [1] + ids, text
        assert tok.decode([1] + ids + [2], skip_special_tokens=True) == text, text


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    tok = build()
    check(tok)
    os.makedirs(sys.argv[1], exist_ok=True)
    tok.save_pretrained(sys.argv[1])
    from transformers import AutoTokenizer
    check(AutoTokenizer.from_pretrained(sys.argv[1]))
    print(f"wrote the byte tokenizer to {sys.argv[1]}")


if __name__ == "__main__":
    main()
