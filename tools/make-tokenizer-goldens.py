#!/usr/bin/env python3
"""Expected token ids for diagecg's BPE tokenizers, from Hugging Face `tokenizers` (the reference).

Builds the test corpus (PTB-XL reports in English/German/Swedish, ECG-QA questions and answers, hand-made hard
cases), encodes it with HF tokenizers for every family in ../shared/data/tokenizers/ and
  (default)   compares the committed goldens in tests/data/tokenizers/ with a live run (are they current?);
  --write     rewrites the goldens (the only way they change);
  --diagecg   also runs `diagecg tokenize-text` over the corpus per family and compares id for id, and times
              both (tokens/s, one thread).
Needs: pip install tokenizers==0.23.3 jinja2==3.1.6 (scripts/python-requirements.txt).

Files written (gzip, one line per corpus entry):
  corpus.txt.gz          entries, escaped: \\\\ \\n \\t \\r and \\xHH for control bytes and ill-formed UTF-8
  FAMILY.ids.gz          encode(text, add_special_tokens=False).ids, space-separated
  FAMILY.decoded.gz      decode(ids, skip_special_tokens=False), escaped
  chat-templates.json    conversations rendered by each chat template with Jinja as transformers sets it up
                         (trim_blocks, lstrip_blocks; no strftime_now, so Llama 3.1+ uses its fallback date), and
                         the family tokenizer's ids for each rendering
HF receives ill-formed UTF-8 as Python does with errors="replace" (one U+FFFD per maximal subpart).
"""
import argparse
import csv
import glob
import gzip
import json
import os
import random
import subprocess
import sys
import tempfile
import time

import jinja2
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

FAMILIES = ["smollm2", "qwen2.5", "llama3", "llama2", "phi3"]
N_REPORTS = 5000


def escape(raw: bytes) -> str:
    out = []
    for ch in raw.decode("utf-8", "surrogateescape"):
        o = ord(ch)
        if 0xDC80 <= o <= 0xDCFF:
            out.append("\\x%02X" % (o - 0xDC00))
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif o < 0x20 or o == 0x7F:
            out.append("\\x%02X" % o)
        else:
            out.append(ch)
    return "".join(out)


