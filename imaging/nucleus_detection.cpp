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

void require_float(const cv::Mat& m, const char* what) {
  if (m.empty() || m.type() != CV_32FC1) {
    throw std::invalid_argument(std::string(what) + ": expected a non-empty single-channel float image");
  }
}

}  // namespace

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
