#include "imaging/pipeline.hpp"

#include <openslide/openslide.h>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <future>
#include <iomanip>
#include <map>
#include <mutex>
#include <opencv2/imgproc.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "imaging/cell_detection.hpp"
#include "imaging/cell_measurements.hpp"
#include "imaging/image_type.hpp"
#include "imaging/overlay.hpp"
#include "imaging/slide.hpp"
#include "imaging/stain_estimation.hpp"
#include "imaging/stains.hpp"
#include "imaging/tiling.hpp"
#include "imaging/tissue.hpp"
#include "models/atomic_file.hpp"
#include "models/presets.hpp"
#include "models/results_link.hpp"
#include "models/scoring.hpp"
#include "models/text.hpp"

namespace ihc {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Images up to this many pixels without a pyramid are read and scored whole.
constexpr std::int64_t kWholeImageMaxPixels = 64LL << 20;
// The overview reads its level whole up to this size (else in strips).
constexpr std::int64_t kOverviewWholeLevelMaxPixels = 32LL << 20;
// Slides of up to this many grid tiles start detecting before their tissue mask is known.
constexpr int kEarlyTilesMaxGrid = 32;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

ParamSpec spec(std::string key, std::string label, ParamType type, std::string def, std::string unit,
               std::string help, double min = -1e300, double max = 1e300) {
  ParamSpec s;
  s.key = std::move(key);
  s.label = std::move(label);
  s.type = type;
  s.default_value = std::move(def);
  s.unit = std::move(unit);
  s.help = std::move(help);
  s.min = min;
  s.max = max;
  return s;
}

}  // namespace

namespace {

// Reads `text` into `c`; returns why it is no background, "" when it is one.
std::string read_background(const std::string& text, BackgroundChoice& c) {
  c = BackgroundChoice{};
  if (text == "auto") {
    c.automatic = true;
    return {};
  }
  if (text == "white") return {};
  double v[3];
  char c1 = 0, c2 = 0;
  std::istringstream in(text);
  if (!(in >> v[0] >> c1 >> v[1] >> c2 >> v[2]) || c1 != ',' || c2 != ',' || !(in >> std::ws).eof() ||
      !(v[0] >= 1 && v[0] <= 255 && v[1] >= 1 && v[1] <= 255 && v[2] >= 1 && v[2] <= 255)) {
    return "'" + text + "' is not auto, white or R,G,B with each value in 1..255";
  }
  c.fixed = true;
  c.rgb = {v[0], v[1], v[2]};
  return {};
}

}  // namespace

BackgroundChoice parse_background(const std::string& text) {
  BackgroundChoice c;
  if (const std::string why = read_background(text, c); !why.empty()) {
    throw ParamError("parameter 'background': " + why);
  }
  return c;
}

