#include "imaging/simd.hpp"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace ihc {
namespace {

bool cpu_has(SimdLevel level) {
  // __builtin_cpu_supports("avx") is false unless the OS saves the YMM state.
  static const bool sse41 = __builtin_cpu_supports("sse4.1");
  static const bool avx = __builtin_cpu_supports("avx");
  static const bool avx2 = __builtin_cpu_supports("avx2");
  switch (level) {
    case SimdLevel::kSse2:
      return true;
    case SimdLevel::kSse41:
      return sse41;
    case SimdLevel::kAvx:
      return avx;
    case SimdLevel::kAvx2:
      return avx2;
  }
  return false;
}

std::atomic<bool>& wide_enabled() {
  static std::atomic<bool> enabled{[] {
    const char* v = std::getenv("IHC_SIMD");
    return !(v != nullptr && std::strcmp(v, "sse2") == 0);
  }()};
  return enabled;
}

}  // namespace

bool simd_allowed(SimdLevel level) {
  return level == SimdLevel::kSse2 || (wide_enabled().load(std::memory_order_relaxed) && cpu_has(level));
}

bool use_wide_simd(bool enabled) {
  wide_enabled().store(enabled, std::memory_order_relaxed);
  return simd_allowed(SimdLevel::kAvx2);
}

}  // namespace ihc
