#include "imaging/png_io.hpp"

#include <libdeflate.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string_view>

#include "models/atomic_file.hpp"

namespace ihc {
namespace {

void put_be32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(v >> s));
}

// Appends a chunk: length, type, data, CRC over type and data.
void put_chunk(std::vector<std::uint8_t>& out, const char* type, const std::uint8_t* data, std::size_t n) {
  put_be32(out, static_cast<std::uint32_t>(n));
  const std::size_t type_at = out.size();
  out.insert(out.end(), type, type + 4);
  if (n > 0) out.insert(out.end(), data, data + n);
  put_be32(out, libdeflate_crc32(0, out.data() + type_at, n + 4));
}

// Appends the pHYs chunk for `mpp_um` (pixels per metre, unit 1 = metre); nothing when it is not a size.
void put_phys(std::vector<std::uint8_t>& out, double mpp_um) {
  if (!(mpp_um > 0) || !std::isfinite(mpp_um)) return;
  const auto ppm = static_cast<std::uint32_t>(std::lround(1e6 / mpp_um));
  std::vector<std::uint8_t> data;
  put_be32(data, ppm);
  put_be32(data, ppm);
  data.push_back(1);
  put_chunk(out, "pHYs", data.data(), data.size());
}

// Other pixel types (16 bit, 4 channels) through OpenCV, channels swapped for 3 only as before.
std::vector<std::uint8_t> encode_with_opencv(const cv::Mat& rgb, double mpp_um) {
  cv::Mat bgr;
  if (rgb.channels() == 3) {
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  } else {
    bgr = rgb;
  }
  std::vector<std::uint8_t> png;
  if (!cv::imencode(".png", bgr, png)) return {};
  // pHYs goes right after IHDR (8-byte signature + 25-byte IHDR chunk).
  std::vector<std::uint8_t> chunk;
  put_phys(chunk, mpp_um);
  png.insert(png.begin() + 33, chunk.begin(), chunk.end());
  return png;
}

}  // namespace

// Written here rather than by OpenCV's libpng writer: an overlay of a 2048^2 thumbnail is photographic and
// barely compresses, and libpng (Sub filter, zlib level 1) took ~0.2 s per overlay, a large part of a small
// slide's scoring time. Every row is Sub-filtered (as OpenCV's default) and deflated by libdeflate at level
// 1: about twice as fast, files about the same size.
std::vector<std::uint8_t> encode_png(const cv::Mat& rgb, double mpp_um) {
  if (rgb.empty()) return {};
  if (rgb.depth() != CV_8U || (rgb.channels() != 3 && rgb.channels() != 1))
    return encode_with_opencv(rgb, mpp_um);
  const int bpp = rgb.channels();
  const std::size_t row_bytes = static_cast<std::size_t>(rgb.cols) * bpp;
  std::vector<std::uint8_t> filtered((row_bytes + 1) * static_cast<std::size_t>(rgb.rows));
  for (int y = 0; y < rgb.rows; ++y) {
    std::uint8_t* d = filtered.data() + (row_bytes + 1) * static_cast<std::size_t>(y);
    const std::uint8_t* p = rgb.ptr<std::uint8_t>(y);
    d[0] = 1;  // Sub: each byte minus the same channel of the pixel to its left
    for (int i = 0; i < bpp; ++i) d[1 + i] = p[i];
    for (std::size_t i = static_cast<std::size_t>(bpp); i < row_bytes; ++i) {
      d[1 + i] = static_cast<std::uint8_t>(p[i] - p[i - static_cast<std::size_t>(bpp)]);
    }
  }
  std::unique_ptr<libdeflate_compressor, void (*)(libdeflate_compressor*)> compressor(
      libdeflate_alloc_compressor(1), libdeflate_free_compressor);
  if (!compressor) return {};
  std::vector<std::uint8_t> z(libdeflate_zlib_compress_bound(compressor.get(), filtered.size()));
  const std::size_t z_size =
      libdeflate_zlib_compress(compressor.get(), filtered.data(), filtered.size(), z.data(), z.size());
  if (z_size == 0) return {};

  std::vector<std::uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  png.reserve(z_size + 128);
  std::vector<std::uint8_t> ihdr;
  put_be32(ihdr, static_cast<std::uint32_t>(rgb.cols));
  put_be32(ihdr, static_cast<std::uint32_t>(rgb.rows));
  ihdr.insert(ihdr.end(), {8, static_cast<std::uint8_t>(bpp == 3 ? 2 : 0), 0, 0, 0});  // 8 bit, RGB or grey
  put_chunk(png, "IHDR", ihdr.data(), ihdr.size());
  put_phys(png, mpp_um);
  constexpr std::size_t kMaxChunk = 1u << 30;
  for (std::size_t at = 0; at < z_size; at += kMaxChunk) {
    put_chunk(png, "IDAT", z.data() + at, std::min(kMaxChunk, z_size - at));
  }
  put_chunk(png, "IEND", nullptr, 0);
  return png;
}

void save_png(const std::filesystem::path& path, const cv::Mat& rgb, double mpp_um) {
  const auto png = encode_png(rgb, mpp_um);
  if (png.empty()) throw FileError(path, "PNG encoding failed");
  write_file_atomic(path, std::string_view(reinterpret_cast<const char*>(png.data()), png.size()));
}

}  // namespace ihc
