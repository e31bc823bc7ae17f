/**
 * Top-1 accuracy of a network over a split. With the native kernels it runs on the compacted
 * network (dead filters and neurons removed), so it costs what the live part of the network costs,
 * with the masked network's logits bit for bit (./evaluatePlan says how); a network whose layers
 * cannot keep those floats compacted, and any network without the native kernels, is evaluated
 * masked, at full size. Where the addon's forward pass covers the layers (./fusedEvaluate), it
 * computes the same logits in one native call a batch; elsewhere tfjs ops do.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Network } from '../models/network';
import type { LayerSpec } from '../models/layers';
import { kindOf } from '../models/layers';
import { compactNetwork } from '../models/compact';
import { liveUnits } from '../models/masks';
import type { Split } from '../data/dataset';
import { imageBatch } from './batches';
import { bind, forward, unbind } from './network';
import { opsOf } from './layerOps';
import { type LayerPlan, layerPlan, planCost } from './evaluatePlan';
import { type LayerProducts, nativeLogits } from './fusedEvaluate';
import { nativeKernelsActive } from './kernels/native';

/** A network ready to be evaluated: its logits for samples of a split. */
export interface Evaluator {
  /** The logits of samples start..end of `data`, a row of classes each. */
  logits(data: Split, start: number, end: number): Promise<Float32Array>;
  /** Whether it runs compacted. */
  compacted: boolean;
  /** Whether the addon's forward pass computes the logits (else tfjs ops). */
  native: boolean;
  dispose(): void;
}

/** A weighted layer of the compacted network as tensors: its products (summed in order), bias and activation. */
interface Product {
  parts: { kernel: tf.Tensor; lo: number; hi: number }[];
  sliced: boolean;
  bias: tf.Tensor1D;
}

/** Top-1 accuracy over a split, in large batches. */
export async function evaluate(net: Network, data: Split, batchSize = 1000): Promise<number> {
  if (data.count === 0) return NaN;
  const e = evaluator(net);
  let correct = 0;
  try {
    for (let start = 0; start < data.count; start += batchSize) {
      const end = Math.min(data.count, start + batchSize);
      const logits = await e.logits(data, start, end);
      const predicted = tf.tidy(() => tf.argMax(tf.tensor2d(logits, [end - start, logits.length / (end - start)]), 1));
      const p = await predicted.data();
      predicted.dispose();
      for (let i = start; i < end; i++) if (p[i - start] === data.labels[i]) correct++;
    }
  } finally {
    e.dispose();
  }
  return correct / data.count;
}

/**
 * `net` bound for evaluation: compacted where the native kernels run and its layers allow, else
 * masked; computed by the addon's forward pass where it covers the network and `native` holds.
 */
export function evaluator(net: Network, compact = nativeKernelsActive(), native = compact): Evaluator {
  const small = compact ? compactNetwork(net) : null;
  const plans = small?.net.layers.map((layer, l) => layerPlan(net.layers[l], layer, small.kept[l - 1]));
  if (!small || !plans || plans.some((p) => p === null) || !cheaper(net, small.net, plans as LayerPlan[])) {
    const n = native ? nativeLogits(net, maskedProducts(net)) : null;
    if (n) return { ...n, compacted: false, native: true };
    const b = bind(net);
    const logits = tfjsLogits(net, (x) => forward(net, b.kernels, b.biases, x));
    return { logits, compacted: false, native: false, dispose: () => unbind(b) };
  }
  const layers = small.net.params.map((p, l) =>
    productsOf(p.kernel, p.bias, small.net.layers[l].kernelShape, plans[l] as LayerPlan),
  );
  const n = native ? nativeLogits(small.net, layers) : null;
  if (n) return { ...n, compacted: true, native: true };
  const products = layers.map((layer, l) => tensorsOf(layer, small.net.layers[l].kernelShape));
  return {
    logits: tfjsLogits(small.net, (x) => compactForward(small.net.arch.layers, products, x)),
    compacted: true,
    native: false,
    dispose: () => tf.dispose(products.flatMap((p) => [...p.parts.map((q) => q.kernel), p.bias])),
  };
}

