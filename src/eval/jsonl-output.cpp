#include "diagecg/eval/jsonl-output.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fcntl.h>
#include <unistd.h>

#include "diagecg/util/atomic-file.h"
#include "diagecg/util/log.h"

namespace diagecg {

std::vector<nlohmann::json> read_jsonl_lines(const std::string& path, bool repair) {
    std::vector<nlohmann::json> out;
    std::ifstream in(path, std::ios::binary);
    if (!in) return out;
    std::stringstream ss;
    ss << in.rdbuf();
    in.close();
    const std::string text = ss.str();
    std::string kept;
    size_t pos = 0, line_no = 0;
    while (pos < text.size()) {
        ++line_no;
        const size_t nl = text.find('\n', pos);
        const bool finished = nl != std::string::npos;
        const std::string line = text.substr(pos, finished ? nl - pos : std::string::npos);
        pos = finished ? nl + 1 : text.size();
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        const bool last = pos >= text.size();
        try {
            if (!finished) throw std::runtime_error("no end of line");
            out.push_back(nlohmann::json::parse(line));
            kept += line + "\n";
        } catch (const std::exception& e) {
            if (last && repair) {   // a write cut off by a kill: that sample is redone
                log::warn("{} line {}: unfinished (a killed run); dropped, its sample is redone", path, line_no);
                write_file_atomic(path, kept);
                break;
            }
            throw std::runtime_error(path + " line " + std::to_string(line_no) + ": not a JSON line (" + e.what() + ")");
        }
    }
    return out;
}

void append_text_synced(const std::string& path, const std::string& text) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) throw std::runtime_error("cannot open " + path + " for appending: " + std::strerror(errno));
    size_t off = 0;
    while (off < text.size()) {
        const ssize_t n = ::write(fd, text.data() + off, text.size() - off);
        if (n <= 0) {
            const int err = n < 0 ? errno : ENOSPC;
            ::close(fd);
            throw std::runtime_error("cannot write " + path + ": " + std::strerror(err));
        }
        off += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0) {
        const int err = errno;
        ::close(fd);
        throw std::runtime_error("cannot write " + path + " to disk: " + std::strerror(err));
    }
    ::close(fd);
}

void append_jsonl_synced(const std::string& path, const std::vector<nlohmann::json>& lines) {
    std::string text;
    for (const auto& j : lines) text += j.dump() + "\n";
    append_text_synced(path, text);
}

}  // namespace diagecg
