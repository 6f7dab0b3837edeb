#pragma once
// One PNG writer for every output image (synthetic images, overlays, reports): RGB in, written atomically,
// with the pixel size in a pHYs chunk when it is known so that readers (ours, QuPath, Fiji) get microns back.
#include <cstdint>
#include <filesystem>
#include <limits>
#include <opencv2/core.hpp>
#include <vector>

namespace ihc {

// `rgb` is CV_8UC3 RGB or CV_8UC1; mpp_um > 0 adds pHYs (pixels per metre). Throws FileError on failure.
std::vector<std::uint8_t> encode_png(const cv::Mat& rgb,
                                     double mpp_um = std::numeric_limits<double>::quiet_NaN());
void save_png(const std::filesystem::path& path, const cv::Mat& rgb,
              double mpp_um = std::numeric_limits<double>::quiet_NaN());

}  // namespace ihc
