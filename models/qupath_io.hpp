#pragma once
// QuPath's exports read as QuPath reads them (qupath-core PathObjectTypeAdapters, GsonTools): the JSON text
// of every version, object types, classes, and the cells of a GeoJSON or of a measurement table. Shared by
// --roi (regions), --truth (truth_io), evaluate --detections and the results readers.
#include <cstddef>
#include <filesystem>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "models/cells.hpp"
#include "models/results_io.hpp"

namespace ihc {

// ---- JSON text

// QuPath <= 0.4 writes NaN and infinite numbers bare (Gson's serializeSpecialFloatingPointValues, qupath
// issue #1293; 0.5 writes the string "NaN"), which JSON readers refuse. special_numbers_as_null replaces each
// NaN, Infinity and -Infinity outside strings with null, in place, and returns where the text changed length;
// none (text untouched) when it has no such token.
struct JsonEdit {
  std::size_t end;       // offset just after the null in the edited text
  std::ptrdiff_t delta;  // the null's length minus the token's
};
std::vector<JsonEdit> special_numbers_as_null(std::string& text);
// The offset in the original text of `byte`, an offset (a parser's error position) in the edited text.
std::size_t original_json_byte(const std::vector<JsonEdit>& edits, std::size_t byte);
// Parses JSON as QuPath writes it, special numbers read as null. False on invalid JSON, with *problem saying
// why and where in `text`: "invalid JSON at byte 17", "JSON nested deeper than 256 levels (byte 300)".
bool parse_qupath_json(std::string_view text, nlohmann::json* out, std::string* problem);
// object[key] when it is a string, else "" (nlohmann's value() throws on a key of another type).
std::string string_member(const nlohmann::json& object, const char* key);

// The features of a GeoJSON document as QuPath exports them: a FeatureCollection's "features", a list of
// Features, or one bare Feature (copied into `single`, made a list of it). nullptr for anything else, a
// FeatureCollection without a "features" array included.
const nlohmann::json* geojson_features(const nlohmann::json& doc, nlohmann::json& single);

// ---- objects and classes

// A GeoJSON feature's QuPath object type: properties.objectType, else object_type (0.2-0.3), else type (an
// alias QuPath accepts), else the 0.2 id ("PathCellObject"). One of "annotation", "cell", "detection",
// "tile", "tmaCore", "root"; `untyped` when none is given; another name is an annotation, as QuPath makes it.
std::string qupath_object_type(const nlohmann::json& feature, const std::string& untyped = "annotation");
// "1 cell", "3 annotations".
std::string count_of(std::size_t n, const std::string& singular);
// "3 annotations, 1 tile" (types in name order).
std::string objects_text(const std::map<std::string, std::size_t>& by_type);

// The full name of a classification as QuPath reads it (GsonTools.PathClassTypeAdapter): a string
// ("Tumor: Positive"), {"name": ...}, 0.4's derived {"names": ["Tumor", "Positive"]} or, before 0.4,
// {"name": "Positive", "parentClass": {"name": "Tumor"}}; parts joined by ": ", "" when unclassified (null,
// absent, {}).
std::string qupath_class_name(const nlohmann::json& classification);
// The last part of a class name ("Tumor: 2+" -> "2+"), blanks trimmed.
std::string qupath_class_last_part(std::string_view class_name);
// QuPath's intensity class of a class name, as its detection counts take it: the last part when it is
// Positive, Negative, 1+, 2+ or 3+ (case as QuPath writes them); false for other classes and unclassified.
bool qupath_intensity_class(std::string_view class_name, CellClass* out);

// ---- cells

enum class CellFileRules {
  // As ihcscore writes cells.geojson: a FeatureCollection or a list of features; a class other than an
  // intensity class is an error, none is Negative.
  Ihcscore,
  // As QuPath exports objects: one bare Feature too; classes kept by name for the caller to judge; a file
  // with features but no cell or detection is an error naming what it held.
  QuPath,
};

// Cells and detections (a detection's geometry is its nucleus, as positive cell detection with no cell
// expansion makes them); features without an object type count as cells. Centroids are the outline's.
struct QuPathCells {
  CellResults cells;  // classes[i]: class_names[i]'s intensity class, Negative when it has none
  std::vector<std::string> class_names;       // each cell's class as written, "" unclassified
  std::map<std::string, std::size_t> others;  // objects that are not cells or detections, by type
};
// Throw ResultsError naming the file and the feature.
QuPathCells parse_geojson_cells(std::string_view text, const std::string& origin, CellFileRules rules);
QuPathCells read_geojson_cells(const std::filesystem::path& path, CellFileRules rules);

// A measurement table QuPath exports (Measure > Export measurements; the table's Save): "Image" first, tab or
// comma delimited, with "Centroid X px" or, on calibrated images, "Centroid X µm" (or "um") columns.
bool is_qupath_measurement_table(std::string_view header_line);
// Its rows as cells, classes from "Classification" (0.4+) or "Class", other objects (an "Object type" that is
// not Cell or Detection) counted apart; numeric columns other than the centroids are the measurements.
// Centroids in µm become pixels through mpp_x, mpp_y (um per pixel); without them, an error saying to give
// --mpp. Throws ResultsError naming the file and line.
QuPathCells parse_qupath_measurement_table(const std::string& text, const std::string& origin, double mpp_x,
                                           double mpp_y);
QuPathCells read_qupath_measurement_table(const std::filesystem::path& path, double mpp_x, double mpp_y);

}  // namespace ihc
