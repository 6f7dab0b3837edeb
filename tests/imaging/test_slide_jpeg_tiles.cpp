// Tiled-JPEG TIFF back-end: the OME-TIFF crops OpenSlide 3.4 and libtiff refuse, the strict JPEG decoder, and
// a libtiff-written tiled JPEG TIFF (abbreviated tiles + JPEGTables) checked against OpenSlide's reading.
#include "imaging/slide_jpeg_tiles.hpp"

#include <sys/stat.h>

#include <gtest/gtest.h>
#include <tiffio.h>

#include <fstream>
#include <iterator>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <thread>

#include "imaging/slide_openslide.hpp"
#include "support/test_support.hpp"

namespace ihc {
namespace {

cv::Mat read_png_rgb(const std::filesystem::path& path) {
  cv::Mat bgr = cv::imread(path.string(), cv::IMREAD_COLOR);
  cv::Mat rgb;
  if (!bgr.empty()) cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

struct DiffStats {
  double max = 0;
  double mean = 0;
};
DiffStats diff_stats(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat diff;
  cv::absdiff(a, b, diff);
  DiffStats s;
  cv::minMaxLoc(diff.reshape(1), nullptr, &s.max);
  s.mean = cv::mean(diff.reshape(1))[0];
  return s;
}

void expect_matches_decoded_png(const char* ome, const char* png, cv::Size size, double mpp_x, double mpp_y) {
  bool ome_ok = false, png_ok = false;
  const auto ome_path = test::shared_data(ome, &ome_ok);
  const auto png_path = test::shared_data(png, &png_ok);
  if (!ome_ok || !png_ok) {
    if (std::getenv("CI") != nullptr) FAIL() << "shared test data missing (CI is set): " << ome_path;
    GTEST_SKIP() << "shared test data missing: " << ome_path;
  }
  auto slide = open_jpeg_tiled_tiff(ome_path, {});
  ASSERT_NE(slide, nullptr);
  const SlideInfo& info = slide->info();
  EXPECT_EQ(info.backend, "jpeg-tiles-tiff");
  EXPECT_EQ(info.format, "ome-tiff");
  EXPECT_EQ(info.level_sizes, (std::vector<cv::Size>{size}));
  EXPECT_NEAR(info.mpp_x, mpp_x, 1e-4);
  EXPECT_NEAR(info.mpp_y, mpp_y, 1e-4);
  EXPECT_EQ(info.mpp_source, "ome.PhysicalSizeX");
  EXPECT_EQ(info.properties.at("jpeg-tiles.tile-width"), "512");
  EXPECT_TRUE(info.warnings.empty());

  const cv::Mat expected = read_png_rgb(png_path);
  ASSERT_EQ(expected.size(), size);
  const cv::Mat whole = slide->read_level(0);
  const DiffStats whole_diff = diff_stats(whole, expected);
  // Same libjpeg decoding of the same tiles: identical, allowing one level of IDCT rounding.
  EXPECT_LE(whole_diff.max, 1.0);
  EXPECT_LT(whole_diff.mean, 0.01);

  // A region across four tiles and past the right/bottom edges: image pixels where they exist, white beyond.
  const int x = size.width - 300, y = size.height - 200;
  const cv::Mat region = slide->read_region(x, y, 0, 700, 600);
  EXPECT_LE(diff_stats(region(cv::Rect(0, 0, 300, 200)), expected(cv::Rect(x, y, 300, 200))).max, 1.0);
  EXPECT_EQ(cv::countNonZero(region(cv::Rect(300, 0, 400, 600)).reshape(1) != 255), 0);
  EXPECT_EQ(cv::countNonZero(region(cv::Rect(0, 200, 700, 400)).reshape(1) != 255), 0);
  const cv::Mat straddle = slide->read_region(400, 400, 0, 300, 300);  // corners of tiles 0, 1, 5, 6
  EXPECT_LE(diff_stats(straddle, expected(cv::Rect(400, 400, 300, 300))).max, 1.0);
}

// Called on its own (not through open_slide), the back-end still refuses a named pipe rather than letting
// libtiff open it for reading, which waits for a writer.
TEST(JpegTiledTiff, ANamedPipeIsRefusedWithoutWaiting) {
  const auto pipe = test::temp_dir("open_jpeg_tiled_tiff_fifo") / "pipe.tif";
  ASSERT_EQ(::mkfifo(pipe.c_str(), 0600), 0);
  const std::string error = test::without_waiting_on(
      pipe, [&] { return test::thrown_by<SlideError>([&] { open_jpeg_tiled_tiff(pipe, {}); }); });
  EXPECT_EQ(error, pipe.string() + ": is not a regular file");
}

TEST(JpegTiledTiff, OmeNdpiCropMatchesDecodedPng) {
  expect_matches_decoded_png("qupath-2022-cell-detection/images/OS-2-ndpi.ome.tif",
                             "qupath-2022-cell-detection/derived/OS-2-ndpi.decoded.png", {2202, 2202}, 0.2271,
                             0.2271);
}

TEST(JpegTiledTiff, OmeVsiCropMatchesDecodedPng) {
  expect_matches_decoded_png("qupath-2022-cell-detection/images/OS-2-vsi.ome.tif",
                             "qupath-2022-cell-detection/derived/OS-2-vsi.decoded.png", {1445, 1445}, 0.3461,
                             0.3461);
}

TEST(JpegTiledTiff, ConcurrentReadsMatchSequentialReads) {
  IHC_REQUIRE_SHARED(path, "qupath-2022-cell-detection/images/OS-2-ndpi.ome.tif");
  auto reference = open_jpeg_tiled_tiff(path, {});
  auto slide = open_jpeg_tiled_tiff(path, {});  // fresh cache: threads race to decode the same tiles
  ASSERT_NE(slide, nullptr);
  constexpr int kTiles = 32;
  auto origin = [](int i) { return cv::Point((i * 331) % 1900, (i * 577) % 1900); };
  std::vector<cv::Mat> got(kTiles);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kTiles; i += 4) got[i] = slide->read_region(origin(i).x, origin(i).y, 0, 300, 300);
    });
  }
  for (auto& thread : threads) thread.join();
  for (int i = 0; i < kTiles; ++i) {
    const cv::Mat expected = reference->read_region(origin(i).x, origin(i).y, 0, 300, 300);
    EXPECT_EQ(cv::norm(expected, got[i], cv::NORM_INF), 0.0) << "tile " << i;
  }
}

