#pragma once
// Inputs of `ihcscore score`: slides, images, folders (recursive) and text files listing paths, turned into a
// list of slides with unique output ids, plus every input that was skipped or cannot be scored.
#include <filesystem>
#include <string>
#include <vector>

#include "models/results_link.hpp"

namespace ihc::cli {

struct InputItem {
  std::filesystem::path path;
  // File name without extension (and without ".ome"), made unique: "a", "a-2", ...; with the folder's name in
  // front when inputs of one name come from several folders ("caseA_a", "caseB_a").
  std::string id;
};

struct InputProblem {
  std::filesystem::path path;
  std::string stage;    // "input" (missing, unreadable, bad list) or "skipped" (not a slide or image, or a
                        // file already given by another path)
  std::string message;  // names the file and what is wrong
  bool failure = true;  // false for files of a folder that are simply not images (skipped)
  bool repeat = false;  // a file already given by another path (scored once)
};

struct CollectedInputs {
  std::vector<InputItem> items;
  std::vector<InputProblem> problems;
};

// Folders are walked recursively in sorted order; a file of a folder becomes a slide when its extension or
// its first bytes say slide or image, or else when OpenSlide/OpenCV can open it; other files are listed as
// skipped. A file given directly that is text (not an image) is read as a list of paths, one per line ('#'
// comments, paths relative to the list's folder).
// A slide scored before into the output folder keeps its id; a new one never takes the id of another's
// folder.
CollectedInputs collect_inputs(const std::vector<std::string>& inputs, const EarlierResults& earlier = {});

// True when the name or the magic bytes say slide/image (TIFF, JPEG, PNG, BMP, JPEG 2000, DICOM, vendor
// extensions such as .svs .ndpi .mrxs .scn .vms .bif).
bool looks_like_image(const std::filesystem::path& path);

}  // namespace ihc::cli
