#include "models/review.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "support/test_support.hpp"

namespace ihc {
namespace {

ReviewEditor::Clock fixed_clock() {
  return [] { return std::string("2024-01-02T03:04:05.000Z"); };
}

std::vector<CellRef> refs(std::initializer_list<std::int64_t> ids,
                          CellClass automatic = CellClass::Negative) {
  std::vector<CellRef> out;
  for (auto id : ids) out.push_back({id, {10.0 * static_cast<double>(id), 5.0}, automatic});
  return out;
}

TEST(ReviewEditor, SetClassRecordsCorrectionAndLogEntryPerCell) {
  ReviewEditor ed({}, fixed_clock());
  EXPECT_EQ(ed.set_class(refs({1, 2}), CellClass::TwoPlus), 2u);
  ASSERT_EQ(ed.review().corrections.size(), 2u);
  EXPECT_EQ(effective_class(ed.review(), 1, CellClass::Negative), CellClass::TwoPlus);
  EXPECT_EQ(effective_class(ed.review(), 3, CellClass::OnePlus), CellClass::OnePlus);
  ASSERT_EQ(ed.review().log.size(), 2u);
  EXPECT_EQ(ed.review().log[0],
            (ReviewLogEntry{"2024-01-02T03:04:05.000Z", "set-class", 1, "Negative", "2+", ""}));
  // Setting the same class again changes nothing and adds no undo step.
  EXPECT_EQ(ed.set_class(refs({1, 2}), CellClass::TwoPlus), 0u);
  EXPECT_EQ(ed.undo_depth(), 1u);
}

TEST(ReviewEditor, SettingTheAutomaticClassDropsTheCorrection) {
  ReviewEditor ed({}, fixed_clock());
  ed.set_class(refs({7}, CellClass::OnePlus), CellClass::ThreePlus);
  ed.set_class(refs({7}, CellClass::OnePlus), CellClass::OnePlus);
  EXPECT_TRUE(ed.review().corrections.empty());
  EXPECT_EQ(ed.review().log.back().old_class, "3+");
  EXPECT_EQ(ed.review().log.back().new_class, "1+");
}

TEST(ReviewEditor, UndoRedoRestoresExactStateAcrossManyEdits) {
  ReviewEditor ed({}, fixed_clock());
  std::vector<CellRef> many;
  for (std::int64_t i = 0; i < 50000; ++i) many.push_back({i, {double(i), 0}, CellClass::Negative});
  ed.set_class(many, CellClass::OnePlus);
  ed.mark_false_detection(refs({3}));
  const auto after_two = ed.review().corrections;
  ed.set_class(refs({3, 4}), CellClass::ThreePlus);
  EXPECT_EQ(ed.review().corrections.at(3).cls, CellClass::ThreePlus);
  EXPECT_FALSE(ed.review().corrections.at(3).false_detection);

  ASSERT_TRUE(ed.undo());
  EXPECT_EQ(ed.review().corrections, after_two);
  bool deleted = false;
  effective_class(ed.review(), 3, CellClass::Negative, &deleted);
  EXPECT_TRUE(deleted);
  ASSERT_TRUE(ed.undo());
  ASSERT_TRUE(ed.undo());
  EXPECT_TRUE(ed.review().corrections.empty());
  EXPECT_FALSE(ed.undo());
  ASSERT_TRUE(ed.redo());
  EXPECT_EQ(ed.review().corrections.size(), 50000u);
  ASSERT_TRUE(ed.redo());
  EXPECT_EQ(ed.review().corrections, after_two);
  // A new edit after undo drops the redo branch.
  ed.undo();
  ed.restore_automatic(refs({0}));
  EXPECT_FALSE(ed.can_redo());
  EXPECT_EQ(ed.review().log.back().action, "restore");
}

TEST(ReviewEditor, UndoIsLoggedCellByCell) {
  ReviewEditor ed({}, fixed_clock());
  ed.set_class(refs({5}), CellClass::TwoPlus);
  ed.undo();
  ASSERT_EQ(ed.review().log.size(), 2u);
  EXPECT_EQ(ed.review().log[1].action, "undo");
  EXPECT_EQ(ed.review().log[1].cell_id, 5);
  EXPECT_EQ(ed.review().log[1].old_class, "2+");
  EXPECT_EQ(ed.review().log[1].new_class, "auto");
}

TEST(ReviewEditor, RegionsDecideScopeByCentroidAndAreUndoable) {
  ReviewEditor ed({}, fixed_clock());
  EXPECT_TRUE(in_scope(ed.review(), {50, 50}));
  const auto inc = ed.add_region(RegionKind::Include, {{0, 0}, {100, 0}, {100, 100}, {0, 100}});
  EXPECT_TRUE(in_scope(ed.review(), {50, 50}));
  EXPECT_FALSE(in_scope(ed.review(), {150, 50}));
  const auto exc = ed.add_region(RegionKind::Exclude, {{40, 40}, {60, 40}, {50, 60}}, "fold");
  EXPECT_FALSE(in_scope(ed.review(), {50, 45}));
  EXPECT_TRUE(in_scope(ed.review(), {20, 20}));
  // The same scope through models/regions, as the batch counts it.
  EXPECT_FALSE(point_in_region({50, 45}, scope_region(ed.review())));
  EXPECT_TRUE(point_in_region({20, 20}, scope_region(ed.review())));
  EXPECT_FALSE(point_in_region({150, 50}, scope_region(ed.review())));
  EXPECT_TRUE(point_in_region({20, 20}, single_region(ed.review(), inc)));
  EXPECT_EQ(ed.review().log.back().detail, "exclude region 2 (fold)");
  ed.undo();
  EXPECT_TRUE(in_scope(ed.review(), {50, 45}));
  ed.redo();
  EXPECT_TRUE(ed.remove_region(inc));
  EXPECT_TRUE(in_scope(ed.review(), {150, 50}));
  ed.undo();
  ASSERT_EQ(ed.review().regions.size(), 2u);
  EXPECT_EQ(ed.review().regions[0].id, inc);
  EXPECT_EQ(ed.review().regions[1].id, exc);
}

TEST(ReviewEditor, ThresholdsAndOverrideAreUndoable) {
  ReviewEditor ed({}, fixed_clock());
  GradingParams t = ed.review().thresholds;
  t.threshold_1plus = 0.15;
  EXPECT_TRUE(ed.set_thresholds(t));
  EXPECT_FALSE(ed.set_thresholds(t));
  EXPECT_TRUE(ed.set_intensity_override({true, 2, "heterogeneous staining"}));
  EXPECT_EQ(ed.review().log.back().detail, "score 2: heterogeneous staining");
  ed.undo();
  EXPECT_FALSE(ed.review().intensity_override.active);
  ed.undo();
  EXPECT_DOUBLE_EQ(ed.review().thresholds.threshold_1plus, 0.2);
}

TEST(ReviewEditor, RematchFollowsCellsByCentroidAndKeepsOrphans) {
  ReviewEditor ed({}, fixed_clock());
  ed.set_class({{1, {100, 100}, CellClass::Negative}, {2, {500, 500}, CellClass::Negative}},
               CellClass::ThreePlus);
  std::vector<Cell> redetected(2);
  redetected[0].id = 41;
  redetected[0].centroid = {102, 99};  // within 3 px of cell 1
  redetected[1].id = 42;
  redetected[1].centroid = {520, 500};  // 20 px from cell 2: a different cell
  const auto r = ed.rematch(redetected, 4.0);
  EXPECT_EQ(r.matched, 1u);
  EXPECT_EQ(r.orphaned, 1u);
  ASSERT_EQ(ed.review().corrections.count(41), 1u);
  EXPECT_EQ(ed.review().corrections.at(41).cls, CellClass::ThreePlus);
  ASSERT_EQ(ed.review().orphans.size(), 1u);
  EXPECT_EQ(ed.review().orphans[0].centroid, cv::Point2d(500, 500));
}

TEST(ReviewFile, SaveLoadRoundTripsEverything) {
  const auto dir = test::temp_dir("review_roundtrip");
  ReviewEditor ed({}, fixed_clock());
  ed.set_class(refs({1, 2}), CellClass::OnePlus);
  ed.mark_false_detection(refs({9}));
  ed.add_region(RegionKind::Exclude, {{0, 0}, {10, 0}, {10, 10}}, "necrosis");
  ed.set_intensity_override({true, 3, "strong membranous"});
  Review r = ed.review();
  r.slide = "a.svs";
  const auto path = dir / "review.json";
  save_review(path, r);
  int files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++files;
  EXPECT_EQ(files, 1);  // no temporary file left behind
  const Review back = load_review(path);
  EXPECT_EQ(back.slide, "a.svs");
  EXPECT_EQ(back.corrections, r.corrections);
  EXPECT_EQ(back.regions, r.regions);
  EXPECT_TRUE(same_grading(back.thresholds, r.thresholds));
  EXPECT_EQ(back.intensity_override, r.intensity_override);
  EXPECT_EQ(back.log, r.log);
  EXPECT_EQ(back.next_region_id, 2);
  EXPECT_TRUE(back.has_thresholds);
}

// A review.json without "thresholds" (by hand, an older tool) says so: its thresholds are only the defaults,
// which a reader must not grade with as if the pathologist had set them.
TEST(ReviewFile, AReviewWithoutThresholdsSaysSo) {
  const Review r = review_from_json(nlohmann::json::parse(R"({"format":"ihcview-review","version":1})"), "r");
  EXPECT_FALSE(r.has_thresholds);
  EXPECT_TRUE(Review{}.has_thresholds);
}

// A results folder that refuses the review (here: a file where the folder was, as when a share is unmounted
// or the folder moved away) keeps it in the rescue file under XDG_DATA_HOME; loading prefers that copy while
// it is the newer one, and the next save into the folder removes it.
TEST(ReviewFile, AReviewTheResultsFolderRefusesIsRescuedAndRestored) {
  namespace fs = std::filesystem;
  const auto dir = test::temp_dir("review_rescue");
  const fs::path data = dir / "data";
  ::setenv("XDG_DATA_HOME", data.c_str(), 1);
  const fs::path results = dir / "out" / "slides" / "a";
  fs::create_directories(results);
  const fs::path rescue = rescued_review_path(results);
  EXPECT_EQ(rescue.parent_path(), data / "ihcview" / "unsaved-reviews");
  EXPECT_EQ(rescue.filename().string().rfind("a-", 0), 0u) << rescue;
  EXPECT_EQ(rescued_review_path(results.string() + "/"), rescue);  // one folder, however it is written
  EXPECT_NE(rescued_review_path(dir / "other" / "slides" / "a"), rescue);

  ReviewEditor ed({}, fixed_clock());
  ed.set_class(refs({4}), CellClass::ThreePlus);
  Review first = ed.review();
  first.slide = "a.svs";
  ReviewSaveResult saved = save_review_or_rescue(results, first);
  EXPECT_EQ(saved.saved_to, results / "review.json");
  EXPECT_TRUE(saved.results_error.empty());

  fs::rename(results, dir / "moved");
  std::ofstream(results).put('x');  // a file where the folder was
  ed.set_class(refs({5}), CellClass::TwoPlus);
  Review second = ed.review();
  saved = save_review_or_rescue(results, second);
  EXPECT_EQ(saved.saved_to, rescue);
  EXPECT_EQ(saved.results_error, results.string() + ": cannot create directory: '" + results.string() +
                                     "' is a file, not a directory");
  EXPECT_EQ(load_review(rescue).corrections, second.corrections);

  fs::remove(results);
  fs::rename(dir / "moved", results);
  LoadedReview back = load_review_with_rescue(results);
  EXPECT_TRUE(back.found);
  EXPECT_EQ(back.restored_from, rescue);
  EXPECT_EQ(back.review.corrections, second.corrections);  // not the folder's older review.json

  saved = save_review_or_rescue(results, back.review);
  EXPECT_EQ(saved.saved_to, results / "review.json");
  EXPECT_FALSE(fs::exists(rescue));
  back = load_review_with_rescue(results);
  EXPECT_TRUE(back.restored_from.empty());
  EXPECT_EQ(back.review.corrections, second.corrections);

  // Neither place takes it: the error names both.
  fs::remove_all(data);
  std::ofstream(data).put('x');
  fs::remove_all(results);
  std::ofstream(results).put('x');
  try {
    save_review_or_rescue(results, second);
    FAIL();
  } catch (const ReviewError& e) {
    EXPECT_NE(std::string(e.what()).find("; and the rescue copy failed too: "), std::string::npos)
        << e.what();
  }
  ::unsetenv("XDG_DATA_HOME");
}

TEST(ReviewFile, ErrorsNameTheFileAndTheProblem) {
  const auto dir = test::temp_dir("review_errors");
  try {
    load_review(dir / "missing.json");
    FAIL();
  } catch (const ReviewError& e) {
    EXPECT_EQ(std::string(e.what()), (dir / "missing.json").string() + ": cannot open review file");
  }
  // A folder opens as a stream that reads nothing: it must not pass as an empty or broken JSON file.
  std::filesystem::create_directories(dir / "folder.json");
  try {
    load_review(dir / "folder.json");
    FAIL();
  } catch (const ReviewError& e) {
    EXPECT_EQ(std::string(e.what()), (dir / "folder.json").string() +
                                         ": is a folder, not a review file (give the review.json inside it)");
  }
  auto write = [&](const std::string& text) {
    std::ofstream(dir / "r.json") << text;
    return (dir / "r.json").string();
  };
  const std::string p = write("{\"format\": \"ihcview-review\", ");
  try {
    load_review(p);
    FAIL();
  } catch (const ReviewError& e) {
    EXPECT_EQ(std::string(e.what()),
              p + ": not valid JSON at line 1, column 30: syntax error while parsing object key - "
                  "unexpected end of input; expected string literal");
  }
  write(R"({"format":"ihcview-review","version":1,"corrections":[{"id":3,"class":"4+","centroid":[1,2]}]})");
  try {
    load_review(p);
    FAIL();
  } catch (const ReviewError& e) {
    EXPECT_EQ(std::string(e.what()),
              p + ": corrections[0]: unknown class \"4+\" (expected Negative, 1+, 2+, 3+ or Positive)");
  }
  // Values a hand or a script got wrong are refused, not reinterpreted.
  for (const auto& [text, message] : std::vector<std::pair<std::string, std::string>>{
           {R"({"format":"ihcview-review","version":1,"intensity_override":{"active":"true","score":2}})",
            ": intensity_override: \"active\" must be true or false"},
           {R"({"format":"ihcview-review","version":1,"intensity_override":{"active":true,"score":2.9}})",
            ": intensity_override: \"score\" must be an integer"},
           {R"({"format":"ihcview-review","version":1,"regions":[{"id":1.5,"kind":"exclude"}]})",
            ": regions[0]: \"id\" must be an integer"},
           {R"({"format":"ihcview-review","version":1,"regions":[{"id":9223372036854775807,"kind":"exclude",
               "polygon":[[0,0],[10,0],[10,10]]}]})",
            ": regions[0]: \"id\" must be between 0 and 9223372036854775806"},
           {R"({"format":"ihcview-review","version":1,"thresholds":{"score_measurement":"Cell: DAB OD mean",
               "threshold_mode":"three","threshold_1plus":0.4,"threshold_2plus":0.3,"threshold_3plus":0.6,
               "threshold_positive":0.2}})",
            ": thresholds: thresholds must be increasing: threshold_1plus = 0.4, threshold_2plus = 0.3, "
            "threshold_3plus = 0.6"},
           {R"({"format":"ihcview-review","version":1,"thresholds":{"threshold_mode":"single",
               "threshold_1plus":0.2,"threshold_2plus":0.4,"threshold_3plus":0.6,"threshold_positive":0.2}})",
            ": thresholds: missing \"score_measurement\""}}) {
    write(text);
    try {
      load_review(p);
      ADD_FAILURE() << text;
    } catch (const ReviewError& e) {
      EXPECT_EQ(std::string(e.what()), p + message);
    }
  }
  write(R"({"format":"ihcview-review","version":2})");
  try {
    load_review(p);
    FAIL();
  } catch (const ReviewError& e) {
    EXPECT_EQ(std::string(e.what()), p + ": unsupported review version 2 (this viewer reads version 1)");
  }
}

}  // namespace
}  // namespace ihc