namespace {

// Reads a region like Slide::read_region (level-0 top-left, level size).
using RegionReader = std::function<cv::Mat(std::int64_t x, std::int64_t y, int level, int w, int h)>;

// The whole image downsampled by about `ds` (level-0 px per output px), strip by strip from the best level so
// memory stays bounded whatever the slide size.
cv::Mat overview_from(const SlideInfo& info, int level, double ds, const RegionReader& read) {
  const double level_ds = info.downsamples[static_cast<std::size_t>(level)];
  const cv::Size lsize = info.level_sizes[static_cast<std::size_t>(level)];
  const double f = level_ds / ds;  // output px per level px (<= 1)
  const cv::Size out_size(std::max(1, static_cast<int>(std::lround(info.level_sizes[0].width / ds))),
                          std::max(1, static_cast<int>(std::lround(info.level_sizes[0].height / ds))));
  if (static_cast<std::int64_t>(lsize.width) * lsize.height <= kOverviewWholeLevelMaxPixels) {
    cv::Mat whole = read(0, 0, level, lsize.width, lsize.height);
    if (whole.size() == out_size) return whole;
    cv::Mat out;
    cv::resize(whole, out, out_size, 0, 0, f < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
    return out;
  }
  cv::Mat out(out_size, CV_8UC3);
  const int strip_out = std::max(1, static_cast<int>(std::floor(2048 * f)));  // output rows per strip
  for (int y = 0; y < out_size.height; y += strip_out) {
    const int h_out = std::min(strip_out, out_size.height - y);
    const auto y0 = static_cast<std::int64_t>(std::llround(y * ds));
    const int h_level = std::max(1, static_cast<int>(std::lround(h_out / f)));
    cv::Mat strip = read(0, y0, level, lsize.width, h_level);
    cv::Mat small;
    cv::resize(strip, small, cv::Size(out_size.width, h_out), 0, 0, cv::INTER_AREA);
    small.copyTo(out(cv::Rect(0, y, out_size.width, h_out)));
  }
  return out;
}

// Level 0 decoded once, cut as Slide::read_region cuts it: white outside the image.
cv::Mat crop_level0(const cv::Mat& level0, std::int64_t x, std::int64_t y, int w, int h) {
  const cv::Rect want(static_cast<int>(x), static_cast<int>(y), w, h);
  const cv::Rect inside = want & cv::Rect(0, 0, level0.cols, level0.rows);
  if (inside == want) return level0(want).clone();
  cv::Mat out(h, w, CV_8UC3, cv::Scalar(255, 255, 255));
  if (!inside.empty()) level0(inside).copyTo(out(inside - want.tl()));
  return out;
}

}  // namespace

cv::Mat read_overview(Slide& slide, double ds) {
  return overview_from(slide.info(), slide.best_level_for_downsample(std::max(1.0, ds)), ds,
                       [&](std::int64_t x, std::int64_t y, int level, int w, int h) {
                         return slide.read_region(x, y, level, w, h);
                       });
}

ImageTypeEstimate estimate_slide_image_type(Slide& slide, int max_side) {
  const cv::Size size0 = slide.info().level_sizes[0];
  return estimate_overview_image_type(read_overview(
      slide, std::max(1.0, static_cast<double>(std::max(size0.width, size0.height)) / max_side)));
}

ImageTypeEstimate estimate_overview_image_type(const cv::Mat& overview, const cv::Mat& tissue) {
  return estimate_image_type(overview, estimate_background(overview).background, tissue);
}

namespace {

ScoreRow to_row(const std::string& image, const Scores& s, double area_mm2, double mpp,
                const std::string& status) {
  ScoreRow r = score_row(image, s);
  r.tissue_area_mm2 = area_mm2;
  r.mpp = mpp;
  r.status = status;
  // A percentage of a handful of cells is no score a pathologist would report (one cell is 5 % of 20): such a
  // row's Status says how few (kFewCells), so that a table read in R can leave it out. A probe's 30 x 50 px
  // tile read "ok", 1 cell, 0 %, and cohort put that patient in the Low group.
  if (status_ok(status)) {
    if (s.detections == 0) {
      r.status += "; no cells detected";
    } else if (s.detections < kFewCells) {
      r.status += "; only " + std::to_string(s.detections) + (s.detections == 1 ? " cell" : " cells");
    }
  }
  return r;
}

// Region rasterised onto a mask grid (mask px = level-0 px * sx, sy). Level-0 vertices are pixel edges (mask
// pixel i covers [i, i + 1) / sx), fillPoly's coordinates pixel centres: a vertex at x goes to x * sx - 0.5,
// so that every mask pixel a region's axis-aligned edge cuts into is filled.
cv::Mat rasterize(const Region& region, cv::Size size, double sx, double sy) {
  cv::Mat m(size, CV_8U, cv::Scalar(region.whole_slide ? 255 : 0));
  auto draw = [&](const Polygon& p, uchar value) {
    std::vector<std::vector<cv::Point>> rings;
    auto add = [&](const Ring& r) {
      std::vector<cv::Point> pts;
      for (const auto& q : r)
        pts.emplace_back(static_cast<int>(std::lround(q.x * sx - 0.5)),
                         static_cast<int>(std::lround(q.y * sy - 0.5)));
      rings.push_back(std::move(pts));
    };
    add(p.outer);
    for (const auto& h : p.holes) add(h);
    cv::fillPoly(m, rings, cv::Scalar(value));  // even-odd: holes stay out
  };
  if (!region.whole_slide) {
    for (const auto& p : region.include) draw(p, 255);
  }
  for (const auto& p : region.exclude) draw(p, 0);
  return m;
}

// Result of one tile, handed from a worker to the writer.
struct TileResult {
  CellTable cells;
  std::vector<std::vector<cv::Point2f>> seam_nuclei;  // per cell: what SeamCells compares (detect_cells)
  std::string error;
  bool cancelled = false;
};

}  // namespace

std::vector<ParamSpec> pipeline_param_specs() {
  std::vector<ParamSpec> s;
  ParamSpec stains =
      spec("stain_vectors", "Stain vectors", ParamType::String, "H-DAB", "",
           "Preset name (H-DAB, H-DAB Ruifrok; H&E scores eosin as DAB) or QuPath's stain string "
           "{\"Name\" : ..., \"Values 1\" : ...}");
  // Checked where it is read (file, line, key), not when the first slide needs the vectors.
  stains.check = [](const std::string& value) {
    try {
      stains_from_text(value);
    } catch (const StainError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  s.push_back(stains);
  s.push_back(
      spec("estimate_stains", "Estimate stains per slide", ParamType::Bool, "false", "",
           "Estimate H and DAB vectors from each slide's tissue (Macenko); falls back to stain_vectors"));
  ParamSpec method =
      spec("stain_estimation", "Stain estimation method", ParamType::Choice, "Macenko", "",
           "Macenko: QuPath's method; 'Macenko + DAB edge fit': the DAB direction from the edge "
           "of the colour cloud (closer where every brown pixel is also blue; docs/stains.md)");
  method.choices = {"Macenko", "Macenko + DAB edge fit"};
  s.push_back(method);
  ParamSpec background = spec(
      "background", "Background (glass) colour", ParamType::String, "auto", "",
      "auto: estimated per image from flat bright glass for images of one level (camera images are rarely "
      "white-balanced), 255 with a warning when there is no glass, and 255 for pyramidal slides (a QuPath "
      "stain_vectors string's own Background instead, when it has one); white; or R,G,B");
  background.normalize = [](const std::string& value) {  // "245, 244,240" is 245,244,240
    BackgroundChoice c;
    if (!read_background(value, c).empty() || !c.fixed) return value;
    return format_number(c.rgb[0]) + "," + format_number(c.rgb[1]) + "," + format_number(c.rgb[2]);
  };
  background.check = [](const std::string& value) {
    BackgroundChoice c;
    return read_background(value, c);
  };
  s.push_back(background);
  s.push_back(spec("tissue_detection", "Detect tissue", ParamType::Bool, "true", "",
                   "Score whole slides on detected tissue only; false = the whole image"));
  s.push_back(spec("tissue_resolution_um", "Tissue resolution", ParamType::Double, "16", "um",
                   "Pixel size of the overview on which tissue is detected", 1, 50));
  ParamSpec overlay =
      spec("overlay_max_px", "Overlay size", ParamType::Int, std::to_string(kDefaultOverlayMaxPx), "px",
           "Longest side of overlay.png", 128, 16384);
  s.push_back(overlay);
  return s;
}

std::vector<ParamSpec> all_param_specs() {
  std::vector<ParamSpec> all = detection_param_specs();
  for (auto& s : scoring_param_specs()) all.push_back(std::move(s));
  for (auto& s : pipeline_param_specs()) all.push_back(std::move(s));
  return all;
}

ParamSet default_params(const std::string& preset) {
  ParamSet p(all_param_specs());
  apply_preset(p, preset.empty() ? default_preset_name() : preset);
  return p;
}

namespace {

// score_measurement must be a stain measurement cells have (an optical density: the thresholds are 0-5 OD,
// and "Nucleus: Area um^2" graded every cell 3+ with H-score 300 and no word).
void check_score_measurement(const std::string& name) {
  const std::vector<std::string> all = cell_measurement_names(true);
  std::vector<std::string> names;
  std::copy_if(all.begin(), all.end(), std::back_inserter(names),
               [](const std::string& n) { return n.find(" OD ") != std::string::npos; });
  if (std::find(names.begin(), names.end(), name) != names.end()) return;
  const std::vector<std::string> in_pixels = cell_measurement_names(false);
  if (std::find(all.begin(), all.end(), name) != all.end() ||
      std::find(in_pixels.begin(), in_pixels.end(), name) != in_pixels.end()) {
    throw ParamError("score_measurement '" + name +
                     "' is not a stain measurement: cells are graded by an optical density (a measurement "
                     "with 'OD' in its name) against thresholds of 0 to 5 OD");
  }
  std::string meant;
  for (const auto& n : names) {
    if (ascii_lower(n) == ascii_lower(name)) meant = n;
  }
  if (meant.empty()) meant = closest_name(name, names);
  if (!meant.empty()) {
    throw ParamError("score_measurement '" + name + "' is not a cell measurement (did you mean '" + meant +
                     "'?)");
  }
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  throw ParamError("score_measurement '" + name + "' is not a cell measurement; they are: " + list);
}

}  // namespace

void check_scoring_params(const ParamSet& params) {
  try {
    detection_params_from(params);
    const GradingParams grading = grading_params_from(params);
    check_score_measurement(params.get_string("score_measurement"));
    const ScoreOptions options = score_options_from(params);
    // Every slide's group would be empty: single-threshold cells have no intensity grade to score.
    if (grading.mode == ThresholdMode::Single && options.group_score != GroupScore::None &&
        options.group_score != GroupScore::PositivePercent) {
      throw ParamError(
          "group_score " + params.get_string("group_score") +
          " needs intensity grades, which threshold_mode single does not give (Positive/Negative): "
          "group by positive_percent, or grade with three thresholds");
    }
  } catch (const std::exception& e) {
    // A check between keys names no file: say where each key it names was set.
    throw ParamError(params.with_origins(e.what()));
  }
}

namespace {

// FNV-1a over key and value of every resolved parameter but those `skip` names.
std::string hash_values(const ParamSet& params, const std::string& extra,
                        const std::function<bool(const std::string&)>& skip) {
  std::uint64_t h = kFnv1aBasis;
  auto mix = [&](const std::string& s) {
    h = fnv1a(std::string_view("\xFF", 1), fnv1a(s, h));
  };  // 0xFF ends it
  for (const auto& [k, v] : params.values()) {
    // Threads change speed, never results.
    if (k == "threads" || skip(k)) continue;
    mix(k);
    mix(v);
  }
  mix(extra);
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace

std::string params_hash(const ParamSet& params, const std::string& extra) {
  return hash_values(params, extra, [](const std::string&) { return false; });
}

std::string detection_hash(const ParamSet& params, const std::string& extra) {
  std::set<std::string> grading;
  for (const auto& spec : scoring_param_specs()) grading.insert(spec.key);
  return hash_values(params, extra, [&grading](const std::string& k) { return grading.count(k) > 0; });
}

std::string openslide_version() {
  const char* v = openslide_get_version();
  return v != nullptr ? v : "unknown";
}

std::string opencv_version() { return CV_VERSION; }

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

namespace {

// A slide's outputs; slide.json last, whose presence marks the others complete.
constexpr std::array<const char*, 5> kSlideOutputs = {"cells.csv", "cells.geojson", "overlay.png",
                                                      "histogram.png", "slide.json"};

fs::path set_aside_path(const fs::path& dir, const char* name) {
  return dir / (std::string(".earlier-") + name);
}

}  // namespace

void restore_set_aside_outputs(const fs::path& dir) {
  std::error_code ec;
  // Nothing set aside, or the new slide.json was written (killed while the earlier outputs were removed):
  // what is left of them goes.
  const bool restore =
      fs::exists(set_aside_path(dir, "slide.json"), ec) && !fs::exists(dir / "slide.json", ec);
  for (const char* name : kSlideOutputs) {
    const fs::path aside = set_aside_path(dir, name);
    if (!fs::exists(aside, ec)) continue;
    if (restore) {
      fs::rename(aside, dir / name, ec);
    } else {
      fs::remove(aside, ec);
    }
  }
}

namespace {

// ---- the stages of score_slide, in the order it runs them

SlideRecord start_record(const ScoreSlideRequest& req, const ParamSet& params) {
  SlideRecord rec;
  rec.image = req.image_id;
  rec.source = req.input.string();
  rec.roi = req.roi_source;
  rec.warnings = req.roi_warnings;
  rec.results_version = kResultsVersion;
  rec.params_hash = req.params_hash;
  rec.detection_hash = req.detection_hash;
  rec.parameters = params.values();
  rec.started = utc_now();
  if (const auto st = file_stamp(req.input)) {
    rec.source_size = st->size;
    rec.source_mtime_ns = st->mtime_ns;
  }
  rec.source_fingerprint = file_fingerprint(req.input);
  return rec;
}

// Ctrl-C, looked at between stages and before each tile.
struct Cancel {
  const std::atomic<bool>* flag = nullptr;
  std::string input;

  bool raised() const { return flag != nullptr && flag->load(); }
  void check() const {
    if (raised()) throw PipelineCancelled(input + ": cancelled");
  }
};

struct Settings {
  DetectionParams det;
  GradingParams grading;
  ScoreOptions score_opt;
  StainMatrix stains;  // as configured: resolve_stains gives them their background or estimates them
  BackgroundChoice background;
};

Settings read_settings(const ParamSet& params) {
  Settings s;
  try {
    s.det = detection_params_from(params);
    s.grading = grading_params_from(params);
    s.score_opt = score_options_from(params);
    s.stains = stains_from_text(params.get_string("stain_vectors"));
    s.background = parse_background(params.get_string("background"));
    // QuPath's stain string carries the background its ODs were taken against: under "auto" it is used, as
    // QuPath uses it. It was parsed, checked and then replaced by the glass estimate without a word (a
    // fuzzer's find); white or R,G,B still win.
    if (s.background.automatic &&
        params.get_string("stain_vectors").find("\"Background\"") != std::string::npos) {
      s.background = {.automatic = false, .fixed = true, .rgb = s.stains.background, .from_stains = true};
    }
  } catch (const std::exception& e) {
    throw PipelineError("parameters", e.what());
  }
  s.det.threads = 1;  // parallelism is over tiles here
  return s;
}

struct OpenIn {
  fs::path input;
  double mpp_override = 0.0;
  double requested_pixel_size_um = 0.0;
  std::string measurement;  // checked against the measurements the slide's calibration allows
};

struct OpenedSlide {
  std::unique_ptr<Slide> slide;
  bool calibrated = false;
  double analysis_um = 0.0;  // requested_pixel_size_um, moved to a level's pixel size when calibrated
  // Level-0 um per px. Without a pixel size, sizes in um are applied as if one pixel were
  // requested_pixel_size_um.
  double mpp0 = 0.0, mpp0_y = 0.0;
  std::vector<std::string> warnings;  // the file's, then ours
};

OpenedSlide open_stage(const OpenIn& in) {
  OpenedSlide o;
  try {
    OpenOptions oo;
    oo.mpp_override = in.mpp_override;
    o.slide = open_slide(in.input, oo);
  } catch (const std::exception& e) {
    throw PipelineError("open", e.what());
  }
  const SlideInfo& info = o.slide->info();
  // Not Size::area(): an int, negative for 47000 x 46000 px (2.16e9), which refused such scans as empty.
  if (info.level_sizes.empty() || info.level_sizes[0].width <= 0 || info.level_sizes[0].height <= 0) {
    throw PipelineError("open", in.input.string() + ": the image has no pixels");
  }
  o.warnings = info.warnings;
  o.calibrated = info.has_mpp() && info.mpp_x > 0;
  o.analysis_um = in.requested_pixel_size_um;
  if (o.calibrated) {
    o.analysis_um = analysis_pixel_size_um(in.requested_pixel_size_um, info.mpp_x, info.downsamples);
    try {
      check_detection_upsampling(info.mpp_x, o.analysis_um, in.input.string());
    } catch (const std::exception& e) {
      throw PipelineError("open", e.what());
    }
    if (auto w = detection_upsampling_warning(info.mpp_x, o.analysis_um); !w.empty()) {
      o.warnings.push_back(std::move(w));
    }
  } else {
    o.warnings.push_back(
        "no pixel size in the file and no --mpp: scored in pixels, micron columns left empty");
  }
  o.mpp0 = o.calibrated ? info.mpp_x : o.analysis_um;
  o.mpp0_y = o.calibrated ? info.mpp_y : o.analysis_um;
  const auto names = cell_measurement_names(o.calibrated);
  if (std::find(names.begin(), names.end(), in.measurement) == names.end()) {
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    throw PipelineError("scoring", "score_measurement '" + in.measurement +
                                       "' is not a cell measurement; available: " + list);
  }
  return o;
}

void record_slide(SlideRecord& rec, const SlideInfo& info, const OpenedSlide& o) {
  rec.format = info.format;
  rec.width = info.level_sizes[0].width;
  rec.height = info.level_sizes[0].height;
  rec.levels = info.level_count();
  rec.warnings.insert(rec.warnings.end(), o.warnings.begin(), o.warnings.end());  // after the --roi file's
  if (o.calibrated) {
    rec.mpp_x = info.mpp_x;
    rec.mpp_y = info.mpp_y;
    rec.mpp_source = info.mpp_source;
    rec.analysis_mpp = o.analysis_um;
  } else {
    rec.mpp_source = "none";
  }
}

// A file's own pixel size makes --mpp irrelevant to its results: what --resume compares leaves it out.
void record_hashes(SlideRecord& rec, const ScoreSlideRequest& req) {
  if (!mpp_from_file(rec) || req.params_hash_own_mpp.empty()) return;
  rec.params_hash = req.params_hash_own_mpp;
  rec.detection_hash = req.detection_hash_own_mpp;
}

struct PlanIn {
  const Slide* slide = nullptr;
  bool calibrated = false;
  double analysis_um = 0.0;
  double mpp0 = 0.0;
  int overlay_max_px = 0;
  bool estimate_stains = false;
  BackgroundChoice background;
};

// Where everything is read from: the overview's and the tiles' levels, and what waits for what.
struct SlidePlan {
  std::int64_t w0 = 0, h0 = 0;
  double thumb_ds = 1.0;  // level-0 px per thumbnail px
  bool whole = false;     // scored as one image, not in tiles
  double tile_ds = 1.0;   // level-0 px per analysis px
  int tile_level = 0;
  int thumb_level = 0;
  bool stains_need_overview = false;
  bool keep_level0 = false;
};

SlidePlan plan_slide(const PlanIn& in) {
  const SlideInfo& info = in.slide->info();
  SlidePlan p;
  p.w0 = info.level_sizes[0].width;
  p.h0 = info.level_sizes[0].height;
  p.thumb_ds = std::max(1.0, static_cast<double>(std::max(p.w0, p.h0)) / in.overlay_max_px);
  p.whole = info.plain_image() && p.w0 * p.h0 <= kWholeImageMaxPixels;
  // Where tiles are read: the level nearest the analysis resolution.
  p.tile_ds = in.calibrated ? in.analysis_um / in.mpp0 : 1.0;
  p.tile_level = in.slide->best_level_for_downsample(std::max(1.0, p.tile_ds));
  p.thumb_level = in.slide->best_level_for_downsample(p.thumb_ds);
  // The fixed vectors need the overview only for a plain image's glass colour, estimation needs it always;
  // otherwise they are known before the overview and tiles can start at once.
  p.stains_need_overview = in.estimate_stains || (in.background.automatic && info.plain_image());
  // Level 0 decoded once when the overview reads it whole anyway and detection reads it too (plain images,
  // small slides): the overview and the tiles are cut from it instead of decoding it twice (cmu: the
  // decode was ~0.2 s of a 1.4 s slide).
  p.keep_level0 =
      p.whole || (p.tile_level == 0 && p.thumb_level == 0 && p.w0 * p.h0 <= kOverviewWholeLevelMaxPixels);
  return p;
}

struct StainsIn {
  StainMatrix configured;
  bool estimate = false;
  std::string method;  // stain_estimation
  BackgroundChoice background;
  bool single_level = false;
  cv::Mat thumb, tissue;                    // empty when the stains do not need the overview
  std::optional<BackgroundEstimate> glass;  // a plain image's, when already estimated from `thumb`
};

struct ResolvedStains {
  StainMatrix matrix;
  std::string source;
  std::vector<std::string> warnings;
  std::optional<StainEstimate> estimate;  // when estimated
  std::string estimate_failure;           // why not, when estimation was asked for and failed
  double seconds = 0.0;
};

ResolvedStains resolve_stains(const StainsIn& in) {
  const auto t_stains = Clock::now();
  ResolvedStains r;
  r.matrix = in.configured;
  r.source = "preset/parameter stain_vectors";
  bool estimated = false;
  if (in.estimate) {
    try {
      // No tissue found (a field without glass): every pixel, as for an image without a mask.
      cv::Mat m;
      if (!in.tissue.empty() && cv::countNonZero(in.tissue) > 0)
        cv::resize(in.tissue, m, in.thumb.size(), 0, 0, cv::INTER_NEAREST);
      StainEstimationParams ep;
      ep.edge_fit = in.method != "Macenko";
      const StainEstimate est = estimate_stains(in.thumb, r.matrix, ep, m);
      r.estimate = est;
      r.matrix = est.matrix;
      r.matrix.name = r.matrix.name + " estimated";
      r.source =
          "estimated from the slide (" + in.method + ", " + std::to_string(est.pixels_used) + " pixels)";
      estimated = true;
    } catch (const std::exception& e) {
      r.estimate_failure = e.what();
      r.warnings.push_back(std::string("stain estimation failed, used stain_vectors instead: ") + e.what());
    }
  }
  if (!estimated) {
    // Background (I0 of Beer-Lambert) for the fixed vectors. Pyramidal slides are white-balanced by the
    // scanner; plain images come from cameras, where a yellow or grey cast adds false DAB to every pixel.
    std::array<double, 3> bg{255.0, 255.0, 255.0};
    std::string note = "white (255 255 255)";
    if (in.background.fixed) {
      bg = in.background.rgb;
      note = in.background.from_stains ? "the Background of stain_vectors" : "parameter background";
    } else if (in.background.automatic && in.single_level) {
      const BackgroundEstimate est = in.glass ? *in.glass : estimate_background(in.thumb);
      if (est.found) {
        bg = est.background;
        note = "estimated from " + std::to_string(est.bright_pixels) + " glass pixels";
      } else {
        note = "white (no glass found)";
        r.warnings.push_back(
            "background: no glass (flat bright pixels) found to estimate it from; used white 255 255 255. "
            "If the image has a colour cast, give --set background=R,G,B");
      }
    }
    const StainMatrix& s = r.matrix;
    r.matrix = StainMatrix::from_vectors(s.name, s.stains[0], s.stains[1], &s.stains[2], bg);
    char buf[96];
    std::snprintf(buf, sizeof buf, "; background %.0f %.0f %.0f, ", bg[0], bg[1], bg[2]);
    r.source += buf + note;
  }
  r.seconds = seconds_since(t_stains);
  return r;
}

void record_stains(SlideRecord& rec, StainMatrix& stains, const ResolvedStains& r) {
  stains = r.matrix;
  rec.stains_source = r.source;
  for (const auto& w : r.warnings) rec.warnings.push_back(w);
  rec.stains = to_qupath_string(stains);
  rec.timings_s["stains"] = r.seconds;
}

StainsIn stains_input(const Settings& settings, const ParamSet& params, bool single_level) {
  return {.configured = settings.stains,
          .estimate = params.get_bool("estimate_stains"),
          .method = params.get_string("stain_estimation"),
          .background = settings.background,
          .single_level = single_level};
}

// Everything the detection of one tile needs; the pointers outlive the pool.
struct TileJob {
  Slide* slide = nullptr;
  const cv::Mat* level0 = nullptr;  // empty: tiles are read from the slide
  std::vector<TileSpec> grid_tiles;
  double tile_ds = 1.0;
  int tile_level = 0;
  double level_ds = 1.0;
  DetectionParams det;
  StainMatrix stains;
  bool calibrated = false;
  double mpp0 = 0.0;
  bool decode_only = false;
};

// The grid at the analysis resolution, with detection's overlap.
std::vector<TileSpec> tile_grid(const SlidePlan& p, const DetectionParams& det) {
  const int overlap = detection_overlap_px(det);
  const cv::Size grid(std::max(1, static_cast<int>(std::ceil(p.w0 / p.tile_ds))),
                      std::max(1, static_cast<int>(std::ceil(p.h0 / p.tile_ds))));
  return make_tiles(grid, det.tile_size_px, overlap);
}

// A small slide starts its tiles now, in grid order, while the overview is read and tissue detected (OS-2
// reads level 0 for its overview, ~0.2 s, and its one tile from level 1); tiles found outside the tissue
// are then dropped, unused if already detected, skipped if not. At most the tiles detected during the
// overview are wasted. A large slide waits for the tissue mask: its first grid tiles are mostly glass, and
// workers bounded by a window of grid positions would keep fewer tissue tiles in flight. --decode-only
// reads the tissue tiles only: the floor scoring is compared with.
bool starts_early(const SlidePlan& p, std::size_t grid_tiles, bool decode_only) {
  return !decode_only && !p.whole && !p.keep_level0 && !p.stains_need_overview && grid_tiles > 0 &&
         static_cast<int>(grid_tiles) <= kEarlyTilesMaxGrid;
}

std::vector<int> every_position(std::size_t n) {
  std::vector<int> order;
  order.reserve(n);
  for (int g = 0; g < static_cast<int>(n); ++g) order.push_back(g);
  return order;
}

// The tiles that touch the area scored, as grid indices.
std::vector<int> tiles_touching(const TileJob& job, const cv::Mat& area_mask, double mask_sx,
                                double mask_sy) {
  std::vector<int> kept;
  for (std::size_t g = 0; g < job.grid_tiles.size(); ++g) {
    const TileSpec& t = job.grid_tiles[g];
    const cv::Rect m(static_cast<int>(std::floor(t.core.x * job.tile_ds * mask_sx)),
                     static_cast<int>(std::floor(t.core.y * job.tile_ds * mask_sy)),
                     static_cast<int>(std::ceil(t.core.width * job.tile_ds * mask_sx)) + 1,
                     static_cast<int>(std::ceil(t.core.height * job.tile_ds * mask_sy)) + 1);
    const cv::Rect clipped = m & cv::Rect(0, 0, area_mask.cols, area_mask.rows);
    if (!clipped.empty() && cv::countNonZero(area_mask(clipped)) > 0) kept.push_back(static_cast<int>(g));
  }
  return kept;
}

// Reads one tile (and detects its cells unless decode_only), with the cells' seam outlines. Throws.
CellTable read_and_detect_tile(const TileJob& job, const TileSpec& tile,
                               std::vector<std::vector<cv::Point2f>>& seam_nuclei) {
  const auto x0 = static_cast<std::int64_t>(std::floor(tile.padded.x * job.tile_ds));
  const auto y0 = static_cast<std::int64_t>(std::floor(tile.padded.y * job.tile_ds));
  const int wl = std::max(1, static_cast<int>(std::lround(tile.padded.width * job.tile_ds / job.level_ds)));
  const int hl = std::max(1, static_cast<int>(std::lround(tile.padded.height * job.tile_ds / job.level_ds)));
  const cv::Mat rgb = job.level0->empty() ? job.slide->read_region(x0, y0, job.tile_level, wl, hl)
                                          : crop_level0(*job.level0, x0, y0, wl, hl);
  if (job.decode_only) return {};
  DetectionRegion where;
  where.origin = {static_cast<double>(x0), static_cast<double>(y0)};
  where.scale_to_level0 = job.level_ds;
  // Only the core's cells are kept (below): the rest of the padded tile is context.
  where.keep = scale_rect_outward(cv::Rect(tile.core.tl() - tile.padded.tl(), tile.core.size()),
                                  static_cast<double>(rgb.cols) / tile.padded.width,
                                  static_cast<double>(rgb.rows) / tile.padded.height);
  // The padded tile is detected as one piece: with the configured tile size detect_cells would cut it into
  // four overlapping sub-tiles and process about twice the pixels.
  DetectionParams tile_det = job.det;
  // Even: hematoxylin_search requires it.
  tile_det.tile_size_px = (std::max(tile.padded.width, tile.padded.height) + 3) / 2 * 2;
  tile_det.threads = 1;
  CellTable cells = detect_cells(rgb, job.calibrated ? job.mpp0 * job.level_ds : kNaN, job.stains, tile_det,
                                 where, &seam_nuclei);
  // Keep the cells whose centroid is in this tile's core (level-0 half-open box).
  const double cx0 = tile.core.x * job.tile_ds, cy0 = tile.core.y * job.tile_ds;
  const double cx1 = (tile.core.x + tile.core.width) * job.tile_ds,
               cy1 = (tile.core.y + tile.core.height) * job.tile_ds;
  std::vector<std::uint8_t> in_core(cells.size());
  std::size_t n = 0;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    const auto& p = cells.cells[i].centroid;
    in_core[i] = p.x >= cx0 && p.x < cx1 && p.y >= cy0 && p.y < cy1;
    if (!in_core[i]) continue;
    if (n != i) seam_nuclei[n] = std::move(seam_nuclei[i]);
    ++n;
  }
  seam_nuclei.resize(n);
  return keep_cells(std::move(cells), in_core);
}

// Tiles (pyramidal and large slides) are detected at the analysis resolution, with detection's overlap, each
// cell kept by the tile whose core holds its centroid. Workers take positions of `order` (grid indices) in
// turn and may run at most `window` positions ahead of the writer, so memory holds at most `window` tiles of
// cells whatever the slide size, and output order (and cell ids) is deterministic. The destructor stops and
// joins the workers, also when the slide fails.
class TilePool {
 public:
  // With `cores` (a batch's shared budget) each worker takes a core for each tile it processes.
  TilePool(int threads, Cancel cancel, CoreBudget* cores = nullptr)
      : threads_(std::max(1, cores != nullptr ? cores->size() : threads)),
        cancel_(std::move(cancel)),
        cores_(cores) {}
  ~TilePool() { shutdown(); }
  TilePool(const TilePool&) = delete;
  TilePool& operator=(const TilePool&) = delete;

  void start(TileJob job, std::vector<int> order) {
    job_ = std::move(job);
    order_ = std::move(order);
    for (int i = 0; i < std::min(threads_, std::max(1, static_cast<int>(order_.size()))); ++i)
      pool_.emplace_back([this] { work(); });
  }
  // The grid tiles that count; positions already started on others are dropped, the rest skipped.
  void select(const std::vector<int>& kept, std::size_t grid_size) {
    std::vector<char> want(grid_size, 0);
    for (int g : kept) want[static_cast<std::size_t>(g)] = 1;
    std::lock_guard<std::mutex> lock(mu_);
    wanted_ = std::move(want);
    selected_ = true;
  }
  int positions() const { return static_cast<int>(order_.size()); }
  int grid_at(int pos) const { return order_[static_cast<std::size_t>(pos)]; }
  bool wanted_at(int pos) const {
    return wanted_[static_cast<std::size_t>(order_[static_cast<std::size_t>(pos)])] != 0;
  }
  TileResult take(int pos) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_done_.wait(lock, [&] { return ready_.count(pos) > 0; });
    TileResult res = std::move(ready_[pos]);
    ready_.erase(pos);
    return res;
  }
  // The writer is done with `pos`: the window moves on.
  void written(int pos) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      written_ = pos + 1;
    }
    cv_work_.notify_all();
  }
  void shutdown() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_work_.notify_all();
    for (auto& th : pool_) th.join();
    pool_.clear();
  }

 private:
  void work() {
    const int window = 2 * threads_ + 2;
    for (;;) {
      int pos = 0;
      bool skip = false;
      {
        std::unique_lock<std::mutex> lock(mu_);
        const int n = static_cast<int>(order_.size());
        cv_work_.wait(lock, [&] { return stop_ || next_tile_ >= n || next_tile_ < written_ + window; });
        if (stop_ || next_tile_ >= n) return;
        pos = next_tile_++;
        skip = selected_ && !wanted_[static_cast<std::size_t>(order_[static_cast<std::size_t>(pos)])];
      }
      TileResult res;
      if (!skip && cores_ != nullptr && !cores_->acquire(stop_)) return;  // shut down while waiting
      if (!skip) {
        try {
          if (cancel_.raised()) throw PipelineCancelled("cancelled");
          res.cells = read_and_detect_tile(
              job_, job_.grid_tiles[static_cast<std::size_t>(order_[static_cast<std::size_t>(pos)])],
              res.seam_nuclei);
        } catch (const PipelineCancelled&) {
          res.cancelled = true;
        } catch (const std::exception& e) {
          res.error = e.what();
        }
        if (cores_ != nullptr) cores_->release();
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        ready_[pos] = std::move(res);
      }
      cv_done_.notify_all();
    }
  }

  const int threads_;
  const Cancel cancel_;
  CoreBudget* const cores_;
  TileJob job_;
  std::vector<int> order_;
  std::mutex mu_;
  std::condition_variable cv_work_, cv_done_;
  std::map<int, TileResult> ready_;  // by position in `order_`
  std::vector<char> wanted_;         // per grid tile, once `selected_`: it touches the area scored
  bool selected_ = false;
  int next_tile_ = 0;
  int written_ = 0;
  std::atomic<bool> stop_{false};  // set under mu_; read outside it by a worker waiting on a core
  std::vector<std::thread> pool_;
};

struct OverviewIn {
  Slide* slide = nullptr;
  const SlidePlan* plan = nullptr;
};

struct Overview {
  cv::Mat level0;  // decoded only when plan.keep_level0
  cv::Mat thumb;
  double seconds = 0.0;
};

Overview read_overview_stage(const OverviewIn& in) {
  Overview o;
  try {
    const auto t_read = Clock::now();
    const SlidePlan& p = *in.plan;
    if (p.keep_level0) {
      o.level0 = in.slide->read_level(0, kWholeImageMaxPixels);
      o.thumb = overview_from(in.slide->info(), 0, p.thumb_ds,
                              [&](std::int64_t x, std::int64_t y, int, int w, int h) {
                                return crop_level0(o.level0, x, y, w, h);
                              });
    } else {
      o.thumb = read_overview(*in.slide, p.thumb_ds);
    }
    o.seconds = seconds_since(t_read);
  } catch (const std::exception& e) {
    throw PipelineError("open", e.what());
  }
  return o;
}

struct TissueIn {
  cv::Mat thumb;
  bool use_tissue = true;
  double target_um = 0.0;  // tissue_resolution_um
  bool calibrated = true;  // false: the image's scale is unknown, and mpp0 a stand-in
  double mpp0 = 0.0;
  std::int64_t w0 = 0, h0 = 0;
  std::string input;
  std::optional<std::array<double, 3>> glass;  // the glass colour, when known
};

struct TissueMap {
  cv::Mat mask;               // CV_8U over the whole image
  double sx = 1.0, sy = 1.0;  // mask px per level-0 px
  std::optional<double> detect_s;
  // When no piece was kept: the overview's pixels whose unsmoothed OD sum is above the lowest tissue
  // threshold (min_threshold_od, not the threshold detect_tissue chose), before any size or shape filter, on
  // the mask's grid. Tells a field full of tissue (no glass to contrast with) from tissue too small to keep
  // on glass.
  cv::Mat stained;
  int pieces = 0;
  double threshold_od = 0.0;
  // The mask leaves out a quarter of the image or more, most of it glass: it outlines tissue on glass, and
  // cells off it are debris. In a camera field or a crop it only splits dense from pale tissue.
  bool outlines_glass = true;
  // When the mask does not outline glass: the mask and every other pixel that is not glass (the same test as
  // `stained`), on the mask's grid. Every cell counts there, so this is the area they are counted in.
  cv::Mat not_glass;
};

// Whether a non-empty mask leaves out at least a quarter of the overview and at least half of that is below
// `glass_od` (unsmoothed). What a mask leaves out is 55 % of cmu_small_region, 99 % of it glass; fields read
// 0-0.2 % glass, but the AdamDlubak fields 86-88 % (pale stroma at their edges) in 8-14 % of the image: their
// cells there are tissue's.
bool mask_outlines_glass(const cv::Mat& od_sum, const cv::Mat& mask, double glass_od) {
  const int outside = static_cast<int>(mask.total()) - cv::countNonZero(mask);
  if (4 * static_cast<double>(outside) < static_cast<double>(mask.total())) return false;
  const int glass = cv::countNonZero((od_sum <= glass_od) & (mask == 0));
  return 2 * glass >= outside;
}

TissueMap tissue_stage(const TissueIn& in) {
  TissueMap t;
  t.sx = static_cast<double>(in.thumb.cols) / in.w0;  // thumbnail px per level-0 px
  t.sy = static_cast<double>(in.thumb.rows) / in.h0;
  if (!in.use_tissue) {
    t.mask = cv::Mat(in.thumb.size(), CV_8U, cv::Scalar(255));
    return t;
  }
  try {
    // Without a pixel size the image may be a slide overview or a microscope field: the tissue is found on an
    // overview of at most kUnknownScaleMaxSide px whose pixels count as kUnknownScaleUmPerPx, so the size
    // filters act at a few overview pixels. (A guessed 0.5 um/px made a camera field's tissue 16x too small
    // to smooth and close: 61 % of a SHIDC field of tumour.)
    const double thumb_um = in.calibrated ? in.mpp0 / t.sx : 0.0;
    const double f = in.calibrated
                         ? (thumb_um < in.target_um ? thumb_um / in.target_um : 1.0)
                         : std::min(1.0, kUnknownScaleMaxSide /
                                             static_cast<double>(std::max(in.thumb.cols, in.thumb.rows)));
    cv::Mat overview = in.thumb;
    if (f < 1.0) {
      cv::resize(in.thumb, overview,
                 cv::Size(std::max(1, static_cast<int>(std::lround(in.thumb.cols * f))),
                          std::max(1, static_cast<int>(std::lround(in.thumb.rows * f)))),
                 0, 0, cv::INTER_AREA);
    }
    TissueParams tp;
    tp.um_per_px = in.calibrated ? in.mpp0 * in.w0 / overview.cols : kUnknownScaleUmPerPx;
    if (in.glass) tp.glass_od = glass_od_sum(*in.glass, tp.background);
    const auto t_detect_tissue = Clock::now();
    const TissueResult tr = detect_tissue(overview, tp);
    t.detect_s = seconds_since(t_detect_tissue);
    t.mask = tr.mask;
    t.pieces = static_cast<int>(tr.boxes.size());
    t.threshold_od = tr.threshold_od;
    const cv::Mat od_sum = optical_density_sum(overview, tp.background);
    if (tr.area_px == 0) t.stained = od_sum > tp.min_threshold_od;
    // Against white, not the estimated glass colour: a field's pale tissue passes for glass there.
    t.outlines_glass = mask_outlines_glass(od_sum, t.mask, tp.min_threshold_od);
    if (!t.outlines_glass && tr.area_px > 0) t.not_glass = (od_sum > tp.min_threshold_od) | t.mask;
    t.sx = static_cast<double>(t.mask.cols) / in.w0;
    t.sy = static_cast<double>(t.mask.rows) / in.h0;
  } catch (const std::exception& e) {
    throw PipelineError("tissue", in.input + ": tissue detection failed: " + e.what());
  }
  return t;
}

// The tissue of the overview, after a plain image's glass colour (flat bright pixels) is estimated into
// `stains_in` when the background is automatic. That colour, or the background parameter, is the fixed
// vectors' background and where glass reads for tissue detection; slides are white-balanced and not
// estimated.
TissueMap overview_tissue(StainsIn& stains_in, const cv::Mat& thumb, const ParamSet& params, bool calibrated,
                          double mpp0, const SlidePlan& plan, const std::string& input) {
  if (stains_in.single_level && stains_in.background.automatic) stains_in.glass = estimate_background(thumb);
  std::optional<std::array<double, 3>> glass;
  if (stains_in.background.fixed) {
    glass = stains_in.background.rgb;
  } else if (stains_in.glass && stains_in.glass->found) {
    glass = stains_in.glass->background;
  }
  const bool use_tissue = params.get_bool("tissue_detection");
  return tissue_stage({.thumb = thumb,
                       .use_tissue = use_tissue,
                       .target_um = use_tissue ? params.get_double("tissue_resolution_um") : 0.0,
                       .calibrated = calibrated,
                       .mpp0 = mpp0,
                       .w0 = plan.w0,
                       .h0 = plan.h0,
                       .input = input,
                       .glass = glass});
}

// The area of a plain image scored whole because tissue detection kept no piece of it: mostly glass (the
// tissue was there but every piece was below the size filter: a small fragment), its stained pixels, as the
// whole image would overstate it by as much as the glass around it; otherwise (a field full of tissue, no
// glass to contrast with) the whole image. `note` says which.
cv::Mat field_area(const TissueMap& tissue, std::string* note) {
  const double stained_fraction =
      tissue.stained.empty() ? 1.0
                             : cv::countNonZero(tissue.stained) / static_cast<double>(tissue.stained.total());
  if (stained_fraction > 0.0 && stained_fraction < 0.5) {
    char text[200];
    std::snprintf(
        text, sizeof text,
        "tissue detection kept no piece although %.1f %% of the image is glass (every piece below the "
        "minimum tissue area): tissue area is the image's stained pixels",
        100.0 * (1.0 - stained_fraction));
    *note = text;
    return tissue.stained.clone();
  }
  *note = "tissue detection found no glass/tissue contrast: tissue area is the whole image";
  return cv::Mat(tissue.mask.size(), CV_8U, cv::Scalar(255));
}

// Regions (ROIs) and the area everything is counted in.
struct ScoredArea {
  std::vector<Region> regions;
  Region total = Region::everything();
  // On the tissue mask's grid, with every cell the regions touch: which tiles to detect in, and what the
  // overlay outlines. Areas are not counted on it (tissue_in).
  cv::Mat mask;
  double tissue_px = kNaN;  // tissue grid cells in the regions (fractions counted); NaN: count `mask`
};

// Tissue grid cells inside `region`, partly covered cells counted by their covered fraction.
double tissue_in(const Region& region, const TissueMap& tissue) {
  cv::Mat cov = region_coverage(region, tissue.mask.size(), tissue.sx, tissue.sy);
  cov.setTo(0, tissue.mask == 0);
  return cv::sum(cov)[0];
}

// Regions no polygon of which reaches into the image, each named in a warning: an ROI file meant for another
// slide, or in other coordinates, otherwise reads as "no tissue".
std::vector<bool> regions_outside(const std::vector<Region>& regions, std::int64_t w0, std::int64_t h0,
                                  std::vector<std::string>& warnings) {
  std::vector<bool> outside(regions.size(), false);
  for (std::size_t r = 0; r < regions.size(); ++r) {
    if (!region_outside_image(regions[r], static_cast<double>(w0), static_cast<double>(h0))) continue;
    outside[r] = true;
    const cv::Rect2d b = region_bounds(regions[r]);
    char text[200];
    std::snprintf(text, sizeof text,
                  " lies outside the image (%lld x %lld px; the region spans x %.0f-%.0f, y %.0f-%.0f)",
                  static_cast<long long>(w0), static_cast<long long>(h0), b.x, b.x + b.width, b.y,
                  b.y + b.height);
    warnings.push_back("region '" + regions[r].name + "'" + text +
                       ": ROI coordinates are this slide's full-resolution pixels");
  }
  return outside;
}

ScoredArea scored_area(const std::vector<Annotation>& rois, const TissueMap& tissue) {
  ScoredArea a;
  if (!rois.empty()) {
    a.regions = regions_from_annotations(rois);
    a.total = union_region_from_annotations(rois, "All regions");
  }
  a.mask = tissue.mask.clone();
  if (!a.total.whole_slide || !a.total.exclude.empty()) {
    cv::bitwise_and(a.mask, rasterize(a.total, tissue.mask.size(), tissue.sx, tissue.sy), a.mask);
    a.tissue_px = tissue_in(a.total, tissue);
  }
  return a;
}

// mm^2 of a mask on the tissue grid; NaN without a pixel size.
struct AreaScale {
  bool calibrated = false;
  double px_um2 = 0.0;
  // To 0.001 um^2: covered fractions would print 17 digits.
  double mm2(double px) const { return calibrated ? std::round(px * px_um2 * 1e3) / 1e9 : kNaN; }
  double mm2(const ScoredArea& a) const {
    return mm2(std::isnan(a.tissue_px) ? cv::countNonZero(a.mask) : a.tissue_px);
  }
};

// A slide of another stain gives "DAB" scores of eosin (H&E) or of noise (fluorescence): scored all the same,
// but its status says so, in the summary and on the progress line.
struct ImageTypeCheck {
  std::string name, evidence;
  std::string note;  // for the status
  std::optional<std::string> warning;
  double seconds = 0.0;
};

ImageTypeCheck check_image_type(const cv::Mat& thumb, const StainMatrix& stains, const cv::Mat& tissue) {
  const auto t_type = Clock::now();
  ImageTypeCheck c;
  const ImageTypeEstimate it =
      estimate_image_type(thumb, stains.background, cv::countNonZero(tissue) > 0 ? tissue : cv::Mat());
  c.name = image_type_name(it.type);
  c.evidence = it.summary;
  const ImageTypeWarning w = image_type_warning(it.type);
  if (!w.looks_like.empty()) {
    c.note = "; " + w.looks_like + " (" + w.check + ")";
    c.warning = "image type: " + w.looks_like + " (" + it.summary + "): " + w.consequence;
  }
  c.seconds = seconds_since(t_type);
  return c;
}

void prepare_out_dir(const fs::path& out_dir) {
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  try {
    ensure_directory(out_dir);
  } catch (const std::exception& e) {
    throw PipelineError("write", e.what());
  }
  remove_stale_temp_files(out_dir);
}

struct CellSinkIn {
  fs::path out_dir;
  std::string image_id;
  cv::Mat thumb;
  cv::Size2d size0;
  const ScoredArea* area = nullptr;
  const TissueMap* tissue = nullptr;
  const std::vector<Annotation>* rois = nullptr;
  GradingParams grading;
  bool calibrated = false;
  double mpp_x = 0.0, mpp_y = 0.0;
};

OverlayCanvas make_canvas(const CellSinkIn& in) {
  OverlayCanvas canvas(in.thumb, in.size0);
  const Region& total = in.area->total;
  if (total.whole_slide && total.exclude.empty()) {
    canvas.set_tissue_mask(in.area->mask);
  } else {
    // The scored area's outline follows the regions' edges at the thumbnail's resolution, not the tissue
    // grid cells they touch (up to 16 um past an edge).
    cv::Mat mask;
    cv::resize(in.tissue->mask, mask, in.thumb.size(), 0, 0, cv::INTER_NEAREST);
    cv::bitwise_and(mask, rasterize(total, mask.size(), canvas.scale(), canvas.scale()), mask);
    canvas.set_tissue_mask(mask);
  }
  for (const auto& a : *in.rois) {
    for (const auto& p : a.polygons) {
      canvas.add_outline(p.outer, a.exclude);
      for (const auto& hole : p.holes) canvas.add_outline(hole, a.exclude);
    }
  }
  return canvas;
}

CellsFileOptions cells_file_options(const CellSinkIn& in) {
  CellsFileOptions o;
  o.uuid_seed = slide_uuid_seed(in.image_id);
  o.measurement_names = cell_measurement_names(in.calibrated);
  if (in.calibrated) {
    o.mpp_x = in.mpp_x;
    o.mpp_y = in.mpp_y;
  }
  return o;
}

// Where detected cells go: kept if they count, numbered, graded, counted and written to cells.csv,
// cells.geojson and the overlay as they come.
class CellSink {
 public:
  explicit CellSink(const CellSinkIn& in)
      : in_(in),
        region_counts_(in.area->regions.size()),
        canvas_(make_canvas(in)),
        csv_file_(in.out_dir / "cells.csv"),
        geo_file_(in.out_dir / "cells.geojson"),
        csv_(csv_file_, cells_file_options(in)),
        geo_(geo_file_, cells_file_options(in)) {}

