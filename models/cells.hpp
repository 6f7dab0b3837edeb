#pragma once
// Cells and their measurements. Measurements are columns with one shared list of names (QuPath's names,
// e.g. "Membrane: DAB OD mean"), not a map per cell.
#include <cstdint>
#include <opencv2/core.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace ihc {

// QuPath's intensity classes. Positive is used in single-threshold mode.
enum class CellClass : std::uint8_t { Negative = 0, OnePlus = 1, TwoPlus = 2, ThreePlus = 3, Positive = 4 };

std::string_view class_name(CellClass c);  // "Negative", "1+", "2+", "3+", "Positive"
bool parse_class_name(std::string_view name, CellClass* out);
// QuPath's colours as 0xRRGGBB: Negative #7070E1, 1+ #FFFF00, 2+ #FFBB3E, 3+ #FA3E3E, Positive #FA3E3E.
std::uint32_t class_color_rgb(CellClass c);
// Intensity grade used in formulas: Negative 0, 1+ 1, 2+ 2, 3+ 3, Positive 1.
int class_grade(CellClass c);
inline bool is_positive(CellClass c) { return c != CellClass::Negative; }

struct Cell {
  std::int64_t id = 0;                // unique within a slide, stable for one detection run
  cv::Point2d centroid;               // full-resolution (level 0) pixels
  std::vector<cv::Point2f> boundary;  // cell polygon, level-0 pixels
  std::vector<cv::Point2f> nucleus;   // nucleus polygon, level-0 pixels
};

struct CellTable {
  std::vector<Cell> cells;
  std::vector<std::string> names;           // measurement names
  std::vector<std::vector<float>> columns;  // columns[j][i]: measurement j of cell i (NaN when missing)

  std::size_t size() const { return cells.size(); }
  int column(std::string_view name) const;  // -1 when absent
  int add_column(const std::string& name);  // returns the index; existing columns are reused
  float value(std::size_t cell, int column_index) const { return columns[column_index][cell]; }
  // Appends another table's cells (same names in any order; missing values become NaN).
  void append(const CellTable& other);
};

// The cells whose `keep` flag is nonzero (one flag per cell), with their measurements, in order. The first
// form moves the cells out of `table`.
CellTable keep_cells(CellTable&& table, const std::vector<std::uint8_t>& keep);
CellTable keep_cells(const CellTable& table, const std::vector<std::uint8_t>& keep);

}  // namespace ihc
