#pragma once
// Nucleus segmentation on a detection image (optical density, CV_32F) at the analysis resolution. All sizes
// here are in pixels: cell_detection.cpp converts the micron parameters once.
#include <opencv2/core.hpp>

#include "imaging/morphology.hpp"

namespace ihc {

struct NucleusParamsPx {
  double background_radius_px = 16.0;  // opening by reconstruction; <= 0 = off
  double median_radius_px = 0.0;
  double sigma_px = 3.0;
  double min_area_px = 40.0;
  double max_area_px = 1600.0;
  double threshold = 0.1;  // mean background-subtracted OD a nucleus must exceed
  // Pale nuclei: a nucleus whose mean is at most `threshold` but above pale_fraction x threshold is kept when
  // it covers at least pale_min_area_px (large pale vesicular tumour nuclei; small faint blobs are texture,
  // fibres or the pale half of a split). 1 = off.
  double pale_fraction = 1.0;
  double pale_min_area_px = 0.0;
  double max_background = 2.0;  // nuclei on a background above this are dropped; <= 0 = off
  bool split_by_shape = true;
  // Ridges thinner than this disk (brown membranes, fibres) are removed before nuclei are sought, so a
  // membrane honeycomb never becomes a nucleus. 0 = radius of the smallest allowed nucleus.
  double ridge_radius_px = 0.0;
  // Ridge test: fraction of its mean height a candidate must keep through that opening to be a nucleus (a
  // membrane junction loses most of it, a compact nucleus little). 0 = off.
  double min_kept_height = 0.6;
  // Second look for a candidate that fails the ridge test (0 = off; needs the DAB plane): it is measured
  // again after a closing with this disk, which fills the pale gaps between chromatin granules, so a
  // coarse-textured nucleus keeps its height through the opening. Only a candidate bluer than the brown
  // structure around it (the crosstalk guard's test at kTextureRescueRatio) gets it: a brown line junction
  // has the ratio of its lines, and closed it would keep its height too.
  double ridge_close_px = 0.0;
  double split_depth_px = 1.0;  // distance-map dynamic that separates two touching nuclei
  // Crosstalk guard: a candidate browner than blue (mean DAB OD above its mean detection-image OD) must have
  // a detection/DAB ratio at least this many times that of the pixels around it that are as brown as it; a
  // membrane junction seen through stain vectors a few degrees off has the ratio of its own lines, a nucleus
  // in brown cytoplasm is bluer. Needs the DAB plane; 0 = off (nuclear DAB stains such as Ki-67).
  double crosstalk_guard = 0.0;
  // Concave-point split (after split by shape; 0 = off): a nucleus at least kConcaveAreaFactor times the
  // median area of the nuclei within concave_reference_radius_px of it is cut along the chord between two
  // convexity defects of its outline at least this deep, when the chord is short against their depths and
  // both parts are at least half the median area and not too elongated (touching pale nuclei whose merged
  // outline has one distance dome).
  double concave_depth_px = 0.0;
  // The neighbourhood of that median (centroid to centroid); local, so tiling does not change the cuts as
  // long as it plus a nucleus radius stays inside a tile's search margin. 0 = no cuts.
  double concave_reference_radius_px = 0.0;
};

struct NucleusDetection {
  cv::Mat labels;  // CV_32S, 0 = no nucleus, 1..count; covers `region` of the detection image
  int count = 0;
  cv::Mat background_subtracted;  // CV_32F detection image minus its background (what `threshold` tests)
  cv::Rect region;                // where nuclei were searched (the whole image unless a region was given)
};

// Full lengths of the axes of the ellipse with the second moments of a shape (both 0 for an empty one): the
// concave-point split's roundness test and `ihcscore evaluate`'s nucleus axes.
struct EllipseAxes {
  double major = 0.0;
  double minor = 0.0;
};
EllipseAxes ellipse_axes(const cv::Moments& m);

// Finds nuclei as compact blobs: background subtraction, ridge suppression by an opening with a disk,
// Gaussian smoothing, Laplacian-of-Gaussian regions tested against `threshold`, distance-map watershed to
// split touching nuclei, area filter, crosstalk guard. `detection` and `dab` (the DAB OD plane, same size;
// read when params.crosstalk_guard > 0, which then requires it, and by the ridge test's second look when
// params.ridge_close_px > 0) are CV_32F.
NucleusDetection detect_nuclei(const cv::Mat& detection, const NucleusParamsPx& params,
                               const cv::Mat& dab = cv::Mat());
// Same, writing into `out`: its planes are reused when they have the image's size and type (no allocation,
// no page faults; tile loops should keep one result alive per thread). Views shared with `out`'s planes see
// the new values.
// With a `region`, the background is estimated over the whole image (its context) and nuclei are searched in
// `region` only: a tile's border that only lends context to the background costs no more.
void detect_nuclei(const cv::Mat& detection, const NucleusParamsPx& params, const cv::Mat& dab,
                   NucleusDetection& out, const cv::Rect& region = cv::Rect());

// Adds to `labels` (count nuclei) the nuclei of `extra` (same size, extra_count nuclei) that lie where
// `labels` has none: an extra nucleus at most `max_overlap` of whose area is held by existing nuclei, whose
// free part covers at least `min_area_px`, and that holds no more than half of any existing nucleus, joins
// with its free part as nucleus count + 1, count + 2, ... Returns the new count. Both CV_32S.
int merge_nuclei(cv::Mat& labels, int count, const cv::Mat& extra, int extra_count, double max_overlap,
                 double min_area_px);

// The second search of "OD sum" detection: nuclei sought in the hematoxylin plane (same size as the
// detection image `nuclei` came from) and added where `nuclei` has none (merge_nuclei with `max_overlap` and
// `min_area_px`, full-resolution pixels). Pale blue nuclei in grey-brown haze are no darker than the haze in
// the OD sum; in hematoxylin they are. The search runs at half the resolution, with `half_params` (the
// same microns converted at twice the pixel size; the ridge test's second look is off, there is no DAB
// plane): 2 x 2 blocks counted from the image's origin, so tiles whose origins are even see the same
// blocks; a quarter of the pixels, and it measured no worse than at full resolution (docs/accuracy.md).
void add_hematoxylin_nuclei(const cv::Mat& hematoxylin, const NucleusParamsPx& half_params,
                            double max_overlap, double min_area_px, NucleusDetection& nuclei);

}  // namespace ihc
