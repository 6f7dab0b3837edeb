#include "gui/app.hpp"

#define GL_SILENCE_DEPRECATION
#define GL_GLEXT_PROTOTYPES  // framebuffer objects: libOpenGL exports every core function
#include <GL/gl.h>
#include <GL/glext.h>
#include <GLFW/glfw3.h>
#include <backends/imgui_impl_glfw.h>
#include <backends/imgui_impl_opengl3.h>
#include <imgui.h>

#include <malloc.h>
#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <deque>
#include <fstream>
#include <functional>
#include <future>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "gui/canvas_input.hpp"
#include "gui/cell_overlay.hpp"
#include "gui/file_browser.hpp"
#include "gui/script.hpp"
#include "gui/tile_cache.hpp"
#include "gui/view_transform.hpp"
#include "imaging/cell_detection.hpp"
#include "imaging/image_type.hpp"
#include "imaging/pipeline.hpp"
#include "imaging/slide.hpp"
#include "imaging/stain_estimation.hpp"
#include "imaging/stains.hpp"
#include "models/atomic_file.hpp"
#include "models/presets.hpp"
#include "models/regions.hpp"
#include "models/results_io.hpp"
#include "models/results_link.hpp"
#include "models/review.hpp"
#include "models/scoring.hpp"

namespace ihc::gui {

namespace {

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

// A score as the Summary panel and the status bar show it: "-" when undefined (no cells, no grade).
std::string number_or_dash(double v, int digits) {
  if (std::isnan(v)) return "-";
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}
// Taken at static initialisation, i.e. about when the process started: "open to first view" as a user sees
// it.
const Clock::time_point kProcessStart = Clock::now();
// CPU time of every thread of the process (llvmpipe's rasteriser threads and tile readers included): a frame
// cost that a busy machine inflates far less than wall time.
double process_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

constexpr float kPanelWidth = 360.0f;
constexpr float kStatusHeight = 26.0f;
constexpr std::size_t kTileCacheBytes = 192u << 20;
// Textures need only cover a few screens (a 1280x800 view holds about 20 tiles of 1 MB); the decoded cache
// behind them serves re-uploads after eviction and channel changes.
constexpr std::size_t kTextureBytes = 128u << 20;
constexpr int kTileSize = 512;
constexpr std::size_t kMaxDrawnCells = 15000;  // above: class map instead of outlines
constexpr int kUploadsPerFrame = 12;
constexpr int kOverlayTile = 256;               // screen px per side of a cached slide-and-cells tile
constexpr std::size_t kOverlayTileCount = 192;  // 48 MB of RGBA

void disable_blending(const ImDrawList*, const ImDrawCmd*) { glDisable(GL_BLEND); }

// ImGui's OpenGL backend takes a texture as its GL name carried in the pointer-sized ImTextureID.
ImTextureID texture_id(GLuint tex) {
  // NOLINTNEXTLINE(performance-no-int-to-ptr): a handle ImGui passes back, never dereferenced
  return reinterpret_cast<ImTextureID>(static_cast<std::intptr_t>(tex));
}

// Hands the GL state back to ImGui's backend after callbacks such as disable_blending changed it.
void reset_render_state(ImDrawList* list) {
  // NOLINTNEXTLINE(performance-no-int-to-ptr): ImGui's own marker, (ImDrawCallback)(-1), is never called
  list->AddCallback(ImDrawCallback_ResetRenderState, nullptr);
}

ImU32 class_colour(CellClass c, int alpha = 255) {
  const std::uint32_t rgb = class_color_rgb(c);
  return IM_COL32((rgb >> 16) & 0xFF, (rgb >> 8) & 0xFF, rgb & 0xFF, alpha);
}

enum class Channel : int { Rgb = 0, Hematoxylin, Dab, Residual };
const char* const kChannelNames[] = {"RGB", "Hematoxylin", "DAB", "Residual"};
// Outline draws cell boundaries and nuclei, QuPath's default: a nucleus outline shows two nuclei taken as
// one, or a cell grown without its nucleus, which a boundary alone hides.
enum class CellDisplay : int { Outline = 0, Cells, Nuclei, Fill, Centroid };
constexpr int kDisplayCount = 5;
const char* const kDisplayNames[kDisplayCount] = {"Cells + nuclei", "Cell outlines", "Nuclei", "Fill",
                                                  "Centroid"};
static_assert(std::size(kDisplayWords) == kDisplayCount, "gui/script.hpp's display words, in this order");
enum class NavFilter : int { All = 0, Borderline, Negative, OnePlus, TwoPlus, ThreePlus };
const char* const kFilterNames[] = {"All cells", "Borderline", "Negative", "1+", "2+", "3+"};

struct Texture {
  GLuint id = 0;
  std::uint64_t version = 0;
  std::size_t bytes = 0;
  std::uint64_t last_used = 0;
  bool pinned = false;
  cv::Size size;
  GLint filter = GL_LINEAR;
};

// Lists kept in ~/.config/ihcview, newest first: "recent.txt" (slides opened), "results_roots.txt" (output
// folders results were loaded from, where a slide opened later looks for its own).
std::filesystem::path config_file(const char* name) {
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home ? home : ".") / ".config" / "ihcview" / name;
}

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

struct LoadedResults {
  std::filesystem::path dir;
  CellResults cells;
  Review review;
  bool had_review = false;
  std::filesystem::path restored_from;  // the review came from its rescue file (load_review_with_rescue)
  // slide.json: the slide and size scored, its id, image type, parameters and area. Left default without
  // one (older results): no size to check, no source, empty type and parameters, NaN area.
  SlideRecord record;
  bool rescored = false;  // a batch's folder re-scored since its summary.csv (rescored_since_summary)
  // The batch's regions (ihcscore score --roi): drawn as overlay.png draws them, so the cells' scope shows; a
  // file gone or broken is said in the Slide panel, the cells still show.
  RecordedRois batch_rois;
  // Who asked for them: the command line's --results beside its slide (results of another slide are
  // refused), the search for the open slide's own (a failure is only a message), or the user (Open
  // results..., a dropped folder, a script's `results`, a scoring job done: results of another slide open
  // their slide; from the browser, a failure goes back to it).
  enum class Asked { CommandLine, Found, User, Browser };
  Asked asked = Asked::CommandLine;
  std::string error;  // set instead of throwing (the reading runs on another thread)
};

// The Detection panel's state (QuPath's "Positive cell detection" dialog): the declared detection and
// pipeline parameters, drawn from their specs; "Score whole slide" and "Score drawn regions" use them.
// Grading keys stay with the Thresholds panel.
struct DetectionForm {
  ParamSet values;
  std::vector<ParamSpec> specs;  // the keys the panel shows, in declaration order (fixed at start)
  std::string preset;            // what a loaded parameter file applies over, as `--preset P --params F`
  std::string source;            // "preset dsg2", "results", "preset ki67 + x.params", ...
  std::string error;             // the last rejected value's message
  std::string path = "ihcview.params";  // the file field of Load / Save
};
LoadedResults read_results(const std::filesystem::path& dir, GradingParams g, const std::string& slide_name);

// A path as the panels show it: relative to the working directory when that is short (at most one level up),
// else as it is.
std::string shown_path(const std::filesystem::path& p) {
  std::error_code ec;
  const std::string rel = p.lexically_relative(std::filesystem::current_path(ec)).string();
  return rel.empty() || rel.rfind("../..", 0) == 0 ? p.string() : rel;
}

// `--preset P --params FILE` (FILE may be empty), checked as the batch checks them before scoring; throws
// naming the preset, or the file, line and key, or the bad value.
ParamSet params_over_preset(const std::string& preset, const std::filesystem::path& file) {
  ParamSet p = default_params(preset);
  if (!file.empty()) p.load_file(file.string());
  check_scoring_params(p);
  return p;
}

// Dear ImGui 1.86 reads keys as states at NewFrame: of the key events between two frames it sees only the
// end state, so a key pressed and released within one frame (a quick tap; xdotool's key always) is never
// pressed, and of two keys pressed in one frame an input field acts on one (Ctrl+A then Backspace deleted one
// character instead of the selection). Key events are therefore given to ImGui at most one press per frame,
// the release of a key pressed since the last NewFrame after the next one, and typed characters in order
// with them (1.87's input queue trickles events the same way).
class InputTrickle {
 public:
  static bool is_modifier(int key) { return key >= GLFW_KEY_LEFT_SHIFT && key <= GLFW_KEY_RIGHT_SUPER; }
  // False when the event waits for a later frame (its turn comes in before_new_frame).
  bool on_key(int key, int scancode, int action, int mods) {
    const Event e{false, key, scancode, action, mods, 0};
    if (!held_.empty() || must_wait(e)) {
      held_.push_back(e);
      return false;
    }
    note(e);
    return true;
  }
  // The backend takes Ctrl, Shift, Alt and Super from the modifier keys' own events only; a key event that
  // carries them in its state without such events (X11 events sent to a window that has not the focus, as
  // xdotool sends them) is read with them too.
  static void give_key(GLFWwindow* w, int key, int scancode, int action, int mods) {
    ImGui_ImplGlfw_KeyCallback(w, key, scancode, action, mods);
    if (is_modifier(key) || action == GLFW_RELEASE) return;
    ImGuiIO& io = ImGui::GetIO();
    io.KeyCtrl = io.KeyCtrl || (mods & GLFW_MOD_CONTROL) != 0;
    io.KeyShift = io.KeyShift || (mods & GLFW_MOD_SHIFT) != 0;
    io.KeyAlt = io.KeyAlt || (mods & GLFW_MOD_ALT) != 0;
    io.KeySuper = io.KeySuper || (mods & GLFW_MOD_SUPER) != 0;
  }
  bool on_char(unsigned int c) {
    if (held_.empty()) return true;
    held_.push_back({true, 0, 0, 0, 0, c});
    return false;
  }
  // A script's `press` and `type`: always queued (script commands run mid-frame, after NewFrame), so they
  // reach ImGui in before_new_frame as a real event that had to wait does, behind any such event.
  void inject_key(int key, int action, int mods) {
    held_.push_back({false, key, glfwGetKeyScancode(key), action, mods, 0});
  }
  void inject_char(unsigned int c) { held_.push_back({true, 0, 0, 0, 0, c}); }
  // Nothing waits and this frame's before_new_frame gave nothing: every event given so far went through the
  // widgets of a whole frame (drawn after the script's step), and what they chose has run at the start of
  // this one (run_browser_choice).
  bool settled() const { return held_.empty() && !gave_; }
  // Just before ImGui::NewFrame: what waited is given now, up to the next event that must wait again. Never
  // after NewFrame: ImGui asserts that the modifiers stay as NewFrame read them (io.KeyMods) all frame.
  void before_new_frame(GLFWwindow* w) {
    gave_ = false;
    while (!held_.empty() && !must_wait(held_.front())) {
      const Event e = held_.front();
      held_.pop_front();
      note(e);
      gave_ = true;
      if (e.is_char) {
        ImGui_ImplGlfw_CharCallback(w, e.c);
      } else {
        give_key(w, e.key, e.scancode, e.action, e.mods);
      }
    }
  }
  // Just after ImGui::NewFrame: a new frame's events begin.
  void after_new_frame() {
    touched_.clear();
    pressed_any_ = false;
    if (!held_.empty()) glfwPostEmptyEvent();  // the next frame comes without waiting for new input
  }

