#include "imaging/png_io.hpp"

#include <array>
#include <cmath>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string_view>

#include "models/atomic_file.hpp"

namespace ihc {
namespace {

std::uint32_t crc32(const std::uint8_t* data, std::size_t n) {
  static const auto kTable = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < n; ++i) c = kTable[(c ^ data[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

void put_be32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(v >> s));
}

}  // namespace

std::vector<std::uint8_t> encode_png(const cv::Mat& rgb, double mpp_um) {
  cv::Mat bgr;
  if (rgb.channels() == 3) {
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  } else {
    bgr = rgb;
  }
  std::vector<std::uint8_t> png;
  if (!cv::imencode(".png", bgr, png)) return {};
  if (!(mpp_um > 0) || !std::isfinite(mpp_um)) return png;
  // pHYs goes right after IHDR (8-byte signature + 25-byte IHDR chunk); unit 1 = metre.
  const auto ppm = static_cast<std::uint32_t>(std::lround(1e6 / mpp_um));
  std::vector<std::uint8_t> chunk;
  put_be32(chunk, 9);
  const std::size_t type_at = chunk.size();
  for (char c : std::string_view("pHYs")) chunk.push_back(static_cast<std::uint8_t>(c));
  put_be32(chunk, ppm);
  put_be32(chunk, ppm);
  chunk.push_back(1);
  put_be32(chunk, crc32(chunk.data() + type_at, chunk.size() - type_at));
  png.insert(png.begin() + 33, chunk.begin(), chunk.end());
  return png;
}

void save_png(const std::filesystem::path& path, const cv::Mat& rgb, double mpp_um) {
  const auto png = encode_png(rgb, mpp_um);
  if (png.empty()) throw FileError(path, "PNG encoding failed");
  write_file_atomic(path, std::string_view(reinterpret_cast<const char*>(png.data()), png.size()));
}

}  // namespace ihc
