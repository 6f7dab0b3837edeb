#pragma once
// Result files of `ihcscore score`, written AND read here so the viewer and other tools read results the
// same way they were written (see docs/outputs.md):
//   summary.csv / summary_stats.csv / regions.csv  one row per slide (per region), QuPath or snake_case names
//   column_dictionary.csv                           maps both names, with a description
//   slides/<id>/cells.csv                           one row per cell, every measurement
//   slides/<id>/cells.geojson                       QuPath-importable FeatureCollection of cells
//   slides/<id>/slide.json                          scores, parameters, stains, timings; written last =
//   complete
// NaN is an empty CSV field and a missing (or null) JSON value.
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "models/cells.hpp"
#include "models/scoring.hpp"

namespace ihc {

class AtomicFile;

// what() names the file (and line or field) and what is wrong.
class ResultsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One row of summary.csv (region empty) or regions.csv.
struct ScoreRow {
  std::string image;
  std::string region;  // regions.csv only: the ROI's name (or "Region <n>")
  std::int64_t num_detections = 0;
  std::int64_t num_negative = 0;
  std::int64_t num_1plus = 0;
  std::int64_t num_2plus = 0;
  std::int64_t num_3plus = 0;
  std::int64_t num_positive = 0;
  double positive_pct = std::numeric_limits<double>::quiet_NaN();
  double h_score = std::numeric_limits<double>::quiet_NaN();
  double intensity_score = std::numeric_limits<double>::quiet_NaN();  // Allred intensity 0-3 (mean grade of
                                                                      // positive cells, rounded)
  double ixp_score = std::numeric_limits<double>::quiet_NaN();
  double allred_proportion = std::numeric_limits<double>::quiet_NaN();  // 0-5, QuPath's "Allred proportion"
  double allred_score = std::numeric_limits<double>::quiet_NaN();
  double irs = std::numeric_limits<double>::quiet_NaN();
  std::string group;  // "High", "Low", or "" (no group_score asked, or that score undefined)
  double tissue_area_mm2 = std::numeric_limits<double>::quiet_NaN();
  double mpp = std::numeric_limits<double>::quiet_NaN();
  std::string status;  // "ok", "no tissue found", "ok; scored in pixels (no mpp, give --mpp)", "FAILED:
                       // <reason>" (a FAILED row has empty count fields in the CSV)
};

// "ok", "ok; scored in pixels ...", "ok; reviewed": the slide (or region) was scored.
bool status_ok(const std::string& status);
// Fewer cells than this: a row's Status says how few ("ok; only 3 cells"), and cohort warns of such slides.
inline constexpr std::int64_t kFewCells = 20;

// QuPath's "Num Positive per mm^2": positive cells over the row's tissue (or region) area; NaN without an
// area (no mpp, no tissue) and for a failed row. Derived when written, so it always agrees with the row.
double positive_per_mm2(const ScoreRow& r);

// The counts and scores of a row, filled from one Scores (the batch and the viewer share this, so their
// tables agree to the last digit); tissue area, mpp and status are left for the caller.
ScoreRow score_row(const std::string& image, const Scores& scores);

struct SummaryColumn {
  std::string qupath;       // "Num 1+"
  std::string stats;        // "num_1plus"
  std::string description;  // one line, with the unit
};
// The summary columns in file order (Image first, Status last). Region is inserted after Image in
// regions.csv.
const std::vector<SummaryColumn>& summary_columns();
const SummaryColumn& region_column();

enum class ColumnNames { QuPath, Stats };
std::string summary_csv(const std::vector<ScoreRow>& rows, ColumnNames names, bool with_region = false);
// Reads either naming (and an optional Region column). Throws ResultsError naming `origin` and the line.
std::vector<ScoreRow> parse_summary_csv(std::string_view text, const std::string& origin);
std::vector<ScoreRow> read_summary_csv(const std::filesystem::path& path);
// column_dictionary.csv: "qupath_name,stats_name,description".
std::string column_dictionary_csv();

// ---- per-cell tables

// Cells with their classes; classes[i] belongs to table.cells[i].
struct CellResults {
  CellTable table;
  std::vector<CellClass> classes;
};

// Deterministic UUID (version-4 layout) whose low 62 bits are the cell id, so cells.csv and cells.geojson
// agree and a reader recovers Cell::id. `seed` comes from slide_uuid_seed(image id).
std::string cell_uuid(std::uint64_t seed, std::int64_t cell_id);
std::uint64_t slide_uuid_seed(std::string_view image_id);
// Recovers the cell id; false when `uuid` is not a UUID.
bool cell_id_from_uuid(std::string_view uuid, std::int64_t* id);

struct CellsFileOptions {
  std::uint64_t uuid_seed = 0;
  double mpp_x =
      std::numeric_limits<double>::quiet_NaN();  // NaN: the "um" columns are empty (never invented)
  double mpp_y = std::numeric_limits<double>::quiet_NaN();
  // cells.csv's measurement columns when no chunk comes (no cells): a slide without cells has the same header
  // as the others, so code that picks a column across slides finds it.
  std::vector<std::string> measurement_names;
};

// Streaming writers: chunks (e.g. tiles) are appended as they come so a slide's cells need not be in memory.
// The first chunk fixes the measurement columns; later chunks are matched by name (missing = empty).
class CellsCsvWriter {
 public:
  CellsCsvWriter(AtomicFile& file, CellsFileOptions options);
  void append(const CellTable& table, const std::vector<CellClass>& classes);
  void finish();  // writes the header (options.measurement_names) if no chunk came
  std::int64_t rows() const { return rows_; }

