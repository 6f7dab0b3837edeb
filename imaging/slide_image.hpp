#pragma once
// Plain-image back-end (OpenCV, libjpeg for JPEG): PNG, JPEG, TIFF that OpenSlide refuses (e.g. strip TIFF),
// BMP and whatever else OpenCV decodes. One decoded level plus downsampled levels (2, 4, 8, ...) while a
// level is above kPyramidMaxSide pixels, built lazily on first use, cached and thread-safe.
#include <atomic>
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
// An 8-bit colour image is converted within its own pixels when `decoded` holds the only reference to them
// (passed with std::move): a 15000 x 15000 PNG then takes 675 MB (BGRA: 900 MB), not 1.35 GB (1.8 GB).
cv::Mat opencv_image_to_rgb8(cv::Mat decoded, std::vector<std::string>* warnings);

// Memory of slides scored side by side (ihcscore score -j 2). A plain image is decoded whole, 3 bytes a
// pixel before its levels and tile workers: two 15000 x 15000 PNGs at once took 2.95 GB against the 1.5 GB
// the batch keeps to. Off until set (the viewer keeps it off; the command-line tool sets it).
struct SlideMemoryPolicy {
  // > 0: a plain image whose RGB pixels take at least this many bytes is the only slide open in the process:
  // its open waits, before decoding, until the slides of other threads are closed, and their next opens wait
  // until it is closed. A thread's own slides never make it wait.
  std::int64_t alone_bytes = 0;
  // Freed heap memory goes back to the system (malloc_trim) each time a slide is closed: a long batch's
  // threads otherwise keep each one's largest slide in their own malloc arenas (1.94 GB after 64 slides).
  bool trim_on_close = false;
  // Raised (Ctrl-C): a wait for a place gives up with std::runtime_error instead of decoding a large image
  // nobody wants any more (it kept an interrupted batch alive for one more decode, about 14 s).
  const std::atomic<bool>* cancel = nullptr;
};
void set_slide_memory_policy(const SlideMemoryPolicy& policy);
SlideMemoryPolicy slide_memory_policy();

// A slide's place under the policy, held for as long as the slide is open; nullptr when there is no policy.
// open_slide takes one for every slide it returns.
std::shared_ptr<void> hold_slide_memory();
// A plain image's place alone in memory when it has at least alone_bytes / 3 pixels (the OpenCV back-end
// takes it before decoding), else nullptr.
std::shared_ptr<void> hold_plain_image_memory(std::int64_t pixels);
// Width x height from a JPEG's frame header (SOF0-SOF15 but DHT, JPG and DAC), 0 when none comes before the
// scan: a large JPEG's size before it is decoded.
std::int64_t jpeg_frame_pixels(const std::vector<std::uint8_t>& bytes);
// Width and height from a BMP's or WebP's header (the file's first 30 bytes or more), empty when it is
// neither or cut short: their size before they are decoded.
cv::Size bmp_webp_size(const std::vector<std::uint8_t>& head);

// A slide over an RGB image already in memory (synthetic images, tests). info.path/format/properties are
// kept; backend, levels and downsamples are filled in; mpp from properties/options as for files.
std::unique_ptr<Slide> make_image_slide(const cv::Mat& rgb, SlideInfo info, const OpenOptions& options = {});

}  // namespace ihc
