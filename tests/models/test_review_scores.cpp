#include "models/review_scores.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "support/cell_lattice.hpp"

#include "models/atomic_file.hpp"
#include "models/parameters.hpp"
#include "models/results_link.hpp"
#include "support/test_support.hpp"

namespace ihc {
namespace {

CellTable lattice(std::int64_t first_id = 1000) { return test::cell_lattice(first_id); }
GradingParams params() { return test::lattice_grading(); }
// The cells of `t` graded with params(), no review applied.
CellState unreviewed(const CellTable& t) {
  CellState s;
  s.automatic = grade_cells(t, params());
  apply_review(t, {}, &s);
  return s;
}

// A result folder holding the lattice's cells graded with params() (cells.csv), and those cells.
struct LatticeFolder {
  std::filesystem::path dir;
  CellResults cells;
};
LatticeFolder lattice_folder(const std::string& name) {
  LatticeFolder f{test::temp_dir(name), {}};
  f.cells.table = lattice();
  f.cells.classes = grade_cells(f.cells.table, params());
  write_cells_csv(f.dir / "cells.csv", f.cells, {});
  return f;
}

}  // namespace

TEST(ReviewScores, GradingReviewAndScopeAsTheBatch) {
  const CellTable t = lattice();
  CellState s;
  s.automatic = grade_cells(t, params());
  Review r;
  apply_review(t, r, &s);
  // Columns 0,1 (0.01, 0.06) negative; 2,3 (0.11, 0.16) 1+; 4,5 2+; 6..9 3+.
  EXPECT_EQ(s.classes[0], CellClass::Negative);
  EXPECT_EQ(s.classes[2], CellClass::OnePlus);
  EXPECT_EQ(s.classes[5], CellClass::TwoPlus);
  EXPECT_EQ(s.classes[9], CellClass::ThreePlus);
  r.corrections[1000] = {CellClass::ThreePlus, false, {10, 10}};
  r.corrections[1001] = {CellClass::Negative, true, {30, 10}};
  r.regions.push_back({1, RegionKind::Exclude, "fold", {{0, 100}, {200, 100}, {200, 200}, {0, 200}}});
  apply_review(t, r, &s);
  EXPECT_EQ(s.classes[0], CellClass::ThreePlus);
  EXPECT_TRUE(s.deleted[1]);
  EXPECT_FALSE(s.counted[1]);
  EXPECT_FALSE(s.counted[55]);  // centroid (110, 110) in the exclusion
  EXPECT_TRUE(s.counted[45]);
  const Summary sum = summarize(s, nullptr, {});
  // 50 rows in scope minus one deleted cell.
  EXPECT_EQ(sum.final.detections, 49);
  const Scores expect = compute_scores(count_classes(s.classes, s.counted));
  EXPECT_EQ(sum.automatic.h_score, expect.h_score);
  EXPECT_EQ(sum.automatic.allred, expect.allred);
}

TEST(ReviewScores, IntensityOverrideKeepsBothScores) {
  const CellTable t = lattice();
  CellState s = unreviewed(t);
  const Summary sum = summarize(s, nullptr, {true, 1, "weak, heterogeneous"});
  EXPECT_TRUE(sum.overridden);
  EXPECT_EQ(sum.final.intensity_score, 1);
  EXPECT_NE(sum.automatic.intensity_score, 1);
  EXPECT_DOUBLE_EQ(sum.final.ixp, 1 * sum.final.positive_percent);
  EXPECT_DOUBLE_EQ(sum.final.allred, sum.final.allred_proportion + 1);
  EXPECT_DOUBLE_EQ(sum.final.irs, sum.final.irs_percentage * 1);
  EXPECT_EQ(sum.final.h_score, sum.automatic.h_score);
  // The row a study reads says so, with the automatic intensity and the reason.
  const ScoreRow row = reviewed_row("a-2", sum, 1.5, 0.25);
  EXPECT_EQ(row.image, "a-2");
  EXPECT_EQ(row.intensity_score, 1);
  EXPECT_EQ(row.tissue_area_mm2, 1.5);
  EXPECT_EQ(row.mpp, 0.25);
  EXPECT_EQ(row.status, "ok; reviewed; intensity overridden (automatic " +
                            format_number(sum.automatic.intensity_score) + "): weak, heterogeneous");
  EXPECT_EQ(reviewed_row("a", summarize(s, nullptr, {}), 1.5, 0.25).status, "ok; reviewed");
  // What the batch said of the slide stays, before the override whose reason ends the line.
  ScoreRow noted = row;
  add_batch_notes(&noted, "ok; looks like H&E, not H-DAB (check the stain)");
  EXPECT_EQ(noted.status,
            "ok; reviewed; looks like H&E, not H-DAB (check the stain); intensity overridden (automatic " +
                format_number(sum.automatic.intensity_score) + "): weak, heterogeneous");
  for (const char* plain : {"ok", "FAILED: unreadable"}) {
    ScoreRow same = row;
    add_batch_notes(&same, plain);
    EXPECT_EQ(same.status, row.status) << plain;
  }
  // Single-threshold grading has no automatic intensity: named, not left out ("(automatic ): ").
  Summary single = sum;
  single.automatic.intensity_score = std::nan("");
  EXPECT_EQ(reviewed_row("k", single, 1.5, 0.25).status,
            "ok; reviewed; intensity overridden (automatic none): weak, heterogeneous");
}

// A slide.json of an older version has regions but names no ROI file: each region gets a row saying why, not
// none (the reviewed regions table dropped the slide and looked complete); regions drawn in ihcview have
// their own rows elsewhere.
TEST(ReviewScores, RegionsWithoutTheirFileGetRowsSayingWhy) {
  const CellTable t = lattice();
  CellState s = unreviewed(t);
  SlideRecord rec;
  ScoreRow region;
  region.image = "old";
  region.region = "Tumor";
  rec.regions = {region};
  const std::vector<ScoreRow> rows = reviewed_batch_region_rows(rec, {}, t, s, {}, 0.25, {});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].region, "Tumor");
  EXPECT_EQ(
      rows[0].status,
      "FAILED: batch regions: slide.json does not name the ROI file of its regions (an older version wrote "
      "it): score the slide again with --roi and --resume to review its regions");
  rec.roi = kDrawnInViewer;
  EXPECT_TRUE(reviewed_batch_region_rows(rec, {}, t, s, {}, 0.25, {}).empty());
}

