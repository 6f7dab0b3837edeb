#include "models/results_io.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "models/atomic_file.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

ihc::CellResults two_cells() {
  ihc::CellResults r;
  ihc::Cell a;
  a.id = 1;
  a.centroid = {100.5, 200.25};
  a.boundary = {{90, 190}, {110, 190}, {110, 210}, {90, 210}};
  a.nucleus = {{95, 195}, {105, 195}, {105, 205}};
  ihc::Cell b;
  b.id = 7;
  b.centroid = {300, 400};
  b.boundary = {{290, 390}, {310, 390}, {310, 410}};
  r.table.cells = {a, b};
  r.table.add_column("Nucleus: Area µm^2");
  r.table.add_column("Cell: DAB OD mean");
  r.table.columns[0] = {35.5f, 41.0f};
  r.table.columns[1] = {0.125f, std::numeric_limits<float>::quiet_NaN()};
  r.classes = {ihc::CellClass::Negative, ihc::CellClass::ThreePlus};
  return r;
}

}  // namespace

TEST(SummaryCsv, QuPathAndStatsHeadersAreExact) {
  const std::string q = ihc::summary_csv({}, ihc::ColumnNames::QuPath);
  EXPECT_EQ(
      q,
      "Image,Num Detections,Num Negative,Num 1+,Num 2+,Num 3+,Num Positive,Positive %,"
      "Num Positive per mm^2,H-score,Intensity score,IxP score,Allred proportion,Allred score,IRS,Group,"
      "Tissue area "
      "mm^2,mpp,Status\n");
  const std::string s = ihc::summary_csv({}, ihc::ColumnNames::Stats, true);
  EXPECT_EQ(
      s,
      "image,region,num_detections,num_negative,num_1plus,num_2plus,num_3plus,num_positive,positive_pct,"
      "num_positive_per_mm2,h_score,intensity_score,ixp_score,allred_proportion,allred_score,irs,group,"
      "tissue_area_mm2,mpp,status\n");
}

TEST(SummaryCsv, RoundTripsWithNaNAsEmptyAndQuotedNames) {
  ihc::ScoreRow r;
  r.image = "slide, with \"quotes\" (1)";
  r.num_detections = 10;
  r.num_negative = 4;
  r.num_1plus = 3;
  r.num_2plus = 2;
  r.num_3plus = 1;
  r.num_positive = 6;
  r.positive_pct = 60.0;
  r.h_score = 100.0;
  r.intensity_score = 2;
  r.ixp_score = 120;
  r.allred_proportion = 5;
  r.allred_score = 7;
  r.irs = 6;
  r.group = "High";
  r.mpp = 0.499;
  r.status = "ok; scored in pixels\n(second line)";
  const std::string text = ihc::summary_csv({r}, ihc::ColumnNames::QuPath);
  EXPECT_NE(text.find("\"slide, with \"\"quotes\"\" (1)\",10,4,3,2,1,6,60,,100,2,120,5,7,6,High,,0.499,"),
            std::string::npos);
  const auto rows = ihc::parse_summary_csv(text, "summary.csv");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].image, r.image);
  EXPECT_EQ(rows[0].num_positive, 6);
  EXPECT_DOUBLE_EQ(rows[0].h_score, 100.0);
  EXPECT_DOUBLE_EQ(rows[0].allred_proportion, 5.0);
  EXPECT_TRUE(std::isnan(rows[0].tissue_area_mm2));
  EXPECT_EQ(rows[0].status, "ok; scored in pixels (second line)");
  EXPECT_EQ(rows[0].group, "High");
  // The stats naming reads back the same way.
  const auto rows2 = ihc::parse_summary_csv(ihc::summary_csv({r}, ihc::ColumnNames::Stats, true), "s.csv");
  ASSERT_EQ(rows2.size(), 1u);
  EXPECT_DOUBLE_EQ(rows2[0].mpp, 0.499);
}

// Single-threshold positives (ki67) have no grade: Num 1+/2+/3+ were written 0, so an H-score recomputed from
// the counts read 0 where the table's own is empty. The mode decides, as in QuPath, which has no grade
// columns in single-threshold mode: a slide without positive cells (H-score empty) has empty grades too; a
// three-threshold one (H-score 0) has 0 of each.
TEST(SummaryCsv, GradeCountsAreEmptyWhenPositivesHaveNoGrade) {
  ihc::ScoreRow r;
  r.image = "ki67";
  r.num_detections = 10;
  r.num_negative = 4;
  r.num_positive = 6;
  r.positive_pct = 60.0;
  r.status = "ok";
  const std::string text = ihc::summary_csv({r}, ihc::ColumnNames::QuPath);
  EXPECT_NE(text.find("\nki67,10,4,,,,6,60,"), std::string::npos) << text;
  const auto back = ihc::parse_summary_csv(text, "summary.csv");
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].num_positive, 6);
  EXPECT_EQ(ihc::summary_csv(back, ihc::ColumnNames::QuPath), text);
  r.num_positive = 0;
  r.num_negative = 10;
  r.positive_pct = 0;
  EXPECT_NE(ihc::summary_csv({r}, ihc::ColumnNames::QuPath).find("\nki67,10,10,,,,0,0,"), std::string::npos);
  r.h_score = 0;
  EXPECT_NE(ihc::summary_csv({r}, ihc::ColumnNames::QuPath).find("\nki67,10,10,0,0,0,0,0,"),
            std::string::npos);
}

