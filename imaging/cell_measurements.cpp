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
// passes are one integer [1 4 6 4 1] pass (around the ring) divided by 16, two points at a time. With `unit`
// (a power of two) and `shift`, the coordinates are in units of `unit` px and come out as px minus `shift`
// (exact too: pixel-edge outlines in quarter pixels, to pixel-centre coordinates).
void smooth_closed_exact(const std::vector<cv::Point>& c, bool smooth, std::vector<cv::Point2f>& out,
                         float unit = 1.0f, float shift = 0.0f) {
  const std::size_t n = c.size();
  out.resize(n);
  if (!smooth || n < 5) {
    for (std::size_t i = 0; i < n; ++i) {
      out[i] =
          cv::Point2f(static_cast<float>(c[i].x) * unit - shift, static_cast<float>(c[i].y) * unit - shift);
    }
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
  const __m128 sixteenth = _mm_set1_ps(unit / 16);
  const __m128 vshift = _mm_set1_ps(shift);
  auto at = [&](std::size_t k) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(r + 2 * k)); };
  std::size_t i = 0;
  for (; i + 2 <= n; i += 2) {
    const __m128i mid = at(i + 2);
    const __m128i sum = _mm_add_epi32(
        _mm_add_epi32(at(i), at(i + 4)),
        _mm_add_epi32(_mm_slli_epi32(_mm_add_epi32(_mm_add_epi32(at(i + 1), at(i + 3)), mid), 2),
                      _mm_add_epi32(mid, mid)));
    _mm_storeu_ps(o + 2 * i, _mm_sub_ps(_mm_mul_ps(_mm_cvtepi32_ps(sum), sixteenth), vshift));
  }
  for (; i < n; ++i) {
    const cv::Point sum = ring[i] + ring[i + 4] + 4 * (ring[i + 1] + ring[i + 3]) + 6 * ring[i + 2];
    out[i] = cv::Point2f(static_cast<float>(sum.x) * (unit / 16) - shift,
                         static_cast<float>(sum.y) * (unit / 16) - shift);
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

// The outer border of the 8-connected region of `label` whose first pixel in raster order is `first`, along
// pixel edges (crack following), in quarter pixels of the pixel grid: pixel (x, y) spans [4x, 4x + 4] x
// [4y, 4y + 4]. One point per unit edge, the region on the right (clockwise on screen), from the first
// pixel's top-left corner. Where the region goes on diagonally through a corner (its two pixels there touch
// only at the corner) the border passes the corner twice (once when the other background pixel there is a
// hole): each pass is moved a quarter pixel into the background pixel on its side, so that the ring never
// touches itself (a neck of 0.7 px across the corner, about 0.25 px^2 more per pass). kChecked as for
// trace_border.
template <bool kChecked>
void trace_edges(const cv::Mat& labels, int label, cv::Point first, std::vector<cv::Point>& out) {
  // Headings east, south, west, north (y down): a right turn is +1.
  static constexpr int kDx[4] = {1, 0, -1, 0};
  static constexpr int kDy[4] = {0, 1, 0, -1};
  // The pixel ahead on the left and ahead on the right of a corner for each heading, as offsets from the
  // pixel whose top-left corner it is.
  static constexpr int kLeftX[4] = {0, 0, -1, -1};
  static constexpr int kLeftY[4] = {-1, 0, 0, -1};
  static constexpr int kRightX[4] = {0, -1, -1, 0};
  static constexpr int kRightY[4] = {0, 0, -1, -1};
  const int w = labels.cols;
  const int h = labels.rows;
  const auto step = static_cast<std::ptrdiff_t>(labels.step1());
  std::ptrdiff_t left[4], right[4], move[4];
  for (int d = 0; d < 4; ++d) {
    left[d] = kLeftX[d] + kLeftY[d] * step;
    right[d] = kRightX[d] + kRightY[d] * step;
    move[d] = kDx[d] + kDy[d] * step;
  }
  // Whether the pixel at `offset` from corner (vx, vy)'s pixel (index `at`) carries the label. The corner's
  // pixel may lie one past the last row or column: an index, not a pointer, so that nothing points there.
  const int* base = labels.ptr<int>(0);
  auto is_label = [&](int vx, int vy, std::ptrdiff_t at, std::ptrdiff_t offset, int ox, int oy) {
    if constexpr (kChecked) {
      if (static_cast<unsigned>(vx + ox) >= static_cast<unsigned>(w) ||
          static_cast<unsigned>(vy + oy) >= static_cast<unsigned>(h)) {
        return false;
      }
    }
    return base[at + offset] == label;
  };
  std::ptrdiff_t at = first.y * step + first.x;
  int vx = first.x;
  int vy = first.y;
  int d = 3;  // the border arrives at the first corner going north, up the first pixel's left edge
  do {
    int next;
    if (is_label(vx, vy, at, left[d], kLeftX[d], kLeftY[d])) {
      // Left, into the pixel ahead on the left (8-connected).
      next = (d + 3) & 3;
      if (is_label(vx, vy, at, right[d], kRightX[d], kRightY[d])) {
        out.emplace_back(4 * vx, 4 * vy);
      } else {
        // Through the corner diagonally: back a quarter along the way in and out.
        out.emplace_back(4 * vx - kDx[d] + kDx[next], 4 * vy - kDy[d] + kDy[next]);
      }
    } else {
      // Straight on along the pixel ahead on the right, else right.
      next = is_label(vx, vy, at, right[d], kRightX[d], kRightY[d]) ? d : (d + 1) & 3;
      out.emplace_back(4 * vx, 4 * vy);
    }
    d = next;
    vx += kDx[d];
    vy += kDy[d];
    at += move[d];
  } while (vx != first.x || vy != first.y);
}

// A pixel-edge outline (trace_edges, quarter pixels) as pixel-centre coordinates (a pixel's centre is its
// integer position, its corners lie half a pixel off), smoothed as smooth_closed smooths (two [1 2 1] passes
// around the ring) when `smooth` and it has at least 5 points. `exact`: every coordinate lies below
// kExactSmoothing (quarter pixels); then the points are exact, multiples of 1/64 px (of 1/16 px without
// diagonal corners).
void edges_to_outline(const std::vector<cv::Point>& q, bool smooth, bool exact,
                      std::vector<cv::Point2f>& out) {
  if (exact) {
    smooth_closed_exact(q, smooth, out, 0.25f, 0.5f);
    return;
  }
  out = smooth_closed(q, smooth);
  for (cv::Point2f& v : out) v = v * 0.25f - cv::Point2f(0.5f, 0.5f);
}

// The corners of an unsmoothed pixel-edge outline: the points where it turns (collinear points dropped).
std::vector<cv::Point2f> corners_of(const std::vector<cv::Point2f>& poly) {
  const std::size_t n = poly.size();
  std::vector<cv::Point2f> out;
  for (std::size_t i = 0; i < n; ++i) {
    const cv::Point2f& a = poly[(i + n - 1) % n];
    const cv::Point2f& b = poly[i];
    const cv::Point2f& c = poly[(i + 1) % n];
    const double cross = (static_cast<double>(b.x) - a.x) * (static_cast<double>(c.y) - b.y) -
                         (static_cast<double>(b.y) - a.y) * (static_cast<double>(c.x) - b.x);
    if (cross != 0) out.push_back(b);
  }
  return out;
}

// Sign of the turn a -> b -> c (exact for the coordinates outlines have: multiples of 1/64 px below 2^15).
int orientation(const cv::Point2f& a, const cv::Point2f& b, const cv::Point2f& c) {
  const double v = (static_cast<double>(b.x) - a.x) * (static_cast<double>(c.y) - a.y) -
                   (static_cast<double>(b.y) - a.y) * (static_cast<double>(c.x) - a.x);
  return (v > 0) - (v < 0);
}

// Whether p, collinear with segment ab, lies on it.
bool on_segment(const cv::Point2f& a, const cv::Point2f& b, const cv::Point2f& p) {
  return std::min(a.x, b.x) <= p.x && p.x <= std::max(a.x, b.x) && std::min(a.y, b.y) <= p.y &&
         p.y <= std::max(a.y, b.y);
}

// Whether the closed segments ab and cd have a point in common.
bool segments_meet(const cv::Point2f& a, const cv::Point2f& b, const cv::Point2f& c, const cv::Point2f& d) {
  const int o1 = orientation(a, b, c);
  const int o2 = orientation(a, b, d);
  const int o3 = orientation(c, d, a);
  const int o4 = orientation(c, d, b);
  if (o1 != o2 && o3 != o4 && o1 != 0 && o2 != 0 && o3 != 0 && o4 != 0) return true;
  return (o1 == 0 && on_segment(a, b, c)) || (o2 == 0 && on_segment(a, b, d)) ||
         (o3 == 0 && on_segment(c, d, a)) || (o4 == 0 && on_segment(c, d, b));
}

// Where on segment ab the point nearest p lies: a + t (b - a), t in [0, 1].
double nearest_on_segment(const cv::Point2f& p, const cv::Point2f& a, const cv::Point2f& b) {
  const double dx = static_cast<double>(b.x) - a.x;
  const double dy = static_cast<double>(b.y) - a.y;
  const double len2 = dx * dx + dy * dy;
  const double px = static_cast<double>(p.x) - a.x;
  const double py = static_cast<double>(p.y) - a.y;
  return len2 > 0 ? std::clamp((px * dx + py * dy) / len2, 0.0, 1.0) : 0.0;
}

// Squared distance from p to segment ab.
double point_segment_distance2(const cv::Point2f& p, const cv::Point2f& a, const cv::Point2f& b) {
  const double dx = static_cast<double>(b.x) - a.x;
  const double dy = static_cast<double>(b.y) - a.y;
  const double px = static_cast<double>(p.x) - a.x;
  const double py = static_cast<double>(p.y) - a.y;
  const double t = nearest_on_segment(p, a, b);
  const double ex = px - t * dx;
  const double ey = py - t * dy;
  return ex * ex + ey * ey;
}

// Whether a closed polygon without repeated points is star-shaped around the mean of its points (rounded to
// 1/64 px, so that the tests stay exact): every edge turns the same way around it, and the edges go round
// it once. Then each edge lies in its own angular sector, and the polygon is simple. Convex outlines and most
// cell and nucleus outlines are.
bool star_shaped(const std::vector<cv::Point2f>& poly, double area) {
  const std::size_t n = poly.size();
  double sx = 0;
  double sy = 0;
  for (const cv::Point2f& v : poly) {
    sx += v.x;
    sy += v.y;
  }
  const cv::Point2f c(static_cast<float>(std::round(sx / static_cast<double>(n) * 64) / 64),
                      static_cast<float>(std::round(sy / static_cast<double>(n) * 64) / 64));
  const int sign = area > 0 ? 1 : -1;
  int winding = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const cv::Point2f& a = poly[i];
    const cv::Point2f& b = poly[i + 1 < n ? i + 1 : 0];
    const int o = orientation(a, b, c);
    if (o != sign) return false;
    // Crossings of the ray from c to +x: upward edges with c on their left, downward ones with c on their
    // right (all edges have c on the same side).
    if (sign > 0 ? a.y <= c.y && b.y > c.y : a.y > c.y && b.y <= c.y) ++winding;
  }
  return winding == 1;
}

