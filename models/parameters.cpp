#include "models/parameters.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <set>

#include "models/atomic_file.hpp"
#include "models/text.hpp"

namespace ihc {
namespace {

// Shortest text that parses back to the same double ("0.2", "1e+300").
std::string format_number(double v) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, res.ptr);
}

bool parse_int(const std::string& text, long long* out) {
  if (text.empty()) return false;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  if (*first == '+') ++first;
  auto res = std::from_chars(first, last, *out);
  return res.ec == std::errc() && res.ptr == last;
}

const char* type_name(ParamType t) {
  switch (t) {
    case ParamType::Double:
      return "a number";
    case ParamType::Int:
      return "an integer";
    case ParamType::Bool:
      return "true or false";
    case ParamType::Choice:
      return "a choice";
    case ParamType::String:
      return "text";
  }
  return "a value";
}

std::string quoted_list(const std::vector<std::string>& items) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ", ";
    out += "'" + items[i] + "'";
  }
  return out;
}

// "between 0 and 20", ">= 0", "<= 5", or "" for an unbounded number.
std::string range_text(const ParamSpec& spec, const char* between, const char* and_word) {
  const bool has_min = spec.min > -1e300;
  const bool has_max = spec.max < 1e300;
  if (has_min && has_max) return between + format_number(spec.min) + and_word + format_number(spec.max);
  if (has_min) return ">= " + format_number(spec.min);
  if (has_max) return "<= " + format_number(spec.max);
  return {};
}

// Type and range; returns the stored (normalised) text.
std::string check_type(const ParamSpec& spec, const std::string& raw, const std::string& where) {
  std::string value = trim_blanks(raw);  // not const: returned by move
  const std::string prefix = where + "parameter '" + spec.key + "' ";
  auto check_range = [&](double v) {
    if (v >= spec.min && v <= spec.max) return;
    throw ParamError(prefix + "must be " + range_text(spec, "between ", " and ") + ", got " + value);
  };
  switch (spec.type) {
    case ParamType::Double: {
      double v = 0.0;
      if (!parse_param_number(value, &v)) throw ParamError(prefix + "expects a number, got '" + value + "'");
      check_range(v);
      // Stored as the shortest text of the number: "1.50", "+1.5" and "15e-1" are one setting, in the
      // files written and in the hashes --resume compares.
      return format_number(v);
    }
    case ParamType::Int: {
      long long v = 0;
      if (!parse_int(value, &v) || v < std::numeric_limits<int>::min() ||
          v > std::numeric_limits<int>::max()) {
        throw ParamError(prefix + "expects an integer, got '" + value + "'");
      }
      check_range(static_cast<double>(v));
      return std::to_string(v);
    }
    case ParamType::Bool:
      if (value != "true" && value != "false") {
        throw ParamError(prefix + "expects true or false, got '" + value + "'");
      }
      return value;
    case ParamType::Choice:
      if (std::find(spec.choices.begin(), spec.choices.end(), value) == spec.choices.end()) {
        throw ParamError(prefix + "expects one of " + quoted_list(spec.choices) + ", got '" + value + "'");
      }
      return value;
    case ParamType::String:
      return value;
  }
  return value;
}

// The checks of one value against its spec; returns the stored (normalised) text.
std::string validate_value(const ParamSpec& spec, const std::string& raw, const std::string& where) {
  std::string value = check_type(spec, raw, where);
  if (spec.check) {
    if (const std::string why = spec.check(value); !why.empty()) {
      throw ParamError(where + "parameter '" + spec.key + "': " + why);
    }
  }
  return spec.normalize ? spec.normalize(value) : value;
}

std::string where_of(const std::string& origin) { return origin.empty() ? std::string() : origin + ": "; }

}  // namespace

bool parse_param_number(const std::string& text, double* out) {
  if (text.empty()) return false;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  if (*first == '+') ++first;  // from_chars rejects a leading '+', users write it
  auto res = std::from_chars(first, last, *out);
  return res.ec == std::errc() && res.ptr == last && std::isfinite(*out);
}

