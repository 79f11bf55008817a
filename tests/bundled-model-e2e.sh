#!/usr/bin/env bash
# End-to-end tests of the bundled model (models/diagecg-v2, the default of -m; its base GGUF from
# scripts/setup-python.sh) on bundled real records:
# `report`, `qa` and `plot --report` run with no -m and must give well-formed output.
# usage: bundled-model-e2e.sh PATH/TO/diagecg TESTS_DATA_DIR
source "$(dirname "$0")/e2e-lib.sh"
ANSWERS=$DATA/ecgqa/answers_for_each_template.csv
py() { python3 -c "$@"; }

# report: held-out PTB-XL records (test split), and a raw CinC record from another format
for rec in 00318 01377 HR06000; do
  "$BIN" report "$ECG/$rec.hea" --json >"$TMP/r-$rec.json" 2>"$TMP/r-$rec.err"
  check "report $rec exit 0" test $? -eq 0
  # a finished report (EOS, not the length cap) of 3-150 words in the reports' lower-case ASCII alphabet
  check "report $rec well-formed" py "
import json, re, sys
j = json.load(open('$TMP/r-$rec.json'))
r = j['report']
ok = j['stop_reason'] == 'eos' and 3 <= len(r.split()) <= 150 and re.fullmatch(r\"[a-z0-9 .,:;()/'%+&<>=*-]+\", r) is not None
if '$rec' == 'HR06000': ok = ok and j['patient'].startswith('age 59, female')   # from the record's header
print(j, file=sys.stderr) if not ok else None
sys.exit(0 if ok else 1)"
done
# the plain form prints the same report as the JSON form
"$BIN" report "$ECG/00318.hea" >"$TMP/r-plain.txt" 2>/dev/null
check "report plain == json" py "
import json, sys
sys.exit(0 if open('$TMP/r-plain.txt').read().strip() == json.load(open('$TMP/r-00318.json'))['report'] else 1)"

# qa: every answer must come from the template's answer set (ECG-QA's answers_for_each_template.csv)
qa() {   # qa NAME TEMPLATE_ID QUESTION RECORD...
  local name=$1 tid=$2 q=$3; shift 3
  "$BIN" qa "$@" -q "$q" --json >"$TMP/qa-$name.json" 2>"$TMP/qa-$name.err"
  check "qa $name exit 0" test $? -eq 0
  check "qa $name answer in the template's answer set" py "
import ast, csv, json, sys
allowed = {int(r['template_id']): set(ast.literal_eval(r['classes'])) for r in csv.DictReader(open('$ANSWERS'))}[$tid]
j = json.load(open('$TMP/qa-$name.json'))
ok = j['stop_reason'] == 'eos' and len(j['answers']) > 0 and all(a in allowed for a in j['answers'])
print(j['answers'], file=sys.stderr) if not ok else None
sys.exit(0 if ok else 1)"
}
qa verify-af 35 "Does this ECG show any kind of extra systoles?" "$ECG/00318.hea"
qa query-rhythm 10 "What rhythm-related symptoms does this ECG show?" "$ECG/00318.hea"
qa query-rhythm-2 10 "What rhythm-related symptoms does this ECG show?" "$ECG/01377.hea"
qa normal 2 "Is this a normal ECG?" "$ECG/01377.hea"

# plot --report: the record's SVG with the generated report printed under the grid
"$BIN" plot "$ECG/00318.hea" --report -o "$TMP/p.svg" 2>"$TMP/p.err"
check "plot --report exit 0" test $? -eq 0
check "plot --report has the report" py "
import json, sys, xml.dom.minidom as m
svg = open('$TMP/p.svg').read()
m.parseString(svg)   # well-formed XML
first = json.load(open('$TMP/r-00318.json'))['report'].split()[0]
sys.exit(0 if 'Generated report' in svg and 'not for clinical use' in svg and first in svg else 1)"

# signal-quality gate: synthetic bad records (CSV, so the read flags reach report and qa) are refused with the
# reason; --allow-poor-signal reads them and the output says so; a CSV export of a real 10 s record goes through
py "
import math, random
random.seed(1)
def write(name, rows):
    open('$TMP/' + name + '.csv', 'w').write('\\n'.join(','.join(f'{v:.5f}' for v in r) for r in rows) + '\\n')
write('zeros', [[0.0] * 12 for _ in range(5000)])
write('noise', [[random.gauss(0, 1) for _ in range(12)] for _ in range(5000)])
write('flat11', [[math.sin(t / 40.0)] + [0.0] * 11 for t in range(5000)])
write('short', [[0.1 * l for l in range(12)] for _ in range(3)])
# a real 10 s record (PTB-XL 00318: format 16, 12 interleaved leads, gain 200) exported as CSV
import struct
raw = open('$ECG/00318.dat', 'rb').read()
v = struct.unpack('<%dh' % (len(raw) // 2), raw)
write('good', [[v[12 * t + l] / 200.0 for l in range(12)] for t in range(5000)])
"
for bad in zeros:'every lead is flat' noise:'broadband noise' flat11:'11 of 12 leads flat' short:'padding'; do
  name=${bad%%:*} why=${bad#*:}
  "$BIN" report "$TMP/$name.csv" --sample-rate 500 >"$TMP/q-$name.out" 2>"$TMP/q-$name.err"
  check "report refuses $name (exit 1)" test $? -eq 1
  check "report $name says why in one error line" bash -c "test \$(grep -c '^diagecg: error:' '$TMP/q-$name.err') -eq 1 && grep -q '^diagecg: error: .*signal quality poor.*$why' '$TMP/q-$name.err'"
  check "report $name prints no report" test ! -s "$TMP/q-$name.out"
done
"$BIN" qa "$TMP/noise.csv" --sample-rate 500 -q "Is this a normal ECG?" >/dev/null 2>"$TMP/qa-noise.err"; rc=$?
check "qa refuses white noise" bash -c "test $rc -eq 1 && grep -q 'signal quality poor' '$TMP/qa-noise.err'"
"$BIN" report "$TMP/zeros.csv" --sample-rate 500 --allow-poor-signal --json >"$TMP/q-allow.json" 2>/dev/null
check "--allow-poor-signal reads it and the JSON says poor" py "
import json, sys; j = json.load(open('$TMP/q-allow.json')); sys.exit(0 if j['signal_quality']['verdict'] == 'poor' else 1)"
"$BIN" report "$TMP/zeros.csv" --sample-rate 500 --allow-poor-signal >"$TMP/q-allow.txt" 2>/dev/null
check "--allow-poor-signal text output says so" grep -q '^\[signal quality poor' "$TMP/q-allow.txt"
"$BIN" report "$TMP/good.csv" --sample-rate 500 --json >"$TMP/q-csv.json" 2>"$TMP/q-csv.err"
check "report reads a CSV with --sample-rate (read flags reach report)" test $? -eq 0
check "good CSV quality is not poor" py "
import json, sys; sys.exit(0 if json.load(open('$TMP/q-csv.json'))['signal_quality']['verdict'] != 'poor' else 1)"

# one read-options path: the same CSV and NPY (no rate in the file) go through every command that reads records
py "
import struct
raw = open('$ECG/00318.dat', 'rb').read()
v = struct.unpack('<%dh' % (len(raw) // 2), raw)
body = b''.join(struct.pack('<f', v[i] / 200.0) for i in range(len(v)))        # [T, L] float32, C order
hdr = \"{'descr': '<f4', 'fortran_order': False, 'shape': (5000, 12), }\"
hdr = hdr + ' ' * (118 - len(hdr) - 10) + '\\n'
open('$TMP/good.npy', 'wb').write(b'\\x93NUMPY\\x01\\x00' + struct.pack('<H', len(hdr)) + hdr.encode() + body)
"
printf '[{"question": "Is this a normal ECG?", "answer": ["no"], "record": ["good.csv"], "template_id": 2, "question_type": "single-verify", "attribute_type": "scp_code", "question_id": 1, "sample_id": 1, "attribute": ["normal ecg"], "ecg_id": [318]}]' >"$TMP/q.json"
for f in good.csv good.npy; do
  "$BIN" tokenize "$TMP/$f" --sample-rate 500 --json >"$TMP/t-$f.json" 2>/dev/null
  check "tokenize $f --sample-rate" test "$(py "import json; print(len(json.loads(open('$TMP/t-$f.json').readline())['tokens']))")" = "313"
  "$BIN" report "$TMP/$f" --sample-rate 500 >"$TMP/r-$f.txt" 2>/dev/null
  check "report $f --sample-rate" test -s "$TMP/r-$f.txt"
  "$BIN" qa "$TMP/$f" --sample-rate 500 -q "Is this a normal ECG?" >"$TMP/a-$f.txt" 2>/dev/null
  check "qa $f --sample-rate" test -s "$TMP/a-$f.txt"
  "$BIN" plot "$TMP/$f" --sample-rate 500 --report -o "$TMP/p-$f.svg" 2>/dev/null
  check "plot --report $f --sample-rate" grep -q "Generated report" "$TMP/p-$f.svg"
  "$BIN" report "$TMP/$f" >/dev/null 2>"$TMP/norate-$f.err"
  check "report $f without a rate names the flag" grep -q -- "--sample-rate" "$TMP/norate-$f.err"
done
check "CSV and NPY of one record give the same tokens" test "$(py "import json; a=json.loads(open('$TMP/t-good.csv.json').readline())['tokens']; b=json.loads(open('$TMP/t-good.npy.json').readline())['tokens']; print(a == b)")" = "True"
"$BIN" eval --task qa --data "$TMP/q.json" -o "$TMP/q-eval.jsonl" --sample-rate 500 >/dev/null 2>"$TMP/q-eval.err"
check "eval reads a CSV record with --sample-rate" test "$(py "import json; L=[json.loads(l) for l in open('$TMP/q-eval.jsonl')]; print(len(L) == 2 and L[1]['signal_quality']['verdict'] in ('good', 'borderline'))")" = "True"

# bounded reading: a header that says 5,000 samples over a 2 GiB sparse .dat costs what a normal record costs.
# The peak RSS is compared on the small v1 model: the default model's load (GGUF + adapter) moves its peak by
# ~100 MB from run to run, which would hide what the reader costs.
cp "$ECG/00318.hea" "$TMP/sparse.hea"; cp "$ECG/00318.dat" "$TMP/sparse.dat"; truncate -s 2G "$TMP/sparse.dat"
sed -i 's/^00318/sparse/; s/00318\.dat/sparse.dat/g' "$TMP/sparse.hea"
"$BIN" report "$TMP/sparse.hea" >"$TMP/sparse.out" 2>/dev/null
check "report on a 2 GiB sparse .dat exit 0" test -s "$TMP/sparse.out"
V1=$(cd "$DATA/../.." && pwd)/models/diagecg
/usr/bin/time -f %M "$BIN" report "$ECG/00318.hea" -m "$V1" >/dev/null 2>"$TMP/rss-normal.err"
/usr/bin/time -f %M "$BIN" report "$TMP/sparse.hea" -m "$V1" >/dev/null 2>"$TMP/rss-sparse.err"
check "sparse .dat peak RSS within 50 MB of a normal record's" py "
n = int(open('$TMP/rss-normal.err').read().split()[-1]); s = int(open('$TMP/rss-sparse.err').read().split()[-1])
print(f'peak RSS: normal {n} KiB, 2 GiB sparse {s} KiB')
import sys; sys.exit(0 if s - n < 50 * 1024 else 1)"

# a missing model directory is one clear error
"$BIN" report "$ECG/00318.hea" -m "$TMP/none" >/dev/null 2>"$TMP/none.err"
check "missing model exit 1" test $? -eq 1
check "missing model message" grep -q "does not exist" "$TMP/none.err"

# --dtype native: the base's Q4_1 blocks stay quantized and the adapter is attached beside them (as QLoRA trained
# it): a well-formed report in less memory than the dense f32 model's
/usr/bin/time -f %M "$BIN" report "$ECG/00318.hea" --dtype native --json >"$TMP/native.json" 2>"$TMP/native.err"
check "report --dtype native exit 0" test $? -eq 0
/usr/bin/time -f %M "$BIN" report "$ECG/00318.hea" --json >/dev/null 2>"$TMP/dense.err"
check "report --dtype native well-formed and in less memory than f32" py "
import json, sys
j = json.load(open('$TMP/native.json'))
n = int(open('$TMP/native.err').read().split()[-1]); d = int(open('$TMP/dense.err').read().split()[-1])
print(f'peak RSS: native {n} KiB, f32 {d} KiB', file=sys.stderr)
sys.exit(0 if j['stop_reason'] == 'eos' and len(j['report'].split()) >= 3 and n < d else 1)"
MODEL=$(cd "$DATA/../.." && pwd)/models/diagecg-v2
"$BIN" qa "$ECG/00318.hea" -q "Is this a normal ECG?" --dtype native --lora "$MODEL/qa/adapter:0.5" >/dev/null 2>"$TMP/scaled.err"
check "a scaled adapter on kept blocks: exit 1, one error line" test $? -eq 1 -a "$(grep -c "error" "$TMP/scaled.err")" -eq 1
check "a scaled adapter on kept blocks: message" grep -q "use --dtype f32 or bf16" "$TMP/scaled.err"
"$BIN" qa "$ECG/00318.hea" -q "Is this a normal ECG?" --dtype q2_k >/dev/null 2>"$TMP/dtype.err"
check "unknown --dtype: exit 1 and the list" grep -q "unknown dtype \"q2_k\" (f32, bf16" "$TMP/dtype.err"

# tools/adapter-mix.py (how qa/ was made from two rhythm adapters) on the bundled adapters: T=0 gives the first
# unchanged, T=1 the second, T=0.25 three quarters of the way back (tensor by tensor); a T outside [0, 1] is an
# error. The mix of qa/ with itself is qa/ again: the same answer as the bundled model.
PYV=$("$MODEL/../../scripts/setup-python.sh" --print-python)
for t in 0 1 0.25; do "$PYV" "$MODEL/../../tools/adapter-mix.py" "$MODEL/qa/adapter.safetensors" "$MODEL/report/adapter.safetensors" $t "$TMP/mix-$t.safetensors"; done
check "adapter-mix: T=0, 1 and 0.25 of qa/ and report/" "$PYV" -c "
import importlib.util, sys
spec = importlib.util.spec_from_file_location('m', '$MODEL/../../tools/safetensors_io.py'); m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
x, y = m.read_f32('$MODEL/qa/adapter.safetensors')[0], m.read_f32('$MODEL/report/adapter.safetensors')[0]
t0, t1, tq = (m.read_f32('$TMP/mix-%s.safetensors' % t)[0] for t in ('0', '1', '0.25'))
import numpy as np
ok = len(x) == len(t0) == len(y) > 400 and all((t0[k] == x[k]).all() and (t1[k] == y[k]).all() for k in x)
ok = ok and all(np.allclose(tq[k], 0.75 * x[k] + 0.25 * y[k], rtol=0, atol=1e-7) for k in x)
ok = ok and any((x[k] != y[k]).any() for k in x)
sys.exit(0 if ok else 1)"
"$PYV" "$MODEL/../../tools/adapter-mix.py" "$MODEL/qa/adapter.safetensors" "$MODEL/report/adapter.safetensors" 1.5 "$TMP/bad.safetensors" 2>"$TMP/mix-bad.err"
check "adapter-mix: T outside [0, 1] is an error" bash -c "test $? -eq 1 && grep -q 'T must be in \[0, 1\]' '$TMP/mix-bad.err' && test ! -e '$TMP/bad.safetensors'"
mkdir -p "$TMP/mixed/qa" && ln -s "$MODEL/base" "$TMP/mixed/base" && cp "$MODEL/qa/adapter.json" "$TMP/mixed/qa/"
"$PYV" "$MODEL/../../tools/adapter-mix.py" "$MODEL/qa/adapter.safetensors" "$MODEL/qa/adapter.safetensors" 0.5 "$TMP/mixed/qa/adapter.safetensors"
"$BIN" qa "$ECG/00318.hea" -q "What rhythm-related symptoms does this ECG show?" --json >"$TMP/q-bundled.json" 2>/dev/null
"$BIN" qa "$ECG/00318.hea" -q "What rhythm-related symptoms does this ECG show?" -m "$TMP/mixed" --json >"$TMP/q-mixed.json" 2>/dev/null
check "adapter-mix: qa/ mixed with itself answers as qa/" py "
import json, sys
a, b = json.load(open('$TMP/q-bundled.json')), json.load(open('$TMP/q-mixed.json'))
sys.exit(0 if a['answer'] and a['answer'] == b['answer'] else 1)"

echo "bundled-model-e2e: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
