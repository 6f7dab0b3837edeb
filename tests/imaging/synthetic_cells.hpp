#pragma once
// Synthetic IHC fields with known truth for detection tests and benchmarks: nuclei (hematoxylin blue or
// Ki-67 DAB brown), brown membrane lines around 3+ cells, rendered through Beer-Lambert with the stain
// vectors.
#include <cmath>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <vector>

#include "imaging/stains.hpp"

namespace ihc::test {

// Two labelled nuclei 30 px apart on a row (labels 1 and 2, hematoxylin 0.5 in them) and an empty DAB image
// to draw brown lines into: the smallest case of two cells competing for one border.
struct NucleusPair {
  cv::Mat labels = cv::Mat::zeros(40, 70, CV_32S);
  cv::Mat dab = cv::Mat::zeros(40, 70, CV_32F);
  cv::Mat hema = cv::Mat::zeros(40, 70, CV_32F);
  NucleusPair() {
    cv::circle(labels, cv::Point(20, 20), 4, cv::Scalar(1), cv::FILLED);
    cv::circle(labels, cv::Point(50, 20), 4, cv::Scalar(2), cv::FILLED);
    hema.setTo(0.5, labels > 0);
  }
};

struct SynthCell {
  cv::Point2d center;       // pixels
  double radius_px = 6;     // nucleus radius
  double elongation = 1.0;  // axis ratio
  double angle_deg = 0;
  double hematoxylin = 0.5;  // nucleus OD
  double dab_nucleus = 0.0;  // Ki-67 positive: brown nucleus
  bool membrane = false;     // 3+ membranous: brown line along the cell's border
};

struct SynthField {
  cv::Mat rgb;                   // CV_8UC3 RGB
  std::vector<SynthCell> cells;  // truth
  double spacing_px = 0;         // grid spacing when the field is a grid
};

// Renders cells on a faint background. Membrane lines (thickness `line_px`, DAB `line_od`) are drawn along
// the grid borders of cells with membrane = true (a square of side `spacing` around the centre).
inline cv::Mat render_field(cv::Size size, const std::vector<SynthCell>& cells, double spacing,
                            double line_px, double line_od, unsigned seed) {
  cv::Mat h(size, CV_32F, cv::Scalar(0.03f));  // faint cytoplasm/stroma
  cv::Mat d(size, CV_32F, cv::Scalar(0.01f));
  cv::Mat lines = cv::Mat::zeros(size, CV_8U);
  const cv::Rect image(0, 0, size.width, size.height);
  for (const auto& c : cells) {
    const cv::Size2f axes(static_cast<float>(c.radius_px * c.elongation), static_cast<float>(c.radius_px));
    const int reach = static_cast<int>(std::ceil(c.radius_px * c.elongation)) + 2;
    const cv::Rect box = cv::Rect(static_cast<int>(c.center.x) - reach, static_cast<int>(c.center.y) - reach,
                                  2 * reach + 1, 2 * reach + 1) &
                         image;
    if (box.empty()) continue;
    cv::Mat mask = cv::Mat::zeros(box.size(), CV_8U);
    const cv::Point2f local(static_cast<float>(c.center.x - box.x), static_cast<float>(c.center.y - box.y));
    cv::ellipse(mask, cv::RotatedRect(local, axes * 2.0f, static_cast<float>(c.angle_deg)), cv::Scalar(255),
                cv::FILLED, cv::LINE_AA);
    cv::Mat mf;
    mask.convertTo(mf, CV_32F, 1.0 / 255.0);
    cv::Mat hr = h(box), dr = d(box);
    hr += mf * c.hematoxylin;
    dr += mf * c.dab_nucleus;
    if (c.membrane) {
      const int half = static_cast<int>(std::lround(spacing / 2));
      const cv::Point p0(static_cast<int>(std::lround(c.center.x)) - half,
                         static_cast<int>(std::lround(c.center.y)) - half);
      cv::rectangle(lines, cv::Rect(p0, cv::Size(2 * half + 1, 2 * half + 1)), cv::Scalar(255),
                    static_cast<int>(std::lround(line_px)), cv::LINE_8);
    }
  }
  if (line_od > 0) {
    cv::Mat lf;
    lines.convertTo(lf, CV_32F, line_od / 255.0);
    d = cv::max(d, lf);
  }
  // Optics blur and stain texture.
  cv::GaussianBlur(h, h, cv::Size(), 0.8);
  cv::GaussianBlur(d, d, cv::Size(), 0.8);
  const StainMatrix m = stain_preset("H-DAB");
  cv::Mat rgb(size, CV_8UC3);
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.0f, 2.0f);
  for (int y = 0; y < size.height; ++y) {
    const float* hp = h.ptr<float>(y);
    const float* dp = d.ptr<float>(y);
    cv::Vec3b* out = rgb.ptr<cv::Vec3b>(y);
    for (int x = 0; x < size.width; ++x) {
      for (int k = 0; k < 3; ++k) {
        const double od = hp[x] * m.stains[0].rgb[static_cast<std::size_t>(k)] +
                          dp[x] * m.stains[1].rgb[static_cast<std::size_t>(k)];
        out[x][k] = cv::saturate_cast<uchar>(245.0 * std::pow(10.0, -od) + noise(rng));
      }
    }
  }
  return rgb;
}

