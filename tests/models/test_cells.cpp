#include "models/cells.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace ihc {
namespace {

TEST(CellClass, NamesAndColoursFollowQuPath) {
  EXPECT_EQ(class_name(CellClass::Negative), "Negative");
  EXPECT_EQ(class_name(CellClass::OnePlus), "1+");
  EXPECT_EQ(class_name(CellClass::TwoPlus), "2+");
  EXPECT_EQ(class_name(CellClass::ThreePlus), "3+");
  EXPECT_EQ(class_color_rgb(CellClass::Negative), 0x7070E1u);
  EXPECT_EQ(class_color_rgb(CellClass::OnePlus), 0xFFFF00u);
  EXPECT_EQ(class_color_rgb(CellClass::TwoPlus), 0xFFBB3Eu);
  EXPECT_EQ(class_color_rgb(CellClass::ThreePlus), 0xFA3E3Eu);
  // QuPath 0.3.2 draws single-threshold Positive cells in #FA3E3E (its 200,50,50 x 1.25; the OS-2-vsi render
  // of qupath-2022-cell-detection shows exactly that fill), not the #C80000 of its Tumor class.
  EXPECT_EQ(class_color_rgb(CellClass::Positive), 0xFA3E3Eu);
  CellClass c{};
  ASSERT_TRUE(parse_class_name("2+", &c));
  EXPECT_EQ(c, CellClass::TwoPlus);
  EXPECT_FALSE(parse_class_name("4+", &c));
}

TEST(CellTable, AppendAlignsColumnsByNameAndFillsMissingWithNaN) {
  CellTable a;
  a.cells.resize(2);
  int da = a.add_column("Membrane: DAB OD mean");
  a.columns[da] = {0.1f, 0.2f};
  CellTable b;
  b.cells.resize(1);
  int area = b.add_column("Cell: Area um^2");
  int db = b.add_column("Membrane: DAB OD mean");
  b.columns[area] = {50.0f};
  b.columns[db] = {0.7f};
  a.append(b);
  ASSERT_EQ(a.size(), 3u);
  EXPECT_FLOAT_EQ(a.value(2, a.column("Membrane: DAB OD mean")), 0.7f);
  EXPECT_TRUE(std::isnan(a.value(0, a.column("Cell: Area um^2"))));
  EXPECT_FLOAT_EQ(a.value(2, a.column("Cell: Area um^2")), 50.0f);
  EXPECT_EQ(a.column("missing"), -1);
}

// The batch keeps a tile's core cells and the cells in tissue, the viewer leaves out false detections: each
// kept cell keeps its own measurements, in order.
TEST(CellTable, KeepCellsKeepsFlaggedCellsWithTheirMeasurements) {
  CellTable t;
  t.add_column("Nucleus: Area um^2");
  t.add_column("Cell: DAB OD mean");
  for (int i = 0; i < 4; ++i) {
    Cell c;
    c.id = 10 + i;
    c.centroid = {static_cast<double>(i), 0.0};
    c.nucleus = {{0, 0}, {1, 0}, {0, 1}};
    t.cells.push_back(c);
    t.columns[0].push_back(20.0f + static_cast<float>(i));
    t.columns[1].push_back(0.1f * static_cast<float>(i));
  }
  const std::vector<std::uint8_t> keep{1, 0, 0, 1};
  const CellTable copied = keep_cells(t, keep);
  ASSERT_EQ(copied.size(), 2u);
  EXPECT_EQ(copied.names, t.names);
  EXPECT_EQ(copied.cells[0].id, 10);
  EXPECT_EQ(copied.cells[1].id, 13);
  EXPECT_EQ(copied.columns[0], (std::vector<float>{20.0f, 23.0f}));
  EXPECT_EQ(copied.columns[1], (std::vector<float>{0.0f, 0.1f * 3.0f}));
  EXPECT_EQ(t.cells[3].nucleus.size(), 3u);  // the copy left the table whole
  const CellTable moved = keep_cells(std::move(t), keep);
  ASSERT_EQ(moved.size(), 2u);
  EXPECT_EQ(moved.cells[1].id, 13);
  EXPECT_EQ(moved.cells[1].nucleus.size(), 3u);
  EXPECT_EQ(moved.columns[1], copied.columns[1]);
  EXPECT_EQ(keep_cells(CellTable{}, {}).size(), 0u);
}

}  // namespace
}  // namespace ihc
