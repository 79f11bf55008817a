#!/usr/bin/env python3
"""Perplexity of each GGUF type, diagecg beside llama.cpp (llama-cpp-python) on exactly the same tokens.

usage: perplexity-llamacpp.py --diagecg BIN --source MODEL --text FILE --work DIR
                              [--types f32,bf16,f16,q8_0,q4_0,q4_1,q4_k,q6_k,llamacpp:q4_k_m] [--max-docs N]
                              [--batch-size B]
For each type, `diagecg quantize -m SOURCE --type T` writes DIR/model.T.gguf (a type "llamacpp:NAME", e.g.
llamacpp:q4_k_m, is made by llama.cpp's own quantizer from the f32 export instead); `diagecg perplexity` scores the
documents of FILE (one per line, each on its own) on it and writes the token ids it scored; llama.cpp loads the
same GGUF (n_threads 2, f32 KV cache) and scores those ids. --batch-size is diagecg's -b (16, its default, puts 16
documents in one forward pass: for kept quantized blocks that is a prompt of hundreds of rows, which diagecg runs on
a dense bf16/f32 GEMM of the dequantized weights; 1 keeps every document below that and on the int8 kernels, the
arithmetic llama.cpp runs). Prints a Markdown table: perplexity per engine, their
difference, and each type's change from f32. Exits 1 when an engine fails.
Run with "$(scripts/setup-python.sh --print-python)".
"""
import argparse
import ctypes
import json
import os
import subprocess
import sys

import numpy as np
from llama_cpp import Llama


def run(cmd):
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"perplexity-llamacpp: {' '.join(cmd)}: {res.stderr.strip().splitlines()[-1:]}")
    return res.stdout


# llama.cpp's file types (llama_ftype) its quantizer is asked for by name
LLAMACPP_FTYPES = {"q4_k_s": 14, "q4_k_m": 15, "q6_k": 18}


def llamacpp_quantize(src, dst, name):
    """llama.cpp's own quantizer (llama_model_quantize, 2 threads): SRC (f32 GGUF) -> DST as file type NAME."""
    import llama_cpp
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = LLAMACPP_FTYPES[name]
    params.nthread = 2
    tmp = dst + ".tmp"
    if llama_cpp.llama_model_quantize(src.encode(), tmp.encode(), ctypes.byref(params)) != 0:
        sys.exit(f"perplexity-llamacpp: llama.cpp could not quantize {src} to {name}")
    os.replace(tmp, dst)


def llamacpp_nll(path, docs):
    """Summed NLL (nats) and predicted-token count of llama.cpp on token-id documents."""
    n_ctx = max(len(d) for d in docs)
    llm = Llama(model_path=path, n_ctx=max(n_ctx, 64), n_batch=max(n_ctx, 64), n_threads=2, n_threads_batch=2,
                logits_all=True, verbose=False, type_k=0, type_v=0, flash_attn=False)
    nll, n = 0.0, 0
    for d in docs:
        llm.reset()
        llm.eval(d)
        lg = np.array(llm.scores[: len(d) - 1], dtype=np.float64)
        lg -= lg.max(axis=1, keepdims=True)
        logz = np.log(np.exp(lg).sum(axis=1))
        nll += float(np.sum(logz - lg[np.arange(len(d) - 1), d[1:]]))
        n += len(d) - 1
    return nll, n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--diagecg", required=True)
    ap.add_argument("--source", required=True, help="model directory or GGUF that `diagecg quantize` reads")
    ap.add_argument("--text", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--types", default="f32,bf16,f16,q8_0,q4_0,q4_1")
    ap.add_argument("--max-docs", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=16)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    rows = []
    for t in a.types.split(","):
        gguf = os.path.join(a.work, f"model.{t.replace(':', '-')}.gguf")
        if t.startswith("llamacpp:"):  # quantized by llama.cpp itself, from our f32 export
            f32 = os.path.join(a.work, "model.f32.gguf")
            if not os.path.exists(f32):
                run([a.diagecg, "--log-level", "warn", "quantize", "-m", a.source, "-o", f32, "--type", "f32"])
            if not os.path.exists(gguf):
                llamacpp_quantize(f32, gguf, t.split(":", 1)[1])
        elif not os.path.exists(gguf):
            run([a.diagecg, "--log-level", "warn", "quantize", "-m", a.source, "-o", gguf, "--type", t])
        toks = os.path.join(a.work, f"tokens.{t.replace(':', '-')}.jsonl")
        ours = json.loads(run([a.diagecg, "-t", "2", "--log-level", "warn", "perplexity", "-m", gguf, "-f", a.text,
                               "--max-docs", str(a.max_docs), "-b", str(a.batch_size), "--tokens-out", toks]))
        with open(toks) as f:
            docs = [json.loads(line)["tokens"] for line in f]
        nll, n = llamacpp_nll(gguf, docs)
        if n != ours["tokens"]:
            sys.exit(f"perplexity-llamacpp: {t}: llama.cpp scored {n} tokens, diagecg {ours['tokens']}")
        rows.append((t, os.path.getsize(gguf), ours["perplexity"], float(np.exp(nll / n)), ours["documents"], n))
        print(f"{t}: diagecg {rows[-1][2]:.4f}  llama.cpp {rows[-1][3]:.4f}", file=sys.stderr, flush=True)
    ref = {r[0]: r for r in rows}.get("f32")
    print(f"{rows[0][4]} documents, {rows[0][5]} predicted tokens ({a.text}), diagecg -b {a.batch_size}\n")
    print("| type | GGUF MB | diagecg | llama.cpp | diagecg / llama.cpp - 1 | diagecg vs f32 | llama.cpp vs f32 |")
    print("|---|---|---|---|---|---|---|")
    for t, size, po, pl, _, _ in rows:
        vs = (lambda p, i: f"{100 * (p / ref[i] - 1):+.2f}%") if ref else (lambda p, i: "")
        print(f"| {t} | {size / 1e6:.1f} | {po:.4f} | {pl:.4f} | {100 * (po / pl - 1):+.2f}% | {vs(po, 2)} | {vs(pl, 3)} |")


if __name__ == "__main__":
    main()
