#pragma once
// The status bar's line fitted to the window: whole when it fits, else shortened in an order that keeps what
// a pathologist reads (the view and scores first, then the message's start and its end, where an error says
// why). No ImGui here: widths come from the caller's measure (ImGui::CalcTextSize in the viewer).
#include <functional>
#include <string>

namespace ihc::gui {

struct StatusParts {
  std::string view;      // the magnification: "10.9x | "
  std::string position;  // "x: 1.5 um, y: 2.0 um | " while the pointer is on the slide
  std::string scores;    // the reviewed scores: "2114 cells: 54.7 % positive, H-score 77.0, IxP 54.7 | "
  std::string figures;   // "tiles 0 pending, cache 5 MB, tex 7 MB | 3.1 ms | ": diagnostics
  std::string message;   // the last message, e.g. "Save failed: out/slides/s/review.json: ..."
  std::string whole() const { return view + position + scores + figures + message; }
};

using TextWidth = std::function<float(const std::string&)>;

// Paths in `text` shortened to their last part: "Save failed: out/slides/s/review.json: x" becomes
// "Save failed: .../review.json: x" ("/" alone and URLs' "//" are left as they are).
std::string shorten_paths(const std::string& text);

// `text` cut in its middle, "..." in place of what is left out, so that it is at most `width` wide: two
// fifths of what is kept from its start, the rest from its end (where an error's last reason is).
std::string elide_middle(const std::string& text, float width, const TextWidth& text_width);

// The line that fits in `width`, in this order until it does: whole; without the figures; without the
// position; with the message's paths shortened; with the message cut in its middle. Equals parts.whole() when
// that fits.
std::string fit_status(const StatusParts& parts, float width, const TextWidth& text_width);

}  // namespace ihc::gui
