#include "imaging/morphology.hpp"

#include <immintrin.h>
#include <sys/mman.h>
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <new>
#include <opencv2/imgproc.hpp>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "imaging/simd.hpp"

namespace ihc {

namespace {

// AVX2 paths are taken when the CPU has AVX2 unless IHC_SIMD=sse2 or use_wide_simd(false) turned them off
// (imaging/simd.hpp).
bool use_avx2() { return simd_allowed(SimdLevel::kAvx2); }

}  // namespace

void require_float(const cv::Mat& m, const char* what) {
  if (m.empty() || m.type() != CV_32FC1) {
    throw std::invalid_argument(std::string(what) + ": expected a non-empty single-channel float image");
  }
}

namespace {

// Lane-wise std::min(a, b) and std::max(a, b), equal ties and NaN included (minps returns its second operand
// unless the first is smaller, like std::min returns its first unless the second is smaller).
inline __m128 min4(__m128 a, __m128 b) { return _mm_min_ps(b, a); }
inline __m128 max4(__m128 a, __m128 b) { return _mm_max_ps(b, a); }

// Lane types the vector loops below are written over: Sse (4 floats, the x86-64 baseline) and Avx (8 floats,
// chosen at run time when the CPU has AVX2; its loops are compiled in functions with target("avx2") and
// flatten, which inline these members). Min, max and compares are exact, so both give bit-identical results.
// min/max are the raw instructions (the second operand when either is NaN or both are equal).
// Measured (session 4, same binary, IHC_SIMD=sse2 (then IHC_MORPHOLOGY_SSE2=1) alternated): detection
// instructions -8 % on a 1024 px tile, bench_morphology Reconstruct -5 to -8 %, 16 px erosion / 32 px
// dilation -15 to -30 %; bench_detection 4096/1 CPU time within its noise (the queue walk and the flood wait
// for memory, not for instructions).
struct Sse {
  using V = __m128;
  static constexpr int kN = 4;
  static V load(const float* p) { return _mm_loadu_ps(p); }
  static void store(float* p, V v) { _mm_storeu_ps(p, v); }
  static V set1(float f) { return _mm_set1_ps(f); }
  static V zero() { return _mm_setzero_ps(); }
  static V min(V a, V b) { return _mm_min_ps(a, b); }
  static V max(V a, V b) { return _mm_max_ps(a, b); }
  static V cmplt(V a, V b) { return _mm_cmplt_ps(a, b); }
  static V unordered(V a, V b) { return _mm_cmpunord_ps(a, b); }
  static V bit_or(V a, V b) { return _mm_or_ps(a, b); }
  static int movemask(V v) { return _mm_movemask_ps(v); }
  static float first(V v) { return _mm_cvtss_f32(v); }
  static V broadcast_first(V v) { return _mm_shuffle_ps(v, v, _MM_SHUFFLE(0, 0, 0, 0)); }
  static V broadcast_last(V v) { return _mm_shuffle_ps(v, v, _MM_SHUFFLE(3, 3, 3, 3)); }
  // Integer lanes and the narrow flood cells' layout (seeded_flood's set-up).
  using Vi = __m128i;
  static Vi loadi(const int* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }
  static void storei(int* p, Vi v) { _mm_storeu_si128(reinterpret_cast<__m128i*>(p), v); }
  static Vi set1i(int i) { return _mm_set1_epi32(i); }
  static Vi zeroi() { return _mm_setzero_si128(); }
  static Vi cmpgt_i(Vi a, Vi b) { return _mm_cmpgt_epi32(a, b); }
  static Vi or_i(Vi a, Vi b) { return _mm_or_si128(a, b); }
  static Vi and_i(Vi a, Vi b) { return _mm_and_si128(a, b); }
  static Vi slli16(Vi v) { return _mm_slli_epi32(v, 16); }
  static Vi srai16(Vi v) { return _mm_srai_epi32(v, 16); }
  static Vi cvtt(V v) { return _mm_cvttps_epi32(v); }
  static int movemask_i8(Vi v) { return _mm_movemask_epi8(v); }
  static V as_ps(Vi v) { return _mm_castsi128_ps(v); }
  static Vi as_si(V v) { return _mm_castps_si128(v); }
  static V sub(V a, V b) { return _mm_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm_mul_ps(a, b); }
  static V bit_and(V a, V b) { return _mm_and_ps(a, b); }
  static V bit_andnot(V a, V b) { return _mm_andnot_ps(a, b); }
  // a0 b0 a1 b1 ... (2 kN floats) to p.
  static void store_pairs(float* p, V a, V b) {
    _mm_storeu_ps(p, _mm_unpacklo_ps(a, b));
    _mm_storeu_ps(p + 4, _mm_unpackhi_ps(a, b));
  }
  // Floats 0, 2, 4, ... of the 2 kN at p.
  static V load_evens(const float* p) {
    return _mm_shuffle_ps(_mm_loadu_ps(p), _mm_loadu_ps(p + 4), _MM_SHUFFLE(2, 0, 2, 0));
  }
  // Lane i takes lane i - S; the first S lanes take `fill` (a broadcast value).
  template <int S>
  static V shift_up(V v, V fill) {
    if constexpr (S == 1) {
      return _mm_move_ss(_mm_castsi128_ps(_mm_slli_si128(_mm_castps_si128(v), 4)), fill);
    } else {
      static_assert(S == 2);
      return _mm_shuffle_ps(fill, v, _MM_SHUFFLE(1, 0, 0, 0));
    }
  }
  // Lane i takes lane i + S; the last S lanes take `fill`.
  template <int S>
  static V shift_down(V v, V fill) {
    if constexpr (S == 1) {
      const __m128 s = _mm_castsi128_ps(_mm_srli_si128(_mm_castps_si128(v), 4));  // v1 v2 v3 0
      return _mm_shuffle_ps(s, _mm_shuffle_ps(s, fill, _MM_SHUFFLE(0, 0, 2, 2)), _MM_SHUFFLE(2, 0, 1, 0));
    } else {
      static_assert(S == 2);
      return _mm_shuffle_ps(v, fill, _MM_SHUFFLE(0, 0, 3, 2));
    }
  }
};

struct Avx {
  using V = __m256;
  static constexpr int kN = 8;
  IHC_AVX2 static V load(const float* p) { return _mm256_loadu_ps(p); }
  IHC_AVX2 static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  IHC_AVX2 static V set1(float f) { return _mm256_set1_ps(f); }
  IHC_AVX2 static V zero() { return _mm256_setzero_ps(); }
  IHC_AVX2 static V min(V a, V b) { return _mm256_min_ps(a, b); }
  IHC_AVX2 static V max(V a, V b) { return _mm256_max_ps(a, b); }
  IHC_AVX2 static V cmplt(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_LT_OS); }
  IHC_AVX2 static V unordered(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_UNORD_Q); }
  IHC_AVX2 static V bit_or(V a, V b) { return _mm256_or_ps(a, b); }
  IHC_AVX2 static int movemask(V v) { return _mm256_movemask_ps(v); }
  IHC_AVX2 static float first(V v) { return _mm256_cvtss_f32(v); }
  IHC_AVX2 static V broadcast_first(V v) { return _mm256_broadcastss_ps(_mm256_castps256_ps128(v)); }
  IHC_AVX2 static V broadcast_last(V v) { return _mm256_permutevar8x32_ps(v, _mm256_set1_epi32(7)); }
  using Vi = __m256i;
  IHC_AVX2 static Vi loadi(const int* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
  IHC_AVX2 static void storei(int* p, Vi v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v); }
  IHC_AVX2 static Vi set1i(int i) { return _mm256_set1_epi32(i); }
  IHC_AVX2 static Vi zeroi() { return _mm256_setzero_si256(); }
  IHC_AVX2 static Vi cmpgt_i(Vi a, Vi b) { return _mm256_cmpgt_epi32(a, b); }
  IHC_AVX2 static Vi or_i(Vi a, Vi b) { return _mm256_or_si256(a, b); }
  IHC_AVX2 static Vi and_i(Vi a, Vi b) { return _mm256_and_si256(a, b); }
  IHC_AVX2 static Vi slli16(Vi v) { return _mm256_slli_epi32(v, 16); }
  IHC_AVX2 static Vi srai16(Vi v) { return _mm256_srai_epi32(v, 16); }
  IHC_AVX2 static Vi cvtt(V v) { return _mm256_cvttps_epi32(v); }
  IHC_AVX2 static int movemask_i8(Vi v) { return _mm256_movemask_epi8(v); }
  IHC_AVX2 static V as_ps(Vi v) { return _mm256_castsi256_ps(v); }
  IHC_AVX2 static Vi as_si(V v) { return _mm256_castps_si256(v); }
  IHC_AVX2 static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  IHC_AVX2 static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  IHC_AVX2 static V bit_and(V a, V b) { return _mm256_and_ps(a, b); }
  IHC_AVX2 static V bit_andnot(V a, V b) { return _mm256_andnot_ps(a, b); }
  IHC_AVX2 static void store_pairs(float* p, V a, V b) {
    const V lo = _mm256_unpacklo_ps(a, b), hi = _mm256_unpackhi_ps(a, b);  // pairs 0 1 4 5, 2 3 6 7
    _mm256_storeu_ps(p, _mm256_permute2f128_ps(lo, hi, 0x20));
    _mm256_storeu_ps(p + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
  }
  IHC_AVX2 static V load_evens(const float* p) {
    const V e = _mm256_shuffle_ps(_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8), _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
  }
  template <int S>
  IHC_AVX2 static V shift_up(V v, V fill) {
    if constexpr (S == 1) {
      return _mm256_blend_ps(_mm256_permutevar8x32_ps(v, _mm256_setr_epi32(0, 0, 1, 2, 3, 4, 5, 6)), fill,
                             0x01);
    } else if constexpr (S == 2) {
      return _mm256_blend_ps(_mm256_permutevar8x32_ps(v, _mm256_setr_epi32(0, 0, 0, 1, 2, 3, 4, 5)), fill,
                             0x03);
    } else {
      static_assert(S == 4);
      return _mm256_permute2f128_ps(v, fill, 0x02);  // fill's low half, then v's low half
    }
  }
  template <int S>
  IHC_AVX2 static V shift_down(V v, V fill) {
    if constexpr (S == 1) {
      return _mm256_blend_ps(_mm256_permutevar8x32_ps(v, _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 7)), fill,
                             0x80);
    } else if constexpr (S == 2) {
      return _mm256_blend_ps(_mm256_permutevar8x32_ps(v, _mm256_setr_epi32(2, 3, 4, 5, 6, 7, 7, 7)), fill,
                             0xC0);
    } else {
      static_assert(S == 4);
      return _mm256_permute2f128_ps(v, fill, 0x21);  // v's high half, then fill's low half
    }
  }
};

// The sequential step of a raster scan, v = min(max(t, previous v), mask), is the map l -> min(max(l, b), a)
// with b = t, a = mask. Such maps compose into maps of the same form: first (a1, b1), then (a2, b2) gives
// b = max(b1, b2), a = min(max(a1, b2), a2). Composing each lane with the lanes before it (shift steps of 1,
// 2 (and 4) lanes) turns 4 (8) sequential steps into one vector step from the previous block's last value;
// the result is the same min/max of the same values.
template <class L>
inline void compose(typename L::V& a, typename L::V& b, typename L::V a_first, typename L::V b_first) {
  a = L::min(L::max(a_first, b), a);
  b = L::max(b_first, b);
}

