#include "imaging/cell_detection.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "imaging/polygon_checks.hpp"
#include "imaging/synthetic_cells.hpp"
#include "models/presets.hpp"
#include "models/scoring.hpp"
#include "support/test_support.hpp"

namespace ihc {
namespace {

const StainMatrix& hdab() {
  static const StainMatrix m = stain_preset("H-DAB");
  return m;
}

// Index of the detected cell nearest to `p` within `tol` px, or -1.
int nearest(const CellTable& t, cv::Point2d p, double tol) {
  int best = -1;
  double best_d = tol;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const double d = cv::norm(t.cells[i].centroid - p);
    if (d <= best_d) {
      best_d = d;
      best = static_cast<int>(i);
    }
  }
  return best;
}

struct Match {
  int found = 0;      // truth cells with a detection nearby
  int unmatched = 0;  // detections near no truth cell
};

Match match(const CellTable& t, const std::vector<test::SynthCell>& truth, double tol) {
  Match m;
  std::vector<bool> used(t.size(), false);
  for (const auto& c : truth) {
    const int i = nearest(t, c.center, tol);
    if (i >= 0 && !used[static_cast<std::size_t>(i)]) {
      used[static_cast<std::size_t>(i)] = true;
      ++m.found;
    }
  }
  for (bool u : used) m.unmatched += u ? 0 : 1;
  return m;
}

// The detection parameters of the dsg2 preset (hematoxylin detection, relaxed ridge test).
DetectionParams dsg2_params() {
  std::vector<ParamSpec> specs = detection_param_specs();
  for (auto& s : scoring_param_specs()) specs.push_back(s);
  ParamSet set(specs);
  apply_preset(set, "dsg2");
  return detection_params_from(set);
}

bool inside(cv::Point2d p, cv::Size s, double margin) {
  return p.x >= margin && p.y >= margin && p.x < s.width - margin && p.y < s.height - margin;
}

// What the exported outlines of a table look like: outlines that are not simple polygons (either ring),
// nuclei with a point outside their cell (beyond 1/1000 px), and the median ratios of the polygons' areas
// to the area columns (level-0 px at `mpp` um/px).
struct OutlineFigures {
  int not_simple = 0;
  int nucleus_outside = 0;
  double cell_area_ratio = 0;
  double nucleus_area_ratio = 0;
};

OutlineFigures outline_figures(const CellTable& t, double mpp) {
  OutlineFigures f;
  const int cell_area = t.column("Cell: Area um^2");
  const int nucleus_area = t.column("Nucleus: Area um^2");
  std::vector<double> cell_ratio, nucleus_ratio;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const Cell& c = t.cells[i];
    if (!test::ring_is_simple(c.nucleus) || !test::ring_is_simple(c.boundary)) {
      ++f.not_simple;
      continue;
    }
    f.nucleus_outside += test::points_within(c.nucleus, c.boundary, 1e-3) ? 0 : 1;
    cell_ratio.push_back(test::ring_area(c.boundary) * mpp * mpp / t.value(i, cell_area));
    nucleus_ratio.push_back(test::ring_area(c.nucleus) * mpp * mpp / t.value(i, nucleus_area));
  }
  auto median = [](std::vector<double>& v) {
    if (v.empty()) return 0.0;
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    return v[v.size() / 2];
  };
  f.cell_area_ratio = median(cell_ratio);
  f.nucleus_area_ratio = median(nucleus_ratio);
  return f;
}

TEST(CellDetection, MembraneHoneycombOfA3PlusFieldIsNotTakenForNuclei) {
  // Every cell 3+: brown lines (2 um, OD 1.0) all around, far above the nucleus threshold in OD sum.
  const auto field = test::grid_field(
      14, 14, 28.0, 6.0, [](int, int) { return true; }, [](int, int) { return false; });
  // The defaults (OD sum) and the dsg2 preset (hematoxylin, ridge test relaxed to 0.3).
  for (const DetectionParams& params : {DetectionParams{}, dsg2_params()}) {
    SCOPED_TRACE(params.detection_image);
    const CellTable t = detect_cells(field.rgb, 0.5, hdab(), params);
    const Match m = match(t, field.cells, 4.0);
    EXPECT_GE(m.found, static_cast<int>(0.97 * field.cells.size()));
    EXPECT_LE(m.unmatched, 2) << "membrane junctions or lines detected as nuclei";
    // Nuclei keep their size: a 3 um radius nucleus is ~30 um^2, not a honeycomb of hundreds.
    const int area = t.column("Nucleus: Area um^2");
    ASSERT_GE(area, 0);
    for (std::size_t i = 0; i < t.size(); ++i) EXPECT_LT(t.value(i, area), 60.0f);
  }
}

// The H-DAB vectors with DAB turned by `deg` degrees: in the hematoxylin-DAB plane away from hematoxylin
// (the rendered brown then reads as some hematoxylin) or about the axis in that plane (out of it).
StainMatrix dab_rotated(double deg, bool in_plane) {
  const StainMatrix& m = hdab();
  const cv::Vec3d h(m.stains[0].rgb[0], m.stains[0].rgb[1], m.stains[0].rgb[2]);
  const cv::Vec3d d(m.stains[1].rgb[0], m.stains[1].rgb[1], m.stains[1].rgb[2]);
  cv::Vec3d e2 = in_plane ? h - d * d.dot(h) : d.cross(h);
  e2 = e2 / cv::norm(e2);
  const double a = deg * CV_PI / 180.0;
  const cv::Vec3d r = d * std::cos(a) - e2 * std::sin(a);
  StainVector hv = m.stains[0];
  StainVector dv = m.stains[1];
  dv.rgb = {r[0], r[1], r[2]};
  return StainMatrix::from_vectors("H-DAB rotated", hv, dv);
}

