#include "imaging/cell_growth.hpp"

#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

namespace ihc {
namespace {

// Two nuclei 30 px apart on a row; an optional vertical brown line at column `line_x`.
struct Pair {
  cv::Mat labels = cv::Mat::zeros(40, 70, CV_32S);
  cv::Mat dab = cv::Mat::zeros(40, 70, CV_32F);
  cv::Mat hema = cv::Mat::zeros(40, 70, CV_32F);
  Pair() {
    cv::circle(labels, cv::Point(20, 20), 4, cv::Scalar(1), cv::FILLED);
    cv::circle(labels, cv::Point(50, 20), 4, cv::Scalar(2), cv::FILLED);
    hema.setTo(0.5, labels > 0);
  }
};

int first_column_of(const cv::Mat& labels, int row, int label) {
  for (int x = 0; x < labels.cols; ++x) {
    if (labels.at<int>(row, x) == label) return x;
  }
  return -1;
}

TEST(CellGrowth, BorderFallsMidwayWithoutBrownAndOnTheLineWithIt) {
  CellParamsPx p;
  p.cell_expansion_px = 20;
  p.um_per_px = 0.5;
  Pair plain;
  const CellGrowth a = grow_cells(plain.labels, plain.dab, p);
  EXPECT_NEAR(first_column_of(a.cell_labels, 20, 2), 35, 1);

  Pair lined;  // a brown line off-centre, at x = 30..31, shared by both (equal) cells
  lined.dab(cv::Rect(30, 0, 2, 40)).setTo(1.0);
  const CellGrowth b = grow_cells(lined.labels, lined.dab, p);
  EXPECT_NEAR(first_column_of(b.cell_labels, 20, 2), 31, 1);
}

}  // namespace
}  // namespace ihc
