#pragma once
// Nucleus segmentation on a detection image (optical density, CV_32F) at the analysis resolution, plus the
// morphological building blocks it uses. All sizes here are in pixels: cell_detection.cpp converts the
// micron parameters once.
#include <opencv2/core.hpp>

namespace ihc {

struct NucleusParamsPx {
  double background_radius_px = 16.0;  // opening by reconstruction; <= 0 = off
  double median_radius_px = 0.0;
  double sigma_px = 3.0;
  double min_area_px = 40.0;
  double max_area_px = 1600.0;
  double threshold = 0.1;       // mean background-subtracted OD a nucleus must exceed
  double max_background = 2.0;  // nuclei on a background above this are dropped; <= 0 = off
  bool split_by_shape = true;
  // Ridges thinner than this disk (brown membranes, fibres) are removed before nuclei are sought, so a
  // membrane honeycomb never becomes a nucleus. 0 = radius of the smallest allowed nucleus.
  double ridge_radius_px = 0.0;
  double split_depth_px = 1.0;  // distance-map dynamic that separates two touching nuclei
};

struct NucleusDetection {
  cv::Mat labels;  // CV_32S, 0 = no nucleus, 1..count
  int count = 0;
  cv::Mat background_subtracted;  // CV_32F detection image minus its background (what `threshold` tests)
};

// Finds nuclei as compact blobs: background subtraction, ridge suppression by an opening with a disk,
// Gaussian smoothing, Laplacian-of-Gaussian regions tested against `threshold`, distance-map watershed to
// split touching nuclei, area filter. `detection` is CV_32F.
NucleusDetection detect_nuclei(const cv::Mat& detection, const NucleusParamsPx& params);

// Grey-level reconstruction by dilation of `marker` under `mask` (both CV_32F, same size; 8-connected):
// two raster scans, then a queue for the remaining paths (Vincent 1993). marker is clipped to mask first.
// Exact: the result does not depend on the order of the work.
cv::Mat reconstruct_by_dilation(const cv::Mat& marker, const cv::Mat& mask);

// Erosion / dilation of a CV_32F image by a disk of `radius_px` (an octagon for radii above 3 px, built from
// a square and a diamond so the cost does not grow with the disk's area).
cv::Mat erode_disk(const cv::Mat& image, double radius_px);
cv::Mat dilate_disk(const cv::Mat& image, double radius_px);

// Seeded priority flood (watershed without lines) on `landscape` (CV_32F). `labels` (CV_32S) holds seeds > 0,
// 0 for pixels to fill and -1 for pixels never to enter; it is filled in place. 8-connected; ties spread
// breadth first. When max_distance_px > 0, a pixel is only taken by a label whose seed pixel it started from
// lies within that distance (cell expansion limit). When `ridge` (CV_32F) is given, a flood that has climbed
// a ridge of at least `min_ridge` does not descend below half of it on the other side: a cell stops at its
// own brown line even where no neighbour competes.
void seeded_flood(const cv::Mat& landscape, cv::Mat& labels, double max_distance_px = 0.0,
                  const cv::Mat& ridge = cv::Mat(), float min_ridge = 0.15f);

}  // namespace ihc
