#pragma once
// Cells grown from nuclei so borders follow brown lines, their compartments (nucleus, cytoplasm, membrane,
// cell) and per-compartment optical density statistics, with QuPath's measurement names. Sizes in pixels of
// the analysis image; cell_detection.cpp converts microns once.
#include <array>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "imaging/cell_growth.hpp"

namespace ihc {

// Measurement layout of MeasuredCell::values; names depend on whether areas are in um^2 or px^2.
constexpr int kMeasurementCount = 3 + 4 * 2 * 3;
std::vector<std::string> cell_measurement_names(bool calibrated);

// Outlines are simple polygons (no point repeated, never running over themselves) along the pixels' edges
// (trace_pixel_edges), smoothed when asked with the pixels' area kept, simplified to 0.4 px, clockwise on
// screen. An object in several 8-connected pieces is outlined by one: the nucleus by its largest piece, the
// cell by the piece holding that one (the centroid and the measurements are still of all its pixels). Nucleus
// outline points outside the cell outline (where the two run together) are moved onto it, unless that would
// make the nucleus outline run over itself. No cell outline when the cell kept no pixel.
struct MeasuredCell {
  cv::Point2d centroid;               // nucleus centroid, analysis pixels of the tile
  std::vector<cv::Point2f> boundary;  // cell polygon, analysis pixels of the tile
  std::vector<cv::Point2f> nucleus;
  std::array<float, kMeasurementCount> values{};
  // The nucleus outline tiled detection compares at tile seams (SeamCells): through the border pixels'
  // centres, smoothed and simplified, as `nucleus` was before outlines went along pixel edges, so that tiled
  // detection keeps the same cells. Only for cells near the edge of `keep` (within three nucleus sizes and
  // 8 px); empty for the others, which are far from every seam with either outline.
  std::vector<cv::Point2f> seam_nucleus;
};

// Outer border of the 8-connected region of `label` in `labels` (CV_32S) whose first pixel in raster order is
// `first`, traced on the label image itself: the same points in the same order as cv::findContours
// (RETR_EXTERNAL, CHAIN_APPROX_NONE) gives for that region alone, without copying it into a mask.
std::vector<cv::Point> trace_outer_border(const cv::Mat& labels, int label, cv::Point first);

// Outer border of the same region along pixel edges, the outline measure_cells exports (before smoothing):
// pixel (x, y) covers [x - 0.5, x + 0.5] x [y - 0.5, y + 0.5], so the polygon's area is the region's pixel
// count (holes filled). One point per unit edge, clockwise on screen, from the first pixel's top-left corner.
// Where the region goes on diagonally through a pixel corner, each of the border's passes there is moved a
// quarter pixel away from the corner (into the background pixel on its side): the ring never touches itself,
// and covers about 0.25 px^2 more per such pass.
std::vector<cv::Point2f> trace_pixel_edges(const cv::Mat& labels, int label, cv::Point first);

// Whether a closed polygon (last point not repeated) is simple, as a valid polygon's ring must be: at least
// 3 points, no two consecutive points equal, non-zero area, and no two edges meeting except consecutive ones
// at their shared point (which must not fold back along each other); edges that do not meet must also lie
// at least `clearance` apart. Exact for coordinates that are multiples of 1/64 below 2^15.
bool is_simple_polygon(const std::vector<cv::Point2f>& poly, double clearance = 0.0);

// cv::approxPolyDP(src, out, epsilon, closed = true) for float points: the same points as OpenCV 4.6's
// Douglas-Peucker and straight-line clean-up, its farthest-point scans several points at a time (in exact
// integers for outlines in sixteenths of a pixel spanning less than 128 px, as smoothed cell outlines are).
std::vector<cv::Point2f> approx_closed_polygon(const std::vector<cv::Point2f>& src, double epsilon);

// Grows cells and measures those whose nucleus centroid lies on `keep`'s pixels (pixel i covers
// [i - 0.5, i + 0.5): a tile's core; empty = all).
// `hematoxylin` and `dab` are CV_32F stain concentrations (OD). Cells come out in label order. `origin` is
// added to every coordinate returned (the planes are a crop at `origin` of a larger image): centroids and
// outlines come out with the same bits as measuring the larger image.
std::vector<MeasuredCell> measure_cells(const cv::Mat& nucleus_labels, int count, const cv::Mat& hematoxylin,
                                        const cv::Mat& dab, const CellParamsPx& params,
                                        const cv::Rect& keep = cv::Rect(), cv::Point origin = {});

// measure_cells on cells already grown: `grown` is grow_cells(nucleus_labels, dab, params) (the same result,
// without growing them again; lets a benchmark time the measurements alone).
std::vector<MeasuredCell> measure_grown_cells(const cv::Mat& nucleus_labels, int count,
                                              const cv::Mat& hematoxylin, const cv::Mat& dab,
                                              const CellGrowth& grown, const CellParamsPx& params,
                                              const cv::Rect& keep = cv::Rect());

}  // namespace ihc
