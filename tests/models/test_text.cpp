#include "models/text.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ihc {
namespace {

// Parameter files and CSV tables come from Windows editors (CRLF) and hand-typed `--set key = value`.
TEST(TrimBlanks, DropsSpacesTabsAndLineEndsAroundOnly) {
  EXPECT_EQ(trim_blanks(" \tsigma_um = 1.5\r\n"), "sigma_um = 1.5");
  EXPECT_EQ(trim_blanks("\r\n \t"), "");
  EXPECT_EQ(trim_blanks(""), "");
  EXPECT_EQ(trim_blanks("a\u00a0"), "a\u00a0");  // only ASCII blanks: a UTF-8 no-break space stays
}

TEST(Join, PutsTheSeparatorBetweenItemsOnly) {
  EXPECT_EQ(join({"Image", "H-score", "IRS"}, ", "), "Image, H-score, IRS");
  EXPECT_EQ(join({"one"}, ", "), "one");
  EXPECT_EQ(join({}, ", "), "");
}

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

// The published FNV-1a test vectors: hashes kept in files (parameter hashes, fingerprints) must not move.
TEST(Fnv1a, PublishedVectorsAndHashingInPieces) {
  EXPECT_EQ(ihc::fnv1a(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(ihc::fnv1a("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(ihc::fnv1a("foobar"), 0x85944171f73967e8ULL);
  EXPECT_EQ(ihc::fnv1a("bar", ihc::fnv1a("foo")), ihc::fnv1a("foobar"));
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
  EXPECT_EQ(closest_name("SIGMA_UM", {"sigma_um", "median_radius_um"}), "sigma_um");  // case aside
  EXPECT_EQ(closest_name("Score", commands), "score");
  // Ties go to the earlier name.
  EXPECT_EQ(closest_name("ab", {"ac", "ad"}), "ac");
}

// Windows shares and Excel's plain "CSV" bring Windows-1252 bytes; UTF-8 must pass unchanged.
TEST(Utf8, WellFormedOnlyAndWindows1252IsReadWhenItIsNot) {
  EXPECT_TRUE(is_utf8("plain"));
  EXPECT_TRUE(is_utf8("M\xC3\xBCller \xC2\xB5m \xE2\x82\xAC \xF0\x9F\x94\xAC"));
  EXPECT_FALSE(is_utf8("M\xFCller"));         // Latin-1 u-umlaut
  EXPECT_FALSE(is_utf8("\xC3"));              // cut short
  EXPECT_FALSE(is_utf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(is_utf8("\xED\xA0\x80"));      // a surrogate
  EXPECT_FALSE(is_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_EQ(as_utf8("M\xC3\xBCller"), "M\xC3\xBCller");
  EXPECT_EQ(as_utf8("M\xFCller"), "M\xC3\xBCller");
  EXPECT_EQ(as_utf8("\x80 \x9F \x81"), "\xE2\x82\xAC \xC5\xB8 \xC2\x81");  // euro, Y-diaeresis, a C1 control
}

TEST(JsonText, BadBytesBecomeTheReplacementCharacterInsteadOfThrowing) {
  const nlohmann::json j = {{"source", "a/M\xFCller.png"}};
  EXPECT_THROW((void)j.dump(), nlohmann::json::type_error);
  EXPECT_EQ(json_text(j), "{\"source\":\"a/M\xEF\xBF\xBDller.png\"}");
  EXPECT_EQ(json_text({{"a", 1}}, 1), "{\n \"a\": 1\n}");
}

}  // namespace
}  // namespace ihc

// 100000 nested brackets overflowed the stack when a parsed value was copied or printed: refused up front.
TEST(JsonDepth, RefusesNestingBeyondTheLimitAndIgnoresBracketsInStrings) {
  EXPECT_EQ(ihc::json_depth_problem(R"({"a": [[1, 2], {"b": "[[[[{{{{"}]})"), "");
  EXPECT_EQ(ihc::json_depth_problem(R"({"a": "\"[[[[", "b": ["\\"]})"), "");
  EXPECT_EQ(ihc::json_depth_problem(std::string(256, '[') + std::string(256, ']')), "");
  EXPECT_EQ(ihc::json_depth_problem(std::string(100000, '[')),
            "JSON nested deeper than 256 levels (byte 256)");
  EXPECT_EQ(ihc::json_depth_problem("{\"k\": " + std::string(300, '[')),
            "JSON nested deeper than 256 levels (byte 261)");
}

// Every JSON reader says what is wrong in one form, with the line and column an editor shows; the token
// quoted as last read is cut (an unclosed string quotes the rest of the file).
TEST(JsonParseProblem, SaysLineColumnAndWhatInOneForm) {
  nlohmann::json j;
  EXPECT_EQ(ihc::json_parse_problem("{\n  \"a\": 1,\n  \"b\": }", &j),
            "not valid JSON at line 3, column 8: syntax error while parsing value - unexpected '}'; expected "
            "'[', '{', or a literal");
  EXPECT_EQ(ihc::json_parse_problem("[1e400]", &j), "not valid JSON: number overflow parsing '1e400'");
  EXPECT_EQ(
      ihc::json_parse_problem("{\"a\": \"" + std::string(5000, 'x'), &j),
      "not valid JSON at line 1, column 5008: syntax error while parsing value - invalid string: missing "
      "closing quote; last read: '\"" +
          std::string(59, 'x') + "...'");
  EXPECT_EQ(ihc::json_parse_problem(std::string(300, '['), &j),
            "JSON nested deeper than 256 levels (byte 256)");
  EXPECT_EQ(ihc::json_parse_problem(R"({"a": [1, 2]})", &j), "");
  EXPECT_EQ(j["a"][1], 2);
  EXPECT_EQ(ihc::json_error_text("[json.exception.parse_error.102] parse error: something"),
            "not valid JSON: something");
}

// A value of the wrong type in a well-formed file read as nlohmann's bracketed code (a fuzzer's find).
TEST(JsonValueErrorText, DropsTheLibrarysCode) {
  EXPECT_EQ(ihc::json_value_error_text("[json.exception.type_error.302] type must be string, but is array"),
            "unexpected JSON value: type must be string, but is array");
  EXPECT_EQ(ihc::json_value_error_text("[json.exception.out_of_range.403] key 'coordinates' not found"),
            "unexpected JSON value: key 'coordinates' not found");
}

TEST(JsonExcerpt, CutsLongValuesAndReplacesBadBytes) {
  EXPECT_EQ(ihc::json_excerpt(nlohmann::json::array({1, "two"})), R"([1,"two"])");
  EXPECT_EQ(ihc::json_excerpt(nlohmann::json(std::string(100, 'x')), 10), "\"xxxxxxxxx...");
  EXPECT_EQ(ihc::json_excerpt(nlohmann::json(std::string("a\xff"))), "\"a\xef\xbf\xbd\"");
}
