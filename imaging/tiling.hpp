#pragma once
// Tiles with overlap for detection over large regions, and a small worker pool that processes them.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <opencv2/core.hpp>
#include <unordered_map>
#include <vector>

#include "models/cells.hpp"

namespace ihc {

// `core` tiles the image without overlap; `padded` is the core grown by the overlap and clipped to the image.
// A cell belongs to the one tile whose core holds its centroid.
struct TileSpec {
  cv::Rect core;
  cv::Rect padded;
};

// Row-major tiles of at most core_px x core_px; throws std::invalid_argument for core_px < 1 or overlap < 0.
std::vector<TileSpec> make_tiles(cv::Size size, int core_px, int overlap_px);

// The pixels `r` covers on a grid scaled by (fx, fy): its edges scaled and rounded outward (floor, ceil),
// then grown by `margin` on every side. Maps a tile's core between the analysis grid and the pixels read.
cv::Rect scale_rect_outward(const cv::Rect& r, double fx, double fy, int margin = 0);

// 0 = every hardware thread; the result is at least 1.
int resolve_threads(int requested);

// Runs task(i) for i in [0, n_tasks) on at most `threads` workers (each task once, taken in order); several
// workers run inside cv::parallel_for_, so OpenCV calls in a task stay single-threaded. `cancel` is polled
// before each task. The first exception thrown by a task stops the others and is rethrown here.
// Returns false when cancelled.
bool run_tasks(int n_tasks, int threads, const std::function<void(int)>& task,
               const std::atomic<bool>* cancel = nullptr);

// One nucleus kept twice where tiles meet. Each tile keeps the cells whose centroid lies in its core, but
// the background of a tile near its edge can differ from the whole image's (reconstruction reaches past any
// overlap through dense clusters), so the tiles on both sides of a seam can outline one nucleus differently
// (or find it in different searches) with each centroid in its own core. Tiles are admitted in row-major
// order; a cell of this tile is dropped when it is a cell an earlier tile kept: the centre of either
// nucleus lies inside the other nucleus. Only cells whose nucleus comes within its own size of the core's
// edge are compared and remembered, and rows of tiles above are forgotten, so memory stays small.
class SeamCells {
 public:
  // `core`: the tile's core in the cells' coordinates. Returns one keep flag per cell.
  std::vector<std::uint8_t> admit(const cv::Rect2d& core, const std::vector<Cell>& cells);
  // The same comparing seam_nuclei[i] instead of cells[i].nucleus where it is not empty (one per cell, or
  // none): the nucleus outlines detection gives for this (MeasuredCell::seam_nucleus, detect_cells).
  std::vector<std::uint8_t> admit(const cv::Rect2d& core, std::vector<Cell>& cells,
                                  std::vector<std::vector<cv::Point2f>>& seam_nuclei);

 private:
  struct Entry {
    cv::Point2d centre;
    cv::Rect2d box;
    std::vector<cv::Point2f> nucleus;
  };
  void forget_above(double y);
  void index(std::size_t i);  // files entries_[i] in its bucket
  std::vector<Entry> entries_;
  std::unordered_map<std::int64_t, std::vector<int>> buckets_;
  double row_y_ = -1e300;  // core top of the row of tiles being admitted
  double largest_ = 0.0;   // largest nucleus box side remembered
};

// The cores a batch's slides share. Each slide's tile workers take one for each tile they process, so two
// slides at once use a core each and the last slide left gets every core (with a fixed split, one core idled
// through the batch's longest slide).
class CoreBudget {
 public:
  explicit CoreBudget(int cores) : free_(std::max(1, cores)), size_(std::max(1, cores)) {}
  int size() const { return size_; }
  // Waits for a core; false, without one, once `give_up` is set (a pool shutting down).
  bool acquire(const std::atomic<bool>& give_up);
  void release();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int free_;
  const int size_;
};

}  // namespace ihc
