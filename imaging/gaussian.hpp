#pragma once
// Separable Gaussian blur of CV_32F planes that gives the same bits on every x86-64 CPU. cv::GaussianBlur's
// float path is dispatched at run time (SSE4.1 / AVX2 with FMA / ...), so the same slide could score
// differently in the last bits, and at a threshold in the counts, on another machine.
#include <opencv2/core.hpp>

namespace ihc {

// Blurs `src` (CV_32FC1, any size including 1 x 1 and ROIs) into `dst` with cv::GaussianBlur's semantics for
// cv::Size() and sigma_x = sigma_y = sigma_px: the kernel cv::getGaussianKernel(ksize, sigma_px, CV_32F) with
// ksize = cvRound(sigma_px * 8 + 1) | 1, BORDER_REPLICATE at the edges of `src` itself (a ROI's parent pixels
// are not read, as with BORDER_ISOLATED), rows first, then columns. The sums run in OpenCV's baseline (SSE2)
// order with separate multiplies and adds: bit for bit what cv::GaussianBlur gives on a CPU without AVX2/FMA
// (or after cv::setUseOptimized(false)), within about an ulp of what it gives with FMA. Rows of 7 taps and
// more sum x[-r] * c_-r + ... + x[r] * c_r left to right; shorter rows and all columns add
// (x[-k] + x[+k]) * c_k for k = 1..r to x[0] * c_0; an image of one row (column) gets no column (row) pass.
// `dst` keeps its memory when it has src's size and type; it may be src (in place) or overlap it. Throws
// std::invalid_argument "gaussian_blur: expected a non-empty single-channel float image" for other inputs and
// "gaussian_blur: sigma_px must be in (0, 1000], got <sigma_px>" for a bad sigma.
void gaussian_blur(const cv::Mat& src, cv::Mat& dst, double sigma_px);

// The kernel size gaussian_blur (and cv::GaussianBlur for float images) uses for sigma_px.
int gaussian_kernel_size(double sigma_px);

}  // namespace ihc
