#include "imaging/cell_measurements.hpp"

#include <emmintrin.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <opencv2/imgproc.hpp>
#include <stdexcept>
#include <string>

#include "imaging/cell_growth.hpp"
#include "imaging/morphology.hpp"

namespace ihc {
namespace {

// Scratch buffers are only indexed: grown, never shrunk, so that reuse does not clear them again.
template <typename T>
void grow_to(std::vector<T>& v, std::size_t n) {
  if (v.size() < n) v.resize(n);
}

constexpr const char* kCompartments[4] = {"Nucleus", "Cytoplasm", "Membrane", "Cell"};
constexpr const char* kStains[2] = {"Hematoxylin", "DAB"};
constexpr const char* kStats[3] = {"mean", "std dev", "max"};

// Sums of one cell's compartments (0..3 as kCompartments, 4 = membrane band over the nucleus), both stains
// side by side (0 = hematoxylin, 1 = DAB) so one SSE2 operation updates both. Each sum is still added pixel
// by pixel in raster order, in doubles, exactly as a per-stain scalar accumulator would.
struct CellSums {
  double sum[5][2] = {};
  double sum2[5][2] = {};
  float max[5][2];
  int n[5] = {};
  CellSums() { std::fill_n(&max[0][0], 10, -std::numeric_limits<float>::infinity()); }
};

// One compartment's sums held in registers while a run of pixels is added, then written back.
struct SumRegisters {
  int k;
  __m128d sum, sum2;
  __m128 max;
  int n = 0;
  SumRegisters(const CellSums& a, int compartment)
      : k(compartment),
        sum(_mm_loadu_pd(a.sum[compartment])),
        sum2(_mm_loadu_pd(a.sum2[compartment])),
        max(_mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(a.max[compartment])))) {}
  void add_sums(__m128d v, __m128d sq) {
    sum = _mm_add_pd(sum, v);
    sum2 = _mm_add_pd(sum2, sq);
  }
  // `count` pixels whose maxima, kept from -inf one pixel at a time, are `stretch_max`: the same maxima as
  // keeping them from this compartment's (the first pixel above the running maximum wins either way).
  void add_stretch(__m128 stretch_max, int count) {
    max = _mm_max_ps(stretch_max, max);
    n += count;
  }
  void store(CellSums& a) const {
    _mm_storeu_pd(a.sum[k], sum);
    _mm_storeu_pd(a.sum2[k], sum2);
    _mm_store_sd(reinterpret_cast<double*>(a.max[k]), _mm_castps_pd(max));
    a.n[k] += n;
  }
};

// First x in [from, to) where (row[x] == c) != equal, else `to`; eight, then four pixels at a time.
inline int run_end(const int* row, int from, int to, int c, bool equal) {
  const __m128i vc = _mm_set1_epi32(c);
  const int flip = equal ? 0xF : 0;
  int x = from;
  for (; x + 8 <= to; x += 8) {
    const __m128i lo = _mm_cmpeq_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + x)), vc);
    const __m128i hi = _mm_cmpeq_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + x + 4)), vc);
    // Two mask bits per pixel.
    const int change = _mm_movemask_epi8(_mm_packs_epi32(lo, hi)) ^ (equal ? 0xFFFF : 0);
    if (change != 0) return x + (__builtin_ctz(static_cast<unsigned>(change)) >> 1);
  }
  for (; x + 4 <= to; x += 4) {
    const __m128i same = _mm_cmpeq_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + x)), vc);
    const int change = _mm_movemask_ps(_mm_castsi128_ps(same)) ^ flip;
    if (change != 0) return x + __builtin_ctz(static_cast<unsigned>(change));
  }
  for (; x < to; ++x) {
    if ((row[x] == c) != equal) return x;
  }
  return to;
}

// Where a label's pixels lie: first pixel in raster order and bounding box.
struct Extent {
  int first = -1;                                    // y * width + x
  int x0 = INT_MAX, y0 = INT_MAX, x1 = -1, y1 = -1;  // inclusive
  void add_run(int x0r, int x1r, int y, int w) {
    if (first < 0) first = y * w + x0r;
    x0 = std::min(x0, x0r);
    x1 = std::max(x1, x1r);
    y0 = std::min(y0, y);
    y1 = y;
  }
};

// Counts the 8-connected pieces of each label from its runs (maximal row segments), fed row by row in raster
// order: a run touching no run of its label in the row above starts a piece; one touching runs of several
// pieces of its label joins them (union-find over pieces).
class PieceCounter {
 public:
  explicit PieceCounter(std::size_t labels) : pieces_(labels, 0) {}
  void next_row() {
    above_.swap(row_);
    row_.clear();
    next_above_ = 0;
  }
  [[gnu::always_inline]] void add_run(int x0, int x1, int label) {
    while (next_above_ < above_.size() && above_[next_above_].x1 < x0 - 1) ++next_above_;
    // The run joins the piece of the first run of its label it touches above (no node of its own), and
    // merges the pieces of the others.
    int root = -1;
    for (std::size_t k = next_above_; k < above_.size() && above_[k].x0 <= x1 + 1; ++k) {
      if (above_[k].label != label) continue;
      const int a = find(above_[k].id);
      if (root < 0) {
        root = a;
      } else if (a != root) {
        parent_[static_cast<std::size_t>(a)] = root;
        --pieces_[static_cast<std::size_t>(label)];
      }
    }
    if (root < 0) {
      root = static_cast<int>(parent_.size());
      parent_.push_back(root);
      ++pieces_[static_cast<std::size_t>(label)];
    }
    row_.push_back({x0, x1, label, root});
  }
  int pieces(std::size_t label) const { return pieces_[label]; }

