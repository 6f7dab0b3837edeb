#include "cli/batch.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <system_error>

#include "imaging/slide.hpp"
#include "models/results_link.hpp"
#include "models/text.hpp"

namespace ihc::cli {

namespace fs = std::filesystem;

namespace {

enum class Kind { Image, Text, Other };

// Netpbm (P1-P6, which OpenCV reads): "P", a digit, whitespace. Its header is text, so without this a PPM
// given on the command line was read as a list of paths.
bool netpbm_magic(const unsigned char* b, std::size_t n) {
  return n >= 3 && b[0] == 'P' && b[1] >= '1' && b[1] <= '6' &&
         (b[2] == ' ' || b[2] == '\n' || b[2] == '\r' || b[2] == '\t');
}

// BMP: "BM", the file size, then two reserved 16-bit fields that are zero. "BM" alone also starts a list of
// paths such as "BM-slides/a.svs".
bool bmp_magic(const unsigned char* b, std::size_t n) {
  return n >= 14 && b[0] == 'B' && b[1] == 'M' && b[6] == 0 && b[7] == 0 && b[8] == 0 && b[9] == 0;
}

// Image by magic bytes, text when the start looks like text (UTF-8, no control bytes).
Kind sniff(const fs::path& path, bool* readable) {
  std::ifstream in(path, std::ios::binary);
  *readable = static_cast<bool>(in);
  if (!in) return Kind::Other;
  unsigned char b[132] = {};
  in.read(reinterpret_cast<char*>(b), sizeof(b));
  const auto n = static_cast<std::size_t>(in.gcount());
  auto starts = [&](std::initializer_list<unsigned char> m) {
    return n >= m.size() && std::equal(m.begin(), m.end(), b);
  };
  if (starts({'I', 'I', 42, 0}) || starts({'M', 'M', 0, 42}) || starts({'I', 'I', 43, 0}) ||
      starts({'M', 'M', 0, 43}) || starts({0xFF, 0xD8, 0xFF}) || starts({0x89, 'P', 'N', 'G'}) ||
      bmp_magic(b, n) || starts({0, 0, 0, 0x0C, 'j', 'P'}) || starts({0xFF, 0x4F, 0xFF, 0x51}) ||
      netpbm_magic(b, n)) {
    return Kind::Image;
  }
  if (n >= 132 && std::memcmp(b + 128, "DICM", 4) == 0) return Kind::Image;
  if (n == 0) return Kind::Other;
  // Text: a longer look so a binary file with a text-like start is not taken for a list.
  in.clear();
  in.seekg(0);
  std::string head(4096, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<std::size_t>(in.gcount()));
  return looks_like_text(head) ? Kind::Text : Kind::Other;
}

// Why nothing can be read at `p`: "Too many levels of symbolic links" for a loop, a dangling link's target,
// else "no such file or directory".
std::string why_missing(const fs::path& p) {
  std::error_code ec, lec;
  (void)fs::status(p, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) return ec.message();
  if (fs::is_symlink(fs::symlink_status(p, lec)))
    return "a symbolic link to " + fs::read_symlink(p, lec).string() + ", which does not exist";
  return "no such file or directory";
}

// A line of a list of paths.
struct ListLine {
  int n = 0;         // line number
  fs::path path;     // resolved against the list's folder
  std::string text;  // as written, trimmed
};

// A list's line that names a file: a slide or image extension, or a path with a separator and no table
// delimiter ("/mnt/x/a.vsi", but not "P1,12/03/2020").
bool looks_like_path(const std::string& line, const fs::path& p) {
  if (has_slide_extension(p)) return true;
  return line.find_first_of("/\\") != std::string::npos && line.find_first_of(",;\t") == std::string::npos;
}

class Collector {
 public:
  explicit Collector(const EarlierResults& earlier) : earlier_(earlier) {}
  CollectedInputs result;

