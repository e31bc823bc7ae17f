// The vectors of the kernels' target (native/target.h) and their one multiply-add.
#pragma once
#ifndef EVOLVE_ISA
#error "include native/target.h (after the standard headers) before the kernel headers"
#endif
#include <cstdint>
#include <cstring>

namespace evolve::EVOLVE_ISA {

#if defined(EVOLVE_AVX512)
constexpr int VL = 16;  // floats per vector register
constexpr int MR = 8;   // rows of C per micro-kernel: 16 accumulators + 2 B vectors of 32 zmm
#elif defined(EVOLVE_AVX2)
constexpr int VL = 8;
constexpr int MR = 6;  // 12 accumulators + 2 B vectors of 16 ymm
#elif defined(__x86_64__)
constexpr int VL = 4;
constexpr int MR = 2;  // 4 accumulators: the multiply-add in doubles needs the other registers
#else
constexpr int VL = 4;
constexpr int MR = 6;
#endif

typedef float vec __attribute__((vector_size(VL * sizeof(float))));
typedef float uvec __attribute__((vector_size(VL * sizeof(float)), aligned(4), may_alias));
typedef int ivec __attribute__((vector_size(VL * sizeof(int))));  // lane masks and indices

/** A vector of V's lanes, every one s (s - 0 is s, -0 too: one broadcast instruction). */
template <typename V>
inline V splat(float s) {
  return s - V{};
}

typedef double double2 __attribute__((vector_size(2 * sizeof(double))));
typedef int64_t int2x64 __attribute__((vector_size(2 * sizeof(double))));

/**
 * a * b + c rounded to odd, for two lanes of floats held in doubles: a * b is exact in a double
 * (48 bits), and so, rounded to a float, the result is the one a fused multiply-add gives
 * (Boldo and Melquiond, "Emulation of FMA and correctly rounded sums: proved algorithms using
 * rounding to odd", IEEE Trans. Computers 57(4), 2008). Two lanes: SSE2's double vectors.
 */
inline double2 madd2ToOdd(double2 a, double2 b, double2 c) {
  const double2 p = a * b, s = p + c, t = s - p;
  const double2 e = (p - (s - t)) + (c - t);  // s + e == p + c exactly (Knuth's TwoSum)
  int2x64 bits;
  std::memcpy(&bits, &s, sizeof s);
  // Inexact (e not 0; NaN when s is infinite or NaN, which stays) and s even: the odd neighbour
  // on e's side, one up in magnitude when e has s's sign, one down otherwise.
  const int2x64 inexact = (e < 0) | (e > 0);
  const int2x64 even = (bits & 1) - 1;
  const int2x64 step = ((s < 0) ^ (e < 0)) | 1;
  bits += inexact & even & step;
  double2 odd;
  std::memcpy(&odd, &bits, sizeof odd);
  return odd;
}

/** a * b + c rounded once, lane by lane, computed in doubles (for SSE2, which has no FMA). */
template <typename V>
inline V fmaInDoubles(V a, V b, V c) {
  constexpr int L = sizeof(V) / sizeof(float);
  typedef double D __attribute__((vector_size(L * sizeof(double))));
  const D da = __builtin_convertvector(a, D), db = __builtin_convertvector(b, D), dc = __builtin_convertvector(c, D);
  D r;
  for (int h = 0; h < L; h += 2) {
    double2 x, y, z;
    std::memcpy(&x, reinterpret_cast<const char*>(&da) + h * sizeof(double), sizeof x);
    std::memcpy(&y, reinterpret_cast<const char*>(&db) + h * sizeof(double), sizeof y);
    std::memcpy(&z, reinterpret_cast<const char*>(&dc) + h * sizeof(double), sizeof z);
    const double2 o = madd2ToOdd(x, y, z);
    std::memcpy(reinterpret_cast<char*>(&r) + h * sizeof(double), &o, sizeof o);
  }
  return __builtin_convertvector(r, V);
}

/**
 * a * b + c rounded once (a fused multiply-add): the kernels' only multiply-add. They are compiled
 * with -ffp-contract=off and call this wherever they multiply and add, so that every path
 * computes the same floats whatever its vector width and instructions.
 */
template <typename V>
inline V madd(V a, V b, V c) {
#if defined(EVOLVE_AVX512) || defined(EVOLVE_AVX2)
  if constexpr (sizeof(V) == 16) {
    return (V)_mm_fmadd_ps((__m128)a, (__m128)b, (__m128)c);
  } else if constexpr (sizeof(V) == 32) {
    return (V)_mm256_fmadd_ps((__m256)a, (__m256)b, (__m256)c);
  } else {
#if defined(EVOLVE_AVX512)
    static_assert(sizeof(V) == 64, "a vector of 4, 8 or 16 floats");
    return (V)_mm512_fmadd_ps((__m512)a, (__m512)b, (__m512)c);
#else
    static_assert(sizeof(V) == 0, "a vector of 4 or 8 floats");
#endif
  }
#elif defined(__x86_64__)
  return fmaInDoubles(a, b, c);
#else
  V r;  // every other 64-bit target Node runs on (arm64, ppc64, s390x) has the instruction
  for (unsigned l = 0; l < sizeof(V) / sizeof(float); ++l) r[l] = __builtin_fmaf(a[l], b[l], c[l]);
  return r;
#endif
}

/** One vector of two half vectors: a in the lower lanes, b in the upper (a register move, no memory). */
template <typename H>
inline vec join(H a, H b) {
  static_assert(sizeof(H) * 2 == sizeof(vec), "two halves of a vector");
#if defined(EVOLVE_AVX512)
  // The masked inserts: the plain ones start from an undefined vector, which GCC 12 warns of.
  const __m512d zero = _mm512_setzero_pd();
  const __m512d low = _mm512_mask_insertf64x4(zero, 0xff, zero, _mm256_castps_pd((__m256)a), 0);
  return (vec)_mm512_castpd_ps(_mm512_mask_insertf64x4(low, 0xff, low, _mm256_castps_pd((__m256)b), 1));
#elif defined(EVOLVE_AVX2)
  return (vec)_mm256_insertf128_ps(_mm256_castps128_ps256((__m128)a), (__m128)b, 1);
#else
  vec r;
  for (int l = 0; l < VL / 2; ++l) r[l] = a[l], r[l + VL / 2] = b[l];
  return r;
#endif
}

}  // namespace evolve::EVOLVE_ISA