  // Keeps the cells of a chunk that count (region, tissue for slides), numbers them, grades and writes them.
  void consume(CellTable&& table, bool filter_tissue) {
    if (table.size() == 0) return;
    const TissueMap& tissue = *in_.tissue;
    std::vector<std::uint8_t> keep(table.size(), 1);
    const std::vector<std::uint8_t> in_total = cells_in_region(table, in_.area->total);
    bool all = true;
    for (std::size_t i = 0; i < table.size(); ++i) {
      bool k = in_total[i] != 0;
      if (k && filter_tissue) {
        const int mx = static_cast<int>(table.cells[i].centroid.x * tissue.sx);
        const int my = static_cast<int>(table.cells[i].centroid.y * tissue.sy);
        k = mx >= 0 && my >= 0 && mx < tissue.mask.cols && my < tissue.mask.rows &&
            tissue.mask.at<uchar>(my, mx) != 0;
      }
      keep[i] = k;
      all = all && k;
    }
    if (!all) table = keep_cells(std::move(table), keep);
    if (table.size() == 0) return;
    for (auto& c : table.cells) c.id = ++next_id_;
    std::vector<CellClass> classes;
    try {
      classes = grade_cells(table, in_.grading);
    } catch (const std::exception& e) {
      throw PipelineError("scoring", e.what());
    }
    total_counts_ += count_classes(classes);
    const auto& regions = in_.area->regions;
    for (std::size_t r = 0; r < regions.size(); ++r) {
      region_counts_[r] += count_classes(classes, cells_in_region(table, regions[r]));
    }
    const int col = table.column(in_.grading.measurement);
    if (col >= 0)
      hist_values_.insert(hist_values_.end(), table.columns[col].begin(), table.columns[col].end());
    for (const char* name : {"Nucleus: Area um^2", "Nucleus: Area px^2"}) {
      if (const int a = table.column(name); a >= 0)
        nucleus_areas_.insert(nucleus_areas_.end(), table.columns[a].begin(), table.columns[a].end());
    }
    csv_.append(table, classes);
    geo_.append(table, classes);
    canvas_.add_cells(table, classes);
  }

