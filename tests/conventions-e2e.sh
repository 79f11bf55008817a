#!/usr/bin/env bash
# End-to-end tests of the CLI conventions of issue 21: generate -c/--min-p, plot options and formats, the
# default model found from the install prefix, PEFT adapters. Runs the real binary and checks what it prints.
# usage: conventions-e2e.sh PATH/TO/diagecg TESTS_DATA_DIR
source "$(dirname "$0")/e2e-lib.sh"
STORIES=$DATA/models/stories260K
ROOT=$(cd "$DATA/../.." && pwd)

# readme_block NAME: the ```sh block after README's "<!-- run verbatim by tests/conventions-e2e.sh: NAME -->"
readme_block() {
  awk -v m="<!-- run verbatim by tests/conventions-e2e.sh: $1 -->" '
    $0 == m { found = 1; next }
    found && /^```sh/ { inblock = 1; next }
    inblock && /^```/ { exit }
    inblock { print }' "$ROOT/README.md"
}
# run_readme_block NAME DIR: runs it in DIR (which sees the repo's tests/), `diagecg` being the binary under test
run_readme_block() {
  mkdir -p "$2" && ln -sfn "$ROOT/tests" "$2/tests"
  readme_block "$1" >"$2/block.sh"
  test -s "$2/block.sh" || { echo "README has no block $1" >&2; return 1; }
  (cd "$2" && PATH="$(dirname "$BIN"):$PATH" bash -e -o pipefail block.sh)
}

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

# plot: clipping is named on stderr, with the gain that fits
ECG=$(cd "$DATA/ecg" && pwd)
"$BIN" plot "$ECG/E07500.hea" -o "$TMP/e.svg" 2>"$TMP/e.err"
check "plot clipped exit 0" test $? -eq 0
check "plot warns on clipping, naming lead and gain" grep -q "W\] plot: lead(s) V4 exceed their row at 10 mm/mV and are clipped (drawn samples span -1.25 to 2.16 mV; a row holds -1.40 to +2.10 mV); --gain 9.7 fits them" "$TMP/e.err"
"$BIN" plot "$ECG/E07500.hea" --gain 9.7 -o "$TMP/e97.svg" 2>"$TMP/e97.err"
check "plot at the suggested gain does not clip" bash -c "! grep -q 'clipped' '$TMP/e97.err'"
check "plot --gain 9.7 is in the header" grep -q "9.7 mm/mV" "$TMP/e97.svg"
"$BIN" plot "$ECG/HR06000.hea" -o "$TMP/hr.svg" 2>"$TMP/hr.err"
check "plot of a record that fits does not warn" bash -c "! grep -q 'clipped' '$TMP/hr.err'"
# --gain: the calibration pulse is 1 mV tall, so gain mm
"$BIN" plot "$ECG/HR06000.hea" --gain 5 -o "$TMP/g5.svg" 2>/dev/null
check "plot --gain 5: 5 mm calibration pulse" python3 -c "
import re, sys
d = re.search(r'class=\"cal\" d=\"M[\d.]+ ([\d.]+)H[\d.]+V([\d.]+)', open('$TMP/g5.svg').read())
sys.exit(0 if d and abs(float(d.group(1)) - float(d.group(2)) - 5.0) < 1e-6 else 1)"
# --window: seconds 20-30 of the 38.4 s PTB record; outside the record or the page is an error
"$BIN" plot "$ECG/s0010_re.hea" --window 20:10 -o "$TMP/w.svg" 2>"$TMP/w.err"
check "plot --window exit 0" test $? -eq 0
check "plot --window drawn window in the header" grep -q "20.0-30.0 s of 38.4 s" "$TMP/w.svg"
check "plot --window says which window" grep -q "record is 38.4 s; plotting 20-30 s" "$TMP/w.err"
"$BIN" plot "$ECG/s0010_re.hea" -o "$TMP/w0.svg" 2>"$TMP/w0.err"
check "plot of a long record says it drew the first 10 s" grep -q "record is 38.4 s; plotting 0-10 s (--window START:DURATION picks another)" "$TMP/w0.err"
check "plot --window draws other samples" bash -c "! cmp -s <(grep -o 'data-rhythm=.*' '$TMP/w.svg') <(grep -o 'data-rhythm=.*' '$TMP/w0.svg')"
"$BIN" plot "$ECG/s0010_re.hea" --window 40:5 -o "$TMP/w40.svg" 2>"$TMP/w40.err"
check "plot --window past the end exits 1" test $? -eq 1
check "plot --window past the end message" grep -q "^diagecg: error: --window 40:5: starts at 40 s but .*s0010_re.hea is 38.40 s long" "$TMP/w40.err"
for w in 0:12 abc 5 -1:5; do
  "$BIN" plot "$ECG/s0010_re.hea" --window="$w" -o "$TMP/wbad.svg" 2>"$TMP/wbad.err"
  check "plot --window $w is a usage error (exit 2)" test $? -eq 2
  check "plot --window $w message" grep -q "^diagecg: error: --window" "$TMP/wbad.err"
