// ihcscore reviewed: a batch's scores with the pathologists' reviews applied, as the tables a study analyses.
// The viewer saves review.json in OUT/slides/<id>; this recomputes every reviewed slide's scores from its
// cells and review.json (models/review_scores, the viewer's own code), so a review counts whether or not the
// viewer got to export it, and slides nobody reviewed keep their automatic row.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "cli/cli_common.hpp"
#include "cli/commands.hpp"
#include "models/atomic_file.hpp"
#include "models/results_io.hpp"
#include "models/results_link.hpp"
#include "models/review.hpp"
#include "models/review_scores.hpp"

namespace ihc::cli {
namespace fs = std::filesystem;

int run_reviewed(const Args& args) {
  std::string out_dir;
  CLI::App app{
      "Writes OUT/reviewed_summary.csv (and _stats.csv; reviewed_regions.csv for the batch's --roi regions "
      "and drawn ones): the rows of OUT/summary.csv with every slide reviewed in ihcview re-scored from its "
      "cells and "
      "review.json (corrections, false detections, regions, thresholds, intensity override); Status "
      "says 'ok; reviewed' or keeps the automatic one. `ihcscore cohort --scores` reads it.",
      "ihcscore reviewed"};
  app.add_option("OUT", out_dir, "Output folder of ihcscore score")->required();
  if (auto stop = parse_command_line(app, args)) return *stop;
  fs::path out(out_dir);
  std::error_code ec;
  if (fs::is_regular_file(out, ec)) {
    // OUT/summary.csv given for OUT: what was meant is clear.
    if (out.filename() != "summary.csv") {
      std::fprintf(stderr,
                   "ihcscore reviewed: error: %s is a file: give the output folder of ihcscore score\n",
                   out_dir.c_str());
      return 1;
    }
    out = out.parent_path().empty() ? fs::path(".") : out.parent_path();
  }
  std::vector<ScoreRow> rows;
  try {
    rows = read_summary_csv(out / "summary.csv");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ihcscore reviewed: error: %s (is %s an output folder of ihcscore score?)\n",
                 e.what(), out_dir.c_str());
    return 1;
  }
  std::vector<ScoreRow> region_rows;
  int reviewed = 0, failed = 0;
  for (ScoreRow& row : rows) {
    const fs::path dir = out / "slides" / row.image;
    std::error_code ec;
    // The slide's own slide.json is its current automatic row: the viewer may have re-scored the slide into
    // this folder since the batch wrote summary.csv.
    std::string note;
    std::vector<ScoreRow> automatic_regions;  // the batch's --roi regions, kept as they are when not reviewed
    std::optional<SlideRecord> rec;           // read once, for the review too (unread: it reads and fails)
    if (row.status.rfind("FAILED", 0) != 0 && fs::exists(dir / "slide.json", ec)) {
      try {
        rec = read_slide_json(dir / "slide.json");
        ScoreRow current = rec->total;
        current.image = row.image;
        automatic_regions = rec->regions;
        if (!same_summary_row(current, row)) note = "; re-scored since summary.csv: slide.json's scores";
        row = current;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "ihcscore reviewed: %s: %s (summary.csv's row kept)\n", row.image.c_str(),
                     e.what());
      }
    }
    if (row.status.rfind("FAILED", 0) == 0 || !has_saved_review(dir)) {
      std::printf("%s: automatic (%s%s)\n", row.image.c_str(),
                  row.status.rfind("FAILED", 0) == 0 ? "scoring failed" : "not reviewed", note.c_str());
      region_rows.insert(region_rows.end(), automatic_regions.begin(), automatic_regions.end());
      continue;
    }
    try {
      const ReviewedFolder r = score_reviewed_folder(dir, row, rec ? &*rec : nullptr);
      row = r.total;
      region_rows.insert(region_rows.end(), r.regions.begin(), r.regions.end());
      ++reviewed;
      std::printf(
          "%s: reviewed (%zu corrections%s%s)\n", row.image.c_str(), r.corrections,
          r.orphans > 0 ? (", " + std::to_string(r.orphans) + " without a cell, not counted").c_str() : "",
          note.c_str());
      if (!r.warning.empty())
        std::fprintf(stderr, "ihcscore reviewed: %s: warning: %s\n", row.image.c_str(), r.warning.c_str());
      // The folder's own review.json is older or missing: say where the review came from, and how to put
      // it back where the batch's other readers (the viewer elsewhere, QuPath exports) will find it.
      if (!r.rescued.empty()) {
        std::fprintf(stderr,
                     "ihcscore reviewed: %s: the review is the copy ihcview kept in %s (newer than %s); open "
                     "these results in ihcview to save it back into the folder\n",
                     row.image.c_str(), r.rescued.string().c_str(), (dir / "review.json").string().c_str());
      }
    } catch (const std::exception& e) {
      // Never the automatic numbers under a review that could not be read: the row is marked failed.
      ++failed;
      const std::string image = row.image;
      row = ScoreRow{};
      row.image = image;
      row.status = std::string("FAILED: review: ") + e.what();
      std::fprintf(stderr, "ihcscore reviewed: %s: %s\n", image.c_str(), e.what());
    }
  }
  try {
    write_file_atomic(out / "reviewed_summary.csv", summary_csv(rows, ColumnNames::QuPath));
    write_file_atomic(out / "reviewed_summary_stats.csv", summary_csv(rows, ColumnNames::Stats));
    for (const char* name : {"reviewed_regions.csv", "reviewed_regions_stats.csv"}) fs::remove(out / name);
    if (!region_rows.empty()) {
      write_file_atomic(out / "reviewed_regions.csv", summary_csv(region_rows, ColumnNames::QuPath, true));
      write_file_atomic(out / "reviewed_regions_stats.csv",
                        summary_csv(region_rows, ColumnNames::Stats, true));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ihcscore reviewed: error: %s\n", e.what());
    return 2;
  }
  std::printf("%zu slides: %d reviewed, %zu automatic, %d failed -> %s\n", rows.size(), reviewed,
              rows.size() - static_cast<std::size_t>(reviewed + failed), failed,
              (out / "reviewed_summary.csv").string().c_str());
  return failed > 0 ? 2 : 0;
}

}  // namespace ihc::cli
