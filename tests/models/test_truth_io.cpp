#include "models/truth_io.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "support/test_support.hpp"

namespace ihc {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const TruthError& e) {
    return e.what();
  }
  return "(no error)";
}

const LabelMap kCsv = default_label_map(TruthFormat::Csv);
const LabelMap kJson = default_label_map(TruthFormat::Json);

TEST(TruthCsv, ReadsXYLabelInAnyColumnOrder) {
  const auto pts =
      parse_truth_csv("x,y,label\n10,20,positive\n30.5,40,Negative\n7,8,ignore\n", "a.csv", kCsv);
  ASSERT_EQ(pts.size(), 3u);
  EXPECT_DOUBLE_EQ(pts[0].position.x, 10);
  EXPECT_DOUBLE_EQ(pts[0].position.y, 20);
  EXPECT_EQ(pts[0].label, TruthLabel::Positive);
  EXPECT_DOUBLE_EQ(pts[1].position.x, 30.5);
  EXPECT_EQ(pts[1].label, TruthLabel::Negative);
  EXPECT_EQ(pts[2].label, TruthLabel::Ignore);
  const auto swapped = parse_truth_csv("label,y,x\n2,5,6\n", "b.csv", kCsv);
  ASSERT_EQ(swapped.size(), 1u);
  EXPECT_DOUBLE_EQ(swapped[0].position.x, 6);
  EXPECT_DOUBLE_EQ(swapped[0].position.y, 5);
  EXPECT_EQ(swapped[0].label, TruthLabel::Negative);
}

// Header names are read case-insensitively, so 'x' and 'X' both named x and the later one won.
TEST(TruthCsv, TwoColumnsForOneCoordinateAreRefused) {
  EXPECT_EQ(error_of([] { parse_truth_csv("x,y,label,X\n10,10,1,9999\n", "xX.csv", kCsv); }),
            "xX.csv: columns 'x' and 'X' both name x (columns 1 and 4)");
}

TEST(TruthCsv, ReadsAdamDlubakMarkersWithTypeColumn) {
  // markers.csv: type 1 = positive, 2 = negative; CRLF, a BOM and a trailing blank line are tolerated.
  const auto pts =
      parse_truth_csv("\xEF\xBB\xBFtype,x,y\r\n1,227,69\r\n2,173,81\r\n\r\n", "markers.csv", kCsv);
  ASSERT_EQ(pts.size(), 2u);
  EXPECT_EQ(pts[0].label, TruthLabel::Positive);
  EXPECT_DOUBLE_EQ(pts[0].position.x, 227);
  EXPECT_DOUBLE_EQ(pts[0].position.y, 69);
  EXPECT_EQ(pts[1].label, TruthLabel::Negative);
}

TEST(TruthCsv, ReadsQuPathClassNamesAndQuotedFields) {
  const auto pts = parse_truth_csv("\"x\",\"y\",\"class\"\n1,2,\"3+\"\n3,4,\"1.0\"\n", "q.csv", kCsv);
  ASSERT_EQ(pts.size(), 2u);
  EXPECT_EQ(pts[0].label, TruthLabel::Positive);
  EXPECT_EQ(pts[1].label, TruthLabel::Positive);  // 1.0 is label 1
  EXPECT_EQ(pts[0].grade, 3);
  EXPECT_EQ(pts[1].grade, -1);  // a number names no intensity grade
}

TEST(TruthCsv, QuPathClassNamesCarryTheIntensityGrade) {
  const auto pts = parse_truth_csv(
      "x,y,class\n1,1,Negative\n2,2,1+\n3,3,2+\n4,4,3+\n5,5,ignore\n6,6,positive\n", "g.csv", kCsv);
  ASSERT_EQ(pts.size(), 6u);
  for (int g = 0; g < 4; ++g) EXPECT_EQ(pts[g].grade, g) << g;
  EXPECT_EQ(pts[4].grade, -1);
  EXPECT_EQ(pts[5].grade, -1);
  // A custom map that sends 1+ to negative leaves the grade unknown rather than contradicting the label.
  const auto odd = parse_truth_csv("x,y,class\n1,1,1+\n", "o.csv", parse_label_map("1+=negative"));
  EXPECT_EQ(odd[0].label, TruthLabel::Negative);
  EXPECT_EQ(odd[0].grade, -1);
}

TEST(TruthCsv, ReadsTheRealAdamDlubakMarkers) {
  IHC_REQUIRE_SHARED(path, "AdamDlubak-Ki67/503-05/markers.csv");
  const auto pts = read_truth_csv(path, kCsv);
  // MANIFEST: 26 positive, 134 negative.
  const auto pos =
      std::count_if(pts.begin(), pts.end(), [](const auto& p) { return p.label == TruthLabel::Positive; });
  EXPECT_EQ(pos, 26);
  EXPECT_EQ(static_cast<long>(pts.size()) - pos, 134);
}