  void finish_cells() {
    csv_.finish();
    geo_.finish();
    csv_file_.commit();
    geo_file_.commit();
  }

  const GradeCounts& total_counts() const { return total_counts_; }
  const std::vector<GradeCounts>& region_counts() const { return region_counts_; }
  const std::vector<float>& hist_values() const { return hist_values_; }
  // Nucleus: Area, in um^2 on a calibrated slide, else level-0 px^2.
  const std::vector<float>& nucleus_areas() const { return nucleus_areas_; }
  const OverlayCanvas& canvas() const { return canvas_; }
  // The overlay outlines the area scored: a field scored whole after tissue detection found no glass.
  void set_scored_area(const cv::Mat& mask) { canvas_.set_tissue_mask(mask); }

 private:
  CellSinkIn in_;
  std::vector<float> hist_values_;
  std::vector<float> nucleus_areas_;
  GradeCounts total_counts_;
  std::vector<GradeCounts> region_counts_;
  std::int64_t next_id_ = 0;
  OverlayCanvas canvas_;
  AtomicFile csv_file_;
  AtomicFile geo_file_;
  CellsCsvWriter csv_;
  CellsGeoJsonWriter geo_;
};

struct DetectIn {
  std::string input;
  bool decode_only = false;
  const std::function<void(int done, int total)>* on_progress = nullptr;
  const Cancel* cancel = nullptr;
};

struct Detected {
  int tiles_total = 0;
  double analysed_px = 0;  // pixels at the analysis resolution that went through detection
};

// A plain image (or small single-level slide): detected whole, with detection's own threads, its cells kept
// by the rule of tiles (`filter_tissue`).
Detected detect_whole(const DetectIn& in, cv::Mat rgb, const TileJob& job, int threads, bool filter_tissue,
                      CellSink& sink) {
  in.cancel->check();
  Detected d;
  d.tiles_total = 1;
  const double f = job.calibrated ? job.mpp0 / job.det.requested_pixel_size_um : 1.0;
  d.analysed_px = static_cast<double>(rgb.total()) * f * f;
  if (in.decode_only) return d;
  const auto& on_progress = *in.on_progress;
  if (on_progress) on_progress(0, 1);
  CellTable table;
  try {
    DetectionParams whole_det = job.det;
    whole_det.threads = std::max(1, threads);
    table = detect_cells(rgb, job.calibrated ? job.mpp0 : kNaN, job.stains, whole_det);
  } catch (const std::exception& e) {
    throw PipelineError("detection", in.input + ": " + e.what());
  }
  rgb.release();
  in.cancel->check();
  sink.consume(std::move(table), filter_tissue);
  if (on_progress) on_progress(1, 1);
  return d;
}

// The kept tiles, in grid order through the pool (started here unless it started early), written as they
// come; the pool is shut down after.
Detected detect_tiles(const DetectIn& in, TilePool& pool, const TileJob& job, const std::vector<int>& kept,
                      bool started_early, bool filter_tissue, CellSink& sink) {
  Detected d;
  d.tiles_total = static_cast<int>(kept.size());
  const int n = d.tiles_total;
  pool.select(kept, job.grid_tiles.size());
  if (!started_early) pool.start(job, kept);
  const int positions = pool.positions();
  const auto& on_progress = *in.on_progress;
  if (on_progress) on_progress(0, n);
  int done = 0;  // kept tiles written
  SeamCells seams;
  for (int pos = 0; pos < positions; ++pos) {
    TileResult res = pool.take(pos);
    if (pool.wanted_at(pos)) {
      if (res.cancelled) throw PipelineCancelled(in.input + ": cancelled");
      if (!res.error.empty()) {
        throw PipelineError("detection", in.input + ": tile " + std::to_string(done + 1) + " of " +
                                             std::to_string(n) + ": " + res.error);
      }
      const cv::Rect& core = job.grid_tiles[static_cast<std::size_t>(pool.grid_at(pos))].core;
      const cv::Rect2d core0(core.x * job.tile_ds, core.y * job.tile_ds, core.width * job.tile_ds,
                             core.height * job.tile_ds);
      const std::vector<std::uint8_t> keep = seams.admit(core0, res.cells.cells, res.seam_nuclei);
      sink.consume(keep_cells(std::move(res.cells), keep), filter_tissue);
      ++done;
    }
    pool.written(pos);
    if (on_progress && done > 0) on_progress(done, n);
  }
  pool.shutdown();
  // Tissue megapixels at the analysis resolution: the tile cores that were read.
  std::int64_t core_px = 0;
  for (int g : kept) core_px += job.grid_tiles[static_cast<std::size_t>(g)].core.area();
  d.analysed_px = static_cast<double>(core_px);
  return d;
}

// ---- regrade: the cells of an earlier run, read back instead of detected

double timing_of(const SlideRecord& rec, const std::string& key) {
  const auto it = rec.timings_s.find(key);
  return it != rec.timings_s.end() && std::isfinite(it->second) ? it->second : 0.0;
}

// Cells per chunk fed to the sink: memory stays bounded whatever the slide's cell count.
constexpr std::size_t kRegradeChunkCells = 16384;

// The measurement columns detect_cells makes, in its order (centroid um first when calibrated).
std::vector<std::string> detection_column_names(bool calibrated) {
  std::vector<std::string> names;
  if (calibrated) names = {"Centroid X um", "Centroid Y um"};
  const std::vector<std::string> measured = cell_measurement_names(calibrated);
  names.insert(names.end(), measured.begin(), measured.end());
  return names;
}

// "cells.csv <bytes> <mtime ns>; cells.geojson <bytes> <mtime ns>": slide.json's cells_files, so that a
// regrade takes only the cell files its slide.json was written with (an edited file is detected again).
std::string cell_files_stamp(const fs::path& csv, const fs::path& geojson) {
  std::string stamp;
  for (const fs::path& p : {csv, geojson}) {
    const auto st = file_stamp(p);
    if (!st) return "";
    stamp += (stamp.empty() ? "" : "; ") + std::string(p == csv ? "cells.csv " : "cells.geojson ") +
             std::to_string(st->size) + " " + std::to_string(st->mtime_ns);
  }
  return stamp;
}

// Before anything of the folder changes: both files read in full, listing the same cells, as many as
// slide.json counted, with every measurement detection makes. RegradeUnavailable otherwise.
void check_earlier_cells(const fs::path& dir, const SlideRecord& earlier) {
  const fs::path csv_path = dir / "cells.csv";
  if (earlier.cells_files.empty() ||
      cell_files_stamp(csv_path, dir / "cells.geojson") != earlier.cells_files) {
    throw RegradeUnavailable((dir / "slide.json").string() +
                             ": cells.csv or cells.geojson is not the file it was written with (changed, "
                             "replaced or missing)");
  }
  try {
    ResultCellsReader reader(csv_path, dir / "cells.geojson");
    const std::vector<std::string> have = reader.measurement_names();
    for (const auto& name : cell_measurement_names(std::isfinite(earlier.analysis_mpp))) {
      if (std::find(have.begin(), have.end(), name) == have.end())
        throw RegradeUnavailable(csv_path.string() + ": no column '" + name + "'");
    }
    CellResults chunk;
    while (reader.next(chunk, kRegradeChunkCells)) {
    }
    if (reader.cells_read() != earlier.total.num_detections) {
      throw RegradeUnavailable(csv_path.string() + ": " + std::to_string(reader.cells_read()) +
                               " cells, but slide.json counted " +
                               std::to_string(earlier.total.num_detections));
    }
  } catch (const ResultsError& e) {
    throw RegradeUnavailable(e.what());
  }
}

// A chunk of the earlier cells in detection's column order, so that every output is written as the
// detecting run wrote it.
CellTable in_detection_columns(CellResults&& chunk, const SlideRecord& earlier) {
  const bool calibrated = std::isfinite(earlier.analysis_mpp);
  CellTable table;
  table.cells = std::move(chunk.table.cells);
  for (const auto& name : detection_column_names(calibrated)) {
    const int to = table.add_column(name);
    const int from = chunk.table.column(name);
    std::vector<float>& column = table.columns[static_cast<std::size_t>(to)];
    if (from >= 0) {
      column = std::move(chunk.table.columns[static_cast<std::size_t>(from)]);
    } else {
      // Centroid um: cells.csv keeps them as its fixed columns; the writers recompute them from the centroid.
      column.reserve(table.cells.size());
      for (const Cell& c : table.cells)
        column.push_back(
            static_cast<float>(to == 0 ? c.centroid.x * earlier.mpp_x : c.centroid.y * earlier.mpp_y));
    }
  }
  return table;
}

// A regrade's earlier outputs under their hidden names until the new slide.json is written; put back when the
// slide stops before (an error, Ctrl-C), so the cells detected before are never lost.
class SetAsideOutputs {
 public:
  explicit SetAsideOutputs(fs::path dir) : dir_(std::move(dir)) {
    // slide.json first: nothing in the folder reads as complete meanwhile.
    for (auto it = kSlideOutputs.rbegin(); it != kSlideOutputs.rend(); ++it) {
      if (fs::exists(dir_ / *it)) fs::rename(dir_ / *it, set_aside_path(dir_, *it));
    }
  }
  SetAsideOutputs(const SetAsideOutputs&) = delete;
  SetAsideOutputs& operator=(const SetAsideOutputs&) = delete;
  ~SetAsideOutputs() {
    if (!discarded_) restore_set_aside_outputs(dir_);
  }
  fs::path path(const char* name) const { return set_aside_path(dir_, name); }
  void discard() {
    discarded_ = true;
    std::error_code ec;
    for (const char* name : kSlideOutputs) fs::remove(set_aside_path(dir_, name), ec);
  }

