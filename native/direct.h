// Direct convolutions for layers with few filters (a compacted offspring's conv1 may keep one):
// no image-to-column matrix. Through the GEMM such a layer copied kh*kw*cin floats per output
// position and then ran an MR-row micro-kernel with one live row; here the taps are read in place
// from a zero-padded copy of the image. Each output is the GEMM's exact sequence of fused
// multiply-adds (k order from +0, KC-deep blocks added in order; filter gradients in the same
// position chunks), so the floats do not change.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <vector>

#include "conv.h"
#include "gemm.h"

namespace evolve::EVOLVE_ISA {

/** The rows and columns of (padded) input a convolution's taps read. */
inline int paddedRows(const Conv& c) { return (c.oh - 1) * c.sh + c.kh; }
inline int paddedCols(const Conv& c) { return (c.ow - 1) * c.sw + c.kw; }

/**
 * A thread's buffer for a padded image. The padding functions write only the image's own cells,
 * never the margins, so a buffer laid out for the same layout (padding kind and geometry) still
 * has zero margins: it is zeroed only when the layout changes, not for every image.
 */
struct PadBuffer {
  std::vector<float> data;
  int kind = -1;
  Conv layout{};
};

/** `out` holding `size` floats laid out as `kind` for `c`: zeroed unless it already was. */
inline float* padLayout(PadBuffer& out, int kind, const Conv& c, size_t size) {
  const Conv& l = out.layout;
  const bool same = out.kind == kind && out.data.size() == size && l.h == c.h && l.w == c.w && l.cin == c.cin &&
                    l.oh == c.oh && l.ow == c.ow && l.cout == c.cout && l.kh == c.kh && l.kw == c.kw &&
                    l.sh == c.sh && l.sw == c.sw && l.top == c.top && l.left == c.left;
  if (!same) {
    out.data.assign(size, 0.f);
    out.kind = kind;
    out.layout = c;
  }
  return out.data.data();
}

/**
 * Image b as zero-padded planes [cin][rows][stride] (stride = cols + VL: a vector load from any
 * tap column stays in its row), so that one channel's taps for VL neighbouring positions are adjacent.
 */
inline void padPlanar(const Conv& c, const float* x, int b, int stride, PadBuffer& buffer) {
  const int rows = paddedRows(c), cols = paddedCols(c);
  float* out = padLayout(buffer, 0, c, static_cast<size_t>(c.cin) * rows * stride + VL);
  const float* img = x + static_cast<size_t>(b) * c.h * c.w * c.cin;
  const int width = std::min(c.w, cols - c.left);
  for (int y = 0; y < c.h && y + c.top < rows; ++y) {
    const float* src = img + static_cast<size_t>(y) * c.w * c.cin;
    for (int ci = 0; ci < c.cin; ++ci) {
      float* dst = out + (static_cast<size_t>(ci) * rows + y + c.top) * stride + c.left;
      for (int xx = 0; xx < width; ++xx) dst[xx] = src[static_cast<size_t>(xx) * c.cin + ci];
    }
  }
}

/** Image b zero-padded, still NHWC [rows][cols][cin], with 2 * VL readable floats past its end. */
inline void padNHWC(const Conv& c, const float* x, int b, PadBuffer& buffer) {
  const int rows = paddedRows(c), cols = paddedCols(c);
  float* out = padLayout(buffer, 1, c, static_cast<size_t>(rows) * cols * c.cin + 2 * VL);
  const float* img = x + static_cast<size_t>(b) * c.h * c.w * c.cin;
  const int width = std::min(c.w, cols - c.left);
  for (int y = 0; y < c.h && y + c.top < rows; ++y)
    if (width > 0)
      std::copy(img + static_cast<size_t>(y) * c.w * c.cin, img + (static_cast<size_t>(y) * c.w + width) * c.cin,
                out + (static_cast<size_t>(y + c.top) * cols + c.left) * c.cin);
}

/** L floats as one vector (L = VL, or VL / 2 where half the lanes would idle), loaded from anywhere. */
template <int L>
struct Lanes {
  typedef float v __attribute__((vector_size(L * sizeof(float))));
  typedef float u __attribute__((vector_size(L * sizeof(float)), aligned(4), may_alias));
  static v load(const float* p) { return *reinterpret_cast<const u*>(p); }
};

/**
 * Filters co..co+F-1 over N vectors of positions (stride 1 across) from output row oy and column
 * ox: for each KC-deep block, acc = sum of tap * filter in k order; the blocks summed into sum.
 * load(src, n) gives vector n's taps, src being the tap's place in the planes for row oy. Each tap
 * vector is loaded once for the F filters, and each lane is one output's chain.
 */
template <int F, int N, typename V, typename Load>
void directSums(const Conv& c, const float* planes, int stride, const float* f, int co, int oy, int ox, Load load,
                V (&sum)[F][N]) {
  const size_t plane = static_cast<size_t>(paddedRows(c)) * stride;
  V acc[F][N];
  for (int h = 0; h < F; ++h)
    for (int n = 0; n < N; ++n) sum[h][n] = acc[h][n] = V{};
  int k = 0;
  for (int i = 0; i < c.kh; ++i)
    for (int j = 0; j < c.kw; ++j)
      for (int ci = 0; ci < c.cin; ++ci, ++k) {
        if (k % KC == 0 && k > 0) {
          for (int h = 0; h < F; ++h)
            for (int n = 0; n < N; ++n) sum[h][n] = k == KC ? acc[h][n] : sum[h][n] + acc[h][n];
          for (int h = 0; h < F; ++h)
            for (int n = 0; n < N; ++n) acc[h][n] = V{};
        }
        V s[F];
        for (int h = 0; h < F; ++h) s[h] = splat<V>(f[static_cast<size_t>(k) * c.cout + co + h]);
        const float* src = planes + ci * plane + static_cast<size_t>(oy * c.sh + i) * stride + ox + j;
        for (int n = 0; n < N; ++n) {
          const V x = load(src, n);
          for (int h = 0; h < F; ++h) acc[h][n] = madd(x, s[h], acc[h][n]);
        }
      }
  for (int h = 0; h < F; ++h)
    for (int n = 0; n < N; ++n) sum[h][n] = k <= KC ? acc[h][n] : sum[h][n] + acc[h][n];
}

/**
 * Filters co..co+F-1 over G output rows from oy and L positions from ox (stride 1 across), into
 * image b's outputs `y` (directSums, a vector a row). Neither L nor F changes a float.
 */
template <int F, int G, int L>
void directRows(const Conv& c, const float* planes, int stride, const float* f, int co, int oy, int ox, float* y) {
  typedef typename Lanes<L>::v lvec;
  const size_t down = static_cast<size_t>(c.sh) * stride;
  lvec sum[F][G];
  directSums(c, planes, stride, f, co, oy, ox, [down](const float* src, int g) { return Lanes<L>::load(src + g * down); },
             sum);
  const int lanes = std::min(L, c.ow - ox);
  for (int h = 0; h < F; ++h)
    for (int g = 0; g < G; ++g) {
      alignas(64) float out[L];
      *reinterpret_cast<lvec*>(out) = sum[h][g];
      float* row = y + (static_cast<size_t>(oy + g) * c.ow + ox) * c.cout + co + h;
      for (int l = 0; l < lanes; ++l) row[static_cast<size_t>(l) * c.cout] = out[l];
    }
}

/**
 * As directRows<F, 2 * P, VL / 2> (rows of at most VL / 2 outputs), with two output rows to a
 * vector: the lower lanes row oy + 2p, the upper ones row oy + 2p + 1, so that no lane idles and
 * each filter value multiplies two rows at once. Each lane is still one output's chain in the
 * same order, so the floats do not change.
 */
template <int F, int P>
void directRowPairs(const Conv& c, const float* planes, int stride, const float* f, int co, int oy, int ox, float* y) {
  constexpr int H = VL / 2;
  const size_t down = static_cast<size_t>(c.sh) * stride;
  vec sum[F][P];
  const auto pair = [down](const float* src, int p) {
    const float* top = src + 2 * p * down;
    return join(Lanes<H>::load(top), Lanes<H>::load(top + down));
  };
  directSums(c, planes, stride, f, co, oy, ox, pair, sum);
  const int lanes = std::min(H, c.ow - ox);
  for (int h = 0; h < F; ++h)
    for (int p = 0; p < P; ++p) {
      alignas(64) float out[VL];
      *reinterpret_cast<vec*>(out) = sum[h][p];
      for (int r = 0; r < 2; ++r) {
        float* row = y + (static_cast<size_t>(oy + 2 * p + r) * c.ow + ox) * c.cout + co + h;
        for (int l = 0; l < lanes; ++l) row[static_cast<size_t>(l) * c.cout] = out[r * H + l];
      }
    }
}

using RowsFn = void (*)(const Conv&, const float*, int, const float*, int, int, int, float*);
template <int F>
constexpr RowsFn kPairsOf[] = {directRowPairs<F, 1>, directRowPairs<F, 2>, directRowPairs<F, 3>,
                               directRowPairs<F, 4>};
/** kPairs[F - 1][P - 1]. */
constexpr const RowsFn* kPairs[] = {kPairsOf<1>, kPairsOf<2>, kPairsOf<3>};

template <int F, int L>
constexpr RowsFn kRowsOf[] = {directRows<F, 1, L>, directRows<F, 2, L>, directRows<F, 3, L>, directRows<F, 4, L>,
                              directRows<F, 5, L>, directRows<F, 6, L>, directRows<F, 7, L>, directRows<F, 8, L>};
/** kRows<L>[F - 1][G - 1]. */
template <int L>
constexpr const RowsFn* kRows[] = {kRowsOf<1, L>, kRowsOf<2, L>, kRowsOf<3, L>};

/** Image b of a convolution with few filters and horizontal stride 1, directly (8 rows at a time: 8 chains in flight). */
inline void directConvImage(const Conv& c, const float* x, const float* f, float* y, int b, PadBuffer& buf) {
  const int stride = paddedCols(c) + VL;
  padPlanar(c, x, b, stride, buf);
  float* out = y + static_cast<size_t>(b) * c.positions() * c.cout;
  for (int ox = 0; ox < c.ow; ox += VL)
    for (int oy = 0; oy < c.oh; oy += 8) {
      // Half a vector's positions or fewer left (a 24-wide row's last block, an 8-wide row): two
      // rows to a vector, and an odd last row in half-width vectors.
      const bool half = c.ow - ox <= VL / 2;
      const int g = std::min(8, c.oh - oy), pairs = half ? g / 2 : 0;
      for (int co = 0, n; co < c.cout; co += n) {
        n = std::min(3, c.cout - co);
        if (pairs > 0) kPairs[n - 1][pairs - 1](c, buf.data.data(), stride, f, co, oy, ox, out);
        if (g > 2 * pairs)
          (half ? kRows<VL / 2> : kRows<VL>)[n - 1][g - 2 * pairs - 1](c, buf.data.data(), stride, f, co,
                                                                      oy + 2 * pairs, ox, out);
      }
    }
}

/**
 * G tap vectors of a filter gradient for F filters from co (each L taps of one patch row, at
 * `offsets` from a position's patch corner) over n positions from (oy, ox) of a padded NHWC
 * image: acc += taps * dy, position by position, as the GEMM's micro-kernel sums a KC-deep block.
 * Each tap vector is loaded once for the F filters. Filter f's tap vector g goes to
 * out[(f * G + g) * VL ...]. Each lane is one tap's chain, so neither L nor F changes a float.
 */
template <int F, int G, int L>
void filterTile(const Conv& c, const float* img, const float* dy, int co, int oy, int ox, int n, const int* offsets,
                float* out) {
  typedef typename Lanes<L>::v lvec;
  const int cols = paddedCols(c);
  lvec a[F][G];
  for (int f = 0; f < F; ++f)
    for (int g = 0; g < G; ++g) a[f][g] = lvec{};
  for (int t = 0; t < n; ++t) {
    const float* corner = img + (static_cast<size_t>(oy * c.sh) * cols + ox * c.sw) * c.cin;
    lvec d[F];
    for (int f = 0; f < F; ++f) d[f] = splat<lvec>(dy[static_cast<size_t>(t) * c.cout + co + f]);
    for (int g = 0; g < G; ++g) {
      const lvec x = Lanes<L>::load(corner + offsets[g]);
      for (int f = 0; f < F; ++f) a[f][g] = madd(x, d[f], a[f][g]);
    }
    if (++ox == c.ow) ox = 0, ++oy;
  }
  for (int f = 0; f < F; ++f)
    for (int g = 0; g < G; ++g) std::memcpy(out + (f * G + g) * VL, &a[f][g], sizeof a[f][g]);
}

using FilterTileFn = void (*)(const Conv&, const float*, const float*, int, int, int, int, const int*, float*);
template <int F, int L>
constexpr FilterTileFn kFilterTileRow[] = {filterTile<F, 1, L>, filterTile<F, 2, L>, filterTile<F, 3, L>,
                                           filterTile<F, 4, L>, filterTile<F, 5, L>, filterTile<F, 6, L>,
                                           filterTile<F, 7, L>, filterTile<F, 8, L>};
/** kFilterTiles<L>[F - 1][G - 1]. */
template <int L>
constexpr const FilterTileFn* kFilterTiles[] = {kFilterTileRow<1, L>, kFilterTileRow<2, L>, kFilterTileRow<3, L>,
                                                kFilterTileRow<4, L>};

/** Filters a tile takes at once beside G tap vectors: at most 4, and at most 24 accumulators. */
inline int filtersAtOnce(int G, int left) { return std::min({4, left, 24 / G}); }

/**
 * Positions [m0, m0 + n) of padded image `img` added into df^T ([cout][K]) as the GEMM would add
 * dy^T (cout x n) * cols (n x K): a product per KC positions, the first replacing df^T unless
 * `accumulate`. `dy` points at position m0's gradients. A patch row of at most VL / 2 taps (LeNet's
 * 5x5 filters over one channel) is one half-width vector instead of a full one with 11 idle lanes.
 */
inline void directFilterChunk(const Conv& c, const float* img, const float* dy, int m0, int n, float* dfT,
                              bool accumulate) {
  const int run = c.kw * c.cin, width = run <= VL / 2 ? VL / 2 : VL;
  const int perRow = (run + width - 1) / width, taps = c.kh * perRow, K = c.k();
  const FilterTileFn* const* tiles = width == VL ? kFilterTiles<VL> : kFilterTiles<VL / 2>;
  std::vector<int> offsets(taps), first(taps), lanes(taps);
  for (int v = 0; v < taps; ++v) {
    const int i = v / perRow, l0 = (v % perRow) * width;
    offsets[v] = i * paddedCols(c) * c.cin + l0;
    first[v] = i * run + l0;
    lanes[v] = std::min(width, run - l0);
  }
  for (int t0 = 0; t0 < n; t0 += KC) {
    const int count = std::min(KC, n - t0), m = m0 + t0;
    const bool add = accumulate || t0 > 0;
    for (int v = 0; v < taps; v += 8) {
      const int g = std::min(8, taps - v);
      for (int co = 0, f; co < c.cout; co += f) {
        f = filtersAtOnce(g, c.cout - co);
        alignas(64) float out[24 * VL];
        tiles[f - 1][g - 1](c, img, dy + static_cast<size_t>(t0) * c.cout, co, m / c.ow, m % c.ow, count,
                            offsets.data() + v, out);
        for (int h = 0; h < f; ++h)
          for (int q = 0; q < g; ++q) {
            float* dst = dfT + static_cast<size_t>(co + h) * K + first[v + q];
            const float* o = out + (h * g + q) * VL;
            for (int l = 0; l < lanes[v + q]; ++l) dst[l] = add ? dst[l] + o[l] : o[l];
          }
      }
    }
  }
}

/** Image b's output gradient as zero-padded planes [cout][oh][stride], position ox at column ox + kw - 1. */
inline int gradientStride(const Conv& c) { return std::max(c.ow, c.w + c.left) + c.kw + VL; }

inline void padGradient(const Conv& c, const float* dy, int b, PadBuffer& buffer) {
  const int stride = gradientStride(c);
  float* out = padLayout(buffer, 2, c, static_cast<size_t>(c.cout) * c.oh * stride);
  const float* g = dy + static_cast<size_t>(b) * c.positions() * c.cout;
  for (int oy = 0; oy < c.oh; ++oy)
    for (int ox = 0; ox < c.ow; ++ox)
      for (int co = 0; co < c.cout; ++co)
        out[(static_cast<size_t>(co) * c.oh + oy) * stride + ox + c.kw - 1] =
            g[(static_cast<size_t>(oy) * c.ow + ox) * c.cout + co];
}

/** Half a vector: a narrow layer's row of output positions (ow <= HL). */
constexpr int HL = VL / 2;
typedef float hvec __attribute__((vector_size(HL * sizeof(float))));
typedef float uhvec __attribute__((vector_size(HL * sizeof(float)), aligned(4), may_alias));

/** A vector holding h in lanes s..s+HL-1 (those below VL) and +0 in the others. */
inline vec placedAt(hvec h, int s) {
#if defined(EVOLVE_AVX512)
  const __m512i at = _mm512_sub_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                      _mm512_set1_epi32(s));
  const __mmask16 lanes = static_cast<__mmask16>(((1u << HL) - 1) << s);
  return (vec)_mm512_maskz_permutexvar_ps(lanes, at, (__m512)join(h, hvec{}));
#else
  vec r = vec{};
  for (int l = 0; l < HL && s + l < VL; ++l) r[s + l] = h[l];
  return r;
#endif
}

