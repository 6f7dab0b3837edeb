#pragma once
// Brute-force polygon checks for outline tests, independent of the code under test: whether a ring is a
// valid simple polygon's ring (as shapely's Polygon.is_valid requires) and its area.
#include <algorithm>
#include <cmath>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <vector>

namespace ihc::test {

// Twice the signed area of a closed ring (last point not repeated).
inline double ring_area2(const std::vector<cv::Point2f>& p) {
  double a = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const cv::Point2f& u = p[i];
    const cv::Point2f& v = p[(i + 1) % p.size()];
    a += static_cast<double>(u.x) * v.y - static_cast<double>(u.y) * v.x;
  }
  return a;
}

inline double ring_area(const std::vector<cv::Point2f>& p) { return std::abs(ring_area2(p)) / 2; }

// Sign of (b - a) x (c - a); exact for coordinates in 1/64 px below 2^15, as outlines are.
inline int turn(const cv::Point2f& a, const cv::Point2f& b, const cv::Point2f& c) {
  const double v = (static_cast<double>(b.x) - a.x) * (static_cast<double>(c.y) - a.y) -
                   (static_cast<double>(b.y) - a.y) * (static_cast<double>(c.x) - a.x);
  return (v > 0) - (v < 0);
}

// Whether c, on the line through a and b, lies on the closed segment ab.
inline bool between(const cv::Point2f& a, const cv::Point2f& b, const cv::Point2f& c) {
  return std::min(a.x, b.x) <= c.x && c.x <= std::max(a.x, b.x) && std::min(a.y, b.y) <= c.y &&
         c.y <= std::max(a.y, b.y);
}

// Whether closed segments ab and cd share a point.
inline bool segments_touch(const cv::Point2f& a, const cv::Point2f& b, const cv::Point2f& c,
                           const cv::Point2f& d) {
  const int t1 = turn(a, b, c), t2 = turn(a, b, d), t3 = turn(c, d, a), t4 = turn(c, d, b);
  if (t1 * t2 < 0 && t3 * t4 < 0) return true;
  return (t1 == 0 && between(a, b, c)) || (t2 == 0 && between(a, b, d)) || (t3 == 0 && between(c, d, a)) ||
         (t4 == 0 && between(c, d, b));
}

// A closed ring (last point not repeated) of a valid polygon: at least 3 points, no two consecutive ones
// equal, non-zero area, every two edges disjoint except consecutive ones, which share only their common
// point. Every pair of edges is compared.
inline bool ring_is_simple(const std::vector<cv::Point2f>& p) {
  const std::size_t n = p.size();
  if (n < 3 || ring_area2(p) == 0) return false;
  for (std::size_t i = 0; i < n; ++i) {
    if (p[i] == p[(i + 1) % n]) return false;
  }
  for (std::size_t i = 0; i < n; ++i) {
    const cv::Point2f& a = p[i];
    const cv::Point2f& b = p[(i + 1) % n];
    for (std::size_t j = i + 1; j < n; ++j) {
      const cv::Point2f& c = p[j];
      const cv::Point2f& d = p[(j + 1) % n];
      if (j == i + 1) {
        // b == c: d must not lie back on ab (nor a on cd).
        if (turn(a, b, d) == 0 && (between(a, b, d) || between(c, d, a))) return false;
      } else if (i == 0 && j == n - 1) {
        // d == a
        if (turn(c, d, b) == 0 && (between(c, d, b) || between(a, b, c))) return false;
      } else if (segments_touch(a, b, c, d)) {
        return false;
      }
    }
  }
  return true;
}

// Whether every point of `inner` lies in `outer` or within `tolerance` px of it.
inline bool points_within(const std::vector<cv::Point2f>& inner, const std::vector<cv::Point2f>& outer,
                          double tolerance) {
  for (const cv::Point2f& v : inner) {
    if (cv::pointPolygonTest(outer, v, true) < -tolerance) return false;
  }
  return true;
}

}  // namespace ihc::test
