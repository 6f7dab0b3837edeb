#include "cli/progress.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "support/test_support.hpp"

namespace fs = std::filesystem;
using ihc::cli::display_columns;
using ihc::cli::Progress;
using Clock = Progress::Clock;

namespace {

std::string written(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string text;
  char buf[256];
  while (std::fgets(buf, sizeof buf, f) != nullptr) text += buf;
  return text;
}

// A clock the test moves by hand.
struct FakeClock {
  Clock::time_point t{std::chrono::hours(1)};
  void at(double seconds) {
    t = Clock::time_point{std::chrono::hours(1)} +
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  }
};

// A Progress writing to a temporary file (closed with it), timed by its own fake clock, `columns` wide.
struct Rig {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file{std::tmpfile(), &std::fclose};
  std::FILE* out = file.get();
  FakeClock clock;
  Progress p;
  Rig(std::vector<double> weights, bool interactive, int columns) : p(std::move(weights), out, interactive) {
    p.set_clock([this] { return clock.t; });
    p.set_columns(columns);
  }
};

bool contains(const std::vector<std::string>& lines, const std::string& text) {
  for (const auto& l : lines) {
    if (l.find(text) != std::string::npos) return true;
  }
  return false;
}

// The seconds of the "~1m05s left" in `line`, -1 without one.
double eta_seconds(const std::string& line) {
  const std::size_t at = line.find('~');
  if (at == std::string::npos) return -1;
  int h = 0, m = 0;
  double sec = 0;
  const char* p = line.c_str() + at + 1;
  if (std::sscanf(p, "%dh%dm", &h, &m) == 2) return h * 3600.0 + m * 60.0;
  if (std::sscanf(p, "%dm%lfs", &m, &sec) == 2) return m * 60.0 + sec;
  if (std::sscanf(p, "%lfs", &sec) == 1) return sec;
  return -1;
}

// The screen a terminal of `columns` shows after `bytes`: wraps at the last column (as xterm and tmux do),
// understands the redraw's "\033[1A" (up), "\r" and "\033[2K" (erase line). Rows that are left empty at
// the end are dropped.
std::vector<std::string> screen(const std::string& bytes, int columns) {
  std::vector<std::string> rows(1);
  std::size_t row = 0;
  int col = 0;
  const auto put = [&](const std::string& ch) {
    if (col == columns) {  // the deferred wrap
      ++row;
      col = 0;
    }
    if (row >= rows.size()) rows.resize(row + 1);
    std::string& r = rows[row];
    // Rows hold one byte per column here: the names of these tests are ASCII where they are drawn wrapped.
    if (static_cast<int>(r.size()) <= col) r.resize(static_cast<std::size_t>(col), ' ');
    r.replace(static_cast<std::size_t>(col), std::min(r.size() - static_cast<std::size_t>(col), ch.size()),
              ch);
    ++col;
  };
  for (std::size_t i = 0; i < bytes.size();) {
    if (bytes.compare(i, 4, "\033[1A") == 0) {
      if (row > 0) --row;
      i += 4;
    } else if (bytes.compare(i, 4, "\033[2K") == 0) {
      if (row < rows.size()) rows[row].clear();
      i += 4;
    } else if (bytes[i] == '\r') {
      col = 0;
      ++i;
    } else if (bytes[i] == '\n') {
      ++row;
      col = 0;
      if (row >= rows.size()) rows.resize(row + 1);
      ++i;
    } else {
      std::size_t n = 1;
      while (i + n < bytes.size() && (static_cast<unsigned char>(bytes[i + n]) & 0xC0) == 0x80) ++n;
      put(bytes.substr(i, n));
      i += n;
    }
  }
  while (!rows.empty() && rows.back().empty()) rows.pop_back();
  return rows;
}

}  // namespace

