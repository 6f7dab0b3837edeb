#include "models/survival.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

namespace ihc::stats {
namespace {

// Reference data and numbers: R 4.2.2 with survival 3.5-3 (Debian 12 packages r-base-core and
// r-cran-survival), datasets `aml` and `lung` of the survival package (lung$status recoded to 0/1,
// aml$x coded 1 = Nonmaintained). The R script that printed every constant is in docs/cohort.md.
const std::vector<double> kAmlTime = {
    9, 13, 13, 18, 23, 28, 31, 34, 45, 48, 161, 5, 5, 8, 8, 12, 16, 23, 27, 30, 33, 43, 45,
};
const std::vector<int> kAmlStatus = {
    1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1,
};
const std::vector<int> kAmlGroup = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};
const std::vector<double> kLungTime = {
    306, 455, 1010, 210, 883, 1022, 310, 361, 218, 166, 170, 654, 728, 71,  567, 144, 613, 707, 61,  88,  301,
    81,  624, 371,  394, 520, 574,  118, 390, 12,  473, 26,  533, 107, 53,  122, 814, 965, 93,  731, 460, 153,
    433, 145, 583,  95,  303, 519,  643, 765, 735, 189, 53,  246, 689, 65,  5,   132, 687, 345, 444, 223, 175,
    60,  163, 65,   208, 821, 428,  230, 840, 305, 11,  132, 226, 426, 705, 363, 11,  176, 791, 95,  196, 167,
    806, 284, 641,  147, 740, 163,  655, 239, 88,  245, 588, 30,  179, 310, 477, 166, 559, 450, 364, 107, 177,
    156, 529, 11,   429, 351, 15,   181, 283, 201, 524, 13,  212, 524, 288, 363, 442, 199, 550, 54,  558, 207,
    92,  60,  551,  543, 293, 202,  353, 511, 267, 511, 371, 387, 457, 337, 201, 404, 222, 62,  458, 356, 353,
    163, 31,  340,  229, 444, 315,  182, 156, 329, 364, 291, 179, 376, 384, 268, 292, 142, 413, 266, 194, 320,
    181, 285, 301,  348, 197, 382,  303, 296, 180, 186, 145, 269, 300, 284, 350, 272, 292, 332, 285, 259, 110,
    286, 270, 81,   131, 225, 269,  225, 243, 279, 276, 135, 79,  59,  240, 202, 235, 105, 224, 239, 237, 173,
    252, 221, 185,  92,  13,  222,  192, 183, 211, 175, 197, 203, 116, 188, 191, 105, 174, 177,
};
const std::vector<int> kLungStatus = {
    1, 1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1,
    1, 0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1,
    1, 0, 1, 0, 1, 1, 1, 1, 1, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0,
    0, 1, 1, 1, 1, 0, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 1, 1, 1, 1, 0, 1, 0, 0, 0,
    0, 1, 1, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0,
};
const std::vector<double> kLungSex = {
    1, 1, 1, 1, 1, 1, 2, 2, 1, 1, 1, 2, 2, 1, 1, 1, 1, 1, 2, 1, 1, 2, 1, 1, 1, 2, 1, 1, 1, 1, 2, 1, 1,
    2, 1, 2, 1, 2, 1, 2, 1, 2, 2, 2, 1, 2, 1, 1, 1, 2, 2, 1, 1, 1, 1, 1, 2, 1, 2, 2, 2, 1, 1, 2, 1, 1,
    2, 2, 1, 1, 1, 2, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1, 1, 2, 1, 1, 2, 1, 2, 1, 1, 1, 1, 2, 2, 1, 1, 1, 1,
    2, 2, 2, 1, 1, 1, 1, 2, 1, 1, 2, 1, 1, 1, 2, 2, 1, 1, 1, 1, 1, 1, 2, 2, 1, 1, 1, 1, 1, 2, 2, 2, 1,
    1, 2, 1, 2, 2, 1, 1, 1, 2, 1, 1, 2, 1, 2, 1, 1, 1, 2, 1, 1, 2, 2, 1, 1, 2, 1, 1, 2, 2, 2, 1, 1, 1,
    2, 2, 1, 1, 1, 1, 2, 1, 2, 1, 2, 1, 2, 2, 2, 1, 1, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1,
    2, 1, 2, 1, 2, 2, 2, 1, 2, 2, 1, 2, 2, 1, 1, 2, 1, 1, 2, 1, 2, 2, 1, 2, 1, 1, 1, 2, 1, 2,
};
const std::vector<double> kLungAge = {
    74, 68, 56, 57, 60, 74, 68, 71, 53, 61, 57, 68, 68, 60, 57, 67, 70, 63, 56, 57, 67, 49, 50, 58, 72, 70,
    60, 70, 53, 74, 69, 73, 48, 60, 61, 62, 65, 66, 74, 64, 70, 73, 59, 60, 68, 76, 74, 63, 74, 50, 72, 63,
    68, 58, 59, 62, 65, 57, 58, 64, 75, 48, 73, 65, 69, 68, 67, 64, 68, 67, 63, 48, 74, 40, 53, 71, 51, 56,
    81, 73, 59, 55, 42, 44, 44, 71, 62, 61, 44, 72, 63, 70, 66, 57, 69, 72, 69, 71, 64, 70, 58, 69, 56, 63,
    59, 66, 54, 67, 55, 75, 69, 44, 80, 75, 54, 76, 49, 68, 66, 80, 75, 60, 69, 72, 70, 66, 50, 64, 77, 48,
    59, 53, 47, 55, 67, 74, 58, 56, 54, 56, 73, 74, 76, 65, 57, 53, 71, 54, 82, 59, 70, 60, 62, 53, 55, 69,
    68, 62, 63, 56, 62, 44, 69, 63, 64, 57, 60, 46, 61, 65, 61, 58, 56, 43, 53, 59, 56, 55, 53, 74, 60, 39,
    66, 65, 51, 45, 72, 58, 64, 53, 72, 52, 50, 64, 71, 70, 63, 64, 52, 60, 64, 73, 63, 50, 63, 62, 55, 50,
    69, 59, 60, 67, 69, 64, 65, 65, 41, 76, 70, 57, 67, 71, 76, 77, 39, 75, 66, 58,
};

// Relative agreement to 4 significant digits (the bar), with a floor for values near zero.
void expect_sig4(double actual, double expected) {
  EXPECT_NEAR(actual, expected, std::max(5e-5 * std::fabs(expected), 1e-7)) << "expected " << expected;
}

std::vector<int> lung_group() {
  std::vector<int> g;
  for (double s : kLungSex) g.push_back(static_cast<int>(s) - 1);
  return g;
}

std::vector<double> subset(const std::vector<double>& v, const std::vector<int>& g, int which) {
  std::vector<double> out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (g[i] == which) out.push_back(v[i]);
  }
  return out;
}
std::vector<int> subset(const std::vector<int>& v, const std::vector<int>& g, int which) {
  std::vector<int> out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (g[i] == which) out.push_back(v[i]);
  }
  return out;
}

