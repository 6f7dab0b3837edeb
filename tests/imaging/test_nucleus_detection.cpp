#include "imaging/nucleus_detection.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include <opencv2/imgproc.hpp>

#include "imaging/synthetic_cells.hpp"

namespace ihc {
namespace {

TEST(NucleusDetection, FindsBlobsSplitsTouchingPairAndIgnoresFaintOnes) {
  cv::Mat img(200, 200, CV_32F, cv::Scalar(0.05f));
  cv::circle(img, cv::Point(50, 50), 8, cv::Scalar(0.6), cv::FILLED);
  cv::circle(img, cv::Point(120, 50), 8, cv::Scalar(0.6), cv::FILLED);  // touching pair
  cv::circle(img, cv::Point(134, 50), 8, cv::Scalar(0.6), cv::FILLED);
  cv::circle(img, cv::Point(50, 140), 8, cv::Scalar(0.1), cv::FILLED);  // too faint for threshold 0.1
  cv::GaussianBlur(img, img, cv::Size(), 1.0);
  NucleusParamsPx p;
  p.ridge_radius_px = 4;
  p.split_depth_px = 1;
  const NucleusDetection n = detect_nuclei(img, p);
  EXPECT_EQ(n.count, 3);
  EXPECT_NE(n.labels.at<int>(50, 50), 0);
  EXPECT_NE(n.labels.at<int>(50, 118), n.labels.at<int>(50, 136));
  EXPECT_EQ(n.labels.at<int>(140, 50), 0);
}

TEST(NucleusDetection, PaleCentreIsFilledIntoItsNucleus) {
  // A vesicular nucleus: dark rim, pale centre. Its outline has a hole that belongs to the nucleus.
  cv::Mat img(120, 120, CV_32F, cv::Scalar(0.05f));
  cv::circle(img, cv::Point(60, 60), 14, cv::Scalar(0.7), cv::FILLED);
  cv::circle(img, cv::Point(60, 60), 5, cv::Scalar(0.08), cv::FILLED);
  cv::GaussianBlur(img, img, cv::Size(), 1.0);
  NucleusParamsPx p;
  p.ridge_radius_px = 3;
  p.sigma_px = 2;
  const NucleusDetection n = detect_nuclei(img, p);
  ASSERT_EQ(n.count, 1);
  EXPECT_EQ(n.labels.at<int>(60, 60), 1);
  // Every pixel of the disk (radius 14, less the blurred edge) is in the nucleus, and nothing far outside.
  for (int y = 0; y < img.rows; ++y) {
    for (int x = 0; x < img.cols; ++x) {
      const double r = std::hypot(x - 60, y - 60);
      if (r <= 12) {
        EXPECT_EQ(n.labels.at<int>(y, x), 1) << x << "," << y;
      }
      if (r >= 18) {
        EXPECT_EQ(n.labels.at<int>(y, x), 0) << x << "," << y;
      }
    }
  }
}

// Pale vesicular tumour nuclei reach only 0.06-0.1 OD above their background: with the pale rule a large one
// is kept, a small faint blob of the same darkness is not, and without the rule neither is.
TEST(NucleusDetection, KeepsLargePaleNucleiButNotSmallPaleBlobs) {
  cv::Mat img(160, 220, CV_32F, cv::Scalar(0.05f));
  cv::circle(img, cv::Point(40, 80), 8, cv::Scalar(0.6), cv::FILLED);     // ordinary nucleus
  cv::circle(img, cv::Point(110, 80), 11, cv::Scalar(0.13), cv::FILLED);  // pale, ~380 px
  cv::circle(img, cv::Point(180, 80), 5, cv::Scalar(0.13), cv::FILLED);   // pale, ~80 px
  cv::GaussianBlur(img, img, cv::Size(), 1.0);
  NucleusParamsPx p;
  p.ridge_radius_px = 4;
  const NucleusDetection off = detect_nuclei(img, p);
  EXPECT_EQ(off.count, 1);
  EXPECT_EQ(off.labels.at<int>(80, 110), 0);

  p.pale_fraction = 0.5;
  p.pale_min_area_px = 160;
  const NucleusDetection on = detect_nuclei(img, p);
  EXPECT_EQ(on.count, 2);
  EXPECT_NE(on.labels.at<int>(80, 40), 0);
  EXPECT_NE(on.labels.at<int>(80, 110), 0);
  EXPECT_EQ(on.labels.at<int>(80, 180), 0);
}

// Coarse chromatin: a round nucleus made of dark granules on a pale nucleoplasm loses much of its height to
// the ridge-suppressing opening (the granules are narrower than the disk), like a membrane junction. The
// ridge test drops it at 0.6 and keeps it at 0.3; a solid nucleus passes both.
TEST(NucleusDetection, RidgeKeptHeightDecidesOverCoarseChromatinNuclei) {
  cv::Mat img(120, 200, CV_32F, cv::Scalar(0.02f));
  cv::circle(img, cv::Point(50, 60), 9, cv::Scalar(0.5), cv::FILLED);    // solid
  cv::circle(img, cv::Point(140, 60), 11, cv::Scalar(0.1), cv::FILLED);  // granular: pale + granules
  for (int dy = -6; dy <= 6; dy += 6) {
    for (int dx = -6; dx <= 6; dx += 6) {
      cv::circle(img, cv::Point(140 + dx, 60 + dy), 2, cv::Scalar(0.9), cv::FILLED);
    }
  }
  cv::GaussianBlur(img, img, cv::Size(), 0.7);
  NucleusParamsPx p;
  p.ridge_radius_px = 4;
  p.min_kept_height = 0.6;
  const NucleusDetection strict = detect_nuclei(img, p);
  EXPECT_EQ(strict.count, 1);
  EXPECT_NE(strict.labels.at<int>(60, 50), 0);
  EXPECT_EQ(strict.labels.at<int>(60, 140), 0);

  p.min_kept_height = 0.3;
  const NucleusDetection relaxed = detect_nuclei(img, p);
  EXPECT_EQ(relaxed.count, 2);
  EXPECT_NE(relaxed.labels.at<int>(60, 50), 0);
  EXPECT_NE(relaxed.labels.at<int>(60, 140), 0);
}

// The ridge test's second look (ridge_close_px): a granular nucleus like the one above (granules 1 px apart),
// closed by a 2 px disk before the opening, keeps its height. It gets that look only when it is bluer than
// the brown structure around it (here a brown ring drawn in both planes): a brown nucleus with the ratio of
// its surroundings is what a membrane junction looks like, and stays dropped; without a DAB plane there is no
// second look.
TEST(NucleusDetection, RidgeTestSecondLookKeepsGranularNucleiBluerThanTheBrownAroundThem) {
  cv::Mat img(120, 200, CV_32F, cv::Scalar(0.02f));
  cv::Mat nucleus_mask(img.size(), CV_8U, cv::Scalar(0));
  cv::circle(img, cv::Point(50, 60), 9, cv::Scalar(0.5), cv::FILLED);  // solid
  cv::circle(img, cv::Point(140, 60), 11, cv::Scalar(0.1), cv::FILLED);
  cv::circle(nucleus_mask, cv::Point(140, 60), 13, cv::Scalar(255), cv::FILLED);
  for (int dy = -12; dy <= 12; dy += 6) {  // granules 1 px apart
    for (int dx = -12; dx <= 12; dx += 6) {
      if (dx * dx + dy * dy <= 100) {
        cv::circle(img, cv::Point(140 + dx, 60 + dy), 2, cv::Scalar(0.9), cv::FILLED);
      }
    }
  }
  cv::circle(img, cv::Point(140, 60), 17, cv::Scalar(0.9), 2);  // brown lines around it
  cv::GaussianBlur(img, img, cv::Size(), 0.7);
  const cv::Mat brown_nucleus = img.clone();  // DAB = the whole detection OD (OD sum of a brown field)
  cv::Mat blue_nucleus = img.clone();
  blue_nucleus.setTo(0.0f, nucleus_mask);  // the nucleus itself has no DAB, the lines around it do
  NucleusParamsPx p;
  p.ridge_radius_px = 4;
  p.min_kept_height = 0.6;
  p.ridge_close_px = 2;  // these granules are 5 px wide, 1 px apart: a 1 px disk leaves the diagonal gaps
  const NucleusDetection blue = detect_nuclei(img, p, blue_nucleus);
  EXPECT_EQ(blue.count, 2);
  EXPECT_NE(blue.labels.at<int>(60, 50), 0);
  EXPECT_NE(blue.labels.at<int>(60, 140), 0);

  const NucleusDetection brown = detect_nuclei(img, p, brown_nucleus);
  EXPECT_EQ(brown.count, 1);
  EXPECT_EQ(brown.labels.at<int>(60, 140), 0);

  const NucleusDetection no_dab = detect_nuclei(img, p);
  EXPECT_EQ(no_dab.count, 1);
  EXPECT_EQ(no_dab.labels.at<int>(60, 140), 0);

  p.ridge_close_px = 0;
  const NucleusDetection off = detect_nuclei(img, p, blue_nucleus);
  EXPECT_EQ(off.count, 1);
  EXPECT_EQ(off.labels.at<int>(60, 140), 0);
}

// Edge tiles can be a few pixels wide or blank: no nucleus, a label image of the input's size, no crash
// (the candidate mask handles one- and two-pixel rows and columns itself).
// Concave-point split (concave_depth_px): two touching nuclei that came out as one bean are cut in two at
// the two dents of its outline, while a large ellipse (no dent) stays one nucleus. Split by shape is off, so
// only the concave step can separate them; the ordinary nuclei set the median area.
TEST(NucleusDetection, ConcaveSplitCutsATouchingPairButNotAnEllipse) {
  cv::Mat img(200, 260, CV_32F, cv::Scalar(0.05f));
  for (int i = 0; i < 6; ++i) cv::circle(img, cv::Point(25 + 40 * i, 25), 8, cv::Scalar(0.6), cv::FILLED);
  cv::circle(img, cv::Point(53, 110), 10, cv::Scalar(0.6), cv::FILLED);  // the bean
  cv::circle(img, cv::Point(73, 110), 10, cv::Scalar(0.6), cv::FILLED);
  cv::ellipse(img, cv::Point(180, 110), cv::Size(22, 11), 30, 0, 360, cv::Scalar(0.6), cv::FILLED);
  cv::GaussianBlur(img, img, cv::Size(), 1.0);
  NucleusParamsPx p;
  p.ridge_radius_px = 4;
  p.split_by_shape = false;
  const NucleusDetection off = detect_nuclei(img, p);
  ASSERT_EQ(off.count, 8);
  EXPECT_EQ(off.labels.at<int>(110, 50), off.labels.at<int>(110, 76));
  p.concave_depth_px = 2;
  p.concave_reference_radius_px = 20;  // no neighbours within reach: no reference area, no cut
  EXPECT_EQ(detect_nuclei(img, p).count, 8);
  p.concave_reference_radius_px = 100;  // the round nuclei above are the reference
  const NucleusDetection on = detect_nuclei(img, p);
  EXPECT_EQ(on.count, 9);
  EXPECT_NE(on.labels.at<int>(110, 50), 0);
  EXPECT_NE(on.labels.at<int>(110, 76), 0);
  EXPECT_NE(on.labels.at<int>(110, 50), on.labels.at<int>(110, 76));
  // The ellipse: one nucleus, every pixel of its core in it.
  const int e = on.labels.at<int>(110, 180);
  EXPECT_NE(e, 0);
  EXPECT_EQ(on.labels.at<int>(110, 165), e);
  EXPECT_EQ(on.labels.at<int>(110, 195), e);
}

TEST(NucleusDetection, TinyAndBlankImagesGiveNoNuclei) {
  NucleusParamsPx p;
  p.ridge_radius_px = 4;
  for (const cv::Size size : {cv::Size(1, 1), cv::Size(2, 1), cv::Size(1, 3), cv::Size(2, 2), cv::Size(3, 17),
                              cv::Size(17, 2), cv::Size(64, 64)}) {
    for (const float value : {0.0f, 0.8f}) {
      const cv::Mat img(size, CV_32F, cv::Scalar(value));
      const NucleusDetection n = detect_nuclei(img, p);
      EXPECT_EQ(n.count, 0) << size << " " << value;
      EXPECT_EQ(n.labels.size(), size);
      EXPECT_EQ(cv::countNonZero(n.labels), 0);
    }
  }
}

// Tile loops reuse one result: the planes are written over (same memory), and nothing of the previous image
// (its nuclei, its background) leaks into the next.
TEST(NucleusDetection, ReusedResultMatchesAFreshOneAndKeepsItsPlanes) {
  cv::Mat a(150, 160, CV_32F, cv::Scalar(0.05f));
  cv::circle(a, cv::Point(40, 40), 8, cv::Scalar(0.6), cv::FILLED);
  cv::circle(a, cv::Point(100, 90), 9, cv::Scalar(0.5), cv::FILLED);
  cv::circle(a, cv::Point(115, 90), 9, cv::Scalar(0.5), cv::FILLED);  // touching pair
  cv::Mat b(150, 160, CV_32F, cv::Scalar(0.08f));
  cv::circle(b, cv::Point(120, 30), 7, cv::Scalar(0.7), cv::FILLED);
  cv::GaussianBlur(a, a, cv::Size(), 1.0);
  cv::GaussianBlur(b, b, cv::Size(), 1.0);
  NucleusParamsPx p;
  p.ridge_radius_px = 4;
  for (const double background_radius : {16.0, 0.0}) {
    p.background_radius_px = background_radius;
    NucleusDetection reused;
    detect_nuclei(a, p, cv::Mat(), reused);
    const NucleusDetection fresh_a = detect_nuclei(a, p);
    EXPECT_EQ(reused.count, 3);
    EXPECT_EQ(reused.count, fresh_a.count);
    EXPECT_EQ(cv::countNonZero(reused.labels != fresh_a.labels), 0);
    const uchar* labels_data = reused.labels.data;
    const uchar* background_data = reused.background_subtracted.data;
    detect_nuclei(b, p, cv::Mat(), reused);
    const NucleusDetection fresh_b = detect_nuclei(b, p);
    EXPECT_EQ(reused.count, 1);
    EXPECT_EQ(reused.count, fresh_b.count);
    EXPECT_EQ(cv::countNonZero(reused.labels != fresh_b.labels), 0);
    EXPECT_EQ(cv::countNonZero(reused.background_subtracted != fresh_b.background_subtracted), 0);
    EXPECT_EQ(reused.labels.data, labels_data);
    EXPECT_EQ(reused.background_subtracted.data, background_data);
  }
}

// Background subtraction off (QuPath's background radius 0): the raw OD of a grey-glass scan is about 0.2
// everywhere, so half a nucleus's raw mean lay below its whole neighbourhood and each outline filled the
// box it is searched in (OS-2-vsi with QuPath's published parameters: square nuclei, 1016 cells where
// QuPath finds 1353). Heights now stand on the local floor.
TEST(NucleusDetection, WithoutBackgroundSubtractionOutlinesFollowNucleiOnAGreyField) {
  cv::Mat img(160, 220, CV_32F, cv::Scalar(0.2f));
  const std::vector<cv::Point> centres = {{40, 40}, {110, 45}, {180, 40}, {60, 115}, {150, 110}};
  for (std::size_t i = 0; i < centres.size(); ++i) {
    cv::circle(img, centres[i], 8, cv::Scalar(0.45 + 0.05 * static_cast<double>(i)), cv::FILLED);
  }
  cv::GaussianBlur(img, img, cv::Size(), 1.0);
  NucleusParamsPx p;
  p.background_radius_px = 0;
  p.threshold = 0.2;  // QuPath's script for OS-2 (docs/accuracy.md, "Agreement with QuPath")
  p.ridge_radius_px = 4;
  p.min_kept_height = 0;
  const NucleusDetection n = detect_nuclei(img, p);
  ASSERT_EQ(n.count, 5);
  const double disk_area = CV_PI * 8 * 8;
  for (const cv::Point& c : centres) {
    const int label = n.labels.at<int>(c);
    ASSERT_NE(label, 0) << c;
    const int area = cv::countNonZero(n.labels == label);
    EXPECT_GT(area, 0.7 * disk_area) << c;
    EXPECT_LT(area, 1.3 * disk_area) << c;  // the search box is about 2.3 x the disk
    // Round, not square: a pixel at the box corner's distance from the centre is outside.
    EXPECT_EQ(n.labels.at<int>(c + cv::Point(9, 9)), 0) << c;
  }
}

// A tile searches only its core and the cells' context, with the background estimated over the whole tile:
// the nuclei well inside the region are exactly those of a search over the whole image.
TEST(NucleusDetection, RegionSearchFindsTheWholeImagesNucleiInsideIt) {
  cv::Mat img(300, 320, CV_32F, cv::Scalar(0.05f));
  cv::Mat noise(img.size(), CV_32F);
  cv::randn(noise, 0.0, 0.02);
  img += noise;
  for (int y = 20; y < 300; y += 26) {
    for (int x = 20 + (y / 26 % 2) * 9; x < 320; x += 24) {
      cv::circle(img, cv::Point(x, y), 6 + (x + y) % 4, cv::Scalar(0.3 + 0.05 * ((x * 7 + y) % 6)),
                 cv::FILLED);
    }
  }
  cv::GaussianBlur(img, img, cv::Size(), 1.0);
  NucleusParamsPx p;
  p.ridge_radius_px = 4;
  p.background_radius_px = 16;
  const NucleusDetection whole = detect_nuclei(img, p);
  const cv::Rect region(70, 60, 170, 180);
  NucleusDetection part;
  detect_nuclei(img, p, cv::Mat(), part, region);
  EXPECT_EQ(part.region, region);
  ASSERT_EQ(part.labels.size(), region.size());
  EXPECT_EQ(whole.region, cv::Rect(0, 0, img.cols, img.rows));
  EXPECT_EQ(cv::countNonZero(part.background_subtracted != whole.background_subtracted), 0);
  // Every nucleus of the whole search lying 20 px or more inside the region has the same pixels there.
  const cv::Rect inner(region.x + 20, region.y + 20, region.width - 40, region.height - 40);
  int compared = 0;
  for (int label = 1; label <= whole.count; ++label) {
    const cv::Mat mask = whole.labels == label;
    const cv::Rect box = cv::boundingRect(mask);
    if ((box & inner) != box) continue;
    ++compared;
    const cv::Mat in_part = part.labels(box - region.tl());
    const int part_label = in_part.at<int>(box.height / 2, box.width / 2);
    ASSERT_GT(part_label, 0) << "nucleus " << label;
    EXPECT_EQ(cv::countNonZero((part.labels == part_label) != (mask(region) != 0)), 0) << "nucleus " << label;
  }
  EXPECT_GE(compared, 20);

  try {
    detect_nuclei(img, p, cv::Mat(), part, cv::Rect(400, 0, 10, 10));
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "detect_nuclei: the region to search lies outside the detection image");
  }
}

// Crosstalk guard. Hematoxylin read through a DAB vector a few degrees off: 0.2 OD per DAB OD. A brown blob
// on brown lines (a membrane junction) has the hematoxylin/DAB ratio of its lines and is dropped; a nucleus
// in brown cytoplasm (browner than blue, but bluer than the cytoplasm around it) and a blue nucleus are kept.
TEST(NucleusDetection, CrosstalkGuardDropsJunctionsButKeepsNucleiInBrownCytoplasm) {
  cv::Mat dab(140, 260, CV_32F, cv::Scalar(0.01f));
  cv::Mat nuclear(dab.size(), CV_32F, cv::Scalar(0.03f));  // true hematoxylin
  const cv::Point junction(40, 70), in_cytoplasm(130, 70), blue(215, 70);
  cv::line(dab, {0, 70}, {80, 70}, cv::Scalar(1.0), 3);
  cv::line(dab, {40, 0}, {40, 139}, cv::Scalar(1.0), 3);
  cv::circle(dab, junction, 7, cv::Scalar(1.0), cv::FILLED);
  cv::rectangle(dab, cv::Rect(100, 40, 60, 60), cv::Scalar(0.6), cv::FILLED);
  cv::circle(nuclear, in_cytoplasm, 7, cv::Scalar(0.33), cv::FILLED);
  cv::circle(nuclear, blue, 7, cv::Scalar(0.6), cv::FILLED);
  cv::GaussianBlur(dab, dab, cv::Size(), 1.0);
  cv::GaussianBlur(nuclear, nuclear, cv::Size(), 1.0);
  const cv::Mat h = nuclear + 0.2 * dab;
  NucleusParamsPx p;
  p.ridge_radius_px = 4;
  const NucleusDetection off = detect_nuclei(h, p, dab);
  EXPECT_EQ(off.count, 3);
  EXPECT_NE(off.labels.at<int>(junction), 0);
  p.crosstalk_guard = 1.5;
  const NucleusDetection on = detect_nuclei(h, p, dab);
  EXPECT_EQ(on.count, 2);
  EXPECT_EQ(on.labels.at<int>(junction), 0);
  EXPECT_NE(on.labels.at<int>(in_cytoplasm), 0);
  EXPECT_NE(on.labels.at<int>(blue), 0);
  try {
    detect_nuclei(h, p);
    FAIL() << "guard without a DAB plane accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(
        e.what(),
        "detect_nuclei (DAB plane for crosstalk_guard): expected a non-empty single-channel float image");
  }
}

