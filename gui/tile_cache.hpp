#pragma once
// Decoded slide tiles: an LRU cache bounded in bytes (the coarsest level pinned so the screen is never black)
// and a loader that reads tiles on background threads. A new request list replaces the pending one, so while
// panning stale tiles are never read. No GL here: the UI thread takes ready tiles and uploads textures.
// Channel views (hematoxylin, DAB, residual) are rendered by the same workers: the UI thread never
// deconvolves, it only uploads finished pixels.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <opencv2/core.hpp>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "gui/view_transform.hpp"
#include "imaging/stains.hpp"

namespace ihc::gui {

// What a channel tile shows; pixels = display_pixels(rgb, settings).
struct DisplaySettings {
  int channel = 0;  // 0 RGB, 1 hematoxylin, 2 DAB, 3 residual (TileKey::channel)
  StainMatrix stains;
  float brightness = 0.0f;  // added, in units of full scale
  float contrast = 1.0f;    // about mid-grey
  bool raw() const { return channel == 0 && brightness == 0.0f && contrast == 1.0f; }
};
// The stain rendered alone (QuPath's colour deconvolution view), then brightness/contrast. CV_8UC3 RGB
// in/out.
cv::Mat display_pixels(const cv::Mat& rgb, const DisplaySettings& s);

class TileCache {
 public:
  explicit TileCache(std::size_t budget_bytes) : budget_(budget_bytes) {}

  // Returns an empty Mat when absent; a hit becomes the most recently used.
  cv::Mat get(const TileKey& key);
  bool contains(const TileKey& key) const;
  // Inserts (or replaces) then evicts least recently used unpinned tiles until within budget.
  void put(const TileKey& key, const cv::Mat& rgb, bool pinned = false);
  void clear();

  std::size_t bytes() const;
  std::size_t size() const;
  std::size_t budget() const { return budget_; }
  std::size_t evictions() const;

 private:
  struct Entry {
    cv::Mat rgb;
    bool pinned = false;
    std::list<TileKey>::iterator lru;
  };
  void evict_locked();

  mutable std::mutex mutex_;
  std::size_t budget_;
  std::size_t bytes_ = 0;
  std::size_t evictions_ = 0;
  std::list<TileKey> lru_;  // front = most recent
  std::unordered_map<TileKey, Entry, TileKeyHash> map_;
};

class TileLoader {
 public:
  // Reads one tile as CV_8UC3 RGB; called from worker threads (Slide::read_region is thread-safe).
  using Reader = std::function<cv::Mat(const TileKey&)>;
  // Turns the RGB tile of key.rgb() into the pixels of `key` (a non-raw key); called from worker threads.
  using Render = std::function<cv::Mat(const cv::Mat& rgb, const TileKey& key)>;
  // `on_ready` (optional) runs on a worker thread after each tile lands in the cache: the UI sleeps until
  // then instead of redrawing in a loop that takes the CPU the readers need.
  TileLoader(Reader reader, TileCache& cache, int threads = 2, std::function<void()> on_ready = {});
  ~TileLoader();
  TileLoader(const TileLoader&) = delete;
  TileLoader& operator=(const TileLoader&) = delete;

  // Replaces the pending queue with `keys` (first = most urgent); cached and in-flight tiles are skipped.
  // Non-raw keys are made by `render` from the RGB tile (taken from the cache, else read and cached too).
  void request(const std::vector<TileKey>& keys, bool pinned = false, Render render = {});
  // RGB tiles of this level are always cached pinned, whichever request reads them (the no-black-screen
  // fallback while a channel's tiles are being rendered).
  void pin_level(int level);
  // Tiles that arrived in the cache since the last call (for texture upload on the UI thread).
  std::vector<TileKey> take_ready();
  std::size_t pending() const;  // queued + in flight
  std::size_t reads() const { return reads_.load(); }
  std::size_t dropped() const { return dropped_.load(); }  // requests pre-empted before being read
  std::string last_error() const;
  // The tile could not be read (or rendered): it is not asked for again, and a view waiting for it is done.
  bool failed(const TileKey& key) const;
  std::size_t failures() const;  // tiles failed so far: a change settles what waited for them

 private:
  struct Job {
    TileKey key;
    bool pinned = false;
    std::shared_ptr<const Render> render;
  };
  void worker();

  Reader reader_;
  TileCache& cache_;
  std::function<void()> on_ready_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  std::vector<TileKey> in_flight_;
  std::vector<TileKey> ready_;
  std::unordered_map<TileKey, bool, TileKeyHash> failed_;
  std::string last_error_;
  int pin_level_ = -1;
  bool stop_ = false;
  std::atomic<std::size_t> reads_{0};
  std::atomic<std::size_t> dropped_{0};
  std::vector<std::thread> threads_;
};

}  // namespace ihc::gui
