#include "models/results_io.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "models/atomic_file.hpp"
#include "models/qupath_io.hpp"
#include "models/text.hpp"

namespace ihc {

bool status_ok(const std::string& status) { return status == "ok" || status.rfind("ok;", 0) == 0; }

namespace fs = std::filesystem;
using nlohmann::json;

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---------------------------------------------------------------- CSV helpers

std::string rfc4180_quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}
}  // namespace

std::string csv_field(std::string_view text) {
  std::string s = as_utf8(text);  // tables are UTF-8 for R, Python and SPSS, whatever the file names were
  // One record per line keeps the tables readable by line-based tools; newlines in free text become spaces.
  for (auto& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  if (s.find_first_of(",\"") == std::string::npos && (s.empty() || (s.front() != ' ' && s.back() != ' '))) {
    return s;
  }
  return rfc4180_quoted(s);
}

std::string tsv_field(std::string_view text) {
  std::string s = as_utf8(text);
  for (auto& c : s) {
    if (c == '\t' || c == '\n' || c == '\r') c = ' ';
  }
  if (s.find('"') == std::string::npos) return s;
  return rfc4180_quoted(s);
}

std::string format_number(double v) {
  if (std::isnan(v)) return "";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

namespace {

void append_float(std::string& out, float v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, r.ptr);
}

void append_double(std::string& out, double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, r.ptr);
}

bool parse_double(std::string_view s, double* out) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\r')) s.remove_suffix(1);
  if (s.empty() || s == "NaN" || s == "nan") {
    *out = kNaN;
    return true;
  }
  if (s == "Infinity") {
    *out = std::numeric_limits<double>::infinity();
    return true;
  }
  if (s == "-Infinity") {
    *out = -std::numeric_limits<double>::infinity();
    return true;
  }
  if (s.front() == '+') s.remove_prefix(1);
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

bool parse_int64(std::string_view s, std::int64_t* out) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\r')) s.remove_suffix(1);
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return !s.empty() && r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// Splits text into lines (\n or \r\n), keeping line numbers 1-based.
std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    start = end + 1;
  }
  return lines;
}

// The fields of a data line, which must be as many as the header's; `where` is "<origin>:<line>".
std::vector<std::string> data_fields(std::string_view line, std::size_t width, const std::string& where) {
  auto f = split_csv_line(line);
  if (f.size() != width) {
    throw ResultsError(where + ": " + std::to_string(f.size()) + " fields, header has " +
                       std::to_string(width));
  }
  return f;
}

std::string json_escape(std::string_view s) { return json_text(json(std::string(s))); }

}  // namespace

std::vector<std::string> split_csv_line(std::string_view line, char delimiter) {
  std::vector<std::string> fields;
  std::string cur;
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < line.size() && line[i + 1] == '"') {
          cur += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        cur += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == delimiter) {
      fields.push_back(std::move(cur));
      cur.clear();
    } else if (c != '\r') {
      cur += c;
    }
  }
  fields.push_back(std::move(cur));
  return fields;
}

// ---------------------------------------------------------------- summary tables

const std::vector<SummaryColumn>& summary_columns() {
  static const std::vector<SummaryColumn> kColumns = {
      {"Image", "image", "image or slide id (file name without extension, made unique)"},
      {"Num Detections", "num_detections", "number of detected cells"},
      {"Num Negative", "num_negative", "cells below the 1+ threshold"},
      {"Num 1+", "num_1plus", "cells graded 1+ (weak); empty with single-threshold positives (no grades)"},
      {"Num 2+", "num_2plus", "cells graded 2+ (moderate); empty with single-threshold positives"},
      {"Num 3+", "num_3plus", "cells graded 3+ (strong); empty with single-threshold positives"},
      {"Num Positive", "num_positive", "cells graded 1+, 2+ or 3+ (or Positive, single threshold)"},
      {"Positive %", "positive_pct", "positive cells / all cells x 100 (percent)"},
      {"Num Positive per mm^2", "num_positive_per_mm2",
       "positive cells per mm^2 of the tissue (or region) area; empty without mpp"},
      {"H-score", "h_score", "1 x %1+ + 2 x %2+ + 3 x %3+ (0-300)"},
      {"Intensity score", "intensity_score", "Allred intensity score of the positive cells (0-3)"},
      {"IxP score", "ixp_score", "intensity score x positive % (0-300)"},
      {"Allred proportion", "allred_proportion",
       "Allred proportion score of Positive % (0-5, QuPath's edges: 0 none, 1 below 1 %, 2 below 10 %, "
       "3 below 1/3, 4 below 2/3, 5 from 2/3)"},
      {"Allred score", "allred_score", "Allred proportion score + intensity score (0-8)"},
      {"IRS", "irs", "immunoreactive score: percentage category x intensity (0-12)"},
      {"Group", "group",
       "High when the group_score is at or above group_cutoff, else Low (run.json has both); empty when no "
       "group was asked or that score is undefined"},
      {"Tissue area mm^2", "tissue_area_mm2",
       "area of the detected tissue (or region) in mm^2; empty without mpp"},
      {"mpp", "mpp", "microns per pixel at full resolution; empty when unknown (scored in pixels)"},
      {"Status", "status", "ok, or why the slide has no or partial results"},
  };
  return kColumns;
}

const SummaryColumn& region_column() {
  static const SummaryColumn kRegion{"Region", "region", "ROI name from --roi (regions.csv only)"};
  return kRegion;
}