TEST(ReviewScores, TheBatchsIntensityRuleAndGroupComeFromSlideJson) {
  EXPECT_EQ(score_options_of({}).intensity_rule, IntensityRule::MeanGrade);
  const ScoreOptions o = score_options_of({{"intensity_rule", "most_common"},
                                           {"group_score", "ixp"},
                                           {"group_cutoff", "100"},
                                           {"sigma_um", "2"}});
  EXPECT_EQ(o.intensity_rule, IntensityRule::MostCommon);
  EXPECT_EQ(o.group_score, GroupScore::Ixp);
  EXPECT_EQ(o.group_cutoff, 100.0);
  // Most-common intensity: 40 of the 100 lattice cells are 3+, the mean grade of positives says 2+.
  const CellTable t = lattice();
  CellState s = unreviewed(t);
  EXPECT_EQ(summarize(s, nullptr, {}, o).final.intensity_score, 3);
  EXPECT_EQ(summarize(s, nullptr, {}).final.intensity_score, 2);
  try {
    score_options_of({{"group_score", "ixp"}});
    FAIL();
  } catch (const ParamError& e) {
    EXPECT_EQ(std::string(e.what()), "parameter 'group_cutoff' must be set when group_score is ixp");
  }
}

// The group is cut on the score the row reports: an intensity override that moves IxP across the cutoff
// moves the group too (it stayed the automatic one).
TEST(ReviewScores, TheGroupFollowsTheOverriddenScore) {
  const CellTable t = lattice();
  CellState s = unreviewed(t);
  ScoreOptions o;
  o.group_score = GroupScore::Ixp;
  o.group_cutoff = 200;
  // 80 % positive, intensity 2: IxP 160, Low; overridden to 3: IxP 240, High.
  const Summary up = summarize(s, nullptr, {true, 3, "strong complete membranes"}, o);
  EXPECT_EQ(up.automatic.group, "Low");
  EXPECT_DOUBLE_EQ(up.final.ixp, 240);
  EXPECT_EQ(up.final.group, "High");
  EXPECT_EQ(reviewed_row("a", up, 1.5, 0.25).group, "High");
  o.group_cutoff = 100;
  const Summary down = summarize(s, nullptr, {true, 1, "weak"}, o);
  EXPECT_EQ(down.automatic.group, "High");
  EXPECT_EQ(down.final.group, "Low");
  // Cut on a score the override does not touch, the group stays.
  o.group_score = GroupScore::PositivePercent;
  o.group_cutoff = 50;
  EXPECT_EQ(summarize(s, nullptr, {true, 1, "weak"}, o).final.group, "High");
}

