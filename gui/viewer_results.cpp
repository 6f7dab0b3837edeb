// ihcview: cells and their review: reading results, corrections, saving, exports, scoring jobs.
#include "gui/viewer.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <fstream>

#include "imaging/cell_detection.hpp"
#include "imaging/pipeline.hpp"
#include "models/atomic_file.hpp"
#include "models/regions.hpp"
#include "models/text.hpp"

namespace ihc::gui {

// ------------------------------------------------------------------------------------------------ cells

void Viewer::set_cells(CellResults results) {
  results_ = std::move(results);
  // About 8 cells per grid bin keeps both queries and the class map cheap.
  const double area = limits_.slide_size.width * limits_.slide_size.height;
  const double bin =
      std::clamp(std::sqrt(area / std::max<double>(1.0, results_.table.size() / 8.0)), 32.0, 4096.0);
  grid_.build(results_.table.cells, bin);
  cell_extent_px_ = 0.0;
  for (const Cell& c : results_.table.cells) {
    for (const auto* poly : {&c.boundary, &c.nucleus}) {
      for (const auto& p : *poly) {
        cell_extent_px_ =
            std::max({cell_extent_px_, std::abs(p.x - c.centroid.x), std::abs(p.y - c.centroid.y)});
      }
    }
  }
  ++selection_version_;
  selection_.clear();
  selected_.assign(results_.table.size(), 0);
  nav_order_.clear();
  nav_index_ = -1;
  refresh_cells(true);
}

void Viewer::refresh_cells(bool regrade) {
  ++cells_version_;
  if (results_.table.size() == 0) return;
  if (regrade) {
    try {
      state_.automatic = grade_automatic(results_.table, live_thresholds_);
    } catch (const std::exception& e) {
      // A measurement the table lacks: keep the batch's classes and say why.
      message_ = e.what();
      state_.automatic = results_.classes;
    }
  }
  apply_review(results_.table, editor_.review(), &state_);
  // The live grading's mode: single-threshold cells have no intensity, with or without positives.
  score_options_.graded = live_thresholds_.mode == ThresholdMode::Three;
  slide_summary_ = summarize(state_, nullptr, editor_.review().intensity_override, score_options_);
  if (summary_region_ >= 0) {
    const auto& regions = editor_.review().regions;
    const auto r = std::find_if(regions.begin(), regions.end(),
                                [&](const ReviewRegion& g) { return g.id == summary_region_; });
    summary_region_excludes_ = r != regions.end() && r->kind == RegionKind::Exclude;
    if (summary_region_excludes_) {
      // What the exclusion takes out of the scores: the cells inside it (none of them counted), as they are.
      Region inside;
      inside.include.push_back(Polygon{r->polygon, {}});
      const auto membership = cells_in_region(results_.table, inside);
      CellState left_out = state_;
      for (std::size_t i = 0; i < membership.size(); ++i)
        left_out.counted[i] = membership[i] && !state_.deleted[i];
      region_summary_ = summarize(left_out, nullptr, {}, score_options_);
    } else {
      const auto membership =
          cells_in_region(results_.table, single_region(editor_.review(), summary_region_));
      region_summary_ = summarize(state_, &membership, editor_.review().intensity_override, score_options_);
    }
  }
}

namespace {

// FNV-1a of a file's bytes; nullopt when it cannot be read. Tells a file rewritten with other content from
// one only touched or copied back.
std::optional<std::uint64_t> content_hash(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  std::uint64_t h = kFnv1aBasis;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0)
    h = fnv1a(std::string_view(buf, static_cast<std::size_t>(in.gcount())), h);
  return h;
}

}  // namespace

// Reads a result folder; no viewer state is touched, so it runs on a background thread at start.
LoadedResults read_results(const std::filesystem::path& dir, GradingParams g, const std::string& slide_name) {
  LoadedResults out;
  out.dir = dir;
  try {
    out.cells = read_result_cells(dir);
    if (std::filesystem::exists(dir / "slide.json")) {
      const SlideRecord rec = read_slide_json(dir / "slide.json");
      out.record = rec;
      out.rescored = rescored_since_summary(dir, rec);
      out.batch_rois = load_recorded_rois(dir, rec);
      take_recorded_grading(rec, g);
    }
    out.review.slide = slide_name;
    out.review.thresholds = g;
    out.review_stamp = file_stamp(dir / "review.json");  // before: a save meanwhile shows as a change
    out.review_hash = content_hash(dir / "review.json");
    LoadedReview saved = load_review_with_rescue(dir);
    out.had_review = saved.found;
    if (saved.found) {
      out.review = std::move(saved.review);
      // A review written without thresholds (by hand, or by an older tool) grades as the batch did, as
      // `ihcscore reviewed` does, not with the built-in defaults.
      if (!out.review.has_thresholds) {
        out.review.thresholds = g;
        out.review.has_thresholds = true;
      }
    }
    out.restored_from = saved.restored_from;
  } catch (const std::exception& e) {
    out.error = e.what();
  }
  return out;
}

// The reading runs off the UI thread; poll_results shows what it read.
void Viewer::load_results(const std::filesystem::path& dir, LoadedResults::Asked asked) {
  if (asked != LoadedResults::Asked::CommandLine) message_ = "Reading cells from " + dir.string() + " ...";
  start_reading([dir, asked, g = live_thresholds_, name = slide_path_.filename().string()] {
    LoadedResults r = read_results(dir, g, name);
    r.asked = asked;
    return r;
  });
}

