#!/usr/bin/env python3
"""Writes the small synthetic seed files of fuzz/corpus/{scp,dicom,xli,xml-ecg}/ (each < 4 KB, the fuzzers'
-max_len). Synthetic: a sine-like beat pattern, no real patient data. Run from the repository root:
    python3 fuzz/corpus/make-ecg-format-seeds.py"""
import base64, math, os, struct, zlib

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)))


def wave(n, amp, phase=0.0):
    return [int(round(amp * math.sin(2 * math.pi * (i + phase) / 25.0) ** 3)) for i in range(n)]


def write(name, data):
    os.makedirs(os.path.join(OUT, os.path.dirname(name)), exist_ok=True)
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


# ---- SCP-ECG -----------------------------------------------------------------------------------------------
def crc_ccitt(b):
    c = 0xFFFF
    for x in b:
        c ^= x << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) & 0xFFFF if c & 0x8000 else (c << 1) & 0xFFFF
    return c


class Bits:
    def __init__(self):
        self.bits = []

    def put(self, v, n):
        self.bits += [(v >> k) & 1 for k in range(n - 1, -1, -1)]

    def bytes(self):
        b = self.bits + [0] * (-len(self.bits) % 8)
        return bytes(int("".join(map(str, b[i:i + 8])), 2) for i in range(0, len(b), 8))


def huff_default(w, v):
    a = abs(v)
    if v == 0:
        w.put(0, 1)
    elif a <= 8:
        w.put((((1 << a) - 1) << 2) | (1 if v < 0 else 0), a + 2)
    elif -128 <= v <= 127:
        w.put((0x3FE << 8) | (v & 0xFF), 18)
    else:
        w.put((0x3FF << 16) | (v & 0xFFFF), 26)


def scp(leads, diff, s1=b"", s8=b"", plain=False):
    n = len(leads[0][1])
    s3 = bytes([len(leads), 0x04]) + b"".join(struct.pack("<IIB", 1, n, lid) for lid, _ in leads)
    data, lens = b"", b""
    for _, x in leads:
        d = [x[i] - (x[i - 1] if diff >= 1 and i >= 1 else 0) for i in range(n)] if diff < 2 else \
            [x[i] if i < 2 else x[i] - 2 * x[i - 1] + x[i - 2] for i in range(n)]
        if plain:
            enc = struct.pack("<%dh" % n, *d)
        else:
            w = Bits()
            for v in d:
                huff_default(w, v)
            enc = w.bytes()
        lens += struct.pack("<H", len(enc))
        data += enc
    sections = {3: s3, 6: struct.pack("<HHBB", 5000, 2000, diff, 0) + lens + data}
    if not plain:
        sections[2] = struct.pack("<H", 19999)
    if s1:
        sections[1] = s1
    if s8:
        sections[8] = s8
    s0_len = 16 + 120
    ptrs, index, body = b"", 6 + s0_len + 1, b""
    for sid in range(12):
        if sid == 0:
            ptrs += struct.pack("<HII", 0, s0_len, 7)
            continue
        p = sections.get(sid)
        ln = 16 + len(p) if p is not None else 0
        ptrs += struct.pack("<HII", sid, ln, index if ln else 0)
        index += ln
    sections[0] = ptrs

    def section(sid, payload):
        rest = struct.pack("<HIBB", sid, 16 + len(payload), 20, 20) + (b"SCPECG" if sid == 0 else b"\0" * 6) + payload
        return struct.pack("<H", crc_ccitt(rest)) + rest

    body = b"".join(section(sid, sections[sid]) for sid in sorted(sections))
    rest = struct.pack("<I", 6 + len(body)) + body
    return struct.pack("<H", crc_ccitt(rest)) + rest


s1 = bytes([8, 1, 0, 2, 4, 3, 0, 45, 0, 1, 25, 4, 0]) + struct.pack("<HBB", 2021, 3, 4) + bytes([255, 0, 0])
s8 = bytes([0, 0xE5, 0x07, 3, 4, 10, 11, 12, 2]) + bytes([1, 10, 0]) + b"sinusrytm\0" + bytes([2, 7, 0]) + b"f\xf6rmak\0"
write("scp/default-first-diff.scp", scp([(1, wave(120, 300)), (2, wave(120, 400, 3))], 1, s1, s8))
write("scp/default-second-diff-12lead.scp",
      scp([(lid, wave(60, 200 + 10 * lid, lid)) for lid in (1, 2, 3, 4, 5, 6, 7, 8, 61, 62, 63, 64)], 2))
