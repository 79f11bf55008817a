#!/usr/bin/env python3
"""Interpolate two diagecg LoRA adapters of the same shape, tensor by tensor: OUT = (1 - t) X + t Y (F32).

  tools/adapter-mix.py X.safetensors Y.safetensors T OUT.safetensors

Weight-space interpolation of two fine-tunes of one start (as in WiSE-FT / model soups): bundled v2's attempt 8
mixes the rhythm pass (X, which over-calls sinus tachycardia) with its rhythm-only continuation (Y, which never
calls it), with T chosen on validation questions. Every tensor of X must be in Y with the same shape; BF16 and
F32 inputs are read, the output is F32. Copy the adapter.json of X or Y (the two must agree) beside OUT. Needs numpy (the venv of
scripts/setup-python.sh). The output is written to OUT.tmp and renamed.
"""
import sys

import safetensors_io


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__.strip().split("\n\n")[1].strip())
    xp, yp, ts, dst = sys.argv[1:]
    try:
        t = float(ts)
    except ValueError:
        sys.exit(f"adapter-mix: T must be a number, not {ts!r}")
    if not 0.0 <= t <= 1.0:
        sys.exit(f"adapter-mix: T must be in [0, 1], not {t}")
    x, meta = safetensors_io.read_f32(xp)
    y, _ = safetensors_io.read_f32(yp)
    if set(x) != set(y):
        sys.exit(f"adapter-mix: the adapters hold different tensors ({len(set(x) ^ set(y))} differ)")
    tensors = []
    for name in sorted(x):
        if x[name].shape != y[name].shape:
            sys.exit(f"adapter-mix: {name}: shapes {x[name].shape} and {y[name].shape}")
        raw = ((1.0 - t) * x[name] + t * y[name]).astype("<f4").tobytes()
        tensors.append((name, {"dtype": "F32", "shape": list(x[name].shape)}, raw))
    safetensors_io.write(dst, tensors, meta)


if __name__ == "__main__":
    main()
