#pragma once
// Agreement between detected cells and annotated cell points: one-to-one matching within a radius, detection
// precision/recall/F1, per-class F1 (positive/negative), Positive % of both, and agreement over images.
// Pure functions: no file I/O (truth readers live in models/truth_io.hpp).
#include <array>
#include <cstdint>
#include <opencv2/core.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "models/scoring.hpp"

namespace ihc {

// Labels of annotated points. Ignore marks cells that are annotated but not scored (e.g. SHIDC lymphocytes):
// a detection matched to one leaves both counts.
enum class TruthLabel : std::uint8_t { Positive = 0, Negative = 1, Ignore = 2 };

std::string_view truth_label_name(TruthLabel label);  // "positive", "negative", "ignore"
bool parse_truth_label(std::string_view name, TruthLabel* out);

// Intensity grades for 4-class agreement: 0 Negative, 1 = 1+, 2 = 2+, 3 = 3+.
constexpr int kGrades = 4;

struct TruthPoint {
  cv::Point2d position;  // pixels of the evaluated image
  TruthLabel label = TruthLabel::Negative;
  int grade = -1;  // 0..3 when the truth names the intensity grade (Negative, 1+, 2+, 3+); -1 otherwise
};

struct PredictedPoint {
  cv::Point2d position;
  bool positive = false;  // grade != Negative under the chosen preset
  int grade = -1;         // 0..3 when graded in three-threshold mode; -1 otherwise
};

struct MatchPair {
  int predicted = -1;  // index into the predicted points
  int truth = -1;      // index into the truth points
  double distance = 0.0;
};

// Maximum-cardinality one-to-one matching of pairs closer than or at `radius_px`, minimising the total
// distance among the matchings of that size (Hungarian algorithm on each connected group of candidate pairs).
// Ties are resolved deterministically (same input, same pairs). Pairs are sorted by predicted index.
std::vector<MatchPair> match_points(const std::vector<cv::Point2d>& predicted,
                                    const std::vector<cv::Point2d>& truth, double radius_px);

struct ClassCounts {
  int tp = 0;
  int fp = 0;
  int fn = 0;
  double precision() const;  // NaN when tp + fp == 0
  double recall() const;     // NaN when tp + fn == 0
  double f1() const;         // 2TP / (2TP + FP + FN); NaN when all three are 0
  ClassCounts& operator+=(const ClassCounts& o);
};

// Agreement of intensity grades (Negative/1+/2+/3+), defined only when every counted truth point and every
// counted detection carries a grade (a 4-class truth, a three-threshold preset).
struct GradeAgreement {
  bool available = false;
  // Matched pairs: confusion[truth grade][predicted grade].
  std::array<std::array<int, kGrades>, kGrades> confusion{};
  std::array<int, kGrades> predicted{};  // counted detections per predicted grade
  std::array<int, kGrades> truth{};      // counted truth points per grade
  // Per grade g: TP = matched pairs graded g on both sides, FP = detections of g that are not TP,
  // FN = truth points of g that are not TP (a miss or a wrong grade).
  ClassCounts per_grade(int g) const;
  // Cohen's kappa of the matched pairs with linear weights 1 - |i - j| / 3; NaN without pairs or when
  // chance agreement is total.
  double weighted_kappa() const;
  int matched() const;
  GradeAgreement& operator+=(const GradeAgreement& o);
};

// Scores (H-score, intensity score, IxP, ...) of cells counted per grade.
Scores scores_of_grades(const std::array<int, kGrades>& counts, const ScoreOptions& options = {});

struct EvaluationParams {
  double radius_px = 10.0;
};

// Counts of one image.
struct ImageEvaluation {
  std::string name;
  int predicted_total = 0;  // detections that count (inside the region, not matched to an ignored point)
  int predicted_positive = 0;
  int truth_total = 0;  // positive + negative annotated points inside the region
  int truth_positive = 0;
  int matched_ignored = 0;       // detections removed because they matched an ignored point
  int outside_region = 0;        // detections removed because they lie outside the region mask
  ClassCounts detection;         // any matched pair is a TP
  ClassCounts positive;          // TP: matched pair with both positive
  ClassCounts negative;          // TP: matched pair with both negative
  std::vector<MatchPair> pairs;  // every pair, including those with ignored points
  GradeAgreement grades;

  double predicted_positive_percent() const;  // NaN when no detection counts
  double truth_positive_percent() const;      // NaN when no positive/negative point
};

// Evaluates one image. `region` (optional, CV_8U, non-zero = annotated area, same size as the image) drops
// detections and points outside it before matching.
ImageEvaluation evaluate_image(const std::string& name, const std::vector<PredictedPoint>& predicted,
                               const std::vector<TruthPoint>& truth, const EvaluationParams& params,
                               const cv::Mat& region = cv::Mat());

// Pooled counts over images and the agreement of Positive % between images.
struct EvaluationSummary {
  int images = 0;
  int predicted_total = 0;
  int predicted_positive = 0;
  int truth_total = 0;
  int truth_positive = 0;
  ClassCounts detection;
  ClassCounts positive;
  ClassCounts negative;
  // Positive % of the pooled counts (NaN without counted detections, or without positive and negative
  // points) and their difference: the pooled row's. Not mean_abs_percent_diff, the mean over images.
  double predicted_positive_percent() const;
  double truth_positive_percent() const;
  double pooled_abs_percent_diff() const;
  int percent_images = 0;              // images where both percentages are defined
  double mean_abs_percent_diff = 0.0;  // mean |predicted - true| Positive % (points); NaN when none
  double max_abs_percent_diff = 0.0;
  double pearson_r = 0.0;  // of predicted vs true Positive % over images; NaN below 3 images
                           // (two points always correlate perfectly) or without variance
  // Grades (only when every image has them): pooled agreement and the mean |predicted - true| over images
  // of H-score (0-300), intensity score (0-3) and IxP (0-300); NaN when unavailable.
  GradeAgreement grades;
  double mean_abs_h_score_diff = 0.0;
  double mean_abs_intensity_diff = 0.0;
  double mean_abs_ixp_diff = 0.0;
};

EvaluationSummary summarize(const std::vector<ImageEvaluation>& images, const ScoreOptions& options = {});

// Pearson correlation; NaN for fewer than 2 pairs or zero variance.
double pearson(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace ihc
