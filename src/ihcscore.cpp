// ihcscore: batch scoring of DAB IHC slides. Thin dispatcher; each command lives in src/cli/.
#include <malloc.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "ihc/version.hpp"
#include "models/text.hpp"

namespace {

struct Command {
  const char* name;
  int (*run)(const ihc::cli::Args&);
  const char* help;
};

constexpr Command kCommands[] = {
    {"score", ihc::cli::run_score, "score slides, images or folders into tables, overlays and GeoJSON"},
    {"params", ihc::cli::run_params, "print the resolved parameters as an editable parameter file"},
    {"info", ihc::cli::run_info, "print format, levels, microns per pixel and tissue area of a slide"},
    {"stains", ihc::cli::run_stains, "estimate stain vectors of a slide (QuPath's stain string)"},
    {"synth", ihc::cli::run_synth, "generate a synthetic IHC image or pyramidal slide with known truth"},
    {"evaluate", ihc::cli::run_evaluate, "compare detections with annotated cells (precision, recall, F1)"},
    {"reviewed", ihc::cli::run_reviewed, "a batch's scores with the reviews saved in ihcview applied"},
    {"cohort", ihc::cli::run_cohort, "survival and correlation analysis of slide scores with clinical data"},
};

void usage(std::FILE* out) {
  std::fprintf(out,
               "ihcscore %s - scoring of DAB immunohistochemistry\n\nUsage: ihcscore <command> [options]\n\n",
               ihc::kVersion);
  for (const auto& c : kCommands) std::fprintf(out, "  %-9s %s\n", c.name, c.help);
  std::fprintf(out, "\nRun 'ihcscore <command> --help' for the options of a command.\n");
}

}  // namespace

int main(int argc, char** argv) {
  // Detection allocates the same few-MB planes for every tile. With glibc's defaults freed planes go back to
  // the kernel and the next tile faults them in again (about 10 % of a 4096^2 detection was page faults);
  // keeping them in the heap costs ~30 MB of resident memory and halves the faults.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 64 << 20);
  if (argc < 2) {
    usage(stderr);
    return 1;
  }
  const std::string name = argv[1];
  if (name == "-h" || name == "--help" || name == "help") {
    usage(stdout);
    return 0;
  }
  if (name == "--version") {
    std::printf("ihcscore %s\n", ihc::kVersion);
    return 0;
  }
  ihc::cli::Args args(argv + 2, argv + argc);
  for (const auto& c : kCommands) {
    if (name == c.name) {
      try {
        return c.run(args);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "ihcscore %s: error: %s\n", c.name, e.what());
        return 1;
      }
    }
  }
  std::vector<std::string> names;
  for (const auto& c : kCommands) names.emplace_back(c.name);
  const std::string meant = ihc::closest_name(name, names);
  std::fprintf(stderr, "ihcscore: unknown command '%s'%s\n\n", name.c_str(),
               meant.empty() ? "" : (" (did you mean '" + meant + "'?)").c_str());
  usage(stderr);
  return 1;
}
