#include "gui/canvas_input.hpp"

#include <gtest/gtest.h>

namespace ihc::gui {
namespace {

using T = InputEvent::Type;

struct Fixture {
  ViewTransform view;
  ViewLimits limits;
  CanvasInput input;
  Fixture() {
    view.canvas = {0, 0, 1000, 800};
    view.center = {5000, 4000};
    view.downsample = 2;
    limits.slide_size = {10000, 8000};
  }
  std::vector<Action> send(T type, cv::Point2d pos = {}, int button = 0, Key key = Key::None,
                           bool ctrl = false, bool shift = false, double wheel = 0) {
    InputEvent e;
    e.type = type;
    e.pos = pos;
    e.button = button;
    e.key = key;
    e.ctrl = ctrl;
    e.shift = shift;
    e.wheel = wheel;
    return input.handle(e, view, limits);
  }
  std::vector<Action> key(Key k, bool ctrl = false, bool shift = false) {
    auto a = send(T::KeyDown, {}, 0, k, ctrl, shift);
    auto b = send(T::KeyUp, {}, 0, k, ctrl, shift);
    a.insert(a.end(), b.begin(), b.end());
    return a;
  }
};

TEST(CanvasInput, KeysNameActionsAtTheCursor) {
  Fixture f;
  f.send(T::MouseMove, {600, 400});
  auto a = f.key(Key::Num2);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].type, Action::Type::SetClass);
  EXPECT_EQ(a[0].cls, CellClass::TwoPlus);
  EXPECT_EQ(a[0].point, cv::Point2d(5200, 4000));
  EXPECT_EQ(f.key(Key::Delete)[0].type, Action::Type::MarkFalse);
  EXPECT_EQ(f.key(Key::Z, true)[0].type, Action::Type::Undo);
  EXPECT_EQ(f.key(Key::Z, true, true)[0].type, Action::Type::Redo);
  EXPECT_EQ(f.key(Key::Y, true)[0].type, Action::Type::Redo);
  EXPECT_TRUE(f.key(Key::Z).empty());  // plain z does nothing
  EXPECT_EQ(f.key(Key::E)[0].type, Action::Type::Next);
  EXPECT_EQ(f.key(Key::Q)[0].type, Action::Type::Previous);
  EXPECT_EQ(f.key(Key::H)[0].type, Action::Type::ToggleCells);
  f.key(Key::Num0, true);  // Ctrl+0: full resolution, not "Negative"
  EXPECT_DOUBLE_EQ(f.view.downsample, 1.0);
  EXPECT_EQ(f.key(Key::Num0)[0].cls, CellClass::Negative);
}

// After the view moved by keys (arrows, W/A/D, +/-, Home, Ctrl+0) the pointer points at another place on
// the slide: a class key acts there, not on the cell under the pointer before the pan (which it changed).
// Ctrl+letter is a command or nothing (probe 7: Ctrl+S panned down, Ctrl+H hid the cells, Ctrl+E went to the
// next cell, Ctrl+3 reclassified). Ctrl+S saves.
TEST(CanvasInput, CtrlWithAKeyIsACommandNeverThePlainKeysAction) {
  Fixture f;
  f.send(T::MouseMove, {600, 400});
  const ViewTransform before = f.view;
  const auto s = f.key(Key::S, true);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].type, Action::Type::Save);
  for (Key k : {Key::H, Key::E, Key::Q, Key::M, Key::R, Key::P, Key::B, Key::W, Key::A, Key::D, Key::Num1,
                Key::Num2, Key::Num3, Key::Delete, Key::Enter}) {
    EXPECT_TRUE(f.key(k, true).empty()) << key_name(k);
  }
  EXPECT_EQ(f.view.center, before.center);  // nothing panned (Ctrl+S, Ctrl+W, Ctrl+A, Ctrl+D)
  EXPECT_EQ(f.input.tool(), Tool::Move);    // Ctrl+R, Ctrl+P, Ctrl+B chose no tool
  // The view keys keep working with Ctrl held.
  f.key(Key::Left, true);
  EXPECT_NE(f.view.center, before.center);
  // S tapped alone still pans down.
  const cv::Point2d c = f.view.center;
  EXPECT_EQ(f.key(Key::S)[0].type, Action::Type::ViewChanged);
  EXPECT_GT(f.view.center.y, c.y);
}

TEST(CanvasInput, KeysActWhereThePointerIsAfterTheViewMovedUnderIt) {
  Fixture f;
  f.send(T::MouseMove, {600, 400});
  ASSERT_EQ(f.input.hover_slide(), cv::Point2d(5200, 4000));
  f.key(Key::Right);
  const cv::Point2d moved = f.view.center;
  ASSERT_NE(moved, cv::Point2d(5000, 4000));
  auto a = f.key(Key::Num3);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].point, f.view.to_slide({600, 400}));
  EXPECT_EQ(f.input.hover_slide(), f.view.to_slide({600, 400}));
  // The viewer's frame catches up the same way when nothing was sent (a click in the overview).
  f.view.center += cv::Point2d(300, 0);
  f.input.follow_view(f.view);
  EXPECT_EQ(f.input.hover_slide(), f.view.to_slide({600, 400}));
}