// Label image with rectangles: label k at rects[k - 1].
cv::Mat rect_labels(cv::Size size, const std::vector<cv::Rect>& rects) {
  cv::Mat labels = cv::Mat::zeros(size, CV_32S);
  for (std::size_t k = 0; k < rects.size(); ++k) labels(rects[k]).setTo(static_cast<int>(k + 1));
  return labels;
}

TEST(MergeNuclei, AddsOnlyNucleiFoundWhereNoneWere) {
  const cv::Size size(100, 60);
  cv::Mat labels = rect_labels(size, {{10, 10, 10, 10}, {60, 10, 10, 10}});  // two 100 px nuclei
  const cv::Mat extra = rect_labels(size, {{30, 30, 10, 10},                 // free: joins as 3
                                           {18, 10, 10, 10},  // 20 % on nucleus 1: its free part, 4
                                           {10, 40, 10, 10},  // free: 5
                                           {55, 5, 20, 20},   // all of nucleus 2 inside (25 % of it)
                                           {40, 10, 10, 10},  // free: 6
                                           {80, 50, 3, 3}});  // free, below the minimum area
  EXPECT_EQ(merge_nuclei(labels, 2, extra, 6, 0.3, 20.0), 6);
  EXPECT_EQ(labels.at<int>(35, 35), 3);
  EXPECT_EQ(labels.at<int>(15, 19), 1) << "pixels held before stay with their nucleus";
  EXPECT_EQ(labels.at<int>(15, 25), 4);
  EXPECT_EQ(cv::countNonZero(labels == 4), 80);
  EXPECT_EQ(labels.at<int>(45, 15), 5);
  EXPECT_EQ(labels.at<int>(7, 57), 0) << "the larger outline around nucleus 2 is nucleus 2 again";
  EXPECT_EQ(labels.at<int>(15, 45), 6);
  EXPECT_EQ(labels.at<int>(51, 81), 0) << "below the minimum area";
}

