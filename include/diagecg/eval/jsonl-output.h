// Append-only JSONL results files that a killed run resumes without losing or repeating a line (eval's
// predictions, batch report/qa answers). Lines are appended whole, one write(2) per batch on an O_APPEND
// descriptor, then fsync'd; reading back drops an unfinished last line (a write cut off by a kill: it has no
// newline or does not parse) and rewrites the file without it, so the run redoes exactly that sample.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace diagecg {

// The lines of `path` as JSON (a missing file: none). With `repair`, an unfinished last line is dropped and
// the file rewritten (atomically) without it; any other unparsable line is std::runtime_error naming it.
std::vector<nlohmann::json> read_jsonl_lines(const std::string& path, bool repair);

// Appends each JSON value as one line (compact) and syncs the file to disk before returning; a failed write
// names the OS reason.
void append_jsonl_synced(const std::string& path, const std::vector<nlohmann::json>& lines);
// The same for lines already serialised (each must end in '\n').
void append_text_synced(const std::string& path, const std::string& text);

}  // namespace diagecg
