#pragma once
// Who owns a brown line that two grown cells share (a step of cell growth, in its own file so the rule can be
// worked on and tested alone). Sizes in pixels of the analysis image.
#include <array>
#include <opencv2/core.hpp>
#include <vector>

namespace ihc {

// Mean membrane DAB OD from which a cell counts as having a brown line of its own.
inline constexpr float kMinLineOd = 0.15f;
// A cell takes a neighbour's side of a shared line only when its membrane is this many times stronger (plus
// kStepMarginOd). Band strengths come from the bands before the move, and where one of two equal cells owns
// the crest its band reads up to ~1.3x the other's (a 1 um line, tests/imaging/test_cell_measurements);
// below 1.35 such equal cells start to trade the line. The fitted levels of a border use the same rule, and
// cell growth's membrane search the same ratio for a crest against the DAB on either side.
inline constexpr float kStepRatio = 1.35f;
inline constexpr float kStepMarginOd = 0.05f;
// Gaussian sigma of a 20x-40x objective: the blur of the unsmoothed DAB that a border step is fitted with.
inline constexpr double kObjectiveSigmaUm = 0.35;

// A shared brown line fitted to a DAB profile across a border: cytoplasm `outside_before`, then the first
// cell's half line (`before`) over [step - half_width, step), the second cell's half (`after`) over
// [step, step + half_width), then cytoplasm `outside_after`, all blurred by a Gaussian of known sigma. Each
// cell owns its half of the line (two plasma membranes side by side), so `step` is where their border goes.
// Positions are in the profile's t units.
struct LineFit {
  double step = 0;
  double half_width = 0;
  double before = 0, after = 0;
  double outside_before = 0, outside_after = 0;
  double rms = 0;  // root mean square residual
  bool valid = false;
};

// Least-squares fit of that model to profiles sampled at t = t0 + i * dt (i < samples). Step positions are
// searched on a dt / 2 grid within [-max_step, max_step], half widths on a dt grid within [min_half_width,
// max_half_width]; the four levels are solved exactly for each. The projections are computed once, so
// fitting one profile costs a few thousand multiply-adds.
class LineProfileFitter {
 public:
  LineProfileFitter(double sigma, double t0, double dt, int samples, double max_step, double min_half_width,
                    double max_half_width);
  LineFit fit(const float* profile) const;
  // The best fits whose first half is at least as dark as the second ([0]) and the other way round ([1]): a
  // line that only one side stains fits either way, as the first cell's half or the second's.
  std::array<LineFit, 2> fit_both(const float* profile) const;
  int samples() const { return samples_; }
  double t0() const { return t0_; }
  double dt() const { return dt_; }

 private:
  struct Candidate {
    double step = 0, half_width = 0;
    int edge[3] = {};  // indices of step - half_width, step, step + half_width in the edge grid
    double inverse_gram[4][4] = {};
  };
  double t0_ = 0, dt_ = 1;
  int samples_ = 0;
  int edges_ = 0;
  std::vector<double> phi_;  // edges_ x samples_: weight of the part before each grid edge at each sample
  std::vector<Candidate> candidates_;
};

struct LineOwnershipParams {
  double blur_sigma_px = 0.7;  // Gaussian sigma of the DAB image given (the objective's)
  double max_shift_px = 3.0;   // a border moves at most this far from where the flood left it
  double um_per_px = 0.5;      // for the range of half line widths tried (0.5-1.5 um)
  bool fit_borders = true;     // false: the band rule (1.) only
  // The caller's promise that `band` holds every pixel of a cell within one axis step of a pixel whose
  // 4-neighbour carries another label (the edges of the current labels dilated by a ball that holds the
  // 3 x 3 square, as grow_cells makes it with a band wider than 1.455 px): then a pixel outside the band has
  // all 8 neighbours in its own cell, and the band rule reads the DAB only in the band. Same result.
  bool band_holds_borders = false;
};

// Who owns a brown line two grown cells share. The flood leaves their border on the crest of the blurred
// line, which lies inside the darker cell's half when the halves differ. Two passes, on the unsmoothed DAB:
// 1. Band rule: where one cell's band (`band`, CV_8U, as grown) is clearly stronger than its neighbour's
//    (kStepRatio), the neighbour's pixels darker than the mean of both strengths move to it (at most
//    `max_shift_px` deep): next to a negative cell that is the whole line, next to a 2+ cell the 3+ half.
// 2. Border fit, for the borders the band rule left alone: when the paler cell holds the crest its band
//    reads the darker line, so the bands look alike. A LineFit of the DAB profile across the border
//    (averaged along it) finds the step between the halves; when it fits clearly better one way round and
//    its halves differ clearly, the border moves to the step. Decided per border, not per pixel.
// `labels` (CV_32S cells) is changed in place; `nucleus_labels` (CV_32S) are never moved.
void give_lines_to_brown_cells(cv::Mat& labels, const cv::Mat& nucleus_labels, const cv::Mat& dab,
                               const cv::Mat& band, const LineOwnershipParams& params);
// The same, appending the index (y * cols + x) of every pixel it changes to `changed` (some more than once),
// for callers that update what they derived from the labels.
void give_lines_to_brown_cells(cv::Mat& labels, const cv::Mat& nucleus_labels, const cv::Mat& dab,
                               const cv::Mat& band, const LineOwnershipParams& params,
                               std::vector<int>& changed);

}  // namespace ihc
