// ihcscore params: the resolved parameters as a file that --params reads back.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/commands.hpp"
#include "imaging/pipeline.hpp"
#include "models/presets.hpp"

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
  try {
    std::vector<std::string> reversed(args.rbegin(), args.rend());
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 1;
  }
  (void)show;
  if (list_presets) {
    for (const auto& n : preset_names())
      std::printf("%s%s\n", n.c_str(), n == default_preset_name() ? " (default)" : "");
    return 0;
  }
  try {
    ParamSet params = default_params(preset);
    if (!params_file.empty()) params.load_file(params_file);
    for (const auto& kv : sets) {
      const auto eq = kv.find('=');
      if (eq == std::string::npos) throw ParamError("--set expects key=value, got '" + kv + "'");
      auto trim = [](std::string s) {
        const auto a = s.find_first_not_of(" \t");
        const auto b = s.find_last_not_of(" \t");
        return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
      };
      params.set(trim(kv.substr(0, eq)), trim(kv.substr(eq + 1)), "--set");
    }
    std::printf("# preset: %s\n%s",
                preset.empty() ? (default_preset_name() + " (default)").c_str() : preset.c_str(),
                params.to_text().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ihcscore params: error: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace ihc::cli
