#include "models/truth_io.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "models/atomic_file.hpp"
#include "models/csv_table.hpp"
#include "models/qupath_io.hpp"
#include "models/text.hpp"

namespace ihc {
namespace {

// A CSV field or label without the blanks and the quotes around it.
std::string trim(std::string_view s) {
  std::string out = trim_blanks(s);
  if (out.size() >= 2 && out.front() == '"' && out.back() == '"') out = out.substr(1, out.size() - 2);
  return out;
}

// Label keys are compared lower-cased, and "1.0" equals "1".
std::string normalise_label(std::string_view text) {
  std::string s = ascii_lower(trim(text));
  double v = 0;
  const auto res = std::from_chars(s.data(), s.data() + s.size(), v);
  if (res.ec == std::errc() && res.ptr == s.data() + s.size() && std::isfinite(v) && v == std::floor(v) &&
      std::abs(v) < 1e9) {
    return std::to_string(static_cast<long long>(v));
  }
  return s;
}

bool parse_number(const std::string& s, double* out) {
  if (s.empty()) return false;
  const char* begin = s.data();
  if (*begin == '+') ++begin;
  const auto res = std::from_chars(begin, s.data() + s.size(), *out);
  return res.ec == std::errc() && res.ptr == s.data() + s.size() && std::isfinite(*out);
}

std::string known_labels(const LabelMap& labels) {
  std::string out;
  for (const auto& [key, value] : labels) {
    if (!out.empty()) out += ", ";
    out += key;
  }
  return out;
}

bool find_label(const LabelMap& labels, std::string_view text, TruthLabel* out) {
  const std::string key = normalise_label(text);
  for (const auto& [k, v] : labels) {
    if (normalise_label(k) == key) {
      *out = v;
      return true;
    }
  }
  return false;
}

TruthLabel lookup_label(const LabelMap& labels, std::string_view text, const std::string& where) {
  TruthLabel label{};
  if (find_label(labels, text, &label)) return label;
  throw TruthError(where + ": unknown label '" + trim(text) + "' (known: " + known_labels(labels) + ")");
}

// QuPath's class names carry the intensity grade; the label must agree (a "1+" mapped to negative has none).
int grade_of_class_text(std::string_view text, TruthLabel label) {
  const std::string key = normalise_label(text);
  if (key == "negative") return label == TruthLabel::Negative ? 0 : -1;
  for (int g = 1; g <= 3; ++g) {
    if (key == std::to_string(g) + "+") return label == TruthLabel::Positive ? g : -1;
  }
  return -1;
}

std::string read_text(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw TruthError(path.string() + ": no such file");
  WholeFile f = read_whole_file(path);
  switch (f.status) {
    case WholeFile::Status::IsDirectory:
      throw TruthError(path.string() + ": is a directory, not a file");
    case WholeFile::Status::NotRegular:
      throw TruthError(path.string() + ": is not a regular file");
    case WholeFile::Status::CannotOpen:
      throw TruthError(path.string() + ": cannot open for reading");
    case WholeFile::Status::ReadFailed:
      throw TruthError(path.string() + ": read failed");
    case WholeFile::Status::Ok:
      break;
  }
  return std::move(f.text);
}

}  // namespace

std::string_view truth_format_name(TruthFormat f) {
  switch (f) {
    case TruthFormat::Csv:
      return "csv";
    case TruthFormat::Json:
      return "json";
    case TruthFormat::Mask:
      return "mask";
    case TruthFormat::QuPathRender:
      return "qupath-render";
    case TruthFormat::GeoJson:
      return "geojson";
  }
  return "csv";
}

TruthFormat truth_format_from_path(const std::filesystem::path& path) {
  const std::string ext = ascii_lower(path.extension().string());
  if (ext == ".csv" || ext == ".txt") return TruthFormat::Csv;
  if (ext == ".json") return TruthFormat::Json;
  if (ext == ".geojson") return TruthFormat::GeoJson;
  if (ext == ".png" || ext == ".tif" || ext == ".tiff" || ext == ".bmp") return TruthFormat::Mask;
  throw TruthError(path.string() + ": cannot tell the truth format from the extension '" + ext +
                   "' (use .csv, .json, .geojson or a .png mask, or give --truth-format "
                   "csv|json|geojson|mask|qupath-render)");
}

TruthFormat truth_format_from_file(const std::filesystem::path& path) {
  const TruthFormat by_extension = truth_format_from_path(path);
  if (by_extension != TruthFormat::Json) return by_extension;
  // A file that cannot be read or parsed is left to the JSON reader, whose errors say so.
  const WholeFile f = read_whole_file(path);
  nlohmann::json doc;
  std::string problem;
  if (f.status != WholeFile::Status::Ok || !parse_qupath_json(f.text, &doc, &problem)) return by_extension;
  const bool features = doc.is_array() && !doc.empty() && string_member(doc[0], "type") == "Feature";
  return doc.is_object() || features ? TruthFormat::GeoJson : TruthFormat::Json;
}

TruthFormat parse_truth_format(std::string_view name) {
  for (TruthFormat f : {TruthFormat::Csv, TruthFormat::Json, TruthFormat::Mask, TruthFormat::QuPathRender,
                        TruthFormat::GeoJson}) {
    if (ascii_lower(std::string(name)) == truth_format_name(f)) return f;
  }
  throw TruthError("unknown truth format '" + std::string(name) +
                   "' (use csv, json, geojson, mask or qupath-render)");
}

LabelMap default_label_map(TruthFormat f) {
  LabelMap m{{"1", TruthLabel::Positive}, {"2", TruthLabel::Negative}, {"3", TruthLabel::Ignore}};
  if (f == TruthFormat::Csv || f == TruthFormat::GeoJson) {
    m["positive"] = TruthLabel::Positive;
    m["negative"] = TruthLabel::Negative;
    m["ignore"] = TruthLabel::Ignore;
    m["1+"] = TruthLabel::Positive;
    m["2+"] = TruthLabel::Positive;
    m["3+"] = TruthLabel::Positive;
  }
  return m;
}

LabelMap parse_label_map(std::string_view text) {
  LabelMap m;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::string item = trim(text.substr(start, comma - start));
    start = comma + 1;
    if (item.empty()) continue;
    const std::size_t eq = item.find('=');
    TruthLabel label{};
    if (eq == std::string::npos || trim(item.substr(0, eq)).empty() ||
        !parse_truth_label(ascii_lower(trim(item.substr(eq + 1))), &label)) {
      throw TruthError("--labels: '" + item + "' is not <label>=positive|negative|ignore");
    }
    m[trim(item.substr(0, eq))] = label;
  }
  if (m.empty()) throw TruthError("--labels: no <label>=positive|negative|ignore item given");
  return m;
}

