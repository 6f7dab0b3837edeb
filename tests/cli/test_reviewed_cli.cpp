// End to end: `ihcscore score` on the bundled samples, a review saved as the viewer saves it, then
// `ihcscore reviewed` turning the batch into the table of reviewed scores a study analyses.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "models/cohort.hpp"
#include "models/results_io.hpp"
#include "models/review.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;

namespace ihc {
namespace {

// The three samples scored into a fresh folder of this test's own (ctest runs the tests of this file in
// parallel processes: a shared folder would race).
fs::path scored_batch(const std::string& name) {
  fs::path dir = test::temp_dir(name);
  fs::create_directories(dir / "in");
  for (const char* f : {"dsg2_membrane.png", "ki67_nuclear.png", "mixed_field.png"})
    fs::create_symlink(test::source_dir() / "samples" / f, dir / "in" / f);
  const auto score = test::run_program("ihcscore", {"score", "in", "-o", "out", "--preset", "dsg2"}, dir);
  EXPECT_EQ(score.status, 0) << score.err;
  return dir;
}

// The review's grading as the viewer starts it: slide.json's measurement and thresholds.
Review review_for(const fs::path& slide_dir) {
  const SlideRecord rec = read_slide_json(slide_dir / "slide.json");
  Review r;
  r.thresholds.measurement = rec.scoring_measurement;
  r.thresholds.threshold_1plus = rec.thresholds.at(0);
  r.thresholds.threshold_2plus = rec.thresholds.at(1);
  r.thresholds.threshold_3plus = rec.thresholds.at(2);
  return r;
}

std::map<std::string, std::string> row_of(const CsvTable& t, const std::string& image) {
  std::map<std::string, std::string> out;
  const int img = t.column("Image");
  for (const auto& row : t.rows) {
    if (row[img] != image) continue;
    for (std::size_t c = 0; c < t.header.size(); ++c) out[t.header[c]] = row[c];
  }
  return out;
}

// cells.csv's Object ID is QuPath's UUID; the review keys cells by the number inside it.
std::int64_t cell_id(const std::string& uuid) {
  std::int64_t id = -1;
  EXPECT_TRUE(cell_id_from_uuid(uuid, &id)) << uuid;
  return id;
}

std::vector<std::string> lines_of(const fs::path& p) {
  std::vector<std::string> out;
  std::ifstream in(p);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

}  // namespace

TEST(ReviewedCli, AppliesEachSlidesReviewAndKeepsTheOthersAutomatic) {
  const fs::path dir = scored_batch("reviewed_cli_apply");
  const fs::path membrane = dir / "out/slides/dsg2_membrane";
  const CsvTable cells = read_csv_table(membrane / "cells.csv");
  const int id = cells.column("Object ID"), cls = cells.column("Classification");
  const int cx = cells.column("Centroid X px"), cy = cells.column("Centroid Y px");
  // One Negative cell set to 3+, one 1+ cell marked a false detection, the intensity overridden.
  Review r = review_for(membrane);
  std::string neg_id, one_id;
  for (const auto& row : cells.rows) {
    const cv::Point2d c(std::stod(row[cx]), std::stod(row[cy]));
    if (neg_id.empty() && row[cls] == "Negative") {
      neg_id = row[id];
      r.corrections[cell_id(neg_id)] = {CellClass::ThreePlus, false, c};
    } else if (one_id.empty() && row[cls] == "1+") {
      one_id = row[id];
      r.corrections[cell_id(one_id)] = {CellClass::OnePlus, true, c};
    }
  }
  ASSERT_FALSE(neg_id.empty() || one_id.empty());
  r.intensity_override = {true, 3, "strong complete membranes"};
  save_review(membrane / "review.json", r);
  // ki67_nuclear: no correction, one include region over the left half of the image.
  const fs::path nuclear = dir / "out/slides/ki67_nuclear";
  const SlideRecord nrec = read_slide_json(nuclear / "slide.json");
  Review left = review_for(nuclear);
  const double half = static_cast<double>(nrec.width) / 2;
  left.regions.push_back({1,
                          RegionKind::Include,
                          "left half",
                          {{0, 0}, {half, 0}, {half, double(nrec.height)}, {0, double(nrec.height)}}});
  save_review(nuclear / "review.json", left);

  const auto run = test::run_program("ihcscore", {"reviewed", "out"}, dir);
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_NE(run.out.find("dsg2_membrane: reviewed (2 corrections)\n"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("mixed_field: automatic (not reviewed)\n"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("3 slides: 2 reviewed, 1 automatic, 0 failed -> out/reviewed_summary.csv\n"),
            std::string::npos)
      << run.out;
  // The table itself given for its folder does the same.
  const auto by_file = test::run_program("ihcscore", {"reviewed", "out/summary.csv"}, dir);
  EXPECT_EQ(by_file.status, 0) << by_file.err;
  EXPECT_EQ(by_file.out, run.out);

  const CsvTable automatic = read_csv_table(dir / "out/summary.csv");
  const CsvTable reviewed = read_csv_table(dir / "out/reviewed_summary.csv");
  auto a = row_of(automatic, "dsg2_membrane"), b = row_of(reviewed, "dsg2_membrane");
  auto n = [](const std::string& s) { return std::stoll(s); };
  EXPECT_EQ(n(b["Num Detections"]), n(a["Num Detections"]) - 1);
  EXPECT_EQ(n(b["Num Negative"]), n(a["Num Negative"]) - 1);
  EXPECT_EQ(n(b["Num 1+"]), n(a["Num 1+"]) - 1);
  EXPECT_EQ(n(b["Num 2+"]), n(a["Num 2+"]));
  EXPECT_EQ(n(b["Num 3+"]), n(a["Num 3+"]) + 1);
  EXPECT_EQ(b["Intensity score"], "3");
  EXPECT_NEAR(std::stod(b["IxP score"]), 3 * std::stod(b["Positive %"]), 1e-9);
  EXPECT_EQ(b["Tissue area mm^2"], a["Tissue area mm^2"]);  // the whole slide: the batch's tissue area
  EXPECT_EQ(b["Status"].rfind("ok; reviewed; intensity overridden (automatic ", 0), 0u) << b["Status"];
  EXPECT_EQ(b["Status"].substr(b["Status"].size() - 28), "): strong complete membranes");
  // A drawn region makes the slide's scope: its own cells, no tissue area to divide by.
  const CsvTable ncells = read_csv_table(nuclear / "cells.csv");
  long in_left = 0;
  for (const auto& row : ncells.rows) in_left += std::stod(row[ncells.column("Centroid X px")]) < half;
  auto k = row_of(reviewed, "ki67_nuclear");
  EXPECT_EQ(n(k["Num Detections"]), in_left);
  EXPECT_EQ(k["Tissue area mm^2"], "");
  EXPECT_EQ(k["Status"], "ok; reviewed");
  const CsvTable regions = read_csv_table(dir / "out/reviewed_regions.csv");
  ASSERT_EQ(regions.rows.size(), 1u);
  EXPECT_EQ(regions.rows[0][regions.column("Region")], "left half");
  EXPECT_EQ(n(regions.rows[0][regions.column("Num Detections")]), in_left);
  // The slide nobody reviewed keeps its automatic row, byte for byte.
  const auto auto_lines = lines_of(dir / "out/summary.csv"),
             rev_lines = lines_of(dir / "out/reviewed_summary.csv");
  ASSERT_EQ(auto_lines.size(), rev_lines.size());
  EXPECT_EQ(auto_lines[0], rev_lines[0]);
  for (std::size_t i = 1; i < auto_lines.size(); ++i) {
    if (auto_lines[i].rfind("mixed_field,", 0) == 0) {
      EXPECT_EQ(auto_lines[i], rev_lines[i]);
    }
  }
  // The R/SPSS form and what cohort reads.
  EXPECT_EQ(read_summary_csv(dir / "out/reviewed_summary_stats.csv").size(), 3u);
  EXPECT_TRUE(fs::exists(dir / "out/reviewed_regions_stats.csv"));
}

// ihcview keeps a review under the user's data folder when the results folder refuses it (a share gone
// read-only, a full disk). Until the viewer opens the results again and saves it back, `reviewed` reads that
// copy as the viewer would (the newer of the two), and says so; before, the slide came out automatic.
TEST(ReviewedCli, AReviewIhcviewKeptOutsideTheFolderIsApplied) {
  const fs::path dir = scored_batch("reviewed_cli_rescued");
  ::setenv("XDG_DATA_HOME", (dir / "data").c_str(), 1);
  const fs::path membrane = fs::canonical(dir / "out/slides/dsg2_membrane");
  const CsvTable cells = read_csv_table(membrane / "cells.csv");
  const int id = cells.column("Object ID"), cls = cells.column("Classification");
  Review r = review_for(membrane);
  for (const auto& row : cells.rows) {
    if (row[cls] != "Negative") continue;
    r.corrections[cell_id(row[id])] = {
        CellClass::ThreePlus,
        false,
        {std::stod(row[cells.column("Centroid X px")]), std::stod(row[cells.column("Centroid Y px")])}};
    break;
  }
  r.log.push_back(
      {"2026-11-22T10:00:00.000Z", "set-class", r.corrections.begin()->first, "Negative", "3+", ""});
  const fs::path rescue = rescued_review_path(membrane);
  fs::create_directories(rescue.parent_path());
  save_review(rescue, r);

  auto run = test::run_program("ihcscore", {"reviewed", "out"}, dir);
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_NE(run.out.find("dsg2_membrane: reviewed (1 corrections)\n"), std::string::npos) << run.out;
  EXPECT_NE(run.err.find("ihcscore reviewed: dsg2_membrane: the review is the copy ihcview kept in " +
                         rescue.string() +
                         " (newer than out/slides/dsg2_membrane/review.json); open these results in ihcview "
                         "to save it back into the folder\n"),
            std::string::npos)
      << run.err;
  auto n = [](const std::string& v) { return std::stoll(v); };
  auto a = row_of(read_csv_table(dir / "out/summary.csv"), "dsg2_membrane");
  auto b = row_of(read_csv_table(dir / "out/reviewed_summary.csv"), "dsg2_membrane");
  EXPECT_EQ(n(b["Num 3+"]), n(a["Num 3+"]) + 1);
  EXPECT_EQ(b["Status"], "ok; reviewed");

  // A review saved into the folder since (a later edit) wins over the older copy, silently.
  Review later = review_for(membrane);
  later.log.push_back({"2026-11-22T11:00:00.000Z", "set-thresholds", -1, "", "", "0.2 0.4 0.6"});
  save_review(membrane / "review.json", later);
  run = test::run_program("ihcscore", {"reviewed", "out"}, dir);
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_NE(run.out.find("dsg2_membrane: reviewed (0 corrections)\n"), std::string::npos) << run.out;
  EXPECT_EQ(run.err.find("the copy ihcview kept"), std::string::npos) << run.err;
  b = row_of(read_csv_table(dir / "out/reviewed_summary.csv"), "dsg2_membrane");
  EXPECT_EQ(b["Num 3+"], a["Num 3+"]);
  ::unsetenv("XDG_DATA_HOME");
}

TEST(ReviewedCli, AReviewThatCannotBeReadFailsItsRowAndTheExitStatus) {
  const fs::path dir = scored_batch("reviewed_cli_broken");
  std::ofstream(dir / "out/slides/mixed_field/review.json") << "{";
  const auto run = test::run_program("ihcscore", {"reviewed", "out"}, dir);
  EXPECT_EQ(run.status, 2);
  EXPECT_EQ(run.err.rfind("ihcscore reviewed: mixed_field: out/slides/mixed_field/review.json: ", 0), 0u)
      << run.err;
  const CsvTable reviewed = read_csv_table(dir / "out/reviewed_summary.csv");
  auto m = row_of(reviewed, "mixed_field");
  EXPECT_EQ(m["Status"].rfind("FAILED: review: out/slides/mixed_field/review.json: ", 0), 0u) << m["Status"];
  EXPECT_EQ(m["Num Detections"], "");  // never the automatic numbers under a review that was not applied
  EXPECT_EQ(row_of(reviewed, "ki67_nuclear")["Status"], "ok");
}

// review.json names the slide it was made on (ihcview writes the file name). One copied or saved into another
// slide's folder is refused for that slide, naming both files, and fails the run (exit 2); it used to be
// applied to the other slide's cells. A review that names no slide (an older file) is applied, with a
// warning.
TEST(ReviewedCli, AReviewOfAnotherSlideIsRefused) {
  const fs::path dir = scored_batch("reviewed_cli_other_slide");
  const fs::path membrane = dir / "out/slides/dsg2_membrane", nuclear = dir / "out/slides/ki67_nuclear",
                 mixed = dir / "out/slides/mixed_field";
  Review other = review_for(mixed);
  other.slide = "dsg2_membrane.png";
  save_review(mixed / "review.json", other);
  Review own = review_for(nuclear);
  own.slide = "ki67_nuclear.png";
  save_review(nuclear / "review.json", own);
  save_review(membrane / "review.json", review_for(membrane));  // no slide name

  const auto run = test::run_program("ihcscore", {"reviewed", "out"}, dir);
  EXPECT_EQ(run.status, 2);
  const std::string refused =
      "out/slides/mixed_field/review.json: made on dsg2_membrane.png, but these cells were detected on "
      "in/mixed_field.png (out/slides/mixed_field/slide.json); not applied";
  EXPECT_NE(run.err.find("ihcscore reviewed: mixed_field: " + refused + "\n"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("ihcscore reviewed: dsg2_membrane: warning: out/slides/dsg2_membrane/review.json "
                         "names no slide (an older file): applied without checking that it was made on "
                         "in/dsg2_membrane.png\n"),
            std::string::npos)
      << run.err;
  EXPECT_EQ(run.err.find("ki67_nuclear"), std::string::npos) << run.err;
  EXPECT_NE(run.out.find("ki67_nuclear: reviewed (0 corrections)\n"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("dsg2_membrane: reviewed (0 corrections)\n"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("3 slides: 2 reviewed, 0 automatic, 1 failed -> out/reviewed_summary.csv\n"),
            std::string::npos)
      << run.out;
  const CsvTable reviewed = read_csv_table(dir / "out/reviewed_summary.csv");
  auto m = row_of(reviewed, "mixed_field");
  EXPECT_EQ(m["Status"], "FAILED: review: " + refused);
  EXPECT_EQ(m["Num Detections"], "");  // neither the other slide's review nor the automatic numbers
  EXPECT_EQ(row_of(reviewed, "ki67_nuclear")["Status"], "ok; reviewed");
  EXPECT_EQ(row_of(reviewed, "dsg2_membrane")["Status"], "ok; reviewed");
}

TEST(ReviewedCli, ASlideReScoredSinceTheBatchGivesItsCurrentScores) {
  // As when the viewer re-scored mixed_field into its batch folder: slide.json holds new scores, summary.csv
  // the batch's.
  const fs::path dir = scored_batch("reviewed_cli_rescored");
  const fs::path record = dir / "out/slides/mixed_field/slide.json";
  SlideRecord rec = read_slide_json(record);
  rec.total.num_detections += 5;
  rec.total.num_negative += 5;
  std::ofstream(record) << slide_json_text(rec);
  const auto run = test::run_program("ihcscore", {"reviewed", "out"}, dir);
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_NE(run.out.find(
                "mixed_field: automatic (not reviewed; re-scored since summary.csv: slide.json's scores)\n"),
            std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("ki67_nuclear: automatic (not reviewed)\n"), std::string::npos) << run.out;
  const auto a = row_of(read_csv_table(dir / "out/summary.csv"), "mixed_field");
  const auto b = row_of(read_csv_table(dir / "out/reviewed_summary.csv"), "mixed_field");
  EXPECT_EQ(std::stoll(b.at("Num Detections")), std::stoll(a.at("Num Detections")) + 5);
}

// A batch scored per region (--roi): the reviewed table has the regions too, the reviewed slide's with its
// corrections applied to the cells inside each region, the others' as the batch wrote them. It had only drawn
// regions, so region scores were lost on review.
TEST(ReviewedCli, TheBatchsRegionsAreReviewedToo) {
  const fs::path dir = test::temp_dir("reviewed_cli_roi");
  fs::create_directories(dir / "in");
  for (const char* f : {"dsg2_membrane.png", "mixed_field.png"})
    fs::create_symlink(test::source_dir() / "samples" / f, dir / "in" / f);
  std::ofstream(dir / "roi.geojson")
      << R"({"type":"FeatureCollection","features":[)"
      << R"({"type":"Feature","properties":{"name":"Left"},"geometry":{"type":"Polygon",)"
      << R"("coordinates":[[[0,0],[320,0],[320,640],[0,640],[0,0]]]}},)"
      << R"({"type":"Feature","properties":{"name":"Right"},"geometry":{"type":"Polygon",)"
      << R"("coordinates":[[[320,0],[640,0],[640,640],[320,640],[320,0]]]}}]})";
  const auto score = test::run_program("ihcscore", {"score", "in", "-o", "out", "--roi", "roi.geojson"}, dir);
  ASSERT_EQ(score.status, 0) << score.err;
  const fs::path membrane = dir / "out/slides/dsg2_membrane";
  // One Negative cell of the left half set to 3+.
  const CsvTable cells = read_csv_table(membrane / "cells.csv");
  const int id = cells.column("Object ID"), cls = cells.column("Classification");
  const int cx = cells.column("Centroid X px"), cy = cells.column("Centroid Y px");
  Review r = review_for(membrane);
  for (const auto& row : cells.rows) {
    const cv::Point2d c(std::stod(row[cx]), std::stod(row[cy]));
    if (row[cls] == "Negative" && c.x < 300) {
      r.corrections[cell_id(row[id])] = {CellClass::ThreePlus, false, c};
      break;
    }
  }
  ASSERT_EQ(r.corrections.size(), 1u);
  save_review(membrane / "review.json", r);

  const auto run = test::run_program("ihcscore", {"reviewed", "out"}, dir);
  ASSERT_EQ(run.status, 0) << run.err;
  const auto batch = read_summary_csv(dir / "out/regions.csv");
  const auto reviewed = read_summary_csv(dir / "out/reviewed_regions.csv");
  ASSERT_EQ(batch.size(), 4u);
  ASSERT_EQ(reviewed.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(reviewed[i].image + "/" + reviewed[i].region, batch[i].image + "/" + batch[i].region);
    EXPECT_EQ(reviewed[i].num_detections, batch[i].num_detections) << i;
  }
  // dsg2_membrane/Left: one Negative became 3+; Right unchanged but reviewed; mixed_field as the batch wrote
  // it.
  EXPECT_EQ(reviewed[0].region, "Left");
  EXPECT_EQ(reviewed[0].num_negative, batch[0].num_negative - 1);
  EXPECT_EQ(reviewed[0].num_3plus, batch[0].num_3plus + 1);
  EXPECT_EQ(reviewed[0].status, "ok; reviewed");
  EXPECT_DOUBLE_EQ(reviewed[0].tissue_area_mm2, batch[0].tissue_area_mm2);
  EXPECT_EQ(reviewed[1].num_3plus, batch[1].num_3plus);
  EXPECT_DOUBLE_EQ(reviewed[1].h_score, batch[1].h_score);
  EXPECT_EQ(reviewed[1].status, "ok; reviewed");
  EXPECT_EQ(reviewed[2].image, "mixed_field");
  EXPECT_EQ(reviewed[2].status, batch[2].status);
  EXPECT_DOUBLE_EQ(reviewed[2].h_score, batch[2].h_score);

  // The ROI file changed since: the reviewed slide's region rows fail, never the automatic numbers.
  std::ofstream(dir / "roi.geojson")
      << R"({"type":"Feature","properties":{"name":"All"},"geometry":{"type":"Polygon",)"
      << R"("coordinates":[[[0,0],[640,0],[640,640],[0,640],[0,0]]]}})";
  ASSERT_EQ(test::run_program("ihcscore", {"reviewed", "out"}, dir).status, 0);
  const auto changed = read_summary_csv(dir / "out/reviewed_regions.csv");
  ASSERT_EQ(changed.size(), 4u);
  EXPECT_EQ(changed[0].status, "FAILED: batch regions: " + (dir / "roi.geojson").string() +
                                   ": 1 regions now, 2 when the slide was scored (changed since)");
  EXPECT_EQ(changed[0].region, "Left");
}

// The batch cuts High/Low on IxP >= 100 (group_score, group_cutoff); a pathologist's intensity override moves
// IxP across it, and the Group column of both tables follows (it kept the automatic group).
TEST(ReviewedCli, TheGroupFollowsAnOverriddenIntensity) {
  const fs::path dir = test::temp_dir("reviewed_cli_group");
  fs::create_directories(dir / "in");
  fs::create_symlink(test::source_dir() / "samples" / "dsg2_membrane.png", dir / "in" / "dsg2_membrane.png");
  const auto score = test::run_program(
      "ihcscore", {"score", "in", "-o", "out", "--set", "group_score=ixp", "--set", "group_cutoff=100"}, dir);
  ASSERT_EQ(score.status, 0) << score.err;
  const fs::path membrane = dir / "out/slides/dsg2_membrane";
  auto a = row_of(read_csv_table(dir / "out/summary.csv"), "dsg2_membrane");
  ASSERT_EQ(a["Intensity score"], "2");
  ASSERT_GE(std::stod(a["IxP score"]), 100);
  ASSERT_EQ(a["Group"], "High");
  Review r = review_for(membrane);
  r.intensity_override = {true, 1, "weak, incomplete membranes"};
  save_review(membrane / "review.json", r);
  const auto run = test::run_program("ihcscore", {"reviewed", "out"}, dir);
  ASSERT_EQ(run.status, 0) << run.err;
  auto b = row_of(read_csv_table(dir / "out/reviewed_summary.csv"), "dsg2_membrane");
  EXPECT_LT(std::stod(b["IxP score"]), 100);
  EXPECT_EQ(b["Group"], "Low");
  const CsvTable stats = read_csv_table(dir / "out/reviewed_summary_stats.csv");
  ASSERT_EQ(stats.rows.size(), 1u);
  EXPECT_EQ(stats.rows[0][stats.column("group")], "Low");
}

// A review.json without "thresholds" (by hand or an older tool) on a ki67 batch: graded with slide.json's
// nuclear measurement and single threshold, as the batch was; the built-in dsg2 grading (membrane, three
// thresholds) gave it 0 % positive with Status "ok; reviewed". With no thresholds anywhere the row fails.
TEST(ReviewedCli, AReviewWithoutThresholdsGradesAsTheBatch) {
  const fs::path dir = test::temp_dir("reviewed_cli_no_thresholds");
  fs::create_directories(dir / "in");
  fs::create_symlink(test::source_dir() / "samples" / "ki67_nuclear.png", dir / "in" / "ki67_nuclear.png");
  const auto score = test::run_program("ihcscore", {"score", "in", "-o", "out", "--preset", "ki67"}, dir);
  ASSERT_EQ(score.status, 0) << score.err;
  const fs::path nuclear = dir / "out/slides/ki67_nuclear";
  Review named;
  named.slide = "ki67_nuclear.png";
  nlohmann::json j = review_to_json(named);
  j.erase("thresholds");
  std::ofstream(nuclear / "review.json") << j.dump();
  auto run = test::run_program("ihcscore", {"reviewed", "out"}, dir);
  ASSERT_EQ(run.status, 0) << run.err;
  auto a = row_of(read_csv_table(dir / "out/summary.csv"), "ki67_nuclear");
  auto b = row_of(read_csv_table(dir / "out/reviewed_summary.csv"), "ki67_nuclear");
  ASSERT_GT(std::stod(a["Positive %"]), 1);
  EXPECT_EQ(b["Positive %"], a["Positive %"]);
  EXPECT_EQ(b["Num Detections"], a["Num Detections"]);
  EXPECT_EQ(b["Status"], "ok; reviewed");

  SlideRecord rec = read_slide_json(nuclear / "slide.json");
  rec.thresholds.clear();
  std::ofstream(nuclear / "slide.json") << slide_json_text(rec);
  run = test::run_program("ihcscore", {"reviewed", "out"}, dir);
  EXPECT_EQ(run.status, 2);
  const std::string why =
      "out/slides/ki67_nuclear/review.json: no \"thresholds\", and out/slides/ki67_nuclear/slide.json "
      "records no "
      "thresholds either: the cells cannot be graded";
  EXPECT_EQ(run.err, "ihcscore reviewed: ki67_nuclear: " + why + "\n");
  b = row_of(read_csv_table(dir / "out/reviewed_summary.csv"), "ki67_nuclear");
  EXPECT_EQ(b["Status"], "FAILED: review: " + why);
  EXPECT_EQ(b["Num Detections"], "");
}

// A correction whose cell is gone (re-detected since) is not counted: Status says so, not only stderr. An
// intensity override without the reason the docs require is refused, naming the file.
TEST(ReviewedCli, CorrectionsWithoutACellAndOverridesWithoutAReasonShowInTheTable) {
  const fs::path dir = scored_batch("reviewed_cli_orphans");
  const fs::path membrane = dir / "out/slides/dsg2_membrane", mixed = dir / "out/slides/mixed_field";
  Review r = review_for(membrane);
  r.slide = "dsg2_membrane.png";
  r.corrections[999999] = {CellClass::ThreePlus, false, {-500, -500}};  // no cell there
  r.intensity_override = {true, 3, "strong complete membranes"};
  save_review(membrane / "review.json", r);
  Review no_reason = review_for(mixed);
  no_reason.slide = "mixed_field.png";
  no_reason.intensity_override = {true, 2, ""};
  save_review(mixed / "review.json", no_reason);

  const auto run = test::run_program("ihcscore", {"reviewed", "out"}, dir);
  EXPECT_EQ(run.status, 2);
  EXPECT_NE(run.out.find("dsg2_membrane: reviewed (0 corrections, 1 without a cell, not counted)\n"),
            std::string::npos)
      << run.out;
  const std::string refused =
      "out/slides/mixed_field/review.json: the intensity override (score 2) has no reason: give one in "
      "ihcview (Summary panel) or clear the override";
  EXPECT_EQ(run.err, "ihcscore reviewed: mixed_field: " + refused + "\n");
  const CsvTable reviewed = read_csv_table(dir / "out/reviewed_summary.csv");
  auto b = row_of(reviewed, "dsg2_membrane");
  EXPECT_EQ(
      b["Status"].rfind("ok; reviewed; 1 correction without a cell; intensity overridden (automatic ", 0), 0u)
      << b["Status"];
  EXPECT_EQ(row_of(reviewed, "mixed_field")["Status"], "FAILED: review: " + refused);
  EXPECT_EQ(row_of(reviewed, "mixed_field")["Num Detections"], "");
}

TEST(ReviewedCli, AFolderWithoutSummaryIsAUsageError) {
  const fs::path dir = test::temp_dir("reviewed_cli_empty");
  fs::create_directories(dir / "nothing");
  const auto run = test::run_program("ihcscore", {"reviewed", "nothing"}, dir);
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(
      run.err,
      "ihcscore reviewed: error: nothing/summary.csv: cannot open for reading: No such file or directory (is "
      "nothing an output folder of ihcscore score?)\n");
  // A file: OUT/summary.csv stands for its folder; any other file is refused, naming it.
  std::ofstream(dir / "nothing" / "notes.txt") << "x";
  const auto file = test::run_program("ihcscore", {"reviewed", "nothing/notes.txt"}, dir);
  EXPECT_EQ(file.status, 1);
  EXPECT_EQ(
      file.err,
      "ihcscore reviewed: error: nothing/notes.txt is a file: give the output folder of ihcscore score\n");
}

// A sign-off in the viewer (a review without edits) made "ok; looks like H&E, not H-DAB" and "ok; scored in
// pixels" plain "ok; reviewed": cohort then analysed the H&E slide's eosin as DAB.
TEST(ReviewedCli, TheBatchsNotesOnASlideStayInItsReviewedStatus) {
  const fs::path dir = test::temp_dir("reviewed_cli_notes");
  fs::create_directories(dir / "in");
  // Re-encoded without its pixel size: scored in pixels, and the Status says so.
  ASSERT_TRUE(cv::imwrite((dir / "in/field.png").string(),
                          cv::imread((test::source_dir() / "samples/mixed_field.png").string())));
  const auto score = test::run_program("ihcscore", {"score", "in", "-o", "out"}, dir);
  ASSERT_EQ(score.status, 0) << score.err;
  const std::string note = "scored in pixels (no mpp, give --mpp)";
  ASSERT_EQ(row_of(read_csv_table(dir / "out/summary.csv"), "field")["Status"], "ok; " + note);
  Review r = review_for(dir / "out/slides/field");
  r.slide = "field.png";
  save_review(dir / "out/slides/field/review.json", r);
  const auto run = test::run_program("ihcscore", {"reviewed", "out"}, dir);
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_EQ(row_of(read_csv_table(dir / "out/reviewed_summary.csv"), "field")["Status"],
            "ok; reviewed; " + note);
}

}  // namespace ihc
