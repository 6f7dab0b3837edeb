// detect_nuclei alone on the OD sum of the 1024 px synthetic field of bench_detection (0.5 um/px defaults).
// Small enough for callgrind:
//   valgrind --tool=callgrind build/bench/bench_nuclei --benchmark_filter=BM_DetectNuclei/
//   --benchmark_min_time=0.01
#include <benchmark/benchmark.h>

#include <opencv2/core.hpp>

#include "imaging/nucleus_detection.hpp"
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

}  // namespace

BENCHMARK_MAIN();
