// ihcview: the slide, its tiles and textures, and the helpers the other parts share.
#include "gui/viewer.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <opencv2/imgproc.hpp>

#include "imaging/cell_detection.hpp"
#include "imaging/image_type.hpp"
#include "imaging/pipeline.hpp"
#include "models/atomic_file.hpp"
#include "models/presets.hpp"

namespace ihc::gui {

// Binds `tex` and (re)defines its image: clamped edges, `filter` both ways, rows byte-aligned. `data` may be
// null (a render target).
void define_texture(GLuint tex, GLint filter, GLint internal_format, GLenum format, int width, int height,
                    const void* data) {
  glBindTexture(GL_TEXTURE_2D, tex);
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, filter);
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, filter);
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_S, GL_CLAMP_TO_EDGE);
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_T, GL_CLAMP_TO_EDGE);
  glPixelStorei(GL_UNPACK_ALIGNMENT, 1);
  glTexImage2D(GL_TEXTURE_2D, 0, internal_format, width, height, 0, format, GL_UNSIGNED_BYTE, data);
}

ImU32 class_colour(CellClass c, int alpha) {
  const std::uint32_t rgb = class_color_rgb(c);
  return IM_COL32((rgb >> 16) & 0xFF, (rgb >> 8) & 0xFF, rgb & 0xFF, alpha);
}

namespace {

// Lists kept in ~/.config/ihcview, newest first: "recent.txt" (slides opened), "results_roots.txt" (output
// folders results were loaded from, where a slide opened later looks for its own).
std::filesystem::path config_file(const char* name) {
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home ? home : ".") / ".config" / "ihcview" / name;
}

}  // namespace

