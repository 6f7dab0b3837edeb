#include "models/regions.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>

#include "support/test_support.hpp"

namespace ihc {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const RegionError& e) {
    return e.what();
  }
  return "(no RegionError)";
}

Ring square(double x0, double y0, double size) {
  return {{x0, y0}, {x0 + size, y0}, {x0 + size, y0 + size}, {x0, y0 + size}};
}

TEST(PointInPolygon, InsideOutsideAndHoles) {
  Polygon p{square(0, 0, 100), {square(40, 40, 20)}};
  EXPECT_TRUE(point_in_polygon({10, 10}, p));
  EXPECT_TRUE(point_in_polygon({99.9, 50}, p));
  EXPECT_FALSE(point_in_polygon({100.1, 50}, p));
  EXPECT_FALSE(point_in_polygon({-1, 50}, p));
  EXPECT_FALSE(point_in_polygon({50, 50}, p)) << "inside the hole";
  EXPECT_TRUE(point_in_polygon({39, 50}, p));
  // A concave L shape: the notch is outside.
  Polygon l{{{0, 0}, {100, 0}, {100, 40}, {40, 40}, {40, 100}, {0, 100}}, {}};
  EXPECT_TRUE(point_in_polygon({20, 80}, l));
  EXPECT_TRUE(point_in_polygon({80, 20}, l));
  EXPECT_FALSE(point_in_polygon({80, 80}, l));
}

TEST(PointInPolygon, PointOnASharedEdgeBelongsToExactlyOnePolygon) {
  const Ring left = square(0, 0, 10);
  const Ring right = square(10, 0, 10);
  for (double y : {0.5, 3.0, 9.5}) {
    const cv::Point2d p(10, y);
    EXPECT_NE(point_in_ring(p, left), point_in_ring(p, right)) << y;
  }
  const Ring top = square(0, 0, 10);
  const Ring bottom = square(0, 10, 10);
  const cv::Point2d q(5, 10);
  EXPECT_NE(point_in_ring(q, top), point_in_ring(q, bottom));
}

TEST(PointInPolygon, ClosingPointAndOrientationDoNotMatter) {
  Ring closed = square(0, 0, 10);
  closed.push_back(closed.front());
  Ring reversed(closed.rbegin(), closed.rend());
  EXPECT_TRUE(point_in_ring({5, 5}, closed));
  EXPECT_TRUE(point_in_ring({5, 5}, reversed));
  EXPECT_FALSE(point_in_ring({15, 5}, reversed));
}

TEST(Region, UnionOfIncludesMinusExcludes) {
  Region r;
  r.name = "tumour";
  r.include = {Polygon{square(0, 0, 100), {}}, Polygon{square(200, 0, 50), {}}};
  r.exclude = {Polygon{square(80, 0, 140), {}}};  // cuts the right of the first and the left of the second
  EXPECT_TRUE(point_in_region({10, 10}, r));
  EXPECT_FALSE(point_in_region({90, 10}, r));
  EXPECT_FALSE(point_in_region({210, 10}, r));
  EXPECT_TRUE(point_in_region({240, 10}, r));
  EXPECT_FALSE(point_in_region({150, 10}, r)) << "between the includes: excluded and not included";
  EXPECT_FALSE(point_in_region({10, 150}, r));

  Region all = Region::everything();
  EXPECT_EQ(all.name, "Whole slide");
  EXPECT_TRUE(point_in_region({1e6, -5}, all));
  all.exclude = {Polygon{square(0, 0, 10), {}}};
  EXPECT_FALSE(point_in_region({5, 5}, all));
  EXPECT_TRUE(point_in_region({15, 5}, all));

  Region none;  // no polygons and not the whole slide: nothing, never everything
  EXPECT_FALSE(point_in_region({5, 5}, none));
}

