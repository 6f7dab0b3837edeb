#pragma once
// ihcview's window, internal to ihc::gui (gui/app.hpp is the library's interface). One class, split by
// concern: viewer.cpp (slide, tiles, textures, shared helpers), viewer_results.cpp (cells, review, saving,
// exports, scoring jobs), viewer_canvas.cpp (the slide and cells on the canvas), viewer_panels.cpp (side
// panels, file browser, status bar), viewer_script.cpp (scripted sessions, screenshots), app.cpp (window,
// input, frame loop).
#define GL_SILENCE_DEPRECATION
#define GL_GLEXT_PROTOTYPES  // framebuffer objects: libOpenGL exports every core function
#include <GL/gl.h>
#include <GL/glext.h>
#include <GLFW/glfw3.h>
#include <imgui.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <future>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "gui/app.hpp"
#include "gui/canvas_input.hpp"
#include "gui/cell_overlay.hpp"
#include "gui/file_browser.hpp"
#include "gui/input_trickle.hpp"
#include "gui/key_layout.hpp"
#include "gui/script.hpp"
#include "gui/status_line.hpp"
#include "gui/tile_cache.hpp"
#include "gui/view_transform.hpp"
#include "imaging/image_type.hpp"
#include "imaging/slide.hpp"
#include "imaging/stain_estimation.hpp"
#include "imaging/stains.hpp"
#include "models/parameters.hpp"
#include "models/results_io.hpp"
#include "models/results_link.hpp"
#include "models/review.hpp"
#include "models/scoring.hpp"

namespace ihc::gui {

using Clock = std::chrono::steady_clock;
inline double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}
// Taken at static initialisation, i.e. about when the process started: "open to first view" as a user sees
// it.
inline const Clock::time_point kProcessStart = Clock::now();

inline constexpr float kPanelWidth = 360.0f;
inline constexpr float kStatusHeight = 26.0f;
inline constexpr std::size_t kTileCacheBytes = 192u << 20;
// Textures need only cover a few screens (a 1280x800 view holds about 20 tiles of 1 MB); the decoded cache
// behind them serves re-uploads after eviction and channel changes.
inline constexpr std::size_t kTextureBytes = 128u << 20;
inline constexpr int kTileSize = 512;
inline constexpr std::size_t kMaxDrawnCells = 15000;  // above: class map instead of outlines
inline constexpr int kUploadsPerFrame = 12;
inline constexpr int kSettleFrames = 3;            // frames drawn after an input before the idle loop sleeps
inline constexpr double kScriptWaitSeconds = 120;  // a script's `wait` (and `score`) fails past this
inline constexpr int kOverlayTile = 256;           // screen px per side of a cached slide-and-cells tile
inline constexpr std::size_t kOverlayTileCount = 192;  // 48 MB of RGBA

// Binds `tex` and (re)defines its image: clamped edges, `filter` both ways, rows byte-aligned. `data` may be
// null (a render target).
void define_texture(GLuint tex, GLint filter, GLint internal_format, GLenum format, int width, int height,
                    const void* data);
ImU32 class_colour(CellClass c, int alpha = 255);
// Wakes the UI loop (glfwPostEmptyEvent) from any thread, once GLFW is up: tile readers and background
// readings start while GLFW is still loading the GL driver.
void wake_ui();

enum class Channel : int { Rgb = 0, Hematoxylin, Dab, Residual };
inline constexpr const char* kChannelNames[] = {"RGB", "Hematoxylin", "DAB", "Residual"};
// Outline draws cell boundaries and nuclei, QuPath's default: a nucleus outline shows two nuclei taken as
// one, or a cell grown without its nucleus, which a boundary alone hides.
enum class CellDisplay : int { Outline = 0, Cells, Nuclei, Fill, Centroid };
inline constexpr int kDisplayCount = 5;
inline constexpr const char* kDisplayNames[kDisplayCount] = {"Cells + nuclei", "Cell outlines", "Nuclei",
                                                             "Fill", "Centroid"};
static_assert(std::size(kDisplayWords) == kDisplayCount, "gui/script.hpp's display words, in this order");
enum class NavFilter : int { All = 0, Borderline, Negative, OnePlus, TwoPlus, ThreePlus };
inline constexpr const char* kFilterNames[] = {"All cells", "Borderline", "Negative", "1+", "2+", "3+"};

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
std::vector<std::string> read_list(const char* name);
void remember_in(const char* name, const std::filesystem::path& p, std::size_t keep);
std::vector<std::string> read_recent();
void remember_recent(const std::filesystem::path& p);