 private:
  fs::path dir_;
  bool discarded_ = false;
};

SlideRecord decode_only_record(SlideRecord rec, const std::string& image_id, double detection_s,
                               const Detected& d) {
  rec.timings_s["detection"] = detection_s;
  rec.timings_s["tiles"] = d.tiles_total;
  rec.timings_s["analysis_mpx"] = d.analysed_px / 1e6;
  rec.status = rec.total.status = "decode only";
  rec.total.image = image_id;
  return rec;
}

struct ScoresIn {
  std::string image_id;
  std::string status;
  bool no_tissue = false;
  double row_mpp = kNaN;
  ScoreOptions score_opt;
  const CellSink* sink = nullptr;
  const ScoredArea* area = nullptr;
  const TissueMap* tissue = nullptr;
  AreaScale scale;
  std::vector<bool> outside;     // per region: none of it on the image
  std::string no_tissue_status;  // a region on no tissue: its row reads as when it is scored alone
};

struct SlideScores {
  ScoreRow total;
  std::vector<ScoreRow> regions;
  std::vector<std::string> warnings;
};

// Cells without a value of the scoring measurement are graded Negative (NaN is Negative): said when they are
// 1 % or more, since a setting can empty the compartment for all of them (Cytoplasm with
// cell_expansion_um = 0 graded 411 of 411 cells Negative with no word).
std::string unmeasured_warning(const std::vector<float>& values, const std::string& measurement) {
  const auto nan = std::count_if(values.begin(), values.end(), [](float v) { return std::isnan(v); });
  if (nan == 0 || 100 * nan < static_cast<std::ptrdiff_t>(values.size())) return {};
  return measurement + " is empty for " + std::to_string(nan) + " of " + std::to_string(values.size()) +
         " cells (they have no such compartment), which are graded Negative";
}

// A wrong pixel size (none in the file and 0.5 um/px assumed, a screen's dpi, a wrong --mpp) shows in the
// nuclei: their median area is 37-55 um^2 on every real set here at its true pixel size, while the SHIDC and
// DeepLIIF fields (0.25 um/px) scored at the assumed 0.5 read 125-205, and detection itself then looks for
// nuclei of the wrong size. Said when at least 30 nuclei put the median outside 12-120 um^2, with the pixel
// size that would bring it to 45.
std::string nucleus_size_warning(std::vector<float> areas, bool calibrated, double mpp0,
                                 const std::string& mpp_source) {
  constexpr std::size_t kMinNuclei = 30;
  constexpr double kLow = 12.0, kHigh = 120.0, kTypical = 45.0;
  areas.erase(std::remove_if(areas.begin(), areas.end(), [](float v) { return !(v > 0); }), areas.end());
  if (areas.size() < kMinNuclei || !(mpp0 > 0)) return {};
  const auto mid = areas.begin() + static_cast<std::ptrdiff_t>(areas.size() / 2);
  std::nth_element(areas.begin(), mid, areas.end());
  const double median = calibrated ? *mid : *mid * mpp0 * mpp0;
  if (median >= kLow && median <= kHigh) return {};
  std::ostringstream likely;
  likely << std::setprecision(2) << mpp0 * std::sqrt(kTypical / median);
  return "nuclei measure a median of " + std::to_string(static_cast<int>(std::lround(median))) + " um^2 at " +
         format_number(mpp0) + " um/px" + (calibrated ? "" : " (assumed: the file has none)") +
         ", where tissue's measure 30-60: the pixel size is probably about " + likely.str() + " um/px" +
         (!calibrated || mpp_source == "--mpp" ? " (give --mpp " + likely.str() + ")"
                                               : " (check the scan's resolution)") +
         ", and cells were sought at the wrong size";
}

SlideScores score_stage(const ScoresIn& in) {
  SlideScores s;
  const Scores scores = compute_scores(in.sink->total_counts(), in.score_opt);
  s.warnings = scores.warnings;
  s.total = to_row(in.image_id, scores, in.scale.mm2(*in.area), in.row_mpp, in.status);
  if (in.no_tissue) {
    // Empty, not zero: nothing was there to score.
    for (double* v : {&s.total.positive_pct, &s.total.h_score, &s.total.intensity_score, &s.total.ixp_score,
                      &s.total.allred_proportion, &s.total.allred_score, &s.total.irs}) {
      *v = kNaN;
    }
  }
  const auto& regions = in.area->regions;
  for (std::size_t r = 0; r < regions.size(); ++r) {
    const GradeCounts& counts = in.sink->region_counts()[r];
    const Scores rs = compute_scores(counts, in.score_opt);
    const double tissue_px = tissue_in(regions[r], *in.tissue);
    // A field's cells count off its mask (filter_tissue): a region of them is not "no tissue".
    const bool empty = tissue_px == 0 && counts.detections() == 0;
    const std::string status = in.outside[r] ? std::string("region outside the image")
                               : empty       ? in.no_tissue_status
                                             : in.status;
    ScoreRow row = to_row(in.image_id, rs, in.scale.mm2(tissue_px), in.row_mpp, status);
    row.region = regions[r].name;
    s.regions.push_back(std::move(row));
  }
  return s;
}

// overlay.png (render and PNG encoding, the largest output of a small slide) is made on another thread
// while the cell files are finished. The future gives the seconds it took.
std::future<double> write_overlay_async(const OverlayCanvas& canvas, fs::path file) {
  return std::async(std::launch::async, [&canvas, file = std::move(file)] {
    const auto t_overlay = Clock::now();
    write_png_atomic(file, canvas.render());
    return seconds_since(t_overlay);
  });
}

std::string slide_status(bool no_tissue, bool has_rois, bool rois_outside, const std::string& type_note,
                         bool calibrated) {
  std::string status = !no_tissue     ? std::string("ok")
                       : rois_outside ? std::string("regions outside the image")
                       : has_rois     ? std::string("no tissue in regions")
                                      : std::string("no tissue found");
  const std::string pixels_note = calibrated ? "" : "; scored in pixels (no mpp, give --mpp)";
  status += type_note + pixels_note;
  return status;
}

struct WriteIn {
  fs::path out_dir;
  CellSink* sink = nullptr;
  std::future<double>* overlay_s = nullptr;
  std::string status;
  Detected detected;
  Clock::time_point t_start, t_write;
  const Cancel* cancel = nullptr;
};

// The cell files, histogram.png and the overlay finished, then slide.json last: its presence means the rest
// is complete. Fills the record's files, status and remaining timings.
void write_outputs(const WriteIn& in, SlideRecord& rec) {
  try {
    in.sink->finish_cells();
    rec.cells_files = cell_files_stamp(in.out_dir / "cells.csv", in.out_dir / "cells.geojson");
    rec.timings_s["write_cells"] = seconds_since(in.t_write);
    const auto t_histogram = Clock::now();
    write_png_atomic(in.out_dir / "histogram.png",
                     render_histogram(in.sink->hist_values(), rec.scoring_measurement, rec.thresholds));
    rec.timings_s["write_histogram"] = seconds_since(t_histogram);
    rec.timings_s["write_overlay"] = in.overlay_s->get();
    rec.files = {kSlideOutputs.begin(), kSlideOutputs.end()};
    rec.timings_s["write"] = seconds_since(in.t_write);
    rec.timings_s["total"] = seconds_since(in.t_start);
    rec.timings_s["tiles"] = in.detected.tiles_total;
    rec.timings_s["analysis_mpx"] = in.detected.analysed_px / 1e6;
    rec.status = in.status;
    rec.finished = utc_now();
    in.cancel->check();
    write_file_atomic(in.out_dir / "slide.json", slide_json_text(rec));
    std::error_code ec;
    fs::remove(in.out_dir / kRedoSourceFile, ec);
  } catch (const PipelineCancelled&) {
    throw;
  } catch (const std::exception& e) {
    throw PipelineError("write", e.what());
  }
}

}  // namespace

