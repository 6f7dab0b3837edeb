#include "imaging/stains.hpp"

#include <Eigen/Dense>
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <opencv2/core/utility.hpp>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif
#if defined(__SSE2__)
#include <emmintrin.h>
#include <xmmintrin.h>
#endif

namespace ihc {
namespace {

constexpr double kMinVectorLength = 1e-6;
// Below this |det| the unmixed values blow up (vectors within ~0.1 degree of a plane).
constexpr double kMinDeterminant = 1e-6;

bool all_finite(const std::array<double, 3>& v) {
  return std::isfinite(v[0]) && std::isfinite(v[1]) && std::isfinite(v[2]);
}

double length(const std::array<double, 3>& v) { return std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]); }

StainVector normalised(const StainVector& s) {
  if (!all_finite(s.rgb)) {
    throw StainError("stain vector '" + s.name + "' has a value that is not a finite number");
  }
  const double len = length(s.rgb);
  if (len < kMinVectorLength) {
    throw StainError("stain vector '" + s.name + "' has zero length");
  }
  return StainVector{s.name, {s.rgb[0] / len, s.rgb[1] / len, s.rgb[2] / len}};
}

std::array<double, 3> cross(const std::array<double, 3>& u, const std::array<double, 3>& v) {
  return {u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]};
}

// QuPath's makeOD: -log10(max(v, 1) / max), floored at 0 so values brighter than the background give no
// stain.
std::array<float, 256> od_lut(double background) {
  std::array<float, 256> lut{};
  for (int v = 0; v < 256; ++v) {
    lut[v] = static_cast<float>(std::max(0.0, -std::log10(std::max(v, 1) / background)));
  }
  return lut;
}

void require_rgb(const cv::Mat& rgb, const char* what) {
  if (rgb.empty()) {
    throw StainError(std::string(what) + ": the image is empty");
  }
  if (rgb.type() != CV_8UC3) {
    throw StainError(std::string(what) + ": expected an 8-bit RGB image (CV_8UC3), got type " +
                     cv::typeToString(rgb.type()));
  }
}

void check_background(const std::array<double, 3>& background) {
  for (double b : background) {
    if (!std::isfinite(b) || b <= 0.0 || b > 255.0) {
      char buf[64];
      std::snprintf(buf, sizeof(buf), "%g", b);
      throw StainError(std::string("background value ") + buf + " is outside (0, 255]");
    }
  }
}

// QuPath's number formatting: at most 5 decimals, trailing zeros dropped.
std::string format_number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.5f", v);
  std::string s = buf;
  if (s.find('.') != std::string::npos) {
    while (!s.empty() && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  return s;
}

std::string format_triplet(const std::array<double, 3>& v) {
  return format_number(v[0]) + " " + format_number(v[1]) + " " + format_number(v[2]);
}

// Splits like QuPath's parseStainValues (whitespace and brackets, trailing comma dropped), but demands
// exactly three finite numbers instead of silently ignoring extra tokens.
std::array<double, 3> parse_triplet(const std::string& key, const std::string& text) {
  std::vector<std::string> tokens;
  std::string current;
  auto flush = [&] {
    if (!current.empty() && current.back() == ',') current.pop_back();
    if (!current.empty()) tokens.push_back(current);
    current.clear();
  };
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '[' || c == ']') {
      flush();
    } else {
      current.push_back(c);
    }
  }
  flush();
  const std::string bad = "stain string: \"" + key + "\" must hold 3 numbers, got \"" + text + "\"";
  if (tokens.size() != 3) throw StainError(bad);
  std::array<double, 3> out{};
  for (int i = 0; i < 3; ++i) {
    const std::string& t = tokens[i];
    const char* first = t.data();
    if (*first == '+') ++first;
    const auto [ptr, ec] = std::from_chars(first, t.data() + t.size(), out[i]);
    if (ec != std::errc() || ptr != t.data() + t.size() || !std::isfinite(out[i])) throw StainError(bad);
  }
  return out;
}

