// ihcscore stains estimate: per-slide hematoxylin and DAB vectors (Macenko on the tissue of an overview, as
// `score --set estimate_stains=true` makes them), printed as QuPath's stain string, ready for
// --set stain_vectors=... or QuPath's "Set stain vectors".
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/cli_common.hpp"
#include "cli/commands.hpp"
#include "imaging/pipeline.hpp"
#include "imaging/stains.hpp"

namespace ihc::cli {

int run_stains(const Args& args) {
  std::string path, reference, preset, params_file;
  std::vector<std::string> sets;
  int max_side = 0;
  double mpp = 0;
  bool edge_fit = false;
  CLI::App app{"Stain vectors of a slide.", "ihcscore stains"};
  app.require_subcommand(1);
  CLI::App* est = app.add_subcommand(
      "estimate",
      "Estimate hematoxylin and DAB vectors of a slide (QuPath's string): the vectors `ihcscore score` "
      "uses with estimate_stains=true and the same parameters");
  est->add_option("SLIDE", path, "Slide or image")->required();
  est->add_option("--preset", preset, "Parameter preset: dsg2 (default) or ki67");
  est->add_option("--params", params_file, "Parameter file (key = value), applied after the preset");
  est->add_option("--set", sets, "key=value, applied last (repeatable); see 'ihcscore params --show'");
  est->add_option("--reference", reference,
                  "Stain preset the estimate starts from and is checked against (sets stain_vectors; "
                  "default: the parameters' stain_vectors, H-DAB)");
  est->add_option("--max-side", max_side,
                  "Longest side of the overview the estimate is made on (sets overlay_max_px, 2048)")
      ->check(CLI::Range(256, 16384));
  est->add_option("--mpp", mpp, "Microns per pixel for images that carry none")->check(kMicronsPerPixel);
  est->add_flag("--edge-fit", edge_fit,
                "DAB direction from the edge of the colour cloud instead of Macenko's 1 % angle, which leans "
                "toward hematoxylin where every brown pixel is also blue (sets stain_estimation; "
                "docs/stains.md)");
  if (auto stop = parse_command_line(app, args)) return *stop;
  // The options are shorthands for parameters, applied after the user's own.
  ParamSet params;
  std::string reference_name = "stain_vectors";
  try {
    if (!reference.empty()) {
      sets.push_back("stain_vectors=" + to_qupath_string(stain_preset(reference)));
      reference_name = reference;
    }
    if (max_side > 0) sets.push_back("overlay_max_px=" + std::to_string(max_side));
    if (edge_fit) sets.push_back("stain_estimation=Macenko + DAB edge fit");
    params = resolve_params(preset, params_file, sets);  // checked whole
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ihcscore stains: error: %s\n", e.what());
    return 1;
  }
  try {
    const SlideStainEstimate e = estimate_slide_stains(path, params, mpp);
    if (!e.failure.empty()) {
      std::fprintf(stderr, "ihcscore stains: error: %s: %s\n", path.c_str(), e.failure.c_str());
      return 2;
    }
    std::printf("%s\n", to_qupath_string(e.matrix).c_str());
    for (const auto& w : e.warnings)
      std::fprintf(stderr, "ihcscore stains: warning: %s: %s\n", path.c_str(), w.c_str());
    std::fprintf(stderr,
                 "%s: %lld pixels used; %s %.1f deg and %s %.1f deg from %s; %.1f deg apart; background %s "
                 "(%.0f %.0f %.0f)\n",
                 path.c_str(), static_cast<long long>(e.pixels_used), e.matrix.stains[0].name.c_str(),
                 e.deviation_deg[0], e.matrix.stains[1].name.c_str(), e.deviation_deg[1],
                 reference_name.c_str(), e.separation_deg, e.background_found ? "estimated" : "default",
                 e.matrix.background[0], e.matrix.background[1], e.matrix.background[2]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ihcscore stains: error: %s\n", e.what());  // names the file already
    return 2;
  }
  return 0;
}

}  // namespace ihc::cli
