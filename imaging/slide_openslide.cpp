#include "imaging/slide_openslide.hpp"

#include <openslide/openslide.h>
#include <tiffio.h>

#include <cstdarg>
#include <mutex>

#include <string>
#include <vector>

namespace ihc {

void premultiplied_argb_to_rgb(const std::uint32_t* argb, int width, int height, cv::Mat& rgb) {
  rgb.create(height, width, CV_8UC3);
  for (int row = 0; row < height; ++row) {
    const std::uint32_t* src = argb + static_cast<std::size_t>(row) * width;
    auto* dst = rgb.ptr<std::uint8_t>(row);
    for (int col = 0; col < width; ++col) {
      const std::uint32_t p = src[col];
      const std::uint32_t a = p >> 24;
      const std::uint32_t white = 255 - a;
      dst[3 * col + 0] = static_cast<std::uint8_t>(((p >> 16) & 0xFF) + white);
      dst[3 * col + 1] = static_cast<std::uint8_t>(((p >> 8) & 0xFF) + white);
      dst[3 * col + 2] = static_cast<std::uint8_t>((p & 0xFF) + white);
    }
  }
}

namespace {

class OpenSlideSlide : public Slide {
 public:
  OpenSlideSlide(const std::filesystem::path& path, openslide_t* osr, const OpenOptions& options)
      : osr_(osr) {
    info_.path = path;
    info_.backend = "openslide";
    if (const char* vendor = openslide_get_property_value(osr, OPENSLIDE_PROPERTY_NAME_VENDOR)) {
      info_.format = vendor;
    }
    for (const char* const* name = openslide_get_property_names(osr); *name != nullptr; ++name) {
      const char* value = openslide_get_property_value(osr, *name);
      info_.properties[*name] = value != nullptr ? value : "";
    }
    const int levels = openslide_get_level_count(osr);
    for (int level = 0; level < levels; ++level) {
      std::int64_t w = 0, h = 0;
      openslide_get_level_dimensions(osr, level, &w, &h);
      info_.level_sizes.emplace_back(static_cast<int>(w), static_cast<int>(h));
      info_.downsamples.push_back(openslide_get_level_downsample(osr, level));
    }
    for (const char* const* name = openslide_get_associated_image_names(osr); *name != nullptr; ++name) {
      info_.associated_images.emplace_back(*name);
    }
    resolve_resolution(info_, options);
  }
  ~OpenSlideSlide() override { openslide_close(osr_); }
  OpenSlideSlide(const OpenSlideSlide&) = delete;
  OpenSlideSlide& operator=(const OpenSlideSlide&) = delete;

  // openslide_read_region is thread-safe on one handle; once it fails the handle keeps the error.
  cv::Mat read_region(std::int64_t x, std::int64_t y, int level, int w, int h) override {
    check_region(level, w, h);
    std::vector<std::uint32_t> argb(static_cast<std::size_t>(w) * h);
    openslide_read_region(osr_, argb.data(), x, y, level, w, h);
    if (const char* error = openslide_get_error(osr_)) {
      throw SlideError(info_.path, "cannot read region x=" + std::to_string(x) + " y=" + std::to_string(y) +
                                       " level " + std::to_string(level) + " size " + std::to_string(w) +
                                       " x " + std::to_string(h) + ": " + error);
    }
    cv::Mat rgb;
    premultiplied_argb_to_rgb(argb.data(), w, h, rgb);
    return rgb;
  }

  cv::Mat associated_image(const std::string& name) override {
    bool known = false;
    for (const auto& n : info_.associated_images) known = known || n == name;
    if (!known) return Slide::associated_image(name);  // throws, listing what exists
    std::int64_t w = 0, h = 0;
    openslide_get_associated_image_dimensions(osr_, name.c_str(), &w, &h);
    if (w <= 0 || h <= 0 || w * h > kMaxRegionPixels) {
      throw SlideError(info_.path, "associated image \"" + name + "\" has unusable size " +
                                       std::to_string(w) + " x " + std::to_string(h));
    }
    std::vector<std::uint32_t> argb(static_cast<std::size_t>(w * h));
    openslide_read_associated_image(osr_, name.c_str(), argb.data());
    if (const char* error = openslide_get_error(osr_)) {
      throw SlideError(info_.path, "cannot read associated image \"" + name + "\": " + error);
    }
    cv::Mat rgb;
    premultiplied_argb_to_rgb(argb.data(), static_cast<int>(w), static_cast<int>(h), rgb);
    return rgb;
  }

 private:
  openslide_t* osr_;
};

// libtiff's default handlers print on stderr ("TIFFReadRawTile: Read error at row 4294967295, ...") in the
// middle of the progress when OpenSlide reads a slide truncated or replaced mid-run; OpenSlide's own error
// ("Cannot read raw tile") is what the slide's message carries.
void quiet_tiff_error(const char* /*module*/, const char* /*fmt*/, va_list /*ap*/) {}

void silence_libtiff_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    TIFFSetErrorHandler(quiet_tiff_error);
    TIFFSetWarningHandler(nullptr);
  });
}

}  // namespace

std::unique_ptr<Slide> open_with_openslide(const std::filesystem::path& path, const OpenOptions& options) {
  check_slide_file(path);  // OpenSlide would wait on a named pipe
  const char* vendor = openslide_detect_vendor(path.c_str());
  if (vendor == nullptr) return nullptr;
  const std::string vendor_name = vendor;
  silence_libtiff_once();
  openslide_t* osr = openslide_open(path.c_str());
  if (osr == nullptr) {
    throw SlideError(path, "OpenSlide 3.4 recognised a " + vendor_name + " file but could not open it");
  }
  if (const char* error = openslide_get_error(osr)) {
    std::string reason = "OpenSlide 3.4 cannot open this " + vendor_name + " file: " + error;
    openslide_close(osr);
    if (vendor_name == "generic-tiff") {
      reason +=
          "; re-save it as a tiled pyramidal TIFF, e.g. `vips tiffsave in.tif out.tif --tile --pyramid "
          "--compression jpeg`";
    }
    throw SlideError(path, reason);
  }
  return std::make_unique<OpenSlideSlide>(path, osr, options);
}

}  // namespace ihc
