#include "imaging/nucleus_detection.hpp"

#include <algorithm>
#include <cfloat>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <opencv2/core/hal/intrin.hpp>
#include <opencv2/imgproc.hpp>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "imaging/gaussian.hpp"

namespace ihc {
namespace {

// Where row y of a plane `step` elements wide starts, computed in pointer width.
constexpr std::ptrdiff_t row_offset(int y, int step) { return static_cast<std::ptrdiff_t>(y) * step; }

cv::Mat median_filter(const cv::Mat& image, double radius_px) {
  const int k = 2 * static_cast<int>(std::lround(radius_px)) + 1;
  cv::Mat out;
  if (k <= 1) return image.clone();
  if (k <= 5) {
    cv::medianBlur(image, out, k);
    return out;
  }
  // OpenCV's large-kernel median is 8-bit only; 0.01 OD steps are far below what the eye or a threshold sees.
  constexpr double kStep = 0.01;
  cv::Mat q;
  image.convertTo(q, CV_8U, 1.0 / kStep);
  cv::medianBlur(q, q, k);
  q.convertTo(out, CV_32F, kStep);
  return out;
}

// The ridge test's second look (NucleusParamsPx::ridge_close_px) is for candidates at least this many times
// bluer (detection/DAB ratio) than the brown pixels around them. With it a synthetic OD-sum 3+ honeycomb
// gives no junction nuclei; without it, 195 (tests/imaging/test_cell_detection).
constexpr double kTextureRescueRatio = 1.5;

struct Component {
  int x0 = 0, y0 = 0, x1 = -1, y1 = -1;  // bounding box, inclusive
  int area = 0;
  double sum = 0.0;           // background-subtracted OD
  double sum_smoothed = 0.0;  // before the ridge-suppressing opening
  double sum_opened = 0.0;    // after it
  double sum_raw = 0.0;       // detection image as given (no background subtraction)
  double sum_dab = 0.0;       // DAB OD, when the crosstalk guard is on
  bool on_bad_background = false;
};

// A horizontal run of pixels (x1 inclusive) in a union-find over runs: candidate regions (image coordinates),
// pieces of an outline (framed-box coordinates) and the gaps between them (sub-box coordinates).
struct Run {
  int y = 0, x0 = 0, x1 = 0;
  int parent = 0;
  bool seed = false;        // outline piece: holds a pixel of the candidate; gap: touches the ring
  bool in_outline = false;  // outline piece: its component holds a seed
};

// Adds run `r`'s detection-image and DAB OD to the candidate's colour sums (the crosstalk guard's input).
void add_colour_sums(const cv::Mat& detection, const cv::Mat& dab, const Run& r, Component& cp) {
  const float* dv = detection.ptr<float>(r.y);
  const float* bv = dab.ptr<float>(r.y);
  for (int x = r.x0; x <= r.x1; ++x) {
    cp.sum_raw += dv[x];
    cp.sum_dab += bv[x];
  }
}

// Buffers reused across candidates and calls (one set per worker thread): per-candidate OpenCV calls on
// small boxes cost more in allocation and dispatch than in pixels.
struct CandidateScratch {
  std::vector<Run> runs;
  std::vector<Run> gaps;   // between outline runs, for hole filling
  std::vector<uchar> sub;  // the outline on its bounding box plus a 1 px ring (the "sub-box")
  std::vector<uchar> mark;
  std::vector<uchar> allow_row;  // outline_runs: one row of the box
  std::vector<int> stack;
  std::vector<float> chamfer_f;  // fixed-point distances (as integer-valued floats) with a 2 px border
  std::vector<float> chamfer_pre_f;
  std::vector<int> chamfer;  // the same as int, for boxes too large for floats
  std::vector<int> chamfer_pre;
  std::vector<float> dist;  // sub-box
  std::vector<float> rec;   // sub-box + 1 px -inf pad: h-maxima transform of dist
  std::vector<float> rec2;  // same layout: reconstruction of rec - eps under rec
  std::vector<int> parts;   // sub-box + 1 px pad: -1 outside the outline, part number inside
  std::vector<int> comp_key;
  std::vector<int> comp_rank;
  std::vector<int> level;  // flood level per pixel, layout of parts
  std::vector<std::vector<int>> buckets;
  std::vector<int> area;
  std::vector<double> sum;
  std::vector<int> final_label;
  cv::Mat texture_a, texture_b;  // textured_nucleus: the candidate's box
};

// cv::distanceTransform(DIST_L2, DIST_MASK_5) computes in 16.16 fixed point with these weights; doing the
// same here gives bit-identical distances without its per-call allocations.
constexpr int kDistShift = 16;
const int kHvDist = cvRound(1.0f * (1 << kDistShift));
const int kDiagDist = cvRound(1.4f * (1 << kDistShift));
const int kLongDist = cvRound(2.1969f * (1 << kDistShift));

// pre[x] = the smallest chamfer step onto pixel x of row `r` from the rows `dir` and 2 * `dir` away (already
// final in that pass): the part of each pass that does not depend on the same row, so floats run 4 pixels at
// a time.
template <class T>
void chamfer_from_rows(const T* r, int step, int dir, int w, T* pre) {
  const T* r1 = r + dir * step;
  const T* r2 = r + 2 * dir * step;
  const auto hv = static_cast<T>(kHvDist);
  const auto diag = static_cast<T>(kDiagDist);
  const auto lng = static_cast<T>(kLongDist);
  int x = 0;
#if CV_SIMD128
  if constexpr (std::is_same_v<T, float>) {
    const cv::v_float32x4 vhv = cv::v_setall_f32(hv);
    const cv::v_float32x4 vdiag = cv::v_setall_f32(diag);
    const cv::v_float32x4 vlng = cv::v_setall_f32(lng);
    for (; x + 4 <= w; x += 4) {
      cv::v_float32x4 v = cv::v_min(cv::v_load(r2 + x - 1), cv::v_load(r2 + x + 1)) + vlng;
      v = cv::v_min(v, cv::v_min(cv::v_load(r1 + x - 2), cv::v_load(r1 + x + 2)) + vlng);
      v = cv::v_min(v, cv::v_min(cv::v_load(r1 + x - 1), cv::v_load(r1 + x + 1)) + vdiag);
      v = cv::v_min(v, cv::v_load(r1 + x) + vhv);
      cv::v_store(pre + x, v);
    }
  }
#endif
  for (; x < w; ++x) {
    T v = std::min(r2[x - 1], r2[x + 1]) + lng;
    v = std::min(v, std::min(r1[x - 2], r1[x + 2]) + lng);
    v = std::min(v, std::min(r1[x - 1], r1[x + 1]) + diag);
    pre[x] = std::min(v, r1[x] + hv);
  }
}

template <class T>
void chamfer_passes(const uchar* mask, int w, int h, float* dist, std::vector<T>& buf,
                    std::vector<T>& pre_buf, T far) {
  const int step = w + 4;
  buf.assign(static_cast<std::size_t>(step) * static_cast<std::size_t>(h + 4), far);
  pre_buf.resize(static_cast<std::size_t>(w));
  T* pre = pre_buf.data();
  T* t = buf.data() + 2 * step + 2;
  const auto hv = static_cast<T>(kHvDist);
  for (int y = 0; y < h; ++y) {
    T* r = t + y * step;
    const uchar* m = mask + row_offset(y, w);
    chamfer_from_rows(r, step, -1, w, pre);
    T left = r[-1];
    int x = 0;
#if CV_SIMD128
    if constexpr (std::is_same_v<T, float>) {
      // The recurrence as a min-plus prefix scan, 4 pixels at a time: left[x] = min over j <= x of
      // v[j] + (x - j) hv (v = pre, or 0 off the mask), and the carry + (k + 1) hv. Sums of integer-valued
      // floats below 2^24 are exact (1e30 + a step stays 1e30), and rounding is monotone, so regrouping the
      // additions and minima gives the same values as the scalar loop.
      const cv::v_float32x4 inf = cv::v_setall_f32(std::numeric_limits<float>::infinity());
      const cv::v_float32x4 zero = cv::v_setzero_f32();
      const cv::v_float32x4 hv1 = cv::v_setall_f32(hv);
      const cv::v_float32x4 hv2 = cv::v_setall_f32(2 * hv);
      const cv::v_float32x4 ramp(hv, 2 * hv, 3 * hv, 4 * hv);
      cv::v_float32x4 carry = cv::v_setall_f32(left);
      for (; x + 4 <= w; x += 4) {
        const cv::v_uint32x4 on = cv::v_load_expand_q(m + x) != cv::v_setzero_u32();
        cv::v_float32x4 v = cv::v_select(cv::v_reinterpret_as_f32(on), cv::v_load(pre + x), zero);
        v = cv::v_min(v, cv::v_rotate_left<1>(v, inf) + hv1);
        v = cv::v_min(v, cv::v_rotate_left<2>(v, inf) + hv2);
        v = cv::v_min(v, carry + ramp);
        cv::v_store(r + x, v);
        carry = cv::v_broadcast_element<3>(v);
      }
      if (x > 0) left = r[x - 1];
    }
#endif
    for (; x < w; ++x) {
      left = m[x] ? std::min(pre[x], left + hv) : T(0);
      r[x] = left;
    }
  }
  const float scale = 1.f / (1 << kDistShift);
  for (int y = h - 1; y >= 0; --y) {
    T* r = t + y * step;
    float* d = dist + row_offset(y, w);
    chamfer_from_rows(r, step, 1, w, pre);
    T right = r[w];
    int x = w - 1;
    for (; x >= 0 && (x + 1) % 4 != 0; --x) {  // the last w % 4 pixels, so blocks of 4 start at 0
      right = std::min(std::min(r[x], pre[x]), right + hv);
      r[x] = right;
      d[x] = static_cast<float>(right) * scale;
    }
#if CV_SIMD128
    if constexpr (std::is_same_v<T, float>) {
      // The mirrored scan (see the forward pass), blocks of 4 from the right.
      const cv::v_float32x4 inf = cv::v_setall_f32(std::numeric_limits<float>::infinity());
      const cv::v_float32x4 hv1 = cv::v_setall_f32(hv);
      const cv::v_float32x4 hv2 = cv::v_setall_f32(2 * hv);
      const cv::v_float32x4 ramp(4 * hv, 3 * hv, 2 * hv, hv);
      const cv::v_float32x4 vscale = cv::v_setall_f32(scale);
      cv::v_float32x4 carry = cv::v_setall_f32(right);
      for (; x >= 3; x -= 4) {
        const int x0 = x - 3;
        cv::v_float32x4 v = cv::v_min(cv::v_load(r + x0), cv::v_load(pre + x0));
        v = cv::v_min(v, cv::v_rotate_right<1>(v, inf) + hv1);
        v = cv::v_min(v, cv::v_rotate_right<2>(v, inf) + hv2);
        v = cv::v_min(v, carry + ramp);
        cv::v_store(r + x0, v);
        cv::v_store(d + x0, v * vscale);
        carry = cv::v_broadcast_element<0>(v);
      }
      if (x < w - 1) right = r[x + 1];
    }
#endif
    for (; x >= 0; --x) {
      right = std::min(std::min(r[x], pre[x]), right + hv);
      r[x] = right;
      d[x] = static_cast<float>(right) * scale;
    }
  }
}

// Chamfer (5x5) distance to the nearest zero of `mask` (w x h, zero frame), as cv::distanceTransform: minima
// of the same integer sums, so the order of the terms does not matter. Floats hold those integers exactly
// below 2^24, i.e. while no distance or step onto it exceeds 200 px.
void chamfer_distance(const uchar* mask, int w, int h, float* dist, CandidateScratch& s) {
  if (std::max(w, h) <= 200) {
    chamfer_passes(mask, w, h, dist, s.chamfer_f, s.chamfer_pre_f, 1e30f);  // 1e30: never the nearest
  } else {
    chamfer_passes(mask, w, h, dist, s.chamfer, s.chamfer_pre, 1 << 30);
  }
}

// The candidate mask (Laplacian(s) < 0) & (s > floor), 255/0, without a Laplacian plane. cv::Laplacian(s,
// CV_32F, 1, 1, 0, BORDER_REPLICATE) is filter2D with {0 1 0; 1 -4 1; 0 1 0}: it adds the nonzero taps in
// kernel order (top, left, -4 x centre, right, bottom) to 0, one rounding per step, and those products are
// exact, so these sums are bit-identical to it (with or without FMA); the MatExpr compare converts `floor` to
// float as here.
void candidate_mask(const cv::Mat& s, float floor, cv::Mat& mask) {
  const int w = s.cols;
  const int h = s.rows;
  mask.create(s.size(), CV_8U);
  auto lap_at = [](float top, float left, float c, float right, float bottom) {
    float acc = 0.0f + top;
    acc += left;
    acc += -4.0f * c;
    acc += right;
    return acc + bottom;
  };
  for (int y = 0; y < h; ++y) {
    const float* row = s.ptr<float>(y);
    const float* up = s.ptr<float>(std::max(y - 1, 0));
    const float* down = s.ptr<float>(std::min(y + 1, h - 1));
    uchar* m = mask.ptr<uchar>(y);
    auto at = [&](int x) {
      const float c = row[x];
      const float lap = lap_at(up[x], row[std::max(x - 1, 0)], c, row[std::min(x + 1, w - 1)], down[x]);
      return static_cast<uchar>(lap < 0.0f && c > floor ? 255 : 0);
    };
    if (w <= 2) {
      for (int x = 0; x < w; ++x) m[x] = at(x);
      continue;
    }
    m[0] = at(0);
    int x = 1;
#if CV_SIMD128
    const cv::v_float32x4 vzero = cv::v_setzero_f32();
    const cv::v_float32x4 vfour = cv::v_setall_f32(-4.0f);
    const cv::v_float32x4 vfloor = cv::v_setall_f32(floor);
    auto quad = [&](int i) {
      const cv::v_float32x4 c = cv::v_load(row + i);
      cv::v_float32x4 acc = vzero + cv::v_load(up + i);
      acc = acc + cv::v_load(row + i - 1);
      acc = acc + vfour * c;
      acc = acc + cv::v_load(row + i + 1);
      acc = acc + cv::v_load(down + i);
      return cv::v_reinterpret_as_s32((acc < vzero) & (c > vfloor));  // -1 / 0
    };
    for (; x + 16 <= w - 1; x += 16) {
      // Signed saturating packs keep -1 as -1 (SSE2 has them natively): bytes 0xFF = 255.
      const cv::v_int16x8 lo = cv::v_pack(quad(x), quad(x + 4));
      const cv::v_int16x8 hi = cv::v_pack(quad(x + 8), quad(x + 12));
      cv::v_store(m + x, cv::v_reinterpret_as_u8(cv::v_pack(lo, hi)));
    }
#endif
    for (; x < w - 1; ++x) m[x] = at(x);
    m[w - 1] = at(w - 1);
  }
}

int find_root(std::vector<Run>& runs, int i) {
  while (runs[static_cast<std::size_t>(i)].parent != i) {
    Run& r = runs[static_cast<std::size_t>(i)];
    r.parent = runs[static_cast<std::size_t>(r.parent)].parent;
    i = r.parent;
  }
  return i;
}

// Unites each run of the current row (from cur_begin) with the runs of the row above ([prev_begin, prev_end))
// that touch it in 8-connectivity; runs of a row are sorted by x.
void join_with_row_above(std::vector<Run>& runs, int prev_begin, int prev_end, int cur_begin) {
  int j = prev_begin;
  for (int i = cur_begin; i < static_cast<int>(runs.size()); ++i) {
    const int x0 = runs[static_cast<std::size_t>(i)].x0;
    const int x1 = runs[static_cast<std::size_t>(i)].x1;
    while (j < prev_end && runs[static_cast<std::size_t>(j)].x1 < x0 - 1) ++j;
    for (int k = j; k < prev_end && runs[static_cast<std::size_t>(k)].x0 <= x1 + 1; ++k) {
      const int ra = find_root(runs, i);
      const int rb = find_root(runs, k);
      if (ra != rb) runs[static_cast<std::size_t>(std::max(ra, rb))].parent = std::min(ra, rb);
    }
  }
}

// First x >= `x` in [x, end) where m[x] != value (end if none); 8 bytes at a time over long stretches.
int skip_while(const uchar* m, int x, int end, uchar value) {
  const std::uint64_t word = value ? ~std::uint64_t{0} : 0;
  for (; x + 8 <= end; x += 8) {
    std::uint64_t v;
    std::memcpy(&v, m + x, sizeof v);
    // Little-endian: the lowest differing byte is the first pixel that differs.
    if (v != word) return x + __builtin_ctzll(v ^ word) / 8;
  }
  while (x < end && m[x] == value) ++x;
  return x;
}

// 8-connected components of `mask` (CV_8U, 0 or 255) as runs (image coordinates, x1 inclusive, raster order)
// joined by union-find. Numbered as cv::connectedComponents numbers them (its block-based scan gives each
// component the rank of its first 2 x 2 block in raster order), so candidates keep their order. No label
// image: the candidate loop reads the mask (a quarter of the bytes) and each candidate's own runs instead.
// Returns the number of labels including the background.
// Work vectors of label_runs, kept per thread (tens of thousands of runs per tile).
struct LabelScratch {
  std::vector<long long> key;
  std::vector<std::pair<long long, int>> roots;
  std::vector<int> root_label;
};

int label_runs(const cv::Mat& mask, std::vector<Run>& runs, std::vector<int>& run_label, LabelScratch& s) {
  runs.clear();
  int prev_begin = 0;
  int prev_end = 0;
  for (int y = 0; y < mask.rows; ++y) {
    const uchar* m = mask.ptr<uchar>(y);
    const int cur_begin = static_cast<int>(runs.size());
    int x = 0;
    while (x < mask.cols) {
      x = skip_while(m, x, mask.cols, 0);
      if (x == mask.cols) break;
      Run r;
      r.y = y;
      r.x0 = x;
      x = skip_while(m, x, mask.cols, 255);
      r.x1 = x - 1;
      r.parent = static_cast<int>(runs.size());
      runs.push_back(r);
    }
    join_with_row_above(runs, prev_begin, prev_end, cur_begin);
    prev_begin = cur_begin;
    prev_end = static_cast<int>(runs.size());
  }
  // A run's first block is the one of its first pixel; a component's is the smallest over its runs.
  const long long block_cols = (mask.cols + 1) / 2;
  std::vector<long long>& key = s.key;
  key.assign(runs.size(), -1);
  std::vector<std::pair<long long, int>>& roots = s.roots;
  roots.clear();
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const auto root = static_cast<std::size_t>(find_root(runs, static_cast<int>(i)));
    const long long k = (runs[i].y / 2) * block_cols + runs[i].x0 / 2;
    if (key[root] < 0 || k < key[root]) key[root] = k;
  }
  for (std::size_t i = 0; i < runs.size(); ++i) {
    if (runs[i].parent == static_cast<int>(i)) roots.emplace_back(key[i], static_cast<int>(i));
  }
  std::sort(roots.begin(), roots.end());
  std::vector<int>& root_label = s.root_label;
  root_label.assign(runs.size(), 0);
  for (std::size_t k = 0; k < roots.size(); ++k) {
    root_label[static_cast<std::size_t>(roots[k].second)] = static_cast<int>(k) + 1;
  }
  run_label.resize(runs.size());
  for (std::size_t i = 0; i < runs.size(); ++i) {
    run_label[i] = root_label[static_cast<std::size_t>(find_root(runs, static_cast<int>(i)))];
  }
  return static_cast<int>(roots.size()) + 1;
}

// Prefetches the cache lines of [p, p + bytes) (rw 1: for writing).
template <int rw>
inline void prefetch_span(const void* p, std::size_t bytes) {
  const auto* c = static_cast<const char*>(p);
  const auto a = reinterpret_cast<std::uintptr_t>(c) & 63;
  for (const char* q = c - a; q < c + bytes; q += 64) __builtin_prefetch(q, rw, 3);
}
constexpr int kAheadRows = 4;

// The outline of a candidate: the 8-connected pieces of {opened >= level} outside other candidates, inside
// `box`, that hold a pixel of it; as runs (in_outline set) with their bounding box (framed-box coordinates,
// bx1 = -1 when empty). Union-find over runs replaces a pixel flood. `candidates` is the candidate mask
// (0/255), given back as it came (own pixels are 0 while this runs); the candidate's own pixels are its runs
// own[0 .. n_own) (image coordinates, raster order, inside the box).
void outline_runs(cv::Mat& candidates, const cv::Mat& opened, const cv::Rect& box, const Run* own, int n_own,
                  float level, const cv::Mat& t, cv::Mat& labels, CandidateScratch& s, int& bx0, int& by0,
                  int& bx1, int& by1) {
  std::vector<Run>& runs = s.runs;
  runs.clear();
  int prev_begin = 0;
  int prev_end = 0;
  // Per row, allowed pixels as 0/255 bytes (branch-free), then runs of them.
  const int bw = box.width;
  s.allow_row.resize(static_cast<std::size_t>(bw));
  uchar* allow = s.allow_row.data();
  // The candidate's own pixels are cleared in the mask meanwhile, so the row test allows them where not
  // below the level (patching them per pixel after the row test took 2.6 M instructions per 1024 px tile).
  for (int i = 0; i < n_own; ++i)
    std::memset(candidates.ptr<uchar>(own[i].y) + own[i].x0, 0, own[i].x1 - own[i].x0 + 1);
  int k = 0;  // next own run
  for (int y = 0; y < box.height; ++y) {
    const uchar* cm = candidates.ptr<uchar>(y + box.y) + box.x;
    const float* ov = opened.ptr<float>(y + box.y) + box.x;
    // Rows a plane's stride apart defeat the hardware prefetchers: fetch this box's rows a few rows ahead,
    // and the rows of `t` and `labels` that the sums and the label writes read next (without these two,
    // bench_nuclei measured no faster).
    if (y + kAheadRows < box.height) {
      prefetch_span<0>(ov + kAheadRows * opened.step1(), bw * sizeof(float));
      prefetch_span<0>(cm + kAheadRows * candidates.step1(), bw);
    }
    prefetch_span<0>(t.ptr<float>(y + box.y) + box.x, bw * sizeof(float));
    prefetch_span<1>(labels.ptr<int>(y + box.y) + box.x, bw * sizeof(int));
    int x = 0;
#if CV_SIMD128
    const cv::v_float32x4 vlevel = cv::v_setall_f32(level);
    const cv::v_uint32x4 vzero = cv::v_setzero_u32();
    for (; x + 8 <= bw; x += 8) {
      // Not below the level (as the negated test, so NaN counts as allowed like before) and no candidate.
      const cv::v_int32x4 a0 = cv::v_reinterpret_as_s32(~(cv::v_load(ov + x) < vlevel)) &
                               cv::v_reinterpret_as_s32(cv::v_load_expand_q(cm + x) == vzero);
      const cv::v_int32x4 a1 = cv::v_reinterpret_as_s32(~(cv::v_load(ov + x + 4) < vlevel)) &
                               cv::v_reinterpret_as_s32(cv::v_load_expand_q(cm + x + 4) == vzero);
      cv::v_pack_store(reinterpret_cast<schar*>(allow + x), cv::v_pack(a0, a1));
    }
#endif
    for (; x < bw; ++x) allow[x] = !(ov[x] < level) && cm[x] == 0 ? 255 : 0;
    const int own_begin = k;
    while (k < n_own && own[k].y == y + box.y) ++k;
    const int own_end = k;
    const int cur_begin = static_cast<int>(runs.size());
    x = 0;
    while (x < bw) {
      x = skip_while(allow, x, bw, 0);
      if (x == bw) break;
      Run r;
      r.y = y + 1;
      r.x0 = x + 1;
      const int end = skip_while(allow, x, bw, 255);
      // A stretch of allowed pixels holds an own pixel when an own run overlaps it.
      for (int j = own_begin; j < own_end && !r.seed; ++j) {
        r.seed = own[j].x0 - box.x < end && own[j].x1 - box.x >= x;
      }
      x = end;
      r.x1 = x;  // last allowed pixel x - 1, framed
      r.parent = static_cast<int>(runs.size());
      runs.push_back(r);
    }
    join_with_row_above(runs, prev_begin, prev_end, cur_begin);
    prev_begin = cur_begin;
    prev_end = static_cast<int>(runs.size());
  }
  for (int i = 0; i < n_own; ++i)
    std::memset(candidates.ptr<uchar>(own[i].y) + own[i].x0, 255, own[i].x1 - own[i].x0 + 1);
  for (std::size_t i = 0; i < runs.size(); ++i) {
    if (runs[i].seed) runs[static_cast<std::size_t>(find_root(runs, static_cast<int>(i)))].in_outline = true;
  }
  bx0 = INT_MAX;
  by0 = INT_MAX;
  bx1 = -1;
  by1 = -1;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    Run& r = runs[i];
    r.in_outline = runs[static_cast<std::size_t>(find_root(runs, static_cast<int>(i)))].in_outline;
    if (!r.in_outline) continue;
    bx0 = std::min(bx0, r.x0);
    bx1 = std::max(bx1, r.x1);
    by0 = std::min(by0, r.y);
    by1 = std::max(by1, r.y);
  }
}

