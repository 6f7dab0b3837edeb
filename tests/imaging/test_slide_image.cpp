// Plain-image back-end: PNG/JPEG/TIFF/BMP through OpenCV (JPEG through the strict libjpeg decoder), pixel
// conversions with warnings, resolution tags, lazily built downsampled levels.
#include "imaging/slide_image.hpp"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <future>
#include <iterator>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <thread>

#include "support/test_support.hpp"

namespace ihc {
namespace {

using Strings = std::vector<std::string>;

std::vector<std::uint8_t> read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::filesystem::path& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::string open_error(const std::filesystem::path& path, const OpenOptions& options = {}) {
  try {
    open_with_opencv(path, options);
  } catch (const SlideError& e) {
    return e.what();
  }
  return "(no error)";
}

// PNG chunk CRC (ISO 3309), to insert a pHYs chunk into a PNG OpenCV wrote.
std::uint32_t png_crc(const std::uint8_t* data, std::size_t n) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < n; ++i) {
    c ^= data[i];
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
  }
  return c ^ 0xFFFFFFFFu;
}

void put_be32(std::vector<std::uint8_t>& v, std::uint32_t x) {
  for (int s = 24; s >= 0; s -= 8) v.push_back(static_cast<std::uint8_t>(x >> s));
}

std::vector<std::uint8_t> png_chunk(const std::string& type, const std::vector<std::uint8_t>& data) {
  std::vector<std::uint8_t> chunk;
  put_be32(chunk, static_cast<std::uint32_t>(data.size()));
  chunk.insert(chunk.end(), type.begin(), type.end());
  chunk.insert(chunk.end(), data.begin(), data.end());
  put_be32(chunk, png_crc(chunk.data() + 4, chunk.size() - 4));
  return chunk;
}

cv::Mat bgr_pattern(int w, int h) {
  cv::Mat bgr(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) bgr.at<cv::Vec3b>(y, x) = cv::Vec3b(x % 256, y % 256, (x + y) % 256);
  }
  return bgr;
}

// Called on its own (not through open_slide), the back-end still refuses a named pipe rather than letting
// OpenCV open it for reading, which waits for a writer.
TEST(ImageBackend, ANamedPipeIsRefusedWithoutWaiting) {
  const auto pipe = test::temp_dir("open_with_opencv_fifo") / "pipe.tif";
  ASSERT_EQ(::mkfifo(pipe.c_str(), 0600), 0);
  const std::string error = test::without_waiting_on(
      pipe, [&] { return test::thrown_by<SlideError>([&] { open_with_opencv(pipe, {}); }); });
  EXPECT_EQ(error, pipe.string() + ": is not a regular file");
}

TEST(ImageBackend, BoxesPngIsPaletteConvertedToRgb) {
  IHC_REQUIRE_SHARED(path, "openslide-python-fixtures/boxes.png");
  auto slide = open_with_opencv(path, {});
  ASSERT_NE(slide, nullptr);
  const SlideInfo& info = slide->info();
  EXPECT_EQ(info.backend, "opencv");
  EXPECT_EQ(info.format, "png");
  EXPECT_EQ(info.level_sizes, (std::vector<cv::Size>{{300, 250}}));
  EXPECT_EQ(info.warnings, Strings{"palette (indexed-colour) image converted to 8-bit RGB"});
  EXPECT_FALSE(info.has_mpp());
  EXPECT_EQ(info.mpp_source, "none");
  cv::Mat expected = cv::imread(path.string(), cv::IMREAD_COLOR);
  cv::cvtColor(expected, expected, cv::COLOR_BGR2RGB);
  EXPECT_EQ(cv::norm(slide->read_level(0), expected, cv::NORM_INF), 0.0);
}

