// The Node-API glue of evolve's native training kernels (native/kernels.cc), and the choice of
// their path: the copy of the kernels for the widest instructions this CPU runs (AVX-512, AVX2
// with FMA, or the x86-64 baseline, SSE2), picked when the addon loads. One build runs on any
// x86-64, and every path gives the same floats.
#include <node_api.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>

#include "conv.h"
#include "kernels.h"
#include "threadPool.h"

namespace evolve {
namespace {

// ---------------------------------------------------------------------------------------------
// Paths: the copies of the kernels this CPU runs, widest first.

struct Path {
  const Kernels* kernels;
  bool (*runs)();
};

bool always() { return true; }

#if defined(__x86_64__)
// __builtin_cpu_supports also asks the OS (XGETBV) whether it saves the vector registers.
bool hasAvx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

bool hasAvx512() {
  return hasAvx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
}

const Path kPaths[] = {{&avx512::kernels, hasAvx512}, {&avx2::kernels, hasAvx2}, {&baseline::kernels, always}};
#else
const Path kPaths[] = {{&baseline::kernels, always}};
#endif

const Kernels* widest() {
  for (const Path& p : kPaths)
    if (p.runs()) return p.kernels;
  return &baseline::kernels;
}

/** The path every kernel call takes: the widest, unless usePath chose another. */
const Kernels* active = widest();

// ---------------------------------------------------------------------------------------------
// The kernels. Every one takes (heap: ArrayBuffer, ...byte offsets, ...sizes, threads).

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
template <ConvKernel Kernels::*kernel, Operand A, Operand B, Operand Out>
napi_value ConvCall(napi_env env, napi_callback_info info) {
  Args a(env, info, 18);
  if (!a.ok) return nullptr;
  const Conv c = convFrom(a, 4);
  const int threads = static_cast<int>(a.integer(17));
  float *pa = a.floats(1, sizeOf(c, A)), *pb = a.floats(2, sizeOf(c, B)), *out = a.floats(3, sizeOf(c, Out));
  if (a.ok) (active->*kernel)(c, pa, pb, out, threads);
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
    active->matmul(pa, pb, pc, static_cast<int>(batchA), static_cast<int>(batchB), static_cast<int>(m), static_cast<int>(n),
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
  if (a.ok) active->maxPoolGrad(dy, x, dx, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12]);
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
  napi_get_boolean(env, active->maxPool(x, y, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10]), &result);
  return result;
}

// sum(heap, x, out, outer, inner, overOuter)
napi_value Sum(napi_env env, napi_callback_info info) {
  Args a(env, info, 6);
  if (!a.ok) return nullptr;
  const int64_t outer = a.integer(3), inner = a.integer(4);
  const bool overOuter = a.integer(5) != 0;
  float *x = a.floats(1, outer * inner), *out = a.floats(2, overOuter ? inner : outer);
  if (a.ok) active->sum(x, out, static_cast<size_t>(outer), static_cast<size_t>(inner), overOuter);
  return nullptr;
}

// biasAdd(heap, a, b, out, rows, cols)
napi_value BiasAdd(napi_env env, napi_callback_info info) {
  Args a(env, info, 6);
  if (!a.ok) return nullptr;
  const int64_t rows = a.integer(4), cols = a.integer(5);
  float *pa = a.floats(1, rows * cols), *pb = a.floats(2, cols), *out = a.floats(3, rows * cols);
  if (a.ok) active->biasAdd(pa, pb, out, static_cast<size_t>(rows), static_cast<size_t>(cols));
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
  if (a.ok) active->maskedStep(w, g, mask, v, static_cast<size_t>(n), static_cast<float>(-lr), static_cast<float>(m));
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
    active->gatherImages(images, count ? indices : nullptr, static_cast<int>(start), static_cast<int>(end), static_cast<int>(size),
                 static_cast<int>(channels), table, out);
  return nullptr;
}


// fmaPeak(threads): the active path's multiply-add rate on `threads` threads, in GFLOP/s: the
// best of three timed runs, each long enough (50 ms or more) for the clock and the pool's wake-up
// to be noise. A ceiling to compare the training kernels' rate with, not part of training.
napi_value FmaPeak(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  int32_t threads = 0;
  if (napi_get_cb_info(env, info, &argc, &arg, nullptr, nullptr) != napi_ok || argc != 1 ||
      napi_get_value_int32(env, arg, &threads) != napi_ok || threads < 1 || threads > ThreadPool::kMaxThreads) {
    napi_throw_range_error(env, nullptr, "evolve native kernel: fmaPeak takes a thread count");
    return nullptr;
  }
  const auto timed = [&](long rounds, double& flops) {
    const auto start = std::chrono::steady_clock::now();
    flops = active->fmaPeak(rounds, threads);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  long rounds = 1 << 12;
  double flops = 0, seconds = timed(rounds, flops);
  while (seconds < 0.05) seconds = timed(rounds *= 2, flops);
  double best = flops / seconds;
  for (int i = 0; i < 2; ++i) {
    seconds = timed(rounds, flops);
    best = std::max(best, flops / seconds);
  }
  napi_value result;
  napi_create_double(env, best / 1e9, &result);
  return result;
}

// simd(): the path the kernels take ('avx512', 'avx2' or 'baseline')
napi_value Simd(napi_env env, napi_callback_info) {
  napi_value s;
  napi_create_string_utf8(env, active->name, NAPI_AUTO_LENGTH, &s);
  return s;
}

// paths(): the paths this CPU runs, widest first
napi_value Paths(napi_env env, napi_callback_info) {
  napi_value list;
  napi_create_array(env, &list);
  uint32_t i = 0;
  for (const Path& p : kPaths) {
    if (!p.runs()) continue;
    napi_value name;
    napi_create_string_utf8(env, p.kernels->name, NAPI_AUTO_LENGTH, &name);
    napi_set_element(env, list, i++, name);
  }
  return list;
}

// usePath(name): the kernels take that path from now on (a RangeError when this CPU cannot run it)
napi_value UsePath(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  char name[16] = "";
  size_t length = 0;
  if (napi_get_cb_info(env, info, &argc, &arg, nullptr, nullptr) != napi_ok || argc != 1 ||
      napi_get_value_string_utf8(env, arg, name, sizeof name, &length) != napi_ok) {
    napi_throw_type_error(env, nullptr, "evolve native kernel: usePath takes a path's name");
    return nullptr;
  }
  for (const Path& p : kPaths) {
    if (std::strcmp(p.kernels->name, name) != 0) continue;
    if (!p.runs()) break;
    active = p.kernels;
    return nullptr;
  }
  napi_throw_range_error(env, nullptr, "evolve native kernel: no such path on this CPU");
  return nullptr;
}

}  // namespace

const Kernels& activeKernels() { return *active; }
void defineFused(napi_env env, napi_value exports);
void defineEvaluate(napi_env env, napi_value exports);

}  // namespace evolve

