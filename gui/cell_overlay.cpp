#include "gui/cell_overlay.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "models/regions.hpp"

namespace ihc::gui {

void CellGrid::build(const std::vector<Cell>& cells, double bin_px) {
  bin_ = bin_px > 0 ? bin_px : 64.0;
  centroids_.resize(cells.size());
  items_.assign(cells.size(), 0);
  if (cells.empty()) {
    nx_ = ny_ = 0;
    start_.assign(1, 0);
    return;
  }
  double xa = cells[0].centroid.x, ya = cells[0].centroid.y, xb = xa, yb = ya;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    centroids_[i] = cells[i].centroid;
    xa = std::min(xa, centroids_[i].x);
    ya = std::min(ya, centroids_[i].y);
    xb = std::max(xb, centroids_[i].x);
    yb = std::max(yb, centroids_[i].y);
  }
  x0_ = std::floor(xa / bin_) * bin_;
  y0_ = std::floor(ya / bin_) * bin_;
  nx_ = static_cast<int>((xb - x0_) / bin_) + 1;
  ny_ = static_cast<int>((yb - y0_) / bin_) + 1;
  start_.assign(static_cast<std::size_t>(nx_) * ny_ + 1, 0);
  std::vector<int> bin_of(cells.size());
  for (std::size_t i = 0; i < cells.size(); ++i) {
    const int bx = std::min(nx_ - 1, static_cast<int>((centroids_[i].x - x0_) / bin_));
    const int by = std::min(ny_ - 1, static_cast<int>((centroids_[i].y - y0_) / bin_));
    bin_of[i] = by * nx_ + bx;
    ++start_[bin_of[i] + 1];
  }
  for (std::size_t b = 1; b < start_.size(); ++b) start_[b] += start_[b - 1];
  std::vector<int> fill(start_.begin(), start_.end() - 1);
  for (std::size_t i = 0; i < cells.size(); ++i) items_[fill[bin_of[i]]++] = static_cast<int>(i);
}

bool CellGrid::bin_range(const cv::Rect2d& r, int* x0, int* y0, int* x1, int* y1) const {
  if (nx_ == 0) return false;
  *x0 = std::max(0, static_cast<int>(std::floor((r.x - x0_) / bin_)));
  *y0 = std::max(0, static_cast<int>(std::floor((r.y - y0_) / bin_)));
  *x1 = std::min(nx_ - 1, static_cast<int>(std::floor((r.x + r.width - x0_) / bin_)));
  *y1 = std::min(ny_ - 1, static_cast<int>(std::floor((r.y + r.height - y0_) / bin_)));
  return *x0 <= *x1 && *y0 <= *y1;
}

std::vector<int> CellGrid::query(const cv::Rect2d& r) const {
  std::vector<int> out;
  for_each_bin(r, [&](const cv::Rect2d& br, const int* b, const int* e) {
    const bool inside =
        br.x >= r.x && br.y >= r.y && br.x + br.width <= r.x + r.width && br.y + br.height <= r.y + r.height;
    for (const int* p = b; p != e; ++p) {
      const cv::Point2d& c = centroids_[*p];
      if (inside || (c.x >= r.x && c.y >= r.y && c.x <= r.x + r.width && c.y <= r.y + r.height))
        out.push_back(*p);
    }
  });
  return out;
}

std::size_t CellGrid::estimate(const cv::Rect2d& r) const {
  std::size_t n = 0;
  for_each_bin(r,
               [&](const cv::Rect2d&, const int* b, const int* e) { n += static_cast<std::size_t>(e - b); });
  return n;
}

std::vector<CellClass> grade_automatic(const CellTable& table, const GradingParams& params) {
  return grade_cells(table, params);
}

int hit_test(const CellTable& table, const CellGrid& grid, const cv::Point2d& p, double tolerance_px) {
  const double reach = std::max(tolerance_px, grid.bin_px());
  const auto near = grid.query({p.x - reach, p.y - reach, 2 * reach, 2 * reach});
  int best = -1;
  double best_d = std::numeric_limits<double>::infinity();
  for (int i : near) {
    const Cell& c = table.cells[i];
    const auto& poly = !c.boundary.empty() ? c.boundary : c.nucleus;
    if (poly.size() >= 3) {
      Ring ring(poly.begin(), poly.end());
      if (point_in_ring(p, ring)) {
        // Overlapping outlines: the nearest centroid wins.
        const double d = cv::norm(c.centroid - p) - 1e6;
        if (d < best_d) {
          best_d = d;
          best = i;
        }
        continue;
      }
    }
    const double d = cv::norm(c.centroid - p);
    if (d <= tolerance_px && d < best_d) {
      best_d = d;
      best = i;
    }
  }
  return best;
}

