#!/usr/bin/env bash
# End-to-end tests of scripted use (issue 21): batch `report`/`qa` over many records and question files with one
# model load, resumable -o (SIGKILL, partial lines, another cwd), cwd-independent and duplicate ids, the one input
# schema (JSON and JSONL, errors naming the field), eval's missing/skipped accounting and --allow-missing, qa's
# question families (in_domain, --strict), and README's batch examples run verbatim.
# usage: batch-e2e.sh PATH/TO/diagecg TESTS_DATA_DIR
source "$(dirname "$0")/e2e-lib.sh"
DATA=$(cd "$DATA" && pwd)   # absolute: some checks run from other directories
ECG=$DATA/ecg
SRC=$(cd "$DATA/../.." && pwd)
MODEL=$SRC/models/diagecg
# scripted-use mechanics on the small v1 model (fast at -t 1); the default model (v2) is bundled-model-e2e's
export DIAGECG_MODEL=$MODEL
B=$DATA/batch
SHARED=$SRC/../shared/data
D="$BIN -t 1"
py() { python3 -c "$@"; }
lines() { if [ -f "$1" ]; then grep -c . "$1"; else echo 0; fi; }
# jl FILE EXPR: evaluates EXPR with L = the file's JSON lines
jl() { python3 -c "import json,sys; L=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]; print($2)" "$1"; }

# --- README's batch examples, verbatim, from a copy of the repository root (tests/ and models/ linked) ---
R=$TMP/readme
mkdir -p "$R/out" && ln -s "$SRC/tests" "$R/tests" && ln -s "$SRC/models" "$R/models"
sed -n '/<!-- batch-e2e:begin/,/<!-- batch-e2e:end/p' "$SRC/README.md" | grep '^diagecg ' >"$TMP/readme-lines"
check "README has the 7 batch examples" test "$(lines "$TMP/readme-lines")" -eq 7
n=0
while IFS= read -r line; do
  n=$((n + 1))
  printf 'diagecg() { "%s" -t 1 "$@"; }\ncd "%s"\n%s\n' "$BIN" "$R" "$line" >"$TMP/readme-$n.sh"
  bash "$TMP/readme-$n.sh" >"$TMP/readme-$n.out" 2>"$TMP/readme-$n.err"
  check "README example $n exits 0: $line" test $? -eq 0
done <"$TMP/readme-lines"
O=$R/out
check "report list file: 8 lines" test "$(lines "$O/reports.jsonl")" -eq 8
check "report lines carry id, record, patient, report, signal_quality, stop_reason" test "$(jl "$O/reports.jsonl" "all(set(j) >= {'id', 'record', 'patient', 'report', 'signal_quality', 'stop_reason'} and j['report'] and j['stop_reason'] == 'eos' for j in L)")" = "True"
check "report ids are the records' absolute paths" test "$(jl "$O/reports.jsonl" "[j['id'] for j in L] == [j['record'] for j in L] and all(j['id'].startswith('/') and j['id'].endswith('.hea') for j in L)")" = "True"
check "report patient from the header (HR06000)" test "$(jl "$O/reports.jsonl" "[j['patient'] for j in L if j['id'].endswith('HR06000.hea')][0]")" = "age 59, female"
check "report loads the model once" test "$(grep -c 'applied LoRA adapter' "$TMP/readme-1.err")" -eq 1
check "report progress with ETA" grep -q "report 8/8 samples, .* samples/s, ETA" "$TMP/readme-1.err"
check "report quoted glob to stdout: 5 PTB-XL records" test "$(jl "$O/ptbxl-reports.jsonl" "sorted(j['id'].rsplit('/', 1)[1] for j in L)")" = "['00009.hea', '00043.hea', '00085.hea', '00318.hea', '01377.hea']"
check "qa -q over a list: 8 in-domain answers" test "$(jl "$O/normal.jsonl" "len(L) == 8 and all(j['in_domain'] and j['template_id'] == 2 and j['answers'][0] in ('yes', 'no') for j in L)")" = "True"
check "qa --questions: 20 answers, one model load" bash -c "test \"\$(grep -c . '$O/answers.jsonl')\" -eq 20 && test \"\$(grep -c 'applied LoRA adapter' '$TMP/readme-4.err')\" -eq 1"
check "qa --questions: ids from the file or from paths + question, all distinct" test "$(jl "$O/answers.jsonl" "len({j['id'] for j in L}) == 20 and {'q01', 'q05', 'q09', 'q13', 'q17', 'compare-1'} <= {j['id'] for j in L}")" = "True"
check "qa --questions: the comparison has two records" test "$(jl "$O/answers.jsonl" "[(len(j['records']), j['in_domain'], j['template_id']) for j in L if j['id'] == 'compare-1']")" = "[(2, True, 70)]"
check "qa --questions: exactly the 3 free questions are out of domain" test "$(jl "$O/answers.jsonl" "sorted(j['question'] for j in L if not j['in_domain'])")" = "['Does this ECG show atrial fibrillation?', 'Translate this to French', 'What is the heart rate?']"
check "qa --questions: a warning per out-of-domain question" test "$(grep -c 'matches no question family' "$TMP/readme-4.err")" -eq 3
check "eval qa on minimal JSONL: 4 scored, rows carry records" test "$(jl "$O/qa-eval.jsonl" "[len(L) - 1, all(j['records'][0].startswith('/') for j in L[1:])]")" = "[4, True]"
check "eval report on minimal JSONL: n = 2" test "$(py "import json; print(json.load(open('$O/report-eval.jsonl.summary.json'))['n'])")" = "2"

