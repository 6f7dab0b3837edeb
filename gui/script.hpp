#pragma once
// The scripted mode's language: one command per line, '#' comments. Parsed and checked before anything runs,
// so a typo fails at once with "<file>:<line>: ...", never halfway through a recorded session.
//   size W H | open PATH | results DIR | wait | frames N | fit | one-to-one | zoom F [X Y] | pan DX DY
//   center X Y DOWNSAMPLE | center-at FX FY DOWNSAMPLE (fractions of the slide's width and height) | mouse X
//   Y | click X Y [shift] | dblclick X Y | drag X0 Y0 X1 Y1 [left|middle] [hold-KEY] wheel X Y NOTCHES | key
//   NAME (e.g. 2, delete, ctrl+z, ctrl+shift+z) | tool move|rectangle|polygon|brush region-kind
//   include|exclude | channel rgb|hematoxylin|dab|residual | display outline|cells|nuclei|fill|centroid |
//   opacity A |
//   param KEY VALUE (a field of the Detection panel, used by score) | load-params PATH | save-params PATH |
//   panel NAME open|close (a side-panel header) | browse slide|results|load-params|save-params [PATH] (the
//   file browser, as its button opens it; PATH = where it starts) | type TEXT... | press KEYS (e.g. enter,
//   ctrl+a: keyboard input to the ImGui widgets, through the same queue as GLFW's events) |
//   thresholds T1 T2 T3 | threshold-single T | select-class NAME | select-range LO HI | select-none filter
//   all|borderline|NAME | override SCORE REASON... | clear-override | score [region] [nowait] (nowait: the
//   next command runs while the job does) | save export-geojson PATH | export-summary PATH | export-regions
//   PATH | screenshot PATH | expect-pixel X Y RRGGBB TOL expect-class CELL_ID NAME | expect-count NAME N |
//   expect-status TEXT... (the status bar's line holds TEXT) | expect-no-status TEXT... (it does not) |
//   bench-pan FRAMES DX DY [OUT] | widget LABEL... (a click on the side panel's or a dialog's button
//   labelled LABEL, or on a text field, which takes the keyboard; fails when it is not shown) | quit
// `wait SECONDS` fails the script (exit 3) when the view is not complete after SECONDS (120 by default).
#include <stdexcept>
#include <string>
#include <vector>

namespace ihc::gui {

// `display`'s words; the viewer's drawing modes are in this order.
inline constexpr const char* kDisplayWords[] = {"outline", "cells", "nuclei", "fill", "centroid"};

class ScriptError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ScriptCommand {
  int line = 0;
  std::string name;
  std::vector<std::string> args;
};

// Throws ScriptError "<origin>:<line>: <reason>".
std::vector<ScriptCommand> parse_script(const std::string& text, const std::string& origin);
std::vector<ScriptCommand> load_script(const std::string& path);

// A key as `press` names it ("enter", "ctrl+a", "ctrl+shift+z", "f2"; case-insensitive): the GLFW key code,
// the GLFW_MOD_* bits of its modifiers, and the character the press types, as GLFW gives it (0 for none: keys
// other than letters, digits and space, and any key with Ctrl, Alt or Super held).
struct KeyChord {
  int key = 0;
  int mods = 0;
  unsigned int character = 0;
};
// "" when `name` is one, else why not: an unknown key or modifier, a modifier named twice, Shift with a digit
// (the character it types depends on the keyboard layout: `type` gives characters).
std::string parse_key_chord(const std::string& name, KeyChord* out);

// The Unicode code points of UTF-8 text; false when it is not valid UTF-8.
bool utf8_code_points(const std::string& text, std::vector<unsigned int>* out);

// Numeric argument helpers that name the command's line in errors.
double script_number(const ScriptCommand& c, std::size_t index, const std::string& origin);

}  // namespace ihc::gui
