#!/usr/bin/python3
"""Reference scores from NLTK for tests/test-text-metrics.cpp (and for checking by hand).

usage: nltk-metrics.py INPUT.json [--wordnet DIR]

INPUT.json: {"pairs": [{"hyp": TEXT, "refs": [TEXT, ...]}, ...], "words": [WORD, ...]}
(a bare list of pairs is accepted too). Prints one JSON object to stdout:
  {"pairs": [{"hyp_tokens": [...], "ref_tokens": [[...], ...], "bleu": [b1, b2, b3, b4],
              "meteor": m, "rouge1": r1, "rouge2": r2, "rougeL": rl}, ...],
   "stems": {word: PorterStemmer().stem(word)},
   "lemma_names": {word: [name for s in wordnet.synsets(word) for name in s.lemma_names()]}}

Texts are tokenised as diagecg::tokenize_report does (maximal runs of ASCII letters and digits,
lower-cased). BLEU-n is nltk sentence_bleu with weights (1/n,)*n and SmoothingFunction().method1;
METEOR is nltk meteor_score with its defaults. NLTK has no ROUGE: rouge1/rouge2/rougeL are computed
below as google-research rouge_score defines them (F1, clipped n-gram overlap, LCS), an independent
second implementation rather than a reference.

WordNet: NLTK reads Debian's wordnet-base files (DIR, default $DIAGECG_WORDNET or /usr/share/wordnet)
through WordNetCorpusReader(root, omw_reader=None), so neither nltk_data nor omw-1.4 is needed.
The reader insists on a 'lexnames' file that wordnet-base does not ship, so the script builds a
temporary root of symlinks to DIR plus lexnames (the 45 lexicographer files of WordNet 3.0, as
listed in lexnames(5WN)); lemma names do not depend on it.
Needs Debian's python3-nltk (3.8) and wordnet-base; run it with /usr/bin/python3.
"""

import argparse
import json
import os
import re
import sys
import tempfile
import warnings
from collections import Counter

try:
    from nltk.corpus.reader.wordnet import WordNetCorpusReader
    from nltk.stem.porter import PorterStemmer
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
    from nltk.translate.meteor_score import meteor_score
except ImportError as e:
    sys.exit(f"nltk-metrics.py: cannot import nltk ({e}); install Debian's python3-nltk and run /usr/bin/python3")

LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute noun.body "
    "noun.cognition noun.communication noun.event noun.feeling noun.food noun.group noun.location "
    "noun.motive noun.object noun.person noun.phenomenon noun.plant noun.possession noun.process "
    "noun.quantity noun.relation noun.shape noun.state noun.substance noun.time verb.body verb.change "
    "verb.cognition verb.communication verb.competition verb.consumption verb.contact verb.creation "
    "verb.emotion verb.motion verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl"
).split()
SYNTACTIC_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}


def tokenize(text):
    return [t.lower() for t in re.findall(r"[A-Za-z0-9]+", text)]


def open_wordnet(wordnet_dir, tmp):
    if not os.path.isfile(os.path.join(wordnet_dir, "index.noun")):
        sys.exit(f"nltk-metrics.py: no WordNet database in {wordnet_dir} (install Debian's wordnet-base)")
    for name in os.listdir(wordnet_dir):
        os.symlink(os.path.join(os.path.abspath(wordnet_dir), name), os.path.join(tmp, name))
    if not os.path.exists(os.path.join(tmp, "lexnames")):
        with open(os.path.join(tmp, "lexnames"), "w") as fp:
            for i, name in enumerate(LEXNAMES):
                fp.write(f"{i:02d}\t{name}\t{SYNTACTIC_CATEGORY[name.split('.')[0]]}\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "multilingual functions are not available": omw is not wanted
        return WordNetCorpusReader(tmp, None)


def rouge_n(refs, hyp, n):
    def ngrams(tokens):
        return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))

    best = 0.0
    hyp_counts = ngrams(hyp)
    for ref in refs:
        ref_counts = ngrams(ref)
        overlap = sum(min(c, ref_counts[g]) for g, c in hyp_counts.items())
        if overlap:
            p = overlap / sum(hyp_counts.values())
            r = overlap / sum(ref_counts.values())
            best = max(best, 2 * p * r / (p + r))
    return best


def rouge_l(refs, hyp):
    best = 0.0
    for ref in refs:
        if not hyp or not ref:
            continue
        table = [[0] * (len(ref) + 1) for _ in range(len(hyp) + 1)]
        for i, h in enumerate(hyp):
            for j, r in enumerate(ref):
                table[i + 1][j + 1] = table[i][j] + 1 if h == r else max(table[i][j + 1], table[i + 1][j])
        lcs = table[len(hyp)][len(ref)]
        if lcs:
            p, r = lcs / len(hyp), lcs / len(ref)
            best = max(best, 2 * p * r / (p + r))
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input")
    ap.add_argument("--wordnet", default=os.environ.get("DIAGECG_WORDNET") or "/usr/share/wordnet")
    args = ap.parse_args()
    with open(args.input, encoding="utf-8") as fp:
        doc = json.load(fp)
    if isinstance(doc, list):
        doc = {"pairs": doc}

    smoothing = SmoothingFunction().method1
    stemmer = PorterStemmer()
    with tempfile.TemporaryDirectory(prefix="diagecg-wordnet-") as tmp:
        wn = open_wordnet(args.wordnet, tmp)
        pairs = []
        for item in doc.get("pairs", []):
            hyp = tokenize(item["hyp"])
            refs = [tokenize(r) for r in item["refs"]]
            bleu = [sentence_bleu(refs, hyp, weights=(1.0 / n,) * n, smoothing_function=smoothing) for n in (1, 2, 3, 4)]
            pairs.append(
                {
                    "hyp_tokens": hyp,
                    "ref_tokens": refs,
                    "bleu": [float(b) for b in bleu],
                    "meteor": float(meteor_score(refs, hyp, wordnet=wn)),
                    "rouge1": rouge_n(refs, hyp, 1),
                    "rouge2": rouge_n(refs, hyp, 2),
                    "rougeL": rouge_l(refs, hyp),
                }
            )
        words = doc.get("words", [])
        out = {
            "pairs": pairs,
            "stems": {w: stemmer.stem(w) for w in words},
            "lemma_names": {w: [n for s in wn.synsets(w) for n in s.lemma_names()] for w in words},
        }
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