 private:
  struct Run {
    int x0, x1, label, id;
  };
  int find(int x) {
    while (parent_[static_cast<std::size_t>(x)] != x) {
      const int up = parent_[static_cast<std::size_t>(parent_[static_cast<std::size_t>(x)])];
      parent_[static_cast<std::size_t>(x)] = up;
      x = up;
    }
    return x;
  }
  std::vector<int> pieces_;
  std::vector<int> parent_;
  std::vector<Run> above_, row_;
  std::size_t next_above_ = 0;
};

// Smooths a closed pixel contour (two passes of a [1 2 1] kernel) so circularity and drawn outlines are not
// dominated by pixel steps.
std::vector<cv::Point2f> smooth_closed(const std::vector<cv::Point>& c, bool smooth) {
  std::vector<cv::Point2f> a(c.begin(), c.end());
  const std::size_t n = a.size();
  if (!smooth || n < 5) return a;
  std::vector<cv::Point2f> b(n);
  const __m128 quarter = _mm_set1_ps(0.25f);
  const __m128 half = _mm_set1_ps(0.5f);
  for (int pass = 0; pass < 2; ++pass) {
    b[0] = 0.25f * a[n - 1] + 0.5f * a[0] + 0.25f * a[1];
    // Two points (x, y, x, y) at a time, the same single-precision products and sums in the same order.
    const float* in = &a[0].x;
    float* out = &b[0].x;
    std::size_t i = 1;
    for (; i + 2 < n; i += 2) {
      const __m128 prev = _mm_loadu_ps(in + 2 * (i - 1));
      const __m128 mid = _mm_loadu_ps(in + 2 * i);
      const __m128 next = _mm_loadu_ps(in + 2 * (i + 1));
      const __m128 sum =
          _mm_add_ps(_mm_add_ps(_mm_mul_ps(quarter, prev), _mm_mul_ps(half, mid)), _mm_mul_ps(quarter, next));
      _mm_storeu_ps(out + 2 * i, sum);
    }
    for (; i + 1 < n; ++i) b[i] = 0.25f * a[i - 1] + 0.5f * a[i] + 0.25f * a[i + 1];
    b[n - 1] = 0.25f * a[n - 2] + 0.5f * a[n - 1] + 0.25f * a[0];
    a.swap(b);
  }
  return a;
}

// Coordinates below this in magnitude keep both smoothing passes exact in floats (multiples of 1/16 below
// 2^20 need at most 24 bits).
constexpr int kExactSmoothing = 1 << 19;

// smooth_closed for a contour whose coordinates lie below kExactSmoothing, into `out`: the two exact float
// passes are one integer [1 4 6 4 1] pass (around the ring) divided by 16, two points at a time.
void smooth_closed_exact(const std::vector<cv::Point>& c, bool smooth, std::vector<cv::Point2f>& out) {
  const std::size_t n = c.size();
  out.resize(n);
  if (!smooth || n < 5) {
    std::copy(c.begin(), c.end(), out.begin());
    return;
  }
  // The ring with two points before and three after, so that every point's window is contiguous.
  thread_local std::vector<cv::Point> ring;
  grow_to(ring, n + 5);
  ring[0] = c[n - 2];
  ring[1] = c[n - 1];
  std::copy(c.begin(), c.end(), ring.begin() + 2);
  ring[n + 2] = c[0];
  ring[n + 3] = c[1];
  ring[n + 4] = c[2];
  const int* r = &ring[0].x;
  float* o = &out[0].x;
  const __m128 sixteenth = _mm_set1_ps(1.0f / 16);
  auto at = [&](std::size_t k) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(r + 2 * k)); };
  std::size_t i = 0;
  for (; i + 2 <= n; i += 2) {
    const __m128i mid = at(i + 2);
    const __m128i sum = _mm_add_epi32(
        _mm_add_epi32(at(i), at(i + 4)),
        _mm_add_epi32(_mm_slli_epi32(_mm_add_epi32(_mm_add_epi32(at(i + 1), at(i + 3)), mid), 2),
                      _mm_add_epi32(mid, mid)));
    _mm_storeu_ps(o + 2 * i, _mm_mul_ps(_mm_cvtepi32_ps(sum), sixteenth));
  }
  for (; i < n; ++i) {
    const cv::Point sum = ring[i] + ring[i + 4] + 4 * (ring[i + 1] + ring[i + 3]) + 6 * ring[i + 2];
    out[i] = cv::Point2f(static_cast<float>(sum.x) / 16, static_cast<float>(sum.y) / 16);
  }
}

// 4 pi area / perimeter^2 of a closed outline (at most 1), with cv::arcLength's and cv::contourArea's
// arithmetic in one pass: float segment lengths added in double, double cross products.
double circularity_of(const std::vector<cv::Point2f>& poly) {
  if (poly.size() < 3) return std::numeric_limits<double>::quiet_NaN();
  double perimeter = 0;
  double area = 0;
  cv::Point2f prev = poly.back();
  for (const cv::Point2f& q : poly) {
    const float dx = q.x - prev.x;
    const float dy = q.y - prev.y;
    perimeter += std::sqrt(dx * dx + dy * dy);
    area += static_cast<double>(prev.x) * q.y - static_cast<double>(prev.y) * q.x;
    prev = q;
  }
  area = std::fabs(area * 0.5);
  return perimeter > 0 ? std::min(1.0, 4.0 * CV_PI * area / (perimeter * perimeter))
                       : std::numeric_limits<double>::quiet_NaN();
}

// Largest outer contour of `mask` (CV_8U with a free 1 px frame), offset to tile coordinates.
std::vector<cv::Point> largest_contour(const cv::Mat& mask, cv::Point offset) {
  std::vector<std::vector<cv::Point>> contours;
  cv::findContours(mask, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_NONE, offset);
  std::size_t best = 0;
  double best_area = -1;
  for (std::size_t i = 0; i < contours.size(); ++i) {
    const double a = contours[i].size() < 3 ? 0.0 : std::abs(cv::contourArea(contours[i]));
    if (a > best_area) {
      best_area = a;
      best = i;
    }
  }
  return contours.empty() ? std::vector<cv::Point>{} : contours[best];
}

