#include "imaging/tissue.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <opencv2/imgproc.hpp>
#include <stdexcept>
#include <string>

#include "imaging/gaussian.hpp"
#include "imaging/stains.hpp"

namespace ihc {
namespace {

constexpr int kOtsuBins = 256;
constexpr float kOtsuMaxOd = 2.0f;  // OD sums above this are all "dense tissue" for the histogram

struct Split {
  double otsu = 0.0;        // Otsu's threshold
  double glass_peak = 0.0;  // most common OD sum below it: the empty glass
};

// Otsu's threshold on a float image, histogram over [0, kOtsuMaxOd], and the peak of the class below it.
Split split_histogram(const cv::Mat& od) {
  std::array<double, kOtsuBins> hist{};
  const float scale = kOtsuBins / kOtsuMaxOd;
  for (int y = 0; y < od.rows; ++y) {
    const float* p = od.ptr<float>(y);
    for (int x = 0; x < od.cols; ++x) {
      const int bin = std::clamp(static_cast<int>(p[x] * scale), 0, kOtsuBins - 1);
      hist[bin] += 1.0;
    }
  }
  const double total = std::accumulate(hist.begin(), hist.end(), 0.0);
  double sum_all = 0.0;
  for (int i = 0; i < kOtsuBins; ++i) sum_all += i * hist[i];
  double w0 = 0.0, sum0 = 0.0, best = -1.0;
  int best_bin = kOtsuBins - 1;
  for (int i = 0; i < kOtsuBins - 1; ++i) {
    w0 += hist[i];
    sum0 += i * hist[i];
    const double w1 = total - w0;
    if (w0 <= 0.0 || w1 <= 0.0) continue;
    const double m0 = sum0 / w0, m1 = (sum_all - sum0) / w1;
    const double between = w0 * w1 * (m0 - m1) * (m0 - m1);
    if (between > best) {
      best = between;
      best_bin = i;
    }
  }
  int peak = 0;
  for (int i = 0; i <= best_bin; ++i) {
    if (hist[i] > hist[peak]) peak = i;
  }
  return {(best_bin + 1) / scale, (peak + 0.5) / scale};
}

// Stained tissue is coloured; hair, dust and scanner smudges absorb all channels alike. A piece whose mean OD
// (relative to the glass colour, so a tinted scan does not colour grey debris) lies within min_colour_deg of
// grey is dropped.
void drop_grey_pieces(const cv::Mat& rgb, const cv::Mat& od_smooth, double threshold, const cv::Mat& labels,
                      double min_colour_deg, std::vector<uint8_t>& keep) {
  std::array<std::array<int64_t, 256>, 3> hist{};
  int64_t glass_count = 0;
  for (int y = 0; y < rgb.rows; ++y) {
    const uint8_t* p = rgb.ptr<uint8_t>(y);
    const float* o = od_smooth.ptr<float>(y);
    for (int x = 0; x < rgb.cols; ++x, p += 3) {
      if (o[x] > threshold) continue;
      for (int ch = 0; ch < 3; ++ch) ++hist[ch][p[ch]];
      ++glass_count;
    }
  }
  std::array<std::array<double, 256>, 3> lut{};
  for (int ch = 0; ch < 3; ++ch) {
    double glass = 255.0;
    int64_t seen = 0;
    for (int v = 0; v < 256 && glass_count > 0; ++v) {
      seen += hist[ch][v];
      if (2 * seen >= glass_count) {
        glass = std::max(v, 1);
        break;
      }
    }
    for (int v = 0; v < 256; ++v) lut[ch][v] = std::max(0.0, -std::log10(std::max(v, 1) / glass));
  }
  std::vector<std::array<double, 3>> sums(keep.size(), {0.0, 0.0, 0.0});
  for (int y = 0; y < rgb.rows; ++y) {
    const uint8_t* p = rgb.ptr<uint8_t>(y);
    const int* l = labels.ptr<int>(y);
    for (int x = 0; x < rgb.cols; ++x, p += 3) {
      if (!keep[l[x]]) continue;
      for (int ch = 0; ch < 3; ++ch) sums[l[x]][ch] += lut[ch][p[ch]];
    }
  }
  const double cos_limit = std::cos(min_colour_deg * M_PI / 180.0);
  for (size_t i = 1; i < keep.size(); ++i) {
    if (!keep[i]) continue;
    const auto& v = sums[i];
    const double norm = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    if (norm <= 0.0 || (v[0] + v[1] + v[2]) / (std::sqrt(3.0) * norm) >= cos_limit) keep[i] = 0;
  }
}

void check(bool ok, const std::string& message) {
  if (!ok) throw std::invalid_argument("detect_tissue: " + message);
}

}  // namespace

double glass_od_sum(const std::array<double, 3>& glass, const std::array<double, 3>& background) {
  // Per channel as optical_density_sum reads a pixel (QuPath's makeOD, floored at 0), so the glass colour
  // reads here what its pixels read in the overview.
  double od = 0.0;
  for (int c = 0; c < 3; ++c) od += std::max(0.0, -std::log10(std::max(glass[c], 1.0) / background[c]));
  return od;
}

TissueResult detect_tissue(const cv::Mat& rgb, const TissueParams& p) {
  check(!rgb.empty(), "the image is empty");
  check(rgb.type() == CV_8UC3,
        "expected an 8-bit RGB image (CV_8UC3), got type " + cv::typeToString(rgb.type()));
  check(std::isfinite(p.um_per_px) && p.um_per_px > 0, "um_per_px must be positive");
  check(p.min_threshold_od > 0 && p.min_threshold_od <= p.max_threshold_od,
        "need 0 < min_threshold_od <= max_threshold_od");
  check(p.glass_margin_od > 0, "glass_margin_od must be positive");
  check(p.smooth_sigma_um >= 0 && p.close_radius_um >= 0 && p.min_area_um2 >= 0 && p.max_hole_area_um2 >= 0,
        "sizes must not be negative");

  TissueResult out;
  cv::Mat od = optical_density_sum(rgb, p.background);
  const double sigma_px = p.smooth_sigma_um / p.um_per_px;
  // The CPU-independent blur: the tissue outline, and so the tissue area, do not depend on the machine.
  if (sigma_px >= 0.3) gaussian_blur(od, od, sigma_px);
  const Split split = split_histogram(od);
  out.otsu_od = split.otsu;
  out.glass_od = split.glass_peak;
  // Otsu alone sits inside a broad tissue distribution when tissue covers little of the image, losing pale
  // stroma; the glass peak plus a margin is the better cut whenever it is lower.
  double cut = std::min(split.otsu, split.glass_peak + p.glass_margin_od);
  // With no glass in the overview (a camera field, a crop), the peak below Otsu is pale tissue such as
  // stroma, and Otsu splits dense from pale tissue: both cuts lay above the stroma, whose cells were
  // counted over an area that left it out. The known glass colour says where glass would read.
  if (p.glass_od >= 0.0 && split.glass_peak > p.glass_od + p.glass_margin_od) {
    cut = p.glass_od + p.glass_margin_od;
    out.glass_peak_is_tissue = true;
  }
  out.threshold_od = std::clamp(cut, p.min_threshold_od, p.max_threshold_od);

  cv::Mat mask;
  cv::compare(od, out.threshold_od, mask, cv::CMP_GT);
  const int radius_px = static_cast<int>(std::lround(p.close_radius_um / p.um_per_px));
  if (radius_px >= 1) {
    const cv::Mat disk =
        cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(2 * radius_px + 1, 2 * radius_px + 1));
    // Pad so that closing does not glue tissue to the image border.
    cv::Mat padded;
    cv::copyMakeBorder(mask, padded, radius_px, radius_px, radius_px, radius_px, cv::BORDER_CONSTANT, 0);
    cv::morphologyEx(padded, padded, cv::MORPH_CLOSE, disk);
    mask = padded(cv::Rect(radius_px, radius_px, mask.cols, mask.rows)).clone();
  }