namespace {

// A failed slide has no counts: empty, never a misleading 0.
bool row_failed(const ScoreRow& r) { return r.status.rfind("FAILED", 0) == 0; }

// Single-threshold positives have no grade: Num 1+/2+/3+ are unknown, not 0 (an H-score recomputed from 0s
// read 0 where the table's own H-score is empty). Told by the row itself: positives beyond the graded, or,
// with none positive, cells without an H-score (it is only undefined without cells or without grades).
bool row_ungraded(const ScoreRow& r) {
  return r.num_positive > r.num_1plus + r.num_2plus + r.num_3plus ||
         (r.num_detections > 0 && std::isnan(r.h_score) && !row_failed(r));
}

// A row's counts and numbers by their snake_case names (summary_stats.csv's columns, slide.json's keys): one
// list for both readers and the JSON writer. `grade`: empty or null for single-threshold positives.
struct CountField {
  const char* key;
  std::int64_t ScoreRow::*member;
  bool grade;
};
constexpr CountField kCountFields[] = {{"num_detections", &ScoreRow::num_detections, false},
                                       {"num_negative", &ScoreRow::num_negative, false},
                                       {"num_1plus", &ScoreRow::num_1plus, true},
                                       {"num_2plus", &ScoreRow::num_2plus, true},
                                       {"num_3plus", &ScoreRow::num_3plus, true},
                                       {"num_positive", &ScoreRow::num_positive, false}};
struct NumberField {
  const char* key;
  double ScoreRow::*member;
};
constexpr NumberField kNumberFields[] = {{"positive_pct", &ScoreRow::positive_pct},
                                         {"h_score", &ScoreRow::h_score},
                                         {"intensity_score", &ScoreRow::intensity_score},
                                         {"ixp_score", &ScoreRow::ixp_score},
                                         {"allred_proportion", &ScoreRow::allred_proportion},
                                         {"allred_score", &ScoreRow::allred_score},
                                         {"irs", &ScoreRow::irs},
                                         {"tissue_area_mm2", &ScoreRow::tissue_area_mm2},
                                         {"mpp", &ScoreRow::mpp}};
// Not in files written before session 28: computed from the counts when a reader misses it.
constexpr const char* kAllredProportion = "allred_proportion";

// A row read from a file of before the Allred proportion column: it follows from the counts (QuPath's edges),
// for Ki-67's single-threshold rows too; NaN without cells or for a failed slide.
double derived_allred_proportion(const ScoreRow& r) {
  if (row_failed(r) || r.num_detections <= 0) return std::numeric_limits<double>::quiet_NaN();
  return allred_proportion_score(r.num_positive, r.num_detections);
}

std::vector<std::string> row_fields(const ScoreRow& r) {
  const bool failed = row_failed(r);
  auto i = [failed](std::int64_t v) { return failed ? std::string() : std::to_string(v); };
  const bool ungraded = row_ungraded(r);
  auto g = [&](std::int64_t v) { return ungraded ? std::string() : i(v); };
  return {csv_field(r.image),
          i(r.num_detections),
          i(r.num_negative),
          g(r.num_1plus),
          g(r.num_2plus),
          g(r.num_3plus),
          i(r.num_positive),
          format_number(r.positive_pct),
          format_number(positive_per_mm2(r)),
          format_number(r.h_score),
          format_number(r.intensity_score),
          format_number(r.ixp_score),
          format_number(r.allred_proportion),
          format_number(r.allred_score),
          format_number(r.irs),
          csv_field(r.group),
          format_number(r.tissue_area_mm2),
          format_number(r.mpp),
          csv_field(r.status)};
}

}  // namespace

double positive_per_mm2(const ScoreRow& r) {
  const bool failed = row_failed(r);
  if (failed || !(r.tissue_area_mm2 > 0) || !std::isfinite(r.tissue_area_mm2)) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  return static_cast<double>(r.num_positive) / r.tissue_area_mm2;
}

std::string summary_csv(const std::vector<ScoreRow>& rows, ColumnNames names, bool with_region) {
  std::string out;
  const auto& cols = summary_columns();
  auto name_of = [&](const SummaryColumn& c) { return names == ColumnNames::QuPath ? c.qupath : c.stats; };
  for (std::size_t k = 0; k < cols.size(); ++k) {
    if (k > 0) out += ',';
    out += csv_field(name_of(cols[k]));
    if (k == 0 && with_region) out += "," + csv_field(name_of(region_column()));
  }
  out += '\n';
  for (const auto& r : rows) {
    const auto f = row_fields(r);
    for (std::size_t k = 0; k < f.size(); ++k) {
      if (k > 0) out += ',';
      out += f[k];
      if (k == 0 && with_region) out += "," + csv_field(r.region);
    }
    out += '\n';
  }
  return out;
}

std::string column_dictionary_csv() {
  std::string out = "qupath_name,stats_name,description\n";
  auto add = [&](const SummaryColumn& c) {
    out += csv_field(c.qupath) + "," + csv_field(c.stats) + "," + csv_field(c.description) + "\n";
  };
  const auto& cols = summary_columns();
  add(cols[0]);
  add(region_column());
  for (std::size_t k = 1; k < cols.size(); ++k) add(cols[k]);
  return out;
}