// QuPath writes "Allred proportion" beside the score; a Ki-67 (single-threshold) row has the proportion even
// though the Allred score, which needs an intensity, is empty.
TEST(SummaryCsv, AllredProportionIsWrittenInSingleThresholdModeToo) {
  ihc::GradeCounts c;
  c.negative = 7;
  c.positive_ungraded = 3;
  ihc::ScoreRow r = ihc::score_row("ki67", ihc::compute_scores(c));
  r.status = "ok";
  EXPECT_DOUBLE_EQ(r.allred_proportion, 3.0);  // 30 % is in [10 %, 1/3)
  const std::string text = ihc::summary_csv({r}, ihc::ColumnNames::QuPath);
  EXPECT_NE(text.find("\nki67,10,7,,,,3,30,,,,,3,,,"), std::string::npos) << text;
  c.positive_ungraded = 0;
  c.two_plus = 3;
  r = ihc::score_row("dsg2", ihc::compute_scores(c));
  EXPECT_NE(ihc::summary_csv({r}, ihc::ColumnNames::QuPath).find("\ndsg2,10,7,0,3,0,3,30,,60,2,60,3,5,4,"),
            std::string::npos);
}

TEST(SummaryCsv, PositivePerMm2IsPositiveCellsOverTheScoredArea) {
  ihc::ScoreRow r;
  r.num_detections = 400;
  r.num_positive = 150;
  r.tissue_area_mm2 = 0.25;
  EXPECT_DOUBLE_EQ(ihc::positive_per_mm2(r), 600.0);
  const std::string text = ihc::summary_csv({r}, ihc::ColumnNames::QuPath);
  EXPECT_NE(text.find(",150,,600,"), std::string::npos) << text;  // Positive % (NaN here) then the density
  // No area (no mpp), no tissue, or a failed slide: empty, never 0 or infinity.
  r.tissue_area_mm2 = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(std::isnan(ihc::positive_per_mm2(r)));
  r.tissue_area_mm2 = 0.0;
  EXPECT_TRUE(std::isnan(ihc::positive_per_mm2(r)));
  r.tissue_area_mm2 = 0.25;
  r.status = "FAILED: unreadable";
  EXPECT_TRUE(std::isnan(ihc::positive_per_mm2(r)));
}

// summary.csv's header before the density, Allred proportion and Group columns.
constexpr const char* kOldSummaryHeader =
    "Image,Num Detections,Num Negative,Num 1+,Num 2+,Num 3+,Num Positive,Positive %,H-score,"
    "Intensity score,IxP score,Allred score,IRS,Tissue area mm^2,mpp,Status\n";

TEST(SummaryCsv, ReadsFilesWrittenBeforeTheDensityColumn) {
  // summary.csv of earlier versions (cohort and --resume read them) has no "Num Positive per mm^2".
  const auto rows = ihc::parse_summary_csv(
      std::string(kOldSummaryHeader) + "s1,10,4,3,2,1,6,60,100,2,120,7,6,0.5,0.25,ok\n", "old/summary.csv");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_DOUBLE_EQ(rows[0].tissue_area_mm2, 0.5);
  EXPECT_DOUBLE_EQ(ihc::positive_per_mm2(rows[0]), 12.0);
  // Nor the Allred proportion column: it follows from the counts (6 of 10 positive: 4), for a Ki-67 row of
  // ungraded positives too, where Allred score less intensity score would be undefined.
  EXPECT_DOUBLE_EQ(rows[0].allred_proportion, 4.0);
  const auto ki67 = ihc::parse_summary_csv(
      std::string(kOldSummaryHeader) + "k,200,180,,,,20,10,,,,,,0.5,0.25,ok\n", "old/summary.csv");
  ASSERT_EQ(ki67.size(), 1u);
  EXPECT_DOUBLE_EQ(ki67[0].allred_proportion, 3.0);  // exactly 10 % scores 3 by QuPath's edges
}

TEST(SummaryCsv, ErrorsNameFileLineAndColumn) {
  try {
    ihc::parse_summary_csv("Image,Num Detections\nA,1\n", "out/summary.csv");
    FAIL();
  } catch (const ihc::ResultsError& e) {
    EXPECT_STREQ(e.what(), "out/summary.csv:1: missing column 'Num Negative' (or 'num_negative')");
  }
  std::string text = ihc::summary_csv({ihc::ScoreRow{}}, ihc::ColumnNames::QuPath);
  text.replace(text.find("\n,0,") + 1, 3, ",x,");
  try {
    ihc::parse_summary_csv(text, "s.csv");
    FAIL();
  } catch (const ihc::ResultsError& e) {
    EXPECT_STREQ(e.what(), "s.csv:2: num_detections is not an integer: 'x'");
  }
}

TEST(SummaryCsv, ColumnDictionaryMapsEveryColumnBothWays) {
  const std::string d = ihc::column_dictionary_csv();
  EXPECT_EQ(d.substr(0, d.find('\n')), "qupath_name,stats_name,description");
  for (const auto& c : ihc::summary_columns()) {
    EXPECT_NE(d.find(ihc::csv_field(c.qupath) + "," + c.stats + ","), std::string::npos) << c.qupath;
  }
  EXPECT_NE(d.find("Num 1+,num_1plus,"), std::string::npos);
  EXPECT_NE(d.find("Positive %,positive_pct,"), std::string::npos);
  EXPECT_NE(d.find("Region,region,"), std::string::npos);
}

