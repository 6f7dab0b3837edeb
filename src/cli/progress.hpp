#pragma once
// Batch progress on stderr. On a terminal: one bar for the batch and one per slide being scored (tiles done /
// total, rate, time left), redrawn in place at most 10 times a second. Without a terminal (CI, nohup, pipes):
// one line per finished slide, "[i/N] name ok 12.3s" or "[i/N] name FAILED reason 0.2s".
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>

namespace ihc::cli {

class Progress {
 public:
  // `interactive` defaults to isatty(stderr); quiet prints nothing but the final summary line.
  Progress(int total_slides, std::FILE* out, bool interactive, bool quiet = false);
  static bool stderr_is_terminal();

  // All thread-safe.
  void slide_started(int index, const std::string& name);
  void tiles(int index, int done, int total);
  // `status` is "ok", "skipped (complete)" or the failure reason (failed = true).
  void slide_finished(int index, const std::string& name, bool failed, const std::string& status,
                      double seconds);
  void message(const std::string& line);  // a warning line that must not be overwritten by the bars
  void finish();                          // clears the bars

 private:
  struct Active {
    std::string name;
    int done = 0;
    int total = 0;
    std::chrono::steady_clock::time_point started;
  };
  void redraw_locked(bool force);
  void clear_locked();

  std::mutex mutex_;
  std::FILE* out_;
  bool interactive_;
  bool quiet_;
  int total_;
  int finished_ = 0;
  int failed_ = 0;
  int drawn_lines_ = 0;
  std::map<int, Active> active_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

// "1m05s", "12.3s", "2h03m".
std::string format_duration(double seconds);

}  // namespace ihc::cli