std::vector<std::string> read_list(const char* name) {
  std::vector<std::string> out;
  std::ifstream in(config_file(name));
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

void remember_in(const char* name, const std::filesystem::path& p, std::size_t keep) {
  auto list = read_list(name);
  const std::string s = std::filesystem::absolute(p).lexically_normal().string();
  if (!list.empty() && list.front() == s) return;
  list.erase(std::remove(list.begin(), list.end(), s), list.end());
  list.insert(list.begin(), s);
  if (list.size() > keep) list.resize(keep);
  std::string text;
  for (const auto& l : list) text += l + "\n";
  try {
    write_file_atomic(config_file(name), text);
  } catch (const std::exception&) {
    // A read-only home must not stop the viewer.
  }
}

std::vector<std::string> read_recent() { return read_list("recent.txt"); }
void remember_recent(const std::filesystem::path& p) { remember_in("recent.txt", p, 10); }

ParamSet params_over_preset(const std::string& preset, const std::filesystem::path& file) {
  ParamSet p = default_params(preset);
  if (!file.empty()) p.load_file(file.string());
  check_scoring_params(p);
  return p;
}

Viewer::Viewer(const ViewerOptions& o, const ParamSet& start) : opt_(o) {
  for (auto specs : {detection_param_specs(), pipeline_param_specs()}) {
    for (auto& spec : specs) form_.specs.push_back(std::move(spec));
  }
  form_.preset = opt_.preset.empty() ? default_preset_name() : opt_.preset;
  form_.values = start;
  form_.source = "preset " + form_.preset;
  if (!opt_.params_file.empty()) {
    form_.source += " + " + opt_.params_file.filename().string();
    form_.path = opt_.params_file.string();
  }
  // The preset's (or file's) grading, not GradingParams' defaults: `--preset ki67` grades nuclei.
  live_thresholds_ = grading_params_from(start);
  editor_.reset(fresh_review());
}

// ------------------------------------------------------------------------------------------------ slide

void Viewer::close_slide() {
  // Background reads of this slide finish before it goes; their results belonged to it.
  if (estimating_.valid()) estimating_.wait();
  estimating_ = {};
  if (typing_.valid()) typing_.wait();
  typing_ = {};
  slide_image_type_.clear();
  loader_.reset();  // joins the workers before the cache goes
  cache_.reset();
  for (auto& [k, t] : textures_) glDeleteTextures(1, &t.id);
  textures_.clear();
  if (class_tex_.id != 0) glDeleteTextures(1, &class_tex_.id);
  class_tex_ = {};
  clear_overlay();
  for (GLuint t : overlay_free_) glDeleteTextures(1, &t);
  overlay_free_.clear();
  view_tiles_drawn_ = false;
  uploads_deferred_ = false;
  failures_seen_ = 0;
  texture_bytes_ = 0;
  wanted_.clear();
  slide_.reset();
}

bool Viewer::open(const std::filesystem::path& path, bool find) {
  std::unique_ptr<Slide> s;
  try {
    s = open_slide(path);
  } catch (const std::exception& e) {
    message_ = e.what();
    std::fprintf(stderr, "ihcview: %s\n", e.what());
    return false;
  }
  if (!may_leave()) {
    close_.leave = Leave{path, find, std::nullopt};
    return true;  // opened once the dialog lets the review go
  }
  close_slide();
  open_time_ = Clock::now();
  first_full_view_ms_ = -1.0;
  read_error_.clear();
  slide_ = std::move(s);
  slide_path_ = path;
  const SlideInfo& info = slide_->info();
  geometry_ = display_pyramid(info.level_sizes, info.downsamples, kTileSize);
  limits_.slide_size = {static_cast<double>(info.level_sizes[0].width),
                        static_cast<double>(info.level_sizes[0].height)};
  limits_.max_downsample = std::max(4.0, info.downsamples.back() * 4);
  coarsest_ = static_cast<int>(geometry_.level_sizes.size()) - 1;
  cache_ = std::make_unique<TileCache>(kTileCacheBytes);
  Slide* raw = slide_.get();
  const PyramidGeometry g = geometry_;
  loader_ = std::make_unique<TileLoader>(
      [raw, g](const TileKey& k) {
        const SourceRegion src = source_region(g, k);
        cv::Mat rgb = raw->read_region(src.x, src.y, src.level, src.size.width, src.size.height);
        if (src.size == src.tile_size) return rgb;
        // A resampled level: the same area from the finer slide level, averaged down (no aliasing).
        cv::Mat out;
        cv::resize(rgb, out, src.tile_size, 0, 0, cv::INTER_AREA);
        return out;
      },
      *cache_, 2, [] { wake_ui(); });
  loader_->pin_level(coarsest_);
  layout();
  fit(view_, limits_);
  // The coarsest level stays resident (pinned) so there is never a black screen; huge single-level images
  // pin only their first tiles.
  auto coarse = all_tiles(geometry_, coarsest_);
  if (coarse.size() > 64) coarse.resize(64);
  loader_->request(coarse, true);
  typing_ = std::async(std::launch::async, [raw] {
    ImageTypeEstimate t = estimate_slide_image_type(*raw);
    wake_ui();  // wakes the UI loop to show it
    return t;
  });
  remember_recent(path);
  recent_ = read_recent();
  message_ = "Opened " + path.filename().string();
  // The last slide's result folder is not this one's: scoring would write this slide's cells into it.
  results_dir_.clear();
  review_stamp_.reset();
  review_hash_.reset();
  conflict_path_.clear();
  results_record_ = {};
  update_pixel_size();
  results_rescored_ = false;
  batch_rois_ = {};
  score_options_ = {};
  results_ = {};
  grid_ = {};
  state_ = {};
  ++cells_version_;
  ++selection_version_;
  selection_.clear();
  editor_.reset(fresh_review());
  saved_revision_ = editor_.revision();
  if (window_ != nullptr) glfwSetWindowTitle(window_, ("ihcview - " + path.filename().string()).c_str());
  if (find) find_own_results();
  return true;
}

void Viewer::update_pixel_size() {
  pixel_size_ = {};
  if (!slide_) return;
  const SlideInfo& i = slide_->info();
  if (i.has_mpp()) {
    pixel_size_ = {i.mpp_x, i.mpp_y, i.mpp_source};
  } else if (std::isfinite(results_record_.mpp_x) && results_record_.mpp_x > 0) {
    // The cells' microns and the batch's densities were computed with it; a different --mpp here would
    // mislabel them.
    const double y = std::isfinite(results_record_.mpp_y) ? results_record_.mpp_y : results_record_.mpp_x;
    pixel_size_ = {results_record_.mpp_x, y, "results: " + results_record_.mpp_source};
    if (opt_.mpp > 0 && std::abs(opt_.mpp - results_record_.mpp_x) > 1e-9) {
      std::fprintf(stderr, "ihcview: --mpp %g ignored: the results were scored at %g um/px (%s)\n", opt_.mpp,
                   results_record_.mpp_x, results_record_.mpp_source.c_str());
    }
  } else if (opt_.mpp > 0) {
    pixel_size_ = {opt_.mpp, opt_.mpp, "--mpp"};
  }
}

void Viewer::layout() {
  int w = opt_.width, h = opt_.height;
  if (window_ != nullptr) glfwGetWindowSize(window_, &w, &h);
  view_.canvas = {0, 0, std::max(100.0, w - static_cast<double>(kPanelWidth)),
                  std::max(100.0, h - static_cast<double>(kStatusHeight))};
}

DisplaySettings Viewer::display_settings() const {
  return {static_cast<int>(channel_), stains_, brightness_, contrast_};
}

TileKey Viewer::display_key(const TileKey& k) const {
  if (channel_ == Channel::Rgb && brightness_ == 0.0f && contrast_ == 1.0f) return k.rgb();
  return {k.level, k.tx, k.ty, static_cast<int>(channel_), display_version_};
}

void Viewer::rebuild_stains() {
  try {
    StainVector h{stains_.stains[0].name, {stain_edit_[0][0], stain_edit_[0][1], stain_edit_[0][2]}};
    StainVector d{stains_.stains[1].name, {stain_edit_[1][0], stain_edit_[1][1], stain_edit_[1][2]}};
    stains_ = StainMatrix::from_vectors("edited", h, d, nullptr, stains_.background);
    stain_message_.clear();
    ++display_version_;
  } catch (const std::exception& e) {
    stain_message_ = e.what();
  }
}

GLuint Viewer::texture_for(const TileKey& k) {
  auto it = textures_.find(k);
  if (it != textures_.end() && it->second.version == display_version_) {
    it->second.last_used = frame_;
    return it->second.id;
  }
  // Until this display's pixels arrive an older texture (RGB or the previous channel) stays on screen.
  const GLuint stale = it != textures_.end() ? it->second.id : 0;
  if (uploads_left_ <= 0) {
    // Pixels that are ready wait for the next frame's uploads: whatever was drawn from the stale texture (a
    // cached overlay tile) is drawn again then. Nothing else would wake it: they are in the cache already, so
    // no reader reports them (a `wait` after a channel round trip ran to its 2-minute timeout).
    uploads_deferred_ |=
        cache_->contains(display_key(k)) || (stale == 0 && k.level == coarsest_ && cache_->contains(k.rgb()));
    return stale;
  }
  // Only finished pixels are uploaded here: channel tiles are rendered by the loader's workers.
  cv::Mat px = cache_->get(display_key(k));
  std::uint64_t version = display_version_;
  if (px.empty() && stale == 0 && k.level == coarsest_) {
    // No black screen: the pinned RGB coarse tile stands in until the channel's arrives.
    px = cache_->get(k.rgb());
    version = 0;
  }
  if (px.empty()) return stale;
  --uploads_left_;
  ++slide_updates_;
  if (!px.isContinuous()) px = px.clone();
  Texture t = it != textures_.end() ? it->second : Texture{};
  if (t.id == 0) glGenTextures(1, &t.id);
  define_texture(t.id, GL_LINEAR, GL_RGB8, GL_RGB, px.cols, px.rows, px.data);
  if (it != textures_.end()) texture_bytes_ -= t.bytes;
  t.bytes = static_cast<std::size_t>(px.cols) * px.rows * 4;  // drivers pad RGB to 4 bytes
  texture_bytes_ += t.bytes;
  t.version = version;
  t.last_used = frame_;
  t.pinned = k.level == coarsest_;
  t.size = px.size();
  t.filter = GL_LINEAR;
  textures_[k] = t;
  return t.id;
}

void Viewer::evict_textures() {
  if (texture_bytes_ <= kTextureBytes) return;
  std::vector<std::pair<std::uint64_t, TileKey>> order;
  for (const auto& [k, t] : textures_) {
    if (!t.pinned && t.last_used != frame_) order.push_back({t.last_used, k});
  }
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [used, k] : order) {
    if (texture_bytes_ <= kTextureBytes * 3 / 4) break;
    auto it = textures_.find(k);
    glDeleteTextures(1, &it->second.id);
    texture_bytes_ -= it->second.bytes;
    textures_.erase(it);
  }
}