TEST(CellUuid, IsAVersion4UuidThatCarriesTheCellId) {
  const auto seed = ihc::slide_uuid_seed("slideA");
  const std::string u = ihc::cell_uuid(seed, 123456789);
  EXPECT_TRUE(
      std::regex_match(u, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << u;
  std::int64_t id = 0;
  ASSERT_TRUE(ihc::cell_id_from_uuid(u, &id));
  EXPECT_EQ(id, 123456789);
  EXPECT_NE(u, ihc::cell_uuid(ihc::slide_uuid_seed("slideB"), 123456789));
  EXPECT_FALSE(ihc::cell_id_from_uuid("not-a-uuid", &id));
}

TEST(CellsCsv, RoundTripsCellsClassesAndMeasurements) {
  const fs::path dir = ihc::test::temp_dir("results_cells_csv");
  const auto cells = two_cells();
  ihc::CellsFileOptions opt;
  opt.uuid_seed = 42;
  opt.mpp_x = 0.5;
  opt.mpp_y = 0.5;
  ihc::write_cells_csv(dir / "cells.csv", cells, opt);
  const std::string text = ihc::read_file(dir / "cells.csv");
  EXPECT_EQ(text.substr(0, text.find('\n')),
            "Object ID,Classification,Centroid X px,Centroid Y px,Centroid X um,Centroid Y um,"
            "Nucleus: Area µm^2,Cell: DAB OD mean");
  // NaN measurement = empty last field; um = px * mpp.
  EXPECT_NE(text.find(",3+,300,400,150,200,41,\n"), std::string::npos) << text;
  const auto back = ihc::read_cells_csv(dir / "cells.csv");
  ASSERT_EQ(back.table.size(), 2u);
  EXPECT_EQ(back.table.cells[1].id, 7);
  EXPECT_EQ(back.classes[1], ihc::CellClass::ThreePlus);
  EXPECT_DOUBLE_EQ(back.table.cells[0].centroid.y, 200.25);
  EXPECT_FLOAT_EQ(back.table.value(0, back.table.column("Cell: DAB OD mean")), 0.125f);
  EXPECT_TRUE(std::isnan(back.table.value(1, back.table.column("Cell: DAB OD mean"))));
}

TEST(CellsCsv, MicronColumnsAreEmptyWithoutPixelSize) {
  const fs::path dir = ihc::test::temp_dir("results_cells_nompp");
  ihc::write_cells_csv(dir / "cells.csv", two_cells(), {});
  const std::string text = ihc::read_file(dir / "cells.csv");
  EXPECT_NE(text.find(",Negative,100.5,200.25,,,35.5,0.125\n"), std::string::npos) << text;
}

TEST(CellsCsv, StreamedChunksWithDifferentColumnsAlignByName) {
  const fs::path dir = ihc::test::temp_dir("results_cells_stream");
  auto first = two_cells();
  ihc::CellResults second;
  ihc::Cell c;
  c.id = 9;
  c.centroid = {1, 2};
  second.table.cells = {c};
  second.table.add_column("Cell: DAB OD mean");  // no area column, different order
  second.table.columns[0] = {0.75f};
  second.classes = {ihc::CellClass::TwoPlus};
  {
    ihc::AtomicFile f(dir / "cells.csv");
    ihc::CellsCsvWriter w(f, {});
    w.append(first.table, first.classes);
    w.append(second.table, second.classes);
    w.finish();
    EXPECT_EQ(w.rows(), 3);
    f.commit();
  }
  const auto back = ihc::read_cells_csv(dir / "cells.csv");
  ASSERT_EQ(back.table.size(), 3u);
  EXPECT_TRUE(std::isnan(back.table.value(2, back.table.column("Nucleus: Area µm^2"))));
  EXPECT_FLOAT_EQ(back.table.value(2, back.table.column("Cell: DAB OD mean")), 0.75f);
}

TEST(CellsCsv, WithoutCellsTheHeaderStillHasEveryMeasurement) {
  // A slide without cells: code that picks a measurement column across slides finds it there too.
  const fs::path dir = ihc::test::temp_dir("results_csv_empty");
  ihc::CellsFileOptions opt;
  opt.measurement_names = {"Centroid X um", "Centroid Y um", "Nucleus: Area µm^2", "Membrane: DAB OD mean"};
  ihc::write_cells_csv(dir / "cells.csv", {}, opt);
  EXPECT_EQ(ihc::read_file(dir / "cells.csv"),
            "Object ID,Classification,Centroid X px,Centroid Y px,Centroid X um,Centroid Y um,"
            "Nucleus: Area µm^2,Membrane: DAB OD mean\n");
}

// Saved again by Excel ("CSV UTF-8"): a byte-order mark before "Object ID" and CRLF line ends.
TEST(CellsCsv, ReadsAFileSavedByExcelWithAByteOrderMark) {
  const fs::path dir = ihc::test::temp_dir("results_csv_bom");
  ihc::write_cells_csv(dir / "cells.csv", two_cells(), {});
  std::string text = ihc::test::read_text(dir / "cells.csv");
  std::string crlf = "\xEF\xBB\xBF";
  for (char c : text) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  const auto back = ihc::parse_cells_csv(crlf, "excel.csv");
  ASSERT_EQ(back.table.size(), 2u);
  EXPECT_EQ(back.table.cells[1].id, 7);
  EXPECT_EQ(back.classes[1], ihc::CellClass::ThreePlus);
}

// A column name twice (copied in a spreadsheet) made the reader write past its columns: a fuzzer's crash in
// evaluate --detections, reviewed and the viewer. Refused, naming both columns, by both readers.
TEST(CellsCsv, ARepeatedColumnIsRefused) {
  const std::string text =
      "Object ID,Classification,Centroid X px,Centroid Y px,Centroid X um,Centroid Y um,Area,Area\n"
      "1,Negative,1,2,,,3,4\n";
  try {
    ihc::parse_cells_csv(text, "cells.csv");
    ADD_FAILURE() << "a repeated column was read";
  } catch (const ihc::ResultsError& e) {
    EXPECT_EQ(std::string(e.what()), "cells.csv:1: repeated column 'Area' (columns 7 and 8)");
  }
  const fs::path dir = ihc::test::temp_dir("results_csv_repeated");
  std::ofstream(dir / "cells.csv") << text;
  std::ofstream(dir / "cells.geojson") << "{\"type\":\"FeatureCollection\",\"features\":[\n]}\n";
  try {
    ihc::ResultCellsReader reader(dir / "cells.csv", dir / "cells.geojson");
    ihc::CellResults chunk;
    reader.next(chunk, 10);
    ADD_FAILURE() << "a repeated column was read";
  } catch (const ihc::ResultsError& e) {
    EXPECT_EQ(std::string(e.what()),
              (dir / "cells.csv").string() + ":1: repeated column 'Area' (columns 7 and 8)");
  }
}

TEST(CellsCsv, BadRowsAreNamedByLine) {
  try {
    ihc::parse_cells_csv(
        "Object ID,Classification,Centroid X px,Centroid Y px,Centroid X um,Centroid Y um\n1,Purple,1,2,,\n",
        "c.csv");
    FAIL();
  } catch (const ihc::ResultsError& e) {
    EXPECT_STREQ(e.what(), "c.csv:2: unknown Classification 'Purple'");
  }
}

TEST(CellsGeoJson, HasTheFieldsQuPathImports) {
  const fs::path dir = ihc::test::temp_dir("results_geojson");
  ihc::CellsFileOptions opt;
  opt.uuid_seed = ihc::slide_uuid_seed("s");
  ihc::write_cells_geojson(dir / "cells.geojson", two_cells(), opt);
  const json doc = json::parse(ihc::read_file(dir / "cells.geojson"));
  EXPECT_EQ(doc["type"], "FeatureCollection");
  ASSERT_EQ(doc["features"].size(), 2u);
  const json& f = doc["features"][0];
  EXPECT_EQ(f["type"], "Feature");
  EXPECT_EQ(f["id"], ihc::cell_uuid(opt.uuid_seed, 1));
  EXPECT_EQ(f["geometry"]["type"], "Polygon");
  const auto& ring = f["geometry"]["coordinates"][0];
  ASSERT_EQ(ring.size(), 5u);  // closed ring
  EXPECT_EQ(ring[0], ring[4]);
  EXPECT_EQ(ring[1][0].get<double>(), 110.0);
  EXPECT_EQ(f["nucleusGeometry"]["type"], "Polygon");
  EXPECT_EQ(f["properties"]["objectType"], "cell");
  EXPECT_EQ(f["properties"]["classification"]["name"], "Negative");
  EXPECT_EQ(f["properties"]["classification"]["color"], json({112, 112, 225}));
  EXPECT_DOUBLE_EQ(f["properties"]["measurements"]["Nucleus: Area µm^2"].get<double>(), 35.5);
  const json& g = doc["features"][1];
  EXPECT_EQ(g["properties"]["classification"]["name"], "3+");
  EXPECT_EQ(g["properties"]["classification"]["color"], json({250, 62, 62}));
  EXPECT_FALSE(g.contains("nucleusGeometry"));
  EXPECT_FALSE(g["properties"]["measurements"].contains("Cell: DAB OD mean"));  // NaN omitted
}

TEST(CellsGeoJson, CentroidsInMicronsTakeEachAxissOwnPixelSize) {
  // Detection fills both micron columns with one pixel size; the files use x's for x and y's for y, as
  // cells.csv does (OME files give slightly different ones).
  const fs::path dir = ihc::test::temp_dir("results_geojson_um");
  ihc::CellResults cells = two_cells();
  cells.table.add_column("Centroid X um");
  cells.table.add_column("Centroid Y um");
  cells.table.columns[2] = {25.125f, 75.0f};    // x * 0.25
  cells.table.columns[3] = {50.0625f, 100.0f};  // y * 0.25, not y * 0.5
  ihc::CellsFileOptions opt;
  opt.mpp_x = 0.25;
  opt.mpp_y = 0.5;
  ihc::write_cells_geojson(dir / "cells.geojson", cells, opt);
  ihc::write_cells_csv(dir / "cells.csv", cells, opt);
  const json doc = json::parse(ihc::read_file(dir / "cells.geojson"));
  const json& m = doc["features"][0]["properties"]["measurements"];
  EXPECT_DOUBLE_EQ(m["Centroid X um"].get<double>(), 25.125);
  EXPECT_DOUBLE_EQ(m["Centroid Y um"].get<double>(), 100.125);
  EXPECT_NE(ihc::read_file(dir / "cells.csv").find(",100.5,200.25,25.125,100.125,"), std::string::npos);
}

// The viewer reads outlines from the GeoJSON but counts regions by the batch's centroids, from cells.csv.
TEST(CellsGeoJson, TheCsvsCentroidsReplaceTheOutlinesOnlyForTheSameCells) {
  const fs::path dir = ihc::test::temp_dir("results_geojson_centroids");
  ihc::write_cells_geojson(dir / "cells.geojson", two_cells(), {});
  ihc::write_cells_csv(dir / "cells.csv", two_cells(), {});
  auto cells = ihc::read_cells_geojson(dir / "cells.geojson");
  EXPECT_NEAR(cells.table.cells[0].centroid.x, 100.0, 1e-6);  // the outline's
  ASSERT_TRUE(ihc::take_csv_centroids(ihc::read_file(dir / "cells.csv"), cells));
  EXPECT_EQ(cells.table.cells[0].centroid, cv::Point2d(100.5, 200.25));  // the batch's
  EXPECT_EQ(cells.table.cells[1].centroid, cv::Point2d(300, 400));
  EXPECT_EQ(cells.table.cells[0].boundary.size(), 4u);
  // Another folder's CSV (other cells, or fewer): nothing taken.
  auto fresh = ihc::read_cells_geojson(dir / "cells.geojson");
  ihc::CellResults one = two_cells();
  one.table.cells.pop_back();
  one.table.columns[0].pop_back();
  one.table.columns[1].pop_back();
  one.classes.pop_back();
  ihc::write_cells_csv(dir / "one.csv", one, {});
  EXPECT_FALSE(ihc::take_csv_centroids(ihc::read_file(dir / "one.csv"), fresh));
  ihc::CellResults other = two_cells();
  other.table.cells[1].id = 8;
  ihc::write_cells_csv(dir / "other.csv", other, {});
  EXPECT_FALSE(ihc::take_csv_centroids(ihc::read_file(dir / "other.csv"), fresh));
  EXPECT_NEAR(fresh.table.cells[0].centroid.x, 100.0, 1e-6);
}

TEST(CellsGeoJson, ReaderRecoversPolygonsIdsClassesAndMeasurements) {
  const fs::path dir = ihc::test::temp_dir("results_geojson_read");
  ihc::write_cells_geojson(dir / "cells.geojson", two_cells(), {});
  const auto back = ihc::read_cells_geojson(dir / "cells.geojson");
  ASSERT_EQ(back.table.size(), 2u);
  EXPECT_EQ(back.table.cells[0].id, 1);
  EXPECT_EQ(back.table.cells[1].id, 7);
  EXPECT_EQ(back.table.cells[0].boundary.size(), 4u);
  EXPECT_EQ(back.table.cells[0].nucleus.size(), 3u);
  EXPECT_NEAR(back.table.cells[0].centroid.x, 100.0, 1e-6);  // polygon centroid
  EXPECT_EQ(back.classes[1], ihc::CellClass::ThreePlus);
  EXPECT_FLOAT_EQ(back.table.value(1, back.table.column("Nucleus: Area µm^2")), 41.0f);
  EXPECT_TRUE(std::isnan(back.table.value(1, back.table.column("Cell: DAB OD mean"))));
}

// The regrade's reader gives cells.csv's rows with the outlines the JSON reader gives, for every shape the
// writer writes (a cell polygon with a nucleus, one without, a nucleus standing in for the cell, a point),
// in chunks of any size.
TEST(ResultCellsReader, GivesTheCsvRowsWithTheJsonReadersOutlinesInChunks) {
  const fs::path dir = ihc::test::temp_dir("results_reader");
  ihc::CellResults cells = two_cells();
  ihc::Cell nucleus_only;
  nucleus_only.id = 9;
  nucleus_only.centroid = {50.125, 60};
  nucleus_only.nucleus = {{48.5f, 58.25f}, {52.75f, 58}, {51, 62.0625f}};
  ihc::Cell point;
  point.id = 12;
  point.centroid = {70, 80.5};
  cells.table.cells.push_back(nucleus_only);
  cells.table.cells.push_back(point);
  for (auto& col : cells.table.columns) col.resize(4, 0.5f);
  cells.classes.resize(4, ihc::CellClass::OnePlus);
  ihc::write_cells_csv(dir / "cells.csv", cells, {});
  ihc::write_cells_geojson(dir / "cells.geojson", cells, {});
  const auto json_read = ihc::read_cells_geojson(dir / "cells.geojson");
  ihc::ResultCellsReader reader(dir / "cells.csv", dir / "cells.geojson");
  EXPECT_EQ(reader.measurement_names(), cells.table.names);
  std::vector<ihc::Cell> got;
  std::vector<ihc::CellClass> classes;
  ihc::CellResults chunk;
  std::vector<std::size_t> sizes;
  while (reader.next(chunk, 3)) {
    sizes.push_back(chunk.table.size());
    EXPECT_EQ(chunk.table.names, cells.table.names);
    got.insert(got.end(), chunk.table.cells.begin(), chunk.table.cells.end());
    classes.insert(classes.end(), chunk.classes.begin(), chunk.classes.end());
  }
  EXPECT_EQ(sizes, (std::vector<std::size_t>{3, 1}));
  EXPECT_EQ(reader.cells_read(), 4);
  EXPECT_FALSE(reader.next(chunk, 3));
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(classes, cells.classes);
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].id, cells.table.cells[i].id);
    EXPECT_EQ(got[i].centroid, cells.table.cells[i].centroid);  // the CSV's
    EXPECT_EQ(got[i].boundary, json_read.table.cells[i].boundary) << i;
    EXPECT_EQ(got[i].nucleus, json_read.table.cells[i].nucleus) << i;
  }
  EXPECT_EQ(got[0].boundary, cells.table.cells[0].boundary);
  EXPECT_EQ(got[2].boundary, nucleus_only.nucleus);  // the nucleus stands in for the cell, as it is written
  EXPECT_TRUE(got[3].boundary.empty() && got[3].nucleus.empty());

  ihc::write_cells_csv(dir / "none.csv", {}, {});
  ihc::write_cells_geojson(dir / "none.geojson", {}, {});
  ihc::ResultCellsReader empty(dir / "none.csv", dir / "none.geojson");
  EXPECT_FALSE(empty.next(chunk, 3));
}

