// Convolution geometry shared by the native kernels (native/kernels.cc, native/direct.h).
#pragma once

namespace evolve {

/** NHWC input, [kh, kw, cin, cout] filter, dilation 1; top and left are the padding before. */
struct Conv {
  int batch, h, w, cin, oh, ow, cout, kh, kw, sh, sw, top, left;
  int k() const { return kh * kw * cin; }
  int positions() const { return oh * ow; }
};

}  // namespace evolve
