#pragma once
// Cells grown from nuclei so borders follow brown lines, and each cell's membrane band. Sizes in pixels of
// the analysis image; cell_detection.cpp converts microns once.
#include <opencv2/core.hpp>

namespace ihc {

struct CellParamsPx {
  double cell_expansion_px = 10.0;  // 0 = cells are their nuclei
  // Borders on DAB only: beyond cell_expansion_px a cell grows up to this much further in the directions
  // where it reaches a brown line of its own (a crest), and stays within cell_expansion_px where it finds
  // none.
  double membrane_search_px = 0.0;
  double membrane_width_px = 2.0;
  bool smooth_boundaries = true;
  // true: borders lie on brown lines (the landscape holds the DAB, the flood stops behind a climbed line,
  // lines go to the brown cell); false: midway between nuclei (the landscape is the distance alone).
  bool borders_on_dab = true;
  double um_per_px = 0.5;    // for the distance term of the growth landscape
  double area_scale = 0.25;  // area unit per pixel (um^2 per px^2, or 1 when uncalibrated)
};

struct CellGrowth {
  cv::Mat cell_labels;  // CV_32S, same ids as the nucleus labels, 0 = no cell
  cv::Mat membrane;     // CV_8U, 255 on each cell's membrane band (inside the cell, along its border)
};

// The landscape grow_cells floods: max(dab_smooth, 0) + od_per_px x the distance to the nearest nucleus
// (3 x 3 chamfer, exactly cv::distanceTransform(nucleus_labels == 0, DIST_L2, DIST_MASK_3)), and the labels
// it floods: the nuclei, 0 to fill, -1 further than reach_px from every nucleus.
void growth_landscape(const cv::Mat& nucleus_labels, const cv::Mat& dab_smooth, double od_per_px,
                      double reach_px, cv::Mat& landscape, cv::Mat& labels);
// The same, with the labels for a second reach in `far_labels` (not written when nullptr), from the same
// pass.
void growth_landscape(const cv::Mat& nucleus_labels, const cv::Mat& dab_smooth, double od_per_px,
                      double reach_px, cv::Mat& landscape, cv::Mat& labels, double far_reach_px,
                      cv::Mat* far_labels);

// Band of width_px inside each cell (labels CV_32S, > 0) along its own border, as CV_8U 0/255.
cv::Mat membrane_band(const cv::Mat& labels, double width_px);

// Grows one cell per nucleus with a watershed on a landscape where brown (DAB) lines are ridges and, where
// there are none, the distance to the nearest nucleus makes borders fall midway (Voronoi); never further than
// cell_expansion_px from the cell's own nucleus, except up to membrane_search_px further in the directions
// where a cell reaches a brown line of its own (borders on DAB). Neighbours share one border, each owning its
// side.
CellGrowth grow_cells(const cv::Mat& nucleus_labels, const cv::Mat& dab, const CellParamsPx& params);
// The same into `out`: planes of the right size and type are reused (a result kept per thread takes no
// fresh, page-faulted memory tile after tile).
void grow_cells(const cv::Mat& nucleus_labels, const cv::Mat& dab, const CellParamsPx& params,
                CellGrowth& out);
// grow_cells for a caller that reads cell pixels (label > 0) only: the same labels and band on every such
// pixel, but the pixels beyond reach keep the flood's -1 and the band is not cut to the cells (one pass over
// both planes less).
void grow_cells_uncut(const cv::Mat& nucleus_labels, const cv::Mat& dab, const CellParamsPx& params,
                      CellGrowth& out);

}  // namespace ihc
