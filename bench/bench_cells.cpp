// Cell growth and measurement alone, on the nuclei that detection finds in the synthetic 1024 x 1024 field
// of bench_detection (0.5 um/px, default detection parameters), one thread.
// Run: build/bench/bench_cells --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
// For instruction counts: valgrind --tool=callgrind build/bench/bench_cells --benchmark_min_time=0.01
#include <benchmark/benchmark.h>

#include <opencv2/core.hpp>

#include "imaging/cell_detection.hpp"
#include "imaging/cell_growth.hpp"
#include "imaging/cell_measurements.hpp"
#include "imaging/nucleus_detection.hpp"
#include "imaging/stains.hpp"
#include "tests/imaging/synthetic_cells.hpp"

namespace {

struct Input {
  cv::Mat labels;
  int count = 0;
  cv::Mat hematoxylin, dab;
  ihc::CellParamsPx cell;
};

const Input& input() {
  static const Input in = [] {
    const ihc::test::SynthField f = ihc::test::random_field(cv::Size(1024, 1024), 1500, 7.0, 3);
    const ihc::StainMatrix stains = ihc::stain_preset("H-DAB");
    const ihc::DetectionParams p;
    const double um = p.requested_pixel_size_um;
    ihc::NucleusParamsPx n;
    n.background_radius_px = p.background_radius_um / um;
    n.sigma_px = p.sigma_um / um;
    n.min_area_px = p.min_area_um2 / (um * um);
    n.max_area_px = p.max_area_um2 / (um * um);
    const ihc::DeconvolutionResult d = ihc::deconvolve(f.rgb, stains);
    const ihc::NucleusDetection nuclei =
        ihc::detect_nuclei(ihc::optical_density_sum(f.rgb, stains.background), n);
    Input r;
    r.labels = nuclei.labels;
    r.count = nuclei.count;
    r.hematoxylin = d.stain1;
    r.dab = d.stain2;
    r.cell.cell_expansion_px = p.cell_expansion_um / um;
    r.cell.membrane_width_px = p.membrane_width_um / um;
    r.cell.smooth_boundaries = p.smooth_boundaries;
    r.cell.um_per_px = um;
    r.cell.area_scale = um * um;
    return r;
  }();
  return in;
}

void set_counters(benchmark::State& state, const Input& in) {
  state.counters["MP/s"] =
      benchmark::Counter(in.labels.total() / 1e6, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["nuclei"] = in.count;
}

void BM_GrowCells1024(benchmark::State& state) {
  const Input& in = input();
  const int saved = cv::getNumThreads();
  cv::setNumThreads(1);
  for (auto _ : state) {
    const ihc::CellGrowth g = ihc::grow_cells(in.labels, in.dab, in.cell);
    benchmark::DoNotOptimize(g.cell_labels.data);
  }
  cv::setNumThreads(saved);
  set_counters(state, in);
}
BENCHMARK(BM_GrowCells1024)->Unit(benchmark::kMillisecond)->UseRealTime();

// Growth included: measure_cells grows the cells itself.
void BM_MeasureCells1024(benchmark::State& state) {
  const Input& in = input();
  const int saved = cv::getNumThreads();
  cv::setNumThreads(1);
  std::size_t cells = 0;
  for (auto _ : state) {
    const auto measured = ihc::measure_cells(in.labels, in.count, in.hematoxylin, in.dab, in.cell);
    cells = measured.size();
    benchmark::DoNotOptimize(cells);
  }
  cv::setNumThreads(saved);
  set_counters(state, in);
  state.counters["cells"] = static_cast<double>(cells);
}
BENCHMARK(BM_MeasureCells1024)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
