#include "imaging/stains.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>

#include "support/test_support.hpp"

namespace ihc {
namespace {

// Ruifrok & Johnston (2001) H, E and DAB vectors as in scikit-image's colorconv.py (rgb_from_hed).
const StainVector kRuifrokH{"Hematoxylin", {0.65, 0.70, 0.29}};
const StainVector kRuifrokE{"Eosin", {0.07, 0.99, 0.11}};
const StainVector kRuifrokDab{"DAB", {0.27, 0.57, 0.78}};

double len(const std::array<double, 3>& v) { return std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]); }

StainMatrix ruifrok_hed() { return StainMatrix::from_vectors("H-E-DAB", kRuifrokH, kRuifrokE, &kRuifrokDab); }

std::string error_of(std::string_view text) {
  try {
    parse_qupath_string(text);
  } catch (const StainError& e) {
    return e.what();
  }
  return "no error";
}

// scikit-image's rgb2hed (0.19.3): max(0, (-log10(v / 255) / 6) @ hed_from_rgb), where hed_from_rgb is the
// inverse of the UNnormalised matrix. Ours uses unit vectors, so concentrations scale by the vector length.
cv::Mat as_skimage(const cv::Mat& ours, const StainVector& raw) {
  cv::Mat out = ours / (6.0 * len(raw.rgb));
  return cv::max(out, 0.0);
}

