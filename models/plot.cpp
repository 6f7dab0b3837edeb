#include "models/plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <opencv2/imgproc.hpp>

namespace ihc::plot {
namespace {

std::string hex(Rgb c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02X%02X%02X", c.r, c.g, c.b);
  return buf;
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += ch;
    }
  }
  return out;
}

// Tick step of 1, 2 or 5 x 10^k giving about `target` intervals.
double nice_step(double range, int target) {
  if (range <= 0) return 1;
  const double raw = range / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * mag >= raw) return m * mag;
  }
  return 10 * mag;
}

std::string tick_text(double v) {
  char buf[32];
  if (std::fabs(v - std::round(v)) < 1e-9) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%g", v);
  }
  return buf;
}

constexpr Rgb kBlack{0, 0, 0};
constexpr Rgb kGrey{120, 120, 120};
constexpr Rgb kLight{225, 225, 225};
constexpr Rgb kWarn{190, 0, 0};

}  // namespace

SvgCanvas::SvgCanvas(double width, double height) : width_(width), height_(height) {}

void SvgCanvas::line(double x1, double y1, double x2, double y2, Rgb color, double width) {
  body_ += "<line x1=\"" + num(x1) + "\" y1=\"" + num(y1) + "\" x2=\"" + num(x2) + "\" y2=\"" + num(y2) +
           "\" stroke=\"" + hex(color) + "\" stroke-width=\"" + num(width) + "\"/>\n";
}

void SvgCanvas::polyline(const std::vector<cv::Point2d>& points, Rgb color, double width) {
  body_ +=
      "<polyline fill=\"none\" stroke=\"" + hex(color) + "\" stroke-width=\"" + num(width) + "\" points=\"";
  for (const auto& p : points) body_ += num(p.x) + "," + num(p.y) + " ";
  body_ += "\"/>\n";
}

void SvgCanvas::circle(double cx, double cy, double radius, Rgb color, bool filled) {
  body_ += "<circle cx=\"" + num(cx) + "\" cy=\"" + num(cy) + "\" r=\"" + num(radius) + "\" " +
           (filled ? "fill=\"" + hex(color) + "\" fill-opacity=\"0.75\""
                   : "fill=\"none\" stroke=\"" + hex(color) + "\"") +
           "/>\n";
}

void SvgCanvas::text(double x, double y, const std::string& text, double size, Rgb color, Anchor anchor,
                     bool bold) {
  const char* a = anchor == Anchor::Left ? "start" : anchor == Anchor::Center ? "middle" : "end";
  body_ += "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" font-size=\"" + num(size) + "\" text-anchor=\"" +
           a + "\" fill=\"" + hex(color) + "\"" + (bold ? " font-weight=\"bold\"" : "") + ">" +
           xml_escape(text) + "</text>\n";
}

std::string SvgCanvas::str() const {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
         num(width_) + "\" height=\"" + num(height_) + "\" viewBox=\"0 0 " + num(width_) + " " +
         num(height_) +
         "\" font-family=\"Helvetica, Arial, sans-serif\">\n<rect width=\"100%\" height=\"100%\" "
         "fill=\"white\"/>\n" +
         body_ + "</svg>\n";
}

RasterCanvas::RasterCanvas(double width, double height, double scale)
    : scale_(scale),
      image_(static_cast<int>(std::lround(height * scale)), static_cast<int>(std::lround(width * scale)),
             CV_8UC3, cv::Scalar(255, 255, 255)) {}

namespace {
cv::Scalar sc(Rgb c) { return cv::Scalar(c.r, c.g, c.b); }  // the raster is RGB
}  // namespace

void RasterCanvas::line(double x1, double y1, double x2, double y2, Rgb color, double width) {
  constexpr int kShift = 4;  // sub-pixel precision
  const double f = scale_ * (1 << kShift);
  cv::line(image_, cv::Point(static_cast<int>(x1 * f), static_cast<int>(y1 * f)),
           cv::Point(static_cast<int>(x2 * f), static_cast<int>(y2 * f)), sc(color),
           std::max(1, static_cast<int>(std::lround(width * scale_))), cv::LINE_AA, kShift);
}