// Real stain vectors are 1-15 degrees off the defaults; with DAB 5-7 degrees off, the brown lines of a 3+
// field read 0.17-0.21 hematoxylin OD and, without the crosstalk guard, 180-187 junctions became nuclei.
TEST(CellDetection, HoneycombSeenThroughRotatedDabVectorGivesNoJunctionNucleiWithDsg2) {
  const auto field = test::grid_field(
      14, 14, 28.0, 6.0, [](int, int) { return true; }, [](int, int) { return false; });
  const DetectionParams guarded = dsg2_params();
  ASSERT_GT(guarded.crosstalk_guard, 0);
  DetectionParams unguarded = guarded;
  unguarded.crosstalk_guard = 0;
  for (const bool in_plane : {true, false}) {
    for (const double deg : {3.0, 5.0, 7.0, 10.0, 15.0, -5.0, -10.0, -15.0}) {
      SCOPED_TRACE(std::to_string(deg) + (in_plane ? " deg in plane" : " deg out of plane"));
      const StainMatrix stains = dab_rotated(deg, in_plane);
      const Match m = match(detect_cells(field.rgb, 0.5, stains, guarded), field.cells, 4.0);
      EXPECT_GE(m.found, static_cast<int>(0.97 * field.cells.size()));
      EXPECT_LE(m.unmatched, 2) << "membrane junctions detected as nuclei";
      if ((in_plane && deg >= 5 && deg <= 7) || (!in_plane && std::abs(deg) == 15)) {
        // The trap is real: without the guard the junctions come in (175-192 of 221).
        EXPECT_GT(match(detect_cells(field.rgb, 0.5, stains, unguarded), field.cells, 4.0).unmatched, 100);
      }
    }
  }
}

// The guard keeps blue nuclei overlapped by brown (DAB 0.5 over each nucleus, as much as its hematoxylin).
TEST(CellDetection, CrosstalkGuardKeepsBlueNucleiUnderBrownCytoplasm) {
  auto field = test::grid_field(
      10, 10, 28.0, 6.0, [](int i, int j) { return (i + j) % 2 == 0; }, [](int, int) { return false; });
  // Brown cytoplasm over every nucleus and around it: DAB 0.5 (3+) on the whole field, nuclei 0.5 blue.
  for (auto& c : field.cells) c.dab_nucleus = 0.5;
  field.rgb = test::render_field(field.rgb.size(), field.cells, 28.0, 3, 1.0, 7);
  for (const double deg : {0.0, 7.0}) {
    SCOPED_TRACE(deg);
    const Match m =
        match(detect_cells(field.rgb, 0.5, dab_rotated(deg, true), dsg2_params()), field.cells, 4.0);
    EXPECT_GE(m.found, static_cast<int>(0.97 * field.cells.size()));
    EXPECT_LE(m.unmatched, 2);
  }
}

TEST(CellDetection, NegativeCellNextTo3PlusCellDoesNotBorrowItsMembrane) {
  // One 3+ cell in every 3 x 3 block, surrounded by negative cells.
  auto is3 = [](int i, int j) { return i % 3 == 1 && j % 3 == 1; };
  const auto field = test::grid_field(12, 12, 28.0, 6.0, is3, [](int, int) { return false; });
  for (const DetectionParams& params : {DetectionParams{}, dsg2_params()}) {
    SCOPED_TRACE(params.detection_image);
    const CellTable t = detect_cells(field.rgb, 0.5, hdab(), params);
    const int mem = t.column("Membrane: DAB OD mean");
    ASSERT_GE(mem, 0);
    int n3 = 0, nneg = 0;
    for (int j = 0; j < 12; ++j) {
      for (int i = 0; i < 12; ++i) {
        const auto& c = field.cells[static_cast<std::size_t>(j * 12 + i)];
        if (!inside(c.center, field.rgb.size(), 28)) continue;
        const int k = nearest(t, c.center, 4.0);
        ASSERT_GE(k, 0) << "cell " << i << "," << j << " not found";
        const float v = t.value(static_cast<std::size_t>(k), mem);
        if (is3(i, j)) {
          EXPECT_GT(v, 0.6f) << "3+ cell " << i << "," << j;
          ++n3;
        } else {
          EXPECT_LT(v, 0.2f) << "negative cell " << i << "," << j;
          ++nneg;
        }
      }
    }
    EXPECT_GT(n3, 5);
    EXPECT_GT(nneg, 40);
  }
}

TEST(CellDetection, RidgeKeptHeightBelowTheDefaultLetsAnOdSumHoneycombIn) {
  const auto field = test::grid_field(
      14, 14, 28.0, 6.0, [](int, int) { return true; }, [](int, int) { return false; });
  DetectionParams p;
  ASSERT_EQ(p.detection_image, "OD sum");
  EXPECT_LE(match(detect_cells(field.rgb, 0.5, hdab(), p), field.cells, 4.0).unmatched, 2);
  p.ridge_kept_height = 0.5;
  const Match relaxed = match(detect_cells(field.rgb, 0.5, hdab(), p), field.cells, 4.0);
  EXPECT_GE(relaxed.found, static_cast<int>(0.97 * field.cells.size()));
  EXPECT_GT(relaxed.unmatched, 100) << "the honeycomb should pass a relaxed ridge test in OD sum";
}

TEST(CellDetection, FindsBrownKi67NucleiAndMeasuresTheirDab) {
  auto pos = [](int i, int j) { return (i + 2 * j) % 3 == 0; };
  const auto field = test::grid_field(
      12, 12, 30.0, 7.0, [](int, int) { return false; }, pos);
  const CellTable t = detect_cells(field.rgb, 0.5, hdab(), DetectionParams{});
  const int dab = t.column("Nucleus: DAB OD mean");
  ASSERT_GE(dab, 0);
  EXPECT_EQ(static_cast<int>(t.size()), 144);
  for (int j = 0; j < 12; ++j) {
    for (int i = 0; i < 12; ++i) {
      const auto& c = field.cells[static_cast<std::size_t>(j * 12 + i)];
      const int k = nearest(t, c.center, 3.0);
      ASSERT_GE(k, 0) << "cell " << i << "," << j << (pos(i, j) ? " (brown)" : " (blue)") << " not found";
      if (pos(i, j)) {
        EXPECT_GT(t.value(static_cast<std::size_t>(k), dab), 0.4f);
        // A brown nucleus is not a line: its cell still grows a cytoplasm.
        EXPECT_GT(t.value(static_cast<std::size_t>(k), t.column("Cell: Area um^2")),
                  2.0f * t.value(static_cast<std::size_t>(k), t.column("Nucleus: Area um^2")));
      } else {
        EXPECT_LT(t.value(static_cast<std::size_t>(k), dab), 0.1f);
      }
    }
  }
}