cv::Mat load_rgb(const std::filesystem::path& path) {
  cv::Mat bgr = cv::imread(path.string(), cv::IMREAD_COLOR);
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

double correlation(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat fa, fb;
  a.convertTo(fa, CV_64F);
  b.convertTo(fb, CV_64F);
  fa -= cv::mean(fa)[0];
  fb -= cv::mean(fb)[0];
  return fa.dot(fb) / std::sqrt(fa.dot(fa) * fb.dot(fb));
}

double box_mean(const cv::Mat& plane, int x, int y, int w, int h) {
  return cv::mean(plane(cv::Rect(x, y, w, h)))[0];
}

TEST(StainMatrix, NormalisesVectorsAndBuildsQuPathResidual) {
  const StainMatrix m = stain_preset("H-DAB");
  EXPECT_EQ(m.name, "H-DAB default");
  EXPECT_EQ(m.stains[0].name, "Hematoxylin");
  EXPECT_EQ(m.stains[1].name, "DAB");
  EXPECT_EQ(m.stains[2].name, "Residual");
  for (const auto& s : m.stains) EXPECT_NEAR(len(s.rgb), 1.0, 1e-12);
  // QuPath: residual = cross(H, DAB) normalised (numpy: 0.6330421 -0.71286149 0.3018049); green is negative.
  EXPECT_NEAR(m.stains[2].rgb[0], 0.6330421, 1e-6);
  EXPECT_NEAR(m.stains[2].rgb[1], -0.71286149, 1e-6);
  EXPECT_NEAR(m.stains[2].rgb[2], 0.3018049, 1e-6);
  const double dot_h = m.stains[2].rgb[0] * m.stains[0].rgb[0] + m.stains[2].rgb[1] * m.stains[0].rgb[1] +
                       m.stains[2].rgb[2] * m.stains[0].rgb[2];
  EXPECT_NEAR(dot_h, 0.0, 1e-12);
}

TEST(StainMatrix, RuifrokInverseMatchesScikitImage) {
  // scikit-image 0.19.3 skimage/color/colorconv.py: hed_from_rgb = linalg.inv(rgb_from_hed), printed values
  // (also the constants widely copied from its documentation).
  const double hed_from_rgb[3][3] = {{1.87798274, -1.00767869, -0.55611582},
                                     {-0.06590806, 1.13473037, -0.1355218},
                                     {-0.60190736, -0.48041419, 1.57358807}};
  const StainMatrix m = ruifrok_hed();
  const StainVector* raw[3] = {&kRuifrokH, &kRuifrokE, &kRuifrokDab};
  // skimage: c_row = od_row @ hed_from_rgb with unnormalised rows; ours: c = inverse * od with unit rows, so
  // inverse[k][ch] = |v_k| * hed_from_rgb[ch][k].
  for (int k = 0; k < 3; ++k) {
    for (int ch = 0; ch < 3; ++ch) {
      EXPECT_NEAR(m.inverse[k * 3 + ch] / len(raw[k]->rgb), hed_from_rgb[ch][k], 1e-7) << k << "," << ch;
    }
  }
}

TEST(StainMatrix, HDabRuifrokMatchesScikitImageHdx) {
  // scikit-image 0.19.3 hdx_from_rgb (printed with numpy): columns H, DAB, X where X = cross(H, DAB)
  // unnormalised.
  const double hdx_from_rgb[3][3] = {{1.2001370153, -0.6897672021, 1.0560538666},
                                     {0.6852333816, 0.0236099087, -1.1785755564},
                                     {-0.9178089531, 1.5095360338, 0.5009866378}};
  const std::array<double, 3> h{0.650, 0.704, 0.286};
  const std::array<double, 3> d{0.268, 0.570, 0.776};
  const std::array<double, 3> x{h[1] * d[2] - h[2] * d[1], h[2] * d[0] - h[0] * d[2],
                                h[0] * d[1] - h[1] * d[0]};
  const double lengths[3] = {len(h), len(d), len(x)};
  const StainMatrix m = stain_preset("H-DAB Ruifrok");
  for (int k = 0; k < 3; ++k) {
    for (int ch = 0; ch < 3; ++ch) {
      EXPECT_NEAR(m.inverse[k * 3 + ch] / lengths[k], hdx_from_rgb[ch][k], 1e-8) << k << "," << ch;
    }
  }
}

TEST(StainMatrix, RejectsDegenerateVectors) {
  const StainVector h{"Hematoxylin", {0.65, 0.70, 0.29}};
  try {
    StainMatrix::from_vectors("x", h, StainVector{"DAB", {0, 0, 0}});
    FAIL();
  } catch (const StainError& e) {
    EXPECT_STREQ(e.what(), "stain vector 'DAB' has zero length");
  }
  try {
    StainMatrix::from_vectors("x", h, StainVector{"DAB", {1.3, 1.4, 0.58}});
    FAIL();
  } catch (const StainError& e) {
    EXPECT_STREQ(e.what(), "stain vectors 'Hematoxylin' and 'DAB' are parallel");
  }
  const StainVector d{"DAB", {0.27, 0.57, 0.78}};
  const StainVector mix{"Mix", {0.92, 1.27, 1.07}};  // H + DAB: in their plane
  try {
    StainMatrix::from_vectors("x", h, d, &mix);
    FAIL();
  } catch (const StainError& e) {
    EXPECT_STREQ(e.what(), "stain vectors 'Hematoxylin', 'DAB' and 'Mix' are linearly dependent");
  }
  try {
    StainMatrix::from_vectors("x", h, d, nullptr, {255, 0, 255});
    FAIL();
  } catch (const StainError& e) {
    EXPECT_STREQ(e.what(), "background value 0 is outside (0, 255]");
  }
  try {
    stain_preset("H-DAB2");
    FAIL();
  } catch (const StainError& e) {
    EXPECT_STREQ(e.what(), "unknown stain preset 'H-DAB2' (expected H-DAB, H-DAB Ruifrok or H&E)");
  }
}

TEST(Deconvolve, PureStainPixelsUnmixToThatStainOnly) {
  // A grey pixel (60, 60, 60) under background 60 * 10^(c * s) is exactly stain s at concentration c, so
  // the check is free of 8-bit rounding.
  const double c = 0.4;
  const StainMatrix presets[] = {stain_preset("H-DAB"), stain_preset("H-DAB Ruifrok"), stain_preset("H&E"),
                                 ruifrok_hed()};
  for (const StainMatrix& base : presets) {
    const int n_real = base.stains[2].name == "Residual" ? 2 : 3;
    for (int s = 0; s < n_real; ++s) {
      std::array<double, 3> background{};
      for (int ch = 0; ch < 3; ++ch) background[ch] = 60.0 * std::pow(10.0, c * base.stains[s].rgb[ch]);
      const StainVector* third = n_real == 3 ? &base.stains[2] : nullptr;
      const StainMatrix m =
          StainMatrix::from_vectors(base.name, base.stains[0], base.stains[1], third, background);
      const cv::Mat px(2, 3, CV_8UC3, cv::Scalar(60, 60, 60));
      const DeconvolutionResult r = deconvolve(px, m);
      const cv::Mat* planes[3] = {&r.stain1, &r.stain2, &r.residual};
      for (int k = 0; k < 3; ++k) {
        ASSERT_EQ(planes[k]->type(), CV_32F);
        ASSERT_EQ(planes[k]->size(), px.size());
        EXPECT_NEAR(planes[k]->at<float>(1, 2), k == s ? c : 0.0, 1e-3)
            << base.name << " stain " << s << " k " << k;
      }
    }
  }
}

TEST(Deconvolve, SyntheticRoundTripRecoversDab) {
  // Beer-Lambert composition with random H and DAB amounts; DAB comes back within 5 % wherever the 8-bit
  // pixel was not clamped and the DAB amount is big enough for 8-bit rounding not to dominate.
  const StainMatrix m = stain_preset("H-DAB");
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> amount(0.0, 1.2);
  const int n = 20000;
  cv::Mat rgb(1, n, CV_8UC3);
  std::vector<double> dab(n), hem(n);
  std::vector<bool> clamped(n, false);
  for (int i = 0; i < n; ++i) {
    hem[i] = amount(rng);
    dab[i] = amount(rng);
    for (int ch = 0; ch < 3; ++ch) {
      const double od = hem[i] * m.stains[0].rgb[ch] + dab[i] * m.stains[1].rgb[ch];
      const double v = 255.0 * std::pow(10.0, -od);
      if (v < 1.0) clamped[i] = true;
      rgb.at<cv::Vec3b>(0, i)[ch] = cv::saturate_cast<uint8_t>(v);
    }
  }
  const DeconvolutionResult r = deconvolve(rgb, m);
  int checked = 0;
  double worst = 0.0;
  for (int i = 0; i < n; ++i) {
    if (clamped[i]) continue;
    const double got = r.stain2.at<float>(0, i);
    if (dab[i] >= 0.2) {
      worst = std::max(worst, std::abs(got - dab[i]) / dab[i]);
      ++checked;
    } else {
      EXPECT_NEAR(got, dab[i], 0.01) << i;  // absolute: rounding of a bright pixel is ~0.002 OD
    }
    EXPECT_NEAR(r.stain1.at<float>(0, i), hem[i], std::max(0.05 * hem[i], 0.02)) << i;
  }
  EXPECT_GT(checked, n / 2);
  EXPECT_LE(worst, 0.05);
  std::cout << "worst relative DAB error (amount >= 0.2): " << worst << " over " << checked << " pixels\n";
}

TEST(Deconvolve, UnmixedValuesAreNotClamped) {
  // A pure-red-absorbing pixel is not in the H-DAB plane: DAB must come out negative, visibly.
  const cv::Mat px(1, 1, CV_8UC3, cv::Scalar(40, 230, 240));
  const DeconvolutionResult r = deconvolve(px, stain_preset("H-DAB"));
  EXPECT_LT(r.stain2.at<float>(0, 0), -0.1f);
}

TEST(Deconvolve, OpticalDensityFollowsQuPath) {
  cv::Mat px(1, 4, CV_8UC3);
  px.at<cv::Vec3b>(0, 0) = {255, 255, 255};
  px.at<cv::Vec3b>(0, 1) = {0, 1, 2};
  px.at<cv::Vec3b>(0, 2) = {25, 128, 250};
  px.at<cv::Vec3b>(0, 3) = {250, 250, 250};
  const cv::Mat od = optical_density_sum(px);
  EXPECT_FLOAT_EQ(od.at<float>(0, 0), 0.0f);
  // max(v, 1): 0 and 1 give the same OD.
  EXPECT_NEAR(od.at<float>(0, 1), 2 * std::log10(255.0) + std::log10(255.0 / 2), 1e-5);
  EXPECT_NEAR(od.at<float>(0, 2), std::log10(255.0 / 25) + std::log10(255.0 / 128) + std::log10(255.0 / 250),
              1e-5);
  // Brighter than the background: QuPath floors the OD at 0.
  const cv::Mat od_bg = optical_density_sum(px, {240, 240, 240});
  EXPECT_FLOAT_EQ(od_bg.at<float>(0, 3), 0.0f);
  EXPECT_FLOAT_EQ(od_bg.at<float>(0, 0), 0.0f);
}

TEST(Deconvolve, RejectsWrongImages) {
  try {
    deconvolve(cv::Mat(4, 4, CV_8UC4), stain_preset("H-DAB"));
    FAIL();
  } catch (const StainError& e) {
    EXPECT_STREQ(e.what(), "deconvolve: expected an 8-bit RGB image (CV_8UC3), got type CV_8UC4");
  }
  try {
    optical_density_sum(cv::Mat());
    FAIL();
  } catch (const StainError& e) {
    EXPECT_STREQ(e.what(), "optical_density_sum: the image is empty");
  }
}

TEST(Deconvolve, NonContiguousRoiMatchesCopy) {
  cv::Mat big(64, 64, CV_8UC3);
  cv::randu(big, 0, 256);
  const cv::Mat roi = big(cv::Rect(5, 7, 31, 20));
  const DeconvolutionResult a = deconvolve(roi, stain_preset("H-DAB"));
  const DeconvolutionResult b = deconvolve(roi.clone(), stain_preset("H-DAB"));
  EXPECT_EQ(cv::norm(a.stain2, b.stain2, cv::NORM_INF), 0.0);
  EXPECT_EQ(cv::norm(a.residual, b.residual, cv::NORM_INF), 0.0);
}

TEST(RenderStain, InvertsDeconvolutionForPureStain) {
  const StainMatrix m = stain_preset("H-DAB");
  cv::Mat conc(1, 3, CV_32F);
  conc.at<float>(0, 0) = 0.0f;
  conc.at<float>(0, 1) = 0.5f;
  conc.at<float>(0, 2) = -1.0f;  // negative amounts brighten; saturate at white
  const cv::Mat rgb = render_stain(conc, m.stains[1]);
  ASSERT_EQ(rgb.type(), CV_8UC3);
  EXPECT_EQ(rgb.at<cv::Vec3b>(0, 0), cv::Vec3b(255, 255, 255));
  EXPECT_EQ(rgb.at<cv::Vec3b>(0, 2), cv::Vec3b(255, 255, 255));
  const cv::Vec3b brown = rgb.at<cv::Vec3b>(0, 1);
  for (int ch = 0; ch < 3; ++ch) {
    EXPECT_NEAR(brown[ch], 255.0 * std::pow(10.0, -0.5 * m.stains[1].rgb[ch]), 0.5001) << ch;
  }
  EXPECT_GT(brown[0], brown[2]);  // DAB is brown: red passes, blue is absorbed
  const DeconvolutionResult back = deconvolve(rgb, m);
  EXPECT_NEAR(back.stain2.at<float>(0, 1), 0.5, 0.01);
  EXPECT_NEAR(back.stain1.at<float>(0, 1), 0.0, 0.01);
}

TEST(QuPathString, RoundTripsExactly) {
  const std::string text =
      "{\"Name\" : \"H-DAB default\", \"Stain 1\" : \"Hematoxylin\", \"Values 1\" : \"0.65111 0.70119 "
      "0.29049\", "
      "\"Stain 2\" : \"DAB\", \"Values 2\" : \"0.26917 0.56824 0.77759\", \"Background\" : \" 255 255 255\"}";
  const StainMatrix m = parse_qupath_string(text);
  EXPECT_EQ(m.name, "H-DAB default");
  EXPECT_EQ(m.stains[1].name, "DAB");
  EXPECT_NEAR(m.stains[1].rgb[2], 0.77759, 1e-5);
  EXPECT_EQ(m.stains[2].name, "Residual");
  EXPECT_EQ(to_qupath_string(m), text);
  EXPECT_EQ(to_qupath_string(stain_preset("H-DAB")), text);

  const std::string three =
      "{\"Name\" : \"Custom\", \"Stain 1\" : \"Hematoxylin\", \"Values 1\" : \"0.64431 0.71668 0.26688\", "
      "\"Stain 2\" : \"DAB\", \"Values 2\" : \"0.26815 0.57038 0.77638\", \"Stain 3\" : \"Eosin\", "
      "\"Values 3\" : \"0.09283 0.95424 0.28427\", \"Background\" : \" 241 238.5 250\"}";
  const StainMatrix m3 = parse_qupath_string(three);
  EXPECT_EQ(m3.stains[2].name, "Eosin");
  EXPECT_DOUBLE_EQ(m3.background[1], 238.5);
  EXPECT_EQ(to_qupath_string(m3), three);
}

TEST(QuPathString, EscapesNames) {
  const StainMatrix m = StainMatrix::from_vectors("Lab \"B\" \\ v2", {"Hematoxylin", {0.65, 0.70, 0.29}},
                                                  {"DAB", {0.27, 0.57, 0.78}});
  const StainMatrix back = parse_qupath_string(to_qupath_string(m));
  EXPECT_EQ(back.name, "Lab \"B\" \\ v2");
}

TEST(QuPathString, AcceptsQuPathVariants) {
  // QuPath writes trailing spaces in some scripts and tolerates brackets and commas.
  const StainMatrix m = parse_qupath_string(
      "{\"Name\" : \"H&E default\", \"Stain 1\" : \"Hematoxylin\", \"Values 1\" : \"0.65111 0.70119 0.29049 "
      "\", "
      "\"Stain 2\" : \"Eosin\", \"Values 2\" : \"[0.2159, 0.8012, 0.5581]\", \"Background\" : \" 255 255 255 "
      "\"}");
  EXPECT_EQ(m.stains[1].name, "Eosin");
  EXPECT_NEAR(m.stains[1].rgb[1], 0.8012, 1e-4);
}

TEST(QuPathString, ExactErrorsForBadStrings) {
  EXPECT_EQ(error_of("Name: H-DAB"), "stain string is not valid JSON");
  EXPECT_EQ(error_of("[1, 2]"), "stain string is not a JSON object");
  EXPECT_EQ(error_of(R"({"Name" : "x", "Stain 1" : "Hematoxylin", "Values 1" : "0.65 0.70 0.29"})"),
            "stain string has no \"Stain 2\"");
  EXPECT_EQ(
      error_of(R"({"Stain 1" : "H", "Values 1" : "0.65 0.70", "Stain 2" : "DAB", "Values 2" : "1 1 1"})"),
      "stain string: \"Values 1\" must hold 3 numbers, got \"0.65 0.70\"");
  EXPECT_EQ(
      error_of(R"({"Stain 1" : "H", "Values 1" : "0.65 0.70 abc", "Stain 2" : "DAB", "Values 2" : "1 1 1"})"),
      "stain string: \"Values 1\" must hold 3 numbers, got \"0.65 0.70 abc\"");
  EXPECT_EQ(
      error_of(
          R"({"Stain 1" : "H", "Values 1" : [0.65, 0.7, 0.29], "Stain 2" : "DAB", "Values 2" : "1 1 1"})"),
      "stain string: \"Values 1\" must be a string");
  EXPECT_EQ(
      error_of(
          R"({"Stain 1" : "H", "Values 1" : "0.65 0.7 0.29", "Stain 2" : "DAB", "Values 2" : "0.27 0.57 0.78",
                         "Stain 3" : "E"})"),
      "stain string has no \"Values 3\"");
  EXPECT_EQ(
      error_of(R"({"Stain 1" : "H", "Values 1" : "0.65 0.7 0.29", "Stain 2" : "DAB", "Values 2" : "0 0 0"})"),
      "stain vector 'DAB' has zero length");
  EXPECT_EQ(
      error_of(
          R"({"Stain 1" : "H", "Values 1" : "0.65 0.7 0.29", "Stain 2" : "DAB", "Values 2" : "0.27 0.57 0.78",
                         "Background" : "255 255 300"})"),
      "background value 300 is outside (0, 255]");
}