TEST(Region, CellsBelongByCentroid) {
  CellTable t;
  t.cells.resize(4);
  t.cells[0].centroid = {5, 5};
  t.cells[1].centroid = {50, 50};
  t.cells[2].centroid = {15, 5};
  t.cells[3].centroid = {9.99, 9.99};
  // The boundary of cell 2 overlaps the polygon, but its centroid is outside.
  t.cells[2].boundary = {{8, 0}, {22, 0}, {22, 10}, {8, 10}};
  Region r;
  r.include = {Polygon{square(0, 0, 10), {}}};
  EXPECT_EQ(cells_in_region(t, r), (std::vector<std::uint8_t>{1, 0, 0, 1}));
  EXPECT_EQ(cells_in_region(t, Region::everything()), (std::vector<std::uint8_t>{1, 1, 1, 1}));
  EXPECT_TRUE(cells_in_region(CellTable{}, r).empty());
}

TEST(Region, PolygonAreaSubtractsHoles) {
  EXPECT_DOUBLE_EQ(polygon_area_px2(Polygon{square(0, 0, 10), {}}), 100.0);
  EXPECT_DOUBLE_EQ(polygon_area_px2(Polygon{square(0, 0, 10), {square(2, 2, 3)}}), 91.0);
  Ring tri{{0, 0}, {4, 0}, {0, 3}};
  EXPECT_DOUBLE_EQ(polygon_area_px2(Polygon{tri, {}}), 6.0);
}

// Region areas come from the coverage of the tissue grid: summed, it is the region's own area (a mask with
// the boundary cells in gave a 100 px square on a 32 px grid 64 % more).
TEST(Region, CoverageSumsToTheAreaOfTheRegionOnACoarseGrid) {
  const double s = 1.0 / 32;  // 16 um tissue grid at 0.5 um/px
  const cv::Size grid(40, 40);
  auto covered_px2 = [&](const Region& r) { return cv::sum(region_coverage(r, grid, s, s))[0] / (s * s); };
  Region sq{"sq", false, {Polygon{square(10, 10, 100), {}}}, {}};
  EXPECT_NEAR(covered_px2(sq), 100.0 * 100.0, 1e-6);
  for (double size : {200.0, 400.0}) {
    sq.include = {Polygon{square(17, 45, size), {}}};
    EXPECT_NEAR(covered_px2(sq) / (size * size), 1.0, 1e-9) << size;
  }
  // A hole, an exclusion overlapping it, a second included polygon overlapping the first (union).
  Region r{"r",
           false,
           {Polygon{square(0, 0, 640), {square(64, 64, 320)}}, Polygon{square(600, 600, 200), {}}},
           {Polygon{square(0, 0, 320), {}}}};
  const double expected = 640.0 * 640 - 320.0 * 320 + 200.0 * 200 - 40.0 * 40  // union of includes, hole out
                          - (320.0 * 320 - 256.0 * 256);  // exclusion, less the part that is the hole
  EXPECT_NEAR(covered_px2(r) / expected, 1.0, 1e-9);
  // The whole slide minus an exclusion; cells are never covered more than once.
  Region w = Region::everything();
  w.exclude = {Polygon{square(320, 320, 320), {}}};
  const cv::Mat cov = region_coverage(w, grid, s, s);
  EXPECT_NEAR(cv::sum(cov)[0], 40.0 * 40 - 10.0 * 10, 1e-3);
  double lo = 0, hi = 0;
  cv::minMaxLoc(cov, &lo, &hi);
  EXPECT_GE(lo, 0.0);
  EXPECT_LE(hi, 1.0 + 1e-6);
  // Coordinates far outside the grid cover it without overflowing.
  Region far{
      "far", false, {Polygon{{{-1e300, -1e300}, {1e300, -1e300}, {1e300, 1e300}, {-1e300, 1e300}}, {}}}, {}};
  EXPECT_NEAR(cv::sum(region_coverage(far, grid, s, s))[0], 40.0 * 40, 1e-3);
}