TEST(MergeNuclei, MaxOverlapIsTheLargestShareAlreadyHeld) {
  const cv::Size size(60, 40);
  const cv::Mat before = rect_labels(size, {{10, 10, 10, 10}});
  cv::Mat labels = before.clone();
  EXPECT_EQ(merge_nuclei(labels, 1, rect_labels(size, {{17, 10, 10, 10}}), 1, 0.3, 10.0), 2)
      << "30 % held is not more than 0.3";
  EXPECT_EQ(cv::countNonZero(labels == 2), 70);
  labels = before.clone();
  EXPECT_EQ(merge_nuclei(labels, 1, rect_labels(size, {{16, 10, 10, 10}}), 1, 0.3, 10.0), 1) << "40 % held";
  EXPECT_EQ(cv::countNonZero(labels != before), 0);
}

// The hematoxylin plane shows a pale nucleus the detection image (OD sum) has as dark as the haze around
// it: the second search adds it; one already found is not added again.
TEST(AddHematoxylinNuclei, AddsANucleusTheDetectionImageMissed) {
  const cv::Size size(240, 200);
  cv::Mat hema(size, CV_32F, cv::Scalar(0.10f)), od_sum(size, CV_32F, cv::Scalar(0.40f));
  cv::circle(hema, {60, 100}, 9, cv::Scalar(0.30f), cv::FILLED);   // pale blue: 0.2 above, OD sum flat
  cv::circle(hema, {160, 100}, 9, cv::Scalar(0.35f), cv::FILLED);  // seen in both
  cv::circle(od_sum, {160, 100}, 9, cv::Scalar(0.90f), cv::FILLED);
  cv::GaussianBlur(hema, hema, cv::Size(0, 0), 1.0);
  cv::GaussianBlur(od_sum, od_sum, cv::Size(0, 0), 1.0);
  NucleusParamsPx p;
  NucleusDetection found = detect_nuclei(od_sum, p);
  ASSERT_EQ(found.count, 1);
  EXPECT_GT(found.labels.at<int>(100, 160), 0);
  // The same microns at twice the pixel size, as detection converts them.
  NucleusParamsPx half;
  half.background_radius_px = p.background_radius_px / 2;
  half.sigma_px = p.sigma_px / 2;
  half.min_area_px = p.min_area_px / 4;
  half.max_area_px = p.max_area_px / 4;
  half.split_depth_px = p.split_depth_px / 2;
  add_hematoxylin_nuclei(hema, half, 0.3, p.min_area_px, found);
  ASSERT_EQ(found.count, 2);
  EXPECT_EQ(found.labels.at<int>(100, 60), 2);
  EXPECT_EQ(found.labels.at<int>(100, 160), 1);
  // Its outline comes from 2 x 2 blocks: about the disk's area.
  EXPECT_NEAR(cv::countNonZero(found.labels == 2), CV_PI * 9.5 * 9.5, 0.25 * CV_PI * 9.5 * 9.5);
  // A plane of another size is refused.
  EXPECT_THROW(add_hematoxylin_nuclei(hema(cv::Rect(0, 0, 100, 100)), half, 0.3, p.min_area_px, found),
               std::invalid_argument);
}

}  // namespace
}  // namespace ihc
