#!/usr/bin/env python3
"""ECG-QA-style questions for the raw CinC-2021 records, from the SNOMED-CT diagnoses in their headers.

An out-of-distribution check for a model tuned on PTB-XL (see models/diagecg/README.md): three ECG-QA
templates whose answers the CinC labels determine, worded exactly as ECG-QA (PTB-XL) words them:
  10  "What rhythm-related symptoms does this ECG show?"  (single-query; records whose rhythm labels all map
      to PTB-XL rhythm statements)
  35  "Does this ECG show any kind of extra systoles?"   (single-verify)
  36  "Does this ECG show supraventricular / ventricular extrasystoles?" (single-verify)
Writes an ECG-QA JSON array whose samples name their record files ("record", diagecg's extension of the
format) instead of PTB-XL ecg_ids. Standard library only.

usage: tools/cinc-ood-qa.py CINC_DIR OUT.json
"""
import json
import os
import sys

# SNOMED-CT (CinC 2021) -> PTB-XL rhythm statement descriptions (as ECG-QA answers them)
RHYTHM = {
    "426783006": "sinus rhythm",
    "427084000": "sinus tachycardia",
    "426177001": "sinus bradycardia",
    "164889003": "atrial fibrillation",
    "164890007": "atrial flutter",
    "427393009": "sinus arrhythmia",
}
# rhythm diagnoses with no PTB-XL statement of the same meaning: such records get no rhythm question
UNMAPPED_RHYTHM = {"713422000", "426627000", "426761007", "164896001", "17366009", "60423000", "426648003",
                   "164895002", "49578007", "65778007", "5609005"}
SUPRAVENTRICULAR = {"284470004", "63593006", "251170000"}   # premature atrial contraction, SVPB, blocked PAC
VENTRICULAR = {"427172004", "17338001"}                      # premature ventricular contraction/beats


def read_dx(hea):
    with open(hea, encoding="ascii", errors="replace") as f:
        for line in f:
            if line.startswith("#") and "Dx:" in line:
                return {c.strip() for c in line.split("Dx:", 1)[1].split(",") if c.strip()}
    return None


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, out = sys.argv[1], sys.argv[2]
    samples = []
    names = sorted(n[:-4] for n in os.listdir(src) if n.endswith(".hea"))
    if not names:
        sys.exit(f"{src}: no .hea files")

    def add(tid, qtype, attr_type, question, answer, attribute, rec):
        samples.append({"template_id": tid, "question_id": tid * 1000 + len(samples), "sample_id": len(samples),
                        "question_type": qtype, "attribute_type": attr_type, "question": question,
                        "answer": answer, "record": [rec], "attribute": attribute})

    for name in names:
        dx = read_dx(os.path.join(src, name + ".hea"))
        if dx is None:
            continue
        rec = os.path.abspath(os.path.join(src, name + ".hea"))
        rhythm = sorted(RHYTHM[c] for c in dx if c in RHYTHM)
        if rhythm and not (dx & UNMAPPED_RHYTHM):
            add(10, "single-query", "scp_code", "What rhythm-related symptoms does this ECG show?", rhythm, rhythm, rec)
        sv, v = bool(dx & SUPRAVENTRICULAR), bool(dx & VENTRICULAR)
        add(35, "single-verify", "extra_systole", "Does this ECG show any kind of extra systoles?",
            ["yes" if sv or v else "no"], ["any kind of extra systoles"], rec)
        add(36, "single-verify", "extra_systole", "Does this ECG show supraventricular extrasystoles?",
            ["yes" if sv else "no"], ["supraventricular extrasystoles"], rec)
        add(36, "single-verify", "extra_systole", "Does this ECG show ventricular extrasystoles?",
            ["yes" if v else "no"], ["ventricular extrasystoles"], rec)
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(samples, f, indent=4)
        f.write("\n")
    os.replace(tmp, out)
    print(f"{out}: {len(samples)} questions on {len(names)} records", file=sys.stderr)


if __name__ == "__main__":
    main()