std::vector<int> triangulate(const std::vector<cv::Point2f>& ring) {
  std::vector<int> out;
  const int n = static_cast<int>(ring.size());
  if (n < 3) return out;
  double area2 = 0;
  for (int i = 0; i < n; ++i) {
    const cv::Point2f& a = ring[i];
    const cv::Point2f& b = ring[(i + 1) % n];
    area2 += static_cast<double>(a.x) * b.y - static_cast<double>(b.x) * a.y;
  }
  if (area2 == 0) return out;
  const double sign = area2 > 0 ? 1.0 : -1.0;
  // Turn at b, positive when convex in the ring's orientation.
  auto turn = [&](int a, int b, int c) {
    const double ux = ring[b].x - ring[a].x, uy = ring[b].y - ring[a].y;
    const double vx = ring[c].x - ring[b].x, vy = ring[c].y - ring[b].y;
    return sign * (ux * vy - uy * vx);
  };
  auto inside = [&](int p, int a, int b, int c) {  // p in the closed triangle a, b, c (convex in orientation)
    auto side = [&](int u, int v) {
      return sign * ((ring[v].x - ring[u].x) * static_cast<double>(ring[p].y - ring[u].y) -
                     (ring[v].y - ring[u].y) * static_cast<double>(ring[p].x - ring[u].x));
    };
    return side(a, b) >= 0 && side(b, c) >= 0 && side(c, a) >= 0;
  };
  std::vector<int> v(n);
  for (int i = 0; i < n; ++i) v[i] = i;
  out.reserve(3 * (ring.size() - 2));
  std::size_t i = 0;
  int misses = 0;
  while (v.size() > 3) {
    const std::size_t m = v.size();
    const int a = v[(i + m - 1) % m], b = v[i % m], c = v[(i + 1) % m];
    const double t = turn(a, b, c);
    bool ear = false;
    if (t == 0 || ring[a] == ring[b] || ring[b] == ring[c]) {
      v.erase(v.begin() + static_cast<std::ptrdiff_t>(i % m));  // no area: dropped without a triangle
      misses = 0;
      continue;
    }
    if (t > 0) {
      ear = true;
      // Only reflex vertices can lie inside a convex corner's triangle.
      for (std::size_t k = 0; k < m && ear; ++k) {
        const int p = v[k];
        if (p == a || p == b || p == c || ring[p] == ring[a] || ring[p] == ring[b] || ring[p] == ring[c])
          continue;
        if (turn(v[(k + m - 1) % m], p, v[(k + 1) % m]) < 0 && inside(p, a, b, c)) ear = false;
      }
    }
    if (ear) {
      out.insert(out.end(), {a, b, c});
      v.erase(v.begin() + static_cast<std::ptrdiff_t>(i % m));
      misses = 0;
      if (i >= v.size()) i = 0;
    } else if (++misses > static_cast<int>(m)) {
      break;  // no ear: a self-intersecting rest
    } else {
      i = (i + 1) % m;
    }
  }
  for (std::size_t k = 1; k + 1 < v.size(); ++k) out.insert(out.end(), {v[0], v[k], v[k + 1]});
  return out;
}

std::vector<int> select_in_rect(const CellTable&, const CellGrid& grid, const cv::Rect2d& r) {
  auto out = grid.query(r);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<int> select_by_class(const CellState& state, CellClass cls) {
  std::vector<int> out;
  for (std::size_t i = 0; i < state.classes.size(); ++i) {
    if (state.classes[i] == cls && state.counted[i]) out.push_back(static_cast<int>(i));
  }
  return out;
}

namespace {
int need_column(const CellTable& table, const std::string& column) {
  const int j = table.column(column);
  if (j < 0) {
    std::string names;
    for (const auto& n : table.names) names += (names.empty() ? "" : ", ") + n;
    throw ScoringError("no measurement \"" + column + "\" (available: " + names + ")");
  }
  return j;
}
}  // namespace

std::vector<int> select_by_range(const CellTable& table, const std::string& column, double lo, double hi) {
  const int j = need_column(table, column);
  std::vector<int> out;
  for (std::size_t i = 0; i < table.size(); ++i) {
    const float v = table.columns[j][i];
    if (v >= lo && v <= hi) out.push_back(static_cast<int>(i));
  }
  return out;
}

std::vector<int> navigation_order(const CellTable& table, const GradingParams& params,
                                  const std::vector<int>& filter) {
  std::vector<int> order = filter;
  if (order.empty()) {
    order.resize(table.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  }
  const int j = table.column(params.measurement);
  const std::vector<double> thresholds = grading_thresholds(params);
  auto distance = [&](int i) {
    if (j < 0) return std::numeric_limits<double>::infinity();
    const double v = table.columns[j][i];
    if (std::isnan(v)) return std::numeric_limits<double>::infinity();
    double d = std::numeric_limits<double>::infinity();
    for (double t : thresholds) d = std::min(d, std::abs(v - t));
    return d;
  };
  std::vector<double> key(table.size(), 0.0);
  for (int i : order) key[i] = distance(i);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return key[a] != key[b] ? key[a] < key[b] : table.cells[a].id < table.cells[b].id;
  });
  return order;
}

