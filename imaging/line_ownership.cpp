#include "imaging/line_ownership.hpp"

#include <emmintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ihc {
namespace {

// Profile sample spacing across a border (px) and how far beyond the largest shift it reaches.
constexpr double kProfileStepPx = 0.5;
constexpr double kProfileMarginPx = 1.0;
// Half line widths tried (each cell's plasma membrane with the objective's blur).
constexpr double kMinHalfLineUm = 0.5;
constexpr double kMaxHalfLineUm = 1.5;
// A line stained on one side fits as either cell's half; the fit decides only when one reading fits clearly
// better (rms below this fraction of the other's). 0.5 left the 3+ / negative case of the test to the crest,
// 1.0 (always the better one) cost 1+ F1 on the synthetic slides; 0.7 gave the best kappa on both sets.
constexpr double kOrientationRms = 0.7;
// A line whose paler half is below this fraction of the darker one is stained on one side only and fits as
// either cell's half about as well, so noise picks the reading; there pixels move only to the cell whose
// fitted cytoplasm is at least as brown as the other's. Without it the fit gave 2+ lines to negative and 1+
// neighbours (seed 11 mixed field grown from the true nuclei: 2+ read 1+ 39 -> 29 of 174, negatives >= 0.2
// 6 -> 2). 0.5-0.65 (or an absolute 0.25-0.4 OD) gave kappa 0.953-0.956 on seeds 11-20; checking every
// border cost 2+ -> 3+ on evaluate-all's set (47 -> 54 cells).
constexpr double kOneSidedFraction = 0.5;
// Fewer crossings than this give a profile too noisy to move a border.
constexpr int kMinCrossings = 3;
// A border whose crossings point every which way (|mean direction| below this) has no single normal.
constexpr double kMinNormalCoherence = 0.5;

// One 4-neighbour step across a border, from the pixel of the lower label to the pixel of the higher one.
struct Crossing {
  int lo_index = 0;  // pixel index (y * w + x) of the lower label's pixel
  int dx = 0, dy = 0;
  int pair = 0;
};

struct PairInfo {
  int lo = 0, hi = 0;
  int count = 0;
  double sum_dx = 0, sum_dy = 0, sum_od = 0;
};

float bilinear(const cv::Mat& img, double x, double y) {
  x = std::clamp(x, 0.0, static_cast<double>(img.cols - 1));
  y = std::clamp(y, 0.0, static_cast<double>(img.rows - 1));
  const int x0 = std::min(static_cast<int>(x), std::max(0, img.cols - 2));
  const int y0 = std::min(static_cast<int>(y), std::max(0, img.rows - 2));
  const int x1 = std::min(x0 + 1, img.cols - 1);
  const int y1 = std::min(y0 + 1, img.rows - 1);
  const double fx = x - x0, fy = y - y0;
  const float* r0 = img.ptr<float>(y0);
  const float* r1 = img.ptr<float>(y1);
  return static_cast<float>((r0[x0] * (1 - fx) + r0[x1] * fx) * (1 - fy) +
                            (r1[x0] * (1 - fx) + r1[x1] * fx) * fy);
}

// Band strength of cell c > 0: 0 without band pixels (beyond the largest label that has some).
inline float strength_of(const std::vector<float>& strength, int c) {
  const auto k = static_cast<std::size_t>(c);
  return k < strength.size() ? strength[k] : 0.0f;
}

// The band rule: a pixel of a cell whose neighbour's band is clearly stronger, and darker than the mean of
// both, moves to that neighbour (at most `iterations` pixels deep). Returns the band strengths before the
// move.
std::vector<float> band_step_rule(cv::Mat& labels, const cv::Mat& nucleus_labels, const cv::Mat& dab,
                                  const cv::Mat& band, bool band_holds_borders, int iterations,
                                  std::vector<int>* changed) {
  const int w = labels.cols;
  const int h = labels.rows;
  CV_Assert(labels.isContinuous());
  int* lab = labels.ptr<int>();
  // One pass sums the band per cell and lists the pixels the rule may move (in a cell, outside nuclei, brown
  // enough: a few percent of a tile), 16 pixels at a time; labels and nuclei are read only where the band or
  // the DAB asks. A pixel-by-pixel pass cost ~5 times more. Sums run in raster order, as before (same double
  // sums); a label without band pixels has strength 0 (strength_of).
  thread_local std::vector<double> sum, cnt;
  struct Candidate {
    int index, y, x, label;
    float od;
  };
  thread_local std::vector<Candidate> candidates;
  candidates.clear();
  // A row's band pixels come in runs of one label: the run's sum and count stay in registers (the same
  // additions in the same order; a store and reload per pixel made each addition wait for the previous one's
  // store). Each pixel stores the current run and loads its own label's sums, and keeps the registers when
  // its label is the run's: chosen with masks, not a branch (a branch per change of label was mispredicted at
  // most of them: a quarter of the rule's samples). Slot 0 holds the empty run before the first band pixel.
  sum.assign(1, 0.0);
  cnt.assign(1, 0.0);
  std::size_t run_label = 0;
  __m128d run_sum = _mm_setzero_pd();
  __m128d run_count = _mm_setzero_pd();
  const __m128d one = _mm_set_sd(1.0);
  auto flush = [&]() {
    _mm_store_sd(sum.data() + run_label, run_sum);
    _mm_store_sd(cnt.data() + run_label, run_count);
  };
  auto add_band = [&](int c, float od) {
    const auto k = static_cast<std::size_t>(c);
    if (k >= sum.size()) {
      sum.resize(k + 1, 0.0);
      cnt.resize(k + 1, 0.0);
    }
    const __m128d loaded_sum = _mm_load_sd(sum.data() + k);
    const __m128d loaded_count = _mm_load_sd(cnt.data() + k);
    flush();
    const __m128d same = _mm_castsi128_pd(_mm_set1_epi64x(-static_cast<long long>(k == run_label)));
    auto pick = [&](__m128d kept, __m128d loaded) {
      return _mm_or_pd(_mm_and_pd(same, kept), _mm_andnot_pd(same, loaded));
    };
    run_sum = _mm_add_sd(pick(run_sum, loaded_sum), _mm_set_sd(static_cast<double>(od)));
    run_count = _mm_add_sd(pick(run_count, loaded_count), one);
    run_label = k;
  };
  // Whether pixel (x, y) and its 8 neighbours all carry label c (away from the image edge only): most brown
  // pixels lie inside their cell.
  auto inside_own_cell = [&](int y, int x, int c) {
    if (y <= 0 || y + 1 >= h || x <= 0 || x + 2 >= w) return false;
    const __m128i vc = _mm_set1_epi32(c);
    const int* p = lab + static_cast<std::ptrdiff_t>(y) * w + x - 1;
    auto same = [&](const int* q) {
      return _mm_cmpeq_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q)), vc);
    };
    const __m128i all = _mm_and_si128(_mm_and_si128(same(p - w), same(p)), same(p + w));
    return (_mm_movemask_ps(_mm_castsi128_ps(all)) & 7) == 7;
  };
  // A brown pixel in a cell, outside nuclei, is a candidate; those whose neighbours all are of its cell are
  // dropped after the pass, where their label rows are fetched ahead (checked here, the row below was not in
  // cache yet: a quarter of the rule's time waited on it).
  auto add_candidate = [&](int y, int x, int c, float od) { candidates.push_back({y * w + x, y, x, c, od}); };
  const __m128i zero = _mm_setzero_si128();
  const __m128 min_od = _mm_set1_ps(kMinLineOd * 0.5f);
  for (int y = 0; y < h; ++y) {
    const int* l = lab + static_cast<std::ptrdiff_t>(y) * w;
    const int* nl = nucleus_labels.ptr<int>(y);
    const uchar* b = band.ptr<uchar>(y);
    const float* d = dab.ptr<float>(y);
    // Away from the image edge (where inside_own_cell says no), a brown pixel outside a band that holds the
    // borders is inside its own cell: not a candidate, and a block without band pixels has nothing to add.
    const bool band_decides = band_holds_borders && y > 0 && y + 1 < h;
    // Tried (session 5): the row's blocks with something to add listed first without a branch per block,
    // then visited: band_step_rule's share of BM_LinesTwoPassesAndBands1024 samples did not change.
    int x = 0;
    for (; x + 16 <= w; x += 16) {
      int band_bits =
          ~_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + x)), zero)) &
          0xFFFF;
      const bool inner_block = band_decides && x > 0 && x + 18 <= w;
      if (inner_block && band_bits == 0) continue;
      // Not below the threshold (a NaN is not below it either, as in move_to).
      auto brown4 = [&](int k) { return _mm_movemask_ps(_mm_cmpnlt_ps(_mm_loadu_ps(d + x + k), min_od)); };
      int brown_bits = brown4(0) | brown4(4) << 4 | brown4(8) << 8 | brown4(12) << 12;
      if (inner_block) brown_bits &= band_bits;
      if ((band_bits | brown_bits) == 0) continue;
      // The 16 labels and nucleus labels are one cache line each: all four groups at once, no branches.
      auto inside4 = [&](int k) {
        const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(l + x + k));
        const __m128i n = _mm_loadu_si128(reinterpret_cast<const __m128i*>(nl + x + k));
        return _mm_movemask_ps(
            _mm_castsi128_ps(_mm_and_si128(_mm_cmpgt_epi32(c, zero), _mm_cmpeq_epi32(n, zero))));
      };
      const int inside_bits = inside4(0) | inside4(4) << 4 | inside4(8) << 8 | inside4(12) << 12;
      band_bits &= inside_bits;
      brown_bits &= inside_bits;
      for (; band_bits != 0; band_bits &= band_bits - 1) {
        const int k = x + __builtin_ctz(static_cast<unsigned>(band_bits));
        add_band(l[k], d[k]);
      }
      for (; brown_bits != 0; brown_bits &= brown_bits - 1) {
        const int k = x + __builtin_ctz(static_cast<unsigned>(brown_bits));
        add_candidate(y, k, l[k], d[k]);
      }
    }
    for (; x < w; ++x) {
      if (l[x] <= 0 || nl[x] != 0) continue;
      if (b[x]) add_band(l[x], d[x]);
      if (!(d[x] < kMinLineOd * 0.5f)) add_candidate(y, x, l[x], d[x]);
    }
  }
  flush();
  const std::size_t n = sum.size();
  std::vector<float> strength(n, 0.0f);
  bool any = false;
  for (std::size_t c = 1; c < n; ++c) {
    strength[c] = cnt[c] > 0 ? static_cast<float>(sum[c] / cnt[c]) : 0.0f;
    any = any || strength[c] >= kMinLineOd;
  }
  if (!any) return strength;
  // The neighbour label pixel (x, y) of cell b > 0, outside nuclei, with DAB dx_od moves to, or 0.
  // A neighbour takes the pixel only if its strength sa >= max(needed, kMinLineOd) and dx_od >= 0.5f * (sa +
  // sb); float sums and products round monotonically, so a pixel paler than that bound at the weakest
  // admissible sa moves to none (most brown pixels of a cell's own line): its neighbours are not read.
  auto too_pale = [&](int b, float dx_od) {
    const float sb = strength_of(strength, b);
    return dx_od < 0.5f * (std::max(kStepRatio * sb + kStepMarginOd, kMinLineOd) + sb);
  };
  auto best_neighbour = [&](int y, int x, int b, float dx_od) {
    const float sb = strength_of(strength, b);
    const float needed = kStepRatio * sb + kStepMarginOd;
    int best = 0;
    float best_strength = 0;
    const int x0 = std::max(0, x - 1), x1 = std::min(w - 1, x + 1);
    for (int yy = std::max(0, y - 1); yy <= std::min(h - 1, y + 1); ++yy) {
      const int* ln = lab + static_cast<std::ptrdiff_t>(yy) * w;
      for (int xx = x0; xx <= x1; ++xx) {
        const int a = ln[xx];
        if (a <= 0 || a == b) continue;
        const float sa = strength_of(strength, a);
        // The border between lines of clearly different strength is their step: a pixel darker than the
        // mean of both strengths is the stronger cell's. The crest of the blurred line lies in the darker
        // half, so a border on it gave the paler cell part of the darker cell's line. On the unsmoothed DAB
        // the step is sharp (on the landscape's blur it spread and moved less of the line).
        if (sa < kMinLineOd || sa < needed || dx_od < 0.5f * (sa + sb)) continue;
        if (sa > best_strength) {
          best_strength = sa;
          best = a;
        }
      }
    }
    return best;
  };
  // The neighbour label this pixel moves to, or 0.
  auto move_to = [&](int y, int x) {
    const int b = lab[static_cast<std::ptrdiff_t>(y) * w + x];
    if (b <= 0) return 0;
    const float dx_od = dab.ptr<float>(y)[x];
    if (nucleus_labels.ptr<int>(y)[x] != 0 || dx_od < kMinLineOd * 0.5f) return 0;
    if (too_pale(b, dx_od) || inside_own_cell(y, x, b)) return 0;
    return best_neighbour(y, x, b, dx_od);
  };
  // Moves are applied after each pass. A pixel whose label and neighbours did not change keeps its decision,
  // so after the first full pass only the neighbourhoods of the pixels that moved are looked at again.
  std::vector<std::pair<int, int>> moves;
  // Labels have not changed since the candidates were found: their checks hold. The candidates were listed
  // a whole plane ago, so their label rows have left the caches: the 3 x 3 labels (and the fourth column
  // inside_own_cell reads) of the candidate kAhead places on are fetched early, unless it is too pale for
  // any neighbour (its labels are never read). BM_BandRule1024 perf samples waiting on those rows: 21 % of
  // the rule's before (13 % in the pass's check of the row below, 8 % here), 8 % after; 8 ahead gave the
  // same.
  constexpr std::size_t kAhead = 32;
  auto fetch_labels = [&](const Candidate& c) {
    if (too_pale(c.label, c.od)) return;
    for (int yy = std::max(0, c.y - 1); yy <= std::min(h - 1, c.y + 1); ++yy) {
      const int* ln = lab + static_cast<std::ptrdiff_t>(yy) * w;
      _mm_prefetch(reinterpret_cast<const char*>(ln + std::max(0, c.x - 1)), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(ln + std::min(w - 1, c.x + 2)), _MM_HINT_T0);
    }
  };
  const std::size_t candidate_count = candidates.size();
  for (std::size_t k = 0; k < std::min(kAhead, candidate_count); ++k) fetch_labels(candidates[k]);
  for (std::size_t k = 0; k < candidate_count; ++k) {
    if (k + kAhead < candidate_count) fetch_labels(candidates[k + kAhead]);
    const Candidate& c = candidates[k];
    if (too_pale(c.label, c.od) || inside_own_cell(c.y, c.x, c.label)) continue;
    const int a = best_neighbour(c.y, c.x, c.label, c.od);
    if (a > 0) moves.emplace_back(c.index, a);
  }
  // Marks the pixels already listed for a recheck; all zero between calls (cleared however the listing
  // ends).
  thread_local std::vector<uchar> dirty;
  struct Pixel {
    int y, x;
  };
  struct ClearMarks {
    std::vector<uchar>& marks;
    const std::vector<Pixel>& listed;
    int w;
    ~ClearMarks() {
      for (const Pixel& q : listed) marks[static_cast<std::size_t>(q.y) * w + q.x] = 0;
    }
  };
  std::vector<Pixel> recheck;
  for (int it = 1; it <= iterations && !moves.empty(); ++it) {
    for (const auto& [i, a] : moves) {
      lab[i] = a;
      if (changed != nullptr) changed->push_back(i);
    }
    if (it == iterations) break;
    if (dirty.size() < static_cast<std::size_t>(w) * static_cast<std::size_t>(h)) {
      dirty.resize(static_cast<std::size_t>(w) * static_cast<std::size_t>(h), 0);
    }
    recheck.clear();
    {
      const ClearMarks clear{dirty, recheck, w};
      for (const auto& move : moves) {
        const int y = move.first / w;
        const int x = move.first % w;
        for (int yy = std::max(0, y - 1); yy <= std::min(h - 1, y + 1); ++yy) {
          for (int xx = std::max(0, x - 1); xx <= std::min(w - 1, x + 1); ++xx) {
            const int j = yy * w + xx;
            if (!dirty[static_cast<std::size_t>(j)]) {
              recheck.push_back({yy, xx});
              dirty[static_cast<std::size_t>(j)] = 1;
            }
          }
        }
      }
    }
    moves.clear();
    for (const Pixel& q : recheck) {
      const int a = move_to(q.y, q.x);
      if (a > 0) moves.emplace_back(q.y * w + q.x, a);
    }
  }
  return strength;
}

