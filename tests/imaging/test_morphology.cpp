#include "imaging/morphology.hpp"

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <opencv2/imgproc.hpp>
#include <random>
#include <stdexcept>
#include <vector>

#include "imaging/simd.hpp"
#include "imaging/stains.hpp"
#include "imaging/synthetic_cells.hpp"
#include "support/test_support.hpp"

namespace ihc {
namespace {

// Reference: geodesic dilation repeated until nothing changes.
cv::Mat reconstruct_slowly(const cv::Mat& marker, const cv::Mat& mask) {
  cv::Mat cur = cv::min(marker, mask);
  for (;;) {
    cv::Mat next;
    cv::dilate(cur, next, cv::Mat(), cv::Point(-1, -1), 1, cv::BORDER_REPLICATE);
    next = cv::min(next, mask);
    if (cv::norm(next, cur, cv::NORM_INF) == 0) return cur;
    cur = next;
  }
}

// Reference seeded flood written for clarity: the documented rules with bounds checks, a bucket of 1024
// levels over the fillable pixels' landscape range, FIFO inside a bucket, neighbours in raster order.
void flood_simply(const cv::Mat& landscape, cv::Mat& labels, double max_distance_px, const cv::Mat& ridge,
                  float min_ridge) {
  const int w = labels.cols, h = labels.rows;
  float lo = FLT_MAX, hi = -FLT_MAX;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      if (labels.at<int>(y, x) < 0) continue;
      lo = std::min(lo, landscape.at<float>(y, x));
      hi = std::max(hi, landscape.at<float>(y, x));
    }
  }
  if (lo > hi) return;
  const float scale = hi > lo ? 1023 / (hi - lo) : 0.0f;
  auto level = [&](cv::Point p) { return static_cast<int>((landscape.at<float>(p) - lo) * scale); };
  std::vector<std::vector<cv::Point>> buckets(1024);
  cv::Mat from_seed(labels.size(), CV_32SC2, cv::Scalar(0, 0));
  cv::Mat path_max(labels.size(), CV_32F, cv::Scalar(0));
  auto neighbours = [&](cv::Point p) {
    std::vector<cv::Point> n;
    for (int dy = -1; dy <= 1; ++dy) {
      for (int dx = -1; dx <= 1; ++dx) {
        const cv::Point q(p.x + dx, p.y + dy);
        if ((dx != 0 || dy != 0) && q.x >= 0 && q.y >= 0 && q.x < w && q.y < h) n.push_back(q);
      }
    }
    return n;
  };
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      if (labels.at<int>(y, x) <= 0) continue;
      bool free = false;
      for (const cv::Point q : neighbours({x, y})) free = free || labels.at<int>(q) == 0;
      if (free) buckets[static_cast<std::size_t>(level({x, y}))].push_back({x, y});
    }
  }
  for (int cur = 0; cur < 1024; ++cur) {
    for (std::size_t i = 0; i < buckets[static_cast<std::size_t>(cur)].size(); ++i) {
      const cv::Point p = buckets[static_cast<std::size_t>(cur)][i];
      for (const cv::Point q : neighbours(p)) {
        if (labels.at<int>(q) != 0) continue;
        const float pm = path_max.at<float>(p);
        if (!ridge.empty() && pm >= min_ridge && ridge.at<float>(q) < 0.5f * pm) continue;
        const cv::Vec2i d = from_seed.at<cv::Vec2i>(p) + cv::Vec2i(q.x - p.x, q.y - p.y);
        if (max_distance_px > 0 && d[0] * d[0] + d[1] * d[1] > max_distance_px * max_distance_px) continue;
        from_seed.at<cv::Vec2i>(q) = d;
        if (!ridge.empty()) path_max.at<float>(q) = std::max(pm, ridge.at<float>(q));
        labels.at<int>(q) = labels.at<int>(p);
        buckets[static_cast<std::size_t>(std::max(level(q), cur))].push_back(q);
      }
    }
  }
}

// Random landscape (with ties when `coarse`), seeds and forbidden pixels.
struct FloodCase {
  cv::Mat landscape, labels, ridge;
  double max_distance_px = 0;
};

