#!/usr/bin/env python3
"""Regenerates the malformed input files in this folder (see README.md for what each one is).

Standard library only. Run: python3 tests/data/bad/make-bad-inputs.py
Each file is small and built from a valid base (2 signals x 10 samples) with one defect.
"""
import os
import base64
import re
import struct
import zlib

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
        ns_field=None, duration=1, version="0", labels=("I", "II"), hbytes=None):
    def fld(s, w):
        return str(s).ljust(w)[:w].encode("ascii")
    h = fld(version, 8) + fld("X M 01-JAN-1960 X", 80) + fld("Startdate 01-JAN-2000 X X X", 80)
    h += fld("01.01.00", 8) + fld("00.00.00", 8) + fld(hbytes or 256 * (n_signals + 1), 8) + fld(reserved, 44)
    h += fld(n_rec if n_rec_field is None else n_rec_field, 8) + fld(duration, 8)
    h += fld(n_signals if ns_field is None else ns_field, 4)
    labels = list(labels)[:n_signals]
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
    put("edf-absurd-duration.edf", edf(duration="1e300"))
    put("edf-tiny-duration.edf", edf(duration="1e-300"))
    put("edf-zero-duration.edf", edf(duration="0"))
    put("edf-nan-duration.edf", edf(duration="nan"))
    put("edf-plus-annotations-only.edf", edf(n_signals=1, labels=("EDF Annotations",)))
    put("edf-bad-version.edf", edf(version="1"))
    put("edf-bdf.edf", b"\xff" + edf()[1:])
    put("edf-header-bytes.edf", edf(hbytes=512))
    put("edf-unknown-records.edf", edf(n_rec_field="-1"))


def csvs():
    put("ragged.csv", "I,II\n0.1,0.2\n0.3\n0.5,0.6\n")
    put("non-numeric.csv", "I,II\n0.1,0.2\n0.3,abc\n")
    put("empty.csv", "")
    put("header-only.csv", "time,I,II\n")
    put("nan-lead.csv", "I,II\n" + "".join("%g,nan\n" % (v / 200.0) for v in SIG[0]))
    put("unknown.xyzzy", "I,II\n0.1,0.2\n")
    put("csv-nul-bytes.csv", "I,II\n0.1,0.2\n0.3,\x00\x00\n")
    put("csv-lead-count.csv", "0.1,0.2,0.3\n0.4,0.5,0.6\n")
    put("csv-semicolon-ragged.csv", "I;II\n0.1;0.2\n0.3\n")
    put("csv-hex-cell.csv", "I,II\n0.1,0x1F\n")
    put("csv-comment-only.csv", "# exported 2024-01-01\n# no data\n")


# --- Hospital formats: corrupt variants of the real samples in ../ecg/formats/ -------------------------------
FORMATS = os.path.join(HERE, "..", "ecg", "formats")


def sample(name):
    with open(os.path.join(FORMATS, name), "rb") as f:
        return f.read()


