#include "models/results_link.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "models/atomic_file.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;

namespace {

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

// A result folder as the batch writes it: slide.json naming `source` (as given) and the slide's size.
void result_folder(const fs::path& dir, const std::string& source, std::int64_t bytes,
                   std::int64_t width = 640, std::int64_t height = 480) {
  ihc::SlideRecord rec;
  rec.image = dir.filename().string();
  rec.source = source;
  rec.source_size = bytes;
  rec.width = width;
  rec.height = height;
  write(dir / "slide.json", ihc::slide_json_text(rec));
}

ihc::SlideRecord record(const std::string& source, std::int64_t width, std::int64_t height) {
  ihc::SlideRecord rec;
  rec.image = "a";
  rec.source = source;
  rec.width = width;
  rec.height = height;
  return rec;
}

}  // namespace

TEST(ResultsId, IsTheFileNameWithoutExtensionAndSafe) {
  EXPECT_EQ(ihc::results_id("/data/a.svs"), "a");
  EXPECT_EQ(ihc::results_id("b.ome.tif"), "b");
  EXPECT_EQ(ihc::results_id("c.OME.TIFF"), "c");
  EXPECT_EQ(ihc::results_id("x/we?ird*name.ndpi"), "we_ird_name");
  EXPECT_EQ(ihc::results_id("x/M\xFCller.svs"), "M\xC3\xBCller");  // Latin-1 names are read as Windows-1252
  EXPECT_EQ(ihc::results_id(".svs"), ".svs");                      // a hidden file's name is its stem
  EXPECT_EQ(ihc::results_id(""), "image");
}

// Slides of one name from several folders (case/slide.svs) are told apart by their folder's name.
TEST(ResultsId, WithFolderPutsTheFoldersNameInFront) {
  EXPECT_EQ(ihc::results_id_with_folder("/data/caseA/slide.svs"), "caseA_slide");
  EXPECT_EQ(ihc::results_id_with_folder("/data/case:7/b.ome.tif"), "case_7_b");
  EXPECT_EQ(ihc::results_id_with_folder("/data/x/../caseB/./s.png"), "caseB_s");
  EXPECT_EQ(ihc::results_id_with_folder("/s.png"), "s");  // the root folder has no name
  EXPECT_EQ(ihc::results_id_with_folder("s.png"), fs::current_path().filename().string() + "_s");
}

// A slide found in a given folder is named by its path below it.
TEST(ResultsId, OfRelativeJoinsTheFoldersBelowTheGivenOne) {
  EXPECT_EQ(ihc::results_id_of_relative("NPC001/blockA/DSG2.svs"), "NPC001_blockA_DSG2");
  EXPECT_EQ(ihc::results_id_of_relative("x.ome.tif"), "x");
  EXPECT_EQ(ihc::results_id_of_relative("a:b/./c.png"), "a_b_c");
}

// A slide keeps the folder an earlier run gave it, and a new slide of the same name never gets another's.
TEST(ResultsIdAmong, KeepsASlidesOwnFolderAndNeverTakesAnothers) {
  const fs::path dir = ihc::test::temp_dir("results_id_among");
  write(dir / "in/a/x.png", "a");
  write(dir / "in/b/x.png", "b");
  write(dir / "in/c/x.png", "c");
  result_folder(dir / "out/x", (dir / "in/a/x.png").string(), 1);
  result_folder(dir / "out/x-2", (dir / "in/b/x.png").string(), 1);
  write(dir / "out/X-3/review.json", "{}");  // a review without results still holds its folder
  fs::create_directories(dir / "out/x-4");   // an interrupted slide's folder holds nothing
  const ihc::EarlierResults earlier = ihc::earlier_results(dir / "out");
  EXPECT_EQ(earlier.ids, (std::set<std::string>{"x", "x-2", "x-3"}));
  EXPECT_EQ(ihc::results_id_among(earlier, dir / "in/b/x.png"), "x-2");
  EXPECT_EQ(ihc::results_id_among(earlier, dir / "in/b/../b/x.png"), "x-2");  // the same file
  EXPECT_EQ(ihc::results_id_among(earlier, dir / "in/c/x.png"), "x-4");
  EXPECT_EQ(ihc::results_id_among(earlier, dir / "in/c/x.png", {"x-4"}), "x-5");
  EXPECT_EQ(ihc::results_id_among(earlier, dir / "in/c/y.png"), "y");
  EXPECT_EQ(ihc::results_id_among(earlier, dir / "in/c/x.png", {}, "c_x"), "c_x");
  EXPECT_EQ(ihc::results_id_among(earlier, dir / "in/b/x.png", {}, "b_x"), "x-2");  // its own folder still
  EXPECT_EQ(ihc::results_id_among(ihc::earlier_results(dir / "none"), dir / "in/a/x.png"), "x");
}