TEST(JpegTiledTiff, OtherFilesAreNotClaimed) {
  IHC_REQUIRE_SHARED(strip, "histolab/kidney-48-5.tif");                        // strip TIFF
  IHC_REQUIRE_SHARED(png, "openslide-python-fixtures/boxes.png");               // not a TIFF
  IHC_REQUIRE_SHARED(unopenable, "openslide-python-fixtures/unopenable.tiff");  // compression 52479
  EXPECT_EQ(open_jpeg_tiled_tiff(strip, {}), nullptr);
  EXPECT_EQ(open_jpeg_tiled_tiff(png, {}), nullptr);
  EXPECT_EQ(open_jpeg_tiled_tiff(unopenable, {}), nullptr);
}

TEST(ParseOmePixels, ReadsPhysicalSizesOfTheFirstPixelsElement) {
  const std::string xml =
      "<?xml version=\"1.0\"?><OME><Image ID=\"Image:0\"><Pixels BigEndian=\"true\" PhysicalSizeX=\"0.25\" "
      "PhysicalSizeXUnit=\"nm\" PhysicalSizeY=\"0.5\" SizeX=\"10\"><Channel/></Pixels></Image>"
      "<Image><Pixels PhysicalSizeX=\"9\"></Pixels></Image></OME>";
  const auto props = parse_ome_pixels(xml);
  EXPECT_EQ(props, (std::map<std::string, std::string>{{"ome.PhysicalSizeX", "0.25"},
                                                       {"ome.PhysicalSizeXUnit", "nm"},
                                                       {"ome.PhysicalSizeY", "0.5"}}));
  EXPECT_TRUE(parse_ome_pixels("<Pixels PhysicalSizeX=\"1\">").empty());  // not OME-XML
}

