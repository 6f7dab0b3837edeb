#include "cli/progress.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <utility>

#include "models/text.hpp"

namespace ihc::cli {

namespace {

using Clock = Progress::Clock;

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// When the time left is shown: after this much measured work, and this fraction of it (or a minute).
constexpr double kBatchEtaSeconds = 10;
constexpr double kBatchEtaFraction = 0.02;
constexpr double kSlideEtaSeconds = 5;
constexpr double kSlideEtaFraction = 0.05;
constexpr double kEtaAnywaySeconds = 60;
constexpr auto kRateWindow = std::chrono::seconds(20);
constexpr auto kRateSampleSpacing = std::chrono::milliseconds(500);
constexpr auto kMinRedraw = std::chrono::milliseconds(100);
constexpr auto kTick = std::chrono::milliseconds(250);
constexpr int kBatchBar = 30;
constexpr int kSlideBar = 20;
constexpr int kMinBar = 10;
constexpr int kNameColumns = 28;

int columns_of(char32_t cp) {
  const bool wide = (cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0xA4CF) ||
                    (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
                    (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
                    (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x1F300 && cp <= 0x1F64F) ||
                    (cp >= 0x1F900 && cp <= 0x1F9FF) || (cp >= 0x20000 && cp <= 0x3FFFD);
  return wide ? 2 : 1;
}

// A name as the bars show it: control characters (a newline in a file name would break the redraw) and
// bytes that are not UTF-8 become '?'.
std::string printable(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    const auto [n, cp] = utf8_at(s, i);
    if (n == 0 || cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) {
      out += '?';
      i += std::max<std::size_t>(n, 1);
    } else {
      out.append(s, i, n);
      i += n;
    }
  }
  return out;
}

// The longest start of `s` (from the end when `from_end`) that takes at most `cols` columns.
std::string clip(const std::string& s, int cols, bool from_end = false) {
  std::vector<std::pair<std::size_t, int>> points;  // byte offset, columns
  for (std::size_t i = 0; i < s.size();) {
    const auto [n, cp] = utf8_at(s, i);
    points.emplace_back(i, n == 0 ? 1 : columns_of(cp));
    i += std::max<std::size_t>(n, 1);
  }
  int used = 0;
  if (!from_end) {
    for (const auto& [at, c] : points) {
      if (used + c > cols) return s.substr(0, at);
      used += c;
    }
    return s;
  }
  for (auto it = points.rbegin(); it != points.rend(); ++it) {
    if (used + it->second > cols) return s.substr(std::prev(it)->first);
    used += it->second;
  }
  return s;
}

// `s` in at most `cols` columns: its start and end around "..." when it is longer.
std::string elide(const std::string& s, int cols) {
  if (display_columns(s) <= cols) return s;
  if (cols <= 3) return clip(s, cols);
  const int head = (cols - 3) / 3;
  return clip(s, head) + "..." + clip(s, cols - 3 - head, true);
}

std::string bar(double fraction, int width) {
  fraction = std::min(1.0, std::max(0.0, fraction));
  const int full = static_cast<int>(std::lround(fraction * width));
  return "[" + std::string(static_cast<std::size_t>(full), '#') +
         std::string(static_cast<std::size_t>(width - full), '.') + "]";
}

// A bar line: a lead ("batch" or an indented name), a bar, then fields joined by ", ". A field of priority 0
// stays; the others go, highest number first, when the line does not fit.
struct Field {
  std::string text;
  int priority = 0;
};
struct Line {
  std::string lead;
  bool has_name = false;
  std::string name;
  int name_cols = 0;
  int bar_cols = 0;  // 0: no bar
  double fraction = 0;
  std::vector<Field> fields;
};

std::string render(const Line& l) {
  std::string s = l.lead;
  if (l.has_name) {
    const std::string name = elide(l.name, l.name_cols);
    s += name + std::string(static_cast<std::size_t>(std::max(0, l.name_cols - display_columns(name))), ' ');
  }
  if (l.bar_cols > 0) s += " " + bar(l.fraction, l.bar_cols);
  for (std::size_t i = 0; i < l.fields.size(); ++i) s += (i == 0 ? " " : ", ") + l.fields[i].text;
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

// `l` in at most `cols` columns: without the fields of priority 3 and up, a bar of 10, without priority 2, a
// name of 12, no bar, without priority 1, a name of 6; cut when even that is too long.
std::string fit(Line l, int cols) {
  const auto over = [&] { return display_columns(render(l)) - cols; };
  const auto drop = [&](int priority) {
    while (over() > 0) {
      auto worst = l.fields.end();
      for (auto it = l.fields.begin(); it != l.fields.end(); ++it) {
        if (it->priority >= priority && (worst == l.fields.end() || it->priority >= worst->priority))
          worst = it;
      }
      if (worst == l.fields.end()) return;
      l.fields.erase(worst);
    }
  };
  const auto shrink_bar = [&](int to) {
    if (l.bar_cols > to && over() > 0) l.bar_cols = std::max(to, l.bar_cols - over());
  };
  const auto shrink_name = [&](int to) {
    if (l.has_name && l.name_cols > to && over() > 0) l.name_cols = std::max(to, l.name_cols - over());
  };
  drop(3);
  shrink_bar(kMinBar);
  drop(2);
  shrink_name(12);
  if (over() > 0) l.bar_cols = 0;
  drop(1);
  shrink_name(6);
  return clip(render(l), cols);
}

}  // namespace

int display_columns(const std::string& s) {
  int cols = 0;
  for (std::size_t i = 0; i < s.size();) {
    const auto [n, cp] = utf8_at(s, i);
    cols += n == 0 ? 1 : columns_of(cp);
    i += std::max<std::size_t>(n, 1);
  }
  return cols;
}

std::string format_duration(double s) {
  char buf[32];
  if (!std::isfinite(s) || s < 0) return "?";
  if (s < 60) {
    std::snprintf(buf, sizeof(buf), "%.1fs", s);
  } else if (s < 3600) {
    std::snprintf(buf, sizeof(buf), "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%dh%02dm", static_cast<int>(s) / 3600, (static_cast<int>(s) / 60) % 60);
  }
  return buf;
}

bool Progress::stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }

double slide_weight(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  double bytes = 0;
  if (fs::is_regular_file(path, ec)) bytes = static_cast<double>(fs::file_size(path, ec));
  if (ec) bytes = 0;
  const std::string ext = ascii_lower(path.extension().string());
  const std::string stem = path.stem().string();
  fs::path pieces;
  if (ext == ".mrxs") pieces = path.parent_path() / stem;
  if (ext == ".vsi") pieces = path.parent_path() / ("_" + stem + "_");
  if (pieces.empty() || !fs::is_directory(pieces, ec)) return std::max(bytes, 1.0);
  for (auto it = fs::recursive_directory_iterator(pieces, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) bytes += static_cast<double>(it->file_size(size_ec));
  }
  return std::max(bytes, 1.0);
}

void Progress::Rate::start(Clock::time_point t, double value) {
  samples_.assign(1, {t, value});
  since_ = t;
}

void Progress::Rate::add(Clock::time_point t, double value) {
  if (samples_.empty()) return;
  if (t - samples_.back().first >= kRateSampleSpacing) samples_.emplace_back(t, value);
  while (samples_.size() > 1 && samples_[1].first <= t - kRateWindow) samples_.pop_front();
}

double Progress::Rate::seconds(Clock::time_point now) const {
  return samples_.empty() ? 0.0 : seconds_between(since_, now);
}

double Progress::Rate::per_second(Clock::time_point now, double value) const {
  if (samples_.empty()) return NAN;
  const double dt = seconds_between(samples_.front().first, now);
  return dt > 0 ? (value - samples_.front().second) / dt : NAN;
}

Progress::Progress(std::vector<double> weights, std::FILE* out, bool interactive, bool quiet)
    : out_(out),
      interactive_(interactive),
      quiet_(quiet),
      weights_(std::move(weights)),
      total_(static_cast<int>(weights_.size())),
      start_(Clock::now()) {
  for (const double w : weights_) total_work_ += w;
}

Progress::~Progress() { stop_ticker(); }

void Progress::set_clock(std::function<Clock::time_point()> now) {
  std::lock_guard<std::mutex> lock(mutex_);
  clock_ = std::move(now);
  ticking_ = false;
  start_ = clock_();
  last_draw_ = start_ - std::chrono::seconds(1);
}

void Progress::set_columns(int columns) {
  std::lock_guard<std::mutex> lock(mutex_);
  fixed_columns_ = columns;
}

Clock::time_point Progress::now() const { return clock_ ? clock_() : Clock::now(); }

int Progress::columns() const {
  if (fixed_columns_ > 0) return fixed_columns_;
  winsize ws{};
  if (::ioctl(::fileno(out_), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  if (const char* env = std::getenv("COLUMNS")) {
    const int c = std::atoi(env);
    if (c > 0) return c;
  }
  return 80;
}

double Progress::work_done_locked() const {
  double done = finished_work_;
  for (const auto& [index, a] : active_) {
    if (a.total > 0) done += weights_[static_cast<std::size_t>(index)] * a.done / a.total;
  }
  return done;
}

double Progress::work_done_fraction() {
  std::lock_guard<std::mutex> lock(mutex_);
  return total_work_ > 0 ? std::min(1.0, work_done_locked() / total_work_) : 1.0;
}

void Progress::note_work_locked() { work_rate_.add(now(), work_done_locked()); }

void Progress::slide_started(int index, const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  Active a;
  a.name = name;
  a.started = now();
  active_[index] = std::move(a);
  start_ticker_locked();
  redraw_locked(true);
}

void Progress::tiles(int index, int done, int total) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = active_.find(index);
  if (it == active_.end()) return;
  Active& a = it->second;
  const auto t = now();
  if (total > 0 && !a.rate.started()) a.rate.start(t, done);
  if (total > 0 && !work_rate_.started()) work_rate_.start(t, work_done_locked());
  a.done = done;
  a.total = total;
  a.rate.add(t, done);
  note_work_locked();
  redraw_locked(false);
}

void Progress::slide_finished(int index, const std::string& name, bool failed, const std::string& status,
                              double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  active_.erase(index);
  ++finished_;
  finished_work_ += weights_[static_cast<std::size_t>(index)];
  if (failed) ++failed_;
  note_work_locked();
  if (quiet_ && !failed) return;
  char line[64];
  std::snprintf(line, sizeof(line), "[%d/%d] ", finished_, total_);
  char secs[32];
  std::snprintf(secs, sizeof(secs), "%.1fs", seconds);
  print_locked(line + name + " " + (failed ? "FAILED " : "") + status + " " + secs + "\n");
}

void Progress::slide_reused(int index, const std::string& name, const std::string& status) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    total_work_ -= weights_[static_cast<std::size_t>(index)];
    weights_[static_cast<std::size_t>(index)] = 0;
  }
  slide_finished(index, name, false, status, 0.0);
}

void Progress::message(const std::string& line) {
  std::lock_guard<std::mutex> lock(mutex_);
  print_locked(line + "\n");
}

void Progress::finish() {
  stop_ticker();
  std::lock_guard<std::mutex> lock(mutex_);
  std::string frame;
  if (interactive_) clear_locked(frame, columns());
  closed_ = true;
  if (!frame.empty()) std::fwrite(frame.data(), 1, frame.size(), out_);
  std::fflush(out_);
}

std::vector<std::string> Progress::bar_lines() {
  std::lock_guard<std::mutex> lock(mutex_);
  return lines_locked(columns());
}

void Progress::start_ticker_locked() {
  if (!interactive_ || quiet_ || !ticking_ || closed_ || stopping_ || ticker_.joinable()) return;
  ticker_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stopping_) {
      tick_.wait_for(lock, kTick);
      if (!stopping_) redraw_locked(false);
    }
  });
}