TEST(RealImage, DabHighOnBrownMembranesLowOnBlueNuclei) {
  IHC_REQUIRE_SHARED(path, "scikit-image/ihc.png");
  const cv::Mat rgb = load_rgb(path);
  ASSERT_EQ(rgb.size(), cv::Size(512, 512));
  const DeconvolutionResult r = deconvolve(rgb, stain_preset("H-DAB"));
  // Boxes picked by eye on the image (x, y, w, h): brown cytoplasm/membranes of the upper-left gland and the
  // ring of the lower gland; two blue stromal nuclei between the glands.
  const double dab_gland = box_mean(r.stain2, 32, 96, 32, 32);
  const double dab_ring = box_mean(r.stain2, 258, 330, 10, 40);
  const double dab_nucleus1 = box_mean(r.stain2, 238, 266, 8, 8);
  const double dab_nucleus2 = box_mean(r.stain2, 170, 262, 6, 8);
  const double h_gland = box_mean(r.stain1, 32, 96, 32, 32);
  const double h_nucleus1 = box_mean(r.stain1, 238, 266, 8, 8);
  std::cout << "DAB gland " << dab_gland << " ring " << dab_ring << " nuclei " << dab_nucleus1 << " "
            << dab_nucleus2 << "; H gland " << h_gland << " nucleus " << h_nucleus1 << "\n";
  EXPECT_GT(dab_gland, 0.4);
  EXPECT_GT(dab_ring, 0.25);
  EXPECT_LT(dab_nucleus1, 0.1);
  EXPECT_LT(dab_nucleus2, 0.1);
  EXPECT_GT(dab_gland, 5 * std::max(dab_nucleus1, dab_nucleus2));
  EXPECT_GT(h_nucleus1, 0.25);
  EXPECT_GT(h_nucleus1, h_gland);
}

