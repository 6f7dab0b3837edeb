#include "gui/key_layout.hpp"

#include <GLFW/glfw3.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

namespace ihc::gui {
namespace {

// A layout as glfwGetKeyName gives it: the US letters, with the keys of `moved` typing other characters.
LetterKeys keys_of(const std::map<int, std::string>& moved) {
  LetterKeys k;
  k.update([&](int key) -> const char* {
    static std::string name;
    if (auto it = moved.find(key); it != moved.end())
      return it->second.empty() ? nullptr : it->second.c_str();
    if (key >= GLFW_KEY_A && key <= GLFW_KEY_Z) {
      name = std::string(1, static_cast<char>('a' + key - GLFW_KEY_A));
      return name.c_str();
    }
    return nullptr;
  });
  return k;
}

TEST(LetterKeys, UsLayoutKeepsTheUsKeys) {
  const LetterKeys k = keys_of({});
  EXPECT_EQ(k.key('z'), GLFW_KEY_Z);
  EXPECT_EQ(k.key('Q'), GLFW_KEY_Q);
  EXPECT_EQ(k.key('1'), -1);
}

// QWERTZ: the key GLFW calls Y types z, and Z types y. Ctrl+Z (undo) is the key printed Z.
TEST(LetterKeys, QwertzSwapsYAndZ) {
  const LetterKeys k = keys_of({{GLFW_KEY_Y, "z"}, {GLFW_KEY_Z, "y"}});
  EXPECT_EQ(k.key('z'), GLFW_KEY_Y);
  EXPECT_EQ(k.key('y'), GLFW_KEY_Z);
  EXPECT_EQ(k.key('e'), GLFW_KEY_E);
}

// AZERTY: A and Q, Z and W swapped, M on the US semicolon key, the US M key types a comma.
TEST(LetterKeys, AzertyFollowsThePrintedLetters) {
  const LetterKeys k = keys_of({{GLFW_KEY_A, "q"},
                                {GLFW_KEY_Q, "a"},
                                {GLFW_KEY_Z, "w"},
                                {GLFW_KEY_W, "z"},
                                {GLFW_KEY_M, ","},
                                {GLFW_KEY_SEMICOLON, "m"}});
  EXPECT_EQ(k.key('q'), GLFW_KEY_A);
  EXPECT_EQ(k.key('a'), GLFW_KEY_Q);
  EXPECT_EQ(k.key('z'), GLFW_KEY_W);
  EXPECT_EQ(k.key('m'), GLFW_KEY_SEMICOLON);
}

// A layout without Latin letters keeps the US positions (shortcuts by position, as elsewhere); a letter whose
// US key another letter took has no key rather than that letter's.
TEST(LetterKeys, LettersNoKeyTypesKeepTheirUsKeyUnlessTaken) {
  std::map<int, std::string> cyrillic;
  for (int key = GLFW_KEY_A; key <= GLFW_KEY_Z; ++key) cyrillic[key] = "\xd0\xb9";  // "й"
  EXPECT_EQ(keys_of(cyrillic).key('z'), GLFW_KEY_Z);
  const LetterKeys k = keys_of({{GLFW_KEY_Q, "a"}, {GLFW_KEY_A, ""}});  // no key types q
  EXPECT_EQ(k.key('a'), GLFW_KEY_Q);
  EXPECT_EQ(k.key('q'), -1);
}

}  // namespace
}  // namespace ihc::gui
