#include "gui/view_transform.hpp"

#include <gtest/gtest.h>

namespace ihc::gui {
namespace {

ViewLimits limits(double w = 40000, double h = 30000) {
  ViewLimits l;
  l.slide_size = {w, h};
  return l;
}

TEST(ViewTransform, ScreenAndSlideAreInverse) {
  ViewTransform v;
  v.canvas = {10, 20, 1000, 600};
  v.center = {5000, 4000};
  v.downsample = 4;
  EXPECT_EQ(v.to_screen({5000, 4000}), cv::Point2d(510, 320));
  const cv::Point2d p = v.to_slide({110, 70});
  EXPECT_DOUBLE_EQ(p.x, 5000 - 400 * 4);
  EXPECT_DOUBLE_EQ(p.y, 4000 - 250 * 4);
  EXPECT_EQ(v.to_screen(p), cv::Point2d(110, 70));
  EXPECT_EQ(v.visible_slide_rect(), cv::Rect2d(5000 - 2000, 4000 - 1200, 4000, 2400));
}

TEST(ViewTransform, WheelZoomKeepsThePointUnderTheCursor) {
  ViewTransform v;
  v.center = {20000, 15000};
  v.downsample = 16;
  const cv::Point2d cursor(200, 700);
  const cv::Point2d before = v.to_slide(cursor);
  zoom_about(v, cursor, 2.0, limits());
  EXPECT_DOUBLE_EQ(v.downsample, 8);
  const cv::Point2d after = v.to_slide(cursor);
  EXPECT_NEAR(after.x, before.x, 1e-9);
  EXPECT_NEAR(after.y, before.y, 1e-9);
}

TEST(ViewTransform, ZoomIsBoundedAndPanFollowsThePointer) {
  ViewTransform v;
  v.center = {20000, 15000};
  v.downsample = 1;
  zoom_about(v, {640, 400}, 1000.0, limits());
  EXPECT_DOUBLE_EQ(v.downsample, 1.0 / 16.0);
  v.downsample = 2;
  pan_screen(v, {100, -50}, limits());  // dragging right shows what was left of the view
  EXPECT_EQ(v.center, cv::Point2d(19800, 15100));
  pan_screen(v, {1e7, 1e7}, limits());  // cannot lose the slide
  EXPECT_EQ(v.center, cv::Point2d(0, 0));
}

TEST(ViewTransform, FitShowsTheWholeSlideAndOneToOneIsFullResolution) {
  ViewTransform v;
  v.canvas = {0, 0, 1280, 800};
  fit(v, limits(40000, 30000));
  const cv::Rect2d r = v.visible_slide_rect();
  EXPECT_LE(r.x, 0);
  EXPECT_LE(r.y, 0);
  EXPECT_GE(r.x + r.width, 40000);
  EXPECT_GE(r.y + r.height, 30000);
  EXPECT_NEAR(v.downsample, 30000 / (800 * 0.95), 1e-9);
  one_to_one(v, limits());
  EXPECT_DOUBLE_EQ(v.downsample, 1.0);
}

TEST(ScaleBar, RoundLengthsInMicronsThenMillimetres) {
  // 0.5 um/px at full resolution: 120 screen px = 60 um -> 50 um bar of 100 px.
  ScaleBar b = scale_bar(1.0, 0.5, 120);
  EXPECT_DOUBLE_EQ(b.length_um, 50);
  EXPECT_DOUBLE_EQ(b.length_px, 100);
  EXPECT_EQ(b.label, "50 um");
  b = scale_bar(32.0, 0.5, 120);  // 1920 um -> 1 mm
  EXPECT_EQ(b.label, "1 mm");
  EXPECT_DOUBLE_EQ(b.length_px, 62.5);
  b = scale_bar(2.0, std::nan(""), 120);
  EXPECT_EQ(b.label, "200 px");
}

TEST(Labels, MagnificationAndPosition) {
  EXPECT_EQ(magnification_label(40, 4), "10.0x");
  EXPECT_EQ(magnification_label(std::nan(""), 4), "ds 4.00");
  EXPECT_EQ(position_label({1000, 2000}, 0.25), "x: 250.0 um, y: 500.0 um");
  EXPECT_EQ(position_label({1000, 2000}, std::nan("")), "x: 1000 px, y: 2000 px");
}

// The cursor position is a point of the slide only where the canvas shows the slide: not beside the canvas
// (the side panel right of it, the status bar below), not on the overview over it, not in the margin around
// the slide.
TEST(Labels, PositionOnlyOverTheSlide) {
  ViewTransform v;
  v.canvas = {0, 0, 920, 774};  // a 1280x800 window without its 360 px panel and 26 px status bar
  v.center = {800, 600};
  v.downsample = 2;  // the 1600x1200 slide covers screen x 60..860, y 87..687
  const cv::Size2d slide(1600, 1200);
  const cv::Rect2d overview = make_overview(v.canvas, slide).screen;
  const auto centre = slide_point_at(v, slide, overview, {460, 387});
  ASSERT_TRUE(centre.has_value());
  EXPECT_EQ(*centre, cv::Point2d(800, 600));
  EXPECT_EQ(slide_point_at(v, slide, {}, {61, 88}), cv::Point2d(2, 2));
  EXPECT_EQ(slide_point_at(v, slide, overview, {1100, 387}), std::nullopt);  // the side panel
  EXPECT_EQ(slide_point_at(v, slide, overview, {460, 790}), std::nullopt);   // the status bar
  EXPECT_EQ(slide_point_at(v, slide, overview, {30, 387}), std::nullopt);    // the margin left of the slide
  EXPECT_EQ(slide_point_at(v, slide, overview, {460, 700}), std::nullopt);   // ... and below it
  EXPECT_EQ(slide_point_at(v, slide, overview, {860, 387}), std::nullopt);   // x = 1600: past the last pixel
  // The overview (top right) covers the slide's top-right corner: the point under it is not what is pointed
  // at.
  const cv::Point2d on_overview(overview.x + 5, overview.y + overview.height - 5);
  ASSERT_TRUE(v.to_slide(on_overview).x < 1600 && v.to_slide(on_overview).y >= 0);
  EXPECT_EQ(slide_point_at(v, slide, overview, on_overview), std::nullopt);
  EXPECT_TRUE(slide_point_at(v, slide, {}, on_overview).has_value());
}

PyramidGeometry pyramid() {
  PyramidGeometry g;
  g.level_sizes = {{40000, 30000}, {10000, 7500}, {2500, 1875}};
  g.downsamples = {1, 4, 16};
  g.tile_size = 512;
  return g;
}

TEST(Tiles, LevelChoiceAndEdgeTiles) {
  const auto g = pyramid();
  EXPECT_EQ(level_for_downsample(g, 1), 0);
  EXPECT_EQ(level_for_downsample(g, 3.99), 1);
  EXPECT_EQ(level_for_downsample(g, 15), 1);
  EXPECT_EQ(level_for_downsample(g, 100), 2);
  EXPECT_EQ(level_for_downsample(g, 0.25), 0);
  // Level 2: 2500 = 4 * 512 + 452.
  EXPECT_EQ(tile_pixel_size(g, {2, 4, 3}), cv::Size(452, 1875 - 3 * 512));
  EXPECT_EQ(tile_rect_level0(g, {2, 4, 0}), cv::Rect2d(4 * 512 * 16, 0, 452 * 16, 512 * 16));
  EXPECT_EQ(all_tiles(g, 2).size(), 5u * 4u);
}

TEST(Tiles, VisibleTilesCoverTheViewCentreFirst) {
  const auto g = pyramid();
  ViewTransform v;
  v.canvas = {0, 0, 1280, 800};
  v.center = {20000, 15000};
  v.downsample = 4;
  const auto tiles = visible_tiles(g, v, 1);
  // 5120 x 3200 level-0 px at 2048 level-0 px per tile: 4 columns x 3 rows (the view straddles tile edges).
  ASSERT_EQ(tiles.size(), 12u);
  const cv::Rect2d first = tile_rect_level0(g, tiles.front());
  EXPECT_TRUE(first.contains(v.center) || first.br() == cv::Point2d(v.center));
  for (const auto& t : tiles) {
    EXPECT_TRUE((tile_rect_level0(g, t) & v.visible_slide_rect()).area() > 0);
  }
}

TEST(Tiles, DisplayPyramidFillsGapsWiderThanTwoFromTheFinerLevel) {
  const PyramidGeometry s = pyramid();
  const PyramidGeometry g = display_pyramid(s.level_sizes, s.downsamples, 512);
  ASSERT_EQ(g.downsamples, (std::vector<double>{1, 2, 4, 8, 16}));
  EXPECT_EQ(g.source_level, (std::vector<int>{0, 0, 1, 1, 2}));
  EXPECT_EQ(g.level_sizes[1], cv::Size(20000, 15000));
  EXPECT_EQ(g.level_sizes[2], cv::Size(10000, 7500));  // the slide's own size, not a computed one
  EXPECT_EQ(g.level_sizes[3], cv::Size(5000, 3750));
  // A downsample of 3 reads the 2x level (a 1.5x minification), not level 0 at 3x.
  EXPECT_EQ(level_for_downsample(g, 3.0), 1);
  EXPECT_EQ(g.source(level_for_downsample(g, 3.0)), 0);
  // Gaps of 2x or less, a single level, and a 32x gap (at most 4x below the source).
  EXPECT_EQ(display_pyramid({{1000, 800}, {500, 400}}, {1, 2}).downsamples, (std::vector<double>{1, 2}));
  EXPECT_EQ(display_pyramid({{1600, 1200}}, {1}).downsamples, (std::vector<double>{1}));
  const PyramidGeometry wide = display_pyramid({{32000, 32000}, {1000, 1000}}, {1, 32});
  EXPECT_EQ(wide.downsamples, (std::vector<double>{1, 2, 4, 32}));
  EXPECT_EQ(wide.source_level, (std::vector<int>{0, 0, 0, 1}));
  // What is read: the slide's own levels 1:1; a resampled level reads 2x the area from the finer slide level.
  const SourceRegion own = source_region(g, {2, 1, 1});  // the slide's 4x level
  EXPECT_EQ(own.level, 1);
  EXPECT_EQ(own.x, 2048);
  EXPECT_EQ(own.y, 2048);
  EXPECT_EQ(own.size, cv::Size(512, 512));
  EXPECT_EQ(own.tile_size, cv::Size(512, 512));
  const SourceRegion coarse = source_region(g, {4, 4, 3});  // 16x, the last (clipped) tile: 2500 - 2048
  EXPECT_EQ(coarse.level, 2);
  EXPECT_EQ(coarse.size, cv::Size(452, 339));
  const SourceRegion resampled = source_region(g, {3, 1, 0});  // 8x from the slide's 4x level
  EXPECT_EQ(resampled.level, 1);
  EXPECT_EQ(resampled.x, 4096);
  EXPECT_EQ(resampled.y, 0);
  EXPECT_EQ(resampled.size, cv::Size(1024, 1024));
  EXPECT_EQ(resampled.tile_size, cv::Size(512, 512));
  // Level 3.999x of a 1x/4x slide (OpenSlide's rounding) gets its 2x level too.
  EXPECT_EQ(display_pyramid({{4001, 4001}, {1000, 1000}}, {1, 4.001}).downsamples.size(), 3u);
}

TEST(Overview, ClickMapsToTheSlide) {
  const Overview o = make_overview({0, 0, 1280, 800}, {40000, 20000}, 200);
  EXPECT_EQ(o.screen, cv::Rect2d(1280 - 200 - 10, 10, 200, 100));
  EXPECT_EQ(o.to_slide({1070 + 100, 10 + 50}), cv::Point2d(20000, 10000));
  EXPECT_EQ(o.to_screen({0, 0, 40000, 20000}), o.screen);
}

}  // namespace
}  // namespace ihc::gui
