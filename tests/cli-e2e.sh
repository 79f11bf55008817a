#!/usr/bin/env bash
# End-to-end tests of the diagecg binary on real records: run it, check what it prints.
# usage: cli-e2e.sh PATH/TO/diagecg TESTS_DATA_DIR
set -uo pipefail
BIN=$(realpath "$1")
DATA=$2
ECG=$DATA/ecg
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0
fail=0

check() {   # check NAME CONDITION-COMMAND...
  local name=$1; shift
  if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $name" >&2; fi
}
json_get() {  # json_get FILE PYTHON-EXPR-ON-j
  python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"
}

# version and help
check "version" bash -c "'$BIN' --version | grep -q '^diagecg [0-9]'"
check "inspect help shows defaults" bash -c "'$BIN' inspect --help | grep -q -- '--units.*mV'"
check "no subcommand is an error" bash -c "! '$BIN' >/dev/null 2>&1"

# threads: all cores by default, -t overrides
check "threads default = cores" bash -c "'$BIN' --log-level debug inspect '$ECG/00009.hea' 2>&1 >/dev/null | grep -q \"using $(nproc) thread(s)\""
check "threads -t 1" bash -c "'$BIN' -t 1 --log-level debug inspect '$ECG/00009.hea' 2>&1 >/dev/null | grep -q 'using 1 thread(s)'"
check "bad log level" bash -c "'$BIN' --log-level loud inspect '$ECG/00009.hea' 2>&1 | grep -q 'log level \"loud\"'"

# inspect: CinC PTB-XL record in a .mat with a byte offset
"$BIN" inspect "$ECG/HR06000.hea" --json >"$TMP/hr.json" 2>"$TMP/hr.err"
check "inspect HR06000 exit 0" test $? -eq 0
check "HR06000 rate" test "$(json_get "$TMP/hr.json" "j['sample_rate_hz']")" = "500.0"
check "HR06000 samples" test "$(json_get "$TMP/hr.json" "j['n_samples']")" = "5000"
check "HR06000 lead order" test "$(json_get "$TMP/hr.json" "' '.join(l['name'] for l in j['leads'])")" = "I II III aVR aVL aVF V1 V2 V3 V4 V5 V6"
check "HR06000 age" test "$(json_get "$TMP/hr.json" "j['patient']['age']")" = "59.0"
check "HR06000 sex" test "$(json_get "$TMP/hr.json" "j['patient']['sex']")" = "female"
check "HR06000 units" test "$(json_get "$TMP/hr.json" "j['leads'][0]['units'].lower()")" = "mv"
# lead I first sample = init value 10 / gain 1000 -> min <= 0.01 <= max
check "HR06000 lead I range holds first sample" test "$(json_get "$TMP/hr.json" "j['leads'][0]['min'] <= 0.01 <= j['leads'][0]['max']")" = "True"

# MUSE lists AVF before AVL: canonical order puts aVL first, by name
"$BIN" inspect "$ECG/muse-af.hea" --json >"$TMP/muse.json"
check "muse canonical order" test "$(json_get "$TMP/muse.json" "[l['name'].lower() for l in j['leads']][3:6]")" = "['avr', 'avl', 'avf']"
check "muse age" test "$(json_get "$TMP/muse.json" "j['patient']['age']")" = "71.0"

# PTB diagnostic: 1000 Hz, 15 channels, Frank leads dropped with a note
"$BIN" inspect "$ECG/s0010_re.hea" >"$TMP/ptb.txt" 2>"$TMP/ptb.err"
check "ptb 1000 Hz" grep -q "1000 Hz, 38400 samples" "$TMP/ptb.txt"
check "ptb frank leads noted" grep -qi "vx" "$TMP/ptb.txt"
check "ptb text table has 12 leads" test "$(grep -cE '^(I|II|III|aVR|aVL|aVF|V[1-6]) ' "$TMP/ptb.txt")" -eq 12

