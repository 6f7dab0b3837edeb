#pragma once
// Key events given to Dear ImGui 1.86 one press per frame (see InputTrickle).
#include <GLFW/glfw3.h>
#include <backends/imgui_impl_glfw.h>
#include <imgui.h>

#include <algorithm>
#include <deque>
#include <vector>

namespace ihc::gui {

// Dear ImGui 1.86 reads keys as states at NewFrame: of the key events between two frames it sees only the
// end state, so a key pressed and released within one frame (a quick tap; xdotool's key always) is never
// pressed, and of two keys pressed in one frame an input field acts on one (Ctrl+A then Backspace deleted one
// character instead of the selection). Key events are therefore given to ImGui at most one press per frame,
// the release of a key pressed since the last NewFrame after the next one, and typed characters in order
// with them (1.87's input queue trickles events the same way).
class InputTrickle {
 public:
  static bool is_modifier(int key) { return key >= GLFW_KEY_LEFT_SHIFT && key <= GLFW_KEY_RIGHT_SUPER; }
  // False when the event waits for a later frame (its turn comes in before_new_frame).
  bool on_key(int key, int scancode, int action, int mods) {
    const Event e{false, key, scancode, action, mods, 0};
    if (!held_.empty() || must_wait(e)) {
      held_.push_back(e);
      return false;
    }
    note(e);
    return true;
  }
  // The backend takes Ctrl, Shift, Alt and Super from the modifier keys' own events only; a key event that
  // carries them in its state without such events (X11 events sent to a window that has not the focus, as
  // xdotool sends them) is read with them too.
  static void give_key(GLFWwindow* w, int key, int scancode, int action, int mods) {
    ImGui_ImplGlfw_KeyCallback(w, key, scancode, action, mods);
    if (is_modifier(key) || action == GLFW_RELEASE) return;
    ImGuiIO& io = ImGui::GetIO();
    io.KeyCtrl = io.KeyCtrl || (mods & GLFW_MOD_CONTROL) != 0;
    io.KeyShift = io.KeyShift || (mods & GLFW_MOD_SHIFT) != 0;
    io.KeyAlt = io.KeyAlt || (mods & GLFW_MOD_ALT) != 0;
    io.KeySuper = io.KeySuper || (mods & GLFW_MOD_SUPER) != 0;
  }
  bool on_char(unsigned int c) {
    if (held_.empty()) return true;
    held_.push_back({true, 0, 0, 0, 0, c});
    return false;
  }
  // A script's `press` and `type`: always queued (script commands run mid-frame, after NewFrame), so they
  // reach ImGui in before_new_frame as a real event that had to wait does, behind any such event.
  void inject_key(int key, int action, int mods) {
    held_.push_back({false, key, glfwGetKeyScancode(key), action, mods, 0});
  }
  void inject_char(unsigned int c) { held_.push_back({true, 0, 0, 0, 0, c}); }
  // Nothing waits and this frame's before_new_frame gave nothing: every event given so far went through the
  // widgets of a whole frame (drawn after the script's step), and what they chose has run at the start of
  // this one (run_browser_choice).
  bool settled() const { return held_.empty() && !gave_; }
  // Just before ImGui::NewFrame: what waited is given now, up to the next event that must wait again. Never
  // after NewFrame: ImGui asserts that the modifiers stay as NewFrame read them (io.KeyMods) all frame.
  void before_new_frame(GLFWwindow* w) {
    gave_ = false;
    while (!held_.empty() && !must_wait(held_.front())) {
      const Event e = held_.front();
      held_.pop_front();
      note(e);
      gave_ = true;
      if (e.is_char) {
        ImGui_ImplGlfw_CharCallback(w, e.c);
      } else {
        give_key(w, e.key, e.scancode, e.action, e.mods);
      }
    }
  }
  // Just after ImGui::NewFrame: a new frame's events begin.
  void after_new_frame() {
    touched_.clear();
    pressed_any_ = false;
    if (!held_.empty()) glfwPostEmptyEvent();  // the next frame comes without waiting for new input
  }

 private:
  struct Event {
    bool is_char;
    int key, scancode, action, mods;
    unsigned int c;
  };
  // A second press, or a second event of one key, since the last NewFrame waits for the next frame: ImGui
  // would see only the last state (a release then a press of Backspace looks like Backspace held down).
  bool must_wait(const Event& e) const {
    if (e.is_char) return false;
    if (e.action == GLFW_PRESS && pressed_any_) return true;
    // xdotool releases Ctrl before the O of Ctrl+O: the key must be seen with its modifier down.
    if (e.action == GLFW_RELEASE && is_modifier(e.key) && pressed_any_) return true;
    return std::find(touched_.begin(), touched_.end(), e.key) != touched_.end();
  }
  void note(const Event& e) {
    if (e.is_char) return;
    touched_.push_back(e.key);
    if (e.action == GLFW_PRESS) pressed_any_ = true;
  }
  std::vector<int> touched_;  // keys given since the last NewFrame
  bool pressed_any_ = false;
  bool gave_ = false;  // before_new_frame gave an event this frame
  std::deque<Event> held_;
};

}  // namespace ihc::gui
