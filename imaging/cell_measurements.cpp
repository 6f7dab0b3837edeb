#include "imaging/cell_measurements.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <limits>
#include <opencv2/imgproc.hpp>
#include <stdexcept>

#include "imaging/cell_growth.hpp"

namespace ihc {
namespace {

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
  struct Box {
    int x0 = INT_MAX, y0 = INT_MAX, x1 = -1, y1 = -1;  // inclusive
  };
  std::vector<Box> box(cells.size());
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
      Box& b = box[static_cast<std::size_t>(i)];
      b.x0 = std::min(b.x0, x);
      b.x1 = std::max(b.x1, x);
      b.y0 = std::min(b.y0, y);
      b.y1 = y;
      cell_area[static_cast<std::size_t>(i)] += 1;
    }
  }

  const float nan = std::numeric_limits<float>::quiet_NaN();
  cv::Mat local;
  for (std::size_t c = 1; c < n; ++c) {
    const int i = index[c];
    if (i < 0) continue;
    MeasuredCell& cell = cells[static_cast<std::size_t>(i)];
    auto& a = acc[static_cast<std::size_t>(i)];
    // A cell without cytoplasm (no expansion) has its membrane on the nucleus rim.
    if (a[2][0].n == 0) a[2] = a[4];
    const Box& bb = box[static_cast<std::size_t>(i)];
    const cv::Rect b(bb.x0, bb.y0, bb.x1 - bb.x0 + 1, bb.y1 - bb.y0 + 1);
    // The cell's (then the nucleus's) pixels in its box with a free 1 px frame, for findContours.
    local.create(b.height + 2, b.width + 2, CV_8U);
    auto select = [&](const cv::Mat& labels) {
      // Every inner pixel is written; only the frame needs clearing.
      std::fill_n(local.ptr<uchar>(0), local.cols, uchar{0});
      std::fill_n(local.ptr<uchar>(local.rows - 1), local.cols, uchar{0});
      for (int y = 0; y < b.height; ++y) {
        const int* l = labels.ptr<int>(y + b.y) + b.x;
        uchar* o = local.ptr<uchar>(y + 1);
        o[0] = 0;
        o[b.width + 1] = 0;
        for (int x = 0; x < b.width; ++x) o[x + 1] = l[x] == static_cast<int>(c) ? 255 : 0;
      }
    };
    const cv::Point offset(b.x - 1, b.y - 1);
    select(g.cell_labels);
    cell.boundary = simplify(smooth_closed(largest_contour(local, offset), p.smooth_boundaries));
    select(nucleus_labels);
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
