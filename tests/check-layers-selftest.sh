#!/usr/bin/env bash
# Shows that tests/check-layers.sh fails on an upward include (and on a header outside the layer folders) and
# passes on a tree that follows the rule. Builds throwaway trees in a temp folder.
set -uo pipefail
checker="$(cd "$(dirname "$0")" && pwd)/check-layers.sh"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fail=0
mk() { mkdir -p "$(dirname "$work/$1/$2")"; printf '%s\n' "$3" > "$work/$1/$2"; }
expect() {  # expect NAME WANT_RC [PATTERN]
  out=$("$checker" "$work/$1" 2>&1); rc=$?
  if [ "$rc" != "$2" ] || { [ -n "${3:-}" ] && ! grep -q -- "$3" <<<"$out"; }; then
    echo "FAIL $1: rc $rc (want $2), output: $out"; fail=1
  else echo "ok   $1: rc $rc"; fi
}
# A tree that follows the rule: ecg includes util, train includes llm.
mk good include/diagecg/util/log.h '#pragma once'
mk good include/diagecg/ecg/record.h '#include "diagecg/util/log.h"'
mk good src/train/trainer.cpp $'#include "diagecg/llm/llm.h"\n#include "diagecg/train/trainer.h"'
expect good 0
# Upward: a reader (ecg) includes the LLM layer.
cp -r "$work/good" "$work/upward"
mk upward src/ecg/wfdb-reader.cpp '#include "diagecg/llm/llm.h"'
expect upward 1 "layer 'ecg' includes \"diagecg/llm/llm.h\" from layer 'llm'"
# Sideways across branches: llm may not include ecg.
cp -r "$work/good" "$work/sideways"
mk sideways include/diagecg/llm/llm.h '#include "diagecg/ecg/record.h"'
expect sideways 1 "layer 'llm' includes"
# A flat header outside every layer folder, and an include of it.
cp -r "$work/good" "$work/flat"
mk flat include/diagecg/loose.h '#pragma once'
mk flat src/util/log.cpp '#include "diagecg/loose.h"'
expect flat 1 "not in a layer folder"
# CLI11 outside tools/.
cp -r "$work/good" "$work/cli"
mk cli src/util/log.cpp '#include <CLI/CLI.hpp>'
expect cli 1 "includes CLI11"
exit "$fail"