FloodCase random_flood_case(std::mt19937& rng, bool coarse) {
  FloodCase c;
  const int w = 1 + static_cast<int>(rng() % 60), h = 1 + static_cast<int>(rng() % 60);
  c.landscape.create(h, w, CV_32F);
  cv::randu(c.landscape, 0.0f, 1.0f);
  if (coarse) c.landscape = cv::Mat(cv::Mat_<int>(c.landscape * 4));
  c.landscape.convertTo(c.landscape, CV_32F);
  c.ridge.create(h, w, CV_32F);
  cv::randu(c.ridge, 0.0f, 0.5f);
  c.labels.create(h, w, CV_32S);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const unsigned r = rng() % 100;
      c.labels.at<int>(y, x) = r < 4 ? 1 + static_cast<int>(rng() % 5) : (r < 15 ? -1 : 0);
    }
  }
  c.max_distance_px = rng() % 2 ? static_cast<double>(rng() % 90) / 10.0 : 0.0;
  return c;
}

TEST(Morphology, ReconstructionMatchesIteratedGeodesicDilation) {
  cv::Mat mask(120, 150, CV_32F);
  cv::randu(mask, 0.0f, 1.0f);
  cv::GaussianBlur(mask, mask, cv::Size(), 2.0);
  const cv::Mat marker = erode_disk(mask, 6);
  const cv::Mat fast = reconstruct_by_dilation(marker, mask);
  EXPECT_EQ(cv::norm(fast, reconstruct_slowly(marker, mask), cv::NORM_INF), 0.0);
}

TEST(Morphology, ReconstructionIsExactOnADenseNoisyField) {
  // The background estimate of a dense synthetic field (OD sum with sensor noise): many paths are left for
  // the queue after the raster scans, so this exercises its bucket-queue path.
  const auto field = test::random_field(cv::Size(512, 512), 1500, 7.0, 5);
  const cv::Mat od = optical_density_sum(field.rgb, stain_preset("H-DAB").background);
  const cv::Mat marker = erode_disk(od, 16);
  EXPECT_EQ(cv::norm(reconstruct_by_dilation(marker, od), reconstruct_slowly(marker, od), cv::NORM_INF), 0.0);
}

// The overloads writing into a kept plane (tile loops) give what the returning ones give, also in place and
// when the plane held another size before.
TEST(Morphology, OutputOverloadsEqualTheReturningOnesInPlaceAndAcrossSizes) {
  KeptPlane plane;
  for (const cv::Size size : {cv::Size(300, 260), cv::Size(170, 333), cv::Size(90, 40)}) {
    cv::Mat mask(size, CV_32F);
    cv::randu(mask, 0.0f, 1.0f);
    cv::GaussianBlur(mask, mask, cv::Size(), 2.0);
    for (const double r : {0.3, 2.0, 5.0, 16.0}) {
      cv::Mat& out = plane.get(size, CV_32F);
      erode_disk(mask, r, out);
      EXPECT_EQ(cv::norm(out, erode_disk(mask, r), cv::NORM_INF), 0.0) << size << " r " << r;
      dilate_disk(mask, r, out);
      EXPECT_EQ(cv::norm(out, dilate_disk(mask, r), cv::NORM_INF), 0.0) << size << " r " << r;
      cv::Mat in_place = mask.clone();
      erode_disk(in_place, r, in_place);
      EXPECT_EQ(cv::norm(in_place, erode_disk(mask, r), cv::NORM_INF), 0.0) << size << " r " << r;
    }
    const cv::Mat marker = erode_disk(mask, 6);
    cv::Mat& out = plane.get(size, CV_32F);
    reconstruct_by_dilation(marker, mask, out);
    EXPECT_EQ(cv::norm(out, reconstruct_slowly(marker, mask), cv::NORM_INF), 0.0) << size;
    cv::Mat in_place = marker.clone();
    reconstruct_by_dilation(in_place, mask, in_place);
    EXPECT_EQ(cv::norm(in_place, reconstruct_slowly(marker, mask), cv::NORM_INF), 0.0) << size;
  }
}