# --check with preprocessing configs and flags
"$BIN" inspect --check --json --config "$(dirname "$DATA")/../configs/preprocess-raw-clinical.json" "$ECG/s0010_re.hea" >"$TMP/chk.json" 2>/dev/null
check "check json ok" test "$(json_get "$TMP/chk.json" "j['preprocess']['ok']")" = "True"
check "check config applied" test "$(json_get "$TMP/chk.json" "j['preprocess']['config']['length_policy']")" = "center"
check "check notes resample+crop" test "$(json_get "$TMP/chk.json" "any('resampled 1000 Hz -> 500 Hz' in n for n in j['preprocess']['notes']) and any('cropped' in n for n in j['preprocess']['notes'])")" = "True"
check "flag overrides config" bash -c "'$BIN' inspect --check --json --config '$(dirname "$DATA")/../configs/preprocess-raw-clinical.json' --length-policy start '$ECG/s0010_re.hea' 2>/dev/null | grep -q '\"length_policy\": \"start\"'"
check "length policy error refuses 38 s" bash -c "'$BIN' inspect --check --length-policy error '$ECG/s0010_re.hea' 2>&1 | grep -q 'needs exactly 10 s'"
echo '{"bandpas": true}' >"$TMP/typo.json"
check "config typo named" bash -c "'$BIN' inspect --check --config '$TMP/typo.json' '$ECG/00009.hea' 2>&1 | grep -q 'unknown config key(s): .*bandpas'"

# plot
"$BIN" plot "$ECG/00009.hea" -o "$TMP/p.svg" 2>/dev/null
check "plot exit 0" test $? -eq 0
check "plot is svg" grep -q "<svg" "$TMP/p.svg"
check "plot has 13 traces" test "$(grep -o '<path' "$TMP/p.svg" | wc -l)" -ge 13
check "plot title names record" grep -q "00009" "$TMP/p.svg"
check "plot without -o fails" bash -c "! '$BIN' plot '$ECG/00009.hea' 2>/dev/null"

# generate with the real stories260K checkpoint
"$BIN" generate -m "$DATA/models/stories260K" -p "Once upon a time" -n 30 --temp 0 >"$TMP/gen.txt" 2>/dev/null
check "generate greedy story" grep -q "^Once upon a time, there was a little" "$TMP/gen.txt"
"$BIN" generate -m "$DATA/models/stories260K" -p "Once upon a time" -p "Lily" -n 10 --temp 0 --json >"$TMP/gen.jsonl" 2>/dev/null
check "generate batch json lines" test "$(wc -l <"$TMP/gen.jsonl")" -eq 2
mkdir -p "$TMP/broken"
cp "$DATA/models/stories260K/config.json" "$DATA/models/stories260K/tokenizer.model" "$TMP/broken/"
head -c 5000 "$DATA/models/stories260K/model.safetensors" >"$TMP/broken/model.safetensors"
check "generate truncated safetensors" bash -c "'$BIN' generate -m '$TMP/broken' -p x 2>&1 | grep -q 'past the data buffer'"
check "generate missing model dir" bash -c "'$BIN' generate -m '$TMP/nope' -p x 2>&1 | grep -q 'does not exist'"

# ECG tokenizer (stage 1): train the tiny config, kill it with SIGKILL mid-run, resume, and get the very
# same weights and metrics as an uninterrupted run.
SRC=$(cd "$(dirname "$DATA")/.." && pwd)
TINY=$SRC/configs/tokenizer-tiny.json
(cd "$SRC" && "$BIN" -t 1 train-tokenizer --config "$TINY" -o "$TMP/tok-a" >"$TMP/tok-a.json" 2>"$TMP/tok-a.err")
check "train-tokenizer exit 0" test $? -eq 0
check "train-tokenizer summary steps" test "$(json_get "$TMP/tok-a.json" "j['steps']")" = "9"
check "train-tokenizer model written" test -s "$TMP/tok-a/model/model.safetensors"
check "train-tokenizer one metrics line per step" test "$(grep -c '"loss"' "$TMP/tok-a/metrics.jsonl")" -eq 9
check "train-tokenizer progress with ETA" grep -q "step 9/9 .* ETA" "$TMP/tok-a.err"
(cd "$SRC" && "$BIN" -t 1 train-tokenizer --config "$TINY" -o "$TMP/tok-b" --test-sigkill-at-step 5 >/dev/null 2>&1)
check "train-tokenizer SIGKILL exit 137" test $? -eq 137
check "killed run has a checkpoint" test -s "$TMP/tok-b/checkpoint.pt"
check "killed run not finished" test "$(grep -c '"loss"' "$TMP/tok-b/metrics.jsonl")" -lt 9
(cd "$SRC" && "$BIN" -t 1 train-tokenizer --config "$TINY" -o "$TMP/tok-b" --resume >"$TMP/tok-b.json" 2>"$TMP/tok-b.err")
check "resume exit 0" test $? -eq 0
check "resume starts at the checkpoint" grep -q "resuming .* at step 4" "$TMP/tok-b.err"
check "resumed weights == uninterrupted weights" cmp -s "$TMP/tok-a/model/model.safetensors" "$TMP/tok-b/model/model.safetensors"
strip_time() { python3 -c "import json,sys; [print(json.dumps({k:v for k,v in json.loads(l).items() if k!='elapsed_s'}, sort_keys=True)) for l in open(sys.argv[1])]" "$1"; }
check "resumed metrics == uninterrupted metrics" test "$(strip_time "$TMP/tok-a/metrics.jsonl")" = "$(strip_time "$TMP/tok-b/metrics.jsonl")"
check "fresh run into a used directory is refused" bash -c "cd '$SRC' && '$BIN' train-tokenizer --config '$TINY' -o '$TMP/tok-a' 2>&1 | grep -q 'already holds a run'"
check "resume without a run is refused" bash -c "cd '$SRC' && '$BIN' train-tokenizer --config '$TINY' -o '$TMP/tok-none' --resume 2>&1 | grep -q 'nothing to resume'"
printf '{"model": {"chanels": 8}, "data": {"path": "x"}}' >"$TMP/typo.json"
check "config typo names the key" bash -c "'$BIN' train-tokenizer --config '$TMP/typo.json' -o '$TMP/tok-t' 2>&1 | grep -q 'model.chanels'"