TEST(TruthCsv, ErrorsNameTheFileLineAndProblem) {
  EXPECT_EQ(error_of([] { parse_truth_csv("x,label\n1,2\n", "t.csv", kCsv); }),
            "t.csv: missing column 'y' in header 'x,label'");
  EXPECT_EQ(error_of([] { parse_truth_csv("y,label\n1,2\n", "t.csv", kCsv); }),
            "t.csv: missing column 'x' in header 'y,label'");
  EXPECT_EQ(error_of([] { parse_truth_csv("x,y\n1,2\n", "t.csv", kCsv); }),
            "t.csv: missing column 'label' (or 'type', 'class', 'label_id') in header 'x,y'");
  EXPECT_EQ(error_of([] { parse_truth_csv("x,y,label\n1,2,1\n1,abc,2\n", "t.csv", kCsv); }),
            "t.csv:3: y is not a number: 'abc'");
  EXPECT_EQ(error_of([] { parse_truth_csv("x,y,label\n,2,1\n", "t.csv", kCsv); }),
            "t.csv:2: x is not a number: ''");
  EXPECT_EQ(error_of([] { parse_truth_csv("x,y,label\nnan,2,1\n", "t.csv", kCsv); }),
            "t.csv:2: x is not a number: 'nan'");
  EXPECT_EQ(error_of([] { parse_truth_csv("x,y,label\n1,2,7\n", "t.csv", kCsv); }),
            "t.csv:2: unknown label '7' (known: 1, 1+, 2, 2+, 3, 3+, ignore, negative, positive)");
  EXPECT_EQ(error_of([] { parse_truth_csv("x,y,label\n1,2\n", "t.csv", kCsv); }),
            "t.csv:2: 2 fields, the header has 3");
  EXPECT_EQ(error_of([] { parse_truth_csv("x;label\n1;2\n", "t.csv", kCsv); }),
            "t.csv: missing column 'y' in header 'x;label'");
  EXPECT_EQ(error_of([] { parse_truth_csv("\n\n", "t.csv", kCsv); }),
            "t.csv: empty file, expected a header with columns x, y and label");
}

// Excel in a decimal-comma locale writes semicolon CSV, and R's write.table tabs: a semicolon file failed
// with "missing column 'x' in header 'x;y;label'".
TEST(TruthCsv, TakesTheHeadersDelimiterCommaSemicolonOrTab) {
  const auto semicolon = parse_truth_csv("x;y;label\n12,5;30;positive\n\"7\";8,25;2\n", "s.csv", kCsv);
  ASSERT_EQ(semicolon.size(), 2u);
  EXPECT_DOUBLE_EQ(semicolon[0].position.x, 12.5);  // a decimal comma
  EXPECT_DOUBLE_EQ(semicolon[0].position.y, 30);
  EXPECT_EQ(semicolon[0].label, TruthLabel::Positive);
  EXPECT_DOUBLE_EQ(semicolon[1].position.x, 7);
  EXPECT_DOUBLE_EQ(semicolon[1].position.y, 8.25);
  EXPECT_EQ(semicolon[1].label, TruthLabel::Negative);
  const auto tab = parse_truth_csv("class\tx\ty\r\n2+\t3\t4\r\n", "t.tsv", kCsv);
  ASSERT_EQ(tab.size(), 1u);
  EXPECT_DOUBLE_EQ(tab[0].position.x, 3);
  EXPECT_DOUBLE_EQ(tab[0].position.y, 4);
  EXPECT_EQ(tab[0].grade, 2);
  // Commas win: a comma file whose label text holds a semicolon is still a comma file.
  const auto comma = parse_truth_csv("x,y,label\n1,2,\"a;b\"\n", "c.csv", parse_label_map("a;b=ignore"));
  ASSERT_EQ(comma.size(), 1u);
  EXPECT_EQ(comma[0].label, TruthLabel::Ignore);
}

TEST(TruthCsv, FileErrorsNameThePath) {
  const auto dir = test::temp_dir("truth_io_files");
  EXPECT_EQ(error_of([&] { read_truth_csv(dir / "missing.csv", kCsv); }),
            (dir / "missing.csv").string() + ": no such file");
  EXPECT_EQ(error_of([&] { read_truth_csv(dir, kCsv); }), dir.string() + ": is a directory, not a file");
  std::ofstream(dir / "ok.csv") << "x,y,label\n1,2,positive\n";
  EXPECT_EQ(read_truth_csv(dir / "ok.csv", kCsv).size(), 1u);
}

TEST(TruthJson, ReadsShidcPoints) {
  const auto pts = parse_truth_json(R"([{"x": 923, "y": 67, "label_id": 1}, {"x": 5, "y": 6, "label_id": 2},
                                        {"x": 7.5, "y": 8, "label_id": 3}])",
                                    "p.json", kJson);
  ASSERT_EQ(pts.size(), 3u);
  EXPECT_DOUBLE_EQ(pts[0].position.x, 923);
  EXPECT_DOUBLE_EQ(pts[0].position.y, 67);
  EXPECT_EQ(pts[0].label, TruthLabel::Positive);
  EXPECT_EQ(pts[1].label, TruthLabel::Negative);
  EXPECT_EQ(pts[2].label, TruthLabel::Ignore);
  EXPECT_DOUBLE_EQ(pts[2].position.x, 7.5);
  // A string label under "label" works with a custom map.
  const auto named = parse_truth_json(R"([{"x": 1, "y": 2, "label": "tumor+"}])", "n.json",
                                      parse_label_map("tumor+=positive"));
  ASSERT_EQ(named.size(), 1u);
  EXPECT_EQ(named[0].label, TruthLabel::Positive);
}

