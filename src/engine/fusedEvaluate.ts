/**
 * A network's logits from the addon's forward pass (native/evaluate.cc): one native call per
 * batch of images, gathered from the split's bytes as training gathers them, through the fused
 * step's layers and kernels. Each weighted layer is the list of products ./evaluate adds in order
 * on the tfjs path, so the logits are the same floats; what goes is a tfjs op per layer and
 * element-wise pass, most of a small network's evaluation.
 */
import type { Network } from '../models/network';
import type { Split } from '../data/dataset';
import { byteTable } from '../data/preprocess';
import { specOf, threadsBesideTrainings } from './fused';
import { nativeAddon } from './kernels/native';

/** The addon's evaluation functions (see native/evaluate.cc for the argument order). */
interface EvaluateAddon {
  fusedEvaluator(
    spec: Int32Array,
    inSize: number,
    classes: number,
    maxBatch: number,
    kernels: Float32Array[],
    products: Int32Array,
    biases: Float32Array[],
  ): object;
  fusedLogits(net: object, images: Uint8Array, start: number, end: number, ...rest: unknown[]): Promise<void>;
  fusedFree(net: object): void;
}

/** One product of a weighted layer: its kernel, and the input columns [lo, hi) it takes (lo == hi: all). */
export interface ProductPart {
  kernel: Float32Array;
  lo: number;
  hi: number;
}

/** A weighted layer as the sum of its products, in order, plus its bias. */
export interface LayerProducts {
  parts: ProductPart[];
  bias: Float32Array;
}

/**
 * Floats the widest activation of one native batch may hold (1 MiB): the addon splits larger
 * batches, so that each layer's activations stay in a core's cache.
 */
const BATCH_FLOATS = 1 << 18;

export interface NativeLogits {
  logits(data: Split, start: number, end: number): Promise<Float32Array>;
  dispose(): void;
}

/** `net`'s logits in the addon, its weighted layers computed as `layers` says; null where it cannot. */
export function nativeLogits(net: Network, layers: LayerProducts[]): NativeLogits | null {
  const addon = nativeAddon() as unknown as Partial<EvaluateAddon> | null;
  const spec = addon?.fusedEvaluator ? specOf(net) : null;
  if (!addon || !spec) return null;
  const { fusedEvaluator, fusedLogits, fusedFree } = addon as EvaluateAddon;
  const [h, w, c] = net.arch.inputShape;
  const classes = net.layers[net.layers.length - 1].outUnits;
  const widest = Math.max(h * w * c, ...net.layers.map((l) => l.outHeight * l.outWidth * l.outUnits));
  const products = Int32Array.from(layers.flatMap((l, i) => l.parts.flatMap((p) => [i, p.lo, p.hi])));
  const handle = fusedEvaluator(
    spec,
    h * w * c,
    classes,
    Math.max(1, Math.floor(BATCH_FLOATS / widest)),
    layers.flatMap((l) => l.parts.map((p) => p.kernel)),
    products,
    layers.map((l) => l.bias),
  );
  return {
    async logits(data, start, end) {
      const out = new Float32Array((end - start) * classes);
      const table = byteTable(c, data.input?.normalise);
      await fusedLogits(handle, data.images, start, end, c, table, threadsBesideTrainings(), out);
      return out;
    },
    dispose: () => fusedFree(handle),
  };
}
