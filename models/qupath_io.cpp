#include "models/qupath_io.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "models/atomic_file.hpp"
#include "models/csv_table.hpp"
#include "models/text.hpp"

namespace ihc {

namespace fs = std::filesystem;
using nlohmann::json;

// ---------------------------------------------------------------- JSON text

std::vector<JsonEdit> special_numbers_as_null(std::string& text) {
  static constexpr std::string_view kTokens[] = {"NaN", "Infinity", "-Infinity"};
  std::vector<JsonEdit> edits;
  std::string out;
  std::size_t copied = 0;  // text before this offset is in `out` (once an edit was made)
  JsonStringSkipper skipper;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (!skipper.outside_string(text, i)) continue;
    const char c = text[i];
    if (c != 'N' && c != 'I' && c != '-') continue;
    for (const std::string_view token : kTokens) {
      if (text.compare(i, token.size(), token) != 0) continue;
      out.append(text, copied, i - copied);
      out += "null";
      copied = i + token.size();
      edits.push_back({out.size(), 4 - static_cast<std::ptrdiff_t>(token.size())});
      i = copied - 1;
      break;
    }
  }
  if (edits.empty()) return edits;
  out.append(text, copied, std::string::npos);
  text = std::move(out);
  return edits;
}

std::size_t original_json_byte(const std::vector<JsonEdit>& edits, std::size_t byte) {
  std::ptrdiff_t shift = 0;
  for (const auto& e : edits) {
    if (e.end > byte) break;
    shift += e.delta;
  }
  return static_cast<std::size_t>(static_cast<std::ptrdiff_t>(byte) - shift);
}

namespace {

// The parser's message for the edited text with the column of the file as written ("parse error at line 4,
// column 12: ..."): the nulls before the error on its line moved it.
std::string error_in_original(const std::string& message, const std::string& edited, std::size_t position,
                              const std::vector<JsonEdit>& edits) {
  const std::size_t newline = position == 0 ? std::string::npos : edited.rfind('\n', position - 1);
  const std::size_t line_start = newline == std::string::npos ? 0 : newline + 1;
  std::ptrdiff_t shift = 0;
  for (const auto& e : edits) shift += e.end > line_start && e.end <= position ? e.delta : 0;
  const std::string tag = ", column ";
  const std::size_t at = message.find(tag);
  if (shift == 0 || at == std::string::npos) return message;
  const std::size_t digits = at + tag.size();
  const std::size_t end = message.find_first_not_of("0123456789", digits);
  if (end == digits || end == std::string::npos) return message;
  const long column = std::stol(message.substr(digits, end - digits)) - static_cast<long>(shift);
  return message.substr(0, digits) + std::to_string(column) + message.substr(end);
}

}  // namespace

bool parse_qupath_json(std::string_view text, json* out, std::string* problem) {
  if (std::string deep = json_depth_problem(text); !deep.empty()) {
    *problem = std::move(deep);
    return false;
  }
  try {
    *out = json::parse(text);
    return true;
  } catch (const json::parse_error& e) {
    *problem = json_error_text(e.what());
  } catch (const json::exception& e) {  // a number beyond a double: 1e400
    *problem = json_error_text(e.what());
    return false;
  }
  // Most files have no special number: they are parsed once, as they are.
  std::string edited(text);
  const auto edits = special_numbers_as_null(edited);
  if (edits.empty()) return false;
  try {
    *out = json::parse(edited);
    return true;
  } catch (const json::parse_error& e) {
    *problem = json_error_text(error_in_original(e.what(), edited, e.byte, edits));
  } catch (const json::exception& e) {
    *problem = json_error_text(e.what());
  }
  return false;
}