// The CSV reader takes a "class" column; JSON points with "class" were refused ("missing 'label_id'").
TEST(TruthJson, TakesClassAsTheLabelToo) {
  const auto pts =
      parse_truth_json(R"([{"x": 1, "y": 2, "class": 2}, {"x": 3, "y": 4, "class": "3+"}])", "c.json", kCsv);
  ASSERT_EQ(pts.size(), 2u);
  EXPECT_EQ(pts[0].label, TruthLabel::Negative);
  EXPECT_EQ(pts[1].label, TruthLabel::Positive);
  EXPECT_EQ(pts[1].grade, 3);
  // label_id comes first, as before.
  const auto both = parse_truth_json(R"([{"x": 1, "y": 2, "class": 2, "label_id": 1}])", "b.json", kJson);
  EXPECT_EQ(both[0].label, TruthLabel::Positive);
}

TEST(TruthJson, ReadsTheRealShidcAnnotations) {
  IHC_REQUIRE_SHARED(path, "SHIDC-B-Ki-67_sample/1.bare_images/Test/p1_0299_5.json");
  const auto pts = read_truth_json(path, kJson);
  // derived/summary.csv: 54 positive, 231 negative, 9 lymphocytes.
  int n[3] = {0, 0, 0};
  for (const auto& p : pts) ++n[static_cast<int>(p.label)];
  EXPECT_EQ(n[0], 54);
  EXPECT_EQ(n[1], 231);
  EXPECT_EQ(n[2], 9);
}

TEST(TruthJson, ErrorsNameTheEntryAndProblem) {
  EXPECT_EQ(error_of([] { parse_truth_json("[{\"x\": 1", "t.json", kJson); }),
            "t.json: not valid JSON at line 1, column 9: syntax error while parsing object - unexpected "
            "end of input; expected '}'");
  EXPECT_EQ(error_of([] { parse_truth_json("{\"x\": 1}", "t.json", kJson); }),
            "t.json: expected a JSON list of {\"x\", \"y\", \"label_id\"} objects");
  EXPECT_EQ(error_of([] {
              parse_truth_json(R"([{"x": 1, "y": 2, "label_id": 1}, {"x": 1, "label_id": 1}])", "t.json",
                               kJson);
            }),
            "t.json: entry 2: missing 'y'");
  EXPECT_EQ(error_of([] { parse_truth_json(R"([{"x": "a", "y": 2, "label_id": 1}])", "t.json", kJson); }),
            "t.json: entry 1: 'x' is not a number: \"a\"");
  EXPECT_EQ(error_of([] { parse_truth_json(R"([{"x": 1, "y": 2}])", "t.json", kJson); }),
            "t.json: entry 1: missing 'label_id' (or 'label', 'class')");
  EXPECT_EQ(error_of([] { parse_truth_json(R"([{"x": 1, "y": 2, "label_id": 4}])", "t.json", kJson); }),
            "t.json: entry 1: unknown label '4' (known: 1, 2, 3)");
  EXPECT_EQ(error_of([] { parse_truth_json(R"([{"x": 1, "y": 2, "label_id": null}])", "t.json", kJson); }),
            "t.json: entry 1: 'label_id' is neither a number nor a string: null");
  EXPECT_EQ(error_of([] { parse_truth_json("[3]", "t.json", kJson); }), "t.json: entry 1: not an object");
}

// Whole-image points on a crop (--image-crop): shifted into it; those outside the crop, or outside the image
// (another image's truth, another scale), are left out and counted apart. They were kept as misses.
// QuPath's Points tool (counting): each annotation a MultiPoint (or Point) of one class, exported as GeoJSON.
// Only CSV, JSON lists and masks were read.
constexpr const char* kQuPathPoints = R"({"type": "FeatureCollection", "features": [
  {"type": "Feature", "id": "0d7f4a0c-1c9e-4d52-9a4e-6d5f0c1b2a3e",
   "geometry": {"type": "MultiPoint", "coordinates": [[10.5, 20.0], [30.0, 40.0]]},
   "properties": {"objectType": "annotation", "classification": {"name": "Positive", "color": [200, 50, 50]},
                  "measurements": {"Area": NaN}}},
  {"type": "Feature", "geometry": {"type": "Point", "coordinates": [50, 60]},
   "properties": {"objectType": "annotation", "classification": {"names": ["Tumor", "2+"], "color": [255, 187, 62]}}},
  {"type": "Feature", "geometry": {"type": "MultiPoint", "coordinates": [[70, 80]]},
   "properties": {"objectType": "annotation", "classification": "Negative"}},
  {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [99, 0], [99, 99], [0, 0]]]},
   "properties": {"objectType": "annotation", "classification": {"name": "Tumor"}}}
]})";

