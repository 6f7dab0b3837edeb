// ihcscore score: batch scoring of slides, images and folders into tables, QuPath GeoJSON and pictures.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "cli/batch.hpp"
#include "cli/cli_common.hpp"
#include "cli/commands.hpp"
#include "cli/progress.hpp"
#include "ihc/version.hpp"
#include "imaging/image_type.hpp"
#include "imaging/pipeline.hpp"
#include "imaging/slide_image.hpp"
#include "models/atomic_file.hpp"
#include "models/regions.hpp"
#include "models/results_io.hpp"
#include "models/scoring.hpp"
#include "models/text.hpp"

namespace ihc::cli {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void on_signal(int) { g_interrupted.store(true); }

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  // A signal ignored when the run started stays ignored: `nohup ihcscore score ... &` must outlive the
  // session (SIGHUP), and a script's background job is started with SIGINT ignored.
  auto handle_unless_ignored = [&sa](int sig) {
    struct sigaction old {};
    if (sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_IGN) return;
    sigaction(sig, &sa, nullptr);
  };
  handle_unless_ignored(SIGINT);
  sigaction(SIGTERM, &sa, nullptr);
  // A dropped ssh session: stop as for Ctrl-C (tables marked interrupted) instead of dying with them half.
  handle_unless_ignored(SIGHUP);
  // A closed log pipe (`ihcscore score ... | head`) must not kill an overnight batch: writes to it fail
  // instead, and the results are in OUT.
  signal(SIGPIPE, SIG_IGN);
}

// A status on one line, UTF-8 (a Latin-1 file name is read as Windows-1252).
std::string one_line(const std::string& text) {
  std::string s = as_utf8(text);
  for (auto& c : s) {
    if (c == '\t' || c == '\n' || c == '\r') c = ' ';
  }
  return s;
}

// The warnings of a scored slide worth a line on the terminal: slide.json keeps them all, but a batch's
// operator saw none ("--mpp 1 ignored: the file states 0.5 um/px", a pixel size that is a screen's dpi).
// Left out: what the Status column already says (no pixel size, image type) and the single-threshold note
// that every Ki-67 slide carries by design.
// The --roi file's warnings, kept in slide.json too, were printed once already (for the run, or before the
// slide with --roi FOLDER).
std::vector<std::string> terminal_warnings(const SlideRecord& record, const std::vector<std::string>& roi) {
  std::vector<std::string> out;
  for (const auto& w : record.warnings) {
    if (w.rfind("no pixel size in the file", 0) == 0 || w.rfind("image type:", 0) == 0 ||
        w.find("positive cells have no intensity grade (single threshold)") != std::string::npos ||
        std::find(roi.begin(), roi.end(), w) != roi.end()) {
      continue;
    }
    out.push_back(w);
  }
  return out;
}

// The first of the batch's own table names in `out` that holds someone else's file ("-o ." in a study folder
// with its own summary.csv or run.json), else "": ours are replaced without a word, theirs must not be.
std::string foreign_output(const fs::path& out) {
  std::error_code ec;
  if (fs::exists(out / "run.json", ec) && fs::file_size(out / "run.json", ec) > 0) {
    bool ours = false;
    try {
      const json j = json::parse(read_file(out / "run.json"));
      ours = j.is_object() && j.value("tool", "") == "ihcscore";
    } catch (const std::exception&) {
    }
    if (!ours) return "run.json";
  }
  for (const char* table : {"summary.csv", "summary_stats.csv"}) {
    if (!fs::exists(out / table, ec) || fs::file_size(out / table, ec) == 0) continue;
    std::string head;
    try {
      head = read_file(out / table).substr(0, 4096);
    } catch (const std::exception&) {
    }
    // Our header, however a spreadsheet saved it again (byte order mark, UTF-16, quotes, ';', a "sep=,"
    // line): its count and status columns. A study table that merely starts with "Image" (QuPath's
    // measurement export) has no Status.
    std::string text;
    for (const char c : head) {
      if (c != '\0' && c != '"') text += c;
    }
    std::string header;
    std::istringstream lines(text);
    while (std::getline(lines, header) && header.rfind("sep=", 0) == 0) {
    }
    const bool ours =
        (header.find("Num Detections") != std::string::npos && header.find("Status") != std::string::npos) ||
        (header.find("num_detections") != std::string::npos && header.find("status") != std::string::npos);
    if (!ours) return table;
  }
  return "";
}

// Per input: what happened, in input order.
struct Outcome {
  enum class State { Pending, Done, Reused, Failed } state = State::Pending;
  SlideRecord record;
  std::string stage;
  std::string message;
  double seconds = 0;
};

struct Options {
  std::vector<std::string> inputs;
  std::string out;
  std::string preset;
  std::string params_file;
  std::vector<std::string> sets;
  double mpp = 0;
  std::string roi;
  std::string roi_text;  // a --roi file's content, read once: parsed for the regions and hashed with the run
  std::vector<std::string>
      roi_warnings;         // the --roi file's (skipped features, repeated names), each naming it
  bool roi_folder = false;  // --roi names a folder of one file per slide
  // Inputs that are one image twice by content (copies under two patients' folders), each naming both.
  std::vector<std::string> input_warnings;
  int jobs = 0;
  bool resume = false;
  bool force = false;
  bool quiet = false;
  bool decode_only = false;
};

// The regions of one slide: the --roi file's for every slide, or with --roi FOLDER the slide's own file
// there.
struct SlideRois {
  fs::path file;     // empty: no ROI (whole slide)
  std::string text;  // the file's content, part of the slide's parameter hash
  std::vector<Annotation> annotations;
  std::vector<std::string> warnings;  // skipped features, each naming the file
  std::string error;                  // non-empty: the slide fails at stage "roi" with this message
  bool by_id = false;                 // the file is named after the slide's output id (unique in a run)
};

