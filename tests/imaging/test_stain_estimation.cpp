#include "imaging/stain_estimation.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>

#include "imaging/synth.hpp"
#include "support/test_support.hpp"

namespace ihc {
namespace {

using Vec3 = std::array<double, 3>;

Vec3 unit(Vec3 v) {
  const double n = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
  return {v[0] / n, v[1] / n, v[2] / n};
}

// Beer-Lambert: background * 10^-(a * s1 + b * s2), rounded to 8 bits.
cv::Vec3b compose(const Vec3& background, const Vec3& s1, double a, const Vec3& s2, double b) {
  cv::Vec3b px;
  for (int ch = 0; ch < 3; ++ch) {
    px[ch] = cv::saturate_cast<uint8_t>(background[ch] * std::pow(10.0, -(a * s1[ch] + b * s2[ch])));
  }
  return px;
}

// A slide-like image: the left 30 % is glass (background with triangular +-2 noise, peak at the
// background), the rest random mixtures of the two stains.
cv::Mat synthetic_slide(const Vec3& background, const Vec3& h, const Vec3& dab, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::uniform_int_distribution<int> unit_noise(-1, 1);
  cv::Mat img(400, 500, CV_8UC3);
  for (int y = 0; y < img.rows; ++y) {
    for (int x = 0; x < img.cols; ++x) {
      if (x < img.cols * 3 / 10) {
        cv::Vec3b px;
        for (int ch = 0; ch < 3; ++ch)
          px[ch] = cv::saturate_cast<uint8_t>(background[ch] + unit_noise(rng) + unit_noise(rng));
        img.at<cv::Vec3b>(y, x) = px;
      } else {
        img.at<cv::Vec3b>(y, x) = compose(background, h, 0.8 * u(rng), dab, 0.8 * u(rng));
      }
    }
  }
  return img;
}

std::string error_of(const cv::Mat& img, const StainMatrix& ref, const cv::Mat& mask = cv::Mat()) {
  try {
    estimate_stains(img, ref, {}, mask);
  } catch (const StainError& e) {
    return e.what();
  }
  return "no error";
}

// Two exact colours, half each: the Macenko extremes are exactly these two OD directions.
cv::Mat two_colours(const Vec3& a, const Vec3& b) {
  cv::Mat img(100, 100, CV_8UC3);
  const cv::Vec3b pa = compose({255, 255, 255}, unit(a), 0.9, a, 0.0);
  const cv::Vec3b pb = compose({255, 255, 255}, unit(b), 0.9, b, 0.0);
  for (int y = 0; y < img.rows; ++y) {
    for (int x = 0; x < img.cols; ++x) img.at<cv::Vec3b>(y, x) = (x + y) % 2 ? pa : pb;
  }
  return img;
}

TEST(EstimateBackground, IsThePerChannelModeOfBrightPixels) {
  const Vec3 background{243, 238, 247};
  const cv::Mat img = synthetic_slide(background, unit({0.65, 0.70, 0.29}), unit({0.27, 0.57, 0.78}), 3);
  const BackgroundEstimate b = estimate_background(img);
  EXPECT_TRUE(b.found);
  EXPECT_EQ(b.background, background);
  EXPECT_GT(b.bright_pixels, img.total() / 4);
}

TEST(EstimateBackground, NoBrightPixelsKeepsDefault) {
  const cv::Mat dark(50, 50, CV_8UC3, cv::Scalar(120, 90, 60));
  const BackgroundEstimate b = estimate_background(dark);
  EXPECT_FALSE(b.found);
  EXPECT_EQ(b.background, (Vec3{255, 255, 255}));
  EXPECT_EQ(b.bright_pixels, 0);
}

// Pale textured tissue filling the field: bright, but not flat, so it is not taken for glass. A flat glass
// gap of 2 % of the field is found and gives the glass colour.
TEST(EstimateBackground, PaleTissueWithoutGlassIsNotBackground) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> texture(-12, 12);
  cv::Mat field(200, 200, CV_8UC3);
  for (int y = 0; y < field.rows; ++y) {
    for (int x = 0; x < field.cols; ++x) {
      const int t = texture(rng);
      field.at<cv::Vec3b>(y, x) =
          cv::Vec3b(cv::saturate_cast<uint8_t>(222 + t), cv::saturate_cast<uint8_t>(216 + t),
                    cv::saturate_cast<uint8_t>(220 + t));
    }
  }
  const BackgroundEstimate none = estimate_background(field);
  EXPECT_FALSE(none.found);
  EXPECT_EQ(none.background, (Vec3{255, 255, 255}));
  EXPECT_EQ(none.background, (Vec3{255, 255, 255}));
  field(cv::Rect(20, 20, 28, 28)).setTo(cv::Scalar(245, 244, 240));
  const BackgroundEstimate glass = estimate_background(field);
  EXPECT_TRUE(glass.found);
  EXPECT_EQ(glass.background, (Vec3{245, 244, 240}));
  // Without the flatness test the tissue wins: the behaviour this guards against.
  BackgroundParams any_bright;
  any_bright.max_local_std = 0;
  EXPECT_NE(estimate_background(field, any_bright).background, (Vec3{245, 244, 240}));
}

// SHIDC's camera puts glass at about 220 217 186 (grey 207): bright, but its blue is under 200. The glass is
// found with its own blue, not the floor of a threshold; a flat brown-grey area darker than bright_min is
// not.
TEST(EstimateBackground, YellowCastGlassKeepsItsBlue) {
  cv::Mat field(100, 100, CV_8UC3, cv::Scalar(150, 150, 190));  // tissue (blue-grey, grey 163)
  field(cv::Rect(0, 0, 100, 30)).setTo(cv::Scalar(220, 217, 186));
  for (int x = 0; x < 100; x += 2) field.at<cv::Vec3b>(15, x) = cv::Vec3b(220, 217, 205);  // glass's noise
  const BackgroundEstimate b = estimate_background(field);
  ASSERT_TRUE(b.found);
  EXPECT_EQ(b.background, (Vec3{220, 217, 186}));
  EXPECT_EQ(b.bright_pixels, 2800);  // the two rows whose 5 x 5 reaches the tissue are not flat
  const cv::Mat dim(50, 50, CV_8UC3, cv::Scalar(205, 200, 170));  // grey 191: no glass
  EXPECT_FALSE(estimate_background(dim).found);
  const cv::Mat blue_poor(50, 50, CV_8UC3, cv::Scalar(240, 230, 150));  // blue under channel_min: no glass
  EXPECT_FALSE(estimate_background(blue_poor).found);
}

// Flat means a grey-level standard deviation of at most 4 over 5 x 5. Columns alternating by d have
// sqrt(0.24) d in windows with two columns of one value: 3.92 for d = 8 (flat), 4.41 for d = 9 (not).
TEST(EstimateBackground, FlatMeansAStandardDeviationOfAtMostFourOverFiveByFive) {
  cv::Mat field(60, 130, CV_8UC3);
  for (int y = 0; y < field.rows; ++y) {
    for (int x = 0; x < field.cols; ++x) {
      const int v = x < 61 ? 200 + 8 * (x % 2) : 235 + 9 * (x % 2);  // the brighter half varies by 9
      field.at<cv::Vec3b>(y, x) = cv::Vec3b(v, v, v);
    }
  }
  const BackgroundEstimate b = estimate_background(field);
  ASSERT_TRUE(b.found);
  EXPECT_EQ(b.background, (Vec3{200, 200, 200}));  // 31 columns of 200, 30 of 208
  BackgroundParams looser;
  looser.max_local_std = 4.5;
  EXPECT_EQ(estimate_background(field, looser).background, (Vec3{244, 244, 244}));  // 35 of 244, 34 of 235
}

TEST(EstimateStains, RecoversKnownVectorsWithin3Degrees) {
  // True vectors deliberately 6-10 degrees away from QuPath's defaults, so recovering them is not luck.
  const Vec3 h = unit({0.55, 0.74, 0.38});
  const Vec3 dab = unit({0.33, 0.62, 0.71});
  const Vec3 background{243, 238, 247};
  const StainMatrix ref = stain_preset("H-DAB");
  ASSERT_GT(stain_angle_deg(h, ref.stains[0].rgb), 6.0);
  ASSERT_GT(stain_angle_deg(dab, ref.stains[1].rgb), 6.0);
  const cv::Mat img = synthetic_slide(background, h, dab, 11);
  const StainEstimate e = estimate_stains(img, ref);
  const double err_h = stain_angle_deg(e.matrix.stains[0].rgb, h);
  const double err_dab = stain_angle_deg(e.matrix.stains[1].rgb, dab);
  std::cout << "estimation error: H " << err_h << " deg, DAB " << err_dab << " deg, pixels " << e.pixels_used
            << "\n";
  EXPECT_LT(err_h, 3.0);
  EXPECT_LT(err_dab, 3.0);
  EXPECT_EQ(e.matrix.stains[0].name, "Hematoxylin");
  EXPECT_EQ(e.matrix.stains[1].name, "DAB");
  EXPECT_EQ(e.matrix.stains[2].name, "Residual");
  EXPECT_EQ(e.matrix.name, "H-DAB default");
  EXPECT_EQ(e.matrix.background, background);
  EXPECT_NEAR(e.deviation_deg[0], stain_angle_deg(e.matrix.stains[0].rgb, ref.stains[0].rgb), 1e-9);
}

TEST(EstimateStains, SamplesLargeImagesOnAGrid) {
  const Vec3 h = unit({0.55, 0.74, 0.38});
  const Vec3 dab = unit({0.33, 0.62, 0.71});
  const cv::Mat img = synthetic_slide({255, 255, 255}, h, dab, 13);
  StainEstimationParams params;
  params.max_pixels = 20'000;  // 200k pixels: every 4th row and column
  const StainEstimate e = estimate_stains(img, stain_preset("H-DAB"), params);
  EXPECT_LE(e.pixels_used, 100 * 125);
  EXPECT_GT(e.pixels_used, 5'000);
  EXPECT_LT(stain_angle_deg(e.matrix.stains[0].rgb, h), 3.0);
  EXPECT_LT(stain_angle_deg(e.matrix.stains[1].rgb, dab), 3.0);
}

TEST(EstimateStains, AssignsExtremesByClosenessNotOrder) {
  // Same image, reference with the two stains listed the other way round: names must follow the vectors.
  const Vec3 h = unit({0.55, 0.74, 0.38});
  const Vec3 dab = unit({0.33, 0.62, 0.71});
  const StainMatrix def = stain_preset("H-DAB");
  const StainMatrix ref = StainMatrix::from_vectors("DAB first", def.stains[1], def.stains[0]);
  const StainEstimate e = estimate_stains(synthetic_slide({255, 255, 255}, h, dab, 5), ref);
  EXPECT_EQ(e.matrix.stains[0].name, "DAB");
  EXPECT_LT(stain_angle_deg(e.matrix.stains[0].rgb, dab), 3.0);
  EXPECT_LT(stain_angle_deg(e.matrix.stains[1].rgb, h), 3.0);
}

TEST(EstimateStains, UsesOnlyMaskedTissue) {
  const Vec3 h = unit({0.55, 0.74, 0.38});
  const Vec3 dab = unit({0.33, 0.62, 0.71});
  cv::Mat img = synthetic_slide({255, 255, 255}, h, dab, 9);
  // Right half overwritten by a green-absorbing artefact (pen ink); the mask excludes it.
  img(cv::Rect(250, 0, 250, 400)).setTo(cv::Scalar(200, 60, 190));
  cv::Mat mask(img.size(), CV_8U, cv::Scalar(0));
  mask(cv::Rect(0, 0, 250, 400)).setTo(255);
  const StainEstimate e = estimate_stains(img, stain_preset("H-DAB"), {}, mask);
  EXPECT_LT(stain_angle_deg(e.matrix.stains[0].rgb, h), 3.0);
  EXPECT_LT(stain_angle_deg(e.matrix.stains[1].rgb, dab), 3.0);
}

TEST(EstimateStains, ExactErrorsSayWhy) {
  const StainMatrix ref = stain_preset("H-DAB");
  EXPECT_EQ(
      error_of(cv::Mat(64, 64, CV_8UC3, cv::Scalar(250, 250, 250)), ref),
      "stain estimation: only 0 pixels have an optical density between 0.05 and 1 and are not grey (need at "
      "least 1000)");
  // One colour only: both extremes are the same direction.
  EXPECT_EQ(
      error_of(cv::Mat(64, 64, CV_8UC3, cv::Scalar(120, 110, 180)), ref),
      "stain estimation: the estimated Hematoxylin and DAB vectors are only 0.0 degrees apart (minimum 5): "
      "the region shows a single stain");
  // Hematoxylin and a violet stain 15 degrees from it: both extremes sit near hematoxylin.
  EXPECT_EQ(
      error_of(two_colours({0.65, 0.70, 0.29}, {0.75, 0.62, 0.22}), ref),
      "stain estimation: the estimated DAB vector (0.749 0.624 0.222) is closer to the default Hematoxylin "
      "vector than to the default DAB vector (stains swapped or one missing)");
  // Hematoxylin and a blue-absorbing dye 33 degrees from DAB (67 from hematoxylin).
  EXPECT_EQ(
      error_of(two_colours({0.65, 0.70, 0.29}, {0.06, 0.08, 1.0}), ref),
      "stain estimation: the estimated DAB vector (0.060 0.080 0.995) is 33.4 degrees from the default DAB "
      "vector (maximum 30)");
  EXPECT_EQ(error_of(cv::Mat(64, 64, CV_8UC3, cv::Scalar(120, 110, 180)), ref, cv::Mat(10, 10, CV_8U)),
            "estimate_stains: the tissue mask must be CV_8U and 64 x 64 like the image");
  EXPECT_EQ(error_of(cv::Mat(64, 64, CV_8UC4), ref),
            "estimate_stains: expected an 8-bit RGB image (CV_8UC3), got type CV_8UC4");
}

TEST(EstimateStains, RealIhcImageStaysNearDefaults) {
  IHC_REQUIRE_SHARED(path, "scikit-image/ihc.png");
  cv::Mat rgb = cv::imread(path.string(), cv::IMREAD_COLOR);
  cv::cvtColor(rgb, rgb, cv::COLOR_BGR2RGB);
  const StainMatrix ref = stain_preset("H-DAB");
  const StainEstimate e = estimate_stains(rgb, ref);
  std::cout << "ihc.png: " << to_qupath_string(e.matrix) << " deviation " << e.deviation_deg[0] << " "
            << e.deviation_deg[1] << " pixels " << e.pixels_used << "\n";
  EXPECT_LT(e.deviation_deg[0], 15.0);
  EXPECT_LT(e.deviation_deg[1], 15.0);
  // The estimate must separate the image at least as cleanly: DAB stays high on the brown gland and low on a
  // blue stromal nucleus (boxes as in test_stains).
  const DeconvolutionResult d = deconvolve(rgb, e.matrix);
  const double gland = cv::mean(d.stain2(cv::Rect(32, 96, 32, 32)))[0];
  const double nucleus = cv::mean(d.stain2(cv::Rect(238, 266, 8, 8)))[0];
  EXPECT_GT(gland, 5 * std::max(nucleus, 0.01));
}

// Synthetic fields rendered with QuPath's H-DAB default: the truth is the reference itself, so deviation_deg
// is the angle error. Every tumour and stromal pixel carries hematoxylin, so the Macenko DAB extreme is a
// mixture.
cv::Mat synthetic_field(SynthKind kind, uint64_t seed) {
  SynthParams p;
  p.kind = kind;
  p.seed = seed;
  p.width = 512;
  p.height = 512;
  return synthesize_image(p).rgb;
}

// Pins the measured accuracy of the QuPath-style estimate (docs/stains.md): H exact to 0.3 degrees, DAB
// 4.5 degrees off and always toward hematoxylin (membrane DAB then reads about 0.06 OD high).
TEST(EstimateStains, MacenkoDabLeansTowardHematoxylinOnSyntheticMembraneField) {
  const StainMatrix truth = stain_preset("H-DAB");
  const StainEstimate e = estimate_stains(synthetic_field(SynthKind::Membrane, 1), truth);
  std::cout << "membrane field: H " << e.deviation_deg[0] << " deg, DAB " << e.deviation_deg[1] << " deg\n";
  EXPECT_LT(e.deviation_deg[0], 0.5);  // measured 0.23
  EXPECT_GT(e.deviation_deg[1], 3.5);  // measured 4.48: the known bias (if it shrinks, update docs/stains.md)
  EXPECT_LT(e.deviation_deg[1], 6.0);
  const double true_gap = stain_angle_deg(truth.stains[0].rgb, truth.stains[1].rgb);
  EXPECT_NEAR(true_gap - stain_angle_deg(e.matrix.stains[1].rgb, truth.stains[0].rgb), e.deviation_deg[1],
              0.1);                // the whole error is a turn toward hematoxylin, within the stain plane
  EXPECT_FALSE(e.edge_fitted[1]);  // off by default
}

TEST(EstimateStains, EdgeFitRecoversDabOnEverySyntheticKind) {
  const StainMatrix truth = stain_preset("H-DAB");
  StainEstimationParams edge;
  edge.edge_fit = true;
  // Measured Macenko -> edge fit DAB error (degrees): membrane 4.48 -> 1.53, cytoplasm 2.38 -> 1.92,
  // nuclear 10.03 -> 4.15, mixed 3.00 -> 0.12.
  for (SynthKind kind : {SynthKind::Membrane, SynthKind::Cytoplasm, SynthKind::Nuclear, SynthKind::Mixed}) {
    SCOPED_TRACE(std::string(synth_kind_name(kind)));
    const cv::Mat rgb = synthetic_field(kind, 1);
    const StainEstimate macenko = estimate_stains(rgb, truth);
    const StainEstimate fitted = estimate_stains(rgb, truth, edge);
    std::cout << synth_kind_name(kind) << ": DAB Macenko " << macenko.deviation_deg[1] << " deg, edge fit "
              << fitted.deviation_deg[1] << " deg\n";
    EXPECT_TRUE(fitted.edge_fitted[1]);
    EXPECT_FALSE(fitted.edge_fitted[0]);
    EXPECT_LT(fitted.deviation_deg[1], 4.5);
    EXPECT_LT(fitted.deviation_deg[1], macenko.deviation_deg[1]);
    EXPECT_EQ(fitted.matrix.stains[0].rgb, macenko.matrix.stains[0].rgb);  // hematoxylin is left alone
  }
}

TEST(EstimateStains, EdgeFitKeepsMacenkoWithoutEnoughBins) {
  const StainMatrix truth = stain_preset("H-DAB");
  const cv::Mat rgb = synthetic_field(SynthKind::Membrane, 2);
  StainEstimationParams edge;
  edge.edge_fit = true;
  edge.edge_min_bin_pixels = 1'000'000;  // no bin is full enough
  const StainEstimate fitted = estimate_stains(rgb, truth, edge);
  const StainEstimate macenko = estimate_stains(rgb, truth);
  EXPECT_FALSE(fitted.edge_fitted[1]);
  EXPECT_EQ(fitted.matrix.stains[1].rgb, macenko.matrix.stains[1].rgb);
}

}  // namespace
}  // namespace ihc
