#pragma once
// ihcview: the whole-slide review window (Dear ImGui 1.86 + GLFW 3.3 + OpenGL 3). Fixed layout: canvas, side
// panel, status bar. The logic lives in view_transform, tile_cache, canvas_input, cell_overlay and
// models/review; gui/viewer.hpp's Viewer draws and wires them (one source file per concern).
#include <filesystem>
#include <string>

namespace ihc::gui {

struct ViewerOptions {
  std::filesystem::path slide;        // may be empty: start with the recent-files list
  std::filesystem::path results;      // OUT/slides/<id> of `ihcscore score`; review.json is saved there
  bool find_results = true;           // without `results`: look for the slide's own (models/results_link)
  std::filesystem::path script;       // scripted mode: replay this file, then exit
  std::filesystem::path screenshot;   // PNG written when the script ends (or after the first full view)
  std::string preset;                 // parameter preset for scoring from the viewer ("" = default)
  std::filesystem::path params_file;  // parameter file applied after the preset (as `ihcscore --params`)
  double mpp = 0.0;  // > 0: microns per pixel of images that carry none (as `ihcscore --mpp`)
  int width = 1280;
  int height = 800;
  double autosave_seconds = 3.0;
};

// Returns the process exit status: 0 ok, 1 usage error (bad preset or parameter file), 2 the slide or results
// could not be opened, 3 a script expectation failed.
int run_viewer(const ViewerOptions& options);

}  // namespace ihc::gui
