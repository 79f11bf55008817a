#!/usr/bin/env python3
"""Regenerates the NPY, CSV and EDF test files in tests/data/ecg/ from real WFDB records there.

Only the standard library is used (struct), so the output does not depend on a numpy version.
Run from anywhere: python3 tests/data/make-format-samples.py

Outputs (values are the WFDB samples converted to physical units, (adu - baseline) / gain):
  00009.npy          <f4, C order, shape (5000, 12) = [T, L], format 1.0   (PTB-XL 00009, units z)
  00009-lt-f8.npy    <f8, C order, shape (12, 1000) = [L, T], format 2.0   (first 1000 samples)
  00009-i2-fortran.npy  <i2, Fortran order, shape (1000, 12) = [T, L], format 1.0 (raw adu)
  00009.csv          header "time,I,II,...,V6", first 1000 samples, time in seconds
  HR06000.edf        EDF+C, 12 signals of 500 samples per 1-s record plus an "EDF Annotations"
                     signal; digital = adu, physical range chosen so 1 digital step = 0.001 mV.
                     The patient field carries the header's sex; the birth and start dates are made
                     up so that the age works out to the header's 59 years.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ECG = os.path.join(HERE, "ecg")


def read_wfdb16(stem):
    """Returns (lead names, gains, baselines, samples[t][l] in adu) of a single-file format-16 record."""
    with open(os.path.join(ECG, stem + ".hea")) as f:
        lines = [ln.split() for ln in f if ln.strip() and not ln.startswith("#")]
    n_sig, n_samp = int(lines[0][1]), int(lines[0][3])
    names, gains, bases, offset = [], [], [], 0
    for tok in lines[1:1 + n_sig]:
        fmt = tok[1]
        offset = int(fmt.split("+")[1]) if "+" in fmt else 0
        g = tok[2].split("/")[0]
        gain, base = (float(g.split("(")[0]), int(g.split("(")[1].rstrip(")"))) if "(" in g else (float(g), 0)
        names.append(tok[8])
        gains.append(gain)
        bases.append(base)
    with open(os.path.join(ECG, lines[1][0]), "rb") as f:
        raw = f.read()[offset:]
    vals = struct.unpack("<%dh" % (n_sig * n_samp), raw[:2 * n_sig * n_samp])
    rows = [list(vals[t * n_sig:(t + 1) * n_sig]) for t in range(n_samp)]
    return names, gains, bases, rows


def npy_bytes(descr, fortran, shape, payload, version=1):
    d = "{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }" % (
        descr, "True" if fortran else "False", ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else ""))
    pre = 10 if version == 1 else 12
    pad = 64 - (pre + len(d) + 1) % 64
    header = (d + " " * pad + "\n").encode("latin1")
    lenfield = struct.pack("<H", len(header)) if version == 1 else struct.pack("<I", len(header))
    return b"\x93NUMPY" + bytes([version, 0]) + lenfield + header + payload


def write(name, data):
    with open(os.path.join(ECG, name), "wb") as f:
        f.write(data)


def make_npy_csv():
    names, gains, bases, rows = read_wfdb16("00009")
    L = len(names)
    phys = [[(rows[t][l] - bases[l]) / gains[l] for l in range(L)] for t in range(len(rows))]
    flat = [v for row in phys for v in row]
    write("00009.npy", npy_bytes("<f4", False, (len(rows), L), struct.pack("<%df" % len(flat), *flat)))
    T = 1000
    lt = [phys[t][l] for l in range(L) for t in range(T)]
    write("00009-lt-f8.npy", npy_bytes("<f8", False, (L, T), struct.pack("<%dd" % len(lt), *lt), version=2))
    fo = [rows[t][l] for l in range(L) for t in range(T)]  # Fortran order of a (T, L) array: t fastest
    write("00009-i2-fortran.npy", npy_bytes("<i2", True, (T, L), struct.pack("<%dh" % len(fo), *fo)))
    lines = ["time," + ",".join(names)]
    for t in range(T):
        lines.append("%.3f," % (t / 500.0) + ",".join(repr(phys[t][l]) for l in range(L)))
    write("00009.csv", ("\n".join(lines) + "\n").encode())


def edf_field(s, width):
    s = str(s)
    assert len(s) <= width, (s, width)
    return s.ljust(width).encode("ascii")


def make_edf():
    names, gains, bases, rows = read_wfdb16("HR06000")
    assert all(g == 1000.0 for g in gains) and all(b == 0 for b in bases)
    L, spr, n_rec, ann_spr = len(names), 500, len(rows) // 500, 30
    ns = L + 1
    h = edf_field("0", 8) + edf_field("HR06000 F 01-JAN-1941 X", 80)
    h += edf_field("Startdate 01-JUN-2000 X X X", 80) + edf_field("01.06.00", 8) + edf_field("12.00.00", 8)
    h += edf_field(256 * (ns + 1), 8) + edf_field("EDF+C", 44) + edf_field(n_rec, 8) + edf_field(1, 8)
    h += edf_field(ns, 4)
    labels = names + ["EDF Annotations"]
    h += b"".join(edf_field(x, 16) for x in labels)
    h += b"".join(edf_field("", 80) for _ in labels)
    h += b"".join(edf_field("mV", 8) for _ in names) + edf_field("", 8)
    h += b"".join(edf_field("-32.768", 8) for _ in names) + edf_field("-1", 8)
    h += b"".join(edf_field("32.767", 8) for _ in names) + edf_field("1", 8)
    h += b"".join(edf_field("-32768", 8) for _ in labels)
    h += b"".join(edf_field("32767", 8) for _ in labels)
    h += b"".join(edf_field("", 80) for _ in labels)
    h += b"".join(edf_field(spr, 8) for _ in names) + edf_field(ann_spr, 8)
    h += b"".join(edf_field("", 32) for _ in labels)
    assert len(h) == 256 * (ns + 1)
    body = b""
    for r in range(n_rec):
        for l in range(L):
            body += struct.pack("<%dh" % spr, *[rows[r * spr + k][l] for k in range(spr)])
        tal = ("+%d\x14\x14\x00" % r).encode("ascii")
        body += tal + b"\x00" * (2 * ann_spr - len(tal))
    write("HR06000.edf", h + body)


if __name__ == "__main__":
    make_npy_csv()
    make_edf()
