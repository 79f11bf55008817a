#!/usr/bin/env bash
# Fresh machine -> installed, built, every test run. Used by CI (.ci/run).
#   scripts/test.sh            unit + end-to-end tests (ctest)
#   SANITIZE=1 scripts/test.sh also builds and runs the suite with AddressSanitizer + UBSan
#   FUZZ_SECONDS=N             fuzz each parser for N seconds (default 20; 0 = skip)
#   TORCH2=1                   also builds against the PyPI LibTorch 2.x (build-torch2/) and runs a subset there
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/setup-python.sh   # pinned PyPI references (tokenizers, gguf, llama-cpp-python) + the SmolLM2 GGUF, in the cache
scripts/build.sh
(cd build && ctest --output-on-failure -j 2)

if [ "${TORCH2:-0}" = 1 ]; then
  # The second build, against the pinned PyPI LibTorch 2.x with CUDA (scripts/setup-torch.sh; README "Building for
  # CUDA / LibTorch 2.x"), on the CPU: the library, the CLI and the test files of the code that calls LibTorch,
  # then those unit tests and two end-to-end suites (a subset, to fit CI's time: no batch/conventions e2e).
  scripts/setup-torch.sh
  TARGETS="diagecg_cli diagecg_tests" scripts/build.sh --torch pip \
    -DDIAGECG_TESTS_ONLY='tests/test-(llm|lora|peft-adapter|llm-training|training|ecg-tokenizer|heartllm-tokenizer|gguf-model|quant-matmul|device|sampling|vocab|prompt)\.cpp$'
  (cd build-torch2 && ctest --output-on-failure -j 2 -E '^(batch_e2e|conventions_e2e|layers|layers_checker_selftest)$')
fi

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
