// ihcview: drawing the slide and its cells on the canvas.
#include "gui/viewer.hpp"

#include <backends/imgui_impl_opengl3.h>

#include <algorithm>
#include <opencv2/imgproc.hpp>

namespace ihc::gui {

namespace {

void disable_blending(const ImDrawList*, const ImDrawCmd*) { glDisable(GL_BLEND); }

// ImGui's OpenGL backend takes a texture as its GL name carried in the pointer-sized ImTextureID.
ImTextureID texture_id(GLuint tex) {
  // NOLINTNEXTLINE(performance-no-int-to-ptr): a handle ImGui passes back, never dereferenced
  return reinterpret_cast<ImTextureID>(static_cast<std::intptr_t>(tex));
}

// Hands the GL state back to ImGui's backend after callbacks such as disable_blending changed it.
void reset_render_state(ImDrawList* list) {
  // NOLINTNEXTLINE(performance-no-int-to-ptr): ImGui's own marker, (ImDrawCallback)(-1), is never called
  list->AddCallback(ImDrawCallback_ResetRenderState, nullptr);
}

}  // namespace

std::optional<cv::Point2d> Viewer::pointer_on_slide() const {
  if (!slide_ || pointer_off_canvas_ || browser_.visible || close_.open) return std::nullopt;
  return slide_point_at(view_, limits_.slide_size, input_.overview_screen(), input_.hover_screen());
}

// ------------------------------------------------------------------------------------------------ drawing

void Viewer::draw_canvas() {
  ImDrawList* dl = ImGui::GetBackgroundDrawList();
  const cv::Rect2d& c = view_.canvas;
  // The canvas grey is the clear colour (see run()): software GL pays for every full-canvas layer.
  dl->PushClipRect(ImVec2(float(c.x), float(c.y)), ImVec2(float(c.x + c.width), float(c.y + c.height)));
  if (!slide_) {
    dl->PopClipRect();
    return;
  }
  uploads_left_ = kUploadsPerFrame;
  uploads_deferred_ = false;
  const cv::Rect2d vis = view_.visible_slide_rect();
  const auto coarse_tiles = all_tiles(geometry_, coarsest_);
  const bool cells_shown = show_cells_ && opacity_ > 0 && results_.table.size() > 0;
  view_tiles_drawn_ = cells_shown && !class_map_mode();
  if (view_tiles_drawn_) {
    draw_view_tiles(dl);
  } else {
    // Tiles are opaque: without blending llvmpipe skips reading the framebuffer back for every pixel.
    dl->AddCallback(disable_blending, nullptr);
    draw_slide(dl, view_, wanted_);
    reset_render_state(dl);
    if (cells_shown) draw_cells(dl);
  }

  // Slide points (level-0 px) as screen points of the view.
  auto on_screen = [&](const std::vector<cv::Point2d>& slide_pts) {
    std::vector<ImVec2> pts;
    pts.reserve(slide_pts.size());
    for (const auto& p : slide_pts) {
      const cv::Point2d sp = view_.to_screen(p);
      pts.emplace_back(float(sp.x), float(sp.y));
    }
    return pts;
  };
  // The batch's regions in black, as overlay.png draws them (holes and exclusions too): its cells are the
  // ones inside.
  for (const auto& a : batch_rois_.annotations) {
    for (const auto& poly : a.polygons) {
      std::vector<const Ring*> rings{&poly.outer};
      for (const auto& h : poly.holes) rings.push_back(&h);
      for (const Ring* ring : rings) {
        const std::vector<ImVec2> pts = on_screen(*ring);
        dl->AddPolyline(pts.data(), static_cast<int>(pts.size()), IM_COL32(0, 0, 0, 255), ImDrawFlags_Closed,
                        2.0f);
      }
    }
  }
  // Regions: include green; exclude black edged in light grey (QuPath's Ignore* grey), which no class colour
  // is: it was red (220, 30, 30), lost among 3+ cells (#FA3E3E; viewer probe 11). The sketch is yellow.
  for (const auto& r : editor_.review().regions) {
    const std::vector<ImVec2> pts = on_screen(r.polygon);
    const float width = r.id == summary_region_ ? 3.0f : 2.0f;
    if (r.kind == RegionKind::Include) {
      dl->AddPolyline(pts.data(), static_cast<int>(pts.size()), IM_COL32(40, 200, 40, 255),
                      ImDrawFlags_Closed, width);
    } else {
      dl->AddPolyline(pts.data(), static_cast<int>(pts.size()), IM_COL32(0, 0, 0, 255), ImDrawFlags_Closed,
                      width + 2.0f);
      dl->AddPolyline(pts.data(), static_cast<int>(pts.size()), IM_COL32(225, 225, 225, 255),
                      ImDrawFlags_Closed, width - 1.0f);
    }
  }
  if (!input_.sketch().empty()) {
    const std::vector<ImVec2> pts = on_screen(input_.sketch());
    if (input_.tool() == Tool::Rectangle && pts.size() == 2) {
      dl->AddRect(pts[0], pts[1], IM_COL32(255, 220, 0, 255), 0, 0, 2);
    } else {
      dl->AddPolyline(pts.data(), static_cast<int>(pts.size()), IM_COL32(255, 220, 0, 255), 0, 2);
    }
  }
  if (input_.box_active()) {
    const cv::Rect2d r = input_.box_rect();
    const cv::Point2d a = view_.to_screen(r.tl()), b = view_.to_screen(r.br());
    dl->AddRect(ImVec2(float(a.x), float(a.y)), ImVec2(float(b.x), float(b.y)), IM_COL32(255, 255, 255, 255),
                0, 0, 1.5f);
  }

  // Overview with the view box.
  const Overview o = make_overview(c, limits_.slide_size, 200);
  input_.set_overview(o, true);
  dl->AddRectFilled(ImVec2(float(o.screen.x - 2), float(o.screen.y - 2)),
                    ImVec2(float(o.screen.x + o.screen.width + 2), float(o.screen.y + o.screen.height + 2)),
                    IM_COL32(40, 40, 40, 255));
  ViewTransform ov;
  ov.downsample = limits_.slide_size.width / o.screen.width;
  ov.canvas = o.screen;
  ov.center = {limits_.slide_size.width / 2, limits_.slide_size.height / 2};
  dl->PushClipRect(ImVec2(float(o.screen.x), float(o.screen.y)),
                   ImVec2(float(o.screen.x + o.screen.width), float(o.screen.y + o.screen.height)), true);
  // Opaque like the canvas tiles: the same llvmpipe shader variant, one JIT compilation fewer at start.
  dl->AddCallback(disable_blending, nullptr);
  for (const TileKey& k : coarse_tiles) draw_tile_part(k, dl, ov, tile_rect_level0(geometry_, k));
  reset_render_state(dl);
  dl->PopClipRect();
  const cv::Rect2d box =
      o.to_screen(vis & cv::Rect2d(0, 0, limits_.slide_size.width, limits_.slide_size.height));
  dl->AddRect(ImVec2(float(box.x), float(box.y)), ImVec2(float(box.x + box.width), float(box.y + box.height)),
              IM_COL32(255, 40, 40, 255), 0, 0, 2);

  // Scale bar, bottom left.
  const ScaleBar bar = scale_bar(view_.downsample, pixel_size_.x);
  const float bx = float(c.x + 16), by = float(c.y + c.height - 24);
  dl->AddRectFilled(ImVec2(bx - 6, by - 20), ImVec2(bx + float(bar.length_px) + 6, by + 8),
                    IM_COL32(255, 255, 255, 200));
  dl->AddRectFilled(ImVec2(bx, by), ImVec2(bx + float(bar.length_px), by + 4), IM_COL32(0, 0, 0, 255));
  dl->AddText(ImVec2(bx, by - 18), IM_COL32(0, 0, 0, 255), bar.label.c_str());
  dl->PopClipRect();
}

// Draws the part `part` (level-0 px) of tile k; false when it has no texture yet.
bool Viewer::draw_tile_part(const TileKey& k, ImDrawList* list, const ViewTransform& v,
                            const cv::Rect2d& part) {
  const GLuint tex = texture_for(k);
  if (tex == 0) return false;
  // One texel per screen pixel: nearest sampling gives the same picture for a third of llvmpipe's work.
  const bool exact = std::abs(v.downsample / geometry_.downsamples[k.level] - 1.0) < 1e-3;
  Texture& t = textures_[k];
  const GLint filter = exact ? GL_NEAREST : GL_LINEAR;
  if (t.filter != filter) {
    glBindTexture(GL_TEXTURE_2D, tex);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, filter);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, filter);
    t.filter = filter;
  }
  const cv::Rect2d r = tile_rect_level0(geometry_, k);
  const cv::Rect2d p = part & r;
  if (p.width <= 0 || p.height <= 0) return true;
  const cv::Point2d a = v.to_screen(p.tl()), b = v.to_screen(p.br());
  const ImVec2 uv0(float((p.x - r.x) / r.width), float((p.y - r.y) / r.height));
  const ImVec2 uv1(float((p.x + p.width - r.x) / r.width), float((p.y + p.height - r.y) / r.height));
  list->AddImage(texture_id(tex), ImVec2(float(a.x), float(a.y)), ImVec2(float(b.x), float(b.y)), uv0, uv1);
  return true;
}