 private:
  void write_header(const std::vector<std::string>& names);
  AtomicFile& file_;
  CellsFileOptions options_;
  std::vector<std::string> names_;
  bool header_written_ = false;
  std::int64_t rows_ = 0;
};

class CellsGeoJsonWriter {
 public:
  CellsGeoJsonWriter(AtomicFile& file, CellsFileOptions options);
  void append(const CellTable& table, const std::vector<CellClass>& classes);
  void finish();  // closes the FeatureCollection
  std::int64_t features() const { return features_; }

 private:
  AtomicFile& file_;
  CellsFileOptions options_;
  std::int64_t features_ = 0;
  bool finished_ = false;
};

// Whole-table conveniences (atomic).
void write_cells_csv(const std::filesystem::path& path, const CellResults& cells,
                     const CellsFileOptions& options);
void write_cells_geojson(const std::filesystem::path& path, const CellResults& cells,
                         const CellsFileOptions& options);
// Readers; throw ResultsError naming the file and line (CSV) or feature index (GeoJSON).
// The CSV gives centroids and measurements (no polygons); the GeoJSON gives polygons too.
CellResults read_cells_csv(const std::filesystem::path& path);
CellResults parse_cells_csv(std::string_view text, const std::string& origin);
CellResults read_cells_geojson(const std::filesystem::path& path);
CellResults parse_cells_geojson(std::string_view text, const std::string& origin);
// cells.csv and cells.geojson of one result folder read together, chunk by chunk, so that a slide's cells
// need never all be in memory (the batch's regrade of a slide of millions of cells): each chunk holds
// cells.csv's rows (ids, classes, centroids, measurements) with cells.geojson's outlines (the polygons
// read_cells_geojson gives). The GeoJSON is read by a scanner of the layout CellsGeoJsonWriter writes, one
// feature a line: several times faster than a JSON reader. Throws ResultsError naming the file and line when
// either is broken, the GeoJSON is in another layout (edited, or written by QuPath), or they list different
// cells.
class ResultCellsReader {
 public:
  ResultCellsReader(std::filesystem::path csv, std::filesystem::path geojson);
  ~ResultCellsReader();
  ResultCellsReader(const ResultCellsReader&) = delete;
  ResultCellsReader& operator=(const ResultCellsReader&) = delete;
  std::vector<std::string> measurement_names() const;  // cells.csv's, after the fixed columns
  // The next cells, at most `max_cells`, into `chunk` (replaced; its columns are measurement_names()). False
  // when none are left, once both files were checked to end together.
  bool next(CellResults& chunk, std::size_t max_cells);
  std::int64_t cells_read() const { return read_; }

