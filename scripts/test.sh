#!/usr/bin/env bash
# Fresh machine -> installed, built, every test run. Used by CI (.ci/run).
#   scripts/test.sh            unit + end-to-end tests (ctest)
#   SANITIZE=1 scripts/test.sh also builds and runs the suite with AddressSanitizer + UBSan
#   FUZZ_SECONDS=N             fuzz each parser for N seconds (default 20; 0 = skip)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/setup-python.sh   # pinned PyPI references (tokenizers, gguf, llama-cpp-python) + the SmolLM2 GGUF, in the cache
scripts/build.sh
(cd build && ctest --output-on-failure -j 2)

if [ "${SANITIZE:-0}" = 1 ]; then
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDIAGECG_SANITIZE=ON >&2
  cmake --build build-asan -j "$(nproc)" --target diagecg_tests >&2
  ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    build-asan/diagecg_tests --gtest_filter='-Llm.*:Vocab.*:Prompt.*:Lora.SavedModelMergesAttachedAdapters:Stage2.*:Stage3.*'
fi

fuzz_s=${FUZZ_SECONDS:-20}
if [ "$fuzz_s" != 0 ]; then
  scripts/fuzz.sh "$fuzz_s"
fi
