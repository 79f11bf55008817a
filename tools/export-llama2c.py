#!/usr/bin/env python3
"""Export an HF Llama directory to llama2.c's legacy checkpoint + tokenizer.bin.

For timing llama2.c's run.c beside diagecg on the same small model (e.g.
tests/data/models/stories260K); diagecg itself never reads these files.

    export-llama2c.py HF_DIR -o OUT_DIR   # writes OUT_DIR/model.bin, OUT_DIR/tokenizer.bin

Reads config.json, model.safetensors (single file, F32/F16/BF16) and the
SentencePiece tokenizer.model. Needs only numpy: the safetensors header and the
SentencePiece protobuf are parsed here directly.

model.bin (llama2.c "legacy"/v0 format): 7 int32 (dim, hidden_dim, n_layers,
n_heads, n_kv_heads, vocab_size (negated when the classifier is not tied to the
embedding), seq_len), then f32 tensors, each over all layers in turn: token
embedding, attention norms, wq, wk, wv, wo, ffn norms, w1 (gate), w2 (down),
w3 (up), final norm, two unused RoPE tables (seq_len * head_dim/2 each), and
the classifier when not tied.

RoPE: HF stores q/k rows per head as [first halves | second halves]
(rotate-half); llama2.c rotates adjacent pairs (2i, 2i+1). So per head, row
h*hd + j*hd/2 + i (j in 0,1) moves to row h*hd + 2i + j.

tokenizer.bin: uint32 max_token_length, then per token f32 score, uint32 byte
length, utf-8 bytes; '\u2581' becomes ' ', BOS/EOS become '\\n<s>\\n' / '\\n</s>\\n'.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np


def fail(msg):
    sys.exit(f"export-llama2c: error: {msg}")


def read_safetensors(path):
    dtypes = {"F32": np.float32, "F16": np.float16, "BF16": None}
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if t["dtype"] not in dtypes:
            fail(f"{path}: tensor {name} has unsupported dtype {t['dtype']}")
        a, b = t["data_offsets"]
        raw = data[a:b]
        if t["dtype"] == "BF16":
            arr = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(raw, dtypes[t["dtype"]]).astype(np.float32)
        out[name] = arr.reshape(t["shape"])
    return out


def varint(buf, i):
    v = shift = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return v, i


def proto_fields(buf):
    """Yield (field_number, wire_type, value) of one protobuf message."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, i = varint(buf, i)
        elif wire == 1:
            v, i = buf[i:i + 8], i + 8
        elif wire == 2:
            n, i = varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wire == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield field, wire, v


def read_sentencepiece(path):
    """[(piece, score)] from a SentencePiece ModelProto (field 1: pieces)."""
    pieces = []
    with open(path, "rb") as f:
        buf = f.read()
    for field, wire, v in proto_fields(buf):
        if field == 1 and wire == 2:
            piece, score = "", 0.0
            for f2, w2, v2 in proto_fields(v):
                if f2 == 1 and w2 == 2:
                    piece = v2.decode("utf-8")
                elif f2 == 2 and w2 == 5:
                    (score,) = struct.unpack("<f", v2)
            pieces.append((piece, score))
    if not pieces:
        raise ValueError("no pieces")
    return pieces