TEST(KaplanMeier, MatchesRSurvfitOnAmlMaintained) {
  const auto km = kaplan_meier(subset(kAmlTime, kAmlGroup, 0), subset(kAmlStatus, kAmlGroup, 0));
  EXPECT_EQ(km.n, 11);
  EXPECT_EQ(km.events, 7);
  // summary(survfit(Surv(time, status) ~ x, data = aml)), x = Maintained, event times only.
  const double times[] = {9, 13, 18, 23, 31, 34, 48};
  const double surv[] = {0.909091, 0.818182, 0.715909, 0.613636, 0.490909, 0.368182, 0.184091};
  const double se[] = {0.0866784, 0.1162913, 0.1396650, 0.1526323, 0.1641933, 0.1626689, 0.1534927};
  const double lower[] = {0.7541338, 0.6192490, 0.4884263, 0.3768671, 0.2548600, 0.1548771, 0.0359179};
  const double upper[] = {1.0, 1.0, 1.0, 0.999158, 0.945585, 0.875261, 0.943526};
  int k = 0;
  for (const auto& s : km.steps) {
    if (s.n_event == 0) continue;
    ASSERT_LT(k, 7);
    EXPECT_EQ(s.time, times[k]);
    expect_sig4(s.surv, surv[k]);
    expect_sig4(s.std_err, se[k]);
    expect_sig4(s.lower, lower[k]);
    expect_sig4(s.upper, upper[k]);
    ++k;
  }
  EXPECT_EQ(k, 7);
  // print(fit): median 31, 0.95LCL 18, 0.95UCL NA.
  EXPECT_EQ(km.median, 31);
  EXPECT_EQ(km.median_lower, 18);
  EXPECT_TRUE(std::isnan(km.median_upper));
}