// A user raises min_area_um2 to leave small nuclei (lymphocytes) out: every larger nucleus is still found.
// Until session 8 the ridge opening took the disk of the minimum area, so nuclei just above it failed the
// ridge test.
TEST(CellDetection, RaisingTheMinimumAreaOnlyDropsSmallerNuclei) {
  const auto field = test::grid_field(
      8, 8, 30.0, 7.0, [](int, int) { return false; }, [](int, int) { return false; });
  DetectionParams p;
  const CellTable all = detect_cells(field.rgb, 0.5, hdab(), p);
  ASSERT_EQ(all.size(), 64u);
  const int area = all.column("Nucleus: Area um^2");
  float smallest = 1e9f;
  for (std::size_t i = 0; i < all.size(); ++i) smallest = std::min(smallest, all.value(i, area));
  p.min_area_um2 = 0.8 * smallest;  // about 30 um^2: a 3.1 um disk
  const CellTable raised = detect_cells(field.rgb, 0.5, hdab(), p);
  EXPECT_EQ(match(raised, field.cells, 3.0).found, 64);
  p.min_area_um2 = 2.0 * smallest;
  EXPECT_EQ(detect_cells(field.rgb, 0.5, hdab(), p).size(), 0u);
}

TEST(CellDetection, HematoxylinDetectionImageAlsoFindsBlueNuclei) {
  const auto field = test::grid_field(
      8, 8, 30.0, 7.0, [](int, int) { return false; }, [](int, int) { return false; });
  DetectionParams p;
  p.detection_image = "Hematoxylin OD";
  const CellTable t = detect_cells(field.rgb, 0.5, hdab(), p);
  EXPECT_EQ(match(t, field.cells, 3.0).found, 64);
  EXPECT_EQ(static_cast<int>(t.size()), 64);
}

// RGB through the H-DAB vectors from hematoxylin and DAB optical densities (CV_32F planes).
cv::Mat rgb_from_od(const cv::Mat& h, const cv::Mat& d) {
  cv::Mat rgb(h.size(), CV_8UC3);
  for (int y = 0; y < h.rows; ++y) {
    for (int x = 0; x < h.cols; ++x) {
      for (int c = 0; c < 3; ++c) {
        const double od = h.at<float>(y, x) * hdab().stains[0].rgb[static_cast<std::size_t>(c)] +
                          d.at<float>(y, x) * hdab().stains[1].rgb[static_cast<std::size_t>(c)];
        rgb.at<cv::Vec3b>(y, x)[c] = cv::saturate_cast<uchar>(255.0 * std::pow(10.0, -od));
      }
    }
  }
  return rgb;
}

// Pale blue nuclei in grey-brown haze (DeepLIIF 22_2, docs/accuracy.md): as dark as the haze in the OD sum,
// darker in hematoxylin. The ki67 preset's second search on hematoxylin finds them; brown nuclei are found
// once, by the OD sum, and stay positive.
TEST(CellDetection, HematoxylinSearchFindsPaleBlueNucleiInBrownHaze) {
  const cv::Size size(480, 320);
  const double h_sum = hdab().stains[0].rgb[0] + hdab().stains[0].rgb[1] + hdab().stains[0].rgb[2];
  const double d_sum = hdab().stains[1].rgb[0] + hdab().stains[1].rgb[1] + hdab().stains[1].rgb[2];
  const float haze_h = 0.12f, haze_d = 0.15f;
  const auto blue_h = static_cast<float>((haze_h * h_sum + haze_d * d_sum) / h_sum);  // same OD sum
  cv::Mat h(size, CV_32F, cv::Scalar(haze_h)), d(size, CV_32F, cv::Scalar(haze_d));
  const std::vector<cv::Point> blue = {{80, 90}, {200, 90}, {80, 230}, {320, 230}};
  const std::vector<cv::Point> brown = {{320, 90}, {200, 230}};
  for (const auto& c : blue) {
    cv::circle(h, c, 9, cv::Scalar(blue_h), cv::FILLED);
    cv::circle(d, c, 9, cv::Scalar(0), cv::FILLED);
  }
  for (const auto& c : brown) {
    cv::circle(h, c, 9, cv::Scalar(0.05), cv::FILLED);
    cv::circle(d, c, 9, cv::Scalar(0.6), cv::FILLED);
  }
  cv::GaussianBlur(h, h, cv::Size(0, 0), 1.0);
  cv::GaussianBlur(d, d, cv::Size(0, 0), 1.0);
  const cv::Mat rgb = rgb_from_od(h, d);
  ASSERT_GT(blue_h - haze_h, 0.1f);

  DetectionParams p;
  p.hematoxylin_search = false;
  const CellTable od_sum = detect_cells(rgb, 0.5, hdab(), p);
  for (const auto& c : blue) EXPECT_LT(nearest(od_sum, c, 4.0), 0) << "the OD sum alone sees " << c;
  for (const auto& c : brown) EXPECT_GE(nearest(od_sum, c, 4.0), 0) << c;

  p.hematoxylin_search = true;
  const CellTable both = detect_cells(rgb, 0.5, hdab(), p);
  EXPECT_EQ(both.size(), 6u);
  const int dab = both.column("Nucleus: DAB OD mean");
  for (const auto& c : blue) {
    const int k = nearest(both, c, 4.0);
    ASSERT_GE(k, 0) << "blue nucleus at " << c << " not found";
    EXPECT_LT(both.value(static_cast<std::size_t>(k), dab), 0.1f);
    EXPECT_NEAR(both.value(static_cast<std::size_t>(k), both.column("Nucleus: Area um^2")), 0.25 * CV_PI * 81,
                0.3 * 0.25 * CV_PI * 81);
  }
  for (const auto& c : brown) {
    const int k = nearest(both, c, 4.0);
    ASSERT_GE(k, 0) << c;
    EXPECT_GT(both.value(static_cast<std::size_t>(k), dab), 0.4f);
  }
}

