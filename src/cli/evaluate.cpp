// ihcscore evaluate: detects and grades cells in annotated images (or reads another tool's cells) and reports
// the agreement with the annotated points (one-to-one matching within a radius): precision/recall/F1,
// per-class F1, Positive %.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli/cli_common.hpp"
#include "cli/commands.hpp"
#include "imaging/cell_detection.hpp"
#include "imaging/nucleus_detection.hpp"
#include "imaging/pipeline.hpp"
#include "imaging/slide.hpp"
#include "imaging/stain_estimation.hpp"
#include "imaging/stains.hpp"
#include "models/atomic_file.hpp"
#include "models/evaluation.hpp"
#include "models/presets.hpp"
#include "models/qupath_io.hpp"
#include "models/results_io.hpp"
#include "models/scoring.hpp"
#include "models/text.hpp"
#include "models/truth_io.hpp"

namespace ihc::cli {
namespace {

namespace fs = std::filesystem;

struct Options {
  std::vector<std::string> images;
  std::vector<std::string> truths;
  std::vector<std::string> regions;
  std::vector<std::string> detections;  // another tool's (or an earlier run's) cells instead of detecting
  std::string detections_format;        // empty: from the extension and the content
  std::string truth_format;             // empty: from the extension
  std::string labels;
  int mask_min_area_px = 10;
  std::string image_crop;
  std::string truth_crop;
  double mpp = 0.0;
  double radius_px = 10.0;
  double radius_um = 0.0;
  std::string preset = "dsg2";
  std::string params_file;
  std::vector<std::string> sets;
  std::string stains;  // empty: the parameters' stain_vectors, background and estimate_stains, as `score`
  std::vector<std::string> outputs;
  std::string overlay_dir;
  std::string cells_dir;
};

// "x,y,w,h" -> rect; empty text -> empty rect.
cv::Rect parse_crop(const std::string& text, const std::string& option) {
  if (text.empty()) return {};
  int v[4];
  char c1, c2, c3;
  std::istringstream in(text);
  if (!(in >> v[0] >> c1 >> v[1] >> c2 >> v[2] >> c3 >> v[3]) || c1 != ',' || c2 != ',' || c3 != ',' ||
      !(in >> std::ws).eof() || v[0] < 0 || v[1] < 0 || v[2] <= 0 || v[3] <= 0) {
    throw std::runtime_error(option + ": '" + text +
                             "' is not x,y,width,height (x, y >= 0; width, height > 0)");
  }
  return {v[0], v[1], v[2], v[3]};
}

cv::Mat crop_or_throw(const cv::Mat& m, const cv::Rect& crop, const std::string& option,
                      const std::string& path) {
  if (crop.empty()) return m;
  if ((crop & cv::Rect(0, 0, m.cols, m.rows)) != crop) {
    throw std::runtime_error(path + ": " + option + " " + std::to_string(crop.x) + "," +
                             std::to_string(crop.y) + "," + std::to_string(crop.width) + "," +
                             std::to_string(crop.height) + " lies outside the image (" +
                             std::to_string(m.cols) + "x" + std::to_string(m.rows) + ")");
  }
  return m(crop).clone();
}

// How an image's stains are found with --stains: `fixed` as given, or per image from the H-DAB vectors.
// Without --stains (`from_params`), as score finds them for the image (image_stains).
struct StainChoice {
  std::string mode;  // "", "estimate" or "background"
  StainMatrix fixed;
  StainMatrix reference;
  bool from_params = false;
};

StainChoice stain_choice(const std::string& option) {
  StainChoice c;
  if (option.empty()) {
    c.from_params = true;
    return c;
  }
  c.mode = option == "estimate" || option == "background" ? option : "";
  c.fixed = c.reference = c.mode.empty() ? stains_from_text(option) : stain_preset("H-DAB");
  return c;
}

// Per-image stains for --stains estimate (QuPath's "Estimate stain vectors": background and Macenko vectors)
// or --stains background (default vectors, estimated background: camera images are rarely white-balanced).
// Falls back to the default vectors with the estimated background when the vectors cannot be estimated.
StainMatrix stains_for_image(const StainChoice& choice, const cv::Mat& rgb, const std::string& name,
                             std::string* note) {
  const std::string& mode = choice.mode;
  if (mode != "estimate" && mode != "background") return choice.fixed;
  const StainMatrix& reference = choice.reference;
  auto with_background = [&](const BackgroundEstimate& bg) {
    return StainMatrix::from_vectors(reference.name + " (estimated background)", reference.stains[0],
                                     reference.stains[1], nullptr, bg.background);
  };
  char buf[160];
  if (mode == "estimate") {
    try {
      const StainEstimate est = estimate_stains(rgb, reference);
      std::snprintf(buf, sizeof buf,
                    "stains estimated (background %.0f %.0f %.0f; H %.1f deg, DAB %.1f deg off default)",
                    est.matrix.background[0], est.matrix.background[1], est.matrix.background[2],
                    est.deviation_deg[0], est.deviation_deg[1]);
      *note = buf;
      return est.matrix;
    } catch (const StainError& e) {
      std::fprintf(stderr,
                   "%s: warning: stain vectors not estimated (%s); default vectors, estimated background\n",
                   name.c_str(), e.what());
    }
  }
  const BackgroundEstimate bg = estimate_background(rgb);
  std::snprintf(buf, sizeof buf, "default vectors, background %.0f %.0f %.0f%s", bg.background[0],
                bg.background[1], bg.background[2], bg.found ? "" : " (no bright pixels: kept white)");
  *note = buf;
  return with_background(bg);
}

// Cells read from a file instead of detected: ihcscore's or QuPath's cells (cells.csv with "Centroid X px"
// and "Classification"; QuPath's measurement table; cells.geojson and QuPath's GeoJSON of cells or
// detections), or points in any truth format (CSV, JSON, colour mask, QuPath render) for tools such as
// DeepLIIF that write masks. `rows` are the cells' measurements when the file has them.
struct ReadDetections {
  std::vector<PredictedPoint> points;
  CellTable rows;
  std::string format;
  int left_out = 0;  // ignore-labelled points and cells outside the evaluated image (crop)
  // "12 detections without an intensity class (Tumor: 10, unclassified: 2) left out", or empty.
  std::string without_class;
};

std::string first_line_or_char(const std::string& path, bool line) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + (fs::exists(path) ? ": cannot be read" : ": no such file"));
  std::string text;
  if (line) {
    std::getline(in, text);
    return text;
  }
  char c = 0;
  while (in.get(c))
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return std::string(1, c);
  return {};
}

