#pragma once
// Plain-image back-end (OpenCV, libjpeg for JPEG): PNG, JPEG, TIFF that OpenSlide refuses (e.g. strip TIFF),
// BMP and whatever else OpenCV decodes. One decoded level plus downsampled levels (2, 4, 8, ...) while a
// level is above kPyramidMaxSide pixels, built lazily on first use, cached and thread-safe.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "imaging/slide.hpp"

namespace ihc {

constexpr int kPyramidMaxSide = 2048;
constexpr std::int64_t kMaxPlainImagePixels = 1LL << 28;  // ~16k x 16k; bigger belongs in a pyramidal TIFF

// nullptr when neither the magic bytes nor OpenCV recognise an image; SlideError when it is an image that
// cannot be decoded (truncated, unsupported compression, too large).
std::unique_ptr<Slide> open_with_opencv(const std::filesystem::path& path, const OpenOptions& options);

// Any decoded OpenCV image (BGR/BGRA/gray/gray+alpha, 8/16-bit or float) to CV_8UC3 RGB, alpha composited
// onto white; each conversion is named in `warnings`. Throws std::runtime_error for other sample types.
cv::Mat opencv_image_to_rgb8(const cv::Mat& decoded, std::vector<std::string>* warnings);

// A slide over an RGB image already in memory (synthetic images, tests). info.path/format/properties are
// kept; backend, levels and downsamples are filled in; mpp from properties/options as for files.
std::unique_ptr<Slide> make_image_slide(const cv::Mat& rgb, SlideInfo info, const OpenOptions& options = {});

}  // namespace ihc
