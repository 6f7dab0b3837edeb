#include "cli/progress.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "support/test_support.hpp"

namespace fs = std::filesystem;
using ihc::cli::Progress;

namespace {

std::string written(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string text;
  char buf[256];
  while (std::fgets(buf, sizeof buf, f) != nullptr) text += buf;
  return text;
}

}  // namespace

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
