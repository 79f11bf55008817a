#!/usr/bin/env bash
# Configures and builds diagecg (Release). Extra arguments go to cmake's configure step.
#   scripts/build.sh                      Debian's LibTorch 1.13 (CPU) into build/
#   scripts/build.sh --torch pip [ARGS]   the pinned PyPI LibTorch 2.x with CUDA (scripts/setup-torch.sh installs it)
#                                         into build-torch2/; BUILD_DIR overrides the folder, TARGETS the targets
#                                         (default all; CI: "diagecg_cli diagecg_tests")
set -euo pipefail
cd "$(dirname "$0")/.."
torch=debian
if [ "${1:-}" = "--torch" ]; then
  torch=${2:?--torch needs debian or pip}
  shift 2
fi
case "$torch" in
  debian) dir=${BUILD_DIR:-build}; prefix=() ;;
  pip) dir=${BUILD_DIR:-build-torch2}; prefix=("-DCMAKE_PREFIX_PATH=$(scripts/setup-torch.sh --print-prefix 2>/dev/null)") ;;
  *) echo "build.sh: --torch must be debian or pip, got \"$torch\"" >&2; exit 2 ;;
esac
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "${prefix[@]}" "$@" >&2
targets=()
for t in ${TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$dir" -j "$(nproc)" "${targets[@]}" >&2