TEST(DecodeJpeg, TruncatedStreamIsAnErrorNotGreyPixels) {
  cv::Mat image(64, 96, CV_8UC3);
  cv::randu(image, 0, 255);
  std::vector<std::uint8_t> bytes;
  cv::imencode(".jpg", image, bytes);
  JpegHeader header;
  const cv::Mat full = decode_jpeg(bytes.data(), bytes.size(), {}, &header);
  EXPECT_EQ(full.size(), cv::Size(96, 64));
  EXPECT_EQ(header.width, 96);
  EXPECT_TRUE(header.jfif);
  try {
    decode_jpeg(bytes.data(), bytes.size() / 2, {});
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "Premature end of JPEG file");
  }
  JpegDecodeOptions small;
  small.max_pixels = 1000;
  try {
    decode_jpeg(bytes.data(), bytes.size(), small);
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(
        e.what(),
        "image is 96 x 64 pixels, above the 1000-pixel limit for a plain image; convert it to a tiled "
        "pyramidal TIFF, e.g. `vips tiffsave in.jpg out.tif --tile --pyramid --compression jpeg`");
  }
  const std::uint8_t garbage[] = {0xFF, 0xD8, 0xFF, 0x00, 0x01};
  EXPECT_THROW(decode_jpeg(garbage, sizeof(garbage), {}), std::runtime_error);
}

// libtiff writes JPEG tiles as abbreviated streams with shared JPEGTables: the splice path. OpenSlide reads
// such a file too, so the two readers must agree.
TEST(JpegTiledTiff, LibtiffWrittenTilesWithJpegTablesMatchOpenSlide) {
  const auto dir = test::temp_dir("jpeg_tiles_tables");
  const auto path = dir / "tiled.tif";
  cv::Mat rgb(150, 200, CV_8UC3);
  for (int y = 0; y < rgb.rows; ++y) {
    for (int x = 0; x < rgb.cols; ++x) {
      rgb.at<cv::Vec3b>(y, x) =
          cv::Vec3b(static_cast<uchar>(x), static_cast<uchar>(y + 50), (x / 32 + y / 32) % 2 ? 200 : 40);
    }
  }
  {
    TIFF* tif = TIFFOpen(path.c_str(), "w");
    ASSERT_NE(tif, nullptr);
    TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, rgb.cols);
    TIFFSetField(tif, TIFFTAG_IMAGELENGTH, rgb.rows);
    TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, 3);
    TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, 8);
    TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_RGB);
    TIFFSetField(tif, TIFFTAG_COMPRESSION, COMPRESSION_JPEG);
    TIFFSetField(tif, TIFFTAG_JPEGQUALITY, 95);
    TIFFSetField(tif, TIFFTAG_TILEWIDTH, 64);
    TIFFSetField(tif, TIFFTAG_TILELENGTH, 64);
    TIFFSetField(tif, TIFFTAG_RESOLUTIONUNIT, RESUNIT_CENTIMETER);
    TIFFSetField(tif, TIFFTAG_XRESOLUTION, 40000.0f);
    TIFFSetField(tif, TIFFTAG_YRESOLUTION, 40000.0f);
    std::vector<std::uint8_t> tile(64 * 64 * 3);
    for (int ty = 0; ty < rgb.rows; ty += 64) {
      for (int tx = 0; tx < rgb.cols; tx += 64) {
        std::fill(tile.begin(), tile.end(), 255);
        for (int y = 0; y < 64 && ty + y < rgb.rows; ++y) {
          for (int x = 0; x < 64 && tx + x < rgb.cols; ++x) {
            const auto& p = rgb.at<cv::Vec3b>(ty + y, tx + x);
            std::copy(p.val, p.val + 3, tile.data() + (y * 64 + x) * 3);
          }
        }
        ASSERT_GT(TIFFWriteTile(tif, tile.data(), tx, ty, 0, 0), 0);
      }
    }
    TIFFClose(tif);
  }
  auto ours = open_jpeg_tiled_tiff(path, {});
  ASSERT_NE(ours, nullptr);
  EXPECT_EQ(ours->info().format, "tiff");
  EXPECT_NEAR(ours->info().mpp_x, 0.25, 1e-9);
  EXPECT_EQ(ours->info().mpp_source, "tiff.XResolution (px/cm)");
  auto openslide = open_with_openslide(path, {});
  ASSERT_NE(openslide, nullptr);
  const cv::Mat a = ours->read_region(-5, 7, 0, 210, 150);
  const cv::Mat b = openslide->read_region(-5, 7, 0, 210, 150);
  const DiffStats stats = diff_stats(a, b);
  EXPECT_LE(stats.max, 2.0);
  // And both are the image that was written (JPEG quality 95).
  EXPECT_LT(diff_stats(ours->read_level(0), rgb).mean, 3.0);
}

}  // namespace
}  // namespace ihc