// QuPath's per-image export names a file after the image ("slide.svs.geojson") or its stem ("slide.geojson");
// the id comes first so that two inputs of one name in different folders can be told apart ("a-2.geojson").
SlideRois find_slide_rois(const fs::path& folder, const InputItem& item) {
  SlideRois r;
  const std::string name = item.path.filename().string();
  const std::string stem = item.path.stem().string();
  std::vector<std::string> tried;
  for (const std::string& base : {item.id, stem, name}) {
    const std::string candidate = base + ".geojson";
    if (std::find(tried.begin(), tried.end(), candidate) != tried.end()) continue;
    tried.push_back(candidate);
    std::error_code ec;
    if (fs::is_regular_file(folder / candidate, ec)) {
      r.file = folder / candidate;
      r.by_id = base == item.id;
      break;
    }
  }
  if (r.file.empty()) {
    std::string looked;
    for (const auto& t : tried) looked += (looked.empty() ? "" : ", ") + t;
    r.error = item.path.string() + ": no ROI file for this slide in " + folder.string() + " (looked for " +
              looked + ")";
    return r;
  }
  try {
    AnnotationSet set = load_geojson_annotations(r.file.string(), &r.text);
    r.annotations = std::move(set.annotations);
    r.warnings = std::move(set.warnings);
    if (r.annotations.empty()) r.error = r.file.string() + ": no polygon annotations to score in";
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  return r;
}

// One ROI file found for several slides (caseA/slide.svs and caseB/slide.tif both take slide.geojson, or
// x-2.geojson is b/x.tif's by id and c/x-2.svs's by name) scored each inside another's regions, exit 0. The
// slide it names by output id keeps it; the others fail, saying which name would be theirs.
void refuse_shared_roi_files(std::vector<SlideRois>& rois, const std::vector<InputItem>& items) {
  std::map<std::string, std::vector<std::size_t>> users;
  for (std::size_t i = 0; i < rois.size(); ++i) {
    if (!rois[i].file.empty()) users[rois[i].file.string()].push_back(i);
  }
  for (const auto& [file, slides] : users) {
    if (slides.size() < 2) continue;
    std::string names;
    for (std::size_t i : slides) names += (names.empty() ? "" : ", ") + items[i].path.string();
    for (std::size_t i : slides) {
      if (rois[i].by_id) continue;
      SlideRois& r = rois[i];
      r.error = items[i].path.string() + ": " + file + " matches " + std::to_string(slides.size()) +
                " slides (" + names + "); name this slide's file after its output id: " + items[i].id +
                ".geojson";
      r.file.clear();
      r.text.clear();
      r.annotations.clear();
      r.warnings.clear();
    }
  }
}

// The Status and errors.tsv message of a slide an interrupted run did not reach.
constexpr const char* kNotReached = "interrupted before it was scored; run again with --resume";

class Run {
 public:
  Run(Options o, ParamSet params, std::vector<Annotation> rois, CollectedInputs inputs,
      std::vector<std::string> argv)
      : o_(std::move(o)),
        params_(std::move(params)),
        rois_(std::move(rois)),
        inputs_(std::move(inputs)),
        argv_(std::move(argv)),
        out_(o_.out),
        outcomes_(inputs_.items.size()),
        slide_rois_(inputs_.items.size()),
        hashes_(inputs_.items.size()),
        detection_hashes_(inputs_.items.size()),
        hashes_own_mpp_(inputs_.items.size()),
        detection_hashes_own_mpp_(inputs_.items.size()),
        regrade_from_(inputs_.items.size()) {}

  int execute();

 private:
  // `interrupted`: the run stopped, so slides still pending get a row saying so (not a silent gap).
  void write_tables_locked(bool interrupted = false);
  // The same rows as the tables: run.json's `slides` and `counts` are what summary.csv and errors.tsv hold.
  void write_run_json_locked(const std::string& status, int exit_status, bool interrupted = false);
  // summary.csv's Image of each input that failed before it could be opened (a missing file of a list); ""
  // for a skipped file, which has no row.
  std::vector<std::string> problem_row_names() const;
  // The ROI file's warnings that apply to slide i: the --roi file's, or with --roi FOLDER its own file's.
  const std::vector<std::string>& roi_warnings_of(std::size_t i) const {
    return o_.roi_folder ? slide_rois_[i].warnings : o_.roi_warnings;
  }
  bool try_reuse(std::size_t i);
  SlideRecord score_or_regrade(ScoreSlideRequest& req, std::size_t i, Progress& progress);
  void score_one(std::size_t i, int threads, CoreBudget* cores, Progress& progress);

  Options o_;
  ParamSet params_;
  std::vector<Annotation> rois_;
  CollectedInputs inputs_;
  std::vector<std::string> argv_;
  fs::path out_;
  std::vector<Outcome> outcomes_;
  std::vector<SlideRois> slide_rois_;          // with --roi FOLDER
  std::vector<std::string> hashes_;            // per slide: parameters, --mpp and the slide's ROI file
  std::vector<std::string> detection_hashes_;  // the same without the grading parameters
  // Both as without --mpp: what a slide stating its own pixel size records and is compared with.
  std::vector<std::string> hashes_own_mpp_;
  std::vector<std::string> detection_hashes_own_mpp_;
  // --resume: a slide whose earlier results differ only in grading is regraded from them.
  std::vector<std::optional<SlideRecord>> regrade_from_;
  std::vector<std::string>
      notes_;             // why earlier results are not reused or regraded, printed with the progress
  std::string run_hash_;  // the run's: parameters, --mpp and the --roi file (not a folder's)
  std::string started_;
  std::mutex mu_;
};

// Complete results of the same slide: reused when their parameters are this run's; when they differ only in
// grading, the slide is regraded from them (no detection) instead of scored again.
bool Run::try_reuse(std::size_t i) {
  const InputItem& item = inputs_.items[i];
  const fs::path dir = out_ / "slides" / item.id;
  const fs::path json_path = dir / "slide.json";
  std::error_code ec;
  restore_set_aside_outputs(dir);  // a killed regrade's earlier results
  if (!fs::exists(json_path, ec)) return false;
  try {
    SlideRecord r = read_slide_json(json_path);
    const auto st = file_stamp(item.path);
    if (!st) return false;
    // The same file, or the same name, size and time: the slide's folder moved or is mounted elsewhere.
    const bool same_path = fs::weakly_canonical(r.source, ec) == fs::weakly_canonical(item.path, ec);
    if (r.source_size != st->size || r.source_mtime_ns != st->mtime_ns ||
        (!same_path && fs::path(r.source).filename() != item.path.filename())) {
      return false;
    }
    // Elsewhere, its content must be the one scored (slide.json of session 28 on records it).
    if (!same_path && !r.source_fingerprint.empty() && file_fingerprint(item.path) != r.source_fingerprint) {
      return false;
    }
    // Another version's results (cells or scores that a fix has changed since) are neither kept nor regraded.
    if (r.results_version != kResultsVersion) {
      notes_.push_back(item.id +
                       ": the earlier results were written by another version of ihcscore (results " +
                       "version " + std::to_string(r.results_version) + ", this one writes " +
                       std::to_string(kResultsVersion) + "; docs/cli.md): scoring the slide again");
      return false;
    }
    const bool own_mpp = mpp_from_file(r);
    const std::string& hash = own_mpp ? hashes_own_mpp_[i] : hashes_[i];
    const std::string& cells_hash = own_mpp ? detection_hashes_own_mpp_[i] : detection_hashes_[i];
    const bool same_cells = !r.detection_hash.empty() && r.detection_hash == cells_hash;
    for (const auto& f : r.files) {
      if (!fs::exists(dir / f, ec)) {
        if (same_cells || r.params_hash == hash)
          notes_.push_back(item.id + ": the earlier results lack " + f + ": detecting the cells again");
        return false;
      }
    }
    // A truncated or edited cell file is not complete results: --resume took a cells.csv cut to 1000 bytes
    // as complete.
    if (const auto changed = cell_file_size_change(dir, r.cells_files)) {
      notes_.push_back(item.id + ": " + changed->name + " is not the size slide.json recorded (" +
                       std::to_string(changed->size) + " bytes, not " + std::to_string(changed->recorded) +
                       "; cut short or edited): scoring the slide again");
      return false;
    }
    if (r.params_hash != hash) {
      if (same_cells) {
        regrade_from_[i] = std::move(r);
      } else if (r.detection_hash.empty()) {
        notes_.push_back(
            item.id +
            ": the earlier results were written before regrading was possible (no detection_hash "
            "in slide.json): detecting the cells again, once");
      }
      return false;
    }
    if (r.source != item.path.string()) {
      // Moved: slide.json names the file where it is now, for the viewer and the next run.
      r.source = item.path.string();
      write_file_atomic(json_path, slide_json_text(r));
    }
    outcomes_[i].state = Outcome::State::Reused;
    outcomes_[i].record = std::move(r);
    return true;
  } catch (const std::exception&) {
    return false;  // unreadable record: score again
  }
}

// A regrade that cannot read the earlier cells has changed nothing: the slide is detected again instead.
SlideRecord Run::score_or_regrade(ScoreSlideRequest& req, std::size_t i, Progress& progress) {
  if (regrade_from_[i]) {
    req.regrade_from = &*regrade_from_[i];
    try {
      return score_slide(req, params_);
    } catch (const RegradeUnavailable& e) {
      progress.message("note: " + inputs_.items[i].id + ": cannot regrade the earlier cells (" + e.what() +
                       "): detecting them again");
      req.regrade_from = nullptr;
    }
  }
  return score_slide(req, params_);
}

void Run::score_one(std::size_t i, int threads, CoreBudget* cores, Progress& progress) {
  const InputItem& item = inputs_.items[i];
  const auto t0 = std::chrono::steady_clock::now();
  progress.slide_started(static_cast<int>(i), item.id);
  ScoreSlideRequest req;
  req.input = item.path;
  req.image_id = item.id;
  req.out_dir = out_ / "slides" / item.id;
  req.mpp_override = o_.mpp;
  req.rois = rois_;
  req.roi_source = o_.roi;
  const SlideRois& own = slide_rois_[i];
  if (!own.file.empty() || !own.error.empty()) {
    // Printed under -q too: a warning, not progress (slide.json keeps them, below).
    for (const auto& w : own.warnings) progress.message("warning: " + w);
    req.rois = own.annotations;
    req.roi_source = own.file.string();
  }
  req.threads = threads;
  req.cores = cores;
  req.params_hash = hashes_[i];
  req.detection_hash = detection_hashes_[i];
  req.params_hash_own_mpp = hashes_own_mpp_[i];
  req.detection_hash_own_mpp = detection_hashes_own_mpp_[i];
  req.roi_warnings = roi_warnings_of(i);  // kept in slide.json (-q dropped them, and they scrolled away)
  req.cancel = &g_interrupted;
  req.decode_only = o_.decode_only;
  req.on_progress = [&progress, i](int done, int total) { progress.tiles(static_cast<int>(i), done, total); };
  Outcome out;
  const auto stamp_before = file_stamp(item.path);
  try {
    if (!own.error.empty()) throw PipelineError("roi", own.error);
    out.record = score_or_regrade(req, i, progress);
    out.state = Outcome::State::Done;
  } catch (const PipelineCancelled&) {
    return;  // stays Pending: not done, not failed
  } catch (const PipelineError& e) {
    out.state = Outcome::State::Failed;
    out.stage = e.stage();
    out.message = e.what();
  } catch (const FileError& e) {
    // An output written while cells stream in (cells.csv, cells.geojson) fails inside detection: a full
    // disk is a write failure, not an internal one.
    out.state = Outcome::State::Failed;
    out.stage = "write";
    out.message = e.what();  // names the file written, as the pipeline's own write errors do
  } catch (const std::exception& e) {
    out.state = Outcome::State::Failed;
    out.stage = "internal";
    out.message = item.path.string() + ": " + e.what();
  }
  if (g_interrupted.load()) return;
  if (out.state == Outcome::State::Failed && stamp_before) {
    // A slide copied over or deleted mid-run fails on a tile ("Not a JPEG file"): say what happened.
    if (const auto stamp_after = file_stamp(item.path); !stamp_after) {
      out.message += " (the file was removed while it was scored)";
    } else if (stamp_after != stamp_before) {
      out.message += " (the file changed while it was scored)";
    }
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const bool failed = out.state == Outcome::State::Failed;
  const std::string status = failed ? one_line(out.message)
                             : out.record.regraded
                                 ? out.record.status + " (regraded, cells not detected again)"
                                 : out.record.status;
  {
    std::lock_guard<std::mutex> lock(mu_);
    outcomes_[i] = std::move(out);
    try {
      write_tables_locked();
    } catch (const std::exception& e) {
      progress.message(std::string("warning: cannot update the summary: ") + e.what());
    }
  }
  progress.slide_finished(static_cast<int>(i), item.id, failed, status, outcomes_[i].seconds);
  if (!failed) {
    for (const auto& w : terminal_warnings(outcomes_[i].record, roi_warnings_of(i)))
      progress.message("warning: " + item.id + ": " + w);
  }
}

void Run::write_tables_locked(bool interrupted) {
  std::vector<ScoreRow> rows, region_rows;
  std::string errors = "slide\tstage\tmessage\n";
  for (const auto& p : inputs_.problems) {
    errors += tsv_field(p.path.string()) + "\t" + p.stage + "\t" + tsv_field(p.message) + "\n";
  }
  for (std::size_t i = 0; i < outcomes_.size(); ++i) {
    const Outcome& o = outcomes_[i];
    const InputItem& item = inputs_.items[i];
    if (o.state == Outcome::State::Done || o.state == Outcome::State::Reused) {
      rows.push_back(o.record.total);
      for (const auto& r : o.record.regions) region_rows.push_back(r);
    } else if (o.state == Outcome::State::Failed || interrupted) {
      const bool failed = o.state == Outcome::State::Failed;
      const std::string stage = failed ? o.stage : "interrupted";
      const std::string why = failed ? one_line(o.message) : kNotReached;
      ScoreRow r;
      r.image = item.id;
      r.status = "FAILED: " + why;
      rows.push_back(r);
      errors += tsv_field(item.path.string()) + "\t" + stage + "\t" + tsv_field(why) + "\n";
    }
  }
  // An input that could not even be opened (a missing file of a list, a dangling link) is a slide of the
  // study all the same: a table without its row would lose it silently.
  const std::vector<std::string> names = problem_row_names();
  for (std::size_t k = 0; k < inputs_.problems.size(); ++k) {
    if (!inputs_.problems[k].failure) continue;
    ScoreRow r;
    r.image = names[k];
    r.status = "FAILED: " + one_line(inputs_.problems[k].message);
    rows.push_back(r);
  }
  write_file_atomic(out_ / "summary.csv", summary_csv(rows, ColumnNames::QuPath));
  write_file_atomic(out_ / "summary_stats.csv", summary_csv(rows, ColumnNames::Stats));
  if (!o_.roi.empty()) {
    write_file_atomic(out_ / "regions.csv", summary_csv(region_rows, ColumnNames::QuPath, true));
    write_file_atomic(out_ / "regions_stats.csv", summary_csv(region_rows, ColumnNames::Stats, true));
  }
  write_file_atomic(out_ / "errors.tsv", errors);
}

std::vector<std::string> Run::problem_row_names() const {
  // Named with its extension, which keeps it apart from the slides' ids; by its path when that name is taken.
  std::vector<std::string> names(inputs_.problems.size());
  std::set<std::string> taken;
  for (const auto& item : inputs_.items) taken.insert(item.id);
  for (std::size_t k = 0; k < names.size(); ++k) {
    const InputProblem& p = inputs_.problems[k];
    if (!p.failure) continue;
    names[k] = p.path.filename().string();
    if (taken.count(names[k]) > 0) names[k] = p.path.string();
    taken.insert(names[k]);
  }
  return names;
}

void Run::write_run_json_locked(const std::string& status, int exit_status, bool interrupted) {
  json j;
  j["tool"] = "ihcscore";
  j["version"] = kVersion;
  j["command_line"] = argv_;
  std::error_code ec;
  j["working_directory"] = fs::current_path(ec).string();
  j["status"] = status;
  if (exit_status >= 0) j["exit_status"] = exit_status;
  j["preset"] = o_.preset.empty() ? "dsg2 (default)" : o_.preset;
  j["params_file"] = o_.params_file;
  j["sets"] = o_.sets;
  j["mpp_override"] = o_.mpp > 0 ? json(o_.mpp) : json(nullptr);
  j["roi"] = o_.roi;
  j["parameters"] = params_.values();
  j["params_hash"] = run_hash_;
  j["openslide_version"] = openslide_version();
  j["opencv_version"] = opencv_version();
  j["started"] = started_;
  j["finished"] = status == "running" ? json(nullptr) : json(utc_now());
  // Each row of summary.csv, in its order: the inputs, then those that could not be opened.
  json slides = json::array();
  int n_detected = 0, n_failed = 0, n_reused = 0, n_regraded = 0, n_interrupted = 0;
  for (std::size_t i = 0; i < outcomes_.size(); ++i) {
    const Outcome& o = outcomes_[i];
    json s;
    s["image"] = inputs_.items[i].id;
    s["source"] = inputs_.items[i].path.string();
    if (!slide_rois_[i].file.empty()) s["roi"] = slide_rois_[i].file.string();
    switch (o.state) {
      case Outcome::State::Pending:
        s["state"] = interrupted ? "interrupted" : "not scored";
        if (interrupted) {
          s["stage"] = "interrupted";
          s["error"] = kNotReached;
          ++n_interrupted;
        }
        break;
      case Outcome::State::Done:
        s["state"] = o.record.regraded ? "regraded from the cells of an earlier run (--resume)" : "scored";
        ++(o.record.regraded ? n_regraded : n_detected);
        break;
      case Outcome::State::Reused:
        s["state"] = "complete from an earlier run (--resume)";
        ++n_reused;
        break;
      case Outcome::State::Failed:
        s["state"] = "failed";
        ++n_failed;
        break;
    }
    if (o.state == Outcome::State::Done || o.state == Outcome::State::Reused) {
      s["status"] = o.record.status;
      s["stains"] = o.record.stains;
      s["stains_source"] = o.record.stains_source;
      s["image_type"] = o.record.image_type;
      s["mpp"] = std::isfinite(o.record.mpp_x) ? json(o.record.mpp_x) : json(nullptr);
      s["mpp_source"] = o.record.mpp_source;
    } else if (o.state == Outcome::State::Failed) {
      s["stage"] = o.stage;
      s["error"] = o.message;
    }
    slides.push_back(s);
  }
  const std::vector<std::string> names = problem_row_names();
  int n_input_errors = 0, n_skipped = 0;
  for (std::size_t k = 0; k < inputs_.problems.size(); ++k) {
    const InputProblem& p = inputs_.problems[k];
    if (!p.failure) {
      ++n_skipped;
      continue;
    }
    ++n_input_errors;
    slides.push_back({{"image", names[k]},
                      {"source", p.path.string()},
                      {"state", "failed"},
                      {"stage", p.stage},
                      {"error", p.message}});
  }
  j["slides"] = slides;
  // As the console's last line: "N of M slides scored, F failed". `scored` is every slide with scores in the
  // tables, `detected` + `regraded` + `reused`; `failed` includes `input_errors`; `interrupted` are the
  // slides an interrupted run did not reach (their rows say so).
  j["counts"] = {{"inputs", slides.size()},
                 {"scored", n_detected + n_regraded + n_reused},
                 {"detected", n_detected},
                 {"regraded", n_regraded},
                 {"reused", n_reused},
                 {"failed", n_failed + n_input_errors},
                 {"interrupted", n_interrupted},
                 {"skipped_files", n_skipped},
                 {"input_errors", n_input_errors}};
  // The --roi file's warnings, each naming its file (with --roi FOLDER every slide's file's, once each).
  std::vector<std::string> roi_warnings = o_.roi_warnings;
  for (const auto& r : slide_rois_) {
    for (const auto& w : r.warnings) {
      if (std::find(roi_warnings.begin(), roi_warnings.end(), w) == roi_warnings.end())
        roi_warnings.push_back(w);
    }
  }
  j["roi_warnings"] = roi_warnings;
  j["input_warnings"] = o_.input_warnings;
  write_file_atomic(out_ / "run.json", json_text(j, 2) + "\n");
}

int Run::execute() {
  started_ = utc_now();
  const std::string extra = "mpp=" + std::to_string(o_.mpp);
  const std::string extra_own_mpp = "mpp=" + std::to_string(0.0);  // as a run without --mpp
  const std::string run_roi = o_.roi.empty() || o_.roi_folder ? "" : ";roi=" + o_.roi_text;
  run_hash_ = params_hash(params_, extra + run_roi);
  if (o_.roi_folder) {
    for (std::size_t i = 0; i < inputs_.items.size(); ++i)
      slide_rois_[i] = find_slide_rois(o_.roi, inputs_.items[i]);
    refuse_shared_roi_files(slide_rois_, inputs_.items);
  }
  for (std::size_t i = 0; i < inputs_.items.size(); ++i) {
    const std::string roi = o_.roi_folder ? ";roi=" + slide_rois_[i].text : run_roi;
    hashes_[i] = params_hash(params_, extra + roi);
    detection_hashes_[i] = detection_hash(params_, extra + roi);
    hashes_own_mpp_[i] = params_hash(params_, extra_own_mpp + roi);
    detection_hashes_own_mpp_[i] = detection_hash(params_, extra_own_mpp + roi);
  }
  remove_stale_temp_files(out_);
  // And in every slide's folder: a killed run's 2 GB of cell files stayed when the next run (holding the
  // lock, so no other run writes there) scored other slides. A viewer still saving keeps its file (pid in the
  // name).
  {
    std::error_code ec;
    for (fs::directory_iterator it(out_ / "slides", ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code e2;
      if (it->is_directory(e2)) remove_stale_temp_files(it->path());
    }
  }
  if (o_.roi.empty()) {
    // An earlier run's regions, graded otherwise, would stand beside this run's summary.
    std::error_code ec;
    fs::remove(out_ / "regions.csv", ec);
    fs::remove(out_ / "regions_stats.csv", ec);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    write_run_json_locked("running", -1);
    write_file_atomic(out_ / "column_dictionary.csv", column_dictionary_csv());
  }
  std::vector<std::size_t> todo;
  for (std::size_t i = 0; i < inputs_.items.size(); ++i) {
    if (o_.resume && try_reuse(i)) continue;
    todo.push_back(i);
  }
  const bool interactive = Progress::stderr_is_terminal();
  std::vector<double> weights;
  weights.reserve(inputs_.items.size());
  for (const auto& item : inputs_.items) weights.push_back(slide_weight(item.path));
  Progress progress(std::move(weights), stderr, interactive, o_.quiet);
  for (std::size_t i = 0; i < inputs_.items.size(); ++i) {
    if (outcomes_[i].state == Outcome::State::Reused)
      progress.slide_reused(static_cast<int>(i), inputs_.items[i].id, "complete (resumed)");
  }
  for (const auto& p : inputs_.problems) {
    if (p.failure || !o_.quiet) progress.message((p.failure ? "error: " : "skipped: ") + p.message);
  }
  if (!o_.quiet) {
    for (const auto& n : notes_) progress.message("note: " + n);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    write_tables_locked();
  }
  // Slides in parallel (-j), tiles in parallel within a slide: together they use every core.
  const int cores = std::max(1u, std::thread::hardware_concurrency());
  int jobs = o_.jobs > 0 ? o_.jobs : cores;
  jobs = std::max(1, std::min<int>(jobs, static_cast<int>(todo.size())));
  int tile_threads = params_.get_int("threads");
  // Tiled slides scored side by side share the cores tile by tile (the last one left gets them all);
  // `threads` set by hand is a fixed number per slide.
  std::optional<CoreBudget> budget;
  if (tile_threads <= 0 && jobs > 1) budget.emplace(cores);
  if (tile_threads <= 0) tile_threads = std::max(1, cores / jobs);
  // More workers than cores add no speed to this CPU-bound work, only memory (about 200 MB each: threads=32
  // took 5.5 GB, -j 8 1.9 GB on 2 cores, against the 1.5 GB bound). Cells do not depend on the count.
  if (jobs * tile_threads > cores) {
    const int asked_jobs = jobs, asked_threads = tile_threads;
    jobs = std::min(jobs, cores);
    tile_threads = std::max(1, std::min(tile_threads, cores / jobs));
    if (!o_.quiet) {
      progress.message("note: " + std::to_string(asked_jobs) + " slide(s) at once with " +
                       std::to_string(asked_threads) + " tile worker(s) each is more than the " +
                       std::to_string(cores) + " cores: using " + std::to_string(jobs) + " x " +
                       std::to_string(tile_threads) + " (more would only take memory)");
    }
  }
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (;;) {
      if (g_interrupted.load()) return;
      const std::size_t k = next.fetch_add(1);
      if (k >= todo.size()) return;
      score_one(todo[k], tile_threads, budget ? &*budget : nullptr, progress);
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(jobs));
  for (int w = 0; w < jobs; ++w) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  progress.finish();

  int failed = 0, ok = 0, other_stain = 0;
  for (const auto& o : outcomes_) {
    failed += o.state == Outcome::State::Failed;
    const bool scored = o.state == Outcome::State::Done || o.state == Outcome::State::Reused;
    ok += scored;
    other_stain +=
        scored && !image_type_warning(image_type_from_name(o.record.image_type)).looks_like.empty();
  }
  std::size_t inputs = inputs_.items.size();
  for (const auto& p : inputs_.problems) {
    failed += p.failure;
    inputs += p.failure ? 1 : 0;
  }
  const bool interrupted = g_interrupted.load();
  const int exit_status = interrupted ? 130 : (failed > 0 ? 2 : 0);
  try {
    std::lock_guard<std::mutex> lock(mu_);
    write_tables_locked(interrupted);
    write_run_json_locked(interrupted ? "interrupted" : "complete", exit_status, interrupted);
  } catch (const std::exception& e) {
    // A full disk at the end: the slides' folders are complete, the tables are not. Exit 2 (not usage's 1);
    // run.json says so if it can still be written, and --resume writes the tables without scoring again.
    std::fprintf(
        stderr,
        "ihcscore score: error: the tables could not be written (%s): %d slides complete in %s/slides; "
        "free space and run again with --resume to write them\n",
        one_line(e.what()).c_str(), ok, out_.string().c_str());
    try {
      std::lock_guard<std::mutex> lock(mu_);
      write_run_json_locked("tables not written", 2, interrupted);
    } catch (const std::exception&) {
    }
    return 2;
  }
  if (interrupted) {
    std::fprintf(stderr,
                 "ihcscore score: interrupted: %d slides complete, the others are not marked done; "
                 "run again with --resume to continue\n",
                 ok);
  } else {
    // Slides of another stain (or greyscale) are scored, but a long batch's per-slide lines scroll away:
    // count them here.
    const std::string stain_note =
        other_stain > 0 ? "; " + std::to_string(other_stain) + " do not look like H-DAB (see Status)" : "";
    // One file reached under two names (two patients' folders linking one image) leaves one row: say so
    // here too, where "1 of 1 slides scored" read as complete.
    const auto repeats = std::count_if(inputs_.problems.begin(), inputs_.problems.end(),
                                       [](const InputProblem& p) { return p.repeat; });
    const std::string repeat_note = repeats > 0
                                        ? "; " + std::to_string(repeats) + " repeated input" +
                                              (repeats == 1 ? "" : "s") + " scored once (see errors.tsv)"
                                        : "";
    std::fprintf(stderr, "ihcscore score: %d of %zu slides scored, %d failed%s%s%s; results in %s\n", ok,
                 inputs, failed, failed > 0 ? " (see errors.tsv)" : "", stain_note.c_str(),
                 repeat_note.c_str(), out_.string().c_str());
  }
  return exit_status;
}

}  // namespace

int run_score(const Args& args) {
  Options o;
  CLI::App app{
      "Scores DAB IHC slides, images and folders: QuPath-style positive cell detection, grading "
      "Negative/1+/2+/3+,\nscores per slide (and per ROI), cells as CSV and QuPath GeoJSON, overlays. "
      "INPUT is a slide, an image, a folder\n(recursive) or a text file listing paths. Exit status: 0 all "
      "scored, 2 some failed, 1 usage error, 130 interrupted.",
      "ihcscore score"};
  app.add_option("INPUT", o.inputs, "Slides, images, folders or text files of paths")->required();
  app.add_option("-o,--output", o.out, "Output folder")->required();
  app.add_option("--preset", o.preset, "Parameter preset: dsg2 (default) or ki67");
  app.add_option("--params", o.params_file, "Parameter file (key = value), applied after the preset");
  app.add_option("--set", o.sets, "key=value, applied last (repeatable); see 'ihcscore params --show'");
  app.add_option("--mpp", o.mpp, "Microns per pixel for images that carry none")->check(kMicronsPerPixel);
  app.add_option("--roi", o.roi,
                 "QuPath GeoJSON annotations: score per region and in total. A folder: each slide's own "
                 "file there (ID.geojson, NAME.geojson or NAME.EXT.geojson)");
  app.add_option("-j,--jobs", o.jobs, "Slides scored at once (default: number of cores)")
      ->check(CLI::Range(0, 1024));
  // The grading keys are the ones the detection hash leaves out (imaging/pipeline.cpp detection_hash), in
  // lines of at most 100 characters.
  std::string resume_help =
      "Skip slides whose results are complete with the same parameters; regrade, without detecting again,\n"
      "those whose parameters differ only in grading";
  bool first = true;
  for (const auto& spec : scoring_param_specs()) {
    const std::size_t line = resume_help.size() - resume_help.rfind('\n') - 1;
    resume_help += first ? " (" : line + spec.key.size() > 96 ? ",\n" : ", ";
    resume_help += spec.key;
    first = false;
  }
  auto* resume = app.add_flag("--resume", o.resume, resume_help + ")");
  app.add_flag("--force", o.force, "Score every slide again, replacing earlier results")->excludes(resume);
  app.add_flag("-q,--quiet", o.quiet, "Only print failures, warnings and the final line");
  app.add_flag("--decode-only", o.decode_only,
               "Benchmark: read the tiles scoring would read, then stop (no detection, no slide outputs)")
      ->group("");
  if (auto stop = parse_command_line(app, args)) return *stop;
  auto usage_error = [](const std::string& msg) {
    std::fprintf(stderr, "ihcscore score: error: %s\n", msg.c_str());
    return 1;
  };

  // Parameters: preset, then file, then --set; each later one wins.
  ParamSet params;
  try {
    params = resolve_params(o.preset, o.params_file, o.sets);  // checked whole: now, not once per slide
  } catch (const std::exception& e) {
    return usage_error(e.what());
  }
  std::vector<Annotation> rois;
  std::error_code roi_ec;
  o.roi_folder = !o.roi.empty() && fs::is_directory(o.roi, roi_ec);
  if (o.roi_folder) {
    // One file per slide, found when the slides are known; a folder without any is a usage error.
    bool any = false;
    for (const auto& e : fs::directory_iterator(o.roi, roi_ec))
      any = any || e.path().extension() == ".geojson";
    if (!any) {
      // Files kept in subfolders (beside each slide) are not found: say so, rather than "without" (a probe).
      int below = 0;
      std::error_code walk_ec;
      for (fs::recursive_directory_iterator it(o.roi, walk_ec), end; !walk_ec && it != end && below < 1000;
           it.increment(walk_ec))
        below += it->path().extension() == ".geojson" ? 1 : 0;
      const std::string where = below > 0 ? ": no .geojson file directly in it (" + std::to_string(below) +
                                                " in its subfolders, which are not searched)"
                                          : ": a folder without .geojson files";
      return usage_error(o.roi + where + " (--roi takes a file, or a folder of one SLIDE.geojson per slide)");
    }
  } else if (!o.roi.empty()) {
    try {
      const AnnotationSet set = load_geojson_annotations(o.roi, &o.roi_text);
      rois = set.annotations;
      // Each warning names the file already ("regions.geojson: feature 3: skipped (...)"). Printed under -q
      // too, as the slides' own warnings are, and kept in run.json and each slide's slide.json.
      for (const auto& w : set.warnings) std::fprintf(stderr, "ihcscore score: warning: %s\n", w.c_str());
      o.roi_warnings = set.warnings;
      if (rois.empty()) return usage_error(o.roi + ": no polygon annotations to score in");
    } catch (const std::exception& e) {
      return usage_error(e.what());
    }
  }
  const fs::path out(o.out);
  const EarlierResults earlier = earlier_results(out / "slides");
  for (const auto& u : earlier.unreadable)
    std::fprintf(stderr, "ihcscore score: warning: %s (its slide, when among the inputs, is scored again)\n",
                 u.c_str());
  CollectedInputs inputs = collect_inputs(o.inputs, earlier);
  {
    // One image filed twice (a copy under two patients' folders) is two rows of one patient's tissue: said,
    // naming both. Only files of one size are compared, by their size and first and last MiB.
    std::map<std::uintmax_t, std::vector<const InputItem*>> by_size;
    for (const auto& item : inputs.items) {
      std::error_code ec;
      const std::uintmax_t size = fs::file_size(item.path, ec);
      if (!ec && size > 0) by_size[size].push_back(&item);
    }
    for (const auto& [size, items] : by_size) {
      if (items.size() < 2) continue;
      std::map<std::string, const InputItem*> first_of;
      for (const InputItem* item : items) {
        const std::string fp = file_fingerprint(item->path);
        if (fp.empty()) continue;
        const auto [it, added] = first_of.emplace(fp, item);
        if (added) continue;
        const std::string w = item->path.string() + " has the same content as " + it->second->path.string() +
                              " (one image in two places?): both are scored, as " + it->second->id + " and " +
                              item->id;
        std::fprintf(stderr, "ihcscore score: warning: %s\n", w.c_str());
        o.input_warnings.push_back(w);
      }
    }
  }
  if (!o.roi.empty() && !o.roi_folder && inputs.items.size() > 1) {
    // One slide's regions drawn on every slide, exit 0, was a probe's NPC001_DSG2.geojson given with three
    // patients: a file named after one of the slides was most likely meant for that slide alone.
    std::string name = fs::path(o.roi).filename().string();
    if (name.size() > 8 && ascii_lower(name.substr(name.size() - 8)) == ".geojson")
      name.resize(name.size() - 8);
    for (const auto& item : inputs.items) {
      if (name != item.id && name != item.path.stem().string() && name != item.path.filename().string())
        continue;
      const std::string w = o.roi + " is named after " + item.path.string() +
                            ", but one --roi file applies to all " + std::to_string(inputs.items.size()) +
                            " slides (its regions are scored on each); for one file per slide give a folder: "
                            "--roi FOLDER";
      std::fprintf(stderr, "ihcscore score: warning: %s\n", w.c_str());
      o.roi_warnings.push_back(w);
      break;
    }
  }
  // Nothing to score and nothing failed: writing the tables would only replace an earlier run's with empty
  // ones.
  const bool any_failure = std::any_of(inputs.problems.begin(), inputs.problems.end(),
                                       [](const InputProblem& p) { return p.failure; });
  if (inputs.items.empty() && !any_failure) {
    std::string why = "no slides or images in the inputs";
    if (!inputs.problems.empty()) {
      why += " (" + std::to_string(inputs.problems.size()) + " skipped, e.g. " +
             inputs.problems.front().message + ")";
    }
    return usage_error(why);
  }
  if (const std::string foreign = foreign_output(out); !foreign.empty()) {
    return usage_error((out / foreign).string() +
                       " was not written by ihcscore score and would be replaced: give another -o (a folder "
                       "of its own for the results)");
  }
  // One run per output folder, held until this one ends: a second would rename the first's files away and
  // the tables would be either run's.
  std::optional<FolderLock> lock;
  try {
    ensure_directory(out);
    // Writable? Find out now rather than after the first slide.
    write_file_atomic(out / ".write-test", "");
    fs::remove(out / ".write-test");
    lock.emplace(out);
  } catch (const std::exception& e) {
    return usage_error(std::string("output folder: ") + e.what());
  }
  if (!lock->locked()) {
    const std::string pid = lock->holder().empty() ? "" : " (pid " + lock->holder() + ")";
    return usage_error(out.string() + " is in use by another ihcscore score" + pid +
                       ": wait for it to finish or give another -o");
  }
  try {
    ensure_directory(out / "slides");  // a file of that name failed every slide, one by one
  } catch (const std::exception& e) {
    return usage_error(std::string("output folder: ") + e.what());
  }
  if (!o.resume && !o.force) {
    int existing = 0;
    for (const auto& item : inputs.items) {
      std::error_code ec;
      existing += fs::exists(out / "slides" / item.id / "slide.json", ec);
    }
    if (existing > 0) {
      return usage_error(
          out.string() + " already holds results of " + std::to_string(existing) +
          " of these slides: use --resume to skip complete slides or --force to score them again");
    }
  }
  // The tables list this run's inputs: say so when they leave out slides an earlier run put in this folder.
  std::size_t left_out = earlier.ids.size();
  for (const auto& item : inputs.items) left_out -= earlier.ids.count(ascii_lower(item.id));
  if (left_out > 0) {  // a warning: printed under -q too
    std::fprintf(stderr,
                 "ihcscore score: warning: %s/slides holds %zu slide(s) that are not among these inputs; "
                 "summary.csv will list only these inputs (give the earlier ones too, with --resume, to keep "
                 "their rows)\n",
                 out.string().c_str(), left_out);
  }
  std::vector<std::string> argv{"ihcscore", "score"};
  argv.insert(argv.end(), args.begin(), args.end());
  install_signal_handlers();
  SlideMemoryPolicy memory = slide_memory_policy();
  memory.cancel = &g_interrupted;
  set_slide_memory_policy(memory);
  Run run(std::move(o), std::move(params), std::move(rois), std::move(inputs), std::move(argv));
  return run.execute();
}

}  // namespace ihc::cli