TEST(ImageBackend, StripTiffOpenSlideRefusesOpensHere) {
  IHC_REQUIRE_SHARED(path, "histolab/kidney-48-5.tif");
  auto slide = open_with_opencv(path, {});
  ASSERT_NE(slide, nullptr);
  EXPECT_EQ(slide->info().format, "tiff");
  EXPECT_EQ(slide->info().level_sizes, (std::vector<cv::Size>{{1493, 901}}));
  const cv::Mat rgb = slide->read_level(0);
  cv::Mat expected = cv::imread(path.string(), cv::IMREAD_COLOR);
  cv::cvtColor(expected, expected, cv::COLOR_BGR2RGB);
  EXPECT_EQ(cv::norm(rgb, expected, cv::NORM_INF), 0.0);
  // Mostly background with one tissue fragment (MANIFEST): some pixels clearly darker than the background.
  cv::Mat gray;
  cv::cvtColor(rgb, gray, cv::COLOR_RGB2GRAY);
  EXPECT_GT(cv::mean(gray)[0], 200.0);
  EXPECT_GT(cv::countNonZero(gray < 180), 100);
}

// A phone or camera photograph stores the sensor's grid and an Exif rotation that photo viewers apply.
// Coordinates are in the stored grid: say so, rather than leave points drawn in a viewer silently rotated.
TEST(ImageBackend, AJpegsExifRotationIsNamedAndNotApplied) {
  const auto dir = test::temp_dir("image_exif");
  const cv::Mat img(40, 60, CV_8UC3, cv::Scalar(40, 80, 140));
  ASSERT_TRUE(cv::imwrite((dir / "plain.jpg").string(), img));
  const std::vector<std::uint8_t> plain = read_bytes(dir / "plain.jpg");
  // APP1 "Exif", big-endian TIFF header, IFD0 with one entry: Orientation (0x0112), SHORT, 1, value 6.
  const std::vector<std::uint8_t> app1 = {0xFF, 0xE1, 0x00, 0x22, 'E', 'x', 'i', 'f', 0,    0,    'M', 'M',
                                          0,    42,   0,    0,    0,   8,   0,   1,   0x01, 0x12, 0,   3,
                                          0,    0,    0,    1,    0,   6,   0,   0,   0,    0,    0,   0};
  for (int endian = 0; endian < 2; ++endian) {
    std::vector<std::uint8_t> app = app1;
    if (endian == 1) {  // the same in little-endian ("II"), as most cameras write it
      app = {0xFF, 0xE1, 0x00, 0x22, 'E', 'x', 'i', 'f', 0, 0, 'I', 'I', 42, 0, 8, 0, 0, 0,
             1,    0,    0x12, 0x01, 3,   0,   1,   0,   0, 0, 6,   0,   0,  0, 0, 0, 0, 0};
    }
    std::vector<std::uint8_t> bytes(plain.begin(), plain.begin() + 2);  // SOI
    bytes.insert(bytes.end(), app.begin(), app.end());
    bytes.insert(bytes.end(), plain.begin() + 2, plain.end());
    write_bytes(dir / "rotated.jpg", bytes);
    const auto rotated = open_with_opencv(dir / "rotated.jpg", {});
    ASSERT_NE(rotated, nullptr);
    EXPECT_EQ(rotated->info().level_sizes, (std::vector<cv::Size>{{60, 40}}));  // the stored grid
    EXPECT_EQ(
        rotated->info().warnings,
        (Strings{"Exif orientation 6 (shown rotated 90 degrees clockwise by photo viewers) not applied: "
                 "cells and coordinates are in the stored pixel grid"}))
        << endian;
  }
  EXPECT_TRUE(open_with_opencv(dir / "plain.jpg", {})->info().warnings.empty());
}