TEST(TruthGeoJson, ReadsQuPathPointAnnotationsByClass) {
  const auto points =
      parse_truth_geojson(kQuPathPoints, "points.geojson", default_label_map(TruthFormat::GeoJson));
  ASSERT_EQ(points.size(), 4u);
  EXPECT_EQ(points[0].position, cv::Point2d(10.5, 20.0));
  EXPECT_EQ(points[0].label, TruthLabel::Positive);
  EXPECT_EQ(points[1].label, TruthLabel::Positive);
  EXPECT_EQ(points[2].position, cv::Point2d(50, 60));
  EXPECT_EQ(points[2].label, TruthLabel::Positive) << "Tumor: 2+ by its intensity part";
  EXPECT_EQ(points[2].grade, 2);
  EXPECT_EQ(points[3].label, TruthLabel::Negative);
  EXPECT_EQ(points[3].grade, 0);

  // --labels names the whole class or its last part; ignore labels stay ignored.
  const auto mapped =
      parse_truth_geojson(kQuPathPoints, "points.geojson",
                          parse_label_map("Tumor: 2+=ignore,positive=positive,negative=negative"));
  ASSERT_EQ(mapped.size(), 4u);
  EXPECT_EQ(mapped[2].label, TruthLabel::Ignore);
  EXPECT_EQ(error_of([] {
              parse_truth_geojson(kQuPathPoints, "points.geojson", parse_label_map("positive=positive"));
            }),
            "points.geojson: feature 1: unknown label '2+' (known: positive)");
  const char* unclassified = R"({"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]}})";
  EXPECT_EQ(
      error_of(
          [&] { parse_truth_geojson(unclassified, "u.geojson", default_label_map(TruthFormat::GeoJson)); }),
      "u.geojson: feature 0: unknown label 'unclassified' (known: 1, 1+, 2, 2+, 3, 3+, ignore, negative, "
      "positive)");
  EXPECT_EQ(parse_truth_geojson(unclassified, "u.geojson", parse_label_map("unclassified=ignore"))[0].label,
            TruthLabel::Ignore);
}

TEST(TruthGeoJson, ErrorsNameTheFileAndFeature) {
  const LabelMap labels = default_label_map(TruthFormat::GeoJson);
  EXPECT_EQ(error_of([&] {
              parse_truth_geojson(R"({"type": "FeatureCollection", "features": [)", "a.geojson", labels);
            }),
            "a.geojson: not valid JSON at line 1, column 44: syntax error while parsing value - "
            "unexpected end of input; expected '[', '{', or a literal");
  EXPECT_EQ(error_of([&] { parse_truth_geojson(R"({"type": "Polygon"})", "a.geojson", labels); }),
            "a.geojson: expected a GeoJSON FeatureCollection, a Feature or a list of Features");
  EXPECT_EQ(error_of([&] {
              parse_truth_geojson(R"([{"type": "Feature", "geometry": {"type": "MultiPoint",
                  "coordinates": [[1, 2], [3]]}, "properties": {"classification": "Positive"}}])",
                                  "a.geojson", labels);
            }),
            "a.geojson: feature 0: point 1 is not [x, y]");
  EXPECT_EQ(
      error_of([&] {
        parse_truth_geojson(R"([{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": []}},
                  {"type": "Feature", "geometry": null}])",
                            "a.geojson", labels);
      }),
      "a.geojson: no Point or MultiPoint annotations (QuPath's Points tool) among its 2 features (Polygon "
      "1, no geometry 1)");
  EXPECT_TRUE(
      parse_truth_geojson(R"({"type": "FeatureCollection", "features": []})", "e.geojson", labels).empty());
}

TEST(TruthGeoJson, FormatFromTheExtensionOrAJsonFilesContent) {
  EXPECT_EQ(truth_format_from_path("points.geojson"), TruthFormat::GeoJson);
  EXPECT_EQ(parse_truth_format("geojson"), TruthFormat::GeoJson);
  EXPECT_EQ(truth_format_name(TruthFormat::GeoJson), "geojson");
  const auto dir = test::temp_dir("truth_geojson_format");
  std::ofstream(dir / "q.json") << kQuPathPoints;
  std::ofstream(dir / "l.json")
      << R"([{"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]}}])";
  std::ofstream(dir / "s.json") << R"([{"x": 1, "y": 2, "label_id": 1}])";
  EXPECT_EQ(truth_format_from_file(dir / "q.json"), TruthFormat::GeoJson);
  EXPECT_EQ(truth_format_from_file(dir / "l.json"), TruthFormat::GeoJson) << "QuPath 0.2-0.3: a list";
  EXPECT_EQ(truth_format_from_file(dir / "s.json"), TruthFormat::Json);
  EXPECT_EQ(truth_format_from_file(dir / "missing.json"), TruthFormat::Json);
  EXPECT_EQ(read_truth_geojson(dir / "q.json", default_label_map(TruthFormat::GeoJson)).size(), 4u);
}

