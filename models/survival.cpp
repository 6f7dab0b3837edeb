#include "models/survival.hpp"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

namespace ihc::stats {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void check_survival_input(const std::vector<double>& time, const std::vector<int>& event) {
  if (time.size() != event.size()) throw std::invalid_argument("time and event have different lengths");
  for (std::size_t i = 0; i < time.size(); ++i) {
    if (!std::isfinite(time[i]))
      throw std::invalid_argument("time of row " + std::to_string(i + 1) + " is not finite");
    if (time[i] < 0) throw std::invalid_argument("time of row " + std::to_string(i + 1) + " is negative");
    if (event[i] != 0 && event[i] != 1) {
      throw std::invalid_argument("event of row " + std::to_string(i + 1) + " is not 0 or 1");
    }
  }
}

// Continued fraction for the regularized incomplete beta (Numerical Recipes' betacf, Lentz's method).
double beta_cf(double a, double b, double x) {
  constexpr double kTiny = 1e-300;
  double qab = a + b, qap = a + 1, qam = a - 1;
  double c = 1, d = 1 - qab * x / qap;
  if (std::fabs(d) < kTiny) d = kTiny;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= 1000; ++m) {
    const int m2 = 2 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1 / d;
    const double del = d * c;
    h *= del;
    if (std::fabs(del - 1) < 1e-15) break;
  }
  return h;
}

double incomplete_beta(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const double bt =
      std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x));
  if (x < (a + 1) / (a + b + 2)) return bt * beta_cf(a, b, x) / a;
  return 1 - bt * beta_cf(b, a, 1 - x) / b;
}

// Upper regularized incomplete gamma Q(a, x).
double gamma_upper(double a, double x) {
  if (x <= 0) return 1;
  if (x < a + 1) {
    double sum = 1 / a, del = sum, ap = a;
    for (int n = 0; n < 10000; ++n) {
      ap += 1;
      del *= x / ap;
      sum += del;
      if (std::fabs(del) < std::fabs(sum) * 1e-16) break;
    }
    return 1 - sum * std::exp(-x + a * std::log(x) - std::lgamma(a));
  }
  constexpr double kTiny = 1e-300;
  double b = x + 1 - a, c = 1 / kTiny, d = 1 / b, h = d;
  for (int i = 1; i < 10000; ++i) {
    const double an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = b + an / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1 / d;
    const double del = d * c;
    h *= del;
    if (std::fabs(del - 1) < 1e-16) break;
  }
  return std::exp(-x + a * std::log(x) - std::lgamma(a)) * h;
}

// R's quantile.survfit rule: first distinct survival level at or below p; when the curve sits exactly on p,
// the midpoint between that time and the next drop.
double km_quantile(const std::vector<double>& times, const std::vector<double>& surv, double p) {
  std::vector<double> t, s;
  for (std::size_t i = 0; i < surv.size(); ++i) {
    if (std::isnan(surv[i])) continue;
    if (!s.empty() && surv[i] == s.back()) continue;
    t.push_back(times[i]);
    s.push_back(surv[i]);
  }
  constexpr double kTol = 1.490116e-08;  // sqrt(.Machine$double.eps), as R
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] <= p + kTol) {
      if (std::fabs(s[i] - p) < kTol && i + 1 < s.size()) return (t[i] + t[i + 1]) / 2;
      if (std::fabs(s[i] - p) < kTol) return kNaN;  // flat at p until the end: not reached
      return t[i];
    }
  }
  return kNaN;
}

std::vector<double> average_ranks(const std::vector<double>& v) {
  std::vector<std::size_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return v[a] < v[b]; });
  std::vector<double> rank(v.size());
  for (std::size_t i = 0; i < idx.size();) {
    std::size_t j = i;
    while (j + 1 < idx.size() && v[idx[j + 1]] == v[idx[i]]) ++j;
    const double r = (static_cast<double>(i) + static_cast<double>(j)) / 2.0 + 1.0;
    for (std::size_t k = i; k <= j; ++k) rank[idx[k]] = r;
    i = j + 1;
  }
  return rank;
}

}  // namespace