void RasterCanvas::polyline(const std::vector<cv::Point2d>& points, Rgb color, double width) {
  for (std::size_t i = 1; i < points.size(); ++i)
    line(points[i - 1].x, points[i - 1].y, points[i].x, points[i].y, color, width);
}

void RasterCanvas::circle(double cx, double cy, double radius, Rgb color, bool filled) {
  cv::circle(image_, cv::Point(static_cast<int>(cx * scale_), static_cast<int>(cy * scale_)),
             std::max(1, static_cast<int>(radius * scale_)), sc(color), filled ? cv::FILLED : 1, cv::LINE_AA);
}

void RasterCanvas::text(double x, double y, const std::string& text, double size, Rgb color, Anchor anchor,
                        bool bold) {
  // Hershey simplex: cap height is about 22 px at scale 1; `size` is the font size (cap height ~ 0.72 size).
  const double font_scale = size * 0.72 * scale_ / 22.0;
  const int thickness = std::max(1, static_cast<int>(std::lround(font_scale * (bold ? 2.4 : 1.5))));
  int base = 0;
  const cv::Size ts = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, font_scale, thickness, &base);
  double px = x * scale_;
  if (anchor == Anchor::Center) px -= ts.width / 2.0;
  if (anchor == Anchor::Right) px -= ts.width;
  cv::putText(image_, text, cv::Point(static_cast<int>(px), static_cast<int>(y * scale_)),
              cv::FONT_HERSHEY_SIMPLEX, font_scale, sc(color), thickness, cv::LINE_AA);
}

Rgb group_color(int group, int groups) {
  static const Rgb kPalette2[] = {{40, 80, 200}, {210, 40, 40}};
  static const Rgb kPalette[] = {{40, 80, 200}, {20, 150, 120}, {230, 140, 20}, {210, 40, 40}};
  if (groups <= 2) return kPalette2[std::clamp(group, 0, 1)];
  if (groups == 3) {
    static const Rgb k3[] = {{40, 80, 200}, {230, 140, 20}, {210, 40, 40}};
    return k3[std::clamp(group, 0, 2)];
  }
  return kPalette[std::clamp(group, 0, 3)];
}

std::string format_p(double p) {
  if (std::isnan(p)) return "p = n/a";
  if (p < 0.001) return "p < 0.001";
  char buf[32];
  std::snprintf(buf, sizeof buf, "p = %.3f", p);
  return buf;
}

double km_height(const Cohort& cohort) {
  return 640 + 34.0 * static_cast<double>(cohort.group_names.size()) + (cohort.optimistic ? 30 : 0);
}

