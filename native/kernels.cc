// evolve's native training kernels, a Node-API addon built by node-gyp during `npm ci`.
//
// They compute in place on the tfjs WASM backend's heap: JavaScript passes the heap's
// ArrayBuffer and byte offsets of the operands, so no tensor is copied in or out. Every kernel
// splits its work into tasks whose outputs never overlap, and sums partial results in a fixed
// order, so the results are the same whatever the thread count and scheduling.
#include <node_api.h>

#include <algorithm>
#include <cmath>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "conv.h"
#include "direct.h"
#include "gemm.h"
#include "pool.h"

namespace evolve {
namespace {

// ---------------------------------------------------------------------------------------------
// A small pool of persistent threads. One parallel region runs at a time (Node worker threads
// that call in concurrently queue on `region_`); the calling thread takes part as thread 0.

constexpr int kMaxThreads = 64;

struct ThreadScratch {
  GemmScratch gemm;
  std::vector<float> cols, tmp, padded;
};

class Pool {
 public:
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
      ++generation_;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }

  /** Runs f(task, thread) for task in [0, tasks) on up to `threads` threads. */
  void run(int tasks, int threads, const std::function<void(int, int)>& f) {
    threads = std::max(1, std::min({threads, tasks, kMaxThreads}));
    if (threads == 1) {
      for (int t = 0; t < tasks; ++t) f(t, 0);
      return;
    }
    std::lock_guard<std::mutex> region(region_);
    grow(threads - 1);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = &f;
      tasks_ = tasks;
      next_.store(0);
      helpers_ = threads - 1;
      remaining_ = threads - 1;
      ++generation_;
    }
    wake_.notify_all();
    work(0);
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return remaining_ == 0; });
    job_ = nullptr;
  }

 private:
  void grow(int helpers) {
    while (static_cast<int>(threads_.size()) < helpers) {
      const int id = static_cast<int>(threads_.size()) + 1;
      // The generation before this region's: the new thread must not miss the region about to start.
      uint64_t seen;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        seen = generation_;
      }
      threads_.emplace_back([this, id, seen] { loop(id, seen); });
    }
  }

  void loop(int id, uint64_t seen) {
    for (;;) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return generation_ != seen; });
      seen = generation_;
      if (stop_) return;
      if (id > helpers_) continue;  // this region uses fewer threads
      lock.unlock();
      work(id);
      lock.lock();
      if (--remaining_ == 0) done_.notify_one();
    }
  }

  void work(int thread) {
    for (int t; (t = next_.fetch_add(1)) < tasks_;) (*job_)(t, thread);
  }

  std::mutex region_, mutex_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> threads_;
  const std::function<void(int, int)>* job_ = nullptr;
  std::atomic<int> next_{0};
  int tasks_ = 0, helpers_ = 0, remaining_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

/** Packing and im2col buffers of the calling OS thread (pool threads and Node's own threads alike). */
ThreadScratch& scratch() {
  thread_local ThreadScratch s;
  return s;
}

Pool& pool() {
  static Pool* p = new Pool();  // never destroyed: threads may outlive static destruction order
  return *p;
}

/**
 * Threads worth waking for `work` multiply-adds: under 1M (~100 us on one core) one thread. The
 * compacted 100x LeNet-5 offspring's step (conv1's 0.9M, its filter gradient's, the dense layers')
 * took ~10% less than at the earlier 200k, the dense ancestor's the same (alternating runs,
 * docs/performance.md section 3).
 */
int threadsFor(double work, int threads) { return work < 1e6 ? 1 : threads; }

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

/** Output positions per im2col chunk: about 256 KiB of columns, a multiple of MR. */
int chunkRows(int K) {
  int rows = (64 * 1024) / std::max(1, K);
  rows = std::max(MR, rows / MR * MR);
  return std::min(rows, 1024);
}

/**
 * Fewer output channels than half a micro-kernel's columns (a compacted offspring's conv1 may
 * keep one filter): then the products run transposed, so that positions fill the vector lanes.
 * Each output is the same sum in the same order either way, so the floats do not change.
 */
bool fewOutputs(const Conv& c) { return c.cout < NR / 2; }

