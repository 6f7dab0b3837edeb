#include "imaging/gaussian.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <opencv2/imgproc.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "imaging/simd.hpp"
#include "imaging/stains.hpp"
#include "imaging/synthetic_cells.hpp"
#include "support/test_support.hpp"

namespace ihc {
namespace {

const std::vector<double> kSigmas = {0.5, 0.7, 1.0, 1.5, 2.0, 2.83, 4.0, 6.0};

cv::Mat random_image(cv::Size size, unsigned seed, float lo = 0.0f, float hi = 2.0f) {
  cv::Mat m(size, CV_32F);
  cv::RNG rng(seed);
  rng.fill(m, cv::RNG::UNIFORM, lo, hi);
  return m;
}

// A detection image as the pipeline blurs it: the OD sum of a synthetic field of nuclei.
cv::Mat od_image(cv::Size size) {
  const test::SynthField f = test::random_field(size, 1500, 7.0, 11);
  return optical_density_sum(f.rgb, stain_preset("H-DAB").background);
}

cv::Mat opencv_blur(const cv::Mat& src, double sigma) {
  cv::Mat out;
  // A clone: cv::GaussianBlur reads a ROI's parent pixels beyond its edges unless told BORDER_ISOLATED.
  cv::GaussianBlur(src.clone(), out, cv::Size(), sigma, sigma, cv::BORDER_REPLICATE);
  return out;
}

// Largest |ours - OpenCV's| over the allowed 2e-6 relative (to the blur of |src|, the scale of the rounding
// errors of the sums) + 1e-7 absolute; <= 1 passes.
double worst_error_ratio(const cv::Mat& src, double sigma) {
  cv::Mat ours;
  gaussian_blur(src, ours, sigma);
  const cv::Mat ref = opencv_blur(src, sigma);
  const cv::Mat scale = opencv_blur(cv::abs(src), sigma);
  EXPECT_EQ(ours.size(), src.size());
  EXPECT_EQ(ours.type(), CV_32F);
  double worst = 0.0;
  for (int y = 0; y < src.rows; ++y) {
    for (int x = 0; x < src.cols; ++x) {
      const double diff = std::abs(double(ours.at<float>(y, x)) - ref.at<float>(y, x));
      worst = std::max(worst, diff / (2e-6 * scale.at<float>(y, x) + 1e-7));
    }
  }
  return worst;
}

// The documented order written plainly, indices clamped to the image (BORDER_REPLICATE), separate float
// multiplies and adds. Rows: left to right for 7 taps and more, else symmetric pairs; columns: symmetric
// pairs.
cv::Mat reference_blur(const cv::Mat& src, double sigma) {
  const int ksize = gaussian_kernel_size(sigma), r = ksize / 2;
  const cv::Mat kernel = cv::getGaussianKernel(ksize, sigma, CV_32F);
  const float* c = kernel.ptr<float>() + r;  // c[-r] .. c[r]
  const int w = src.cols, h = src.rows;
  cv::Mat rows(h, w, CV_32F), out(h, w, CV_32F);
  for (int y = 0; y < h; ++y) {
    auto at = [&](int x) { return src.at<float>(y, std::clamp(x, 0, w - 1)); };
    for (int x = 0; x < w; ++x) {
      float s;
      if (ksize >= 7) {
        s = at(x - r) * c[-r];
        for (int k = -r + 1; k <= r; ++k) s = s + at(x + k) * c[k];
      } else {
        s = at(x) * c[0];
        for (int k = 1; k <= r; ++k) s = s + (at(x - k) + at(x + k)) * c[k];
      }
      rows.at<float>(y, x) = w == 1 ? at(x) : s;
    }
  }
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      auto at = [&](int yy) { return rows.at<float>(std::clamp(yy, 0, h - 1), x); };
      float s = at(y) * c[0];
      for (int k = 1; k <= r; ++k) s = s + (at(y - k) + at(y + k)) * c[k];
      out.at<float>(y, x) = h == 1 ? at(y) : s;
    }
  }
  return out;
}

TEST(GaussianBlur, KernelSizeFollowsOpenCvsRuleForFloatImages) {
  EXPECT_EQ(gaussian_kernel_size(0.5), 5);
  EXPECT_EQ(gaussian_kernel_size(1.0), 9);
  EXPECT_EQ(gaussian_kernel_size(2.83), 25);  // main_sigma of nucleus detection at defaults
  EXPECT_EQ(gaussian_kernel_size(6.0), 49);
  EXPECT_EQ(gaussian_kernel_size(0.05), 1);
}

TEST(GaussianBlur, AgreesWithOpenCvOnRandomImagesOfEveryShape) {
  const std::vector<cv::Size> sizes = {{1, 1},   {17, 1},   {1, 17},  {3, 5},   {5, 3},    {8, 8},
                                       {9, 7},   {16, 2},   {2, 16},  {37, 29}, {100, 13}, {13, 100},
                                       {64, 64}, {131, 97}, {250, 7}, {7, 250}, {300, 301}};
  unsigned seed = 1;
  for (const double sigma : kSigmas) {
    for (const cv::Size size : sizes) {
      const cv::Mat src = random_image(size, seed++);
      EXPECT_LE(worst_error_ratio(src, sigma), 1.0) << "sigma " << sigma << " size " << size;
    }
  }
}

