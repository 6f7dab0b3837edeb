#pragma once
// The viewer's file browser (Dear ImGui has no file dialog): which entries a folder shows for what is being
// chosen, and whether a choice can be taken. Plain data and functions over the file system; gui/app.cpp
// draws it and acts on the accepted path.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace ihc::gui {

enum class BrowseFor { Slide, Results, LoadParams, SaveParams };

struct BrowserEntry {
  std::string name;
  bool is_dir = false;
  std::uintmax_t size = 0;  // bytes; 0 for folders
};

struct FolderListing {
  std::filesystem::path dir;          // absolute and normalised
  std::vector<BrowserEntry> entries;  // folders first, then files; each group by name, case-insensitive
  std::string error;                  // "<dir>: cannot be listed: <reason>" (entries then empty)
};

// True when `purpose` takes a file of this name: slides and images by extension (imaging/slide's list), a
// results folder's cells.geojson / cells.csv / slide.json (shown, not picked), parameter files (.params,
// .txt).
bool offered(const std::filesystem::path& name, BrowseFor purpose);

// Folders, and the files `purpose` takes (every file with `all_files`); hidden names (a leading '.') are
// left out, as are entries that vanish or cannot be examined while the folder is read.
FolderListing list_folder(const std::filesystem::path& dir, BrowseFor purpose, bool all_files);

// The path a typed name means in `dir`: as typed when absolute, under $HOME for "~" and "~/...", else
// relative to `dir`; normalised ("a/../b" is "b"). Empty for an empty or all-blank name.
std::filesystem::path resolve_typed(const std::filesystem::path& dir, const std::string& typed);

// "" when `path` can be taken for `purpose`, else why, naming the path:
//   Slide, LoadParams  an existing file;
//   Results            a folder holding cells.geojson or cells.csv (what `ihcscore score` writes per slide);
//   SaveParams         a file name (not a folder) in an existing folder.
std::string check_choice(const std::filesystem::path& path, BrowseFor purpose);

// "512 B", "1.9 KB", "3.2 MB", "1.1 GB" (powers of 1024, as file managers show them).
std::string size_label(std::uintmax_t bytes);

// The browser's UI state, one per viewer.
struct FileBrowser {
  bool visible = false;
  bool opening = false;  // the popup opens on the next frame
  BrowseFor purpose = BrowseFor::Slide;
  FolderListing listing;
  std::string typed;  // the name field
  int selected = -1;  // index into listing.entries
  bool all_files = false;
  bool focus_name = false;   // the name field takes the keyboard on the next frame (on opening, after Enter,
                             // in a new folder)
  bool name_active = false;  // it had the keyboard in the last frame
  std::filesystem::path replace;  // a file the user was told exists: the next Save of it overwrites it
  std::string error;              // the last refused choice
};

// Shows the browser for `purpose` in the folder of `start` (`start` itself when it is a folder; the working
// directory when `start` is empty or its folder is gone), with a file's name in the name field.
void start_browsing(FileBrowser& b, BrowseFor purpose, const std::filesystem::path& start);

// Lists `dir` (a refused folder leaves the listing as it was, with the reason in b.error).
void enter_folder(FileBrowser& b, const std::filesystem::path& dir);

// What "Open" / "Save" would take now: the typed name when there is one, else the selected entry, else (for
// Results) the folder shown.
std::filesystem::path current_choice(const FileBrowser& b);

}  // namespace ihc::gui