TEST(RealImage, AgreesWithScikitImageRgb2hed) {
  IHC_REQUIRE_SHARED(path, "scikit-image/ihc.png");
  const cv::Mat rgb = load_rgb(path);
  const DeconvolutionResult r = deconvolve(rgb, ruifrok_hed());
  const cv::Mat h = as_skimage(r.stain1, kRuifrokH);
  const cv::Mat d = as_skimage(r.residual, kRuifrokDab);
  // Pixel values from scikit-image 0.19.3 (Debian python3-skimage), skimage.color.rgb2hed(ihc)[y, x], run
  // once.
  struct Sample {
    int y, x;
    double h, d;
  };
  const Sample samples[] = {{100, 100, 0.02689074, 0.10925481}, {250, 200, 0.01471631, 0.07181273},
                            {300, 330, 0.01737826, 0.00484213}, {400, 100, 0.00489335, 0.08536122},
                            {30, 300, 0.01092806, 0.06483223},  {200, 470, 0.02154676, 0.01088869},
                            {480, 20, 0.0057066, 0.02584911}};
  for (const Sample& s : samples) {
    EXPECT_NEAR(h.at<float>(s.y, s.x), s.h, 2e-6) << s.y << "," << s.x;
    EXPECT_NEAR(d.at<float>(s.y, s.x), s.d, 2e-6) << s.y << "," << s.x;
  }
  // Whole-image means of rgb2hed: H 0.020066, DAB 0.058182. skimage maps v = 0 to OD 6 where we (and QuPath)
  // use max(v, 1), which lowers the DAB mean of this image to 0.058150 (9 zero channel values); 0.2 % covers
  // it.
  EXPECT_NEAR(cv::mean(h)[0], 0.020066, 0.020066 * 0.002);
  EXPECT_NEAR(cv::mean(d)[0], 0.058182, 0.058182 * 0.002);
}

