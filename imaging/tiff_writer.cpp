#include "imaging/tiff_writer.hpp"

#include <fcntl.h>
#include <tiffio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <opencv2/core/utility.hpp>
#include <opencv2/imgproc.hpp>
#include <system_error>

// jpeglib.h needs FILE and size_t declared first.
#include <jpeglib.h>

namespace ihc {
namespace {

struct JpegErrorManager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void jpeg_error_exit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// libtiff reports through global handlers; keep the last message per thread for our exceptions.
thread_local std::string g_tiff_message;

void tiff_error_handler(const char* module, const char* fmt, va_list ap) {
  char buf[512];
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  g_tiff_message = std::string(module != nullptr ? module : "libtiff") + ": " + buf;
}

TIFF* as_tiff(void* p) { return static_cast<TIFF*>(p); }

}  // namespace

TiffWriteError::TiffWriteError(const std::filesystem::path& path, const std::string& reason)
    : std::runtime_error(path.string() + ": " + reason) {}

std::vector<cv::Size> pyramid_level_sizes(cv::Size level0, const PyramidTiffOptions& options) {
  std::vector<cv::Size> sizes{level0};
  const int d = std::max(2, options.downsample);
  while (true) {
    const cv::Size& s = sizes.back();
    const cv::Size next((s.width + d - 1) / d, (s.height + d - 1) / d);
    if (std::max(next.width, next.height) < options.min_level_size) break;
    sizes.push_back(next);
  }
  return sizes;
}

std::vector<std::uint8_t> encode_jpeg_rgb(const cv::Mat& rgb, int quality) {
  if (rgb.type() != CV_8UC3 || rgb.empty()) {
    throw std::runtime_error("JPEG encoding needs a non-empty 8-bit RGB image");
  }
  jpeg_compress_struct cinfo;
  JpegErrorManager err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = jpeg_error_exit;
  unsigned char* buffer = nullptr;
  unsigned long buffer_size = 0;
  if (setjmp(err.jump) != 0) {
    jpeg_destroy_compress(&cinfo);
    std::free(buffer);
    throw std::runtime_error(std::string("JPEG encoding failed: ") + err.message);
  }
  jpeg_create_compress(&cinfo);
  jpeg_mem_dest(&cinfo, &buffer, &buffer_size);
  cinfo.image_width = static_cast<JDIMENSION>(rgb.cols);
  cinfo.image_height = static_cast<JDIMENSION>(rgb.rows);
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&cinfo);  // YCbCr with 2x2 chroma subsampling, matching YCbCrSubsampling = 2 2
  jpeg_set_quality(&cinfo, std::clamp(quality, 1, 100), TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(rgb.ptr<unsigned char>(static_cast<int>(cinfo.next_scanline)));
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::vector<std::uint8_t> out(buffer, buffer + buffer_size);
  std::free(buffer);
  return out;
}

struct PyramidTiffWriter::Level {
  cv::Size size;
  int tiles_x = 0;
  int tiles_y = 0;
  cv::Mat buffer;  // tile_size rows, tiles_x * tile_size columns: one tile row with padding
  int rows_in_buffer = 0;
  int tile_row = 0;
  std::int64_t rows_received = 0;
  std::vector<std::vector<std::uint8_t>> tiles;  // compressed tiles of a reduced level, row-major
};

PyramidTiffWriter::PyramidTiffWriter(std::filesystem::path path, cv::Size size, PyramidTiffOptions options)
    : path_(std::move(path)), size_(size), options_(std::move(options)) {
  if (size_.width <= 0 || size_.height <= 0) {
    throw TiffWriteError(path_, "image size " + std::to_string(size_.width) + "x" +
                                    std::to_string(size_.height) + " is empty");
  }
  if (options_.tile_size < 16 || options_.tile_size % 16 != 0) {
    throw TiffWriteError(
        path_, "tile size " + std::to_string(options_.tile_size) + " is not a positive multiple of 16");
  }
  if (options_.jpeg_quality < 1 || options_.jpeg_quality > 100) {
    throw TiffWriteError(path_,
                         "JPEG quality " + std::to_string(options_.jpeg_quality) + " is outside 1..100");
  }
  if (options_.tile_size % options_.downsample != 0) {
    throw TiffWriteError(path_, "tile size must be a multiple of the downsample");
  }
  sizes_ = pyramid_level_sizes(size_, options_);
  const int t = options_.tile_size;
  for (const cv::Size& s : sizes_) {
    auto level = std::make_unique<Level>();
    level->size = s;
    level->tiles_x = (s.width + t - 1) / t;
    level->tiles_y = (s.height + t - 1) / t;
    level->buffer.create(t, level->tiles_x * t, CV_8UC3);
    levels_.push_back(std::move(level));
  }
  std::error_code ec;
  const auto parent = path_.parent_path();
  if (!parent.empty() && !std::filesystem::is_directory(parent, ec)) {
    throw TiffWriteError(path_, "directory '" + parent.string() + "' does not exist");
  }
  temp_path_ = path_;
  temp_path_ += ".tmp-" + std::to_string(::getpid());
  TIFFSetErrorHandler(tiff_error_handler);
  TIFFSetWarningHandler(nullptr);
  // Classic TIFF holds 4 GB; JPEG tiles rarely exceed 1 bit per pixel, so switch to BigTIFF only for huge
  // slides (OpenSlide reads both).
  const double raw_bytes = 3.0 * size_.width * static_cast<double>(size_.height);
  const char* mode = raw_bytes > 6e9 ? "w8" : "w";
  g_tiff_message.clear();
  TIFF* tif = TIFFOpen(temp_path_.c_str(), mode);
  if (tif == nullptr) {
    throw TiffWriteError(path_, "cannot create '" + temp_path_.string() +
                                    "': " + (g_tiff_message.empty() ? std::strerror(errno) : g_tiff_message));
  }
  tiff_ = tif;
}

PyramidTiffWriter::~PyramidTiffWriter() {
  if (tiff_ != nullptr) TIFFClose(as_tiff(tiff_));
  if (!finished_ && !temp_path_.empty()) {
    std::error_code ec;
    std::filesystem::remove(temp_path_, ec);
  }
}

void PyramidTiffWriter::fail(const std::string& reason) {
  std::string message = reason;
  if (!g_tiff_message.empty()) message += " (" + g_tiff_message + ")";
  if (tiff_ != nullptr) {
    TIFFClose(as_tiff(tiff_));
    tiff_ = nullptr;
  }
  std::error_code ec;
  std::filesystem::remove(temp_path_, ec);
  finished_ = true;  // nothing left to clean up
  throw TiffWriteError(path_, message);
}

namespace {

void set_level_fields(TIFF* tif, int level, cv::Size size, const PyramidTiffOptions& o, double downsample) {
  TIFFSetField(tif, TIFFTAG_SUBFILETYPE, level == 0 ? 0 : FILETYPE_REDUCEDIMAGE);
  TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, static_cast<std::uint32_t>(size.width));
  TIFFSetField(tif, TIFFTAG_IMAGELENGTH, static_cast<std::uint32_t>(size.height));
  TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, 8);
  TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, 3);
  TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
  TIFFSetField(tif, TIFFTAG_TILEWIDTH, static_cast<std::uint32_t>(o.tile_size));
  TIFFSetField(tif, TIFFTAG_TILELENGTH, static_cast<std::uint32_t>(o.tile_size));
  TIFFSetField(tif, TIFFTAG_COMPRESSION, COMPRESSION_JPEG);
  TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_YCBCR);
  TIFFSetField(tif, TIFFTAG_YCBCRSUBSAMPLING, 2, 2);
  TIFFSetField(tif, TIFFTAG_SOFTWARE, "ihcscore synth");
  if (o.description) {
    const std::string text = o.description(level, size);
    if (!text.empty()) TIFFSetField(tif, TIFFTAG_IMAGEDESCRIPTION, text.c_str());
  }
  if (o.mpp > 0) {
    const double px_per_cm = 1e4 / (o.mpp * downsample);
    TIFFSetField(tif, TIFFTAG_RESOLUTIONUNIT, RESUNIT_CENTIMETER);
    TIFFSetField(tif, TIFFTAG_XRESOLUTION, static_cast<float>(px_per_cm));
    TIFFSetField(tif, TIFFTAG_YRESOLUTION, static_cast<float>(px_per_cm));
  }
}

}  // namespace

