#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for N seconds (default 20) on its seed corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDIAGECG_FUZZ=ON -DDIAGECG_TESTS=OFF >&2
cmake --build build-fuzz -j "$(nproc)" --target fuzz-wfdb-header fuzz-npy-header fuzz-edf-header >&2
for t in wfdb-header npy-header edf-header; do
  work=$(mktemp -d)
  cp -r fuzz/corpus/$t/. "$work"/ 2>/dev/null || true
  echo "fuzz: $t for ${secs}s" >&2
  build-fuzz/fuzz-$t -max_total_time="$secs" -max_len=4096 -print_final_stats=1 "$work" 2>&1 | tail -n 3
  rm -rf "$work"
done
echo "fuzz: no crashes"
