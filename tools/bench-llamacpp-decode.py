#!/usr/bin/env python3
"""Decode and prefill tokens/s of diagecg and llama.cpp (llama-cpp-python) on the same GGUF, alternating.

  "$(scripts/setup-python.sh --print-python)" tools/bench-llamacpp-decode.py [GGUF ...] [--rounds 3]
      [--n-prompt 128] [--n-gen 128] [--threads 2] [--diagecg build/diagecg] [--dtype native]

For each round and file: llama.cpp (one Llama object, n_threads = n_threads_batch = THREADS, default KV and
flash-attention settings) times a prefill of N_PROMPT fixed ids and N_GEN greedy steps (argmax of its logits,
one llm.eval per token: the Python call is part of its step), then `diagecg bench llm -m FILE --dtype DTYPE
--batch 1` times the same lengths. Each figure is the best round. Run it alone (e.g. under
`flock /tmp/build.lock`): timings of a shared machine.
"""
import argparse
import os
import re
import subprocess
import sys
import time

import numpy as np
from llama_cpp import Llama

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
CACHE = os.environ.get("DIAGECG_CACHE") or os.path.expanduser("~/.cache/diagecg")


def llama_cpp_run(llm, n_prompt, n_gen):
    prompt = [(j * 104729) % 20000 + 100 for j in range(n_prompt)]
    llm.reset()
    t = time.perf_counter()
    llm.eval(prompt)
    prefill = n_prompt / (time.perf_counter() - t)
    t = time.perf_counter()
    for _ in range(n_gen):
        llm.eval([int(np.argmax(llm.scores[llm.n_tokens - 1]))])
    return prefill, n_gen / (time.perf_counter() - t)


def diagecg_run(binary, path, dtype, threads, n_prompt, n_gen):
    out = subprocess.run([binary, "-t", str(threads), "--log-level", "warn", "bench", "llm", "-m", path, "--dtype", dtype,
                          "--batch", "1", "--n-prompt", str(n_prompt), "--n-gen", str(n_gen), "--reps", "1"],
                         check=True, capture_output=True, text=True).stdout
    cols = None
    for line in out.splitlines():
        f = line.split()
        if f[:2] == ["model", "dtype"]:
            cols = f   # the header names the columns ("prefill tok/s" is two words: "prefill", "tok/s")
            continue
        if cols and len(f) >= 6 and f[1] == dtype:
            b = cols.index("batch")
            if f[b] == "1":
                return float(f[b + 1]), float(f[b + 2]), f[2]
    sys.exit(f"no result row in diagecg's output:\n{out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("gguf", nargs="*", default=[os.path.join(CACHE, "models/SmolLM2-135M-Instruct.Q4_1.gguf")])
    ap.add_argument("--diagecg", default=os.path.join(ROOT, "build/diagecg"))
    ap.add_argument("--dtype", default="native")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--n-prompt", type=int, default=128)
    ap.add_argument("--n-gen", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    best = {}
    # n_batch = n_ctx: with n_batch 512 a 512-token prompt failed here (its logits array held 512 rows)
    n_ctx = (a.n_prompt + a.n_gen + 8 + 255) // 256 * 256
    for path in a.gguf:
        llm = Llama(model_path=path, n_ctx=n_ctx, n_batch=n_ctx, n_threads=a.threads,
                    n_threads_batch=a.threads, verbose=False)
        for r in range(a.rounds):
            lp, ld = llama_cpp_run(llm, a.n_prompt, a.n_gen)
            op, od, kernel = diagecg_run(a.diagecg, path, a.dtype, a.threads, a.n_prompt, a.n_gen)
            print(f"round {r + 1} {os.path.basename(path)}: llama.cpp prefill {lp:.1f} decode {ld:.1f}; diagecg prefill "
                  f"{op:.1f} decode {od:.1f} tok/s", file=sys.stderr)
            b = best.get(path, [0, 0, 0, 0, kernel])
            best[path] = [max(b[0], lp), max(b[1], ld), max(b[2], op), max(b[3], od), kernel]
        del llm
    print(f"threads {a.threads}, prompt {a.n_prompt}, decode {a.n_gen} tokens, batch 1, best of {a.rounds} alternating rounds")
    print(f"{'model':<40} {'llama.cpp prefill':>17} {'diagecg prefill':>15} {'ratio':>6} {'llama.cpp decode':>16} "
          f"{'diagecg decode':>14} {'ratio':>6}")
    for path, (lp, ld, op, od, kernel) in best.items():
        print(f"{os.path.basename(path):<40} {lp:>17.1f} {op:>15.1f} {op / lp:>5.2f}x {ld:>16.1f} {od:>14.1f} {od / ld:>5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