TEST(CellDetection, TiledAndUntiledDetectionGiveTheSameCells) {
  const auto field = test::random_field(cv::Size(1600, 1400), 2500, 7.0, 11);
  for (const bool hematoxylin_search : {false, true}) {
    SCOPED_TRACE(hematoxylin_search ? "with the second search on hematoxylin" : "OD sum alone");
    DetectionParams whole;
    whole.tile_size_px = 4096;
    whole.threads = 1;
    whole.hematoxylin_search = hematoxylin_search;
    DetectionParams tiled = whole;
    tiled.tile_size_px = 256;
    tiled.threads = 2;
    const CellTable a = detect_cells(field.rgb, 0.5, hdab(), whole);
    const CellTable b = detect_cells(field.rgb, 0.5, hdab(), tiled);
    ASSERT_GT(a.size(), 2000u);
    EXPECT_LE(std::abs(static_cast<double>(a.size()) - static_cast<double>(b.size())), 0.005 * a.size());
    int far = 0;
    for (const auto& c : a.cells) {
      if (nearest(b, c.centroid, 1.0) < 0) ++far;
    }
    EXPECT_LE(far, static_cast<int>(0.005 * a.size()))
        << "cells whose tiled centroid moved by more than 1 px";
    // Ids unique, 1..n, ordered by position.
    for (std::size_t i = 0; i < b.size(); ++i) {
      EXPECT_EQ(b.cells[i].id, static_cast<std::int64_t>(i + 1));
      if (i > 0) {
        EXPECT_LE(b.cells[i - 1].centroid.y, b.cells[i].centroid.y);
      }
    }
    // No nucleus twice where tiles meet (SeamCells): no two centroids within 2 px.
    int twice = 0;
    for (std::size_t i = 0; i < b.size(); ++i) {
      for (std::size_t j = i + 1; j < b.size() && b.cells[j].centroid.y - b.cells[i].centroid.y < 2.0; ++j) {
        twice += cv::norm(b.cells[j].centroid - b.cells[i].centroid) < 2.0;
      }
    }
    EXPECT_EQ(twice, 0);
  }
}

// Exported outlines are simple polygons along the pixels' edges, in level-0 pixels of a slide scanned at
// twice the analysis resolution too: their areas are the area columns' (the median within 1 %), and each
// nucleus lies in its cell. Before they were traced along pixel edges, outlines through pixel centres ran
// over themselves (one-pixel necks traced there and back: 31-35 of about 910 cells smoothed, 222-235
// unsmoothed), about 540 nuclei had points outside their cell, and the median areas were 0.92 (cells) and
// 0.86 (nuclei) of the columns.
TEST(CellDetection, OutlinesAreSimplePolygonsWhoseAreasAreTheAreaColumns) {
  const auto field = test::random_field(cv::Size(900, 800), 2500, 7.0, 17);
  cv::Mat twice;
  cv::resize(field.rgb, twice, field.rgb.size() * 2, 0, 0, cv::INTER_LINEAR);
  for (const bool smooth : {true, false}) {
    for (const double mpp : {0.5, 0.25}) {
      SCOPED_TRACE(std::string(smooth ? "smoothed" : "unsmoothed") + " at " + std::to_string(mpp) + " um/px");
      DetectionParams p;
      p.smooth_boundaries = smooth;
      const CellTable t = detect_cells(mpp == 0.5 ? field.rgb : twice, mpp, hdab(), p);
      ASSERT_GT(t.size(), 800u);
      const OutlineFigures f = outline_figures(t, mpp);
      EXPECT_EQ(f.not_simple, 0);
      EXPECT_EQ(f.nucleus_outside, 0);
      EXPECT_NEAR(f.cell_area_ratio, 1.0, 0.01);
      EXPECT_NEAR(f.nucleus_area_ratio, 1.0, 0.01);
    }
  }
}

// A padded tile's core: the cells kept are those of the whole image inside it, with the same nuclei.
TEST(CellDetection, KeepReturnsTheWholeImagesCellsInsideIt) {
  const auto field = test::random_field(cv::Size(900, 800), 700, 7.0, 5);
  const CellTable all = detect_cells(field.rgb, 0.5, hdab(), DetectionParams{});
  DetectionRegion region;
  region.keep = cv::Rect(250, 200, 400, 350);
  const CellTable kept = detect_cells(field.rgb, 0.5, hdab(), DetectionParams{}, region);
  const int area = all.column("Nucleus: Area um^2");
  const int dab = all.column("Cell: DAB OD mean");
  const cv::Rect inner(region.keep.x + 3, region.keep.y + 3, region.keep.width - 6, region.keep.height - 6);
  const cv::Rect outer(region.keep.x - 3, region.keep.y - 3, region.keep.width + 6, region.keep.height + 6);
  int inside = 0;
  for (std::size_t i = 0; i < all.size(); ++i) {
    const cv::Point2d c = all.cells[i].centroid;
    if (!inner.contains(cv::Point(static_cast<int>(c.x), static_cast<int>(c.y)))) continue;
    ++inside;
    const int k = nearest(kept, c, 1e-6);
    ASSERT_GE(k, 0) << c;
    EXPECT_EQ(kept.cells[static_cast<std::size_t>(k)].centroid, c);  // the same bits
    EXPECT_EQ(kept.value(static_cast<std::size_t>(k), area), all.value(i, area));
    // Cell borders may move by a pixel where two cells tie: the flood quantises the growth landscape over
    // the range of the part it grows in (largest difference on this field 0.0034 OD with the concave split
    // off, 0.0063 with its wider context; 54 of the cells differ at all, most by less than 0.001).
    EXPECT_NEAR(kept.value(static_cast<std::size_t>(k), dab), all.value(i, dab), 0.01);
  }
  EXPECT_GT(inside, 50);
  for (const auto& c : kept.cells) {
    EXPECT_TRUE(outer.contains(cv::Point(static_cast<int>(c.centroid.x), static_cast<int>(c.centroid.y))))
        << c.centroid;
  }
}

