#!/usr/bin/env python3
"""Regenerates the ECG-QA / PTB-XL metadata sample in this folder from the shared data (standard library only).

usage: make-sample.py SHARED_DATA_DIR   (e.g. ../shared/data from the repository root)

Rows are limited to ECGs whose signals the project has (ptbxl-processed/records.csv, and HR06000 of
tests/data/ecg): ECGs that published ECG-QA samples ask about, plus the first ECG showing each metadata
feature the generator reads (axis values, infarction stages, uncertain likelihoods, noise, extra beats).
"""
import csv
import json
import os
import shutil
import sys

here = os.path.dirname(os.path.abspath(__file__))
shared = sys.argv[1]
meta = os.path.join(shared, "ptbxl-meta")
qa = os.path.join(shared, "ecgqa")

with open(os.path.join(meta, "ptbxl_database_form.csv"), newline="") as f:
    reader = csv.reader(f)
    header = next(reader)
    rows = {int(r[header.index("ecg_id")]): r for r in reader}
col = {name: i for i, name in enumerate(header)}
with open(os.path.join(shared, "ptbxl-processed", "records.csv")) as f:
    have = {int(r["ecg_id"]) for r in csv.DictReader(f)} | {6000}
ids = sorted(set(rows) & have)

chosen = {6000}
noise_chunk = json.load(open(os.path.join(qa, "ptbxl", "template", "train", "120000.json")))
counts = {}
for s in noise_chunk:
    e = s["ecg_id"][0]
    if e in rows and e in have:
        counts[e] = counts.get(e, 0) + 1
chosen |= set(sorted(counts, key=lambda e: (-counts[e], e))[:12])
heartllm = []
for split in ["train", "valid", "test"]:
    path = os.path.join(shared, "heartllm-samples", "ecgqa-ptbxl", f"template_{split}_background.json")
    for s in json.load(open(path)):
        if s["ecg_id"][0] in ids:
            heartllm.append(s)
            chosen.add(s["ecg_id"][0])


def first(pred):
    for e in ids:
        if pred(rows[e]):
            chosen.add(e)
            return


for axis in ["MID", "ALAD", "RAD", "ARAD", "AXL", "AXR", "SAG"]:
    first(lambda r, a=axis: r[col["heart_axis"]] == a)
first(lambda r: r[col["heart_axis"]] == "LAD" and "linkstyp" in r[col["report"]])
first(lambda r: r[col["heart_axis"]] == "LAD" and "left axis deviation" in r[col["report"]])
for st in ["Stadium I", "Stadium I-II", "Stadium II", "Stadium II-III", "Stadium III", "unknown"]:
    first(lambda r, s=st: r[col["infarction_stadium1"]] == s)
first(lambda r: r[col["infarction_stadium2"]] != "")
for lik in ["15.0", "35.0", "50.0", "80.0"]:
    first(lambda r, l=lik: (": " + l) in r[col["scp_codes"]])
for c in ["baseline_drift", "static_noise", "burst_noise", "electrodes_problems", "pacemaker"]:
    first(lambda r, c=c: r[col[c]] != "")
for eb in ["1ES", "2ES", "VES", "SVES", "VES1,alles", "1,alles"]:
    first(lambda r, x=eb: r[col["extra_beats"]] == x)
for code in ["'NORM'", "'AFIB'", "'STACH'", "'PACE'", "'LVOLT'", "'BIGU'"]:
    first(lambda r, c=code: c in r[col["scp_codes"]])
first(lambda r: r[col["height"]] != "" and r[col["weight"]] != "")
first(lambda r: r[col["weight"]] == "")

with open(os.path.join(here, "ptbxl_database_form.csv"), "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(header)
    for e in sorted(chosen):
        w.writerow(rows[e])
for name in ["scp_statements.csv"]:
    shutil.copyfile(os.path.join(meta, name), os.path.join(here, name))
shutil.copyfile(os.path.join(qa, "template_catalogue.csv"), os.path.join(here, "template_catalogue.csv"))
for name in ["answers_for_each_template.csv", "answers.csv"]:
    shutil.copyfile(os.path.join(qa, "ptbxl", name), os.path.join(here, name))
for split in ["train", "valid", "test"]:
    with open(os.path.join(qa, "ptbxl", f"{split}_ecgs.tsv")) as f, \
            open(os.path.join(here, f"{split}_ecgs.tsv"), "w") as out:
        for line in f:
            if line.strip() and int(line.split("\t")[1]) in chosen:
                out.write(line)

keys = ["template_id", "question_id", "sample_id", "question_type", "attribute_type", "question", "answer",
        "ecg_id", "attribute"]
sample = [s for s in noise_chunk if s["ecg_id"][0] in chosen]
comparison = json.load(open(os.path.join(qa, "ptbxl", "template", "test", "80000.json")))[:2]
out = [{k: s[k] for k in keys} for s in sample + comparison + heartllm]
out[-1]["ecg_path"] = heartllm[-1]["ecg_path"]  # one extra key, which readers ignore
with open(os.path.join(here, "ecgqa-sample.json"), "w") as f:
    json.dump(out, f, indent=4)
    f.write("\n")
print(f"{len(chosen)} PTB-XL rows, {len(out)} ECG-QA samples")