done
check "plot refused windows wrote nothing" test ! -e "$TMP/wbad.svg" -a ! -e "$TMP/w40.svg"
# output formats: -o - is SVG on stdout (no file named -), .png through rsvg-convert, anything else refused
mkdir -p "$TMP/cwd" && (cd "$TMP/cwd" && "$BIN" plot "$ECG/HR06000.hea" -o - >"$TMP/stdout.svg" 2>/dev/null)
check "plot -o - writes SVG to stdout" bash -c "head -2 '$TMP/stdout.svg' | grep -q '<svg' && tail -1 '$TMP/stdout.svg' | grep -q '</svg>'"
check "plot -o - equals the SVG file" cmp -s "$TMP/stdout.svg" "$TMP/hr.svg"
check "plot -o - leaves no file named -" test ! -e "$TMP/cwd/-"
"$BIN" plot "$ECG/HR06000.hea" -o "$TMP/x.pdf" 2>"$TMP/pdf.err"
check "plot -o .pdf is a usage error (exit 2)" test $? -eq 2
check "plot -o .pdf message" grep -q '^diagecg: error: --output: ".*x.pdf" has no .svg or .png extension' "$TMP/pdf.err"
check "plot -o .pdf wrote nothing" test ! -e "$TMP/x.pdf"
env PATH=/nonexistent "$BIN" plot "$ECG/HR06000.hea" -o "$TMP/nopath.png" 2>"$TMP/nopath.err"
check "plot .png without rsvg-convert exits 1" test $? -eq 1
check "plot .png without rsvg-convert names the tool and package" grep -q "^diagecg: error: plot: writing .*nopath.png needs rsvg-convert, which is not on PATH (Debian package librsvg2-bin" "$TMP/nopath.err"
check "plot .png without rsvg-convert wrote nothing" bash -c "! ls '$TMP'/nopath.png* 2>/dev/null"
if command -v rsvg-convert >/dev/null; then
  "$BIN" plot "$ECG/HR06000.hea" -o "$TMP/hr.png" 2>/dev/null
  check "plot .png exit 0" test $? -eq 0
  # PNG signature, and 276 mm x 165 mm at 200 dpi = 2174 x 1300 px
  check "plot .png is a 200 dpi PNG of the page" python3 -c "
import struct, sys
d = open('$TMP/hr.png', 'rb').read(24)
sys.exit(0 if d[:8] == b'\x89PNG\r\n\x1a\n' and struct.unpack('>II', d[16:24]) == (2174, 1300) else 1)"
  check "plot .png leaves no temp files" bash -c "! ls '$TMP'/hr.png.tmp* 2>/dev/null"
  # README's plot examples, verbatim
  run_readme_block plot "$TMP/readme-plot" 2>"$TMP/readme-plot.err"
  check "README plot block runs" test $? -eq 0
  check "README plot block: PNG written" python3 -c "import sys; sys.exit(0 if open('$TMP/readme-plot/s0010-20s.png', 'rb').read(8) == b'\x89PNG\r\n\x1a\n' else 1)"
  check "README plot block: SVG on stdout, gain 5" grep -q "5 mm/mV" "$TMP/readme-plot/E07500.svg"
  check "README plot block: gain 5 does not clip" bash -c "! grep -q clipped '$TMP/readme-plot.err'"
else
  echo "conventions-e2e: rsvg-convert not installed (scripts/setup.sh installs librsvg2-bin); PNG checks skipped" >&2
fi

# PEFT adapters: finetune writes adapter_config.json + adapter_model.safetensors beside adapter.json; --lora takes
# either (a directory, or our PATH), and a directory with only PEFT's files gives the same text as ours
(cd "$ROOT" && "$BIN" -t 1 pretrain --config configs/pretrain-tiny.json -o "$TMP/pre" --max-steps 4 >/dev/null 2>"$TMP/pre.err" &&
  "$BIN" -t 1 finetune --config configs/finetune-report-tiny.json -m "$TMP/pre/model" -o "$TMP/ft" >/dev/null 2>"$TMP/ft.err")
