#include "gui/script.hpp"

#include <fstream>
#include <sstream>

namespace ihc::gui {

namespace {
struct Spec {
  const char* name;
  int min_args;
  int max_args;  // -1: rest of the line is free text
};
constexpr Spec kSpecs[] = {
    {"size", 2, 2},
    {"open", 1, 1},
    {"results", 1, 1},
    {"wait", 0, 1},
    {"frames", 1, 1},
    {"fit", 0, 0},
    {"one-to-one", 0, 0},
    {"zoom", 1, 3},
    {"pan", 2, 2},
    {"center", 3, 3},
    {"center-at", 3, 3},
    {"mouse", 2, 2},
    {"click", 2, 3},
    {"dblclick", 2, 2},
    {"drag", 4, 6},
    {"wheel", 3, 3},
    {"key", 1, 1},
    {"tool", 1, 1},
    {"region-kind", 1, 1},
    {"channel", 1, 1},
    {"display", 1, 1},
    {"opacity", 1, 1},
    {"thresholds", 3, 3},
    {"threshold-single", 1, 1},
    {"select-class", 1, 1},
    {"select-range", 2, 2},
    {"select-none", 0, 0},
    {"filter", 1, 1},
    {"override", 2, -1},
    {"clear-override", 0, 0},
    {"param", 2, -1},
    {"panel", 2, 2},
    {"load-params", 1, 1},
    {"save-params", 1, 1},
    {"browse", 1, 2},
    {"score", 0, 1},
    {"save", 0, 0},
    {"export-geojson", 1, 1},
    {"export-summary", 1, 1},
    {"export-regions", 1, 1},
    {"screenshot", 1, 1},
    {"expect-pixel", 4, 4},
    {"expect-class", 2, 2},
    {"expect-class-at", 3, 3},
    {"expect-count", 2, 2},
    {"bench-pan", 3, 4},
    {"quit", 0, 0},
};
const char* const kNumeric[] = {
    "size",     "frames", "zoom",    "pan",        "center",           "center-at",
    "mouse",    "wheel",  "opacity", "thresholds", "threshold-single", "select-range",
    "bench-pan"};
}  // namespace

std::vector<ScriptCommand> parse_script(const std::string& text, const std::string& origin) {
  std::vector<ScriptCommand> out;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::istringstream words(line);
    ScriptCommand c;
    c.line = n;
    if (!(words >> c.name)) continue;
    const Spec* spec = nullptr;
    for (const auto& s : kSpecs) {
      if (c.name == s.name) spec = &s;
    }
    if (spec == nullptr) {
      throw ScriptError(origin + ":" + std::to_string(n) + ": unknown command '" + c.name + "'");
    }
    std::string w;
    while (words >> w) c.args.push_back(w);
    if (spec->max_args < 0 && static_cast<int>(c.args.size()) > spec->min_args) {
      // Free text (a reason) keeps its spaces as one argument.
      std::string rest;
      for (std::size_t i = static_cast<std::size_t>(spec->min_args) - 1; i < c.args.size(); ++i) {
        rest += (rest.empty() ? "" : " ") + c.args[i];
      }
      c.args.resize(static_cast<std::size_t>(spec->min_args) - 1);
      c.args.push_back(rest);
    }
    const int count = static_cast<int>(c.args.size());
    if (count < spec->min_args || (spec->max_args >= 0 && count > spec->max_args)) {
      const std::string want =
          spec->min_args == spec->max_args
              ? std::to_string(spec->min_args)
              : std::to_string(spec->min_args) +
                    (spec->max_args < 0 ? " or more" : "-" + std::to_string(spec->max_args));
      throw ScriptError(origin + ":" + std::to_string(n) + ": '" + c.name + "' takes " + want + " argument" +
                        (want == "1" ? "" : "s") + ", got " + std::to_string(count));
    }
    for (const char* numeric : kNumeric) {
      if (c.name != numeric) continue;
      const std::size_t last = c.name == "bench-pan" ? 3 : c.args.size();
      for (std::size_t i = 0; i < last && i < c.args.size(); ++i) script_number(c, i, origin);
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<ScriptCommand> load_script(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ScriptError(path + ": cannot open script");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_script(ss.str(), path);
}

double script_number(const ScriptCommand& c, std::size_t index, const std::string& origin) {
  const std::string& a = c.args.at(index);
  try {
    std::size_t used = 0;
    const double v = std::stod(a, &used);
    if (used == a.size()) return v;
  } catch (const std::exception&) {
  }
  throw ScriptError(origin + ":" + std::to_string(c.line) + ": '" + c.name + "' argument " +
                    std::to_string(index + 1) + " is not a number: '" + a + "'");
}

}  // namespace ihc::gui