 private:
  struct Event {
    bool is_char;
    int key, scancode, action, mods;
    unsigned int c;
  };
  // A second press, or a second event of one key, since the last NewFrame waits for the next frame: ImGui
  // would see only the last state (a release then a press of Backspace looks like Backspace held down).
  bool must_wait(const Event& e) const {
    if (e.is_char) return false;
    if (e.action == GLFW_PRESS && pressed_any_) return true;
    // xdotool releases Ctrl before the O of Ctrl+O: the key must be seen with its modifier down.
    if (e.action == GLFW_RELEASE && is_modifier(e.key) && pressed_any_) return true;
    return std::find(touched_.begin(), touched_.end(), e.key) != touched_.end();
  }
  void note(const Event& e) {
    if (e.is_char) return;
    touched_.push_back(e.key);
    if (e.action == GLFW_PRESS) pressed_any_ = true;
  }
  std::vector<int> touched_;  // keys given since the last NewFrame
  bool pressed_any_ = false;
  bool gave_ = false;  // before_new_frame gave an event this frame
  std::deque<Event> held_;
};
InputTrickle g_input_trickle;

class Viewer;
Viewer* g_viewer = nullptr;
// Tile readers wake the UI loop with glfwPostEmptyEvent, which needs GLFW initialised: the slide is opened
// (and its first tiles read) while GLFW is still loading the GL driver.
std::atomic<bool> g_glfw_up{false};

class Viewer {
 public:
  Viewer(const ViewerOptions& o, const ParamSet& start) : opt_(o) {
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
  int run();

  void on_drop(const std::string& path) { dropped_ = path; }

 private:
  // ---- slide and tiles
  // find: look for the slide's results under the remembered output folders and load the newest
  // (find_results).
  bool open(const std::filesystem::path& path, bool find = true);
  void find_own_results();
  void close_slide();
  void update_tiles();
  bool full_view_ready() const;
  GLuint texture_for(const TileKey& k);  // uploads at most uploads_left_ textures per frame
  void evict_textures();
  DisplaySettings display_settings() const;
  TileKey display_key(const TileKey& k) const;  // what tile k shows now (channel, display version)
  void rebuild_stains();

  // ---- cells, review
  void load_results(const std::filesystem::path& dir,
                    LoadedResults::Asked asked = LoadedResults::Asked::User);
  void start_reading(std::function<LoadedResults()> read);
  bool show_asked_results(LoadedResults loaded);
  bool apply_results(LoadedResults loaded);
  void poll_results();
  void set_cells(CellResults results);
  void refresh_cells(bool regrade);
  std::vector<CellRef> targets(const cv::Point2d& at);
  void apply(const Action& a);
  void navigate(int step);
  void save(bool full);
  void export_geojson(const std::filesystem::path& path);
  CellResults reviewed_cells() const;
  CellsFileOptions cells_file_options() const;
  void start_geojson_export(const std::filesystem::path& path);
  void finish_export(bool wait);
  void export_summary(const std::filesystem::path& path);
  void export_regions(const std::filesystem::path& path);
  ScoreRow summary_row(const Summary& s, double area_mm2) const;
  std::string image_id() const;
  // The batch's scored area while the review keeps its scope (no drawn include or exclude region), else NaN:
  // the viewer has no tissue mask to intersect a drawn region with.
  double scope_area_mm2() const;
  void start_scoring(bool region_only);
  void poll_scoring();
  void reset_form(const std::string& preset);
  bool set_form_value(const std::string& key, const std::string& value);
  void apply_params(const ParamSet& params, const std::string& source);
  bool load_params(const std::filesystem::path& path);
  bool save_params(const std::filesystem::path& path);
  ParamSet current_params() const;  // the form plus the Thresholds panel's grading
  Review fresh_review() const {     // an empty review grading with the live thresholds
    Review r;
    r.thresholds = live_thresholds_;
    return r;
  }

  // ---- frame
  void frame_input();
  void draw_canvas();
  void draw_cells(ImDrawList* dl);  // the class map
  void draw_panel();
  void panel_slide();
  void panel_detection();
  bool panel_header(const char* name, bool default_open);
  void panel_display();
  void panel_cells();
  void panel_thresholds();
  void panel_review();
  void panel_summary();
  void draw_file_browser();
  bool review_unsaved() const {
    return !results_dir_.empty() && results_.table.size() > 0 && editor_.revision() != saved_revision_;
  }
  bool may_close();
  void draw_close_dialog();
  void browse(BrowseFor purpose, const std::filesystem::path& start);
  void run_browser_choice();  // at the start of a frame: opening a slide or results touches GL state
  void draw_status();
  std::string status_text() const;  // the status bar's line
  void send(const InputEvent& e);
  bool script_step();
  bool write_screenshot(const std::filesystem::path& path);
  void layout();

  ViewerOptions opt_;
  GLFWwindow* window_ = nullptr;
  std::string dropped_;
  FileBrowser browser_;
  std::filesystem::path browser_choice_;  // accepted, run at the start of the next frame
  std::string message_;
  bool quit_ = false;
  int exit_code_ = 0;
  std::uint64_t frame_ = 0;
  double last_frame_ms_ = 0.0;
  double last_frame_cpu_ms_ = 0.0;
  std::vector<double> frame_times_;

  // slide
  std::unique_ptr<Slide> slide_;
  std::filesystem::path slide_path_;
  PyramidGeometry geometry_;
  ViewLimits limits_;
  ViewTransform view_;
  std::unique_ptr<TileCache> cache_;
  std::unique_ptr<TileLoader> loader_;
  std::unordered_map<TileKey, Texture, TileKeyHash> textures_;
  std::size_t texture_bytes_ = 0;
  std::vector<TileKey> wanted_;
  std::uint64_t requested_display_ = 0;  // display_version_ of the last request
  int coarsest_ = 0;
  Clock::time_point open_time_;
  double first_full_view_ms_ = -1.0;

  // display
  Channel channel_ = Channel::Rgb;
  float brightness_ = 0.0f;
  float contrast_ = 1.0f;
  StainMatrix stains_ = stain_preset("H-DAB");
  float stain_edit_[2][3]{};
  std::uint64_t display_version_ = 1;
  std::string stain_message_;
  std::future<StainEstimate> estimating_;
  // The slide's own image type, estimated from its overview in the background when it opens; slide.json's
  // (results_record_.image_type) takes precedence, being what the scores were computed with.
  std::future<ImageTypeEstimate> typing_;
  std::string slide_image_type_;
  // Microns per pixel of the open slide as scored and shown: its own, else the one its results were scored
  // with (`ihcscore score --mpp`), else `ihcview --mpp`; unknown (NaN) without any, lengths then in px.
  struct PixelSize {
    double x = std::numeric_limits<double>::quiet_NaN();
    double y = std::numeric_limits<double>::quiet_NaN();
    std::string source;
    bool known() const { return std::isfinite(x) && std::isfinite(y); }
  } pixel_size_;
  void update_pixel_size();

  // cells
  CanvasInput input_;
  std::filesystem::path results_dir_;
  // The results' slide.json (default without one): the batch's id of the slide, its image type (a slide of
  // another stain is flagged in the Slide panel), the area the batch scored.
  SlideRecord results_record_;
  bool results_rescored_ = false;  // the batch's summary.csv no longer has these scores
  RecordedRois batch_rois_;        // the regions the batch scored (--roi), outlined on the canvas
  ScoreOptions score_options_;     // slide.json's intensity rule and group: summaries follow the batch's
  CellResults results_;
  CellGrid grid_;
  CellState state_;
  std::uint64_t cells_version_ = 0;  // bumped whenever a class, a deletion or the scope may have changed
  std::uint64_t selection_version_ = 0;
  double cell_extent_px_ = 0.0;  // farthest outline vertex from its centroid (level-0 px)
  // With cells shown, the view is drawn from screen-aligned tiles holding the slide with the cells on it,
  // rendered once per zoom (as QuPath caches its overlay tiles): a panning frame draws one opaque layer
  // whatever the number of cells, instead of re-tessellating thousands of outlines and blending them.
  struct OverlayTile {
    GLuint tex = 0;
    bool complete = false;          // every slide tile it needs was there when rendered
    std::uint64_t rendered_at = 0;  // slide_updates_ then: an incomplete tile is redone after new tiles
    std::uint64_t last_used = 0;
  };
  struct OverlayKey {
    double downsample = 0.0;
    std::uint64_t cells = ~0ULL, selection = ~0ULL, display_version = ~0ULL;
    int display = -1, alpha = -1;
    bool operator==(const OverlayKey&) const = default;
  };
  std::unordered_map<TileKey, OverlayTile, TileKeyHash> overlay_;
  OverlayKey overlay_key_;
  GLuint overlay_fbo_ = 0;
  std::vector<GLuint> overlay_free_;
  int uploads_left_ = 0;              // texture uploads still allowed this frame
  std::uint64_t slide_updates_ = 0;   // tiles read or uploaded: what may complete an incomplete cached tile
  bool view_tiles_drawn_ = false;     // the last frame drew the view from cached tiles...
  bool view_tiles_complete_ = false;  // ...and none of them lacked a slide tile
  void render_overlay_tile(int tx, int ty, OverlayTile* tile);
  void draw_cell_shapes(ImDrawList* dl, const ViewTransform& v, const std::vector<int>& cells, int alpha);
  bool draw_tile_part(const TileKey& k, ImDrawList* list, const ViewTransform& v, const cv::Rect2d& part);
  bool draw_slide(ImDrawList* list, const ViewTransform& v, const std::vector<TileKey>& fine);
  bool class_map_mode() const;
  void draw_view_tiles(ImDrawList* dl);
  void clear_overlay();
  struct ClassMapTexture {
    GLuint id = 0;
    std::uint64_t version = ~0ULL;
    double square_px = 0.0;
    cv::Size size;
  } class_tex_;
  struct HistogramCache {
    std::uint64_t version = ~0ULL;
    std::string measurement;
    Histogram histogram;
  } histogram_;
  std::vector<std::string> recent_ = read_recent();
  ReviewEditor editor_;
  GradingParams live_thresholds_;
  DetectionForm form_;
  std::vector<int> selection_;
  std::vector<std::uint8_t> selected_;
  bool show_cells_ = true;
  CellDisplay cell_display_ = CellDisplay::Outline;
  float opacity_ = 0.8f;
  NavFilter nav_filter_ = NavFilter::Borderline;
  float borderline_width_ = 0.05f;
  std::vector<int> nav_order_;
  int nav_index_ = -1;
  int hover_cell_ = -1;
  std::int64_t summary_region_ = -1;
  Summary slide_summary_, region_summary_;
  char override_reason_[256] = "";
  int override_score_ = 0;
  std::uint64_t saved_revision_ = 0;
  std::uint64_t full_saved_revision_ = ~0ULL;
  // Set while the results folder refuses the review and it is kept in its rescue file (models/review):
  // what the status line says, said once on stderr.
  std::string rescue_note_;
  // The last save's error when neither the folder nor the rescue file took the review ("" after a save).
  std::string save_error_;
  // Closing the window while the review is saved nowhere asks first (draw_close_dialog) instead of losing it.
  struct CloseDialog {
    bool open = false;     // shown
    bool opening = false;  // ImGui::OpenPopup at the next draw
    bool discard = false;  // "Quit without saving" was chosen
  } close_;
  Clock::time_point last_save_ = Clock::now();

  // Results are read in the background, whoever asked: the slide shows and pans meanwhile (a 200 000-cell
  // cells.geojson takes seconds), cells appear when parsed. `wait`, `results` and --screenshot wait for them.
  std::future<LoadedResults> loading_;
  // reviewed_cells.geojson is written off the UI thread too (a whole slide's is hundreds of MB): from a copy
  // of the reviewed cells made at the save, one writing at a time; quitting waits for it. "" or the error.
  std::future<std::string> exporting_;
  std::filesystem::path exporting_dir_;  // the folder it writes into
  int loading_frames_ = 0;  // frames drawn while the current reading ran (the log says; tests count them)
  // Readings of a slide left meanwhile: a future's destructor waits for its thread, which must not happen on
  // the UI thread while a large cells.geojson is still being read. Dropped once finished.
  std::vector<std::future<LoadedResults>> abandoned_;
  std::filesystem::path loading_slide_;

  // scoring job
  std::thread job_;
  std::atomic<bool> job_cancel_{false};
  std::atomic<int> job_done_{0}, job_total_{0};
  std::atomic<bool> job_finished_{false};
  std::string job_error_;
  bool job_running_ = false;

  // script
  std::vector<ScriptCommand> script_;
  std::size_t script_pc_ = 0;
  int script_wait_frames_ = 0;
  bool script_waiting_ = false;
  int script_await_browser_ = 0;    // frames since `browse`, while its name field has not the keyboard
  bool script_await_load_ = false;  // after `results`, until the cells are read and shown
  Clock::time_point script_wait_start_;
  std::string pending_screenshot_;
  std::map<std::string, bool> panel_requests_;  // script `panel NAME open|close`, applied at the next frame
  std::vector<ScriptCommand> pending_pixels_;
  void check_pixels();
  bool mouse_down_[3] = {false, false, false};
  struct BenchPan {
    int frames_left = 0;
    cv::Point2d step;
    std::vector<double> times, cpu_times;
    std::string out;
  } bench_;
};

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
  save(false);
  close_slide();
  open_time_ = Clock::now();
  first_full_view_ms_ = -1.0;
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
      *cache_, 2,
      [] {
        if (g_glfw_up.load()) glfwPostEmptyEvent();
      });
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
    if (g_glfw_up.load()) glfwPostEmptyEvent();  // wakes the UI loop to show it
    return t;
  });
  remember_recent(path);
  recent_ = read_recent();
  message_ = "Opened " + path.filename().string();
  // The last slide's result folder is not this one's: scoring would write this slide's cells into it.
  results_dir_.clear();
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
  if (uploads_left_ <= 0) return stale;
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
  for (const TileKey& k : wanted_) {
    auto it = textures_.find(k);
    if (it == textures_.end() || it->second.version != display_version_) return false;
  }
  return true;
}

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
  slide_summary_ = summarize(state_, nullptr, editor_.review().intensity_override, score_options_);
  if (summary_region_ >= 0) {
    const auto membership = cells_in_region(results_.table, single_region(editor_.review(), summary_region_));
    region_summary_ = summarize(state_, &membership, editor_.review().intensity_override, score_options_);
  }
}

// Reads a result folder; no viewer state is touched, so it runs on a background thread at start.
LoadedResults read_results(const std::filesystem::path& dir, GradingParams g, const std::string& slide_name) {
  LoadedResults out;
  out.dir = dir;
  try {
    if (std::filesystem::exists(dir / "cells.geojson")) {
      out.cells = read_cells_geojson(dir / "cells.geojson");
      // Regions count cells by the batch's centroids, as `ihcscore reviewed` does from cells.csv.
      if (std::filesystem::exists(dir / "cells.csv"))
        take_csv_centroids(read_file(dir / "cells.csv"), out.cells);
    } else if (std::filesystem::exists(dir / "cells.csv")) {
      out.cells = read_cells_csv(dir / "cells.csv");
    } else {
      throw ResultsError(dir.string() +
                         ": no cells.geojson or cells.csv (is this an OUT/slides/<id> folder?)");
    }
    if (std::filesystem::exists(dir / "slide.json")) {
      const SlideRecord rec = read_slide_json(dir / "slide.json");
      out.record = rec;
      out.rescored = rescored_since_summary(dir, rec);
      out.batch_rois = load_recorded_rois(dir, rec);
      if (!rec.scoring_measurement.empty()) g.measurement = rec.scoring_measurement;
      if (rec.thresholds.size() == 3) {
        g.mode = ThresholdMode::Three;
        g.threshold_1plus = rec.thresholds[0];
        g.threshold_2plus = rec.thresholds[1];
        g.threshold_3plus = rec.thresholds[2];
      } else if (rec.thresholds.size() == 1) {
        g.mode = ThresholdMode::Single;
        g.threshold_positive = rec.thresholds[0];
      }
    }
    out.review.slide = slide_name;
    out.review.thresholds = g;
    LoadedReview saved = load_review_with_rescue(dir);
    out.had_review = saved.found;
    if (saved.found) out.review = std::move(saved.review);
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
    if (g_glfw_up.load()) glfwPostEmptyEvent();
    return r;
  });
}