TEST(ReviewScores, DrawnRegionsMakeTheScopeAndTheirOwnRows) {
  const CellTable t = lattice();
  Review r;
  EXPECT_EQ(reviewed_area_mm2(r, 2.0), 2.0);
  r.regions.push_back({1, RegionKind::Include, "tumour", {{0, 0}, {100, 0}, {100, 200}, {0, 200}}});
  r.regions.push_back({2, RegionKind::Include, "", {{100, 0}, {200, 0}, {200, 100}, {100, 100}}});
  r.regions.push_back({3, RegionKind::Exclude, "fold", {{0, 0}, {40, 0}, {40, 20}, {0, 20}}});
  EXPECT_TRUE(std::isnan(reviewed_area_mm2(r, 2.0)));  // no tissue mask to intersect regions with
  CellState s;
  s.automatic = grade_cells(t, params());
  apply_review(t, r, &s);
  const auto rows = reviewed_region_rows("a", t, s, r, 0.5);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].region, "tumour");
  EXPECT_EQ(rows[0].num_detections, 48);  // 5 columns x 10 rows minus the 2 cells under the fold
  EXPECT_EQ(rows[1].region, "Region 2");
  EXPECT_EQ(rows[1].num_detections, 25);
  EXPECT_EQ(rows[1].status, "ok; reviewed");
}

TEST(ReviewScores, AFoldersReviewFollowsReDetectedCellsByCentroid) {
  const std::filesystem::path dir = test::temp_dir("review_scores_folder");
  // The cells were re-detected since the review: new ids, centroids within a pixel.
  CellResults cells;
  cells.table = lattice(5000);
  for (auto& c : cells.table.cells) c.centroid += cv::Point2d(0.5, -0.5);
  cells.classes = grade_cells(cells.table, params());
  write_cells_csv(dir / "cells.csv", cells, {});
  Review r;
  r.thresholds = params();
  r.corrections[1000] = {CellClass::ThreePlus, false, {10, 10}};    // now cell 5000, Negative
  r.corrections[1001] = {CellClass::Negative, true, {30, 10}};      // now cell 5001: a false detection
  r.corrections[7777] = {CellClass::ThreePlus, false, {500, 500}};  // no cell there any more
  save_review(dir / "review.json", r);
  ScoreRow automatic;
  automatic.image = "a";
  automatic.tissue_area_mm2 = 0.04;
  automatic.mpp = 0.5;
  const ReviewedFolder f = score_reviewed_folder(dir, automatic);
  EXPECT_EQ(f.total.num_detections, 99);
  EXPECT_EQ(f.total.num_negative, 20 - 2);  // columns 0 and 1 minus the two corrected cells
  EXPECT_EQ(f.total.num_3plus, 40 + 1);
  EXPECT_EQ(f.total.tissue_area_mm2, 0.04);
  EXPECT_EQ(f.corrections, 2u);
  EXPECT_EQ(f.orphans, 1u);
  EXPECT_TRUE(f.regions.empty());
  // The table says it too, not only the command's output.
  EXPECT_EQ(f.total.status, "ok; reviewed; 1 correction without a cell");
}

