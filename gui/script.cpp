#include "gui/script.hpp"

#include <GLFW/glfw3.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iterator>
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
    {"widget", 1, -1},
    {"summary-region", 1, 1},
    {"filter", 1, 1},
    {"override", 2, -1},
    {"clear-override", 0, 0},
    {"param", 2, -1},
    {"panel", 2, 2},
    {"load-params", 1, 1},
    {"save-params", 1, 1},
    {"browse", 1, 2},
    {"type", 1, -1},
    {"press", 1, 1},
    {"score", 0, 2},
    {"save", 0, 0},
    {"export-geojson", 1, 1},
    {"export-summary", 1, 1},
    {"export-regions", 1, 1},
    {"screenshot", 1, 1},
    {"expect-pixel", 4, 4},
    {"expect-class", 2, 2},
    {"expect-class-at", 3, 3},
    {"expect-count", 2, 2},
    {"expect-status", 1, -1},
    {"expect-no-status", 1, -1},
    {"bench-pan", 3, 4},
    {"close", 0, 0},
    {"quit", 0, 0},
};
const char* const kNumeric[] = {
    "size",      "frames",         "zoom",    "pan",        "center",           "center-at",
    "mouse",     "wheel",          "opacity", "thresholds", "threshold-single", "select-range",
    "bench-pan", "summary-region", "wait"};
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
    if (c.name == "display") {
      if (std::find(std::begin(kDisplayWords), std::end(kDisplayWords), c.args[0]) ==
          std::end(kDisplayWords)) {
        throw ScriptError(origin + ":" + std::to_string(n) + ": display: '" + c.args[0] +
                          "' is not one of outline, cells, nuclei, fill, centroid");
      }
    }
    if (c.name == "press") {
      KeyChord chord;
      const std::string why = parse_key_chord(c.args[0], &chord);
      if (!why.empty()) throw ScriptError(origin + ":" + std::to_string(n) + ": press: " + why);
    }
    for (const auto& a : c.args) {
      if (c.name == "score" && a != "region" && a != "nowait") {
        throw ScriptError(origin + ":" + std::to_string(n) + ": score: unknown word '" + a +
                          "' (region, nowait)");
      }
    }
    std::vector<unsigned int> text;
    if (c.name == "type" && !utf8_code_points(c.args[0], &text)) {
      throw ScriptError(origin + ":" + std::to_string(n) + ": type: the text is not valid UTF-8");
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

std::string parse_key_chord(const std::string& name, KeyChord* out) {
  static const std::pair<const char*, int> kModifiers[] = {{"ctrl", GLFW_MOD_CONTROL},
                                                           {"shift", GLFW_MOD_SHIFT},
                                                           {"alt", GLFW_MOD_ALT},
                                                           {"super", GLFW_MOD_SUPER}};
  static const std::pair<const char*, int> kNamed[] = {{"enter", GLFW_KEY_ENTER},
                                                       {"tab", GLFW_KEY_TAB},
                                                       {"backspace", GLFW_KEY_BACKSPACE},
                                                       {"delete", GLFW_KEY_DELETE},
                                                       {"escape", GLFW_KEY_ESCAPE},
                                                       {"space", GLFW_KEY_SPACE},
                                                       {"insert", GLFW_KEY_INSERT},
                                                       {"home", GLFW_KEY_HOME},
                                                       {"end", GLFW_KEY_END},
                                                       {"pageup", GLFW_KEY_PAGE_UP},
                                                       {"pagedown", GLFW_KEY_PAGE_DOWN},
                                                       {"left", GLFW_KEY_LEFT},
                                                       {"right", GLFW_KEY_RIGHT},
                                                       {"up", GLFW_KEY_UP},
                                                       {"down", GLFW_KEY_DOWN},
                                                       {"kp-enter", GLFW_KEY_KP_ENTER}};
  std::string rest = name;
  std::transform(rest.begin(), rest.end(), rest.begin(), [](unsigned char ch) { return std::tolower(ch); });
  KeyChord k;
  for (std::size_t plus; (plus = rest.find('+')) != std::string::npos && plus + 1 < rest.size();) {
    const std::string part = rest.substr(0, plus);
    const auto* m = std::find_if(std::begin(kModifiers), std::end(kModifiers),
                                 [&](const auto& mod) { return part == mod.first; });
    if (m == std::end(kModifiers))
      return "unknown modifier '" + part + "' in '" + name + "' (ctrl, shift, alt, super)";
    if (k.mods & m->second) return "'" + part + "' named twice in '" + name + "'";
    k.mods |= m->second;
    rest = rest.substr(plus + 1);
  }
  const bool plain = (k.mods & (GLFW_MOD_CONTROL | GLFW_MOD_ALT | GLFW_MOD_SUPER)) == 0;
  const bool shift = (k.mods & GLFW_MOD_SHIFT) != 0;
  if (rest.size() == 1 && rest[0] >= 'a' && rest[0] <= 'z') {
    k.key = GLFW_KEY_A + (rest[0] - 'a');
    if (plain) k.character = static_cast<unsigned int>(shift ? rest[0] - 'a' + 'A' : rest[0]);
  } else if (rest.size() == 1 && rest[0] >= '0' && rest[0] <= '9') {
    k.key = GLFW_KEY_0 + (rest[0] - '0');
    if (plain) k.character = static_cast<unsigned char>(rest[0]);
  } else if (rest.size() >= 2 && rest.size() <= 3 && rest[0] == 'f' &&
             std::all_of(rest.begin() + 1, rest.end(), [](unsigned char ch) { return std::isdigit(ch); }) &&
             std::stoi(rest.substr(1)) >= 1 && std::stoi(rest.substr(1)) <= 12) {
    k.key = GLFW_KEY_F1 + std::stoi(rest.substr(1)) - 1;
  } else {
    const auto* named = std::find_if(std::begin(kNamed), std::end(kNamed),
                                     [&](const auto& key) { return rest == key.first; });
    if (named == std::end(kNamed)) {
      return "unknown key '" + name +
             "' (a-z, 0-9, f1-f12, enter, tab, backspace, delete, escape, space, insert, home, end, pageup, "
             "pagedown, left, right, up, down, kp-enter; after ctrl+, shift+, alt+, super+)";
    }
    k.key = named->second;
    if (k.key == GLFW_KEY_SPACE && plain) k.character = ' ';
  }
  if (shift && plain && k.key >= GLFW_KEY_0 && k.key <= GLFW_KEY_9) {
    return "'" + name +
           "': what Shift with this key types depends on the keyboard layout (type gives characters)";
  }
  *out = k;
  return "";
}

bool utf8_code_points(const std::string& text, std::vector<unsigned int>* out) {
  out->clear();
  for (std::size_t i = 0; i < text.size();) {
    const auto b = static_cast<unsigned char>(text[i]);
    const int extra = b < 0x80             ? 0
                      : (b & 0xE0) == 0xC0 ? 1
                      : (b & 0xF0) == 0xE0 ? 2
                      : (b & 0xF8) == 0xF0 ? 3
                                           : -1;
    if (extra < 0 || i + static_cast<std::size_t>(extra) >= text.size()) return false;
    unsigned int cp = extra == 0 ? b : b & (0x3F >> extra);
    for (int j = 1; j <= extra; ++j) {
      const auto c = static_cast<unsigned char>(text[i + j]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    // Overlong forms and surrogates are not UTF-8.
    static const unsigned int kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    out->push_back(cp);
    i += static_cast<std::size_t>(extra) + 1;
  }
  return true;
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
