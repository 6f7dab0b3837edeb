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
// Columns per vector group: two SSE vectors, so each pass has at least two independent sums in flight.
constexpr int kGroup = 8;

struct Kernel {
  double sigma_px = -1.0;
  int radius = 0;
  std::vector<float> half;  // c_0 .. c_radius: the centre and right half of OpenCV's kernel
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
  k.half.assign(full.ptr<float>() + k.radius, full.ptr<float>() + ksize);
  k.sigma_px = sigma_px;
  return k;
}

// One row: out[x] = p[x] * c_0 + sum_k (p[x - k] + p[x + k]) * c_k for x in [0, width), width a multiple of
// kGroup; p has `radius` valid values before p[0] and after p[width - 1].
void blur_row(const float* p, float* out, int width, const float* c, int radius) {
  const __m128 c0 = _mm_set1_ps(c[0]);
  for (int x = 0; x < width; x += kGroup) {
    const float* q = p + x;
    __m128 s0 = _mm_mul_ps(_mm_loadu_ps(q), c0);
    __m128 s1 = _mm_mul_ps(_mm_loadu_ps(q + 4), c0);
    for (int k = 1; k <= radius; ++k) {
      const __m128 ck = _mm_set1_ps(c[k]);
      s0 = _mm_add_ps(s0, _mm_mul_ps(_mm_add_ps(_mm_loadu_ps(q - k), _mm_loadu_ps(q + k)), ck));
      s1 = _mm_add_ps(s1, _mm_mul_ps(_mm_add_ps(_mm_loadu_ps(q + 4 - k), _mm_loadu_ps(q + 4 + k)), ck));
    }
    _mm_storeu_ps(out + x, s0);
    _mm_storeu_ps(out + x + 4, s1);
  }
}

// Two output rows at once from the row-filtered rows rows[-radius .. radius + 1] (pointers, replicated at
// the plane's edges): out0 = column sums centred on rows[0], out1 on rows[1]. The pair sums of the second
// row reuse the loads of the first (rows[1 - k] is the first row's rows[-(k - 1)]), two loads per tap for
// two outputs. out1 may be null (the last row of an odd height).
void blur_columns2(const float* const* rows, float* out0, float* out1, int width, const float* c,
                   int radius) {
  const __m128 c0 = _mm_set1_ps(c[0]);
  float tail0[kGroup], tail1[kGroup];
  for (int x = 0; x < width; x += kGroup) {
    __m128 a0 = _mm_load_ps(rows[0] + x), a1 = _mm_load_ps(rows[0] + x + 4);  // rows[1 - k] before tap k
    __m128 b0 = _mm_load_ps(rows[1] + x), b1 = _mm_load_ps(rows[1] + x + 4);  // rows[k] before tap k
    __m128 s0 = _mm_mul_ps(a0, c0), s1 = _mm_mul_ps(a1, c0);
    __m128 t0 = _mm_mul_ps(b0, c0), t1 = _mm_mul_ps(b1, c0);
    for (int k = 1; k <= radius; ++k) {
      const __m128 ck = _mm_set1_ps(c[k]);
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
  const float* c = kernel.half.data();

  // Keep src alive and readable while dst is (re)created: dst may share or overlap its memory.
  cv::Mat src = src_in;
  thread_local cv::Mat copy;
  if (r == 0) {
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
  const int wv = (w + kGroup - 1) / kGroup * kGroup;
  const int stride = wv;  // a multiple of 8 floats: the column pass loads aligned
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
      blur_row(p + r, ring.data() + std::size_t(filtered % ring_rows) * stride, wv, c, r);
    }
  };
  for (int y = 0; y < h; y += 2) {
    filter_through(std::min(y + 1 + r, h - 1));
    for (int i = -r; i <= r + 1; ++i) {
      const int j = std::clamp(y + i, 0, h - 1);
      row_ptrs[i + r] = ring.data() + std::size_t(j % ring_rows) * stride;
    }
    blur_columns2(row_ptrs.data() + r, dst.ptr<float>(y), y + 1 < h ? dst.ptr<float>(y + 1) : nullptr, w, c,
                  r);
  }
}

}  // namespace ihc