  // A slide found in a given folder is named by its path below it ("NPC001/DSG2.svs" -> "NPC001_DSG2"), so
  // a folder per patient names the patient, as a researcher joining the Image column to clinical data needs,
  // whatever else the batch holds. Slides given by name (or in a list) of one name in several folders are
  // told apart by their folders' names ("caseA_slide", "caseB_slide"; "slide-2" said nothing of which was
  // which), and so is a new one whose name an earlier run's slide has. Of one name in one folder (x.png
  // beside x.tif) they are "x", "x-2". A slide scored before keeps its id (results_id_among).
  void assign_ids() {
    std::map<std::string, std::set<std::string>> folders_by_id;  // lower-case plain id -> qualified ids
    for (const auto& item : result.items) {
      folders_by_id[ascii_lower(results_id(item.path))].insert(
          ascii_lower(results_id_with_folder(item.path)));
    }
    for (std::size_t i = 0; i < result.items.size(); ++i) {
      InputItem& item = result.items[i];
      const std::string plain = ascii_lower(results_id(item.path));
      std::string base;
      if (below_folder_[i].has_parent_path()) {
        base = results_id_of_relative(below_folder_[i]);
      } else if (folders_by_id[plain].size() > 1 || earlier_.ids.count(plain) > 0) {
        base = results_id_with_folder(item.path);
      }
      item.id = results_id_among(earlier_, item.path, ids_, base);
      ids_.insert(ascii_lower(item.id));  // case-insensitive: output folders may live on such file systems
    }
  }

  void add_input(const fs::path& p, bool from_folder, int depth) {
    std::error_code ec;
    const auto st = fs::status(p, ec);
    if (ec || !fs::exists(st)) {
      problem(p, "input", p.string() + ": " + why_missing(p), true);
      return;
    }
    if (fs::is_directory(st)) {
      add_folder(p);
      return;
    }
    if (!fs::is_regular_file(st)) {
      problem(p, from_folder ? "skipped" : "input", p.string() + ": not a regular file", !from_folder);
      return;
    }
    bool readable = false;
    const Kind kind = sniff(p, &readable);
    if (!readable) {
      problem(p, "input", p.string() + ": cannot be read: " + std::strerror(errno), true);
      return;
    }
    const bool named_image = has_slide_extension(p);
    if (kind == Kind::Image || named_image) {
      add_item(p);  // broken ones fail when opened, with the reader's reason
      return;
    }
    if (kind == Kind::Text && !from_folder) {
      // A list that names itself (or a list naming it back) was read again at every level: hundreds of
      // FAILED rows of the list's own name. Each list is read once.
      const auto [first, added] = lists_read_.emplace(file_identity(p), p);
      if (!added) {
        const std::string what = first->second == p
                                     ? "this list was read already"
                                     : "the same list as " + first->second.string() + ", read already";
        problem(p, "skipped", p.string() + ": " + what + " (a list is read once)", false);
        return;
      }
      if (depth > 4) {
        problem(p, "input", p.string() + ": lists of lists nested too deeply", true);
        return;
      }
      add_list(p, depth);
      return;
    }
    // Not an image by name or magic: a slide format may still open (chosen by what opens).
    try {
      open_slide(p);
      add_item(p);
    } catch (const std::exception& e) {
      if (from_folder) {
        problem(p, "skipped", p.string() + ": not a slide or image", false);
      } else {
        problem(p, "input", e.what(), true);
      }
    }
  }

 private:
  const EarlierResults& earlier_;
  std::map<std::string, fs::path> seen_files_;  // file identity -> the input that first named it
  std::map<std::string, fs::path> lists_read_;  // file identity -> the path it was first read by
  std::set<std::string> ids_;
  fs::path walking_;                    // the given folder being searched, else empty
  std::vector<fs::path> below_folder_;  // per item: its path below the given folder it was found in, or empty

