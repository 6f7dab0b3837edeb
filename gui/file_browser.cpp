#include "gui/file_browser.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <system_error>

#include "imaging/slide.hpp"
#include "models/text.hpp"

namespace ihc::gui {

namespace fs = std::filesystem;

namespace {

bool is_results_file(const std::string& name) {
  return name == "cells.geojson" || name == "cells.csv" || name == "slide.json";
}

}  // namespace

bool offered(const fs::path& name, BrowseFor purpose) {
  switch (purpose) {
    case BrowseFor::Slide:
      return has_slide_extension(name);
    case BrowseFor::Results:
      return is_results_file(name.filename().string());
    case BrowseFor::LoadParams:
    case BrowseFor::SaveParams: {
      const std::string ext = ascii_lower(name.extension().string());
      return ext == ".params" || ext == ".txt";
    }
  }
  return false;
}

FolderListing list_folder(const fs::path& dir, BrowseFor purpose, bool all_files) {
  FolderListing out;
  std::error_code ec;
  out.dir = fs::absolute(dir, ec).lexically_normal();
  if (ec) out.dir = dir;
  // "/a/b/" normalises to "/a/b/"; the folder's own name reads better without the trailing separator.
  if (out.dir.has_relative_path() && out.dir.filename().empty()) out.dir = out.dir.parent_path();
  fs::directory_iterator it(out.dir, fs::directory_options::skip_permission_denied, ec);
  if (ec) {
    out.error = out.dir.string() + ": cannot be listed: " + ec.message();
    return out;
  }
  for (const fs::directory_iterator end; it != end; it.increment(ec)) {
    if (ec) break;
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    std::error_code ec2;
    const bool dir_entry = it->is_directory(ec2);  // follows links: a linked folder is entered
    if (ec2) continue;
    BrowserEntry e;
    e.name = name;
    e.is_dir = dir_entry;
    if (!dir_entry) {
      if (!all_files && !offered(it->path(), purpose)) continue;
      e.size = it->file_size(ec2);
      if (ec2) e.size = 0;
    }
    out.entries.push_back(std::move(e));
  }
  if (ec) {
    out.entries.clear();
    out.error = out.dir.string() + ": cannot be listed: " + ec.message();
    return out;
  }
  std::sort(out.entries.begin(), out.entries.end(), [](const BrowserEntry& a, const BrowserEntry& b) {
    if (a.is_dir != b.is_dir) return a.is_dir;
    const std::string la = ascii_lower(a.name), lb = ascii_lower(b.name);
    return la != lb ? la < lb : a.name < b.name;
  });
  return out;
}

fs::path resolve_typed(const fs::path& dir, const std::string& typed) {
  const auto first = typed.find_first_not_of(" \t");
  if (first == std::string::npos) return {};
  const std::string t = typed.substr(first, typed.find_last_not_of(" \t") - first + 1);
  fs::path p;
  if (t == "~" || t.rfind("~/", 0) == 0) {
    const char* home = std::getenv("HOME");
    p = fs::path(home ? home : "/") / t.substr(t.size() > 1 ? 2 : 1);
  } else if (fs::path(t).is_absolute()) {
    p = t;
  } else {
    p = dir / t;
  }
  p = p.lexically_normal();
  if (p.has_relative_path() && p.filename().empty()) p = p.parent_path();
  return p;
}

std::string check_choice(const fs::path& path, BrowseFor purpose) {
  if (path.empty()) return "no file chosen";
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  const bool exists = fs::exists(st);
  switch (purpose) {
    case BrowseFor::Slide:
    case BrowseFor::LoadParams:
      if (!exists) return path.string() + ": no such file";
      if (fs::is_directory(st)) return path.string() + ": is a folder, not a file";
      return "";
    case BrowseFor::Results:
      if (!exists) return path.string() + ": no such folder";
      if (!fs::is_directory(st)) return path.string() + ": is a file, not a results folder";
      if (!fs::exists(path / "cells.geojson", ec) && !fs::exists(path / "cells.csv", ec)) {
        return path.string() +
               ": not a results folder (no cells.geojson or cells.csv; ihcscore score writes them in "
               "OUT/slides/<id>)";
      }
      return "";
    case BrowseFor::SaveParams: {
      if (exists && fs::is_directory(st)) return path.string() + ": is a folder, not a file";
      const fs::path parent = path.parent_path();
      if (!parent.empty() && !fs::is_directory(parent, ec)) return parent.string() + ": no such folder";
      return "";
    }
  }
  return "";
}

std::string size_label(std::uintmax_t bytes) {
  static constexpr const char* kUnits[] = {"KB", "MB", "GB", "TB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double v = static_cast<double>(bytes) / 1024.0;
  int u = 0;
  while (v >= 1024.0 && u < 3) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), v < 10.0 ? "%.1f %s" : "%.0f %s", v, kUnits[u]);
  return buf;
}

void start_browsing(FileBrowser& b, BrowseFor purpose, const fs::path& start) {
  b.purpose = purpose;
  b.visible = true;
  b.opening = true;
  b.focus_name = true;
  b.name_active = false;
  b.replace.clear();
  b.selected = -1;
  b.error.clear();
  b.typed.clear();
  std::error_code ec;
  fs::path dir = start;
  if (!start.empty() && !fs::is_directory(start, ec)) {
    dir = start.parent_path();
    if (purpose == BrowseFor::SaveParams) b.typed = start.filename().string();
  }
  if (dir.empty() || !fs::is_directory(dir, ec)) dir = fs::current_path(ec);
  b.listing = list_folder(dir, purpose, b.all_files);
}

void enter_folder(FileBrowser& b, const fs::path& dir) {
  FolderListing l = list_folder(dir, b.purpose, b.all_files);
  if (!l.error.empty()) {
    b.error = l.error;
    return;
  }
  b.listing = std::move(l);
  b.selected = -1;
  b.error.clear();
  b.focus_name = true;  // a folder typed and entered: the next thing typed is a name in it
}

fs::path current_choice(const FileBrowser& b) {
  if (fs::path typed = resolve_typed(b.listing.dir, b.typed); !typed.empty()) return typed;
  if (b.selected >= 0 && b.selected < static_cast<int>(b.listing.entries.size())) {
    const BrowserEntry& e = b.listing.entries[static_cast<std::size_t>(b.selected)];
    // A results folder is picked by its folder; one of its files stands for the folder shown.
    if (b.purpose == BrowseFor::Results) return e.is_dir ? b.listing.dir / e.name : b.listing.dir;
    if (!e.is_dir) return b.listing.dir / e.name;
  }
  if (b.purpose == BrowseFor::Results) return b.listing.dir;
  return {};
}

}  // namespace ihc::gui