// Any other layout (valid GeoJSON too), and files that list different cells, are refused by file and line, so
// the viewer reads the GeoJSON another way and the batch detects the cells again.
TEST(ResultCellsReader, OtherLayoutsAndOtherCellsAreNamedByFileAndLine) {
  const fs::path dir = ihc::test::temp_dir("results_reader_bad");
  const ihc::CellResults cells = two_cells();
  ihc::write_cells_csv(dir / "cells.csv", cells, {});
  ihc::write_cells_geojson(dir / "cells.geojson", cells, {});
  const std::string text = ihc::test::read_text(dir / "cells.geojson");
  const auto refused = [&](const std::string& name, const std::string& content) {
    ihc::write_file_atomic(dir / name, content);
    return ihc::test::thrown_by<ihc::ResultsError>([&] {
      ihc::ResultCellsReader reader(dir / "cells.csv", dir / name);
      ihc::CellResults chunk;
      while (reader.next(chunk, 1)) {
      }
    });
  };
  const std::string pretty = json::parse(text).dump(1);
  EXPECT_EQ(refused("pretty.geojson", pretty),
            (dir / "pretty.geojson").string() + ":1: not the FeatureCollection line ihcscore writes");
  std::string edited = text;
  edited.replace(edited.find("[[[") + 3, 2, "[ ");
  EXPECT_EQ(refused("edited.geojson", edited),
            (dir / "edited.geojson").string() + ":2: not a cell feature as ihcscore writes it");
  EXPECT_EQ(refused("cut.geojson", text.substr(0, text.rfind("]}"))),
            (dir / "cut.geojson").string() + ": ends before the FeatureCollection is closed");
  EXPECT_EQ(refused("empty.geojson", ""), (dir / "empty.geojson").string() + ": empty file");
  const std::string one = text.substr(0, text.find("\n", text.find("\n") + 1)) + "\n]}\n";
  EXPECT_EQ(refused("one.geojson", one),
            (dir / "one.geojson").string() + ":3: the features end at 1 cells, cells.csv has more");
  ihc::CellResults swapped = cells;
  std::swap(swapped.table.cells[0].id, swapped.table.cells[1].id);
  ihc::write_cells_geojson(dir / "swapped.geojson", swapped, {});
  EXPECT_EQ(refused("swapped.geojson", ihc::test::read_text(dir / "swapped.geojson")),
            (dir / "swapped.geojson").string() + ":2: feature 1 is not cells.csv's cell 1 (another id)");
  EXPECT_EQ(ihc::test::thrown_by<ihc::ResultsError>(
                [&] { ihc::ResultCellsReader reader(dir / "cells.csv", dir / "missing.geojson"); }),
            (dir / "missing.geojson").string() + ": cannot open: No such file or directory");
}