bool clearly_stronger(double strong, double weak) {
  return strong >= kMinLineOd && strong >= kStepRatio * weak + kStepMarginOd;
}

}  // namespace

LineProfileFitter::LineProfileFitter(double sigma, double t0, double dt, int samples, double max_step,
                                     double min_half_width, double max_half_width)
    : t0_(t0), dt_(dt), samples_(std::max(0, samples)) {
  CV_Assert(dt > 0 && sigma > 0 && max_step >= 0 && min_half_width > 0 && max_half_width >= min_half_width);
  const double h = dt / 2;
  const int step_range = static_cast<int>(std::floor(max_step / h + 1e-9));
  const int w_min = std::max(1, static_cast<int>(std::ceil(min_half_width / dt - 1e-9)));
  const int w_max = std::max(w_min, static_cast<int>(std::floor(max_half_width / dt + 1e-9)));
  // Edge grid index e is at t = (e - origin) * h.
  const int origin = step_range + 2 * w_max;
  edges_ = 2 * origin + 1;
  phi_.resize(static_cast<std::size_t>(edges_) * static_cast<std::size_t>(samples_));
  const double inv = 1.0 / (sigma * std::sqrt(2.0));
  for (int e = 0; e < edges_; ++e) {
    const double edge = (e - origin) * h;
    for (int i = 0; i < samples_; ++i) {
      phi_[static_cast<std::size_t>(e) * samples_ + i] = 0.5 * std::erfc((t0 + i * dt - edge) * inv);
    }
  }
  for (int k = -step_range; k <= step_range; ++k) {
    for (int wk = w_min; wk <= w_max; ++wk) {
      Candidate c;
      c.step = k * h;
      c.half_width = wk * dt;
      c.edge[0] = origin + k - 2 * wk;
      c.edge[1] = origin + k;
      c.edge[2] = origin + k + 2 * wk;
      cv::Matx44d gram = cv::Matx44d::zeros();
      for (int i = 0; i < samples_; ++i) {
        const double p0 = phi_[static_cast<std::size_t>(c.edge[0]) * samples_ + i];
        const double p1 = phi_[static_cast<std::size_t>(c.edge[1]) * samples_ + i];
        const double p2 = phi_[static_cast<std::size_t>(c.edge[2]) * samples_ + i];
        const double b[4] = {p0, p1 - p0, p2 - p1, 1 - p2};
        for (int r = 0; r < 4; ++r) {
          for (int q = 0; q < 4; ++q) gram(r, q) += b[r] * b[q];
        }
      }
      // A pseudo-inverse: a level whose interval lies outside the window is left at 0.
      const cv::Matx44d inverse = gram.inv(cv::DECOMP_SVD);
      for (int r = 0; r < 4; ++r) {
        for (int q = 0; q < 4; ++q) c.inverse_gram[r][q] = inverse(r, q);
      }
      candidates_.push_back(c);
    }
  }
}

