#include "models/review.hpp"

#include "models/atomic_file.hpp"
#include "models/text.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <limits>
#include <unordered_map>

namespace ihc {

namespace {

using nlohmann::json;

std::string class_or_deleted(const std::optional<CellCorrection>& c, CellClass automatic) {
  if (!c) return std::string(class_name(automatic));
  if (c->false_detection) return "Deleted";
  return std::string(class_name(c->cls));
}

json point_json(const cv::Point2d& p) { return json::array({p.x, p.y}); }

void fail(const std::string& origin, const std::string& reason) { throw ReviewError(origin + ": " + reason); }

const json& need(const json& j, const char* key, const std::string& origin, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end()) fail(origin, where + ": missing \"" + key + "\"");
  return *it;
}

double need_number(const json& j, const char* key, const std::string& origin, const std::string& where) {
  const json& v = need(j, key, origin, where);
  if (!v.is_number()) fail(origin, where + ": \"" + key + "\" must be a number");
  return v.get<double>();
}

// An integer (a cell or region id, an intensity score): 2.9 was read as 2 without a word.
std::int64_t need_integer(const json& j, const char* key, const std::string& origin,
                          const std::string& where) {
  const json& v = need(j, key, origin, where);
  if (!v.is_number_integer()) fail(origin, where + ": \"" + key + "\" must be an integer");
  return v.get<std::int64_t>();
}

std::string opt_string(const json& j, const char* key, const std::string& origin, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end()) return "";
  if (!it->is_string()) fail(origin, where + ": \"" + key + "\" must be a string");
  return it->get<std::string>();
}

cv::Point2d parse_point(const json& v, const std::string& origin, const std::string& where) {
  if (!v.is_array() || v.size() != 2 || !v[0].is_number() || !v[1].is_number()) {
    fail(origin, where + ": a point must be [x, y]");
  }
  return {v[0].get<double>(), v[1].get<double>()};
}

CellClass parse_class(const json& v, const std::string& origin, const std::string& where) {
  CellClass c{};
  if (!v.is_string() || !parse_class_name(v.get<std::string>(), &c)) {
    fail(origin,
         where + ": unknown class " + json_excerpt(v) + " (expected Negative, 1+, 2+, 3+ or Positive)");
  }
  return c;
}

json correction_json(std::int64_t id, const CellCorrection& c) {
  json j = {{"centroid", point_json(c.centroid)}};
  if (id >= 0) j["id"] = id;
  if (c.false_detection) {
    j["false_detection"] = true;
  } else {
    j["class"] = std::string(class_name(c.cls));
  }
  return j;
}

CellCorrection parse_correction(const json& j, const std::string& origin, const std::string& where) {
  if (!j.is_object()) fail(origin, where + ": must be an object");
  CellCorrection c;
  c.centroid = parse_point(need(j, "centroid", origin, where), origin, where);
  auto fd = j.find("false_detection");
  c.false_detection = fd != j.end() && fd->is_boolean() && fd->get<bool>();
  if (!c.false_detection) c.cls = parse_class(need(j, "class", origin, where), origin, where);
  return c;
}

}  // namespace

std::string_view region_kind_name(RegionKind k) { return k == RegionKind::Exclude ? "exclude" : "include"; }

bool ReviewRegion::contains(const cv::Point2d& p) const { return point_in_ring(p, polygon); }

bool same_grading(const GradingParams& a, const GradingParams& b) {
  return a.measurement == b.measurement && a.mode == b.mode && a.threshold_1plus == b.threshold_1plus &&
         a.threshold_2plus == b.threshold_2plus && a.threshold_3plus == b.threshold_3plus &&
         a.threshold_positive == b.threshold_positive;
}

Region scope_region(const Review& review) {
  Region r;
  r.name = "Reviewed scope";
  for (const auto& g : review.regions) {
    (g.kind == RegionKind::Include ? r.include : r.exclude).push_back(Polygon{g.polygon, {}});
  }
  r.whole_slide = r.include.empty();
  return r;
}