std::vector<TruthPoint> parse_truth_csv(std::string_view text, const std::string& origin,
                                        const LabelMap& labels) {
  const std::string_view body = text.substr(0, 3) == "\xEF\xBB\xBF" ? text.substr(3) : text;
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos)
    throw TruthError(origin + ": empty file, expected a header with columns x, y and label");
  // Annotations exported from Excel or R are semicolon CSV (a decimal-comma locale) or tab-delimited, like
  // clinical tables: their reader takes the header's delimiter and reads "12,5" there as 12.5.
  CsvTable table;
  try {
    table = parse_csv_table(std::string(text), origin);
  } catch (const CsvError& e) {
    throw TruthError(e.what());
  }
  int ix = -1, iy = -1, il = -1;
  std::string header;
  for (int k = 0; k < static_cast<int>(table.header.size()); ++k) {
    const std::string name = ascii_lower(table.header[k]);
    header += (k == 0 ? "" : std::string(1, table.delimiter)) + table.header[k];
    // 'x' and 'X' both: the later one won without a word (a fuzzer's find).
    if ((name == "x" && ix >= 0) || (name == "y" && iy >= 0)) {
      throw TruthError(origin + ": columns '" + table.header[name == "x" ? ix : iy] + "' and '" +
                       table.header[k] + "' both name " + name + " (columns " +
                       std::to_string((name == "x" ? ix : iy) + 1) + " and " + std::to_string(k + 1) + ")");
    }
    if (name == "x") ix = k;
    if (name == "y") iy = k;
    if (il < 0 && (name == "label" || name == "type" || name == "class" || name == "label_id")) il = k;
  }
  if (ix < 0) throw TruthError(origin + ": missing column 'x' in header '" + header + "'");
  if (iy < 0) throw TruthError(origin + ": missing column 'y' in header '" + header + "'");
  if (il < 0) {
    throw TruthError(origin + ": missing column 'label' (or 'type', 'class', 'label_id') in header '" +
                     header + "'");
  }
  std::vector<TruthPoint> points;
  points.reserve(table.rows.size());
  for (std::size_t r = 0; r < table.rows.size(); ++r) {
    const auto& fields = table.rows[r];
    const std::string where = origin + ":" + std::to_string(table.line[r]);
    TruthPoint p;
    if (!parse_number(fields[ix], &p.position.x)) {
      throw TruthError(where + ": x is not a number: '" + fields[ix] + "'");
    }
    if (!parse_number(fields[iy], &p.position.y)) {
      throw TruthError(where + ": y is not a number: '" + fields[iy] + "'");
    }
    p.label = lookup_label(labels, fields[il], where);
    p.grade = grade_of_class_text(fields[il], p.label);
    points.push_back(p);
  }
  return points;
}

