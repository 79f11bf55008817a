#!/usr/bin/env python3
"""Rewrite a diagecg LoRA adapter's F32 tensors as BF16 (round to nearest even), halving its size.

  tools/adapter-to-bf16.py IN.safetensors OUT.safetensors

Used by scripts/train-bundled-v2.sh to assemble the bundled model: its r=64 adapters are 75 MB each in F32
and 37 MB in BF16. diagecg reads either (the adapter is merged in f32 at load). Needs numpy (the venv of
scripts/setup-python.sh). The output is written to OUT.tmp and renamed; tensors of other dtypes are copied.
"""
import json
import os
import struct
import sys

import numpy as np


def to_bf16(a):
    if not np.all(np.isfinite(a)):
        sys.exit("adapter-to-bf16: a tensor holds inf or NaN")
    u = a.view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().split("\n\n")[1].strip())
    src, dst = sys.argv[1:]
    with open(src, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    data = memoryview(blob)[8 + n:]
    out_header, parts, off = {}, [], 0
    for name, info in header.items():
        if name == "__metadata__":
            out_header[name] = info
            continue
        b, e = info["data_offsets"]
        raw = data[b:e]
        if info["dtype"] == "F32":
            raw = to_bf16(np.frombuffer(raw, dtype="<f4")).astype("<u2").tobytes()
            info = dict(info, dtype="BF16")
        out_header[name] = dict(info, data_offsets=[off, off + len(raw)])
        parts.append(bytes(raw))
        off += len(raw)
    h = json.dumps(out_header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = dst + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for p in parts:
            f.write(p)
    os.replace(tmp, dst)


if __name__ == "__main__":
    main()