double normal_upper(double z) { return 0.5 * std::erfc(z / std::sqrt(2.0)); }

double chisq_upper(double x, double df) {
  if (df <= 0) return kNaN;
  return gamma_upper(df / 2, x / 2);
}

double student_t_two_sided(double t, double df) {
  if (!std::isfinite(t)) return 0;
  return incomplete_beta(df / 2, 0.5, df / (df + t * t));
}

// Wichura's AS 241 (PPND16), accurate to about 1e-16, as R's qnorm.
double normal_quantile(double p) {
  if (p <= 0) return -std::numeric_limits<double>::infinity();
  if (p >= 1) return std::numeric_limits<double>::infinity();
  const double q = p - 0.5;
  double r, val;
  if (std::fabs(q) <= 0.425) {
    r = 0.180625 - q * q;
    val = q *
          (((((((r * 2509.0809287301226727 + 33430.575583588128105) * r + 67265.770927008700853) * r +
               45921.953931549871457) *
                  r +
              13731.693765509461125) *
                 r +
             1971.5909503065514427) *
                r +
            133.14166789178437745) *
               r +
           3.387132872796366608) /
          (((((((r * 5226.495278852545925 + 28729.085735721942674) * r + 39307.89580009271061) * r +
               21213.794301586595867) *
                  r +
              5394.1960214247511077) *
                 r +
             687.1870074920579083) *
                r +
            42.313330701600911252) *
               r +
           1.0);
    return val;
  }
  r = q < 0 ? p : 1 - p;
  r = std::sqrt(-std::log(r));
  if (r <= 5) {
    r -= 1.6;
    val =
        (((((((r * 7.7454501427834140764e-4 + 0.0227238449892691845833) * r + 0.24178072517745061177) * r +
             1.27045825245236838258) *
                r +
            3.64784832476320460504) *
               r +
           5.7694972214606914055) *
              r +
          4.6303378461565452959) *
             r +
         1.42343711074968357734) /
        (((((((r * 1.05075007164441684324e-9 + 5.475938084995344946e-4) * r + 0.0151986665636164571966) * r +
             0.14810397642748007459) *
                r +
            0.68976733498510000455) *
               r +
           1.6763848301838038494) *
              r +
          2.05319162663775882187) *
             r +
         1.0);
  } else {
    r -= 5;
    val = (((((((r * 2.01033439929228813265e-7 + 2.71155556874348757815e-5) * r + 0.0012426609473880784386) *
                   r +
               0.026532189526576123093) *
                  r +
              0.29656057182850489123) *
                 r +
             1.7848265399172913358) *
                r +
            5.4637849111641143699) *
               r +
           6.6579046435011037772) /
          (((((((r * 2.04426310338993978564e-15 + 1.4215117583164458887e-7) * r + 1.8463183175100546818e-5) *
                   r +
               7.868691311456132591e-4) *
                  r +
              0.0148753612908506148525) *
                 r +
             0.13692988092273580531) *
                r +
            0.59983220655588793769) *
               r +
           1.0);
  }
  return q < 0 ? -val : val;
}

