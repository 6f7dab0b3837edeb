#include "models/evaluation.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <unordered_map>

namespace ihc {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double safe_ratio(double num, double den) { return den > 0 ? num / den : kNaN; }

struct UnionFind {
  std::vector<int> parent;
  explicit UnionFind(int n) : parent(n) { std::iota(parent.begin(), parent.end(), 0); }
  int find(int a) {
    while (parent[a] != a) a = parent[a] = parent[parent[a]];
    return a;
  }
  void unite(int a, int b) { parent[find(a)] = find(b); }
};

// Minimum-cost assignment of every row to a distinct column (rows <= cols), O(rows^2 cols); returns the
// column of each row. Classic Hungarian algorithm with potentials.
std::vector<int> hungarian(const std::vector<std::vector<double>>& cost) {
  const int n = static_cast<int>(cost.size());
  const int m = n > 0 ? static_cast<int>(cost[0].size()) : 0;
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> u(n + 1, 0.0), v(m + 1, 0.0);
  std::vector<int> p(m + 1, 0), way(m + 1, 0);
  for (int i = 1; i <= n; ++i) {
    p[0] = i;
    int j0 = 0;
    std::vector<double> minv(m + 1, inf);
    std::vector<char> used(m + 1, 0);
    do {
      used[j0] = 1;
      const int i0 = p[j0];
      double delta = inf;
      int j1 = 0;
      for (int j = 1; j <= m; ++j) {
        if (used[j]) continue;
        const double cur = cost[i0 - 1][j - 1] - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (int j = 0; j <= m; ++j) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else {
          minv[j] -= delta;
        }
      }
      j0 = j1;
    } while (p[j0] != 0);
    do {
      const int j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0 != 0);
  }
  std::vector<int> row_to_col(n, -1);
  for (int j = 1; j <= m; ++j) {
    if (p[j] > 0) row_to_col[p[j] - 1] = j - 1;
  }
  return row_to_col;
}

bool inside(const cv::Mat& region, const cv::Point2d& p) {
  if (region.empty()) return true;
  const int x = static_cast<int>(std::floor(p.x));
  const int y = static_cast<int>(std::floor(p.y));
  if (x < 0 || y < 0 || x >= region.cols || y >= region.rows) return false;
  return region.at<std::uint8_t>(y, x) != 0;
}

}  // namespace

std::string_view truth_label_name(TruthLabel label) {
  switch (label) {
    case TruthLabel::Positive:
      return "positive";
    case TruthLabel::Negative:
      return "negative";
    case TruthLabel::Ignore:
      return "ignore";
  }
  return "negative";
}

bool parse_truth_label(std::string_view name, TruthLabel* out) {
  for (TruthLabel l : {TruthLabel::Positive, TruthLabel::Negative, TruthLabel::Ignore}) {
    if (name == truth_label_name(l)) {
      *out = l;
      return true;
    }
  }
  return false;
}

