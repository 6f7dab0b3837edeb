#include "gui/view_transform.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace ihc::gui {

cv::Point2d ViewTransform::to_screen(const cv::Point2d& slide) const {
  return {canvas.x + canvas.width * 0.5 + (slide.x - center.x) / downsample,
          canvas.y + canvas.height * 0.5 + (slide.y - center.y) / downsample};
}

cv::Point2d ViewTransform::to_slide(const cv::Point2d& screen) const {
  return {center.x + (screen.x - canvas.x - canvas.width * 0.5) * downsample,
          center.y + (screen.y - canvas.y - canvas.height * 0.5) * downsample};
}

cv::Rect2d ViewTransform::visible_slide_rect() const {
  const cv::Point2d a = to_slide({canvas.x, canvas.y});
  return {a.x, a.y, canvas.width * downsample, canvas.height * downsample};
}

void clamp(ViewTransform& v, const ViewLimits& limits) {
  v.downsample = std::clamp(v.downsample, limits.min_downsample, limits.max_downsample);
  v.center.x = std::clamp(v.center.x, 0.0, limits.slide_size.width);
  v.center.y = std::clamp(v.center.y, 0.0, limits.slide_size.height);
}

void zoom_about(ViewTransform& v, const cv::Point2d& screen_anchor, double factor, const ViewLimits& limits) {
  if (!(factor > 0)) return;
  const cv::Point2d anchor = v.to_slide(screen_anchor);
  const double ds = std::clamp(v.downsample / factor, limits.min_downsample, limits.max_downsample);
  // Keep `anchor` under the cursor: centre = anchor - (cursor offset from canvas centre) * new downsample.
  const cv::Point2d offset(screen_anchor.x - v.canvas.x - v.canvas.width * 0.5,
                           screen_anchor.y - v.canvas.y - v.canvas.height * 0.5);
  v.downsample = ds;
  v.center = anchor - offset * ds;
  clamp(v, limits);
}

void pan_screen(ViewTransform& v, const cv::Point2d& delta_screen, const ViewLimits& limits) {
  v.center -= delta_screen * v.downsample;
  clamp(v, limits);
}

void fit(ViewTransform& v, const ViewLimits& limits) {
  const double margin = 0.95;
  const double ds = std::max(limits.slide_size.width / (v.canvas.width * margin),
                             limits.slide_size.height / (v.canvas.height * margin));
  v.downsample = std::clamp(ds, limits.min_downsample, limits.max_downsample);
  v.center = {limits.slide_size.width * 0.5, limits.slide_size.height * 0.5};
}

void one_to_one(ViewTransform& v, const ViewLimits& limits) {
  v.downsample = 1.0;
  clamp(v, limits);
}

ScaleBar scale_bar(double downsample, double mpp, double target_px) {
  ScaleBar bar;
  const bool has_mpp = mpp > 0 && std::isfinite(mpp);
  const double unit_per_screen_px = downsample * (has_mpp ? mpp : 1.0);
  const double target = target_px * unit_per_screen_px;
  const double p10 = std::pow(10.0, std::floor(std::log10(target)));
  double best = p10;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * p10 <= target) best = m * p10;
  }
  bar.length_um = best;
  bar.length_px = best / unit_per_screen_px;
  char buf[64];
  if (!has_mpp) {
    std::snprintf(buf, sizeof buf, "%g px", best);
  } else if (best >= 1000.0) {
    std::snprintf(buf, sizeof buf, "%g mm", best / 1000.0);
  } else {
    std::snprintf(buf, sizeof buf, "%g um", best);
  }
  bar.label = buf;
  return bar;
}

std::string magnification_label(double objective_power, double downsample) {
  char buf[64];
  if (objective_power > 0 && std::isfinite(objective_power)) {
    std::snprintf(buf, sizeof buf, "%.1fx", objective_power / downsample);
  } else {
    std::snprintf(buf, sizeof buf, "ds %.2f", downsample);
  }
  return buf;
}

std::string position_label(const cv::Point2d& p, double mpp) {
  char buf[96];
  if (mpp > 0 && std::isfinite(mpp)) {
    std::snprintf(buf, sizeof buf, "x: %.1f um, y: %.1f um", p.x * mpp, p.y * mpp);
  } else {
    std::snprintf(buf, sizeof buf, "x: %.0f px, y: %.0f px", p.x, p.y);
  }
  return buf;
}

std::optional<cv::Point2d> slide_point_at(const ViewTransform& v, const cv::Size2d& slide_size,
                                          const cv::Rect2d& covered, const cv::Point2d& screen) {
  if (!v.canvas.contains(screen) || covered.contains(screen)) return std::nullopt;
  const cv::Point2d p = v.to_slide(screen);
  if (p.x < 0 || p.y < 0 || p.x >= slide_size.width || p.y >= slide_size.height) return std::nullopt;
  return p;
}