// Fresh planes of a whole 4096 x 4096 image are 200 MB: with 4 KiB pages the first write costs ~50k page
// faults, as much time as the unmixing itself. Asking for transparent huge pages before the first touch cuts
// that.
void advise_huge_pages(const cv::Mat& plane) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr size_t kHuge = size_t{2} << 20;
  const size_t bytes = plane.total() * plane.elemSize();
  if (bytes < 4 * kHuge) return;
  const auto start = reinterpret_cast<uintptr_t>(plane.data);
  const uintptr_t first = (start + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t last = (start + bytes) & ~(kHuge - 1);
  // The aligned start as an offset into the plane: its pointer keeps plane.data's provenance.
  if (last > first) madvise(plane.data + (first - start), last - first, MADV_HUGEPAGE);  // a hint; may fail
#else
  (void)plane;
#endif
}

}  // namespace

StainMatrix StainMatrix::from_vectors(std::string name, const StainVector& s1, const StainVector& s2,
                                      const StainVector* s3, std::array<double, 3> background) {
  check_background(background);
  StainMatrix m;
  m.name = std::move(name);
  m.background = background;
  m.stains[0] = normalised(s1);
  m.stains[1] = normalised(s2);
  if (s3 != nullptr) {
    m.stains[2] = normalised(*s3);
  } else {
    // QuPath (StainVector.makeResidualStainVector): the residual is cross(s1, s2), normalised; it may have
    // negative components, unlike ImageJ's Colour Deconvolution plugin which builds a positive complement.
    const auto c = cross(m.stains[0].rgb, m.stains[1].rgb);
    if (length(c) < 1e-3) {
      throw StainError("stain vectors '" + s1.name + "' and '" + s2.name + "' are parallel");
    }
    m.stains[2] = normalised(StainVector{"Residual", c});
  }
  Eigen::Matrix3d od_from_conc;  // columns are the stain vectors: od = M * c
  for (int s = 0; s < 3; ++s) {
    for (int ch = 0; ch < 3; ++ch) od_from_conc(ch, s) = m.stains[s].rgb[ch];
  }
  const double det = od_from_conc.determinant();
  if (!(std::abs(det) >= kMinDeterminant)) {
    throw StainError("stain vectors '" + m.stains[0].name + "', '" + m.stains[1].name + "' and '" +
                     m.stains[2].name + "' are linearly dependent");
  }
  const Eigen::Matrix3d inv = od_from_conc.inverse();
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) m.inverse[r * 3 + c] = inv(r, c);
  }
  return m;
}

StainMatrix stain_preset(std::string_view name) {
  if (name == "H-DAB") {
    return StainMatrix::from_vectors("H-DAB default", {"Hematoxylin", {0.65111, 0.70119, 0.29049}},
                                     {"DAB", {0.26917, 0.56824, 0.77759}});
  }
  if (name == "H-DAB Ruifrok") {
    // scikit-image's rgb_from_hdx rows (Ruifrok & Johnston 2001); the third is cross(H, DAB) as in skimage.
    return StainMatrix::from_vectors("H-DAB Ruifrok", {"Hematoxylin", {0.650, 0.704, 0.286}},
                                     {"DAB", {0.268, 0.570, 0.776}});
  }
  if (name == "H&E") {
    return StainMatrix::from_vectors("H&E default", {"Hematoxylin", {0.65111, 0.70119, 0.29049}},
                                     {"Eosin", {0.2159, 0.8012, 0.5581}});
  }
  throw StainError("unknown stain preset '" + std::string(name) + "' (expected H-DAB, H-DAB Ruifrok or H&E)");
}

