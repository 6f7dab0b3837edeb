// ihcscore stains estimate: per-slide hematoxylin and DAB vectors (Macenko on the tissue of an overview),
// printed as QuPath's stain string, ready for --set stain_vectors=... or QuPath's "Set stain vectors".
#include <CLI/CLI.hpp>
#include <cstdio>
#include <opencv2/imgproc.hpp>

#include "cli/cli_common.hpp"
#include "cli/commands.hpp"
#include "imaging/pipeline.hpp"
#include "imaging/slide.hpp"
#include "imaging/stain_estimation.hpp"
#include "imaging/stains.hpp"
#include "imaging/tissue.hpp"

namespace ihc::cli {

int run_stains(const Args& args) {
  std::string path, reference = "H-DAB";
  int max_side = 2048;
  double mpp = 0;
  bool edge_fit = false;
  CLI::App app{"Stain vectors of a slide.", "ihcscore stains"};
  app.require_subcommand(1);
  CLI::App* est =
      app.add_subcommand("estimate", "Estimate hematoxylin and DAB vectors of a slide (QuPath's string)");
  est->add_option("SLIDE", path, "Slide or image")->required();
  est->add_option("--reference", reference, "Stain preset the estimate starts from and is checked against")
      ->capture_default_str();
  est->add_option("--max-side", max_side, "Longest side of the overview the estimate is made on")
      ->check(CLI::Range(256, 16384))
      ->capture_default_str();
  est->add_option("--mpp", mpp, "Microns per pixel for images that carry none")->check(kPositiveFinite);
  est->add_flag("--edge-fit", edge_fit,
                "DAB direction from the edge of the colour cloud instead of Macenko's 1 % angle, which leans "
                "toward hematoxylin where every brown pixel is also blue (docs/stains.md)");
  if (auto stop = parse_command_line(app, args)) return *stop;
  StainMatrix ref;
  try {
    ref = stain_preset(reference);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ihcscore stains: error: %s\n", e.what());
    return 1;
  }
  try {
    OpenOptions oo;
    oo.mpp_override = mpp;
    auto slide = open_slide(path, oo);
    const SlideInfo& info = slide->info();
    const double w0 = info.level_sizes[0].width, h0 = info.level_sizes[0].height;
    const cv::Mat overview = read_overview(*slide, std::max(1.0, std::max(w0, h0) / max_side));
    const double mpp0 = info.has_mpp() ? info.mpp_x : 0.5;
    // Tissue on a 16 um/px copy, mapped back onto the overview: glass and dust stay out of the estimate.
    const double f = std::min(1.0, (mpp0 * w0 / overview.cols) / 16.0);
    cv::Mat small = overview;
    if (f < 1) cv::resize(overview, small, cv::Size(), f, f, cv::INTER_AREA);
    TissueParams tp;
    tp.um_per_px = mpp0 * w0 / small.cols;
    cv::Mat mask = detect_tissue(small, tp).mask;
    if (cv::countNonZero(mask) == 0) {
      mask = cv::Mat();  // a field full of tissue: use every pixel
    } else {
      cv::resize(mask, mask, overview.size(), 0, 0, cv::INTER_NEAREST);
    }
    StainEstimationParams ep;
    ep.edge_fit = edge_fit;
    StainEstimate e = estimate_stains(overview, ref, ep, mask);
    e.matrix.name = ref.name + " estimated";  // as slide.json names an estimate: "H-DAB default estimated"
    std::printf("%s\n", to_qupath_string(e.matrix).c_str());
    std::fprintf(stderr,
                 "%s: %lld pixels used; %s %.1f deg and %s %.1f deg from %s; %.1f deg apart; background %s "
                 "(%.0f %.0f %.0f)\n",
                 path.c_str(), static_cast<long long>(e.pixels_used), e.matrix.stains[0].name.c_str(),
                 e.deviation_deg[0], e.matrix.stains[1].name.c_str(), e.deviation_deg[1], reference.c_str(),
                 e.separation_deg, e.background.found ? "estimated" : "default", e.matrix.background[0],
                 e.matrix.background[1], e.matrix.background[2]);
  } catch (const SlideError& e) {
    std::fprintf(stderr, "ihcscore stains: error: %s\n", e.what());  // names the file already
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ihcscore stains: error: %s: %s\n", path.c_str(), e.what());
    return 2;
  }
  return 0;
}

}  // namespace ihc::cli
