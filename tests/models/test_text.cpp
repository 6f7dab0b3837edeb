#include "models/text.hpp"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace ihc
