// read_ecg: picks a reader by file extension (and, for a bare record name, by what lies beside it).
#include "diagecg/ecg/read-ecg.h"

#include <cctype>
#include <filesystem>
#include <stdexcept>

#include "diagecg/ecg/csv-reader.h"
#include "diagecg/ecg/edf-reader.h"
#include "diagecg/ecg/npy-reader.h"
#include "diagecg/ecg/wfdb-reader.h"

namespace diagecg {
namespace {

namespace fs = std::filesystem;

constexpr const char* kSupported =
    "WFDB (.hea, or a signal file such as .dat/.mat with its .hea beside it), NumPy (.npy), CSV (.csv, .txt), EDF/EDF+ "
    "(.edf)";

bool is_file(const fs::path& p) {
    std::error_code ec;
    return fs::is_regular_file(p, ec);
}

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

}  // namespace

EcgRecord read_ecg(const std::string& path, const ReadOptions& opts) {
    const fs::path p(path);
    const std::string ext = lower(p.extension().string());
    if (ext == ".hea") return read_wfdb(path);
    if (ext == ".npy") return read_npy(path, opts);
    if (ext == ".csv" || ext == ".txt") return read_csv(path, opts);
    if (ext == ".edf") return read_edf(path);
    if (ext.empty()) {
        const std::string hea = path + ".hea";
        if (is_file(hea)) return read_wfdb(hea);
        throw std::runtime_error("\"" + path + "\" has no extension and \"" + hea +
                                 "\" does not exist; supported formats: " + kSupported);
    }
    // A WFDB signal file (.mat, .dat, PTB's .xyz, ...) is read through the header beside it.
    fs::path hea = p;
    hea.replace_extension(".hea");
    if (is_file(hea)) return read_wfdb(hea.string());
    throw std::runtime_error("\"" + path + "\": unknown file extension \"" + ext +
                             "\"; supported formats: " + kSupported);
}

}  // namespace diagecg
