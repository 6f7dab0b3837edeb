#pragma once
// A small cell table with known grades for the review and overlay tests.
#include "models/cells.hpp"
#include "models/scoring.hpp"

namespace ihc::test {

// A 10 x 10 lattice of square cells 20 px apart, ids first_id + row * 10 + column; "Cell: DAB OD mean" rises
// with the column (0.01 + 0.05 per column).
inline CellTable cell_lattice(std::int64_t first_id = 1000) {
  CellTable t;
  const int col = t.add_column("Cell: DAB OD mean");
  for (int y = 0; y < 10; ++y) {
    for (int x = 0; x < 10; ++x) {
      Cell c;
      c.id = first_id + y * 10 + x;
      c.centroid = {20.0 * x + 10, 20.0 * y + 10};
      const float cx = static_cast<float>(c.centroid.x), cy = static_cast<float>(c.centroid.y);
      c.boundary = {{cx - 8, cy - 8}, {cx + 8, cy - 8}, {cx + 8, cy + 8}, {cx - 8, cy + 8}};
      t.cells.push_back(c);
    }
  }
  t.columns[col].resize(t.size());
  for (std::size_t i = 0; i < t.size(); ++i) t.columns[col][i] = 0.05f * static_cast<float>(i % 10) + 0.01f;
  return t;
}

// Its grading: columns 0-1 Negative, 2-3 1+, 4-5 2+, 6-9 3+.
inline GradingParams lattice_grading() {
  GradingParams p;
  p.measurement = "Cell: DAB OD mean";
  p.threshold_1plus = 0.1;
  p.threshold_2plus = 0.2;
  p.threshold_3plus = 0.3;
  return p;
}

}  // namespace ihc::test
