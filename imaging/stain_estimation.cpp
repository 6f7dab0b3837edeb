#include "imaging/stain_estimation.hpp"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

namespace ihc {
namespace {

using Vec3 = std::array<double, 3>;

std::string fmt(const char* format, double a, double b = 0, double c = 0, double d = 0) {
  char buf[256];
  std::snprintf(buf, sizeof(buf), format, a, b, c, d);
  return buf;
}

std::string vec_text(const Vec3& v) { return fmt("(%.3f %.3f %.3f)", v[0], v[1], v[2]); }

std::array<double, 256> od_lut(double background) {
  std::array<double, 256> lut{};
  for (int v = 0; v < 256; ++v) lut[v] = std::max(0.0, -std::log10(std::max(v, 1) / background));
  return lut;
}

Vec3 unit(const Vec3& v) {
  const double n = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
  return {v[0] / n, v[1] / n, v[2] / n};
}

void require_rgb(const cv::Mat& rgb, const char* what) {
  if (rgb.empty()) throw StainError(std::string(what) + ": the image is empty");
  if (rgb.type() != CV_8UC3) {
    throw StainError(std::string(what) + ": expected an 8-bit RGB image (CV_8UC3), got type " +
                     cv::typeToString(rgb.type()));
  }
}

// Pixels are h * other + t * target. Along the target's edge of the cloud the amount of the other stain is at
// its floor, whatever the target's amount: in the plane basis (u = other, w = target's part orthogonal to u)
// a pixel is (h + y cot(theta), y) with y = t sin(theta), so the lower envelope of x over y is a line of
// slope cot(theta). The Macenko percentile instead takes the ray through the origin to a mixture, which leans
// toward `other` by the floor's share.
template <typename ForEach>
Vec3 edge_fit(const Vec3& target, const Vec3& other, const StainEstimationParams& params, ForEach&& for_each,
              bool* fitted) {
  *fitted = false;
  const Eigen::Vector3d u = Eigen::Vector3d(other[0], other[1], other[2]).normalized();
  const Eigen::Vector3d t(target[0], target[1], target[2]);
  Eigen::Vector3d w = t - t.dot(u) * u;
  if (w.norm() < 1e-9 || params.edge_bin_od <= 0) return target;
  w.normalize();
  constexpr int kMaxBins = 100;
  std::vector<std::vector<float>> bins(kMaxBins);
  for_each([&](double r, double g, double b) {
    const Eigen::Vector3d v(r, g, b);
    const double y = v.dot(w);
    if (y < params.edge_min_od) return;
    const int bin = static_cast<int>((y - params.edge_min_od) / params.edge_bin_od);
    if (bin < kMaxBins) bins[static_cast<size_t>(bin)].push_back(static_cast<float>(v.dot(u)));
  });
  const double q = std::clamp(params.edge_quantile, 0.0, 0.5);
  double sy = 0, sx = 0, syy = 0, sxy = 0;
  int n = 0;
  for (int i = 0; i < kMaxBins; ++i) {
    auto& v = bins[static_cast<size_t>(i)];
    if (static_cast<int64_t>(v.size()) < std::max(1, params.edge_min_bin_pixels)) continue;
    const size_t k = static_cast<size_t>(std::floor(q * static_cast<double>(v.size() - 1) + 0.5));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    const double y = params.edge_min_od + (i + 0.5) * params.edge_bin_od;
    sy += y;
    sx += v[k];
    syy += y * y;
    sxy += y * v[k];
    ++n;
  }
  if (n < std::max(2, params.edge_min_bins)) return target;
  const double slope = (n * sxy - sy * sx) / (n * syy - sy * sy);
  Eigen::Vector3d fit = slope * u + w;
  if (fit.sum() < 0) fit = -fit;
  *fitted = true;
  return unit(Vec3{fit[0], fit[1], fit[2]});
}

// 255 where the grey level (r + g + b) / 3 varies by at most max_std over the 5 x 5 window around the pixel
// (reflected at the borders like cv::blur's BORDER_REFLECT); empty when max_std <= 0. Integer sums of
// s = r + g + b give the variance exactly: 25 * sum(s^2) - sum(s)^2 <= 9 * 625 * max_std^2. (Float box
// filters of the grey level and its square took five passes over float planes, and mean_sq - mean^2 lost the
// last bits to cancellation near the threshold.)
cv::Mat flat_pixels(const cv::Mat& rgb, double max_std) {
  if (!(max_std > 0)) return {};
  const int w = rgb.cols, h = rgb.rows;
  const auto wz = static_cast<std::size_t>(w);
  const double limit = 9.0 * 625.0 * max_std * max_std;
  // Rows of s and s^2 kept in five slots (row r in slot r % 5: the window's rows are five consecutive ones,
  // reflected ones among them).
  std::vector<int> s(wz * 5), s2(wz * 5);
  int slot_row[5] = {-1, -1, -1, -1, -1};
  auto row = [&](int r) {
    const auto k = static_cast<std::size_t>(r % 5);
    if (slot_row[k] != r) {
      slot_row[k] = r;
      const uint8_t* p = rgb.ptr<uint8_t>(r);
      int* sr = s.data() + k * wz;
      int* s2r = s2.data() + k * wz;
      for (int x = 0; x < w; ++x, p += 3) {
        sr[x] = p[0] + p[1] + p[2];
        s2r[x] = sr[x] * sr[x];
      }
    }
    return k * wz;
  };
  std::vector<int> col(wz + 4), col2(wz + 4);  // column sums at x - 2 .. x + 2 + 2, reflected at both ends
  std::vector<int> xs(wz + 4);                 // xs[x + 2]: the column that x reflects to
  for (std::size_t i = 0; i < xs.size(); ++i)
    xs[i] = cv::borderInterpolate(static_cast<int>(i) - 2, w, cv::BORDER_REFLECT);
  cv::Mat flat(h, w, CV_8U);
  for (int y = 0; y < h; ++y) {
    std::size_t at[5];
    for (int dy = -2; dy <= 2; ++dy) at[dy + 2] = row(cv::borderInterpolate(y + dy, h, cv::BORDER_REFLECT));
    const int *a0 = s.data() + at[0], *a1 = s.data() + at[1], *a2 = s.data() + at[2], *a3 = s.data() + at[3],
              *a4 = s.data() + at[4];
    const int *b0 = s2.data() + at[0], *b1 = s2.data() + at[1], *b2 = s2.data() + at[2],
              *b3 = s2.data() + at[3], *b4 = s2.data() + at[4];
    for (int x = 0; x < w; ++x) {
      col[static_cast<std::size_t>(x) + 2] = a0[x] + a1[x] + a2[x] + a3[x] + a4[x];
      col2[static_cast<std::size_t>(x) + 2] = b0[x] + b1[x] + b2[x] + b3[x] + b4[x];
    }
    for (const std::size_t i : {std::size_t{0}, std::size_t{1}, wz + 2, wz + 3}) {  // x = -2, -1, w, w + 1
      col[i] = col[static_cast<std::size_t>(xs[i]) + 2];
      col2[i] = col2[static_cast<std::size_t>(xs[i]) + 2];
    }
    uint8_t* f = flat.ptr<uint8_t>(y);
    for (int x = 0; x < w; ++x) {
      const int* c = col.data() + x;
      const int* c2 = col2.data() + x;
      const std::int64_t sum = c[0] + c[1] + c[2] + c[3] + c[4];
      const std::int64_t sum2 = static_cast<std::int64_t>(c2[0]) + c2[1] + c2[2] + c2[3] + c2[4];
      f[x] = static_cast<double>(25 * sum2 - sum * sum) <= limit ? 255 : 0;
    }
  }
  return flat;
}

}  // namespace

double stain_angle_deg(const Vec3& a, const Vec3& b) {
  const double na = std::sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2]);
  const double nb = std::sqrt(b[0] * b[0] + b[1] * b[1] + b[2] * b[2]);
  const double cos = (a[0] * b[0] + a[1] * b[1] + a[2] * b[2]) / (na * nb);
  return std::acos(std::clamp(cos, -1.0, 1.0)) * 180.0 / M_PI;
}