// Results the user asked for: those of another slide (none open, or one of another size) open their own
// slide first.
bool Viewer::show_asked_results(LoadedResults r) {
  namespace fs = std::filesystem;
  if (r.error.empty()) {
    const bool other = !slide_ || (!results_mismatch(r.dir, r.record, slide_->info().level_sizes[0].width,
                                                     slide_->info().level_sizes[0].height)
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
      const std::string why = results_mismatch(loaded.dir, loaded.record, s.width, s.height);
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
  using Asked = LoadedResults::Asked;
  const Asked asked = loaded.asked;
  if (asked == Asked::Found && loaded.dir.empty()) return;  // the slide has no results yet
  if (asked == Asked::Found) {
    std::fprintf(stderr, "ihcview: found results for %s in %s\n", slide_path_.filename().string().c_str(),
                 loaded.dir.string().c_str());
  }
  const bool user = asked == Asked::User || asked == Asked::Browser;
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
        const auto t = targets(a.point);
        const std::size_t n = editor_.set_class(t, a.cls);
        message_ = t.empty() ? "No cell under the cursor"
                             : std::to_string(n) + " cell(s) set to " + std::string(class_name(a.cls));
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
      break;
    case T::RegionDrawn: {
      const auto id = editor_.add_region(a.kind, a.polygon);
      message_ = std::string(a.kind == RegionKind::Include ? "Include" : "Exclude") + " region " +
                 std::to_string(id) + " added";
      if (a.kind == RegionKind::Include) summary_region_ = id;
      break;
    }
    case T::ViewChanged:
      break;
  }
  if (a.type != T::ViewChanged && a.type != T::ToggleCells && a.type != T::CycleDisplay) {
    if (a.type == T::Undo || a.type == T::Redo) live_thresholds_ = editor_.review().thresholds;
    refresh_cells(a.type == T::Undo || a.type == T::Redo);
  }
}

void Viewer::navigate(int step) {
  if (results_.table.size() == 0) return;
  if (nav_order_.empty()) {
    std::vector<int> filter;
    const auto& g = live_thresholds_;
    switch (nav_filter_) {
      case NavFilter::All:
        break;
      case NavFilter::Borderline: {
        const int j = results_.table.column(g.measurement);
        if (j < 0) break;
        const std::vector<double> ts = grading_thresholds(g);
        for (std::size_t i = 0; i < results_.table.size(); ++i) {
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
    if (nav_filter_ != NavFilter::All && filter.empty()) {
      message_ = "No cell matches the filter";
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
  message_ = "Cell " + std::to_string(nav_index_ + 1) + " of " + std::to_string(n) + " (id " +
             std::to_string(results_.table.cells[i].id) + ")";
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
  return reviewed_row(image_id(), s, area_mm2, pixel_size_.x);
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
                            if (g_glfw_up.load()) glfwPostEmptyEvent();
                            return error;
                          });
}

void Viewer::finish_export(bool wait) {
  if (!exporting_.valid()) return;
  if (!wait && exporting_.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return;
  const std::string error = exporting_.get();
  if (error.empty()) {
    message_ = "Saved the review to " + exporting_dir_.string() +
               " (review.json, reviewed_cells.geojson, reviewed_summary.csv)";
    return;
  }
  full_saved_revision_ = ~0ULL;  // the next save writes it again
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
  if (rows.empty()) {
    std::error_code ec;
    std::filesystem::remove(path, ec);
    return;
  }
  write_file_atomic(path, summary_csv(rows, ColumnNames::QuPath, true));
}

void Viewer::save(bool full) {
  if (results_dir_.empty() || results_.table.size() == 0) return;
  try {
    // Nothing is rewritten for an unchanged review: quitting after a look at 200 000 cells must not spend
    // seconds exporting the same cells again.
    const bool changed = saved_revision_ != editor_.revision();
    if (changed || !std::filesystem::exists(results_dir_ / "review.json")) {
      Review r = editor_.review();
      r.slide = slide_path_.filename().string();
      if (!changed) {
        // Unreviewed cells get an (empty) review.json; a folder that refuses it has lost nothing.
        try {
          save_review(results_dir_ / "review.json", r);
        } catch (const std::exception&) {
        }
      } else {
        const ReviewSaveResult saved = save_review_or_rescue(results_dir_, r);
        saved_revision_ = editor_.revision();
        save_error_.clear();
        if (saved.results_error.empty()) {
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
    last_save_ = Clock::now();
    // The exports go to the same folder: while it refuses the review they would fail too, and their error
    // would hide where the review is.
    if (full && rescue_note_.empty() && full_saved_revision_ != editor_.revision()) {
      full_saved_revision_ = editor_.revision();
      start_geojson_export(results_dir_ / "reviewed_cells.geojson");
      message_ = "Saving the review to " + results_dir_.string() + " ...";
      export_summary(results_dir_ / "reviewed_summary.csv");
      export_regions(results_dir_ / "reviewed_regions.csv");
    }
  } catch (const std::exception& e) {
    save_error_ = e.what();
    message_ = std::string("Save failed: ") + e.what();
    std::fprintf(stderr, "ihcview: %s\n", message_.c_str());
  }
}

// Closing the window saves the review; when it can be saved nowhere (the results folder and the rescue folder
// both refuse it), the window stays and asks, since the corrections exist only in it.
bool Viewer::may_close() {
  if (close_.discard || !review_unsaved()) return true;
  save(true);
  if (!review_unsaved()) return true;
  glfwSetWindowShouldClose(window_, GLFW_FALSE);
  if (!close_.open) {
    close_.open = true;
    close_.opening = true;
    std::fprintf(stderr, "ihcview: not closing: the review could not be saved (%s)\n", save_error_.c_str());
  }
  return false;
}

void Viewer::draw_close_dialog() {
  if (!close_.open) return;
  const char* title = "Review not saved###close";
  if (close_.opening) {
    ImGui::OpenPopup(title);
    close_.opening = false;
  }
  const ImGuiIO& io = ImGui::GetIO();
  ImGui::SetNextWindowPos(ImVec2(io.DisplaySize.x * 0.5f, io.DisplaySize.y * 0.5f), ImGuiCond_Appearing,
                          ImVec2(0.5f, 0.5f));
  ImGui::SetNextWindowSize(ImVec2(std::min(640.0f, io.DisplaySize.x - 40.0f), 0.0f), ImGuiCond_Appearing);
  if (!ImGui::BeginPopupModal(title, nullptr, ImGuiWindowFlags_NoSavedSettings)) return;
  ImGui::TextWrapped("The review could not be saved: %s", save_error_.c_str());
  ImGui::Spacing();
  ImGui::TextWrapped(
      "Your corrections exist only in this window. Make the results folder writable (or free some space), "
      "then try again.");
  ImGui::Spacing();
  bool done = false;
  if (ImGui::Button("Try again (Enter)") || ImGui::IsKeyPressed(GLFW_KEY_ENTER, false)) {
    save(true);
    if (!review_unsaved()) {
      quit_ = true;
      done = true;
    }
  }
  ImGui::SameLine();
  if (ImGui::Button("Keep reviewing (Esc)") || ImGui::IsKeyPressed(GLFW_KEY_ESCAPE, false)) done = true;
  ImGui::SameLine();
  if (ImGui::Button("Quit without saving (Ctrl+D)") ||
      (io.KeyCtrl && ImGui::IsKeyPressed(GLFW_KEY_D, false))) {
    std::fprintf(stderr, "ihcview: quit without saving the review (%s)\n", save_error_.c_str());
    close_.discard = true;
    quit_ = true;
    done = true;
  }
  if (done) {
    close_.open = false;
    ImGui::CloseCurrentPopup();
  }
  ImGui::EndPopup();
}

void Viewer::start_scoring(bool region_only) {
  if (job_running_ || !slide_) return;
  // Absolute: the folder is remembered as an output root, and slide.json's source finds the slide from
  // anywhere (find_results).
  if (results_dir_.empty()) results_dir_ = std::filesystem::absolute("ihcview-out") / results_id(slide_path_);
  ScoreSlideRequest req;
  req.input = std::filesystem::absolute(slide_path_);
  req.image_id = results_id(slide_path_);
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

// ------------------------------------------------------------------------------------------------ drawing

void Viewer::draw_canvas() {
  ImDrawList* dl = ImGui::GetBackgroundDrawList();
  const cv::Rect2d& c = view_.canvas;
  // The canvas grey is the clear colour (see run()): software GL pays for every full-canvas layer.
  dl->PushClipRect(ImVec2(float(c.x), float(c.y)), ImVec2(float(c.x + c.width), float(c.y + c.height)));
  if (!slide_) {
    dl->PopClipRect();
    return;
  }
  uploads_left_ = kUploadsPerFrame;
  const cv::Rect2d vis = view_.visible_slide_rect();
  const auto coarse_tiles = all_tiles(geometry_, coarsest_);
  const bool cells_shown = show_cells_ && opacity_ > 0 && results_.table.size() > 0;
  view_tiles_drawn_ = cells_shown && !class_map_mode();
  if (view_tiles_drawn_) {
    draw_view_tiles(dl);
  } else {
    // Tiles are opaque: without blending llvmpipe skips reading the framebuffer back for every pixel.
    dl->AddCallback(disable_blending, nullptr);
    draw_slide(dl, view_, wanted_);
    reset_render_state(dl);
    if (cells_shown) draw_cells(dl);
  }

  // Slide points (level-0 px) as screen points of the view.
  auto on_screen = [&](const std::vector<cv::Point2d>& slide_pts) {
    std::vector<ImVec2> pts;
    pts.reserve(slide_pts.size());
    for (const auto& p : slide_pts) {
      const cv::Point2d sp = view_.to_screen(p);
      pts.emplace_back(float(sp.x), float(sp.y));
    }
    return pts;
  };
  // The batch's regions in black, as overlay.png draws them (holes and exclusions too): its cells are the
  // ones inside.
  for (const auto& a : batch_rois_.annotations) {
    for (const auto& poly : a.polygons) {
      std::vector<const Ring*> rings{&poly.outer};
      for (const auto& h : poly.holes) rings.push_back(&h);
      for (const Ring* ring : rings) {
        const std::vector<ImVec2> pts = on_screen(*ring);
        dl->AddPolyline(pts.data(), static_cast<int>(pts.size()), IM_COL32(0, 0, 0, 255), ImDrawFlags_Closed,
                        2.0f);
      }
    }
  }
  // Regions: include green, exclude red; the sketch being drawn in yellow.
  for (const auto& r : editor_.review().regions) {
    const std::vector<ImVec2> pts = on_screen(r.polygon);
    const ImU32 col = r.kind == RegionKind::Include ? IM_COL32(40, 200, 40, 255) : IM_COL32(220, 30, 30, 255);
    dl->AddPolyline(pts.data(), static_cast<int>(pts.size()), col, ImDrawFlags_Closed,
                    r.id == summary_region_ ? 3.0f : 2.0f);
  }
  if (!input_.sketch().empty()) {
    const std::vector<ImVec2> pts = on_screen(input_.sketch());
    if (input_.tool() == Tool::Rectangle && pts.size() == 2) {
      dl->AddRect(pts[0], pts[1], IM_COL32(255, 220, 0, 255), 0, 0, 2);
    } else {
      dl->AddPolyline(pts.data(), static_cast<int>(pts.size()), IM_COL32(255, 220, 0, 255), 0, 2);
    }
  }
  if (input_.box_active()) {
    const cv::Rect2d r = input_.box_rect();
    const cv::Point2d a = view_.to_screen(r.tl()), b = view_.to_screen(r.br());
    dl->AddRect(ImVec2(float(a.x), float(a.y)), ImVec2(float(b.x), float(b.y)), IM_COL32(255, 255, 255, 255),
                0, 0, 1.5f);
  }

  // Overview with the view box.
  const Overview o = make_overview(c, limits_.slide_size, 200);
  input_.set_overview(o, true);
  dl->AddRectFilled(ImVec2(float(o.screen.x - 2), float(o.screen.y - 2)),
                    ImVec2(float(o.screen.x + o.screen.width + 2), float(o.screen.y + o.screen.height + 2)),
                    IM_COL32(40, 40, 40, 255));
  ViewTransform ov;
  ov.downsample = limits_.slide_size.width / o.screen.width;
  ov.canvas = o.screen;
  ov.center = {limits_.slide_size.width / 2, limits_.slide_size.height / 2};
  dl->PushClipRect(ImVec2(float(o.screen.x), float(o.screen.y)),
                   ImVec2(float(o.screen.x + o.screen.width), float(o.screen.y + o.screen.height)), true);
  // Opaque like the canvas tiles: the same llvmpipe shader variant, one JIT compilation fewer at start.
  dl->AddCallback(disable_blending, nullptr);
  for (const TileKey& k : coarse_tiles) draw_tile_part(k, dl, ov, tile_rect_level0(geometry_, k));
  reset_render_state(dl);
  dl->PopClipRect();
  const cv::Rect2d box =
      o.to_screen(vis & cv::Rect2d(0, 0, limits_.slide_size.width, limits_.slide_size.height));
  dl->AddRect(ImVec2(float(box.x), float(box.y)), ImVec2(float(box.x + box.width), float(box.y + box.height)),
              IM_COL32(255, 40, 40, 255), 0, 0, 2);

  // Scale bar, bottom left.
  const ScaleBar bar = scale_bar(view_.downsample, pixel_size_.x);
  const float bx = float(c.x + 16), by = float(c.y + c.height - 24);
  dl->AddRectFilled(ImVec2(bx - 6, by - 20), ImVec2(bx + float(bar.length_px) + 6, by + 8),
                    IM_COL32(255, 255, 255, 200));
  dl->AddRectFilled(ImVec2(bx, by), ImVec2(bx + float(bar.length_px), by + 4), IM_COL32(0, 0, 0, 255));
  dl->AddText(ImVec2(bx, by - 18), IM_COL32(0, 0, 0, 255), bar.label.c_str());
  dl->PopClipRect();
}

// Draws the part `part` (level-0 px) of tile k; false when it has no texture yet.
bool Viewer::draw_tile_part(const TileKey& k, ImDrawList* list, const ViewTransform& v,
                            const cv::Rect2d& part) {
  const GLuint tex = texture_for(k);
  if (tex == 0) return false;
  // One texel per screen pixel: nearest sampling gives the same picture for a third of llvmpipe's work.
  const bool exact = std::abs(v.downsample / geometry_.downsamples[k.level] - 1.0) < 1e-3;
  Texture& t = textures_[k];
  const GLint filter = exact ? GL_NEAREST : GL_LINEAR;
  if (t.filter != filter) {
    glBindTexture(GL_TEXTURE_2D, tex);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, filter);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, filter);
    t.filter = filter;
  }
  const cv::Rect2d r = tile_rect_level0(geometry_, k);
  const cv::Rect2d p = part & r;
  if (p.width <= 0 || p.height <= 0) return true;
  const cv::Point2d a = v.to_screen(p.tl()), b = v.to_screen(p.br());
  const ImVec2 uv0(float((p.x - r.x) / r.width), float((p.y - r.y) / r.height));
  const ImVec2 uv1(float((p.x + p.width - r.x) / r.width), float((p.y + p.height - r.y) / r.height));
  list->AddImage(texture_id(tex), ImVec2(float(a.x), float(a.y)), ImVec2(float(b.x), float(b.y)), uv0, uv1);
  return true;
}

// The slide in v's canvas from the `fine` tiles of v's level; the coarsest level (always resident) only under
// the holes, so the view is never drawn twice. True when no hole was left.
bool Viewer::draw_slide(ImDrawList* list, const ViewTransform& v, const std::vector<TileKey>& fine) {
  const cv::Rect2d vis = v.visible_slide_rect();
  const int level = level_for_downsample(geometry_, v.downsample);
  const auto coarse = all_tiles(geometry_, coarsest_);
  bool complete = true;
  if (level == coarsest_) {
    for (const TileKey& k : coarse) {
      const cv::Rect2d r = tile_rect_level0(geometry_, k);
      if ((r & vis).area() > 0) complete &= draw_tile_part(k, list, v, r);
    }
    return complete;
  }
  for (const TileKey& k : fine) {
    if (draw_tile_part(k, list, v, tile_rect_level0(geometry_, k))) continue;
    complete = false;
    const cv::Rect2d hole = tile_rect_level0(geometry_, k) & vis;
    for (const TileKey& ck : coarse) {
      if ((tile_rect_level0(geometry_, ck) & hole).area() > 0) draw_tile_part(ck, list, v, hole);
    }
  }
  return complete;
}

bool Viewer::class_map_mode() const {
  // Typical cell diameter on screen decides between outlines and the class map.
  return grid_.estimate(view_.visible_slide_rect()) > kMaxDrawnCells || 20.0 / view_.downsample < 2.0;
}

void Viewer::draw_view_tiles(ImDrawList* dl) {
  const cv::Rect2d vis = view_.visible_slide_rect();
  const int alpha = static_cast<int>(opacity_ * 255);
  const OverlayKey key{view_.downsample,
                       cells_version_,
                       selection_version_,
                       display_version_,
                       static_cast<int>(cell_display_),
                       alpha};
  if (!(key == overlay_key_)) {
    clear_overlay();
    overlay_key_ = key;
  }
  // Tiles of kOverlayTile screen px on a grid anchored at the slide origin, so they stay valid while panning.
  const double span = kOverlayTile * view_.downsample;
  // Outlines, selection rings (up to 12 level-0 px + 8 screen px) and markers reach this far past a centroid.
  const double reach = cell_extent_px_ + 14 + 10 * view_.downsample;
  const int tx0 = static_cast<int>(std::floor(std::max(vis.x, -reach) / span));
  const int ty0 = static_cast<int>(std::floor(std::max(vis.y, -reach) / span));
  const int tx1 =
      static_cast<int>(std::floor(std::min(vis.x + vis.width, limits_.slide_size.width + reach) / span));
  const int ty1 =
      static_cast<int>(std::floor(std::min(vis.y + vis.height, limits_.slide_size.height + reach) / span));
  dl->AddCallback(disable_blending, nullptr);
  bool complete = true;
  for (int ty = ty0; ty <= ty1; ++ty) {
    for (int tx = tx0; tx <= tx1; ++tx) {
      OverlayTile& t = overlay_[TileKey{0, tx, ty}];
      // Every visible tile is drawn in the frame it appears: no cell ever pops in late. A tile drawn while
      // slide tiles were missing is redone once more of them were uploaded.
      if (t.tex == 0 || (!t.complete && t.rendered_at != slide_updates_)) render_overlay_tile(tx, ty, &t);
      complete &= t.complete;
      t.last_used = frame_;
      const cv::Point2d a = view_.to_screen({tx * span, ty * span});
      dl->AddImage(texture_id(t.tex), ImVec2(float(a.x), float(a.y)),
                   ImVec2(float(a.x) + kOverlayTile, float(a.y) + kOverlayTile), ImVec2(0, 1), ImVec2(1, 0));
    }
  }
  reset_render_state(dl);
  view_tiles_complete_ = complete;
  if (overlay_.size() > kOverlayTileCount) {
    std::vector<std::pair<std::uint64_t, TileKey>> order;
    for (const auto& [k, t] : overlay_) {
      if (t.last_used != frame_) order.push_back({t.last_used, k});
    }
    std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (std::size_t i = 0; i < order.size() && overlay_.size() > kOverlayTileCount * 3 / 4; ++i) {
      auto it = overlay_.find(order[i].second);
      if (it->second.tex != 0) overlay_free_.push_back(it->second.tex);
      overlay_.erase(it);
    }
  }
}

// The class map (low zoom, or too many cells on screen): squares of about 8 screen px in their majority
// class, as one texture built per zoom octave and cell revision (panning redraws one quad, whatever the cell
// count).
void Viewer::draw_cells(ImDrawList* dl) {
  const int alpha = static_cast<int>(opacity_ * 255);
  {
    double square = std::exp2(std::round(std::log2(8 * view_.downsample)));
    while (limits_.slide_size.width / square > 8192 || limits_.slide_size.height / square > 8192) square *= 2;
    if (class_tex_.version != cells_version_ || class_tex_.square_px != square) {
      const ClassRaster raster = class_raster(results_.table, state_, limits_.slide_size, square);
      cv::Mat rgba(raster.classes.size(), CV_8UC4, cv::Scalar::all(0));
      for (int y = 0; y < rgba.rows; ++y) {
        for (int x = 0; x < rgba.cols; ++x) {
          const int v = raster.classes(y, x);
          if (v == 0) continue;
          const std::uint32_t rgb = class_color_rgb(static_cast<CellClass>(v - 1));
          rgba.at<cv::Vec4b>(y, x) = {static_cast<std::uint8_t>(rgb >> 16),
                                      static_cast<std::uint8_t>(rgb >> 8), static_cast<std::uint8_t>(rgb),
                                      255};
        }
      }
      if (class_tex_.id == 0) glGenTextures(1, &class_tex_.id);
      define_texture(class_tex_.id, GL_NEAREST, GL_RGBA8, GL_RGBA, rgba.cols, rgba.rows, rgba.data);
      class_tex_.version = cells_version_;
      class_tex_.square_px = square;
      class_tex_.size = rgba.size();
    }
    const cv::Point2d a = view_.to_screen({0, 0});
    const cv::Point2d b = view_.to_screen({class_tex_.size.width * square, class_tex_.size.height * square});
    dl->AddImage(texture_id(class_tex_.id), ImVec2(float(a.x), float(a.y)), ImVec2(float(b.x), float(b.y)),
                 ImVec2(0, 0), ImVec2(1, 1), IM_COL32(255, 255, 255, alpha * 3 / 4));
  }
}

void Viewer::clear_overlay() {
  for (auto& [k, t] : overlay_) {
    if (t.tex != 0) overlay_free_.push_back(t.tex);
  }
  overlay_.clear();
}

void Viewer::render_overlay_tile(int tx, int ty, OverlayTile* tile) {
  const double ds = view_.downsample, span = kOverlayTile * ds;
  const cv::Rect2d r(tx * span, ty * span, span, span);
  const double m = cell_extent_px_ + 14 + 10 * ds;
  const std::vector<int> cells = grid_.query({r.x - m, r.y - m, r.width + 2 * m, r.height + 2 * m});
  ImDrawList list(ImGui::GetDrawListSharedData());
  list._ResetForNewFrame();
  list.PushTextureID(ImGui::GetIO().Fonts->TexID);
  list.PushClipRect(ImVec2(0, 0), ImVec2(kOverlayTile, kOverlayTile));
  // Thin outlines without anti-aliasing: a third of the vertices, which software GL feels.
  list.Flags &= ~(ImDrawListFlags_AntiAliasedLines | ImDrawListFlags_AntiAliasedFill);
  ViewTransform tv;
  tv.downsample = ds;
  tv.canvas = {0, 0, double(kOverlayTile), double(kOverlayTile)};
  tv.center = {r.x + span / 2, r.y + span / 2};
  list.AddCallback(disable_blending, nullptr);
  const int level = level_for_downsample(geometry_, ds);
  tile->complete = draw_slide(&list, tv, visible_tiles(geometry_, tv, level));
  tile->rendered_at = slide_updates_;
  reset_render_state(&list);
  draw_cell_shapes(&list, tv, cells, static_cast<int>(opacity_ * 255));
  if (tile->tex == 0 && !overlay_free_.empty()) {
    tile->tex = overlay_free_.back();
    overlay_free_.pop_back();
  } else if (tile->tex == 0) {
    glGenTextures(1, &tile->tex);
    define_texture(tile->tex, GL_NEAREST, GL_RGBA8, GL_RGBA, kOverlayTile, kOverlayTile, nullptr);
  }
  if (overlay_fbo_ == 0) glGenFramebuffers(1, &overlay_fbo_);
  glBindFramebuffer(GL_FRAMEBUFFER, overlay_fbo_);
  glFramebufferTexture2D(GL_FRAMEBUFFER, GL_COLOR_ATTACHMENT0, GL_TEXTURE_2D, tile->tex, 0);
  glViewport(0, 0, kOverlayTile, kOverlayTile);
  glDisable(GL_SCISSOR_TEST);
  glClearColor(235 / 255.0f, 235 / 255.0f, 235 / 255.0f, 1.0f);  // the canvas background past the slide
  glClear(GL_COLOR_BUFFER_BIT);
  ImDrawList* lists[] = {&list};
  ImDrawData data;
  data.Valid = true;
  data.CmdLists = lists;
  data.CmdListsCount = 1;
  data.TotalVtxCount = list.VtxBuffer.Size;
  data.TotalIdxCount = list.IdxBuffer.Size;
  data.DisplayPos = ImVec2(0, 0);
  data.DisplaySize = ImVec2(kOverlayTile, kOverlayTile);
  data.FramebufferScale = ImVec2(1, 1);
  ImGui_ImplOpenGL3_RenderDrawData(&data);
  glBindFramebuffer(GL_FRAMEBUFFER, 0);
}

void Viewer::draw_cell_shapes(ImDrawList* dl, const ViewTransform& v, const std::vector<int>& cells,
                              int alpha) {
  const double cell_px = 20.0 / v.downsample;
  // Level-0 to screen as one multiply-add per coordinate (v.to_screen per vertex shows up in profiles).
  const double sx = 1.0 / v.downsample;
  const double ox = v.canvas.x + v.canvas.width * 0.5 - v.center.x * sx;
  const double oy = v.canvas.y + v.canvas.height * 0.5 - v.center.y * sx;
  auto screen = [&](double x, double y) { return ImVec2(float(x * sx + ox), float(y * sx + oy)); };
  std::vector<ImVec2> pts;
  std::vector<cv::Point2f> ring;
  for (int i : cells) {
    const Cell& cell = results_.table.cells[i];
    const ImVec2 c = screen(cell.centroid.x, cell.centroid.y);
    if (state_.deleted[i]) {
      const float r = 3;
      dl->AddLine(ImVec2(c.x - r, c.y - r), ImVec2(c.x + r, c.y + r), IM_COL32(80, 80, 80, alpha));
      dl->AddLine(ImVec2(c.x - r, c.y + r), ImVec2(c.x + r, c.y - r), IM_COL32(80, 80, 80, alpha));
      continue;
    }
    const ImU32 col = class_colour(state_.classes[i], state_.counted[i] ? alpha : alpha / 3);
    const bool nuclei_only = cell_display_ == CellDisplay::Nuclei && cell.nucleus.size() >= 3;
    const auto& poly = cell.boundary.empty() || nuclei_only ? cell.nucleus : cell.boundary;
    if (cell_display_ == CellDisplay::Centroid || poly.size() < 3 || cell_px < 6) {
      const float r = cell_display_ == CellDisplay::Centroid ? 3.0f : std::max(1.5f, float(cell_px / 4));
      dl->AddRectFilled(ImVec2(c.x - r, c.y - r), ImVec2(c.x + r, c.y + r), col);
    } else {
      pts.clear();
      for (const auto& p : poly) pts.push_back(screen(p.x, p.y));
      if (cell_display_ == CellDisplay::Fill) {
        ring.clear();
        for (const ImVec2& p : pts) ring.emplace_back(p.x, p.y);
        const std::vector<int> tri = triangulate(ring);
        for (std::size_t t = 0; t + 2 < tri.size(); t += 3)
          dl->AddTriangleFilled(pts[tri[t]], pts[tri[t + 1]], pts[tri[t + 2]], col);
      } else {
        dl->AddPolyline(pts.data(), static_cast<int>(pts.size()), col, ImDrawFlags_Closed, 1.5f);
        // Nuclei once they are big enough to tell from their cell (about 5 screen px across).
        if (cell_display_ == CellDisplay::Outline && &poly != &cell.nucleus && cell.nucleus.size() >= 3 &&
            cell_px >= 12) {
          pts.clear();
          for (const auto& p : cell.nucleus) pts.push_back(screen(p.x, p.y));
          dl->AddPolyline(pts.data(), static_cast<int>(pts.size()), col, ImDrawFlags_Closed, 1.0f);
        }
      }
    }
    if (selected_[i]) {
      dl->AddCircle(c, float(std::max(6.0, cell_px * 0.6)), IM_COL32(255, 255, 255, 255), 0, 2);
    }
  }
}

void Viewer::panel_slide() {
  if (!panel_header("Slide", true)) return;
  if (slide_) {
    const SlideInfo& i = slide_->info();
    ImGui::TextWrapped("%s", slide_path_.filename().string().c_str());
    ImGui::Text("%d x %d px, %d level(s), %s", i.level_sizes[0].width, i.level_sizes[0].height,
                i.level_count(), i.format.c_str());
    if (pixel_size_.known()) {
      ImGui::Text("%.4f um/px (%s)", pixel_size_.x, pixel_size_.source.c_str());
    } else {
      ImGui::TextColored(ImVec4(1, 0.6f, 0, 1), "No pixel size: lengths in px");
    }
    const std::string& type =
        results_record_.image_type.empty() ? slide_image_type_ : results_record_.image_type;
    const ImageTypeWarning w = image_type_warning(image_type_from_name(type));
    if (!w.looks_like.empty()) {
      std::string head = w.looks_like + ":";
      head[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(head[0])));
      ImGui::TextColored(ImVec4(1, 0.6f, 0, 1), "%s", head.c_str());
      ImGui::TextWrapped("%s", w.consequence.c_str());
    } else if (!type.empty()) {
      ImGui::Text("%s", type.c_str());
    }
    if (!results_dir_.empty() && results_.table.size() > 0) {
      // Which results these are matters once they are found for the slide (find_own_results).
      ImGui::TextWrapped("Results: %s", shown_path(results_dir_).c_str());
      if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", results_dir_.string().c_str());
      if (!batch_rois_.file.empty()) {
        if (batch_rois_.error.empty()) {
          ImGui::TextWrapped("Batch regions (black): %zu from %s", batch_rois_.annotations.size(),
                             shown_path(batch_rois_.file).c_str());
        } else {
          ImGui::TextColored(ImVec4(1, 0.6f, 0, 1), "Batch regions not shown:");
          ImGui::TextWrapped("%s", batch_rois_.error.c_str());
        }
      }
      if (results_rescored_) {
        // The batch's tables still hold the scores it wrote: say where the current ones are reported.
        const std::string root = shown_path(results_root(results_dir_));
        ImGui::PushStyleColor(ImGuiCol_Text, ImVec4(1, 0.6f, 0, 1));
        ImGui::TextWrapped(
            "Re-scored since the batch: %s/summary.csv still has the batch's row; "
            "ihcscore reviewed %s reports these scores",
            root.c_str(), root.c_str());
        ImGui::PopStyleColor();
      }
    }
  } else {
    ImGui::TextWrapped("Open a slide or image (Ctrl+O), drop one on the window, or pick a recent file:");
  }
  if (ImGui::Button("Open slide...")) browse(BrowseFor::Slide, slide_path_);
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("Ctrl+O: a slide or image (a dropped file opens too)");
  ImGui::SameLine();
  if (ImGui::Button("Open results...")) {
    browse(BrowseFor::Results, results_dir_.empty() ? slide_path_.parent_path() : results_dir_.parent_path());
  }
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("A folder ihcscore score wrote: OUT/slides/<id> (opens its slide when it is another)");
  if (!recent_.empty() && ImGui::TreeNode("Recent files")) {
    for (const auto& r : recent_) {
      if (ImGui::Selectable(std::filesystem::path(r).filename().string().c_str())) dropped_ = r;
      if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", r.c_str());
    }
    ImGui::TreePop();
  }
}

void Viewer::panel_display() {
  if (!panel_header("Display", false)) return;
  int ch = static_cast<int>(channel_);
  if (ImGui::Combo("Channel", &ch, kChannelNames, 4)) {
    channel_ = static_cast<Channel>(ch);
    ++display_version_;
  }
  if (ImGui::SliderFloat("Brightness", &brightness_, -0.5f, 0.5f)) ++display_version_;
  if (ImGui::SliderFloat("Contrast", &contrast_, 0.2f, 3.0f)) ++display_version_;
  for (int s = 0; s < 2; ++s) {
    for (int k = 0; k < 3; ++k) stain_edit_[s][k] = static_cast<float>(stains_.stains[s].rgb[k]);
    if (ImGui::InputFloat3(stains_.stains[s].name.c_str(), stain_edit_[s], "%.4f",
                           ImGuiInputTextFlags_EnterReturnsTrue)) {
      rebuild_stains();
    }
  }
  if (estimating_.valid()) {
    if (estimating_.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
      try {
        const StainEstimate e = estimating_.get();
        stains_ = e.matrix;
        stain_message_ = "Estimated from view";
        ++display_version_;
      } catch (const std::exception& e) {
        stain_message_ = e.what();
      }
    } else {
      ImGui::Text("Estimating...");
    }
  } else if (slide_ && ImGui::Button("Estimate from view")) {
    const int level = geometry_.source(level_for_downsample(geometry_, view_.downsample));
    const cv::Rect2d vis =
        view_.visible_slide_rect() & cv::Rect2d(0, 0, limits_.slide_size.width, limits_.slide_size.height);
    const double ds = slide_->info().downsamples[level];
    const int w = std::min(2048, static_cast<int>(vis.width / ds)),
              h = std::min(2048, static_cast<int>(vis.height / ds));
    Slide* s = slide_.get();
    const StainMatrix ref = stains_;
    estimating_ = std::async(std::launch::async, [s, vis, level, w, h, ref] {
      const cv::Mat rgb =
          s->read_region(static_cast<std::int64_t>(vis.x), static_cast<std::int64_t>(vis.y), level, w, h);
      return estimate_stains(rgb, ref);
    });
  }
  if (!stain_message_.empty()) ImGui::TextWrapped("%s", stain_message_.c_str());
}

void Viewer::panel_cells() {
  if (!panel_header("Cells", true)) return;
  if (results_.table.size() == 0) {
    ImGui::TextWrapped("No cells yet: run scoring or load a result folder (ihcview SLIDE --results DIR).");
  } else {
    ImGui::Text("%zu cells", results_.table.size());
  }
  ImGui::Checkbox("Show (H)", &show_cells_);
  int d = static_cast<int>(cell_display_);
  if (ImGui::Combo("Draw (M)", &d, kDisplayNames, kDisplayCount)) cell_display_ = static_cast<CellDisplay>(d);
  ImGui::SliderFloat("Opacity", &opacity_, 0.0f, 1.0f);
  if (job_running_) {
    const int total = job_total_.load();
    ImGui::ProgressBar(
        total > 0 ? float(job_done_.load()) / float(total) : 0.0f, ImVec2(-1, 0),
        total > 0 ? (std::to_string(job_done_.load()) + " / " + std::to_string(total) + " tiles").c_str()
                  : "starting...");
    if (ImGui::Button("Cancel")) job_cancel_ = true;
  } else if (slide_) {
    if (ImGui::Button("Score whole slide")) start_scoring(false);
    ImGui::SameLine();
    if (ImGui::Button("Score drawn regions")) start_scoring(true);
  }
}

void Viewer::panel_thresholds() {
  if (!panel_header("Thresholds", true)) return;
  GradingParams& g = live_thresholds_;
  bool changed = false, committed = false;
  // The compartments this table measures: "<Compartment>: DAB OD mean" columns.
  std::vector<std::string> measures;
  for (const auto& n : results_.table.names) {
    if (n.find("DAB") != std::string::npos) measures.push_back(n);
  }
  if (ImGui::BeginCombo("Measurement", g.measurement.c_str())) {
    for (const auto& m : measures) {
      if (ImGui::Selectable(m.c_str(), m == g.measurement)) {
        g.measurement = m;
        changed = committed = true;
      }
    }
    ImGui::EndCombo();
  }
  bool single = g.mode == ThresholdMode::Single;
  if (ImGui::Checkbox("Single threshold", &single)) {
    g.mode = single ? ThresholdMode::Single : ThresholdMode::Three;
    changed = committed = true;
  }
  auto slider = [&](const char* label, double* v, double lo, double hi) {
    float f = static_cast<float>(*v);
    if (ImGui::SliderFloat(label, &f, static_cast<float>(lo), static_cast<float>(hi), "%.3f")) {
      *v = f;
      changed = true;
    }
    committed |= ImGui::IsItemDeactivatedAfterEdit();
  };
  if (single) {
    slider("Positive", &g.threshold_positive, 0.0, 1.5);
  } else {
    slider("1+", &g.threshold_1plus, 0.0, g.threshold_2plus - 0.001);
    slider("2+", &g.threshold_2plus, g.threshold_1plus + 0.001, g.threshold_3plus - 0.001);
    slider("3+", &g.threshold_3plus, g.threshold_2plus + 0.001, 2.0);
  }
  if (changed) {
    nav_order_.clear();
    refresh_cells(true);  // every cell regraded at once, no re-detection
  }
  if (committed) editor_.set_thresholds(g);  // one undo step per slider release
  // Histogram of the scoring measurement with the thresholds drawn in their class colours.
  if (results_.table.size() > 0) {
    if (histogram_.version != cells_version_ || histogram_.measurement != g.measurement) {
      histogram_ = {cells_version_, g.measurement,
                    measurement_histogram(results_.table, g.measurement, state_, 60, 0.0, 1.2)};
    }
    const Histogram& h = histogram_.histogram;
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const ImVec2 p = ImGui::GetCursorScreenPos();
    const float w = ImGui::GetContentRegionAvail().x, ht = 80;
    dl->AddRectFilled(p, ImVec2(p.x + w, p.y + ht), IM_COL32(30, 30, 30, 255));
    const float bw = w / float(h.counts.size());
    for (std::size_t b = 0; b < h.counts.size(); ++b) {
      const float bh = h.max_count > 0 ? ht * float(h.counts[b]) / float(h.max_count) : 0;
      const GradingParams& gg = g;
      const CellClass cls = grade(static_cast<float>(h.lo + (b + 0.5) * (h.hi - h.lo) / h.counts.size()), gg);
      dl->AddRectFilled(ImVec2(p.x + b * bw, p.y + ht - bh), ImVec2(p.x + (b + 1) * bw - 1, p.y + ht),
                        class_colour(cls));
    }
    auto line = [&](double t, CellClass c) {
      const float x = p.x + float((t - h.lo) / (h.hi - h.lo)) * w;
      dl->AddLine(ImVec2(x, p.y), ImVec2(x, p.y + ht), class_colour(c), 2);
    };
    if (single) {
      line(g.threshold_positive, CellClass::Positive);
    } else {
      line(g.threshold_1plus, CellClass::OnePlus);
      line(g.threshold_2plus, CellClass::TwoPlus);
      line(g.threshold_3plus, CellClass::ThreePlus);
    }
    ImGui::Dummy(ImVec2(w, ht));
  }
}

void Viewer::panel_review() {
  if (!panel_header("Review", true)) return;
  ImGui::Text("Selected: %zu  (S-drag, click; Esc clears)", selection_.size());
  static const char* const kClassNames[] = {"Negative", "1+", "2+", "3+"};
  for (int c = 0; c < 4; ++c) {
    if (c > 0) ImGui::SameLine();
    if (ImGui::SmallButton(kClassNames[c]) && results_.table.size() > 0) {
      ++selection_version_;
      for (int i : selection_) selected_[i] = 0;
      selection_ = select_by_class(state_, static_cast<CellClass>(c));
      for (int i : selection_) selected_[i] = 1;
    }
  }
  int f = static_cast<int>(nav_filter_);
  if (ImGui::Combo("E/Q filter", &f, kFilterNames, 6)) {
    nav_filter_ = static_cast<NavFilter>(f);
    nav_order_.clear();
  }
  if (ImGui::SliderFloat("Borderline +/-", &borderline_width_, 0.005f, 0.3f, "%.3f")) nav_order_.clear();
  if (ImGui::Button("Select borderline") && results_.table.size() > 0) {
    nav_filter_ = NavFilter::Borderline;
    nav_order_.clear();
    navigate(0);
    ++selection_version_;
    for (int i : selection_) selected_[i] = 0;
    selection_ = nav_order_;
    for (int i : selection_) selected_[i] = 1;
  }
  ImGui::Text("Tool: %s (R rectangle, P polygon, B brush)", std::string(tool_name(input_.tool())).c_str());
  int kind = static_cast<int>(input_.region_kind());
  ImGui::RadioButton("Include", &kind, 0);
  ImGui::SameLine();
  ImGui::RadioButton("Exclude", &kind, 1);
  input_.set_region_kind(static_cast<RegionKind>(kind));
  for (const auto& r : editor_.review().regions) {
    ImGui::PushID(static_cast<int>(r.id));
    const std::string label = std::string(r.kind == RegionKind::Include ? "Include " : "Exclude ") +
                              std::to_string(r.id) + (r.label.empty() ? "" : " " + r.label);
    if (ImGui::Selectable(label.c_str(), summary_region_ == r.id, 0, ImVec2(200, 0))) {
      summary_region_ = r.id;
      refresh_cells(false);
    }
    ImGui::SameLine();
    if (ImGui::SmallButton("remove")) {
      editor_.remove_region(r.id);
      if (summary_region_ == r.id) summary_region_ = -1;
      refresh_cells(false);
      ImGui::PopID();
      break;
    }
    ImGui::PopID();
  }
  ImGui::Text("Undo: %zu step(s)  Log: %zu entries", editor_.undo_depth(), editor_.review().log.size());
  if (ImGui::Button("Undo")) apply({Action::Type::Undo});
  ImGui::SameLine();
  if (ImGui::Button("Redo")) apply({Action::Type::Redo});
}

void Viewer::panel_summary() {
  if (!panel_header("Summary", true)) return;
  auto table = [&](const char* title, const Summary& s, double area_mm2) {
    if (!ImGui::BeginTable(title, 2, ImGuiTableFlags_Borders)) return;
    auto row = [](const char* k, const std::string& v) {
      ImGui::TableNextRow();
      ImGui::TableSetColumnIndex(0);
      ImGui::TextUnformatted(k);
      ImGui::TableSetColumnIndex(1);
      ImGui::TextUnformatted(v.c_str());
    };
    const auto& num = number_or_dash;
    const Scores& f = s.final;
    row("Detections", std::to_string(f.detections));
    row("Negative", std::to_string(f.counts.negative));
    row("1+", std::to_string(f.counts.one_plus));
    row("2+", std::to_string(f.counts.two_plus));
    row("3+", std::to_string(f.counts.three_plus));
    if (f.counts.positive_ungraded > 0) row("Positive", std::to_string(f.counts.positive_ungraded));
    row("Positive %", num(f.positive_percent, 2));
    if (!std::isnan(area_mm2)) {
      ScoreRow r;
      r.num_positive = f.positive;
      r.tissue_area_mm2 = area_mm2;
      row("Positive per mm^2", num(positive_per_mm2(r), 1));
    }
    row("H-score", num(f.h_score, 2));
    row("Intensity", s.overridden
                         ? num(f.intensity_score, 0) + " (auto " + num(s.automatic.intensity_score, 0) + ")"
                         : num(f.intensity_score, 0));
    row("IxP", num(f.ixp, 2));
    row("Allred", num(f.allred, 0));
    row("IRS", num(f.irs, 0));
    ImGui::EndTable();
  };
  if (results_.table.size() == 0) return;
  ImGui::Text("Slide (in scope)");
  table("slide", slide_summary_, scope_area_mm2());
  if (summary_region_ >= 0) {
    ImGui::Text("Region %lld", static_cast<long long>(summary_region_));
    table("region", region_summary_, std::nan(""));
  }
  const IntensityOverride& o = editor_.review().intensity_override;
  ImGui::SliderInt("Intensity override", &override_score_, 0, 3);
  ImGui::InputText("Reason", override_reason_, sizeof override_reason_);
  if (ImGui::Button(o.active ? "Update override" : "Override intensity")) {
    if (std::string(override_reason_).empty()) {
      message_ = "An intensity override needs a reason";
    } else {
      editor_.set_intensity_override({true, override_score_, override_reason_});
      refresh_cells(false);
    }
  }
  if (o.active) {
    ImGui::SameLine();
    if (ImGui::Button("Clear override")) {
      editor_.set_intensity_override({});
      refresh_cells(false);
    }
  }
  if (ImGui::Button("Save review")) save(true);
  ImGui::SameLine();
  if (ImGui::Button("Screenshot")) {
    pending_screenshot_ = ((results_dir_.empty() ? std::filesystem::path(".") : results_dir_) /
                           ("screenshot-" + std::to_string(std::time(nullptr)) + ".png"))
                              .string();
  }
}

// A preset is a whole parameter file: its grading (measurement, thresholds) goes to the Thresholds panel too.
void Viewer::reset_form(const std::string& preset) {
  form_.preset = preset.empty() ? default_preset_name() : preset;
  apply_params(default_params(form_.preset), "preset " + form_.preset);
}

void Viewer::apply_params(const ParamSet& params, const std::string& source) {
  const GradingParams g = grading_params_from(params);
  form_.values = params;
  form_.source = source;
  form_.error.clear();
  if (same_grading(g, live_thresholds_)) return;
  live_thresholds_ = g;
  editor_.set_thresholds(g);  // one undo step, as a slider release
  nav_order_.clear();
  refresh_cells(true);
}

ParamSet Viewer::current_params() const {
  ParamSet params = form_.values;
  set_grading_params(params, live_thresholds_, "viewer");
  return params;
}

// Loads as `--preset P --params FILE` would (P: the form's last preset), all or nothing: a bad file leaves
// the form as it was and shows the error (file, line, key).
bool Viewer::load_params(const std::filesystem::path& path) {
  try {
    apply_params(params_over_preset(form_.preset, path),
                 "preset " + form_.preset + " + " + path.filename().string());
    message_ = "Loaded parameters from " + path.string();
    return true;
  } catch (const std::exception& e) {
    form_.error = e.what();
    return false;
  }
}

// The file `ihcscore score --params` reads: the form and the live grading, with units and help per key.
bool Viewer::save_params(const std::filesystem::path& path) {
  try {
    std::string text = "# saved by ihcview";
    if (!slide_path_.empty()) text += " for " + slide_path_.filename().string();
    text += " (form from " + form_.source + ")\n" + current_params().to_text();
    write_file_atomic(path, text);
    form_.error.clear();
    message_ = "Saved parameters to " + path.string();
    return true;
  } catch (const std::exception& e) {
    form_.error = e.what();
    return false;
  }
}

bool Viewer::set_form_value(const std::string& key, const std::string& value) {
  const bool known =
      std::any_of(form_.specs.begin(), form_.specs.end(), [&](const ParamSpec& s) { return s.key == key; });
  try {
    if (!known) throw ParamError("unknown detection parameter '" + key + "'");
    form_.values.set(key, value, "viewer");
    form_.error.clear();
    return true;
  } catch (const std::exception& e) {
    form_.error = e.what();
    return false;
  }
}

// A side-panel header; a script's `panel NAME open|close` sets it as a click on it would.
bool Viewer::panel_header(const char* name, bool default_open) {
  if (auto it = panel_requests_.find(name); it != panel_requests_.end()) {
    ImGui::SetNextItemOpen(it->second, ImGuiCond_Always);
    panel_requests_.erase(it);
  }
  return ImGui::CollapsingHeader(name, default_open ? ImGuiTreeNodeFlags_DefaultOpen : 0);
}

void Viewer::panel_detection() {
  if (!panel_header("Detection", false)) return;
  ImGui::TextWrapped("Parameters for Score whole slide / drawn regions (from %s).", form_.source.c_str());
  const std::vector<std::string> presets = preset_names();
  for (const auto& name : presets) {
    if (ImGui::Button(("Preset " + name).c_str())) reset_form(name);
    ImGui::SameLine();
  }
  ImGui::NewLine();
  // The file last loaded or saved (typed paths work too); Load... and Save... browse from it.
  char path[1024];
  std::snprintf(path, sizeof(path), "%s", form_.path.c_str());
  ImGui::PushItemWidth(170);
  if (ImGui::InputText("##params_path", path, sizeof(path))) form_.path = path;
  ImGui::PopItemWidth();
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("Parameter file (key = value), as ihcscore --params reads");
  ImGui::SameLine();
  if (ImGui::Button("Load...")) browse(BrowseFor::LoadParams, form_.path);
  ImGui::SameLine();
  if (ImGui::Button("Save...")) browse(BrowseFor::SaveParams, form_.path);
  ImGui::PushItemWidth(84);  // room for the longest label with its unit beside the field
  for (const ParamSpec& spec : form_.specs) {
    const std::string label =
        spec.label + (spec.unit.empty() ? "" : " [" + spec.unit + "]") + "##" + spec.key;
    const std::string current = form_.values.get_string(spec.key);
    switch (spec.type) {
      case ParamType::Bool: {
        bool v = form_.values.get_bool(spec.key);
        if (ImGui::Checkbox(label.c_str(), &v)) set_form_value(spec.key, v ? "true" : "false");
        break;
      }
      case ParamType::Int: {
        int v = form_.values.get_int(spec.key);
        if (ImGui::InputInt(label.c_str(), &v, 0, 0)) set_form_value(spec.key, std::to_string(v));
        break;
      }
      case ParamType::Double: {
        double v = form_.values.get_double(spec.key);
        if (ImGui::InputDouble(label.c_str(), &v, 0, 0, "%g")) set_form_value(spec.key, format_number(v));
        break;
      }
      case ParamType::Choice: {
        ImGui::SetNextItemWidth(170);  // choices are words ("Hematoxylin OD"); their labels are short
        if (ImGui::BeginCombo(label.c_str(), current.c_str())) {
          for (const auto& choice : spec.choices) {
            if (ImGui::Selectable(choice.c_str(), choice == current)) set_form_value(spec.key, choice);
          }
          ImGui::EndCombo();
        }
        break;
      }
      default: {  // text (stain vectors, background): applied on Enter, not per keystroke
        char buf[512];
        std::snprintf(buf, sizeof(buf), "%s", current.c_str());
        if (ImGui::InputText(label.c_str(), buf, sizeof(buf), ImGuiInputTextFlags_EnterReturnsTrue)) {
          set_form_value(spec.key, buf);
        }
        break;
      }
    }
    if (ImGui::IsItemHovered() && !spec.help.empty()) {
      ImGui::BeginTooltip();
      ImGui::PushTextWrapPos(ImGui::GetFontSize() * 32.0f);
      ImGui::TextUnformatted((spec.key + ": " + spec.help).c_str());
      ImGui::PopTextWrapPos();
      ImGui::EndTooltip();
    }
  }
  ImGui::PopItemWidth();
  if (!form_.error.empty()) ImGui::TextColored(ImVec4(1.0f, 0.35f, 0.3f, 1.0f), "%s", form_.error.c_str());
}

void Viewer::draw_panel() {
  int w, h;
  glfwGetWindowSize(window_, &w, &h);
  ImGui::SetNextWindowPos(ImVec2(float(w) - kPanelWidth, 0));
  ImGui::SetNextWindowSize(ImVec2(kPanelWidth, float(h) - kStatusHeight));
  ImGui::Begin("Panel", nullptr,
               ImGuiWindowFlags_NoTitleBar | ImGuiWindowFlags_NoResize | ImGuiWindowFlags_NoMove |
                   ImGuiWindowFlags_NoCollapse);
  ImGui::PushItemWidth(180);
  panel_slide();
  panel_display();
  panel_cells();
  panel_detection();
  panel_thresholds();
  panel_review();
  panel_summary();
  ImGui::PopItemWidth();
  ImGui::End();
}

// ---- file browser (Dear ImGui has none): a modal over the window, state in browser_ (gui/file_browser)

const char* browse_title(BrowseFor p) {
  switch (p) {
    case BrowseFor::Slide:
      return "Open slide or image";
    case BrowseFor::Results:
      return "Open results folder (OUT/slides/<id>)";
    case BrowseFor::LoadParams:
      return "Load parameter file";
    case BrowseFor::SaveParams:
      return "Save parameter file";
  }
  return "";
}

void Viewer::browse(BrowseFor purpose, const std::filesystem::path& start) {
  namespace fs = std::filesystem;
  fs::path from = start;
  // The parameter field holds a name relative to the working folder, as --params takes it.
  if (!from.empty() && from.is_relative()) from = fs::current_path() / from;
  start_browsing(browser_, purpose, from);
  if (purpose == BrowseFor::SaveParams && browser_.typed.empty()) browser_.typed = "ihcview.params";
}

void Viewer::run_browser_choice() {
  if (browser_choice_.empty()) return;
  const std::filesystem::path p = std::move(browser_choice_);
  browser_choice_.clear();
  bool ok = false;
  std::string why;
  switch (browser_.purpose) {
    case BrowseFor::Slide:
      ok = open(p);
      why = message_;
      break;
    case BrowseFor::Results:
      load_results(p, LoadedResults::Asked::Browser);  // a failure reopens the browser when the reading ends
      ok = true;
      break;
    case BrowseFor::LoadParams:
      form_.path = p.string();
      ok = load_params(p);
      why = form_.error;
      break;
    case BrowseFor::SaveParams:
      form_.path = p.string();
      ok = save_params(p);
      why = form_.error;
      break;
  }
  if (!ok) {  // back to the browser, where the choice was made, with the reason
    browser_.error = why;
    browser_.visible = true;
    browser_.opening = true;
    browser_.focus_name = true;
  }
}

void Viewer::draw_file_browser() {
  namespace fs = std::filesystem;
  FileBrowser& b = browser_;
  if (!b.visible) return;
  const std::string title = std::string(browse_title(b.purpose)) + "###file_browser";
  if (b.opening) {
    ImGui::OpenPopup(title.c_str());
    b.opening = false;
  }
  const ImGuiIO& io = ImGui::GetIO();
  ImGui::SetNextWindowPos(ImVec2(io.DisplaySize.x * 0.5f, io.DisplaySize.y * 0.5f), ImGuiCond_Appearing,
                          ImVec2(0.5f, 0.5f));
  ImGui::SetNextWindowSize(
      ImVec2(std::min(760.0f, io.DisplaySize.x - 40.0f), std::min(500.0f, io.DisplaySize.y - 40.0f)),
      ImGuiCond_Appearing);
  bool keep = true;
  if (!ImGui::BeginPopupModal(title.c_str(), &keep)) {
    b.visible = false;
    return;
  }
  fs::path enter;   // a folder to show instead, after the list is drawn
  fs::path accept;  // a choice to check and take
  bool relist = false;
  if (ImGui::Button("Up")) enter = b.listing.dir.parent_path();
  ImGui::SameLine();
  if (ImGui::Button("Home")) enter = resolve_typed(b.listing.dir, "~");
  ImGui::SameLine();
  char folder[1024];
  std::snprintf(folder, sizeof(folder), "%s", b.listing.dir.string().c_str());
  ImGui::SetNextItemWidth(-1.0f);
  if (ImGui::InputText("##folder", folder, sizeof(folder), ImGuiInputTextFlags_EnterReturnsTrue)) {
    enter = resolve_typed(b.listing.dir, folder);
  }
  const float footer = ImGui::GetFrameHeightWithSpacing() * 2.0f + ImGui::GetTextLineHeightWithSpacing();
  const ImGuiTableFlags flags =
      ImGuiTableFlags_ScrollY | ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersOuter;
  if (ImGui::BeginTable("entries", 2, flags, ImVec2(0.0f, -footer))) {
    ImGui::TableSetupScrollFreeze(0, 1);
    ImGui::TableSetupColumn("Name", ImGuiTableColumnFlags_WidthStretch);
    ImGui::TableSetupColumn("Size", ImGuiTableColumnFlags_WidthFixed, 80.0f);
    ImGui::TableHeadersRow();
    for (std::size_t i = 0; i < b.listing.entries.size(); ++i) {
      const BrowserEntry& e = b.listing.entries[i];
      ImGui::TableNextRow();
      ImGui::TableNextColumn();
      const std::string label = (e.is_dir ? e.name + "/" : e.name) + "##" + std::to_string(i);
      if (e.is_dir) ImGui::PushStyleColor(ImGuiCol_Text, ImVec4(0.55f, 0.78f, 1.0f, 1.0f));
      const bool clicked =
          ImGui::Selectable(label.c_str(), b.selected == static_cast<int>(i),
                            ImGuiSelectableFlags_SpanAllColumns | ImGuiSelectableFlags_AllowDoubleClick);
      if (e.is_dir) ImGui::PopStyleColor();
      if (clicked) {
        b.selected = static_cast<int>(i);
        b.error.clear();
        // A file's name goes into the name field, as in any desktop dialog; a results folder's too.
        if (b.purpose == BrowseFor::Results) {
          b.typed = e.is_dir ? e.name : "";  // a results file stands for the folder shown
        } else if (!e.is_dir) {
          b.typed = e.name;
        }
        if (ImGui::IsMouseDoubleClicked(ImGuiMouseButton_Left)) {
          if (e.is_dir) {
            enter = b.listing.dir / e.name;
          } else {
            accept = current_choice(b);
          }
        }
      }
      ImGui::TableNextColumn();
      if (!e.is_dir) ImGui::TextUnformatted(size_label(e.size).c_str());
    }
    if (b.listing.entries.empty()) {
      ImGui::TableNextRow();
      ImGui::TableNextColumn();
      ImGui::TextDisabled(b.all_files ? "(empty folder)"
                                      : "(nothing to open here; All files shows every file)");
    }
    ImGui::EndTable();
  }
  char name[1024];
  std::snprintf(name, sizeof(name), "%s", b.typed.c_str());
  ImGui::SetNextItemWidth(-250.0f);
  if (b.focus_name) {  // type a name at once, Enter takes it; after a refusal, type again
    ImGui::SetKeyboardFocusHere();
    b.focus_name = false;
  }
  const char* name_label = b.purpose == BrowseFor::Results ? "Folder" : "Name";
  const bool entered = ImGui::InputText(name_label, name, sizeof(name), ImGuiInputTextFlags_EnterReturnsTrue);
  // Logged when the field takes the keyboard: keys typed before then go elsewhere (scripts driving the
  // window wait for this line).
  if (ImGui::IsItemActive() && !b.name_active) {
    std::fprintf(stderr, "file browser: name field ready in %s\n", b.listing.dir.string().c_str());
  }
  b.name_active = ImGui::IsItemActive();
  if (entered) {
    b.typed = name;
    accept = current_choice(b);
    b.focus_name = true;
  } else if (b.typed != name) {
    b.typed = name;
    b.error.clear();
  }
  ImGui::SameLine();
  if (ImGui::Checkbox("All files", &b.all_files)) relist = true;
  const fs::path choice = current_choice(b);
  std::error_code ec;
  // Set only after the file was found to exist (below): no look at the disk every frame.
  const bool replacing = b.purpose == BrowseFor::SaveParams && !choice.empty() && b.replace == choice;
  const char* verb = b.purpose == BrowseFor::LoadParams   ? "Load"
                     : b.purpose == BrowseFor::SaveParams ? (replacing ? "Replace" : "Save")
                                                          : "Open";
  if (ImGui::Button(verb, ImVec2(90, 0))) accept = choice;
  ImGui::SameLine();
  if (ImGui::Button("Cancel", ImVec2(90, 0)) || ImGui::IsKeyPressed(GLFW_KEY_ESCAPE, false)) keep = false;
  if (!b.error.empty()) ImGui::TextColored(ImVec4(1.0f, 0.35f, 0.3f, 1.0f), "%s", b.error.c_str());

  if (!accept.empty()) {
    // A folder typed or double-clicked is entered (a results folder without cells too: OUT is opened
    // on the way to OUT/slides/<id>).
    const bool is_dir = fs::is_directory(accept, ec);
    const std::string why = check_choice(accept, b.purpose);
    if (is_dir && (b.purpose != BrowseFor::Results || !why.empty())) {
      enter = accept;
      b.typed.clear();
    } else if (!why.empty()) {
      b.error = why;
    } else if (b.purpose == BrowseFor::SaveParams && fs::exists(accept, ec) && b.replace != accept) {
      b.replace = accept;
      b.error = accept.string() + " exists: Replace overwrites it";
      std::fprintf(stderr, "file browser: asks before replacing %s\n", accept.string().c_str());
    } else {
      browser_choice_ = accept;  // run at the start of the next frame
      keep = false;
    }
  }
  if (!enter.empty()) {
    enter_folder(b, enter);
    if (b.error.empty() && b.purpose != BrowseFor::SaveParams) b.typed.clear();  // a save keeps its name
  } else if (relist) {
    enter_folder(b, b.listing.dir);
  }
  if (!keep) {
    b.visible = false;
    ImGui::CloseCurrentPopup();
  }
  ImGui::EndPopup();
}

std::string Viewer::status_text() const {
  if (!slide_) return message_;
  const SlideInfo& i = slide_->info();
  std::string text = magnification_label(i.objective_power, view_.downsample) + " | " +
                     position_label(input_.hover_slide(), pixel_size_.x) + " | ";
  // The reviewed scores stay in sight whatever panels are open or scrolled: they are what is reported.
  if (results_.table.size() > 0) {
    const Scores& f = slide_summary_.final;
    text += std::to_string(f.detections) + " cells: " + number_or_dash(f.positive_percent, 1) +
            " % positive, H-score " + number_or_dash(f.h_score, 1) + ", IxP " + number_or_dash(f.ixp, 1) +
            " | ";
  }
  char b[160];
  std::snprintf(b, sizeof b, "tiles %zu pending, cache %.0f MB, tex %.0f MB | %.1f ms | ", loader_->pending(),
                cache_->bytes() / 1048576.0, texture_bytes_ / 1048576.0, last_frame_ms_);
  return text + b + message_;
}

void Viewer::draw_status() {
  int w, h;
  glfwGetWindowSize(window_, &w, &h);
  ImGui::SetNextWindowPos(ImVec2(0, float(h) - kStatusHeight));
  ImGui::SetNextWindowSize(ImVec2(float(w), kStatusHeight));
  ImGui::Begin("Status", nullptr,
               ImGuiWindowFlags_NoTitleBar | ImGuiWindowFlags_NoResize | ImGuiWindowFlags_NoMove |
                   ImGuiWindowFlags_NoScrollbar);
  ImGui::TextUnformatted(status_text().c_str());
  ImGui::End();
}

// ------------------------------------------------------------------------------------------------ input

void Viewer::send(const InputEvent& e) {
  for (const Action& a : input_.handle(e, view_, limits_)) apply(a);
}

void Viewer::frame_input() {
  ImGuiIO& io = ImGui::GetIO();
  const cv::Point2d pos(io.MousePos.x, io.MousePos.y);
  const bool over_canvas = !io.WantCaptureMouse && view_.canvas.contains(pos);
  InputEvent base;
  base.pos = pos;
  base.ctrl = io.KeyCtrl;
  base.shift = io.KeyShift;
  if (io.MouseDelta.x != 0 || io.MouseDelta.y != 0) {
    InputEvent e = base;
    e.type = InputEvent::Type::MouseMove;
    send(e);
  }
  for (int b = 0; b < 3; ++b) {
    if (ImGui::IsMouseClicked(b) && over_canvas) {
      InputEvent e = base;
      e.type = ImGui::IsMouseDoubleClicked(b) ? InputEvent::Type::DoubleClick : InputEvent::Type::MouseDown;
      e.button = b;
      send(e);
      if (e.type == InputEvent::Type::DoubleClick) {
        e.type = InputEvent::Type::MouseDown;
        send(e);
      }
      mouse_down_[b] = true;
    }
    if (ImGui::IsMouseReleased(b) && mouse_down_[b]) {
      InputEvent e = base;
      e.type = InputEvent::Type::MouseUp;
      e.button = b;
      send(e);
      mouse_down_[b] = false;
    }
  }
  if (io.MouseWheel != 0 && over_canvas) {
    InputEvent e = base;
    e.type = InputEvent::Type::Wheel;
    e.wheel = io.MouseWheel;
    send(e);
  }
  if (io.WantCaptureKeyboard) return;
  if (io.KeyCtrl && ImGui::IsKeyPressed(GLFW_KEY_O, false)) {  // QuPath's and every desktop's Open
    browse(BrowseFor::Slide, slide_path_);
    return;
  }
  if (io.KeyCtrl && ImGui::IsKeyPressed(GLFW_KEY_Q, false)) {  // every desktop's Quit: as the close button
    glfwSetWindowShouldClose(window_, GLFW_TRUE);
    return;
  }
  static const std::pair<int, Key> kMap[] = {
      {GLFW_KEY_0, Key::Num0},        {GLFW_KEY_1, Key::Num1},
      {GLFW_KEY_2, Key::Num2},        {GLFW_KEY_3, Key::Num3},
      {GLFW_KEY_KP_0, Key::Num0},     {GLFW_KEY_KP_1, Key::Num1},
      {GLFW_KEY_KP_2, Key::Num2},     {GLFW_KEY_KP_3, Key::Num3},
      {GLFW_KEY_DELETE, Key::Delete}, {GLFW_KEY_BACKSPACE, Key::Delete},
      {GLFW_KEY_E, Key::E},           {GLFW_KEY_Q, Key::Q},
      {GLFW_KEY_H, Key::H},           {GLFW_KEY_R, Key::R},
      {GLFW_KEY_P, Key::P},           {GLFW_KEY_B, Key::B},
      {GLFW_KEY_S, Key::S},           {GLFW_KEY_W, Key::W},
      {GLFW_KEY_A, Key::A},           {GLFW_KEY_D, Key::D},
      {GLFW_KEY_M, Key::M},           {GLFW_KEY_SPACE, Key::Space},
      {GLFW_KEY_LEFT, Key::Left},     {GLFW_KEY_RIGHT, Key::Right},
      {GLFW_KEY_UP, Key::Up},         {GLFW_KEY_DOWN, Key::Down},
      {GLFW_KEY_EQUAL, Key::Plus},    {GLFW_KEY_KP_ADD, Key::Plus},
      {GLFW_KEY_MINUS, Key::Minus},   {GLFW_KEY_KP_SUBTRACT, Key::Minus},
      {GLFW_KEY_HOME, Key::Home},     {GLFW_KEY_Z, Key::Z},
      {GLFW_KEY_Y, Key::Y},           {GLFW_KEY_ESCAPE, Key::Escape},
      {GLFW_KEY_ENTER, Key::Enter},   {GLFW_KEY_KP_ENTER, Key::Enter},
  };
  for (const auto& [code, key] : kMap) {
    const bool repeat = key == Key::Left || key == Key::Right || key == Key::Up || key == Key::Down ||
                        key == Key::W || key == Key::A || key == Key::D;
    if (ImGui::IsKeyPressed(code, repeat)) {
      InputEvent e = base;
      e.type = InputEvent::Type::KeyDown;
      e.key = key;
      send(e);
    }
    if (ImGui::IsKeyReleased(code)) {
      InputEvent e = base;
      e.type = InputEvent::Type::KeyUp;
      e.key = key;
      send(e);
    }
  }
}

bool Viewer::write_screenshot(const std::filesystem::path& path) {
  int w, h;
  glfwGetFramebufferSize(window_, &w, &h);
  cv::Mat rgb(h, w, CV_8UC3);
  glPixelStorei(GL_PACK_ALIGNMENT, 1);
  glReadBuffer(GL_BACK);
  glReadPixels(0, 0, w, h, GL_RGB, GL_UNSIGNED_BYTE, rgb.data);
  cv::Mat flipped, bgr;
  cv::flip(rgb, flipped, 0);
  cv::cvtColor(flipped, bgr, cv::COLOR_RGB2BGR);
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  if (!cv::imwrite(path.string(), bgr)) {
    message_ = path.string() + ": cannot write screenshot";
    std::fprintf(stderr, "ihcview: %s\n", message_.c_str());
    return false;
  }
  message_ = "Screenshot " + path.string();
  return true;
}

// One script command per frame (or more when they do not need a frame); returns false when the script ended.
bool Viewer::script_step() {
  const std::string origin = opt_.script.string();
  auto fail = [&](const ScriptCommand& c, const std::string& why) {
    std::fprintf(stderr, "ihcview: %s:%d: %s\n", origin.c_str(), c.line, why.c_str());
    exit_code_ = 3;
  };
  if (script_wait_frames_ > 0) {
    --script_wait_frames_;
    return true;
  }
  if (bench_.frames_left > 0) {
    bench_.times.push_back(last_frame_ms_);
    bench_.cpu_times.push_back(last_frame_cpu_ms_);
    pan_screen(view_, bench_.step, limits_);
    if (--bench_.frames_left == 0) {
      // The first frame is before any panning.
      std::vector<double> t(bench_.times.begin() + (bench_.times.size() > 1 ? 1 : 0), bench_.times.end());
      std::vector<double> u(bench_.cpu_times.begin() + (bench_.cpu_times.size() > 1 ? 1 : 0),
                            bench_.cpu_times.end());
      std::sort(t.begin(), t.end());
      std::sort(u.begin(), u.end());
      char buf[256];
      std::snprintf(
          buf, sizeof buf,
          "bench-pan: %zu frames, median %.2f ms, p95 %.2f ms, max %.2f ms; CPU (all threads) "
          "median %.2f ms, p95 %.2f ms; decoded tiles %.0f MB, textures %.0f MB, overlay tiles %zu\n",
          t.size(), t[t.size() / 2], t[t.size() * 95 / 100], t.back(), u[u.size() / 2],
          u[u.size() * 95 / 100], cache_ ? cache_->bytes() / 1048576.0 : 0.0, texture_bytes_ / 1048576.0,
          overlay_.size());
      std::fputs(buf, stdout);
      std::fflush(stdout);
      if (!bench_.out.empty()) {
        // One row per frame so a benchmark script can compute its own statistics.
        std::string tsv = "frame\twall_ms\tcpu_ms\n";
        for (std::size_t i = 0; i < bench_.times.size(); ++i) {
          std::snprintf(buf, sizeof buf, "%zu\t%.3f\t%.3f\n", i, bench_.times[i], bench_.cpu_times[i]);
          tsv += buf;
        }
        write_file_atomic(bench_.out, tsv);
      }
    }
    return true;
  }
  // Keys and characters of `press` and `type` are seen before the next command runs.
  if (!g_input_trickle.settled()) return true;
  // After `browse`, commands wait for the name field to have the keyboard, as a person waits for the dialog.
  if (script_await_browser_ > 0 && browser_.visible && !browser_.name_active) {
    if (++script_await_browser_ <= 60) return true;
    std::fprintf(stderr,
                 "ihcview: %s: the file browser's name field did not take the keyboard in 60 frames\n",
                 origin.c_str());
    exit_code_ = 3;
  }
  script_await_browser_ = 0;
  if (script_await_load_) {
    if (loading_.valid()) return true;
    script_await_load_ = false;
  }
  if (script_waiting_) {
    const bool job =
        job_running_ || estimating_.valid() || loading_.valid() || typing_.valid() || exporting_.valid();
    if ((!full_view_ready() || job) && ms_since(script_wait_start_) < 120000) return true;
    script_waiting_ = false;
  }
  while (script_pc_ < script_.size()) {
    const ScriptCommand& c = script_[script_pc_++];
    auto num = [&](std::size_t i) { return script_number(c, i, origin); };
    auto pt = [&](std::size_t i) { return cv::Point2d(num(i), num(i + 1)); };
    auto mouse = [&](InputEvent::Type type, cv::Point2d p, int button = 0, bool shift = false) {
      InputEvent e;
      e.type = type;
      e.pos = p;
      e.button = button;
      e.shift = shift;
      send(e);
    };
    const std::string& n = c.name;
    if (n == "size") {
      glfwSetWindowSize(window_, static_cast<int>(num(0)), static_cast<int>(num(1)));
      script_wait_frames_ = 2;
      return true;
    } else if (n == "open") {
      if (!open(c.args[0])) {
        exit_code_ = 2;
        return false;
      }
    } else if (n == "results") {
      load_results(c.args[0]);
      script_await_load_ =
          true;  // the next command runs once the cells are shown (a failure ends the script)
      return true;
    } else if (n == "wait") {
      script_waiting_ = true;
      script_wait_start_ = Clock::now();
      return true;
    } else if (n == "frames") {
      script_wait_frames_ = static_cast<int>(num(0));
      return true;
    } else if (n == "fit") {
      fit(view_, limits_);
    } else if (n == "one-to-one") {
      one_to_one(view_, limits_);
    } else if (n == "zoom") {
      const cv::Point2d at = c.args.size() == 3 ? pt(1)
                                                : cv::Point2d(view_.canvas.x + view_.canvas.width / 2,
                                                              view_.canvas.y + view_.canvas.height / 2);
      zoom_about(view_, at, num(0), limits_);
    } else if (n == "pan") {
      pan_screen(view_, pt(0), limits_);
    } else if (n == "center") {
      view_.center = pt(0);
      view_.downsample = num(2);
      clamp(view_, limits_);
    } else if (n == "center-at") {
      view_.center = {num(0) * limits_.slide_size.width, num(1) * limits_.slide_size.height};
      view_.downsample = num(2);
      clamp(view_, limits_);
    } else if (n == "mouse") {
      mouse(InputEvent::Type::MouseMove, pt(0));
    } else if (n == "click" || n == "dblclick") {
      const bool shift = c.args.size() == 3 && c.args[2] == "shift";
      mouse(InputEvent::Type::MouseMove, pt(0));
      mouse(InputEvent::Type::MouseDown, pt(0), 0, shift);
      mouse(InputEvent::Type::MouseUp, pt(0), 0, shift);
      if (n == "dblclick") mouse(InputEvent::Type::DoubleClick, pt(0));
    } else if (n == "drag") {
      int button = 0;
      Key hold = Key::None;
      for (std::size_t i = 4; i < c.args.size(); ++i) {
        if (c.args[i] == "middle") button = 2;
        if (c.args[i].rfind("hold-", 0) == 0) hold = parse_key(c.args[i].substr(5));
      }
      if (hold != Key::None) send({InputEvent::Type::KeyDown, {}, 0, 0, hold});
      const cv::Point2d a = pt(0), b = pt(2);
      mouse(InputEvent::Type::MouseMove, a);
      mouse(InputEvent::Type::MouseDown, a, button);
      for (int s = 1; s <= 10; ++s) mouse(InputEvent::Type::MouseMove, a + (b - a) * (s / 10.0), button);
      mouse(InputEvent::Type::MouseUp, b, button);
      if (hold != Key::None) send({InputEvent::Type::KeyUp, {}, 0, 0, hold});
    } else if (n == "wheel") {
      InputEvent e;
      e.type = InputEvent::Type::Wheel;
      e.pos = pt(0);
      e.wheel = num(2);
      send(e);
    } else if (n == "key") {
      std::string k = c.args[0];
      InputEvent e;
      e.pos = input_.hover_screen();
      for (;;) {
        if (k.rfind("ctrl+", 0) == 0) {
          e.ctrl = true;
          k = k.substr(5);
        } else if (k.rfind("shift+", 0) == 0) {
          e.shift = true;
          k = k.substr(6);
        } else {
          break;
        }
      }
      e.key = parse_key(k);
      if (e.key == Key::None) {
        fail(c, "unknown key '" + c.args[0] + "'");
        return false;
      }
      e.type = InputEvent::Type::KeyDown;
      send(e);
      e.type = InputEvent::Type::KeyUp;
      send(e);
    } else if (n == "tool") {
      const std::string& t = c.args[0];
      input_.set_tool(t == "rectangle" ? Tool::Rectangle
                      : t == "polygon" ? Tool::Polygon
                      : t == "brush"   ? Tool::Brush
                                       : Tool::Move);
    } else if (n == "region-kind") {
      input_.set_region_kind(c.args[0] == "exclude" ? RegionKind::Exclude : RegionKind::Include);
    } else if (n == "channel") {
      const std::string& v = c.args[0];
      channel_ = v == "hematoxylin" ? Channel::Hematoxylin
                 : v == "dab"       ? Channel::Dab
                 : v == "residual"  ? Channel::Residual
                                    : Channel::Rgb;
      ++display_version_;
    } else if (n == "display") {
      const std::string& v = c.args[0];
      for (int d = 0; d < kDisplayCount; ++d) {
        if (v == kDisplayWords[d]) cell_display_ = static_cast<CellDisplay>(d);
      }
    } else if (n == "opacity") {
      opacity_ = static_cast<float>(num(0));
    } else if (n == "thresholds" || n == "threshold-single") {
      GradingParams g = live_thresholds_;
      if (n == "thresholds") {
        g.mode = ThresholdMode::Three;
        g.threshold_1plus = num(0);
        g.threshold_2plus = num(1);
        g.threshold_3plus = num(2);
      } else {
        g.mode = ThresholdMode::Single;
        g.threshold_positive = num(0);
      }
      try {
        validate(g);
      } catch (const std::exception& e) {
        fail(c, e.what());
        return false;
      }
      live_thresholds_ = g;
      editor_.set_thresholds(g);
      nav_order_.clear();
      refresh_cells(true);
    } else if (n == "select-class" || n == "select-range" || n == "select-none") {
      ++selection_version_;
      for (int i : selection_) selected_[i] = 0;
      selection_.clear();
      if (n == "select-class") {
        CellClass cls{};
        if (!parse_class_name(c.args[0], &cls)) {
          fail(c, "unknown class '" + c.args[0] + "'");
          return false;
        }
        selection_ = select_by_class(state_, cls);
      } else if (n == "select-range") {
        selection_ = select_by_range(results_.table, live_thresholds_.measurement, num(0), num(1));
      }
      for (int i : selection_) selected_[i] = 1;
    } else if (n == "filter") {
      const std::string& v = c.args[0];
      nav_filter_ = v == "all"          ? NavFilter::All
                    : v == "borderline" ? NavFilter::Borderline
                    : v == "Negative"   ? NavFilter::Negative
                    : v == "1+"         ? NavFilter::OnePlus
                    : v == "2+"         ? NavFilter::TwoPlus
                                        : NavFilter::ThreePlus;
      nav_order_.clear();
    } else if (n == "override") {
      editor_.set_intensity_override({true, static_cast<int>(num(0)), c.args[1]});
      refresh_cells(false);
    } else if (n == "clear-override") {
      editor_.set_intensity_override({});
      refresh_cells(false);
    } else if (n == "param") {
      std::string value = c.args[1];
      for (std::size_t i = 2; i < c.args.size(); ++i) value += " " + c.args[i];  // "OD sum"
      if (!set_form_value(c.args[0], value)) fail(c, form_.error);
    } else if (n == "panel") {
      static const char* const kPanels[] = {"Slide",      "Display", "Cells",  "Detection",
                                            "Thresholds", "Review",  "Summary"};
      const bool known = std::any_of(std::begin(kPanels), std::end(kPanels),
                                     [&](const char* name) { return c.args[0] == name; });
      if (!known || (c.args[1] != "open" && c.args[1] != "close")) {
        std::string names;
        for (const char* name : kPanels) names += (names.empty() ? "" : ", ") + std::string(name);
        fail(c, "panel: expected one of " + names + " and open or close");
        return false;
      }
      panel_requests_[c.args[0]] = c.args[1] == "open";
    } else if (n == "browse") {
      static const std::pair<const char*, BrowseFor> kKinds[] = {{"slide", BrowseFor::Slide},
                                                                 {"results", BrowseFor::Results},
                                                                 {"load-params", BrowseFor::LoadParams},
                                                                 {"save-params", BrowseFor::SaveParams}};
      const auto* k = std::find_if(std::begin(kKinds), std::end(kKinds),
                                   [&](const auto& kind) { return c.args[0] == kind.first; });
      if (k == std::end(kKinds)) {
        fail(c, "browse: expected slide, results, load-params or save-params");
        return false;
      }
      browse(k->second, c.args.size() > 1 ? std::filesystem::path(c.args[1]) : slide_path_);
      script_await_browser_ = 1;
      return true;
    } else if (n == "type") {
      std::vector<unsigned int> text;
      utf8_code_points(c.args[0], &text);  // checked by the parser
      for (unsigned int ch : text) g_input_trickle.inject_char(ch);
      return true;
    } else if (n == "press") {
      // As GLFW on X11 delivers a chord: the modifiers pressed in order, each event's mods being the state
      // before it, the key pressed (its character after it when it types one) and released, the modifiers
      // released in reverse order.
      KeyChord k;
      parse_key_chord(c.args[0], &k);  // checked by the parser
      static const std::pair<int, int> kModifierKeys[] = {{GLFW_MOD_CONTROL, GLFW_KEY_LEFT_CONTROL},
                                                          {GLFW_MOD_SHIFT, GLFW_KEY_LEFT_SHIFT},
                                                          {GLFW_MOD_ALT, GLFW_KEY_LEFT_ALT},
                                                          {GLFW_MOD_SUPER, GLFW_KEY_LEFT_SUPER}};
      int mods = 0;
      for (const auto& [bit, key] : kModifierKeys) {
        if ((k.mods & bit) == 0) continue;
        g_input_trickle.inject_key(key, GLFW_PRESS, mods);
        mods |= bit;
      }
      g_input_trickle.inject_key(k.key, GLFW_PRESS, mods);
      if (k.character != 0) g_input_trickle.inject_char(k.character);
      g_input_trickle.inject_key(k.key, GLFW_RELEASE, mods);
      for (auto it = std::rbegin(kModifierKeys); it != std::rend(kModifierKeys); ++it) {
        if ((k.mods & it->first) == 0) continue;
        g_input_trickle.inject_key(it->second, GLFW_RELEASE, mods);
        mods &= ~it->first;
      }
      return true;
    } else if (n == "load-params") {
      if (!load_params(c.args[0])) fail(c, form_.error);
    } else if (n == "save-params") {
      if (!save_params(c.args[0])) fail(c, form_.error);
    } else if (n == "score") {
      const auto has = [&](const char* w) {
        return std::find(c.args.begin(), c.args.end(), w) != c.args.end();
      };
      start_scoring(has("region"));
      if (has("nowait")) continue;
      script_waiting_ = true;
      script_wait_start_ = Clock::now();
      return true;
    } else if (n == "save") {
      save(true);
    } else if (n == "export-geojson") {
      export_geojson(c.args[0]);
    } else if (n == "export-summary") {
      export_summary(c.args[0]);
    } else if (n == "export-regions") {
      export_regions(c.args[0]);
    } else if (n == "screenshot") {
      pending_screenshot_ = c.args[0];
      return true;  // written after this frame is drawn
    } else if (n == "expect-pixel") {
      // Checked on this frame's back buffer once it is drawn (the front buffer is not readable everywhere).
      pending_pixels_.push_back(c);
      return true;
    } else if (n == "expect-class") {
      const std::int64_t id = std::stoll(c.args[0]);
      std::string got = "(no such cell)";
      for (std::size_t i = 0; i < results_.table.size(); ++i) {
        if (results_.table.cells[i].id == id)
          got = state_.deleted[i] ? "Deleted" : std::string(class_name(state_.classes[i]));
      }
      if (got != c.args[1]) fail(c, "cell " + c.args[0] + " is " + got + ", expected " + c.args[1]);
    } else if (n == "expect-class-at") {
      const int i = hit_test(results_.table, grid_, view_.to_slide(pt(0)), 4 * view_.downsample);
      const std::string got = i < 0               ? "(no cell)"
                              : state_.deleted[i] ? "Deleted"
                                                  : std::string(class_name(state_.classes[i]));
      if (got != c.args[2])
        fail(c, "cell at (" + c.args[0] + ", " + c.args[1] + ") is " + got + ", expected " + c.args[2]);
    } else if (n == "expect-count") {
      CellClass cls{};
      std::int64_t got = -1;
      if (c.args[0] == "selected") {
        got = static_cast<std::int64_t>(selection_.size());
      } else if (c.args[0] == "detections") {
        got = slide_summary_.final.detections;
      } else if (parse_class_name(c.args[0], &cls)) {
        const GradeCounts& k = slide_summary_.final.counts;
        got = cls == CellClass::Negative    ? k.negative
              : cls == CellClass::OnePlus   ? k.one_plus
              : cls == CellClass::TwoPlus   ? k.two_plus
              : cls == CellClass::ThreePlus ? k.three_plus
                                            : k.positive_ungraded;
      }
      if (got != std::stoll(c.args[1]))
        fail(c, "count of " + c.args[0] + " is " + std::to_string(got) + ", expected " + c.args[1]);
    } else if (n == "expect-status") {
      const std::string& want = c.args[0];  // the parser keeps free text whole, spaces included
      const std::string got = status_text();
      if (got.find(want) == std::string::npos)
        fail(c, "status bar '" + got + "' does not hold '" + want + "'");
    } else if (n == "bench-pan") {
      bench_.frames_left = static_cast<int>(num(0));
      bench_.step = pt(1);
      bench_.times.clear();
      bench_.cpu_times.clear();
      bench_.out = c.args.size() > 3 ? c.args[3] : "";
      return true;
    } else if (n == "close") {
      glfwSetWindowShouldClose(window_, GLFW_TRUE);  // the window's close button
      return true;
    } else if (n == "quit") {
      return false;
    }
  }
  return false;
}

void Viewer::check_pixels() {
  int w, h;
  glfwGetFramebufferSize(window_, &w, &h);
  for (const ScriptCommand& c : pending_pixels_) {
    const std::string origin = opt_.script.string();
    const int x = static_cast<int>(script_number(c, 0, origin)),
              y = static_cast<int>(script_number(c, 1, origin));
    unsigned char px[3] = {0, 0, 0};
    glPixelStorei(GL_PACK_ALIGNMENT, 1);
    glReadBuffer(GL_BACK);
    glReadPixels(x, h - 1 - y, 1, 1, GL_RGB, GL_UNSIGNED_BYTE, px);
    const unsigned v = static_cast<unsigned>(std::stoul(c.args[2], nullptr, 16));
    const int want[3] = {int(v >> 16) & 255, int(v >> 8) & 255, int(v) & 255};
    const int tol = static_cast<int>(script_number(c, 3, origin));
    bool ok = true;
    for (int k = 0; k < 3; ++k) ok &= std::abs(px[k] - want[k]) <= tol;
    if (!ok) {
      std::fprintf(stderr, "ihcview: %s:%d: pixel (%d, %d) is %02X%02X%02X, expected %s +/- %d\n",
                   origin.c_str(), c.line, x, y, px[0], px[1], px[2], c.args[2].c_str(), tol);
      exit_code_ = 3;
    }
  }
  pending_pixels_.clear();
}

int Viewer::run() {
  if (!opt_.script.empty()) {
    try {
      script_ = load_script(opt_.script.string());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ihcview: %s\n", e.what());
      return 1;
    }
  }
  if (!opt_.slide.empty() && opt_.results.empty() && std::filesystem::is_directory(opt_.slide)) {
    // `ihcview OUT/slides/<id>`: a result folder opens with the slide it was scored from.
    opt_.results = opt_.slide;
    try {
      opt_.slide = results_source(opt_.results, read_slide_json(opt_.results / "slide.json"));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ihcview: %s\n", e.what());
      return 2;
    }
    if (opt_.slide.empty()) {
      std::fprintf(stderr, "ihcview: %s: slide.json names no slide; give it: ihcview SLIDE --results %s\n",
                   opt_.results.string().c_str(), opt_.results.string().c_str());
      return 2;
    }
  }
  // Creating the window loads the GL driver (about 150 ms for llvmpipe): the slide's first tiles are read
  // meanwhile.
  const bool opened = opt_.slide.empty() || open(opt_.slide, opt_.results.empty() && opt_.find_results);
  if (!glfwInit()) {
    std::fprintf(stderr, "ihcview: cannot initialise GLFW (no display? set DISPLAY or run under xvfb-run)\n");
    return 1;
  }
  glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, 3);
  glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, 0);
  window_ = glfwCreateWindow(opt_.width, opt_.height, "ihcview", nullptr, nullptr);
  if (window_ == nullptr) {
    std::fprintf(stderr, "ihcview: cannot create an OpenGL 3 window\n");
    glfwTerminate();
    return 1;
  }
  glfwMakeContextCurrent(window_);
  g_glfw_up = true;
  if (slide_) glfwSetWindowTitle(window_, ("ihcview - " + slide_path_.filename().string()).c_str());
  glfwSwapInterval(script_.empty() ? 1 : 0);
  g_viewer = this;
  glfwSetDropCallback(window_, [](GLFWwindow*, int count, const char** paths) {
    if (count > 0 && g_viewer != nullptr) g_viewer->on_drop(paths[0]);
  });
  IMGUI_CHECKVERSION();
  ImGui::CreateContext();
  ImGui::GetIO().IniFilename = nullptr;
  ImGui::StyleColorsDark();
  ImGui_ImplGlfw_InitForOpenGL(window_, true);
  // Replaces the backend's key and character callbacks (the wrappers call them): see InputTrickle.
  glfwSetKeyCallback(window_, [](GLFWwindow* w, int key, int scancode, int action, int mods) {
    if (g_input_trickle.on_key(key, scancode, action, mods))
      InputTrickle::give_key(w, key, scancode, action, mods);
  });
  glfwSetCharCallback(window_, [](GLFWwindow* w, unsigned int c) {
    if (g_input_trickle.on_char(c)) ImGui_ImplGlfw_CharCallback(w, c);
  });
  ImGui_ImplOpenGL3_Init("#version 130");
  layout();

  if (!opt_.slide.empty()) {
    if (!opened) {
      exit_code_ = 2;
      quit_ = !script_.empty() || !opt_.screenshot.empty();
    } else if (!opt_.results.empty()) {
      load_results(opt_.results, LoadedResults::Asked::CommandLine);
    }
  }
  bool screenshot_done = opt_.screenshot.empty();
  while (!quit_ && (!glfwWindowShouldClose(window_) || !may_close())) {
    const auto t0 = Clock::now();
    const double cpu0 = process_cpu_ms();
    // Redraw at once only when a frame has work; tiles being read wake the loop themselves
    // (glfwPostEmptyEvent from the loader), so the readers get the CPU instead of a loop redrawing the same
    // picture.
    const bool script_runs = !script_.empty() && (!script_waiting_ || bench_.frames_left > 0);
    const bool tiles_pending = loader_ && loader_->pending() > 0;
    if (script_runs || (!tiles_pending && !full_view_ready() && slide_)) {
      glfwPollEvents();
    } else if (tiles_pending || job_running_ || loading_.valid()) {
      glfwWaitEventsTimeout(0.1);  // progress of a scoring job is redrawn ten times a second
    } else {
      glfwWaitEventsTimeout(0.25);  // idle: no busy loop; the autosave still runs
    }
    run_browser_choice();
    if (!dropped_.empty()) {
      const std::string p = dropped_;
      dropped_.clear();
      // A dropped folder with cells is a result folder; anything else is a slide or image.
      if (std::filesystem::is_directory(p)) {
        load_results(p);
      } else {
        open(p);
      }
    }
    ++frame_;
    layout();
    g_input_trickle.before_new_frame(window_);
    ImGui_ImplOpenGL3_NewFrame();
    ImGui_ImplGlfw_NewFrame();
    ImGui::NewFrame();
    g_input_trickle.after_new_frame();
    if (!script_.empty()) {
      if (!script_step() && pending_screenshot_.empty()) quit_ = true;
    } else {
      frame_input();
    }
    poll_scoring();
    poll_results();
    finish_export(false);
    update_tiles();
    draw_canvas();
    draw_panel();
    draw_status();
    draw_file_browser();
    draw_close_dialog();
    if (hover_cell_ >= 0) hover_cell_ = -1;
    if (slide_ && results_.table.size() > 0 && script_.empty() && !ImGui::GetIO().WantCaptureMouse) {
      const int i = hit_test(results_.table, grid_, input_.hover_slide(), 3 * view_.downsample);
      if (i >= 0 && view_.canvas.contains(input_.hover_screen())) {
        hover_cell_ = i;
        ImGui::BeginTooltip();
        ImGui::Text(
            "Cell %lld: %s%s", static_cast<long long>(results_.table.cells[i].id),
            state_.deleted[i] ? "false detection" : std::string(class_name(state_.classes[i])).c_str(),
            state_.classes[i] != state_.automatic[i] ? " (corrected)" : "");
        for (std::size_t j = 0; j < results_.table.names.size(); ++j) {
          if (results_.table.names[j].find("DAB") != std::string::npos) {
            ImGui::Text("%s: %.3f", results_.table.names[j].c_str(), results_.table.columns[j][i]);
          }
        }
        ImGui::EndTooltip();
      }
    }
    ImGui::Render();
    int fw, fh;
    glfwGetFramebufferSize(window_, &fw, &fh);
    glViewport(0, 0, fw, fh);
    glClearColor(235 / 255.0f, 235 / 255.0f, 235 / 255.0f, 1.0f);  // the canvas background
    glClear(GL_COLOR_BUFFER_BIT);
    ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
    evict_textures();  // after drawing: textures of this frame are never deleted under it
    check_pixels();
    if (!pending_screenshot_.empty()) {
      write_screenshot(pending_screenshot_);
      pending_screenshot_.clear();
    }
    if (first_full_view_ms_ < 0 && full_view_ready()) {
      glFinish();
      first_full_view_ms_ = ms_since(open_time_);
      std::printf("first full view: %.0f ms after open, %.0f ms after process start\n", first_full_view_ms_,
                  ms_since(kProcessStart));
      std::fflush(stdout);
    }
    if (!screenshot_done && first_full_view_ms_ >= 0 && !loading_.valid() && full_view_ready()) {
      write_screenshot(opt_.screenshot);  // with the cells when results were given
      screenshot_done = true;
      if (script_.empty()) quit_ = true;
    }
    glfwSwapBuffers(window_);
    if (bench_.frames_left > 0) glFinish();  // count the rendering, not just its submission
    last_frame_ms_ = ms_since(t0);
    last_frame_cpu_ms_ = process_cpu_ms() - cpu0;
    if (editor_.revision() != saved_revision_ &&
        std::chrono::duration<double>(Clock::now() - last_save_).count() >= opt_.autosave_seconds) {
      save(false);
    }
  }
  if (!screenshot_done && slide_) write_screenshot(opt_.screenshot);
  if (job_running_) {
    job_cancel_ = true;
    job_.join();
  }
  if (!close_.discard) save(true);
  finish_export(true);
  close_slide();
  g_glfw_up = false;
  ImGui_ImplOpenGL3_Shutdown();
  ImGui_ImplGlfw_Shutdown();
  ImGui::DestroyContext();
  glfwDestroyWindow(window_);
  glfwTerminate();
  g_viewer = nullptr;
  return exit_code_;
}

}  // namespace

int run_viewer(const ViewerOptions& options) {
  // Tiles (768 KB decoded, 1 MB as llvmpipe textures) come and go while panning. A fixed mmap threshold gives
  // each back to the system when freed; glibc's default raises the threshold after the first frees and keeps
  // them in a heap that fragments and grows by tens of MB per minute of panning.
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  ParamSet start;
  try {
    start = params_over_preset(options.preset, options.params_file);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ihcview: %s\n", e.what());
    return 1;
  }
  Viewer v(options, start);
  return v.run();
}

}  // namespace ihc::gui