// A grid row that is not a whole number of pixels (a 16 um grid at 0.25 um/px is 64.6 px when the slide's
// size does not divide): lines at even cuts alone gave a 40 px square 0.99 % too much and a 150 px one
// 0.31 %. Lines between vertices make every polygon's area exact, slanted edges and holes included.
TEST(Region, CoverageIsTheExactAreaWhateverTheGridRowHeight) {
  for (const double s : {1.0 / 64.6, 1.0 / 3.7, 1.0 / 32}) {
    const cv::Size grid(static_cast<int>(std::ceil(1300 * s)), static_cast<int>(std::ceil(1300 * s)));
    auto covered_px2 = [&](const Region& r) { return cv::sum(region_coverage(r, grid, s, s))[0] / (s * s); };
    for (const double size : {40.0, 150.0, 1000.0}) {
      for (const double at : {0.0, 13.0, 101.5}) {
        const Region sq{"sq", false, {Polygon{square(at, at + 7, size), {}}}, {}};
        EXPECT_NEAR(covered_px2(sq) / (size * size), 1.0, 1e-6) << size << " at " << at << ", 1/s " << 1 / s;
      }
    }
    const Ring diamond{{600, 100}, {1100, 600}, {600, 1100}, {100, 600}};
    const Ring tri{{450, 400}, {700, 470}, {520, 800}};
    const Region r{
        "r", false, {Polygon{diamond, {tri}}}, {Polygon{square(800, 550, 90), {}}}};  // clear of the hole
    const double expected =
        polygon_area_px2(Polygon{diamond, {}}) - polygon_area_px2(Polygon{tri, {}}) - 90.0 * 90;
    EXPECT_NEAR(covered_px2(r) / expected, 1.0, 1e-6) << "1/s " << 1 / s;
  }
}

TEST(Region, OutsideTheImageWhenNoPolygonReachesIt) {
  Region r;
  r.include = {Polygon{square(5000, 5000, 1000), {}}};
  EXPECT_TRUE(region_outside_image(r, 1000, 1000));
  EXPECT_EQ(region_bounds(r), cv::Rect2d(5000, 5000, 1000, 1000));
  // One polygon of two on the image: the region scores that one.
  r.include.push_back(Polygon{square(900, 900, 200), {}});
  EXPECT_FALSE(region_outside_image(r, 1000, 1000));
  EXPECT_EQ(region_bounds(r), cv::Rect2d(900, 900, 5100, 5100));
  // Edges: the image is [0, 1000) x [0, 1000).
  EXPECT_TRUE(region_outside_image(Region{"", false, {Polygon{square(1000, 0, 10), {}}}, {}}, 1000, 1000));
  EXPECT_TRUE(region_outside_image(Region{"", false, {Polygon{square(-10, 0, 10), {}}}, {}}, 1000, 1000));
  EXPECT_FALSE(region_outside_image(Region{"", false, {Polygon{square(-10, 0, 11), {}}}, {}}, 1000, 1000));
  EXPECT_TRUE(region_outside_image(Region{"", false, {Polygon{square(0, -50, 10), {}}}, {}}, 1000, 1000));
  // Microns on a 0.25 um/px slide: a region drawn at (100, 100) um lies inside, not outside; only coordinates
  // beyond the image are caught.
  EXPECT_FALSE(region_outside_image(Region{"", false, {Polygon{square(100, 100, 50), {}}}, {}}, 1000, 1000));
  // The whole slide (minus exclusions) is never outside.
  EXPECT_FALSE(region_outside_image(Region::everything(), 10, 10));
  EXPECT_EQ(region_bounds(Region::everything()), cv::Rect2d());
}

