#include "models/results_link.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <system_error>
#include <utility>

#include "models/atomic_file.hpp"
#include "models/text.hpp"

namespace ihc {
namespace fs = std::filesystem;

namespace {

// A name safe as a folder name on every file system the output may live on.
std::string folder_safe(const std::string& name) {
  std::string id = as_utf8(name);  // a Latin-1 name from a Windows share
  for (auto& c : id) {
    if (c == '/' || c == '\\' || c == ':' || c == '*' || c == '?' || c == '"' || c == '<' || c == '>' ||
        c == '|' || static_cast<unsigned char>(c) < 32) {
      c = '_';
    }
  }
  return id;
}

}  // namespace

std::string results_id(const fs::path& slide) {
  fs::path stem = slide.stem();
  if (ascii_lower(stem.extension().string()) == ".ome") stem = stem.stem();
  std::string id = folder_safe(stem.string());
  if (id.empty() || id == "." || id == "..") id = "image";
  return id;
}

std::string results_id_with_folder(const fs::path& slide) {
  std::error_code ec;
  const fs::path file = fs::absolute(slide, ec);
  const std::string name = folder_safe(file.lexically_normal().parent_path().filename().string());
  if (name.empty()) return results_id(slide);  // a file in the root folder
  return name + "_" + results_id(slide);
}

std::optional<FileStamp> file_stamp(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return std::nullopt;
  return FileStamp{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
                   static_cast<std::int64_t>(st.st_size),
                   static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec};
}

std::string file_identity(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) == 0) return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  std::error_code ec;
  const fs::path canon = fs::weakly_canonical(fs::absolute(p), ec);
  return ec ? p.string() : canon.string();
}

EarlierResults earlier_results(const fs::path& dir) {
  EarlierResults r;
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    std::error_code e2;
    if (!it->is_directory(e2)) continue;
    // Without slide.json (or a review) a folder holds no results, an interrupted slide's: free for anyone.
    // With one that cannot be read its id stays taken, its slide unknown, unless a redo named it.
    if (!fs::exists(it->path() / "slide.json", e2) && !fs::exists(it->path() / "review.json", e2)) continue;
    const std::string id = it->path().filename().string();
    r.ids.insert(ascii_lower(id));
    try {
      SlideRecord rec;
      try {
        rec = read_slide_json(it->path() / "slide.json");
      } catch (const ResultsError& e) {
        if (!fs::exists(it->path() / "slide.json", e2)) throw;
        rec = read_slide_json_source(it->path() / "slide.json");  // its slide is scored again there
        r.unreadable.push_back(e.what());
      }
      const fs::path source = results_source(it->path(), rec);
      if (!source.empty()) r.id_by_file.emplace(file_identity(source), id);
      if (!source.empty() && rec.source_size > 0) {
        r.id_by_moved.emplace(
            moved_slide_key(source.filename().string(), rec.source_size, rec.source_mtime_ns),
            EarlierResults::Moved{id, source, rec.source_fingerprint, !file_stamp(source)});
      }
    } catch (const std::exception&) {
      try {
        SlideRecord redo;
        redo.source = read_file(it->path() / kRedoSourceFile);
        if (!redo.source.empty()) r.id_by_file.emplace(file_identity(results_source(it->path(), redo)), id);
      } catch (const std::exception&) {
      }
    }
  }
  return r;
}

std::string file_fingerprint(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::error_code ec;
  const auto size = fs::file_size(p, ec);
  if (!in || ec) return "";
  constexpr std::uintmax_t kPart = 1 << 20;
  std::uint64_t h = kFnv1aBasis;
  std::vector<char> buf(kPart);
  auto hash_part = [&](std::uintmax_t offset, std::uintmax_t n) {
    in.seekg(static_cast<std::streamoff>(offset));
    in.read(buf.data(), static_cast<std::streamsize>(n));
    h = fnv1a(std::string_view(buf.data(), static_cast<std::size_t>(in.gcount())), h);
    return in.gcount() == static_cast<std::streamsize>(n);
  };
  // The first MiB, then the last (or what follows the first when the file is shorter than two).
  const std::uintmax_t head = std::min(size, kPart), tail = std::min(size - head, kPart);
  if (!hash_part(0, head) || (tail > 0 && !hash_part(size - tail, tail))) return "";
  char text[40];
  std::snprintf(text, sizeof text, "%ju:%016llx", size, static_cast<unsigned long long>(h));
  return text;
}

std::string moved_slide_key(const std::string& file_name, std::int64_t size, std::int64_t mtime_ns) {
  return file_name + "\n" + std::to_string(size) + "\n" + std::to_string(mtime_ns);
}

