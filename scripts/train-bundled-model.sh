#!/usr/bin/env bash
# Reproduces the bundled model, models/diagecg, from the real data in ../shared/data, end to end, from the
# configs in configs/bundled/ (see models/diagecg/README.md for what each stage does and took):
#   data        report JSONL, ECG-QA questions re-instantiated from PTB-XL metadata, the text corpus
#   init        SentencePiece (library trainer) + a random Llama-architecture model   configs/bundled/init-llm.json
#   stage 2     text + ECG-token pretraining, all weights                              configs/bundled/pretrain.json
#   stage 3     LoRA for ECG-QA and for reports                                        configs/bundled/finetune-{qa,report}.json
#   assemble    models/diagecg/{base,qa,report}
#   eval        held-out ECG-QA and report figures, the CinC-2021 out-of-distribution check -> models/diagecg/eval/
# Stage 1 (the ECG tokenizer) is the bundled models/ecg-tokenizer; RETRAIN_TOKENIZER=1 retrains it first
# (configs/tokenizer-ptbxl.json, about 50 minutes on 2 cores). An interrupted stage resumes from its checkpoint
# when the script is run again; a finished stage is skipped (delete its runs/bundled/ directory to redo it).
# Run from anywhere; paths are taken from the repository root. About 45 minutes on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/diagecg}
DATA=../shared/data          # the configs name this directory
RUNS=runs/bundled
OUT=${OUT:-models/diagecg}
[ -x "$BIN" ] || scripts/build.sh
for d in "$DATA/ptbxl-processed" "$DATA/ptbxl-meta" "$DATA/ecgqa"; do
    [ -d "$d" ] || { echo "missing $d: the configs in configs/bundled/ read the data from $DATA" >&2; exit 1; }
done
log() { echo "== $(date +%H:%M:%S) $*" >&2; }
mkdir -p "$RUNS"

if [ "${RETRAIN_TOKENIZER:-0}" = 1 ]; then
    log "stage 1: ECG tokenizer"
    "$BIN" train-tokenizer --config configs/tokenizer-ptbxl.json -o "$RUNS/tokenizer"
    rm -rf models/ecg-tokenizer && cp -r "$RUNS/tokenizer/model" models/ecg-tokenizer
fi

log "data"
"$BIN" report-data --ptbxl-database $DATA/ptbxl-meta/ptbxl_database_form.csv --ecg-dir $DATA/ptbxl-processed \
    --split-file $DATA/ptbxl-processed/records.csv -o runs/data/reports > /dev/null
[ -f runs/data/ecgqa-generated/test.json ] || "$BIN" ecgqa-generate --ptbxl-meta $DATA/ptbxl-meta --ecgqa $DATA/ecgqa \
    --records $DATA/ptbxl-processed/records.csv -o runs/data/ecgqa-generated \
    --templates 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,20,21,22,23,24,25,35,36,37,38 > /dev/null
"$BIN" text-corpus --ptbxl-database $DATA/ptbxl-meta/ptbxl_database_form.csv \
    --exclude-split-file $DATA/ptbxl-processed/records.csv \
    --ecgqa runs/data/ecgqa-generated/train.json $DATA/ecgqa/ptbxl/template/train/120000.json \
            $DATA/ecgqa/ptbxl/template/train/260000.json $DATA/ecgqa/ptbxl/paraphrased/train/120000.json \
            $DATA/ecgqa/ptbxl/paraphrased/train/260000.json \
    --scp-statements $DATA/ptbxl-meta/scp_statements.csv -o $RUNS/text > /dev/null

# One training stage: skipped when its model exists, resumed when a checkpoint does.
stage() {
    local cmd=$1 config=$2 dir=$3
    if [ -f "$dir/model/config.json" ] || [ -f "$dir/model/adapter.json" ]; then log "$cmd $config: done before, kept"; return; fi
    local resume=()
    [ -f "$dir/checkpoint.pt" ] && resume=(--resume)
    log "$cmd $config -> $dir"
    local t0=$SECONDS
    "$BIN" "$cmd" --config "$config" -o "$dir" "${resume[@]}" > "$dir.result.json"
    echo "$((SECONDS - t0))" > "$dir.seconds"
}

if [ ! -f $RUNS/init/config.json ]; then
    log "init-llm"
    "$BIN" init-llm -c configs/bundled/init-llm.json -o $RUNS/init
fi
stage pretrain configs/bundled/pretrain.json $RUNS/pretrain
stage finetune configs/bundled/finetune-qa.json $RUNS/finetune-qa
stage finetune configs/bundled/finetune-report.json $RUNS/finetune-report

log "assemble $OUT"
tmp=$OUT.tmp
rm -rf "$tmp" && mkdir -p "$tmp/base" "$tmp/qa" "$tmp/report"
cp $RUNS/pretrain/model/config.json $RUNS/pretrain/model/model.safetensors $RUNS/pretrain/model/tokenizer.model "$tmp/base/"
cp -r $RUNS/pretrain/model/ecg-tokenizer "$tmp/base/"
for t in qa report; do
    cp $RUNS/finetune-$t/model/adapter.safetensors "$tmp/$t/"
    # the adapter's base model, relative to the adapter's directory, so the bundle can move
    sed -E 's#"base_model": *"[^"]*"#"base_model": "../base"#' $RUNS/finetune-$t/model/adapter.json > "$tmp/$t/adapter.json"
done
mkdir -p "$tmp/configs" && cp configs/bundled/*.json "$tmp/configs/"
[ -f "$OUT/README.md" ] && cp "$OUT/README.md" "$tmp/"
[ -d "$OUT/eval" ] && cp -r "$OUT/eval" "$tmp/"
rm -rf "$OUT.old" && { [ ! -d "$OUT" ] || mv "$OUT" "$OUT.old"; } && mv "$tmp" "$OUT" && rm -rf "$OUT.old"

log "eval -> $OUT/eval"
EV=$RUNS/eval
mkdir -p $EV "$OUT/eval"
ev() {   # name task args...: predictions in runs/bundled/eval, the summary copied next to the model
    local name=$1 task=$2; shift 2
    rm -f "$EV/$name.jsonl" "$EV/$name.jsonl.summary.json"
    "$BIN" eval -m "$OUT" --task "$task" -o "$EV/$name.jsonl" --ptbxl-database $DATA/ptbxl-meta/ptbxl_database_form.csv "$@" > /dev/null
    cp "$EV/$name.jsonl.summary.json" "$OUT/eval/$name.summary.json"
}
# the published test chunk also asks about ECGs we do not hold: --allow-missing (the summary counts them)
ev qa-ptbxl-test qa --data runs/data/ecgqa-generated/test.json $DATA/ecgqa/ptbxl/template/test/80000.json \
    --ecg-dir $DATA/ptbxl-processed --baseline-data runs/data/ecgqa-generated/train.json $DATA/ecgqa/ptbxl/template/train \
    --allow-missing
ev report-ptbxl-test report --data runs/data/reports/test.jsonl --ecg-dir $DATA/ptbxl-processed \
    --baseline-data runs/data/reports/train.jsonl
if [ -d $DATA/raw/cinc2021 ] && command -v python3 > /dev/null; then
    tools/cinc-ood-qa.py $DATA/raw/cinc2021 $RUNS/cinc2021-qa.json
    ev qa-cinc2021-ood qa --data $RUNS/cinc2021-qa.json --baseline-data runs/data/ecgqa-generated/train.json
fi
mkdir -p "$OUT/examples"
"$BIN" --log-level warn plot tests/data/ecg/00318.hea --report -m "$OUT" -o "$OUT/examples/00318.svg"
log "done: $OUT"