  void problem(const fs::path& p, const std::string& stage, const std::string& message, bool failure) {
    result.problems.push_back({p, stage, message, failure});
  }

  void add_item(const fs::path& p) {
    const std::string identity = file_identity(p);
    const auto [first, added] = seen_files_.emplace(identity, p);
    if (!added) {
      // Scored once: a second copy would only repeat the same cells under another id.
      const std::string what = first->second == p ? "given twice" : "same file as " + first->second.string();
      problem(p, "skipped", p.string() + ": " + what + " (scored once)", false);
      result.problems.back().repeat = true;
      return;
    }
    result.items.push_back({p, ""});  // ids once every input is known: assign_ids
    below_folder_.push_back(walking_.empty() ? fs::path() : p.lexically_relative(walking_));
  }

  void add_folder(const fs::path& dir) {
    std::vector<fs::path> files;
    std::map<std::string, fs::path> searched;  // folder identity -> the path it was searched under
    walk_folder(dir, files, searched, true);
    std::sort(files.begin(), files.end());
    walking_ = dir;
    for (const auto& f : files) add_input(f, true, 0);
    walking_.clear();
  }

  // An output folder of ihcscore score: run.json beside slides/.
  static bool is_batch_output(const fs::path& dir) {
    std::error_code ec;
    return fs::exists(dir / "run.json", ec) && fs::is_directory(dir / "slides", ec);
  }
  // A batch's output folder or one slide's results (slide.json beside its cells): an output folder inside the
  // input folder (`score in -o in/out`) must not be scored on the next run, where its PNGs became slides
  // named "overlay" and "histogram".
  static bool is_results_folder(const fs::path& dir) {
    std::error_code ec;
    return is_batch_output(dir) ||
           (fs::exists(dir / "slide.json", ec) &&
            (fs::exists(dir / "cells.csv", ec) || fs::exists(dir / "cells.geojson", ec)));
  }
  // The files ihcscore score and reviewed write at the top of an output folder.
  static bool is_batch_table(const std::string& name) {
    static const std::set<std::string> kNames = {"run.json",
                                                 "summary.csv",
                                                 "summary_stats.csv",
                                                 "column_dictionary.csv",
                                                 "errors.tsv",
                                                 "regions.csv",
                                                 "regions_stats.csv",
                                                 "reviewed_summary.csv",
                                                 "reviewed_regions.csv",
                                                 "reviewed_summary_stats.csv",
                                                 "reviewed_regions_stats.csv"};
    return kNames.count(name) > 0;
  }

  // Every file under `dir`, following links to folders (slide folders are often linked in), each folder
  // searched once: a link back up the tree (or a second link to one folder) is noted and not entered, where
  // following it repeated every file until the path grew too long. Subfolders in name order, so the first
  // path of a folder reached twice is always the same one.
  void walk_folder(const fs::path& dir, std::vector<fs::path>& files,
                   std::map<std::string, fs::path>& searched, bool given) {
    const auto [first, added] = searched.emplace(file_identity(dir), dir);
    if (!added) {
      problem(dir, "skipped",
              dir.string() + ": a link to a folder already searched (" + first->second.string() + ")", false);
      return;
    }
    // A batch's output folder given itself as the input (`score in -o in`) is searched, all but its results.
    const bool own_output = given && is_batch_output(dir);
    if (!own_output && is_results_folder(dir)) {
      problem(dir, "skipped",
              dir.string() + ": an output folder of ihcscore (its images are results, not slides)", false);
      return;
    }
    std::vector<fs::path> folders;
    std::error_code ec;
    fs::directory_iterator it(dir, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      const fs::path p = it->path();
      const std::string name = p.filename().string();
      if (!name.empty() && name[0] == '.') continue;  // hidden files and folders, our own temporaries
      if (own_output && (name == "slides" || is_batch_table(name))) continue;
      std::error_code e2;
      if (it->is_directory(e2)) {
        // Vendor data folders (MIRAX) belong to their slide file.
        if (!fs::exists(p.string() + ".mrxs", e2)) folders.push_back(p);
        continue;
      }
      files.push_back(p);
    }
    if (ec) problem(dir, "input", dir.string() + ": cannot list folder: " + ec.message(), true);
    std::sort(folders.begin(), folders.end());
    for (const auto& f : folders) walk_folder(f, files, searched, false);
  }