ParamSet::ParamSet(std::vector<ParamSpec> specs) : specs_(std::move(specs)) {
  std::set<std::string> seen;
  for (const auto& spec : specs_) {
    if (!seen.insert(spec.key).second) throw ParamError("parameter '" + spec.key + "' is declared twice");
    // A bad default is a programming error: say which declaration is wrong.
    values_[spec.key] = validate_value(spec, spec.default_value, "default of ");
  }
}

const ParamSpec* ParamSet::find(const std::string& key) const {
  for (const auto& spec : specs_) {
    if (spec.key == key) return &spec;
  }
  return nullptr;
}

void ParamSet::set(const std::string& key, const std::string& value, const std::string& origin) {
  const std::string where = where_of(origin);
  const ParamSpec* spec = find(key);
  if (spec == nullptr) {
    std::vector<std::string> keys;
    keys.reserve(specs_.size());
    for (const auto& s : specs_) keys.push_back(s.key);
    const std::string best = closest_name(key, keys);
    if (!best.empty()) {
      throw ParamError(where + "unknown parameter '" + key + "' (did you mean '" + best + "'?)");
    }
    throw ParamError(where + "unknown parameter '" + key + "'");
  }
  values_[key] = validate_value(*spec, value, where);
  origins_[key] = origin.empty() ? "--set" : origin;
}

std::string ParamSet::origin(const std::string& key) const {
  const auto it = origins_.find(key);
  return it == origins_.end() ? "default" : it->second;
}

std::string ParamSet::with_origins(const std::string& message) const {
  auto is_key_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  std::string from;
  for (const auto& spec : specs_) {
    // The key as a whole word: "threshold" is not named by "threshold_1plus".
    for (std::size_t at = message.find(spec.key); at != std::string::npos;
         at = message.find(spec.key, at + 1)) {
      const std::size_t end = at + spec.key.size();
      if ((at == 0 || !is_key_char(message[at - 1])) &&
          (end == message.size() || !is_key_char(message[end]))) {
        from += (from.empty() ? "" : ", ") + spec.key + " from " + origin(spec.key);
        break;
      }
    }
  }
  return from.empty() ? message : message + " (" + from + ")";
}

namespace {

// The lines of `text`, each ended by LF, CR LF or a CR alone (files from an old Mac).
std::vector<std::string> text_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find_first_of("\r\n", start);
    if (end == std::string::npos) {
      lines.push_back(text.substr(start));
      break;
    }
    lines.push_back(text.substr(start, end - start));
    start = end + (text.compare(end, 2, "\r\n") == 0 ? 2 : 1);
  }
  return lines;
}

// Where a comment starts: the first '#' outside double quotes, so a stain string's name may hold one
// ("My #1 stains": params --show wrote it, and reading that file back cut the stain string there).
std::size_t comment_start(const std::string& line) {
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (quoted && line[i] == '\\') {
      ++i;  // an escaped character, \" included
    } else if (line[i] == '"') {
      quoted = !quoted;
    } else if (line[i] == '#' && !quoted) {
      return i;
    }
  }
  return std::string::npos;
}

// A byte order mark, or the zero byte of an ASCII character in its first two bytes (UTF-16 without one).
bool is_utf16(const std::string& text) {
  if (text.compare(0, 2, "\xFF\xFE") == 0 || text.compare(0, 2, "\xFE\xFF") == 0) return true;
  return text.size() >= 2 && (text[0] == '\0') != (text[1] == '\0');
}

}  // namespace

