#!/usr/bin/env python3
"""Decode and prefill tokens/s of diagecg and llama.cpp (llama-cpp-python) on the same GGUF, alternating.

  "$(scripts/setup-python.sh --print-python)" tools/bench-llamacpp-decode.py [GGUF ...] [--rounds 3]
      [--n-prompt 128] [--n-gen 128] [--threads 2] [--diagecg build/diagecg] [--dtype native] [--batch 1]

For each round and file: llama.cpp (one Llama object, n_threads = n_threads_batch = THREADS, default KV and
flash-attention settings) times a prefill of N_PROMPT fixed ids and N_GEN greedy steps (argmax of its logits,
one llm.eval per token: the Python call is part of its step), then `diagecg bench llm -m FILE --dtype DTYPE
--batch 1` times the same lengths. Each figure is the best round. Run it alone (e.g. under
`flock /tmp/build.lock`): timings of a shared machine. With --batch B > 1, only decode: B sequences of the same
prompt step together (llama.cpp: one llama_decode of B tokens per step through the C API; diagecg: `bench llm
--batch B`), tok/s = B x steps / time. With --llama2c RUN --llama2c-model DIR (batch 1, one model), llama2.c's
run.c is timed in the same rounds on tools/export-llama2c.py's export of that model, -n N_PROMPT + N_GEN.
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
    prompt = [((j * 104729) % 20000 + 100) % llm.n_vocab() for j in range(n_prompt)]
    llm.reset()
    t = time.perf_counter()
    llm.eval(prompt)
    prefill = n_prompt / (time.perf_counter() - t)
    t = time.perf_counter()
    for _ in range(n_gen):
        llm.eval([int(np.argmax(llm.scores[llm.n_tokens - 1]))])
    return prefill, n_gen / (time.perf_counter() - t)


class BatchedLlamaCpp:
    """llama.cpp's batched decode through llama-cpp-python's C API (its Llama class runs one sequence): `batch`
    sequences of the same fixed prompt in one KV cache (n_seq_max = batch), then one llama_decode call per step for
    all of them, each continuing greedily (argmax of its own logits)."""

    def __init__(self, path, threads, batch, n_prompt, n_gen):
        import llama_cpp as L
        self.L, self.batch, self.n_prompt, self.n_gen = L, batch, n_prompt, n_gen
        L.llama_backend_init()
        self.model = L.llama_model_load_from_file(path.encode(), L.llama_model_default_params())
        if not self.model:
            sys.exit(f"llama.cpp cannot load {path}")
        cp = L.llama_context_default_params()
        cp.n_ctx = (batch * (n_prompt + n_gen + 8) + 255) // 256 * 256
        cp.n_batch = cp.n_ubatch = max(512, batch * n_prompt)
        cp.n_seq_max = batch
        cp.n_threads = cp.n_threads_batch = threads
        self.ctx = L.llama_init_from_model(self.model, cp)
        if not self.ctx:
            sys.exit(f"llama.cpp cannot make a context of {cp.n_ctx} for {batch} sequences")
        self.n_vocab = L.llama_vocab_n_tokens(L.llama_model_get_vocab(self.model))
        self.b = L.llama_batch_init(max(batch * n_prompt, batch), 0, batch)

    def _decode(self, items):  # (token, pos, seq, wants logits)
        b = self.b
        b.n_tokens = len(items)
        for k, (tok, pos, seq, out) in enumerate(items):
            b.token[k], b.pos[k], b.n_seq_id[k], b.logits[k] = tok, pos, 1, out
            b.seq_id[k][0] = seq
        if self.L.llama_decode(self.ctx, b) != 0:
            sys.exit("llama_decode failed")

    def _argmax(self, i):
        return int(np.argmax(np.ctypeslib.as_array(self.L.llama_get_logits_ith(self.ctx, i), shape=(self.n_vocab,))))

    def run(self):
        """decode tok/s: batch x steps / time"""
        self.L.llama_memory_clear(self.L.llama_get_memory(self.ctx), True)
        prompt = [((j * 104729) % 20000 + 100) % self.n_vocab for j in range(self.n_prompt)]
        self._decode([(t, j, s, j == self.n_prompt - 1) for s in range(self.batch) for j, t in enumerate(prompt)])
        nxt = [self._argmax(s * self.n_prompt + self.n_prompt - 1) for s in range(self.batch)]
        t0 = time.perf_counter()
        for step in range(self.n_gen):
            self._decode([(nxt[s], self.n_prompt + step, s, True) for s in range(self.batch)])
            nxt = [self._argmax(s) for s in range(self.batch)]
        return self.batch * self.n_gen / (time.perf_counter() - t0)

    def close(self):
        self.L.llama_batch_free(self.b)
        self.L.llama_free(self.ctx)
        self.L.llama_model_free(self.model)


def diagecg_run(binary, path, dtype, threads, n_prompt, n_gen, batch=1):
    out = subprocess.run([binary, "-t", str(threads), "--log-level", "warn", "bench", "llm", "-m", path, "--dtype", dtype,
                          "--batch", str(batch), "--n-prompt", str(n_prompt), "--n-gen", str(n_gen), "--reps", "1"],
                         check=True, capture_output=True, text=True).stdout
    cols = None
    for line in out.splitlines():
        f = line.split()
        if f[:2] == ["model", "dtype"]:
            cols = f   # the header names the columns ("prefill tok/s" is two words: "prefill", "tok/s")
            continue
        if cols and len(f) >= 6 and f[1] == dtype:
            b = cols.index("batch")
            if f[b] == str(batch):
                return float(f[b + 1]), float(f[b + 2]), f[2]
    sys.exit(f"no result row in diagecg's output:\n{out}")


def llama2c_run(run_bin, model_dir, steps, tries=5):
    """llama2.c's run.c (built from its sources in a scratch folder) on tools/export-llama2c.py's files: greedy, every
    step one single-token forward; best of `tries` runs of its own "achieved tok/s" (a millisecond timer, so runs
    of a few tens of ms are coarse)."""
    best = 0.0
    for _ in range(tries):
        out = subprocess.run([run_bin, os.path.join(model_dir, "model.bin"), "-z", os.path.join(model_dir, "tokenizer.bin"),
                              "-t", "0", "-n", str(steps), "-i", "Once upon a time"],
                             check=True, capture_output=True, text=True)
        m = re.search(r"achieved tok/s: ([0-9.]+)", out.stderr + out.stdout)
        if not m:
            sys.exit(f"no 'achieved tok/s' in llama2.c's output:\n{out.stderr}")
        best = max(best, float(m.group(1)))
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("gguf", nargs="*", default=[os.path.join(CACHE, "models/SmolLM2-135M-Instruct.Q4_1.gguf")])
    ap.add_argument("--diagecg", default=os.path.join(ROOT, "build/diagecg"))
    ap.add_argument("--dtype", default="native")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--n-prompt", type=int, default=128)
    ap.add_argument("--n-gen", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=1,
                    help="sequences decoded side by side; above 1 only decode is timed (llama.cpp: BatchedLlamaCpp)")
    ap.add_argument("--llama2c", metavar="RUN", help="llama2.c's run binary: time it too (batch 1, one GGUF)")
    ap.add_argument("--llama2c-model", metavar="DIR", help="tools/export-llama2c.py's output for the same model")
    a = ap.parse_args()
    if a.llama2c and (not a.llama2c_model or a.batch != 1 or len(a.gguf) != 1):
        sys.exit("--llama2c needs --llama2c-model, --batch 1 and one GGUF (the same model)")
    best = {}
    if a.batch > 1:
        for path in a.gguf:
            ll = BatchedLlamaCpp(path, a.threads, a.batch, a.n_prompt, a.n_gen)
            for r in range(a.rounds):
                ld = ll.run()
                _, od, kernel = diagecg_run(a.diagecg, path, a.dtype, a.threads, a.n_prompt, a.n_gen, a.batch)
                print(f"round {r + 1} {os.path.basename(path)}: llama.cpp decode {ld:.1f}; diagecg decode {od:.1f} tok/s",
                      file=sys.stderr)
                best[path] = [max(best.get(path, [0, 0])[0], ld), max(best.get(path, [0, 0])[1], od)]
            ll.close()
        print(f"threads {a.threads}, prompt {a.n_prompt}, decode {a.n_gen} steps of batch {a.batch}, best of {a.rounds} "
              f"alternating rounds")
        print(f"{'model':<40} {'llama.cpp decode':>16} {'diagecg decode':>14} {'ratio':>6}")
        for path, (ld, od) in best.items():
            print(f"{os.path.basename(path):<40} {ld:>16.1f} {od:>14.1f} {od / ld:>5.2f}x")
        return 0
    # n_batch = n_ctx: with n_batch 512 a 512-token prompt failed here (its logits array held 512 rows)
    n_ctx = (a.n_prompt + a.n_gen + 8 + 255) // 256 * 256
    for path in a.gguf:
        llm = Llama(model_path=path, n_ctx=n_ctx, n_batch=n_ctx, n_threads=a.threads,
                    n_threads_batch=a.threads, verbose=False)
        for r in range(a.rounds):
            lp, ld = llama_cpp_run(llm, a.n_prompt, a.n_gen)
            op, od, kernel = diagecg_run(a.diagecg, path, a.dtype, a.threads, a.n_prompt, a.n_gen)
            cd = llama2c_run(a.llama2c, a.llama2c_model, a.n_prompt + a.n_gen) if a.llama2c else 0.0
            print(f"round {r + 1} {os.path.basename(path)}: llama.cpp prefill {lp:.1f} decode {ld:.1f}; diagecg prefill "
                  f"{op:.1f} decode {od:.1f} tok/s" + (f"; llama2.c {cd:.1f} tok/s" if a.llama2c else ""),
                  file=sys.stderr)
            b = best.get(path, [0, 0, 0, 0, kernel, 0])
            best[path] = [max(b[0], lp), max(b[1], ld), max(b[2], op), max(b[3], od), kernel, max(b[5], cd)]
        del llm
    print(f"threads {a.threads}, prompt {a.n_prompt}, decode {a.n_gen} tokens, batch 1, best of {a.rounds} alternating rounds")
    print(f"{'model':<40} {'llama.cpp prefill':>17} {'diagecg prefill':>15} {'ratio':>6} {'llama.cpp decode':>16} "
          f"{'diagecg decode':>14} {'ratio':>6}")
    for path, (lp, ld, op, od, kernel, cd) in best.items():
        print(f"{os.path.basename(path):<40} {lp:>17.1f} {op:>15.1f} {op / lp:>5.2f}x {ld:>16.1f} {od:>14.1f} {od / ld:>5.2f}x")
        print(f"  decode ms/step: llama.cpp {1e3 / ld:.3f}, diagecg {1e3 / od:.3f}" +
              (f", llama2.c {1e3 / cd:.3f} (its -n {a.n_prompt + a.n_gen} single-token steps from a 5-token prompt); "
               f"diagecg / llama2.c tok/s {od / cd:.2f}x" if cd else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