Region single_region(const Review& review, std::int64_t region_id) {
  Region r;
  for (const auto& g : review.regions) {
    if (g.kind == RegionKind::Exclude) {
      r.exclude.push_back(Polygon{g.polygon, {}});
    } else if (g.id == region_id) {
      r.name = g.label.empty() ? "Region " + std::to_string(g.id) : g.label;
      r.include.push_back(Polygon{g.polygon, {}});
    }
  }
  return r;
}

cv::Rect2d ReviewRegion::bounds() const {
  if (polygon.empty()) return {};
  double x0 = polygon[0].x, y0 = polygon[0].y, x1 = x0, y1 = y0;
  for (const auto& p : polygon) {
    x0 = std::min(x0, p.x);
    y0 = std::min(y0, p.y);
    x1 = std::max(x1, p.x);
    y1 = std::max(y1, p.y);
  }
  return {x0, y0, x1 - x0, y1 - y0};
}

CellClass effective_class(const Review& review, std::int64_t cell_id, CellClass automatic, bool* deleted) {
  auto it = review.corrections.find(cell_id);
  if (deleted != nullptr) *deleted = it != review.corrections.end() && it->second.false_detection;
  if (it == review.corrections.end() || it->second.false_detection) return automatic;
  return it->second.cls;
}

bool in_scope(const Review& review, const cv::Point2d& centroid) {
  bool has_include = false;
  bool included = false;
  for (const auto& r : review.regions) {
    if (r.kind == RegionKind::Exclude) {
      if (r.contains(centroid)) return false;
    } else {
      has_include = true;
      if (!included && r.contains(centroid)) included = true;
    }
  }
  return !has_include || included;
}

std::string iso_time_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

ReviewEditor::ReviewEditor(Review review, Clock clock)
    : review_(std::move(review)), clock_(std::move(clock)) {}

std::string ReviewEditor::now() const { return clock_ ? clock_() : iso_time_now(); }

void ReviewEditor::reset(Review review) {
  review_ = std::move(review);
  undo_.clear();
  redo_.clear();
  ++revision_;
}

std::size_t ReviewEditor::commit_cells(
    const std::vector<CellRef>& cells, const std::string& action,
    const std::function<std::optional<CellCorrection>(const CellRef&)>& target) {
  ReviewEdit edit;
  edit.action = action;
  std::unordered_map<std::int64_t, bool> seen;
  for (const CellRef& c : cells) {
    if (!seen.emplace(c.id, true).second) continue;
    std::optional<CellCorrection> before;
    if (auto it = review_.corrections.find(c.id); it != review_.corrections.end()) before = it->second;
    std::optional<CellCorrection> after = target(c);
    if (before == after) continue;
    edit.cells.push_back({c.id, before, after});
  }
  if (edit.cells.empty()) return 0;
  // The log needs the automatic class of each cell, which only the caller knows: record it now.
  const std::string t = now();
  std::unordered_map<std::int64_t, CellClass> automatic;
  for (const CellRef& c : cells) automatic[c.id] = c.automatic;
  for (const auto& d : edit.cells) {
    review_.log.push_back({t, action, d.id, class_or_deleted(d.before, automatic[d.id]),
                           class_or_deleted(d.after, automatic[d.id]), ""});
  }
  apply(edit, true, "");
  undo_.push_back(std::move(edit));
  redo_.clear();
  return undo_.back().cells.size();
}

std::size_t ReviewEditor::set_class(const std::vector<CellRef>& cells, CellClass cls) {
  return commit_cells(cells, "set-class", [cls](const CellRef& c) -> std::optional<CellCorrection> {
    // Setting a cell back to its automatic class drops the correction: the cell follows thresholds again.
    if (cls == c.automatic) return std::nullopt;
    return CellCorrection{cls, false, c.centroid};
  });
}

std::size_t ReviewEditor::mark_false_detection(const std::vector<CellRef>& cells) {
  return commit_cells(cells, "false-detection", [](const CellRef& c) -> std::optional<CellCorrection> {
    return CellCorrection{c.automatic, true, c.centroid};
  });
}

std::size_t ReviewEditor::restore_automatic(const std::vector<CellRef>& cells) {
  return commit_cells(cells, "restore",
                      [](const CellRef&) -> std::optional<CellCorrection> { return std::nullopt; });
}