// Fills the holes of the outline drawn from `runs` into `sub` (sw x sh at (sx0, sy0), a ring of
// non-outline pixels around it): gaps between the outline runs of a row that are not 4-connected, through
// the gaps of the rows above and below, to the ring. A row's first and last gaps touch the ring.
void fill_holes(const std::vector<Run>& runs, int sx0, int sy0, int sw, int sh, uchar* sub,
                CandidateScratch& s) {
  std::vector<Run>& gaps = s.gaps;  // Run reused: seed = touches the ring
  gaps.clear();
  std::size_t ri = 0;
  int prev_begin = 0;
  int prev_end = 0;
  for (int y = 0; y < sh; ++y) {
    const int fy = y + sy0;
    const int cur_begin = static_cast<int>(gaps.size());
    int x = 0;  // start of the next gap
    auto add_gap = [&](int x0, int x1, bool ring) {
      Run g;
      g.y = y;
      g.x0 = x0;
      g.x1 = x1;
      g.seed = ring;
      g.parent = static_cast<int>(gaps.size());
      gaps.push_back(g);
    };
    while (ri < runs.size() && runs[ri].y < fy) ++ri;
    for (; ri < runs.size() && runs[ri].y == fy; ++ri) {
      if (!runs[ri].in_outline) continue;
      const int a = runs[ri].x0 - sx0;
      if (a > x) add_gap(x, a - 1, x == 0);
      x = runs[ri].x1 - sx0 + 1;
    }
    if (x < sw) add_gap(x, sw - 1, true);
    if (y == 0 || y == sh - 1) {
      for (int i = cur_begin; i < static_cast<int>(gaps.size()); ++i)
        gaps[static_cast<std::size_t>(i)].seed = true;
    }
    int j = prev_begin;
    for (int i = cur_begin; i < static_cast<int>(gaps.size()); ++i) {
      const int x0 = gaps[static_cast<std::size_t>(i)].x0;
      const int x1 = gaps[static_cast<std::size_t>(i)].x1;
      while (j < prev_end && gaps[static_cast<std::size_t>(j)].x1 < x0) ++j;
      for (int k = j; k < prev_end && gaps[static_cast<std::size_t>(k)].x0 <= x1; ++k) {
        const int ra = find_root(gaps, i);
        const int rb = find_root(gaps, k);
        if (ra != rb) {
          const bool ring =
              gaps[static_cast<std::size_t>(ra)].seed || gaps[static_cast<std::size_t>(rb)].seed;
          gaps[static_cast<std::size_t>(std::max(ra, rb))].parent = std::min(ra, rb);
          gaps[static_cast<std::size_t>(std::min(ra, rb))].seed = ring;
        }
      }
    }
    prev_begin = cur_begin;
    prev_end = static_cast<int>(gaps.size());
  }
  for (std::size_t i = 0; i < gaps.size(); ++i) {
    const Run& g = gaps[i];
    if (g.seed || gaps[static_cast<std::size_t>(find_root(gaps, static_cast<int>(i)))].seed) continue;
    std::fill_n(sub + row_offset(g.y, sw) + g.x0, g.x1 - g.x0 + 1, uchar{255});
  }
}

