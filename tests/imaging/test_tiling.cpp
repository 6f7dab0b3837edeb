#include "imaging/tiling.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <opencv2/core/utility.hpp>
#include <stdexcept>
#include <thread>
#include <vector>

namespace ihc {
namespace {

TEST(Tiling, CoresCoverTheImageOnceAndPaddingStaysInside) {
  const cv::Size size(1000, 700);
  const auto tiles = make_tiles(size, 256, 40);
  ASSERT_EQ(tiles.size(), 12u);  // 4 x 3
  cv::Mat cover = cv::Mat::zeros(size, CV_32S);
  for (const auto& t : tiles) {
    cover(t.core) += 1;
    EXPECT_EQ(t.padded & t.core, t.core);
    EXPECT_EQ(t.padded & cv::Rect(0, 0, size.width, size.height), t.padded);
    EXPECT_LE(t.padded.width, t.core.width + 80);
  }
  double lo = 0, hi = 0;
  cv::minMaxLoc(cover, &lo, &hi);
  EXPECT_EQ(lo, 1.0);
  EXPECT_EQ(hi, 1.0);
  EXPECT_EQ(tiles[5].padded, cv::Rect(256 - 40, 256 - 40, 256 + 80, 256 + 80));
}

TEST(Tiling, RejectsNonsenseSizes) {
  try {
    make_tiles(cv::Size(10, 10), 0, 4);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "tile size must be at least 1 px, got 0");
  }
  try {
    make_tiles(cv::Size(10, 10), 8, -1);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "tile overlap must be >= 0, got -1");
  }
}

// A tile core mapped to the pixels read must cover every pixel its cells can be in: edges round outward.
TEST(Tiling, ScaledRectsRoundOutward) {
  EXPECT_EQ(ihc::scale_rect_outward(cv::Rect(10, 20, 100, 50), 1.0, 1.0), cv::Rect(10, 20, 100, 50));
  EXPECT_EQ(ihc::scale_rect_outward(cv::Rect(10, 20, 100, 50), 0.5, 0.5), cv::Rect(5, 10, 50, 25));
  EXPECT_EQ(ihc::scale_rect_outward(cv::Rect(7, 9, 10, 10), 0.5, 0.5),
            cv::Rect(3, 4, 6, 6));  // 3.5 -> 3, 8.5 -> 9
  EXPECT_EQ(ihc::scale_rect_outward(cv::Rect(7, 9, 10, 10), 0.5, 0.5, 2), cv::Rect(1, 2, 10, 10));
  EXPECT_EQ(ihc::scale_rect_outward(cv::Rect(0, 0, 3, 3), 2.0, 3.0), cv::Rect(0, 0, 6, 9));
}

TEST(Tiling, RunsEveryTaskOnceOnSeveralWorkers) {
  std::vector<std::atomic<int>> seen(100);
  EXPECT_TRUE(run_tasks(100, 3, [&](int i) { ++seen[static_cast<std::size_t>(i)]; }));
  for (const auto& s : seen) EXPECT_EQ(s.load(), 1);
  EXPECT_GE(resolve_threads(0), 1);
  EXPECT_EQ(resolve_threads(5), 5);
}

TEST(Tiling, FirstErrorIsRethrownAndCancelStops) {
  try {
    run_tasks(50, 2, [](int i) {
      if (i == 7) throw std::runtime_error("tile 7 unreadable");
    });
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "tile 7 unreadable");
  }
  std::atomic<bool> cancel{false};
  std::atomic<int> done{0};
  const bool finished = run_tasks(
      1000, 2,
      [&](int) {
        if (++done == 10) cancel = true;
      },
      &cancel);
  EXPECT_FALSE(finished);
  EXPECT_LT(done.load(), 20);
}

TEST(Tiling, OpenCvCallsInsideWorkersStayOnTheWorkersThread) {
  // Nested pools (each worker's filters split again over the same cores) would oversubscribe them.
  std::atomic<int> foreign{0};
  run_tasks(8, 2, [&](int) {
    const std::thread::id me = std::this_thread::get_id();
    cv::parallel_for_(
        cv::Range(0, 16),
        [&](const cv::Range&) {
          if (std::this_thread::get_id() != me) ++foreign;
          std::this_thread::sleep_for(
              std::chrono::milliseconds(1));  // long enough for a pool to take stripes
        },
        16);
  });
  EXPECT_EQ(foreign.load(), 0);
}

// A cell whose nucleus is a w x h box at (x, y); its centroid the box centre.
Cell box_cell(float x, float y, float w, float h) {
  Cell c;
  c.nucleus = {{x, y}, {x + w, y}, {x + w, y + h}, {x, y + h}};
  c.boundary = c.nucleus;
  c.centroid = {x + w / 2, y + h / 2};
  return c;
}