// A result folder gives the CSV's centroids, classes and measurements with the GeoJSON's outlines, by the
// fast reader or, for a GeoJSON in another layout, the JSON one; one file alone gives what it holds.
TEST(ResultCells, CsvRowsWithGeoJsonOutlinesWhateverTheGeoJsonsLayout) {
  const fs::path dir = ihc::test::temp_dir("results_folder_cells");
  const ihc::CellResults cells = two_cells();
  const ihc::CellsFileOptions options{.uuid_seed = 42};
  ihc::write_cells_csv(dir / "cells.csv", cells, options);
  ihc::write_cells_geojson(dir / "cells.geojson", cells, options);
  const auto check = [&](const ihc::CellResults& back, bool outlines) {
    ASSERT_EQ(back.table.size(), 2u);
    EXPECT_EQ(back.classes, cells.classes);
    EXPECT_EQ(back.table.cells[0].centroid, cells.table.cells[0].centroid);  // the CSV's, not the outline's
    EXPECT_EQ(back.table.cells[1].id, 7);
    EXPECT_FLOAT_EQ(back.table.value(0, back.table.column("Nucleus: Area µm^2")), 35.5f);
    EXPECT_EQ(back.table.cells[0].boundary,
              outlines ? cells.table.cells[0].boundary : std::vector<cv::Point2f>());
    EXPECT_EQ(back.table.cells[0].nucleus,
              outlines ? cells.table.cells[0].nucleus : std::vector<cv::Point2f>());
  };
  check(ihc::read_result_cells(dir), true);
  ihc::write_file_atomic(
      dir / "cells.geojson",
      json::parse(ihc::test::read_text(dir / "cells.geojson")).dump(2));  // as QuPath would
  check(ihc::read_result_cells(dir), true);
  fs::remove(dir / "cells.geojson");
  check(ihc::read_result_cells(dir), false);
  fs::remove(dir / "cells.csv");
  EXPECT_EQ(ihc::test::thrown_by<ihc::ResultsError>([&] { ihc::read_result_cells(dir); }),
            dir.string() + ": no cells.geojson or cells.csv (is this an OUT/slides/<id> folder?)");
}