// Lanes in scan order 0, 1, ..; the identity map (a = +inf, b = -inf) enters at the front.
template <class L, int S = 1>
inline void compose_forward(typename L::V& a, typename L::V& b) {
  if constexpr (S < L::kN) {
    const typename L::V pos_inf = L::set1(INFINITY), neg_inf = L::set1(-INFINITY);
    compose<L>(a, b, L::template shift_up<S>(a, pos_inf), L::template shift_up<S>(b, neg_inf));
    compose_forward<L, 2 * S>(a, b);
  }
}

// Lanes in scan order .., 1, 0 (a right-to-left scan).
template <class L, int S = 1>
inline void compose_backward(typename L::V& a, typename L::V& b) {
  if constexpr (S < L::kN) {
    const typename L::V pos_inf = L::set1(INFINITY), neg_inf = L::set1(-INFINITY);
    compose<L>(a, b, L::template shift_down<S>(a, pos_inf), L::template shift_down<S>(b, neg_inf));
    compose_backward<L, 2 * S>(a, b);
  }
}

template <class L>
float horizontal_min(typename L::V v, float init) {
  alignas(32) float lanes[L::kN];
  L::store(lanes, v);
  for (const float l : lanes) init = std::min(init, l);
  return init;
}

// An array of a thread's scratch memory, reused from call to call (contents left unspecified). On Linux it is
// backed by transparent huge pages where the kernel allows it: the flood and the reconstruction's walks jump
// all over 10-20 MB, and with 4 KB pages most of those jumps would also miss the TLB.
template <typename T>
class ScratchArray {
  static_assert(std::is_trivial_v<T>);
  static constexpr std::size_t kHuge = std::size_t{2} << 20;

 public:
  ScratchArray() = default;
  ScratchArray(const ScratchArray&) = delete;
  ScratchArray& operator=(const ScratchArray&) = delete;
  ~ScratchArray() { std::free(data_); }
  T* get(std::size_t n) {
    if (n > capacity_) {
      std::free(data_);
      data_ = nullptr;
      capacity_ = 0;
      const std::size_t bytes = (n * sizeof(T) + kHuge - 1) / kHuge * kHuge;
      data_ = static_cast<T*>(std::aligned_alloc(kHuge, bytes));
      if (data_ == nullptr) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
      madvise(data_, bytes, MADV_HUGEPAGE);  // a hint: without huge pages it works all the same
#endif
      capacity_ = bytes / sizeof(T);
    }
    return data_;
  }
  void release() {
    std::free(data_);
    data_ = nullptr;
    capacity_ = 0;
  }

 private:
  T* data_ = nullptr;
  std::size_t capacity_ = 0;
};

// Buffers of the reconstruction, kept per thread (split_parts calls it for every nucleus candidate).
struct ReconstructScratch {
  struct Entry {
    int pixel;
    int next;
  };
  ScratchArray<float> j, in;  // reconstruct_by_dilation's padded result and mask
  std::vector<float> row;     // the scans' row of maxima
  std::vector<int> queue;     // pixels left after the scans
  std::vector<Entry> pool;    // bucket entries
  ScratchArray<int> stack;
};

ReconstructScratch& reconstruct_scratch() {
  thread_local ReconstructScratch scratch;
  return scratch;
}

// reconstruct_by_dilation's copy of `marker` clipped to `mask`, and of `mask`, into the inner pixels of its
// padded buffers (row stride mask.cols + 2), with the frame's left and right columns.
template <class L>
inline void reconstruct_copy_in(const cv::Mat& marker, const cv::Mat& mask, float* j, float* in) {
  const int w = mask.cols + 2;
  for (int y = 0; y < mask.rows; ++y) {
    const float* mk = marker.ptr<float>(y);
    const float* ms = mask.ptr<float>(y);
    float* jr = j + static_cast<std::ptrdiff_t>(y + 1) * w + 1;
    float* ir = in + static_cast<std::ptrdiff_t>(y + 1) * w + 1;
    jr[-1] = ir[-1] = kMinusInf;
    jr[mask.cols] = ir[mask.cols] = kMinusInf;
    std::copy_n(ms, mask.cols, ir);
    int x = 0;
    for (; x + L::kN <= mask.cols; x += L::kN) L::store(jr + x, L::min(L::load(ms + x), L::load(mk + x)));
    for (; x < mask.cols; ++x) jr[x] = std::min(mk[x], ms[x]);
  }
}

// The two raster scans of the reconstruction on padded buffers (w x h, -inf frame), over a lane type; `t`
// holds w + 8 floats of scratch. The pixels that start the queue are appended to `queue` and their value
// range widens [lo, hi]. kBothWays: each scan passes every row both ways (below).
template <class L, bool kBothWays>
inline void reconstruct_scans(float* j, const float* in, int w, int h, float* t, std::vector<int>& queue,
                              float& lo, float& hi) {
  using V = typename L::V;
  // The three neighbours of the previous row and the pixel itself do not depend on the scan's order: their
  // maximum is taken a vector at a time first, leaving only the left (right) neighbour to the sequential
  // pass.
  auto row_max = [&](const float* jr, const float* other) {
    int x = 1;
    for (; x + L::kN <= w - 1; x += L::kN) {
      const V a = L::max(L::load(other + x - 1), L::load(jr + x));
      L::store(t + x, L::max(L::max(L::load(other + x + 1), L::load(other + x)), a));
    }
    for (; x < w - 1; ++x) t[x] = std::max(std::max(jr[x], other[x - 1]), std::max(other[x], other[x + 1]));
  };
  // Sequential passes along a row: v = min(max(src, previous v), mask), left to right or right to left.
  // Each scan passes a row both ways (a second pass from src = the row itself): the row is then stable in
  // both directions, so the scans carry every path that is monotone in y, whatever it does along the rows.
  // Without kBothWays a row is passed once, in the scan's direction, and a pixel that could still raise its
  // right neighbour also starts the queue (Vincent's scans, as split_parts' own copy had them: its boxes go
  // through the plain FIFO, where the second passes cost more than they save).
  // bench_morphology's tile: 1.01 M walk steps in the queue instead of 1.14 M, 110 k bucket pops instead of
  // 189 k, 24.7-26.6 ms instead of 28.3-31.5 (alternated). A second pair of such scans before these (0.87 M
  // steps, 48 k pops) was slower again; one way only in either scan (1.06-1.08 M steps) saved less.
  auto sweep_lr = [&](float* jr, const float* ir, const float* src) {
    V left4 = L::set1(jr[0]);
    int x = 1;
    for (; x + L::kN <= w - 1; x += L::kN) {
      V a = L::load(ir + x), b = L::load(src + x);
      compose_forward<L>(a, b);
      const V res = L::min(L::max(left4, b), a);
      L::store(jr + x, res);
      left4 = L::broadcast_last(res);
    }
    float left = L::first(left4);
    for (; x < w - 1; ++x) {
      left = std::min(std::max(src[x], left), ir[x]);
      jr[x] = left;
    }
  };
  auto sweep_rl = [&](float* jr, const float* ir, const float* src) {
    V right4 = L::set1(jr[w - 1]);
    int xr = w - 2;
    for (; xr - (L::kN - 1) >= 1; xr -= L::kN) {
      V a = L::load(ir + xr - (L::kN - 1)), b = L::load(src + xr - (L::kN - 1));
      compose_backward<L>(a, b);
      const V res = L::min(L::max(right4, b), a);
      L::store(jr + xr - (L::kN - 1), res);
      right4 = L::broadcast_first(res);
    }
    float right = L::first(right4);
    for (; xr >= 1; --xr) {
      right = std::min(std::max(src[xr], right), ir[xr]);
      jr[xr] = right;
    }
  };
  // Forward: the three pixels above, then the row both ways.
  for (int y = 1; y < h - 1; ++y) {
    float* jr = j + static_cast<std::ptrdiff_t>(y) * w;
    const float* ir = in + static_cast<std::ptrdiff_t>(y) * w;
    row_max(jr, jr - w);
    sweep_lr(jr, ir, t);
    if constexpr (kBothWays) sweep_rl(jr, ir, jr);
  }
  // Backward: the three pixels below, then the row both ways; a pixel that could still raise one of the row
  // below starts the queue.
  for (int y = h - 2; y >= 1; --y) {
    float* jr = j + static_cast<std::ptrdiff_t>(y) * w;
    const float* down = jr + w;
    const float* ir = in + static_cast<std::ptrdiff_t>(y) * w;
    const float* idown = ir + w;
    row_max(jr, down);
    sweep_rl(jr, ir, t);
    if constexpr (kBothWays) sweep_lr(jr, ir, jr);
    // The row and the row below are final for this scan: test the queue condition a vector at a time (the
    // row's own neighbours cannot be raised any more, the row above takes its maximum over this one).
    V lo4 = L::set1(lo);
    int x = 1;
    for (; x + L::kN <= w - 1; x += L::kN) {
      const V v = L::load(jr + x);
      lo4 = L::min(lo4, v);
      V c = L::cmplt(L::load(down + x - 1), L::min(L::load(idown + x - 1), v));
      c = L::bit_or(c, L::cmplt(L::load(down + x), L::min(L::load(idown + x), v)));
      c = L::bit_or(c, L::cmplt(L::load(down + x + 1), L::min(L::load(idown + x + 1), v)));
      if constexpr (!kBothWays)
        c = L::bit_or(c, L::cmplt(L::load(jr + x + 1), L::min(L::load(ir + x + 1), v)));
      int bits = L::movemask(c);
      while (bits != 0) {
        const int b = __builtin_ctz(static_cast<unsigned>(bits));
        bits &= bits - 1;
        queue.push_back(y * w + x + b);
        hi = std::max(hi, jr[x + b]);
      }
    }
    lo = horizontal_min<L>(lo4, lo);
    for (; x < w - 1; ++x) {
      const float v = jr[x];
      lo = std::min(lo, v);
      if ((down[x - 1] < std::min(v, idown[x - 1])) || (down[x] < std::min(v, idown[x])) ||
          (down[x + 1] < std::min(v, idown[x + 1])) || (!kBothWays && jr[x + 1] < std::min(v, ir[x + 1]))) {
        queue.push_back(y * w + x);
        hi = std::max(hi, v);
      }
    }
  }
}