// A stack saved as one TIFF (a camera's series): only the first page is decoded; a white first page was
// scored "no tissue found" without a word about the second.
TEST(ImageBackend, AMultiPageTiffSaysOnlyItsFirstPageIsScored) {
  const auto dir = test::temp_dir("image_multipage");
  const cv::Mat white(64, 80, CV_8UC3, cv::Scalar(255, 255, 255));
  const cv::Mat brown(64, 80, CV_8UC3, cv::Scalar(40, 80, 140));
  ASSERT_TRUE(cv::imwritemulti((dir / "stack.tif").string(), std::vector<cv::Mat>{white, brown, brown}));
  ASSERT_TRUE(cv::imwrite((dir / "one.tif").string(), brown));
  const auto stack = open_with_opencv(dir / "stack.tif", {});
  ASSERT_NE(stack, nullptr);
  EXPECT_EQ(stack->info().level_sizes, (std::vector<cv::Size>{{80, 64}}));
  EXPECT_EQ(stack->info().warnings,
            (std::vector<std::string>{
                "the TIFF has 3 pages; only the first is scored (save each page as its own file)"}));
  EXPECT_EQ(cv::mean(stack->read_level(0))[0], 255.0);  // the first page
  EXPECT_TRUE(open_with_opencv(dir / "one.tif", {})->info().warnings.empty());
}

TEST(ImageBackend, GrayscaleSixteenBitAlphaAndFloatBecome8BitRgbWithWarnings) {
  const auto dir = test::temp_dir("slide_image_conversions");
  cv::Mat gray(20, 30, CV_8UC1, cv::Scalar(90));
  ASSERT_TRUE(cv::imwrite((dir / "gray.png").string(), gray));
  cv::Mat deep(20, 30, CV_16UC3, cv::Scalar(257 * 10, 257 * 20, 257 * 30));  // BGR
  deep.at<cv::Vec3w>(19, 29) = cv::Vec3w(65535, 65535, 65535);               // its glass: 16-bit data
  ASSERT_TRUE(cv::imwrite((dir / "deep.png").string(), deep));
  // A camera's 12-bit data in a 16-bit file: 4095 is white.
  cv::Mat twelve(20, 30, CV_16UC3, cv::Scalar(4095 * 10 / 255, 4095 * 20 / 255, 4095 * 30 / 255));
  twelve.at<cv::Vec3w>(19, 29) = cv::Vec3w(4000, 4000, 4000);
  ASSERT_TRUE(cv::imwrite((dir / "twelve.tif").string(), twelve));
  cv::Mat bgra(20, 30, CV_8UC4, cv::Scalar(0, 0, 200, 255));  // opaque red
  bgra.at<cv::Vec4b>(0, 0) = cv::Vec4b(0, 0, 200, 0);         // transparent: white
  bgra.at<cv::Vec4b>(0, 1) = cv::Vec4b(0, 0, 200, 128);       // half: halfway to white
  ASSERT_TRUE(cv::imwrite((dir / "alpha.png").string(), bgra));
  ASSERT_TRUE(
      cv::imwrite((dir / "opaque.png").string(), cv::Mat(20, 30, CV_8UC4, cv::Scalar(0, 0, 200, 255))));
  cv::Mat gray16(20, 30, CV_16UC1, cv::Scalar(65535));
  ASSERT_TRUE(cv::imwrite((dir / "gray16.tif").string(), gray16));
  cv::Mat floats(20, 30, CV_32FC3, cv::Scalar(0.0, 0.5, 1.0));
  ASSERT_TRUE(cv::imwrite((dir / "float.tif").string(), floats));

  auto g = open_with_opencv(dir / "gray.png", {});
  EXPECT_EQ(g->info().warnings, Strings{"grayscale image converted to RGB"});
  EXPECT_EQ(g->read_region(5, 5, 0, 1, 1).at<cv::Vec3b>(0, 0), cv::Vec3b(90, 90, 90));

  auto d = open_with_opencv(dir / "deep.png", {});
  EXPECT_EQ(d->info().warnings, Strings{"16-bit image converted to 8-bit RGB (values divided by 257)"});
  EXPECT_EQ(d->read_region(5, 5, 0, 1, 1).at<cv::Vec3b>(0, 0), cv::Vec3b(30, 20, 10));  // RGB order
  auto t12 = open_with_opencv(dir / "twelve.tif", {});
  EXPECT_EQ(
      t12->info().warnings,
      Strings{"16-bit image holding 12-bit values (at most 4000) converted to 8-bit RGB (4095 is white)"});
  EXPECT_EQ(t12->read_region(5, 5, 0, 1, 1).at<cv::Vec3b>(0, 0), cv::Vec3b(30, 20, 10));

  auto a = open_with_opencv(dir / "alpha.png", {});
  EXPECT_EQ(a->info().warnings, Strings{"alpha channel composited onto white"});
  const cv::Mat px = a->read_region(0, 0, 0, 3, 1);
  EXPECT_EQ(px.at<cv::Vec3b>(0, 0), cv::Vec3b(255, 255, 255));
  EXPECT_EQ(px.at<cv::Vec3b>(0, 1), cv::Vec3b(227, 127, 127));  // (200*128 + 255*127) / 255 = 227.4
  EXPECT_EQ(px.at<cv::Vec3b>(0, 2), cv::Vec3b(200, 0, 0));
  // An alpha channel that is opaque everywhere (a screenshot; OpenCV's decode of a CMYK TIFF) is no news.
  auto opaque = open_with_opencv(dir / "opaque.png", {});
  EXPECT_EQ(opaque->info().warnings, Strings{});
  EXPECT_EQ(opaque->read_region(0, 0, 0, 1, 1).at<cv::Vec3b>(0, 0), cv::Vec3b(200, 0, 0));

  auto g16 = open_with_opencv(dir / "gray16.tif", {});
  EXPECT_EQ(g16->info().format, "tiff");
  EXPECT_EQ(g16->info().warnings, (Strings{"16-bit image converted to 8-bit RGB (values divided by 257)",
                                           "grayscale image converted to RGB"}));
  EXPECT_EQ(g16->read_region(0, 0, 0, 1, 1).at<cv::Vec3b>(0, 0), cv::Vec3b(255, 255, 255));

  auto f = open_with_opencv(dir / "float.tif", {});
  EXPECT_EQ(f->info().warnings,
            Strings{"floating-point image converted to 8-bit RGB (0..1 scaled to 0..255)"});
  const cv::Vec3b fp = f->read_region(0, 0, 0, 1, 1).at<cv::Vec3b>(0, 0);  // OpenCV's float TIFF is lossy
  EXPECT_EQ(fp[0], 255);
  EXPECT_NEAR(fp[1], 127.5, 1.0);
  EXPECT_EQ(fp[2], 0);
}

