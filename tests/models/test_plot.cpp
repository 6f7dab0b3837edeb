#include "models/plot.hpp"

#include <gtest/gtest.h>

namespace ihc {
namespace {

struct Fixture {
  Cohort cohort;
  CohortStats stats;
  Fixture() {
    const char* scores = "Image,IxP score\nP1,0\nP2,10\nP3,100\nP4,200\nP5,150\nP6,5\n";
    const char* clinical =
        "patient_id,os_months,os_event,mir\nP1,5,1,3\nP2,16,1,2.5\nP3,70,0,1\nP4,80,1,0.5\nP5,30,0,1.2\nP6,"
        "12,0,2\n";
    CohortOptions o;
    o.event_column = "os_event";
    o.correlate = {"mir"};
    o.times = {12, 36};
    cohort = build_cohort(parse_csv_table(scores, "s"), parse_csv_table(clinical, "c"), nullptr, o);
    stats = analyse_cohort(cohort, o);
  }
};

int count(const std::string& s, const std::string& what) {
  int n = 0;
  for (auto pos = s.find(what); pos != std::string::npos; pos = s.find(what, pos + 1)) ++n;
  return n;
}

TEST(Plot, KmSvgHasOneCurvePerGroupThePValueAndTheRiskTable) {
  Fixture f;
  plot::SvgCanvas svg(plot::kKmWidth, plot::km_height(f.cohort));
  plot::draw_km(svg, f.cohort, f.stats, {"Survival by IxP score", "Time (months)"});
  const std::string s = svg.str();
  EXPECT_EQ(count(s, "<polyline"), 2);
  EXPECT_NE(s.find("Log-rank " + plot::format_p(f.stats.log_rank.p)), std::string::npos);
  EXPECT_NE(s.find(">Number at risk<"), std::string::npos);
  EXPECT_NE(s.find("Low  (n=3, events 2)"), std::string::npos);
  EXPECT_NE(s.find("stroke=\"#2850C8\""), std::string::npos);  // Low blue
  EXPECT_NE(s.find("stroke=\"#D22828\""), std::string::npos);  // High red
}

// A log-rank test that cannot be computed says why on the plot, in the text report's words; it said only
// "p = n/a".
TEST(Plot, KmSaysWhyTheLogRankIsNotComputable) {
  const char* scores = "Image,IxP score\nP1,0\nP2,10\nP3,100\nP4,200\n";
  const char* clinical = "patient_id,os_months,os_event\nP1,5,0\nP2,8,0\nP3,12,0\nP4,20,0\n";
  CohortOptions o;
  o.event_column = "os_event";
  const Cohort cohort =
      build_cohort(parse_csv_table(scores, "s"), parse_csv_table(clinical, "c"), nullptr, o);
  const CohortStats stats = analyse_cohort(cohort, o);
  ASSERT_EQ(stats.log_rank.note, "not computable: no events in any group");
  plot::SvgCanvas svg(plot::kKmWidth, plot::km_height(cohort));
  plot::draw_km(svg, cohort, stats, {"t", "x"});
  const std::string s = svg.str();
  EXPECT_NE(s.find(">Log-rank not computable: no events in any group<"), std::string::npos) << s;
  EXPECT_EQ(s.find("n/a"), std::string::npos) << s;
  // The raster draws the same label inside the figure.
  plot::RasterCanvas png(plot::kKmWidth, plot::km_height(cohort), 1.0);
  plot::draw_km(png, cohort, stats, {"t", "x"});
}

TEST(Plot, KmRasterShowsBothGroupColours) {
  Fixture f;
  plot::RasterCanvas png(plot::kKmWidth, plot::km_height(f.cohort), 1.0);
  plot::draw_km(png, f.cohort, f.stats, {"t", "x"});
  int blue = 0, red = 0;
  png.image().forEach<cv::Vec3b>([&](const cv::Vec3b& p, const int*) {
    if (p[0] == 40 && p[1] == 80 && p[2] == 200) ++blue;
    if (p[0] == 210 && p[1] == 40 && p[2] == 40) ++red;
  });
  EXPECT_GT(blue, 100);
  EXPECT_GT(red, 100);
}

TEST(Plot, FormatP) {
  EXPECT_EQ(plot::format_p(0.0213), "p = 0.021");
  EXPECT_EQ(plot::format_p(0.0004), "p < 0.001");
  EXPECT_EQ(plot::format_p(std::nan("")), "p = n/a");
}

TEST(Plot, ScatterReportsBothCorrelations) {
  Fixture f;
  plot::SvgCanvas svg(plot::kScatterWidth, plot::kScatterHeight);
  plot::draw_scatter(svg, f.cohort, f.stats.correlations[0], "IxP score");
  const std::string s = svg.str();
  EXPECT_EQ(count(s, "<circle"), 6);
  EXPECT_NE(s.find("Pearson r = "), std::string::npos);
  EXPECT_NE(s.find("Spearman rho = "), std::string::npos);
}

}  // namespace
}  // namespace ihc
