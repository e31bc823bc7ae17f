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
// offspring's), across VL inputs of a pair of rows, each lane with its window's other three.
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

namespace {

/**
 * A thread's buffer and lane tables for poolGradRows (n and ch: the row shape they were built
 * for). Reached through a function with internal linkage: a thread_local inside an inline
 * function is one object across every library loaded in the process (STB_GNU_UNIQUE), so two
 * builds of the addon in one process shared it with different layouts and overran it.
 */
struct PoolRows {
  std::vector<float> buf;
  std::vector<int> odd, from;  // per lane: in a right column (-1) or not (0); its dy
  std::vector<int> base, lane;  // per vector: its lowest dy (-1: they span more than VL); per lane: its dy - base
  int n = -1, ch = -1;
};

PoolRows& poolRows() {
  thread_local PoolRows rows;
  return rows;
}

}  // namespace

/**
 * Where each vector of poolGradRows finds its lanes' dy: one load from its lowest dy, permuted,
 * when the lanes' dy lie within VL floats of it (always, for fewer than VL / 2 channels).
 */
inline void dyLanes(PoolRows& t, int vecs) {
  t.base.assign(vecs, -1);
  t.lane.assign(static_cast<size_t>(vecs) * VL, 0);
  for (int v = 0; v < vecs; ++v) {
    const int first = v * VL, last = std::min(t.n, first + VL) - 1;
    int lo = t.from[first], hi = lo;
    for (int i = first; i <= last; ++i) lo = std::min(lo, t.from[i]), hi = std::max(hi, t.from[i]);
    if (hi - lo >= VL) continue;
    t.base[v] = lo;
    for (int i = first; i <= last; ++i) t.lane[i] = t.from[i] - lo;
  }
}

/** v's lanes picked by `at` (each in [0, VL)): r[l] = v[at[l]]. */
inline vec permute(vec v, ivec at) {
#if defined(EVOLVE_AVX512)
  // The zero-masked form: the plain one starts from an undefined vector, which GCC 12 warns of.
  return (vec)_mm512_maskz_permutexvar_ps(0xffff, (__m512i)at, (__m512)v);
#elif defined(EVOLVE_AVX2)
  return (vec)_mm256_permutevar8x32_ps((__m256)v, (__m256i)at);
#else
  vec r;
  for (int l = 0; l < VL; ++l) r[l] = v[at[l]];
  return r;
#endif
}

/**
 * An image of fewer than VL / 2 channels (a compacted offspring's pools keep a few filters; on the
 * baseline path, of fewer than VL), a pair of input rows at a time, VL inputs of each at a time,
 * lane i being column i / ch, channel i % ch. A lane in a window's left column takes its right neighbour ch floats on, one in the
 * right column its left neighbour ch floats back, so each lane sees its window's four inputs in
 * row-major order and firstMax picks as everywhere else. The rows are copied into a buffer with
 * VL + ch floats either side, so that no load leaves them, and the results copied back.
 */
inline void poolGradRows(const float* g, const float* img, float* out, int w, int ch, int oh, int ow) {
  const int n = 2 * ow * ch, vecs = (n + VL - 1) / VL, margin = VL + ch, span = vecs * VL + 2 * margin;
  PoolRows& t = poolRows();
  std::vector<float>& buf = t.buf;
  if (t.n != n || t.ch != ch) {  // the tables depend on the row's shape alone: built once a layer
    t.n = n, t.ch = ch;
    buf.assign(static_cast<size_t>(5) * span, 0.f);
    t.odd.assign(static_cast<size_t>(vecs) * VL, 0);
    t.from.assign(static_cast<size_t>(vecs) * VL, 0);
    for (int i = 0; i < n; ++i) t.odd[i] = -((i / ch) % 2), t.from[i] = (i / ch / 2) * ch + i % ch;
    dyLanes(t, vecs);
  }
  const std::vector<int>& odd = t.odd;
  const std::vector<int>& from = t.from;
  float *r0 = buf.data() + margin, *r1 = r0 + span, *d0 = r1 + span, *d1 = d0 + span, *dy = d1 + span;
  const size_t total = static_cast<size_t>(oh) * ow * ch;  // the image's dy
  for (int r = 0; r < oh; ++r) {
    const float* in = img + static_cast<size_t>(2 * r) * w * ch;
    std::memcpy(r0, in, sizeof(float) * n);
    std::memcpy(r1, in + static_cast<size_t>(w) * ch, sizeof(float) * n);
    const float* gr = g + static_cast<size_t>(r) * ow * ch;
    for (int i = 0; i < vecs * VL; i += VL) {
      const auto at = [&](const float* p) -> vec { return *reinterpret_cast<const uvec*>(p); };
      ivec right;
      std::memcpy(&right, odd.data() + i, sizeof right);
      const vec a0 = at(r0 + i), a1 = at(r1 + i);
      const vec v0 = right ? at(r0 + i - ch) : a0, v1 = right ? a0 : at(r0 + i + ch);
      const vec v2 = right ? at(r1 + i - ch) : a1, v3 = right ? a1 : at(r1 + i + ch);
      const int base = t.base[i / VL];
      vec picked;
      if (base >= 0 && static_cast<size_t>(r) * ow * ch + base + VL <= total) {
        ivec lanes;
        std::memcpy(&lanes, t.lane.data() + i, sizeof lanes);
        picked = permute(at(gr + base), lanes);
      } else {  // the image's last row, where a whole vector would read past its dy
        for (int l = 0; l < VL; ++l) dy[l] = gr[from[i + l]];
        picked = at(dy);
      }
      const vec s = vec{} + picked;
      const ivec win = firstMax(v0, v1, v2, v3), top = -right;  // this lane's place: top, or top + 2
      *reinterpret_cast<uvec*>(d0 + i) = win == top ? s : vec{};
      *reinterpret_cast<uvec*>(d1 + i) = win == top + 2 ? s : vec{};
    }
    float* o = out + static_cast<size_t>(2 * r) * w * ch;
    std::memcpy(o, d0, sizeof(float) * n);
    std::memcpy(o + static_cast<size_t>(w) * ch, d1, sizeof(float) * n);
  }
}

/** One image's input gradient (dy [oh][ow][ch] of the image, x and dx [h][w][ch]); 2 * oh <= h, 2 * ow <= w. */
inline void maxPoolGrad2x2(const float* g, const float* img, float* out, int w, int ch, int oh, int ow) {
  if (ch >= VL)
    for (int r = 0; r < oh; ++r) poolGradChannels<VL>(g, img, out, w, ch, r, ow);
  else if (ch >= VL / 2 && VL >= 8)
    for (int r = 0; r < oh; ++r) poolGradChannels<VL / 2>(g, img, out, w, ch, r, ow);
  else
    poolGradRows(g, img, out, w, ch, oh, ow);
}

}  // namespace evolve::EVOLVE_ISA