__attribute__((flatten)) void reconstruct_scans_sse2(float* j, const float* in, int w, int h, float* t,
                                                     std::vector<int>& queue, float& lo, float& hi,
                                                     bool both_ways) {
  if (both_ways) {
    reconstruct_scans<Sse, true>(j, in, w, h, t, queue, lo, hi);
  } else {
    reconstruct_scans<Sse, false>(j, in, w, h, t, queue, lo, hi);
  }
}
__attribute__((target("avx2"), flatten)) void reconstruct_scans_avx2(float* j, const float* in, int w, int h,
                                                                     float* t, std::vector<int>& queue,
                                                                     float& lo, float& hi, bool both_ways) {
  if (both_ways) {
    reconstruct_scans<Avx, true>(j, in, w, h, t, queue, lo, hi);
  } else {
    reconstruct_scans<Avx, false>(j, in, w, h, t, queue, lo, hi);
  }
}
__attribute__((flatten)) void reconstruct_copy_in_sse2(const cv::Mat& marker, const cv::Mat& mask, float* j,
                                                       float* in) {
  reconstruct_copy_in<Sse>(marker, mask, j, in);
}
__attribute__((target("avx2"), flatten)) void reconstruct_copy_in_avx2(const cv::Mat& marker,
                                                                       const cv::Mat& mask, float* j,
                                                                       float* in) {
  reconstruct_copy_in<Avx>(marker, mask, j, in);
}

// Padded pixels from which the scans pass every row both ways (reconstruct_scans).
constexpr std::size_t kBothWaysMinPixels = 1 << 16;

// Vincent's hybrid algorithm in place on padded buffers (the contract of reconstruct_by_dilation_padded): a
// forward and a backward raster scan carry the marker along most paths at memory speed; a FIFO (or bucket
// queue) finishes the few paths that wind against both scan directions. Exact (the reconstruction is
// unique), so the result does not depend on the order of the work. The -inf frame removes every bounds
// check: it never raises a neighbour and is never raised. The forward scan clips the marker to the mask
// (min(max(m, l), mask) = min(max(min(m, mask), l), mask)).
// Inlined into both callers: as one out-of-line function the detection-sized walk took 5 % more
// instructions (callgrind) and bench_detection's BackgroundReconstruction ~5 % more CPU time.
__attribute__((always_inline)) inline void reconstruct_in_place(float* j, const float* in, int w, int h,
                                                                ReconstructScratch& sc) {
  const std::size_t n = static_cast<std::size_t>(w) * static_cast<std::size_t>(h);
  std::vector<int>& queue = sc.queue;
  queue.clear();
  sc.row.resize(static_cast<std::size_t>(w) + 8);
  float lo = FLT_MAX, hi = -FLT_MAX;  // value range of the queue's pixels and of everything they can raise
  // Rows passed both ways pay off where the bucket queue works (detection tiles), not on small images.
  const bool both_ways = n >= kBothWaysMinPixels;
  if (use_avx2()) {
    reconstruct_scans_avx2(j, in, w, h, sc.row.data(), queue, lo, hi, both_ways);
  } else {
    reconstruct_scans_sse2(j, in, w, h, sc.row.data(), queue, lo, hi, both_ways);
  }
  // The 8 neighbours of p: rows above, at and below, 4 floats each from the left neighbour's column (p itself
  // and the fourth lanes are masked out). Bits in raster order of the neighbours.
  const int bit_offset[11] = {-w - 1, -w, -w + 1, 0, -1, 0, 1, 0, w - 1, w, w + 1};
  auto raise_neighbours = [&](int p, auto&& push) {
    const float vp = j[p];
    const __m128 vp4 = _mm_set1_ps(vp);
    // std::min(vp, in[q]) and "not v <= j[q]", lane by lane.
    auto row = [&](const float* i_row, const float* j_row) {
      return _mm_movemask_ps(_mm_cmpnle_ps(min4(_mm_loadu_ps(i_row), vp4), _mm_loadu_ps(j_row)));
    };
    int bits = row(in + p - w - 1, j + p - w - 1) | row(in + p - 1, j + p - 1) << 4 |
               row(in + p + w - 1, j + p + w - 1) << 8;
    bits &= 0x757;  // lanes 0-2 above, 0 and 2 at, 0-2 below
    while (bits != 0) {
      const int q = p + bit_offset[__builtin_ctz(static_cast<unsigned>(bits))];
      bits &= bits - 1;
      const float v = std::min(vp, in[q]);
      j[q] = v;
      push(q, v);
    }
  };
  if (queue.size() < 4096 || !(hi > lo)) {
    // Few paths left: a plain FIFO.
    for (std::size_t head = 0; head < queue.size(); ++head) {
      raise_neighbours(queue[head], [&](int q, float) { queue.push_back(q); });
    }
  } else {
    // Many: highest values first through a bucket queue, so a pixel is rarely raised twice (a FIFO on noisy
    // plateaus raises each pixel four times on average). Buckets only order the work: values are floats and a
    // pixel raised again is simply queued again, so the result stays exact. The buckets are FIFO lists of
    // entries in one pool (no allocation per bucket); fine levels keep repeated raises rare.
    // Why the queue is busy (bench_morphology's 1268 px tile, 1.61 Mpx): after the two scans 1.03 M pixels
    // are still raised here, 0.95 M of them to a plateau value (226 distinct values; one plateau of 344 k px,
    // ~30 runs above 1 k px hold 0.7 M). The plateaus of the opened noise are mazes, so each extra scan pair
    // (~4 ms) saves only as much queue time; half of the 0.19 M bucket pops find a pixel raised since, but
    // skipping them saves nothing (the miss is in reading it). Measured slower: branch-free raising (the walk
    // becomes one dependency chain), a FIFO or lagged stack per plateau, two interleaved walks, scalar
    // neighbour loads, a scanline span fill (spans are 2-3 px); a horizontal-first walk is no faster.
    // (Those counts are from the one-way scans; with rows passed both ways, 0.90 M pixels are stacked and
    // 1.01 M walk steps taken, 57 % of which raise nothing.) Session 4, alternated CPU medians on the same
    // tile, none faster: mask and result interleaved in one buffer (half the lines per neighbourhood; the
    // queue got ~1 ms faster, the scans on planar row copies ~3 ms slower); prefetching the next pool entry;
    // prefetching the rows of the next stacked pixel; prefetch addresses without the clamps; keeping the
    // last raised neighbour in a register instead of the stack; the copy-in fused with the forward scan;
    // skipping the sequential pass for 4-pixel blocks nothing reaches (the branch costs more). Column-wise
    // (x-monotone) scan pairs before the rows' would cut the walk to 0.86 M steps (1 pair) or 0.76 M (2),
    // not enough to pay for transposing 13 MB twice.
    // An AVX2 neighbour test (rows above and below in one 256-bit compare) took 7 % of the walk's
    // instructions away (callgrind) but no time (alternated medians 26-34 ms either way): the walk waits for
    // memory, and stays on the SSE2 test.
    constexpr int kLevels = 65536;
    const float scale = (kLevels - 1) / (hi - lo);
    // Values queued are never below lo: a raise only lifts a pixel above its scanned value.
    auto level = [&](float v) { return std::min(static_cast<int>((v - lo) * scale), kLevels - 1); };
    std::vector<ReconstructScratch::Entry>& pool = sc.pool;
    pool.clear();
    std::vector<int> head(kLevels, -1), tail(kLevels);
    auto push = [&](int b, int q) {
      const int e = static_cast<int>(pool.size());
      pool.push_back({q, -1});
      int& h_b = head[static_cast<std::size_t>(b)];
      int& t_b = tail[static_cast<std::size_t>(b)];
      if (h_b < 0) {
        h_b = e;
      } else {
        pool[static_cast<std::size_t>(t_b)].next = e;
      }
      t_b = e;
    };
    for (const int p : queue) push(level(j[p]), p);
    queue.clear();
    // A neighbour raised to p's own value (the plateaus of the result) is handled at once from a stack: no
    // trip through the buckets, and its neighbours are still in cache.
    // Within one run every pixel on the stack holds the run's value, so none is stacked twice: n entries do.
    int* const stack = sc.stack.get(n);
    const int last = static_cast<int>(n) - 1;
    for (int cur = kLevels - 1; cur >= 0; --cur) {
      // Entries queued into the current bucket are linked behind the one being read.
      for (int e = head[static_cast<std::size_t>(cur)]; e >= 0; e = pool[static_cast<std::size_t>(e)].next) {
        int* const st = stack;
        std::size_t top = 0;
        st[top++] = pool[static_cast<std::size_t>(e)].pixel;
        while (top > 0) {
          const int p = st[--top];
          // The walk usually goes on to a neighbour of p: fetch the rows it would read beyond p's rows, the
          // cache lines 8 floats left and right of p's column (one of them holds p's, the other the next one
          // a diagonal step crosses into; about a tenth faster than p's line only). Kept inside the buffers.
          const int below = std::min(p + 2 * w + 8, last), above = std::max(p - 2 * w - 8, 0);
          __builtin_prefetch(j + below);
          __builtin_prefetch(in + below);
          __builtin_prefetch(j + below - 16);
          __builtin_prefetch(in + below - 16);
          __builtin_prefetch(j + above);
          __builtin_prefetch(in + above);
          __builtin_prefetch(j + above + 16);
          __builtin_prefetch(in + above + 16);
          const float vp = j[p];
          const __m128 vp4 = _mm_set1_ps(vp);
          auto row = [&](std::ptrdiff_t o) {
            return _mm_movemask_ps(_mm_cmpnle_ps(min4(_mm_loadu_ps(in + o), vp4), _mm_loadu_ps(j + o)));
          };
          int bits = (row(p - w - 1) | row(p - 1) << 4 | row(p + w - 1) << 8) & 0x757;
          while (bits != 0) {
            const int q = p + bit_offset[__builtin_ctz(static_cast<unsigned>(bits))];
            bits &= bits - 1;
            // v = std::min(vp, in[q]): the pixel joins p's plateau unless its mask is lower.
            const float iq = in[q];
            if (iq < vp) {
              j[q] = iq;
              push(std::min(level(iq), cur), q);
            } else {
              j[q] = vp;
              st[top++] = q;
            }
          }
        }
      }
    }
  }
}

// A huge image's buffers are not kept for the rest of the thread's life.
void release_if_huge(ReconstructScratch& sc, std::size_t n) {
  if (n > (std::size_t{1} << 25)) {
    sc.j.release();
    sc.in.release();
    sc.stack.release();
    std::vector<int>().swap(sc.queue);
    std::vector<ReconstructScratch::Entry>().swap(sc.pool);
  }
}

}  // namespace

cv::Mat reconstruct_by_dilation(const cv::Mat& marker, const cv::Mat& mask) {
  cv::Mat out;
  reconstruct_by_dilation(marker, mask, out);
  return out;
}

void reconstruct_by_dilation(const cv::Mat& marker, const cv::Mat& mask, cv::Mat& out) {
  require_float(marker, "reconstruct_by_dilation marker");
  require_float(mask, "reconstruct_by_dilation mask");
  if (marker.size() != mask.size()) throw std::invalid_argument("reconstruct_by_dilation: size mismatch");
  // Padded copies with the -inf frame and 4 spare floats (reconstruct_by_dilation_padded's layout).
  const int w = mask.cols + 2;
  const int h = mask.rows + 2;
  const std::size_t n = static_cast<std::size_t>(w) * static_cast<std::size_t>(h);
  // Buffers are kept per thread: fresh ones would be page-faulted in on every call (a fifth of the time on a
  // 1.5 Mpx tile). Only the frame needs its -inf, every inner pixel is written below.
  ReconstructScratch& sc = reconstruct_scratch();
  float* j = sc.j.get(n + 4);
  float* in = sc.in.get(n + 4);
  for (float* b : {j, in}) {
    std::fill_n(b, w, kMinusInf);
    std::fill_n(b + n - static_cast<std::size_t>(w), w + 4, kMinusInf);
  }
  if (use_avx2()) {
    reconstruct_copy_in_avx2(marker, mask, j, in);
  } else {
    reconstruct_copy_in_sse2(marker, mask, j, in);
  }
  reconstruct_in_place(j, in, w, h, sc);
  // The inputs are in the padded buffers by now: `out` may be one of them. A kept `out` reuses its memory.
  const int rows = mask.rows, cols = mask.cols;
  out.create(rows, cols, CV_32F);
  for (int y = 0; y < rows; ++y) {
    std::copy_n(j + static_cast<std::ptrdiff_t>(y + 1) * w + 1, cols, out.ptr<float>(y));
  }
  release_if_huge(sc, n);
}

