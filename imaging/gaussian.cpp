#include "imaging/gaussian.hpp"

#include <emmintrin.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <opencv2/imgproc.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "imaging/morphology.hpp"

// The bits must not depend on the compiler's flags either: a build with -mfma would otherwise fuse the
// multiplies and adds below into FMAs (GCC's default -ffp-contract=fast sees through the SSE intrinsics).
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace ihc {

namespace {

constexpr double kMaxSigmaPx = 10000.0;
// Columns per step of the column pass (two SSE vectors for each of two rows) and of the row pass (eight
// vectors: a row sum is a chain of 2 r dependent adds of 3 cycles latency while two adds issue per cycle).
constexpr int kGroup = 8;
constexpr int kRowGroup = 32;

struct Kernel {
  double sigma_px = -1.0;
  int radius = 0;
  std::vector<float> splat;  // OpenCV's kernel c_-r .. c_r, each value 4 times (a memory operand of mulps)
  const float* centre() const { return splat.data() + 4 * radius; }  // c_0 .. c_r
};

// A few kernels per thread: detection alternates three sigmas, and OpenCV computes a kernel in soft floats.
const Kernel& kernel_for(double sigma_px) {
  thread_local Kernel kept[4];
  thread_local int next = 0;
  for (const Kernel& k : kept) {
    if (k.sigma_px == sigma_px) return k;
  }
  Kernel& k = kept[next];
  next = (next + 1) % 4;
  const int ksize = gaussian_kernel_size(sigma_px);
  const cv::Mat full = cv::getGaussianKernel(ksize, sigma_px, CV_32F);
  k.radius = ksize / 2;
  k.splat.resize(4 * std::size_t(ksize));  // operator new: 16-byte aligned
  for (int i = 0; i < ksize; ++i) std::fill_n(k.splat.begin() + 4 * i, 4, full.at<float>(i));
  k.sigma_px = sigma_px;
  return k;
}

inline void prefetch_line(const float* p) { _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T0); }

// One row, out[x] for x in [0, width) (a multiple of kRowGroup), p with `radius` valid values before p[0] and
// after p[width - 1]; c = c_-r .. c_r. OpenCV's baseline (SSE2) order: kernels of 7 taps and more sum
// p[x - r] * c_-r + p[x - r + 1] * c_-r+1 + ... left to right (RowFilter / RowVec_32f), smaller ones add
// (p[x - k] + p[x + k]) * c_k for k = 1..r to p[x] * c_0 (SymmRowSmallFilter). On this add-bound loop the
// extra multiplies of the long form cost nothing measurable (separate pipes), and keeping OpenCV's order
// leaves detection results as OpenCV gives them on CPUs without FMA. Prefetches next[0 .. next_width): the
// next source row, whose copy would otherwise wait for memory.
// Eight sums of four lanes; spelt out so that they stay in registers (an array of them did not at -O2).
struct Sums8 {
  __m128 s0, s1, s2, s3, s4, s5, s6, s7;
  void start(const float* q, __m128 c) {
    s0 = _mm_mul_ps(_mm_loadu_ps(q), c), s1 = _mm_mul_ps(_mm_loadu_ps(q + 4), c);
    s2 = _mm_mul_ps(_mm_loadu_ps(q + 8), c), s3 = _mm_mul_ps(_mm_loadu_ps(q + 12), c);
    s4 = _mm_mul_ps(_mm_loadu_ps(q + 16), c), s5 = _mm_mul_ps(_mm_loadu_ps(q + 20), c);
    s6 = _mm_mul_ps(_mm_loadu_ps(q + 24), c), s7 = _mm_mul_ps(_mm_loadu_ps(q + 28), c);
  }
  void add(const float* q, __m128 c) {  // += q[i] * c
    s0 = _mm_add_ps(s0, _mm_mul_ps(_mm_loadu_ps(q), c)),
    s1 = _mm_add_ps(s1, _mm_mul_ps(_mm_loadu_ps(q + 4), c));
    s2 = _mm_add_ps(s2, _mm_mul_ps(_mm_loadu_ps(q + 8), c));
    s3 = _mm_add_ps(s3, _mm_mul_ps(_mm_loadu_ps(q + 12), c));
    s4 = _mm_add_ps(s4, _mm_mul_ps(_mm_loadu_ps(q + 16), c));
    s5 = _mm_add_ps(s5, _mm_mul_ps(_mm_loadu_ps(q + 20), c));
    s6 = _mm_add_ps(s6, _mm_mul_ps(_mm_loadu_ps(q + 24), c));
    s7 = _mm_add_ps(s7, _mm_mul_ps(_mm_loadu_ps(q + 28), c));
  }
  static __m128 pair(const float* a, const float* b) { return _mm_add_ps(_mm_loadu_ps(a), _mm_loadu_ps(b)); }
  void add_pairs(const float* a, const float* b, __m128 c) {  // += (a[i] + b[i]) * c
    s0 = _mm_add_ps(s0, _mm_mul_ps(pair(a, b), c)), s1 = _mm_add_ps(s1, _mm_mul_ps(pair(a + 4, b + 4), c));
    s2 = _mm_add_ps(s2, _mm_mul_ps(pair(a + 8, b + 8), c));
    s3 = _mm_add_ps(s3, _mm_mul_ps(pair(a + 12, b + 12), c));
    s4 = _mm_add_ps(s4, _mm_mul_ps(pair(a + 16, b + 16), c));
    s5 = _mm_add_ps(s5, _mm_mul_ps(pair(a + 20, b + 20), c));
    s6 = _mm_add_ps(s6, _mm_mul_ps(pair(a + 24, b + 24), c));
    s7 = _mm_add_ps(s7, _mm_mul_ps(pair(a + 28, b + 28), c));
  }
  void store(float* out) const {
    _mm_store_ps(out, s0), _mm_store_ps(out + 4, s1), _mm_store_ps(out + 8, s2), _mm_store_ps(out + 12, s3);
    _mm_store_ps(out + 16, s4), _mm_store_ps(out + 20, s5), _mm_store_ps(out + 24, s6);
    _mm_store_ps(out + 28, s7);
  }
};

void blur_row(const float* p, float* out, int width, const float* c, int radius, const float* next,
              int next_width) {
  const int taps = 2 * radius + 1;
  Sums8 s;
  for (int x = 0; x < width; x += kRowGroup) {
    if (x < next_width) prefetch_line(next + x), prefetch_line(next + x + 16);
    if (taps >= 7) {
      const float* q = p + x - radius;
      s.start(q, _mm_load_ps(c));
      for (int k = 1; k < taps; ++k) s.add(q + k, _mm_load_ps(c + 4 * k));
    } else {
      const float* q = p + x;
      const float* cc = c + 4 * radius;
      s.start(q, _mm_load_ps(cc));
      for (int k = 1; k <= radius; ++k) s.add_pairs(q - k, q + k, _mm_load_ps(cc + 4 * k));
    }
    s.store(out + x);
  }
}

// Two output rows at once from the row-filtered rows rows[-radius .. radius + 1] (pointers, replicated at
// the plane's edges): out0 = column sums centred on rows[0], out1 on rows[1]. The pair sums of the second
// row reuse the loads of the first (rows[1 - k] is the first row's rows[-(k - 1)]), two loads per tap for
// two outputs. out1 may be null (the last row of an odd height).
void blur_columns2(const float* const* rows, float* out0, float* out1, int width, const float* c,
                   int radius) {
  const __m128 c0 = _mm_load_ps(c);
  float tail0[kGroup], tail1[kGroup];
  for (int x = 0; x < width; x += kGroup) {
    __m128 a0 = _mm_load_ps(rows[0] + x), a1 = _mm_load_ps(rows[0] + x + 4);  // rows[1 - k] before tap k
    __m128 b0 = _mm_load_ps(rows[1] + x), b1 = _mm_load_ps(rows[1] + x + 4);  // rows[k] before tap k
    __m128 s0 = _mm_mul_ps(a0, c0), s1 = _mm_mul_ps(a1, c0);
    __m128 t0 = _mm_mul_ps(b0, c0), t1 = _mm_mul_ps(b1, c0);
    for (int k = 1; k <= radius; ++k) {
      const __m128 ck = _mm_load_ps(c + 4 * k);
      const float* lo = rows[-k] + x;
      const float* hi = rows[k + 1] + x;
      const __m128 l0 = _mm_load_ps(lo), l1 = _mm_load_ps(lo + 4);
      const __m128 h0 = _mm_load_ps(hi), h1 = _mm_load_ps(hi + 4);
      s0 = _mm_add_ps(s0, _mm_mul_ps(_mm_add_ps(l0, b0), ck));
      s1 = _mm_add_ps(s1, _mm_mul_ps(_mm_add_ps(l1, b1), ck));
      t0 = _mm_add_ps(t0, _mm_mul_ps(_mm_add_ps(a0, h0), ck));
      t1 = _mm_add_ps(t1, _mm_mul_ps(_mm_add_ps(a1, h1), ck));
      a0 = l0, a1 = l1, b0 = h0, b1 = h1;
    }
    const int n = std::min(kGroup, width - x);
    if (n == kGroup) {
      _mm_storeu_ps(out0 + x, s0), _mm_storeu_ps(out0 + x + 4, s1);
      if (out1 != nullptr) _mm_storeu_ps(out1 + x, t0), _mm_storeu_ps(out1 + x + 4, t1);
    } else {
      _mm_storeu_ps(tail0, s0), _mm_storeu_ps(tail0 + 4, s1);
      _mm_storeu_ps(tail1, t0), _mm_storeu_ps(tail1 + 4, t1);
      std::memcpy(out0 + x, tail0, sizeof(float) * n);
      if (out1 != nullptr) std::memcpy(out1 + x, tail1, sizeof(float) * n);
    }
  }
}

bool overlaps(const cv::Mat& a, const cv::Mat& b) {
  const uchar* a_end = a.ptr(a.rows - 1) + a.cols * a.elemSize();
  const uchar* b_end = b.ptr(b.rows - 1) + b.cols * b.elemSize();
  return a.data < b_end && b.data < a_end;
}

}  // namespace