/**
 * Tap (i, j) of directInputRows for a layer whose output rows fit half a vector (ow <= HL) and
 * whose input rows fit one (w <= VL, no left padding): the sums run over the HL positions of the
 * output row, not over the VL columns of the input row of which at most ow take this tap, and
 * are placed at the columns they feed (position ox feeds column ox + j). On a CPU that runs two
 * half-width multiply-adds in the time of one full (Zen 4) that is half the time; elsewhere the
 * same. The columns no position feeds get +0, as the wide form adds there: the same floats.
 */
template <int C, int G>
inline void narrowTaps(const Conv& c, const float* const* rows, size_t plane, const float* fk, int j, vec (&v)[C][G]) {
  for (int g = 0; g < G; ++g) {
    if (!rows[g]) continue;
    const float* src = rows[g] + c.kw - 1;  // position 0
    hvec acc[C];
    for (int h = 0; h < C; ++h) acc[h] = hvec{};
    for (int co = 0; co < c.cout; ++co) {
      const hvec d = *reinterpret_cast<const uhvec*>(src + co * plane);
      for (int h = 0; h < C; ++h) acc[h] = madd(d, splat<hvec>(fk[h * c.cout + co]), acc[h]);
    }
    for (int h = 0; h < C; ++h) v[h][g] += placedAt(acc[h], j);
  }
}

