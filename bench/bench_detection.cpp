// Cell detection with measurements on a synthetic 4096 x 4096 region at 0.5 um/px (dense Ki-67-like nuclei).
// Run: build/bench/bench_detection --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include "imaging/cell_detection.hpp"
#include "tests/imaging/synthetic_cells.hpp"

namespace {

const ihc::test::SynthField& field() {
  static const ihc::test::SynthField f = ihc::test::random_field(cv::Size(4096, 4096), 1500, 7.0, 3);
  return f;
}

void BM_DetectCells4096(benchmark::State& state) {
  const auto& f = field();
  const ihc::StainMatrix stains = ihc::stain_preset("H-DAB");
  ihc::DetectionParams p;
  p.threads = static_cast<int>(state.range(0));
  std::size_t cells = 0;
  for (auto _ : state) {
    const ihc::CellTable t = ihc::detect_cells(f.rgb, 0.5, stains, p);
    cells = t.size();
    benchmark::DoNotOptimize(cells);
  }
  const double mpx = f.rgb.total() / 1e6;
  state.counters["MP/s"] = benchmark::Counter(mpx, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["cells"] = static_cast<double>(cells);
}
BENCHMARK(BM_DetectCells4096)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
