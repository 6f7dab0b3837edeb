#include "models/atomic_file.hpp"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <fstream>
#include <string>
#include <vector>

#include "support/test_support.hpp"

namespace fs = std::filesystem;

namespace {

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST(AtomicFile, WritesContentAndLeavesNoTemporary) {
  const fs::path dir = ihc::test::temp_dir("atomic_write");
  ihc::write_file_atomic(dir / "sub" / "a.txt", "hello\n");
  EXPECT_EQ(ihc::read_file(dir / "sub" / "a.txt"), "hello\n");
  EXPECT_EQ(names_in(dir / "sub"), std::vector<std::string>{"a.txt"});
}

TEST(AtomicFile, ReplacesAnExistingFile) {
  const fs::path dir = ihc::test::temp_dir("atomic_replace");
  ihc::write_file_atomic(dir / "a.txt", "old");
  ihc::write_file_atomic(dir / "a.txt", "new content");
  EXPECT_EQ(ihc::read_file(dir / "a.txt"), "new content");
}

TEST(AtomicFile, UncommittedWriteLeavesOldFileAndNoTemporary) {
  const fs::path dir = ihc::test::temp_dir("atomic_abort");
  ihc::write_file_atomic(dir / "a.txt", "complete");
  {
    ihc::AtomicFile f(dir / "a.txt");
    f.write("partial");
    EXPECT_TRUE(fs::exists(f.temp_path()));
    // Destroyed without commit: like an exception or Ctrl-C mid-write.
  }
  EXPECT_EQ(ihc::read_file(dir / "a.txt"), "complete");
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"a.txt"});
}

TEST(AtomicFile, StreamedWriteIsInvisibleUntilCommit) {
  const fs::path dir = ihc::test::temp_dir("atomic_stream");
  ihc::AtomicFile f(dir / "big.csv");
  for (int i = 0; i < 1000; ++i) f.write("row\n");
  EXPECT_FALSE(fs::exists(dir / "big.csv"));
  f.commit();
  EXPECT_EQ(fs::file_size(dir / "big.csv"), 4000u);
  EXPECT_THROW(f.commit(), ihc::FileError);
}

TEST(AtomicFile, PathUnderARegularFileNamesTheCulprit) {
  const fs::path dir = ihc::test::temp_dir("atomic_notdir");
  ihc::write_file_atomic(dir / "somefile", "x");
  try {
    ihc::write_file_atomic(dir / "somefile" / "x" / "a.txt", "y");
    FAIL() << "expected FileError";
  } catch (const ihc::FileError& e) {
    EXPECT_EQ(std::string(e.what()), (dir / "somefile" / "x").string() + ": cannot create directory: '" +
                                         (dir / "somefile").string() + "' is a file, not a directory");
  }
}

// Each try writes through a temporary file of its own name; the failure names the target only, so the same
// failure reads the same at every try (ihcview printed it again at every autosave, 1200 lines an hour).
TEST(AtomicFile, AFailedTryReadsTheSameEveryTime) {
  const fs::path dir = ihc::test::temp_dir("atomic_same_failure");
  // Every temporary name this process would try is taken by a folder (as root, permissions refuse nothing).
  for (int n = 0; n < 2000; ++n)
    fs::create_directory(dir / (".r.json.tmp-" + std::to_string(::getpid()) + "-" + std::to_string(n)));
  std::vector<std::string> messages;
  for (int attempt = 0; attempt < 2; ++attempt) {
    try {
      ihc::write_file_atomic(dir / "r.json", "{}");
      ADD_FAILURE() << "written although every temporary name is a folder";
    } catch (const ihc::FileError& e) {
      messages.emplace_back(e.what());
    }
  }
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0], (dir / "r.json").string() +
                             ": cannot create the temporary file it is written through: Is a directory");
  EXPECT_EQ(messages[1], messages[0]);
}

TEST(AtomicFile, ReadingAMissingFileNamesIt) {
  const fs::path dir = ihc::test::temp_dir("atomic_missing");
  try {
    ihc::read_file(dir / "nope.txt");
    FAIL() << "expected FileError";
  } catch (const ihc::FileError& e) {
    EXPECT_EQ(std::string(e.what()),
              (dir / "nope.txt").string() + ": cannot open for reading: No such file or directory");
  }
}

// A folder given where a file is expected (--roi, a review, results) is named as such, not parsed as empty.
TEST(AtomicFile, ReadingADirectorySaysSo) {
  const fs::path dir = ihc::test::temp_dir("atomic_folder");
  try {
    ihc::read_file(dir);
    FAIL() << "expected FileError";
  } catch (const ihc::FileError& e) {
    EXPECT_EQ(std::string(e.what()), dir.string() + ": is a directory, not a file");
  }
}