// A decode handed over (std::move) is converted within its own pixels, to save a whole-image copy of a large
// PNG; the pixels must be exactly those of the copying conversion, alpha compositing included.
TEST(ImageBackend, ConversionWithinTheDecodedPixelsEqualsTheCopyingOne) {
  cv::RNG rng(7);
  for (const int channels : {3, 4}) {
    cv::Mat decoded(131, 97, CV_8UC(channels));  // rows not a multiple of the 64-row strips
    rng.fill(decoded, cv::RNG::UNIFORM, 0, 256);
    if (channels == 4) {
      std::vector<cv::Mat> planes;
      cv::split(decoded, planes);
      planes[3].rowRange(0, 40).setTo(255);  // opaque rows beside partly transparent ones
      cv::merge(planes, decoded);
    }
    const cv::Mat kept = decoded.clone();
    Strings copied_warnings, own_warnings;
    const cv::Mat copied = opencv_image_to_rgb8(kept, &copied_warnings);  // `kept` stays: the copying path
    const cv::Mat own = opencv_image_to_rgb8(std::move(decoded), &own_warnings);
    ASSERT_EQ(own.type(), CV_8UC3);
    ASSERT_EQ(own.size(), copied.size());
    EXPECT_EQ(cv::norm(own, copied, cv::NORM_INF), 0.0) << channels << " channels";
    EXPECT_EQ(own_warnings, copied_warnings);
    EXPECT_EQ(own.at<cv::Vec3b>(0, 0)[0], kept.at<cv::Vec4b>(0, 0)[2] * (channels == 4) +
                                              kept.at<cv::Vec3b>(0, 0)[2] * (channels == 3));  // BGR -> RGB
  }
}

