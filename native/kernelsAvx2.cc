// native/kernels.cc compiled for AVX2 and FMA (see native/target.h); empty elsewhere than on x86-64.
#if defined(__x86_64__)
#define EVOLVE_AVX2
#include "kernels.cc"
#endif
