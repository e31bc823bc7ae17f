// The instruction set of this copy of the kernels. native/kernels.cc is compiled once per path:
// plain ('baseline': SSE2 on x86-64, the compiler's default elsewhere), and on x86-64 again by
// kernelsAvx2.cc and kernelsAvx512.cc, which define EVOLVE_AVX2 or EVOLVE_AVX512 and include it.
// native/addon.cc picks one copy at load time.
//
// The target is set here by a pragma, after the standard headers, not by -m flags on the whole
// file: every copy instantiates the same standard-library templates (std::vector<float>::resize
// and so on), and the linker keeps one instance of each. Compiled with -mavx512f, the instance
// kept could be the AVX-512 one, called then by the baseline path on a CPU without AVX-512.
// Templates are compiled for the target in force where they are defined, so the standard
// library's stay baseline code, and only the functions after this header (in the namespace
// named EVOLVE_ISA) use the wider instructions. Include it once, after every other header but
// the kernels' own.
#ifdef EVOLVE_ISA
#error "native/target.h is included once per translation unit"
#endif

#if defined(EVOLVE_AVX512) || defined(EVOLVE_AVX2)
#if !defined(__x86_64__)
#error "the AVX2 and AVX-512 kernels are for x86-64"
#endif
#include <immintrin.h>
#endif

#if defined(EVOLVE_AVX512)
#define EVOLVE_ISA avx512
#define EVOLVE_ISA_NAME "avx512"
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"))), \
                             apply_to = function)
#define EVOLVE_TARGET_END _Pragma("clang attribute pop")
#else
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")
#endif
#elif defined(EVOLVE_AVX2)
#define EVOLVE_ISA avx2
#define EVOLVE_ISA_NAME "avx2"
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#define EVOLVE_TARGET_END _Pragma("clang attribute pop")
#else
#pragma GCC target("avx2,fma")
#endif
#else
#define EVOLVE_ISA baseline
#define EVOLVE_ISA_NAME "baseline"
#endif

#ifndef EVOLVE_TARGET_END
#define EVOLVE_TARGET_END
#endif