std::int64_t ReviewEditor::add_region(RegionKind kind, std::vector<cv::Point2d> polygon, std::string label) {
  ReviewRegion r;
  r.id = review_.next_region_id++;
  r.kind = kind;
  r.label = std::move(label);
  r.polygon = std::move(polygon);
  ReviewEdit edit;
  edit.action = "add-region";
  edit.regions.push_back({std::nullopt, r});
  review_.log.push_back({now(), "add-region", -1, "", "",
                         std::string(region_kind_name(kind)) + " region " + std::to_string(r.id) +
                             (r.label.empty() ? "" : " (" + r.label + ")")});
  apply(edit, true, "");
  undo_.push_back(std::move(edit));
  redo_.clear();
  return r.id;
}

bool ReviewEditor::remove_region(std::int64_t id) {
  auto it = std::find_if(review_.regions.begin(), review_.regions.end(),
                         [id](const ReviewRegion& r) { return r.id == id; });
  if (it == review_.regions.end()) return false;
  ReviewEdit edit;
  edit.action = "remove-region";
  edit.regions.push_back({*it, std::nullopt});
  review_.log.push_back({now(), "remove-region", -1, "", "",
                         std::string(region_kind_name(it->kind)) + " region " + std::to_string(id)});
  apply(edit, true, "");
  undo_.push_back(std::move(edit));
  redo_.clear();
  return true;
}

bool ReviewEditor::set_thresholds(const GradingParams& t) {
  if (same_grading(t, review_.thresholds)) return false;
  ReviewEdit edit;
  edit.action = "thresholds";
  edit.thresholds_before = review_.thresholds;
  edit.thresholds_after = t;
  char buf[160];
  if (t.mode == ThresholdMode::Single) {
    std::snprintf(buf, sizeof buf, "%s single %.4g", t.measurement.c_str(), t.threshold_positive);
  } else {
    std::snprintf(buf, sizeof buf, "%s three %.4g/%.4g/%.4g", t.measurement.c_str(), t.threshold_1plus,
                  t.threshold_2plus, t.threshold_3plus);
  }
  review_.log.push_back({now(), "thresholds", -1, "", "", buf});
  apply(edit, true, "");
  undo_.push_back(std::move(edit));
  redo_.clear();
  return true;
}

bool ReviewEditor::set_intensity_override(const IntensityOverride& o) {
  if (o == review_.intensity_override) return false;
  ReviewEdit edit;
  edit.action = "intensity-override";
  edit.override_before = review_.intensity_override;
  edit.override_after = o;
  review_.log.push_back({now(), "intensity-override", -1, "", "",
                         o.active ? "score " + std::to_string(o.score) + ": " + o.reason : "cleared"});
  apply(edit, true, "");
  undo_.push_back(std::move(edit));
  redo_.clear();
  return true;
}

void ReviewEditor::apply(const ReviewEdit& edit, bool forward, const std::string& log_action) {
  const std::string t = log_action.empty() ? std::string() : now();
  for (const auto& d : edit.cells) {
    const auto& from = forward ? d.before : d.after;
    const auto& to = forward ? d.after : d.before;
    if (to) {
      review_.corrections[d.id] = *to;
    } else {
      review_.corrections.erase(d.id);
    }
    if (!log_action.empty()) {
      // The automatic class is not stored; a restored correction logs as "auto".
      review_.log.push_back({t, log_action, d.id, from ? class_or_deleted(from, from->cls) : "auto",
                             to ? class_or_deleted(to, to->cls) : "auto", edit.action});
    }
  }
  for (const auto& d : edit.regions) {
    const auto& from = forward ? d.before : d.after;
    const auto& to = forward ? d.after : d.before;
    const std::int64_t id = to ? to->id : from->id;
    auto it = std::find_if(review_.regions.begin(), review_.regions.end(),
                           [id](const ReviewRegion& r) { return r.id == id; });
    if (to) {
      if (it != review_.regions.end()) {
        *it = *to;
      } else {
        review_.regions.push_back(*to);
        std::sort(review_.regions.begin(), review_.regions.end(),
                  [](const ReviewRegion& a, const ReviewRegion& b) { return a.id < b.id; });
      }
    } else if (it != review_.regions.end()) {
      review_.regions.erase(it);
    }
    if (!log_action.empty()) {
      review_.log.push_back({t, log_action, -1, "", "", edit.action + " region " + std::to_string(id)});
    }
  }
  if (edit.thresholds_after) {
    review_.thresholds = forward ? *edit.thresholds_after : *edit.thresholds_before;
    if (!log_action.empty()) review_.log.push_back({t, log_action, -1, "", "", edit.action});
  }
  if (edit.override_after) {
    review_.intensity_override = forward ? *edit.override_after : *edit.override_before;
    if (!log_action.empty()) review_.log.push_back({t, log_action, -1, "", "", edit.action});
  }
  ++revision_;
}