std::vector<cv::Point2f> simplify(const std::vector<cv::Point2f>& poly) {
  if (poly.size() < 8) return poly;
  return approx_closed_polygon(poly, 0.4);
}

// The first of the largest values of a sequential scan "if (d > max) { max = d; at = i; }" from max = 0.
struct Farthest {
  double dist = 0;
  int at = -1;  // none above 0
};

inline __m128 load_two(const float* p) {
  return _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(p)));
}

// Over positions [a, b) of the contour unrolled twice (xs, ys), the farthest point from (sx, sy) by
// dx * dx + dy * dy (kChord false), or from the chord through (sx, sy) along (cx, cy) by |dy * cx - dx * cy|
// (kChord true), with dx, dy the single-precision differences widened to double as in OpenCV. Two lanes scan
// even and odd positions; the first maximum overall is the larger lane's, or on a tie the earlier position.
template <bool kChord>
Farthest farthest(const float* xs, const float* ys, int a, int b, float sx, float sy, double cx, double cy) {
  const __m128 vsx = _mm_set1_ps(sx);
  const __m128 vsy = _mm_set1_ps(sy);
  const __m128d vcx = _mm_set1_pd(cx);
  const __m128d vcy = _mm_set1_pd(cy);
  const __m128d sign = _mm_set1_pd(-0.0);
  const __m128d two = _mm_set1_pd(2.0);
  __m128d best = _mm_setzero_pd();
  __m128d at = _mm_set1_pd(-1.0);
  __m128d position = _mm_set_pd(a + 1, a);
  int i = a;
  for (; i + 2 <= b; i += 2) {
    const __m128d dx = _mm_cvtps_pd(_mm_sub_ps(load_two(xs + i), vsx));
    const __m128d dy = _mm_cvtps_pd(_mm_sub_ps(load_two(ys + i), vsy));
    const __m128d d = kChord ? _mm_andnot_pd(sign, _mm_sub_pd(_mm_mul_pd(dy, vcx), _mm_mul_pd(dx, vcy)))
                             : _mm_add_pd(_mm_mul_pd(dx, dx), _mm_mul_pd(dy, dy));
    const __m128d greater = _mm_cmpgt_pd(d, best);
    best = _mm_max_pd(d, best);
    at = _mm_or_pd(_mm_and_pd(greater, position), _mm_andnot_pd(greater, at));
    position = _mm_add_pd(position, two);
  }
  double lane_best[2], lane_at[2];
  _mm_storeu_pd(lane_best, best);
  _mm_storeu_pd(lane_at, at);
  const int lane =
      lane_best[0] > lane_best[1] || (lane_best[0] == lane_best[1] && lane_at[0] < lane_at[1]) ? 0 : 1;
  Farthest f{lane_best[lane], static_cast<int>(lane_at[lane])};
  for (; i < b; ++i) {
    const double dx = xs[i] - sx;
    const double dy = ys[i] - sy;
    const double d = kChord ? std::fabs(dy * cx - dx * cy) : dx * dx + dy * dy;
    if (d > f.dist) f = {d, i};
  }
  return f;
}

// A contour as int16 (x, y) pairs in 1/16 px from its bounding box's corner, unrolled twice like xs/ys, and
// three more points so that a scan may read four at a time past its end. Only when every coordinate is a
// multiple of 1/16 px (pixel outlines and their [1 2 1] smoothing are) and the contour spans less than
// 128 px: then every float difference and double product of the scans is exact, 1/256 of the integer one, and
// each integer distance (< 2^23) is exact in a float.
bool to_sixteenths(const std::vector<cv::Point2f>& src, std::vector<std::int16_t>& xy) {
  const std::size_t n = src.size();
  grow_to(xy, 4 * n + 8);
  // Two points (x, y, x, y) at a time; an odd count repeats the last point.
  const float* p = &src[0].x;
  const __m128d last = _mm_load_sd(reinterpret_cast<const double*>(p + 2 * (n - 1)));
  auto load = [&](std::size_t i) {
    return i + 1 < n ? _mm_loadu_ps(p + 2 * i) : _mm_castpd_ps(_mm_unpacklo_pd(last, last));
  };
  const __m128 sixteen = _mm_set1_ps(16.0f);
  const __m128 limit = _mm_set1_ps(1 << 24);
  const __m128 sign = _mm_set1_ps(-0.0f);
  __m128 ok = _mm_castsi128_ps(_mm_set1_epi32(-1));
  __m128 lo = _mm_set1_ps(std::numeric_limits<float>::infinity());
  __m128 hi = _mm_set1_ps(-std::numeric_limits<float>::infinity());
  for (std::size_t i = 0; i < n; i += 2) {
    const __m128 v = _mm_mul_ps(load(i), sixteen);
    // Below 2^24 in magnitude (false for NaN) and a whole number: the int conversion keeps it.
    ok = _mm_and_ps(ok, _mm_cmplt_ps(_mm_andnot_ps(sign, v), limit));
    ok = _mm_and_ps(ok, _mm_cmpeq_ps(_mm_cvtepi32_ps(_mm_cvttps_epi32(v)), v));
    lo = _mm_min_ps(lo, v);
    hi = _mm_max_ps(hi, v);
  }
  if (_mm_movemask_ps(ok) != 0xF) return false;
  lo = _mm_min_ps(lo, _mm_movehl_ps(lo, lo));
  hi = _mm_max_ps(hi, _mm_movehl_ps(hi, hi));
  // Spans below 2^11 sixteenths (floats of whole numbers, exact).
  if ((_mm_movemask_ps(_mm_cmplt_ps(_mm_sub_ps(hi, lo), _mm_set1_ps(1 << 11))) & 3) != 3) return false;
  const __m128i corner = _mm_cvttps_epi32(_mm_movelh_ps(lo, lo));
  std::int16_t* out = xy.data();
  for (std::size_t i = 0; i < n; i += 4) {
    const __m128i a = _mm_sub_epi32(_mm_cvttps_epi32(_mm_mul_ps(load(i), sixteen)), corner);
    const __m128i b =
        i + 2 < n ? _mm_sub_epi32(_mm_cvttps_epi32(_mm_mul_ps(load(i + 2), sixteen)), corner) : a;
    const __m128i packed = _mm_packs_epi32(a, b);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 2 * i), packed);
  }
  // The second copy, then zeros past it (the loop above may have written up to three points too many).
  std::copy_n(out, 2 * n, out + 2 * n);
  std::fill_n(out + 4 * n, 8, std::int16_t{0});
  return true;
}