// One reading at a time, for the slide open now: a reading still running is parked (its future would wait
// for it on destruction), and the loop is woken when this one ends.
void Viewer::start_reading(std::function<LoadedResults()> read) {
  loading_slide_ = slide_path_;
  loading_frames_ = 0;
  if (loading_.valid()) abandoned_.push_back(std::move(loading_));
  loading_ = std::async(std::launch::async, [read = std::move(read)] {
    LoadedResults r = read();
    wake_ui();
    return r;
  });
}

// Results the user asked for: those of another slide (none open, or one of another size) open their own
// slide first.
bool Viewer::show_asked_results(LoadedResults r) {
  namespace fs = std::filesystem;
  if (r.error.empty()) {
    const bool other = !slide_ || (!results_mismatch(r.dir, r.record, slide_->info().level_sizes[0].width,
                                                     slide_->info().level_sizes[0].height, slide_path_)
                                        .empty());
    const fs::path src = results_source(r.dir, r.record);
    std::error_code ec;
    if (other && !src.empty() && fs::is_regular_file(src, ec)) {
      if (!open(src, false)) return false;
      if (!r.had_review) r.review.slide = slide_path_.filename().string();
    } else if (!slide_) {
      r.error = r.dir.string() + ": its slide " + (src.empty() ? std::string("(not named)") : src.string()) +
                " is not found; open the slide first";
    }
  }
  return apply_results(std::move(r));
}

// The search runs with the reading, off the UI thread: an output folder may sit on a slow share.
void Viewer::find_own_results() {
  namespace fs = std::filesystem;
  std::vector<fs::path> roots;
  for (const auto& r : read_list("results_roots.txt")) roots.emplace_back(r);
  roots.push_back(fs::absolute("ihcview-out"));
  start_reading([roots, slide = fs::absolute(slide_path_), g = live_thresholds_] {
    const auto found = find_results(slide, roots);
    LoadedResults r;
    if (!found.empty()) r = read_results(found.front(), g, slide.filename().string());
    r.asked = LoadedResults::Asked::Found;
    return r;
  });
}

bool Viewer::apply_results(LoadedResults loaded) {
  try {
    if (!loaded.error.empty()) throw ResultsError(loaded.error);
    if (slide_) {
      // Cells are in level-0 pixels of the slide they were detected on: on another they would be wrong.
      const cv::Size s = slide_->info().level_sizes[0];
      const std::string why = results_mismatch(loaded.dir, loaded.record, s.width, s.height, slide_path_);
      if (!why.empty()) throw ResultsError(why);
    }
    save(false);  // the review shown so far keeps its last edits
    std::error_code same_ec;
    if (!results_dir_.empty() && results_.table.size() > 0 &&
        std::filesystem::equivalent(loaded.dir, results_dir_, same_ec)) {
      // The same folder again (re-scored, or reopened): the live review is at least as new as the review.json
      // that was read (edits made while the job ran or the cells were read), and follows the new cells below.
      loaded.review = editor_.review();
      loaded.had_review = true;
    } else {
      // The live review is the one read now; any save to review.json from here on is another's.
      review_stamp_ = loaded.review_stamp;
      review_hash_ = loaded.review_hash;
      conflict_path_.clear();
    }
    results_dir_ = loaded.dir;
    score_options_ = score_options_of(loaded.record.parameters);
    results_record_ = loaded.record;
    update_pixel_size();
    results_rescored_ = loaded.rescored;
    batch_rois_ = loaded.batch_rois;
    if (!batch_rois_.error.empty())
      std::fprintf(stderr, "ihcview: batch regions not shown: %s\n", batch_rois_.error.c_str());
    if (results_rescored_) {
      const std::string root = results_root(results_dir_).string();
      std::fprintf(stderr,
                   "ihcview: %s was re-scored since %s/summary.csv was written; ihcscore reviewed %s reports "
                   "its current scores\n",
                   results_dir_.string().c_str(), root.c_str(), root.c_str());
    }
    if (!loaded.record.parameters.empty()) {
      // Re-scoring from the viewer starts from what the batch used; keys of another version are left out.
      // The grading comes from the review below, not from here.
      form_.values = default_params(form_.preset);
      form_.error.clear();
      for (const auto& [key, value] : loaded.record.parameters) {
        try {
          form_.values.set(key, value, "slide.json");
        } catch (const std::exception&) {
        }
      }
      form_.source = "results";
    }
    editor_.reset(loaded.review);
    override_score_moved_ = false;  // the slider shows these results' intensity
    live_thresholds_ = editor_.review().thresholds;
    set_cells(std::move(loaded.cells));
    // Corrections follow cells by centroid when the cells were re-detected since the review.
    if (!review_fits_cells(editor_.review(), results_.table.cells)) {
      const auto r = editor_.rematch(results_.table.cells, 4.0);
      message_ = "Re-detected cells: " + std::to_string(r.matched) + " corrections matched, " +
                 std::to_string(r.orphaned) + " kept as orphans";
      refresh_cells(false);
    } else {
      message_ =
          "Loaded " + std::to_string(results_.table.size()) + " cells" +
          (loaded.had_review ? " and the saved review" : "") +
          (loaded.asked == LoadedResults::Asked::Found ? " found for this slide in " + results_dir_.string()
                                                       : "");
    }
    saved_revision_ = editor_.revision();
    rescue_note_.clear();
    if (!loaded.restored_from.empty()) {
      // Kept aside when this folder could not be written: the next save puts it here and drops the copy.
      saved_revision_ = ~0ULL;
      message_ = "Restored the review kept in " + loaded.restored_from.string() +
                 " (this results folder could not be written when it was saved)";
      std::fprintf(stderr, "ihcview: %s\n", message_.c_str());
    }
    remember_in("results_roots.txt", results_root(results_dir_), 20);
    // Exports newer than every input already hold this review.
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path exports[] = {results_dir_ / "reviewed_cells.geojson",
                                results_dir_ / "reviewed_summary.csv"};
    auto oldest_export = fs::file_time_type::max();
    for (const auto& e : exports) oldest_export = std::min(oldest_export, fs::last_write_time(e, ec));
    bool current = !ec;
    for (const char* input : {"cells.geojson", "cells.csv", "slide.json", "review.json"}) {
      const auto t = fs::last_write_time(results_dir_ / input, ec);
      if (!ec && t > oldest_export) current = false;
    }
    full_saved_revision_ = current ? editor_.revision() : ~0ULL;
    return true;
  } catch (const std::exception& e) {
    message_ = e.what();
    std::fprintf(stderr, "ihcview: %s\n", e.what());
    return false;
  }
}

