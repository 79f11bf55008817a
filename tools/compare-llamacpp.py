#!/usr/bin/env python3
"""Greedy decoding of diagecg against llama.cpp (llama-cpp-python) on one GGUF chat model, prompt by prompt.

For each prompt (a user turn in the model's chat template):
  1. diagecg: `generate -m GGUF --chat --temp 0 -n N --json --logits-out F`, one process per prompt (or one
     batch with --batch): the prompt ids it built, its greedy ids, its first-step logits.
  2. The prompt ids are checked against llama.cpp's: the GGUF's own Jinja chat template rendered by
     llama-cpp-python, tokenized by llama.cpp. A mismatch is printed loudly and makes the exit status 1;
     both sides are then still fed diagecg's ids, so the decoding comparison stays like for like.
  3. llama.cpp greedy from those ids (argmax of its logits each step, stop at EOS), two references:
       native  the GGUF as llama.cpp runs it by default (quantized matmuls on Q8-quantized activations,
               f16 KV cache), against `diagecg --dtype native` (the same blocks and Q8 activations, f32 KV);
       exact   a copy of the GGUF whose tensors gguf-py dequantized to F32, F32 KV cache, no flash
               attention: the same weights in f32 arithmetic, against `diagecg --dtype f32`.
Per prompt and reference: identical, or the first divergence step with llama.cpp's top-2 logit gap there
relative to their magnitude (|l1 - l2| / max(|l1|, |l2|); issue 14 allows divergence only where < 1e-3), and
the first-step logits' max |diff| / std.

--write-greedy FILE stores the --n-golden prompts on which diagecg equals llama.cpp exact with the widest
smallest top-2 gap along the way (least sensitive to rounding): tests/data/gguf/smollm2-greedy.json, which
tests/test-gguf-model.cpp (GgufModel.SmolLM2GreedyMatchesLlamaCpp) checks.

Run with the reference environment:
  "$(scripts/setup-python.sh --print-python)" tools/compare-llamacpp.py [--diagecg build/diagecg] [--model GGUF]
"""
import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time

import llama_cpp
import numpy as np
from llama_cpp import Llama
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
CACHE = os.environ.get("DIAGECG_CACHE", os.path.expanduser("~/.cache/diagecg"))
GAP_LIMIT = 1e-3

PROMPTS = [
    "What does an ECG measure?",
    "What is atrial fibrillation?",
    "Explain the difference between a heart attack and cardiac arrest.",
    "What is a normal resting heart rate for adults?",
    "What does ST elevation on an electrocardiogram suggest?",
    "Describe the P wave, the QRS complex and the T wave of an ECG.",
    "What are the common symptoms of heart failure?",
    "How is high blood pressure treated?",
    "What is a left bundle branch block?",
    "Summarize this ECG report: Sinus rhythm, rate 72 bpm. Left axis deviation. No acute ST changes.",
    "What can cause a prolonged QT interval?",
    "Should a patient with sudden chest pain go to the emergency room?",
    "Why does potassium matter for the heart rhythm?",
    "How does a pacemaker work?",
    "Is a heart rate of 45 beats per minute dangerous?",
    "What is the capital of France?",
    "Write a short poem about the ocean.",
    "Give me three tips for learning a new language.",
    "How do airplanes stay in the air?",
    "Translate \"good morning\" into Spanish and German.",
    "What is 12 times 13?",
    "Explain photosynthesis to a ten-year-old.",
    "Write a Python function that reverses a string.",
]


