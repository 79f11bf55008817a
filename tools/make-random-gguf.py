#!/usr/bin/env python3
"""Random-weight GGUF files of a real model's shape, for speed comparisons of diagecg and llama.cpp on one file.

  "$(scripts/setup-python.sh --print-python)" tools/make-random-gguf.py --tokenizer-from SMOLLM2.gguf \\
      --types q8_0,q4_0,bf16 -o runs/tinyllama-shape

Writes OUT/tinyllama-shape.TYPE.gguf: a `llama`-architecture model with TinyLlama-1.1B's dimensions (hidden 2048,
22 layers, 32 heads, 4 KV heads, feed-forward 5632, untied output head), weights N(0, 0.02^2) (seeded, the same
floats for every type) quantized by gguf-py, norms 1 in F32. The tokenizer (and so the vocabulary: 49,152 ids
for SmolLM2's, against TinyLlama's 32,000) is copied from --tokenizer-from, so both engines load the file; the
embedding and output matrices are then 1.5x TinyLlama's (1.17 billion parameters in all instead of 1.10).
Speed only: the weights are noise, the text they write is too.
"""
import argparse
import os
import sys

import numpy as np
import gguf

SHAPE = dict(hidden=2048, layers=22, heads=32, kv_heads=4, ffn=5632, ctx=2048)
TYPES = {"q8_0": gguf.GGMLQuantizationType.Q8_0, "q4_0": gguf.GGMLQuantizationType.Q4_0,
         "q4_1": gguf.GGMLQuantizationType.Q4_1, "bf16": gguf.GGMLQuantizationType.BF16,
         "f16": gguf.GGMLQuantizationType.F16}
FILE_TYPES = {"q8_0": gguf.LlamaFileType.MOSTLY_Q8_0, "q4_0": gguf.LlamaFileType.MOSTLY_Q4_0,
              "q4_1": gguf.LlamaFileType.MOSTLY_Q4_1, "bf16": gguf.LlamaFileType.MOSTLY_BF16,
              "f16": gguf.LlamaFileType.MOSTLY_F16}


def copy_tokenizer(reader, writer):
    """Every tokenizer.* key of the reader, with its type."""
    for key, f in reader.fields.items():
        if not key.startswith("tokenizer."):
            continue
        t = f.types[0]
        if t == gguf.GGUFValueType.ARRAY:
            sub = f.types[1]
            if sub == gguf.GGUFValueType.STRING:
                val = [bytes(f.parts[i]).decode("utf-8") for i in f.data]
            else:
                val = [f.parts[i][0].item() for i in f.data]
            writer.add_key_value(key, val, t, sub)
        elif t == gguf.GGUFValueType.STRING:
            writer.add_key_value(key, bytes(f.parts[f.data[0]]).decode("utf-8"), t)
        else:
            writer.add_key_value(key, f.parts[f.data[0]][0].item(), t)
    return len(reader.fields["tokenizer.ggml.tokens"].data)


def tensors(vocab, seed):
    """(name, shape [rows, cols]) in file order and a generator of their f32 values, the same for every type."""
    s = SHAPE
    d, kv = s["hidden"], s["hidden"] // s["heads"] * s["kv_heads"]
    names = [("token_embd.weight", (vocab, d))]
    for b in range(s["layers"]):
        names += [(f"blk.{b}.attn_norm.weight", (d,)), (f"blk.{b}.attn_q.weight", (d, d)),
                  (f"blk.{b}.attn_k.weight", (kv, d)), (f"blk.{b}.attn_v.weight", (kv, d)),
                  (f"blk.{b}.attn_output.weight", (d, d)), (f"blk.{b}.ffn_norm.weight", (d,)),
                  (f"blk.{b}.ffn_gate.weight", (s["ffn"], d)), (f"blk.{b}.ffn_up.weight", (s["ffn"], d)),
                  (f"blk.{b}.ffn_down.weight", (d, s["ffn"]))]
    names += [("output_norm.weight", (d,)), ("output.weight", (vocab, d))]
    rng = np.random.default_rng(seed)
    for name, shape in names:
        if len(shape) == 1:
            yield name, np.ones(shape, dtype=np.float32)
        else:
            yield name, (rng.standard_normal(shape, dtype=np.float32) * 0.02)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer-from", required=True, help="a GGUF whose tokenizer.* metadata the files take")
    ap.add_argument("--types", default="q8_0,q4_0,bf16", help=f"comma-separated: {', '.join(TYPES)}")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--out", required=True, help="output directory")
    a = ap.parse_args()
    types = [t.strip() for t in a.types.split(",") if t.strip()]
    for t in types:
        if t not in TYPES:
            sys.exit(f"unknown type {t!r}: {', '.join(TYPES)}")
    os.makedirs(a.out, exist_ok=True)
    reader = gguf.GGUFReader(a.tokenizer_from)
    for t in types:
        path = os.path.join(a.out, f"tinyllama-shape.{t}.gguf")
        tmp = path + ".tmp"
        w = gguf.GGUFWriter(tmp, "llama")
        s = SHAPE
        vocab = copy_tokenizer(reader, w)
        w.add_name(f"random TinyLlama-1.1B shape ({t})")
        w.add_context_length(s["ctx"])
        w.add_embedding_length(s["hidden"])
        w.add_block_count(s["layers"])
        w.add_feed_forward_length(s["ffn"])
        w.add_head_count(s["heads"])
        w.add_head_count_kv(s["kv_heads"])
        w.add_rope_dimension_count(s["hidden"] // s["heads"])
        w.add_rope_freq_base(10000.0)
        w.add_layer_norm_rms_eps(1e-5)
        w.add_vocab_size(vocab)
        w.add_file_type(FILE_TYPES[t])
        n = 0
        for name, x in tensors(vocab, a.seed):
            n += x.size
            if x.ndim == 1:
                w.add_tensor(name, x)
            else:
                q = gguf.quants.quantize(x, TYPES[t])
                w.add_tensor(name, q, raw_dtype=TYPES[t])
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        os.replace(tmp, path)
        print(f"{path}: {n / 1e9:.3f} billion parameters, {os.path.getsize(path) / 1e6:.0f} MB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
