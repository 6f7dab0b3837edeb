// ihcscore synth: a synthetic IHC image (PNG) and/or a pyramidal Aperio-style slide with a truth CSV of every
// cell (nucleus centre, stained compartment, grade).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli/cli_common.hpp"
#include "cli/commands.hpp"
#include "imaging/png_io.hpp"
#include "imaging/stains.hpp"
#include "imaging/synth.hpp"
#include "models/atomic_file.hpp"

namespace ihc::cli {
namespace {

namespace fs = std::filesystem;

template <std::size_t N>
std::array<double, N> parse_numbers(const std::string& text, const std::string& option) {
  std::array<double, N> out{};
  std::istringstream in(text);
  for (std::size_t i = 0; i < N; ++i) {
    char sep = ',';
    if ((i > 0 && (!(in >> sep) || sep != ',')) || !(in >> out[i])) {
      throw SynthError(option + ": '" + text + "' is not " + std::to_string(N) + " comma-separated numbers");
    }
  }
  if (!(in >> std::ws).eof()) {
    throw SynthError(option + ": '" + text + "' is not " + std::to_string(N) + " comma-separated numbers");
  }
  return out;
}

void print_cells(const std::vector<SynthCell>& cells) {
  std::array<int, 4> counts{};
  int tumour = 0;
  for (const auto& c : cells) {
    if (!c.is_tumour) continue;
    ++tumour;
    ++counts[c.grade];
  }
  std::printf("%zu cells, %d tumour:", cells.size(), tumour);
  static constexpr const char* kNames[] = {"Negative", "1+", "2+", "3+"};
  for (int g = 0; g < 4; ++g)
    std::printf(" %s %.1f%%", kNames[g], tumour > 0 ? 100.0 * counts[g] / tumour : 0.0);
  std::printf("\n");
}

}  // namespace

int run_synth(const Args& args) {
  SynthParams p;
  std::string kind = "membrane", layout, grades = "0.4,0.3,0.2,0.1", grade_od = "0.05,0.30,0.50,0.80";
  std::string background = "245,244,240", stains = "H-DAB";
  std::string output, truth, slide;
  int jpeg_quality = 90, png_jpeg_quality = 0, tile_size = 256;
  CLI::App app{
      "Generates a synthetic DAB/hematoxylin IHC image with known truth: tumour nests of polygonal cells, "
      "stroma with\nelongated nuclei, lymphocytes; DAB in the membrane, cytoplasm or nucleus with grades "
      "0/1+/2+/3+ "
      "in the\nrequested proportions. Writes a PNG, a truth CSV and/or a pyramidal Aperio-style slide "
      "(.svs).",
      "ihcscore synth"};
  app.add_option("--kind", kind, "membrane (DSG2-like), cytoplasm, nuclear (Ki-67-like) or mixed")
      ->capture_default_str();
  app.add_option("--layout", layout,
                 "field (tissue everywhere) or slide (tissue pieces on glass); default: slide with --slide, "
                 "else field");
  app.add_option("--width", p.width, "Width in pixels")->capture_default_str();
  app.add_option("--height", p.height, "Height in pixels")->capture_default_str();
  app.add_option("--mpp", p.mpp, "Microns per pixel")->capture_default_str();
  app.add_option("--seed", p.seed, "Random seed; the same seed gives identical files")->capture_default_str();
  app.add_option("--grades", grades, "Fractions of tumour cells Negative,1+,2+,3+ (sum 1)")
      ->capture_default_str();
  app.add_option("--grade-od", grade_od, "Mean DAB OD of the stained compartment per grade")
      ->capture_default_str();
  app.add_option("--tumour-fraction", p.tumour_fraction, "Area fraction of tissue in tumour nests")
      ->capture_default_str();
  app.add_option("--cell-size-um", p.cell_size_um, "Spacing of tumour cells")->capture_default_str();
  app.add_option("--membrane-width-um", p.membrane_width_um, "Width of the stained membrane line")
      ->capture_default_str();
  app.add_option("--membrane-band-um", p.membrane_band_um,
                 "Membranous cells: the grade's DAB OD is the mean over this band inside the cell border")
      ->capture_default_str();
  app.add_option("--cytoplasm-fraction", p.cytoplasm_dab_fraction,
                 "Membranous cells: cytoplasm DAB relative to the membrane")
      ->capture_default_str();
  app.add_option("--blur-um", p.blur_um, "Gaussian blur sigma of the optics")->capture_default_str();
  app.add_option("--noise", p.noise, "Sensor noise standard deviation in 8-bit levels")
      ->capture_default_str();
  app.add_option("--background", background, "Glass colour R,G,B")->capture_default_str();
  app.add_option("--stains", stains, "Stain preset or QuPath stain string")->capture_default_str();
  app.add_option("-o,--output", output, "PNG image to write");
  app.add_option("--truth", truth, "Truth CSV: id,x,y,compartment,grade,is_tumour,class");
  app.add_option("--slide", slide,
                 "Pyramidal tiled JPEG TIFF to write (Aperio SVS layout, opens in OpenSlide)");
  app.add_option("--jpeg-quality", jpeg_quality, "JPEG quality of the slide tiles")->capture_default_str();
  app.add_option("--png-jpeg-quality", png_jpeg_quality, "JPEG artefacts in the PNG (1..100; 0 = none)")
      ->capture_default_str();
  app.add_option("--tile-size", tile_size, "Slide tile size (multiple of 16)")->capture_default_str();
  if (auto stop = parse_command_line(app, args)) return *stop;
  try {
    if (output.empty() && slide.empty()) {
      throw SynthError("nothing to write: give -o image.png and/or --slide slide.svs");
    }
    p.kind = parse_synth_kind(kind);
    p.layout = layout.empty() ? (slide.empty() ? SynthLayout::Field : SynthLayout::Slide)
                              : parse_synth_layout(layout);
    p.grade_fractions = parse_numbers<4>(grades, "--grades");
    p.grade_dab_od = parse_numbers<4>(grade_od, "--grade-od");
    for (int g = 0; g < 4; ++g) {
      // Keep the default spread but never let it cross zero.
      p.grade_spread_od[g] = std::min(p.grade_spread_od[g], p.grade_dab_od[g]);
    }
    p.background = parse_numbers<3>(background, "--background");
    p.stains = stains_from_text(stains);
    validate(p);
    if (!output.empty() && static_cast<double>(p.width) * p.height > 100e6) {
      throw SynthError("-o: a " + std::to_string(p.width) + "x" + std::to_string(p.height) +
                       " PNG would not fit in memory comfortably (limit 100 megapixels); use --slide");
    }
    if (png_jpeg_quality < 0 || png_jpeg_quality > 100) {
      throw SynthError("--png-jpeg-quality: " + std::to_string(png_jpeg_quality) + " is outside 0..100");
    }
    if (!slide.empty()) {
      SynthSlideOptions so;
      so.jpeg_quality = jpeg_quality;
      so.tile_size = tile_size;
      if (jpeg_quality < 1 || jpeg_quality > 100) {
        throw SynthError("--jpeg-quality: " + std::to_string(jpeg_quality) + " is outside 1..100");
      }
      // A progress line redrawn with \r only on a terminal: in a log it was one line of 11 glued percentages.
      const bool terminal = ::isatty(STDERR_FILENO) != 0;
      int last_percent = -1;
      so.on_progress = [&](std::int64_t done, std::int64_t total) {
        const int percent = static_cast<int>(100 * done / total);
        if (terminal && percent / 10 != last_percent / 10) {
          std::fprintf(stderr, "\rwriting %s: %d%%", slide.c_str(), percent);
          last_percent = percent;
        }
      };
      const auto stats = write_synthetic_slide(p, slide, output.empty() ? truth : std::string(), so);
      if (terminal) std::fprintf(stderr, "\n");
      std::printf("wrote %s: %dx%d at %g um/px, %zu levels, %.1f MB in %.1f s (%.1f MP/s), %lld cells\n",
                  slide.c_str(), p.width, p.height, p.mpp, stats.level_sizes.size(), stats.bytes / 1e6,
                  stats.seconds, static_cast<double>(p.width) * p.height / 1e6 / stats.seconds,
                  static_cast<long long>(stats.cells));
    }
    if (!output.empty()) {
      const SynthImage image = synthesize_image(p, png_jpeg_quality);
      save_png(output, image.rgb, p.mpp);  // pHYs carries the pixel size
      std::printf("wrote %s: %dx%d at %g um/px, ", output.c_str(), p.width, p.height, p.mpp);
      print_cells(image.cells);
      if (!truth.empty()) write_truth_csv(truth, image.cells);
    }
    if (!truth.empty()) std::printf("wrote %s\n", truth.c_str());
  } catch (const SynthError& e) {
    std::fprintf(stderr, "ihcscore synth: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace ihc::cli
