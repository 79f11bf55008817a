#!/usr/bin/env bash
# Installs what diagecg needs from Debian 12's packages (idempotent; run as root or with sudo).
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev libsentencepiece-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev libgtest-dev
  libgloo-dev                  # c10d ProcessGroupGloo headers: data-parallel training across processes
  libopenblas0-openmp          # LibTorch's fp32 matmul: ~5 GFLOP/s with the reference BLAS, ~260 with this
  python3-nltk wordnet-base    # reference metrics for the evaluation tests
  python3-venv python3-pip     # scripts/setup-python.sh: the pinned PyPI references live in a venv under the cache
  librsvg2-bin                 # rsvg-convert: SVG plots -> PNG
  libpugixml-dev               # XML ECG readers (GE MUSE, Philips, HL7 aECG)
  clang libclang-rt-14-dev     # libFuzzer targets
  libpcre2-dev libutf8proc-dev zlib1g-dev   # BPE text tokenizers: pre-tokenizer regexes, NFC; gzipped goldens
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
# Make sure the BLAS alternative points at OpenBLAS (the package does this on install).
if [ -e /usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3 ]; then
  current=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 || true)
  case "$current" in
    *openblas*) ;;
    *) echo "setup: note: libblas.so.3 points to $current, not OpenBLAS" >&2 ;;
  esac
fi
