#pragma once
// CSV tables typed by people (clinical tables, slide maps, annotation points): read as text cells, in the
// delimiter and decimal mark of the locale that wrote them. Used by `ihcscore cohort` and by evaluate's
// truth.
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace ihc {

// what() names the file and, where there is one, the line.
class CsvError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A CSV file as text cells; line[i] is the 1-based file line where rows[i] starts (a quoted field may hold
// line breaks, as REDCap notes do, so a record can span lines).
// Clinical tables come from Excel, SPSS, R or REDCap in any locale: the delimiter is the header's (comma;
// else semicolon, Excel's CSV where the decimal mark is a comma; else tab). In a semicolon or tab table a
// decimal comma ("12,5") is read as 12.5. Rows whose fields are all empty (Excel's ",,,,") are skipped like
// blank lines. A repeated column name, a workbook (.xlsx/.xls) or UTF-16 text is refused.
struct CsvTable {
  std::string origin;
  char delimiter = ',';
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<int> line;
  int column(const std::string& name) const;  // -1 when absent
  // Index of a required column; throws CsvError "<origin>: no column 'x' (columns: a, b, c)".
  int require(const std::string& name, const std::string& what) const;
};
CsvTable parse_csv_table(const std::string& text, const std::string& origin);
CsvTable read_csv_table(const std::filesystem::path& path);

}  // namespace ihc