KaplanMeier kaplan_meier(const std::vector<double>& time, const std::vector<int>& event, double conf_level) {
  check_survival_input(time, event);
  KaplanMeier km;
  km.n = static_cast<int>(time.size());
  const double z = normal_quantile(1 - (1 - conf_level) / 2);
  std::vector<std::size_t> idx(time.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return time[a] < time[b]; });
  int at_risk = km.n;
  double surv = 1, var_log = 0;
  for (std::size_t i = 0; i < idx.size();) {
    KmStep s;
    s.time = time[idx[i]];
    s.n_risk = at_risk;
    std::size_t j = i;
    while (j < idx.size() && time[idx[j]] == s.time) {
      (event[idx[j]] != 0 ? s.n_event : s.n_censor) += 1;
      ++j;
    }
    if (s.n_event > 0) {
      surv *= 1.0 - static_cast<double>(s.n_event) / s.n_risk;
      var_log = s.n_event < s.n_risk ? var_log + static_cast<double>(s.n_event) /
                                                     (static_cast<double>(s.n_risk) * (s.n_risk - s.n_event))
                                     : std::numeric_limits<double>::infinity();
    }
    km.events += s.n_event;
    s.surv = surv;
    const double se_log = std::sqrt(var_log);
    s.std_err = surv * se_log;
    if (surv > 0 && std::isfinite(se_log)) {
      s.lower = surv * std::exp(-z * se_log);
      s.upper = std::min(1.0, surv * std::exp(z * se_log));
    } else {
      s.lower = s.upper = kNaN;
      if (surv == 0) s.std_err = kNaN;
    }
    km.steps.push_back(s);
    at_risk -= s.n_event + s.n_censor;
    i = j;
  }
  std::vector<double> t, s, lo, hi;
  for (const auto& st : km.steps) {
    t.push_back(st.time);
    s.push_back(st.surv);
    lo.push_back(st.lower);
    hi.push_back(st.upper);
  }
  km.median = km_quantile(t, s, 0.5);
  km.median_lower = km_quantile(t, lo, 0.5);
  km.median_upper = km_quantile(t, hi, 0.5);
  return km;
}

SurvivalAt survival_at(const KaplanMeier& km, double t) {
  SurvivalAt r;
  r.time = t;
  r.surv = r.lower = r.upper = 1;
  r.n_risk = 0;
  bool risk_found = false;
  for (const auto& s : km.steps) {
    if (s.time <= t) {
      r.surv = s.surv;
      r.lower = s.lower;
      r.upper = s.upper;
    }
    // R reports the number at risk at t: the risk set of the first step at or after t.
    if (s.time >= t && !risk_found) {
      r.n_risk = s.n_risk;
      risk_found = true;
    }
  }
  if (km.steps.empty() || (t > km.steps.back().time && km.steps.back().surv > 0)) {
    // Beyond the last follow-up the curve is unknown (R's summary drops such times); once it has reached 0
    // it stays 0.
    r.surv = r.lower = r.upper = kNaN;
  }
  return r;
}

LogRank log_rank(const std::vector<double>& time, const std::vector<int>& event,
                 const std::vector<int>& group) {
  check_survival_input(time, event);
  if (group.size() != time.size()) throw std::invalid_argument("group and time have different lengths");
  int k = 0;
  for (int g : group) {
    if (g < 0) throw std::invalid_argument("negative group index");
    k = std::max(k, g + 1);
  }
  std::vector<int> size(k, 0);
  for (int g : group) ++size[g];
  for (int g = 0; g < k; ++g) {
    if (size[g] == 0) throw std::invalid_argument("group " + std::to_string(g) + " has no subjects");
  }
  LogRank lr;
  lr.observed.assign(k, 0);
  lr.expected.assign(k, 0);
  Eigen::MatrixXd var = Eigen::MatrixXd::Zero(k, k);
  std::vector<std::size_t> idx(time.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return time[a] < time[b]; });
  std::vector<double> n_g(k, 0);
  for (int g : group) n_g[g] += 1;
  for (std::size_t i = 0; i < idx.size();) {
    std::size_t j = i;
    std::vector<double> d_g(k, 0), leaving(k, 0);
    while (j < idx.size() && time[idx[j]] == time[idx[i]]) {
      const int g = group[idx[j]];
      if (event[idx[j]] != 0) d_g[g] += 1;
      leaving[g] += 1;
      ++j;
    }
    const double n = std::accumulate(n_g.begin(), n_g.end(), 0.0);
    const double d = std::accumulate(d_g.begin(), d_g.end(), 0.0);
    if (d > 0) {
      for (int g = 0; g < k; ++g) {
        lr.observed[g] += d_g[g];
        lr.expected[g] += d * n_g[g] / n;
      }
      if (n > 1) {
        const double f = d * (n - d) / (n * n * (n - 1));
        for (int g = 0; g < k; ++g) {
          for (int h = 0; h < k; ++h) var(g, h) += f * n_g[g] * ((g == h ? n : 0) - n_g[h]);
        }
      }
    }
    for (int g = 0; g < k; ++g) n_g[g] -= leaving[g];
    i = j;
  }
  // As survdiff: drop groups with no expected events, then use k-1 of the rest.
  std::vector<int> keep;
  for (int g = 0; g < k; ++g) {
    if (lr.expected[g] > 0) keep.push_back(g);
  }
  if (keep.size() < 2) {
    // survdiff would print a chi-square on -1 or 0 df; there is nothing to compare.
    lr.df = 0;
    lr.chisq = 0;
    lr.p = kNaN;
    const bool any_event = std::any_of(event.begin(), event.end(), [](int e) { return e != 0; });
    lr.note = any_event ? "not computable: only one group has patients at risk at the event times"
                        : "not computable: no events in any group";
    return lr;
  }
  lr.df = static_cast<int>(keep.size()) - 1;
  Eigen::VectorXd oe(lr.df);
  Eigen::MatrixXd v(lr.df, lr.df);
  for (int a = 0; a < lr.df; ++a) {
    oe(a) = lr.observed[keep[a]] - lr.expected[keep[a]];
    for (int b = 0; b < lr.df; ++b) v(a, b) = var(keep[a], keep[b]);
  }
  lr.chisq = oe.dot(v.completeOrthogonalDecomposition().solve(oe));
  lr.p = chisq_upper(lr.chisq, lr.df);
  return lr;
}

