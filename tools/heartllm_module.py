"""Loads the authors' ECG tokenizer module (HeartLLM ecg_tokenizer/tokenizer.py) from a checkout the caller names.

Nothing of the authors' code is kept in this repository: it is imported from HEARTLLM_DIR at run time
(e.g. a clone of github.com/yangjinning/HeartLLM). Their file imports packages that only its training loop uses
(wfdb, scikit-learn, tensorboard); those missing here are replaced by empty placeholders before the import.
Used by tools/check-heartllm-identity.py and tools/bench-heartllm-tokenizer.py (Debian: python3-torch, python3-numpy).
"""
import importlib
import importlib.util
import json
import os
import sys
import types

import numpy as np


def load(checkout):
    """Returns the authors' tokenizer module (FSQ_AE, ECGEncoder, ECGDecoder, FSQ, ...)."""
    path = os.path.join(checkout, "ecg_tokenizer", "tokenizer.py")
    if not os.path.isfile(path):
        sys.exit(f"{checkout}: no ecg_tokenizer/tokenizer.py (expected a HeartLLM checkout)")
    placeholders = {
        "wfdb": {},
        "sklearn": {},
        "sklearn.preprocessing": {"StandardScaler": object},
        "torch.utils.tensorboard": {"SummaryWriter": object},
    }
    for name, attrs in placeholders.items():
        try:
            importlib.import_module(name)
        except ImportError:
            m = types.ModuleType(name)
            for k, v in attrs.items():
                setattr(m, k, v)
            sys.modules[name] = m
    spec = importlib.util.spec_from_file_location("heartllm_tokenizer", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def build(mod, channels=32):
    """Their FSQ_AE; channels != 32 sets their per-lead width constant (U_OUT_C, and ECG_DIM = 12 x it)."""
    import torch  # noqa: F401
    mod.U_OUT_C = channels
    mod.ECG_DIM = mod.LEADS * channels
    m = mod.FSQ_AE()
    if channels != 32:
        m.dec = mod.ECGDecoder(in_dim=mod.ECG_DIM)  # the default in_dim was bound when the class was defined
    return m


def q2idx(disc, levels, dims):
    """Token ids of FSQ outputs as model/heartllm.py q2idx computes them: sum_i v_i * levels^i."""
    import torch
    n = levels - 1
    v = (torch.round(disc * n) / n * n).long()
    base = torch.tensor([levels ** i for i in range(dims)], device=v.device)
    return (v * base).sum(dim=-1)


def read_safetensors(path):
    """{name: numpy array} of a safetensors file (F32, I64)."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    types_ = {"F32": np.float32, "I64": np.int64, "I32": np.int32, "U16": np.uint16}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        out[name] = np.frombuffer(data[b:e], dtype=types_[info["dtype"]]).reshape(info["shape"])
    return out
