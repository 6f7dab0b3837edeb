#include "imaging/pipeline.hpp"

#include <openslide/openslide.h>
#include <sys/stat.h>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <future>
#include <map>
#include <mutex>
#include <opencv2/imgproc.hpp>
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
#include "models/scoring.hpp"

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

// The `background` parameter: "auto" (estimate from the glass of plain images), "white" or "R,G,B".
struct BackgroundChoice {
  bool automatic = false;
  bool fixed = false;
  std::array<double, 3> rgb{255.0, 255.0, 255.0};
};

BackgroundChoice parse_background(const std::string& text) {
  BackgroundChoice c;
  if (text == "auto") {
    c.automatic = true;
    return c;
  }
  if (text == "white") return c;
  double v[3];
  char c1 = 0, c2 = 0;
  std::istringstream in(text);
  if (!(in >> v[0] >> c1 >> v[1] >> c2 >> v[2]) || c1 != ',' || c2 != ',' || !(in >> std::ws).eof() ||
      !(v[0] >= 1 && v[0] <= 255 && v[1] >= 1 && v[1] <= 255 && v[2] >= 1 && v[2] <= 255)) {
    throw ParamError("background: '" + text + "' is not auto, white or R,G,B with each value in 1..255");
  }
  c.fixed = true;
  c.rgb = {v[0], v[1], v[2]};
  return c;
}

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
  return r;
}

