#include "models/atomic_file.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>

namespace ihc {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kTempMarker = ".tmp-";

std::string errno_text(int err) { return std::strerror(err); }

// Hidden temporary beside the target (same file system, so rename is atomic): ".name.tmp-<pid>-<n>".
fs::path temp_path_for(const fs::path& path) {
  static std::atomic<unsigned> counter{0};
  const std::string name = "." + path.filename().string() + std::string(kTempMarker) +
                           std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1));
  return path.parent_path() / name;
}

// Makes the rename itself durable; failures are ignored because some file systems refuse fsync on
// directories.
void sync_directory(const fs::path& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

FileError::FileError(const fs::path& path, const std::string& reason)
    : std::runtime_error(path.string() + ": " + reason), path_(path) {}

void ensure_directory(const fs::path& dir) {
  if (dir.empty()) return;
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) {
    // Find the first existing component that is not a directory: the usual reason ("-o somefile/x").
    fs::path prefix;
    for (const auto& part : dir) {
      prefix /= part;
      std::error_code ec2;
      const auto st = fs::status(prefix, ec2);
      if (fs::exists(st) && !fs::is_directory(st)) {
        throw FileError(dir, "cannot create directory: '" + prefix.string() + "' is a file, not a directory");
      }
    }
    throw FileError(dir, "cannot create directory: " + (ec ? ec.message() : std::string("unknown error")));
  }
}

WholeFile read_whole_file(const fs::path& path) {
  WholeFile f;
  // O_NONBLOCK: a named pipe opens at once instead of waiting for a writer, and is then refused by fstat.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    f.status = errno == EISDIR ? WholeFile::Status::IsDirectory : WholeFile::Status::CannotOpen;
    f.open_errno = errno;
    return f;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const bool folder = S_ISDIR(st.st_mode);
    ::close(fd);
    f.status = folder ? WholeFile::Status::IsDirectory : WholeFile::Status::NotRegular;
    return f;
  }
  if (st.st_size > 0) f.text.reserve(static_cast<std::size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n > 0) {
      f.text.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0) {
      break;
    } else if (errno != EINTR) {
      f.status = WholeFile::Status::ReadFailed;
      f.text.clear();
      break;
    }
  }
  ::close(fd);
  return f;
}

std::string read_file(const fs::path& path) {
  WholeFile f = read_whole_file(path);
  switch (f.status) {
    case WholeFile::Status::IsDirectory:
      throw FileError(path, "is a directory, not a file");
    case WholeFile::Status::NotRegular:
      throw FileError(path, "is not a regular file");
    case WholeFile::Status::CannotOpen:
      throw FileError(path, std::string("cannot open for reading: ") + errno_text(f.open_errno));
    case WholeFile::Status::ReadFailed:
      throw FileError(path, "read failed");
    case WholeFile::Status::Ok:
      break;
  }
  return std::move(f.text);
}

bool read_named_file(const std::string& path, const std::string& what, std::string& text,
                     std::string& error) {
  WholeFile f = read_whole_file(path);
  switch (f.status) {
    case WholeFile::Status::IsDirectory:
      error = "cannot read " + what + " '" + path + "': it is a directory";
      return false;
    case WholeFile::Status::NotRegular:
      error = "cannot read " + what + " '" + path + "': it is not a regular file";
      return false;
    case WholeFile::Status::CannotOpen:
      error = "cannot open " + what + " '" + path + "': " + errno_text(f.open_errno);
      return false;
    case WholeFile::Status::ReadFailed:
      error = "cannot read " + what + " '" + path + "'";
      return false;
    case WholeFile::Status::Ok:
      break;
  }
  text = std::move(f.text);
  return true;
}

AtomicFile::AtomicFile(fs::path path) : path_(std::move(path)) {
  ensure_directory(path_.parent_path());
  temp_path_ = temp_path_for(path_);
  file_ = std::fopen(temp_path_.c_str(), "wb");
  if (file_ == nullptr) {
    const int err = errno;
    // The temporary file is not named: each try has a name of its own, and the same failure must read the
    // same (ihcview printed it again at every autosave, 1200 lines an hour).
    throw FileError(path_, "cannot create the temporary file it is written through: " + errno_text(err));
  }
}

AtomicFile::~AtomicFile() {
  if (!committed_) discard();
}

void AtomicFile::discard() noexcept {
  if (file_ != nullptr) {
    std::fclose(file_);
    file_ = nullptr;
  }
  if (!temp_path_.empty()) ::unlink(temp_path_.c_str());
}

void AtomicFile::write(std::string_view data) {
  if (file_ == nullptr) throw FileError(path_, "write after commit");
  if (data.empty()) return;
  if (std::fwrite(data.data(), 1, data.size(), file_) != data.size()) {
    const int err = errno;
    throw FileError(path_, "write failed: " + errno_text(err));
  }
}

void AtomicFile::commit() {
  if (file_ == nullptr) throw FileError(path_, "commit twice");
  if (std::fflush(file_) != 0) {
    const int err = errno;
    throw FileError(path_, "write failed: " + errno_text(err));
  }
  if (::fsync(::fileno(file_)) != 0) {
    const int err = errno;
    throw FileError(path_, "fsync failed: " + errno_text(err));
  }
  const int close_rc = std::fclose(file_);
  file_ = nullptr;
  if (close_rc != 0) {
    const int err = errno;
    throw FileError(path_, "close failed: " + errno_text(err));
  }
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    throw FileError(path_, "cannot rename temporary file into place: " + errno_text(err));
  }
  committed_ = true;
  sync_directory(path_.parent_path());
}

void write_file_atomic(const fs::path& path, std::string_view content) {
  AtomicFile f(path);
  f.write(content);
  f.commit();
}

namespace {

// The pid in ".name.tmp-<pid>-<n>" is a running process (EPERM: running as another user).
bool writer_running(const std::string& name, std::size_t marker) {
  const std::size_t start = marker + kTempMarker.size();
  const std::size_t dash = name.find('-', start);
  if (dash == std::string::npos || dash == start) return false;
  pid_t pid = 0;
  for (std::size_t i = start; i < dash; ++i) {
    if (name[i] < '0' || name[i] > '9' || pid > 4194304) return false;
    pid = pid * 10 + (name[i] - '0');
  }
  return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM);
}

}  // namespace

int remove_stale_temp_files(const fs::path& dir) {
  int removed = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const std::size_t marker = name.rfind(kTempMarker);
    if (name.size() > 1 && name[0] == '.' && marker != std::string::npos && it->is_regular_file(ec) &&
        !writer_running(name, marker)) {
      if (fs::remove(it->path(), ec)) ++removed;
    }
  }
  return removed;
}

FolderLock::FolderLock(const fs::path& dir) {
  const fs::path path = dir / ".ihcscore.lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    const int err = errno;
    throw FileError(path, "cannot create the lock file: " + errno_text(err));
  }
  if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) {
    locked_ = true;
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd_, 0) == 0) {
      [[maybe_unused]] const auto n = ::pwrite(fd_, pid.data(), pid.size(), 0);
    }
    return;
  }
  char buf[32] = {};
  const auto n = ::pread(fd_, buf, sizeof(buf) - 1, 0);
  holder_ = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  while (!holder_.empty() && (holder_.back() == '\n' || holder_.back() == '\r')) holder_.pop_back();
}

FolderLock::~FolderLock() {
  if (fd_ >= 0) ::close(fd_);  // closing drops the lock; the file stays for the next run
}

}  // namespace ihc
