// A network's logits in one native call per batch of images: the forward pass of the fused step
// (native/fused.cc), layer by layer on the same kernels, with no tfjs op. Each weighted layer is a
// list of products added in order, as src/engine/evaluate.ts adds them on the tfjs path (one
// product for most layers; a compacted layer may need one per block of the full layer's sums,
// src/engine/evaluatePlan.ts), so the logits are the tfjs path's, bit for bit.
#include <node_api.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "fusedNet.h"
#include "kernels.h"
#include "threadPool.h"

namespace evolve {

const Kernels& activeKernels();

namespace fused {
namespace {

/** Floats in part p's kernel of layer L: the whole kernel, or a dense layer's rows [lo, hi). */
size_t partSize(const Layer& L, const Part& p) {
  if (L.kind == kConv) return static_cast<size_t>(L.conv.k()) * L.conv.cout;
  return static_cast<size_t>(p.hi > p.lo ? p.hi - p.lo : L.in) * L.out;
}

/** The products (argument 4: kernels, 5: a layer, lo and hi each) and biases (6) of the weighted layers. */
void partsFrom(Call& a, Net& net) {
  std::vector<const Layer*> weighted(net.params.size());
  for (const Layer& L : net.layers)
    if (L.weighted >= 0) weighted[L.weighted] = &L;
  size_t length = 0;
  const int32_t* where = a.typed<int32_t>(a.argv[5], napi_int32_array, length);
  if (a.ok && length % 3 != 0) a.fail("a malformed list of products");
  for (size_t i = 0; a.ok && i < length; i += 3) {
    const int l = where[i], lo = where[i + 1], hi = where[i + 2];
    if (l < 0 || static_cast<size_t>(l) >= weighted.size() || lo < 0 || hi < lo ||
        (weighted[l]->kind == kConv ? hi != 0 : hi > weighted[l]->in)) {
      a.fail("a product outside its layer");
      return;
    }
    Part p;
    p.lo = lo;
    p.hi = hi;
    copyIn(a, a.element(4, static_cast<uint32_t>(i / 3)), p.w, partSize(*weighted[l], p));
    net.params[l].parts.push_back(std::move(p));
  }
  for (size_t l = 0; a.ok && l < weighted.size(); ++l) {
    const Layer& L = *weighted[l];
    if (net.params[l].parts.empty()) a.fail("a layer without a product");
    copyIn(a, a.element(6, static_cast<uint32_t>(l)), net.params[l].b, L.kind == kConv ? L.conv.cout : L.out);
  }
}

/** The buffers of the forward pass alone. */
void allocateForward(Net& net) {
  const size_t b = net.maxBatch;
  size_t summed = 0, columns = 0;
  for (Layer& L : net.layers) {
    if (L.kind == kFlatten) continue;
    L.output.resize(b * L.outSize);
    if (L.kind == kPool) continue;
    L.raw.resize(b * L.outSize);
    if (L.relu) L.pre.resize(b * L.outSize);
    const std::vector<Part>& parts = net.params[L.weighted].parts;
    if (parts.size() > 1) summed = std::max(summed, L.outSize);
    for (const Part& p : parts) columns = std::max(columns, static_cast<size_t>(p.hi - p.lo));
  }
  net.x.resize(b * net.inSize);
  net.part.resize(b * summed);
  net.columns.resize(b * columns);
}

// fusedEvaluator(spec: Int32Array, inSize, classes, maxBatch, kernels: Float32Array[], products: Int32Array
// (layer, lo, hi for each kernel), biases: Float32Array[])
napi_value FusedEvaluator(napi_env env, napi_callback_info info) {
  Call a(env, info, 7);
  size_t length = 0;
  const int32_t* spec = a.typed<int32_t>(a.argv[0], napi_int32_array, length);
  if (a.ok && length % kSpecLength != 0) a.fail("a malformed spec");
  auto net = std::make_unique<Net>();
  net->inSize = static_cast<size_t>(a.number(1));
  net->classes = static_cast<int>(a.number(2));
  net->maxBatch = static_cast<int>(a.number(3));
  if (a.ok && net->maxBatch < 1) a.fail("a batch of no samples");
  if (!a.ok) return nullptr;
  if (!layersFrom(*net, spec, length)) a.fail("the last layer is not the logits");
  partsFrom(a, *net);
  if (!a.ok) return nullptr;
  allocateForward(*net);
  return externalNet(env, net.release());
}

/** One call's images: samples start..end of the split, and where their logits go. */
struct Images {
  Net* net = nullptr;
  const uint8_t* bytes = nullptr;
  const float* table = nullptr;
  float* logits = nullptr;
  int start = 0, end = 0, channels = 0, threads = 1;
  napi_deferred deferred = nullptr;
  napi_async_work work = nullptr;
  std::vector<napi_ref> keep;
};

// (net, images: Uint8Array, start, end, channels, table: Float32Array, threads, logits: Float32Array)
bool imagesFrom(Call& a, Images& m) {
  m.net = a.net(0);
  if (a.ok && m.net->layers.empty()) a.fail("a released network");
  size_t bytes = 0, entries = 0, out = 0;
  m.bytes = a.typed<uint8_t>(a.argv[1], napi_uint8_array, bytes);
  m.start = static_cast<int>(a.number(2));
  m.end = static_cast<int>(a.number(3));
  m.channels = static_cast<int>(a.number(4));
  m.table = a.typed<float>(a.argv[5], napi_float32_array, entries);
  m.threads = static_cast<int>(a.number(6));
  m.logits = a.typed<float>(a.argv[7], napi_float32_array, out);
  if (!a.ok) return false;
  const bool fits = m.start >= 0 && m.end >= m.start && static_cast<uint64_t>(m.end) * m.net->inSize <= bytes &&
                    m.channels > 0 && entries >= static_cast<size_t>(m.channels) * 256 &&
                    out == static_cast<size_t>(m.end - m.start) * m.net->classes;
  if (!fits) napi_throw_range_error(a.env, nullptr, "evolve native evaluation: samples outside the data");
  return fits;
}

/**
 * The logits of the call's samples, a sub-batch at a time: each sub-batch's samples split across
 * the threads, each part through every layer on its own (the floats do not depend on the split).
 */
void runImages(Images& m) {
  Net& net = *m.net;
  wire(net);
  for (int s = m.start; s < m.end; s += net.maxBatch) {
    const int n = std::min(net.maxBatch, m.end - s), parts = std::max(1, std::min(m.threads, n));
    threadPool().run(parts, parts, [&](int part, int) {
      const int lo = n * part / parts, hi = n * (part + 1) / parts;
      activeKernels().gatherImages(m.bytes, nullptr, s + lo, s + hi, static_cast<int>(net.inSize), m.channels, m.table,
                                   net.x.data() + lo * net.inSize);
      for (Layer& L : net.layers) forwardRows(net, L, lo, hi, 1);
    });
    std::memcpy(m.logits + static_cast<size_t>(s - m.start) * net.classes, net.layers.back().result,
                sizeof(float) * static_cast<size_t>(n) * net.classes);
  }
}

napi_value nothing(napi_env env, const Images&) {
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  return undefined;
}

// fusedLogits(...the images): a promise, settled once the logits are written, computed on a thread
// of libuv's pool so that trainings running at once go on. The caller keeps the arrays until then.
napi_value FusedLogits(napi_env env, napi_callback_info info) {
  Call a(env, info, 8);
  auto m = std::make_unique<Images>();
  if (!imagesFrom(a, *m)) return nullptr;
  return queued<Images, runImages, nothing>(a, "evolve native evaluation", std::move(m));
}

// fusedFree(net): lets the network's weights and buffers go now, not when it is collected
napi_value FusedFree(napi_env env, napi_callback_info info) {
  Call a(env, info, 1);
  Net* net = a.net(0);
  if (a.ok) *net = Net{};
  return nullptr;
}

}  // namespace
}  // namespace fused

void defineEvaluate(napi_env env, napi_value exports) {
  using namespace fused;
  const napi_property_descriptor props[] = {
      {"fusedEvaluator", nullptr, FusedEvaluator, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"fusedLogits", nullptr, FusedLogits, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"fusedFree", nullptr, FusedFree, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
}

}  // namespace evolve