void draw_km(Canvas& c, const Cohort& cohort, const CohortStats& stats, const KmLabels& labels) {
  const double left = 170, right = 960, top = 90, bottom = 490;
  const int k = static_cast<int>(stats.groups.size());
  double t_max = 0;
  for (const auto& p : cohort.patients) t_max = std::max(t_max, p.time);
  if (t_max <= 0) t_max = 1;
  const double step = nice_step(t_max, 6);
  const double x_max = std::ceil(t_max / step) * step;
  auto px = [&](double t) { return left + (right - left) * t / x_max; };
  auto py = [&](double s) { return bottom - (bottom - top) * s; };

  c.text((left + right) / 2, 40, labels.title, 24, kBlack, Anchor::Center, true);
  for (int i = 0; i <= 4; ++i) {
    const double s = i / 4.0;
    c.line(left, py(s), right, py(s), kLight, 1);
    c.line(left - 6, py(s), left, py(s), kBlack, 1.5);
    c.text(left - 12, py(s) + 6, tick_text(s), 17, kBlack, Anchor::Right);
  }
  std::vector<double> ticks;
  for (double t = 0; t <= x_max + 1e-9; t += step) ticks.push_back(t);
  for (double t : ticks) {
    c.line(px(t), bottom, px(t), bottom + 6, kBlack, 1.5);
    c.text(px(t), bottom + 26, tick_text(t), 17, kBlack, Anchor::Center);
  }
  c.line(left, bottom, right, bottom, kBlack, 1.5);
  c.line(left, top, left, bottom, kBlack, 1.5);
  c.text((left + right) / 2, bottom + 56, labels.time_label, 19, kBlack, Anchor::Center);
  c.text(left, top - 14, "Survival probability", 18, kBlack, Anchor::Left);

  for (int g = 0; g < k; ++g) {
    const auto& gs = stats.groups[g];
    if (gs.n == 0) continue;
    const Rgb col = group_color(g, k);
    std::vector<cv::Point2d> pts{{px(0), py(1)}};
    double s = 1;
    for (const auto& st : gs.km.steps) {
      if (st.n_event > 0) {
        pts.emplace_back(px(st.time), py(s));
        s = st.surv;
        pts.emplace_back(px(st.time), py(s));
      }
      if (st.n_censor > 0) c.line(px(st.time), py(st.surv) - 7, px(st.time), py(st.surv) + 7, col, 2);
    }
    pts.emplace_back(px(gs.km.steps.back().time), py(s));
    c.polyline(pts, col, 2.6);
  }
  // Legend, top right.
  for (int g = 0; g < k; ++g) {
    const auto& gs = stats.groups[g];
    const double y = top + 24 + 26 * g;
    c.line(right - 300, y - 6, right - 268, y - 6, group_color(g, k), 3);
    c.text(right - 260, y,
           gs.name + "  (n=" + std::to_string(gs.n) + ", events " + std::to_string(gs.events) + ")", 16,
           kBlack, Anchor::Left);
  }
  // Test results, bottom left inside the axes.
  double ty = bottom - 20 - (stats.has_cox ? 24 : 0);
  // Not computable: the reason, in the text report's words ("log-rank not computable: no events in any
  // group"), a size smaller so that the longest reason stays inside the axes.
  if (stats.log_rank.note.empty()) {
    c.text(left + 14, ty, "Log-rank " + format_p(stats.log_rank.p), 18, kBlack, Anchor::Left, true);
  } else {
    c.text(left + 14, ty, "Log-rank " + stats.log_rank.note, 16, kBlack, Anchor::Left, true);
  }
  if (stats.has_cox && !stats.cox.terms.empty()) {
    const auto& t = stats.cox.terms.front();
    char buf[160];
    std::snprintf(buf, sizeof buf, "HR %s %.2f (95%% CI %.2f-%.2f)", t.name.c_str(), t.hr, t.hr_lower,
                  t.hr_upper);
    // Terms after the group indicators are covariates: the HR shown is then adjusted for them, which a
    // figure taken into a paper must say (a probe's 6.37 read as the unadjusted 2.94's label).
    std::string label = buf;
    const std::size_t group_terms = stats.groups.empty() ? 0 : stats.groups.size() - 1;
    for (std::size_t i = group_terms; i < stats.cox.terms.size(); ++i)
      label += (i == group_terms ? ", adjusted for " : ", ") + stats.cox.terms[i].name;
    c.text(left + 14, ty + 24, label, 17, kBlack, Anchor::Left);
  }
  // Number at risk.
  double y = bottom + 100;
  c.text(20, y, "Number at risk", 17, kBlack, Anchor::Left, true);
  for (int g = 0; g < k; ++g) {
    y += 30;
    const auto& gs = stats.groups[g];
    c.text(left - 34, y, gs.name, 16, group_color(g, k), Anchor::Right, true);
    for (double t : ticks) {
      int n = 0;
      if (gs.n > 0) n = stats::survival_at(gs.km, t).n_risk;
      if (gs.n > 0 && t > gs.km.steps.back().time) n = 0;
      if (t == 0) n = gs.n;
      c.text(px(t), y, std::to_string(n), 16, kBlack, Anchor::Center);
    }
  }
  if (cohort.optimistic) {
    c.text(20, y + 36, "Optimistic cutpoint: chosen on these data; p value and HR are biased.", 16, kWarn,
           Anchor::Left, true);
  }
}