// Which of `points` lie outside the closed polygon `poly` (crossings of a ray to +x; a point on an edge is
// not outside), into `outside` (1 = outside). Edge by edge, so that the common case (an edge beside the
// point's row) is two compares.
void outside_of(const std::vector<cv::Point2f>& poly, const std::vector<cv::Point2f>& points,
                std::vector<uchar>& outside) {
  const std::size_t n = points.size();
  outside.assign(n, 1);
  thread_local std::vector<uchar> on;
  on.assign(n, 0);
  // Only edges beside the points' rows and not wholly left of them can meet their rays.
  float top = std::numeric_limits<float>::infinity();
  float bottom = -top;
  float left = top;
  for (const cv::Point2f& p : points) {
    top = std::min(top, p.y);
    bottom = std::max(bottom, p.y);
    left = std::min(left, p.x);
  }
  const std::size_t m = poly.size();
  for (std::size_t i = 0, j = m - 1; i < m; j = i++) {
    const cv::Point2f& a = poly[j];
    const cv::Point2f& b = poly[i];
    const float lo = std::min(a.y, b.y);
    const float hi = std::max(a.y, b.y);
    if (hi < top || lo > bottom || std::max(a.x, b.x) < left) continue;
    for (std::size_t k = 0; k < n; ++k) {
      const cv::Point2f& p = points[k];
      if (p.y < lo || p.y > hi) continue;
      if ((a.y > p.y) == (b.y > p.y)) {
        // Only a horizontal edge through the point's row, or an end on it, gets here.
        if (a.y == p.y && b.y == p.y && std::min(a.x, b.x) <= p.x && p.x <= std::max(a.x, b.x)) on[k] = 1;
        if (a.y == p.y && a.x == p.x) on[k] = 1;
        continue;
      }
      const int o = orientation(a, b, p);
      if (o == 0) {
        on[k] = 1;
      } else if ((o > 0) == (b.y > a.y)) {
        outside[k] ^= 1;
      }
    }
  }
  for (std::size_t k = 0; k < n; ++k) outside[k] &= static_cast<uchar>(on[k] ^ 1);
}

}  // namespace

