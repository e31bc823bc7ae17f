// native/kernels.cc compiled for AVX-512 (F, VL, BW, DQ; see native/target.h); empty elsewhere than on x86-64.
#if defined(__x86_64__)
#define EVOLVE_AVX512
#include "kernels.cc"
#endif