check "README --all-windows: the 38.4 s record as 3 windows of 10 s" test "$(jl "$O/s0010-windows.jsonl" "[(j['id'].rsplit('/', 1)[1], j['window']['start_s'], j['window']['duration_s'], j['window']['record_duration_s']) for j in L]")" = "[('s0010_re.hea@0s', 0.0, 10.0, 38.4), ('s0010_re.hea@10s', 10.0, 10.0, 38.4), ('s0010_re.hea@20s', 20.0, 10.0, 38.4)]"

# --- single-record forms print what they always printed; the batch path gives the same text ---
$D report "$ECG/00318.hea" >"$TMP/single.txt" 2>/dev/null
check "report RECORD: one plain line, no JSON" bash -c "test \$(wc -l <'$TMP/single.txt') -eq 1 && ! grep -q '^{' '$TMP/single.txt'"
check "report RECORD == its batch line" test "$(cat "$TMP/single.txt")" = "$(jl "$O/reports.jsonl" "[j['report'] for j in L if j['id'].endswith('00318.hea')][0]")"
$D report "$ECG/00318.hea" "$ECG/01377.hea" >"$TMP/two.jsonl" 2>/dev/null
check "report A B: two JSON lines on stdout" test "$(jl "$TMP/two.jsonl" "len(L)")" = "2"
$D report "$ECG/00318.hea" "$ECG/00318.hea" -o "$TMP/dup.jsonl" 2>/dev/null
check "a record listed twice stays two samples (#2)" test "$(jl "$TMP/dup.jsonl" "sorted(j['id'].rsplit('/', 1)[1] for j in L)")" = "['00318.hea', '00318.hea#2']"

# an unreadable record is skipped with its reason, the others are written, and the exit code says so
$D report "$ECG/00318.hea" "$DATA/bad/bad-checksum.hea" "$ECG/01377.hea" -o "$TMP/skip.jsonl" >/dev/null 2>"$TMP/skip.err"; rc=$?
check "batch with an unreadable record: exit 1 naming it, the other 2 written" bash -c "test $rc -eq 1 && grep -q '^diagecg: error: 1 of 3 samples skipped (first: .*bad-checksum.hea' '$TMP/skip.err' && test \$(grep -c . '$TMP/skip.jsonl') -eq 2"
$D report "$ECG/00318.hea" "$DATA/bad/bad-checksum.hea" "$ECG/01377.hea" -o "$TMP/skip.jsonl" --allow-missing >/dev/null 2>"$TMP/skip2.err"; rc=$?
check "--allow-missing: exit 0, the bad record retried (and skipped) only" bash -c "test $rc -eq 0 && grep -q '3 samples, 2 done already, 1 to run' '$TMP/skip2.err'"

