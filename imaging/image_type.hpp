#pragma once
// Which kind of image a slide is, from its overview: brightfield H-DAB (what the scores assume), brightfield
// H&E, greyscale, or fluorescence. QuPath estimates the same when an image is opened ("Set image type"); here
// it guards a batch against slides of the wrong stain, whose "DAB" scores would be eosin or noise.
#include <array>
#include <cstdint>
#include <opencv2/core.hpp>
#include <string>
#include <string_view>

namespace ihc {

enum class ImageType {
  BrightfieldHDab,  // hematoxylin and DAB, or hematoxylin alone (a negative IHC slide)
  BrightfieldHE,    // a pink second stain: eosin, or a red chromogen
  Fluorescence,     // dark background
  Greyscale,        // stained pixels without colour (a grey scan or a greyscale export): no stain to separate
  Undetermined,     // too little stained tissue to tell
};

// QuPath's names ("Brightfield (H-DAB)", "Brightfield (H&E)", "Fluorescence"), "Greyscale" (QuPath would set
// "Brightfield (other)", which says nothing of why) and "Undetermined".
const char* image_type_name(ImageType type);
// The type of one of those names (as slide.json records it); Undetermined for any other text.
ImageType image_type_from_name(std::string_view name);

// What a slide of another stain looks like, what that does to its scores, and what to check; all empty for
// H-DAB and Undetermined (the batch's status and warning, the viewer's Slide panel).
struct ImageTypeWarning {
  std::string looks_like;   // "looks like H&E, not H-DAB"
  std::string consequence;  // "its DAB scores measure eosin, not the antibody"
  std::string check;        // "check the stain"
};
ImageTypeWarning image_type_warning(ImageType type);

struct ImageTypeParams {
  double min_od_sum = 0.3;  // a pixel counts as stained from this optical density sum (three channels)
  // H&E needs both: eosin a large part of all the stain (eosin / (hematoxylin + eosin + DAB), each the sum of
  // the positive amounts over stained pixels), and most of the non-hematoxylin stain (eosin / (eosin + DAB)).
  // A bluish-purple hematoxylin leaks a little into eosin, and with little DAB the second ratio alone is
  // large on IHC fields too (SHIDC: up to 0.89). Measured in docs/stains.md.
  double he_min_eosin_fraction = 0.35;
  double he_min_eosin_share = 0.6;
  double fluorescence_max_median_grey =
      80;  // a brightfield slide's median pixel is glass or tissue, not black
  // Greyscale: at least this fraction of the stained pixels has R, G and B within grey_max_spread levels of
  // each other. Hematoxylin and DAB are strongly coloured (a pale stained pixel spreads 20 levels or more);
  // a grey pixel unmixes into about equal hematoxylin and DAB, so its DAB scores would be invented.
  int grey_max_spread = 6;
  double grey_min_fraction = 0.8;
  std::int64_t min_stained_pixels = 500;
  std::int64_t max_pixels = 250'000;  // larger overviews are sampled (nearest pixel) down to about this first
};

struct ImageTypeEstimate {
  ImageType type = ImageType::Undetermined;
  double median_grey = 0;
  std::int64_t stained_pixels = 0;
  double eosin_fraction = 0;  // eosin / (hematoxylin + eosin + DAB)
  double eosin_share = 0;     // eosin / (eosin + DAB); 0 when neither is present
  double grey_fraction = 0;   // stained pixels without colour (channel spread <= grey_max_spread)
  double mean_hematoxylin = 0, mean_eosin = 0, mean_dab = 0;  // positive amounts per stained pixel (OD)
  std::string summary;                                        // one line with the figures behind the decision
};

// `rgb`: CV_8UC3 RGB overview; `background`: glass colour (R, G, B) for the optical densities; `mask`: CV_8U,
// any size (resized to the overview), nonzero where tissue is; empty = every pixel. Each stained pixel is
// unmixed into QuPath's default hematoxylin, eosin and DAB vectors at once. Throws std::invalid_argument for
// an empty or non-RGB image.
ImageTypeEstimate estimate_image_type(const cv::Mat& rgb, const std::array<double, 3>& background,
                                      const cv::Mat& mask = cv::Mat(), const ImageTypeParams& params = {});

}  // namespace ihc