void PyramidTiffWriter::write_rows(const cv::Mat& rgb) {
  if (finished_) throw TiffWriteError(path_, "write_rows after finish");
  if (rgb.type() != CV_8UC3 || rgb.cols != size_.width) {
    throw TiffWriteError(path_, "rows must be 8-bit RGB and " + std::to_string(size_.width) +
                                    " pixels wide, got " + std::to_string(rgb.cols) + " pixels of type " +
                                    cv::typeToString(rgb.type()));
  }
  if (rows_written_ + rgb.rows > size_.height) {
    throw TiffWriteError(path_, "more rows than the image height " + std::to_string(size_.height));
  }
  if (rows_written_ == 0 && rgb.rows > 0) {
    set_level_fields(as_tiff(tiff_), 0, size_, options_, 1.0);
  }
  push_rows(0, rgb);
  rows_written_ += rgb.rows;
}

void PyramidTiffWriter::push_rows(int level_index, const cv::Mat& rows) {
  Level& level = *levels_[level_index];
  const int t = options_.tile_size;
  int done = 0;
  while (done < rows.rows) {
    const int n = std::min(rows.rows - done, t - level.rows_in_buffer);
    rows.rowRange(done, done + n)
        .copyTo(level.buffer(cv::Rect(0, level.rows_in_buffer, level.size.width, n)));
    level.rows_in_buffer += n;
    level.rows_received += n;
    done += n;
    if (level.rows_in_buffer == t || level.rows_received == level.size.height) flush_tile_row(level_index);
  }
}