void Viewer::poll_results() {
  abandoned_.erase(std::remove_if(abandoned_.begin(), abandoned_.end(),
                                  [](auto& f) {
                                    return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
                                  }),
                   abandoned_.end());
  if (!loading_.valid()) return;
  if (loading_.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    ++loading_frames_;
    return;
  }
  LoadedResults loaded = loading_.get();
  if (loading_slide_ != slide_path_) {  // another slide was opened meanwhile: these cells are not its
    if (message_.rfind("Reading cells from ", 0) == 0) message_.clear();
    return;
  }
  take_results(std::move(loaded));
}

void Viewer::take_results(LoadedResults loaded) {
  using Asked = LoadedResults::Asked;
  const Asked asked = loaded.asked;
  if (asked == Asked::Found && loaded.dir.empty()) return;  // the slide has no results yet
  if (asked == Asked::Found) {
    std::fprintf(stderr, "ihcview: found results for %s in %s\n", slide_path_.filename().string().c_str(),
                 loaded.dir.string().c_str());
  }
  const bool user = asked == Asked::User || asked == Asked::Browser;
  std::error_code same_ec;
  const bool same_folder =
      !results_dir_.empty() && std::filesystem::equivalent(loaded.dir, results_dir_, same_ec);
  // Another folder replaces the review shown (the same one, re-scored or reopened, keeps it live).
  if (user && loaded.error.empty() && !same_folder && !may_leave()) {
    close_.leave = Leave{{}, false, std::move(loaded)};
    return;
  }
  const bool ok = user ? show_asked_results(std::move(loaded)) : apply_results(std::move(loaded));
  if (!ok) {
    if (asked == Asked::Browser) {  // back to the browser, where the choice was made, with the reason
      browser_.error = message_;
      browser_.visible = true;
      browser_.opening = true;
      browser_.focus_name = true;
    }
    // The command line's results, or a script's, failing ends the run; a person's choice only says why.
    if (asked == Asked::CommandLine || (user && !script_.empty())) {
      exit_code_ = 2;
      quit_ = quit_ || !script_.empty() || !opt_.screenshot.empty();
    }
    return;
  }
  std::printf("cells loaded: %zu, %.0f ms after process start, %d frames drawn while reading\n",
              results_.table.size(), ms_since(kProcessStart), loading_frames_);
  std::fflush(stdout);
}

std::vector<CellRef> Viewer::targets(const cv::Point2d& at) {
  std::vector<CellRef> out;
  auto ref = [&](int i) {
    out.push_back({results_.table.cells[i].id, results_.table.cells[i].centroid, state_.automatic[i]});
  };
  if (!selection_.empty()) {
    for (int i : selection_) ref(i);
  } else {
    const int i = hit_test(results_.table, grid_, at, 4 * view_.downsample);
    if (i >= 0) ref(i);
  }
  return out;
}