// Number of regional maxima (plateaus without a higher 8-neighbour) of `dist` inside `local`, counted up
// to 2.
int count_regional_maxima(const float* f, const uchar* local, int w, int h, CandidateScratch& s) {
  const int n = h * w;
  const int off[8] = {-w - 1, -w, -w + 1, -1, 1, w - 1, w, w + 1};
  // 1: a strictly higher 8-neighbour (no plateau is started there), 2: visited. The frame is outside the
  // nucleus (distance 0), so interior pixels never index outside the box.
  s.mark.assign(static_cast<std::size_t>(n), 0);
  uchar* mark = s.mark.data();
  for (int y = 1; y < h - 1; ++y) {
    const float* up = f + row_offset(y - 1, w);
    const float* row = f + row_offset(y, w);
    const float* down = f + row_offset(y + 1, w);
    uchar* m = mark + row_offset(y, w);
    int x = 1;
#if CV_SIMD128
    for (; x + 4 <= w - 1; x += 4) {
      const cv::v_float32x4 a = cv::v_max(cv::v_max(cv::v_load(up + x - 1), cv::v_load(up + x)),
                                          cv::v_max(cv::v_load(up + x + 1), cv::v_load(row + x - 1)));
      const cv::v_float32x4 b = cv::v_max(cv::v_max(cv::v_load(row + x + 1), cv::v_load(down + x - 1)),
                                          cv::v_max(cv::v_load(down + x), cv::v_load(down + x + 1)));
      const int bits = cv::v_signmask(cv::v_max(a, b) > cv::v_load(row + x));
      // Bit i to byte i (0 or 1) of a word: the 4 marks in one store.
      const std::uint32_t bytes = (static_cast<std::uint32_t>(bits) * 0x00204081u) & 0x01010101u;
      std::memcpy(m + x, &bytes, sizeof bytes);
    }
#endif
    for (; x < w - 1; ++x) {
      const float a = std::max(std::max(up[x - 1], up[x]), std::max(up[x + 1], row[x - 1]));
      const float b = std::max(std::max(row[x + 1], down[x - 1]), std::max(down[x], down[x + 1]));
      m[x] = std::max(a, b) > row[x] ? 1 : 0;
    }
  }
  int count = 0;
  const int end = n - w - 1;
  for (int i = w + 1; i < end; ++i) {
    if (i + 8 <= end) {
      // 8 pixels at a time to the next one inside the outline and not marked (marks are 0, 1 or 2).
      std::uint64_t in, mk;
      std::memcpy(&in, local + i, sizeof in);
      std::memcpy(&mk, mark + i, sizeof mk);
      const std::uint64_t marked = ((mk | mk >> 1) & 0x0101010101010101ull) * 0xFF;
      const std::uint64_t open = in & ~marked;
      if (open == 0) {
        i += 7;
        continue;
      }
      i += __builtin_ctzll(open) / 8;
    }
    if (!local[i] || mark[i]) continue;
    // A plateau is a regional maximum when none of its pixels has a higher neighbour.
    const float v = f[i];
    bool higher = false;
    s.stack.clear();
    s.stack.push_back(i);
    mark[i] = 2;
    while (!s.stack.empty()) {
      const int q = s.stack.back();
      s.stack.pop_back();
      for (const int o : off) {
        const int r = q + o;
        if (f[r] == v && local[r] && mark[r] != 2) {
          higher |= mark[r] == 1;
          mark[r] = 2;
          s.stack.push_back(r);
        }
      }
    }
    if (!higher && ++count >= 2) return count;
  }
  return count;
}