void draw_scatter(Canvas& c, const Cohort& cohort, const CorrelationResult& corr,
                  const std::string& x_label) {
  const double left = 110, right = 770, top = 70, bottom = 540;
  std::vector<double> xs, ys;
  for (const auto& p : cohort.patients) {
    const double v = p.values.at(corr.column);
    if (std::isnan(v)) continue;
    xs.push_back(p.score);
    ys.push_back(v);
  }
  c.text((left + right) / 2, 38, corr.column + " vs " + x_label, 22, kBlack, Anchor::Center, true);
  if (xs.empty()) return;
  auto [xmin_it, xmax_it] = std::minmax_element(xs.begin(), xs.end());
  auto [ymin_it, ymax_it] = std::minmax_element(ys.begin(), ys.end());
  const double xstep = nice_step(*xmax_it - *xmin_it, 6), ystep = nice_step(*ymax_it - *ymin_it, 6);
  const double x0 = std::floor(*xmin_it / xstep) * xstep,
               x1 = std::max(x0 + xstep, std::ceil(*xmax_it / xstep) * xstep);
  const double y0 = std::floor(*ymin_it / ystep) * ystep,
               y1 = std::max(y0 + ystep, std::ceil(*ymax_it / ystep) * ystep);
  auto px = [&](double v) { return left + (right - left) * (v - x0) / (x1 - x0); };
  auto py = [&](double v) { return bottom - (bottom - top) * (v - y0) / (y1 - y0); };
  for (double v = x0; v <= x1 + 1e-9; v += xstep) {
    c.line(px(v), bottom, px(v), bottom + 6, kBlack, 1.5);
    c.text(px(v), bottom + 26, tick_text(v), 16, kBlack, Anchor::Center);
  }
  for (double v = y0; v <= y1 + 1e-9; v += ystep) {
    c.line(left, py(v), right, py(v), kLight, 1);
    c.text(left - 10, py(v) + 6, tick_text(v), 16, kBlack, Anchor::Right);
  }
  c.line(left, bottom, right, bottom, kBlack, 1.5);
  c.line(left, top, left, bottom, kBlack, 1.5);
  c.text((left + right) / 2, bottom + 56, x_label, 18, kBlack, Anchor::Center);
  c.text(left, top - 12, corr.column, 18, kBlack, Anchor::Left);
  for (std::size_t i = 0; i < xs.size(); ++i) c.circle(px(xs[i]), py(ys[i]), 5, {40, 80, 200}, true);
  // Least-squares line over the data range.
  double mx = 0, my = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    mx += xs[i];
    my += ys[i];
  }
  mx /= static_cast<double>(xs.size());
  my /= static_cast<double>(ys.size());
  double sxy = 0, sxx = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) * (xs[i] - mx);
  }
  if (sxx > 0) {
    const double slope = sxy / sxx;
    c.line(px(*xmin_it), py(my + slope * (*xmin_it - mx)), px(*xmax_it), py(my + slope * (*xmax_it - mx)),
           kGrey, 2);
  }
  char buf[200];
  std::snprintf(buf, sizeof buf, "Pearson r = %.3f (%s)   Spearman rho = %.3f (%s)   n = %d", corr.pearson.r,
                format_p(corr.pearson.p).c_str(), corr.spearman.r, format_p(corr.spearman.p).c_str(), corr.n);
  c.text((left + right) / 2, bottom + 86, buf, 16, kBlack, Anchor::Center);
}

}  // namespace ihc::plot
