#include "models/qupath_io.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "support/test_support.hpp"

namespace ihc {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ResultsError& e) {
    return e.what();
  }
  return "(no ResultsError)";
}

// QuPath <= 0.4 (Gson's serializeSpecialFloatingPointValues) writes NaN bare; JSON readers refused the file.
TEST(QuPathJson, SpecialNumbersOutsideStringsBecomeNull) {
  std::string text = R"({"a": NaN, "b": [Infinity, -Infinity], "c": "NaN Infinity \" NaN", "d": -1})";
  const auto edits = special_numbers_as_null(text);
  EXPECT_EQ(text, R"({"a": null, "b": [null, null], "c": "NaN Infinity \" NaN", "d": -1})");
  ASSERT_EQ(edits.size(), 3u);
  // "null" after "[" ends at 20 in the edited text; "Infinity" was 4 bytes longer.
  EXPECT_EQ(original_json_byte(edits, 20), 19u);
  std::string plain = R"({"a": 1, "s": "NaN"})";
  EXPECT_TRUE(special_numbers_as_null(plain).empty());
  EXPECT_EQ(plain, R"({"a": 1, "s": "NaN"})");

  json doc;
  std::string problem;
  ASSERT_TRUE(parse_qupath_json(R"({"m": {"x": NaN, "y": -Infinity}})", &doc, &problem));
  EXPECT_TRUE(doc["m"]["x"].is_null());
  // An error after a special number is placed in the file as written, not in the edited text.
  EXPECT_FALSE(parse_qupath_json(R"({"m": Infinity, "n": })", &doc, &problem));
  EXPECT_EQ(problem,
            "not valid JSON at line 1, column 22: syntax error while parsing value - unexpected '}'; "
            "expected '[', '{', or a literal");
  EXPECT_FALSE(parse_qupath_json(R"({"n": })", &doc, &problem));
  EXPECT_EQ(problem,
            "not valid JSON at line 1, column 7: syntax error while parsing value - unexpected '}'; "
            "expected '[', '{', or a literal");
  EXPECT_FALSE(parse_qupath_json(R"({"m": NaN, "n": 1e400})", &doc, &problem));
  EXPECT_EQ(problem, "not valid JSON: number overflow parsing '1e400'");
}

TEST(QuPathObjects, TypeFromEveryVersionsKey) {
  auto feature = [](const std::string& props) {
    return json::parse(R"({"type": "Feature", "properties": )" + props + "}");
  };
  EXPECT_EQ(qupath_object_type(feature(R"({"objectType": "detection"})")), "detection");
  EXPECT_EQ(qupath_object_type(feature(R"({"object_type": "cell"})")), "cell");  // 0.2-0.3
  EXPECT_EQ(qupath_object_type(feature(R"({"type": "tile"})")), "tile");         // an alias QuPath accepts
  EXPECT_EQ(qupath_object_type(feature(R"({"objectType": "cell", "type": "annotation"})")), "cell");
  EXPECT_EQ(qupath_object_type(feature(R"({"object_type": "tma_core"})")), "tmaCore");
  EXPECT_EQ(qupath_object_type(json::parse(R"({"type": "Feature", "id": "PathCellObject"})")), "cell");
  EXPECT_EQ(qupath_object_type(feature("{}")), "annotation");
  EXPECT_EQ(qupath_object_type(feature("{}"), "cell"), "cell");
  // QuPath makes an annotation of a type it does not know.
  EXPECT_EQ(qupath_object_type(feature(R"({"type": "Tumour region"})"), "cell"), "annotation");
  EXPECT_EQ(objects_text({{"annotation", 3}, {"tile", 1}}), "3 annotations, 1 tile");
}