bool ReviewEditor::undo() {
  if (undo_.empty()) return false;
  ReviewEdit edit = std::move(undo_.back());
  undo_.pop_back();
  apply(edit, false, "undo");
  redo_.push_back(std::move(edit));
  return true;
}

bool ReviewEditor::redo() {
  if (redo_.empty()) return false;
  ReviewEdit edit = std::move(redo_.back());
  redo_.pop_back();
  apply(edit, true, "redo");
  undo_.push_back(std::move(edit));
  return true;
}

bool review_fits_cells(const Review& review, const std::vector<Cell>& cells) {
  if (!review.orphans.empty()) return false;
  if (review.corrections.empty()) return true;
  std::unordered_map<std::int64_t, cv::Point2d> where;
  for (const Cell& c : cells) where.emplace(c.id, c.centroid);
  for (const auto& [id, c] : review.corrections) {
    auto it = where.find(id);
    if (it == where.end() || std::abs(it->second.x - c.centroid.x) > 1 ||
        std::abs(it->second.y - c.centroid.y) > 1)
      return false;
  }
  return true;
}

ReviewEditor::RematchResult ReviewEditor::rematch(const std::vector<Cell>& cells, double max_distance_px) {
  RematchResult result;
  // Grid of new centroids with cell size = tolerance: a match lies in the 3x3 neighbourhood.
  const double cell = std::max(max_distance_px, 1.0);
  std::unordered_map<std::int64_t, std::vector<std::size_t>> grid;
  auto key = [cell](double x, double y) {
    return (static_cast<std::int64_t>(std::floor(x / cell)) << 32) ^
           (static_cast<std::int64_t>(std::floor(y / cell)) & 0xffffffffLL);
  };
  for (std::size_t i = 0; i < cells.size(); ++i)
    grid[key(cells[i].centroid.x, cells[i].centroid.y)].push_back(i);

  std::vector<CellCorrection> pending;
  for (const auto& [id, c] : review_.corrections) pending.push_back(c);
  for (const auto& c : review_.orphans) pending.push_back(c);
  std::map<std::int64_t, CellCorrection> matched;
  std::map<std::int64_t, double> matched_distance;
  std::vector<CellCorrection> orphans;
  for (const CellCorrection& c : pending) {
    const double gx = std::floor(c.centroid.x / cell), gy = std::floor(c.centroid.y / cell);
    double best = max_distance_px;
    std::int64_t best_id = -1;
    cv::Point2d best_centroid;
    for (int dy = -1; dy <= 1; ++dy) {
      for (int dx = -1; dx <= 1; ++dx) {
        auto it = grid.find(key((gx + dx) * cell + cell * 0.5, (gy + dy) * cell + cell * 0.5));
        if (it == grid.end()) continue;
        for (std::size_t i : it->second) {
          const double d = cv::norm(cells[i].centroid - c.centroid);
          if (d <= best) {
            best = d;
            best_id = cells[i].id;
            best_centroid = cells[i].centroid;
          }
        }
      }
    }
    // Two corrections claiming one cell: the nearer wins, the other is kept as an orphan.
    if (best_id >= 0) {
      auto prev = matched_distance.find(best_id);
      if (prev == matched_distance.end() || best < prev->second) {
        if (prev != matched_distance.end()) orphans.push_back(matched[best_id]);
        CellCorrection moved = c;
        moved.centroid = best_centroid;
        matched[best_id] = moved;
        matched_distance[best_id] = best;
        continue;
      }
    }
    orphans.push_back(c);
  }
  result.matched = matched.size();
  result.orphaned = orphans.size();
  review_.corrections = std::move(matched);
  review_.orphans = std::move(orphans);
  review_.log.push_back({now(), "rematch", -1, "", "",
                         std::to_string(result.matched) + " matched, " + std::to_string(result.orphaned) +
                             " orphaned within " + std::to_string(max_distance_px) + " px"});
  undo_.clear();
  redo_.clear();
  ++revision_;
  return result;
}