TEST(CellDetection, WorksAtTheRequestedPixelSizeAndReportsLevel0Coordinates) {
  // The same cells imaged at 0.25 um/px (radius 12 px = 3 um): detected at 0.5 um/px, reported in input
  // pixels.
  const auto field = test::grid_field(
      8, 8, 56.0, 12.0, [](int, int) { return false; }, [](int, int) { return false; });
  const CellTable t = detect_cells(field.rgb, 0.25, hdab(), DetectionParams{});
  ASSERT_EQ(static_cast<int>(t.size()), 64);
  EXPECT_EQ(match(t, field.cells, 2.0).found, 64);
  const int area = t.column("Nucleus: Area um^2");
  const int cx = t.column("Centroid X um");
  ASSERT_GE(area, 0);
  ASSERT_GE(cx, 0);
  for (std::size_t i = 0; i < t.size(); ++i) {
    // Ellipses of radius 3 um, elongation 1-1.3: 28-37 um^2.
    EXPECT_GT(t.value(i, area), 22.0f);
    EXPECT_LT(t.value(i, area), 45.0f);
    EXPECT_NEAR(t.value(i, cx), t.cells[i].centroid.x * 0.25, 1e-3);
  }
  // A region placed in a slide: origin and scale carry the cells to level-0 pixels. Pixel-edge convention:
  // pixel p of the image covers [origin + 4 p, origin + 4 (p + 1)], so a coordinate u of the image (pixel
  // edges at integers) is origin + 4 u at level 0.
  DetectionRegion region;
  region.origin = {1000, 2000};
  region.scale_to_level0 = 4.0;
  const CellTable moved = detect_cells(field.rgb, 0.25, hdab(), DetectionParams{}, region);
  ASSERT_EQ(moved.size(), t.size());
  for (std::size_t i = 0; i < t.size(); ++i) {
    EXPECT_NEAR(moved.cells[i].centroid.x, 1000 + t.cells[i].centroid.x * 4, 1e-6);
    EXPECT_NEAR(moved.cells[i].centroid.y, 2000 + t.cells[i].centroid.y * 4, 1e-6);
  }
  for (std::size_t i = 0; i < t.size(); ++i) {
    for (std::size_t k = 0; k < t.cells[i].nucleus.size() && k < moved.cells[i].nucleus.size(); ++k) {
      EXPECT_NEAR(moved.cells[i].nucleus[k].x, 1000 + t.cells[i].nucleus[k].x * 4, 1e-3);
      EXPECT_NEAR(moved.cells[i].nucleus[k].y, 2000 + t.cells[i].nucleus[k].y * 4, 1e-3);
    }
  }
}

// A 512 px image given --mpp 30 was upsampled 60x (3 GB, 52 s) and scored "ok" with 2 cells; --mpp 250 died
// in an allocation of 3 TB. Up to 4x (a 2 um/px scan) is detected; beyond, the image is refused, named.
TEST(CellDetection, AnImageFarCoarserThanTheAnalysisPixelIsRefusedNotUpsampled) {
  EXPECT_NO_THROW(check_detection_upsampling(2.0, 0.5, "a.png"));
  EXPECT_NO_THROW(check_detection_upsampling(std::nan(""), 0.5, "a.png"));  // uncalibrated: pixels
  try {
    check_detection_upsampling(30.0, 0.5, "a.png");
    ADD_FAILURE() << "a 60x upsampling was accepted";
  } catch (const DetectionError& e) {
    EXPECT_EQ(
        std::string(e.what()),
        "a.png: pixel size 30 um/px is too coarse to detect cells at 0.5 um/px (60x upsampling, at most "
        "4x): give a scan of 2 um/px or finer, or a larger requested_pixel_size_um");
  }
  // Just past the limit the ratio is rounded up, not to the limit itself ("4x upsampling, at most 4x").
  try {
    check_detection_upsampling(2.01, 0.5, "b.png");
    ADD_FAILURE() << "a 4.02x upsampling was accepted";
  } catch (const DetectionError& e) {
    EXPECT_NE(std::string(e.what()).find("(4.1x upsampling, at most 4x)"), std::string::npos) << e.what();
  }
  const auto field = test::grid_field(
      2, 2, 40.0, 9.0, [](int, int) { return false; }, [](int, int) { return false; });
  EXPECT_THROW(detect_cells(field.rgb, 2.5, hdab(), DetectionParams{}), DetectionError);
}

// A 0.499 um/px scan is read as it is, not resampled by 0.2 %: the same cells as when 0.499 is requested.
TEST(CellDetection, LevelWithinOnePercentOfTheRequestedPixelSizeIsUsedAsItIs) {
  EXPECT_DOUBLE_EQ(analysis_pixel_size_um(0.5, 0.499, {1.0}), 0.499);
  EXPECT_DOUBLE_EQ(analysis_pixel_size_um(0.5, 0.5049, {1.0}), 0.5049);
  EXPECT_DOUBLE_EQ(analysis_pixel_size_um(0.5, 0.506, {1.0}), 0.5);        // 1.2 % off
  EXPECT_DOUBLE_EQ(analysis_pixel_size_um(0.5, 0.2527, {1.0, 4.0}), 0.5);  // 40x scan: resampled
  EXPECT_DOUBLE_EQ(analysis_pixel_size_um(0.5, 0.1251, {1.0, 4.0, 16.0}), 0.1251 * 4.0);
  EXPECT_DOUBLE_EQ(analysis_pixel_size_um(0.5, 0.2495, {1.0, 2.0, 2.003}), 0.2495 * 2.003);  // the nearest
  EXPECT_DOUBLE_EQ(analysis_pixel_size_um(0.5, std::nan(""), {1.0}), 0.5);
  EXPECT_DOUBLE_EQ(analysis_pixel_size_um(0.5, 0.0, {1.0}), 0.5);

  const auto field = test::grid_field(
      5, 5, 40.0, 9.0, [](int, int) { return false; }, [](int, int) { return false; });
  const CellTable requested = detect_cells(field.rgb, 0.499, hdab(), DetectionParams{});
  DetectionParams native;
  native.requested_pixel_size_um = 0.499;
  const CellTable as_is = detect_cells(field.rgb, 0.499, hdab(), native);
  ASSERT_EQ(requested.size(), 25u);
  ASSERT_EQ(as_is.size(), requested.size());
  const int area = requested.column("Nucleus: Area um^2");
  for (std::size_t i = 0; i < requested.size(); ++i) {
    EXPECT_EQ(requested.cells[i].centroid, as_is.cells[i].centroid);
    EXPECT_EQ(requested.value(i, area), as_is.value(i, area));
  }
}