// Region rasterised onto a mask grid (mask px = level-0 px * sx, sy).
cv::Mat rasterize(const Region& region, cv::Size size, double sx, double sy) {
  cv::Mat m(size, CV_8U, cv::Scalar(region.whole_slide ? 255 : 0));
  auto draw = [&](const Polygon& p, uchar value) {
    std::vector<std::vector<cv::Point>> rings;
    auto add = [&](const Ring& r) {
      std::vector<cv::Point> pts;
      for (const auto& q : r)
        pts.emplace_back(static_cast<int>(std::lround(q.x * sx)), static_cast<int>(std::lround(q.y * sy)));
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
  std::string error;
  bool cancelled = false;
};

}  // namespace

std::vector<ParamSpec> pipeline_param_specs() {
  std::vector<ParamSpec> s;
  s.push_back(spec(
      "stain_vectors", "Stain vectors", ParamType::String, "H-DAB", "",
      "Preset name (H-DAB, H-DAB Ruifrok) or QuPath's stain string {\"Name\" : ..., \"Values 1\" : ...}"));
  s.push_back(
      spec("estimate_stains", "Estimate stains per slide", ParamType::Bool, "false", "",
           "Estimate H and DAB vectors from each slide's tissue (Macenko); falls back to stain_vectors"));
  ParamSpec method =
      spec("stain_estimation", "Stain estimation method", ParamType::Choice, "Macenko", "",
           "Macenko: QuPath's method; 'Macenko + DAB edge fit': the DAB direction from the edge "
           "of the colour cloud (closer where every brown pixel is also blue; docs/stains.md)");
  method.choices = {"Macenko", "Macenko + DAB edge fit"};
  s.push_back(method);
  s.push_back(spec("background", "Background (glass) colour", ParamType::String, "auto", "",
                   "auto: estimated per image from flat bright glass for images of one level (camera images "
                   "are rarely white-balanced), 255 with a warning when there is no glass, and 255 for "
                   "pyramidal slides; white; or R,G,B"));
  s.push_back(spec("tissue_detection", "Detect tissue", ParamType::Bool, "true", "",
                   "Score whole slides on detected tissue only; false = the whole image"));
  s.push_back(spec("tissue_resolution_um", "Tissue resolution", ParamType::Double, "16", "um",
                   "Pixel size of the overview on which tissue is detected", 1, 200));
  ParamSpec overlay = spec("overlay_max_px", "Overlay size", ParamType::Int, "2048", "px",
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

void check_scoring_params(const ParamSet& params) {
  detection_params_from(params);
  grading_params_from(params);
  score_options_from(params);
  stains_from_text(params.get_string("stain_vectors"));
}

std::string params_hash(const ParamSet& params, const std::string& extra) {
  std::uint64_t h = 0xCBF29CE484222325ULL;
  auto mix = [&](const std::string& s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 0x100000001B3ULL;
    }
    h ^= 0xFF;
    h *= 0x100000001B3ULL;
  };
  for (const auto& [k, v] : params.values()) {
    // Threads change speed, never results.
    if (k == "threads") continue;
    mix(k);
    mix(v);
  }
  mix(extra);
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
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

SlideRecord score_slide(const ScoreSlideRequest& req, const ParamSet& params) {
  const auto t_start = Clock::now();
  SlideRecord rec;
  rec.image = req.image_id;
  rec.source = req.input.string();
  rec.params_hash = req.params_hash;
  rec.parameters = params.values();
  rec.started = utc_now();
  {
    struct stat st {};
    if (::stat(req.input.c_str(), &st) == 0) {
      rec.source_size = static_cast<std::int64_t>(st.st_size);
      rec.source_mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
    }
  }
  auto cancelled = [&] { return req.cancel != nullptr && req.cancel->load(); };
  auto check_cancel = [&] {
    if (cancelled()) throw PipelineCancelled(req.input.string() + ": cancelled");
  };

  // An older complete result must not survive a redo that is interrupted: slide.json goes first.
  std::error_code ec;
  fs::remove(req.out_dir / "slide.json", ec);

  DetectionParams det;
  GradingParams grading;
  ScoreOptions score_opt;
  StainMatrix stains;
  BackgroundChoice background_choice;
  try {
    det = detection_params_from(params);
    grading = grading_params_from(params);
    score_opt = score_options_from(params);
    stains = stains_from_text(params.get_string("stain_vectors"));
    background_choice = parse_background(params.get_string("background"));
  } catch (const std::exception& e) {
    throw PipelineError("parameters", e.what());
  }
  det.threads = 1;  // parallelism is over tiles here
  rec.scoring_measurement = grading.measurement;
  if (grading.mode == ThresholdMode::Single) {
    rec.thresholds = {grading.threshold_positive};
  } else {
    rec.thresholds = {grading.threshold_1plus, grading.threshold_2plus, grading.threshold_3plus};
  }

  // ---- open
  std::unique_ptr<Slide> slide;
  try {
    OpenOptions oo;
    oo.mpp_override = req.mpp_override;
    slide = open_slide(req.input, oo);
  } catch (const std::exception& e) {
    throw PipelineError("open", e.what());
  }
  const SlideInfo& info = slide->info();
  if (info.level_sizes.empty() || info.level_sizes[0].area() <= 0) {
    throw PipelineError("open", req.input.string() + ": the image has no pixels");
  }
  rec.format = info.format;
  rec.width = info.level_sizes[0].width;
  rec.height = info.level_sizes[0].height;
  rec.levels = info.level_count();
  rec.warnings = info.warnings;
  const bool calibrated = info.has_mpp() && info.mpp_x > 0;
  if (calibrated) {
    rec.mpp_x = info.mpp_x;
    rec.mpp_y = info.mpp_y;
    rec.mpp_source = info.mpp_source;
    det.requested_pixel_size_um =
        analysis_pixel_size_um(det.requested_pixel_size_um, info.mpp_x, info.downsamples);
    rec.analysis_mpp = det.requested_pixel_size_um;
  } else {
    rec.mpp_source = "none";
    rec.warnings.push_back(
        "no pixel size in the file and no --mpp: scored in pixels, micron columns left empty");
  }
  // Without a pixel size, sizes in um are applied as if one pixel were requested_pixel_size_um.
  const double mpp0 = calibrated ? info.mpp_x : det.requested_pixel_size_um;
  const double mpp0_y = calibrated ? info.mpp_y : det.requested_pixel_size_um;
  {
    const auto names = cell_measurement_names(calibrated);
    if (std::find(names.begin(), names.end(), grading.measurement) == names.end()) {
      std::string list;
      for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
      throw PipelineError("scoring", "score_measurement '" + grading.measurement +
                                         "' is not a cell measurement; available: " + list);
    }
  }
  rec.timings_s["open"] = seconds_since(t_start);
  check_cancel();

  // ---- overview: thumbnail for the overlay, tissue, stain estimation
  const auto t_tissue = Clock::now();
  const std::int64_t w0 = info.level_sizes[0].width, h0 = info.level_sizes[0].height;
  const int overlay_max = params.get_int("overlay_max_px");
  const double thumb_ds = std::max(1.0, static_cast<double>(std::max(w0, h0)) / overlay_max);
  const bool whole = info.level_count() == 1 && w0 * h0 <= kWholeImageMaxPixels;
  // Where tiles are read: the level nearest the analysis resolution.
  const double tile_ds = calibrated ? det.requested_pixel_size_um / mpp0 : 1.0;  // level-0 px per analysis px
  const int tile_level = slide->best_level_for_downsample(std::max(1.0, tile_ds));
  const int thumb_level = slide->best_level_for_downsample(thumb_ds);
  // ---- stains: the fixed vectors need the overview only for a plain image's glass colour, estimation needs
  // it always; otherwise they are known before the overview and tiles can start at once.
  const bool stains_need_overview =
      params.get_bool("estimate_stains") || (background_choice.automatic && info.level_count() == 1);
  auto resolve_stains = [&](const cv::Mat& thumb, const cv::Mat& tissue) {
    const auto t_stains = Clock::now();
    rec.stains_source = "preset/parameter stain_vectors";
    if (params.get_bool("estimate_stains")) {
      try {
        cv::Mat m;
        cv::resize(tissue, m, thumb.size(), 0, 0, cv::INTER_NEAREST);
        StainEstimationParams ep;
        ep.edge_fit = params.get_string("stain_estimation") != "Macenko";
        const StainEstimate est = estimate_stains(thumb, stains, ep, m);
        stains = est.matrix;
        stains.name = stains.name + " estimated";
        rec.stains_source = "estimated from the slide (" + params.get_string("stain_estimation") + ", " +
                            std::to_string(est.pixels_used) + " pixels)";
      } catch (const std::exception& e) {
        rec.warnings.push_back(std::string("stain estimation failed, used stain_vectors instead: ") +
                               e.what());
      }
    }
    if (!params.get_bool("estimate_stains") || rec.stains_source.rfind("estimated", 0) != 0) {
      // Background (I0 of Beer-Lambert) for the fixed vectors. Pyramidal slides are white-balanced by the
      // scanner; plain images come from cameras, where a yellow or grey cast adds false DAB to every pixel.
      std::array<double, 3> bg{255.0, 255.0, 255.0};
      std::string note = "white (255 255 255)";
      if (background_choice.fixed) {
        bg = background_choice.rgb;
        note = "parameter background";
      } else if (background_choice.automatic && info.level_count() == 1) {
        const BackgroundEstimate est = estimate_background(thumb);
        if (est.found) {
          bg = est.background;
          note = "estimated from " + std::to_string(est.bright_pixels) + " glass pixels";
        } else {
          note = "white (no glass found)";
          rec.warnings.push_back(
              "background: no glass (flat bright pixels) found to estimate it from; used white 255 255 255. "
              "If the image has a colour cast, give --set background=R,G,B");
        }
      }
      stains =
          StainMatrix::from_vectors(stains.name, stains.stains[0], stains.stains[1], &stains.stains[2], bg);
      char buf[96];
      std::snprintf(buf, sizeof buf, "; background %.0f %.0f %.0f, ", bg[0], bg[1], bg[2]);
      rec.stains_source += buf + note;
    }
    rec.stains = to_qupath_string(stains);
    rec.timings_s["stains"] = seconds_since(t_stains);
  };

  // Level 0 decoded once when the overview reads it whole anyway and detection reads it too (plain images,
  // small slides): the overview and the tiles are cut from it instead of decoding it twice (cmu: the
  // decode was ~0.2 s of a 1.4 s slide).
  cv::Mat level0;
  const bool keep_level0 =
      whole || (tile_level == 0 && thumb_level == 0 && w0 * h0 <= kOverviewWholeLevelMaxPixels);
  if (!stains_need_overview) resolve_stains(cv::Mat(), cv::Mat());

  // ---- tiles (pyramidal and large slides): at the analysis resolution, with detection's overlap, each cell
  // kept by the tile whose core holds its centroid. Workers take positions of `order` (grid indices) in turn
  // and may run at most `window` positions ahead of the writer, so memory holds at most `window` tiles of
  // cells whatever the slide size, and output order (and cell ids) is deterministic.
  const int overlap = detection_overlap_px(det);
  const double level_ds = info.downsamples[static_cast<std::size_t>(tile_level)];
  std::vector<TileSpec> grid_tiles;
  if (!whole) {
    const cv::Size grid(std::max(1, static_cast<int>(std::ceil(w0 / tile_ds))),
                        std::max(1, static_cast<int>(std::ceil(h0 / tile_ds))));
    grid_tiles = make_tiles(grid, det.tile_size_px, overlap);
  }
  const int threads = std::max(1, req.threads);
  const int window = 2 * threads + 2;
  std::mutex mu;
  std::condition_variable cv_work, cv_done;
  std::map<int, TileResult> ready;  // by position in `order`
  std::vector<int> order;
  std::vector<char> wanted;  // per grid tile, once `selected`: it touches the area scored
  bool selected = false;
  int next_tile = 0;
  int written = 0;
  bool stop = false;
  auto worker = [&] {
    for (;;) {
      int pos = 0;
      bool skip = false;
      {
        std::unique_lock<std::mutex> lock(mu);
        const int n = static_cast<int>(order.size());
        cv_work.wait(lock, [&] { return stop || next_tile >= n || next_tile < written + window; });
        if (stop || next_tile >= n) return;
        pos = next_tile++;
        skip = selected && !wanted[static_cast<std::size_t>(order[static_cast<std::size_t>(pos)])];
      }
      TileResult res;
      if (!skip) {
        try {
          if (cancelled()) throw PipelineCancelled("cancelled");
          const TileSpec& tile = grid_tiles[static_cast<std::size_t>(order[static_cast<std::size_t>(pos)])];
          const auto x0 = static_cast<std::int64_t>(std::floor(tile.padded.x * tile_ds));
          const auto y0 = static_cast<std::int64_t>(std::floor(tile.padded.y * tile_ds));
          const int wl = std::max(1, static_cast<int>(std::lround(tile.padded.width * tile_ds / level_ds)));
          const int hl = std::max(1, static_cast<int>(std::lround(tile.padded.height * tile_ds / level_ds)));
          const cv::Mat rgb = level0.empty() ? slide->read_region(x0, y0, tile_level, wl, hl)
                                             : crop_level0(level0, x0, y0, wl, hl);
          if (!req.decode_only) {
            DetectionRegion where;
            where.origin = {static_cast<double>(x0), static_cast<double>(y0)};
            where.scale_to_level0 = level_ds;
            // Only the core's cells are kept (below): the rest of the padded tile is context.
            where.keep = scale_rect_outward(cv::Rect(tile.core.tl() - tile.padded.tl(), tile.core.size()),
                                            static_cast<double>(rgb.cols) / tile.padded.width,
                                            static_cast<double>(rgb.rows) / tile.padded.height);
            // The padded tile is detected as one piece: with the configured tile size detect_cells would cut
            // it into four overlapping sub-tiles and process about twice the pixels.
            DetectionParams tile_det = det;
            tile_det.tile_size_px = std::max(tile.padded.width, tile.padded.height) + 2;
            tile_det.threads = 1;
            CellTable cells = detect_cells(rgb, calibrated ? mpp0 * level_ds : kNaN, stains, tile_det, where);
            // Keep the cells whose centroid is in this tile's core (level-0 half-open box).
            const double cx0 = tile.core.x * tile_ds, cy0 = tile.core.y * tile_ds;
            const double cx1 = (tile.core.x + tile.core.width) * tile_ds,
                         cy1 = (tile.core.y + tile.core.height) * tile_ds;
            CellTable core;
            core.names = cells.names;
            core.columns.resize(cells.names.size());
            for (std::size_t i = 0; i < cells.size(); ++i) {
              const auto& p = cells.cells[i].centroid;
              if (p.x < cx0 || p.x >= cx1 || p.y < cy0 || p.y >= cy1) continue;
              core.cells.push_back(std::move(cells.cells[i]));
              for (std::size_t j = 0; j < cells.names.size(); ++j)
                core.columns[j].push_back(cells.columns[j][i]);
            }
            res.cells = std::move(core);
          }
        } catch (const PipelineCancelled&) {
          res.cancelled = true;
        } catch (const std::exception& e) {
          res.error = e.what();
        }
      }
      {
        std::lock_guard<std::mutex> lock(mu);
        ready[pos] = std::move(res);
      }
      cv_done.notify_all();
    }
  };
  std::vector<std::thread> pool;
  auto start_pool = [&] {
    for (int i = 0; i < std::min(threads, std::max(1, static_cast<int>(order.size()))); ++i)
      pool.emplace_back(worker);
  };
  auto shutdown = [&] {
    {
      std::lock_guard<std::mutex> lock(mu);
      stop = true;
    }
    cv_work.notify_all();
    for (auto& th : pool) th.join();
    pool.clear();
  };
  struct JoinOnExit {
    std::function<void()> f;
    ~JoinOnExit() { f(); }
  } join_on_exit{shutdown};
  // A small slide starts its tiles now, in grid order, while the overview is read and tissue detected (OS-2
  // reads level 0 for its overview, ~0.2 s, and its one tile from level 1); tiles found outside the tissue
  // are then dropped, unused if already detected, skipped if not. At most the tiles detected during the
  // overview are wasted. A large slide waits for the tissue mask: its first grid tiles are mostly glass, and
  // workers bounded by a window of grid positions would keep fewer tissue tiles in flight. --decode-only
  // reads the tissue tiles only: the floor scoring is compared with.
  const bool early_tiles = !req.decode_only && !whole && !keep_level0 && !stains_need_overview &&
                           !grid_tiles.empty() && static_cast<int>(grid_tiles.size()) <= kEarlyTilesMaxGrid;
  if (early_tiles) {
    for (int g = 0; g < static_cast<int>(grid_tiles.size()); ++g) order.push_back(g);
    start_pool();
  }

  cv::Mat thumb;
  try {
    const auto t_read = Clock::now();
    if (keep_level0) {
      level0 = slide->read_level(0, kWholeImageMaxPixels);
      thumb = overview_from(info, 0, thumb_ds, [&](std::int64_t x, std::int64_t y, int, int w, int h) {
        return crop_level0(level0, x, y, w, h);
      });
    } else {
      thumb = read_overview(*slide, thumb_ds);
    }
    rec.timings_s["overview_read"] = seconds_since(t_read);
  } catch (const std::exception& e) {
    throw PipelineError("open", e.what());
  }
  const double thumb_sx = static_cast<double>(thumb.cols) / w0;  // thumbnail px per level-0 px
  const double thumb_sy = static_cast<double>(thumb.rows) / h0;
  const bool use_tissue = params.get_bool("tissue_detection");
  cv::Mat tissue;  // CV_8U over the whole image
  double tissue_sx = thumb_sx, tissue_sy = thumb_sy;
  if (use_tissue) {
    try {
      const double target_um = params.get_double("tissue_resolution_um");
      const double thumb_um = mpp0 / thumb_sx;
      cv::Mat overview = thumb;
      if (thumb_um < target_um) {
        const double f = thumb_um / target_um;
        cv::resize(thumb, overview,
                   cv::Size(std::max(1, static_cast<int>(std::lround(thumb.cols * f))),
                            std::max(1, static_cast<int>(std::lround(thumb.rows * f)))),
                   0, 0, cv::INTER_AREA);
      }
      TissueParams tp;
      tp.um_per_px = mpp0 * w0 / overview.cols;
      const auto t_detect_tissue = Clock::now();
      const TissueResult tr = detect_tissue(overview, tp);
      rec.timings_s["tissue_detection"] = seconds_since(t_detect_tissue);
      tissue = tr.mask;
      tissue_sx = static_cast<double>(tissue.cols) / w0;
      tissue_sy = static_cast<double>(tissue.rows) / h0;
    } catch (const std::exception& e) {
      throw PipelineError("tissue", req.input.string() + ": tissue detection failed: " + e.what());
    }
  } else {
    tissue = cv::Mat(thumb.size(), CV_8U, cv::Scalar(255));
  }
  rec.timings_s["tissue"] = seconds_since(t_tissue);
  check_cancel();

  // Regions (ROIs) and the area everything is counted in.
  std::vector<Region> regions;
  Region total_region = Region::everything();
  if (!req.rois.empty()) {
    regions = regions_from_annotations(req.rois);
    total_region = union_region_from_annotations(req.rois, "All regions");
  }
  cv::Mat area_mask = tissue.clone();
  if (!total_region.whole_slide || !total_region.exclude.empty()) {
    cv::bitwise_and(area_mask, rasterize(total_region, tissue.size(), tissue_sx, tissue_sy), area_mask);
  }
  const double mask_px_area_um2 = (mpp0 / tissue_sx) * (mpp0_y / tissue_sy);
  auto area_mm2 = [&](const cv::Mat& m) {
    return calibrated ? cv::countNonZero(m) * mask_px_area_um2 / 1e6 : kNaN;
  };

  if (stains_need_overview) resolve_stains(thumb, tissue);

  // A slide of another stain gives "DAB" scores of eosin (H&E) or of noise (fluorescence): scored all the
  // same, but its status says so, in the summary and on the progress line.
  std::string type_note;
  {
    const auto t_type = Clock::now();
    const ImageTypeEstimate it =
        estimate_image_type(thumb, stains.background, cv::countNonZero(tissue) > 0 ? tissue : cv::Mat());
    rec.image_type = image_type_name(it.type);
    rec.image_type_evidence = it.summary;
    const ImageTypeWarning w = image_type_warning(it.type);
    if (!w.looks_like.empty()) {
      type_note = "; " + w.looks_like + " (" + w.check + ")";
      rec.warnings.push_back("image type: " + w.looks_like + " (" + it.summary + "): " + w.consequence);
    }
    rec.timings_s["image_type"] = seconds_since(t_type);
  }

  const std::string pixels_note = calibrated ? "" : "; scored in pixels (no mpp, give --mpp)";
  fs::create_directories(req.out_dir, ec);
  try {
    ensure_directory(req.out_dir);
  } catch (const std::exception& e) {
    throw PipelineError("write", e.what());
  }
  remove_stale_temp_files(req.out_dir);

  // ---- detection, streamed into the writers
  const auto t_detect = Clock::now();
  // Plain images are scored whole: a field filled with tissue has no glass for the tissue detector to
  // contrast with, so its mask can be empty although every pixel is tissue. Only whole slides are gated by
  // tissue.
  bool no_tissue = cv::countNonZero(area_mask) == 0;
  const bool whole_field_area = whole && no_tissue && req.rois.empty();
  if (whole_field_area) no_tissue = false;
  std::vector<float> hist_values;
  GradeCounts total_counts;
  std::vector<GradeCounts> region_counts(regions.size());
  std::int64_t next_id = 0;
  OverlayCanvas canvas(thumb, cv::Size2d(static_cast<double>(w0), static_cast<double>(h0)));
  canvas.set_tissue_mask(area_mask);
  for (const auto& a : req.rois) {
    for (const auto& p : a.polygons) canvas.add_outline(p.outer);
  }
  CellsFileOptions cell_opt;
  cell_opt.uuid_seed = slide_uuid_seed(req.image_id);
  if (calibrated) {
    cell_opt.mpp_x = info.mpp_x;
    cell_opt.mpp_y = info.mpp_y;
  }
  AtomicFile csv_file(req.out_dir / "cells.csv");
  AtomicFile geo_file(req.out_dir / "cells.geojson");
  CellsCsvWriter csv(csv_file, cell_opt);
  CellsGeoJsonWriter geo(geo_file, cell_opt);

  // Keeps the cells of a chunk that count (region, tissue for slides), numbers them, grades and writes them.
  auto consume = [&](CellTable&& table, bool filter_tissue) {
    if (table.size() == 0) return;
    std::vector<std::uint8_t> keep(table.size(), 1);
    const std::vector<std::uint8_t> in_total = cells_in_region(table, total_region);
    bool all = true;
    for (std::size_t i = 0; i < table.size(); ++i) {
      bool k = in_total[i] != 0;
      if (k && filter_tissue) {
        const int mx = static_cast<int>(table.cells[i].centroid.x * tissue_sx);
        const int my = static_cast<int>(table.cells[i].centroid.y * tissue_sy);
        k = mx >= 0 && my >= 0 && mx < tissue.cols && my < tissue.rows && tissue.at<uchar>(my, mx) != 0;
      }
      keep[i] = k;
      all = all && k;
    }
    if (!all) {
      CellTable kept;
      kept.names = table.names;
      kept.columns.resize(table.names.size());
      for (std::size_t i = 0; i < table.size(); ++i) {
        if (!keep[i]) continue;
        kept.cells.push_back(std::move(table.cells[i]));
        for (std::size_t j = 0; j < table.names.size(); ++j) kept.columns[j].push_back(table.columns[j][i]);
      }
      table = std::move(kept);
    }
    if (table.size() == 0) return;
    for (auto& c : table.cells) c.id = ++next_id;
    std::vector<CellClass> classes;
    try {
      classes = grade_cells(table, grading);
    } catch (const std::exception& e) {
      throw PipelineError("scoring", e.what());
    }
    total_counts += count_classes(classes);
    for (std::size_t r = 0; r < regions.size(); ++r) {
      region_counts[r] += count_classes(classes, cells_in_region(table, regions[r]));
    }
    const int col = table.column(grading.measurement);
    if (col >= 0) hist_values.insert(hist_values.end(), table.columns[col].begin(), table.columns[col].end());
    csv.append(table, classes);
    geo.append(table, classes);
    canvas.add_cells(table, classes);
  };

  int tiles_total = 0;
  double analysed_px = 0;  // pixels at the analysis resolution that went through detection
  if (no_tissue) {
    shutdown();  // tiles started early are not needed
    rec.warnings.push_back(req.rois.empty() ? "no tissue found" : "no tissue found inside the regions");
  } else if (whole) {
    cv::Mat rgb = std::move(level0);
    check_cancel();
    tiles_total = 1;
    const double f = calibrated ? info.mpp_x / det.requested_pixel_size_um : 1.0;
    analysed_px = static_cast<double>(rgb.total()) * f * f;
    if (req.decode_only) {
      rec.timings_s["detection"] = seconds_since(t_detect);
      rec.timings_s["tiles"] = 1;
      rec.timings_s["analysis_mpx"] = analysed_px / 1e6;
      rec.status = rec.total.status = "decode only";
      rec.total.image = req.image_id;
      return rec;
    }
    if (req.on_progress) req.on_progress(0, 1);
    CellTable table;
    try {
      DetectionParams whole_det = det;
      whole_det.threads = std::max(1, req.threads);
      table = detect_cells(rgb, calibrated ? info.mpp_x : kNaN, stains, whole_det);
    } catch (const std::exception& e) {
      throw PipelineError("detection", req.input.string() + ": " + e.what());
    }
    rgb.release();
    check_cancel();
    consume(std::move(table), false);
    if (req.on_progress) req.on_progress(1, 1);
  } else {
    // The tiles that touch the area scored.
    std::vector<char> want(grid_tiles.size(), 0);
    std::vector<int> kept;
    for (std::size_t g = 0; g < grid_tiles.size(); ++g) {
      const TileSpec& t = grid_tiles[g];
      const cv::Rect m(static_cast<int>(std::floor(t.core.x * tile_ds * tissue_sx)),
                       static_cast<int>(std::floor(t.core.y * tile_ds * tissue_sy)),
                       static_cast<int>(std::ceil(t.core.width * tile_ds * tissue_sx)) + 1,
                       static_cast<int>(std::ceil(t.core.height * tile_ds * tissue_sy)) + 1);
      const cv::Rect clipped = m & cv::Rect(0, 0, area_mask.cols, area_mask.rows);
      if (!clipped.empty() && cv::countNonZero(area_mask(clipped)) > 0) {
        want[g] = 1;
        kept.push_back(static_cast<int>(g));
      }
    }
    tiles_total = static_cast<int>(kept.size());
    const int n = tiles_total;
    {
      std::lock_guard<std::mutex> lock(mu);
      wanted = std::move(want);
      selected = true;
    }
    if (!early_tiles) {
      order = kept;
      start_pool();
    }
    const int positions = static_cast<int>(order.size());
    if (req.on_progress) req.on_progress(0, n);
    int done = 0;  // kept tiles written
    for (int pos = 0; pos < positions; ++pos) {
      TileResult res;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv_done.wait(lock, [&] { return ready.count(pos) > 0; });
        res = std::move(ready[pos]);
        ready.erase(pos);
      }
      if (wanted[static_cast<std::size_t>(order[static_cast<std::size_t>(pos)])]) {
        if (res.cancelled) throw PipelineCancelled(req.input.string() + ": cancelled");
        if (!res.error.empty()) {
          throw PipelineError("detection", req.input.string() + ": tile " + std::to_string(done + 1) +
                                               " of " + std::to_string(n) + ": " + res.error);
        }
        consume(std::move(res.cells), use_tissue);
        ++done;
      }
      {
        std::lock_guard<std::mutex> lock(mu);
        written = pos + 1;
      }
      cv_work.notify_all();
      if (req.on_progress && done > 0) req.on_progress(done, n);
    }
    shutdown();
    level0.release();
    // Tissue megapixels at the analysis resolution: the tile cores that were read.
    std::int64_t core_px = 0;
    for (int g : kept) core_px += grid_tiles[static_cast<std::size_t>(g)].core.area();
    analysed_px = static_cast<double>(core_px);
    if (req.decode_only) {
      rec.timings_s["detection"] = seconds_since(t_detect);
      rec.timings_s["tiles"] = tiles_total;
      rec.timings_s["analysis_mpx"] = analysed_px / 1e6;
      rec.status = rec.total.status = "decode only";
      rec.total.image = req.image_id;
      return rec;
    }
  }
  if (whole_field_area) {
    if (total_counts.detections() == 0) {
      no_tissue = true;
      rec.warnings.push_back("no tissue found and no cells detected");
    } else {
      area_mask.setTo(255);
      rec.warnings.push_back(
          "tissue detection found no glass/tissue contrast: tissue area is the whole image");
    }
  }
  rec.timings_s["detection"] = seconds_since(t_detect);
  check_cancel();

  // ---- scores and remaining outputs
  const auto t_write = Clock::now();
  // overlay.png (render and PNG encoding, the largest output of a small slide) is made on another thread
  // while the cell files are finished.
  double overlay_s = 0;
  std::future<void> overlay = std::async(std::launch::async, [&] {
    const auto t_overlay = Clock::now();
    write_png_atomic(req.out_dir / "overlay.png", canvas.render());
    overlay_s = seconds_since(t_overlay);
  });
  const double row_mpp = calibrated ? info.mpp_x : kNaN;
  std::string status = no_tissue ? std::string(req.rois.empty() ? "no tissue found" : "no tissue in regions")
                                 : std::string("ok");
  status += type_note + pixels_note;
  const Scores scores = compute_scores(total_counts, score_opt);
  for (const auto& w : scores.warnings) rec.warnings.push_back(w);
  rec.total = to_row(req.image_id, scores, area_mm2(area_mask), row_mpp, status);
  if (no_tissue) {
    // Empty, not zero: nothing was there to score.
    for (double* v : {&rec.total.positive_pct, &rec.total.h_score, &rec.total.intensity_score,
                      &rec.total.ixp_score, &rec.total.allred_score, &rec.total.irs}) {
      *v = kNaN;
    }
  }
  for (std::size_t r = 0; r < regions.size(); ++r) {
    cv::Mat m;
    cv::bitwise_and(tissue, rasterize(regions[r], tissue.size(), tissue_sx, tissue_sy), m);
    const Scores rs = compute_scores(region_counts[r], score_opt);
    ScoreRow row = to_row(req.image_id, rs, area_mm2(m), row_mpp, status);
    row.region = regions[r].name;
    rec.regions.push_back(std::move(row));
  }
  try {
    csv.finish();
    geo.finish();
    csv_file.commit();
    geo_file.commit();
    rec.timings_s["write_cells"] = seconds_since(t_write);
    const auto t_histogram = Clock::now();
    write_png_atomic(req.out_dir / "histogram.png",
                     render_histogram(hist_values, grading.measurement, rec.thresholds));
    rec.timings_s["write_histogram"] = seconds_since(t_histogram);
    overlay.get();
    rec.timings_s["write_overlay"] = overlay_s;
    rec.files = {"cells.csv", "cells.geojson", "overlay.png", "histogram.png", "slide.json"};
    rec.timings_s["write"] = seconds_since(t_write);
    rec.timings_s["total"] = seconds_since(t_start);
    rec.timings_s["tiles"] = tiles_total;
    rec.timings_s["analysis_mpx"] = analysed_px / 1e6;
    rec.status = status;
    rec.finished = utc_now();
    check_cancel();
    write_file_atomic(req.out_dir / "slide.json", slide_json_text(rec));
  } catch (const PipelineCancelled&) {
    throw;
  } catch (const std::exception& e) {
    throw PipelineError("write", e.what());
  }
  return rec;
}

}  // namespace ihc
