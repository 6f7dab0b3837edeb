#include "models/evaluation.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace ihc {
namespace {

using Points = std::vector<cv::Point2d>;

TEST(MatchPoints, EmptyInputsGiveNoPairs) {
  EXPECT_TRUE(match_points({}, {{1, 1}}, 10).empty());
  EXPECT_TRUE(match_points({{1, 1}}, {}, 10).empty());
}

TEST(MatchPoints, RadiusIsInclusiveAndNothingBeyondItMatches) {
  const auto at_edge = match_points({{0, 0}}, {{6, 8}}, 10.0);  // exactly 10 px
  ASSERT_EQ(at_edge.size(), 1u);
  EXPECT_DOUBLE_EQ(at_edge[0].distance, 10.0);
  EXPECT_TRUE(match_points({{0, 0}}, {{6, 8.001}}, 10.0).empty());
  EXPECT_TRUE(match_points({{0, 0}}, {{10.5, 0}}, 10.0).empty());
  // Neighbouring grid buckets: points on both sides of a bucket boundary, negative coordinates.
  EXPECT_EQ(match_points({{-0.5, 19.9}}, {{0.5, 25.0}}, 10.0).size(), 1u);
}

TEST(MatchPoints, OneTruthPointTakesOnlyTheNearestOfTwoDetections) {
  const auto pairs = match_points({{0, 0}, {3, 0}}, {{4, 0}}, 10.0);
  ASSERT_EQ(pairs.size(), 1u);
  EXPECT_EQ(pairs[0].predicted, 1);
  EXPECT_EQ(pairs[0].truth, 0);
  EXPECT_DOUBLE_EQ(pairs[0].distance, 1.0);
}

TEST(MatchPoints, OneDetectionTakesOnlyTheNearestOfTwoTruthPoints) {
  const auto pairs = match_points({{4, 0}}, {{0, 0}, {3, 0}}, 10.0);
  ASSERT_EQ(pairs.size(), 1u);
  EXPECT_EQ(pairs[0].truth, 1);
}

TEST(MatchPoints, ExactTiesGiveOnePairAndTheSameAnswerEveryTime) {
  const Points pred{{-5, 0}, {5, 0}};
  const Points truth{{0, 0}};
  const auto first = match_points(pred, truth, 10.0);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_DOUBLE_EQ(first[0].distance, 5.0);
  for (int k = 0; k < 5; ++k) {
    const auto again = match_points(pred, truth, 10.0);
    ASSERT_EQ(again.size(), 1u);
    EXPECT_EQ(again[0].predicted, first[0].predicted);
  }
}

TEST(MatchPoints, PrefersMorePairsOverTheShortestFirstPair) {
  // Shortest-first greedy would pair A with T1 (1 px) and leave B and T2 alone; the optimum pairs both.
  const Points pred{{0, 0}, {10, 0}};   // A, B
  const Points truth{{1, 0}, {-9, 0}};  // T1, T2
  const auto pairs = match_points(pred, truth, 10.0);
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_EQ(pairs[0].predicted, 0);
  EXPECT_EQ(pairs[0].truth, 1);
  EXPECT_EQ(pairs[1].predicted, 1);
  EXPECT_EQ(pairs[1].truth, 0);
}

TEST(MatchPoints, AmongEquallyManyPairsTakesTheShortestTotal) {
  const auto pairs = match_points({{0, 0}, {6, 0}}, {{3, 0}, {8, 0}}, 10.0);
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_EQ(pairs[0].truth, 0);  // 3 px + 2 px rather than 8 px + 3 px
  EXPECT_EQ(pairs[1].truth, 1);
}

// Exhaustive optimum for small random sets: most pairs, then least total distance.
std::pair<int, double> brute_force(const Points& pred, const Points& truth, double radius) {
  std::vector<int> perm(truth.size());
  std::iota(perm.begin(), perm.end(), 0);
  std::pair<int, double> best{0, 0.0};
  do {
    int n = 0;
    double total = 0;
    for (std::size_t i = 0; i < pred.size() && i < perm.size(); ++i) {
      const double d = std::hypot(pred[i].x - truth[perm[i]].x, pred[i].y - truth[perm[i]].y);
      if (d <= radius) {
        ++n;
        total += d;
      }
    }
    if (n > best.first || (n == best.first && total < best.second - 1e-9)) best = {n, total};
  } while (std::next_permutation(perm.begin(), perm.end()));
  return best;
}

TEST(MatchPoints, MatchesTheExhaustiveOptimumOnRandomClusters) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> coord(0.0, 25.0);
  for (int trial = 0; trial < 300; ++trial) {
    Points pred(1 + trial % 5), truth(1 + (trial / 5) % 6);
    for (auto& p : pred) p = {coord(rng), coord(rng)};
    for (auto& p : truth) p = {coord(rng), coord(rng)};
    const auto pairs = match_points(pred, truth, 10.0);
    double total = 0;
    std::vector<char> used_p(pred.size()), used_t(truth.size());
    for (const auto& m : pairs) {
      ASSERT_FALSE(used_p[m.predicted]) << "trial " << trial;
      ASSERT_FALSE(used_t[m.truth]) << "trial " << trial;
      used_p[m.predicted] = used_t[m.truth] = 1;
      ASSERT_LE(m.distance, 10.0);
      total += m.distance;
    }
    // The brute force permutes truth for each prediction; pad truth so every prediction has a partner slot.
    Points padded = truth;
    while (padded.size() < pred.size()) padded.push_back({1e6, 1e6});
    const auto best = brute_force(pred, padded, 10.0);
    EXPECT_EQ(static_cast<int>(pairs.size()), best.first) << "trial " << trial;
    EXPECT_NEAR(total, best.second, 1e-9) << "trial " << trial;
  }
}

