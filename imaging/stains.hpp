#pragma once
// Colour deconvolution (Ruifrok & Johnston 2001) with QuPath-compatible stain vectors.
#include <array>
#include <opencv2/core.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

namespace ihc {

struct StainVector {
  std::string name;             // "Hematoxylin", "DAB", "Eosin", "Residual"
  std::array<double, 3> rgb{};  // optical density per R, G, B; normalised to unit length
};

class StainError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct StainMatrix {
  std::string name;                                       // "H-DAB default"
  std::array<StainVector, 3> stains;                      // stain 3 is the residual when only two are given
  std::array<double, 3> background{255.0, 255.0, 255.0};  // per channel R, G, B
  std::array<double, 9> inverse{};                        // row-major: concentrations = inverse * od

  // Normalises vectors; a missing third vector is the normalised cross product. Throws StainError
  // for zero or parallel vectors.
  static StainMatrix from_vectors(std::string name, const StainVector& s1, const StainVector& s2,
                                  const StainVector* s3 = nullptr,
                                  std::array<double, 3> background = {255.0, 255.0, 255.0});
};

// "H-DAB" (QuPath default), "H-DAB Ruifrok", "H&E". Throws StainError for an unknown name.
StainMatrix stain_preset(std::string_view name);

// QuPath's stain string: {"Name" : "H-DAB default", "Stain 1" : "Hematoxylin", "Values 1" : "0.65111 0.70119
// 0.29049", "Stain 2" : "DAB", "Values 2" : "0.26917 0.56824 0.77759", "Background" : " 255 255 255"}
std::string to_qupath_string(const StainMatrix& m);
StainMatrix parse_qupath_string(std::string_view text);  // throws StainError naming what is wrong
// The value of `stain_vectors` and `--stains`: QuPath's stain string when it holds a '{', else a preset name.
StainMatrix stains_from_text(std::string_view text);

struct DeconvolutionResult {
  cv::Mat stain1;    // CV_32F concentrations (hematoxylin for H-DAB); not clamped
  cv::Mat stain2;    // CV_32F (DAB)
  cv::Mat residual;  // CV_32F (third stain / residual)
  cv::Mat od_sum;    // CV_32F optical_density_sum of the same pixels; only filled when asked for
};

// OD = -log10(max(v, 1) / background) per channel through a lookup table, then the 3x3 inverse.
// `rgb` is CV_8UC3 RGB. Rows are processed in parallel with cv::parallel_for_ when threads allow.
DeconvolutionResult deconvolve(const cv::Mat& rgb, const StainMatrix& m);
// Same, writing into `out`: planes of the right size and type are reused (no allocation, no page faults), so
// tile loops should keep one result alive. Views shared with `out`'s planes see the new values.
// With `with_od_sum`, out.od_sum gets optical_density_sum(rgb, m.background) from the same pass (the same
// values bit for bit: it is the unused fourth lane of the per-channel tables).
// Without `with_residual`, out.residual is left empty (detection never reads it: one plane write less per
// tile).
void deconvolve(const cv::Mat& rgb, const StainMatrix& m, DeconvolutionResult& out, bool with_od_sum = false,
                bool with_residual = true);
// Sum of optical densities over the three channels (CV_32F), the brightness-free "OD sum".
cv::Mat optical_density_sum(const cv::Mat& rgb,
                            const std::array<double, 3>& background = {255.0, 255.0, 255.0});
// Renders one stain's concentration as the RGB colour of that stain alone (for display).
cv::Mat render_stain(const cv::Mat& concentration, const StainVector& stain,
                     const std::array<double, 3>& background = {255.0, 255.0, 255.0});

}  // namespace ihc