// farthest() on a contour in sixteenths (to_sixteenths), with the start point (sx, sy) and the chord (cx, cy)
// in sixteenths: the same position and the same double distance, four points at a time. Most scans cover a
// few points, so the largest distance comes first and then the first position that has it, rather than
// tracking positions along the way; no position (-1) when the squared distance is at most `unused_up_to`
// (the caller keeps the slice whole then).
template <bool kChord>
Farthest farthest_sixteenths(const std::int16_t* xy, int a, int b, int sx, int sy, int cx, int cy,
                             double unused_up_to) {
  if (a >= b) return {};
  const __m128i start = _mm_set1_epi32(static_cast<int>((static_cast<unsigned>(sy) << 16) | (sx & 0xFFFF)));
  // (dx, dy) . (-cy, cx) = dy * cx - dx * cy
  const __m128i normal = _mm_set1_epi32(static_cast<int>((static_cast<unsigned>(cx) << 16) | (-cy & 0xFFFF)));
  const __m128 sign = _mm_set1_ps(-0.0f);
  auto distances = [&](std::ptrdiff_t i) {
    const __m128i d = _mm_sub_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(xy + 2 * i)), start);
    return kChord ? _mm_andnot_ps(sign, _mm_cvtepi32_ps(_mm_madd_epi16(d, normal)))
                  : _mm_cvtepi32_ps(_mm_madd_epi16(d, d));
  };
  __m128 best = _mm_setzero_ps();
  int i = a;
  for (; i + 4 <= b; i += 4) best = _mm_max_ps(distances(i), best);
  if (i < b) {
    const __m128i inside = _mm_cmpgt_epi32(_mm_set1_epi32(b - i), _mm_setr_epi32(0, 1, 2, 3));
    best = _mm_max_ps(_mm_and_ps(distances(i), _mm_castsi128_ps(inside)), best);
  }
  best = _mm_max_ps(best, _mm_shuffle_ps(best, best, _MM_SHUFFLE(2, 3, 0, 1)));
  best = _mm_max_ps(best, _mm_shuffle_ps(best, best, _MM_SHUFFLE(1, 0, 3, 2)));
  const float largest = _mm_cvtss_f32(best);
  if (!(largest > 0)) return {};
  const double dist = largest / 256.0;
  if (dist * dist <= unused_up_to) return {dist, -1};
  // The largest lies before b: the first match is there even when a block reads past b.
  for (i = a;; i += 4) {
    const int hit = _mm_movemask_ps(_mm_cmpeq_ps(distances(i), best));
    if (hit != 0) return {dist, i + __builtin_ctz(static_cast<unsigned>(hit))};
  }
}

}  // namespace

namespace {

// Suzuki-Abe border following as OpenCV's icvFetchContour does it for an outer border with
// CHAIN_APPROX_NONE (chain codes counter-clockwise from east, y down), reading the label image directly.
// kChecked: pixels outside the image count as background (else the region must not touch the image edge).
// Tried (session 5): the 8 neighbours as direction bits from three 4-label loads and a bit scan instead of
// the neighbour loop: 7.0 -> 9.7 M instructions per 1024 px tile and about twice the time (BM_MeasureGrown:
// 15 -> 28 % of samples), since each step then waits on its loads; the loop's predicted branches run ahead.
template <bool kChecked>
void trace_border(const cv::Mat& labels, int label, cv::Point first, std::vector<cv::Point>& out) {
  // Directions twice round (0..15), so that a search from s + 1 to s + 8 needs no wrap.
  static constexpr int kDx[16] = {1, 1, 0, -1, -1, -1, 0, 1, 1, 1, 0, -1, -1, -1, 0, 1};
  static constexpr int kDy[16] = {0, -1, -1, -1, 0, 1, 1, 1, 0, -1, -1, -1, 0, 1, 1, 1};
  const int w = labels.cols;
  const int h = labels.rows;
  const auto step = static_cast<std::ptrdiff_t>(labels.step1());
  std::ptrdiff_t offset[16];
  for (int d = 0; d < 16; ++d) offset[d] = kDx[d] + kDy[d] * step;
  // Whether the neighbour in direction d of pixel (x, y) (at address at) carries the label.
  auto is_label = [&](int x, int y, const int* at, int d) {
    if constexpr (kChecked) {
      if (static_cast<unsigned>(x + kDx[d]) >= static_cast<unsigned>(w) ||
          static_cast<unsigned>(y + kDy[d]) >= static_cast<unsigned>(h)) {
        return false;
      }
    }
    return at[offset[d]] == label;
  };
  const int* at_first = labels.ptr<int>(first.y) + first.x;
  // The last border pixel: first neighbour clockwise from the west (which is background).
  int s = 4;
  do {
    s = (s - 1) & 7;
  } while (!is_label(first.x, first.y, at_first, s) && s != 4);
  if (s == 4) {
    out.push_back(first);
    return;
  }
  const int* at_last = at_first + offset[s];
  int x = first.x;
  int y = first.y;
  const int* at = at_first;
  for (;;) {
    // Next border pixel: first neighbour counter-clockwise after the direction we came from. The search ends
    // by s + 8, the pixel we came from (at the start, the last border pixel), which carries the label.
    do {
      ++s;
    } while (!is_label(x, y, at, s));
    s &= 7;
    out.emplace_back(x, y);
    const int* next = at + offset[s];
    if (next == at_first && at == at_last) break;
    x += kDx[s];
    y += kDy[s];
    at = next;
    s = (s + 4) & 7;
  }
}

}  // namespace