// A file as last seen: every save renames a new file into place (a new inode), so another program's save
// since shows as another inode, size or modification time.
struct LoadedResults {
  std::filesystem::path dir;
  std::optional<FileStamp> review_stamp;     // review.json as it was just before it was read
  std::optional<std::uint64_t> review_hash;  // ...and a hash of its bytes (content_hash)
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

// `--preset P --params FILE` (FILE may be empty), checked as the batch checks them before scoring; throws
// naming the preset, or the file, line and key, or the bad value.
ParamSet params_over_preset(const std::string& preset, const std::filesystem::path& file);

class Viewer {
 public:
  Viewer(const ViewerOptions& o, const ParamSet& start);
  int run();

  void on_drop(const std::string& path) { dropped_ = path; }

 private:
  void wait_for_work();                // sleeps until the next frame has something to do
  int settle_frames_ = kSettleFrames;  // frames still drawn before the loop sleeps (the first ones too)
  // ---- slide and tiles
  // find: look for the slide's results under the remembered output folders and load the newest
  // (find_results).
  bool open(const std::filesystem::path& path, bool find = true);
  void find_own_results();
  void close_slide();
  void update_tiles();
  bool full_view_ready() const;
  bool texture_current(const TileKey& k) const;  // uploaded, and of the display shown now
  // Shown as it is now, or unreadable (the loader gave up on it): nothing more will come for it.
  bool tile_done(const TileKey& k) const;
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
  // Replaces the selection with `cells` and says so: "49 cells of 2+ selected" (`what` = "of 2+"), so the
  // status line never keeps an older selection's count.
  void select_cells(std::vector<int> cells, const std::string& what);
  void navigate(int step);
  // full: the exports too. signed_off: the pathologist pressed Save: an unchanged review is written as one
  // (review.json says the slide was reviewed); otherwise only a changed review is.
  void save(bool full, bool signed_off = false);
  // "Save review" and Ctrl+S: review.json and the exports, signed off; the status line says what happened.
  void save_now();
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
  // "Score whole slide" / "Score drawn regions": asks first when the job would replace results already in the
  // folder (draw_score_dialog), else scores.
  void ask_scoring(bool region_only);
  void draw_score_dialog();
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
  // ImGui::Button, also clicked by a script's `widget LABEL` (LABEL: the label up to its "##").
  bool button(const char* label);
  bool scripted_click(const char* label);  // a script's `widget LABEL` names this widget now
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
  // Before the review shown gives way to another slide or results folder: saved as quitting saves it
  // (review.json and the reviewed exports). False when it could be saved nowhere: the "Review not saved"
  // dialog opens and the caller parks what it was doing in close_.leave, run when the dialog lets it go.
  bool may_leave();
  void run_leave();  // at the start of a frame: opening a slide or results touches GL state
  void take_results(LoadedResults loaded);  // read results shown, as poll_results does when they arrive
  void draw_close_dialog();
  void draw_conflict_question();  // the close dialog's body while the review is in its conflict file
  bool review_in_conflict() const { return !results_dir_.empty() && !conflict_path_.empty(); }
  void browse(BrowseFor purpose, const std::filesystem::path& start);
  void run_browser_choice();  // at the start of a frame: opening a slide or results touches GL state
  void draw_status();
  std::string status_text() const;   // the status bar's line, whole (scripts' expect-status read it)
  StatusParts status_parts() const;  // its parts, for fitting it to the window (gui/status_line)
  // The slide point under the pointer while the pointer is on the slide in the canvas; nullopt over the side
  // panel, the status bar, a dialog, the overview or beside the slide (the status line then shows no
  // position).
  std::optional<cv::Point2d> pointer_on_slide() const;
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
  // The first tile read error of this slide, said once in the status line and on stderr; with --screenshot
  // the exit status is 2 (the picture is not the slide).
  std::string read_error_;

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
    bool redo = false;              // ...or at the next frame, when this frame's uploads ran out under it
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
  bool uploads_deferred_ = false;     // ready pixels were left for the next frame's uploads
  std::size_t failures_seen_ = 0;     // the loader's failures() when last counted in slide_updates_
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
  bool threshold_drag_ = false;  // a threshold slider was held last frame: the histogram's axis stays
  std::vector<std::string> recent_ = read_recent();
  ReviewEditor editor_;
  GradingParams live_thresholds_;
  DetectionForm form_;
  std::vector<int> selection_;
  int select_all_class_ = 0;  // the Review panel's "Select all of class" choice (index into its classes)
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
  bool summary_region_excludes_ =
      false;  // the summary's region is an exclusion: its table is what it leaves out
  Summary slide_summary_, region_summary_;
  char override_reason_[256] = "";
  int override_score_ = 0;
  // The slider was moved since the override was last set or cleared; until then it shows the override in
  // force, else the automatic intensity (it started at 0: a reason and a click gave IxP 0 on a slide 83 %
  // positive).
  bool override_score_moved_ = false;
  std::uint64_t saved_revision_ = 0;
  std::uint64_t full_saved_revision_ = ~0ULL;
  // Set while the results folder refuses the review and it is kept in its rescue file (models/review):
  // what the status line says, said once on stderr.
  std::string rescue_note_;
  // The last save's error when neither the folder nor the rescue file took the review ("" after a save).
  std::string save_error_;
  // Closing the window, or leaving the slide or results for others, while the review is saved nowhere asks
  // first (draw_close_dialog) instead of losing it.
  struct Leave {
    std::filesystem::path slide;  // open(slide, find)...
    bool find = true;
    std::optional<LoadedResults> results;  // ...or show these results (take_results)
  };
  struct CloseDialog {
    bool open = false;           // shown
    bool opening = false;        // ImGui::OpenPopup at the next draw
    bool discard = false;        // "Quit without saving" was chosen
    std::optional<Leave> leave;  // asked on leaving (not quitting): what to do once the review may go
    bool leave_go = false;       // saved, or "Leave without saving": run_leave at the next frame's start
    bool leave_discard = false;  // ...the latter
  } close_;
  // Scoring into a folder that holds results replaces its cells.csv, cells.geojson, overlay, histogram and
  // slide.json, which no undo brings back: a modal names the folder first, Cancel the default.
  struct ScoreDialog {
    bool open = false;     // shown
    bool opening = false;  // ImGui::OpenPopup at the next draw
    bool region_only = false;
  } score_ask_;
  // The last save tried, whatever came of it: a folder that refuses the review is tried again at the autosave
  // interval, not at every frame (before session 25 it was, and said so on stderr 10 times a second).
  Clock::time_point last_save_try_ = Clock::now();
  // review.json as this viewer last read or wrote it. Changed since (another viewer on the same results),
  // it is not overwritten: this review goes to conflict_path_ beside it, for the rest of the session.
  std::optional<FileStamp> review_stamp_;
  // Its bytes' hash then: another stamp with the same bytes (a touch, a backup or sync tool copying it back)
  // is no other review (it diverted every later save to the conflict file: probe 7).
  std::optional<std::uint64_t> review_hash_;
  std::filesystem::path conflict_path_;
  std::string conflict_note_;

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
  bool script_job_running() const;  // what a `wait` waits for besides the view
  int script_await_browser_ = 0;    // frames since `browse`, while its name field has not the keyboard
  bool script_await_load_ = false;  // after `results`, until the cells are read and shown
  Clock::time_point script_wait_start_;
  double script_wait_limit_s_ = kScriptWaitSeconds;  // `wait SECONDS`: past it the script fails (exit 3)
  int script_wait_line_ = 0;
  std::string pending_screenshot_;
  std::map<std::string, bool> panel_requests_;  // script `panel NAME open|close`, applied at the next frame
  // `widget LABEL`: clicked where the next frame draws it; a widget not drawn then fails the script.
  struct ScriptWidget {
    std::string label;
    bool hit = false;
    int line = 0;
  } script_widget_;
  std::vector<ScriptCommand> pending_pixels_;
  void check_pixels();
  bool mouse_down_[3] = {false, false, false};
  // ImGui has the real pointer (over a panel, a dialog or the status bar) or it left the window; set by
  // frame_input. Scripts move their own pointer (hover_screen), so stays false in scripted sessions.
  bool pointer_off_canvas_ = false;
  InputTrickle trickle_;  // key events reach ImGui one press per frame
  LetterKeys letters_;    // the GLFW key of each letter in the keyboard's layout, read every frame
  void read_layout();     // letters_ from glfwGetKeyName, and ImGui's own text-editing shortcuts with them
  struct BenchPan {
    int frames_left = 0;
    cv::Point2d step;
    std::vector<double> times, cpu_times;
    std::string out;
  } bench_;
};

}  // namespace ihc::gui
