#pragma once
// Synthetic IHC images and slides with known truth. Every pixel is a pure function of its level-0
// coordinates, the parameters and the seed (cells come from a jittered grid hashed by grid index, fields from
// hashed lattice noise), so any rectangle renders identically on its own or as part of a larger one: tiles
// agree at seams and a 40000 x 40000 slide is rendered strip by strip without ever being held in memory.
//
// Composition is Beer-Lambert with the chosen stain vectors: I_c = background_c * 10^-(H v_H,c + D v_D,c),
// where H and D are the hematoxylin and DAB concentrations (= the OD values colour deconvolution recovers).
#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <opencv2/core.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "imaging/stains.hpp"

namespace ihc {

class SynthError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Where the DAB of tumour cells sits. Mixed: each tumour region draws membrane, cytoplasm or nucleus.
enum class SynthKind { Membrane, Cytoplasm, Nuclear, Mixed };
// Field: tissue fills the image (a microscope field). Slide: tissue pieces on white glass.
enum class SynthLayout { Field, Slide };
enum class Compartment : std::uint8_t { Membrane = 0, Cytoplasm = 1, Nucleus = 2 };

std::string_view synth_kind_name(SynthKind k);      // "membrane", "cytoplasm", "nuclear", "mixed"
std::string_view synth_layout_name(SynthLayout l);  // "field", "slide"
std::string_view compartment_name(Compartment c);   // "membrane", "cytoplasm", "nucleus"
// Throw SynthError naming the value and the accepted ones.
SynthKind parse_synth_kind(std::string_view text);
SynthLayout parse_synth_layout(std::string_view text);

struct SynthParams {
  SynthKind kind = SynthKind::Membrane;
  SynthLayout layout = SynthLayout::Field;
  int width = 1024;  // level-0 pixels
  int height = 1024;
  double mpp = 0.5;  // microns per pixel at level 0
  std::uint64_t seed = 1;
  // Fractions of tumour cells per grade Negative, 1+, 2+, 3+ (sum 1).
  std::array<double, 4> grade_fractions{0.4, 0.3, 0.2, 0.1};
  // Mean DAB OD of the stained compartment per grade, and the half-width of the uniform per-cell spread.
  // With the default grading thresholds 0.2 / 0.4 / 0.6 every cell stays at least 0.05 OD inside its bin.
  std::array<double, 4> grade_dab_od{0.05, 0.30, 0.50, 0.80};
  std::array<double, 4> grade_spread_od{0.03, 0.05, 0.05, 0.10};
  double cytoplasm_dab_fraction = 0.25;  // membranous cells: cytoplasm DAB relative to their membrane
  double tumour_fraction = 0.55;         // area fraction of tissue that is tumour (epithelial nests)
  double cell_size_um = 11.0;            // spacing of tumour cells
  double membrane_width_um = 2.5;        // whole line, shared by two cells (each owns its half)
  // Membranous cells: the level is the mean DAB over this band inside the cell border (the membrane
  // compartment of the default measurement, membrane_width_um = 1 there), so the line is drawn darker
  // than the level where the cell's half line is narrower than the band.
  double membrane_band_um = 1.0;
  double blur_um = 0.35;  // Gaussian sigma of the optics
  double noise = 2.0;     // standard deviation of sensor noise in 8-bit levels
  std::array<double, 3> background{245.0, 244.0, 240.0};  // glass, R G B
  StainMatrix stains = stain_preset("H-DAB");
};

// Throws SynthError naming the bad value.
void validate(const SynthParams& p);

struct SynthCell {
  std::int64_t id = 0;  // from the grid index: stable and unique within a slide
  double x = 0, y = 0;  // nucleus centre in level-0 pixels
  Compartment compartment = Compartment::Membrane;
  int grade = 0;  // 0 Negative, 1 = 1+, 2 = 2+, 3 = 3+ (always 0 for non-tumour cells)
  bool is_tumour = false;
  double dab_od = 0;            // designed mean DAB OD of the stained compartment (before blur and noise)
  double membrane_line_od = 0;  // DAB OD of the cell's half of its membrane line (mean of its texture)
};

// Concentration maps of a rendered rectangle, before blur and noise (CV_32F).
struct SynthMaps {
  cv::Mat hematoxylin;
  cv::Mat dab;
  cv::Mat owner;  // CV_32S: id of the cell each pixel belongs to (its polygon or nucleus), 0 = none
};

class SynthRenderer {
 public:
  explicit SynthRenderer(const SynthParams& params);  // validates; builds the noise textures
  ~SynthRenderer();
  SynthRenderer(const SynthRenderer&) = delete;
  SynthRenderer& operator=(const SynthRenderer&) = delete;

  const SynthParams& params() const { return params_; }
  // RGB CV_8UC3 of a level-0 rectangle inside the image. Thread-safe. `maps` (optional) gets the
  // concentrations.
  cv::Mat render(const cv::Rect& rect, SynthMaps* maps = nullptr) const;
  // Cells whose nucleus centre lies in a pixel of `rect`, ordered by grid row then column.
  std::vector<SynthCell> cells(const cv::Rect& rect) const;

 private:
  struct Impl;
  SynthParams params_;
  std::unique_ptr<Impl> impl_;
};

// "id,x,y,compartment,grade,is_tumour,class": class is QuPath's name of the grade for tumour cells and
// "ignore" for stroma and lymphocytes, so the file is also a truth file for `ihcscore evaluate`.
std::string truth_csv_header();
std::string truth_csv_row(const SynthCell& c);
// Writes atomically. Throws FileError naming the path.
void write_truth_csv(const std::filesystem::path& path, const std::vector<SynthCell>& cells);

struct SynthImage {
  cv::Mat rgb;  // CV_8UC3 RGB
  std::vector<SynthCell> cells;
};
// The whole image; `jpeg_quality` in 1..100 applies a JPEG round trip (compression artefacts), 0 = none.
SynthImage synthesize_image(const SynthParams& params, int jpeg_quality = 0);

struct SynthSlideOptions {
  int tile_size = 256;
  int jpeg_quality = 90;
  int strip_width = 2048;  // columns rendered per task
  std::function<void(std::int64_t rows_done, std::int64_t rows_total)> on_progress;
};
struct SynthSlideStats {
  std::vector<cv::Size> level_sizes;
  std::int64_t cells = 0;
  std::int64_t bytes = 0;
  double seconds = 0;
};
// Aperio-style ImageDescription: "Aperio Image Library v10.0.50 (ihcscore synth)\r\nW x H ... |AppMag =
// 40|MPP = 0.25" (AppMag = 10 / mpp).
std::string aperio_description(const SynthParams& params, int level, cv::Size size, int tile_size,
                               int jpeg_quality);
// Streams a pyramidal tiled JPEG TIFF (Aperio SVS layout) strip by strip; the truth CSV (optional, empty path
// = none) is streamed too. Both files are written atomically. Throws SynthError, TiffWriteError, FileError.
SynthSlideStats write_synthetic_slide(const SynthParams& params, const std::filesystem::path& slide_path,
                                      const std::filesystem::path& truth_path,
                                      const SynthSlideOptions& options = {});

}  // namespace ihc