// BMP and WebP are sized from their headers, so a large one waits for its place (or is refused) before it
// is decoded: bottom-up and top-down BMP, lossy, lossless and extended WebP.
TEST(ImageBackend, BmpAndWebpSizesAreReadFromTheHeader) {
  const cv::Mat img = bgr_pattern(53, 37);
  std::vector<std::uint8_t> bytes;
  ASSERT_TRUE(cv::imencode(".bmp", img, bytes));
  EXPECT_EQ(bmp_webp_size(bytes), cv::Size(53, 37));
  const std::int32_t top_down = -37;
  std::memcpy(bytes.data() + 22, &top_down, 4);
  EXPECT_EQ(bmp_webp_size(bytes), cv::Size(53, 37));
  if (cv::haveImageWriter(".webp")) {
    ASSERT_TRUE(cv::imencode(".webp", img, bytes, {cv::IMWRITE_WEBP_QUALITY, 80}));
    EXPECT_EQ(bmp_webp_size(bytes), cv::Size(53, 37));
    ASSERT_TRUE(cv::imencode(".webp", img, bytes, {cv::IMWRITE_WEBP_QUALITY, 101}));  // lossless
    EXPECT_EQ(std::string(bytes.begin() + 12, bytes.begin() + 16), "VP8L");
    EXPECT_EQ(bmp_webp_size(bytes), cv::Size(53, 37));
    cv::Mat bgra;
    cv::cvtColor(img, bgra, cv::COLOR_BGR2BGRA);
    ASSERT_TRUE(cv::imencode(".webp", bgra, bytes, {cv::IMWRITE_WEBP_QUALITY, 80}));
    EXPECT_EQ(bmp_webp_size(bytes), cv::Size(53, 37));
  }
  EXPECT_EQ(bmp_webp_size({'B', 'M', 0, 0}), cv::Size());  // cut short
  ASSERT_TRUE(cv::imencode(".png", img, bytes));
  EXPECT_EQ(bmp_webp_size(bytes), cv::Size());
}

// A BMP whose header states more pixels than a plain image may have is refused before OpenCV decodes it.
TEST(ImageBackend, AnOversizedBmpIsRefusedFromItsHeader) {
  std::vector<std::uint8_t> bytes;
  ASSERT_TRUE(cv::imencode(".bmp", bgr_pattern(8, 8), bytes));
  const std::int32_t side = 100000;
  std::memcpy(bytes.data() + 18, &side, 4);
  std::memcpy(bytes.data() + 22, &side, 4);
  const auto path = test::temp_dir("bmp_header_size") / "huge.bmp";
  write_bytes(path, bytes);
  EXPECT_EQ(open_error(path),
            path.string() + ": image is 100000 x 100000 pixels, above the " +
                std::to_string(kMaxPlainImagePixels) +
                "-pixel limit for a plain image; convert it to a tiled pyramidal TIFF, e.g. "
                "`vips tiffsave in.bmp out.tif --tile --pyramid --compression jpeg`");
}

