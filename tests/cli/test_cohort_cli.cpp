// End to end: `ihcscore score` on the bundled sample images, then `ihcscore cohort` from that batch output
// folder to report.html, as a researcher would run them.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "models/cohort.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;

namespace ihc {
namespace {

void write(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

TEST(CohortCli, FromABatchOutputFolderToReportHtml) {
  const fs::path dir = test::temp_dir("cohort_cli_e2e");
  const fs::path samples = test::source_dir() / "samples";
  fs::create_directories(dir / "in");
  for (const char* name : {"dsg2_membrane.png", "ki67_nuclear.png", "mixed_field.png"}) {
    fs::create_symlink(samples / name, dir / "in" / name);
  }
  const auto score = test::run_program("ihcscore", {"score", "in", "-o", "out", "--preset", "dsg2"}, dir);
  ASSERT_EQ(score.status, 0) << score.err;
  const CsvTable summary = read_csv_table(dir / "out" / "summary.csv");
  ASSERT_EQ(summary.rows.size(), 3u);

  // Two slides of patient A, one of B; C has no slide; D's slide is not in the batch.
  write(dir / "slides.csv", "Image,patient_id\ndsg2_membrane,A\nmixed_field,A\nki67_nuclear,B\nmissing,D\n");
  write(dir / "clinical.csv",
        "patient_id,os_months,os_event,mir30a\nA,20,1,0.5\nB,60,0,2.0\nC,30,1,1.0\nD,12,0,1.5\n");
  const auto run = test::run_program(
      "ihcscore",
      {"cohort", "--scores", "out/summary.csv", "--clinical", "clinical.csv", "--slide-map", "slides.csv",
       "--id-column", "patient_id", "--time-column", "os_months", "--event-column", "os_event", "--score",
       "IxP score", "--correlate", "mir30a", "-o", "report"},
      dir);
  ASSERT_EQ(run.status, 0) << run.err;
  for (const char* f :
       {"cohort.csv", "groups.csv", "exclusions.csv", "stats.json", "km.png", "km.svg", "report.html"}) {
    EXPECT_TRUE(fs::exists(dir / "report" / f)) << f;
  }
  const CsvTable cohort = read_csv_table(dir / "report" / "cohort.csv");
  ASSERT_EQ(cohort.rows.size(), 2u);
  EXPECT_EQ(cohort.rows[0][0], "A");
  EXPECT_EQ(cohort.rows[0][cohort.column("n_slides")], "2");

  // A's score is the median (= mean of two) of its two slides' IxP scores in summary.csv.
  const int img = summary.column("Image"), ixp = summary.column("IxP score");
  double a = 0;
  for (const auto& row : summary.rows) {
    if (row[img] != "ki67_nuclear") a += std::stod(row[ixp]) / 2;
  }
  EXPECT_NEAR(std::stod(cohort.rows[0][cohort.column("score")]), a, 1e-9);

  const auto stats = nlohmann::json::parse(test::read_text(dir / "report" / "stats.json"));
  EXPECT_EQ(stats["n_patients"], 2);
  std::vector<std::string> excluded;
  for (const auto& e : stats["exclusions"])
    excluded.push_back(e["id"].get<std::string>() + ": " + e["reason"].get<std::string>());
  ASSERT_EQ(excluded.size(), 2u);
  EXPECT_EQ(excluded[0], "C: no scored slide");
  EXPECT_EQ(excluded[1], "D: no scored slide");
  const std::string html = test::read_text(dir / "report" / "report.html");
  EXPECT_NE(html.find("<img src=\"km.png\""), std::string::npos);
  EXPECT_NE(html.find("IxP score"), std::string::npos);
}

// `cohort` on dir's summary.csv and clinical.csv (event column os_event), its report asked in dir/report.
test::CommandResult refused_run(const fs::path& dir) {
  return test::run_program("ihcscore",
                           {"cohort", "--scores", "summary.csv", "--clinical", "clinical.csv",
                            "--event-column", "os_event", "-o", "report"},
                           dir);
}

TEST(CohortCli, RefusesABadClinicalFileAndWritesNothing) {
  const fs::path dir = test::temp_dir("cohort_cli_refuse");
  write(dir / "summary.csv", "Image,IxP score,Status\nP1,10,ok\nP2,20,ok\n");
  write(dir / "clinical.csv", "patient_id,os_months,os_event\nP1,10,dead\nP2,-1,0\n");
  const auto run = refused_run(dir);
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.err,
            "ihcscore cohort: clinical.csv: refused, 2 problems:\n"
            "  line 2 (P1): os_event 'dead' is neither '1' (event) nor '0' (censored)\n"
            "  line 3 (P2): os_months -1 is negative\n");
  EXPECT_FALSE(fs::exists(dir / "report"));
}

// What a user reads when a figure cannot be computed: the reason, never "nan" or "-1 df".
TEST(CohortCli, AConstantCovariateOrCorrelateAndNoEventsAreExplainedNotPrintedAsNan) {
  const fs::path dir = test::temp_dir("cohort_cli_not_computable");
  write(dir / "summary.csv",
        "Image,IxP score,Status\nP1,10,ok\nP2,20,ok\nP3,30,ok\nP4,40,ok\nP5,50,ok\nP6,60,ok\n");
  write(dir / "clinical.csv",
        "patient_id,os_months,os_event,age,mir\nP1,5,1,50,1\nP2,8,0,50,1\nP3,12,1,50,1\nP4,20,1,50,1\n"
        "P5,3,1,50,1\nP6,15,1,50,1\n");
  auto run =
      test::run_program("ihcscore",
                        {"cohort", "--scores", "summary.csv", "--clinical", "clinical.csv", "--event-column",
                         "os_event", "--covariate", "age", "--correlate", "mir", "-o", "report"},
                        dir);
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_EQ(run.out.find("nan"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("  Cox: age left out of the model (no variation: 50 for every patient analysed)\n"
                         "  Cox HR High vs Low "),
            std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("  mir: not computable: mir is constant (1), n 6\n"), std::string::npos) << run.out;
  auto stats = nlohmann::json::parse(test::read_text(dir / "report" / "stats.json"));
  EXPECT_EQ(stats["cox"]["terms"].size(), 1u);
  EXPECT_EQ(stats["cox"]["left_out"][0]["term"], "age");
  EXPECT_EQ(stats["correlations"][0]["note"], "not computable: mir is constant (1)");
  EXPECT_TRUE(stats["correlations"][0]["pearson"]["r"].is_null());
  std::string html = test::read_text(dir / "report" / "report.html");
  EXPECT_NE(html.find("Cox model: age left out (no variation: 50 for every patient analysed)"),
            std::string::npos);
  EXPECT_NE(html.find("not computable: mir is constant (1)"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir / "report" / "scatter.png"));                 // no r to draw
  const std::string km_alone = test::read_text(dir / "report" / "km.svg");  // age left out: not adjusted
  EXPECT_NE(km_alone.find("HR High vs Low "), std::string::npos);
  EXPECT_EQ(km_alone.find("adjusted"), std::string::npos);

  write(dir / "censored.csv", "patient_id,os_months,os_event\nP1,5,0\nP2,8,0\nP3,12,0\nP4,20,0\n");
  run = test::run_program("ihcscore",
                          {"cohort", "--scores", "summary.csv", "--clinical", "censored.csv",
                           "--event-column", "os_event", "-o", "censored"},
                          dir);
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_NE(run.out.find("  log-rank not computable: no events in any group\n"
                         "  Cox: no events at all: the Cox model cannot be fitted\n"),
            std::string::npos)
      << run.out;
  stats = nlohmann::json::parse(test::read_text(dir / "censored" / "stats.json"));
  EXPECT_TRUE(stats["log_rank"]["df"].is_null());
  EXPECT_TRUE(stats["log_rank"]["chisq"].is_null());
  EXPECT_EQ(stats["log_rank"]["note"], "not computable: no events in any group");
  html = test::read_text(dir / "censored" / "report.html");
  EXPECT_NE(html.find("<p>Log-rank: not computable: no events in any group</p>"), std::string::npos);
  EXPECT_EQ(html.find("-1 df"), std::string::npos);
  // The plot says why too, in the same words (it said "Log-rank p = n/a").
  const std::string km = test::read_text(dir / "censored" / "km.svg");
  EXPECT_NE(km.find(">Log-rank not computable: no events in any group<"), std::string::npos) << km;
  EXPECT_EQ(km.find("n/a"), std::string::npos);
}

// A column both correlated and in the Cox model was written twice (age,age): cohort itself refuses such a
// table, and R reads it as age and age.1.
TEST(CohortCli, AClinicalColumnUsedTwiceIsOneColumnOfCohortCsv) {
  const fs::path dir = test::temp_dir("cohort_cli_column_once");
  write(dir / "summary.csv",
        "Image,IxP score,Status\nP1,10,ok\nP2,20,ok\nP3,30,ok\nP4,40,ok\nP5,50,ok\nP6,60,ok\n");
  write(dir / "clinical.csv",
        "patient_id,os_months,os_event,age\nP1,5,1,50\nP2,8,0,61\nP3,12,1,45\nP4,20,1,70\nP5,3,1,58\n"
        "P6,15,1,66\n");
  const auto run =
      test::run_program("ihcscore",
                        {"cohort", "--scores", "summary.csv", "--clinical", "clinical.csv", "--event-column",
                         "os_event", "--correlate", "age", "--covariate", "age", "-o", "report"},
                        dir);
  ASSERT_EQ(run.status, 0) << run.err;
  const std::string csv = test::read_text(dir / "report" / "cohort.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "patient_id,score,group,time,event,n_slides,slides,age");
  EXPECT_EQ(csv.substr(csv.find('\n') + 1, csv.find('\n', csv.find('\n') + 1) - csv.find('\n') - 1),
            "P1,10,Low,5,1,1,P1,50");
}

TEST(CohortCli, AScoreUndefinedForEverySlideIsRefusedNotAnalysedAsNothing) {
  const fs::path dir = test::temp_dir("cohort_cli_undefined_score");
  write(dir / "summary.csv", "Image,Positive %,IxP score,Status\nP1,10,,ok\nP2,20,,ok\nP3,30,,ok\n");
  write(dir / "clinical.csv", "patient_id,os_months,os_event\nP1,5,1\nP2,8,0\nP3,12,1\n");
  const auto run = refused_run(dir);
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.err,
            "ihcscore cohort: summary.csv: IxP score is empty for all 3 slides whose Status is ok, as it is "
            "undefined for them: single-threshold grading (as for ki67) has no intensity grades, so H-score, "
            "Intensity score, IxP score, Allred score and IRS are empty; use --score \"Positive %\"\n");
  EXPECT_FALSE(fs::exists(dir / "report"));
}

// One code for both would read every patient as an event (or every one as censored): a usage error before
// any file is read.
TEST(CohortCli, TheSameCodeForEventAndCensoredIsAUsageError) {
  const fs::path dir = test::temp_dir("cohort_cli_same_codes");
  write(dir / "summary.csv", "Image,IxP score,Status\nP1,10,ok\nP2,20,ok\n");
  write(dir / "clinical.csv", "patient_id,os_months,os_event\nP1,10,0\nP2,20,0\n");
  auto run =
      test::run_program("ihcscore",
                        {"cohort", "--scores", "summary.csv", "--clinical", "clinical.csv", "--event-column",
                         "os_event", "--event-value", "0", "--censored-value", "0", "-o", "report"},
                        dir);
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.err,
            "ihcscore cohort: --event-value and --censored-value are the same ('0'): an event and a censored "
            "follow-up need different codes\n");
  EXPECT_FALSE(fs::exists(dir / "report"));
  // --censored-column: censored is 1 by default, so an event value of 1 is the same code.
  run = test::run_program("ihcscore",
                          {"cohort", "--scores", "missing.csv", "--clinical", "clinical.csv",
                           "--censored-column", "os_event", "--event-value", "1.0", "-o", "report"},
                          dir);
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(
      run.err,
      "ihcscore cohort: --event-value and --censored-value are the same ('1.0' and '1'): an event and a "
      "censored follow-up need different codes\n");
}

// A slide map giving one slide to two patients (PT-001.png -> 001 and PT-001 -> 002): the slide is listed in
// exclusions.csv with both entries; it went to 002 silently and patient 001 lost it.
TEST(CohortCli, ASlideMappedToTwoPatientsIsInExclusionsCsv) {
  const fs::path dir = test::temp_dir("cohort_cli_map_conflict");
  write(dir / "summary.csv", "Image,IxP score,Status\nPT-001,10,ok\nPT-002,20,ok\nPT-003,30,ok\n");
  write(dir / "slides.csv", "Image,patient_id\nPT-001.png,001\nPT-002,002\nPT-001,002\nPT-003,003\n");
  write(dir / "clinical.csv", "patient_id,os_months,os_event\n001,10,1\n002,20,0\n003,30,1\n");
  const auto run =
      test::run_program("ihcscore",
                        {"cohort", "--scores", "summary.csv", "--clinical", "clinical.csv", "--slide-map",
                         "slides.csv", "--event-column", "os_event", "-o", "report"},
                        dir);
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_EQ(
      test::read_text(dir / "report" / "exclusions.csv"),
      "source,id,line,reason\n"
      "scores,PT-001,2,\"slide map entries PT-001.png -> 001 (line 2), PT-001 -> 002 (line 4) match it and "
      "name different patients\"\n"
      "clinical,001,2,no scored slide\n");
  const CsvTable cohort = read_csv_table(dir / "report" / "cohort.csv");
  ASSERT_EQ(cohort.rows.size(), 2u);
  EXPECT_EQ(cohort.rows[0][cohort.column("slides")], "PT-002");
}

// Correlations drawn by an earlier run into the same report folder and not by this one: their plots go (they
// would pass for this run's), and nothing else in the folder does.
TEST(CohortCli, ARunIntoAnEarlierReportRemovesThePlotsItDoesNotDraw) {
  const fs::path dir = test::temp_dir("cohort_cli_rerun");
  write(dir / "summary.csv",
        "Image,IxP score,Status\nP1,10,ok\nP2,20,ok\nP3,30,ok\nP4,40,ok\nP5,50,ok\nP6,60,ok\n");
  write(dir / "clinical.csv",
        "patient_id,os_months,os_event,age,mir\nP1,5,1,50,1\nP2,8,0,61,3\nP3,12,1,45,2\nP4,20,1,70,5\n"
        "P5,3,1,52,4\nP6,15,1,66,6\n");
  auto cohort = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> args{"cohort",         "--scores", "summary.csv", "--clinical", "clinical.csv",
                                  "--event-column", "os_event", "-o",          "report"};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto run = test::run_program("ihcscore", args, dir);
    EXPECT_EQ(run.status, 0) << run.err;
  };
  cohort({"--correlate", "mir", "--correlate", "age"});
  ASSERT_TRUE(fs::exists(dir / "report" / "scatter.png"));
  ASSERT_TRUE(fs::exists(dir / "report" / "scatter_age.png"));
  for (const char* own : {"notes.png", "scatter_age.txt", "my_scatter.png", "scatter_age (old).png"})
    write(dir / "report" / own, "kept");
  cohort({"--correlate", "mir"});
  EXPECT_TRUE(fs::exists(dir / "report" / "scatter.png"));
  EXPECT_FALSE(fs::exists(dir / "report" / "scatter_age.png"));
  cohort({});
  EXPECT_FALSE(fs::exists(dir / "report" / "scatter.png"));
  for (const char* own : {"notes.png", "scatter_age.txt", "my_scatter.png", "scatter_age (old).png"})
    EXPECT_EQ(test::read_text(dir / "report" / own), "kept") << own;
  EXPECT_TRUE(fs::exists(dir / "report" / "km.png"));
}

// Tertiles and covariates have several Cox terms: only the first was printed.
TEST(CohortCli, EveryCoxTermIsPrinted) {
  const fs::path dir = test::temp_dir("cohort_cli_terms");
  write(dir / "summary.csv",
        "Image,IxP score,Status\nP1,10,ok\nP2,20,ok\nP3,30,ok\nP4,40,ok\nP5,50,ok\nP6,60,ok\nP7,70,ok\n"
        "P8,80,ok\nP9,90,ok\n");
  write(dir / "clinical.csv",
        "patient_id,os_months,os_event,age\nP1,5,1,50\nP2,8,0,61\nP3,12,1,45\nP4,20,1,70\nP5,3,1,52\n"
        "P6,15,1,66\nP7,9,1,58\nP8,30,0,49\nP9,11,1,63\n");
  const auto run =
      test::run_program("ihcscore",
                        {"cohort", "--scores", "summary.csv", "--clinical", "clinical.csv", "--event-column",
                         "os_event", "--cutoff", "tertiles", "--covariate", "age", "-o", "report"},
                        dir);
  ASSERT_EQ(run.status, 0) << run.err;
  for (const char* term : {"  Cox HR T2 vs T1 (low) ", "  Cox HR T3 (high) vs T1 (low) ", "  Cox HR age "})
    EXPECT_NE(run.out.find(term), std::string::npos) << term << "\n" << run.out;
  // The plotted HR is the adjusted one, and says so (a probe read 6.37 adjusted where 2.94 was not).
  const std::string km = test::read_text(dir / "report" / "km.svg");
  EXPECT_NE(km.find("HR T2 vs T1 (low) "), std::string::npos) << km;
  EXPECT_NE(km.find("), adjusted for age<"), std::string::npos) << km;
}

// A run that failed half way left its cohort.csv beside an earlier run's stats.json and plots: a report of
// two cutoffs. And Excel's plain "CSV" on Windows (Windows-1252) stopped cohort with nlohmann's "invalid
// UTF-8 byte", half written.
TEST(CohortCli, AWindows1252TableIsReadAndARunThatFailsHalfWayLeavesNoMixedReport) {
  const fs::path dir = test::temp_dir("cohort_cli_half");
  write(dir / "summary.csv",
        "Image,IxP score,Status\nP1,10,ok\nP2,20,ok\nP3,30,ok\nP4,40,ok\nP5,50,ok\nM\xC3\xBCller,60,ok\n");
  write(dir / "clinical.csv",
        "patient_id;os_months;os_event;Gr\xF6\xDF"
        "e\nP1;5;1;1,5\nP2;8;0;1,6\nP3;12;1;1,7\nP4;20;1;1,8\n"
        "P5;3;1;1,7\nM\xFCller;15;1;1,9\n");
  auto cohort = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> args{"cohort",         "--scores", "summary.csv", "--clinical", "clinical.csv",
                                  "--event-column", "os_event", "-o",          "report"};
    args.insert(args.end(), extra.begin(), extra.end());
    return test::run_program("ihcscore", args, dir);
  };
  auto r = cohort({"--correlate",
                   "Gr\xC3\xB6\xC3\x9F"
                   "e"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("6 patients, 0 excluded"), std::string::npos) << r.out;
  EXPECT_NE(test::read_text(dir / "report/cohort.csv").find("\nM\xC3\xBCller,60,"), std::string::npos);

  fs::remove(dir / "report/km.png");
  fs::create_directories(dir / "report/km.png/in_the_way");  // the plot cannot be written
  r = cohort({"--cutoff", "25"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("km.png: cannot rename temporary file into place"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("(the report in this folder was removed: part of it was written)\n"),
            std::string::npos)
      << r.err;
  for (const char* name :
       {"cohort.csv", "groups.csv", "exclusions.csv", "stats.json", "km.svg", "report.html", "scatter.png"}) {
    EXPECT_FALSE(fs::exists(dir / "report" / name)) << name;
  }
}

// `--scores OUT` (the batch folder, as `ihcscore reviewed OUT` takes it) reads OUT/summary.csv; it was
// refused as an unreadable file.
TEST(CohortCli, ABatchFolderGivenAsScoresReadsItsSummary) {
  const fs::path dir = test::temp_dir("cohort_cli_scores_folder");
  fs::create_directories(dir / "out");
  write(dir / "out" / "summary.csv", "Image,IxP score,Status\nP1,10,ok\nP2,20,ok\nP3,30,ok\n");
  write(dir / "clinical.csv", "patient_id,os_months,os_event\nP1,5,1\nP2,8,0\nP3,12,1\n");
  auto cohort = [&](const std::string& scores, const std::string& report) {
    return test::run_program("ihcscore",
                             {"cohort", "--scores", scores, "--clinical", "clinical.csv", "--event-column",
                              "os_event", "-o", report},
                             dir);
  };
  auto run = cohort("out/summary.csv", "by_file");
  ASSERT_EQ(run.status, 0) << run.err;
  for (const std::string folder : {"out", "out/"}) {
    run = cohort(folder, "by_folder");
    ASSERT_EQ(run.status, 0) << run.err;
    EXPECT_EQ(run.err, "");
    EXPECT_EQ(test::read_text(dir / "by_folder" / "cohort.csv"),
              test::read_text(dir / "by_file" / "cohort.csv"));
    const auto stats = nlohmann::json::parse(test::read_text(dir / "by_folder" / "stats.json"));
    EXPECT_EQ(stats["inputs"]["scores"], "out/summary.csv");
  }
  // The folder has reviewed scores too: the automatic ones are read, and stderr says where the others are.
  write(dir / "out" / "reviewed_summary.csv", "Image,IxP score,Status\nP1,90,ok; reviewed\n");
  run = cohort("out", "by_folder");
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_EQ(
      run.err,
      "ihcscore cohort: note: reading the automatic scores, out/summary.csv; out/reviewed_summary.csv has "
      "the reviewed ones (give it as --scores to analyse them)\n");
  fs::create_directories(dir / "empty");
  run = cohort("empty", "none");
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(
      run.err,
      "ihcscore cohort: --scores empty: a folder without summary.csv: give an output folder of ihcscore "
      "score or a scores file\n");
  EXPECT_FALSE(fs::exists(dir / "none"));
}

TEST(CohortCli, OptimalCutoffNeedsItsFlagAndIsLabelledOptimistic) {
  const fs::path dir = test::temp_dir("cohort_cli_optimal");
  std::string scores = "Image,IxP score\n", clinical = "patient_id,os_months,os_event\n";
  for (int i = 0; i < 30; ++i) {
    scores += "P" + std::to_string(i) + "," + std::to_string(i * 10) + "\n";
    clinical += "P" + std::to_string(i) + "," + std::to_string(100 - 2 * i + (i % 3)) + "," +
                (i % 4 ? "1" : "0") + "\n";
  }
  write(dir / "summary.csv", scores);
  write(dir / "clinical.csv", clinical);
  std::vector<std::string> args{"cohort",         "--scores", "summary.csv", "--clinical", "clinical.csv",
                                "--event-column", "os_event", "--cutoff",    "optimal",    "-o",
                                "report"};
  auto run = test::run_program("ihcscore", args, dir);
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(
      run.err,
      "ihcscore cohort: cutoff 'optimal' is data-driven and optimistic; pass --optimal-cutoff to allow it\n");
  args.push_back("--optimal-cutoff");
  run = test::run_program("ihcscore", args, dir);
  ASSERT_EQ(run.status, 0) << run.err;
  const auto stats = nlohmann::json::parse(test::read_text(dir / "report" / "stats.json"));
  EXPECT_TRUE(stats["optimistic"].get<bool>());
  EXPECT_NE(test::read_text(dir / "report" / "report.html").find("OPTIMISTIC"), std::string::npos);
  EXPECT_NE(test::read_text(dir / "report" / "km.svg").find("Optimistic cutpoint"), std::string::npos);
  EXPECT_NE(run.out.find("OPTIMISTIC"), std::string::npos);
}

}  // namespace
}  // namespace ihc
