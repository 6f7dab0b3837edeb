#pragma once
// Scoring one slide or image end to end, shared by `ihcscore score` and the viewer: open, tissue, stains,
// cell detection streamed tile by tile through a bounded window, grading, scores (total and per ROI), and the
// slide's outputs: cells.csv, cells.geojson, overlay.png, histogram.png, then slide.json LAST, so a
// slide.json on disk means every other output of that slide is complete.
#include <array>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <opencv2/core.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "imaging/image_type.hpp"
#include "imaging/stains.hpp"
#include "imaging/tiling.hpp"
#include "models/parameters.hpp"
#include "models/regions.hpp"
#include "models/results_io.hpp"

namespace ihc {

// A slide that could not be scored; stage() is "open", "tissue", "stains", "detection", "scoring", "regrade",
// "write".
class PipelineError : public std::runtime_error {
 public:
  PipelineError(std::string stage, const std::string& message)
      : std::runtime_error(message), stage_(std::move(stage)) {}
  const std::string& stage() const { return stage_; }

 private:
  std::string stage_;
};

// The earlier run's cells cannot be regraded (missing, unreadable, or not the cells its slide.json counted).
// Thrown before anything of the slide's folder was changed: score the slide from detection instead.
class RegradeUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Ctrl-C: nothing of the slide is marked complete.
class PipelineCancelled : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// overlay_max_px's default: also the size of the overview a plain image's glass colour is estimated on
// (`ihcscore info` estimates it where `score` does).
inline constexpr int kDefaultOverlayMaxPx = 2048;
// Tissue of an image without a pixel size is found on an overview of at most this many px, whose pixels count
// as kUnknownScaleUmPerPx: the detector's filters then act at a few overview pixels (smoothing 4 px, the
// smallest piece 0.3 % of a 1024^2 overview), whether the image is a slide overview or a microscope field.
inline constexpr double kUnknownScaleMaxSide = 1024.0;
inline constexpr double kUnknownScaleUmPerPx = 4.0;

// Keys of the pipeline itself: stain_vectors, estimate_stains, tissue_detection, tissue_resolution_um,
// overlay_max_px.
std::vector<ParamSpec> pipeline_param_specs();
// detection_param_specs() + scoring_param_specs() + pipeline_param_specs(): every key `--set` accepts.
std::vector<ParamSpec> all_param_specs();
// ParamSet over all_param_specs() with the preset applied ("" = the default preset).
ParamSet default_params(const std::string& preset = "");
// Rejects values every slide would fail on, before any is scored: the detection, grading and score-option
// checks between keys and the measurement name (each value alone, stain vectors and background included, is
// checked when it is set). Throws ParamError naming where each key it names was set. resolve_params of the
// command line calls it.
void check_scoring_params(const ParamSet& params);
// Stable 64-bit hash (hex) of every resolved value, for --resume.
std::string params_hash(const ParamSet& params, const std::string& extra = "");
// The same over the values the cells depend on: every key but grading's (scoring_param_specs: the score
// measurement, thresholds, intensity rule, group). Equal detection hashes mean the same cells, so new
// grading parameters regrade them instead of detecting them again.
std::string detection_hash(const ParamSet& params, const std::string& extra = "");

// The `background` parameter: "auto" (estimated from the glass of plain images), "white" or "R,G,B".
// Throws ParamError for anything else.
struct BackgroundChoice {
  bool automatic = false;
  bool fixed = false;
  std::array<double, 3> rgb{255.0, 255.0, 255.0};
  bool from_stains = false;  // fixed by stain_vectors' own "Background" (QuPath's string) under "auto"
};
BackgroundChoice parse_background(const std::string& text);

// Raised whenever the same input and parameters give other cells or scores than before (a fix, a new rule),
// so that --resume scores such slides again instead of keeping or regrading what an earlier version wrote
// (the parameter hashes alone kept them: a table then mixed two versions' rules). slide.json records it.
// 1 (session 29): pixel-edge coordinates, exact ROI areas, single-threshold scores empty without positives.
// 2 (session 30): a plain image's glass may have a channel under 200 (camera fields' yellow cast); a field
// whose every cell counts has the area of all of it that is not glass; Status says "only N cells" under 20;
// a QuPath stain string's Background is used under background=auto.
inline constexpr int kResultsVersion = 2;

struct ScoreSlideRequest {
  std::filesystem::path input;
  std::string image_id;           // folder name under slides/, and the Image column
  std::filesystem::path out_dir;  // OUT/slides/<id>
  double mpp_override = 0.0;      // --mpp (> 0): used when the file has no pixel size
  std::vector<Annotation> rois;   // --roi; empty = whole slide (tissue)
  std::string roi_source;         // file name, recorded in slide.json
  // The --roi file's warnings (features skipped, names repeated): slide.json's warnings start with them, so
  // they stay with the slide's results (they scrolled away with the progress).
  std::vector<std::string> roi_warnings;
  int threads = 1;  // tile workers for this slide
  // Shared by the slides of a batch (may be null): a tiled slide then runs cores->size() tile workers, each
  // taking a core per tile. Images detected whole keep `threads`.
  CoreBudget* cores = nullptr;
  std::string params_hash;     // recorded for --resume
  std::string detection_hash;  // recorded: a later --resume that changes only grading regrades
  // The two hashes as without --mpp, recorded instead when the file states its own pixel size (--mpp does
  // not change its results, so adding or changing it must not score it again). Empty: as above.
  std::string params_hash_own_mpp;
  std::string detection_hash_own_mpp;
  // Regrade: the cells this earlier record's run wrote to out_dir (cells.csv, cells.geojson) are graded with
  // `params` instead of detected again; every output is rewritten as the run that detected them would have
  // written it with these parameters (open, overview, tissue and stains are redone: they are cheap and the
  // overlay needs them). Throws RegradeUnavailable, having changed nothing, when those cells cannot be read.
  const SlideRecord* regrade_from = nullptr;
  // Benchmark: read exactly the tiles scoring would read (tissue only) and stop: no detection, no outputs.
  // The decode time is the floor scoring is compared with (docs/performance.md).
  bool decode_only = false;
  std::function<void(int done, int total)> on_progress;  // tiles; called from the writer thread
  const std::atomic<bool>* cancel = nullptr;
};

// Scores and writes the slide's outputs. Returns the record written to slide.json. "No tissue" is not an
// error: the record's status says so and the scores are empty. Throws PipelineError (with the stage) for
// anything that stops the slide, PipelineCancelled when `cancel` was raised; in both cases slide.json is
// absent and no temporary file is left behind.
SlideRecord score_slide(const ScoreSlideRequest& request, const ParamSet& params);

// The stain vectors `ihcscore score` estimates for a slide with `params` and estimate_stains on: the same
// overview (overlay_max_px), tissue, background and method (stain_estimation, from stain_vectors), so the
// string `ihcscore stains estimate` prints is the one score's slide.json records. Throws PipelineError when
// the slide cannot be opened or its parameters are wrong.
struct SlideStainEstimate {
  StainMatrix matrix;                 // the estimate, or stain_vectors' when `failure` is set
  std::string source;                 // slide.json's stains_source
  std::string failure;                // non-empty: not estimated (the estimator's reason)
  std::vector<std::string> warnings;  // as slide.json's (a failed estimate, glass not found)
  std::int64_t pixels_used = 0;
  std::array<double, 2> deviation_deg{0.0, 0.0};  // hematoxylin, DAB: angle from stain_vectors'
  double separation_deg = 0.0;
  bool background_found = false;
};
SlideStainEstimate estimate_slide_stains(const std::filesystem::path& input, const ParamSet& params,
                                         double mpp_override = 0.0);
// The stains score chooses with `params` (stain_vectors, estimate_stains, background) for a plain image
// already read: RGB, `mpp` its pixel size (NaN or 0 when unknown), `name` for messages. `ihcscore evaluate`
// detects annotated fields with them, as score would score the same image.
SlideStainEstimate image_stains(const cv::Mat& rgb, const ParamSet& params, double mpp,
                                const std::string& name);

// The tissue `ihcscore score` scores a slide on with `params` (its overview, glass colour and tissue
// detection; a plain image without any piece kept is taken whole or by its stained pixels, as score does when
// it finds cells there): `ihcscore info` prints it. Throws PipelineError when the slide cannot be opened.
struct SlideTissue {
  double area_mm2 =
      0.0;  // summary.csv's Tissue area mm^2 of the slide scored whole; NaN without a pixel size
  double area_px0 = 0.0;  // level-0 pixels
  double fraction = 0.0;  // of the image
  int pieces = 0;
  double threshold_od = 0.0;
  std::string note;  // how a plain image without a piece kept was taken
  ImageTypeEstimate type;
};
SlideTissue slide_tissue(const std::filesystem::path& input, const ParamSet& params,
                         double mpp_override = 0.0);

// A regrade sets the slide's outputs aside under hidden names (".earlier-cells.csv", ...) until its new
// slide.json is written, and puts them back when it stops before: the cells detected earlier are never lost.
// After a kill this puts back what was set aside in `out_dir` when no new slide.json was written, and removes
// it otherwise. The batch calls it before it looks at a result folder; score_slide does too.
void restore_set_aside_outputs(const std::filesystem::path& out_dir);

// A cell file of `out_dir` whose size is not the one its slide.json's `cells_files` stamp records (a file cut
// short by a full disk or a bad copy, or edited): its name, its size and the recorded one. nullopt when every
// recorded size holds. Times are not compared: a copied folder has new ones.
struct CellFileSizeChange {
  std::string name;
  std::int64_t size = 0;
  std::int64_t recorded = 0;
};
std::optional<CellFileSizeChange> cell_file_size_change(const std::filesystem::path& out_dir,
                                                        const std::string& cells_files);

class Slide;
// The whole slide downsampled by about `downsample` (level-0 px per output px), RGB, read strip by strip from
// the best level so memory stays bounded whatever the slide size.
cv::Mat read_overview(Slide& slide, double downsample);

// The slide's image type from an overview of at most `max_side` px on its long side, with the glass colour
// estimated from it (ihcview, for a slide opened without results; score_slide uses its own overview).
ImageTypeEstimate estimate_slide_image_type(Slide& slide, int max_side = 1024);
// Same on an overview already read, over `tissue` (CV_8U, any size; empty = every pixel): `ihcscore info`.
ImageTypeEstimate estimate_overview_image_type(const cv::Mat& overview, const cv::Mat& tissue = cv::Mat());

// Library versions for run.json: "3.4.1", "4.6.0".
std::string openslide_version();
std::string opencv_version();

// ISO 8601 UTC "2026-01-02T03:04:05Z".
std::string utc_now();

}  // namespace ihc