namespace {

// Path components two paths share from the end: 2 for in/caseA/slide1.bmp and out/caseA/slide1.bmp.
int shared_trailing_components(const fs::path& a, const fs::path& b) {
  const fs::path na = a.lexically_normal(), nb = b.lexically_normal();
  const std::vector<fs::path> pa(na.begin(), na.end()), pb(nb.begin(), nb.end());
  int n = 0;
  for (auto ia = pa.rbegin(), ib = pb.rbegin(); ia != pa.rend() && ib != pb.rend() && *ia == *ib; ++ia, ++ib)
    ++n;
  return n;
}

}  // namespace

std::string results_id_of_relative(const fs::path& relative) {
  std::string id;
  for (const auto& part : relative.lexically_normal().parent_path()) {
    const std::string name = folder_safe(part.string());
    if (name.empty() || name == "." || name == ".." || name == "_") continue;
    id += name + "_";
  }
  return id + results_id(relative);
}

std::string results_id_among(const EarlierResults& earlier, const fs::path& slide,
                             const std::set<std::string>& taken, const std::string& base_id) {
  const auto own = earlier.id_by_file.find(file_identity(slide));
  if (own != earlier.id_by_file.end() && !taken.count(ascii_lower(own->second))) return own->second;
  if (const auto st = file_stamp(slide)) {
    // Moved, copied or mounted elsewhere: the same content (or, for folders of before fingerprints, a source
    // no longer there), then the folder whose source path ends most like this one ("caseA/slide1.bmp" beside
    // "caseB/slide1.bmp" after their folder was renamed); a tie names no one.
    const auto [first, last] =
        earlier.id_by_moved.equal_range(moved_slide_key(slide.filename().string(), st->size, st->mtime_ns));
    std::string fingerprint;
    const std::string* best = nullptr;
    int best_shared = -1;
    bool tie = false;
    for (auto it = first; it != last; ++it) {
      const EarlierResults::Moved& m = it->second;
      if (taken.count(ascii_lower(m.id))) continue;
      if (!m.fingerprint.empty()) {
        if (fingerprint.empty()) fingerprint = file_fingerprint(slide);
        if (fingerprint != m.fingerprint) continue;
      } else if (!m.gone) {
        continue;  // another file of the same name, size and time, and its own slide still there
      }
      const int shared = shared_trailing_components(m.source, slide);
      if (shared > best_shared) {
        best = &m.id;
        best_shared = shared;
        tie = false;
      } else if (shared == best_shared) {
        tie = true;
      }
    }
    if (best != nullptr && !tie) return *best;
  }
  const std::string base = base_id.empty() ? results_id(slide) : base_id;
  std::string id = base;
  for (int k = 2; taken.count(ascii_lower(id)) || earlier.ids.count(ascii_lower(id)); ++k)
    id = base + "-" + std::to_string(k);
  return id;
}

