#include "imaging/nucleus_detection.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <stdexcept>
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

namespace {

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

// Fraction of its mean height a blob must keep through the ridge-suppressing opening to be a nucleus.
constexpr double kMinKeptHeight = 0.6;

struct Component {
  int x0 = 0, y0 = 0, x1 = -1, y1 = -1;  // bounding box, inclusive
  int area = 0;
  double sum = 0.0;           // background-subtracted OD
  double sum_smoothed = 0.0;  // before the ridge-suppressing opening
  double sum_opened = 0.0;    // after it
  bool on_bad_background = false;
};

// Buffers reused across the candidates of one image: per-candidate OpenCV calls on small boxes cost more in
// allocation and dispatch than in pixels.
struct CandidateScratch {
  std::vector<uchar> allowed;  // box + 1 px frame: 1 where the outline may grow
  std::vector<uchar> local;    // box + frame: 255 inside the outline
  std::vector<uchar> mark;
  std::vector<int> stack;
  cv::Mat dist;
};

// Number of regional maxima (plateaus without a higher 8-neighbour) of `dist` inside `local`, counted up
// to 2.
int count_regional_maxima(const cv::Mat& dist, const std::vector<uchar>& local, CandidateScratch& s) {
  const int w = dist.cols;
  const int n = dist.rows * w;
  const float* f = dist.ptr<float>();
  const int off[8] = {-w - 1, -w, -w + 1, -1, 1, w - 1, w, w + 1};
  s.mark.assign(static_cast<std::size_t>(n), 0);
  int count = 0;
  // The frame is outside the nucleus (distance 0), so interior pixels never index outside the box.
  for (int i = w + 1; i < n - w - 1; ++i) {
    if (!local[static_cast<std::size_t>(i)] || s.mark[static_cast<std::size_t>(i)]) continue;
    const float v = f[i];
    bool higher = false;
    s.stack.clear();
    s.stack.push_back(i);
    s.mark[static_cast<std::size_t>(i)] = 1;
    while (!s.stack.empty()) {
      const int q = s.stack.back();
      s.stack.pop_back();
      for (int k = 0; k < 8; ++k) {
        const int r = q + off[k];
        if (f[r] > v) {
          higher = true;
        } else if (f[r] == v && local[static_cast<std::size_t>(r)] && !s.mark[static_cast<std::size_t>(r)]) {
          s.mark[static_cast<std::size_t>(r)] = 1;
          s.stack.push_back(r);
        }
      }
    }
    if (!higher && ++count >= 2) return count;
  }
  return count;
}

}  // namespace