TEST(QuPathObjects, ClassNamesOfEveryVersionAndTheirIntensityPart) {
  EXPECT_EQ(qupath_class_name(json("Tumor: Positive")), "Tumor: Positive");
  EXPECT_EQ(qupath_class_name(json::parse(R"({"name": "2+", "color": [255, 187, 62]})")), "2+");
  EXPECT_EQ(qupath_class_name(json::parse(R"({"names": ["Tumor", "Positive"], "color": [200, 50, 50]})")),
            "Tumor: Positive");
  EXPECT_EQ(
      qupath_class_name(json::parse(
          R"({"name": "1+", "colorRGB": -256, "parentClass": {"name": "Tumor", "colorRGB": -3670016}})")),
      "Tumor: 1+");
  EXPECT_EQ(qupath_class_name(json()), "");
  EXPECT_EQ(qupath_class_name(json::object()), "");
  CellClass c{};
  ASSERT_TRUE(qupath_intensity_class("Tumor: Positive", &c));
  EXPECT_EQ(c, CellClass::Positive);
  ASSERT_TRUE(qupath_intensity_class("Tumor:3+", &c));
  EXPECT_EQ(c, CellClass::ThreePlus);
  ASSERT_TRUE(qupath_intensity_class("Negative", &c));
  EXPECT_EQ(c, CellClass::Negative);
  EXPECT_FALSE(qupath_intensity_class("Tumor", &c));
  EXPECT_FALSE(qupath_intensity_class("Positive: Tumor", &c));
  EXPECT_FALSE(qupath_intensity_class("positive", &c)) << "case as QuPath writes it";
  EXPECT_FALSE(qupath_intensity_class("", &c));
}

// Positive cell detection with cellExpansionMicrons 0 makes detections whose geometry is the nucleus; they
// were read as 0 cells.
constexpr const char* kDetections = R"({"type": "FeatureCollection", "features": [
  {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0,0],[100,0],[100,100],[0,100],[0,0]]]},
   "properties": {"objectType": "annotation", "classification": {"name": "Tumor"}}},
  {"type": "Feature", "id": "6f1c0a52-3a38-4bb4-9b53-3c7c3f43b2c1",
   "geometry": {"type": "Polygon", "coordinates": [[[10,10],[14,10],[14,14],[10,14],[10,10]]]},
   "properties": {"objectType": "detection", "classification": {"names": ["Tumor", "Positive"], "color": [200, 50, 50]},
                  "measurements": {"Nucleus: DAB OD mean": 0.41, "Nucleus: Circularity": NaN}}},
  {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[20,20],[22,20],[22,22],[20,22],[20,20]]]},
   "properties": {"object_type": "detection", "classification": {"name": "Stroma"}}},
  {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[30,30],[32,30],[32,32],[30,32],[30,30]]]},
   "properties": {"type": "detection"}}
]})";

TEST(QuPathCellsGeoJson, DetectionsWithClassesAsWrittenAndOtherObjectsCounted) {
  const QuPathCells read = parse_geojson_cells(kDetections, "d.geojson", CellFileRules::QuPath);
  ASSERT_EQ(read.cells.table.size(), 3u);
  EXPECT_EQ(read.class_names, (std::vector<std::string>{"Tumor: Positive", "Stroma", ""}));
  EXPECT_EQ(read.cells.classes[0], CellClass::Positive);
  EXPECT_NEAR(read.cells.table.cells[0].centroid.x, 12.0, 1e-9);
  EXPECT_NEAR(read.cells.table.cells[0].centroid.y, 12.0, 1e-9);
  EXPECT_FLOAT_EQ(read.cells.table.value(0, read.cells.table.column("Nucleus: DAB OD mean")), 0.41f);
  EXPECT_TRUE(std::isnan(read.cells.table.value(0, read.cells.table.column("Nucleus: Circularity"))));
  EXPECT_EQ(read.others, (std::map<std::string, std::size_t>{{"annotation", 1}}));

  // ihcscore's rules (the viewer's cells.geojson): detections are cells too, another class is refused.
  EXPECT_EQ(error_of([] { parse_geojson_cells(kDetections, "d.geojson", CellFileRules::Ihcscore); }),
            "d.geojson: feature 2: unknown classification 'Stroma'");
}