# --- resume: SIGKILL after a batch, a cut-off last line, then the same run from another directory ---
mkdir -p "$TMP/a" "$TMP/b/c"
(cd "$TMP/a" && $D report "$(realpath --relative-to="$TMP/a" "$B/records.txt")" -o ../k.jsonl --batch-size 3 --test-sigkill-after-batches 1 >/dev/null 2>&1); rc=$?
check "killed run exits 137 after one batch of 3" test "$rc:$(lines "$TMP/k.jsonl")" = "137:3"
printf '{"id": "cut off' >>"$TMP/k.jsonl"
(cd "$TMP/b/c" && $D report "$(realpath --relative-to="$TMP/b/c" "$B/records.txt")" -o ../../k.jsonl --batch-size 3 >/dev/null 2>"$TMP/k2.err"); rc=$?
check "resumed from another cwd: exit 0, continues" bash -c "test $rc -eq 0 && grep -q '8 samples, 3 done already, 5 to run' '$TMP/k2.err'"
check "resumed: every record once, none lost" test "$(jl "$TMP/k.jsonl" "len(L) == 8 and len({j['id'] for j in L}) == 8")" = "True"
check "resumed = one uninterrupted run" test "$(py "
import json
a = {json.loads(l)['id']: json.loads(l)['report'] for l in open('$TMP/k.jsonl')}
b = {json.loads(l)['id']: json.loads(l)['report'] for l in open('$O/reports.jsonl')}
print(a == b)")" = "True"
$D report "$B/records.txt" -o "$TMP/k.jsonl" -n 5 >/dev/null 2>"$TMP/k3.err"; rc=$?
check "resume with other settings refused, naming them" bash -c "test $rc -eq 1 && grep -q 'option n_predict (was 200, now 5)' '$TMP/k3.err'"
# a real kill -9 from outside, at whatever moment the third line lands
$D report "$B/records.txt" "$B/records.txt" "$B/records.txt" -o "$TMP/kk.jsonl" --batch-size 1 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 600); do [ "$(lines "$TMP/kk.jsonl")" -ge 3 ] && break; sleep 0.05; done
kill -9 $pid 2>/dev/null; wait $pid; rc=$?
n_before=$(lines "$TMP/kk.jsonl")
check "kill -9 landed mid-run" bash -c "test $rc -eq 137 && test $n_before -ge 3 && test $n_before -lt 24"
$D report "$B/records.txt" "$B/records.txt" "$B/records.txt" -o "$TMP/kk.jsonl" --batch-size 1 >/dev/null 2>&1
check "after kill -9 and a re-run: 24 samples, each once (#2, #3 kept apart)" test "$(jl "$TMP/kk.jsonl" "len(L) == 24 and len({j['id'] for j in L}) == 24 and sum(j['id'].endswith('#3') for j in L) == 8")" = "True"

# --- qa: question families, --strict, the single form ---
$D qa "$ECG/00318.hea" -q "Translate this to French" --json >"$TMP/fr.json" 2>"$TMP/fr.err"; rc=$?
check "qa out of domain: answered, flagged" bash -c "test $rc -eq 0 && grep -q 'matches no question family' '$TMP/fr.err' && python3 -c \"import json,sys; sys.exit(0 if json.load(open('$TMP/fr.json'))['in_domain'] is False else 1)\""
$D qa "$ECG/00318.hea" -q "Translate this to French" --strict >"$TMP/fr2.out" 2>"$TMP/fr2.err"; rc=$?
check "qa --strict refuses it (exit 1, one error line, nothing on stdout)" bash -c "test $rc -eq 1 && test ! -s '$TMP/fr2.out' && grep -q '^diagecg: error: --strict: 1 question(s) match no question family' '$TMP/fr2.err'"
$D qa "$ECG/00318.hea" -q "Does this ECG show baseline drift in lead V1?" --strict --json >"$TMP/in.json" 2>"$TMP/in.err"; rc=$?
check "qa --strict answers a template question (template 26)" bash -c "test $rc -eq 0 && ! grep -q 'matches no question family' '$TMP/in.err' && test \"\$(python3 -c \"import json; j=json.load(open('$TMP/in.json')); print(j['in_domain'], j['template_id'])\")\" = 'True 26'"
$D qa --questions "$B/questions.jsonl" --strict -o "$TMP/strict.jsonl" >/dev/null 2>"$TMP/strict.err"; rc=$?
check "qa --questions --strict refuses the file (3 out of domain)" bash -c "test $rc -eq 1 && grep -q -- '--strict: 3 question(s)' '$TMP/strict.err' && test ! -s '$TMP/strict.jsonl'"
py "import json; open('$TMP/q.json', 'w').write(json.dumps([json.loads(l) for l in open('$B/questions.jsonl')]).replace('../ecg/', '$ECG/'))"
$D qa --questions "$TMP/q.json" >"$TMP/q-array.jsonl" 2>/dev/null
check "qa --questions takes a JSON array too (same ids)" test "$(py "
import json
a = sorted(json.loads(l)['id'] for l in open('$TMP/q-array.jsonl')); b = sorted(json.loads(l)['id'] for l in open('$O/answers.jsonl'))
print(a == b)")" = "True"
$D qa --questions "$B/questions.jsonl" -o "$TMP/qk.jsonl" --batch-size 4 --test-sigkill-after-batches 2 >/dev/null 2>&1
check "qa killed after two batches: 8 lines" test "$(lines "$TMP/qk.jsonl")" -eq 8
$D qa --questions "$B/questions.jsonl" -o "$TMP/qk.jsonl" --batch-size 4 >/dev/null 2>"$TMP/qk.err"
check "qa resumed: 20 distinct, 12 run" bash -c "grep -q '20 samples, 8 done already, 12 to run' '$TMP/qk.err' && test \"\$(python3 -c \"import json; print(len({json.loads(l)['id'] for l in open('$TMP/qk.jsonl')}))\")\" -eq 20 && test \$(grep -c . '$TMP/qk.jsonl') -eq 20"

