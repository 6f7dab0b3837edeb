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

// The join of a scores table and a clinical table, named as the batch and the user name them.
Cohort cohort_of(const std::string& scores, const std::string& clinical, const CohortOptions& o = options()) {
  return build_cohort(parse_csv_table(scores, "summary.csv"), parse_csv_table(clinical, "clinical.csv"),
                      nullptr, o);
}

std::string error_of(const std::string& scores, const std::string& clinical, const CohortOptions& o) {
  try {
    cohort_of(scores, clinical, o);
  } catch (const std::runtime_error& e) {  // CsvError from the tables, CohortError from the join
    return e.what();
  }
  return "";
}

constexpr const char* kScores =
    "Image,IxP score,Status\n"
    "P1,10,ok\nP2,20,ok\nP3,30,ok\nP4,40,ok\nP5,,no tissue found\nP9,50,ok\n";

TEST(Cohort, JoinsGroupsAndListsEveryExclusion) {
  const char* clinical =
      "patient_id,os_months,os_event\n"
      "P1,10,1\nP2,20,0\nP3,30,1\nP4,40,1\nP5,50,0\nP6,60,1\n";
  const auto c = cohort_of(kScores, clinical);
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

// A few ids among many that differ only in case or by an extension were left out without a word (17
// patients analysed, 9 excluded, exit 0): they stay excluded, ids being matched exactly, but are named.
TEST(Cohort, IdsThatDifferOnlyInCaseOrExtensionAreExcludedWithTheNearId) {
  const char* clinical =
      "patient_id,os_months,os_event\n"
      "P1,10,1\nP2,20,0\nP3,30,1\np4,40,1\nP9.svs,50,0\nP7,60,1\n";
  const auto c = cohort_of(kScores, clinical);
  EXPECT_EQ(c.patients.size(), 3u);
  EXPECT_EQ(c.near_misses, 4);
  std::vector<std::string> reasons;
  for (const auto& e : c.exclusions) reasons.push_back(e.source + " " + e.id + ": " + e.reason);
  const std::string exact = ": ids must match exactly, case and extension included)";
  EXPECT_EQ(
      reasons,
      (std::vector<std::string>{
          "scores P4: patient 'P4' not in the clinical file (clinical.csv has 'p4'" + exact,
          "scores P5: patient 'P5' not in the clinical file",
          "scores P9: patient 'P9' not in the clinical file (clinical.csv has 'P9.svs'" + exact,
          "clinical p4: no scored slide (summary.csv has 'P4'" + exact,
          "clinical P9.svs: no scored slide (summary.csv has 'P9'" + exact, "clinical P7: no scored slide"}));
}

// Only a slide or image extension comes off an id: "P1.2" (a second slide, in a scheme with dots) joined
// patient P1 without a word; "P3.svs" (QuPath's image name) and "P4.ome.tif" still join P3 and P4.
TEST(Cohort, OnlyAFileExtensionComesOffAnId) {
  const char* scores = "Image,IxP score\nP1,10\nP1.2,99\nP2,20\nP3.svs,30\nP4.ome.tif,40\n";
  const char* clinical = "patient_id,os_months,os_event\nP1,10,1\nP2,20,0\nP3,30,1\nP4,40,1\n";
  const auto c = cohort_of(scores, clinical);
  ASSERT_EQ(c.patients.size(), 4u);
  for (const auto& p : c.patients) EXPECT_EQ(p.slides.size(), 1u) << p.id;
  ASSERT_EQ(c.exclusions.size(), 1u);
  EXPECT_EQ(c.exclusions[0].id, "P1.2");
  EXPECT_EQ(c.exclusions[0].reason, "patient 'P1.2' not in the clinical file");
}

TEST(Cohort, SlidesOfAnotherStainAreLeftOutUnlessKept) {
  // The batch scores an H&E slide (its Status says so); its "DAB" is eosin and haematoxylin crosstalk.
  const char* scores =
      "Image,IxP score,Status\n"
      "P1,10,ok\nP2,20,ok\nP3,150,\"ok; looks like H&E, not H-DAB (check the stain)\"\nP4,40,ok; reviewed\n";
  const char* clinical = "patient_id,os_months,os_event\nP1,10,1\nP2,20,0\nP3,30,1\nP4,40,1\n";
  const auto c = cohort_of(scores, clinical);
  ASSERT_EQ(c.patients.size(), 3u);
  ASSERT_EQ(c.exclusions.size(), 2u);
  EXPECT_EQ(c.exclusions[0].id, "P3");
  EXPECT_EQ(c.exclusions[0].line, 4);
  EXPECT_EQ(c.exclusions[0].reason,
            "Status: ok; looks like H&E, not H-DAB (check the stain): its DAB scores measure another stain "
            "(--keep-other-stains to analyse it)");
  EXPECT_EQ(c.exclusions[1].reason, "no scored slide");
  CohortOptions keep = options();
  keep.keep_other_stains = true;
  EXPECT_EQ(cohort_of(scores, clinical, keep).patients.size(), 4u);
}

// When nothing is left to analyse, the error gives the reason the slides were left out, not an empty one.
TEST(Cohort, AllSlidesOfAnotherStainNameTheStainInTheError) {
  const char* clinical = "patient_id,os_months,os_event\nP1,10,1\nP2,20,0\n";
  const std::string he = "\"ok; looks like H&E, not H-DAB (check the stain)\"";
  EXPECT_EQ(
      error_of("Image,IxP score,Status\nP1,150," + he + "\nP2,120," + he + "\n", clinical, options()),
      "no patient has both a score and clinical data: all 2 slides of patients in clinical.csv look like "
      "another stain than H-DAB (first: summary.csv line 2 (P1): Status: ok; looks like H&E, not H-DAB "
      "(check the stain): its DAB scores measure another stain (--keep-other-stains to analyse it))");
  EXPECT_EQ(
      error_of("Image,IxP score,Status\nP1,150," + he + "\nP2,,FAILED: open\n", clinical, options()),
      "no patient has both a score and clinical data: none of the 2 slides of patients in clinical.csv "
      "has a IxP score (first: summary.csv line 3 (P2): no IxP score (Status: FAILED: open)); 1 of them "
      "look like another stain than H-DAB (--keep-other-stains to analyse them)");
}

TEST(Cohort, ARegionOfRegionsCsvIsAnalysedByName) {
  const char* regions =
      "Image,Region,IxP score,Status\n"
      "P1,Tumour,10,ok\nP1,Stroma,1,ok\nP2,Tumour,20,ok\nP2,Stroma,2,ok\nP3,Tumour,30,ok\n";
  const char* clinical = "patient_id,os_months,os_event\nP1,10,1\nP2,20,0\nP3,30,1\n";
  EXPECT_EQ(error_of(regions, clinical, options()),
            "summary.csv: one row per image and region: choose the region to analyse with --region (Tumour, "
            "Stroma)");
  CohortOptions o = options();
  o.region = "Tumour";
  auto c = cohort_of(regions, clinical, o);
  ASSERT_EQ(c.patients.size(), 3u);
  EXPECT_DOUBLE_EQ(c.patients[1].score, 20.0);
  o.region = "Stroma";
  c = cohort_of(regions, clinical, o);
  ASSERT_EQ(c.patients.size(), 2u);  // P3 has no stroma row, which its exclusion says
  EXPECT_DOUBLE_EQ(c.patients[1].score, 2.0);
  ASSERT_GE(c.exclusions.size(), 1u);
  EXPECT_EQ(c.exclusions[0].id, "P3");
  EXPECT_EQ(c.exclusions[0].line, 6);
  EXPECT_EQ(c.exclusions[0].reason, "no row of region 'Stroma' (its regions: Tumour)");
  o.region = "Margin";
  EXPECT_EQ(error_of(regions, clinical, o),
            "summary.csv: no row of region 'Margin' (regions: Tumour, Stroma)");
  EXPECT_EQ(
      error_of(kScores, clinical, o),
      "summary.csv: --region Margin given, but the file has no Region column (regions.csv of a --roi run "
      "has one)");
}

TEST(Cohort, TheStatsTablesColumnNamesAreReadAsTheirQuPathNames) {
  // summary_stats.csv: "image", "ixp_score", "status" for summary.csv's "Image", "IxP score", "Status".
  const char* stats = "image,ixp_score,status\nP1,10,ok\nP2,20,ok\nP3,,no tissue found\n";
  const char* clinical = "patient_id,os_months,os_event\nP1,10,1\nP2,20,0\nP3,30,1\n";
  const auto c = build_cohort(parse_csv_table(stats, "summary_stats.csv"),
                              parse_csv_table(clinical, "clinical.csv"), nullptr, options());
  ASSERT_EQ(c.patients.size(), 2u);
  EXPECT_EQ(c.exclusions[0].reason, "no IxP score (Status: no tissue found)");
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

// pandas writes a 0/1 column that has a missing value as 1.0/0.0; the codes are the same numbers.
TEST(Cohort, EventCodesCompareAsNumbers) {
  const char* clinical = "patient_id,os_months,os_event\nP1,10,1.0\nP2,20,0.0\nP3,30,1\nP4,40,0\n";
  const auto c =
      build_cohort(parse_csv_table(kScores, "s"), parse_csv_table(clinical, "c"), nullptr, options());
  ASSERT_EQ(c.patients.size(), 4u);
  EXPECT_EQ(c.patients[0].event, 1);
  EXPECT_EQ(c.patients[1].event, 0);
  EXPECT_EQ(c.patients[2].event, 1);
  EXPECT_EQ(c.patients[3].event, 0);
  EXPECT_EQ(error_of(kScores, "patient_id,os_months,os_event\nP1,10,1.5\n", options()),
            "clinical.csv: refused, 1 problem:\n  line 2 (P1): os_event '1.5' is neither '1' (event) nor '0' "
            "(censored)");
  // One code for both would read every patient as one of them.
  auto o = options();
  o.censored_value = "1";
  EXPECT_EQ(error_of(kScores, clinical, o),
            "--event-value and --censored-value are the same ('1'): an event and a censored follow-up need "
            "different codes");
  o.censored_value = "1.0";
  EXPECT_EQ(error_of(kScores, clinical, o),
            "--event-value and --censored-value are the same ('1' and '1.0'): an event and a censored "
            "follow-up need different codes");
}

// strtod reads "0x10" as 16 and "infinity" as a number: a time is a decimal number or refused.
TEST(Cohort, ATimeInHexadecimalOrInfiniteIsNotANumber) {
  const char* clinical =
      "patient_id,os_months,os_event\nP1,0x10,1\nP2,inf,0\nP3,+-3,1\nP4,1e1,1\nP5,+2.5,0\nP6,.5,0\n";
  EXPECT_EQ(error_of(kScores, clinical, options()),
            "clinical.csv: refused, 3 problems:\n"
            "  line 2 (P1): os_months '0x10' is not a number\n"
            "  line 3 (P2): os_months 'inf' is not a number\n"
            "  line 4 (P3): os_months '+-3' is not a number");
  const auto c = build_cohort(parse_csv_table(kScores, "s"),
                              parse_csv_table("patient_id,os_months,os_event\nP1,1e1,1\nP2,+2.5,0\nP3,.5,1\n"
                                              "P4, 7 ,0\n",
                                              "c"),
                              nullptr, options());
  ASSERT_EQ(c.patients.size(), 4u);
  EXPECT_DOUBLE_EQ(c.patients[0].time, 10);
  EXPECT_DOUBLE_EQ(c.patients[1].time, 2.5);
  EXPECT_DOUBLE_EQ(c.patients[2].time, 0.5);
  EXPECT_DOUBLE_EQ(c.patients[3].time, 7);
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

// Two summary.csv files concatenated: one image scored twice must not become one patient with the median of
// two scorings, nor the repeated header a slide called 'Image'.
TEST(Cohort, RefusesAScoresFileWithARepeatedImageOrHeaderLine) {
  const char* concatenated = "Image,IxP score,Status\nP1,10,ok\nP2,20,ok\nImage,IxP score,Status\nP1,12,ok\n";
  EXPECT_EQ(error_of(concatenated, "patient_id,os_months,os_event\nP1,10,1\nP2,20,0\n", options()),
            "summary.csv: refused, 2 problems (one row per image; were two files concatenated?):\n"
            "  line 4: a repeated header line\n"
            "  line 5 (P1): image repeated (first on line 2)");
}

TEST(Cohort, RefusesARepeatedColumnNameInAnyInputFile) {
  EXPECT_EQ(error_of(kScores, "patient_id,os_months,os_event,os_months\nP1,10,1,12\n", options()),
            "clinical.csv: repeated column 'os_months' (columns 2 and 4): each column name must appear once; "
            "rename or delete the copies");
  EXPECT_EQ(error_of("Image,IxP score,Image,IxP score,IxP score\nP1,1,P1,2,3\n",
                     "patient_id,os_months,os_event\nP1,10,1\n", options()),
            "summary.csv: repeated column 'Image' (columns 1 and 3), 'IxP score' (columns 2, 4 and 5): each "
            "column name must appear once; rename or delete the copies");
}

TEST(Cohort, ASlideMapMayNameImagesWithTheirExtension) {
  const char* scores = "Image,IxP score\nA1,10\nA2,30\nB1,5\nX,7\n";
  const CsvTable map =
      parse_csv_table("Image,patient_id\nA1.png,A\nA2.png,A\nB1.tif,B\nX.png,A\nX.tif,B\n", "m");
  const char* clinical = "patient_id,os_months,os_event\nA,12,1\nB,24,0\n";
  const auto c = build_cohort(parse_csv_table(scores, "s"), parse_csv_table(clinical, "c"), &map, options());
  ASSERT_EQ(c.patients.size(), 2u);
  EXPECT_EQ(c.patients[0].slides, (std::vector<std::string>{"A1", "A2"}));
  EXPECT_EQ(c.patients[1].slides, (std::vector<std::string>{"B1"}));
  ASSERT_EQ(c.exclusions.size(), 1u);
  EXPECT_EQ(
      c.exclusions[0].reason,
      "slide map entries X.png -> A (line 5), X.tif -> B (line 6) match it and name different patients");
}

// A map naming one slide twice, once with its extension and once without (or as the same image id), for two
// patients: the bare id used to win silently, PT-001 counted for 002 and patient 001 lost a slide.
TEST(Cohort, ASlideTheMapGivesTwoPatientsIsExcludedWhicheverWayItIsNamed) {
  const char* clinical = "patient_id,os_months,os_event\n001,12,1\n002,24,0\n";
  const auto run = [&](const std::string& scores, const std::string& map) {
    const CsvTable m = parse_csv_table(map, "slides.csv");
    return build_cohort(parse_csv_table(scores, "s"), parse_csv_table(clinical, "c"), &m, options());
  };
  for (const std::string map : {"Image,patient_id\nPT-001.png,001\nPT-001,002\nPT-002,002\n",
                                "Image,patient_id\nPT-001,002\nPT-002,002\nPT-001.png,001\n"}) {
    const auto c = run("Image,IxP score\nPT-001,10\nPT-002,20\n", map);
    ASSERT_EQ(c.patients.size(), 1u) << map;
    EXPECT_EQ(c.patients[0].id, "002");
    EXPECT_EQ(c.patients[0].slides, (std::vector<std::string>{"PT-002"}));
    ASSERT_EQ(c.exclusions.size(), 2u) << map;
    EXPECT_EQ(c.exclusions[0].id, "PT-001");
    EXPECT_EQ(c.exclusions[0].line, 2);
    EXPECT_EQ(c.exclusions[1].id, "001");
    EXPECT_EQ(c.exclusions[1].reason, "no scored slide");
  }
  EXPECT_EQ(
      run("Image,IxP score\nPT-001,10\nPT-002,20\n",
          "Image,patient_id\nPT-001.png,001\nPT-001,002\nPT-002,002\n")
          .exclusions[0]
          .reason,
      "slide map entries PT-001.png -> 001 (line 2), PT-001 -> 002 (line 3) match it and name different "
      "patients");
  // A scores file listing file names: "PT-001.svs" is the slide of both the map's PT-001 and PT-001.png.
  auto c = run("Image,IxP score\nPT-001.svs,10\nPT-002,20\n",
               "Image,patient_id\nPT-001.png,001\nPT-001,002\nPT-002,002\n");
  ASSERT_EQ(c.exclusions.size(), 2u);
  EXPECT_EQ(
      c.exclusions[0].reason,
      "slide map entries PT-001.png -> 001 (line 2), PT-001 -> 002 (line 3) match it and name different "
      "patients");
  // Entries that agree are one slide of one patient; the same line twice too.
  c = run("Image,IxP score\nPT-001,10\nPT-002,20\n",
          "Image,patient_id\nPT-001.png,001\nPT-001,001\nPT-002,002\nPT-002,002\n");
  ASSERT_EQ(c.patients.size(), 2u);
  EXPECT_EQ(c.patients[0].slides, (std::vector<std::string>{"PT-001"}));
  EXPECT_TRUE(c.exclusions.empty());
  // The same image written alike for two patients is refused, as before.
  try {
    run("Image,IxP score\nPT-001,10\n", "Image,patient_id\nPT-001,001\nPT-001,002\n");
    ADD_FAILURE() << "an image mapped to two patients was accepted";
  } catch (const CohortError& e) {
    EXPECT_EQ(std::string(e.what()), "slides.csv:3: image 'PT-001' is mapped to both '001' and '002'");
  }
}

TEST(Cohort, WhenNothingMatchesTheErrorShowsIdsFromEachSide) {
  const char* scores = "Image,IxP score\nki67_nuclear,10\nmixed_field,20\n";
  const char* clinical = "patient_id,os_months,os_event\n001,1,1\n002,2,0\n003,3,1\n004,4,1\n";
  EXPECT_EQ(
      error_of(scores, clinical, options()),
      "no patient has both a score and clinical data; no slide matched a patient: compare the ids "
      "(leading zeros, extensions, spelling):\n"
      "  summary.csv Image: ki67_nuclear, mixed_field\n"
      "  clinical.csv patient_id: 001, 002, 003, ...\n"
      "  without --slide-map each Image is the patient id: a slide map (columns Image, patient_id) names "
      "the patient of each");
  const CsvTable map = parse_csv_table("Image,patient_id\nki67.png,1\nmixed.png,2\n", "slides.csv");
  try {
    build_cohort(parse_csv_table(scores, "summary.csv"), parse_csv_table(clinical, "clinical.csv"), &map,
                 options());
    ADD_FAILURE() << "nothing matched, yet no error";
  } catch (const CohortError& e) {
    EXPECT_EQ(std::string(e.what()),
              "no patient has both a score and clinical data; no slide matched a patient: compare the ids "
              "(leading zeros, extensions, spelling):\n"
              "  summary.csv Image: ki67_nuclear, mixed_field\n"
              "  slides.csv Image: ki67.png, mixed.png\n"
              "  slides.csv patient_id: 1, 2\n"
              "  clinical.csv patient_id: 001, 002, 003, ...");
  }
}

// ki67 is graded with one threshold: IxP, Allred, IRS, Intensity and H-score are undefined (empty) except
// where no cell is positive, so the default --score would analyse a biased few.
TEST(Cohort, AScoreUndefinedForMostSlidesIsRefusedAndExplainedForTheRest) {
  const char* clinical = "patient_id,os_months,os_event\nP1,10,1\nP2,20,0\nP3,30,1\nP4,40,1\nP5,50,0\n";
  const char* most =
      "Image,Num Detections,Positive %,IxP score,Status\n"
      "P1,100,20,,ok\nP2,90,30,,ok\nP3,80,0,0,ok\nP4,70,10,,\"ok; scored in pixels (no mpp, give --mpp)\"\n";
  const std::string single_threshold =
      "single-threshold grading (as for ki67) has no intensity grades, so H-score, Intensity score, IxP "
      "score, Allred score and IRS are empty; use --score \"Positive %\"";
  EXPECT_EQ(error_of(most, clinical, options()),
            "summary.csv: IxP score is empty for 3 of 4 slides whose Status is ok, as it is undefined for "
            "them: " +
                single_threshold);
  EXPECT_EQ(error_of("Image,IxP score,Status\nP1,,ok\nP2,,ok\n", clinical, options()),
            "summary.csv: IxP score is empty for all 2 slides whose Status is ok, as it is undefined for "
            "them: " +
                single_threshold);
  // A minority is excluded with the reason; a slide without cells is not counted against the score.
  const char* few =
      "Image,Num Detections,Positive %,IxP score,Status\n"
      "P1,100,20,,ok\nP2,90,30,40,ok\nP3,80,0,0,ok\nP4,0,,,ok\nP5,70,10,20,ok\n";
  const auto c = build_cohort(parse_csv_table(few, "s"), parse_csv_table(clinical, "c"), nullptr, options());
  ASSERT_EQ(c.patients.size(), 3u);
  EXPECT_EQ(c.exclusions[0].id, "P1");
  EXPECT_EQ(c.exclusions[0].reason,
            "no IxP score (Status: ok): undefined for this slide: " + single_threshold);
  EXPECT_EQ(c.exclusions[1].id, "P4");
  EXPECT_EQ(c.exclusions[1].reason,
            "no IxP score (Status: ok): undefined for this slide: the slide has no "
            "detected cells");
  auto o = options();
  o.score_column = "Positive %";
  EXPECT_EQ(
      build_cohort(parse_csv_table(most, "s"), parse_csv_table(clinical, "c"), nullptr, o).patients.size(),
      4u);
}

constexpr const char* kCoxScores =
    "Image,IxP score\nP1,10\nP2,20\nP3,30\nP4,40\nP5,50\nP6,60\nP7,70\nP8,80\n";
constexpr const char* kCoxClinical =
    "patient_id,os_months,os_event,age,mir\n"
    "P1,5,1,50,1\nP2,8,0,50,1\nP3,12,1,50,1\nP4,20,1,50,1\nP5,3,1,50,1\nP6,15,0,50,1\nP7,9,1,50,1\n"
    "P8,30,0,50,1\n";

// "a covariate has missing values" named neither the covariate nor the patients.
TEST(Cohort, ACovariateWithMissingValuesIsNamedWithThePatientsWithoutOne) {
  auto o = options();
  o.covariates = {"mir", "age"};
  const char* clinical =
      "patient_id,os_months,os_event,age,mir\n"
      "P1,5,1,50,1\nP2,8,0,,1\nP3,12,1,51,1\nP4,20,1,,2\nP5,3,1,,1\nP6,15,0,,3\nP7,9,1,53,1\nP8,30,0,54,1\n";
  const auto st = analyse_cohort(
      build_cohort(parse_csv_table(kCoxScores, "s"), parse_csv_table(clinical, "c"), nullptr, o), o);
  EXPECT_FALSE(st.has_cox);
  EXPECT_EQ(
      st.cox_note,
      "covariate age has no value for 4 patients (P2, P4, P5, ...); Cox model not fitted (fill them in or "
      "leave the covariate out)");
}

// R's coxph gives NA for a constant covariate and still fits the group; the HR must not become NaN.
TEST(Cohort, ACovariateWithoutVariationIsLeftOutOfTheCoxModel) {
  auto o = options();
  const auto c =
      build_cohort(parse_csv_table(kCoxScores, "s"), parse_csv_table(kCoxClinical, "c"), nullptr, o);
  const auto without = analyse_cohort(c, o);
  o.covariates = {"age"};
  const auto with = analyse_cohort(
      build_cohort(parse_csv_table(kCoxScores, "s"), parse_csv_table(kCoxClinical, "c"), nullptr, o), o);
  ASSERT_TRUE(with.has_cox) << with.cox_note;
  ASSERT_EQ(with.cox.terms.size(), 1u);
  EXPECT_EQ(with.cox.terms[0].name, "High vs Low");
  EXPECT_DOUBLE_EQ(with.cox.terms[0].hr, without.cox.terms[0].hr);
  EXPECT_DOUBLE_EQ(with.cox.terms[0].hr_lower, without.cox.terms[0].hr_lower);
  EXPECT_DOUBLE_EQ(with.cox.terms[0].p, without.cox.terms[0].p);
  EXPECT_TRUE(std::isfinite(with.cox.terms[0].hr_upper));
  ASSERT_EQ(with.cox_left_out.size(), 1u);
  EXPECT_EQ(with.cox_left_out[0].term, "age");
  EXPECT_EQ(with.cox_left_out[0].reason, "no variation: 50 for every patient analysed");
}

TEST(Cohort, ACorrelationThatCannotBeComputedSaysWhy) {
  auto o = options();
  o.correlate = {"mir", "os_months"};
  auto st = analyse_cohort(
      build_cohort(parse_csv_table(kCoxScores, "s"), parse_csv_table(kCoxClinical, "c"), nullptr, o), o);
  ASSERT_EQ(st.correlations.size(), 2u);
  EXPECT_EQ(st.correlations[0].note, "not computable: mir is constant (1)");
  EXPECT_TRUE(std::isnan(st.correlations[0].pearson.r));
  EXPECT_TRUE(st.correlations[1].note.empty());
  EXPECT_TRUE(std::isfinite(st.correlations[1].spearman.p));
  const char* two = "patient_id,os_months,os_event,mir,os_months2\nP1,5,1,1,1\nP2,8,0,2,2\n";
  o.correlate = {"mir"};
  st = analyse_cohort(build_cohort(parse_csv_table(kCoxScores, "s"), parse_csv_table(two, "c"), nullptr, o),
                      o);
  EXPECT_EQ(st.correlations[0].note,
            "not computable: needs at least 3 patients with a score and mir (2 have both)");
  const char* same_score = "Image,IxP score\nP1,10\nP2,10\nP3,10\n";
  const char* three = "patient_id,os_months,os_event,mir\nP1,5,1,1\nP2,8,0,2\nP3,9,1,3\n";
  st = analyse_cohort(build_cohort(parse_csv_table(same_score, "s"), parse_csv_table(three, "c"), nullptr, o),
                      o);
  EXPECT_EQ(st.correlations[0].note, "not computable: IxP score is constant (10)");
}

TEST(Cohort, WithEveryPatientCensoredTheTestsSayThereAreNoEvents) {
  const char* clinical =
      "patient_id,os_months,os_event\nP1,5,0\nP2,8,0\nP3,12,0\nP4,20,0\nP5,3,0\nP6,15,0\nP7,9,0\nP8,30,0\n";
  const auto o = options();
  const auto st = analyse_cohort(
      build_cohort(parse_csv_table(kCoxScores, "s"), parse_csv_table(clinical, "c"), nullptr, o), o);
  EXPECT_EQ(st.log_rank.df, 0);
  EXPECT_TRUE(std::isnan(st.log_rank.p));
  EXPECT_EQ(st.log_rank.note, "not computable: no events in any group");
  EXPECT_FALSE(st.has_cox);
  EXPECT_EQ(st.cox_note, "no events at all: the Cox model cannot be fitted");
}

TEST(Cohort, QuantileType7MatchesR) {
  // R: quantile(c(1, 2, 4, 8, 16), 0.3) = 2.4
  EXPECT_DOUBLE_EQ(quantile_type7({16, 1, 8, 2, 4}, 0.3), 2.4);
  EXPECT_DOUBLE_EQ(quantile_type7({5}, 0.5), 5.0);
}

// What the analysis rests on is said: a slide of a handful of cells (ihcscore's Status "ok; only 1 cell"; a
// probe's 1-cell tile made a Low patient), and a cutoff on the papers' 0-3 scale given for the 0-300 IxP
// score (1.5 put every patient with a positive cell in High).
TEST(Cohort, FewCellSlidesAndAHundredfoldSmallCutoffAreNoted) {
  const char* scores = "Image,IxP score,Status\nP1,0,ok; only 1 cell\nP2,120,ok\nP3,200,ok\nP4,40,ok\n";
  const char* clinical = "patient_id,os_months,os_event\nP1,10,1\nP2,20,0\nP3,30,1\nP4,40,1\n";
  CohortOptions o = options();
  o.cutoff = "1.5";
  const Cohort c = cohort_of(scores, clinical, o);
  EXPECT_EQ(c.notes,
            (std::vector<std::string>{
                "1 slide analysed rests on fewer than 20 cells (first: P1 (line 2): ok; only 1 cell): a "
                "percentage of so few cells is hardly a score; leave such slides out of the scores file "
                "or the slide map",
                "cutoff 1.5 on IxP score, whose scale is 0-300 (here up to 200): a cutoff on the "
                "papers' 0-3 scale (intensity x positive rate) is 100 times larger here (150)"}));
  o.cutoff = "150";
  EXPECT_EQ(cohort_of("Image,IxP score,Status\nP2,120,ok\nP3,200,ok\nP4,40,ok\n", clinical, o).notes,
            std::vector<std::string>());
}

}  // namespace
}  // namespace ihc
