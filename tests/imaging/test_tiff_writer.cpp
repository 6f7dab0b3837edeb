#include "imaging/tiff_writer.hpp"

#include <gtest/gtest.h>
#include <tiffio.h>

#include <cmath>
#include <opencv2/imgproc.hpp>

#include "support/test_support.hpp"

namespace ihc {
namespace {

// A smooth colour pattern with some detail, so JPEG errors stay small and misplaced tiles show.
cv::Mat pattern(int w, int h) {
  cv::Mat rgb(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      rgb.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uchar>(x * 255 / w), static_cast<uchar>(y * 255 / h),
                                          static_cast<uchar>(128 + 100 * std::sin(x / 60.0 + y / 80.0)));
    }
  }
  return rgb;
}

struct Directory {
  std::uint32_t width = 0, height = 0, tile_w = 0, tile_h = 0;
  std::uint16_t compression = 0, photometric = 0;
  std::string description;
  cv::Mat rgb;
};

std::vector<Directory> read_all(const std::filesystem::path& path) {
  std::vector<Directory> out;
  TIFF* tif = TIFFOpen(path.c_str(), "r");
  if (tif == nullptr) return out;
  do {
    Directory d;
    TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &d.width);
    TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &d.height);
    TIFFGetField(tif, TIFFTAG_TILEWIDTH, &d.tile_w);
    TIFFGetField(tif, TIFFTAG_TILELENGTH, &d.tile_h);
    TIFFGetField(tif, TIFFTAG_COMPRESSION, &d.compression);
    TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &d.photometric);
    char* desc = nullptr;
    if (TIFFGetField(tif, TIFFTAG_IMAGEDESCRIPTION, &desc) && desc != nullptr) d.description = desc;
    std::vector<std::uint32_t> raster(static_cast<std::size_t>(d.width) * d.height);
    if (TIFFReadRGBAImageOriented(tif, d.width, d.height, raster.data(), ORIENTATION_TOPLEFT, 0)) {
      d.rgb.create(static_cast<int>(d.height), static_cast<int>(d.width), CV_8UC3);
      for (std::size_t i = 0; i < raster.size(); ++i) {
        d.rgb.at<cv::Vec3b>(static_cast<int>(i / d.width), static_cast<int>(i % d.width)) =
            cv::Vec3b(TIFFGetR(raster[i]), TIFFGetG(raster[i]), TIFFGetB(raster[i]));
      }
    }
    out.push_back(std::move(d));
  } while (TIFFReadDirectory(tif));
  TIFFClose(tif);
  return out;
}

TEST(TiffWriter, LevelSizesDivideByFourUntilTooSmall) {
  PyramidTiffOptions o;
  const auto sizes = pyramid_level_sizes({40000, 30000}, o);
  ASSERT_EQ(sizes.size(), 4u);
  EXPECT_EQ(sizes[1], cv::Size(10000, 7500));
  EXPECT_EQ(sizes[2], cv::Size(2500, 1875));
  EXPECT_EQ(sizes[3], cv::Size(625, 469));
  EXPECT_EQ(pyramid_level_sizes({1000, 1000}, o).size(), 1u);
}