void Viewer::apply(const Action& a) {
  using T = Action::Type;
  const bool has_cells = results_.table.size() > 0;
  switch (a.type) {
    case T::SetClass:
      if (has_cells) {
        // One threshold grades Negative / Positive only (QuPath's single threshold): 1, 2 and 3 mean
        // Positive, where they made graded cells that Positive % counted and the Positive count did not.
        const CellClass cls = live_thresholds_.mode == ThresholdMode::Single && a.cls != CellClass::Negative
                                  ? CellClass::Positive
                                  : a.cls;
        const auto t = targets(a.point);
        const std::size_t n = editor_.set_class(t, cls);
        const std::string to(class_name(cls));
        // More than one cell at once is said with its count: a whole selected class went over silently.
        if (t.empty()) {
          message_ = "No cell under the cursor";
        } else if (t.size() == 1) {
          message_ = "1 cell set to " + to;
        } else {
          message_ = std::to_string(t.size()) + " selected cells set to " + to + " (" + std::to_string(n) +
                     " changed; Ctrl+Z undoes)";
        }
      }
      break;
    case T::MarkFalse:
      if (has_cells) {
        const std::size_t n = editor_.mark_false_detection(targets(a.point));
        message_ = std::to_string(n) + " cell(s) marked as false detections";
      }
      break;
    case T::Undo:
      message_ = editor_.undo() ? "Undone" : "Nothing to undo";
      break;
    case T::Redo:
      message_ = editor_.redo() ? "Redone" : "Nothing to redo";
      break;
    case T::Next:
      navigate(1);
      break;
    case T::Previous:
      navigate(-1);
      break;
    case T::ToggleCells:
      show_cells_ = !show_cells_;
      break;
    case T::CycleDisplay:
      cell_display_ = static_cast<CellDisplay>((static_cast<int>(cell_display_) + 1) % kDisplayCount);
      break;
    case T::SelectAt:
    case T::BoxSelect: {
      if (!has_cells) break;
      std::vector<int> hit;
      if (a.type == T::SelectAt) {
        const int i = hit_test(results_.table, grid_, a.point, 4 * view_.downsample);
        if (i >= 0) hit.push_back(i);
      } else {
        hit = select_in_rect(results_.table, grid_, a.rect);
      }
      if (!a.add) {
        for (int i : selection_) selected_[i] = 0;
        selection_.clear();
      }
      for (int i : hit) {
        if (!selected_[i]) {
          selected_[i] = 1;
          selection_.push_back(i);
        }
      }
      ++selection_version_;
      message_ = std::to_string(selection_.size()) + " cell(s) selected";
      break;
    }
    case T::ClearSelection:
      ++selection_version_;
      for (int i : selection_) selected_[i] = 0;
      selection_.clear();
      message_ = "Selection cleared";
      break;
    case T::RegionDrawn: {
      const auto id = editor_.add_region(a.kind, a.polygon);
      message_ = std::string(a.kind == RegionKind::Include ? "Include" : "Exclude") + " region " +
                 std::to_string(id) + " added";
      if (a.kind == RegionKind::Include) summary_region_ = id;
      break;
    }
    case T::Save:
      save_now();
      break;
    case T::ViewChanged:
      break;
  }
  if (a.type != T::ViewChanged && a.type != T::ToggleCells && a.type != T::CycleDisplay &&
      a.type != T::Save) {
    if (a.type == T::Undo || a.type == T::Redo) live_thresholds_ = editor_.review().thresholds;
    refresh_cells(a.type == T::Undo || a.type == T::Redo);
  }
}

void Viewer::select_cells(std::vector<int> cells, const std::string& what) {
  ++selection_version_;
  for (int i : selection_) selected_[i] = 0;
  selection_ = std::move(cells);
  for (int i : selection_) selected_[i] = 1;
  const std::size_t n = selection_.size();
  if (n == 0) {
    message_ = "No cell " + what + " to select";
  } else if (n == 1) {
    message_ = "1 cell " + what + " selected";
  } else {
    message_ = std::to_string(n) + " cells " + what + " selected: a class key or button now sets all " +
               std::to_string(n);
  }
}

void Viewer::navigate(int step) {
  if (results_.table.size() == 0) return;
  if (nav_order_.empty()) {
    std::vector<int> filter;
    const auto& g = live_thresholds_;
    // Only the cells the scores count: out of scope or deleted ones are not under review.
    switch (nav_filter_) {
      case NavFilter::All:
        for (std::size_t i = 0; i < results_.table.size(); ++i) {
          if (state_.counted[i]) filter.push_back(static_cast<int>(i));
        }
        break;
      case NavFilter::Borderline: {
        const int j = results_.table.column(g.measurement);
        if (j < 0) break;
        const std::vector<double> ts = grading_thresholds(g);
        for (std::size_t i = 0; i < results_.table.size(); ++i) {
          if (!state_.counted[i]) continue;
          for (double t : ts) {
            if (std::abs(results_.table.columns[j][i] - t) <= borderline_width_) {
              filter.push_back(static_cast<int>(i));
              break;
            }
          }
        }
        break;
      }
      default:
        filter = select_by_class(state_, static_cast<CellClass>(static_cast<int>(nav_filter_) - 2));
        break;
    }
    if (filter.empty()) {
      message_ = nav_filter_ == NavFilter::All ? "No cell in scope" : "No cell matches the filter";
      return;
    }
    nav_order_ = navigation_order(results_.table, g, filter);
    nav_index_ = -1;
  }
  const int n = static_cast<int>(nav_order_.size());
  nav_index_ = ((nav_index_ + step) % n + n) % n;
  const int i = nav_order_[nav_index_];
  ++selection_version_;
  for (int s : selection_) selected_[s] = 0;
  selection_ = {i};
  selected_[i] = 1;
  view_.center = results_.table.cells[i].centroid;
  if (view_.downsample > 1.0) view_.downsample = 1.0;
  // The class and the value it was graded on, since the tooltip follows the pointer, not the selection (it
  // named another cell after E; viewer probe 9).
  message_ = "Cell " + std::to_string(nav_index_ + 1) + " of " + std::to_string(n) + " (id " +
             std::to_string(results_.table.cells[i].id) + "): " + std::string(class_name(state_.classes[i])) +
             (state_.classes[i] != state_.automatic[i] ? " (corrected)" : "");
  if (const int j = results_.table.column(live_thresholds_.measurement); j >= 0) {
    char value[32];
    std::snprintf(value, sizeof value, "%.3f", results_.table.columns[j][i]);
    message_ += ", " + live_thresholds_.measurement + " " + value;
  }
}

