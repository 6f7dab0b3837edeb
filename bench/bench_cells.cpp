// Cell growth and measurement alone, on the nuclei that detection finds in the synthetic 1024 x 1024 field
// of bench_detection (0.5 um/px, default detection parameters), one thread.
// Run: build/bench/bench_cells --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
// For instruction counts: valgrind --tool=callgrind build/bench/bench_cells --benchmark_min_time=0.01
#include <benchmark/benchmark.h>

#include <algorithm>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "imaging/cell_detection.hpp"
#include "imaging/cell_growth.hpp"
#include "imaging/cell_measurements.hpp"
#include "imaging/line_ownership.hpp"
#include "imaging/morphology.hpp"
#include "imaging/nucleus_detection.hpp"
#include "imaging/stains.hpp"
#include "imaging/synth.hpp"
#include "tests/imaging/synthetic_cells.hpp"

namespace {

struct Input {
  cv::Mat labels;
  int count = 0;
  cv::Mat hematoxylin, dab;
  ihc::CellParamsPx cell;
};

// Nuclei, stain planes and cell parameters of one RGB field, as detection makes them with the defaults.
Input prepare(const cv::Mat& rgb) {
  const ihc::StainMatrix stains = ihc::stain_preset("H-DAB");
  const ihc::DetectionParams p;
  const double um = p.requested_pixel_size_um;
  ihc::NucleusParamsPx n;
  n.background_radius_px = p.background_radius_um / um;
  n.sigma_px = p.sigma_um / um;
  n.min_area_px = p.min_area_um2 / (um * um);
  n.max_area_px = p.max_area_um2 / (um * um);
  const ihc::DeconvolutionResult d = ihc::deconvolve(rgb, stains);
  const ihc::NucleusDetection nuclei =
      ihc::detect_nuclei(ihc::optical_density_sum(rgb, stains.background), n);
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
}

const Input& input() {
  static const Input in = prepare(ihc::test::random_field(cv::Size(1024, 1024), 1500, 7.0, 3).rgb);
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

// Growth without the flood, for the stages of imaging/cell_growth.cpp and line_ownership.cpp alone (the
// flood is imaging/morphology.cpp's). Inputs as grow_cells makes them: its landscape constants (0.03 OD per
// um, DAB blurred by 0.5 um) are repeated here.
struct GrowthInput {
  cv::Mat dab_smooth;
  cv::Mat flooded;  // cell labels after the flood, -1 beyond reach as the flood leaves them
  double od_per_px = 0, reach = 0, band_px = 0;
  ihc::LineOwnershipParams own;
};

// The smoothed DAB, the flooded labels and the line-ownership parameters grow_cells uses for `in`.
GrowthInput prepare_growth(const Input& in) {
  GrowthInput r;
  const double sigma_px = 0.5 / in.cell.um_per_px;
  cv::GaussianBlur(in.dab, r.dab_smooth, cv::Size(), sigma_px, sigma_px, cv::BORDER_REPLICATE);
  r.od_per_px = 0.03 * in.cell.um_per_px;
  r.reach = in.cell.cell_expansion_px + 0.5;
  cv::Mat landscape;
  ihc::growth_landscape(in.labels, r.dab_smooth, r.od_per_px, r.reach, landscape, r.flooded);
  ihc::seeded_flood(landscape, r.flooded, r.reach, r.dab_smooth, ihc::kMinLineOd);
  r.band_px = std::max(1.0, in.cell.membrane_width_px);
  r.own.blur_sigma_px = ihc::kObjectiveSigmaUm / in.cell.um_per_px;
  r.own.max_shift_px = r.band_px + 1.0 / in.cell.um_per_px;
  r.own.um_per_px = in.cell.um_per_px;
  // As grow_cells sets it: its bands (and membrane_band's, 2 px wide here) hold the 3 x 3 around every edge.
  r.own.band_holds_borders = 0.955f + 0.5f < static_cast<float>(r.band_px);
  return r;
}

const GrowthInput& growth_input() {
  static const GrowthInput g = prepare_growth(input());
  return g;
}

void BM_GrowthLandscape1024(benchmark::State& state) {
  const Input& in = input();
  const GrowthInput& g = growth_input();
  cv::Mat landscape, labels;
  for (auto _ : state) {
    ihc::growth_landscape(in.labels, g.dab_smooth, g.od_per_px, g.reach, landscape, labels);
    benchmark::DoNotOptimize(landscape.data);
  }
  set_counters(state, in);
}
BENCHMARK(BM_GrowthLandscape1024)->Unit(benchmark::kMillisecond);

// What grow_cells does after the flood: two line-ownership passes on fresh bands, then the final band (the
// labels' copy is part of the time, ~1 %).
void BM_LinesTwoPassesAndBands1024(benchmark::State& state) {
  const Input& in = input();
  const GrowthInput& g = growth_input();
  cv::Mat labels, band;
  for (auto _ : state) {
    g.flooded.copyTo(labels);
    labels.setTo(0, labels < 0);
    for (int pass = 0; pass < 2; ++pass) {
      ihc::LineOwnershipParams own = g.own;
      own.fit_borders = pass == 0;
      ihc::give_lines_to_brown_cells(labels, in.labels, in.dab, ihc::membrane_band(labels, g.band_px), own);
    }
    band = ihc::membrane_band(labels, g.band_px);
    benchmark::DoNotOptimize(band.data);
  }
  set_counters(state, in);
}
BENCHMARK(BM_LinesTwoPassesAndBands1024)->Unit(benchmark::kMillisecond);

// The band rule alone (line ownership's second pass) on the random field's flooded cells and their band, as
// detection runs it on every tile (the labels' copy is part of the time).
void BM_BandRule1024(benchmark::State& state) {
  const Input& in = input();
  const GrowthInput& g = growth_input();
  cv::Mat start = g.flooded.clone();
  start.setTo(0, start < 0);
  const cv::Mat band = ihc::membrane_band(start, g.band_px);
  ihc::LineOwnershipParams own = g.own;
  own.fit_borders = false;
  cv::Mat labels;
  for (auto _ : state) {
    start.copyTo(labels);
    ihc::give_lines_to_brown_cells(labels, in.labels, in.dab, band, own);
    benchmark::DoNotOptimize(labels.data);
  }
  set_counters(state, in);
}
BENCHMARK(BM_BandRule1024)->Unit(benchmark::kMillisecond);

// The measurements alone (compartment sums, outlines, circularity) on cells grown once beforehand.
void BM_MeasureGrownCells1024(benchmark::State& state) {
  const Input& in = input();
  const int saved = cv::getNumThreads();
  cv::setNumThreads(1);
  const ihc::CellGrowth grown = ihc::grow_cells(in.labels, in.dab, in.cell);
  std::size_t cells = 0;
  for (auto _ : state) {
    const auto measured =
        ihc::measure_grown_cells(in.labels, in.count, in.hematoxylin, in.dab, grown, in.cell);
    cells = measured.size();
    benchmark::DoNotOptimize(cells);
  }
  cv::setNumThreads(saved);
  set_counters(state, in);
  state.counters["cells"] = static_cast<double>(cells);
}
BENCHMARK(BM_MeasureGrownCells1024)->Unit(benchmark::kMillisecond);

// Line ownership on a membranous field (synthetic DSG2-like, 1024 x 1024 at 0.5 um/px, seed 1): thin brown
// lines on every border, so most borders carry band pixels and brown candidates (the random field above has
// few). Nuclei from detect_nuclei, cells flooded as grow_cells does; timed: the two passes on fresh bands.
struct MembraneInput {
  Input in;
  GrowthInput g;
};

const MembraneInput& membrane_input() {
  static const MembraneInput m = [] {
    ihc::SynthParams sp;
    sp.kind = ihc::SynthKind::Membrane;
    MembraneInput r;
    r.in = prepare(ihc::synthesize_image(sp).rgb);
    r.g = prepare_growth(r.in);
    return r;
  }();
  return m;
}

// Both line-ownership passes alone (bands made before the loop: pass 1's from the flood, pass 2's from
// pass 1's result), so the time is line ownership's only.
void BM_LinesMembrane1024(benchmark::State& state) {
  const MembraneInput& m = membrane_input();
  cv::Mat start = m.g.flooded.clone();
  start.setTo(0, start < 0);
  const cv::Mat band1 = ihc::membrane_band(start, m.g.band_px);
  cv::Mat after1 = start.clone();
  ihc::LineOwnershipParams own1 = m.g.own, own2 = m.g.own;
  own1.fit_borders = true;
  own2.fit_borders = false;
  ihc::give_lines_to_brown_cells(after1, m.in.labels, m.in.dab, band1, own1);
  const cv::Mat band2 = ihc::membrane_band(after1, m.g.band_px);
  cv::Mat labels;
  for (auto _ : state) {
    start.copyTo(labels);
    ihc::give_lines_to_brown_cells(labels, m.in.labels, m.in.dab, band1, own1);
    ihc::give_lines_to_brown_cells(labels, m.in.labels, m.in.dab, band2, own2);
    benchmark::DoNotOptimize(labels.data);
  }
  set_counters(state, m.in);
}
BENCHMARK(BM_LinesMembrane1024)->Unit(benchmark::kMillisecond);

// grow_cells whole (landscape, flood, both line passes, bands) on the membranous field.
void BM_GrowCellsMembrane1024(benchmark::State& state) {
  const MembraneInput& m = membrane_input();
  ihc::CellGrowth grown;
  for (auto _ : state) {
    ihc::grow_cells(m.in.labels, m.in.dab, m.in.cell, grown);
    benchmark::DoNotOptimize(grown.cell_labels.data);
  }
  set_counters(state, m.in);
}
BENCHMARK(BM_GrowCellsMembrane1024)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