// A kept plane serves every size up to the largest asked for from the same memory, continuous, with the
// size and type asked for; OpenCV writing into it of that size and type keeps it there.
TEST(Morphology, KeptPlaneReusesItsMemoryForSmallerSizes) {
  KeptPlane plane;
  const uchar* first = plane.get(cv::Size(200, 150), CV_32F).data;
  for (const cv::Size size : {cv::Size(150, 200), cv::Size(199, 150), cv::Size(10, 1), cv::Size(200, 150)}) {
    cv::Mat& m = plane.get(size, CV_32F);
    EXPECT_EQ(m.data, first) << size;
    EXPECT_EQ(m.size(), size);
    EXPECT_EQ(m.type(), CV_32F);
    EXPECT_TRUE(m.isContinuous());
    cv::Mat src(size, CV_32F, cv::Scalar(2.0f));
    cv::GaussianBlur(src, m, cv::Size(3, 3), 0.0);
    EXPECT_EQ(m.data, first) << size;
  }
  EXPECT_EQ(plane.get(cv::Size(400, 150), CV_8U).data, first);  // same byte count, other type
  // A quarter of headroom: a region's inner tiles (20 % larger than its first, corner tile) fit.
  EXPECT_EQ(plane.get(cv::Size(220, 170), CV_32F).data, first);
  const cv::Mat& larger = plane.get(cv::Size(300, 150), CV_32F);  // more than it holds: new memory
  EXPECT_EQ(larger.size(), cv::Size(300, 150));
  EXPECT_EQ(plane.get(cv::Size(200, 150), CV_32F).data, larger.data);
}

TEST(Morphology, DiskOpeningRemovesLinesAndKeepsBlobs) {
  cv::Mat img = cv::Mat::zeros(80, 80, CV_32F);
  cv::line(img, cv::Point(0, 20), cv::Point(79, 20), cv::Scalar(1.0), 3);
  cv::circle(img, cv::Point(40, 55), 8, cv::Scalar(1.0), cv::FILLED);
  const cv::Mat opened = dilate_disk(erode_disk(img, 4), 4);
  EXPECT_LT(opened.at<float>(20, 40), 0.01f);
  EXPECT_GT(opened.at<float>(55, 40), 0.99f);
}

// The former disk morphology: OpenCV's ellipse up to 3 px, above that its square of half side a = 0.414 r
// followed by b = r - a 3x3 crosses, all with a replicated border.
cv::Mat morph_disk_by_opencv(const cv::Mat& image, double radius_px, bool erode) {
  cv::Mat out;
  if (radius_px < 0.5) return image.clone();
  auto op = [&](const cv::Mat& src, cv::Mat& dst, const cv::Mat& kernel, int iterations) {
    if (erode) {
      cv::erode(src, dst, kernel, cv::Point(-1, -1), iterations, cv::BORDER_REPLICATE);
    } else {
      cv::dilate(src, dst, kernel, cv::Point(-1, -1), iterations, cv::BORDER_REPLICATE);
    }
  };
  if (radius_px <= 3.0) {
    const int r = static_cast<int>(std::lround(radius_px));
    op(image, out, cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(2 * r + 1, 2 * r + 1)), 1);
    return out;
  }
  const int a = static_cast<int>(std::lround(0.414 * radius_px));
  const int b = static_cast<int>(std::lround(radius_px)) - a;
  op(image, out, cv::getStructuringElement(cv::MORPH_RECT, cv::Size(2 * a + 1, 2 * a + 1)), 1);
  if (b > 0) op(out, out, cv::getStructuringElement(cv::MORPH_CROSS, cv::Size(3, 3)), b);
  return out;
}

TEST(Morphology, DiskErosionAndDilationEqualOpenCvsSquareAndCrosses) {
  // Radii of detect_nuclei (ridge opening 3.6 px, background 16 px, bad background 32 px) and others with
  // odd and even diamonds; images smaller than the disk, single rows and columns; few grey levels (ties).
  std::mt19937 rng(11);
  const double radii[] = {0.3,  1.0,  2.6,  3.0,  3.57, 4.0,  4.6,  5.0,  6.5, 8.0,
                          11.0, 13.0, 14.4, 15.0, 16.0, 20.0, 23.5, 27.0, 32.0};
  const cv::Size sizes[] = {{1, 1}, {1, 40}, {40, 1}, {7, 5}, {33, 70}, {130, 97}};
  int it = 0;
  for (const double r : radii) {
    for (const cv::Size size : sizes) {
      cv::Mat img(size, CV_32F);
      cv::randu(img, -1.0f, 3.0f);
      if (it++ % 2 == 0) {
        img = cv::Mat(cv::Mat_<int>(img));
        img.convertTo(img, CV_32F);
      }
      for (const bool erode : {true, false}) {
        const cv::Mat fast = erode ? erode_disk(img, r) : dilate_disk(img, r);
        ASSERT_TRUE(test::same_bits(fast, morph_disk_by_opencv(img, r, erode)))
            << (erode ? "erosion" : "dilation") << " by " << r << " px of " << size.width << " x "
            << size.height;
      }
    }
  }
}

