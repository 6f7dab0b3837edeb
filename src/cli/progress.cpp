#include "cli/progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "models/text.hpp"

namespace ihc::cli {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string bar(double fraction, int width) {
  fraction = std::min(1.0, std::max(0.0, fraction));
  const int full = static_cast<int>(std::lround(fraction * width));
  return "[" + std::string(static_cast<std::size_t>(full), '#') +
         std::string(static_cast<std::size_t>(width - full), '.') + "]";
}

std::string shorten(const std::string& s, std::size_t n) {
  return s.size() <= n ? s : "..." + s.substr(s.size() - (n - 3));
}

}  // namespace

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

Progress::Progress(std::vector<double> weights, std::FILE* out, bool interactive, bool quiet)
    : out_(out),
      interactive_(interactive),
      quiet_(quiet),
      weights_(std::move(weights)),
      total_(static_cast<int>(weights_.size())),
      start_(Clock::now()) {
  for (const double w : weights_) total_work_ += w;
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

void Progress::slide_started(int index, const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  active_[index] = Active{name, 0, 0, Clock::now()};
  redraw_locked(true);
}

void Progress::tiles(int index, int done, int total) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = active_.find(index);
  if (it == active_.end()) return;
  it->second.done = done;
  it->second.total = total;
  redraw_locked(false);
}

void Progress::slide_finished(int index, const std::string& name, bool failed, const std::string& status,
                              double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  active_.erase(index);
  ++finished_;
  finished_work_ += weights_[static_cast<std::size_t>(index)];
  if (failed) ++failed_;
  if (quiet_ && !failed) return;
  clear_locked();
  char secs[32];
  std::snprintf(secs, sizeof(secs), "%.1fs", seconds);
  (void)index;
  std::fprintf(out_, "[%d/%d] %s %s%s %s\n", finished_, total_, name.c_str(), failed ? "FAILED " : "",
               status.c_str(), secs);
  redraw_locked(true);
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
  clear_locked();
  std::fprintf(out_, "%s\n", line.c_str());
  redraw_locked(true);
}

void Progress::finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  clear_locked();
  std::fflush(out_);
}

void Progress::clear_locked() {
  if (!interactive_ || drawn_lines_ == 0) return;
  for (int i = 0; i < drawn_lines_; ++i) std::fputs("\033[1A\r\033[2K", out_);
  drawn_lines_ = 0;
}

void Progress::redraw_locked(bool force) {
  if (!interactive_ || quiet_) return;
  const auto now = Clock::now();
  if (!force && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  clear_locked();
  const double elapsed = seconds_since(start_);
  const double done = work_done_locked();
  const double fraction = total_work_ > 0 ? std::min(1.0, done / total_work_) : 1.0;
  const double left = done > 0 ? elapsed * (total_work_ - done) / done : NAN;
  std::fprintf(out_, "batch %s %d/%d slides, %d failed, %s elapsed, ~%s left\n", bar(fraction, 30).c_str(),
               finished_, total_, failed_, format_duration(elapsed).c_str(), format_duration(left).c_str());
  drawn_lines_ = 1;
  for (const auto& [index, a] : active_) {
    const double t = seconds_since(a.started);
    const double rate = t > 0 ? a.done / t : 0.0;
    const double left = rate > 0 ? (a.total - a.done) / rate : NAN;
    std::fprintf(out_, "  %-28s %s %d/%d tiles, %.1f tiles/s, ~%s left\n", shorten(a.name, 28).c_str(),
                 bar(a.total > 0 ? static_cast<double>(a.done) / a.total : 0.0, 20).c_str(), a.done, a.total,
                 rate, format_duration(left).c_str());
    ++drawn_lines_;
  }
  std::fflush(out_);
}

}  // namespace ihc::cli
