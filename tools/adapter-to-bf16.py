#!/usr/bin/env python3
"""Rewrite a diagecg LoRA adapter's F32 tensors as BF16 (round to nearest even), halving its size.

  tools/adapter-to-bf16.py IN.safetensors OUT.safetensors

Used by scripts/train-bundled-v2.sh to assemble the bundled model: its r=64 adapters are 75 MB each in F32
and 37 MB in BF16. diagecg reads either (the adapter is merged in f32 at load). Needs numpy (the venv of
scripts/setup-python.sh). The output is written to OUT.tmp and renamed; tensors of other dtypes are copied.
"""
import sys

import numpy as np

import safetensors_io


def to_bf16(a):
    if not np.all(np.isfinite(a)):
        sys.exit("adapter-to-bf16: a tensor holds inf or NaN")
    u = a.view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().split("\n\n")[1].strip())
    src, dst = sys.argv[1:]
    header, data = safetensors_io.read(src)
    tensors = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = bytes(data[b:e])
        if info["dtype"] == "F32":
            raw, info = to_bf16(np.frombuffer(raw, dtype="<f4")).astype("<u2").tobytes(), dict(info, dtype="BF16")
        tensors.append((name, info, raw))
    safetensors_io.write(dst, tensors, header.get("__metadata__"))


if __name__ == "__main__":
    main()