def hard_cases():
    s = [
        "", " ", "  ", "   ", "\t", "\n", "\r\n", "\n\n\n", " \n ", "\t\n", "a\n\nb", "a  b", "a   b", "a\tb", "a \t b",
        "  leading", "trailing  ", "   both   ", " " * 64 + "x", "x" + " " * 33, "\n" * 20, "\t" * 9 + "t", "line1\r\nline2\r\n",
        "a\u00a0b", "\u00a0\u00a0", "\u3000全角", "thin\u2009space", "zero\u200bwidth", "nel\u0085next", "\u2028\u2029", "\x0b\x0c",
        "0", "1", "12", "123", "1234", "12345", "123456", "1234567", "12345678", "1234567890", "3.14159", "1,000,000",
        "0.1 mV", "ST 0.2mV", "QTc 450ms", "HR 72/min", "PR 0,16 s", "V1-V3", "aVR", "2:1 AV block", "1st degree", "10^6",
        "٣٤٥ ٦", "²³", "½ ¼", "Ⅻ ⅷ", "１２３", "𝟙𝟚", "007", "3 33 333 3333",
        "don't", "I'M", "you'RE", "it's", "we'll", "they'd", "I've", "'s", "'S", "o'clock", "l'ECG", "rock'n'roll",
        "They'd've", "''", "'", "' '", "'ll've'", "he's'", "ain't", "Y'all",
        "µV", "μV", "10 µV", "°", "45°", "37 °C", "é", "été", "e\u0301", "e\u0301te\u0301", "ü ö ä ß", "Ä Ö Ü", "ø å æ Å", "Å",
        "Ω", "Ω", "ﬁle", "ǅ", "Ǆ", "İstanbul", "ﬀ", "naïve café", "résumé", "Ångström", "½°µ±×÷", "≥0.2 mV", "≤ 120 ms",
        "ST-elevation in V1–V3 (≥0.2 mV)", "→ ← ↑", "Δt", "… — – “quoted” ‘single’ «guillemets»", "§ ¶ † ‡", "© ® ™",
        "❤️", "👍", "👍🏽", "👨‍👩‍👧", "🇩🇪🇸🇪", "🫀 🩺", "😀😁😂", "🦙.cpp", "emoji👍inside", "✅ ✔ ✗", "☺︎", "🏳️‍🌈",
        "心电图显示窦性心律", "心電図", "심전도 검사", "ＳＴ上昇", "日本語のテキスト", "中文，标点。", "漢字かなカナ",
        "Электрокардиограмма", "Ηλεκτροκαρδιογράφημα", "תרשים לב", "تخطيط القلب", "इलेक्ट्रोकार्डियोग्राम", "คลื่นไฟฟ้าหัวใจ",
        "Tiếng Việt có dấu", "ქართული", "Հայերեն", "ᚠᚢᚦ", "𐍈", "\U0001F600\U0001F600",
        b"\xff", b"abc\x80def", b"\xc3", b"\xc3(", b"\xe2\x82", b"\xe2\x82x", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf",
        b"caf\xe9", b"\xf0\x9f\x98", b"ok \xfe\xfe ok", b"\x80\x80\x80", b"\xef\xbb\xbfBOM",
        "<|im_start|>", "<|im_end|>", "<|endoftext|>", "hello<|endoftext|>world", " <|im_start|> ", "<|im_start|>user\nhi<|im_end|>\n",
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nWhat does an ECG measure?<|im_end|>\n<|im_start|>assistant\n",
        "<|begin_of_text|>", "<|eot_id|>", "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>", "<|reserved_special_token_5|>",
        "<s>", "</s>", " <s> ", "<unk>", "a<s>b", "x </s> y", "<s>[INST] <<SYS>>\nsys\n<</SYS>>\n\nhi [/INST]", "[INST]", "<<SYS>>",
        "<|user|>\nhi<|end|>\n<|assistant|>\n", "text <|end|>  more", "<|system|>  \n x", "<|im_start", "<|im_start|", "<<|im_end|>>",
        "<|im_end|><|im_end|>", "<|endoftext|><|im_start|>", "<repo_name>x<filename>y", "<ecg_0042>", "<|start_ecg|><|end_ecg|>",
        "a" * 300, "ab" * 200, " the" * 150, "9" * 301, "!" * 50, "." * 40, "=-" * 30, "x" + "\u0301" * 20,
        "https://physionet.org/content/ptb-xl/1.0.3/", "user@example.com", "C:\\Users\\ecg\\file.txt", "#include <vector>",
        "def f(x):\n    return x**2\n", "{\"json\": [1, 2, 3]}", "<html><body>&amp;</body></html>", "$HOME/~user", "50% of 1/3",
        "ALL CAPS REPORT", "MiXeD cAsE", "camelCaseWord", "snake_case_word", "kebab-case-word", "CO2", "H2O", "2nd", "V4R",
        "a\u180eb", "\u180e'd%Z", "  \u180e'll", "x\u200d\u2060y", "\x1c\x1d\x1e\x1f", "\ud7ff\U000e0001\U0010fffd",
    ]
    # Seeded random mixes of the characters and strings where regex engines and BPE implementations differ.
    rnd = random.Random(2025)
    pool = [" ", "  ", "\t", "\n", "\r", "\u00a0", "\u2009", "\u3000", "\u200b", "\u0085", "\u180e", "\x1c", "\x0b", "\u2028",
            "a", "Z", "é", "e\u0301", "ß", "İ", "ǅ", "Ω", "µ", "ª", "ʰ", "ー", "々", "0", "7", "٣", "½", "²", "Ⅻ", "𝟙", "'", "'s",
            "'S", "'ll", "'LL", "'Ve", "'d", "!", "?", ".", ",", "-", "_", "#", "%", "(", ")", "<", ">", "|", "/", "\\", "~",
            "😀", "👍🏽", "\u200d", "\ufe0f", "🇩🇪", "心", "한", "ア", "ก", "ั", "ि", "्", "ا", "א", "Ж", "α", "<|im_start|>",
            "<|im_end|>", "<|endoftext|>", "<s>", "</s>", "<|eot_id|>", "<|user|>", "<|end|>", "\u2581", "Ġ", "Ċ"]
    s += ["".join(rnd.choice(pool) for _ in range(rnd.randint(1, 16))) for _ in range(300)]
    return [x if isinstance(x, bytes) else x.encode("utf-8") for x in s]


