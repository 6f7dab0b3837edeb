#pragma once
// A pathologist's review of one slide: manual class corrections, false detections, include/exclude regions,
// the thresholds in use and an intensity-score override, with an undo/redo stack of diffs (never snapshots,
// so a reclassification of 200 000 cells costs only what changed) and an append-only log of every edit.
// Pure data and JSON I/O: the viewer drives it; nothing here knows about the GUI.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "models/cells.hpp"
#include "models/regions.hpp"
#include "models/scoring.hpp"

namespace ihc {

// what() is "<file>: <reason>" (or "<origin>: <reason>" for text that did not come from a file).
class ReviewError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct CellCorrection {
  CellClass cls = CellClass::Negative;  // the class the reviewer chose
  bool false_detection = false;         // `Delete`: not a cell; left out of every count
  cv::Point2d centroid;                 // level-0 px; used to re-match after re-detection

  bool operator==(const CellCorrection& o) const {
    return cls == o.cls && false_detection == o.false_detection && centroid == o.centroid;
  }
};

enum class RegionKind : std::uint8_t { Include = 0, Exclude = 1 };
std::string_view region_kind_name(RegionKind k);  // "include", "exclude"

struct ReviewRegion {
  std::int64_t id = 0;
  RegionKind kind = RegionKind::Include;
  std::string label;                 // "fold", "necrosis", "pigment", "edge", "" ...
  std::vector<cv::Point2d> polygon;  // level-0 px, closed implicitly

  bool contains(const cv::Point2d& p) const;  // models/regions' point_in_ring (half-open edges)
  cv::Rect2d bounds() const;
  bool operator==(const ReviewRegion& o) const {
    return id == o.id && kind == o.kind && label == o.label && polygon == o.polygon;
  }
};

// Thresholds are models/scoring's GradingParams, so the viewer grades exactly as the batch does.
bool same_grading(const GradingParams& a, const GradingParams& b);

// The pathologist's intensity score (0-3) replacing the automatic one, with the reason; the automatic score
// is always kept beside it in every output.
struct IntensityOverride {
  bool active = false;
  int score = 0;
  std::string reason;
  bool operator==(const IntensityOverride& o) const = default;
};

struct ReviewLogEntry {
  std::string time;           // ISO 8601 UTC, "2024-05-01T12:00:00.123Z"
  std::string action;         // "set-class", "false-detection", "restore", "undo", "redo", "add-region", ...
  std::int64_t cell_id = -1;  // -1 when the entry is not about one cell
  std::string old_class;      // "Negative", "1+", "2+", "3+", "Positive", "Deleted"; "" for non-cell entries
  std::string new_class;
  std::string detail;  // e.g. region id and kind, threshold values, override reason
  bool operator==(const ReviewLogEntry& o) const = default;
};

struct Review {
  std::string slide;                                   // slide file name, for the reader's sanity check
  std::map<std::int64_t, CellCorrection> corrections;  // by cell id
  std::vector<CellCorrection> orphans;                 // corrections whose cell vanished in a re-detection
  std::vector<ReviewRegion> regions;
  std::int64_t next_region_id = 1;
  GradingParams thresholds;
  // False for a review.json without "thresholds" (written by hand or by an older tool): `thresholds` are then
  // only the defaults, and a reader grades with the batch's (slide.json's) instead.
  bool has_thresholds = true;
  IntensityOverride intensity_override;
  std::vector<ReviewLogEntry> log;
};

// The class the reviewer sees for a cell whose automatic class is `automatic`. `*deleted` (optional) tells
// whether the cell is a false detection.
CellClass effective_class(const Review& review, std::int64_t cell_id, CellClass automatic,
                          bool* deleted = nullptr);

// True when a centroid counts: inside an include region (or there is none) and outside every exclude region.
bool in_scope(const Review& review, const cv::Point2d& centroid);
// The review's regions as one models/regions Region (union of includes minus excludes; whole slide when there
// is no include region), for the batch's cells_in_region.
Region scope_region(const Review& review);
// One drawn region on its own (minus every exclusion), for the summary of the selected region.
Region single_region(const Review& review, std::int64_t region_id);

// True when the review was made on these cells: every correction's id is a cell within 1 px of the
// correction's centroid, and nothing waits as an orphan. A new detection numbers its cells afresh, so an id
// alone does not tell: after one, ReviewEditor::rematch moves the corrections by centroid.
bool review_fits_cells(const Review& review, const std::vector<Cell>& cells);

// One cell as the editor needs it: id, where it is, and its automatic class (for the log).
struct CellRef {
  std::int64_t id = 0;
  cv::Point2d centroid;
  CellClass automatic = CellClass::Negative;
};

// One reversible change. Only what changed is stored.
struct ReviewEdit {
  struct CellDiff {
    std::int64_t id = 0;
    std::optional<CellCorrection> before, after;
  };
  struct RegionDiff {
    std::optional<ReviewRegion> before, after;  // same id on both sides when both exist
  };
  std::string action;
  std::vector<CellDiff> cells;
  std::vector<RegionDiff> regions;
  std::optional<GradingParams> thresholds_before, thresholds_after;
  std::optional<IntensityOverride> override_before, override_after;
  bool empty() const { return cells.empty() && regions.empty() && !thresholds_after && !override_after; }
};

// Applies edits to a Review, keeps the undo/redo stacks (unbounded) and appends to the log.
class ReviewEditor {
 public:
  using Clock = std::function<std::string()>;
  explicit ReviewEditor(Review review = {}, Clock clock = {});

