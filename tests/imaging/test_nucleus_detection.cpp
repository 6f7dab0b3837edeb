#include "imaging/nucleus_detection.hpp"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace ihc
