#include "imaging/cell_measurements.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <limits>
#include <opencv2/imgproc.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "imaging/polygon_checks.hpp"
#include "imaging/synthetic_cells.hpp"

namespace ihc {
namespace {

TEST(CellMeasurements, BrownRingBelongsToTheBrownCell) {
  CellParamsPx p;
  p.cell_expansion_px = 20;
  p.membrane_width_px = 2;
  test::NucleusPair f;
  // Cell 1 is ringed by a brown line (3+); cell 2 has none of its own.
  cv::rectangle(f.dab, cv::Rect(8, 8, 25, 25), cv::Scalar(1.0), 2);
  const auto cells = measure_cells(f.labels, 2, f.hema, f.dab, p);
  ASSERT_EQ(cells.size(), 2u);
  const auto names = cell_measurement_names(true);
  const auto col = static_cast<std::size_t>(std::find(names.begin(), names.end(), "Membrane: DAB OD mean") -
                                            names.begin());
  EXPECT_GT(cells[0].values[col], 0.6f);
  EXPECT_LT(cells[1].values[col], 0.2f);
  EXPECT_NEAR(cells[0].centroid.x, 20, 0.01);
}

// Membrane DAB of two cells that share a line, each half at its own grade (the synthetic slides' model: a
// 3+ half at `dark` OD next to a paler half at `pale`, 1.5 um each, cytoplasm at a quarter of the level),
// blurred like an objective. Returns {dark cell, pale cell}.
std::pair<float, float> shared_line_membranes(float dark, float pale) {
  test::NucleusPair f;  // nuclei at x = 20 and 50; the border is at x = 35
  f.dab(cv::Rect(0, 0, 32, 40)).setTo(0.25 * dark);
  f.dab(cv::Rect(32, 0, 3, 40)).setTo(dark);
  f.dab(cv::Rect(35, 0, 3, 40)).setTo(pale);
  f.dab(cv::Rect(38, 0, 32, 40)).setTo(0.25 * pale);
  cv::GaussianBlur(f.dab, f.dab, cv::Size(), 0.8);
  CellParamsPx p;
  p.cell_expansion_px = 40;  // cells fill the image: the band lies on the shared border only
  p.um_per_px = 0.5;
  p.membrane_width_px = 2;  // 1 um
  const auto cells = measure_cells(f.labels, 2, f.hema, f.dab, p);
  const auto names = cell_measurement_names(true);
  const auto col = static_cast<std::size_t>(std::find(names.begin(), names.end(), "Membrane: DAB OD mean") -
                                            names.begin());
  EXPECT_EQ(cells.size(), 2u);
  if (cells.size() != 2u) return {0.0f, 0.0f};
  return {cells[0].values[col], cells[1].values[col]};
}

// The flood gives the crest of the blurred line to whichever cell reaches it first. Here the paler cell takes
// it (two of the three 3+ pixels), so its band read the 3+ line (1+ 0.55, 2+ 0.65, a negative 0.69 next to a
// 3+ cell at 0.50) and the band rule of give_lines_to_brown_cells, which compares the bands, moved nothing
// back. The border fit (a blurred two-half line across the border) puts the border on the step.
TEST(CellMeasurements, CellsOfDifferentGradeEachOwnTheirSideOfASharedLine) {
  // 3+ next to 1+ and next to 2+: the border is the step between the halves, not the crest of the blurred
  // line (which lies in the 3+ half and gave the 3+ cell's band its own cytoplasm).
  const auto [a3, b1] = shared_line_membranes(0.8f, 0.3f);
  EXPECT_GT(a3, 0.6f) << "3+ next to 1+";
  EXPECT_GE(b1, 0.2f) << "1+ next to 3+";
  EXPECT_LT(b1, 0.4f) << "1+ next to 3+";
  const auto [c3, d2] = shared_line_membranes(0.8f, 0.5f);
  EXPECT_GT(c3, 0.6f) << "3+ next to 2+";
  EXPECT_GE(d2, 0.4f) << "2+ next to 3+";
  EXPECT_LT(d2, 0.6f) << "2+ next to 3+";
  const auto [e3, f0] = shared_line_membranes(0.8f, 0.05f);
  EXPECT_GT(e3, 0.6f) << "3+ next to negative";
  EXPECT_LT(f0, 0.2f) << "negative next to 3+";
}

// Random labels: overlapping filled and ring-shaped (holed) ellipses, lines and stray pixels, touching the
// image edges, so labels come in several 8-connected pieces, with holes, one-pixel and one-pixel-wide parts.
cv::Mat random_labels(cv::RNG& rng, int size, int count) {
  cv::Mat labels = cv::Mat::zeros(size, size, CV_32S);
  for (int k = 0; k < 3 * count; ++k) {
    const cv::Scalar label(1 + rng.uniform(0, count));
    const cv::Point centre(rng.uniform(-4, size + 4), rng.uniform(-4, size + 4));
    const cv::Size axes(rng.uniform(1, size / 3), rng.uniform(1, size / 3));
    const int kind = rng.uniform(0, 4);
    if (kind == 0) {
      cv::line(labels, centre, cv::Point(rng.uniform(0, size), rng.uniform(0, size)), label, 1, cv::LINE_8);
    } else {
      cv::ellipse(labels, centre, axes, rng.uniform(0, 180), 0, 360, label, kind == 1 ? 2 : cv::FILLED,
                  cv::LINE_8);
    }
  }
  for (int k = 0; k < size; ++k) {
    labels.at<int>(rng.uniform(0, size), rng.uniform(0, size)) = rng.uniform(0, count + 1);
  }
  return labels;
}

// Calls f(image, labels, label, piece, piece mask, first pixel in raster order) for every 8-connected piece
// of every label of `images` random label images (random_labels, sizes and counts cycling with the image
// index).
template <typename F>
void for_each_random_piece(cv::RNG& rng, int images, F f) {
  for (int image = 0; image < images; ++image) {
    const cv::Mat labels = random_labels(rng, 24 + image % 40, 1 + image % 6);
    double max_label = 0;
    cv::minMaxLoc(labels, nullptr, &max_label);
    for (int c = 1; c <= static_cast<int>(max_label); ++c) {
      cv::Mat pieces;
      const int n = cv::connectedComponents(labels == c, pieces, 8, CV_32S);
      for (int piece = 1; piece < n; ++piece) {
        const cv::Mat mask = pieces == piece;
        cv::Point first(-1, -1);
        for (int y = 0; y < mask.rows && first.y < 0; ++y) {
          const uchar* m = mask.ptr<uchar>(y);
          for (int x = 0; x < mask.cols; ++x) {
            if (m[x]) {
              first = {x, y};
              break;
            }
          }
        }
        f(image, labels, c, piece, mask, first);
      }
    }
  }
}

TEST(CellMeasurements, TraceOuterBorderGivesFindContoursPointsOnRandomShapes) {
  cv::RNG rng(20261121);
  int regions = 0, with_holes = 0;
  for_each_random_piece(
      rng, 400,
      [&](int image, const cv::Mat& labels, int c, int piece, const cv::Mat& mask, cv::Point first) {
        std::vector<std::vector<cv::Point>> expected;
        std::vector<cv::Vec4i> hierarchy;
        cv::findContours(mask.clone(), expected, hierarchy, cv::RETR_CCOMP, cv::CHAIN_APPROX_NONE);
        std::vector<std::vector<cv::Point>> outer;
        cv::findContours(mask.clone(), outer, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_NONE);
        ASSERT_EQ(outer.size(), 1u);
        with_holes += expected.size() > 1 ? 1 : 0;
        ++regions;
        ASSERT_EQ(trace_outer_border(labels, c, first), outer[0])
            << "image " << image << " label " << c << " piece " << piece << " from " << first;
      });
  // The shapes cover what the tracer must handle.
  EXPECT_GT(regions, 2000);
  EXPECT_GT(with_holes, 100);
}

// The pixel-edge outline of every 8-connected piece of random shapes (holes, one-pixel parts, pieces that
// touch only at corners, the image edge): a simple ring whose area is the piece's pixels with its holes
// filled, exactly where the piece never goes on diagonally through a corner, else within about a quarter
// pixel per such corner and pass (the border moves a quarter pixel off the corner into the background).
TEST(CellMeasurements, TracePixelEdgesCoversThePixelsAndNeverTouchesItself) {
  cv::RNG rng(20261122);
  int regions = 0, with_diagonal_corners = 0;
  for_each_random_piece(
      rng, 300,
      [&](int image, const cv::Mat& labels, int c, int /*piece*/, const cv::Mat& mask, cv::Point first) {
        // The piece with its holes filled, framed by a pixel of background, and its corners with only two
        // diagonal pixels in (the piece's own, before filling).
        std::vector<std::vector<cv::Point>> outer;
        cv::findContours(mask.clone(), outer, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_NONE);
        cv::Mat filled = cv::Mat::zeros(mask.rows + 2, mask.cols + 2, CV_8U);
        cv::drawContours(filled, outer, 0, cv::Scalar(1), cv::FILLED, cv::LINE_8, cv::noArray(), INT_MAX,
                         cv::Point(1, 1));
        cv::Mat framed = cv::Mat::zeros(mask.rows + 2, mask.cols + 2, CV_8U);
        mask.copyTo(framed(cv::Rect(1, 1, mask.cols, mask.rows)));
        int diagonal = 0;
        for (int y = 0; y + 1 < framed.rows; ++y) {
          for (int x = 0; x + 1 < framed.cols; ++x) {
            const bool tl = framed.at<uchar>(y, x), tr = framed.at<uchar>(y, x + 1);
            const bool bl = framed.at<uchar>(y + 1, x), br = framed.at<uchar>(y + 1, x + 1);
            diagonal += (tl && br && !tr && !bl) || (tr && bl && !tl && !br) ? 1 : 0;
          }
        }
        const std::vector<cv::Point2f> poly = trace_pixel_edges(labels, c, first);
        ASSERT_TRUE(test::ring_is_simple(poly)) << "image " << image << " label " << c << " from " << first;
        const double pixels = cv::countNonZero(filled);
        if (diagonal == 0) {
          EXPECT_EQ(test::ring_area(poly), pixels)
              << "image " << image << " label " << c << " from " << first;
        } else {
          // Two passes per corner at most, a sixteenth of a pixel more or less where two such corners follow
          // each other.
          EXPECT_GE(test::ring_area(poly), pixels - diagonal / 8.0) << "image " << image << " label " << c;
          EXPECT_LE(test::ring_area(poly), pixels + diagonal * 0.625) << "image " << image << " label " << c;
        }
        // Clockwise on screen, from the first pixel's top-left corner.
        EXPECT_GT(test::ring_area2(poly), 0);
        EXPECT_EQ(poly[0],
                  cv::Point2f(static_cast<float>(first.x) - 0.5f, static_cast<float>(first.y) - 0.5f));
        with_diagonal_corners += diagonal > 0 ? 1 : 0;
        ++regions;
      });
  EXPECT_GT(regions, 1500);
  EXPECT_GT(with_diagonal_corners, 100);
}

// is_simple_polygon against comparing every pair of edges, on random rings of few points on a coarse grid
// (so that touching points, collinear and overlapping edges are common), and the clearance.
TEST(CellMeasurements, IsSimplePolygonAgreesWithComparingEveryPairOfEdges) {
  cv::RNG rng(5);
  int simple = 0, not_simple = 0;
  for (int k = 0; k < 20000; ++k) {
    const int n = 3 + k % 10;
    const float unit = k % 3 == 0 ? 1.0f / 64 : 1.0f;
    std::vector<cv::Point2f> poly;
    for (int i = 0; i < n; ++i) {
      poly.emplace_back(unit * static_cast<float>(rng.uniform(0, 5)),
                        unit * static_cast<float>(rng.uniform(0, 5)));
    }
    const bool expected = test::ring_is_simple(poly);
    ASSERT_EQ(is_simple_polygon(poly), expected) << cv::Mat(poly).reshape(1);
    (expected ? simple : not_simple) += 1;
  }
  EXPECT_GT(simple, 1500);
  EXPECT_GT(not_simple, 1500);
  // A C whose slit is 1/64 px wide: simple, but its two sides are closer than a clearance of 1/32 px.
  const float slit = 1.0f / 64;
  const std::vector<cv::Point2f> c = {{0, 0},        {4, 0},        {4, 1}, {1, 1},
                                      {1, 1 + slit}, {4, 1 + slit}, {4, 2}, {0, 2}};
  EXPECT_TRUE(test::ring_is_simple(c));
  EXPECT_TRUE(is_simple_polygon(c));
  EXPECT_TRUE(is_simple_polygon(c, 1.0 / 128));
  EXPECT_FALSE(is_simple_polygon(c, 1.0 / 32));
}

// Labels whose outlines used to run over themselves: a nucleus of two squares touching at a corner, a C with
// a one-pixel slit, a one-pixel-wide line with a bend, and a nucleus in two pieces whose first piece in
// raster order is the smaller. Every outline is a simple polygon around its pixels (areas agree with the
// area columns), each nucleus lies in its cell, and the split nucleus is outlined by its larger piece, in
// the cell piece around it. Before the outlines were traced along pixel edges this failed at once: the
// outline through pixel centres of the pinched nucleus touched itself (a one-pixel part is traced there and
// back).
TEST(CellMeasurements, OutlinesAreSimplePolygonsAroundPinchedConcaveThinAndSplitObjects) {
  cv::Mat nuclei = cv::Mat::zeros(64, 96, CV_32S);
  // 1: two 6 x 6 squares meeting at one corner.
  nuclei(cv::Rect(6, 6, 6, 6)).setTo(1);
  nuclei(cv::Rect(12, 12, 6, 6)).setTo(1);
  // 2: a C, 11 x 11, with a one-pixel slit into its middle.
  nuclei(cv::Rect(34, 6, 11, 11)).setTo(2);
  nuclei(cv::Rect(39, 10, 6, 1)).setTo(0);
  nuclei(cv::Rect(38, 9, 4, 3)).setTo(0);
  // 3: a one-pixel-wide L.
  nuclei(cv::Rect(64, 6, 14, 1)).setTo(3);
  nuclei(cv::Rect(77, 6, 1, 12)).setTo(3);
  // 4: a 2 x 2 piece above and apart from a 7 x 7 one.
  nuclei(cv::Rect(20, 36, 2, 2)).setTo(4);
  nuclei(cv::Rect(14, 42, 7, 7)).setTo(4);
  const cv::Mat hema(nuclei.size(), CV_32F, cv::Scalar(0.1f));
  const cv::Mat dab(nuclei.size(), CV_32F, cv::Scalar(0.0f));
  for (const bool smooth : {false, true}) {
    CellParamsPx p;
    p.cell_expansion_px = 3;
    p.area_scale = 1;
    p.smooth_boundaries = smooth;
    const auto cells = measure_cells(nuclei, 4, hema, dab, p);
    ASSERT_EQ(cells.size(), 4u);
    for (std::size_t i = 0; i < cells.size(); ++i) {
      const MeasuredCell& cell = cells[i];
      const std::string what =
          std::string(smooth ? "smoothed" : "unsmoothed") + " cell " + std::to_string(i + 1);
      ASSERT_TRUE(test::ring_is_simple(cell.nucleus)) << what << cv::Mat(cell.nucleus).reshape(1);
      ASSERT_TRUE(test::ring_is_simple(cell.boundary)) << what << cv::Mat(cell.boundary).reshape(1);
      EXPECT_TRUE(test::points_within(cell.nucleus, cell.boundary, 1e-4)) << what;
      // The simplification's chords (0.4 px) move a little area on these small shapes (most, 3 px^2, across
      // the diagonal corner); smoothed outlines get the pixels' area back.
      const double nucleus_area = i == 3 ? 49 : cell.values[0];
      EXPECT_NEAR(test::ring_area(cell.nucleus), nucleus_area, 0.05 * nucleus_area) << what;
      if (i != 3) {
        EXPECT_NEAR(test::ring_area(cell.boundary), cell.values[2], 0.02 * cell.values[2]) << what;
      }
    }
    // The split nucleus: its larger piece, and the cell outline around it.
    const MeasuredCell& split = cells[3];
    const cv::Rect2f larger(14 - 0.75f, 42 - 0.75f, 7.5f, 7.5f);  // its pixels' edges, and a quarter pixel
    for (const cv::Point2f& v : split.nucleus) EXPECT_TRUE(larger.contains(v)) << v;
    EXPECT_GE(cv::pointPolygonTest(split.boundary, cv::Point2f(17, 45), false), 0);
  }
}

TEST(CellMeasurements, ApproxClosedPolygonGivesApproxPolyDpPoints) {
  cv::RNG rng(99);
  int polygons = 0, simplified = 0;
  auto check = [&](const std::vector<cv::Point2f>& poly, double eps) {
    std::vector<cv::Point2f> expected;
    cv::approxPolyDP(poly, expected, eps, true);
    ++polygons;
    simplified += expected.size() < poly.size() ? 1 : 0;
    return approx_closed_polygon(poly, eps) == expected;
  };
  // Pixel outlines of random shapes, as traced and as smoothed like cell outlines (fractional coordinates).
  for (int image = 0; image < 150; ++image) {
    const cv::Mat labels = random_labels(rng, 20 + image % 50, 1 + image % 5);
    std::vector<std::vector<cv::Point>> contours;
    for (int c = 1; c <= 5; ++c) {
      std::vector<std::vector<cv::Point>> found;
      cv::findContours(labels == c, found, cv::RETR_LIST, cv::CHAIN_APPROX_NONE);
      contours.insert(contours.end(), found.begin(), found.end());
    }
    for (const auto& contour : contours) {
      std::vector<cv::Point2f> a(contour.begin(), contour.end());
      for (double eps : {0.4, 1.0, 3.0}) ASSERT_TRUE(check(a, eps)) << "image " << image << " eps " << eps;
      const std::size_t n = a.size();
      std::vector<cv::Point2f> b(n);
      for (std::size_t i = 0; i < n; ++i)
        b[i] = 0.25f * a[(i + n - 1) % n] + 0.5f * a[i] + 0.25f * a[(i + 1) % n];
      for (double eps : {0.4, 1.0})
        ASSERT_TRUE(check(b, eps)) << "smoothed, image " << image << " eps " << eps;
    }
  }
  // Random polygons, with repeated, collinear and all-equal points.
  for (int k = 0; k < 3000; ++k) {
    std::vector<cv::Point2f> poly(static_cast<std::size_t>(rng.uniform(1, 40)));
    for (auto& q : poly)
      q = {static_cast<float>(rng.uniform(0.0, 20.0)), static_cast<float>(rng.uniform(0.0, 20.0))};
    if (k % 3 == 0 && poly.size() > 3) poly[2] = poly[0];
    if (k % 5 == 0 && poly.size() > 4) poly[3] = 0.5f * (poly[2] + poly[4]);
    if (k % 7 == 0) std::fill(poly.begin(), poly.end(), poly[0]);
    ASSERT_TRUE(check(poly, k % 2 ? 0.4 : 2.0)) << "polygon " << k;
  }
  EXPECT_GT(polygons, 10000);
  EXPECT_GT(simplified, 5000);
}

// Outlines in sixteenths of a pixel (two [1 2 1] passes) are scanned in integers when they span less than
// 128 px; the points must not change at that limit, far from the origin, or with an odd point count.
TEST(CellMeasurements, ApproxClosedPolygonGivesApproxPolyDpPointsAroundTheIntegerSpanLimit) {
  cv::RNG rng(128);
  int polygons = 0;
  for (int k = 0; k < 400; ++k) {
    // Spans from 120 to 136 px in x or y, in whole pixels, as traced outlines have.
    const int span = 120 + k % 17;
    const cv::Point2f origin(static_cast<float>(rng.uniform(0, 3000)),
                             static_cast<float>(rng.uniform(0, 3000)));
    std::vector<cv::Point> ring;
    cv::ellipse2Poly(cv::Point(span / 2, span / 2), cv::Size(span / 2, rng.uniform(3, span / 2)),
                     rng.uniform(0, 180), 0, 360, 1 + k % 4, ring);
    ring.pop_back();  // ellipse2Poly closes the ring
    if (k % 2 == 1 && ring.size() % 2 == 0) ring.pop_back();
    std::vector<cv::Point2f> a(ring.size());
    for (std::size_t i = 0; i < ring.size(); ++i) a[i] = cv::Point2f(ring[i]) + origin;
    const std::size_t n = a.size();
    for (int pass = 0; pass < 2; ++pass) {
      std::vector<cv::Point2f> b(n);
      for (std::size_t i = 0; i < n; ++i)
        b[i] = 0.25f * a[(i + n - 1) % n] + 0.5f * a[i] + 0.25f * a[(i + 1) % n];
      a.swap(b);
    }
    for (double eps : {0.4, 1.0}) {
      std::vector<cv::Point2f> expected;
      cv::approxPolyDP(a, expected, eps, true);
      ASSERT_EQ(approx_closed_polygon(a, eps), expected)
          << "polygon " << k << " span " << span << " eps " << eps;
      ++polygons;
    }
  }
  EXPECT_EQ(polygons, 800);
}

// measure_cells against the plain computation from the grown cells: per-compartment sums in doubles, one
// pixel at a time, and the nucleus circularity from the largest findContours outline (smoothed by two
// [1 2 1] passes on odd images). The exported outlines are simple polygons (traced along pixel edges), the
// nucleus's inside the cell's.
TEST(CellMeasurements, MatchesPlainSumsAndCircularityOfTheLargestFindContoursOutlineOnRandomLabels) {
  cv::RNG rng(7);
  CellParamsPx p;
  p.cell_expansion_px = 6;
  int cells_checked = 0, in_pieces = 0;
  for (int image = 0; image < 60; ++image) {
    p.smooth_boundaries = image % 2 == 1;
    const int count = 2 + image % 5;
    const cv::Mat nuclei = random_labels(rng, 48, count);
    cv::Mat hema(nuclei.size(), CV_32F), dab(nuclei.size(), CV_32F);
    rng.fill(hema, cv::RNG::UNIFORM, -0.05, 1.5);
    rng.fill(dab, cv::RNG::NORMAL, 0.3, 0.4);
    const auto cells = measure_cells(nuclei, count, hema, dab, p);
    const CellGrowth g = grow_cells(nuclei, dab, p);
    std::size_t next = 0;
    for (int c = 1; c <= count; ++c) {
      if (cv::countNonZero(nuclei == c) == 0) continue;
      ASSERT_LT(next, cells.size());
      const MeasuredCell& cell = cells[next++];
      // Compartment sums: 0 nucleus, 1 cytoplasm, 2 membrane, 3 cell, 4 membrane over the nucleus.
      double n[5] = {}, sum[5][2] = {}, sum2[5][2] = {};
      float mx[5][2];
      std::fill_n(&mx[0][0], 10, -std::numeric_limits<float>::infinity());
      for (int y = 0; y < nuclei.rows; ++y) {
        for (int x = 0; x < nuclei.cols; ++x) {
          if (g.cell_labels.at<int>(y, x) != c) continue;
          const bool nucleus = nuclei.at<int>(y, x) == c;
          std::vector<int> comps = {3, nucleus ? 0 : 1};
          if (g.membrane.at<uchar>(y, x)) comps.push_back(nucleus ? 4 : 2);
          const float v[2] = {hema.at<float>(y, x), dab.at<float>(y, x)};
          for (int k : comps) {
            n[k] += 1;
            for (int s = 0; s < 2; ++s) {
              sum[k][s] += v[s];
              sum2[k][s] += static_cast<double>(v[s]) * v[s];
              mx[k][s] = std::max(mx[k][s], v[s]);
            }
          }
        }
      }
      if (n[2] == 0) {
        n[2] = n[4];
        std::memcpy(sum[2], sum[4], sizeof sum[2]);
        std::memcpy(sum2[2], sum2[4], sizeof sum2[2]);
        std::memcpy(mx[2], mx[4], sizeof mx[2]);
      }
      EXPECT_EQ(cell.values[2], static_cast<float>(n[3] * p.area_scale));
      for (int comp = 0; comp < 4; ++comp) {
        for (int s = 0; s < 2; ++s) {
          const std::size_t k = 3 + static_cast<std::size_t>(comp * 6 + s * 3);
          const double mean = sum[comp][s] / n[comp];
          const double var =
              n[comp] > 1 ? std::max(0.0, (sum2[comp][s] - sum[comp][s] * mean) / (n[comp] - 1)) : 0;
          EXPECT_EQ(cell.values[k], static_cast<float>(mean)) << "cell " << c << " comp " << comp;
          EXPECT_EQ(cell.values[k + 1], static_cast<float>(std::sqrt(var)))
              << "cell " << c << " comp " << comp;
          EXPECT_EQ(cell.values[k + 2], mx[comp][s]) << "cell " << c << " comp " << comp;
        }
      }
      // Outlines: the largest outer contour (first of equal areas) of the cell and of the nucleus.
      auto outline = [&](const cv::Mat& labels) {
        std::vector<std::vector<cv::Point>> contours;
        cv::findContours(labels == c, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_NONE);
        std::size_t best = 0;
        double best_area = -1;
        for (std::size_t i = 0; i < contours.size(); ++i) {
          const double a = contours[i].size() < 3 ? 0.0 : std::abs(cv::contourArea(contours[i]));
          if (a > best_area) {
            best_area = a;
            best = i;
          }
        }
        in_pieces += contours.size() > 1 ? 1 : 0;
        std::vector<cv::Point2f> poly(contours[best].begin(), contours[best].end());
        const std::size_t n = poly.size();
        for (int pass = 0; p.smooth_boundaries && n >= 5 && pass < 2; ++pass) {
          std::vector<cv::Point2f> b(n);
          for (std::size_t i = 0; i < n; ++i) {
            b[i] = 0.25f * poly[(i + n - 1) % n] + 0.5f * poly[i] + 0.25f * poly[(i + 1) % n];
          }
          poly.swap(b);
        }
        return poly;
      };
      EXPECT_TRUE(test::ring_is_simple(cell.nucleus)) << "nucleus " << c;
      if (!cell.boundary.empty()) {
        EXPECT_TRUE(test::ring_is_simple(cell.boundary)) << "cell " << c;
        EXPECT_TRUE(test::points_within(cell.nucleus, cell.boundary, 1e-4)) << "cell " << c;
      }
      outline(g.cell_labels);
      const std::vector<cv::Point2f> nucleus = outline(nuclei);
      if (nucleus.size() >= 3) {
        const double perimeter = cv::arcLength(nucleus, true);
        const double circularity =
            std::min(1.0, 4.0 * CV_PI * std::abs(cv::contourArea(nucleus)) / (perimeter * perimeter));
        EXPECT_EQ(cell.values[1], static_cast<float>(circularity)) << "nucleus " << c;
      }
      ++cells_checked;
    }
    EXPECT_EQ(next, cells.size());
  }
  EXPECT_GT(cells_checked, 150);
  EXPECT_GT(in_pieces, 30);  // the several-pieces fallback is exercised too
}

// Cells near the edge of `keep` carry the nucleus outline tiled detection compares at seams: the largest
// findContours outline smoothed by two [1 2 1] passes and simplified by approxPolyDP, as outlines were
// exported before they went along pixel edges (so SeamCells keeps the same cells). Far from the edge, none.
TEST(CellMeasurements, CellsNearTheEdgeOfKeepCarryTheSeamOutline) {
  cv::Mat nuclei = cv::Mat::zeros(100, 100, CV_32S);
  cv::circle(nuclei, cv::Point(50, 50), 3, cv::Scalar(1), cv::FILLED);
  cv::circle(nuclei, cv::Point(12, 50), 3, cv::Scalar(2), cv::FILLED);
  const cv::Mat hema(nuclei.size(), CV_32F, cv::Scalar(0.1f));
  const cv::Mat dab(nuclei.size(), CV_32F, cv::Scalar(0.0f));
  CellParamsPx p;
  p.cell_expansion_px = 3;
  const auto cells = measure_cells(nuclei, 2, hema, dab, p, cv::Rect(0, 0, 100, 100));
  ASSERT_EQ(cells.size(), 2u);
  EXPECT_TRUE(cells[0].seam_nucleus.empty());
  std::vector<std::vector<cv::Point>> contours;
  cv::findContours(nuclei == 2, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_NONE);
  ASSERT_EQ(contours.size(), 1u);
  std::vector<cv::Point2f> poly(contours[0].begin(), contours[0].end());
  const std::size_t n = poly.size();
  for (int pass = 0; pass < 2; ++pass) {
    std::vector<cv::Point2f> b(n);
    for (std::size_t i = 0; i < n; ++i) {
      b[i] = 0.25f * poly[(i + n - 1) % n] + 0.5f * poly[i] + 0.25f * poly[(i + 1) % n];
    }
    poly.swap(b);
  }
  std::vector<cv::Point2f> expected;
  cv::approxPolyDP(poly, expected, 0.4, true);
  EXPECT_EQ(cells[1].seam_nucleus, expected);
  // Without `keep` there are no seams.
  for (const auto& c : measure_cells(nuclei, 2, hema, dab, p)) EXPECT_TRUE(c.seam_nucleus.empty());
}

TEST(CellMeasurements, RejectsLabelsItCannotMeasureWithExactMessages) {
  test::NucleusPair f;
  CellParamsPx p;
  auto message = [&](const cv::Mat& labels, int count) {
    try {
      measure_cells(labels, count, f.hema, f.dab, p);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message(f.labels, 1), "measure_cells: nucleus label 2 is above the count 1");
  cv::Mat bytes;
  f.labels.convertTo(bytes, CV_8U);
  EXPECT_EQ(message(bytes, 2), "measure_cells: expected CV_32S nucleus labels and a count >= 0");
  EXPECT_EQ(message(f.labels, -1), "measure_cells: expected CV_32S nucleus labels and a count >= 0");
  EXPECT_EQ(message(f.labels, 2), "no error");
}

// Cells grown beforehand measure as measure_cells measures them (it grows them itself); a growth of another
// size is refused.
TEST(CellMeasurements, MeasuresCellsGrownBeforehandAsWhenItGrowsThem) {
  cv::RNG rng(31);
  CellParamsPx p;
  p.cell_expansion_px = 6;
  p.membrane_width_px = 2;
  for (int image = 0; image < 10; ++image) {
    p.smooth_boundaries = image % 2 == 0;
    const int count = 3 + image % 4;
    const cv::Mat nuclei = random_labels(rng, 48, count);
    cv::Mat hema(nuclei.size(), CV_32F), dab(nuclei.size(), CV_32F);
    rng.fill(hema, cv::RNG::UNIFORM, 0.0, 1.5);
    rng.fill(dab, cv::RNG::UNIFORM, 0.0, 1.0);
    const cv::Rect keep = image % 3 == 0 ? cv::Rect(0, 0, 30, 48) : cv::Rect();
    const auto expected = measure_cells(nuclei, count, hema, dab, p, keep);
    const auto measured = measure_grown_cells(nuclei, count, hema, dab, grow_cells(nuclei, dab, p), p, keep);
    ASSERT_EQ(measured.size(), expected.size()) << "image " << image;
    ASSERT_FALSE(expected.empty());
    for (std::size_t i = 0; i < expected.size(); ++i) {
      EXPECT_EQ(measured[i].centroid, expected[i].centroid);
      EXPECT_EQ(measured[i].boundary, expected[i].boundary);
      EXPECT_EQ(measured[i].nucleus, expected[i].nucleus);
      EXPECT_EQ(0,
                std::memcmp(measured[i].values.data(), expected[i].values.data(), sizeof(expected[i].values)))
          << "image " << image << " cell " << i;
    }
  }
  test::NucleusPair f;
  CellGrowth other = grow_cells(f.labels, f.dab, p);
  other.membrane = other.membrane(cv::Rect(0, 0, 10, 10)).clone();
  try {
    measure_grown_cells(f.labels, 2, f.hema, f.dab, other, p);
    ADD_FAILURE() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(
        e.what(),
        "measure_grown_cells: expected CV_32S cell labels and a CV_8U membrane band of the labels' size");
  }
}

TEST(CellMeasurements, KeepsOnlyCellsCentredInTheCoreAndNamesFollowQuPath) {
  CellParamsPx p;
  test::NucleusPair f;
  const auto kept = measure_cells(f.labels, 2, f.hema, f.dab, p, cv::Rect(0, 0, 35, 40));
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_NEAR(kept[0].centroid.x, 20, 0.01);
  const auto names = cell_measurement_names(false);
  ASSERT_EQ(names.size(), static_cast<std::size_t>(kMeasurementCount));
  EXPECT_EQ(names[0], "Nucleus: Area px^2");
  EXPECT_EQ(names[3], "Nucleus: Hematoxylin OD mean");
  EXPECT_EQ(names.back(), "Cell: DAB OD max");
  // Nucleus hematoxylin exact: 0.5 everywhere in the nucleus, none in the cytoplasm.
  EXPECT_FLOAT_EQ(kept[0].values[3], 0.5f);
  EXPECT_FLOAT_EQ(kept[0].values[4], 0.0f);
}

}  // namespace
}  // namespace ihc
