#include "imaging/cell_measurements.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <opencv2/imgproc.hpp>
#include <stdexcept>

#include "imaging/nucleus_detection.hpp"

namespace ihc {
namespace {

// OD per micron of distance to the nearest nucleus added to the growth landscape: enough to make borders
// fall midway where the DAB image is flat, far below a brown line (>= 0.2 OD), so lines win within a few um.
constexpr double kDistanceOdPerUm = 0.03;
// Brown lines are 1-2 um wide; this blur removes pixel noise without moving their crest.
constexpr double kLandscapeSigmaUm = 0.5;

constexpr const char* kCompartments[4] = {"Nucleus", "Cytoplasm", "Membrane", "Cell"};
constexpr const char* kStains[2] = {"Hematoxylin", "DAB"};
constexpr const char* kStats[3] = {"mean", "std dev", "max"};

struct Acc {
  double n = 0, sum = 0, sum2 = 0;
  float max = -std::numeric_limits<float>::infinity();
  void add(float v) {
    n += 1;
    sum += v;
    sum2 += static_cast<double>(v) * v;
    max = std::max(max, v);
  }
};

// Smooths a closed pixel contour (two passes of a [1 2 1] kernel) so circularity and drawn outlines are not
// dominated by pixel steps.
std::vector<cv::Point2f> smooth_closed(const std::vector<cv::Point>& c, bool smooth) {
  std::vector<cv::Point2f> a(c.begin(), c.end());
  const std::size_t n = a.size();
  if (!smooth || n < 5) return a;
  std::vector<cv::Point2f> b(n);
  for (int pass = 0; pass < 2; ++pass) {
    for (std::size_t i = 0; i < n; ++i) {
      b[i] = 0.25f * a[(i + n - 1) % n] + 0.5f * a[i] + 0.25f * a[(i + 1) % n];
    }
    a.swap(b);
  }
  return a;
}

// Largest outer contour of `mask` (CV_8U with a free 1 px frame), offset to tile coordinates.
std::vector<cv::Point> largest_contour(const cv::Mat& mask, cv::Point offset) {
  std::vector<std::vector<cv::Point>> contours;
  cv::findContours(mask, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_NONE, offset);
  std::size_t best = 0;
  double best_area = -1;
  for (std::size_t i = 0; i < contours.size(); ++i) {
    const double a = contours[i].size() < 3 ? 0.0 : std::abs(cv::contourArea(contours[i]));
    if (a > best_area) {
      best_area = a;
      best = i;
    }
  }
  return contours.empty() ? std::vector<cv::Point>{} : contours[best];
}

std::vector<cv::Point2f> simplify(const std::vector<cv::Point2f>& poly) {
  if (poly.size() < 8) return poly;
  std::vector<cv::Point2f> out;
  cv::approxPolyDP(poly, out, 0.4, true);
  return out;
}

}  // namespace

std::vector<std::string> cell_measurement_names(bool calibrated) {
  const std::string area = calibrated ? "Area um^2" : "Area px^2";
  std::vector<std::string> names = {"Nucleus: " + area, "Nucleus: Circularity", "Cell: " + area};
  for (const char* comp : kCompartments) {
    for (const char* stain : kStains) {
      for (const char* stat : kStats) {
        names.push_back(std::string(comp) + ": " + stain + " OD " + stat);
      }
    }
  }
  return names;
}

CellGrowth grow_cells(const cv::Mat& nucleus_labels, const cv::Mat& dab, const CellParamsPx& p) {
  if (nucleus_labels.type() != CV_32SC1 || dab.type() != CV_32FC1 || nucleus_labels.size() != dab.size()) {
    throw std::invalid_argument("grow_cells: expected CV_32S labels and a CV_32F DAB image of the same size");
  }
  CellGrowth g;
  g.cell_labels = nucleus_labels.clone();
  if (p.cell_expansion_px > 0) {
    cv::Mat dist;
    cv::distanceTransform(nucleus_labels == 0, dist, cv::DIST_L2, cv::DIST_MASK_3, CV_32F);
    cv::Mat landscape;
    const double sigma_px = kLandscapeSigmaUm / p.um_per_px;
    cv::GaussianBlur(dab, landscape, cv::Size(), sigma_px, sigma_px, cv::BORDER_REPLICATE);
    landscape = cv::max(landscape, 0.0f);
    landscape += dist * (kDistanceOdPerUm * p.um_per_px);
    const double reach = p.cell_expansion_px + 0.5;
    g.cell_labels.setTo(-1, dist > reach);
    seeded_flood(landscape, g.cell_labels, reach);
    g.cell_labels.setTo(0, g.cell_labels < 0);
  }
  // Each cell's own border pixels (a 4-neighbour carries another label), then a band inside the cell.
  const int w = g.cell_labels.cols;
  const int h = g.cell_labels.rows;
  cv::Mat not_edge(g.cell_labels.size(), CV_8U, cv::Scalar(255));
  for (int y = 0; y < h; ++y) {
    const int* l = g.cell_labels.ptr<int>(y);
    const int* up = y > 0 ? g.cell_labels.ptr<int>(y - 1) : nullptr;
    const int* down = y + 1 < h ? g.cell_labels.ptr<int>(y + 1) : nullptr;
    uchar* e = not_edge.ptr<uchar>(y);
    for (int x = 0; x < w; ++x) {
      const int c = l[x];
      if (c <= 0) continue;
      if ((x > 0 && l[x - 1] != c) || (x + 1 < w && l[x + 1] != c) || (up && up[x] != c) ||
          (down && down[x] != c)) {
        e[x] = 0;
      }
    }
  }
  cv::Mat edge_dist;
  cv::distanceTransform(not_edge, edge_dist, cv::DIST_L2, cv::DIST_MASK_3, CV_32F);
  g.membrane = (edge_dist < static_cast<float>(std::max(1.0, p.membrane_width_px))) & (g.cell_labels > 0);
  return g;
}

std::vector<MeasuredCell> measure_cells(const cv::Mat& nucleus_labels, int count, const cv::Mat& hematoxylin,
                                        const cv::Mat& dab, const CellParamsPx& p, const cv::Rect& keep) {
  if (hematoxylin.type() != CV_32FC1 || hematoxylin.size() != nucleus_labels.size()) {
    throw std::invalid_argument("measure_cells: expected a CV_32F hematoxylin image of the labels' size");
  }
  const std::size_t n = static_cast<std::size_t>(count) + 1;
  std::vector<double> cnt(n, 0), sx(n, 0), sy(n, 0);
  for (int y = 0; y < nucleus_labels.rows; ++y) {
    const int* l = nucleus_labels.ptr<int>(y);
    for (int x = 0; x < nucleus_labels.cols; ++x) {
      if (l[x] <= 0) continue;
      const auto c = static_cast<std::size_t>(l[x]);
      cnt[c] += 1;
      sx[c] += x;
      sy[c] += y;
    }
  }
  std::vector<int> index(n, -1);
  std::vector<MeasuredCell> cells;
  for (std::size_t c = 1; c < n; ++c) {
    if (cnt[c] == 0) continue;
    const cv::Point2d centroid(sx[c] / cnt[c], sy[c] / cnt[c]);
    if (!keep.empty() && !(centroid.x >= keep.x && centroid.x < keep.x + keep.width && centroid.y >= keep.y &&
                           centroid.y < keep.y + keep.height)) {
      continue;
    }
    index[c] = static_cast<int>(cells.size());
    cells.emplace_back();
    cells.back().centroid = centroid;
  }
  if (cells.empty()) return cells;

  const CellGrowth g = grow_cells(nucleus_labels, dab, p);
  // acc[cell][compartment 0..3, 4 = membrane band over the nucleus][stain]
  std::vector<std::array<std::array<Acc, 2>, 5>> acc(cells.size());
  std::vector<cv::Rect> box(cells.size());
  std::vector<double> cell_area(cells.size(), 0);
  for (int y = 0; y < g.cell_labels.rows; ++y) {
    const int* l = g.cell_labels.ptr<int>(y);
    const int* nl = nucleus_labels.ptr<int>(y);
    const uchar* mem = g.membrane.ptr<uchar>(y);
    const float* hv = hematoxylin.ptr<float>(y);
    const float* dv = dab.ptr<float>(y);
    for (int x = 0; x < g.cell_labels.cols; ++x) {
      const int c = l[x];
      if (c <= 0) continue;
      const int i = index[static_cast<std::size_t>(c)];
      if (i < 0) continue;
      auto& a = acc[static_cast<std::size_t>(i)];
      const bool in_nucleus = nl[x] == c;
      const float v[2] = {hv[x], dv[x]};
      for (int s = 0; s < 2; ++s) {
        a[3][s].add(v[s]);
        a[in_nucleus ? 0 : 1][s].add(v[s]);
        if (mem[x]) a[in_nucleus ? 4 : 2][s].add(v[s]);
      }
      cv::Rect& b = box[static_cast<std::size_t>(i)];
      if (cell_area[static_cast<std::size_t>(i)] == 0) {
        b = cv::Rect(x, y, 1, 1);
      } else {
        b |= cv::Rect(x, y, 1, 1);
      }
      cell_area[static_cast<std::size_t>(i)] += 1;
    }
  }

  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (std::size_t c = 1; c < n; ++c) {
    const int i = index[c];
    if (i < 0) continue;
    MeasuredCell& cell = cells[static_cast<std::size_t>(i)];
    auto& a = acc[static_cast<std::size_t>(i)];
    // A cell without cytoplasm (no expansion) has its membrane on the nucleus rim.
    if (a[2][0].n == 0) a[2] = a[4];
    const cv::Rect b = box[static_cast<std::size_t>(i)];
    cv::Mat local = cv::Mat::zeros(b.height + 2, b.width + 2, CV_8U);
    local(cv::Rect(1, 1, b.width, b.height)).setTo(255, g.cell_labels(b) == static_cast<int>(c));
    const cv::Point offset(b.x - 1, b.y - 1);
    cell.boundary = simplify(smooth_closed(largest_contour(local, offset), p.smooth_boundaries));
    local.setTo(0);
    local(cv::Rect(1, 1, b.width, b.height)).setTo(255, nucleus_labels(b) == static_cast<int>(c));
    const std::vector<cv::Point2f> nucleus =
        smooth_closed(largest_contour(local, offset), p.smooth_boundaries);
    double circularity = nan;
    if (nucleus.size() >= 3) {
      const double perimeter = cv::arcLength(nucleus, true);
      const double area = std::abs(cv::contourArea(nucleus));
      if (perimeter > 0) circularity = std::min(1.0, 4.0 * CV_PI * area / (perimeter * perimeter));
    }
    cell.nucleus = simplify(nucleus);

    auto& v = cell.values;
    v[0] = static_cast<float>(cnt[c] * p.area_scale);
    v[1] = static_cast<float>(circularity);
    v[2] = static_cast<float>(cell_area[static_cast<std::size_t>(i)] * p.area_scale);
    int k = 3;
    for (int comp = 0; comp < 4; ++comp) {
      for (int s = 0; s < 2; ++s) {
        const Acc& q = a[static_cast<std::size_t>(comp)][static_cast<std::size_t>(s)];
        if (q.n == 0) {
          v[k++] = nan;
          v[k++] = nan;
          v[k++] = nan;
          continue;
        }
        const double mean = q.sum / q.n;
        const double var = q.n > 1 ? std::max(0.0, (q.sum2 - q.sum * mean) / (q.n - 1)) : 0.0;
        v[k++] = static_cast<float>(mean);
        v[k++] = static_cast<float>(std::sqrt(var));
        v[k++] = q.max;
      }
    }
  }
  return cells;
}

}  // namespace ihc
