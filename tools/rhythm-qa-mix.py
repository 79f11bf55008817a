#!/usr/bin/env python3
"""A rhythm-weighted ECG-QA training file for stage 3 (bundled v2's rhythm pass; stdlib only).

Keeps the records whose rhythm is not plain sinus rhythm (template 10 answers other than "sinus rhythm", or
extrasystoles in templates 35/36; at most --abnormal-share of --max-records, seeded sample) and fills up with
others (seeded sample); of each kept record its rhythm questions (templates 10/35/36 and every question about a
rhythm statement) plus up to --others other questions, so each record packs into one sequence of <= 16
questions. --val-in/--val-out: the same selection from the validation questions, rhythm templates 10/35/36 only
(early stopping on what the pass is for).

  tools/rhythm-qa-mix.py runs/data/ecgqa-v2/train.json -o runs/data/ecgqa-v2-rhythm/train.json \
      --val-in runs/data/ecgqa-v2/valid.json --val-out runs/data/ecgqa-v2-rhythm/valid.json

--template10 instead: only the template-10 question ("which rhythm") of each record, every record whose answer is
not "sinus rhythm" and as many (seeded) whose answer is; --val-in/--val-out then take every template-10 question
of the validation records (bundled v2's attempt 7).
"""
import argparse
import collections
import json
import os
import random
import sys

RHYTHM_TEMPLATES = {10, 35, 36}
RHYTHM_WORDS = ("rhythm", "fibrillation", "flutter", "tachycardia", "bradycardia", "arrhythmia", "bigeminal",
                "pacemaker", "extrasystole", "extra systole")


def is_rhythm(q):
    if q["template_id"] in RHYTHM_TEMPLATES or q["attribute_type"] == "extra_systole":
        return True
    return any(w in a for a in q.get("attribute", []) for w in RHYTHM_WORDS)


def abnormal(qs):
    for q in qs:
        if q["template_id"] == 10 and q["answer"] != ["sinus rhythm"]:
            return True
        if q["template_id"] in (35, 36) and q["answer"] == ["yes"]:
            return True
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("train", help="ECG-QA train.json (single-ECG questions are used)")
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--max-records", type=int, default=480, help="records kept in all")
    ap.add_argument("--others", type=int, default=4, help="non-rhythm questions kept per record")
    ap.add_argument("--per-record", type=int, default=16, help="questions per record at most")
    ap.add_argument("--abnormal-share", type=float, default=0.6, help="share of the records not in plain sinus rhythm, at most")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--template10", action="store_true", help="template-10 questions only, half not sinus rhythm")
    ap.add_argument("--val-in", help="ECG-QA valid.json")
    ap.add_argument("--val-out", help="where the rhythm validation questions go")
    a = ap.parse_args()
    if bool(a.val_in) != bool(a.val_out):
        sys.exit("rhythm-qa-mix: --val-in and --val-out go together")
    data = load(a.train)
    if a.template10:
        out, n_ab = template10(data, a.seed)
        write(a.out, out)
        print(f"{a.out}: {len(out)} template-10 questions ({n_ab} not 'sinus rhythm')")
        if a.val_in:
            val = template10_questions(load(a.val_in))
            write(a.val_out, val)
            print(f"{a.val_out}: {len(val)} template-10 questions")
        return
    out, n_keep, n_ab = select(data, a.max_records, a.abnormal_share, a.others, a.per_record, a.seed, RHYTHM_TEMPLATES | {-1})
    write(a.out, out)
    print(f"{a.out}: {len(out)} questions on {n_keep} records ({n_ab} with a rhythm other than sinus rhythm "
          f"or extrasystoles, {n_keep - n_ab} without)")
    if a.val_in:
        val, n_keep, n_ab = select(load(a.val_in), 10 ** 9, 0.5, 0, a.per_record, a.seed, RHYTHM_TEMPLATES, balance=True)
        write(a.val_out, val)
        print(f"{a.val_out}: {len(val)} questions on {n_keep} records ({n_ab} not in plain sinus rhythm)")


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"rhythm-qa-mix: {path}: {e}")


def write(path, rows):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(rows, f)
    os.replace(tmp, path)


def template10_questions(data):
    return [q for q in data if q["template_id"] == 10 and len(q["ecg_id"]) == 1]


def template10(data, seed):
    """(questions, of them not "sinus rhythm"): every single-ECG template-10 question whose answer is not
    ["sinus rhythm"], as many (seeded sample) whose answer is, shuffled."""
    t = template10_questions(data)
    ab = [q for q in t if q["answer"] != ["sinus rhythm"]]
    sr = [q for q in t if q["answer"] == ["sinus rhythm"]]
    rng = random.Random(seed)
    rng.shuffle(sr)
    out = ab + sr[: len(ab)]
    rng.shuffle(out)
    return out, len(ab)


def select(data, max_records, abnormal_share, others, per_record, seed, templates, balance=False):
    """(questions, records kept, of them abnormal). templates: the rhythm templates kept; -1 in it: also every
    question about a rhythm statement. balance: as many normal records as abnormal ones."""
    by_rec = collections.OrderedDict()
    for q in data:
        if len(q["ecg_id"]) == 1:
            by_rec.setdefault(q["ecg_id"][0], []).append(q)
    rng = random.Random(seed)
    ab = [r for r, qs in by_rec.items() if abnormal(qs)]
    normal = [r for r, qs in by_rec.items() if not abnormal(qs)]
    rng.shuffle(ab)
    rng.shuffle(normal)
    ab = ab[: int(max_records * abnormal_share)]
    keep = ab + normal[: (len(ab) if balance else max_records - len(ab))]
    out = []
    for r in keep:
        qs = by_rec[r]
        rh = [q for q in qs if q["template_id"] in templates or (-1 in templates and is_rhythm(q))]
        ot = [q for q in qs if not is_rhythm(q)]
        rng.shuffle(rh)
        rng.shuffle(ot)
        out += (rh[:per_record] + ot[:others])[:per_record]
    rng.shuffle(out)
    return out, len(keep), len(ab)


if __name__ == "__main__":
    main()