// The shape of QuPath 0.3/0.4 "Export objects as GeoJSON" with "Pretty JSON" and a FeatureCollection.
const char* kQuPathExport = R"({
  "type": "FeatureCollection",
  "features": [
    {"type": "Feature", "id": "b1f0", "geometry": {"type": "Polygon",
      "coordinates": [[[0, 0], [100, 0], [100, 100], [0, 100], [0, 0]],
                      [[40, 40], [60, 40], [60, 60], [40, 60], [40, 40]]]},
     "properties": {"objectType": "annotation", "name": "Hotspot 1",
                    "classification": {"name": "Tumor", "color": [200, 0, 0]}}},
    {"type": "Feature", "geometry": {"type": "MultiPolygon",
      "coordinates": [[[[200, 0], [300, 0], [300, 100], [200, 0]]],
                      [[[400, 0], [500, 0], [500, 100], [400, 100]]]]},
     "properties": {"objectType": "annotation", "classification": {"name": "Stroma", "colorRGB": -3670016}}},
    {"type": "Feature",
     "geometry": {"type": "Polygon", "coordinates": [[[90, 0], [95, 0], [95, 10], [90, 10]]]},
     "properties": {"objectType": "annotation", "classification": {"name": "Ignore*"}}},
    {"type": "Feature", "geometry": {"type": "Point", "coordinates": [5, 5]},
     "properties": {"objectType": "annotation"}},
    {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2]]]},
     "properties": {"objectType": "cell"}},
    {"type": "Feature",
     "geometry": {"type": "Polygon", "coordinates": [[[0, 90], [10, 90], [10, 95], [0, 95]]]},
     "properties": {"objectType": "annotation", "classification": {"name": "exclude"}}},
    {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[600, 0], [610, 0], [610, 10]]]}}
  ]
})";

TEST(GeoJson, ReadsQuPathAnnotationsWithClassesHolesAndExclusions) {
  const AnnotationSet set = parse_geojson_annotations(kQuPathExport, "slide.geojson");
  ASSERT_EQ(set.annotations.size(), 5u);
  const Annotation& hot = set.annotations[0];
  EXPECT_EQ(hot.name, "Hotspot 1");
  EXPECT_EQ(hot.classification, "Tumor");
  EXPECT_FALSE(hot.exclude);
  ASSERT_EQ(hot.polygons.size(), 1u);
  EXPECT_EQ(hot.polygons[0].outer.size(), 4u) << "the repeated closing point is dropped";
  ASSERT_EQ(hot.polygons[0].holes.size(), 1u);
  EXPECT_EQ(hot.polygons[0].holes[0][0], cv::Point2d(40, 40));

  const Annotation& stroma = set.annotations[1];
  EXPECT_EQ(stroma.name, "Stroma") << "no name: the classification names it";
  EXPECT_EQ(stroma.polygons.size(), 2u);
  EXPECT_EQ(stroma.polygons[0].outer.size(), 3u);

  EXPECT_TRUE(set.annotations[2].exclude);
  EXPECT_EQ(set.annotations[2].classification, "Ignore*");
  EXPECT_TRUE(set.annotations[3].exclude) << "'Exclude' in any case";
  EXPECT_FALSE(set.annotations[4].exclude);
  EXPECT_EQ(set.annotations[4].name, "Annotation 6");

  ASSERT_EQ(set.warnings.size(), 2u);
  EXPECT_EQ(set.warnings[0], "slide.geojson: feature 3: skipped (Point has no area)");
  EXPECT_EQ(set.warnings[1], "slide.geojson: feature 4: skipped (cell, not an annotation)");
}

