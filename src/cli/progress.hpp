#pragma once
// Batch progress on stderr. On a terminal: one bar for the batch and one per slide being scored (tiles done /
// total, rate, time left), redrawn in place at most 10 times a second and at least 4 times (so the elapsed
// time moves while a slide has no tiles to count). Without a terminal (CI, nohup, pipes): one line per
// finished slide, "[i/N] name ok 12.3s" or "[i/N] name FAILED reason 0.2s".
// The bars never reach the terminal's last column (its width is read again at each redraw, so a resized
// window is followed without a SIGWINCH handler): a narrow terminal first loses the least useful fields, then
// bar and name shrink; a line that wrapped would break the redraw, which moves up one row per line.
// The batch's time left is by work, not by slides: each slide weighs its file's bytes (a 2 GB slide is more
// work than a 2 MB image), the slides being scored count their tiles done, and slides reused by --resume are
// no work (counted as slides, they made the first estimate of a resumed run a fraction of the truth).
// Rates are measured from the first tiles on (opening a slide and finding its tissue count no tiles) over the
// last 20 s, and no time left is shown ("estimating") before 10 s of it and 2% of the work (a slide: 5 s and
// 5% of its tiles), or a minute: the first seconds of a batch (30000^2 px) promised 5-12 minutes for 40 s.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ihc::cli {

class Progress {
 public:
  using Clock = std::chrono::steady_clock;

  // One weight per slide (slide_weight; any positive unit). `interactive`: isatty(stderr); quiet prints
  // nothing but the final summary line.
  Progress(std::vector<double> weights, std::FILE* out, bool interactive, bool quiet = false);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
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
  void finish();                          // clears the bars; nothing is redrawn after
  // Fraction of the batch's work done (0-1): what the time left is extrapolated from.
  double work_done_fraction();

  // Tests. A clock instead of steady_clock (and then no redraw timer: redraws come from the calls only), and
  // a width instead of the terminal's (0: the terminal's, else COLUMNS, else 80).
  void set_clock(std::function<Clock::time_point()> now);
  void set_columns(int columns);
  // The bar lines a redraw would draw now, without their escape sequences.
  std::vector<std::string> bar_lines();

 private:
  // A rate over the last seconds: value samples at least half a second apart, the oldest within the window.
  class Rate {
   public:
    void start(Clock::time_point t, double value);
    void add(Clock::time_point t, double value);
    bool started() const { return !samples_.empty(); }
    double seconds(Clock::time_point now) const;  // since start
    double per_second(Clock::time_point now, double value) const;

   private:
    std::deque<std::pair<Clock::time_point, double>> samples_;
    Clock::time_point since_;
  };
  struct Active {
    std::string name;
    int done = 0;
    int total = 0;
    Clock::time_point started;
    Rate rate;  // tiles, from the first tiles() with a total
  };
  Clock::time_point now() const;
  int columns() const;
  std::vector<std::string> lines_locked(int columns);
  void redraw_locked(bool force);
  void print_locked(const std::string& text);  // permanent lines, above the bars
  void clear_locked(std::string& frame, int columns);
  double work_done_locked() const;
  void note_work_locked();
  void start_ticker_locked();
  void stop_ticker();

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
  bool closed_ = false;     // finish() was called
  std::vector<int> drawn_;  // the columns of each line on screen
  std::map<int, Active> active_;
  Rate work_rate_;  // the batch's work, from the first tiles() with a total
  std::function<Clock::time_point()> clock_;
  int fixed_columns_ = 0;
  Clock::time_point start_;
  Clock::time_point last_draw_;
  bool ticking_ = true;  // redraw on a timer (not with a test clock)
  bool stopping_ = false;
  std::condition_variable tick_;
  std::thread ticker_;
};

// "1m05s", "12.3s", "2h03m".
std::string format_duration(double seconds);

// The columns `text` takes on a terminal (UTF-8; East Asian wide characters take two).
int display_columns(const std::string& text);

// A slide's work, in bytes: its file, plus the folder of its pieces where the format keeps them beside it
// (MIRAX `s.mrxs` + `s/`, Olympus `s.vsi` + `_s_/`); 1 when nothing can be read.
double slide_weight(const std::filesystem::path& path);

}  // namespace ihc::cli