// A review.json without "thresholds" grades as the batch did (slide.json's measurement and thresholds), not
// with the built-in dsg2 grading (membrane DAB, three thresholds), which gave a ki67 slide 0 % positive.
TEST(ReviewScores, AReviewWithoutThresholdsGradesWithSlideJsons) {
  auto [dir, cells] = lattice_folder("review_scores_no_thresholds");
  nlohmann::json j = review_to_json(Review{});
  j.erase("thresholds");
  write_file_atomic(dir / "review.json", j.dump());
  ScoreRow automatic;
  automatic.image = "a";
  const std::string refused = (dir / "review.json").string() + ": no \"thresholds\", and ";
  try {
    score_reviewed_folder(dir, automatic);
    FAIL() << "graded without thresholds";
  } catch (const ReviewError& e) {
    EXPECT_EQ(std::string(e.what()),
              refused + "no " + (dir / "slide.json").string() + " to take the batch's from");
  }
  SlideRecord rec;
  rec.scoring_measurement = "Cell: DAB OD mean";
  write_file_atomic(dir / "slide.json", slide_json_text(rec));
  try {
    score_reviewed_folder(dir, automatic);
    FAIL() << "graded without thresholds";
  } catch (const ReviewError& e) {
    EXPECT_EQ(std::string(e.what()), refused + (dir / "slide.json").string() +
                                         " records no thresholds either: the cells cannot be graded");
  }
  // ki67-like: one threshold; columns 5-9 (0.26 and up) are positive.
  rec.thresholds = {0.25};
  write_file_atomic(dir / "slide.json", slide_json_text(rec));
  ReviewedFolder f = score_reviewed_folder(dir, automatic);
  EXPECT_EQ(f.total.num_detections, 100);
  EXPECT_DOUBLE_EQ(f.total.positive_pct, 50);
  EXPECT_EQ(f.total.status, "ok; reviewed");
  rec.thresholds = {0.1, 0.2, 0.3};
  write_file_atomic(dir / "slide.json", slide_json_text(rec));
  f = score_reviewed_folder(dir, automatic);
  EXPECT_EQ(f.total.num_1plus, 20);
  EXPECT_EQ(f.total.num_3plus, 40);
  // Thresholds the review records win over slide.json's.
  Review own;
  own.thresholds = params();
  own.thresholds.threshold_1plus = 0.05;
  save_review(dir / "review.json", own);
  EXPECT_EQ(score_reviewed_folder(dir, automatic).total.num_1plus, 30);
  // A review graded with one threshold has no intensity even where nothing is positive (H-score read 0 then,
  // as if graded, beside the empty one of a review with positive cells).
  own.thresholds.mode = ThresholdMode::Single;
  own.thresholds.threshold_positive = 5.0;
  save_review(dir / "review.json", own);
  f = score_reviewed_folder(dir, automatic);
  EXPECT_EQ(f.total.num_positive, 0);
  EXPECT_TRUE(std::isnan(f.total.h_score));
  EXPECT_TRUE(std::isnan(f.total.allred_score));
}

// The docs and the viewer require a reason for an intensity override; a file with none is refused, naming
// it. A cleared override (the viewer writes it inactive with an empty reason) is no override.
TEST(ReviewScores, AnIntensityOverrideWithoutAReasonIsRefused) {
  auto [dir, cells] = lattice_folder("review_scores_override_reason");
  Review r;
  r.thresholds = params();
  r.intensity_override = {true, 3, ""};
  save_review(dir / "review.json", r);
  ScoreRow automatic;
  automatic.image = "a";
  try {
    score_reviewed_folder(dir, automatic);
    FAIL() << "an override without a reason was applied";
  } catch (const ReviewError& e) {
    EXPECT_EQ(std::string(e.what()),
              (dir / "review.json").string() +
                  ": the intensity override (score 3) has no reason: give one in ihcview "
                  "(Summary panel) or clear the override");
  }
  ReviewEditor editor(r);
  editor.set_intensity_override({});
  save_review(dir / "review.json", editor.review());
  EXPECT_EQ(score_reviewed_folder(dir, automatic).total.status, "ok; reviewed");
}

TEST(ReviewScores, ANewDetectionsReusedIdsDoNotCarryTheCorrections) {
  // A batch run again numbers its cells afresh: id 1005 is now another cell (column 5, 2+) than the one set
  // to 3+. The correction must follow its centroid (10, 10), cell 1000 (Negative) today, not the id.
  auto [dir, cells] = lattice_folder("review_scores_reused_ids");
  Review r;
  r.thresholds = params();
  r.corrections[1005] = {CellClass::ThreePlus, false, {10, 10}};
  save_review(dir / "review.json", r);
  EXPECT_FALSE(review_fits_cells(r, cells.table.cells));
  ScoreRow automatic;
  automatic.image = "a";
  const ReviewedFolder f = score_reviewed_folder(dir, automatic);
  EXPECT_EQ(f.total.num_detections, 100);
  EXPECT_EQ(f.total.num_negative, 19);  // cell 1000 set to 3+
  EXPECT_EQ(f.total.num_2plus, 20);     // cell 1005 as graded
  EXPECT_EQ(f.total.num_3plus, 41);
  EXPECT_EQ(f.orphans, 0u);
  r.corrections.clear();
  r.corrections[1001] = {CellClass::Negative, true, {30.5, 9.5}};  // its own cell, within a pixel
  EXPECT_TRUE(review_fits_cells(r, cells.table.cells));
  r.orphans.push_back({CellClass::OnePlus, false, {500, 500}});
  EXPECT_FALSE(review_fits_cells(r, cells.table.cells));
}