/**
 * Input gradient rows y0..y0+G-1, VL columns from x, channels ci..ci+C-1 (horizontal stride 1).
 * The GEMM path added each position's column (sum over filters of dy * filter, in filter order)
 * into dx, positions in ascending order; a pixel gets one tap per position, so gathering the taps
 * with i and j descending adds the same values in the same order. Absent positions add +0 (the
 * columns are never -0: each sum starts at +0), which leaves the sum as it was. Each gradient
 * vector is loaded once for the C channels.
 */
template <int C, int G, bool Narrow>
void directInputRows(const Conv& c, const float* planes, const float* f, int y0, int x, int ci, float* dxImage) {
  const int stride = gradientStride(c);
  const size_t plane = static_cast<size_t>(c.oh) * stride;
  ivec lane;
  for (int l = 0; l < VL; ++l) lane[l] = l;
  vec v[C][G];
  for (int h = 0; h < C; ++h)
    for (int g = 0; g < G; ++g) v[h][g] = vec{};
  for (int i = c.kh - 1; i >= 0; --i) {
    const float* rows[G];  // output row each pixel row reads through tap row i, or null
    for (int g = 0; g < G; ++g) {
      const int t = y0 + g + c.top - i;
      rows[g] = t < 0 || t % c.sh != 0 || t / c.sh >= c.oh ? nullptr : planes + static_cast<size_t>(t / c.sh) * stride;
    }
    for (int j = c.kw - 1; j >= 0; --j) {
      const float* fk = f + (static_cast<size_t>(i * c.kw + j) * c.cin + ci) * c.cout;
      if (Narrow) {
        narrowTaps<C, G>(c, rows, plane, fk, j, v);
        continue;
      }
      const int ox0 = x + c.left - j;  // lane l reads position ox0 + l
      const ivec ox = lane + ox0;
      const ivec valid = (ox >= 0) & (ox < c.ow);
      for (int g = 0; g < G; ++g) {
        if (!rows[g]) continue;
        const float* src = rows[g] + ox0 + c.kw - 1;
        vec acc[C];
        for (int h = 0; h < C; ++h) acc[h] = vec{};
        for (int co = 0; co < c.cout; ++co) {
          const vec d = *reinterpret_cast<const uvec*>(src + co * plane);
          for (int h = 0; h < C; ++h) acc[h] = madd(d, splat<vec>(fk[h * c.cout + co]), acc[h]);
        }
        for (int h = 0; h < C; ++h) v[h][g] += valid ? acc[h] : vec{};
      }
    }
  }
  const int lanes = std::min(VL, c.w - x);
  for (int h = 0; h < C; ++h)
    for (int g = 0; g < G; ++g) {
      alignas(64) float out[VL];
      *reinterpret_cast<vec*>(out) = v[h][g];
      for (int l = 0; l < lanes; ++l) dxImage[(static_cast<size_t>(y0 + g) * c.w + x + l) * c.cin + ci + h] = out[l];
    }
}

