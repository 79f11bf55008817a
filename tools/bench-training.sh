#!/usr/bin/env bash
# Training throughput of stages 2 and 3 on the small CPU recipes: tokens/s and peak memory for f32 vs bf16
# (autocast) and 1 vs 2 data-parallel processes (c10d/Gloo on 127.0.0.1), each run for a few steps.
# Usage: tools/bench-training.sh [BUILD_DIR] [STEPS]   (needs runs/pretrain-cpu/model and runs/data/, see README)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$(realpath "${1:-build}")/diagecg"
STEPS="${2:-12}"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
cores=$(nproc)
printf '%-8s %-6s %-6s %8s %12s %12s %10s\n' stage dtype procs threads tokens/s peak_MB/proc wall_s

one() {   # stage config precision procs
  local stage=$1 cfg=$2 prec=$3 procs=$4 dir="$OUT/$1-$3-$4" t0 t1
  local threads=$(( cores / procs )); [ "$threads" -ge 1 ] || threads=1
  t0=$(date +%s.%N)
  if [ "$procs" = 1 ]; then
    "$BIN" -t "$threads" --log-level warn "$stage" --config "$cfg" --precision "$prec" --max-steps "$STEPS" -o "$dir" > "$dir.json"
  else
    local port=$(( 20000 + RANDOM % 20000 )) pids=()
    for r in $(seq $((procs - 1)) -1 0); do
      RANK=$r WORLD_SIZE=$procs MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
        "$BIN" -t "$threads" --log-level warn "$stage" --config "$cfg" --precision "$prec" --max-steps "$STEPS" -o "$dir" \
        > "$dir.json.$r" &
      pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p"; done
    mv "$dir.json.0" "$dir.json"
  fi
  t1=$(date +%s.%N)
  python3 - "$dir.json" "$stage" "$prec" "$procs" "$threads" "$t0" "$t1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]:<8} {sys.argv[3]:<6} {sys.argv[4]:<6} {sys.argv[5]:>8} {r['tokens_per_s']:>12.0f} {r['peak_rss_mb']:>12.0f} {float(sys.argv[7]) - float(sys.argv[6]):>10.1f}")
PY
}

for stage in pretrain finetune; do
  cfg=configs/pretrain-cpu.json; [ "$stage" = finetune ] && cfg=configs/finetune-qa-cpu.json
  one "$stage" "$cfg" f32 1
  one "$stage" "$cfg" bf16 1
  one "$stage" "$cfg" f32 2
done
