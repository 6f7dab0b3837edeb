#pragma once
// One switch for the vector paths wider than SSE2 that the imaging code chooses at run time (AVX in the
// Gaussian blur, SSE4.1 and AVX2 in the growth landscape, AVX2 in morphology). Every such path gives the same
// bits as the SSE2 one, so results do not depend on the CPU; the switch exists to check that claim and to
// time the paths in one binary. IHC_SIMD=sse2 (or sse41, avx) in the environment caps the level used.

// Marks a function compiled for AVX2, to be called only where simd_allowed(SimdLevel::kAvx2).
#define IHC_AVX2 __attribute__((target("avx2")))

namespace ihc {

// Ordered: a cap at one level allows the levels below it.
enum class SimdLevel { kSse2, kSse41, kAvx, kAvx2 };

// Whether the paths of `level` may run: the CPU has them and the cap (IHC_SIMD, limit_simd, use_wide_simd)
// allows them. Cheap (one atomic load); safe from any thread.
bool simd_allowed(SimdLevel level);

// For tests and benchmarks: caps the level in every thread from now on (kAvx2: the CPU's own choice; the
// environment variable is then ignored).
void limit_simd(SimdLevel max);
// The cap in force (kAvx2 when nothing capped it).
SimdLevel simd_limit();

// limit_simd(kAvx2) when `enabled`, else limit_simd(kSse2). Returns whether AVX2 paths run afterwards.
bool use_wide_simd(bool enabled);

}  // namespace ihc