TEST(QuPathCellsGeoJson, OneBareFeatureAndAFileWithoutCellsOrDetections) {
  const char* one = R"({"type": "Feature", "properties": {"objectType": "cell", "classification": "Negative"},
    "geometry": {"type": "Polygon", "coordinates": [[[0,0],[4,0],[4,4],[0,4],[0,0]]]},
    "nucleusGeometry": {"type": "Polygon", "coordinates": [[[1,1],[2,1],[2,2],[1,2],[1,1]]]}})";
  const QuPathCells read = parse_geojson_cells(one, "one.geojson", CellFileRules::QuPath);
  ASSERT_EQ(read.cells.table.size(), 1u);
  EXPECT_EQ(read.cells.table.cells[0].nucleus.size(), 4u);
  EXPECT_EQ(read.class_names[0], "Negative");
  EXPECT_EQ(error_of([&] { parse_geojson_cells(one, "one.geojson", CellFileRules::Ihcscore); }),
            "one.geojson: not a GeoJSON FeatureCollection");

  const char* annotations = R"([
    {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0,0],[4,0],[4,4],[0,0]]]},
     "properties": {"objectType": "annotation"}},
    {"type": "Feature", "geometry": {"type": "MultiPoint", "coordinates": [[1,1],[2,2]]},
     "properties": {"objectType": "annotation"}},
    {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0,0],[4,0],[4,4],[0,0]]]},
     "properties": {"objectType": "tile"}}])";
  EXPECT_EQ(error_of([&] { parse_geojson_cells(annotations, "a.geojson", CellFileRules::QuPath); }),
            "a.geojson: 2 annotations, 1 tile, no cells or detections");
  EXPECT_EQ(parse_geojson_cells("[]", "e.geojson", CellFileRules::QuPath).cells.table.size(), 0u);
  EXPECT_EQ(
      error_of([] { parse_geojson_cells(R"({"type": "Polygon"})", "p.geojson", CellFileRules::QuPath); }),
      "p.geojson: not a GeoJSON FeatureCollection, Feature or list of Features");
}

TEST(QuPathCellsGeoJson, FilesWithNaNAreStreamedAgainWithNull) {
  const fs::path dir = test::temp_dir("qupath_io_nan");
  std::ofstream(dir / "d.geojson") << kDetections;
  const QuPathCells read = read_geojson_cells(dir / "d.geojson", CellFileRules::QuPath);
  EXPECT_EQ(read.cells.table.size(), 3u);
  // A broken file with a NaN is named at the column of the file as written.
  std::ofstream(dir / "b.geojson")
      << R"({"type": "FeatureCollection", "features": [{"properties": {"m": NaN, }}]})";
  EXPECT_EQ(error_of([&] { read_geojson_cells(dir / "b.geojson", CellFileRules::QuPath); }),
            (dir / "b.geojson").string() +
                ": not valid JSON at line 1, column 70: syntax "
                "error while parsing object key - unexpected '}'; expected string literal");
}