TEST(ClassCounts, FormulasFollowTheDefinitions) {
  ClassCounts c{8, 2, 4};
  EXPECT_DOUBLE_EQ(c.precision(), 0.8);
  EXPECT_DOUBLE_EQ(c.recall(), 8.0 / 12.0);
  EXPECT_DOUBLE_EQ(c.f1(), 16.0 / 22.0);
  ClassCounts empty;
  EXPECT_TRUE(std::isnan(empty.precision()));
  EXPECT_TRUE(std::isnan(empty.recall()));
  EXPECT_TRUE(std::isnan(empty.f1()));
  ClassCounts only_fn{0, 0, 3};
  EXPECT_DOUBLE_EQ(only_fn.f1(), 0.0);
}

TEST(EvaluateImage, CountsDetectionAndPerClassAgreement) {
  // Truth: two positive, three negative. Detections: a correct positive, a positive called negative,
  // a correct negative, a negative called positive, one false detection (positive); one negative missed.
  const std::vector<TruthPoint> truth{{{10, 10}, TruthLabel::Positive},
                                      {{50, 10}, TruthLabel::Positive},
                                      {{90, 10}, TruthLabel::Negative},
                                      {{130, 10}, TruthLabel::Negative},
                                      {{170, 10}, TruthLabel::Negative}};
  const std::vector<PredictedPoint> pred{
      {{12, 10}, true}, {{50, 13}, false}, {{91, 11}, false}, {{128, 10}, true}, {{300, 300}, true}};
  const auto ev = evaluate_image("a", pred, truth, {10.0});
  EXPECT_EQ(ev.predicted_total, 5);
  EXPECT_EQ(ev.predicted_positive, 3);
  EXPECT_EQ(ev.truth_total, 5);
  EXPECT_EQ(ev.truth_positive, 2);
  EXPECT_EQ(ev.detection.tp, 4);
  EXPECT_EQ(ev.detection.fp, 1);
  EXPECT_EQ(ev.detection.fn, 1);
  EXPECT_EQ(ev.positive.tp, 1);
  EXPECT_EQ(ev.positive.fp, 2);  // the class-swapped negative and the false detection
  EXPECT_EQ(ev.positive.fn, 1);  // the positive called negative
  EXPECT_DOUBLE_EQ(ev.positive.f1(), 2.0 / 5.0);
  EXPECT_EQ(ev.negative.tp, 1);
  EXPECT_EQ(ev.negative.fp, 1);  // the positive called negative
  EXPECT_EQ(ev.negative.fn, 2);  // the one called positive and the missed one
  EXPECT_DOUBLE_EQ(ev.negative.f1(), 2.0 / 5.0);
  EXPECT_DOUBLE_EQ(ev.predicted_positive_percent(), 60.0);
  EXPECT_DOUBLE_EQ(ev.truth_positive_percent(), 40.0);
}