std::array<LineFit, 2> LineProfileFitter::fit_both(const float* profile) const {
  std::array<LineFit, 2> best;
  if (samples_ == 0 || candidates_.empty()) return best;
  // Projections of the profile on the part before each grid edge; every basis function is a difference of
  // two.
  std::vector<double> q(static_cast<std::size_t>(edges_));
  double total = 0, squares = 0;
  for (int i = 0; i < samples_; ++i) {
    total += profile[i];
    squares += static_cast<double>(profile[i]) * profile[i];
  }
  for (int e = 0; e < edges_; ++e) {
    const double* ph = phi_.data() + static_cast<std::size_t>(e) * samples_;
    double sum = 0;
    for (int i = 0; i < samples_; ++i) sum += ph[i] * profile[i];
    q[static_cast<std::size_t>(e)] = sum;
  }
  std::array<double, 2> best_sse{};
  for (const Candidate& c : candidates_) {
    const double q0 = q[static_cast<std::size_t>(c.edge[0])];
    const double q1 = q[static_cast<std::size_t>(c.edge[1])];
    const double q2 = q[static_cast<std::size_t>(c.edge[2])];
    const double r[4] = {q0, q1 - q0, q2 - q1, total - q2};
    double x[4];
    double sse = squares;
    for (int a = 0; a < 4; ++a) {
      x[a] = c.inverse_gram[a][0] * r[0] + c.inverse_gram[a][1] * r[1] + c.inverse_gram[a][2] * r[2] +
             c.inverse_gram[a][3] * r[3];
      sse -= x[a] * r[a];  // residual of a least-squares fit: |p|^2 - x . B^T p
    }
    const std::size_t o = x[1] >= x[2] ? 0 : 1;
    LineFit& b = best[o];
    if (!b.valid || sse < best_sse[o]) {
      best_sse[o] = sse;
      b.valid = true;
      b.step = c.step;
      b.half_width = c.half_width;
      b.outside_before = x[0];
      b.before = x[1];
      b.after = x[2];
      b.outside_after = x[3];
    }
  }
  for (std::size_t o = 0; o < 2; ++o) best[o].rms = std::sqrt(std::max(0.0, best_sse[o]) / samples_);
  return best;
}