SlideRecord score_slide(const ScoreSlideRequest& req, const ParamSet& params) {
  const auto t_start = Clock::now();
  SlideRecord rec = start_record(req, params);
  const Cancel cancel{req.cancel, req.input.string()};
  restore_set_aside_outputs(req.out_dir);  // a killed regrade's
  // Checked before anything of the folder changes: a regrade that cannot read them leaves it as it was.
  const bool regrade = req.regrade_from != nullptr;
  double read_cells_s = 0.0;  // the check's full read
  if (regrade) {
    const auto t_read = Clock::now();
    check_earlier_cells(req.out_dir, *req.regrade_from);
    read_cells_s = seconds_since(t_read);
    rec.regraded = true;
    rec.cells_detected = req.regrade_from->cells_detected;
  } else {
    rec.cells_detected = rec.started;
  }

  Settings settings = read_settings(params);
  const GradingParams& grading = settings.grading;
  rec.scoring_measurement = grading.measurement;
  rec.thresholds = grading_thresholds(grading);

  // ---- open (before the folder changes: a slide that cannot be opened, or cannot have the score
  // measurement, leaves its earlier results as they are)
  const OpenedSlide opened = open_stage({.input = req.input,
                                         .mpp_override = req.mpp_override,
                                         .requested_pixel_size_um = settings.det.requested_pixel_size_um,
                                         .measurement = grading.measurement});

  std::optional<SetAsideOutputs> aside;
  std::error_code ec;
  if (regrade) {
    try {
      aside.emplace(req.out_dir);
    } catch (const std::exception& e) {
      throw PipelineError("write", e.what());
    }
  } else {
    // An older complete result must not survive a redo that is interrupted: slide.json goes first, then the
    // older outputs (graded with other parameters; a reader globbing cells.csv would mix them with new
    // ones). The pathologist's review.json and its reviewed_* files stay: they are work, re-matched to new
    // cells.
    if (fs::exists(req.out_dir / "slide.json", ec)) {
      // Until the new slide.json: the folder keeps its slide (and its review) if this run stops.
      try {
        write_file_atomic(req.out_dir / kRedoSourceFile, rec.source);
      } catch (const std::exception& e) {
        throw PipelineError("write", e.what());
      }
    }
    fs::remove(req.out_dir / "slide.json", ec);
    for (const char* f : kSlideOutputs) fs::remove(req.out_dir / f, ec);
  }
  Slide& slide = *opened.slide;
  const SlideInfo& info = slide.info();
  settings.det.requested_pixel_size_um = opened.analysis_um;
  record_slide(rec, info, opened);
  record_hashes(rec, req);
  const bool calibrated = opened.calibrated;
  rec.timings_s["open"] = seconds_since(t_start);
  cancel.check();

  // ---- overview: thumbnail for the overlay, tissue, stain estimation
  const auto t_tissue = Clock::now();
  const SlidePlan plan = plan_slide({.slide = &slide,
                                     .calibrated = calibrated,
                                     .analysis_um = settings.det.requested_pixel_size_um,
                                     .mpp0 = opened.mpp0,
                                     .overlay_max_px = params.get_int("overlay_max_px"),
                                     .estimate_stains = params.get_bool("estimate_stains"),
                                     .background = settings.background});
  StainsIn stains_in = stains_input(settings, params, info.plain_image());
  // Level 0 when plan.keep_level0; declared before the pool, whose workers cut tiles from it.
  cv::Mat level0;
  if (!plan.stains_need_overview) record_stains(rec, settings.stains, resolve_stains(stains_in));

  TileJob job{.slide = &slide,
              .level0 = &level0,
              .grid_tiles = plan.whole ? std::vector<TileSpec>() : tile_grid(plan, settings.det),
              .tile_ds = plan.tile_ds,
              .tile_level = plan.tile_level,
              .level_ds = info.downsamples[static_cast<std::size_t>(plan.tile_level)],
              .det = settings.det,
              .stains = settings.stains,  // final here unless they need the overview
              .calibrated = calibrated,
              .mpp0 = opened.mpp0,
              .decode_only = req.decode_only};
  TilePool pool(req.threads, cancel, req.cores);
  const bool early_tiles = !regrade && starts_early(plan, job.grid_tiles.size(), req.decode_only);
  if (early_tiles) pool.start(job, every_position(job.grid_tiles.size()));

  Overview overview = read_overview_stage({.slide = &slide, .plan = &plan});
  rec.timings_s["overview_read"] = overview.seconds;
  // Assigned only when kept: early workers look at level0 (empty) meanwhile.
  if (plan.keep_level0) level0 = std::move(overview.level0);
  const cv::Mat& thumb = overview.thumb;
  const bool use_tissue = params.get_bool("tissue_detection");
  const TissueMap tissue =
      overview_tissue(stains_in, thumb, params, calibrated, opened.mpp0, plan, req.input.string());
  if (tissue.detect_s) rec.timings_s["tissue_detection"] = *tissue.detect_s;
  rec.timings_s["tissue"] = seconds_since(t_tissue);
  cancel.check();

  ScoredArea area = scored_area(req.rois, tissue);
  const std::vector<bool> outside = regions_outside(area.regions, plan.w0, plan.h0, rec.warnings);
  const bool rois_outside =
      !outside.empty() && std::all_of(outside.begin(), outside.end(), [](bool o) { return o; });
  const AreaScale scale{calibrated, (opened.mpp0 / tissue.sx) * (opened.mpp0_y / tissue.sy)};

  if (plan.stains_need_overview) {
    stains_in.thumb = thumb;
    stains_in.tissue = tissue.mask;
    record_stains(rec, settings.stains, resolve_stains(stains_in));
  }
  job.stains = settings.stains;

  const ImageTypeCheck type = check_image_type(thumb, settings.stains, tissue.mask);
  rec.image_type = type.name;
  rec.image_type_evidence = type.evidence;
  if (type.warning) rec.warnings.push_back(*type.warning);
  rec.timings_s["image_type"] = type.seconds;

  prepare_out_dir(req.out_dir);

  // ---- detection, streamed into the writers
  const auto t_detect = Clock::now();
  // A field filled with tissue has no glass for the tissue detector to contrast with, so its mask can be
  // empty although every pixel is tissue. A plain image is then detected whole and counted in field_area; a
  // slide (a field saved as a pyramidal TIFF) is detected in field_area's tiles. Either says so, or "no
  // tissue" when no cell is found.
  bool no_tissue = cv::countNonZero(area.mask) == 0;
  const bool field_fallback = no_tissue && req.rois.empty();
  const bool whole_field_area = plan.whole && field_fallback;
  std::string field_note;
  if (field_fallback) {
    no_tissue = false;
    if (!plan.whole) field_area(tissue, &field_note).copyTo(area.mask);
  }
  // A cell counts where the area does: on the tissue mask, whole image or tiles; a field (a mask that is
  // empty, or does not outline tissue on glass) keeps every cell.
  const bool filter_tissue = use_tissue && !field_fallback && tissue.outlines_glass;
  // ... and an image scored whole counts them in all of it that is not glass, so that Tissue area, the
  // densities and the overlay's outline describe the cells that count. The mask alone was 56 % of a SHIDC
  // field of tumour, whose cells all counted: Num Positive per mm^2 read 1.8x.
  if (plan.whole && req.rois.empty() && !field_fallback && !tissue.not_glass.empty())
    tissue.not_glass.copyTo(area.mask);
  // So regions on a field's pale tissue, which its mask misses, hold cells: detected, as they are among
  // regions on the mask (a region's count must not depend on the others).
  const bool regions_off_field_mask = no_tissue && plan.whole && !filter_tissue && !rois_outside;
  if (regions_off_field_mask) no_tissue = false;
  CellSink sink({.out_dir = req.out_dir,
                 .image_id = req.image_id,
                 .thumb = thumb,
                 .size0 = cv::Size2d(static_cast<double>(plan.w0), static_cast<double>(plan.h0)),
                 .area = &area,
                 .tissue = &tissue,
                 .rois = &req.rois,
                 .grading = grading,
                 .calibrated = calibrated,
                 .mpp_x = info.mpp_x,
                 .mpp_y = info.mpp_y});
  const DetectIn detect_in{.input = req.input.string(),
                           .decode_only = req.decode_only,
                           .on_progress = &req.on_progress,
                           .cancel = &cancel};
  Detected detected;
  if (no_tissue) {
    pool.shutdown();  // tiles started early are not needed
  } else if (regrade) {
    pool.shutdown();
    level0.release();
    detected.tiles_total = static_cast<int>(timing_of(*req.regrade_from, "tiles"));
    detected.analysed_px = timing_of(*req.regrade_from, "analysis_mpx") * 1e6;
    try {
      ResultCellsReader reader(aside->path("cells.csv"), aside->path("cells.geojson"));
      CellResults chunk;
      while (reader.next(chunk, kRegradeChunkCells)) {
        cancel.check();
        sink.consume(in_detection_columns(std::move(chunk), *req.regrade_from), false);
      }
    } catch (const ResultsError& e) {
      throw PipelineError("regrade", e.what());  // changed since it was checked
    }
  } else if (plan.whole) {
    detected = detect_whole(detect_in, std::move(level0), job, req.threads, filter_tissue, sink);
  } else {
    const std::vector<int> kept = tiles_touching(job, area.mask, tissue.sx, tissue.sy);
    detected = detect_tiles(detect_in, pool, job, kept, early_tiles, filter_tissue, sink);
    level0.release();
  }
  // --decode-only stops here, with or without tissue: the benchmark's record, not a scored slide's outputs.
  if (req.decode_only)
    return decode_only_record(std::move(rec), req.image_id, seconds_since(t_detect), detected);
  if (no_tissue) {
    if (!rois_outside)
      rec.warnings.push_back(req.rois.empty() ? "no tissue found" : "no tissue found inside the regions");
  }
  if (regions_off_field_mask && sink.total_counts().detections() == 0) {
    no_tissue = true;
    rec.warnings.push_back("no tissue found inside the regions");
  }
  if (field_fallback) {
    if (sink.total_counts().detections() == 0) {
      no_tissue = true;
      area.mask.setTo(0);
      rec.warnings.push_back("no tissue found and no cells detected");
    } else {
      if (whole_field_area) field_area(tissue, &field_note).copyTo(area.mask);
      rec.warnings.push_back(field_note);
    }
    sink.set_scored_area(area.mask);
  }
  rec.timings_s[regrade ? "regrade" : "detection"] = seconds_since(t_detect);
  if (regrade) rec.timings_s["read_cells"] = read_cells_s;
  cancel.check();

  // ---- scores and remaining outputs
  const auto t_write = Clock::now();
  std::future<double> overlay_s = write_overlay_async(sink.canvas(), req.out_dir / "overlay.png");
  const std::string status = slide_status(no_tissue, !req.rois.empty(), rois_outside, type.note, calibrated);
  const std::string region_no_tissue = slide_status(true, true, false, type.note, calibrated);
  const SlideScores scores = score_stage({.image_id = req.image_id,
                                          .status = status,
                                          .no_tissue = no_tissue,
                                          .row_mpp = calibrated ? info.mpp_x : kNaN,
                                          .score_opt = settings.score_opt,
                                          .sink = &sink,
                                          .area = &area,
                                          .tissue = &tissue,
                                          .scale = scale,
                                          .outside = outside,
                                          .no_tissue_status = region_no_tissue});
  for (const auto& w : scores.warnings) rec.warnings.push_back(w);
  if (std::string w = unmeasured_warning(sink.hist_values(), rec.scoring_measurement); !w.empty())
    rec.warnings.push_back(std::move(w));
  if (std::string w = nucleus_size_warning(sink.nucleus_areas(), calibrated, opened.mpp0, rec.mpp_source);
      !w.empty())
    rec.warnings.push_back(std::move(w));
  rec.total = scores.total;
  rec.regions = scores.regions;
  write_outputs({.out_dir = req.out_dir,
                 .sink = &sink,
                 .overlay_s = &overlay_s,
                 .status = status,
                 .detected = detected,
                 .t_start = t_start,
                 .t_write = t_write,
                 .cancel = &cancel},
                rec);
  if (aside) aside->discard();  // the new slide.json is written
  return rec;
}

