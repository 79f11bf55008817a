#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for N seconds (default 20) on a copy of its
# seed corpus, as the CI-labelled ctest tests fuzz-* (ctest -L fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
export FUZZ_SECONDS=${1:-20}
CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDIAGECG_FUZZ=ON -DDIAGECG_TESTS=OFF >&2
targets=$(cd fuzz && ls fuzz-*.cpp | sed 's/\.cpp$//')   # every target CMakeLists.txt registers
cmake --build build-fuzz -j "$(nproc)" --target $targets >&2
(cd build-fuzz && ctest -L fuzz --output-on-failure)