  const double px_area_um2 = p.um_per_px * p.um_per_px;
  cv::Mat labels, stats, centroids;
  // Drop small pieces before filling holes, so that dust inside a lumen does not decide anything.
  int n = cv::connectedComponentsWithStats(mask, labels, stats, centroids, 8, CV_32S);
  std::vector<uint8_t> keep(static_cast<size_t>(n), 0);
  for (int i = 1; i < n; ++i) keep[i] = stats.at<int>(i, cv::CC_STAT_AREA) * px_area_um2 >= p.min_area_um2;
  if (p.min_colour_deg > 0 && n > 1)
    drop_grey_pieces(rgb, od, out.threshold_od, labels, p.min_colour_deg, keep);
  for (int y = 0; y < mask.rows; ++y) {
    const int* l = labels.ptr<int>(y);
    uint8_t* m = mask.ptr<uint8_t>(y);
    for (int x = 0; x < mask.cols; ++x) m[x] = keep[l[x]] ? 255 : 0;
  }

  if (p.max_hole_area_um2 > 0) {
    cv::Mat holes;
    cv::bitwise_not(mask, holes);
    n = cv::connectedComponentsWithStats(holes, labels, stats, centroids, 4, CV_32S);
    std::vector<uint8_t> fill(static_cast<size_t>(n), 0);
    for (int i = 1; i < n; ++i) {
      const int x0 = stats.at<int>(i, cv::CC_STAT_LEFT), y0 = stats.at<int>(i, cv::CC_STAT_TOP);
      const int w = stats.at<int>(i, cv::CC_STAT_WIDTH), h = stats.at<int>(i, cv::CC_STAT_HEIGHT);
      const bool touches_border = x0 == 0 || y0 == 0 || x0 + w == mask.cols || y0 + h == mask.rows;
      fill[i] = !touches_border && stats.at<int>(i, cv::CC_STAT_AREA) * px_area_um2 <= p.max_hole_area_um2;
    }
    for (int y = 0; y < mask.rows; ++y) {
      const int* l = labels.ptr<int>(y);
      uint8_t* m = mask.ptr<uint8_t>(y);
      for (int x = 0; x < mask.cols; ++x) {
        if (fill[l[x]]) m[x] = 255;
      }
    }
  }

  n = cv::connectedComponentsWithStats(mask, labels, stats, centroids, 8, CV_32S);
  std::vector<std::pair<int, cv::Rect>> pieces;
  for (int i = 1; i < n; ++i) {
    pieces.emplace_back(stats.at<int>(i, cv::CC_STAT_AREA),
                        cv::Rect(stats.at<int>(i, cv::CC_STAT_LEFT), stats.at<int>(i, cv::CC_STAT_TOP),
                                 stats.at<int>(i, cv::CC_STAT_WIDTH), stats.at<int>(i, cv::CC_STAT_HEIGHT)));
    out.area_px += stats.at<int>(i, cv::CC_STAT_AREA);
  }
  std::stable_sort(pieces.begin(), pieces.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (const auto& piece : pieces) out.boxes.push_back(piece.second);
  out.mask = mask;
  return out;
}

}  // namespace ihc
