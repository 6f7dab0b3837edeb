#include "models/scoring.hpp"

#include <charconv>
#include <cmath>
#include <limits>

namespace ihc {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string format_number(double v) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, res.ptr);
}

constexpr GroupScore kGroupScores[] = {
    GroupScore::None, GroupScore::PositivePercent, GroupScore::HScore, GroupScore::IntensityScore,
    GroupScore::Ixp,  GroupScore::IxpRate,         GroupScore::Allred, GroupScore::Irs};

// Thresholds are optical densities. An 8-bit pixel's OD is at most log10(255) = 2.4 per channel, about 3.7 as
// DAB after deconvolution with QuPath's H-DAB vectors: a threshold above 5 grades no cell, and 50 or 1e9 is a
// percentage or a typo, refused with the key and the range.
constexpr double kMaxThresholdOd = 5.0;

ParamSpec threshold_spec(const std::string& key, const std::string& label, const std::string& value,
                         const std::string& help) {
  ParamSpec s;
  s.key = key;
  s.label = label;
  s.type = ParamType::Double;
  s.default_value = value;
  s.unit = "OD";
  s.help = help;
  s.min = 0.0;
  s.max = kMaxThresholdOd;
  return s;
}

}  // namespace

std::string_view threshold_mode_name(ThresholdMode m) {
  return m == ThresholdMode::Single ? "single" : "three";
}

std::string_view intensity_rule_name(IntensityRule r) {
  return r == IntensityRule::MostCommon ? "most_common" : "mean_grade";
}

std::string_view group_score_key(GroupScore g) {
  switch (g) {
    case GroupScore::None:
      return "none";
    case GroupScore::PositivePercent:
      return "positive_percent";
    case GroupScore::HScore:
      return "h_score";
    case GroupScore::IntensityScore:
      return "intensity_score";
    case GroupScore::Ixp:
      return "ixp";
    case GroupScore::IxpRate:
      return "ixp_rate";
    case GroupScore::Allred:
      return "allred";
    case GroupScore::Irs:
      return "irs";
  }
  return "none";
}

std::string_view group_score_label(GroupScore g) {
  switch (g) {
    case GroupScore::None:
      return "None";
    case GroupScore::PositivePercent:
      return "Positive %";
    case GroupScore::HScore:
      return "H-score";
    case GroupScore::IntensityScore:
      return "Intensity score";
    case GroupScore::Ixp:
      return "IxP score";
    case GroupScore::IxpRate:
      return "IxP (positive rate)";
    case GroupScore::Allred:
      return "Allred score";
    case GroupScore::Irs:
      return "IRS";
  }
  return "None";
}

std::vector<ParamSpec> scoring_param_specs() {
  std::vector<ParamSpec> specs;
  ParamSpec m;
  m.key = "score_measurement";
  m.label = "Score measurement";
  m.type = ParamType::String;
  m.default_value = "Membrane: DAB OD mean";
  m.help = "cell measurement graded into classes, '<Compartment>: <measurement>' as in QuPath";
  specs.push_back(m);

  ParamSpec mode;
  mode.key = "threshold_mode";
  mode.label = "Threshold mode";
  mode.type = ParamType::Choice;
  mode.default_value = "three";
  mode.help = "three thresholds give Negative/1+/2+/3+; single gives Negative/Positive";
  mode.choices = {"three", "single"};
  specs.push_back(mode);

  specs.push_back(threshold_spec("threshold_1plus", "Threshold 1+", "0.2", "a value >= this is at least 1+"));
  specs.push_back(threshold_spec("threshold_2plus", "Threshold 2+", "0.4", "a value >= this is at least 2+"));
  specs.push_back(threshold_spec("threshold_3plus", "Threshold 3+", "0.6", "a value >= this is 3+"));
  specs.push_back(threshold_spec("threshold_positive", "Threshold (single)", "0.2",
                                 "single mode: a value >= this is Positive"));

  ParamSpec rule;
  rule.key = "intensity_rule";
  rule.label = "Intensity rule";
  rule.type = ParamType::Choice;
  rule.default_value = "mean_grade";
  rule.help =
      "intensity score from the mean grade of positive cells (QuPath's Allred rule) or the most common grade";
  rule.choices = {"mean_grade", "most_common"};
  specs.push_back(rule);

  ParamSpec group;
  group.key = "group_score";
  group.label = "Group score";
  group.type = ParamType::Choice;
  group.default_value = "none";
  group.help = "score cut into High/Low groups at group_cutoff";
  for (GroupScore g : kGroupScores) group.choices.emplace_back(group_score_key(g));
  specs.push_back(group);

  ParamSpec cutoff;
  cutoff.key = "group_cutoff";
  cutoff.label = "Group cutoff";
  cutoff.type = ParamType::String;
  cutoff.default_value = "";
  cutoff.help = "a score >= this is High, below is Low; empty when group_score is none";
  cutoff.normalize = [](const std::string& value) {  // 1e2 and 100 are one cutoff (a --resume regraded)
    double v = 0.0;
    return parse_param_number(value, &v) ? format_number(v) : value;
  };
  specs.push_back(cutoff);
  return specs;
}