def build_corpus(data):
    rows = list(csv.DictReader(open(os.path.join(data, "ptbxl-meta", "ptbxl_database.csv"), encoding="utf-8")))
    reports = sorted({r["report"] for r in rows if r["report"]})
    random.Random(14).shuffle(reports)
    questions, answers = set(), set()
    for f in sorted(glob.glob(os.path.join(data, "ecgqa", "ptbxl", "**", "*.json"), recursive=True)):
        for q in json.load(open(f, encoding="utf-8")):
            questions.add(q["question"])
            for a in q.get("answer") or []:
                answers.add(str(a))
    texts = [r.encode() for r in reports[:N_REPORTS]]
    texts += [q.encode() for q in sorted(questions)] + [a.encode() for a in sorted(answers)]
    texts += hard_cases()
    long_report = " ".join(reports[:60]).encode()  # one long line (~5 kB)
    texts.append(long_report)
    return texts


def load_family(data, family):
    root = os.path.join(data, "tokenizers")
    if family == "smollm2":
        d = os.path.join(root, "smollm2")
        tok = Tokenizer(models.BPE.from_file(os.path.join(d, "vocab.json"), os.path.join(d, "merges.txt")))
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
        tok.decoder = decoders.ByteLevel()
        cfg = json.load(open(os.path.join(d, "tokenizer_config.json"), encoding="utf-8"))
        added = sorted(cfg["added_tokens_decoder"].items(), key=lambda kv: int(kv[0]))
        tok.add_special_tokens([AddedToken(a["content"], single_word=a["single_word"], lstrip=a["lstrip"], rstrip=a["rstrip"],
                                           normalized=a["normalized"], special=a["special"]) for _, a in added])
        return tok
    if family == "llama3":
        return Tokenizer.from_str(gzip.open(os.path.join(root, "llama3", "tokenizer.json.gz"), "rt", encoding="utf-8").read())
    return Tokenizer.from_file(os.path.join(root, family, "tokenizer.json"))


def model_dir(data, family, scratch):
    """A directory diagecg can load for the family (llama3: gunzipped into `scratch`)."""
    root = os.path.join(data, "tokenizers")
    if family != "llama3":
        return os.path.join(root, family)
    d = os.path.join(scratch, "llama3")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        f.write(gzip.open(os.path.join(root, "llama3", "tokenizer.json.gz"), "rt", encoding="utf-8").read())
    with open(os.path.join(d, "tokenizer_config.json"), "wb") as f:
        f.write(open(os.path.join(root, "llama3", "tokenizer_config.json"), "rb").read())
    return d


def encode_all(tok, texts):
    strs = [t.decode("utf-8", "replace") for t in texts]
    t0 = time.perf_counter()
    ids = [tok.encode(s, add_special_tokens=False).ids for s in strs]
    seconds = time.perf_counter() - t0
    decoded = [tok.decode(i, skip_special_tokens=False) for i in ids]
    return ids, decoded, seconds


# Templates not in ../shared/data, transcribed from the model repositories' tokenizer_config.json.
CHATML_TEMPLATE = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
                   "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
LLAMA3_TEMPLATE = ("{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
                   "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
                   "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
                   "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")
LLAMA2_TEMPLATE = ("{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}"
                   "{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
                   "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate "
                   "user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = "
                   "'<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}"
                   "{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif "
                   "message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}")

CONVERSATIONS = [
    ([("user", "What does an ECG measure?")], True),
    ([("system", "You are a cardiologist."), ("user", "Describe this ECG."), ("assistant", "Sinus rhythm. Normal ECG.")], False),
    ([("user", "Is this ECG normal?"), ("assistant", "No."), ("user", "Why not?")], True),
    ([("user", "  padded question \n")], True),
    ([("system", ""), ("user", "hi")], True),
    ([("user", "Is 0.2 mV ST-elevation (≥ 45°) in V1–V3 significant? µV é 心电图 🫀")], True),
    ([("user", "x"), ("assistant", " y ")], False),
]


def chat_goldens(data, tokenizers):
    root = os.path.join(data, "tokenizers")
    sources = {
        "smollm2": ("smollm2", open(os.path.join(root, "smollm2", "chat_template.jinja"), encoding="utf-8").read()),
        "qwen2": ("qwen2.5", json.load(open(os.path.join(root, "qwen2.5", "tokenizer_config.json"), encoding="utf-8"))["chat_template"]),
        "llama3.1": ("llama3", json.load(open(os.path.join(root, "llama3", "tokenizer_config.json"), encoding="utf-8"))["chat_template"]),
        "llama3": ("llama3", LLAMA3_TEMPLATE),
        "llama2": ("llama2", LLAMA2_TEMPLATE),
        "chatml": ("qwen2.5", CHATML_TEMPLATE),
    }
    specials = {"llama3": ("<|begin_of_text|>", "<|eot_id|>"), "llama2": ("<s>", "</s>")}

    def raise_exception(msg):
        raise jinja2.exceptions.TemplateError(msg)

    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.globals["raise_exception"] = raise_exception
    out = {}
    for name, (family, source) in sources.items():
        bos, eos = specials.get(family, ("", ""))
        template = env.from_string(source)
        cases = []
        for messages, gen in CONVERSATIONS:
            msgs = [{"role": r, "content": c} for r, c in messages]
            text = template.render(messages=msgs, add_generation_prompt=gen, bos_token=bos, eos_token=eos)
            ids = tokenizers[family].encode(text, add_special_tokens=False).ids
            cases.append({"messages": msgs, "add_generation_prompt": gen, "text": text, "ids": ids})
        out[name] = {"family": family, "source": source, "cases": cases}
    return out