std::vector<ScoreRow> parse_summary_csv(std::string_view text, const std::string& origin) {
  const auto lines = lines_of(text);
  if (lines.empty()) throw ResultsError(origin + ": empty file (no header)");
  const auto header = split_csv_line(lines[0]);
  // Column index of each known column, by either name.
  std::map<std::string, int> index;  // stats name -> column
  for (std::size_t c = 0; c < header.size(); ++c) {
    bool known = false;
    auto try_col = [&](const SummaryColumn& col) {
      if (header[c] == col.qupath || header[c] == col.stats) {
        index[col.stats] = static_cast<int>(c);
        known = true;
      }
    };
    for (const auto& col : summary_columns()) try_col(col);
    try_col(region_column());
    (void)known;  // unknown extra columns are tolerated (a user may add their own)
  }
  for (const auto& col : summary_columns()) {
    // Derived from the row when written, or added since: files of earlier versions lack them.
    if (col.stats == "num_positive_per_mm2" || col.stats == "group" || col.stats == kAllredProportion)
      continue;
    if (!index.count(col.stats)) {
      throw ResultsError(origin + ":1: missing column '" + col.qupath + "' (or '" + col.stats + "')");
    }
  }
  std::vector<ScoreRow> rows;
  for (std::size_t n = 1; n < lines.size(); ++n) {
    if (lines[n].empty()) continue;
    const std::string where = origin + ":" + std::to_string(n + 1);
    const auto f = data_fields(lines[n], header.size(), where);
    ScoreRow r;
    auto get = [&](const std::string& key) -> const std::string& { return f[index.at(key)]; };
    auto get_int = [&](const std::string& key, std::int64_t* v) {
      if (get(key).empty()) {
        *v = 0;
        return;
      }
      if (!parse_int64(get(key), v))
        throw ResultsError(where + ": " + key + " is not an integer: '" + get(key) + "'");
    };
    auto get_num = [&](const std::string& key, double* v) {
      if (!parse_double(get(key), v))
        throw ResultsError(where + ": " + key + " is not a number: '" + get(key) + "'");
    };
    r.image = get("image");
    if (index.count("region")) r.region = get("region");
    for (const auto& c : kCountFields) get_int(c.key, &(r.*c.member));
    for (const auto& nf : kNumberFields) {
      if (index.count(nf.key)) get_num(nf.key, &(r.*nf.member));
    }
    if (index.count("group")) r.group = get("group");
    r.status = get("status");
    if (!index.count(kAllredProportion)) r.allred_proportion = derived_allred_proportion(r);
    rows.push_back(std::move(r));
  }
  return rows;
}

std::vector<ScoreRow> read_summary_csv(const fs::path& path) {
  return parse_summary_csv(read_file(path), path.string());
}

// ---------------------------------------------------------------- UUIDs

namespace {

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

constexpr std::uint64_t kIdMask = 0x3FFFFFFFFFFFFFFFULL;

}  // namespace

std::uint64_t slide_uuid_seed(std::string_view image_id) {
  std::uint64_t h = 0xCBF29CE484222325ULL;  // FNV-1a
  for (unsigned char c : image_id) {
    h ^= c;
    h *= 0x100000001B3ULL;
  }
  return splitmix64(h);
}

std::string cell_uuid(std::uint64_t seed, std::int64_t cell_id) {
  // High half: per-slide bits with version 4; low half: variant 10 then the cell id.
  const std::uint64_t hi = (seed & ~0xF000ULL) | 0x4000ULL;
  const std::uint64_t lo = (static_cast<std::uint64_t>(cell_id) & kIdMask) | 0x8000000000000000ULL;
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xFFFF), static_cast<unsigned>(hi & 0xFFFF),
                static_cast<unsigned>(lo >> 48), static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFULL));
  return buf;
}

bool cell_id_from_uuid(std::string_view uuid, std::int64_t* id) {
  if (uuid.size() != 36 || uuid[8] != '-' || uuid[13] != '-' || uuid[18] != '-' || uuid[23] != '-')
    return false;
  std::uint64_t lo = 0;
  for (std::size_t i = 19; i < 36; ++i) {
    if (i == 23) continue;
    const char c = uuid[i];
    int v;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      v = c - 'A' + 10;
    } else {
      return false;
    }
    lo = (lo << 4) | static_cast<std::uint64_t>(v);
  }
  *id = static_cast<std::int64_t>(lo & kIdMask);
  return true;
}

// ---------------------------------------------------------------- cells.csv

namespace {

const std::vector<std::string>& cell_fixed_columns() {
  static const std::vector<std::string> kFixed = {"Object ID",     "Classification", "Centroid X px",
                                                  "Centroid Y px", "Centroid X um",  "Centroid Y um"};
  return kFixed;
}

void check_classes(const CellTable& table, const std::vector<CellClass>& classes) {
  if (classes.size() != table.size()) {
    throw std::invalid_argument("cells writer: " + std::to_string(classes.size()) + " classes for " +
                                std::to_string(table.size()) + " cells");
  }
}

// Maps this chunk's columns onto the file's columns (-1 when the chunk lacks one).
std::vector<int> column_map(const std::vector<std::string>& file_names, const CellTable& table) {
  std::vector<int> map(file_names.size());
  for (std::size_t j = 0; j < file_names.size(); ++j) map[j] = table.column(file_names[j]);
  return map;
}

}  // namespace

CellsCsvWriter::CellsCsvWriter(AtomicFile& file, CellsFileOptions options)
    : file_(file), options_(std::move(options)) {}

void CellsCsvWriter::write_header(const std::vector<std::string>& names) {
  // Measurements that repeat a fixed column (detection's "Centroid X um") are written once, as the fixed one.
  names_.clear();
  const auto& fixed = cell_fixed_columns();
  for (const auto& n : names) {
    if (std::find(fixed.begin(), fixed.end(), n) == fixed.end()) names_.push_back(n);
  }
  std::string line;
  for (const auto& c : cell_fixed_columns()) line += (line.empty() ? "" : ",") + csv_field(c);
  for (const auto& n : names_) line += "," + csv_field(n);
  line += '\n';
  file_.write(line);
  header_written_ = true;
}

void CellsCsvWriter::append(const CellTable& table, const std::vector<CellClass>& classes) {
  check_classes(table, classes);
  if (!header_written_) write_header(table.names);
  const auto map = column_map(names_, table);
  const bool um = !std::isnan(options_.mpp_x) && !std::isnan(options_.mpp_y);
  std::string out;
  out.reserve(table.size() * (64 + 10 * names_.size()));
  for (std::size_t i = 0; i < table.size(); ++i) {
    const Cell& c = table.cells[i];
    out += cell_uuid(options_.uuid_seed, c.id);
    out += ',';
    out += class_name(classes[i]);
    out += ',';
    append_double(out, c.centroid.x);
    out += ',';
    append_double(out, c.centroid.y);
    out += ',';
    if (um) append_double(out, c.centroid.x * options_.mpp_x);
    out += ',';
    if (um) append_double(out, c.centroid.y * options_.mpp_y);
    for (int j : map) {
      out += ',';
      if (j >= 0) {
        const float v = table.columns[j][i];
        if (!std::isnan(v)) append_float(out, v);
      }
    }
    out += '\n';
    if (out.size() > (1u << 20)) {
      file_.write(out);
      out.clear();
    }
  }
  file_.write(out);
  rows_ += static_cast<std::int64_t>(table.size());
}