void Progress::stop_ticker() {
  std::thread ticker;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    ticker = std::move(ticker_);
  }
  tick_.notify_all();
  if (ticker.joinable()) ticker.join();
}

// Moves up over the lines drawn, as many rows as each takes now (a narrower terminal may have rewrapped
// them), erasing each.
void Progress::clear_locked(std::string& frame, int columns) {
  for (const int cols : drawn_) {
    const int rows = std::max(1, (cols + columns - 1) / std::max(1, columns));
    for (int r = 0; r < rows; ++r) frame += "\033[1A\r\033[2K";
  }
  drawn_.clear();
}

void Progress::print_locked(const std::string& text) {
  std::string frame;
  const bool bars = interactive_ && !quiet_ && !closed_;
  const int cols = bars ? columns() : 0;
  if (bars) clear_locked(frame, cols);
  frame += text;
  if (bars) {
    for (const std::string& l : lines_locked(cols)) {
      frame += l + "\n";
      drawn_.push_back(display_columns(l));
    }
    last_draw_ = now();
  }
  if (!frame.empty()) std::fwrite(frame.data(), 1, frame.size(), out_);
  std::fflush(out_);
}

void Progress::redraw_locked(bool force) {
  if (!interactive_ || quiet_ || closed_) return;
  if (!force && now() - last_draw_ < kMinRedraw) return;
  print_locked("");
}