std::vector<TruthPoint> read_truth_csv(const std::filesystem::path& path, const LabelMap& labels) {
  return parse_truth_csv(read_text(path), path.string(), labels);
}

std::vector<TruthPoint> parse_truth_json(std::string_view text, const std::string& origin,
                                         const LabelMap& labels) {
  nlohmann::json doc;
  if (const std::string problem = json_parse_problem(text, &doc); !problem.empty())
    throw TruthError(origin + ": " + problem);
  if (!doc.is_array())
    throw TruthError(origin + ": expected a JSON list of {\"x\", \"y\", \"label_id\"} objects");
  std::vector<TruthPoint> points;
  points.reserve(doc.size());
  for (std::size_t i = 0; i < doc.size(); ++i) {
    const auto& item = doc[i];
    const std::string where = origin + ": entry " + std::to_string(i + 1);
    if (!item.is_object()) throw TruthError(where + ": not an object");
    for (const char* key : {"x", "y"}) {
      if (!item.contains(key)) throw TruthError(where + ": missing '" + key + "'");
      if (!item[key].is_number())
        throw TruthError(where + ": '" + key + "' is not a number: " + json_excerpt(item[key]));
    }
    // "class" as in CSV truth (QuPath's class names: Negative, 1+, 2+, 3+).
    const char* label_key = nullptr;
    for (const char* key : {"label_id", "label", "class"}) {
      if (label_key == nullptr && item.contains(key)) label_key = key;
    }
    if (label_key == nullptr) throw TruthError(where + ": missing 'label_id' (or 'label', 'class')");
    const auto& lv = item[label_key];
    std::string label_text;
    if (lv.is_string()) {
      label_text = lv.get<std::string>();
    } else if (lv.is_number()) {
      label_text = json_excerpt(lv);
    } else {
      throw TruthError(where + ": '" + label_key + "' is neither a number nor a string: " + json_excerpt(lv));
    }
    TruthPoint p;
    p.position = {item["x"].get<double>(), item["y"].get<double>()};
    if (!std::isfinite(p.position.x) || !std::isfinite(p.position.y)) {
      throw TruthError(where + ": coordinates are not finite");
    }
    p.label = lookup_label(labels, label_text, where);
    p.grade = grade_of_class_text(label_text, p.label);
    points.push_back(p);
  }
  return points;
}

std::vector<TruthPoint> read_truth_json(const std::filesystem::path& path, const LabelMap& labels) {
  return parse_truth_json(read_text(path), path.string(), labels);
}