int gaussian_kernel_size(double sigma_px) { return cvRound(sigma_px * 8 + 1) | 1; }

void gaussian_blur(const cv::Mat& src_in, cv::Mat& dst, double sigma_px) {
  require_float(src_in, "gaussian_blur");
  if (!(sigma_px > 0.0 && sigma_px <= kMaxSigmaPx)) {
    throw std::invalid_argument("gaussian_blur: sigma_px must be in (0, 10000], got " +
                                std::to_string(sigma_px));
  }
  const Kernel& kernel = kernel_for(sigma_px);
  const int w = src_in.cols, h = src_in.rows, r = kernel.radius;
  const float* c = kernel.splat.data();  // c_-r .. c_r

  // Keep src alive and readable while dst is (re)created: dst may share or overlap its memory.
  cv::Mat src = src_in;
  thread_local cv::Mat copy;
  if (r == 0 || (w == 1 && h == 1)) {
    src.copyTo(dst);
    return;
  }
  dst.create(h, w, CV_32F);
  if (overlaps(src, dst) && (src.data != dst.data || src.step != dst.step)) {
    src.copyTo(copy);
    src = copy;
  }

  // Row-filtered rows live in a ring of 2 r + 2 rows (in L2 for tiles of ~1200 px and r <= 12): two output
  // rows need rows y - r .. y + 1 + r. Row j sits in slot j % ring_rows; a clamped index gives the
  // replicated border row.
  const int wv = (w + kRowGroup - 1) / kRowGroup * kRowGroup;
  const int stride = wv;  // a multiple of 32 floats: aligned loads and stores
  const int ring_rows = 2 * r + 2;
  thread_local std::vector<float> ring;  // operator new: 16-byte aligned
  thread_local std::vector<float> padded;
  thread_local std::vector<const float*> row_ptrs;
  if (ring.size() < static_cast<std::size_t>(ring_rows) * stride)
    ring.resize(std::size_t(ring_rows) * stride);
  if (padded.size() < static_cast<std::size_t>(wv + 2 * r)) padded.resize(wv + 2 * r);
  if (row_ptrs.size() < static_cast<std::size_t>(2 * r + 2)) row_ptrs.resize(2 * r + 2);

  int filtered = 0;  // rows 0 .. filtered - 1 are in the ring
  auto filter_through = [&](int last) {
    for (; filtered <= last; ++filtered) {
      const float* s = src.ptr<float>(filtered);
      float* p = padded.data();
      std::fill(p, p + r, s[0]);
      std::memcpy(p + r, s, sizeof(float) * w);
      std::fill(p + r + w, p + wv + 2 * r, s[w - 1]);
      float* out = ring.data() + std::size_t(filtered % ring_rows) * stride;
      if (w == 1) {
        std::fill(out, out + wv, s[0]);  // as OpenCV: no row kernel across a single column
        continue;
      }
      // The next source row is fetched while this one is filtered (its copy above waited for memory).
      const float* next = filtered + 1 < h ? src.ptr<float>(filtered + 1) : s;
      blur_row(p + r, out, wv, c, r, next, w);
    }
  };
  if (h == 1) {  // as OpenCV: no column kernel across a single row
    filter_through(0);
    std::memcpy(dst.ptr<float>(0), ring.data(), sizeof(float) * w);
    return;
  }
  for (int y = 0; y < h; y += 2) {
    filter_through(std::min(y + 1 + r, h - 1));
    for (int i = -r; i <= r + 1; ++i) {
      const int j = std::clamp(y + i, 0, h - 1);
      row_ptrs[i + r] = ring.data() + std::size_t(j % ring_rows) * stride;
    }
    blur_columns2(row_ptrs.data() + r, dst.ptr<float>(y), y + 1 < h ? dst.ptr<float>(y + 1) : nullptr, w,
                  kernel.centre(), r);
  }
}

}  // namespace ihc
