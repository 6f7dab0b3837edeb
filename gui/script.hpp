#pragma once
// The scripted mode's language: one command per line, '#' comments. Parsed and checked before anything runs,
// so a typo fails at once with "<file>:<line>: ...", never halfway through a recorded session.
//   size W H | open PATH | results DIR | wait | frames N | fit | one-to-one | zoom F [X Y] | pan DX DY
//   center X Y DOWNSAMPLE | center-at FX FY DOWNSAMPLE (fractions of the slide's width and height) | mouse X
//   Y | click X Y [shift] | dblclick X Y | drag X0 Y0 X1 Y1 [left|middle] [hold-KEY] wheel X Y NOTCHES | key
//   NAME (e.g. 2, delete, ctrl+z, ctrl+shift+z) | tool move|rectangle|polygon|brush region-kind
//   include|exclude | channel rgb|hematoxylin|dab|residual | display outline|fill|centroid opacity A |
//   param KEY VALUE (a field of the Detection panel, used by score) | load-params PATH | save-params PATH |
//   panel NAME open|close (a side-panel header) | browse slide|results|load-params|save-params [PATH] (the
//   file browser, as its button opens it; PATH = where it starts) |
//   thresholds T1 T2 T3 | threshold-single T | select-class NAME | select-range LO HI | select-none filter
//   all|borderline|NAME | override SCORE REASON... | clear-override | score [region] | save export-geojson
//   PATH | export-summary PATH | export-regions PATH | screenshot PATH | expect-pixel X Y RRGGBB TOL
//   expect-class CELL_ID NAME | expect-count NAME N | bench-pan FRAMES DX DY [OUT] | quit
#include <stdexcept>
#include <string>
#include <vector>

namespace ihc::gui {

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

// Numeric argument helpers that name the command's line in errors.
double script_number(const ScriptCommand& c, std::size_t index, const std::string& origin);

}  // namespace ihc::gui
