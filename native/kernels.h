// The native kernels as a table of functions: one table per path (instruction set), each from its
// own copy of native/kernels.cc (see native/target.h); native/addon.cc calls the table it picked.
#pragma once
#include <cstddef>
#include <cstdint>

#include "conv.h"

namespace evolve {

struct Kernels {
  /** The path: 'avx512', 'avx2' or 'baseline'. */
  const char* name;
  void (*conv2d)(const Conv& c, const float* x, const float* filter, float* y, int threads);
  void (*conv2dBackpropInput)(const Conv& c, const float* dy, const float* filter, float* dx, int threads);
  void (*conv2dBackpropFilter)(const Conv& c, const float* x, const float* dy, float* dfilter, int threads);
  /** C[p] = op(A[p]) op(B[p]) for p < batch (an operand with batch 1 is broadcast). */
  void (*matmul)(const float* a, const float* b, float* c, int batchA, int batchB, int m, int n, int k, bool ta,
                 bool tb, int threads);
  void (*maxPoolGrad)(const float* dy, const float* x, float* dx, int batch, int h, int w, int ch, int oh, int ow,
                      int fh, int fw, int sh, int sw, int top, int left, int threads);
  /** false when the input held a NaN or -0 (the output then unspecified). */
  bool (*maxPool)(const float* x, float* y, int batch, int h, int w, int ch, int oh, int ow, int fh, int fw, int sh,
                  int sw, int threads);
  void (*sum)(const float* x, float* out, size_t outer, size_t inner, bool overOuter);
  void (*biasAdd)(const float* a, const float* b, float* out, size_t rows, size_t cols);
  void (*maskedStep)(float* w, const float* g, const float* mask, float* v, size_t n, float c, float m);
  void (*gatherImages)(const uint8_t* images, const uint32_t* indices, int start, int end, int size, int channels,
                       const float* table, float* out);
  /** Runs `rounds` x 12 vector multiply-adds on each of `threads` threads; returns the flops done. */
  double (*fmaPeak)(long rounds, int threads);
};

namespace baseline {
extern const Kernels kernels;
}
#if defined(__x86_64__)
namespace avx2 {
extern const Kernels kernels;
}
namespace avx512 {
extern const Kernels kernels;
}
#endif

}  // namespace evolve
