#include "imaging/simd.hpp"

#include <gtest/gtest.h>

namespace ihc {
namespace {

// Restores the CPU's own choice however the test ends.
struct DefaultPaths {
  ~DefaultPaths() { limit_simd(SimdLevel::kAvx2); }
};

TEST(Simd, TheSwitchForcesSse2EverywhereAndRestoresTheCpusChoice) {
  const DefaultPaths restore;
  EXPECT_FALSE(use_wide_simd(false));
  EXPECT_TRUE(simd_allowed(SimdLevel::kSse2));
  EXPECT_FALSE(simd_allowed(SimdLevel::kSse41));
  EXPECT_FALSE(simd_allowed(SimdLevel::kAvx));
  EXPECT_FALSE(simd_allowed(SimdLevel::kAvx2));
  const bool avx2 = __builtin_cpu_supports("avx2");
  EXPECT_EQ(use_wide_simd(true), avx2);
  EXPECT_EQ(simd_allowed(SimdLevel::kSse41), static_cast<bool>(__builtin_cpu_supports("sse4.1")));
  EXPECT_EQ(simd_allowed(SimdLevel::kAvx), static_cast<bool>(__builtin_cpu_supports("avx")));
  EXPECT_EQ(simd_allowed(SimdLevel::kAvx2), avx2);
}

TEST(Simd, ACapAllowsTheLevelsBelowIt) {
  const DefaultPaths restore;
  limit_simd(SimdLevel::kSse41);
  EXPECT_TRUE(simd_allowed(SimdLevel::kSse2));
  EXPECT_EQ(simd_allowed(SimdLevel::kSse41), static_cast<bool>(__builtin_cpu_supports("sse4.1")));
  EXPECT_FALSE(simd_allowed(SimdLevel::kAvx));
  EXPECT_FALSE(simd_allowed(SimdLevel::kAvx2));
  EXPECT_EQ(simd_limit(), SimdLevel::kSse41);
  limit_simd(SimdLevel::kAvx);
  EXPECT_EQ(simd_limit(), SimdLevel::kAvx);
  EXPECT_EQ(simd_allowed(SimdLevel::kAvx), static_cast<bool>(__builtin_cpu_supports("avx")));
  EXPECT_FALSE(simd_allowed(SimdLevel::kAvx2));
}

}  // namespace
}  // namespace ihc
