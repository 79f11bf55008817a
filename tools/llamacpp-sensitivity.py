#!/usr/bin/env python3
"""How far llama.cpp's first-step logits move with its own settings, beside diagecg's distance to it.

  "$(scripts/setup-python.sh --print-python)" tools/llamacpp-sensitivity.py [--model GGUF] [--diagecg build/diagecg]

For a few prompts (chat template applied by diagecg; ids checked equal to what llama.cpp is fed): max |diff| / std
of the last position's logits between
  - llama.cpp default (Q8 activations, f16 KV cache, flash attention auto) and llama.cpp with an f32 KV cache and
    no flash attention (same weights, same activation quantization),
  - diagecg --dtype native (Q8 activations, f32 KV) and both llama.cpp runs,
  - diagecg --dtype f32 and llama.cpp on the F32-dequantized copy (tools/compare-llamacpp.py makes it).
and the same for one-token prompts (no attention across positions).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from llama_cpp import Llama

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
CACHE = os.environ.get("DIAGECG_CACHE") or os.path.expanduser("~/.cache/diagecg")


def ours(binary, model, dtype, prompt, chat, tmp):
    out = os.path.join(tmp, "logits.f32")
    cmd = [binary, "generate", "-m", model, "--dtype", dtype, "--temp", "0", "-n", "1", "--json", "--logits-out", out,
           "-p", prompt] + (["--chat"] if chat else [])
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[0])["prompt_tokens"], np.fromfile(out, dtype=np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(CACHE, "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--diagecg", default=os.path.join(ROOT, "build/diagecg"))
    a = ap.parse_args()
    f32_copy = os.path.splitext(a.model)[0] + ".f32-dequantized.gguf"
    if not os.path.exists(f32_copy):
        sys.exit(f"{f32_copy} is missing: run tools/compare-llamacpp.py once (it writes it)")
    kw = dict(n_ctx=512, n_batch=512, n_threads=2, logits_all=True, verbose=False)
    refs = {"llama.cpp default": Llama(model_path=a.model, **kw),
            "llama.cpp f32-KV": Llama(model_path=a.model, type_k=0, type_v=0, flash_attn=False, **kw),
            "llama.cpp exact": Llama(model_path=f32_copy, type_k=0, type_v=0, flash_attn=False, **kw)}
    cases = [("What does an ECG measure?", True), ("What is the capital of France?", True),
             ("The heart has four chambers and", False), ("x", False), ("Hello", False)]
    print(f"{'prompt':<34} {'ids':>3} {'default vs f32-KV':>17} {'native vs default':>17} {'native vs f32-KV':>16} "
          f"{'f32 vs exact':>12}   (max |diff| / std of llama.cpp default's logits)")
    with tempfile.TemporaryDirectory() as tmp:
        for prompt, chat in cases:
            ids, native = ours(a.diagecg, a.model, "native", prompt, chat, tmp)
            ids32, f32 = ours(a.diagecg, a.model, "f32", prompt, chat, tmp)
            assert ids == ids32
            lg = {}
            for name, llm in refs.items():
                llm.reset()
                llm.eval(ids)
                lg[name] = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
            s = lg["llama.cpp default"].std()
            d = lambda x, y: float(np.abs(x - y).max() / s)
            print(f"{prompt[:34]:<34} {len(ids):>3} {d(lg['llama.cpp default'], lg['llama.cpp f32-KV']):>17.2e} "
                  f"{d(native, lg['llama.cpp default']):>17.2e} {d(native, lg['llama.cpp f32-KV']):>16.2e} "
                  f"{d(f32, lg['llama.cpp exact']):>12.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
