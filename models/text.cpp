#include "models/text.hpp"

#include <algorithm>
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
  for (const auto& name : names) {
    // A name `typed` begins (or that begins `typed`) is the common slip: a unit or the last letters left out.
    const bool prefix = typed.size() >= 3 && (name.rfind(typed, 0) == 0 || typed.rfind(name, 0) == 0);
    const std::size_t score = prefix ? 0 : edit_distance(typed, name);
    if (best.empty() || score < best_score) {
      best = name;
      best_score = score;
    }
  }
  const std::size_t allowed = std::max<std::size_t>(2, typed.size() / 3);
  return !best.empty() && best_score <= allowed ? best : std::string();
}

}  // namespace ihc