TEST(TruthOnImage, ShiftsIntoTheCropAndCountsWhatFallsOutside) {
  const std::vector<TruthPoint> pts{{{50, 50}, TruthLabel::Positive},  {{40, 40}, TruthLabel::Negative},
                                    {{99.5, 99}, TruthLabel::Ignore},  {{10, 10}, TruthLabel::Negative},
                                    {{100, 50}, TruthLabel::Negative}, {{-0.5, 3}, TruthLabel::Positive},
                                    {{400, 400}, TruthLabel::Positive}};
  const auto cropped = truth_on_image(pts, {100, 100}, {40, 40, 60, 60});
  ASSERT_EQ(cropped.points.size(), 3u);
  EXPECT_EQ(cropped.points[0].position, cv::Point2d(10, 10));
  EXPECT_EQ(cropped.points[0].label, TruthLabel::Positive);
  EXPECT_EQ(cropped.points[1].position, cv::Point2d(0, 0));
  EXPECT_EQ(cropped.points[2].position, cv::Point2d(59.5, 59));
  EXPECT_EQ(cropped.points[2].label, TruthLabel::Ignore);  // ignored points stay: detections on them go
  EXPECT_EQ(cropped.outside_crop, 1);                      // (10, 10)
  EXPECT_EQ(cropped.outside_image, 3);                     // x = width, x < 0, and far off
  // No crop: the whole image.
  const auto whole = truth_on_image(pts, {100, 100}, {});
  EXPECT_EQ(whole.points.size(), 4u);
  EXPECT_EQ(whole.points[3].position, cv::Point2d(10, 10));
  EXPECT_EQ(whole.outside_crop, 0);
  EXPECT_EQ(whole.outside_image, 3);
}

TEST(TruthMask, RedAndBlueComponentsBecomeCentroids) {
  cv::Mat mask(60, 80, CV_8UC3, cv::Scalar(0, 0, 0));
  // Two touching red cells kept apart by a green outline, one blue cell, one anti-aliased red cell,
  // and a 3-pixel red speck that is too small to be a cell.
  cv::rectangle(mask, cv::Rect(10, 10, 6, 6), cv::Scalar(255, 0, 0), cv::FILLED);
  cv::rectangle(mask, cv::Rect(17, 10, 6, 6), cv::Scalar(255, 0, 0), cv::FILLED);
  cv::line(mask, {16, 10}, {16, 15}, cv::Scalar(0, 255, 0));
  cv::rectangle(mask, cv::Rect(40, 30, 5, 5), cv::Scalar(0, 0, 255), cv::FILLED);
  cv::rectangle(mask, cv::Rect(60, 40, 4, 4), cv::Scalar(254, 2, 1), cv::FILLED);
  mask.at<cv::Vec3b>(55, 5) = mask.at<cv::Vec3b>(55, 6) = mask.at<cv::Vec3b>(55, 7) = cv::Vec3b(255, 0, 0);
  const auto pts = truth_from_mask(mask, {10}, "m.png");
  ASSERT_EQ(pts.size(), 4u);
  int pos = 0;
  for (const auto& p : pts) pos += p.label == TruthLabel::Positive;
  EXPECT_EQ(pos, 3);
  // Pixel-edge convention (pixel x covers [x, x + 1]): columns 10..15 span [10, 16], centre 13.
  EXPECT_DOUBLE_EQ(pts[0].position.x, 13.0);
  EXPECT_DOUBLE_EQ(pts[0].position.y, 13.0);
  EXPECT_DOUBLE_EQ(pts[1].position.x, 20.0);  // columns 17..22
  EXPECT_EQ(pts[3].label, TruthLabel::Negative);
  EXPECT_DOUBLE_EQ(pts[3].position.x, 42.5);  // columns 40..44
  EXPECT_DOUBLE_EQ(pts[3].position.y, 32.5);
  // The speck counts once the minimum area allows it.
  EXPECT_EQ(truth_from_mask(mask, {3}, "m.png").size(), 5u);
}

TEST(TruthMask, RejectsNonRgbMasks) {
  EXPECT_EQ(error_of([] { truth_from_mask(cv::Mat(4, 4, CV_8UC1), {}, "g.png"); }),
            "g.png: a truth mask must be an 8-bit RGB image (found 1 channel(s), depth 0)");
  EXPECT_EQ(error_of([] { truth_from_mask(cv::Mat(), {}, "e.png"); }), "e.png: empty mask image");
}

TEST(TruthMask, AStainedImageIsNotReadAsAMask) {
  // Glass, a brown and a blue nucleus: read as a mask it gave a positive and a negative "cell".
  cv::Mat field(60, 80, CV_8UC3, cv::Scalar(240, 238, 236));
  cv::circle(field, {20, 30}, 8, cv::Scalar(150, 60, 40), cv::FILLED);
  cv::circle(field, {55, 30}, 8, cv::Scalar(60, 70, 200), cv::FILLED);
  EXPECT_EQ(
      error_of([&] { truth_from_mask(field, {}, "22_2.png"); }),
      "22_2.png: not a colour mask: only 0.0 % of its pixels are black or pure red, green or blue (masks "
      "are drawn in those on black); is it the stained image, or a QuPath render (--truth-format "
      "qupath-render)?");
  // A mask with anti-aliased edges and a little noise is still a mask.
  cv::Mat mask(60, 80, CV_8UC3, cv::Scalar(0, 0, 0));
  cv::circle(mask, {20, 30}, 8, cv::Scalar(255, 0, 0), cv::FILLED, cv::LINE_AA);
  cv::circle(mask, {55, 30}, 8, cv::Scalar(0, 0, 255), cv::FILLED, cv::LINE_AA);
  EXPECT_EQ(truth_from_mask(mask, {}, "m.png").size(), 2u);
}

