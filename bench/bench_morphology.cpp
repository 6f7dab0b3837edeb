// Morphology stages of cell detection on their real inputs: a 1268 px tile (1024 px core + overlap) of the
// dense synthetic Ki-67 field at 0.5 um/px, as in bench_detection. Run: build/bench/bench_morphology For
// instruction counts (the machine is shared, wall clock is noise):
//   valgrind --tool=callgrind build/bench/bench_morphology --benchmark_filter=Flood --benchmark_min_time=0.01
// IHC_SIMD=sse2 in the environment forces the SSE2 paths (read by the library, so it works in any binary,
// e.g. bench_detection), for comparing them with the AVX2 ones on the same machine.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "imaging/line_ownership.hpp"
#include "imaging/morphology.hpp"
#include "imaging/nucleus_detection.hpp"
#include "imaging/simd.hpp"
#include "imaging/stains.hpp"
#include "tests/imaging/synthetic_cells.hpp"

namespace {

struct Inputs {
  cv::Mat od;         // OD sum: the detection image
  cv::Mat marker;     // its erosion by the 8 um background disk
  cv::Mat landscape;  // cell growth landscape (as grow_cells builds it)
  cv::Mat labels;     // nucleus seeds, -1 beyond the expansion limit
  cv::Mat dab_smooth;
  double reach_px = 0;
};

const Inputs& inputs() {
  static const Inputs in = [] {
    Inputs r;
    const auto field = ihc::test::random_field(cv::Size(1268, 1268), 1500, 7.0, 3);
    const ihc::StainMatrix stains = ihc::stain_preset("H-DAB");
    r.od = ihc::optical_density_sum(field.rgb, stains.background);
    r.marker = ihc::erode_disk(r.od, 16.0);
    const ihc::NucleusDetection nuclei = ihc::detect_nuclei(r.od, ihc::NucleusParamsPx{});
    // Same construction as grow_cells at 0.5 um/px with a 5 um expansion.
    const cv::Mat dab = ihc::deconvolve(field.rgb, stains).stain2;
    cv::Mat dist;
    cv::distanceTransform(nuclei.labels == 0, dist, cv::DIST_L2, cv::DIST_MASK_3, CV_32F);
    cv::GaussianBlur(dab, r.dab_smooth, cv::Size(), 1.0, 1.0, cv::BORDER_REPLICATE);
    r.landscape = cv::max(r.dab_smooth, 0.0f) + dist * (0.03 * 0.5);
    r.reach_px = 10.5;
    r.labels = nuclei.labels.clone();
    r.labels.setTo(-1, dist > r.reach_px);
    return r;
  }();
  return in;
}

void BM_Reconstruct(benchmark::State& state) {
  const Inputs& in = inputs();
  for (auto _ : state) {
    cv::Mat background = ihc::reconstruct_by_dilation(in.marker, in.od);
    benchmark::DoNotOptimize(background.data);
  }
  state.counters["MP/s"] =
      benchmark::Counter(in.od.total() / 1e6, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Reconstruct)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_FloodCells(benchmark::State& state) {
  const Inputs& in = inputs();
  cv::Mat labels;
  for (auto _ : state) {
    state.PauseTiming();
    in.labels.copyTo(labels);
    state.ResumeTiming();
    ihc::seeded_flood(in.landscape, labels, in.reach_px, in.dab_smooth, ihc::kMinLineOd);
    benchmark::DoNotOptimize(labels.data);
  }
  state.counters["MP/s"] =
      benchmark::Counter(in.od.total() / 1e6, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_FloodCells)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_ErodeDisk16(benchmark::State& state) {
  const Inputs& in = inputs();
  for (auto _ : state) {
    cv::Mat m = ihc::erode_disk(in.od, 16.0);
    benchmark::DoNotOptimize(m.data);
  }
}
BENCHMARK(BM_ErodeDisk16)->Unit(benchmark::kMillisecond)->UseRealTime();

// detect_nuclei's bad-background mask: a 0/1 image dilated by twice the background radius.
void BM_DilateDisk32(benchmark::State& state) {
  const Inputs& in = inputs();
  cv::Mat high;
  cv::Mat(in.marker > 0.35f).convertTo(high, CV_32F, 1.0 / 255.0);
  for (auto _ : state) {
    cv::Mat m = ihc::dilate_disk(high, 32.0);
    benchmark::DoNotOptimize(m.data);
  }
}
BENCHMARK(BM_DilateDisk32)->Unit(benchmark::kMillisecond)->UseRealTime();

// detect_nuclei's ridge suppression: an opening by the smallest nucleus's disk (3.6 px by default).
void BM_OpenRidgeDisk(benchmark::State& state) {
  const Inputs& in = inputs();
  const double r = std::sqrt(ihc::NucleusParamsPx{}.min_area_px / CV_PI);
  for (auto _ : state) {
    cv::Mat m = ihc::dilate_disk(ihc::erode_disk(in.od, r), r);
    benchmark::DoNotOptimize(m.data);
  }
}
BENCHMARK(BM_OpenRidgeDisk)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  // The library reads IHC_SIMD itself; asked here only to print the path it takes.
  std::printf("morphology vector paths: %s\n", ihc::simd_allowed(ihc::SimdLevel::kAvx2) ? "AVX2" : "SSE2");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
