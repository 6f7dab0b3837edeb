#pragma once
// Streaming writer of a pyramidal, tiled, JPEG-compressed TIFF in Aperio SVS layout: level 0 tiled in the
// first directory, then each reduced level (downsample 4) tiled in its own directory. Rows arrive top to
// bottom; level 0 is written tile row by tile row and each completed tile row is averaged 4x4 into the next
// level's row buffer, so memory holds a few tile rows per level plus the compressed tiles of the reduced
// levels (about 1/15 of the compressed level 0), never the image.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <opencv2/core.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace ihc {

// what() is "<path>: <reason>".
class TiffWriteError : public std::runtime_error {
 public:
  TiffWriteError(const std::filesystem::path& path, const std::string& reason);
};

struct PyramidTiffOptions {
  int tile_size = 256;       // multiple of 16 (TIFF rule)
  int jpeg_quality = 90;     // 1..100
  int downsample = 4;        // between levels, as Aperio
  int min_level_size = 512;  // a reduced level is added while its larger side is at least this
  // ImageDescription of each level, given its index and size; empty = no description.
  std::function<std::string(int level, cv::Size size)> description;
  double mpp = 0.0;  // > 0: also written as XResolution/YResolution in pixels per centimetre
};

// Level sizes the writer will produce for a level-0 size (level 0 first).
std::vector<cv::Size> pyramid_level_sizes(cv::Size level0, const PyramidTiffOptions& options);

// Encodes one RGB (CV_8UC3, channel 0 = red) image as a baseline JPEG (YCbCr 4:2:0). Throws
// std::runtime_error when libjpeg fails.
std::vector<std::uint8_t> encode_jpeg_rgb(const cv::Mat& rgb, int quality);

class PyramidTiffWriter {
 public:
  // Writes to a temporary file beside `path`; finish() renames it into place, so a failed or abandoned write
  // never leaves a partial slide under `path`. Throws TiffWriteError.
  PyramidTiffWriter(std::filesystem::path path, cv::Size size, PyramidTiffOptions options);
  ~PyramidTiffWriter();
  PyramidTiffWriter(const PyramidTiffWriter&) = delete;
  PyramidTiffWriter& operator=(const PyramidTiffWriter&) = delete;

  // Appends the next rows of level 0: CV_8UC3 RGB, exactly size.width wide, any number of rows.
  void write_rows(const cv::Mat& rgb);
  // All rows must have been written. Writes the reduced levels and renames the file into place.
  void finish();

  const std::vector<cv::Size>& level_sizes() const { return sizes_; }
  std::int64_t rows_written() const { return rows_written_; }

 private:
  struct Level;
  void push_rows(int level, const cv::Mat& rows);
  void flush_tile_row(int level);
  void fail(const std::string& reason);

  std::filesystem::path path_;
  std::filesystem::path temp_path_;
  cv::Size size_;
  PyramidTiffOptions options_;
  std::vector<cv::Size> sizes_;
  std::vector<std::unique_ptr<Level>> levels_;
  void* tiff_ = nullptr;  // TIFF*, kept out of the header
  std::int64_t rows_written_ = 0;
  bool finished_ = false;
};

}  // namespace ihc