using InputRowsFn = void (*)(const Conv&, const float*, const float*, int, int, int, float*);
template <int C, bool N>
constexpr InputRowsFn kInputRowsOf[] = {directInputRows<C, 1, N>, directInputRows<C, 2, N>, directInputRows<C, 3, N>,
                                        directInputRows<C, 4, N>, directInputRows<C, 5, N>, directInputRows<C, 6, N>,
                                        directInputRows<C, 7, N>, directInputRows<C, 8, N>};
/** kInputRows[C - 1][G - 1]. */
constexpr const InputRowsFn* kInputRows[] = {kInputRowsOf<1, false>, kInputRowsOf<2, false>, kInputRowsOf<3, false>};
/** The same for narrow layers (narrowTaps). */
constexpr const InputRowsFn* kNarrowInputRows[] = {kInputRowsOf<1, true>, kInputRowsOf<2, true>, kInputRowsOf<3, true>};

/** Input channels a row block takes at once beside G rows: at most 3, and at most 24 sums. */
inline int channelsAtOnce(int G, int left) { return std::min({3, left, 24 / G}); }

/**
 * Image b of the input gradient of a layer with few filters and horizontal stride 1, gathered,
 * 8 pixel rows at a time: each row's sum is one chain of dependent additions, so one row alone
 * waited on it (about 4 cycles an addition); 8 rows keep 8 chains in flight.
 */
inline void directInputImage(const Conv& c, const float* dy, const float* f, float* dx, int b, PadBuffer& buf) {
  padGradient(c, dy, b, buf);
  float* image = dx + static_cast<size_t>(b) * c.h * c.w * c.cin;
  const bool narrow = HL >= 4 && c.left == 0 && c.ow <= HL && c.w <= VL;
  for (int y = 0; y < c.h; y += 8)
    for (int x = 0; x < c.w; x += VL) {
      const int g = std::min(8, c.h - y);
      for (int ci = 0, n; ci < c.cin; ci += n) {
        n = channelsAtOnce(g, c.cin - ci);
        (narrow ? kNarrowInputRows : kInputRows)[n - 1][g - 1](c, buf.data.data(), f, y, x, ci, image);
      }
    }
}

}  // namespace evolve::EVOLVE_ISA