  void add_list(const fs::path& list, int depth) {
    std::vector<ListLine> paths;
    if (!read_list(list, paths)) return;
    std::error_code ec;
    // No line names a file, and none looks like a slide's name: a table or note given by mistake
    // (clinical.csv). A list of slides on a disk not mounted keeps a FAILED row per slide.
    const bool not_paths = std::none_of(paths.begin(), paths.end(), [&](const auto& e) {
      return fs::exists(e.path, ec) || looks_like_path(e.text, e.path);
    });
    if (paths.size() > 1 && not_paths) {
      problem(list, "input",
              list.string() + ": not a list of slides: none of its " + std::to_string(paths.size()) +
                  " lines names a file (the first: '" + paths.front().text.substr(0, 60) + "')",
              true);
      return;
    }
    for (const auto& line : paths) {
      if (!fs::exists(line.path, ec)) {
        problem(line.path, "input",
                list.string() + ":" + std::to_string(line.n) + ": " + line.path.string() + ": " +
                    why_missing(line.path),
                true);
        continue;
      }
      add_input(line.path, false, depth + 1);
    }
  }

  // The paths of a list, relative ones resolved against the list's folder; false (a problem recorded) when it
  // has no line at all.
  bool read_list(const fs::path& list, std::vector<ListLine>& paths) {
    std::ifstream in(list);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
      ++n;
      if (n == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // UTF-8 byte order mark (Excel)
      if (!line.empty() && line.back() == '\r') line.pop_back();
      const auto a = line.find_first_not_of(" \t");
      if (a == std::string::npos || line[a] == '#') continue;
      const auto b = line.find_last_not_of(" \t");
      std::string text = line.substr(a, b - a + 1);
      // "C:\slides\a.svs" as Windows' Copy as path gives it, 'a b.svs' as a shell quotes it.
      if (text.size() >= 2 && (text.front() == '"' || text.front() == '\'') && text.back() == text.front())
        text = text.substr(1, text.size() - 2);
      fs::path p = text;
      if (p.is_relative()) p = list.parent_path() / p;
      // A relative path written on Windows ("sub\a.svs"): its separators, when that names a file here.
      if (text.find('\\') != std::string::npos && text.find('/') == std::string::npos &&
          text.find(':') == std::string::npos) {
        std::string unix_text = text;
        std::replace(unix_text.begin(), unix_text.end(), '\\', '/');
        std::error_code ec;
        const fs::path q = list.parent_path() / unix_text;
        if (!fs::exists(p, ec) && fs::exists(q, ec)) p = q;
      }
      paths.push_back({n, p, text});
    }
    if (n == 0) {
      problem(list, "input", list.string() + ": empty file (neither an image nor a list of paths)", true);
      return false;
    }
    if (paths.empty()) {  // given beside other inputs it added nothing, without a word
      problem(list, "input", list.string() + ": a list that names no file (only comments and blank lines)",
              true);
      return false;
    }
    return true;
  }
};

}  // namespace

bool looks_like_image(const fs::path& path) {
  if (has_slide_extension(path)) return true;
  bool readable = false;
  return sniff(path, &readable) == Kind::Image;
}

CollectedInputs collect_inputs(const std::vector<std::string>& inputs, const EarlierResults& earlier) {
  Collector c(earlier);
  for (const auto& in : inputs) c.add_input(fs::path(in), false, 0);
  c.assign_ids();
  return std::move(c.result);
}

}  // namespace ihc::cli