// QuPath's measurement tables: 0.3 ("Class", um on a calibrated image) and 0.4+ ("Object ID", "Object type",
// "Classification"), tab-delimited as QuPath saves them.
TEST(QuPathMeasurementTable, CentroidsInPixelsOrMicronsAndClassesOfEitherName) {
  EXPECT_TRUE(is_qupath_measurement_table(
      "Image\tName\tClass\tParent\tROI\tCentroid X \xC2\xB5m\tCentroid Y \xC2\xB5m"));
  EXPECT_TRUE(is_qupath_measurement_table("\xEF\xBB\xBF\"Image\",\"Object ID\",\"Centroid X px\""));
  EXPECT_FALSE(is_qupath_measurement_table("Object ID,Classification,Centroid X px,Centroid Y px"));
  EXPECT_FALSE(is_qupath_measurement_table("Image\tName\tNum cells"));

  const std::string v03 =
      "Image\tName\tClass\tParent\tROI\tCentroid X \xC2\xB5m\tCentroid Y \xC2\xB5m\tNucleus: DAB OD mean\n"
      "f.png\tPathCellObject\tPositive\tAnnotation\tPolygon\t5.0\t2.5\t0.61\n"
      "f.png\tPathCellObject\tTumor: 2+\tAnnotation\tPolygon\t10.0\t5.0\tNaN\n"
      "f.png\tPathCellObject\t\tAnnotation\tPolygon\t1.0\t1.0\t0.1\n";
  const QuPathCells a = parse_qupath_measurement_table(v03, "m.tsv", 0.5, 0.25);
  ASSERT_EQ(a.cells.table.size(), 3u);
  EXPECT_EQ(a.cells.table.cells[0].centroid, cv::Point2d(10, 10));
  EXPECT_EQ(a.cells.table.cells[1].centroid, cv::Point2d(20, 20));
  EXPECT_EQ(a.class_names, (std::vector<std::string>{"Positive", "Tumor: 2+", ""}));
  EXPECT_EQ(a.cells.classes[1], CellClass::TwoPlus);
  EXPECT_EQ(a.cells.table.names, (std::vector<std::string>{"Nucleus: DAB OD mean"}));
  EXPECT_TRUE(std::isnan(a.cells.table.value(1, 0)));
  EXPECT_EQ(
      error_of([&] { parse_qupath_measurement_table(v03, "m.tsv", std::nan(""), std::nan("")); }),
      "m.tsv: centroids are in \xC2\xB5m ('Centroid X \xC2\xB5m') and the image's pixel size is unknown; "
      "give --mpp");

  const std::string v05 =
      "Image,Object ID,Object type,Name,Classification,Parent,ROI,Centroid X px,Centroid Y px\n"
      "f.png,6f1c0a52-3a38-4bb4-9b53-3c7c3f43b2c1,Detection,,Negative,Root object (Image),Polygon,7,8\n"
      "f.png,7f1c0a52-3a38-4bb4-9b53-3c7c3f43b2c1,Annotation,,Tumor,Root object (Image),Polygon,50,50\n";
  const QuPathCells b = parse_qupath_measurement_table(v05, "m.csv", std::nan(""), std::nan(""));
  ASSERT_EQ(b.cells.table.size(), 1u);
  EXPECT_EQ(b.cells.table.cells[0].centroid, cv::Point2d(7, 8));
  EXPECT_EQ(b.others, (std::map<std::string, std::size_t>{{"annotation", 1}}));
  EXPECT_EQ(
      error_of([] { parse_qupath_measurement_table("Image\tName\tCentroid X\n", "n.tsv", 1, 1); }),
      "n.tsv: no 'Centroid X px' and 'Centroid Y px' (or 'Centroid X \xC2\xB5m' and 'Centroid Y \xC2\xB5m') "
      "columns (columns: Image, Name, Centroid X)");
  EXPECT_EQ(error_of([] {
              parse_qupath_measurement_table(
                  "Image\tObject type\tCentroid X px\tCentroid Y px\nf\tAnnotation\t1\t2\n", "o.tsv", 1, 1);
            }),
            "o.tsv: 1 annotation, no cells or detections");
  EXPECT_EQ(error_of([] {
              parse_qupath_measurement_table("Image\tCentroid X px\tCentroid Y px\nf\tx\t2\n", "x.tsv", 1, 1);
            }),
            "x.tsv:2: 'Centroid X px', 'Centroid Y px' are not numbers: 'x', '2'");
}

// A fuzzer's inputs: a class nested 200 000 deep overflowed the stack, and features of measurement names of
// their own took 15.6 GB for a 5.6 MB file. Both are refused with the file named.
TEST(GeoJsonCells, DeepNestingAndEndlessMeasurementNamesAreRefused) {
  std::string cls = "\"Positive\"";
  for (int i = 0; i < 300; ++i) cls = "{\"name\":\"a\",\"parentClass\":" + cls + "}";
  const std::string deep = R"({"type":"FeatureCollection","features":[{"type":"Feature","geometry":)"
                           R"({"type":"Point","coordinates":[1,2]},"properties":{"objectType":"detection",)"
                           R"("classification":)" +
                           cls + "}}]}";
  EXPECT_EQ(error_of([&] { parse_geojson_cells(deep, "deep.geojson", CellFileRules::QuPath); }),
            "deep.geojson: JSON nested deeper than 256 levels");
  std::string many = R"({"type":"FeatureCollection","features":[)";
  for (int i = 0; i < 1001; ++i) {
    many += std::string(i ? "," : "") +
            R"({"type":"Feature","geometry":{"type":"Point","coordinates":[1,2]},"properties":)"
            R"({"objectType":"detection","measurements":{"m)" +
            std::to_string(i) + R"(":1}}})";
  }
  many += "]}";
  EXPECT_EQ(error_of([&] { parse_geojson_cells(many, "many.geojson", CellFileRules::QuPath); }),
            "many.geojson: feature 1000: more than 1000 different measurement names in the file: not a table "
            "of cells");
}

}  // namespace
}  // namespace ihc