namespace {

struct CoxState {
  double loglik = 0;
  Eigen::VectorXd gradient;
  Eigen::MatrixXd information;
};

// Efron log partial likelihood with gradient and information. `order` sorts subjects by time descending.
CoxState cox_evaluate(const Eigen::MatrixXd& x, const std::vector<double>& time,
                      const std::vector<int>& event, const std::vector<std::size_t>& order,
                      const Eigen::VectorXd& beta) {
  const int p = static_cast<int>(x.cols());
  CoxState st;
  st.gradient = Eigen::VectorXd::Zero(p);
  st.information = Eigen::MatrixXd::Zero(p, p);
  double s0 = 0;
  Eigen::VectorXd s1 = Eigen::VectorXd::Zero(p);
  Eigen::MatrixXd s2 = Eigen::MatrixXd::Zero(p, p);
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    double a0 = 0;
    Eigen::VectorXd a1 = Eigen::VectorXd::Zero(p), sum_x = Eigen::VectorXd::Zero(p);
    Eigen::MatrixXd a2 = Eigen::MatrixXd::Zero(p, p);
    int deaths = 0;
    double sum_eta = 0;
    while (j < order.size() && time[order[j]] == time[order[i]]) {
      const Eigen::VectorXd xi = x.row(static_cast<Eigen::Index>(order[j])).transpose();
      const double eta = xi.dot(beta);
      const double w = std::exp(eta);
      s0 += w;
      s1 += w * xi;
      s2 += w * xi * xi.transpose();
      if (event[order[j]] != 0) {
        ++deaths;
        a0 += w;
        a1 += w * xi;
        a2 += w * xi * xi.transpose();
        sum_x += xi;
        sum_eta += eta;
      }
      ++j;
    }
    if (deaths > 0) {
      st.loglik += sum_eta;
      st.gradient += sum_x;
      for (int l = 0; l < deaths; ++l) {
        const double f = static_cast<double>(l) / deaths;
        const double den = s0 - f * a0;
        const Eigen::VectorXd mean = (s1 - f * a1) / den;
        st.loglik -= std::log(den);
        st.gradient -= mean;
        st.information += (s2 - f * a2) / den - mean * mean.transpose();
      }
    }
    i = j;
  }
  return st;
}

}  // namespace