void CellsCsvWriter::finish() {
  if (!header_written_) write_header(options_.measurement_names);
}

void write_cells_csv(const fs::path& path, const CellResults& cells, const CellsFileOptions& options) {
  AtomicFile file(path);
  CellsCsvWriter w(file, options);
  if (cells.table.names.empty() && cells.table.size() == 0) {
    w.finish();
  } else {
    w.append(cells.table, cells.classes);
  }
  file.commit();
}

namespace {

// cells.csv's header: its columns, the fixed ones checked. `where` is "<origin>:1".
std::vector<std::string> cells_csv_header(std::string_view line, const std::string& where) {
  // A file saved again by Excel ("CSV UTF-8") starts with a byte-order mark.
  if (line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
  auto header = split_csv_line(line);
  const auto& fixed = cell_fixed_columns();
  if (header.size() < fixed.size()) throw ResultsError(where + ": header has fewer than 6 columns");
  for (std::size_t k = 0; k < fixed.size(); ++k) {
    if (header[k] != fixed[k]) {
      throw ResultsError(where + ": column " + std::to_string(k + 1) + " is '" + header[k] + "', expected '" +
                         fixed[k] + "'");
    }
  }
  // A name twice (a column copied in a spreadsheet) made one measurement of two fields, and the row reader
  // wrote past the table's columns (a fuzzer's crash in evaluate, reviewed and the viewer).
  std::map<std::string, std::size_t> first;
  for (std::size_t k = 0; k < header.size(); ++k) {
    const auto [it, added] = first.emplace(header[k], k);
    if (!added) {
      throw ResultsError(where + ": repeated column '" + header[k] + "' (columns " +
                         std::to_string(it->second + 1) + " and " + std::to_string(k + 1) + ")");
    }
  }
  return header;
}

// One data row of cells.csv appended to `res`, whose columns are the header's measurements.
void add_cells_csv_row(std::string_view line, const std::vector<std::string>& header,
                       const std::string& where, CellResults& res) {
  const auto f = data_fields(line, header.size(), where);
  Cell cell;
  std::int64_t id = 0;
  if (cell_id_from_uuid(f[0], &id) || parse_int64(f[0], &id)) {
    cell.id = id;
  } else {
    throw ResultsError(where + ": Object ID is neither a UUID nor an integer: '" + f[0] + "'");
  }
  CellClass cls;
  if (!parse_class_name(f[1], &cls)) throw ResultsError(where + ": unknown Classification '" + f[1] + "'");
  if (!parse_double(f[2], &cell.centroid.x) || !parse_double(f[3], &cell.centroid.y) ||
      std::isnan(cell.centroid.x) || std::isnan(cell.centroid.y)) {
    throw ResultsError(where + ": Centroid X px / Centroid Y px must be numbers");
  }
  res.table.cells.push_back(std::move(cell));
  res.classes.push_back(cls);
  const std::size_t fixed = cell_fixed_columns().size();
  for (std::size_t k = fixed; k < header.size(); ++k) {
    double v;
    if (!parse_double(f[k], &v)) {
      throw ResultsError(where + ": '" + header[k] + "' is not a number: '" + f[k] + "'");
    }
    res.table.columns[k - fixed].push_back(static_cast<float>(v));
  }
}

}  // namespace

CellResults parse_cells_csv(std::string_view text, const std::string& origin) {
  const auto lines = lines_of(text);
  if (lines.empty()) throw ResultsError(origin + ": empty file (no header)");
  const auto header = cells_csv_header(lines[0], origin + ":1");
  CellResults res;
  for (std::size_t k = cell_fixed_columns().size(); k < header.size(); ++k) res.table.add_column(header[k]);
  for (std::size_t n = 1; n < lines.size(); ++n) {
    if (lines[n].empty()) continue;
    add_cells_csv_row(lines[n], header, origin + ":" + std::to_string(n + 1), res);
  }
  return res;
}

CellResults read_cells_csv(const fs::path& path) { return parse_cells_csv(read_file(path), path.string()); }

bool take_csv_centroids(std::string_view text, CellResults& cells) {
  std::vector<cv::Point2d> centroids;
  centroids.reserve(cells.table.size());
  std::size_t start = text.find('\n');  // past the header
  while (start != std::string_view::npos && start + 1 < text.size()) {
    const std::size_t end = std::min(text.find('\n', start + 1), text.size());
    std::string_view line = text.substr(start + 1, end - start - 1);
    start = end < text.size() ? end : std::string_view::npos;
    if (line.empty() || line == "\r") continue;
    // The first four fields (UUID, class name, X, Y) hold no comma or quote.
    std::string_view f[4];
    for (auto& field : f) {
      const std::size_t comma = line.find(',');
      if (comma == std::string_view::npos) return false;
      field = line.substr(0, comma);
      line.remove_prefix(comma + 1);
    }
    const std::size_t i = centroids.size();
    std::int64_t id = 0;
    cv::Point2d c;
    if (i >= cells.table.size() || !cell_id_from_uuid(f[0], &id) || id != cells.table.cells[i].id ||
        !parse_double(f[2], &c.x) || !parse_double(f[3], &c.y))
      return false;
    centroids.push_back(c);
  }
  if (centroids.size() != cells.table.size()) return false;
  for (std::size_t i = 0; i < centroids.size(); ++i) cells.table.cells[i].centroid = centroids[i];
  return true;
}

// ---------------------------------------------------------------- cells.geojson

namespace {

// The first and last lines of cells.geojson: one feature a line between them (ResultCellsReader reads that).
constexpr std::string_view kCollectionLine = R"({"type":"FeatureCollection","features":[)";
constexpr std::string_view kCollectionEnd = "]}";

void append_ring(std::string& out, const std::vector<cv::Point2f>& pts) {
  out += '[';
  for (std::size_t k = 0; k < pts.size(); ++k) {
    if (k > 0) out += ',';
    out += '[';
    append_float(out, pts[k].x);
    out += ',';
    append_float(out, pts[k].y);
    out += ']';
  }
  // GeoJSON rings are closed.
  if (pts.front() != pts.back()) {
    out += ",[";
    append_float(out, pts.front().x);
    out += ',';
    append_float(out, pts.front().y);
    out += ']';
  }
  out += ']';
}

void append_geometry(std::string& out, const std::vector<cv::Point2f>& polygon, const cv::Point2d& centroid) {
  if (polygon.size() >= 3) {
    out += R"({"type":"Polygon","coordinates":[)";
    append_ring(out, polygon);
    out += "]}";
  } else {
    out += R"({"type":"Point","coordinates":[)";
    append_double(out, centroid.x);
    out += ',';
    append_double(out, centroid.y);
    out += "]}";
  }
}

}  // namespace

CellsGeoJsonWriter::CellsGeoJsonWriter(AtomicFile& file, CellsFileOptions options)
    : file_(file), options_(std::move(options)) {
  file_.write(kCollectionLine);
}

void CellsGeoJsonWriter::append(const CellTable& table, const std::vector<CellClass>& classes) {
  check_classes(table, classes);
  std::vector<std::string> keys;
  for (const auto& n : table.names) keys.push_back(json_escape(n));
  // Detection's "Centroid X/Y um" use one pixel size; the file's own (x and y, as cells.csv's) win.
  const bool um = !std::isnan(options_.mpp_x) && !std::isnan(options_.mpp_y);
  const int um_x = um ? table.column("Centroid X um") : -1, um_y = um ? table.column("Centroid Y um") : -1;
  std::string out;
  for (std::size_t i = 0; i < table.size(); ++i) {
    const Cell& c = table.cells[i];
    out += features_ == 0 ? "\n" : ",\n";
    ++features_;
    out += R"({"type":"Feature","id":")";
    out += cell_uuid(options_.uuid_seed, c.id);
    out += R"(","geometry":)";
    append_geometry(out, c.boundary.size() >= 3 ? c.boundary : c.nucleus, c.centroid);
    if (c.nucleus.size() >= 3) {
      out += R"(,"nucleusGeometry":)";
      append_geometry(out, c.nucleus, c.centroid);
    }
    const std::uint32_t rgb = class_color_rgb(classes[i]);
    out += R"(,"properties":{"objectType":"cell","classification":{"name":")";
    out += class_name(classes[i]);
    out += R"(","color":[)";
    out += std::to_string((rgb >> 16) & 0xFF) + "," + std::to_string((rgb >> 8) & 0xFF) + "," +
           std::to_string(rgb & 0xFF);
    out += R"(]},"isLocked":false,"measurements":{)";
    bool first = true;
    for (std::size_t j = 0; j < table.names.size(); ++j) {
      const int col = static_cast<int>(j);
      const float v = col == um_x   ? static_cast<float>(c.centroid.x * options_.mpp_x)
                      : col == um_y ? static_cast<float>(c.centroid.y * options_.mpp_y)
                                    : table.columns[j][i];
      if (std::isnan(v) || std::isinf(v)) continue;  // QuPath reads a missing measurement as NaN
      if (!first) out += ',';
      first = false;
      out += keys[j];
      out += ':';
      append_float(out, v);
    }
    out += "}}}";
    if (out.size() > (1u << 20)) {
      file_.write(out);
      out.clear();
    }
  }
  file_.write(out);
}