std::vector<TruthPoint> parse_truth_geojson(std::string_view text, const std::string& origin,
                                            const LabelMap& labels) {
  nlohmann::json doc;
  std::string problem;
  if (!parse_qupath_json(text, &doc, &problem)) throw TruthError(origin + ": " + problem);
  nlohmann::json one;
  const nlohmann::json* features = geojson_features(doc, one);
  if (features == nullptr)
    throw TruthError(origin + ": expected a GeoJSON FeatureCollection, a Feature or a list of Features");
  std::vector<TruthPoint> points;
  std::map<std::string, std::size_t> without_points;  // geometry type -> features
  for (std::size_t i = 0; i < features->size(); ++i) {
    const auto& f = (*features)[i];
    const std::string where = origin + ": feature " + std::to_string(i);
    if (string_member(f, "type") != "Feature") throw TruthError(where + ": not a GeoJSON Feature");
    const auto g = f.find("geometry");
    const std::string type = g != f.end() ? string_member(*g, "type") : "";
    if (type != "Point" && type != "MultiPoint") {
      ++without_points[type.empty() ? "no geometry" : type];
      continue;
    }
    if (!g->contains("coordinates")) throw TruthError(where + ": " + type + " has no coordinates");
    const auto& coords = g->at("coordinates");
    std::vector<const nlohmann::json*> positions;
    if (type == "Point") {
      positions.push_back(&coords);
    } else if (coords.is_array()) {
      for (const auto& c : coords) positions.push_back(&c);
    } else {
      throw TruthError(where + ": MultiPoint coordinates are not a list of [x, y]");
    }
    // The counting tool's class: the label map may name the whole class or its intensity part.
    const auto props = f.find("properties");
    std::string name = props != f.end() && props->is_object() && props->contains("classification")
                           ? qupath_class_name((*props)["classification"])
                           : "";
    if (name.empty()) name = "unclassified";
    TruthLabel label{};
    std::string label_text = name;
    if (!find_label(labels, name, &label)) {
      label_text = qupath_class_last_part(name);
      label = lookup_label(labels, label_text, where);
    }
    for (std::size_t k = 0; k < positions.size(); ++k) {
      const auto& p = *positions[k];
      if (!p.is_array() || p.size() < 2 || !p[0].is_number() || !p[1].is_number()) {
        throw TruthError(where + ": point " + std::to_string(k) + " is not [x, y]");
      }
      TruthPoint t;
      t.position = {p[0].get<double>(), p[1].get<double>()};
      if (!std::isfinite(t.position.x) || !std::isfinite(t.position.y))
        throw TruthError(where + ": point " + std::to_string(k) + " is not finite");
      t.label = label;
      t.grade = grade_of_class_text(label_text, label);
      points.push_back(t);
    }
  }
  if (points.empty() && !without_points.empty()) {
    std::vector<std::string> held;
    held.reserve(without_points.size());
    for (const auto& [type, n] : without_points) held.push_back(type + " " + std::to_string(n));
    throw TruthError(origin + ": no Point or MultiPoint annotations (QuPath's Points tool) among its " +
                     std::to_string(features->size()) + " features (" + join(held, ", ") + ")");
  }
  return points;
}

std::vector<TruthPoint> read_truth_geojson(const std::filesystem::path& path, const LabelMap& labels) {
  return parse_truth_geojson(read_text(path), path.string(), labels);
}

TruthOnImage truth_on_image(const std::vector<TruthPoint>& points, const cv::Size& image,
                            const cv::Rect& crop) {
  const cv::Rect frame = crop.empty() ? cv::Rect({0, 0}, image) : crop;
  auto inside = [](const cv::Point2d& p, const cv::Size& size) {
    return p.x >= 0 && p.y >= 0 && p.x < size.width && p.y < size.height;
  };
  TruthOnImage out;
  for (TruthPoint p : points) {
    if (!inside(p.position, image)) {
      ++out.outside_image;
      continue;
    }
    p.position -= cv::Point2d(frame.x, frame.y);
    if (!inside(p.position, frame.size())) {
      ++out.outside_crop;
      continue;
    }
    out.points.push_back(p);
  }
  return out;
}