NAPI_MODULE_INIT() {
  using namespace evolve;
  const napi_property_descriptor props[] = {
      {"conv2d", nullptr, ConvCall<&Kernels::conv2d, kInput, kFilter, kOutput>, nullptr, nullptr, nullptr, napi_default,
       nullptr},
      {"conv2dBackpropInput", nullptr, ConvCall<&Kernels::conv2dBackpropInput, kOutput, kFilter, kInput>, nullptr,
       nullptr, nullptr, napi_default, nullptr},
      {"conv2dBackpropFilter", nullptr, ConvCall<&Kernels::conv2dBackpropFilter, kInput, kOutput, kFilter>, nullptr,
       nullptr, nullptr, napi_default, nullptr},
      {"matmul", nullptr, MatMul, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"maxPoolGrad", nullptr, MaxPoolGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"maxPool", nullptr, MaxPool, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"maskedStep", nullptr, MaskedStep, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"biasAdd", nullptr, BiasAdd, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sum", nullptr, Sum, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"gatherImages", nullptr, GatherImages, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"fmaPeak", nullptr, FmaPeak, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"simd", nullptr, Simd, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"paths", nullptr, Paths, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"usePath", nullptr, UsePath, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  defineFused(env, exports);
  defineEvaluate(env, exports);
  return exports;
}
