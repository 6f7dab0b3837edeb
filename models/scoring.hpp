#pragma once
// Grading cells Negative/1+/2+/3+ (or Positive/Negative) from one measurement column, and the scores of a
// set of cells: Positive %, H-score, intensity score, IxP, Allred, IRS, High/Low group. Formulas and every
// bin edge are written in docs/scoring.md. Grading reads a CellTable column, so re-grading never re-detects.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "models/cells.hpp"
#include "models/parameters.hpp"

namespace ihc {

// Data errors (missing measurement column, mismatched sizes): what() says what is wrong and what is
// available.
class ScoringError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class ThresholdMode : std::uint8_t { Three, Single };          // "three" (1+/2+/3+), "single" (Positive)
enum class IntensityRule : std::uint8_t { MeanGrade, MostCommon };  // "mean_grade", "most_common"
// The score a High/Low group is cut on; None = no group.
enum class GroupScore : std::uint8_t {
  None,
  PositivePercent,
  HScore,
  IntensityScore,
  Ixp,
  IxpRate,
  Allred,
  Irs
};

struct GradingParams {
  std::string measurement = "Membrane: DAB OD mean";  // "<Compartment>: <measurement>", a CellTable column
  ThresholdMode mode = ThresholdMode::Three;
  double threshold_1plus = 0.2;  // OD; value >= threshold takes the higher class
  double threshold_2plus = 0.4;
  double threshold_3plus = 0.6;
  double threshold_positive = 0.2;  // single mode
};

struct ScoreOptions {
  IntensityRule intensity_rule = IntensityRule::MeanGrade;
  GroupScore group_score = GroupScore::None;
  double group_cutoff = 0.0;  // value >= cutoff is High; only used when group_score != None
  // False in single-threshold mode: cells have no intensity, so H-score, intensity, IxP, Allred and IRS are
  // undefined even when no cell is positive (a Ki-67 batch gave 0 there and NaN on every other slide).
  bool graded = true;
};

// Keys: score_measurement, threshold_mode, threshold_1plus, threshold_2plus, threshold_3plus,
// threshold_positive, intensity_rule, group_score, group_cutoff.
std::vector<ParamSpec> scoring_param_specs();
// Throws ParamError when the three thresholds are not strictly increasing (only checked in three mode).
GradingParams grading_params_from(const ParamSet& params);
// The inverse: writes `g` into the grading keys of `params` (origin: where the values came from, for errors),
// so a parameter file saved with it grades as `g` (ihcview's Save and its re-scoring).
void set_grading_params(ParamSet& params, const GradingParams& g, const std::string& origin);
// The thresholds in use, ascending: {threshold_positive} in single-threshold mode, else 1+, 2+, 3+ (what
// slide.json records, the histograms draw and the viewer's borderline filter measures from).
std::vector<double> grading_thresholds(const GradingParams& g);
// group_cutoff is text so that "not set" is visible: it must be a number when group_score is not none, and
// empty when it is none (a cutoff without a score is a forgotten setting); ParamError otherwise.
ScoreOptions score_options_from(const ParamSet& params);
// Throws ParamError naming the thresholds when they are not strictly increasing.
void validate(const GradingParams& params);

std::string_view threshold_mode_name(ThresholdMode m);  // "three", "single"
std::string_view intensity_rule_name(IntensityRule r);  // "mean_grade", "most_common"
std::string_view group_score_key(GroupScore g);         // "none", "positive_percent", "h_score", ...
std::string_view group_score_label(GroupScore g);       // "Positive %", "H-score", ...

// NaN is Negative. Three mode: >= 3+ threshold -> 3+, >= 2+ -> 2+, >= 1+ -> 1+. Single: >= threshold ->
// Positive.
CellClass grade(float value, const GradingParams& params);
// Grades every cell from the column params.measurement; throws ScoringError naming the missing column and
// listing the available ones; validates the thresholds first.
std::vector<CellClass> grade_cells(const CellTable& table, const GradingParams& params);

// Named GradeCounts (not ClassCounts) because models/evaluation.hpp has a ClassCounts of TP/FP/FN.
struct GradeCounts {
  std::int64_t negative = 0;
  std::int64_t one_plus = 0;
  std::int64_t two_plus = 0;
  std::int64_t three_plus = 0;
  std::int64_t positive_ungraded = 0;  // CellClass::Positive (single-threshold mode): positive, no intensity

  std::int64_t positive() const { return one_plus + two_plus + three_plus + positive_ungraded; }
  std::int64_t detections() const { return negative + positive(); }
  GradeCounts& operator+=(const GradeCounts& o);
};

// Counts all cells, or those whose membership entry is non-zero (same size as classes, else ScoringError).
GradeCounts count_classes(const std::vector<CellClass>& classes);
GradeCounts count_classes(const std::vector<CellClass>& classes, const std::vector<std::uint8_t>& membership);

// Every score of one set of cells. Undefined scores are NaN (never 0) and `warnings` says why.
struct Scores {
  GradeCounts counts;
  std::int64_t detections = 0;
  std::int64_t positive = 0;
  double positive_percent = 0.0;     // 0-100
  double h_score = 0.0;              // 0-300
  double mean_positive_grade = 0.0;  // 1-3, mean grade of positive cells
  double intensity_score = 0.0;      // 0-3 ("initial score")
  double ixp = 0.0;                  // intensity x Positive %, 0-300
  double ixp_rate = 0.0;             // intensity x positive fraction, 0-3
  double allred_proportion = 0.0;    // 0-5
  double allred = 0.0;               // 0-8
  double irs_percentage = 0.0;       // 0-4
  double irs = 0.0;                  // 0-12
  GroupScore group_score = GroupScore::None;
  double group_cutoff = 0.0;
  std::string group;  // "High", "Low", or "" (no group asked, or score undefined)
  std::vector<std::string> warnings;
};

Scores compute_scores(const GradeCounts& counts, const ScoreOptions& options = {});

// The bins on their own (documented in docs/scoring.md), exact on integer counts.
int allred_proportion_score(std::int64_t positive, std::int64_t detections);  // 0-5, QuPath's edges
int irs_percentage_score(std::int64_t positive, std::int64_t detections);     // 0-4
// 0 when nothing is positive; mean grade > 7/3 -> 3, > 5/3 -> 2, else 1 (QuPath's Allred intensity);
// MostCommon: the grade with most cells, ties to the higher grade. Ungraded positives are ignored here.
int intensity_score(const GradeCounts& counts, IntensityRule rule);
// The value a group is cut on (NaN for None).
double group_value(const Scores& scores, GroupScore g);
// "High" when that value is at or above `cutoff`, "Low" below it, "" when it is undefined (or g is None).
std::string group_of(const Scores& scores, GroupScore g, double cutoff);

}  // namespace ihc