// The slide in v's canvas from the `fine` tiles of v's level; the coarsest level (always resident) only under
// the holes, so the view is never drawn twice. True when no hole was left and every tile drawn shows the
// current display: a cached overlay tile drawn from an older texture (RGB, or the channel before) is drawn
// again when the new one arrives, instead of keeping the old channel under the cells for good.
bool Viewer::draw_slide(ImDrawList* list, const ViewTransform& v, const std::vector<TileKey>& fine) {
  const cv::Rect2d vis = v.visible_slide_rect();
  const int level = level_for_downsample(geometry_, v.downsample);
  const auto coarse = all_tiles(geometry_, coarsest_);
  bool complete = true;
  if (level == coarsest_) {
    for (const TileKey& k : coarse) {
      const cv::Rect2d r = tile_rect_level0(geometry_, k);
      if ((r & vis).area() <= 0) continue;
      draw_tile_part(k, list, v, r);
      complete &= tile_done(k);  // drawn as the display is now, or never readable
    }
    return complete;
  }
  for (const TileKey& k : fine) {
    if (draw_tile_part(k, list, v, tile_rect_level0(geometry_, k))) {
      complete &= tile_done(k);
      continue;
    }
    // An unreadable tile will never come: the view is as complete as it can be (the coarse level shows).
    complete &= loader_->failed(display_key(k));
    const cv::Rect2d hole = tile_rect_level0(geometry_, k) & vis;
    for (const TileKey& ck : coarse) {
      if ((tile_rect_level0(geometry_, ck) & hole).area() > 0) draw_tile_part(ck, list, v, hole);
    }
  }
  return complete;
}

