#include "imaging/overlay.hpp"

#include <gtest/gtest.h>

#include <limits>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "support/test_support.hpp"

namespace {

ihc::Cell square_cell(std::int64_t id, double cx, double cy, double half) {
  ihc::Cell c;
  c.id = id;
  c.centroid = {cx, cy};
  c.boundary = {{float(cx - half), float(cy - half)},
                {float(cx + half), float(cy - half)},
                {float(cx + half), float(cy + half)},
                {float(cx - half), float(cy + half)}};
  return c;
}

int count_colour(const cv::Mat& img, cv::Vec3b rgb) {
  int n = 0;
  for (int y = 0; y < img.rows; ++y) {
    for (int x = 0; x < img.cols; ++x) n += img.at<cv::Vec3b>(y, x) == rgb;
  }
  return n;
}

}  // namespace

TEST(Overlay, LargeCellsAreDrawnInTheirClassColour) {
  // 1000 x 1000 level-0 pixels shown on a 500 x 500 white thumbnail: a 40 px cell is 20 px wide.
  ihc::OverlayCanvas canvas(cv::Mat(500, 500, CV_8UC3, cv::Scalar::all(255)), cv::Size2d(1000, 1000));
  ihc::CellTable t;
  t.cells = {square_cell(1, 200, 200, 20), square_cell(2, 800, 800, 20)};
  canvas.add_cells(t, {ihc::CellClass::ThreePlus, ihc::CellClass::Negative});
  EXPECT_EQ(canvas.cells_drawn(), 2);
  EXPECT_EQ(canvas.cells_in_density_map(), 0);
  const cv::Mat out = canvas.render();
  // Outline pixels carry the exact QuPath colour; the fill is a blend towards it.
  EXPECT_GT(count_colour(out, {250, 62, 62}), 40);
  EXPECT_GT(count_colour(out, {112, 112, 225}), 40);
  const cv::Vec3b inside = out.at<cv::Vec3b>(100, 100);
  EXPECT_GE(inside[0], 250);  // red stays, green and blue drop: reddish
  EXPECT_LT(inside[1], 200);
  EXPECT_EQ(out.at<cv::Vec3b>(10, 490), cv::Vec3b(255, 255, 255));  // untouched background
}

TEST(Overlay, TinyCellsBecomeAClassColouredDensityMap) {
  // A 40000 px slide on a 400 px thumbnail: 10 px cells are 0.1 px, invisible as polygons.
  ihc::OverlayCanvas canvas(cv::Mat(400, 400, CV_8UC3, cv::Scalar::all(255)), cv::Size2d(40000, 40000));
  ihc::CellTable t;
  std::vector<ihc::CellClass> classes;
  for (int i = 0; i < 400; ++i) {
    t.cells.push_back(square_cell(i, 5000 + (i % 20) * 50, 5000 + (i / 20) * 50, 5));  // 3+ cluster top-left
    classes.push_back(ihc::CellClass::ThreePlus);
    t.cells.push_back(square_cell(1000 + i, 30000 + (i % 20) * 50, 30000 + (i / 20) * 50, 5));  // negative
    classes.push_back(ihc::CellClass::Negative);
  }
  canvas.add_cells(t, classes);
  EXPECT_EQ(canvas.cells_drawn(), 0);
  EXPECT_EQ(canvas.cells_in_density_map(), 800);
  const cv::Mat out = canvas.render();
  const cv::Vec3b hot = out.at<cv::Vec3b>(55, 55);
  const cv::Vec3b cold = out.at<cv::Vec3b>(305, 305);
  EXPECT_GT(hot[0], hot[2] + 60) << "3+ area should be red";
  EXPECT_GT(cold[2], cold[0] + 40) << "negative area should be blue";
  EXPECT_EQ(out.at<cv::Vec3b>(200, 200), cv::Vec3b(255, 255, 255));
}

namespace {

// The density map as the first version computed it: the whole canvas blurred, then blended.
cv::Mat reference_density_render(const cv::Mat& thumb, const std::vector<cv::Point>& points,
                                 const std::vector<cv::Vec3b>& colours) {
  cv::Mat density(thumb.size(), CV_32FC4, cv::Scalar::all(0));
  for (std::size_t i = 0; i < points.size(); ++i) {
    cv::Vec4f& d = density.at<cv::Vec4f>(points[i]);
    for (int k = 0; k < 3; ++k) d[k] += colours[i][k];
    d[3] += 1.0f;
  }
  cv::Mat smooth;
  cv::GaussianBlur(density, smooth, cv::Size(), std::max(1.0, std::min(thumb.cols, thumb.rows) / 400.0));
  std::vector<float> counts;
  for (int y = 0; y < smooth.rows; ++y) {
    for (int x = 0; x < smooth.cols; ++x) {
      if (smooth.at<cv::Vec4f>(y, x)[3] > 1e-3f) counts.push_back(smooth.at<cv::Vec4f>(y, x)[3]);
    }
  }
  auto nth = counts.begin() + static_cast<std::ptrdiff_t>(counts.size() * 9 / 10);
  std::nth_element(counts.begin(), nth, counts.end());
  const float ref = std::max(*nth, 1e-3f);
  cv::Mat out = thumb.clone();
  for (int y = 0; y < out.rows; ++y) {
    for (int x = 0; x < out.cols; ++x) {
      const cv::Vec4f d = smooth.at<cv::Vec4f>(y, x);
      if (d[3] <= 1e-3f) continue;
      const float a = std::min(0.85f, 0.3f + 0.55f * d[3] / ref);
      cv::Vec3b& px = out.at<cv::Vec3b>(y, x);
      for (int k = 0; k < 3; ++k) px[k] = cv::saturate_cast<uchar>((1 - a) * px[k] + a * d[k] / d[3]);
    }
  }
  return out;
}

}  // namespace