def write_gz(path, lines):
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        f.write(("\n".join(lines) + "\n").encode("utf-8"))


def read_gz(path):
    return gzip.open(path, "rt", encoding="utf-8").read().split("\n")[:-1]


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.environ.get("DIAGECG_DATA", os.path.join(repo, "..", "shared", "data")))
    ap.add_argument("--out", default=os.path.join(repo, "tests", "data", "tokenizers"))
    ap.add_argument("--write", action="store_true", help="rewrite the goldens")
    ap.add_argument("--diagecg", help="path of the diagecg binary: compare its tokenize-text with HF live")
    ap.add_argument("--families", default=",".join(FAMILIES))
    args = ap.parse_args()

    texts = build_corpus(args.data)
    corpus = [escape(t) for t in texts]
    print(f"corpus: {len(texts)} entries, {sum(len(t) for t in texts)} bytes", file=sys.stderr)
    os.makedirs(args.out, exist_ok=True)
    corpus_path = os.path.join(args.out, "corpus.txt.gz")
    if args.write:
        write_gz(corpus_path, corpus)
    elif read_gz(corpus_path) != corpus:
        print("corpus.txt.gz differs from the corpus built now (rerun with --write)", file=sys.stderr)
        return 1
    failed = False
    tokenizers = {f: load_family(args.data, f) for f in FAMILIES}
    chat = chat_goldens(args.data, tokenizers)
    chat_path = os.path.join(args.out, "chat-templates.json")
    if args.write:
        with open(chat_path, "w", encoding="utf-8") as f:
            json.dump(chat, f, ensure_ascii=False, indent=1)
            f.write("\n")
    elif json.load(open(chat_path, encoding="utf-8")) != chat:
        print("chat-templates.json differs from a live rendering (rerun with --write)", file=sys.stderr)
        failed = True
    print(f"chat templates: {len(chat)} x {len(CONVERSATIONS)} conversations", file=sys.stderr)
    with tempfile.TemporaryDirectory() as scratch:
        for family in args.families.split(","):
            tok = tokenizers[family]
            ids, decoded, hf_s = encode_all(tok, texts)
            n_tok = sum(len(i) for i in ids)
            id_lines = [" ".join(map(str, i)) for i in ids]
            dec_lines = [escape(d.encode("utf-8")) for d in decoded]
            ids_path, dec_path = os.path.join(args.out, family + ".ids.gz"), os.path.join(args.out, family + ".decoded.gz")
            if args.write:
                write_gz(ids_path, id_lines)
                write_gz(dec_path, dec_lines)
                same = len(id_lines)
            else:
                same = sum(a == b for a, b in zip(read_gz(ids_path), id_lines))
                failed |= same != len(id_lines) or read_gz(dec_path) != dec_lines
            line = f"{family}: goldens {same}/{len(id_lines)} current; HF {n_tok / hf_s:,.0f} tokens/s (encode, 1 thread)"
            if args.diagecg:
                with tempfile.NamedTemporaryFile("w", suffix=".txt", dir=scratch, delete=False, encoding="utf-8") as f:
                    f.write("\n".join(corpus) + "\n")
                cmd = [args.diagecg, "tokenize-text", "-m", model_dir(args.data, family, scratch), "-f", f.name, "--escaped", "--json"]
                t0 = time.perf_counter()
                out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
                wall = time.perf_counter() - t0
                got = [json.loads(l)["ids"] for l in out.split("\n") if l]  # not splitlines(): U+2028 is text
                ok = sum(a == b for a, b in zip(got, ids))
                failed |= ok != len(ids) or len(got) != len(ids)
                bench = subprocess.run(cmd + ["--bench"], check=True, capture_output=True, text=True).stderr.strip().splitlines()[-1]
                line += f"; diagecg {ok}/{len(ids)} identical ({wall:.2f} s with load+JSON); {bench}"
            print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
