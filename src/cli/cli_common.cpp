#include "cli/cli_common.hpp"

#include <cmath>
#include <cstdio>

#include "cli/empty_values.hpp"
#include "imaging/pipeline.hpp"
#include "imaging/slide.hpp"
#include "models/text.hpp"

namespace ihc::cli {
namespace {

// A command made of subcommands (no arguments of its own): the first argument when it names none of them.
// None given (`ihcscore stains`): CLI11 said only "A subcommand is required"; the subcommands are listed.
std::optional<int> unknown_subcommand(CLI::App& app, const Args& args) {
  const auto subcommands = app.get_subcommands([](CLI::App*) { return true; });
  if (subcommands.empty()) return std::nullopt;
  if (!app.get_options([](const CLI::Option* o) { return o->get_positional(); }).empty()) return std::nullopt;
  const bool missing = args.empty() && app.get_require_subcommand_min() > 0;
  if (!missing && (args.empty() || args.front().empty() || args.front()[0] == '-')) return std::nullopt;
  std::vector<std::string> names;
  for (const CLI::App* sub : subcommands) {
    if (!missing && sub->check_name(args.front())) return std::nullopt;
    names.push_back(sub->get_name());
  }
  std::string hint;
  if (const std::string best = missing ? "" : closest_name(args.front(), names); !best.empty()) {
    hint = "did you mean '" + best + "'?";
  } else {
    for (std::size_t i = 0; i < names.size(); ++i) hint += (i > 0 ? ", '" : "'") + names[i] + "'";
    hint = (names.size() == 1 ? "expected " : "expected one of ") + hint;
  }
  if (missing) {
    std::fprintf(stderr, "%s: error: a subcommand is required (%s)\n", app.get_name().c_str(), hint.c_str());
  } else {
    std::fprintf(stderr, "%s: error: unknown subcommand '%s' (%s)\n", app.get_name().c_str(),
                 args.front().c_str(), hint.c_str());
  }
  return 1;
}

}  // namespace

std::optional<int> parse_command_line(CLI::App& app, const Args& args) {
  // CLI11 says only "A subcommand is required" for a mistyped or missing one: name it, and the one meant.
  if (auto stop = unknown_subcommand(app, args)) return stop;
  try {
    std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 consumes from the back
    app.parse(reversed);
    refuse_empty_values(app);
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

const CLI::Validator kMicronsPerPixel(
    [](std::string& text) -> std::string {
      double v = 0;
      if (!CLI::detail::lexical_cast(text, v) || !std::isfinite(v))
        return "Value " + text + " is not a number";
      return ihc::mpp_problem(v, text);
    },
    "UM_PER_PX");

ParamSet resolve_params(const std::string& preset, const std::string& params_file,
                        const std::vector<std::string>& sets) {
  ParamSet params = default_params(preset);
  if (!params_file.empty()) params.load_file(params_file);
  for (const auto& kv : sets) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos) throw ParamError("--set expects key=value, got '" + kv + "'");
    params.set(trim_blanks(kv.substr(0, eq)), trim_blanks(kv.substr(eq + 1)), "--set");
  }
  // The whole set, as score needs it: `params --show` must not print a file score then refuses.
  check_scoring_params(params);
  return params;
}

}  // namespace ihc::cli
