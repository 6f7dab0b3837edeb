#include "support/test_support.hpp"

#include <system_error>

namespace ihc::test {

std::filesystem::path shared_data(const std::string& relative, bool* available) {
  const char* env = std::getenv("IHC_SHARED_DATA");
  const std::filesystem::path root = env != nullptr ? std::filesystem::path(env) : std::filesystem::path(IHC_SHARED_DATA);
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

std::filesystem::path source_dir() { return IHC_SOURCE_DIR; }
std::filesystem::path binary_dir() { return IHC_BINARY_DIR; }

}  // namespace ihc::test