// Two tiles meet at y = 100. The tile above outlined a nucleus on the seam with its centre just above it;
// the tile below outlined the same nucleus a little larger, centre just below: it is dropped, not the
// neighbour beside it nor a cell of the tile's own.
TEST(SeamCells, DropsANucleusTheTileAboveKeptButNotItsNeighbours) {
  SeamCells seams;
  const cv::Rect2d above(0, 0, 200, 100), below(0, 100, 200, 100);
  EXPECT_EQ(seams.admit(above, {box_cell(50, 90, 10, 19), box_cell(150, 40, 10, 10)}),
            (std::vector<std::uint8_t>{1, 1}));
  const std::vector<Cell> second = {
      box_cell(49, 91, 12, 20),     // the seam nucleus again (centre 101)
      box_cell(63, 95, 10, 12),     // its neighbour, touching it: another nucleus
      box_cell(120, 100, 10, 10),   // near the seam, nothing above
      box_cell(121, 101, 10, 10)};  // overlapping the one before, same tile: not compared
  EXPECT_EQ(seams.admit(below, second), (std::vector<std::uint8_t>{0, 1, 1, 1}));
}

// Columns too (the tile to the left), and a new row forgets what is far above it.
TEST(SeamCells, ComparesWithTheTileToTheLeftAndForgetsRowsFarAbove) {
  SeamCells seams;
  EXPECT_EQ(seams.admit({0, 0, 100, 100}, {box_cell(95, 40, 9, 9)}), (std::vector<std::uint8_t>{1}));
  EXPECT_EQ(seams.admit({100, 0, 100, 100}, {box_cell(96, 41, 9, 9)}), (std::vector<std::uint8_t>{0}));
  // Rows below: the nucleus at y 40-49 ends far above y = 300 and is forgotten; one there stays.
  EXPECT_EQ(seams.admit({0, 300, 100, 100}, {box_cell(95, 295, 9, 9)}), (std::vector<std::uint8_t>{1}));
  EXPECT_EQ(seams.admit({100, 300, 100, 100}, {box_cell(96, 296, 9, 9), box_cell(96, 41, 9, 9)}),
            (std::vector<std::uint8_t>{0, 1}));
}

// With the nuclei's seam outlines (MeasuredCell::seam_nucleus) the cells compared and remembered are those
// outlines, not the exported ones, and the exported ones are left as they were. Here the exported outline of
// the tile below is a box far from the seam nucleus above, its seam outline the same nucleus again: dropped.
// A cell without a seam outline is compared by its own.
TEST(SeamCells, ComparesTheSeamOutlinesWhereGivenAndLeavesTheCellsAsTheyWere) {
  SeamCells seams;
  std::vector<Cell> first = {box_cell(50, 90, 10, 19)};
  std::vector<std::vector<cv::Point2f>> first_seam(1);  // none: compared by its nucleus
  EXPECT_EQ(seams.admit({0, 0, 200, 100}, first, first_seam), (std::vector<std::uint8_t>{1}));
  std::vector<Cell> second = {box_cell(20, 100, 10, 10), box_cell(150, 100, 10, 10)};
  std::vector<std::vector<cv::Point2f>> second_seam = {box_cell(49, 91, 12, 20).nucleus, {}};
  const std::vector<Cell> before = second;
  EXPECT_EQ(seams.admit({0, 100, 200, 100}, second, second_seam), (std::vector<std::uint8_t>{0, 1}));
  ASSERT_EQ(second.size(), before.size());
  for (std::size_t i = 0; i < second.size(); ++i) EXPECT_EQ(second[i].nucleus, before[i].nucleus);
  EXPECT_EQ(second_seam[0], box_cell(49, 91, 12, 20).nucleus);
  EXPECT_TRUE(second_seam[1].empty());
  // Without them, the exported outlines: nothing in common with the nucleus above.
  SeamCells plain;
  EXPECT_EQ(plain.admit({0, 0, 200, 100}, {box_cell(50, 90, 10, 19)}), (std::vector<std::uint8_t>{1}));
  EXPECT_EQ(plain.admit({0, 100, 200, 100}, before), (std::vector<std::uint8_t>{1, 1}));
}

}  // namespace
}  // namespace ihc

// Slides scored side by side share the cores tile by tile: never more tiles at once than cores, every core
// used, and a pool shutting down stops waiting.
TEST(CoreBudget, HoldsAtMostItsCoresAndGivesUpWhenAsked) {
  ihc::CoreBudget budget(2);
  std::atomic<bool> never{false}, now{true};
  ASSERT_TRUE(budget.acquire(never));
  ASSERT_TRUE(budget.acquire(never));
  EXPECT_FALSE(budget.acquire(now));  // both cores held: a shutting-down pool does not wait
  budget.release();
  EXPECT_TRUE(budget.acquire(now));  // a free core is taken even then
  budget.release();
  budget.release();

  std::atomic<int> running{0}, most{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 6; ++t) {
    workers.emplace_back([&] {
      for (int k = 0; k < 20; ++k) {
        ASSERT_TRUE(budget.acquire(never));
        const int r = ++running;
        int m = most.load();
        while (r > m && !most.compare_exchange_weak(m, r)) {
        }
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        --running;
        budget.release();
      }
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(most.load(), 2);
  EXPECT_EQ(budget.size(), 2);
}
