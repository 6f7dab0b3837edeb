#include "imaging/cell_growth.hpp"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <stdexcept>
#include <utility>
#include <vector>

#include "imaging/morphology.hpp"

namespace ihc {
namespace {

// OD per micron of distance to the nearest nucleus added to the growth landscape: enough to make borders
// fall midway where the DAB image is flat, far below a brown line (>= 0.2 OD), so lines win within a few um.
constexpr double kDistanceOdPerUm = 0.03;
// Brown lines are 1-2 um wide; this blur removes pixel noise without moving their crest.
constexpr double kLandscapeSigmaUm = 0.5;
// Mean membrane DAB OD from which a cell counts as having a brown line of its own.
constexpr float kMinLineOd = 0.15f;
// A cell takes a neighbour's side of a shared line only when its membrane is this many times stronger (plus
// 0.05 OD). Strengths come from the bands before the move, and where one of two equal cells owns the crest
// its band reads up to ~1.3x the other's (a 1 um line, tests/imaging/test_cell_measurements); below 1.35
// such equal cells start to trade the line. On the synthetic DSG2 set 1.25-1.5 give kappa 0.91-0.93.
constexpr float kStepRatio = 1.35f;

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

// A brown line between two cells is one cell's membrane when that cell is brown all around and its neighbour
// is not: the line's pixels on the neighbour's side move to the brown cell, so the negative cell's border
// (and membrane band) lies just outside the line instead of on half of it. Equal neighbours keep the crest.
void give_lines_to_brown_cells(cv::Mat& labels, const cv::Mat& nucleus_labels, const cv::Mat& dab_smooth,
                               const cv::Mat& band, int iterations) {
  double max_label = 0;
  cv::minMaxLoc(labels, nullptr, &max_label);
  const std::size_t n = static_cast<std::size_t>(max_label) + 1;
  std::vector<double> sum(n, 0), cnt(n, 0);
  for (int y = 0; y < labels.rows; ++y) {
    const int* l = labels.ptr<int>(y);
    const int* nl = nucleus_labels.ptr<int>(y);
    const uchar* b = band.ptr<uchar>(y);
    const float* d = dab_smooth.ptr<float>(y);
    for (int x = 0; x < labels.cols; ++x) {
      if (l[x] <= 0 || !b[x] || nl[x] != 0) continue;
      sum[static_cast<std::size_t>(l[x])] += d[x];
      cnt[static_cast<std::size_t>(l[x])] += 1;
    }
  }
  std::vector<float> strength(n, 0.0f);
  bool any = false;
  for (std::size_t c = 1; c < n; ++c) {
    strength[c] = cnt[c] > 0 ? static_cast<float>(sum[c] / cnt[c]) : 0.0f;
    any = any || strength[c] >= kMinLineOd;
  }
  if (!any) return;
  const int w = labels.cols;
  const int h = labels.rows;
  CV_Assert(labels.isContinuous());
  int* lab = labels.ptr<int>();
  // The neighbour label this pixel moves to, or 0.
  auto move_to = [&](int y, int x) {
    const int b = lab[y * w + x];
    const float dx_od = dab_smooth.ptr<float>(y)[x];
    if (b <= 0 || nucleus_labels.ptr<int>(y)[x] != 0 || dx_od < kMinLineOd * 0.5f) return 0;
    int best = 0;
    float best_strength = 0;
    for (int dy = -1; dy <= 1; ++dy) {
      const int yy = y + dy;
      if (yy < 0 || yy >= h) continue;
      const int* ln = lab + static_cast<std::ptrdiff_t>(yy) * w;
      for (int dx = -1; dx <= 1; ++dx) {
        const int xx = x + dx;
        if (xx < 0 || xx >= w) continue;
        const int a = ln[xx];
        if (a <= 0 || a == b) continue;
        const float sa = strength[static_cast<std::size_t>(a)];
        const float sb = strength[static_cast<std::size_t>(b)];
        // The border between lines of clearly different strength is their step: a pixel darker than the
        // mean of both strengths is the stronger cell's. The crest of the blurred line lies in the darker
        // half, so a border on it gave the paler cell part of the darker cell's line.
        if (sa < kMinLineOd || sa < kStepRatio * sb + 0.05f || dx_od < 0.5f * (sa + sb)) continue;
        if (sa > best_strength) {
          best_strength = sa;
          best = a;
        }
      }
    }
    return best;
  };
  // Moves are applied after each pass. A pixel whose label and neighbours did not change keeps its decision,
  // so after the first full pass only the neighbourhoods of the pixels that moved are looked at again.
  std::vector<std::pair<int, int>> moves;
  for (int y = 0; y < h; ++y) {
    const int* l = lab + static_cast<std::ptrdiff_t>(y) * w;
    const int* nl = nucleus_labels.ptr<int>(y);
    const float* d = dab_smooth.ptr<float>(y);
    for (int x = 0; x < w; ++x) {
      // Cheap rejections first: most pixels are nuclei, background or not brown.
      if (l[x] <= 0 || nl[x] != 0 || d[x] < kMinLineOd * 0.5f) continue;
      const int a = move_to(y, x);
      if (a > 0) moves.emplace_back(y * w + x, a);
    }
  }
  std::vector<uchar> dirty;
  std::vector<int> recheck;
  for (int it = 1; it <= iterations && !moves.empty(); ++it) {
    for (const auto& [i, a] : moves) lab[i] = a;
    if (it == iterations) break;
    if (dirty.empty()) dirty.assign(static_cast<std::size_t>(w) * static_cast<std::size_t>(h), 0);
    recheck.clear();
    for (const auto& move : moves) {
      const int y = move.first / w;
      const int x = move.first % w;
      for (int yy = std::max(0, y - 1); yy <= std::min(h - 1, y + 1); ++yy) {
        for (int xx = std::max(0, x - 1); xx <= std::min(w - 1, x + 1); ++xx) {
          const int j = yy * w + xx;
          if (!dirty[static_cast<std::size_t>(j)]) {
            dirty[static_cast<std::size_t>(j)] = 1;
            recheck.push_back(j);
          }
        }
      }
    }
    moves.clear();
    for (const int j : recheck) {
      dirty[static_cast<std::size_t>(j)] = 0;
      const int a = move_to(j / w, j % w);
      if (a > 0) moves.emplace_back(j, a);
    }
  }
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
