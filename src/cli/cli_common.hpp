#pragma once
// What every ihcscore sub-command does the same way: option parsing and parameter resolution.
#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "models/parameters.hpp"

namespace ihc::cli {

// Parses `args` with CLI11. Returns the exit status when the command must stop here (0 after --help, 1 after
// a usage error, which CLI11 has printed), or nothing to go on. A command of subcommands given an unknown one
// says so with the one meant: "ihcscore stains: error: unknown subcommand 'estimat' (did you mean
// 'estimate'?)".
std::optional<int> parse_command_line(CLI::App& app, const Args& args);

// A finite number > 0 (sizes in um or px). CLI::PositiveNumber lets "nan" through: NaN fails every
// comparison.
extern const CLI::Validator kPositiveFinite;
// A pixel size in um/px a microscope image can have (imaging::mpp_problem): --mpp 1e-9 failed late, in a
// blur.
extern const CLI::Validator kMicronsPerPixel;

// The parameters every command shares, resolved in the documented order: the preset, then the parameter file,
// then each `--set key=value` (later wins), over all_param_specs(), then checked whole (check_scoring_params:
// between keys, the measurement name). Throws ParamError naming each key and where its value came from.
ParamSet resolve_params(const std::string& preset, const std::string& params_file,
                        const std::vector<std::string>& sets);

}  // namespace ihc::cli
