#include "imaging/cell_measurements.hpp"

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

TEST(CellMeasurements, BorderFallsMidwayWithoutBrownAndOnTheLineWithIt) {
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

TEST(CellMeasurements, BrownRingBelongsToTheBrownCell) {
  CellParamsPx p;
  p.cell_expansion_px = 20;
  p.membrane_width_px = 2;
  Pair f;
  // Cell 1 is ringed by a brown line (3+); cell 2 has none of its own.
  cv::rectangle(f.dab, cv::Rect(8, 8, 25, 25), cv::Scalar(1.0), 2);
  const auto cells = measure_cells(f.labels, 2, f.hema, f.dab, p);
  ASSERT_EQ(cells.size(), 2u);
  const auto names = cell_measurement_names(true);
  const auto col = static_cast<std::size_t>(std::find(names.begin(), names.end(), "Membrane: DAB OD mean") -
                                            names.begin());
  EXPECT_GT(cells[0].values[col], 0.6f);
  EXPECT_LT(cells[1].values[col], 0.2f);
  EXPECT_NEAR(cells[0].centroid.x, 20, 0.01);
}

TEST(CellMeasurements, KeepsOnlyCellsCentredInTheCoreAndNamesFollowQuPath) {
  CellParamsPx p;
  Pair f;
  const auto kept = measure_cells(f.labels, 2, f.hema, f.dab, p, cv::Rect(0, 0, 35, 40));
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_NEAR(kept[0].centroid.x, 20, 0.01);
  const auto names = cell_measurement_names(false);
  ASSERT_EQ(names.size(), static_cast<std::size_t>(kMeasurementCount));
  EXPECT_EQ(names[0], "Nucleus: Area px^2");
  EXPECT_EQ(names[3], "Nucleus: Hematoxylin OD mean");
  EXPECT_EQ(names.back(), "Cell: DAB OD max");
  // Nucleus hematoxylin exact: 0.5 everywhere in the nucleus, none in the cytoplasm.
  EXPECT_FLOAT_EQ(kept[0].values[3], 0.5f);
  EXPECT_FLOAT_EQ(kept[0].values[4], 0.0f);
}

}  // namespace
}  // namespace ihc