 private:
  struct Files;
  std::filesystem::path csv_path_, geo_path_;
  std::unique_ptr<Files> files_;
  std::vector<std::string> header_;
  std::int64_t read_ = 0;
  bool done_ = false;
};
// The cells of a result folder (OUT/slides/<id>, the viewer's): cells.csv's rows (ids, classes, the batch's
// centroids that regions count by, measurements) with cells.geojson's outlines, by ResultCellsReader
// (200 000 cells: about a second; the JSON reader took about 6 s). A GeoJSON in another layout (edited, or
// written by QuPath) is read by read_cells_geojson, with the CSV's centroids when it lists the same cells; a
// folder with one of the files gives what it holds. Throws ResultsError naming the folder when it has
// neither.
CellResults read_result_cells(const std::filesystem::path& dir);
// The GeoJSON has no centroid field: its reader takes the outline's, which is not the centroid the batch
// counted regions with (the cell's pixels), and a cell within a pixel of a region edge can fall on the other
// side. This puts cells.csv's centroids (the batch's) on cells read from the GeoJSON of the same folder.
// False, leaving `cells` as it is, unless the CSV lists the same cell ids in the same order.
bool take_csv_centroids(std::string_view csv_text, CellResults& cells);

// ---- slide.json: the per-slide record, written last (its presence marks the slide's outputs complete).

struct SlideRecord {
  std::string image;                 // output id (folder name under slides/)
  std::string source;                // input path as given
  std::int64_t source_size = 0;      // bytes, for --resume
  std::int64_t source_mtime_ns = 0;  // for --resume
  std::string source_fingerprint;    // file_fingerprint of the source; empty in files before session 28
  // The results version (imaging/pipeline.hpp kResultsVersion) of the program that wrote it; 0 in files
  // before session 29.
  int results_version = 0;
  std::string params_hash;  // hash of the resolved parameters (hex)
  // Hash of the parameters the cells depend on (all but grading's): a --resume whose parameters differ only
  // in grading regrades the cells on disk instead of detecting them again. Empty in results before it.
  std::string detection_hash;
  // When the cells were detected (ISO 8601 UTC): `started` of the run that detected them, an earlier run's
  // when `regraded`.
  std::string cells_detected;
  bool regraded = false;  // the cells were graded again from an earlier run's cells.csv/cells.geojson
  // "cells.csv <bytes> <mtime ns>; cells.geojson <bytes> <mtime ns>" as written: a regrade takes only these.
  std::string cells_files;
  std::string status = "ok";  // same text as the summary's Status
  std::vector<std::string> warnings;
  std::string format;      // "aperio", "png", ...
  std::int64_t width = 0;  // level 0
  std::int64_t height = 0;
  int levels = 1;
  double mpp_x = std::numeric_limits<double>::quiet_NaN();
  double mpp_y = std::numeric_limits<double>::quiet_NaN();
  std::string mpp_source;
  double analysis_mpp =
      std::numeric_limits<double>::quiet_NaN();  // pixel size cells were detected at (NaN: pixels)
  std::string stains;                            // QuPath stain string used
  std::string stains_source;                     // "preset H-DAB" or "estimated from the slide"
  std::string image_type;  // estimated from the overview: "Brightfield (H-DAB)", "Brightfield (H&E)", ...
  std::string image_type_evidence;  // the figures it was decided on
  std::string roi;                  // the ROI file its regions came from ("" for none)
  std::string scoring_measurement;  // e.g. "Cell: DAB OD mean"
  std::vector<double> thresholds;   // 1+, 2+, 3+ (or one in single-threshold mode)
  ScoreRow total;
  std::vector<ScoreRow> regions;
  std::map<std::string, std::string> parameters;  // resolved key -> value
  std::map<std::string, double> timings_s;        // "open", "tissue", "detection", "write", "total"
  std::vector<std::string> files;                 // output files of the slide (relative names)
  std::string started;                            // ISO 8601 UTC
  std::string finished;
};

// The record's pixel size is the file's own (not --mpp, not missing): --mpp did not change its results.
bool mpp_from_file(const SlideRecord& record);

// Puts the grading a slide.json records on `g`: its scoring_measurement when it has one, and its thresholds
// (three: 1+/2+/3+; one: single mode). False when it records no thresholds (g's stay). What the viewer starts
// a review with, and what `reviewed` grades a review without thresholds with.
bool take_recorded_grading(const SlideRecord& record, GradingParams& g);

std::string slide_json_text(const SlideRecord& record);
SlideRecord parse_slide_json(std::string_view text, const std::string& origin);  // throws ResultsError
SlideRecord read_slide_json(const std::filesystem::path& path);
// Only what names a slide.json's slide (image, source, source_size, source_mtime_ns), read leniently (bare
// NaN, a mistyped field elsewhere): one bad field no longer cuts a slide off from its folder and review.
// Throws ResultsError when the file is not a JSON object.
SlideRecord read_slide_json_source(const std::filesystem::path& path);

// CSV helpers shared with other writers: RFC 4180 quoting when needed; NaN -> "".
std::string csv_field(std::string_view text);
// A tab-separated field (errors.tsv) on one line: tabs and newlines become spaces; quoted, with doubled
// quotes, when it holds a '"', which R's read.delim and Python's csv would otherwise take for the start of a
// quote.
std::string tsv_field(std::string_view text);
std::string format_number(double v);  // shortest text that reads back exactly; NaN -> ""
std::vector<std::string> split_csv_line(std::string_view line, char delimiter = ',');  // handles quotes

}  // namespace ihc