TEST(Morphology, DiskMorphologyOfAViewOrOfNanEqualsOpenCv) {
  // A view into a larger image: OpenCV reads the pixels around it instead of replicating the view's border.
  cv::Mat big(90, 120, CV_32F);
  cv::randu(big, 0.0f, 1.0f);
  const cv::Mat view = big(cv::Rect(20, 15, 60, 50));
  EXPECT_TRUE(test::same_bits(erode_disk(view, 16.0), morph_disk_by_opencv(view, 16.0, true)));
  EXPECT_TRUE(test::same_bits(dilate_disk(view, 16.0), morph_disk_by_opencv(view, 16.0, false)));
  cv::Mat with_nan = big.clone();
  with_nan.at<float>(40, 50) = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(test::same_bits(erode_disk(with_nan, 15.0), morph_disk_by_opencv(with_nan, 15.0, true)));
  EXPECT_TRUE(test::same_bits(dilate_disk(with_nan, 15.0), morph_disk_by_opencv(with_nan, 15.0, false)));
}

TEST(Morphology, DiskMorphologyOfTheDetectionImageEqualsOpenCv) {
  // detect_nuclei's inputs: the OD sum of a dense field (background erosion and ridge opening) and a 0/1
  // mask (bad background dilation).
  const auto field = test::random_field(cv::Size(300, 260), 1500, 7.0, 4);
  const cv::Mat od = optical_density_sum(field.rgb, stain_preset("H-DAB").background);
  EXPECT_TRUE(test::same_bits(erode_disk(od, 16.0), morph_disk_by_opencv(od, 16.0, true)));
  const double ridge = std::sqrt(40.0 / CV_PI);
  EXPECT_TRUE(test::same_bits(dilate_disk(erode_disk(od, ridge), ridge),
                              morph_disk_by_opencv(morph_disk_by_opencv(od, ridge, true), ridge, false)));
  cv::Mat high;
  cv::Mat(od > 0.5f).convertTo(high, CV_32F, 1.0 / 255.0);
  ASSERT_GT(cv::countNonZero(high), 0);
  EXPECT_TRUE(test::same_bits(dilate_disk(high, 32.0), morph_disk_by_opencv(high, 32.0, false)));
}

TEST(Morphology, SeededFloodStopsAtTheDistanceLimitAndSplitsMidway) {
  cv::Mat labels = cv::Mat::zeros(20, 60, CV_32S);
  labels.at<int>(10, 10) = 1;
  labels.at<int>(10, 30) = 2;
  const cv::Mat flat = cv::Mat::zeros(labels.size(), CV_32F);
  seeded_flood(flat, labels, 6.0);
  EXPECT_EQ(labels.at<int>(10, 16), 1);
  EXPECT_EQ(labels.at<int>(10, 24), 2);
  EXPECT_EQ(labels.at<int>(10, 40), 0);  // beyond 6 px from seed 2
  EXPECT_EQ(labels.at<int>(10, 50), 0);
}

TEST(Morphology, ReconstructionIsExactWithTiesFramesAndMinusInfinityMarkers) {
  // Odd sizes (the 4-pixel blocks leave a remainder), few grey levels (ties everywhere) and markers of
  // -FLT_MAX where detect_nuclei distrusts the background.
  std::mt19937 rng(3);
  for (int it = 0; it < 300; ++it) {
    const int w = 1 + static_cast<int>(rng() % 45), h = 1 + static_cast<int>(rng() % 45);
    cv::Mat mask(h, w, CV_32F), marker(h, w, CV_32F);
    cv::randu(mask, 0.0f, 6.0f);
    mask = cv::Mat(cv::Mat_<int>(mask));
    mask.convertTo(mask, CV_32F);
    cv::randu(marker, -1.0f, 6.0f);
    if (it % 3 == 0) marker = erode_disk(mask, 1 + it % 5);
    if (it % 4 == 0) marker(cv::Rect(0, 0, (w + 1) / 2, (h + 1) / 2)).setTo(-FLT_MAX);
    ASSERT_EQ(cv::norm(reconstruct_by_dilation(marker, mask), reconstruct_slowly(marker, mask), cv::NORM_INF),
              0.0)
        << "case " << it << " (" << w << " x " << h << ")";
  }
}