// The memory gate of a batch: a large plain image waits until the slide another thread has open is closed,
// then goes on; a small one does not wait; and a wait gives up when the batch is interrupted (Ctrl-C), rather
// than decoding an image nobody wants any more.
TEST(SlideMemoryGate, ALargeImageWaitsForOtherSlidesAndGivesUpWhenInterrupted) {
  std::atomic<bool> cancel{false};
  set_slide_memory_policy({.alone_bytes = 300, .cancel = &cancel});
  // Another batch thread with a slide open until `close` is set (a live thread: ids of ended ones are
  // reused).
  const auto other_thread = [](std::promise<void>& opened, const std::shared_future<void>& close) {
    return std::thread([&opened, close] {
      auto hold = hold_slide_memory();
      opened.set_value();
      close.wait();
    });
  };
  EXPECT_EQ(hold_plain_image_memory(99), nullptr);  // under alone_bytes / 3 pixels: no place of its own

  std::promise<void> opened;
  std::promise<void> close;
  std::thread other = other_thread(opened, close.get_future().share());
  opened.get_future().wait();
  auto waiter = std::async(std::launch::async, [] { return hold_plain_image_memory(100) != nullptr; });
  EXPECT_EQ(waiter.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  close.set_value();  // the other thread's slide is closed
  other.join();
  ASSERT_EQ(waiter.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  EXPECT_TRUE(waiter.get());

  std::promise<void> opened2;
  std::promise<void> close2;
  other = other_thread(opened2, close2.get_future().share());
  opened2.get_future().wait();
  auto interrupted = std::async(std::launch::async, [] { hold_plain_image_memory(100); });
  EXPECT_EQ(interrupted.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  cancel = true;
  ASSERT_EQ(interrupted.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  EXPECT_THROW(interrupted.get(), std::runtime_error);
  close2.set_value();
  other.join();
  set_slide_memory_policy({});
}

// A large JPEG waits for its place in memory before it is decoded, so its size comes from the frame header:
// baseline and progressive, after an Exif block; nothing for a file without a frame before its scan.
TEST(ImageBackend, JpegFramePixelsAreReadFromTheHeader) {
  const cv::Mat img(37, 53, CV_8UC3, cv::Scalar(10, 120, 200));
  std::vector<std::uint8_t> jpeg;
  ASSERT_TRUE(cv::imencode(".jpg", img, jpeg));
  EXPECT_EQ(jpeg_frame_pixels(jpeg), 37 * 53);
  ASSERT_TRUE(cv::imencode(".jpg", img, jpeg, {cv::IMWRITE_JPEG_PROGRESSIVE, 1}));
  EXPECT_EQ(jpeg_frame_pixels(jpeg), 37 * 53);
  // An APP1 segment of 300 bytes before the frame.
  std::vector<std::uint8_t> app1{0xFF, 0xE1, 0x01, 0x2C};
  app1.resize(2 + 300, 0x45);
  jpeg.insert(jpeg.begin() + 2, app1.begin(), app1.end());
  EXPECT_EQ(jpeg_frame_pixels(jpeg), 37 * 53);
  EXPECT_EQ(jpeg_frame_pixels({0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02}), 0);  // a scan before any frame
  EXPECT_EQ(jpeg_frame_pixels({0xFF, 0xD8, 0xFF}), 0);                    // cut short
}

TEST(ImageBackend, ResolutionFromTiffTagsPngPhysAndJfifDensity) {
  const auto dir = test::temp_dir("slide_image_resolution");
  const cv::Mat bgr = bgr_pattern(40, 30);
  ASSERT_TRUE(
      cv::imwrite((dir / "cm.tif").string(), bgr,
                  {cv::IMWRITE_TIFF_RESUNIT, 3, cv::IMWRITE_TIFF_XDPI, 20000, cv::IMWRITE_TIFF_YDPI, 20000}));
  ASSERT_TRUE(cv::imwrite(
      (dir / "inch.tif").string(), bgr,
      {cv::IMWRITE_TIFF_RESUNIT, 2, cv::IMWRITE_TIFF_XDPI, 101600, cv::IMWRITE_TIFF_YDPI, 101600}));
  ASSERT_TRUE(
      cv::imwrite((dir / "dpi72.tif").string(), bgr,
                  {cv::IMWRITE_TIFF_RESUNIT, 2, cv::IMWRITE_TIFF_XDPI, 72, cv::IMWRITE_TIFF_YDPI, 72}));

  auto cm = open_with_opencv(dir / "cm.tif", {});
  EXPECT_DOUBLE_EQ(cm->info().mpp_x, 0.5);
  EXPECT_EQ(cm->info().mpp_source, "tiff.XResolution (px/cm)");
  auto inch = open_with_opencv(dir / "inch.tif", {});
  EXPECT_DOUBLE_EQ(inch->info().mpp_x, 0.25);
  EXPECT_EQ(inch->info().mpp_source, "tiff.XResolution (px/inch)");
  OpenOptions override_options;
  override_options.mpp_override = 0.3;
  auto dpi72 = open_with_opencv(dir / "dpi72.tif", override_options);
  EXPECT_DOUBLE_EQ(dpi72->info().mpp_x,
                   0.3);  // the 72 dpi default is no resolution: the user's value is used
  EXPECT_EQ(dpi72->info().mpp_source, "--mpp");
  EXPECT_EQ(
      dpi72->info().warnings,
      Strings{"tiff.XResolution 72 px/inch gives 352.778 um/px, not a microscope scale (a print/screen dpi "
              "default): ignored"});

  // PNG: a pHYs chunk of 2,000,000 px/m right after IHDR (8-byte signature + 25-byte IHDR chunk).
  std::vector<std::uint8_t> png;
  ASSERT_TRUE(cv::imencode(".png", bgr, png));
  std::vector<std::uint8_t> phys;
  put_be32(phys, 2000000);
  put_be32(phys, 4000000);
  phys.push_back(1);
  const auto chunk = png_chunk("pHYs", phys);
  png.insert(png.begin() + 33, chunk.begin(), chunk.end());
  write_bytes(dir / "phys.png", png);
  auto p = open_with_opencv(dir / "phys.png", {});
  EXPECT_DOUBLE_EQ(p->info().mpp_x, 0.5);
  EXPECT_DOUBLE_EQ(p->info().mpp_y, 0.25);
  EXPECT_EQ(p->info().mpp_source, "png.pHYs (px/m)");
  cv::Mat expected_rgb;
  cv::cvtColor(bgr, expected_rgb, cv::COLOR_BGR2RGB);
  EXPECT_EQ(cv::norm(p->read_level(0), expected_rgb, cv::NORM_INF), 0.0);  // RGB, not BGR

  // JPEG: JFIF APP0 at offset 2; units byte at 13, densities at 14 and 16 (big-endian).
  std::vector<std::uint8_t> jpg;
  ASSERT_TRUE(cv::imencode(".jpg", bgr, jpg));
  ASSERT_EQ(std::string(jpg.begin() + 6, jpg.begin() + 10), "JFIF");
  jpg[13] = 2;  // dots per cm
  jpg[14] = 20000 >> 8, jpg[15] = 20000 & 0xFF, jpg[16] = 20000 >> 8, jpg[17] = 20000 & 0xFF;
  write_bytes(dir / "density.jpg", jpg);
  auto j = open_with_opencv(dir / "density.jpg", {});
  EXPECT_EQ(j->info().format, "jpeg");
  EXPECT_DOUBLE_EQ(j->info().mpp_x, 0.5);
  EXPECT_EQ(j->info().mpp_source, "jpeg.JFIF density (px/cm)");

  // Without any resolution, never invented; the user's value when given.
  ASSERT_TRUE(cv::imwrite((dir / "plain.bmp").string(), bgr));
  auto bmp = open_with_opencv(dir / "plain.bmp", {});
  EXPECT_EQ(bmp->info().format, "bmp");
  EXPECT_TRUE(std::isnan(bmp->info().mpp_x));
  EXPECT_EQ(bmp->info().mpp_source, "none");
  EXPECT_EQ(open_with_opencv(dir / "plain.bmp", override_options)->info().mpp_source, "--mpp");
}

TEST(ImageBackend, TruncatedAndOversizedFilesFailWithTheirReason) {
  IHC_REQUIRE_SHARED(jpeg, "SHIDC-B-Ki-67_sample/1.bare_images/Test/p1_0310_8.jpg");
  const auto dir = test::temp_dir("slide_image_bad");
  const auto bytes = read_bytes(jpeg);
  ASSERT_GT(bytes.size(), 1000u);
  write_bytes(dir / "truncated.jpg",
              std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + bytes.size() / 2));
  EXPECT_EQ(open_error(dir / "truncated.jpg"),
            (dir / "truncated.jpg").string() +
                ": cannot decode JPEG: Premature end of JPEG file (the file is truncated)");

  std::vector<std::uint8_t> png;
  ASSERT_TRUE(cv::imencode(".png", bgr_pattern(200, 200), png));
  write_bytes(dir / "truncated.png", std::vector<std::uint8_t>(png.begin(), png.begin() + png.size() / 2));
  // Said before libpng decodes, which printed "libpng error: Read Error" among the progress lines.
  testing::internal::CaptureStderr();
  EXPECT_EQ(open_error(dir / "truncated.png"),
            (dir / "truncated.png").string() + ": the PNG is truncated (it does not end with IEND)");
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
  // Complete but damaged inside: libpng's verdict.
  std::vector<std::uint8_t> damaged = png;
  for (std::size_t i = png.size() / 3; i < png.size() / 2; ++i) damaged[i] ^= 0x5A;
  write_bytes(dir / "damaged.png", damaged);
  EXPECT_EQ(open_error(dir / "damaged.png"),
            (dir / "damaged.png").string() + ": cannot decode PNG image (truncated or corrupt)");

  // A PNG header announcing 20000 x 20000 pixels is refused before any decoding.
  std::vector<std::uint8_t> huge(png.begin(), png.begin() + 8);
  std::vector<std::uint8_t> ihdr;
  put_be32(ihdr, 20000);
  put_be32(ihdr, 20000);
  for (std::uint8_t b : {8, 2, 0, 0, 0}) ihdr.push_back(b);
  const auto chunk = png_chunk("IHDR", ihdr);
  huge.insert(huge.end(), chunk.begin(), chunk.end());
  write_bytes(dir / "huge.png", huge);
  EXPECT_EQ(
      open_error(dir / "huge.png"),
      (dir / "huge.png").string() +
          ": image is 20000 x 20000 pixels, above the 268435456-pixel limit for a plain image; convert it to "
          "a "
          "tiled pyramidal TIFF, e.g. `vips tiffsave in.png out.tif --tile --pyramid --compression jpeg`");

  write_bytes(dir / "notes.txt", {'h', 'i', '\n'});
  EXPECT_EQ(open_with_opencv(dir / "notes.txt", {}), nullptr);  // not an image: not this back-end's file
}

TEST(ImageBackend, LargeImagesGetLazyDownsampledLevels) {
  cv::Mat rgb(3000, 5000, CV_8UC3);
  cv::randu(rgb, 0, 255);
  cv::rectangle(rgb, cv::Rect(1000, 1000, 2000, 1000), cv::Scalar(150, 60, 20), cv::FILLED);
  SlideInfo info;
  info.path = "memory.png";
  auto slide = make_image_slide(rgb, info);
  EXPECT_EQ(slide->info().backend, "memory");
  EXPECT_EQ(slide->info().level_sizes, (std::vector<cv::Size>{{5000, 3000}, {2500, 1500}, {1250, 750}}));
  EXPECT_EQ(slide->info().downsamples, (std::vector<double>{1.0, 2.0, 4.0}));
  EXPECT_EQ(slide->best_level_for_downsample(3.0), 1);

  // Several threads ask for the levels before they exist.
  std::vector<cv::Mat> got(8);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] { got[t] = slide->read_region(1200, 1200, 1 + t % 2, 200, 100); });
  }
  for (auto& thread : threads) thread.join();
  // Level 2 at level-0 (1200,1200) is level pixel (300,300): inside the flat rectangle.
  EXPECT_EQ(got[1].at<cv::Vec3b>(50, 100), cv::Vec3b(150, 60, 20));
  cv::Mat expected_level2;
  cv::resize(rgb, expected_level2, cv::Size(1250, 750), 0, 0, cv::INTER_AREA);
  const cv::Mat level2 = slide->read_level(2);
  cv::Mat diff;
  cv::absdiff(level2, expected_level2, diff);
  double max_diff = 0;
  cv::minMaxLoc(diff.reshape(1), nullptr, &max_diff);
  EXPECT_LE(max_diff, 1.0);  // 2x2 twice vs 4x4 once: rounding only
  for (int t = 0; t < 8; ++t) {
    EXPECT_EQ(cv::norm(got[t], slide->read_region(1200, 1200, 1 + t % 2, 200, 100), cv::NORM_INF), 0.0);
  }
  EXPECT_THROW(make_image_slide(cv::Mat(10, 10, CV_8UC1), info), SlideError);
}

}  // namespace
}  // namespace ihc
