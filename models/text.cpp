#include "models/text.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <utility>

namespace ihc {

std::string trim_blanks(std::string_view s) {
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  std::size_t b = 0, e = s.size();
  while (b < e && blank(s[b])) ++b;
  while (e > b && blank(s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

std::string ascii_lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string closest_name(const std::string& typed, const std::vector<std::string>& names) {
  std::string best;
  std::size_t best_score = 0;
  // Case aside: SIGMA_UM is sigma_um (it was 8 edits away, so nothing was suggested).
  const std::string lower = ascii_lower(typed);
  for (const auto& name : names) {
    // A name `typed` begins (or that begins `typed`) is the common slip: a unit or the last letters left out.
    const std::string candidate = ascii_lower(name);
    const bool prefix =
        lower.size() >= 3 && (candidate.rfind(lower, 0) == 0 || lower.rfind(candidate, 0) == 0);
    const std::size_t score = prefix ? 0 : edit_distance(lower, candidate);
    if (best.empty() || score < best_score) {
      best = name;
      best_score = score;
    }
  }
  const std::size_t allowed = std::max<std::size_t>(2, typed.size() / 3);
  return !best.empty() && best_score <= allowed ? best : std::string();
}

std::uint64_t fnv1a(std::string_view bytes, std::uint64_t h) {
  for (const char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001B3ULL;
  }
  return h;
}

std::pair<std::size_t, char32_t> utf8_at(std::string_view s, std::size_t i, bool* cut) {
  if (cut != nullptr) *cut = false;
  const std::size_t n = s.size();
  const auto c = static_cast<unsigned char>(s[i]);
  int extra = 0;
  char32_t cp = 0;
  if (c < 0x80) return {1, c};
  if (c >= 0xC2 && c <= 0xDF) {
    extra = 1, cp = c & 0x1Fu;
  } else if (c >= 0xE0 && c <= 0xEF) {
    extra = 2, cp = c & 0x0Fu;
  } else if (c >= 0xF0 && c <= 0xF4) {
    extra = 3, cp = c & 0x07u;
  } else {
    return {0, 0};
  }
  for (int k = 1; k <= extra; ++k) {
    if (i + static_cast<std::size_t>(k) >= n) {  // the end of `s` cuts the character
      if (cut != nullptr) *cut = true;
      return {0, 0};
    }
    const auto d = static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]);
    if ((d & 0xC0u) != 0x80u) return {0, 0};
    cp = (cp << 6) | (d & 0x3Fu);
  }
  const bool overlong = (extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000);
  if (overlong || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return {0, 0};
  return {static_cast<std::size_t>(extra) + 1, cp};
}

std::size_t utf8_prefix(std::string_view s, bool* cut) {
  std::size_t i = 0;
  if (cut != nullptr) *cut = false;
  while (i < s.size()) {
    const std::size_t len = utf8_at(s, i, cut).first;
    if (len == 0) return i;
    i += len;
  }
  return s.size();
}

bool is_utf8(std::string_view s) { return utf8_prefix(s) == s.size(); }

std::string as_utf8(std::string_view s) {
  if (is_utf8(s)) return std::string(s);
  // Windows-1252's 0x80-0x9F; the unassigned 0x81, 0x8D, 0x8F, 0x90, 0x9D stay the C1 controls they are in
  // Latin-1. 0xA0-0xFF are U+00A0-U+00FF.
  static constexpr std::array<std::uint16_t, 32> kHigh = {
      0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
      0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
      0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};
  std::string out;
  out.reserve(s.size() + s.size() / 2);
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    const std::uint32_t cp = c >= 0x80 && c < 0xA0 ? kHigh[c - 0x80] : c;
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  return out;
}

bool JsonStringSkipper::outside_string(std::string_view text, std::size_t& i) {
  const char c = text[i];
  if (in_string_) {
    if (c == '\\') {
      ++i;  // the escaped character, a quote included
    } else if (c == '"') {
      in_string_ = false;
    }
    return false;
  }
  if (c == '"') {
    in_string_ = true;
    return false;
  }
  return true;
}

std::string json_depth_problem(std::string_view text) {
  std::size_t depth = 0;
  JsonStringSkipper skipper;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (!skipper.outside_string(text, i)) continue;
    const char c = text[i];
    if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) {
        return "JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels (byte " +
               std::to_string(i) + ")";
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return {};
}

std::string json_parse_problem(std::string_view text, nlohmann::json* out) {
  if (std::string deep = json_depth_problem(text); !deep.empty()) return deep;
  try {
    *out = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {  // syntax, or a number beyond a double: 1e400
    return json_error_text(e.what());
  }
  return {};
}

namespace {

// nlohmann's message without its code: "[json.exception.parse_error.101] " goes.
std::string_view without_json_code(std::string_view what) {
  if (!what.empty() && what.front() == '[') {
    const std::size_t end = what.find("] ");
    if (end != std::string_view::npos) what.remove_prefix(end + 2);
  }
  return what;
}

}  // namespace

std::string json_value_error_text(const std::string& what) {
  return "unexpected JSON value: " + std::string(without_json_code(what));
}

std::string json_error_text(const std::string& what) {
  std::string_view rest = without_json_code(what);
  std::string out = "not valid JSON";
  constexpr std::string_view kAt = "parse error at ";
  constexpr std::string_view kPlain = "parse error: ";
  if (rest.substr(0, kAt.size()) == kAt) {
    rest.remove_prefix(kAt.size());
    out += " at ";
  } else {
    if (rest.substr(0, kPlain.size()) == kPlain) rest.remove_prefix(kPlain.size());
    out += ": ";
  }
  constexpr std::string_view kLastRead = "; last read: '";
  const std::size_t token = rest.find(kLastRead);
  if (token == std::string_view::npos) return out.append(rest);
  out.append(rest.substr(0, token + kLastRead.size()));
  std::string_view read = rest.substr(token + kLastRead.size());
  if (!read.empty() && read.back() == '\'') read.remove_suffix(1);
  constexpr std::size_t kMaxToken = 60;
  if (read.size() <= kMaxToken) return out.append(read).append("'");
  return out.append(read.substr(0, utf8_prefix(read.substr(0, kMaxToken)))).append("...'");
}

std::string json_text(const nlohmann::json& j, int indent) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string json_excerpt(const nlohmann::json& j, std::size_t max_chars) {
  std::string text = json_text(j);
  if (text.size() <= max_chars) return text;
  text.resize(utf8_prefix(std::string_view(text).substr(0, max_chars)));
  return text + "...";
}

}  // namespace ihc