bool known_detections_format(const std::string& name) {
  static const std::set<std::string> kKnown = {"cells-csv", "geojson",       "csv",     "json",
                                               "mask",      "qupath-render", "deepliif"};
  return kKnown.count(name) != 0;
}

std::string detections_format_of(const std::string& path, const std::string& given) {
  if (!given.empty()) return given;  // checked with the other options
  const std::string ext = ascii_lower(fs::path(path).extension().string());
  if (ext == ".geojson") return "geojson";
  if (ext == ".json") return truth_format_from_file(path) == TruthFormat::GeoJson ? "geojson" : "json";
  if (ext == ".png" || ext == ".tif" || ext == ".tiff" || ext == ".bmp")
    return std::string(truth_format_name(truth_format_from_path(path)));
  // Tables by their header: QuPath exports its measurement tables as .tsv, .txt or .csv.
  const std::string header = first_line_or_char(path, true);
  if (is_qupath_measurement_table(header) || header.find("Centroid X px") != std::string::npos)
    return "cells-csv";
  if (ext == ".csv" || ext == ".tsv" || ext == ".txt") return "csv";
  return std::string(truth_format_name(truth_format_from_path(path)));
}

// "Tumor: 10, unclassified: 2": most first.
std::string class_counts_text(const std::map<std::string, std::size_t>& counts) {
  std::vector<std::pair<std::string, std::size_t>> sorted(counts.begin(), counts.end());
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::vector<std::string> items;
  items.reserve(sorted.size());
  for (const auto& [name, n] : sorted) items.push_back(name + ": " + std::to_string(n));
  return join(items, ", ");
}

ReadDetections read_detections(const std::string& path, const std::string& format_given,
                               const LabelMap* custom_labels, const cv::Rect& image_crop,
                               const cv::Size& full_size, const cv::Size& size, int mask_min_area_px,
                               const cv::Point2d& mpp) {
  ReadDetections out;
  out.format = detections_format_of(path, format_given);
  const cv::Point2d shift(image_crop.x, image_crop.y);
  auto inside = [&](const cv::Point2d& p) {
    return p.x >= 0 && p.y >= 0 && p.x < size.width && p.y < size.height;
  };
  if (out.format == "cells-csv" || out.format == "geojson") {
    QuPathCells read;
    if (out.format == "geojson") {
      read = read_geojson_cells(path, CellFileRules::QuPath);
    } else if (is_qupath_measurement_table(first_line_or_char(path, true))) {
      read = read_qupath_measurement_table(path, mpp.x, mpp.y);
      out.format = "QuPath measurement table";
    } else {
      read.cells = read_cells_csv(path);
    }
    CellResults& cells = read.cells;
    // ihcscore's own folder: cells.csv beside the GeoJSON has the exact centroids the batch counted with.
    const fs::path beside = fs::path(path).parent_path() / "cells.csv";
    std::error_code ec;
    const bool exact = out.format == "geojson" && fs::is_regular_file(beside, ec) &&
                       take_csv_centroids(read_file(beside), cells);
    // As QuPath's counts: a cell counts by its intensity class (a derived class's last part); cells of other
    // classes, or of none, are neither positive nor negative and are left out.
    std::vector<std::uint8_t> classed(cells.table.size(), 1);
    std::map<std::string, std::size_t> other_classes;
    for (std::size_t i = 0; i < read.class_names.size(); ++i) {
      CellClass c{};
      if (qupath_intensity_class(read.class_names[i], &c)) continue;
      classed[i] = 0;
      ++other_classes[read.class_names[i].empty() ? "unclassified" : read.class_names[i]];
    }
    std::size_t unclassed = 0;
    for (const auto& [name, n] : other_classes) unclassed += n;
    if (unclassed > 0) {
      out.without_class = count_of(unclassed, "detection") + " without an intensity class (" +
                          class_counts_text(other_classes) + ")";
      if (unclassed == cells.table.size()) {
        throw std::runtime_error(path + ": " + out.without_class +
                                 ": nothing to compare (classify them Positive/Negative or 1+/2+/3+, as "
                                 "QuPath's positive cell detection does)");
      }
      out.without_class += " left out";
    }
    // One "Positive" (single-threshold) class means the file has no intensity grades.
    bool graded = true;
    for (std::size_t i = 0; i < cells.classes.size(); ++i)
      graded = graded && !(classed[i] && cells.classes[i] == CellClass::Positive);
    std::vector<std::uint8_t> keep(cells.table.size(), 0);
    for (std::size_t i = 0; i < cells.table.size(); ++i) {
      if (!classed[i]) continue;
      Cell& cell = cells.table.cells[i];
      // The GeoJSON reader gives the cell outline's centroid; ihcscore's own is the nucleus's.
      if (out.format == "geojson" && !exact && cell.nucleus.size() >= 3) {
        const cv::Moments m = cv::moments(cell.nucleus);
        if (m.m00 != 0) cell.centroid = {m.m10 / m.m00, m.m01 / m.m00};
      }
      cell.centroid -= shift;
      if (!inside(cell.centroid)) continue;
      keep[i] = 1;
      out.points.push_back(
          {cell.centroid, is_positive(cells.classes[i]), graded ? class_grade(cells.classes[i]) : -1});
    }
    out.left_out = static_cast<int>(cells.table.size() - unclassed - out.points.size());
    out.rows = keep_cells(std::move(cells.table), keep);
    return out;
  }
  std::vector<TruthPoint> points;
  if (out.format == "mask" || out.format == "qupath-render" || out.format == "deepliif") {
    cv::Mat bgr = cv::imread(path, cv::IMREAD_COLOR);
    if (bgr.empty()) {
      throw std::runtime_error(
          path + (fs::exists(path) ? ": cannot decode the detections image" : std::string(": no such file")));
    }
    cv::Mat rgb;
    cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
    // A mask of the whole image is cut like the image; otherwise it must be the evaluated size.
    if (rgb.size() == full_size && !image_crop.empty()) rgb = rgb(image_crop).clone();
    if (rgb.size() != size) {
      throw std::runtime_error(path + ": the detections image is " + std::to_string(rgb.cols) + "x" +
                               std::to_string(rgb.rows) + " but the image is " + std::to_string(size.width) +
                               "x" + std::to_string(size.height));
    }
    if (out.format == "mask") {
      points = truth_from_mask(rgb, {mask_min_area_px}, path);
    } else if (out.format == "deepliif") {
      DeepliifSegmentationParams dp;
      dp.min_area_px = mask_min_area_px;
      points = cells_from_deepliif_segmentation(rgb, dp, path);
    } else {
      points = truth_from_qupath_render(rgb, {}, path);
    }
  } else {
    const TruthFormat f = out.format == "json" ? TruthFormat::Json : TruthFormat::Csv;
    const LabelMap labels = custom_labels != nullptr ? *custom_labels : default_label_map(f);
    points = f == TruthFormat::Json ? read_truth_json(path, labels) : read_truth_csv(path, labels);
    for (auto& p : points) p.position -= shift;
  }
  for (const auto& p : points) {
    if (p.label == TruthLabel::Ignore || !inside(p.position)) continue;
    out.points.push_back({p.position, p.label == TruthLabel::Positive, p.grade});
  }
  out.left_out = static_cast<int>(points.size() - out.points.size());
  return out;
}