void CellsGeoJsonWriter::finish() {
  if (finished_) return;
  file_.write("\n" + std::string(kCollectionEnd) + "\n");
  finished_ = true;
}

void write_cells_geojson(const fs::path& path, const CellResults& cells, const CellsFileOptions& options) {
  AtomicFile file(path);
  CellsGeoJsonWriter w(file, options);
  w.append(cells.table, cells.classes);
  w.finish();
  file.commit();
}

// The GeoJSON reader is QuPath's (models/qupath_io), with the classes ihcscore writes.
CellResults parse_cells_geojson(std::string_view text, const std::string& origin) {
  return parse_geojson_cells(text, origin, CellFileRules::Ihcscore).cells;
}

CellResults read_cells_geojson(const fs::path& path) {
  return read_geojson_cells(path, CellFileRules::Ihcscore).cells;
}

namespace {

// A cursor over one line of cells.geojson in the writer's layout.
class OutlineLine {
 public:
  explicit OutlineLine(std::string_view text) : rest_(text) {}

  bool take(std::string_view literal) {
    if (rest_.substr(0, literal.size()) != literal) return false;
    rest_.remove_prefix(literal.size());
    return true;
  }
  bool number(float* v) {
    const auto r = std::from_chars(rest_.data(), rest_.data() + rest_.size(), *v);
    if (r.ec != std::errc() || !std::isfinite(*v)) return false;
    rest_.remove_prefix(static_cast<std::size_t>(r.ptr - rest_.data()));
    return true;
  }
  bool uuid(std::int64_t* id) {
    const std::size_t end = rest_.find('"');
    if (end == std::string_view::npos || !cell_id_from_uuid(rest_.substr(0, end), id)) return false;
    rest_.remove_prefix(end + 1);
    return true;
  }
  // {"type":"Polygon","coordinates":[[[x,y],...]]} or {"type":"Point","coordinates":[x,y]} (no polygon).
  bool geometry(std::vector<cv::Point2f>* polygon) {
    float x = 0, y = 0;
    if (take(R"({"type":"Point","coordinates":[)"))
      return number(&x) && take(",") && number(&y) && take("]}");
    if (!take(R"({"type":"Polygon","coordinates":[[)")) return false;
    do {
      if (!take("[") || !number(&x) || !take(",") || !number(&y) || !take("]")) return false;
      polygon->emplace_back(x, y);
    } while (take(","));
    if (!take("]]}")) return false;
    if (polygon->size() > 1 && polygon->front() == polygon->back()) polygon->pop_back();
    return true;
  }