double positives(const std::vector<TruthPoint>& pts) {
  return static_cast<double>(
      std::count_if(pts.begin(), pts.end(), [](const auto& p) { return p.label == TruthLabel::Positive; }));
}

// DeepLIIF's inferred segmentation is soft: purple where the network hesitates, green boundaries between
// touching cells. Its own rule (R + B > 120, G <= 80; majority of R >= B pixels) decides.
TEST(DeepliifSegmentation, SoftCellsSplitAtBoundariesAndClassedByMajority) {
  cv::Mat seg(60, 80, CV_8UC3, cv::Scalar(0, 0, 0));
  cv::rectangle(seg, cv::Rect(10, 10, 6, 6), cv::Scalar(160, 20, 110), cv::FILLED);  // purple, R >= B
  // Two touching blue cells with a green boundary between them.
  cv::rectangle(seg, cv::Rect(40, 10, 13, 6), cv::Scalar(30, 10, 200), cv::FILLED);
  cv::line(seg, {46, 10}, {46, 15}, cv::Scalar(120, 200, 120));
  // Mostly blue with a red edge: negative.
  cv::rectangle(seg, cv::Rect(10, 40, 6, 6), cv::Scalar(60, 0, 180), cv::FILLED);
  cv::rectangle(seg, cv::Rect(10, 40, 2, 6), cv::Scalar(200, 0, 50), cv::FILLED);
  cv::rectangle(seg, cv::Rect(60, 40, 6, 6), cv::Scalar(50, 0, 50), cv::FILLED);  // too faint: background
  seg.at<cv::Vec3b>(55, 5) = seg.at<cv::Vec3b>(55, 6) = seg.at<cv::Vec3b>(55, 7) = cv::Vec3b(255, 0, 0);
  const auto pts = cells_from_deepliif_segmentation(seg, {}, "s.png");
  ASSERT_EQ(pts.size(), 4u);
  EXPECT_EQ(positives(pts), 1.0);
  EXPECT_EQ(pts[0].label, TruthLabel::Positive);
  EXPECT_DOUBLE_EQ(pts[0].position.x, 13.0);  // columns 10..15, pixel-edge convention
  EXPECT_DOUBLE_EQ(pts[1].position.x, 43.0);  // columns 40..45
  EXPECT_DOUBLE_EQ(pts[2].position.x, 50.0);  // columns 47..52
  EXPECT_EQ(pts[3].label, TruthLabel::Negative);
  DeepliifSegmentationParams p;
  p.min_area_px = 3;
  EXPECT_EQ(cells_from_deepliif_segmentation(seg, p, "s.png").size(), 5u);  // the speck too
  EXPECT_EQ(error_of([] { cells_from_deepliif_segmentation(cv::Mat(4, 4, CV_8UC1), {}, "g.png"); }),
            "g.png: a DeepLIIF segmentation must be an 8-bit RGB image (found 1 channel(s), depth 0)");
}

TEST(TruthFormats, FromPathAndName) {
  EXPECT_EQ(truth_format_from_path("a/markers.csv"), TruthFormat::Csv);
  EXPECT_EQ(truth_format_from_path("p1.JSON"), TruthFormat::Json);
  EXPECT_EQ(truth_format_from_path("gt.png"), TruthFormat::Mask);
  EXPECT_EQ(
      error_of([] { truth_format_from_path("a.xml"); }),
      "a.xml: cannot tell the truth format from the extension '.xml' (use .csv, .json, .geojson or a .png "
      "mask, or give --truth-format csv|json|geojson|mask|qupath-render)");
  EXPECT_EQ(parse_truth_format("MASK"), TruthFormat::Mask);
  // A QuPath render is a PNG too: it is only chosen by name.
  EXPECT_EQ(parse_truth_format("qupath-render"), TruthFormat::QuPathRender);
  EXPECT_EQ(truth_format_name(TruthFormat::QuPathRender), "qupath-render");
  EXPECT_EQ(truth_format_from_path("OS-2-vsi cell=0.2, dab=0.2.png"), TruthFormat::Mask);
  EXPECT_EQ(error_of([] { parse_truth_format("xml"); }),
            "unknown truth format 'xml' (use csv, json, geojson, mask or qupath-render)");
}

TEST(LabelMaps, ParseAndReject) {
  const auto m = parse_label_map("1=positive, 2=negative,3=IGNORE");
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m.at("3"), TruthLabel::Ignore);
  EXPECT_EQ(error_of([] { parse_label_map("1=pos"); }),
            "--labels: '1=pos' is not <label>=positive|negative|ignore");
  EXPECT_EQ(error_of([] { parse_label_map("=positive"); }),
            "--labels: '=positive' is not <label>=positive|negative|ignore");
  EXPECT_EQ(error_of([] { parse_label_map(" , "); }),
            "--labels: no <label>=positive|negative|ignore item given");
  EXPECT_EQ(default_label_map(TruthFormat::Json).size(), 3u);
}

