#!/usr/bin/env python3
"""Regenerates the malformed input files in this folder (see README.md for what each one is).

Standard library only. Run: python3 tests/data/bad/make-bad-inputs.py
Each file is small and built from a valid base (2 signals x 10 samples) with one defect.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

SIG = [[10, 12, 15, 11, -3, -8, 0, 4, 6, 7], [-100, -90, -70, -40, 0, 50, 90, 110, 100, 80]]


def put(name, data):
    if isinstance(data, str):
        data = data.encode("latin1")
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def checksum(v):
    s = sum(v) & 0xFFFF
    return s - 0x10000 if s >= 0x8000 else s


def dat16(sig, n=None):
    n = len(sig[0]) if n is None else n
    return b"".join(struct.pack("<h", sig[l][t]) for t in range(n) for l in range(len(sig)))


def hea(name, n_samples=10, fmt="16", lines=None, init=None, cks=None, dat=None, record=None):
    dat = dat or name + ".dat"
    rec = record or "%s 2 500 %s" % (name, n_samples)
    if lines is None:
        lines = []
        for l, (lead, v) in enumerate(zip(["I", "II"], SIG)):
            i = v[0] if init is None else init[l]
            c = checksum(v) if cks is None else cks[l]
            lines.append("%s %s 200(0)/mV 16 0 %d %d 0 %s" % (dat, fmt, i, c, lead))
    return rec + "\n" + "\n".join(lines) + "\n"


def wfdb():
    put("truncated-dat.hea", hea("truncated-dat"))
    put("truncated-dat.dat", dat16(SIG)[:37])
    put("bad-checksum.hea", hea("bad-checksum", cks=[checksum(SIG[0]), 1234]))
    put("bad-checksum.dat", dat16(SIG))
    put("bad-init.hea", hea("bad-init", init=[11, SIG[1][0]]))
    put("bad-init.dat", dat16(SIG))
    put("unknown-format.hea", hea("unknown-format", fmt="311"))
    put("length-mismatch.hea", hea("length-mismatch", n_samples=20))
    put("length-mismatch.dat", dat16(SIG))
    put("garbage-header.hea", bytes([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00, 0x13, 0x37, 0xff, 0xfe]) * 4)
    put("empty.hea", "")
    put("comments-only.hea", "# Age: 50\n# Sex: M\n")
    put("empty-dat.hea", hea("empty-dat"))
    put("empty-dat.dat", b"")
    put("no-samples.hea", hea("no-samples", record="no-samples 2 500"))
    put("no-samples.dat", b"")
    put("bad-sample-count.hea", hea("bad-sample-count", n_samples="10x"))
    put("non-utf8.hea", hea("non-utf8", record="non-utf8 2 500 10 \xe9t\xe9"))
    put("huge-samples.hea", hea("huge-samples", n_samples=10 ** 12))
    put("negative-signals.hea", "negative-signals -3 500 10\n")
    put("huge-signals.hea", "huge-signals 5000 500 10\n")
    three = hea("extra-signal-line").rstrip("\n") + "\nextra-signal-line.dat 16 200 16 0 0 0 0 V1\n"
    put("extra-signal-line.hea", three)
    put("missing-signal-line.hea", hea("missing-signal-line", record="missing-signal-line 3 500 10"))
    put("missing-dat.hea", hea("missing-dat"))
    put("multi-segment.hea", "multi-segment/2 1 360 2000\nseg_1 1000\nseg_2 1000\n")
    put("two-samples-per-frame.hea", hea("two-samples-per-frame", fmt="16x2"))
    put("two-samples-per-frame.dat", dat16(SIG))
    put("bad-gain.hea", hea("bad-gain", lines=["bad-gain.dat 16 abc/mV 16 0 0 0 0 I",
                                                "bad-gain.dat 16 200/mV 16 0 0 0 0 II"]))
    put("path-traversal.hea", hea("path-traversal", dat="../ecg/00009.dat"))
    put("offset-past-eof.hea", hea("offset-past-eof", fmt="16+1000"))
    put("offset-past-eof.dat", dat16(SIG))


def npy(descr, fortran, shape, payload, version=1, dict_text=None):
    d = dict_text or "{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }" % (
        descr, "True" if fortran else "False", ", ".join(str(s) for s in shape))
    pre = 10 if version == 1 else 12
    header = (d + " " * (64 - (pre + len(d) + 1) % 64) + "\n").encode("latin1")
    lenfield = struct.pack("<H", len(header)) if version == 1 else struct.pack("<I", len(header))
    return b"\x93NUMPY" + bytes([version, 0]) + lenfield + header + payload


def f4(values):
    return struct.pack("<%df" % len(values), *values)


def npys():
    rows = [[SIG[0][t] / 200.0, SIG[1][t] / 200.0] for t in range(10)]
    flat = [v for r in rows for v in r]
    put("bad-magic.npy", b"\x93NUMPX" + npy("<f4", False, (10, 2), f4(flat))[6:])
    put("dtype-complex.npy", npy("<c8", False, (10, 2), f4(flat) * 2))
    put("dtype-big-endian.npy", npy(">f4", False, (10, 2), f4(flat)))
    put("shape-3d.npy", npy("<f4", False, (5, 2, 2), f4(flat[:20])))
    hdr = npy("<f4", False, (10, 2), b"")
    put("header-past-eof.npy", hdr[:8] + struct.pack("<H", 5000) + hdr[10:])
    put("data-short.npy", npy("<f4", False, (100, 2), f4(flat)))
    put("bad-version.npy", npy("<f4", False, (10, 2), f4(flat))[:6] + bytes([9, 0]) + b"\x00" * 60)
    put("bad-dict.npy", npy("", False, (), b"", dict_text="{'descr': '<f4', 'fortran_order': maybe, 'shape': (10, 2), }"))
    put("empty.npy", b"")
    nan = float("nan")
    put("nan-lead.npy", npy("<f4", False, (10, 2), f4([v for r in rows for v in (r[0], nan)])))


def edf(n_signals=2, spr=(10, 10), n_rec=2, reserved="EDF+C", n_rec_field=None, dmin="-32768", data_bytes=None,
        ns_field=None):
    def fld(s, w):
        return str(s).ljust(w)[:w].encode("ascii")
    h = fld("0", 8) + fld("X M 01-JAN-1960 X", 80) + fld("Startdate 01-JAN-2000 X X X", 80)
    h += fld("01.01.00", 8) + fld("00.00.00", 8) + fld(256 * (n_signals + 1), 8) + fld(reserved, 44)
    h += fld(n_rec if n_rec_field is None else n_rec_field, 8) + fld(1, 8)
    h += fld(n_signals if ns_field is None else ns_field, 4)
    labels = ["I", "II"][:n_signals]
    h += b"".join(fld(x, 16) for x in labels) + b"".join(fld("", 80) for _ in labels)
    h += b"".join(fld("mV", 8) for _ in labels) + b"".join(fld("-163.84", 8) for _ in labels)
    h += b"".join(fld("163.835", 8) for _ in labels) + b"".join(fld(dmin, 8) for _ in labels)
    h += b"".join(fld("32767", 8) for _ in labels) + b"".join(fld("", 80) for _ in labels)
    h += b"".join(fld(s, 8) for s in spr[:n_signals]) + b"".join(fld("", 32) for _ in labels)
    n_bytes = 2 * sum(spr[:n_signals]) * n_rec if data_bytes is None else data_bytes
    return h + bytes((i * 7) & 0xFF for i in range(n_bytes))


def edfs():
    full = edf()
    put("edf-truncated.edf", full[:len(full) - 15])
    put("edf-bad-number.edf", edf(n_rec_field="abc"))
    put("edf-plus-d.edf", edf(reserved="EDF+D"))
    put("edf-huge-signals.edf", edf(ns_field=9999))
    put("edf-short-header.edf", full[:100])
    put("edf-mixed-rates.edf", edf(spr=(10, 20)))
    put("edf-bad-digital-range.edf", edf(dmin="32767"))
    put("empty.edf", b"")


def csvs():
    put("ragged.csv", "I,II\n0.1,0.2\n0.3\n0.5,0.6\n")
    put("non-numeric.csv", "I,II\n0.1,0.2\n0.3,abc\n")
    put("empty.csv", "")
    put("header-only.csv", "time,I,II\n")
    put("nan-lead.csv", "I,II\n" + "".join("%g,nan\n" % (v / 200.0) for v in SIG[0]))
    put("unknown.xyzzy", "I,II\n0.1,0.2\n")


if __name__ == "__main__":
    wfdb()
    npys()
    edfs()
    csvs()