TEST(CanvasInput, DragPansWheelZoomsHomeFits) {
  Fixture f;
  f.send(T::MouseDown, {500, 400});
  f.send(T::MouseMove, {550, 380});
  auto up = f.send(T::MouseUp, {550, 380});
  EXPECT_EQ(f.view.center, cv::Point2d(5000 - 100, 4000 + 40));
  EXPECT_TRUE(up.empty());  // a drag is not a click
  f.send(T::Wheel, {100, 100}, 0, Key::None, false, false, 1.0);
  EXPECT_DOUBLE_EQ(f.view.downsample, 2 / 1.25);
  f.key(Key::Home);
  EXPECT_EQ(f.view.center, cv::Point2d(5000, 4000));
  // Middle drag pans in any tool.
  f.key(Key::R);
  EXPECT_EQ(f.input.tool(), Tool::Rectangle);
  const cv::Point2d c = f.view.center;
  f.send(T::MouseDown, {500, 400}, 2);
  f.send(T::MouseMove, {510, 400}, 2);
  f.send(T::MouseUp, {510, 400}, 2);
  EXPECT_LT(f.view.center.x, c.x);
  // Arrow keys pan; S tapped alone pans down.
  const cv::Point2d before = f.view.center;
  f.key(Key::Right);
  f.key(Key::S);
  EXPECT_GT(f.view.center.x, before.x);
  EXPECT_GT(f.view.center.y, before.y);
}

TEST(CanvasInput, ClickSelectsAndSDragBoxSelects) {
  Fixture f;
  f.send(T::MouseDown, {500, 400});
  auto a = f.send(T::MouseUp, {501, 400});
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].type, Action::Type::SelectAt);
  const cv::Point2d center = f.view.center;
  f.send(T::KeyDown, {}, 0, Key::S);
  f.send(T::MouseDown, {400, 300});
  f.send(T::MouseMove, {600, 500});
  a = f.send(T::MouseUp, {600, 500}, 0, Key::None, false, true);
  auto up = f.send(T::KeyUp, {}, 0, Key::S);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].type, Action::Type::BoxSelect);
  EXPECT_TRUE(a[0].add);
  EXPECT_EQ(a[0].rect, cv::Rect2d(4800, 3800, 400, 400));
  EXPECT_EQ(f.view.center, center);  // the S used for selecting did not pan
  EXPECT_TRUE(up.empty());
}

TEST(CanvasInput, RegionToolsProducePolygons) {
  Fixture f;
  f.key(Key::R);
  f.send(T::MouseDown, {100, 100});
  f.send(T::MouseMove, {200, 150});
  auto a = f.send(T::MouseUp, {200, 150});
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].type, Action::Type::RegionDrawn);
  EXPECT_EQ(a[0].polygon.size(), 4u);
  EXPECT_EQ(a[0].polygon[2], cv::Point2d(5000 + (200 - 500) * 2, 4000 + (150 - 400) * 2));
  f.input.set_region_kind(RegionKind::Exclude);
  f.key(Key::P);
  for (cv::Point2d p : {cv::Point2d(100, 100), {300, 100}, {200, 300}}) {
    f.send(T::MouseDown, p);
    f.send(T::MouseUp, p);
  }
  a = f.key(Key::Enter);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, RegionKind::Exclude);
  EXPECT_EQ(a[0].polygon.size(), 3u);
  f.key(Key::B);
  f.input.brush_radius_screen_px = 10;
  f.send(T::MouseDown, {100, 100});
  for (int x = 100; x <= 300; x += 10) f.send(T::MouseMove, {double(x), 100});
  a = f.send(T::MouseUp, {300, 100});
  ASSERT_EQ(a.size(), 1u);
  const ReviewRegion r{1, RegionKind::Include, "", a[0].polygon};
  const cv::Rect2d b = r.bounds();
  // A 200 px stroke with a 10 px radius at downsample 2: ~440 x 40 level-0 px.
  EXPECT_NEAR(b.width, 440, 8);
  EXPECT_NEAR(b.height, 40, 8);
  EXPECT_TRUE(r.contains(f.view.to_slide({200, 100})));
  EXPECT_FALSE(r.contains(f.view.to_slide({200, 130})));
}

TEST(CanvasInput, OverviewClickJumps) {
  Fixture f;
  f.input.set_overview(make_overview(f.view.canvas, f.limits.slide_size, 200), true);
  const Overview o = make_overview(f.view.canvas, f.limits.slide_size, 200);
  f.send(T::MouseDown, {o.screen.x + o.screen.width / 4, o.screen.y + o.screen.height / 4});
  f.send(T::MouseUp, {o.screen.x + o.screen.width / 4, o.screen.y + o.screen.height / 4});
  EXPECT_NEAR(f.view.center.x, 2500, 1e-6);
  EXPECT_NEAR(f.view.center.y, 2000, 1e-6);
}

TEST(CanvasInput, KeyNamesRoundTrip) {
  EXPECT_EQ(parse_key("delete"), Key::Delete);
  EXPECT_EQ(parse_key("2"), Key::Num2);
  EXPECT_EQ(parse_key("F13"), Key::None);
  EXPECT_EQ(key_name(Key::Home), "home");
}

}  // namespace
}  // namespace ihc::gui