void reconstruct_by_dilation_padded(float* marker, const float* mask, int width, int height) {
  if (marker == nullptr || mask == nullptr) {
    throw std::invalid_argument("reconstruct_by_dilation_padded: null buffer");
  }
  if (width < 3 || height < 3) {
    throw std::invalid_argument(
        "reconstruct_by_dilation_padded: expected at least 3 x 3 padded pixels, got " +
        std::to_string(width) + " x " + std::to_string(height));
  }
  ReconstructScratch& sc = reconstruct_scratch();
  reconstruct_in_place(marker, mask, width, height, sc);
  release_if_huge(sc, static_cast<std::size_t>(width) * static_cast<std::size_t>(height));
}

namespace {

// Lane-wise and scalar minimum (erosion) or maximum (dilation). Only used on NaN-free images, where the
// order of the operands does not matter.
template <bool kErode, class L>
struct Extreme {
  static typename L::V v(typename L::V a, typename L::V b) { return kErode ? L::min(a, b) : L::max(a, b); }
  static float s(float a, float b) { return kErode ? std::min(a, b) : std::max(a, b); }
};

// Buffers of the octagon morphology, kept per thread (fresh ones would be page-faulted in on every call).
struct OctagonScratch {
  std::vector<float> f, g, row, row2;
};

OctagonScratch& octagon_scratch() {
  thread_local OctagonScratch scratch;
  return scratch;
}

// Padded images of the octagon morphology: `wp` x `hp` floats. Each step below computes every pixel whose
// inputs lie inside the array and leaves the others (a frame as wide as the step's reach) as they were:
// the frame is cut away at the end.
struct Padded {
  float* f;
  float* g;
  float* row;
  float* row2;
  int wp, hp;
  float* at(float* b, int y) const { return b + static_cast<std::ptrdiff_t>(y) * wp; }
};

// f(x, y) = extreme of image(clamp(x - reach - a .. x - reach + a), clamp(y - reach)): the image with its
// border replicated `reach` wide, then windows of 2, 4, 8, ... by doubling along the row and two overlapping
// windows.
template <bool kErode, class L>
void octagon_row_pass(const Padded& p, const cv::Mat& image, int reach, int a) {
  using E = Extreme<kErode, L>;
  const int len = 2 * a + 1;
  int c = 2;
  while (2 * c <= len) c *= 2;
  float* m = p.row;
  float* fr = p.row2;
  const int w = image.cols;
  for (int y = 0; y < p.hp; ++y) {
    const float* r = image.ptr<float>(std::clamp(y - reach, 0, image.rows - 1));
    std::fill_n(fr, reach, r[0]);
    std::copy_n(r, w, fr + reach);
    std::fill_n(fr + reach + w, reach, r[w - 1]);
    float* out = p.at(p.f, y);
    std::copy_n(fr, a, out);
    std::copy_n(fr + p.wp - a, a, out + p.wp - a);
    // m[x] covers [x, x + s): first s = 2 from the row, then doubled in place (ascending, so m[x + s] is read
    // before it changes).
    int x = 0;
    for (; x + L::kN <= p.wp - 1; x += L::kN) L::store(m + x, E::v(L::load(fr + x), L::load(fr + x + 1)));
    for (; x < p.wp - 1; ++x) m[x] = E::s(fr[x], fr[x + 1]);
    for (int s = 2; s < c; s *= 2) {
      const int end = p.wp - 2 * s;
      x = 0;
      for (; x + L::kN <= end + 1; x += L::kN) L::store(m + x, E::v(L::load(m + x), L::load(m + x + s)));
      for (; x <= end; ++x) m[x] = E::s(m[x], m[x + s]);
    }
    // [x - a, x + a] is [x - a, x - a + c) and [x + a + 1 - c, x + a + 1).
    const int end = p.wp - a;
    x = a;
    for (; x + L::kN <= end; x += L::kN)
      L::store(out + x, E::v(L::load(m + x - a), L::load(m + x + a + 1 - c)));
    for (; x < end; ++x) out[x] = E::s(m[x - a], m[x + a + 1 - c]);
  }
}

// f(x, y) = extreme of f(x + t dx, y + t) for t = -k .. k (dx = 0: a column, 1: a diagonal, -1: the other
// diagonal), van Herk / Gil-Werman: running extremes g forward and h backward along the line in blocks of
// 2k + 1 rows, so every window is the end of one block and the start of the next. Row-wise, 4 pixels at a
// time; h needs one row (in place) because the windows are written during the backward pass, into rows the
// pass has left behind.
template <bool kErode, class L>
void octagon_line_pass(const Padded& p, int k, int dx) {
  using E = Extreme<kErode, L>;
  const int len = 2 * k + 1;
  const int wp = p.wp;
  // Forward. A pixel whose predecessor on the line lies outside the array starts a run.
  for (int y = 0; y < p.hp; ++y) {
    float* gr = p.at(p.g, y);
    const float* fr = p.at(p.f, y);
    if (y % len == 0) {
      std::copy_n(fr, wp, gr);
      continue;
    }
    const float* prev = p.at(p.g, y - 1) - dx;
    int x = 0, end = wp;
    if (dx > 0) gr[x++] = fr[0];
    if (dx < 0) gr[--end] = fr[wp - 1];
    for (; x + L::kN <= end; x += L::kN) L::store(gr + x, E::v(L::load(prev + x), L::load(fr + x)));
    for (; x < end; ++x) gr[x] = E::s(prev[x], fr[x]);
  }
  // Backward, h of row y in place over h of row y + 1 (its successor at x + dx is read before it changes:
  // ascending x for dx >= 0, descending for dx < 0).
  float* hr = p.row;
  const int reach = dx != 0 ? k : 0;
  for (int y = p.hp - 1; y >= 0; --y) {
    const float* fr = p.at(p.f, y);
    if (y % len == len - 1 || y == p.hp - 1) {
      std::copy_n(fr, wp, hr);
    } else if (dx >= 0) {
      int x = 0, end = wp;
      if (dx > 0) --end;
      for (; x + L::kN <= end; x += L::kN) L::store(hr + x, E::v(L::load(hr + x + dx), L::load(fr + x)));
      for (; x < end; ++x) hr[x] = E::s(hr[x + dx], fr[x]);
      if (dx > 0) hr[wp - 1] = fr[wp - 1];
    } else {
      int x = wp;  // blocks [x - kN, x) from the right
      for (; x - L::kN >= 1; x -= L::kN)
        L::store(hr + x - L::kN, E::v(L::load(hr + x - L::kN - 1), L::load(fr + x - L::kN)));
      for (; x - 1 >= 1; --x) hr[x - 1] = E::s(hr[x - 2], fr[x - 1]);
      hr[0] = fr[0];
    }
    // The window centred k rows below: from this row (h) to k rows below it (g).
    const int yo = y + k;
    if (yo >= p.hp - k) continue;
    if (yo < k) break;
    float* out = p.at(p.f, yo);
    const float* h0 = hr - static_cast<std::ptrdiff_t>(k) * dx;
    const float* g0 = p.at(p.g, yo + k) + static_cast<std::ptrdiff_t>(k) * dx;
    int x = reach;
    for (; x + L::kN <= wp - reach; x += L::kN) L::store(out + x, E::v(L::load(h0 + x), L::load(g0 + x)));
    for (; x < wp - reach; ++x) out[x] = E::s(h0[x], g0[x]);
  }
}

// f = extreme over the 3 x 3 cross, through g; or, the last step, straight into `out` (the image's pixels,
// `reach` inside the frame).
template <bool kErode, class L>
void octagon_cross_pass(Padded& p, cv::Mat* out = nullptr, int reach = 0) {
  using E = Extreme<kErode, L>;
  const int wp = p.wp;
  auto cross = [&](float* dst, const float* fr, int x0, int x1) {
    const float* up = fr - wp;
    const float* down = fr + wp;
    int x = x0;
    for (; x + L::kN <= x1; x += L::kN) {
      const typename L::V v = E::v(E::v(L::load(fr + x - 1), L::load(fr + x)), L::load(fr + x + 1));
      L::store(dst + x, E::v(v, E::v(L::load(up + x), L::load(down + x))));
    }
    for (; x < x1; ++x) dst[x] = E::s(E::s(E::s(fr[x - 1], fr[x]), fr[x + 1]), E::s(up[x], down[x]));
  };
  if (out != nullptr) {
    for (int y = 0; y < out->rows; ++y) {
      cross(out->ptr<float>(y) - reach, p.at(p.f, y + reach), reach, reach + out->cols);
    }
    return;
  }
  std::copy_n(p.f, wp, p.g);
  std::copy_n(p.at(p.f, p.hp - 1), wp, p.at(p.g, p.hp - 1));
  for (int y = 1; y < p.hp - 1; ++y) {
    const float* fr = p.at(p.f, y);
    float* gr = p.at(p.g, y);
    gr[0] = fr[0];
    gr[wp - 1] = fr[wp - 1];
    cross(gr, fr, 1, wp - 1);
  }
  std::swap(p.f, p.g);
}

// Erosion / dilation by the octagon square(a) + diamond(b) with a replicated border. Replicating the border
// R = a + b wide and then working without any border gives what cv::erode / cv::dilate with
// BORDER_REPLICATE give for the square followed by b crosses: both take the extreme of image(clamp(p + d))
// over the same offsets d (every piece is symmetric and holds the offsets nearer the centre along each axis,
// so a path clamped at the border reaches nothing else). The diamond is two diagonal lines of 2k + 1 pixels
// (which give the points of even parity within 2k) and one or two crosses. The result is the same extreme of
// the same values. Returns false (and leaves `out` alone) when the image holds NaN, whose order matters.
template <bool kErode, class L>
bool octagon(const cv::Mat& image, int a, int b, cv::Mat& out) {
  const int w = image.cols, h = image.rows;
  typename L::V nan = L::zero();
  for (int y = 0; y < h; ++y) {
    const float* r = image.ptr<float>(y);
    int x = 0;
    for (; x + L::kN <= w; x += L::kN) {
      const typename L::V v = L::load(r + x);
      nan = L::bit_or(nan, L::unordered(v, v));
    }
    for (; x < w; ++x) {
      if (std::isnan(r[x])) return false;
    }
  }
  if (L::movemask(nan) != 0 || a < 1 || b < 1) return false;
  const int reach = a + b;
  OctagonScratch& sc = octagon_scratch();
  Padded p;
  p.wp = w + 2 * reach;
  p.hp = h + 2 * reach;
  const std::size_t n = static_cast<std::size_t>(p.wp) * static_cast<std::size_t>(p.hp) + 8;
  sc.f.resize(n);
  sc.g.resize(n);
  sc.row.assign(static_cast<std::size_t>(p.wp) + 8, 0.0f);
  sc.row2.assign(static_cast<std::size_t>(p.wp) + 8, 0.0f);
  p.f = sc.f.data();
  p.g = sc.g.data();
  p.row = sc.row.data();
  p.row2 = sc.row2.data();
  octagon_row_pass<kErode, L>(p, image, reach, a);
  octagon_line_pass<kErode, L>(p, a, 0);
  const int k = (b - 1) / 2;  // b = 2k + 1: lines and a cross; b = 2k + 2: lines and two crosses
  if (k > 0) {
    octagon_line_pass<kErode, L>(p, k, 1);
    octagon_line_pass<kErode, L>(p, k, -1);
  }
  if (b % 2 == 0) octagon_cross_pass<kErode, L>(p);
  out.create(h, w, CV_32F);
  octagon_cross_pass<kErode, L>(p, &out, reach);
  // A huge image's buffers are not kept for the rest of the thread's life.
  if (n > (std::size_t{1} << 25)) sc = OctagonScratch{};
  return true;
}

template <bool kErode>
__attribute__((flatten)) bool octagon_sse2(const cv::Mat& image, int a, int b, cv::Mat& out) {
  return octagon<kErode, Sse>(image, a, b, out);
}
template <bool kErode>
__attribute__((target("avx2"), flatten)) bool octagon_avx2(const cv::Mat& image, int a, int b, cv::Mat& out) {
  return octagon<kErode, Avx>(image, a, b, out);
}
template <bool kErode>
bool octagon(const cv::Mat& image, int a, int b, cv::Mat& out) {
  return use_avx2() ? octagon_avx2<kErode>(image, a, b, out) : octagon_sse2<kErode>(image, a, b, out);
}

constexpr int kMinOctagonDiamond = 8;

// `out` may be `image` (every path reads the image before it writes `out`); a kept `out` of the right size
// and type reuses its memory.
void morph_disk(const cv::Mat& image, double radius_px, bool erode, cv::Mat& out) {
  require_float(image, erode ? "erode_disk" : "dilate_disk");
  if (radius_px < 0.5) {
    image.copyTo(out);
    return;
  }
  auto op = [&](const cv::Mat& src, cv::Mat& dst, const cv::Mat& kernel, int iterations) {
    if (erode) {
      cv::erode(src, dst, kernel, cv::Point(-1, -1), iterations, cv::BORDER_REPLICATE);
    } else {
      cv::dilate(src, dst, kernel, cv::Point(-1, -1), iterations, cv::BORDER_REPLICATE);
    }
  };
  if (radius_px <= 3.0) {
    const int r = static_cast<int>(std::lround(radius_px));
    op(image, out, cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(2 * r + 1, 2 * r + 1)), 1);
    return;
  }
  // Octagon = square (half side a) + diamond (radius b): equal reach along the axes and the diagonals when
  // a = 0.414 r and b = 0.586 r. From 13 px on (b >= 8) it is computed directly at a cost that does not grow
  // with the radius (`octagon`: 8 passes over the image, equal to the square followed by b 3x3 crosses
  // through OpenCV, which takes about one pass per cross). OpenCV remains for smaller disks, NaN and views
  // into a larger image (whose pixels around the view it reads instead of replicating the border).
  // The 16 px erosion's passes (1268 px tile, CPU ms): NaN test 0.28, row 1.03, vertical line 1.68, diagonals
  // 1.07 + 0.93, last cross 0.73. Lines by doubling into rings of rows, one pass through memory: vertical
  // 1.24, diagonals no faster; ~5 % of the erosion, not kept.
  const int a = static_cast<int>(std::lround(0.414 * radius_px));
  const int b = static_cast<int>(std::lround(radius_px)) - a;
  if (b >= kMinOctagonDiamond && !image.isSubmatrix() &&
      (erode ? octagon<true>(image, a, b, out) : octagon<false>(image, a, b, out))) {
    return;
  }
  op(image, out, cv::getStructuringElement(cv::MORPH_RECT, cv::Size(2 * a + 1, 2 * a + 1)), 1);
  if (b > 0) op(out, out, cv::getStructuringElement(cv::MORPH_CROSS, cv::Size(3, 3)), b);
}

}  // namespace

