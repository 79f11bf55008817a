#!/usr/bin/env python3
"""Reference first-step logits of SmolLM2-135M-Instruct Q4_1 from llama.cpp (llama-cpp-python), for
tests/test-gguf-model.cpp: for each prompt (token ids, so no tokenizer is involved on our side), the logits
after its last token, two ways:
  native  llama.cpp on the Q4_1 file as it runs it by default: its CPU matmuls quantize the activations to
          Q8_0/Q8_1 blocks and its KV cache is f16, so it differs from exact f32 math on the same weights;
  exact   llama.cpp on a copy whose tensors gguf-py dequantized to F32, with an F32 KV cache and no flash
          attention: the same weights in plain f32 arithmetic, what diagecg computes.

  tests/data/gguf/smollm2-logits.json      committed: per prompt the ids, the logits' std, and both logits at
                                           the top-32 ids and at 256 fixed random ids
  <model>.logits.f32, <model>.logits-exact.f32
                                           beside the model in the cache (not committed): every prompt's full
                                           [V] logits, f32, for the full-vocabulary comparison

Run with the reference environment:  "$(scripts/setup-python.sh --print-python)" tools/make-gguf-logits.py
"""
import argparse
import json
import os
import sys

import numpy as np
import gguf
from gguf.quants import dequantize
from llama_cpp import Llama

PROMPTS = [
    "The heart",
    "<|im_start|>user\nWhat does an ECG measure?<|im_end|>\n<|im_start|>assistant\n",
    "Sinus rhythm with first degree AV block. ST elevation in leads V1-V3, consistent with",
    "Der Patient hat Vorhofflimmern und eine Linksherzhypertrophie.",
    "1, 2, 3, 4, 5,",
]


def write_dequantized(src, dst):
    """`src` with every tensor dequantized to F32 by gguf-py, metadata unchanged."""
    r = gguf.GGUFReader(src)
    w = gguf.GGUFWriter(dst, r.fields["general.architecture"].contents())
    for name, field in r.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        w.add_key_value(name, field.contents(), vtype, sub_type=sub)
    for t in r.tensors:
        w.add_tensor(t.name, np.ascontiguousarray(dequantize(t.data, t.tensor_type), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def first_step_logits(path, prompts, threads, **kw):
    llm = Llama(model_path=path, n_ctx=256, n_batch=256, n_threads=threads, logits_all=True, verbose=False, **kw)
    out = []
    for ids in prompts:
        llm.reset()
        llm.eval(ids)
        out.append(np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32))
    return llm, out


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    cache = os.environ.get("DIAGECG_CACHE", os.path.expanduser("~/.cache/diagecg"))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=os.path.join(cache, "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--out", default=os.path.join(root, "tests/data/gguf/smollm2-logits.json"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()

    tok = Llama(model_path=args.model, vocab_only=True, verbose=False)
    prompts = [tok.tokenize(text.encode("utf-8"), add_bos=False, special=True) for text in PROMPTS]
    llm, native = first_step_logits(args.model, prompts, args.threads)
    f32_path = os.path.join(os.path.dirname(args.model), "smollm2-dequantized-f32.gguf.tmp")
    write_dequantized(args.model, f32_path)
    try:
        _, exact = first_step_logits(f32_path, prompts, args.threads, type_k=0, type_v=0, flash_attn=False)
    finally:
        os.remove(f32_path)
    rng = np.random.default_rng(5)
    records = []
    for text, ids, logits, ex in zip(PROMPTS, prompts, native, exact):
        top = np.argsort(-logits)[:32]
        sample = rng.choice(len(logits), size=256, replace=False)
        idx = np.unique(np.concatenate([top, sample]))
        records.append({
            "text": text,
            "ids": [int(i) for i in ids],
            "std": float(logits.std()),
            "argmax": int(top[0]),
            "argmax_exact": int(np.argmax(ex)),
            "index": [int(i) for i in idx],
            "logits": [float(logits[i]) for i in idx],
            "logits_exact": [float(ex[i]) for i in idx],
        })
        print(f"{len(ids):3d} ids, argmax {top[0]} ({llm.detokenize([int(top[0])])!r}), std {logits.std():.3f}, "
              f"native vs exact max|diff| {np.abs(logits - ex).max():.4f}", file=sys.stderr)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"model": os.path.basename(args.model), "reference": "llama-cpp-python", "prompts": records}, f,
                  indent=1)
        f.write("\n")
    np.stack(native).astype(np.float32).tofile(args.model + ".logits.f32")
    np.stack(exact).astype(np.float32).tofile(args.model + ".logits-exact.f32")
    print(f"wrote {args.out} and {args.model}.logits[-exact].f32", file=sys.stderr)


if __name__ == "__main__":
    main()
