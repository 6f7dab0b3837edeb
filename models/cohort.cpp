#include "models/cohort.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include "models/atomic_file.hpp"
#include "models/results_io.hpp"
#include "models/text.hpp"

namespace ihc {
namespace {

constexpr double kMissing = std::numeric_limits<double>::quiet_NaN();

// Strict decimal number: the whole field must parse ("12", "+3.5", "1e3"); empty, "NA", "inf" are not
// numbers, and neither is hexadecimal ("0x10", which strtod reads as 16).
bool parse_number(const std::string& text, double* out) {
  const std::string t = trim_blanks(text);
  const char* first = t.data();
  const char* last = t.data() + t.size();
  if (first != last && *first == '+') {
    ++first;  // from_chars takes no '+' of its own
    if (first != last && (*first == '+' || *first == '-')) return false;
  }
  double v = 0;
  const auto res = std::from_chars(first, last, v);
  if (res.ec != std::errc() || res.ptr != last || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

// A clinical code as declared: the same text, or the same number ("1.0" is 1: pandas writes 1.0 and 0.0
// in a column that has missing values).
bool same_code(const std::string& value, const std::string& declared) {
  if (value == declared) return true;
  double a = 0, b = 0;
  return parse_number(value, &a) && parse_number(declared, &b) && a == b;
}

// The name without a slide or image file's extension (QuPath's tables name images "PT-001.svs"; ours
// "PT-001"). Only such extensions go: "P1.2", a patient's second slide in a scheme with dots, stayed "P1" and
// joined patient P1 without a word.
std::string stem_of(const std::string& image) {
  static const std::set<std::string> kExtensions = {"bif",     "bmp",  "czi",  "dcm", "jp2", "jpeg",
                                                    "jpg",     "mrxs", "ndpi", "png", "scn", "svs",
                                                    "svslide", "tif",  "tiff", "vms", "vmu", "vsi"};
  const auto slash = image.find_last_of("/\\");
  std::string name = slash == std::string::npos ? image : image.substr(slash + 1);
  const auto dot = name.find_last_of('.');
  if (dot == std::string::npos || dot == 0 || !kExtensions.count(ascii_lower(name.substr(dot + 1))))
    return name;
  name.resize(dot);
  // "slide.ome.tif" is "slide", as the batch names it.
  if (name.size() > 4 && ascii_lower(name.substr(name.size() - 4)) == ".ome") name.resize(name.size() - 4);
  return name;
}

std::string number_text(double v) {
  std::ostringstream s;
  s.precision(6);
  s << v;
  return s.str();
}

double aggregate(std::vector<double> v, const std::string& how) {
  if (how == "mean") {
    double s = 0;
    for (double x : v) s += x;
    return s / static_cast<double>(v.size());
  }
  if (how == "max") return *std::max_element(v.begin(), v.end());
  return quantile_type7(std::move(v), 0.5);
}

// Why a score column is empty for a slide that was scored (docs/outputs.md: undefined scores are empty).
std::string undefined_cause(const std::string& column) {
  static const std::set<std::string> kIntensityScores = {"H-score", "Intensity score", "IxP score",
                                                         "Allred score", "IRS"};
  if (kIntensityScores.count(column)) {
    return "single-threshold grading (as for ki67) has no intensity grades, so H-score, Intensity score, IxP "
           "score, Allred score and IRS are empty; use --score \"Positive %\"";
  }
  if (column == "Num Positive per mm^2" || column == "Tissue area mm^2") {
    return "it needs the pixel size: score with --mpp, or use --score \"Positive %\"";
  }
  return column + " is undefined for it";
}

// Up to three distinct values of a column, in file order, for an error message.
std::string examples(const CsvTable& table, int column) {
  std::vector<std::string> seen;
  bool more = false;
  for (const auto& row : table.rows) {
    const std::string& v = row[column];
    if (v.empty() || std::find(seen.begin(), seen.end(), v) != seen.end()) continue;
    if (seen.size() == 3) {
      more = true;
      break;
    }
    seen.push_back(v);
  }
  if (seen.empty()) return "(none)";
  return join(seen, ", ") + (more ? ", ..." : "");
}

int group_of(double score, const std::vector<double>& cutoffs) {
  int g = 0;
  while (g < static_cast<int>(cutoffs.size()) && score >= cutoffs[g]) ++g;
  return g;
}

// Maximally selected log-rank statistic over cutpoints between the 10th and 90th percentile, each group
// holding at least 10 % of patients.
double optimal_cutoff(const std::vector<Patient>& patients) {
  std::vector<double> scores, time;
  std::vector<int> event;
  for (const auto& p : patients) {
    scores.push_back(p.score);
    time.push_back(p.time);
    event.push_back(p.event);
  }
  const double lo = quantile_type7(scores, 0.1), hi = quantile_type7(scores, 0.9);
  std::set<double> candidates(scores.begin(), scores.end());
  const auto min_size = static_cast<std::size_t>(std::ceil(0.1 * static_cast<double>(scores.size())));
  double best = kMissing, best_chisq = -1;
  for (double c : candidates) {
    if (c <= lo || c > hi) continue;
    std::vector<int> group;
    std::size_t high = 0;
    for (double s : scores) {
      group.push_back(s >= c ? 1 : 0);
      high += s >= c ? 1 : 0;
    }
    if (high < min_size || scores.size() - high < min_size) continue;
    const auto lr = stats::log_rank(time, event, group);
    if (lr.df >= 1 && lr.chisq > best_chisq) {
      best_chisq = lr.chisq;
      best = c;
    }
  }
  return best;
}

}  // namespace

void validate_event_coding(const CohortOptions& options) {
  if (!same_code(options.event_value, options.censored_value)) return;
  const std::string codes = options.event_value == options.censored_value
                                ? "'" + options.event_value + "'"
                                : "'" + options.event_value + "' and '" + options.censored_value + "'";
  throw CohortError("--event-value and --censored-value are the same (" + codes +
                    "): an event and a censored follow-up need different codes");
}

double quantile_type7(std::vector<double> values, double p) {
  if (values.empty()) return kMissing;
  std::sort(values.begin(), values.end());
  const double h = (static_cast<double>(values.size()) - 1) * p;
  const auto lo = static_cast<std::size_t>(std::floor(h));
  const std::size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (h - static_cast<double>(lo)) * (values[hi] - values[lo]);
}

namespace {

// A column by the name given, else by its other name in the batch's tables: summary.csv's "IxP score" is
// summary_stats.csv's "ixp_score", and the other way round.
int column_either(const CsvTable& t, const std::string& name) {
  if (const int c = t.column(name); c >= 0) return c;
  std::vector<SummaryColumn> cols = summary_columns();
  cols.push_back(region_column());
  for (const auto& col : cols) {
    if (col.qupath == name) return t.column(col.stats);
    if (col.stats == name) return t.column(col.qupath);
  }
  return -1;
}

int require_either(const CsvTable& t, const std::string& name, const std::string& what) {
  const int c = column_either(t, name);
  return c >= 0 ? c : t.require(name, what);
}

// regions.csv has a row per image and region: the rows of the one region asked for.
// With `region`, the images that have rows but none of that region are `without` (image, first line, its
// regions): their patients read "no scored slide" with no word of why (a probe).
struct ImageWithoutRegion {
  std::string image;
  int line = 0;
  std::string regions;
};

CsvTable rows_of_region(const CsvTable& scores, const std::string& region, const std::string& image_column,
                        std::vector<ImageWithoutRegion>* without) {
  const int c = column_either(scores, "Region");
  if (c < 0) {
    if (region.empty()) return scores;
    throw CohortError(scores.origin + ": --region " + region +
                      " given, but the file has no Region column (regions.csv of a --roi run has one)");
  }
  std::vector<std::string> names;
  for (const auto& row : scores.rows) {
    if (std::find(names.begin(), names.end(), row[c]) == names.end()) names.push_back(row[c]);
  }
  std::string listed;
  for (const auto& n : names) listed += (listed.empty() ? "" : ", ") + n;
  if (region.empty()) {
    throw CohortError(scores.origin +
                      ": one row per image and region: choose the region to analyse with --region (" +
                      listed + ")");
  }
  CsvTable out = scores;
  out.rows.clear();
  out.line.clear();
  for (std::size_t r = 0; r < scores.rows.size(); ++r) {
    if (scores.rows[r][c] != region) continue;
    out.rows.push_back(scores.rows[r]);
    out.line.push_back(scores.line[r]);
  }
  if (out.rows.empty())
    throw CohortError(scores.origin + ": no row of region '" + region + "' (regions: " + listed + ")");
  if (const int im = column_either(scores, image_column); im >= 0) {
    std::map<std::string, std::size_t> index;  // image -> its entry in *without
    std::set<std::string> with;
    for (std::size_t r = 0; r < scores.rows.size(); ++r) {
      const std::string& image = scores.rows[r][im];
      if (scores.rows[r][c] == region) with.insert(image);
      const auto [it, added] = index.emplace(image, without->size());
      if (added) without->push_back({image, scores.line[r], ""});
      std::string& names = (*without)[it->second].regions;
      names += (names.empty() ? "" : ", ") + scores.rows[r][c];
    }
    without->erase(std::remove_if(without->begin(), without->end(),
                                  [&](const ImageWithoutRegion& w) { return with.count(w.image) > 0; }),
                   without->end());
  }
  return out;
}

}  // namespace

Cohort build_cohort(const CsvTable& all_scores, const CsvTable& clinical, const CsvTable* slide_map,
                    const CohortOptions& options) {
  std::vector<ImageWithoutRegion> without_region;
  const CsvTable scores = rows_of_region(all_scores, options.region, options.image_column, &without_region);
  if (options.event_column.empty() == options.censored_column.empty()) {
    throw CohortError("give exactly one of an event column and a censored column");
  }
  validate_event_coding(options);
  const bool censored_mode = !options.censored_column.empty();
  const int c_id = clinical.require(options.id_column, "patient id");
  const int c_time = clinical.require(options.time_column, "time");
  const int c_event = censored_mode ? clinical.require(options.censored_column, "censored")
                                    : clinical.require(options.event_column, "event");
  std::vector<std::pair<std::string, int>> value_columns;
  for (const auto& name : options.correlate)
    value_columns.emplace_back(name, clinical.require(name, "correlate"));
  for (const auto& name : options.covariates)
    value_columns.emplace_back(name, clinical.require(name, "covariate"));

  // Clinical rows: every problem is collected, then the file is refused as a whole.
  std::vector<std::string> problems;
  std::map<std::string, int> first_line;
  Cohort cohort;
  for (const auto& w : without_region) {
    cohort.exclusions.push_back(
        {"scores", w.image, w.line,
         "no row of region '" + options.region + "' (its regions: " + w.regions + ")"});
  }
  std::vector<Patient> clinical_patients;
  std::vector<int> clinical_line;
  const std::string& event_col_name = censored_mode ? options.censored_column : options.event_column;
  for (std::size_t r = 0; r < clinical.rows.size(); ++r) {
    const auto& row = clinical.rows[r];
    const int line = clinical.line[r];
    const std::string where = "line " + std::to_string(line);
    Patient p;
    p.id = row[c_id];
    if (p.id.empty()) {
      problems.push_back(where + ": empty " + options.id_column);
      continue;
    }
    const std::string who = where + " (" + p.id + ")";
    if (auto it = first_line.find(p.id); it != first_line.end()) {
      problems.push_back(who + ": duplicate " + options.id_column + " (first on line " +
                         std::to_string(it->second) + ")");
    } else {
      first_line[p.id] = line;
    }
    if (!parse_number(row[c_time], &p.time)) {
      problems.push_back(who + ": " + options.time_column + " '" + row[c_time] + "' is not a number");
    } else if (p.time < 0) {
      problems.push_back(who + ": " + options.time_column + " " + row[c_time] + " is negative");
    }
    const std::string& ev = row[c_event];
    if (censored_mode) {
      // In a censored column the declared censored value means censored, the event value an observed event.
      if (same_code(ev, options.censored_value)) {
        p.event = 0;
      } else if (same_code(ev, options.event_value)) {
        p.event = 1;
      } else {
        problems.push_back(who + ": " + event_col_name + " '" + ev + "' is neither '" +
                           options.censored_value + "' (censored) nor '" + options.event_value + "' (event)");
      }
    } else if (same_code(ev, options.event_value)) {
      p.event = 1;
    } else if (same_code(ev, options.censored_value)) {
      p.event = 0;
    } else {
      problems.push_back(who + ": " + event_col_name + " '" + ev + "' is neither '" + options.event_value +
                         "' (event) nor '" + options.censored_value + "' (censored)");
    }
    for (const auto& [name, col] : value_columns) {
      double v = kMissing;
      if (!row[col].empty() && row[col] != "NA" && !parse_number(row[col], &v)) {
        problems.push_back(who + ": " + name + " '" + row[col] + "' is not a number");
      }
      p.values[name] = v;
    }
    clinical_patients.push_back(p);
    clinical_line.push_back(line);
  }
  if (!problems.empty()) {
    std::string msg = clinical.origin + ": refused, " + std::to_string(problems.size()) +
                      (problems.size() == 1 ? " problem" : " problems") + ":";
    for (const auto& pr : problems) msg += "\n  " + pr;
    throw CohortError(msg);
  }
  if (clinical_patients.empty()) throw CohortError(clinical.origin + ": no patients");

  // Slide map: each image once (the same name given two patients is refused), found by its name as written
  // and by its stem, as summary.csv's Image has no extension while a map may list file names.
  struct MapEntry {
    std::string image, patient;
    int line = 0;
  };
  std::vector<MapEntry> map_entries;
  std::map<std::string, std::vector<std::size_t>> map_index;  // name and stem -> entries, file order
  if (slide_map != nullptr) {
    const int m_image = slide_map->require(options.image_column, "image");
    const int m_id = slide_map->require(options.id_column, "patient id");
    std::map<std::string, std::size_t> by_image;
    for (std::size_t r = 0; r < slide_map->rows.size(); ++r) {
      const auto& row = slide_map->rows[r];
      auto [it, inserted] = by_image.emplace(row[m_image], map_entries.size());
      if (!inserted) {
        const std::string& first = map_entries[it->second].patient;
        if (first != row[m_id]) {
          throw CohortError(slide_map->origin + ":" + std::to_string(slide_map->line[r]) + ": image '" +
                            row[m_image] + "' is mapped to both '" + first + "' and '" + row[m_id] + "'");
        }
        continue;
      }
      map_index[row[m_image]].push_back(map_entries.size());
      if (const std::string stem = stem_of(row[m_image]); stem != row[m_image])
        map_index[stem].push_back(map_entries.size());
      map_entries.push_back({row[m_image], row[m_id], slide_map->line[r]});
    }
  }

  // One row per image: two summary.csv files concatenated would otherwise merge two scorings of one image
  // into one patient, and the repeated header would become a slide.
  const int s_image = require_either(scores, options.image_column, "image");
  const int s_score = require_either(scores, options.score_column, "score");
  const int s_status = column_either(scores, "Status");
  const int s_detections = column_either(scores, "Num Detections");
  {
    std::vector<std::string> repeated;
    std::map<std::string, int> image_line;
    for (std::size_t r = 0; r < scores.rows.size(); ++r) {
      const std::string& image = scores.rows[r][s_image];
      const std::string where = "line " + std::to_string(scores.line[r]);
      if (image == scores.header[s_image]) {
        repeated.push_back(where + ": a repeated header line");
      } else if (auto [it, inserted] = image_line.emplace(image, scores.line[r]); !inserted) {
        repeated.push_back(where + " (" + image + "): image repeated (first on line " +
                           std::to_string(it->second) + ")");
      }
    }
    if (!repeated.empty()) {
      std::string msg = scores.origin + ": refused, " + std::to_string(repeated.size()) +
                        (repeated.size() == 1 ? " problem" : " problems") +
                        " (one row per image; were two files concatenated?):";
      for (const auto& pr : repeated) msg += "\n  " + pr;
      throw CohortError(msg);
    }
  }

  std::map<std::string, std::size_t> patient_index;
  for (std::size_t i = 0; i < clinical_patients.size(); ++i) patient_index[clinical_patients[i].id] = i;
  // Ids that differ only in case or by an extension: excluded as ids are matched exactly, but named, since a
  // few such ids among many matches were silent (17 patients analysed, 9 left out, exit 0).
  auto loose = [](const std::string& id) { return ascii_lower(stem_of(id)); };
  std::map<std::string, std::string> clinical_loose, scores_loose;
  for (const auto& cp : clinical_patients) clinical_loose.emplace(loose(cp.id), cp.id);
  auto near_hint = [&](const std::map<std::string, std::string>& other, const std::string& id,
                       const std::string& where) -> std::string {
    auto it = other.find(loose(id));
    if (it == other.end() || it->second == id) return "";
    ++cohort.near_misses;
    return " (" + where + " has '" + it->second + "': ids must match exactly, case and extension included)";
  };
  int joined = 0, undefined = 0, scored = 0;
  std::string undefined_why, first_unscored, first_other_stain;
  int other_stain = 0, few_cells = 0;
  std::string first_few;
  for (std::size_t r = 0; r < scores.rows.size(); ++r) {
    const auto& row = scores.rows[r];
    const std::string& image = row[s_image];
    std::string patient;
    if (slide_map != nullptr) {
      // Every entry naming this image, with or without an extension ("PT-001", "PT-001.png"); only when none
      // does, the entries of its stem (a scores file listing "a.svs" for the map's "a" or "a.png").
      auto found = map_index.find(image);
      if (found == map_index.end() && stem_of(image) != image) found = map_index.find(stem_of(image));
      if (found == map_index.end()) {
        cohort.exclusions.push_back({"scores", image, scores.line[r], "not in the slide map"});
        continue;
      }
      const std::vector<std::size_t>& entries = found->second;
      patient = map_entries[entries.front()].patient;
      // Two entries for one slide naming different patients: which one is meant cannot be told.
      if (std::any_of(entries.begin(), entries.end(),
                      [&](std::size_t e) { return map_entries[e].patient != patient; })) {
        std::vector<std::string> named;
        named.reserve(entries.size());
        for (const std::size_t e : entries) {
          named.push_back(map_entries[e].image + " -> " + map_entries[e].patient + " (line " +
                          std::to_string(map_entries[e].line) + ")");
        }
        cohort.exclusions.push_back(
            {"scores", image, scores.line[r],
             "slide map entries " + join(named, ", ") + " match it and name different patients"});
        continue;
      }
    } else {
      patient = patient_index.count(image) ? image : stem_of(image);
    }
    scores_loose.emplace(loose(patient), patient);
    auto pit = patient_index.find(patient);
    if (pit == patient_index.end()) {
      cohort.exclusions.push_back({"scores", image, scores.line[r],
                                   "patient '" + patient + "' not in the clinical file" +
                                       near_hint(clinical_loose, patient, clinical.origin)});
      continue;
    }
    ++joined;
    double v = kMissing;
    if (const std::string status = s_status >= 0 ? row[s_status] : "";
        !options.keep_other_stains && status_ok(status) && status.find("looks like") != std::string::npos) {
      const std::string reason =
          "Status: " + status + ": its DAB scores measure another stain (--keep-other-stains to analyse it)";
      if (other_stain++ == 0)
        first_other_stain = "line " + std::to_string(scores.line[r]) + " (" + image + "): " + reason;
      cohort.exclusions.push_back({"scores", image, scores.line[r], reason});
      continue;
    }
    if (!parse_number(row[s_score], &v)) {
      const std::string status = s_status >= 0 ? row[s_status] : "";
      std::string reason = "no " + options.score_column;
      if (!row[s_score].empty()) {
        reason = options.score_column + " '" + row[s_score] + "' is not a number";
      } else if (status_ok(status)) {
        // Empty although the slide was scored: the score is undefined for it; say why.
        const bool no_cells = s_detections >= 0 && row[s_detections] == "0";
        const std::string why =
            no_cells ? "the slide has no detected cells" : undefined_cause(options.score_column);
        if (!no_cells) {
          undefined_why = why;
          ++undefined;
        }
        reason += " (Status: " + status + "): undefined for this slide: " + why;
      } else if (!status.empty()) {
        reason += " (Status: " + status + ")";
      }
      if (first_unscored.empty())
        first_unscored = "line " + std::to_string(scores.line[r]) + " (" + image + "): " + reason;
      cohort.exclusions.push_back({"scores", image, scores.line[r], reason});
      continue;
    }
    ++scored;
    if (const std::string status = s_status >= 0 ? row[s_status] : "";
        status.find("; only ") != std::string::npos && status.find(" cell") != std::string::npos) {
      if (few_cells++ == 0) first_few = image + " (line " + std::to_string(scores.line[r]) + "): " + status;
    }
    auto& p = clinical_patients[pit->second];
    p.slides.push_back(image);
    p.slide_scores.push_back(v);
  }
  // ihcscore's Status names a slide of fewer than 20 cells ("ok; only 1 cell"): a probe's 1-cell tile made a
  // patient of the Low group.
  if (few_cells > 0) {
    cohort.notes.push_back(std::to_string(few_cells) +
                           (few_cells == 1 ? " slide analysed rests" : " slides analysed rest") +
                           " on fewer than " + std::to_string(kFewCells) + " cells (first: " + first_few +
                           "): a percentage of so few cells is hardly a score; leave such slides out of the "
                           "scores file or the slide map");
  }
  // A score undefined for most slides (IxP in single-threshold mode is defined only where no cell is
  // positive) would analyse a biased few: refuse, saying why.
  if (undefined > 0 && 2 * undefined > undefined + scored) {
    const int ok = undefined + scored;
    throw CohortError(scores.origin + ": " + options.score_column + " is empty for " +
                      (undefined == ok ? "all " + std::to_string(ok)
                                       : std::to_string(undefined) + " of " + std::to_string(ok)) +
                      " slides whose Status is ok, as it is undefined for them: " + undefined_why);
  }
  for (std::size_t i = 0; i < clinical_patients.size(); ++i) {
    auto& p = clinical_patients[i];
    if (p.slide_scores.empty()) {
      cohort.exclusions.push_back(
          {"clinical", p.id, clinical_line[i],
           "no scored slide" + near_hint(scores_loose, p.id, slide_map ? slide_map->origin : scores.origin)});
      continue;
    }
    p.score = aggregate(p.slide_scores, options.aggregate);
    cohort.patients.push_back(p);
  }
  if (cohort.patients.empty()) {
    std::string msg = "no patient has both a score and clinical data";
    if (joined == 0) {
      // Nothing matched: show a few ids from each side, where leading zeros or naming differ at a glance.
      msg += "; no slide matched a patient: compare the ids (leading zeros, extensions, spelling):\n  " +
             scores.origin + " " + options.image_column + ": " + examples(scores, s_image);
      if (slide_map != nullptr) {
        msg += "\n  " + slide_map->origin + " " + options.image_column + ": " +
               examples(*slide_map, slide_map->column(options.image_column)) + "\n  " + slide_map->origin +
               " " + options.id_column + ": " + examples(*slide_map, slide_map->column(options.id_column));
      }
      msg += "\n  " + clinical.origin + " " + options.id_column + ": " + examples(clinical, c_id);
      // A folder-per-patient study's ids carry the slide's name too (NPC001_DSG2, docs/cli.md).
      if (slide_map == nullptr) {
        msg += "\n  without --slide-map each " + options.image_column +
               " is the patient id: a slide map (columns " + options.image_column + ", " + options.id_column +
               ") names the patient of each";
      }
    } else if (other_stain == joined) {
      msg += ": all " + std::to_string(joined) + " slides of patients in " + clinical.origin +
             " look like another stain than H-DAB (first: " + scores.origin + " " + first_other_stain + ")";
    } else {
      msg += ": none of the " + std::to_string(joined) + " slides of patients in " + clinical.origin +
             " has a " + options.score_column + " (first: " + scores.origin + " " + first_unscored + ")";
      if (other_stain > 0) {
        msg += "; " + std::to_string(other_stain) +
               " of them look like another stain than H-DAB "
               "(--keep-other-stains to analyse them)";
      }
    }
    throw CohortError(msg);
  }

  std::vector<double> values;
  for (const auto& p : cohort.patients) values.push_back(p.score);
  cohort.cutoff_rule = options.cutoff;
  double number = 0;
  if (options.cutoff == "median") {
    cohort.cutoffs = {quantile_type7(values, 0.5)};
    cohort.group_names = {"Low", "High"};
  } else if (options.cutoff == "tertiles") {
    cohort.cutoffs = {quantile_type7(values, 1.0 / 3), quantile_type7(values, 2.0 / 3)};
    cohort.group_names = {"T1 (low)", "T2", "T3 (high)"};
  } else if (options.cutoff == "quartiles") {
    cohort.cutoffs = {quantile_type7(values, 0.25), quantile_type7(values, 0.5),
                      quantile_type7(values, 0.75)};
    cohort.group_names = {"Q1 (low)", "Q2", "Q3", "Q4 (high)"};
  } else if (options.cutoff == "optimal") {
    if (!options.allow_optimal) {
      throw CohortError("cutoff 'optimal' is data-driven and optimistic; pass --optimal-cutoff to allow it");
    }
    const double c = optimal_cutoff(cohort.patients);
    if (std::isnan(c))
      throw CohortError("no optimal cutoff: too few patients or events between the 10th and 90th percentile");
    cohort.cutoffs = {c};
    cohort.group_names = {"Low", "High"};
    cohort.optimistic = true;
    cohort.optimistic_note = "OPTIMISTIC: cutoff " + number_text(c) +
                             " was chosen to maximise the log-rank statistic on these same patients; p "
                             "values and hazard ratios are "
                             "biased and must be validated on an independent cohort";
  } else if (parse_number(options.cutoff, &number)) {
    cohort.cutoffs = {number};
    cohort.group_names = {"Low", "High"};
    // The papers' "intensity x positive rate" is 0-3; ihcscore's IxP score (and H-score) are 0-300, so a
    // published cutoff of 1.5 put every patient with a positive cell in High, without a word.
    const std::string& c = options.score_column;
    const bool hundredfold = c == "IxP score" || c == "ixp_score" || c == "H-score" || c == "h_score";
    double highest = 0;
    for (const auto& p : cohort.patients) highest = std::max(highest, p.score);
    if (hundredfold && number > 0 && number <= 3 && highest > 3) {
      cohort.notes.push_back("cutoff " + options.cutoff + " on " + c + ", whose scale is 0-300 (here up to " +
                             number_text(highest) +
                             "): a cutoff on the papers' 0-3 scale (intensity x positive "
                             "rate) is 100 times larger here (" +
                             number_text(100 * number) + ")");
    }
  } else {
    throw CohortError("cutoff '" + options.cutoff +
                      "' is not median, tertiles, quartiles, optimal or a number");
  }
  for (auto& p : cohort.patients) p.group = group_of(p.score, cohort.cutoffs);
  return cohort;
}

CohortStats analyse_cohort(const Cohort& cohort, const CohortOptions& options) {
  CohortStats st;
  const int k = static_cast<int>(cohort.group_names.size());
  std::vector<int> compact(k, -1);
  int used = 0;
  for (int g = 0; g < k; ++g) {
    GroupSurvival gs;
    gs.name = cohort.group_names[g];
    std::vector<double> t;
    std::vector<int> e;
    for (const auto& p : cohort.patients) {
      if (p.group != g) continue;
      t.push_back(p.time);
      e.push_back(p.event);
      gs.score_min = gs.n == 0 ? p.score : std::min(gs.score_min, p.score);
      gs.score_max = gs.n == 0 ? p.score : std::max(gs.score_max, p.score);
      ++gs.n;
    }
    if (gs.n > 0) {
      gs.km = stats::kaplan_meier(t, e, options.conf_level);
      gs.events = gs.km.events;
      for (double at : options.times) gs.at_times.push_back(stats::survival_at(gs.km, at));
      compact[g] = used++;
    }
    st.groups.push_back(gs);
  }
  std::vector<double> time;
  std::vector<int> event, group;
  for (const auto& p : cohort.patients) {
    time.push_back(p.time);
    event.push_back(p.event);
    group.push_back(compact[p.group]);
  }
  if (used >= 2) {
    st.log_rank = stats::log_rank(time, event, group);
  } else {
    st.log_rank.p = kMissing;
    st.log_rank.df = 0;
    st.log_rank.note = "not computable: only one group has patients";
  }

  // Cox: one indicator per group above the lowest non-empty one, then the covariates.
  std::vector<std::vector<double>> cols;
  std::vector<std::string> names;
  int reference = -1;
  for (int g = 0; g < k; ++g) {
    if (compact[g] < 0) continue;
    if (reference < 0) {
      reference = g;
      continue;
    }
    std::vector<double> col;
    for (const auto& p : cohort.patients) col.push_back(p.group == g ? 1.0 : 0.0);
    cols.push_back(col);
    names.push_back(cohort.group_names[g] + " vs " + cohort.group_names[reference]);
  }
  bool covariates_complete = true;
  std::string missing_note;  // which covariate lacks values for whom: the note named neither
  for (const auto& cov : options.covariates) {
    std::vector<double> col;
    std::vector<std::string> without;
    for (const auto& p : cohort.patients) {
      const double v = p.values.at(cov);
      if (std::isnan(v)) without.push_back(p.id);
      col.push_back(v);
    }
    if (!without.empty()) {
      if (covariates_complete) {
        missing_note =
            "covariate " + cov + " has no value for " + std::to_string(without.size()) +
            (without.size() == 1 ? " patient" : " patients") + " (" +
            join(std::vector<std::string>(without.begin(),
                                          without.begin() + std::min<std::ptrdiff_t>(3, without.size())),
                 ", ") +
            (without.size() > 3 ? ", ..." : "") +
            "); Cox model not fitted (fill them in or leave the covariate out)";
      }
      covariates_complete = false;
    }
    // No variation: its coefficient is not estimable (R's coxph gives NA) and would spoil the others'
    // standard errors, so the model is fitted without it.
    if (covariates_complete && !col.empty() &&
        std::all_of(col.begin(), col.end(), [&](double v) { return v == col.front(); })) {
      st.cox_left_out.push_back(
          {cov, "no variation: " + number_text(col.front()) + " for every patient analysed"});
      continue;
    }
    cols.push_back(col);
    names.push_back(cov);
  }
  const int total_events = static_cast<int>(std::count(event.begin(), event.end(), 1));
  if (used < 2) {
    st.cox_note = "only one group has patients";
  } else if (!covariates_complete) {
    st.cox_note = missing_note;
  } else if (total_events == 0) {
    st.cox_note = "no events at all: the Cox model cannot be fitted";
  } else {
    bool group_without_events = false;
    for (const auto& gs : st.groups) group_without_events |= gs.n > 0 && gs.events == 0;
    try {
      st.cox = stats::cox_ph(time, event, cols, names);
      bool finite = true;
      for (const auto& t : st.cox.terms) finite = finite && std::isfinite(t.se) && std::isfinite(t.p);
      st.has_cox = st.cox.converged && !group_without_events && finite;
      if (group_without_events)
        st.cox_note = "a group has no events: the hazard ratio is infinite (not estimable)";
      else if (!st.cox.converged)
        st.cox_note = "Cox model did not converge";
      else if (!finite)
        st.cox_note = "Cox model not estimable: the covariates are collinear";
    } catch (const std::exception& e) {
      st.cox_note = e.what();
    }
  }

  for (const auto& col : options.correlate) {
    CorrelationResult cr;
    cr.column = col;
    std::vector<double> x, y;
    for (const auto& p : cohort.patients) {
      const double v = p.values.at(col);
      if (std::isnan(v)) continue;
      x.push_back(p.score);
      y.push_back(v);
    }
    cr.n = static_cast<int>(x.size());
    auto constant = [](const std::vector<double>& v) {
      return std::all_of(v.begin(), v.end(), [&](double a) { return a == v.front(); });
    };
    // Say why rather than print r = nan.
    if (cr.n < 3) {
      cr.note = "not computable: needs at least 3 patients with a score and " + col + " (" +
                std::to_string(cr.n) + (cr.n == 1 ? " has" : " have") + " both)";
    } else if (constant(y)) {
      cr.note = "not computable: " + col + " is constant (" + number_text(y.front()) + ")";
    } else if (constant(x)) {
      cr.note = "not computable: " + options.score_column + " is constant (" + number_text(x.front()) + ")";
    }
    if (cr.note.empty()) {
      cr.pearson = stats::pearson(x, y);
      cr.spearman = stats::spearman(x, y);
    } else {
      cr.pearson.r = cr.pearson.p = cr.pearson.statistic = kMissing;
      cr.spearman.r = cr.spearman.p = cr.spearman.statistic = kMissing;
    }
    st.correlations.push_back(cr);
  }
  return st;
}

}  // namespace ihc
