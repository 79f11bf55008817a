#!/usr/bin/env python3
"""Checks GGUF files written by `diagecg quantize` with llama.cpp (llama-cpp-python): it loads them, and runs them.

usage: check-gguf-export.py --diagecg BIN --exact OUT-F32.gguf --source MODEL [--quantized OUT-Q.gguf]
                            [--extended OUT-EXT.gguf --extended-source DIR]
  --exact       an F32 export of SOURCE: llama.cpp's greedy tokens on it equal diagecg's f32 run of SOURCE, and
                the first-step logits agree to 1e-3 x their std (the same arithmetic; the converter's layout)
  --quantized   a Q8_0/Q4 export of SOURCE: llama.cpp runs it; its first greedy token and >= 0.99 logit
                correlation with diagecg's f32 logits of SOURCE (quantization error only)
  --extended    an F32 export of an ECG-extended DiagECG model directory: its vocabulary has the extra ids,
                llama.cpp reads "<ecg_0042>" as the one token diagecg gives it, and on a prompt with ECG tokens
                llama.cpp's first-step logits (all ids, ECG rows included) equal diagecg's to 1e-3 x std
Prints one line per check; exits 1 on the first failure. Run with "$(scripts/setup-python.sh --print-python)".
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from llama_cpp import Llama

PROMPT = "<|im_start|>user\nWhat does an ECG measure?<|im_end|>\n<|im_start|>assistant\n"


def fail(msg):
    print(f"FAIL {msg}")
    sys.exit(1)


def ours(binary, model, prompt, n, dtype="f32"):
    """diagecg's greedy ids and first-step logits for a raw prompt (special tokens parsed)."""
    with tempfile.TemporaryDirectory() as tmp:
        lf = os.path.join(tmp, "logits.f32")
        cmd = [binary, "-t", "2", "--log-level", "warn", "generate", "-m", model, "--dtype", dtype, "--temp", "0",
               "-n", str(n), "--no-bos", "--json", "--logits-out", lf, "-p", prompt]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            fail(f"{' '.join(cmd)}: {res.stderr.strip()}")
        rec = json.loads(res.stdout.splitlines()[0])
        return rec, np.fromfile(lf, dtype=np.float32)


def llama(path):
    return Llama(model_path=path, n_ctx=512, n_batch=512, n_threads=2, n_threads_batch=2, logits_all=True,
                 verbose=False, type_k=0, type_v=0, flash_attn=False)   # f32 KV cache: diagecg's arithmetic


def greedy(llm, ids, n):
    llm.reset()
    llm.eval(ids)
    out, first = [], None
    for _ in range(n):
        logits = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
        if first is None:
            first = logits
        t = int(np.argmax(logits))
        if t == llm.token_eos():
            break
        out.append(t)
        llm.eval([t])
    return out, first


def rel(a, b):
    return float(np.max(np.abs(a - b)) / np.std(b))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--diagecg", required=True)
    ap.add_argument("--exact", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--quantized")
    ap.add_argument("--extended")
    ap.add_argument("--extended-source")
    ap.add_argument("-n", type=int, default=24)
    a = ap.parse_args()

    rec, want = ours(a.diagecg, a.source, PROMPT, a.n)
    llm = llama(a.exact)
    ids = llm.tokenize(PROMPT.encode(), add_bos=False, special=True)
    if ids != rec["prompt_tokens"]:
        fail(f"exact: llama.cpp's prompt ids {ids} != diagecg's {rec['prompt_tokens']}")
    got, first = greedy(llm, ids, a.n)
    d = rel(first, want)
    print(f"exact: {len(got)} greedy tokens, identical: {got == rec['tokens']}; first-step max|d| {d:.2e} x std")
    if got != rec["tokens"] or d > 1e-3:
        fail(f"exact: llama.cpp {got} vs diagecg {rec['tokens']}")

    if a.quantized:
        q = llama(a.quantized)
        got_q, first_q = greedy(q, ids, 1)
        corr = float(np.corrcoef(first_q, want)[0, 1])
        print(f"quantized: runs; first token {got_q[:1]} (f32 {rec['tokens'][:1]}), logit correlation {corr:.5f}")
        if got_q[:1] != rec["tokens"][:1] or corr < 0.99:
            fail("quantized: llama.cpp's run of the export is not the model")

    if a.extended:
        cfg = json.load(open(os.path.join(a.extended_source, "config.json")))
        e = llama(a.extended)
        if e.n_vocab() != cfg["vocab_size"]:
            fail(f"extended: llama.cpp's vocabulary {e.n_vocab()} != the model's {cfg['vocab_size']}")
        prompt = "<|im_start|>user\nECG:\n<|start_ecg|><ecg_0042><ecg_0007><ecg_1295><|end_ecg|> Is this normal?<|im_end|>\n<|im_start|>assistant\n"
        rec_e, want_e = ours(a.diagecg, a.extended_source, prompt, 4)
        ids_e = e.tokenize(prompt.encode(), add_bos=False, special=True)
        if ids_e != rec_e["prompt_tokens"]:
            fail(f"extended: llama.cpp's prompt ids {ids_e} != diagecg's {rec_e['prompt_tokens']}")
        e.reset()
        e.eval(ids_e)
        first_e = np.array(e.scores[e.n_tokens - 1], dtype=np.float32)
        d = rel(first_e, want_e)
        print(f"extended: vocabulary {e.n_vocab()}, prompt ids identical ({len(ids_e)}, ECG ids "
              f"{[i for i in ids_e if i >= e.n_vocab() - 1299]}); first-step max|d| {d:.2e} x std over all ids")
        if d > 1e-3:
            fail("extended: llama.cpp's logits of the export differ from diagecg's")
    print("ok")


if __name__ == "__main__":
    main()
