#!/usr/bin/env python3
"""ECGs/s of the authors' tokenizer module (eager PyTorch) and of `diagecg bench tokenizer`, side by side.

  bench-heartllm-tokenizer.py HEARTLLM_DIR [--diagecg build/diagecg] [--dtype f32 bf16] [--batch 1 8 64]
                              [--ecgs 64] [--reps 3] [--rounds 2] [--threads 2]

HEARTLLM_DIR is a checkout of the authors' repository (github.com/yangjinning/HeartLLM; not part of this project):
their FSQ_AE is imported from it (tools/heartllm_module.py). For each round, dtype and batch the two run one after
the other (theirs in this process, then `diagecg -t THREADS bench tokenizer --json` for the same dtype and batch),
so that both see the same machine load; each figure is the best pass over all rounds. A pass encodes the same
number of random ECGs (--ecgs) in batches of the row's size, so rows differ only by batching. Both time what
tokenizing needs: the encoder, the FSQ and the token ids (theirs: enc -> quant -> q2idx of model/heartllm.py),
random weights and input, no grad. Run it alone (e.g. under `flock /tmp/build.lock`): timings of a shared machine.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import heartllm_module  # noqa: E402

GFLOP_PER_ECG = 0.8267  # the encoder's multiply-adds x 2 (EcgTokenizerConfig::encoder_flops, heartllm)


def theirs(model, dtype, batch, n_ecgs, reps):
    """ECGs/s over a pool of n_ecgs random ECGs encoded in batches of `batch` (as `diagecg bench tokenizer --ecgs`)."""
    pool = torch.randn(n_ecgs, 12, 5000).to(dtype)
    best = float("inf")
    with torch.no_grad():
        for r in range(reps + 1):  # the first pass warms up
            t = time.perf_counter()
            for i in range(0, n_ecgs, batch):
                x = pool[i:i + batch]
                z = model.enc(x)
                _, q = model.quant(z)
                ids = heartllm_module.q2idx(q, model.levels, z.shape[-1])
                int(ids.sum())
            if r > 0:
                best = min(best, time.perf_counter() - t)
    return n_ecgs / best


def ours(binary, threads, dtype, batch, n_ecgs, reps):
    """{kernel: ECGs/s} for diagecg's default (auto: codes re-checked near rounding boundaries) and plain fused kernels."""
    out = subprocess.run([binary, "-t", str(threads), "--log-level", "warn", "bench", "tokenizer", "--json", "--kernel", "auto",
                          "fused", "--dtype", dtype, "--batch", str(batch), "--ecgs", str(n_ecgs), "--reps", str(reps)],
                         check=True, capture_output=True, text=True).stdout
    rows = [json.loads(line) for line in out.strip().splitlines()]
    return {r["kernel"]: r["ecgs_per_s"] for r in rows}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("heartllm_dir")
    p.add_argument("--diagecg", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "diagecg"))
    p.add_argument("--dtype", nargs="+", default=["f32", "bf16"], choices=["f32", "bf16"])
    p.add_argument("--batch", nargs="+", type=int, default=[1, 8, 64])
    p.add_argument("--ecgs", type=int, default=64, help="ECGs per pass; every batch size encodes the same number")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    mod = heartllm_module.load(a.heartllm_dir)
    torch.manual_seed(0)
    model = heartllm_module.build(mod).eval()
    best = {}
    for rnd in range(a.rounds):
        for ds in a.dtype:
            dtype = torch.float32 if ds == "f32" else torch.bfloat16
            model.to(dtype)
            for b in a.batch:
                t = theirs(model, dtype, b, a.ecgs, a.reps)
                o = ours(a.diagecg, a.threads, ds, b, a.ecgs, a.reps)
                k = (ds, b)
                prev = best.get(k, (0, 0, 0))
                best[k] = (max(prev[0], t), max(prev[1], o["auto"]), max(prev[2], o["fused"]))
                print(f"round {rnd + 1}: {ds} batch {b}: theirs {t:.1f}, diagecg {o['auto']:.1f} (fused only "
                      f"{o['fused']:.1f}) ECGs/s", file=sys.stderr)
    print(f"threads {a.threads}; PyTorch {torch.__version__}; {GFLOP_PER_ECG} GFLOP per ECG; best of {a.rounds} rounds x {a.reps} passes of {a.ecgs} ECGs")
    print("diagecg = its default (auto: fused kernels, ECGs near a rounding boundary re-encoded through LibTorch so that the "
          "codes are the authors'); fused = the fused kernels alone")
    print(f"{'dtype':<5} {'batch':>5} {'theirs ECGs/s':>14} {'GFLOP/s':>8} {'diagecg ECGs/s':>15} {'GFLOP/s':>8} {'ratio':>6}"
          f" {'fused ECGs/s':>13} {'ratio':>6}")
    for (ds, b), (t, o, f) in best.items():
        print(f"{ds:<5} {b:>5} {t:>14.1f} {t * GFLOP_PER_ECG:>8.1f} {o:>15.1f} {o * GFLOP_PER_ECG:>8.1f} {o / t:>5.2f}x"
              f" {f:>13.1f} {f / t:>5.2f}x")


if __name__ == "__main__":
    main()
