// Speed of synthetic image rendering and of streamed pyramidal slide writing (target: >= 20 MP/s for slides).
// Items per second are pixels of level 0.
#include <benchmark/benchmark.h>

#include <filesystem>

#include "imaging/synth.hpp"
#include "imaging/tiff_writer.hpp"

namespace {

ihc::SynthParams params(ihc::SynthKind kind, ihc::SynthLayout layout, int size, double mpp) {
  ihc::SynthParams p;
  p.kind = kind;
  p.layout = layout;
  p.width = size;
  p.height = size;
  p.mpp = mpp;
  p.seed = 7;
  return p;
}

// One 2048 x 256 strip of tumour-rich tissue at 0.25 um/px (one thread): the renderer's inner loops.
void BM_RenderStrip(benchmark::State& state) {
  const ihc::SynthRenderer renderer(params(ihc::SynthKind::Membrane, ihc::SynthLayout::Field, 8192, 0.25));
  const cv::Rect r(2048, 2048, 2048, 256);
  for (auto _ : state) benchmark::DoNotOptimize(renderer.render(r).data);
  state.SetItemsProcessed(state.iterations() * r.area());
}
BENCHMARK(BM_RenderStrip)->Unit(benchmark::kMillisecond);

// JPEG encoding of one 256 x 256 tile (q 90), the writer's other cost.
void BM_EncodeTile(benchmark::State& state) {
  const ihc::SynthRenderer renderer(params(ihc::SynthKind::Membrane, ihc::SynthLayout::Field, 1024, 0.25));
  const cv::Mat tile = renderer.render(cv::Rect(0, 0, 256, 256));
  for (auto _ : state) benchmark::DoNotOptimize(ihc::encode_jpeg_rgb(tile, 90).data());
  state.SetItemsProcessed(state.iterations() * 256 * 256);
}
BENCHMARK(BM_EncodeTile)->Unit(benchmark::kMicrosecond);

// A whole slide with tissue pieces on glass, streamed to disk with all threads: the number to compare with
// the 20 MP/s target. Arg: side in pixels.
void BM_WriteSlide(benchmark::State& state) {
  const int side = static_cast<int>(state.range(0));
  const auto p = params(ihc::SynthKind::Mixed, ihc::SynthLayout::Slide, side, 0.25);
  const auto path = std::filesystem::temp_directory_path() / "bench_synth_slide.svs";
  for (auto _ : state) {
    const auto stats = ihc::write_synthetic_slide(p, path, {});
    benchmark::DoNotOptimize(stats.bytes);
  }
  std::filesystem::remove(path);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(side) * side);
}
BENCHMARK(BM_WriteSlide)->Arg(8192)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