// A review is checked against the slide its folder's cells were detected on: by file name, since ihcview
// records only the name. Either side naming no slide (older files) is no mismatch.
TEST(ReviewScores, AReviewOfAnotherSlideIsNamedWithBothFiles) {
  Review r;
  SlideRecord rec;
  rec.source = "in/a.svs";
  r.slide = "a.svs";
  EXPECT_EQ(review_slide_mismatch(r, "out/slides/a/review.json", rec, "out/slides/a/slide.json"), "");
  r.slide = "/elsewhere/a.svs";  // the same name on another path: a moved slide
  EXPECT_EQ(review_slide_mismatch(r, "out/slides/a/review.json", rec, "out/slides/a/slide.json"), "");
  r.slide = "b.svs";
  EXPECT_EQ(review_slide_mismatch(r, "out/slides/a/review.json", rec, "out/slides/a/slide.json"),
            "out/slides/a/review.json: made on b.svs, but these cells were detected on in/a.svs "
            "(out/slides/a/slide.json); not applied");
  r.slide.clear();
  EXPECT_EQ(review_slide_mismatch(r, "out/slides/a/review.json", rec, "out/slides/a/slide.json"), "");
  {
    // A renamed copy beside the source (ihcview opens one with the source's results) is that slide; a file of
    // another size there is not.
    const std::filesystem::path in = test::temp_dir("review_scores_renamed_copy");
    write_file_atomic(in / "a.svs", "0123456789");
    write_file_atomic(in / "a copy.svs", "0123456789");
    write_file_atomic(in / "b.svs", "01234");
    SlideRecord abs_rec;
    abs_rec.source = (in / "a.svs").string();
    r.slide = "a copy.svs";
    EXPECT_EQ(review_slide_mismatch(r, "review.json", abs_rec, "slide.json"), "");
    r.slide = "b.svs";
    EXPECT_EQ(review_slide_mismatch(r, "review.json", abs_rec, "slide.json"),
              "review.json: made on b.svs, but these cells were detected on " + abs_rec.source +
                  " (slide.json); not applied");
  }
  r.slide = "b.svs";
  rec.source.clear();
  EXPECT_EQ(review_slide_mismatch(r, "out/slides/a/review.json", rec, "out/slides/a/slide.json"), "");

  // score_reviewed_folder refuses it, and warns about a review without a name.
  auto [dir, cells] = lattice_folder("review_scores_other_slide");
  rec.source = "in/a.svs";
  write_file_atomic(dir / "slide.json", slide_json_text(rec));
  Review other;
  other.thresholds = params();
  other.slide = "b.svs";
  save_review(dir / "review.json", other);
  ScoreRow automatic;
  automatic.image = "a";
  try {
    score_reviewed_folder(dir, automatic);
    FAIL() << "expected ReviewError";
  } catch (const ReviewError& e) {
    EXPECT_EQ(std::string(e.what()), (dir / "review.json").string() +
                                         ": made on b.svs, but these cells were detected on in/a.svs (" +
                                         (dir / "slide.json").string() + "); not applied");
  }
  other.slide.clear();
  save_review(dir / "review.json", other);
  const ReviewedFolder f = score_reviewed_folder(dir, automatic);
  EXPECT_EQ(f.total.num_detections, 100);
  EXPECT_EQ(f.warning, (dir / "review.json").string() +
                           " names no slide (an older file): applied without checking that it was made on "
                           "in/a.svs");
  other.slide = "a.svs";
  save_review(dir / "review.json", other);
  EXPECT_EQ(score_reviewed_folder(dir, automatic).warning, "");
}

}  // namespace ihc
