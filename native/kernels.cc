// evolve's native training kernels, one copy per path (instruction set): this file is compiled
// plain (the baseline) and, on x86-64, again by kernelsAvx2.cc and kernelsAvx512.cc (see
// native/target.h). native/addon.cc holds the Node-API glue and picks a path at load time.
//
// They compute in place on the tfjs WASM backend's heap: JavaScript passes the heap's
// ArrayBuffer and byte offsets of the operands, so no tensor is copied in or out. Every kernel
// splits its work into tasks whose outputs never overlap, and sums partial results in a fixed
// order, so the results are the same whatever the thread count and scheduling; and every path
// sums in the same order with the same fused multiply-adds, so they are the same on every path.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <numeric>
#include <vector>

#include "conv.h"
#include "kernels.h"
#include "threadPool.h"

// Above, headers compiled for the baseline in every copy; from here on, for this copy's path.
#include "target.h"
#include "direct.h"
#include "gemm.h"
#include "maxPoolGrad.h"

namespace evolve::EVOLVE_ISA {
namespace {

struct ThreadScratch {
  GemmScratch gemm;
  std::vector<float> cols, tmp, images, partial;
  PadBuffer padded;
};

/** Packing and im2col buffers of the calling OS thread (pool threads and Node's own threads alike). */
ThreadScratch& scratch() {
  thread_local ThreadScratch s;
  return s;
}

/**
 * Threads worth waking for `work` multiply-adds: under 200k (~20 us on one core) one thread. Before
 * the pool's threads spun between regions, 1M served the compacted 100x LeNet-5 offspring better
 * (each wake-up cost a sleeping thread's); with the spin, 200k trains it ~5-10% faster
 * (docs/performance.md).
 */
int threadsFor(double work, int threads) { return work < 2e5 ? 1 : threads; }

/** Rows [m0, m1) of the image-to-column matrix of image b: one row of kh*kw*cin taps per output position. */
void im2col(const Conv& c, const float* x, int b, int m0, int m1, float* cols) {
  const int K = c.k();
  const float* img = x + static_cast<size_t>(b) * c.h * c.w * c.cin;
  for (int m = m0; m < m1; ++m) {
    const int oy = m / c.ow, ox = m % c.ow;
    float* row = cols + static_cast<size_t>(m - m0) * K;
    for (int i = 0; i < c.kh; ++i) {
      const int y = oy * c.sh - c.top + i;
      float* dst = row + i * c.kw * c.cin;
      if (y < 0 || y >= c.h) {
        std::memset(dst, 0, sizeof(float) * c.kw * c.cin);
        continue;
      }
      const int x0 = ox * c.sw - c.left;
      if (x0 >= 0 && x0 + c.kw <= c.w) {
        const float* src = img + (static_cast<size_t>(y) * c.w + x0) * c.cin;
        const int run = c.kw * c.cin;
        if (run < 32)
          for (int t = 0; t < run; ++t) dst[t] = src[t];  // a few floats: cheaper than a memcpy call
        else
          std::memcpy(dst, src, sizeof(float) * run);
        continue;
      }
      for (int j = 0; j < c.kw; ++j) {
        const int xx = x0 + j;
        if (xx < 0 || xx >= c.w) std::memset(dst + j * c.cin, 0, sizeof(float) * c.cin);
        else std::memcpy(dst + j * c.cin, img + (static_cast<size_t>(y) * c.w + xx) * c.cin, sizeof(float) * c.cin);
      }
    }
  }
}

/**
 * The transpose of im2col's rows [m0, m1): kh*kw*cin rows of (m1 - m0) positions each, so that
 * a product reading positions as columns packs them with plain copies.
 */
void im2colT(const Conv& c, const float* x, int b, int m0, int m1, float* colsT) {
  const int n = m1 - m0;
  const float* img = x + static_cast<size_t>(b) * c.h * c.w * c.cin;
  for (int i = 0; i < c.kh; ++i)
    for (int j = 0; j < c.kw; ++j)
      for (int ci = 0; ci < c.cin; ++ci) {
        float* row = colsT + static_cast<size_t>((i * c.kw + j) * c.cin + ci) * n;
        // Output row by output row: within one, the taps are evenly spaced in the image.
        for (int m = m0; m < m1;) {
          const int oy = m / c.ow, ox0 = m % c.ow, ox1 = std::min(c.ow, ox0 + (m1 - m));
          const int y = oy * c.sh - c.top + i;
          float* dst = row + (m - m0);
          if (y < 0 || y >= c.h) {
            std::fill(dst, dst + (ox1 - ox0), 0.f);
          } else {
            const float* src = img + static_cast<size_t>(y) * c.w * c.cin + ci;
            for (int ox = ox0; ox < ox1; ++ox) {
              const int xx = ox * c.sw - c.left + j;
              dst[ox - ox0] = xx < 0 || xx >= c.w ? 0.f : src[static_cast<size_t>(xx) * c.cin];
            }
          }
          m += ox1 - ox0;
        }
      }
}

/** Adds rows [m0, m1) of a column matrix back into image b of dx (the adjoint of im2col). */
void col2imAdd(const Conv& c, const float* cols, int b, int m0, int m1, float* dx) {
  const int K = c.k();
  float* img = dx + static_cast<size_t>(b) * c.h * c.w * c.cin;
  for (int m = m0; m < m1; ++m) {
    const int oy = m / c.ow, ox = m % c.ow;
    const float* row = cols + static_cast<size_t>(m - m0) * K;
    for (int i = 0; i < c.kh; ++i) {
      const int y = oy * c.sh - c.top + i;
      if (y < 0 || y >= c.h) continue;
      for (int j = 0; j < c.kw; ++j) {
        const int xx = ox * c.sw - c.left + j;
        if (xx < 0 || xx >= c.w) continue;
        float* d = img + (static_cast<size_t>(y) * c.w + xx) * c.cin;
        const float* s = row + (i * c.kw + j) * c.cin;
        for (int ch = 0; ch < c.cin; ++ch) d[ch] += s[ch];
      }
    }
  }
}

/** The most output positions a chunk takes (a gathered product's row pointers live on the stack). */
constexpr int kMaxChunkRows = 1024;

/**
 * Output positions per im2col chunk: about 256 KiB of columns, a multiple of 8 (the AVX-512
 * micro-kernel's rows). The same on every path, not a multiple of each path's MR: a filter
 * gradient sums each chunk's positions before it adds the chunk, so its floats depend on it.
 */
int chunkRows(int K) {
  constexpr int kMultiple = 8;
  int rows = (64 * 1024) / std::max(1, K);
  rows = std::max(kMultiple, rows / kMultiple * kMultiple);
  return std::min(rows, kMaxChunkRows);
}

/**
 * Fewer output channels than half a micro-kernel's columns (a compacted offspring's conv1 may
 * keep one filter): then the products run transposed, so that positions fill the vector lanes.
 * Each output is the same sum in the same order either way, so the floats do not change.
 */
bool fewOutputs(const Conv& c) { return c.cout < NR / 2; }

/** Floats of one zero-padded image: the rows and columns the taps read, NHWC. */
size_t paddedImage(const Conv& c) { return static_cast<size_t>(paddedRows(c)) * paddedCols(c) * c.cin; }

/** Image b zero-padded into `out` (paddedImage floats), every cell written, margins too. */
void padImage(const Conv& c, const float* x, int b, float* out) {
  const int rows = paddedRows(c), cols = paddedCols(c), width = std::max(0, std::min(c.w, cols - c.left));
  const size_t row = static_cast<size_t>(cols) * c.cin;
  const size_t before = static_cast<size_t>(c.left) * c.cin, inside = static_cast<size_t>(width) * c.cin;
  const float* img = x + static_cast<size_t>(b) * c.h * c.w * c.cin;
  for (int r = 0; r < rows; ++r) {
    float* dst = out + r * row;
    const int y = r - c.top;
    if (y < 0 || y >= c.h || width == 0) {
      std::memset(dst, 0, sizeof(float) * row);
      continue;
    }
    std::memset(dst, 0, sizeof(float) * before);
    std::memcpy(dst + before, img + static_cast<size_t>(y) * c.w * c.cin, sizeof(float) * inside);
    std::memset(dst + before + inside, 0, sizeof(float) * (row - before - inside));
  }
}

/** Where depth k (tap i, j, channel ci) of an output position's column lies from the position's first tap. */
std::vector<int> tapOffsets(const Conv& c) {
  std::vector<int> out(c.k());
  const int cols = paddedCols(c);
  for (int i = 0; i < c.kh; ++i)
    for (int j = 0; j < c.kw; ++j)
      for (int ci = 0; ci < c.cin; ++ci) out[(i * c.kw + j) * c.cin + ci] = (i * cols + j) * c.cin + ci;
  return out;
}

/**
 * The first taps of output positions [g0, g1) (image g / P) in the padded images, paddedImage(c)
 * floats apart, into row[0..g1 - g0): stepped along, not divided out for each position.
 */
void firstTaps(const Conv& c, const float* images, size_t g0, size_t g1, const float** row) {
  const int P = c.positions(), cols = paddedCols(c);
  const size_t image = paddedImage(c);
  size_t b = g0 / P;
  int m = static_cast<int>(g0 % P), oy = m / c.ow, ox = m % c.ow;
  for (size_t g = g0; g < g1; ++g) {
    row[g - g0] = images + b * image + (static_cast<size_t>(oy) * c.sh * cols + static_cast<size_t>(ox) * c.sw) * c.cin;
    if (++ox < c.ow) continue;
    ox = 0;
    if (++oy < c.oh) continue;
    oy = 0;
    ++b;
  }
}

/** The batch zero-padded into the calling thread's scratch, an image a task. */
const float* padBatch(const Conv& c, const float* x, int threads) {
  std::vector<float>& images = scratch().images;
  images.resize(paddedImage(c) * c.batch);
  float* out = images.data();
  threadPool().run(c.batch, threadsFor(double(c.batch) * paddedImage(c) * 64, threads),
                   [&](int b, int) { padImage(c, x, b, out + b * paddedImage(c)); });
  return out;
}

/**
 * y = the image-to-column matrix times the filter, the matrix never written out: its rows are
 * read in place from the padded images, a chunk of positions a task, across image boundaries
 * (a 7x7 layer's 49 positions took 56 rows of micro-kernels each image).
 */
void conv2dGathered(const Conv& c, const float* x, const float* f, float* y, int threads) {
  const int K = c.k(), rows = chunkRows(K);
  const size_t total = static_cast<size_t>(c.batch) * c.positions();
  PackedB packed;
  packWhole(plain(f, c.cout), K, c.cout, packed);
  const float* images = padBatch(c, x, threads);
  const std::vector<int> offsets = tapOffsets(c);
  const int tasks = static_cast<int>((total + rows - 1) / rows);
  threadPool().run(tasks, threadsFor(double(total) * K * c.cout, threads), [&](int task, int) {
    const size_t g0 = static_cast<size_t>(task) * rows, g1 = std::min(total, g0 + rows);
    const float* row[kMaxChunkRows];
    firstTaps(c, images, g0, g1, row);
    gemmPackedGathered({row, offsets.data()}, packed, y + g0 * c.cout, c.cout, static_cast<int>(g1 - g0), false);
  });
}

void conv2d(const Conv& c, const float* x, const float* f, float* y, int threads) {
  const int K = c.k(), P = c.positions(), rows = chunkRows(K);
  if (fewOutputs(c) && c.sw == 1) {
    if (P == 0) return;  // no output, and no rows for the padded planes
    threadPool().run(c.batch, threadsFor(double(c.batch) * P * K * c.cout, threads),
               [&](int b, int) { directConvImage(c, x, f, y, b, scratch().padded); });
    return;
  }
  if (!fewOutputs(c)) return conv2dGathered(c, x, f, y, threads);
  const int perImage = (P + rows - 1) / rows;
  threadPool().run(c.batch * perImage, threadsFor(double(c.batch) * P * K * c.cout, threads), [&](int task, int) {
    const int b = task / perImage, m0 = (task % perImage) * rows, m1 = std::min(P, m0 + rows);
    ThreadScratch& s = scratch();
    s.cols.resize(static_cast<size_t>(rows) * K);
    float* out = y + (static_cast<size_t>(b) * P + m0) * c.cout;
    // y^T = filter^T * cols^T: the positions fill the vector lanes instead of the few channels.
    const int n = m1 - m0;
    im2colT(c, x, b, m0, m1, s.cols.data());
    s.tmp.resize(static_cast<size_t>(c.cout) * n);
    gemm(transposed(f, c.cout), plain(s.cols.data(), n), s.tmp.data(), n, c.cout, n, K, false, s.gemm);
    for (int m = 0; m < n; ++m)
      for (int co = 0; co < c.cout; ++co) out[static_cast<size_t>(m) * c.cout + co] = s.tmp[static_cast<size_t>(co) * n + m];
  });
}

void conv2dBackpropInput(const Conv& c, const float* dy, const float* f, float* dx, int threads) {
  const int K = c.k(), P = c.positions(), rows = chunkRows(K);
  if (fewOutputs(c) && c.sw == 1) {  // col2imAdd's scattered adds cost more than the few products
    threadPool().run(c.batch, threadsFor(double(c.batch) * P * K * c.cout, threads),
               [&](int b, int) { directInputImage(c, dy, f, dx, b, scratch().padded); });
    return;
  }
  // op(B) = filter^T (cout x K): filter is [K, cout], so op(B)(co, k) = f[k * cout + co]. Packed once here,
  // not per chunk: a strided gather of the whole filter per 16-row chunk cost more than the products.
  PackedB packed;
  packWhole(transposed(f, c.cout), c.cout, K, packed);
  // A task per group of whole images: the column sums of different chunks overlap in dx, images do
  // not. A group's positions are a multiple of 8, so that its chunks fill the micro-kernel's rows.
  const int group = 8 / std::gcd(P, 8), tasks = (c.batch + group - 1) / group;
  threadPool().run(tasks, threadsFor(double(c.batch) * P * K * c.cout, threads), [&](int task, int) {
    ThreadScratch& s = scratch();
    s.cols.resize(static_cast<size_t>(rows) * K);
    const int b0 = task * group, b1 = std::min(c.batch, b0 + group);
    const size_t image = static_cast<size_t>(c.h) * c.w * c.cin, end = static_cast<size_t>(b1) * P;
    std::memset(dx + b0 * image, 0, sizeof(float) * image * (b1 - b0));
    for (size_t g0 = static_cast<size_t>(b0) * P; g0 < end; g0 += rows) {
      const size_t g1 = std::min(end, g0 + rows);
      // cols = dy rows x filter^T, then each image's rows added back in position order
      gemmPacked(plain(dy + g0 * c.cout, c.cout), packed, s.cols.data(), K, static_cast<int>(g1 - g0), false);
      for (size_t g = g0; g < g1;) {
        const int b = static_cast<int>(g / P), m0 = static_cast<int>(g % P);
        const int m1 = static_cast<int>(std::min<size_t>(P, m0 + (g1 - g)));
        col2imAdd(c, s.cols.data() + (g - g0) * K, b, m0, m1, dx);
        g += m1 - m0;
      }
    }
  });
}

/** Partial filter gradients summed in a fixed order: as many as this, whatever the thread count. */
constexpr int kFilterParts = 4;

/**
 * Positions per chunk of the filter gradient. Each chunk's product is added into the whole
 * gradient (K x cout), so a large gradient (AlexNet's are 1-3.5 MB) read and written every
 * 16-40 positions costs as much as the products: such take KC-deep chunks. Smaller ones (all of
 * LeNet-5's) keep chunkRows, and so their floats.
 */
int filterChunkRows(const Conv& c) {
  const int rows = chunkRows(c.k());
  return static_cast<size_t>(c.k()) * c.cout > (size_t{1} << 17) ? std::max(rows, KC) : rows;
}

void conv2dBackpropFilter(const Conv& c, const float* x, const float* dy, float* df, int threads) {
  const int K = c.k(), P = c.positions(), rows = filterChunkRows(c);
  const size_t total = static_cast<size_t>(c.batch) * P, size = static_cast<size_t>(K) * c.cout;
  const int parts = static_cast<int>(std::min<size_t>(kFilterParts, std::max<size_t>(1, total / rows)));
  const bool flip = fewOutputs(c);  // partial sums held as df^T [cout, K]
  // The calling thread's buffer, kept between calls: a new one was zeroed every call (30 MB an
  // AlexNet step), and every part writes all of its own before reading it.
  std::vector<float>& partial = scratch().partial;
  const size_t need = flip ? parts * size : parts > 1 ? (parts - 1) * size : 0;
  if (partial.size() < need) partial.resize(need);
  threadPool().run(parts, threadsFor(double(total) * K * c.cout, threads), [&](int part, int) {
    ThreadScratch& s = scratch();
    if (!flip) s.cols.resize(static_cast<size_t>(rows) * K);
    float* out = flip ? partial.data() + part * size : part == 0 ? df : partial.data() + (part - 1) * size;
    const size_t lo = total * part / parts, hi = total * (part + 1) / parts;
    bool accumulate = false;
    int padded = -1;  // the image in s.padded
    for (size_t g = lo; g < hi;) {
      const int b = static_cast<int>(g / P), m0 = static_cast<int>(g % P);
      const int m1 = static_cast<int>(std::min<size_t>(P, m0 + std::min<size_t>(rows, hi - g)));
      if (flip) {  // df^T += dy rows^T (cout x n) * cols (n x K), the taps read in place
        if (padded != b) padNHWC(c, x, b, s.padded), padded = b;
        directFilterChunk(c, s.padded.data.data(), dy + g * c.cout, m0, m1 - m0, out, accumulate);
        accumulate = true;
        g += m1 - m0;
        continue;
      }
      im2col(c, x, b, m0, m1, s.cols.data());
      // df += cols^T (K x n) * dy rows (n x cout)
      gemm(transposed(s.cols.data(), K), plain(dy + g * c.cout, c.cout), out, c.cout, K, c.cout, m1 - m0, accumulate,
           s.gemm);
      accumulate = true;
      g += m1 - m0;
    }
    if (!accumulate) std::memset(out, 0, sizeof(float) * size);
  });
  if (flip) {
    for (int k = 0; k < K; ++k)
      for (int co = 0; co < c.cout; ++co) {
        float v = partial[static_cast<size_t>(co) * K + k];
        for (int p = 1; p < parts; ++p) v += partial[p * size + static_cast<size_t>(co) * K + k];
        df[static_cast<size_t>(k) * c.cout + co] = v;
      }
    return;
  }
  for (int p = 1; p < parts; ++p) {
    const float* src = partial.data() + (p - 1) * size;
    for (size_t i = 0; i < size; ++i) df[i] += src[i];
  }
}

/** C[p] = op(A[p]) op(B[p]) for p < batch (an operand with batch 1 is broadcast). */
void matmul(const float* a, const float* b, float* c, int batchA, int batchB, int m, int n, int k, bool ta, bool tb,
            int threads) {
  const int batch = std::max(batchA, batchB);
  const int rowBlock = MR * 8, colBlock = NR * 4;
  const int rb = (m + rowBlock - 1) / rowBlock, cb = (n + colBlock - 1) / colBlock;
  const size_t sa = static_cast<size_t>(m) * k, sb = static_cast<size_t>(k) * n, sc = static_cast<size_t>(m) * n;
  threadPool().run(batch * rb * cb, threadsFor(double(batch) * m * n * k, threads), [&](int task, int) {
    const int p = task / (rb * cb), r = (task / cb) % rb, q = task % cb;
    const float* ap = a + (batchA == 1 ? 0 : p * sa);
    const float* bp = b + (batchB == 1 ? 0 : p * sb);
    const Mat A = ta ? transposed(ap, m) : plain(ap, k);
    const Mat B = tb ? transposed(bp, k) : plain(bp, n);
    gemm(A, B, c + p * sc, n, m, n, k, false, scratch().gemm, r * rowBlock,
         std::min(m, (r + 1) * rowBlock), q * colBlock, std::min(n, (q + 1) * colBlock));
  });
}

/** dx of a max pool: each window's dy goes to its first maximum (row-major), as tfjs's cpu backend does. */
void maxPoolGrad(const float* dy, const float* x, float* dx, int batch, int h, int w, int ch, int oh, int ow, int fh,
                 int fw, int sh, int sw, int top, int left, int threads) {
  threadPool().run(batch, threadsFor(double(batch) * h * w * ch * 4, threads), [&](int b, int) {
    const float* img = x + static_cast<size_t>(b) * h * w * ch;
    float* out = dx + static_cast<size_t>(b) * h * w * ch;
    const bool pairs = fh == 2 && fw == 2 && sh == 2 && sw == 2 && top == 0 && left == 0;
    // Inputs no window covers get 0; with LeNet's even sizes every input is covered and written once.
    if (!pairs || 2 * oh != h || 2 * ow != w) std::memset(out, 0, sizeof(float) * h * w * ch);
    if (pairs && 2 * oh <= h && 2 * ow <= w) {
      maxPoolGrad2x2(dy + static_cast<size_t>(b) * oh * ow * ch, img, out, w, ch, oh, ow);
      return;
    }
    std::vector<int> at(ch);
    for (int r = 0; r < oh; ++r) {
      const int r0 = std::max(0, r * sh - top), r1 = std::min(h, r * sh - top + fh);
      for (int q = 0; q < ow; ++q) {
        const int c0 = std::max(0, q * sw - left), c1 = std::min(w, q * sw - left + fw);
        windowWinners(img, w, ch, r0, r1, c0, c1, at.data());
        const float* g = dy + ((static_cast<size_t>(b) * oh + r) * ow + q) * ch;
        for (int k = 0; k < ch; ++k)
          if (at[k] >= 0) out[at[k]] += g[k];
      }
    }
  });
}

/** Whether any of the n floats is a NaN or -0 (a vectorised scan over their bits). */
bool orderSensitive(const float* x, size_t n) {
  uint32_t found = 0;
  for (size_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, x + i, sizeof u);
    found |= static_cast<uint32_t>(u == 0x80000000u) | static_cast<uint32_t>((u & 0x7fffffffu) > 0x7f800000u);
  }
  return found != 0;
}

/** The longest row pair maxPoolRowPairs takes (2 * ow * ch floats). */
constexpr int kPoolRow = 2048;

/**
 * A row of a pool's outputs from maxPoolRowPairs' buffer: output q is window q's left-column lanes
 * (ch <= L of them), copied as one vector of L floats; its lanes past ch are overwritten by output
 * q + 1's, so only the outputs whose L floats would leave the row are copied one float at a time.
 */
template <int L>
inline void poolOutputs(const float* m, float* o, int ch, int ow) {
  typedef float U __attribute__((vector_size(L * sizeof(float)), aligned(4), may_alias));
  int q = 0;
  for (; q * ch + L <= ow * ch; ++q) *reinterpret_cast<U*>(o + q * ch) = *reinterpret_cast<const U*>(m + 2 * q * ch);
  for (; q < ow; ++q)
    for (int k = 0; k < ch; ++k) o[q * ch + k] = m[2 * q * ch + k];
}

/**
 * A 2x2 stride-2 pool of fewer channels than a vector has lanes (a compacted offspring's), a row
 * pair at a time: the larger of the two rows, lane by lane, whole vectors at a time into a
 * buffer; then of each lane and the one ch floats on (its window's right column); the windows'
 * left-column lanes are the outputs. The input holds no NaN or -0 (the caller checked), so the
 * maximum does not depend on the order of the comparisons.
 */
void maxPoolRowPairs(const float* img, float* out, int w, int ch, int oh, int ow) {
  const int n = 2 * ow * ch, row = w * ch;
  float m[kPoolRow + 2 * VL];  // the loads of the second pass read up to ch + VL past n
  std::fill(m + n, m + n + 2 * VL, 0.f);
  const auto larger = [&](vec a, vec b) -> vec { return a < b ? b : a; };
  const auto at = [&](const float* p) -> vec { return *reinterpret_cast<const uvec*>(p); };
  for (int r = 0; r < oh; ++r) {
    const float *p0 = img + static_cast<size_t>(2 * r) * row, *p1 = p0 + row;
    for (int j = 0; j < n; j += VL) {
      if (j + VL > n) {  // the last few: one by one, or a vector overlapping the one before
        if (n < VL) {
          for (int i = j; i < n; ++i) m[i] = std::max(p0[i], p1[i]);
          break;
        }
        j = n - VL;
      }
      *reinterpret_cast<uvec*>(m + j) = larger(at(p0 + j), at(p1 + j));
    }
    for (int j = 0; j < n; j += VL) *reinterpret_cast<uvec*>(m + j) = larger(at(m + j), at(m + j + ch));
    float* o = out + static_cast<size_t>(r) * ow * ch;
    if (ch <= VL / 2)
      poolOutputs<VL / 2>(m, o, ch, ow);
    else
      poolOutputs<VL>(m, o, ch, ow);
  }
}

/**
 * Max pool without padding (every window inside the image). Returns false when the input holds a
 * NaN or -0: only without them is the maximum the same whatever order a kernel compares in, so
 * the caller hands those inputs to the WASM backend's kernel.
 */
bool maxPool(const float* x, float* y, int batch, int h, int w, int ch, int oh, int ow, int fh, int fw, int sh,
             int sw, int threads) {
  std::vector<char> clean(batch, 1);
  const bool halve = fh == 2 && fw == 2 && sh == 2 && sw == 2;  // LeNet's pools
  threadPool().run(batch, threadsFor(double(batch) * oh * ow * ch * fh * fw, threads), [&](int b, int) {
    const float* img = x + static_cast<size_t>(b) * h * w * ch;
    float* out = y + static_cast<size_t>(b) * oh * ow * ch;
    if (orderSensitive(img, static_cast<size_t>(h) * w * ch)) {
      clean[b] = 0;
      return;
    }
    if (halve && ch == 1) {
      // One channel (a compacted conv1's): a row of outputs at a time, which vectorises.
      for (int r = 0; r < oh; ++r) {
        const float *p0 = img + static_cast<size_t>(2 * r) * w, *p1 = p0 + w;
        float* o = out + static_cast<size_t>(r) * ow;
        for (int q = 0; q < ow; ++q)
          o[q] = std::max(std::max(p0[2 * q], p0[2 * q + 1]), std::max(p1[2 * q], p1[2 * q + 1]));
      }
      return;
    }
    if (halve && ch < VL && 2 * ow * ch <= kPoolRow) {
      maxPoolRowPairs(img, out, w, ch, oh, ow);
      return;
    }
    for (int r = 0; r < oh; ++r)
      for (int q = 0; q < ow; ++q) {
        const float* p = img + (static_cast<size_t>(r * sh) * w + q * sw) * ch;
        float* o = out + (static_cast<size_t>(r) * ow + q) * ch;
        if (halve) {
          const float* p1 = p + static_cast<size_t>(w) * ch;
          for (int k = 0; k < ch; ++k) o[k] = std::max(std::max(p[k], p[ch + k]), std::max(p1[k], p1[ch + k]));
          continue;
        }
        // Tap by tap over all channels (whole vectors), each output the same comparisons in the same order.
        for (int k = 0; k < ch; ++k) o[k] = p[k];
        for (int yy = 0; yy < fh; ++yy)
          for (int xx = 0; xx < fw; ++xx) {
            const float* t = p + (static_cast<size_t>(yy) * w + xx) * ch;
            for (int k = 0; k < ch; ++k) o[k] = std::max(o[k], t[k]);
          }
      }
  });
  return std::all_of(clean.begin(), clean.end(), [](char c) { return c != 0; });
}

/**
 * The column sums of x [outer, inner] for fewer columns than a vector has lanes (a compacted
 * conv1's bias gradient): one vector of partial sums, each row added as one whole-vector load
 * whose lanes past `inner` are never stored, so every column is the same chain of additions
 * from +0 in row order. The last rows, where a whole vector would read past x, one by one.
 */
void sumFewColumns(const float* x, float* out, size_t outer, size_t inner) {
  vec acc{};
  size_t i = 0;
  const size_t total = outer * inner;
  for (; i < outer && i * inner + VL <= total; ++i) acc += *reinterpret_cast<const uvec*>(x + i * inner);
  alignas(64) float lanes[VL];
  *reinterpret_cast<vec*>(lanes) = acc;
  for (; i < outer; ++i)
    for (size_t j = 0; j < inner; ++j) lanes[j] += x[i * inner + j];
  std::memcpy(out, lanes, sizeof(float) * inner);
}

/**
 * Sums of x viewed as [outer, inner]: over the outer axis (out has `inner` values) or over the
 * inner one (out has `outer` values). Each output is a sum in index order.
 */
void sum(const float* x, float* out, size_t outer, size_t inner, bool overOuter) {
  if (overOuter && inner < static_cast<size_t>(VL)) return sumFewColumns(x, out, outer, inner);
  if (overOuter) {
    // 64 columns at a time in a local array: out[] may alias x for all the compiler knows, so summing
    // in place stored and reloaded every partial sum (a bias gradient of one channel: 37k in a chain).
    constexpr size_t kColumns = 64;
    for (size_t j0 = 0; j0 < inner; j0 += kColumns) {
      const size_t n = std::min(kColumns, inner - j0);
      float acc[kColumns] = {};
      for (size_t i = 0; i < outer; ++i) {
        const float* row = x + i * inner + j0;
        for (size_t j = 0; j < n; ++j) acc[j] += row[j];
      }
      std::memcpy(out + j0, acc, sizeof(float) * n);
    }
    return;
  }
  for (size_t i = 0; i < outer; ++i) {
    const float* row = x + i * inner;
    float acc = 0.f;
    for (size_t j = 0; j < inner; ++j) acc += row[j];
    out[i] = acc;
  }
}

/** out = a + b with b ([cols]) added to every row of a ([rows, cols]): a layer's bias, one rounding each as tfjs's. */
void biasAdd(const float* a, const float* b, float* out, size_t rows, size_t cols) {
  if (cols == 1) {  // one channel (a compacted conv1): one vectorised loop, not one row per output
    const float bias = b[0];
    for (size_t r = 0; r < rows; ++r) out[r] = a[r] + bias;
    return;
  }
  if (cols < static_cast<size_t>(VL)) {
    // A few channels: `cols` vectors of the bias repeated cover VL rows, a whole number of them.
    vec pattern[VL];
    for (size_t i = 0; i < cols * VL; ++i) reinterpret_cast<float*>(pattern)[i] = b[i % cols];
    const size_t block = cols * VL, whole = rows / VL * block;
    for (size_t i = 0; i < whole; i += block)
      for (size_t v = 0; v < cols; ++v) {
        uvec* o = reinterpret_cast<uvec*>(out + i + v * VL);
        *o = *reinterpret_cast<const uvec*>(a + i + v * VL) + pattern[v];
      }
    for (size_t i = whole; i < rows * cols; ++i) out[i] = a[i] + b[i % cols];
    return;
  }
  for (size_t r = 0; r < rows; ++r)
    for (size_t j = 0; j < cols; ++j) out[r * cols + j] = a[r * cols + j] + b[j];
}

/**
 * One masked SGD step, with momentum when `v` is given, exactly as tfjs computes it op by op
 * (no fused multiply-add, so every float rounds as there: the kernels are compiled with
 * -ffp-contract=off): g' = g * mask; v = m * v + g'; w = (c * v + w) * mask with c = -lr (plain
 * SGD: w = (c * g' + w) * mask).
 */
void maskedStep(float* w, const float* g, const float* mask, float* v, size_t n, float c, float m) {
  if (v) {
    for (size_t i = 0; i < n; ++i) {
      const float gm = g[i] * mask[i];
      const float acc = m * v[i];
      const float nv = acc + gm;
      v[i] = nv;
      const float step = c * nv;
      const float nw = step + w[i];
      w[i] = nw * mask[i];
    }
  } else {
    for (size_t i = 0; i < n; ++i) {
      const float gm = g[i] * mask[i];
      const float step = c * gm;
      const float nw = step + w[i];
      w[i] = nw * mask[i];
    }
  }
}

/**
 * A batch of byte images as floats, each byte through its channel's row of `table` (256 floats a
 * channel): what fillBatch (src/data/preprocess.ts) writes without augmentation, the same floats
 * (a table lookup is a copy), at memcpy speed instead of ~2.5 ns a pixel of JavaScript.
 */
void gatherImages(const uint8_t* images, const uint32_t* indices, int start, int end, int size, int channels,
                  const float* table, float* out) {
  const auto image = [&](int i) { return images + static_cast<size_t>(indices ? indices[i] : i) * size; };
  for (int i = start; i < end; ++i) {
    const uint8_t* src = image(i);
    // The next image's bytes requested now: images are drawn at random from tens of megabytes, so
    // each one's lines would otherwise be fetched from memory while nothing else runs.
    if (i + 1 < end)
      for (int p = 0; p < size; p += 64) __builtin_prefetch(image(i + 1) + p);
    float* dst = out + static_cast<size_t>(i - start) * size;
    if (channels == 1) {
      for (int p = 0; p < size; ++p) dst[p] = table[src[p]];
      continue;
    }
    for (int p = 0; p < size; p += channels)
      for (int c = 0; c < channels; ++c) dst[p + c] = table[c * 256 + src[p + c]];
  }
}

/**
 * The path's own multiply-add rate, the ceiling of every product above: `threads` threads each
 * run `rounds` x 12 independent vector multiply-adds (more chains than the instruction's latency
 * times its throughput, so none waits). Returns the floating-point operations done, two per lane
 * of each multiply-add; the caller times the call.
 */
double fmaPeak(long rounds, int threads) {
  constexpr int kChains = 12;
  std::vector<float> sink(static_cast<size_t>(threads) * VL);
  threadPool().run(threads, threads, [&](int task, int) {
    vec a[kChains];
    const vec b = splat<vec>(0.999f), c = splat<vec>(0.001f);
    for (int i = 0; i < kChains; ++i) a[i] = splat<vec>(static_cast<float>(i));
    for (long r = 0; r < rounds; ++r)
      for (int i = 0; i < kChains; ++i) a[i] = madd(a[i], b, c);
    vec s = a[0];
    for (int i = 1; i < kChains; ++i) s += a[i];
    std::memcpy(&sink[static_cast<size_t>(task) * VL], &s, sizeof s);
  });
  return 2.0 * kChains * VL * static_cast<double>(rounds) * threads;
}

}  // namespace

const Kernels kernels = {EVOLVE_ISA_NAME, conv2d,    conv2dBackpropInput, conv2dBackpropFilter, matmul, maxPoolGrad,
                         maxPool,         sum,       biasAdd,             maskedStep,           gatherImages, fmaPeak};

}  // namespace evolve::EVOLVE_ISA
EVOLVE_TARGET_END