bool Viewer::class_map_mode() const {
  // Typical cell diameter on screen decides between outlines and the class map.
  return grid_.estimate(view_.visible_slide_rect()) > kMaxDrawnCells || 20.0 / view_.downsample < 2.0;
}

void Viewer::draw_view_tiles(ImDrawList* dl) {
  const cv::Rect2d vis = view_.visible_slide_rect();
  const int alpha = static_cast<int>(opacity_ * 255);
  const OverlayKey key{view_.downsample,
                       cells_version_,
                       selection_version_,
                       display_version_,
                       static_cast<int>(cell_display_),
                       alpha};
  if (!(key == overlay_key_)) {
    clear_overlay();
    overlay_key_ = key;
  }
  // Tiles of kOverlayTile screen px on a grid anchored at the slide origin, so they stay valid while panning.
  const double span = kOverlayTile * view_.downsample;
  // Outlines, selection rings (up to 12 level-0 px + 8 screen px) and markers reach this far past a centroid.
  const double reach = cell_extent_px_ + 14 + 10 * view_.downsample;
  const int tx0 = static_cast<int>(std::floor(std::max(vis.x, -reach) / span));
  const int ty0 = static_cast<int>(std::floor(std::max(vis.y, -reach) / span));
  const int tx1 =
      static_cast<int>(std::floor(std::min(vis.x + vis.width, limits_.slide_size.width + reach) / span));
  const int ty1 =
      static_cast<int>(std::floor(std::min(vis.y + vis.height, limits_.slide_size.height + reach) / span));
  dl->AddCallback(disable_blending, nullptr);
  bool complete = true;
  for (int ty = ty0; ty <= ty1; ++ty) {
    for (int tx = tx0; tx <= tx1; ++tx) {
      OverlayTile& t = overlay_[TileKey{0, tx, ty}];
      // Every visible tile is drawn in the frame it appears: no cell ever pops in late. A tile drawn while
      // slide tiles were missing is redone once more of them were uploaded.
      if (t.tex == 0 || (!t.complete && (t.redo || t.rendered_at != slide_updates_))) {
        render_overlay_tile(tx, ty, &t);
      }
      complete &= t.complete;
      t.last_used = frame_;
      const cv::Point2d a = view_.to_screen({tx * span, ty * span});
      dl->AddImage(texture_id(t.tex), ImVec2(float(a.x), float(a.y)),
                   ImVec2(float(a.x) + kOverlayTile, float(a.y) + kOverlayTile), ImVec2(0, 1), ImVec2(1, 0));
    }
  }
  reset_render_state(dl);
  view_tiles_complete_ = complete;
  if (overlay_.size() > kOverlayTileCount) {
    std::vector<std::pair<std::uint64_t, TileKey>> order;
    for (const auto& [k, t] : overlay_) {
      if (t.last_used != frame_) order.push_back({t.last_used, k});
    }
    std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (std::size_t i = 0; i < order.size() && overlay_.size() > kOverlayTileCount * 3 / 4; ++i) {
      auto it = overlay_.find(order[i].second);
      if (it->second.tex != 0) overlay_free_.push_back(it->second.tex);
      overlay_.erase(it);
    }
  }
}

