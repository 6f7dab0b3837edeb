#pragma once
// Tissue detection on a low-resolution overview (a slide level of about 8-16 um/px).
#include <array>
#include <cstdint>
#include <opencv2/core.hpp>
#include <vector>

namespace ihc {

// The OD-sum threshold is min(Otsu's split, glass peak + glass_margin_od), clamped into
// [min_threshold_od, max_threshold_od]: clean glass and dust stay out even when Otsu splits noise, pale
// tissue stays in when Otsu's split falls inside a broad tissue distribution. When the glass colour is known
// (glass_od) and that peak lies more than the margin above it, the peak is pale tissue (a field without
// glass, where Otsu splits dense from pale tissue): the cut is the glass plus the margin.
struct TissueParams {
  double um_per_px = 16.0;  // resolution of the image given to detect_tissue
  double min_threshold_od = 0.10;
  double max_threshold_od = 0.60;
  double glass_margin_od = 0.08;
  // OD sum (against `background`) of the glass colour when it is known from flat bright pixels at full
  // resolution (a plain image's estimate, or the background parameter); < 0 = unknown.
  double glass_od = -1.0;
  double smooth_sigma_um = 16.0;   // Gaussian on the OD sum before thresholding
  double close_radius_um = 48.0;   // morphological closing joins nearby pieces of one fragment
  double min_area_um2 = 50'000.0;  // pieces smaller than this are dust or debris (0.05 mm^2)
  double min_colour_deg = 2.0;  // pieces whose mean OD is this close to grey are debris (hair, dust); 0 = off
  double max_hole_area_um2 = 1e6;  // enclosed holes up to this (1 mm^2) count as tissue: lumens, tears
  std::array<double, 3> background{255.0, 255.0, 255.0};
};

struct TissueResult {
  cv::Mat mask;                       // CV_8U, 255 = tissue, same size as the input
  std::vector<cv::Rect> boxes;        // one per kept piece, largest first
  int64_t area_px = 0;                // number of tissue pixels in the mask
  double threshold_od = 0.0;          // OD-sum threshold that was applied
  double otsu_od = 0.0;               // Otsu's split of the (smoothed) OD-sum histogram
  double glass_od = 0.0;              // peak of the histogram below Otsu's split: the empty glass
  bool glass_peak_is_tissue = false;  // that peak lay above the known glass colour: cut near the glass
};

// TissueParams::glass_od for a glass colour: its OD sum against `background`, each channel as
// optical_density_sum reads it (0 where brighter).
double glass_od_sum(const std::array<double, 3>& glass,
                    const std::array<double, 3>& background = {255.0, 255.0, 255.0});

// `rgb` is CV_8UC3 RGB. Throws std::invalid_argument for an empty or non-RGB image or bad parameters.
TissueResult detect_tissue(const cv::Mat& rgb, const TissueParams& params = {});

}  // namespace ihc