namespace {

SlideStainEstimate stain_estimate_from(const ResolvedStains& r) {
  SlideStainEstimate e;
  e.matrix = r.matrix;
  e.source = r.source;
  e.failure = r.estimate_failure;
  e.warnings = r.warnings;
  if (r.estimate) {
    e.pixels_used = r.estimate->pixels_used;
    e.deviation_deg = r.estimate->deviation_deg;
    e.separation_deg = r.estimate->separation_deg;
    e.background_found = r.estimate->background.found;
  }
  return e;
}

// A slide's overview and tissue as score_slide finds them (open, plan, overview, overview_tissue), for the
// commands that report on a slide without scoring it.
struct SlideOverview {
  OpenedSlide opened;
  SlidePlan plan;
  StainsIn stains_in;
  Overview overview;
  TissueMap tissue;
};

SlideOverview slide_overview(const fs::path& input, const ParamSet& params, double mpp_override) {
  const Settings settings = read_settings(params);
  SlideOverview o;
  o.opened = open_stage({.input = input,
                         .mpp_override = mpp_override,
                         .requested_pixel_size_um = settings.det.requested_pixel_size_um,
                         .measurement = settings.grading.measurement});
  Slide& slide = *o.opened.slide;
  o.plan = plan_slide({.slide = &slide,
                       .calibrated = o.opened.calibrated,
                       .analysis_um = o.opened.analysis_um,
                       .mpp0 = o.opened.mpp0,
                       .overlay_max_px = params.get_int("overlay_max_px"),
                       .estimate_stains = params.get_bool("estimate_stains"),
                       .background = settings.background});
  o.stains_in = stains_input(settings, params, slide.info().plain_image());
  o.overview = read_overview_stage({.slide = &slide, .plan = &o.plan});
  o.tissue = overview_tissue(o.stains_in, o.overview.thumb, params, o.opened.calibrated, o.opened.mpp0,
                             o.plan, input.string());
  return o;
}

}  // namespace

