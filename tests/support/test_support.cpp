#include "support/test_support.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <system_error>

namespace ihc::test {

std::filesystem::path shared_data(const std::string& relative, bool* available) {
  const char* env = std::getenv("IHC_SHARED_DATA");
  const std::filesystem::path root =
      env != nullptr ? std::filesystem::path(env) : std::filesystem::path(IHC_SHARED_DATA);
  auto path = root / relative;
  std::error_code ec;
  *available = std::filesystem::exists(path, ec);
  return path;
}

std::filesystem::path temp_dir(const std::string& name) {
  auto dir = std::filesystem::path(IHC_BINARY_DIR) / "test-tmp" / name;
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  std::filesystem::create_directories(dir);
  return dir;
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

CommandResult run_program(const std::string& program, const std::vector<std::string>& args,
                          const std::filesystem::path& cwd, int timeout_seconds) {
  static int counter = 0;
  const auto capture = std::filesystem::path(IHC_BINARY_DIR) / "test-tmp" /
                       ("cmd-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  std::filesystem::create_directories(capture.parent_path());
  std::string cmd;
  if (!cwd.empty()) cmd = "cd " + shell_quote(cwd.string()) + " && ";
  if (timeout_seconds > 0) cmd += "timeout -k 5 " + std::to_string(timeout_seconds) + " ";
  cmd += shell_quote((std::filesystem::path(IHC_BINARY_DIR) / "bin" / program).string());
  for (const auto& a : args) cmd += " " + shell_quote(a);
  cmd += " >" + shell_quote(capture.string() + ".out") + " 2>" + shell_quote(capture.string() + ".err");
  const int rc = std::system(cmd.c_str());
  CommandResult r;
  r.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  r.out = read_text(capture.string() + ".out");
  r.err = read_text(capture.string() + ".err");
  std::error_code ec;
  std::filesystem::remove(capture.string() + ".out", ec);
  std::filesystem::remove(capture.string() + ".err", ec);
  return r;
}

std::filesystem::path source_dir() { return IHC_SOURCE_DIR; }
std::filesystem::path binary_dir() { return IHC_BINARY_DIR; }

std::vector<std::string> qupath_os2_script_args() {
  return {"--params", (source_dir() / "docs" / "qupath-os2-script.params").string()};
}

bool same_bits(const cv::Mat& a, const cv::Mat& b) {
  if (a.size() != b.size() || a.type() != b.type()) return false;
  for (int y = 0; y < a.rows; ++y) {
    if (std::memcmp(a.ptr(y), b.ptr(y), a.cols * a.elemSize()) != 0) return false;
  }
  return true;
}

}  // namespace ihc::test
