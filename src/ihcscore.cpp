// ihcscore: batch scoring of DAB IHC slides. Thin dispatcher; each command lives in src/cli/.
#include <malloc.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.hpp"
#include "ihc/version.hpp"
#include "imaging/slide_image.hpp"
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
  // Kept within a slide, given back between slides: without the trim a long batch's threads each kept their
  // largest slide (-j 2: 1.59 GB after 16 slides, 1.94 GB after 64). A plain image above 256 MB of pixels
  // (about 9200 x 9200) is scored alone: two 15000 x 15000 PNGs side by side took 2.95 GB.
  // One malloc arena a core instead of glibc's eight: tile and OpenCV threads each kept their own (64 slides:
  // 1.60 GB with 8 per core, 1.28 GB with 2 arenas on 2 cores, no slower).
  mallopt(M_ARENA_MAX, static_cast<int>(std::max(2u, std::thread::hardware_concurrency())));
  ihc::set_slide_memory_policy({.alone_bytes = std::int64_t{256} << 20, .trim_on_close = true});
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
