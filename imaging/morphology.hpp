#pragma once
// Grey-level morphology on CV_32F images used by nucleus and cell detection: reconstruction, disk
// erosion/dilation, seeded priority flood. Sizes in pixels. Each function keeps its work buffers per thread
// for the next call (tiles of one size then allocate nothing): about 45 bytes per pixel of the largest image
// a thread has processed, released after images above 32 Mpx.
#include <cfloat>
#include <opencv2/core.hpp>

namespace ihc {

// Marker value that never raises a neighbour in a reconstruction by dilation.
inline constexpr float kMinusInf = -FLT_MAX;

// Throws std::invalid_argument "<what>: expected a non-empty single-channel float image" unless m is
// CV_32FC1.
void require_float(const cv::Mat& m, const char* what);

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