nlohmann::json review_to_json(const Review& review) {
  json j;
  j["format"] = "ihcview-review";
  j["version"] = 1;
  j["slide"] = review.slide;
  json corr = json::array();
  for (const auto& [id, c] : review.corrections) corr.push_back(correction_json(id, c));
  j["corrections"] = corr;
  json orphans = json::array();
  for (const auto& c : review.orphans) orphans.push_back(correction_json(-1, c));
  j["orphans"] = orphans;
  json regions = json::array();
  for (const auto& r : review.regions) {
    json poly = json::array();
    for (const auto& p : r.polygon) poly.push_back(point_json(p));
    regions.push_back({{"id", r.id},
                       {"kind", std::string(region_kind_name(r.kind))},
                       {"label", r.label},
                       {"polygon", poly}});
  }
  j["regions"] = regions;
  j["next_region_id"] = review.next_region_id;
  const auto& t = review.thresholds;
  // Keys as models/scoring's parameters, so a review's thresholds can be pasted into a params file.
  j["thresholds"] = {
      {"score_measurement", t.measurement},   {"threshold_mode", std::string(threshold_mode_name(t.mode))},
      {"threshold_1plus", t.threshold_1plus}, {"threshold_2plus", t.threshold_2plus},
      {"threshold_3plus", t.threshold_3plus}, {"threshold_positive", t.threshold_positive}};
  const auto& o = review.intensity_override;
  j["intensity_override"] = {{"active", o.active}, {"score", o.score}, {"reason", o.reason}};
  json log = json::array();
  for (const auto& e : review.log) {
    json le = {{"time", e.time}, {"action", e.action}};
    if (e.cell_id >= 0) le["cell_id"] = e.cell_id;
    if (!e.old_class.empty()) le["old_class"] = e.old_class;
    if (!e.new_class.empty()) le["new_class"] = e.new_class;
    if (!e.detail.empty()) le["detail"] = e.detail;
    log.push_back(le);
  }
  j["log"] = log;
  return j;
}