TEST(Morphology, SeededFloodEqualsTheReferenceOnRandomInputsWithRidgeAndLimit) {
  std::mt19937 rng(17);
  for (int it = 0; it < 400; ++it) {
    const FloodCase c = random_flood_case(rng, it % 2 == 0);
    const bool use_ridge = it % 4 < 2;
    const cv::Mat ridge = use_ridge ? c.ridge : cv::Mat();
    cv::Mat fast = c.labels.clone(), slow = c.labels.clone();
    seeded_flood(c.landscape, fast, c.max_distance_px, ridge, 0.15f);
    flood_simply(c.landscape, slow, c.max_distance_px, ridge, 0.15f);
    ASSERT_EQ(cv::countNonZero(fast != slow), 0)
        << "case " << it << " (" << c.labels.cols << " x " << c.labels.rows << ", limit " << c.max_distance_px
        << ", ridge " << use_ridge << ")";
  }
}

TEST(Morphology, SeededFloodEqualsTheReferenceWithLabelsBeyond16Bits) {
  // Labels above 32767 take the flood's wide cells (a tile's labels fit 16 bits).
  std::mt19937 rng(23);
  for (int it = 0; it < 60; ++it) {
    FloodCase c = random_flood_case(rng, it % 2 == 0);
    c.labels.setTo(40000 + it, c.labels == 1);
    const cv::Mat ridge = it % 4 < 2 ? c.ridge : cv::Mat();
    cv::Mat fast = c.labels.clone(), slow = c.labels.clone();
    seeded_flood(c.landscape, fast, c.max_distance_px, ridge, 0.15f);
    flood_simply(c.landscape, slow, c.max_distance_px, ridge, 0.15f);
    ASSERT_EQ(cv::countNonZero(fast != slow), 0) << "case " << it;
  }
}

TEST(Morphology, SeededFloodEqualsTheReferenceForLimitsOfAnyReach) {
  // The flood carries a pixel's offset from its seed as an index into a table of the limit's square when
  // the limit is at most 127 px and the keys fit 32 bits, and as two numbers otherwise; a limit beyond the
  // image's diagonal never binds. Each way against the reference: a short limit on a large image (keys of 9
  // + 17 bits), 100 px (16-bit offsets: the keys of a 300 x 260 image do not fit 32 bits), 130 and 200 px
  // (beyond the table), and 400 px (beyond the diagonal).
  std::mt19937 rng(31);
  for (const double limit : {10.5, 100.0, 130.0, 200.0, 400.0}) {
    for (const bool use_ridge : {false, true}) {
      const int w = 300, h = 260;
      cv::Mat landscape(h, w, CV_32F), ridge(h, w, CV_32F);
      cv::randu(landscape, 0.0f, 1.0f);
      cv::GaussianBlur(landscape, landscape, cv::Size(), 3.0);
      cv::randu(ridge, 0.0f, 0.5f);
      cv::Mat labels = cv::Mat::zeros(h, w, CV_32S);
      for (int i = 0; i < 12; ++i) {
        labels.at<int>(static_cast<int>(rng() % h), static_cast<int>(rng() % w)) = 1 + i;
      }
      for (int i = 0; i < 2000; ++i)
        labels.at<int>(static_cast<int>(rng() % h), static_cast<int>(rng() % w)) = -1;
      const cv::Mat r = use_ridge ? ridge : cv::Mat();
      cv::Mat fast = labels.clone(), slow = labels.clone();
      seeded_flood(landscape, fast, limit, r, 0.15f);
      flood_simply(landscape, slow, limit, r, 0.15f);
      EXPECT_EQ(cv::countNonZero(fast != slow), 0) << "limit " << limit << ", ridge " << use_ridge;
      EXPECT_GT(cv::countNonZero(fast > 0), 12 * 50) << "limit " << limit << ", ridge " << use_ridge;
    }
  }
}