namespace {

// Image truth must be decoded 8-bit RGB: "<origin>: empty <empty_name>" or "<origin>: <a_name> must be ...".
// Mask pixels are black or saturated colours: every channel below kMaskLow or above kMaskHigh, not all
// above (white is glass in a stained image). DeepLIIF's masks are 100 % such pixels, its model outputs
// 73-76 %; stained fields 0-1.3 % (their glass is white, their tissue mid-tones).
constexpr int kMaskLow = 64;
constexpr int kMaskHigh = 191;
constexpr double kMinMaskPaletteFraction = 0.5;

void require_rgb_truth(const cv::Mat& rgb, const std::string& origin, const std::string& empty_name,
                       const std::string& a_name) {
  if (rgb.empty()) throw TruthError(origin + ": empty " + empty_name);
  if (rgb.type() != CV_8UC3) {
    throw TruthError(origin + ": " + a_name + " must be an 8-bit RGB image (found " +
                     std::to_string(rgb.channels()) + " channel(s), depth " + std::to_string(rgb.depth()) +
                     ")");
  }
}

// Component k's centroid in QuPath's pixel-edge convention (pixel x covers [x, x + 1], as every level-0
// coordinate here): connectedComponentsWithStats gives the mean of the pixel indices, half a pixel less.
cv::Point2d component_centroid(const cv::Mat& centroids, int k) {
  return {centroids.at<double>(k, 0) + 0.5, centroids.at<double>(k, 1) + 0.5};
}

// One point per 4-connected component of `mask` with at least min_area_px pixels, at its centroid.
void add_component_centroids(const cv::Mat& mask, int min_area_px, TruthLabel label,
                             std::vector<TruthPoint>& points) {
  cv::Mat labels_img, stats, centroids;
  const int n = cv::connectedComponentsWithStats(mask, labels_img, stats, centroids, 4, CV_32S);
  for (int k = 1; k < n; ++k) {
    if (stats.at<int>(k, cv::CC_STAT_AREA) < min_area_px) continue;
    points.push_back({component_centroid(centroids, k), label});
  }
}

}  // namespace

std::vector<TruthPoint> truth_from_mask(const cv::Mat& rgb, const MaskTruthParams& params,
                                        const std::string& origin) {
  require_rgb_truth(rgb, origin, "mask image", "a truth mask");
  cv::Mat red(rgb.size(), CV_8U, cv::Scalar(0)), blue(rgb.size(), CV_8U, cv::Scalar(0));
  std::int64_t palette = 0;  // black and saturated colours (not white): what a mask is drawn in
  for (int y = 0; y < rgb.rows; ++y) {
    const auto* px = rgb.ptr<cv::Vec3b>(y);
    auto* r = red.ptr<std::uint8_t>(y);
    auto* b = blue.ptr<std::uint8_t>(y);
    for (int x = 0; x < rgb.cols; ++x) {
      const cv::Vec3b v = px[x];
      r[x] = (v[0] >= 128 && v[1] < 128 && v[2] < 128) ? 255 : 0;
      b[x] = (v[2] >= 128 && v[0] < 128 && v[1] < 128) ? 255 : 0;
      int high = 0;
      bool pure = true;
      for (int c = 0; c < 3; ++c) {
        pure = pure && (v[c] < kMaskLow || v[c] > kMaskHigh);
        high += v[c] > kMaskHigh ? 1 : 0;
      }
      palette += pure && high < 3 ? 1 : 0;
    }
  }
  // An IHC image given as the truth (the image twice, or a panel without --truth-crop) has red-brown and
  // blue pixels too, and read as a mask it gave hundreds of "cells" and figures with no error.
  const double fraction = static_cast<double>(palette) / static_cast<double>(rgb.total());
  if (fraction < kMinMaskPaletteFraction) {
    char pct[32];
    std::snprintf(pct, sizeof pct, "%.1f", 100.0 * fraction);
    throw TruthError(origin + ": not a colour mask: only " + pct +
                     " % of its pixels are black or pure red, green or blue (masks are drawn in those on "
                     "black); is it the stained image, or a QuPath render (--truth-format qupath-render)?");
  }
  std::vector<TruthPoint> points;
  add_component_centroids(red, params.min_area_px, TruthLabel::Positive, points);
  add_component_centroids(blue, params.min_area_px, TruthLabel::Negative, points);
  return points;
}