TEST(ResultsRoot, IsOutForBatchFoldersAndTheParentOtherwise) {
  EXPECT_EQ(ihc::results_root("/r/out/slides/a"), fs::path("/r/out"));
  EXPECT_EQ(ihc::results_root("/r/out/slides/a/"), fs::path("/r/out"));
  EXPECT_EQ(ihc::results_root("/r/ihcview-out/a"), fs::path("/r/ihcview-out"));
}

TEST(ResultsSource, RelativeSourcesResolveAgainstTheBatchWorkingDirectory) {
  const fs::path t = ihc::test::temp_dir("results_source");
  write(t / "out" / "run.json", R"({"working_directory": "/cases/study"})");
  EXPECT_EQ(ihc::results_source(t / "out/slides/a", record("slides/a.svs", 1, 1)),
            fs::path("/cases/study/slides/a.svs"));
  EXPECT_EQ(ihc::results_source(t / "out/slides/a", record("/abs/a.svs", 1, 1)), fs::path("/abs/a.svs"));
  EXPECT_EQ(ihc::results_source(t / "out/slides/a", record("", 1, 1)), fs::path());
  // Without run.json (the viewer's own output) a relative source is taken from the current directory.
  EXPECT_EQ(ihc::results_source(t / "ihcview-out/a", record("a.svs", 1, 1)), fs::current_path() / "a.svs");
}

TEST(ResultsMismatch, NamesTheFolderTheSlideAndBothSizes) {
  const auto rec = record("/cases/a.svs", 640, 480);
  EXPECT_EQ(ihc::results_mismatch("out/slides/a/", rec, 640, 480), "");
  EXPECT_EQ(
      ihc::results_mismatch("out/slides/a/", rec, 2220, 2967),
      "out/slides/a: the cells were detected on a.svs (640 x 480 px), not on this slide (2220 x 2967 px)");
  // Older results without a size cannot be checked: they are shown.
  EXPECT_EQ(ihc::results_mismatch("out/slides/a", record("/cases/a.svs", 0, 0), 2220, 2967), "");
}

// Another image of the same pixel size: the recorded source is there and has other bytes (before session 22
// its cells were drawn over the wrong tissue and the review saved into its folder). A copy under another
// name, or a source that has moved away, cannot be told apart and is shown.
TEST(ResultsMismatch, AnotherImageOfTheSameSizeIsToldApartByItsFile) {
  const fs::path dir = ihc::test::temp_dir("results_mismatch_same_size");
  write(dir / "a.png", "aaaa");
  write(dir / "b.png", "bbbbbb");
  write(dir / "copy.png", "aaaa");
  ihc::SlideRecord rec = record((dir / "a.png").string(), 640, 480);
  rec.source_size = 4;
  EXPECT_EQ(ihc::results_mismatch(dir / "out/a", rec, 640, 480, dir / "a.png"), "");
  EXPECT_EQ(ihc::results_mismatch(dir / "out/a", rec, 640, 480, dir / "copy.png"), "");
  EXPECT_EQ(ihc::results_mismatch(dir / "out/a", rec, 640, 480, dir / "b.png"),
            (dir / "out/a").string() + ": the cells were detected on " + (dir / "a.png").string() +
                " (4 bytes), another image than b.png (6 bytes) of the same size in pixels");
  rec.source = (dir / "gone.png").string();
  EXPECT_EQ(ihc::results_mismatch(dir / "out/a", rec, 640, 480, dir / "b.png"), "");
}

