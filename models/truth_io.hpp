#pragma once
// Readers for annotated cell points ("truth"): CSV (x,y,label; AdamDlubak's markers.csv "type,x,y"), a JSON
// list of {x, y, label_id} (SHIDC-B-Ki-67) and colour masks (DeepLIIF: red positive, blue negative cells).
// Masks arrive decoded (models/ does no image I/O); CSV and JSON are read from files here.
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

enum class TruthFormat { Csv, Json, Mask };

std::string_view truth_format_name(TruthFormat f);  // "csv", "json", "mask"
// From the extension: .csv/.txt -> Csv, .json -> Json, .png/.tif/.tiff/.bmp -> Mask. Throws TruthError.
TruthFormat truth_format_from_path(const std::filesystem::path& path);
// "csv", "json", "mask"; throws TruthError naming the accepted values.
TruthFormat parse_truth_format(std::string_view name);

// Label text (as written in the file; words compared case-insensitively) -> label.
using LabelMap = std::map<std::string, TruthLabel>;

// CSV: 1 positive, 2 negative, 3 ignore (markers.csv types, SHIDC ids), and the words
// positive/negative/ignore plus QuPath's class names Positive, Negative, 1+, 2+, 3+. JSON: 1 positive, 2
// negative, 3 ignore (SHIDC: 3 = lymphocyte).
LabelMap default_label_map(TruthFormat f);
// "1=positive,2=negative,3=ignore" -> map; throws TruthError with the bad item.
LabelMap parse_label_map(std::string_view text);

// CSV with a header naming x, y and the label column ("label", "type", "class" or "label_id"), any order.
// Labels written as QuPath's class names (Negative, 1+, 2+, 3+) also set TruthPoint::grade (CSV and JSON).
std::vector<TruthPoint> read_truth_csv(const std::filesystem::path& path, const LabelMap& labels);
std::vector<TruthPoint> parse_truth_csv(std::string_view text, const std::string& origin,
                                        const LabelMap& labels);

// JSON list of objects with numeric x, y and a label ("label_id", else "label"; number or string).
std::vector<TruthPoint> read_truth_json(const std::filesystem::path& path, const LabelMap& labels);
std::vector<TruthPoint> parse_truth_json(std::string_view text, const std::string& origin,
                                         const LabelMap& labels);

struct MaskTruthParams {
  int min_area_px = 10;  // smaller components are anti-aliasing specks, not cells
};

// Connected components (4-connected, so the one-pixel outlines between touching cells keep them apart) of
// red (R >= 128, G < 128, B < 128: positive) and blue (B >= 128, R < 128, G < 128: negative) pixels of an RGB
// CV_8UC3 mask; each component of at least min_area_px pixels gives its centroid. `origin` names the file in
// errors.
std::vector<TruthPoint> truth_from_mask(const cv::Mat& rgb, const MaskTruthParams& params,
                                        const std::string& origin);

}  // namespace ihc
