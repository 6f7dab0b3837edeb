#include "models/text.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ihc {
namespace {

TEST(AsciiLower, LowersLettersOnly) {
  EXPECT_EQ(ascii_lower("A.NDPI"), "a.ndpi");
  EXPECT_EQ(ascii_lower("Ignore*"), "ignore*");
  const std::string utf8 =
      "Kr\xc3\x84"
      "ftig 3+";  // UTF-8 bytes are kept as they are
  EXPECT_EQ(ascii_lower(utf8),
            "kr\xc3\x84"
            "ftig 3+");
  EXPECT_EQ(ascii_lower(""), "");
}

TEST(EditDistance, CountsSingleByteEdits) {
  EXPECT_EQ(edit_distance("", ""), 0u);
  EXPECT_EQ(edit_distance("score", "score"), 0u);
  EXPECT_EQ(edit_distance("scor", "score"), 1u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
}

// The one suggestion rule of unknown parameter keys, commands and subcommands.
TEST(ClosestName, APrefixOrAFewEditsElseNothing) {
  const std::vector<std::string> commands = {"score", "params", "info", "stains", "reviewed", "cohort"};
  EXPECT_EQ(closest_name("scor", commands), "score");
  EXPECT_EQ(closest_name("reviewd", commands), "reviewed");
  EXPECT_EQ(closest_name("stain", commands), "stains");     // a prefix
  EXPECT_EQ(closest_name("review", commands), "reviewed");  // a prefix, 2 edits away
  EXPECT_EQ(closest_name("slide.svs", commands), "");       // nothing close
  EXPECT_EQ(closest_name("estimat", {"estimate"}), "estimate");
  EXPECT_EQ(closest_name("sigma", {"sigma_um", "median_radius_um"}), "sigma_um");
  EXPECT_EQ(closest_name("x", {}), "");
  // Ties go to the earlier name.
  EXPECT_EQ(closest_name("ab", {"ac", "ad"}), "ac");
}

}  // namespace
}  // namespace ihc
