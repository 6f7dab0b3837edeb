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
#include "imaging/stain_estimation.hpp"
#include "imaging/tissue.hpp"

namespace ihc::cli {

// Without an mpp, each pixel of the (at most 1024 px) overview counts as this many microns: the detector's
// filters then act at a few overview pixels (smoothing 4 px, smallest piece 0.3 % of a 1024^2 overview).
constexpr double kUnknownScaleUmPerPx = 4.0;

int run_info(const Args& args) {
  std::string path;
  double mpp = 0, tissue_um = 16;
  bool no_tissue = false;
  CLI::App app{"Prints format, levels, microns per pixel (and its source), objective power and tissue area.",
               "ihcscore info"};
  app.add_option("SLIDE", path, "Slide or image")->required();
  app.add_option("--mpp", mpp, "Microns per pixel for images that carry none")->check(kPositiveFinite);
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
    const double w0 = info.level_sizes[0].width, h0 = info.level_sizes[0].height;
    // The overview at the tissue resolution, but never coarser than 256 px on the long side. Without an mpp
    // the image's scale is unknown (a slide overview or a microscope field): an overview of at most 1024 px
    // whose pixels count as kUnknownScaleUmPerPx, so the size filters act at a few overview pixels instead of
    // a guessed 0.5 um/px that made a microscope field's tissue 16x too small to smooth and close.
    const double long_side = std::max(w0, h0);
    const double ds = info.has_mpp() ? std::max(1.0, std::min(tissue_um / info.mpp_x, long_side / 256.0))
                                     : std::max(1.0, long_side / 1024.0);
    const cv::Mat overview = read_overview(*slide, ds);
    TissueParams tp;
    tp.um_per_px = info.has_mpp() ? info.mpp_x * w0 / overview.cols : kUnknownScaleUmPerPx;
    if (info.level_count() == 1) {
      // A plain image's glass colour anchors the tissue threshold as in `score` (a field without glass is
      // tissue to its edges), estimated where `score` estimates it: on the overlay-sized overview.
      const BackgroundEstimate glass =
          estimate_background(read_overview(*slide, std::max(1.0, long_side / kDefaultOverlayMaxPx)));
      if (glass.found) tp.glass_od = glass_od_sum(glass.background);
    }
    const TissueResult tr = detect_tissue(overview, tp);
    const double px_area_level0 = (w0 / overview.cols) * (h0 / overview.rows);
    const double fraction =
        static_cast<double>(tr.area_px) / (static_cast<double>(overview.cols) * overview.rows);
    if (info.has_mpp()) {
      const double mm2 = tr.area_px * px_area_level0 * info.mpp_x * info.mpp_y / 1e6;
      std::printf("tissue area: %.4g mm^2 (%.1f%% of the image, %zu pieces, OD threshold %.3g)\n", mm2,
                  100 * fraction, tr.boxes.size(), tr.threshold_od);
    } else {
      std::printf(
          "tissue area: %.4g Mpx at full resolution (%.1f%% of the image, %zu pieces; no mpp, so no mm^2 and "
          "size filters in overview pixels)\n",
          tr.area_px * px_area_level0 / 1e6, 100 * fraction, tr.boxes.size());
    }
    const ImageTypeEstimate type =
        estimate_overview_image_type(overview, tr.area_px > 0 ? tr.mask : cv::Mat());
    std::printf("image type: %s (%s)\n", image_type_name(type.type), type.summary.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ihcscore info: error: tissue detection failed: %s\n", e.what());
    return 2;
  }
  return 0;
}

}  // namespace ihc::cli
