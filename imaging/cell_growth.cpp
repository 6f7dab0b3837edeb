#include "imaging/cell_growth.hpp"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <stdexcept>
#include <utility>
#include <vector>

#include "imaging/line_ownership.hpp"
#include "imaging/morphology.hpp"

namespace ihc {
namespace {

// OD per micron of distance to the nearest nucleus added to the growth landscape: enough to make borders
// fall midway where the DAB image is flat, far below a brown line (>= 0.2 OD), so lines win within a few um.
constexpr double kDistanceOdPerUm = 0.03;
// Brown lines are 1-2 um wide; this blur removes pixel noise without moving their crest.
constexpr double kLandscapeSigmaUm = 0.5;
}  // namespace

namespace {

// Band of `width_px` inside each cell along its own border (pixels whose 4-neighbour carries another label):
// pixels whose centre is closer than width_px to the border (half a pixel outside the edge pixel's centre) in
// the 3 x 3 chamfer metric (axis 0.955, diagonal 1.3693, OpenCV's DIST_L2 mask 3). A dilation of the edges by
// that metric's ball gives exactly what a distance transform and a threshold give, at a fraction of the cost.
cv::Mat membrane_band(const cv::Mat& labels, double width_px) {
  const int w = labels.cols;
  const int h = labels.rows;
  cv::Mat edge = cv::Mat::zeros(labels.size(), CV_8U);
  for (int y = 0; y < h; ++y) {
    const int* l = labels.ptr<int>(y);
    // Outside the image counts as the same label: rows and columns beyond it repeat the pixel itself.
    const int* up = y > 0 ? labels.ptr<int>(y - 1) : l;
    const int* down = y + 1 < h ? labels.ptr<int>(y + 1) : l;
    uchar* e = edge.ptr<uchar>(y);
    auto mark = [&](int x, int left, int right) {
      const int c = l[x];
      if (c > 0 && (left != c || right != c || up[x] != c || down[x] != c)) e[x] = 255;
    };
    if (w == 1) {
      mark(0, l[0], l[0]);
      continue;
    }
    mark(0, l[0], l[1]);
    for (int x = 1; x + 1 < w; ++x) mark(x, l[x - 1], l[x + 1]);
    mark(w - 1, l[w - 2], l[w - 1]);
  }
  const double width = std::max(1.0, width_px);
  constexpr double kAxis = 0.955;
  constexpr double kDiagonal = 1.3693;
  const int r = static_cast<int>(std::ceil(width / kAxis));
  cv::Mat ball = cv::Mat::zeros(2 * r + 1, 2 * r + 1, CV_8U);
  for (int dy = -r; dy <= r; ++dy) {
    for (int dx = -r; dx <= r; ++dx) {
      const int lo = std::min(std::abs(dx), std::abs(dy));
      const int hi = std::max(std::abs(dx), std::abs(dy));
      // Single-precision sums as in the distance transform. The border lies half a pixel outside the edge
      // pixel's centre, so the band holds the pixels whose centre is closer than `width` to the border:
      // a wider band (centre within `width` of the edge pixel) reached 0.5 px into the cytoplasm and read a
      // 3+ line as 2+.
      const float d = static_cast<float>(lo) * static_cast<float>(kDiagonal) +
                      static_cast<float>(hi - lo) * static_cast<float>(kAxis);
      if (d + 0.5f < static_cast<float>(width)) ball.at<uchar>(dy + r, dx + r) = 1;
    }
  }
  cv::Mat band;
  cv::dilate(edge, band, ball, cv::Point(-1, -1), 1, cv::BORDER_CONSTANT, cv::Scalar(0));
  for (int y = 0; y < h; ++y) {
    const int* l = labels.ptr<int>(y);
    uchar* b = band.ptr<uchar>(y);
    for (int x = 0; x < w; ++x) {
      if (l[x] <= 0) b[x] = 0;
    }
  }
  return band;
}

}  // namespace

CellGrowth grow_cells(const cv::Mat& nucleus_labels, const cv::Mat& dab, const CellParamsPx& p) {
  if (nucleus_labels.type() != CV_32SC1 || dab.type() != CV_32FC1 || nucleus_labels.size() != dab.size()) {
    throw std::invalid_argument("grow_cells: expected CV_32S labels and a CV_32F DAB image of the same size");
  }
  CellGrowth g;
  g.cell_labels = nucleus_labels.clone();
  const double band_px = std::max(1.0, p.membrane_width_px);
  if (p.cell_expansion_px > 0) {
    cv::Mat dist;
    cv::distanceTransform(nucleus_labels == 0, dist, cv::DIST_L2, cv::DIST_MASK_3, CV_32F);
    cv::Mat dab_smooth;
    const double sigma_px = kLandscapeSigmaUm / p.um_per_px;
    cv::GaussianBlur(dab, dab_smooth, cv::Size(), sigma_px, sigma_px, cv::BORDER_REPLICATE);
    cv::Mat landscape = cv::max(dab_smooth, 0.0f) + dist * (kDistanceOdPerUm * p.um_per_px);
    const double reach = p.cell_expansion_px + 0.5;
    g.cell_labels.setTo(-1, dist > reach);
    seeded_flood(landscape, g.cell_labels, reach, dab_smooth, kMinLineOd);
    g.cell_labels.setTo(0, g.cell_labels < 0);
    // Lines are at most ~1 um wider than the band on the neighbour's side.
    const int iterations = static_cast<int>(std::ceil(band_px + 1.0 / p.um_per_px));
    give_lines_to_brown_cells(g.cell_labels, nucleus_labels, dab_smooth,
                              membrane_band(g.cell_labels, band_px), iterations);
  }
  g.membrane = membrane_band(g.cell_labels, band_px);
  return g;
}

}  // namespace ihc