def muse_small(n_keep=400):
    """muse_ecg1.xml without its Median waveform and with each Rhythm lead cut to n_keep samples (counts and
    LeadDataCRC32 updated): a valid MUSE file of ~12 KB."""
    t = sample("muse_ecg1.xml").decode("latin1")
    t = re.sub(r"<Waveform>\s*<WaveformType>Median</WaveformType>.*?</Waveform>\s*", "", t, flags=re.S)

    def lead(m):
        body = m.group(0)
        data = base64.b64decode(re.search(r"<WaveFormData>(.*?)</WaveFormData>", body, re.S).group(1))
        data = data[:2 * n_keep]
        body = re.sub(r"<WaveFormData>.*?</WaveFormData>",
                      "<WaveFormData>" + base64.b64encode(data).decode("ascii") + "</WaveFormData>", body, flags=re.S)
        body = re.sub(r"<LeadByteCountTotal>\d+<", "<LeadByteCountTotal>%d<" % len(data), body)
        body = re.sub(r"<LeadSampleCountTotal>\d+<", "<LeadSampleCountTotal>%d<" % (len(data) // 2), body)
        return re.sub(r"<LeadDataCRC32>\d+<", "<LeadDataCRC32>%d<" % zlib.crc32(data), body)
    return re.sub(r"<LeadData>.*?</LeadData>", lead, t, flags=re.S)


def aecg_small(n_keep=300):
    """Example_aECG.xml without its annotation sets and with every <digits> sequence cut to its first n_keep
    values (~30 KB)."""
    t = sample("Example_aECG.xml").decode("utf-8")
    t = re.sub(r"<annotationSet>.*?</annotationSet>", "", t, flags=re.S)
    return re.sub(r"<digits>(.*?)</digits>", lambda m: "<digits>" + " ".join(m.group(1).split()[:n_keep]) + "</digits>",
                  t, flags=re.S)


def first_sub(pattern, repl, text):
    out, n = re.subn(pattern, repl, text, count=1, flags=re.S)
    assert n == 1, pattern
    return out


def xmls():
    muse = muse_small()

    put("muse-truncated.xml", muse[:len(muse) // 2])
    put("muse-bad-base64.xml", first_sub(r"<WaveFormData>(....)", r"<WaveFormData>\1*#", muse))
    put("muse-crc-mismatch.xml", first_sub(r"<LeadDataCRC32>\d+<", "<LeadDataCRC32>12345<", muse))
    put("muse-byte-count.xml", first_sub(r"<LeadByteCountTotal>\d+<", "<LeadByteCountTotal>9000<", muse))
    put("muse-no-rhythm.xml", first_sub(r"<WaveformType>Rhythm<", "<WaveformType>Other<", muse))
    lol = ('<!DOCTYPE RestingECG [\n <!ENTITY lol "lol">\n' +
           "".join(' <!ENTITY lol%d "%s">\n' % (k, ("&lol%s;" % ("" if k == 1 else k - 1)) * 10) for k in range(1, 10)) +
           "]>\n")
    put("muse-billion-laughs.xml", first_sub(r"<WaveFormData>", "<WaveFormData>&lol9;",
                                             muse.replace('<!DOCTYPE RestingECG SYSTEM "restecg.dtd">\n', lol)))

    philips = sample("129DYPRG.XML").decode("utf-8")
    put("philips-truncated.xml", philips[:20000])
    m = re.search(r'(<parsedwaveforms[^>]*>)(.*?)(</parsedwaveforms>)', philips, re.S)
    xli = bytearray(base64.b64decode(m.group(2)))

    def with_waves(data, attrs=None):
        return philips[:m.start()] + (attrs or m.group(1)) + base64.b64encode(bytes(data)).decode("ascii") + \
            philips[m.end(2):]
    put("philips-xli-overrun.xml", with_waves(xli, m.group(1).replace('durationperchannel="11000"',
                                                                         'durationperchannel="1000"')))
    big = bytearray(xli)
    big[0:4] = struct.pack("<I", 0x7FFFFFF0)
    put("philips-xli-chunk-size.xml", with_waves(big))
    put("philips-bad-base64.xml", philips[:m.start(2) + 100] + "%%" + philips[m.start(2) + 100:])
    put("philips-xli-cut.xml", with_waves(xli[:len(xli) // 3]))
    put("philips-bad-encoding.xml", with_waves(xli, m.group(1).replace('dataencoding="Base64"',
                                                                          'dataencoding="Hex"')))

    aecg = aecg_small()
    put("aecg-truncated.xml", aecg[:len(aecg) // 2])
    put("aecg-non-numeric.xml", first_sub(r"<digits>(\S+ \S+ )", r"<digits>\1 12x4 ", aecg))
    put("aecg-zero-scale.xml", first_sub(r'(<scale[^>]*value=")[^"]*"', r'\g<1>0"', aecg))
    put("not-xml.xml", "<RestingECG><Waveform></RestingECG>\n")


def dicom_meta():
    """Preamble, DICM and the file meta group of Example.dcm (Implicit VR Little Endian dataset follows)."""
    d = sample("Example.dcm")
    pos = 132
    while struct.unpack_from("<H", d, pos)[0] == 2:
        vr = d[pos + 4:pos + 6]
        if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT"):
            pos += 12 + struct.unpack_from("<I", d, pos + 8)[0]
        else:
            pos += 8 + struct.unpack_from("<H", d, pos + 6)[0]
    return d[:pos]


def implicit(group, elem, value=b"", length=None):
    return struct.pack("<HHI", group, elem, len(value) if length is None else length) + value


def dicoms():
    d = sample("Example.dcm")
    meta = dicom_meta()
    put("dicom-truncated.dcm", d[:40000])
    put("dicom-length-past-end.dcm", meta + implicit(0x0008, 0x0016, b"1.2.840.10008.5.1.4.1.1.9.1.1\x00") +
        implicit(0x0010, 0x0010, b"Doe^J", length=0x7FFFFFF0))
    deep = b""
    for _ in range(200):  # undefined-length sequences, each inside an undefined-length item
        deep += implicit(0x5400, 0x0100, length=0xFFFFFFFF) + implicit(0xFFFE, 0xE000, length=0xFFFFFFFF)
    put("dicom-deep-sequence.dcm", meta + deep)
    put("dicom-no-delimiter.dcm", meta + implicit(0x5400, 0x0100, length=0xFFFFFFFF) +
        implicit(0xFFFE, 0xE000, length=0xFFFFFFFF) + implicit(0x003A, 0x0005, b"\x0c\x00"))
    put("dicom-no-waveform.dcm", meta + implicit(0x0008, 0x0016, b"1.2.840.10008.5.1.4.1.1.9.1.1\x00"))
    put("dicom-bad-magic.dcm", b"\x00" * 128 + b"DICX" + b"\x00" * 64)


def crc_ccitt(b):
    c = 0xFFFF
    for x in b:
        c ^= x << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) & 0xFFFF if c & 0x8000 else (c << 1) & 0xFFFF
    return c


def scp_sections(s):
    """Section id -> (offset of its header, length) from section 0's pointer table."""
    out = {}
    n0 = struct.unpack_from("<I", s, 6 + 4)[0]
    for at in range(6 + 16, 6 + n0, 10):
        sid, length, index = struct.unpack_from("<HII", s, at)
        if length:
            out[sid] = (index - 1, length)
    return out


def scp_fix(s, section=None, sections=None):
    """Recomputes the CRC of `section` (if given) and of the whole file."""
    s = bytearray(s)
    if section is not None:
        off, length = sections[section]
        struct.pack_into("<H", s, off, crc_ccitt(s[off + 2:off + length]))
    struct.pack_into("<H", s, 0, crc_ccitt(s[2:]))
    return bytes(s)


def scps():
    s = sample("Example.scp")
    secs = scp_sections(s)
    off6, len6 = secs[6]
    put("scp-truncated.scp", s[:8000])
    flipped = bytearray(s)
    flipped[off6 + 100] ^= 0x5A
    put("scp-file-crc.scp", bytes(flipped))
    put("scp-section-crc.scp", scp_fix(flipped))
    long6 = bytearray(s)
    struct.pack_into("<I", long6, off6 + 4, 0x00100000)
    put("scp-section-length.scp", scp_fix(long6))
    # Section 3: lead l's first/last sample at 16 + 2 + 9 l; make each lead need 8 samples per data byte
    # (1 bit each), more than its Huffman data holds: the data ends before the samples do.
    off3, _ = secs[3]
    never = bytearray(s)
    n_leads = never[off3 + 16]
    for l in range(n_leads):
        n_bytes = struct.unpack_from("<H", never, off6 + 16 + 6 + 2 * l)[0]
        struct.pack_into("<II", never, off3 + 16 + 2 + 9 * l, 1, 8 * n_bytes)
    put("scp-huffman-never-ends.scp", scp_fix(never, 3, secs))
    badid = bytearray(s)
    struct.pack_into("<H", badid, off6 + 2, 9)
    put("scp-section-id.scp", scp_fix(badid))
    lenfield = bytearray(s)
    struct.pack_into("<I", lenfield, 2, len(s) + 500)
    put("scp-length-field.scp", bytes(lenfield))


TWELVE = "I,II,III,aVR,aVL,aVF,V1,V2,V3,V4,V5,V6\n"


def quality():
    """Well-formed 12-lead CSVs (read at 500 Hz) that the signal-quality gate must call poor."""
    import math
    import random
    rnd = random.Random(19)
    put("poor-all-zeros.csv", TWELVE + "0,0,0,0,0,0,0,0,0,0,0,0\n" * 2000)
    put("poor-white-noise.csv", TWELVE + "".join(",".join("%.1f" % rnd.gauss(0, 1) for _ in range(12)) + "\n"
                                                  for _ in range(1250)))
    put("poor-flat-leads.csv", TWELVE + "".join("%.3f,0,0,0,0,0,0,0,0,0,0,0\n" % math.sin(2 * math.pi * 1.2 * t / 500)
                                                for t in range(2000)))
    put("poor-three-rows.csv", TWELVE + "0.1,0.2,0.1,-0.1,0,0.1,0.2,0.3,0.4,0.3,0.2,0.1\n" * 3)


if __name__ == "__main__":
    wfdb()
    npys()
    edfs()
    csvs()
    xmls()
    dicoms()
    scps()
    quality()