TEST(Morphology, SeededFloodEqualsTheReferenceOnCellGrowth) {
  // grow_cells' use: a dense field's nuclei as seeds, a DAB landscape with brown lines, 5 um limit.
  const auto field = test::random_field(cv::Size(300, 260), 1500, 7.0, 9);
  const StainMatrix stains = stain_preset("H-DAB");
  const cv::Mat od = optical_density_sum(field.rgb, stains.background);
  cv::Mat labels;
  const int n = cv::connectedComponents(od > 0.4f, labels, 8, CV_32S);
  ASSERT_GT(n, 20);
  cv::Mat dist, dab;
  cv::distanceTransform(labels == 0, dist, cv::DIST_L2, cv::DIST_MASK_3, CV_32F);
  cv::GaussianBlur(deconvolve(field.rgb, stains).stain2, dab, cv::Size(), 1.0);
  const cv::Mat landscape = cv::max(dab, 0.0f) + dist * 0.015;
  labels.setTo(-1, dist > 10.5);
  cv::Mat fast = labels.clone(), slow = labels.clone();
  seeded_flood(landscape, fast, 10.5, dab, 0.15f);
  flood_simply(landscape, slow, 10.5, dab, 0.15f);
  EXPECT_EQ(cv::countNonZero(fast != slow), 0);
  EXPECT_GT(cv::countNonZero(fast > 0), cv::countNonZero(labels > 0) * 2);  // cells grew
}

// Restores the default (AVX2 where the CPU has it) however the test ends.
struct DefaultVectorPaths {
  ~DefaultVectorPaths() { use_wide_simd(true); }
};

TEST(Morphology, Sse2AndAvx2PathsGiveTheSameBitsAsTheReference) {
  const DefaultVectorPaths restore;
  // The hook reports what it chose: SSE2 when asked, AVX2 back exactly when the CPU has it.
  ASSERT_FALSE(use_wide_simd(false));
  ASSERT_EQ(use_wide_simd(true), static_cast<bool>(__builtin_cpu_supports("avx2")));
  // Widths around the vector lengths (tails of 0-7 pixels), ties (integer values), -inf markers, and the
  // dense field whose reconstruction goes through the bucket queue.
  std::mt19937 rng(23);
  std::vector<cv::Mat> masks;
  for (const cv::Size size : {cv::Size(1, 1), cv::Size(7, 5), cv::Size(9, 40), cv::Size(33, 70),
                              cv::Size(130, 97), cv::Size(301, 263)}) {
    cv::Mat img(size, CV_32F);
    cv::randu(img, -1.0f, 3.0f);
    if (masks.size() % 2 == 0) {
      img = cv::Mat(cv::Mat_<int>(img));
      img.convertTo(img, CV_32F);
    } else {
      cv::GaussianBlur(img, img, cv::Size(), 1.5);
    }
    masks.push_back(img);
  }
  const auto field = test::random_field(cv::Size(517, 389), 900, 7.0, 6);
  masks.push_back(optical_density_sum(field.rgb, stain_preset("H-DAB").background));
  for (std::size_t i = 0; i < masks.size(); ++i) {
    const cv::Mat& mask = masks[i];
    SCOPED_TRACE(testing::Message() << "image " << i << ": " << mask.cols << " x " << mask.rows);
    cv::Mat marker = mask - 0.5f;
    marker.at<float>(marker.rows / 2, marker.cols / 2) = kMinusInf;
    std::vector<cv::Mat> results[2];
    for (const bool avx2 : {false, true}) {
      use_wide_simd(avx2);
      std::vector<cv::Mat>& r = results[avx2 ? 1 : 0];
      for (const double radius : {13.0, 16.0, 32.0}) {
        r.push_back(erode_disk(mask, radius));
        r.push_back(dilate_disk(mask, radius));
      }
      r.push_back(reconstruct_by_dilation(erode_disk(mask, 16.0), mask));
      r.push_back(reconstruct_by_dilation(marker, mask));
    }
    // Each path equals the reference (OpenCV's square and crosses, iterated geodesic dilation) ...
    for (const auto& r : results) {
      int k = 0;
      for (const double radius : {13.0, 16.0, 32.0}) {
        EXPECT_TRUE(test::same_bits(r[k++], morph_disk_by_opencv(mask, radius, true)))
            << "erosion by " << radius;
        EXPECT_TRUE(test::same_bits(r[k++], morph_disk_by_opencv(mask, radius, false)))
            << "dilation by " << radius;
      }
      EXPECT_TRUE(test::same_bits(r[k++], reconstruct_slowly(morph_disk_by_opencv(mask, 16.0, true), mask)));
      EXPECT_TRUE(test::same_bits(r[k++], reconstruct_slowly(marker, mask)));
    }
    // ... and the other path, bit for bit.
    for (std::size_t k = 0; k < results[0].size(); ++k) {
      EXPECT_TRUE(test::same_bits(results[0][k], results[1][k])) << "result " << k;
    }
  }
}