BackgroundEstimate estimate_background(const cv::Mat& rgb, const BackgroundParams& params) {
  require_rgb(rgb, "estimate_background");
  BackgroundEstimate out;
  const int grey_floor = params.bright_min;
  const int min = params.channel_min;
  const cv::Mat flat = flat_pixels(rgb, params.max_local_std);  // empty: no flatness test
  // Candidates: bright and flat. Their grey-level histogram picks the brightest population below.
  std::array<int64_t, 256> grey_hist{};
  int64_t candidates = 0;
  auto candidate = [&](const uint8_t* p, const uint8_t* is_flat, int x) {
    return p[0] >= min && p[1] >= min && p[2] >= min && (p[0] + p[1] + p[2]) / 3 >= grey_floor &&
           (is_flat == nullptr || is_flat[x] != 0);
  };
  for (int y = 0; y < rgb.rows; ++y) {
    const uint8_t* p = rgb.ptr<uint8_t>(y);
    const uint8_t* is_flat = flat.empty() ? nullptr : flat.ptr<uint8_t>(y);
    for (int x = 0; x < rgb.cols; ++x, p += 3) {
      if (!candidate(p, is_flat, x)) continue;
      ++grey_hist[(p[0] + p[1] + p[2]) / 3];
      ++candidates;
    }
  }
  const double needed = std::max(1.0, params.min_bright_fraction * static_cast<double>(rgb.total()));
  if (static_cast<double>(candidates) < needed) return out;
  // Glass is the brightest flat population: the grey level below which all but `needed` candidates lie, less
  // a margin for the glass's own spread. Flat pale tissue (more of it than glass on many fields) is darker.
  int top = 255;
  for (int64_t above = 0; top > 0; --top) {
    above += grey_hist[top];
    if (static_cast<double>(above) >= needed) break;
  }
  const int grey_min = top - params.glass_grey_margin;
  std::array<std::array<int64_t, 256>, 3> hist{};
  for (int y = 0; y < rgb.rows; ++y) {
    const uint8_t* p = rgb.ptr<uint8_t>(y);
    const uint8_t* is_flat = flat.empty() ? nullptr : flat.ptr<uint8_t>(y);
    for (int x = 0; x < rgb.cols; ++x, p += 3) {
      if (!candidate(p, is_flat, x) || (p[0] + p[1] + p[2]) / 3 < grey_min) continue;
      ++hist[0][p[0]];
      ++hist[1][p[1]];
      ++hist[2][p[2]];
      ++out.bright_pixels;
    }
  }
  for (int ch = 0; ch < 3; ++ch) {
    int mode = 255;
    for (int v = 255; v >= 0; --v) {
      if (hist[ch][v] > hist[ch][mode]) mode = v;  // strict: ties keep the brighter value
    }
    out.background[ch] = mode;
  }
  out.found = true;
  return out;
}