Review review_from_json(const nlohmann::json& j, const std::string& origin) {
  if (!j.is_object()) fail(origin, "not a review (expected a JSON object)");
  auto fmt = j.find("format");
  if (fmt == j.end() || *fmt != "ihcview-review")
    fail(origin, "not a review (\"format\" is not \"ihcview-review\")");
  auto ver = j.find("version");
  if (ver == j.end() || !ver->is_number_integer() || ver->get<int>() != 1) {
    fail(origin, "unsupported review version " + (ver == j.end() ? std::string("(none)") : ver->dump()) +
                     " (this viewer reads version 1)");
  }
  Review r;
  r.slide = opt_string(j, "slide", origin, "review");
  if (auto it = j.find("corrections"); it != j.end()) {
    if (!it->is_array()) fail(origin, "\"corrections\" must be an array");
    for (std::size_t i = 0; i < it->size(); ++i) {
      const std::string where = "corrections[" + std::to_string(i) + "]";
      const json& c = (*it)[i];
      if (!c.is_object()) fail(origin, where + ": must be an object");
      const std::int64_t id = need_integer(c, "id", origin, where);
      if (!r.corrections.emplace(id, parse_correction(c, origin, where)).second) {
        fail(origin, where + ": cell " + std::to_string(id) + " corrected twice");
      }
    }
  }
  if (auto it = j.find("orphans"); it != j.end() && it->is_array()) {
    for (std::size_t i = 0; i < it->size(); ++i) {
      r.orphans.push_back(parse_correction((*it)[i], origin, "orphans[" + std::to_string(i) + "]"));
    }
  }
  if (auto it = j.find("regions"); it != j.end()) {
    if (!it->is_array()) fail(origin, "\"regions\" must be an array");
    for (std::size_t i = 0; i < it->size(); ++i) {
      const std::string where = "regions[" + std::to_string(i) + "]";
      const json& g = (*it)[i];
      if (!g.is_object()) fail(origin, where + ": must be an object");
      ReviewRegion reg;
      reg.id = need_integer(g, "id", origin, where);
      // The next id is one above the largest: an id of INT64_MAX overflowed (a fuzzer's review.json).
      if (reg.id < 0 || reg.id >= std::numeric_limits<std::int64_t>::max())
        fail(origin, where + ": \"id\" must be between 0 and " +
                         std::to_string(std::numeric_limits<std::int64_t>::max() - 1));
      const std::string kind = opt_string(g, "kind", origin, where);
      if (kind == "include") {
        reg.kind = RegionKind::Include;
      } else if (kind == "exclude") {
        reg.kind = RegionKind::Exclude;
      } else {
        fail(origin, where + ": \"kind\" must be \"include\" or \"exclude\"");
      }
      reg.label = opt_string(g, "label", origin, where);
      const json& poly = need(g, "polygon", origin, where);
      if (!poly.is_array() || poly.size() < 3) fail(origin, where + ": \"polygon\" needs at least 3 points");
      for (const auto& p : poly) reg.polygon.push_back(parse_point(p, origin, where));
      r.next_region_id = std::max(r.next_region_id, reg.id + 1);
      r.regions.push_back(std::move(reg));
    }
  }
  if (auto it = j.find("next_region_id"); it != j.end() && it->is_number_integer()) {
    r.next_region_id = std::max(r.next_region_id, it->get<std::int64_t>());
  }
  r.has_thresholds = j.contains("thresholds");
  if (auto it = j.find("thresholds"); it != j.end()) {
    const std::string where = "thresholds";
    r.thresholds.measurement = opt_string(*it, "score_measurement", origin, where);
    const std::string mode = opt_string(*it, "threshold_mode", origin, where);
    if (mode != "single" && mode != "three") {
      fail(origin, "thresholds: \"threshold_mode\" must be \"single\" or \"three\"");
    }
    r.thresholds.mode = mode == "single" ? ThresholdMode::Single : ThresholdMode::Three;
    r.thresholds.threshold_1plus = need_number(*it, "threshold_1plus", origin, where);
    r.thresholds.threshold_2plus = need_number(*it, "threshold_2plus", origin, where);
    r.thresholds.threshold_3plus = need_number(*it, "threshold_3plus", origin, where);
    r.thresholds.threshold_positive = need_number(*it, "threshold_positive", origin, where);
    if (r.thresholds.measurement.empty()) fail(origin, "thresholds: missing \"score_measurement\"");
    try {
      validate(r.thresholds);
    } catch (const std::exception& e) {  // named with the file, not as the batch's parameters
      fail(origin, std::string("thresholds: ") + e.what());
    }
  }
  if (auto it = j.find("intensity_override"); it != j.end()) {
    const std::string where = "intensity_override";
    // "active": "true" dropped a pathologist's override without a word.
    auto a = it->find("active");
    if (a != it->end() && !a->is_boolean()) fail(origin, where + ": \"active\" must be true or false");
    r.intensity_override.active = a != it->end() && a->get<bool>();
    const std::int64_t score = need_integer(*it, "score", origin, where);
    if (score < 0 || score > 3) {
      fail(origin, "intensity_override: \"score\" must be 0, 1, 2 or 3");
    }
    r.intensity_override.score = static_cast<int>(score);
    r.intensity_override.reason = opt_string(*it, "reason", origin, where);
  }
  if (auto it = j.find("log"); it != j.end() && it->is_array()) {
    for (const auto& e : *it) {
      ReviewLogEntry le;
      le.time = opt_string(e, "time", origin, "log");
      le.action = opt_string(e, "action", origin, "log");
      if (auto c = e.find("cell_id"); c != e.end() && c->is_number_integer())
        le.cell_id = c->get<std::int64_t>();
      le.old_class = opt_string(e, "old_class", origin, "log");
      le.new_class = opt_string(e, "new_class", origin, "log");
      le.detail = opt_string(e, "detail", origin, "log");
      r.log.push_back(std::move(le));
    }
  }
  return r;
}