 private:
  std::string_view rest_;
};

// A feature line's id and outlines (the geometry, and the nucleus when written), as read_cells_geojson reads
// them. False when the line is not in the writer's layout.
bool parse_outline_line(std::string_view line, std::int64_t* id, std::vector<cv::Point2f>* boundary,
                        std::vector<cv::Point2f>* nucleus) {
  OutlineLine f(line);
  return f.take(R"({"type":"Feature","id":")") && f.uuid(id) && f.take(R"(,"geometry":)") &&
         f.geometry(boundary) && (!f.take(R"(,"nucleusGeometry":)") || f.geometry(nucleus)) &&
         f.take(R"(,"properties":{)");
}

// getline without the '\r' of a CRLF file.
bool next_line(std::istream& in, std::string& line) {
  if (!std::getline(in, line)) return false;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return true;
}

}  // namespace

struct ResultCellsReader::Files {
  std::ifstream csv, geo;
  std::vector<char> csv_buffer = std::vector<char>(1 << 20), geo_buffer = std::vector<char>(1 << 20);
  std::string line;
  std::int64_t csv_line = 0, geo_line = 0;
};

ResultCellsReader::ResultCellsReader(fs::path csv, fs::path geojson)
    : csv_path_(std::move(csv)), geo_path_(std::move(geojson)), files_(std::make_unique<Files>()) {
  Files& f = *files_;
  f.csv.rdbuf()->pubsetbuf(f.csv_buffer.data(), static_cast<std::streamsize>(f.csv_buffer.size()));
  f.geo.rdbuf()->pubsetbuf(f.geo_buffer.data(), static_cast<std::streamsize>(f.geo_buffer.size()));
  f.csv.open(csv_path_, std::ios::binary);
  if (!f.csv) throw ResultsError(csv_path_.string() + ": cannot open: " + std::strerror(errno));
  f.geo.open(geo_path_, std::ios::binary);
  if (!f.geo) throw ResultsError(geo_path_.string() + ": cannot open: " + std::strerror(errno));
  if (!next_line(f.csv, f.line)) throw ResultsError(csv_path_.string() + ": empty file (no header)");
  f.csv_line = 1;
  header_ = cells_csv_header(f.line, csv_path_.string() + ":1");
  if (!next_line(f.geo, f.line)) throw ResultsError(geo_path_.string() + ": empty file");
  f.geo_line = 1;
  if (f.line != kCollectionLine)
    throw ResultsError(geo_path_.string() + ":1: not the FeatureCollection line ihcscore writes");
}

ResultCellsReader::~ResultCellsReader() = default;

std::vector<std::string> ResultCellsReader::measurement_names() const {
  return {header_.begin() + static_cast<std::ptrdiff_t>(cell_fixed_columns().size()), header_.end()};
}

bool ResultCellsReader::next(CellResults& chunk, std::size_t max_cells) {
  chunk = CellResults();
  for (const auto& name : measurement_names()) chunk.table.add_column(name);
  if (done_) return false;
  Files& f = *files_;
  const auto geo_where = [&] { return geo_path_.string() + ":" + std::to_string(f.geo_line); };
  while (chunk.table.size() < max_cells) {
    bool row = false;
    while (!row && next_line(f.csv, f.line)) {
      ++f.csv_line;
      if (f.line.empty()) continue;
      add_cells_csv_row(f.line, header_, csv_path_.string() + ":" + std::to_string(f.csv_line), chunk);
      row = true;
    }
    if (f.csv.bad()) throw ResultsError(csv_path_.string() + ": read error");
    const bool geo_line = next_line(f.geo, f.line);
    if (geo_line) ++f.geo_line;
    if (f.geo.bad()) throw ResultsError(geo_path_.string() + ": read error");
    if (!row) {
      // cells.csv has ended: so must the FeatureCollection, at the same cell.
      if (!geo_line) throw ResultsError(geo_path_.string() + ": ends before the FeatureCollection is closed");
      if (f.line != kCollectionEnd) {
        throw ResultsError(geo_where() + ": a feature after cells.csv's last cell (" + std::to_string(read_) +
                           " cells)");
      }
      done_ = true;
      break;
    }
    ++read_;
    if (!geo_line) throw ResultsError(geo_path_.string() + ": ends before the FeatureCollection is closed");
    if (f.line == kCollectionEnd) {
      throw ResultsError(geo_where() + ": the features end at " + std::to_string(read_ - 1) +
                         " cells, cells.csv has more");
    }
    Cell& cell = chunk.table.cells.back();
    std::int64_t id = 0;
    if (!parse_outline_line(f.line, &id, &cell.boundary, &cell.nucleus))
      throw ResultsError(geo_where() + ": not a cell feature as ihcscore writes it");
    if (id != cell.id) {
      throw ResultsError(geo_where() + ": feature " + std::to_string(read_) + " is not cells.csv's cell " +
                         std::to_string(read_) + " (another id)");
    }
  }
  return !chunk.table.cells.empty();
}

CellResults read_result_cells(const fs::path& dir) {
  const fs::path csv = dir / "cells.csv", geojson = dir / "cells.geojson";
  std::error_code ec;
  const bool has_csv = fs::exists(csv, ec), has_geojson = fs::exists(geojson, ec);
  if (has_csv && has_geojson) {
    try {
      ResultCellsReader reader(csv, geojson);
      CellResults cells;
      reader.next(cells, std::numeric_limits<std::size_t>::max());
      return cells;
    } catch (const ResultsError&) {
      // Not the pair ihcscore writes: the GeoJSON is read as any GeoJSON below.
    }
  }
  if (has_geojson) {
    CellResults cells = read_cells_geojson(geojson);
    // Regions count cells by the batch's centroids, as `ihcscore reviewed` does from cells.csv.
    if (has_csv) take_csv_centroids(read_file(csv), cells);
    return cells;
  }
  if (has_csv) return read_cells_csv(csv);
  throw ResultsError(dir.string() + ": no cells.geojson or cells.csv (is this an OUT/slides/<id> folder?)");
}