PyramidGeometry display_pyramid(const std::vector<cv::Size>& level_sizes,
                                const std::vector<double>& downsamples, int tile_size) {
  PyramidGeometry g;
  g.tile_size = tile_size;
  const cv::Size base = level_sizes.empty() ? cv::Size() : level_sizes[0];
  for (std::size_t i = 0; i < level_sizes.size(); ++i) {
    g.level_sizes.push_back(level_sizes[i]);
    g.downsamples.push_back(downsamples[i]);
    g.source_level.push_back(static_cast<int>(i));
    g.source_downsamples.push_back(downsamples[i]);
    if (i + 1 == level_sizes.size()) break;
    // 2x and 4x of this level while clearly finer than the next slide level.
    for (double f = 2; f <= 4 && downsamples[i] * f < downsamples[i + 1] / 1.01; f *= 2) {
      const double ds = downsamples[i] * f;
      g.level_sizes.push_back(
          {static_cast<int>(std::ceil(base.width / ds)), static_cast<int>(std::ceil(base.height / ds))});
      g.downsamples.push_back(ds);
      g.source_level.push_back(static_cast<int>(i));
      g.source_downsamples.push_back(downsamples[i]);
    }
  }
  return g;
}

SourceRegion source_region(const PyramidGeometry& g, const TileKey& k) {
  SourceRegion out;
  const cv::Rect2d r = tile_rect_level0(g, k);
  out.tile_size = tile_pixel_size(g, k);
  out.level = g.source(k.level);
  out.x = std::llround(r.x);
  out.y = std::llround(r.y);
  const double f =
      g.source_downsamples.empty() ? 1.0 : g.downsamples[k.level] / g.source_downsamples[k.level];
  out.size = std::abs(f - 1.0) < 1e-9 ? out.tile_size
                                      : cv::Size(static_cast<int>(std::ceil(out.tile_size.width * f)),
                                                 static_cast<int>(std::ceil(out.tile_size.height * f)));
  return out;
}

cv::Size tile_pixel_size(const PyramidGeometry& g, const TileKey& k) {
  const cv::Size ls = g.level_sizes[k.level];
  const int x = k.tx * g.tile_size, y = k.ty * g.tile_size;
  return {std::max(0, std::min(g.tile_size, ls.width - x)),
          std::max(0, std::min(g.tile_size, ls.height - y))};
}

cv::Rect2d tile_rect_level0(const PyramidGeometry& g, const TileKey& k) {
  const double ds = g.downsamples[k.level];
  const cv::Size s = tile_pixel_size(g, k);
  return {k.tx * g.tile_size * ds, k.ty * g.tile_size * ds, s.width * ds, s.height * ds};
}

int level_for_downsample(const PyramidGeometry& g, double downsample) {
  int best = 0;
  for (int i = 0; i < static_cast<int>(g.downsamples.size()); ++i) {
    if (g.downsamples[i] <= downsample * 1.01) best = i;
  }
  return best;
}

std::vector<TileKey> visible_tiles(const PyramidGeometry& g, const ViewTransform& v, int level) {
  std::vector<TileKey> out;
  if (level < 0 || level >= static_cast<int>(g.level_sizes.size())) return out;
  const double ds = g.downsamples[level];
  const cv::Rect2d r = v.visible_slide_rect();
  const double span = g.tile_size * ds;
  const int nx = (g.level_sizes[level].width + g.tile_size - 1) / g.tile_size;
  const int ny = (g.level_sizes[level].height + g.tile_size - 1) / g.tile_size;
  const int x0 = std::max(0, static_cast<int>(std::floor(r.x / span)));
  const int y0 = std::max(0, static_cast<int>(std::floor(r.y / span)));
  const int x1 = std::min(nx - 1, static_cast<int>(std::floor((r.x + r.width) / span)));
  const int y1 = std::min(ny - 1, static_cast<int>(std::floor((r.y + r.height) / span)));
  for (int ty = y0; ty <= y1; ++ty) {
    for (int tx = x0; tx <= x1; ++tx) out.push_back({level, tx, ty});
  }
  const cv::Point2d c = v.center;
  std::sort(out.begin(), out.end(), [&](const TileKey& a, const TileKey& b) {
    const cv::Rect2d ra = tile_rect_level0(g, a), rb = tile_rect_level0(g, b);
    const double da = std::hypot(ra.x + ra.width / 2 - c.x, ra.y + ra.height / 2 - c.y);
    const double db = std::hypot(rb.x + rb.width / 2 - c.x, rb.y + rb.height / 2 - c.y);
    return da < db;
  });
  return out;
}

std::vector<TileKey> all_tiles(const PyramidGeometry& g, int level) {
  std::vector<TileKey> out;
  const int nx = (g.level_sizes[level].width + g.tile_size - 1) / g.tile_size;
  const int ny = (g.level_sizes[level].height + g.tile_size - 1) / g.tile_size;
  for (int ty = 0; ty < ny; ++ty) {
    for (int tx = 0; tx < nx; ++tx) out.push_back({level, tx, ty});
  }
  return out;
}

cv::Point2d Overview::to_slide(const cv::Point2d& p) const {
  return {(p.x - screen.x) / screen.width * slide_size.width,
          (p.y - screen.y) / screen.height * slide_size.height};
}

cv::Rect2d Overview::to_screen(const cv::Rect2d& r) const {
  const double sx = screen.width / slide_size.width, sy = screen.height / slide_size.height;
  return {screen.x + r.x * sx, screen.y + r.y * sy, r.width * sx, r.height * sy};
}

Overview make_overview(const cv::Rect2d& canvas, const cv::Size2d& slide_size, double max_side) {
  Overview o;
  o.slide_size = slide_size;
  const double s = max_side / std::max(slide_size.width, slide_size.height);
  const double w = slide_size.width * s, h = slide_size.height * s;
  o.screen = {canvas.x + canvas.width - w - 10, canvas.y + 10, w, h};
  return o;
}

}  // namespace ihc::gui
