#include "imaging/synth.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <opencv2/core/utility.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "imaging/cell_growth.hpp"
#include "imaging/stains.hpp"
#include "imaging/tiff_writer.hpp"
#include "models/atomic_file.hpp"

namespace ihc {
namespace {

constexpr int kTexSize = 512;  // tileable textures; power of two so indices wrap with a mask
constexpr int kTexMask = kTexSize - 1;
constexpr int kLattice = 8;     // pixels between the nodes of the smooth fields
constexpr int kOdSteps = 2048;  // Beer-Lambert lookup: 1/2048 OD per entry
constexpr int kOdEntries = 8 * kOdSteps;

// Salts keep the hashed streams of different quantities independent.
constexpr std::uint64_t kSaltSeed = 1;
constexpr std::uint64_t kSaltNest = 100;
constexpr std::uint64_t kSaltTissue = 200;
constexpr std::uint64_t kSaltAngle = 300;
constexpr std::uint64_t kSaltMixed = 400;
constexpr std::uint64_t kSaltLymph = 500;
constexpr std::uint64_t kSaltTone = 600;
constexpr std::uint64_t kSaltGap = 700;
constexpr std::uint64_t kSaltTexture = 800;
constexpr std::uint64_t kSaltNoise = 900;
constexpr std::uint64_t kSaltQuantile = 1000;

constexpr int kFibreAngles = 8;

// Fibre direction in radians from the angle field (about [0, 1]): spans several half-turns.
inline double fibre_angle(double field) { return 2.0 * CV_PI * field; }

enum class SeedType : std::uint8_t { None = 0, Tumour = 1, Fibroblast = 2, Lymphocyte = 3 };

inline std::uint64_t mix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

inline std::uint64_t hash2(std::uint64_t seed, std::int64_t a, std::int64_t b, std::uint64_t salt) {
  return mix64(seed ^ mix64(static_cast<std::uint64_t>(a) * 0x9E3779B97F4A7C15ull ^
                            mix64(static_cast<std::uint64_t>(b) + salt * 0xD1B54A32D192ED03ull)));
}

inline double unit(std::uint64_t h) { return static_cast<double>(h >> 11) * 0x1.0p-53; }

inline double smooth(double t) { return t * t * (3.0 - 2.0 * t); }

inline float clamp01(float v) { return v < 0.f ? 0.f : (v > 1.f ? 1.f : v); }

// Fractal value noise in about [0, 1]: smooth lattice noise, octaves halving in scale and amplitude.
double value_noise(std::uint64_t seed, std::uint64_t salt, double x, double y, double scale_px, int octaves) {
  double sum = 0, norm = 0, amp = 1, f = 1.0 / scale_px;
  for (int o = 0; o < octaves; ++o) {
    const double u = x * f, v = y * f;
    const double fu = std::floor(u), fv = std::floor(v);
    const auto iu = static_cast<std::int64_t>(fu), iv = static_cast<std::int64_t>(fv);
    const double su = smooth(u - fu), sv = smooth(v - fv);
    const std::uint64_t s = salt + static_cast<std::uint64_t>(o);
    const double n00 = unit(hash2(seed, iu, iv, s)), n10 = unit(hash2(seed, iu + 1, iv, s));
    const double n01 = unit(hash2(seed, iu, iv + 1, s)), n11 = unit(hash2(seed, iu + 1, iv + 1, s));
    sum += amp * ((n00 * (1 - su) + n10 * su) * (1 - sv) + (n01 * (1 - su) + n11 * su) * sv);
    norm += amp;
    amp *= 0.5;
    f *= 2.0;
  }
  return sum / norm;
}

// A smooth field: value noise sampled on the global kLattice grid and interpolated bilinearly, so a pixel and
// a cell centre see the same value whichever tile asks.
struct FieldSpec {
  std::uint64_t salt = 0;
  double scale_px = 100;
  int octaves = 1;
};

struct Seed {
  float x = 0, y = 0;
  std::int64_t id = 0;
  SeedType type = SeedType::None;
  std::uint8_t grade = 0;
  Compartment compartment = Compartment::Membrane;
  float level = 0;  // designed DAB OD of the stained compartment
  float membrane_dab = 0, cytoplasm_dab = 0, nucleus_dab = 0;
  float cytoplasm_h = 0;
  float a = 1, b = 1, cos_t = 1, sin_t = 0;  // nucleus semi-axes (px) and orientation
  float nucleus_h = 0, chromatin = 0;
  int tex_dx = 0, tex_dy = 0;
};

}  // namespace

struct SynthRenderer::Impl {
  SynthParams p;
  double grid_px = 20;  // tumour cell spacing
  double um = 2;        // pixels per micron
  double membrane_half_px = 1;
  double blur_sigma_px = 0;
  int blur_radius = 0;
  int seed_margin_cells = 2;
  std::int64_t id_stride = 0;
  FieldSpec nest, tissue, angle, mixed, lymph, tone, gap;
  double nest_threshold = 0.5, tissue_threshold = 0.5, gap_threshold = 0.9;
  double mixed_low = 0.45, mixed_high = 0.55;
  std::array<double, 3> cumulative{};
  // Membranous cells: line OD per unit of level, per grade, so that the band reads the level after the
  // optics (see calibrate_membrane_gain).
  std::array<double, 4> membrane_gain{1.0, 1.0, 1.0, 1.0};
  std::array<float, 3> v_h{}, v_d{};
  std::array<std::array<std::uint8_t, kOdEntries>, 3> lut{};
  cv::Mat tex_fine, tex_mid;  // CV_32F kTexSize^2, mean 0.5, in [0, 1]
  // Collagen fibres at kFibreAngles orientations over [0, pi); stroma blends the two nearest to the local
  // fibre direction (rotating coordinates instead would shear the texture far from the origin).
  std::array<cv::Mat, kFibreAngles> tex_fibre;