TEST(EvaluateImage, DetectionsOnIgnoredPointsLeaveBothCounts) {
  const std::vector<TruthPoint> truth{
      {{10, 10}, TruthLabel::Negative}, {{50, 10}, TruthLabel::Ignore}, {{90, 10}, TruthLabel::Ignore}};
  const std::vector<PredictedPoint> pred{{{10, 11}, false}, {{51, 10}, true}};
  const auto ev = evaluate_image("til", pred, truth, {10.0});
  EXPECT_EQ(ev.matched_ignored, 1);
  EXPECT_EQ(ev.predicted_total, 1);
  EXPECT_EQ(ev.predicted_positive, 0);
  EXPECT_EQ(ev.truth_total, 1);
  EXPECT_EQ(ev.detection.tp, 1);
  EXPECT_EQ(ev.detection.fp, 0);
  EXPECT_EQ(ev.detection.fn, 0);  // an unmatched ignored point is not a miss
  EXPECT_EQ(ev.pairs.size(), 2u);
}

TEST(EvaluateImage, RegionMaskDropsDetectionsAndPointsOutsideIt) {
  cv::Mat region(100, 100, CV_8U, cv::Scalar(0));
  region(cv::Rect(0, 0, 50, 100)).setTo(255);
  const std::vector<TruthPoint> truth{{{10, 10}, TruthLabel::Positive}, {{80, 10}, TruthLabel::Negative}};
  const std::vector<PredictedPoint> pred{
      {{10, 10}, true}, {{80, 10}, false}, {{70, 70}, true}, {{150, 10}, true}};
  const auto ev = evaluate_image("roi", pred, truth, {10.0}, region);
  EXPECT_EQ(ev.outside_region, 3);  // two in the masked-out half, one beyond the image
  EXPECT_EQ(ev.predicted_total, 1);
  EXPECT_EQ(ev.truth_total, 1);
  EXPECT_EQ(ev.detection.tp, 1);
  EXPECT_EQ(ev.detection.fp, 0);
  EXPECT_EQ(ev.detection.fn, 0);
  EXPECT_THROW(evaluate_image("bad", pred, truth, {10.0}, cv::Mat(10, 10, CV_32F)), std::invalid_argument);
}

TEST(EvaluateImage, PercentagesAreUndefinedWithoutCells) {
  const auto ev = evaluate_image("empty", {}, {{{5, 5}, TruthLabel::Ignore}}, {10.0});
  EXPECT_TRUE(std::isnan(ev.predicted_positive_percent()));
  EXPECT_TRUE(std::isnan(ev.truth_positive_percent()));
}

ImageEvaluation with_percent(int pred_pos, int pred_total, int truth_pos, int truth_total) {
  ImageEvaluation ev;
  ev.predicted_positive = pred_pos;
  ev.predicted_total = pred_total;
  ev.truth_positive = truth_pos;
  ev.truth_total = truth_total;
  ev.detection = {pred_total, 0, 0};
  return ev;
}

TEST(Summarize, PoolsCountsAndComparesPercentagesOverImages) {
  // Predicted 10 %, 30 %, 50 %; truth 20 %, 30 %, 40 %; a fourth image without cells is left out of the
  // means.
  const std::vector<ImageEvaluation> images{with_percent(1, 10, 2, 10), with_percent(3, 10, 3, 10),
                                            with_percent(5, 10, 4, 10), with_percent(0, 0, 0, 0)};
  const auto s = summarize(images);
  EXPECT_EQ(s.images, 4);
  EXPECT_EQ(s.percent_images, 3);
  EXPECT_EQ(s.predicted_total, 30);
  EXPECT_EQ(s.predicted_positive, 9);
  EXPECT_EQ(s.detection.tp, 30);
  EXPECT_NEAR(s.mean_abs_percent_diff, 20.0 / 3.0, 1e-12);
  EXPECT_NEAR(s.max_abs_percent_diff, 10.0, 1e-12);
  EXPECT_NEAR(s.pearson_r, 1.0, 1e-12);  // predicted is an exact linear function of the truth here
}

