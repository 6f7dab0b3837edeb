#pragma once
// One small interface for a slide or an image. Back-ends are chosen from one ordered table (slide.cpp):
// OpenSlide for vendor formats and pyramidal TIFF, a tiled-JPEG TIFF reader for files libtiff refuses
// (OME-TIFF crops with chroma-subsampled tiles), OpenCV for plain images.
// Pixels are always 8-bit RGB (channel 0 = red) in this project; BGR exists only at OpenCV's file I/O.
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <opencv2/core.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ihc {

// Every error names the file: what() is "<path>: <reason>".
class SlideError : public std::runtime_error {
 public:
  SlideError(const std::filesystem::path& path, const std::string& reason);
  const std::filesystem::path& path() const { return path_; }
  const std::string& reason() const { return reason_; }

 private:
  std::filesystem::path path_;
  std::string reason_;
};

struct SlideInfo {
  std::filesystem::path path;
  std::string backend;                // "openslide", "jpeg-tiles-tiff", "opencv"
  std::string format;                 // "aperio", "hamamatsu", "generic-tiff", "png", "jpeg", ...
  std::vector<cv::Size> level_sizes;  // level 0 first
  std::vector<double> downsamples;    // level 0 is 1.0
  double mpp_x = std::numeric_limits<double>::quiet_NaN();  // microns per pixel at level 0; NaN = unknown
  double mpp_y = std::numeric_limits<double>::quiet_NaN();
  std::string mpp_source;  // "openslide.mpp-x", "aperio.MPP", "tiff.XResolution (px/cm)", "--mpp", "none"
                           // (all values: resolve_resolution below and docs/formats.md)
  double objective_power = std::numeric_limits<double>::quiet_NaN();
  std::map<std::string, std::string> properties;
  std::vector<std::string> associated_images;  // "thumbnail", "label", "macro"
  std::vector<std::string> warnings;           // e.g. "16-bit image converted to 8-bit RGB"

  // One picture (PNG, JPEG, a TIFF page) decoded whole: its levels above 0 are made by the reader for
  // display, not scanned, and it is scored as a plain image however large it is drawn.
  bool single_picture = false;

  int level_count() const { return static_cast<int>(level_sizes.size()); }
  bool plain_image() const { return single_picture || level_count() == 1; }
  bool has_mpp() const { return mpp_x == mpp_x && mpp_y == mpp_y; }
};

struct OpenOptions {
  double mpp_override = 0.0;  // > 0: user's --mpp; used when the file has no resolution of its own
};

class Slide {
 public:
  virtual ~Slide() = default;
  const SlideInfo& info() const { return info_; }

  // Reads a w x h region of `level` whose top-left is (x, y) in level-0 pixels, as CV_8UC3 RGB.
  // Out-of-bounds parts are white (background). Thread-safe. Throws SlideError.
  virtual cv::Mat read_region(std::int64_t x, std::int64_t y, int level, int w, int h) = 0;
  // Throws SlideError when the image does not exist.
  virtual cv::Mat associated_image(const std::string& name);

  // The level whose downsample is the largest not above `downsample` (OpenSlide's rule).
  int best_level_for_downsample(double downsample) const;
  // A whole level as RGB (for thumbnails); refuses levels above max_pixels.
  cv::Mat read_level(int level, std::int64_t max_pixels = 64LL << 20);

  // Largest region one read_region call accepts (w * h), so a bad request fails instead of exhausting memory.
  static constexpr std::int64_t kMaxRegionPixels = 1LL << 28;

 protected:
  // Throws SlideError when `level` does not exist or w x h is empty or above kMaxRegionPixels.
  void check_region(int level, int w, int h) const;

  SlideInfo info_;
};

// Pixel sizes (um/px) a scan or a microscope photograph can have: finer is no light microscope, coarser is
// a print or screen dpi. Stated sizes outside are ignored with a warning; a given --mpp outside is refused.
constexpr double kMinPlausibleMpp = 0.01;
constexpr double kMaxPlausibleMpp = 50.0;
// Empty when `mpp` lies in that range, else what is wrong with it, quoting `as_written` (an --mpp value).
std::string mpp_problem(double mpp, const std::string& as_written = {});

// Fills mpp_x/mpp_y/mpp_source and objective_power of `info` from info.properties in the project's order:
// openslide.mpp-x/y; vendor keys (aperio.MPP, ome.PhysicalSizeX, ...); resolution tags with their unit
// (tiff.XResolution + tiff.ResolutionUnit, PNG pHYs, JPEG JFIF density), ignored with a warning when they are
// not a microscope scale (e.g. the 72 dpi default of image software); then options.mpp_override ("--mpp").
// Never invents microns: with none of these, mpp stays NaN and mpp_source is "none".
void resolve_resolution(SlideInfo& info, const OpenOptions& options);

// True when `head` (the first bytes of a file; a multi-byte character cut at its end counts as complete) is
// text: well-formed UTF-8 without NUL or control bytes other than tab, CR and LF. Pixel data rarely is.
bool looks_like_text(std::string_view head);

// True when the file name's extension (any case) is one of a slide or image format some back-end reads
// (.svs, .ndpi, .tif, .png, ...). A name only: the batch also opens files by their magic bytes.
bool has_slide_extension(const std::filesystem::path& path);

// Throws SlideError unless `path` is a regular file that can be opened for reading: "file not found", "is a
// directory, not a slide or image file", "is not a regular file" (a named pipe, socket or device: a named
// pipe opened for reading waits for a writer, so no reader may open one) or "cannot open for reading:
// <reason>". Never blocks. open_slide and every back-end's open call it first.
void check_slide_file(const std::filesystem::path& path);

// Opens a slide or image, trying each back-end of the table in order. Throws SlideError with the reason
// from the most specific back-end (and a hint such as converting with `vips tiffsave --tile --pyramid`).
std::unique_ptr<Slide> open_slide(const std::filesystem::path& path, const OpenOptions& options = {});

}  // namespace ihc
