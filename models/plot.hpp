#pragma once
// Small plotting layer for reports: one drawing description, two back-ends (SVG text and an RGB raster for
// PNG), so km.svg and km.png are the same figure. Coordinates are in a logical 1000-wide space.
#include <cstdint>
#include <memory>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "models/cohort.hpp"

namespace ihc::plot {

struct Rgb {
  std::uint8_t r = 0, g = 0, b = 0;
};
enum class Anchor { Left, Center, Right };

class Canvas {
 public:
  virtual ~Canvas() = default;
  virtual void line(double x1, double y1, double x2, double y2, Rgb color, double width) = 0;
  virtual void polyline(const std::vector<cv::Point2d>& points, Rgb color, double width) = 0;
  virtual void circle(double cx, double cy, double radius, Rgb color, bool filled) = 0;
  // (x, y) is the text baseline at the anchor.
  virtual void text(double x, double y, const std::string& text, double size, Rgb color, Anchor anchor,
                    bool bold = false) = 0;
};

class SvgCanvas : public Canvas {
 public:
  SvgCanvas(double width, double height);
  void line(double x1, double y1, double x2, double y2, Rgb color, double width) override;
  void polyline(const std::vector<cv::Point2d>& points, Rgb color, double width) override;
  void circle(double cx, double cy, double radius, Rgb color, bool filled) override;
  void text(double x, double y, const std::string& text, double size, Rgb color, Anchor anchor,
            bool bold) override;
  std::string str() const;

 private:
  double width_, height_;
  std::string body_;
};

// Draws with OpenCV at `scale` device pixels per logical unit (anti-aliased, white background).
class RasterCanvas : public Canvas {
 public:
  RasterCanvas(double width, double height, double scale);
  void line(double x1, double y1, double x2, double y2, Rgb color, double width) override;
  void polyline(const std::vector<cv::Point2d>& points, Rgb color, double width) override;
  void circle(double cx, double cy, double radius, Rgb color, bool filled) override;
  void text(double x, double y, const std::string& text, double size, Rgb color, Anchor anchor,
            bool bold) override;
  const cv::Mat& image() const { return image_; }  // CV_8UC3, RGB

 private:
  double scale_;
  cv::Mat image_;
};

// Figure sizes in logical units.
inline constexpr double kKmWidth = 1000;
double km_height(const Cohort& cohort);
inline constexpr double kScatterWidth = 800;
inline constexpr double kScatterHeight = 640;

struct KmLabels {
  std::string title;       // e.g. "Overall survival by IxP score (median cutoff)"
  std::string time_label;  // e.g. "Time (months)"
};

// Kaplan-Meier curves per group with censor ticks, 95 % CI not drawn (kept in stats.json), log-rank p (or why
// it is not computable: "Log-rank not computable: no events in any group") and hazard ratio on the plot, and
// the number-at-risk table under it.
void draw_km(Canvas& canvas, const Cohort& cohort, const CohortStats& stats, const KmLabels& labels);
void draw_scatter(Canvas& canvas, const Cohort& cohort, const CorrelationResult& corr,
                  const std::string& x_label);

// Group colours: Low/first group blue, High/last red (QuPath's negative and 3+ hues), others between.
Rgb group_color(int group, int groups);
// "p = 0.021", "p < 0.001".
std::string format_p(double p);

}  // namespace ihc::plot