TEST(FindResults, FindsTheSlidesFoldersUnderBatchAndViewerRootsNewestFirst) {
  const fs::path t = ihc::test::temp_dir("find_results");
  write(t / "cases" / "a.svs", "0123456789");
  write(t / "cases" / "ab.svs", "01234");
  const fs::path slide = t / "cases" / "a.svs";
  // Batch output with a relative source and run.json; "a-2" is a second input named a (another file).
  write(t / "out" / "run.json", "{\"working_directory\": \"" + (t / "cases").string() + "\"}");
  result_folder(t / "out/slides/a", "a.svs", 10);
  result_folder(t / "out/slides/a-2", (t / "other" / "a.svs").string(), 99);
  result_folder(t / "out/slides/ab", "ab.svs", 5);
  // The viewer's own output, written later; and a copy of the slide scored elsewhere (same name and size).
  result_folder(t / "ihcview-out/a", (t / "elsewhere" / "a.svs").string(), 10);
  fs::last_write_time(t / "out/slides/a/slide.json",
                      fs::file_time_type::clock::now() - std::chrono::hours(1));
  // A broken slide.json is passed over.
  write(t / "out2/slides/a/slide.json", "{");

  const auto found = ihc::find_results(slide, {t / "out", t / "ihcview-out", t / "out2", t / "missing"});
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0], t / "ihcview-out/a");
  EXPECT_EQ(found[1], t / "out/slides/a");
  // A root given twice lists its folders once.
  EXPECT_EQ(ihc::find_results(slide, {t / "out", t / "out"}).size(), 1u);
  EXPECT_TRUE(ihc::find_results(t / "cases" / "c.svs", {t / "out"}).empty());
}

TEST(RescoredSinceSummary, OnlyWhenTheBatchsRowNoLongerHoldsTheSlidesScores) {
  const fs::path t = ihc::test::temp_dir("rescored_since_summary");
  ihc::ScoreRow row;
  row.image = "a";
  row.num_detections = 10;
  row.num_negative = 10;
  row.positive_pct = 0;
  row.status = "ok";
  ihc::SlideRecord rec = record("a.svs", 1, 1);
  rec.total = row;
  rec.total.image = "a.svs";  // the image column is the row's: only the scores count
  write(t / "out" / "summary.csv", ihc::summary_csv({row}, ihc::ColumnNames::QuPath));
  EXPECT_TRUE(ihc::same_summary_row(rec.total, row));
  EXPECT_FALSE(ihc::rescored_since_summary(t / "out/slides/a", rec));
  rec.total.num_negative = 9;
  rec.total.num_1plus = 1;
  rec.total.num_positive = 1;
  rec.total.positive_pct = 10;
  EXPECT_FALSE(ihc::same_summary_row(rec.total, row));
  EXPECT_TRUE(ihc::rescored_since_summary(t / "out/slides/a", rec));
  EXPECT_TRUE(ihc::rescored_since_summary(t / "out/slides/a/", rec));
  // Not a batch's folder, a slide the summary does not list, no summary: nothing to say.
  EXPECT_FALSE(ihc::rescored_since_summary(t / "ihcview-out/a", rec));
  EXPECT_FALSE(ihc::rescored_since_summary(t / "out/slides/b", rec));
  EXPECT_FALSE(ihc::rescored_since_summary(t / "elsewhere/slides/a", rec));
  // An unreadable summary is no reason to claim anything either.
  write(t / "out" / "summary.csv", "not,a,summary\n1,2\n");
  EXPECT_FALSE(ihc::rescored_since_summary(t / "out/slides/a", rec));
}
