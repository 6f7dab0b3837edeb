#pragma once
// Regions to score: the whole slide, or polygons (with holes) minus exclusion polygons, in level-0 pixels.
// A cell belongs to a region when its centroid is inside. QuPath GeoJSON annotations become regions.
#include <cstdint>
#include <opencv2/core.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "models/cells.hpp"

namespace ihc {

class RegionError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using Ring = std::vector<cv::Point2d>;  // closed implicitly; a repeated first point at the end is allowed

struct Polygon {
  Ring outer;
  std::vector<Ring> holes;
};

struct Region {
  std::string name;
  bool whole_slide = false;      // true: every point is included (before exclusions)
  std::vector<Polygon> include;  // union; ignored when whole_slide
  std::vector<Polygon> exclude;  // subtracted from the union

  static Region everything(std::string name = "Whole slide");
};

// Even-odd rule with half-open edges, so a point on an edge shared by two polygons falls in exactly one.
bool point_in_ring(const cv::Point2d& p, const Ring& ring);
bool point_in_polygon(const cv::Point2d& p, const Polygon& polygon);  // inside outer, outside every hole
bool point_in_region(const cv::Point2d& p, const Region& region);
// 1 for each cell whose centroid is in the region, else 0 (same order as table.cells).
std::vector<std::uint8_t> cells_in_region(const CellTable& table, const Region& region);

// Area enclosed by a polygon (outer minus holes), shoelace formula, in level-0 px^2.
double polygon_area_px2(const Polygon& polygon);

// How much of each cell of a grid the region covers, 0-1 (CV_32F, `size`; grid px = level-0 px * sx, sy):
// exact along x; along y sampled by `sub_rows` even lines per grid row (0: one per level-0 row, 4-64) plus a
// line between every two vertices, so a row's total is exact for polygons whose edges do not cross; even-odd
// within a polygon, included polygons as a union minus every exclusion. The area of a region within a mask is
// the coverage summed over the mask; a mask drawn with its boundary cells in (cv::fillPoly) overstates it by
// half a cell all round, which on a 16 um tissue grid is 25-65 % for regions of 50-200 um.
cv::Mat region_coverage(const Region& region, cv::Size size, double sx, double sy, int sub_rows = 0);

// Bounding box of the included polygons' outer rings; empty (0 x 0 at the origin) for the whole slide or no
// polygon.
cv::Rect2d region_bounds(const Region& region);
// True when the region has polygons and none of them reaches into the image [0, width) x [0, height): an ROI
// drawn on another slide, or in other coordinates (microns, a downsampled export), scores nothing.
bool region_outside_image(const Region& region, double width, double height);

// One QuPath annotation, or TMA core not marked missing, read from GeoJSON.
struct Annotation {
  std::string name;  // properties.name, else the classification, else "Annotation <index>" ("Core <index>")
  std::string
      classification;    // properties.classification as QuPath reads it ("Tumor: Positive"), may be empty
  bool exclude = false;  // classification "Ignore*" or "Exclude" (case-insensitive)
  std::vector<Polygon> polygons;
};

struct AnnotationSet {
  std::vector<Annotation> annotations;
  // Skipped features (points, lines, cells and detections), one warning per kind: "f.geojson: feature 3:
  // skipped (Point has no area)" for one, "f.geojson: 50000 cells skipped (not annotations)" for many.
  std::vector<std::string> warnings;
};

// Accepts a FeatureCollection, a list of Features or one Feature; Polygon and MultiPolygon geometries (empty
// ones, QuPath's emptied ROIs, are skipped with a warning). Object
// types and classes are read as QuPath reads them (models/qupath_io: objectType, 0.3's object_type or type;
// the NaN and Infinity of QuPath <= 0.4). Errors (RegionError) name `origin` and the feature index:
// "tumour.geojson: feature 2: ...".
AnnotationSet parse_geojson_annotations(const std::string& text, const std::string& origin);
// The file read and parsed; `text`, when given, receives its content (what a run's parameter hash covers).
AnnotationSet load_geojson_annotations(const std::string& path, std::string* text = nullptr);

// One region per included annotation, each minus every exclusion annotation. With no included annotation,
// the whole slide minus the exclusions (named "Whole slide").
std::vector<Region> regions_from_annotations(const std::vector<Annotation>& annotations);
// All included annotations as one region (their union) minus the exclusions; whole slide when none included.
Region union_region_from_annotations(const std::vector<Annotation>& annotations, const std::string& name);

}  // namespace ihc
