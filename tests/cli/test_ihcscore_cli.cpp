// The ihcscore dispatcher (src/ihcscore.cpp): commands by name, help, version, and a mistyped command.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/test_support.hpp"

namespace {

ihc::test::CommandResult ihcscore(const std::vector<std::string>& args) {
  return ihc::test::run_program("ihcscore", args);
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n') + 1); }

}  // namespace

// A mistyped command is answered with the one meant (as an unknown parameter key is), then the usage.
TEST(IhcscoreCli, AMistypedCommandNamesTheOneMeant) {
  auto r = ihcscore({"scor", "in", "-o", "out"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(first_line(r.err), "ihcscore: unknown command 'scor' (did you mean 'score'?)\n");
  EXPECT_NE(r.err.find("Usage: ihcscore <command> [options]"), std::string::npos) << r.err;
  r = ihcscore({"reviewd", "out"});
  EXPECT_EQ(first_line(r.err), "ihcscore: unknown command 'reviewd' (did you mean 'reviewed'?)\n");
  r = ihcscore({"stain", "estimate", "a.svs"});  // a prefix of a command
  EXPECT_EQ(first_line(r.err), "ihcscore: unknown command 'stain' (did you mean 'stains'?)\n");
  // Nothing close: the usage lists the commands.
  r = ihcscore({"slide.svs"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(first_line(r.err), "ihcscore: unknown command 'slide.svs'\n");
}

TEST(IhcscoreCli, HelpAndVersion) {
  auto r = ihcscore({"--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("  score     "), std::string::npos) << r.out;
  r = ihcscore({"--version"});
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out.rfind("ihcscore ", 0), 0u) << r.out;
  r = ihcscore({});
  EXPECT_EQ(r.status, 1);
}

// A command made of subcommands given none lists them, as for a mistyped one (CLI11 said only "A subcommand
// is required").
TEST(IhcscoreCli, ACommandGivenNoSubcommandListsThem) {
  const auto r = ihcscore({"stains"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "ihcscore stains: error: a subcommand is required (expected 'estimate')\n");
  EXPECT_EQ(r.out, "");
}

// `-o "$OUT"` with OUT unset gave score an empty output folder: it wrote its tables into the current folder.
// An empty value is a usage error for every command's options and arguments.
TEST(IhcscoreCli, AnEmptyValueIsAUsageErrorNamingTheOption) {
  const auto dir = ihc::test::temp_dir("ihcscore_empty_value");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"score", "a.png", "-o", ""}, "--output"},
      {{"score", "a.png", "-o", "out", "--roi", ""}, "--roi"},
      {{"score", "a.png", "-o", "out", "--params", ""}, "--params"},
      {{"score", "", "-o", "out"}, "INPUT"},
      {{"info", ""}, "SLIDE"},
      {{"evaluate", "--image", "", "--truth", "t.csv"}, "--image"}};
  for (const auto& [args, name] : cases) {
    const auto r = ihc::test::run_program("ihcscore", args, dir);
    EXPECT_EQ(r.status, 1) << name;
    EXPECT_EQ(first_line(r.err), name + ": an empty value (an unset variable?)\n") << r.err;
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir));  // nothing written, nowhere
}
