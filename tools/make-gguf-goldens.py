#!/usr/bin/env python3
"""Writes the GGUF goldens of tests/test-gguf.cpp with gguf-py (llama.cpp's own GGUF package), so the C++
reader and dequantizers are checked against an independent implementation.

  tests/data/gguf/quants.gguf   one tensor per supported ggml type, 2 rows x 512 elements: row 0 from gguf-py's
                                quantize() where it has one (else random blocks), row 1 random block bytes with
                                finite random f16 scales; beside each, "<TYPE>.ref" (F32) = gguf-py's
                                dequantize(). With the SmolLM2 model in the cache, "real.<tensor>" holds the first
                                rows of some of its tensors, byte for byte, with their ".ref".
                                Metadata "test.*" holds every value type, incl. nested arrays.
  fuzz/corpus/gguf-header/      a few small valid GGUFs (the fuzzer's max_len is 4096 bytes).

Run with the reference environment:  "$(scripts/setup-python.sh --print-python)" tools/make-gguf-goldens.py
Regenerate only on purpose (the output is committed); the seed makes it reproducible.
With llama-cpp-python installed, every reference is also checked, bit for bit, against llama.cpp's own
dequantizer (ggml's type traits' to_float, called through ctypes), and the script fails on any difference.
"""
import argparse
import ctypes
import glob
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import quantize, dequantize

TYPES = [Q.F32, Q.F16, Q.BF16, Q.Q8_0, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q2_K, Q.Q3_K, Q.Q4_K, Q.Q5_K, Q.Q6_K]
# Byte offsets of the f16 scale fields in each block (d, dmin, m): set to finite random halves.
F16_FIELDS = {
    Q.Q8_0: [0], Q.Q4_0: [0], Q.Q4_1: [0, 2], Q.Q5_0: [0], Q.Q5_1: [0, 2],
    Q.Q2_K: [80, 82], Q.Q3_K: [108], Q.Q4_K: [0, 2], Q.Q5_K: [0, 2], Q.Q6_K: [208],
}
ROW = 512
REAL_TENSORS = ["token_embd.weight", "blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_norm.weight"]
REAL_ROWS = 3


