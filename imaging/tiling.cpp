#include "imaging/tiling.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <mutex>
#include <opencv2/core/utility.hpp>
#include <opencv2/imgproc.hpp>
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

namespace {

constexpr double kSeamBucket = 64.0;  // spatial hash cell (the cells' units, level-0 px)

std::int64_t bucket_key(int bx, int by) {
  return (static_cast<std::int64_t>(by) << 32) ^ static_cast<std::uint32_t>(bx);
}

int bucket_of(double v) { return static_cast<int>(std::floor(v / kSeamBucket)); }

cv::Point2d nucleus_centre(const std::vector<cv::Point2f>& poly) {
  const cv::Moments m = cv::moments(poly);
  if (std::abs(m.m00) > 1e-9) return {m.m10 / m.m00, m.m01 / m.m00};
  cv::Point2d sum(0, 0);
  for (const auto& p : poly) sum += cv::Point2d(p.x, p.y);
  return sum * (1.0 / static_cast<double>(poly.size()));
}

bool inside(const std::vector<cv::Point2f>& poly, cv::Point2d p) {
  return cv::pointPolygonTest(poly, cv::Point2f(static_cast<float>(p.x), static_cast<float>(p.y)), false) >=
         0;
}

}  // namespace

void SeamCells::forget_above(double y) {
  std::vector<Entry> kept;
  for (auto& e : entries_) {
    if (e.box.y + e.box.height >= y) kept.push_back(std::move(e));
  }
  entries_ = std::move(kept);
  buckets_.clear();
  for (std::size_t i = 0; i < entries_.size(); ++i) index(i);
}

void SeamCells::index(std::size_t i) {
  const cv::Point2d& c = entries_[i].centre;
  buckets_[bucket_key(bucket_of(c.x), bucket_of(c.y))].push_back(static_cast<int>(i));
}

std::vector<std::uint8_t> SeamCells::admit(const cv::Rect2d& core, const std::vector<Cell>& cells) {
  if (core.y > row_y_) {
    // A new row of tiles: nuclei ending more than the largest nucleus above its top meet none of its cells.
    row_y_ = core.y;
    forget_above(core.y - 2.0 * largest_);
  }
  std::vector<std::uint8_t> keep(cells.size(), 1);
  std::vector<Entry> added;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    const auto& poly = cells[i].nucleus;
    if (poly.size() < 3) continue;
    const cv::Rect2d box = cv::boundingRect(poly);  // whole pixels, outward: enough to compare
    const double reach = std::max(box.width, box.height);
    const cv::Rect2d near(box.x - reach, box.y - reach, box.width + 2 * reach, box.height + 2 * reach);
    if ((near & core) == near) continue;  // far from every seam
    Entry e{nucleus_centre(poly), box, poly};
    const double r = reach + largest_;
    bool twice = false;
    for (int by = bucket_of(e.centre.y - r); by <= bucket_of(e.centre.y + r) && !twice; ++by) {
      for (int bx = bucket_of(e.centre.x - r); bx <= bucket_of(e.centre.x + r) && !twice; ++bx) {
        const auto it = buckets_.find(bucket_key(bx, by));
        if (it == buckets_.end()) continue;
        for (const int k : it->second) {
          const Entry& o = entries_[static_cast<std::size_t>(k)];
          if ((o.box & box).empty()) continue;
          if (inside(o.nucleus, e.centre) || inside(poly, o.centre)) {
            twice = true;
            break;
          }
        }
      }
    }
    if (twice) {
      keep[i] = 0;
      continue;
    }
    added.push_back(std::move(e));
  }
  // Remembered after the whole tile: cells of one tile are never compared with each other.
  for (auto& e : added) {
    largest_ = std::max({largest_, e.box.width, e.box.height});
    entries_.push_back(std::move(e));
    index(entries_.size() - 1);
  }
  return keep;
}

std::vector<std::uint8_t> SeamCells::admit(const cv::Rect2d& core, std::vector<Cell>& cells,
                                           std::vector<std::vector<cv::Point2f>>& seam_nuclei) {
  if (seam_nuclei.empty()) return admit(core, cells);
  CV_Assert(seam_nuclei.size() == cells.size());
  // Swapped in for the comparison and back: no copies.
  std::vector<std::uint8_t> swapped(cells.size(), 0);
  for (std::size_t i = 0; i < cells.size(); ++i) {
    if (seam_nuclei[i].empty()) continue;
    cells[i].nucleus.swap(seam_nuclei[i]);
    swapped[i] = 1;
  }
  auto swap_back = [&]() {
    for (std::size_t i = 0; i < cells.size(); ++i) {
      if (swapped[i]) cells[i].nucleus.swap(seam_nuclei[i]);
    }
  };
  std::vector<std::uint8_t> keep;
  try {
    keep = admit(core, cells);
  } catch (...) {
    swap_back();
    throw;
  }
  swap_back();
  return keep;
}

bool CoreBudget::acquire(const std::atomic<bool>& give_up) {
  std::unique_lock<std::mutex> lock(mu_);
  // Woken by a release; the timeout re-reads `give_up`, which the budget's own lock does not guard.
  while (free_ == 0) {
    if (give_up.load()) return false;
    cv_.wait_for(lock, std::chrono::milliseconds(20));
  }
  --free_;
  return true;
}

void CoreBudget::release() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++free_;
  }
  cv_.notify_one();
}

}  // namespace ihc
