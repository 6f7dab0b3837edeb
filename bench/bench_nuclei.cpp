// detect_nuclei alone on the OD sum of the 1024 px synthetic field of bench_detection (0.5 um/px defaults).
// Small enough for callgrind:
//   valgrind --tool=callgrind build/bench/bench_nuclei --benchmark_filter=BM_DetectNuclei/
//   --benchmark_min_time=0.01
#include <benchmark/benchmark.h>

#include <algorithm>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "imaging/gaussian.hpp"
#include "imaging/morphology.hpp"
#include "imaging/nucleus_detection.hpp"
#include "imaging/simd.hpp"
#include "imaging/stains.hpp"
#include "tests/imaging/synthetic_cells.hpp"

namespace {

const cv::Mat& detection_image() {
  static const cv::Mat od = [] {
    const ihc::test::SynthField f = ihc::test::random_field(cv::Size(1024, 1024), 1500, 7.0, 3);
    return ihc::optical_density_sum(f.rgb, ihc::stain_preset("H-DAB").background);
  }();
  return od;
}

// What cell_detection.cpp's to_pixels gives for the default DetectionParams at 0.5 um/px.
ihc::NucleusParamsPx default_params() {
  ihc::NucleusParamsPx p;
  p.background_radius_px = 16.0;
  p.sigma_px = 3.0;
  p.min_area_px = 40.0;
  p.max_area_px = 1600.0;
  p.split_depth_px = 1.0;
  p.ridge_radius_px = 4.0;
  return p;
}

void run(benchmark::State& state, const ihc::NucleusParamsPx& p) {
  const cv::Mat& od = detection_image();
  const int saved = cv::getNumThreads();
  cv::setNumThreads(1);
  int count = 0;
  for (auto _ : state) {
    const ihc::NucleusDetection n = ihc::detect_nuclei(od, p);
    count = n.count;
    benchmark::DoNotOptimize(count);
  }
  cv::setNumThreads(saved);
  state.counters["MP/s"] =
      benchmark::Counter(od.total() / 1e6, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["nuclei"] = count;
}

// arg 1: with the background reconstruction (as in detection); 0: without, to see the rest alone.
void BM_DetectNuclei(benchmark::State& state) {
  ihc::NucleusParamsPx p = default_params();
  if (state.range(0) == 0) p.background_radius_px = 0.0;
  run(state, p);
}
BENCHMARK(BM_DetectNuclei)->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond)->UseRealTime();

// As a tile loop should call it: one result reused, its planes written over (no fresh pages per call).
void BM_DetectNucleiReused(benchmark::State& state) {
  ihc::NucleusParamsPx p = default_params();
  if (state.range(0) == 0) p.background_radius_px = 0.0;
  const cv::Mat& od = detection_image();
  const int saved = cv::getNumThreads();
  cv::setNumThreads(1);
  ihc::NucleusDetection n;
  for (auto _ : state) {
    ihc::detect_nuclei(od, p, cv::Mat(), n);
    benchmark::DoNotOptimize(n.count);
  }
  cv::setNumThreads(saved);
  state.counters["MP/s"] =
      benchmark::Counter(od.total() / 1e6, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["nuclei"] = n.count;
}
BENCHMARK(BM_DetectNucleiReused)->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond)->UseRealTime();

// split_parts' h-maxima step alone: reconstruct_by_dilation_padded twice (dist - 1 under dist, then rec - eps
// under rec) on the padded distance maps of 64 candidate-sized blobs (two overlapping discs, boxes of 14 to
// 60 px), the buffers kept as split_parts keeps them. Time per candidate.
void BM_SplitReconstructions(benchmark::State& state) {
  struct Box {
    int pw, ph;
    std::vector<float> dist;  // padded, -inf frame
  };
  static const std::vector<Box> boxes = [] {
    std::vector<Box> out;
    cv::RNG rng(11);
    for (int i = 0; i < 64; ++i) {
      const int r = rng.uniform(5, 15);
      const int dx = rng.uniform(0, 2 * r);
      const int w = 2 * r + dx + 4, h = 2 * r + rng.uniform(0, r) + 4;
      cv::Mat blob(h, w, CV_8U, cv::Scalar(0));
      cv::circle(blob, {r + 2, r + 2}, r, cv::Scalar(255), cv::FILLED);
      cv::circle(blob, {r + 2 + dx, h - r - 2}, r, cv::Scalar(255), cv::FILLED);
      cv::Mat dist;
      cv::distanceTransform(blob, dist, cv::DIST_L2, 5);
      Box b{w + 2, h + 2,
            std::vector<float>(static_cast<std::size_t>((w + 2) * (h + 2)) + 4, ihc::kMinusInf)};
      for (int y = 0; y < h; ++y) {
        std::copy_n(dist.ptr<float>(y), w, b.dist.data() + (y + 1) * b.pw + 1);
      }
      out.push_back(std::move(b));
    }
    return out;
  }();
  std::vector<float> rec, rec2;
  for (auto _ : state) {
    for (const Box& b : boxes) {
      rec.resize(b.dist.size());
      rec2.resize(b.dist.size());
      for (std::size_t k = 0; k < b.dist.size(); ++k) rec[k] = std::min(b.dist[k] - 1.0f, b.dist[k]);
      ihc::reconstruct_by_dilation_padded(rec.data(), b.dist.data(), b.pw, b.ph);
      for (std::size_t k = 0; k < rec.size(); ++k) rec2[k] = std::min(rec[k] - 1e-3f, rec[k]);
      ihc::reconstruct_by_dilation_padded(rec2.data(), rec.data(), b.pw, b.ph);
      benchmark::DoNotOptimize(rec2.data());
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(boxes.size()));
}
BENCHMARK(BM_SplitReconstructions)->Unit(benchmark::kMicrosecond);

// One blur of a padded detection tile (1236 px: 1024 core + 2 x 106 overlap), as detection calls it: the
// output plane kept between calls. arg 0: 0 = cv::GaussianBlur, 1 = ihc::gaussian_blur, 2 = the same on its
// SSE2 passes only (a CPU without AVX); arg 1: sigma x 100
// (100 = pre-smoothing and the DAB landscape at 0.5 um/px, 283 = the main nucleus blur).
void BM_GaussianBlurTile(benchmark::State& state) {
  static const cv::Mat tile = [] {
    const ihc::test::SynthField f = ihc::test::random_field(cv::Size(1236, 1236), 1500, 7.0, 5);
    return ihc::optical_density_sum(f.rgb, ihc::stain_preset("H-DAB").background);
  }();
  const bool own = state.range(0) >= 1;
  const ihc::SimdLevel cap = ihc::simd_limit();
  if (state.range(0) == 2) ihc::limit_simd(ihc::SimdLevel::kSse2);
  const double sigma = state.range(1) / 100.0;
  const int saved = cv::getNumThreads();
  cv::setNumThreads(1);
  cv::Mat out(tile.size(), CV_32F);
  for (auto _ : state) {
    if (own) {
      ihc::gaussian_blur(tile, out, sigma);
    } else {
      cv::GaussianBlur(tile, out, cv::Size(), sigma, sigma, cv::BORDER_REPLICATE);
    }
    benchmark::DoNotOptimize(out.data);
    benchmark::ClobberMemory();
  }
  cv::setNumThreads(saved);
  ihc::limit_simd(cap);
  state.counters["MP/s"] =
      benchmark::Counter(tile.total() / 1e6, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_GaussianBlurTile)
    ->ArgsProduct({{0, 1, 2}, {100, 283}})
    ->ArgNames({"own", "sigma100"})
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