void PyramidTiffWriter::flush_tile_row(int level_index) {
  Level& level = *levels_[level_index];
  const int t = options_.tile_size;
  const int rows = level.rows_in_buffer;
  const int width = level.size.width;
  cv::Mat& buf = level.buffer;
  // Pad the partial tiles at the right and bottom edges by replicating the last column / row.
  if (buf.cols > width) {
    cv::Mat last = buf(cv::Rect(width - 1, 0, 1, rows));
    for (int x = width; x < buf.cols; ++x) last.copyTo(buf(cv::Rect(x, 0, 1, rows)));
  }
  for (int y = rows; y < t; ++y) buf.row(rows - 1).copyTo(buf.row(y));

  std::vector<std::vector<std::uint8_t>> encoded(level.tiles_x);
  std::atomic<bool> failed{false};
  std::string error;
  cv::parallel_for_(cv::Range(0, level.tiles_x), [&](const cv::Range& r) {
    for (int i = r.start; i < r.end; ++i) {
      try {
        encoded[i] = encode_jpeg_rgb(buf(cv::Rect(i * t, 0, t, t)), options_.jpeg_quality);
      } catch (const std::exception& e) {
        if (!failed.exchange(true)) error = e.what();
      }
    }
  });
  if (failed) fail(error);
  if (level_index == 0) {
    TIFF* tif = as_tiff(tiff_);
    for (int i = 0; i < level.tiles_x; ++i) {
      const ttile_t tile = TIFFComputeTile(tif, static_cast<std::uint32_t>(i * t),
                                           static_cast<std::uint32_t>(level.tile_row * t), 0, 0);
      if (TIFFWriteRawTile(tif, tile, encoded[i].data(), static_cast<tmsize_t>(encoded[i].size())) < 0) {
        fail("cannot write tile " + std::to_string(i) + "," + std::to_string(level.tile_row) + " of level 0");
      }
    }
  } else {
    for (auto& e : encoded) level.tiles.push_back(std::move(e));
  }
  ++level.tile_row;

  if (level_index + 1 < static_cast<int>(levels_.size())) {
    // 4x4 box average into the next level; odd edges are padded by replication so the scale is exact.
    const int d = options_.downsample;
    const int pw = (width + d - 1) / d * d;  // <= buffer width: tile size is a multiple of d
    const int ph = (rows + d - 1) / d * d;
    const cv::Mat src = buf(cv::Rect(0, 0, pw, ph));
    cv::Mat reduced;
    cv::resize(src, reduced, cv::Size(pw / d, ph / d), 0, 0, cv::INTER_AREA);
    level.rows_in_buffer = 0;
    push_rows(level_index + 1, reduced);
  } else {
    level.rows_in_buffer = 0;
  }
}

void PyramidTiffWriter::finish() {
  if (finished_) throw TiffWriteError(path_, "finish called twice");
  if (rows_written_ != size_.height) {
    fail("only " + std::to_string(rows_written_) + " of " + std::to_string(size_.height) +
         " rows were written");
  }
  TIFF* tif = as_tiff(tiff_);
  if (!TIFFWriteDirectory(tif)) fail("cannot write the directory of level 0");
  for (std::size_t k = 1; k < levels_.size(); ++k) {
    Level& level = *levels_[k];
    const double downsample = static_cast<double>(size_.width) / level.size.width;
    set_level_fields(tif, static_cast<int>(k), level.size, options_, downsample);
    const int t = options_.tile_size;
    for (int ty = 0; ty < level.tiles_y; ++ty) {
      for (int tx = 0; tx < level.tiles_x; ++tx) {
        auto& data = level.tiles[static_cast<std::size_t>(ty) * level.tiles_x + tx];
        const ttile_t tile = TIFFComputeTile(tif, static_cast<std::uint32_t>(tx * t),
                                             static_cast<std::uint32_t>(ty * t), 0, 0);
        if (TIFFWriteRawTile(tif, tile, data.data(), static_cast<tmsize_t>(data.size())) < 0) {
          fail("cannot write a tile of level " + std::to_string(k));
        }
        std::vector<std::uint8_t>().swap(data);
      }
    }
    if (!TIFFWriteDirectory(tif)) fail("cannot write the directory of level " + std::to_string(k));
  }
  TIFFClose(tif);
  tiff_ = nullptr;
  // Data on disk before the rename, so a crash never leaves a truncated slide under the final name.
  const int fd = ::open(temp_path_.c_str(), O_RDONLY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  std::error_code ec;
  std::filesystem::rename(temp_path_, path_, ec);
  if (ec) fail("cannot rename '" + temp_path_.string() + "' into place: " + ec.message());
  finished_ = true;
}

}  // namespace ihc