std::vector<cv::Point2f> trace_pixel_edges(const cv::Mat& labels, int label, cv::Point first) {
  CV_Assert(labels.type() == CV_32SC1);
  std::vector<cv::Point> q;
  trace_edges<true>(labels, label, first, q);
  std::vector<cv::Point2f> out;
  edges_to_outline(q, false, 4 * (std::max(labels.cols, labels.rows) + 1) < kExactSmoothing, out);
  return out;
}

bool is_simple_polygon(const std::vector<cv::Point2f>& poly, double clearance) {
  const std::size_t n = poly.size();
  if (n < 3) return false;
  double area = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const cv::Point2f& a = poly[i];
    const cv::Point2f& b = poly[i + 1 < n ? i + 1 : 0];
    if (a == b || !std::isfinite(a.x) || !std::isfinite(a.y)) return false;
    area += static_cast<double>(a.x) * b.y - static_cast<double>(a.y) * b.x;
  }
  if (area == 0) return false;
  if (star_shaped(poly, area)) return true;
  // Edges by their left end; each is compared with those starting before its right end (plus the clearance).
  struct Edge {
    float x0, x1, y0, y1;
    cv::Point2f a, b;  // from point i to point i + 1
    int i;
  };
  thread_local std::vector<Edge> edges;
  edges.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const cv::Point2f& a = poly[i];
    const cv::Point2f& b = poly[i + 1 < n ? i + 1 : 0];
    edges[i] = {std::min(a.x, b.x), std::max(a.x, b.x), std::min(a.y, b.y), std::max(a.y, b.y), a, b,
                static_cast<int>(i)};
  }
  std::sort(edges.begin(), edges.end(), [](const Edge& a, const Edge& b) { return a.x0 < b.x0; });
  const auto c = static_cast<float>(clearance);
  const double c2 = clearance * clearance;
  const int last = static_cast<int>(n) - 1;
  for (std::size_t k = 0; k < n; ++k) {
    const Edge& e = edges[k];
    const float reach_x = e.x1 + c;
    for (std::size_t m = k + 1; m < n && edges[m].x0 <= reach_x; ++m) {
      const Edge& f = edges[m];
      if (f.y0 > e.y1 + c || e.y0 > f.y1 + c) continue;
      const int step = f.i - e.i;
      const bool f_after = step == 1 || step == -last;
      if (f_after || step == -1 || step == last) {
        // Neighbours share one point: they must not fold back onto each other.
        const cv::Point2f& from = f_after ? e.a : f.a;
        const cv::Point2f& shared = f_after ? e.b : e.a;
        const cv::Point2f& to = f_after ? f.b : e.b;
        if (orientation(from, shared, to) == 0 &&
            (static_cast<double>(shared.x) - from.x) * (static_cast<double>(to.x) - shared.x) +
                    (static_cast<double>(shared.y) - from.y) * (static_cast<double>(to.y) - shared.y) <
                0) {
          return false;
        }
        continue;
      }
      if (segments_meet(e.a, e.b, f.a, f.b)) return false;
      if (c2 > 0 &&
          std::min({point_segment_distance2(e.a, f.a, f.b), point_segment_distance2(e.b, f.a, f.b),
                    point_segment_distance2(f.a, e.a, e.b), point_segment_distance2(f.b, e.a, e.b)}) < c2) {
        return false;
      }
    }
  }
  return true;
}

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