std::string string_member(const json& object, const char* key) {
  if (!object.is_object()) return {};
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

const json* geojson_features(const json& doc, json& single) {
  if (doc.is_array()) return &doc;
  if (!doc.is_object()) return nullptr;
  const std::string type = string_member(doc, "type");
  if (type == "FeatureCollection") {
    const auto features = doc.find("features");
    return features != doc.end() && features->is_array() ? &*features : nullptr;
  }
  if (type != "Feature") return nullptr;
  single = json::array();
  single.push_back(doc);
  return &single;
}

// ---------------------------------------------------------------- objects and classes

std::string qupath_object_type(const json& feature, const std::string& untyped) {
  std::string type;
  bool typed = false;  // a type key is there, whatever its value
  if (feature.is_object()) {
    const auto id = feature.find("id");
    if (id != feature.end() && id->is_string()) type = id->get<std::string>();  // 0.2: "PathCellObject"
    const auto props = feature.find("properties");
    if (props != feature.end() && props->is_object()) {
      for (const char* key : {"objectType", "object_type", "type"}) {
        const auto t = props->find(key);
        if (t == props->end()) continue;
        typed = true;
        if (t->is_string()) {
          type = t->get<std::string>();
          break;
        }
      }
    }
  }
  static const std::map<std::string, std::string> kTypes = {{"PathTileObject", "tile"},
                                                            {"tile", "tile"},
                                                            {"PathCellObject", "cell"},
                                                            {"cell", "cell"},
                                                            {"TMACoreObject", "tmaCore"},
                                                            {"tmaCore", "tmaCore"},
                                                            {"tma_core", "tmaCore"},
                                                            {"PathDetectionObject", "detection"},
                                                            {"detection", "detection"},
                                                            {"PathRootObject", "root"},
                                                            {"root", "root"},
                                                            {"PathAnnotationObject", "annotation"},
                                                            {"annotation", "annotation"}};
  const auto known = kTypes.find(type);
  if (known != kTypes.end()) return known->second;
  // A UUID id (0.4+) is no type; QuPath makes an annotation of an unknown type name.
  return typed ? "annotation" : untyped;
}

std::string count_of(std::size_t n, const std::string& singular) {
  return std::to_string(n) + " " + singular + (n == 1 ? "" : "s");
}

std::string objects_text(const std::map<std::string, std::size_t>& by_type) {
  std::vector<std::string> items;
  items.reserve(by_type.size());
  for (const auto& [type, n] : by_type) items.push_back(count_of(n, type));
  return join(items, ", ");
}

std::string qupath_class_name(const json& c) {
  if (c.is_string()) return c.get<std::string>();
  if (!c.is_object()) return "";
  const auto names = c.find("names");
  if (names != c.end() && names->is_array()) {
    std::vector<std::string> parts;
    for (const auto& n : *names) {
      if (n.is_string()) parts.push_back(n.get<std::string>());
    }
    return join(parts, ": ");
  }
  const auto name = c.find("name");
  if (name == c.end() || !name->is_string()) return "";
  const auto parent = c.find("parentClass");
  const std::string above = parent != c.end() ? qupath_class_name(*parent) : "";
  return above.empty() ? name->get<std::string>() : above + ": " + name->get<std::string>();
}

std::string qupath_class_last_part(std::string_view class_name) {
  const std::size_t colon = class_name.rfind(':');
  return trim_blanks(colon == std::string_view::npos ? class_name : class_name.substr(colon + 1));
}

bool qupath_intensity_class(std::string_view class_name, CellClass* out) {
  return parse_class_name(qupath_class_last_part(class_name), out);
}

// ---------------------------------------------------------------- cells of a GeoJSON

namespace {

std::vector<cv::Point2f> read_polygon(const json& geometry, const std::string& where) {
  std::vector<cv::Point2f> pts;
  if (!geometry.is_object()) throw ResultsError(where + ": geometry is not an object");
  const std::string type = string_member(geometry, "type");
  if (type == "Point") return pts;
  if (type != "Polygon") throw ResultsError(where + ": geometry type '" + type + "' is not Polygon or Point");
  const auto& rings = geometry.at("coordinates");
  if (!rings.is_array() || rings.empty() || !rings[0].is_array()) {
    throw ResultsError(where + ": Polygon without coordinates");
  }
  for (const auto& p : rings[0]) {
    if (!p.is_array() || p.size() < 2 || !p[0].is_number() || !p[1].is_number()) {
      throw ResultsError(where + ": coordinate is not [x, y]");
    }
    pts.emplace_back(p[0].get<float>(), p[1].get<float>());
  }
  if (pts.size() > 1 && pts.front() == pts.back()) pts.pop_back();
  return pts;
}

constexpr std::size_t kMaxCellMeasurements = 1000;

// One feature into `out` when it is a cell or a detection; `index` counts every feature (for messages and
// default ids).
void add_cell_feature(const json& f, std::size_t index, const std::string& origin, CellFileRules rules,
                      QuPathCells& out) {
  const std::string where = origin + ": feature " + std::to_string(index);
  CellResults& res = out.cells;
  try {
    if (!f.is_object() || !f.contains("geometry"))
      throw ResultsError(where + ": not a Feature with a geometry");
    static const json kNoProperties = json::object();
    const auto props_it = f.find("properties");
    const json& props = props_it != f.end() && props_it->is_object() ? *props_it : kNoProperties;
    // Positive cell detection with no cell expansion makes detections, not cells: the same nuclei.
    const std::string type = qupath_object_type(f, "cell");
    if (type != "cell" && type != "detection") {
      ++out.others[type];
      return;
    }
    Cell cell;
    std::int64_t id = static_cast<std::int64_t>(index);
    if (f.contains("id") && f["id"].is_string())
      cell_id_from_uuid(f["id"].get_ref<const std::string&>(), &id);
    cell.id = id;
    cell.boundary = read_polygon(f["geometry"], where);
    if (f.contains("nucleusGeometry")) cell.nucleus = read_polygon(f["nucleusGeometry"], where);
    const auto& ref = cell.boundary.size() >= 3 ? cell.boundary : cell.nucleus;
    if (ref.size() >= 3) {
      cv::Moments m = cv::moments(ref);
      if (m.m00 != 0) {
        cell.centroid = {m.m10 / m.m00, m.m01 / m.m00};
      } else {
        cell.centroid = {ref[0].x, ref[0].y};
      }
    } else {
      const auto& coords = f["geometry"].at("coordinates");
      cell.centroid = {coords.at(0).get<double>(), coords.at(1).get<double>()};
    }
    const std::string name =
        props.contains("classification") ? qupath_class_name(props["classification"]) : "";
    CellClass cls = CellClass::Negative;
    if (!name.empty() && !qupath_intensity_class(name, &cls)) {
      if (rules == CellFileRules::Ihcscore)
        throw ResultsError(where + ": unknown classification '" + name + "'");
      cls = CellClass::Negative;
    }
    const std::size_t row = res.table.size();
    res.table.cells.push_back(std::move(cell));
    res.classes.push_back(cls);
    if (rules == CellFileRules::QuPath) out.class_names.push_back(name);
    for (auto& col : res.table.columns) col.push_back(std::numeric_limits<float>::quiet_NaN());
    if (props.contains("measurements")) {
      const auto& ms = props["measurements"];
      auto put = [&](const std::string& m, const json& v) {
        // Every name is a column of one value per cell: 40 000 features of names of their own took 15.6 GB
        // (a fuzzer's file of 5.6 MB). QuPath's cells carry tens of measurements.
        if (res.table.columns.size() >= kMaxCellMeasurements && res.table.column(m) < 0) {
          throw ResultsError(where + ": more than " + std::to_string(kMaxCellMeasurements) +
                             " different measurement names in the file: not a table of cells");
        }
        const int j = res.table.add_column(m);
        res.table.columns[j][row] = v.is_number() ? v.get<float>() : std::numeric_limits<float>::quiet_NaN();
      };
      if (ms.is_object()) {
        for (auto it = ms.begin(); it != ms.end(); ++it) put(it.key(), it.value());
      } else if (ms.is_array()) {  // QuPath 0.2/0.3: [{"name": ..., "value": ...}]
        for (const auto& m : ms) put(string_member(m, "name"), m.contains("value") ? m["value"] : json());
      }
    }
  } catch (const json::exception& e) {
    throw ResultsError(where + ": " + json_value_error_text(e.what()));
  }
}

// SAX reader: builds one feature at a time and converts it at once, so a 200 000-cell file never exists as
// one DOM (which took ~6x the file size in memory). Accepts a FeatureCollection (keys in any order) or a
// bare array of features, as QuPath writes both, and with CellFileRules::QuPath one bare Feature (QuPath's
// export of one object), whose members are kept as they come.
class CellsSax {
 public:
  CellsSax(const std::string& origin, CellFileRules rules, QuPathCells& out)
      : origin_(origin), rules_(rules), out_(out) {}

  bool null() { return put(json()); }
  bool boolean(bool v) { return put(json(v)); }
  bool number_integer(json::number_integer_t v) { return put(json(v)); }
  bool number_unsigned(json::number_unsigned_t v) { return put(json(v)); }
  bool number_float(json::number_float_t v, const std::string&) { return put(json(v)); }
  bool binary(json::binary_t&) { return put(json()); }
  bool string(std::string& v) {
    if (stack_.empty() && depth_ == 1 && !root_is_array_ && key_ == "type") root_type_ = v;
    return put(json(std::move(v)));
  }
  bool key(std::string& k) {
    key_ = std::move(k);
    return true;
  }
  bool start_object(std::size_t) { return open(json::object()); }
  bool start_array(std::size_t) {
    if (stack_.empty()) {
      if (depth_ == 0) {
        root_is_array_ = true;
        in_features_ = true;
        ++depth_;
        return true;
      }
      if (depth_ == 1 && !root_is_array_ && key_ == "features") {
        has_features_ = true;
        in_features_ = true;
        ++depth_;
        return true;
      }
    }
    return open(json::array());
  }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool parse_error(std::size_t position, const std::string&, const json::exception& e) {
    error_ = e.what();
    error_position_ = position;
    return false;
  }

  const std::string& error() const { return error_; }
  std::size_t error_position() const { return error_position_; }

  // After a successful parse: the document must have been features.
  void finish() {
    if (rules_ == CellFileRules::QuPath && !root_is_array_ && !has_features_ && root_type_ == "Feature") {
      add_cell_feature(root_, index_++, origin_, rules_, out_);
    } else if (!root_is_array_ && !(has_features_ && root_type_ == "FeatureCollection")) {
      throw ResultsError(origin_ + (rules_ == CellFileRules::QuPath
                                        ? ": not a GeoJSON FeatureCollection, Feature or list of Features"
                                        : ": not a GeoJSON FeatureCollection"));
    }
    // Annotations alone gave 0 cells and every annotated cell counted as missed.
    if (rules_ == CellFileRules::QuPath && out_.cells.table.size() == 0 && index_ > 0) {
      throw ResultsError(origin_ + ": " + objects_text(out_.others) + ", no cells or detections");
    }
  }

 private:
  // Values outside a feature are skipped except what identifies the document (and a bare Feature's members).
  bool at_feature_level() const { return stack_.empty() && in_features_ && depth_ == 2 - root_is_array_; }
  bool at_root_member() const {
    return rules_ == CellFileRules::QuPath && stack_.empty() && !root_is_array_ && !in_features_ &&
           depth_ == 1;
  }

  bool put(json v) {
    if (stack_.empty()) {
      if (at_feature_level()) {
        add_cell_feature(v, index_++, origin_, rules_, out_);  // a non-object feature: error
      } else if (at_root_member()) {
        root_[key_] = std::move(v);
      }
      return true;
    }
    json& top = *stack_.back();
    if (top.is_object()) {
      top[key_] = std::move(v);
    } else {
      top.push_back(std::move(v));
    }
    return true;
  }
  bool open(json empty) {
    // As the DOM readers (json_depth_problem): a class nested 200 000 deep overflowed the stack in
    // qupath_class_name (a fuzzer's crash of evaluate --detections).
    if (static_cast<std::size_t>(depth_) + stack_.size() >= kMaxJsonDepth) {
      throw ResultsError(origin_ + ": JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    }
    if (stack_.empty()) {
      if (at_feature_level()) {
        feature_ = std::move(empty);
        stack_.push_back(&feature_);
        return true;
      }
      if (at_root_member()) {
        building_root_member_ = true;
        stack_.push_back(&(root_[key_] = std::move(empty)));
        return true;
      }
      ++depth_;  // a container outside the features: walked through, not kept
      return true;
    }
    json& top = *stack_.back();
    json* child = nullptr;
    if (top.is_object()) {
      child = &(top[key_] = std::move(empty));
    } else {
      top.push_back(std::move(empty));
      child = &top.back();
    }
    stack_.push_back(child);
    return true;
  }
  bool close() {
    if (stack_.empty()) {
      if (in_features_ && depth_ == 2 - root_is_array_) in_features_ = false;
      --depth_;
      return true;
    }
    stack_.pop_back();
    if (stack_.empty()) {
      if (building_root_member_) {
        building_root_member_ = false;
      } else {
        add_cell_feature(feature_, index_++, origin_, rules_, out_);
        feature_ = json();
      }
    }
    return true;
  }

  std::string origin_;  // a copy: callers pass temporaries
  CellFileRules rules_;
  QuPathCells& out_;
  std::vector<json*> stack_;  // the feature (or root member) being built, innermost container last
  json feature_;
  json root_ = json::object();  // the root object's members other than the features (QuPath rules)
  std::string key_;
  std::string root_type_;
  std::string error_;
  std::size_t error_position_ = 0;
  int depth_ = 0;  // nesting outside the current feature
  bool root_is_array_ = false;
  bool has_features_ = false;
  bool in_features_ = false;
  bool building_root_member_ = false;
  std::size_t index_ = 0;
};

// Parses `text` with special numbers as null when it has any; `first_error` is the error of the parse of the
// text as it was.
QuPathCells parse_edited(std::string text, const std::string& origin, CellFileRules rules,
                         const std::string& first_error) {
  const auto edits = special_numbers_as_null(text);
  if (edits.empty()) throw ResultsError(origin + ": " + json_error_text(first_error));
  QuPathCells out;
  CellsSax sax(origin, rules, out);
  if (!json::sax_parse(text.begin(), text.end(), &sax)) {
    throw ResultsError(origin + ": " +
                       json_error_text(error_in_original(sax.error(), text, sax.error_position(), edits)));
  }
  sax.finish();
  return out;
}

}  // namespace

QuPathCells parse_geojson_cells(std::string_view text, const std::string& origin, CellFileRules rules) {
  QuPathCells out;
  CellsSax sax(origin, rules, out);
  if (!json::sax_parse(text.begin(), text.end(), &sax))
    return parse_edited(std::string(text), origin, rules, sax.error());
  sax.finish();
  return out;
}

QuPathCells read_geojson_cells(const fs::path& path, CellFileRules rules) {
  QuPathCells out;
  std::string error;
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ResultsError(path.string() + ": cannot open: " + std::strerror(errno));
    std::vector<char> buffer(1 << 20);
    in.rdbuf()->pubsetbuf(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    CellsSax sax(path.string(), rules, out);
    const bool parsed = json::sax_parse(in, &sax);
    if (in.bad()) throw ResultsError(path.string() + ": read error");
    if (parsed) {
      sax.finish();
      return out;
    }
    error = sax.error();
  }
  // Streamed first: only a file that failed (a QuPath 0.4 NaN, or broken) is read whole.
  return parse_edited(read_file(path), path.string(), rules, error);
}

// ---------------------------------------------------------------- measurement tables

namespace {

std::string without_bom(std::string_view s) {
  return std::string(s.substr(0, 3) == "\xEF\xBB\xBF" ? s.substr(3) : s);
}

// The centroid columns: px, else µm (U+00B5, as QuPath writes it) or um; *in_um tells which.
bool centroid_columns(const CsvTable& t, int* x, int* y, bool* in_um) {
  for (const char* unit : {"px", "\xC2\xB5m", "um"}) {
    *x = t.column(std::string("Centroid X ") + unit);
    *y = t.column(std::string("Centroid Y ") + unit);
    *in_um = std::string(unit) != "px";
    if (*x >= 0 && *y >= 0) return true;
  }
  return false;
}

// A number of the table; empty and NaN are NaN. False when the field is text.
bool table_number(const std::string& field, double* v) {
  const std::string s = trim_blanks(field);
  if (s.empty() || s == "NaN") {
    *v = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  const char* begin = s.data() + (s[0] == '+' ? 1 : 0);
  const auto r = std::from_chars(begin, s.data() + s.size(), *v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

}  // namespace

bool is_qupath_measurement_table(std::string_view header_line) {
  const std::string h = without_bom(header_line);
  const std::size_t first_end = h.find_first_of("\t,;");
  if (first_end == std::string::npos) return false;
  std::string first = trim_blanks(h.substr(0, first_end));
  if (first.size() >= 2 && first.front() == '"' && first.back() == '"')
    first = first.substr(1, first.size() - 2);
  return first == "Image" && h.find("Centroid X ") != std::string::npos;
}

QuPathCells parse_qupath_measurement_table(const std::string& text, const std::string& origin, double mpp_x,
                                           double mpp_y) {
  CsvTable t;
  try {
    t = parse_csv_table(text, origin);  // it skips a byte order mark
  } catch (const CsvError& e) {
    throw ResultsError(e.what());
  }
  int ix = -1, iy = -1;
  bool in_um = false;
  if (!centroid_columns(t, &ix, &iy, &in_um)) {
    throw ResultsError(origin + ": no 'Centroid X px' and 'Centroid Y px' (or 'Centroid X \xC2\xB5m' and " +
                       "'Centroid Y \xC2\xB5m') columns (columns: " + join(t.header, ", ") + ")");
  }
  if (in_um && !(mpp_x > 0 && mpp_y > 0)) {
    throw ResultsError(origin + ": centroids are in \xC2\xB5m ('" + t.header[ix] +
                       "') and the image's pixel size is unknown; give --mpp");
  }
  const int iclass = t.column("Classification") >= 0 ? t.column("Classification") : t.column("Class");
  const int itype = t.column("Object type");
  const int iid = t.column("Object ID");
  // Every other column whose fields are all numbers (or empty) is a measurement.
  static const std::vector<std::string> kText = {"Image", "Object ID",      "Object type", "Name",
                                                 "Class", "Classification", "Parent",      "ROI"};
  std::vector<int> measures;
  for (int j = 0; j < static_cast<int>(t.header.size()); ++j) {
    if (j == ix || j == iy || std::find(kText.begin(), kText.end(), t.header[j]) != kText.end()) continue;
    bool numeric = true;
    double v = 0;
    for (const auto& row : t.rows) numeric = numeric && table_number(row[j], &v);
    if (numeric) measures.push_back(j);
  }
  QuPathCells out;
  CellResults& res = out.cells;
  for (const int j : measures) res.table.add_column(t.header[j]);
  for (std::size_t r = 0; r < t.rows.size(); ++r) {
    const auto& row = t.rows[r];
    const std::string where = origin + ":" + std::to_string(t.line[r]);
    if (itype >= 0) {
      const std::string type = ascii_lower(trim_blanks(row[itype]));
      if (type != "cell" && type != "detection") {
        ++out.others[type.empty() ? "object" : type];
        continue;
      }
    }
    Cell cell;
    std::int64_t id = static_cast<std::int64_t>(r);
    if (iid >= 0) cell_id_from_uuid(trim_blanks(row[iid]), &id);
    cell.id = id;
    double x = 0, y = 0;
    if (!table_number(row[ix], &x) || !table_number(row[iy], &y) || !std::isfinite(x) || !std::isfinite(y)) {
      throw ResultsError(where + ": '" + t.header[ix] + "', '" + t.header[iy] + "' are not numbers: '" +
                         row[ix] + "', '" + row[iy] + "'");
    }
    cell.centroid = in_um ? cv::Point2d(x / mpp_x, y / mpp_y) : cv::Point2d(x, y);
    const std::string name = iclass >= 0 ? trim_blanks(row[iclass]) : "";
    CellClass cls = CellClass::Negative;
    if (!qupath_intensity_class(name, &cls)) cls = CellClass::Negative;
    res.table.cells.push_back(std::move(cell));
    res.classes.push_back(cls);
    out.class_names.push_back(name);
    for (std::size_t k = 0; k < measures.size(); ++k) {
      double v = 0;
      table_number(row[measures[k]], &v);
      res.table.columns[k].push_back(static_cast<float>(v));
    }
  }
  if (res.table.size() == 0 && !out.others.empty())
    throw ResultsError(origin + ": " + objects_text(out.others) + ", no cells or detections");
  return out;
}

QuPathCells read_qupath_measurement_table(const fs::path& path, double mpp_x, double mpp_y) {
  std::string text, error;
  if (!read_named_file(path.string(), "measurement table", text, error)) throw ResultsError(error);
  return parse_qupath_measurement_table(text, path.string(), mpp_x, mpp_y);
}

}  // namespace ihc
