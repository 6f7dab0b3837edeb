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
}

}  // namespace
}  // namespace ihc::gui