TEST(CellsGeoJson, ReadsQuPathsOlderMeasurementListAndSkipsAnnotations) {
  const std::string text = R"([
    {"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0,0],[4,0],[4,4],[0,4],[0,0]]]},
     "properties":{"objectType":"annotation","classification":{"name":"Tumor"}}},
    {"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0,0],[2,0],[2,2],[0,2],[0,0]]]},
     "properties":{"objectType":"cell","classification":{"name":"2+","color":[255,187,62]},
                   "measurements":[{"name":"Cell: DAB OD mean","value":0.5}]}}])";
  const auto back = ihc::parse_cells_geojson(text, "q.geojson");
  ASSERT_EQ(back.table.size(), 1u);
  EXPECT_EQ(back.classes[0], ihc::CellClass::TwoPlus);
  EXPECT_FLOAT_EQ(back.table.value(0, 0), 0.5f);
  // QuPath 0.2 named the key object_type: its annotations are not cells either.
  const std::string v02 = R"([
    {"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0,0],[4,0],[4,4],[0,4],[0,0]]]},
     "properties":{"object_type":"annotation","isLocked":false}},
    {"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0,0],[2,0],[2,2],[0,2],[0,0]]]},
     "properties":{"object_type":"cell","classification":{"name":"Negative","colorRGB":-9408287}}}])";
  const auto old = ihc::parse_cells_geojson(v02, "q02.geojson");
  ASSERT_EQ(old.table.size(), 1u);
  EXPECT_EQ(old.classes[0], ihc::CellClass::Negative);
}