// A batch's cells of another image would be compared with this image's truth without a word: the slide.json
// beside them names the image they were detected on. A slide.json that does not parse is not evaluate's to
// judge.
void warn_if_detected_on_another_image(const std::string& detections, const std::string& image,
                                       const std::string& name) {
  const fs::path record = fs::path(detections).parent_path() / "slide.json";
  std::error_code ec;
  if (!fs::is_regular_file(record, ec)) return;
  SlideRecord rec;
  try {
    rec = read_slide_json(record);
  } catch (const std::exception&) {
    return;
  }
  const fs::path source = fs::path(rec.source).filename();
  const fs::path evaluated = fs::path(image).filename();
  if (source.empty() || source == evaluated) return;
  std::fprintf(stderr, "warning: %s: %s holds the cells of %s (%s), not of %s\n", name.c_str(),
               detections.c_str(), source.string().c_str(), record.string().c_str(),
               evaluated.string().c_str());
}

std::string fmt(double v, int decimals = 3) {
  if (std::isnan(v)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string csv_value_of(double v) { return std::isnan(v) ? "" : fmt(v, 4); }

nlohmann::json num(double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); }

nlohmann::json counts_json(const ClassCounts& c) {
  return {{"tp", c.tp},
          {"fp", c.fp},
          {"fn", c.fn},
          {"precision", num(c.precision())},
          {"recall", num(c.recall())},
          {"f1", num(c.f1())}};
}

// Names shown in tables: the file stem, or parent/stem when stems repeat (AdamDlubak's base.png).
std::vector<std::string> display_names(const std::vector<std::string>& images) {
  std::map<std::string, int> stem_count;
  for (const auto& p : images) ++stem_count[fs::path(p).stem().string()];
  std::vector<std::string> names;
  for (const auto& p : images) {
    const fs::path path(p);
    const std::string stem = path.stem().string();
    names.push_back(stem_count[stem] > 1 ? path.parent_path().filename().string() + "/" + stem : stem);
  }
  return names;
}

void draw_overlay(const fs::path& file, const cv::Mat& rgb, const std::vector<PredictedPoint>& pred,
                  const std::vector<TruthPoint>& truth, const ImageEvaluation& ev, double radius_px,
                  const cv::Mat& region) {
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  if (!region.empty()) {
    std::vector<std::vector<cv::Point>> contours;
    cv::findContours(region.clone(), contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
    cv::drawContours(bgr, contours, -1, cv::Scalar(0, 200, 0), 2);
  }
  std::vector<char> pred_matched(pred.size(), 0), truth_matched(truth.size(), 0);
  for (const auto& p : ev.pairs) {
    pred_matched[p.predicted] = 1;
    truth_matched[p.truth] = 1;
    cv::line(bgr, pred[p.predicted].position, truth[p.truth].position, cv::Scalar(0, 220, 0), 1, cv::LINE_AA);
  }
  // Truth: circles of the match radius (red positive, blue negative, grey ignored); thick when missed.
  for (std::size_t j = 0; j < truth.size(); ++j) {
    const cv::Scalar colour = truth[j].label == TruthLabel::Positive   ? cv::Scalar(0, 0, 255)
                              : truth[j].label == TruthLabel::Negative ? cv::Scalar(255, 0, 0)
                                                                       : cv::Scalar(160, 160, 160);
    cv::circle(bgr, truth[j].position, static_cast<int>(std::lround(radius_px)), colour,
               truth_matched[j] ? 1 : 3, cv::LINE_AA);
  }
  // Detections: dots, positive dark red #C80000 (darker than the truth circles' pure red), negative in
  // QuPath's #7070E1; yellow ring when unmatched.
  for (std::size_t i = 0; i < pred.size(); ++i) {
    const cv::Scalar colour = pred[i].positive ? cv::Scalar(0, 0, 200) : cv::Scalar(225, 112, 112);
    cv::circle(bgr, pred[i].position, 3, colour, cv::FILLED, cv::LINE_AA);
    if (!pred_matched[i]) cv::circle(bgr, pred[i].position, 6, cv::Scalar(0, 230, 255), 2, cv::LINE_AA);
  }
  std::vector<unsigned char> png;
  if (!cv::imencode(".png", bgr, png))
    throw std::runtime_error(file.string() + ": cannot encode the overlay");
  write_file_atomic(file, std::string_view(reinterpret_cast<const char*>(png.data()), png.size()));
}

// One row per detection (its partner's label, or "none") and per annotated point without a partner
// (kind "missed"); points outside the region are included, as the overlay shows them.
void write_cells_csv(const fs::path& file, const CellTable& cells, const std::vector<PredictedPoint>& pred,
                     const std::vector<TruthPoint>& truth, const ImageEvaluation& ev) {
  std::vector<int> partner(pred.size(), -1);
  std::vector<char> truth_matched(truth.size(), 0);
  for (const auto& p : ev.pairs) {
    partner[static_cast<std::size_t>(p.predicted)] = p.truth;
    truth_matched[static_cast<std::size_t>(p.truth)] = 1;
  }
  std::ostringstream s;
  s << "kind,x,y,predicted,truth,major_px,minor_px";
  for (const auto& n : cells.names) s << ",\"" << n << '"';
  s << '\n';
  for (std::size_t i = 0; i < pred.size(); ++i) {
    const int t = partner[i];
    s << "detection," << fmt(pred[i].position.x, 1) << ',' << fmt(pred[i].position.y, 1) << ','
      << (pred[i].positive ? "positive" : "negative") << ','
      << (t < 0 ? std::string("none")
                : std::string(truth_label_name(truth[static_cast<std::size_t>(t)].label)));
    // Axes of the ellipse with the nucleus outline's second moments (full lengths).
    double major = NAN, minor = NAN;
    if (i < cells.cells.size() && cells.cells[i].nucleus.size() >= 3) {
      const cv::Moments m = cv::moments(cells.cells[i].nucleus);
      if (m.m00 > 0) {
        const EllipseAxes e = ellipse_axes(m);
        major = e.major;
        minor = e.minor;
      }
    }
    s << ',' << csv_value_of(major) << ',' << csv_value_of(minor);
    for (std::size_t c = 0; c < cells.columns.size(); ++c) s << ',' << csv_value_of(cells.columns[c][i]);
    s << '\n';
  }
  for (std::size_t j = 0; j < truth.size(); ++j) {
    if (truth_matched[j]) continue;
    s << "missed," << fmt(truth[j].position.x, 1) << ',' << fmt(truth[j].position.y, 1) << ",,"
      << truth_label_name(truth[j].label) << ",,";
    for (std::size_t c = 0; c < cells.columns.size(); ++c) s << ',';
    s << '\n';
  }
  write_file_atomic(file, s.str());
}

constexpr const char* kGradeNames[kGrades] = {"Negative", "1+", "2+", "3+"};

nlohmann::json scores_json(const std::array<int, kGrades>& counts, const ScoreOptions& options) {
  const Scores s = scores_of_grades(counts, options);
  return {{"counts", counts},
          {"positive_percent", num(s.positive_percent)},
          {"h_score", num(s.h_score)},
          {"intensity_score", num(s.intensity_score)},
          {"ixp", num(s.ixp)}};
}

// Null when the truth or the grading has no intensity grades.
nlohmann::json grades_json(const GradeAgreement& g, const ScoreOptions& options) {
  if (!g.available) return nullptr;
  nlohmann::json per = nlohmann::json::object();
  for (int k = 0; k < kGrades; ++k) per[kGradeNames[k]] = counts_json(g.per_grade(k));
  return {{"classes", kGradeNames},
          {"confusion_truth_by_predicted", g.confusion},
          {"per_grade", per},
          {"weighted_kappa", num(g.weighted_kappa())},
          {"predicted", scores_json(g.predicted, options)},
          {"truth", scores_json(g.truth, options)}};
}

// Grade agreement on stdout: pooled confusion matrix, per-grade F1, weighted kappa, scores per image.
void print_grades(const std::vector<ImageEvaluation>& results, const EvaluationSummary& sum,
                  const ScoreOptions& options) {
  const GradeAgreement& g = sum.grades;
  std::printf("\nGrades (matched pairs, pooled): rows truth, columns predicted\n%-10s", "");
  for (const char* n : kGradeNames) std::printf(" %8s", n);
  std::printf(" %8s %6s\n", "F1", "recall");
  for (int t = 0; t < kGrades; ++t) {
    std::printf("%-10s", kGradeNames[t]);
    for (int p = 0; p < kGrades; ++p) std::printf(" %8d", g.confusion[t][p]);
    const ClassCounts c = g.per_grade(t);
    std::printf(" %8s %6s\n", fmt(c.f1()).c_str(), fmt(c.recall()).c_str());
  }
  std::printf("Linearly weighted kappa %s over %d matched cells\n", fmt(g.weighted_kappa()).c_str(),
              g.matched());
  std::printf("%-22s %7s %7s %6s %6s %7s %7s %6s\n", "image", "H pred", "H true", "I pred", "I true",
              "IxP pred", "IxP true", "kappa");
  for (const auto& r : results) {
    const Scores p = scores_of_grades(r.grades.predicted, options);
    const Scores t = scores_of_grades(r.grades.truth, options);
    std::printf("%-22s %7s %7s %6s %6s %7s %7s %6s\n", r.name.c_str(), fmt(p.h_score, 1).c_str(),
                fmt(t.h_score, 1).c_str(), fmt(p.intensity_score, 0).c_str(),
                fmt(t.intensity_score, 0).c_str(), fmt(p.ixp, 1).c_str(), fmt(t.ixp, 1).c_str(),
                fmt(r.grades.weighted_kappa()).c_str());
  }
  std::printf("Mean |predicted - true| over images: H-score %s, intensity score %s, IxP %s\n",
              fmt(sum.mean_abs_h_score_diff, 1).c_str(), fmt(sum.mean_abs_intensity_diff, 2).c_str(),
              fmt(sum.mean_abs_ixp_diff, 1).c_str());
}

std::string csv_header() {
  return "image,predicted,predicted_positive,truth,truth_positive,matched_ignored,outside_region,tp,fp,fn,"
         "precision,recall,f1,positive_tp,positive_fp,positive_fn,positive_f1,negative_tp,negative_fp,"
         "negative_fn,"
         "negative_f1,predicted_positive_percent,truth_positive_percent,abs_percent_diff,weighted_kappa,"
         "h_score_predicted,h_score_truth,intensity_score_predicted,intensity_score_truth,ixp_predicted,"
         "ixp_truth\n";
}

std::string csv_value(double v) { return std::isnan(v) ? "" : fmt(v, 4); }

std::string csv_row(const std::string& name, int predicted, int predicted_positive, int truth,
                    int truth_positive, int matched_ignored, int outside_region, const ClassCounts& det,
                    const ClassCounts& pos, const ClassCounts& neg, double pred_pct, double true_pct,
                    double diff, const GradeAgreement& grades, const ScoreOptions& options) {
  std::ostringstream s;
  s << name << ',' << predicted << ',' << predicted_positive << ',' << truth << ',' << truth_positive << ','
    << matched_ignored << ',' << outside_region << ',' << det.tp << ',' << det.fp << ',' << det.fn << ','
    << csv_value(det.precision()) << ',' << csv_value(det.recall()) << ',' << csv_value(det.f1()) << ','
    << pos.tp << ',' << pos.fp << ',' << pos.fn << ',' << csv_value(pos.f1()) << ',' << neg.tp << ','
    << neg.fp << ',' << neg.fn << ',' << csv_value(neg.f1()) << ',' << csv_value(pred_pct) << ','
    << csv_value(true_pct) << ',' << csv_value(diff);
  if (grades.available) {
    const Scores p = scores_of_grades(grades.predicted, options);
    const Scores t = scores_of_grades(grades.truth, options);
    s << ',' << csv_value(grades.weighted_kappa()) << ',' << csv_value(p.h_score) << ','
      << csv_value(t.h_score) << ',' << csv_value(p.intensity_score) << ',' << csv_value(t.intensity_score)
      << ',' << csv_value(p.ixp) << ',' << csv_value(t.ixp);
  } else {
    s << ",,,,,,,";
  }
  s << '\n';
  return s.str();
}

// The command line as typed, quoted where needed, for the record in the JSON output.
std::string command_line(const Args& args) {
  std::string out = "ihcscore evaluate";
  for (const auto& a : args) {
    const bool plain = a.find_first_of(" \t\"'$\\{}()*?;&|<>") == std::string::npos && !a.empty();
    out += ' ';
    if (plain) {
      out += a;
    } else {
      out += '\'';
      for (char c : a) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
      out += '\'';
    }
  }
  return out;
}

}  // namespace

int run_evaluate(const Args& args) {
  Options o;
  CLI::App app{
      "Detects and grades cells in annotated images and compares them with the annotated cell points: "
      "one-to-one\n"
      "matching within a radius; detection precision/recall/F1, per-class F1 (positive/negative), predicted "
      "vs true\n"
      "Positive % per image and overall (mean absolute difference, Pearson r over images). With "
      "--detections\n"
      "it compares another tool's (or an earlier run's) cells instead of detecting them.",
      "ihcscore evaluate"};
  app.add_option("--image", o.images, "Image to detect cells in (repeat; paired in order with --truth)")
      ->required();
  app.add_option(
         "--truth", o.truths,
         "Annotated cells of the image at the same position: CSV (x,y,label or markers.csv type,x,y), "
         "JSON list of {x, y, label_id}, QuPath's point annotations exported as GeoJSON (one cell per point, "
         "labelled by its class), a colour mask (red positive, blue negative), or QuPath's rendered "
         "detections (--truth-format qupath-render)")
      ->required();
  app.add_option(
      "--region", o.regions,
      "Mask of the annotated area per image (non-zero = annotated); detections outside are not counted. "
      "Give one per image or none");
  app.add_option(
      "--truth-format", o.truth_format,
      "csv, json, geojson, mask, or qupath-render: a QuPath viewer snapshot on the image's pixel grid with "
      "the detections drawn filled in QuPath's class colours (Negative #7070E1, Positive #FA3E3E), one "
      "cell per fill (default: from the extension, a .json holding GeoJSON is geojson; a .png is a mask)");
  app.add_option(
      "--labels", o.labels,
      "Label mapping, e.g. '1=positive,2=negative,3=ignore' (default: 1 positive, 2 negative, 3 ignore; "
      "CSV and GeoJSON also accept positive/negative/ignore and QuPath's class names; a GeoJSON point's "
      "label is its class, else the class's last part, 'unclassified' without one)");
  app.add_option(
      "--detections", o.detections,
      "Cells to compare instead of detecting them, one per --image: another tool's or an earlier run's "
      "(ihcscore's cells.csv/cells.geojson, ihcview's reviewed_cells.geojson, QuPath's GeoJSON of cells or "
      "detections or its measurement table; cells counted by their intensity class, others left out) or "
      "points in a truth format (CSV, JSON, colour mask such as DeepLIIF's output, QuPath render)");
  app.add_option(
      "--detections-format", o.detections_format,
      "cells-csv (ihcscore's cells.csv or QuPath's measurement table), geojson, csv, json, mask, "
      "qupath-render, or deepliif (DeepLIIF's inferred segmentation, *_fake_B_5.png: its own thresholds; "
      "default: from the extension and the header)");
  app.add_option("--mask-min-area-px", o.mask_min_area_px, "Smallest mask component counted as a cell")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--image-crop", o.image_crop,
                 "x,y,w,h of every image to evaluate (DeepLIIF panels: 0,0,512,512)");
  app.add_option(
      "--truth-crop", o.truth_crop,
      "x,y,w,h of every truth mask (DeepLIIF panels: 2560,0,512,512); its size must equal the image's");
  app.add_option("--mpp", o.mpp, "Microns per pixel of images that do not store it")->check(kMicronsPerPixel);
  auto* radius_px = app.add_option("--radius-px", o.radius_px, "Match radius in pixels (default 10)")
                        ->check(kPositiveFinite);
  app.add_option("--radius-um", o.radius_um, "Match radius in microns (needs the pixel size)")
      ->check(kPositiveFinite)
      ->excludes(radius_px);
  app.add_option("--preset", o.preset, "Parameter preset: dsg2 (membranous) or ki67 (nuclear)");
  app.add_option("--params", o.params_file, "Parameter file (after the preset)");
  app.add_option("--set", o.sets, "key=value (repeat; after --params)");
  app.add_option(
      "--stains", o.stains,
      "Stain preset name, QuPath stain string, 'estimate' (per image: background + vectors, like QuPath's "
      "Estimate stain vectors) or 'background' (per image background, default vectors). Default: the "
      "parameters' stain_vectors, background and estimate_stains, as ihcscore score uses them");
  app.add_option("--output", o.outputs,
                 "Write per-image and overall results: .csv or .json (repeat for both)");
  app.add_option(
      "--overlay-dir", o.overlay_dir,
      "Write <image>.png overlays: truth circles (red positive, blue negative, grey ignored; thick = "
      "missed), detections as dots, yellow rings = unmatched detections");
  app.add_option("--cells-dir", o.cells_dir,
                 "Write <image>.cells.csv: every detection (position, class, partner's label, measurements) "
                 "and every annotated point without a partner, to study the errors");
  if (auto stop = parse_command_line(app, args)) return *stop;

  if (o.images.size() != o.truths.size()) {
    std::fprintf(stderr, "ihcscore evaluate: %zu --image but %zu --truth; give one --truth per --image\n",
                 o.images.size(), o.truths.size());
    return 1;
  }
  if (!o.regions.empty() && o.regions.size() != o.images.size()) {
    std::fprintf(stderr, "ihcscore evaluate: %zu --region for %zu --image; give one per image or none\n",
                 o.regions.size(), o.images.size());
    return 1;
  }
  if (!o.detections.empty() && o.detections.size() != o.images.size()) {
    std::fprintf(stderr, "ihcscore evaluate: %zu --detections for %zu --image; give one per image or none\n",
                 o.detections.size(), o.images.size());
    return 1;
  }
  if (!o.detections_format.empty() && !known_detections_format(o.detections_format)) {
    std::fprintf(stderr,
                 "ihcscore evaluate: --detections-format: '%s' is not one of cells-csv, geojson, csv, json, "
                 "mask, qupath-render, deepliif\n",
                 o.detections_format.c_str());
    return 1;
  }
  for (const auto& output : o.outputs) {
    const std::string ext = fs::path(output).extension().string();
    if (ext != ".csv" && ext != ".json") {
      std::fprintf(stderr, "ihcscore evaluate: --output %s: use a .csv or .json file name\n", output.c_str());
      return 1;
    }
  }

  // Parameters: preset, then file, then --set (later wins).
  // The same keys as `ihcscore score`, so one parameter file serves both.
  const ParamSet params = resolve_params(o.preset, o.params_file, o.sets);
  const DetectionParams detection = detection_params_from(params);
  const GradingParams grading = grading_params_from(params);
  const ScoreOptions score_options = score_options_from(params);
  const StainChoice stain_rule = stain_choice(o.stains);
  const cv::Rect image_crop = parse_crop(o.image_crop, "--image-crop");
  const cv::Rect truth_crop = parse_crop(o.truth_crop, "--truth-crop");
  const LabelMap custom_labels = o.labels.empty() ? LabelMap{} : parse_label_map(o.labels);
  const auto names = display_names(o.images);

  std::vector<ImageEvaluation> results;
  std::vector<double> mpps;
  int failures = 0;
  for (std::size_t k = 0; k < o.images.size(); ++k) {
    const std::string& image_path = o.images[k];
    const std::string& truth_path = o.truths[k];
    try {
      OpenOptions open;
      open.mpp_override = o.mpp;
      auto slide = open_slide(image_path, open);
      const auto& info = slide->info();
      // Annotated fields are small images; a whole slide would not fit in memory as one image.
      if (static_cast<std::int64_t>(info.level_sizes[0].width) * info.level_sizes[0].height >
          (std::int64_t{1} << 28)) {
        throw std::runtime_error(
            image_path + ": too large for evaluate (" + std::to_string(info.level_sizes[0].width) + "x" +
            std::to_string(info.level_sizes[0].height) + " pixels); crop the annotated field first");
      }
      cv::Mat rgb = slide->read_region(0, 0, 0, info.level_sizes[0].width, info.level_sizes[0].height);
      rgb = crop_or_throw(rgb, image_crop, "--image-crop", image_path);
      double mpp =
          info.has_mpp() ? 0.5 * (info.mpp_x + info.mpp_y) : std::numeric_limits<double>::quiet_NaN();
      if (o.mpp > 0 && !info.has_mpp()) mpp = o.mpp;
      // Detection then takes a pixel for the preset's analysis pixel size: wrong cells, plausible figures.
      if (!(mpp > 0) && o.detections.empty()) {
        std::fprintf(stderr,
                     "warning: %s: %s has no pixel size: cells detected as if a pixel were %g um (scored in "
                     "pixels; no mpp, give --mpp)\n",
                     names[k].c_str(), image_path.c_str(), detection.requested_pixel_size_um);
      }
      double radius = o.radius_px;
      if (o.radius_um > 0) {
        if (!(mpp > 0)) {
          throw std::runtime_error(image_path +
                                   ": --radius-um needs the pixel size, which the file does not store; "
                                   "give --mpp or use --radius-px");
        }
        radius = o.radius_um / mpp;
      }

      const TruthFormat format =
          o.truth_format.empty() ? truth_format_from_file(truth_path) : parse_truth_format(o.truth_format);
      const LabelMap labels = o.labels.empty() ? default_label_map(format) : custom_labels;
      std::vector<TruthPoint> truth;
      int truth_outside_crop = 0;
      if (format == TruthFormat::Mask || format == TruthFormat::QuPathRender) {
        // Masks and renders are both RGB images on the evaluated image's pixel grid (after the crops).
        const std::string what = format == TruthFormat::Mask ? "truth mask" : "QuPath render";
        cv::Mat bgr = cv::imread(truth_path, cv::IMREAD_COLOR);
        if (bgr.empty()) {
          throw std::runtime_error(truth_path + (fs::exists(truth_path)
                                                     ? ": cannot decode the " + what + " image"
                                                     : std::string(": no such file")));
        }
        cv::Mat truth_rgb;
        cv::cvtColor(bgr, truth_rgb, cv::COLOR_BGR2RGB);
        truth_rgb = crop_or_throw(truth_rgb, truth_crop, "--truth-crop", truth_path);
        if (truth_rgb.size() != rgb.size()) {
          throw std::runtime_error(truth_path + ": the " + what + " is " + std::to_string(truth_rgb.cols) +
                                   "x" + std::to_string(truth_rgb.rows) + " but the image is " +
                                   std::to_string(rgb.cols) + "x" + std::to_string(rgb.rows) +
                                   " (use --image-crop/--truth-crop for panels)");
        }
        truth = format == TruthFormat::Mask ? truth_from_mask(truth_rgb, {o.mask_min_area_px}, truth_path)
                                            : truth_from_qupath_render(truth_rgb, {}, truth_path);
      } else {
        if (!truth_crop.empty())
          throw std::runtime_error("--truth-crop applies to image truth (mask or qupath-render) only, not " +
                                   truth_path);
        const std::vector<TruthPoint> read = format == TruthFormat::Json ? read_truth_json(truth_path, labels)
                                             : format == TruthFormat::GeoJson
                                                 ? read_truth_geojson(truth_path, labels)
                                                 : read_truth_csv(truth_path, labels);
        // Points are in the full image: shifted into the crop; those outside it are not annotations of the
        // evaluated image and would count as misses.
        TruthOnImage on_image = truth_on_image(read, info.level_sizes[0], image_crop);
        if (on_image.outside_image > 0) {
          std::fprintf(stderr,
                       "warning: %s: %d of %zu truth points lie outside the image (%dx%d); left out (is %s "
                       "this image's truth, at its scale?)\n",
                       names[k].c_str(), on_image.outside_image, read.size(), info.level_sizes[0].width,
                       info.level_sizes[0].height, truth_path.c_str());
        }
        truth_outside_crop = on_image.outside_crop;
        truth = std::move(on_image.points);
      }

      cv::Mat region;
      if (!o.regions.empty()) {
        const std::string& region_path = o.regions[k];
        cv::Mat full = cv::imread(region_path, cv::IMREAD_GRAYSCALE);
        if (full.empty()) {
          throw std::runtime_error(region_path + (fs::exists(region_path)
                                                      ? ": cannot decode the region mask image"
                                                      : ": no such file"));
        }
        if (full.size() == info.level_sizes[0] && !image_crop.empty()) full = full(image_crop);
        if (full.size() != rgb.size()) {
          throw std::runtime_error(region_path + ": the region mask is " + std::to_string(full.cols) + "x" +
                                   std::to_string(full.rows) + " but the image is " +
                                   std::to_string(rgb.cols) + "x" + std::to_string(rgb.rows));
        }
        cv::compare(full, 0, region, cv::CMP_GT);
      }

      std::vector<PredictedPoint> pred;
      CellTable cells;
      std::string what_was_done;
      if (o.detections.empty()) {
        const auto t0 = std::chrono::steady_clock::now();
        std::string stain_note = "stains: " + stain_rule.fixed.name;
        StainMatrix stains;
        if (stain_rule.from_params) {
          const SlideStainEstimate chosen = image_stains(rgb, params, mpp, names[k]);
          for (const auto& w : chosen.warnings)
            std::fprintf(stderr, "%s: warning: %s\n", names[k].c_str(), w.c_str());
          stains = chosen.matrix;
          stain_note = "stains: " + chosen.source;
        } else {
          stains = stains_for_image(stain_rule, rgb, names[k], &stain_note);
        }
        cells = detect_cells(rgb, mpp, stains, detection);
        const auto classes = grade_cells(cells, grading);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        pred.resize(cells.size());
        const bool graded = grading.mode == ThresholdMode::Three;
        for (std::size_t i = 0; i < cells.size(); ++i)
          pred[i] = {cells.cells[i].centroid, is_positive(classes[i]), graded ? class_grade(classes[i]) : -1};
        char buf[64];
        std::snprintf(buf, sizeof buf, " detected in %.1f s", seconds);
        what_was_done = std::to_string(cells.size()) + " cells" + buf + "; " + stain_note;
      } else {
        warn_if_detected_on_another_image(o.detections[k], image_path, names[k]);
        // QuPath's measurement tables of calibrated images give centroids in um; --mpp is in info already.
        const cv::Point2d mpp_xy =
            info.has_mpp() ? cv::Point2d(info.mpp_x, info.mpp_y) : cv::Point2d(NAN, NAN);
        ReadDetections read =
            read_detections(o.detections[k], o.detections_format, o.labels.empty() ? nullptr : &custom_labels,
                            image_crop, info.level_sizes[0], rgb.size(), o.mask_min_area_px, mpp_xy);
        pred = std::move(read.points);
        cells = std::move(read.rows);
        what_was_done =
            std::to_string(pred.size()) + " cells read from " + o.detections[k] + " (" + read.format + ")";
        if (!read.without_class.empty()) what_was_done += "; " + read.without_class;
        if (read.left_out > 0) {
          what_was_done += "; " + std::to_string(read.left_out) +
                           " left out (ignore-labelled or outside the evaluated image)";
        }
      }

      EvaluationParams ep;
      ep.radius_px = radius;
      ImageEvaluation ev = evaluate_image(names[k], pred, truth, ep, region);
      if (!o.overlay_dir.empty()) {
        ensure_directory(o.overlay_dir);
        std::string file = names[k];
        for (char& c : file) c = c == '/' ? '_' : c;
        draw_overlay(fs::path(o.overlay_dir) / (file + ".png"), rgb, pred, truth, ev, radius, region);
      }
      if (!o.cells_dir.empty()) {
        ensure_directory(o.cells_dir);
        std::string file = names[k];
        for (char& c : file) c = c == '/' ? '_' : c;
        write_cells_csv(fs::path(o.cells_dir) / (file + ".cells.csv"), cells, pred, truth, ev);
      }
      const std::string cropped_out = truth_outside_crop > 0 ? " (" + std::to_string(truth_outside_crop) +
                                                                   " outside --image-crop left out)"
                                                             : std::string();
      std::fprintf(stderr, "%s: %s; %zu truth points%s, radius %.1f px\n", names[k].c_str(),
                   what_was_done.c_str(), truth.size(), cropped_out.c_str(), radius);
      if (!o.detections.empty() && pred.empty()) {
        std::fprintf(stderr, "warning: %s: no cells in %s (every annotated cell counts as missed)\n",
                     names[k].c_str(), o.detections[k].c_str());
      }
      // A truth file with no points scores every detection as false: say so rather than print zeros.
      if (truth.empty()) {
        std::fprintf(stderr, "warning: %s: no annotated cells in %s (every detection counts as false)\n",
                     names[k].c_str(), truth_path.c_str());
      }
      results.push_back(std::move(ev));
      mpps.push_back(mpp);
    } catch (const std::exception& e) {
      std::string msg = e.what();
      // Errors from readers already name the file; others get the image prepended.
      if (msg.find(image_path) == std::string::npos && msg.find(truth_path) == std::string::npos &&
          (o.regions.empty() || msg.find(o.regions[k]) == std::string::npos) &&
          (o.detections.empty() || msg.find(o.detections[k]) == std::string::npos)) {
        msg = image_path + ": " + msg;
      }
      std::fprintf(stderr, "ihcscore evaluate: error: %s\n", msg.c_str());
      ++failures;
    }
  }

  // Every image failed: a table of zeros would read as a result.
  if (results.empty() && failures > 0) {
    std::fprintf(stderr, "ihcscore evaluate: no image evaluated (%d failed)\n", failures);
    return 2;
  }
  const EvaluationSummary sum = summarize(results, score_options);
  // Table on stdout.
  std::printf("%-22s %6s %6s %5s %5s %5s %6s %6s %6s %6s %6s %7s %7s %6s\n", "image", "det", "truth", "TP",
              "FP", "FN", "prec", "recall", "F1", "F1+", "F1-", "pos%", "true%", "|diff|");
  for (const auto& r : results) {
    const double d = std::abs(r.predicted_positive_percent() - r.truth_positive_percent());
    std::printf("%-22s %6d %6d %5d %5d %5d %6s %6s %6s %6s %6s %7s %7s %6s\n", r.name.c_str(),
                r.predicted_total, r.truth_total, r.detection.tp, r.detection.fp, r.detection.fn,
                fmt(r.detection.precision()).c_str(), fmt(r.detection.recall()).c_str(),
                fmt(r.detection.f1()).c_str(), fmt(r.positive.f1()).c_str(), fmt(r.negative.f1()).c_str(),
                fmt(r.predicted_positive_percent(), 1).c_str(), fmt(r.truth_positive_percent(), 1).c_str(),
                fmt(d, 1).c_str());
  }
  const double pooled_pred = sum.predicted_positive_percent();
  const double pooled_true = sum.truth_positive_percent();
  std::printf("%-22s %6d %6d %5d %5d %5d %6s %6s %6s %6s %6s %7s %7s %6s\n", "ALL (pooled)",
              sum.predicted_total, sum.truth_total, sum.detection.tp, sum.detection.fp, sum.detection.fn,
              fmt(sum.detection.precision()).c_str(), fmt(sum.detection.recall()).c_str(),
              fmt(sum.detection.f1()).c_str(), fmt(sum.positive.f1()).c_str(), fmt(sum.negative.f1()).c_str(),
              fmt(pooled_pred, 1).c_str(), fmt(pooled_true, 1).c_str(),
              fmt(sum.pooled_abs_percent_diff(), 1).c_str());
  std::printf("Positive %%: mean |predicted - true| %s points over %d images (max %s), Pearson r %s\n",
              fmt(sum.mean_abs_percent_diff, 2).c_str(), sum.percent_images,
              fmt(sum.max_abs_percent_diff, 2).c_str(), fmt(sum.pearson_r, 3).c_str());

  if (sum.grades.available) print_grades(results, sum, score_options);

  for (const auto& output : o.outputs) {
    if (fs::path(output).extension() == ".csv") {
      std::string text = csv_header();
      for (const auto& r : results) {
        text += csv_row(r.name, r.predicted_total, r.predicted_positive, r.truth_total, r.truth_positive,
                        r.matched_ignored, r.outside_region, r.detection, r.positive, r.negative,
                        r.predicted_positive_percent(), r.truth_positive_percent(),
                        std::abs(r.predicted_positive_percent() - r.truth_positive_percent()), r.grades,
                        score_options);
      }
      int ignored = 0, outside = 0;
      for (const auto& r : results) {
        ignored += r.matched_ignored;
        outside += r.outside_region;
      }
      text += csv_row("ALL", sum.predicted_total, sum.predicted_positive, sum.truth_total, sum.truth_positive,
                      ignored, outside, sum.detection, sum.positive, sum.negative, pooled_pred, pooled_true,
                      sum.pooled_abs_percent_diff(), sum.grades, score_options);
      write_file_atomic(output, text);
    } else {
      nlohmann::json j;
      j["command"] = command_line(args);
      j["preset"] = o.preset;
      j["detections"] = o.detections;  // empty: ihcscore detected the cells
      j["parameters"] = params.values();
      j["radius_px"] = o.radius_um > 0 ? nlohmann::json(nullptr) : nlohmann::json(o.radius_px);
      j["radius_um"] = o.radius_um > 0 ? nlohmann::json(o.radius_um) : nlohmann::json(nullptr);
      j["failed_images"] = failures;
      nlohmann::json rows = nlohmann::json::array();
      for (std::size_t i = 0; i < results.size(); ++i) {
        const auto& r = results[i];
        rows.push_back({{"image", r.name},
                        {"mpp", num(mpps[i])},
                        {"predicted", r.predicted_total},
                        {"predicted_positive", r.predicted_positive},
                        {"truth", r.truth_total},
                        {"truth_positive", r.truth_positive},
                        {"matched_ignored", r.matched_ignored},
                        {"outside_region", r.outside_region},
                        {"detection", counts_json(r.detection)},
                        {"positive", counts_json(r.positive)},
                        {"negative", counts_json(r.negative)},
                        {"predicted_positive_percent", num(r.predicted_positive_percent())},
                        {"truth_positive_percent", num(r.truth_positive_percent())},
                        {"grades", grades_json(r.grades, score_options)}});
      }
      j["images"] = rows;
      j["summary"] = {{"images", sum.images},
                      {"predicted", sum.predicted_total},
                      {"predicted_positive", sum.predicted_positive},
                      {"truth", sum.truth_total},
                      {"truth_positive", sum.truth_positive},
                      {"detection", counts_json(sum.detection)},
                      {"positive", counts_json(sum.positive)},
                      {"negative", counts_json(sum.negative)},
                      {"predicted_positive_percent", num(pooled_pred)},
                      {"truth_positive_percent", num(pooled_true)},
                      {"abs_percent_diff", num(sum.pooled_abs_percent_diff())},
                      {"percent_images", sum.percent_images},
                      {"mean_abs_percent_diff", num(sum.mean_abs_percent_diff)},
                      {"max_abs_percent_diff", num(sum.max_abs_percent_diff)},
                      {"pearson_r", num(sum.pearson_r)},
                      {"grades", grades_json(sum.grades, score_options)},
                      {"mean_abs_h_score_diff", num(sum.mean_abs_h_score_diff)},
                      {"mean_abs_intensity_score_diff", num(sum.mean_abs_intensity_diff)},
                      {"mean_abs_ixp_diff", num(sum.mean_abs_ixp_diff)}};
      write_file_atomic(output, json_text(j, 2) + "\n");
    }
  }
  return failures > 0 ? 2 : 0;
}

}  // namespace ihc::cli
