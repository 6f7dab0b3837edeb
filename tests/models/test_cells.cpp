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

}  // namespace
}  // namespace ihc