void validate(const GradingParams& p) {
  if (p.mode != ThresholdMode::Three) return;
  if (!(p.threshold_1plus < p.threshold_2plus && p.threshold_2plus < p.threshold_3plus)) {
    throw ParamError("thresholds must be increasing: threshold_1plus = " + format_number(p.threshold_1plus) +
                     ", threshold_2plus = " + format_number(p.threshold_2plus) +
                     ", threshold_3plus = " + format_number(p.threshold_3plus));
  }
}

GradingParams grading_params_from(const ParamSet& params) {
  GradingParams p;
  p.measurement = params.get_string("score_measurement");
  if (p.measurement.empty()) throw ParamError("parameter 'score_measurement' must not be empty");
  p.mode = params.get_string("threshold_mode") == "single" ? ThresholdMode::Single : ThresholdMode::Three;
  p.threshold_1plus = params.get_double("threshold_1plus");
  p.threshold_2plus = params.get_double("threshold_2plus");
  p.threshold_3plus = params.get_double("threshold_3plus");
  p.threshold_positive = params.get_double("threshold_positive");
  validate(p);
  return p;
}

std::vector<double> grading_thresholds(const GradingParams& g) {
  if (g.mode == ThresholdMode::Single) return {g.threshold_positive};
  return {g.threshold_1plus, g.threshold_2plus, g.threshold_3plus};
}

void set_grading_params(ParamSet& params, const GradingParams& g, const std::string& origin) {
  params.set("score_measurement", g.measurement, origin);
  params.set("threshold_mode", std::string(threshold_mode_name(g.mode)), origin);
  params.set("threshold_1plus", format_number(g.threshold_1plus), origin);
  params.set("threshold_2plus", format_number(g.threshold_2plus), origin);
  params.set("threshold_3plus", format_number(g.threshold_3plus), origin);
  params.set("threshold_positive", format_number(g.threshold_positive), origin);
}

ScoreOptions score_options_from(const ParamSet& params) {
  ScoreOptions o;
  o.graded = params.get_string("threshold_mode") != "single";
  o.intensity_rule = params.get_string("intensity_rule") == "most_common" ? IntensityRule::MostCommon
                                                                          : IntensityRule::MeanGrade;
  const std::string group = params.get_string("group_score");
  for (GroupScore g : kGroupScores) {
    if (group == group_score_key(g)) o.group_score = g;
  }
  const std::string cutoff = params.get_string("group_cutoff");
  if (o.group_score == GroupScore::None) {
    if (!cutoff.empty()) {
      throw ParamError("parameter 'group_cutoff' is set to " + cutoff + " but group_score is none");
    }
    return o;
  }
  if (cutoff.empty()) {
    throw ParamError("parameter 'group_cutoff' must be set when group_score is " + group);
  }
  if (!parse_param_number(cutoff, &o.group_cutoff)) {
    throw ParamError("parameter 'group_cutoff' expects a number, got '" + cutoff + "'");
  }
  return o;
}

