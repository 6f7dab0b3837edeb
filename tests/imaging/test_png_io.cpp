#include "imaging/png_io.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "imaging/slide.hpp"
#include "support/test_support.hpp"

namespace ihc {
namespace {

cv::Mat gradient() {
  cv::Mat rgb(20, 30, CV_8UC3);
  rgb.forEach<cv::Vec3b>([](cv::Vec3b& p, const int* pos) {
    p = cv::Vec3b(static_cast<uchar>(pos[1] * 8), static_cast<uchar>(pos[0] * 12), 200);
  });
  return rgb;
}

TEST(PngIo, PixelSizeTravelsInPhysAndPixelsStayRgb) {
  const auto dir = test::temp_dir("png_io");
  const cv::Mat rgb = gradient();
  save_png(dir / "a.png", rgb, 0.5);
  auto slide = open_slide(dir / "a.png");
  ASSERT_TRUE(slide->info().has_mpp());
  EXPECT_NEAR(slide->info().mpp_x, 0.5, 1e-6);
  EXPECT_NEAR(slide->info().mpp_y, 0.5, 1e-6);
  const cv::Mat back = slide->read_region(0, 0, 0, rgb.cols, rgb.rows);
  EXPECT_EQ(cv::norm(back, rgb, cv::NORM_INF), 0.0);
}

TEST(PngIo, UnknownPixelSizeWritesNoPhys) {
  const auto png = encode_png(gradient());
  const std::string bytes(png.begin(), png.end());
  EXPECT_EQ(bytes.find("pHYs"), std::string::npos);
  const auto with = encode_png(gradient(), 0.25);
  EXPECT_NE(std::string(with.begin(), with.end()).find("pHYs"), std::string::npos);
}

TEST(PngIo, UnwritablePathNamesTheFile) {
  const auto dir = test::temp_dir("png_io_bad");
  save_png(dir / "file", gradient());
  try {
    save_png(dir / "file" / "x.png", gradient());
    FAIL();
  } catch (const std::exception& e) {
    const std::string file = (dir / "file").string();
    EXPECT_EQ(std::string(e.what()),
              file + ": cannot create directory: '" + file + "' is a file, not a directory");
  }
}

}  // namespace
}  // namespace ihc
