// Strict reading of our own JSON configs: typed fields, wrong types and unknown keys are errors that
// name the JSON path ("preprocess.lenght_policy: unknown key"). Structs keep the defaults; JSON only
// overrides them.
#pragma once

#include <fstream>
#include <set>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

namespace diagecg {

class JsonObject {
public:
    JsonObject(const nlohmann::json& j, std::string path) : j_(j), path_(std::move(path)) {
        if (!j_.is_object()) throw std::invalid_argument(path_ + ": expected a JSON object, got " + j_.dump());
    }

    // Reads `key` into `out` when present and not null; returns whether it was.
    template <typename T>
    bool get(const char* key, T& out) {
        seen_.insert(key);
        if (!j_.contains(key) || j_[key].is_null()) return false;
        const nlohmann::json& v = j_[key];
        bool ok;
        if constexpr (std::is_same_v<T, bool>) ok = v.is_boolean();
        else if constexpr (std::is_integral_v<T>) ok = v.is_number_integer();
        else if constexpr (std::is_floating_point_v<T>) ok = v.is_number();
        else ok = v.is_string();
        if (!ok) {
            const char* expected = std::is_same_v<T, bool> ? "a boolean" : std::is_integral_v<T> ? "an integer"
                                 : std::is_floating_point_v<T> ? "a number" : "a string";
            throw std::invalid_argument(path_ + "." + key + ": expected " + expected + ", got " + v.dump());
        }
        out = v.get<T>();
        return true;
    }

    // Reads an array of integers.
    bool get(const char* key, std::vector<int64_t>& out) {
        seen_.insert(key);
        if (!j_.contains(key) || j_[key].is_null()) return false;
        const nlohmann::json& v = j_[key];
        if (!v.is_array()) throw std::invalid_argument(path_ + "." + key + ": expected an array of integers, got " + v.dump());
        out.clear();
        for (const auto& e : v) {
            if (!e.is_number_integer())
                throw std::invalid_argument(path_ + "." + key + ": expected an array of integers, got " + v.dump());
            out.push_back(e.get<int64_t>());
        }
        return true;
    }

    // Reads an array of strings.
    bool get(const char* key, std::vector<std::string>& out) {
        seen_.insert(key);
        if (!j_.contains(key) || j_[key].is_null()) return false;
        const nlohmann::json& v = j_[key];
        if (!v.is_array()) throw std::invalid_argument(path_ + "." + key + ": expected an array of strings, got " + v.dump());
        out.clear();
        for (const auto& e : v) {
            if (!e.is_string()) throw std::invalid_argument(path_ + "." + key + ": expected an array of strings, got " + v.dump());
            out.push_back(e.get<std::string>());
        }
        return true;
    }

    // The sub-object at `key` when present (and marks it known), else nullptr.
    const nlohmann::json* object(const char* key) {
        seen_.insert(key);
        return j_.contains(key) && !j_[key].is_null() ? &j_[key] : nullptr;
    }

    // Throws when the object has keys that no get() asked for.
    void finish() const {
        std::string unknown;
        for (const auto& [k, v] : j_.items())
            if (!seen_.count(k)) unknown += (unknown.empty() ? "" : ", ") + path_ + "." + k;
        if (!unknown.empty()) throw std::invalid_argument("unknown config key(s): " + unknown);
    }

private:
    const nlohmann::json& j_;
    std::string path_;
    std::set<std::string> seen_;
};

// Parses a whole JSON file; throws std::runtime_error naming the file when it cannot be opened or parsed.
inline nlohmann::json read_json_file(const std::string& file) {
    std::ifstream in(file);
    if (!in) throw std::runtime_error(file + ": cannot open");
    try {
        return nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error(file + ": invalid JSON: " + e.what());
    }
}

}  // namespace diagecg