CellClass grade(float value, const GradingParams& p) {
  if (std::isnan(value)) return CellClass::Negative;
  const double v = value;  // compared in double, as QuPath compares its float measurements
  if (p.mode == ThresholdMode::Single)
    return v >= p.threshold_positive ? CellClass::Positive : CellClass::Negative;
  if (v >= p.threshold_3plus) return CellClass::ThreePlus;
  if (v >= p.threshold_2plus) return CellClass::TwoPlus;
  if (v >= p.threshold_1plus) return CellClass::OnePlus;
  return CellClass::Negative;
}

std::vector<CellClass> grade_cells(const CellTable& table, const GradingParams& params) {
  validate(params);
  const int j = table.column(params.measurement);
  if (j < 0) {
    std::string available;
    for (const auto& name : table.names) available += (available.empty() ? "'" : ", '") + name + "'";
    throw ScoringError("measurement '" + params.measurement + "' not found in the cell table; available: " +
                       (available.empty() ? std::string("none") : available));
  }
  const auto& column = table.columns[static_cast<std::size_t>(j)];
  if (column.size() != table.size()) {
    throw ScoringError("measurement '" + params.measurement + "' has " + std::to_string(column.size()) +
                       " values for " + std::to_string(table.size()) + " cells");
  }
  std::vector<CellClass> classes(table.size());
  for (std::size_t i = 0; i < classes.size(); ++i) classes[i] = grade(column[i], params);
  return classes;
}

GradeCounts& GradeCounts::operator+=(const GradeCounts& o) {
  negative += o.negative;
  one_plus += o.one_plus;
  two_plus += o.two_plus;
  three_plus += o.three_plus;
  positive_ungraded += o.positive_ungraded;
  return *this;
}

namespace {

void add(GradeCounts& c, CellClass cls) {
  switch (cls) {
    case CellClass::Negative:
      ++c.negative;
      break;
    case CellClass::OnePlus:
      ++c.one_plus;
      break;
    case CellClass::TwoPlus:
      ++c.two_plus;
      break;
    case CellClass::ThreePlus:
      ++c.three_plus;
      break;
    case CellClass::Positive:
      ++c.positive_ungraded;
      break;
  }
}

}  // namespace

GradeCounts count_classes(const std::vector<CellClass>& classes) {
  GradeCounts c;
  for (CellClass cls : classes) add(c, cls);
  return c;
}

GradeCounts count_classes(const std::vector<CellClass>& classes,
                          const std::vector<std::uint8_t>& membership) {
  if (membership.size() != classes.size()) {
    throw ScoringError("region membership has " + std::to_string(membership.size()) + " entries for " +
                       std::to_string(classes.size()) + " cells");
  }
  GradeCounts c;
  for (std::size_t i = 0; i < classes.size(); ++i) {
    if (membership[i] != 0) add(c, classes[i]);
  }
  return c;
}

int allred_proportion_score(std::int64_t positive, std::int64_t detections) {
  // QuPath's edges (DetectionPathClassCounts.getAllredProportion), compared exactly in integers:
  // p >= 2/3 -> 5, p >= 1/3 -> 4, p >= 0.1 -> 3, p >= 0.01 -> 2, p > 0 -> 1.
  const std::int64_t p = positive;
  const std::int64_t n = detections;
  if (p <= 0 || n <= 0) return 0;
  if (3 * p >= 2 * n) return 5;
  if (3 * p >= n) return 4;
  if (10 * p >= n) return 3;
  if (100 * p >= n) return 2;
  return 1;
}

int irs_percentage_score(std::int64_t positive, std::int64_t detections) {
  // Remmele: 0 none, 1 < 10 %, 2 10-50 %, 3 > 50-80 %, 4 > 80 %.
  const std::int64_t p = positive;
  const std::int64_t n = detections;
  if (p <= 0 || n <= 0) return 0;
  if (5 * p > 4 * n) return 4;
  if (2 * p > n) return 3;
  if (10 * p >= n) return 2;
  return 1;
}