cv::Mat erode_disk(const cv::Mat& image, double radius_px) {
  cv::Mat out;
  morph_disk(image, radius_px, true, out);
  return out;
}
cv::Mat dilate_disk(const cv::Mat& image, double radius_px) {
  cv::Mat out;
  morph_disk(image, radius_px, false, out);
  return out;
}
void erode_disk(const cv::Mat& image, double radius_px, cv::Mat& out) {
  morph_disk(image, radius_px, true, out);
}
void dilate_disk(const cv::Mat& image, double radius_px, cv::Mat& out) {
  morph_disk(image, radius_px, false, out);
}

namespace {

constexpr int kFloodLevels = 1024;

// Everything the flood reads and writes of a pixel, side by side: a visit reads the labels of three rows of
// three pixels and the inputs of the free ones among them, so together they cost about 5 cache lines instead
// of about 8.
struct FloodCell {
  int lab;        // label (-1 in the frame)
  float ridge;    // ridge rule input (0 without one)
  int32_t level;  // bucket (only for pixels that may be entered; the others hold anything)
};

// A queued pixel with what its flood carries along: set once when the pixel is labelled and read once when it
// is taken from its bucket, so it travels in the bucket instead of in a per-pixel image.
template <typename Offset>
struct FloodEntry {
  int pixel;
  float path_max;  // highest ridge on the path from the seed (ridge rule)
  Offset dx, dy;   // offset from the seed pixel its label came from (distance limit)
};

// Padded images of one seeded_flood call (a frame of -1 labels removes every bounds check) and the buckets,
// kept per thread so the tiles of a detection allocate (and fault in) nothing after the first.
// The same in 8 bytes when every label fits 16 bits (a tile's cells do): a third less memory to go through.
struct FloodCellNarrow {
  int16_t lab;
  uint16_t level;
  float ridge;
};

struct FloodImages {
  ScratchArray<FloodCell> cells;
  ScratchArray<FloodCellNarrow> narrow;
};

template <typename Offset>
std::vector<std::vector<FloodEntry<Offset>>>& flood_buckets() {
  thread_local std::vector<std::vector<FloodEntry<Offset>>> buckets(kFloodLevels);
  return buckets;
}

FloodImages& flood_images() {
  thread_local FloodImages images;
  return images;
}

// Bits (raster order: lanes 0-2 of the row above, 0 and 2 of p's row, 0-2 of the row below) of the
// 8-neighbours of p whose label is 0.
inline int free_neighbours(const FloodCellNarrow* c, int p, int wp) {
  // A row's labels are the low halves of dwords 0 and 2 of cells o, o + 1 and dword 0 of cell o + 2: one
  // shuffle gathers them (the fourth lane is 0 and masked out), and packs put the three rows' zero tests into
  // one movemask, 4 bits a row. Half the instructions of a movemask per load; with the written-out prefetch
  // below and a longer look-ahead, the flood (bench_morphology FloodCells) went from 27.4-28.3 to
  // 24.4-24.9 ms.
  const __m128i zero = _mm_setzero_si128();
  auto row = [&](std::ptrdiff_t o) {
    const __m128 a = _mm_loadu_ps(reinterpret_cast<const float*>(c + o));
    const __m128 b = _mm_castsi128_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(c + o + 2)));
    const __m128i l = _mm_slli_epi32(_mm_castps_si128(_mm_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))), 16);
    return _mm_cmpeq_epi32(l, zero);
  };
  const __m128i row2 = row(p + wp - 1);
  const __m128i rows =
      _mm_packs_epi16(_mm_packs_epi32(row(p - wp - 1), row(p - 1)), _mm_packs_epi32(row2, row2));
  return _mm_movemask_epi8(rows) & 0x757;
}

inline int free_neighbours(const FloodCell* c, int p, int wp) {
  // Three cells are [l0 r0 v0 l1] [r1 v1 l2 r2] [v2 ..]: the labels are lanes 0 and 3 of the first 4 floats
  // and lane 2 of the next 4 (8 floats, all inside the three cells).
  const __m128i zero = _mm_setzero_si128();
  auto row = [&](std::ptrdiff_t o) {
    const float* f = reinterpret_cast<const float*>(c + o);
    const __m128 labels = _mm_shuffle_ps(_mm_loadu_ps(f), _mm_loadu_ps(f + 4), _MM_SHUFFLE(2, 2, 3, 0));
    return _mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(_mm_castps_si128(labels), zero)));
  };
  return (row(p - wp - 1) & 7) | (row(p - 1) & 5) << 4 | (row(p + wp - 1) & 7) << 8;
}

