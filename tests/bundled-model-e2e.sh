#!/usr/bin/env bash
# End-to-end tests of the bundled model (models/diagecg, the default of -m) on bundled real records:
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

# a missing model directory is one clear error
"$BIN" report "$ECG/00318.hea" -m "$TMP/none" >/dev/null 2>"$TMP/none.err"
check "missing model exit 1" test $? -eq 1
check "missing model message" grep -q "does not exist" "$TMP/none.err"

echo "bundled-model-e2e: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