// Splits the outline `local` (w x h with a zero frame; dist = its distance map) at the distance-map domes
// deeper than split_h: markers are the regional maxima of the h-maxima transform, grown over -dist by a
// priority flood. Same arithmetic, order and part numbering as the former reconstruct_by_dilation (twice;
// now reconstruct_by_dilation_padded on this box's own buffers), cv::connectedComponents and seeded_flood
// calls on the candidate's framed box, in which this box lies at (ox, oy). Returns the number of parts; when
// above 1, s.parts (padded by 1 px, row stride w + 2) holds them.
int split_parts(const uchar* local, const float* dist, int w, int h, int ox, int oy, float split_h,
                CandidateScratch& s) {
  const int pw = w + 2;
  const int ph = h + 2;
  const auto pn = static_cast<std::size_t>(pw) * static_cast<std::size_t>(ph);
  // h-maxima: rec = reconstruction of dist - h under dist.
  // + 4: reconstruct_by_dilation_padded's spare floats.
  s.rec.assign(pn + 4, kMinusInf);
  s.rec2.assign(pn + 4, kMinusInf);
  float* rec = s.rec.data();
  float* rec2 = s.rec2.data();
  float* mask = rec2;  // dist padded, used as the mask of the first reconstruction
  for (int y = 0; y < h; ++y) {
    const float* d = dist + row_offset(y, w);
    float* r = rec + row_offset(y + 1, pw) + 1;
    float* m = mask + row_offset(y + 1, pw) + 1;
    int x = 0;
#if CV_SIMD128
    const cv::v_float32x4 vh = cv::v_setall_f32(split_h);
    for (; x + 4 <= w; x += 4) {
      const cv::v_float32x4 v = cv::v_load(d + x);
      cv::v_store(m + x, v);
      cv::v_store(r + x, cv::v_min(v - vh, v));
    }
#endif
    for (; x < w; ++x) {
      m[x] = d[x];
      r[x] = std::min(d[x] - split_h, d[x]);
    }
  }
  reconstruct_by_dilation_padded(rec, mask, pw, ph);
  // Regional maxima of rec: where the reconstruction of rec - eps under it stays eps lower.
  constexpr float kEps = 1e-3f;
  std::size_t i0 = 0;
#if CV_SIMD128
  const cv::v_float32x4 veps = cv::v_setall_f32(kEps);
  for (; i0 + 4 <= pn; i0 += 4) {
    const cv::v_float32x4 v = cv::v_load(rec + i0);
    cv::v_store(rec2 + i0, cv::v_min(v - veps, v));
  }
#endif
  for (; i0 < pn; ++i0) rec2[i0] = std::min(rec[i0] - kEps, rec[i0]);
  reconstruct_by_dilation_padded(rec2, rec, pw, ph);

  // Markers: 8-connected components of the tops inside the outline, numbered like cv::connectedComponents
  // (its block-based scan numbers a component by the first 2 x 2 block, in raster order, that holds it).
  s.parts.assign(pn + 4, -1);  // + 4: free_neighbours reads up to 2 past the last pixel's lower neighbour
  int* lab = s.parts.data();
  for (int y = 0; y < h; ++y) {
    const uchar* l = local + row_offset(y, w);
    const float* r = rec + row_offset(y + 1, pw) + 1;
    const float* r2 = rec2 + row_offset(y + 1, pw) + 1;
    int* o = lab + row_offset(y + 1, pw) + 1;
    int x = 0;
#if CV_SIMD128
    // -1 outside the outline (as assigned), -2 on a top, 0 elsewhere inside.
    const cv::v_float32x4 vhalf = cv::v_setall_f32(0.5f * kEps);
    const cv::v_int32x4 vzero = cv::v_setzero_s32();
    for (; x + 4 <= w; x += 4) {
      const cv::v_int32x4 inside = cv::v_reinterpret_as_s32(cv::v_load_expand_q(l + x)) != vzero;
      const cv::v_int32x4 top = cv::v_reinterpret_as_s32((cv::v_load(r + x) - cv::v_load(r2 + x)) > vhalf);
      // inside: 0 + top (-1 each) * 2 = 0 or -2; outside: -1.
      cv::v_store(o + x, cv::v_select(inside, top + top, cv::v_setall_s32(-1)));
    }
#endif
    for (; x < w; ++x) {
      if (!l[x]) continue;
      o[x] = (r[x] - r2[x]) > 0.5f * kEps ? -2 : 0;  // -2: top not yet labelled
    }
  }
  const int off[8] = {-pw - 1, -pw, -pw + 1, -1, 1, pw - 1, pw, pw + 1};
  // (ox, oy): where this box lies in the one cv::connectedComponents saw, whose 2 x 2 blocks count.
  const int block_cols = (ox + w + 1) / 2;
  s.comp_key.clear();
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const int i = (y + 1) * pw + x + 1;
#if CV_SIMD128
      if (x + 4 <= w && cv::v_signmask(cv::v_load(lab + i) == cv::v_setall_s32(-2)) == 0) {
        x += 3;  // no unlabelled top among these 4
        continue;
      }
#endif
      if (lab[i] != -2) continue;
      const int id = static_cast<int>(s.comp_key.size()) + 1;
      int key = ((y + oy) / 2) * block_cols + (x + ox) / 2;
      lab[i] = id;
      s.stack.clear();
      s.stack.push_back(i);
      while (!s.stack.empty()) {
        const int q = s.stack.back();
        s.stack.pop_back();
        const int qy = q / pw - 1;
        const int qx = q % pw - 1;
        key = std::min(key, ((qy + oy) / 2) * block_cols + (qx + ox) / 2);
        for (const int o : off) {
          if (lab[q + o] == -2) {
            lab[q + o] = id;
            s.stack.push_back(q + o);
          }
        }
      }
      s.comp_key.push_back(key);
    }
  }
  const int n_seeds = static_cast<int>(s.comp_key.size());
  if (n_seeds <= 1) return 1;
  // Renumber by first block.
  s.comp_rank.assign(static_cast<std::size_t>(n_seeds) + 1, 0);
  for (int a = 0; a < n_seeds; ++a) {
    int rank = 1;
    for (int b = 0; b < n_seeds; ++b)
      rank += s.comp_key[static_cast<std::size_t>(b)] < s.comp_key[static_cast<std::size_t>(a)];
    s.comp_rank[static_cast<std::size_t>(a) + 1] = rank;
  }
  bool in_order = true;  // the flood found the seeds in block order already (the common case)
  for (int a = 1; a <= n_seeds; ++a) in_order &= s.comp_rank[static_cast<std::size_t>(a)] == a;
  if (!in_order) {
    for (std::size_t i = 0; i < pn; ++i) {
      if (lab[i] > 0) lab[i] = s.comp_rank[static_cast<std::size_t>(lab[i])];
    }
  }

  // seeded_flood(-dist, seeds): buckets of 1024 levels over the outline's range, FIFO within a bucket,
  // neighbours in raster order.
  float lo = FLT_MAX, hi = -FLT_MAX;
#if CV_SIMD128
  const cv::v_float32x4 vmax = cv::v_setall_f32(FLT_MAX);
  const cv::v_float32x4 vmin = cv::v_setall_f32(-FLT_MAX);
  cv::v_float32x4 vlo = vmax, vhi = vmin;
#endif
  for (int y = 0; y < h; ++y) {
    const float* d = dist + row_offset(y, w);
    const uchar* l = local + row_offset(y, w);
    int x = 0;
#if CV_SIMD128
    for (; x + 4 <= w; x += 4) {
      const cv::v_float32x4 inside =
          cv::v_reinterpret_as_f32(cv::v_load_expand_q(l + x) != cv::v_setzero_u32());
      const cv::v_float32x4 v = cv::v_setzero_f32() - cv::v_load(d + x);
      vlo = cv::v_min(vlo, cv::v_select(inside, v, vmax));
      vhi = cv::v_max(vhi, cv::v_select(inside, v, vmin));
    }
#endif
    for (; x < w; ++x) {
      if (!l[x]) continue;
      lo = std::min(lo, -d[x]);
      hi = std::max(hi, -d[x]);
    }
  }
#if CV_SIMD128
  lo = std::min(lo, cv::v_reduce_min(vlo));  // minima and maxima: the order does not matter
  hi = std::max(hi, cv::v_reduce_max(vhi));