// The one whole-file read under read_file, read_named_file and the truth readers: the text, or why not.
TEST(AtomicFile, ReadWholeFileSaysWhatWentWrong) {
  const fs::path dir = ihc::test::temp_dir("atomic_whole");
  std::ofstream(dir / "a.txt", std::ios::binary) << "x\ny";
  const ihc::WholeFile ok = ihc::read_whole_file(dir / "a.txt");
  EXPECT_EQ(ok.status, ihc::WholeFile::Status::Ok);
  EXPECT_EQ(ok.text, "x\ny");
  const ihc::WholeFile missing = ihc::read_whole_file(dir / "nope.txt");
  EXPECT_EQ(missing.status, ihc::WholeFile::Status::CannotOpen);
  EXPECT_EQ(missing.open_errno, ENOENT);
  EXPECT_TRUE(missing.text.empty());
  EXPECT_EQ(ihc::read_whole_file(dir).status, ihc::WholeFile::Status::IsDirectory);
}

// Readers with their own error type (parameter files, GeoJSON) get the text or one message naming the file.
TEST(AtomicFile, ReadNamedFileGivesTheTextOrWhyNot) {
  const fs::path dir = ihc::test::temp_dir("atomic_named");
  std::ofstream(dir / "p.params") << "sigma_um = 2\n";
  std::string text, error;
  ASSERT_TRUE(ihc::read_named_file((dir / "p.params").string(), "parameter file", text, error)) << error;
  EXPECT_EQ(text, "sigma_um = 2\n");
  const std::string missing = (dir / "nope.geojson").string();
  EXPECT_FALSE(ihc::read_named_file(missing, "GeoJSON file", text, error));
  EXPECT_EQ(error, "cannot open GeoJSON file '" + missing + "': No such file or directory");
  EXPECT_FALSE(ihc::read_named_file(dir.string(), "GeoJSON file", text, error));
  EXPECT_EQ(error, "cannot read GeoJSON file '" + dir.string() + "': it is a directory");
}

// A named pipe (or socket, device) where a file is expected is refused at once: opening one for reading waits
// for a writer that never comes (a parameter file, ROI file or table that is a pipe hung the run).
TEST(AtomicFile, ANamedPipeIsRefusedNotWaitedOn) {
  const fs::path dir = ihc::test::temp_dir("atomic_fifo");
  const fs::path pipe = dir / "p.params";
  ASSERT_EQ(::mkfifo(pipe.c_str(), 0600), 0);
  const auto [ok, error] = ihc::test::without_waiting_on(pipe, [&] {
    std::string text, why;
    const bool read = ihc::read_named_file(pipe.string(), "parameter file", text, why);
    return std::make_pair(read, why);
  });
  EXPECT_FALSE(ok);
  EXPECT_EQ(error, "cannot read parameter file '" + pipe.string() + "': it is not a regular file");
  EXPECT_EQ(ihc::test::without_waiting_on(pipe, [&] { return ihc::read_whole_file(pipe).status; }),
            ihc::WholeFile::Status::NotRegular);
  const std::string thrown = ihc::test::without_waiting_on(pipe, [&] {
    try {
      ihc::read_file(pipe);
    } catch (const ihc::FileError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  });
  EXPECT_EQ(thrown, pipe.string() + ": is not a regular file");
}

// The pid of a process that has ended.
pid_t ended_pid() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  return child;
}

TEST(AtomicFile, RemovesStaleTemporariesOnly) {
  const fs::path dir = ihc::test::temp_dir("atomic_stale");
  const std::string dead = std::to_string(ended_pid());
  std::ofstream(dir / (".cells.csv.tmp-" + dead + "-0")) << "partial";
  std::ofstream(dir / "cells.csv") << "done";
  std::ofstream(dir / ".hidden") << "keep";
  // A running writer's (the viewer saving a review while a batch starts): renamed into place later.
  const std::string running = ".review.json.tmp-" + std::to_string(::getpid()) + "-7";
  std::ofstream(dir / running) << "being written";
  EXPECT_EQ(ihc::remove_stale_temp_files(dir), 1);
  EXPECT_EQ(names_in(dir), (std::vector<std::string>{".hidden", running, "cells.csv"}));
}

TEST(FolderLock, OneHolderAtATimeAndTheOtherLearnsItsPid) {
  const fs::path dir = ihc::test::temp_dir("folder_lock");
  {
    const ihc::FolderLock first(dir);
    ASSERT_TRUE(first.locked());
    const ihc::FolderLock second(dir);  // another open file: flock refuses it even in one process
    EXPECT_FALSE(second.locked());
    EXPECT_EQ(second.holder(), std::to_string(::getpid()));
  }
  EXPECT_TRUE(ihc::FolderLock(dir).locked());  // released with its holder
  try {
    ihc::FolderLock in_a_file(dir / ".ihcscore.lock");
    ADD_FAILURE() << "a lock inside a file was made";
  } catch (const ihc::FileError& e) {
    EXPECT_EQ(std::string(e.what()), (dir / ".ihcscore.lock/.ihcscore.lock").string() +
                                         ": cannot create the lock file: Not a directory");
  }
}
