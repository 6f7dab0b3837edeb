// ihcscore params: the resolved parameters as a file that --params reads back.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>

#include "cli/cli_common.hpp"
#include "cli/commands.hpp"
#include "imaging/pipeline.hpp"
#include "models/presets.hpp"
#include "models/text.hpp"

namespace ihc::cli {

int run_params(const Args& args) {
  std::string preset, params_file;
  std::vector<std::string> sets;
  bool show = false, list_presets = false;
  CLI::App app{
      "Prints the resolved parameters (preset, then --params file, then --set) as a parameter file with the "
      "unit\nand a one-line help per key; edit it and pass it to 'ihcscore score --params'.",
      "ihcscore params"};
  app.add_flag("--show", show, "Print the resolved parameters (the default action)");
  app.add_flag("--presets", list_presets, "List the preset names");
  app.add_option("--preset", preset, "dsg2 (default) or ki67");
  app.add_option("--params", params_file, "Parameter file applied after the preset");
  app.add_option("--set", sets, "key=value applied last (repeatable)");
  if (auto stop = parse_command_line(app, args)) return *stop;
  (void)show;
  if (list_presets) {
    for (const auto& n : preset_names())
      std::printf("%s%s\n", n.c_str(), n == default_preset_name() ? " (default)" : "");
    return 0;
  }
  try {
    const ParamSet params = resolve_params(preset, params_file, sets);
    // What the values were built from, each source once: "preset ki67, then p.params, then --set sigma_um".
    std::string from = "preset " + (preset.empty() ? default_preset_name() + " (default)" : preset);
    if (!params_file.empty()) from += ", then " + params_file;
    std::vector<std::string> keys;
    for (const auto& kv : sets) {
      const std::string key = trim_blanks(kv.substr(0, kv.find('=')));
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
    }
    if (!keys.empty()) from += ", then --set " + join(keys, ", ");
    std::printf("# built from: %s\n%s", from.c_str(), params.to_text().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ihcscore params: error: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace ihc::cli
