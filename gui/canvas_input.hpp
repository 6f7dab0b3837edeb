#pragma once
// Canvas input as plain events in, view changes and actions out: the same code serves the real window
// (events translated from ImGui/GLFW) and the scripted mode (events read from a script). No drawing here.
#include <cstdint>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "gui/view_transform.hpp"
#include "models/cells.hpp"
#include "models/review.hpp"

namespace ihc::gui {

enum class Key : std::uint8_t {
  None,
  Num0,
  Num1,
  Num2,
  Num3,
  Delete,
  E,
  Q,
  H,
  R,
  P,
  B,
  S,
  W,
  A,
  D,
  M,
  Space,
  Left,
  Right,
  Up,
  Down,
  Plus,
  Minus,
  Home,
  Zero,
  Z,
  Y,
  Escape,
  Enter
};
// "2", "delete", "ctrl+z" style names (for scripts); Key::None when unknown.
Key parse_key(const std::string& name);
std::string_view key_name(Key k);

struct InputEvent {
  enum class Type : std::uint8_t { MouseMove, MouseDown, MouseUp, Wheel, KeyDown, KeyUp, DoubleClick };
  Type type = Type::MouseMove;
  cv::Point2d pos;   // screen px
  int button = 0;    // 0 left, 1 right, 2 middle
  double wheel = 0;  // +1 per notch away from the user (zoom in)
  Key key = Key::None;
  bool ctrl = false;
  bool shift = false;
};

enum class Tool : std::uint8_t { Move, Rectangle, Polygon, Brush };
std::string_view tool_name(Tool t);

struct Action {
  enum class Type : std::uint8_t {
    SetClass,   // cls, on the selection or else the cell under `point`
    MarkFalse,  // Delete
    Undo,
    Redo,
    Next,            // E
    Previous,        // Q
    ToggleCells,     // H
    CycleDisplay,    // M: outline / fill / centroid
    SelectAt,        // click in Move tool: `point` (shift: add)
    BoxSelect,       // S-drag: `rect` (shift: add)
    ClearSelection,  // Escape
    RegionDrawn,     // R / P / B finished: `polygon`, `kind`
    Save,            // Ctrl+S: as the "Save review" button
    ViewChanged
  };
  Type type = Type::ViewChanged;
  CellClass cls = CellClass::Negative;
  cv::Point2d point;  // level-0 px
  cv::Rect2d rect;    // level-0 px
  std::vector<cv::Point2d> polygon;
  RegionKind kind = RegionKind::Include;
  bool add = false;
};

class CanvasInput {
 public:
  std::vector<Action> handle(const InputEvent& e, ViewTransform& view, const ViewLimits& limits);

  Tool tool() const { return tool_; }
  void set_tool(Tool t);
  RegionKind region_kind() const { return region_kind_; }
  void set_region_kind(RegionKind k) { region_kind_ = k; }
  void set_overview(const Overview& o, bool visible) {
    overview_ = o;
    overview_visible_ = visible;
  }
  // Where the overview covers the canvas (empty when it is not shown).
  cv::Rect2d overview_screen() const { return overview_visible_ ? overview_.screen : cv::Rect2d(); }
  double brush_radius_screen_px = 20.0;
  double pan_step_screen_px = 100.0;  // arrows / WASD
  double wheel_factor = 1.25;         // per wheel notch

  cv::Point2d hover_slide() const { return hover_slide_; }
  // The slide point under the pointer after the view moved without it (keys, the overview, a zoom): the
  // pointer stays where it is on screen, the slide moves under it.
  void follow_view(const ViewTransform& view) { hover_slide_ = view.to_slide(hover_screen_); }
  cv::Point2d hover_screen() const { return hover_screen_; }
  // What is being drawn right now (level-0 px), for the preview.
  bool box_active() const { return box_active_; }
  cv::Rect2d box_rect() const;
  const std::vector<cv::Point2d>& sketch() const { return sketch_; }

 private:
  void finish_polygon(std::vector<Action>& out);
  std::vector<cv::Point2d> brush_polygon(double downsample) const;

  Tool tool_ = Tool::Move;
  RegionKind region_kind_ = RegionKind::Include;
  Overview overview_;
  bool overview_visible_ = false;
  bool space_ = false, s_held_ = false, s_used_ = false;
  bool panning_ = false, box_active_ = false, drawing_ = false, moved_ = false;
  cv::Point2d press_screen_, last_screen_, hover_screen_, hover_slide_;
  cv::Point2d box_start_slide_;
  double brush_downsample_ = 1.0;
  std::vector<cv::Point2d> sketch_;  // rectangle corners, polygon vertices or brush path, level-0 px
};

}  // namespace ihc::gui
