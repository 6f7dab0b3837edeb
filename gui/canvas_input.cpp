#include "gui/canvas_input.hpp"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>

namespace ihc::gui {

namespace {
struct KeyName {
  Key key;
  const char* name;
};
constexpr KeyName kKeys[] = {
    {Key::Num0, "0"},        {Key::Num1, "1"},    {Key::Num2, "2"},      {Key::Num3, "3"},
    {Key::Delete, "delete"}, {Key::E, "e"},       {Key::Q, "q"},         {Key::H, "h"},
    {Key::R, "r"},           {Key::P, "p"},       {Key::B, "b"},         {Key::S, "s"},
    {Key::W, "w"},           {Key::A, "a"},       {Key::D, "d"},         {Key::M, "m"},
    {Key::Space, "space"},   {Key::Left, "left"}, {Key::Right, "right"}, {Key::Up, "up"},
    {Key::Down, "down"},     {Key::Plus, "+"},    {Key::Minus, "-"},     {Key::Home, "home"},
    {Key::Zero, "zero"},     {Key::Z, "z"},       {Key::Y, "y"},         {Key::Escape, "escape"},
    {Key::Enter, "enter"},
};
}  // namespace

Key parse_key(const std::string& name) {
  for (const auto& k : kKeys) {
    if (name == k.name) return k.key;
  }
  return Key::None;
}

std::string_view key_name(Key key) {
  for (const auto& k : kKeys) {
    if (key == k.key) return k.name;
  }
  return "none";
}

std::string_view tool_name(Tool t) {
  switch (t) {
    case Tool::Move:
      return "move";
    case Tool::Rectangle:
      return "rectangle";
    case Tool::Polygon:
      return "polygon";
    case Tool::Brush:
      return "brush";
  }
  return "move";
}

void CanvasInput::set_tool(Tool t) {
  tool_ = t;
  sketch_.clear();
  drawing_ = false;
}

cv::Rect2d CanvasInput::box_rect() const {
  const cv::Point2d a = box_start_slide_, b = hover_slide_;
  return {std::min(a.x, b.x), std::min(a.y, b.y), std::abs(a.x - b.x), std::abs(a.y - b.y)};
}

void CanvasInput::finish_polygon(std::vector<Action>& out) {
  // A double click adds the same vertex twice; repeated vertices are dropped.
  sketch_.erase(std::unique(sketch_.begin(), sketch_.end()), sketch_.end());
  if (sketch_.size() >= 3) {
    Action a;
    a.type = Action::Type::RegionDrawn;
    a.polygon = sketch_;
    a.kind = region_kind_;
    out.push_back(a);
  }
  sketch_.clear();
  drawing_ = false;
}

std::vector<cv::Point2d> CanvasInput::brush_polygon(double downsample) const {
  // The stroke is rasterised at screen resolution (one pixel = `downsample` level-0 px), then its outer
  // contour becomes the region: the union of the brush discs as one polygon.
  if (sketch_.empty()) return {};
  double x0 = sketch_[0].x, y0 = sketch_[0].y, x1 = x0, y1 = y0;
  for (const auto& p : sketch_) {
    x0 = std::min(x0, p.x);
    y0 = std::min(y0, p.y);
    x1 = std::max(x1, p.x);
    y1 = std::max(y1, p.y);
  }
  const double r = brush_radius_screen_px;
  const int pad = static_cast<int>(r) + 2;
  const int w = static_cast<int>((x1 - x0) / downsample) + 2 * pad + 1;
  const int h = static_cast<int>((y1 - y0) / downsample) + 2 * pad + 1;
  if (w > 8192 || h > 8192) return {};
  cv::Mat mask = cv::Mat::zeros(h, w, CV_8U);
  auto px = [&](const cv::Point2d& p) {
    return cv::Point(static_cast<int>((p.x - x0) / downsample) + pad,
                     static_cast<int>((p.y - y0) / downsample) + pad);
  };
  for (std::size_t i = 0; i < sketch_.size(); ++i) {
    cv::circle(mask, px(sketch_[i]), static_cast<int>(r), 255, cv::FILLED);
    if (i > 0) cv::line(mask, px(sketch_[i - 1]), px(sketch_[i]), 255, static_cast<int>(2 * r));
  }
  std::vector<std::vector<cv::Point>> contours;
  cv::findContours(mask, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
  if (contours.empty()) return {};
  auto best = std::max_element(contours.begin(), contours.end(), [](const auto& a, const auto& b) {
    return cv::contourArea(a) < cv::contourArea(b);
  });
  std::vector<cv::Point> simple;
  cv::approxPolyDP(*best, simple, 1.0, true);
  std::vector<cv::Point2d> out;
  out.reserve(simple.size());
  // A mask pixel back at its centre (p -> px(p) takes the pixel holding p; level-0 pixel-edge convention).
  for (const auto& p : simple)
    out.push_back({x0 + (p.x - pad + 0.5) * downsample, y0 + (p.y - pad + 0.5) * downsample});
  return out;
}

std::vector<Action> CanvasInput::handle(const InputEvent& e, ViewTransform& view, const ViewLimits& limits) {
  std::vector<Action> out;
  auto view_changed = [&] { out.push_back({Action::Type::ViewChanged}); };
  using T = InputEvent::Type;
  if (e.type == T::MouseMove || e.type == T::MouseDown || e.type == T::MouseUp || e.type == T::DoubleClick) {
    hover_screen_ = e.pos;
  }
  // Keys act on the cell under the pointer now: a pan by keys since the last mouse event moved the slide.
  follow_view(view);
  switch (e.type) {
    case T::MouseMove: {
      const cv::Point2d delta = e.pos - last_screen_;
      last_screen_ = e.pos;
      if (cv::norm(e.pos - press_screen_) > 3) moved_ = true;
      if (panning_) {
        pan_screen(view, delta, limits);
        hover_slide_ = view.to_slide(e.pos);
        view_changed();
      } else if (drawing_ && tool_ == Tool::Brush) {
        sketch_.push_back(hover_slide_);
      } else if (drawing_ && tool_ == Tool::Rectangle && sketch_.size() == 2) {
        sketch_[1] = hover_slide_;
      }
      break;
    }
    case T::MouseDown: {
      press_screen_ = last_screen_ = e.pos;
      moved_ = false;
      if (e.button == 0 && overview_visible_ && overview_.screen.contains(e.pos)) {
        view.center = overview_.to_slide(e.pos);
        clamp(view, limits);
        view_changed();
        break;
      }
      if (e.button == 2 || (e.button == 0 && space_)) {
        panning_ = true;
      } else if (e.button == 0 && s_held_) {
        box_active_ = true;
        s_used_ = true;
        box_start_slide_ = hover_slide_;
      } else if (e.button == 0) {
        switch (tool_) {
          case Tool::Move:
            panning_ = true;
            break;
          case Tool::Rectangle:
            drawing_ = true;
            sketch_ = {hover_slide_, hover_slide_};
            break;
          case Tool::Polygon:
            drawing_ = true;
            sketch_.push_back(hover_slide_);
            break;
          case Tool::Brush:
            drawing_ = true;
            brush_downsample_ = view.downsample;
            sketch_ = {hover_slide_};
            break;
        }
      }
      break;
    }
    case T::MouseUp: {
      if (panning_) {
        panning_ = false;
        if (!moved_ && tool_ == Tool::Move && e.button == 0 && !space_) {
          Action a{Action::Type::SelectAt};
          a.point = hover_slide_;
          a.add = e.shift;
          out.push_back(a);
        }
      } else if (box_active_) {
        box_active_ = false;
        Action a{Action::Type::BoxSelect};
        a.rect = box_rect();
        a.add = e.shift;
        out.push_back(a);
      } else if (drawing_ && tool_ == Tool::Rectangle) {
        const cv::Point2d p = sketch_[0], q = hover_slide_;
        sketch_ = {p, {q.x, p.y}, q, {p.x, q.y}};
        if (std::abs(q.x - p.x) > 0 && std::abs(q.y - p.y) > 0) {
          finish_polygon(out);
        } else {
          sketch_.clear();
          drawing_ = false;
        }
      } else if (drawing_ && tool_ == Tool::Brush) {
        sketch_ = brush_polygon(brush_downsample_);
        finish_polygon(out);
      }
      break;
    }
    case T::DoubleClick:
      if (tool_ == Tool::Polygon && drawing_) finish_polygon(out);
      break;
    case T::Wheel:
      if (e.wheel != 0) {
        zoom_about(view, e.pos, std::pow(wheel_factor, e.wheel), limits);
        view_changed();
      }
      break;
    case T::KeyUp:
      if (e.key == Key::Space) space_ = false;
      if (e.key == Key::S) {
        // S tapped alone pans down (WASD); S held for a drag was a box selection; Ctrl+S never held it.
        if (s_held_ && !s_used_) {
          pan_screen(view, {0, -pan_step_screen_px}, limits);
          view_changed();
        }
        s_held_ = false;
      }
      break;
    case T::KeyDown: {
      auto set_class = [&](CellClass c) {
        Action a{Action::Type::SetClass};
        a.cls = c;
        a.point = hover_slide_;
        out.push_back(a);
      };
      auto pan = [&](double dx, double dy) {
        pan_screen(view, {dx, dy}, limits);
        view_changed();
      };
      const double step = pan_step_screen_px;
      // With Ctrl a key is a command or nothing, never the plain key's action: Ctrl+S panned, Ctrl+H hid the
      // cells, Ctrl+E went to the next cell and Ctrl+3 reclassified (probe 7). The view keys stay.
      if (e.ctrl) {
        switch (e.key) {
          case Key::Num0:
          case Key::Zero:
          case Key::Z:
          case Key::Y:
          case Key::Left:
          case Key::Right:
          case Key::Up:
          case Key::Down:
          case Key::Plus:
          case Key::Minus:
          case Key::Home:
          case Key::Escape:
          case Key::Space:
            break;
          case Key::S:
            out.push_back({Action::Type::Save});
            return out;
          default:
            return out;
        }
      }
      switch (e.key) {
        case Key::Num0:
          if (e.ctrl) {
            one_to_one(view, limits);
            view_changed();
          } else {
            set_class(CellClass::Negative);
          }
          break;
        case Key::Zero:
          one_to_one(view, limits);
          view_changed();
          break;
        case Key::Num1:
          set_class(CellClass::OnePlus);
          break;
        case Key::Num2:
          set_class(CellClass::TwoPlus);
          break;
        case Key::Num3:
          set_class(CellClass::ThreePlus);
          break;
        case Key::Delete: {
          Action a{Action::Type::MarkFalse};
          a.point = hover_slide_;
          out.push_back(a);
          break;
        }
        case Key::Z:
          if (e.ctrl) out.push_back({e.shift ? Action::Type::Redo : Action::Type::Undo});
          break;
        case Key::Y:
          if (e.ctrl) out.push_back({Action::Type::Redo});
          break;
        case Key::E:
          out.push_back({Action::Type::Next});
          break;
        case Key::Q:
          out.push_back({Action::Type::Previous});
          break;
        case Key::H:
          out.push_back({Action::Type::ToggleCells});
          break;
        case Key::M:
          out.push_back({Action::Type::CycleDisplay});
          break;
        case Key::R:
          set_tool(tool_ == Tool::Rectangle ? Tool::Move : Tool::Rectangle);
          break;
        case Key::P:
          set_tool(tool_ == Tool::Polygon ? Tool::Move : Tool::Polygon);
          break;
        case Key::B:
          set_tool(tool_ == Tool::Brush ? Tool::Move : Tool::Brush);
          break;
        case Key::S:
          s_held_ = true;
          s_used_ = false;
          break;
        case Key::Space:
          space_ = true;
          break;
        case Key::Left:
        case Key::A:
          pan(step, 0);
          break;
        case Key::Right:
        case Key::D:
          pan(-step, 0);
          break;
        case Key::Up:
        case Key::W:
          pan(0, step);
          break;
        case Key::Down:
          pan(0, -step);
          break;
        case Key::Plus:
          zoom_about(view, {view.canvas.x + view.canvas.width / 2, view.canvas.y + view.canvas.height / 2},
                     2.0, limits);
          view_changed();
          break;
        case Key::Minus:
          zoom_about(view, {view.canvas.x + view.canvas.width / 2, view.canvas.y + view.canvas.height / 2},
                     0.5, limits);
          view_changed();
          break;
        case Key::Home:
          fit(view, limits);
          view_changed();
          break;
        case Key::Enter:
          if (tool_ == Tool::Polygon) finish_polygon(out);
          break;
        case Key::Escape:
          if (!sketch_.empty()) {
            sketch_.clear();
            drawing_ = false;
          } else {
            out.push_back({Action::Type::ClearSelection});
          }
          break;
        default:
          break;
      }
      break;
    }
  }
  return out;
}

}  // namespace ihc::gui