double Viewer::scope_area_mm2() const {
  return reviewed_area_mm2(editor_.review(), results_record_.total.tissue_area_mm2);
}

// The batch's id of the slide (slide.json's "image": "a-2" for a second a.svs, "b" for b.ome.tif): the Image
// of the exported rows and the seed of the cell UUIDs, so reviewed files line up with the batch's.
std::string Viewer::image_id() const {
  return results_record_.image.empty() ? results_id(slide_path_) : results_record_.image;
}

ScoreRow Viewer::summary_row(const Summary& s, double area_mm2) const {
  ScoreRow row = reviewed_row(image_id(), s, area_mm2, pixel_size_.x);
  add_batch_notes(&row, results_record_.total.status);
  return row;
}

// The cells as reviewed: classes corrected, false detections left out (they are not cells).
CellResults Viewer::reviewed_cells() const {
  std::vector<std::uint8_t> real(results_.table.size());
  CellResults out;
  for (std::size_t i = 0; i < real.size(); ++i) {
    real[i] = !state_.deleted[i];
    if (real[i]) out.classes.push_back(state_.classes[i]);
  }
  out.table = keep_cells(results_.table, real);
  return out;
}

CellsFileOptions Viewer::cells_file_options() const {
  CellsFileOptions o;
  o.uuid_seed = slide_uuid_seed(image_id());
  o.mpp_x = pixel_size_.x;
  o.mpp_y = pixel_size_.y;
  return o;
}

void Viewer::export_geojson(const std::filesystem::path& path) {
  write_cells_geojson(path, reviewed_cells(), cells_file_options());
}

void Viewer::start_geojson_export(const std::filesystem::path& path) {
  finish_export(true);  // saves replace the file in the order they were made
  exporting_dir_ = path.parent_path();
  exporting_ = std::async(std::launch::async,
                          [cells = reviewed_cells(), o = cells_file_options(), path]() -> std::string {
                            std::string error;
                            try {
                              write_cells_geojson(path, cells, o);
                            } catch (const std::exception& e) {
                              error = e.what();
                            }
                            wake_ui();
                            return error;
                          });
}