TEST(KaplanMeier, MatchesRSurvfitOnAmlNonmaintainedDownToZero) {
  const auto km = kaplan_meier(subset(kAmlTime, kAmlGroup, 1), subset(kAmlStatus, kAmlGroup, 1));
  EXPECT_EQ(km.events, 11);
  EXPECT_EQ(km.median, 23);
  EXPECT_EQ(km.median_lower, 8);
  EXPECT_TRUE(std::isnan(km.median_upper));
  const auto& last = km.steps.back();
  EXPECT_EQ(last.time, 45);
  EXPECT_EQ(last.surv, 0.0);
  EXPECT_TRUE(std::isnan(last.lower));  // R: NA
  const auto at30 = survival_at(km, 30);
  expect_sig4(at30.surv, 0.2916667);
  expect_sig4(at30.lower, 0.1148312);
  expect_sig4(at30.upper, 0.740822);
}

TEST(KaplanMeier, MatchesRSummaryAtTimesOnLung) {
  const auto g = lung_group();
  // summary(survfit(Surv(time, status) ~ sex, data = lung), times = c(180, 365, 730))
  struct Row {
    double t, n_risk, surv, se, lower, upper;
  };
  const Row male[] = {{180, 89, 0.6444650, 0.0407864, 0.5692842, 0.729574},
                      {365, 35, 0.3360878, 0.0434236, 0.2609005, 0.432943},
                      {730, 7, 0.0781241, 0.0276475, 0.0390437, 0.156321}};
  const Row female[] = {{180, 71, 0.842402, 0.0386810, 0.7698998, 0.921731},
                        {365, 30, 0.526463, 0.0597369, 0.4214863, 0.657586},
                        {730, 6, 0.187232, 0.0620679, 0.0977702, 0.358555}};
  for (int sex = 0; sex < 2; ++sex) {
    const auto km = kaplan_meier(subset(kLungTime, g, sex), subset(kLungStatus, g, sex));
    for (const Row& r : sex == 0 ? male : female) {
      const auto at = survival_at(km, r.t);
      EXPECT_EQ(at.n_risk, r.n_risk) << "sex " << sex + 1 << " t " << r.t;
      expect_sig4(at.surv, r.surv);
      expect_sig4(at.lower, r.lower);
      expect_sig4(at.upper, r.upper);
    }
  }
  // print(fit): sex=1 median 270 (212, 310); sex=2 median 426 (348, 550).
  const auto km1 = kaplan_meier(subset(kLungTime, g, 0), subset(kLungStatus, g, 0));
  const auto km2 = kaplan_meier(subset(kLungTime, g, 1), subset(kLungStatus, g, 1));
  EXPECT_EQ(km1.n, 138);
  EXPECT_EQ(km1.events, 112);
  EXPECT_EQ(km1.median, 270);
  EXPECT_EQ(km1.median_lower, 212);
  EXPECT_EQ(km1.median_upper, 310);
  EXPECT_EQ(km2.median, 426);
  EXPECT_EQ(km2.median_lower, 348);
  EXPECT_EQ(km2.median_upper, 550);
}