#endif
  constexpr int kLevels = 1024;
  const float scale = hi > lo ? (kLevels - 1) / (hi - lo) : 0.0f;
  s.level.resize(pn);
  int* level = s.level.data();  // padded, read inside the outline only
  for (int y = 0; y < h; ++y) {
    const float* d = dist + row_offset(y, w);
    const uchar* l = local + row_offset(y, w);
    int* lv = level + row_offset(y + 1, pw) + 1;
    int x = 0;
#if CV_SIMD128
    // Every pixel of the row (the others are never read); truncation as static_cast<int>.
    const cv::v_float32x4 vlo2 = cv::v_setall_f32(lo);
    const cv::v_float32x4 vscale = cv::v_setall_f32(scale);
    for (; x + 4 <= w; x += 4) {
      const cv::v_float32x4 v = (cv::v_setzero_f32() - cv::v_load(d + x) - vlo2) * vscale;
      cv::v_store(lv + x, cv::v_trunc(v));
    }
#endif
    for (; x < w; ++x) {
      if (l[x]) lv[x] = static_cast<int>((-d[x] - lo) * scale);
    }
  }
  // Bit k set: neighbour off[k] of pixel i is unlabelled (0); three loads of 4 labels instead of 8 tests.
  auto free_neighbours = [&](int i) {
#if CV_SIMD128
    const cv::v_int32x4 zero = cv::v_setzero_s32();
    const int above = cv::v_signmask(cv::v_load(lab + i - pw - 1) == zero) & 7;
    const int row = cv::v_signmask(cv::v_load(lab + i - 1) == zero);
    const int below = cv::v_signmask(cv::v_load(lab + i + pw - 1) == zero) & 7;
    return above | (row & 1) << 3 | (row & 4) << 2 | below << 5;
#else
    int bits = 0;
    for (int k = 0; k < 8; ++k) bits |= (lab[i + off[k]] == 0 ? 1 : 0) << k;
    return bits;
#endif
  };
  if (s.buckets.size() != kLevels) s.buckets.assign(kLevels, {});
  // Bit b: bucket b is not empty. A box holds a few dozen distinct levels of 1024; walking the set bits
  // skips the empty buckets in the same order.
  std::uint64_t used[kLevels / 64] = {};
  auto push = [&](int b, int i) {
    s.buckets[static_cast<std::size_t>(b)].push_back(i);
    used[b >> 6] |= std::uint64_t{1} << (b & 63);
  };
  for (int y = 1; y <= h; ++y) {
    for (int x = 1; x <= w; ++x) {
      const int i = y * pw + x;
      if (lab[i] <= 0) continue;
      if (free_neighbours(i) != 0) push(level[i], i);
    }
  }
  for (int word = 0; word < kLevels / 64; ++word) {
    // Pushes go to buckets >= cur only, so the lowest set bit is always the next bucket.
    while (used[word] != 0) {
      const int cur = word * 64 + __builtin_ctzll(used[word]);
      auto& bucket = s.buckets[static_cast<std::size_t>(cur)];
      for (std::size_t head = 0; head < bucket.size(); ++head) {
        const int p = bucket[head];
        const int lp = lab[p];
        // In neighbour order; labelling one neighbour does not free or take another.
        for (int bits = free_neighbours(p); bits != 0; bits &= bits - 1) {
          const int q = p + off[__builtin_ctz(static_cast<unsigned>(bits))];
          lab[q] = lp;
          push(std::max(level[q], cur), q);
        }
      }
      bucket.clear();
      used[word] &= ~(std::uint64_t{1} << (cur & 63));
    }
  }
  return n_seeds;
}

// Pixel count and background-subtracted sum of each part 1 .. n_parts, in raster order; part(y, x) on the
// iw x ih area at (ox, oy) of the image. One pass per part keeps its sum in a register: in one pass over
// all parts the sums go through memory, and each add waits for the previous store. Tried and not kept:
// packing each row's taken values branch-free and summing them after (callgrind bench_nuclei: +3.4 M
// instructions for -13 k of 1.1 M mispredicted branches; CPU medians within noise).
template <class Part>
void add_parts(const Part& part, const cv::Mat& t, const cv::Mat& labels, int ox, int oy, int iw, int ih,
               int n_parts, int* area, double* sum) {
  for (int k = 1; k <= n_parts; ++k) {
    int a = 0;
    double sm = 0.0;
    for (int y = 0; y < ih; ++y) {
      const float* tv = t.ptr<float>(y + oy) + ox;
      const int* held = labels.ptr<int>(y + oy) + ox;
      for (int x = 0; x < iw; ++x) {
        if (part(y, x) != k || held[x] != 0) continue;
        ++a;
        sm += tv[x];
      }
    }
    area[k] = a;
    sum[k] = sm;
  }
}

// Writes the kept parts into the label image where no earlier nucleus is.
template <class Part>
void write_parts(const Part& part, cv::Mat& labels, int ox, int oy, int iw, int ih, const int* final_label) {
  for (int y = 0; y < ih; ++y) {
    int* out = labels.ptr<int>(y + oy) + ox;
    for (int x = 0; x < iw; ++x) {
      // Branch-free: the tests fail unpredictably along outlines.
      const int k = part(y, x);
      const int l = k > 0 ? final_label[k] : 0;
      out[x] = out[x] == 0 && l > 0 ? l : out[x];
    }
  }
}

// Crosstalk guard: true when candidate `c` (mean DAB above its mean hematoxylin) has a hematoxylin/DAB ratio
// at least `factor` times that of the pixels around it (box grown by ring_px, outside every candidate) that
// are at least as brown as its mean: the brown structure it lies on. No such pixels: nothing to compare,
// kept.
bool bluer_than_brown_around(const cv::Mat& hema, const cv::Mat& dab, const cv::Mat& candidates,
                             const Component& cp, int ring_px, double factor) {
  const double dab_mean = cp.sum_dab / cp.area;
  const cv::Rect box = cv::Rect(cp.x0 - ring_px, cp.y0 - ring_px, cp.x1 - cp.x0 + 1 + 2 * ring_px,
                                cp.y1 - cp.y0 + 1 + 2 * ring_px) &
                       cv::Rect(0, 0, hema.cols, hema.rows);
  double ring_h = 0.0, ring_d = 0.0;
  int ring_n = 0;
  for (int y = box.y; y < box.y + box.height; ++y) {
    const float* hv = hema.ptr<float>(y);
    const float* dv = dab.ptr<float>(y);
    const uchar* cl = candidates.ptr<uchar>(y);
    for (int x = box.x; x < box.x + box.width; ++x) {
      if (cl[x] != 0 || dv[x] < dab_mean) continue;
      ring_h += hv[x];
      ring_d += dv[x];
      ++ring_n;
    }
  }
  // Too few brown pixels around (an isolated brown blob): no structure whose crosstalk it could share.
  return ring_n < cp.area / 4 || cp.sum_raw * ring_d >= factor * ring_h * cp.sum_dab;
}

// The ridge test's second look (NucleusParamsPx::ridge_close_px): true when candidate `cp` (its runs in
// raster order) is bluer than the brown around it and keeps a mean of at least `min_mean` through a closing
// with `close_r` followed by the ridge opening. Computed on the candidate's box only (few candidates fail the
// first test); the box's margin covers the four operations' reach, so the values equal a whole-plane
// computation.
bool textured_nucleus(const cv::Mat& detection, const cv::Mat& dab, const cv::Mat& smoothed,
                      const cv::Mat& candidates, const Run* runs, int n_runs, Component cp, bool have_sums,
                      int ring_px, double ridge_r, double close_r, double min_mean,
                      CandidateScratch& scratch) {
  if (!have_sums) {  // without the crosstalk guard the colour sums were not taken (same order: raster)
    for (int i = 0; i < n_runs; ++i) add_colour_sums(detection, dab, runs[i], cp);
  }
  if (!bluer_than_brown_around(detection, dab, candidates, cp, ring_px, kTextureRescueRatio)) return false;
  const int margin =
      2 * static_cast<int>(std::lround(close_r) + std::lround(ridge_r)) + 1;  // disks of lround(radius)
  const cv::Rect box = cv::Rect(cp.x0 - margin, cp.y0 - margin, cp.x1 - cp.x0 + 1 + 2 * margin,
                                cp.y1 - cp.y0 + 1 + 2 * margin) &
                       cv::Rect(0, 0, smoothed.cols, smoothed.rows);
  cv::Mat& a = scratch.texture_a;
  cv::Mat& b = scratch.texture_b;
  smoothed(box).copyTo(a);  // a whole Mat: the plane's edges are replicated, as in a whole-plane pass
  dilate_disk(a, close_r, b);
  erode_disk(b, close_r, a);
  erode_disk(a, ridge_r, b);
  dilate_disk(b, ridge_r, a);
  double sum = 0.0;
  for (int i = 0; i < n_runs; ++i) {
    const float* v = a.ptr<float>(runs[i].y - box.y);
    for (int x = runs[i].x0; x <= runs[i].x1; ++x) sum += v[x - box.x];
  }
  return sum / cp.area >= min_mean;
}

// Concave-point split (NucleusParamsPx::concave_depth_px). Measured on every evaluated set
// (docs/accuracy.md, "Concave-point split"): a nucleus is a candidate from this many times the median area
// of its neighbours (the other nuclei within NucleusParamsPx::concave_reference_radius_px, at least
// kConcaveMinNeighbours of them); the cut between two defects is tried when its length is at most
// kConcaveChordRatio times their summed depths (shortest relative chord first); each part must keep
// kConcaveMinPart of the median area (and the minimum area) and a minor/major axis ratio of
// kConcaveMinAxisRatio. A cut from a single defect (across the bean at its one dent) was measured too and not
// kept: AdamDlubak's F1 fell.
constexpr double kConcaveAreaFactor = 1.8;
constexpr double kConcaveChordRatio = 1.5;
constexpr double kConcaveMinPart = 0.5;
constexpr double kConcaveMinAxisRatio = 0.4;
constexpr int kConcaveMinNeighbours = 3;

// Minor/major axis ratio of the ellipse with the second moments of `m` (CV_8U, nonzero = inside).
double axis_ratio(const cv::Mat& m) {
  const EllipseAxes e = ellipse_axes(cv::moments(m, true));
  return e.major > 0 ? e.minor / e.major : 0.0;
}

// Cuts `mask` (CV_8U 0/255, zero frame) with a 4-connected zero line from a to b (which no 8-connected
// path crosses); true, and `parts` (CV_32S: 1 and 2 on the two largest pieces, 0 elsewhere), when both
// pieces have at least min_part_px and are round enough.
bool try_concave_cut(const cv::Mat& mask, cv::Point a, cv::Point b, double min_part_px, cv::Mat& parts) {
  cv::Mat m = mask.clone();
  cv::line(m, a, b, cv::Scalar(0), 1, cv::LINE_4);
  cv::Mat lab, stats, centroids;
  const int n = cv::connectedComponentsWithStats(m, lab, stats, centroids, 8, CV_32S);
  auto area = [&](int i) { return stats.at<int>(i, cv::CC_STAT_AREA); };
  int i1 = -1, i2 = -1;
  for (int i = 1; i < n; ++i) {
    if (i1 < 0 || area(i) > area(i1)) {
      i2 = i1;
      i1 = i;
    } else if (i2 < 0 || area(i) > area(i2)) {
      i2 = i;
    }
  }
  if (i2 < 0) return false;
  for (const int i : {i1, i2}) {
    if (area(i) < min_part_px || axis_ratio(lab == i) < kConcaveMinAxisRatio) return false;
  }
  parts = cv::Mat::zeros(lab.size(), CV_32S);
  parts.setTo(1, lab == i1);
  parts.setTo(2, lab == i2);
  return true;
}