TEST(CellDetection, ColumnsFollowQuPathNames) {
  const auto field = test::grid_field(
      4, 4, 30.0, 7.0, [](int, int) { return false; }, [](int, int) { return false; });
  const CellTable t = detect_cells(field.rgb, 0.5, hdab(), DetectionParams{});
  for (const char* name :
       {"Centroid X um", "Centroid Y um", "Nucleus: Area um^2", "Cell: Area um^2", "Nucleus: Circularity",
        "Nucleus: Hematoxylin OD mean", "Nucleus: Hematoxylin OD std dev", "Membrane: DAB OD mean",
        "Cytoplasm: DAB OD max", "Cell: DAB OD max", "Cell: Hematoxylin OD std dev"}) {
    EXPECT_GE(t.column(name), 0) << name;
  }
  ASSERT_EQ(t.size(), 16u);
  const int circ = t.column("Nucleus: Circularity");
  const int nuc = t.column("Nucleus: Area um^2");
  const int cell = t.column("Cell: Area um^2");
  for (std::size_t i = 0; i < t.size(); ++i) {
    EXPECT_GT(t.value(i, circ), 0.8f);
    EXPECT_LE(t.value(i, circ), 1.0f);
    EXPECT_GT(t.value(i, cell), 2.0f * t.value(i, nuc));
    EXPECT_GE(t.cells[i].boundary.size(), 6u);
    EXPECT_GE(t.cells[i].nucleus.size(), 6u);
  }
  // Without a pixel size areas are in pixels and there are no micron centroids.
  const CellTable px = detect_cells(field.rgb, std::nan(""), hdab(), DetectionParams{});
  EXPECT_EQ(px.column("Centroid X um"), -1);
  EXPECT_GE(px.column("Nucleus: Area px^2"), 0);
  EXPECT_EQ(px.size(), t.size());
}

TEST(CellDetection, ParametersRoundTripThroughTheirSpecs) {
  ParamSet set(detection_param_specs());
  const DetectionParams defaults = detection_params_from(set);
  const DetectionParams reference;
  EXPECT_EQ(defaults.requested_pixel_size_um, reference.requested_pixel_size_um);
  EXPECT_EQ(defaults.detection_image, reference.detection_image);
  EXPECT_EQ(defaults.background_radius_um, reference.background_radius_um);
  EXPECT_EQ(defaults.sigma_um, reference.sigma_um);
  EXPECT_EQ(defaults.min_area_um2, reference.min_area_um2);
  EXPECT_EQ(defaults.max_area_um2, reference.max_area_um2);
  EXPECT_EQ(defaults.threshold, reference.threshold);
  EXPECT_EQ(defaults.max_background, reference.max_background);
  EXPECT_EQ(defaults.split_by_shape, reference.split_by_shape);
  EXPECT_EQ(defaults.pale_nuclei, reference.pale_nuclei);
  EXPECT_EQ(defaults.ridge_kept_height, reference.ridge_kept_height);
  EXPECT_EQ(defaults.crosstalk_guard, reference.crosstalk_guard);
  EXPECT_EQ(defaults.cell_expansion_um, reference.cell_expansion_um);
  EXPECT_EQ(defaults.smooth_boundaries, reference.smooth_boundaries);
  EXPECT_EQ(defaults.membrane_width_um, reference.membrane_width_um);
  EXPECT_EQ(defaults.tile_size_px, reference.tile_size_px);
  EXPECT_EQ(defaults.threads, reference.threads);

  set.set("detection_image", "Hematoxylin OD");
  set.set("sigma_um", "2.25");
  set.set("split_by_shape", "false");
  set.set("membrane_width_um", "1.5");
  set.set("tile_size_px", "512");
  set.set("pale_nuclei", "false");
  set.set("ridge_kept_height", "0.3");
  set.set("crosstalk_guard", "2.5");
  ParamSet reloaded(detection_param_specs());
  reloaded.load_text(set.to_text(), "saved.params");
  const DetectionParams p = detection_params_from(reloaded);
  EXPECT_EQ(p.detection_image, "Hematoxylin OD");
  EXPECT_EQ(p.sigma_um, 2.25);
  EXPECT_FALSE(p.split_by_shape);
  EXPECT_EQ(p.membrane_width_um, 1.5);
  EXPECT_EQ(p.tile_size_px, 512);
  EXPECT_FALSE(p.pale_nuclei);
  EXPECT_EQ(p.ridge_kept_height, 0.3);
  EXPECT_EQ(p.crosstalk_guard, 2.5);

  set.set("min_area_um2", "500");
  try {
    detection_params_from(set);
    FAIL() << "min area above max area accepted";
  } catch (const DetectionError& e) {
    EXPECT_STREQ(e.what(), "cell detection: max_area_um2 (400) must be greater than min_area_um2 (500)");
  }
}

// The message of the DetectionError detect_cells throws for this input ("" when it throws none).
std::string detection_error(const cv::Mat& rgb, const DetectionParams& p) {
  try {
    detect_cells(rgb, 0.5, hdab(), p);
  } catch (const DetectionError& e) {
    return e.what();
  }
  return "";
}

