#!/usr/bin/env python3
"""Greedy text of one model under two weight types: do the first N generated tokens agree, prompt by prompt?

usage: greedy-agreement.py --diagecg BIN -m MODEL [--a bf16] [--b q8_0] [-n 32] [--chat]
Runs `diagecg generate --json --temp 0 -n N` once per type on the 20 prompts below (one batch each), compares
the generated token ids, and prints a Markdown table (first differing position per prompt) and the count of prompts
whose first N tokens are identical. Exits 1 when a run fails. No Python package beyond the standard library.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

PROMPTS = [
    "What does an electrocardiogram measure?",
    "Explain atrial fibrillation in two sentences.",
    "What is the normal range of the PR interval?",
    "Name three causes of sinus tachycardia.",
    "What is a left bundle branch block?",
    "Describe the QRS complex.",
    "What is the capital of France?",
    "Write a haiku about the ocean.",
    "How do vaccines work?",
    "List the planets of the solar system in order.",
    "What is the difference between weather and climate?",
    "Give me a recipe for pancakes.",
    "Why is the sky blue?",
    "Translate 'good morning' into Spanish and German.",
    "What is photosynthesis?",
    "Summarize the plot of Romeo and Juliet.",
    "How many minutes are there in a day? Show the arithmetic.",
    "What are the symptoms of a heart attack?",
    "Write a Python function that reverses a string.",
    "What is the boiling point of water at sea level in Fahrenheit?",
]


def run(bin_, model, dtype, n, chat, prompts_file):
    cmd = [bin_, "-t", "2", "--log-level", "warn", "generate", "-m", model, "--dtype", dtype, "-f", prompts_file,
           "-n", str(n), "--temp", "0", "--json", "--ignore-eos"] + (["--chat"] if chat else [])
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"greedy-agreement: {' '.join(cmd)}: {res.stderr.strip().splitlines()[-1:]}")
    return [json.loads(line) for line in res.stdout.splitlines() if line.strip()]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--diagecg", required=True)
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("--a", default="bf16")
    ap.add_argument("--b", default="q8_0")
    ap.add_argument("-n", type=int, default=32)
    ap.add_argument("--chat", action="store_true")
    a = ap.parse_args()
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(PROMPTS) + "\n")
        path = f.name
    try:
        ra = run(a.diagecg, a.model, a.a, a.n, a.chat, path)
        rb = run(a.diagecg, a.model, a.b, a.n, a.chat, path)
    finally:
        os.unlink(path)
    if len(ra) != len(PROMPTS) or len(rb) != len(PROMPTS):
        sys.exit(f"greedy-agreement: expected {len(PROMPTS)} results, got {len(ra)} and {len(rb)}")
    same = 0
    print(f"| prompt | first differing token ({a.a} vs {a.b}, of {a.n}) |")
    print("|---|---|")
    for p, x, y in zip(PROMPTS, ra, rb):
        ta, tb = x["tokens"][: a.n], y["tokens"][: a.n]
        diff = next((i for i, (u, v) in enumerate(zip(ta, tb)) if u != v), None)
        if diff is None and len(ta) != len(tb):
            diff = min(len(ta), len(tb))
        same += diff is None
        print(f"| {p} | {'none' if diff is None else diff} |")
    print(f"\n{same} of {len(PROMPTS)} prompts: the first {a.n} greedy tokens are the same ({a.a} vs {a.b}, {a.model})")


if __name__ == "__main__":
    main()