void Viewer::update_tiles() {
  if (!loader_) return;
  if (!loader_->take_ready().empty()) ++slide_updates_;
  // A tile that failed is settled too: a cached overlay tile drawn while it was pending is drawn again, now
  // complete with the coarse level under the hole (before, it waited for good and the idle loop spun).
  if (loader_->failures() != failures_seen_) {
    failures_seen_ = loader_->failures();
    ++slide_updates_;
  }
  if (read_error_.empty()) {
    // Once per slide: every tile of a broken file fails alike, and the blank view needs a reason.
    read_error_ = loader_->last_error();
    if (!read_error_.empty()) {
      message_ = "Cannot read " + slide_path_.filename().string() + ": " + read_error_;
      std::fprintf(stderr, "ihcview: %s\n", message_.c_str());
    }
  }
  const int level = level_for_downsample(geometry_, view_.downsample);
  ViewTransform area = view_;
  if (show_cells_ && opacity_ > 0 && results_.table.size() > 0 && !class_map_mode()) {
    // Drawn from cached screen tiles: every slide tile under them is needed, also past the canvas edges
    // (those parts scroll into view next).
    const cv::Rect2d vis = view_.visible_slide_rect();
    const double span = kOverlayTile * view_.downsample;
    const double x0 = std::floor(vis.x / span) * span, y0 = std::floor(vis.y / span) * span;
    const double x1 = (std::floor((vis.x + vis.width) / span) + 1) * span;
    const double y1 = (std::floor((vis.y + vis.height) / span) + 1) * span;
    area.canvas = {0, 0, (x1 - x0) / view_.downsample, (y1 - y0) / view_.downsample};
    area.center = {(x0 + x1) / 2, (y0 + y1) / 2};
  }
  std::vector<TileKey> want = visible_tiles(geometry_, area, level);
  if (want != wanted_ || display_version_ != requested_display_) {
    wanted_ = want;
    requested_display_ = display_version_;
    // Replaces the queue: tiles of a view already left (or of a display already left) are never read or
    // rendered. The coarsest level of this display comes first: a few small tiles that cover the whole view.
    std::vector<TileKey> keys;
    auto coarse = all_tiles(geometry_, coarsest_);
    if (coarse.size() > 64) coarse.resize(64);
    keys.reserve(coarse.size() + want.size());
    for (const TileKey& k : coarse) keys.push_back(display_key(k));
    for (const TileKey& k : want) {
      if (k.level != coarsest_) keys.push_back(display_key(k));
    }
    const DisplaySettings settings = display_settings();
    loader_->request(keys, false, [settings](const cv::Mat& rgb, const TileKey&) {
      return display_pixels(rgb, settings);
    });
  }
}

bool Viewer::full_view_ready() const {
  if (!loader_) return false;
  // Drawn from cached tiles, the slide textures behind them may be evicted: ask the tiles.
  if (view_tiles_drawn_) return view_tiles_complete_;
  return std::all_of(wanted_.begin(), wanted_.end(), [&](const TileKey& k) { return tile_done(k); });
}

bool Viewer::tile_done(const TileKey& k) const {
  return texture_current(k) || (loader_ && loader_->failed(display_key(k)));
}

bool Viewer::texture_current(const TileKey& k) const {
  const auto it = textures_.find(k);
  return it != textures_.end() && it->second.version == display_version_;
}

}  // namespace ihc::gui
