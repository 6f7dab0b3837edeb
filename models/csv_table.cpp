#include "models/csv_table.hpp"

#include <cctype>
#include <map>
#include <sstream>

#include "models/atomic_file.hpp"
#include "models/text.hpp"

namespace ihc {

int CsvTable::column(const std::string& name) const {
  for (std::size_t j = 0; j < header.size(); ++j) {
    if (header[j] == name) return static_cast<int>(j);
  }
  return -1;
}

int CsvTable::require(const std::string& name, const std::string& what) const {
  const int j = column(name);
  if (j < 0) {
    throw CsvError(origin + ": no " + what + " column '" + name + "' (columns: " + join(header, ", ") + ")");
  }
  return j;
}

namespace {

// The header's delimiter, counted outside quotes: comma, else semicolon, else tab, else comma (one column).
char header_delimiter(const std::string& line) {
  int commas = 0, semicolons = 0, tabs = 0;
  bool quoted = false;
  for (const char c : line) {
    if (c == '"') quoted = !quoted;
    if (quoted) continue;
    commas += c == ',';
    semicolons += c == ';';
    tabs += c == '\t';
  }
  if (commas > 0) return ',';
  if (semicolons > 0) return ';';
  if (tabs > 0) return '\t';
  return ',';
}

// The first line with a name in it: blank lines and Excel's delimiter-only rows before the header do not
// count.
std::string header_line(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(",;\t\" \r") != std::string::npos) return line;
  }
  return "";
}

// "12,5" or "-0,25" in a semicolon or tab table: a number written with a decimal comma.
bool decimal_comma_number(const std::string& f) {
  std::size_t i = f[0] == '-' || f[0] == '+' ? 1 : 0;
  const std::size_t comma = f.find(',');
  if (comma == std::string::npos || comma == i || comma + 1 == f.size()) return false;
  for (; i < f.size(); ++i) {
    if (i != comma && !std::isdigit(static_cast<unsigned char>(f[i]))) return false;
  }
  return true;
}

struct Record {
  std::vector<std::string> fields;
  int line = 0;  // file line where the record starts
};

// RFC 4180 records: a field opening with a quote may hold delimiters, doubled quotes and line breaks, so a
// record can span lines (REDCap notes). A quote inside an unquoted field is kept as text.
std::vector<Record> split_records(const std::string& text, char delimiter, const std::string& origin) {
  std::vector<Record> records;
  Record rec;
  rec.line = 1;
  std::string field;
  int line = 1, quote_line = 0;
  bool quoted = false, field_quoted = false;
  auto end_field = [&] {
    rec.fields.push_back(std::move(field));
    field.clear();
    field_quoted = false;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
        continue;  // a CRLF inside a field reads as a line break
      } else {
        line += c == '\n';
        field += c;
      }
    } else if (c == '"' && !field_quoted && field.find_first_not_of(" \t") == std::string::npos) {
      quoted = field_quoted = true;
      quote_line = line;
      field.clear();
    } else if (c == delimiter) {
      end_field();
    } else if (c == '\n') {
      end_field();
      records.push_back(std::move(rec));
      rec = Record();
      rec.line = ++line;
    } else if (c != '\r') {
      field += c;
    }
  }
  if (quoted) {
    throw CsvError(origin + ":" + std::to_string(quote_line) +
                   ": a quoted field opens on this line and is never closed");
  }
  if (!field.empty() || !rec.fields.empty()) {
    end_field();
    records.push_back(std::move(rec));
  }
  return records;
}

// Names each column that appears more than once, with its 1-based positions.
void refuse_repeated_columns(const std::vector<std::string>& header, const std::string& origin) {
  std::map<std::string, std::vector<std::size_t>> positions;
  for (std::size_t j = 0; j < header.size(); ++j) {
    if (!header[j].empty()) positions[header[j]].push_back(j + 1);  // Excel's empty trailing columns
  }
  std::vector<std::string> repeated;
  for (std::size_t j = 0; j < header.size(); ++j) {
    const auto& at = positions[header[j]];
    if (header[j].empty() || at.size() < 2 || at.front() != j + 1) continue;
    std::string cols;
    for (std::size_t k = 0; k < at.size(); ++k) {
      cols += (k == 0 ? "" : k + 1 == at.size() ? " and " : ", ") + std::to_string(at[k]);
    }
    repeated.push_back("'" + header[j] + "' (columns " + cols + ")");
  }
  if (!repeated.empty()) {
    throw CsvError(origin + ": repeated column " + join(repeated, ", ") +
                   ": each column name must appear once; rename or delete the copies");
  }
}

}  // namespace

CsvTable parse_csv_table(const std::string& text, const std::string& origin) {
  CsvTable t;
  t.origin = origin;
  if (text.compare(0, 4, "PK\x03\x04") == 0 || text.compare(0, 4, "\xD0\xCF\x11\xE0") == 0) {
    throw CsvError(origin +
                   ": an Excel workbook, not CSV text: save the sheet as CSV (File > Save As > CSV UTF-8)");
  }
  if (text.compare(0, 2, "\xFF\xFE") == 0 || text.compare(0, 2, "\xFE\xFF") == 0) {
    throw CsvError(origin + ": UTF-16 text (Excel's 'Unicode Text'): save it as CSV UTF-8");
  }
  // Excel's plain "CSV" is Windows-1252 in Western locales ("Müller" was bytes R and the ids never matched).
  const std::string body = as_utf8(text.compare(0, 3, "\xEF\xBB\xBF") == 0 ? text.substr(3) : text);  // BOM
  t.delimiter = header_delimiter(header_line(body));
  // Excel's comma-decimal locales write "12,5" in semicolon CSV and in tab-delimited text alike.
  const bool decimal_comma = t.delimiter == ';' || t.delimiter == '\t';
  for (auto& rec : split_records(body, t.delimiter, origin)) {
    bool all_empty = true;
    for (auto& f : rec.fields) {
      f = trim_blanks(f);
      all_empty = all_empty && f.empty();
      if (decimal_comma && !t.header.empty() && decimal_comma_number(f)) f[f.find(',')] = '.';
    }
    if (all_empty) continue;  // a blank line or a delimiter-only row
    if (t.header.empty()) {
      t.header = std::move(rec.fields);
      refuse_repeated_columns(t.header, origin);
      continue;
    }
    if (rec.fields.size() != t.header.size()) {
      throw CsvError(origin + ":" + std::to_string(rec.line) + ": " + std::to_string(rec.fields.size()) +
                     " fields, the header has " + std::to_string(t.header.size()));
    }
    t.rows.push_back(std::move(rec.fields));
    t.line.push_back(rec.line);
  }
  if (t.header.empty()) throw CsvError(origin + ": empty file (no header line)");
  return t;
}

CsvTable read_csv_table(const std::filesystem::path& path) {
  std::string text;
  try {
    text = read_file(path);
  } catch (const FileError& e) {
    throw CsvError(e.what());
  }
  return parse_csv_table(text, path.string());
}

}  // namespace ihc
