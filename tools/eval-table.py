#!/usr/bin/env python3
"""Side-by-side Markdown tables of diagecg eval summaries, as in models/diagecg-v2/README.md.

  tools/eval-table.py DIR [--models v1 v2]

DIR holds NAME-TASK.summary.json files as scripts/train-bundled-v2.sh writes them (models/diagecg-v2/eval):
qa-ptbxl-test, qa-ptbxl-test-shuffled-ecgs, report-ptbxl-test, report-ptbxl-test-shuffled-ecgs,
report-cinc2021-{nofilter,bandpass}, qa-cinc2021-{nofilter,bandpass}. A missing file is a one-line error.
Prints, per table, each model's figure and the majority/consensus baseline of the last model's summary (the
baselines come from the training data named by --baseline-data, the same for both models in that script).
"""
import argparse
import json
import os
import sys


def load(d, name):
    p = os.path.join(d, name + ".summary.json")
    if not os.path.exists(p):
        sys.exit(f"eval-table: {p} is missing (run scripts/train-bundled-v2.sh with STAGES=eval)")
    with open(p) as f:
        return json.load(f)


def f3(x):
    return "-" if x is None else f"{x:.3f}"


def row(cells):
    return "| " + " | ".join(str(c) for c in cells) + " |"


def table(head, rows):
    out = [row(head), row(["---"] * len(head))]
    out += [row(r) for r in rows]
    return "\n".join(out)


def qa_tables(d, models):
    s = {m: load(d, f"{m}-qa-ptbxl-test") for m in models}
    sh = {m: load(d, f"{m}-qa-ptbxl-test-shuffled-ecgs") for m in models}
    last = models[-1]
    head = ["question type", "n"] + models + [f"{m}, shuffled ECGs" for m in models] + ["majority baseline"]
    rows = []
    for t in sorted(s[last]["by_question_type"]):
        q = s[last]["by_question_type"][t]
        rows.append([t, q["n"]] + [f3(s[m]["by_question_type"][t]["accuracy"]) for m in models]
                    + [f3(sh[m]["by_question_type"][t]["accuracy"]) for m in models] + [f3(q["baseline_accuracy"])])
    o = s[last]["overall"]
    rows.append(["**all**", o["n"]] + [f3(s[m]["overall"]["accuracy"]) for m in models]
                + [f3(sh[m]["overall"]["accuracy"]) for m in models] + [f3(o["baseline_accuracy"])])
    print(table(head, rows))
    print()
    head = ["attribute", "n"] + models + [f"{last}, shuffled ECGs", "majority baseline"]
    rows = []
    for a in sorted(s[last]["by_attribute_type"]):
        q = s[last]["by_attribute_type"][a]
        rows.append([a, q["n"]] + [f3(s[m]["by_attribute_type"][a]["accuracy"]) for m in models]
                    + [f3(sh[last]["by_attribute_type"][a]["accuracy"]), f3(q["baseline_accuracy"])])
    print(table(head, rows))
    print()
    head = ["template", "n"] + models + ["majority baseline", f"{last} - baseline"]
    rows = []
    for t in sorted(s[last]["by_template"], key=int):
        q = s[last]["by_template"][t]
        acc = q["accuracy"]
        base = q["baseline_accuracy"]
        rows.append([t, q["n"]] + [f3(s[m]["by_template"][t]["accuracy"]) for m in models]
                    + [f3(base), f"{acc - base:+.3f}"])
    print(table(head, rows))
    print()


METRICS = ["bleu1", "bleu2", "bleu3", "bleu4", "meteor", "rouge1", "rouge2", "rougeL"]


def report_tables(d, models):
    s = {m: load(d, f"{m}-report-ptbxl-test") for m in models}
    sh = {m: load(d, f"{m}-report-ptbxl-test-shuffled-ecgs") for m in models}
    last = models[-1]
    head = ["metric"] + models + [f"{m}, shuffled ECGs" for m in models] + ["consensus baseline"]
    rows = [[k] + [f3(s[m]["metrics"][k]) for m in models] + [f3(sh[m]["metrics"][k]) for m in models]
            + [f3(s[last]["baseline_metrics"][k])] for k in METRICS]
    rows.append(["label macro-F1"] + [f3(s[m]["clinical_labels"]["model"]["macro_f1"]) for m in models]
                + [f3(sh[m]["clinical_labels"]["model"]["macro_f1"]) for m in models]
                + [f3(s[last]["clinical_labels"]["baseline_report"]["macro_f1"])])
    print(f"baseline report: \"{s[last]['baseline_report']}\"")
    print()
    print(table(head, rows))
    print()
    labels(s, models, "reference_reports")


def labels(s, models, ref):
    last = models[-1]
    classes = s[last]["clinical_labels"]["model"]["classes"]
    head = ["class (positives)"] + [f"{m} sens / spec" for m in models]
    if ref:
        head.append("cardiologists' reports")
    head.append("baseline report")
    rows = []
    for c in sorted(classes):
        n = classes[c]["positives"]
        r = [f"{c} ({n})"]
        for m in models:
            k = s[m]["clinical_labels"]["model"]["classes"][c]
            r.append(f"{f3(k['sensitivity'])} / {f3(k['specificity'])}")
        for src in ([ref] if ref else []) + ["baseline_report"]:
            k = s[last]["clinical_labels"][src]["classes"][c]
            r.append(f"{f3(k['sensitivity'])} / {f3(k['specificity'])}")
        rows.append(r)
    rows.append(["**macro-F1**"] + [f3(s[m]["clinical_labels"]["model"]["macro_f1"]) for m in models]
                + ([f3(s[last]["clinical_labels"][ref]["macro_f1"])] if ref else [])
                + [f3(s[last]["clinical_labels"]["baseline_report"]["macro_f1"])])
    print(table(head, rows))
    print()


def cinc_tables(d, models):
    for f in ["nofilter", "bandpass"]:
        s = {m: load(d, f"{m}-qa-cinc2021-{f}") for m in models}
        last = models[-1]
        head = [f"CinC-2021 QA ({f})", "n"] + models + ["majority baseline"]
        rows = []
        for t in sorted(s[last]["by_question_type"]):
            q = s[last]["by_question_type"][t]
            rows.append([t, q["n"]] + [f3(s[m]["by_question_type"][t]["accuracy"]) for m in models]
                        + [f3(q["baseline_accuracy"])])
        o = s[last]["overall"]
        rows.append(["**all**", o["n"]] + [f3(s[m]["overall"]["accuracy"]) for m in models]
                    + [f3(o["baseline_accuracy"])])
        print(table(head, rows))
        print()
    for f in ["nofilter", "bandpass"]:
        s = {m: load(d, f"{m}-report-cinc2021-{f}") for m in models}
        print(f"CinC-2021 reports ({f}), labels from the headers' SNOMED-CT codes:")
        print()
        labels(s, models, None)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--models", nargs="+", default=["v1", "v2"])
    a = ap.parse_args()
    qa_tables(a.dir, a.models)
    report_tables(a.dir, a.models)
    cinc_tables(a.dir, a.models)


if __name__ == "__main__":
    main()
