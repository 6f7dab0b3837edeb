#include "models/presets.hpp"

#include "ihc/presets_data.hpp"

namespace ihc {

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  for (const auto& [name, text] : generated::kPresets) names.emplace_back(name);
  return names;
}

std::string default_preset_name() { return std::string(generated::kPresets[0].first); }

std::string preset_text(const std::string& name) {
  std::string known;
  for (const auto& [preset, text] : generated::kPresets) {
    if (preset == name) return std::string(text);
    known += (known.empty() ? "" : ", ") + std::string(preset);
  }
  throw ParamError("unknown preset '" + name + "' (known: " + known + ")");
}

void apply_preset(ParamSet& params, const std::string& name) {
  params.load_text(preset_text(name), name + ".params");
}

}  // namespace ihc