std::vector<MatchPair> match_points(const std::vector<cv::Point2d>& predicted,
                                    const std::vector<cv::Point2d>& truth, double radius_px) {
  std::vector<MatchPair> result;
  if (predicted.empty() || truth.empty() || !(radius_px >= 0)) return result;
  const int np = static_cast<int>(predicted.size());
  const int nt = static_cast<int>(truth.size());

  // Candidate pairs through a grid of cells one radius wide: only neighbouring cells can hold candidates.
  const double cell = std::max(radius_px, 1.0);
  auto key = [](std::int64_t gx, std::int64_t gy) { return (gx << 32) ^ (gy & 0xffffffffLL); };
  std::unordered_map<std::int64_t, std::vector<int>> grid;
  for (int j = 0; j < nt; ++j) {
    grid[key(static_cast<std::int64_t>(std::floor(truth[j].x / cell)),
             static_cast<std::int64_t>(std::floor(truth[j].y / cell)))]
        .push_back(j);
  }
  struct Edge {
    int p, t;
    double d;
  };
  std::vector<Edge> edges;
  UnionFind uf(np + nt);
  const double r2 = radius_px * radius_px;
  for (int i = 0; i < np; ++i) {
    const auto gx = static_cast<std::int64_t>(std::floor(predicted[i].x / cell));
    const auto gy = static_cast<std::int64_t>(std::floor(predicted[i].y / cell));
    for (std::int64_t dy = -1; dy <= 1; ++dy) {
      for (std::int64_t dx = -1; dx <= 1; ++dx) {
        auto it = grid.find(key(gx + dx, gy + dy));
        if (it == grid.end()) continue;
        for (int j : it->second) {
          const double ddx = predicted[i].x - truth[j].x;
          const double ddy = predicted[i].y - truth[j].y;
          const double d2 = ddx * ddx + ddy * ddy;
          if (d2 <= r2) {
            edges.push_back({i, j, std::sqrt(d2)});
            uf.unite(i, np + j);
          }
        }
      }
    }
  }
  if (edges.empty()) return result;

  // Each connected group of candidate pairs is an independent assignment problem.
  std::unordered_map<int, std::vector<int>> group_edges;
  for (int e = 0; e < static_cast<int>(edges.size()); ++e) group_edges[uf.find(edges[e].p)].push_back(e);
  std::vector<int> roots;
  roots.reserve(group_edges.size());
  for (const auto& [root, list] : group_edges) roots.push_back(root);
  std::sort(roots.begin(), roots.end());  // deterministic order, independent of hashing

  for (int root : roots) {
    const auto& list = group_edges[root];
    std::vector<int> ps, ts;
    for (int e : list) {
      ps.push_back(edges[e].p);
      ts.push_back(edges[e].t);
    }
    std::sort(ps.begin(), ps.end());
    ps.erase(std::unique(ps.begin(), ps.end()), ps.end());
    std::sort(ts.begin(), ts.end());
    ts.erase(std::unique(ts.begin(), ts.end()), ts.end());
    if (list.size() == 1) {
      result.push_back({edges[list[0]].p, edges[list[0]].t, edges[list[0]].d});
      continue;
    }
    const bool transpose = ps.size() > ts.size();
    const auto& rows = transpose ? ts : ps;
    const auto& cols = transpose ? ps : ts;
    // A non-candidate costs more than any set of real pairs: the solver first maximises the number of
    // real pairs, then minimises their total distance.
    const double big = (static_cast<double>(rows.size()) + 1.0) * (radius_px + 1.0) * 2.0;
    std::vector<std::vector<double>> cost(rows.size(), std::vector<double>(cols.size(), big));
    auto index_of = [](const std::vector<int>& v, int x) {
      return static_cast<int>(std::lower_bound(v.begin(), v.end(), x) - v.begin());
    };
    for (int e : list) {
      const int pi = index_of(ps, edges[e].p);
      const int ti = index_of(ts, edges[e].t);
      if (transpose) {
        cost[ti][pi] = edges[e].d;
      } else {
        cost[pi][ti] = edges[e].d;
      }
    }
    const auto assignment = hungarian(cost);
    for (int r = 0; r < static_cast<int>(rows.size()); ++r) {
      const int c = assignment[r];
      if (c < 0 || cost[r][c] >= big) continue;
      const int p = transpose ? cols[c] : rows[r];
      const int t = transpose ? rows[r] : cols[c];
      result.push_back({p, t, cost[r][c]});
    }
  }
  std::sort(result.begin(), result.end(),
            [](const MatchPair& a, const MatchPair& b) { return a.predicted < b.predicted; });
  return result;
}

double ClassCounts::precision() const { return safe_ratio(tp, tp + fp); }
double ClassCounts::recall() const { return safe_ratio(tp, tp + fn); }
double ClassCounts::f1() const { return safe_ratio(2.0 * tp, 2.0 * tp + fp + fn); }

ClassCounts& ClassCounts::operator+=(const ClassCounts& o) {
  tp += o.tp;
  fp += o.fp;
  fn += o.fn;
  return *this;
}

ClassCounts GradeAgreement::per_grade(int g) const {
  ClassCounts c;
  c.tp = confusion[g][g];
  c.fp = predicted[g] - c.tp;
  c.fn = truth[g] - c.tp;
  return c;
}

int GradeAgreement::matched() const {
  int n = 0;
  for (const auto& row : confusion) n = std::accumulate(row.begin(), row.end(), n);
  return n;
}