SlideStainEstimate estimate_slide_stains(const fs::path& input, const ParamSet& given, double mpp_override) {
  ParamSet params = given;
  params.set("estimate_stains", "true", "stains estimate");
  SlideOverview o = slide_overview(input, params, mpp_override);
  o.stains_in.thumb = o.overview.thumb;
  o.stains_in.tissue = o.tissue.mask;
  SlideStainEstimate e = stain_estimate_from(resolve_stains(o.stains_in));
  // An H&E slide's "DAB" is eosin: said as score says it, before the string is pasted into QuPath.
  if (auto w = check_image_type(o.overview.thumb, e.matrix, o.tissue.mask).warning) e.warnings.push_back(*w);
  return e;
}

SlideStainEstimate image_stains(const cv::Mat& rgb, const ParamSet& params, double mpp,
                                const std::string& name) {
  const Settings settings = read_settings(params);
  const bool calibrated = mpp > 0;
  SlidePlan plan;
  plan.w0 = rgb.cols;
  plan.h0 = rgb.rows;
  plan.whole = true;
  plan.thumb_ds =
      std::max(1.0, static_cast<double>(std::max(rgb.cols, rgb.rows)) / params.get_int("overlay_max_px"));
  cv::Mat thumb = rgb;
  if (plan.thumb_ds > 1.0) {
    cv::resize(rgb, thumb,
               cv::Size(std::max(1, static_cast<int>(std::lround(rgb.cols / plan.thumb_ds))),
                        std::max(1, static_cast<int>(std::lround(rgb.rows / plan.thumb_ds)))),
               0, 0, cv::INTER_AREA);
  }
  StainsIn stains_in = stains_input(settings, params, true);
  const double mpp0 = calibrated ? mpp : settings.det.requested_pixel_size_um;
  const TissueMap tissue = overview_tissue(stains_in, thumb, params, calibrated, mpp0, plan, name);
  stains_in.thumb = thumb;
  stains_in.tissue = tissue.mask;
  return stain_estimate_from(resolve_stains(stains_in));
}

SlideTissue slide_tissue(const fs::path& input, const ParamSet& params, double mpp_override) {
  const SlideOverview o = slide_overview(input, params, mpp_override);
  const OpenedSlide& opened = o.opened;
  const TissueMap& tissue = o.tissue;
  const Overview& overview = o.overview;
  SlideTissue t;
  t.pieces = tissue.pieces;
  t.threshold_od = tissue.threshold_od;
  cv::Mat mask = tissue.mask;
  if (cv::countNonZero(mask) == 0) mask = field_area(tissue, &t.note);
  const AreaScale scale{opened.calibrated, (opened.mpp0 / tissue.sx) * (opened.mpp0_y / tissue.sy)};
  const int px = cv::countNonZero(mask);
  t.area_mm2 = scale.mm2(px);
  t.area_px0 = px / (tissue.sx * tissue.sy);
  t.fraction = mask.empty() ? 0.0 : px / static_cast<double>(mask.total());
  t.type = estimate_overview_image_type(overview.thumb, px > 0 ? mask : cv::Mat());
  return t;
}

// Reads the stamp cell_files_stamp writes: "cells.csv <bytes> <mtime ns>; cells.geojson <bytes> <mtime ns>".
std::optional<CellFileSizeChange> cell_file_size_change(const fs::path& out_dir,
                                                        const std::string& cells_files) {
  std::istringstream stamp(cells_files);
  for (std::string entry; std::getline(stamp, entry, ';');) {
    std::istringstream parts(entry);
    CellFileSizeChange c;
    if (!(parts >> c.name >> c.recorded)) continue;
    const auto st = file_stamp(out_dir / c.name);
    if (st && st->size != c.recorded) {
      c.size = st->size;
      return c;
    }
  }
  return std::nullopt;
}

}  // namespace ihc
