#include "gui/tile_cache.hpp"

#include <algorithm>

namespace ihc::gui {

namespace {
std::size_t mat_bytes(const cv::Mat& m) { return m.total() * m.elemSize(); }
}  // namespace

cv::Mat display_pixels(const cv::Mat& rgb, const DisplaySettings& s) {
  cv::Mat out = rgb;
  if (s.channel >= 1 && s.channel <= 3) {
    const DeconvolutionResult d = deconvolve(rgb, s.stains);
    const int i = s.channel - 1;
    const cv::Mat& conc = i == 0 ? d.stain1 : i == 1 ? d.stain2 : d.residual;
    out = render_stain(conc, s.stains.stains[i], s.stains.background);
  }
  if (s.brightness != 0.0f || s.contrast != 1.0f) {
    cv::Mat adjusted;
    out.convertTo(adjusted, CV_8U, s.contrast, s.brightness * 255.0 + 127.5 * (1.0 - s.contrast));
    out = adjusted;
  }
  return out;
}

cv::Mat TileCache::get(const TileKey& key) {
  std::lock_guard lock(mutex_);
  auto it = map_.find(key);
  if (it == map_.end()) return {};
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second.rgb;
}

bool TileCache::contains(const TileKey& key) const {
  std::lock_guard lock(mutex_);
  return map_.count(key) != 0;
}

void TileCache::put(const TileKey& key, const cv::Mat& rgb, bool pinned) {
  std::lock_guard lock(mutex_);
  auto it = map_.find(key);
  if (it != map_.end()) {
    bytes_ -= mat_bytes(it->second.rgb);
    it->second.rgb = rgb;
    it->second.pinned = it->second.pinned || pinned;
    lru_.splice(lru_.begin(), lru_, it->second.lru);
  } else {
    lru_.push_front(key);
    map_.emplace(key, Entry{rgb, pinned, lru_.begin()});
  }
  bytes_ += mat_bytes(rgb);
  evict_locked();
}

void TileCache::evict_locked() {
  auto it = lru_.end();
  while (bytes_ > budget_ && it != lru_.begin()) {
    --it;
    auto e = map_.find(*it);
    if (e->second.pinned) continue;
    bytes_ -= mat_bytes(e->second.rgb);
    map_.erase(e);
    it = lru_.erase(it);
    ++evictions_;
  }
}

void TileCache::clear() {
  std::lock_guard lock(mutex_);
  map_.clear();
  lru_.clear();
  bytes_ = 0;
}

std::size_t TileCache::bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

std::size_t TileCache::size() const {
  std::lock_guard lock(mutex_);
  return map_.size();
}

std::size_t TileCache::evictions() const {
  std::lock_guard lock(mutex_);
  return evictions_;
}

TileLoader::TileLoader(Reader reader, TileCache& cache, int threads, std::function<void()> on_ready)
    : reader_(std::move(reader)), cache_(cache), on_ready_(std::move(on_ready)) {
  for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back([this] { worker(); });
}

TileLoader::~TileLoader() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
    queue_.clear();
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void TileLoader::pin_level(int level) {
  std::lock_guard lock(mutex_);
  pin_level_ = level;
}

void TileLoader::request(const std::vector<TileKey>& keys, bool pinned, Render render) {
  auto shared = render ? std::make_shared<const Render>(std::move(render)) : nullptr;
  {
    std::lock_guard lock(mutex_);
    std::unordered_map<TileKey, bool, TileKeyHash> wanted;
    for (const TileKey& k : keys) wanted[k] = true;
    for (const Job& j : queue_) dropped_ += wanted.count(j.key) ? 0 : 1;
    queue_.clear();
    for (const TileKey& k : keys) {
      if (cache_.contains(k) || failed_.count(k)) continue;
      if (std::find(in_flight_.begin(), in_flight_.end(), k) != in_flight_.end()) continue;
      if (!k.raw() && !shared) continue;  // nothing to render it with
      queue_.push_back({k, pinned, shared});
    }
  }
  cv_.notify_all();
}

std::vector<TileKey> TileLoader::take_ready() {
  std::lock_guard lock(mutex_);
  std::vector<TileKey> out;
  out.swap(ready_);
  return out;
}

std::size_t TileLoader::pending() const {
  std::lock_guard lock(mutex_);
  return queue_.size() + in_flight_.size();
}

std::string TileLoader::last_error() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

bool TileLoader::failed(const TileKey& key) const {
  std::lock_guard lock(mutex_);
  return failed_.count(key) != 0;
}

std::size_t TileLoader::failures() const {
  std::lock_guard lock(mutex_);
  return failed_.size();
}

void TileLoader::worker() {
  for (;;) {
    Job job;
    bool pin_raw = false;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      job = queue_.front();
      queue_.pop_front();
      in_flight_.push_back(job.key);
      pin_raw = job.key.level == pin_level_;
    }
    cv::Mat rgb;
    std::string error;
    try {
      const TileKey source = job.key.rgb();
      cv::Mat slide_rgb = job.key.raw() ? cv::Mat() : cache_.get(source);
      if (slide_rgb.empty()) {
        ++reads_;
        slide_rgb = reader_(source);
        // Kept: switching back to RGB (or to another channel) needs no new read.
        if (!job.key.raw() && !slide_rgb.empty()) cache_.put(source, slide_rgb, pin_raw);
      }
      rgb = job.key.raw() || slide_rgb.empty() ? slide_rgb : (*job.render)(slide_rgb, job.key);
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (!rgb.empty()) cache_.put(job.key, rgb, job.pinned || (job.key.raw() && pin_raw));
    {
      std::lock_guard lock(mutex_);
      in_flight_.erase(std::find(in_flight_.begin(), in_flight_.end(), job.key));
      if (!rgb.empty()) ready_.push_back(job.key);
      if (!error.empty()) {
        // A tile that cannot be read is not retried every frame; the error is shown once in the status bar.
        last_error_ = error;
        failed_[job.key] = true;
      }
    }
    if (on_ready_) on_ready_();  // after pending() counts this tile as done
  }
}

}  // namespace ihc::gui