CoxFit cox_ph(const std::vector<double>& time, const std::vector<int>& event,
              const std::vector<std::vector<double>>& covariates, const std::vector<std::string>& names) {
  check_survival_input(time, event);
  const std::size_t n = time.size();
  const int p = static_cast<int>(covariates.size());
  if (p == 0) throw std::invalid_argument("Cox model needs at least one covariate");
  if (names.size() != covariates.size())
    throw std::invalid_argument("covariate names and columns differ in number");
  Eigen::MatrixXd x(static_cast<Eigen::Index>(n), p);
  for (int c = 0; c < p; ++c) {
    if (covariates[c].size() != n)
      throw std::invalid_argument("covariate '" + names[c] + "' has the wrong length");
    double mean = 0;
    for (double v : covariates[c]) {
      if (!std::isfinite(v)) throw std::invalid_argument("covariate '" + names[c] + "' has a missing value");
      mean += v;
    }
    mean /= static_cast<double>(n);
    // Centred, as coxph does, for numerical stability; coefficients are unchanged.
    for (std::size_t i = 0; i < n; ++i) x(static_cast<Eigen::Index>(i), c) = covariates[c][i] - mean;
  }
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return time[a] > time[b]; });

  CoxFit fit;
  fit.n = static_cast<int>(n);
  fit.events = static_cast<int>(std::count(event.begin(), event.end(), 1));
  Eigen::VectorXd beta = Eigen::VectorXd::Zero(p);
  CoxState st = cox_evaluate(x, time, event, order, beta);
  fit.loglik_null = st.loglik;
  for (int iter = 1; iter <= 50; ++iter) {
    fit.iterations = iter;
    Eigen::VectorXd step = st.information.ldlt().solve(st.gradient);
    Eigen::VectorXd next = beta + step;
    CoxState ns = cox_evaluate(x, time, event, order, next);
    // Step halving when the likelihood goes down (or is not finite), as coxph does.
    for (int h = 0; h < 30 && (!std::isfinite(ns.loglik) || ns.loglik < st.loglik - 1e-12); ++h) {
      step /= 2;
      next = beta + step;
      ns = cox_evaluate(x, time, event, order, next);
    }
    const double change = std::fabs(ns.loglik - st.loglik);
    beta = next;
    st = ns;
    if (change <= 1e-12 * std::max(1.0, std::fabs(st.loglik))) {
      fit.converged = true;
      break;
    }
  }
  fit.loglik = st.loglik;
  fit.lr_chisq = 2 * (fit.loglik - fit.loglik_null);
  fit.lr_p = chisq_upper(fit.lr_chisq, p);
  const Eigen::MatrixXd cov = st.information.inverse();
  const double z975 = normal_quantile(0.975);
  for (int c = 0; c < p; ++c) {
    CoxTerm term;
    term.name = names[c];
    term.coef = beta(c);
    term.hr = std::exp(term.coef);
    term.se = std::sqrt(cov(c, c));
    term.z = term.coef / term.se;
    term.p = 2 * normal_upper(std::fabs(term.z));
    term.hr_lower = std::exp(term.coef - z975 * term.se);
    term.hr_upper = std::exp(term.coef + z975 * term.se);
    fit.terms.push_back(term);
  }
  return fit;
}

Correlation pearson(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size()) throw std::invalid_argument("x and y have different lengths");
  Correlation c;
  c.n = static_cast<int>(x.size());
  if (c.n < 3) throw std::invalid_argument("correlation needs at least 3 pairs");
  double mx = 0, my = 0;
  for (int i = 0; i < c.n; ++i) {
    mx += x[i];
    my += y[i];
  }
  mx /= c.n;
  my /= c.n;
  double sxy = 0, sxx = 0, syy = 0;
  for (int i = 0; i < c.n; ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (sxx == 0 || syy == 0) throw std::invalid_argument("correlation is undefined: one variable is constant");
  c.r = sxy / std::sqrt(sxx * syy);
  const double df = c.n - 2;
  if (1 - c.r * c.r <= 0) {
    c.statistic =
        c.r > 0 ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
    c.p = 0;
    return c;
  }
  c.statistic = c.r * std::sqrt(df / (1 - c.r * c.r));
  c.p = student_t_two_sided(c.statistic, df);
  return c;
}

Correlation spearman(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size()) throw std::invalid_argument("x and y have different lengths");
  return pearson(average_ranks(x), average_ranks(y));
}

}  // namespace ihc::stats