# tokenize and reconstruct with the tiny model
TOK=$TMP/tok-a/model
"$BIN" tokenize -m "$TOK" "$ECG/HR06000.hea" --json >"$TMP/tok1.json" 2>/dev/null
check "tokenize exit 0" test $? -eq 0
check "tokenize 313 tokens" test "$(json_get "$TMP/tok1.json" "j['n_tokens'] == 313 == len(j['tokens'])")" = "True"
check "tokenize ids in codebook" test "$(json_get "$TMP/tok1.json" "j['codebook_size'] == 1296 and all(0 <= t < 1296 for t in j['tokens'])")" = "True"
"$BIN" tokenize -m "$TOK" "$ECG/00043.hea" "$ECG/HR06000.hea" --batch 2 --json >"$TMP/tok2.jsonl" 2>/dev/null
check "tokenize batched == alone" test "$(tail -1 "$TMP/tok2.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["tokens"])')" = "$(json_get "$TMP/tok1.json" "j['tokens']")"
check "tokenize missing model" bash -c "'$BIN' tokenize -m '$TMP/nope' '$ECG/00043.hea' 2>&1 | grep -q 'not an ECG tokenizer directory'"
check "tokenize bad record exit 1" bash -c "! '$BIN' tokenize -m '$TOK' '$DATA/bad/empty.hea' >/dev/null 2>&1"
"$BIN" reconstruct -m "$TOK" "$ECG/HR06000.hea" -o "$TMP/rec.svg" --json >"$TMP/rec.json" 2>/dev/null
check "reconstruct exit 0" test $? -eq 0
check "reconstruct figures" test "$(json_get "$TMP/rec.json" "j['n_ecgs'] == 1 and j['mse'] > 0 and -1 <= j['mean_pearson'] <= 1 and 1 <= j['codes_used'] <= 313")" = "True"
check "reconstruct svg 12+12 traces" test "$(grep -c 'class="original"' "$TMP/rec.svg")$(grep -c 'class="reconstruction"' "$TMP/rec.svg")" = "1212"
check "reconstruct -o needs one record" bash -c "'$BIN' reconstruct -m '$TOK' '$ECG/HR06000.hea' '$ECG/00043.hea' -o '$TMP/x.svg' 2>&1 | grep -q 'draws one record'"

# the bundled tokenizer (models/ecg-tokenizer, the default -m) on PTB-XL record 9 (a test-split record)
"$BIN" reconstruct "$ECG/00009.hea" --json >"$TMP/rec9.json" 2>/dev/null
check "bundled tokenizer reconstructs a held-out record (r > 0.85)" test "$(json_get "$TMP/rec9.json" "j['mean_pearson'] > 0.85 and j['mse'] < 0.3")" = "True"
check "bundled tokenizer 313 tokens" test "$("$BIN" tokenize "$ECG/00009.hea" --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["n_tokens"])')" = "313"

# bad input: one clear line on stderr, exit code 1, no crash
for f in "$DATA"/bad/*; do
  case "$f" in *.dat|*.mat|*.md|*.xyz) continue ;; esac
  "$BIN" inspect --check "$f" >/dev/null 2>"$TMP/bad.err"
  rc=$?
  check "bad input $(basename "$f") exit 1" test $rc -eq 1
  check "bad input $(basename "$f") message" grep -q "^diagecg: error: " "$TMP/bad.err"
done

echo "cli-e2e: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