LineFit LineProfileFitter::fit(const float* profile) const {
  const auto both = fit_both(profile);
  if (!both[1].valid) return both[0];
  if (!both[0].valid) return both[1];
  return both[0].rms <= both[1].rms ? both[0] : both[1];
}

namespace {
void give_lines_impl(cv::Mat& labels, const cv::Mat& nucleus_labels, const cv::Mat& dab, const cv::Mat& band,
                     const LineOwnershipParams& params, std::vector<int>* changed);
}  // namespace

void give_lines_to_brown_cells(cv::Mat& labels, const cv::Mat& nucleus_labels, const cv::Mat& dab,
                               const cv::Mat& band, const LineOwnershipParams& params) {
  give_lines_impl(labels, nucleus_labels, dab, band, params, nullptr);
}

void give_lines_to_brown_cells(cv::Mat& labels, const cv::Mat& nucleus_labels, const cv::Mat& dab,
                               const cv::Mat& band, const LineOwnershipParams& params,
                               std::vector<int>& changed) {
  give_lines_impl(labels, nucleus_labels, dab, band, params, &changed);
}

namespace {

void give_lines_impl(cv::Mat& labels, const cv::Mat& nucleus_labels, const cv::Mat& dab, const cv::Mat& band,
                     const LineOwnershipParams& params, std::vector<int>* changed) {
  CV_Assert(labels.type() == CV_32SC1 && nucleus_labels.type() == CV_32SC1 && dab.type() == CV_32FC1);
  CV_Assert(labels.size() == nucleus_labels.size() && labels.size() == dab.size());
  CV_Assert(band.type() == CV_8UC1 && band.size() == labels.size() && labels.isContinuous());
  const double max_shift = std::max(0.0, params.max_shift_px);
  const std::vector<float> strength =
      band_step_rule(labels, nucleus_labels, dab, band, params.band_holds_borders,
                     static_cast<int>(std::ceil(max_shift)), changed);
  if (!params.fit_borders) return;
  const int w = labels.cols;
  const int h = labels.rows;
  int* lab = labels.ptr<int>();

  // Crossings of every border between two cells outside nuclei, grouped by pair of labels.
  std::vector<Crossing> crossings;
  std::vector<PairInfo> pairs;
  std::unordered_map<std::uint64_t, int> pair_index;
  std::uint64_t last_key = ~std::uint64_t{0};
  int last_pair = -1;
  // Tried (session 5): the lower label chosen without a branch and a 16-entry cache of recent pairs before
  // the map: this lambda's perf samples rose by about 40 % (BM_LinesTwoPassesAndBands1024).
  auto add = [&](int i, int j, int dx, int dy, float od_i, float od_j) {
    int a = lab[i], b = lab[j];
    if (a > b) {
      std::swap(a, b);
      std::swap(i, j);
      dx = -dx;
      dy = -dy;
    }
    const std::uint64_t key = (static_cast<std::uint64_t>(a) << 32) | static_cast<std::uint32_t>(b);
    if (key != last_key) {
      auto [it, inserted] = pair_index.try_emplace(key, static_cast<int>(pairs.size()));
      if (inserted) pairs.push_back({a, b});
      last_key = key;
      last_pair = it->second;
    }
    PairInfo& p = pairs[static_cast<std::size_t>(last_pair)];
    p.count += 1;
    p.sum_dx += dx;
    p.sum_dy += dy;
    p.sum_od += 0.5 * (od_i + od_j);
    crossings.push_back({i, dx, dy, last_pair});
  };
  for (int y = 0; y < h; ++y) {
    const int* l = lab + static_cast<std::ptrdiff_t>(y) * w;
    const int* down = y + 1 < h ? l + w : nullptr;
    const int* nl = nucleus_labels.ptr<int>(y);
    const int* nl_down = y + 1 < h ? nucleus_labels.ptr<int>(y + 1) : nullptr;
    const float* d = dab.ptr<float>(y);
    const float* d_down = y + 1 < h ? dab.ptr<float>(y + 1) : nullptr;
    // Right (bit k of `right`) and down (`down_bits`) crossings of pixel x + k, in the order of a pixel scan.
    auto add_bits = [&](int x, int right, int down_bits) {
      for (int k = 0; k < 4; ++k) {
        const int i = y * w + x + k;
        if ((right >> k) & 1) add(i, i + 1, 1, 0, d[x + k], d[x + k + 1]);
        if ((down_bits >> k) & 1) add(i, i + w, 0, 1, d[x + k], d_down[x + k]);
      }
    };
    auto visit = [&](int x) {
      const int a = l[x];
      if (a <= 0 || nl[x] != 0) return;
      const int i = y * w + x;
      if (x + 1 < w && l[x + 1] > 0 && l[x + 1] != a && nl[x + 1] == 0) add(i, i + 1, 1, 0, d[x], d[x + 1]);
      if (down != nullptr && down[x] > 0 && down[x] != a && nl_down[x] == 0) {
        add(i, i + w, 0, 1, d[x], d_down[x]);
      }
    };
    const __m128i zero = _mm_setzero_si128();
    auto load = [](const int* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); };
    // A crossing to a neighbour n from c: both in cells, outside nuclei, different labels.
    auto crossing_mask = [&](__m128i c_ok, __m128i c, __m128i n, __m128i n_nucleus) {
      const __m128i n_ok = _mm_and_si128(_mm_cmpgt_epi32(n, zero), _mm_cmpeq_epi32(n_nucleus, zero));
      return _mm_movemask_ps(
          _mm_castsi128_ps(_mm_andnot_si128(_mm_cmpeq_epi32(c, n), _mm_and_si128(c_ok, n_ok))));
    };
    // Most pixels have the label of their right and lower neighbours: sixteen at a time are skipped. Where
    // some differ, the crossings of the sixteen pixels become bits (2k: right of pixel k, 2k + 1: down),
    // taken in pixel order without a branch per pixel and direction (those were mispredicted at every border:
    // three quarters of this function's samples were the crossing scan).
    int x = 0;
    // Bits 0..3 moved to the even bits 0..6.
    static constexpr unsigned char kSpread[16] = {0, 1, 4, 5, 16, 17, 20, 21, 64, 65, 68, 69, 80, 81, 84, 85};
    for (; x + 17 <= w; x += 16) {
      if (d_down != nullptr && x + 64 < w) {
        _mm_prefetch(reinterpret_cast<const char*>(d_down + x + 64), _MM_HINT_T0);
      }
      __m128i c[4], dn[4];
      __m128i same = _mm_set1_epi32(-1);
      for (int g = 0; g < 4; ++g) {
        const int k = x + 4 * g;
        c[g] = load(l + k);
        same = _mm_and_si128(same, _mm_cmpeq_epi32(c[g], load(l + k + 1)));
        if (down != nullptr) {
          dn[g] = load(down + k);
          same = _mm_and_si128(same, _mm_cmpeq_epi32(c[g], dn[g]));
        }
      }
      if (_mm_movemask_epi8(same) == 0xFFFF) continue;
      unsigned bits = 0;
      for (int g = 0; g < 4; ++g) {
        const int k = x + 4 * g;
        const __m128i c_ok = _mm_and_si128(_mm_cmpgt_epi32(c[g], zero), _mm_cmpeq_epi32(load(nl + k), zero));
        const int right = crossing_mask(c_ok, c[g], load(l + k + 1), load(nl + k + 1));
        const int down_bits = down != nullptr ? crossing_mask(c_ok, c[g], dn[g], load(nl_down + k)) : 0;
        bits |= static_cast<unsigned>(kSpread[right] | kSpread[down_bits] << 1) << (8 * g);
      }
      for (; bits != 0; bits &= bits - 1) {
        const int b = __builtin_ctz(bits);
        const int k = x + (b >> 1);
        const int i = y * w + k;
        const int is_down = b & 1;
        // The neighbour's DAB through a selected pointer: the row below may not exist when no bit is down.
        const float* od_j = is_down != 0 ? d_down + k : d + k + 1;
        add(i, i + (is_down != 0 ? w : 1), 1 - is_down, is_down, d[k], *od_j);
      }
    }
    for (; x + 5 <= w; x += 4) {
      // Crossings read the DAB here and there along the row below (the row after next reads it as its own):
      // fetched ahead, as the hardware does not guess that pattern.
      if ((x & 15) == 0 && d_down != nullptr && x + 64 < w) {
        _mm_prefetch(reinterpret_cast<const char*>(d_down + x + 64), _MM_HINT_T0);
      }
      const __m128i c = load(l + x);
      const __m128i r = load(l + x + 1);
      __m128i same = _mm_cmpeq_epi32(c, r);
      __m128i dn = c;
      if (down != nullptr) {
        dn = load(down + x);
        same = _mm_and_si128(same, _mm_cmpeq_epi32(c, dn));
      }
      if (_mm_movemask_epi8(same) == 0xFFFF) continue;
      const __m128i c_ok = _mm_and_si128(_mm_cmpgt_epi32(c, zero), _mm_cmpeq_epi32(load(nl + x), zero));
      const int right = crossing_mask(c_ok, c, r, load(nl + x + 1));
      const int down_bits = down != nullptr ? crossing_mask(c_ok, c, dn, load(nl_down + x)) : 0;
      if ((right | down_bits) != 0) add_bits(x, right, down_bits);
    }
    for (; x < w; ++x) visit(x);
  }
  if (crossings.empty()) return;