TEST(CellDetection, BadInputGetsAClearError) {
  EXPECT_EQ(detection_error(cv::Mat(), {}), "detect_cells: the image is empty");
  EXPECT_EQ(detection_error(cv::Mat::zeros(64, 64, CV_32F), {}),
            "detect_cells: expected an 8-bit RGB image (CV_8UC3), got CV_32FC1");
  EXPECT_EQ(detection_error(cv::Mat::zeros(64, 64, CV_8UC4), {}),
            "detect_cells: expected an 8-bit RGB image (CV_8UC3), got CV_8UC4");
  const cv::Mat grey(64, 64, CV_8UC3, cv::Scalar::all(240));
  DetectionParams p;
  p.detection_image = "DAB";
  EXPECT_EQ(detection_error(grey, p),
            "cell detection: detection_image must be 'OD sum' or 'Hematoxylin OD', got 'DAB'");
  p = DetectionParams{};
  p.ridge_kept_height = 1.5;
  EXPECT_EQ(detection_error(grey, p), "cell detection: ridge_kept_height must be between 0 and 1, got 1.5");
  p = DetectionParams{};
  p.ridge_close_um = -0.5;
  EXPECT_EQ(detection_error(grey, p), "cell detection: ridge_close_um must be between 0 and 5, got -0.5");
  // The crosstalk guard needs hematoxylin detection: in OD sum brown nuclei are real.
  p = DetectionParams{};
  p.crosstalk_guard = 2;
  EXPECT_EQ(detection_error(grey, p),
            "cell detection: crosstalk_guard applies to detection_image 'Hematoxylin OD' only; set it to 0 "
            "with 'OD sum'");
  p.detection_image = "Hematoxylin OD";
  p.crosstalk_guard = -1;
  EXPECT_EQ(detection_error(grey, p), "cell detection: crosstalk_guard must be >= 0, got -1");
  // The second search on hematoxylin belongs to OD sum detection, and its 2 x 2 blocks to even tiles.
  p = DetectionParams{};
  p.detection_image = "Hematoxylin OD";
  p.hematoxylin_search = true;
  EXPECT_EQ(detection_error(grey, p),
            "cell detection: hematoxylin_search applies to detection_image 'OD sum' only; set it to false "
            "with 'Hematoxylin OD'");
  p.detection_image = "OD sum";
  p.tile_size_px = 1001;
  EXPECT_EQ(detection_error(grey, p),
            "cell detection: tile_size_px must be even with hematoxylin_search (its search works on 2 x 2 "
            "blocks), got 1001");
  // Limits in analysis pixels, which the micron ranges alone do not give: a background radius of 1000 um at
  // 0.05 um/px took 12.6 GB for a 64 px image; a median of 98 um failed inside OpenCV.
  p = DetectionParams{};
  p.requested_pixel_size_um = 0.1;
  p.background_radius_um = 100;
  EXPECT_EQ(
      detection_error(grey, p),
      "cell detection: these parameters need tiles overlapping by 2531 px at 0.1 um/px, above the 1024 px "
      "a tile worker's memory allows; the overlap grows with max_area_um2 (400), cell_expansion_um (5), "
      "membrane_search_um (8), sigma_um (1.5) and twice background_radius_um (100): lower them or raise "
      "requested_pixel_size_um");
  p.requested_pixel_size_um = 0.5;  // the same radius is 200 px at 0.5 um/px: allowed
  EXPECT_EQ(detection_error(grey, p), "");
  p = DetectionParams{};
  p.requested_pixel_size_um = 0.1;
  p.median_radius_um = 10.5;
  EXPECT_EQ(
      detection_error(grey, p),
      "cell detection: median_radius_um = 10.5 is 105 px at 0.1 um/px, above the 100 px the median filter "
      "takes");
  // Blank and tiny images are valid and simply hold no cells.
  EXPECT_EQ(detect_cells(cv::Mat(300, 300, CV_8UC3, cv::Scalar::all(250)), 0.5, hdab(), {}).size(), 0u);
  EXPECT_EQ(detect_cells(cv::Mat(1, 1, CV_8UC3, cv::Scalar::all(0)), 0.5, hdab(), {}).size(), 0u);
  DetectionParams search;
  search.hematoxylin_search = true;
  EXPECT_EQ(detect_cells(cv::Mat(1, 1, CV_8UC3, cv::Scalar::all(0)), 0.5, hdab(), search).size(), 0u);
  EXPECT_EQ(detect_cells(cv::Mat(3, 1, CV_8UC3, cv::Scalar::all(0)), 0.5, hdab(), search).size(), 0u);
}

// --- detect_cells_in_slide over a plain image opened as a slide
// -----------------------------------------------

std::filesystem::path write_png(const cv::Mat& rgb, const std::string& name) {
  const auto dir = test::temp_dir(name);
  const auto path = dir / (name + ".png");
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  cv::imwrite(path.string(), bgr);
  return path;
}

TEST(CellDetectionInSlide, MatchesInMemoryDetectionReportsProgressAndHonoursTheMask) {
  const auto field = test::random_field(cv::Size(900, 700), 2500, 7.0, 5);
  const auto path = write_png(field.rgb, "detect_slide");
  OpenOptions oo;
  oo.mpp_override = 0.5;
  auto slide = open_slide(path, oo);
  DetectionParams p;
  p.tile_size_px = 256;
  p.threads = 2;
  std::atomic<int> calls{0};
  int last_total = 0;
  SlideDetectionOptions options;
  options.on_progress = [&](const DetectionProgress& pr) {
    ++calls;
    last_total = pr.tiles_total;
  };
  const CellTable s = detect_cells_in_slide(*slide, hdab(), p, options);
  const CellTable m = detect_cells(field.rgb, 0.5, hdab(), p);
  EXPECT_EQ(calls.load(), 12);  // 4 x 3 tiles of 256 px
  EXPECT_EQ(last_total, 12);
  ASSERT_GT(m.size(), 600u);
  EXPECT_EQ(s.size(), m.size());
  int far = 0;
  for (const auto& c : m.cells) far += nearest(s, c.centroid, 0.5) < 0 ? 1 : 0;
  EXPECT_EQ(far, 0);

  // Left half of the mask only: no cell to the right of it.
  SlideDetectionOptions masked;
  masked.tissue_mask = cv::Mat::zeros(70, 90, CV_8U);
  masked.tissue_mask(cv::Rect(0, 0, 45, 70)).setTo(255);
  const CellTable left = detect_cells_in_slide(*slide, hdab(), p, masked);
  EXPECT_GT(left.size(), m.size() / 3);
  EXPECT_LT(left.size(), m.size() * 2 / 3);
  for (const auto& c : left.cells) EXPECT_LT(c.centroid.x, 450.0);

  // Cancelled before the first tile: an error, never a partial table.
  std::atomic<bool> cancel{true};
  SlideDetectionOptions cancelled;
  cancelled.cancel = &cancel;
  try {
    detect_cells_in_slide(*slide, hdab(), p, cancelled);
    FAIL() << "cancelled detection returned";
  } catch (const DetectionCancelled& e) {
    EXPECT_EQ(std::string(e.what()), path.string() + ": cell detection cancelled after 0 of 12 tiles");
  }
}

