#include "imaging/gaussian.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <opencv2/imgproc.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "imaging/morphology.hpp"
#include "imaging/simd.hpp"

namespace ihc {

namespace {

constexpr double kMaxSigmaPx = 1000.0;  // 8001 taps: far beyond any detection scale
// Row and ring widths are padded to this (the AVX row step) so neither pass needs a scalar tail.
constexpr int kRowPad = 64;

struct Kernel {
  double sigma_px = -1.0;
  int radius = 0;
  std::vector<float> c;                                      // OpenCV's kernel c_-r .. c_r
  const float* centre() const { return c.data() + radius; }  // c_0 .. c_r
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
  k.c.assign(full.ptr<float>(), full.ptr<float>() + ksize);
  k.sigma_px = sigma_px;
  return k;
}

// The passes are written once on GCC vectors and compiled twice: 4 lanes (SSE2, every x86-64) and 8 lanes in
// an AVX function chosen at run time. Both do the same IEEE multiplies and adds in the same order lane by
// lane (AVX without FMA), so the bits do not depend on the CPU; only the speed does.
typedef float F4 __attribute__((vector_size(16)));
typedef float F8 __attribute__((vector_size(32)));

template <class V>
[[gnu::always_inline]] inline V load(const float* p) {
  V v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
template <class V>
[[gnu::always_inline]] inline void store(float* p, V v) {
  __builtin_memcpy(p, &v, sizeof v);
}
template <class V>
[[gnu::always_inline]] inline V splat(float c) {
  if constexpr (sizeof(V) == 16) {
    return V{c, c, c, c};
  } else {
    return V{c, c, c, c, c, c, c, c};  // not V{} + c: adding 0 is an add (it turns -0 into +0)
  }
}

// One row, out[x] for x in [0, width) (a multiple of 8 vectors), p with `radius` valid values before p[0]
// and after p[width - 1]; c = c_-r .. c_r. OpenCV's baseline (SSE2) order: kernels of 7 taps and more sum
// p[x - r] * c_-r + p[x - r + 1] * c_-r+1 + ... left to right (RowFilter / RowVec_32f), smaller ones add
// (p[x - k] + p[x + k]) * c_k for k = 1..r to p[x] * c_0 (SymmRowSmallFilter). On this add-bound loop the
// extra multiplies of the long form cost nothing measurable (separate pipes), and keeping OpenCV's order
// leaves detection results as OpenCV gives them on CPUs without FMA. Eight sums in flight: a row sum is a
// chain of 2 r adds of 3 cycles latency while two adds issue per cycle. Prefetches next[0 .. next_width):
// the next source row, whose copy would otherwise wait for memory.
template <class V>
[[gnu::always_inline]] inline void blur_row(const float* p, float* out, int width, const float* c, int radius,
                                            const float* next, int next_width) {
  constexpr int kLanes = sizeof(V) / sizeof(float), kStep = 8 * kLanes;
  const int taps = 2 * radius + 1;
  for (int x = 0; x < width; x += kStep) {
    for (int i = 0; i < kStep; i += 16) {
      if (x + i < next_width) __builtin_prefetch(next + x + i, 0, 3);
    }
    V s[8];
    if (taps >= 7) {
      const float* q = p + x - radius;
      const V c0 = splat<V>(c[0]);
#pragma GCC unroll 8
      for (std::ptrdiff_t i = 0; i < 8; ++i) s[i] = load<V>(q + i * kLanes) * c0;
      for (int k = 1; k < taps; ++k) {
        const V ck = splat<V>(c[k]);
#pragma GCC unroll 8
        for (std::ptrdiff_t i = 0; i < 8; ++i) s[i] = s[i] + load<V>(q + k + i * kLanes) * ck;
      }
    } else {
      const float* q = p + x;
      const float* cc = c + radius;
      const V c0 = splat<V>(cc[0]);
#pragma GCC unroll 8
      for (std::ptrdiff_t i = 0; i < 8; ++i) s[i] = load<V>(q + i * kLanes) * c0;
      for (int k = 1; k <= radius; ++k) {
        const V ck = splat<V>(cc[k]);
#pragma GCC unroll 8
        for (std::ptrdiff_t i = 0; i < 8; ++i)
          s[i] = s[i] + (load<V>(q - k + i * kLanes) + load<V>(q + k + i * kLanes)) * ck;
      }
    }
#pragma GCC unroll 8
    for (std::ptrdiff_t i = 0; i < 8; ++i) store<V>(out + x + i * kLanes, s[i]);
  }
}

// Two output rows at once from the row-filtered rows rows[-radius .. radius + 1] (pointers, replicated at
// the plane's edges, `width` rounded up to kRowPad readable): out0 = column sums centred on rows[0], out1 on
// rows[1], each x[0] * c_0 + (x[-k] + x[k]) * c_k for k = 1..r as OpenCV's SymmColumnFilter. The pair sums
// of the second row reuse the loads of the first (rows[1 - k] is the first row's rows[-(k - 1)]), two loads
// per tap for two outputs. out1 may be null (the last row of an odd height).
template <class V>
[[gnu::always_inline]] inline void blur_columns2(const float* const* rows, float* out0, float* out1,
                                                 int width, const float* c, int radius) {
  constexpr int kLanes = sizeof(V) / sizeof(float), kStep = 2 * kLanes;
  const V c0 = splat<V>(c[0]);
  for (int x = 0; x < width; x += kStep) {
    V a0 = load<V>(rows[0] + x), a1 = load<V>(rows[0] + x + kLanes);  // rows[1 - k] before tap k
    V b0 = load<V>(rows[1] + x), b1 = load<V>(rows[1] + x + kLanes);  // rows[k] before tap k
    V s0 = a0 * c0, s1 = a1 * c0, t0 = b0 * c0, t1 = b1 * c0;
    for (int k = 1; k <= radius; ++k) {
      const V ck = splat<V>(c[k]);
      const float* lo = rows[-k] + x;
      const float* hi = rows[k + 1] + x;
      const V l0 = load<V>(lo), l1 = load<V>(lo + kLanes);
      const V h0 = load<V>(hi), h1 = load<V>(hi + kLanes);
      s0 = s0 + (l0 + b0) * ck;
      s1 = s1 + (l1 + b1) * ck;
      t0 = t0 + (a0 + h0) * ck;
      t1 = t1 + (a1 + h1) * ck;
      a0 = l0, a1 = l1, b0 = h0, b1 = h1;
    }
    if (x + kStep <= width) {
      store<V>(out0 + x, s0), store<V>(out0 + x + kLanes, s1);
      if (out1 != nullptr) store<V>(out1 + x, t0), store<V>(out1 + x + kLanes, t1);
    } else {
      float tail[2 * kStep];
      store<V>(tail, s0), store<V>(tail + kLanes, s1), store<V>(tail + kStep, t0);
      store<V>(tail + kStep + kLanes, t1);
      std::memcpy(out0 + x, tail, sizeof(float) * (width - x));
      if (out1 != nullptr) std::memcpy(out1 + x, tail + kStep, sizeof(float) * (width - x));
    }
  }
}

struct Passes {
  void (*row)(const float*, float*, int, const float*, int, const float*, int);
  void (*columns2)(const float* const*, float*, float*, int, const float*, int);
};

void row_sse2(const float* p, float* out, int width, const float* c, int radius, const float* next,
              int next_width) {
  blur_row<F4>(p, out, width, c, radius, next, next_width);
}
void columns2_sse2(const float* const* rows, float* out0, float* out1, int width, const float* c,
                   int radius) {
  blur_columns2<F4>(rows, out0, out1, width, c, radius);
}
[[gnu::target("avx")]] void row_avx(const float* p, float* out, int width, const float* c, int radius,
                                    const float* next, int next_width) {
  blur_row<F8>(p, out, width, c, radius, next, next_width);
}
[[gnu::target("avx")]] void columns2_avx(const float* const* rows, float* out0, float* out1, int width,
                                         const float* c, int radius) {
  blur_columns2<F8>(rows, out0, out1, width, c, radius);
}

// The 8-lane passes when the CPU has AVX and imaging/simd.hpp allows them: the same bits either way.
Passes passes() {
  if (simd_allowed(SimdLevel::kAvx)) return {row_avx, columns2_avx};
  return {row_sse2, columns2_sse2};
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
    throw std::invalid_argument("gaussian_blur: sigma_px must be in (0, 1000], got " +
                                std::to_string(sigma_px));
  }
  const Kernel& kernel = kernel_for(sigma_px);
  const int w = src_in.cols, h = src_in.rows, r = kernel.radius;
  const float* c = kernel.c.data();  // c_-r .. c_r
  const Passes pass = passes();

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
  // replicated border row. A kernel taller than the image keeps every row (no slot is ever reused).
  const int wv = (w + kRowPad - 1) / kRowPad * kRowPad;
  const int stride = wv;
  const int ring_rows = std::min(2 * r + 2, h);
  thread_local std::vector<float> ring_memory;
  thread_local std::vector<float> padded;
  thread_local std::vector<const float*> row_ptrs;
  if (ring_memory.size() < std::size_t(ring_rows) * stride + 16) {
    ring_memory.resize(std::size_t(ring_rows) * stride + 16);
  }
  // Rows on 64-byte lines: an unaligned 32-byte load that straddles two lines costs two.
  float* const ring =
      ring_memory.data() + (16 - reinterpret_cast<std::uintptr_t>(ring_memory.data()) / 4 % 16) % 16;
  const std::size_t padded_size = static_cast<std::size_t>(wv) + 2 * static_cast<std::size_t>(r);
  const std::size_t row_ptr_count = 2 * static_cast<std::size_t>(r) + 2;
  if (padded.size() < padded_size) padded.resize(padded_size);
  if (row_ptrs.size() < row_ptr_count) row_ptrs.resize(row_ptr_count);

  int filtered = 0;  // rows 0 .. filtered - 1 are in the ring
  auto filter_through = [&](int last) {
    for (; filtered <= last; ++filtered) {
      const float* s = src.ptr<float>(filtered);
      float* p = padded.data();
      std::fill(p, p + r, s[0]);
      std::memcpy(p + r, s, sizeof(float) * w);
      std::fill(p + r + w, p + padded_size, s[w - 1]);
      float* out = ring + std::size_t(filtered % ring_rows) * stride;
      if (w == 1) {
        std::fill(out, out + wv, s[0]);  // as OpenCV: no row kernel across a single column
        continue;
      }
      // The next source row is fetched while this one is filtered (its copy above waited for memory).
      const float* next = filtered + 1 < h ? src.ptr<float>(filtered + 1) : s;
      pass.row(p + r, out, wv, c, r, next, w);
    }
  };
  if (h == 1) {  // as OpenCV: no column kernel across a single row
    filter_through(0);
    std::memcpy(dst.ptr<float>(0), ring, sizeof(float) * w);
    return;
  }
  for (int y = 0; y < h; y += 2) {
    filter_through(std::min(y + 1 + r, h - 1));
    for (int i = -r; i <= r + 1; ++i) {
      const int j = std::clamp(y + i, 0, h - 1);
      row_ptrs[i + r] = ring + std::size_t(j % ring_rows) * stride;
    }
    pass.columns2(row_ptrs.data() + r, dst.ptr<float>(y), y + 1 < h ? dst.ptr<float>(y + 1) : nullptr, w,
                  kernel.centre(), r);
  }
}

}  // namespace ihc
