// Page faults (fresh memory) of cell detection on the synthetic 4096 x 4096 region of bench_detection, one
// thread. The rendering of the field is outside the counted part, unlike `perf stat` on bench_detection.
// Run: build/bench/bench_faults
// first_faults: the first detection (every per-thread buffer is faulted in once); faults: each later one
// (what fresh planes per tile cost); kept_MB: the growth of the resident set over the first detection, about
// the memory the thread keeps for the next one.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <cstdio>

#include <opencv2/core.hpp>

#include "imaging/cell_detection.hpp"
#include "tests/imaging/synthetic_cells.hpp"

namespace {

long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

long resident_kb() {
  long size = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &size, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * 4;  // 4 KB pages
}

void BM_DetectionFaults4096(benchmark::State& state) {
  static const ihc::test::SynthField f = ihc::test::random_field(cv::Size(4096, 4096), 1500, 7.0, 3);
  const ihc::StainMatrix stains = ihc::stain_preset("H-DAB");
  ihc::DetectionParams p;
  p.threads = 1;
  const int saved = cv::getNumThreads();
  cv::setNumThreads(1);
  long first = -1, later = 0, runs = 0;
  long rss_growth_kb = 0;
  for (auto _ : state) {
    const long rss0 = resident_kb();
    const long before = minor_faults();
    const ihc::CellTable t = ihc::detect_cells(f.rgb, 0.5, stains, p);
    const long faults = minor_faults() - before;
    benchmark::DoNotOptimize(t.size());
    if (first < 0) {
      first = faults;
      rss_growth_kb = resident_kb() - rss0;
    } else {
      later += faults;
      ++runs;
    }
  }
  cv::setNumThreads(saved);
  state.counters["first_faults"] = static_cast<double>(first);
  state.counters["faults"] = runs > 0 ? static_cast<double>(later) / static_cast<double>(runs) : 0.0;
  state.counters["kept_MB"] = static_cast<double>(rss_growth_kb) / 1024.0;
}
BENCHMARK(BM_DetectionFaults4096)->Iterations(4)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime();

}  // namespace

BENCHMARK_MAIN();
