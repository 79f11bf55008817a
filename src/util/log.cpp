#include "diagecg/util/log.h"

#include <memory>
#include <stdexcept>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace diagecg::log {
namespace {

std::shared_ptr<spdlog::logger>& logger() {
    static std::shared_ptr<spdlog::logger> l = [] {
        auto lg = spdlog::stderr_color_st("diagecg");
        lg->set_pattern("%^[%H:%M:%S.%e %L]%$ %v");
        lg->set_level(spdlog::level::info);
        return lg;
    }();
    return l;
}

spdlog::level::level_enum to_spdlog(Level level) {
    switch (level) {
        case Level::kTrace: return spdlog::level::trace;
        case Level::kDebug: return spdlog::level::debug;
        case Level::kInfo: return spdlog::level::info;
        case Level::kWarn: return spdlog::level::warn;
        case Level::kError: return spdlog::level::err;
        case Level::kOff: return spdlog::level::off;
    }
    return spdlog::level::info;
}

}  // namespace

void set_level(Level level) { logger()->set_level(to_spdlog(level)); }

void set_level(const std::string& level) {
    if (level == "trace") return set_level(Level::kTrace);
    if (level == "debug") return set_level(Level::kDebug);
    if (level == "info") return set_level(Level::kInfo);
    if (level == "warn") return set_level(Level::kWarn);
    if (level == "error") return set_level(Level::kError);
    if (level == "off") return set_level(Level::kOff);
    throw std::invalid_argument("log level \"" + level + "\" is not one of trace, debug, info, warn, error, off");
}

bool enabled(Level level) { return logger()->should_log(to_spdlog(level)); }

void write(Level level, const std::string& msg) { logger()->log(to_spdlog(level), msg); }

}  // namespace diagecg::log