TEST(GeoJson, AnnotationsBecomeRegionsMinusExclusions) {
  const auto annotations = parse_geojson_annotations(kQuPathExport, "slide.geojson").annotations;
  const std::vector<Region> regions = regions_from_annotations(annotations);
  ASSERT_EQ(regions.size(), 3u);
  EXPECT_EQ(regions[0].name, "Hotspot 1");
  EXPECT_EQ(regions[0].exclude.size(), 2u);
  EXPECT_TRUE(point_in_region({10, 10}, regions[0]));
  EXPECT_FALSE(point_in_region({50, 50}, regions[0])) << "hole";
  EXPECT_FALSE(point_in_region({92, 5}, regions[0])) << "Ignore* annotation";
  EXPECT_FALSE(point_in_region({5, 92}, regions[0])) << "Exclude annotation";
  EXPECT_TRUE(point_in_region({450, 50}, regions[1]));
  EXPECT_FALSE(point_in_region({450, 50}, regions[0]));

  const Region all = union_region_from_annotations(annotations, "All annotations");
  EXPECT_EQ(all.name, "All annotations");
  EXPECT_FALSE(all.whole_slide);
  EXPECT_TRUE(point_in_region({10, 10}, all));
  EXPECT_TRUE(point_in_region({450, 50}, all));
  EXPECT_FALSE(point_in_region({150, 50}, all));
  EXPECT_FALSE(point_in_region({92, 5}, all));

  // Only exclusions: the whole slide minus them.
  std::vector<Annotation> only_excluded{annotations[2]};
  const auto rest = regions_from_annotations(only_excluded);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_TRUE(rest[0].whole_slide);
  EXPECT_EQ(rest[0].name, "Whole slide");
  EXPECT_TRUE(point_in_region({5000, 5000}, rest[0]));
  EXPECT_FALSE(point_in_region({92, 5}, rest[0]));
  EXPECT_TRUE(union_region_from_annotations(only_excluded, "x").whole_slide);
}

TEST(GeoJson, AcceptsAListOfFeaturesOrOneFeature) {
  const char* list = R"([{"type": "Feature", "geometry": {"type": "Polygon",
      "coordinates": [[[0, 0], [10, 0], [10, 10]]]}, "properties": {"classification": "Tumor"}}])";
  const AnnotationSet a = parse_geojson_annotations(list, "list.json");
  ASSERT_EQ(a.annotations.size(), 1u);
  EXPECT_EQ(a.annotations[0].classification, "Tumor");
  const char* one = R"({"type": "Feature", "geometry": {"type": "GeometryCollection", "geometries": [
      {"type": "Polygon", "coordinates": [[[0, 0], [10, 0], [10, 10]]]},
      {"type": "LineString", "coordinates": [[0, 0], [5, 5]]}]}})";
  const AnnotationSet b = parse_geojson_annotations(one, "one.json");
  ASSERT_EQ(b.annotations.size(), 1u);
  EXPECT_EQ(b.annotations[0].polygons.size(), 1u);
  EXPECT_EQ(b.annotations[0].name, "Annotation 0");
}

// QuPath's usual export: several unnamed annotations of one class. Their rows must differ in Region for R,
// SPSS and `cohort --region`; exclusions are not regions and keep their names.
TEST(GeoJson, AnnotationsOfOneNameBecomeRegionsOfDistinctNames) {
  auto feature = [](const std::string& props) {
    return R"({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [10, 0], [10, 10]]]},
        "properties": {"objectType": "annotation", )" +
           props + "}}";
  };
  const std::string text = "[" + feature(R"("classification": {"name": "Tumor"})") + "," +
                           feature(R"("classification": {"name": "Tumor"})") + "," +
                           feature(R"("name": "Tumor #2")") + "," +
                           feature(R"("classification": {"name": "Tumor"})") + "," +
                           feature(R"("classification": {"name": "Ignore*"})") + "," +
                           feature(R"("classification": {"name": "Ignore*"})") + "]";
  const AnnotationSet set = parse_geojson_annotations(text, "rois.geojson");
  std::vector<std::string> names;
  for (const auto& a : set.annotations) names.push_back(a.name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"Tumor", "Tumor #2'", "Tumor #2", "Tumor #3", "Ignore*", "Ignore*"}));
  EXPECT_EQ(set.warnings,
            (std::vector<std::string>{"rois.geojson: 3 annotations are named 'Tumor': regions 'Tumor', "
                                      "'Tumor #2' ... (name them in QuPath to tell them apart)"}));
}

