#include "imaging/overlay.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "imaging/gaussian.hpp"
#include "imaging/png_io.hpp"
#include "models/atomic_file.hpp"

namespace ihc {

namespace {

cv::Vec3b class_rgb(CellClass c) {
  const std::uint32_t v = class_color_rgb(c);
  return {static_cast<uchar>((v >> 16) & 0xFF), static_cast<uchar>((v >> 8) & 0xFF),
          static_cast<uchar>(v & 0xFF)};
}

cv::Scalar scalar_rgb(CellClass c) {
  const cv::Vec3b v = class_rgb(c);
  return {static_cast<double>(v[0]), static_cast<double>(v[1]), static_cast<double>(v[2])};
}

// A level-0 vertex (pixel-edge convention: pixel x covers [x, x + 1]) on the thumbnail, whose drawing
// functions put pixel i's centre at i: x * s - 0.5.
template <typename P>
std::vector<cv::Point> to_thumb(const std::vector<P>& pts, double s) {
  std::vector<cv::Point> out;
  out.reserve(pts.size());
  for (const auto& p : pts) {
    out.emplace_back(static_cast<int>(std::lround(p.x * s - 0.5)),
                     static_cast<int>(std::lround(p.y * s - 0.5)));
  }
  return out;
}

}  // namespace

OverlayCanvas::OverlayCanvas(cv::Mat thumbnail, cv::Size2d level0_size, OverlayOptions options)
    : thumbnail_(std::move(thumbnail)), options_(options) {
  if (thumbnail_.empty() || thumbnail_.type() != CV_8UC3) {
    throw std::invalid_argument("OverlayCanvas: the thumbnail must be a non-empty 8-bit RGB image");
  }
  scale_ = level0_size.width > 0 ? thumbnail_.cols / level0_size.width : 1.0;
  fill_ = cv::Mat(thumbnail_.size(), CV_8UC3, cv::Scalar::all(0));
  fill_mask_ = cv::Mat(thumbnail_.size(), CV_8U, cv::Scalar(0));
  edges_ = cv::Mat(thumbnail_.size(), CV_8UC3, cv::Scalar::all(0));
  edge_mask_ = cv::Mat(thumbnail_.size(), CV_8U, cv::Scalar(0));
}

void OverlayCanvas::add_cells(const CellTable& table, const std::vector<CellClass>& classes) {
  const cv::Rect bounds(0, 0, thumbnail_.cols, thumbnail_.rows);
  for (std::size_t i = 0; i < table.size(); ++i) {
    const Cell& c = table.cells[i];
    const CellClass cls = i < classes.size() ? classes[i] : CellClass::Negative;
    const auto& poly = c.boundary.size() >= 3 ? c.boundary : c.nucleus;
    bool drawn = false;
    if (poly.size() >= 3) {
      const cv::Rect2f box = cv::boundingRect(poly);
      if (std::max(box.width, box.height) * scale_ >= options_.min_cell_px) {
        const std::vector<std::vector<cv::Point>> contour{to_thumb(poly, scale_)};
        cv::fillPoly(fill_, contour, scalar_rgb(cls));
        cv::fillPoly(fill_mask_, contour, cv::Scalar(255));
        cv::polylines(edges_, contour, true, scalar_rgb(cls), 1, cv::LINE_8);
        cv::polylines(edge_mask_, contour, true, cv::Scalar(255), 1, cv::LINE_8);
        drawn = true;
        ++drawn_;
      }
    }
    if (!drawn) {
      // The thumbnail pixel holding the centroid.
      const cv::Point p(static_cast<int>(std::floor(c.centroid.x * scale_)),
                        static_cast<int>(std::floor(c.centroid.y * scale_)));
      if (!bounds.contains(p)) continue;
      const cv::Vec3b rgb = class_rgb(cls);
      if (density_.empty()) {
        density_memory_.reset(std::calloc(thumbnail_.total(), sizeof(cv::Vec4f)), std::free);
        if (!density_memory_) throw std::bad_alloc();
        density_ = cv::Mat(thumbnail_.size(), CV_32FC4, density_memory_.get());
      }
      density_box_ =
          density_box_.empty() ? cv::Rect(p, cv::Size(1, 1)) : (density_box_ | cv::Rect(p, cv::Size(1, 1)));
      cv::Vec4f& d = density_.at<cv::Vec4f>(p);
      d[0] += rgb[0];
      d[1] += rgb[1];
      d[2] += rgb[2];
      d[3] += 1.0f;
      ++dense_;
    }
  }
}

void OverlayCanvas::set_tissue_mask(const cv::Mat& mask) {
  if (mask.empty()) return;
  cv::Mat m;
  cv::resize(mask, m, thumbnail_.size(), 0, 0, cv::INTER_NEAREST);
  tissue_mask_ = m > 0;
}

void OverlayCanvas::add_outline(const std::vector<cv::Point2d>& ring, bool exclusion) {
  std::vector<cv::Point> pts = to_thumb(ring, scale_);
  if (pts.size() < 2) return;
  outlines_.push_back(std::move(pts));
  outline_excludes_.push_back(exclusion);
}

cv::Mat OverlayCanvas::render() const {
  cv::Mat out = thumbnail_.clone();
  // Density map: mean class colour per neighbourhood, opacity growing with the number of cells.
  if (dense_ > 0) {
    const double sigma = std::max(1.0, std::min(out.cols, out.rows) / 400.0);
    // Only the box of the density points plus the kernel radius can become non-zero: blurring that box (its
    // neighbours outside are read as they are, zeros) gives the same values as blurring the whole canvas,
    // which on a small slide with a few tiny cells was ~0.1 s of a 1.4 s slide (a 3-Mpx 4-channel float
    // blur).
    cv::Rect box = density_box_;
    const int ksize = gaussian_kernel_size(sigma);  // GaussianBlur's own choice for float images
    const int margin = ksize / 2 + 1;
    box = cv::Rect(box.x - margin, box.y - margin, box.width + 2 * margin, box.height + 2 * margin) &
          cv::Rect(0, 0, density_.cols, density_.rows);
    cv::Mat smooth;
    cv::GaussianBlur(density_(box), smooth, cv::Size(ksize, ksize), sigma, sigma);
    std::vector<float> counts;
    for (int y = 0; y < smooth.rows; ++y) {
      for (int x = 0; x < smooth.cols; ++x) {
        const float n = smooth.at<cv::Vec4f>(y, x)[3];
        if (n > 1e-3f) counts.push_back(n);
      }
    }
    float ref = 1.0f;
    if (!counts.empty()) {
      auto nth = counts.begin() + static_cast<std::ptrdiff_t>(counts.size() * 9 / 10);
      std::nth_element(counts.begin(), nth, counts.end());
      ref = std::max(*nth, 1e-3f);
    }
    for (int y = 0; y < smooth.rows; ++y) {
      for (int x = 0; x < smooth.cols; ++x) {
        const cv::Vec4f d = smooth.at<cv::Vec4f>(y, x);
        if (d[3] <= 1e-3f) continue;
        const float a = std::min(0.85f, 0.3f + 0.55f * d[3] / ref);
        cv::Vec3b& px = out.at<cv::Vec3b>(y + box.y, x + box.x);
        for (int k = 0; k < 3; ++k) {
          px[k] = cv::saturate_cast<uchar>((1 - a) * px[k] + a * d[k] / d[3]);
        }
      }
    }
  }
  if (drawn_ > 0) {
    cv::Mat blended;
    cv::addWeighted(out, 1.0 - options_.cell_alpha, fill_, options_.cell_alpha, 0.0, blended);
    blended.copyTo(out, fill_mask_);
    edges_.copyTo(out, edge_mask_);
  }
  if (!tissue_mask_.empty()) {
    std::vector<std::vector<cv::Point>> contours;
    cv::findContours(tissue_mask_.clone(), contours, cv::RETR_LIST, cv::CHAIN_APPROX_SIMPLE);
    const int thickness = std::max(1, std::min(out.cols, out.rows) / 500);
    cv::drawContours(out, contours, -1, cv::Scalar(0, 170, 0), thickness, cv::LINE_AA);
  }
  for (std::size_t k = 0; k < outlines_.size(); ++k) {
    const cv::Scalar colour = outline_excludes_[k] ? cv::Scalar(255, 0, 255) : cv::Scalar(0, 0, 0);
    cv::polylines(out, outlines_[k], true, colour, std::max(1, std::min(out.cols, out.rows) / 400),
                  cv::LINE_AA);
  }
  return out;
}

std::pair<double, double> histogram_range(std::vector<float> values, const std::vector<double>& thresholds) {
  double lo = 0.0, hi = 1.0;
  values.erase(std::remove_if(values.begin(), values.end(), [](float x) { return !std::isfinite(x); }),
               values.end());
  if (!values.empty()) {
    lo = std::min(0.0, static_cast<double>(*std::min_element(values.begin(), values.end())));
    // nth_element, not a sort: the viewer asks again at every step of a threshold slider.
    const auto q =
        values.begin() + static_cast<std::ptrdiff_t>(std::min(values.size() - 1, values.size() * 995 / 1000));
    std::nth_element(values.begin(), q, values.end());
    hi = std::max(hi, static_cast<double>(*q));
  }
  for (double t : thresholds) hi = std::max(hi, t * 1.25);
  return {lo, hi};
}

cv::Mat render_histogram(const std::vector<float>& values, const std::string& measurement,
                         const std::vector<double>& thresholds, const HistogramOptions& o) {
  cv::Mat img(o.height, o.width, CV_8UC3, cv::Scalar::all(255));
  const int left = 70, right = 20, top = 40, bottom = 50;
  const int pw = o.width - left - right, ph = o.height - top - bottom;
  std::vector<float> v;
  v.reserve(values.size());
  for (float x : values) {
    if (std::isfinite(x)) v.push_back(x);
  }
  const std::pair<double, double> range = histogram_range(v, thresholds);
  const double lo = range.first, hi = range.second;
  const double bw = (hi - lo) / o.bins;
  std::vector<std::int64_t> counts(static_cast<std::size_t>(o.bins), 0);
  for (float x : v) {
    const int b = std::clamp(static_cast<int>((x - lo) / bw), 0, o.bins - 1);
    ++counts[static_cast<std::size_t>(b)];
  }
  const std::int64_t max_count = std::max<std::int64_t>(1, *std::max_element(counts.begin(), counts.end()));
  auto x_of = [&](double value) {
    return left + static_cast<int>(std::lround((value - lo) / (hi - lo) * pw));
  };
  auto class_of = [&](double value) {
    if (thresholds.size() == 1) return value >= thresholds[0] ? CellClass::Positive : CellClass::Negative;
    CellClass c = CellClass::Negative;
    const CellClass order[] = {CellClass::OnePlus, CellClass::TwoPlus, CellClass::ThreePlus};
    for (std::size_t k = 0; k < thresholds.size() && k < 3; ++k) {
      if (value >= thresholds[k]) c = order[k];
    }
    return c;
  };
  for (int b = 0; b < o.bins; ++b) {
    const double mid = lo + (b + 0.5) * bw;
    const int h = static_cast<int>(
        std::lround(static_cast<double>(counts[static_cast<std::size_t>(b)]) / max_count * ph));
    if (h <= 0) continue;
    const cv::Rect r(x_of(lo + b * bw), top + ph - h,
                     std::max(1, x_of(lo + (b + 1) * bw) - x_of(lo + b * bw)), h);
    cv::rectangle(img, r, scalar_rgb(class_of(mid)), cv::FILLED);
    cv::rectangle(img, r, cv::Scalar(90, 90, 90), 1);
  }
  const cv::Scalar black(0, 0, 0);
  cv::line(img, {left, top + ph}, {left + pw, top + ph}, black, 1);
  cv::line(img, {left, top}, {left, top + ph}, black, 1);
  char buf[128];
  // Ticks at round values (0, 0.2, 0.4 ...), where thresholds usually sit: fifths of the range put them at
  // -0.08, 0.16, 0.39, and the 0.20 threshold on no tick.
  double step = 2.0;
  for (const double s : {1.0, 0.5, 0.25, 0.2, 0.1, 0.05, 0.02, 0.01}) {
    if ((hi - lo) / s > 8.0) break;
    step = s;
  }
  for (double value = std::ceil(lo / step - 1e-9) * step; value <= hi + 1e-9; value += step) {
    const int x = x_of(value);
    cv::line(img, {x, top + ph}, {x, top + ph + 5}, black, 1);
    std::snprintf(buf, sizeof(buf), "%.2f", std::abs(value) < 1e-9 ? 0.0 : value);
    cv::putText(img, buf, {x - 15, top + ph + 20}, cv::FONT_HERSHEY_SIMPLEX, 0.4, black, 1, cv::LINE_AA);
  }
  std::snprintf(buf, sizeof(buf), "%lld", static_cast<long long>(max_count));
  cv::putText(img, buf, {5, top + 10}, cv::FONT_HERSHEY_SIMPLEX, 0.4, black, 1, cv::LINE_AA);
  cv::putText(img, "0", {5, top + ph}, cv::FONT_HERSHEY_SIMPLEX, 0.4, black, 1, cv::LINE_AA);
  cv::putText(img, measurement + " (OD)", {left + pw / 2 - 100, o.height - 10}, cv::FONT_HERSHEY_SIMPLEX,
              0.45, black, 1, cv::LINE_AA);
  std::snprintf(buf, sizeof(buf), "%s: %zu cells", measurement.c_str(), v.size());
  cv::putText(img, buf, {left, 22}, cv::FONT_HERSHEY_SIMPLEX, 0.55, black, 1, cv::LINE_AA);
  const char* labels[] = {"1+", "2+", "3+"};
  for (std::size_t k = 0; k < thresholds.size(); ++k) {
    const int x = x_of(thresholds[k]);
    for (int y = top; y < top + ph; y += 8) cv::line(img, {x, y}, {x, std::min(y + 4, top + ph)}, black, 2);
    std::snprintf(buf, sizeof(buf), "%s %.2f",
                  thresholds.size() == 1 ? "Positive" : labels[std::min<std::size_t>(k, 2)], thresholds[k]);
    // On a white box: over the tallest bars the label was unreadable.
    const cv::Point at(x + 4, top + 14 + 16 * static_cast<int>(k));
    int baseline = 0;
    const cv::Size text = cv::getTextSize(buf, cv::FONT_HERSHEY_SIMPLEX, 0.45, 1, &baseline);
    cv::rectangle(img, cv::Rect(at.x - 1, at.y - text.height - 2, text.width + 2, text.height + baseline + 3),
                  cv::Scalar::all(255), cv::FILLED);
    cv::putText(img, buf, at, cv::FONT_HERSHEY_SIMPLEX, 0.45, black, 1, cv::LINE_AA);
  }
  return img;
}

void write_png_atomic(const std::filesystem::path& path, const cv::Mat& rgb) { save_png(path, rgb); }

}  // namespace ihc