TEST(RealImage, RenderingMatchesScikitImageGalleryFigure) {
  IHC_REQUIRE_SHARED(path, "scikit-image/ihc.png");
  IHC_REQUIRE_SHARED(figure_path,
                     "scikit-image/debian-python-skimage-doc/sphx_glr_plot_ihc_color_separation_001.png");
  const cv::Mat rgb = load_rgb(path);
  const cv::Mat figure = load_rgb(figure_path);
  ASSERT_EQ(figure.size(), cv::Size(700, 600));
  // Panel bounds in the 700 x 600 figure (found from the non-white extent of each axes), 2 px margin dropped.
  const cv::Rect original_panel(59, 35, 258, 257), h_panel(384, 35, 258, 257), dab_panel(384, 328, 258, 257);
  auto compare = [&](const cv::Mat& ours_rgb, const cv::Rect& panel) {
    cv::Mat small, gray_ours, gray_fig;
    cv::resize(ours_rgb, small, panel.size(), 0, 0, cv::INTER_AREA);
    cv::cvtColor(small, gray_ours, cv::COLOR_RGB2GRAY);
    cv::cvtColor(figure(panel), gray_fig, cv::COLOR_RGB2GRAY);
    const cv::Rect inner(2, 2, panel.width - 4, panel.height - 4);
    return correlation(gray_ours(inner), gray_fig(inner));
  };
  // Registration check: the original panel against the image itself.
  EXPECT_GT(compare(rgb, original_panel), 0.98);
  // skimage's figure: hed2rgb of one channel = Beer-Lambert of the clamped concentration with the
  // unnormalised vector, which is render_stain of our (unit-vector) amount clamped at 0.
  const StainMatrix hed = ruifrok_hed();
  const DeconvolutionResult r = deconvolve(rgb, hed);
  const double dab_corr = compare(render_stain(cv::max(r.residual, 0.0), hed.stains[2]), dab_panel);
  const double h_corr = compare(render_stain(cv::max(r.stain1, 0.0), hed.stains[0]), h_panel);
  std::cout << "correlation with the skimage figure: DAB " << dab_corr << " H " << h_corr << "\n";
  EXPECT_GT(dab_corr, 0.98);
  EXPECT_GT(h_corr, 0.96);
  // QuPath's default H-DAB vectors separate the same structures.
  const StainMatrix qp = stain_preset("H-DAB");
  const DeconvolutionResult q = deconvolve(rgb, qp);
  const double qp_dab = compare(render_stain(q.stain2, qp.stains[1]), dab_panel);
  const double qp_h = compare(render_stain(q.stain1, qp.stains[0]), h_panel);
  std::cout << "QuPath H-DAB default against the figure: DAB " << qp_dab << " H " << qp_h << "\n";
  EXPECT_GT(qp_dab, 0.95);
  EXPECT_GT(qp_h, 0.92);
}