// ---------------------------------------------------------------- slide.json

namespace {

json number_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

double number_from(const json& o, const char* key) {
  if (!o.contains(key) || o[key].is_null()) return kNaN;
  return o[key].get<double>();
}

// A slide.json field that is no integer in range: the file is named by the caller.
struct FieldError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// An integer field: absent or null gives `fallback`; a number that is no integer of at least `min` (1e300,
// 2.5, a negative count) is refused. nlohmann's cast of 1e300 is undefined: a fuzzer's slide.json made
// reviewed write Num Detections -9223372036854775808 with exit 0.
std::int64_t integer_from(const json& o, const char* key, std::int64_t fallback, std::int64_t min) {
  const auto it = o.find(key);
  if (it == o.end() || it->is_null()) return fallback;
  bool ok = false;
  std::int64_t v = 0;
  if (it->is_number_unsigned()) {
    const auto u = it->get<std::uint64_t>();
    ok = u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    v = ok ? static_cast<std::int64_t>(u) : 0;
  } else if (it->is_number_integer()) {
    v = it->get<std::int64_t>();
    ok = true;
  } else if (it->is_number_float()) {
    const double d = it->get<double>();
    ok = std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.2e18;
    v = ok ? static_cast<std::int64_t>(d) : 0;
  }
  if (!ok || v < min) {
    throw FieldError(std::string("\"") + key + "\" must be an integer" +
                     (min == 0   ? " of at least 0"
                      : min == 1 ? " of at least 1"
                                 : "") +
                     ", not " + it->dump());
  }
  return v;
}

// Counts written null (unknown) read as 0, as summary.csv's empty fields do.
std::int64_t count_from(const json& o, const char* key) { return integer_from(o, key, 0, 0); }

json score_row_json(const ScoreRow& r) {
  json o;
  o["image"] = r.image;
  if (!r.region.empty()) o["region"] = r.region;
  // null where summary.csv leaves the field empty (a failed slide; grades of single-threshold positives).
  const bool failed = row_failed(r), ungraded = row_ungraded(r);
  for (const auto& c : kCountFields)
    o[c.key] = failed || (c.grade && ungraded) ? json(nullptr) : json(r.*c.member);
  for (const auto& nf : kNumberFields) o[nf.key] = number_or_null(r.*nf.member);
  o["num_positive_per_mm2"] = number_or_null(positive_per_mm2(r));
  o["group"] = r.group.empty() ? json(nullptr) : json(r.group);
  o["status"] = r.status;
  return o;
}

ScoreRow score_row_from(const json& o) {
  ScoreRow r;
  r.image = o.value("image", "");
  r.region = o.value("region", "");
  for (const auto& c : kCountFields) r.*c.member = count_from(o, c.key);
  for (const auto& nf : kNumberFields) r.*nf.member = number_from(o, nf.key);
  if (o.contains("group") && o["group"].is_string()) r.group = o["group"].get<std::string>();
  r.status = o.value("status", "");
  if (!o.contains(kAllredProportion)) r.allred_proportion = derived_allred_proportion(r);
  return r;
}

}  // namespace

bool take_recorded_grading(const SlideRecord& record, GradingParams& g) {
  if (!record.scoring_measurement.empty()) g.measurement = record.scoring_measurement;
  const auto& t = record.thresholds;
  if (t.size() == 3) {
    g.mode = ThresholdMode::Three;
    g.threshold_1plus = t[0];
    g.threshold_2plus = t[1];
    g.threshold_3plus = t[2];
    return true;
  }
  if (t.size() == 1) {
    g.mode = ThresholdMode::Single;
    g.threshold_positive = t[0];
    return true;
  }
  return false;
}

namespace {

std::string hex_bytes(std::string_view s) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char c : s) {
    const auto b = static_cast<unsigned char>(c);
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

std::string bytes_from_hex(const std::string& hex, const std::string& origin) {
  auto nibble = [&](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    throw ResultsError(origin + ": source_bytes_hex is not hexadecimal");
  };
  if (hex.size() % 2) throw ResultsError(origin + ": source_bytes_hex has an odd number of digits");
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    out += static_cast<char>(nibble(hex[i]) * 16 + nibble(hex[i + 1]));
  }
  return out;
}

}  // namespace

std::string slide_json_text(const SlideRecord& s) {
  json o;
  o["format_version"] = 1;
  o["image"] = s.image;
  o["source"] = as_utf8(s.source);
  // JSON holds only UTF-8: a Latin-1 file name is kept byte for byte in hex, so --resume and the viewer find
  // the file again (with "source" alone the next run scored it again as "name-2").
  if (!is_utf8(s.source)) o["source_bytes_hex"] = hex_bytes(s.source);
  o["source_size"] = s.source_size;
  o["source_mtime_ns"] = s.source_mtime_ns;
  if (!s.source_fingerprint.empty()) o["source_fingerprint"] = s.source_fingerprint;
  o["results_version"] = s.results_version;
  o["params_hash"] = s.params_hash;
  o["detection_hash"] = s.detection_hash;
  o["cells_detected"] = s.cells_detected;
  o["regraded"] = s.regraded;
  o["cells_files"] = s.cells_files;
  o["status"] = s.status;
  o["warnings"] = s.warnings;
  o["format"] = s.format;
  o["width"] = s.width;
  o["height"] = s.height;
  o["levels"] = s.levels;
  o["mpp_x"] = number_or_null(s.mpp_x);
  o["mpp_y"] = number_or_null(s.mpp_y);
  o["mpp_source"] = s.mpp_source;
  o["analysis_mpp"] = number_or_null(s.analysis_mpp);
  o["stains"] = s.stains;
  o["stains_source"] = s.stains_source;
  o["image_type"] = s.image_type;
  o["image_type_evidence"] = s.image_type_evidence;
  o["roi"] = s.roi;
  o["scoring_measurement"] = s.scoring_measurement;
  o["thresholds"] = s.thresholds;
  o["scores"] = score_row_json(s.total);
  o["regions"] = json::array();
  for (const auto& r : s.regions) o["regions"].push_back(score_row_json(r));
  o["parameters"] = s.parameters;
  o["timings_s"] = json::object();
  for (const auto& [k, v] : s.timings_s) o["timings_s"][k] = number_or_null(v);
  o["files"] = s.files;
  o["started"] = s.started;
  o["finished"] = s.finished;
  return json_text(o, 2) + "\n";
}