namespace {

// The folder as written, without a trailing separator ("out/slides/a/" names "a").
fs::path tidy(const fs::path& dir) {
  fs::path d = dir.lexically_normal();
  if (!d.empty() && d.filename().empty()) d = d.parent_path();
  return d;
}

// "a" or "a-<digits>": the ids the batch gives the inputs named like `id`.
bool numbered_id(const std::string& name, const std::string& id) {
  if (ascii_lower(name) == ascii_lower(id)) return true;
  if (name.size() <= id.size() + 1 || ascii_lower(name.substr(0, id.size())) != ascii_lower(id) ||
      name[id.size()] != '-')
    return false;
  return std::all_of(name.begin() + static_cast<std::ptrdiff_t>(id.size()) + 1, name.end(),
                     [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

fs::path results_root(const fs::path& results_dir) {
  const fs::path d = tidy(fs::absolute(results_dir));
  if (d.parent_path().filename() == "slides") return d.parent_path().parent_path();
  return d.parent_path();
}

namespace {

// A path slide.json recorded as given on the batch's command line.
fs::path resolve_recorded(const fs::path& results_dir, const std::string& recorded) {
  if (recorded.empty()) return {};
  const fs::path src(recorded);
  if (src.is_absolute()) return src.lexically_normal();
  fs::path base = fs::current_path();
  const fs::path run = results_root(results_dir) / "run.json";
  std::error_code ec;
  if (fs::is_regular_file(run, ec)) {
    try {
      const auto j = nlohmann::json::parse(read_file(run));
      const std::string wd = j.value("working_directory", "");
      if (!wd.empty()) base = wd;
    } catch (const std::exception&) {
      // An unreadable run.json leaves the current directory as the guess.
    }
  }
  return (base / src).lexically_normal();
}

}  // namespace

fs::path results_source(const fs::path& results_dir, const SlideRecord& rec) {
  return resolve_recorded(results_dir, rec.source);
}

fs::path results_roi(const fs::path& results_dir, const SlideRecord& rec) {
  if (rec.roi == kDrawnInViewer) return {};
  return resolve_recorded(results_dir, rec.roi);
}

RecordedRois load_recorded_rois(const fs::path& results_dir, const SlideRecord& rec) {
  RecordedRois r;
  r.file = results_roi(results_dir, rec);
  if (r.file.empty()) return r;
  try {
    r.annotations = load_geojson_annotations(r.file.string()).annotations;
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  return r;
}

std::string results_mismatch(const fs::path& results_dir, const SlideRecord& rec, std::int64_t width,
                             std::int64_t height, const fs::path& slide) {
  if (rec.width > 0 && rec.height > 0 && (rec.width != width || rec.height != height)) {
    const std::string from = rec.source.empty() ? rec.image : fs::path(rec.source).filename().string();
    return tidy(results_dir).string() + ": the cells were detected on " + from + " (" +
           std::to_string(rec.width) + " x " + std::to_string(rec.height) + " px), not on this slide (" +
           std::to_string(width) + " x " + std::to_string(height) + " px)";
  }
  if (slide.empty() || rec.source_size <= 0) return {};
  std::error_code ec;
  const fs::path src = results_source(results_dir, rec);
  if (src.empty() || !fs::is_regular_file(src, ec) || fs::equivalent(src, slide, ec)) return {};
  const auto bytes = fs::file_size(slide, ec);
  if (ec || static_cast<std::int64_t>(bytes) == rec.source_size) return {};
  return tidy(results_dir).string() + ": the cells were detected on " + src.string() + " (" +
         std::to_string(rec.source_size) + " bytes), another image than " + slide.filename().string() + " (" +
         std::to_string(bytes) + " bytes) of the same size in pixels";
}

bool results_belong_to(const fs::path& results_dir, const SlideRecord& rec, const fs::path& slide) {
  const fs::path src = results_source(results_dir, rec);
  if (src.empty()) return false;
  std::error_code ec;
  if (fs::equivalent(src, slide, ec)) return true;
  if (src.filename() != slide.filename() || rec.source_size <= 0) return false;
  const auto size = fs::file_size(slide, ec);
  return !ec && static_cast<std::int64_t>(size) == rec.source_size;
}

std::vector<fs::path> find_results(const fs::path& slide, const std::vector<fs::path>& roots) {
  const std::string id = results_id(slide);
  std::vector<std::pair<fs::file_time_type, fs::path>> found;
  std::vector<fs::path> seen;
  for (const fs::path& root : roots) {
    for (const fs::path& folder : {root / "slides", root}) {
      std::error_code ec;
      fs::directory_iterator it(folder, ec), end;
      for (; !ec && it != end; it.increment(ec)) {
        const fs::path dir = it->path();
        const fs::path record = dir / "slide.json";
        std::error_code e2;
        if (!numbered_id(dir.filename().string(), id) || !fs::is_regular_file(record, e2)) continue;
        const fs::path canon = fs::weakly_canonical(dir, e2);
        if (std::find(seen.begin(), seen.end(), canon) != seen.end()) continue;
        seen.push_back(canon);
        try {
          if (!results_belong_to(dir, read_slide_json(record), slide)) continue;
        } catch (const std::exception&) {
          continue;  // a half-written or foreign slide.json is not this slide's result
        }
        found.emplace_back(fs::last_write_time(record, e2), dir);
      }
    }
  }
  std::stable_sort(found.begin(), found.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<fs::path> out;
  out.reserve(found.size());
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

bool same_summary_row(ScoreRow current, const ScoreRow& batch_row) {
  current.image = batch_row.image;
  return summary_csv({current}, ColumnNames::QuPath) == summary_csv({batch_row}, ColumnNames::QuPath);
}

bool rescored_since_summary(const fs::path& results_dir, const SlideRecord& rec) {
  const fs::path d = tidy(fs::absolute(results_dir));
  if (d.parent_path().filename() != "slides") return false;
  const fs::path summary = d.parent_path().parent_path() / "summary.csv";
  std::error_code ec;
  if (!fs::is_regular_file(summary, ec)) return false;
  try {
    for (const ScoreRow& row : read_summary_csv(summary)) {
      if (row.image == d.filename().string()) return !same_summary_row(rec.total, row);
    }
  } catch (const std::exception&) {
  }
  return false;
}

}  // namespace ihc