std::vector<std::string> Progress::lines_locked(int columns) {
  const int width = std::max(1, columns - 1);  // the last column is left empty: no terminal wraps there
  const auto t = now();
  std::vector<std::string> lines;

  const double done = work_done_locked();
  const double fraction = total_work_ > 0 ? std::min(1.0, done / total_work_) : 1.0;
  Line batch;
  batch.lead = "batch";
  batch.bar_cols = kBatchBar;
  batch.fraction = fraction;
  batch.fields.push_back({std::to_string(finished_) + "/" + std::to_string(total_) + " slides", 0});
  batch.fields.push_back({std::to_string(failed_) + " failed", failed_ > 0 ? 1 : 3});
  batch.fields.push_back({format_duration(seconds_between(start_, t)) + " elapsed", 2});
  std::string eta = "estimating time left";
  const double measured = work_rate_.seconds(t);
  const double rate = work_rate_.per_second(t, done);
  if (fraction >= 1) {
    eta.clear();
  } else if (measured >= kBatchEtaSeconds &&
             (fraction >= kBatchEtaFraction || measured >= kEtaAnywaySeconds) && rate > 0) {
    eta = "~" + format_duration((total_work_ - done) / rate) + " left";
  }
  if (!eta.empty()) batch.fields.push_back({eta, 1});
  lines.push_back(fit(batch, width));

  int name_cols = 0;
  for (const auto& [index, a] : active_) name_cols = std::max(name_cols, display_columns(printable(a.name)));
  name_cols = std::min(name_cols, kNameColumns);
  for (const auto& [index, a] : active_) {
    Line l;
    l.lead = "  ";
    l.has_name = true;
    l.name = printable(a.name);
    l.name_cols = name_cols;
    const std::string elapsed = format_duration(seconds_between(a.started, t)) + " elapsed";
    if (a.total <= 0) {
      // Opening the slide, its overview and tissue: no tiles to count yet.
      l.fields = {{"preparing", 0}, {elapsed, 1}};
    } else if (a.done >= a.total) {
      // Scores, overlays and tables.
      if (a.total > 1) {
        l.bar_cols = kSlideBar;
        l.fraction = 1;
        l.fields.push_back({std::to_string(a.done) + "/" + std::to_string(a.total) + " tiles", 2});
      }
      l.fields.push_back({"writing results", 0});
      l.fields.push_back({elapsed, 1});
    } else if (a.total == 1) {
      // A plain image is detected whole, in one call that says nothing until it ends.
      l.fields = {{"detecting whole image", 0}, {elapsed, 1}};
    } else {
      l.bar_cols = kSlideBar;
      l.fraction = static_cast<double>(a.done) / a.total;
      l.fields.push_back({std::to_string(a.done) + "/" + std::to_string(a.total) + " tiles", 0});
      const double secs = a.rate.seconds(t);
      const double tiles_per_s = a.rate.per_second(t, a.done);
      if (secs >= 1 && tiles_per_s >= 0) {
        char buf[32];
        std::snprintf(buf, sizeof(buf), "%.1f tiles/s", tiles_per_s);
        l.fields.push_back({buf, 2});
      }
      std::string left = "estimating time left";
      if (secs >= kSlideEtaSeconds && (l.fraction >= kSlideEtaFraction || secs >= kEtaAnywaySeconds) &&
          tiles_per_s > 0) {
        left = "~" + format_duration((a.total - a.done) / tiles_per_s) + " left";
      }
      l.fields.push_back({left, 1});
    }
    lines.push_back(fit(l, width));
  }
  return lines;
}

}  // namespace ihc::cli
