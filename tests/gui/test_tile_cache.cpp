#include "gui/tile_cache.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace ihc::gui {
namespace {

cv::Mat tile(int value, int side = 64) {
  return cv::Mat(side, side, CV_8UC3, cv::Scalar(value, value, value));
}
constexpr std::size_t kTileBytes = 64 * 64 * 3;

TEST(TileCache, EvictsLeastRecentlyUsedWithinByteBudget) {
  TileCache cache(3 * kTileBytes);
  cache.put({1, 0, 0}, tile(1));
  cache.put({1, 1, 0}, tile(2));
  cache.put({1, 2, 0}, tile(3));
  ASSERT_FALSE(cache.get({1, 0, 0}).empty());  // now most recent
  cache.put({1, 3, 0}, tile(4));
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.bytes(), 3 * kTileBytes);
  EXPECT_TRUE(cache.contains({1, 0, 0}));
  EXPECT_FALSE(cache.contains({1, 1, 0}));  // the least recently used went
  EXPECT_EQ(cache.get({1, 3, 0}).at<cv::Vec3b>(0, 0)[0], 4);
  EXPECT_EQ(cache.evictions(), 1u);
}

TEST(TileCache, PinnedTilesSurviveAnyPressure) {
  TileCache cache(2 * kTileBytes);
  cache.put({5, 0, 0}, tile(9), true);
  for (int i = 0; i < 100; ++i) cache.put({0, i, 0}, tile(i));
  EXPECT_TRUE(cache.contains({5, 0, 0}));
  EXPECT_LE(cache.bytes(), 2 * kTileBytes);
}

