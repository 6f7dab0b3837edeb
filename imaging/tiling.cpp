#include "imaging/tiling.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <mutex>
#include <opencv2/core/utility.hpp>
#include <stdexcept>
#include <thread>

namespace ihc {

std::vector<TileSpec> make_tiles(cv::Size size, int core_px, int overlap_px) {
  if (core_px < 1)
    throw std::invalid_argument("tile size must be at least 1 px, got " + std::to_string(core_px));
  if (overlap_px < 0)
    throw std::invalid_argument("tile overlap must be >= 0, got " + std::to_string(overlap_px));
  std::vector<TileSpec> tiles;
  const cv::Rect image(0, 0, size.width, size.height);
  for (int y = 0; y < size.height; y += core_px) {
    for (int x = 0; x < size.width; x += core_px) {
      TileSpec t;
      t.core = cv::Rect(x, y, std::min(core_px, size.width - x), std::min(core_px, size.height - y));
      t.padded = cv::Rect(x - overlap_px, y - overlap_px, t.core.width + 2 * overlap_px,
                          t.core.height + 2 * overlap_px) &
                 image;
      tiles.push_back(t);
    }
  }
  return tiles;
}

int resolve_threads(int requested) {
  if (requested > 0) return requested;
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

cv::Rect scale_rect_outward(const cv::Rect& r, double fx, double fy, int margin) {
  const int x0 = static_cast<int>(std::floor(r.x * fx)) - margin;
  const int y0 = static_cast<int>(std::floor(r.y * fy)) - margin;
  const int x1 = static_cast<int>(std::ceil(r.br().x * fx)) + margin;
  const int y1 = static_cast<int>(std::ceil(r.br().y * fy)) + margin;
  return {x0, y0, x1 - x0, y1 - y0};
}

bool run_tasks(int n_tasks, int threads, const std::function<void(int)>& task,
               const std::atomic<bool>* cancel) {
  std::atomic<int> next{0};
  std::atomic<bool> failed{false};
  std::atomic<bool> cancelled{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto worker = [&]() {
    for (;;) {
      if (failed.load()) return;
      if (cancel != nullptr && cancel->load()) {
        cancelled = true;
        return;
      }
      const int i = next.fetch_add(1);
      if (i >= n_tasks) return;
      try {
        task(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        failed = true;
        return;
      }
    }
  };
  const int n_workers = std::max(1, std::min(resolve_threads(threads), n_tasks));
  if (n_workers == 1) {
    worker();
  } else {
    // The workers run as stripes of OpenCV's own parallel_for_ (each pulls tasks until none is left), so the
    // OpenCV calls inside a task run single-threaded (OpenCV's nested-region rule) instead of splitting
    // over the same cores again, and no thread count is changed globally. OpenCV's pool bounds the
    // concurrency; if another parallel region is active, the stripes run one after the other.
    cv::parallel_for_(
        cv::Range(0, n_workers),
        [&](const cv::Range& r) {
          for (int k = r.start; k < r.end; ++k) worker();
        },
        n_workers);
  }
  if (error) std::rethrow_exception(error);
  return !cancelled.load();
}

}  // namespace ihc
