#include "gui/cell_overlay.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "support/cell_lattice.hpp"

namespace ihc::gui {
namespace {

CellTable lattice(std::int64_t first_id = 1000) { return test::cell_lattice(first_id); }
GradingParams params() { return test::lattice_grading(); }

TEST(CellGrid, QueryReturnsExactlyTheCentroidsInTheRectangle) {
  const CellTable t = lattice();
  CellGrid g;
  g.build(t.cells, 32);
  auto in = g.query({0, 0, 45, 25});  // centroids x in {10, 30}, y = 10
  std::sort(in.begin(), in.end());
  EXPECT_EQ(in, (std::vector<int>{0, 1}));
  EXPECT_EQ(g.query({-100, -100, 1000, 1000}).size(), 100u);
  EXPECT_TRUE(g.query({500, 500, 10, 10}).empty());
  EXPECT_GE(g.estimate({0, 0, 45, 25}), 2u);
}

TEST(CellOverlay, HitTestUsesTheOutlineThenTheNearestCentroid) {
  const CellTable t = lattice();
  CellGrid g;
  g.build(t.cells, 32);
  EXPECT_EQ(hit_test(t, g, {36, 14}, 3), 1);     // inside cell (30,10)'s square
  EXPECT_EQ(hit_test(t, g, {19.5, 10}, 0), -1);  // in the gap between two squares
  EXPECT_EQ(hit_test(t, g, {19.5, 10}, 12), 0);  // ... unless a tolerance reaches a centroid
  EXPECT_EQ(hit_test(t, g, {1000, 1000}, 5), -1);
}

TEST(CellOverlay, SelectionsAndBorderlineNavigation) {
  const CellTable t = lattice();
  CellGrid g;
  g.build(t.cells, 32);
  CellState s;
  s.automatic = grade_automatic(t, params());
  apply_review(t, {}, &s);
  EXPECT_EQ(select_in_rect(t, g, {0, 0, 45, 25}), (std::vector<int>{0, 1}));
  EXPECT_EQ(select_by_class(s, CellClass::OnePlus).size(), 20u);
  EXPECT_EQ(select_by_range(t, "Cell: DAB OD mean", 0.1, 0.2).size(), 20u);  // 0.11 and 0.16
  try {
    select_by_range(t, "Nucleus: DAB OD mean", 0, 1);
    FAIL();
  } catch (const ScoringError& e) {
    EXPECT_EQ(std::string(e.what()),
              "no measurement \"Nucleus: DAB OD mean\" (available: Cell: DAB OD mean)");
  }
  const auto order = navigation_order(t, params(), {});
  ASSERT_EQ(order.size(), 100u);
  // |0.11 - 0.1| = |0.21 - 0.2| = |0.31 - 0.3| = 0.01: columns 2, 4, 6 come first, lowest id first.
  EXPECT_EQ(order[0], 2);
  const float v = t.columns[0][order[0]];
  EXPECT_NEAR(v, 0.11, 1e-6);
  const float last = t.columns[0][order.back()];
  EXPECT_NEAR(last, 0.46, 1e-6);  // the farthest from any threshold
}

TEST(CellOverlay, ClassMapCountsEachBinsMajority) {
  const CellTable t = lattice();
  CellGrid g;
  g.build(t.cells, 40);  // 2 x 2 cells per bin
  CellState s;
  s.automatic = grade_automatic(t, params());
  apply_review(t, {}, &s);
  const auto bins = class_map(g, s, {0, 0, 200, 200});
  ASSERT_EQ(bins.size(), 25u);
  int total = 0;
  for (const auto& b : bins) total += b.total;
  EXPECT_EQ(total, 100);
  EXPECT_EQ(bins[0].majority, CellClass::Negative);
  EXPECT_EQ(bins[4].majority, CellClass::ThreePlus);
}

TEST(CellOverlay, ClassRasterHoldsEachSquaresMajorityAndMarksCellsOutOfScope) {
  const CellTable t = lattice();
  CellState s;
  s.automatic = grade_automatic(t, params());
  apply_review(t, {}, &s);
  // 40 px squares hold 2 x 2 cells: columns 0-1 Negative, 2-3 1+, 4-5 2+, 6-9 3+ (value = 1 + class).
  const ClassRaster r = class_raster(t, s, {200, 200}, 40);
  ASSERT_EQ(r.classes.rows, 5);
  ASSERT_EQ(r.classes.cols, 5);
  for (int y = 0; y < 5; ++y) {
    EXPECT_EQ(r.classes(y, 0), 1);
    EXPECT_EQ(r.classes(y, 1), 2);
    EXPECT_EQ(r.classes(y, 2), 3);
    EXPECT_EQ(r.classes(y, 3), 4);
    EXPECT_EQ(r.classes(y, 4), 4);
  }
  // A tie (2 Negative, 2 corrected to 3+) goes to the stronger class; cells out of scope mark their square
  // as out of scope (drawn faint, as their outlines are), unless a counted cell shares it; deleted cells
  // leave their square empty.
  s.classes[0] = s.classes[1] = CellClass::ThreePlus;
  for (int i : {2, 3, 12, 13}) s.counted[i] = 0;
  for (int i : {22, 23, 32, 33}) s.counted[i] = 0;
  s.counted[24] = 0;
  for (int i : {4, 5, 14, 15}) {
    s.counted[i] = 0;
    s.deleted[i] = 1;
  }
  const ClassRaster q = class_raster(t, s, {200, 200}, 40);
  EXPECT_EQ(q.classes(0, 0), 4);
  EXPECT_EQ(q.classes(0, 1), kOutOfScope + 2);
  EXPECT_EQ(q.classes(1, 1), kOutOfScope + 2);
  EXPECT_EQ(q.classes(1, 2), 3);
  EXPECT_EQ(q.classes(0, 2), 0);
  // Squares that do not divide the slide: the last partial square is still there.
  EXPECT_EQ(class_raster(t, s, {200, 200}, 60).classes.cols, 4);
}

TEST(CellOverlay, HistogramOfCountedCells) {
  const CellTable t = lattice();
  CellState s;
  s.automatic = grade_automatic(t, params());
  apply_review(t, {}, &s);
  const Histogram h = measurement_histogram(t, "Cell: DAB OD mean", s, 5, 0.0, 0.5);
  EXPECT_EQ(h.counts[0], 20);  // 0.01 and 0.06 fall in [0, 0.1)
  EXPECT_EQ(h.counts[4], 20);
  EXPECT_EQ(h.max_count, 20);
}

double triangles_area(const std::vector<cv::Point2f>& r, const std::vector<int>& t) {
  double a = 0;
  for (std::size_t i = 0; i + 2 < t.size(); i += 3) {
    const cv::Point2f u = r[t[i + 1]] - r[t[i]], v = r[t[i + 2]] - r[t[i]];
    a += std::abs(u.x * v.y - u.y * v.x) / 2;
  }
  return a;
}

bool covered(const std::vector<cv::Point2f>& r, const std::vector<int>& t, cv::Point2f p) {
  for (std::size_t i = 0; i + 2 < t.size(); i += 3) {
    const cv::Point2f a = r[t[i]], b = r[t[i + 1]], c = r[t[i + 2]];
    const float d1 = (b - a).cross(p - a), d2 = (c - b).cross(p - b), d3 = (a - c).cross(p - c);
    if ((d1 > 0 && d2 > 0 && d3 > 0) || (d1 < 0 && d2 < 0 && d3 < 0)) return true;
  }
  return false;
}

// Fill mode drew a fan over each outline: a concave cell spilled its class colour onto its neighbour.
TEST(CellOverlay, TriangulateFillsConcaveOutlinesExactly) {
  // A cell with a deep notch (area 100 - 4 x 8 = 68), with a repeated and a collinear vertex, both
  // orientations.
  std::vector<cv::Point2f> notch{{0, 0}, {5, 0}, {10, 0}, {10, 10}, {7, 10},
                                 {7, 2}, {7, 2}, {3, 2},  {3, 10},  {0, 10}};
  for (int pass = 0; pass < 2; ++pass) {
    const auto t = triangulate(notch);
    ASSERT_EQ(t.size() % 3, 0u);
    EXPECT_NEAR(triangles_area(notch, t), 68.0, 1e-4);
    EXPECT_FALSE(covered(notch, t, {5, 6}));  // in the notch: the neighbour's
    EXPECT_TRUE(covered(notch, t, {1.5f, 8}));
    EXPECT_TRUE(covered(notch, t, {8.5f, 8}));
    EXPECT_TRUE(covered(notch, t, {5, 1}));
    std::reverse(notch.begin(), notch.end());
  }
  const std::vector<cv::Point2f> hexagon{{2, 0}, {6, 0}, {8, 3}, {6, 6}, {2, 6}, {0, 3}};
  EXPECT_EQ(triangulate(hexagon).size(), 12u);
  EXPECT_NEAR(triangles_area(hexagon, triangulate(hexagon)), 36.0, 1e-4);
  // Nothing to fill, and a bow tie (self-intersecting) still gives triangles rather than nothing or a hang.
  EXPECT_TRUE(triangulate({{0, 0}, {1, 1}}).empty());
  EXPECT_TRUE(triangulate({{0, 0}, {1, 1}, {2, 2}}).empty());
  EXPECT_FALSE(triangulate({{0, 0}, {4, 4}, {4, 0}, {0, 4}, {-1, 2}}).empty());
}

}  // namespace
}  // namespace ihc::gui