  const Review& review() const { return review_; }
  // Increases with every change (edit, undo, redo); autosave compares it with the last saved value.
  std::uint64_t revision() const { return revision_; }

  // Each returns the number of cells whose state changed (0: nothing recorded, no undo step).
  std::size_t set_class(const std::vector<CellRef>& cells, CellClass cls);
  std::size_t mark_false_detection(const std::vector<CellRef>& cells);
  std::size_t restore_automatic(const std::vector<CellRef>& cells);  // drops corrections

  std::int64_t add_region(RegionKind kind, std::vector<cv::Point2d> polygon, std::string label = "");
  bool remove_region(std::int64_t id);
  bool set_thresholds(const GradingParams& t);
  bool set_intensity_override(const IntensityOverride& o);

  bool can_undo() const { return !undo_.empty(); }
  bool can_redo() const { return !redo_.empty(); }
  std::size_t undo_depth() const { return undo_.size(); }
  bool undo();
  bool redo();

  // After a re-detection: moves each correction to the nearest new cell within `max_distance_px`;
  // unmatched ones go to review().orphans (kept, never lost). Clears the undo history (ids changed).
  struct RematchResult {
    std::size_t matched = 0;
    std::size_t orphaned = 0;
  };
  RematchResult rematch(const std::vector<Cell>& cells, double max_distance_px);

  // Replaces everything (used when loading); clears undo/redo.
  void reset(Review review);

 private:
  void apply(const ReviewEdit& edit, bool forward, const std::string& log_action);
  std::string now() const;
  std::size_t commit_cells(const std::vector<CellRef>& cells, const std::string& action,
                           const std::function<std::optional<CellCorrection>(const CellRef&)>& target);

  Review review_;
  Clock clock_;
  std::vector<ReviewEdit> undo_;
  std::vector<ReviewEdit> redo_;
  std::uint64_t revision_ = 0;
};

nlohmann::json review_to_json(const Review& review);
// `origin` names the source in error messages ("OUT/slides/a/review.json").
Review review_from_json(const nlohmann::json& j, const std::string& origin);

// Written atomically (temporary file in the same folder, then rename): a crash never leaves half a file.
void save_review(const std::filesystem::path& path, const Review& review);
// Throws ReviewError "<path>: <reason>" for a missing, unreadable or malformed file.
Review load_review(const std::filesystem::path& path);

// A review is never lost to a results folder that cannot be written (a read-only share, a full disk, a
// folder moved away while open): it is kept instead under the user's data folder, one file per results folder
// ($XDG_DATA_HOME, else ~/.local/share, /ihcview/unsaved-reviews/<folder name>-<hash of its absolute
// path>.json), where opening those results again finds it.
std::filesystem::path rescued_review_path(const std::filesystem::path& results_dir);

struct ReviewSaveResult {
  std::filesystem::path saved_to;  // results_dir/review.json, or the rescue file
  std::string results_error;       // why the results folder refused it; empty when saved there
};
// Saves into results_dir/review.json and removes a rescue copy it supersedes; when the folder refuses it,
// saves to rescued_review_path(results_dir). Throws ReviewError naming both failures when neither works.
ReviewSaveResult save_review_or_rescue(const std::filesystem::path& results_dir, const Review& review);

struct LoadedReview {
  Review review;
  bool found = false;                   // a review.json or a rescue copy was read
  std::filesystem::path restored_from;  // the rescue copy, when it was newer than the folder's review.json
};
// The folder's review.json, or its rescue copy when that is newer (or the folder has none).
LoadedReview load_review_with_rescue(const std::filesystem::path& results_dir);
// Whether load_review_with_rescue finds a review: the folder's review.json or its rescue copy exists.
bool has_saved_review(const std::filesystem::path& results_dir);

std::string iso_time_now();

}  // namespace ihc
