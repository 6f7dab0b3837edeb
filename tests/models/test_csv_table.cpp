#include "models/csv_table.hpp"

#include <gtest/gtest.h>

namespace ihc {
namespace {

// Excel in a locale whose decimal mark is a comma saves "CSV" with semicolons; SPSS and R write tabs.
TEST(CsvTable, TheDelimiterIsTheHeadersAndOnlyWholeDecimalCommaNumbersChange) {
  EXPECT_EQ(parse_csv_table("a;b\r\n1;2,5\r\n", "c").delimiter, ';');
  EXPECT_EQ(parse_csv_table("a\tb\n1\t2\n", "c").delimiter, '\t');
  EXPECT_EQ(parse_csv_table("a\n1\n", "c").delimiter, ',');
  // Only whole numbers with one comma change: text and the header stay as written.
  const CsvTable t = parse_csv_table("id;note;x,y\nP1;a;1,2\n", "c");
  EXPECT_EQ(t.header, (std::vector<std::string>{"id;note;x", "y"}));  // a comma header stays a comma table
  EXPECT_EQ(t.rows[0], (std::vector<std::string>{"P1;a;1", "2"}));
  const CsvTable u = parse_csv_table("id;note\n\"P1;2\";a,b\n3,5;,5\n", "c");
  EXPECT_EQ(u.rows[0], (std::vector<std::string>{"P1;2", "a,b"}));
  EXPECT_EQ(u.rows[1], (std::vector<std::string>{"3.5", ",5"}));
}

// Excel's "CSV (Comma delimited)" on Windows is Windows-1252: "Müller" and "Größe" must match what is typed.
TEST(CsvTable, Windows1252TextIsReadAsUtf8AndUtf8StaysAsItIs) {
  const CsvTable t = parse_csv_table(
      "id;Gr\xF6\xDF"
      "e_cm\nM\xFCller_02;172,5\n",
      "c");
  EXPECT_EQ(t.header, (std::vector<std::string>{"id",
                                                "Gr\xC3\xB6\xC3\x9F"
                                                "e_cm"}));
  EXPECT_EQ(t.rows[0], (std::vector<std::string>{"M\xC3\xBCller_02", "172.5"}));
  EXPECT_EQ(parse_csv_table("\xEF\xBB\xBFid\nM\xC3\xBCller\n", "c").rows[0][0], "M\xC3\xBCller");
}

TEST(CsvTable, ARepeatedColumnIsRefusedWithItsPositions) {
  try {
    parse_csv_table("Image;patient_id;patient_id\nA1;A;B\n", "slides.csv");
    ADD_FAILURE() << "a repeated column was accepted";
  } catch (const CsvError& e) {
    EXPECT_EQ(
        std::string(e.what()),
        "slides.csv: repeated column 'patient_id' (columns 2 and 3): each column name must appear once; "
        "rename or delete the copies");
  }
  // Excel's empty trailing columns have no name to repeat.
  EXPECT_EQ(parse_csv_table("patient_id,os_months,,\nP1,10,,\n", "c").rows.size(), 1u);
}

TEST(CsvTable, AMissingRequiredColumnIsNamedWithTheColumnsThatExist) {
  const CsvTable t = parse_csv_table("Image,H-score\nA,1\n", "summary.csv");
  EXPECT_EQ(t.require("H-score", "score"), 1);
  EXPECT_EQ(t.column("IRS"), -1);
  try {
    t.require("IRS", "score");
    ADD_FAILURE() << "a missing column was found";
  } catch (const CsvError& e) {
    EXPECT_EQ(std::string(e.what()), "summary.csv: no score column 'IRS' (columns: Image, H-score)");
  }
}

TEST(CsvTable, AnEmptyFileOrAMissingFileIsAnErrorNamingIt) {
  try {
    parse_csv_table("\n \n,,\n", "clinical.csv");
    ADD_FAILURE() << "an empty table was accepted";
  } catch (const CsvError& e) {
    EXPECT_EQ(std::string(e.what()), "clinical.csv: empty file (no header line)");
  }
  EXPECT_THROW(read_csv_table("/nonexistent/clinical.csv"), CsvError);
}

TEST(CsvTable, AWorkbookOrUtf16TextIsRefusedWithWhatToSaveInstead) {
  auto error = [](const std::string& text) {
    try {
      parse_csv_table(text, "clinical.xlsx");
    } catch (const CsvError& e) {
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

// REDCap exports notes with commas and line breaks inside quotes (RFC 4180).
TEST(CsvTable, AQuotedFieldMaySpanLinesAndLineNumbersStayThoseOfTheFile) {
  const std::string text =
      "patient_id,os_months,os_event,note\r\n"
      "\"P1\",\"10\",\"1\",\"note, with comma\r\nand newline \"\"quoted\"\"\"\r\n"
      "P2,20,0,plain\r\n";
  const CsvTable t = parse_csv_table(text, "c");
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.rows[0],
            (std::vector<std::string>{"P1", "10", "1", "note, with comma\nand newline \"quoted\""}));
  EXPECT_EQ(t.line, (std::vector<int>{2, 4}));
  try {
    parse_csv_table(text + "P3,30\n", "clinical.csv");
    ADD_FAILURE() << "a short row was accepted";
  } catch (const CsvError& e) {
    EXPECT_EQ(std::string(e.what()), "clinical.csv:5: 2 fields, the header has 4");
  }
  try {
    parse_csv_table("patient_id,os_months\nP1,10\n\"P2,20\nP3,30\n", "clinical.csv");
    ADD_FAILURE() << "an unclosed quote was accepted";
  } catch (const CsvError& e) {
    EXPECT_EQ(std::string(e.what()), "clinical.csv:3: a quoted field opens on this line and is never closed");
  }
  // A quote inside an unquoted field is text (5" = five inches), not the start of a quoted field.
  EXPECT_EQ(parse_csv_table("id,size\nP1,5\" wide\n", "c").rows[0],
            (std::vector<std::string>{"P1", "5\" wide"}));
}

// Excel writes ",,,,," for rows it considers used, often at the end of a sheet.
TEST(CsvTable, RowsWhoseFieldsAreAllEmptyAreSkippedLikeBlankLines) {
  const CsvTable t = parse_csv_table(
      ",,\npatient_id,os_months,os_event\nP1,10,1\n,,\nP2,20,0\n , ,\n\"\",\"\",\"\"\n,,,,,\n", "c");
  EXPECT_EQ(t.header, (std::vector<std::string>{"patient_id", "os_months", "os_event"}));
  EXPECT_EQ(t.line, (std::vector<int>{3, 5}));
  const CsvTable tab = parse_csv_table("patient_id\tos_months\nP1\t10\n\t\n", "c");
  EXPECT_EQ(tab.rows.size(), 1u);
}

// A tab-delimited file saved by Excel in a comma-decimal locale holds "11,6", as its semicolon CSV does; a
// comma table never has decimal commas.
TEST(CsvTable, TabTablesAcceptDecimalCommas) {
  const CsvTable tab = parse_csv_table("patient_id\tos_months\tos_event\nP1\t11,6\t1\nP2\t-0,5\t0\n", "c");
  EXPECT_EQ(tab.rows[0][1], "11.6");
  EXPECT_EQ(tab.rows[1][1], "-0.5");
  EXPECT_EQ(parse_csv_table("patient_id,os_months\nP1,\"11,6\"\n", "c").rows[0][1], "11,6");
}

}  // namespace
}  // namespace ihc
