#!/usr/bin/env python3
"""Goldens for llm/quant-matmul: llama.cpp's own activation quantizer and dot products, called in
llama-cpp-python's libggml-cpu, on random weights (quantized by gguf-py) and random activations.

  "$(scripts/setup-python.sh --print-python)" tools/make-quant-dot-goldens.py tests/data/gguf/quant-dot.json

For each weight type (Q4_0, Q4_1, Q8_0; and Q4_K, Q6_K under "k_cases"): N weight rows of K f32 values (w) and as gguf-py quantized them
(packed blocks, hex), M activation rows
(f32, exact as hex of the bits), llama.cpp's activation blocks for each row (hex) and y[m][n] (f32 bits).
tests/test-quant-matmul.cpp checks that diagecg's blocks and results are these, bit for bit.
"""
import ctypes
import glob
import json
import os
import sys

import gguf
import llama_cpp
import numpy as np

K, N, M = 256, 6, 3
TYPES = {"Q4_0": 2, "Q4_1": 3, "Q8_0": 8}
ACT_BYTES = {8: 34, 9: 36}
K_TYPES = {"Q4_K": 12, "Q6_K": 14}
K_BYTES = {"Q4_K": 144, "Q6_K": 210}


class TypeTraitsCpu(ctypes.Structure):  # ggml-cpu.h: struct ggml_type_traits_cpu
    _fields_ = [("from_float", ctypes.c_void_p), ("vec_dot", ctypes.c_void_p), ("vec_dot_type", ctypes.c_int),
                ("nrows", ctypes.c_int64)]


def main():
    out_path = sys.argv[1]
    lib = ctypes.CDLL(glob.glob(os.path.join(os.path.dirname(llama_cpp.__file__), "lib", "libggml-cpu.so"))[0])
    lib.ggml_get_type_traits_cpu.restype = ctypes.POINTER(TypeTraitsCpu)
    lib.ggml_get_type_traits_cpu.argtypes = [ctypes.c_int]
    lib.ggml_cpu_init()
    from_float_t = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
    vec_dot_t = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t,
                                 ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)

    def case(name, tr, act, w, wq, x, act_bytes):
        """llama.cpp's activation blocks of each row of x (act_bytes each) and its dots with each weight row."""
        k = x.shape[1]
        acts, y = [], np.zeros((x.shape[0], wq.shape[0]), dtype=np.float32)
        for m in range(x.shape[0]):
            a = np.zeros(act_bytes, dtype=np.uint8)
            row = np.ascontiguousarray(x[m])
            from_float_t(act.from_float)(row.ctypes.data, a.ctypes.data, k)
            acts.append(a)
            for n in range(wq.shape[0]):
                s = np.zeros(1, dtype=np.float32)
                wr = np.ascontiguousarray(wq[n])
                vec_dot_t(tr.vec_dot)(k, s.ctypes.data, 0, wr.ctypes.data, 0, a.ctypes.data, 0, 1)
                y[m, n] = s[0]
        return {"type": name, "k": k, "n": wq.shape[0], "m": x.shape[0], "w": [r.tobytes().hex() for r in w],
                "weight": [r.tobytes().hex() for r in wq],
                "x": [r.tobytes().hex() for r in x], "activation_blocks": [a.tobytes().hex() for a in acts],
                "y": [r.tobytes().hex() for r in y]}

    rng = np.random.default_rng(20261202)
    cases = []
    for name, t in TYPES.items():
        tr = lib.ggml_get_type_traits_cpu(t).contents
        act = lib.ggml_get_type_traits_cpu(tr.vec_dot_type).contents
        w = (rng.standard_normal((N, K)) * rng.uniform(0.01, 1, (N, 1))).astype(np.float32)
        w[0, :32] = 0  # an all-zero block
        wq = np.ascontiguousarray(gguf.quantize(w, gguf.GGMLQuantizationType[name])).view(np.uint8).reshape(N, -1)
        x = (rng.standard_normal((M, K)) * rng.uniform(0.1, 20, (M, 1))).astype(np.float32)
        x[1, 32:64] = 0  # an all-zero activation block
        x[2, 5] = 1e4   # one outlier
        cases.append(case(name, tr, act, w, wq, x, K // 32 * ACT_BYTES[tr.vec_dot_type]))
    # Super-block types: weights quantized by ggml's own from_float for the type (its search for the scales),
    # activations by ggml's Q8_K from_float, dots by its vec_dot. diagecg's blocks differ (its quantizer is a plain
    # range fit) and its float order too, so the test checks the activation blocks bit for bit and y closely.
    k_cases = []
    KK = 512
    for name, t in K_TYPES.items():
        tr = lib.ggml_get_type_traits_cpu(t).contents
        act = lib.ggml_get_type_traits_cpu(tr.vec_dot_type).contents
        w = (rng.standard_normal((N, KK)) * rng.uniform(0.01, 1, (N, 1))).astype(np.float32)
        w[0, :256] = 0  # an all-zero super-block
        wq = np.zeros((N, KK // 256 * K_BYTES[name]), dtype=np.uint8)
        for n in range(N):
            row = np.ascontiguousarray(w[n])
            from_float_t(tr.from_float)(row.ctypes.data, wq[n].ctypes.data, KK)
        x = (rng.standard_normal((M, KK)) * rng.uniform(0.1, 20, (M, 1))).astype(np.float32)
        x[1, 256:] = 0  # an all-zero activation super-block
        x[2, 5] = 1e4   # one outlier
        x[0, 300] = -50  # a negative largest value (the sign of Q8_K's scale)
        k_cases.append(case(name, tr, act, w, wq, x, KK // 256 * 292))
    with open(out_path + ".tmp", "w") as f:
        json.dump({"source": f"llama-cpp-python {llama_cpp.__version__}: ggml_get_type_traits_cpu from_float / vec_dot",
                   "cases": cases, "k_cases": k_cases}, f, indent=1)
        f.write("\n")
    os.replace(out_path + ".tmp", out_path)


if __name__ == "__main__":
    main()