SlideRecord read_slide_json_source(const fs::path& path) {
  const std::string origin = path.string();
  json o;
  std::string problem;
  if (!parse_qupath_json(read_file(path), &o, &problem)) throw ResultsError(origin + ": " + problem);
  if (!o.is_object()) throw ResultsError(origin + ": not a slide.json");
  SlideRecord s;
  s.image = string_member(o, "image");
  const std::string hex = string_member(o, "source_bytes_hex");
  s.source = hex.empty() ? string_member(o, "source") : bytes_from_hex(hex, origin);
  const auto integer = [&](const char* key) -> std::int64_t {
    const auto it = o.find(key);
    return it != o.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
  };
  s.source_size = integer("source_size");
  s.source_mtime_ns = integer("source_mtime_ns");
  s.source_fingerprint = string_member(o, "source_fingerprint");
  return s;
}

SlideRecord parse_slide_json(std::string_view text, const std::string& origin) {
  json o;
  if (const std::string problem = json_parse_problem(text, &o); !problem.empty())
    throw ResultsError(origin + ": " + problem);
  if (!o.is_object() || !o.contains("image") || !o.contains("scores")) {
    throw ResultsError(origin + ": not a slide.json (missing \"image\" or \"scores\")");
  }
  SlideRecord s;
  try {
    s.image = o.value("image", "");
    s.source = o.contains("source_bytes_hex") ? bytes_from_hex(o.value("source_bytes_hex", ""), origin)
                                              : o.value("source", "");
    s.source_size = integer_from(o, "source_size", 0, 0);
    s.source_mtime_ns = integer_from(o, "source_mtime_ns", 0, std::numeric_limits<std::int64_t>::min());
    s.source_fingerprint = o.value("source_fingerprint", "");  // absent before session 28
    s.results_version = static_cast<int>(                      // absent before session 29
        std::min<std::int64_t>(integer_from(o, "results_version", 0, 0), std::numeric_limits<int>::max()));
    s.params_hash = o.value("params_hash", "");
    s.detection_hash = o.value("detection_hash", "");  // absent before session 24
    s.cells_detected = o.value("cells_detected", "");
    s.regraded = o.value("regraded", false);
    s.cells_files = o.value("cells_files", "");
    s.status = o.value("status", "");
    s.warnings = o.value("warnings", std::vector<std::string>{});
    s.format = o.value("format", "");
    s.width = integer_from(o, "width", 0, 0);
    s.height = integer_from(o, "height", 0, 0);
    s.levels = static_cast<int>(std::min<std::int64_t>(integer_from(o, "levels", 1, 1), 1000));
    s.mpp_x = number_from(o, "mpp_x");
    s.mpp_y = number_from(o, "mpp_y");
    s.mpp_source = o.value("mpp_source", "");
    s.analysis_mpp = number_from(o, "analysis_mpp");
    s.stains = o.value("stains", "");
    s.stains_source = o.value("stains_source", "");
    s.image_type = o.value("image_type", "");  // absent in results of versions before it
    s.image_type_evidence = o.value("image_type_evidence", "");
    s.roi = o.value("roi", "");  // absent before session 18
    s.scoring_measurement = o.value("scoring_measurement", "");
    s.thresholds = o.value("thresholds", std::vector<double>{});
    s.total = score_row_from(o["scores"]);
    if (o.contains("regions")) {
      for (const auto& r : o["regions"]) s.regions.push_back(score_row_from(r));
    }
    s.parameters = o.value("parameters", std::map<std::string, std::string>{});
    if (o.contains("timings_s")) {
      for (auto it = o["timings_s"].begin(); it != o["timings_s"].end(); ++it) {
        s.timings_s[it.key()] = it.value().is_number() ? it.value().get<double>() : kNaN;
      }
    }
    s.files = o.value("files", std::vector<std::string>{});
    s.started = o.value("started", "");
    s.finished = o.value("finished", "");
  } catch (const json::exception& e) {
    throw ResultsError(origin + ": " + json_value_error_text(e.what()));
  } catch (const FieldError& e) {
    throw ResultsError(origin + ": " + e.what());
  }
  return s;
}

bool mpp_from_file(const SlideRecord& record) {
  return !record.mpp_source.empty() && record.mpp_source != "--mpp" && record.mpp_source != "none";
}

SlideRecord read_slide_json(const fs::path& path) { return parse_slide_json(read_file(path), path.string()); }

ScoreRow score_row(const std::string& image, const Scores& s) {
  ScoreRow r;
  r.image = image;
  r.num_detections = s.detections;
  r.num_negative = s.counts.negative;
  r.num_1plus = s.counts.one_plus;
  r.num_2plus = s.counts.two_plus;
  r.num_3plus = s.counts.three_plus;
  r.num_positive = s.positive;
  r.positive_pct = s.positive_percent;
  r.h_score = s.h_score;
  r.intensity_score = s.intensity_score;
  r.ixp_score = s.ixp;
  r.allred_proportion = s.allred_proportion;
  r.allred_score = s.allred;
  r.irs = s.irs;
  r.group = s.group;
  return r;
}

}  // namespace ihc