// The pooled row's difference is that of the pooled Positive % beside it; it was the mean over images.
TEST(Summarize, PooledPositivePercentAndItsDifference) {
  // 50 % against 100 % on 2 cells, 0 % against 0 % on 8: mean difference 25, pooled 10 % against 20 %.
  const auto s = summarize({with_percent(1, 2, 2, 2), with_percent(0, 8, 0, 8)});
  EXPECT_NEAR(s.mean_abs_percent_diff, 25.0, 1e-12);
  EXPECT_NEAR(s.predicted_positive_percent(), 10.0, 1e-12);
  EXPECT_NEAR(s.truth_positive_percent(), 20.0, 1e-12);
  EXPECT_NEAR(s.pooled_abs_percent_diff(), 10.0, 1e-12);
  // Without detections the pooled Positive % is undefined, not 0.
  const auto none = summarize({with_percent(0, 0, 2, 10)});
  EXPECT_TRUE(std::isnan(none.predicted_positive_percent()));
  EXPECT_NEAR(none.truth_positive_percent(), 20.0, 1e-12);
  EXPECT_TRUE(std::isnan(none.pooled_abs_percent_diff()));
}

TEST(Summarize, CorrelationNeedsThreeImagesWithVariance) {
  EXPECT_TRUE(std::isnan(summarize({with_percent(1, 10, 2, 10), with_percent(3, 10, 3, 10)}).pearson_r));
  EXPECT_TRUE(std::isnan(
      summarize({with_percent(1, 10, 2, 10), with_percent(1, 10, 3, 10), with_percent(1, 10, 4, 10)})
          .pearson_r));
  EXPECT_TRUE(std::isnan(summarize({}).mean_abs_percent_diff));
}

TEST(Pearson, KnownValue) {
  // x = 1..5, y = 2, 4, 5, 4, 5: r = 6 / sqrt(10 * 6) = 0.7746
  EXPECT_NEAR(pearson({1, 2, 3, 4, 5}, {2, 4, 5, 4, 5}), 6.0 / std::sqrt(60.0), 1e-12);
  EXPECT_NEAR(pearson({1, 2, 3}, {3, 2, 1}), -1.0, 1e-12);
  EXPECT_TRUE(std::isnan(pearson({1}, {1})));
}

TEST(EvaluateImage, GradesGiveAConfusionMatrixAndPerGradeCounts) {
  // Truth grades 0,1,2,3,3 and one ignored cell; detections: 0 right, 1 called 2, 2 right, 3 called 2, one
  // false 1+ detection, the second 3+ missed, and a detection on the ignored cell (not counted).
  const std::vector<TruthPoint> truth{
      {{10, 10}, TruthLabel::Negative, 0},  {{50, 10}, TruthLabel::Positive, 1},
      {{90, 10}, TruthLabel::Positive, 2},  {{130, 10}, TruthLabel::Positive, 3},
      {{170, 10}, TruthLabel::Positive, 3}, {{210, 10}, TruthLabel::Ignore, -1}};
  const std::vector<PredictedPoint> pred{{{11, 10}, false, 0}, {{50, 11}, true, 2},  {{90, 9}, true, 2},
                                         {{131, 10}, true, 2}, {{400, 10}, true, 1}, {{210, 11}, true, 3}};
  const auto ev = evaluate_image("g", pred, truth, {10.0});
  const GradeAgreement& g = ev.grades;
  ASSERT_TRUE(g.available);
  EXPECT_EQ(g.matched(), 4);
  EXPECT_EQ(g.confusion[0][0], 1);
  EXPECT_EQ(g.confusion[1][2], 1);
  EXPECT_EQ(g.confusion[2][2], 1);
  EXPECT_EQ(g.confusion[3][2], 1);
  EXPECT_EQ(g.truth, (std::array<int, 4>{1, 1, 1, 2}));
  EXPECT_EQ(g.predicted, (std::array<int, 4>{1, 1, 3, 0}));  // the detection on the ignored cell is gone
  const ClassCounts two = g.per_grade(2);
  EXPECT_EQ(two.tp, 1);
  EXPECT_EQ(two.fp, 2);  // the 1+ and the 3+ called 2+
  EXPECT_EQ(two.fn, 0);
  const ClassCounts three = g.per_grade(3);
  EXPECT_EQ(three.tp, 0);
  EXPECT_EQ(three.fn, 2);  // one called 2+, one missed
  EXPECT_DOUBLE_EQ(g.per_grade(1).f1(), 0.0);
  // Scores of the counts: H-score = 1 x %1+ + 2 x %2+ + 3 x %3+.
  EXPECT_DOUBLE_EQ(scores_of_grades(g.truth).h_score, (1 * 1 + 2 * 1 + 3 * 2) / 5.0 * 100.0);
  EXPECT_DOUBLE_EQ(scores_of_grades(g.predicted).h_score, (1 * 1 + 2 * 3) / 5.0 * 100.0);
}