// Waits (bounded) until the loader has nothing queued or in flight.
bool wait_idle(const TileLoader& loader) {
  for (int i = 0; i < 500 && loader.pending() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  return loader.pending() == 0;
}

TEST(TileLoader, ReadsInBackgroundAndReportsReadyTiles) {
  TileCache cache(100 * kTileBytes);
  const auto ui_thread = std::this_thread::get_id();
  std::atomic<int> on_ui{0};
  TileLoader loader(
      [&](const TileKey& k) {
        if (std::this_thread::get_id() == ui_thread) ++on_ui;
        return tile(k.tx);
      },
      cache, 2);
  loader.request({{0, 1, 0}, {0, 2, 0}, {0, 3, 0}});
  ASSERT_TRUE(wait_idle(loader));
  auto ready = loader.take_ready();
  EXPECT_EQ(ready.size(), 3u);
  EXPECT_EQ(on_ui.load(), 0);
  EXPECT_EQ(cache.get({0, 2, 0}).at<cv::Vec3b>(0, 0)[0], 2);
  // Cached tiles are not read again.
  loader.request({{0, 1, 0}});
  ASSERT_TRUE(wait_idle(loader));
  EXPECT_EQ(loader.reads(), 3u);
}

TEST(TileLoader, WakesTheUiOncePerTileAfterItIsReady) {
  TileCache cache(100 * kTileBytes);
  std::mutex m;
  std::condition_variable woken;
  int wakes = 0;
  std::size_t pending_at_last_wake = 99;
  TileLoader* self = nullptr;
  TileLoader loader([&](const TileKey& k) { return tile(k.tx); }, cache, 2,
                    [&] {
                      std::lock_guard lock(m);
                      ++wakes;
                      if (wakes == 3) pending_at_last_wake = self->pending();
                      woken.notify_all();
                    });
  self = &loader;
  loader.request({{0, 1, 0}, {0, 2, 0}, {0, 3, 0}});
  std::unique_lock lock(m);
  ASSERT_TRUE(woken.wait_for(lock, std::chrono::seconds(10), [&] { return wakes == 3; }));
  // The last wake-up sees nothing pending, so a UI that sleeps while tiles are pending never misses one.
  EXPECT_EQ(pending_at_last_wake, 0u);
  EXPECT_EQ(loader.take_ready().size(), 3u);
}

TEST(TileLoader, NewRequestsPreemptStaleOnes) {
  TileCache cache(1000 * kTileBytes);
  std::mutex gate;
  gate.lock();  // hold the single worker on its first tile
  std::vector<int> read_order;
  std::mutex order_mutex;
  TileLoader loader(
      [&](const TileKey& k) {
        if (k.tx == 0) std::lock_guard hold(gate);
        std::lock_guard lock(order_mutex);
        read_order.push_back(k.tx);
        return tile(k.tx);
      },
      cache, 1);
  std::vector<TileKey> first;
  for (int i = 0; i < 50; ++i) first.push_back({0, i, 0});
  loader.request(first);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the worker is now blocked on tile 0
  loader.request({{0, 100, 0}, {0, 101, 0}});                  // the user panned away
  gate.unlock();
  ASSERT_TRUE(wait_idle(loader));
  EXPECT_EQ(read_order, (std::vector<int>{0, 100, 101}));
  EXPECT_EQ(loader.dropped(), 49u);
}

TEST(TileLoader, AFailingTileIsReportedOnceAndNotRetried) {
  TileCache cache(10 * kTileBytes);
  TileLoader loader(
      [](const TileKey&) -> cv::Mat { throw std::runtime_error("slide.svs: JPEG tile corrupt"); }, cache, 1);
  loader.request({{0, 0, 0}});
  ASSERT_TRUE(wait_idle(loader));
  EXPECT_EQ(loader.last_error(), "slide.svs: JPEG tile corrupt");
  loader.request({{0, 0, 0}});
  ASSERT_TRUE(wait_idle(loader));
  EXPECT_EQ(loader.reads(), 1u);
  EXPECT_TRUE(loader.take_ready().empty());
  // The viewer counts it as done: a view of unreadable tiles is finished (--screenshot, a script's wait).
  EXPECT_TRUE(loader.failed({0, 0, 0}));
  EXPECT_FALSE(loader.failed({0, 1, 0}));
}

// A brown-and-blue tile: DAB pixels on the left half, hematoxylin on the right, so the DAB rendering differs
// from both the RGB tile and the hematoxylin rendering.
cv::Mat stained_tile(int tx) {
  cv::Mat m(64, 64, CV_8UC3, cv::Scalar(90, 110, 170));           // RGB hematoxylin blue
  m(cv::Rect(0, 0, 32 + tx, 64)).setTo(cv::Scalar(150, 95, 50));  // DAB brown
  return m;
}

TEST(TileLoader, RendersChannelTilesOnWorkerThreadsFromTheRgbTile) {
  TileCache cache(100 * kTileBytes);
  const auto ui_thread = std::this_thread::get_id();
  std::atomic<int> rendered_on_ui{0}, renders{0};
  DisplaySettings dab;
  dab.channel = 2;
  dab.stains = stain_preset("H-DAB");
  TileLoader loader([](const TileKey& k) { return stained_tile(k.tx); }, cache, 2);
  const TileKey key{1, 3, 0, 2, 7};
  loader.request({key}, false, [&](const cv::Mat& rgb, const TileKey& k) {
    if (std::this_thread::get_id() == ui_thread) ++rendered_on_ui;
    ++renders;
    EXPECT_EQ(k, key);
    return display_pixels(rgb, dab);
  });
  ASSERT_TRUE(wait_idle(loader));
  EXPECT_EQ(rendered_on_ui.load(), 0);
  EXPECT_EQ(renders.load(), 1);
  EXPECT_EQ(loader.take_ready(), std::vector<TileKey>{key});
  // Equal to the DAB plane of the colour deconvolution rendered in the DAB colour, computed here directly.
  const StainMatrix m = stain_preset("H-DAB");
  const cv::Mat expected = render_stain(deconvolve(stained_tile(3), m).stain2, m.stains[1], m.background);
  const cv::Mat got = cache.get(key);
  ASSERT_EQ(got.size(), expected.size());
  ASSERT_EQ(got.type(), CV_8UC3);
  EXPECT_EQ(cv::norm(got, expected, cv::NORM_INF), 0.0);
  EXPECT_GT(cv::norm(got, stained_tile(3), cv::NORM_INF), 40.0);  // not the RGB tile passed through
  // The slide tile read for it is cached too: RGB (or another channel) needs no second read.
  EXPECT_EQ(cache.get({1, 3, 0}).at<cv::Vec3b>(0, 40), (cv::Vec3b(90, 110, 170)));
  loader.request({{1, 3, 0}, {1, 3, 0, 1, 7}}, false, [&](const cv::Mat& rgb, const TileKey&) {
    return display_pixels(rgb, {1, m});
  });
  ASSERT_TRUE(wait_idle(loader));
  EXPECT_EQ(loader.reads(), 1u);
  EXPECT_GT(cv::norm(cache.get({1, 3, 0, 1, 7}), got, cv::NORM_INF), 40.0);  // hematoxylin differs from DAB
}

TEST(TileLoader, AChannelChangePreemptsTheQueuedTilesOfTheOldOne) {
  TileCache cache(100 * kTileBytes);
  std::mutex gate;
  gate.lock();
  std::vector<int> rendered;
  std::mutex m;
  TileLoader loader(
      [&](const TileKey& k) {
        if (k.tx == 0) std::lock_guard wait(gate);
        return stained_tile(k.tx);
      },
      cache, 1);
  auto render = [&](const cv::Mat& rgb, const TileKey& k) {
    std::lock_guard lock(m);
    rendered.push_back(k.channel * 100 + k.tx);
    return rgb.clone();
  };
  std::vector<TileKey> dab;
  for (int i = 0; i < 20; ++i) dab.push_back({0, i, 0, 2, 1});
  loader.request(dab, false, render);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));         // the worker is blocked on tile 0
  loader.request({{0, 0, 0, 1, 2}, {0, 1, 0, 1, 2}}, false, render);  // switched to hematoxylin
  gate.unlock();
  ASSERT_TRUE(wait_idle(loader));
  EXPECT_EQ(rendered, (std::vector<int>{200, 100, 101}));
  EXPECT_EQ(loader.dropped(), 19u);
  EXPECT_EQ(loader.reads(), 2u);  // tile 0 was read once, for DAB, and reused for hematoxylin
}

TEST(TileLoader, PinsTheRgbTilesOfThePinnedLevelWhateverTheRequest) {
  TileCache cache(2 * kTileBytes);
  TileLoader loader([](const TileKey& k) { return stained_tile(k.tx); }, cache, 1);
  loader.pin_level(4);
  loader.request({{4, 0, 0, 2, 1}}, false, [](const cv::Mat& rgb, const TileKey&) { return rgb.clone(); });
  ASSERT_TRUE(wait_idle(loader));
  std::vector<TileKey> many;
  for (int i = 0; i < 10; ++i) many.push_back({0, i, 0});
  loader.request(many);
  ASSERT_TRUE(wait_idle(loader));
  EXPECT_TRUE(cache.contains({4, 0, 0}));         // the RGB fallback stays
  EXPECT_FALSE(cache.contains({4, 0, 0, 2, 1}));  // channel tiles are ordinary LRU entries
}

}  // namespace
}  // namespace ihc::gui