TEST(GeoJson, ErrorsNameTheFileAndTheFeature) {
  EXPECT_EQ(error_of([] { parse_geojson_annotations("{\"type\": ", "a.geojson"); }),
            "a.geojson: not valid JSON at line 1, column 10: syntax error while parsing value - "
            "unexpected end of input; expected '[', '{', or a literal");
  EXPECT_EQ(error_of([] { parse_geojson_annotations("{\"type\": \"Polygon\"}", "a.geojson"); }),
            "a.geojson: expected a GeoJSON FeatureCollection, a Feature or a list of Features");
  EXPECT_EQ(error_of([] { parse_geojson_annotations("{\"type\": \"FeatureCollection\"}", "a.geojson"); }),
            "a.geojson: FeatureCollection has no 'features' array");
  EXPECT_EQ(error_of([] { parse_geojson_annotations("[1]", "a.geojson"); }),
            "a.geojson: feature 0: not a GeoJSON Feature");
  const std::string ok =
      R"({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0,0],[1,0],[1,1]]]}})";
  auto with = [&](const std::string& geometry) {
    return "[" + ok + ", {\"type\": \"Feature\", \"geometry\": " + geometry + "}]";
  };
  EXPECT_EQ(error_of([&] {
              parse_geojson_annotations(with(R"({"type": "Polygon", "coordinates": [[[0,0],[1,0],[0,0]]]})"),
                                        "b.geojson");
            }),
            "b.geojson: feature 1: polygon ring 0 has 2 distinct positions; a ring needs at least 3");
  EXPECT_EQ(error_of([&] {
              parse_geojson_annotations(
                  with(R"({"type": "Polygon", "coordinates": [[[0,0],[1,"x"],[1,1]]]})"), "b.geojson");
            }),
            "b.geojson: feature 1: polygon ring 0 position 1 is not [x, y]");
  EXPECT_EQ(error_of([&] {
              parse_geojson_annotations(with(
                                            R"({"type": "MultiPolygon",
                    "coordinates": [[[[0,0],[1,0],[1,1]]], [[[0,0],[1,0],[1,1]], 7]]})"),
                                        "b.geojson");
            }),
            "b.geojson: feature 1: polygon 1 ring 1 must be an array of [x, y] positions");
  EXPECT_EQ(error_of([&] {
              parse_geojson_annotations(with(R"({"type": "Polygon", "coordinates": 7})"), "b.geojson");
            }),
            "b.geojson: feature 1: polygon must be a non-empty array of rings");
  EXPECT_EQ(error_of([&] { parse_geojson_annotations(with(R"({"type": "Polygon"})"), "b.geojson"); }),
            "b.geojson: feature 1: Polygon has no coordinates");
  EXPECT_EQ(error_of([&] {
              parse_geojson_annotations(with(R"({"type": "Ellipse", "coordinates": []})"), "b.geojson");
            }),
            "b.geojson: feature 1: geometry type 'Ellipse' is not supported (Polygon or MultiPolygon)");
  EXPECT_EQ(error_of([&] { parse_geojson_annotations(with(R"({"coordinates": []})"), "b.geojson"); }),
            "b.geojson: feature 1: geometry has no type");
  const AnnotationSet no_geometry = parse_geojson_annotations(with("null"), "b.geojson");
  EXPECT_EQ(no_geometry.annotations.size(), 1u);
  ASSERT_EQ(no_geometry.warnings.size(), 1u);
  EXPECT_EQ(no_geometry.warnings[0], "b.geojson: feature 1: skipped (no geometry)");
}