// Least distance kept between parts of an exported outline that do not meet, in analysis pixels: level-0
// coordinates are floats (1/128 px apart at 2^16 px), and a polygon that passes closer to itself than that
// could run over itself once mapped.
constexpr double kOutlineClearancePx = 1.0 / 32;
// Douglas-Peucker tolerance of exported outlines (px).
constexpr double kOutlineEpsilonPx = 0.4;

std::vector<cv::Point2f> without_repeats(std::vector<cv::Point2f> poly) {
  poly.erase(std::unique(poly.begin(), poly.end()), poly.end());
  while (poly.size() > 1 && poly.front() == poly.back()) poly.pop_back();
  return poly;
}

// Moves the edges of a smoothed and simplified outline `p` of the pixel-edge outline `q` (trace_edges,
// quarter pixels; both clockwise on screen) out or in by the same distance (points along the bisector of
// their edges' normals, by at most twice that distance), so that it covers the pixels' area again: smoothing
// cuts convex corners more than it fills concave ones, and the simplification's chords lie inside convex
// stretches (1-6 % of a nucleus, 0.5-1 % of a cell, together, as measured). Points are rounded to 1/64 px,
// which keeps the simplicity test exact.
void keep_area(const std::vector<cv::Point>& q, std::vector<cv::Point2f>& p) {
  const std::size_t n = p.size();
  if (n < 3 || q.size() < 3) return;
  // Twice the pixel outline's area in sixteenths of a px^2 (from its first point: the terms of the first and
  // last edges vanish).
  std::int64_t twice_q = 0;
  const cv::Point o = q[0];
  for (std::size_t i = 1; i + 1 < q.size(); ++i) {
    const cv::Point a = q[i] - o;
    const cv::Point b = q[i + 1] - o;
    twice_q += std::int64_t{a.x} * b.y - std::int64_t{a.y} * b.x;
  }
  double twice_p = 0;
  double perimeter = 0;
  thread_local std::vector<cv::Point2d> normal;  // of edge i, from point i to i + 1
  normal.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const cv::Point2f& a = p[i];
    const cv::Point2f& b = p[i + 1 < n ? i + 1 : 0];
    twice_p += static_cast<double>(a.x) * b.y - static_cast<double>(a.y) * b.x;
    const double dx = static_cast<double>(b.x) - a.x;
    const double dy = static_cast<double>(b.y) - a.y;
    const double length = std::sqrt(dx * dx + dy * dy);
    perimeter += length;
    // Outward for a clockwise (on screen) outline.
    normal[i] = length > 0 ? cv::Point2d(dy / length, -dx / length) : cv::Point2d(0, 0);
  }
  if (!(perimeter > 0)) return;
  const double shift = (static_cast<double>(twice_q) / 32 - twice_p / 2) / perimeter;
  for (std::size_t i = 0; i < n; ++i) {
    const cv::Point2d& n1 = normal[i == 0 ? n - 1 : i - 1];
    const cv::Point2d& n2 = normal[i];
    // Both edges move by `shift` when the point moves by shift (n1 + n2) / (1 + n1 . n2).
    const double scale = shift / std::max(0.5, 1 + n1.x * n2.x + n1.y * n2.y);
    p[i] = cv::Point2f(static_cast<float>(std::nearbyint((p[i].x + scale * (n1.x + n2.x)) * 64) / 64),
                       static_cast<float>(std::nearbyint((p[i].y + scale * (n1.y + n2.y)) * 64) / 64));
  }
}