TEST(CellsGeoJson, InvalidJsonNamesTheFile) {
  try {
    ihc::parse_cells_geojson("{\"type\":\"Feature", "broken.geojson");
    FAIL();
  } catch (const ihc::ResultsError& e) {
    EXPECT_EQ(
        std::string(e.what()),
        "broken.geojson: not valid JSON at line 1, column 17: syntax error while parsing value - invalid "
        "string: missing closing quote; last read: '\"Feature'");
  }
  try {
    ihc::parse_cells_geojson("{\"type\":\"Feature\"}", "f.geojson");
    FAIL();
  } catch (const ihc::ResultsError& e) {
    EXPECT_STREQ(e.what(), "f.geojson: not a GeoJSON FeatureCollection");
  }
}

TEST(CellsGeoJson, StreamingReaderTakesKeysInAnyOrderAndNamesBrokenFiles) {
  // "type" after "features", other root members (arrays, objects) and nested properties QuPath may add.
  const std::string text = R"({"bbox":[0,0,10,10],"crs":{"type":"name","properties":{"name":"px"}},
    "features":[
      {"properties":{"objectType":"cell","metadata":{"a":[1,{"b":2}]},"classification":{"name":"1+"},
                     "measurements":{"Cell: DAB OD mean":0.3,"Flag":true}},
       "geometry":{"type":"Polygon","coordinates":[[[0,0],[2,0],[2,2],[0,2],[0,0]]]},"type":"Feature"},
      {"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[4,4],[8,4],[8,8],[4,8],[4,4]]]}}],
    "type":"FeatureCollection"})";
  const fs::path dir = ihc::test::temp_dir("results_geojson_stream");
  std::ofstream(dir / "q.geojson") << text;
  const auto back = ihc::read_cells_geojson(dir / "q.geojson");
  ASSERT_EQ(back.table.size(), 2u);
  EXPECT_EQ(back.classes[0], ihc::CellClass::OnePlus);
  EXPECT_EQ(back.classes[1], ihc::CellClass::Negative);  // no classification
  EXPECT_FLOAT_EQ(back.table.value(0, back.table.column("Cell: DAB OD mean")), 0.3f);
  EXPECT_TRUE(std::isnan(back.table.value(0, back.table.column("Flag"))));
  EXPECT_TRUE(std::isnan(back.table.value(1, back.table.column("Cell: DAB OD mean"))));
  EXPECT_NEAR(back.table.cells[1].centroid.x, 6.0, 1e-6);
  EXPECT_EQ(back.table.cells[1].id, 1);  // no UUID: the feature index
  const auto same = ihc::parse_cells_geojson(text, "q.geojson");
  EXPECT_EQ(same.table.size(), 2u);

  std::ofstream(dir / "cut.geojson") << text.substr(0, 200);
  try {
    ihc::read_cells_geojson(dir / "cut.geojson");
    FAIL();
  } catch (const ihc::ResultsError& e) {
    EXPECT_EQ(std::string(e.what()),
              (dir / "cut.geojson").string() +
                  ": not valid JSON at line 4, "
                  "column 12: syntax error while parsing object key - unexpected end of "
                  "input; expected string literal");
  }
  try {
    ihc::read_cells_geojson(dir / "missing.geojson");
    FAIL();
  } catch (const ihc::ResultsError& e) {
    EXPECT_EQ(std::string(e.what()),
              (dir / "missing.geojson").string() + ": cannot open: No such file or directory");
  }
  try {
    ihc::parse_cells_geojson(R"({"type":"FeatureCollection","features":[7]})", "n.geojson");
    FAIL();
  } catch (const ihc::ResultsError& e) {
    EXPECT_STREQ(e.what(), "n.geojson: feature 0: not a Feature with a geometry");
  }
}

TEST(SlideJson, RoundTripsTheRecord) {
  ihc::SlideRecord s;
  s.image = "cmu";
  s.source = "/data/cmu.svs";
  s.source_size = 1938955;
  s.source_mtime_ns = 1700000000123456789;
  s.params_hash = "abcdef";
  s.status = "ok";
  s.warnings = {"no mpp"};
  s.width = 2220;
  s.height = 2967;
  s.mpp_x = 0.499;
  s.stains = "{\"Name\" : \"H-DAB default\"}";
  s.thresholds = {0.2, 0.4, 0.6};
  s.total.image = "cmu";
  s.total.num_detections = 5;
  s.total.h_score = 123.5;
  s.total.group = "Low";
  ihc::ScoreRow region = s.total;
  region.region = "Tumor";
  region.group.clear();  // no group: the score was undefined there
  s.regions = {region};
  s.roi = "rois/cmu.geojson";
  s.parameters = {{"sigma_um", "1.5"}};
  s.timings_s = {{"total", 1.25}};
  s.detection_hash = "0123456789abcdef";
  s.cells_detected = "2026-11-22T10:00:00Z";
  s.regraded = true;
  const auto back = ihc::parse_slide_json(ihc::slide_json_text(s), "slide.json");
  EXPECT_EQ(back.detection_hash, "0123456789abcdef");
  EXPECT_EQ(back.cells_detected, "2026-11-22T10:00:00Z");
  EXPECT_TRUE(back.regraded);
  EXPECT_EQ(back.roi, "rois/cmu.geojson");
  EXPECT_EQ(back.image, "cmu");
  EXPECT_EQ(back.source_mtime_ns, s.source_mtime_ns);
  EXPECT_EQ(back.warnings, s.warnings);
  EXPECT_DOUBLE_EQ(back.mpp_x, 0.499);
  EXPECT_TRUE(std::isnan(back.mpp_y));
  EXPECT_EQ(back.stains, s.stains);
  EXPECT_EQ(back.thresholds, s.thresholds);
  EXPECT_DOUBLE_EQ(back.total.h_score, 123.5);
  EXPECT_TRUE(std::isnan(back.total.positive_pct));
  ASSERT_EQ(back.regions.size(), 1u);
  EXPECT_EQ(back.regions[0].region, "Tumor");
  EXPECT_EQ(back.total.group, "Low");
  EXPECT_EQ(back.regions[0].group, "");
  EXPECT_EQ(back.parameters.at("sigma_um"), "1.5");
  EXPECT_DOUBLE_EQ(back.timings_s.at("total"), 1.25);
}

