#include "imaging/morphology.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace ihc {
namespace {

constexpr float kMinusInf = -FLT_MAX;

// 8-neighbour offsets in a padded image of row stride `step`.
struct Neighbours {
  int all[8];
  explicit Neighbours(int step) : all{-step - 1, -step, -step + 1, -1, 1, step - 1, step, step + 1} {}
};

void require_float(const cv::Mat& m, const char* what) {
  if (m.empty() || m.type() != CV_32FC1) {
    throw std::invalid_argument(std::string(what) + ": expected a non-empty single-channel float image");
  }
}

}  // namespace

cv::Mat reconstruct_by_dilation(const cv::Mat& marker, const cv::Mat& mask) {
  require_float(marker, "reconstruct_by_dilation marker");
  require_float(mask, "reconstruct_by_dilation mask");
  if (marker.size() != mask.size()) throw std::invalid_argument("reconstruct_by_dilation: size mismatch");
  // Vincent's hybrid algorithm: a forward and a backward raster scan carry the marker along most paths at
  // memory speed; a FIFO finishes the few paths that wind against both scan directions. Exact (the
  // reconstruction is unique), so the result does not depend on the order of the work. A -inf frame removes
  // every bounds check: it never raises a neighbour and is never raised.
  const int w = mask.cols + 2;
  const int h = mask.rows + 2;
  cv::Mat j_img(h, w, CV_32F, cv::Scalar(kMinusInf));
  cv::Mat i_img(h, w, CV_32F, cv::Scalar(kMinusInf));
  for (int y = 0; y < mask.rows; ++y) {
    const float* mk = marker.ptr<float>(y);
    const float* ms = mask.ptr<float>(y);
    float* jr = j_img.ptr<float>(y + 1) + 1;
    float* ir = i_img.ptr<float>(y + 1) + 1;
    for (int x = 0; x < mask.cols; ++x) {
      ir[x] = ms[x];
      jr[x] = std::min(mk[x], ms[x]);
    }
  }
  float* j = j_img.ptr<float>();
  const float* in = i_img.ptr<float>();
  // Forward: left and the three pixels above.
  for (int y = 1; y < h - 1; ++y) {
    float* jr = j + static_cast<std::ptrdiff_t>(y) * w;
    const float* up = jr - w;
    const float* ir = in + static_cast<std::ptrdiff_t>(y) * w;
    float left = jr[0];
    for (int x = 1; x < w - 1; ++x) {
      const float v = std::max(std::max(jr[x], left), std::max(std::max(up[x - 1], up[x]), up[x + 1]));
      left = std::min(v, ir[x]);
      jr[x] = left;
    }
  }
  // Backward: right and the three pixels below; a pixel that could still raise one of those starts the queue.
  std::vector<int> queue;
  float lo = FLT_MAX, hi = -FLT_MAX;  // value range of the queue's pixels and of everything they can raise
  for (int y = h - 2; y >= 1; --y) {
    float* jr = j + static_cast<std::ptrdiff_t>(y) * w;
    const float* down = jr + w;
    const float* ir = in + static_cast<std::ptrdiff_t>(y) * w;
    const float* idown = ir + w;
    float right = jr[w - 1];
    for (int x = w - 2; x >= 1; --x) {
      const float v = std::min(
          std::max(std::max(jr[x], right), std::max(std::max(down[x - 1], down[x]), down[x + 1])), ir[x]);
      jr[x] = v;
      right = v;
      lo = std::min(lo, v);
      if ((jr[x + 1] < std::min(v, ir[x + 1])) || (down[x - 1] < std::min(v, idown[x - 1])) ||
          (down[x] < std::min(v, idown[x])) || (down[x + 1] < std::min(v, idown[x + 1]))) {
        queue.push_back(y * w + x);
        hi = std::max(hi, v);
      }
    }
  }
  const Neighbours nb(w);
  auto raise_neighbours = [&](int p, auto&& push) {
    const float vp = j[p];
    for (int k = 0; k < 8; ++k) {
      const int q = p + nb.all[k];
      const float v = std::min(vp, in[q]);
      if (v <= j[q]) continue;
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
    // pixel raised again is simply queued again, so the result stays exact.
    constexpr int kLevels = 4096;
    const float scale = (kLevels - 1) / (hi - lo);
    auto level = [&](float v) { return std::clamp(static_cast<int>((v - lo) * scale), 0, kLevels - 1); };
    std::vector<std::vector<int>> buckets(kLevels);
    for (const int p : queue) buckets[static_cast<std::size_t>(level(j[p]))].push_back(p);
    std::vector<int>().swap(queue);
    for (int cur = kLevels - 1; cur >= 0; --cur) {
      auto& bucket = buckets[static_cast<std::size_t>(cur)];
      for (std::size_t head = 0; head < bucket.size(); ++head) {
        raise_neighbours(bucket[head], [&](int q, float v) {
          buckets[static_cast<std::size_t>(std::min(level(v), cur))].push_back(q);
        });
      }
      std::vector<int>().swap(bucket);
    }
  }
  return j_img(cv::Rect(1, 1, w - 2, h - 2)).clone();
}

namespace {

cv::Mat morph_disk(const cv::Mat& image, double radius_px, bool erode) {
  require_float(image, erode ? "erode_disk" : "dilate_disk");
  cv::Mat out;
  if (radius_px < 0.5) return image.clone();
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
    return out;
  }
  // Octagon = square (half side a) + diamond (radius b): equal reach along the axes and the diagonals when
  // a = 0.414 r and b = 0.586 r. Square is separable; the diamond is repeated 3x3 crosses.
  const int a = static_cast<int>(std::lround(0.414 * radius_px));
  const int b = static_cast<int>(std::lround(radius_px)) - a;
  op(image, out, cv::getStructuringElement(cv::MORPH_RECT, cv::Size(2 * a + 1, 2 * a + 1)), 1);
  if (b > 0) op(out, out, cv::getStructuringElement(cv::MORPH_CROSS, cv::Size(3, 3)), b);
  return out;
}

}  // namespace