// QuPath 0.3 wrote properties.object_type and QuPath takes properties.type as an alias: a 0.3 export of cells
// given as --roi became one region per cell. An export of every object printed a warning per skipped cell.
TEST(GeoJson, ObjectTypesOfEveryVersionAndOneWarningPerKindOfSkippedFeature) {
  std::string text = R"({"type": "FeatureCollection", "features": [
    {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [100, 0], [100, 100], [0, 0]]]},
     "properties": {"object_type": "annotation", "classification": {"names": ["Tumor", "Hotspot"]},
                    "measurements": [{"name": "Area", "value": NaN}, {"name": "Max", "value": -Infinity}]}})";
  for (int i = 0; i < 3; ++i) {
    text +=
        R"(, {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2]]]},
     "properties": {"object_type": "cell", "measurements": [{"name": "Nucleus: Area", "value": Infinity}]}})";
  }
  text += R"(, {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2]]]},
     "properties": {"type": "detection"}})";
  text += R"(, {"type": "Feature", "geometry": {"type": "Point", "coordinates": [5, 5]}})";
  text += R"(, {"type": "Feature", "geometry": {"type": "Point", "coordinates": [6, 6]}}]})";
  const AnnotationSet set = parse_geojson_annotations(text, "all.geojson");
  ASSERT_EQ(set.annotations.size(), 1u);
  EXPECT_EQ(set.annotations[0].classification, "Tumor: Hotspot");
  EXPECT_EQ(set.annotations[0].name, "Tumor: Hotspot");
  EXPECT_EQ(set.warnings,
            (std::vector<std::string>{"all.geojson: 3 cells skipped (not annotations)",
                                      "all.geojson: feature 4: skipped (detection, not an annotation)",
                                      "all.geojson: 2 Points skipped (no area)"}));
  // A broken file with a NaN in it is named at the column of the file as written.
  EXPECT_EQ(error_of([] { parse_geojson_annotations(R"({"a": NaN, "b": })", "n.geojson"); }),
            "n.geojson: not valid JSON at line 1, column 17: syntax error while parsing value - "
            "unexpected '}'; expected '[', '{', or a literal");
}

// Crafted or broken files are errors that name the file, never a crash (a stack overflow on deep nesting)
// nor nlohmann's bare message.
TEST(GeoJson, DeepNestingHugeNumbersAndMistypedKeysAreErrorsNamingTheFile) {
  const std::string deep = R"({"type":"Feature","geometry":{"type":"Polygon","coordinates":)" +
                           std::string(100000, '[') + std::string(100000, ']') + "}}";
  EXPECT_EQ(error_of([&] { parse_geojson_annotations(deep, "deep.geojson"); }),
            "deep.geojson: JSON nested deeper than 256 levels (byte 315)");
  EXPECT_EQ(
      error_of([] {
        parse_geojson_annotations(
            R"({"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0,0],[1e400,0],[1,1]]]}})",
            "big.geojson");
      }),
      "big.geojson: not valid JSON: number overflow parsing '1e400'");
  EXPECT_EQ(error_of([] {
              parse_geojson_annotations(R"({"type":"FeatureCollection","features":[{"type":["Feature"]}]})",
                                        "t.geojson");
            }),
            "t.geojson: feature 0: not a GeoJSON Feature");
  EXPECT_EQ(error_of([] { parse_geojson_annotations(R"({"type": 7})", "n.geojson"); }),
            "n.geojson: expected a GeoJSON FeatureCollection, a Feature or a list of Features");
}

// A bow tie (or a loop drawn over itself) is scored by the even-odd rule, so its overlap counts as outside:
// said in a warning. Simple polygons, with holes or not, say nothing.
TEST(GeoJson, APolygonThatCrossesItselfIsNamedInAWarning) {
  const std::string text = R"({"type": "FeatureCollection", "features": [
    {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [10, 10], [10, 0], [0, 10]]]},
     "properties": {"name": "Bow tie"}},
    {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [30, 0], [30, 30], [0, 30]],
                                                                      [[10, 10], [20, 10], [20, 20], [10, 20]]]},
     "properties": {"name": "Ring"}},
    {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [4, 0], [4, 4], [2, 0], [0, 4]]]},
     "properties": {"name": "Touch"}}]})";
  const AnnotationSet set = parse_geojson_annotations(text, "x.geojson");
  ASSERT_EQ(set.annotations.size(), 3u);
  const std::string tail =
      "') crosses itself: where it overlaps itself counts as outside (even-odd rule); redraw it in QuPath";
  EXPECT_EQ(set.warnings, (std::vector<std::string>{"x.geojson: feature 0 ('Bow tie" + tail,
                                                    "x.geojson: feature 2 ('Touch" + tail}));
}