TEST(GaussianBlur, AgreesWithOpenCvOnSignedValues) {
  for (const double sigma : kSigmas) {
    const cv::Mat src = random_image({61, 47}, 99, -3.0f, 3.0f);
    EXPECT_LE(worst_error_ratio(src, sigma), 1.0) << "sigma " << sigma;
  }
}

TEST(GaussianBlur, AgreesWithOpenCvOnADetectionImage) {
  const cv::Mat od = od_image({400, 300});
  for (const double sigma : kSigmas) {
    EXPECT_LE(worst_error_ratio(od, sigma), 1.0) << "sigma " << sigma;
  }
}

TEST(GaussianBlur, FollowsTheDocumentedSummationOrderBitForBit) {
  // Same bits on every x86-64 CPU: the SIMD passes give exactly the plain float arithmetic.
  unsigned seed = 500;
  for (const double sigma : {0.5, 1.0, 2.83, 6.0}) {
    for (const cv::Size size : std::vector<cv::Size>{{1, 1}, {1, 9}, {9, 1}, {7, 6}, {23, 41}, {130, 67}}) {
      const cv::Mat src = random_image(size, seed++, -1.0f, 5.0f);
      cv::Mat ours;
      gaussian_blur(src, ours, sigma);
      EXPECT_TRUE(test::same_bits(ours, reference_blur(src, sigma))) << "sigma " << sigma << " size " << size;
    }
  }
}

TEST(GaussianBlur, EqualsOpenCvsBaselineCodeBitForBit) {
  // What cv::GaussianBlur gives on a CPU without AVX2/FMA: detection results do not move on such machines.
  const bool saved = cv::useOptimized();
  cv::setUseOptimized(false);
  unsigned seed = 900;
  for (const double sigma : {0.2, 0.5, 0.7, 1.0, 1.7, 2.83, 6.0}) {
    for (const cv::Size size : std::vector<cv::Size>{{1, 1}, {1, 9}, {9, 1}, {7, 6}, {31, 33}, {130, 67}}) {
      const cv::Mat src = random_image(size, seed++, -1.0f, 5.0f);
      cv::Mat ours;
      gaussian_blur(src, ours, sigma);
      EXPECT_TRUE(test::same_bits(ours, opencv_blur(src, sigma))) << "sigma " << sigma << " size " << size;
    }
  }
  cv::setUseOptimized(saved);
}

TEST(GaussianBlur, AvxAndSse2PassesGiveTheSameBits) {
  // On a CPU with AVX the 8-lane passes run; without, the 4-lane ones: a slide must score the same on both.
  unsigned seed = 1300;
  for (const double sigma : {0.5, 1.0, 2.0, 2.83, 4.0}) {
    for (const cv::Size size :
         std::vector<cv::Size>{{1, 5}, {5, 1}, {13, 11}, {63, 40}, {64, 9}, {65, 66}, {300, 31}}) {
      const cv::Mat src = random_image(size, seed++, -1.0f, 5.0f);
      cv::Mat avx, sse2;
      gaussian_blur(src, avx, sigma);
      const SimdLevel cap = simd_limit();
      limit_simd(SimdLevel::kSse2);
      gaussian_blur(src, sse2, sigma);
      limit_simd(cap);
      EXPECT_TRUE(test::same_bits(avx, sse2)) << "sigma " << sigma << " size " << size;
      EXPECT_TRUE(test::same_bits(sse2, reference_blur(src, sigma))) << "sigma " << sigma << " size " << size;
    }
  }
}

TEST(GaussianBlur, ConstantImageStaysConstantUpToItsEdges) {
  // A zero or reflected-101 border would darken or change the edge pixels; replicate keeps them equal.
  for (const double sigma : kSigmas) {
    const cv::Mat src(37, 53, CV_32F, cv::Scalar(0.73));
    cv::Mat out;
    gaussian_blur(src, out, sigma);
    const float first = out.at<float>(0, 0);
    EXPECT_NEAR(first, 0.73f, 1e-6) << "sigma " << sigma;
    EXPECT_EQ(cv::countNonZero(out != first), 0) << "sigma " << sigma;
  }
}

TEST(GaussianBlur, EdgesAreTheReplicatedBorderExactly) {
  // Blurring the image padded with its replicated border gives, inside, exactly the blurred image.
  const cv::Mat src = od_image({90, 70});
  for (const double sigma : {1.0, 2.83, 6.0}) {
    const int pad = gaussian_kernel_size(sigma) / 2 + 3;
    cv::Mat padded, blurred_padded, blurred;
    cv::copyMakeBorder(src, padded, pad, pad, pad, pad, cv::BORDER_REPLICATE);
    gaussian_blur(padded, blurred_padded, sigma);
    gaussian_blur(src, blurred, sigma);
    EXPECT_TRUE(test::same_bits(blurred, blurred_padded(cv::Rect(pad, pad, src.cols, src.rows))))
        << "sigma " << sigma;
  }
}

