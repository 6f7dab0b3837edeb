#pragma once
// Per-slide stain estimation: background (white) from bright pixels, then hematoxylin and DAB vectors by the
// Macenko method with QuPath's "Estimate stain vectors" defaults.
#include <array>
#include <cstdint>
#include <opencv2/core.hpp>

#include "imaging/stains.hpp"

namespace ihc {

struct BackgroundParams {
  int bright_min = 200;  // a pixel is "bright" when its grey level (mean of the channels) is at least this
  // ... and every channel at least this. Camera fields put glass at 220 217 186 (a yellow cast): with all
  // three channels >= 200 their blue mode sat on the floor, or no glass was found at all (docs/stains.md).
  int channel_min = 160;
  double min_bright_fraction = 0.001;  // fewer glass pixels than this: no background found, keep the default
  // Glass is flat: a bright pixel counts only when the standard deviation of the grey level in its 5x5
  // neighbourhood is at most this (8-bit levels). Pale tissue is textured, so a field without glass gives no
  // estimate instead of a tissue colour. 0 = every bright pixel counts.
  double max_local_std = 4.0;
  // Glass is the brightest flat population: candidates darker (grey level) than the brightest
  // min_bright_fraction of them by more than this are not glass.
  int glass_grey_margin = 12;
};

struct BackgroundEstimate {
  std::array<double, 3> background{255.0, 255.0, 255.0};
  bool found = false;         // false: too few flat bright (glass) pixels, `background` is the default 255
  int64_t bright_pixels = 0;  // glass pixels the mode was taken over
};

// Per-channel mode (ties go to the brighter value) of the glass pixels: flat, bright, and
// within glass_grey_margin of the brightest of those.
BackgroundEstimate estimate_background(const cv::Mat& rgb, const BackgroundParams& params = {});

struct StainEstimationParams {
  double min_od = 0.05;             // per channel: fainter pixels are too noisy (QuPath's default)
  double max_od = 1.0;              // OD vector length: denser pixels are saturated (QuPath's default)
  double ignore_percent = 1.0;      // robust extremes: angles at this percentile and 100 minus it (QuPath's)
  bool exclude_gray = true;         // drop pixels within 0.15 rad of grey, like QuPath for H-DAB/H&E
  int64_t max_pixels = 16'000'000;  // larger images are sampled on a regular grid down to about this
  int64_t min_pixels = 1000;        // fewer usable pixels than this: refuse to estimate
  double min_separation_deg = 5.0;  // estimated vectors closer than this are degenerate
  double max_deviation_deg = 30.0;  // an estimate further than this from its default vector is rejected
  bool estimate_background = true;  // otherwise use the reference matrix's background
  // Edge fit of stain 2 (not in QuPath): DAB nearly always lies over hematoxylin, so the Macenko extreme is a
  // mixture and leans toward hematoxylin (2-15 degrees on synthetic fields). The edge of the mixture cloud
  // runs parallel to the pure stain, so its direction is fitted instead (docs/stains.md, measured).
  bool edge_fit = false;          // off: closer on synthetic fields, but not better on every real set (docs)
  double edge_quantile = 0.01;    // lower envelope: this quantile of the other stain's amount per bin
  double edge_bin_od = 0.02;      // bin width along the stain (OD)
  double edge_min_od = 0.1;       // bins start here: fainter pixels are shaped by the min_od filter
  int edge_min_bin_pixels = 200;  // bins with fewer pixels are skipped
  int edge_min_bins = 3;          // fewer usable bins: keep the Macenko direction
  BackgroundParams background;
};

struct StainEstimate {
  StainMatrix matrix;  // estimated stain 1 and 2 (names from the reference), residual third
  BackgroundEstimate background;
  int64_t pixels_used = 0;                // pixels that passed the OD and grey filters
  std::array<double, 2> deviation_deg{};  // angle of each estimate to its reference vector
  double separation_deg = 0.0;            // angle between the two estimates
  std::array<bool, 2> edge_fitted{};      // that stain's direction comes from the edge fit
};

// `rgb` is CV_8UC3 RGB, `tissue_mask` optional CV_8U of the same size (non-zero = use the pixel).
// The two Macenko extremes go to stain 1 and stain 2 of `reference` by closeness. Throws StainError saying
// why when too few pixels are usable, or when the result is degenerate, swapped or far from the reference.
StainEstimate estimate_stains(const cv::Mat& rgb, const StainMatrix& reference,
                              const StainEstimationParams& params = {},
                              const cv::Mat& tissue_mask = cv::Mat());

// Angle in degrees between two OD vectors (0 when identical directions).
double stain_angle_deg(const std::array<double, 3>& a, const std::array<double, 3>& b);

}  // namespace ihc
