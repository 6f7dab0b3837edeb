#include "models/cohort.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace ihc {
namespace {

CohortOptions options() {
  CohortOptions o;
  o.id_column = "patient_id";
  o.time_column = "os_months";
  o.event_column = "os_event";
  o.score_column = "IxP score";
  o.times = {12, 36, 60};
  return o;
}

std::string error_of(const std::string& scores, const std::string& clinical, const CohortOptions& o) {
  try {
    build_cohort(parse_csv_table(scores, "summary.csv"), parse_csv_table(clinical, "clinical.csv"), nullptr,
                 o);
  } catch (const CohortError& e) {
    return e.what();
  }
  return "";
}

const char* kScores =
    "Image,IxP score,Status\n"
    "P1,10,ok\nP2,20,ok\nP3,30,ok\nP4,40,ok\nP5,,no tissue found\nP9,50,ok\n";

TEST(Cohort, JoinsGroupsAndListsEveryExclusion) {
  const char* clinical =
      "patient_id,os_months,os_event\n"
      "P1,10,1\nP2,20,0\nP3,30,1\nP4,40,1\nP5,50,0\nP6,60,1\n";
  const auto c = build_cohort(parse_csv_table(kScores, "summary.csv"),
                              parse_csv_table(clinical, "clinical.csv"), nullptr, options());
  ASSERT_EQ(c.patients.size(), 4u);
  // Median of 10, 20, 30, 40 is 25: >= 25 is High.
  ASSERT_EQ(c.cutoffs.size(), 1u);
  EXPECT_DOUBLE_EQ(c.cutoffs[0], 25.0);
  EXPECT_EQ(c.group_names[c.patients[0].group], "Low");
  EXPECT_EQ(c.group_names[c.patients[2].group], "High");
  ASSERT_EQ(c.exclusions.size(), 4u);
  EXPECT_EQ(c.exclusions[0].id, "P5");
  EXPECT_EQ(c.exclusions[0].reason, "no IxP score (Status: no tissue found)");
  EXPECT_EQ(c.exclusions[0].line, 6);
  EXPECT_EQ(c.exclusions[1].id, "P9");
  EXPECT_EQ(c.exclusions[1].reason, "patient 'P9' not in the clinical file");
  EXPECT_EQ(c.exclusions[2].id, "P5");
  EXPECT_EQ(c.exclusions[2].source, "clinical");
  EXPECT_EQ(c.exclusions[2].reason, "no scored slide");
  EXPECT_EQ(c.exclusions[3].id, "P6");
}

TEST(Cohort, SeveralSlidesPerPatientAreAggregatedThroughTheSlideMap) {
  const char* scores = "Image,IxP score\nA1.svs,10\nA2.svs,30\nA3.svs,80\nB1.svs,5\n";
  const char* map = "Image,patient_id\nA1,A\nA2,A\nA3,A\nB1,B\n";
  const char* clinical = "patient_id,os_months,os_event\nA,12,1\nB,24,0\n";
  const CsvTable map_table = parse_csv_table(map, "slides.csv");
  auto o = options();
  auto c = build_cohort(parse_csv_table(scores, "s"), parse_csv_table(clinical, "c"), &map_table, o);
  ASSERT_EQ(c.patients.size(), 2u);
  EXPECT_DOUBLE_EQ(c.patients[0].score, 30.0);  // median of 10, 30, 80
  EXPECT_EQ(c.patients[0].slides.size(), 3u);
  o.aggregate = "mean";
  c = build_cohort(parse_csv_table(scores, "s"), parse_csv_table(clinical, "c"), &map_table, o);
  EXPECT_DOUBLE_EQ(c.patients[0].score, 40.0);
  o.aggregate = "max";
  c = build_cohort(parse_csv_table(scores, "s"), parse_csv_table(clinical, "c"), &map_table, o);
  EXPECT_DOUBLE_EQ(c.patients[0].score, 80.0);
}

TEST(Cohort, RefusesABadClinicalFileNamingEveryOffendingRow) {
  const char* clinical =
      "patient_id,os_months,os_event\n"
      "P1,10,1\n"
      "P2,abc,0\n"
      "P3,-4,1\n"
      "P4,40,2\n"
      "P1,12,0\n"
      "P6,60,\n";
  EXPECT_EQ(error_of(kScores, clinical, options()),
            "clinical.csv: refused, 5 problems:\n"
            "  line 3 (P2): os_months 'abc' is not a number\n"
            "  line 4 (P3): os_months -4 is negative\n"
            "  line 5 (P4): os_event '2' is neither '1' (event) nor '0' (censored)\n"
            "  line 6 (P1): duplicate patient_id (first on line 2)\n"
            "  line 7 (P6): os_event '' is neither '1' (event) nor '0' (censored)");
}

TEST(Cohort, MissingColumnsAreNamedWithTheColumnsThatExist) {
  EXPECT_EQ(error_of(kScores, "id,os_months,os_event\nP1,1,1\n", options()),
            "clinical.csv: no patient id column 'patient_id' (columns: id, os_months, os_event)");
  auto o = options();
  o.score_column = "H-score";
  EXPECT_EQ(error_of(kScores, "patient_id,os_months,os_event\nP1,1,1\n", o),
            "summary.csv: no score column 'H-score' (columns: Image, IxP score, Status)");
  EXPECT_EQ(error_of(kScores, "patient_id,os_months,os_event\nP1,1\n", options()),
            "clinical.csv:2: 2 fields, the header has 3");
}

// Excel in a locale whose decimal mark is a comma saves "CSV" with semicolons; SPSS and R write tabs. The
// same patients must give the same cohort whichever was saved.
TEST(Cohort, SemicolonTablesWithDecimalCommasAndTabTablesReadAsCommaTables) {
  const char* comma =
      "patient_id,os_months,os_event,age\nP1,10.5,1,60\nP2,20,0,55\nP3,30.25,1,-1.5\n"
      "P4,40,1,50\n";
  const char* semicolon =
      "patient_id;os_months;os_event;age\r\nP1;10,5;1;60\r\nP2;20;0;55\r\n"
      "P3;30,25;1;-1,5\r\nP4;40;1;50\r\n";
  const char* tab =
      "patient_id\tos_months\tos_event\tage\nP1\t10.5\t1\t60\nP2\t20\t0\t55\n"
      "P3\t30.25\t1\t-1.5\nP4\t40\t1\t50\n";
  auto o = options();
  o.covariates = {"age"};
  const auto reference = build_cohort(parse_csv_table(kScores, "s"), parse_csv_table(comma, "c"), nullptr, o);
  ASSERT_EQ(reference.patients.size(), 4u);
  for (const char* text : {semicolon, tab}) {
    const CsvTable clinical = parse_csv_table(text, "c");
    EXPECT_EQ(clinical.header.size(), 4u) << text;
    const auto c = build_cohort(parse_csv_table(kScores, "s"), clinical, nullptr, o);
    ASSERT_EQ(c.patients.size(), 4u) << text;
    for (std::size_t i = 0; i < 4; ++i) {
      EXPECT_EQ(c.patients[i].id, reference.patients[i].id);
      EXPECT_DOUBLE_EQ(c.patients[i].time, reference.patients[i].time) << text;
      EXPECT_DOUBLE_EQ(c.patients[i].values.at("age"), reference.patients[i].values.at("age")) << text;
    }
  }
  EXPECT_EQ(parse_csv_table(semicolon, "c").delimiter, ';');
  EXPECT_EQ(parse_csv_table(tab, "c").delimiter, '\t');
  // Only whole numbers with one comma change: text and the header stay as written.
  const CsvTable t = parse_csv_table("id;note;x,y\nP1;a;1,2\n", "c");
  EXPECT_EQ(t.header, (std::vector<std::string>{"id;note;x", "y"}));  // a comma header stays a comma table
  EXPECT_EQ(t.rows[0], (std::vector<std::string>{"P1;a;1", "2"}));
  const CsvTable u = parse_csv_table("id;note\n\"P1;2\";a,b\n3,5;,5\n", "c");
  EXPECT_EQ(u.rows[0], (std::vector<std::string>{"P1;2", "a,b"}));
  EXPECT_EQ(u.rows[1], (std::vector<std::string>{"3.5", ",5"}));
}

TEST(Cohort, AWorkbookOrUtf16TextIsRefusedWithWhatToSaveInstead) {
  auto error = [](const std::string& text) {
    try {
      parse_csv_table(text, "clinical.xlsx");
    } catch (const CohortError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(
      error(std::string("PK\x03\x04\x14\x00\x06\x00", 8)),
      "clinical.xlsx: an Excel workbook, not CSV text: save the sheet as CSV (File > Save As > CSV UTF-8)");
  EXPECT_EQ(
      error("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"),
      "clinical.xlsx: an Excel workbook, not CSV text: save the sheet as CSV (File > Save As > CSV UTF-8)");
  EXPECT_EQ(error(std::string("\xFF\xFEp\0a\0", 6)),
            "clinical.xlsx: UTF-16 text (Excel's 'Unicode Text'): save it as CSV UTF-8");
}

TEST(Cohort, CensoredColumnCodingIsExplicit) {
  auto o = options();
  o.event_column.clear();
  o.censored_column = "censored";
  o.event_value = "0";
  o.censored_value = "1";
  const char* clinical = "patient_id,os_months,censored\nP1,10,1\nP2,20,0\nP3,30,0\nP4,40,1\n";
  const auto c = build_cohort(parse_csv_table(kScores, "s"), parse_csv_table(clinical, "c"), nullptr, o);
  EXPECT_EQ(c.patients[0].event, 0);
  EXPECT_EQ(c.patients[1].event, 1);
  EXPECT_EQ(
      error_of(kScores, "patient_id,os_months,censored\nP1,10,yes\n", o),
      "clinical.csv: refused, 1 problem:\n  line 2 (P1): censored 'yes' is neither '1' (censored) nor '0' "
      "(event)");
}

TEST(Cohort, CutoffRules) {
  const char* scores = "Image,IxP score\nP1,0\nP2,10\nP3,20\nP4,30\nP5,40\nP6,50\nP7,60\nP8,70\n";
  const char* clinical =
      "patient_id,os_months,os_event\nP1,5,1\nP2,6,1\nP3,7,0\nP4,8,1\nP5,9,1\nP6,10,0\nP7,11,1\nP8,12,1\n";
  auto o = options();
  o.cutoff = "quartiles";
  auto c = build_cohort(parse_csv_table(scores, "s"), parse_csv_table(clinical, "c"), nullptr, o);
  // R: quantile(c(0,10,...,70), c(.25,.5,.75)) = 17.5 35 52.5
  ASSERT_EQ(c.cutoffs.size(), 3u);
  EXPECT_DOUBLE_EQ(c.cutoffs[0], 17.5);
  EXPECT_DOUBLE_EQ(c.cutoffs[1], 35.0);
  EXPECT_DOUBLE_EQ(c.cutoffs[2], 52.5);
  EXPECT_EQ(c.patients[1].group, 0);
  EXPECT_EQ(c.patients[2].group, 1);
  EXPECT_EQ(c.patients[7].group, 3);
  o.cutoff = "40";
  c = build_cohort(parse_csv_table(scores, "s"), parse_csv_table(clinical, "c"), nullptr, o);
  EXPECT_EQ(c.patients[3].group, 0);
  EXPECT_EQ(c.patients[4].group, 1);  // 40 >= 40 is High
  o.cutoff = "optimal";
  EXPECT_EQ(error_of(scores, clinical, o),
            "cutoff 'optimal' is data-driven and optimistic; pass --optimal-cutoff to allow it");
  o.allow_optimal = true;
  c = build_cohort(parse_csv_table(scores, "s"), parse_csv_table(clinical, "c"), nullptr, o);
  EXPECT_TRUE(c.optimistic);
  EXPECT_NE(c.optimistic_note.find("OPTIMISTIC"), std::string::npos);
  o.cutoff = "high";
  EXPECT_EQ(error_of(scores, clinical, o),
            "cutoff 'high' is not median, tertiles, quartiles, optimal or a number");
}

TEST(Cohort, AnalysisHandlesAGroupWithoutEventsAndASinglePatient) {
  const char* scores = "Image,IxP score\nP1,0\nP2,10\nP3,100\nP4,200\n";
  const char* clinical = "patient_id,os_months,os_event\nP1,5,1\nP2,6,1\nP3,70,0\nP4,80,0\n";
  auto o = options();
  auto c = build_cohort(parse_csv_table(scores, "s"), parse_csv_table(clinical, "c"), nullptr, o);
  auto st = analyse_cohort(c, o);
  ASSERT_EQ(st.groups.size(), 2u);
  EXPECT_EQ(st.groups[1].events, 0);
  EXPECT_EQ(st.log_rank.df, 1);
  EXPECT_FALSE(st.has_cox);
  EXPECT_EQ(st.cox_note, "a group has no events: the hazard ratio is infinite (not estimable)");
  // Hand-checked survival at 12 months: Low group both died by month 6.
  EXPECT_DOUBLE_EQ(st.groups[0].at_times[0].surv, 0.0);
  EXPECT_DOUBLE_EQ(st.groups[1].at_times[0].surv, 1.0);

  const char* one_scores = "Image,IxP score\nP1,10\n";
  const char* one_clinical = "patient_id,os_months,os_event\nP1,5,1\n";
  c = build_cohort(parse_csv_table(one_scores, "s"), parse_csv_table(one_clinical, "c"), nullptr, o);
  st = analyse_cohort(c, o);
  EXPECT_EQ(st.groups[1].n, 1);  // 10 >= median 10
  // The empty Low group has no median survival (it read 0 months in stats.json).
  EXPECT_EQ(st.groups[0].n, 0);
  EXPECT_TRUE(std::isnan(st.groups[0].km.median));
  EXPECT_TRUE(std::isnan(st.groups[0].km.median_lower));
  EXPECT_TRUE(std::isnan(st.groups[0].km.median_upper));
  EXPECT_TRUE(std::isnan(st.log_rank.p));
  EXPECT_EQ(st.cox_note, "only one group has patients");
}

TEST(Cohort, QuantileType7MatchesR) {
  // R: quantile(c(1, 2, 4, 8, 16), 0.3) = 2.4
  EXPECT_DOUBLE_EQ(quantile_type7({16, 1, 8, 2, 4}, 0.3), 2.4);
  EXPECT_DOUBLE_EQ(quantile_type7({5}, 0.5), 5.0);
}

}  // namespace
}  // namespace ihc
