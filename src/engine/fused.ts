/**
 * The fused training step (native/fused.cc): a whole masked step, forward, loss, backward and
 * update, in one native call per batch on the network's own copies of its weights, with no tfjs
 * op at all. Each operation in it is the kernel or the float operation the tfjs path runs, in
 * the same order, so it gives the same weights (test/fusedStep.test.ts); what it removes is the
 * fixed cost of dispatching ~50 tfjs kernels a step, most of a small compacted offspring's step.
 * It covers what the addon covers: convolutions, max pools without padding, flattens and dense
 * layers with relu or linear activations, SGD or momentum, batches without augmentation.
 */
import { backend_util } from '@tensorflow/tfjs-core';
import type { Network } from '../models/network';
import type { LayerSpec } from '../models/layers';
import { liveUnits } from '../models/masks';
import type { Split } from '../data/dataset';
import { byteTable } from '../data/preprocess';
import { MOMENTUM, type OptimizerName } from './optimizer';
import type { OptimizerState } from './optimizerState';
import { nativeAddon, nativeKernelsActive, nativeThreads } from './kernels/native';

/** The addon's fused-step functions (see native/fused.cc for the argument order). */
interface FusedAddon {
  fusedCreate(spec: Int32Array, inSize: number, classes: number, maxBatch: number, ...rest: unknown[]): object;
  fusedStep(net: object, ...rest: unknown[]): number;
  fusedStepAsync(net: object, ...rest: unknown[]): Promise<number>;
  fusedRead(net: object, kernels: Float32Array[], biases: Float32Array[], accumulators: Float32Array[]): void;
  fusedRestore(net: object, accumulators: Float32Array[]): void;
}

/** Numbers per layer in the spec: kind, relu, then 12 of geometry. */
const SPEC_LENGTH = 14;
const KIND = { conv: 0, maxpool: 1, flatten: 2, dense: 3 } as const;

type Shape = [number, number, number];

/** A layer's spec row and the activation shape after it, or null when the fused step does not cover it. */
function rowOf(spec: LayerSpec, shape: Shape, kernelShape?: number[]): { row: number[]; shape: Shape } | null {
  const [h, w, c] = shape;
  if (spec.kind === 'conv') {
    const [kh, kw, cin, cout] = kernelShape!;
    const i = backend_util.computeConv2DInfo([1, h, w, cin], [kh, kw, cin, cout], spec.stride, 1, spec.padding);
    const geometry = [h, w, cin, i.outHeight, i.outWidth, cout, kh, kw, i.strideHeight, i.strideWidth];
    return { row: [KIND.conv, 0, ...geometry, i.padInfo.top, i.padInfo.left], shape: [i.outHeight, i.outWidth, cout] };
  }
  if (spec.kind === 'maxpool') {
    const p = backend_util.computePool2DInfo(
      [1, h, w, c],
      spec.size,
      spec.stride ?? spec.size,
      1,
      spec.padding ?? 'valid',
    );
    const { top, bottom, left, right } = p.padInfo;
    if (top || bottom || left || right || p.outHeight <= 0 || p.outWidth <= 0) return null;
    const window = [p.effectiveFilterHeight, p.effectiveFilterWidth, p.strideHeight, p.strideWidth];
    return { row: [KIND.maxpool, 0, h, w, c, p.outHeight, p.outWidth, ...window], shape: [p.outHeight, p.outWidth, c] };
  }
  if (spec.kind === 'flatten') return { row: [KIND.flatten], shape: [1, 1, h * w * c] };
  const [inputs, units] = kernelShape!;
  return h * w * c === inputs ? { row: [KIND.dense, 0, inputs, units], shape: [1, 1, units] } : null;
}

/** The network as the addon's spec, or null when a layer is one the fused step does not cover. */
export function specOf(net: Network): Int32Array | null {
  const spec = new Int32Array(net.arch.layers.length * SPEC_LENGTH);
  let shape: Shape = [...net.arch.inputShape] as Shape;
  let weighted = 0;
  for (const [i, layer] of net.arch.layers.entries()) {
    const isWeighted = layer.kind === 'conv' || layer.kind === 'dense';
    if (isWeighted && layer.activation !== 'relu' && layer.activation !== 'linear') return null;
    const r = rowOf(layer, shape, isWeighted ? net.layers[weighted++].kernelShape : undefined);
    if (!r) return null;
    spec.set(r.row, i * SPEC_LENGTH);
    if (isWeighted && layer.activation === 'relu') spec[i * SPEC_LENGTH + 1] = 1;
    shape = r.shape;
  }
  return shape[0] * shape[1] === 1 && weighted === net.layers.length ? spec : null;
}

