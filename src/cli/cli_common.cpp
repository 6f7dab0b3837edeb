#include "cli/cli_common.hpp"

#include <cmath>

#include "imaging/pipeline.hpp"

namespace ihc::cli {
namespace {

std::string trim(const std::string& s) {
  const auto a = s.find_first_not_of(" \t");
  const auto b = s.find_last_not_of(" \t");
  return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

}  // namespace

std::optional<int> parse_command_line(CLI::App& app, const Args& args) {
  try {
    std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 consumes from the back
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;
  }
  return std::nullopt;
}

const CLI::Validator kPositiveFinite(
    [](std::string& text) -> std::string {
      double v = 0;
      if (!CLI::detail::lexical_cast(text, v) || !std::isfinite(v) || !(v > 0)) {
        return "Value " + text + " is not a positive finite number";
      }
      return {};
    },
    "POSITIVE");

ParamSet resolve_params(const std::string& preset, const std::string& params_file,
                        const std::vector<std::string>& sets) {
  ParamSet params = default_params(preset);
  if (!params_file.empty()) params.load_file(params_file);
  for (const auto& kv : sets) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos) throw ParamError("--set expects key=value, got '" + kv + "'");
    params.set(trim(kv.substr(0, eq)), trim(kv.substr(eq + 1)), "--set");
  }
  return params;
}

}  // namespace ihc::cli