// The polygon exported for an object whose pixel-edge outline is `q` (trace_edges, quarter pixels of the
// frame the polygon is wanted in): smoothed when `smooth`, simplified to 0.4 px, and then (smoothed) given
// back the pixels' area (keep_area). Smoothing and simplification can make a narrow part run over itself (a
// one-pixel neck, a slit between two lobes): then the outline is taken without its area kept, or simplified
// without smoothing, and if that runs over itself too, it is the pixel outline's corners, which is simple
// (trace_edges). So the polygon is always simple and covers the pixels outlined (to within the
// simplification's epsilon).
std::vector<cv::Point2f> polygon_from_edges(const std::vector<cv::Point>& q, bool smooth, bool exact) {
  thread_local std::vector<cv::Point2f> outline;
  auto simplified = [&]() {
    return without_repeats(outline.size() < 8 ? outline : approx_closed_polygon(outline, kOutlineEpsilonPx));
  };
  if (smooth) {
    edges_to_outline(q, true, exact, outline);
    std::vector<cv::Point2f> poly = simplified();
    std::vector<cv::Point2f> kept = poly;
    keep_area(q, kept);
    kept = without_repeats(std::move(kept));
    if (is_simple_polygon(kept, kOutlineClearancePx)) return kept;
    if (is_simple_polygon(poly, kOutlineClearancePx)) return poly;
  }
  edges_to_outline(q, false, exact, outline);
  std::vector<cv::Point2f> poly = simplified();
  if (is_simple_polygon(poly, kOutlineClearancePx)) return poly;
  return corners_of(outline);
}