std::string to_qupath_string(const StainMatrix& m) {
  // Names go through JSON escaping so that a quote in a name cannot break the string (QuPath does not
  // escape).
  auto quoted = [](const std::string& text) {
    return nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  std::string s = "{\"Name\" : " + quoted(m.name) + ", ";
  for (int i = 0; i < 3; ++i) {
    if (i == 2 && m.stains[2].name == "Residual") continue;  // QuPath never writes the residual
    const std::string n = std::to_string(i + 1);
    s += "\"Stain " + n + "\" : " + quoted(m.stains[i].name) + ", ";
    s += "\"Values " + n + "\" : \"" + format_triplet(m.stains[i].rgb) + "\", ";
  }
  s += "\"Background\" : \" " + format_triplet(m.background) + "\"}";
  return s;
}

StainMatrix parse_qupath_string(std::string_view text) {
  nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw StainError("stain string is not valid JSON");
  if (!j.is_object()) throw StainError("stain string is not a JSON object");
  auto get = [&](const std::string& key, bool required) -> std::string {
    const auto it = j.find(key);
    if (it == j.end()) {
      if (required) throw StainError("stain string has no \"" + key + "\"");
      return {};
    }
    if (!it->is_string()) throw StainError("stain string: \"" + key + "\" must be a string");
    return it->get<std::string>();
  };
  auto stain = [&](int i) {
    const std::string n = std::to_string(i);
    const std::string name = get("Stain " + n, true);
    const std::string values = get("Values " + n, true);
    return StainVector{name, parse_triplet("Values " + n, values)};
  };
  std::string name = get("Name", false);
  const StainVector s1 = stain(1);
  const StainVector s2 = stain(2);
  std::array<double, 3> background{255.0, 255.0, 255.0};
  if (j.contains("Background")) background = parse_triplet("Background", get("Background", true));
  if (j.contains("Stain 3") || j.contains("Values 3")) {
    const StainVector s3 = stain(3);
    return StainMatrix::from_vectors(std::move(name), s1, s2, &s3, background);
  }
  return StainMatrix::from_vectors(std::move(name), s1, s2, nullptr, background);
}

StainMatrix stains_from_text(std::string_view text) {
  if (text.find('{') != std::string_view::npos) return parse_qupath_string(text);
  return stain_preset(text);
}

DeconvolutionResult deconvolve(const cv::Mat& rgb, const StainMatrix& m) {
  DeconvolutionResult out;
  deconvolve(rgb, m, out);
  return out;
}

void deconvolve(const cv::Mat& rgb, const StainMatrix& m, DeconvolutionResult& out, bool with_od_sum,
                bool with_residual) {
  require_rgb(rgb, "deconvolve");
  check_background(m.background);
  const auto lut_r = od_lut(m.background[0]);
  const auto lut_g = od_lut(m.background[1]);
  const auto lut_b = od_lut(m.background[2]);
  // Fold the inverse into the lookup tables: per channel one table of the three stain contributions, so a
  // pixel costs three table reads and six additions.
  struct alignas(16) Contribution {
    float c[4];
  };
  std::array<Contribution, 256> tr{}, tg{}, tb{};
  const auto& inv = m.inverse;
  for (int v = 0; v < 256; ++v) {
    for (int k = 0; k < 3; ++k) {
      tr[v].c[k] = static_cast<float>(inv[k * 3 + 0] * lut_r[v]);
      tg[v].c[k] = static_cast<float>(inv[k * 3 + 1] * lut_g[v]);
      tb[v].c[k] = static_cast<float>(inv[k * 3 + 2] * lut_b[v]);
    }
    // Lane 3: the channel's own OD, so the lane sums to lut_r + lut_g + lut_b, the OD sum.
    tr[v].c[3] = lut_r[v];
    tg[v].c[3] = lut_g[v];
    tb[v].c[3] = lut_b[v];
  }
  for (cv::Mat* plane : {&out.stain1, &out.stain2, &out.residual, &out.od_sum}) {
    if ((plane == &out.od_sum && !with_od_sum) || (plane == &out.residual && !with_residual)) {
      plane->release();
      continue;
    }
    if (plane->size() == rgb.size() && plane->type() == CV_32F) continue;
    plane->create(rgb.size(), CV_32F);
    advise_huge_pages(*plane);
  }
  const int cols = rgb.cols;
  cv::parallel_for_(cv::Range(0, rgb.rows), [&](const cv::Range& range) {
    for (int y = range.start; y < range.end; ++y) {
      const uint8_t* p = rgb.ptr<uint8_t>(y);
      float* o1 = out.stain1.ptr<float>(y);
      float* o2 = out.stain2.ptr<float>(y);
      float* o3 = with_residual ? out.residual.ptr<float>(y) : nullptr;
      float* o4 = with_od_sum ? out.od_sum.ptr<float>(y) : nullptr;
      int x = 0;
#if defined(__SSE2__)
      // Four pixels at a time: each table read is one [s1 s2 s3 od] vector; a 4x4 transpose turns the four
      // sums into one vector per output plane.
      for (; x + 4 <= cols; x += 4, p += 12) {
        __m128 v0 =
            _mm_add_ps(_mm_add_ps(_mm_load_ps(tr[p[0]].c), _mm_load_ps(tg[p[1]].c)), _mm_load_ps(tb[p[2]].c));
        __m128 v1 =
            _mm_add_ps(_mm_add_ps(_mm_load_ps(tr[p[3]].c), _mm_load_ps(tg[p[4]].c)), _mm_load_ps(tb[p[5]].c));
        __m128 v2 =
            _mm_add_ps(_mm_add_ps(_mm_load_ps(tr[p[6]].c), _mm_load_ps(tg[p[7]].c)), _mm_load_ps(tb[p[8]].c));
        __m128 v3 = _mm_add_ps(_mm_add_ps(_mm_load_ps(tr[p[9]].c), _mm_load_ps(tg[p[10]].c)),
                               _mm_load_ps(tb[p[11]].c));
        _MM_TRANSPOSE4_PS(v0, v1, v2, v3);
        _mm_storeu_ps(o1 + x, v0);
        _mm_storeu_ps(o2 + x, v1);
        if (o3 != nullptr) _mm_storeu_ps(o3 + x, v2);
        if (o4 != nullptr) _mm_storeu_ps(o4 + x, v3);
      }
#endif
      for (; x < cols; ++x, p += 3) {
        const float* a = tr[p[0]].c;
        const float* b = tg[p[1]].c;
        const float* c = tb[p[2]].c;
        o1[x] = a[0] + b[0] + c[0];
        o2[x] = a[1] + b[1] + c[1];
        if (o3 != nullptr) o3[x] = a[2] + b[2] + c[2];
        if (o4 != nullptr) o4[x] = a[3] + b[3] + c[3];
      }
    }
  });
}

cv::Mat optical_density_sum(const cv::Mat& rgb, const std::array<double, 3>& background) {
  require_rgb(rgb, "optical_density_sum");
  check_background(background);
  const auto lut_r = od_lut(background[0]);
  const auto lut_g = od_lut(background[1]);
  const auto lut_b = od_lut(background[2]);
  cv::Mat out(rgb.size(), CV_32F);
  advise_huge_pages(out);
  const int cols = rgb.cols;
  cv::parallel_for_(cv::Range(0, rgb.rows), [&](const cv::Range& range) {
    for (int y = range.start; y < range.end; ++y) {
      const uint8_t* p = rgb.ptr<uint8_t>(y);
      float* o = out.ptr<float>(y);
      for (int x = 0; x < cols; ++x, p += 3) o[x] = lut_r[p[0]] + lut_g[p[1]] + lut_b[p[2]];
    }
  });
  return out;
}

cv::Mat render_stain(const cv::Mat& concentration, const StainVector& stain,
                     const std::array<double, 3>& background) {
  if (concentration.empty()) throw StainError("render_stain: the concentration image is empty");
  if (concentration.type() != CV_32F) {
    throw StainError("render_stain: expected a CV_32F concentration image, got type " +
                     cv::typeToString(concentration.type()));
  }
  check_background(background);
  // Beer-Lambert: the stain alone transmits background * 10^(-c * od_channel).
  const float k[3] = {static_cast<float>(-stain.rgb[0] * std::log(10.0)),
                      static_cast<float>(-stain.rgb[1] * std::log(10.0)),
                      static_cast<float>(-stain.rgb[2] * std::log(10.0))};
  const float bg[3] = {static_cast<float>(background[0]), static_cast<float>(background[1]),
                       static_cast<float>(background[2])};
  cv::Mat out(concentration.size(), CV_8UC3);
  cv::parallel_for_(cv::Range(0, concentration.rows), [&](const cv::Range& range) {
    for (int y = range.start; y < range.end; ++y) {
      const float* c = concentration.ptr<float>(y);
      uint8_t* o = out.ptr<uint8_t>(y);
      for (int x = 0; x < concentration.cols; ++x, o += 3) {
        const float conc = std::isfinite(c[x]) ? c[x] : 0.0f;
        for (int ch = 0; ch < 3; ++ch) {
          o[ch] = cv::saturate_cast<uint8_t>(bg[ch] * std::exp(k[ch] * conc));
        }
      }
    }
  });
  return out;
}

}  // namespace ihc
