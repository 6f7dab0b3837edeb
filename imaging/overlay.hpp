#pragma once
// Pictures of a scored slide for a quick visual check: overlay.png (thumbnail with cells coloured by class,
// tissue outline, ROI outlines) and histogram.png (the scoring measurement with the thresholds).
// Cells large enough to see at thumbnail scale are drawn as polygons; smaller ones become a class-colour
// density map (mean class colour, opacity by cell density), so a 40000 px slide still shows where 3+ is.
#include <filesystem>
#include <memory>
#include <opencv2/core.hpp>
#include <string>
#include <utility>
#include <vector>

#include "models/cells.hpp"

namespace ihc {

struct OverlayOptions {
  double min_cell_px = 5.0;  // cells whose box is smaller than this on the thumbnail go to the density map
  double cell_alpha = 0.45;  // fill opacity of drawn cells
};

// Accumulates cells chunk by chunk (tiles), so the slide's polygons need not be kept. Not thread-safe: feed
// it from one thread (the writer).
class OverlayCanvas {
 public:
  // `thumbnail` RGB (CV_8UC3) of the whole image; `level0_size` the full-resolution size it shows.
  OverlayCanvas(cv::Mat thumbnail, cv::Size2d level0_size, OverlayOptions options = {});

  void add_cells(const CellTable& table, const std::vector<CellClass>& classes);
  // `mask` (CV_8U, any size) covers the whole image; its outline is drawn in green.
  void set_tissue_mask(const cv::Mat& mask);
  // ROI outlines in level-0 pixels (outer rings and holes), drawn in black; exclusions (Ignore*, Exclude) in
  // magenta.
  void add_outline(const std::vector<cv::Point2d>& ring, bool exclusion = false);

  cv::Mat render() const;  // RGB
  std::int64_t cells_drawn() const { return drawn_; }
  std::int64_t cells_in_density_map() const { return dense_; }
  double scale() const { return scale_; }  // thumbnail px per level-0 px

 private:
  cv::Mat thumbnail_;
  double scale_ = 1.0;
  OverlayOptions options_;
  cv::Mat fill_;       // CV_8UC3 cell fill colours
  cv::Mat fill_mask_;  // CV_8U where a cell was filled
  cv::Mat edges_;      // CV_8UC3 cell outlines
  cv::Mat edge_mask_;
  // CV_32FC4: summed R, G, B of class colours and count; allocated zeroed by calloc at the first tiny cell,
  // so only the pages it touches are faulted in (a 2048^2 canvas is 64 MB), and `density_box_` bounds them.
  cv::Mat density_;
  std::shared_ptr<void> density_memory_;
  cv::Rect density_box_;
  cv::Mat tissue_mask_;
  std::vector<std::vector<cv::Point>> outlines_;
  std::vector<bool> outline_excludes_;  // per outline
  std::int64_t drawn_ = 0;
  std::int64_t dense_ = 0;
};

struct HistogramOptions {
  int width = 900;
  int height = 420;
  int bins = 100;
};

// The x range of a histogram of `values` (NaN ignored): from min(0, smallest value) to the largest of 1, the
// 99.5th percentile (one outlier does not squash the bars) and 1.25 x each threshold (every line is drawn).
std::pair<double, double> histogram_range(std::vector<float> values, const std::vector<double>& thresholds);

// Histogram of `values` (NaN ignored) over histogram_range with each bar coloured by the class it falls into,
// the thresholds drawn as vertical lines labelled "1+ 0.2", "2+ 0.4", "3+ 0.6" (or "Positive 0.2" when one
// threshold is given), and the measurement name and cell count as title.
cv::Mat render_histogram(const std::vector<float>& values, const std::string& measurement,
                         const std::vector<double>& thresholds, const HistogramOptions& options = {});

// PNG of an RGB image written atomically (temporary file, then rename). Throws FileError.
void write_png_atomic(const std::filesystem::path& path, const cv::Mat& rgb);

}  // namespace ihc