std::vector<cv::Point> trace_outer_border(const cv::Mat& labels, int label, cv::Point first) {
  CV_Assert(labels.type() == CV_32SC1);
  std::vector<cv::Point> out;
  trace_border<true>(labels, label, first, out);
  return out;
}

std::vector<cv::Point2f> approx_closed_polygon(const std::vector<cv::Point2f>& src, double epsilon) {
  // OpenCV 4.6's approxPolyDP_ for a closed curve, step for step (the same float differences widened to
  // double, the same comparisons, the same order of slices); only the farthest-point scans run several points
  // at a time, over the contour unrolled twice so that no position wraps, in exact integers when they can.
  const int count = static_cast<int>(src.size());
  if (count == 0) return {};
  const double eps = epsilon * epsilon;
  thread_local std::vector<float> xs, ys;
  thread_local std::vector<std::int16_t> xy;
  const bool fixed = to_sixteenths(src, xy);
  if (!fixed) {
    xs.resize(2 * src.size());
    ys.resize(2 * src.size());
    for (std::size_t i = 0; i < src.size(); ++i) {
      xs[i] = xs[i + src.size()] = src[i].x;
      ys[i] = ys[i + src.size()] = src[i].y;
    }
  }
  // Farthest point at positions [a, b) from point `from`, or from the chord from `from` to `to`.
  auto farthest_from_point = [&](int a, int b, int from) {
    const std::size_t k = static_cast<std::size_t>(from);
    return fixed ? farthest_sixteenths<false>(xy.data(), a, b, xy[2 * k], xy[2 * k + 1], 0, 0, -1.0)
                 : farthest<false>(xs.data(), ys.data(), a, b, src[k].x, src[k].y, 0, 0);
  };
  // The position only matters for a slice that is split: none when the distance is within epsilon.
  auto farthest_from_chord = [&](int a, int b, int from, int to, double dx, double dy) {
    const std::size_t k = static_cast<std::size_t>(from);
    const std::size_t e = static_cast<std::size_t>(to);
    return fixed ? farthest_sixteenths<true>(xy.data(), a, b, xy[2 * k], xy[2 * k + 1], xy[2 * e] - xy[2 * k],
                                             xy[2 * e + 1] - xy[2 * k + 1], eps * (dx * dx + dy * dy))
                 : farthest<true>(xs.data(), ys.data(), a, b, src[k].x, src[k].y, dx, dy);
  };
  struct Slice {
    int start = 0, end = 0;
  };
  // Each pop pushes at most two slices and each push splits off a point: never more than count + 1 pending.
  thread_local std::vector<Slice> stack;
  grow_to(stack, src.size() + 2);
  int top = 0;
  thread_local std::vector<cv::Point2f> dst;
  grow_to(dst, src.size());
  int new_count = 0;
  Slice slice, right_slice;
  cv::Point2f start_pt;
  bool le_eps = false;
  // 1. Approximately the two farthest points of the contour: three times the farthest from the last.
  int pos = 0;
  for (int i = 0; i < 3; ++i) {
    pos = (pos + right_slice.start) % count;
    start_pt = src[static_cast<std::size_t>(pos)];
    const Farthest f = farthest_from_point(pos + 1, pos + count, pos);
    if (f.at >= 0) right_slice.start = f.at - pos;
    le_eps = f.dist <= eps;
  }
  if (!le_eps) {
    right_slice.end = slice.start = pos;
    slice.end = right_slice.start = (right_slice.start + slice.start) % count;
    stack[static_cast<std::size_t>(top++)] = right_slice;
    stack[static_cast<std::size_t>(top++)] = slice;
  } else {
    dst[static_cast<std::size_t>(new_count++)] = start_pt;
  }
  // 2. Split each slice at its farthest point from the chord until all lie within epsilon of it.
  while (top > 0) {
    slice = stack[static_cast<std::size_t>(--top)];
    const cv::Point2f end_pt = src[static_cast<std::size_t>(slice.end)];
    start_pt = src[static_cast<std::size_t>(slice.start)];
    const int a = slice.start + 1;
    const int b = slice.end > slice.start ? slice.end : slice.end + count;
    if (a < b) {
      const double dx = end_pt.x - start_pt.x;
      const double dy = end_pt.y - start_pt.y;
      const Farthest f = farthest_from_chord(a, b, slice.start, slice.end, dx, dy);
      if (f.at >= 0) right_slice.start = f.at >= count ? f.at - count : f.at;
      le_eps = f.dist * f.dist <= eps * (dx * dx + dy * dy);
    } else {
      le_eps = true;
    }
    if (le_eps) {
      dst[static_cast<std::size_t>(new_count++)] = start_pt;
    } else {
      right_slice.end = slice.end;
      slice.end = right_slice.start;
      stack[static_cast<std::size_t>(top++)] = right_slice;
      stack[static_cast<std::size_t>(top++)] = slice;
    }
  }
  // 3. Removes extra points on (almost) straight lines.
  const int n = new_count;
  auto read = [&](cv::Point2f& to, int& at) {
    to = dst[static_cast<std::size_t>(at)];
    if (++at >= n) at = 0;
  };
  cv::Point2f pt, end_pt;
  pos = n - 1;
  read(start_pt, pos);
  int wpos = pos;
  read(pt, pos);
  for (int i = 0; i < n && new_count > 2; ++i) {
    read(end_pt, pos);
    const double dx = end_pt.x - start_pt.x;
    const double dy = end_pt.y - start_pt.y;
    const double dist = std::fabs((pt.x - start_pt.x) * dy - (pt.y - start_pt.y) * dx);
    // Single-precision products, as in OpenCV.
    const double successive_inner_product =
        (pt.x - start_pt.x) * (end_pt.x - pt.x) + (pt.y - start_pt.y) * (end_pt.y - pt.y);
    if (dist * dist <= 0.5 * eps * (dx * dx + dy * dy) && dx != 0 && dy != 0 &&
        successive_inner_product >= 0) {
      --new_count;
      dst[static_cast<std::size_t>(wpos)] = start_pt = end_pt;
      if (++wpos >= n) wpos = 0;
      read(pt, pos);
      ++i;
      continue;
    }
    dst[static_cast<std::size_t>(wpos)] = start_pt = pt;
    if (++wpos >= n) wpos = 0;
    pt = end_pt;
  }
  return std::vector<cv::Point2f>(dst.begin(), dst.begin() + new_count);
}

