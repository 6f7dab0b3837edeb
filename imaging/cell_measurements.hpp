#pragma once
// Cells grown from nuclei so borders follow brown lines, their compartments (nucleus, cytoplasm, membrane,
// cell) and per-compartment optical density statistics, with QuPath's measurement names. Sizes in pixels of
// the analysis image; cell_detection.cpp converts microns once.
#include <array>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace ihc {

struct CellParamsPx {
  double cell_expansion_px = 10.0;  // 0 = cells are their nuclei
  double membrane_width_px = 2.0;
  bool smooth_boundaries = true;
  double um_per_px = 0.5;    // for the distance term of the growth landscape
  double area_scale = 0.25;  // area unit per pixel (um^2 per px^2, or 1 when uncalibrated)
};

// Measurement layout of MeasuredCell::values; names depend on whether areas are in um^2 or px^2.
constexpr int kMeasurementCount = 3 + 4 * 2 * 3;
std::vector<std::string> cell_measurement_names(bool calibrated);

struct MeasuredCell {
  cv::Point2d centroid;               // nucleus centroid, analysis pixels of the tile
  std::vector<cv::Point2f> boundary;  // cell polygon, analysis pixels of the tile
  std::vector<cv::Point2f> nucleus;
  std::array<float, kMeasurementCount> values{};
};

struct CellGrowth {
  cv::Mat cell_labels;  // CV_32S, same ids as the nucleus labels, 0 = no cell
  cv::Mat membrane;     // CV_8U, 255 on each cell's membrane band (inside the cell, along its border)
};

// Grows one cell per nucleus with a watershed on a landscape where brown (DAB) lines are ridges and, where
// there are none, the distance to the nearest nucleus makes borders fall midway (Voronoi); never further than
// cell_expansion_px from the cell's own nucleus. Neighbours share one border, each owning its side.
CellGrowth grow_cells(const cv::Mat& nucleus_labels, const cv::Mat& dab, const CellParamsPx& params);

// Grows cells and measures those whose nucleus centroid lies in `keep` (tile core; empty = all).
// `hematoxylin` and `dab` are CV_32F stain concentrations (OD). Cells come out in label order.
std::vector<MeasuredCell> measure_cells(const cv::Mat& nucleus_labels, int count, const cv::Mat& hematoxylin,
                                        const cv::Mat& dab, const CellParamsPx& params,
                                        const cv::Rect& keep = cv::Rect());

}  // namespace ihc
