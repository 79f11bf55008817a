// Where the bundled models are, found from the binary's own location at run time (never baked in at build time):
//   1. $DIAGECG_MODEL (the DiagECG model only), when set and not empty
//   2. <prefix>/share/diagecg/models/NAME when the binary is <prefix>/bin/diagecg (`cmake --install`)
//   3. <dir>/models/NAME beside the binary (the build tree: CMake links build/models to the source's models/)
#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "commands.h"

namespace diagecg::cli {

namespace fs = std::filesystem;

namespace {

std::string bundled_model(const std::string& name) {
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (ec) return (fs::path("models") / name).string();
    const fs::path dir = exe.parent_path();
    const fs::path installed = (dir / ".." / "share" / "diagecg" / "models" / name).lexically_normal();
    const fs::path build_tree = dir / "models" / name;
    if (fs::is_directory(installed, ec)) return installed.string();
    if (fs::is_directory(build_tree, ec)) return build_tree.string();
    return installed.string();  // neither exists: the loader's error names where it was looked for
}

}  // namespace

std::string default_model_dir() {
    if (const char* env = std::getenv("DIAGECG_MODEL"); env && *env) return env;
    return bundled_model("diagecg-v2");  // v1 stays loadable as models/diagecg
}

std::string default_tokenizer_dir() {
    return bundled_model("ecg-tokenizer");
}

}  // namespace diagecg::cli
