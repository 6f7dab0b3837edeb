#pragma once
// Nucleus and cell detection with per-compartment DAB measurements, modelled on QuPath's positive cell
// detection (same parameter names and defaults, converted from microns once).
#include <atomic>
#include <functional>
#include <opencv2/core.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "imaging/slide.hpp"
#include "imaging/stains.hpp"
#include "models/cells.hpp"
#include "models/parameters.hpp"

namespace ihc {

// Bad input (empty or non-RGB image, inconsistent parameters); what() says what is wrong.
class DetectionError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
// Thrown by detect_cells_in_slide when `cancel` was set: a partial result is never returned as complete.
class DetectionCancelled : public DetectionError {
 public:
  using DetectionError::DetectionError;
};

struct DetectionParams {
  double requested_pixel_size_um = 0.5;
  std::string detection_image = "OD sum";  // "OD sum" (hematoxylin + DAB) or "Hematoxylin OD"
  double background_radius_um = 8.0;       // opening by reconstruction; 0 = off
  double median_radius_um = 0.0;
  double sigma_um = 1.5;
  double min_area_um2 = 10.0;
  double max_area_um2 = 400.0;
  double threshold = 0.1;  // on the (background-subtracted) detection image
  double max_background = 2.0;
  bool split_by_shape = true;
  // Keep large pale nuclei (between half the threshold and the threshold, at least 40 um^2); QuPath has no
  // such rule, so false reproduces its threshold exactly.
  bool pale_nuclei = true;
  // Fraction of its mean height a nucleus must keep through the membrane-removing disk opening; 0 = off.
  double ridge_kept_height = 0.6;
  // A candidate failing that test gets a second look after a closing of this radius (fills the pale gaps
  // between chromatin granules), when it is bluer than the brown lines around it; 0 = off.
  double ridge_close_um = 0.5;
  // After split by shape, a large nucleus (>= 1.8 x the median area of the nuclei within 25 um) is cut
  // between two concave points of its outline at least this deep (touching nuclei merged into one bean);
  // 0 = off. On in both presets since session 12 (detection F1 up on every annotated set; docs/accuracy.md,
  // "Concave-point split").
  double concave_split_um = 1.0;
  // Crosstalk guard ("Hematoxylin OD" detection only): a candidate nucleus browner than blue must have a
  // hematoxylin/DAB ratio this many times that of the brown structure around it, else it is a brown membrane
  // junction seen through stain vectors a few degrees off. 0 = off (the default, as in QuPath; OD sum
  // detection finds brown Ki-67 nuclei on purpose).
  double crosstalk_guard = 0.0;
  // "OD sum" detection: nuclei are also sought in the hematoxylin plane, and those found where the OD sum
  // found none are added (pale blue nuclei in grey-brown haze, which the OD sum sees no darker than the
  // haze).
  bool hematoxylin_search = false;
  double cell_expansion_um = 5.0;
  // "DAB lines" borders only: a cell grows up to this much beyond cell_expansion_um towards a brown line of
  // its own (a crest), and stays within cell_expansion_um where it finds none (docs/detection.md, step 6).
  // 0 = off.
  double membrane_search_um = 8.0;
  // "DAB lines": cells meet on brown lines (membranes); "midway": between their nuclei, as QuPath's cell
  // expansion (ki67 preset: a brown nucleus's own halo was a line its cell stopped behind).
  std::string cell_borders = "DAB lines";
  bool smooth_boundaries = true;
  double membrane_width_um = 1.0;
  int tile_size_px = 1024;  // at the analysis resolution
  int threads = 0;          // 0 = all cores
};

// The declared parameter list (keys as in DetectionParams) and its conversion.
std::vector<ParamSpec> detection_param_specs();
DetectionParams detection_params_from(const ParamSet& params);

// Overlap (analysis pixels) that tiles need so a cell whose centroid lies in a tile's core comes out the same
// as without tiles: the largest cell twice plus the context smoothing and background subtraction need. Every
// tiling of detection (detect_cells, detect_cells_in_slide, the batch pipeline) uses this one rule.
int detection_overlap_px(const DetectionParams& params);

// The pixel size detection works at: `requested_um`, or the pixel size of a level (level-0 pixel size `mpp0`
// times its downsample) within 1 % of it, which is then read as it is. Resampling by less than 1 % changes
// no measurement that matters and costs a pass over every pixel (a 0.499 um/px scan read at 0.5). NaN or
// <= 0 `mpp0` (no calibration): `requested_um`.
double analysis_pixel_size_um(double requested_um, double mpp0, const std::vector<double>& downsamples);

// Detection upsamples an image at most this much: a coarser image does not resolve nuclei (a nucleus is a
// few of its pixels), and upsampling it fills memory (a 512 px image at 30 um/px is 3 GB at 0.5 um/px).
inline constexpr double kMaxDetectionUpsampling = 4.0;
// Throws DetectionError "<name>: pixel size 30 um/px is too coarse to detect cells at 0.5 um/px ..." when
// `mpp0` (calibrated) exceeds kMaxDetectionUpsampling x `analysis_um`.
void check_detection_upsampling(double mpp0, double analysis_um, const std::string& name);
// A warning when a calibrated image is more than 10 % coarser than `analysis_um` (a 10x scan at 1 um/px,
// detected at 0.5): upsampled, thin membranes and small nuclei read paler than on a finer scan, so scores of
// slides scanned at different resolutions differ (ihc.png at half its resolution: H-score 169 against 201).
// Empty otherwise.
std::string detection_upsampling_warning(double mpp0, double analysis_um);

// Detects cells in one RGB image (CV_8UC3) whose pixel size is `mpp` (NaN or <= 0: treated as
// requested_pixel_size_um, i.e. work in pixels). Coordinates in the result are level-0 pixels in QuPath's
// pixel-edge convention: level-0 pixel (x, y) covers [x, x + 1] x [y, y + 1], (0, 0) is the top-left corner
// of the top-left pixel and a pixel's centre is (x + 0.5, y + 0.5). Pixel p of `rgb` covers [origin + p *
// scale_to_level0, origin + (p + 1) * scale_to_level0] (origin in level-0 pixels), so a centroid of `rgb`'s
// pixel indices p maps to origin + (p + 0.5) * scale_to_level0. Cell::centroid is the nucleus centroid. Large
// images are processed in tiles on params.threads workers. Throws DetectionError for an empty or non-CV_8UC3
// image and for invalid parameters. `keep` (pixels of `rgb`; empty: all) is the part whose cells the caller
// keeps, e.g. a tile's core when `rgb` is a padded tile: the rest of the image only lends context, and cells
// outside `keep` (by centroid) may be missing from the result.
struct DetectionRegion {
  cv::Point2d origin{0, 0};
  double scale_to_level0 = 1.0;
  cv::Rect keep;
};
// `seam_nuclei`, when given, receives one outline per cell of the result (in its order) for a caller that
// deduplicates the cells of several calls at tile seams: SeamCells::admit(core, cells, seam_nuclei) then
// keeps the cells it kept before outlines went along pixel edges (MeasuredCell::seam_nucleus).
CellTable detect_cells(const cv::Mat& rgb, double mpp, const StainMatrix& stains,
                       const DetectionParams& params, const DetectionRegion& region = {},
                       std::vector<std::vector<cv::Point2f>>* seam_nuclei = nullptr);

struct DetectionProgress {
  int tiles_done = 0;
  int tiles_total = 0;
};

// Detects over a level-0 rectangle of a slide in tiles (overlap larger than the largest cell; each cell kept
// by the one tile whose core holds its centroid), reading the level nearest the requested pixel size and
// resampling. `mask` (optional, CV_8U, any size) restricts to tissue: it maps onto `roi`.
// Progress is reported from worker threads; `cancel` is polled between tiles.
struct SlideDetectionOptions {
  cv::Rect2d roi;       // level-0 pixels; empty = whole slide
  cv::Mat tissue_mask;  // optional mask over roi
  std::function<void(const DetectionProgress&)> on_progress;
  const std::atomic<bool>* cancel = nullptr;
};
CellTable detect_cells_in_slide(Slide& slide, const StainMatrix& stains, const DetectionParams& params,
                                const SlideDetectionOptions& options = {});

}  // namespace ihc