def random_blocks(rng, qtype, n_elems):
    block, size = GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(n_elems // block, size), dtype=np.uint8)
    for off in F16_FIELDS[qtype]:
        scale = rng.uniform(-0.05, 0.05, size=raw.shape[0]).astype(np.float16)
        raw[:, off:off + 2] = scale.view(np.uint8).reshape(-1, 2)
    return raw.reshape(-1)


def make_rows(rng, qtype):
    """Two rows of ROW elements of `qtype`: (bytes as uint8 [2, row_bytes] or float array, reference f32)."""
    x = rng.normal(0, 1, size=(2, ROW)).astype(np.float32)
    if qtype == Q.F32:
        x[1, :4] = [0.0, -0.0, 1e-40, -3.4e38]
        return x, x.copy()
    if qtype == Q.F16:
        bits = rng.integers(0, 1 << 16, size=(2, ROW), dtype=np.uint16)
        bits[1, :8] = [0x0000, 0x8000, 0x0001, 0x03FF, 0x0400, 0x7BFF, 0x7C00, 0xFC00]  # zeros, subnormals, max, inf
        exp = (bits >> 10) & 0x1F
        bits[(exp == 0x1F) & ((bits & 0x3FF) != 0)] &= 0xFC00  # NaN -> inf: keep the golden comparable
        h = bits.view(np.float16)
        return h, dequantize(h.view(np.uint8), Q.F16).reshape(2, ROW)
    if qtype == Q.BF16:
        raw = quantize(x, Q.BF16)
        bits = rng.integers(0, 1 << 16, size=ROW, dtype=np.uint16)
        bits[((bits >> 7) & 0xFF) == 0xFF] &= 0xFF80  # no NaN
        raw[1] = bits.view(np.uint8)
        return raw, dequantize(raw, Q.BF16).reshape(2, ROW)
    row_bytes = ROW // GGML_QUANT_SIZES[qtype][0] * GGML_QUANT_SIZES[qtype][1]
    try:
        first = quantize(x[:1], qtype).reshape(-1)
    except NotImplementedError:
        first = random_blocks(rng, qtype, ROW)
    raw = np.stack([first, random_blocks(rng, qtype, ROW)]).reshape(2, row_bytes)
    return raw, dequantize(raw, qtype).reshape(2, ROW)


class _GgmlTypeTraits(ctypes.Structure):  # ggml.h: struct ggml_type_traits
    _fields_ = [("type_name", ctypes.c_char_p), ("blck_size", ctypes.c_int64),
                ("blck_size_interleave", ctypes.c_int64), ("type_size", ctypes.c_size_t),
                ("is_quantized", ctypes.c_bool), ("to_float", ctypes.c_void_p), ("from_float_ref", ctypes.c_void_p)]


def ggml_dequantizer():
    """llama.cpp's to_float for a type, from llama-cpp-python's libggml-base; None without llama-cpp-python."""
    try:
        import llama_cpp
    except ImportError:
        return None
    libs = glob.glob(os.path.join(os.path.dirname(llama_cpp.__file__), "lib", "libggml-base.so*"))
    if not libs:
        return None
    lib = ctypes.CDLL(libs[0])
    lib.ggml_get_type_traits.restype = ctypes.POINTER(_GgmlTypeTraits)
    lib.ggml_get_type_traits.argtypes = [ctypes.c_int]
    to_float_t = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)

    def dequant(raw, qtype):
        tr = lib.ggml_get_type_traits(int(qtype)).contents
        assert (tr.blck_size, tr.type_size) == GGML_QUANT_SIZES[qtype], qtype.name
        src = np.ascontiguousarray(raw).view(np.uint8).reshape(-1)
        n = src.size // tr.type_size * tr.blck_size
        if qtype == Q.F32:
            return src.view(np.float32).copy()
        out = np.empty(n, dtype=np.float32)
        to_float_t(tr.to_float)(src.ctypes.data, out.ctypes.data, n)
        return out
    return dequant


def check_against_llama_cpp(dequant, name, raw, qtype, ref):
    if dequant is None:
        return
    got = dequant(raw, qtype)
    same = np.array_equal(got.view(np.uint32), np.asarray(ref, dtype=np.float32).reshape(-1).view(np.uint32))
    print(f"{name:28s} {qtype.name:5s} llama.cpp to_float vs gguf-py: {'identical' if same else 'DIFFERENT'}",
          file=sys.stderr)
    if not same:
        sys.exit(f"{name}: gguf-py's dequantization differs from llama.cpp's")


def add_metadata(w):
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -100)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4000000000)
    w.add_int32("test.i32", -2000000000)
    w.add_float32("test.f32", 0.125)
    w.add_bool("test.bool", True)
    w.add_string("test.string", "héllo \u00b5V")
    w.add_uint64("test.u64", 18000000000000000000)
    w.add_int64("test.i64", -9000000000000000000)
    w.add_float64("test.f64", -2.5e-300)
    w.add_key_value("test.array.u16", [1, 2, 65535], gguf.GGUFValueType.ARRAY, sub_type=gguf.GGUFValueType.UINT16)
    w.add_key_value("test.array.i64", [-1, 5], gguf.GGUFValueType.ARRAY, sub_type=gguf.GGUFValueType.INT64)
    w.add_key_value("test.array.f32", [0.5, -1.0], gguf.GGUFValueType.ARRAY, sub_type=gguf.GGUFValueType.FLOAT32)
    w.add_key_value("test.array.f64", [0.25], gguf.GGUFValueType.ARRAY, sub_type=gguf.GGUFValueType.FLOAT64)
    w.add_key_value("test.array.bool", [True, False], gguf.GGUFValueType.ARRAY, sub_type=gguf.GGUFValueType.BOOL)
    w.add_array("test.array.string", ["a", "", "\u4e2d\u6587"])
    w.add_array("test.array.nested", [["x", "y"], ["z"]])


