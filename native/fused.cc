// A whole masked training step in one native call: the forward pass, the softmax cross-entropy
// loss, the backward pass and the SGD(-momentum) update of a network of convolutions, max pools,
// flattens and dense layers. Each operation is the kernel, or the element-wise float operation, the
// tfjs path runs for it (src/engine/layerOps.ts, loss.ts, updater.ts), in the same order, so the
// weights come out the same; what is gone is the ~50 kernel dispatches of JavaScript and
// WebAssembly glue a step, most of a small compacted network's step.
#include <node_api.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "conv.h"
#include "fusedNet.h"
#include "kernels.h"

namespace evolve {

const Kernels& activeKernels();

namespace fused {
namespace {

// ---------------------------------------------------------------------------------------------
// The element-wise operations, as the WASM backend's kernels compute them.

/** tf.relu: -0 becomes +0, NaN stays NaN. */
inline float relu(float v) { return v > 0 || std::isnan(v) ? v : 0.0f; }

void activate(Layer& L, size_t count) {
  if (!L.relu) return;
  for (size_t i = 0; i < count; ++i) L.output[i] = relu(L.pre[i]);
}

/**
 * The gradient at the pre-activation: dy times the activation's derivative (1 for linear): relu's
 * step, 1 above 0 and 0 elsewhere, NaN passed on, as the tfjs path computes it; written without
 * branches, so that the loop is vectorised.
 */
const float* preGradient(Layer& L, const float* dy, size_t count) {
  if (!L.relu) return dy;
  const float* pre = L.pre.data();
  float* d = L.d.data();
  for (size_t i = 0; i < count; ++i) {
    const float v = pre[i], positive = v > 0 ? 1.0f : 0.0f;
    d[i] = dy[i] * (v != v ? v : positive);  // v != v: NaN
  }
  return d;
}

/**
 * The max pool of an input holding NaN or -0, where the native kernel's result is unspecified and
 * the tfjs path hands the input to XNNPACK, whose comparison order decides: here the first of
 * equal values wins and NaN propagates. Only the sign of a zero maximum (or a NaN) can differ.
 */
void plainMaxPool(Layer& L, const float* x, int n) {
  const int *q = L.pool, h = q[0], w = q[1], ch = q[2], oh = q[3], ow = q[4];
  float* y = L.output.data();
  for (int b = 0; b < n; ++b)
    for (int i = 0; i < oh; ++i)
      for (int j = 0; j < ow; ++j)
        for (int c = 0; c < ch; ++c) {
          float m = -INFINITY;
          for (int u = 0; u < q[5]; ++u)
            for (int v = 0; v < q[6]; ++v) {
              const float t = x[((static_cast<size_t>(b) * h + i * q[7] + u) * w + j * q[8] + v) * ch + c];
              if (t > m || std::isnan(t)) m = t;
              if (std::isnan(m)) break;
            }
          y[((static_cast<size_t>(b) * oh + i) * ow + j) * ch + c] = m;
        }
}

// ---------------------------------------------------------------------------------------------
// Forward and backward, layer by layer.

/** L.raw: the products of an evaluated layer (Param::parts), added in order as tf.add adds them. */
void products(Net& net, Layer& L, const Param& p, const float* h, int n, int threads);

}  // namespace

void forward(Net& net, Layer& L, const float* h, int n, int threads) {
  const Kernels& k = activeKernels();
  L.input = h;
  float* pre = L.relu ? L.pre.data() : L.output.data();
  const size_t count = static_cast<size_t>(n) * L.outSize;
  if (L.kind == kConv || L.kind == kDense) {
    const Param& p = net.params[L.weighted];
    Conv c = L.conv;
    c.batch = n;
    if (!p.parts.empty())
      products(net, L, p, h, n, threads);
    else if (L.kind == kConv)
      k.conv2d(c, h, p.w.data(), L.raw.data(), threads);
    else
      k.matmul(h, p.w.data(), L.raw.data(), 1, 1, n, L.out, L.in, false, false, threads);
    const size_t units = L.kind == kConv ? c.cout : L.out;
    k.biasAdd(L.raw.data(), p.b.data(), pre, count / units, units);
  } else if (L.kind == kPool) {
    const int* q = L.pool;
    if (!k.maxPool(h, L.output.data(), n, q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7], q[8], threads))
      plainMaxPool(L, h, n);
  }
  if (L.kind == kConv || L.kind == kDense) activate(L, count);
  L.result = L.kind == kFlatten ? h : L.output.data();
}

namespace {

void products(Net& net, Layer& L, const Param& p, const float* h, int n, int threads) {
  const Kernels& k = activeKernels();
  Conv c = L.conv;
  c.batch = n;
  const size_t count = static_cast<size_t>(n) * L.outSize;
  for (size_t i = 0; i < p.parts.size(); ++i) {
    const Part& q = p.parts[i];
    float* y = i == 0 ? L.raw.data() : net.part.data();
    if (L.kind == kConv) {
      k.conv2d(c, h, q.w.data(), y, threads);
    } else if (q.hi > q.lo) {  // tf.slice's copy of the columns, then their product
      const int width = q.hi - q.lo;
      for (int r = 0; r < n; ++r)
        std::memcpy(net.columns.data() + static_cast<size_t>(r) * width, h + static_cast<size_t>(r) * L.in + q.lo,
                    width * sizeof(float));
      k.matmul(net.columns.data(), q.w.data(), y, 1, 1, n, L.out, width, false, false, threads);
    } else {
      k.matmul(h, q.w.data(), y, 1, 1, n, L.out, L.in, false, false, threads);
    }
    if (i == 0) continue;
    float* sum = L.raw.data();
    for (size_t j = 0; j < count; ++j) sum[j] = sum[j] + y[j];
  }
}

/** Writes the input's gradient to dx when `dx` is not null; returns what the layer before reads. */
const float* backward(Net& net, Layer& L, const float* dy, float* dx, int n, int threads) {
  const Kernels& k = activeKernels();
  if (L.kind == kFlatten) return dy;
  if (L.kind == kPool) {
    const int* q = L.pool;
    k.maxPoolGrad(dy, L.input, dx, n, q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7], q[8], 0, 0, threads);
    return dx;
  }
  Param& p = net.params[L.weighted];
  const float* d = preGradient(L, dy, static_cast<size_t>(n) * L.outSize);
  if (L.kind == kConv) {
    Conv c = L.conv;
    c.batch = n;
    k.conv2dBackpropFilter(c, L.input, d, p.gw.data(), threads);
    k.sum(d, p.gb.data(), static_cast<size_t>(n) * c.oh * c.ow, c.cout, true);
    if (dx) k.conv2dBackpropInput(c, d, p.w.data(), dx, threads);
  } else {
    k.matmul(L.input, d, p.gw.data(), 1, 1, L.in, L.out, n, true, false, threads);
    k.sum(d, p.gb.data(), n, L.out, true);
    if (dx) k.matmul(d, p.w.data(), dx, 1, 1, n, L.in, L.out, false, true, threads);
  }
  return dx;
}

// ---------------------------------------------------------------------------------------------
// The loss: tfjs's softmaxCrossEntropy, logSumExp and all, and its gradient for the logits.

float lossAndGradient(Net& net, const float* logits, int n) {
  const Kernels& k = activeKernels();
  const int C = net.classes;
  const size_t count = static_cast<size_t>(n) * C;
  std::vector<float>& w = net.work;
  std::vector<float> maxes(n);
  for (int r = 0; r < n; ++r) {
    float m = logits[static_cast<size_t>(r) * C];
    for (int j = 1; j < C; ++j) m = std::fmax(m, logits[static_cast<size_t>(r) * C + j]);
    maxes[r] = m;
    for (int j = 0; j < C; ++j) w[r * C + j] = std::exp(logits[static_cast<size_t>(r) * C + j] - m);
  }
  k.sum(w.data(), net.lse.data(), n, C, false);
  for (int r = 0; r < n; ++r) net.lse[r] = maxes[r] + std::log(net.lse[r]);
  for (size_t i = 0; i < count; ++i) {
    const float logResult = logits[i] - net.lse[i / C];
    w[i] = -(logResult * net.labels[i]);
    net.dLogits[i] = std::exp(logResult);
  }
  k.sum(w.data(), net.value.data(), n, C, false);
  float total = 0;
  k.sum(net.value.data(), &total, n, 1, true);
  const float scale = 1.0f / static_cast<float>(n);
  for (size_t i = 0; i < count; ++i) net.dLogits[i] = scale * (net.dLogits[i] - net.labels[i]);
  return total / static_cast<float>(n);
}

/** The loss's weight-decay term ((decay / 2) * sum of squared kernel weights) added as tfjs adds it. */
float withDecay(Net& net, float loss) {
  if (!(net.decay > 0)) return loss;
  const Kernels& k = activeKernels();
  float squares = 0;
  for (size_t l = 0; l < net.params.size(); ++l) {
    Param& p = net.params[l];
    for (size_t i = 0; i < p.n; ++i) p.gw[i] = p.w[i] * p.w[i];
    float s = 0;
    k.sum(p.gw.data(), &s, p.n, 1, true);
    squares = l == 0 ? s : squares + s;
  }
  return loss + squares * (net.decay / 2);
}

void update(Net& net) {
  const Kernels& k = activeKernels();
  const float c = -net.learningRate, half = net.decay / 2;
  for (Param& p : net.params) {
    if (net.decay > 0)
      for (size_t i = 0; i < p.n; ++i) p.gw[i] = half * (p.w[i] * 2.0f) + p.gw[i];
    k.maskedStep(p.w.data(), p.gw.data(), p.wMask.data(), net.useMomentum ? p.wV.data() : nullptr, p.n, c,
                 net.momentum);
    k.maskedStep(p.b.data(), p.gb.data(), p.bMask.data(), net.useMomentum ? p.bV.data() : nullptr, p.units, c,
                 net.momentum);
  }
}

float trainStep(Net& net, int n, int threads) {
  const float* h = net.x.data();
  for (Layer& L : net.layers) {
    forward(net, L, h, n, threads);
    h = L.result;
  }
  const float loss = withDecay(net, lossAndGradient(net, h, n));
  int first = 0;
  while (first < static_cast<int>(net.layers.size()) && net.layers[first].weighted < 0) ++first;
  const float* dy = net.dLogits.data();
  for (int i = static_cast<int>(net.layers.size()) - 1; i >= first; --i) {
    // Two buffers take turns: a layer reads the gradient at its output from one and writes its input's to the other.
    float* dx = i > first ? (dy == net.dy1.data() ? net.dy2.data() : net.dy1.data()) : nullptr;
    dy = backward(net, net.layers[i], dy, dx, n, threads);
  }
  update(net);
  ++net.steps;
  return loss;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Node-API: fusedCreate, fusedStep, fusedStepAsync, fusedRead, fusedRestore.

Call::Call(napi_env e, napi_callback_info info, size_t expected) : env(e) {
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc != expected)
    fail("wrong number of arguments");
}

void Call::fail(const char* why) {
  if (ok) napi_throw_type_error(env, nullptr, (std::string("evolve fused step: ") + why).c_str());
  ok = false;
}

double Call::number(size_t i) {
  double v = 0;
  if (ok && napi_get_value_double(env, argv[i], &v) != napi_ok) fail("expected a number");
  return v;
}

napi_value Call::element(size_t i, uint32_t e) {
  napi_value v = nullptr;
  if (ok && napi_get_element(env, argv[i], e, &v) != napi_ok) fail("expected an array");
  return v;
}

Net* Call::net(size_t i) {
  void* data = nullptr;
  if (ok && napi_get_value_external(env, argv[i], &data) != napi_ok) fail("expected a fused network");
  return static_cast<Net*>(data);
}

/** Copies a Float32Array argument into `out` (its length must be `n`). */
void copyIn(Call& a, napi_value value, std::vector<float>& out, size_t n) {
  size_t length = 0;
  const float* p = a.typed<float>(value, napi_float32_array, length);
  if (a.ok && length != n) a.fail("an array of the wrong length");
  if (a.ok) out.assign(p, p + n);
}

namespace {

void copyOut(Call& a, napi_value value, const std::vector<float>& from, size_t n) {
  size_t length = 0;
  float* p = a.typed<float>(value, napi_float32_array, length);
  if (a.ok && length != n) a.fail("an array of the wrong length");
  if (a.ok) std::memcpy(p, from.data(), n * sizeof(float));
}

}  // namespace

/** One layer from its spec: kind, relu, then the geometry (see src/engine/fused.ts). */
Layer layerFrom(const int32_t* s, int& weighted, size_t& inSize) {
  Layer L;
  L.kind = s[0];
  L.relu = s[1] != 0;
  L.inSize = inSize;
  if (L.kind == kConv) {
    int* f[] = {&L.conv.h, &L.conv.w, &L.conv.cin, &L.conv.oh, &L.conv.ow, &L.conv.cout,
                &L.conv.kh, &L.conv.kw, &L.conv.sh, &L.conv.sw, &L.conv.top, &L.conv.left};
    for (int i = 0; i < 12; ++i) *f[i] = s[2 + i];
    L.outSize = static_cast<size_t>(L.conv.oh) * L.conv.ow * L.conv.cout;
  } else if (L.kind == kPool) {
    for (int i = 0; i < 9; ++i) L.pool[i] = s[2 + i];
    L.outSize = static_cast<size_t>(L.pool[3]) * L.pool[4] * L.pool[2];
  } else if (L.kind == kDense) {
    L.in = s[2];
    L.out = s[3];
    L.outSize = L.out;
  } else {
    L.outSize = inSize;
  }
  if (L.kind == kConv || L.kind == kDense) L.weighted = weighted++;
  inSize = L.outSize;
  return L;
}

bool layersFrom(Net& net, const int32_t* spec, size_t length) {
  int weighted = 0;
  size_t inSize = net.inSize;
  for (size_t i = 0; i < length; i += kSpecLength) net.layers.push_back(layerFrom(spec + i, weighted, inSize));
  net.params.resize(weighted);
  return !net.layers.empty() && inSize == static_cast<size_t>(net.classes);
}

napi_value externalNet(napi_env env, Net* net) {
  napi_value out;
  napi_create_external(
      env, net, [](napi_env, void* data, void*) { delete static_cast<Net*>(data); }, nullptr, &out);
  return out;
}

namespace {

void allocate(Net& net) {
  const size_t b = net.maxBatch;
  size_t widest = net.inSize;
  for (Layer& L : net.layers) {
    widest = std::max(widest, L.outSize);
    if (L.kind == kFlatten) continue;
    L.output.resize(b * L.outSize);
    if (L.kind == kPool) continue;
    L.raw.resize(b * L.outSize);
    if (L.relu) {
      L.pre.resize(b * L.outSize);
      L.d.resize(b * L.outSize);
    }
  }
  net.x.resize(b * net.inSize);
  net.labels.resize(b * net.classes);
  for (auto* v : {&net.work, &net.dLogits}) v->resize(b * net.classes);
  for (auto* v : {&net.lse, &net.value}) v->resize(b);
  for (auto* v : {&net.dy1, &net.dy2}) v->resize(b * widest);
}

/** The parameters of weighted layer l: argument 4 holds kernels, 5 biases, 6 kernel masks, 7 bias masks. */
void paramsFrom(Call& a, Net& net, size_t l) {
  Param& p = net.params[l];
  size_t n = 0, units = 0;
  const uint8_t* mask = a.typed<uint8_t>(a.element(6, l), napi_uint8_array, n);
  const float* live = a.typed<float>(a.element(7, l), napi_float32_array, units);
  if (!a.ok) return;
  p.n = n;
  p.units = units;
  copyIn(a, a.element(4, l), p.w, n);
  copyIn(a, a.element(5, l), p.b, units);
  if (!a.ok) return;
  p.wMask.assign(mask, mask + n);
  p.bMask.assign(live, live + units);
  for (auto* v : {&p.wV, &p.gw}) v->assign(n, 0.0f);
  for (auto* v : {&p.bV, &p.gb}) v->assign(units, 0.0f);
}

// fusedCreate(spec: Int32Array, inSize, classes, maxBatch, kernels[], biases[], kernelMasks[], biasMasks[],
// [learningRate, momentum (0: plain SGD), weightDecay]: Float64Array)
napi_value FusedCreate(napi_env env, napi_callback_info info) {
  Call a(env, info, 9);
  size_t length = 0, settings = 0;
  const int32_t* spec = a.typed<int32_t>(a.argv[0], napi_int32_array, length);
  const double* s = a.typed<double>(a.argv[8], napi_float64_array, settings);
  if (a.ok && (length % kSpecLength != 0 || settings != 3)) a.fail("a malformed spec");
  auto net = std::make_unique<Net>();
  net->inSize = static_cast<size_t>(a.number(1));
  net->classes = static_cast<int>(a.number(2));
  net->maxBatch = static_cast<int>(a.number(3));
  if (!a.ok) return nullptr;
  if (!layersFrom(*net, spec, length)) a.fail("the last layer is not the logits");
  for (size_t l = 0; l < net->params.size() && a.ok; ++l) paramsFrom(a, *net, l);
  if (!a.ok) return nullptr;
  net->learningRate = static_cast<float>(s[0]);
  net->momentum = static_cast<float>(s[1]);
  net->useMomentum = s[1] != 0;
  net->decay = static_cast<float>(s[2]);
  allocate(*net);
  return externalNet(env, net.release());
}

/** One step's batch: samples start..end of `indices`, checked against the data before the step runs. */
struct Batch {
  Net* net = nullptr;
  const uint8_t* images = nullptr;
  const uint32_t* indices = nullptr;
  const float* table = nullptr;
  const uint8_t* labels = nullptr;
  int start = 0, end = 0, channels = 0, threads = 1;
  float loss = 0;
  napi_deferred deferred = nullptr;
  napi_async_work work = nullptr;
  std::vector<napi_ref> keep;
};

// (net, images: Uint8Array, indices: Uint32Array, start, end, channels, table: Float32Array, labels: Uint8Array,
// threads); false (and an error thrown) when the batch does not fit the data
bool batchFrom(Call& a, Batch& b) {
  b.net = a.net(0);
  size_t bytes = 0, count = 0, entries = 0, labelCount = 0;
  b.images = a.typed<uint8_t>(a.argv[1], napi_uint8_array, bytes);
  b.indices = a.typed<uint32_t>(a.argv[2], napi_uint32_array, count);
  b.start = static_cast<int>(a.number(3));
  b.end = static_cast<int>(a.number(4));
  b.channels = static_cast<int>(a.number(5));
  b.table = a.typed<float>(a.argv[6], napi_float32_array, entries);
  b.labels = a.typed<uint8_t>(a.argv[7], napi_uint8_array, labelCount);
  b.threads = static_cast<int>(a.number(8));
  if (!a.ok) return false;
  const size_t size = b.net->inSize;
  bool fits = b.start >= 0 && b.end > b.start && b.end - b.start <= b.net->maxBatch &&
              static_cast<size_t>(b.end) <= count && b.channels > 0 && entries >= static_cast<size_t>(b.channels) * 256;
  for (int i = b.start; fits && i < b.end; ++i)
    fits = (static_cast<uint64_t>(b.indices[i]) + 1) * size <= bytes && b.indices[i] < labelCount &&
           b.labels[b.indices[i]] < b.net->classes;
  if (!fits) napi_throw_range_error(a.env, nullptr, "evolve fused step: a sample outside the data");
  return fits;
}

void runBatch(Batch& b) {
  Net& net = *b.net;
  const Kernels& k = activeKernels();
  k.gatherImages(b.images, b.indices, b.start, b.end, static_cast<int>(net.inSize), b.channels, b.table, net.x.data());
  const int n = b.end - b.start;
  std::fill(net.labels.begin(), net.labels.begin() + static_cast<size_t>(n) * net.classes, 0.0f);
  for (int i = 0; i < n; ++i) net.labels[static_cast<size_t>(i) * net.classes + b.labels[b.indices[b.start + i]]] = 1.0f;
  b.loss = trainStep(net, n, b.threads);
}

// fusedStep(...the batch): the batch's loss, computed on this thread
napi_value FusedStep(napi_env env, napi_callback_info info) {
  Call a(env, info, 9);
  Batch b;
  if (!batchFrom(a, b)) return nullptr;
  runBatch(b);
  napi_value out;
  napi_create_double(env, b.loss, &out);
  return out;
}

napi_value lossOf(napi_env env, const Batch& b) {
  napi_value loss;
  napi_create_double(env, b.loss, &loss);
  return loss;
}

// fusedStepAsync(...the batch): a promise of the batch's loss, computed on a thread of libuv's pool, so
// that several networks train at once. The caller keeps the network and the arrays until it settles.
napi_value FusedStepAsync(napi_env env, napi_callback_info info) {
  Call a(env, info, 9);
  auto b = std::make_unique<Batch>();
  if (!batchFrom(a, *b)) return nullptr;
  return queued<Batch, runBatch, lossOf>(a, "evolve fused step", std::move(b));
}

// fusedRead(net, kernels[], biases[], accumulators[] (kernels' then biases'; empty for plain SGD))
napi_value FusedRead(napi_env env, napi_callback_info info) {
  Call a(env, info, 4);
  Net* net = a.net(0);
  for (size_t l = 0; a.ok && l < net->params.size(); ++l) {
    const Param& p = net->params[l];
    copyOut(a, a.element(1, l), p.w, p.n);
    copyOut(a, a.element(2, l), p.b, p.units);
    if (!net->useMomentum) continue;
    copyOut(a, a.element(3, l), p.wV, p.n);
    copyOut(a, a.element(3, net->params.size() + l), p.bV, p.units);
  }
  return nullptr;
}

// fusedRestore(net, accumulators[]): the momentum accumulators of a training continued
napi_value FusedRestore(napi_env env, napi_callback_info info) {
  Call a(env, info, 2);
  Net* net = a.net(0);
  for (size_t l = 0; a.ok && net->useMomentum && l < net->params.size(); ++l) {
    Param& p = net->params[l];
    copyIn(a, a.element(1, l), p.wV, p.n);
    copyIn(a, a.element(1, net->params.size() + l), p.bV, p.units);
  }
  return nullptr;
}

}  // namespace
}  // namespace fused

void defineFused(napi_env env, napi_value exports) {
  using namespace fused;
  const napi_property_descriptor props[] = {
      {"fusedCreate", nullptr, FusedCreate, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"fusedStep", nullptr, FusedStep, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"fusedStepAsync", nullptr, FusedStepAsync, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"fusedRead", nullptr, FusedRead, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"fusedRestore", nullptr, FusedRestore, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
}

}  // namespace evolve