// On an 80-column terminal every bar was 85-93 columns: each wrapped, the redraw moved up one row per line
// and the wrapped rests piled up. Each line fits in the width less one column, losing fields, then bar and
// name, as the terminal narrows.
TEST(Progress, BarLinesFitTheTerminal) {
  for (const int columns : {120, 80, 60, 40, 24, 8}) {
    SCOPED_TRACE(columns);
    Rig rig({4e9, 1e6, 1e6, 1e6, 1e6}, true, columns);
    ASSERT_NE(rig.out, nullptr);
    FakeClock& clock = rig.clock;
    Progress& p = rig.p;
    p.slide_started(0, "cohort-2024/HER2/patient-000123-block-07-section-02.svs");
    p.slide_started(1, "ki67_\xe6\x9f\x93\xe8\x89\xb2_\xe7\x97\x85\xe7\x90\x86.png");  // wide characters
    p.slide_started(2, "line\nbreak.jpg");
    p.slide_started(3, "short.png");
    clock.at(3);
    p.tiles(0, 0, 12000);
    p.tiles(1, 0, 1);
    p.tiles(3, 1, 1);
    for (int s = 4; s <= 70; ++s) {
      clock.at(s);
      p.tiles(0, (s - 3) * 40, 12000);
    }
    p.slide_finished(4, "failed.tif", true, "cannot open", 0.1);
    clock.at(71);
    const std::vector<std::string> lines = p.bar_lines();
    ASSERT_EQ(lines.size(), 5U);
    for (const auto& l : lines) {
      EXPECT_LE(display_columns(l), columns - 1) << l;
      EXPECT_EQ(l.find('\n'), std::string::npos) << l;
    }
    if (columns >= 80) {
      EXPECT_TRUE(contains(lines, "1/5 slides, 1 failed")) << lines[0];
      EXPECT_TRUE(contains(lines, "2680/12000 tiles")) << lines[1];
      EXPECT_TRUE(contains(lines, "left")) << lines[1];
      EXPECT_TRUE(contains(lines, "detecting whole image")) << lines[2];
      EXPECT_TRUE(contains(lines, "line?break.jpg")) << lines[3];
    }
    if (columns >= 40) {
      EXPECT_EQ(lines[0].rfind("batch ", 0), 0U) << lines[0];
      EXPECT_NE(lines[0].find("1/5 slides"), std::string::npos) << lines[0];
      EXPECT_NE(lines[1].find("2680/12000 tiles"), std::string::npos) << lines[1];
      EXPECT_NE(lines[2].find("detecting whole image"), std::string::npos) << lines[2];
      EXPECT_NE(lines[4].find("short.png"), std::string::npos) << lines[4];
      EXPECT_NE(lines[4].find("writing results"), std::string::npos) << lines[4];
    }
    p.finish();
  }
}

// What a terminal shows: the bars redrawn in place, no wrapped rest left behind, and after finish() only the
// lines that stay (finished slides, messages).
TEST(Progress, RedrawLeavesOnlyTheLinesThatStay) {
  for (const int columns : {80, 60, 30}) {
    SCOPED_TRACE(columns);
    Rig rig({3e9, 2e6, 1e6}, true, columns);
    ASSERT_NE(rig.out, nullptr);
    FakeClock& clock = rig.clock;
    Progress& p = rig.p;
    std::vector<std::string> stays;  // the lines that stay, as they come
    // What the screen must show: the lines that stay (wrapped by the terminal), then the bars.
    const auto expected = [&] {
      std::vector<std::string> rows;
      for (const auto& l : stays) {
        for (std::size_t at = 0; at < l.size(); at += static_cast<std::size_t>(columns)) {
          rows.push_back(l.substr(at, static_cast<std::size_t>(columns)));
        }
      }
      for (const auto& l : p.bar_lines()) rows.push_back(l);
      return rows;
    };
    p.slide_started(0, "a-rather-long-slide-name-from-a-scanner-export-0001.svs");
    p.slide_started(1, "whole.png");
    for (int s = 1; s <= 30; ++s) {
      clock.at(s - 0.5);  // a redraw comes at most every 0.1 s
      if (s == 2) p.tiles(1, 0, 1);
      if (s == 5) {
        p.message("warning: whole.png: something to say");
        stays.emplace_back("warning: whole.png: something to say");
      }
      if (s == 9) p.tiles(1, 1, 1);
      if (s == 10) {
        p.slide_finished(1, "whole.png", false, "ok", 10.0);
        stays.emplace_back("[1/3] whole.png ok 10.0s");
      }
      if (s == 12) p.slide_started(2, "third.jpg");
      if (s == 20) {
        p.slide_finished(2, "third.jpg", true, "cannot read", 8.0);
        stays.emplace_back("[2/3] third.jpg FAILED cannot read 8.0s");
      }
      clock.at(s);
      p.tiles(0, s * 10, 400);
      const std::vector<std::string> bars = p.bar_lines();
      for (const auto& l : bars) EXPECT_LE(display_columns(l), columns - 1) << l;
      EXPECT_EQ(screen(written(rig.out), columns), expected()) << "at " << s << " s";
    }
    p.tiles(0, 400, 400);
    p.slide_finished(0, "a-rather-long-slide-name-from-a-scanner-export-0001.svs", false, "ok", 31.0);
    p.finish();
    const std::vector<std::string> rows = screen(written(rig.out), 1000);
    const std::vector<std::string> want = {
        "warning: whole.png: something to say", "[1/3] whole.png ok 10.0s",
        "[2/3] third.jpg FAILED cannot read 8.0s",
        "[3/3] a-rather-long-slide-name-from-a-scanner-export-0001.svs ok 31.0s"};
    EXPECT_EQ(rows, want);
  }
}