  explicit Impl(const SynthParams& params);
  double field_node(const FieldSpec& f, std::int64_t i, std::int64_t j) const {
    return value_noise(p.seed, f.salt, static_cast<double>(i * kLattice), static_cast<double>(j * kLattice),
                       f.scale_px, f.octaves);
  }
  // Bilinear field value and gradient (per pixel) at a point.
  double field_at(const FieldSpec& f, double x, double y, double* gx = nullptr, double* gy = nullptr) const {
    const double u = x / kLattice, v = y / kLattice;
    const double fu = std::floor(u), fv = std::floor(v);
    const auto i = static_cast<std::int64_t>(fu), j = static_cast<std::int64_t>(fv);
    const double wu = u - fu, wv = v - fv;
    const double n00 = field_node(f, i, j), n10 = field_node(f, i + 1, j);
    const double n01 = field_node(f, i, j + 1), n11 = field_node(f, i + 1, j + 1);
    if (gx != nullptr) *gx = ((n10 - n00) * (1 - wv) + (n11 - n01) * wv) / kLattice;
    if (gy != nullptr) *gy = ((n01 - n00) * (1 - wu) + (n11 - n10) * wu) / kLattice;
    return (n00 * (1 - wu) + n10 * wu) * (1 - wv) + (n01 * (1 - wu) + n11 * wu) * wv;
  }
  double quantile(const FieldSpec& f, double q, std::uint64_t salt) const;
  // Tissue presence in [0, 1] from the (interpolated) tissue value and the distance to the slide border.
  float tissue_alpha(double t, double x, double y) const;
  Seed make_seed(std::int64_t gx, std::int64_t gy) const;
  // `owner` (optional, CV_32S): id of the cell each pixel belongs to, 0 for stroma and glass.
  void concentrations(const cv::Rect& r, cv::Mat& h, cv::Mat& d, cv::Mat* owner = nullptr) const;
  // RGB of a rectangle inside the image (not checked).
  cv::Mat render(const cv::Rect& rect, SynthMaps* maps) const;
  // Sets membrane_gain so that, on a uniform field of each grade, the mean DAB OD over the membrane band
  // inside the true cell borders of the RENDERED image (after blur and noise) equals the grade's level.
  void calibrate_membrane_gain();
};

namespace {

cv::Mat make_texture(std::uint64_t seed, std::uint64_t salt, double sigma_x, double sigma_y) {
  cv::Mat white(kTexSize, kTexSize, CV_32F);
  for (int y = 0; y < kTexSize; ++y) {
    auto* row = white.ptr<float>(y);
    for (int x = 0; x < kTexSize; ++x) row[x] = static_cast<float>(unit(hash2(seed, x, y, salt)) - 0.5);
  }
  // Blur a wrapped copy so the texture tiles without seams.
  const int m = static_cast<int>(std::ceil(4 * std::max(sigma_x, sigma_y))) + 1;
  const int mw = std::min(m, kTexSize);
  cv::Mat big;
  cv::copyMakeBorder(white, big, mw, mw, mw, mw, cv::BORDER_WRAP);
  cv::GaussianBlur(big, big, cv::Size(0, 0), std::max(sigma_x, 0.3), std::max(sigma_y, 0.3),
                   cv::BORDER_REFLECT);
  cv::Mat tex = big(cv::Rect(mw, mw, kTexSize, kTexSize)).clone();
  cv::Scalar mean, stddev;
  cv::meanStdDev(tex, mean, stddev);
  tex = (tex - mean[0]) * (0.18 / std::max(stddev[0], 1e-9)) + 0.5;
  cv::min(cv::max(tex, 0.0), 1.0, tex);
  return tex;
}

inline float tex_at(const cv::Mat& t, std::int64_t x, std::int64_t y) {
  return t.ptr<float>(static_cast<int>(y & kTexMask))[x & kTexMask];
}

// White noise filtered with an anisotropic Gaussian whose long axis points at `angle` (radians).
cv::Mat make_fibre_texture(std::uint64_t seed, std::uint64_t salt, double sigma_long, double sigma_short,
                           double angle) {
  cv::Mat white(kTexSize, kTexSize, CV_32F);
  for (int y = 0; y < kTexSize; ++y) {
    auto* row = white.ptr<float>(y);
    for (int x = 0; x < kTexSize; ++x) row[x] = static_cast<float>(unit(hash2(seed, x, y, salt)) - 0.5);
  }
  const int rad = std::min(static_cast<int>(std::ceil(3 * sigma_long)) + 1, kTexSize / 2 - 1);
  cv::Mat kernel(2 * rad + 1, 2 * rad + 1, CV_32F);
  const double c = std::cos(angle), s = std::sin(angle);
  const double sl = std::max(sigma_long, 0.3), ss = std::max(sigma_short, 0.3);
  for (int y = -rad; y <= rad; ++y) {
    for (int x = -rad; x <= rad; ++x) {
      const double a = x * c + y * s, b = -x * s + y * c;
      kernel.at<float>(y + rad, x + rad) =
          static_cast<float>(std::exp(-0.5 * (a * a / (sl * sl) + b * b / (ss * ss))));
    }
  }
  cv::Mat big, filtered;
  cv::copyMakeBorder(white, big, rad, rad, rad, rad, cv::BORDER_WRAP);
  cv::filter2D(big, filtered, CV_32F, kernel);
  cv::Mat tex = filtered(cv::Rect(rad, rad, kTexSize, kTexSize)).clone();
  cv::Scalar mean, stddev;
  cv::meanStdDev(tex, mean, stddev);
  tex = (tex - mean[0]) * (0.18 / std::max(stddev[0], 1e-9)) + 0.5;
  cv::min(cv::max(tex, 0.0), 1.0, tex);
  return tex;
}

// atan2 to about 0.01 rad: enough to pick fibre orientations.
inline float fast_atan2(float y, float x) {
  const float ax = std::abs(x), ay = std::abs(y);
  const float mx = std::max(ax, ay), mn = std::min(ax, ay);
  if (mx <= 0.f) return 0.f;
  const float a = mn / mx, s = a * a;
  float r = ((-0.0464964749f * s + 0.15931422f) * s - 0.327622764f) * s * a + a;
  if (ay > ax) r = 1.57079637f - r;
  if (x < 0) r = 3.14159274f - r;
  return y < 0 ? -r : r;
}

}  // namespace

SynthRenderer::Impl::Impl(const SynthParams& params) : p(params) {
  um = 1.0 / p.mpp;
  grid_px = p.cell_size_um * um;
  membrane_half_px = 0.5 * p.membrane_width_um * um;
  blur_sigma_px = p.blur_um * um;
  blur_radius = blur_sigma_px >= 0.1 ? static_cast<int>(std::ceil(3 * blur_sigma_px)) : 0;
  // Seeds whose nucleus (fibroblasts up to ~8.5 um long semi-axis) can reach a pixel, plus the 3x3 Voronoi
  // neighbourhood.
  seed_margin_cells = 2 + static_cast<int>(std::ceil(9.0 * um / grid_px));
  id_stride = static_cast<std::int64_t>(std::ceil(p.width / grid_px)) + 8;

  const double min_side_um = std::min(p.width, p.height) * p.mpp;
  nest = {kSaltNest, 170.0 * um, 3};
  tissue = {kSaltTissue, std::clamp(min_side_um / 2.5, 300.0, 2500.0) * um, 3};
  angle = {kSaltAngle, 90.0 * um, 2};
  mixed = {kSaltMixed, 220.0 * um, 2};
  lymph = {kSaltLymph, 110.0 * um, 2};
  tone = {kSaltTone, 350.0 * um, 2};
  gap = {kSaltGap, 45.0 * um, 2};

  // Thresholds from quantiles over the image, so the requested fractions hold whatever the seed.
  nest_threshold = quantile(nest, 1.0 - p.tumour_fraction, kSaltQuantile);
  tissue_threshold = quantile(tissue, 0.55, kSaltQuantile + 1);
  gap_threshold = quantile(gap, 0.94, kSaltQuantile + 2);
  mixed_low = quantile(mixed, 1.0 / 3.0, kSaltQuantile + 3);
  mixed_high = quantile(mixed, 2.0 / 3.0, kSaltQuantile + 3);

  double c = 0;
  for (int g = 0; g < 3; ++g) cumulative[g] = (c += p.grade_fractions[g]);

  const StainVector& h = p.stains.stains[0];
  const StainVector& d = p.stains.stains[1];
  for (int ch = 0; ch < 3; ++ch) {
    v_h[ch] = static_cast<float>(h.rgb[ch]);
    v_d[ch] = static_cast<float>(d.rgb[ch]);
    for (int i = 0; i < kOdEntries; ++i) {
      const double v = p.background[ch] * std::pow(10.0, -static_cast<double>(i) / kOdSteps);
      lut[ch][i] = static_cast<std::uint8_t>(std::clamp(std::lround(v), 0L, 255L));
    }
  }
  tex_fine = make_texture(p.seed, kSaltTexture, 0.35 * um, 0.35 * um);
  tex_mid = make_texture(p.seed, kSaltTexture + 1, 1.0 * um, 1.0 * um);
  for (int k = 0; k < static_cast<int>(tex_fibre.size()); ++k) {
    tex_fibre[k] = make_fibre_texture(p.seed, kSaltTexture + 2, 3.0 * um, 0.45 * um,
                                      CV_PI * k / static_cast<double>(tex_fibre.size()));
  }
}

double SynthRenderer::Impl::quantile(const FieldSpec& f, double q, std::uint64_t salt) const {
  constexpr int kSamples = 4096;
  std::vector<double> v(kSamples);
  for (int i = 0; i < kSamples; ++i) {
    const double x = unit(hash2(p.seed, i, 0, salt)) * p.width;
    const double y = unit(hash2(p.seed, i, 1, salt)) * p.height;
    v[i] = field_at(f, x, y);
  }
  const auto k = static_cast<std::size_t>(std::clamp(q, 0.0, 1.0) * (kSamples - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

float SynthRenderer::Impl::tissue_alpha(double t, double x, double y) const {
  if (p.layout == SynthLayout::Field) return 1.f;
  // Tissue edges are sharp (a few microns). Away from the slide centre the field is pushed down along an
  // ellipse, so pieces end in rounded outlines inside the slide instead of being cut by its border.
  const double ex = (x - 0.5 * p.width) / (0.5 * p.width), ey = (y - 0.5 * p.height) / (0.5 * p.height);
  const double rr = std::clamp((std::sqrt(ex * ex + ey * ey) - 0.55) / 0.4, 0.0, 1.0);
  const double penalty = 0.7 * rr * rr;
  const double a = std::clamp((t - penalty - tissue_threshold) * 40.0 + 0.5, 0.0, 1.0);
  return static_cast<float>(a);
}

Seed SynthRenderer::Impl::make_seed(std::int64_t gx, std::int64_t gy) const {
  Seed s;
  const std::uint64_t h0 = hash2(p.seed, gx, gy, kSaltSeed);
  auto u = [&](int k) { return unit(mix64(h0 + static_cast<std::uint64_t>(k) * 0x632BE59BD9B4E019ull)); };
  // Hexagonal packing (odd rows shifted half a cell) with jitter: epithelium-like polygons.
  auto pos = [&](std::int64_t cx, std::int64_t cy, double* x, double* y) {
    const std::uint64_t hh = hash2(p.seed, cx, cy, kSaltSeed);
    const double jx = (unit(mix64(hh + 0x632BE59BD9B4E019ull)) - 0.5) * 0.6;
    const double jy = (unit(mix64(hh + 2 * 0x632BE59BD9B4E019ull)) - 0.5) * 0.6;
    *x = (static_cast<double>(cx) + 0.5 + 0.5 * static_cast<double>(cy & 1) + jx) * grid_px;
    *y = (static_cast<double>(cy) + 0.5 + jy) * grid_px;
  };
  double x, y;
  pos(gx, gy, &x, &y);
  s.x = static_cast<float>(x);
  s.y = static_cast<float>(y);
  s.id = (gy + 4) * id_stride + (gx + 4);
  s.tex_dx = static_cast<int>(u(10) * kTexSize);
  s.tex_dy = static_cast<int>(u(11) * kTexSize);

  if (tissue_alpha(field_at(tissue, x, y), x, y) < 0.5) return s;
  double ngx, ngy;
  const double nv = field_at(nest, x, y, &ngx, &ngy);
  const double grad = std::max(std::hypot(ngx, ngy), 1e-9);
  const double to_border_px = (nv - nest_threshold) / grad;  // > 0 inside a tumour nest

  if (nv > nest_threshold) {
    if (to_border_px < 0.45 * grid_px) return s;  // too close to the nest border for a whole cell
    s.type = SeedType::Tumour;
    // Nucleus no larger than the room left by the nearest neighbour centre.
    double nn = 1e30;
    for (int dy = -1; dy <= 1; ++dy) {
      for (int dx = -1; dx <= 1; ++dx) {
        if (dx == 0 && dy == 0) continue;
        double ox, oy;
        pos(gx + dx, gy + dy, &ox, &oy);
        nn = std::min(nn, std::hypot(ox - x, oy - y));
      }
    }
    const double r = (3.0 + 1.8 * u(1)) * um;
    const double aspect = 1.0 + 0.5 * u(2);
    s.a = static_cast<float>(std::min(r * std::sqrt(aspect), 0.42 * nn));
    s.b = static_cast<float>(std::min(r / std::sqrt(aspect), 0.38 * nn));
    const double t = u(3) * CV_PI;
    s.cos_t = static_cast<float>(std::cos(t));
    s.sin_t = static_cast<float>(std::sin(t));
    s.nucleus_h = static_cast<float>(0.30 + 0.22 * u(4));
    s.chromatin = static_cast<float>(0.30 + 0.25 * u(5));
    s.cytoplasm_h = static_cast<float>(0.05 + 0.05 * u(6));
    const double ug = u(7);
    s.grade = ug < cumulative[0] ? 0 : ug < cumulative[1] ? 1 : ug < cumulative[2] ? 2 : 3;
    s.level = static_cast<float>(p.grade_dab_od[s.grade] + p.grade_spread_od[s.grade] * (2 * u(8) - 1));
    switch (p.kind) {
      case SynthKind::Membrane:
        s.compartment = Compartment::Membrane;
        break;
      case SynthKind::Cytoplasm:
        s.compartment = Compartment::Cytoplasm;
        break;
      case SynthKind::Nuclear:
        s.compartment = Compartment::Nucleus;
        break;
      case SynthKind::Mixed: {
        const double m = field_at(mixed, x, y);
        s.compartment = m < mixed_low    ? Compartment::Membrane
                        : m < mixed_high ? Compartment::Cytoplasm
                                         : Compartment::Nucleus;
        break;
      }
    }
    switch (s.compartment) {
      case Compartment::Membrane: {
        const double cyto = 0.01 + p.cytoplasm_dab_fraction * (0.7 + 0.6 * u(9)) * s.level;
        // The band (membrane compartment) holds the cell's half line over a fraction f and cytoplasm over the
        // rest: band mean = f * line + (1 - f) * cytoplasm = level.
        const double f = std::min(1.0, 0.5 * p.membrane_width_um / p.membrane_band_um);
        s.cytoplasm_dab = static_cast<float>(cyto);
        s.membrane_dab =
            static_cast<float>(membrane_gain[s.grade] * std::max(0.0, (s.level - (1.0 - f) * cyto) / f));
        s.nucleus_dab = 0.02f;
        break;
      }
      case Compartment::Cytoplasm:
        s.membrane_dab = s.level;
        s.cytoplasm_dab = s.level;
        s.nucleus_dab = 0.03f;
        break;
      case Compartment::Nucleus:
        s.membrane_dab = 0.02f;
        s.cytoplasm_dab = 0.02f;
        s.nucleus_dab = s.level;
        // Strongly positive nuclei look brown: DAB masks part of the counterstain.
        if (s.level > 0.2f) s.nucleus_h *= 0.75f;
        break;
    }
    return s;
  }
  // Stroma: sparse fibroblasts along the fibre direction, lymphocytes in clusters, white gaps.
  if (to_border_px > -2.0 * um) return s;
  if (field_at(gap, x, y) > gap_threshold) return s;
  const double lymph_p = 0.03 + 0.45 * std::clamp((field_at(lymph, x, y) - 0.55) / 0.2, 0.0, 1.0);
  const double ut = u(1);
  s.compartment = p.kind == SynthKind::Nuclear     ? Compartment::Nucleus
                  : p.kind == SynthKind::Cytoplasm ? Compartment::Cytoplasm
                                                   : Compartment::Membrane;
  s.membrane_dab = s.cytoplasm_dab = s.nucleus_dab = 0.015f;
  s.level = 0.015f;
  if (ut < lymph_p) {
    s.type = SeedType::Lymphocyte;
    const double r = (2.3 + 0.8 * u(2)) * um;
    const double aspect = 1.0 + 0.15 * u(3);
    s.a = static_cast<float>(r * std::sqrt(aspect));
    s.b = static_cast<float>(r / std::sqrt(aspect));
    const double t = u(4) * CV_PI;
    s.cos_t = static_cast<float>(std::cos(t));
    s.sin_t = static_cast<float>(std::sin(t));
    s.nucleus_h = static_cast<float>(0.85 + 0.3 * u(5));
    s.chromatin = 0.12f;
  } else if (ut < lymph_p + 0.28) {
    s.type = SeedType::Fibroblast;
    s.a = static_cast<float>((4.5 + 3.0 * u(2)) * um);
    s.b = static_cast<float>((1.0 + 0.7 * u(3)) * um);
    const double t = fibre_angle(field_at(angle, x, y)) + 0.3 * (u(4) - 0.5);
    s.cos_t = static_cast<float>(std::cos(t));
    s.sin_t = static_cast<float>(std::sin(t));
    s.nucleus_h = static_cast<float>(0.50 + 0.25 * u(5));
    s.chromatin = 0.2f;
  }
  return s;
}

void SynthRenderer::Impl::concentrations(const cv::Rect& r, cv::Mat& hm, cv::Mat& dm, cv::Mat* owner) const {
  if (owner != nullptr) owner->create(r.size(), CV_32S);
  hm.create(r.size(), CV_32F);
  dm.create(r.size(), CV_32F);
  // Field nodes covering the rectangle.
  const std::int64_t nx0 = static_cast<std::int64_t>(std::floor(static_cast<double>(r.x) / kLattice));
  const std::int64_t ny0 = static_cast<std::int64_t>(std::floor(static_cast<double>(r.y) / kLattice));
  const int nw = static_cast<int>((r.x + r.width) / kLattice - nx0) + 2;
  const int nh = static_cast<int>((r.y + r.height) / kLattice - ny0) + 2;
  const bool slide = p.layout == SynthLayout::Slide;
  cv::Mat n_nest(nh, nw, CV_32F), n_tissue(nh, nw, CV_32F), n_cos(nh, nw, CV_32F), n_sin(nh, nw, CV_32F),
      n_tone(nh, nw, CV_32F), n_gap(nh, nw, CV_32F);
  for (int j = 0; j < nh; ++j) {
    for (int i = 0; i < nw; ++i) {
      const std::int64_t gi = nx0 + i, gj = ny0 + j;
      const double x = static_cast<double>(gi * kLattice), y = static_cast<double>(gj * kLattice);
      n_tissue.at<float>(j, i) = slide ? tissue_alpha(field_node(tissue, gi, gj), x, y) : 1.f;
      n_nest.at<float>(j, i) = static_cast<float>(field_node(nest, gi, gj));
      const double t = 2.0 * fibre_angle(field_node(angle, gi, gj));  // doubled: orientations repeat every pi
      n_cos.at<float>(j, i) = static_cast<float>(std::cos(t));
      n_sin.at<float>(j, i) = static_cast<float>(std::sin(t));
      n_tone.at<float>(j, i) = static_cast<float>(0.85 + 0.3 * field_node(tone, gi, gj));
      n_gap.at<float>(j, i) = static_cast<float>(field_node(gap, gi, gj));
    }
  }
  // Seeds: local grid covering the rectangle plus margins.
  const std::int64_t gy0 = static_cast<std::int64_t>(std::floor(r.y / grid_px)) - seed_margin_cells;
  const std::int64_t gy1 =
      static_cast<std::int64_t>(std::floor((r.y + r.height) / grid_px)) + seed_margin_cells;
  const std::int64_t gx0 = static_cast<std::int64_t>(std::floor(r.x / grid_px)) - seed_margin_cells - 1;
  const std::int64_t gx1 =
      static_cast<std::int64_t>(std::floor((r.x + r.width) / grid_px)) + seed_margin_cells;
  const int sw = static_cast<int>(gx1 - gx0 + 1), sh = static_cast<int>(gy1 - gy0 + 1);
  std::vector<Seed> seeds(static_cast<std::size_t>(sw) * sh);
  // Tumour centres for the Voronoi search; others far away so they never win.
  std::vector<float> tx(seeds.size()), ty(seeds.size());
  for (int j = 0; j < sh; ++j) {
    for (int i = 0; i < sw; ++i) {
      const std::size_t k = static_cast<std::size_t>(j) * sw + i;
      seeds[k] = make_seed(gx0 + i, gy0 + j);
      const bool t = seeds[k].type == SeedType::Tumour;
      tx[k] = t ? seeds[k].x : 1e15f;
      ty[k] = t ? seeds[k].y : 1e15f;
    }
  }
  const float hw = static_cast<float>(membrane_half_px);
  const float wave = static_cast<float>(0.35 * um);
  const float nest_thr = static_cast<float>(nest_threshold);
  const float gap_thr = static_cast<float>(gap_threshold);
  // Cell borders show faintly in the counterstain; less so where nothing stains them (Ki-67).
  const float border_h = p.kind == SynthKind::Nuclear ? 0.015f : 0.05f;

  // Per-column lookups (everything depends on global coordinates only, never on the tile).
  std::vector<int> col_node(r.width), col_cell_even(r.width), col_cell_odd(r.width);
  std::vector<float> col_w(r.width);
  for (int xx = 0; xx < r.width; ++xx) {
    const double x = static_cast<double>(r.x + xx);
    const double u = x / kLattice;
    col_node[xx] = static_cast<int>(static_cast<std::int64_t>(std::floor(u)) - nx0);
    col_w[xx] = static_cast<float>(u - std::floor(u));
    col_cell_even[xx] = static_cast<int>(static_cast<std::int64_t>(std::floor(x / grid_px)) - gx0);
    col_cell_odd[xx] = static_cast<int>(static_cast<std::int64_t>(std::floor(x / grid_px - 0.5)) - gx0);
  }
  for (int yy = 0; yy < r.height; ++yy) {
    const std::int64_t y = r.y + yy;
    const float fy = static_cast<float>(y);
    const double v = static_cast<double>(y) / kLattice;
    const int j = static_cast<int>(static_cast<std::int64_t>(std::floor(v)) - ny0);
    const float wv = static_cast<float>(v - std::floor(v));
    float* hrow = hm.ptr<float>(yy);
    float* drow = dm.ptr<float>(yy);
    std::int32_t* orow = owner != nullptr ? owner->ptr<std::int32_t>(yy) : nullptr;
    const float* fine_row = tex_fine.ptr<float>(static_cast<int>(y & kTexMask));
    const float* mid_row = tex_mid.ptr<float>(static_cast<int>(y & kTexMask));
    const std::int64_t gyp = static_cast<std::int64_t>(std::floor(static_cast<double>(y) / grid_px));
    // Candidate rows of the Voronoi search and their column tables (odd rows are shifted half a cell).
    int cand_row[3];
    const int* cand_cols[3];
    for (int c = 0; c < 3; ++c) {
      const std::int64_t gy = gyp + c - 1;
      cand_row[c] = static_cast<int>(gy - gy0) * sw;
      cand_cols[c] = (gy & 1) != 0 ? col_cell_odd.data() : col_cell_even.data();
    }
    for (int xx = 0; xx < r.width; ++xx) {
      const std::int64_t x = r.x + xx;
      const int i = col_node[xx];
      const float wu = col_w[xx];
      auto bil = [&](const cv::Mat& n) {
        const float* r0 = n.ptr<float>(j);
        const float* r1 = n.ptr<float>(j + 1);
        return (r0[i] * (1 - wu) + r0[i + 1] * wu) * (1 - wv) + (r1[i] * (1 - wu) + r1[i + 1] * wu) * wv;
      };
      float alpha = slide ? bil(n_tissue) : 1.f;
      if (alpha <= 0.f) {
        hrow[xx] = 0.f;
        drow[xx] = 0.f;
        if (orow != nullptr) orow[xx] = 0;
        continue;
      }
      const float nv = bil(n_nest);
      const float tone = bil(n_tone);
      float hv = 0.f, dv = 0.f;
      bool epithelium = false;
      std::int32_t owner_id = 0;
      if (nv > nest_thr) {
        // Nearest and second nearest tumour centre among the 3x3 neighbouring grid cells.
        const float fx = static_cast<float>(x);
        float d1 = 3e30f, d2 = 3e30f;
        int k1 = -1, k2 = -1;
        for (int c = 0; c < 3; ++c) {
          const int base = cand_row[c] + cand_cols[c][xx] - 1;
          for (int k = base; k < base + 3; ++k) {
            const float ex = tx[k] - fx, ey = ty[k] - fy;
            const float dd = ex * ex + ey * ey;
            // Branch-free: which candidate wins is unpredictable, mispredictions cost more than selects.
            const bool lt1 = dd < d1, lt2 = dd < d2;
            k2 = lt1 ? k1 : (lt2 ? k : k2);
            d2 = lt1 ? d1 : (lt2 ? dd : d2);
            k1 = lt1 ? k : k1;
            d1 = lt1 ? dd : d1;
          }
        }
        if (k1 >= 0 && d1 < 1e29f) {
          epithelium = true;
          const Seed& s = seeds[k1];
          owner_id = static_cast<std::int32_t>(s.id);
          const float fine = fine_row[(x + s.tex_dx) & kTexMask];
          const float mid = mid_row[x & kTexMask];
          hv = s.cytoplasm_h * tone * (0.8f + 0.4f * mid);
          dv = s.cytoplasm_dab * (0.8f + 0.4f * fine);
          // Distance to the cell border: the bisector with the second nearest centre, or the nest outline.
          float dist = 3e30f;
          if (k2 >= 0 && d2 < 1e29f) {
            const float sx = tx[k2] - s.x, sy = ty[k2] - s.y;
            dist = (d2 - d1) / (2.f * std::sqrt(sx * sx + sy * sy));
          }
          const float* r0 = n_nest.ptr<float>(j);
          const float* r1 = n_nest.ptr<float>(j + 1);
          const float gxn = ((r0[i + 1] - r0[i]) * (1 - wv) + (r1[i + 1] - r1[i]) * wv) / kLattice;
          const float gyn = ((r1[i] - r0[i]) * (1 - wu) + (r1[i + 1] - r0[i + 1]) * wu) / kLattice;
          const float gn = std::sqrt(gxn * gxn + gyn * gyn);
          if (gn > 1e-9f) dist = std::min(dist, (nv - nest_thr) / gn);
          dist += (mid - 0.5f) * wave;  // membranes are not ruler-straight
          // This cell owns the half of the line on its side: full coverage up to hw from the border.
          const float m = clamp01(hw + 0.5f - dist);
          if (m > 0.f) {
            const float md = s.membrane_dab * (0.7f + 0.6f * fine_row[(x + s.tex_dy) & kTexMask]);
            dv += (md - dv) * m;
            hv += border_h * m * tone;
          }
        }
      }
      if (!epithelium) {
        float a = 0.5f * fast_atan2(bil(n_sin), bil(n_cos));  // fibre direction, -pi/2..pi/2
        if (a < 0) a += 3.14159265f;
        const float t = a * (static_cast<float>(kFibreAngles) / 3.14159265f);
        const int k0 = static_cast<int>(t) % kFibreAngles;
        const float w = t - std::floor(t);
        const float fib =
            tex_at(tex_fibre[k0], x, y) * (1 - w) + tex_at(tex_fibre[(k0 + 1) % kFibreAngles], x, y) * w;
        hv = tone * (0.025f + 0.12f * fib * fib);
        dv = 0.015f + 0.03f * fib;
        alpha *= clamp01(1.f - (bil(n_gap) - gap_thr) * 30.f);
      }
      if (orow != nullptr) orow[xx] = owner_id;
      hrow[xx] = hv * alpha;
      drow[xx] = dv * alpha;
    }
  }

  // Nuclei, in grid order so overlaps resolve the same way in every tile.
  for (const Seed& s : seeds) {
    if (s.type == SeedType::None) continue;
    // Rows and, per row, columns of the rotated ellipse q <= kMaxQ (plus one pixel): the bounding square of a
    // long fibroblast would be mostly empty.
    constexpr float kMaxQ = 1.6f;
    const float ia = 1.f / s.a, ib = 1.f / s.b;
    const float qa = ia * ia, qb = ib * ib;
    const float ext_y =
        std::sqrt(kMaxQ * (s.a * s.a * s.sin_t * s.sin_t + s.b * s.b * s.cos_t * s.cos_t)) + 1.f;
    const int y0 = std::max(0, static_cast<int>(std::floor(s.y - ext_y)) - r.y);
    const int y1 = std::min(r.height - 1, static_cast<int>(std::ceil(s.y + ext_y)) - r.y);
    const float q_a2 = s.cos_t * s.cos_t * qa + s.sin_t * s.sin_t * qb;
    const float q_b2 = 2.f * s.cos_t * s.sin_t * (qa - qb);
    const float q_c2 = s.sin_t * s.sin_t * qa + s.cos_t * s.cos_t * qb;
    for (int yy = y0; yy <= y1; ++yy) {
      const std::int64_t y = r.y + yy;
      const float dy = static_cast<float>(y) - s.y;
      const float disc = q_b2 * q_b2 * dy * dy - 4.f * q_a2 * (q_c2 * dy * dy - kMaxQ);
      if (disc < 0.f) continue;
      const float root = std::sqrt(disc);
      const float lo = s.x + (-q_b2 * dy - root) / (2.f * q_a2),
                  hi = s.x + (-q_b2 * dy + root) / (2.f * q_a2);
      const int x0 = std::max(0, static_cast<int>(std::floor(lo)) - 1 - r.x);
      const int x1 = std::min(r.width - 1, static_cast<int>(std::ceil(hi)) + 1 - r.x);
      if (x0 > x1) continue;
      float* hrow = hm.ptr<float>(yy);
      float* drow = dm.ptr<float>(yy);
      const float* fine_row = tex_fine.ptr<float>(static_cast<int>((y + s.tex_dy) & kTexMask));
      const float* fine_row2 = tex_fine.ptr<float>(static_cast<int>((y + s.tex_dx) & kTexMask));
      const float* mid_row = tex_mid.ptr<float>(static_cast<int>((y + s.tex_dy) & kTexMask));
      for (int xx = x0; xx <= x1; ++xx) {
        const std::int64_t x = r.x + xx;
        const float dx = static_cast<float>(x) - s.x;
        const float pu = (dx * s.cos_t + dy * s.sin_t) * ia;
        const float pv = (-dx * s.sin_t + dy * s.cos_t) * ib;
        const float q = pu * pu + pv * pv;
        if (q > kMaxQ) continue;
        const float rho = std::sqrt(q);
        const float edge = 1.f + 0.22f * (mid_row[(x + s.tex_dx) & kTexMask] - 0.5f);  // irregular outline
        const float cov = clamp01((edge - rho) * s.b + 0.5f);
        if (cov <= 0.f) continue;
        const float chrom = fine_row[(x + s.tex_dx) & kTexMask];
        const float rim = rho > 0.7f ? std::min(1.f, (rho - 0.7f) * 3.3f) : 0.f;
        const float hn = s.nucleus_h * (1.f + s.chromatin * (2.f * chrom - 1.f) + 0.3f * rim);
        const float dn = s.nucleus_dab * (0.8f + 0.4f * fine_row2[(x + s.tex_dy) & kTexMask]);
        hrow[xx] += (hn - hrow[xx]) * cov;
        if (owner != nullptr && cov >= 0.5f)
          owner->at<std::int32_t>(yy, xx) = static_cast<std::int32_t>(s.id);
        drow[xx] += (dn - drow[xx]) * cov;
      }
    }
  }
}

SynthRenderer::SynthRenderer(const SynthParams& params) : params_(params) {
  validate(params_);
  impl_ = std::make_unique<Impl>(params_);
  if (params_.kind == SynthKind::Membrane || params_.kind == SynthKind::Mixed)
    impl_->calibrate_membrane_gain();
}

SynthRenderer::~SynthRenderer() = default;

void SynthRenderer::Impl::calibrate_membrane_gain() {
  // The optics blur the line into the cytoplasm beyond the band and average its texture in intensity (not
  // OD): a perfect 1 um band on the true borders read 0.90 x the level at 3+ without this. A fixed-seed
  // uniform field per grade, so the gain is the same for every seed and never depends on the image.
  constexpr int kSize = 320;
  constexpr std::uint64_t kCalibrationSeed = 0x5EEDCA1Bull;
  constexpr int kIterations = 3;
  StainMatrix stains = p.stains;
  stains.background = p.background;  // what estimation finds on the glass
  for (int g = 0; g < 4; ++g) {
    if (p.grade_fractions[g] <= 0 || p.grade_dab_od[g] <= 0) continue;
    SynthParams q = p;
    q.kind = SynthKind::Membrane;
    q.layout = SynthLayout::Field;
    q.width = q.height = kSize;
    q.seed = kCalibrationSeed;
    q.grade_fractions = {0, 0, 0, 0};
    q.grade_fractions[g] = 1;
    q.grade_spread_od[g] = 0;
    q.tumour_fraction = 0.95;
    q.noise = 0;  // zero-mean; its effect on the mean OD is below 0.5 %
    Impl cal(q);
    const double band_px = q.membrane_band_um * cal.um;
    double gain = 1;
    for (int it = 0; it < kIterations; ++it) {
      cal.membrane_gain[g] = gain;
      SynthMaps maps;
      const cv::Mat rgb = cal.render(cv::Rect(0, 0, kSize, kSize), &maps);
      const cv::Mat dab = deconvolve(rgb, stains).stain2;
      const cv::Mat band = membrane_band(maps.owner, band_px);
      // Tumour cells (stroma nuclei also own pixels) away from the patch edges, whose band is cut there.
      std::vector<std::int32_t> ids;
      const double margin = 1.5 * cal.grid_px;
      for (std::int64_t gy = -2; gy * cal.grid_px < kSize + 2 * cal.grid_px; ++gy) {
        for (std::int64_t gx = -2; gx * cal.grid_px < kSize + 2 * cal.grid_px; ++gx) {
          const Seed s = cal.make_seed(gx, gy);
          if (s.type == SeedType::Tumour && s.x > margin && s.y > margin && s.x < kSize - margin &&
              s.y < kSize - margin) {
            ids.push_back(static_cast<std::int32_t>(s.id));
          }
        }
      }
      std::sort(ids.begin(), ids.end());
      std::vector<double> sum(ids.size(), 0.0), count(ids.size(), 0.0);
      for (int y = 0; y < kSize; ++y) {
        const std::int32_t* o = maps.owner.ptr<std::int32_t>(y);
        const uchar* b = band.ptr<uchar>(y);
        const float* v = dab.ptr<float>(y);
        for (int x = 0; x < kSize; ++x) {
          if (b[x] == 0) continue;
          const auto k = std::lower_bound(ids.begin(), ids.end(), o[x]);
          if (k == ids.end() || *k != o[x]) continue;
          sum[static_cast<std::size_t>(k - ids.begin())] += v[x];
          count[static_cast<std::size_t>(k - ids.begin())] += 1;
        }
      }
      double mean = 0;
      int cells = 0;
      for (std::size_t k = 0; k < ids.size(); ++k) {
        if (count[k] < 5) continue;
        mean += sum[k] / count[k];
        ++cells;
      }
      if (cells == 0 || mean <= 0) break;
      mean /= cells;
      gain = std::clamp(gain * q.grade_dab_od[g] / mean, 0.5, 3.0);
    }
    membrane_gain[g] = gain;
  }
}

cv::Mat SynthRenderer::render(const cv::Rect& rect, SynthMaps* maps) const {
  const SynthParams& p = params_;
  if (rect.width <= 0 || rect.height <= 0 || rect.x < 0 || rect.y < 0 || rect.x + rect.width > p.width ||
      rect.y + rect.height > p.height) {
    throw SynthError("region " + std::to_string(rect.width) + "x" + std::to_string(rect.height) + "+" +
                     std::to_string(rect.x) + "+" + std::to_string(rect.y) + " is not inside the " +
                     std::to_string(p.width) + "x" + std::to_string(p.height) + " image");
  }
  return impl_->render(rect, maps);
}

cv::Mat SynthRenderer::Impl::render(const cv::Rect& rect, SynthMaps* maps) const {
  const Impl& im = *this;
  const int m = im.blur_radius;
  const cv::Rect big(rect.x - m, rect.y - m, rect.width + 2 * m, rect.height + 2 * m);
  // Per-thread scratch planes: strips have the same size, so fresh pages (and their faults) are avoided.
  thread_local cv::Mat h, d, rgb;
  cv::Mat owner;
  im.concentrations(big, h, d, maps != nullptr ? &owner : nullptr);
  if (maps != nullptr) {
    const cv::Rect inner(m, m, rect.width, rect.height);
    maps->hematoxylin = h(inner).clone();
    maps->dab = d(inner).clone();
    maps->owner = owner(inner).clone();
  }
  rgb.create(big.size(), CV_8UC3);
  for (int y = 0; y < big.height; ++y) {
    const float* hr = h.ptr<float>(y);
    const float* dr = d.ptr<float>(y);
    auto* out = rgb.ptr<std::uint8_t>(y);
    for (int x = 0; x < big.width; ++x) {
      for (int c = 0; c < 3; ++c) {
        const float od = hr[x] * im.v_h[c] + dr[x] * im.v_d[c];
        const int k = std::clamp(static_cast<int>(std::floor(od * kOdSteps + 0.5f)), 0, kOdEntries - 1);
        out[3 * x + c] = im.lut[c][k];
      }
    }
  }
  if (m > 0) {
    cv::GaussianBlur(rgb, rgb, cv::Size(2 * m + 1, 2 * m + 1), im.blur_sigma_px, im.blur_sigma_px,
                     cv::BORDER_REPLICATE);
  }
  cv::Mat result = rgb(cv::Rect(m, m, rect.width, rect.height)).clone();
  if (p.noise > 0) {
    // Triangular noise (sum of two uniforms) from a hash of the pixel position: no periodicity, no state.
    const float scale = static_cast<float>(p.noise / std::sqrt(2.0 / 12.0) / 1024.0);
    const std::uint64_t noise_key = mix64(p.seed ^ kSaltNoise);
    for (int y = 0; y < rect.height; ++y) {
      auto* out = result.ptr<std::uint8_t>(y);
      for (int x = 0; x < rect.width; ++x) {
        std::uint64_t hsh =
            mix64(noise_key ^ (static_cast<std::uint64_t>(rect.x + x) * 0x9E3779B97F4A7C15ull) ^
                  (static_cast<std::uint64_t>(rect.y + y) * 0xC2B2AE3D27D4EB4Full));
        for (int c = 0; c < 3; ++c) {
          const int a = static_cast<int>(hsh & 1023), b = static_cast<int>((hsh >> 10) & 1023);
          hsh >>= 20;
          const float n = static_cast<float>(a + b - 1023) * scale;
          out[3 * x + c] = cv::saturate_cast<std::uint8_t>(out[3 * x + c] + n);
        }
      }
    }
  }
  return result;
}

std::vector<SynthCell> SynthRenderer::cells(const cv::Rect& rect) const {
  const Impl& im = *impl_;
  std::vector<SynthCell> out;
  const std::int64_t gy0 = static_cast<std::int64_t>(std::floor(rect.y / im.grid_px)) - 1;
  const std::int64_t gy1 = static_cast<std::int64_t>(std::floor((rect.y + rect.height) / im.grid_px)) + 1;
  const std::int64_t gx0 = static_cast<std::int64_t>(std::floor(rect.x / im.grid_px)) - 2;
  const std::int64_t gx1 = static_cast<std::int64_t>(std::floor((rect.x + rect.width) / im.grid_px)) + 1;
  for (std::int64_t gy = gy0; gy <= gy1; ++gy) {
    for (std::int64_t gx = gx0; gx <= gx1; ++gx) {
      const Seed s = im.make_seed(gx, gy);
      if (s.type == SeedType::None) continue;
      // By the pixel that holds the centre (pixel i spans [i - 0.5, i + 0.5) in these index coordinates): a
      // centre at 639.6 lies beyond a 640 px image's last pixel, and its truth point, 640.1 in the files'
      // pixel edges, was outside the image.
      const double px = s.x + 0.5, py = s.y + 0.5;
      if (px < rect.x || py < rect.y || px >= rect.x + rect.width || py >= rect.y + rect.height) continue;
      SynthCell c;
      c.id = s.id;
      c.x = s.x;
      c.y = s.y;
      c.compartment = s.compartment;
      c.is_tumour = s.type == SeedType::Tumour;
      c.grade = c.is_tumour ? s.grade : 0;
      c.dab_od = s.level;
      c.membrane_line_od = s.membrane_dab;
      out.push_back(c);
    }
  }
  return out;
}

std::string_view synth_kind_name(SynthKind k) {
  switch (k) {
    case SynthKind::Membrane:
      return "membrane";
    case SynthKind::Cytoplasm:
      return "cytoplasm";
    case SynthKind::Nuclear:
      return "nuclear";
    case SynthKind::Mixed:
      return "mixed";
  }
  return "?";
}

std::string_view synth_layout_name(SynthLayout l) { return l == SynthLayout::Field ? "field" : "slide"; }

std::string_view compartment_name(Compartment c) {
  switch (c) {
    case Compartment::Membrane:
      return "membrane";
    case Compartment::Cytoplasm:
      return "cytoplasm";
    case Compartment::Nucleus:
      return "nucleus";
  }
  return "?";
}

SynthKind parse_synth_kind(std::string_view text) {
  for (SynthKind k : {SynthKind::Membrane, SynthKind::Cytoplasm, SynthKind::Nuclear, SynthKind::Mixed}) {
    if (text == synth_kind_name(k)) return k;
  }
  throw SynthError("unknown kind '" + std::string(text) +
                   "' (expected membrane, cytoplasm, nuclear or mixed)");
}

SynthLayout parse_synth_layout(std::string_view text) {
  if (text == "field") return SynthLayout::Field;
  if (text == "slide") return SynthLayout::Slide;
  throw SynthError("unknown layout '" + std::string(text) + "' (expected field or slide)");
}

namespace {

std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

void require(bool ok, const std::string& message) {
  if (!ok) throw SynthError(message);
}

}  // namespace

void validate(const SynthParams& p) {
  require(p.width > 0 && p.height > 0,
          "image size " + std::to_string(p.width) + "x" + std::to_string(p.height) + " must be positive");
  require(std::isfinite(p.mpp) && p.mpp >= 0.05 && p.mpp <= 10.0,
          "mpp " + num(p.mpp) + " is outside 0.05..10 microns per pixel");
  double sum = 0;
  for (double f : p.grade_fractions) {
    require(std::isfinite(f) && f >= 0 && f <= 1, "grade fraction " + num(f) + " is outside 0..1");
    sum += f;
  }
  require(std::abs(sum - 1.0) < 1e-3, "grade fractions sum to " + num(sum) + ", not 1");
  for (int g = 0; g < 4; ++g) {
    require(std::isfinite(p.grade_dab_od[g]) && p.grade_dab_od[g] >= 0 && p.grade_dab_od[g] <= 3,
            "DAB OD " + num(p.grade_dab_od[g]) + " of grade " + std::to_string(g) + " is outside 0..3");
    require(std::isfinite(p.grade_spread_od[g]) && p.grade_spread_od[g] >= 0 &&
                p.grade_spread_od[g] <= p.grade_dab_od[g],
            "DAB OD spread " + num(p.grade_spread_od[g]) + " of grade " + std::to_string(g) +
                " is outside 0..its mean " + num(p.grade_dab_od[g]));
  }
  require(p.tumour_fraction >= 0.05 && p.tumour_fraction <= 0.95,
          "tumour fraction " + num(p.tumour_fraction) + " is outside 0.05..0.95");
  require(p.cell_size_um >= 6 && p.cell_size_um <= 40,
          "cell size " + num(p.cell_size_um) + " um is outside 6..40");
  require(p.membrane_width_um >= 0.2 && p.membrane_width_um <= 4,
          "membrane width " + num(p.membrane_width_um) + " um is outside 0.2..4");
  require(std::isfinite(p.membrane_band_um) && p.membrane_band_um >= 0.2 && p.membrane_band_um <= 4,
          "membrane band " + num(p.membrane_band_um) + " um is outside 0.2..4");
  require(p.cytoplasm_dab_fraction >= 0 && p.cytoplasm_dab_fraction <= 1,
          "cytoplasm DAB fraction " + num(p.cytoplasm_dab_fraction) + " is outside 0..1");
  require(std::isfinite(p.blur_um) && p.blur_um >= 0 && p.blur_um <= 5,
          "blur " + num(p.blur_um) + " um is outside 0..5");
  require(std::isfinite(p.noise) && p.noise >= 0 && p.noise <= 50,
          "noise " + num(p.noise) + " is outside 0..50");
  for (double b : p.background) {
    require(std::isfinite(b) && b >= 1 && b <= 255, "background value " + num(b) + " is outside 1..255");
  }
}

std::string truth_csv_header() { return "id,x,y,compartment,grade,is_tumour,class\n"; }

std::string truth_csv_row(const SynthCell& c) {
  static constexpr const char* kClass[] = {"Negative", "1+", "2+", "3+"};
  char buf[160];
  // SynthCell's centre is in pixel indices (pixel i's centre is i); the file is in level-0 pixels as QuPath
  // and cells.csv write them, where pixel i covers [i, i + 1].
  std::snprintf(buf, sizeof(buf), "%lld,%.2f,%.2f,%s,%d,%d,%s\n", static_cast<long long>(c.id), c.x + 0.5,
                c.y + 0.5, std::string(compartment_name(c.compartment)).c_str(), c.grade, c.is_tumour ? 1 : 0,
                c.is_tumour ? kClass[std::clamp(c.grade, 0, 3)] : "ignore");
  return buf;
}

void write_truth_csv(const std::filesystem::path& path, const std::vector<SynthCell>& cells) {
  std::string text = truth_csv_header();
  for (const auto& c : cells) text += truth_csv_row(c);
  write_file_atomic(path, text);
}

SynthImage synthesize_image(const SynthParams& params, int jpeg_quality) {
  if (jpeg_quality < 0 || jpeg_quality > 100) {
    throw SynthError("JPEG quality " + std::to_string(jpeg_quality) + " is outside 0..100 (0 = no JPEG)");
  }
  SynthRenderer renderer(params);
  SynthImage out;
  out.rgb.create(params.height, params.width, CV_8UC3);
  // Bands rendered in parallel; identical to one render of the whole image (see the seam tests).
  constexpr int kBand = 256;
  const int bands = (params.height + kBand - 1) / kBand;
  cv::parallel_for_(cv::Range(0, bands), [&](const cv::Range& range) {
    for (int b = range.start; b < range.end; ++b) {
      const cv::Rect r(0, b * kBand, params.width, std::min(kBand, params.height - b * kBand));
      renderer.render(r).copyTo(out.rgb(r));
    }
  });
  if (jpeg_quality > 0) {
    cv::Mat bgr;
    cv::cvtColor(out.rgb, bgr, cv::COLOR_RGB2BGR);
    std::vector<std::uint8_t> buf;
    cv::imencode(".jpg", bgr, buf, {cv::IMWRITE_JPEG_QUALITY, jpeg_quality});
    bgr = cv::imdecode(buf, cv::IMREAD_COLOR);
    cv::cvtColor(bgr, out.rgb, cv::COLOR_BGR2RGB);
  }
  out.cells = renderer.cells(cv::Rect(0, 0, params.width, params.height));
  return out;
}

std::string aperio_description(const SynthParams& params, int level, cv::Size size, int tile_size,
                               int jpeg_quality) {
  char buf[512];
  const double app_mag = 10.0 / params.mpp;
  if (level == 0) {
    std::snprintf(buf, sizeof(buf),
                  "Aperio Image Library v10.0.50 (ihcscore synth)\r\n%dx%d [0,0 %dx%d] (%dx%d) JPEG/RGB Q=%d|"
                  "AppMag = %g|MPP = %g|Synthetic = %s seed %llu",
                  params.width, params.height, params.width, params.height, tile_size, tile_size,
                  jpeg_quality, app_mag, params.mpp, std::string(synth_kind_name(params.kind)).c_str(),
                  static_cast<unsigned long long>(params.seed));
  } else {
    std::snprintf(buf, sizeof(buf),
                  "Aperio Image Library v10.0.50 (ihcscore synth)\r\n%dx%d -> %dx%d - (%dx%d) JPEG/RGB Q=%d|"
                  "AppMag = %g|MPP = %g",
                  params.width, params.height, size.width, size.height, tile_size, tile_size, jpeg_quality,
                  app_mag, params.mpp);
  }
  return buf;
}

SynthSlideStats write_synthetic_slide(const SynthParams& params, const std::filesystem::path& slide_path,
                                      const std::filesystem::path& truth_path,
                                      const SynthSlideOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  SynthRenderer renderer(params);
  PyramidTiffOptions topt;
  topt.tile_size = options.tile_size;
  topt.jpeg_quality = options.jpeg_quality;
  topt.mpp = params.mpp;
  topt.description = [&](int level, cv::Size size) {
    return aperio_description(params, level, size, options.tile_size, options.jpeg_quality);
  };
  PyramidTiffWriter writer(slide_path, cv::Size(params.width, params.height), topt);
  std::unique_ptr<AtomicFile> truth;
  if (!truth_path.empty()) {
    truth = std::make_unique<AtomicFile>(truth_path);
    truth->write(truth_csv_header());
  }
  SynthSlideStats stats;
  const int strip_w = std::max(256, options.strip_width);
  const int chunks = (params.width + strip_w - 1) / strip_w;
  cv::Mat strip;
  for (int y0 = 0; y0 < params.height; y0 += options.tile_size) {
    const int h = std::min(options.tile_size, params.height - y0);
    strip.create(h, params.width, CV_8UC3);
    cv::parallel_for_(cv::Range(0, chunks), [&](const cv::Range& range) {
      for (int c = range.start; c < range.end; ++c) {
        const cv::Rect r(c * strip_w, y0, std::min(strip_w, params.width - c * strip_w), h);
        renderer.render(r).copyTo(strip(cv::Rect(r.x, 0, r.width, r.height)));
      }
    });
    writer.write_rows(strip);
    const auto cells = renderer.cells(cv::Rect(0, y0, params.width, h));
    stats.cells += static_cast<std::int64_t>(cells.size());
    if (truth) {
      std::string text;
      for (const auto& c : cells) text += truth_csv_row(c);
      truth->write(text);
    }
    if (options.on_progress) options.on_progress(y0 + h, params.height);
  }
  writer.finish();
  if (truth) truth->commit();
  stats.level_sizes = writer.level_sizes();
  std::error_code ec;
  stats.bytes = static_cast<std::int64_t>(std::filesystem::file_size(slide_path, ec));
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

}  // namespace ihc