double GradeAgreement::weighted_kappa() const {
  const double n = matched();
  if (n <= 0) return kNaN;
  std::array<double, kGrades> rows{}, cols{};
  for (int i = 0; i < kGrades; ++i) {
    for (int j = 0; j < kGrades; ++j) {
      rows[i] += confusion[i][j];
      cols[j] += confusion[i][j];
    }
  }
  double observed = 0, expected = 0;
  for (int i = 0; i < kGrades; ++i) {
    for (int j = 0; j < kGrades; ++j) {
      const double w = 1.0 - std::abs(i - j) / static_cast<double>(kGrades - 1);
      observed += w * confusion[i][j] / n;
      expected += w * rows[i] * cols[j] / (n * n);
    }
  }
  return expected < 1.0 ? (observed - expected) / (1.0 - expected) : kNaN;
}

GradeAgreement& GradeAgreement::operator+=(const GradeAgreement& o) {
  available = available && o.available;
  for (int i = 0; i < kGrades; ++i) {
    predicted[i] += o.predicted[i];
    truth[i] += o.truth[i];
    for (int j = 0; j < kGrades; ++j) confusion[i][j] += o.confusion[i][j];
  }
  return *this;
}

Scores scores_of_grades(const std::array<int, kGrades>& counts, const ScoreOptions& options) {
  GradeCounts g;
  g.negative = counts[0];
  g.one_plus = counts[1];
  g.two_plus = counts[2];
  g.three_plus = counts[3];
  return compute_scores(g, options);
}

double ImageEvaluation::predicted_positive_percent() const {
  return 100.0 * safe_ratio(predicted_positive, predicted_total);
}

double ImageEvaluation::truth_positive_percent() const {
  return 100.0 * safe_ratio(truth_positive, truth_total);
}

ImageEvaluation evaluate_image(const std::string& name, const std::vector<PredictedPoint>& predicted,
                               const std::vector<TruthPoint>& truth, const EvaluationParams& params,
                               const cv::Mat& region) {
  if (!region.empty() && region.type() != CV_8UC1) {
    throw std::invalid_argument("evaluate_image: the region mask must be CV_8UC1");
  }
  ImageEvaluation out;
  out.name = name;
  std::vector<int> kept_pred, kept_truth;
  std::vector<cv::Point2d> pred_pos, truth_pos;
  for (int i = 0; i < static_cast<int>(predicted.size()); ++i) {
    if (!inside(region, predicted[i].position)) {
      ++out.outside_region;
      continue;
    }
    kept_pred.push_back(i);
    pred_pos.push_back(predicted[i].position);
  }
  for (int j = 0; j < static_cast<int>(truth.size()); ++j) {
    if (!inside(region, truth[j].position)) continue;
    kept_truth.push_back(j);
    truth_pos.push_back(truth[j].position);
    if (truth[j].label == TruthLabel::Ignore) continue;
    ++out.truth_total;
    if (truth[j].label == TruthLabel::Positive) ++out.truth_positive;
  }

  const auto local_pairs = match_points(pred_pos, truth_pos, params.radius_px);
  // Grades count only when every counted point and detection has one (set below for the detections).
  GradeAgreement& ga = out.grades;
  ga.available = true;
  for (int j : kept_truth) {
    if (truth[j].label == TruthLabel::Ignore) continue;
    const int g = truth[j].grade;
    if (g < 0 || g >= kGrades) {
      ga.available = false;
      continue;
    }
    ++ga.truth[g];
  }
  std::vector<char> removed(kept_pred.size(), 0);
  for (const auto& lp : local_pairs) {
    const MatchPair pair{kept_pred[lp.predicted], kept_truth[lp.truth], lp.distance};
    out.pairs.push_back(pair);
    const TruthLabel label = truth[pair.truth].label;
    if (label == TruthLabel::Ignore) {
      removed[lp.predicted] = 1;
      ++out.matched_ignored;
      continue;
    }
    ++out.detection.tp;
    const bool pred_positive = predicted[pair.predicted].positive;
    if (pred_positive && label == TruthLabel::Positive) ++out.positive.tp;
    if (!pred_positive && label == TruthLabel::Negative) ++out.negative.tp;
    const int pg = predicted[pair.predicted].grade, tg = truth[pair.truth].grade;
    if (pg >= 0 && pg < kGrades && tg >= 0 && tg < kGrades) ++ga.confusion[tg][pg];
  }
  for (std::size_t k = 0; k < kept_pred.size(); ++k) {
    if (removed[k]) continue;
    ++out.predicted_total;
    if (predicted[kept_pred[k]].positive) ++out.predicted_positive;
    const int g = predicted[kept_pred[k]].grade;
    if (g < 0 || g >= kGrades) {
      ga.available = false;
    } else {
      ++ga.predicted[g];
    }
  }
  if (!ga.available) ga = GradeAgreement{};
  out.detection.fp = out.predicted_total - out.detection.tp;
  out.detection.fn = out.truth_total - out.detection.tp;
  out.positive.fp = out.predicted_positive - out.positive.tp;
  out.positive.fn = out.truth_positive - out.positive.tp;
  const int predicted_negative = out.predicted_total - out.predicted_positive;
  const int truth_negative = out.truth_total - out.truth_positive;
  out.negative.fp = predicted_negative - out.negative.tp;
  out.negative.fn = truth_negative - out.negative.tp;
  return out;
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  const std::size_t n = std::min(x.size(), y.size());
  if (n < 2) return kNaN;
  double mx = 0, my = 0;
  for (std::size_t i = 0; i < n; ++i) {
    mx += x[i];
    my += y[i];
  }
  mx /= static_cast<double>(n);
  my /= static_cast<double>(n);
  double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < n; ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (sxx <= 0 || syy <= 0) return kNaN;
  return sxy / std::sqrt(sxx * syy);
}