void Viewer::finish_export(bool wait) {
  if (!exporting_.valid()) return;
  if (!wait && exporting_.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return;
  const std::string error = exporting_.get();
  // A folder left meanwhile (leaving saves as quitting does) is not the one the status line is about now.
  const bool shown = exporting_dir_ == results_dir_;
  if (error.empty()) {
    if (shown) {
      message_ = "Saved the review to " + exporting_dir_.string() +
                 " (review.json, reviewed_cells.geojson, reviewed_summary.csv)";
    }
    return;
  }
  if (shown) full_saved_revision_ = ~0ULL;  // the next save writes it again
  message_ = "Save failed: " + error;
  std::fprintf(stderr, "ihcview: %s\n", message_.c_str());
}

void Viewer::export_summary(const std::filesystem::path& path) {
  std::vector<ScoreRow> rows{summary_row(slide_summary_, scope_area_mm2())};
  write_file_atomic(path, summary_csv(rows, ColumnNames::QuPath));
}

// One row per region the batch scored (--roi), then per drawn include region (minus every exclusion), in the
// batch's regions.csv format, as `ihcscore reviewed` writes them. Without any, a file left from an earlier
// save is removed: it would describe regions that no longer exist.
void Viewer::export_regions(const std::filesystem::path& path) {
  const double mpp = pixel_size_.x;
  // The regions outlined on the canvas, as read with the cells.
  std::vector<ScoreRow> rows = reviewed_batch_region_rows(results_record_, batch_rois_, results_.table,
                                                          state_, editor_.review(), mpp, score_options_);
  for (auto& row :
       reviewed_region_rows(image_id(), results_.table, state_, editor_.review(), mpp, score_options_))
    rows.push_back(std::move(row));
  for (auto& row : rows) add_batch_notes(&row, results_record_.total.status);
  if (rows.empty()) {
    std::error_code ec;
    std::filesystem::remove(path, ec);
    return;
  }
  write_file_atomic(path, summary_csv(rows, ColumnNames::QuPath, true));
}

void Viewer::save(bool full, bool signed_off) {
  if (results_dir_.empty() || results_.table.size() == 0) return;
  const std::filesystem::path own = results_dir_ / "review.json";
  try {
    // Nothing is rewritten for an unchanged review: quitting after a look at 200 000 cells must not spend
    // seconds exporting the same cells again. A look alone writes nothing: review.json makes the slide
    // "reviewed" in ihcscore reviewed, which only edits or the Save button (a sign-off) may do.
    const bool changed = saved_revision_ != editor_.revision();
    const bool has_review = std::filesystem::exists(own);
    if (!changed && !has_review && !signed_off && rescue_note_.empty()) return;
    last_save_try_ = Clock::now();
    if (changed || !has_review) {
      Review r = editor_.review();
      r.slide = slide_path_.filename().string();
      const std::optional<FileStamp> on_disk = file_stamp(own);
      // review.json as this viewer saw it last, from here on: the stamp and the bytes' hash.
      auto seen = [&] {
        review_stamp_ = file_stamp(own);
        review_hash_ = content_hash(own);
      };
      // Another stamp, the same bytes: touched or copied back, not saved by another.
      if (conflict_path_.empty() && on_disk && on_disk != review_stamp_ && review_hash_ &&
          content_hash(own) == review_hash_)
        review_stamp_ = on_disk;
      if (conflict_path_.empty() && on_disk && on_disk != review_stamp_) {
        // Another viewer (or program) saved these results since this one read them: overwriting would
        // drop its corrections, merging them silently could mix two opinions of one cell. Both are kept.
        char when[32];
        const std::time_t now = std::time(nullptr);
        std::tm local{};
        localtime_r(&now, &local);
        std::strftime(when, sizeof when, "%Y%m%d-%H%M%S", &local);
        conflict_path_ = results_dir_ / ("review.conflict-" + std::string(when) + ".json");
        conflict_note_ = own.string() + " was changed by another viewer or program since it was read here: " +
                         "not overwritten; this review is saved beside it as " +
                         conflict_path_.filename().string() +
                         " (compare them; ihcscore reviewed reads review.json)";
        std::fprintf(stderr, "ihcview: %s\n", conflict_note_.c_str());
      }
      if (!conflict_path_.empty()) {
        save_review(conflict_path_, r);
        saved_revision_ = editor_.revision();
        save_error_.clear();
        message_ = conflict_note_;
      } else if (!changed) {
        // Signed off unchanged, or tried again in a folder that refused it (the rescue copy holds it): a
        // folder that refuses it now has lost nothing.
        try {
          save_review(own, r);
          seen();
        } catch (const std::exception&) {
        }
      } else {
        const ReviewSaveResult saved = save_review_or_rescue(results_dir_, r);
        saved_revision_ = editor_.revision();
        save_error_.clear();
        if (saved.results_error.empty()) {
          seen();
          rescue_note_.clear();
        } else {
          const std::string note = "Could not save the review in " + results_dir_.string() + " (" +
                                   saved.results_error + "); it is kept in " + saved.saved_to.string() +
                                   ", and opening these results again restores it";
          if (note != rescue_note_) std::fprintf(stderr, "ihcview: %s\n", note.c_str());
          rescue_note_ = note;
          message_ = note;
        }
      }
    }
    // The exports go to the same folder: while it refuses the review they would fail too, and their error
    // would hide where the review is. In conflict they would describe a review that is not review.json.
    if (full && rescue_note_.empty() && conflict_path_.empty() &&
        full_saved_revision_ != editor_.revision()) {
      full_saved_revision_ = editor_.revision();
      start_geojson_export(results_dir_ / "reviewed_cells.geojson");
      message_ = "Saving the review to " + results_dir_.string() + " ...";
      export_summary(results_dir_ / "reviewed_summary.csv");
      export_regions(results_dir_ / "reviewed_regions.csv");
    }
  } catch (const std::exception& e) {
    // Said once on stderr until it changes or a save succeeds; the status line keeps it.
    if (save_error_ != e.what()) std::fprintf(stderr, "ihcview: Save failed: %s\n", e.what());
    save_error_ = e.what();
    message_ = std::string("Save failed: ") + e.what();
  }
}

void Viewer::save_now() {
  if (results_dir_.empty() || results_.table.size() == 0) {
    message_ = "Nothing to save: no cells are shown";
    return;
  }
  message_.clear();
  save(true, true);
  // Nothing written: review.json and the exports already hold this review.
  if (message_.empty()) message_ = "The review is saved in " + results_dir_.string();
}

// Closing the window saves the review; when it can be saved nowhere (the results folder and the rescue folder
// both refuse it), the window stays and asks, since the corrections exist only in it.
// A review saved beside a review.json that another changed asks too: ihcscore reviewed and the exports do not
// have it (the window closed without a word before).
bool Viewer::may_close() {
  if (close_.discard) return true;
  if (review_unsaved()) {
    close_.leave.reset();  // quitting now, whatever switch was waiting
    save(true);
  }
  const bool conflict = review_in_conflict();
  if (!review_unsaved() && !conflict) return true;
  glfwSetWindowShouldClose(window_, GLFW_FALSE);
  if (!close_.open) {
    close_.open = true;
    close_.opening = true;
    if (review_unsaved()) {
      std::fprintf(stderr, "ihcview: not closing: the review could not be saved (%s)\n", save_error_.c_str());
    } else {
      std::fprintf(stderr, "ihcview: not closing: the review is in %s, not in review.json\n",
                   conflict_path_.string().c_str());
    }
  }
  return false;
}

// Leaving writes what quitting writes: before session 25 a switch saved review.json alone (the exports stayed
// stale) and dropped a review that could be saved nowhere without a word.
bool Viewer::may_leave() {
  if (results_dir_.empty()) return true;
  if (!close_.open) {
    save(true);
    if (!review_unsaved()) return true;
    close_.open = true;
    close_.opening = true;
    std::fprintf(stderr, "ihcview: not leaving %s: the review could not be saved (%s)\n",
                 results_dir_.string().c_str(), save_error_.c_str());
  }
  message_ = "Not left: the review of " + results_dir_.string() + " could not be saved";
  return false;
}

void Viewer::run_leave() {
  if (!close_.leave_go) return;
  close_.leave_go = false;
  Leave next = std::move(*close_.leave);
  close_.leave.reset();
  if (close_.leave_discard) {
    close_.leave_discard = false;
    // Dropped by the user's choice: nothing is asked or saved again on the way out.
    results_dir_.clear();
  }
  if (next.results) {
    take_results(std::move(*next.results));
  } else if (!open(next.slide, next.find) && !script_.empty()) {
    exit_code_ = 2;  // as a script's `open` that fails
  }
}

void Viewer::draw_close_dialog() {
  if (!close_.open) return;
  const bool conflict_only = !close_.leave && !review_unsaved() && review_in_conflict();
  const char* title = conflict_only ? "Review saved beside review.json###close" : "Review not saved###close";
  if (close_.opening) {
    ImGui::OpenPopup(title);
    close_.opening = false;
  }
  const ImGuiIO& io = ImGui::GetIO();
  ImGui::SetNextWindowPos(ImVec2(io.DisplaySize.x * 0.5f, io.DisplaySize.y * 0.5f), ImGuiCond_Appearing,
                          ImVec2(0.5f, 0.5f));
  ImGui::SetNextWindowSize(ImVec2(std::min(640.0f, io.DisplaySize.x - 40.0f), 0.0f), ImGuiCond_Appearing);
  if (!ImGui::BeginPopupModal(title, nullptr, ImGuiWindowFlags_NoSavedSettings)) return;
  if (conflict_only) {
    draw_conflict_question();
    ImGui::EndPopup();
    return;
  }
  ImGui::TextWrapped("The review could not be saved: %s", save_error_.c_str());
  ImGui::Spacing();
  ImGui::TextWrapped(
      "Your corrections exist only in this window. Make the results folder writable (or free some space), "
      "then try again.");
  if (close_.leave) {
    const std::filesystem::path& next =
        close_.leave->results ? close_.leave->results->dir : close_.leave->slide;
    ImGui::Spacing();
    ImGui::TextWrapped("%s opens once the review is saved, or left without saving.", next.string().c_str());
  }
  ImGui::Spacing();
  bool done = false;
  const bool leaving = close_.leave.has_value();
  if (ImGui::Button("Try again (Enter)") || ImGui::IsKeyPressed(GLFW_KEY_ENTER, false)) {
    save(true);
    if (!review_unsaved()) {
      (leaving ? close_.leave_go : quit_) = true;
      done = true;
    }
  }
  ImGui::SameLine();
  if (ImGui::Button("Keep reviewing (Esc)") || ImGui::IsKeyPressed(GLFW_KEY_ESCAPE, false)) {
    close_.leave.reset();
    done = true;
  }
  ImGui::SameLine();
  if (ImGui::Button(leaving ? "Leave without saving (Ctrl+D)" : "Quit without saving (Ctrl+D)") ||
      (io.KeyCtrl && ImGui::IsKeyPressed(letters_.key('d'), false))) {
    std::fprintf(stderr, "ihcview: %s without saving the review (%s)\n", leaving ? "left" : "quit",
                 save_error_.c_str());
    if (leaving) {
      close_.leave_go = close_.leave_discard = true;
    } else {
      close_.discard = true;
      quit_ = true;
    }
    done = true;
  }
  if (done) {
    close_.open = false;
    ImGui::CloseCurrentPopup();
  }
  ImGui::EndPopup();
}

// Quitting with the review saved beside review.json: nothing is lost, but what the study reads is the
// other's.
void Viewer::draw_conflict_question() {
  ImGui::TextWrapped("%s", conflict_note_.c_str());
  ImGui::Spacing();
  ImGui::TextWrapped(
      "Your corrections are in %s. review.json, which ihcscore reviewed and the reviewed exports use, is the "
      "other one. Compare the two and rename the one to keep to review.json.",
      conflict_path_.filename().string().c_str());
  ImGui::Spacing();
  bool done = false;
  if (button("Keep reviewing (Esc)") || ImGui::IsKeyPressed(GLFW_KEY_ESCAPE, false)) done = true;
  ImGui::SameLine();
  if (button("Quit, both files kept (Ctrl+D)") ||
      (ImGui::GetIO().KeyCtrl && ImGui::IsKeyPressed(letters_.key('d'), false))) {
    std::fprintf(stderr, "ihcview: quit with the review in %s, not in review.json\n",
                 conflict_path_.string().c_str());
    close_.discard = true;  // saved already, in the conflict file
    quit_ = true;
    done = true;
  }
  if (done) {
    close_.open = false;
    ImGui::CloseCurrentPopup();
  }
}

void Viewer::ask_scoring(bool region_only) {
  std::error_code ec;
  if (job_running_ || results_dir_.empty() || !std::filesystem::exists(results_dir_ / "cells.csv", ec)) {
    start_scoring(region_only);  // nothing to replace: the viewer's first scoring of this slide
    return;
  }
  score_ask_ = {true, true, region_only};
}

// Cancel is the default (Enter and Esc): only the button that says "Replace" replaces. The review is not
// part of what goes; it follows the new cells.
void Viewer::draw_score_dialog() {
  if (!score_ask_.open) return;
  const char* title = "Replace these results?###score";
  if (score_ask_.opening) {
    ImGui::OpenPopup(title);
    score_ask_.opening = false;
    std::fprintf(stderr, "ihcview: asks before scoring into %s\n", results_dir_.string().c_str());
  }
  const ImGuiIO& io = ImGui::GetIO();
  ImGui::SetNextWindowPos(ImVec2(io.DisplaySize.x * 0.5f, io.DisplaySize.y * 0.5f), ImGuiCond_Appearing,
                          ImVec2(0.5f, 0.5f));
  ImGui::SetNextWindowSize(ImVec2(std::min(640.0f, io.DisplaySize.x - 40.0f), 0.0f), ImGuiCond_Appearing);
  if (!ImGui::BeginPopupModal(title, nullptr, ImGuiWindowFlags_NoSavedSettings)) return;
  ImGui::TextWrapped("%s scores %s again into",
                     score_ask_.region_only ? "Score drawn regions" : "Score whole slide",
                     slide_path_.filename().string().c_str());
  ImGui::PushStyleColor(ImGuiCol_Text, ImVec4(1, 0.6f, 0, 1));
  ImGui::TextWrapped("%s", std::filesystem::absolute(results_dir_).string().c_str());
  ImGui::PopStyleColor();
  ImGui::TextWrapped(
      "Its cells.csv, cells.geojson, overlay.png, histogram.png and slide.json are replaced by the new ones; "
      "the cells there now cannot be brought back (Undo does not). The batch's summary.csv keeps its row. "
      "The review is kept: its corrections follow the new cells.");
  ImGui::Spacing();
  bool done = false;
  if (button("Cancel (Enter, Esc)") || ImGui::IsKeyPressed(GLFW_KEY_ENTER, false) ||
      ImGui::IsKeyPressed(GLFW_KEY_KP_ENTER, false) || ImGui::IsKeyPressed(GLFW_KEY_ESCAPE, false)) {
    message_ = "Not scored: " + results_dir_.string() + " is as it was";
    done = true;
  }
  ImGui::SameLine();
  if (!done && button("Replace the results and score")) {
    done = true;
    start_scoring(score_ask_.region_only);
  }
  if (done) {
    score_ask_.open = false;
    ImGui::CloseCurrentPopup();
  }
  ImGui::EndPopup();
}

void Viewer::start_scoring(bool region_only) {
  if (job_running_ || !slide_) return;
  // Absolute: the folder is remembered as an output root, and slide.json's source finds the slide from
  // anywhere (find_results).
  // A folder of its own: another slide of the same name keeps its results and review.
  if (results_dir_.empty()) {
    const std::filesystem::path root = std::filesystem::absolute("ihcview-out");
    results_dir_ = root / results_id_among(earlier_results(root), slide_path_);
  }
  ScoreSlideRequest req;
  req.input = std::filesystem::absolute(slide_path_);
  req.image_id = results_dir_.filename().string();  // the batch's id when re-scoring its folder (x-2)
  req.out_dir = results_dir_;
  req.threads = 2;
  // An image without a pixel size of its own is scored at the one shown (its batch's --mpp, or ihcview's):
  // without it the viewer's cells would be detected in pixels, unlike the batch's.
  if (!slide_->info().has_mpp() && pixel_size_.known()) req.mpp_override = pixel_size_.x;
  if (region_only) {
    std::vector<Annotation> anns;
    for (const auto& r : editor_.review().regions) {
      Annotation a;
      a.name = r.label.empty() ? "Region " + std::to_string(r.id) : r.label;
      a.exclude = r.kind == RegionKind::Exclude;
      a.polygons.push_back(Polygon{r.polygon, {}});
      anns.push_back(a);
    }
    req.rois = anns;
    req.roi_source = kDrawnInViewer;
  }
  const ParamSet params = current_params();
  req.params_hash = params_hash(params);
  job_cancel_ = false;
  job_done_ = 0;
  job_total_ = 0;
  job_finished_ = false;
  job_error_.clear();
  req.cancel = &job_cancel_;
  req.on_progress = [this](int done, int total) {
    job_done_ = done;
    job_total_ = total;
  };
  save(false);
  job_running_ = true;
  job_ = std::thread([this, req, params] {
    try {
      score_slide(req, params);
    } catch (const std::exception& e) {
      job_error_ = e.what();
    }
    job_finished_ = true;
  });
}

void Viewer::poll_scoring() {
  if (typing_.valid() && typing_.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
    try {
      slide_image_type_ = image_type_name(typing_.get().type);
    } catch (const std::exception&) {
      slide_image_type_.clear();  // an unreadable overview: the tiles say so themselves
    }
  }
  if (!job_running_ || !job_finished_) return;
  job_.join();
  job_running_ = false;
  if (!job_error_.empty()) {
    message_ = "Scoring stopped: " + job_error_;
    return;
  }
  load_results(results_dir_);
}

}  // namespace ihc::gui