TEST(Morphology, Sse2AndAvx2SeededFloodsEqualTheReference) {
  const DefaultVectorPaths restore;
  std::mt19937 rng(29);
  for (int it = 0; it < 200; ++it) {
    const FloodCase c = random_flood_case(rng, it % 2 == 0);
    const cv::Mat ridge = it % 4 < 2 ? c.ridge : cv::Mat();
    cv::Mat slow = c.labels.clone();
    flood_simply(c.landscape, slow, c.max_distance_px, ridge, 0.15f);
    for (const bool avx2 : {false, true}) {
      use_wide_simd(avx2);
      cv::Mat fast = c.labels.clone();
      seeded_flood(c.landscape, fast, c.max_distance_px, ridge, 0.15f);
      ASSERT_TRUE(test::same_bits(fast, slow)) << "case " << it << " (" << c.labels.cols << " x "
                                               << c.labels.rows << ") with " << (avx2 ? "AVX2" : "SSE2");
    }
  }
}

TEST(Morphology, SeededFloodTreatsNanRidgesAsTheScalarRuleDoes) {
  // "ridge < half the path's highest ridge" is false for NaN: a NaN ridge never blocks the flood and never
  // raises a path's highest ridge. The vector tests must agree on both paths (a compare that is true for NaN
  // would block those pixels once the flood has climbed a ridge).
  const DefaultVectorPaths restore;
  std::mt19937 rng(37);
  for (int it = 0; it < 120; ++it) {
    FloodCase c = random_flood_case(rng, it % 2 == 0);
    cv::Mat nan_mask(c.ridge.size(), CV_8U);
    cv::randu(nan_mask, 0, 4);
    c.ridge.setTo(std::numeric_limits<float>::quiet_NaN(), nan_mask == 0);
    cv::Mat slow = c.labels.clone();
    flood_simply(c.landscape, slow, c.max_distance_px, c.ridge, 0.15f);
    for (const bool avx2 : {false, true}) {
      use_wide_simd(avx2);
      cv::Mat fast = c.labels.clone();
      seeded_flood(c.landscape, fast, c.max_distance_px, c.ridge, 0.15f);
      ASSERT_TRUE(test::same_bits(fast, slow)) << "case " << it << " with " << (avx2 ? "AVX2" : "SSE2");
    }
  }
}