// The class map (low zoom, or too many cells on screen): squares of about 8 screen px in their majority
// class, as one texture built per zoom octave and cell revision (panning redraws one quad, whatever the cell
// count).
void Viewer::draw_cells(ImDrawList* dl) {
  const int alpha = static_cast<int>(opacity_ * 255);
  {
    double square = std::exp2(std::round(std::log2(8 * view_.downsample)));
    while (limits_.slide_size.width / square > 8192 || limits_.slide_size.height / square > 8192) square *= 2;
    if (class_tex_.version != cells_version_ || class_tex_.square_px != square) {
      const ClassRaster raster = class_raster(results_.table, state_, limits_.slide_size, square);
      cv::Mat rgba(raster.classes.size(), CV_8UC4, cv::Scalar::all(0));
      for (int y = 0; y < rgba.rows; ++y) {
        for (int x = 0; x < rgba.cols; ++x) {
          const int v = raster.classes(y, x);
          if (v == 0) continue;
          const bool out_of_scope = (v & kOutOfScope) != 0;
          const std::uint32_t rgb = class_color_rgb(static_cast<CellClass>((v & ~kOutOfScope) - 1));
          rgba.at<cv::Vec4b>(y, x) = {static_cast<std::uint8_t>(rgb >> 16),
                                      static_cast<std::uint8_t>(rgb >> 8), static_cast<std::uint8_t>(rgb),
                                      static_cast<std::uint8_t>(out_of_scope ? 85 : 255)};
        }
      }
      if (class_tex_.id == 0) glGenTextures(1, &class_tex_.id);
      define_texture(class_tex_.id, GL_NEAREST, GL_RGBA8, GL_RGBA, rgba.cols, rgba.rows, rgba.data);
      class_tex_.version = cells_version_;
      class_tex_.square_px = square;
      class_tex_.size = rgba.size();
    }
    // The last row and column of squares are cut at the slide's edge, not drawn past it.
    const cv::Size2d& slide = limits_.slide_size;
    const cv::Point2d a = view_.to_screen({0, 0});
    const cv::Point2d b = view_.to_screen({slide.width, slide.height});
    const ImVec2 uv(float(slide.width / (class_tex_.size.width * square)),
                    float(slide.height / (class_tex_.size.height * square)));
    dl->AddImage(texture_id(class_tex_.id), ImVec2(float(a.x), float(a.y)), ImVec2(float(b.x), float(b.y)),
                 ImVec2(0, 0), uv, IM_COL32(255, 255, 255, alpha * 3 / 4));
  }
}

