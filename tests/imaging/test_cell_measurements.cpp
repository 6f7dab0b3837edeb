#include "imaging/cell_measurements.hpp"

#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>
#include <utility>

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

// Membrane DAB of two cells that share a line, each half at its own grade (the synthetic slides' model: a
// 3+ half at `dark` OD next to a paler half at `pale`, 1.5 um each, cytoplasm at a quarter of the level),
// blurred like an objective. Returns {dark cell, pale cell}.
std::pair<float, float> shared_line_membranes(float dark, float pale) {
  Pair f;  // nuclei at x = 20 and 50; the border is at x = 35
  f.dab(cv::Rect(0, 0, 32, 40)).setTo(0.25 * dark);
  f.dab(cv::Rect(32, 0, 3, 40)).setTo(dark);
  f.dab(cv::Rect(35, 0, 3, 40)).setTo(pale);
  f.dab(cv::Rect(38, 0, 32, 40)).setTo(0.25 * pale);
  cv::GaussianBlur(f.dab, f.dab, cv::Size(), 0.8);
  CellParamsPx p;
  p.cell_expansion_px = 40;  // cells fill the image: the band lies on the shared border only
  p.um_per_px = 0.5;
  p.membrane_width_px = 2;  // 1 um
  const auto cells = measure_cells(f.labels, 2, f.hema, f.dab, p);
  const auto names = cell_measurement_names(true);
  const auto col = static_cast<std::size_t>(std::find(names.begin(), names.end(), "Membrane: DAB OD mean") -
                                            names.begin());
  EXPECT_EQ(cells.size(), 2u);
  if (cells.size() != 2u) return {0.0f, 0.0f};
  return {cells[0].values[col], cells[1].values[col]};
}

// KNOWN FAILURE, disabled until the border search is fixed: the flood gives the crest of the blurred line to
// whichever cell reaches it first. Here the paler cell takes the crest (two of the three 3+ pixels), so its
// band reads the 3+ line (1+ reads 0.55, 2+ 0.65, a negative 0.69; the 3+ cell next to the negative 0.50) and
// the ownership step (give_lines_to_brown_cells), which compares the bands, moves nothing back. On the
// synthetic slides the tie goes either way, so the step rule helps on average (docs/accuracy.md) but not in
// this case. Run with --gtest_also_run_disabled_tests.
TEST(CellMeasurements, DISABLED_CellsOfDifferentGradeEachOwnTheirSideOfASharedLine) {
  // 3+ next to 1+ and next to 2+: the border is the step between the halves, not the crest of the blurred
  // line (which lies in the 3+ half and gave the 3+ cell's band its own cytoplasm).
  const auto [a3, b1] = shared_line_membranes(0.8f, 0.3f);
  EXPECT_GT(a3, 0.6f) << "3+ next to 1+";
  EXPECT_GE(b1, 0.2f) << "1+ next to 3+";
  EXPECT_LT(b1, 0.4f) << "1+ next to 3+";
  const auto [c3, d2] = shared_line_membranes(0.8f, 0.5f);
  EXPECT_GT(c3, 0.6f) << "3+ next to 2+";
  EXPECT_GE(d2, 0.4f) << "2+ next to 3+";
  EXPECT_LT(d2, 0.6f) << "2+ next to 3+";
  const auto [e3, f0] = shared_line_membranes(0.8f, 0.05f);
  EXPECT_GT(e3, 0.6f) << "3+ next to negative";
  EXPECT_LT(f0, 0.2f) << "negative next to 3+";
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
