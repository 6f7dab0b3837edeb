#include "imaging/tiling.hpp"

#include <algorithm>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace ihc {
namespace {

// OpenCV's own pool would split each worker's filters again: nested pools oversubscribe the cores. While any
// multi-worker run is active OpenCV runs single-threaded; the first run in saves the setting, the last one
// out restores it (runs may overlap, e.g. several slides scored at once).
class SerialOpenCv {
 public:
  SerialOpenCv() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (active_++ == 0) {
      saved_ = cv::getNumThreads();
      cv::setNumThreads(1);
    }
  }
  ~SerialOpenCv() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (--active_ == 0) cv::setNumThreads(saved_);
  }
  SerialOpenCv(const SerialOpenCv&) = delete;
  SerialOpenCv& operator=(const SerialOpenCv&) = delete;

 private:
  static inline std::mutex mutex_;
  static inline int active_ = 0;
  static inline int saved_ = 0;
};

}  // namespace

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
    const SerialOpenCv serial;
    std::vector<std::thread> pool;
    pool.reserve(static_cast<std::size_t>(n_workers));
    for (int k = 0; k < n_workers; ++k) pool.emplace_back(worker);
    for (auto& t : pool) t.join();
  }
  if (error) std::rethrow_exception(error);
  return !cancelled.load();
}

}  // namespace ihc
