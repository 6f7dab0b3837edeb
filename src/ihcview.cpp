// ihcview: whole-slide review viewer. `ihcview SLIDE [--results OUT/slides/<id>]`; scripted runs with
// `--script FILE [--screenshot OUT.png]` (used by ctest under Xvfb).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "cli/empty_values.hpp"
#include "gui/app.hpp"
#include "ihc/version.hpp"
#include "imaging/slide.hpp"

// The viewer reports the errors it expects itself; anything else ends here with a message rather than in
// std::terminate.
int main(int argc, char** argv) try {
  CLI::App app{"ihcview: review IHC cell scoring on a whole slide or image"};
  ihc::gui::ViewerOptions o;
  std::string slide, results, script, screenshot;
  app.add_option(
      "slide", slide,
      "Slide or image to open (or drop one on the window), or a result folder OUT/slides/<id>, which "
      "opens with its slide");
  app.add_option("--results", results, "Result folder of `ihcscore score` for this slide: OUT/slides/<id>");
  bool no_results = false;
  app.add_flag("--no-results", no_results,
               "Do not look for the slide's results (by default the newest under the output folders results "
               "were opened from, and ./ihcview-out, are loaded)");
  app.add_option("--script", script, "Replay this script (see docs/viewer.md), then exit");
  app.add_option("--screenshot", screenshot,
                 "Write the view as PNG once it is fully drawn (then exit without --script)");
  app.add_option("--preset", o.preset, "Parameter preset for scoring from the viewer");
  app.add_option("--params", o.params_file,
                 "Parameter file applied after the preset (as ihcscore score --params); the Detection panel "
                 "and the thresholds start from it");
  app.add_option("--mpp", o.mpp,
                 "Microns per pixel for images that carry none (as ihcscore score --mpp); results scored "
                 "with --mpp bring their own")
      ->check(CLI::Validator(
          [](std::string& text) {
            double v = 0;
            if (!CLI::detail::lexical_cast(text, v)) return "Value " + text + " is not a number";
            return ihc::mpp_problem(v, text);
          },
          "UM_PER_PX"));
  app.add_option("--width", o.width, "Window width")->capture_default_str();
  app.add_option("--height", o.height, "Window height")->capture_default_str();
  app.add_option("--autosave", o.autosave_seconds, "Seconds between autosaves of review.json")
      ->capture_default_str();
  app.set_version_flag("--version", std::string("ihcview ") + ihc::kVersion, "Print the version and exit");
  // A usage error exits 1, as ihcscore's do (CLI11's own codes, 104-109, read as crashes in a script), with
  // CLI11's message; --help and --version exit 0.
  try {
    app.parse(argc, argv);
    ihc::cli::refuse_empty_values(app);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;
  }
  o.slide = slide;
  o.results = results;
  o.find_results = !no_results;
  o.script = script;
  o.screenshot = screenshot;
  return ihc::gui::run_viewer(o);
} catch (const std::exception& e) {
  std::fprintf(stderr, "ihcview: %s\n", e.what());
  return 1;
}