/** What a fused training needs to know of its options. */
export interface FusedOptions {
  batchSize: number;
  learningRate: number;
  optimizer: OptimizerName;
  weightDecay?: number;
}

/** A network held by the addon for training: a step per batch, its weights and optimizer state on demand. */
export interface FusedTraining {
  /**
   * One step on samples start..end of `order`; the batch's loss. While other fused trainings are
   * open the step runs on a thread of libuv's pool, so that they train at once.
   */
  step(order: Uint32Array, start: number, end: number): Promise<number>;
  /** Lets the network go (the training is no longer open). */
  close(): void;
  params(): { kernel: Float32Array; bias: Float32Array }[];
  optimizerState(): OptimizerState;
  restore(state: OptimizerState): void;
}

/** Why the fused step cannot train `net` on `data` with `o`, or null when it can. */
function uncovered(data: Split, o: FusedOptions): string | null {
  if (!nativeKernelsActive()) return 'the native kernels are not active';
  if (o.optimizer !== 'sgd' && o.optimizer !== 'momentum') return `the ${o.optimizer} optimizer`;
  if (data.input?.augment) return 'augmented batches';
  return null;
}

/** The fused training of `net` on `data`, or null when the fused step does not cover it (the tfjs path then trains). */
export function fusedTraining(net: Network, data: Split, o: FusedOptions): FusedTraining | null {
  const spec = uncovered(data, o) === null ? specOf(net) : null;
  const addon = spec && (nativeAddon() as unknown as FusedAddon | null);
  if (!spec || !addon?.fusedCreate) return null;
  const units = liveUnits(
    net.layers,
    net.params.map((p) => p.mask),
  );
  const classes = net.layers[net.layers.length - 1].outUnits;
  const [h, w, c] = net.arch.inputShape;
  const momentum = o.optimizer === 'momentum' ? MOMENTUM : 0;
  const handle = addon.fusedCreate(
    spec,
    h * w * c,
    classes,
    o.batchSize,
    net.params.map((p) => p.kernel),
    net.params.map((p, l) => p.bias.map((b, u) => (units[l][u] ? b : 0))),
    net.params.map((p) => p.mask),
    units.map((u) => Float32Array.from(u)),
    Float64Array.of(o.learningRate, momentum, o.weightDecay ?? 0),
  );
  return wrap(addon, handle, net, { data, table: byteTable(c, data.input?.normalise), optimizer: o.optimizer });
}

/** Fused trainings open in this thread: with more than one, steps leave the JavaScript thread. */
let open = 0;

/** How many trainings can usefully run at once: the native threads when the fused step is there, else 1. */
export function parallelTrainings(): number {
  return nativeKernelsActive() ? nativeThreads() : 1;
}

/** Threads for one more task beside the fused trainings open (all of them when none is). */
export function threadsBesideTrainings(): number {
  return Math.max(1, Math.floor(nativeThreads() / (open + 1)));
}

function wrap(
  addon: FusedAddon,
  handle: object,
  net: Network,
  o: { data: Split; table: Float32Array; optimizer: OptimizerName },
): FusedTraining {
  let iterations = 0;
  const momentum = o.optimizer === 'momentum';
  const channels = net.arch.inputShape[2];
  const slots = () => (momentum ? [...net.params.map((p) => p.kernel), ...net.params.map((p) => p.bias)] : []);
  const read = () => {
    const params = net.params.map((p) => ({
      kernel: new Float32Array(p.kernel.length),
      bias: new Float32Array(p.bias.length),
    }));
    const accumulators = slots().map((s) => new Float32Array(s.length));
    addon.fusedRead(
      handle,
      params.map((p) => p.kernel),
      params.map((p) => p.bias),
      accumulators,
    );
    return { params, accumulators };
  };
  open++;
  let closed = false;
  return {
    async step(order, start, end) {
      // Trainings at once share the threads (the floats do not depend on their number).
      const threads = Math.max(1, Math.floor(nativeThreads() / open));
      const batch = [o.data.images, order, start, end, channels, o.table, o.data.labels, threads];
      iterations++;
      return open > 1 ? await addon.fusedStepAsync(handle, ...batch) : addon.fusedStep(handle, ...batch);
    },
    close() {
      if (!closed) open--;
      closed = true;
    },
    params: () => read().params,
    optimizerState: () => ({ optimizer: o.optimizer, iterations, slots: read().accumulators, scalars: [] }),
    restore(state) {
      if (state.optimizer !== o.optimizer || state.slots.length !== slots().length) {
        throw new Error(
          `optimizer state for ${state.optimizer} with ${state.slots.length} slots, expected ${o.optimizer}`,
        );
      }
      addon.fusedRestore(handle, state.slots);
      iterations = state.iterations;
    },
  };
}
