#pragma once
// A review applied to a result folder's cells, and the scores that follow: the same code for the viewer
// (live, as the pathologist works) and for `ihcscore reviewed` (the study's table of reviewed scores).
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "models/cells.hpp"
#include "models/results_io.hpp"
#include "models/results_link.hpp"
#include "models/review.hpp"
#include "models/scoring.hpp"

namespace ihc {

// Per-cell state after a review. Rebuilt after any review change (O(cells), ~ms).
struct CellState {
  std::vector<CellClass> automatic;   // from the thresholds
  std::vector<CellClass> classes;     // after manual corrections
  std::vector<std::uint8_t> deleted;  // false detections
  std::vector<std::uint8_t> counted;  // in scope and not deleted: what every score counts
};

// classes, deleted and counted from state->automatic and the review (corrections by cell id; scope through
// models/regions exactly as the batch's cells_in_region counts a region).
void apply_review(const CellTable& table, const Review& review, CellState* state);

// Scores of the counted cells (optionally restricted by a region membership) with the batch's functions.
struct Summary {
  Scores automatic;  // from the cells as reviewed, intensity computed
  Scores final;      // with the pathologist's intensity override applied (equal when none), group included
  bool overridden = false;
  std::string reason;
};
Summary summarize(const CellState& state, const std::vector<std::uint8_t>* region_membership,
                  const IntensityOverride& intensity_override, const ScoreOptions& options = {});

// The intensity rule and High/Low group the slide was scored with, from slide.json's resolved parameters
// (other keys ignored): the reviewed scores follow the same rules. Throws ParamError for an invalid group.
ScoreOptions score_options_of(const std::map<std::string, std::string>& parameters);

// The tissue area of a review's scope: the slide's when it is the whole slide without exclusions, else NaN
// (there is no tissue mask to intersect a drawn region with: an empty density rather than a wrong one).
double reviewed_area_mm2(const Review& review, double slide_area_mm2);

// A summary as a summary.csv row: Status "ok; reviewed", or "ok; reviewed; intensity overridden (automatic
// N): reason".
ScoreRow reviewed_row(const std::string& image, const Summary& summary, double area_mm2, double mpp);

// "ok; reviewed" keeps what the batch said of the slide (its summary.csv Status "ok; looks like H&E, not
// H-DAB
// ..." gives "ok; reviewed; looks like H&E, not H-DAB ..."): a sign-off in the viewer made an H&E slide plain
// "ok; reviewed", which cohort then analysed, and dropped "scored in pixels". Before the orphan note and the
// override, whose reason ends the line.
void add_batch_notes(ScoreRow* row, const std::string& batch_status);

// One row per include region (minus every exclusion), Region = its label or "Region <id>"; none without
// include regions.
std::vector<ScoreRow> reviewed_region_rows(const std::string& image, const CellTable& table,
                                           const CellState& state, const Review& review, double mpp,
                                           const ScoreOptions& options = {});

// One row per region the batch scored (ihcscore score --roi: slide.json's regions, from its ROI file `rois`,
// load_recorded_rois), with the review applied to the cells inside, in the batch's order and names; the
// batch's tissue area of each region while the review keeps the batch's scope. None when the slide was scored
// without regions. When the ROI file is gone or no longer gives the batch's regions, each row is
// "FAILED: batch regions: <why>".
std::vector<ScoreRow> reviewed_batch_region_rows(const SlideRecord& rec, const RecordedRois& rois,
                                                 const CellTable& table, const CellState& state,
                                                 const Review& review, double mpp,
                                                 const ScoreOptions& options = {});

// Why a review is not one of the slide whose cells are in a result folder: its `slide` (the file name ihcview
// records) is not the file name of slide.json's source, unless that file, beside the source, is a renamed
// copy of it (the same file or the same byte size). "<review_file>: made on b.png, but these cells were
// detected on in/a.png (<record_file>); not applied" (a review.json copied or saved into another slide's
// folder), or "" when it is that slide's or either names no slide (older review.json files carry none).
std::string review_slide_mismatch(const Review& review, const std::filesystem::path& review_file,
                                  const SlideRecord& rec, const std::filesystem::path& record_file);

// A batch result folder (OUT/slides/<id>) with its review.json (or the copy ihcview kept when the folder
// refused it, when that is newer: load_review_with_rescue), scored as the viewer scores it: cells from
// cells.csv (else cells.geojson) graded with the review's thresholds (slide.json's measurement and thresholds
// when review.json has none; ReviewError when neither has them); corrections follow re-detected cells by
// centroid within 4 px, as when the viewer opens the folder; the intensity rule and group are slide.json's.
// An active intensity override without a reason is refused (ReviewError); corrections left without a cell
// are said in each row's Status ("ok; reviewed; 1 correction without a cell").
// `automatic` is the folder's summary.csv row (image, tissue area, mpp); `record` its slide.json when the
// caller has read it already, else it is read here when present. A review of another slide
// (review_slide_mismatch) is refused with ReviewError; one that names no slide is applied with a warning.
// Throws (ResultsError, ReviewError, ScoringError) naming the file.
struct ReviewedFolder {
  ScoreRow total;
  std::vector<ScoreRow> regions;  // the batch's regions (reviewed_batch_region_rows), then drawn ones
  std::size_t corrections = 0;    // cells whose class the pathologist set or marked false
  std::size_t orphans = 0;        // corrections with no cell within 4 px (kept in review.json, not counted)
  std::filesystem::path rescued;  // the review came from ihcview's rescue copy (newer than review.json)
  std::string warning;            // the review names no slide: applied without checking it is this one's
};
ReviewedFolder score_reviewed_folder(const std::filesystem::path& dir, const ScoreRow& automatic,
                                     const SlideRecord* record = nullptr);

}  // namespace ihc
