#!/usr/bin/env bash
# Fresh machine -> installed, built, and the main job run on a bundled real ECG.
# Until a trained DiagECG model is bundled, the main job inspects the record and plots it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
record=${1:-tests/data/ecg/HR06000.hea}
mkdir -p out
build/diagecg inspect "$record"
name=$(basename "${record%.*}")
build/diagecg plot "$record" -o "out/$name.svg"
echo "plot: out/$name.svg"