// QuPath's class colours as they appear in its renders.
const cv::Scalar kNegFill(112, 112, 225), kNegOutline(0x59, 0x59, 0xB4);
const cv::Scalar kPosFill(250, 62, 62), kPosOutline(0xC8, 0x31, 0x31);

// A render background that is "the image underneath": tissue-like colours, none of them a class colour.
cv::Mat render_background(int w, int h) {
  cv::Mat img(h, w, CV_8UC3);
  cv::randu(img, cv::Scalar(150, 120, 140), cv::Scalar(230, 200, 220));
  return img;
}

// Draws a detection as QuPath does: fill, then its one-pixel outline on the rectangle's border.
void draw_box_cell(cv::Mat& img, cv::Rect r, const cv::Scalar& fill, const cv::Scalar& outline) {
  cv::rectangle(img, r, fill, cv::FILLED);
  cv::rectangle(img, r, outline, 1);
}

TEST(TruthQuPathRender, OutlineColoursAreTheFillTruncatedToEightyPercent) {
  const QuPathRenderTruthParams p;
  EXPECT_EQ(p.negative_outline, cv::Vec3b(0x59, 0x59, 0xB4));  // 0.8 x 112 = 89.6 -> 89: truncated
  EXPECT_EQ(p.positive_outline, cv::Vec3b(0xC8, 0x31, 0x31));  // 0.8 x 62 = 49.6 -> 49
}

TEST(TruthQuPathRender, TouchingNucleiSharingAnOutlineAreTwoCells) {
  cv::Mat img = render_background(40, 30);
  // Outline columns 10 and 17 / 17 and 24: column 17 is shared, so fill+outline is one component.
  draw_box_cell(img, cv::Rect(10, 10, 8, 8), kNegFill, kNegOutline);
  draw_box_cell(img, cv::Rect(17, 10, 8, 8), kNegFill, kNegOutline);
  const auto pts = truth_from_qupath_render(img, {}, "r.png");
  ASSERT_EQ(pts.size(), 2u);
  EXPECT_EQ(pts[0].label, TruthLabel::Negative);
  EXPECT_EQ(pts[1].label, TruthLabel::Negative);
  EXPECT_NEAR(pts[0].position.x, 13.5, 0.5);  // fill columns 11..16
  EXPECT_NEAR(pts[0].position.y, 13.5, 0.5);
  EXPECT_NEAR(pts[1].position.x, 20.5, 0.5);  // fill columns 18..23
  EXPECT_NEAR(pts[1].position.y, 13.5, 0.5);
}

TEST(TruthQuPathRender, PositiveAndNegativeRoundNuclei) {
  cv::Mat img = render_background(80, 60);
  cv::circle(img, {20, 30}, 7, kPosFill, cv::FILLED);
  cv::circle(img, {20, 30}, 7, kPosOutline, 1);
  cv::fillPoly(img, std::vector<std::vector<cv::Point>>{{{45, 20}, {60, 22}, {58, 38}, {47, 36}}}, kNegFill);
  cv::polylines(img, std::vector<std::vector<cv::Point>>{{{45, 20}, {60, 22}, {58, 38}, {47, 36}}}, true,
                kNegOutline);
  // The negative's fill centroid, counted directly from the drawing.
  cv::Mat neg_fill;
  cv::inRange(img, kNegFill, kNegFill, neg_fill);
  const cv::Moments m = cv::moments(neg_fill, true);
  const auto pts = truth_from_qupath_render(img, {}, "r.png");
  ASSERT_EQ(pts.size(), 2u);
  EXPECT_EQ(pts[0].label, TruthLabel::Positive);
  EXPECT_NEAR(pts[0].position.x, 20, 0.5);
  EXPECT_NEAR(pts[0].position.y, 30, 0.5);
  EXPECT_EQ(pts[1].label, TruthLabel::Negative);
  EXPECT_NEAR(pts[1].position.x, m.m10 / m.m00, 0.5);
  EXPECT_NEAR(pts[1].position.y, m.m01 / m.m00, 0.5);
  EXPECT_EQ(pts[0].grade, -1);  // a render names the class, not an intensity grade
}

