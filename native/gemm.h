// Single-threaded SGEMM for the training kernels: C (+)= op(A) * op(B), row-major floats.
//
// op(B) is packed into panels of NR columns per KC-deep block (BLIS-style); op(A) is read in
// place, MR rows at a time; an MR x NR micro-kernel keeps its block of C in vector registers. GCC
// vector extensions, not intrinsics: the same source compiles to AVX-512, AVX2 or SSE2 (or NEON),
// one copy per path (native/target.h). Every element of C is a fixed sequence of fused
// multiply-adds in k order (madd), so results depend neither on the path nor on how callers
// split C between threads.
#pragma once
#include <cstddef>
#include <cstring>
#include <vector>

#include "simd.h"

namespace evolve::EVOLVE_ISA {

constexpr int NV = 2;        // vectors per micro-kernel row
constexpr int NR = NV * VL;  // columns of C per micro-kernel
constexpr int KC = 256;      // depth of one packed block

/** A matrix operand: element (r, c) of op(X) is at p[r * rs + c * cs]. */
struct Mat {
  const float* p;
  std::ptrdiff_t rs, cs;
  float at(std::ptrdiff_t r, std::ptrdiff_t c) const { return p[r * rs + c * cs]; }
};

inline Mat plain(const float* p, std::ptrdiff_t ld) { return {p, ld, 1}; }
inline Mat transposed(const float* p, std::ptrdiff_t ld) { return {p, 1, ld}; }

/** Packs depth [k0, k0+kc) x columns [j0, j0+NR) of B as kc rows of NR values (zero beyond n). */
inline void packB(const Mat& B, int k0, int kc, int j0, int n, float* out) {
  const int cols = n - j0 < NR ? n - j0 : NR;
  if (B.cs == 1) {  // rows of B are contiguous: copy, then zero the columns past n
    for (int k = 0; k < kc; ++k) {
      std::memcpy(out + k * NR, B.p + (k0 + k) * B.rs + j0, cols * sizeof(float));
      if (cols < NR) std::memset(out + k * NR + cols, 0, (NR - cols) * sizeof(float));
    }
    return;
  }
  for (int k = 0; k < kc; ++k) {
    float* o = out + k * NR;
    int c = 0;
    for (; c < cols; ++c) o[c] = B.at(k0 + k, j0 + c);
    for (; c < NR; ++c) o[c] = 0.f;
  }
}

/** Depth k of an A sliver at k * s from each row's start: a plain or a transposed operand. */
struct Strided {
  std::ptrdiff_t s;
  std::ptrdiff_t operator[](int k) const { return k * s; }
};

/** Depth k of an A sliver at t[k] from each row's start: the taps of a padded image, read in place. */
struct Offsets {
  const int* t;
  std::ptrdiff_t operator[](int k) const { return t[k]; }
};

/**
 * acc = sum over kc of the A sliver (row r, depth k at a[r][depth[k]]) times the packed B panel;
 * then the C block = (accumulate ? C : 0) + acc. A is read in place, never packed: with MR
 * row pointers and a depth stride, a plain and a transposed operand are both a stride apart,
 * and with a table of offsets so is an image-to-column matrix never written out. Never inlined
 * (GCC did not inline the strided one either): inlined into the gathered product's loops, it
 * ran short of registers and reloaded the row pointers for every k.
 */
template <typename Depth>
__attribute__((noinline)) void microKernel(int kc, const float* const* a, Depth depth, const float* b, float* C,
                                           std::ptrdiff_t ldc, int rows, int cols, bool accumulate) {
  vec acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = vec{};
  for (int k = 0; k < kc; ++k) {
    vec bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = *reinterpret_cast<const uvec*>(b + k * NR + v * VL);
    for (int r = 0; r < MR; ++r) {
      const vec s = splat<vec>(a[r][depth[k]]);
      for (int v = 0; v < NV; ++v) acc[r][v] = madd(bv[v], s, acc[r][v]);
    }
  }
  const int full = cols / VL;  // whole vectors of this block's columns
  for (int r = 0; r < rows; ++r) {
    float* c = C + r * ldc;
    for (int v = 0; v < full; ++v) {
      uvec* cv = reinterpret_cast<uvec*>(c + v * VL);
      *cv = accumulate ? *cv + acc[r][v] : acc[r][v];
    }
    if (full < NV && cols > full * VL) {
      alignas(64) float tail[VL];
      *reinterpret_cast<vec*>(tail) = acc[r][full];
      for (int j = full * VL; j < cols; ++j) c[j] = accumulate ? c[j] + tail[j - full * VL] : tail[j - full * VL];
    }
  }
}

/** Scratch for the packed B operand, reused across calls by one thread. */
struct GemmScratch {
  std::vector<float> b;
};

/**
 * One KC-deep block of C[i0..i1) x [j0..j1) (+)= op(A) * the packed panels (panel p of columns
 * j0 + p * NR at `panels + p * KC * NR`), row i of op(A) starting at rowAt(i) and its depth k at
 * depth[k] from there. Every product goes through here, so all give the same floats.
 */
template <typename RowAt, typename Depth>
inline void sweepRows(RowAt rowAt, Depth depth, int kc, const float* panels, float* C, std::ptrdiff_t ldc, int i0,
                      int i1, int j0, int j1, bool acc) {
  const int count = (j1 - j0 + NR - 1) / NR;
  for (int i = i0; i < i1; i += MR) {
    const int rows = i1 - i < MR ? i1 - i : MR;
    // Rows past the end repeat the last one; their sums are computed and never stored.
    const float* a[MR];
    for (int r = 0; r < MR; ++r) a[r] = rowAt(i + (r < rows ? r : rows - 1));
    for (int p = 0; p < count; ++p) {
      const int j = j0 + p * NR;
      const int cols = j1 - j < NR ? j1 - j : NR;
      microKernel(kc, a, depth, panels + static_cast<size_t>(p) * KC * NR, C + i * ldc + j, ldc, rows, cols, acc);
    }
  }
}

/** sweepRows for a strided operand, its depth from k0. */
inline void sweep(const Mat& A, int k0, int kc, const float* panels, float* C, std::ptrdiff_t ldc, int i0, int i1, int j0,
                  int j1, bool acc) {
  const float* base = A.p + k0 * A.cs;
  sweepRows([&](int i) { return base + i * A.rs; }, Strided{A.cs}, kc, panels, C, ldc, i0, i1, j0, j1, acc);
}

/** k == 0: C is zero (or unchanged when accumulating). */
inline void emptyProduct(float* C, std::ptrdiff_t ldc, int i0, int i1, int j0, int j1, bool accumulate) {
  if (!accumulate)
    for (int i = i0; i < i1; ++i) std::memset(C + i * ldc + j0, 0, (j1 - j0) * sizeof(float));
}

/**
 * C[i0..i1) x [j0..j1) of op(A)[m x k] * op(B)[k x n] into C (row stride ldc); with
 * `accumulate` the product is added to C, otherwise it replaces it. i0 and j0 must be
 * multiples of MR and NR (or the whole range), so that blocks line up however C is split.
 */
inline void gemm(const Mat& A, const Mat& B, float* C, std::ptrdiff_t ldc, int m, int n, int k,
                 bool accumulate, GemmScratch& s, int i0 = 0, int i1 = -1, int j0 = 0, int j1 = -1) {
  if (i1 < 0) i1 = m;
  if (j1 < 0) j1 = n;
  if (i0 >= i1 || j0 >= j1) return;
  if (k == 0) return emptyProduct(C, ldc, i0, i1, j0, j1, accumulate);
  const int panels = (j1 - j0 + NR - 1) / NR;
  s.b.resize(static_cast<size_t>(panels) * KC * NR);
  for (int k0 = 0; k0 < k; k0 += KC) {
    const int kc = k - k0 < KC ? k - k0 : KC;
    for (int p = 0; p < panels; ++p) packB(B, k0, kc, j0 + p * NR, j1, s.b.data() + p * KC * NR);
    sweep(A, k0, kc, s.b.data(), C, ldc, i0, i1, j0, j1, accumulate || k0 > 0);
  }
}

/**
 * op(B) [k x n] packed once, whole, for many products with it (a convolution's filter, which
 * every chunk of every image multiplies): gemm would pack it again for each chunk.
 */
struct PackedB {
  std::vector<float> data;
  int k = 0, n = 0, panels = 0;
  const float* block(int k0) const { return data.data() + static_cast<size_t>(k0 / KC) * panels * KC * NR; }
};

inline void packWhole(const Mat& B, int k, int n, PackedB& out) {
  out.k = k;
  out.n = n;
  out.panels = (n + NR - 1) / NR;
  const int blocks = (k + KC - 1) / KC;
  out.data.resize(static_cast<size_t>(blocks) * out.panels * KC * NR);
  for (int k0 = 0; k0 < k; k0 += KC) {
    const int kc = k - k0 < KC ? k - k0 : KC;
    float* base = out.data.data() + static_cast<size_t>(k0 / KC) * out.panels * KC * NR;
    for (int p = 0; p < out.panels; ++p) packB(B, k0, kc, p * NR, n, base + static_cast<size_t>(p) * KC * NR);
  }
}

/** gemm with op(B) packed by packWhole (all of its columns: j0 = 0, j1 = n), the same floats. */
inline void gemmPacked(const Mat& A, const PackedB& B, float* C, std::ptrdiff_t ldc, int m, bool accumulate, int i0 = 0,
                       int i1 = -1) {
  if (i1 < 0) i1 = m;
  if (i0 >= i1 || B.n == 0) return;
  if (B.k == 0) return emptyProduct(C, ldc, i0, i1, 0, B.n, accumulate);
  for (int k0 = 0; k0 < B.k; k0 += KC) {
    const int kc = B.k - k0 < KC ? B.k - k0 : KC;
    sweep(A, k0, kc, B.block(k0), C, ldc, i0, i1, 0, B.n, accumulate || k0 > 0);
  }
}

/**
 * op(A) never written out: row i starts at row[i] and its depth k lies offset[k] floats on (the
 * image-to-column matrix of a zero-padded image, read in place).
 */
struct Gathered {
  const float* const* row;
  const int* offset;
};

/** gemmPacked with a gathered op(A): the same floats as the matrix it reads, written out. */
inline void gemmPackedGathered(const Gathered& A, const PackedB& B, float* C, std::ptrdiff_t ldc, int m, bool accumulate) {
  if (m <= 0 || B.n == 0) return;
  if (B.k == 0) return emptyProduct(C, ldc, 0, m, 0, B.n, accumulate);
  for (int k0 = 0; k0 < B.k; k0 += KC) {
    const int kc = B.k - k0 < KC ? B.k - k0 : KC;
    sweepRows([&](int i) { return A.row[i]; }, Offsets{A.offset + k0}, kc, B.block(k0), C, ldc, 0, m, 0, B.n,
              accumulate || k0 > 0);
  }
}

}  // namespace evolve::EVOLVE_ISA
