#pragma once
// Cells grown from nuclei so borders follow brown lines, their compartments (nucleus, cytoplasm, membrane,
// cell) and per-compartment optical density statistics, with QuPath's measurement names. Sizes in pixels of
// the analysis image; cell_detection.cpp converts microns once.
#include <array>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "imaging/cell_growth.hpp"

namespace ihc {

// Measurement layout of MeasuredCell::values; names depend on whether areas are in um^2 or px^2.
constexpr int kMeasurementCount = 3 + 4 * 2 * 3;
std::vector<std::string> cell_measurement_names(bool calibrated);

struct MeasuredCell {
  cv::Point2d centroid;               // nucleus centroid, analysis pixels of the tile
  std::vector<cv::Point2f> boundary;  // cell polygon, analysis pixels of the tile
  std::vector<cv::Point2f> nucleus;
  std::array<float, kMeasurementCount> values{};
};

// Outer border of the 8-connected region of `label` in `labels` (CV_32S) whose first pixel in raster order is
// `first`, traced on the label image itself: the same points in the same order as cv::findContours
// (RETR_EXTERNAL, CHAIN_APPROX_NONE) gives for that region alone, without copying it into a mask.
std::vector<cv::Point> trace_outer_border(const cv::Mat& labels, int label, cv::Point first);

// cv::approxPolyDP(src, out, epsilon, closed = true) for float points: the same points as OpenCV 4.6's
// Douglas-Peucker and straight-line clean-up, its farthest-point scans several points at a time (in exact
// integers for outlines in sixteenths of a pixel spanning less than 128 px, as smoothed cell outlines are).
std::vector<cv::Point2f> approx_closed_polygon(const std::vector<cv::Point2f>& src, double epsilon);

// Grows cells and measures those whose nucleus centroid lies in `keep` (tile core; empty = all).
// `hematoxylin` and `dab` are CV_32F stain concentrations (OD). Cells come out in label order. `origin` is
// added to every coordinate returned (the planes are a crop at `origin` of a larger image): centroids and
// outlines come out with the same bits as measuring the larger image.
std::vector<MeasuredCell> measure_cells(const cv::Mat& nucleus_labels, int count, const cv::Mat& hematoxylin,
                                        const cv::Mat& dab, const CellParamsPx& params,
                                        const cv::Rect& keep = cv::Rect(), cv::Point origin = {});

// measure_cells on cells already grown: `grown` is grow_cells(nucleus_labels, dab, params) (the same result,
// without growing them again; lets a benchmark time the measurements alone).
std::vector<MeasuredCell> measure_grown_cells(const cv::Mat& nucleus_labels, int count,
                                              const cv::Mat& hematoxylin, const cv::Mat& dab,
                                              const CellGrowth& grown, const CellParamsPx& params,
                                              const cv::Rect& keep = cv::Rect());

}  // namespace ihc