write("scp/plain-int16.scp", scp([(11, wave(40, 1000)), (9, wave(40, -900))], 0, plain=True))

# ---- DICOM (Explicit VR LE, and an Implicit VR LE data set) ------------------------------------------------
LONG = {"OB", "OW", "SQ", "UN", "UT"}
IMPLICIT = False


def el(g, e, vr, value):
    if len(value) % 2:
        value += b"\0" if vr in ("UI", "OB") else b" "
    if IMPLICIT and g != 2:
        return struct.pack("<HHI", g, e, len(value)) + value
    if vr in LONG:
        return struct.pack("<HH2sHI", g, e, vr.encode(), 0, len(value)) + value
    return struct.pack("<HH2sH", g, e, vr.encode(), len(value)) + value


def seq(g, e, items):
    body = b"".join(struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF) + it + struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
                    for it in items)
    head = struct.pack("<HHI", g, e, 0xFFFFFFFF) if IMPLICIT else struct.pack("<HH2sHI", g, e, b"SQ", 0, 0xFFFFFFFF)
    return head + body + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)


def dicom(syntax, n=40, channels=(1, 2, 61)):
    code = lambda v, scheme: el(8, 0x100, "SH", v.encode()) + el(8, 0x102, "SH", scheme.encode())
    chans = [seq(0x3A, 0x208, [code("5.6.3-9-%d" % c, "SCPECG")]) + el(0x3A, 0x210, "DS", b"2.5") +
             seq(0x3A, 0x211, [code("uV", "UCUM")]) + el(0x3A, 0x212, "DS", b"1") + el(0x3A, 0x213, "DS", b"0")
             for c in channels]
    samples = [wave(n, 100 * (k + 1), k) for k in range(len(channels))]
    data = b"".join(struct.pack("<%dh" % len(channels), *[s[i] for s in samples]) for i in range(n))
    group = (el(0x3A, 5, "US", struct.pack("<H", len(channels))) + el(0x3A, 0x10, "UL", struct.pack("<I", n)) +
             el(0x3A, 0x1A, "DS", b"500") + el(0x3A, 0x20, "SH", b"RHYTHM") + seq(0x3A, 0x200, chans) +
             el(0x5400, 0x1004, "US", struct.pack("<H", 16)) + el(0x5400, 0x1006, "CS", b"SS") +
             el(0x5400, 0x1010, "OW", data))
    ann = seq(0x40, 0xB020, [el(0x70, 6, "ST", b"SINUS RHYTHM")])
    meta = el(2, 0x10, "UI", syntax.encode())
    return b"\0" * 128 + b"DICM" + meta + el(0x10, 0x40, "CS", b"M") + el(0x10, 0x1010, "AS", b"061Y") + ann + \
        seq(0x5400, 0x100, [group])


write("dicom/explicit-rhythm.dcm", dicom("1.2.840.10008.1.2.1"))
IMPLICIT = True
write("dicom/implicit-rhythm.dcm", dicom("1.2.840.10008.1.2"))
IMPLICIT = False


# ---- XLI (real LZW with 10-bit codes, dictionary up to 1022, 1023 ends) -----------------------------------
def lzw(data):
    table = {bytes([i]): i for i in range(256)}
    nxt, w, codes = 256, b"", []
    for c in data:
        wc = w + bytes([c])
        if wc in table:
            w = wc
            continue
        codes.append(table[w])
        if nxt <= 1022:
            table[wc] = nxt
            nxt += 1
        w = bytes([c])
    if w:
        codes.append(table[w])
    bits = Bits()
    for c in codes + [1023]:
        bits.put(c, 10)
    return bits.bytes()


def xli_chunk(y):
    n = len(y)
    r = lambda k: 2 * y[k - 1] - y[k - 2] - y[k]
    v = [y[0], y[1]] + [r(j + 1) + 64 for j in range(2, n - 1)] + [0]
    planes = bytes((x & 0xFFFF) >> 8 for x in v) + bytes(x & 0xFF for x in v)
    payload = lzw(planes)
    return struct.pack("<IHh", len(payload), 0, r(2)) + payload


def xli(leads):
    return b"".join(xli_chunk(y) for y in leads)


# The first 2 bytes hold the sample count minus 1 (fuzz-xli.cpp).
write("xli/two-leads-n120", struct.pack("<H", 120 - 1) + xli([wave(120, 300), wave(120, 50, 4)]))
write("xli/flat-n300", struct.pack("<H", 300 - 1) + xli([[7] * 300]))