void save_review(const std::filesystem::path& path, const Review& review) {
  try {
    write_file_atomic(path, json_text(review_to_json(review), 1) + "\n");
  } catch (const FileError& e) {
    throw ReviewError(e.what());
  }
}

std::filesystem::path rescued_review_path(const std::filesystem::path& results_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path abs = fs::absolute(results_dir, ec).lexically_normal();
  if (ec) abs = results_dir.lexically_normal();
  std::string key = abs.string();
  while (key.size() > 1 && key.back() == '/') key.pop_back();  // "out/s/" and "out/s" are one folder
  // FNV-1a from a basis one digit short of FNV's (kFnv1aBasis): kept, since rescued reviews are found by the
  // names it gave them.
  const std::uint64_t h = fnv1a(key, 1469598103934665603ULL);
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  const char* xdg = std::getenv("XDG_DATA_HOME");
  const char* home = std::getenv("HOME");
  const fs::path data = xdg != nullptr && *xdg == '/'
                            ? fs::path(xdg)
                            : fs::path(home != nullptr ? home : ".") / ".local" / "share";
  return data / "ihcview" / "unsaved-reviews" / (fs::path(key).filename().string() + "-" + hex + ".json");
}

ReviewSaveResult save_review_or_rescue(const std::filesystem::path& results_dir, const Review& review) {
  const std::filesystem::path rescue = rescued_review_path(results_dir);
  ReviewSaveResult r;
  try {
    save_review(results_dir / "review.json", review);
    r.saved_to = results_dir / "review.json";
    std::error_code ec;
    std::filesystem::remove(rescue, ec);  // superseded: the folder holds the newest review again
    return r;
  } catch (const std::exception& e) {
    r.results_error = e.what();
  }
  try {
    save_review(rescue, review);
  } catch (const std::exception& e) {
    throw ReviewError(r.results_error + "; and the rescue copy failed too: " + e.what());
  }
  r.saved_to = rescue;
  return r;
}

bool has_saved_review(const std::filesystem::path& results_dir) {
  std::error_code ec;
  return std::filesystem::exists(results_dir / "review.json", ec) ||
         std::filesystem::is_regular_file(rescued_review_path(results_dir), ec);
}

LoadedReview load_review_with_rescue(const std::filesystem::path& results_dir) {
  namespace fs = std::filesystem;
  LoadedReview out;
  const fs::path own = results_dir / "review.json";
  const fs::path rescue = rescued_review_path(results_dir);
  std::error_code ec;
  const bool has_own = fs::exists(own, ec);
  const bool has_rescue = fs::is_regular_file(rescue, ec);
  if (has_own) {
    out.review = load_review(own);
    out.found = true;
  }
  if (!has_rescue) return out;
  Review kept = load_review(rescue);
  // Newer by the edits' own times (one viewer's clock), not by file times: a share's clock may differ.
  const auto last_edit = [](const Review& r) { return r.log.empty() ? std::string() : r.log.back().time; };
  bool rescue_newer = !has_own || last_edit(kept) > last_edit(out.review);
  if (has_own && last_edit(kept) == last_edit(out.review)) {
    const auto t_own = fs::last_write_time(own, ec);
    const auto t_rescue = fs::last_write_time(rescue, ec);
    rescue_newer = !ec && t_rescue > t_own;
  }
  if (rescue_newer) {
    out.review = std::move(kept);
    out.found = true;
    out.restored_from = rescue;
  }
  return out;
}

Review load_review(const std::filesystem::path& path) {
  const WholeFile f = read_whole_file(path);
  switch (f.status) {
    case WholeFile::Status::Ok:
      break;
    case WholeFile::Status::CannotOpen:
      throw ReviewError(path.string() + ": cannot open review file");
    case WholeFile::Status::IsDirectory:
      throw ReviewError(path.string() + ": is a folder, not a review file (give the review.json inside it)");
    case WholeFile::Status::NotRegular:
      throw ReviewError(path.string() + ": is not a regular file");
    case WholeFile::Status::ReadFailed:
      throw ReviewError(path.string() + ": cannot read review file");
  }
  json j;
  if (const std::string problem = json_parse_problem(f.text, &j); !problem.empty())
    throw ReviewError(path.string() + ": " + problem);
  return review_from_json(j, path.string());
}

}  // namespace ihc