TEST(Overlay, DensityMapOfAFewCellsMatchesTheWholeCanvasBlur) {
  // The blur is limited to the box around the density points; a cluster touching the left and bottom
  // borders (reflected there) and one inside must give the same pixels as blurring the whole canvas.
  cv::Mat thumb(900, 1200, CV_8UC3);
  cv::randu(thumb, cv::Scalar::all(100), cv::Scalar::all(255));
  ihc::OverlayCanvas canvas(thumb.clone(), cv::Size2d(120000, 90000));  // 0.01 thumbnail px per pixel
  ihc::CellTable t;
  std::vector<ihc::CellClass> classes;
  std::vector<cv::Point> points;
  std::vector<cv::Vec3b> colours;
  const ihc::CellClass order[] = {ihc::CellClass::Negative, ihc::CellClass::OnePlus,
                                  ihc::CellClass::ThreePlus};
  for (int i = 0; i < 300; ++i) {
    const bool border = i % 2 == 0;
    const double x = border ? 50.0 + (i % 13) * 230 : 60000 + (i % 17) * 170;
    const double y = border ? 89990.0 - (i % 7) * 310 : 40000 + (i % 11) * 290;
    t.cells.push_back(square_cell(i, x, y, 5));
    classes.push_back(order[i % 3]);
    points.emplace_back(static_cast<int>(std::floor((x + 0.5) * 0.01)),
                        static_cast<int>(std::floor((y + 0.5) * 0.01)));
    const std::uint32_t v = ihc::class_color_rgb(order[i % 3]);
    colours.emplace_back(static_cast<uchar>((v >> 16) & 0xFF), static_cast<uchar>((v >> 8) & 0xFF),
                         static_cast<uchar>(v & 0xFF));
  }
  canvas.add_cells(t, classes);
  ASSERT_EQ(canvas.cells_in_density_map(), 300);
  const cv::Mat out = canvas.render();
  const cv::Mat expected = reference_density_render(thumb, points, colours);
  EXPECT_EQ(cv::norm(out, expected, cv::NORM_INF), 0.0);
  EXPECT_GT(cv::norm(out, thumb, cv::NORM_INF), 50.0);  // the map was drawn at all
}

TEST(Overlay, RegionsAreBlackAndExclusionsMagenta) {
  ihc::OverlayCanvas canvas(cv::Mat(200, 200, CV_8UC3, cv::Scalar::all(255)), cv::Size2d(2000, 2000));
  canvas.add_outline({{100, 100}, {1900, 100}, {1900, 1900}, {100, 1900}});
  canvas.add_outline({{500, 500}, {900, 500}, {900, 900}, {500, 900}}, true);
  const cv::Mat out = canvas.render();  // RGB
  auto near = [&](int y, int x, cv::Vec3b want) { return cv::norm(out.at<cv::Vec3b>(y, x), want) < 48; };
  EXPECT_TRUE(near(10, 100, {0, 0, 0}));  // anti-aliased lines
  EXPECT_TRUE(near(50, 70, {255, 0, 255}));
  EXPECT_EQ(out.at<cv::Vec3b>(70, 70), cv::Vec3b(255, 255, 255));  // inside stays visible
}

TEST(Overlay, TissueOutlineIsDrawn) {
  ihc::OverlayCanvas canvas(cv::Mat(200, 200, CV_8UC3, cv::Scalar::all(255)), cv::Size2d(2000, 2000));
  cv::Mat mask(50, 50, CV_8U, cv::Scalar(0));
  mask(cv::Rect(10, 10, 30, 30)).setTo(255);
  canvas.set_tissue_mask(mask);
  const cv::Mat out = canvas.render();
  int green = 0;
  for (int y = 0; y < out.rows; ++y) {
    for (int x = 0; x < out.cols; ++x) {
      const cv::Vec3b p = out.at<cv::Vec3b>(y, x);
      green += p[1] > p[0] + 50 && p[1] > p[2] + 50;
    }
  }
  EXPECT_GT(green, 200);  // the square's perimeter (4 x 120 px), anti-aliased
  EXPECT_EQ(out.at<cv::Vec3b>(100, 100), cv::Vec3b(255, 255, 255));  // inside stays visible
}