# ---- XML ECGs ------------------------------------------------------------------------------------------------
def muse(n=16):
    def lead(i, v):
        b = struct.pack("<%dh" % n, *v)
        return ("<LeadData><LeadByteCountTotal>%d</LeadByteCountTotal><LeadSampleCountTotal>%d</LeadSampleCountTotal>"
                "<LeadAmplitudeUnitsPerBit>4.88</LeadAmplitudeUnitsPerBit><LeadAmplitudeUnits>MICROVOLTS"
                "</LeadAmplitudeUnits><LeadID>%s</LeadID><LeadDataCRC32>%d</LeadDataCRC32><WaveFormData>%s"
                "</WaveFormData></LeadData>" % (len(b), n, i, zlib.crc32(b), base64.b64encode(b).decode()))
    leads = "".join(lead(i, wave(n, 100 + 20 * k, k)) for k, i in enumerate(["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"]))
    return ('<?xml version="1.0" encoding="ISO-8859-1"?>\n<!DOCTYPE RestingECG SYSTEM "restecg.dtd">\n<RestingECG>'
            "<PatientDemographics><PatientAge>55</PatientAge><AgeUnits>YEARS</AgeUnits><Gender>MALE</Gender>"
            "</PatientDemographics><Diagnosis><DiagnosisStatement><StmtFlag>ENDSLINE</StmtFlag><StmtText>Sinus "
            "rhythm</StmtText></DiagnosisStatement></Diagnosis><Waveform><WaveformType>Rhythm</WaveformType>"
            "<SampleBase>500</SampleBase><SampleExponent>0</SampleExponent>" + leads + "</Waveform></RestingECG>\n"
            ).encode("latin-1")


def philips(n=10, utf16=False):
    labels = "I II III aVR aVL aVF V1 V2 V3 V4 V5 V6"
    data = base64.b64encode(xli([wave(n, 40 + k, k) for k in range(12)])).decode()
    text = ('<?xml version="1.0" encoding="%s"?>\n<restingecgdata><documentinfo><documenttype>PhilipsECG</documenttype>'
            "<documentversion>1.04</documentversion></documentinfo><dataacquisition><signalcharacteristics>"
            "<samplingrate>500</samplingrate><signalresolution>5</signalresolution></signalcharacteristics>"
            "</dataacquisition><patient><generalpatientdata><age><years>50</years></age><sex>Female</sex>"
            "</generalpatientdata></patient><interpretations><interpretation><statement><leftstatement>Sinus rhythm"
            "</leftstatement><rightstatement>rate 70</rightstatement></statement></interpretation></interpretations>"
            '<waveforms><parsedwaveforms dataencoding="Base64" compression="XLI" numberofleads="12" leadlabels="%s" '
            'durationperchannel="%d">%s</parsedwaveforms></waveforms></restingecgdata>\n'
            % ("utf-16" if utf16 else "UTF-8", labels, n * 2, data))
    return b"\xff\xfe" + text.encode("utf-16-le") if utf16 else text.encode()


def aecg(n=20):
    seqs = "".join('<component><sequence><code code="MDC_ECG_LEAD_%s"/><value xsi:type="SLIST_PQ"><origin value="0" '
                   'unit="uV"/><scale value="2.5" unit="uV"/><digits>%s</digits></value></sequence></component>'
                   % (lead, " ".join(map(str, wave(n, 80, k)))) for k, lead in enumerate(["I", "II", "V1", "V3R"]))
    return ('<?xml version="1.0" encoding="utf-8"?>\n<AnnotatedECG xmlns="urn:hl7-org:v3" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><component><series><code code="RHYTHM"/>'
            '<component><sequenceSet><component><sequence><code code="TIME_ABSOLUTE"/><value xsi:type="GLIST_TS">'
            '<head value="20020101000000"/><increment value="0.002" unit="s"/></value></sequence></component>' + seqs +
            "</sequenceSet></component></series></component></AnnotatedECG>\n").encode()


laughs = '<?xml version="1.0"?>\n<!DOCTYPE RestingECG [<!ENTITY a "aaaa">' + "".join(
    '<!ENTITY %s "%s">' % (chr(98 + k), ("&%s;" % chr(97 + k)) * 8) for k in range(6)) + \
    '<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<RestingECG><Diagnosis><DiagnosisStatement><StmtText>&g;&x;' \
    "</StmtText></DiagnosisStatement></Diagnosis></RestingECG>\n"
write("xml-ecg/muse.xml", muse())
write("xml-ecg/philips-utf8.xml", philips())
write("xml-ecg/philips-utf16.xml", philips(utf16=True))
write("xml-ecg/aecg.xml", aecg())
write("xml-ecg/entities.xml", laughs.encode())