TEST(KaplanMeier, CensoredAtAnEventTimeStaysAtRiskForIt) {
  // Hand-checked: t=1 5 at risk, 1 event -> 0.8; t=2 4 at risk, 1 event + 1 censored -> 0.6;
  // t=3 2 at risk, 1 event -> 0.3; t=4 censored.
  const auto km = kaplan_meier({1, 2, 2, 3, 4}, {1, 1, 0, 1, 0});
  ASSERT_EQ(km.steps.size(), 4u);
  EXPECT_EQ(km.steps[1].n_risk, 4);
  EXPECT_EQ(km.steps[1].n_event, 1);
  EXPECT_EQ(km.steps[1].n_censor, 1);
  EXPECT_DOUBLE_EQ(km.steps[0].surv, 0.8);
  EXPECT_DOUBLE_EQ(km.steps[1].surv, 0.6);
  EXPECT_DOUBLE_EQ(km.steps[2].surv, 0.3);
  EXPECT_DOUBLE_EQ(km.steps[3].surv, 0.3);
  EXPECT_EQ(km.median, 3);
  // Greenwood: var(log S) at t=2 = 1/(5*4) + 1/(4*3).
  EXPECT_NEAR(km.steps[1].std_err, 0.6 * std::sqrt(1.0 / 20 + 1.0 / 12), 1e-12);
}

TEST(KaplanMeier, MedianOnAFlatHalfIsTheMidpointAsInR) {
  // S drops to exactly 0.5 at t=2 and stays there until t=5: R reports (2 + 5) / 2.
  const auto km = kaplan_meier({1, 2, 5, 6}, {0, 1, 1, 0});
  EXPECT_DOUBLE_EQ(km.steps[1].surv, 2.0 / 3.0);
  const auto km2 = kaplan_meier({2, 2, 5, 6}, {1, 0, 1, 0});
  EXPECT_DOUBLE_EQ(km2.steps[0].surv, 0.75);
  const auto km3 = kaplan_meier({2, 3, 5, 6}, {1, 1, 1, 0});
  EXPECT_DOUBLE_EQ(km3.steps[1].surv, 0.5);
  EXPECT_DOUBLE_EQ(km3.median, 4.0);
}

TEST(KaplanMeier, SinglePatientAndNoEvents) {
  const auto one = kaplan_meier({10}, {1});
  EXPECT_EQ(one.n, 1);
  EXPECT_EQ(one.steps[0].surv, 0.0);
  EXPECT_EQ(one.median, 10);
  const auto none = kaplan_meier({3, 4, 5}, {0, 0, 0});
  EXPECT_EQ(none.events, 0);
  EXPECT_EQ(none.steps.back().surv, 1.0);
  EXPECT_TRUE(std::isnan(none.median));
}

TEST(KaplanMeier, RefusesBadInputWithTheRowNamed) {
  try {
    kaplan_meier({1, -2}, {1, 0});
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "time of row 2 is negative");
  }
  try {
    kaplan_meier({1, 2}, {1, 2});
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "event of row 2 is not 0 or 1");
  }
  EXPECT_THROW(kaplan_meier({1, 2}, {1}), std::invalid_argument);
}

TEST(LogRank, MatchesRSurvdiffOnAmlAndLung) {
  const auto aml = log_rank(kAmlTime, kAmlStatus, kAmlGroup);
  EXPECT_EQ(aml.df, 1);
  expect_sig4(aml.chisq, 3.396388699);
  expect_sig4(aml.p, 0.06533932204);
  EXPECT_EQ(aml.observed[0], 7);
  expect_sig4(aml.expected[0], 10.689335992);
  expect_sig4(aml.expected[1], 7.310664008);

  const auto lung = log_rank(kLungTime, kLungStatus, lung_group());
  expect_sig4(lung.chisq, 10.32674195);
  expect_sig4(lung.p, 0.00131116452);
  expect_sig4(lung.expected[0], 91.58173903);
}

TEST(LogRank, AGroupWithoutEventsStillTests) {
  // Group 1 never has an event: O-E for group 0 is positive, the test is defined.
  const auto lr = log_rank({1, 2, 3, 4, 5, 6}, {1, 1, 1, 0, 0, 0}, {0, 0, 0, 1, 1, 1});
  EXPECT_EQ(lr.df, 1);
  EXPECT_EQ(lr.observed[1], 0);
  EXPECT_GT(lr.chisq, 0);
  EXPECT_LT(lr.p, 0.1);
  EXPECT_THROW(log_rank({1, 2}, {1, 1}, {0, 2}), std::invalid_argument);  // group 1 empty
}