# --- one input schema: unknown and missing fields named in one error line ---
echo '{"questoin": "Is this a normal ECG?", "record": "x.hea"}' >"$TMP/typo.jsonl"
$D qa --questions "$TMP/typo.jsonl" >/dev/null 2>"$TMP/typo.err"; rc=$?
check "unknown field named (file, line, field)" bash -c "test $rc -eq 1 && test \$(wc -l <'$TMP/typo.err') -eq 1 && grep -q 'typo.jsonl line 1: unknown field \"questoin\" for qa data' '$TMP/typo.err'"
echo '{"record": "../ecg/00318.hea"}' >"$TMP/noq.jsonl"
check "missing question named" bash -c "'$BIN' qa --questions '$TMP/noq.jsonl' 2>&1 | grep -q 'noq.jsonl line 1: missing field \"question\"'"
check "eval needs the answer and says so" bash -c "'$BIN' eval --task qa --data '$B/questions.jsonl' -o '$TMP/x.jsonl' 2>&1 | grep -q 'questions.jsonl line 1: missing field \"answer\"'"
echo '[{"record": "a.hea", "report": "x", "reprot": "y"}]' >"$TMP/rtypo.json"
check "report data: unknown field named (JSON array item)" bash -c "'$BIN' eval --task report --data '$TMP/rtypo.json' -o '$TMP/x.jsonl' 2>&1 | grep -q 'rtypo.json item 0: unknown field \"reprot\" for report data'"