// reconstruct_by_dilation_padded on a caller's buffers (split_parts' h-maxima): the inner pixels equal
// reconstruct_by_dilation's result bit for bit, and the contract holds: the kMinusInf frame, the mask and
// the 4 spare floats (NaN here, "any value") are left as they were, markers above the mask are clipped.
// Sizes from 1 x 1 to a dense field whose queue takes the bucket path (and noise small enough for the one-way
// scans that takes it too), in an order that reuses the kept buffers for smaller images after larger ones, on
// both vector paths.
TEST(Morphology, PaddedInPlaceReconstructionEqualsReconstructByDilation) {
  const DefaultVectorPaths restore;
  std::mt19937 rng(31);
  std::vector<cv::Mat> masks;
  for (int it = 0; it < 60; ++it) {
    const int w = 1 + static_cast<int>(rng() % 70), h = 1 + static_cast<int>(rng() % 50);
    cv::Mat img(h, w, CV_32F);
    cv::randu(img, 0.0f, 6.0f);
    if (it % 2 == 0) {
      img = cv::Mat(cv::Mat_<int>(img));  // ties everywhere
      img.convertTo(img, CV_32F);
    } else {
      cv::GaussianBlur(img, img, cv::Size(), 1.5);
    }
    masks.push_back(img);
  }
  const auto field = test::random_field(cv::Size(517, 389), 900, 7.0, 6);
  const cv::Mat od = optical_density_sum(field.rgb, stain_preset("H-DAB").background);
  masks.insert(masks.begin() + 30, od);
  // Below 2^16 padded pixels the scans pass each row one way; white noise under a few bright points leaves
  // them enough winding paths for the bucket queue all the same.
  constexpr std::size_t kSparse = 40;
  cv::Mat noise(250, 250, CV_32F);
  cv::randu(noise, 0.0f, 6.0f);
  masks.insert(masks.begin() + kSparse, noise);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (std::size_t i = 0; i < masks.size(); ++i) {
    const cv::Mat& mask = masks[i];
    SCOPED_TRACE(testing::Message() << "image " << i << ": " << mask.cols << " x " << mask.rows);
    cv::Mat marker;
    switch (i == kSparse ? 3 : i % 3) {
      case 0:
        marker = erode_disk(mask, 1 + static_cast<double>(i % 7));
        break;
      case 1: {  // partly above the mask: clipped
        cv::Mat noise(mask.size(), CV_32F);
        cv::randu(noise, -2.0f, 1.0f);
        marker = mask + noise;
        break;
      }
      case 2:
        marker = mask - 0.5f;
        marker(cv::Rect(0, 0, (mask.cols + 1) / 2, (mask.rows + 1) / 2)).setTo(kMinusInf);
        break;
      default:
        marker = cv::Mat(mask.size(), CV_32F, cv::Scalar(kMinusInf));
        for (int k = 0; k < 8; ++k) marker.at<float>(249 - k * 37 % 250, 249 - k * 91 % 250) = 100.0f;
    }
    const int pw = mask.cols + 2, ph = mask.rows + 2;
    const std::size_t n = static_cast<std::size_t>(pw) * static_cast<std::size_t>(ph);
    std::vector<float> pmarker(n + 4, kMinusInf), pmask(n + 4, kMinusInf);
    for (int y = 0; y < mask.rows; ++y) {
      for (int x = 0; x < mask.cols; ++x) {
        pmarker[static_cast<std::size_t>((y + 1) * pw + x + 1)] = marker.at<float>(y, x);
        pmask[static_cast<std::size_t>((y + 1) * pw + x + 1)] = mask.at<float>(y, x);
      }
    }
    for (std::size_t k = n; k < n + 4; ++k) pmarker[k] = pmask[k] = nan;
    const cv::Mat expected = reconstruct_by_dilation(marker, mask);
    if (mask.total() <= 250 * 250) {
      ASSERT_TRUE(test::same_bits(expected, reconstruct_slowly(marker, mask)));
    }
    for (const bool avx2 : {false, true}) {
      use_wide_simd(avx2);
      std::vector<float> j = pmarker;
      const std::vector<float> in = pmask;
      reconstruct_by_dilation_padded(j.data(), in.data(), pw, ph);
      const cv::Mat inner = cv::Mat(ph, pw, CV_32F, j.data())(cv::Rect(1, 1, mask.cols, mask.rows));
      ASSERT_TRUE(test::same_bits(inner, expected)) << (avx2 ? "AVX2" : "SSE2");
      ASSERT_EQ(std::memcmp(in.data(), pmask.data(), (n + 4) * sizeof(float)), 0) << "mask written";
      for (int y = 0; y < ph; ++y) {
        for (int x = 0; x < pw; ++x) {
          if (y == 0 || x == 0 || y == ph - 1 || x == pw - 1) {
            ASSERT_EQ(j[static_cast<std::size_t>(y * pw + x)], kMinusInf) << "frame at " << x << ", " << y;
          }
        }
      }
      for (std::size_t k = n; k < n + 4; ++k) ASSERT_TRUE(std::isnan(j[k])) << "spare float " << k - n;
    }
  }
}

TEST(Morphology, PaddedInPlaceReconstructionRejectsNullBuffersAndFramesWithoutInside) {
  std::vector<float> a(13, kMinusInf), b(13, kMinusInf);
  try {
    reconstruct_by_dilation_padded(a.data(), b.data(), 3, 2);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(),
                 "reconstruct_by_dilation_padded: expected at least 3 x 3 padded pixels, got 3 x 2");
  }
  try {
    reconstruct_by_dilation_padded(nullptr, b.data(), 3, 3);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "reconstruct_by_dilation_padded: null buffer");
  }
}

}  // namespace
}  // namespace ihc