/** Logits of a split's samples through a tfjs forward pass. */
function tfjsLogits(net: Network, f: (x: tf.Tensor4D) => tf.Tensor) {
  return async (data: Split, start: number, end: number): Promise<Float32Array> => {
    const y = tf.tidy(() => f(imageBatch(data, null, start, end, net.arch.inputShape)));
    const values = (await y.data()) as Float32Array;
    y.dispose();
    return values;
  };
}

/** The masked network's layers as ./network binds them: each kernel whole, the biases of dead units 0. */
function maskedProducts(net: Network): LayerProducts[] {
  const units = liveUnits(
    net.layers,
    net.params.map((p) => p.mask),
  );
  return net.params.map((p, l) => ({
    parts: [{ kernel: p.kernel, lo: 0, hi: 0 }],
    bias: p.bias.map((b, u) => (units[l][u] ? b : 0)),
  }));
}

/** Whether the compacted products cost fewer multiply-adds than the full network's. */
function cheaper(net: Network, small: Network, plans: LayerPlan[]): boolean {
  const positions = (l: number) => net.layers[l].outHeight * net.layers[l].outWidth;
  let full = 0;
  let compacted = 0;
  net.layers.forEach((layer, l) => {
    full += positions(l) * layer.spatial * layer.inUnits * layer.outUnits;
    compacted += positions(l) * planCost(plans[l], small.layers[l]);
  });
  return compacted < full;
}

/** A compacted layer's products: the kernel whole, or per run its rows (dense) or the kernel zero elsewhere (conv). */
function productsOf(kernel: Float32Array, bias: Float32Array, shape: number[], plan: LayerPlan): LayerProducts {
  const out = shape[shape.length - 1];
  if (plan.how === 'one') return { parts: [{ kernel, lo: 0, hi: 0 }], bias };
  const dense = shape.length === 2;
  const parts = plan.runs.map(([lo, hi]) => {
    const rows = kernel.subarray(lo * out, hi * out);
    if (dense) return { kernel: rows, lo, hi };
    const zeroed = new Float32Array(kernel.length);
    zeroed.set(rows, lo * out);
    return { kernel: zeroed, lo: 0, hi: 0 };
  });
  return { parts, bias };
}

/** A layer's products as tfjs tensors (a dense part as its rows, [hi - lo, units]). */
function tensorsOf(layer: LayerProducts, shape: number[]): Product {
  const sliced = layer.parts.some((p) => p.hi > p.lo);
  const out = shape[shape.length - 1];
  const parts = layer.parts.map(({ kernel, lo, hi }) => ({
    kernel: hi > lo ? tf.tensor2d(kernel, [hi - lo, out]) : tf.tensor(kernel, shape),
    lo,
    hi,
  }));
  return { parts, sliced, bias: tf.tensor1d(layer.bias) };
}

function compactForward(specs: LayerSpec[], products: Product[], x: tf.Tensor4D): tf.Tensor2D {
  let h: tf.Tensor = x;
  let l = 0;
  for (const spec of specs) {
    if (spec.kind === 'conv' || spec.kind === 'dense') h = weightedForward(spec, products[l++], h);
    else if (kindOf(spec).weighted) throw new Error(`${spec.name}: no compacted evaluation for ${spec.kind}`);
    else h = opsOf(spec).forward(spec, h);
  }
  return h as tf.Tensor2D;
}

/** The layer's output: as layerOps computes it for one product; else the products' sum in block order. */
function weightedForward(spec: Extract<LayerSpec, { kind: 'conv' | 'dense' }>, p: Product, h: tf.Tensor): tf.Tensor {
  if (p.parts.length === 1 && !p.sliced) return opsOf(spec).forward(spec, h, p.parts[0].kernel, p.bias);
  let sum: tf.Tensor | null = null;
  for (const { kernel, lo, hi } of p.parts) {
    const y =
      spec.kind === 'conv'
        ? tf.conv2d(h as tf.Tensor4D, kernel as tf.Tensor4D, spec.stride, spec.padding)
        : tf.matMul(tf.slice(h, [0, lo], [-1, hi - lo]) as tf.Tensor2D, kernel as tf.Tensor2D);
    sum = sum ? tf.add(sum, y) : y;
  }
  const pre = tf.add(sum as tf.Tensor, p.bias);
  return spec.activation === 'relu' ? tf.relu(pre) : pre;
}
