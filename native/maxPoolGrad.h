// The gradient of max pools, vectorised: LeNet's (2x2 windows at stride 2, all inside the image)
// and, per window, any other (windowWinners).
//
// The rule is maxPoolGrad's (and tfjs's cpu backend's): a window's dy goes to its first strict
// maximum in row-major order; NaN never wins, and a window of NaN and -Infinity passes nothing on.
// The windows do not overlap, so each input is written once: 0 + dy where it won (the sum the
// general path computes, which turns a -0 into +0), 0 elsewhere. A branch per comparison
// mispredicts on trained activations about once a window, which made this 2-3 ns per input;
// here the comparisons are vector selects, across channels (20 or more of them: the ancestor's
// pools) or, for fewer channels (a compacted offspring's), across VL windows copied into planes.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstring>
#include <vector>

#include "simd.h"

namespace evolve::EVOLVE_ISA {

/** Per lane, the winner among v0..v3 in that order: 0-3, or -1 when none is above -Infinity. */
inline ivec firstMax(vec v0, vec v1, vec v2, vec v3) {
  const vec low = vec{} - INFINITY;
  const ivec none = ivec{} - 1;
  ivec c = v0 > low;
  vec best = c ? v0 : low;
  ivec at = c ? ivec{} : none;
  c = v1 > best;
  best = c ? v1 : best;
  at = c ? ivec{} + 1 : at;
  c = v2 > best;
  best = c ? v2 : best;
  at = c ? ivec{} + 2 : at;
  return v3 > best ? ivec{} + 3 : at;
}

/** The same rule for one window of one channel. */
inline int firstMax(float v0, float v1, float v2, float v3) {
  float best = -INFINITY;
  int at = -1;
  if (v0 > best) best = v0, at = 0;
  if (v1 > best) best = v1, at = 1;
  if (v2 > best) best = v2, at = 2;
  if (v3 > best) at = 3;
  return at;
}

/** Scalar windows q0..ow of output row r, every channel from k0 (tails, and 2-15 channels). */
inline void poolGradScalar(const float* g, const float* img, float* out, int w, int ch, int r, int q0, int ow, int k0) {
  for (int q = q0; q < ow; ++q) {
    const size_t p00 = (static_cast<size_t>(2 * r) * w + 2 * q) * ch, p01 = p00 + ch;
    const size_t p10 = p00 + static_cast<size_t>(w) * ch, p11 = p10 + ch;
    const float* d = g + (static_cast<size_t>(r) * ow + q) * ch;
    for (int k = k0; k < ch; ++k) {
      const int at = firstMax(img[p00 + k], img[p01 + k], img[p10 + k], img[p11 + k]);
      const float s = 0.f + d[k];
      out[p00 + k] = at == 0 ? s : 0.f;
      out[p01 + k] = at == 1 ? s : 0.f;
      out[p10 + k] = at == 2 ? s : 0.f;
      out[p11 + k] = at == 3 ? s : 0.f;
    }
  }
}

/** Stores s where `at` names this input (which), 0 elsewhere. */
inline void storeWinner(float* p, ivec at, int which, vec s) {
  *reinterpret_cast<uvec*>(p) = at == which ? s : vec{};
}

/** Output row r with VL or more channels: VL channels of a window at a time. */
inline void poolGradChannels(const float* g, const float* img, float* out, int w, int ch, int r, int ow) {
  const int whole = ch - ch % VL;
  for (int q = 0; q < ow; ++q) {
    const size_t p00 = (static_cast<size_t>(2 * r) * w + 2 * q) * ch, p01 = p00 + ch;
    const size_t p10 = p00 + static_cast<size_t>(w) * ch, p11 = p10 + ch;
    const float* d = g + (static_cast<size_t>(r) * ow + q) * ch;
    for (int k = 0; k < whole; k += VL) {
      const auto at = [&](size_t p) { return *reinterpret_cast<const uvec*>(img + p + k); };
      const ivec win = firstMax(at(p00), at(p01), at(p10), at(p11));
      const vec s = vec{} + *reinterpret_cast<const uvec*>(d + k);
      storeWinner(out + p00 + k, win, 0, s);
      storeWinner(out + p01 + k, win, 1, s);
      storeWinner(out + p10 + k, win, 2, s);
      storeWinner(out + p11 + k, win, 3, s);
    }
  }
  if (whole < ch) poolGradScalar(g, img, out, w, ch, r, 0, ow, whole);
}

/**
 * Any window [r0, r1) x [c0, c1) of an image [h][w][ch]: per channel, the index of its first strict
 * maximum in row-major order (maxPoolGrad's rule), or -1 when none is above -Infinity. VL channels
 * at a time with vector selects (AlexNet's pools have 64-256 channels), the rest one by one.
 */
inline void windowWinners(const float* img, int w, int ch, int r0, int r1, int c0, int c1, int* at) {
  ivec lane;
  for (int l = 0; l < VL; ++l) lane[l] = l;
  int k = 0;
  for (; k + VL <= ch; k += VL) {
    vec best = vec{} - INFINITY;
    ivec win = ivec{} - 1;
    for (int yy = r0; yy < r1; ++yy)
      for (int xx = c0; xx < c1; ++xx) {
        const int base = (yy * w + xx) * ch + k;
        const vec v = *reinterpret_cast<const uvec*>(img + base);
        const ivec c = v > best;
        best = c ? v : best;
        win = c ? lane + base : win;
      }
    std::memcpy(at + k, &win, sizeof win);
  }
  for (; k < ch; ++k) {
    float best = -INFINITY;
    at[k] = -1;
    for (int yy = r0; yy < r1; ++yy)
      for (int xx = c0; xx < c1; ++xx) {
        const int i = (yy * w + xx) * ch + k;
        if (img[i] > best) best = img[i], at[k] = i;
      }
  }
}

/**
 * A whole image of fewer than VL channels (a compacted offspring's conv1 may keep one): the
 * four inputs of every (window, channel) are first copied into four planes, so that the selects
 * run VL windows at a time without shuffles; the results are copied back. Plain copies cost a few
 * cycles a window, a mispredicted branch about fifteen.
 */
inline void poolGradPlanes(const float* g, const float* img, float* out, int w, int ch, int oh, int ow) {
  const int n = oh * ow * ch, padded = (n + VL - 1) / VL * VL;
  thread_local std::vector<float> buf;
  buf.resize(static_cast<size_t>(5) * padded);
  float* v[4] = {buf.data(), buf.data() + padded, buf.data() + 2 * padded, buf.data() + 3 * padded};
  float* d = buf.data() + 4 * padded;
  size_t at[4];
  for (int r = 0, j = 0; r < oh; ++r)
    for (int q = 0; q < ow; ++q)
      for (int k = 0; k < ch; ++k, ++j) {
        at[0] = (static_cast<size_t>(2 * r) * w + 2 * q) * ch + k, at[1] = at[0] + ch;
        at[2] = at[0] + static_cast<size_t>(w) * ch, at[3] = at[2] + ch;
        for (int i = 0; i < 4; ++i) v[i][j] = img[at[i]];
        d[j] = g[j];
      }
  for (int j = n; j < padded; ++j) v[0][j] = v[1][j] = v[2][j] = v[3][j] = d[j] = 0.f;
  for (int j = 0; j < padded; j += VL) {
    const auto load = [&](const float* p) { return *reinterpret_cast<const uvec*>(p + j); };
    const ivec win = firstMax(load(v[0]), load(v[1]), load(v[2]), load(v[3]));
    const vec s = vec{} + load(d);
    for (int i = 0; i < 4; ++i) storeWinner(v[i] + j, win, i, s);
  }
  for (int r = 0, j = 0; r < oh; ++r)
    for (int q = 0; q < ow; ++q)
      for (int k = 0; k < ch; ++k, ++j) {
        at[0] = (static_cast<size_t>(2 * r) * w + 2 * q) * ch + k, at[1] = at[0] + ch;
        at[2] = at[0] + static_cast<size_t>(w) * ch, at[3] = at[2] + ch;
        for (int i = 0; i < 4; ++i) out[at[i]] = v[i][j];
      }
}

/** One image's input gradient (dy [oh][ow][ch] of the image, x and dx [h][w][ch]); 2 * oh <= h, 2 * ow <= w. */
inline void maxPoolGrad2x2(const float* g, const float* img, float* out, int w, int ch, int oh, int ow) {
  if (ch < VL) return poolGradPlanes(g, img, out, w, ch, oh, ow);
  for (int r = 0; r < oh; ++r) poolGradChannels(g, img, out, w, ch, r, ow);
}

}  // namespace evolve::EVOLVE_ISA