// The flood proper. kLimit / kRidge select the distance limit and the ridge rule at compile time; Offset
// holds a pixel's position relative to its seed pixel (int16_t whenever the image fits).
template <bool kLimit, bool kRidge, typename Offset, typename Cell>
void flood(Cell* cells, int wp, const cv::Mat& labels, double max_distance_px, float min_ridge) {
  using Entry = FloodEntry<Offset>;
  // Buckets are FIFO arrays: the flood visits pixels in landscape order, all over the image, so the pixels a
  // few places ahead are prefetched (a linked list would make each visit wait for the previous one's miss).
  auto& buckets = flood_buckets<Offset>();
  for (auto& b : buckets) b.clear();
  const int bit_offset[11] = {-wp - 1, -wp, -wp + 1, 0, -1, 0, 1, 0, wp - 1, wp, wp + 1};
  // d.x^2 + d.y^2 > max_d2 for an integer sum is the same as sum > floor(max_d2).
  const double max_d2 = max_distance_px * max_distance_px;
  const long long limit_d2 =
      max_d2 >= 9e18 ? std::numeric_limits<long long>::max() : static_cast<long long>(std::floor(max_d2));
  // Seeds start at 0: a brown (Ki-67 positive) nucleus is not a line its cell must stop behind. Only seeds
  // with a free neighbour need to spread.
  auto start = [&](int i) {
    if (free_neighbours(cells, i, wp) != 0) {
      buckets[static_cast<std::size_t>(cells[i].level)].push_back({i, 0.0f, Offset{0}, Offset{0}});
    }
  };
  // Seeds in raster order, found in the (4 times denser) label image.
  const __m128i zero = _mm_setzero_si128();
  for (int y = 0; y < labels.rows; ++y) {
    const int* l = labels.ptr<int>(y);
    const int row = (y + 1) * wp + 1;
    int x = 0;
    for (; x + 4 <= labels.cols; x += 4) {
      int bits = _mm_movemask_ps(
          _mm_castsi128_ps(_mm_cmpgt_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(l + x)), zero)));
      while (bits != 0) {
        start(row + x + __builtin_ctz(static_cast<unsigned>(bits)));
        bits &= bits - 1;
      }
    }
    for (; x < labels.cols; ++x) {
      if (l[x] > 0) start(row + x);
    }
  }
  // The flood is not only waiting for memory: a 400 px image whose cells fit in L2 costs 13.5 ns per pixel,
  // 1268 px 17-19 (875 k pops, 24 % of them find no free neighbour; 772 k pushes, 142 k of them into the
  // current bucket). Look-ahead 16 to 24 is 3 % faster than 8, 4 is 12 % slower. Measured slower: a
  // branch-free push (every free neighbour written to its bucket, counted only if the rules take it: +5 %),
  // collecting the seeds while the cells are written (no gain).
  constexpr std::size_t kAhead = 16;
  for (int cur = 0; cur < kFloodLevels; ++cur) {
    std::vector<Entry>& bucket = buckets[static_cast<std::size_t>(cur)];
    // Pixels queued into the current bucket while it is read are appended behind (size() is read each time;
    // a push may move the array, so entries are read by index).
    for (std::size_t k = 0; k < bucket.size(); ++k) {
      if (k + kAhead < bucket.size()) {
        // The lines of the three rows of 3 cells, written out: a loop over the rows cost a sixth of the
        // flood's instructions (callgrind).
        const Cell* c = cells + bucket[k + kAhead].pixel;
        __builtin_prefetch(c - wp - 1);
        __builtin_prefetch(c - wp + 1);
        __builtin_prefetch(c - 1);
        __builtin_prefetch(c + 1);
        __builtin_prefetch(c + wp - 1);
        __builtin_prefetch(c + wp + 1);
      }
      const Entry e = bucket[k];
      const int p = e.pixel;
      int bits = free_neighbours(cells, p, wp);
      if (bits == 0) continue;
      const int lp = cells[p].lab;
      const float pm = e.path_max;
      const bool stop = pm >= min_ridge;
      // Neighbours in raster order: ties spread breadth first in this order.
      while (bits != 0) {
        const int b = __builtin_ctz(static_cast<unsigned>(bits));
        bits &= bits - 1;
        const int q = p + bit_offset[b];
        Cell& fq = cells[q];
        if constexpr (kRidge) {
          if (stop && fq.ridge < 0.5f * pm) continue;
        }
        Entry next{q, kRidge ? std::max(pm, fq.ridge) : 0.0f, Offset{0}, Offset{0}};
        if constexpr (kLimit) {
          const int dx = e.dx + (b & 3) - 1;
          const int dy = e.dy + (b >> 2) - 1;
          if (static_cast<long long>(dx) * dx + static_cast<long long>(dy) * dy > limit_d2) continue;
          next.dx = static_cast<Offset>(dx);
          next.dy = static_cast<Offset>(dy);
        }
        fq.lab = static_cast<decltype(fq.lab)>(lp);
        buckets[static_cast<std::size_t>(std::max(static_cast<int>(fq.level), cur))].push_back(next);
      }
    }
    bucket.clear();
  }
}

// The flood of a tile (narrow cells, a key of 32 bits): a queued pixel is one word, its padded index shifted
// left by `kb` bits above the index of its offset from its seed pixel in the (2r + 1)^2 square around the
// seed (r: the distance limit in whole pixels). A neighbour's key is the key plus a constant per neighbour,
// and a table gives per offset the neighbours that stay within the limit, so neither the distance test nor
// the ridge rule (tested on the three rows' vectors) is a branch per neighbour.
struct FloodKeyEntry {
  uint32_t key;
  float path_max;  // highest ridge on the path from the seed (ridge rule)
};

// Growable FIFO arrays of raw pointers: a push is a compare and a store (the vectors reloaded their
// thread-local array and both pointers per push). Kept per thread with the seed search's buffers.
// Measured not faster: 16-byte headers with `begin` in its own array (+1.5 % instructions, same time).
struct FloodKeyBuckets {
  struct Bucket {
    FloodKeyEntry* begin = nullptr;
    FloodKeyEntry* end = nullptr;
    FloodKeyEntry* cap = nullptr;
  };
  Bucket b[kFloodLevels];
  std::vector<uint64_t> bits;   // free and seed pixels, one bit each
  std::vector<uint32_t> found;  // padded indices of the seeds that spread, in raster order
  FloodKeyBuckets() = default;
  FloodKeyBuckets(const FloodKeyBuckets&) = delete;
  FloodKeyBuckets& operator=(const FloodKeyBuckets&) = delete;
  ~FloodKeyBuckets() { release(); }
  void release() {
    for (Bucket& x : b) {
      std::free(x.begin);
      x = Bucket{};
    }
    std::vector<uint64_t>().swap(bits);
    std::vector<uint32_t>().swap(found);
  }
};

FloodKeyBuckets& flood_key_buckets() {
  thread_local FloodKeyBuckets buckets;
  return buckets;
}

__attribute__((noinline)) void grow_bucket(FloodKeyBuckets::Bucket& b) {
  const std::size_t n = static_cast<std::size_t>(b.end - b.begin);
  const std::size_t cap = std::max<std::size_t>(256, 2 * static_cast<std::size_t>(b.cap - b.begin));
  auto* data = static_cast<FloodKeyEntry*>(std::realloc(b.begin, cap * sizeof(FloodKeyEntry)));
  if (data == nullptr) throw std::bad_alloc();
  b.begin = data;
  b.end = data + n;
  b.cap = data + cap;
}

// Room for the free and seed bit rows of an image of h rows, the frame's rows 0.
void flood_bit_rows(FloodKeyBuckets& store, std::size_t words, int h) {
  const std::size_t rows = static_cast<std::size_t>(h) + 2;
  store.bits.resize(2 * words * rows);
  uint64_t* free_bits = store.bits.data();
  std::fill(free_bits, free_bits + words, uint64_t{0});
  std::fill(free_bits + words * (rows - 1), free_bits + words * rows, uint64_t{0});
}

// free_neighbours' bits of the free neighbours that the ridge rule lets the flood enter: a neighbour is
// blocked when its ridge is below `threshold` (!(ridge < threshold): NaN ridges block nothing, as in the
// scalar rule). SSE2: a row's ridges are lanes 1 and 3 of its first vector and lane 1 of its second.
struct SseNeighbours {
  template <bool kRidge>
  static int open(const FloodCellNarrow* c, std::ptrdiff_t p, int wp, float threshold) {
    const __m128i zero = _mm_setzero_si128();
    const __m128 t = _mm_set1_ps(threshold);
    auto row = [&](std::ptrdiff_t o) {
      const __m128 a = _mm_loadu_ps(reinterpret_cast<const float*>(c + o));
      const __m128 b = _mm_castsi128_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(c + o + 2)));
      const __m128i l = _mm_slli_epi32(_mm_castps_si128(_mm_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))), 16);
      const __m128i free = _mm_cmpeq_epi32(l, zero);
      if constexpr (!kRidge) return free;
      const __m128 ridge = _mm_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
      return _mm_and_si128(free, _mm_castps_si128(_mm_cmpnlt_ps(ridge, t)));
    };
    const __m128i row2 = row(p + wp - 1);
    const __m128i rows =
        _mm_packs_epi16(_mm_packs_epi32(row(p - wp - 1), row(p - 1)), _mm_packs_epi32(row2, row2));
    return _mm_movemask_epi8(rows) & 0x757;
  }
};

// AVX2: a row's three cells in one vector, a 64-bit lane per cell whose sign is the ridge test's and whose
// label's zero test covers it.
struct AvxNeighbours {
  template <bool kRidge>
  IHC_AVX2 static int row(const FloodCellNarrow* c, __m256 t) {
    // Three cells, not four: the fourth's line is not prefetched (one 32-byte load was slower).
    const __m256i v =
        _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c))),
                                _mm_loadl_epi64(reinterpret_cast<const __m128i*>(c + 2)), 1);
    __m256i open = _mm256_cmpeq_epi64(_mm256_slli_epi64(v, 48), _mm256_setzero_si256());
    if constexpr (kRidge) {
      open =
          _mm256_and_si256(open, _mm256_castps_si256(_mm256_cmp_ps(_mm256_castsi256_ps(v), t, _CMP_NLT_UQ)));
    }
    return _mm256_movemask_pd(_mm256_castsi256_pd(open));
  }
  template <bool kRidge>
  IHC_AVX2 static int open(const FloodCellNarrow* c, std::ptrdiff_t p, int wp, float threshold) {
    const __m256 t = _mm256_set1_ps(threshold);
    return (row<kRidge>(c + p - wp - 1, t) & 7) | (row<kRidge>(c + p - 1, t) & 5) << 4 |
           (row<kRidge>(c + p + wp - 1, t) & 7) << 8;
  }
};