def load_dequantizer():
    """write_dequantized() of tools/make-gguf-logits.py (one implementation of the F32 copy)."""
    spec = importlib.util.spec_from_file_location("make_gguf_logits", os.path.join(ROOT, "tools/make-gguf-logits.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.write_dequantized


def f32_copy(model):
    """The F32-dequantized copy beside `model` (written once, then reused)."""
    base = model[:-len(".gguf")] if model.endswith(".gguf") else model
    path = base + ".f32-dequantized.gguf"
    if not os.path.exists(path) or os.path.getmtime(path) < os.path.getmtime(model):
        print(f"writing {path}", file=sys.stderr)
        load_dequantizer()(model, path + ".tmp")
        os.replace(path + ".tmp", path)
    return path


def run_diagecg(binary, model, prompts, n_predict, batch, dtype):
    """[(record, first-step logits [V])] per prompt from `diagecg generate --dtype DTYPE --json --logits-out`."""
    groups = [prompts] if batch else [[p] for p in prompts]
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, group in enumerate(groups):
            logits_file = os.path.join(tmp, f"logits-{k}.f32")
            cmd = [binary, "generate", "-m", model, "--dtype", dtype, "--chat", "--temp", "0", "-n", str(n_predict),
                   "--json", "--logits-out", logits_file]
            for p in group:
                cmd += ["-p", p]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                sys.exit(f"diagecg failed ({res.returncode}): {' '.join(cmd)}\n{res.stderr}")
            records = [json.loads(line) for line in res.stdout.split("\n") if line.strip()]
            logits = np.fromfile(logits_file, dtype=np.float32).reshape(len(group), -1)
            out += list(zip(records, logits))
            print(f"  diagecg {k + 1}/{len(groups)}", file=sys.stderr, end="\r")
    print(file=sys.stderr)
    return out


def reference_prompt_ids(tok, text):
    """llama.cpp's ids of the prompt: the GGUF's Jinja chat template, then llama.cpp's tokenizer."""
    template = tok.metadata["tokenizer.chat_template"]
    eos = tok.detokenize([tok.token_eos()]).decode("utf-8")
    bos = tok.detokenize([tok.token_bos()]).decode("utf-8")
    rendered = Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos)(
        messages=[{"role": "user", "content": text}]).prompt
    return tok.tokenize(rendered.encode("utf-8"), add_bos=False, special=True)


def llama_greedy(llm, prompt_ids, n_predict):
    """llama.cpp greedy: (ids incl. a final EOS if reached, [step] logits [V] f32)."""
    llm.reset()
    llm.eval(prompt_ids)
    ids, steps = [], []
    for _ in range(n_predict):
        logits = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
        steps.append(logits)
        t = int(np.argmax(logits))
        ids.append(t)
        if t == llm.token_eos():
            break
        llm.eval([t])
    return ids, steps


def rel_gap(a, b):
    return abs(a - b) / max(abs(a), abs(b), 1e-30)


def compare(ours, ref_ids, ref_steps, eos):
    """(status, step, top-2 gap rel, gap between the two choices rel, min top-2 gap rel over the steps)."""
    rec = ours["record"]
    mine = list(rec["tokens"]) + ([eos] if rec["stop_reason"] == "eos" else [])
    gaps = [rel_gap(*np.sort(s)[-2:][::-1]) for s in ref_steps]
    for i, (a, b) in enumerate(zip(mine, ref_ids)):
        if a != b:
            s = ref_steps[i]
            return "diverge", i, gaps[i], rel_gap(float(s[b]), float(s[a])), min(gaps[:i + 1])
    if len(mine) != len(ref_ids):
        return f"len {len(mine)}/{len(ref_ids)}", min(len(mine), len(ref_ids)), None, None, min(gaps)
    return "identical", None, None, None, min(gaps)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--diagecg", default=os.path.join(ROOT, "build/diagecg"), help="diagecg binary")
    ap.add_argument("--model", default=os.path.join(CACHE, "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("-n", "--n-predict", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2, help="llama.cpp threads")
    ap.add_argument("--first", type=int, default=len(PROMPTS), help="only the first N prompts")
    ap.add_argument("--batch", action="store_true", help="diagecg runs all prompts as one batch")
    ap.add_argument("--write-greedy", metavar="FILE", help="store prompts + llama.cpp exact greedy ids")
    ap.add_argument("--n-golden", type=int, default=5, help="prompts stored by --write-greedy")
    args = ap.parse_args()
    del PROMPTS[args.first:]

    t0 = time.time()
    ours_by = {d: [{"record": r, "logits": lg} for r, lg in run_diagecg(args.diagecg, args.model, PROMPTS,
                                                                          args.n_predict, args.batch, d)]
               for d in ("native", "f32")}
    ours = ours_by["f32"]
    t_ours = time.time() - t0
    tok = Llama(model_path=args.model, vocab_only=True, verbose=False)
    eos = tok.token_eos()
    n_mismatch = 0
    for text, o in zip(PROMPTS, ours + ours_by["native"]):
        want = reference_prompt_ids(tok, text)
        if want != o["record"]["prompt_tokens"]:
            n_mismatch += 1
            print(f"!!! PROMPT IDS DIFFER for {text!r}:\n!!!   diagecg   {o['record']['prompt_tokens']}\n"
                  f"!!!   llama.cpp {want}")
    print(f"prompt ids (chat template + tokenizer): {2 * len(PROMPTS) - n_mismatch}/{2 * len(PROMPTS)} (2 dtypes) identical to "
          f"llama.cpp's; diagecg {'batched' if args.batch else 'one process per prompt'}, {t_ours:.0f} s")

    refs = [("native", "llama.cpp on the Q4_1 file, default settings (Q8 activations in matmuls, f16 KV), against "
             "diagecg --dtype native (the file's blocks kept, Q8 activations, f32 KV)", args.model, {}),
            ("exact", "llama.cpp on the F32-dequantized copy, F32 KV, no flash attention, against diagecg --dtype f32",
             f32_copy(args.model), {"type_k": 0, "type_v": 0, "flash_attn": False})]
    exact_runs = None
    for name, title, path, kw in refs:
        llm = Llama(model_path=path, n_ctx=512, n_batch=512, n_threads=args.threads,
                    n_threads_batch=args.threads, logits_all=True, verbose=False, **kw)
        print(f"\n== reference {name}: {title}")
        print(f"{'#':>2} {'prompt':<34} {'ids':>3} {'result':<10} {'step':>4} {'top2 gap':>9} {'gap ours':>9} "
              f"{'min gap':>9} {'step0 max|d|/std':>16}")
        n_same = n_ok = n_bad = 0
        runs = []
        for i, (text, o) in enumerate(zip(PROMPTS, ours_by["native" if name == "native" else "f32"])):
            ref_ids, ref_steps = llama_greedy(llm, o["record"]["prompt_tokens"], args.n_predict)
            status, step, gap, gap_ours, min_gap = compare(o, ref_ids, ref_steps, eos)
            d0 = float(np.abs(o["logits"] - ref_steps[0]).max() / ref_steps[0].std())
            runs.append({"ids": ref_ids, "status": status, "min_gap": min_gap})
            if status == "identical":
                n_same += 1
                verdict = ""
            elif gap is not None and gap < GAP_LIMIT:
                n_ok += 1
                verdict = "  allowed (gap < 1e-3)"
            else:
                n_bad += 1
                verdict = "  NOT allowed (gap >= 1e-3)"
            fmt = lambda x: f"{x:9.2e}" if x is not None else f"{'-':>9}"
            print(f"{i + 1:2d} {text[:34]:<34} {len(ref_ids):3d} {status:<10} {step if step is not None else '-':>4} "
                  f"{fmt(gap)} {fmt(gap_ours)} {fmt(min_gap)} {d0:16.2e}{verdict}")
        print(f"{name}: {n_same} identical, {n_ok} diverge where top-2 gap < 1e-3, {n_bad} diverge elsewhere "
              f"(of {len(PROMPTS)})")
        if name == "exact":
            exact_runs = runs
        del llm
    print("\ncolumns: ids = llama.cpp's generated ids (incl. EOS); step = first divergence (0-based); top2 gap = "
          "llama.cpp's |l1-l2|/max|l| there; gap ours = the same between llama.cpp's and diagecg's choice; min gap = "
          "smallest top-2 gap on llama.cpp's path up to there; step0 = first-step logits max|diff| / their std")

    if args.write_greedy:
        same = [i for i, r in enumerate(exact_runs) if r["status"] == "identical"]
        chosen = sorted(sorted(same, key=lambda i: -exact_runs[i]["min_gap"])[:args.n_golden])
        records = [{"prompt": PROMPTS[i], "prompt_ids": ours[i]["record"]["prompt_tokens"],
                    "ids": [t for t in exact_runs[i]["ids"] if t != eos],
                    "eos": exact_runs[i]["ids"][-1] == eos,
                    "min_top2_gap": float(exact_runs[i]["min_gap"])} for i in chosen]
        with open(args.write_greedy + ".tmp", "w") as f:
            json.dump({"model": os.path.basename(args.model), "n_predict": args.n_predict,
                       "reference": f"llama-cpp-python {llama_cpp.__version__} greedy on the F32-dequantized GGUF (F32 KV cache); "
                                    "diagecg's ids equal these", "prompts": records}, f, indent=1)
            f.write("\n")
        os.replace(args.write_greedy + ".tmp", args.write_greedy)
        print(f"wrote {args.write_greedy} ({len(records)} prompts)", file=sys.stderr)
    return 1 if n_mismatch else 0


if __name__ == "__main__":
    sys.exit(main())
