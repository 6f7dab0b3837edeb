// Cell detection with measurements on a synthetic 4096 x 4096 region at 0.5 um/px (dense Ki-67-like nuclei).
// Run: build/bench/bench_detection --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
// (the CPU column of BM_DetectCells4096 is the whole process: every worker thread)
// BM_DetectCells1024 (one thread, one 1024 px tile, same density) is small enough for callgrind:
//   valgrind --tool=callgrind build/bench/bench_detection --benchmark_filter=1024 --benchmark_min_time=0.01
#include <benchmark/benchmark.h>

#include <opencv2/core.hpp>

#include "imaging/cell_detection.hpp"
#include "imaging/nucleus_detection.hpp"
#include "tests/imaging/synthetic_cells.hpp"

namespace {

const ihc::test::SynthField& field() {
  static const ihc::test::SynthField f = ihc::test::random_field(cv::Size(4096, 4096), 1500, 7.0, 3);
  return f;
}

void run_detection(benchmark::State& state, const cv::Mat& rgb, int threads,
                   bool hematoxylin_search = false) {
  const ihc::StainMatrix stains = ihc::stain_preset("H-DAB");
  ihc::DetectionParams p;
  p.threads = threads;
  p.hematoxylin_search = hematoxylin_search;
  std::size_t cells = 0;
  for (auto _ : state) {
    const ihc::CellTable t = ihc::detect_cells(rgb, 0.5, stains, p);
    cells = t.size();
    benchmark::DoNotOptimize(cells);
  }
  const double mpx = rgb.total() / 1e6;
  state.counters["MP/s"] = benchmark::Counter(mpx, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["cells"] = static_cast<double>(cells);
}

void BM_DetectCells4096(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  // One thread means one core: OpenCV's own pool off too (with more workers, run_tasks turns it off).
  const int saved = cv::getNumThreads();
  if (threads == 1) cv::setNumThreads(1);
  run_detection(state, field().rgb, threads);
  cv::setNumThreads(saved);
}
BENCHMARK(BM_DetectCells4096)
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime()
    ->UseRealTime();

// The same with the second nucleus search on the hematoxylin plane (hematoxylin_search, ki67 preset).
void BM_DetectCells4096HematoxylinSearch(benchmark::State& state) {
  run_detection(state, field().rgb, static_cast<int>(state.range(0)), true);
}
BENCHMARK(BM_DetectCells4096HematoxylinSearch)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime()
    ->UseRealTime();

void BM_DetectCells1024(benchmark::State& state) {
  static const ihc::test::SynthField small = ihc::test::random_field(cv::Size(1024, 1024), 1500, 7.0, 3);
  const int saved = cv::getNumThreads();
  cv::setNumThreads(1);
  run_detection(state, small.rgb, 1);
  cv::setNumThreads(saved);
}
BENCHMARK(BM_DetectCells1024)->Unit(benchmark::kMillisecond)->UseRealTime();

// Background estimate of detect_nuclei on the 1024 px field: erosion by the 8 um disk (16 px), then
// reconstruction under the OD sum.
void BM_BackgroundReconstruction(benchmark::State& state) {
  static const ihc::test::SynthField small = ihc::test::random_field(cv::Size(1024, 1024), 1500, 7.0, 3);
  const ihc::StainMatrix stains = ihc::stain_preset("H-DAB");
  const cv::Mat od = ihc::optical_density_sum(small.rgb, stains.background);
  const cv::Mat marker = ihc::erode_disk(od, 16.0);
  for (auto _ : state) {
    cv::Mat background = ihc::reconstruct_by_dilation(marker, od);
    benchmark::DoNotOptimize(background.data);
  }
  state.counters["MP/s"] =
      benchmark::Counter(od.total() / 1e6, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_BackgroundReconstruction)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