  // Crossings in pair order (counting sort).
  std::vector<int> start(pairs.size() + 1, 0);
  for (const Crossing& c : crossings) ++start[static_cast<std::size_t>(c.pair) + 1];
  for (std::size_t k = 0; k < pairs.size(); ++k) start[k + 1] += start[k];
  std::vector<int> order(crossings.size());
  {
    std::vector<int> fill(start.begin(), start.end() - 1);
    for (std::size_t c = 0; c < crossings.size(); ++c) {
      order[static_cast<std::size_t>(fill[static_cast<std::size_t>(crossings[c].pair)]++)] =
          static_cast<int>(c);
    }
  }
  auto crossing = [&](int c) -> const Crossing& {
    return crossings[static_cast<std::size_t>(order[static_cast<std::size_t>(c)])];
  };

  const double min_half = kMinHalfLineUm / params.um_per_px;
  const double max_half = std::max(min_half, kMaxHalfLineUm / params.um_per_px);
  // The window holds the whole line wherever the step is, plus some cytoplasm on both sides.
  const double reach = max_shift + max_half + kProfileMarginPx;
  const int half_samples = static_cast<int>(std::ceil(reach / kProfileStepPx));
  const int samples = 2 * half_samples + 1;
  const double t0 = -kProfileStepPx * half_samples;
  // Its projections and inverse Gram matrices depend on the parameters only: built once per thread for a
  // run's tiles (~3 M instructions each time).
  const std::array<double, 6> key{
      std::max(0.3, params.blur_sigma_px), t0, static_cast<double>(samples), max_shift, min_half, max_half};
  thread_local std::array<double, 6> fitter_key{};
  thread_local std::optional<LineProfileFitter> cached_fitter;
  if (!cached_fitter || fitter_key != key) {
    cached_fitter.emplace(key[0], t0, kProfileStepPx, samples, max_shift, min_half, max_half);
    fitter_key = key;
  }
  const LineProfileFitter& fitter = *cached_fitter;
  std::vector<float> profile(static_cast<std::size_t>(samples));
  std::vector<std::pair<int, int>> moves;  // pixel index, new label
  for (std::size_t k = 0; k < pairs.size(); ++k) {
    const PairInfo& p = pairs[k];
    if (p.count < kMinCrossings || p.sum_od / p.count < 0.5 * kMinLineOd) continue;
    // Borders whose bands differ clearly were settled by the band rule.
    const float sa = strength_of(strength, p.lo);
    const float sb = strength_of(strength, p.hi);
    if (clearly_stronger(std::max(sa, sb), std::min(sa, sb))) continue;
    const double norm = std::hypot(p.sum_dx, p.sum_dy);
    if (norm < kMinNormalCoherence * p.count) continue;
    // The sum of the crossing steps is the border's mean normal (as many steps per axis as it has extent).
    const double nx = p.sum_dx / norm, ny = p.sum_dy / norm;  // from the lower label towards the higher
    std::fill(profile.begin(), profile.end(), 0.0f);
    for (int c = start[k]; c < start[k + 1]; ++c) {
      const Crossing& cr = crossing(c);
      const int lx = cr.lo_index % w, ly = cr.lo_index / w;
      const double mx = lx + 0.5 * cr.dx, my = ly + 0.5 * cr.dy;
      for (int i = 0; i < samples; ++i) {
        const double t = t0 + i * kProfileStepPx;
        profile[static_cast<std::size_t>(i)] += bilinear(dab, mx + t * nx, my + t * ny);
      }
    }
    for (float& v : profile) v /= static_cast<float>(p.count);
    const auto fits = fitter.fit_both(profile.data());
    if (!fits[0].valid || !fits[1].valid) continue;
    std::size_t o = fits[0].rms <= fits[1].rms ? 0 : 1;
    if (fits[o].rms > kOrientationRms * fits[1 - o].rms) {
      // Either cell's half (a line stained on one side fits as either). The cytoplasm at the profile's ends
      // decides when one side's is clearly browner (kStepRatio): a brown cell's line next to a negative cell
      // that the flood gave the crest (a pale cell floods its cytoplasm first and reaches the line first).
      // Synthetic seeds 11-20, 11 um cells: negatives read positive 81 -> 69 of 2933 (86 -> 74 with the
      // membrane search; docs/detection.md, "Membrane search").
      const int ends = std::max(1, samples / 6);
      double lo_end = 0, hi_end = 0;
      for (int i = 0; i < ends; ++i) {
        lo_end += profile[static_cast<std::size_t>(i)];
        hi_end += profile[static_cast<std::size_t>(samples - 1 - i)];
      }
      lo_end /= ends;
      hi_end /= ends;
      if (clearly_stronger(lo_end, hi_end)) {
        o = 0;
      } else if (clearly_stronger(hi_end, lo_end)) {
        o = 1;
      } else {
        continue;
      }
    }
    const LineFit& fit = fits[o];
    if (!clearly_stronger(std::max(fit.before, fit.after), std::min(fit.before, fit.after))) continue;
    // Pixels move from the cell past the step to the other one (before = the lower label's side).
    const bool to_lower = fit.step > 0;
    const double winner_cytoplasm = to_lower ? fit.outside_before : fit.outside_after;
    const double loser_cytoplasm = to_lower ? fit.outside_after : fit.outside_before;
    if (std::min(fit.before, fit.after) < kOneSidedFraction * std::max(fit.before, fit.after) &&
        winner_cytoplasm < loser_cytoplasm) {
      continue;
    }
    const double depth = std::abs(fit.step);
    if (depth < 0.5) continue;  // no pixel centre lies between the border and the step
    // Pixels of the cell on the step's side, between the border and the step, change hands.
    const int loser = fit.step > 0 ? p.hi : p.lo;
    const int winner = fit.step > 0 ? p.lo : p.hi;
    const double sx = fit.step > 0 ? nx : -nx;
    const double sy = fit.step > 0 ? ny : -ny;
    const int r = static_cast<int>(std::ceil(depth)) + 1;
    for (int c = start[k]; c < start[k + 1]; ++c) {
      const Crossing& cr = crossing(c);
      const int lx = cr.lo_index % w, ly = cr.lo_index / w;
      const double mx = lx + 0.5 * cr.dx, my = ly + 0.5 * cr.dy;
      for (int yy = std::max(0, ly - r); yy <= std::min(h - 1, ly + r); ++yy) {
        const int* nl = nucleus_labels.ptr<int>(yy);
        for (int xx = std::max(0, lx - r); xx <= std::min(w - 1, lx + r); ++xx) {
          if (lab[yy * w + xx] != loser || nl[xx] != 0) continue;
          const double ex = xx - mx, ey = yy - my;
          const double t = ex * sx + ey * sy;
          // In front of this crossing: crossings are at most ~0.7 px apart along the border.
          const double lateral = std::abs(ex * sy - ey * sx);
          if (t > 0 && t < depth && lateral <= 0.75) moves.emplace_back(yy * w + xx, winner);
        }
      }
    }
  }
  for (const auto& [i, a] : moves) {
    lab[i] = a;
    if (changed != nullptr) changed->push_back(i);
  }
}

}  // namespace
}  // namespace ihc
