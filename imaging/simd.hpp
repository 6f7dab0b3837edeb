#pragma once
// One switch for the vector paths wider than SSE2 that the imaging code chooses at run time (AVX in the
// Gaussian blur, SSE4.1 and AVX2 in the growth landscape, AVX2 in morphology). Every such path gives the same
// bits as the SSE2 one, so results do not depend on the CPU; the switch exists to check that claim and to
// time both paths in one binary. IHC_SIMD=sse2 in the environment forces the SSE2 paths everywhere.

namespace ihc {

enum class SimdLevel { kSse2, kSse41, kAvx, kAvx2 };

// Whether the paths of `level` may run: the CPU has them and neither IHC_SIMD=sse2 nor
// use_wide_simd(false) turned them off. Cheap (one atomic load); safe from any thread.
bool simd_allowed(SimdLevel level);

// For tests and benchmarks: false forces the SSE2 paths in every thread from now on, true restores the
// CPU's own choice (the environment variable is then ignored). Returns whether AVX2 paths run afterwards.
bool use_wide_simd(bool enabled);

}  // namespace ihc