# --- eval: missing and skipped samples counted; exit 1 unless --allow-missing; ids independent of the cwd ---
cp "$B/qa-eval.jsonl" "$TMP/ev.jsonl" && sed -i "s#\.\./ecg/#$ECG/#g" "$TMP/ev.jsonl"
echo '{"record": "no-such-record.hea", "question": "Is this a normal ECG?", "answer": "no"}' >>"$TMP/ev.jsonl"
echo '{"ecg_id": 99999, "question": "Is this a normal ECG?", "answer": "no"}' >>"$TMP/ev.jsonl"
$D eval --task qa --data "$TMP/ev.jsonl" --ecg-dir "$ECG" -o "$TMP/ev-out.jsonl" >"$TMP/ev.txt" 2>"$TMP/ev.err"; rc=$?
check "eval with a missing and an unreadable record exits 1 and says so" bash -c "test $rc -eq 1 && grep -q '^diagecg: error: 1 sample(s) of the data have no record and 1 of the 5 asked were not scored' '$TMP/ev.err'"
check "eval summary table says so" grep -q "^covers 4 of 5 samples asked (1 without a record in the data, 1 skipped" "$TMP/ev.txt"
check "eval summary counts them" test "$(py "import json; c = json.load(open('$TMP/ev-out.jsonl.summary.json'))['covers']; print(c['samples_asked'], c['samples_scored'], c['samples_missing'], c['samples_skipped'])")" = "5 4 1 1"
$D eval --task qa --data "$TMP/ev.jsonl" --ecg-dir "$ECG" -o "$TMP/ev-out.jsonl" --allow-missing >/dev/null 2>&1
check "eval --allow-missing exits 0" test $? -eq 0
mkdir -p "$TMP/e1" "$TMP/e2/x"
cp "$B/qa-eval.jsonl" "$TMP/qe.jsonl" && sed -i "s#\.\./ecg/#$(realpath --relative-to="$TMP" "$ECG")/#g" "$TMP/qe.jsonl"
(cd "$TMP/e1" && $D eval --task qa --data ../qe.jsonl -o ../qe-out.jsonl --batch-size 2 --test-sigkill-after-batches 1 >/dev/null 2>&1)
(cd "$TMP/e2/x" && $D eval --task qa --data ../../qe.jsonl -o ../../qe-out.jsonl --batch-size 2 >/dev/null 2>"$TMP/qe.err")
check "eval resumed from another cwd continues" grep -q "4 samples in shard 0/1, 2 done already, 2 to run" "$TMP/qe.err"
check "eval resumed from another cwd: n = 4, not more" test "$(py "import json; print(json.load(open('$TMP/qe-out.jsonl.summary.json'))['n'])")" = "4"
one=$(head -1 "$B/reports.jsonl" | sed "s#\.\./ecg/#$ECG/#")
printf '%s\n%s\n' "$one" "$one" >"$TMP/rd.jsonl"
$D eval --task report --data "$TMP/rd.jsonl" -o "$TMP/rd-out.jsonl" >/dev/null 2>&1
check "eval keeps a repeated sample apart (n = 2, ids X and X#2)" test "$(py "
import json
s = json.load(open('$TMP/rd-out.jsonl.summary.json'))
ids = sorted(json.loads(l)['id'].rsplit('/', 1)[1] for l in open('$TMP/rd-out.jsonl') if 'id' in json.loads(l))
print(s['n'], ids)")" = "2 ['HR06000.hea', 'HR06000.hea#2']"

# --- inference-time preprocessing: the model's own by default, flags over it, windows said on stderr and in JSON ---
$D report "$ECG/s0010_re.hea" >"$TMP/long.txt" 2>"$TMP/long.err"
check "a 38.4 s record: the report alone on stdout" test "$(wc -l <"$TMP/long.txt")" -eq 1
check "a 38.4 s record: stderr says which 10 s were read" grep -q "s0010_re: the record is 38.4 s long and the model reads 10 s: it read 0.0-10.0 s" "$TMP/long.err"
$D report "$ECG/s0010_re.hea" --window 20:10 --json >"$TMP/w20.json" 2>"$TMP/w20.err"
check "--window 20:10: the JSON says so" test "$(py "import json; w = json.load(open('$TMP/w20.json'))['window']; print(w['start_s'], w['duration_s'], w['record_duration_s'])")" = "20.0 10.0 38.4"
check "--window 20:10: stderr says so, no warning" bash -c "grep -q 's0010_re: read 20.0-30.0 s of 38.4 s' '$TMP/w20.err' && ! grep -q 'it read 0.0-10.0' '$TMP/w20.err'"
check "--length-policy error refuses the 38.4 s record" bash -c "'$BIN' -t 1 report '$ECG/s0010_re.hea' --length-policy error 2>&1 | grep -q 'needs exactly 10 s'"
check "--length-policy error with a 10 s --window reads it" bash -c "'$BIN' -t 1 report '$ECG/s0010_re.hea' --length-policy error --window 5:10 >/dev/null 2>&1"
check "--window past the end is one clear error" bash -c "'$BIN' -t 1 report '$ECG/s0010_re.hea' --window 40:10 2>&1 | grep -q '^diagecg: error: .*s0010_re: the window starts at 40 s but the record is 38.400 s long'"
check "--window needs START:DURATION" bash -c "'$BIN' -t 1 report '$ECG/00318.hea' --window 10-20 2>&1 | grep -q 'window must be START:DURATION'"
echo '{"bandpas": true}' >"$TMP/ptypo.json"
check "--config typo named" bash -c "'$BIN' -t 1 report '$ECG/00318.hea' --config '$TMP/ptypo.json' 2>&1 | grep -q 'bandpas'"
$D report "$ECG/00318.hea" --token-cache "$TMP/tc" >/dev/null 2>"$TMP/tc1.err"
$D report "$ECG/00318.hea" --token-cache "$TMP/tc" >/dev/null 2>"$TMP/tc2.err"
$D report "$ECG/00318.hea" --token-cache "$TMP/tc" --bandpass --notch 50 >/dev/null 2>"$TMP/tc3.err"
check "flags reach the tokenizer: cached codes reused, other preprocessing tokenized anew" bash -c "grep -q 'tokenizing 1 ECGs not in the token cache' '$TMP/tc1.err' && ! grep -q 'tokenizing' '$TMP/tc2.err' && grep -q 'tokenizing 1 ECGs not in the token cache' '$TMP/tc3.err'"
$D report "$B/records.txt" -o "$TMP/bp.jsonl" --bandpass >/dev/null 2>&1
$D report "$B/records.txt" -o "$TMP/bp.jsonl" >/dev/null 2>"$TMP/bp.err"; rc=$?
check "resume without the --bandpass of the first run is refused" bash -c "test $rc -eq 1 && grep -q 'option preprocess' '$TMP/bp.err'"
$D eval --task report --data "$B/reports.jsonl" -o "$TMP/ev-bp.jsonl" --bandpass --length-policy center >/dev/null 2>&1; rc=$?
check "eval takes the preprocessing flags (exit 0)" test $rc -eq 0
check "eval records them in its header" test "$(head -1 "$TMP/ev-bp.jsonl" | python3 -c 'import json,sys; p=json.load(sys.stdin)["options"]["preprocess"]; print(p["bandpass"], p["length_policy"])')" = "True center"

