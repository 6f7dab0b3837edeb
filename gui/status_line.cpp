#include "gui/status_line.hpp"

#include <cctype>

namespace ihc::gui {

namespace {

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }
bool continuation_byte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// One word with its path shortened: quotes and brackets around it and a trailing ':' or ',' stay.
std::string shorten_word(const std::string& word) {
  const std::size_t lead = word.find_first_not_of("'\"([");
  const std::size_t last = word.find_last_not_of("'\")],:;.");
  if (lead == std::string::npos || last == std::string::npos || last < lead) return word;
  const std::string core = word.substr(lead, last + 1 - lead);
  const std::size_t slash = core.rfind('/');
  // "/tmp" or "dir/" gain nothing; "https://host" is not a path of ours.
  if (slash == std::string::npos || slash < 4 || slash + 1 == core.size() ||
      core.find("//") != std::string::npos)
    return word;
  return word.substr(0, lead) + ".../" + core.substr(slash + 1) + word.substr(last + 1);
}

}  // namespace

std::string shorten_paths(const std::string& text) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    if (is_space(text[i])) {
      out += text[i++];
      continue;
    }
    std::size_t end = i;
    while (end < text.size() && !is_space(text[end])) ++end;
    out += shorten_word(text.substr(i, end - i));
    i = end;
  }
  return out;
}

std::string elide_middle(const std::string& text, float width, const TextWidth& text_width) {
  if (text_width(text) <= width) return text;
  // The most characters kept that fit, found by bisection (the width grows with what is kept).
  auto cut = [&](std::size_t kept) {
    std::size_t head = kept * 2 / 5, tail = text.size() - (kept - kept * 2 / 5);
    while (head > 0 && continuation_byte(text[head])) --head;  // whole UTF-8 characters only
    while (tail < text.size() && continuation_byte(text[tail])) ++tail;
    return text.substr(0, head) + "..." + text.substr(tail);
  };
  std::size_t lo = 0, hi = text.size();
  while (lo < hi) {
    const std::size_t mid = (lo + hi + 1) / 2;
    if (text_width(cut(mid)) <= width) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return cut(lo);
}

std::string fit_status(const StatusParts& parts, float width, const TextWidth& text_width) {
  const std::string kept = parts.view + parts.scores;
  for (const std::string& line :
       {parts.whole(), parts.view + parts.position + parts.scores + parts.message, kept + parts.message}) {
    if (text_width(line) <= width) return line;
  }
  const std::string message = shorten_paths(parts.message);
  std::string line = kept + message;
  if (text_width(line) <= width) return line;
  // The message keeps the room the view leaves it; in a very narrow window the whole line is cut instead.
  const float room = width - text_width(kept);
  if (room < text_width("Save failed: ...")) return elide_middle(line, width, text_width);
  return kept + elide_middle(message, room, text_width);
}

}  // namespace ihc::gui
