// The gradient of max pools, vectorised: LeNet's (2x2 windows at stride 2, all inside the image)
// and, per window, any other (windowWinners).
//
// The rule is maxPoolGrad's (and tfjs's cpu backend's): a window's dy goes to its first strict
// maximum in row-major order; NaN never wins, and a window of NaN and -Infinity passes nothing on.
// The windows do not overlap, so each input is written once: 0 + dy where it won (the sum the
// general path computes, which turns a -0 into +0), 0 elsewhere. A branch per comparison
// mispredicts on trained activations about once a window, which made this 2-3 ns per input;
// here the comparisons are vector selects, across channels (20 or more of them: the ancestor's
// pools; VL / 2 at a time for VL / 2 to VL - 1 of them) or, for fewer channels (a compacted
// offspring's), across VL windows copied into planes.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <vector>

#include "simd.h"

namespace evolve::EVOLVE_ISA {

/** L floats, and L lane masks, as vectors (L = VL, or VL / 2 for fewer channels), loaded from anywhere. */
template <int L>
struct PoolLanes {
  typedef float v __attribute__((vector_size(L * sizeof(float))));
  typedef float u __attribute__((vector_size(L * sizeof(float)), aligned(4), may_alias));
  typedef int i __attribute__((vector_size(L * sizeof(int))));
};

/** Per lane, the winner among v0..v3 in that order: 0-3, or -1 when none is above -Infinity. */
template <typename V, typename I = decltype(V{} > V{})>
inline I firstMax(V v0, V v1, V v2, V v3) {
  const V low = V{} - INFINITY;
  const I none = I{} - 1;
  I c = v0 > low;
  V best = c ? v0 : low;
  I at = c ? I{} : none;
  c = v1 > best;
  best = c ? v1 : best;
  at = c ? I{} + 1 : at;
  c = v2 > best;
  best = c ? v2 : best;
  at = c ? I{} + 2 : at;
  return v3 > best ? I{} + 3 : at;
}

/** Stores s where `at` names this input (which), 0 elsewhere. */
template <typename V, typename I>
inline void storeWinner(float* p, I at, int which, V s) {
  typedef float U __attribute__((vector_size(sizeof(V)), aligned(4), may_alias));
  *reinterpret_cast<U*>(p) = at == which ? s : V{};
}

/**
 * Output row r with L or more channels: L channels of a window at a time, the last L once more
 * where L does not divide ch. A channel's result depends on its own window alone, so the overlap
 * writes the same floats again (it replaces a scalar tail, a mispredicted branch a window).
 */
template <int L>
inline void poolGradChannels(const float* g, const float* img, float* out, int w, int ch, int r, int ow) {
  typedef typename PoolLanes<L>::v V;
  typedef typename PoolLanes<L>::u U;
  for (int q = 0; q < ow; ++q) {
    const size_t p00 = (static_cast<size_t>(2 * r) * w + 2 * q) * ch, p01 = p00 + ch;
    const size_t p10 = p00 + static_cast<size_t>(w) * ch, p11 = p10 + ch;
    const float* d = g + (static_cast<size_t>(r) * ow + q) * ch;
    for (int k0 = 0; k0 < ch; k0 += L) {
      const int k = std::min(k0, ch - L);
      const auto at = [&](size_t p) -> V { return *reinterpret_cast<const U*>(img + p + k); };
      const auto win = firstMax(at(p00), at(p01), at(p10), at(p11));
      const V s = V{} + *reinterpret_cast<const U*>(d + k);
      storeWinner(out + p00 + k, win, 0, s);
      storeWinner(out + p01 + k, win, 1, s);
      storeWinner(out + p10 + k, win, 2, s);
      storeWinner(out + p11 + k, win, 3, s);
    }
  }
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
  if (ch >= VL)
    for (int r = 0; r < oh; ++r) poolGradChannels<VL>(g, img, out, w, ch, r, ow);
  else if (ch >= VL / 2 && VL >= 8)
    for (int r = 0; r < oh; ++r) poolGradChannels<VL / 2>(g, img, out, w, ch, r, ow);
  else
    poolGradPlanes(g, img, out, w, ch, oh, ow);
}

}  // namespace evolve::EVOLVE_ISA