StainEstimate estimate_stains(const cv::Mat& rgb, const StainMatrix& reference,
                              const StainEstimationParams& params, const cv::Mat& tissue_mask) {
  require_rgb(rgb, "estimate_stains");
  if (!tissue_mask.empty() && (tissue_mask.type() != CV_8U || tissue_mask.size() != rgb.size())) {
    throw StainError("estimate_stains: the tissue mask must be CV_8U and " + std::to_string(rgb.cols) +
                     " x " + std::to_string(rgb.rows) + " like the image");
  }
  StainEstimate out;
  Vec3 background = reference.background;
  if (params.estimate_background) {
    out.background = estimate_background(rgb, params.background);
    if (out.background.found) background = out.background.background;
  }
  const auto lut_r = od_lut(background[0]);
  const auto lut_g = od_lut(background[1]);
  const auto lut_b = od_lut(background[2]);

  // QuPath samples at equal spacing above its pixel budget; a grid keeps both directions even.
  const double total = static_cast<double>(rgb.total());
  const int step =
      std::max(1, static_cast<int>(std::ceil(std::sqrt(total / std::max<int64_t>(1, params.max_pixels)))));
  const double max_sq = params.max_od * params.max_od;
  const double inv_sqrt3 = 1.0 / std::sqrt(3.0);
  const double gray_cos = std::cos(0.15);
  auto for_each_kept = [&](auto&& fn) {
    for (int y = 0; y < rgb.rows; y += step) {
      const uint8_t* p = rgb.ptr<uint8_t>(y);
      const uint8_t* m = tissue_mask.empty() ? nullptr : tissue_mask.ptr<uint8_t>(y);
      for (int x = 0; x < rgb.cols; x += step) {
        if (m != nullptr && m[x] == 0) continue;
        const uint8_t* px = p + 3 * static_cast<std::ptrdiff_t>(x);
        const double r = lut_r[px[0]], g = lut_g[px[1]], b = lut_b[px[2]];
        if (r < params.min_od || g < params.min_od || b < params.min_od) continue;
        const double sq = r * r + g * g + b * b;
        if (sq > max_sq) continue;
        if (params.exclude_gray && (r + g + b) * inv_sqrt3 >= gray_cos * std::sqrt(sq)) continue;
        fn(r, g, b);
      }
    }
  };

  Eigen::Matrix3d outer = Eigen::Matrix3d::Zero();
  int64_t n = 0;
  for_each_kept([&](double r, double g, double b) {
    const Eigen::Vector3d v(r, g, b);
    outer += v * v.transpose();
    ++n;
  });
  out.pixels_used = n;
  if (n < params.min_pixels) {
    throw StainError("stain estimation: only " + std::to_string(n) +
                     " pixels have an optical density between " +
                     fmt("%g and %g", params.min_od, params.max_od) + " and are not grey (need at least " +
                     std::to_string(params.min_pixels) + ")");
  }
  // Beer-Lambert puts every mixture of two stains in a plane through the origin, so the plane is fitted to
  // the uncentred second moments. (QuPath centres them: same plane for real mixtures, but undefined when the
  // data are two colours only, where the centred matrix has rank one.)
  const Eigen::Matrix3d moments = outer / static_cast<double>(n);
  const Eigen::SelfAdjointEigenSolver<Eigen::Matrix3d> eig(moments);
  Eigen::Vector3d e1 = eig.eigenvectors().col(2);  // eigenvalues ascend: the last two span the stain plane
  Eigen::Vector3d e2 = eig.eigenvectors().col(1);
  if (e1.sum() < 0) e1 = -e1;

  // Macenko: angle of each pixel in the plane, robust extremes, directions projected onto the plane.
  std::vector<float> phi;
  phi.reserve(static_cast<size_t>(n));
  for_each_kept([&](double r, double g, double b) {
    const Eigen::Vector3d v(r, g, b);
    phi.push_back(static_cast<float>(std::atan2(v.dot(e2), v.dot(e1))));
  });
  const double alpha = std::clamp(params.ignore_percent, 0.0, 49.0) / 100.0;
  const size_t lo_index = static_cast<size_t>(std::floor(alpha * static_cast<double>(phi.size() - 1) + 0.5));
  const size_t hi_index =
      static_cast<size_t>(std::floor((1.0 - alpha) * static_cast<double>(phi.size() - 1) + 0.5));
  std::nth_element(phi.begin(), phi.begin() + static_cast<std::ptrdiff_t>(lo_index), phi.end());
  const double phi_lo = phi[lo_index];
  std::nth_element(phi.begin(), phi.begin() + static_cast<std::ptrdiff_t>(hi_index), phi.end());
  const double phi_hi = phi[hi_index];
  auto direction = [&](double angle) {
    Eigen::Vector3d v = std::cos(angle) * e1 + std::sin(angle) * e2;
    if (v.sum() < 0) v = -v;
    return unit(Vec3{v[0], v[1], v[2]});
  };
  const Vec3 a = direction(phi_lo);
  const Vec3 b = direction(phi_hi);

  const StainVector& ref1 = reference.stains[0];
  const StainVector& ref2 = reference.stains[1];
  const bool keep = stain_angle_deg(a, ref1.rgb) + stain_angle_deg(b, ref2.rgb) <=
                    stain_angle_deg(a, ref2.rgb) + stain_angle_deg(b, ref1.rgb);
  Vec3 s1 = keep ? a : b;
  Vec3 s2 = keep ? b : a;
  if (params.edge_fit) {
    // Stain 2 only: stain 1 is the counterstain, pure in negative nuclei, where Macenko is right (0.3 degrees
    // on synthetic fields) and the edge fit is noisier (1.4 degrees, measured).
    s2 = edge_fit(s2, s1, params, for_each_kept, &out.edge_fitted[1]);
  }
  out.separation_deg = stain_angle_deg(s1, s2);
  out.deviation_deg = {stain_angle_deg(s1, ref1.rgb), stain_angle_deg(s2, ref2.rgb)};

  if (out.separation_deg < params.min_separation_deg) {
    throw StainError("stain estimation: the estimated " + ref1.name + " and " + ref2.name +
                     " vectors are only " +
                     fmt("%.1f degrees apart (minimum %g)", out.separation_deg, params.min_separation_deg) +
                     ": the region shows a single stain");
  }
  const Vec3* est[2] = {&s1, &s2};
  const StainVector* own[2] = {&ref1, &ref2};
  const StainVector* other[2] = {&ref2, &ref1};
  for (int i = 0; i < 2; ++i) {
    if (stain_angle_deg(*est[i], other[i]->rgb) < out.deviation_deg[i]) {
      throw StainError("stain estimation: the estimated " + own[i]->name + " vector " + vec_text(*est[i]) +
                       " is closer to the default " + other[i]->name + " vector than to the default " +
                       own[i]->name + " vector (stains swapped or one missing)");
    }
  }
  for (int i = 0; i < 2; ++i) {
    if (out.deviation_deg[i] > params.max_deviation_deg) {
      throw StainError("stain estimation: the estimated " + own[i]->name + " vector " + vec_text(*est[i]) +
                       fmt(" is %.1f degrees from the default ", out.deviation_deg[i]) + own[i]->name +
                       fmt(" vector (maximum %g)", params.max_deviation_deg));
    }
  }
  out.matrix = StainMatrix::from_vectors(reference.name, StainVector{ref1.name, s1},
                                         StainVector{ref2.name, s2}, nullptr, background);
  return out;
}

}  // namespace ihc
