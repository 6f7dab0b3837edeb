#include "imaging/cell_detection.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <opencv2/imgproc.hpp>
#include <sstream>

#include "imaging/cell_measurements.hpp"
#include "imaging/nucleus_detection.hpp"
#include "imaging/tiling.hpp"

namespace ihc {
namespace {

constexpr const char* kOdSum = "OD sum";
// Detection holds about 100 bytes per pixel of a padded tile per worker: at 4096 two workers took 4 GB
// (the batch's budget is 1.5 GB).
constexpr int kMaxTileSizePx = 2048;
constexpr const char* kHematoxylinOd = "Hematoxylin OD";
constexpr const char* kBordersOnLines = "DAB lines";
constexpr const char* kBordersMidway = "midway";
// Depth of the distance-map saddle (um) that separates two touching nuclei in "split by shape".
constexpr double kSplitDepthUm = 0.5;
// Concave-point split: the radius of the neighbourhood whose median nucleus area is the reference (measured
// 20, 25 and 30 um, docs/accuracy.md "Concave-point split"); cell_context widens a tile's search region to
// hold every neighbour whole, so every tiling sees the same neighbours.
constexpr double kConcaveReferenceRadiusUm = 25.0;
// Disk of the ridge-suppressing opening. Brown membranes are 1-2.5 um wide and where two cross the junction
// holds a disk of 0.71 x their width (<= 1.8 um), so a 2 um disk removes lines and junctions while every
// nucleus of at least 4 um across survives. Not tied to min_area_um2 (it was the disk of that area when
// larger): raising the minimum area to leave lymphocytes out widened the opening until ordinary nuclei failed
// the ridge test (min_area_um2 = 45 on a synthetic slide: 2 of 2115 cells left).
constexpr double kRidgeRadiusUm = 2.0;
// Pale nuclei (docs/accuracy.md): faint vesicular tumour nuclei (DeepLIIF, SHIDC p2_*) reach only 0.06-0.1 OD
// above their background. Between half the threshold and the threshold a nucleus is kept when it covers at
// least 40 um^2 (about 7 um across): smaller faint blobs are mostly fibrous stroma and texture.
constexpr double kPaleFraction = 0.5;
constexpr double kPaleMinAreaUm2 = 40.0;
// Second search on hematoxylin: a nucleus found there joins when at most this fraction of it lies in OD-sum
// nuclei (10 % and 30 % measured alike, docs/accuracy.md).
constexpr double kMaxHematoxylinOverlap = 0.3;

// Each worker holds a tile padded by the overlap on every side: 1024 px of overlap is a 3072 px square for a
// 1024 px tile, about 1.4 GB of planes (defaults at 0.5 um/px: about 170 px; at 0.1 um/px: 850).
constexpr int kMaxOverlapPx = 1024;
// OpenCV's 8-bit median filter refuses apertures above about 390 px.
constexpr int kMaxMedianRadiusPx = 100;

std::string fmt(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

void validate(const DetectionParams& p) {
  auto fail = [](const std::string& what) { throw DetectionError("cell detection: " + what); };
  if (!(p.requested_pixel_size_um > 0) || !std::isfinite(p.requested_pixel_size_um)) {
    fail("requested_pixel_size_um must be > 0, got " + fmt(p.requested_pixel_size_um));
  }
  if (p.detection_image != kOdSum && p.detection_image != kHematoxylinOd) {
    fail("detection_image must be 'OD sum' or 'Hematoxylin OD', got '" + p.detection_image + "'");
  }
  if (p.cell_borders != kBordersOnLines && p.cell_borders != kBordersMidway) {
    fail("cell_borders must be 'DAB lines' or 'midway', got '" + p.cell_borders + "'");
  }
  const std::pair<const char*, double> non_negative[] = {{"background_radius_um", p.background_radius_um},
                                                         {"median_radius_um", p.median_radius_um},
                                                         {"sigma_um", p.sigma_um},
                                                         {"min_area_um2", p.min_area_um2},
                                                         {"cell_expansion_um", p.cell_expansion_um},
                                                         {"membrane_search_um", p.membrane_search_um},
                                                         {"membrane_width_um", p.membrane_width_um}};
  for (const auto& [name, v] : non_negative) {
    if (!(v >= 0) || !std::isfinite(v)) fail(std::string(name) + " must be >= 0, got " + fmt(v));
  }
  if (!(p.max_area_um2 > p.min_area_um2)) {
    fail("max_area_um2 (" + fmt(p.max_area_um2) + ") must be greater than min_area_um2 (" +
         fmt(p.min_area_um2) + ")");
  }
  if (!std::isfinite(p.threshold)) fail("threshold must be a number");
  if (!(p.ridge_kept_height >= 0 && p.ridge_kept_height <= 1)) {
    fail("ridge_kept_height must be between 0 and 1, got " + fmt(p.ridge_kept_height));
  }
  if (!(p.ridge_close_um >= 0 && p.ridge_close_um <= 5)) {
    fail("ridge_close_um must be between 0 and 5, got " + fmt(p.ridge_close_um));
  }
  if (!(p.concave_split_um >= 0 && p.concave_split_um <= 10)) {
    fail("concave_split_um must be between 0 and 10, got " + fmt(p.concave_split_um));
  }
  if (!(p.crosstalk_guard >= 0) || !std::isfinite(p.crosstalk_guard)) {
    fail("crosstalk_guard must be >= 0, got " + fmt(p.crosstalk_guard));
  }
  if (p.crosstalk_guard > 0 && p.detection_image != kHematoxylinOd) {
    fail(
        "crosstalk_guard applies to detection_image 'Hematoxylin OD' only; set it to 0 with "
        "'" +
        p.detection_image + "'");
  }
  if (p.hematoxylin_search && p.detection_image != kOdSum) {
    fail("hematoxylin_search applies to detection_image 'OD sum' only; set it to false with '" +
         p.detection_image + "'");
  }
  if (p.tile_size_px < 64) fail("tile_size_px must be >= 64, got " + std::to_string(p.tile_size_px));
  if (p.hematoxylin_search && p.tile_size_px % 2 != 0) {
    fail("tile_size_px must be even with hematoxylin_search (its search works on 2 x 2 blocks), got " +
         std::to_string(p.tile_size_px));
  }
  if (p.threads < 0) fail("threads must be >= 0, got " + std::to_string(p.threads));
  // In analysis pixels, where the micron ranges alone do not bound the work: at a fine pixel size a
  // background radius of 1000 um took 12.6 GB for a 64 px image, and a median of 98 um failed inside OpenCV.
  const double um = p.requested_pixel_size_um;
  if (p.median_radius_um / um > kMaxMedianRadiusPx) {
    fail("median_radius_um = " + fmt(p.median_radius_um) + " is " + fmt(std::round(p.median_radius_um / um)) +
         " px at " + fmt(um) + " um/px, above the " + std::to_string(kMaxMedianRadiusPx) +
         " px the median filter takes");
  }
  if (const int overlap = detection_overlap_px(p); overlap > kMaxOverlapPx) {
    fail("these parameters need tiles overlapping by " + std::to_string(overlap) + " px at " + fmt(um) +
         " um/px, above the " + std::to_string(kMaxOverlapPx) +
         " px a tile worker's memory allows; the overlap grows with max_area_um2 (" + fmt(p.max_area_um2) +
         "), cell_expansion_um (" + fmt(p.cell_expansion_um) + "), membrane_search_um (" +
         fmt(p.membrane_search_um) + "), sigma_um (" + fmt(p.sigma_um) +
         ") and twice background_radius_um (" + fmt(p.background_radius_um) +
         "): lower them or raise requested_pixel_size_um");
  }
}

// A core cell and a neighbour competing for its border, plus the smoothing's reach.
double cell_context(const DetectionParams& p) {
  const double um = p.requested_pixel_size_um;
  const double largest_nucleus_radius = std::sqrt(p.max_area_um2 / (um * um) / CV_PI);
  // On DAB lines a cell may grow membrane_search_um beyond cell_expansion_um towards its own line.
  const double search_um = p.cell_borders == kBordersOnLines ? p.membrane_search_um : 0.0;
  const double largest_cell_radius = largest_nucleus_radius + (p.cell_expansion_um + search_um) / um;
  const double context = 2.0 * largest_cell_radius + 3.0 * p.sigma_um / um;
  // The concave-point split compares a nucleus with the nuclei whose centroids lie within its reference
  // radius: they must be whole in every tile.
  if (p.concave_split_um <= 0) return context;
  return std::max(context,
                  kConcaveReferenceRadiusUm / um + 2.0 * largest_nucleus_radius + 3.0 * p.sigma_um / um);
}

int cell_context_px(const DetectionParams& p) { return static_cast<int>(std::ceil(cell_context(p))); }

// Every micron parameter converted to analysis pixels, once.
struct PxParams {
  NucleusParamsPx nucleus;
  NucleusParamsPx hematoxylin_nucleus;  // the second search's, at half the resolution
  CellParamsPx cell;
  bool od_sum = true;
  bool hematoxylin_search = false;
  int overlap_px = 0;
  // The part of the overlap the nuclei and cells need (the rest is the background's).
  int cell_context_px = 0;
};

// The nucleus parameters in pixels of `um` microns.
NucleusParamsPx nucleus_px(const DetectionParams& p, double um) {
  NucleusParamsPx n;
  n.background_radius_px = p.background_radius_um / um;
  n.median_radius_px = p.median_radius_um / um;
  n.sigma_px = p.sigma_um / um;
  n.min_area_px = p.min_area_um2 / (um * um);
  n.max_area_px = p.max_area_um2 / (um * um);
  n.threshold = p.threshold;
  n.pale_fraction = p.pale_nuclei ? kPaleFraction : 1.0;
  n.pale_min_area_px = kPaleMinAreaUm2 / (um * um);
  n.max_background = p.max_background;
  n.split_by_shape = p.split_by_shape;
  n.min_kept_height = p.ridge_kept_height;
  n.ridge_close_px = p.ridge_close_um / um;
  n.crosstalk_guard = p.crosstalk_guard;
  n.split_depth_px = kSplitDepthUm / um;
  n.ridge_radius_px = kRidgeRadiusUm / um;
  n.concave_depth_px = p.concave_split_um / um;
  n.concave_reference_radius_px = kConcaveReferenceRadiusUm / um;
  return n;
}

PxParams to_pixels(const DetectionParams& p, bool calibrated) {
  const double um = p.requested_pixel_size_um;  // analysis pixel size
  PxParams q;
  q.od_sum = p.detection_image == kOdSum;
  q.hematoxylin_search = q.od_sum && p.hematoxylin_search;
  q.nucleus = nucleus_px(p, um);
  // The second search works on 2 x 2 blocks: the same microns at twice the pixel size.
  if (q.hematoxylin_search) q.hematoxylin_nucleus = nucleus_px(p, 2.0 * um);
  q.cell.cell_expansion_px = p.cell_expansion_um / um;
  q.cell.membrane_search_px = p.membrane_search_um / um;
  q.cell.membrane_width_px = p.membrane_width_um / um;
  q.cell.smooth_boundaries = p.smooth_boundaries;
  q.cell.borders_on_dab = p.cell_borders == kBordersOnLines;
  q.cell.um_per_px = um;
  q.cell.area_scale = calibrated ? um * um : 1.0;
  q.overlap_px = detection_overlap_px(p);
  q.cell_context_px = cell_context_px(p);
  return q;
}

// Detection and measurement of one analysis-resolution RGB tile; keeps cells whose centroid is in `core`.
std::vector<MeasuredCell> detect_tile(const cv::Mat& rgb, const StainMatrix& stains, const PxParams& q,
                                      const cv::Rect& core) {
  // One set of planes per worker thread, reused tile after tile (no fresh pages per tile).
  thread_local DeconvolutionResult d;
  deconvolve(rgb, stains, d, q.od_sum, /*with_residual=*/false);
  const cv::Mat detection = q.od_sum ? d.od_sum : d.stain1;
  // The background needs the whole padded tile as context; nuclei and cells only the core plus what a core
  // cell and its neighbours reach (the overlap without its background part).
  const cv::Rect region = cv::Rect(core.x - q.cell_context_px, core.y - q.cell_context_px,
                                   core.width + 2 * q.cell_context_px, core.height + 2 * q.cell_context_px) &
                          cv::Rect(0, 0, rgb.cols, rgb.rows);
  thread_local NucleusDetection nuclei;
  detect_nuclei(detection, q.nucleus, d.stain2, nuclei, region);
  if (q.hematoxylin_search) {
    add_hematoxylin_nuclei(d.stain1, q.hematoxylin_nucleus, kMaxHematoxylinOverlap, q.nucleus.min_area_px,
                           nuclei);
  }
  if (nuclei.count == 0) return {};
  const cv::Rect core_in_region(core.tl() - region.tl(), core.size());
  return measure_cells(nuclei.labels, nuclei.count, d.stain1(region), d.stain2(region), q.cell,
                       core_in_region, region.tl());
}

// Maps tile-local analysis pixels (pixel indices: pixel i's centre is i) to level 0 in QuPath's pixel-edge
// convention (level-0 pixel x covers [x, x + 1]): level0 = origin + (p + 0.5) * scale per axis.
struct Mapping {
  cv::Point2d origin;
  cv::Point2d scale{1, 1};
  cv::Point2f map(cv::Point2d p) const {
    return {static_cast<float>(origin.x + (p.x + 0.5) * scale.x),
            static_cast<float>(origin.y + (p.y + 0.5) * scale.y)};
  }
  cv::Point2d map_d(cv::Point2d p) const {
    return {origin.x + (p.x + 0.5) * scale.x, origin.y + (p.y + 0.5) * scale.y};
  }
};

struct Chunk {
  std::vector<Cell> cells;
  std::vector<std::array<float, kMeasurementCount>> values;
  std::vector<std::vector<cv::Point2f>> seam_nuclei;  // per cell: MeasuredCell::seam_nucleus, level 0
  cv::Rect2d core;                                    // the tile's core in level-0 pixels
};

// A tile-local analysis rectangle's pixel edges in level-0 pixels.
cv::Rect2d level0_rect(const cv::Rect& r, const Mapping& m) {
  return {m.origin.x + r.x * m.scale.x, m.origin.y + r.y * m.scale.y, r.width * m.scale.x,
          r.height * m.scale.y};
}

Chunk to_chunk(std::vector<MeasuredCell>&& measured, const Mapping& m) {
  Chunk c;
  c.cells.reserve(measured.size());
  c.values.reserve(measured.size());
  for (auto& mc : measured) {
    Cell cell;
    cell.centroid = m.map_d(mc.centroid);
    cell.boundary.reserve(mc.boundary.size());
    for (const auto& p : mc.boundary) cell.boundary.push_back(m.map(p));
    cell.nucleus.reserve(mc.nucleus.size());
    for (const auto& p : mc.nucleus) cell.nucleus.push_back(m.map(p));
    std::vector<cv::Point2f> seam;
    seam.reserve(mc.seam_nucleus.size());
    for (const auto& p : mc.seam_nucleus) seam.push_back(m.map(p));
    c.cells.push_back(std::move(cell));
    c.values.push_back(mc.values);
    c.seam_nuclei.push_back(std::move(seam));
  }
  return c;
}

// Drops the cells a tile found again at a seam with an earlier tile (SeamCells); chunks in tile order.
void drop_seam_twins(std::vector<Chunk>& chunks) {
  SeamCells seams;
  for (Chunk& c : chunks) {
    if (c.cells.empty()) continue;
    const std::vector<std::uint8_t> keep = seams.admit(c.core, c.cells, c.seam_nuclei);
    std::size_t n = 0;
    for (std::size_t i = 0; i < c.cells.size(); ++i) {
      if (!keep[i]) continue;
      if (n != i) {
        c.cells[n] = std::move(c.cells[i]);
        c.values[n] = c.values[i];
        c.seam_nuclei[n] = std::move(c.seam_nuclei[i]);
      }
      ++n;
    }
    c.cells.resize(n);
    c.values.resize(n);
    c.seam_nuclei.resize(n);
  }
}

// Merges the tiles' cells into one table ordered by position (rows of centroids), with ids 1..n, and their
// seam outlines into `seam_nuclei` (in the same order) when given.
CellTable assemble(std::vector<Chunk>& chunks, bool calibrated, double um_per_level0_px,
                   std::vector<std::vector<cv::Point2f>>* seam_nuclei = nullptr) {
  std::vector<std::pair<std::size_t, std::size_t>> order;
  for (std::size_t t = 0; t < chunks.size(); ++t) {
    for (std::size_t i = 0; i < chunks[t].cells.size(); ++i) order.emplace_back(t, i);
  }
  std::sort(order.begin(), order.end(), [&](const auto& a, const auto& b) {
    const cv::Point2d& pa = chunks[a.first].cells[a.second].centroid;
    const cv::Point2d& pb = chunks[b.first].cells[b.second].centroid;
    return pa.y != pb.y ? pa.y < pb.y : pa.x < pb.x;
  });
  CellTable table;
  std::vector<std::string> names;
  if (calibrated) names = {"Centroid X um", "Centroid Y um"};
  const std::vector<std::string> measured = cell_measurement_names(calibrated);
  names.insert(names.end(), measured.begin(), measured.end());
  for (const auto& n : names) table.add_column(n);
  const std::size_t first = calibrated ? 2 : 0;
  table.cells.reserve(order.size());
  for (auto& col : table.columns) col.reserve(order.size());
  std::int64_t id = 0;
  for (const auto& [t, i] : order) {
    Cell& cell = chunks[t].cells[i];
    cell.id = ++id;
    if (calibrated) {
      table.columns[0].push_back(static_cast<float>(cell.centroid.x * um_per_level0_px));
      table.columns[1].push_back(static_cast<float>(cell.centroid.y * um_per_level0_px));
    }
    const auto& v = chunks[t].values[i];
    for (std::size_t k = 0; k < v.size(); ++k) table.columns[first + k].push_back(v[k]);
    table.cells.push_back(std::move(cell));
    if (seam_nuclei != nullptr) seam_nuclei->push_back(std::move(chunks[t].seam_nuclei[i]));
  }
  return table;
}

bool is_calibrated(double mpp) { return std::isfinite(mpp) && mpp > 0; }

}  // namespace

int detection_overlap_px(const DetectionParams& p) {
  // The cells' context, and the background's: reconstruction reaches beyond its disk through dense
  // clusters, so two background radii (one let cells move by > 1 px at tile seams).
  const int overlap =
      static_cast<int>(std::ceil(cell_context(p) + 2.0 * p.background_radius_um / p.requested_pixel_size_um));
  // The hematoxylin search's 2 x 2 blocks count from each tile's origin: even origins (even tile sizes,
  // validated, and an even overlap) put the same blocks in every tile.
  return p.hematoxylin_search ? overlap + overlap % 2 : overlap;
}

std::vector<ParamSpec> detection_param_specs() {
  auto num = [](std::string key, std::string label, std::string def, std::string unit, std::string help,
                double min, double max = 1e300) {
    ParamSpec s;
    s.key = std::move(key);
    s.label = std::move(label);
    s.type = ParamType::Double;
    s.default_value = std::move(def);
    s.unit = std::move(unit);
    s.help = std::move(help);
    s.min = min;
    s.max = max;
    return s;
  };
  auto flag = [](std::string key, std::string label, std::string def, std::string help) {
    ParamSpec s;
    s.key = std::move(key);
    s.label = std::move(label);
    s.type = ParamType::Bool;
    s.default_value = std::move(def);
    s.help = std::move(help);
    return s;
  };
  auto choice = [&flag](std::string key, std::string label, std::string def, std::vector<std::string> choices,
                        std::string help) {
    ParamSpec s = flag(std::move(key), std::move(label), std::move(def), std::move(help));
    s.type = ParamType::Choice;
    s.choices = std::move(choices);
    return s;
  };
  std::vector<ParamSpec> specs;
  specs.push_back(num("requested_pixel_size_um", "Requested pixel size", "0.5", "um",
                      "Pixel size at which cells are detected; the nearest level is read and resampled (a "
                      "level within 1 % is used as it is); cells of 10 um are not resolved above 2 um/px",
                      0.1, 2));
  specs.push_back(
      choice("detection_image", "Detection image", kOdSum, {kOdSum, kHematoxylinOd},
             "Image in which nuclei are sought; 'OD sum' also finds DAB-brown (positive) nuclei"));
  specs.push_back(num("background_radius_um", "Background radius", "8", "um",
                      "Radius of the opening by reconstruction that estimates background; 0 = off", 0, 100));
  specs.push_back(num("median_radius_um", "Median filter radius", "0", "um",
                      "Median filter to reduce texture before detection; 0 = off", 0, 10));
  specs.push_back(num("sigma_um", "Sigma", "1.5", "um",
                      "Gaussian smoothing; larger values fragment nuclei less but blur boundaries", 0, 10));
  specs.push_back(num("min_area_um2", "Minimum area", "10", "um^2", "Smaller nuclei are discarded", 0, 5000));
  specs.push_back(
      num("max_area_um2", "Maximum area", "400", "um^2", "Larger nuclei are discarded", 0, 10000));
  specs.push_back(num("threshold", "Threshold", "0.1", "OD",
                      "Mean background-subtracted OD a nucleus must exceed", -10, 10));
  specs.push_back(num("max_background", "Max background intensity", "2", "OD",
                      "Nuclei on a background darker than this are discarded; 0 = off", 0, 10));
  specs.push_back(flag("split_by_shape", "Split by shape", "true", "Split touching nuclei by their shape"));
  specs.push_back(flag(
      "pale_nuclei", "Keep large pale nuclei", "true",
      "Also keep nuclei whose mean OD is between half the threshold and the threshold when they cover at "
      "least 40 um^2 (pale vesicular tumour nuclei); false = the threshold alone, as in QuPath"));
  specs.push_back(
      num("ridge_kept_height", "Ridge test (kept height)", "0.6", "",
          "Fraction of its mean height a nucleus must keep through the disk opening that erases thin lines "
          "(brown membranes, fibres); lower keeps more textured nuclei, but below 0.6 brown membranes pass "
          "in OD sum; 0 = off",
          0, 1));
  specs.push_back(
      num("ridge_close_um", "Ridge test: granule closing", "0.5", "um",
          "A candidate that fails the ridge test is measured again after a closing with this radius, "
          "which fills the pale gaps between chromatin granules so coarse-textured nuclei keep "
          "their height; only candidates bluer than the brown lines around them (junctions are "
          "not); 0 = off",
          0, 5));
  specs.push_back(
      num("concave_split_um", "Split at concave points (depth)", "1", "um",
          "After split by shape, a nucleus at least 1.8 times the median nucleus area is cut between two "
          "concave points of its outline at least this deep, when the cut is short (at most 1.5 times "
          "their summed depths) and both parts are at least half the median area and not elongated: "
          "touching pale nuclei merged into one bean (1 um measured best); the median is that of the "
          "nuclei within 25 um (at least 3 of them, else no cut), so tiling does not change the cuts; "
          "0 = off",
          0, 10));
  specs.push_back(num(
      "crosstalk_guard", "Crosstalk guard (relative blueness)", "0", "x",
      "Hematoxylin OD detection only: a candidate nucleus browner than blue must have a hematoxylin/DAB "
      "ratio at least this many times that of the brown structure around it (pixels as brown as it, within "
      "two ridge radii); a membrane junction seen through stain vectors a few degrees off has the ratio of "
      "its own lines and is discarded, a nucleus in brown cytoplasm is bluer; 0 = off (required with OD sum)",
      0, 1000));
  specs.push_back(flag(
      "hematoxylin_search", "Second search on hematoxylin", "false",
      "OD sum detection only: nuclei are also sought in the hematoxylin plane and those found where the OD "
      "sum found none are added (pale blue nuclei in grey-brown haze, as dark as the haze in the OD sum)"));
  specs.push_back(num("cell_expansion_um", "Cell expansion", "5", "um",
                      "Maximum distance a cell grows from its nucleus; where neighbours meet: cell_borders",
                      0, 50));
  specs.push_back(
      num("membrane_search_um", "Membrane search", "8", "um",
          "Cell borders on DAB lines only: beyond the cell expansion a cell grows up to this much "
          "further where it reaches a brown line (membrane) of its own, and stays within the cell "
          "expansion where it finds none (cells of 16-23 um reach their membrane); 0 = off",
          0, 50));
  specs.push_back(choice(
      "cell_borders", "Cell borders", kBordersOnLines, {kBordersOnLines, kBordersMidway},
      "Where neighbouring cells meet: on the brown line between them, a cell stopping behind its own "
      "(membrane and cytoplasm stains), or midway between their nuclei, as QuPath's cell expansion (nuclear "
      "stains: a brown nucleus's halo is no border, and its cell grows as a negative one does)"));
  specs.push_back(flag("smooth_boundaries", "Smooth boundaries", "true", "Smooth nucleus and cell outlines"));
  specs.push_back(num(
      "membrane_width_um", "Membrane width", "1", "um",
      "Width of the membrane band inside each cell along its border (at least one analysis pixel)", 0, 10));
  ParamSpec tile =
      num("tile_size_px", "Tile size", "1024", "px",
          "Tile side at the analysis resolution; the background is estimated per tile, so on dense tissue "
          "another size gives other counts: keep it fixed when comparing slides. Each worker holds a tile: "
          "peak memory with two workers 0.8 GB at 1024, 1.8 GB at 2048",
          64, kMaxTileSizePx);
  tile.type = ParamType::Int;
  specs.push_back(tile);
  ParamSpec threads = num("threads", "Threads", "0", "", "Worker threads for tiles; 0 = all cores", 0, 1024);
  threads.type = ParamType::Int;
  specs.push_back(threads);
  return specs;
}

DetectionParams detection_params_from(const ParamSet& s) {
  DetectionParams p;
  p.requested_pixel_size_um = s.get_double("requested_pixel_size_um");
  p.detection_image = s.get_string("detection_image");
  p.background_radius_um = s.get_double("background_radius_um");
  p.median_radius_um = s.get_double("median_radius_um");
  p.sigma_um = s.get_double("sigma_um");
  p.min_area_um2 = s.get_double("min_area_um2");
  p.max_area_um2 = s.get_double("max_area_um2");
  p.threshold = s.get_double("threshold");
  p.max_background = s.get_double("max_background");
  p.split_by_shape = s.get_bool("split_by_shape");
  p.pale_nuclei = s.get_bool("pale_nuclei");
  p.ridge_kept_height = s.get_double("ridge_kept_height");
  p.ridge_close_um = s.get_double("ridge_close_um");
  p.concave_split_um = s.get_double("concave_split_um");
  p.crosstalk_guard = s.get_double("crosstalk_guard");
  p.hematoxylin_search = s.get_bool("hematoxylin_search");
  p.cell_expansion_um = s.get_double("cell_expansion_um");
  p.membrane_search_um = s.get_double("membrane_search_um");
  p.cell_borders = s.get_string("cell_borders");
  p.smooth_boundaries = s.get_bool("smooth_boundaries");
  p.membrane_width_um = s.get_double("membrane_width_um");
  p.tile_size_px = s.get_int("tile_size_px");
  p.threads = s.get_int("threads");
  validate(p);
  return p;
}

double analysis_pixel_size_um(double requested_um, double mpp0, const std::vector<double>& downsamples) {
  if (!is_calibrated(mpp0)) return requested_um;
  double best = requested_um, best_off = 0.01 * requested_um;
  for (const double d : downsamples) {
    const double off = std::abs(mpp0 * d - requested_um);
    if (off <= best_off) {
      best = mpp0 * d;
      best_off = off;
    }
  }
  return best;
}

void check_detection_upsampling(double mpp0, double analysis_um, const std::string& name) {
  if (!is_calibrated(mpp0) || !(mpp0 > kMaxDetectionUpsampling * analysis_um)) return;
  throw DetectionError(name + ": pixel size " + fmt(mpp0) + " um/px is too coarse to detect cells at " +
                       fmt(analysis_um) + " um/px (" + fmt(std::ceil(mpp0 / analysis_um * 10) / 10) +
                       "x upsampling, at most " + fmt(kMaxDetectionUpsampling) + "x): give a scan of " +
                       fmt(kMaxDetectionUpsampling * analysis_um) +
                       " um/px or finer, or a larger requested_pixel_size_um");
}

std::string detection_upsampling_warning(double mpp0, double analysis_um) {
  if (!is_calibrated(mpp0) || !(mpp0 > 1.1 * analysis_um)) return {};
  return "pixel size " + fmt(mpp0) + " um/px is coarser than the " + fmt(analysis_um) +
         " um/px cells are detected at: upsampled " + fmt(std::round(mpp0 / analysis_um * 10) / 10) +
         "x, thin membranes and small nuclei read paler than on a finer scan; compare slides scanned at one "
         "resolution";
}

CellTable detect_cells(const cv::Mat& rgb, double mpp, const StainMatrix& stains,
                       const DetectionParams& requested, const DetectionRegion& region,
                       std::vector<std::vector<cv::Point2f>>* seam_nuclei) {
  if (rgb.empty()) throw DetectionError("detect_cells: the image is empty");
  if (rgb.type() != CV_8UC3) {
    throw DetectionError("detect_cells: expected an 8-bit RGB image (CV_8UC3), got " +
                         cv::typeToString(rgb.type()));
  }
  if (!(region.scale_to_level0 > 0)) {
    throw DetectionError("detect_cells: scale_to_level0 must be > 0, got " + fmt(region.scale_to_level0));
  }
  validate(requested);
  const bool calibrated = is_calibrated(mpp);
  DetectionParams params = requested;
  params.requested_pixel_size_um = analysis_pixel_size_um(requested.requested_pixel_size_um, mpp, {1.0});
  check_detection_upsampling(mpp, params.requested_pixel_size_um, "detect_cells");
  const PxParams q = to_pixels(params, calibrated);

  // Resample to the requested pixel size (analysis image); uncalibrated images are used as they are.
  cv::Mat analysis = rgb;
  cv::Point2d scale(1, 1);  // analysis px per rgb px
  if (calibrated) {
    const double f = mpp / params.requested_pixel_size_um;
    const cv::Size size(std::max(1, static_cast<int>(std::lround(rgb.cols * f))),
                        std::max(1, static_cast<int>(std::lround(rgb.rows * f))));
    if (size != rgb.size()) {
      cv::resize(rgb, analysis, size, 0, 0, f < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
      scale = {static_cast<double>(size.width) / rgb.cols, static_cast<double>(size.height) / rgb.rows};
    }
  }
  // analysis -> rgb -> level 0 composes into one mapping.
  const double s0 = region.scale_to_level0;
  const auto tiles = make_tiles(analysis.size(), params.tile_size_px, q.overlap_px);
  // The analysis pixels whose cells are wanted: `keep` scaled, with 2 px to spare for rounding.
  cv::Rect wanted(0, 0, analysis.cols, analysis.rows);
  if (!region.keep.empty()) wanted &= scale_rect_outward(region.keep, scale.x, scale.y, 2);
  std::vector<Chunk> chunks(tiles.size());
  run_tasks(static_cast<int>(tiles.size()), params.threads, [&](int t) {
    const TileSpec& tile = tiles[static_cast<std::size_t>(t)];
    const cv::Rect kept = tile.core & wanted;
    if (kept.empty()) return;
    const cv::Rect core(kept.tl() - tile.padded.tl(), kept.size());
    auto measured = detect_tile(analysis(tile.padded), stains, q, core);
    Mapping m;
    m.scale = {s0 / scale.x, s0 / scale.y};
    // level0 = origin + (((a + 0.5) / scale - 0.5) + 0.5) * s0, with a = local + padded offset: an analysis
    // pixel's centre goes to its centre in rgb, then to its centre at level 0 (pixel-edge convention).
    m.origin = {region.origin.x + tile.padded.x * m.scale.x, region.origin.y + tile.padded.y * m.scale.y};
    chunks[static_cast<std::size_t>(t)] = to_chunk(std::move(measured), m);
    chunks[static_cast<std::size_t>(t)].core = level0_rect(core, m);
  });
  drop_seam_twins(chunks);
  if (seam_nuclei != nullptr) seam_nuclei->clear();
  return assemble(chunks, calibrated, calibrated ? mpp / s0 : 0.0, seam_nuclei);
}

CellTable detect_cells_in_slide(Slide& slide, const StainMatrix& stains, const DetectionParams& requested,
                                const SlideDetectionOptions& options) {
  validate(requested);
  const SlideInfo& info = slide.info();
  if (info.level_sizes.empty()) throw DetectionError(info.path.string() + ": the slide has no levels");
  const bool calibrated = info.has_mpp() && info.mpp_x > 0;
  DetectionParams params = requested;
  if (calibrated) {
    params.requested_pixel_size_um =
        analysis_pixel_size_um(requested.requested_pixel_size_um, info.mpp_x, info.downsamples);
    check_detection_upsampling(info.mpp_x, params.requested_pixel_size_um, info.path.string());
  }
  const double mpp0 = calibrated ? info.mpp_x : params.requested_pixel_size_um;
  const PxParams q = to_pixels(params, calibrated);
  const cv::Rect2d full(0, 0, info.level_sizes[0].width, info.level_sizes[0].height);
  const cv::Rect2d roi = options.roi.empty() ? full : (options.roi & full);
  if (roi.empty()) {
    throw DetectionError(info.path.string() + ": the region to detect in lies outside the slide (" +
                         fmt(full.width) + " x " + fmt(full.height) + " px)");
  }
  if (!options.tissue_mask.empty() && options.tissue_mask.type() != CV_8UC1) {
    throw DetectionError(info.path.string() + ": the tissue mask must be 8-bit single channel, got " +
                         cv::typeToString(options.tissue_mask.type()));
  }
  const double ds = params.requested_pixel_size_um / mpp0;  // level-0 px per analysis px
  const int level = slide.best_level_for_downsample(std::max(1.0, ds));
  const double level_ds = info.downsamples[static_cast<std::size_t>(level)];
  const cv::Size grid(std::max(1, static_cast<int>(std::ceil(roi.width / ds))),
                      std::max(1, static_cast<int>(std::ceil(roi.height / ds))));
  const auto tiles = make_tiles(grid, params.tile_size_px, q.overlap_px);
  const cv::Mat& mask = options.tissue_mask;
  const double mask_sx = mask.empty() ? 0 : mask.cols / roi.width;  // mask px per level-0 px
  const double mask_sy = mask.empty() ? 0 : mask.rows / roi.height;
  auto mask_at = [&](cv::Point2d level0) {
    const int mx = static_cast<int>((level0.x - roi.x) * mask_sx);
    const int my = static_cast<int>((level0.y - roi.y) * mask_sy);
    if (mx < 0 || my < 0 || mx >= mask.cols || my >= mask.rows) return false;
    return mask.at<uchar>(my, mx) != 0;
  };

  std::vector<Chunk> chunks(tiles.size());
  std::mutex progress_mutex;
  int done = 0;
  const bool finished = run_tasks(
      static_cast<int>(tiles.size()), params.threads,
      [&](int t) {
        const TileSpec& tile = tiles[static_cast<std::size_t>(t)];
        bool skip = false;
        if (!mask.empty()) {
          const cv::Rect m(static_cast<int>(std::floor(tile.core.x * ds * mask_sx)),
                           static_cast<int>(std::floor(tile.core.y * ds * mask_sy)),
                           static_cast<int>(std::ceil(tile.core.width * ds * mask_sx)) + 1,
                           static_cast<int>(std::ceil(tile.core.height * ds * mask_sy)) + 1);
          const cv::Rect clipped = m & cv::Rect(0, 0, mask.cols, mask.rows);
          skip = clipped.empty() || cv::countNonZero(mask(clipped)) == 0;
        }
        if (!skip) {
          const auto x0 = static_cast<std::int64_t>(std::floor(roi.x + tile.padded.x * ds));
          const auto y0 = static_cast<std::int64_t>(std::floor(roi.y + tile.padded.y * ds));
          const int wl = std::max(1, static_cast<int>(std::lround(tile.padded.width * ds / level_ds)));
          const int hl = std::max(1, static_cast<int>(std::lround(tile.padded.height * ds / level_ds)));
          cv::Mat rgb = slide.read_region(x0, y0, level, wl, hl);
          if (rgb.size() != tile.padded.size()) {
            cv::resize(rgb, rgb, tile.padded.size(), 0, 0,
                       rgb.cols > tile.padded.width ? cv::INTER_AREA : cv::INTER_LINEAR);
          }
          const cv::Rect core(tile.core.tl() - tile.padded.tl(), tile.core.size());
          Mapping m;
          m.scale = {wl * level_ds / tile.padded.width, hl * level_ds / tile.padded.height};
          m.origin = {static_cast<double>(x0), static_cast<double>(y0)};
          Chunk chunk = to_chunk(detect_tile(rgb, stains, q, core), m);
          chunk.core = level0_rect(core, m);
          if (!mask.empty()) {
            Chunk kept;
            kept.core = chunk.core;
            for (std::size_t i = 0; i < chunk.cells.size(); ++i) {
              if (!mask_at(chunk.cells[i].centroid)) continue;
              kept.cells.push_back(std::move(chunk.cells[i]));
              kept.values.push_back(chunk.values[i]);
            }
            chunk = std::move(kept);
          }
          chunks[static_cast<std::size_t>(t)] = std::move(chunk);
        }
        std::lock_guard<std::mutex> lock(progress_mutex);
        ++done;
        if (options.on_progress) options.on_progress({done, static_cast<int>(tiles.size())});
      },
      options.cancel);
  if (!finished) {
    throw DetectionCancelled(info.path.string() + ": cell detection cancelled after " + std::to_string(done) +
                             " of " + std::to_string(tiles.size()) + " tiles");
  }
  drop_seam_twins(chunks);
  return assemble(chunks, calibrated, calibrated ? info.mpp_x : 0.0);
}

}  // namespace ihc
