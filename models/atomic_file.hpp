#pragma once
// Atomic file writing: content goes to a temporary file beside the target, is flushed to disk (fsync), then
// renamed over the target. A reader (or a resumed run) sees either the old file or the complete new one,
// never a partial file, even when the process is killed mid-write.
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>

namespace ihc {

// what() is "<path>: <reason>", e.g. "out/x/summary.csv: cannot create directory 'out/x': Not a directory".
class FileError : public std::runtime_error {
 public:
  FileError(const std::filesystem::path& path, const std::string& reason);
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Writes `content` to `path` atomically, creating missing parent directories. Throws FileError.
void write_file_atomic(const std::filesystem::path& path, std::string_view content);

// Creates `dir` and its parents when missing; throws FileError naming `dir` when that fails or when a
// part of the path is a regular file.
void ensure_directory(const std::filesystem::path& dir);

// A whole file read, for readers that word their own errors. A folder is refused: it opens as a stream that
// reads nothing and would pass as an empty file. So is anything else that is not a regular file (a named
// pipe, socket or device), without waiting: a named pipe opened for reading waits for a writer.
struct WholeFile {
  enum class Status { Ok, IsDirectory, NotRegular, CannotOpen, ReadFailed };
  Status status = Status::Ok;
  int open_errno = 0;  // the reason, when CannotOpen
  std::string text;
};
WholeFile read_whole_file(const std::filesystem::path& path);

// Whole file as a string; throws FileError when it cannot be read.
std::string read_file(const std::filesystem::path& path);
// The same for readers with their own error type (parameter files, GeoJSON): false with `error` set to
// "cannot open <what> '<path>': <reason>", "cannot read <what> '<path>': it is a directory", "cannot read
// <what> '<path>': it is not a regular file" or "cannot read <what> '<path>'".
bool read_named_file(const std::string& path, const std::string& what, std::string& text, std::string& error);

// Streams a large file atomically: write() appends (buffered), commit() makes it visible under `path`.
// Destroying an uncommitted AtomicFile removes the temporary file, so an exception or a cancelled run leaves
// nothing behind.
class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path path);  // throws FileError
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(std::string_view data);  // throws FileError (e.g. disk full)
  void commit();                      // fsync + rename; throws FileError
  const std::filesystem::path& path() const { return path_; }
  const std::filesystem::path& temp_path() const { return temp_path_; }

 private:
  void discard() noexcept;

  std::filesystem::path path_;
  std::filesystem::path temp_path_;
  std::FILE* file_ = nullptr;
  bool committed_ = false;
};

// Removes leftover temporary files of interrupted writes in `dir` (not recursive). Returns how many. A file
// whose writer is still running (its pid is in the name) is left alone: the viewer saving a review, or
// another process writing, would lose its file at the rename.
int remove_stale_temp_files(const std::filesystem::path& dir);

// An exclusive lock on a folder for as long as the object lives (flock on <dir>/.ihcscore.lock, which holds
// the pid; the kernel drops the lock when the process ends, kill -9 included). Two runs writing one output
// folder would rename each other's files away and leave tables of either.
class FolderLock {
 public:
  explicit FolderLock(
      const std::filesystem::path& dir);  // throws FileError when the lock file cannot be made
  ~FolderLock();
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

  bool locked() const { return locked_; }
  // When not locked: the holder's pid as it wrote it ("" when unknown).
  const std::string& holder() const { return holder_; }

 private:
  int fd_ = -1;
  bool locked_ = false;
  std::string holder_;
};

}  // namespace ihc