NucleusDetection detect_nuclei(const cv::Mat& detection, const NucleusParamsPx& p) {
  require_float(detection, "detect_nuclei");
  NucleusDetection result;
  cv::Mat d = p.median_radius_px > 0 ? median_filter(detection, p.median_radius_px) : detection;

  // Background: opening by reconstruction keeps the shape of everything larger than the disk.
  cv::Mat bad_background;  // CV_8U, nonzero where the background is too dark to trust
  cv::Mat t;
  if (p.background_radius_px > 0) {
    cv::Mat marker = erode_disk(d, p.background_radius_px);
    if (p.max_background > 0) {
      cv::Mat high = marker > p.max_background;
      if (cv::countNonZero(high) > 0) {
        cv::Mat highf;
        high.convertTo(highf, CV_32F);
        bad_background = dilate_disk(highf, 2.0 * p.background_radius_px) > 0.5f;
        marker.setTo(kMinusInf, bad_background);
      }
    }
    cv::Mat background = reconstruct_by_dilation(marker, d);
    t = d - background;
  } else {
    t = d.clone();
  }
  result.background_subtracted = t;

  // Ridge suppression: an opening with the smallest nucleus's disk erases thin lines (membranes) and
  // keeps blobs; a light blur first so single dark pixels do not punch holes into nuclei.
  const double ridge_r =
      p.ridge_radius_px > 0 ? p.ridge_radius_px : std::sqrt(std::max(p.min_area_px, 1.0) / CV_PI);
  const double pre_sigma = std::min(1.0, p.sigma_px);
  cv::Mat s;
  if (pre_sigma > 0) {
    cv::GaussianBlur(t, s, cv::Size(), pre_sigma, pre_sigma, cv::BORDER_REPLICATE);
  } else {
    s = t;
  }
  const cv::Mat smoothed = s;
  const cv::Mat opened = dilate_disk(erode_disk(s, ridge_r), ridge_r);
  s = opened.clone();
  const double main_sigma = std::sqrt(std::max(0.0, p.sigma_px * p.sigma_px - pre_sigma * pre_sigma));
  if (main_sigma > 0.3) cv::GaussianBlur(s, s, cv::Size(), main_sigma, main_sigma, cv::BORDER_REPLICATE);

  // Blob interiors: negative Laplacian of the smoothed image (QuPath's LoG), above a small floor.
  cv::Mat lap;
  cv::Laplacian(s, lap, CV_32F, 1, 1.0, 0.0, cv::BORDER_REPLICATE);
  cv::Mat candidates = (lap < 0) & (s > 0.25 * p.threshold);

  cv::Mat comp_labels;
  const int n_comp = cv::connectedComponents(candidates, comp_labels, 8, CV_32S);
  std::vector<Component> comps(static_cast<std::size_t>(n_comp));
  for (int y = 0; y < comp_labels.rows; ++y) {
    const int* l = comp_labels.ptr<int>(y);
    const float* tv = t.ptr<float>(y);
    const float* sv = smoothed.ptr<float>(y);
    const float* ov = opened.ptr<float>(y);
    const uchar* bad = bad_background.empty() ? nullptr : bad_background.ptr<uchar>(y);
    for (int x = 0; x < comp_labels.cols; ++x) {
      const int c = l[x];
      if (c == 0) continue;
      Component& cp = comps[static_cast<std::size_t>(c)];
      if (cp.area == 0) {
        cp.x0 = cp.x1 = x;
        cp.y0 = cp.y1 = y;
      } else {
        cp.x0 = std::min(cp.x0, x);
        cp.x1 = std::max(cp.x1, x);
        cp.y1 = y;
      }
      ++cp.area;
      cp.sum += tv[x];
      cp.sum_smoothed += sv[x];
      cp.sum_opened += ov[x];
      if (bad != nullptr && bad[x]) cp.on_bad_background = true;
    }
  }

  result.labels = cv::Mat::zeros(detection.size(), CV_32S);
  int next = 0;
  const double split_h = std::max(0.25, p.split_depth_px);
  const int grow_px = static_cast<int>(std::ceil(p.sigma_px)) + 2;
  CandidateScratch scratch;
  for (int c = 1; c < n_comp; ++c) {
    const Component& cp = comps[static_cast<std::size_t>(c)];
    if (cp.area < p.min_area_px * 0.5 || cp.on_bad_background) continue;
    if (cp.sum / cp.area <= p.threshold) continue;
    // Where lines cross (or bend) the opening leaves a blob as wide as the junction; unlike a nucleus, it
    // lost most of its height to the opening.
    const double mean_before = cp.sum_smoothed / cp.area;
    const double mean_after = cp.sum_opened / cp.area;
    if (mean_after < kMinKeptHeight * mean_before) continue;
    // The LoG region is pinched where an elongated nucleus is flat and blurred by sigma; the outline is the
    // half-height contour of the (lightly smoothed) opened image around it, not entering other candidates:
    // the pieces of {opened >= level} outside other candidates that touch this one, holes filled.
    // Half the candidate's mean height: robust to dark chromatin spots that a peak would follow.
    const float level = static_cast<float>(0.5 * mean_after);
    const cv::Rect box = cv::Rect(cp.x0 - grow_px, cp.y0 - grow_px, cp.x1 - cp.x0 + 1 + 2 * grow_px,
                                  cp.y1 - cp.y0 + 1 + 2 * grow_px) &
                         cv::Rect(0, 0, detection.cols, detection.rows);
    const int lw = box.width + 2;  // box plus a 1 px frame that is never part of the outline
    const int lh = box.height + 2;
    const auto ln = static_cast<std::size_t>(lw) * static_cast<std::size_t>(lh);
    scratch.allowed.assign(ln, 0);
    scratch.local.assign(ln, 0);
    uchar* allowed = scratch.allowed.data();
    uchar* local = scratch.local.data();
    std::vector<int>& stack = scratch.stack;
    stack.clear();
    for (int y = 0; y < box.height; ++y) {
      const int* cl = comp_labels.ptr<int>(y + box.y) + box.x;
      const float* ov = opened.ptr<float>(y + box.y) + box.x;
      const int row = (y + 1) * lw + 1;
      for (int x = 0; x < box.width; ++x) {
        if (ov[x] < level || (cl[x] != 0 && cl[x] != c)) continue;
        allowed[row + x] = 1;
        if (cl[x] == c) {
          local[row + x] = 255;
          stack.push_back(row + x);
        }
      }
    }
    const int off8[8] = {-lw - 1, -lw, -lw + 1, -1, 1, lw - 1, lw, lw + 1};
    while (!stack.empty()) {
      const int i = stack.back();
      stack.pop_back();
      for (const int o : off8) {
        const int j = i + o;
        if (allowed[j] && !local[j]) {
          local[j] = 255;
          stack.push_back(j);
        }
      }
    }
    // Holes: what the outside (4-connected, from the frame) does not reach.
    scratch.mark.assign(ln, 0);
    uchar* outside = scratch.mark.data();
    auto seed_outside = [&](int i) {
      if (!local[i] && !outside[i]) {
        outside[i] = 1;
        stack.push_back(i);
      }
    };
    for (int x = 0; x < lw; ++x) {
      outside[x] = 1;
      outside[(lh - 1) * lw + x] = 1;
    }
    for (int y = 0; y < lh; ++y) {
      outside[y * lw] = 1;
      outside[y * lw + lw - 1] = 1;
    }
    for (int x = 1; x <= box.width; ++x) {
      seed_outside(lw + x);
      seed_outside(box.height * lw + x);
    }
    for (int y = 1; y <= box.height; ++y) {
      seed_outside(y * lw + 1);
      seed_outside(y * lw + box.width);
    }
    const int off4[4] = {-lw, -1, 1, lw};
    while (!stack.empty()) {
      const int i = stack.back();
      stack.pop_back();
      for (const int o : off4) seed_outside(i + o);
    }
    for (std::size_t i = 0; i < ln; ++i) {
      if (!outside[i]) local[i] = 255;
    }

    cv::Mat local_mat(lh, lw, CV_8U, local);
    cv::Mat parts;  // CV_32S over the framed box when the candidate is split, else `local` is the one part
    int n_parts = 1;
    if (p.split_by_shape && cp.area >= 1.5 * p.min_area_px) {
      cv::distanceTransform(local_mat, scratch.dist, cv::DIST_L2, cv::DIST_MASK_5, CV_32F);
      // One dome in the distance map gives one h-maximum: nothing to split (the common case, and cheap).
      if (count_regional_maxima(scratch.dist, scratch.local, scratch) > 1) {
        const cv::Mat& dist = scratch.dist;
        cv::Mat rec = reconstruct_by_dilation(dist - static_cast<float>(split_h), dist);
        // Markers are the regional maxima of the h-maxima transform: one per dome deeper than split_h.
        constexpr float kEps = 1e-3f;
        const cv::Mat rec2 = reconstruct_by_dilation(rec - kEps, rec);
        cv::Mat tops = ((rec - rec2) > 0.5f * kEps) & local_mat;
        cv::Mat seeds;
        const int n_seeds = cv::connectedComponents(tops, seeds, 8, CV_32S) - 1;
        if (n_seeds > 1) {
          seeds.setTo(-1, local_mat == 0);
          cv::Mat neg = -dist;
          seeded_flood(neg, seeds, 0.0);
          parts = seeds;
          parts.setTo(0, local_mat == 0);
          n_parts = n_seeds;
        }
      }
    }
    const bool split = !parts.empty();
    auto part_at = [&](int y, int x) {  // framed-box coordinates
      return split ? parts.ptr<int>(y)[x] : (local[y * lw + x] ? 1 : 0);
    };
    // Area and intensity checks per final nucleus.
    std::vector<int> area(static_cast<std::size_t>(n_parts + 1), 0);
    std::vector<double> sum(static_cast<std::size_t>(n_parts + 1), 0.0);
    for (int y = 0; y < box.height; ++y) {
      const float* tv = t.ptr<float>(y + box.y) + box.x;
      for (int x = 0; x < box.width; ++x) {
        const int k = part_at(y + 1, x + 1);
        if (k <= 0) continue;
        ++area[static_cast<std::size_t>(k)];
        sum[static_cast<std::size_t>(k)] += tv[x];
      }
    }
    std::vector<int> final_label(static_cast<std::size_t>(n_parts + 1), 0);
    for (int k = 1; k <= n_parts; ++k) {
      const double a = area[static_cast<std::size_t>(k)];
      if (a < p.min_area_px || a > p.max_area_px) continue;
      if (sum[static_cast<std::size_t>(k)] / a <= p.threshold) continue;
      final_label[static_cast<std::size_t>(k)] = ++next;
    }
    for (int y = 0; y < box.height; ++y) {
      int* out = result.labels.ptr<int>(y + box.y) + box.x;
      for (int x = 0; x < box.width; ++x) {
        const int k = part_at(y + 1, x + 1);
        if (k > 0 && out[x] == 0 && final_label[static_cast<std::size_t>(k)] > 0) {
          out[x] = final_label[static_cast<std::size_t>(k)];
        }
      }
    }
  }
  result.count = next;
  return result;
}

}  // namespace ihc