$D plot "$ECG/s0010_re.hea" --report --window 20:10 -o "$TMP/p20.svg" 2>"$TMP/p20.err"; rc=$?
check "plot --report --window 20:10: the report reads the part drawn" bash -c "test $rc -eq 0 && grep -q 's0010_re: read 20.0-30.0 s of 38.4 s' '$TMP/p20.err' && grep -q 'Generated report' '$TMP/p20.svg'"
check "plot --report takes the preprocessing flags (--length-policy error refuses 38.4 s)" bash -c "'$BIN' -t 1 plot '$ECG/s0010_re.hea' --report --length-policy error -o '$TMP/pe.svg' 2>&1 | grep -q 'needs exactly 10 s'"

# --- the issue's acceptance run: 50 raw CinC-2021 records, one model load, kill -9, resume ---
if [ -d "$SHARED/raw/cinc2021" ]; then
  $BIN -t 2 report "$SHARED/raw/cinc2021" -o "$TMP/cinc.jsonl" --batch-size 4 >/dev/null 2>"$TMP/cinc.err" &
  pid=$!
  for _ in $(seq 1200); do [ "$(lines "$TMP/cinc.jsonl")" -ge 8 ] && break; sleep 0.05; done
  kill -9 $pid 2>/dev/null; wait $pid; rc=$?
  n_before=$(lines "$TMP/cinc.jsonl")
  check "50 records: kill -9 landed mid-run" bash -c "test $rc -eq 137 && test $n_before -ge 8 && test $n_before -lt 50"
  start=$(date +%s.%N)
  $BIN -t 2 report "$SHARED/raw/cinc2021" -o "$TMP/cinc.jsonl" --batch-size 4 >/dev/null 2>"$TMP/cinc2.err"; rc=$?
  check "50 records: resumed, one model load" bash -c "test $rc -eq 0 && test \$(grep -c 'applied LoRA adapter' '$TMP/cinc2.err') -eq 1 && grep -q '50 samples, $n_before done already' '$TMP/cinc2.err'"
  check "50 records: 50 lines, each once, all finished reports" test "$(jl "$TMP/cinc.jsonl" "len(L) == 50 and len({j['id'] for j in L}) == 50 and all(j['report'] and j['stop_reason'] == 'eos' for j in L)")" = "True"
  echo "batch-e2e: 50 CinC records: killed after $n_before lines, resume took $(py "print(round($(date +%s.%N) - $start, 1))") s" >&2
else
  echo "batch-e2e: skipping the 50-record CinC-2021 run (no $SHARED/raw/cinc2021)" >&2
fi

echo "batch-e2e: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