TEST(Histogram, BarsTakeTheClassColourOfTheirBinAndThresholdsAreDrawn) {
  std::vector<float> values;
  for (int i = 0; i < 300; ++i) values.push_back(0.05f);
  for (int i = 0; i < 100; ++i) values.push_back(0.7f);
  values.push_back(std::numeric_limits<float>::quiet_NaN());
  const cv::Mat h = ihc::render_histogram(values, "Membrane: DAB OD mean", {0.2, 0.4, 0.6});
  EXPECT_EQ(h.size(), cv::Size(900, 420));
  EXPECT_GT(count_colour(h, {112, 112, 225}), 100);  // negative bar
  EXPECT_GT(count_colour(h, {250, 62, 62}), 30);     // 3+ bar
  EXPECT_EQ(count_colour(h, {255, 255, 0}), 0);      // no 1+ cells, no yellow bar
  // Threshold lines: dark pixels in the plot column of 0.4 (x = 70 + 0.4 / 1.0 * 810).
  int dark = 0;
  for (int y = 40; y < 370; ++y) dark += h.at<cv::Vec3b>(y, 70 + 324)[0] < 60;
  EXPECT_GT(dark, 100);
}

// Axis ticks sit on round values, where thresholds are: with the data from -0.08 they were at fifths of the
// range (-0.08, 0.16, 0.39 ...), and the 0.20 threshold on none.
TEST(Histogram, TicksAreAtRoundValues) {
  std::vector<float> values(200, 0.3f);
  values[0] = -0.08f;
  const cv::Mat h = ihc::render_histogram(values, "Nucleus: DAB OD mean", {0.2});
  const auto [lo, hi] = ihc::histogram_range(values, {0.2});
  ASSERT_DOUBLE_EQ(lo, static_cast<double>(-0.08f));
  auto tick_at = [&](double value) {  // the 5 px tick under the axis (y = 370) at the value's column
    const int x = 70 + static_cast<int>(std::lround((value - lo) / (hi - lo) * 810));
    int dark = 0;
    for (int y = 371; y <= 375; ++y) dark += h.at<cv::Vec3b>(y, x)[0] < 60;
    return dark >= 4;
  };
  for (const double v : {0.0, 0.2, 0.4, 0.6, 0.8, 1.0}) EXPECT_TRUE(tick_at(v)) << v;
  EXPECT_FALSE(tick_at(lo + (hi - lo) / 5));  // the old first tick past the origin
}

TEST(Histogram, RangeHoldsTheDataButNotOneOutlierAndEveryThreshold) {
  std::vector<float> v(1000);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = 0.001f * static_cast<float>(i);  // 0 - 0.999
  EXPECT_EQ(ihc::histogram_range(v, {0.2, 0.4, 0.6}), std::make_pair(0.0, 1.0));
  // A 3+ threshold of 1.8 (the viewer's slider reaches 2) is drawn inside, with a quarter to spare.
  EXPECT_EQ(ihc::histogram_range(v, {0.2, 0.4, 1.8}), std::make_pair(0.0, 2.25));
  v[3] = 9.0f;  // one outlier in 1000 is past the 99.5th percentile
  v[4] = -0.25f;
  v[5] = std::numeric_limits<float>::quiet_NaN();
  const auto r = ihc::histogram_range(v, {0.2, 0.4, 0.6});
  EXPECT_EQ(r.first, -0.25);
  EXPECT_EQ(r.second, 1.0);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = 2.0f * static_cast<float>(i) / 1000.0f;
  EXPECT_FLOAT_EQ(static_cast<float>(ihc::histogram_range(v, {}).second), 1.99f);  // index 995 of 1000
  EXPECT_EQ(ihc::histogram_range({}, {}), std::make_pair(0.0, 1.0));
}

TEST(Histogram, EmptyInputStillRenders) {
  const cv::Mat h = ihc::render_histogram({}, "Nucleus: DAB OD mean", {0.2});
  EXPECT_EQ(h.type(), CV_8UC3);
  EXPECT_EQ(count_colour(h, {112, 112, 225}), 0);
}

TEST(Overlay, PngIsWrittenAtomicallyInRgbOrder) {
  const auto dir = ihc::test::temp_dir("overlay_png");
  cv::Mat img(4, 4, CV_8UC3, cv::Scalar(250, 62, 62));  // RGB red
  ihc::write_png_atomic(dir / "a" / "overlay.png", img);
  const cv::Mat bgr = cv::imread((dir / "a" / "overlay.png").string());
  ASSERT_FALSE(bgr.empty());
  EXPECT_EQ(bgr.at<cv::Vec3b>(0, 0), cv::Vec3b(62, 62, 250));
}