// Finds the cut of `mask` (see try_concave_cut) between two convexity defects at least depth_px deep.
bool concave_cut(const cv::Mat& mask, double depth_px, double min_part_px, cv::Mat& parts) {
  std::vector<std::vector<cv::Point>> contours;
  cv::findContours(mask.clone(), contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_NONE);
  if (contours.empty()) return false;
  std::size_t big = 0;
  for (std::size_t i = 1; i < contours.size(); ++i) {
    if (contours[i].size() > contours[big].size()) big = i;
  }
  const std::vector<cv::Point>& c = contours[big];
  if (c.size() < 8) return false;
  std::vector<int> hull;
  std::vector<cv::Vec4i> defects;
  try {
    cv::convexHull(c, hull, false, false);
    if (hull.size() < 3) return false;
    cv::convexityDefects(c, hull, defects);
  } catch (const cv::Exception&) {  // "the convex hull indices are not monotonous" on odd outlines
    return false;
  }
  std::vector<std::pair<cv::Point, double>> deep;  // defect point, depth
  for (const auto& d : defects) {
    const double depth = d[3] / 256.0;  // fixed point, 8 fractional bits
    if (depth >= depth_px) deep.emplace_back(c[static_cast<std::size_t>(d[2])], depth);
  }
  std::vector<std::pair<double, std::pair<std::size_t, std::size_t>>> pairs;  // chord / depths, defects
  for (std::size_t i = 0; i < deep.size(); ++i) {
    for (std::size_t j = i + 1; j < deep.size(); ++j) {
      const double ratio = cv::norm(deep[i].first - deep[j].first) / (deep[i].second + deep[j].second);
      if (ratio <= kConcaveChordRatio) pairs.push_back({ratio, {i, j}});
    }
  }
  std::sort(pairs.begin(), pairs.end());
  for (const auto& pr : pairs) {
    if (try_concave_cut(mask, deep[pr.second.first].first, deep[pr.second.second].first, min_part_px,
                        parts)) {
      return true;
    }
  }
  return false;
}

// The concave-point split over the label image: a cut nucleus keeps its label on its larger part, the
// other part takes the next label, and the cut line's pixels become background.
void concave_split(cv::Mat& labels, int& count, const NucleusParamsPx& p) {
  if (p.concave_depth_px <= 0 || p.concave_reference_radius_px <= 0 || count == 0) return;
  const auto n1 = static_cast<std::size_t>(count) + 1;
  std::vector<int> area(n1, 0), x0(n1, INT_MAX), y0(n1, INT_MAX), x1(n1, -1), y1(n1, -1);
  std::vector<double> sx(n1, 0.0), sy(n1, 0.0);
  // One update per run of a label along a row, not per pixel.
  for (int y = 0; y < labels.rows; ++y) {
    const int* l = labels.ptr<int>(y);
    for (int x = 0; x < labels.cols;) {
      const int v = l[x];
      int end = x + 1;
      while (end < labels.cols && l[end] == v) ++end;
      if (v != 0) {
        const auto k = static_cast<std::size_t>(v);
        const int n = end - x;
        area[k] += n;
        sx[k] += (static_cast<double>(x) + (end - 1)) * n / 2.0;
        sy[k] += static_cast<double>(y) * n;
        x0[k] = std::min(x0[k], x);
        x1[k] = std::max(x1[k], end - 1);
        y0[k] = std::min(y0[k], y);
        y1[k] = std::max(y1[k], y);
      }
      x = end;
    }
  }
  // The reference area of a nucleus is local, so that a tiled slide cuts as an untiled one: the median area
  // of the other nuclei whose centroids lie within the radius (found in a grid of centroids with cells of
  // the radius); with fewer than kConcaveMinNeighbours of them the nucleus is not cut.
  const double r = p.concave_reference_radius_px;
  std::vector<double> cx(n1, 0.0), cy(n1, 0.0);
  for (std::size_t k = 1; k < n1; ++k) {
    if (area[k] == 0) continue;
    cx[k] = sx[k] / area[k];
    cy[k] = sy[k] / area[k];
  }
  const int gw = static_cast<int>(labels.cols / r) + 1, gh = static_cast<int>(labels.rows / r) + 1;
  std::vector<std::vector<int>> grid(static_cast<std::size_t>(gw) * static_cast<std::size_t>(gh));
  auto cell_of = [&](double v, int n) { return std::min(n - 1, std::max(0, static_cast<int>(v / r))); };
  for (std::size_t k = 1; k < n1; ++k) {
    if (area[k] == 0) continue;
    grid[static_cast<std::size_t>(cell_of(cy[k], gh)) * gw + cell_of(cx[k], gw)].push_back(
        static_cast<int>(k));
  }
  std::vector<int> near;
  // The reference area of nucleus k (0 = too few neighbours: not cut).
  auto reference = [&](std::size_t k) -> double {
    near.clear();
    const int gx = cell_of(cx[k], gw), gy = cell_of(cy[k], gh);
    for (int yy = std::max(0, gy - 1); yy <= std::min(gh - 1, gy + 1); ++yy) {
      for (int xx = std::max(0, gx - 1); xx <= std::min(gw - 1, gx + 1); ++xx) {
        for (const int j : grid[static_cast<std::size_t>(yy) * gw + xx]) {
          const auto ju = static_cast<std::size_t>(j);
          if (ju == k) continue;
          const double dx = cx[ju] - cx[k], dy = cy[ju] - cy[k];
          if (dx * dx + dy * dy <= r * r) near.push_back(area[ju]);
        }
      }
    }
    if (near.size() < static_cast<std::size_t>(kConcaveMinNeighbours)) return 0.0;
    std::nth_element(near.begin(), near.begin() + static_cast<std::ptrdiff_t>(near.size() / 2), near.end());
    return near[near.size() / 2];
  };
  const int n_before = count;
  for (int k = 1; k <= n_before; ++k) {
    const auto i = static_cast<std::size_t>(k);
    if (area[i] < 2.0 * p.min_area_px) continue;
    const double median = reference(i);
    if (median <= 0) continue;
    const double limit = std::max(kConcaveAreaFactor * median, 2.0 * p.min_area_px);
    const double min_part_px = std::max(p.min_area_px, kConcaveMinPart * median);
    if (area[i] < limit) continue;
    const cv::Rect box(x0[i], y0[i], x1[i] - x0[i] + 1, y1[i] - y0[i] + 1);
    cv::Mat mask = cv::Mat::zeros(box.height + 2, box.width + 2, CV_8U);  // with a 1 px zero frame
    for (int y = 0; y < box.height; ++y) {
      const int* l = labels.ptr<int>(y + box.y) + box.x;
      uchar* m = mask.ptr<uchar>(y + 1) + 1;
      for (int x = 0; x < box.width; ++x) m[x] = l[x] == k ? 255 : 0;
    }
    cv::Mat parts;
    if (!concave_cut(mask, p.concave_depth_px, min_part_px, parts)) continue;
    const int other = ++count;
    for (int y = 0; y < box.height; ++y) {
      int* l = labels.ptr<int>(y + box.y) + box.x;
      const int* part = parts.ptr<int>(y + 1) + 1;
      for (int x = 0; x < box.width; ++x) {
        if (l[x] == k) l[x] = part[x] == 1 ? k : part[x] == 2 ? other : 0;
      }
    }
  }
}

}  // namespace

EllipseAxes ellipse_axes(const cv::Moments& m) {
  if (m.m00 <= 0) return {};
  const double a = m.mu20 / m.m00, b = m.mu11 / m.m00, c = m.mu02 / m.m00;
  const double d = std::sqrt(std::max(0.0, (a - c) * (a - c) / 4 + b * b));
  return {4 * std::sqrt(std::max(0.0, (a + c) / 2 + d)), 4 * std::sqrt(std::max(0.0, (a + c) / 2 - d))};
}

NucleusDetection detect_nuclei(const cv::Mat& detection, const NucleusParamsPx& p, const cv::Mat& dab) {
  NucleusDetection result;
  detect_nuclei(detection, p, dab, result);
  return result;
}