// A grid of cells (spacing in px); `membrane_of(i, j)` says which cells are 3+ membranous, `positive_of(i,
// j)` which have a brown (Ki-67) nucleus. Nuclei are jittered by up to `jitter_px`.
template <class MembraneFn, class PositiveFn>
SynthField grid_field(int cols, int rows, double spacing, double radius_px, MembraneFn membrane_of,
                      PositiveFn positive_of, double line_px = 3, double line_od = 1.0,
                      double jitter_px = 1.5, unsigned seed = 7) {
  SynthField f;
  f.spacing_px = spacing;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> jitter(-jitter_px, jitter_px);
  std::uniform_real_distribution<double> shape(1.0, 1.3);
  std::uniform_real_distribution<double> angle(0, 180);
  for (int j = 0; j < rows; ++j) {
    for (int i = 0; i < cols; ++i) {
      SynthCell c;
      c.center = {spacing * (i + 0.5), spacing * (j + 0.5)};
      c.membrane = membrane_of(i, j);
      if (!c.membrane) c.center += cv::Point2d(jitter(rng), jitter(rng));
      c.radius_px = radius_px;
      c.elongation = shape(rng);
      c.angle_deg = angle(rng);
      if (positive_of(i, j)) {
        c.hematoxylin = 0.15;
        c.dab_nucleus = 0.8;
      }
      f.cells.push_back(c);
    }
  }
  f.rgb = render_field(cv::Size(static_cast<int>(cols * spacing), static_cast<int>(rows * spacing)), f.cells,
                       spacing, line_px, line_od, seed);
  return f;
}

// Randomly placed nuclei (some touching) over a large field, for tiling and speed tests.
inline SynthField random_field(cv::Size size, double density_per_mpx, double radius_px, unsigned seed) {
  SynthField f;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> ux(0, size.width), uy(0, size.height), u01(0, 1);
  const int n = static_cast<int>(density_per_mpx * size.area() / 1e6);
  for (int k = 0; k < n; ++k) {
    SynthCell c;
    c.center = {ux(rng), uy(rng)};
    c.radius_px = radius_px * (0.8 + 0.4 * u01(rng));
    c.elongation = 1.0 + 0.4 * u01(rng);
    c.angle_deg = 180 * u01(rng);
    if (u01(rng) < 0.3) {
      c.hematoxylin = 0.15;
      c.dab_nucleus = 0.4 + 0.6 * u01(rng);
    }
    f.cells.push_back(c);
  }
  f.rgb = render_field(size, f.cells, 0, 0, 0, seed);
  return f;
}

}  // namespace ihc::test