double EvaluationSummary::predicted_positive_percent() const {
  return 100.0 * safe_ratio(predicted_positive, predicted_total);
}

double EvaluationSummary::truth_positive_percent() const {
  return 100.0 * safe_ratio(truth_positive, truth_total);
}

double EvaluationSummary::pooled_abs_percent_diff() const {
  return std::abs(predicted_positive_percent() - truth_positive_percent());
}

EvaluationSummary summarize(const std::vector<ImageEvaluation>& images, const ScoreOptions& options) {
  EvaluationSummary s;
  std::vector<double> pred_pct, true_pct;
  double sum_diff = 0, max_diff = 0;
  s.grades.available = !images.empty();
  double sum_h = 0, sum_i = 0, sum_ixp = 0;
  int n_h = 0, n_i = 0, n_ixp = 0;
  for (const auto& im : images) {
    s.grades += im.grades;
    if (im.grades.available) {
      const Scores p = scores_of_grades(im.grades.predicted, options);
      const Scores t = scores_of_grades(im.grades.truth, options);
      auto add = [](double a, double b, double* sum, int* n) {
        if (std::isnan(a) || std::isnan(b)) return;
        *sum += std::abs(a - b);
        ++*n;
      };
      add(p.h_score, t.h_score, &sum_h, &n_h);
      add(p.intensity_score, t.intensity_score, &sum_i, &n_i);
      add(p.ixp, t.ixp, &sum_ixp, &n_ixp);
    }
    ++s.images;
    s.predicted_total += im.predicted_total;
    s.predicted_positive += im.predicted_positive;
    s.truth_total += im.truth_total;
    s.truth_positive += im.truth_positive;
    s.detection += im.detection;
    s.positive += im.positive;
    s.negative += im.negative;
    const double p = im.predicted_positive_percent();
    const double t = im.truth_positive_percent();
    if (std::isnan(p) || std::isnan(t)) continue;
    pred_pct.push_back(p);
    true_pct.push_back(t);
    const double d = std::abs(p - t);
    sum_diff += d;
    max_diff = std::max(max_diff, d);
  }
  s.percent_images = static_cast<int>(pred_pct.size());
  s.mean_abs_percent_diff = s.percent_images > 0 ? sum_diff / s.percent_images : kNaN;
  s.max_abs_percent_diff = s.percent_images > 0 ? max_diff : kNaN;
  s.pearson_r = s.percent_images >= 3 ? pearson(pred_pct, true_pct) : kNaN;
  if (!s.grades.available) s.grades = GradeAgreement{};
  s.mean_abs_h_score_diff = s.grades.available && n_h > 0 ? sum_h / n_h : kNaN;
  s.mean_abs_intensity_diff = s.grades.available && n_i > 0 ? sum_i / n_i : kNaN;
  s.mean_abs_ixp_diff = s.grades.available && n_ixp > 0 ? sum_ixp / n_ixp : kNaN;
  return s;
}

}  // namespace ihc
