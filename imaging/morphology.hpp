#pragma once
// Grey-level morphology on CV_32F images used by nucleus and cell detection: reconstruction, disk
// erosion/dilation, seeded priority flood. Sizes in pixels. Each function keeps its work buffers per thread
// for the next call (tiles of one size then allocate nothing): about 45 bytes per pixel of the largest image
// a thread has processed, released after images above 32 Mpx.
#include <algorithm>
#include <cfloat>
#include <cstddef>
#include <opencv2/core.hpp>

namespace ihc {

// A per-thread plane whose memory serves any size up to the largest one asked for so far: cv::Mat::create
// reuses memory only for the exact same size, and the tiles of one detection come in up to four sizes
// (corner, edge, inner), so a kept cv::Mat would take fresh, page-faulted memory at most tiles. Keep the
// object (e.g. thread_local) and pass `get`'s result as an output: OpenCV's create() finds the size and type
// it wants.
class KeptPlane {
 public:
  // A continuous plane of `size` and `type` on the kept memory; its contents are unspecified.
  cv::Mat& get(cv::Size size, int type) {
    const std::size_t bytes = std::max<std::size_t>(
        1, static_cast<std::size_t>(size.width) * static_cast<std::size_t>(size.height) * CV_ELEM_SIZE(type));
    if (storage_.empty() || storage_.total() < bytes) {
      view_.release();
      storage_.release();
      // A quarter more than asked: a region's first tile is its smallest (a corner's), the others are up to
      // 20 % larger (edge, inner) and would each take new memory again.
      const std::size_t kept = bytes + bytes / 4;
      storage_.create(static_cast<int>((kept + kRow - 1) / kRow), static_cast<int>(kRow), CV_8U);
    }
    if (view_.data != storage_.data || view_.size() != size || view_.type() != type) {
      view_ = cv::Mat(size, type, storage_.data);
    }
    return view_;
  }

 private:
  static constexpr std::size_t kRow = 4096;
  cv::Mat storage_, view_;
};

// Marker value that never raises a neighbour in a reconstruction by dilation.
inline constexpr float kMinusInf = -FLT_MAX;

// Throws std::invalid_argument "<what>: expected a non-empty single-channel float image" unless m is
// CV_32FC1.
void require_float(const cv::Mat& m, const char* what);

// Grey-level reconstruction by dilation of `marker` under `mask` (both CV_32F, same size; 8-connected):
// two raster scans, then a queue for the remaining paths (Vincent 1993). marker is clipped to mask first.
// Exact: the result does not depend on the order of the work.
cv::Mat reconstruct_by_dilation(const cv::Mat& marker, const cv::Mat& mask);
// The same into `out` (may be marker or mask): a kept `out` of the same size reuses its memory instead of
// taking fresh, page-faulted pages.
void reconstruct_by_dilation(const cv::Mat& marker, const cv::Mat& mask, cv::Mat& out);
// The same in place on a caller's padded buffers, for callers that reconstruct many small images (nucleus
// splitting) and keep their own: `marker` and `mask` each hold width x height floats, rows contiguous (row
// stride = width), plus 4 more floats after the last one that are read but never written (any value; their
// lanes are masked out). The image is the inner (width - 2) x (height - 2) pixels; the 1 px frame (first and
// last rows and columns) must hold kMinusInf in both buffers. Marker values above the mask are clipped to
// it. On return `marker` holds the reconstruction inside the frame; the frame and `mask` are unchanged. The
// buffers must not overlap. Throws std::invalid_argument for a null buffer or fewer than 3 x 3 padded pixels.
void reconstruct_by_dilation_padded(float* marker, const float* mask, int width, int height);

// Erosion / dilation of a CV_32F image by a disk of `radius_px` (an octagon for radii above 3 px, built from
// a square and a diamond so the cost does not grow with the disk's area).
cv::Mat erode_disk(const cv::Mat& image, double radius_px);
cv::Mat dilate_disk(const cv::Mat& image, double radius_px);
// The same into `out` (may be `image`; a kept `out` reuses its memory).
void erode_disk(const cv::Mat& image, double radius_px, cv::Mat& out);
void dilate_disk(const cv::Mat& image, double radius_px, cv::Mat& out);

// Seeded priority flood (watershed without lines) on `landscape` (CV_32F). `labels` (CV_32S) holds seeds > 0,
// 0 for pixels to fill and -1 for pixels never to enter; it is filled in place. 8-connected; ties spread
// breadth first. When max_distance_px > 0, a pixel is only taken by a label whose seed pixel it started from
// lies within that distance (cell expansion limit). When `ridge` (CV_32F) is given, a flood that has climbed
// a ridge of at least `min_ridge` does not descend below half of it on the other side: a cell stops at its
// own brown line even where no neighbour competes.
void seeded_flood(const cv::Mat& landscape, cv::Mat& labels, double max_distance_px = 0.0,
                  const cv::Mat& ridge = cv::Mat(), float min_ridge = 0.15f);

// The vector loops above take AVX2 variants, chosen at run time, whose results are bit-identical to the
// SSE2 ones; imaging/simd.hpp turns them off (IHC_SIMD=sse2, use_wide_simd(false)).

}  // namespace ihc