std::vector<std::string> cell_measurement_names(bool calibrated) {
  const std::string area = calibrated ? "Area um^2" : "Area px^2";
  std::vector<std::string> names = {"Nucleus: " + area, "Nucleus: Circularity", "Cell: " + area};
  for (const char* comp : kCompartments) {
    for (const char* stain : kStains) {
      for (const char* stat : kStats) {
        names.push_back(std::string(comp) + ": " + stain + " OD " + stat);
      }
    }
  }
  return names;
}

namespace {

// measure_cells, growing the cells unless `grown` holds them.
std::vector<MeasuredCell> measure(const cv::Mat& nucleus_labels, int count, const cv::Mat& hematoxylin,
                                  const cv::Mat& dab, const CellParamsPx& p, const cv::Rect& keep,
                                  const CellGrowth* grown, cv::Point origin = {}) {
  if (nucleus_labels.type() != CV_32SC1 || count < 0) {
    throw std::invalid_argument("measure_cells: expected CV_32S nucleus labels and a count >= 0");
  }
  if (hematoxylin.type() != CV_32FC1 || hematoxylin.size() != nucleus_labels.size()) {
    throw std::invalid_argument("measure_cells: expected a CV_32F hematoxylin image of the labels' size");
  }
  const int w = nucleus_labels.cols;
  const int h = nucleus_labels.rows;
  const std::size_t n = static_cast<std::size_t>(count) + 1;
  // Integer sums of integer coordinates: exactly the doubles a pixel-by-pixel double sum gives (< 2^53).
  std::vector<std::int64_t> cnt(n, 0), sx(n, 0), sy(n, 0);
  std::vector<Extent> nucleus_extent(n);
  PieceCounter nucleus_pieces(n);
  // The nuclei's runs row by row (row y's from nucleus_row[y]), so that the cell pass finds the nucleus
  // stretches of its runs without reading the nucleus labels again.
  struct NucleusRun {
    int x0, end, label;
  };
  thread_local std::vector<NucleusRun> nucleus_runs;
  thread_local std::vector<std::size_t> nucleus_row;
  nucleus_runs.clear();
  nucleus_row.resize(static_cast<std::size_t>(h) + 1);
  for (int y = 0; y < h; ++y) {
    const int* l = nucleus_labels.ptr<int>(y);
    nucleus_pieces.next_row();
    nucleus_row[static_cast<std::size_t>(y)] = nucleus_runs.size();
    for (int x = 0; x < w;) {
      const int c = l[x];
      const int end = run_end(l, x + 1, w, c, true);
      if (c > 0) {
        if (c > count) {
          throw std::invalid_argument("measure_cells: nucleus label " + std::to_string(c) +
                                      " is above the count " + std::to_string(count));
        }
        const auto ci = static_cast<std::size_t>(c);
        const std::int64_t len = end - x;
        cnt[ci] += len;
        sx[ci] += (static_cast<std::int64_t>(x) + end - 1) * len / 2;
        sy[ci] += static_cast<std::int64_t>(y) * len;
        nucleus_extent[ci].add_run(x, end - 1, y, w);
        nucleus_pieces.add_run(x, end - 1, c);
        nucleus_runs.push_back({x, end, c});
      }
      x = end;
    }
  }
  nucleus_row[static_cast<std::size_t>(h)] = nucleus_runs.size();
  std::vector<int> index(n, -1);
  std::vector<int> label_of;
  std::vector<MeasuredCell> cells;
  for (std::size_t c = 1; c < n; ++c) {
    if (cnt[c] == 0) continue;
    const auto m = static_cast<double>(cnt[c]);
    const cv::Point2d centroid(static_cast<double>(sx[c]) / m, static_cast<double>(sy[c]) / m);
    if (!keep.empty() && !(centroid.x >= keep.x && centroid.x < keep.x + keep.width && centroid.y >= keep.y &&
                           centroid.y < keep.y + keep.height)) {
      continue;
    }
    index[c] = static_cast<int>(cells.size());
    label_of.push_back(static_cast<int>(c));
    cells.emplace_back();
    // In the origin's frame from exact integer sums: the same bits as measuring the whole image.
    cells.back().centroid = {static_cast<double>(sx[c] + cnt[c] * origin.x) / m,
                             static_cast<double>(sy[c] + cnt[c] * origin.y) / m};
  }
  if (cells.empty()) return cells;

  // Kept per thread: the tile's cell labels and band reuse their memory (fresh planes are page-faulted in)
  // whatever the tile's size.
  thread_local CellGrowth own_growth;
  thread_local KeptPlane labels_plane, membrane_plane;
  if (grown == nullptr) {
    own_growth.cell_labels = labels_plane.get(nucleus_labels.size(), CV_32S);
    own_growth.membrane = membrane_plane.get(nucleus_labels.size(), CV_8U);
    // The sums read the band and the outlines the labels of kept cells only: neither needs the cut to the
    // cells (a pass over the label and band planes).
    grow_cells_uncut(nucleus_labels, dab, p, own_growth);
  }
  const CellGrowth& g = grown != nullptr ? *grown : own_growth;
  std::vector<CellSums> acc(cells.size());
  std::vector<Extent> cell_extent(cells.size());
  PieceCounter cell_pieces(n);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  cv::Mat local;
  // Outlines of one cell at a time, reused.
  thread_local std::vector<cv::Point> border;
  thread_local std::vector<cv::Point2f> smoothed;
  const bool exact_smoothing = w < kExactSmoothing && h < kExactSmoothing;
  // Outlines and values of kept cell i from its sums and extent so far: called as soon as the pass has left
  // the cell's rows, while they are still in cache, and again at the end for a label that turned out to have
  // another piece further down (then it is done again with all of it).
  auto finalize = [&](std::size_t i) {
    const auto c = static_cast<std::size_t>(label_of[i]);
    MeasuredCell& cell = cells[i];
    const CellSums& a = acc[i];
    const Extent& ce = cell_extent[i];
    const Extent& ne = nucleus_extent[c];
    // The cell's box; the nucleus's own if the cell kept no pixel (line ownership never moves nuclei).
    const Extent& box = ce.first >= 0 ? ce : ne;
    const cv::Rect b(box.x0, box.y0, box.x1 - box.x0 + 1, box.y1 - box.y0 + 1);
    // Fallback for a label in several pieces: its pixels in the cell's box with a free 1 px frame, for
    // findContours, which picks the largest outer contour.
    auto box_contour = [&](const cv::Mat& labels) {
      local.create(b.height + 2, b.width + 2, CV_8U);
      // Every inner pixel is written; only the frame needs clearing.
      std::fill_n(local.ptr<uchar>(0), local.cols, uchar{0});
      std::fill_n(local.ptr<uchar>(local.rows - 1), local.cols, uchar{0});
      for (int y = 0; y < b.height; ++y) {
        const int* l = labels.ptr<int>(y + b.y) + b.x;
        uchar* o = local.ptr<uchar>(y + 1);
        o[0] = 0;
        o[b.width + 1] = 0;
        for (int x = 0; x < b.width; ++x) o[x + 1] = l[x] == static_cast<int>(c) ? 255 : 0;
      }
      return largest_contour(local, cv::Point(b.x - 1, b.y - 1));
    };
    // One piece: its border traced on the label image, without bounds checks when its box is inside.
    auto trace = [&](const cv::Mat& labels, const Extent& e) {
      border.clear();
      const cv::Point first(e.first % w, e.first / w);
      if (e.x0 > 0 && e.y0 > 0 && e.x1 + 1 < w && e.y1 + 1 < h) {
        trace_border<false>(labels, static_cast<int>(c), first, border);
      } else {
        trace_border<true>(labels, static_cast<int>(c), first, border);
      }
    };
    auto smooth = [&]() {
      if (origin != cv::Point()) {
        for (cv::Point& q : border) q += origin;
      }
      if (exact_smoothing) {
        smooth_closed_exact(border, p.smooth_boundaries, smoothed);
      } else {
        smoothed = smooth_closed(border, p.smooth_boundaries);
      }
    };
    if (ce.first < 0) {
      border.clear();
    } else if (cell_pieces.pieces(c) == 1) {
      trace(g.cell_labels, ce);
    } else {
      border = box_contour(g.cell_labels);
    }
    smooth();
    cell.boundary = simplify(smoothed);
    // The nucleus was cut to the cell's box: the same as the whole nucleus when all of it lies in the cell.
    const bool whole_nucleus_in_cell = a.n[0] == cnt[c];
    if (nucleus_pieces.pieces(c) == 1 && whole_nucleus_in_cell) {
      trace(nucleus_labels, ne);
    } else {
      border = box_contour(nucleus_labels);
    }
    smooth();
    const double circularity = circularity_of(smoothed);
    cell.nucleus = simplify(smoothed);

    auto& v = cell.values;
    v[0] = static_cast<float>(static_cast<double>(cnt[c]) * p.area_scale);
    v[1] = static_cast<float>(circularity);
    v[2] = static_cast<float>(static_cast<double>(a.n[3]) * p.area_scale);
    int k = 3;
    for (int comp = 0; comp < 4; ++comp) {
      // A cell without cytoplasm (no expansion) has its membrane on the nucleus rim.
      const int from = comp == 2 && a.n[2] == 0 ? 4 : comp;
      for (int s = 0; s < 2; ++s) {
        if (a.n[from] == 0) {
          v[k++] = nan;
          v[k++] = nan;
          v[k++] = nan;
          continue;
        }
        const double qn = a.n[from];
        const double sum = a.sum[from][s];
        const double mean = sum / qn;
        const double var = qn > 1 ? std::max(0.0, (a.sum2[from][s] - sum * mean) / (qn - 1)) : 0.0;
        v[k++] = static_cast<float>(mean);
        v[k++] = static_cast<float>(std::sqrt(var));
        v[k++] = a.max[from][s];
      }
    }
  };
  // Kept cells with runs in the row before and in this row; whether a cell's values are up to date.
  std::vector<int> cells_above, cells_here;
  std::vector<char> done(cells.size(), 0);
  for (int y = 0; y < h; ++y) {
    const int* l = g.cell_labels.ptr<int>(y);
    cell_pieces.next_row();
    cells_above.swap(cells_here);
    cells_here.clear();
    std::size_t nucleus_at = nucleus_row[static_cast<std::size_t>(y)];
    const std::size_t nucleus_last = nucleus_row[static_cast<std::size_t>(y) + 1];
    const uchar* mem = g.membrane.ptr<uchar>(y);
    const float* hv = hematoxylin.ptr<float>(y);
    const float* dv = dab.ptr<float>(y);
    for (int x = 0; x < w;) {
      const int c = l[x];
      const int end = run_end(l, x + 1, w, c, true);
      const int i = c > 0 ? index[static_cast<std::size_t>(c)] : -1;
      if (i >= 0) {
        CellSums& a = acc[static_cast<std::size_t>(i)];
        cells_here.push_back(i);
        done[static_cast<std::size_t>(i)] = 0;
        cell_extent[static_cast<std::size_t>(i)].add_run(x, end - 1, y, w);
        cell_pieces.add_run(x, end - 1, c);
        // The cell's sums and those of the compartment (nucleus or cytoplasm) stay in registers along each
        // stretch of the run inside or outside the nucleus; the membrane's go through memory.
        SumRegisters cell_sums(a, 3);
        for (int xx = x; xx < end;) {
          // The next run of the cell's own nucleus that reaches past xx, if it starts before the run's end.
          while (nucleus_at < nucleus_last && nucleus_runs[nucleus_at].end <= xx) ++nucleus_at;
          int nucleus_start = end;
          int nucleus_end = end;
          for (std::size_t k = nucleus_at; k < nucleus_last && nucleus_runs[k].x0 < end; ++k) {
            if (nucleus_runs[k].label == c) {
              nucleus_start = std::max(nucleus_runs[k].x0, xx);
              nucleus_end = std::min(nucleus_runs[k].end, end);
              break;
            }
          }
          const bool in_nucleus = nucleus_start == xx;
          const int stretch_end = in_nucleus ? nucleus_end : nucleus_start;
          SumRegisters part(a, in_nucleus ? 0 : 1);
          // The stretch's membrane sums stay in registers too (through memory, each band pixel's additions
          // waited on the previous one's store).
          SumRegisters band(a, in_nucleus ? 4 : 2);
          auto add_band = [&](__m128d v, __m128d sq, __m128 vf) {
            band.add_sums(v, sq);
            // max(vf, m) keeps m unless vf > m, as std::max(m, vf) does (NaN included).
            band.max = _mm_max_ps(vf, band.max);
            ++band.n;
          };
          __m128 stretch_max = _mm_set1_ps(-std::numeric_limits<float>::infinity());
          const int stretch_start = xx;
          // Two pixels at a time: (h0, d0, h1, d1) from two 8-byte loads; each sum still takes them in order.
          for (; xx + 2 <= stretch_end; xx += 2) {
            const __m128 vf =
                _mm_unpacklo_ps(_mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(hv + xx))),
                                _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(dv + xx))));
            const __m128 vf1 = _mm_movehl_ps(vf, vf);
            const __m128d v0 = _mm_cvtps_pd(vf);
            const __m128d v1 = _mm_cvtps_pd(vf1);
            const __m128d sq0 = _mm_mul_pd(v0, v0);
            const __m128d sq1 = _mm_mul_pd(v1, v1);
            cell_sums.add_sums(v0, sq0);
            part.add_sums(v0, sq0);
            cell_sums.add_sums(v1, sq1);
            part.add_sums(v1, sq1);
            stretch_max = _mm_max_ps(vf, stretch_max);
            stretch_max = _mm_max_ps(vf1, stretch_max);
            std::uint16_t both;
            std::memcpy(&both, mem + xx, 2);
            if (both != 0) {
              if (mem[xx]) add_band(v0, sq0, vf);
              if (mem[xx + 1]) add_band(v1, sq1, vf1);
            }
          }
          if (xx < stretch_end) {
            const __m128 vf = _mm_unpacklo_ps(_mm_load_ss(hv + xx), _mm_load_ss(dv + xx));
            const __m128d v = _mm_cvtps_pd(vf);
            const __m128d sq = _mm_mul_pd(v, v);
            cell_sums.add_sums(v, sq);
            part.add_sums(v, sq);
            stretch_max = _mm_max_ps(vf, stretch_max);
            if (mem[xx]) add_band(v, sq, vf);
            ++xx;
          }
          cell_sums.add_stretch(stretch_max, stretch_end - stretch_start);
          part.add_stretch(stretch_max, stretch_end - stretch_start);
          part.store(a);
          band.store(a);
        }
        cell_sums.store(a);
      }
      x = end;
    }
    for (const int i : cells_above) {
      const auto k = static_cast<std::size_t>(i);
      if (cell_extent[k].y1 < y && !done[k]) {
        finalize(k);
        done[k] = 1;
      }
    }
  }
  for (std::size_t i = 0; i < cells.size(); ++i) {
    if (!done[i]) finalize(i);
  }

  return cells;
}

}  // namespace