// `open`: per offset index, the neighbour bits within the limit; `step`: per neighbour bit, the key's change;
// `center`: the seed's offset index.
template <bool kLimit, bool kRidge, class N>
void flood_keys(FloodCellNarrow* cells, int wp, const cv::Mat& labels, float min_ridge, int kb,
                const uint16_t* open, const uint32_t* step, uint32_t center) {
  FloodKeyBuckets& store = flood_key_buckets();
  FloodKeyBuckets::Bucket* buckets = store.b;
  for (auto& b : store.b) b.end = b.begin;
  const uint32_t index_mask = (uint32_t{1} << kb) - 1;
  auto push = [&](int level, FloodKeyEntry e) {
    FloodKeyBuckets::Bucket& b = buckets[level];
    if (b.end == b.cap) grow_bucket(b);
    // Up to 1024 bucket tails are written at once, in buckets too large for L2: the lines two ahead are
    // fetched for writing (FloodCells 20 -> 17.5 ms; one or four lines ahead the same, cells prefetched 12
    // or 24 pops ahead instead of 16 no faster; prefetching only when the tail enters a new line: 17.7-18.9
    // vs 16.7-17.0 ms). Measured not faster either: flood_keys at -O3 (-7.6 % instructions, same time),
    // glibc's huge pages for the buckets (GLIBC_TUNABLES=glibc.malloc.hugetlb=1: within noise).
    __builtin_prefetch(b.end + 16, 1);
    *b.end++ = e;
  };
  // Seeds start at 0: a brown (Ki-67 positive) nucleus is not a line its cell must stop behind. Only seeds
  // with a free neighbour need to spread: in a dense field most seed pixels are inside their nucleus, and
  // testing each one's neighbours in the cells took 16 % of the flood's instructions. One bit a pixel
  // instead: free pixels of the three rows, dilated by one column, against the row's seeds.
  const int h = labels.rows;
  const std::size_t words = static_cast<std::size_t>(labels.cols + 63) / 64;  // a row's words
  const uint64_t* free_bits = store.bits.data();  // rows 0 .. h + 1 (flood_range's)
  const uint64_t* seed_bits = free_bits + words * static_cast<std::size_t>(h + 2);
  std::vector<uint32_t>& found = store.found;
  found.clear();
  for (int y = 1; y <= h; ++y) {
    const uint64_t* above = free_bits + words * static_cast<std::size_t>(y - 1);
    const uint64_t* here = above + words;
    const uint64_t* below = here + words;
    const uint64_t* sr = seed_bits + words * static_cast<std::size_t>(y);
    uint64_t prev = 0;  // the previous word's free pixels of the three rows
    uint64_t n = above[0] | here[0] | below[0];
    for (std::size_t j = 0; j < words; ++j) {
      const uint64_t next = j + 1 < words ? above[j + 1] | here[j + 1] | below[j + 1] : 0;
      uint64_t seeds = sr[j] & (n | n << 1 | n >> 1 | prev >> 63 | next << 63);
      while (seeds != 0) {
        found.push_back(
            static_cast<uint32_t>(y * wp + 1 + static_cast<int>(j * 64) + __builtin_ctzll(seeds)));
        seeds &= seeds - 1;
      }
      prev = n;
      n = next;
    }
  }
  // Their levels with the cells prefetched: reading them as found waited for memory (7 % of the flood).
  for (std::size_t k = 0; k < found.size(); ++k) {
    if (k + 16 < found.size()) __builtin_prefetch(cells + found[k + 16]);
    push(cells[found[k]].level, {found[k] << kb | center, 0.0f});
  }
  constexpr std::size_t kAhead = 16;
  for (int cur = 0; cur < kFloodLevels; ++cur) {
    FloodKeyBuckets::Bucket& bucket = buckets[cur];
    // Pixels queued into the current bucket while it is read are appended behind (a push may move the
    // array, so entries are read by index).
    for (std::size_t k = 0; k < static_cast<std::size_t>(bucket.end - bucket.begin); ++k) {
      if (k + kAhead < static_cast<std::size_t>(bucket.end - bucket.begin)) {
        const FloodCellNarrow* c = cells + (bucket.begin[k + kAhead].key >> kb);
        const FloodCellNarrow* up = c - wp;
        const FloodCellNarrow* down = c + wp;
        __builtin_prefetch(up - 1);
        __builtin_prefetch(up + 1);
        __builtin_prefetch(c - 1);
        __builtin_prefetch(c + 1);
        __builtin_prefetch(down - 1);
        __builtin_prefetch(down + 1);
      }
      const FloodKeyEntry e = bucket.begin[k];
      const uint32_t p = e.key >> kb;
      const float pm = e.path_max;
      // A flood that has climbed a ridge of min_ridge does not descend below half of it; most pops have not
      // (96 % in FloodCells), and their test leaves the ridges out.
      int bits = kRidge && pm >= min_ridge ? N::template open<kRidge>(cells, p, wp, 0.5f * pm)
                                           : N::template open<false>(cells, p, wp, 0.0f);
      if constexpr (kLimit) bits &= open[e.key & index_mask];
      if (bits == 0) continue;
      const int16_t lp = cells[p].lab;
      // Neighbours in raster order: ties spread breadth first in this order.
      while (bits != 0) {
        const int b = __builtin_ctz(static_cast<unsigned>(bits));
        bits &= bits - 1;
        const uint32_t key = e.key + step[b];
        FloodCellNarrow& fq = cells[key >> kb];
        fq.lab = lp;
        push(std::max(static_cast<int>(fq.level), cur), {key, kRidge ? std::max(pm, fq.ridge) : 0.0f});
      }
    }
  }
}

// BMI2 (shrx: any register as the shift count) spares the flood 2.6 % of its instructions; a local copy of
// `step` cost 1.2 % more.
template <bool kLimit, bool kRidge>
__attribute__((flatten)) void flood_keys_sse2(FloodCellNarrow* cells, int wp, const cv::Mat& labels,
                                              float min_ridge, int kb, const uint16_t* open,
                                              const uint32_t* step, uint32_t center) {
  flood_keys<kLimit, kRidge, SseNeighbours>(cells, wp, labels, min_ridge, kb, open, step, center);
}
template <bool kLimit, bool kRidge>
__attribute__((target("avx2,bmi2"), flatten)) void flood_keys_avx2(FloodCellNarrow* cells, int wp,
                                                                   const cv::Mat& labels, float min_ridge,
                                                                   int kb, const uint16_t* open,
                                                                   const uint32_t* step, uint32_t center) {
  flood_keys<kLimit, kRidge, AvxNeighbours>(cells, wp, labels, min_ridge, kb, open, step, center);
}

// The offset table of a distance limit (max d^2 as an integer) and the keys' steps; false when it does not
// fit (a limit of more than 127 px, or keys of more than 32 bits).
struct FloodKeyLayout {
  int kb = 0;
  uint32_t center = 0;
  uint32_t step[11] = {};
  std::vector<uint16_t> open;
};

bool flood_key_layout(bool limit, long long limit_d2, int wp, std::size_t np, FloodKeyLayout& out) {
  int r = 0;
  if (limit) {
    while (r <= 127 && static_cast<long long>(r + 1) * (r + 1) <= limit_d2) ++r;
    if (r > 127) return false;
  }
  const int side = 2 * r + 1;
  const int n = limit ? side * side : 1;
  int kb = 0;
  while ((1 << kb) < n) ++kb;
  if (np > (std::size_t{1} << (32 - kb))) return false;
  out.kb = kb;
  out.center = limit ? static_cast<uint32_t>(r * side + r) : 0;
  for (int b = 0; b < 11; ++b) {
    const int dx = (b & 3) - 1, dy = (b >> 2) - 1;
    const long long d = static_cast<long long>(dy) * wp + dx;
    const long long index = limit ? static_cast<long long>(dy) * side + dx : 0;
    out.step[b] = static_cast<uint32_t>(d * (1LL << kb) + index);
  }
  out.open.assign(static_cast<std::size_t>(n), 0);
  if (limit) {
    for (int oy = -r; oy <= r; ++oy) {
      for (int ox = -r; ox <= r; ++ox) {
        int bits = 0;
        for (const int b : {0, 1, 2, 4, 6, 8, 9, 10}) {
          const long long dx = ox + (b & 3) - 1, dy = oy + (b >> 2) - 1;
          if (dx * dx + dy * dy <= limit_d2) bits |= 1 << b;
        }
        const int cell = (oy + r) * side + ox + r;  // row-major in the window
        out.open[static_cast<std::size_t>(cell)] = static_cast<uint16_t>(bits);
      }
    }
  }
  return true;
}

// seeded_flood's passes over the image around the flood, over a lane type.
// Landscape range [lo, hi] of the pixels that may be entered; `wide` when a label needs more than 16 bits;
// flood_keys' rows of free and seed bits (rows 1 .. h of `words` words each, from `bits`), read here with
// the labels instead of in a pass of their own (FloodCells 2 % faster, same instructions).
template <class L>
inline void flood_range(const cv::Mat& landscape, const cv::Mat& labels, float& lo, float& hi, bool& wide,
                        uint64_t* bits, std::size_t words) {
  using V = typename L::V;
  using Vi = typename L::Vi;
  const int w = labels.cols;
  const int h = labels.rows;
  // The pixels that may not be entered count as +-FLT_MAX.
  V lo4 = L::set1(FLT_MAX), hi4 = L::set1(-FLT_MAX);
  const Vi minus_one = L::set1i(-1);
  // Labels outside -32768 .. 32767.
  const Vi min16 = L::set1i(std::numeric_limits<int16_t>::min() - 1);
  const Vi max16 = L::set1i(std::numeric_limits<int16_t>::max());
  Vi wide4 = L::zeroi();
  const Vi zero = L::zeroi();
  static_assert(64 % L::kN == 0);
  uint64_t* free_bits = bits + words;  // row 0 is the frame's
  uint64_t* seed_bits = bits + words * static_cast<std::size_t>(h + 3);
  for (int y = 0; y < h; ++y) {
    const int* l = labels.ptr<int>(y);
    const float* fr = landscape.ptr<float>(y);
    uint64_t* free_row = free_bits + words * static_cast<std::size_t>(y);
    uint64_t* seed_row = seed_bits + words * static_cast<std::size_t>(y);
    uint64_t free_word = 0, seed_word = 0;
    int x = 0;
    for (; x + L::kN <= w; x += L::kN) {
      const Vi l4 = L::loadi(l + x);
      wide4 = L::or_i(wide4, L::or_i(L::cmpgt_i(l4, max16), L::cmpgt_i(min16, l4)));
      const V keep = L::as_ps(L::cmpgt_i(l4, minus_one));
      const V f = L::load(fr + x);
      lo4 = L::min(L::bit_or(L::bit_and(keep, f), L::bit_andnot(keep, L::set1(FLT_MAX))), lo4);
      hi4 = L::max(L::bit_or(L::bit_and(keep, f), L::bit_andnot(keep, L::set1(-FLT_MAX))), hi4);
      const int seed = L::movemask(L::as_ps(L::cmpgt_i(l4, zero)));
      free_word |= static_cast<uint64_t>(L::movemask(keep) & ~seed) << (x & 63);
      seed_word |= static_cast<uint64_t>(seed) << (x & 63);
      if (((x + L::kN) & 63) == 0) {
        free_row[x >> 6] = free_word;
        seed_row[x >> 6] = seed_word;
        free_word = seed_word = 0;
      }
    }
    for (; x < w; ++x) {
      wide = wide || l[x] > std::numeric_limits<int16_t>::max() || l[x] < std::numeric_limits<int16_t>::min();
      free_word |= static_cast<uint64_t>(l[x] == 0) << (x & 63);
      seed_word |= static_cast<uint64_t>(l[x] > 0) << (x & 63);
      if (l[x] < 0) continue;
      lo = std::min(lo, fr[x]);
      hi = std::max(hi, fr[x]);
    }
    if ((w & 63) != 0) {
      free_row[w >> 6] = free_word;
      seed_row[w >> 6] = seed_word;
    }
  }
  wide = wide || L::movemask_i8(wide4) != 0;
  lo = horizontal_min<L>(lo4, lo);
  hi = -horizontal_min<L>(L::sub(L::zero(), hi4), -hi);
}

// The narrow cells' inner pixels from the inputs (levels of the pixels that may be entered).
template <class L>
inline void flood_pack(const cv::Mat& landscape, const cv::Mat& labels, const cv::Mat& ridge, float lo,
                       float scale, FloodCellNarrow* cells, int wp) {
  using V = typename L::V;
  using Vi = typename L::Vi;
  const int w = labels.cols;
  const int h = labels.rows;
  for (int y = 0; y < h; ++y) {
    const int* l = labels.ptr<int>(y);
    const float* fr = landscape.ptr<float>(y);
    const float* rr = !ridge.empty() ? ridge.ptr<float>(y) : nullptr;
    FloodCellNarrow* cr = cells + static_cast<std::ptrdiff_t>(y + 1) * wp + 1;
    cr[-1].lab = -1;
    cr[w].lab = -1;
    int x = 0;
    const V lo4s = L::set1(lo), scale4 = L::set1(scale);
    const Vi low16 = L::set1i(0xFFFF), minus_one = L::set1i(-1);
    for (; x + L::kN <= w; x += L::kN) {
      // Cells [label | level << 16, ridge].
      const Vi l4 = L::loadi(l + x);
      const V v = L::mul(L::sub(L::load(fr + x), lo4s), scale4);
      const Vi level = L::and_i(L::cmpgt_i(l4, minus_one), L::cvtt(v));
      const V packed = L::as_ps(L::or_i(L::and_i(l4, low16), L::slli16(level)));
      const V r4 = rr != nullptr ? L::load(rr + x) : L::zero();
      L::store_pairs(reinterpret_cast<float*>(cr + x), packed, r4);
    }
    for (; x < w; ++x) {
      cr[x] = {static_cast<int16_t>(l[x]),
               l[x] >= 0 ? static_cast<uint16_t>((fr[x] - lo) * scale) : uint16_t{0},
               rr != nullptr ? rr[x] : 0.0f};
    }
  }
}

