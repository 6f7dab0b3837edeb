#pragma once
// OpenSlide 3.4 back-end: vendor formats (Aperio SVS, Hamamatsu NDPI, Leica, MIRAX, Philips, Sakura, Trestle,
// Ventana) and tiled (pyramidal) generic TIFF.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <opencv2/core.hpp>

#include "imaging/slide.hpp"

namespace ihc {

// nullptr when OpenSlide does not recognise the file; SlideError when it recognises it but cannot open it.
std::unique_ptr<Slide> open_with_openslide(const std::filesystem::path& path, const OpenOptions& options);

// OpenSlide's pixels are premultiplied ARGB (one uint32 each); composites them onto white into CV_8UC3 RGB.
// Premultiplied c' = c * a / 255, so over white c' + 255 - a: exact, and transparent (0) becomes white.
void premultiplied_argb_to_rgb(const std::uint32_t* argb, int width, int height, cv::Mat& rgb);

}  // namespace ihc