void detect_nuclei(const cv::Mat& detection_full, const NucleusParamsPx& p, const cv::Mat& dab_full,
                   NucleusDetection& result, const cv::Rect& region_in) {
  require_float(detection_full, "detect_nuclei");
  const bool guard = p.crosstalk_guard > 0;
  // The ridge test's second look needs the DAB plane too, but is skipped without one.
  const bool rescue = p.ridge_close_px >= 0.5 && p.min_kept_height > 0 && !dab_full.empty();
  if (guard || rescue) {
    require_float(dab_full, guard ? "detect_nuclei (DAB plane for crosstalk_guard)"
                                  : "detect_nuclei (DAB plane for ridge_close_px)");
    if (dab_full.size() != detection_full.size()) {
      throw std::invalid_argument("detect_nuclei: the DAB plane must have the size of the detection image");
    }
  }
  const cv::Rect full(0, 0, detection_full.cols, detection_full.rows);
  const cv::Rect region = region_in.empty() ? full : region_in & full;
  if (region.empty()) {
    throw std::invalid_argument("detect_nuclei: the region to search lies outside the detection image");
  }
  result.count = 0;
  result.region = region;
  cv::Mat& t_full = result.background_subtracted;  // reused when it has the size and type
  const bool reuse_t = t_full.size() == detection_full.size() && t_full.type() == CV_32F;
  cv::Mat d = p.median_radius_px > 0 ? median_filter(detection_full, p.median_radius_px) : detection_full;

  // Background: opening by reconstruction keeps the shape of everything larger than the disk.
  cv::Mat bad_background;  // CV_8U, nonzero where the background is too dark to trust
  // Planes kept per thread: fresh ones cost a page fault per 4 KB on every tile. Two serve twice: the
  // marker's becomes the ridge erosion's, the background's the opening's.
  thread_local KeptPlane marker_plane, background_plane;
  if (p.background_radius_px > 0) {
    cv::Mat& marker = marker_plane.get(d.size(), CV_32F);
    cv::Mat& background = background_plane.get(d.size(), CV_32F);
    erode_disk(d, p.background_radius_px, marker);
    if (p.max_background > 0) {
      thread_local KeptPlane high_plane;  // the test runs on every tile; the plane is rarely needed after it
      cv::Mat& high = high_plane.get(marker.size(), CV_8U);
      cv::compare(marker, p.max_background, high, cv::CMP_GT);  // what `marker > max_background` calls
      if (cv::countNonZero(high) > 0) {
        cv::Mat highf;
        high.convertTo(highf, CV_32F);
        bad_background = dilate_disk(highf, 2.0 * p.background_radius_px) > 0.5f;
        marker.setTo(kMinusInf, bad_background);
      }
    }
    reconstruct_by_dilation(marker, d, background);
    if (!reuse_t) t_full.release();  // never the kept background plane
    cv::subtract(d, background, t_full);
  } else {
    if (!reuse_t) t_full.release();  // never a view of `detection`
    d.copyTo(t_full);
  }

  // Everything after the background looks only at `region` (views: the planes below take its size).
  const cv::Mat detection = detection_full(region);
  const cv::Mat dab = guard || rescue ? dab_full(region) : cv::Mat();
  const cv::Mat t = t_full(region);
  if (!bad_background.empty()) bad_background = bad_background(region);

  // Ridge suppression: an opening with the smallest nucleus's disk erases thin lines (membranes) and
  // keeps blobs; a light blur first so single dark pixels do not punch holes into nuclei.
  const double ridge_r =
      p.ridge_radius_px > 0 ? p.ridge_radius_px : std::sqrt(std::max(p.min_area_px, 1.0) / CV_PI);
  const double pre_sigma = std::min(1.0, p.sigma_px);
  // Planes that live only during this call are kept per thread: a fresh large plane costs page faults.
  thread_local KeptPlane smoothed_plane, blurred_plane;
  cv::Mat& smoothed_buf = smoothed_plane.get(t.size(), CV_32F);
  cv::Mat& blurred_buf = blurred_plane.get(t.size(), CV_32F);
  cv::Mat smoothed = t;
  if (pre_sigma > 0) {
    gaussian_blur(t, smoothed_buf, pre_sigma);
    smoothed = smoothed_buf;
  }
  cv::Mat& eroded_buf = marker_plane.get(t.size(), CV_32F);
  cv::Mat& opened = background_plane.get(t.size(), CV_32F);
  erode_disk(smoothed, ridge_r, eroded_buf);
  dilate_disk(eroded_buf, ridge_r, opened);
  const double main_sigma = std::sqrt(std::max(0.0, p.sigma_px * p.sigma_px - pre_sigma * pre_sigma));
  cv::Mat s = opened;
  if (main_sigma > 0.3) {
    gaussian_blur(opened, blurred_buf, main_sigma);
    s = blurred_buf;
  }

  // Blob interiors: negative Laplacian of the smoothed image (QuPath's LoG), above a small floor.
  thread_local KeptPlane candidates_plane;
  cv::Mat& candidates = candidates_plane.get(s.size(), CV_8U);
  candidate_mask(s, static_cast<float>(0.25 * p.threshold), candidates);

  // Candidate regions: 8-connected components of the mask, as runs; `run_label` numbers them like
  // cv::connectedComponents.
  thread_local std::vector<Run> runs;
  thread_local std::vector<int> run_label;
  thread_local LabelScratch label_scratch;
  const int n_comp = label_runs(candidates, runs, run_label, label_scratch);
  // Each component's runs in raster order: comp_runs[comp_begin[c] .. comp_begin[c + 1]).
  thread_local std::vector<int> comp_begin;
  thread_local std::vector<Run> comp_runs;
  comp_begin.assign(static_cast<std::size_t>(n_comp) + 1, 0);
  for (const int l : run_label) ++comp_begin[static_cast<std::size_t>(l)];
  for (int c = 0, at = 0; c <= n_comp; ++c) {
    const int n = c < n_comp ? comp_begin[static_cast<std::size_t>(c)] : 0;
    comp_begin[static_cast<std::size_t>(c)] = at;
    at += n;
  }
  comp_runs.resize(runs.size());
  {
    thread_local std::vector<int> fill;
    fill.assign(comp_begin.begin(), comp_begin.end() - 1);
    for (std::size_t i = 0; i < runs.size(); ++i) {
      comp_runs[static_cast<std::size_t>(fill[static_cast<std::size_t>(run_label[i])]++)] = runs[i];
    }
  }
  thread_local std::vector<Component> comps;
  comps.assign(static_cast<std::size_t>(n_comp), Component{});
  // Runs are in raster order, so each component's sums add its pixels in raster order.
  constexpr std::size_t kAheadRuns = 16;  // about half a row of a nucleus-dense tile
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const Run& r = runs[i];
    if (i + kAheadRuns < runs.size()) {
      // The runs skip most of a row, and the three planes are a plane apart: fetch ahead of the sums.
      const Run& ra = runs[i + kAheadRuns];
      const auto bytes = static_cast<std::size_t>(ra.x1 - ra.x0 + 1) * sizeof(float);
      prefetch_span<0>(t.ptr<float>(ra.y) + ra.x0, bytes);
      prefetch_span<0>(smoothed.ptr<float>(ra.y) + ra.x0, bytes);
      prefetch_span<0>(opened.ptr<float>(ra.y) + ra.x0, bytes);
    }
    Component& cp = comps[static_cast<std::size_t>(run_label[i])];
    if (cp.area == 0) {
      cp.x0 = r.x0;
      cp.x1 = r.x1;
      cp.y0 = r.y;
    } else {
      cp.x0 = std::min(cp.x0, r.x0);
      cp.x1 = std::max(cp.x1, r.x1);
    }
    cp.y1 = r.y;
    cp.area += r.x1 - r.x0 + 1;
    const float* tv = t.ptr<float>(r.y);
    const float* sv = smoothed.ptr<float>(r.y);
    const float* ov = opened.ptr<float>(r.y);
    for (int x = r.x0; x <= r.x1; ++x) {
      cp.sum += tv[x];
      cp.sum_smoothed += sv[x];
      cp.sum_opened += ov[x];
    }
    if (guard) add_colour_sums(detection, dab, r, cp);
    if (!bad_background.empty()) {
      const uchar* bad = bad_background.ptr<uchar>(r.y);
      for (int x = r.x0; x <= r.x1; ++x) cp.on_bad_background |= bad[x] != 0;
    }
  }

  result.labels.create(detection.size(), CV_32S);
  result.labels.setTo(0);
  int next = 0;
  const double split_h = std::max(0.25, p.split_depth_px);
  const int grow_px = static_cast<int>(std::ceil(p.sigma_px)) + 2;
  thread_local CandidateScratch scratch;
  // The brown structure a junction belongs to (its lines) reaches beyond the opening's disk.
  const int ring_px = static_cast<int>(std::ceil(2.0 * ridge_r));
  // Candidates down to the pale threshold go on; the final nuclei between it and `threshold` must be large.
  const double pale_threshold = std::min(p.threshold, p.pale_fraction * p.threshold);
  for (int c = 1; c < n_comp; ++c) {
    const Component& cp = comps[static_cast<std::size_t>(c)];
    if (cp.area < p.min_area_px * 0.5 || cp.on_bad_background) continue;
    if (cp.sum / cp.area <= pale_threshold) continue;
    // Where lines cross (or bend) the opening leaves a blob as wide as the junction; unlike a nucleus, it
    // lost most of its height to the opening.
    const double mean_before = cp.sum_smoothed / cp.area;
    const double mean_after = cp.sum_opened / cp.area;
    if (mean_after < p.min_kept_height * mean_before) {
      const int own = comp_begin[static_cast<std::size_t>(c)];
      const int n_own = comp_begin[static_cast<std::size_t>(c) + 1] - own;
      if (!rescue ||
          !textured_nucleus(detection, dab, smoothed, candidates, comp_runs.data() + own, n_own, cp, guard,
                            ring_px, ridge_r, p.ridge_close_px, p.min_kept_height * mean_before, scratch)) {
        continue;
      }
    }
    // Stain crosstalk: with a DAB vector a few degrees off, a dark brown junction reads 0.1-0.3 hematoxylin
    // OD and is as compact as a nucleus. A nucleus is bluer than the brown around it (even when covered by
    // brown cytoplasm); a junction has the hematoxylin/DAB ratio of its own lines.
    if (guard && cp.sum_dab > cp.sum_raw &&
        !bluer_than_brown_around(detection, dab, candidates, cp, ring_px, p.crosstalk_guard)) {
      continue;
    }
    // The LoG region is pinched where an elongated nucleus is flat and blurred by sigma; the outline is the
    // half-height contour of the (lightly smoothed) opened image around it, not entering other candidates:
    // the pieces of {opened >= level} outside other candidates that touch this one, holes filled.
    // Half the candidate's mean height: robust to dark chromatin spots that a peak would follow.
    const cv::Rect box = cv::Rect(cp.x0 - grow_px, cp.y0 - grow_px, cp.x1 - cp.x0 + 1 + 2 * grow_px,
                                  cp.y1 - cp.y0 + 1 + 2 * grow_px) &
                         cv::Rect(0, 0, detection.cols, detection.rows);
    float level = static_cast<float>(0.5 * mean_after);
    if (p.background_radius_px <= 0) {
      // Without background subtraction the heights stand on the local floor (glass, cytoplasm), not on 0;
      // half of the raw mean can lie below the whole neighbourhood, and the outline then filled its box.
      double floor_od = 0.0;
      cv::minMaxLoc(opened(box), &floor_od);
      if (floor_od > 0.0 && floor_od < mean_after) level = static_cast<float>(0.5 * (mean_after + floor_od));
    }
    // Framed-box coordinates: the box plus a 1 px frame that is never part of the outline.
    int bx0 = 0, by0 = 0, bx1 = -1, by1 = -1;  // bounding box of the outline
    const int own_begin = comp_begin[static_cast<std::size_t>(c)];
    outline_runs(candidates, opened, box, comp_runs.data() + own_begin,
                 comp_begin[static_cast<std::size_t>(c) + 1] - own_begin, level, t, result.labels, scratch,
                 bx0, by0, bx1, by1);
    if (bx1 < 0) continue;  // no pixel of the candidate reaches the level: no outline, no nucleus
    // Everything after works on the outline's bounding box plus a 1 px ring (never inside the outline):
    // `sub`, sw x sh, at (sx0, sy0) in the framed box.
    const int sx0 = bx0 - 1;
    const int sy0 = by0 - 1;
    const int sw = bx1 - bx0 + 3;
    const int sh = by1 - by0 + 3;
    scratch.sub.assign(static_cast<std::size_t>(sw) * static_cast<std::size_t>(sh), 0);
    uchar* sub = scratch.sub.data();
    for (const Run& r : scratch.runs) {
      if (r.in_outline)
        std::fill_n(sub + row_offset(r.y - sy0, sw) + (r.x0 - sx0), r.x1 - r.x0 + 1, uchar{255});
    }
    fill_holes(scratch.runs, sx0, sy0, sw, sh, sub, scratch);

    int n_parts = 1;
    if (p.split_by_shape && cp.area >= 1.5 * p.min_area_px) {
      scratch.dist.resize(scratch.sub.size());
      chamfer_distance(sub, sw, sh, scratch.dist.data(), scratch);
      // One dome in the distance map gives one h-maximum: nothing to split (the common case, and cheap).
      if (count_regional_maxima(scratch.dist.data(), sub, sw, sh, scratch) > 1) {
        n_parts =
            split_parts(sub, scratch.dist.data(), sw, sh, sx0, sy0, static_cast<float>(split_h), scratch);
      }
    }
    // Box coordinates of the sub-box's interior.
    const int ox = sx0 + box.x;
    const int oy = sy0 + box.y;
    const int iw = sw - 2;
    const int ih = sh - 2;
    // Area and intensity checks per final nucleus.
    const auto np1 = static_cast<std::size_t>(n_parts) + 1;
    scratch.area.assign(np1, 0);
    scratch.sum.assign(np1, 0.0);
    scratch.final_label.assign(np1, 0);
    int* area = scratch.area.data();
    double* sum = scratch.sum.data();
    int* final_label = scratch.final_label.data();
    const int* parts = scratch.parts.data();
    const int pw = sw + 2;
    auto split_part = [&](int y, int x) { return parts[(y + 2) * pw + x + 2]; };  // interior coordinates
    // Only the pixels no earlier nucleus holds are written (below), so only they count: an outline reaching
    // into an earlier nucleus must not leave a fragment below the minimum area (cmu at 0.499 um/px had a
    // 14 px nucleus in two pieces, SHIDC p1_0299_9 one of 6.5 um^2).
    if (n_parts > 1) {
      add_parts(split_part, t, result.labels, ox, oy, iw, ih, n_parts, area, sum);
    } else {
      // One part: the sums stay in registers (through memory, each add waits for the previous store).
      int a = 0;
      double sm = 0.0;
      for (int y = 0; y < ih; ++y) {
        const uchar* in = sub + row_offset(y + 1, sw) + 1;
        const float* tv = t.ptr<float>(y + oy) + ox;
        const int* held = result.labels.ptr<int>(y + oy) + ox;
        for (int x = 0; x < iw; ++x) {
          if (!in[x] || held[x] != 0) continue;
          ++a;
          sm += tv[x];
        }
      }
      area[1] = a;
      sum[1] = sm;
    }
    for (int k = 1; k <= n_parts; ++k) {
      const double a = area[k];
      if (a < p.min_area_px || a > p.max_area_px) continue;
      const double mean = sum[k] / a;
      if (mean <= pale_threshold || (mean <= p.threshold && a < p.pale_min_area_px)) continue;
      final_label[k] = ++next;
    }
    if (n_parts > 1) {
      write_parts(split_part, result.labels, ox, oy, iw, ih, final_label);
    } else if (final_label[1] > 0) {
      const int label = final_label[1];
      for (int y = 0; y < ih; ++y) {
        const uchar* in = sub + row_offset(y + 1, sw) + 1;
        int* out = result.labels.ptr<int>(y + oy) + ox;
        int x = 0;
#if CV_SIMD128
        // Branch-free, 4 at a time: the tests fail unpredictably along the outline.
        const cv::v_int32x4 vlabel = cv::v_setall_s32(label);
        const cv::v_int32x4 vzero = cv::v_setzero_s32();
        for (; x + 4 <= iw; x += 4) {
          const cv::v_int32x4 o = cv::v_load(out + x);
          const cv::v_int32x4 take =
              (cv::v_reinterpret_as_s32(cv::v_load_expand_q(in + x)) != vzero) & (o == vzero);
          cv::v_store(out + x, cv::v_select(take, vlabel, o));
        }
#endif
        for (; x < iw; ++x) {
          if (in[x] && out[x] == 0) out[x] = label;
        }
      }
    }
  }
  concave_split(result.labels, next, p);
  result.count = next;
}