TEST(TiffWriter, StreamedRowsMakeATiledJpegPyramid) {
  const auto dir = test::temp_dir("tiff_writer_pyramid");
  const auto path = dir / "p.tif";
  const cv::Mat img = pattern(1000, 700);  // not a multiple of the tile size or of 4
  PyramidTiffOptions o;
  o.tile_size = 128;
  o.min_level_size = 60;
  o.jpeg_quality = 95;
  o.mpp = 0.5;
  o.description = [](int level, cv::Size s) {
    return "level " + std::to_string(level) + " " + std::to_string(s.width) + "x" + std::to_string(s.height);
  };
  {
    PyramidTiffWriter w(path, img.size(), o);
    for (int y = 0; y < img.rows; y += 37) w.write_rows(img.rowRange(y, std::min(img.rows, y + 37)));
    EXPECT_FALSE(std::filesystem::exists(path)) << "visible before finish";
    w.finish();
    EXPECT_EQ(w.level_sizes().size(), 3u);
  }
  const auto dirs = read_all(path);
  ASSERT_EQ(dirs.size(), 3u);
  const cv::Size sizes[3] = {{1000, 700}, {250, 175}, {63, 44}};
  cv::Mat expected = img.clone();
  for (int l = 0; l < 3; ++l) {
    const auto& d = dirs[l];
    EXPECT_EQ(d.width, static_cast<std::uint32_t>(sizes[l].width));
    EXPECT_EQ(d.height, static_cast<std::uint32_t>(sizes[l].height));
    EXPECT_EQ(d.tile_w, 128u);
    EXPECT_EQ(d.tile_h, 128u);
    EXPECT_EQ(d.compression, COMPRESSION_JPEG);
    EXPECT_EQ(d.photometric, PHOTOMETRIC_YCBCR);
    EXPECT_EQ(d.description, "level " + std::to_string(l) + " " + std::to_string(sizes[l].width) + "x" +
                                 std::to_string(sizes[l].height));
    ASSERT_FALSE(d.rgb.empty()) << "level " << l << " does not decode";
    if (l > 0) {
      // The 4x4 average of the level above (edges padded by replication).
      cv::Mat padded;
      cv::copyMakeBorder(expected, padded, 0, (4 - expected.rows % 4) % 4, 0, (4 - expected.cols % 4) % 4,
                         cv::BORDER_REPLICATE);
      cv::resize(padded, expected, sizes[l], 0, 0, cv::INTER_AREA);
    }
    cv::Mat diff;
    cv::absdiff(expected, d.rgb, diff);
    EXPECT_LT(cv::mean(diff)[0], 2.0) << "level " << l;
  }
}

TEST(TiffWriter, MissingRowsLeaveNoFileAndSayHowMany) {
  const auto dir = test::temp_dir("tiff_writer_missing");
  const auto path = dir / "p.tif";
  PyramidTiffWriter w(path, {300, 200}, {});
  w.write_rows(pattern(300, 50));
  try {
    w.finish();
    FAIL();
  } catch (const TiffWriteError& e) {
    EXPECT_EQ(std::string(e.what()), path.string() + ": only 50 of 200 rows were written");
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_TRUE(std::filesystem::is_empty(dir)) << "temporary file left behind";
}

TEST(TiffWriter, WrongRowsAndBadOptionsAreRejected) {
  const auto dir = test::temp_dir("tiff_writer_bad");
  const auto path = dir / "p.tif";
  {
    PyramidTiffWriter w(path, {300, 200}, {});
    try {
      w.write_rows(pattern(299, 10));
      FAIL();
    } catch (const TiffWriteError& e) {
      EXPECT_EQ(
          std::string(e.what()),
          path.string() + ": rows must be 8-bit RGB and 300 pixels wide, got 299 pixels of type CV_8UC3");
    }
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir)) << "abandoned writer left a file";
  PyramidTiffOptions o;
  o.tile_size = 100;
  try {
    PyramidTiffWriter w(path, {300, 200}, o);
    FAIL();
  } catch (const TiffWriteError& e) {
    EXPECT_EQ(std::string(e.what()), path.string() + ": tile size 100 is not a positive multiple of 16");
  }
  const auto nowhere = dir / "missing" / "p.tif";
  try {
    PyramidTiffWriter w(nowhere, {300, 200}, {});
    FAIL();
  } catch (const TiffWriteError& e) {
    EXPECT_EQ(std::string(e.what()),
              nowhere.string() + ": directory '" + (dir / "missing").string() + "' does not exist");
  }
}

TEST(TiffWriter, JpegEncoderMakesADecodableStream) {
  const auto bytes = encode_jpeg_rgb(pattern(64, 48), 90);
  ASSERT_GT(bytes.size(), 100u);
  EXPECT_EQ(bytes[0], 0xFF);
  EXPECT_EQ(bytes[1], 0xD8);  // SOI
  EXPECT_EQ(bytes[bytes.size() - 2], 0xFF);
  EXPECT_EQ(bytes[bytes.size() - 1], 0xD9);  // EOI
}

}  // namespace
}  // namespace ihc