std::vector<TruthPoint> cells_from_deepliif_segmentation(const cv::Mat& rgb,
                                                         const DeepliifSegmentationParams& params,
                                                         const std::string& origin) {
  require_rgb_truth(rgb, origin, "segmentation image", "a DeepLIIF segmentation");
  cv::Mat cell(rgb.size(), CV_8U, cv::Scalar(0)), red(rgb.size(), CV_8U, cv::Scalar(0));
  for (int y = 0; y < rgb.rows; ++y) {
    const auto* px = rgb.ptr<cv::Vec3b>(y);
    auto* c = cell.ptr<std::uint8_t>(y);
    auto* r = red.ptr<std::uint8_t>(y);
    for (int x = 0; x < rgb.cols; ++x) {
      const cv::Vec3b v = px[x];
      c[x] = v[0] + v[2] > params.seg_thresh && v[1] <= params.boundary_max ? 1 : 0;
      r[x] = c[x] != 0 && v[0] >= v[2] ? 1 : 0;
    }
  }
  cv::Mat labels_img, stats, centroids;
  const int n = cv::connectedComponentsWithStats(cell, labels_img, stats, centroids, 8, CV_32S);
  std::vector<int> reds(static_cast<std::size_t>(n), 0);
  for (int y = 0; y < rgb.rows; ++y) {
    const auto* l = labels_img.ptr<int>(y);
    const auto* r = red.ptr<std::uint8_t>(y);
    for (int x = 0; x < rgb.cols; ++x) reds[static_cast<std::size_t>(l[x])] += r[x];
  }
  std::vector<TruthPoint> points;
  for (int k = 1; k < n; ++k) {
    const int area = stats.at<int>(k, cv::CC_STAT_AREA);
    if (area < params.min_area_px) continue;
    const bool positive = 2 * reds[static_cast<std::size_t>(k)] >= area;
    points.push_back(
        {component_centroid(centroids, k), positive ? TruthLabel::Positive : TruthLabel::Negative});
  }
  return points;
}

std::vector<TruthPoint> truth_from_qupath_render(const cv::Mat& rgb, const QuPathRenderTruthParams& params,
                                                 const std::string& origin) {
  require_rgb_truth(rgb, origin, "QuPath render image", "a QuPath render");
  // One pass sorts the exact class colours into fill and outline masks per class; near_fill (below) marks
  // the fill pixels of either class and their neighbours, which outline-only cells must not touch.
  cv::Mat neg_fill(rgb.size(), CV_8U, cv::Scalar(0)), pos_fill(rgb.size(), CV_8U, cv::Scalar(0));
  cv::Mat neg_outline(rgb.size(), CV_8U, cv::Scalar(0)), pos_outline(rgb.size(), CV_8U, cv::Scalar(0));
  for (int y = 0; y < rgb.rows; ++y) {
    const auto* px = rgb.ptr<cv::Vec3b>(y);
    auto* nf = neg_fill.ptr<std::uint8_t>(y);
    auto* pf = pos_fill.ptr<std::uint8_t>(y);
    auto* no = neg_outline.ptr<std::uint8_t>(y);
    auto* po = pos_outline.ptr<std::uint8_t>(y);
    for (int x = 0; x < rgb.cols; ++x) {
      const cv::Vec3b v = px[x];
      nf[x] = v == params.negative_fill ? 255 : 0;
      pf[x] = v == params.positive_fill ? 255 : 0;
      no[x] = v == params.negative_outline ? 255 : 0;
      po[x] = v == params.positive_outline ? 255 : 0;
    }
  }
  // Pixels with a fill pixel among their 4 neighbours (or on one).
  cv::Mat near_fill;
  cv::dilate(neg_fill | pos_fill, near_fill, cv::getStructuringElement(cv::MORPH_CROSS, {3, 3}));

  std::vector<TruthPoint> points;
  const auto add_cells = [&](const cv::Mat& fill, const cv::Mat& outline, TruthLabel label) {
    add_component_centroids(fill, params.min_fill_px, label, points);
    cv::Mat labels_img, stats, centroids;
    const int n = cv::connectedComponentsWithStats(outline, labels_img, stats, centroids, 4, CV_32S);
    std::vector<char> touches_fill(static_cast<std::size_t>(n), 0);
    for (int y = 0; y < labels_img.rows; ++y) {
      const auto* lab = labels_img.ptr<int>(y);
      const auto* near = near_fill.ptr<std::uint8_t>(y);
      for (int x = 0; x < labels_img.cols; ++x) {
        if (lab[x] > 0 && near[x]) touches_fill[static_cast<std::size_t>(lab[x])] = 1;
      }
    }
    for (int k = 1; k < n; ++k) {
      if (touches_fill[static_cast<std::size_t>(k)] ||
          stats.at<int>(k, cv::CC_STAT_AREA) < params.min_outline_only_px) {
        continue;
      }
      points.push_back({component_centroid(centroids, k), label});
    }
  };
  add_cells(pos_fill, pos_outline, TruthLabel::Positive);
  add_cells(neg_fill, neg_outline, TruthLabel::Negative);
  return points;
}

}  // namespace ihc