int merge_nuclei(cv::Mat& labels, int count, const cv::Mat& extra, int extra_count, double max_overlap,
                 double min_area_px) {
  CV_Assert(labels.type() == CV_32S && extra.type() == CV_32S && labels.size() == extra.size());
  if (extra_count <= 0) return count;
  std::vector<int> area(static_cast<std::size_t>(extra_count) + 1, 0);
  std::vector<int> held(static_cast<std::size_t>(extra_count) + 1, 0);
  std::vector<int> old_area(static_cast<std::size_t>(count) + 1, 0);
  // (extra, existing) label pairs of the overlapping pixels with their pixel counts, a run of equal pairs
  // along a row as one entry (most extra nuclei are OD-sum nuclei found again); summed after sorting.
  thread_local std::vector<std::pair<std::uint64_t, int>> pairs;
  pairs.clear();
  for (int y = 0; y < labels.rows; ++y) {
    const int* e = extra.ptr<int>(y);
    const int* l = labels.ptr<int>(y);
    std::uint64_t last = 0;
    for (int x = 0; x < labels.cols; ++x) {
      if (l[x] != 0)
        ++old_area[static_cast<std::size_t>(l[x])];  // not label 0's: one counter, a serial chain
      if (e[x] == 0) {
        last = 0;
        continue;
      }
      ++area[static_cast<std::size_t>(e[x])];
      if (l[x] == 0) {
        last = 0;
        continue;
      }
      ++held[static_cast<std::size_t>(e[x])];
      const std::uint64_t pair = static_cast<std::uint64_t>(e[x]) << 32 | static_cast<std::uint32_t>(l[x]);
      if (pair == last) {
        ++pairs.back().second;
      } else {
        pairs.emplace_back(pair, 1);
        last = pair;
      }
    }
  }
  std::vector<char> rejected(static_cast<std::size_t>(extra_count) + 1, 0);
  // An extra nucleus that holds most of an existing one is that nucleus seen again (larger): the part left
  // free around it would be a ring with the same centre.
  std::sort(pairs.begin(), pairs.end());
  for (std::size_t i = 0; i < pairs.size();) {
    std::size_t j = i;
    int n = 0;
    for (; j < pairs.size() && pairs[j].first == pairs[i].first; ++j) n += pairs[j].second;
    const auto k = static_cast<std::size_t>(pairs[i].first >> 32);
    const auto l = static_cast<std::size_t>(pairs[i].first & 0xffffffffu);
    if (2 * n > old_area[l]) rejected[k] = 1;
    i = j;
  }
  std::vector<int> to(static_cast<std::size_t>(extra_count) + 1, 0);
  for (int k = 1; k <= extra_count; ++k) {
    const auto i = static_cast<std::size_t>(k);
    if (rejected[i] || area[i] == 0 || held[i] > max_overlap * area[i] || area[i] - held[i] < min_area_px) {
      continue;
    }
    to[i] = ++count;
  }
  for (int y = 0; y < labels.rows; ++y) {
    const int* e = extra.ptr<int>(y);
    int* l = labels.ptr<int>(y);
    for (int x = 0; x < labels.cols; ++x) {
      if (e[x] != 0 && l[x] == 0) l[x] = to[static_cast<std::size_t>(e[x])];
    }
  }
  return count;
}

void add_hematoxylin_nuclei(const cv::Mat& hematoxylin, const NucleusParamsPx& half_params,
                            double max_overlap, double min_area_px, NucleusDetection& nuclei) {
  require_float(hematoxylin, "add_hematoxylin_nuclei");
  const cv::Rect region = nuclei.region;
  if (region.empty() || (region & cv::Rect(0, 0, hematoxylin.cols, hematoxylin.rows)) != region) {
    throw std::invalid_argument(
        "add_hematoxylin_nuclei: the nuclei's region lies outside the hematoxylin plane");
  }
  if (hematoxylin.cols < 2 || hematoxylin.rows < 2) return;  // no 2 x 2 block, and no nucleus either
  thread_local cv::Mat half;
  cv::resize(hematoxylin, half, cv::Size(hematoxylin.cols / 2, hematoxylin.rows / 2), 0, 0, cv::INTER_AREA);
  // Full-resolution pixel (x, y) lies in block (x / 2, y / 2); an odd last row or column joins the block
  // before it.
  const cv::Rect hregion =
      cv::Rect(cv::Point(region.x / 2, region.y / 2),
               cv::Point((region.x + region.width + 1) / 2, (region.y + region.height + 1) / 2)) &
      cv::Rect(0, 0, half.cols, half.rows);
  thread_local NucleusDetection blue;
  detect_nuclei(half, half_params, cv::Mat(), blue, hregion);
  if (blue.count == 0) return;
  thread_local cv::Mat up;
  up.create(region.size(), CV_32S);
  for (int y = 0; y < region.height; ++y) {
    const int hy = std::min((region.y + y) / 2 - hregion.y, hregion.height - 1);
    const int* src = blue.labels.ptr<int>(hy);
    int* dst = up.ptr<int>(y);
    for (int x = 0; x < region.width; ++x) {
      dst[x] = src[std::min((region.x + x) / 2 - hregion.x, hregion.width - 1)];
    }
  }
  nuclei.count = merge_nuclei(nuclei.labels, nuclei.count, up, blue.count, max_overlap, min_area_px);
}

}  // namespace ihc
