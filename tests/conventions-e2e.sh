#!/usr/bin/env bash
# End-to-end tests of the CLI conventions of issue 21: generate -c/--min-p, plot options and formats, the
# default model found from the install prefix, PEFT adapters. Runs the real binary and checks what it prints.
# usage: conventions-e2e.sh PATH/TO/diagecg TESTS_DATA_DIR
source "$(dirname "$0")/e2e-lib.sh"
STORIES=$DATA/models/stories260K

# generate -c/--ctx-size: prompt + n_predict must fit; stories260K's context is 512
"$BIN" generate -m "$STORIES" -p "Once upon a time" -n 20 --temp 0 -c 64 >"$TMP/c64.txt" 2>"$TMP/c64.err"
check "generate -c 64 exit 0" test $? -eq 0
"$BIN" generate -m "$STORIES" -p "Once upon a time" -n 20 --temp 0 >"$TMP/c0.txt" 2>/dev/null
check "generate -c within the limit changes nothing" cmp -s "$TMP/c64.txt" "$TMP/c0.txt"
"$BIN" generate -m "$STORIES" -p "Once upon a time" -n 20 --temp 0 -c 16 >/dev/null 2>"$TMP/c16.err"
check "generate prompt + n_predict > -c exits 1" test $? -eq 1
check "generate -c error names the sizes" grep -q "^diagecg: error: prompt 0 (5 tokens) + --n-predict 20 = 25 tokens exceed the context of 16 (--ctx-size)" "$TMP/c16.err"
"$BIN" generate -m "$STORIES" -p "Once upon a time" -n 20 --ctx-size 4096 >/dev/null 2>"$TMP/cbig.err"
check "generate -c above the model's max exits 1" test $? -eq 1
check "generate -c above the model's max names it" grep -q "^diagecg: error: --ctx-size 4096 exceeds the model's context of 512 tokens" "$TMP/cbig.err"
"$BIN" generate -m "$STORIES" -p "Once upon a time" -n 600 >/dev/null 2>"$TMP/cmodel.err"
check "generate past the model's context without -c" grep -q "exceed the context of 512 (the model's max_position_embeddings)" "$TMP/cmodel.err"
"$BIN" generate -m "$STORIES" -p x -c -1 >/dev/null 2>"$TMP/cneg.err"
check "generate -c -1 is a usage error (exit 2)" test $? -eq 2
check "generate --help shows --ctx-size and --min-p" bash -c "'$BIN' generate --help | grep -q -- '--ctx-size' && '$BIN' generate --help | grep -q -- '--min-p'"

# generate --min-p: 1 keeps only the most likely token, so any temperature and seed give the greedy text;
# a small min-p at a high temperature samples
"$BIN" generate -m "$STORIES" -p "Once upon a time" -n 30 --temp 0 >"$TMP/greedy.txt" 2>/dev/null
"$BIN" generate -m "$STORIES" -p "Once upon a time" -n 30 --temp 2 --top-k 0 --top-p 1 --min-p 1 -s 5 >"$TMP/minp1.txt" 2>/dev/null
check "generate --min-p 1 equals greedy" cmp -s "$TMP/greedy.txt" "$TMP/minp1.txt"
"$BIN" generate -m "$STORIES" -p "Once upon a time" -n 30 --temp 2 --top-k 0 --top-p 1 --min-p 0.01 -s 5 >"$TMP/minp01.txt" 2>/dev/null
check "generate --min-p 0.01 at temp 2 samples" bash -c "! cmp -s '$TMP/greedy.txt' '$TMP/minp01.txt'"
"$BIN" generate -m "$STORIES" -p x --min-p 1.5 >/dev/null 2>"$TMP/minpbad.err"
check "generate --min-p 1.5 is a usage error (exit 2)" test $? -eq 2
check "generate --min-p 1.5 message" grep -q "^diagecg: error: .*min-p" "$TMP/minpbad.err"

# README and the docs cite only files in the repository: no REFERENCE file (it is not shipped; the paper is
# cited as arXiv 2508.15338), and every relative markdown link resolves
ROOT=$(cd "$DATA/../.." && pwd)
check "no REFERENCE file cited in README, docs or model cards" bash -c "! grep -rn 'REFERENCE' '$ROOT/README.md' '$ROOT/docs' '$ROOT/models' --include='*.md'"
check "every relative markdown link in README, docs and model cards resolves" python3 - "$ROOT" <<'PY'
import glob, os, re, sys
root = sys.argv[1]
files = [os.path.join(root, 'README.md')] + glob.glob(os.path.join(root, 'docs', '*.md')) + \
    glob.glob(os.path.join(root, 'models', '**', '*.md'), recursive=True)
bad = []
for f in files:
    for target in re.findall(r'\]\(([^)\s]+)\)', open(f).read()):
        if re.match(r'[a-z]+:', target) or target.startswith('#'):
            continue
        path = os.path.join(os.path.dirname(f), target.split('#')[0])
        if not os.path.exists(path):
            bad.append(f'{os.path.relpath(f, root)}: {target}')
print('\n'.join(bad), file=sys.stderr)
sys.exit(1 if bad else 0)
PY

echo "conventions-e2e: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