// survdiff has nothing to compare without events, or when one group has left before the events.
TEST(LogRank, WithoutTwoGroupsAtRiskItIsNotComputableOnZeroDf) {
  auto lr = log_rank({1, 2, 3, 4}, {0, 0, 0, 0}, {0, 0, 1, 1});
  EXPECT_EQ(lr.df, 0);
  EXPECT_TRUE(std::isnan(lr.p));
  EXPECT_EQ(lr.note, "not computable: no events in any group");
  lr = log_rank({1, 2, 10}, {0, 0, 1}, {0, 0, 1});
  EXPECT_EQ(lr.df, 0);
  EXPECT_EQ(lr.note, "not computable: only one group has patients at risk at the event times");
  EXPECT_TRUE(log_rank(kAmlTime, kAmlStatus, kAmlGroup).note.empty());
}

TEST(Cox, MatchesRCoxphOnAml) {
  std::vector<double> x(kAmlGroup.begin(), kAmlGroup.end());
  const auto fit = cox_ph(kAmlTime, kAmlStatus, {x}, {"Nonmaintained"});
  ASSERT_TRUE(fit.converged);
  ASSERT_EQ(fit.terms.size(), 1u);
  expect_sig4(fit.terms[0].coef, 0.9155326);
  expect_sig4(fit.terms[0].hr, 2.4981053);
  expect_sig4(fit.terms[0].se, 0.5119343);
  expect_sig4(fit.terms[0].p, 0.073715);
  expect_sig4(fit.terms[0].hr_lower, 0.9159073);
  expect_sig4(fit.terms[0].hr_upper, 6.813496);
  expect_sig4(fit.loglik_null, -42.72483926);
  expect_sig4(fit.loglik, -41.03261560);
}

TEST(Cox, MatchesRCoxphWithTwoCovariatesOnLung) {
  const auto fit = cox_ph(kLungTime, kLungStatus, {kLungSex, kLungAge}, {"sex", "age"});
  ASSERT_TRUE(fit.converged);
  expect_sig4(fit.terms[0].coef, -0.513218517);
  expect_sig4(fit.terms[0].se, 0.167457962);
  expect_sig4(fit.terms[0].p, 0.0021784);
  expect_sig4(fit.terms[1].coef, 0.017045332);
  expect_sig4(fit.terms[1].se, 0.009223273);
  expect_sig4(fit.terms[1].p, 0.0645910);
  expect_sig4(fit.terms[1].hr_lower, 0.9989686);
  expect_sig4(fit.loglik_null, -749.9098014);
  expect_sig4(fit.loglik, -742.8482458);
  expect_sig4(fit.lr_chisq, 14.1231112132);
  expect_sig4(fit.lr_p, 8.57443211628e-04);
}

TEST(Correlation, MatchesRCorTestOnLung) {
  // cor.test(lung$age, lung$time) and cor.test(..., method = "spearman", exact = FALSE)
  const auto p = pearson(kLungAge, kLungTime);
  expect_sig4(p.r, -0.07804271042);
  expect_sig4(p.statistic, -1.176828503);
  expect_sig4(p.p, 0.2405019329);
  const auto s = spearman(kLungAge, kLungTime);
  expect_sig4(s.r, -0.09088827028);
  expect_sig4(s.p, 0.171414752);
}

TEST(Correlation, PerfectAndConstant) {
  const auto p = pearson({1, 2, 3, 4}, {2, 4, 6, 8});
  EXPECT_DOUBLE_EQ(p.r, 1.0);
  EXPECT_EQ(p.p, 0.0);
  EXPECT_THROW(pearson({1, 1, 1}, {1, 2, 3}), std::invalid_argument);
}

TEST(Distributions, KnownValues) {
  EXPECT_NEAR(normal_quantile(0.975), 1.959963984540054, 1e-14);
  EXPECT_NEAR(chisq_upper(3.841458820694124, 1), 0.05, 1e-12);
  EXPECT_NEAR(chisq_upper(5.991464547107979, 2), 0.05, 1e-12);
  EXPECT_NEAR(student_t_two_sided(2.228138851986273, 10), 0.05, 1e-12);
}

}  // namespace
}  // namespace ihc::stats