TEST(TruthQuPathRender, SmallNucleiDrawnAsOutlineOnly) {
  cv::Mat img = render_background(80, 60);
  // A nucleus too small to show fill: 4x4 = 16 outline pixels -> one cell at its centre.
  cv::rectangle(img, cv::Rect(10, 10, 4, 4), kPosOutline, cv::FILLED);
  // A 3x3 outline speck (9 < 10 pixels) -> nothing.
  cv::rectangle(img, cv::Rect(30, 10, 3, 3), kNegOutline, cv::FILLED);
  // A cell whose fill is a 2-pixel sliver (< 3) inside its outline -> nothing: the outline touches fill.
  cv::rectangle(img, cv::Rect(50, 10, 6, 5), kNegOutline, cv::FILLED);
  cv::rectangle(img, cv::Rect(52, 12, 2, 1), kNegFill, cv::FILLED);
  // An isolated 2-pixel fill speck -> nothing.
  cv::rectangle(img, cv::Rect(10, 40, 2, 1), kPosFill, cv::FILLED);
  // A 4x4 negative outline block touching a positive cell's fill is part of that drawing, not a cell.
  cv::rectangle(img, cv::Rect(40, 40, 6, 6), kPosFill, cv::FILLED);
  cv::rectangle(img, cv::Rect(46, 40, 4, 4), kNegOutline, cv::FILLED);
  const auto pts = truth_from_qupath_render(img, {}, "r.png");
  ASSERT_EQ(pts.size(), 2u);
  EXPECT_EQ(pts[0].label, TruthLabel::Positive);  // the 6x6 positive fill
  EXPECT_NEAR(pts[0].position.x, 43.0, 1e-9);     // columns 40..45 span [40, 46] (pixel-edge convention)
  EXPECT_NEAR(pts[0].position.y, 43.0, 1e-9);
  EXPECT_EQ(pts[1].label, TruthLabel::Positive);  // the outline-only nucleus
  EXPECT_NEAR(pts[1].position.x, 12.0, 1e-9);
  EXPECT_NEAR(pts[1].position.y, 12.0, 1e-9);
  // Lower minimums admit the speck and the slivers.
  QuPathRenderTruthParams loose;
  loose.min_fill_px = 2;
  loose.min_outline_only_px = 9;
  EXPECT_EQ(truth_from_qupath_render(img, loose, "r.png").size(), 5u);
}

TEST(TruthQuPathRender, OnlyExactClassColoursCount) {
  cv::Mat img = render_background(60, 30);
  // One unit off the class colours, and the mask format's pure red / blue: all image, no cells.
  draw_box_cell(img, cv::Rect(5, 5, 8, 8), cv::Scalar(113, 112, 225), cv::Scalar(0x59, 0x59, 0xB5));
  draw_box_cell(img, cv::Rect(20, 5, 8, 8), cv::Scalar(250, 62, 63), cv::Scalar(0xC8, 0x31, 0x30));
  cv::rectangle(img, cv::Rect(35, 5, 8, 8), cv::Scalar(255, 0, 0), cv::FILLED);
  cv::rectangle(img, cv::Rect(48, 5, 8, 8), cv::Scalar(0, 0, 255), cv::FILLED);
  EXPECT_TRUE(truth_from_qupath_render(img, {}, "r.png").empty());
  // Other class colours are parameters.
  QuPathRenderTruthParams custom;
  custom.positive_fill = cv::Vec3b(250, 62, 63);
  custom.positive_outline = cv::Vec3b(0xC8, 0x31, 0x30);
  const auto pts = truth_from_qupath_render(img, custom, "r.png");
  ASSERT_EQ(pts.size(), 1u);
  EXPECT_EQ(pts[0].label, TruthLabel::Positive);
  EXPECT_NEAR(pts[0].position.x, 24.0, 1e-9);  // the fill of columns 20..27, pixel-edge convention
}

TEST(TruthQuPathRender, RejectsNonRgbImages) {
  EXPECT_EQ(error_of([] { truth_from_qupath_render(cv::Mat(4, 4, CV_8UC4), {}, "a.png"); }),
            "a.png: a QuPath render must be an 8-bit RGB image (found 4 channel(s), depth 0)");
  EXPECT_EQ(error_of([] { truth_from_qupath_render(cv::Mat(4, 4, CV_16UC3), {}, "d.png"); }),
            "d.png: a QuPath render must be an 8-bit RGB image (found 3 channel(s), depth 2)");
  EXPECT_EQ(error_of([] { truth_from_qupath_render(cv::Mat(), {}, "e.png"); }),
            "e.png: empty QuPath render image");
}

TEST(TruthQuPathRender, ReadsQuPathsRenderOfOs2Vsi) {
  IHC_REQUIRE_SHARED(path,
                     "qupath-2022-cell-detection/Ki67 cell detection/output/OS-2-vsi cell=0.2, dab=0.2.png");
  const cv::Mat bgr = cv::imread(path.string(), cv::IMREAD_COLOR);
  ASSERT_FALSE(bgr.empty()) << path;
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  ASSERT_EQ(rgb.size(), cv::Size(1445, 1445));  // the pixel grid of derived/OS-2-vsi.decoded.png
  const auto pts = truth_from_qupath_render(rgb, {}, path.string());
  // QuPath's own results table (OS-2-vsi-results.tsv) for this render: 1353 cells, 13.53 % positive, i.e.
  // 183 positive. Cells whose fill is hidden by neighbours' outlines may split or vanish, so the count is
  // close (+-10), while the positives, fewer and rarely touching, are exact.
  EXPECT_NEAR(static_cast<double>(pts.size()), 1361.0, 10.0);
  EXPECT_NEAR(static_cast<double>(pts.size()), 1353.0, 1353 * 0.01);
  EXPECT_EQ(positives(pts), 183.0);
  for (const auto& p : pts) {
    ASSERT_TRUE(p.position.x >= 0 && p.position.x < 1445 && p.position.y >= 0 && p.position.y < 1445);
  }
}

}  // namespace
}  // namespace ihc
