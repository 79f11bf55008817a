#!/usr/bin/env python3
"""How much of each PTB-XL label a linear model reads from the ECG codes alone (bag of codes, no LLM).

  "$(scripts/setup-python.sh --print-python)" tools/probe-ecg-codes.py runs/token-cache/codes-KEY.bin \
      ../shared/data/ptbxl-meta/ptbxl_database.csv [--train-folds 1-7] [--val-fold 8] [--test-fold 9]

Reads the ECG token cache that stage 2/3 training writes (EcgTokenCache, include/diagecg/tokenizer/
ecg-token-cache.h: "DGTC" version 2) and, for every cached PTB-XL record (a key under /ptbxl-processed/), the
record's scp_codes and strat_fold from the official table. Features: log(1 + count) of each of the codebook's
codes in the record, standardized on the training folds. Per label: a class-weighted L2 logistic regression
(plain gradient descent, NumPy only), its L2 weight picked on the validation fold, then the ROC AUC on the test
fold. A label the codes carry well but the LLM answers from priors points at training, not at the tokenizer.
"""
import argparse
import ast
import csv
import os
import struct
import sys

import numpy as np

LABELS = ["NORM", "SR", "AFIB", "STACH", "SBRAD", "LVH", "IMI", "ASMI", "CLBBB", "CRBBB", "NDT"]


def read_cache(path):
    """{ecg_id: codes [P]} for the PTB-XL records in a token cache file, and P."""
    try:
        data = open(path, "rb").read()
    except OSError as e:
        sys.exit(f"probe-ecg-codes: {e}")
    if data[:4] != b"DGTC" or struct.unpack("<I", data[4:8])[0] != 2:
        sys.exit(f"probe-ecg-codes: {path}: not a version-2 ECG token cache")
    p, n = struct.unpack("<IQ", data[8:20])
    o, out = 20, {}
    for _ in range(n):
        (klen,) = struct.unpack("<I", data[o:o + 4])
        key = data[o + 4:o + 4 + klen].decode()
        o += 4 + klen + 16                              # key, file size, mtime
        codes = np.frombuffer(data[o:o + 2 * p], np.uint16).astype(np.int64)
        o += 2 * p + 1                                  # codes, quality verdict
        (nr,) = struct.unpack("<I", data[o:o + 4])
        o += 4
        for _ in range(nr):
            o += 4 + struct.unpack("<I", data[o:o + 4])[0]
        record = key.split("\t")[0]
        if "/ptbxl-processed/" in record and len(codes) == p:
            out[int(os.path.basename(record).split(".")[0])] = codes
    return out, p


def auc(score, y):
    ranks = np.empty(len(score))
    ranks[np.argsort(score)] = np.arange(1, len(score) + 1)
    pos = y.sum()
    return (ranks[y == 1].sum() - pos * (pos + 1) / 2) / (pos * (len(y) - pos))


def fit(x, y, lam, iters=400, lr=0.1):
    w, b = np.zeros(x.shape[1]), 0.0
    weight = np.where(y == 1, (len(y) - y.sum()) / max(1.0, y.sum()), 1.0)
    weight /= weight.mean()
    for _ in range(iters):
        g = weight * (1 / (1 + np.exp(-(x @ w + b))) - y)
        w -= lr * (x.T @ g + lam * w) / len(y)
        b -= lr * g.mean()
    return w, b


def folds(spec):
    lo, _, hi = spec.partition("-")
    return set(range(int(lo), int(hi or lo) + 1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cache")
    ap.add_argument("database", help="ptbxl_database.csv")
    ap.add_argument("--train-folds", default="1-7")
    ap.add_argument("--val-fold", type=int, default=8)
    ap.add_argument("--test-fold", type=int, default=9)
    ap.add_argument("--codebook", type=int, default=1296)
    a = ap.parse_args()
    codes, p = read_cache(a.cache)
    meta = {}
    with open(a.database) as f:
        for r in csv.DictReader(f):
            meta[int(float(r["ecg_id"]))] = (ast.literal_eval(r["scp_codes"]), int(float(r["strat_fold"])))
    ids = sorted(i for i in codes if i in meta)
    if not ids:
        sys.exit("probe-ecg-codes: no cached record is in the database")
    x = np.stack([np.log1p(np.bincount(codes[i][codes[i] < a.codebook], minlength=a.codebook)) for i in ids])
    fold = np.array([meta[i][1] for i in ids])
    tr, va, te = np.isin(fold, list(folds(a.train_folds))), fold == a.val_fold, fold == a.test_fold
    if not tr.any() or not va.any() or not te.any():
        sys.exit(f"probe-ecg-codes: folds present in the cache: {sorted(set(fold.tolist()))}")
    x = (x - x[tr].mean(0)) / (x[tr].std(0) + 1e-6)
    print(f"{len(ids)} cached PTB-XL records, {p} codes each; train folds {a.train_folds} ({tr.sum()}), "
          f"val fold {a.val_fold} ({va.sum()}), test fold {a.test_fold} ({te.sum()})")
    print(f"{'label':<6} {'train+':>6} {'test+':>5} {'val AUC':>7} {'L2':>5} {'test AUC':>8}")
    for label in LABELS:
        y = np.array([1.0 if label in meta[i][0] else 0.0 for i in ids])
        if min(y[tr].sum(), y[va].sum(), y[te].sum()) < 1 or y[te].sum() == te.sum():
            print(f"{label:<6} too few positives or negatives in a split")
            continue
        best = max(((auc(x[va] @ w + b, y[va]), lam, w, b) for lam in (1, 10, 100, 1000)
                    for w, b in [fit(x[tr], y[tr], lam)]), key=lambda t: t[0])
        v, lam, w, b = best
        print(f"{label:<6} {int(y[tr].sum()):>6} {int(y[te].sum()):>5} {v:>7.3f} {lam:>5} {auc(x[te] @ w + b, y[te]):>8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
