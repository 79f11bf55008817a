"""Reading and writing .safetensors files for the adapter tools (tools/adapter-to-bf16.py, tools/adapter-mix.py).

read(path) -> (header, data): the parsed JSON header and the bytes after it; read_f32(path) -> ({name: f32
array}, metadata) for F32 and BF16 tensors; write(path, tensors, metadata) writes (name, info, raw bytes) entries
(info: the header entry, dtype and shape; its data_offsets are set, in place if present, so a file read and
written back keeps its header's bytes) to path.tmp and renames it. read_f32 needs numpy (the venv of
scripts/setup-python.sh).
"""
import json
import os
import struct
import sys


def read(path):
    try:
        with open(path, "rb") as f:
            blob = f.read()
        (n,) = struct.unpack("<Q", blob[:8])
        header = json.loads(blob[8:8 + n])
    except (OSError, ValueError, struct.error) as e:
        sys.exit(f"{os.path.basename(sys.argv[0])}: {path}: {e}")
    return header, memoryview(blob)[8 + n:]


def read_f32(path):
    import numpy as np
    header, data = read(path)
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        if info["dtype"] == "F32":
            a = np.frombuffer(data[b:e], dtype="<f4")
        elif info["dtype"] == "BF16":
            a = (np.frombuffer(data[b:e], dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            sys.exit(f"{os.path.basename(sys.argv[0])}: {path}: {name} is {info['dtype']}, not F32 or BF16")
        out[name] = a.reshape(info["shape"])
    return out, header.get("__metadata__")


def write(path, tensors, metadata=None):
    header, off = ({"__metadata__": metadata} if metadata else {}), 0
    for name, info, raw in tensors:
        header[name] = dict(info, data_offsets=[off, off + len(raw)])
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for _, _, raw in tensors:
            f.write(raw)
    os.replace(tmp, path)
