// The network the fused step (native/fused.cc) and the native evaluation (native/evaluate.cc)
// hold: its layers from the spec src/engine/fused.ts writes, its parameters, its forward pass,
// and the Node-API argument helpers both use.
#pragma once
#include <node_api.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "conv.h"

namespace evolve {
namespace fused {

enum Kind { kConv = 0, kPool = 1, kFlatten = 2, kDense = 3 };

/** Numbers each layer takes in the spec after its kind. */
constexpr int kSpecLength = 14;

struct Layer {
  int kind = kFlatten;
  bool relu = false;
  int weighted = -1;
  Conv conv{};
  /** Pool: h, w, ch, oh, ow, fh, fw, sh, sw. */
  int pool[9] = {};
  /** Dense: inputs and units. */
  int in = 0, out = 0;
  size_t inSize = 0, outSize = 0;
  /** Pre-activation (relu layers), the output, the gradient at the pre-activation, and at the input. */
  std::vector<float> raw, pre, output, d, dIn;
  const float* input = nullptr;
  const float* result = nullptr;
};

/**
 * One product of an evaluated layer (native/evaluate.cc): its kernel, and for a dense layer the
 * input columns [lo, hi) it multiplies (lo == hi: all of them).
 */
struct Part {
  std::vector<float> w;
  int lo = 0, hi = 0;
};

struct Param {
  size_t n = 0, units = 0;
  std::vector<float> w, b, wMask, bMask, wV, bV, gw, gb;
  /** Evaluation only: the products whose sum, in order, is the layer's (w then unused). */
  std::vector<Part> parts;
};

struct Net {
  std::vector<Layer> layers;
  std::vector<Param> params;
  int maxBatch = 0, classes = 0;
  size_t inSize = 0;
  float learningRate = 0, momentum = 0, decay = 0;
  bool useMomentum = false;
  std::vector<float> x, labels, logits, work, lse, value, dLogits;
  /** Training: the gradient at each layer's output (into dLogits or a later layer's dIn). */
  std::vector<const float*> grads;
  /** Evaluation only: a product's output before it is added, and a dense part's input columns. */
  std::vector<float> part, columns;
  uint64_t steps = 0;
};

/** One layer from its spec row; counts the weighted layers and carries the activation size. */
Layer layerFrom(const int32_t* s, int& weighted, size_t& inSize);

/** The layers of a spec of `length` numbers; false when the last layer's size is not `classes`. */
bool layersFrom(Net& net, const int32_t* spec, size_t length);

/** The layer's output for n samples at h (L.result after it). */
void forward(Net& net, Layer& L, const float* h, int n, int threads);

/** The layers' inputs and results for a batch read from net.x (fixed for the network's life). */
void wire(Net& net);

/** Samples [lo, hi) of the layer's output from L.input (set by forward, or by wire). */
void forwardRows(Net& net, Layer& L, int lo, int hi, int threads);

/** The arguments of a Node-API call, read with one error thrown for the first that is wrong. */
struct Call {
  napi_env env;
  size_t argc = 12;
  napi_value argv[12];
  bool ok = true;

  Call(napi_env e, napi_callback_info info, size_t expected);
  void fail(const char* why);
  double number(size_t i);
  /** Element e of the array argument i. */
  napi_value element(size_t i, uint32_t e);
  Net* net(size_t i);

  template <typename T>
  T* typed(napi_value value, napi_typedarray_type type, size_t& length) {
    napi_typedarray_type t;
    void* data = nullptr;
    if (!ok || napi_get_typedarray_info(env, value, &t, &length, &data, nullptr, nullptr) != napi_ok || t != type) {
      fail("wrong typed array");
      return nullptr;
    }
    return static_cast<T*>(data);
  }
};

/** Copies a Float32Array argument into `out` (its length must be `n`). */
void copyIn(Call& a, napi_value value, std::vector<float>& out, size_t n);

/**
 * A promise settled with Result(env, w) once Run(w) has run on a thread of libuv's pool (W holds
 * the promise's `deferred`, its `work` and `keep`). The call's arguments are held by references
 * until then: a typed array the caller drops while it waits (a temporary) could otherwise be
 * collected, and its memory freed, while Run still reads it.
 */
template <typename W, void (*Run)(W&), napi_value (*Result)(napi_env, const W&)>
napi_value queued(Call& a, const char* name, std::unique_ptr<W> w) {
  napi_env env = a.env;
  for (size_t i = 0; i < a.argc; ++i) {
    napi_valuetype type;
    napi_ref ref;
    if (napi_typeof(env, a.argv[i], &type) == napi_ok && (type == napi_object || type == napi_external) &&
        napi_create_reference(env, a.argv[i], 1, &ref) == napi_ok)
      w->keep.push_back(ref);
  }
  napi_value promise, title;
  napi_create_promise(env, &w->deferred, &promise);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &title);
  napi_create_async_work(
      env, nullptr, title, [](napi_env, void* data) { Run(*static_cast<W*>(data)); },
      [](napi_env env, napi_status, void* data) {
        std::unique_ptr<W> done(static_cast<W*>(data));
        napi_resolve_deferred(env, done->deferred, Result(env, *done));
        napi_delete_async_work(env, done->work);
        for (napi_ref ref : done->keep) napi_delete_reference(env, ref);
      },
      w.get(), &w->work);
  napi_queue_async_work(env, w->work);
  w.release();
  return promise;
}

/** `net` as a JavaScript value that deletes it when collected. */
napi_value externalNet(napi_env env, Net* net);

}  // namespace fused
}  // namespace evolve