TEST(EvaluateImage, GradesAreUnavailableWhenEitherSideHasNone) {
  const std::vector<TruthPoint> graded{{{10, 10}, TruthLabel::Positive, 2}};
  const std::vector<TruthPoint> two_class{{{10, 10}, TruthLabel::Positive}};
  const std::vector<PredictedPoint> three_mode{{{10, 10}, true, 2}};
  const std::vector<PredictedPoint> single_mode{{{10, 10}, true}};
  EXPECT_TRUE(evaluate_image("a", three_mode, graded, {10.0}).grades.available);
  const auto no_truth_grades = evaluate_image("b", three_mode, two_class, {10.0});
  EXPECT_FALSE(no_truth_grades.grades.available);
  EXPECT_EQ(no_truth_grades.grades.matched(), 0);
  EXPECT_FALSE(evaluate_image("c", single_mode, graded, {10.0}).grades.available);
  // One image without grades makes the pooled grades unavailable.
  const auto sum = summarize({evaluate_image("a", three_mode, graded, {10.0}), no_truth_grades});
  EXPECT_FALSE(sum.grades.available);
  EXPECT_TRUE(std::isnan(sum.mean_abs_h_score_diff));
}

TEST(GradeAgreement, LinearlyWeightedKappa) {
  GradeAgreement g;
  g.available = true;
  EXPECT_TRUE(std::isnan(g.weighted_kappa()));  // no pairs
  g.confusion = {{{10, 2, 0, 0}, {1, 8, 3, 0}, {0, 2, 9, 1}, {0, 0, 1, 6}}};
  // po = 0.92248, pe = 0.61312 with weights 1 - |i - j| / 3 (computed by hand from the definition).
  EXPECT_NEAR(g.weighted_kappa(), 0.799627, 1e-6);
  GradeAgreement perfect;
  perfect.confusion = {{{5, 0, 0, 0}, {0, 4, 0, 0}, {0, 0, 3, 0}, {0, 0, 0, 2}}};
  EXPECT_DOUBLE_EQ(perfect.weighted_kappa(), 1.0);
  // One grade only on both sides: chance agreement is total, kappa undefined.
  GradeAgreement one;
  one.confusion[1][1] = 7;
  EXPECT_TRUE(std::isnan(one.weighted_kappa()));
}

TEST(Summarize, PoolsGradesAndComparesScoresOverImages) {
  // Image a: truth 2 x 3+, predicted 2 x 2+ (H 300 vs 200, IxP 300 vs 200); image b: perfect 1+ and
  // Negative (H 50, IxP 50 both).
  const std::vector<TruthPoint> ta{{{10, 10}, TruthLabel::Positive, 3}, {{50, 10}, TruthLabel::Positive, 3}};
  const std::vector<PredictedPoint> pa{{{10, 10}, true, 2}, {{50, 10}, true, 2}};
  const std::vector<TruthPoint> tb{{{10, 10}, TruthLabel::Positive, 1}, {{50, 10}, TruthLabel::Negative, 0}};
  const std::vector<PredictedPoint> pb{{{10, 10}, true, 1}, {{50, 10}, false, 0}};
  const auto s = summarize({evaluate_image("a", pa, ta, {10.0}), evaluate_image("b", pb, tb, {10.0})});
  ASSERT_TRUE(s.grades.available);
  EXPECT_EQ(s.grades.confusion[3][2], 2);
  EXPECT_EQ(s.grades.confusion[1][1], 1);
  EXPECT_EQ(s.grades.confusion[0][0], 1);
  EXPECT_DOUBLE_EQ(s.mean_abs_h_score_diff, (100.0 + 0.0) / 2);
  EXPECT_DOUBLE_EQ(s.mean_abs_intensity_diff, (1.0 + 0.0) / 2);  // intensity 3 vs 2, then 1 vs 1
  EXPECT_DOUBLE_EQ(s.mean_abs_ixp_diff, (100.0 + 0.0) / 2);
}

TEST(TruthLabel, NamesRoundTrip) {
  for (TruthLabel l : {TruthLabel::Positive, TruthLabel::Negative, TruthLabel::Ignore}) {
    TruthLabel back{};
    ASSERT_TRUE(parse_truth_label(truth_label_name(l), &back));
    EXPECT_EQ(back, l);
  }
  TruthLabel out{};
  EXPECT_FALSE(parse_truth_label("lymphocyte", &out));
}

}  // namespace
}  // namespace ihc
