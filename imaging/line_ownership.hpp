#pragma once
// Who owns a brown line that two grown cells share (a step of cell growth, in its own file so the rule can be
// worked on and tested alone). Sizes in pixels of the analysis image.
#include <opencv2/core.hpp>

namespace ihc {

// Mean membrane DAB OD from which a cell counts as having a brown line of its own.
inline constexpr float kMinLineOd = 0.15f;

// A brown line between two cells is one cell's membrane when that cell is brown all around and its neighbour
// is not: the line's pixels on the neighbour's side move to the brown cell, so the negative cell's border
// (and membrane band) lies just outside the line instead of on half of it. Equal neighbours keep the crest.
// `labels` (CV_32S cells) is changed in place; `nucleus_labels` (CV_32S) are never moved; `dab_smooth`
// (CV_32F) is the blurred DAB image; `band` (CV_8U) the cells' membrane bands before the move; at most
// `iterations` passes (each moves a line by about one pixel).
void give_lines_to_brown_cells(cv::Mat& labels, const cv::Mat& nucleus_labels, const cv::Mat& dab_smooth,
                               const cv::Mat& band, int iterations);

}  // namespace ihc
