#include "imaging/pipeline.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "imaging/stains.hpp"
#include "imaging/tiff_writer.hpp"
#include "models/regions.hpp"
#include "models/results_io.hpp"
#include "support/test_support.hpp"

namespace ihc {
namespace {

namespace fs = std::filesystem;

constexpr double kMpp = 0.5;
// Tissue: x < 1000 of a 1600 x 1200 px field (0.3 mm^2). Debris: two specks of 22 px radius on the glass, one
// nucleus each, far below tissue detection's smallest piece (0.05 mm^2) and beyond its closing reach.
const cv::Rect kTissue(0, 0, 1000, 1200);
const std::vector<cv::Point> kDebris{{1400, 300}, {1400, 900}};
constexpr int kSpeckRadius = 22;

void add_nucleus(cv::Mat& h, cv::Mat& d, cv::Point c, bool positive) {
  cv::Mat disk = cv::Mat::zeros(h.size(), CV_8U);
  cv::ellipse(disk, c, cv::Size(8, 6), (c.x * 7 + c.y) % 180, 0, 360, cv::Scalar(255), cv::FILLED);
  h.setTo(positive ? 0.4 : 0.6, disk);
  if (positive) d.setTo(0.5, disk);
}

// Beer-Lambert RGB (glass 245) of hematoxylin and DAB optical densities.
cv::Mat render(const cv::Mat& h, const cv::Mat& d) {
  const StainMatrix m = stain_preset("H-DAB");
  cv::Mat noise(h.size(), CV_32FC3);
  cv::RNG rng(7);
  rng.fill(noise, cv::RNG::NORMAL, 0.0, 1.5);
  cv::Mat rgb(h.size(), CV_8UC3);
  for (int y = 0; y < h.rows; ++y) {
    for (int x = 0; x < h.cols; ++x) {
      for (int k = 0; k < 3; ++k) {
        const double od = h.at<float>(y, x) * m.stains[0].rgb[static_cast<std::size_t>(k)] +
                          d.at<float>(y, x) * m.stains[1].rgb[static_cast<std::size_t>(k)];
        rgb.at<cv::Vec3b>(y, x)[k] =
            cv::saturate_cast<uchar>(245.0 * std::pow(10.0, -od) + noise.at<cv::Vec3f>(y, x)[k]);
      }
    }
  }
  return rgb;
}

// A tissue block of nuclei in stroma (every third nucleus brown) and the debris specks on glass, RGB. With
// `pale_field`, pale stroma instead of glass around the block, with a nucleus every 90 px: a camera field.
cv::Mat tissue_and_debris(bool pale_field = false, int tissue_width = kTissue.width) {
  const cv::Rect tissue(0, 0, tissue_width, kTissue.height);
  cv::Mat h(1200, 1600, CV_32F, cv::Scalar(pale_field ? 0.1f : 0.0f));
  cv::Mat d(h.size(), CV_32F, cv::Scalar(pale_field ? 0.04f : 0.0f));
  h(tissue).setTo(0.12);
  d(tissue).setTo(0.03);
  int n = 0;
  for (int y = 20; y < tissue.height - 10; y += 30) {
    for (int x = 20; x < tissue.width - 10; x += 30)
      add_nucleus(h, d, {x + (y / 30) % 3 * 3, y}, ++n % 3 == 0);
  }
  for (int y = 45; pale_field && y < h.rows; y += 90) {
    for (int x = tissue.width + 45; x < h.cols; x += 90) add_nucleus(h, d, {x, y}, false);
  }
  for (const auto& c : kDebris) {
    cv::circle(h, c, kSpeckRadius, cv::Scalar(0.12), cv::FILLED);
    cv::circle(d, c, kSpeckRadius, cv::Scalar(0.03), cv::FILLED);
    add_nucleus(h, d, c, false);
  }
  cv::GaussianBlur(h, h, cv::Size(), 0.8);
  cv::GaussianBlur(d, d, cv::Size(), 0.8);
  return render(h, d);
}

fs::path write_png(const fs::path& dir, const cv::Mat& rgb) {
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  const fs::path p = dir / "field.png";
  EXPECT_TRUE(cv::imwrite(p.string(), bgr));
  return p;
}

// The same pixels as a two-level tiled slide, which the pipeline scores in tiles.
fs::path write_pyramid(const fs::path& dir, const cv::Mat& rgb) {
  PyramidTiffOptions o;
  o.tile_size = 256;
  o.jpeg_quality = 100;
  o.min_level_size = 256;
  const fs::path p = dir / "field.tif";
  PyramidTiffWriter w(p, rgb.size(), o);
  w.write_rows(rgb);
  w.finish();
  return p;
}

Annotation square(const std::string& name, cv::Rect r) {
  Annotation a;
  a.name = name;
  Polygon p;
  for (const cv::Point& c : {r.tl(), cv::Point(r.x + r.width, r.y), r.br(), cv::Point(r.x, r.y + r.height)})
    p.outer.emplace_back(c.x, c.y);
  a.polygons.push_back(p);
  return a;
}

struct Scored {
  SlideRecord rec;
  std::vector<cv::Point2d> centroids;
};

Scored score(const fs::path& input, const fs::path& out, const std::vector<Annotation>& rois = {},
             const std::string& set = "", double mpp = kMpp) {
  ParamSet params = default_params();
  std::istringstream sets(set);  // "key=value;key=value"
  for (std::string kv; std::getline(sets, kv, ';');)
    params.set(kv.substr(0, kv.find('=')), kv.substr(kv.find('=') + 1), "test");
  ScoreSlideRequest req;
  req.input = input;
  req.image_id = "field";
  req.out_dir = out;
  req.mpp_override = mpp;
  req.rois = rois;
  Scored s;
  s.rec = score_slide(req, params);
  for (const auto& c : read_cells_csv(out / "cells.csv").table.cells) s.centroids.push_back(c.centroid);
  return s;
}

int cells_within(const std::vector<cv::Point2d>& centroids, cv::Point c, double radius) {
  int n = 0;
  for (const auto& p : centroids) n += cv::norm(p - cv::Point2d(c)) <= radius;
  return n;
}

int cells_in(const std::vector<cv::Point2d>& centroids, cv::Rect r) {
  int n = 0;
  for (const auto& p : centroids) n += r.contains(cv::Point(static_cast<int>(p.x), static_cast<int>(p.y)));
  return n;
}

// Tissue area is the mask's, so a cell counts only on the mask: images scored whole kept the cells of debris
// on the glass, which tiled slides dropped (cmu_small_region counted cells outside its tissue outline).
TEST(Pipeline, ImageScoredWholeCountsOnlyTheCellsOnItsTissue) {
  const fs::path dir = test::temp_dir("pipeline_whole_tissue");
  const cv::Mat rgb = tissue_and_debris();
  const fs::path png = write_png(dir, rgb);
  // Without tissue detection the whole image is the area: the debris nuclei are found and counted.
  const Scored everything = score(png, dir / "everything", {}, "tissue_detection=false");
  for (const auto& c : kDebris) ASSERT_EQ(cells_within(everything.centroids, c, 8.0), 1) << c;
  const int in_tissue = cells_in(everything.centroids, kTissue);
  ASSERT_GT(in_tissue, 1200);

  const Scored whole = score(png, dir / "whole");
  for (const auto& c : kDebris) EXPECT_EQ(cells_within(whole.centroids, c, 3.0 * kSpeckRadius), 0) << c;
  EXPECT_EQ(cells_in(whole.centroids, kTissue), in_tissue);
  EXPECT_EQ(whole.rec.total.num_detections, in_tissue);
  EXPECT_NEAR(whole.rec.total.tissue_area_mm2, 0.3, 0.03);

  // Tiled, the same rule: no debris cell, the tissue's cells.
  const Scored tiled = score(write_pyramid(dir, rgb), dir / "tiled");
  for (const auto& c : kDebris) EXPECT_EQ(cells_within(tiled.centroids, c, 3.0 * kSpeckRadius), 0) << c;
  EXPECT_NEAR(tiled.rec.total.num_detections, in_tissue, 0.01 * in_tissue);
  EXPECT_EQ(tiled.rec.total.tissue_area_mm2, whole.rec.total.tissue_area_mm2);
}

// A wrong pixel size shows in the nuclei's median area, and the warning says which size would fit: SHIDC's
// 0.25 um/px fields scored at the assumed 0.5 read 125-205 um^2 with no word but "scored in pixels".
TEST(Pipeline, NucleiOfImplausibleSizeSayThePixelSizeIsProbablyWrong) {
  const fs::path dir = test::temp_dir("pipeline_nucleus_size");
  const fs::path png = write_png(dir, tissue_and_debris(true));
  auto size_warning = [](const SlideRecord& rec) {
    for (const auto& w : rec.warnings) {
      if (w.rfind("nuclei measure a median of ", 0) == 0) return w;
    }
    return std::string();
  };
  const Scored right = score(png, dir / "right");
  EXPECT_EQ(size_warning(right.rec), "");
  const Scored coarse = score(png, dir / "coarse", {}, "", 2 * kMpp);  // every length read twice too long
  const std::string w = size_warning(coarse.rec);
  ASSERT_NE(w, "");
  EXPECT_NE(w.find(" um^2 at 1 um/px, where tissue's measure 30-60: the pixel size is probably about 0."),
            std::string::npos)
      << w;
  EXPECT_NE(w.find(" (give --mpp 0."), std::string::npos) << w;  // the pixel size came from --mpp
  EXPECT_NE(w.find("), and cells were sought at the wrong size"), std::string::npos) << w;
}

// QuPath's stain string carries the background its ODs are taken against; under background=auto it is used
// (it was parsed, checked and replaced by the glass estimate without a word); white or R,G,B still win.
TEST(Pipeline, AStainStringsBackgroundIsUsedUnderAuto) {
  const fs::path dir = test::temp_dir("pipeline_string_background");
  const fs::path png = write_png(dir, tissue_and_debris(true));
  const std::string stains =
      R"(stain_vectors={"Name":"H-DAB", "Stain 1":"Hematoxylin", "Values 1":"0.65111 0.70119 0.29049", )"
      R"("Stain 2":"DAB", "Values 2":"0.26917 0.56824 0.77759", "Background":" 230 230 230"})";
  const Scored with = score(png, dir / "with", {}, stains);
  EXPECT_NE(with.rec.stains_source.find("; background 230 230 230, the Background of stain_vectors"),
            std::string::npos)
      << with.rec.stains_source;
  const Scored white = score(png, dir / "white", {}, stains + ";background=white");
  EXPECT_NE(white.rec.stains_source.find("; background 255 255 255, white (255 255 255)"), std::string::npos)
      << white.rec.stains_source;
}

// A glass colour has one spelling, so spaces do not make --resume detect again.
TEST(Pipeline, BackgroundColourIsStoredInOneSpelling) {
  ParamSet params = default_params();
  params.set("background", " 245, 244 ,240.0 ", "--set");
  EXPECT_EQ(params.get_string("background"), "245,244,240");
  params.set("background", "auto", "--set");
  EXPECT_EQ(params.get_string("background"), "auto");
}

// Cells without the scoring compartment are graded Negative (NaN is Negative), said in a warning: a setting
// can empty it for every cell (Cytoplasm with cell_expansion_um = 0 gave 0 % positive with no word).
TEST(Pipeline, CellsWithoutTheScoredCompartmentAreNamedInAWarning) {
  const fs::path dir = test::temp_dir("pipeline_unmeasured");
  const fs::path png = write_png(dir, tissue_and_debris(true));
  const Scored none =
      score(png, dir / "none", {},
            "cell_expansion_um=0;membrane_search_um=0;score_measurement=Cytoplasm: DAB OD mean");
  const std::int64_t n = none.rec.total.num_detections;
  ASSERT_GT(n, 100);
  EXPECT_EQ(none.rec.total.num_positive, 0);
  const std::string warning = "Cytoplasm: DAB OD mean is empty for " + std::to_string(n) + " of " +
                              std::to_string(n) +
                              " cells (they have no such compartment), which are graded Negative";
  EXPECT_NE(std::find(none.rec.warnings.begin(), none.rec.warnings.end(), warning), none.rec.warnings.end());
  const Scored membrane = score(png, dir / "membrane");
  for (const auto& w : membrane.rec.warnings) EXPECT_EQ(w.find(" is empty for "), std::string::npos) << w;
}

// A handful of cells gives no score a pathologist would report: the Status says how few (a probe's 30 x 50 px
// tile read "ok", 1 cell, 0 %), after the other notes; so does a region's row.
TEST(Pipeline, AFewCellsAreSaidInTheStatus) {
  const fs::path dir = test::temp_dir("pipeline_few_cells");
  const cv::Mat crop = tissue_and_debris(true)(cv::Rect(1100, 100, 200, 200)).clone();  // pale stroma
  const fs::path png = write_png(dir, crop);
  const Scored few = score(png, dir / "few");
  const std::int64_t n = few.rec.total.num_detections;
  ASSERT_GE(n, 2);
  ASSERT_LT(n, 20);
  EXPECT_EQ(few.rec.total.status, "ok; only " + std::to_string(n) + " cells");
  const Scored region = score(png, dir / "region", {square("corner", {0, 0, 100, 100})});
  ASSERT_EQ(region.rec.regions.size(), 1u);
  const std::int64_t m = region.rec.regions[0].num_detections;
  EXPECT_EQ(region.rec.regions[0].status,
            m == 0 ? std::string("ok; no cells detected")
                   : "ok; only " + std::to_string(m) + (m == 1 ? " cell" : " cells"));
}

// A field without glass (a camera field, a crop of tissue): tissue detection splits the dense block from the
// pale stroma around it, but that stroma is tissue, and every cell counts as before (SHIDC and DeepLIIF
// fields, OS-2 crops: 0-0.2 % of what their masks leave out reads as glass). The cells are counted in the
// whole field, so is the area: the mask's 0.29 mm^2 of 0.48 made every density 1.7x (1.8x on SHIDC).
TEST(Pipeline, FieldWithoutGlassKeepsEveryCell) {
  const fs::path dir = test::temp_dir("pipeline_field_tissue");
  const fs::path png = write_png(dir, tissue_and_debris(true));
  const Scored everything = score(png, dir / "everything", {}, "tissue_detection=false");
  const Scored field = score(png, dir / "field");
  EXPECT_GT(cells_in(field.centroids, cv::Rect(1000, 0, 600, 1200)), 60);
  EXPECT_EQ(field.centroids, everything.centroids);
  EXPECT_DOUBLE_EQ(field.rec.total.tissue_area_mm2, everything.rec.total.tissue_area_mm2);
  EXPECT_DOUBLE_EQ(field.rec.total.tissue_area_mm2, 0.48);  // 1600 x 1200 at 0.5 um/px
}

// An image mostly of tissue (a camera field with a strip of glass or glass-pale stroma at its edge, as the
// AdamDlubak fields: 8-14 % of the image, most of it reading as glass) keeps every cell: there the mask
// misses pale tissue more often than it leaves out debris.
TEST(Pipeline, ImageMostlyOfTissueKeepsEveryCell) {
  const fs::path dir = test::temp_dir("pipeline_mostly_tissue");
  const fs::path png = write_png(dir, tissue_and_debris(false, 1300));  // 19 % of the image left out
  const Scored everything = score(png, dir / "everything", {}, "tissue_detection=false");
  const Scored field = score(png, dir / "field");
  EXPECT_LT(field.rec.total.tissue_area_mm2, 0.42);  // the glass strip is left out
  EXPECT_GT(field.rec.total.tissue_area_mm2, 0.38);  // and only it (19 % of 0.48 mm^2)
  for (const auto& c : kDebris) EXPECT_EQ(cells_within(field.centroids, c, 8.0), 1) << c;
  EXPECT_EQ(field.centroids, everything.centroids);
}

// In a field every cell counts, also off the mask: a region on its pale stroma, which the mask leaves out,
// holds the same cells alone as among regions on the mask (alone it stopped at "no tissue in regions").
TEST(Pipeline, RegionOnAFieldsPaleTissueCountsItsCellsAlone) {
  const fs::path dir = test::temp_dir("pipeline_field_region");
  const fs::path png = write_png(dir, tissue_and_debris(true));
  const cv::Rect stroma(1100, 100, 400, 600);  // pale stroma, a nucleus every 90 px
  const Scored alone = score(png, dir / "alone", {square("stroma", stroma)});
  const Scored among =
      score(png, dir / "among", {square("block", {200, 200, 400, 400}), square("stroma", stroma)});
  ASSERT_EQ(alone.rec.regions.size(), 1u);
  ASSERT_EQ(among.rec.regions.size(), 2u);
  EXPECT_GE(alone.rec.regions[0].num_detections, 20);
  EXPECT_EQ(alone.rec.regions[0].num_detections, among.rec.regions[1].num_detections);
  EXPECT_EQ(alone.rec.regions[0].status, "ok");
  EXPECT_EQ(cells_in(alone.centroids, stroma), cells_in(among.centroids, stroma));
}

// A region's cells do not depend on the other regions of the ROI file. A region on debris alone found no
// tissue and detected nothing; among regions on tissue, the image was detected and the debris cell counted,
// in a region of 0 mm^2 of tissue.
TEST(Pipeline, RegionCountsDoNotDependOnTheOtherRegions) {
  const fs::path dir = test::temp_dir("pipeline_region_alone");
  const cv::Mat rgb = tissue_and_debris();
  const fs::path png = write_png(dir, rgb);
  const cv::Rect speck(kDebris[0].x - 60, kDebris[0].y - 60, 120, 120);
  const cv::Rect block(200, 200, 400, 400);
  for (const fs::path& input : {png, write_pyramid(dir, rgb)}) {
    SCOPED_TRACE(input.filename().string());
    const std::string stem = input.extension().string().substr(1);
    const Scored alone = score(input, dir / (stem + "_alone"), {square("speck", speck)});
    const Scored among =
        score(input, dir / (stem + "_among"), {square("block", block), square("speck", speck)});
    const Scored block_alone = score(input, dir / (stem + "_block"), {square("block", block)});
    ASSERT_EQ(alone.rec.regions.size(), 1u);
    ASSERT_EQ(among.rec.regions.size(), 2u);
    EXPECT_EQ(among.rec.regions[1].num_detections, alone.rec.regions[0].num_detections);
    EXPECT_EQ(cells_in(among.centroids, speck), cells_in(alone.centroids, speck));
    EXPECT_EQ(among.rec.regions[1].tissue_area_mm2, 0.0);
    EXPECT_EQ(among.rec.regions[1].num_detections, 0);
    EXPECT_EQ(among.rec.regions[1].status, alone.rec.regions[0].status);
    EXPECT_EQ(alone.rec.regions[0].status, "no tissue in regions");
    // The block's region: the same count, cells and positive % with or without the debris region.
    EXPECT_EQ(among.rec.regions[0].num_detections, block_alone.rec.regions[0].num_detections);
    EXPECT_EQ(among.rec.regions[0].positive_pct, block_alone.rec.regions[0].positive_pct);
    EXPECT_EQ(among.centroids, block_alone.centroids);
    EXPECT_GT(block_alone.rec.regions[0].num_detections, 100);
  }
}

// QuPath's pixel-edge convention (pixel x covers [x, x + 1]): one square nucleus of pixels 10..29 (x) and
// 40..59 (y) has its centroid at (20, 50) and its outline within [10, 30] x [40, 60] in cells.csv and
// cells.geojson. Before, both lay half a pixel up and left (centroid 19.5, 49.5).
TEST(Pipeline, CoordinatesAreQuPathsPixelEdges) {
  const fs::path dir = test::temp_dir("pipeline_pixel_edges");
  const cv::Rect nucleus(10, 40, 20, 20);
  cv::Mat h(96, 80, CV_32F, cv::Scalar(0.05f)), d(h.size(), CV_32F, cv::Scalar(0.0f));
  h(nucleus).setTo(0.6);
  const fs::path png = write_png(dir, render(h, d));
  for (const bool smooth : {false, true}) {
    SCOPED_TRACE(smooth ? "smoothed outlines" : "pixel outlines");
    const fs::path out = dir / (smooth ? "smooth" : "pixels");
    const Scored s = score(png, out, {}, std::string("smooth_boundaries=") + (smooth ? "true" : "false"));
    ASSERT_EQ(s.centroids.size(), 1u);
    EXPECT_NEAR(s.centroids[0].x, 20.0, 1e-9);
    EXPECT_NEAR(s.centroids[0].y, 50.0, 1e-9);
    const CellResults geo = read_cells_geojson(out / "cells.geojson");
    ASSERT_EQ(geo.table.size(), 1u);
    cv::Point2f lo(1e9f, 1e9f), hi(-1e9f, -1e9f);
    for (const cv::Point2f& q : geo.table.cells[0].nucleus) {
      lo = {std::min(lo.x, q.x), std::min(lo.y, q.y)};
      hi = {std::max(hi.x, q.x), std::max(hi.y, q.y)};
    }
    const cv::Rect2f box(lo, hi);
    if (!smooth) {
      // Unsmoothed, the outline is the pixels' edges.
      EXPECT_FLOAT_EQ(box.x, 10.0f);
      EXPECT_FLOAT_EQ(box.y, 40.0f);
      EXPECT_FLOAT_EQ(box.width, 20.0f);
      EXPECT_FLOAT_EQ(box.height, 20.0f);
    } else {
      // Smoothing rounds the corners and keeps the area: the sides stay within a quarter pixel of the edges.
      EXPECT_NEAR(box.x, 10.0, 0.25);
      EXPECT_NEAR(box.y, 40.0, 0.25);
      EXPECT_NEAR(box.x + box.width, 30.0, 0.25);
      EXPECT_NEAR(box.y + box.height, 60.0, 0.25);
    }
    // The outline is centred on the nucleus as QuPath's would be.
    const cv::Moments m = cv::moments(geo.table.cells[0].nucleus);
    EXPECT_NEAR(m.m10 / m.m00, 20.0, 0.05);
    EXPECT_NEAR(m.m01 / m.m00, 50.0, 0.05);
  }
}

// A QuPath ROI square exactly on pixel edges, [60, 180) x [60, 180), counts the cells whose centroids fall
// inside it, as QuPath does (left and top edges in, right and bottom out). Nuclei of 12 x 12 pixels starting
// at pixel a are centred at a + 6: the ones starting at 54 (centre 60, on the left edge: in) count and the
// ones at 174 (centre 180: out) do not. With centroids in the pixel-centre convention (0.5 px less: 59.5 and
// 179.5) it was the other way round.
TEST(Pipeline, RoiOnPixelEdgesCountsTheCellsQuPathWould) {
  const fs::path dir = test::temp_dir("pipeline_roi_edges");
  // Stroma; the field is smaller than the smallest piece of tissue, so the whole image is scored.
  cv::Mat h(240, 240, CV_32F, cv::Scalar(0.12f)), d(h.size(), CV_32F, cv::Scalar(0.03f));
  const std::vector<int> starts{20, 54, 100, 174, 205};
  std::vector<cv::Point2d> inside;
  for (int y : starts) {
    for (int x : starts) {
      h(cv::Rect(x, y, 12, 12)).setTo(0.6);
      const double cx = x + 6.0, cy = y + 6.0;
      if (cx >= 60 && cx < 180 && cy >= 60 && cy < 180) inside.emplace_back(cx, cy);
    }
  }
  ASSERT_EQ(inside.size(), 4u);  // centres 60 and 106 in x and y
  const fs::path png = write_png(dir, render(h, d));
  const Scored whole = score(png, dir / "whole", {}, "tissue_detection=false");
  ASSERT_EQ(whole.centroids.size(), starts.size() * starts.size());
  const Scored s =
      score(png, dir / "roi", {square("roi", cv::Rect(60, 60, 120, 120))}, "tissue_detection=false");
  ASSERT_EQ(s.rec.regions.size(), 1u);
  EXPECT_EQ(s.rec.regions[0].num_detections, 4);
  ASSERT_EQ(s.centroids.size(), inside.size());
  for (std::size_t i = 0; i < inside.size(); ++i) {
    EXPECT_NEAR(s.centroids[i].x, inside[i].x, 1e-9);
    EXPECT_NEAR(s.centroids[i].y, inside[i].y, 1e-9);
  }
}

}  // namespace
}  // namespace ihc
