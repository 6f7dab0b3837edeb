#include "models/truth_io.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <functional>
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
            "t.csv:2: expected 3 fields as in the header, found 2");
  EXPECT_EQ(error_of([] { parse_truth_csv("\n\n", "t.csv", kCsv); }),
            "t.csv: empty file, expected a header with columns x, y and label");
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
            "t.json: not valid JSON (byte 9)");
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
            "t.json: entry 1: missing 'label_id'");
  EXPECT_EQ(error_of([] { parse_truth_json(R"([{"x": 1, "y": 2, "label_id": 4}])", "t.json", kJson); }),
            "t.json: entry 1: unknown label '4' (known: 1, 2, 3)");
  EXPECT_EQ(error_of([] { parse_truth_json(R"([{"x": 1, "y": 2, "label_id": null}])", "t.json", kJson); }),
            "t.json: entry 1: 'label_id' is neither a number nor a string: null");
  EXPECT_EQ(error_of([] { parse_truth_json("[3]", "t.json", kJson); }), "t.json: entry 1: not an object");
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
  EXPECT_DOUBLE_EQ(pts[0].position.x, 12.5);  // centre of columns 10..15
  EXPECT_DOUBLE_EQ(pts[0].position.y, 12.5);
  EXPECT_DOUBLE_EQ(pts[1].position.x, 19.5);
  EXPECT_EQ(pts[3].label, TruthLabel::Negative);
  EXPECT_DOUBLE_EQ(pts[3].position.x, 42.0);
  EXPECT_DOUBLE_EQ(pts[3].position.y, 32.0);
  // The speck counts once the minimum area allows it.
  EXPECT_EQ(truth_from_mask(mask, {3}, "m.png").size(), 5u);
}

TEST(TruthMask, RejectsNonRgbMasks) {
  EXPECT_EQ(error_of([] { truth_from_mask(cv::Mat(4, 4, CV_8UC1), {}, "g.png"); }),
            "g.png: a truth mask must be an 8-bit RGB image (found 1 channel(s), depth 0)");
  EXPECT_EQ(error_of([] { truth_from_mask(cv::Mat(), {}, "e.png"); }), "e.png: empty mask image");
}

TEST(TruthFormats, FromPathAndName) {
  EXPECT_EQ(truth_format_from_path("a/markers.csv"), TruthFormat::Csv);
  EXPECT_EQ(truth_format_from_path("p1.JSON"), TruthFormat::Json);
  EXPECT_EQ(truth_format_from_path("gt.png"), TruthFormat::Mask);
  EXPECT_EQ(error_of([] { truth_format_from_path("a.xml"); }),
            "a.xml: cannot tell the truth format from the extension '.xml' (use .csv, .json or a .png mask, "
            "or give "
            "--truth-format csv|json|mask)");
  EXPECT_EQ(parse_truth_format("MASK"), TruthFormat::Mask);
  EXPECT_EQ(error_of([] { parse_truth_format("xml"); }),
            "unknown truth format 'xml' (use csv, json or mask)");
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

}  // namespace
}  // namespace ihc