// A batch of a 30000^2 px slide and small images (40 s in all) said "~5m22s left" at 3 s and its slide
// "~12m07s left" at 7 s: opening the slide and finding its tissue counted as time with no tiles done. No time
// left is shown before 10 s of tile work and 2% of the batch (a slide: 5 s and 5% of its tiles); after, it
// comes from the rate over the last 20 s.
TEST(Progress, NoTimeLeftBeforeEnoughWorkIsMeasured) {
  Rig rig({1000, 10, 10}, true, 200);
  ASSERT_NE(rig.out, nullptr);
  FakeClock& clock = rig.clock;
  Progress& p = rig.p;
  p.slide_started(0, "big.svs");
  clock.at(2.5);  // opening, tissue
  std::vector<std::string> lines = p.bar_lines();
  EXPECT_NE(lines[0].find("estimating time left"), std::string::npos) << lines[0];
  EXPECT_EQ(lines[1], "  big.svs preparing, 2.5s elapsed");
  p.tiles(0, 0, 2000);
  // Slow first tiles: extrapolated from the start of the batch they promised 13 minutes.
  int done = 0;
  for (int k = 1; k <= 8; ++k) {
    clock.at(2.5 + 0.5 * k);
    p.tiles(0, done += 2, 2000);
  }
  lines = p.bar_lines();  // 6.5 s: 16 tiles in 4 s of tile work
  EXPECT_EQ(lines[0].find('~'), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("estimating time left"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("16/2000 tiles"), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("estimating time left"), std::string::npos) << lines[1];
  // Then 100 tiles/s.
  double t = 6.5;
  const auto run_to = [&](double until) {
    while (t < until) {
      t += 0.5;
      clock.at(t);
      p.tiles(0, done += 50, 2000);
    }
  };
  run_to(9.5);  // 316 tiles: 7 s of tile work and 16% of the slide's; 15% of the batch but under 10 s
  lines = p.bar_lines();
  EXPECT_NE(lines[0].find("estimating time left"), std::string::npos) << lines[0];
  EXPECT_GT(eta_seconds(lines[1]), 10.0) << lines[1];
  EXPECT_LT(eta_seconds(lines[1]), 40.0) << lines[1];
  run_to(14.5);  // 816 tiles: 1184 left at 100/s, 11.8 s (and the two small images)
  lines = p.bar_lines();
  EXPECT_GT(eta_seconds(lines[0]), 10.0) << lines[0];
  EXPECT_LT(eta_seconds(lines[0]), 25.0) << lines[0];
  EXPECT_GT(eta_seconds(lines[1]), 10.0) << lines[1];
  EXPECT_LT(eta_seconds(lines[1]), 20.0) << lines[1];
  EXPECT_NE(lines[1].find("tiles/s"), std::string::npos) << lines[1];
}

// A batch whose work is not measured for a minute (one slow slide) still gets a time left then.
TEST(Progress, TimeLeftAfterAMinuteEvenWithLittleWorkDone) {
  Rig rig({100000, 10}, true, 200);
  ASSERT_NE(rig.out, nullptr);
  FakeClock& clock = rig.clock;
  Progress& p = rig.p;
  p.slide_started(0, "huge.svs");
  p.tiles(0, 0, 100000);
  for (int s = 1; s <= 59; ++s) {
    clock.at(s);
    p.tiles(0, s * 10, 100000);
  }
  EXPECT_NE(p.bar_lines()[0].find("estimating time left"), std::string::npos) << p.bar_lines()[0];
  clock.at(61);
  p.tiles(0, 610, 100000);
  EXPECT_GT(eta_seconds(p.bar_lines()[0]), 9000.0) << p.bar_lines()[0];
  EXPECT_GT(eta_seconds(p.bar_lines()[1]), 9000.0) << p.bar_lines()[1];
}

// A plain image is detected whole: it has no tiles to count, a rate or a time left.
TEST(Progress, AWholeImageSaysWhatItIsDoing) {
  Rig rig({5, 5}, true, 80);
  ASSERT_NE(rig.out, nullptr);
  FakeClock& clock = rig.clock;
  Progress& p = rig.p;
  p.slide_started(0, "field.png");
  clock.at(1.2);
  EXPECT_EQ(p.bar_lines()[1], "  field.png preparing, 1.2s elapsed");
  p.tiles(0, 0, 1);
  clock.at(7.3);
  EXPECT_EQ(p.bar_lines()[1], "  field.png detecting whole image, 7.3s elapsed");
  p.tiles(0, 1, 1);
  clock.at(8.0);
  EXPECT_EQ(p.bar_lines()[1], "  field.png writing results, 8.0s elapsed");
  for (const auto& l : p.bar_lines()) {
    EXPECT_EQ(l.find("0/0"), std::string::npos) << l;
    EXPECT_EQ(l.find("~?"), std::string::npos) << l;
  }
}

// Without a terminal: one line per finished slide, and messages, nothing else (scripts and CI read these).
TEST(Progress, WithoutATerminalOneLinePerSlide) {
  Rig rig({5, 5}, false, 20);
  ASSERT_NE(rig.out, nullptr);
  Progress& p = rig.p;
  p.slide_started(0, "a-long-name-longer-than-the-width.svs");
  p.tiles(0, 3, 10);
  p.slide_started(1, "b.png");
  p.message("warning: b.png: a message longer than twenty columns");
  p.slide_finished(1, "b.png", true, "cannot read", 0.25);
  p.tiles(0, 10, 10);
  p.slide_finished(0, "a-long-name-longer-than-the-width.svs", false, "ok", 12.34);
  p.finish();
  EXPECT_EQ(written(rig.out),
            "warning: b.png: a message longer than twenty columns\n[1/2] b.png FAILED cannot read 0.2s\n"
            "[2/2] a-long-name-longer-than-the-width.svs ok 12.3s\n");
}

// A resumed run of 100 slides with 99 complete said "~0.5s left" for a last slide of an hour: the reused
// slides counted as work done in no time. Work is by weight, and reused slides are no work.
TEST(Progress, WorkIsWeightedAndReusedSlidesAreNoWork) {
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  Progress p({100, 1, 1}, out, false);
  EXPECT_DOUBLE_EQ(p.work_done_fraction(), 0.0);
  p.slide_reused(1, "done-before", "complete (resumed)");
  EXPECT_DOUBLE_EQ(p.work_done_fraction(), 0.0);
  p.slide_started(0, "big");
  p.tiles(0, 50, 100);
  EXPECT_DOUBLE_EQ(p.work_done_fraction(), 50.0 / 101.0);
  p.slide_started(2, "small");
  p.slide_finished(2, "small", false, "ok", 1.0);
  EXPECT_DOUBLE_EQ(p.work_done_fraction(), 51.0 / 101.0);
  p.slide_finished(0, "big", false, "ok", 60.0);
  EXPECT_DOUBLE_EQ(p.work_done_fraction(), 1.0);
  EXPECT_EQ(written(out),
            "[1/3] done-before complete (resumed) 0.0s\n[2/3] small ok 1.0s\n[3/3] big ok 60.0s\n");
  std::fclose(out);
}

TEST(Progress, ASlideWeighsItsFileAndTheFolderOfItsPieces) {
  const fs::path dir = ihc::test::temp_dir("progress_weight");
  std::ofstream(dir / "a.svs") << std::string(1000, 'x');
  std::ofstream(dir / "m.mrxs") << std::string(10, 'x');
  fs::create_directories(dir / "m" / "sub");
  std::ofstream(dir / "m" / "Data0000.dat") << std::string(500, 'x');
  std::ofstream(dir / "m" / "sub" / "Slidedat.ini") << std::string(300, 'x');
  std::ofstream(dir / "o.vsi") << std::string(20, 'x');
  fs::create_directories(dir / "_o_" / "stack1");
  std::ofstream(dir / "_o_" / "stack1" / "frame_t.ets") << std::string(700, 'x');
  EXPECT_DOUBLE_EQ(ihc::cli::slide_weight(dir / "a.svs"), 1000.0);
  EXPECT_DOUBLE_EQ(ihc::cli::slide_weight(dir / "m.mrxs"), 810.0);
  EXPECT_DOUBLE_EQ(ihc::cli::slide_weight(dir / "o.vsi"), 720.0);
  EXPECT_DOUBLE_EQ(ihc::cli::slide_weight(dir / "missing.svs"), 1.0);
  // A folder beside an image of another format is not its pieces.
  std::ofstream(dir / "m.png") << std::string(5, 'x');
  EXPECT_DOUBLE_EQ(ihc::cli::slide_weight(dir / "m.png"), 5.0);
}
