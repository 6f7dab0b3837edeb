#pragma once
// The viewer's cell logic, apart from any drawing: a spatial grid over centroids (only what is on screen is
// touched), grading with models/scoring (the batch's functions), the review applied on top, hit testing,
// selections, E/Q navigation, the low-zoom class map and the summary scores.
#include <cstdint>
#include <opencv2/core.hpp>
#include <vector>

#include "models/cells.hpp"
#include "models/review.hpp"
#include "models/review_scores.hpp"
#include "models/scoring.hpp"

namespace ihc::gui {

// Uniform bins of centroids in CSR layout: query cost is proportional to the bins touched plus the hits.
class CellGrid {
 public:
  void build(const std::vector<Cell>& cells, double bin_px);
  // Indices of cells whose centroid lies in `r` (level-0 px).
  std::vector<int> query(const cv::Rect2d& r) const;
  // Number of centroids in `r` counted from whole bins (cheap upper estimate used to pick the draw mode).
  std::size_t estimate(const cv::Rect2d& r) const;
  double bin_px() const { return bin_; }
  bool empty() const { return items_.empty(); }
  template <typename F>
  void for_each_bin(const cv::Rect2d& r, F&& f) const;  // f(bin rect, const int* begin, const int* end)

 private:
  bool bin_range(const cv::Rect2d& r, int* x0, int* y0, int* x1, int* y1) const;
  double bin_ = 64.0;
  double x0_ = 0.0, y0_ = 0.0;
  int nx_ = 0, ny_ = 0;
  std::vector<int> start_;  // nx*ny + 1 offsets into items_
  std::vector<int> items_;
  std::vector<cv::Point2d> centroids_;
};

// Grades with models/scoring's grade_cells (throws ScoringError for a missing measurement).
std::vector<CellClass> grade_automatic(const CellTable& table, const GradingParams& params);

// The cell under `p`: whose boundary (else nucleus) polygon contains it, else the nearest centroid within
// `tolerance_px` (level-0 px). -1 when none.
int hit_test(const CellTable& table, const CellGrid& grid, const cv::Point2d& p, double tolerance_px);

// Triangles (index triples into `ring`) that fill a simple polygon of either orientation, by ear clipping:
// ImGui fills convex polygons only, and a fan over a concave cell outline spills colour onto its neighbours.
// Collinear and repeated vertices are dropped; a self-intersecting rest is fanned rather than left empty.
std::vector<int> triangulate(const std::vector<cv::Point2f>& ring);

std::vector<int> select_in_rect(const CellTable& table, const CellGrid& grid, const cv::Rect2d& r);
// The counted cells (in scope, not deleted) of class `cls`: what the summary's count of that class is.
std::vector<int> select_by_class(const CellState& state, CellClass cls);
// Cells whose `column` value is within [lo, hi] (NaN never). Throws ScoringError for an unknown column.
std::vector<int> select_by_range(const CellTable& table, const std::string& column, double lo, double hi);

// Order for E/Q over `filter` (all cells when empty): borderline first, i.e. ascending distance of the
// scoring measurement to the nearest threshold; ties by id.
std::vector<int> navigation_order(const CellTable& table, const GradingParams& params,
                                  const std::vector<int>& filter);

// Low-zoom map: per grid bin in `view`, counted cells per class (index = CellClass value) and the majority.
struct ClassMapBin {
  cv::Rect2d rect;
  int counts[5] = {0, 0, 0, 0, 0};
  int total = 0;
  CellClass majority = CellClass::Negative;
};
std::vector<ClassMapBin> class_map(const CellGrid& grid, const CellState& state, const cv::Rect2d& view);

// The low-zoom map as an image: one pixel per `square_px` x `square_px` square of level 0 (origin at 0, 0),
// value 0 when no cell has its centroid there, else 1 + the majority class of the counted cells (ties go to
// the stronger class); a square with only cells out of scope (deleted ones are no cells) holds kOutOfScope +
// 1 + their majority class, drawn faint as their outlines are. Built once per zoom level and cell revision
// and drawn as one texture, so panning costs nothing per cell.
inline constexpr std::uint8_t kOutOfScope = 0x80;
struct ClassRaster {
  double square_px = 0.0;
  cv::Mat1b classes;  // rows = ceil(height / square_px), cols = ceil(width / square_px)
};
ClassRaster class_raster(const CellTable& table, const CellState& state, const cv::Size2d& slide_size,
                         double square_px);

// Histogram of the scoring measurement over counted cells, `bins` bins over [lo, hi].
struct Histogram {
  double lo = 0.0, hi = 1.0;
  std::vector<int> counts;
  int max_count = 0;
};
Histogram measurement_histogram(const CellTable& table, const std::string& column, const CellState& state,
                                int bins, double lo, double hi);

template <typename F>
void CellGrid::for_each_bin(const cv::Rect2d& r, F&& f) const {
  int x0, y0, x1, y1;
  if (!bin_range(r, &x0, &y0, &x1, &y1)) return;
  for (int by = y0; by <= y1; ++by) {
    for (int bx = x0; bx <= x1; ++bx) {
      const int b = by * nx_ + bx;
      f(cv::Rect2d(x0_ + bx * bin_, y0_ + by * bin_, bin_, bin_), items_.data() + start_[b],
        items_.data() + start_[b + 1]);
    }
  }
}

}  // namespace ihc::gui