def unpermute(w, n_heads):
    """HF rotate-half q/k rows -> llama2.c interleaved-pair rows."""
    rows, cols = w.shape
    hd = rows // n_heads
    return w.reshape(n_heads, 2, hd // 2, cols).transpose(0, 2, 1, 3).reshape(rows, cols)


def export_model(hf_dir, cfg, out_path):
    st = os.path.join(hf_dir, "model.safetensors")
    if not os.path.isfile(st):
        fail(f"{st}: not found (only single-file safetensors is supported)")
    try:
        t = read_safetensors(st)
    except (OSError, ValueError, KeyError, struct.error) as e:
        fail(f"{st}: cannot read: {e}")
    try:
        dim = cfg["hidden_size"]
        hidden = cfg["intermediate_size"]
        n_layers = cfg["num_hidden_layers"]
        n_heads = cfg["num_attention_heads"]
        n_kv = cfg.get("num_key_value_heads", n_heads)
        vocab = cfg["vocab_size"]
        seq_len = cfg.get("max_position_embeddings", 2048)
    except KeyError as e:
        fail(f"config.json: missing {e}")
    if cfg.get("model_type", "llama") != "llama":
        fail(f"config.json: model_type {cfg.get('model_type')!r} is not llama")
    if float(cfg.get("rope_theta", 10000.0)) != 10000.0 or cfg.get("rope_scaling"):
        fail("llama2.c supports only rope_theta 10000 without rope_scaling")

    def get(name):
        if name not in t:
            fail(f"{st}: missing tensor {name}")
        return t[name]

    def layers(suffix, f=lambda w: w):
        return [f(get(f"model.layers.{i}.{suffix}")) for i in range(n_layers)]

    emb = get("model.embed_tokens.weight")
    cls = t.get("lm_head.weight")
    shared = cls is None or np.array_equal(cls, emb)
    head_dim = dim // n_heads
    parts = [emb]
    parts += layers("input_layernorm.weight")
    parts += layers("self_attn.q_proj.weight", lambda w: unpermute(w, n_heads))
    parts += layers("self_attn.k_proj.weight", lambda w: unpermute(w, n_kv))
    parts += layers("self_attn.v_proj.weight")
    parts += layers("self_attn.o_proj.weight")
    parts += layers("post_attention_layernorm.weight")
    parts += layers("mlp.gate_proj.weight")
    parts += layers("mlp.down_proj.weight")
    parts += layers("mlp.up_proj.weight")
    parts.append(get("model.norm.weight"))
    # unused by run.c (it computes RoPE itself), but the layout keeps the space
    parts.append(np.zeros(2 * seq_len * head_dim // 2, np.float32))
    if not shared:
        parts.append(cls)
    header = struct.pack("<7i", dim, hidden, n_layers, n_heads, n_kv,
                         vocab if shared else -vocab, seq_len)
    with open(out_path, "wb") as f:
        f.write(header)
        for p in parts:
            f.write(np.ascontiguousarray(p, dtype="<f4").tobytes())


def export_tokenizer(hf_dir, cfg, out_path):
    path = os.path.join(hf_dir, "tokenizer.model")
    if not os.path.isfile(path):
        fail(f"{path}: not found (a SentencePiece tokenizer.model is needed)")
    try:
        pieces = read_sentencepiece(path)
    except (OSError, ValueError, IndexError, UnicodeDecodeError) as e:
        fail(f"{path}: not a SentencePiece model: {e}")
    if len(pieces) != cfg["vocab_size"]:
        fail(f"{path}: {len(pieces)} pieces but vocab_size {cfg['vocab_size']}")
    bos, eos = cfg.get("bos_token_id", 1), cfg.get("eos_token_id", 2)
    toks = []
    for i, (piece, score) in enumerate(pieces):
        text = "\n<s>\n" if i == bos else "\n</s>\n" if i == eos else piece.replace("\u2581", " ")
        toks.append((text.encode("utf-8"), score))
    with open(out_path, "wb") as f:
        f.write(struct.pack("<I", max(len(b) for b, _ in toks)))
        for b, score in toks:
            f.write(struct.pack("<fI", score, len(b)))
            f.write(b)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("hf_dir", help="HF Llama directory (config.json, model.safetensors, tokenizer.model)")
    ap.add_argument("-o", "--out", required=True, help="output directory")
    args = ap.parse_args()
    cfg_path = os.path.join(args.hf_dir, "config.json")
    try:
        with open(cfg_path) as f:
            cfg = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"{cfg_path}: {e}")
    if "vocab_size" not in cfg:
        fail(f"{cfg_path}: missing vocab_size")
    os.makedirs(args.out, exist_ok=True)
    export_model(args.hf_dir, cfg, os.path.join(args.out, "model.bin"))
    export_tokenizer(args.hf_dir, cfg, os.path.join(args.out, "tokenizer.bin"))
    print(f"wrote {args.out}/model.bin and {args.out}/tokenizer.bin")


if __name__ == "__main__":
    main()
