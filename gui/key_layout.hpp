#pragma once
// Letter shortcuts by the letter printed on the key, not by where the key sits on a US keyboard. GLFW names
// keys by their US position (GLFW_KEY_Z is the key right of Left Shift on every layout): on a German QWERTZ
// keyboard Ctrl+Z redid and Ctrl+Y undid, on a French AZERTY one Ctrl+Q did not quit (probe 7). The layout's
// letter of each key comes from glfwGetKeyName; no drawing or GLFW state here.
#include <array>
#include <functional>

namespace ihc::gui {

class LetterKeys {
 public:
  LetterKeys();
  // Reads the layout: name_of(key) is what the GLFW key types now (glfwGetKeyName(key, 0)), null for keys
  // that type nothing. A letter no key types (a Cyrillic or Greek layout) keeps its US position, unless
  // another letter took that key, when it has none.
  void update(const std::function<const char*(int key)>& name_of);
  // The GLFW key that types `letter` ('a' to 'z', either case); -1 when none does.
  int key(char letter) const;

 private:
  std::array<int, 26> keys_{};
};

}  // namespace ihc::gui