int intensity_score(const GradeCounts& c, IntensityRule rule) {
  const std::int64_t graded = c.one_plus + c.two_plus + c.three_plus;
  if (graded == 0) return 0;
  if (rule == IntensityRule::MostCommon) {
    // Ties go to the higher grade: checked from 3+ down, a lower grade must beat it strictly.
    int best = 3;
    std::int64_t best_count = c.three_plus;
    if (c.two_plus > best_count) best = 2, best_count = c.two_plus;
    if (c.one_plus > best_count) best = 1;
    return best;
  }
  // Mean grade m = sum / graded; m > 7/3 and m > 5/3 compared exactly as 3 * sum > 7 * graded.
  const std::int64_t sum = c.one_plus + 2 * c.two_plus + 3 * c.three_plus;
  if (3 * sum > 7 * graded) return 3;
  if (3 * sum > 5 * graded) return 2;
  return 1;
}

double group_value(const Scores& s, GroupScore g) {
  switch (g) {
    case GroupScore::None:
      return kNaN;
    case GroupScore::PositivePercent:
      return s.positive_percent;
    case GroupScore::HScore:
      return s.h_score;
    case GroupScore::IntensityScore:
      return s.intensity_score;
    case GroupScore::Ixp:
      return s.ixp;
    case GroupScore::IxpRate:
      return s.ixp_rate;
    case GroupScore::Allred:
      return s.allred;
    case GroupScore::Irs:
      return s.irs;
  }
  return kNaN;
}

std::string group_of(const Scores& scores, GroupScore g, double cutoff) {
  const double v = group_value(scores, g);
  if (std::isnan(v)) return "";
  return v >= cutoff ? "High" : "Low";
}

Scores compute_scores(const GradeCounts& c, const ScoreOptions& options) {
  Scores s;
  s.counts = c;
  s.detections = c.detections();
  s.positive = c.positive();
  s.group_score = options.group_score;
  s.group_cutoff = options.group_cutoff;
  const double n = static_cast<double>(s.detections);
  if (s.detections == 0) {
    s.positive_percent = s.h_score = s.mean_positive_grade = s.intensity_score = kNaN;
    s.ixp = s.ixp_rate = s.allred_proportion = s.allred = s.irs_percentage = s.irs = kNaN;
    s.warnings.push_back("no cells: every score is undefined (NaN)");
  } else {
    // Each percentage is one division of exact integers, so a score that is exactly a round cutoff
    // (92 / 160 = 57.5 %) is that double, not 57.49999999999999 in the Low group.
    s.positive_percent = 100.0 * static_cast<double>(s.positive) / n;
    s.allred_proportion = allred_proportion_score(s.positive, s.detections);
    s.irs_percentage = irs_percentage_score(s.positive, s.detections);
    const std::int64_t graded = c.one_plus + c.two_plus + c.three_plus;
    if (c.positive_ungraded > 0 || !options.graded) {
      // Single-threshold cells have no intensity: a grade of 1 would invent an H-score of at most 100.
      s.h_score = s.mean_positive_grade = s.intensity_score = kNaN;
      s.ixp = s.ixp_rate = s.allred = s.irs = kNaN;
      if (c.positive_ungraded > 0)
        s.warnings.push_back(
            std::to_string(c.positive_ungraded) +
            " positive cells have no intensity grade (single threshold): H-score, intensity, "
            "IxP, Allred and IRS are undefined (NaN)");
    } else {
      const auto sum = static_cast<double>(c.one_plus + 2 * c.two_plus + 3 * c.three_plus);
      s.h_score = 100.0 * sum / n;
      s.mean_positive_grade = graded > 0 ? sum / static_cast<double>(graded) : kNaN;
      const int intensity = intensity_score(c, options.intensity_rule);
      s.intensity_score = intensity;
      s.ixp = 100.0 * static_cast<double>(intensity * s.positive) / n;
      s.ixp_rate = static_cast<double>(intensity * s.positive) / n;
      s.allred = s.allred_proportion + s.intensity_score;
      s.irs = s.intensity_score * s.irs_percentage;
    }
  }
  if (options.group_score != GroupScore::None) {
    s.group = group_of(s, options.group_score, options.group_cutoff);
    if (s.group.empty()) {
      s.warnings.push_back("no High/Low group: " + std::string(group_score_label(options.group_score)) +
                           " is undefined");
    }
  }
  return s;
}

}  // namespace ihc
