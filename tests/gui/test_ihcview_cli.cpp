// The ihcview command line (src/ihcview.cpp): usage errors exit 1 with CLI11's message, as ihcscore's do, and
// --version prints the version ihcscore prints. Nothing here opens a window.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/test_support.hpp"

namespace {

ihc::test::CommandResult ihcview(const std::vector<std::string>& args) {
  return ihc::test::run_program("ihcview", args);
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n') + 1); }

}  // namespace

// They exited 109 (an unknown option, a second slide), 105 (a pixel size out of range) and 104 (a width that
// is no number): CLI11's own codes, which a script reads as a crash.
TEST(IhcviewCli, UsageErrorsExitOneAsIhcscoresDo) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--bogus"}, "The following argument was not expected: --bogus\n"},
      {{"a.svs", "b.svs"}, "The following argument was not expected: b.svs\n"},
      {{"--width", "abc"}, "Could not convert: --width = abc\n"},
      {{"--results", ""}, "--results: an empty value (an unset variable?)\n"},
      {{"--mpp", "1e-9"},
       "--mpp: 1e-9 um/px is not a microscope's pixel size (0.01 to 50; 0.25 at 40x, 0.5 at 20x)\n"}};
  for (const auto& [args, message] : cases) {
    const auto r = ihcview(args);
    EXPECT_EQ(r.status, 1) << args.front() << ": " << r.err;
    EXPECT_EQ(r.err, message + "Run with --help for more information.\n") << args.front();
    EXPECT_EQ(r.out, "");
  }
  // The same message as ihcscore's for the same mistake.
  const auto score = ihc::test::run_program("ihcscore", {"score", "a.png", "-o", "o", "--mpp", "1e-9"});
  EXPECT_EQ(score.status, 1);
  EXPECT_EQ(first_line(score.err), cases.back().second);
}

TEST(IhcviewCli, VersionIsIhcscoresAndHelpExitsZero) {
  const auto version = ihcview({"--version"});
  EXPECT_EQ(version.status, 0) << version.err;
  const auto score_version = ihc::test::run_program("ihcscore", {"--version"});
  ASSERT_EQ(score_version.out.rfind("ihcscore ", 0), 0u) << score_version.out;
  EXPECT_EQ(version.out, "ihcview " + score_version.out.substr(9));
  const auto help = ihcview({"--help"});
  EXPECT_EQ(help.status, 0) << help.err;
  EXPECT_NE(help.out.find("--version"), std::string::npos) << help.out;
}