// --- Real annotated Ki-67 images
// -------------------------------------------------------------------------------

struct PointTruth {
  cv::Point2d p;
  int label;
};

double recall_of_annotated_cells(const CellTable& t, const std::vector<PointTruth>& truth, double tol) {
  int found = 0;
  for (const auto& g : truth) found += nearest(t, g.p, tol) >= 0 ? 1 : 0;
  return truth.empty() ? 1.0 : static_cast<double>(found) / truth.size();
}

cv::Mat read_rgb(const std::filesystem::path& path) {
  cv::Mat bgr = cv::imread(path.string(), cv::IMREAD_COLOR);
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

TEST(CellDetectionRealData, FindsAnnotatedTumourCellsInShidcKi67Images) {
  // Camera images at ~40x (about 0.25 um/px); points mark positive, negative tumour cells and TILs.
  for (const char* name : {"p1_0299_1", "p1_0313_3", "p1_0317_7"}) {
    IHC_REQUIRE_SHARED(image, std::string("SHIDC-B-Ki-67_sample/1.bare_images/Test/") + name + ".jpg");
    std::ifstream in(image.parent_path() / (std::string(name) + ".json"));
    nlohmann::json j;
    in >> j;
    std::vector<PointTruth> truth;
    for (const auto& e : j)
      truth.push_back({{e["x"].get<double>(), e["y"].get<double>()}, e["label_id"].get<int>()});
    const CellTable t = detect_cells(read_rgb(image), 0.25, hdab(), DetectionParams{});
    // Within 5 um of the annotated point. Measured 0.83-0.86 (pale and touching nuclei are the misses); the
    // brief's target is F1 >= 0.8 per class, which the evaluation helper measures with grading.
    EXPECT_GE(recall_of_annotated_cells(t, truth, 20.0), 0.8) << name;
  }
}

// Every nucleus has at least the minimum area, also where its outline reached into an earlier nucleus (this
// field had one of 6.5 um^2: the area test counted the pixels the earlier nucleus kept).
TEST(CellDetectionRealData, NoNucleusIsBelowTheMinimumArea) {
  IHC_REQUIRE_SHARED(image, "SHIDC-B-Ki-67_sample/1.bare_images/Test/p1_0299_9.jpg");
  const DetectionParams p;
  const CellTable t = detect_cells(read_rgb(image), 0.25, hdab(), p);
  ASSERT_GT(t.size(), 200u);
  const int area = t.column("Nucleus: Area um^2");
  for (std::size_t i = 0; i < t.size(); ++i) {
    EXPECT_GE(t.value(i, area), p.min_area_um2) << "cell at " << t.cells[i].centroid;
    EXPECT_GE(t.cells[i].nucleus.size(), 3u) << "cell at " << t.cells[i].centroid;
  }
}

// The same on a real Ki-67 field (0.25 um/px scan, so two level-0 pixels per analysis pixel). Before: 4 of
// 315 cells had an outline running over itself smoothed, 49 unsmoothed; median areas 0.93 and 0.87 of the
// columns.
TEST(CellDetectionRealData, OutlinesOfAShidcFieldAreSimplePolygonsWhoseAreasAreTheAreaColumns) {
  IHC_REQUIRE_SHARED(image, "SHIDC-B-Ki-67_sample/1.bare_images/Test/p1_0299_1.jpg");
  const cv::Mat rgb = read_rgb(image);
  for (const bool smooth : {true, false}) {
    SCOPED_TRACE(smooth ? "smoothed" : "unsmoothed");
    DetectionParams p;
    p.smooth_boundaries = smooth;
    const CellTable t = detect_cells(rgb, 0.25, hdab(), p);
    ASSERT_GT(t.size(), 300u);
    const OutlineFigures f = outline_figures(t, 0.25);
    EXPECT_EQ(f.not_simple, 0);
    EXPECT_EQ(f.nucleus_outside, 0);
    EXPECT_NEAR(f.cell_area_ratio, 1.0, 0.01);
    EXPECT_NEAR(f.nucleus_area_ratio, 1.0, 0.01);
  }
}

TEST(CellDetectionRealData, FindsDeepliifMaskCells) {
  IHC_REQUIRE_SHARED(image, "DeepLIIF/Datasets/Sample_Dataset/test_cli/22_2.png");
  IHC_REQUIRE_SHARED(mask_path, "DeepLIIF/Datasets/Sample_Dataset/test_groundtruth/22_2.png");
  const cv::Mat mask = cv::imread(mask_path.string(), cv::IMREAD_COLOR);  // BGR: red positive, blue negative
  std::vector<cv::Mat> ch;
  cv::split(mask, ch);
  std::vector<PointTruth> truth;
  for (int label = 1; label <= 2; ++label) {
    const cv::Mat bin = label == 1 ? (ch[2] > 200) & (ch[1] < 50) & (ch[0] < 50)
                                   : (ch[0] > 200) & (ch[1] < 50) & (ch[2] < 50);
    cv::Mat lab, stats, centroids;
    const int n = cv::connectedComponentsWithStats(bin, lab, stats, centroids, 4);
    for (int i = 1; i < n; ++i) {
      if (stats.at<int>(i, cv::CC_STAT_AREA) < 10) continue;
      truth.push_back({{centroids.at<double>(i, 0), centroids.at<double>(i, 1)}, label});
    }
  }
  ASSERT_GT(truth.size(), 100u);
  const CellTable t = detect_cells(read_rgb(image), 0.25, hdab(), DetectionParams{});
  // Measured 0.75: many very pale (OD < 0.1) negative nuclei fall under QuPath's default threshold.
  EXPECT_GE(recall_of_annotated_cells(t, truth, 20.0), 0.72);
}

}  // namespace
}  // namespace ihc
