#include "imaging/image_type.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <opencv2/imgproc.hpp>
#include <stdexcept>

#include "imaging/stains.hpp"

namespace ihc {

const char* image_type_name(ImageType type) {
  switch (type) {
    case ImageType::BrightfieldHDab:
      return "Brightfield (H-DAB)";
    case ImageType::BrightfieldHE:
      return "Brightfield (H&E)";
    case ImageType::Fluorescence:
      return "Fluorescence";
    case ImageType::Greyscale:
      return "Greyscale";
    case ImageType::Undetermined:
      break;
  }
  return "Undetermined";
}

ImageType image_type_from_name(std::string_view name) {
  for (const ImageType t : {ImageType::BrightfieldHDab, ImageType::BrightfieldHE, ImageType::Fluorescence,
                            ImageType::Greyscale}) {
    if (name == image_type_name(t)) return t;
  }
  return ImageType::Undetermined;
}

ImageTypeWarning image_type_warning(ImageType type) {
  switch (type) {
    case ImageType::BrightfieldHE:
      return {"looks like H&E, not H-DAB", "its DAB scores measure eosin, not the antibody",
              "check the stain"};
    case ImageType::Fluorescence:
      return {"looks like fluorescence, not brightfield", "optical densities and DAB scores are meaningless",
              "check the image"};
    case ImageType::Greyscale:
      return {"looks like a greyscale image, not H-DAB",
              "without colour hematoxylin and DAB cannot be told apart, so its DAB scores are meaningless",
              "score the colour image"};
    case ImageType::BrightfieldHDab:
    case ImageType::Undetermined:
      break;
  }
  return {};
}

ImageTypeEstimate estimate_image_type(const cv::Mat& rgb_in, const std::array<double, 3>& background,
                                      const cv::Mat& mask_in, const ImageTypeParams& params) {
  if (rgb_in.empty() || rgb_in.type() != CV_8UC3) {
    throw std::invalid_argument("estimate_image_type: expected a non-empty 8-bit RGB image");
  }
  cv::Mat rgb = rgb_in;
  const double n_in = static_cast<double>(rgb_in.total());
  if (n_in > static_cast<double>(params.max_pixels)) {
    const double f = std::sqrt(static_cast<double>(params.max_pixels) / n_in);
    cv::resize(rgb_in, rgb,
               cv::Size(std::max(1, static_cast<int>(rgb_in.cols * f)),
                        std::max(1, static_cast<int>(rgb_in.rows * f))),
               0, 0, cv::INTER_NEAREST);  // pure pixel colours: an average mixes pink and blue
  }
  cv::Mat mask;
  if (!mask_in.empty()) cv::resize(mask_in, mask, rgb.size(), 0, 0, cv::INTER_NEAREST);

  ImageTypeEstimate out;
  {
    cv::Mat grey;
    cv::cvtColor(rgb, grey, cv::COLOR_RGB2GRAY);
    int hist[256] = {};
    for (int y = 0; y < grey.rows; ++y) {
      const uchar* g = grey.ptr<uchar>(y);
      for (int x = 0; x < grey.cols; ++x) ++hist[g[x]];
    }
    const auto half = static_cast<std::int64_t>(grey.total() / 2);
    std::int64_t seen = 0;
    int median = 0;
    while (median < 255 && seen + hist[median] <= half) seen += hist[median++];
    out.median_grey = median;
  }
  char buf[256];
  if (out.median_grey < params.fluorescence_max_median_grey) {
    out.type = ImageType::Fluorescence;
    std::snprintf(buf, sizeof buf, "median grey level %.0f: a dark background", out.median_grey);
    out.summary = buf;
    return out;
  }

  // Hematoxylin, eosin and DAB at once: with two of them in the matrix the third would be folded into them.
  const StainMatrix he = stain_preset("H&E");
  const StainMatrix hdab = stain_preset("H-DAB");
  const StainMatrix three =
      StainMatrix::from_vectors("H-E-DAB", he.stains[0], he.stains[1], &hdab.stains[1], background);
  DeconvolutionResult d;
  deconvolve(rgb, three, d, /*with_od_sum=*/true);
  double sum_h = 0, sum_e = 0, sum_d = 0;
  std::int64_t n = 0, n_grey = 0;
  for (int y = 0; y < rgb.rows; ++y) {
    const cv::Vec3b* px = rgb.ptr<cv::Vec3b>(y);
    const float* od = d.od_sum.ptr<float>(y);
    const float* h = d.stain1.ptr<float>(y);
    const float* e = d.stain2.ptr<float>(y);
    const float* b = d.residual.ptr<float>(y);
    const uchar* m = mask.empty() ? nullptr : mask.ptr<uchar>(y);
    for (int x = 0; x < rgb.cols; ++x) {
      if (m && !m[x]) continue;
      if (od[x] < params.min_od_sum) continue;
      ++n;
      const cv::Vec3b c = px[x];
      n_grey += std::max({c[0], c[1], c[2]}) - std::min({c[0], c[1], c[2]}) <= params.grey_max_spread;
      sum_h += std::max(0.0f, h[x]);
      sum_e += std::max(0.0f, e[x]);
      sum_d += std::max(0.0f, b[x]);
    }
  }
  out.stained_pixels = n;
  if (n < params.min_stained_pixels) {
    std::snprintf(buf, sizeof buf, "%lld stained pixels: too few to tell the stains",
                  static_cast<long long>(n));
    out.summary = buf;
    return out;
  }
  out.grey_fraction = static_cast<double>(n_grey) / static_cast<double>(n);
  if (out.grey_fraction >= params.grey_min_fraction) {
    out.type = ImageType::Greyscale;
    std::snprintf(buf, sizeof buf, "%.0f %% of %lld stained pixels without colour", 100.0 * out.grey_fraction,
                  static_cast<long long>(n));
    out.summary = buf;
    return out;
  }
  out.mean_hematoxylin = sum_h / static_cast<double>(n);
  out.mean_eosin = sum_e / static_cast<double>(n);
  out.mean_dab = sum_d / static_cast<double>(n);
  const double total = sum_h + sum_e + sum_d;
  out.eosin_fraction = total > 0 ? sum_e / total : 0.0;
  out.eosin_share = sum_e + sum_d > 0 ? sum_e / (sum_e + sum_d) : 0.0;
  out.type =
      out.eosin_fraction >= params.he_min_eosin_fraction && out.eosin_share >= params.he_min_eosin_share
          ? ImageType::BrightfieldHE
          : ImageType::BrightfieldHDab;
  std::snprintf(
      buf, sizeof buf,
      "eosin %.0f %% of all stain and %.0f %% of eosin + DAB over %lld stained pixels; mean hematoxylin "
      "%.2f, eosin %.2f, DAB %.2f OD; %.0f %% without colour",
      100.0 * out.eosin_fraction, 100.0 * out.eosin_share, static_cast<long long>(n), out.mean_hematoxylin,
      out.mean_eosin, out.mean_dab, 100.0 * out.grey_fraction);
  out.summary = buf;
  return out;
}

}  // namespace ihc