cv::Mat erode_disk(const cv::Mat& image, double radius_px) { return morph_disk(image, radius_px, true); }
cv::Mat dilate_disk(const cv::Mat& image, double radius_px) { return morph_disk(image, radius_px, false); }

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
  float lo = FLT_MAX, hi = -FLT_MAX;
  for (int y = 0; y < h; ++y) {
    const int* l = labels.ptr<int>(y);
    const float* fr = landscape.ptr<float>(y);
    for (int x = 0; x < w; ++x) {
      if (l[x] < 0) continue;
      lo = std::min(lo, fr[x]);
      hi = std::max(hi, fr[x]);
    }
  }
  if (lo > hi) return;
  // Padded copies: a frame of -1 (never entered) removes every bounds check.
  const int wp = w + 2;
  const std::size_t np = static_cast<std::size_t>(wp) * static_cast<std::size_t>(h + 2);
  std::vector<int> lab(np, -1);
  std::vector<float> f(np, 0.0f);
  std::vector<float> rg(stop_at_ridges ? np : 0, 0.0f);
  for (int y = 0; y < h; ++y) {
    const std::size_t row = static_cast<std::size_t>(y + 1) * wp + 1;
    std::copy_n(labels.ptr<int>(y), w, lab.begin() + static_cast<std::ptrdiff_t>(row));
    std::copy_n(landscape.ptr<float>(y), w, f.begin() + static_cast<std::ptrdiff_t>(row));
    if (stop_at_ridges) std::copy_n(ridge.ptr<float>(y), w, rg.begin() + static_cast<std::ptrdiff_t>(row));
  }
  constexpr int kLevels = 1024;
  const float scale = hi > lo ? (kLevels - 1) / (hi - lo) : 0.0f;
  auto level = [&](int i) { return static_cast<int>((f[static_cast<std::size_t>(i)] - lo) * scale); };
  std::vector<std::vector<int>> buckets(kLevels);
  const bool limit = max_distance_px > 0.0;
  const double max_d2 = max_distance_px * max_distance_px;
  // Offset of each pixel from the seed pixel its label came from (for the distance limit).
  std::vector<cv::Point> from_seed(limit ? np : 0);
  std::vector<float> path_max;
  // Seeds start at 0: a brown (Ki-67 positive) nucleus is not a line its cell must stop behind.
  if (stop_at_ridges) path_max.assign(np, 0.0f);
  // Neighbours in raster order: ties spread breadth first in this order.
  const int off[8] = {-wp - 1, -wp, -wp + 1, -1, 1, wp - 1, wp, wp + 1};
  const cv::Point step[8] = {{-1, -1}, {0, -1}, {1, -1}, {-1, 0}, {1, 0}, {-1, 1}, {0, 1}, {1, 1}};
  for (int y = 1; y <= h; ++y) {
    for (int x = 1; x <= w; ++x) {
      const int i = y * wp + x;
      if (lab[static_cast<std::size_t>(i)] <= 0) continue;
      if (limit) from_seed[static_cast<std::size_t>(i)] = {0, 0};
      // Only seeds with a free neighbour need to spread.
      bool border = false;
      for (int k = 0; k < 8 && !border; ++k) border = lab[static_cast<std::size_t>(i + off[k])] == 0;
      if (border) buckets[static_cast<std::size_t>(level(i))].push_back(i);
    }
  }
  for (int cur = 0; cur < kLevels; ++cur) {
    auto& bucket = buckets[static_cast<std::size_t>(cur)];
    for (std::size_t head = 0; head < bucket.size(); ++head) {
      const int p = bucket[head];
      const int lp = lab[static_cast<std::size_t>(p)];
      for (int k = 0; k < 8; ++k) {
        const int q = p + off[k];
        const auto qs = static_cast<std::size_t>(q);
        if (lab[qs] != 0) continue;
        if (stop_at_ridges) {
          const float pm = path_max[static_cast<std::size_t>(p)];
          if (pm >= min_ridge && rg[qs] < 0.5f * pm) continue;
          path_max[qs] = std::max(pm, rg[qs]);
        }
        if (limit) {
          const cv::Point d = from_seed[static_cast<std::size_t>(p)] + step[k];
          if (static_cast<double>(d.x * d.x + d.y * d.y) > max_d2) continue;
          from_seed[qs] = d;
        }
        lab[qs] = lp;
        buckets[static_cast<std::size_t>(std::max(level(q), cur))].push_back(q);
      }
    }
    std::vector<int>().swap(bucket);
  }
  for (int y = 0; y < h; ++y) {
    std::copy_n(lab.begin() + static_cast<std::ptrdiff_t>((y + 1) * wp + 1), w, labels.ptr<int>(y));
  }
}

}  // namespace ihc
