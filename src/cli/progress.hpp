#pragma once
// Batch progress on stderr. On a terminal: one bar for the batch and one per slide being scored (tiles done /
// total, rate, time left), redrawn in place at most 10 times a second. Without a terminal (CI, nohup, pipes):
// one line per finished slide, "[i/N] name ok 12.3s" or "[i/N] name FAILED reason 0.2s".
// The batch's time left is by work, not by slides: each slide weighs its file's bytes (a 2 GB slide is more
// work than a 2 MB image), the slides being scored count their tiles done, and slides reused by --resume are
// no work (counted as slides, they made the first estimate of a resumed run a fraction of the truth).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace ihc::cli {

class Progress {
 public:
  // One weight per slide (slide_weight; any positive unit). `interactive`: isatty(stderr); quiet prints
  // nothing but the final summary line.
  Progress(std::vector<double> weights, std::FILE* out, bool interactive, bool quiet = false);
  static bool stderr_is_terminal();

  // All thread-safe.
  void slide_started(int index, const std::string& name);
  void tiles(int index, int done, int total);
  // `status` is "ok", "skipped (complete)" or the failure reason (failed = true).
  void slide_finished(int index, const std::string& name, bool failed, const std::string& status,
                      double seconds);
  // A slide whose results are reused (--resume): printed as finished, and its weight leaves the work.
  void slide_reused(int index, const std::string& name, const std::string& status);
  void message(const std::string& line);  // a warning line that must not be overwritten by the bars
  void finish();                          // clears the bars
  // Fraction of the batch's work done (0-1): what the time left is extrapolated from.
  double work_done_fraction();

 private:
  struct Active {
    std::string name;
    int done = 0;
    int total = 0;
    std::chrono::steady_clock::time_point started;
  };
  void redraw_locked(bool force);
  void clear_locked();
  double work_done_locked() const;

  std::mutex mutex_;
  std::FILE* out_;
  bool interactive_;
  bool quiet_;
  std::vector<double> weights_;
  double total_work_ = 0;
  double finished_work_ = 0;
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

// A slide's work, in bytes: its file, plus the folder of its pieces where the format keeps them beside it
// (MIRAX `s.mrxs` + `s/`, Olympus `s.vsi` + `_s_/`); 1 when nothing can be read.
double slide_weight(const std::filesystem::path& path);

}  // namespace ihc::cli
