#include "imaging/simd.hpp"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace ihc {
namespace {

bool cpu_has(SimdLevel level) {
  // __builtin_cpu_supports("avx") is false unless the OS saves the YMM state.
  static const bool kHasSse41 = __builtin_cpu_supports("sse4.1");
  static const bool kHasAvx = __builtin_cpu_supports("avx");
  static const bool kHasAvx2 = __builtin_cpu_supports("avx2");
  switch (level) {
    case SimdLevel::kSse2:
      return true;
    case SimdLevel::kSse41:
      return kHasSse41;
    case SimdLevel::kAvx:
      return kHasAvx;
    case SimdLevel::kAvx2:
      return kHasAvx2;
  }
  return false;
}

SimdLevel level_from_environment() {
  const char* v = std::getenv("IHC_SIMD");
  if (v == nullptr) return SimdLevel::kAvx2;
  if (std::strcmp(v, "sse2") == 0) return SimdLevel::kSse2;
  if (std::strcmp(v, "sse41") == 0) return SimdLevel::kSse41;
  if (std::strcmp(v, "avx") == 0) return SimdLevel::kAvx;
  return SimdLevel::kAvx2;  // "avx2" or anything else: the CPU's own choice
}

std::atomic<SimdLevel>& cap() {
  static std::atomic<SimdLevel> max{level_from_environment()};
  return max;
}

}  // namespace

bool simd_allowed(SimdLevel level) {
  return level == SimdLevel::kSse2 || (level <= cap().load(std::memory_order_relaxed) && cpu_has(level));
}

void limit_simd(SimdLevel max) { cap().store(max, std::memory_order_relaxed); }

SimdLevel simd_limit() { return cap().load(std::memory_order_relaxed); }

bool use_wide_simd(bool enabled) {
  limit_simd(enabled ? SimdLevel::kAvx2 : SimdLevel::kSse2);
  return simd_allowed(SimdLevel::kAvx2);
}

}  // namespace ihc
