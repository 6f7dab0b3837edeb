#include "gui/script.hpp"

#include <GLFW/glfw3.h>
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
  // A typo in score's words would score the whole slide instead of the regions, or wait when told not to.
  EXPECT_EQ(error_of("score regoin\n"), "s.txt:1: score: unknown word 'regoin' (region, nowait)");
  EXPECT_NO_THROW(parse_script("score region nowait\nscore nowait\nscore\n", "s.txt"));
  // An unknown drawing mode fell back to outlines: a script checking nuclei-only pixels would test the wrong
  // view.
  EXPECT_EQ(error_of("display nucleus\n"),
            "s.txt:1: display: 'nucleus' is not one of outline, cells, nuclei, fill, centroid");
  EXPECT_NO_THROW(parse_script("display outline\ndisplay cells\ndisplay nuclei\ndisplay fill\n", "s.txt"));
  try {
    load_script("/nonexistent/s.txt");
    FAIL();
  } catch (const ScriptError& e) {
    EXPECT_EQ(std::string(e.what()), "/nonexistent/s.txt: cannot open script");
  }
}

TEST(Script, TypeKeepsItsWordsAsOneTextAndPressTakesOneKey) {
  const auto cmds = parse_script("type keys.params\ntype  two   words  # not typed\npress ctrl+a\n", "s.txt");
  ASSERT_EQ(cmds.size(), 3u);
  EXPECT_EQ(cmds[0].args, (std::vector<std::string>{"keys.params"}));
  EXPECT_EQ(cmds[1].args, (std::vector<std::string>{"two words"}));
  EXPECT_EQ(cmds[2].args, (std::vector<std::string>{"ctrl+a"}));
  EXPECT_EQ(error_of("type\n"), "s.txt:1: 'type' takes 1 or more arguments, got 0");
  EXPECT_EQ(error_of("press\n"), "s.txt:1: 'press' takes 1 argument, got 0");
  EXPECT_EQ(error_of("press ctrl a\n"), "s.txt:1: 'press' takes 1 argument, got 2");
  EXPECT_EQ(
      error_of("fit\npress entr\n").rfind("s.txt:2: press: unknown key 'entr' (a-z, 0-9, f1-f12, enter", 0),
      0u);
  EXPECT_EQ(error_of("press ctl+a\n"),
            "s.txt:1: press: unknown modifier 'ctl' in 'ctl+a' (ctrl, shift, alt, super)");
  EXPECT_EQ(error_of("press ctrl+ctrl+a\n"), "s.txt:1: press: 'ctrl' named twice in 'ctrl+ctrl+a'");
  EXPECT_EQ(error_of("press ctrl+\n").rfind("s.txt:1: press: unknown key 'ctrl+'", 0), 0u);
  EXPECT_EQ(
      error_of("press shift+1\n"),
      "s.txt:1: press: 'shift+1': what Shift with this key types depends on the keyboard layout (type gives "
      "characters)");
  EXPECT_EQ(error_of("type caf\xC3\n"), "s.txt:1: type: the text is not valid UTF-8");
}

TEST(Script, KeyChordsAreGlfwKeysAndModifierBits) {
  KeyChord k;
  ASSERT_EQ(parse_key_chord("enter", &k), "");
  EXPECT_EQ(k.key, GLFW_KEY_ENTER);
  EXPECT_EQ(k.mods, 0);
  EXPECT_EQ(k.character, 0u);
  ASSERT_EQ(parse_key_chord("Ctrl+A", &k), "");
  EXPECT_EQ(k.key, GLFW_KEY_A);
  EXPECT_EQ(k.mods, GLFW_MOD_CONTROL);
  EXPECT_EQ(k.character, 0u);  // GLFW gives no character with Ctrl held
  ASSERT_EQ(parse_key_chord("ctrl+shift+z", &k), "");
  EXPECT_EQ(k.key, GLFW_KEY_Z);
  EXPECT_EQ(k.mods, GLFW_MOD_CONTROL | GLFW_MOD_SHIFT);
  ASSERT_EQ(parse_key_chord("shift+x", &k), "");
  EXPECT_EQ(k.character, static_cast<unsigned int>('X'));
  ASSERT_EQ(parse_key_chord("7", &k), "");
  EXPECT_EQ(k.key, GLFW_KEY_7);
  EXPECT_EQ(k.character, static_cast<unsigned int>('7'));
  ASSERT_EQ(parse_key_chord("space", &k), "");
  EXPECT_EQ(k.character, static_cast<unsigned int>(' '));
  ASSERT_EQ(parse_key_chord("shift+space", &k), "");
  EXPECT_EQ(k.character, static_cast<unsigned int>(' '));
  ASSERT_EQ(parse_key_chord("ctrl+space", &k), "");
  EXPECT_EQ(k.character, 0u);
  ASSERT_EQ(parse_key_chord("alt+f4", &k), "");
  EXPECT_EQ(k.key, GLFW_KEY_F4);
  EXPECT_EQ(k.mods, GLFW_MOD_ALT);
  for (const char* name :
       {"backspace", "escape", "tab", "delete", "home", "end", "left", "pagedown", "f12"}) {
    EXPECT_EQ(parse_key_chord(name, &k), "") << name;
  }
  EXPECT_NE(parse_key_chord("f13", &k), "");
  EXPECT_NE(parse_key_chord("ctrl", &k), "");  // a modifier alone is not a chord
}

TEST(Script, Utf8TextBecomesCodePoints) {
  std::vector<unsigned int> cps;
  ASSERT_TRUE(utf8_code_points("a \xC2\xB5m \xE2\x82\xAC\xF0\x9F\x94\xAC", &cps));
  EXPECT_EQ(cps, (std::vector<unsigned int>{'a', ' ', 0xB5, 'm', ' ', 0x20AC, 0x1F52C}));
  EXPECT_FALSE(utf8_code_points("\xC0\xAF", &cps));      // overlong '/'
  EXPECT_FALSE(utf8_code_points("\xED\xA0\x80", &cps));  // a surrogate
  EXPECT_FALSE(utf8_code_points("\xE2\x82", &cps));      // cut short
  EXPECT_FALSE(utf8_code_points("\x80", &cps));
}

}  // namespace
}  // namespace ihc::gui
