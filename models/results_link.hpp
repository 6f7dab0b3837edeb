#pragma once
// Which result folders belong to which slide. A result folder's slide.json names the slide it was scored from
// and that slide's level-0 size, the frame every cell coordinate is in: cells drawn on another slide would be
// silently wrong, and a slide reopened should find the cells already scored for it.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "models/regions.hpp"
#include "models/results_io.hpp"

namespace ihc {

// Output id of a slide or image: "a.svs" -> "a", "b.ome.tif" -> "b"; characters unsafe in folder names ->
// '_'. The batch makes ids unique as "a", "a-2", "a-3", ...
std::string results_id(const std::filesystem::path& slide);
// The id with its folder's name in front, for inputs of one name in several folders (a scanner's
// case/slide.svs): "caseA/slide.svs" -> "caseA_slide". The folder of a relative "x.png" is the current one.
std::string results_id_with_folder(const std::filesystem::path& slide);
// The id of a slide found in a folder the batch was given, from its path below that folder, so that a
// folder per patient names the patient whatever else is scored: "NPC001/blockA/DSG2.svs" ->
// "NPC001_blockA_DSG2", "x.png" -> "x".
std::string results_id_of_relative(const std::filesystem::path& relative);

// A file's byte size and modification time (ns), as slide.json records its source; false when the file
// cannot be stat'ed.
// A file as stat sees it: device and inode too, since a file replaced by rename (an atomic save) is another
// file even with the same size and time.
struct FileStamp {
  std::uint64_t device = 0, inode = 0;
  std::int64_t size = 0;
  std::int64_t mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};
std::optional<FileStamp> file_stamp(const std::filesystem::path& p);  // nullopt: no such file

// The same file whatever the path to it: device and inode (a second path, a symbolic or a hard link), else
// the canonical path of a file that does not exist.
std::string file_identity(const std::filesystem::path& p);

// A folder whose slide is being scored again (slide.json removed until the new one is complete) names its
// source in this file meanwhile, so that an interrupted redo keeps its folder, and the review in it, on the
// next run. The text is slide.json's `source`.
inline constexpr const char* kRedoSourceFile = ".source";

// The result folders under `dir` (OUT/slides of the batch, or the viewer's ihcview-out) by the file each was
// scored from: a slide keeps its id, and the review beside its results, when other slides of the same name
// come and go.
struct EarlierResults {
  std::map<std::string, std::string> id_by_file;  // file_identity of slide.json's source -> folder name
  // moved_slide_key of slide.json's source -> its folders: a slide moved, copied or mounted elsewhere (the
  // same name, size and modification time) keeps its results when its content is the one scored there.
  struct Moved {
    std::string id;
    std::filesystem::path source;  // as resolved from slide.json
    std::string fingerprint;       // slide.json's source_fingerprint; empty before session 28
    bool gone = false;             // nothing at `source` any more
  };
  std::multimap<std::string, Moved> id_by_moved;
  std::set<std::string> ids;  // folders holding results (slide.json or review.json), lower case
  // "out/slides/a/slide.json: ..." for each slide.json read only for its source (a mistyped field).
  std::vector<std::string> unreadable;
};
EarlierResults earlier_results(const std::filesystem::path& dir);
// A file's content in short: its size and a 64-bit FNV-1a hash of its first and last MiB, as hex; "" when it
// cannot be read. Tells two images of one name, size and time apart (uncompressed camera images, a FAT
// disk's 2 s clock) without reading a whole slide.
std::string file_fingerprint(const std::filesystem::path& p);
// A slide's file name, byte size and modification time (ns): what a move or another mount point keeps.
std::string moved_slide_key(const std::string& file_name, std::int64_t size, std::int64_t mtime_ns);
// The id of `slide` there: its own earlier folder's (found by file identity, else by moved_slide_key and a
// matching fingerprint, or for folders of before fingerprints by a source that is gone; among several, the
// one whose source path shares the most trailing components, none when that is a tie), else
// `base` (results_id(slide) when empty) made unique ("a-2", "a-3", ...) against the earlier folders and
// `taken` (lower case; ids given in this run). Never another slide's folder.
std::string results_id_among(const EarlierResults& earlier, const std::filesystem::path& slide,
                             const std::set<std::string>& taken = {}, const std::string& base = "");

// The output root of a result folder: OUT for OUT/slides/<id> (ihcscore score), else the folder's parent (the
// viewer's own ihcview-out/<id>).
std::filesystem::path results_root(const std::filesystem::path& results_dir);

// The slide a result folder was scored from: slide.json's `source`, resolved when relative against the
// batch's working directory (OUT/run.json "working_directory"), else against the current directory.
std::filesystem::path results_source(const std::filesystem::path& results_dir, const SlideRecord& rec);
// slide.json's `roi` for regions drawn in the viewer and scored from there.
inline constexpr const char* kDrawnInViewer = "drawn in ihcview";
// The ROI file the batch scored its regions from (slide.json's `roi`), resolved as `source` is; empty when
// the slide was scored whole or its regions were drawn in the viewer (they are in review.json).
std::filesystem::path results_roi(const std::filesystem::path& results_dir, const SlideRecord& rec);

// That ROI file read: what the viewer outlines and what reviewed region rows are counted in.
struct RecordedRois {
  std::filesystem::path file;  // empty: scored whole, or regions drawn in the viewer
  std::vector<Annotation> annotations;
  std::string error;  // the file is gone or does not parse (its reader's message)
};
RecordedRois load_recorded_rois(const std::filesystem::path& results_dir, const SlideRecord& rec);

// Why the cells of a result folder cannot be drawn on a slide of level-0 size width x height: names the
// folder, the slide it was scored from and both sizes. Empty when they can (also when slide.json gives no
// size). With `slide` (the open file), an image of the same pixel size is told apart too: the recorded source
// still exists, is another file, and has another byte size than `slide` (a renamed or moved copy passes).
std::string results_mismatch(const std::filesystem::path& results_dir, const SlideRecord& rec,
                             std::int64_t width, std::int64_t height,
                             const std::filesystem::path& slide = {});

// Whether the result folder was scored from `slide`: the same file, or one of the same name and byte size (a
// slide moved or copied since it was scored).
bool results_belong_to(const std::filesystem::path& results_dir, const SlideRecord& rec,
                       const std::filesystem::path& slide);

// Result folders of `slide` under output roots: ROOT/slides/<id> of `ihcscore score -o ROOT` and ROOT/<id> of
// the viewer, where <id> is the slide's id or a numbered one ("a-2"). Newest slide.json first; folders that
// cannot be read, or hold another slide's cells, are passed over.
std::vector<std::filesystem::path> find_results(const std::filesystem::path& slide,
                                                const std::vector<std::filesystem::path>& roots);

// Whether a slide's current scores (slide.json's total) are the row the batch wrote for it into summary.csv
// (compared as summary.csv writes them; the image column is the row's).
bool same_summary_row(ScoreRow current, const ScoreRow& batch_row);

// For a batch's result folder OUT/slides/<id>: whether the slide was re-scored into it since the batch wrote
// OUT/summary.csv (the viewer's "Score whole slide"), so that summary.csv's row for <id> is no longer its
// scores. False for other folders, and when summary.csv or its row cannot be read.
bool rescored_since_summary(const std::filesystem::path& results_dir, const SlideRecord& rec);

}  // namespace ihc
