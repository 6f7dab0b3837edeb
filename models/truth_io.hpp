#pragma once
// Readers for annotated cell points ("truth"): CSV (x,y,label; AdamDlubak's markers.csv "type,x,y"), a JSON
// list of {x, y, label_id} (SHIDC-B-Ki-67), QuPath's point annotations exported as GeoJSON, colour masks
// (DeepLIIF: red positive, blue negative cells) and QuPath viewer snapshots with the detections drawn filled
// in their class colours ("qupath-render"). Masks arrive decoded (models/ does no image I/O); CSV and JSON
// are read from files here.
#include <cstdint>
#include <filesystem>
#include <map>
#include <opencv2/core.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "models/evaluation.hpp"

namespace ihc {

// what() is "<path>: <reason>" or "<path>:<line>: <reason>".
class TruthError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class TruthFormat { Csv, Json, Mask, QuPathRender, GeoJson };

std::string_view truth_format_name(TruthFormat f);  // "csv", "json", "mask", "qupath-render", "geojson"
// From the extension: .csv/.txt -> Csv, .json -> Json, .geojson -> GeoJson, .png/.tif/.tiff/.bmp -> Mask (a
// render is never guessed: it is a PNG like a mask). Throws TruthError.
TruthFormat truth_format_from_path(const std::filesystem::path& path);
// The same, but a .json file holding GeoJSON (an object, or a list of Features as QuPath 0.2-0.3 exported
// objects) is GeoJson: SHIDC's JSON truth is a list of points.
TruthFormat truth_format_from_file(const std::filesystem::path& path);
// "csv", "json", "mask", "qupath-render", "geojson"; throws TruthError naming the accepted values.
TruthFormat parse_truth_format(std::string_view name);

// Label text (as written in the file; words compared case-insensitively) -> label.
using LabelMap = std::map<std::string, TruthLabel>;

// CSV and GeoJSON: 1 positive, 2 negative, 3 ignore (markers.csv types, SHIDC ids), and the words
// positive/negative/ignore plus QuPath's class names Positive, Negative, 1+, 2+, 3+. JSON: 1 positive, 2
// negative, 3 ignore (SHIDC: 3 = lymphocyte).
LabelMap default_label_map(TruthFormat f);
// "1=positive,2=negative,3=ignore" -> map; throws TruthError with the bad item.
LabelMap parse_label_map(std::string_view text);

// CSV with a header naming x, y and the label column ("label", "type", "class" or "label_id"), any order,
// delimited by the header's delimiter as clinical tables are (comma, else semicolon, else tab; read by
// parse_csv_table of models/csv_table.hpp, so "12,5" in a semicolon or tab file is 12.5).
// Labels written as QuPath's class names (Negative, 1+, 2+, 3+) also set TruthPoint::grade (CSV and JSON).
std::vector<TruthPoint> read_truth_csv(const std::filesystem::path& path, const LabelMap& labels);
std::vector<TruthPoint> parse_truth_csv(std::string_view text, const std::string& origin,
                                        const LabelMap& labels);

// JSON list of objects with numeric x, y and a label ("label_id", else "label", else "class"; number or
// string).
std::vector<TruthPoint> read_truth_json(const std::filesystem::path& path, const LabelMap& labels);
std::vector<TruthPoint> parse_truth_json(std::string_view text, const std::string& origin,
                                         const LabelMap& labels);

// QuPath's point annotations (the Points tool) exported as GeoJSON: a FeatureCollection, a list of Features
// or one Feature (QuPath's NaN and Infinity read), each Point or MultiPoint geometry one cell per point,
// labelled by its classification (models/qupath_io: "Positive", {"names": ["Tumor", "Positive"]}) through
// `labels`: the full name, else its last part ("Tumor: 2+" -> 2+); an unclassified point's label is
// "unclassified". Features without points (the area annotated) are skipped; a file of features but no points
// is an error. Errors name the file and the feature index.
std::vector<TruthPoint> read_truth_geojson(const std::filesystem::path& path, const LabelMap& labels);
std::vector<TruthPoint> parse_truth_geojson(std::string_view text, const std::string& origin,
                                            const LabelMap& labels);

// CSV, JSON or GeoJSON truth (coordinates in the whole image) on the evaluated image, the part `crop` of a
// whole image of size `image` (empty crop: all of it): points are shifted into the crop and left out outside
// it, as
// --detections' cells are. Points outside the whole image are counted apart: they mean another image's
// truth or another scale. Inside: 0 <= x < width, 0 <= y < height.
struct TruthOnImage {
  std::vector<TruthPoint> points;
  int outside_image = 0;  // outside the whole image
  int outside_crop = 0;   // inside the whole image, outside the crop
};
TruthOnImage truth_on_image(const std::vector<TruthPoint>& points, const cv::Size& image,
                            const cv::Rect& crop);

struct MaskTruthParams {
  int min_area_px = 10;  // smaller components are anti-aliasing specks, not cells
};

// Connected components (4-connected, so the one-pixel outlines between touching cells keep them apart) of
// red (R >= 128, G < 128, B < 128: positive) and blue (B >= 128, R < 128, G < 128: negative) pixels of an RGB
// CV_8UC3 mask; each component of at least min_area_px pixels gives its centroid. `origin` names the file in
// errors. Centroids of mask components (here and below) are in QuPath's pixel-edge convention, as every
// level-0 coordinate: pixel x covers [x, x + 1], so a component of pixels 10..19 is centred at 15.0.
std::vector<TruthPoint> truth_from_mask(const cv::Mat& rgb, const MaskTruthParams& params,
                                        const std::string& origin);

// DeepLIIF's inferred segmentation (*_fake_B_5.png, *_Seg.png): soft red (positive) and blue (negative)
// probabilities with green cell boundaries, not a drawn mask. DeepLIIF's rule: a pixel is a cell where
// R + B > seg_thresh and G <= boundary_max; the 8-connected components of those pixels are cells, positive
// when at least as many of their pixels have R >= B as B > R.
struct DeepliifSegmentationParams {
  int seg_thresh = 120;   // DeepLIIF's default
  int boundary_max = 80;  // green above this is a boundary
  int min_area_px = 10;   // as for masks
};
std::vector<TruthPoint> cells_from_deepliif_segmentation(const cv::Mat& rgb,
                                                         const DeepliifSegmentationParams& params,
                                                         const std::string& origin);

// QuPath draws a detection's outline at 80 % of its class colour, each channel TRUNCATED to an integer
// (0.8 x 112 = 89.6 -> 89 = 0x59, as in its renders), not rounded.
inline cv::Vec3b qupath_outline_colour(const cv::Vec3b& fill) {
  return {static_cast<std::uint8_t>(fill[0] * 8 / 10), static_cast<std::uint8_t>(fill[1] * 8 / 10),
          static_cast<std::uint8_t>(fill[2] * 8 / 10)};
}

// Exact RGB colours of QuPath's default classes (Negative #7070E1, Positive #FA3E3E) and their outlines.
struct QuPathRenderTruthParams {
  cv::Vec3b negative_fill{112, 112, 225};
  cv::Vec3b negative_outline = qupath_outline_colour(negative_fill);  // #5959B4
  cv::Vec3b positive_fill{250, 62, 62};
  cv::Vec3b positive_outline = qupath_outline_colour(positive_fill);  // #C83131
  int min_fill_px = 3;           // fewer fill pixels are a sliver of a cell mostly hidden by outlines
  int min_outline_only_px = 10;  // outline-only components below this are stray bits of outline
};

// Cells of a QuPath viewer snapshot with detections drawn filled (same pixel grid as the image): touching
// nuclei share outline pixels but each keeps its own fill, so every 4-connected component of one class's
// exact fill colour with >= min_fill_px pixels is one cell at the centroid of its fill. Nuclei too small to
// show any fill are drawn as outline only: a 4-connected component of one class's outline colour that touches
// (4-neighbour) no fill pixel of either class, with >= min_outline_only_px pixels, is one cell at its
// centroid. Labels are Positive/Negative from the class; any other colour is the image and is ignored.
// `rgb` is RGB CV_8UC3; `origin` names the file in errors.
std::vector<TruthPoint> truth_from_qupath_render(const cv::Mat& rgb, const QuPathRenderTruthParams& params,
                                                 const std::string& origin);

}  // namespace ihc