// The labels back from the narrow cells.
template <class L>
inline void flood_unpack(const FloodCellNarrow* cells, int wp, cv::Mat& labels) {
  using Vi = typename L::Vi;
  const int w = labels.cols;
  const int h = labels.rows;
  for (int y = 0; y < h; ++y) {
    const FloodCellNarrow* cr = cells + static_cast<std::ptrdiff_t>(y + 1) * wp + 1;
    int* l = labels.ptr<int>(y);
    int x = 0;
    for (; x + L::kN <= w; x += L::kN) {
      const Vi packed = L::as_si(L::load_evens(reinterpret_cast<const float*>(cr + x)));
      L::storei(l + x, L::srai16(L::slli16(packed)));
    }
    for (; x < w; ++x) l[x] = cr[x].lab;
  }
}

// The parameter and argument lists are pasted whole, parentheses included.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define IHC_SSE2_AND_AVX2(name, params, args)                          \
  __attribute__((flatten)) void name##_sse2 params { name<Sse> args; } \
  __attribute__((target("avx2"), flatten)) void name##_avx2 params { name<Avx> args; }
// NOLINTEND(bugprone-macro-parentheses)
IHC_SSE2_AND_AVX2(flood_range,
                  (const cv::Mat& landscape, const cv::Mat& labels, float& lo, float& hi, bool& wide,
                   uint64_t* bits, std::size_t words),
                  (landscape, labels, lo, hi, wide, bits, words))
IHC_SSE2_AND_AVX2(flood_pack,
                  (const cv::Mat& landscape, const cv::Mat& labels, const cv::Mat& ridge, float lo,
                   float scale, FloodCellNarrow* cells, int wp),
                  (landscape, labels, ridge, lo, scale, cells, wp))
IHC_SSE2_AND_AVX2(flood_unpack, (const FloodCellNarrow* cells, int wp, cv::Mat& labels), (cells, wp, labels))
#undef IHC_SSE2_AND_AVX2

}  // namespace

void seeded_flood(const cv::Mat& landscape, cv::Mat& labels, double max_distance_px, const cv::Mat& ridge,
                  float min_ridge) {
  require_float(landscape, "seeded_flood landscape");
  if (labels.type() != CV_32SC1 || labels.size() != landscape.size()) {
    throw std::invalid_argument("seeded_flood: labels must be CV_32S of the landscape's size");
  }
  const bool stop_at_ridges = !ridge.empty();
  if (stop_at_ridges) CV_Assert(ridge.type() == CV_32FC1 && ridge.size() == labels.size());
  const int w = labels.cols;
  const int h = labels.rows;
  // Landscape range of the pixels that may be entered; whether a label needs more than 16 bits.
  float lo = FLT_MAX, hi = -FLT_MAX;
  bool wide = false;
  FloodKeyBuckets& key_store = flood_key_buckets();
  const std::size_t words = static_cast<std::size_t>(w + 63) / 64;
  flood_bit_rows(key_store, words, h);
  if (use_avx2()) {
    flood_range_avx2(landscape, labels, lo, hi, wide, key_store.bits.data(), words);
  } else {
    flood_range_sse2(landscape, labels, lo, hi, wide, key_store.bits.data(), words);
  }
  if (lo > hi) return;
  const float scale = hi > lo ? (kFloodLevels - 1) / (hi - lo) : 0.0f;
  FloodImages& im = flood_images();
  const int wp = w + 2;
  const std::size_t np = static_cast<std::size_t>(wp) * static_cast<std::size_t>(h + 2);
  const bool limit = max_distance_px > 0.0;
  // The general flood (labels beyond 16 bits, limits beyond flood_keys' table, keys beyond 32 bits). A
  // pixel's offset from its seed is the difference of their positions.
  const bool small = w <= std::numeric_limits<int16_t>::max() && h <= std::numeric_limits<int16_t>::max();
  auto run = [&](auto* cells) {
    if (limit && stop_at_ridges) {
      small ? flood<true, true, int16_t>(cells, wp, labels, max_distance_px, min_ridge)
            : flood<true, true, int>(cells, wp, labels, max_distance_px, min_ridge);
    } else if (limit) {
      small ? flood<true, false, int16_t>(cells, wp, labels, max_distance_px, min_ridge)
            : flood<true, false, int>(cells, wp, labels, max_distance_px, min_ridge);
    } else if (stop_at_ridges) {
      flood<false, true, int16_t>(cells, wp, labels, max_distance_px, min_ridge);
    } else {
      flood<false, false, int16_t>(cells, wp, labels, max_distance_px, min_ridge);
    }
  };
  if (!wide) {
    FloodCellNarrow* cells = im.narrow.get(np);
    for (std::size_t i = 0; i < static_cast<std::size_t>(wp); ++i) {
      cells[i].lab = -1;
      cells[np - 1 - i].lab = -1;
    }
    if (use_avx2()) {
      flood_pack_avx2(landscape, labels, ridge, lo, scale, cells, wp);
    } else {
      flood_pack_sse2(landscape, labels, ridge, lo, scale, cells, wp);
    }
    // d.x^2 + d.y^2 > max_d2 for an integer sum is the same as sum > floor(max_d2); a limit beyond the
    // image's diagonal never binds.
    const double max_d2 = max_distance_px * max_distance_px;
    const long long limit_d2 =
        max_d2 >= 9e18 ? std::numeric_limits<long long>::max() : static_cast<long long>(std::floor(max_d2));
    const bool binds =
        limit && static_cast<long long>(w - 1) * (w - 1) + static_cast<long long>(h - 1) * (h - 1) > limit_d2;
    thread_local FloodKeyLayout layout;
    if (flood_key_layout(binds, limit_d2, wp, np, layout)) {
      auto keys = [&](auto sse2, auto avx2) {
        (use_avx2() && __builtin_cpu_supports("bmi2") ? avx2 : sse2)(
            cells, wp, labels, min_ridge, layout.kb, layout.open.data(), layout.step, layout.center);
      };
      if (binds && stop_at_ridges) {
        keys(flood_keys_sse2<true, true>, flood_keys_avx2<true, true>);
      } else if (binds) {
        keys(flood_keys_sse2<true, false>, flood_keys_avx2<true, false>);
      } else if (stop_at_ridges) {
        keys(flood_keys_sse2<false, true>, flood_keys_avx2<false, true>);
      } else {
        keys(flood_keys_sse2<false, false>, flood_keys_avx2<false, false>);
      }
    } else {
      run(cells);
    }
    if (use_avx2()) {
      flood_unpack_avx2(cells, wp, labels);
    } else {
      flood_unpack_sse2(cells, wp, labels);
    }
    if (np > (std::size_t{1} << 25)) {
      im.narrow.release();
      key_store.release();
    }
    return;
  }
  // Reused buffers: only the frame needs its -1 (every inner pixel is written below).
  FloodCell* cells = im.cells.get(np);
  for (std::size_t i = 0; i < static_cast<std::size_t>(wp); ++i) {
    cells[i].lab = -1;
    cells[np - 1 - i].lab = -1;
  }
  for (int y = 0; y < h; ++y) {
    const std::ptrdiff_t row = static_cast<std::ptrdiff_t>(y + 1) * wp + 1;
    const int* l = labels.ptr<int>(y);
    const float* fr = landscape.ptr<float>(y);
    const float* rr = stop_at_ridges ? ridge.ptr<float>(y) : nullptr;
    FloodCell* cr = cells + row;
    cr[-1].lab = -1;
    cr[w].lab = -1;
    // Only pixels that may be entered have a level (the others may hold anything, even NaN).
    int x = 0;
    const __m128 lo4s = _mm_set1_ps(lo), scale4 = _mm_set1_ps(scale);
    const __m128i minus_one = _mm_set1_epi32(-1);
    for (; x + 4 <= w; x += 4) {
      const __m128i keep =
          _mm_cmpgt_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(l + x)), minus_one);
      const __m128 v = _mm_mul_ps(_mm_sub_ps(_mm_loadu_ps(fr + x), lo4s), scale4);
      // Four cells (label, ridge, level) from the three rows: [l0 r0 v0 l1] [r1 v1 l2 r2] [v2 l3 r3 v3].
      const __m128 lab4 = _mm_castsi128_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(l + x)));
      const __m128 r4 = rr != nullptr ? _mm_loadu_ps(rr + x) : _mm_setzero_ps();
      const __m128 v4 = _mm_castsi128_ps(_mm_and_si128(keep, _mm_cvttps_epi32(v)));
      float* c = reinterpret_cast<float*>(cr + x);
      _mm_storeu_ps(
          c, _mm_shuffle_ps(_mm_unpacklo_ps(lab4, r4), _mm_unpacklo_ps(v4, lab4), _MM_SHUFFLE(3, 0, 1, 0)));
      _mm_storeu_ps(
          c + 4, _mm_shuffle_ps(_mm_unpacklo_ps(r4, v4), _mm_unpackhi_ps(lab4, r4), _MM_SHUFFLE(1, 0, 3, 2)));
      _mm_storeu_ps(
          c + 8, _mm_shuffle_ps(_mm_unpackhi_ps(v4, lab4), _mm_unpackhi_ps(r4, v4), _MM_SHUFFLE(3, 2, 3, 0)));
    }
    for (; x < w; ++x) {
      cr[x] = {l[x], rr != nullptr ? rr[x] : 0.0f,
               l[x] >= 0 ? static_cast<int32_t>((fr[x] - lo) * scale) : 0};
    }
  }
  run(cells);
  for (int y = 0; y < h; ++y) {
    const FloodCell* cr = cells + static_cast<std::ptrdiff_t>(y + 1) * wp + 1;
    int* l = labels.ptr<int>(y);
    int x = 0;
    for (; x + 4 <= w; x += 4) {
      const float* c = reinterpret_cast<const float*>(cr + x);
      const __m128 a = _mm_loadu_ps(c), b = _mm_loadu_ps(c + 4), d = _mm_loadu_ps(c + 8);
      const __m128 l23 = _mm_shuffle_ps(b, d, _MM_SHUFFLE(1, 1, 2, 2));  // l2 l2 l3 l3
      _mm_storeu_si128(reinterpret_cast<__m128i*>(l + x),
                       _mm_castps_si128(_mm_shuffle_ps(a, l23, _MM_SHUFFLE(2, 0, 3, 0))));
    }
    for (; x < w; ++x) l[x] = cr[x].lab;
  }
  // A huge image's buffers are not kept for the rest of the thread's life.
  if (np > (std::size_t{1} << 25)) {
    im.cells.release();
    key_store.release();
    for (auto& b : flood_buckets<int16_t>()) std::vector<FloodEntry<int16_t>>().swap(b);
    for (auto& b : flood_buckets<int>()) std::vector<FloodEntry<int>>().swap(b);
  }
}

}  // namespace ihc