// The points of `inner` outside `outer` moved onto the nearest point of outer's border; unchanged if that
// would make `inner` run over itself.
void pull_inside(std::vector<cv::Point2f>& inner, const std::vector<cv::Point2f>& outer) {
  thread_local std::vector<uchar> outside;
  outside_of(outer, inner, outside);
  if (std::find(outside.begin(), outside.end(), uchar{1}) == outside.end()) return;
  std::vector<cv::Point2f> moved = inner;
  bool any = false;
  for (std::size_t k = 0; k < moved.size(); ++k) {
    if (!outside[k]) continue;
    cv::Point2f& v = moved[k];
    double best = std::numeric_limits<double>::infinity();
    cv::Point2f to = v;
    for (std::size_t i = 0; i < outer.size(); ++i) {
      const cv::Point2f& a = outer[i];
      const cv::Point2f& b = outer[i + 1 < outer.size() ? i + 1 : 0];
      const double dx = static_cast<double>(b.x) - a.x;
      const double dy = static_cast<double>(b.y) - a.y;
      const double t = nearest_on_segment(v, a, b);
      const cv::Point2f q(static_cast<float>(a.x + t * dx), static_cast<float>(a.y + t * dy));
      const double ex = static_cast<double>(q.x) - v.x;
      const double ey = static_cast<double>(q.y) - v.y;
      const double d = ex * ex + ey * ey;
      if (d < best) {
        best = d;
        to = q;
      }
    }
    v = to;
    any = true;
  }
  if (!any) return;
  moved = without_repeats(std::move(moved));
  if (is_simple_polygon(moved, kOutlineClearancePx)) inner = std::move(moved);
}

