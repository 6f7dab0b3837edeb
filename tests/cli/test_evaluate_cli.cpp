// Runs the real `ihcscore evaluate`: exact error messages, output files, and the agreement on the annotated
// sets, which must not fall below the figures published in docs/accuracy.md by more than a small margin.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "support/test_support.hpp"

namespace ihc {
namespace {

namespace fs = std::filesystem;

// Runs ihcscore in the test's working directory (paths in `args` are absolute or relative to it).
test::CommandResult run(const std::vector<std::string>& args) { return test::run_program("ihcscore", args); }

void write(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

// A 1x1 white PNG: enough for the error paths, which fail before detection.
fs::path tiny_image(const fs::path& dir) {
  const fs::path png = dir / "tiny.png";
  cv::imwrite(png.string(), cv::Mat(1, 1, CV_8UC3, cv::Scalar(255, 255, 255)));
  return png;
}

TEST(EvaluateCli, UsageErrors) {
  const auto dir = test::temp_dir("evaluate_cli_usage");
  const auto img = tiny_image(dir).string();
  auto r = run({"evaluate", "--image", img, "--image", img, "--truth", "a.csv"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "ihcscore evaluate: 2 --image but 1 --truth; give one --truth per --image\n");
  r = run({"evaluate", "--image", img, "--truth", "a.csv", "--output", "x.txt"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "ihcscore evaluate: --output x.txt: use a .csv or .json file name\n");
  r = run({"evaluate", "--image", img, "--truth", "a.csv", "--image-crop", "0,0,5"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err,
            "ihcscore evaluate: error: --image-crop: '0,0,5' is not x,y,width,height (x, y >= 0; width, "
            "height > 0)\n");
  r = run({"evaluate", "--image", img, "--image", img, "--truth", "a.csv", "--truth", "a.csv", "--detections",
           "d.csv"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "ihcscore evaluate: 1 --detections for 2 --image; give one per image or none\n");
  r = run({"evaluate", "--image", img, "--truth", "a.csv", "--preset", "her2"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "ihcscore evaluate: error: unknown preset 'her2' (known: dsg2, ki67)\n");
}

TEST(EvaluateCli, BadTruthFilesAreNamedAndTheRunFailsWithStatus2) {
  const auto dir = test::temp_dir("evaluate_cli_truth");
  const auto img = tiny_image(dir).string();
  const auto csv = (dir / "t.csv").string();
  write(csv, "x,y,label\n1,2,positive\n3,4,tumour\n");
  auto r = run({"evaluate", "--image", img, "--truth", csv});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(
      r.err.find("ihcscore evaluate: error: " + csv +
                 ":3: unknown label 'tumour' (known: 1, 1+, 2, 2+, 3, 3+, ignore, negative, positive)\n"),
      std::string::npos)
      << r.err;
  write(csv, "x,label\n1,positive\n");
  r = run({"evaluate", "--image", img, "--truth", csv});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("ihcscore evaluate: error: " + csv + ": missing column 'y' in header 'x,label'\n"),
            std::string::npos)
      << r.err;
  r = run({"evaluate", "--image", img, "--truth", (dir / "none.json").string()});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("ihcscore evaluate: error: " + (dir / "none.json").string() + ": no such file\n"),
            std::string::npos)
      << r.err;
  // Nothing evaluated: no table of zeros on stdout (it printed an "ALL (pooled)" row of 0 cells).
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("ihcscore evaluate: no image evaluated (1 failed)\n"), std::string::npos) << r.err;
  r = run({"evaluate", "--image", img, "--truth", csv, "--radius-um", "4"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("ihcscore evaluate: error: " + img +
                       ": --radius-um needs the pixel size, which the file does not store; give --mpp or use "
                       "--radius-px\n"),
            std::string::npos)
      << r.err;
  r = run({"evaluate", "--image", img, "--truth", img, "--image-crop", "0,0,2,2"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("ihcscore evaluate: error: " + img +
                       ": --image-crop 0,0,2,2 lies outside the image (1x1)\n"),
            std::string::npos)
      << r.err;
  // The stained image given as its own truth was read as a colour mask: 465 "cells" and figures, status 0.
  const std::string field = (test::source_dir() / "samples" / "ki67_nuclear.png").string();
  r = run({"evaluate", "--image", field, "--truth", field, "--preset", "ki67"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("ihcscore evaluate: error: " + field +
                       ": not a colour mask: only 0.0 % of its pixels are black or pure red, green or blue"),
            std::string::npos)
      << r.err;
  // A truth file without a point: every detection is false, and the run says why.
  write(csv, "x,y,label\n");
  r = run({"evaluate", "--image", field, "--truth", csv, "--preset", "ki67"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("warning: ki67_nuclear: no annotated cells in " + csv +
                       " (every detection counts as false)\n"),
            std::string::npos)
      << r.err;
}

// Synthetic membranous field end to end: the truth CSV of `ihcscore synth` is read as is; outputs are
// consistent.
TEST(EvaluateCli, SyntheticFieldWritesConsistentCsvAndJson) {
  const auto dir = test::temp_dir("evaluate_cli_synth");
  const auto png = (dir / "m.png").string(), csv = (dir / "m.csv").string();
  auto r = run({"synth", "--kind", "membrane", "--seed", "5", "--width", "512", "--height", "512", "-o", png,
                "--truth", csv});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto json_path = dir / "out" / "eval.json", csv_path = dir / "out" / "eval.csv";
  r = run({"evaluate", "--preset", "dsg2", "--mpp", "0.5", "--radius-um", "4", "--image", png, "--truth", csv,
           "--output", json_path.string(), "--output", csv_path.string(), "--cells-dir",
           (dir / "cells").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(test::read_text(json_path));
  ASSERT_EQ(j["images"].size(), 1u);
  const auto& im = j["images"][0];
  EXPECT_EQ(im["image"], "m");
  EXPECT_EQ(im["detection"]["tp"].get<int>() + im["detection"]["fn"].get<int>(), im["truth"].get<int>());
  EXPECT_EQ(im["detection"]["tp"].get<int>() + im["detection"]["fp"].get<int>(), im["predicted"].get<int>());
  EXPECT_GT(im["matched_ignored"].get<int>(), 0);  // stroma and lymphocytes are "ignore" in synth's truth
  EXPECT_NE(j["command"].get<std::string>().find("ihcscore evaluate --preset dsg2"), std::string::npos);
  const std::string table = test::read_text(csv_path);
  EXPECT_EQ(table.rfind("image,predicted,predicted_positive,truth,truth_positive,", 0), 0u);
  EXPECT_NE(table.find("\nm,"), std::string::npos);
  EXPECT_NE(table.find("\nALL,"), std::string::npos);
  EXPECT_NE(r.out.find("ALL (pooled)"), std::string::npos);
  // Grades: synth's truth names Negative/1+/2+/3+ and dsg2 grades in three thresholds.
  ASSERT_TRUE(im["grades"].is_object());
  int matched = 0, truth_cells = 0;
  for (const auto& row : im["grades"]["confusion_truth_by_predicted"])
    for (const auto& v : row) matched += v.get<int>();
  for (const auto& v : im["grades"]["truth"]["counts"]) truth_cells += v.get<int>();
  EXPECT_EQ(matched, im["detection"]["tp"].get<int>());
  EXPECT_EQ(truth_cells, im["truth"].get<int>());
  EXPECT_NE(table.find(",h_score_predicted,h_score_truth,"), std::string::npos);
  EXPECT_NE(r.out.find("Linearly weighted kappa"), std::string::npos);
  // Per-cell table: one row per detection (unpartnered = "none" = the false positives) and one per missed
  // annotated cell.
  std::istringstream cells(test::read_text(dir / "cells" / "m.cells.csv"));
  std::string line;
  std::getline(cells, line);
  EXPECT_EQ(line.rfind("kind,x,y,predicted,truth,major_px,minor_px,\"Centroid X um\",\"Centroid Y um\",", 0),
            0u)
      << line;
  int detections = 0, unpartnered = 0, missed = 0;
  while (std::getline(cells, line)) {
    if (line.rfind("detection,", 0) == 0) {
      ++detections;
      if (line.find(",none,") != std::string::npos) ++unpartnered;
    } else if (line.rfind("missed,", 0) == 0 && line.find(",ignore,") == std::string::npos) {
      ++missed;
    }
  }
  EXPECT_EQ(detections, im["predicted"].get<int>() + im["matched_ignored"].get<int>());
  EXPECT_EQ(unpartnered, im["detection"]["fp"].get<int>());
  EXPECT_EQ(missed, im["detection"]["fn"].get<int>());
}

// Another tool's cells (here a CSV of points) are compared with the truth as they are: nothing is detected,
// ignore-labelled points and points outside the evaluated crop are left out, and the counts are exact. Truth
// points outside the crop are left out too: they were kept as misses (the probe's SHIDC quarter, 614 x 614:
// 289 truth points and recall 0.201 instead of its 65 points).
TEST(EvaluateCli, DetectionsOfAnotherToolAreComparedAsGiven) {
  const auto dir = test::temp_dir("evaluate_cli_detections");
  // A 100x100 field; the evaluated crop is its lower-right 60x60 (x, y 40..99).
  const auto png = (dir / "f.png").string();
  cv::imwrite(png, cv::Mat(100, 100, CV_8UC3, cv::Scalar(230, 230, 230)));
  const auto truth = (dir / "truth.csv").string(), det = (dir / "det.csv").string();
  write(truth,
        "x,y,label\n"
        "50,50,positive\n"    // matched by a positive detection
        "70,50,negative\n"    // matched by a positive detection: wrong class
        "50,80,negative\n"    // matched by a negative detection
        "90,90,negative\n"    // missed
        "10,10,negative\n");  // outside the crop: left out
  write(det,
        "x,y,label\n"
        "52,51,positive\n"
        "71,48,positive\n"
        "49,83,negative\n"
        "80,60,negative\n"  // nothing there: a false detection
        "60,60,ignore\n"    // left out
        "5,5,positive\n");  // outside the crop: left out
  const auto json_path = dir / "eval.json";
  const auto r = run({"evaluate", "--image", png, "--truth", truth, "--detections", det, "--image-crop",
                      "40,40,60,60", "--output", json_path.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(
      r.err.find("f: 4 cells read from " + det +
                 " (csv); 2 left out (ignore-labelled or outside the evaluated image); 4 truth points (1 "
                 "outside --image-crop left out), radius 10.0 px\n"),
      std::string::npos)
      << r.err;
  const auto j = nlohmann::json::parse(test::read_text(json_path));
  EXPECT_EQ(j["detections"], nlohmann::json::array({det}));
  const auto& im = j["images"][0];
  EXPECT_EQ(im["predicted"].get<int>(), 4);
  EXPECT_EQ(im["predicted_positive"].get<int>(), 2);
  EXPECT_EQ(im["detection"]["tp"].get<int>(), 3);
  EXPECT_EQ(im["detection"]["fp"].get<int>(), 1);
  EXPECT_EQ(im["truth"].get<int>(), 4);
  EXPECT_EQ(im["detection"]["fn"].get<int>(), 1);  // the missed one
  EXPECT_EQ(im["positive"]["tp"].get<int>(), 1);
  EXPECT_EQ(im["positive"]["fp"].get<int>(), 1);
  EXPECT_EQ(im["negative"]["tp"].get<int>(), 1);
  EXPECT_EQ(im["negative"]["fn"].get<int>(), 2);
  EXPECT_DOUBLE_EQ(im["predicted_positive_percent"].get<double>(), 50.0);

  // A file without cells says so; a file that is not there is named.
  write(det, "x,y,label\n");
  auto e = run({"evaluate", "--image", png, "--truth", truth, "--detections", det});
  EXPECT_EQ(e.status, 0) << e.err;
  EXPECT_NE(e.err.find("warning: f: no cells in " + det + " (every annotated cell counts as missed)\n"),
            std::string::npos)
      << e.err;
  const auto missing = (dir / "none.geojson").string();
  e = run({"evaluate", "--image", png, "--truth", truth, "--detections", missing});
  EXPECT_EQ(e.status, 2);
  EXPECT_NE(e.err.find("ihcscore evaluate: error: " + missing), std::string::npos) << e.err;
  e = run({"evaluate", "--image", png, "--truth", truth, "--detections", det, "--detections-format", "tsv"});
  EXPECT_EQ(e.status, 1);
  EXPECT_EQ(
      e.err,
      "ihcscore evaluate: --detections-format: 'tsv' is not one of cells-csv, geojson, csv, json, mask, "
      "qupath-render, deepliif\n");
}

// A square detection of side 4 centred on (x, y), as QuPath writes a Feature.
std::string square_feature(double x, double y, const std::string& properties) {
  std::ostringstream s;
  s << R"({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[)" << x - 2 << ", " << y - 2
    << "], [" << x + 2 << ", " << y - 2 << "], [" << x + 2 << ", " << y + 2 << "], [" << x - 2 << ", "
    << y + 2 << "], [" << x - 2 << ", " << y - 2 << R"(]]]}, "properties": )" << properties << "}";
  return s.str();
}

// QuPath's positive cell detection with no cell expansion makes detections (read as 0 cells, exit 0); classes
// are derived ({"names": [...]}, refused) or of other kinds (refusing the file), and unclassified cells were
// counted Negative. As QuPath counts them: by the intensity part, others left out and counted.
TEST(EvaluateCli, QuPathDetectionsCountByTheirIntensityClass) {
  const auto dir = test::temp_dir("evaluate_cli_qupath_detections");
  const auto png = (dir / "f.png").string();
  cv::imwrite(png, cv::Mat(100, 100, CV_8UC3, cv::Scalar(230, 230, 230)));
  const auto truth = (dir / "truth.csv").string();
  write(truth, "x,y,label\n50,50,positive\n50,80,negative\n90,90,negative\n");
  const auto det = (dir / "det.geojson").string();
  write(det,
        R"({"type": "FeatureCollection", "features": [)" +
            square_feature(50, 50, R"({"objectType": "annotation", "classification": {"name": "Tumor"}})") +
            ", " +
            square_feature(50, 50,
                           R"({"objectType": "detection", "classification": {"names": ["Tumor", "Positive"],
                                    "color": [200, 50, 50]}, "measurements": {"Nucleus: DAB OD mean": NaN}})") +
            ", " + square_feature(50, 80, R"({"object_type": "detection", "classification": "Negative"})") +
            ", " +
            square_feature(70, 50, R"({"objectType": "detection", "classification": {"name": "Tumor"}})") +
            ", " + square_feature(20, 20, R"({"objectType": "detection"})") + "]}");
  const auto json_path = dir / "eval.json";
  auto r = run(
      {"evaluate", "--image", png, "--truth", truth, "--detections", det, "--output", json_path.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(
      r.err.find("f: 2 cells read from " + det +
                 " (geojson); 2 detections without an intensity class (Tumor: 1, unclassified: 1) left out; "
                 "3 truth points, radius 10.0 px\n"),
      std::string::npos)
      << r.err;
  const auto im = nlohmann::json::parse(test::read_text(json_path))["images"][0];
  EXPECT_EQ(im["predicted"].get<int>(), 2);
  EXPECT_EQ(im["predicted_positive"].get<int>(), 1);
  EXPECT_EQ(im["positive"]["tp"].get<int>(), 1);
  EXPECT_EQ(im["negative"]["tp"].get<int>(), 1);

  // QuPath's export of one object is a bare Feature.
  const auto one = (dir / "one.geojson").string();
  write(one,
        square_feature(50, 50, R"({"objectType": "detection", "classification": {"name": "Positive"}})"));
  r = run({"evaluate", "--image", png, "--truth", truth, "--detections", one});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("f: 1 cells read from " + one + " (geojson); 3 truth points"), std::string::npos)
      << r.err;

  // Annotations only, or no cell with an intensity class: an error naming what the file held, not zeros.
  const auto annotations = (dir / "annotations.geojson").string();
  write(annotations, "[" + square_feature(50, 50, R"({"objectType": "annotation"})") + ", " +
                         square_feature(50, 80, R"({"objectType": "annotation"})") + "]");
  r = run({"evaluate", "--image", png, "--truth", truth, "--detections", annotations});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(
      r.err.find("ihcscore evaluate: error: " + annotations + ": 2 annotations, no cells or detections\n"),
      std::string::npos)
      << r.err;
  const auto unclassified = (dir / "unclassified.geojson").string();
  write(unclassified, "[" + square_feature(50, 50, R"({"objectType": "detection"})") + "]");
  r = run({"evaluate", "--image", png, "--truth", truth, "--detections", unclassified});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(
      r.err.find("ihcscore evaluate: error: " + unclassified +
                 ": 1 detection without an intensity class (unclassified: 1): nothing to compare (classify "
                 "them Positive/Negative or 1+/2+/3+, as QuPath's positive cell detection does)\n"),
      std::string::npos)
      << r.err;
}

// QuPath's measurement table of detections (tab-delimited .tsv/.txt, "Class" before 0.4, centroids in um on
// a calibrated image) was refused.
TEST(EvaluateCli, QuPathMeasurementTablesAreReadFromTheirHeader) {
  const auto dir = test::temp_dir("evaluate_cli_qupath_table");
  const auto png = (dir / "f.png").string();
  cv::imwrite(png, cv::Mat(100, 100, CV_8UC3, cv::Scalar(230, 230, 230)));
  const auto truth = (dir / "truth.csv").string();
  write(truth, "x,y,label\n50,50,positive\n50,80,negative\n90,90,negative\n");
  const auto table = (dir / "detections.tsv").string();
  write(table,
        "Image\tName\tClass\tParent\tROI\tCentroid X \xC2\xB5m\tCentroid Y \xC2\xB5m\tNucleus: DAB OD mean\n"
        "f.png\tPathDetectionObject\tTumor: Positive\tAnnotation\tPolygon\t25\t25\t0.5\n"
        "f.png\tPathDetectionObject\tNegative\tAnnotation\tPolygon\t25\t40\t0.1\n"
        "f.png\tPathDetectionObject\tStroma\tAnnotation\tPolygon\t35\t25\t0.1\n");
  auto r = run({"evaluate", "--image", png, "--truth", truth, "--detections", table});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("ihcscore evaluate: error: " + table +
                       ": centroids are in \xC2\xB5m ('Centroid X \xC2\xB5m') and the image's pixel size is "
                       "unknown; give --mpp\n"),
            std::string::npos)
      << r.err;
  const auto json_path = dir / "eval.json";
  r = run({"evaluate", "--image", png, "--truth", truth, "--detections", table, "--mpp", "0.5", "--output",
           json_path.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("f: 2 cells read from " + table +
                       " (QuPath measurement table); 1 detection without an intensity class (Stroma: 1) left "
                       "out; 3 truth points"),
            std::string::npos)
      << r.err;
  const auto im = nlohmann::json::parse(test::read_text(json_path))["images"][0];
  EXPECT_EQ(im["detection"]["tp"].get<int>(), 2) << "25 um at 0.5 um/px is 50 px";
  EXPECT_EQ(im["positive"]["tp"].get<int>(), 1);
}

// QuPath's Points tool annotations exported as GeoJSON as the truth (only CSV, JSON lists and masks were
// read).
TEST(EvaluateCli, QuPathPointAnnotationsAsTruth) {
  const auto dir = test::temp_dir("evaluate_cli_qupath_points");
  const auto png = (dir / "f.png").string();
  cv::imwrite(png, cv::Mat(100, 100, CV_8UC3, cv::Scalar(230, 230, 230)));
  const auto det = (dir / "det.csv").string();
  write(det, "x,y,label\n50,50,positive\n50,80,negative\n");
  const auto points = (dir / "points.json").string();
  write(points, R"({"type": "FeatureCollection", "features": [
    {"type": "Feature", "geometry": {"type": "MultiPoint", "coordinates": [[50, 50], [20, 20]]},
     "properties": {"objectType": "annotation", "classification": {"name": "Positive", "color": [200, 50, 50]}}},
    {"type": "Feature", "geometry": {"type": "MultiPoint", "coordinates": [[50, 81]]},
     "properties": {"objectType": "annotation", "classification": {"names": ["Tumor", "Negative"]}}},
    {"type": "Feature", "geometry": {"type": "MultiPoint", "coordinates": [[70, 70]]},
     "properties": {"objectType": "annotation", "classification": {"name": "Lymphocyte"}}}]})");
  const auto json_path = dir / "eval.json";
  auto r = run({"evaluate", "--image", png, "--truth", points, "--detections", det, "--labels",
                "positive=positive,negative=negative,lymphocyte=ignore", "--output", json_path.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto im = nlohmann::json::parse(test::read_text(json_path))["images"][0];
  EXPECT_EQ(im["truth"].get<int>(), 3) << "the ignored point is not a cell to find";
  EXPECT_EQ(im["truth_positive"].get<int>(), 2);
  EXPECT_EQ(im["positive"]["tp"].get<int>(), 1);
  EXPECT_EQ(im["negative"]["tp"].get<int>(), 1);
  EXPECT_EQ(im["detection"]["fn"].get<int>(), 1);
}

// Truth points outside the image (here the coordinates of another scale) were counted as misses with no word:
// F1 0.003 on a SHIDC field. They are left out with a warning naming the truth file.
TEST(EvaluateCli, TruthPointsOutsideTheImageAreLeftOutWithAWarning) {
  const auto dir = test::temp_dir("evaluate_cli_truth_outside");
  const auto png = (dir / "f.png").string();
  cv::imwrite(png, cv::Mat(100, 100, CV_8UC3, cv::Scalar(230, 230, 230)));
  const auto truth = (dir / "truth.json").string(), det = (dir / "det.csv").string();
  // Outside the 100 x 100 image: y 120, x 200, and x 100 (pixels are 0..99).
  write(truth, R"([{"x": 20, "y": 20, "label_id": 1}, {"x": 80, "y": 120, "label_id": 2},
                   {"x": 200, "y": 40, "label_id": 2}, {"x": 100, "y": 10, "label_id": 3},
                   {"x": 70, "y": 70, "label_id": 2}])");
  write(det, "x,y,label\n21,19,positive\n");
  const auto json_path = dir / "eval.json";
  auto r = run(
      {"evaluate", "--image", png, "--truth", truth, "--detections", det, "--output", json_path.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string warning =
      "warning: f: 3 of 5 truth points lie outside the image (100x100); left out (is " + truth +
      " this image's truth, at its scale?)\n";
  EXPECT_NE(r.err.find(warning), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("; 2 truth points, radius 10.0 px\n"), std::string::npos) << r.err;
  auto im = nlohmann::json::parse(test::read_text(json_path))["images"][0];
  EXPECT_EQ(im["truth"].get<int>(), 2);
  EXPECT_EQ(im["detection"]["tp"].get<int>(), 1);
  EXPECT_EQ(im["detection"]["fn"].get<int>(), 1);  // (70, 70) only
  // With a crop, points of the image outside the crop are expected: counted, not warned about.
  r = run({"evaluate", "--image", png, "--truth", truth, "--detections", det, "--image-crop", "0,0,50,50",
           "--output", json_path.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find(warning), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("; 1 truth points (1 outside --image-crop left out), radius 10.0 px\n"),
            std::string::npos)
      << r.err;
  im = nlohmann::json::parse(test::read_text(json_path))["images"][0];
  EXPECT_EQ(im["truth"].get<int>(), 1);
  EXPECT_EQ(im["detection"]["fn"].get<int>(), 0);
}

// A semicolon truth CSV (Excel in a decimal-comma locale) failed with "missing column 'x' in header
// 'x;y;label'"; JSON points labelled by "class", which the CSV reader takes, with "missing 'label_id'".
TEST(EvaluateCli, ReadsSemicolonAndTabTruthAndJsonClass) {
  const auto dir = test::temp_dir("evaluate_cli_truth_delimiters");
  const auto png = (dir / "f.png").string(), det = (dir / "det.csv").string();
  cv::imwrite(png, cv::Mat(100, 100, CV_8UC3, cv::Scalar(230, 230, 230)));
  write(det, "x,y,label\n20,20,positive\n60,60,negative\n");
  const std::vector<std::pair<std::string, std::string>> truths = {
      {"s.csv", "x;y;label\n20,5;20;positive\n60;60;negative\n"},
      {"t.txt", "x\ty\tlabel\n20\t20\tpositive\n60\t60,5\tnegative\n"},
      {"c.json", R"([{"x": 20, "y": 20, "class": 1}, {"x": 60, "y": 60, "class": 2}])"}};
  for (const auto& [name, text] : truths) {
    const auto truth = (dir / name).string();
    write(truth, text);
    const auto r = run({"evaluate", "--image", png, "--truth", truth, "--detections", det, "--output",
                        (dir / "e.json").string()});
    EXPECT_EQ(r.status, 0) << name << ": " << r.err;
    if (r.status != 0) continue;
    const auto im = nlohmann::json::parse(test::read_text(dir / "e.json"))["images"][0];
    EXPECT_EQ(im["truth"].get<int>(), 2) << name;
    EXPECT_EQ(im["truth_positive"].get<int>(), 1) << name;
    EXPECT_EQ(im["detection"]["tp"].get<int>(), 2) << name;
  }
}

// The probe's case: a quarter of a SHIDC field evaluated with its whole-field annotation gave 289 truth
// points (224 of them outside the crop, all misses) and recall 0.201.
TEST(EvaluateCli, ACropOfAnAnnotatedFieldCountsOnlyItsPoints) {
  IHC_REQUIRE_SHARED(root, "SHIDC-B-Ki-67_sample/1.bare_images/Test");
  const auto dir = test::temp_dir("evaluate_cli_shidc_crop");
  const auto r = run({"evaluate", "--preset", "ki67", "--mpp", "0.25", "--radius-um", "4", "--image",
                      (root / "p1_0299_1.jpg").string(), "--truth", (root / "p1_0299_1.json").string(),
                      "--image-crop", "0,0,614,614", "--output", (dir / "r.json").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto im = nlohmann::json::parse(test::read_text(dir / "r.json"))["images"][0];
  EXPECT_EQ(im["truth"].get<int>(), 65);
  EXPECT_EQ(im["truth_positive"].get<int>(), 12);
  EXPECT_GT(im["detection"]["recall"].get<double>(), 0.7);
  EXPECT_NE(r.err.find("; 65 truth points (224 outside --image-crop left out), radius 16.0 px\n"),
            std::string::npos)
      << r.err;
}

// An image without a pixel size was detected as if a pixel were the preset's analysis size (0.5 um) with no
// word: a SHIDC field gave 434 cells and F1 0.609 against 336 and 0.675 with --mpp 0.25 (radius 10 px).
TEST(EvaluateCli, AnImageWithoutPixelSizeIsNamedUnlessGivenMpp) {
  const auto dir = test::temp_dir("evaluate_cli_no_mpp");
  const auto png = (dir / "f.png").string(), truth = (dir / "t.csv").string();
  cv::imwrite(png, cv::Mat(64, 64, CV_8UC3, cv::Scalar(230, 230, 230)));
  write(truth, "x,y,label\n10,10,positive\n");
  const std::string warning =
      "warning: f: " + png +
      " has no pixel size: cells detected as if a pixel were 0.5 um (scored in pixels; "
      "no mpp, give --mpp)\n";
  auto r = run({"evaluate", "--preset", "ki67", "--image", png, "--truth", truth});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find(warning), std::string::npos) << r.err;
  r = run({"evaluate", "--preset", "ki67", "--mpp", "0.25", "--image", png, "--truth", truth});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err.find("pixel size"), std::string::npos) << r.err;
  // Cells read from a file are not detected: no pixel size needed.
  const auto det = (dir / "det.csv").string();
  write(det, "x,y,label\n10,11,positive\n");
  r = run({"evaluate", "--image", png, "--truth", truth, "--detections", det});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err.find("pixel size"), std::string::npos) << r.err;
}

// The pooled row's |diff| was the mean over images, not the difference of the pooled Positive % beside it.
// Here 50 % against 100 % on 2 cells and 0 % against 0 % on 8: the pooled row 10 % against 20 %, difference
// 10; the mean over images (25) stays in the line below the table and in summary.mean_abs_percent_diff.
TEST(EvaluateCli, ThePooledRowShowsThePooledDifference) {
  const auto dir = test::temp_dir("evaluate_cli_pooled");
  std::vector<std::string> args = {"evaluate", "--output", (dir / "e.csv").string(), "--output",
                                   (dir / "e.json").string()};
  for (const char* n : {"a", "b"}) {
    const auto png = (dir / (std::string(n) + ".png")).string();
    cv::imwrite(png, cv::Mat(100, 100, CV_8UC3, cv::Scalar(230, 230, 230)));
    std::string truth = "x,y,label\n", det = "x,y,label\n";
    if (std::string(n) == "a") {
      truth += "20,20,positive\n60,60,positive\n";
      det += "20,20,positive\n60,60,negative\n";
    } else {
      for (int i = 0; i < 8; ++i) {
        truth += std::to_string(10 + 11 * i) + ",50,negative\n";
        det += std::to_string(10 + 11 * i) + ",50,negative\n";
      }
    }
    write(dir / (std::string(n) + ".csv"), truth);
    write(dir / (std::string(n) + ".det.csv"), det);
    args.insert(args.end(), {"--image", png, "--truth", (dir / (std::string(n) + ".csv")).string(),
                             "--detections", (dir / (std::string(n) + ".det.csv")).string()});
  }
  const auto r = run(args);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto all = r.out.find("ALL (pooled)");
  ASSERT_NE(all, std::string::npos) << r.out;
  const std::string row = r.out.substr(all, r.out.find('\n', all) - all);
  EXPECT_EQ(row.substr(row.size() - 22), "   10.0    20.0   10.0") << row;
  EXPECT_NE(r.out.find("Positive %: mean |predicted - true| 25.00 points over 2 images (max 50.00)"),
            std::string::npos)
      << r.out;
  const std::string csv = test::read_text(dir / "e.csv");
  const auto csv_all = csv.find("\nALL,");
  ASSERT_NE(csv_all, std::string::npos) << csv;
  EXPECT_NE(csv.find(",10.0000,20.0000,10.0000,", csv_all), std::string::npos) << csv;
  const auto s = nlohmann::json::parse(test::read_text(dir / "e.json"))["summary"];
  EXPECT_DOUBLE_EQ(s["predicted_positive_percent"].get<double>(), 10.0);
  EXPECT_DOUBLE_EQ(s["truth_positive_percent"].get<double>(), 20.0);
  EXPECT_DOUBLE_EQ(s["abs_percent_diff"].get<double>(), 10.0);
  EXPECT_DOUBLE_EQ(s["mean_abs_percent_diff"].get<double>(), 25.0);
}

// Another image's cells were compared without a check: a batch folder's slide.json names the image its cells
// were detected on, and another file name is warned about (the comparison still runs).
TEST(EvaluateCli, DetectionsOfAnotherImageAreWarnedAbout) {
  const auto dir = test::temp_dir("evaluate_cli_other_image");
  const auto g = (dir / "g.png").string(), f = (dir / "f.png").string(), truth = (dir / "g.csv").string();
  auto r = run({"synth", "--kind", "membrane", "--seed", "1", "--width", "128", "--height", "128", "-o", g,
                "--truth", truth});
  ASSERT_EQ(r.status, 0) << r.err;
  fs::copy_file(g, f, fs::copy_options::overwrite_existing);
  const auto out = dir / "out";
  r = run({"score", g, "-o", out.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto cells = (out / "slides" / "g" / "cells.csv").string();
  r = run({"evaluate", "--image", f, "--truth", truth, "--detections", cells});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("warning: f: " + cells + " holds the cells of g.png (" +
                       (out / "slides" / "g" / "slide.json").string() + "), not of f.png\n"),
            std::string::npos)
      << r.err;
  r = run({"evaluate", "--image", g, "--truth", truth, "--detections", cells});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err.find("holds the cells of"), std::string::npos) << r.err;
}

// The cells a batch wrote (cells.csv, and cells.geojson as QuPath and ihcview's review read it) give exactly
// the agreement evaluate finds when it detects them itself: a reviewed result can be scored against truth.
// Evaluate's own detection is score's: same parameters, same stains. dsg2_membrane's glass is not white
// (245 244 240), so score estimates its background; evaluate took white unless given --stains background
// (321 positive cells against the batch's 318). Since session 24 both choose the stains with one function
// (image_stains), estimated stains too: evaluate estimated on the whole image, score on its tissue.
struct ScoredCase {
  const char* name;
  const char* preset;
  const char* set;  // "" or one --set key=value given to both
};
class ScoredCellsReadBack : public ::testing::TestWithParam<ScoredCase> {};

TEST_P(ScoredCellsReadBack, AgreeWithDetectingThem) {
  const auto [name, preset, set] = GetParam();
  const auto dir = test::temp_dir(std::string("evaluate_cli_scored_cells_") + name + (*set ? "_set" : ""));
  const std::string image = (test::source_dir() / "samples" / (std::string(name) + ".png")).string();
  const std::string truth = (test::source_dir() / "samples" / (std::string(name) + ".truth.csv")).string();
  std::vector<std::string> sets;
  if (*set) sets = {"--set", set};
  std::vector<std::string> score_args = {"score", image, "--preset", preset, "-o", (dir / "out").string()};
  score_args.insert(score_args.end(), sets.begin(), sets.end());
  auto r = run(score_args);
  ASSERT_EQ(r.status, 0) << r.err;
  auto counts = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"evaluate", "--preset", preset,
                                     "--image",  image,      "--truth",
                                     truth,      "--output", (dir / "e.json").string()};
    args.insert(args.end(), sets.begin(), sets.end());
    args.insert(args.end(), extra.begin(), extra.end());
    const auto e = run(args);
    EXPECT_EQ(e.status, 0) << e.err;
    const auto im = nlohmann::json::parse(test::read_text(dir / "e.json"))["images"][0];
    return std::vector<int>{im["predicted"].get<int>(),       im["predicted_positive"].get<int>(),
                            im["matched_ignored"].get<int>(), im["detection"]["tp"].get<int>(),
                            im["positive"]["tp"].get<int>(),  im["negative"]["tp"].get<int>()};
  };
  const auto detected = counts({});
  EXPECT_GT(detected[0], 300);
  const auto cells_dir = dir / "out" / "slides" / name;
  EXPECT_EQ(counts({"--detections", (cells_dir / "cells.csv").string()}), detected);
  EXPECT_EQ(counts({"--detections", (cells_dir / "cells.geojson").string()}), detected);
}

INSTANTIATE_TEST_SUITE_P(EvaluateCli, ScoredCellsReadBack,
                         ::testing::Values(ScoredCase{"ki67_nuclear", "ki67", ""},
                                           ScoredCase{"dsg2_membrane", "dsg2", ""},
                                           ScoredCase{"dsg2_membrane", "dsg2", "estimate_stains=true"},
                                           ScoredCase{"mixed_field", "dsg2", "estimate_stains=true"}),
                         [](const auto& info) {
                           return std::string(info.param.name) + (*info.param.set ? "_estimated" : "");
                         });

// Published figures (docs/accuracy.md, scripts/evaluate-all). A run may not fall below them by more than
// 0.03 F1 nor rise above the published mean |Positive % difference| by more than 2 points.
struct Published {
  double f1, f1_positive, f1_negative, mean_abs_diff;
};

// Figures of the last scripts/evaluate-all run, as published in docs/accuracy.md.
constexpr Published kShidc{0.586, 0.681, 0.552, 7.98};
constexpr Published kDeepliifTest{0.755, 0.807, 0.738, 4.48};
constexpr Published kDeepliifTrain{0.790, 0.694, 0.744, 3.73};
constexpr Published kAdamDlubak{0.442, 0.542, 0.428, 4.07};
// The synthetic set's mean |Positive % difference| is published as 0.81 since the membrane search (and its
// mean |H-score difference| as 1.7): the constants keep the lower figures before it, so the bounds stay as
// tight as they were.
constexpr Published kSynthetic{0.963, 0.950, 0.952, 0.75};
// Not ground truth: QuPath 0.3.2's own detections on OS-2-vsi, with the parameters of the script that made
// them.
constexpr Published kQuPathOs2Vsi{0.732, 0.901, 0.693, 1.44};
// Not our detection: DeepLIIF's own model outputs on its test tiles (--detections-format deepliif), for
// scale.
constexpr Published kDeepliifModel{0.726, 0.717, 0.698, 10.29};
// Synthetic DSG2 grades (4-class truth): linearly weighted kappa and mean |H-score difference| over images.
constexpr double kSyntheticKappa = 0.966;
constexpr double kSyntheticHScoreDiff = 1.2;

void expect_not_worse(const fs::path& json_path, const Published& p) {
  const auto s = nlohmann::json::parse(test::read_text(json_path))["summary"];
  EXPECT_GE(s["detection"]["f1"].get<double>(), p.f1 - 0.03);
  EXPECT_GE(s["positive"]["f1"].get<double>(), p.f1_positive - 0.03);
  EXPECT_GE(s["negative"]["f1"].get<double>(), p.f1_negative - 0.03);
  EXPECT_LE(s["mean_abs_percent_diff"].get<double>(), p.mean_abs_diff + 2.0);
}

// The same commands as scripts/evaluate-all.
std::vector<std::string> common(const char* preset, const char* mpp, const fs::path& json) {
  return {"evaluate", "--preset", preset, "--mpp", mpp, "--radius-um", "4", "--output", json.string()};
}

TEST(EvaluateRegression, ShidcKi67) {
  IHC_REQUIRE_SHARED(root, "SHIDC-B-Ki-67_sample/1.bare_images/Test");
  const auto dir = test::temp_dir("evaluate_regression_shidc");
  auto args = common("ki67", "0.25", dir / "r.json");
  args.insert(args.end(), {"--stains", "estimate"});
  std::vector<fs::path> truths;
  for (const auto& e : fs::directory_iterator(root)) {
    if (e.path().extension() == ".json") truths.push_back(e.path());
  }
  std::sort(truths.begin(), truths.end());
  ASSERT_EQ(truths.size(), 26u);  // README says 25; the folder holds 26
  for (const auto& t : truths) {
    auto jpg = t;
    jpg.replace_extension(".jpg");
    args.insert(args.end(), {"--image", jpg.string(), "--truth", t.string()});
  }
  const auto r = run(args);
  ASSERT_EQ(r.status, 0) << r.err;
  expect_not_worse(dir / "r.json", kShidc);
}

TEST(EvaluateRegression, DeepliifTestTilesAndTrainPanels) {
  IHC_REQUIRE_SHARED(root, "DeepLIIF/Datasets/Sample_Dataset");
  const auto dir = test::temp_dir("evaluate_regression_deepliif");
  auto args = common("ki67", "0.25", dir / "test.json");
  args.insert(args.end(), {"--stains", "estimate"});
  for (const char* n : {"22_2", "34_3", "6_2", "799_2"}) {
    args.insert(args.end(), {"--image", (root / "test_cli" / (std::string(n) + ".png")).string(), "--truth",
                             (root / "test_groundtruth" / (std::string(n) + ".png")).string()});
  }
  auto r = run(args);
  ASSERT_EQ(r.status, 0) << r.err;
  // The mask readers count the components DeepLIIF's MANIFEST lists (>= 10 px): 137, 100, 46, 63 cells.
  const auto j = nlohmann::json::parse(test::read_text(dir / "test.json"));
  EXPECT_EQ(j["summary"]["truth"].get<int>(), 346);
  EXPECT_EQ(j["summary"]["truth_positive"].get<int>(), 54);
  expect_not_worse(dir / "test.json", kDeepliifTest);

  // DeepLIIF's model outputs read as detections: fixed files, so the published figures exactly.
  args = common("ki67", "0.25", dir / "model.json");
  args.insert(args.end(), {"--detections-format", "deepliif"});
  for (const char* n : {"22_2", "34_3", "6_2", "799_2"}) {
    args.insert(args.end(), {"--image", (root / "test_cli" / (std::string(n) + ".png")).string(), "--truth",
                             (root / "test_groundtruth" / (std::string(n) + ".png")).string(), "--detections",
                             (root / "test_DeepLIIF_results" / (std::string(n) + "_fake_B_5.png")).string()});
  }
  r = run(args);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto m = nlohmann::json::parse(test::read_text(dir / "model.json"))["summary"];
  EXPECT_EQ(m["predicted"].get<int>(), 450);
  EXPECT_NEAR(m["detection"]["f1"].get<double>(), kDeepliifModel.f1, 0.0005);
  EXPECT_NEAR(m["positive"]["f1"].get<double>(), kDeepliifModel.f1_positive, 0.0005);
  EXPECT_NEAR(m["negative"]["f1"].get<double>(), kDeepliifModel.f1_negative, 0.0005);
  EXPECT_NEAR(m["mean_abs_percent_diff"].get<double>(), kDeepliifModel.mean_abs_diff, 0.005);

  args = common("ki67", "0.25", dir / "train.json");
  args.insert(args.end(),
              {"--stains", "estimate", "--image-crop", "0,0,512,512", "--truth-crop", "2560,0,512,512"});
  for (const char* n : {"Bladder1", "Lung1"}) {
    const auto panel = (root / "train" / (std::string(n) + ".png")).string();
    args.insert(args.end(), {"--image", panel, "--truth", panel});
  }
  r = run(args);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto t = nlohmann::json::parse(test::read_text(dir / "train.json"));
  EXPECT_EQ(t["summary"]["truth"].get<int>(), 184 + 61);
  expect_not_worse(dir / "train.json", kDeepliifTrain);
}

TEST(EvaluateRegression, AdamDlubakInsideTheTumourMask) {
  IHC_REQUIRE_SHARED(root, "AdamDlubak-Ki67");
  const auto dir = test::temp_dir("evaluate_regression_adamdlubak");
  auto args = common("ki67", "0.5", dir / "r.json");
  args.insert(args.end(), {"--stains", "estimate"});
  for (const char* n : {"503-05", "17993-04"}) {
    args.insert(args.end(),
                {"--image", (root / n / "base.png").string(), "--truth", (root / n / "markers.csv").string(),
                 "--region", (root / n / "mask-gt.png").string()});
  }
  const auto r = run(args);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(test::read_text(dir / "r.json"));
  EXPECT_EQ(j["summary"]["truth"].get<int>(), 160 + 225);
  EXPECT_GT(j["images"][0]["outside_region"].get<int>(), 0);
  expect_not_worse(dir / "r.json", kAdamDlubak);
}

// Agreement with QuPath on the one image whose every QuPath detection is published (as a render): our
// detection run with Pete Bankhead's script parameters (scripts/evaluate-all, docs/accuracy.md "Agreement
// with QuPath"). Before background radius 0 got its outline fix this was F1 0.613 with 1016 cells.
TEST(EvaluateRegression, AgreementWithQuPathOnOs2Vsi) {
  IHC_REQUIRE_SHARED(root, "qupath-2022-cell-detection");
  const auto dir = test::temp_dir("evaluate_regression_qupath");
  std::vector<std::string> args = {"evaluate", "--preset", "ki67", "--radius-um", "4"};
  const auto qupath = test::qupath_os2_script_args();
  args.insert(args.end(), qupath.begin(), qupath.end());
  args.insert(args.end(),
              {"--image", (root / "images" / "OS-2-vsi.ome.tif").string(), "--truth",
               (root / "Ki67 cell detection" / "output" / "OS-2-vsi cell=0.2, dab=0.2.png").string(),
               "--truth-format", "qupath-render", "--output", (dir / "r.json").string()});
  const auto r = run(args);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(test::read_text(dir / "r.json"));
  EXPECT_EQ(j["summary"]["truth_positive"].get<int>(), 183);  // QuPath's table: 183 of 1353 positive
  expect_not_worse(dir / "r.json", kQuPathOs2Vsi);
}

TEST(EvaluateRegression, SyntheticMembranousDsg2) {
  const auto dir = test::temp_dir("evaluate_regression_synthetic");
  auto args = common("dsg2", "0.5", dir / "r.json");
  const char* mixes[] = {"0.4,0.3,0.2,0.1", "0.7,0.1,0.1,0.1", "0.2,0.2,0.3,0.3", "0.9,0.05,0.03,0.02"};
  for (int i = 0; i < 4; ++i) {
    const std::string seed = std::to_string(i + 1);
    const auto png = (dir / ("membrane_" + seed + ".png")).string(),
               csv = (dir / ("membrane_" + seed + ".csv")).string();
    const auto s = run({"synth", "--kind", "membrane", "--seed", seed, "--grades", mixes[i], "--mpp", "0.5",
                        "-o", png, "--truth", csv});
    ASSERT_EQ(s.status, 0) << s.err;
    args.insert(args.end(), {"--image", png, "--truth", csv});
  }
  const auto sample = test::source_dir() / "samples" / "dsg2_membrane.png";
  ASSERT_TRUE(fs::exists(sample)) << sample;
  args.insert(args.end(), {"--image", sample.string(), "--truth",
                           (test::source_dir() / "samples" / "dsg2_membrane.truth.csv").string()});
  args.insert(args.end(), {"--stains", "estimate"});
  const auto r = run(args);
  ASSERT_EQ(r.status, 0) << r.err;
  expect_not_worse(dir / "r.json", kSynthetic);
  const auto s = nlohmann::json::parse(test::read_text(dir / "r.json"))["summary"];
  ASSERT_TRUE(s["grades"].is_object()) << "the synthetic truth names grades, the dsg2 preset grades 0-3+";
  EXPECT_GE(s["grades"]["weighted_kappa"].get<double>(), kSyntheticKappa - 0.03);
  EXPECT_LE(s["mean_abs_h_score_diff"].get<double>(), kSyntheticHScoreDiff + 10.0);
  int matched = 0;
  for (const auto& row : s["grades"]["confusion_truth_by_predicted"])
    for (const auto& v : row) matched += v.get<int>();
  EXPECT_EQ(matched, s["detection"]["tp"].get<int>());
}

// --truth-format qupath-render: cells from a QuPath viewer snapshot of its detections (exact class colours),
// chosen by name only (a .png is read as a mask otherwise), with the same crop and size checks as masks.
TEST(EvaluateCli, QuPathRenderTruth) {
  const auto dir = test::temp_dir("evaluate_cli_qupath_render");
  const auto img = (dir / "field.png").string(), render = (dir / "render.png").string();
  cv::imwrite(img, cv::Mat(40, 60, CV_8UC3, cv::Scalar(235, 235, 235)));
  // BGR at the imwrite boundary: Negative #7070E1 / #5959B4, Positive #FA3E3E / #C83131.
  const cv::Scalar neg_fill(225, 112, 112), neg_outline(0xB4, 0x59, 0x59);
  const cv::Scalar pos_fill(62, 62, 250), pos_outline(0x31, 0x31, 0xC8);
  cv::Mat bgr(40, 60, CV_8UC3, cv::Scalar(200, 180, 210));
  // Fill, then the one-pixel outline on the border, as QuPath draws (ROIs: this file has no imgproc).
  const auto draw_cell = [&](cv::Rect r, const cv::Scalar& fill, const cv::Scalar& outline) {
    bgr(r).setTo(fill);
    for (const cv::Rect edge :
         {cv::Rect(r.x, r.y, r.width, 1), cv::Rect(r.x, r.y + r.height - 1, r.width, 1),
          cv::Rect(r.x, r.y, 1, r.height), cv::Rect(r.x + r.width - 1, r.y, 1, r.height)})
      bgr(edge).setTo(outline);
  };
  draw_cell(cv::Rect(5, 5, 8, 8), neg_fill, neg_outline);  // touching: outline column 12 is shared
  draw_cell(cv::Rect(12, 5, 8, 8), neg_fill, neg_outline);
  draw_cell(cv::Rect(30, 20, 9, 9), pos_fill, pos_outline);
  bgr(cv::Rect(50, 5, 4, 4)).setTo(pos_outline);  // small nucleus: outline only
  cv::imwrite(render, bgr);
  const auto json = dir / "r.json";
  auto r = run({"evaluate", "--mpp", "0.5", "--image", img, "--truth", render, "--truth-format",
                "qupath-render", "--output", json.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  auto im = nlohmann::json::parse(test::read_text(json))["images"][0];
  EXPECT_EQ(im["truth"].get<int>(), 4);
  EXPECT_EQ(im["truth_positive"].get<int>(), 2);
  // Read as a colour mask (the default for .png) it gave 3 cells, the touching ones merged into one blue
  // component; a render is not a mask, and the error says which format it may be.
  r = run({"evaluate", "--mpp", "0.5", "--image", img, "--truth", render, "--output", json.string()});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(
      r.err.find(render + ": not a colour mask: only 4.0 % of its pixels are black or pure red, green or "
                          "blue (masks are drawn in those on black); is it the stained image, or a "
                          "QuPath render (--truth-format qupath-render)?\n"),
      std::string::npos)
      << r.err;
  // --truth-crop applies, and the size must match the image's.
  r = run({"evaluate", "--mpp", "0.5", "--image", img, "--truth", render, "--truth-format", "qupath-render",
           "--truth-crop", "0,0,30,20"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(
      r.err.find("ihcscore evaluate: error: " + render +
                 ": the QuPath render is 30x20 but the image is 60x40 (use --image-crop/--truth-crop for "
                 "panels)\n"),
      std::string::npos)
      << r.err;
  r = run({"evaluate", "--mpp", "0.5", "--image", img, "--truth", render, "--truth-format", "qupath-render",
           "--image-crop", "0,0,30,20", "--truth-crop", "0,0,30,20", "--output", json.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  im = nlohmann::json::parse(test::read_text(json))["images"][0];
  EXPECT_EQ(im["truth"].get<int>(), 2);  // the two negatives; the others lie outside the crop
  EXPECT_EQ(im["truth_positive"].get<int>(), 0);
  const auto broken = (dir / "broken.png").string();
  write(broken, "not a png");
  r = run({"evaluate", "--image", img, "--truth", broken, "--truth-format", "qupath-render"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("ihcscore evaluate: error: " + broken + ": cannot decode the QuPath render image\n"),
            std::string::npos)
      << r.err;
  const auto missing = (dir / "none.png").string();
  r = run({"evaluate", "--image", img, "--truth", missing, "--truth-format", "qupath-render"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("ihcscore evaluate: error: " + missing + ": no such file\n"), std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace ihc