std::vector<ClassMapBin> class_map(const CellGrid& grid, const CellState& state, const cv::Rect2d& view) {
  std::vector<ClassMapBin> out;
  grid.for_each_bin(view, [&](const cv::Rect2d& r, const int* b, const int* e) {
    if (b == e) return;
    ClassMapBin bin;
    bin.rect = r;
    for (const int* p = b; p != e; ++p) {
      if (!state.counted.empty() && !state.counted[*p]) continue;
      ++bin.counts[static_cast<int>(state.classes[*p])];
      ++bin.total;
    }
    if (bin.total == 0) return;
    int best = 0;
    for (int c = 1; c < 5; ++c) {
      if (bin.counts[c] >= bin.counts[best]) best = c;  // ties go to the stronger class
    }
    bin.majority = static_cast<CellClass>(best);
    out.push_back(bin);
  });
  return out;
}

ClassRaster class_raster(const CellTable& table, const CellState& state, const cv::Size2d& slide_size,
                         double square_px) {
  ClassRaster out;
  out.square_px = square_px;
  const int cols = std::max(1, static_cast<int>(std::ceil(slide_size.width / square_px)));
  const int rows = std::max(1, static_cast<int>(std::ceil(slide_size.height / square_px)));
  out.classes = cv::Mat1b::zeros(rows, cols);
  // Five counters per square for counted cells, five for cells out of scope; squares are few (the caller
  // keeps them near 8 screen px).
  std::vector<std::array<int, 10>> counts(static_cast<std::size_t>(rows) * cols);
  for (std::size_t i = 0; i < table.size(); ++i) {
    if (!state.deleted.empty() && state.deleted[i]) continue;
    const bool counted = state.counted.empty() || state.counted[i];
    const cv::Point2d& c = table.cells[i].centroid;
    const int x = std::clamp(static_cast<int>(std::floor(c.x / square_px)), 0, cols - 1);
    const int y = std::clamp(static_cast<int>(std::floor(c.y / square_px)), 0, rows - 1);
    ++counts[static_cast<std::size_t>(y) * cols + x][static_cast<int>(state.classes[i]) + (counted ? 0 : 5)];
  }
  for (int y = 0; y < rows; ++y) {
    auto* row = out.classes.ptr<std::uint8_t>(y);
    for (int x = 0; x < cols; ++x) {
      const auto& k = counts[static_cast<std::size_t>(y) * cols + x];
      for (const int first : {0, 5}) {
        int best = first, total = 0;
        for (int c = first; c < first + 5; ++c) {
          total += k[c];
          if (k[c] >= k[best]) best = c;
        }
        if (total == 0) continue;
        row[x] = static_cast<std::uint8_t>(first == 0 ? best + 1 : kOutOfScope + best - first + 1);
        break;
      }
    }
  }
  return out;
}

Histogram measurement_histogram(const CellTable& table, const std::string& column, const CellState& state,
                                int bins, double lo, double hi) {
  Histogram h;
  h.lo = lo;
  h.hi = hi;
  h.counts.assign(std::max(1, bins), 0);
  const int j = table.column(column);
  if (j < 0 || !(hi > lo)) return h;
  const int nb = static_cast<int>(h.counts.size());
  for (std::size_t i = 0; i < table.size(); ++i) {
    if (!state.counted.empty() && !state.counted[i]) continue;
    const float v = table.columns[j][i];
    if (std::isnan(v)) continue;
    const int b = std::clamp(static_cast<int>((v - lo) / (hi - lo) * nb), 0, nb - 1);
    h.max_count = std::max(h.max_count, ++h.counts[b]);
  }
  return h;
}

}  // namespace ihc::gui
