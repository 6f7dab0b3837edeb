#include "gui/key_layout.hpp"

#include <GLFW/glfw3.h>

#include <cctype>
#include <cstring>

namespace ihc::gui {

LetterKeys::LetterKeys() {
  for (int i = 0; i < 26; ++i) keys_[i] = GLFW_KEY_A + i;
}

void LetterKeys::update(const std::function<const char*(int key)>& name_of) {
  std::array<bool, 26> typed{};
  std::array<int, 26> keys{};
  keys.fill(-1);
  // Printable keys only: GLFW names no other (Space to World 2 holds the letters of every Latin layout,
  // AZERTY's M on the US semicolon included).
  for (int k = GLFW_KEY_SPACE; k <= GLFW_KEY_WORLD_2; ++k) {
    const char* name = name_of(k);
    if (name == nullptr || std::strlen(name) != 1) continue;
    const auto c = static_cast<unsigned char>(name[0]);
    if (std::isalpha(c) == 0 || c > 127) continue;
    const int i = std::tolower(c) - 'a';
    if (!typed[i]) keys[i] = k;
    typed[i] = true;
  }
  for (int i = 0; i < 26; ++i) {
    if (typed[i]) continue;
    const int us = GLFW_KEY_A + i;
    bool taken = false;
    for (int j = 0; j < 26; ++j) taken = taken || (typed[j] && keys[j] == us);
    keys[i] = taken ? -1 : us;
  }
  keys_ = keys;
}

int LetterKeys::key(char letter) const {
  const int c = std::tolower(static_cast<unsigned char>(letter));
  return c >= 'a' && c <= 'z' ? keys_[c - 'a'] : -1;
}

}  // namespace ihc::gui