void Viewer::clear_overlay() {
  for (auto& [k, t] : overlay_) {
    if (t.tex != 0) overlay_free_.push_back(t.tex);
  }
  overlay_.clear();
}

void Viewer::render_overlay_tile(int tx, int ty, OverlayTile* tile) {
  const double ds = view_.downsample, span = kOverlayTile * ds;
  const cv::Rect2d r(tx * span, ty * span, span, span);
  const double m = cell_extent_px_ + 14 + 10 * ds;
  const std::vector<int> cells = grid_.query({r.x - m, r.y - m, r.width + 2 * m, r.height + 2 * m});
  ImDrawList list(ImGui::GetDrawListSharedData());
  list._ResetForNewFrame();
  list.PushTextureID(ImGui::GetIO().Fonts->TexID);
  list.PushClipRect(ImVec2(0, 0), ImVec2(kOverlayTile, kOverlayTile));
  // Thin outlines without anti-aliasing: a third of the vertices, which software GL feels.
  list.Flags &= ~(ImDrawListFlags_AntiAliasedLines | ImDrawListFlags_AntiAliasedFill);
  ViewTransform tv;
  tv.downsample = ds;
  tv.canvas = {0, 0, double(kOverlayTile), double(kOverlayTile)};
  tv.center = {r.x + span / 2, r.y + span / 2};
  list.AddCallback(disable_blending, nullptr);
  const int level = level_for_downsample(geometry_, ds);
  const bool deferred_before = uploads_deferred_;
  uploads_deferred_ = false;
  tile->complete = draw_slide(&list, tv, visible_tiles(geometry_, tv, level));
  tile->rendered_at = slide_updates_;
  tile->redo = uploads_deferred_;
  uploads_deferred_ |= deferred_before;
  reset_render_state(&list);
  draw_cell_shapes(&list, tv, cells, static_cast<int>(opacity_ * 255));
  if (tile->tex == 0 && !overlay_free_.empty()) {
    tile->tex = overlay_free_.back();
    overlay_free_.pop_back();
  } else if (tile->tex == 0) {
    glGenTextures(1, &tile->tex);
    define_texture(tile->tex, GL_NEAREST, GL_RGBA8, GL_RGBA, kOverlayTile, kOverlayTile, nullptr);
  }
  if (overlay_fbo_ == 0) glGenFramebuffers(1, &overlay_fbo_);
  glBindFramebuffer(GL_FRAMEBUFFER, overlay_fbo_);
  glFramebufferTexture2D(GL_FRAMEBUFFER, GL_COLOR_ATTACHMENT0, GL_TEXTURE_2D, tile->tex, 0);
  glViewport(0, 0, kOverlayTile, kOverlayTile);
  glDisable(GL_SCISSOR_TEST);
  glClearColor(235 / 255.0f, 235 / 255.0f, 235 / 255.0f, 1.0f);  // the canvas background past the slide
  glClear(GL_COLOR_BUFFER_BIT);
  ImDrawList* lists[] = {&list};
  ImDrawData data;
  data.Valid = true;
  data.CmdLists = lists;
  data.CmdListsCount = 1;
  data.TotalVtxCount = list.VtxBuffer.Size;
  data.TotalIdxCount = list.IdxBuffer.Size;
  data.DisplayPos = ImVec2(0, 0);
  data.DisplaySize = ImVec2(kOverlayTile, kOverlayTile);
  data.FramebufferScale = ImVec2(1, 1);
  ImGui_ImplOpenGL3_RenderDrawData(&data);
  glBindFramebuffer(GL_FRAMEBUFFER, 0);
}