std::vector<MeasuredCell> measure_cells(const cv::Mat& nucleus_labels, int count, const cv::Mat& hematoxylin,
                                        const cv::Mat& dab, const CellParamsPx& p, const cv::Rect& keep,
                                        cv::Point origin) {
  return measure(nucleus_labels, count, hematoxylin, dab, p, keep, nullptr, origin);
}

std::vector<MeasuredCell> measure_grown_cells(const cv::Mat& nucleus_labels, int count,
                                              const cv::Mat& hematoxylin, const cv::Mat& dab,
                                              const CellGrowth& grown, const CellParamsPx& p,
                                              const cv::Rect& keep) {
  if (dab.type() != CV_32FC1 || dab.size() != nucleus_labels.size()) {
    throw std::invalid_argument("measure_grown_cells: expected a CV_32F DAB image of the labels' size");
  }
  if (grown.cell_labels.type() != CV_32SC1 || grown.cell_labels.size() != nucleus_labels.size() ||
      grown.membrane.type() != CV_8UC1 || grown.membrane.size() != nucleus_labels.size()) {
    throw std::invalid_argument(
        "measure_grown_cells: expected CV_32S cell labels and a CV_8U membrane band of the labels' size");
  }
  return measure(nucleus_labels, count, hematoxylin, dab, p, keep, &grown);
}

}  // namespace ihc
