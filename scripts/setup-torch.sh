#!/usr/bin/env bash
# Installs the pinned PyPI torch wheel (scripts/torch-requirements.txt: LibTorch 2.x built with CUDA, and the
# nvidia-* wheels holding its CUDA libraries) into its own virtual environment under the cache folder, never
# system-wide. Only the second build uses it (scripts/build.sh --torch pip); the default build stays on Debian's
# LibTorch 1.13. Download ~2.5 GB, installed ~6 GB.
#   scripts/setup-torch.sh                  install (once; again when the requirements file changes)
#   scripts/setup-torch.sh --print-python   the venv's interpreter
#   scripts/setup-torch.sh --print-prefix   the CMake prefix of its LibTorch (torch.utils.cmake_prefix_path)
#   DIAGECG_CACHE   cache folder (default: ~/.cache/diagecg)
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${DIAGECG_CACHE:-$HOME/.cache/diagecg}
venv="$cache/venv-torch2"
req=scripts/torch-requirements.txt
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)
if ! [ -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  mkdir -p "$cache"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv" >&2
  echo "setup-torch: installing $(grep -c '^[A-Za-z]' "$req") pinned wheels (torch $(sed -n 's/^torch==\([^ ]*\).*/\1/p' "$req")) into $venv" >&2
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps --require-hashes -r "$req" >&2
  echo "$want" > "$stamp"
fi
case "${1:-}" in
  --print-python) echo "$venv/bin/python" ;;
  --print-prefix) "$venv/bin/python" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)' ;;
  "") ;;
  *) echo "setup-torch: unknown argument $1 (--print-python | --print-prefix)" >&2; exit 2 ;;
esac