void Viewer::draw_cell_shapes(ImDrawList* dl, const ViewTransform& v, const std::vector<int>& cells,
                              int alpha) {
  const double cell_px = 20.0 / v.downsample;
  // Level-0 to screen as one multiply-add per coordinate (v.to_screen per vertex shows up in profiles).
  const double sx = 1.0 / v.downsample;
  const double ox = v.canvas.x + v.canvas.width * 0.5 - v.center.x * sx;
  const double oy = v.canvas.y + v.canvas.height * 0.5 - v.center.y * sx;
  auto screen = [&](double x, double y) { return ImVec2(float(x * sx + ox), float(y * sx + oy)); };
  std::vector<ImVec2> pts;
  std::vector<cv::Point2f> ring;
  for (int i : cells) {
    const Cell& cell = results_.table.cells[i];
    const ImVec2 c = screen(cell.centroid.x, cell.centroid.y);
    if (state_.deleted[i]) {
      const float r = 3;
      dl->AddLine(ImVec2(c.x - r, c.y - r), ImVec2(c.x + r, c.y + r), IM_COL32(80, 80, 80, alpha));
      dl->AddLine(ImVec2(c.x - r, c.y + r), ImVec2(c.x + r, c.y - r), IM_COL32(80, 80, 80, alpha));
      continue;
    }
    const ImU32 col = class_colour(state_.classes[i], state_.counted[i] ? alpha : alpha / 3);
    const bool nuclei_only = cell_display_ == CellDisplay::Nuclei && cell.nucleus.size() >= 3;
    const auto& poly = cell.boundary.empty() || nuclei_only ? cell.nucleus : cell.boundary;
    if (cell_display_ == CellDisplay::Centroid || poly.size() < 3 || cell_px < 6) {
      const float r = cell_display_ == CellDisplay::Centroid ? 3.0f : std::max(1.5f, float(cell_px / 4));
      dl->AddRectFilled(ImVec2(c.x - r, c.y - r), ImVec2(c.x + r, c.y + r), col);
    } else {
      pts.clear();
      for (const auto& p : poly) pts.push_back(screen(p.x, p.y));
      if (cell_display_ == CellDisplay::Fill) {
        ring.clear();
        for (const ImVec2& p : pts) ring.emplace_back(p.x, p.y);
        const std::vector<int> tri = triangulate(ring);
        for (std::size_t t = 0; t + 2 < tri.size(); t += 3)
          dl->AddTriangleFilled(pts[tri[t]], pts[tri[t + 1]], pts[tri[t + 2]], col);
      } else {
        dl->AddPolyline(pts.data(), static_cast<int>(pts.size()), col, ImDrawFlags_Closed, 1.5f);
        // Nuclei once they are big enough to tell from their cell (about 5 screen px across).
        if (cell_display_ == CellDisplay::Outline && &poly != &cell.nucleus && cell.nucleus.size() >= 3 &&
            cell_px >= 12) {
          pts.clear();
          for (const auto& p : cell.nucleus) pts.push_back(screen(p.x, p.y));
          dl->AddPolyline(pts.data(), static_cast<int>(pts.size()), col, ImDrawFlags_Closed, 1.0f);
        }
      }
    }
    if (selected_[i]) {
      dl->AddCircle(c, float(std::max(6.0, cell_px * 0.6)), IM_COL32(255, 255, 255, 255), 0, 2);
    }
  }
}

}  // namespace ihc::gui