// slide.json's scores say what summary.csv says: a Ki-67 slide's positives have no grade, so its 1+/2+/3+
// counts are null (the CSV's empty fields), not 0; a failed slide has no counts at all. Both read back.
TEST(SlideJson, CountsAreNullWhereSummaryCsvLeavesThemEmpty) {
  ihc::SlideRecord s;
  s.image = "ki67";
  ihc::GradeCounts c;
  c.negative = 7;
  c.positive_ungraded = 3;
  s.total = ihc::score_row("ki67", ihc::compute_scores(c));
  s.total.status = "ok";
  const std::string text = ihc::slide_json_text(s);
  const auto scores = nlohmann::json::parse(text)["scores"];
  EXPECT_TRUE(scores["num_1plus"].is_null() && scores["num_2plus"].is_null() && scores["num_3plus"].is_null())
      << scores.dump();
  EXPECT_EQ(scores["num_positive"], 3);
  EXPECT_EQ(scores["num_negative"], 7);
  EXPECT_EQ(scores["allred_proportion"], 3);
  const auto back = ihc::parse_slide_json(text, "slide.json");
  EXPECT_EQ(back.total.num_positive, 3);
  EXPECT_EQ(back.total.num_1plus, 0);
  EXPECT_EQ(ihc::summary_csv({back.total}, ihc::ColumnNames::QuPath),
            ihc::summary_csv({s.total}, ihc::ColumnNames::QuPath));
  s.total = ihc::ScoreRow{};
  s.total.status = "FAILED: unreadable";
  const auto failed = nlohmann::json::parse(ihc::slide_json_text(s))["scores"];
  EXPECT_TRUE(failed["num_detections"].is_null() && failed["num_negative"].is_null()) << failed.dump();
  EXPECT_EQ(ihc::parse_slide_json(ihc::slide_json_text(s), "slide.json").total.num_detections, 0);
}

// A Latin-1 file name (a Windows share): JSON holds only UTF-8, and --resume must find the same file again.
TEST(SlideJson, ASourceNameThatIsNotUtf8IsKeptByteForByte) {
  ihc::SlideRecord s;
  s.image = "Patient_M\xC3\xBCller";
  s.source = "in/Patient_M\xFCller.png";
  const std::string text = ihc::slide_json_text(s);
  EXPECT_NE(text.find("\"source\": \"in/Patient_M\xC3\xBCller.png\""), std::string::npos) << text;
  EXPECT_EQ(ihc::parse_slide_json(text, "slide.json").source, s.source);
  s.source = "in/M\xC3\xBCller.png";  // UTF-8 names are written as they are, without the hex copy
  EXPECT_EQ(ihc::slide_json_text(s).find("source_bytes_hex"), std::string::npos);
  EXPECT_EQ(ihc::parse_slide_json(ihc::slide_json_text(s), "slide.json").source, s.source);
}

TEST(SlideJson, RejectsOtherJson) {
  try {
    ihc::parse_slide_json("{\"a\":1}", "x/slide.json");
    FAIL();
  } catch (const ihc::ResultsError& e) {
    EXPECT_STREQ(e.what(), "x/slide.json: not a slide.json (missing \"image\" or \"scores\")");
  }
}

// Integers out of range were cast as they came (undefined for 1e300): a fuzzer's slide.json made reviewed
// write Num Detections -9223372036854775808. Each is refused, naming the file and the field; 3.0 is 3.
TEST(SlideJson, IntegersOutOfRangeAreRefused) {
  auto error_of = [](const std::string& text) {
    try {
      ihc::parse_slide_json(text, "s/slide.json");
    } catch (const ihc::ResultsError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(error_of(R"({"image":"a","scores":{"num_detections":1e300}})"),
            "s/slide.json: \"num_detections\" must be an integer of at least 0, not 1e+300");
  EXPECT_EQ(error_of(R"({"image":"a","scores":{"num_negative":-2}})"),
            "s/slide.json: \"num_negative\" must be an integer of at least 0, not -2");
  EXPECT_EQ(error_of(R"({"image":"a","scores":{},"levels":0})"),
            "s/slide.json: \"levels\" must be an integer of at least 1, not 0");
  EXPECT_EQ(error_of(R"({"image":"a","scores":{},"source_size":81844674407370955161528309})"),
            "s/slide.json: \"source_size\" must be an integer of at least 0, not 8.184467440737096e+25");
  EXPECT_EQ(error_of(R"({"image":"a","scores":{"num_detections":2.5}})"),
            "s/slide.json: \"num_detections\" must be an integer of at least 0, not 2.5");
  EXPECT_EQ(
      ihc::parse_slide_json(R"({"image":"a","scores":{"num_detections":3.0}})", "s").total.num_detections, 3);
}

// errors.tsv fields: one line each, and quoted only when a '"' would otherwise open a quote for R's
// read.delim.
TEST(TsvField, KeepsPlainTextAndQuotesQuotes) {
  EXPECT_EQ(ihc::tsv_field("in/a b,c.svs"), "in/a b,c.svs");
  EXPECT_EQ(ihc::tsv_field("two\tcolumns\nand lines\r"), "two columns and lines ");
  EXPECT_EQ(ihc::tsv_field("say \"hi\".svs"), "\"say \"\"hi\"\".svs\"");
  EXPECT_EQ(ihc::split_csv_line(ihc::tsv_field("a\"b\tc") + "\tx", '\t'),
            (std::vector<std::string>{"a\"b c", "x"}));
  EXPECT_EQ(ihc::tsv_field("caf\xe9.svs"), "caf\xc3\xa9.svs");  // Windows-1252 read as such
}
