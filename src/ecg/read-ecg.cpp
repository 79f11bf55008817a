// read_ecg: picks a reader by file extension (and, for a bare record name, by what lies beside it); files with
// another or no extension are recognised by content: SCP-ECG (file length + section 0 "SCPECG"), DICOM ("DICM"
// at byte 128, or a group 0002/0008 element at byte 0), XML (the root element picks MUSE, Philips or aECG).
#include "diagecg/ecg/read-ecg.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <vector>

#include "diagecg/ecg/csv-reader.h"
#include "diagecg/ecg/dicom-reader.h"
#include "diagecg/ecg/edf-reader.h"
#include "diagecg/ecg/npy-reader.h"
#include "diagecg/ecg/scp-reader.h"
#include "diagecg/ecg/wfdb-reader.h"
#include "diagecg/ecg/xml-ecg.h"

namespace diagecg {
namespace {

namespace fs = std::filesystem;

constexpr const char* kSupported =
    "WFDB (.hea, or a signal file such as .dat/.mat with its .hea beside it), NumPy (.npy), CSV (.csv, .txt), EDF/EDF+ "
    "(.edf), GE MUSE / Philips / HL7 aECG XML (.xml), DICOM waveform (.dcm), SCP-ECG (.scp)";
constexpr size_t kSniffBytes = 4096;

bool is_file(const fs::path& p) {
    std::error_code ec;
    return fs::is_regular_file(p, ec);
}

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// The first bytes of a file (fewer when it is shorter); empty when it cannot be opened.
std::vector<uint8_t> head_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<uint8_t> b(kSniffBytes);
    in.read(reinterpret_cast<char*>(b.data()), static_cast<std::streamsize>(b.size()));
    b.resize(in ? b.size() : static_cast<size_t>(std::max<std::streamsize>(0, in.gcount())));
    return b;
}

using Reader = EcgRecord (*)(const std::string&);

// A reader chosen by content for hospital formats, or nullptr.
Reader sniff_reader(const std::string& path) {
    if (!is_file(path)) return nullptr;
    const std::vector<uint8_t> head = head_bytes(path);
    if (looks_like_scp(head.data(), head.size())) return read_scp_ecg;
    if (looks_like_dicom(head.data(), head.size())) return read_dicom_ecg;
    if (looks_like_xml(head.data(), head.size())) return read_xml_ecg;
    return nullptr;
}

}  // namespace

EcgRecord read_ecg(const std::string& path, const ReadOptions& opts) {
    const fs::path p(path);
    std::error_code ec;
    const auto st = fs::status(p, ec);
    if (fs::is_directory(st))
        throw std::runtime_error("\"" + path + "\" is a directory, not an ECG record (commands that take many records, such "
                                 "as tokenize and eval, accept directories)");
    if (fs::exists(st) && !fs::is_regular_file(st))
        throw std::runtime_error("\"" + path + "\" is not a regular file (a FIFO, socket or device cannot be read as an ECG)");
    const std::string ext = lower(p.extension().string());
    if (ext == ".hea") return read_wfdb(path);
    if (ext == ".npy") return read_npy(path, opts);
    if (ext == ".csv" || ext == ".txt") return read_csv(path, opts);
    if (ext == ".edf") return read_edf(path);
    if (ext == ".xml") return read_xml_ecg(path);
    if (ext == ".dcm") return read_dicom_ecg(path);
    if (ext == ".scp") return read_scp_ecg(path);
    if (ext.empty()) {
        const std::string hea = path + ".hea";
        if (is_file(hea)) return read_wfdb(hea);
        if (const auto reader = sniff_reader(path)) return reader(path);
        throw std::runtime_error("\"" + path + "\" has no extension and \"" + hea +
                                 "\" does not exist; supported formats: " + kSupported);
    }
    // A WFDB signal file (.mat, .dat, PTB's .xyz, ...) is read through the header beside it.
    fs::path hea = p;
    hea.replace_extension(".hea");
    if (is_file(hea)) return read_wfdb(hea.string());
    if (const auto reader = sniff_reader(path)) return reader(path);
    throw std::runtime_error("\"" + path + "\": unknown file extension \"" + ext +
                             "\"; supported formats: " + kSupported);
}

}  // namespace diagecg
