#include "imaging/nucleus_detection.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include <opencv2/imgproc.hpp>

#include "imaging/synthetic_cells.hpp"

namespace ihc {
namespace {

TEST(NucleusDetection, FindsBlobsSplitsTouchingPairAndIgnoresFaintOnes) {
  cv::Mat img(200, 200, CV_32F, cv::Scalar(0.05f));
  cv::circle(img, cv::Point(50, 50), 8, cv::Scalar(0.6), cv::FILLED);
  cv::circle(img, cv::Point(120, 50), 8, cv::Scalar(0.6), cv::FILLED);  // touching pair
  cv::circle(img, cv::Point(134, 50), 8, cv::Scalar(0.6), cv::FILLED);
  cv::circle(img, cv::Point(50, 140), 8, cv::Scalar(0.1), cv::FILLED);  // too faint for threshold 0.1
  cv::GaussianBlur(img, img, cv::Size(), 1.0);
  NucleusParamsPx p;
  p.ridge_radius_px = 4;
  p.split_depth_px = 1;
  const NucleusDetection n = detect_nuclei(img, p);
  EXPECT_EQ(n.count, 3);
  EXPECT_NE(n.labels.at<int>(50, 50), 0);
  EXPECT_NE(n.labels.at<int>(50, 118), n.labels.at<int>(50, 136));
  EXPECT_EQ(n.labels.at<int>(140, 50), 0);
}

TEST(NucleusDetection, PaleCentreIsFilledIntoItsNucleus) {
  // A vesicular nucleus: dark rim, pale centre. Its outline has a hole that belongs to the nucleus.
  cv::Mat img(120, 120, CV_32F, cv::Scalar(0.05f));
  cv::circle(img, cv::Point(60, 60), 14, cv::Scalar(0.7), cv::FILLED);
  cv::circle(img, cv::Point(60, 60), 5, cv::Scalar(0.08), cv::FILLED);
  cv::GaussianBlur(img, img, cv::Size(), 1.0);
  NucleusParamsPx p;
  p.ridge_radius_px = 3;
  p.sigma_px = 2;
  const NucleusDetection n = detect_nuclei(img, p);
  ASSERT_EQ(n.count, 1);
  EXPECT_EQ(n.labels.at<int>(60, 60), 1);
  // Every pixel of the disk (radius 14, less the blurred edge) is in the nucleus, and nothing far outside.
  for (int y = 0; y < img.rows; ++y) {
    for (int x = 0; x < img.cols; ++x) {
      const double r = std::hypot(x - 60, y - 60);
      if (r <= 12) EXPECT_EQ(n.labels.at<int>(y, x), 1) << x << "," << y;
      if (r >= 18) EXPECT_EQ(n.labels.at<int>(y, x), 0) << x << "," << y;
    }
  }
}

}  // namespace
}  // namespace ihc
