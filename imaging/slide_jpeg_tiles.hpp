#pragma once
// Tiled-JPEG TIFF back-end for files libtiff and OpenSlide 3.4 refuse, such as the OME-TIFF crops QuPath /
// Bio-Formats write with 2x2 chroma-subsampled JPEG tiles under Photometric=RGB ("JPEGPreDecode: Improper
// JPEG sampling factors"). libtiff only gives the tile offsets; each tile is decoded as a standalone JPEG
// stream. Also the strict JPEG decoder and libtiff summary used by the plain-image back-end.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "imaging/slide.hpp"

namespace ihc {

struct JpegHeader {
  int width = 0;
  int height = 0;
  int components = 0;
  bool grayscale = false;
  bool jfif = false;     // has a JFIF (APP0) marker
  int density_unit = 0;  // JFIF: 0 = aspect ratio only, 1 = dots per inch, 2 = dots per cm
  int density_x = 0;
  int density_y = 0;
  int exif_orientation =
      0;  // Exif Orientation 1-8 (1 = as stored; 6 = shown rotated 90 degrees clockwise); 0 = none
};

struct JpegDecodeOptions {
  std::int64_t max_pixels = 1LL << 28;
  // TIFF Photometric=RGB: a stream with neither JFIF nor Adobe marker holds RGB, not YCbCr.
  bool unmarked_is_rgb = false;
};

// Decodes one complete JPEG stream to CV_8UC3 RGB (grayscale expanded). Truncated or corrupt data throws
// std::runtime_error with libjpeg's message (a truncated file is an error, never grey-filled pixels);
// harmless libjpeg warnings go to `warnings`.
cv::Mat decode_jpeg(const std::uint8_t* data, std::size_t size, const JpegDecodeOptions& options,
                    JpegHeader* header = nullptr, std::vector<std::string>* warnings = nullptr);

// First directory of a TIFF read with libtiff, errors captured per handle (never printed).
struct TiffSummary {
  bool opened = false;
  std::string error;  // libtiff's first error when !opened
  int width = 0;
  int height = 0;
  int bits_per_sample = 0;
  int samples_per_pixel = 0;
  int sample_format = 1;  // 1 uint, 2 int, 3 float
  int photometric = -1;
  int compression = 1;
  bool codec_configured = true;
  bool tiled = false;
  std::uint64_t data_end = 0;  // end of the last strip/tile: above file_size means the file is truncated
  std::uint64_t file_size = 0;
  int pages = 1;  // full-resolution directories (reduced-resolution ones are levels of the page before)
  std::map<std::string, std::string>
      properties;  // OpenSlide's names: tiff.XResolution, tiff.ResolutionUnit...
};
TiffSummary read_tiff_summary(const std::filesystem::path& path);
std::string truncated_tiff_reason(std::uint64_t data_end, std::uint64_t file_size);

// nullptr unless the file is a TIFF whose first directory is tiled, JPEG-compressed, 8-bit; SlideError when
// it is such a TIFF but its tiles cannot be read. Levels: the first directory and its SubIFDs (OME pyramids).
// OME-XML PhysicalSizeX/Y in ImageDescription become the properties ome.PhysicalSizeX/Y(+Unit).
std::unique_ptr<Slide> open_jpeg_tiled_tiff(const std::filesystem::path& path, const OpenOptions& options);

// Attributes of the first OME <Pixels> element (PhysicalSizeX, PhysicalSizeXUnit, ...) as ome.<name>.
std::map<std::string, std::string> parse_ome_pixels(const std::string& image_description);

}  // namespace ihc
