#include "models/scoring.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/test_support.hpp"

namespace ihc {
namespace {

constexpr float kNaNf = std::numeric_limits<float>::quiet_NaN();

template <typename E>
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "(no error)";
}

GradeCounts counts(std::int64_t neg, std::int64_t p1, std::int64_t p2, std::int64_t p3,
                   std::int64_t pos = 0) {
  GradeCounts c;
  c.negative = neg;
  c.one_plus = p1;
  c.two_plus = p2;
  c.three_plus = p3;
  c.positive_ungraded = pos;
  return c;
}

GradingParams quarter_thresholds() {
  GradingParams p;
  p.threshold_1plus = 0.25;  // exact in float and double: edges are tested exactly
  p.threshold_2plus = 0.5;
  p.threshold_3plus = 0.75;
  p.threshold_positive = 0.25;
  return p;
}

TEST(Grade, ValueAtAThresholdTakesTheHigherClassAndNaNIsNegative) {
  GradingParams p = quarter_thresholds();
  EXPECT_EQ(grade(kNaNf, p), CellClass::Negative);
  EXPECT_EQ(grade(-1.0f, p), CellClass::Negative);
  EXPECT_EQ(grade(std::nextafter(0.25f, 0.0f), p), CellClass::Negative);
  EXPECT_EQ(grade(0.25f, p), CellClass::OnePlus);
  EXPECT_EQ(grade(std::nextafter(0.5f, 0.0f), p), CellClass::OnePlus);
  EXPECT_EQ(grade(0.5f, p), CellClass::TwoPlus);
  EXPECT_EQ(grade(0.75f, p), CellClass::ThreePlus);
  EXPECT_EQ(grade(5.0f, p), CellClass::ThreePlus);
  p.mode = ThresholdMode::Single;
  EXPECT_EQ(grade(kNaNf, p), CellClass::Negative);
  EXPECT_EQ(grade(std::nextafter(0.25f, 0.0f), p), CellClass::Negative);
  EXPECT_EQ(grade(0.25f, p), CellClass::Positive);
  EXPECT_EQ(grade(3.0f, p), CellClass::Positive);
}

TEST(Grade, DefaultThresholdsFollowQuPath) {
  GradingParams p;
  EXPECT_EQ(p.measurement, "Membrane: DAB OD mean");
  EXPECT_EQ(grade(0.19f, p), CellClass::Negative);
  EXPECT_EQ(grade(0.21f, p), CellClass::OnePlus);
  EXPECT_EQ(grade(0.41f, p), CellClass::TwoPlus);
  EXPECT_EQ(grade(0.61f, p), CellClass::ThreePlus);
}

CellTable table_with(const std::string& column, std::vector<float> values) {
  CellTable t;
  t.cells.resize(values.size());
  t.add_column("Cell: Area um^2");
  t.columns[static_cast<std::size_t>(t.add_column(column))] = std::move(values);
  return t;
}

TEST(GradeCells, RegradingWithNewThresholdsReadsTheSameColumn) {
  const CellTable t = table_with("Membrane: DAB OD mean", {0.1f, 0.3f, 0.55f, 0.8f, kNaNf});
  GradingParams p = quarter_thresholds();
  EXPECT_EQ(grade_cells(t, p),
            (std::vector<CellClass>{CellClass::Negative, CellClass::OnePlus, CellClass::TwoPlus,
                                    CellClass::ThreePlus, CellClass::Negative}));
  p.threshold_1plus = 0.05;
  p.threshold_2plus = 0.2;
  p.threshold_3plus = 0.5;
  EXPECT_EQ(grade_cells(t, p),
            (std::vector<CellClass>{CellClass::OnePlus, CellClass::TwoPlus, CellClass::ThreePlus,
                                    CellClass::ThreePlus, CellClass::Negative}));
  p.mode = ThresholdMode::Single;
  p.threshold_positive = 0.5;
  EXPECT_EQ(grade_cells(t, p),
            (std::vector<CellClass>{CellClass::Negative, CellClass::Negative, CellClass::Positive,
                                    CellClass::Positive, CellClass::Negative}));
}

TEST(GradeCells, MissingColumnIsNamedWithTheAvailableOnes) {
  const CellTable t = table_with("Nucleus: DAB OD mean", {0.1f});
  EXPECT_EQ(error_of<ScoringError>([&] { grade_cells(t, GradingParams{}); }),
            "measurement 'Membrane: DAB OD mean' not found in the cell table; available: 'Cell: Area um^2', "
            "'Nucleus: DAB OD mean'");
  EXPECT_EQ(error_of<ScoringError>([&] { grade_cells(CellTable{}, GradingParams{}); }),
            "measurement 'Membrane: DAB OD mean' not found in the cell table; available: none");
}

TEST(GradeCells, ThresholdsMustIncrease) {
  const CellTable t = table_with("Membrane: DAB OD mean", {0.1f});
  GradingParams p;
  p.threshold_2plus = 0.2;
  EXPECT_EQ(
      error_of<ParamError>([&] { grade_cells(t, p); }),
      "thresholds must be increasing: threshold_1plus = 0.2, threshold_2plus = 0.2, threshold_3plus = 0.6");
  p.mode = ThresholdMode::Single;  // the three thresholds are unused then
  EXPECT_EQ(grade_cells(t, p).size(), 1u);
}

// slide.json, the histograms and the viewer's borderline filter take the thresholds of the active mode only.
TEST(ScoringParams, GradingThresholdsAreThoseOfTheMode) {
  GradingParams g;
  g.threshold_1plus = 0.2;
  g.threshold_2plus = 0.4;
  g.threshold_3plus = 0.6;
  g.threshold_positive = 0.15;
  g.mode = ThresholdMode::Three;
  EXPECT_EQ(grading_thresholds(g), (std::vector<double>{0.2, 0.4, 0.6}));
  g.mode = ThresholdMode::Single;
  EXPECT_EQ(grading_thresholds(g), (std::vector<double>{0.15}));
}

// What ihcview saves: grading written into a parameter set reads back as the same grading, to the last digit.
TEST(ScoringParams, SetGradingParamsReadsBackExactly) {
  ParamSet params(scoring_param_specs());
  GradingParams g;
  g.measurement = "Nucleus: DAB OD mean";
  g.mode = ThresholdMode::Single;
  g.threshold_1plus = 0.1234567890123;
  g.threshold_2plus = 0.35;
  g.threshold_3plus = 0.9;
  g.threshold_positive = 0.17;
  set_grading_params(params, g, "viewer");
  const GradingParams back = grading_params_from(params);
  EXPECT_EQ(back.measurement, g.measurement);
  EXPECT_EQ(back.mode, ThresholdMode::Single);
  EXPECT_EQ(back.threshold_1plus, g.threshold_1plus);
  EXPECT_EQ(back.threshold_2plus, 0.35);
  EXPECT_EQ(back.threshold_3plus, 0.9);
  EXPECT_EQ(back.threshold_positive, 0.17);
  g.threshold_1plus = -1;  // refused as a file or --set value would be, naming where it came from
  EXPECT_EQ(error_of<ParamError>([&] { set_grading_params(params, g, "viewer"); }),
            "viewer: parameter 'threshold_1plus' must be between 0 and 5, got -1");
}

// One cutoff, one spelling: "1e2" and "100" are the same setting in the files and the hashes --resume
// compares (a --resume with 1e2 regraded every slide).
TEST(ScoringParams, GroupCutoffIsStoredInOneSpelling) {
  ParamSet params(scoring_param_specs());
  params.set("group_cutoff", "1e2", "--set");
  EXPECT_EQ(params.get_string("group_cutoff"), "100");
  params.set("group_cutoff", "+57.50", "--set");
  EXPECT_EQ(params.get_string("group_cutoff"), "57.5");
  params.set("group_cutoff", "abc", "--set");  // refused later, by score_options_from, with its text
  EXPECT_EQ(params.get_string("group_cutoff"), "abc");
}

TEST(ScoringParams, DeclaredSpecsGiveTheDefaultsAndValidate) {
  ParamSet params(scoring_param_specs());
  GradingParams g = grading_params_from(params);
  EXPECT_EQ(g.measurement, "Membrane: DAB OD mean");
  EXPECT_EQ(g.mode, ThresholdMode::Three);
  EXPECT_DOUBLE_EQ(g.threshold_1plus, 0.2);
  EXPECT_DOUBLE_EQ(g.threshold_2plus, 0.4);
  EXPECT_DOUBLE_EQ(g.threshold_3plus, 0.6);
  EXPECT_DOUBLE_EQ(g.threshold_positive, 0.2);
  ScoreOptions o = score_options_from(params);
  EXPECT_EQ(o.intensity_rule, IntensityRule::MeanGrade);
  EXPECT_EQ(o.group_score, GroupScore::None);

  params.load_text(
      "score_measurement = Nucleus: DAB OD mean\nthreshold_mode = single\nthreshold_positive = 0.15\n"
      "intensity_rule = most_common\ngroup_score = h_score\ngroup_cutoff = 150\n",
      "study.params");
  g = grading_params_from(params);
  EXPECT_EQ(g.measurement, "Nucleus: DAB OD mean");
  EXPECT_EQ(g.mode, ThresholdMode::Single);
  EXPECT_DOUBLE_EQ(g.threshold_positive, 0.15);
  o = score_options_from(params);
  EXPECT_EQ(o.intensity_rule, IntensityRule::MostCommon);
  EXPECT_EQ(o.group_score, GroupScore::HScore);
  EXPECT_DOUBLE_EQ(o.group_cutoff, 150.0);

  EXPECT_EQ(error_of<ParamError>([&] { params.set("threshold_mode", "two", "study.params:2"); }),
            "study.params:2: parameter 'threshold_mode' expects one of 'three', 'single', got 'two'");
  EXPECT_EQ(error_of<ParamError>([&] { params.set("threshold_1plus", "-0.2"); }),
            "--set: parameter 'threshold_1plus' must be between 0 and 5, got -0.2");
  params.set("threshold_mode", "three");
  params.set("threshold_3plus", "0.3");
  EXPECT_EQ(
      error_of<ParamError>([&] { grading_params_from(params); }),
      "thresholds must be increasing: threshold_1plus = 0.2, threshold_2plus = 0.4, threshold_3plus = 0.3");
  params.set("group_cutoff", "high");
  EXPECT_EQ(error_of<ParamError>([&] { score_options_from(params); }),
            "parameter 'group_cutoff' expects a number, got 'high'");
  params.set("group_cutoff", "");
  EXPECT_EQ(error_of<ParamError>([&] { score_options_from(params); }),
            "parameter 'group_cutoff' must be set when group_score is h_score");
  params.set("group_score", "none");
  params.set("group_cutoff", "12");
  EXPECT_EQ(error_of<ParamError>([&] { score_options_from(params); }),
            "parameter 'group_cutoff' is set to 12 but group_score is none");
}

// Thresholds are DAB optical densities: an 8-bit pixel's OD is at most log10(255) = 2.4 per channel
// (about 3.7 DAB OD after deconvolution with QuPath's vectors), so a threshold above 5 grades no cell at all;
// 50 or 1e9 (a percentage or a typo) is refused, naming the key and the range, wherever it is set.
TEST(ScoringParams, ThresholdsAreBoundedToPhysicalOpticalDensities) {
  ParamSet params(scoring_param_specs());
  for (const char* key : {"threshold_1plus", "threshold_2plus", "threshold_3plus", "threshold_positive"}) {
    const ParamSpec* spec = params.find(key);
    ASSERT_NE(spec, nullptr) << key;
    EXPECT_EQ(spec->min, 0.0) << key;
    EXPECT_EQ(spec->max, 5.0) << key;
    params.set(key, "5");  // the bounds themselves are allowed
    params.set(key, "0");
  }
  EXPECT_EQ(error_of<ParamError>([&] { params.set("threshold_3plus", "50"); }),
            "--set: parameter 'threshold_3plus' must be between 0 and 5, got 50");
  EXPECT_EQ(error_of<ParamError>([&] { params.load_text("threshold_positive = 1e9\n", "p.params"); }),
            "p.params:1: parameter 'threshold_positive' must be between 0 and 5, got 1e9");
  EXPECT_EQ(error_of<ParamError>([&] { params.set("threshold_1plus", "-0.2"); }),
            "--set: parameter 'threshold_1plus' must be between 0 and 5, got -0.2");
  // The viewer's grading goes through the same declaration.
  GradingParams g;
  g.threshold_3plus = 6;
  EXPECT_EQ(error_of<ParamError>([&] { set_grading_params(params, g, "viewer"); }),
            "viewer: parameter 'threshold_3plus' must be between 0 and 5, got 6");
}

TEST(CountClasses, CountsAllOrOnlyMembers) {
  const std::vector<CellClass> classes{CellClass::Negative,  CellClass::OnePlus,   CellClass::TwoPlus,
                                       CellClass::ThreePlus, CellClass::ThreePlus, CellClass::Positive};
  GradeCounts all = count_classes(classes);
  EXPECT_EQ(all.negative, 1);
  EXPECT_EQ(all.one_plus, 1);
  EXPECT_EQ(all.two_plus, 1);
  EXPECT_EQ(all.three_plus, 2);
  EXPECT_EQ(all.positive_ungraded, 1);
  EXPECT_EQ(all.positive(), 5);
  EXPECT_EQ(all.detections(), 6);
  GradeCounts some = count_classes(classes, {1, 0, 0, 1, 0, 0});
  EXPECT_EQ(some.negative, 1);
  EXPECT_EQ(some.three_plus, 1);
  EXPECT_EQ(some.detections(), 2);
  some += all;
  EXPECT_EQ(some.detections(), 8);
  EXPECT_EQ(error_of<ScoringError>([&] {
              count_classes(classes, {1, 0});
            }),
            "region membership has 2 entries for 6 cells");
}

TEST(Scores, HandComputedThreeThresholdCase) {
  // 4 negative, 3 x 1+, 2 x 2+, 1 x 3+: N = 10, positive 6.
  const Scores s = compute_scores(counts(4, 3, 2, 1));
  EXPECT_EQ(s.detections, 10);
  EXPECT_EQ(s.positive, 6);
  EXPECT_DOUBLE_EQ(s.positive_percent, 60.0);
  EXPECT_DOUBLE_EQ(s.h_score, 100.0);  // (3 + 4 + 3) / 10 x 100
  EXPECT_DOUBLE_EQ(s.mean_positive_grade, 10.0 / 6.0);
  EXPECT_DOUBLE_EQ(s.intensity_score, 1.0);  // mean grade exactly 5/3 is not > 5/3
  EXPECT_DOUBLE_EQ(s.ixp, 60.0);
  EXPECT_DOUBLE_EQ(s.ixp_rate, 0.6);
  EXPECT_DOUBLE_EQ(s.allred_proportion, 4.0);  // 60 % is in [1/3, 2/3)
  EXPECT_DOUBLE_EQ(s.allred, 5.0);
  EXPECT_DOUBLE_EQ(s.irs_percentage, 3.0);  // 51-80 %
  EXPECT_DOUBLE_EQ(s.irs, 3.0);
  EXPECT_TRUE(s.warnings.empty());
  EXPECT_EQ(s.group, "");
}

TEST(Scores, MaximaAreThreeHundredEightAndTwelve) {
  const Scores s = compute_scores(counts(0, 0, 0, 7));
  EXPECT_DOUBLE_EQ(s.positive_percent, 100.0);
  EXPECT_DOUBLE_EQ(s.h_score, 300.0);
  EXPECT_DOUBLE_EQ(s.intensity_score, 3.0);
  EXPECT_DOUBLE_EQ(s.ixp, 300.0);
  EXPECT_DOUBLE_EQ(s.ixp_rate, 3.0);
  EXPECT_DOUBLE_EQ(s.allred, 8.0);
  EXPECT_DOUBLE_EQ(s.irs, 12.0);
}

TEST(Scores, NothingPositiveScoresZeroNotNaN) {
  const Scores s = compute_scores(counts(5, 0, 0, 0));
  EXPECT_DOUBLE_EQ(s.positive_percent, 0.0);
  EXPECT_DOUBLE_EQ(s.h_score, 0.0);
  EXPECT_TRUE(std::isnan(s.mean_positive_grade));
  EXPECT_DOUBLE_EQ(s.intensity_score, 0.0);
  EXPECT_DOUBLE_EQ(s.ixp, 0.0);
  EXPECT_DOUBLE_EQ(s.allred_proportion, 0.0);
  EXPECT_DOUBLE_EQ(s.allred, 0.0);
  EXPECT_DOUBLE_EQ(s.irs_percentage, 0.0);
  EXPECT_DOUBLE_EQ(s.irs, 0.0);
  EXPECT_TRUE(s.warnings.empty());
}

TEST(Scores, NoCellsGivesNaNAndAWarningNeverZero) {
  ScoreOptions o;
  o.group_score = GroupScore::HScore;
  o.group_cutoff = 100;
  const Scores s = compute_scores(GradeCounts{}, o);
  EXPECT_EQ(s.detections, 0);
  for (double v : {s.positive_percent, s.h_score, s.mean_positive_grade, s.intensity_score, s.ixp, s.ixp_rate,
                   s.allred_proportion, s.allred, s.irs_percentage, s.irs}) {
    EXPECT_TRUE(std::isnan(v));
  }
  ASSERT_EQ(s.warnings.size(), 2u);
  EXPECT_EQ(s.warnings[0], "no cells: every score is undefined (NaN)");
  EXPECT_EQ(s.warnings[1], "no High/Low group: H-score is undefined");
  EXPECT_EQ(s.group, "");
}

TEST(Scores, SingleThresholdGivesPositivePercentAndProportionsOnly) {
  const Scores s = compute_scores(counts(7, 0, 0, 0, 3));
  EXPECT_EQ(s.positive, 3);
  EXPECT_DOUBLE_EQ(s.positive_percent, 30.0);
  EXPECT_DOUBLE_EQ(s.allred_proportion, 3.0);
  EXPECT_DOUBLE_EQ(s.irs_percentage, 2.0);
  for (double v : {s.h_score, s.mean_positive_grade, s.intensity_score, s.ixp, s.ixp_rate, s.allred, s.irs}) {
    EXPECT_TRUE(std::isnan(v));
  }
  ASSERT_EQ(s.warnings.size(), 1u);
  EXPECT_EQ(
      s.warnings[0],
      "3 positive cells have no intensity grade (single threshold): H-score, intensity, IxP, Allred and IRS "
      "are undefined (NaN)");
  ScoreOptions o;
  o.group_score = GroupScore::PositivePercent;
  o.group_cutoff = 30.0;
  EXPECT_EQ(compute_scores(counts(7, 0, 0, 0, 3), o).group, "High");
  o.group_cutoff = 30.01;
  EXPECT_EQ(compute_scores(counts(7, 0, 0, 0, 3), o).group, "Low");
}

// The mode decides, not the slide: in single-threshold mode a slide with no positive cell has the same empty
// H-score, intensity, IxP, Allred and IRS as one with positives (a Ki-67 batch gave 0 on such slides beside
// empty ones, and cohort analysed only them). Three-threshold: all 0, a fact when nothing is positive.
TEST(Scores, SingleThresholdModeLeavesIntensityScoresEmptyWithoutPositivesToo) {
  ParamSet params(scoring_param_specs());
  params.set("threshold_mode", "single", "--set");
  const Scores single = compute_scores(counts(10, 0, 0, 0, 0), score_options_from(params));
  EXPECT_DOUBLE_EQ(single.positive_percent, 0.0);
  EXPECT_DOUBLE_EQ(single.allred_proportion, 0.0);
  EXPECT_DOUBLE_EQ(single.irs_percentage, 0.0);
  for (double v : {single.h_score, single.intensity_score, single.ixp, single.allred, single.irs})
    EXPECT_TRUE(std::isnan(v));
  EXPECT_TRUE(single.warnings.empty());
  const Scores three =
      compute_scores(counts(10, 0, 0, 0, 0), score_options_from(ParamSet(scoring_param_specs())));
  for (double v : {three.h_score, three.intensity_score, three.ixp, three.allred, three.irs})
    EXPECT_DOUBLE_EQ(v, 0.0);
}

TEST(IntensityScore, MeanGradeEdgesAreStrict) {
  EXPECT_EQ(intensity_score(counts(9, 0, 0, 0), IntensityRule::MeanGrade), 0);
  EXPECT_EQ(intensity_score(counts(0, 1, 0, 0), IntensityRule::MeanGrade), 1);
  EXPECT_EQ(intensity_score(counts(0, 1, 2, 0), IntensityRule::MeanGrade), 1);        // (1 + 4) / 3 = 5/3
  EXPECT_EQ(intensity_score(counts(0, 2, 4, 0), IntensityRule::MeanGrade), 1);        // 10/6 = 5/3
  EXPECT_EQ(intensity_score(counts(0, 1000, 2001, 0), IntensityRule::MeanGrade), 2);  // 5002/3001 > 5/3
  EXPECT_EQ(intensity_score(counts(0, 0, 1, 0), IntensityRule::MeanGrade), 2);
  EXPECT_EQ(intensity_score(counts(0, 1, 0, 2), IntensityRule::MeanGrade), 2);        // 7/3
  EXPECT_EQ(intensity_score(counts(0, 0, 2, 1), IntensityRule::MeanGrade), 2);        // 7/3
  EXPECT_EQ(intensity_score(counts(0, 0, 2000, 1001), IntensityRule::MeanGrade), 3);  // 7003/3001 > 7/3
  EXPECT_EQ(intensity_score(counts(0, 0, 1, 2), IntensityRule::MeanGrade), 3);        // 8/3
  // Negative cells do not dilute the intensity of positive cells.
  EXPECT_EQ(intensity_score(counts(1000, 0, 0, 1), IntensityRule::MeanGrade), 3);
}

TEST(IntensityScore, MostCommonGradeTiesGoToTheHigherGrade) {
  EXPECT_EQ(intensity_score(counts(50, 0, 0, 0), IntensityRule::MostCommon), 0);
  EXPECT_EQ(intensity_score(counts(0, 5, 1, 0), IntensityRule::MostCommon), 1);
  EXPECT_EQ(intensity_score(counts(0, 2, 2, 1), IntensityRule::MostCommon), 2);
  EXPECT_EQ(intensity_score(counts(0, 3, 2, 3), IntensityRule::MostCommon), 3);
  EXPECT_EQ(intensity_score(counts(0, 1, 1, 1), IntensityRule::MostCommon), 3);
  EXPECT_EQ(intensity_score(counts(0, 4, 1, 3), IntensityRule::MostCommon), 1);
  ScoreOptions o;
  o.intensity_rule = IntensityRule::MostCommon;
  const Scores s = compute_scores(counts(4, 3, 2, 1), o);  // mean grade would give 1; most common 1+ too
  EXPECT_DOUBLE_EQ(s.intensity_score, 1.0);
  const Scores t = compute_scores(counts(0, 1, 0, 1), o);  // tie 1+ / 3+ -> 3
  EXPECT_DOUBLE_EQ(t.intensity_score, 3.0);
  EXPECT_DOUBLE_EQ(t.ixp, 300.0);
}

// Positive % in hundredths of a percent: `hundredths` positive cells out of 10000.
struct BinCase {
  std::int64_t hundredths;
  int allred;
  int irs;
};

TEST(ProportionBins, EveryEdgeOfAllredAndIrs) {
  const BinCase cases[] = {
      {0, 0, 0},      // 0 %
      {1, 1, 1},      // 0.01 %
      {99, 1, 1},     // 0.99 %
      {100, 2, 1},    // 1 %
      {999, 2, 1},    // 9.99 %
      {1000, 3, 2},   // 10 %: QuPath's Allred gives 3 at exactly 10 %
      {1001, 3, 2},   // 10.01 %
      {3300, 3, 2},   // 33 %
      {3333, 3, 2},   // 33.33 % < 1/3
      {3334, 4, 2},   // 33.34 %
      {3400, 4, 2},   // 34 %
      {5000, 4, 2},   // 50 %
      {5001, 4, 3},   // 50.01 %
      {6600, 4, 3},   // 66 %
      {6666, 4, 3},   // 66.66 % < 2/3
      {6667, 5, 3},   // 66.67 %
      {6700, 5, 3},   // 67 %
      {8000, 5, 3},   // 80 %
      {8001, 5, 4},   // 80.01 %
      {10000, 5, 4},  // 100 %
  };
  for (const auto& c : cases) {
    EXPECT_EQ(allred_proportion_score(c.hundredths, 10000), c.allred) << c.hundredths / 100.0 << " %";
    EXPECT_EQ(irs_percentage_score(c.hundredths, 10000), c.irs) << c.hundredths / 100.0 << " %";
    const Scores s = compute_scores(counts(10000 - c.hundredths, 0, c.hundredths, 0));
    EXPECT_DOUBLE_EQ(s.allred_proportion, c.allred);
    EXPECT_DOUBLE_EQ(s.irs_percentage, c.irs);
    EXPECT_DOUBLE_EQ(s.allred, c.allred + (c.hundredths > 0 ? 2 : 0));
    EXPECT_DOUBLE_EQ(s.irs, c.irs * (c.hundredths > 0 ? 2 : 0));
  }
  // Exactly one third and two thirds.
  EXPECT_EQ(allred_proportion_score(1, 3), 4);
  EXPECT_EQ(allred_proportion_score(2, 3), 5);
  EXPECT_EQ(allred_proportion_score(0, 0), 0);
}

TEST(Groups, CutoffIsInclusiveForHigh) {
  ScoreOptions o;
  o.group_score = GroupScore::HScore;
  o.group_cutoff = 100.0;
  Scores s = compute_scores(counts(4, 3, 2, 1), o);  // H-score 100
  EXPECT_EQ(s.group, "High");
  EXPECT_DOUBLE_EQ(group_value(s, GroupScore::HScore), 100.0);
  o.group_cutoff = 100.5;
  EXPECT_EQ(compute_scores(counts(4, 3, 2, 1), o).group, "Low");
  o.group_score = GroupScore::Allred;
  o.group_cutoff = 5.0;
  EXPECT_EQ(compute_scores(counts(4, 3, 2, 1), o).group, "High");
  o.group_score = GroupScore::IxpRate;
  o.group_cutoff = 0.61;
  EXPECT_EQ(compute_scores(counts(4, 3, 2, 1), o).group, "Low");
  EXPECT_EQ(group_score_key(GroupScore::IxpRate), "ixp_rate");
  EXPECT_EQ(group_score_label(GroupScore::Irs), "IRS");
}

// A study's cutoff is a round number, and a slide can score exactly that: 92 of 160 positive is 57.5 %,
// which 92 / 160 * 100 gave as 57.49999999999999 and put in Low. Every score with a percentage is one
// division of exact integers, so it is the double nearest the true value and equals the typed cutoff.
TEST(Groups, AScoreExactlyAtTheCutoffIsHighForEveryScore) {
  const GradeCounts c = counts(68, 25, 57, 10);  // 92 of 160 positive, grade sum 169, mean grade 1.84
  ScoreOptions o;
  const Scores s = compute_scores(c, o);
  EXPECT_EQ(s.positive_percent, 57.5);
  EXPECT_EQ(s.h_score, 105.625);
  EXPECT_EQ(s.intensity_score, 2);
  EXPECT_EQ(s.ixp, 115.0);
  EXPECT_EQ(s.ixp_rate, 1.15);
  const std::vector<std::pair<GroupScore, double>> at_cutoff = {{GroupScore::PositivePercent, 57.5},
                                                                {GroupScore::HScore, 105.625},
                                                                {GroupScore::Ixp, 115.0},
                                                                {GroupScore::IxpRate, 1.15}};
  for (const auto& [score, cutoff] : at_cutoff) {
    o.group_score = score;
    o.group_cutoff = cutoff;
    EXPECT_EQ(compute_scores(c, o).group, "High") << group_score_key(score);
  }
  // 1 of 3 positive at 3+: IxP is exactly 100 and the Positive % is the double nearest 100/3.
  const Scores third = compute_scores(counts(2, 0, 0, 1), ScoreOptions());
  EXPECT_EQ(third.ixp, 100.0);
  EXPECT_EQ(third.h_score, 100.0);
  EXPECT_EQ(third.positive_percent, 100.0 / 3.0);
  EXPECT_EQ(compute_scores(counts(71, 0, 29, 0), ScoreOptions()).positive_percent, 29.0);  // was 28.999...
}

// SHIDC-B-Ki-67: per-cell points (1 positive, 2 negative tumour cell, 3 lymphocyte). Counting the annotated
// classes with lymphocytes outside the region must give the dataset's own Ki-67 index for every image.
TEST(ScoresOnRealAnnotations, ShidcKi67IndexMatchesTheDatasetSummary) {
  IHC_REQUIRE_SHARED(summary_path, "SHIDC-B-Ki-67_sample/derived/summary.csv");
  std::ifstream summary(summary_path);
  std::string line;
  std::getline(summary, line);  // header
  int images = 0;
  int empty_images = 0;
  while (std::getline(summary, line)) {
    std::stringstream row(line);
    std::string image, width, height, n_pos, n_neg, n_til, percent;
    std::getline(row, image, ',');
    std::getline(row, width, ',');
    std::getline(row, height, ',');
    std::getline(row, n_pos, ',');
    std::getline(row, n_neg, ',');
    std::getline(row, n_til, ',');
    std::getline(row, percent, ',');
    const std::string stem = image.substr(0, image.size() - 4);
    IHC_REQUIRE_SHARED(points_path, "SHIDC-B-Ki-67_sample/1.bare_images/Test/" + stem + ".json");
    std::ifstream in(points_path);
    const nlohmann::json points = nlohmann::json::parse(in);
    std::vector<CellClass> classes;
    std::vector<std::uint8_t> member;
    for (const auto& p : points) {
      const int label = p.at("label_id").get<int>();
      classes.push_back(label == 1 ? CellClass::Positive : CellClass::Negative);
      member.push_back(label == 3 ? 0 : 1);
    }
    const Scores s = compute_scores(count_classes(classes, member));
    EXPECT_EQ(s.positive, std::stoll(n_pos)) << image;
    EXPECT_EQ(s.detections, std::stoll(n_pos) + std::stoll(n_neg)) << image;
    if (s.detections == 0) {
      ++empty_images;
      EXPECT_TRUE(std::isnan(s.positive_percent)) << image << ": no tumour cells must not score 0 %";
      ASSERT_FALSE(s.warnings.empty());
      EXPECT_EQ(s.warnings[0], "no cells: every score is undefined (NaN)");
    } else {
      // The summary rounds to 2 decimals (15.625 was written 15.62): half a unit of the last digit.
      EXPECT_NEAR(s.positive_percent, std::stod(percent), 0.005 + 1e-9) << image;
    }
    ++images;
  }
  EXPECT_EQ(images, 26);
  EXPECT_EQ(empty_images, 1);  // p1_0310_8: 3 lymphocytes, no tumour cell
}

}  // namespace
}  // namespace ihc