check "tiny pretrain + finetune exit 0" test $? -eq 0
FT=$TMP/ft/model
check "finetune writes ours and PEFT's files" test -s "$FT/adapter.json" -a -s "$FT/adapter.safetensors" -a -s "$FT/adapter_config.json" -a -s "$FT/adapter_model.safetensors"
check "adapter_config.json is PEFT's LoRA config" python3 -c "
import json, sys
c = json.load(open('$FT/adapter_config.json')); o = json.load(open('$FT/adapter.json'))
ok = (c['peft_type'] == 'LORA' and c['task_type'] == 'CAUSAL_LM' and c['r'] == o['r'] and c['lora_alpha'] == o['lora_alpha']
      and c['target_modules'] == o['target_modules'] and c['bias'] == 'none' and c['base_model_name_or_path'] == o['base_model']
      and c['modules_to_save'] == [t[:-len('.weight')] for t in o['extra_tensors']])
sys.exit(0 if ok else 1)"
check "adapter_model.safetensors has PEFT's tensor names" python3 -c "
import json, struct, sys
f = open('$FT/adapter_model.safetensors', 'rb'); n = struct.unpack('<Q', f.read(8))[0]
names = [k for k in json.loads(f.read(n)) if k != '__metadata__']
ok = 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight' in names and 'base_model.model.model.norm.weight' in names
sys.exit(0 if ok and all(k.startswith('base_model.model.model.') for k in names) else 1)"
mkdir -p "$TMP/peft-only" && cp "$FT/adapter_config.json" "$FT/adapter_model.safetensors" "$TMP/peft-only/"
# first-step logits (raw f32): PEFT's files give ours exactly, and differ from the base model's
gen_logits() {  # gen_logits OUT.f32 [generate args...]
  local out=$1; shift
  "$BIN" generate -m "$TMP/pre/model" "$@" -p "Once upon a time" -n 1 --temp 0 --logits-out "$out" >/dev/null
}
gen_logits "$TMP/l-ours.f32" --lora "$FT/adapter" 2>/dev/null
gen_logits "$TMP/l-peft.f32" --lora "$TMP/peft-only" 2>"$TMP/g-peft.err"
check "generate --lora PEFT_DIR exit 0" test $? -eq 0
check "generate --lora PEFT_DIR logs the adapter" grep -q "applied LoRA adapter .*peft-only" "$TMP/g-peft.err"
check "PEFT adapter gives the same logits as ours" cmp -s "$TMP/l-ours.f32" "$TMP/l-peft.f32"
gen_logits "$TMP/l-base.f32" 2>/dev/null
check "the adapter changes the logits (the comparison has teeth)" bash -c "test -s '$TMP/l-base.f32' && ! cmp -s '$TMP/l-base.f32' '$TMP/l-ours.f32'"
gen_logits "$TMP/l-dir.f32" --lora "$FT" 2>/dev/null
check "generate --lora RUN/model (a directory) reads ours" cmp -s "$TMP/l-ours.f32" "$TMP/l-dir.f32"
"$BIN" lora merge --lora "$TMP/peft-only" -o "$TMP/merged" >/dev/null 2>"$TMP/merge.err"
check "lora merge of a PEFT dir finds the base it records" test $? -eq 0 -a -s "$TMP/merged/model.safetensors"
"$BIN" generate -m "$TMP/merged" -p "Once upon a time" -n 1 --temp 0 --logits-out "$TMP/l-merged.f32" >/dev/null 2>&1
check "merged PEFT adapter gives the same logits (within 1e-4)" python3 -c "
import struct, sys
a, b = (open(f, 'rb').read() for f in ('$TMP/l-ours.f32', '$TMP/l-merged.f32'))
x, y = struct.unpack(f'<{len(a)//4}f', a), struct.unpack(f'<{len(b)//4}f', b)
sys.exit(0 if len(a) == len(b) > 0 and max(abs(p - q) for p, q in zip(x, y)) < 1e-4 else 1)"
python3 -c "
import json; c = json.load(open('$TMP/peft-only/adapter_config.json')); c['use_dora'] = True
json.dump(c, open('$TMP/peft-only/adapter_config.json', 'w'))"
"$BIN" generate -m "$TMP/pre/model" --lora "$TMP/peft-only" -p x -n 1 >/dev/null 2>"$TMP/dora.err"
check "a DoRA adapter is refused by name (exit 1)" bash -c "test $? -eq 1 && grep -q '^diagecg: error: .*adapter_config.json: use_dora is true: DoRA adapters are not supported' '$TMP/dora.err'"