void ParamSet::load_text(const std::string& text, const std::string& origin) {
  // Notepad's "Unicode" and PowerShell's '>' write it; read as bytes it is an unknown key of garbled text.
  if (is_utf16(text)) throw ParamError(origin + ": UTF-16 text: save it as UTF-8");
  ParamSet copy = *this;  // all or nothing: a bad line leaves the set unchanged
  std::map<std::string, int> line_of_key;
  int line_no = 0;
  for (std::string line : text_lines(text)) {
    ++line_no;
    if (line_no == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // UTF-8 byte order mark
    const std::string where = origin + ":" + std::to_string(line_no);
    const std::size_t hash = comment_start(line);
    const std::string content = trim_blanks(hash == std::string::npos ? line : line.substr(0, hash));
    if (content.empty()) continue;
    const std::size_t eq = content.find('=');
    if (eq == std::string::npos || trim_blanks(content.substr(0, eq)).empty()) {
      throw ParamError(where + ": expected 'key = value', got '" + content + "'");
    }
    const std::string key = trim_blanks(content.substr(0, eq));
    const std::string value = trim_blanks(content.substr(eq + 1));
    auto [it, inserted] = line_of_key.emplace(key, line_no);
    if (!inserted && copy.find(key) != nullptr) {
      throw ParamError(where + ": parameter '" + key + "' is set twice (first at line " +
                       std::to_string(it->second) + ")");
    }
    copy.set(key, value, where);
  }
  *this = std::move(copy);
}

void ParamSet::load_file(const std::string& path) {
  std::string text, error;
  if (!read_named_file(path, "parameter file", text, error)) throw ParamError(error);
  load_text(text, path);
}

std::string ParamSet::to_text() const {
  std::string out =
      "# ihcscore parameters: one 'key = value' per line; '#' starts a comment (not inside \"...\").\n"
      "# Keys not listed keep their defaults.\n";
  for (const auto& spec : specs_) {
    out += "\n# " + spec.label;
    if (!spec.unit.empty()) out += " [" + spec.unit + "]";
    out += ": " + spec.help;
    if (spec.type == ParamType::Choice) {
      out += " (one of: ";
      for (std::size_t i = 0; i < spec.choices.size(); ++i) out += (i > 0 ? " | " : "") + spec.choices[i];
      out += ")";
    } else if (spec.type == ParamType::Bool) {
      out += " (true | false)";
    } else if (spec.type == ParamType::Double || spec.type == ParamType::Int) {
      if (const std::string range = range_text(spec, "", " to "); !range.empty()) out += " (" + range + ")";
    }
    const std::string& value = values_.at(spec.key);
    out += "\n" + spec.key + (value.empty() ? " =" : " = " + value) + "\n";
  }
  return out;
}

namespace {

const ParamSpec& require_spec(const ParamSet& set, const std::string& key) {
  const ParamSpec* spec = set.find(key);
  if (spec == nullptr) throw ParamError("unknown parameter '" + key + "'");
  return *spec;
}

[[noreturn]] void wrong_type(const ParamSpec& spec, const char* wanted) {
  throw ParamError("parameter '" + spec.key + "' is " + type_name(spec.type) + ", not " + wanted);
}

}  // namespace

std::string ParamSet::get_string(const std::string& key) const {
  require_spec(*this, key);
  return values_.at(key);
}

double ParamSet::get_double(const std::string& key) const {
  const ParamSpec& spec = require_spec(*this, key);
  if (spec.type != ParamType::Double && spec.type != ParamType::Int) wrong_type(spec, "a number");
  double v = 0.0;
  parse_param_number(values_.at(key), &v);
  return v;
}

int ParamSet::get_int(const std::string& key) const {
  const ParamSpec& spec = require_spec(*this, key);
  if (spec.type != ParamType::Int) wrong_type(spec, "an integer");
  long long v = 0;
  parse_int(values_.at(key), &v);
  return static_cast<int>(v);
}

bool ParamSet::get_bool(const std::string& key) const {
  const ParamSpec& spec = require_spec(*this, key);
  if (spec.type != ParamType::Bool) wrong_type(spec, "true or false");
  return values_.at(key) == "true";
}

}  // namespace ihc
