#include "models/cells.hpp"

#include <limits>
#include <type_traits>
#include <utility>

namespace ihc {

std::string_view class_name(CellClass c) {
  switch (c) {
    case CellClass::Negative:
      return "Negative";
    case CellClass::OnePlus:
      return "1+";
    case CellClass::TwoPlus:
      return "2+";
    case CellClass::ThreePlus:
      return "3+";
    case CellClass::Positive:
      return "Positive";
  }
  return "Negative";
}

bool parse_class_name(std::string_view name, CellClass* out) {
  for (auto c : {CellClass::Negative, CellClass::OnePlus, CellClass::TwoPlus, CellClass::ThreePlus,
                 CellClass::Positive}) {
    if (name == class_name(c)) {
      *out = c;
      return true;
    }
  }
  return false;
}

std::uint32_t class_color_rgb(CellClass c) {
  switch (c) {
    case CellClass::Negative:
      return 0x7070E1;
    case CellClass::OnePlus:
      return 0xFFFF00;
    case CellClass::TwoPlus:
      return 0xFFBB3E;
    case CellClass::ThreePlus:
    case CellClass::Positive:  // QuPath: Positive is its 200,50,50 scaled by 1.25, as 3+ (OS-2 render)
      return 0xFA3E3E;
  }
  return 0x7070E1;
}

int class_grade(CellClass c) {
  switch (c) {
    case CellClass::Negative:
      return 0;
    case CellClass::OnePlus:
      return 1;
    case CellClass::TwoPlus:
      return 2;
    case CellClass::ThreePlus:
      return 3;
    case CellClass::Positive:
      return 1;
  }
  return 0;
}

int CellTable::column(std::string_view name) const {
  for (std::size_t j = 0; j < names.size(); ++j) {
    if (names[j] == name) return static_cast<int>(j);
  }
  return -1;
}

int CellTable::add_column(const std::string& name) {
  int j = column(name);
  if (j >= 0) return j;
  names.push_back(name);
  columns.emplace_back(cells.size(), std::numeric_limits<float>::quiet_NaN());
  return static_cast<int>(names.size()) - 1;
}

void CellTable::append(const CellTable& other) {
  const std::size_t old_size = cells.size();
  for (const auto& name : other.names) add_column(name);
  cells.insert(cells.end(), other.cells.begin(), other.cells.end());
  for (auto& col : columns) col.resize(cells.size(), std::numeric_limits<float>::quiet_NaN());
  for (std::size_t k = 0; k < other.names.size(); ++k) {
    auto& dst = columns[column(other.names[k])];
    std::copy(other.columns[k].begin(), other.columns[k].end(),
              dst.begin() + static_cast<std::ptrdiff_t>(old_size));
  }
}

namespace {

template <class Table>
CellTable keep_cells_of(Table&& table, const std::vector<std::uint8_t>& keep) {
  CellTable out;
  out.names = table.names;
  out.columns.resize(table.names.size());
  for (std::size_t i = 0; i < table.size(); ++i) {
    if (!keep[i]) continue;
    if constexpr (std::is_const_v<std::remove_reference_t<Table>>) {
      out.cells.push_back(table.cells[i]);
    } else {
      out.cells.push_back(std::move(table.cells[i]));
    }
    for (std::size_t j = 0; j < table.names.size(); ++j) out.columns[j].push_back(table.columns[j][i]);
  }
  return out;
}

}  // namespace

CellTable keep_cells(CellTable&& table, const std::vector<std::uint8_t>& keep) {
  return keep_cells_of(table, keep);
}

CellTable keep_cells(const CellTable& table, const std::vector<std::uint8_t>& keep) {
  return keep_cells_of(table, keep);
}

}  // namespace ihc