def write(w):
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    cache = os.environ.get("DIAGECG_CACHE", os.path.expanduser("~/.cache/diagecg"))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(root, "tests/data/gguf/quants.gguf"))
    ap.add_argument("--corpus", default=os.path.join(root, "fuzz/corpus/gguf-header"))
    ap.add_argument("--model", default=os.path.join(cache, "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    args = ap.parse_args()
    rng = np.random.default_rng(20240614)
    dequant = ggml_dequantizer()
    if dequant is None:
        print("no llama-cpp-python: references are gguf-py's only", file=sys.stderr)

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    w = gguf.GGUFWriter(args.out, "goldens")
    add_metadata(w)
    for qtype in TYPES:
        data, ref = make_rows(rng, qtype)
        check_against_llama_cpp(dequant, qtype.name, data, qtype, ref)
        raw_dtype = None if qtype in (Q.F32, Q.F16) else qtype
        w.add_tensor(qtype.name, data, raw_dtype=raw_dtype)
        w.add_tensor(qtype.name + ".ref", np.ascontiguousarray(ref, dtype=np.float32))
    if os.path.exists(args.model):
        r = gguf.GGUFReader(args.model)
        by_name = {t.name: t for t in r.tensors}
        for name in REAL_TENSORS:
            t = by_name[name]
            rows = np.asarray(t.data)
            rows = rows.reshape(-1, rows.shape[-1])[:REAL_ROWS]
            raw_dtype = None if t.tensor_type in (Q.F32, Q.F16) else t.tensor_type
            w.add_tensor("real." + name, np.ascontiguousarray(rows), raw_dtype=raw_dtype)
            ref = dequantize(rows.view(np.uint8), t.tensor_type) if raw_dtype else rows.astype(np.float32)
            check_against_llama_cpp(dequant, "real." + name, rows, t.tensor_type, ref)
            w.add_tensor("real." + name + ".ref", np.ascontiguousarray(ref, dtype=np.float32))
            print(f"real {name}: {t.tensor_type.name} rows {rows.shape}", file=sys.stderr)
    else:
        print(f"no model at {args.model}: goldens without real blocks", file=sys.stderr)
    write(w)
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)", file=sys.stderr)

    # Fuzz seeds: metadata of every type + tiny tensors; a 64-byte alignment; a metadata-only file.
    os.makedirs(args.corpus, exist_ok=True)
    w = gguf.GGUFWriter(os.path.join(args.corpus, "all-types.gguf"), "llama")
    add_metadata(w)
    w.add_tensor("a", np.arange(4, dtype=np.float32))
    w.add_tensor("q", quantize(np.linspace(-1, 1, 32, dtype=np.float32).reshape(1, 32), Q.Q4_0), raw_dtype=Q.Q4_0)
    write(w)
    w = gguf.GGUFWriter(os.path.join(args.corpus, "align64.gguf"), "qwen2")
    w.add_custom_alignment(64)
    w.add_tensor("h", np.ones((2, 3), dtype=np.float16))
    w.add_tensor("k", random_blocks(rng, Q.Q4_K, 256).reshape(1, -1), raw_dtype=Q.Q4_K)
    write(w)
    w = gguf.GGUFWriter(os.path.join(args.corpus, "vocab-only.gguf"), "llama")
    w.add_array("tokenizer.ggml.tokens", ["<unk>", "<s>", "</s>", "\u2581a", "b"])
    w.add_array("tokenizer.ggml.scores", [0.0, 0.0, 0.0, -1.5, -2.0])
    w.add_array("tokenizer.ggml.merges", ["\u2581 a"])
    write(w)
    print(f"wrote seeds in {args.corpus}", file=sys.stderr)


if __name__ == "__main__":
    main()
