// Stain separation speed on a 4096 x 4096 RGB image (random tissue-like colours), one and two threads.
// Run: build/bench/bench_stains --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <opencv2/core.hpp>
#include <random>

#include "imaging/stain_estimation.hpp"
#include "imaging/stains.hpp"
#include "imaging/tissue.hpp"

namespace {

constexpr int kSide = 4096;

// Beer-Lambert mix of H and DAB with random amounts, so the lookups are not all cache-friendly repeats.
const cv::Mat& test_image() {
  static const cv::Mat image = [] {
    const ihc::StainMatrix m = ihc::stain_preset("H-DAB");
    cv::Mat img(kSide, kSide, CV_8UC3);
    std::mt19937 rng(1);
    std::uniform_real_distribution<double> amount(0.0, 1.0);
    for (int y = 0; y < kSide; ++y) {
      auto* p = img.ptr<uint8_t>(y);
      for (int x = 0; x < kSide; ++x, p += 3) {
        const double h = amount(rng), d = amount(rng) * amount(rng);
        for (int ch = 0; ch < 3; ++ch) {
          p[ch] = cv::saturate_cast<uint8_t>(
              255.0 * std::pow(10.0, -(h * m.stains[0].rgb[ch] + d * m.stains[1].rgb[ch])));
        }
      }
    }
    return img;
  }();
  return image;
}

void set_pixels(benchmark::State& state, const cv::Mat& img) {
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(img.total()));
  state.counters["MP/s"] = benchmark::Counter(static_cast<double>(state.iterations()) * img.total() / 1e6,
                                              benchmark::Counter::kIsRate);
}

void BM_Deconvolve(benchmark::State& state) {
  cv::setNumThreads(static_cast<int>(state.range(0)));
  const cv::Mat& img = test_image();
  const ihc::StainMatrix m = ihc::stain_preset("H-DAB");
  for (auto _ : state) {
    ihc::DeconvolutionResult r = ihc::deconvolve(img, m);
    benchmark::DoNotOptimize(r.stain2.data);
  }
  set_pixels(state, img);
}
BENCHMARK(BM_Deconvolve)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// Tile loops keep one result alive: reusing the planes saves the page faults of 200 MB of fresh output.
void BM_DeconvolveReuse(benchmark::State& state) {
  cv::setNumThreads(static_cast<int>(state.range(0)));
  const cv::Mat& img = test_image();
  const ihc::StainMatrix m = ihc::stain_preset("H-DAB");
  ihc::DeconvolutionResult r;
  ihc::deconvolve(img, m, r);
  for (auto _ : state) {
    ihc::deconvolve(img, m, r);
    benchmark::DoNotOptimize(r.stain2.data);
  }
  set_pixels(state, img);
}
BENCHMARK(BM_DeconvolveReuse)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_OpticalDensitySum(benchmark::State& state) {
  cv::setNumThreads(static_cast<int>(state.range(0)));
  const cv::Mat& img = test_image();
  for (auto _ : state) {
    cv::Mat od = ihc::optical_density_sum(img);
    benchmark::DoNotOptimize(od.data);
  }
  set_pixels(state, img);
}
BENCHMARK(BM_OpticalDensitySum)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_EstimateStains(benchmark::State& state) {
  cv::setNumThreads(1);
  const cv::Mat& img = test_image();
  for (auto _ : state) {
    ihc::StainEstimate e = ihc::estimate_stains(img, ihc::stain_preset("H-DAB"));
    benchmark::DoNotOptimize(e.matrix.inverse.data());
  }
  set_pixels(state, img);
}
BENCHMARK(BM_EstimateStains)->Unit(benchmark::kMillisecond)->UseRealTime();

// The glass colour of an overview of about 3 Mpx (cmu's): a third glass with a little noise, the rest tissue.
void BM_EstimateBackground(benchmark::State& state) {
  cv::setNumThreads(1);
  static const cv::Mat img = [] {
    cv::Mat m = test_image()(cv::Rect(0, 0, 1720, 1720)).clone();
    cv::Mat glass(m.rows, m.cols / 3, CV_8UC3);
    cv::randn(glass, cv::Scalar(240, 238, 235), cv::Scalar(2, 2, 2));
    glass.copyTo(m(cv::Rect(0, 0, glass.cols, glass.rows)));
    return m;
  }();
  for (auto _ : state) {
    const ihc::BackgroundEstimate b = ihc::estimate_background(img);
    benchmark::DoNotOptimize(b.background.data());
  }
  set_pixels(state, img);
}
BENCHMARK(BM_EstimateBackground)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_DetectTissue(benchmark::State& state) {
  cv::setNumThreads(1);
  // A 16 um/px overview of a large slide is about 2000 x 1500 px.
  const cv::Mat img = test_image()(cv::Rect(0, 0, 2000, 1500));
  for (auto _ : state) {
    ihc::TissueResult t = ihc::detect_tissue(img);
    benchmark::DoNotOptimize(t.mask.data);
  }
  set_pixels(state, img);
}
BENCHMARK(BM_DetectTissue)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
