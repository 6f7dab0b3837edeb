#include "imaging/line_ownership.hpp"

#include "imaging/cell_growth.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <vector>

namespace ihc {
namespace {

// A shared line across t: cytoplasm `c0`, half `l0` over [step - w, step), half `l1` over [step, step + w),
// cytoplasm `c1`, drawn at 1/20 px and blurred there, sampled every `dt` from `t0`.
std::vector<float> blurred_line(double c0, double l0, double l1, double c1, double step, double w,
                                double sigma, double t0, double dt, int n) {
  constexpr int kFine = 20;
  constexpr int kPad = 200;
  const int stride = static_cast<int>(dt * kFine);
  const int fine_n = (n - 1) * stride + 1 + 2 * kPad;
  cv::Mat fine(1, fine_n, CV_32F);
  for (int i = 0; i < fine_n; ++i) {
    const double t = t0 + (i - kPad) / static_cast<double>(kFine);
    const double v = t < step - w ? c0 : t < step ? l0 : t < step + w ? l1 : c1;
    fine.at<float>(0, i) = static_cast<float>(v);
  }
  cv::GaussianBlur(fine, fine, cv::Size(2 * kPad + 1, 1), sigma * kFine, 0, cv::BORDER_REPLICATE);
  std::vector<float> out(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) out[static_cast<std::size_t>(i)] = fine.at<float>(0, kPad + i * stride);
  return out;
}

TEST(LineOwnership, FitFindsTheStepTheHalfWidthAndAllLevels) {
  const LineProfileFitter fitter(1.2, -8.0, 0.5, 33, 4.0, 1.0, 3.0);
  for (const double step : {-3.0, -1.5, -0.25, 0.0, 1.25, 2.5, 4.0}) {
    for (const double w : {1.5, 2.5}) {
      const auto profile = blurred_line(0.2, 0.8, 0.3, 0.075, step, w, 1.2, -8.0, 0.5, 33);
      const LineFit f = fitter.fit(profile.data());
      ASSERT_TRUE(f.valid);
      EXPECT_NEAR(f.step, step, 0.13) << step << " " << w;
      EXPECT_NEAR(f.half_width, w, 0.01) << step << " " << w;
      EXPECT_NEAR(f.before, 0.8, 0.02) << step << " " << w;
      EXPECT_NEAR(f.after, 0.3, 0.02) << step << " " << w;
      EXPECT_NEAR(f.outside_before, 0.2, 0.02) << step << " " << w;
      EXPECT_NEAR(f.outside_after, 0.075, 0.02) << step << " " << w;
      EXPECT_LT(f.rms, 0.005) << step << " " << w;
    }
  }
  // The paler half first works the same.
  const auto rising = blurred_line(0.02, 0.1, 0.7, 0.2, 0.5, 2.0, 1.2, -8.0, 0.5, 33);
  const LineFit r = fitter.fit(rising.data());
  EXPECT_NEAR(r.step, 0.5, 0.13);
  EXPECT_NEAR(r.before, 0.1, 0.02);
  EXPECT_NEAR(r.after, 0.7, 0.02);
}

TEST(LineOwnership, FitStaysOnItsGrid) {
  const LineProfileFitter fitter(1.0, -8.0, 0.5, 33, 1.0, 1.0, 2.0);
  const auto profile = blurred_line(0.1, 0.8, 0.3, 0.1, 3.0, 2.0, 1.0, -8.0, 0.5, 33);
  const LineFit f = fitter.fit(profile.data());
  ASSERT_TRUE(f.valid);
  EXPECT_GE(f.step, -1.0);
  EXPECT_LE(f.step, 1.0);
  EXPECT_GE(f.half_width, 1.0);
  EXPECT_LE(f.half_width, 2.0);
  EXPECT_FALSE(LineProfileFitter(1.0, 0.0, 0.5, 0, 1.0, 1.0, 2.0).fit(profile.data()).valid);
}

// Two cells side by side (left label 1, right label 2, nuclei far from the line) whose shared brown line has
// a left half at `left` OD over columns [step - 3, step) and a right half at `right` over [step, step + 3),
// cytoplasm at a quarter of each, blurred like the landscape. The flood's border is put at column `border`
// (first column of cell 2). Returns the labels after the ownership pass.
struct TwoCells {
  cv::Mat labels, nuclei, dab;
};

TwoCells shared_line(float left, float right, int step, int border, double angle_deg = 0) {
  TwoCells f;
  const int n = 64;
  f.dab = cv::Mat::zeros(n, n, CV_32F);
  f.labels = cv::Mat::zeros(n, n, CV_32S);
  f.nuclei = cv::Mat::zeros(n, n, CV_32S);
  const double c = std::cos(angle_deg * CV_PI / 180), s = std::sin(angle_deg * CV_PI / 180);
  for (int y = 0; y < n; ++y) {
    for (int x = 0; x < n; ++x) {
      // Signed distance (in columns) of the pixel's centre along the line's normal, rotated about the centre.
      const double u = (x - n / 2) * c + (y - n / 2) * s + n / 2;
      float v = u < step - 3 ? 0.25f * left : u < step ? left : u < step + 3 ? right : 0.25f * right;
      f.dab.at<float>(y, x) = v;
      f.labels.at<int>(y, x) = u < border - 0.5 ? 1 : 2;
    }
  }
  cv::GaussianBlur(f.dab, f.dab, cv::Size(), 1.2);
  cv::circle(f.nuclei, cv::Point(12, 32), 5, cv::Scalar(1), cv::FILLED);
  cv::circle(f.nuclei, cv::Point(52, 32), 5, cv::Scalar(2), cv::FILLED);
  return f;
}

// Column of the first pixel of cell 2 on row y.
int first_right(const cv::Mat& labels, int y) {
  for (int x = 0; x < labels.cols; ++x) {
    if (labels.at<int>(y, x) == 2) return x;
  }
  return -1;
}

// Membrane bands 2 px wide on each side of every border between two cells.
cv::Mat bands(const cv::Mat& labels) {
  cv::Mat edge = cv::Mat::zeros(labels.size(), CV_8U);
  for (int y = 0; y < labels.rows; ++y) {
    for (int x = 0; x < labels.cols; ++x) {
      const int c = labels.at<int>(y, x);
      const bool differs = (x + 1 < labels.cols && labels.at<int>(y, x + 1) != c) ||
                           (x > 0 && labels.at<int>(y, x - 1) != c) ||
                           (y + 1 < labels.rows && labels.at<int>(y + 1, x) != c) ||
                           (y > 0 && labels.at<int>(y - 1, x) != c);
      if (c > 0 && differs) edge.at<uchar>(y, x) = 255;
    }
  }
  cv::Mat band;
  cv::dilate(edge, band, cv::getStructuringElement(cv::MORPH_CROSS, cv::Size(3, 3)));
  band.setTo(0, labels <= 0);
  return band;
}

void own_lines(TwoCells& f, const LineOwnershipParams& p) {
  give_lines_to_brown_cells(f.labels, f.nuclei, f.dab, bands(f.labels), p);
}

LineOwnershipParams params() {
  LineOwnershipParams p;
  p.blur_sigma_px = 1.2;
  p.max_shift_px = 4;
  p.um_per_px = 0.5;
  return p;
}

TEST(LineOwnership, PalerCellHoldingTheCrestGivesItBack) {
  // 3+ half on the left (columns 29..31), 1+ or 2+ on the right (32..34); the flood left the border at column
  // 30, so the paler cell's band read the 3+ line and the bands look alike: the fitted step decides.
  for (const float pale : {0.3f, 0.5f}) {
    TwoCells f = shared_line(0.8f, pale, 32, 30);
    own_lines(f, params());
    for (int y = 8; y < 56; ++y) ASSERT_EQ(first_right(f.labels, y), 32) << "pale " << pale << " row " << y;
  }
}

TEST(LineOwnership, PalerCellOnTheLeftWorksTheSame) {
  TwoCells f = shared_line(0.3f, 0.8f, 32, 34);
  own_lines(f, params());
  for (int y = 8; y < 56; ++y) ASSERT_EQ(first_right(f.labels, y), 32) << "row " << y;
}

TEST(LineOwnership, NegativeNeighbourGivesTheLineToTheBrownCell) {
  // The negative cell holds one column of the 3+ half: its band is clearly paler, the band rule moves it.
  TwoCells f = shared_line(0.8f, 0.02f, 32, 31);
  own_lines(f, params());
  for (int y = 8; y < 56; ++y) ASSERT_EQ(first_right(f.labels, y), 32) << "row " << y;
}

TEST(LineOwnership, LineStainedOnOneSideWithoutOtherEvidenceKeepsTheCrest) {
  // Two columns of a 3+ half on the negative side, cytoplasm at 0.2 on both sides: the bump fits as the 3+
  // cell's 3 px half or as two 1.5 px halves about as well, and nothing else tells them apart, so neither
  // reading moves the border (on the slides the cells' other borders tell them apart through their bands).
  TwoCells f = shared_line(0.8f, 0.02f, 32, 30);
  f.dab.setTo(0.2f, f.dab < 0.2f);
  const cv::Mat before = f.labels.clone();
  own_lines(f, params());
  EXPECT_EQ(cv::countNonZero(f.labels != before), 0);
}

TEST(LineOwnership, LineStainedOnOneSideGoesToTheSideWithBrownerCytoplasm) {
  // The same with cytoplasm at 0.2 on the 3+ side and 0.1 on the negative side (the bump still fits either
  // way): the clearly browner cytoplasm says whose half it is, and the 3+ cell gets its two columns back
  // (until this revision they stayed with the negative cell, whose band read the 3+ line).
  TwoCells f = shared_line(0.8f, 0.02f, 32, 30);
  f.dab.setTo(0.1f, f.dab < 0.1f);
  own_lines(f, params());
  for (int y = 8; y < 56; ++y) ASSERT_EQ(first_right(f.labels, y), 32) << "row " << y;
}

TEST(LineOwnership, OneSidedLineGoesOnlyToTheSideWhoseCytoplasmAgrees) {
  // A 2+ half on the right (columns 32..34, cytoplasm 0.125) next to a negative cell (half 0.02, cytoplasm
  // 0.005) that holds the crest. A line stained on one side fits as either cell's half; the reading that
  // gives it to the negative cell puts the darker half on the side of the paler cytoplasm, so it must not
  // move the border there.
  for (const int border : {33, 34, 35, 36}) {
    TwoCells f = shared_line(0.02f, 0.5f, 32, border);
    own_lines(f, params());
    for (int y = 8; y < 56; ++y) {
      ASSERT_LE(first_right(f.labels, y), std::max(32, border)) << "border " << border << " row " << y;
    }
  }
}

TEST(LineOwnership, EqualNeighboursKeepTheirBorder) {
  for (const int border : {30, 32, 33}) {
    TwoCells f = shared_line(0.6f, 0.6f, 32, border);
    const cv::Mat before = f.labels.clone();
    own_lines(f, params());
    EXPECT_EQ(cv::countNonZero(f.labels != before), 0) << "border " << border;
  }
}

TEST(LineOwnership, SlantedBorderMovesAlongItsNormal) {
  // A 3+ / 2+ line at 30 degrees whose 3+ cell took a pixel of the 2+ half: the pixels between the border and
  // the step change hands, measured along the line's normal.
  TwoCells f = shared_line(0.8f, 0.5f, 32, 33, 30.0);
  own_lines(f, params());
  const double c = std::cos(CV_PI / 6), s = std::sin(CV_PI / 6);
  int wrong = 0, total = 0;
  for (int y = 8; y < 56; ++y) {
    for (int x = 8; x < 56; ++x) {
      const double u = (x - 32) * c + (y - 32) * s + 32;
      if (std::abs(u - 31.5) > 3) continue;
      ++total;
      // Pixel centres within 0.5 px of the step may go either way.
      if (std::abs(u - 31.5) < 0.5) continue;
      if (f.labels.at<int>(y, x) != (u < 31.5 ? 1 : 2)) ++wrong;
    }
  }
  EXPECT_GT(total, 100);
  EXPECT_EQ(wrong, 0);
}

TEST(LineOwnership, NucleusPixelsNeverMove) {
  TwoCells f = shared_line(0.8f, 0.3f, 32, 30);
  // A nucleus of cell 1 straddling the line: its pixels stay with cell 1 whatever the step says.
  f.nuclei(cv::Rect(28, 20, 4, 4)).setTo(1);
  f.labels(cv::Rect(28, 20, 4, 4)).setTo(1);
  // Cell 2 pixels under another cell's nucleus mask do not move either.
  f.nuclei(cv::Rect(30, 40, 2, 2)).setTo(2);
  f.labels(cv::Rect(30, 40, 2, 2)).setTo(2);
  own_lines(f, params());
  for (int y = 20; y < 24; ++y) {
    for (int x = 28; x < 32; ++x) EXPECT_EQ(f.labels.at<int>(y, x), 1);
  }
  EXPECT_EQ(f.labels.at<int>(40, 30), 2);
  EXPECT_EQ(f.labels.at<int>(41, 31), 2);
  EXPECT_EQ(first_right(f.labels, 10), 32);
}

TEST(LineOwnership, PaleBordersAreLeftAlone) {
  TwoCells f = shared_line(0.1f, 0.04f, 32, 30);
  const cv::Mat before = f.labels.clone();
  own_lines(f, params());
  EXPECT_EQ(cv::countNonZero(f.labels != before), 0);
}

// The band rule by its definition, pixel by pixel: strengths are the mean DAB of each cell's band pixels
// outside nuclei; then, up to ceil(max_shift) times, every pixel of a cell outside nuclei with DAB >= 0.075
// moves to the strongest 8-neighbour cell that is >= 0.15, >= 1.35 x its own + 0.05 and whose mean with its
// own is at most the pixel's DAB, all pixels decided on the labels before the step.
void plain_band_rule(cv::Mat& labels, const cv::Mat& nuclei, const cv::Mat& dab, const cv::Mat& band,
                     int iterations) {
  std::vector<double> sum(1, 0.0), count(1, 0.0);
  for (int y = 0; y < labels.rows; ++y) {
    for (int x = 0; x < labels.cols; ++x) {
      const int c = labels.at<int>(y, x);
      if (c <= 0 || !band.at<uchar>(y, x) || nuclei.at<int>(y, x) != 0) continue;
      if (static_cast<std::size_t>(c) >= sum.size()) {
        sum.resize(static_cast<std::size_t>(c) + 1, 0.0);
        count.resize(static_cast<std::size_t>(c) + 1, 0.0);
      }
      sum[static_cast<std::size_t>(c)] += dab.at<float>(y, x);
      count[static_cast<std::size_t>(c)] += 1;
    }
  }
  auto strength = [&](int c) {
    const auto k = static_cast<std::size_t>(c);
    return k < sum.size() && count[k] > 0 ? static_cast<float>(sum[k] / count[k]) : 0.0f;
  };
  for (int it = 0; it < iterations; ++it) {
    const cv::Mat before = labels.clone();
    for (int y = 0; y < labels.rows; ++y) {
      for (int x = 0; x < labels.cols; ++x) {
        const int b = before.at<int>(y, x);
        const float od = dab.at<float>(y, x);
        if (b <= 0 || nuclei.at<int>(y, x) != 0 || od < 0.075f) continue;
        int best = 0;
        float best_strength = 0;
        for (int yy = std::max(0, y - 1); yy <= std::min(labels.rows - 1, y + 1); ++yy) {
          for (int xx = std::max(0, x - 1); xx <= std::min(labels.cols - 1, x + 1); ++xx) {
            const int a = before.at<int>(yy, xx);
            if (a <= 0 || a == b) continue;
            const float sa = strength(a), sb = strength(b);
            if (sa < 0.15f || sa < 1.35f * sb + 0.05f || od < 0.5f * (sa + sb)) continue;
            if (sa > best_strength) {
              best_strength = sa;
              best = a;
            }
          }
        }
        if (best > 0) labels.at<int>(y, x) = best;
      }
    }
  }
}

// One random nucleus and a DAB image of cells at three stain levels (by label), so that strengths differ
// clearly between neighbours.
void random_nucleus_and_dab(cv::RNG& rng, const cv::Mat& labels, cv::Mat& nuclei, cv::Mat& dab) {
  const cv::Size size = labels.size();
  nuclei = cv::Mat::zeros(size, CV_32S);
  cv::circle(nuclei, cv::Point(rng.uniform(0, size.width), rng.uniform(0, size.height)), 2, cv::Scalar(1),
             cv::FILLED);
  dab.create(size, CV_32F);
  rng.fill(dab, cv::RNG::UNIFORM, -0.05, 0.9);
  for (int y = 0; y < size.height; ++y) {
    for (int x = 0; x < size.width; ++x) {
      dab.at<float>(y, x) *= static_cast<float>((std::abs(labels.at<int>(y, x)) % 3 + 1) / 3.0);
    }
  }
}

TEST(LineOwnership, BandRuleIsItsPixelByPixelDefinitionOnRandomImages) {
  cv::RNG rng(23);
  int moved = 0;
  for (int image = 0; image < 300; ++image) {
    // From 1 px wide to wider than the 16-pixel steps, and with labels up to the image edge.
    const cv::Size size(1 + rng.uniform(0, 80), 1 + rng.uniform(0, 40));
    cv::Mat coarse(size.height / 4 + 1, size.width / 4 + 1, CV_32S);
    rng.fill(coarse, cv::RNG::UNIFORM, -1, 6);  // -1: never entered by the flood
    cv::Mat labels;
    cv::resize(coarse, labels, size, 0, 0, cv::INTER_NEAREST);
    cv::Mat nuclei, dab;
    random_nucleus_and_dab(rng, labels, nuclei, dab);
    cv::Mat band(size, CV_8U);
    rng.fill(band, cv::RNG::UNIFORM, 0, 2);
    band *= 255;
    const int iterations = 1 + image % 4;
    cv::Mat expected = labels.clone();
    plain_band_rule(expected, nuclei, dab, band, iterations);
    moved += cv::countNonZero(expected != labels);
    LineOwnershipParams p;
    p.fit_borders = false;
    p.max_shift_px = iterations - 0.5;  // rounded up to whole steps
    give_lines_to_brown_cells(labels, nuclei, dab, band, p);
    EXPECT_EQ(cv::countNonZero(labels != expected), 0) << "image " << image << " " << size;
  }
  EXPECT_GT(moved, 2000);
}

// A band that holds the borders (grown as grow_cells grows it, wide enough) lets the band rule skip the
// pixels outside it: the same moves as the rule's definition, with both rules and with the flag off.
TEST(LineOwnership, BandHoldingTheBordersGivesTheSameMoves) {
  cv::RNG rng(29);
  int moved = 0, outside_band = 0;
  for (int image = 0; image < 300; ++image) {
    const cv::Size size(1 + rng.uniform(0, 120), 1 + rng.uniform(0, 60));
    // Cells of 4 to 20 px, so that 16-pixel blocks lie wholly inside some of them.
    const int cell_px = 4 + 4 * (image % 5);
    cv::Mat coarse(size.height / cell_px + 1, size.width / cell_px + 1, CV_32S);
    rng.fill(coarse, cv::RNG::UNIFORM, -1, 6);
    cv::Mat labels;
    cv::resize(coarse, labels, cv::Size(coarse.cols * cell_px, coarse.rows * cell_px), 0, 0,
               cv::INTER_NEAREST);
    labels = labels(cv::Rect(0, 0, size.width, size.height)).clone();
    cv::Mat nuclei, dab;
    random_nucleus_and_dab(rng, labels, nuclei, dab);
    const double width = image % 2 ? 2.0 : 1.46;
    const cv::Mat band = membrane_band(labels, width);
    outside_band += cv::countNonZero((band == 0) & (labels > 0));
    const int iterations = 1 + image % 4;
    cv::Mat expected = labels.clone();
    plain_band_rule(expected, nuclei, dab, band, iterations);
    moved += cv::countNonZero(expected != labels);
    LineOwnershipParams p;
    p.max_shift_px = iterations - 0.5;
    for (const bool fit : {false, true}) {
      p.fit_borders = fit;
      cv::Mat plain = labels.clone(), holding = labels.clone();
      std::vector<int> changed_plain, changed_holding;
      p.band_holds_borders = false;
      give_lines_to_brown_cells(plain, nuclei, dab, band, p, changed_plain);
      p.band_holds_borders = true;
      give_lines_to_brown_cells(holding, nuclei, dab, band, p, changed_holding);
      EXPECT_EQ(cv::countNonZero(holding != plain), 0) << "image " << image << " " << size << " fit " << fit;
      EXPECT_EQ(changed_holding, changed_plain) << "image " << image;
      if (!fit) {
        EXPECT_EQ(cv::countNonZero(holding != expected), 0) << "image " << image << " " << size;
      }
    }
  }
  EXPECT_GT(moved, 2000);
  EXPECT_GT(outside_band, 50000);
}

}  // namespace
}  // namespace ihc
