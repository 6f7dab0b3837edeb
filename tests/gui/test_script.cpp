#include "gui/script.hpp"

#include <gtest/gtest.h>

namespace ihc::gui {
namespace {

std::string error_of(const std::string& text) {
  try {
    parse_script(text, "s.txt");
  } catch (const ScriptError& e) {
    return e.what();
  }
  return "";
}

TEST(Script, ParsesCommandsCommentsAndFreeText) {
  const auto cmds = parse_script(
      "# a session\nopen a.svs\n\nclick 10 20  # on a cell\nkey 2\n"
      "override 2 weak and patchy\n",
      "s.txt");
  ASSERT_EQ(cmds.size(), 4u);
  EXPECT_EQ(cmds[0].name, "open");
  EXPECT_EQ(cmds[1].line, 4);
  EXPECT_EQ(cmds[1].args, (std::vector<std::string>{"10", "20"}));
  EXPECT_EQ(cmds[3].args, (std::vector<std::string>{"2", "weak and patchy"}));
}

TEST(Script, ErrorsNameFileLineAndProblem) {
  EXPECT_EQ(error_of("fit\nzom 2\n"), "s.txt:2: unknown command 'zom'");
  EXPECT_EQ(error_of("click 10\n"), "s.txt:1: 'click' takes 2-3 arguments, got 1");
  EXPECT_EQ(error_of("key\n"), "s.txt:1: 'key' takes 1 argument, got 0");
  EXPECT_EQ(error_of("pan 10 x\n"), "s.txt:1: 'pan' argument 2 is not a number: 'x'");
  EXPECT_EQ(error_of("center-at 0.5 0.5\n"), "s.txt:1: 'center-at' takes 3 arguments, got 2");
  EXPECT_EQ(error_of("center-at 0.5 half 2\n"), "s.txt:1: 'center-at' argument 2 is not a number: 'half'");
  EXPECT_EQ(error_of("override 2\n"), "s.txt:1: 'override' takes 2 or more arguments, got 1");
  try {
    load_script("/nonexistent/s.txt");
    FAIL();
  } catch (const ScriptError& e) {
    EXPECT_EQ(std::string(e.what()), "/nonexistent/s.txt: cannot open script");
  }
}

}  // namespace
}  // namespace ihc::gui
