#pragma once
// Survival statistics for cohort analysis, written to agree with R's survival package:
// Kaplan-Meier with Greenwood "log" confidence intervals (survfit defaults), the log-rank test (survdiff,
// rho = 0), and Cox proportional hazards with Efron ties fitted by Newton-Raphson (coxph defaults).
// Event coding: 1 = event observed, 0 = censored, as R and lifelines use.
#include <limits>
#include <string>
#include <vector>

namespace ihc::stats {

struct KmStep {
  double time = 0;
  int n_risk = 0;
  int n_event = 0;
  int n_censor = 0;
  double surv = 1;
  double std_err = 0;  // standard error of surv (Greenwood), as summary.survfit prints it
  double lower = 1;    // confidence interval, conf.type = "log", clipped to [0, 1]
  double upper = 1;
};

struct KaplanMeier {
  int n = 0;
  int events = 0;
  std::vector<KmStep> steps;  // one per distinct time (events or censorings), ascending
  // NaN when survival never reaches 0.5, and for a group without patients (stats.json said 0 there).
  double median = std::numeric_limits<double>::quiet_NaN();
  double median_lower = std::numeric_limits<double>::quiet_NaN();  // NaN when not reached
  double median_upper = std::numeric_limits<double>::quiet_NaN();
};

// Throws std::invalid_argument for mismatched sizes, negative or non-finite times, events not 0/1.
KaplanMeier kaplan_meier(const std::vector<double>& time, const std::vector<int>& event,
                         double conf_level = 0.95);

struct SurvivalAt {
  double time = 0;
  double surv = 0;
  double lower = 0;
  double upper = 0;
  int n_risk = 0;  // at risk just before `time` (R's summary(fit, times=))
};
// Survival at `t` is the value of the last step at or before t (R's summary.survfit(times = t)).
SurvivalAt survival_at(const KaplanMeier& km, double t);

struct LogRank {
  std::vector<double> observed;  // per group
  std::vector<double> expected;
  double chisq = 0;
  int df = 0;  // 0 when not computable
  double p = 0;
  std::string note;  // "not computable: ..." (p is NaN) when fewer than two groups have expected events
};
// `group` holds 0..k-1. Groups without subjects are refused.
LogRank log_rank(const std::vector<double>& time, const std::vector<int>& event,
                 const std::vector<int>& group);

struct CoxTerm {
  std::string name;
  double coef = 0;
  double hr = 0;  // exp(coef)
  double se = 0;
  double z = 0;
  double p = 0;         // Wald
  double hr_lower = 0;  // 95 % CI of the hazard ratio
  double hr_upper = 0;
};

struct CoxFit {
  std::vector<CoxTerm> terms;
  double loglik_null = 0;
  double loglik = 0;
  double lr_chisq = 0;  // likelihood-ratio test
  double lr_p = 0;
  int iterations = 0;
  bool converged = false;
  int n = 0;
  int events = 0;
};
// covariates[j] is the column of covariate j (size n). Efron ties; step-halving Newton-Raphson.
CoxFit cox_ph(const std::vector<double>& time, const std::vector<int>& event,
              const std::vector<std::vector<double>>& covariates, const std::vector<std::string>& names);

struct Correlation {
  double r = 0;
  double statistic = 0;  // t with n - 2 degrees of freedom
  double p = 0;          // two-sided
  int n = 0;
};
Correlation pearson(const std::vector<double>& x, const std::vector<double>& y);
// Spearman's rho (average ranks for ties) with the t approximation of the p value (R's cor.test(...,
// method = "spearman", exact = FALSE)).
Correlation spearman(const std::vector<double>& x, const std::vector<double>& y);

// Distribution functions used above (upper tails).
double chisq_upper(double x, double df);
double normal_upper(double z);
double student_t_two_sided(double t, double df);
double normal_quantile(double p);

}  // namespace ihc::stats
