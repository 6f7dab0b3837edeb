#pragma once
// Where the slide is on screen: a pure value type (no GL, no ImGui) so navigation is unit tested.
// Slide coordinates are level-0 pixels; screen coordinates are window pixels (canvas origin included).
#include <cstdint>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <vector>

namespace ihc::gui {

struct ViewTransform {
  cv::Rect2d canvas{0, 0, 1280, 800};  // screen rectangle the slide is drawn in
  cv::Point2d center{0, 0};            // level-0 px shown at the canvas centre
  double downsample = 1.0;             // level-0 px per screen px (QuPath's "downsample")

  cv::Point2d to_screen(const cv::Point2d& slide) const;
  cv::Point2d to_slide(const cv::Point2d& screen) const;
  cv::Rect2d visible_slide_rect() const;  // the part of level 0 on screen (may exceed the slide)
};

struct ViewLimits {
  cv::Size2d slide_size{1, 1};         // level-0 px
  double min_downsample = 1.0 / 16.0;  // 16x past full resolution
  double max_downsample = 1024.0;
};

// Zooms by `factor` (> 1 zooms in) keeping the slide point under `screen_anchor` fixed, as QuPath does.
void zoom_about(ViewTransform& v, const cv::Point2d& screen_anchor, double factor, const ViewLimits& limits);
// Moves the slide with the pointer: a drag of (dx, dy) screen px moves the content by the same amount.
void pan_screen(ViewTransform& v, const cv::Point2d& delta_screen, const ViewLimits& limits);
// Whole slide centred with a small margin.
void fit(ViewTransform& v, const ViewLimits& limits);
// Full resolution (downsample 1) about the canvas centre.
void one_to_one(ViewTransform& v, const ViewLimits& limits);
// Keeps the centre on the slide so the user cannot lose it.
void clamp(ViewTransform& v, const ViewLimits& limits);

// Scale bar: a round length (1, 2, 5 x 10^n um) close to `target_px` on screen.
struct ScaleBar {
  double length_um = 0.0;
  double length_px = 0.0;  // on screen
  std::string label;       // "50 um", "1 mm"; "200 px" when the slide has no pixel size
};
ScaleBar scale_bar(double downsample, double mpp, double target_px = 120.0);

// Magnification shown in the status bar: objective power / downsample ("10.0x"); without an objective power,
// the downsample ("ds 4.00").
std::string magnification_label(double objective_power, double downsample);
// Cursor position "x: 1234.5 um, y: 99.0 um" (px when the pixel size is unknown).
std::string position_label(const cv::Point2d& slide, double mpp);
// The level-0 point under screen point `screen` when the canvas shows the slide there; nullopt off the canvas
// (the side panel, the status bar), on `covered` (the overview drawn over the canvas; may be empty) and in
// the margin beside the slide. The status line's cursor position reports only such points.
std::optional<cv::Point2d> slide_point_at(const ViewTransform& v, const cv::Size2d& slide_size,
                                          const cv::Rect2d& covered, const cv::Point2d& screen);

// A tile of a pyramid level, keyed in level pixels. `channel` and `display` name what its pixels show: both 0
// for the slide's own RGB; else a rendering (channel 1 hematoxylin, 2 DAB, 3 residual, with the stain vectors
// and brightness/contrast of display version `display`) made from the RGB tile by the background loader.
struct TileKey {
  int level = 0;
  int tx = 0;
  int ty = 0;
  int channel = 0;
  std::uint64_t display = 0;
  bool operator==(const TileKey& o) const = default;
  bool operator<(const TileKey& o) const {
    if (display != o.display) return display < o.display;
    if (channel != o.channel) return channel < o.channel;
    return level != o.level ? level < o.level : (ty != o.ty ? ty < o.ty : tx < o.tx);
  }
  bool raw() const { return channel == 0 && display == 0; }
  TileKey rgb() const { return {level, tx, ty}; }  // the slide pixels it is rendered from
};
struct TileKeyHash {
  std::size_t operator()(const TileKey& k) const {
    return ((static_cast<std::size_t>(k.level) << 56) ^ (static_cast<std::size_t>(k.ty) << 28) ^
            static_cast<std::size_t>(k.tx)) ^
           ((static_cast<std::size_t>(k.display) * 0x9E3779B97F4A7C15ull) +
            static_cast<std::size_t>(k.channel));
  }
};

struct PyramidGeometry {
  std::vector<cv::Size> level_sizes;
  std::vector<double> downsamples;
  int tile_size = 512;  // level px
  // Slide level each level is read from (resampled when the downsamples differ) and that slide level's
  // downsample; empty = the level itself.
  std::vector<int> source_level;
  std::vector<double> source_downsamples;
  int source(int level) const { return source_level.empty() ? level : source_level[level]; }
};

// What to read from the slide for one tile: a region of slide level `level` (top-left in level-0 px, size in
// that level's px), to be resized to `tile_size` when the sizes differ.
struct SourceRegion {
  int level = 0;
  std::int64_t x = 0, y = 0;
  cv::Size size;
  cv::Size tile_size;
};
SourceRegion source_region(const PyramidGeometry& g, const TileKey& k);

// The slide's levels plus resampled ones so that no two neighbours differ by more than 2x (a 1x/4x/16x slide
// shows 1, 2, 4, 8, 16): textures are then drawn at 1x to 2x minification, which costs software GL far less
// and aliases less than sampling a 4x finer level. A resampled level is at most 4x coarser than its source,
// so one tile never reads more than 16 source tiles.
PyramidGeometry display_pyramid(const std::vector<cv::Size>& level_sizes,
                                const std::vector<double>& downsamples, int tile_size = 512);

// Level-0 rectangle covered by a tile (clipped to the level size).
cv::Rect2d tile_rect_level0(const PyramidGeometry& g, const TileKey& k);
// Tile size in level pixels after clipping at the right/bottom edges.
cv::Size tile_pixel_size(const PyramidGeometry& g, const TileKey& k);
// The level to read for a view: the finest level not finer than needed (OpenSlide's rule, with a small
// tolerance so a downsample of 3.999 still uses the 4x level).
int level_for_downsample(const PyramidGeometry& g, double downsample);
// Tiles of `level` that intersect the view, nearest to the centre first (loaded first).
std::vector<TileKey> visible_tiles(const PyramidGeometry& g, const ViewTransform& v, int level);
// The coarsest level's tiles (kept resident so the screen is never black).
std::vector<TileKey> all_tiles(const PyramidGeometry& g, int level);

// Overview thumbnail in a corner: the mapping between its rectangle and the slide.
struct Overview {
  cv::Rect2d screen;  // where the thumbnail is drawn
  cv::Size2d slide_size;
  cv::Point2d to_slide(const cv::Point2d& screen_point) const;
  cv::Rect2d to_screen(const cv::Rect2d& slide_rect) const;
};
// Overview placed in the top-right corner of the canvas, at most `max_side` px on its longer side.
Overview make_overview(const cv::Rect2d& canvas, const cv::Size2d& slide_size, double max_side = 200.0);

}  // namespace ihc::gui