// One 8-connected piece of a label: its pixel count and first pixel in raster order.
struct Piece {
  int area = 0;
  cv::Point first;
};

// The pixels of `label` in box b of `labels` by 8-connected piece: `pieces` (CV_32S, b with a free 1 px frame
// of 0) numbers them 1.. in raster order of their first pixels (framed coordinates), described by `out`.
void pieces_in_box(const cv::Mat& labels, int label, const cv::Rect& b, cv::Mat& pieces,
                   std::vector<Piece>& out) {
  pieces.create(b.height + 2, b.width + 2, CV_32S);
  pieces.setTo(0);
  for (int y = 0; y < b.height; ++y) {
    const int* l = labels.ptr<int>(y + b.y) + b.x;
    int* o = pieces.ptr<int>(y + 1) + 1;
    for (int x = 0; x < b.width; ++x) o[x] = l[x] == label ? -1 : 0;  // -1: not numbered yet
  }
  out.clear();
  const int step = static_cast<int>(pieces.step1());
  int* base = pieces.ptr<int>(0);
  const int offsets[8] = {-step - 1, -step, -step + 1, -1, 1, step - 1, step, step + 1};
  thread_local std::vector<int> stack;
  for (int y = 1; y <= b.height; ++y) {
    for (int x = 1; x <= b.width; ++x) {
      if (base[y * step + x] != -1) continue;
      const int k = static_cast<int>(out.size()) + 1;
      out.push_back({0, cv::Point(x, y)});
      base[y * step + x] = k;
      stack.assign(1, y * step + x);
      while (!stack.empty()) {
        const int i = stack.back();
        stack.pop_back();
        ++out.back().area;
        for (const int o : offsets) {
          if (base[i + o] == -1) {
            base[i + o] = k;
            stack.push_back(i + o);
          }
        }
      }
    }
  }
}

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
    // Kept when the centroid lies on `keep`'s pixels: pixel i covers [i - 0.5, i + 0.5) here, so
    // keep.x - 0.5 <= sx / cnt < keep.x + keep.width - 0.5, tested on the integer sums (exact, and the same
    // decision in every tile's frame: tiles own the cells of their core with neither gaps nor twins).
    const auto in_keep = [&](std::int64_t sum, std::int64_t k0, std::int64_t k1) {
      return 2 * sum + cnt[c] >= 2 * k0 * cnt[c] && 2 * sum + cnt[c] < 2 * k1 * cnt[c];
    };
    if (!keep.empty() &&
        !(in_keep(sx[c], keep.x, keep.x + keep.width) && in_keep(sy[c], keep.y, keep.y + keep.height))) {
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
  thread_local std::vector<cv::Point> nucleus_edges, cell_edges;
  cv::Mat local_pieces;
  std::vector<Piece> local_piece_list;
  const bool exact_smoothing = w < kExactSmoothing && h < kExactSmoothing;
  // Pixel-edge outlines are in quarter pixels, the origin added (corners reach one past the last pixel).
  const bool exact_edges =
      4 * (std::max(w, h) + std::max(std::abs(origin.x), std::abs(origin.y)) + 1) < kExactSmoothing;
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
    // Exported outlines, along pixel edges: a polygon covers its pixels (its area is the area column's)
    // and never runs over itself (polygon_from_edges). An object in several 8-connected pieces is outlined by
    // one of them: the nucleus by its largest (the first in raster order of equal ones), the cell by the
    // piece that holds it (else its own largest), so both outlines lie around the same nucleus.
    auto edge_outline = [&](const cv::Mat& labels, const Extent& e, int pieces, cv::Point& at,
                            std::vector<cv::Point>& edges) {
      edges.clear();
      if (pieces == 1) {
        at = cv::Point(e.first % w, e.first / w);
        if (e.x0 > 0 && e.y0 > 0 && e.x1 + 1 < w && e.y1 + 1 < h) {
          trace_edges<false>(labels, static_cast<int>(c), at, edges);
        } else {
          trace_edges<true>(labels, static_cast<int>(c), at, edges);
        }
      } else {
        const cv::Rect eb(e.x0, e.y0, e.x1 - e.x0 + 1, e.y1 - e.y0 + 1);
        pieces_in_box(labels, static_cast<int>(c), eb, local_pieces, local_piece_list);
        // The piece holding `at` (tile pixel; none when outside the box), else the largest (the first of
        // equal ones).
        const cv::Point in_box = at - eb.tl() + cv::Point(1, 1);
        int k = in_box.x >= 1 && in_box.y >= 1 && in_box.x <= eb.width && in_box.y <= eb.height
                    ? local_pieces.at<int>(in_box)
                    : 0;
        if (k == 0) {
          int best_area = 0;
          for (std::size_t j = 0; j < local_piece_list.size(); ++j) {
            if (local_piece_list[j].area > best_area) {
              best_area = local_piece_list[j].area;
              k = static_cast<int>(j) + 1;
            }
          }
        }
        const cv::Point first = local_piece_list[static_cast<std::size_t>(k) - 1].first;
        trace_edges<false>(local_pieces, k, first, edges);
        const cv::Point shift = 4 * (eb.tl() - cv::Point(1, 1));
        for (cv::Point& q : edges) q += shift;
        at = first + eb.tl() - cv::Point(1, 1);
      }
      if (origin != cv::Point()) {
        for (cv::Point& q : edges) q += 4 * origin;
      }
    };
    cv::Point nucleus_at(-1, -1);
    edge_outline(nucleus_labels, ne, nucleus_pieces.pieces(c), nucleus_at, nucleus_edges);
    cell.nucleus = polygon_from_edges(nucleus_edges, p.smooth_boundaries, exact_edges);
    if (ce.first < 0) {
      cell.boundary.clear();
    } else {
      cv::Point cell_at = nucleus_at;
      edge_outline(g.cell_labels, ce, cell_pieces.pieces(c), cell_at, cell_edges);
      cell.boundary = polygon_from_edges(cell_edges, p.smooth_boundaries, exact_edges);
      // The nucleus's pixels lie in the cell's, but where the two outlines run together each simplification
      // cuts its own chords (up to 0.4 px either way): nucleus points outside the cell go onto its border.
      pull_inside(cell.nucleus, cell.boundary);
    }
    // Nucleus: Circularity and the seam outline, from the smoothed outline through the border pixels' centres
    // (of the largest piece), as before the outlines went along pixel edges.
    // The nucleus was cut to the cell's box: the same as the whole nucleus when all of it lies in the cell.
    const bool whole_nucleus_in_cell = a.n[0] == cnt[c];
    if (nucleus_pieces.pieces(c) == 1 && whole_nucleus_in_cell) {
      trace(nucleus_labels, ne);
    } else {
      border = box_contour(nucleus_labels);
    }
    smooth();
    const double circularity = circularity_of(smoothed);
    if (!keep.empty()) {
      const int size = std::max(ne.x1 - ne.x0, ne.y1 - ne.y0) + 1;
      const int margin = 3 * size + 8;
      if (ne.x0 - margin < keep.x || ne.y0 - margin < keep.y || ne.x1 + margin >= keep.x + keep.width ||
          ne.y1 + margin >= keep.y + keep.height) {
        cell.seam_nucleus = smoothed.size() < 8 ? smoothed : approx_closed_polygon(smoothed, 0.4);
      }
    }

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