TEST(Deconvolve, OdSumFromTheSamePassEqualsOpticalDensitySumBitForBit) {
  // Detection reads the OD sum from the deconvolution pass; it must be the very values optical_density_sum
  // gives (odd width for the scalar tail, a yellow background as the estimated stains give).
  cv::Mat px(37, 53, CV_8UC3);
  cv::randu(px, 0, 256);
  StainMatrix m = stain_preset("H-DAB");
  m.background = {234, 232, 201};
  DeconvolutionResult r;
  deconvolve(px, m, r, true);
  const cv::Mat expected = optical_density_sum(px, m.background);
  ASSERT_EQ(r.od_sum.size(), px.size());
  EXPECT_EQ(cv::norm(r.od_sum, expected, cv::NORM_INF), 0.0);
  // The planes are the same as without the sum, and a later call that does not ask for it drops it.
  const DeconvolutionResult plain = deconvolve(px, m);
  EXPECT_EQ(cv::norm(r.stain2, plain.stain2, cv::NORM_INF), 0.0);
  deconvolve(px, m, r);
  EXPECT_TRUE(r.od_sum.empty());
  // Detection's call: no residual plane, the same stain planes.
  deconvolve(px, m, r, true, false);
  EXPECT_TRUE(r.residual.empty());
  EXPECT_EQ(cv::norm(r.stain1, plain.stain1, cv::NORM_INF), 0.0);
  EXPECT_EQ(cv::norm(r.stain2, plain.stain2, cv::NORM_INF), 0.0);
  EXPECT_EQ(cv::norm(r.od_sum, expected, cv::NORM_INF), 0.0);
}

}  // namespace
}  // namespace ihc
