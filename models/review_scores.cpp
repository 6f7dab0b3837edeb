#include "models/review_scores.hpp"

#include <cmath>

#include "models/regions.hpp"
#include "models/results_link.hpp"

namespace ihc {
namespace fs = std::filesystem;

namespace {

// The grading the batch recorded in slide.json (what the viewer starts a review with), for a review that
// records none; ReviewError when slide.json records none either.
GradingParams recorded_grading(const SlideRecord* rec, const fs::path& review_file,
                               const fs::path& record_file) {
  const std::string why = review_file.string() + ": no \"thresholds\", and ";
  if (rec == nullptr) throw ReviewError(why + "no " + record_file.string() + " to take the batch's from");
  GradingParams g;
  g.measurement = rec->scoring_measurement;
  if (g.measurement.empty()) {
    const auto it = rec->parameters.find("score_measurement");
    if (it != rec->parameters.end()) g.measurement = it->second;
  }
  if (!take_recorded_grading(*rec, g)) {
    throw ReviewError(why + record_file.string() +
                      " records no thresholds either: the cells cannot be graded");
  }
  if (g.measurement.empty()) {
    throw ReviewError(why + record_file.string() +
                      " records no scoring measurement either: the cells cannot be graded");
  }
  return g;
}

// "ok; reviewed" becomes "ok; reviewed; 1 correction without a cell" (before any override and its reason):
// such a correction is not counted, which the table must say, not only stderr.
// Puts `note` ("; ...") right after a reviewed row's "ok; reviewed", before an override and its reason.
void insert_after_reviewed(ScoreRow* row, const std::string& note) {
  const std::string reviewed = "ok; reviewed";
  if (row->status.rfind(reviewed, 0) == 0) row->status.insert(reviewed.size(), note);
}

void note_orphans(ScoreRow* row, std::size_t orphans) {
  if (orphans == 0) return;
  insert_after_reviewed(row, "; " + std::to_string(orphans) +
                                 (orphans == 1 ? " correction" : " corrections") + " without a cell");
}

}  // namespace

void apply_review(const CellTable& table, const Review& review, CellState* s) {
  const std::size_t n = table.size();
  s->classes = s->automatic;
  s->classes.resize(n, CellClass::Negative);
  s->deleted.assign(n, 0);
  const Region scope = scope_region(review);
  if (scope.whole_slide && scope.exclude.empty()) {
    s->counted.assign(n, 1);
  } else {
    s->counted = cells_in_region(table, scope);
  }
  if (!review.corrections.empty()) {
    for (std::size_t i = 0; i < n; ++i) {
      auto it = review.corrections.find(table.cells[i].id);
      if (it == review.corrections.end()) continue;
      if (it->second.false_detection) {
        s->deleted[i] = 1;
        s->counted[i] = 0;
      } else {
        s->classes[i] = it->second.cls;
      }
    }
  }
}

Summary summarize(const CellState& state, const std::vector<std::uint8_t>* region_membership,
                  const IntensityOverride& intensity_override, const ScoreOptions& options) {
  std::vector<std::uint8_t> membership = state.counted;
  if (region_membership != nullptr) {
    for (std::size_t i = 0; i < membership.size(); ++i)
      membership[i] = membership[i] && (*region_membership)[i];
  }
  Summary s;
  s.automatic = compute_scores(count_classes(state.classes, membership), options);
  s.final = s.automatic;
  if (intensity_override.active) {
    s.overridden = true;
    s.reason = intensity_override.reason;
    Scores& f = s.final;
    // Same formulas as models/scoring with the intensity replaced (see docs/scoring.md).
    f.intensity_score = intensity_override.score;
    if (f.detections > 0) {
      f.ixp = f.intensity_score * f.positive_percent;
      f.ixp_rate = f.intensity_score * static_cast<double>(f.positive) / static_cast<double>(f.detections);
      f.allred = f.allred_proportion + f.intensity_score;
      f.irs = f.intensity_score * f.irs_percentage;
    }
    // The group follows the score reported, as compute_scores cuts it: an override moves IxP, Allred, IRS.
    if (f.group_score != GroupScore::None) f.group = group_of(f, f.group_score, f.group_cutoff);
  }
  return s;
}

ScoreOptions score_options_of(const std::map<std::string, std::string>& parameters) {
  ParamSet p(scoring_param_specs());
  for (const char* key : {"intensity_rule", "group_score", "group_cutoff"}) {
    auto it = parameters.find(key);
    if (it != parameters.end()) p.set(key, it->second, "slide.json");
  }
  return score_options_from(p);
}

double reviewed_area_mm2(const Review& review, double slide_area_mm2) {
  const Region scope = scope_region(review);
  return scope.whole_slide && scope.exclude.empty() ? slide_area_mm2 : std::nan("");
}

void add_batch_notes(ScoreRow* row, const std::string& batch_status) {
  if (batch_status.rfind("ok; ", 0) == 0) insert_after_reviewed(row, batch_status.substr(2));
}

ScoreRow reviewed_row(const std::string& image, const Summary& s, double area_mm2, double mpp) {
  ScoreRow r = score_row(image, s.final);
  r.tissue_area_mm2 = area_mm2;
  r.mpp = mpp;
  // Single-threshold grading has no automatic intensity: "none", not an empty "(automatic ): ".
  const double automatic = s.automatic.intensity_score;
  r.status = s.overridden ? "ok; reviewed; intensity overridden (automatic " +
                                (std::isnan(automatic) ? std::string("none") : format_number(automatic)) +
                                "): " + s.reason
                          : "ok; reviewed";
  return r;
}

std::vector<ScoreRow> reviewed_region_rows(const std::string& image, const CellTable& table,
                                           const CellState& state, const Review& review, double mpp,
                                           const ScoreOptions& options) {
  std::vector<ScoreRow> rows;
  for (const auto& r : review.regions) {
    if (r.kind != RegionKind::Include) continue;
    const auto membership = cells_in_region(table, single_region(review, r.id));
    ScoreRow row = reviewed_row(image, summarize(state, &membership, review.intensity_override, options),
                                std::nan(""), mpp);
    row.region = r.label.empty() ? "Region " + std::to_string(r.id) : r.label;
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<ScoreRow> reviewed_batch_region_rows(const SlideRecord& rec, const RecordedRois& rois,
                                                 const CellTable& table, const CellState& state,
                                                 const Review& review, double mpp,
                                                 const ScoreOptions& options) {
  // Regions with no file named (an older version's slide.json has no "roi"): a row saying so for each, not
  // none (the reviewed table dropped them and looked complete). Regions drawn in ihcview name no file either.
  const bool unnamed = rois.file.empty() && rec.roi.empty();
  if (rec.regions.empty() || (rois.file.empty() && !unnamed)) return {};
  std::string why = rois.error;
  if (unnamed)
    why =
        "slide.json does not name the ROI file of its regions (an older version wrote it): score the slide "
        "again with --roi and --resume to review its regions";
  std::vector<Region> regions;
  if (why.empty()) {
    regions = regions_from_annotations(rois.annotations);
    if (regions.size() != rec.regions.size())
      why = rois.file.string() + ": " + std::to_string(regions.size()) + " regions now, " +
            std::to_string(rec.regions.size()) + " when the slide was scored (changed since)";
  }
  std::vector<ScoreRow> rows;
  for (std::size_t r = 0; r < rec.regions.size(); ++r) {
    const ScoreRow& automatic = rec.regions[r];
    ScoreRow row;
    if (!why.empty()) {
      // Never the automatic numbers under a review that could not be applied to the region.
      row.image = automatic.image;
      row.status = "FAILED: batch regions: " + why;
    } else {
      const auto membership = cells_in_region(table, regions[r]);
      // The batch's tissue area of the region holds while the review keeps the batch's scope.
      row = reviewed_row(automatic.image, summarize(state, &membership, review.intensity_override, options),
                         reviewed_area_mm2(review, automatic.tissue_area_mm2), mpp);
    }
    row.region = automatic.region;
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string review_slide_mismatch(const Review& review, const fs::path& review_file, const SlideRecord& rec,
                                  const fs::path& record_file) {
  if (review.slide.empty() || rec.source.empty()) return {};
  const fs::path reviewed(review.slide);
  if (reviewed.filename() == fs::path(rec.source).filename()) return {};
  // A renamed copy of the slide passes when it can be seen to be one (the viewer opens such a copy with its
  // results and records the copy's name): beside the source (or at the recorded path), the same file or the
  // same byte size. Any other name is another slide until shown otherwise: never a silently wrong review.
  const fs::path source = results_source(record_file.parent_path(), rec);
  const fs::path copy = reviewed.is_absolute() ? reviewed : source.parent_path() / reviewed.filename();
  std::error_code ec_copy, ec_source;
  const auto copy_size = fs::file_size(copy, ec_copy);
  const auto source_size = fs::file_size(source, ec_source);
  if (!ec_copy && !ec_source && (copy_size == source_size || file_identity(copy) == file_identity(source)))
    return {};
  return review_file.string() + ": made on " + reviewed.filename().string() +
         ", but these cells were detected on " + rec.source + " (" + record_file.string() + "); not applied";
}

ReviewedFolder score_reviewed_folder(const fs::path& dir, const ScoreRow& automatic,
                                     const SlideRecord* record) {
  std::error_code ec;
  // As the viewer opens it: the copy ihcview kept when this folder refused the review, when that is newer.
  LoadedReview loaded = load_review_with_rescue(dir);
  if (!loaded.found) throw ReviewError((dir / "review.json").string() + ": no such file");
  Review review = std::move(loaded.review);
  const bool has_record = record != nullptr || fs::exists(dir / "slide.json", ec);
  const SlideRecord rec = record != nullptr ? *record
                          : has_record      ? read_slide_json(dir / "slide.json")
                                            : SlideRecord{};
  // Never another slide's review on these cells (a review.json copied or saved into the wrong folder).
  const fs::path review_file = loaded.restored_from.empty() ? dir / "review.json" : loaded.restored_from;
  ReviewedFolder out;
  const std::string mismatch = review_slide_mismatch(review, review_file, rec, dir / "slide.json");
  if (!mismatch.empty()) throw ReviewError(mismatch);
  // The docs require a reason and the viewer asks for one; an override without it is not a review to count.
  if (review.intensity_override.active && review.intensity_override.reason.empty()) {
    throw ReviewError(review_file.string() + ": the intensity override (score " +
                      std::to_string(review.intensity_override.score) +
                      ") has no reason: give one in ihcview (Summary panel) or clear the override");
  }
  if (review.slide.empty() && !rec.source.empty()) {
    const std::string unchecked =
        " names no slide (an older file): applied without checking that it was made on ";
    out.warning = review_file.string() + unchecked + rec.source;
  }
  const CellResults cells = fs::exists(dir / "cells.csv", ec) ? read_cells_csv(dir / "cells.csv")
                                                              : read_cells_geojson(dir / "cells.geojson");
  // As the viewer does: corrections follow the cells by centroid when they were re-detected since the review.
  if (!review_fits_cells(review, cells.table.cells)) {
    ReviewEditor editor(review);
    editor.rematch(cells.table.cells, 4.0);
    review = editor.review();
  }
  // A review without thresholds grades as the batch did, not with the built-in (dsg2) defaults.
  const GradingParams grading =
      review.has_thresholds ? review.thresholds
                            : recorded_grading(has_record ? &rec : nullptr, review_file, dir / "slide.json");
  ScoreOptions options = has_record ? score_options_of(rec.parameters) : ScoreOptions{};
  options.graded = grading.mode == ThresholdMode::Three;  // the review's grading, which may be another mode
  CellState state;
  state.automatic = grade_cells(cells.table, grading);
  apply_review(cells.table, review, &state);
  const Summary s = summarize(state, nullptr, review.intensity_override, options);
  out.total =
      reviewed_row(automatic.image, s, reviewed_area_mm2(review, automatic.tissue_area_mm2), automatic.mpp);
  out.regions = reviewed_batch_region_rows(rec, load_recorded_rois(dir, rec), cells.table, state, review,
                                           automatic.mpp, options);
  for (auto& row : reviewed_region_rows(automatic.image, cells.table, state, review, automatic.mpp, options))
    out.regions.push_back(std::move(row));
  out.rescued = loaded.restored_from;
  out.corrections = review.corrections.size();
  out.orphans = review.orphans.size();
  add_batch_notes(&out.total, automatic.status);
  for (auto& row : out.regions) add_batch_notes(&row, automatic.status);
  note_orphans(&out.total, out.orphans);
  for (auto& row : out.regions) note_orphans(&row, out.orphans);
  return out;
}

}  // namespace ihc
