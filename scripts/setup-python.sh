#!/usr/bin/env bash
# Installs the pinned PyPI reference implementations (scripts/python-requirements.txt) into a virtual
# environment under the cache folder, never system-wide. The diagecg binary does not need Python; tests and
# benchmarks that compare against a reference find the interpreter at "$(scripts/setup-python.sh --print-python)".
#   DIAGECG_CACHE   cache folder (default: ~/.cache/diagecg)
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${DIAGECG_CACHE:-$HOME/.cache/diagecg}
venv="$cache/venv"
if [ "${1:-}" = "--print-python" ]; then echo "$venv/bin/python"; exit 0; fi
req=scripts/python-requirements.txt
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then exit 0; fi
mkdir -p "$cache"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv" >&2
echo "setup-python: installing $(grep -cv '^\s*\(#\|$\)' "$req") pinned packages into $venv" >&2
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req" >&2
echo "$want" > "$stamp"