// A TMA dearrayed in QuPath exports its cores (objectType "tmaCore", 0.3's "tma_core"): each core is a region
// named as in QuPath's grid, and a core marked missing is left out with a warning.
TEST(GeoJson, TmaCoresAreRegionsUnlessMarkedMissing) {
  const std::string square =
      R"({"type": "Polygon", "coordinates": [[[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]]})";
  const std::string text = R"([{"type": "Feature", "geometry": )" + square +
                           R"(, "properties": {"objectType": "tmaCore", "name": "A-1", "isMissing": false}},
          {"type": "Feature", "geometry": )" +
                           square +
                           R"(, "properties": {"object_type": "tma_core", "name": "A-2", "isMissing": true}},
          {"type": "Feature", "geometry": )" +
                           square + R"(, "properties": {"objectType": "tmaCore"}}])";
  const AnnotationSet set = parse_geojson_annotations(text, "tma.geojson");
  ASSERT_EQ(set.annotations.size(), 2u);
  EXPECT_EQ(set.annotations[0].name, "A-1");
  EXPECT_EQ(set.annotations[1].name, "Core 2");
  EXPECT_EQ(set.warnings,
            (std::vector<std::string>{"tma.geojson: feature 1: skipped (TMA core marked missing)"}));
  EXPECT_EQ(regions_from_annotations(set.annotations).size(), 2u);
}

// QuPath writes an emptied ROI as "coordinates": [[]]: skipped like a shape without area, not a failed run.
TEST(GeoJson, EmptyGeometriesAreSkippedWithAWarning) {
  const std::string text = R"({"type": "FeatureCollection", "features": [
    {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [10, 0], [10, 10]]]},
     "properties": {"name": "Tumor"}},
    {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[]]}, "properties": {}},
    {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": []}, "properties": {}},
    {"type": "Feature", "geometry": {"type": "MultiPolygon", "coordinates": [[[]]]}, "properties": {}}]})";
  const AnnotationSet set = parse_geojson_annotations(text, "e.geojson");
  ASSERT_EQ(set.annotations.size(), 1u);
  EXPECT_EQ(set.warnings,
            (std::vector<std::string>{"e.geojson: 2 empty Polygons skipped (no area)",
                                      "e.geojson: feature 3: skipped (empty MultiPolygon has no area)"}));
  // A ring with positions, but too few, is still an error.
  EXPECT_EQ(
      error_of([] {
        parse_geojson_annotations(
            R"({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}})",
            "two.geojson");
      }),
      "two.geojson: feature 0: polygon ring 0 has 2 distinct positions; a ring needs at least 3");
}

TEST(GeoJson, LoadsFilesAndNamesMissingOnes) {
  const auto dir = test::temp_dir("regions_geojson");
  const std::string path = (dir / "annotations.geojson").string();
  {
    std::ofstream out(path);
    out << kQuPathExport;
  }
  EXPECT_EQ(load_geojson_annotations(path).annotations.size(), 5u);
  const std::string missing = (dir / "missing.geojson").string();
  EXPECT_EQ(error_of([&] { load_geojson_annotations(missing); }),
            "cannot open GeoJSON file '" + missing + "': No such file or directory");
  EXPECT_EQ(error_of([&] { load_geojson_annotations(dir.string()); }),
            "cannot read GeoJSON file '" + dir.string() + "': it is a directory");
  {
    std::ofstream out(path);
    out << "[{\"type\": \"Feature\"}, 3]";
  }
  EXPECT_EQ(error_of([&] { load_geojson_annotations(path); }), path + ": feature 1: not a GeoJSON Feature");
}

}  // namespace
}  // namespace ihc
