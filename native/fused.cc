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
#include "threadPool.h"

namespace evolve {

const Kernels& activeKernels();

namespace fused {
namespace {

// ---------------------------------------------------------------------------------------------
// The element-wise operations, as the WASM backend's kernels compute them.

/** tf.relu: -0 becomes +0, NaN stays NaN. */
inline float relu(float v) { return v > 0 || std::isnan(v) ? v : 0.0f; }

void activate(Layer& L, size_t at, size_t count) {
  if (!L.relu) return;
  for (size_t i = at; i < at + count; ++i) L.output[i] = relu(L.pre[i]);
}

/**
 * The gradient at the pre-activation: dy times the activation's derivative (1 for linear): relu's
 * step, 1 above 0 and 0 elsewhere, NaN passed on, as the tfjs path computes it; written without
 * branches, so that the loop is vectorised.
 */
const float* preGradient(Layer& L, const float* dy, size_t at, size_t count) {
  if (!L.relu) return dy;
  const float* pre = L.pre.data() + at;
  float* d = L.d.data() + at;
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
void plainMaxPool(Layer& L, const float* x, int n, size_t at) {
  const int *q = L.pool, h = q[0], w = q[1], ch = q[2], oh = q[3], ow = q[4];
  float* y = L.output.data() + at;
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
void products(Net& net, Layer& L, const Param& p, const float* h, int lo, int n, int threads);

}  // namespace

void forwardRows(Net& net, Layer& L, int lo, int hi, int threads) {
  const Kernels& k = activeKernels();
  const int n = hi - lo;
  const float* h = L.input + static_cast<size_t>(lo) * L.inSize;
  const size_t at = static_cast<size_t>(lo) * L.outSize, count = static_cast<size_t>(n) * L.outSize;
  float* pre = (L.relu ? L.pre.data() : L.output.data()) + at;
  if (L.kind == kConv || L.kind == kDense) {
    const Param& p = net.params[L.weighted];
    Conv c = L.conv;
    c.batch = n;
    float* raw = L.raw.data() + at;
    if (!p.parts.empty())
      products(net, L, p, h, lo, n, threads);
    else if (L.kind == kConv)
      k.conv2d(c, h, p.w.data(), raw, threads);
    else
      k.matmul(h, p.w.data(), raw, 1, 1, n, L.out, L.in, false, false, threads);
    const size_t units = L.kind == kConv ? c.cout : L.out;
    k.biasAdd(raw, p.b.data(), pre, count / units, units);
    activate(L, at, count);
  } else if (L.kind == kPool) {
    const int* q = L.pool;
    if (!k.maxPool(h, L.output.data() + at, n, q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7], q[8], threads))
      plainMaxPool(L, h, n, at);
  }
}

/** The layers' inputs and results for a batch read from net.x (fixed for the network's life). */
void wire(Net& net) {
  const float* h = net.x.data();
  for (Layer& L : net.layers) {
    L.input = h;
    h = L.result = L.kind == kFlatten ? h : L.output.data();
  }
}

void forward(Net& net, Layer& L, const float* h, int n, int threads) {
  L.input = h;
  L.result = L.kind == kFlatten ? h : L.output.data();
  forwardRows(net, L, 0, n, threads);
}

namespace {

/** Samples [lo, lo + n) of the products (h: the first one's input), each kernel on `threads`. */
void products(Net& net, Layer& L, const Param& p, const float* h, int lo, int n, int threads) {
  const Kernels& k = activeKernels();
  Conv c = L.conv;
  c.batch = n;
  const size_t at = static_cast<size_t>(lo) * L.outSize, count = static_cast<size_t>(n) * L.outSize;
  // Threads at other layers use the shared buffers at once: each takes the rows of its samples at their widest.
  const size_t b = net.maxBatch, partAt = lo * (net.part.size() / b), columnsAt = lo * (net.columns.size() / b);
  for (size_t i = 0; i < p.parts.size(); ++i) {
    const Part& q = p.parts[i];
    float* y = i == 0 ? L.raw.data() + at : net.part.data() + partAt;
    if (L.kind == kConv) {
      k.conv2d(c, h, q.w.data(), y, threads);
    } else if (q.hi > q.lo) {  // tf.slice's copy of the columns, then their product
      const int width = q.hi - q.lo;
      float* columns = net.columns.data() + columnsAt;
      for (int r = 0; r < n; ++r)
        std::memcpy(columns + static_cast<size_t>(r) * width, h + static_cast<size_t>(r) * L.in + q.lo,
                    width * sizeof(float));
      k.matmul(columns, q.w.data(), y, 1, 1, n, L.out, width, false, false, threads);
    } else {
      k.matmul(h, q.w.data(), y, 1, 1, n, L.out, L.in, false, false, threads);
    }
    if (i == 0) continue;
    float* sum = L.raw.data() + at;
    for (size_t j = 0; j < count; ++j) sum[j] = sum[j] + y[j];
  }
}

/**
 * The gradient at the input of layer i for images [lo, hi), from the one at its output
 * (net.grads[i]), on this thread; for a weighted layer also the gradient at its pre-activation,
 * which its weight gradient reads. The first weighted layer's input needs no gradient.
 */
void inputGradient(Net& net, size_t i, bool first, int lo, int hi) {
  const Kernels& k = activeKernels();
  Layer& L = net.layers[i];
  const int n = hi - lo;
  const size_t in = static_cast<size_t>(lo) * L.inSize, at = static_cast<size_t>(lo) * L.outSize;
  const float* dy = net.grads[i] + at;
  float* dx = first ? nullptr : L.dIn.data() + in;
  if (L.kind == kPool) {
    const int* q = L.pool;
    k.maxPoolGrad(dy, L.input + in, dx, n, q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7], q[8], 0, 0, 1);
    return;
  }
  if (L.kind == kFlatten) return;  // its dIn is not used: the layer before reads net.grads[i]
  const Param& p = net.params[L.weighted];
  const float* d = preGradient(L, dy, at, static_cast<size_t>(n) * L.outSize);
  if (!dx) return;
  if (L.kind == kConv) {
    Conv c = L.conv;
    c.batch = n;
    k.conv2dBackpropInput(c, d, p.w.data(), dx, 1);
  } else {
    k.matmul(d, p.w.data(), dx, 1, 1, n, L.in, L.out, false, true, 1);
  }
}

/** A bias gradient's addition, in multiply-adds' time: each waits on the one before. */
constexpr double kChainCost = 8;
/** The largest layer's share of the gradients' work up to which the layers run side by side. */
constexpr double kLayerShare = 0.75;

/** One piece of the gradients: weighted layer `layer`'s kernel gradient, or its bias gradient. */
struct GradientPart {
  double work;
  size_t layer;
  bool bias;
  bool operator>(const GradientPart& o) const { return work > o.work; }
};

/** Part `g` of the gradients over the whole batch, the kernel's on `threads`. */
void gradientPart(Net& net, const GradientPart& g, int n, int threads) {
  const Kernels& k = activeKernels();
  Layer& L = net.layers[g.layer];
  Param& p = net.params[L.weighted];
  const float* d = L.relu ? L.d.data() : net.grads[g.layer];
  const bool conv = L.kind == kConv;
  Conv c = L.conv;
  c.batch = n;
  if (g.bias)
    k.sum(d, p.gb.data(), conv ? static_cast<size_t>(n) * c.oh * c.ow : n, conv ? c.cout : L.out, true);
  else if (conv)
    k.conv2dBackpropFilter(c, L.input, d, p.gw.data(), threads);
  else
    k.matmul(L.input, d, p.gw.data(), 1, 1, L.in, L.out, n, true, false, threads);
}

/** Weighted layer i's two parts: its kernel gradient's multiply-adds, its bias gradient's additions. */
void addParts(std::vector<GradientPart>& parts, const Net& net, size_t i, int n) {
  const Layer& L = net.layers[i];
  const double rows = L.kind == kConv ? static_cast<double>(n) * L.conv.oh * L.conv.ow : n;
  const double macs = L.kind == kConv ? rows * L.conv.k() * L.conv.cout : static_cast<double>(n) * L.in * L.out;
  parts.push_back({macs, i, false});
  parts.push_back({rows * kChainCost, i, true});
}

/**
 * Every weighted layer's gradients. Where no part holds more than kLayerShare of the work (every
 * LeNet-5 of a run, AlexNet), one region takes the parts as tasks, largest first, each on one
 * thread: each kernel split across the threads cost a region apiece and scaled poorly on small
 * layers, and a bias gradient's chain of additions (one per position of the batch, in order)
 * runs on one thread either way, now beside the kernel gradients, its own layer's too. Where one
 * part holds most of the work, each is split across the threads, one after the other. The floats
 * are the same either way.
 */
void weightGradients(Net& net, size_t first, int n, int threads) {
  std::vector<GradientPart> parts;
  for (size_t i = first; i < net.layers.size(); ++i)
    if (net.layers[i].weighted >= 0) addParts(parts, net, i, n);
  double total = 0;
  for (const GradientPart& g : parts) total += g.work;
  std::sort(parts.begin(), parts.end(), std::greater<>());
  if (threads > 1 && parts[0].work <= kLayerShare * total) {
    threadPool().run(static_cast<int>(parts.size()), threads, [&](int t, int) { gradientPart(net, parts[t], n, 1); });
    return;
  }
  for (const GradientPart& g : parts) gradientPart(net, g, n, threads);
}

// ---------------------------------------------------------------------------------------------
// The loss: tfjs's softmaxCrossEntropy, logSumExp and all, and its gradient for the logits.

/** Rows [lo, hi) of the loss: each sample's loss in net.value, its logits' gradient in net.dLogits. */
void lossRows(Net& net, const float* logits, int lo, int hi, int n) {
  const Kernels& k = activeKernels();
  const int C = net.classes;
  float* w = net.work.data();
  for (int r = lo; r < hi; ++r) {
    const float* row = logits + static_cast<size_t>(r) * C;
    float m = row[0];
    for (int j = 1; j < C; ++j) m = std::fmax(m, row[j]);
    for (int j = 0; j < C; ++j) w[r * C + j] = std::exp(row[j] - m);
    net.lse[r] = m;  // the maximum, until its log-sum-exp replaces it below
  }
  const size_t from = static_cast<size_t>(lo) * C, to = static_cast<size_t>(hi) * C;
  k.sum(w + from, net.value.data() + lo, hi - lo, C, false);
  for (int r = lo; r < hi; ++r) net.lse[r] = net.lse[r] + std::log(net.value[r]);
  for (size_t i = from; i < to; ++i) {
    const float logResult = logits[i] - net.lse[i / C];
    w[i] = -(logResult * net.labels[i]);
    net.dLogits[i] = std::exp(logResult);
  }
  k.sum(w + from, net.value.data() + lo, hi - lo, C, false);
  const float scale = 1.0f / static_cast<float>(n);
  for (size_t i = from; i < to; ++i) net.dLogits[i] = scale * (net.dLogits[i] - net.labels[i]);
}

/** The batch's mean loss from its samples' (lossRows), summed in order as tfjs's mean sums them. */
float meanLoss(Net& net, int n) {
  float total = 0;
  activeKernels().sum(net.value.data(), &total, n, 1, true);
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

/** Kernel weights [lo, hi) of p stepped, with their decay term first (decay > 0). */
void updateKernel(Net& net, Param& p, size_t lo, size_t hi) {
  const float c = -net.learningRate, half = net.decay / 2;
  if (net.decay > 0)
    for (size_t i = lo; i < hi; ++i) p.gw[i] = half * (p.w[i] * 2.0f) + p.gw[i];
  activeKernels().maskedStep(p.w.data() + lo, p.gw.data() + lo, p.wMask.data() + lo,
                             net.useMomentum ? p.wV.data() + lo : nullptr, hi - lo, c, net.momentum);
}

/** Weights a task of the update steps: each weight's step is on its own, so any split gives the same floats. */
constexpr size_t kUpdateChunk = size_t{1} << 15;

void update(Net& net, int threads) {
  const Kernels& k = activeKernels();
  std::vector<std::pair<Param*, size_t>> chunks;  // (parameter, first kernel weight)
  for (Param& p : net.params) {
    k.maskedStep(p.b.data(), p.gb.data(), p.bMask.data(), net.useMomentum ? p.bV.data() : nullptr, p.units,
                 -net.learningRate, net.momentum);
    for (size_t lo = 0; lo < p.n; lo += kUpdateChunk) chunks.emplace_back(&p, lo);
  }
  threadPool().run(static_cast<int>(chunks.size()), threads, [&](int t, int) {
    Param& p = *chunks[t].first;
    updateKernel(net, p, chunks[t].second, std::min(p.n, chunks[t].second + kUpdateChunk));
  });
}

/**
 * Images [lo, hi) of the batch forward, through the loss, and backward to the first weighted
 * layer's gradients at its pre-activation, on this thread: every kernel here computes each image
 * on its own, so the floats do not depend on where the batch is split.
 */
void imageRows(Net& net, size_t first, int lo, int hi, int n) {
  for (Layer& L : net.layers) forwardRows(net, L, lo, hi, 1);
  lossRows(net, net.layers.back().result, lo, hi, n);
  for (size_t i = net.layers.size(); i-- > first;) inputGradient(net, i, i == first, lo, hi);
}

/**
 * One step on the n samples in net.x and net.labels (`fill` writes rows [lo, hi) of them): the
 * images split across the threads, each part on its own, then the weight gradients (sums over
 * the batch) each split across the threads in a fixed order, then the update.
 */
template <typename Fill>
float trainStep(Net& net, int n, int threads, Fill fill) {
  size_t first = 0;
  while (first < net.layers.size() && net.layers[first].weighted < 0) ++first;
  const int parts = std::max(1, std::min(threads, n));
  threadPool().run(parts, threads, [&](int part, int) {
    const int lo = n * part / parts, hi = n * (part + 1) / parts;
    fill(lo, hi);
    imageRows(net, first, lo, hi, n);
  });
  const float loss = withDecay(net, meanLoss(net, n));
  weightGradients(net, first, n, threads);
  update(net, threads);
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
  for (Layer& L : net.layers) {
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
  // The gradient at each layer's output: the logits', else the next layer's dIn (a flatten passes its own on).
  net.grads.assign(net.layers.size(), nullptr);
  const float* g = net.dLogits.data();
  for (size_t i = net.layers.size(); i-- > 0;) {
    net.grads[i] = g;
    Layer& L = net.layers[i];
    if (L.kind == kFlatten) continue;
    L.dIn.resize(b * L.inSize);
    g = L.dIn.data();
  }
  wire(net);
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
  const int n = b.end - b.start, C = net.classes;
  b.loss = trainStep(net, n, b.threads, [&](int lo, int hi) {
    const size_t size = net.inSize;
    activeKernels().gatherImages(b.images, b.indices, b.start + lo, b.start + hi, static_cast<int>(size), b.channels,
                                 b.table, net.x.data() + lo * size);
    std::fill(net.labels.begin() + static_cast<size_t>(lo) * C, net.labels.begin() + static_cast<size_t>(hi) * C, 0.0f);
    for (int i = lo; i < hi; ++i) net.labels[static_cast<size_t>(i) * C + b.labels[b.indices[b.start + i]]] = 1.0f;
  });
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
