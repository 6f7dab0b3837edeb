#include "imaging/tissue.hpp"

#include <gtest/gtest.h>

#include <iostream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>

#include "imaging/stains.hpp"
#include "support/test_support.hpp"

namespace ihc {
namespace {

cv::Mat load_rgb(const std::filesystem::path& path) {
  cv::Mat bgr = cv::imread(path.string(), cv::IMREAD_COLOR);
  cv::Mat rgb;
  if (!bgr.empty()) cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

std::string error_of(const cv::Mat& img, const TissueParams& p = {}) {
  try {
    detect_tissue(img, p);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "no error";
}

// Glass with camera noise, slightly off-white like a real scan.
cv::Mat glass(int rows, int cols, unsigned seed) {
  cv::Mat img(rows, cols, CV_8UC3);
  cv::Mat noise(rows, cols, CV_16SC3);
  cv::theRNG().state = seed;
  cv::randn(noise, cv::Scalar(0, 0, 0), cv::Scalar(2, 2, 2));
  img.setTo(cv::Scalar(238, 236, 242));
  cv::Mat sum;
  cv::add(img, noise, sum, cv::noArray(), CV_16SC3);
  sum.convertTo(img, CV_8UC3);
  return img;
}

TEST(DetectTissue, BlankImagesGiveAnEmptyMask) {
  for (const cv::Mat& img : {cv::Mat(300, 400, CV_8UC3, cv::Scalar(255, 255, 255)), glass(300, 400, 1)}) {
    const TissueResult t = detect_tissue(img);
    ASSERT_EQ(t.mask.type(), CV_8U);
    ASSERT_EQ(t.mask.size(), img.size());
    EXPECT_EQ(t.area_px, 0);
    EXPECT_EQ(cv::countNonZero(t.mask), 0);
    EXPECT_TRUE(t.boxes.empty());
    EXPECT_GE(t.threshold_od, TissueParams{}.min_threshold_od);
  }
}

TEST(DetectTissue, AlmostWhiteIhcTileIsEmpty) {
  IHC_REQUIRE_SHARED(path, "histolab/almost-white-ihc.png");
  const cv::Mat rgb = load_rgb(path);
  ASSERT_EQ(rgb.size(), cv::Size(30, 50));
  const TissueResult t = detect_tissue(rgb);
  std::cout << "almost-white: otsu " << t.otsu_od << " threshold " << t.threshold_od << "\n";
  EXPECT_EQ(t.area_px, 0);
  EXPECT_TRUE(t.boxes.empty());
}

TEST(DetectTissue, SyntheticFragmentWithLumenAndDust) {
  cv::Mat img = glass(400, 600, 2);
  const StainMatrix m = stain_preset("H-DAB");
  // An elliptic fragment (H + some DAB) with a lumen, a pale band of stroma, two dust specks.
  cv::Mat truth(img.size(), CV_8U, cv::Scalar(0));
  cv::ellipse(truth, cv::Point(250, 200), cv::Size(150, 90), 20, 0, 360, cv::Scalar(255), cv::FILLED);
  cv::Mat lumen(img.size(), CV_8U, cv::Scalar(0));
  cv::circle(lumen, cv::Point(240, 195), 25, cv::Scalar(255), cv::FILLED);
  std::mt19937 rng(4);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int y = 0; y < img.rows; ++y) {
    for (int x = 0; x < img.cols; ++x) {
      if (!truth.at<uint8_t>(y, x) || lumen.at<uint8_t>(y, x)) continue;
      const double h = 0.15 + 0.3 * u(rng), d = 0.4 * u(rng) * u(rng);
      cv::Vec3b& px = img.at<cv::Vec3b>(y, x);
      for (int ch = 0; ch < 3; ++ch) {
        px[ch] = cv::saturate_cast<uint8_t>(
            238.0 * std::pow(10.0, -(h * m.stains[0].rgb[ch] + d * m.stains[1].rgb[ch])));
      }
    }
  }
  // Pale stroma: a coherent band of faint hematoxylin (OD sum about 0.1-0.2 above the glass) joined to it.
  cv::Mat pale(img.size(), CV_8U, cv::Scalar(0));
  cv::rectangle(pale, cv::Rect(380, 150, 120, 100), cv::Scalar(255), cv::FILLED);
  for (int y = 0; y < img.rows; ++y) {
    for (int x = 0; x < img.cols; ++x) {
      if (!pale.at<uint8_t>(y, x) || truth.at<uint8_t>(y, x)) continue;
      const double h = 0.06 + 0.06 * u(rng);
      cv::Vec3b& px = img.at<cv::Vec3b>(y, x);
      for (int ch = 0; ch < 3; ++ch)
        px[ch] = cv::saturate_cast<uint8_t>(px[ch] * std::pow(10.0, -h * m.stains[0].rgb[ch]));
    }
  }
  truth |= pale;
  cv::circle(img, cv::Point(520, 60), 2, cv::Scalar(60, 60, 60), cv::FILLED);   // dust: 13 px
  cv::circle(img, cv::Point(480, 340), 3, cv::Scalar(90, 80, 70), cv::FILLED);  // dust: 29 px
  const TissueResult t = detect_tissue(img);
  std::cout << "synthetic: glass " << t.glass_od << " otsu " << t.otsu_od << " threshold " << t.threshold_od
            << " area " << t.area_px << " truth " << cv::countNonZero(truth) << "\n";
  ASSERT_EQ(t.boxes.size(), 1u);
  const double truth_area = cv::countNonZero(truth);  // lumen filled: it counts as tissue
  EXPECT_NEAR(static_cast<double>(t.area_px), truth_area, 0.03 * truth_area);
  cv::Mat diff;
  cv::bitwise_xor(t.mask, truth, diff);
  EXPECT_LT(cv::countNonZero(diff), 0.05 * truth_area);
  EXPECT_EQ(t.mask.at<uint8_t>(195, 240), 255);  // lumen centre
  EXPECT_EQ(t.mask.at<uint8_t>(60, 520), 0);     // dust
  const cv::Rect expected = cv::boundingRect(truth);
  EXPECT_GT((t.boxes[0] & expected).area(), 0.95 * expected.area());
}

// A field covered with tissue (a camera field, a crop): dense tumour on the left, pale stroma on the right,
// no glass. The lowest mode of the histogram is the stroma; cutting above it (Otsu, or that "glass" peak plus
// the margin) left the stroma out. Given the glass colour, the whole field is tissue, while on a fragment
// surrounded by glass the known colour changes nothing.
TEST(DetectTissue, KnownGlassColourKeepsPaleStromaOfAFieldWithoutGlass) {
  const std::array<double, 3> glass_rgb{238.0, 236.0, 242.0};
  const StainMatrix m = stain_preset("H-DAB");
  cv::Mat img(200, 300, CV_8UC3);
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int y = 0; y < img.rows; ++y) {
    for (int x = 0; x < img.cols; ++x) {
      const bool tumour = x < 120;
      const double h = tumour ? 0.25 + 0.3 * u(rng) : 0.07 + 0.05 * u(rng);
      const double d = tumour ? 0.2 * u(rng) : 0.0;
      cv::Vec3b& px = img.at<cv::Vec3b>(y, x);
      for (int ch = 0; ch < 3; ++ch) {
        px[ch] = cv::saturate_cast<uint8_t>(
            glass_rgb[ch] * std::pow(10.0, -(h * m.stains[0].rgb[ch] + d * m.stains[1].rgb[ch])));
      }
    }
  }
  double glass_od = 0.0;
  for (const double c : glass_rgb) glass_od += std::log10(255.0 / c);
  const TissueResult unknown = detect_tissue(img);
  EXPECT_FALSE(unknown.glass_peak_is_tissue);
  EXPECT_LT(unknown.area_px, 0.7 * static_cast<double>(img.total()));  // the stroma was lost
  TissueParams p;
  p.glass_od = glass_od;
  const TissueResult known = detect_tissue(img, p);
  EXPECT_TRUE(known.glass_peak_is_tissue);
  EXPECT_NEAR(known.threshold_od, glass_od + p.glass_margin_od, 1e-9);
  EXPECT_EQ(known.area_px, static_cast<int64_t>(img.total()));

  // Glass around a fragment: its peak is the glass, and the result is the same with or without the colour.
  cv::Mat on_glass = glass(400, 600, 3);
  img.copyTo(on_glass(cv::Rect(150, 100, 300, 200)));
  const TissueResult a = detect_tissue(on_glass);
  const TissueResult b = detect_tissue(on_glass, p);
  EXPECT_FALSE(b.glass_peak_is_tissue);
  EXPECT_EQ(a.threshold_od, b.threshold_od);
  EXPECT_EQ(cv::countNonZero(a.mask != b.mask), 0);
  EXPECT_NEAR(static_cast<double>(b.area_px), 300.0 * 200.0, 0.05 * 300.0 * 200.0);
}

TEST(DetectTissue, FindsTheFragmentInKidneyOverview) {
  IHC_REQUIRE_SHARED(path, "histolab/kidney-48-5.tif");
  const cv::Mat rgb = load_rgb(path);
  ASSERT_EQ(rgb.size(), cv::Size(1493, 901));
  const TissueResult t = detect_tissue(rgb);
  std::cout << "kidney: glass " << t.glass_od << " otsu " << t.otsu_od << " threshold " << t.threshold_od
            << " area " << t.area_px << " boxes";
  for (const auto& b : t.boxes)
    std::cout << " [" << b.x << "," << b.y << " " << b.width << "x" << b.height << "]";
  std::cout << "\n";
  // The one fragment, located by eye at about x 283-400, y 501-565 (CD3/CD20 IHC, bluish-purple at this
  // size).
  ASSERT_EQ(t.boxes.size(), 1u);
  const cv::Rect by_eye(283, 501, 118, 65);
  EXPECT_GT((t.boxes[0] & by_eye).area(), 0.9 * by_eye.area());
  EXPECT_LT(t.boxes[0].area(), 1.3 * by_eye.area());
  EXPECT_GT(t.area_px, 3500);
  EXPECT_LT(t.area_px, by_eye.area());
  // A grey hair at about (250, 200) passes the OD threshold; only the colour test drops it.
  TissueParams no_colour;
  no_colour.min_colour_deg = 0;
  const TissueResult with_hair = detect_tissue(rgb, no_colour);
  ASSERT_EQ(with_hair.boxes.size(), 2u);
  EXPECT_TRUE(with_hair.boxes[1].contains(cv::Point(265, 205)));
}

TEST(DetectTissue, GreyDebrisIsDroppedColouredTissueKept) {
  cv::Mat img = glass(300, 400, 3);
  const StainMatrix m = stain_preset("H-DAB");
  auto stain_disk = [&](cv::Point c, int r, double h, double d) {
    for (int y = c.y - r; y <= c.y + r; ++y) {
      for (int x = c.x - r; x <= c.x + r; ++x) {
        if ((x - c.x) * (x - c.x) + (y - c.y) * (y - c.y) > r * r) continue;
        cv::Vec3b& px = img.at<cv::Vec3b>(y, x);
        for (int ch = 0; ch < 3; ++ch) {
          px[ch] = cv::saturate_cast<uint8_t>(
              px[ch] * std::pow(10.0, -(h * m.stains[0].rgb[ch] + d * m.stains[1].rgb[ch])));
        }
      }
    }
  };
  stain_disk({80, 80}, 40, 0.0, 0.4);   // DAB only (21 degrees from grey)
  stain_disk({220, 80}, 40, 0.3, 0.3);  // balanced H + DAB (6 degrees from grey)
  // A grey hair: thick dark neutral curve.
  cv::ellipse(img, cv::Point(200, 230), cv::Size(120, 30), 0, 180, 360, cv::Scalar(150, 150, 150), 5);
  const TissueResult t = detect_tissue(img);
  ASSERT_EQ(t.boxes.size(), 2u);
  EXPECT_EQ(t.mask.at<uint8_t>(80, 80), 255);
  EXPECT_EQ(t.mask.at<uint8_t>(80, 220), 255);
  EXPECT_EQ(t.mask.at<uint8_t>(200, 200), 0);  // top of the hair's arc
  TissueParams no_colour;
  no_colour.min_colour_deg = 0;
  const TissueResult with_hair = detect_tissue(img, no_colour);
  EXPECT_EQ(with_hair.boxes.size(), 3u);
  EXPECT_EQ(with_hair.mask.at<uint8_t>(200, 200), 255);
}

TEST(DetectTissue, ExactErrors) {
  EXPECT_EQ(error_of(cv::Mat()), "detect_tissue: the image is empty");
  EXPECT_EQ(error_of(cv::Mat(5, 5, CV_8UC1)),
            "detect_tissue: expected an 8-bit RGB image (CV_8UC3), got type CV_8UC1");
  TissueParams p;
  p.um_per_px = 0;
  EXPECT_EQ(error_of(cv::Mat(5, 5, CV_8UC3), p), "detect_tissue: um_per_px must be positive");
  p = {};
  p.min_threshold_od = 0.8;
  EXPECT_EQ(error_of(cv::Mat(5, 5, CV_8UC3), p),
            "detect_tissue: need 0 < min_threshold_od <= max_threshold_od");
}

}  // namespace
}  // namespace ihc