void conv2d(const Conv& c, const float* x, const float* f, float* y, int threads) {
  const int K = c.k(), P = c.positions(), rows = chunkRows(K);
  if (fewOutputs(c) && c.sw == 1) {
    if (P == 0) return;  // no output, and no rows for the padded planes
    pool().run(c.batch, threadsFor(double(c.batch) * P * K * c.cout, threads),
               [&](int b, int) { directConvImage(c, x, f, y, b, scratch().padded); });
    return;
  }
  const int perImage = (P + rows - 1) / rows;
  // The filter, packed once for every chunk of every image (not when the products run transposed).
  PackedB packed;
  if (!fewOutputs(c)) packWhole(plain(f, c.cout), K, c.cout, packed);
  pool().run(c.batch * perImage, threadsFor(double(c.batch) * P * K * c.cout, threads), [&](int task, int) {
    const int b = task / perImage, m0 = (task % perImage) * rows, m1 = std::min(P, m0 + rows);
    ThreadScratch& s = scratch();
    s.cols.resize(static_cast<size_t>(rows) * K);
    float* out = y + (static_cast<size_t>(b) * P + m0) * c.cout;
    if (!fewOutputs(c)) {
      im2col(c, x, b, m0, m1, s.cols.data());
      gemmPacked(plain(s.cols.data(), K), packed, out, c.cout, m1 - m0, false);
      return;
    }
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
    pool().run(c.batch, threadsFor(double(c.batch) * P * K * c.cout, threads),
               [&](int b, int) { directInputImage(c, dy, f, dx, b, scratch().padded); });
    return;
  }
  // op(B) = filter^T (cout x K): filter is [K, cout], so op(B)(co, k) = f[k * cout + co]. Packed once here,
  // not per chunk: a strided gather of the whole filter per 16-row chunk cost more than the products.
  PackedB packed;
  packWhole(transposed(f, c.cout), c.cout, K, packed);
  // One task per image: the column sums of different chunks overlap in dx, images do not.
  pool().run(c.batch, threadsFor(double(c.batch) * P * K * c.cout, threads), [&](int b, int) {
    ThreadScratch& s = scratch();
    s.cols.resize(static_cast<size_t>(rows) * K);
    std::memset(dx + static_cast<size_t>(b) * c.h * c.w * c.cin, 0, sizeof(float) * c.h * c.w * c.cin);
    for (int m0 = 0; m0 < P; m0 += rows) {
      const int m1 = std::min(P, m0 + rows);
      // cols = dy rows x filter^T
      gemmPacked(plain(dy + (static_cast<size_t>(b) * P + m0) * c.cout, c.cout), packed, s.cols.data(), K, m1 - m0, false);
      col2imAdd(c, s.cols.data(), b, m0, m1, dx);
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
  std::vector<float> partial(flip ? parts * size : parts > 1 ? (parts - 1) * size : 0);
  pool().run(parts, threadsFor(double(total) * K * c.cout, threads), [&](int part, int) {
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
        directFilterChunk(c, s.padded.data(), dy + g * c.cout, m0, m1 - m0, out, accumulate);
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
  pool().run(batch * rb * cb, threadsFor(double(batch) * m * n * k, threads), [&](int task, int) {
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
  pool().run(batch, threadsFor(double(batch) * h * w * ch * 4, threads), [&](int b, int) {
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

/**
 * Max pool without padding (every window inside the image). Returns false when the input holds a
 * NaN or -0: only without them is the maximum the same whatever order a kernel compares in, so
 * the caller hands those inputs to the WASM backend's kernel.
 */
bool maxPool(const float* x, float* y, int batch, int h, int w, int ch, int oh, int ow, int fh, int fw, int sh,
             int sw, int threads) {
  std::vector<char> clean(batch, 1);
  const bool halve = fh == 2 && fw == 2 && sh == 2 && sw == 2;  // LeNet's pools
  pool().run(batch, threadsFor(double(batch) * oh * ow * ch * fh * fw, threads), [&](int b, int) {
    const float* img = x + static_cast<size_t>(b) * h * w * ch;
    float* out = y + static_cast<size_t>(b) * oh * ow * ch;
    if (orderSensitive(img, static_cast<size_t>(h) * w * ch)) {
      clean[b] = 0;
      return;
    }
    if (halve && ch == 1) {
      // A one-channel pool (a compacted conv1's): a row of outputs at a time, which vectorises.
      for (int r = 0; r < oh; ++r) {
        const float *p0 = img + static_cast<size_t>(2 * r) * w, *p1 = p0 + w;
        float* o = out + static_cast<size_t>(r) * ow;
        for (int q = 0; q < ow; ++q)
          o[q] = std::max(std::max(p0[2 * q], p0[2 * q + 1]), std::max(p1[2 * q], p1[2 * q + 1]));
      }
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
        for (int k = 0; k < ch; ++k) {
          float m = p[k];
          for (int yy = 0; yy < fh; ++yy)
            for (int xx = 0; xx < fw; ++xx) m = std::max(m, p[(static_cast<size_t>(yy) * w + xx) * ch + k]);
          o[k] = m;
        }
      }
  });
  return std::all_of(clean.begin(), clean.end(), [](char c) { return c != 0; });
}

/**
 * Sums of x viewed as [outer, inner]: over the outer axis (out has `inner` values) or over the
 * inner one (out has `outer` values). Each output is a sum in index order.
 */
void sum(const float* x, float* out, size_t outer, size_t inner, bool overOuter) {
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
  for (size_t r = 0; r < rows; ++r)
    for (size_t j = 0; j < cols; ++j) out[r * cols + j] = a[r * cols + j] + b[j];
}

/**
 * One masked SGD step, with momentum when `v` is given, exactly as tfjs computes it op by op
 * (no fused multiply-add, so every float rounds as there): g' = g * mask; v = m * v + g';
 * w = (c * v + w) * mask with c = -lr (plain SGD: w = (c * g' + w) * mask).
 */
__attribute__((optimize("fp-contract=off"))) void maskedStep(float* w, const float* g, const float* mask, float* v,
                                                            size_t n, float c, float m) {
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
  for (int i = start; i < end; ++i) {
    const uint8_t* src = images + static_cast<size_t>(indices ? indices[i] : i) * size;
    float* dst = out + static_cast<size_t>(i - start) * size;
    if (channels == 1) {
      for (int p = 0; p < size; ++p) dst[p] = table[src[p]];
      continue;
    }
    for (int p = 0; p < size; p += channels)
      for (int c = 0; c < channels; ++c) dst[p + c] = table[c * 256 + src[p + c]];
  }
}

// ---------------------------------------------------------------------------------------------
// Node-API glue. Every kernel takes (heap: ArrayBuffer, ...byte offsets, ...sizes, threads).

struct Args {
  napi_env env;
  size_t argc = 24;
  napi_value argv[24];
  uint8_t* heap = nullptr;
  size_t heapBytes = 0;
  bool ok = true;

  Args(napi_env e, napi_callback_info info, size_t expected) : env(e) {
    if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc != expected) {
      napi_throw_type_error(env, nullptr, "evolve native kernel: wrong number of arguments");
      ok = false;
      return;
    }
    void* data = nullptr;
    if (napi_get_arraybuffer_info(env, argv[0], &data, &heapBytes) != napi_ok) {
      napi_throw_type_error(env, nullptr, "evolve native kernel: the first argument must be an ArrayBuffer");
      ok = false;
      return;
    }
    heap = static_cast<uint8_t*>(data);
  }

  int64_t integer(size_t i) {
    int64_t v = 0;
    if (ok && napi_get_value_int64(env, argv[i], &v) != napi_ok) {
      napi_throw_type_error(env, nullptr, "evolve native kernel: expected a number");
      ok = false;
    }
    return v;
  }

  /** A float array of `count` elements at byte offset argv[i], checked against the heap's bounds. */
  float* floats(size_t i, int64_t count) {
    const int64_t off = integer(i);
    if (!ok) return nullptr;
    if (off < 0 || off % 4 != 0 || count < 0 || static_cast<uint64_t>(off) + static_cast<uint64_t>(count) * 4 > heapBytes) {
      napi_throw_range_error(env, nullptr, "evolve native kernel: operand outside the heap");
      ok = false;
      return nullptr;
    }
    return reinterpret_cast<float*>(heap + off);
  }
};

Conv convFrom(Args& a, size_t first) {
  Conv c;
  int* fields[] = {&c.batch, &c.h, &c.w, &c.cin, &c.oh, &c.ow, &c.cout, &c.kh, &c.kw, &c.sh, &c.sw, &c.top, &c.left};
  for (size_t i = 0; i < 13; ++i) *fields[i] = static_cast<int>(a.integer(first + i));
  return c;
}

enum Operand { kInput, kOutput, kFilter };

size_t sizeOf(const Conv& c, Operand o) {
  switch (o) {
    case kInput: return static_cast<size_t>(c.batch) * c.h * c.w * c.cin;
    case kOutput: return static_cast<size_t>(c.batch) * c.oh * c.ow * c.cout;
    case kFilter: return static_cast<size_t>(c.k()) * c.cout;
  }
  return 0;
}

using ConvKernel = void (*)(const Conv&, const float*, const float*, float*, int);

/**
 * The three convolution kernels: (heap, a, b, out, ...13 geometry, threads), where a, b and out
 * are the operands A, B and Out (conv2d: x, filter, y; input gradient: dy, filter, dx; filter
 * gradient: x, dy, dfilter).
 */
template <ConvKernel kernel, Operand A, Operand B, Operand Out>
napi_value ConvCall(napi_env env, napi_callback_info info) {
  Args a(env, info, 18);
  if (!a.ok) return nullptr;
  const Conv c = convFrom(a, 4);
  const int threads = static_cast<int>(a.integer(17));
  float *pa = a.floats(1, sizeOf(c, A)), *pb = a.floats(2, sizeOf(c, B)), *out = a.floats(3, sizeOf(c, Out));
  if (a.ok) kernel(c, pa, pb, out, threads);
  return nullptr;
}

// matmul(heap, a, b, c, batchA, batchB, m, n, k, transposeA, transposeB, threads)
napi_value MatMul(napi_env env, napi_callback_info info) {
  Args a(env, info, 12);
  if (!a.ok) return nullptr;
  const int64_t batchA = a.integer(4), batchB = a.integer(5), m = a.integer(6), n = a.integer(7), k = a.integer(8);
  const bool ta = a.integer(9) != 0, tb = a.integer(10) != 0;
  const int threads = static_cast<int>(a.integer(11));
  float *pa = a.floats(1, batchA * m * k), *pb = a.floats(2, batchB * k * n);
  float* pc = a.floats(3, std::max(batchA, batchB) * m * n);
  if (a.ok && (batchA == batchB || batchA == 1 || batchB == 1))
    matmul(pa, pb, pc, static_cast<int>(batchA), static_cast<int>(batchB), static_cast<int>(m), static_cast<int>(n),
           static_cast<int>(k), ta, tb, threads);
  else if (a.ok)
    napi_throw_range_error(env, nullptr, "evolve native kernel: batch sizes do not broadcast");
  return nullptr;
}

// maxPoolGrad(heap, dy, x, dx, batch, h, w, ch, oh, ow, fh, fw, sh, sw, top, left, threads)
napi_value MaxPoolGrad(napi_env env, napi_callback_info info) {
  Args a(env, info, 17);
  if (!a.ok) return nullptr;
  int v[13];
  for (int i = 0; i < 13; ++i) v[i] = static_cast<int>(a.integer(4 + i));
  const size_t in = static_cast<size_t>(v[0]) * v[1] * v[2] * v[3], out = static_cast<size_t>(v[0]) * v[4] * v[5] * v[3];
  float *dy = a.floats(1, out), *x = a.floats(2, in), *dx = a.floats(3, in);
  if (a.ok) maxPoolGrad(dy, x, dx, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12]);
  return nullptr;
}

// maxPool(heap, x, y, batch, h, w, ch, oh, ow, fh, fw, sh, sw, threads): false when the input held NaN or -0
napi_value MaxPool(napi_env env, napi_callback_info info) {
  Args a(env, info, 14);
  if (!a.ok) return nullptr;
  int v[11];
  for (int i = 0; i < 11; ++i) v[i] = static_cast<int>(a.integer(3 + i));
  const size_t in = static_cast<size_t>(v[0]) * v[1] * v[2] * v[3], out = static_cast<size_t>(v[0]) * v[4] * v[5] * v[3];
  float *x = a.floats(1, in), *y = a.floats(2, out);
  const bool inside = (v[4] - 1) * v[8] + v[6] <= v[1] && (v[5] - 1) * v[9] + v[7] <= v[2];
  if (a.ok && !inside) napi_throw_range_error(env, nullptr, "evolve native kernel: pooling windows leave the image");
  if (!a.ok || !inside) return nullptr;
  napi_value result;
  napi_get_boolean(env, maxPool(x, y, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10]), &result);
  return result;
}

// sum(heap, x, out, outer, inner, overOuter)
napi_value Sum(napi_env env, napi_callback_info info) {
  Args a(env, info, 6);
  if (!a.ok) return nullptr;
  const int64_t outer = a.integer(3), inner = a.integer(4);
  const bool overOuter = a.integer(5) != 0;
  float *x = a.floats(1, outer * inner), *out = a.floats(2, overOuter ? inner : outer);
  if (a.ok) sum(x, out, static_cast<size_t>(outer), static_cast<size_t>(inner), overOuter);
  return nullptr;
}

// biasAdd(heap, a, b, out, rows, cols)
napi_value BiasAdd(napi_env env, napi_callback_info info) {
  Args a(env, info, 6);
  if (!a.ok) return nullptr;
  const int64_t rows = a.integer(4), cols = a.integer(5);
  float *pa = a.floats(1, rows * cols), *pb = a.floats(2, cols), *out = a.floats(3, rows * cols);
  if (a.ok) biasAdd(pa, pb, out, static_cast<size_t>(rows), static_cast<size_t>(cols));
  return nullptr;
}

// maskedStep(heap, w, g, mask, v (-1: none), n, learningRate, momentum)
napi_value MaskedStep(napi_env env, napi_callback_info info) {
  Args a(env, info, 8);
  if (!a.ok) return nullptr;
  const int64_t n = a.integer(5);
  double lr = 0, m = 0;
  if (napi_get_value_double(env, a.argv[6], &lr) != napi_ok || napi_get_value_double(env, a.argv[7], &m) != napi_ok) {
    napi_throw_type_error(env, nullptr, "evolve native kernel: expected a number");
    return nullptr;
  }
  float *w = a.floats(1, n), *g = a.floats(2, n), *mask = a.floats(3, n);
  float* v = nullptr;
  if (a.ok && a.integer(4) >= 0) v = a.floats(4, n);
  if (a.ok) maskedStep(w, g, mask, v, static_cast<size_t>(n), static_cast<float>(-lr), static_cast<float>(m));
  return nullptr;
}

/** A typed array argument's elements and their count; null (and a TypeError thrown) when it is not of `type`. */
template <typename T>
T* typedArray(Args& a, size_t i, napi_typedarray_type type, size_t& length) {
  napi_typedarray_type t;
  void* data = nullptr;
  if (!a.ok || napi_get_typedarray_info(a.env, a.argv[i], &t, &length, &data, nullptr, nullptr) != napi_ok || t != type) {
    if (a.ok) napi_throw_type_error(a.env, nullptr, "evolve native kernel: wrong typed array");
    a.ok = false;
    return nullptr;
  }
  return static_cast<T*>(data);
}

// gatherImages(heap, out, images: Uint8Array, indices: Uint32Array (empty: in order), start, end, size, channels,
// table: Float32Array)
napi_value GatherImages(napi_env env, napi_callback_info info) {
  Args a(env, info, 9);
  size_t bytes = 0, count = 0, entries = 0;
  const uint8_t* images = typedArray<uint8_t>(a, 2, napi_uint8_array, bytes);
  const uint32_t* indices = typedArray<uint32_t>(a, 3, napi_uint32_array, count);
  const int64_t start = a.integer(4), end = a.integer(5), size = a.integer(6), channels = a.integer(7);
  const float* table = typedArray<float>(a, 8, napi_float32_array, entries);
  if (!a.ok) return nullptr;
  bool fits = start >= 0 && end >= start && size > 0 && channels > 0 && size % channels == 0 &&
              entries >= static_cast<size_t>(channels) * 256 && (count == 0 || static_cast<size_t>(end) <= count);
  for (int64_t i = start; fits && i < end; ++i)
    fits = (count ? indices[i] : static_cast<uint64_t>(i)) * static_cast<uint64_t>(size) + size <= bytes;
  if (!fits) {
    napi_throw_range_error(env, nullptr, "evolve native kernel: a sample outside the images");
    return nullptr;
  }
  float* out = a.floats(1, (end - start) * size);
  if (a.ok)
    gatherImages(images, count ? indices : nullptr, static_cast<int>(start), static_cast<int>(end), static_cast<int>(size),
                 static_cast<int>(channels), table, out);
  return nullptr;
}

napi_value Describe(napi_env env, napi_callback_info) {
  napi_value s;
  const char* text =
#if defined(__AVX512F__)
      "avx512";
#elif defined(__AVX2__)
      "avx2";
#elif defined(__AVX__)
      "avx";
#else
      "generic";
#endif
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &s);
  return s;
}

}  // namespace
}  // namespace evolve

NAPI_MODULE_INIT() {
  using namespace evolve;
  const napi_property_descriptor props[] = {
      {"conv2d", nullptr, ConvCall<conv2d, kInput, kFilter, kOutput>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"conv2dBackpropInput", nullptr, ConvCall<conv2dBackpropInput, kOutput, kFilter, kInput>, nullptr, nullptr,
       nullptr, napi_default, nullptr},
      {"conv2dBackpropFilter", nullptr, ConvCall<conv2dBackpropFilter, kInput, kOutput, kFilter>, nullptr, nullptr,
       nullptr, napi_default, nullptr},
      {"matmul", nullptr, evolve::MatMul, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"maxPoolGrad", nullptr, evolve::MaxPoolGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"maxPool", nullptr, evolve::MaxPool, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"maskedStep", nullptr, evolve::MaskedStep, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"biasAdd", nullptr, evolve::BiasAdd, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sum", nullptr, evolve::Sum, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"gatherImages", nullptr, evolve::GatherImages, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"simd", nullptr, evolve::Describe, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}