TEST(GaussianBlur, RoiInputUsesOnlyItsOwnPixels) {
  const cv::Mat big = random_image({200, 150}, 7);
  const cv::Mat roi = big(cv::Rect(31, 17, 77, 59));
  ASSERT_FALSE(roi.isContinuous());
  for (const double sigma : {1.0, 2.83}) {
    cv::Mat from_roi, from_copy;
    gaussian_blur(roi, from_roi, sigma);
    gaussian_blur(roi.clone(), from_copy, sigma);
    EXPECT_TRUE(test::same_bits(from_roi, from_copy)) << "sigma " << sigma;
    EXPECT_LE(worst_error_ratio(roi, sigma), 1.0) << "sigma " << sigma;
  }
}

TEST(GaussianBlur, WritesIntoARoiOutputAndInPlace) {
  const cv::Mat src = random_image({45, 38}, 8);
  cv::Mat expected;
  gaussian_blur(src, expected, 2.0);

  cv::Mat in_place = src.clone();
  gaussian_blur(in_place, in_place, 2.0);
  EXPECT_TRUE(test::same_bits(in_place, expected));

  // A ROI destination of the right size and type is written where it is, not reallocated.
  cv::Mat canvas(60, 60, CV_32F, cv::Scalar(-1.0));
  cv::Mat view = canvas(cv::Rect(10, 12, 45, 38));
  const uchar* data = view.data;
  gaussian_blur(src, view, 2.0);
  EXPECT_EQ(view.data, data);
  EXPECT_TRUE(test::same_bits(view, expected));
  EXPECT_EQ(canvas.at<float>(0, 0), -1.0f);
  EXPECT_EQ(canvas.at<float>(59, 59), -1.0f);

  // A destination overlapping the source shifted by a few pixels still sees the unblurred source.
  cv::Mat shared(50, 50, CV_32F, cv::Scalar(0));
  src.copyTo(shared(cv::Rect(0, 0, 45, 38)));
  cv::Mat shifted = shared(cv::Rect(3, 2, 45, 38));
  gaussian_blur(shared(cv::Rect(0, 0, 45, 38)), shifted, 2.0);
  EXPECT_TRUE(test::same_bits(shifted, expected));
}

TEST(GaussianBlur, KernelTallerAndWiderThanTheImage) {
  // sigma 40: 321 taps over a 9 x 6 image; every row stays in the ring.
  const cv::Mat src = random_image({9, 6}, 4);
  cv::Mat out;
  gaussian_blur(src, out, 40.0);
  EXPECT_TRUE(test::same_bits(out, reference_blur(src, 40.0)));
  EXPECT_LE(worst_error_ratio(src, 40.0), 1.0);
}

TEST(GaussianBlur, TinySigmaCopies) {
  const cv::Mat src = random_image({9, 4}, 3);
  cv::Mat out;
  gaussian_blur(src, out, 0.05);  // ksize 1, as cv::GaussianBlur: a copy
  EXPECT_TRUE(test::same_bits(out, src));
}

TEST(GaussianBlur, RejectsNonFloatImagesWithAClearMessage) {
  cv::Mat out;
  const auto message_for = [&](const cv::Mat& src, double sigma) {
    try {
      gaussian_blur(src, out, sigma);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  const std::string bad_image = "gaussian_blur: expected a non-empty single-channel float image";
  EXPECT_EQ(message_for(cv::Mat(10, 10, CV_8U, cv::Scalar(3)), 1.0), bad_image);
  EXPECT_EQ(message_for(cv::Mat(10, 10, CV_64F, cv::Scalar(3)), 1.0), bad_image);
  EXPECT_EQ(message_for(cv::Mat(10, 10, CV_32FC3, cv::Scalar(3)), 1.0), bad_image);
  EXPECT_EQ(message_for(cv::Mat(), 1.0), bad_image);
  const cv::Mat ok(4, 4, CV_32F, cv::Scalar(1));
  EXPECT_EQ(message_for(ok, 0.0), "gaussian_blur: sigma_px must be in (0, 1000], got 0.000000");
  EXPECT_EQ(message_for(ok, -2.0), "gaussian_blur: sigma_px must be in (0, 1000], got -2.000000");
  EXPECT_EQ(message_for(ok, std::numeric_limits<double>::quiet_NaN()),
            "gaussian_blur: sigma_px must be in (0, 1000], got nan");
  EXPECT_EQ(message_for(ok, 2e3), "gaussian_blur: sigma_px must be in (0, 1000], got 2000.000000");
}

}  // namespace
}  // namespace ihc
