#include "imaging/morphology.hpp"

#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include "imaging/stains.hpp"
#include "imaging/synthetic_cells.hpp"

namespace ihc {
namespace {

// Reference: geodesic dilation repeated until nothing changes.
cv::Mat reconstruct_slowly(const cv::Mat& marker, const cv::Mat& mask) {
  cv::Mat cur = cv::min(marker, mask);
  for (;;) {
    cv::Mat next;
    cv::dilate(cur, next, cv::Mat(), cv::Point(-1, -1), 1, cv::BORDER_REPLICATE);
    next = cv::min(next, mask);
    if (cv::norm(next, cur, cv::NORM_INF) == 0) return cur;
    cur = next;
  }
}

TEST(Morphology, ReconstructionMatchesIteratedGeodesicDilation) {
  cv::Mat mask(120, 150, CV_32F);
  cv::randu(mask, 0.0f, 1.0f);
  cv::GaussianBlur(mask, mask, cv::Size(), 2.0);
  const cv::Mat marker = erode_disk(mask, 6);
  const cv::Mat fast = reconstruct_by_dilation(marker, mask);
  EXPECT_EQ(cv::norm(fast, reconstruct_slowly(marker, mask), cv::NORM_INF), 0.0);
}

TEST(Morphology, ReconstructionIsExactOnADenseNoisyField) {
  // The background estimate of a dense synthetic field (OD sum with sensor noise): many paths are left for
  // the queue after the raster scans, so this exercises its bucket-queue path.
  const auto field = test::random_field(cv::Size(512, 512), 1500, 7.0, 5);
  const cv::Mat od = optical_density_sum(field.rgb, stain_preset("H-DAB").background);
  const cv::Mat marker = erode_disk(od, 16);
  EXPECT_EQ(cv::norm(reconstruct_by_dilation(marker, od), reconstruct_slowly(marker, od), cv::NORM_INF), 0.0);
}

TEST(Morphology, DiskOpeningRemovesLinesAndKeepsBlobs) {
  cv::Mat img = cv::Mat::zeros(80, 80, CV_32F);
  cv::line(img, cv::Point(0, 20), cv::Point(79, 20), cv::Scalar(1.0), 3);
  cv::circle(img, cv::Point(40, 55), 8, cv::Scalar(1.0), cv::FILLED);
  const cv::Mat opened = dilate_disk(erode_disk(img, 4), 4);
  EXPECT_LT(opened.at<float>(20, 40), 0.01f);
  EXPECT_GT(opened.at<float>(55, 40), 0.99f);
}

TEST(Morphology, SeededFloodStopsAtTheDistanceLimitAndSplitsMidway) {
  cv::Mat labels = cv::Mat::zeros(20, 60, CV_32S);
  labels.at<int>(10, 10) = 1;
  labels.at<int>(10, 30) = 2;
  const cv::Mat flat = cv::Mat::zeros(labels.size(), CV_32F);
  seeded_flood(flat, labels, 6.0);
  EXPECT_EQ(labels.at<int>(10, 16), 1);
  EXPECT_EQ(labels.at<int>(10, 24), 2);
  EXPECT_EQ(labels.at<int>(10, 40), 0);  // beyond 6 px from seed 2
  EXPECT_EQ(labels.at<int>(10, 50), 0);
}

}  // namespace
}  // namespace ihc
