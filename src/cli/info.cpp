// ihcscore info: what a slide is (format, levels, pixel size and where it came from, objective) and how much
// tissue it holds.
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>

#include "cli/cli_common.hpp"
#include "cli/commands.hpp"
#include "imaging/image_type.hpp"
#include "imaging/pipeline.hpp"
#include "imaging/slide.hpp"

namespace ihc::cli {

int run_info(const Args& args) {
  std::string path;
  double mpp = 0, tissue_um = 16;
  bool no_tissue = false;
  CLI::App app{"Prints format, levels, microns per pixel (and its source), objective power and tissue area.",
               "ihcscore info"};
  app.add_option("SLIDE", path, "Slide or image")->required();
  app.add_option("--mpp", mpp, "Microns per pixel for images that carry none")->check(kMicronsPerPixel);
  app.add_option("--tissue-resolution-um", tissue_um, "Overview pixel size for tissue detection")
      ->check(kPositiveFinite)
      ->capture_default_str();
  app.add_flag("--no-tissue", no_tissue, "Skip tissue detection");
  if (auto stop = parse_command_line(app, args)) return *stop;
  std::unique_ptr<Slide> slide;
  try {
    OpenOptions oo;
    oo.mpp_override = mpp;
    slide = open_slide(path, oo);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ihcscore info: error: %s\n", e.what());
    return 2;
  }
  const SlideInfo& info = slide->info();
  std::printf("file: %s\n", path.c_str());
  std::printf("format: %s (reader: %s)\n", info.format.c_str(), info.backend.c_str());
  std::printf("levels: %d\n", info.level_count());
  for (int l = 0; l < info.level_count(); ++l) {
    std::printf("  level %d: %d x %d px, downsample %.4g\n", l, info.level_sizes[l].width,
                info.level_sizes[l].height, info.downsamples[l]);
  }
  if (info.has_mpp()) {
    std::printf("mpp: %.6g x %.6g um/px (from %s)\n", info.mpp_x, info.mpp_y, info.mpp_source.c_str());
  } else {
    std::printf("mpp: unknown (the file has no pixel size; give --mpp to score in microns)\n");
  }
  if (std::isfinite(info.objective_power)) {
    std::printf("objective power: %gx\n", info.objective_power);
  } else {
    std::printf("objective power: unknown\n");
  }
  if (!info.associated_images.empty()) {
    std::string names;
    for (const auto& n : info.associated_images) names += (names.empty() ? "" : ", ") + n;
    std::printf("associated images: %s\n", names.c_str());
  }
  for (const auto& w : info.warnings) std::printf("warning: %s\n", w.c_str());
  if (no_tissue) return 0;
  try {
    ParamSet params = resolve_params("", "", {});
    params.set("tissue_resolution_um", format_number(tissue_um), "--tissue-resolution-um");
    const SlideTissue t = slide_tissue(path, params, mpp);
    if (std::isfinite(t.area_mm2)) {
      std::printf("tissue area: %.4g mm^2 (%.1f%% of the image, %d %s, OD threshold %.3g)\n", t.area_mm2,
                  100 * t.fraction, t.pieces, t.pieces == 1 ? "piece" : "pieces", t.threshold_od);
    } else {
      std::printf(
          "tissue area: %.4g Mpx at full resolution (%.1f%% of the image, %d %s; no mpp, so no mm^2 and "
          "size filters in overview pixels)\n",
          t.area_px0 / 1e6, 100 * t.fraction, t.pieces, t.pieces == 1 ? "piece" : "pieces");
    }
    if (!t.note.empty()) std::printf("note: %s (when cells are found)\n", t.note.c_str());
    std::printf("image type: %s (%s)\n", image_type_name(t.type.type), t.type.summary.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ihcscore info: error: tissue detection failed: %s\n", e.what());
    return 2;
  }
  return 0;
}

}  // namespace ihc::cli