# default model: found from the binary's install prefix (cmake --install), $DIAGECG_MODEL overrides it, -m both
BUILD=$(dirname "$BIN")
P=$TMP/prefix
cmake --install "$BUILD" --prefix "$P" >"$TMP/install.log" 2>&1
check "cmake --install exit 0" test $? -eq 0
check "install: binary, shim, bundled models, docs" test -x "$P/bin/diagecg" -a -f "$P/lib/diagecg/libdiagecg_spm.so" \
  -a -f "$P/share/diagecg/models/diagecg-v2/base/base-model.json" -a -f "$P/share/diagecg/models/diagecg-v2/report/adapter.json" \
  -a -f "$P/share/diagecg/models/diagecg-v2/qa/adapter.json" -a -f "$P/share/diagecg/models/diagecg/report/adapter.json" \
  -a -f "$P/share/diagecg/models/ecg-tokenizer/model.safetensors" \
  -a -f "$P/share/doc/diagecg/README.md" -a -f "$P/share/doc/diagecg/architecture.md"
mkdir -p "$TMP/elsewhere"
(cd "$TMP/elsewhere" && env -u DIAGECG_MODEL "$P/bin/diagecg" report "$ECG/00318.hea" --json >"$TMP/inst.json" 2>"$TMP/inst.err")
check "installed report from another cwd, no -m: exit 0" test $? -eq 0
check "installed report used the prefix's model" python3 -c "
import json, sys
j = json.load(open('$TMP/inst.json'))
sys.exit(0 if j['model'] == '$P/share/diagecg/models/diagecg-v2/base + $P/share/diagecg/models/diagecg-v2/report/adapter' and j['stop_reason'] == 'eos' and j['report'] else 1)"
check "installed --help shows the prefix's model as the default" bash -c "'$P/bin/diagecg' report --help | grep -q -- '-m,--model TEXT=$P/share/diagecg/models/diagecg-v2'"
(cd "$TMP/elsewhere" && "$P/bin/diagecg" tokenize "$ECG/00318.hea" --json >"$TMP/inst-tok.json" 2>/dev/null)
check "installed tokenize, no -m: the prefix's ECG tokenizer" test "$(python3 -c "import json; print(json.load(open('$TMP/inst-tok.json'))['n_tokens'])")" = "313"
ln -s "$ROOT/models/diagecg-v2" "$TMP/env-model"
(cd "$TMP/elsewhere" && DIAGECG_MODEL="$TMP/env-model" "$P/bin/diagecg" report "$ECG/00318.hea" --json >"$TMP/env.json" 2>/dev/null)
check "DIAGECG_MODEL overrides the default" test "$(python3 -c "import json; print(json.load(open('$TMP/env.json'))['model'])")" = "$TMP/env-model/base + $TMP/env-model/report/adapter"
check "DIAGECG_MODEL: the same report" test "$(python3 -c "import json; print(json.load(open('$TMP/env.json'))['report'] == json.load(open('$TMP/inst.json'))['report'])")" = "True"
(cd "$TMP/elsewhere" && DIAGECG_MODEL="$TMP/nowhere" "$P/bin/diagecg" report "$ECG/00318.hea" >/dev/null 2>"$TMP/env-bad.err")
check "DIAGECG_MODEL pointing nowhere exits 1" test $? -eq 1
check "DIAGECG_MODEL pointing nowhere is named" grep -q "^diagecg: error: .*$TMP/nowhere does not exist" "$TMP/env-bad.err"
(cd "$TMP/elsewhere" && DIAGECG_MODEL="$TMP/nowhere" "$P/bin/diagecg" report -m "$TMP/env-model" "$ECG/00318.hea" >/dev/null 2>&1)
check "-m overrides DIAGECG_MODEL" test $? -eq 0
# README's install example, verbatim, with HOME in the temp dir
mkdir -p "$TMP/readme-install/home" && ln -s "$BUILD" "$TMP/readme-install/build" && ln -s "$ROOT/models/diagecg" "$TMP/readme-install/home/my-model"
# (the v2 base GGUF stays where scripts/setup-python.sh put it: DIAGECG_CACHE names the real cache)
DIAGECG_CACHE=${DIAGECG_CACHE:-$HOME/.cache/diagecg} HOME=$TMP/readme-install/home run_readme_block install "$TMP/readme-install" >"$TMP/readme-install.out" 2>"$TMP/readme-install.err"
check "README install block runs" test $? -eq 0
check "README install block: two reports" test "$(grep -c 'sinus rhythm' "$TMP/readme-install.out")" -eq 2
check "README install block: the prefix's model, then DIAGECG_MODEL's" bash -c "grep 'applied LoRA adapter' '$TMP/readme-install.err' | sed 's/.*applied LoRA adapter \([^ ]*\) .*/\1/' | tr '\n' ' ' | grep -qx '$TMP/readme-install/home/.local/share/diagecg/models/diagecg-v2/report/adapter $TMP/readme-install/home/my-model/report/adapter '"

# README and the docs cite only files in the repository: no REFERENCE file (it is not shipped; the paper is
# cited as arXiv 2508.15338), and every relative markdown link resolves
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
