/**
 * Development of an offspring: masked training and evaluation with TensorFlow.js. Masked weights
 * stay exactly 0.0: the gradient is masked before the update and the mask is re-applied after it
 * (docs/method.md, "Development and selection"), never a kernel constraint.
 */
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's node bundle registers no gradients; tfjs-layers' bundle registers all of them.
import '@tensorflow/tfjs-layers';
import type { Network } from '../models/network';
import type { Random } from '../random';
import seedrandom from 'seedrandom';
import type { Split } from '../data/dataset';
import { byteTable, fillBatch } from '../data/preprocess';
import { liveUnits } from '../encoding/units';
import { kindOf } from '../models/layers';
import { opsOf } from './layerOps';
import { lossAndGradients } from './backprop';
import { sgdLearningRateScalar } from './tfjsInternals';
import { type OptimizerState, restoreOptimizerState, saveOptimizerState } from './optimizerState';
import { nativeImageBatch, nativeKernelsActive, nativeMaskedStep } from './kernels/native';

export const optimizerChoices = ['sgd', 'momentum', 'adam'] as const;
export type OptimizerName = (typeof optimizerChoices)[number];

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  optimizer: OptimizerName;
  /** L2 penalty: (weightDecay / 2) * sum of squared kernel weights is added to the loss (0: none). */
  weightDecay?: number;
  /** Called after every batch (for the progress bar). */
  onBatch?: (p: { epoch: number; epochs: number; batch: number; batches: number; loss: number }) => void;
  /**
   * Continues a training stopped after `epochsDone` epochs: the network holds the weights of
   * then, `optimizer` the optimizer's state. The skipped epochs' batch orders are still drawn
   * from the stream, so the rest trains exactly as it would have without the stop.
   */
  resume?: { epochsDone: number; optimizer: OptimizerState };
  /**
   * false: update through the tfjs optimizer even where the native fused step applies (it gives
   * the same floats; tests compare the two). Default true.
   */
  fusedUpdate?: boolean;
  /** After each finished epoch but the last: the weights and optimizer state then, for a checkpoint. */
  onEpochEnd?: (s: EpochState) => Promise<void> | void;
}

/** A training's state at the end of an epoch: enough to continue it exactly. */
export interface EpochState {
  epochsDone: number;
  /** That epoch's mean training loss. */
  loss: number;
  params: { kernel: Float32Array; bias: Float32Array }[];
  optimizer: OptimizerState;
}

/** The epoch training starts at, checked against the epoch count. */
function firstEpoch(options: Pick<TrainOptions, 'epochs' | 'resume'>): number {
  const e = options.resume?.epochsDone ?? 0;
  if (!Number.isInteger(e) || e < 0 || (e > 0 && e >= options.epochs)) {
    throw new RangeError(`cannot resume after epoch ${e} of ${options.epochs}`);
  }
  return e;
}

/** A network's variables and masks on the current backend. */
export interface Bound {
  kernels: tf.Variable[];
  biases: tf.Variable[];
  kernelMasks: tf.Tensor[];
  biasMasks: tf.Tensor[];
}

export function bind(net: Network): Bound {
  const units = liveUnits(
    net.layers,
    net.params.map((p) => p.mask),
  );
  return {
    // tidy disposes the initial-value tensors; the variables survive it.
    kernels: net.params.map((p, l) => tf.tidy(() => tf.variable(tf.tensor(p.kernel, net.layers[l].kernelShape), true))),
    biases: net.params.map((p, l) =>
      tf.tidy(() => tf.variable(tf.tensor1d(p.bias.map((b, u) => (units[l][u] ? b : 0))), true)),
    ),
    kernelMasks: net.params.map((p, l) => tf.tensor(Float32Array.from(p.mask), net.layers[l].kernelShape)),
    biasMasks: units.map((u) => tf.tensor1d(Float32Array.from(u))),
  };
}

export function unbind(b: Bound): void {
  tf.dispose([...b.kernels, ...b.biases, ...b.kernelMasks, ...b.biasMasks]);
}

/** The forward pass of the architecture, as tfjs ops over the bound variables. */
export function forward(net: Network, kernels: tf.Tensor[], biases: tf.Tensor[], x: tf.Tensor4D): tf.Tensor2D {
  let h: tf.Tensor = x;
  let l = 0;
  for (const spec of net.arch.layers) {
    if (kindOf(spec).weighted) {
      h = opsOf(spec).forward(spec, h, kernels[l], biases[l]);
      l++;
    } else {
      h = opsOf(spec).forward(spec, h);
    }
  }
  return h as tf.Tensor2D;
}

/**
 * A batch of images as floats, NHWC: x / 255, normalised as the split says; augmented when
 * `augment` is given (training only). `indices` null means samples start..end in order. Without
 * augmentation the native kernels gather it straight into the WASM heap (the same floats).
 */
function imageBatch(
  split: Split,
  indices: ArrayLike<number> | null,
  start: number,
  end: number,
  shape: number[],
  augment?: Random,
): tf.Tensor4D {
  const crop = split.input?.augment;
  if (!(crop && augment) && (indices === null || indices instanceof Uint32Array)) {
    const table = byteTable(shape[2], split.input?.normalise);
    const batch = nativeImageBatch({ images: split.images, indices, start, end, shape, table });
    if (batch) return batch;
  }
  const out = new Float32Array((end - start) * shape[0] * shape[1] * shape[2]);
  fillBatch(
    {
      split,
      indices,
      start,
      end,
      inputShape: shape,
      normalise: split.input?.normalise,
      augment: crop && augment ? { ...crop, rng: augment } : undefined,
    },
    out,
  );
  return tf.tensor4d(out, [end - start, shape[0], shape[1], shape[2]]);
}

/**
 * An epoch's augmentation stream: one draw from the training stream names it, taken only when the
 * split is augmented, so runs without augmentation draw exactly as before and a resumed training
 * (which redraws the skipped epochs' orders) gets the same streams.
 */
function augmentStream(split: Split, rng: Random): Random | undefined {
  return split.input?.augment ? seedrandom(`augment:${rng()}`) : undefined;
}

/**
 * The batch's labels one-hot, as floats: the 0s and 1s tf.oneHot's int32 tensor is cast to in
 * the loss, built here without the upload of the labels, the OneHot kernel and the cast.
 */
function oneHotBatch(
  split: Split,
  indices: ArrayLike<number>,
  start: number,
  end: number,
  classes: number,
): tf.Tensor2D {
  const out = new Float32Array((end - start) * classes);
  for (let i = start; i < end; i++) out[(i - start) * classes + split.labels[indices[i]]] = 1;
  return tf.tensor2d(out, [end - start, classes]);
}

export function makeOptimizer(o: Pick<TrainOptions, 'optimizer' | 'learningRate'>): tf.Optimizer {
  switch (o.optimizer) {
    case 'sgd':
      return tf.train.sgd(o.learningRate);
    case 'momentum':
      return tf.train.momentum(o.learningRate, MOMENTUM);
    case 'adam':
      return tf.train.adam(o.learningRate);
  }
}

/**
 * tfjs 4.22's MomentumOptimizer.dispose() skips its parent's learning-rate scalar (one tensor
 * leaked per offspring), so dispose that too.
 */
export function disposeOptimizer(optimizer: tf.Optimizer): void {
  const c = sgdLearningRateScalar(optimizer);
  optimizer.dispose();
  if (c && !c.isDisposed) c.dispose();
}

/** Fisher-Yates with the given stream, so the seed fixes the batch order. */
function shuffledIndices(n: number, rng: Random): Uint32Array {
  const a = new Uint32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
  return a;
}

/**
 * Trains `net` in place for `options.epochs` epochs over `data`, batches drawn in an order set
 * by `rng`. Returns the mean loss of the last epoch.
 */
export async function trainNetwork(net: Network, data: Split, options: TrainOptions, rng: Random): Promise<number> {
  const b = bind(net);
  const batches = Math.ceil(data.count / options.batchSize);
  const vars = [...b.kernels, ...b.biases];
  const masks = [...b.kernelMasks, ...b.biasMasks];
  const updater = makeUpdater(options, vars, masks);
  const training: Training = { net, bound: b, vars, data, updater, weightDecay: options.weightDecay };
  const first = firstEpoch(options);
  let lastLoss = NaN;
  try {
    if (options.resume) await updater.restore(options.resume.optimizer);
    for (let epoch = 0; epoch < options.epochs; epoch++) {
      const order = shuffledIndices(data.count, rng);
      const augment = augmentStream(data, rng);
      if (epoch < first) continue; // drawn as the uninterrupted training drew it, then skipped
      let sum = 0;
      for (let batch = 0; batch < batches; batch++) {
        const start = batch * options.batchSize;
        const loss = trainStep(training, order, start, Math.min(data.count, start + options.batchSize), augment);
        const l = (await loss.data())[0];
        // One turn of the event loop per batch (a few microseconds), so a Ctrl-C is handled here.
        await new Promise(setImmediate);
        loss.dispose();
        sum += l;
        options.onBatch?.({ epoch, epochs: options.epochs, batch, batches, loss: l });
      }
      lastLoss = sum / batches;
      if (options.onEpochEnd && epoch < options.epochs - 1) {
        await options.onEpochEnd({
          epochsDone: epoch + 1,
          loss: lastLoss,
          params: await readParams(b),
          optimizer: await updater.save(),
        });
      }
    }
    // Read the trained values back; the masks were re-applied after every step.
    (await readParams(b)).forEach((p, l) => {
      net.params[l].kernel = p.kernel;
      net.params[l].bias = p.bias;
    });
  } finally {
    unbind(b);
    updater.dispose();
  }
  return lastLoss;
}

/** What every step of one training reads: the network, its bound variables, the data, the update. */
interface Training {
  net: Network;
  bound: Bound;
  /** The bound kernels, then the biases: the order of the masks the updater holds. */
  vars: tf.Variable[];
  data: Split;
  updater: Updater;
  weightDecay?: number;
}

/** One masked step on samples start..end of `order`; returns the batch's loss, for the caller to dispose. */
function trainStep(t: Training, order: Uint32Array, start: number, end: number, augment?: Random): tf.Scalar {
  const { net, bound: b, data } = t;
  const classes = net.layers[net.layers.length - 1].outUnits;
  return tf.tidy(() => {
    const x = imageBatch(data, order, start, end, net.arch.inputShape, augment);
    const y = oneHotBatch(data, order, start, end, classes);
    const g = lossAndGradients(net, b.kernels, b.biases, x, y, t.weightDecay);
    const grads: tf.NamedTensorMap = {};
    b.kernels.forEach((k, l) => {
      grads[k.name] = g.kernels[l];
      grads[b.biases[l].name] = g.biases[l];
    });
    t.updater.step(grads);
    return g.loss;
  });
}

/** How a step's gradients change the variables: masked, with the optimizer's rule, masks held. */
interface Updater {
  step(grads: tf.NamedTensorMap): void;
  save(): Promise<OptimizerState>;
  restore(state: OptimizerState): Promise<void>;
  dispose(): void;
}

const MOMENTUM = 0.9;

/**
 * With the native kernels, SGD and momentum update each variable in one native call that gives
 * the same floats as the tfjs path below (tested) with ~70 fewer tfjs kernel calls per step,
 * most of a small network's step. Adam, other backends, and `fusedUpdate: false` take that path:
 * gradient times mask, the tfjs optimizer, weights times mask again.
 */
function makeUpdater(options: TrainOptions, vars: tf.Variable[], masks: tf.Tensor[]): Updater {
  if (
    options.fusedUpdate !== false &&
    nativeKernelsActive() &&
    (options.optimizer === 'momentum' || options.optimizer === 'sgd')
  ) {
    return fusedUpdater(options.optimizer, options.learningRate, vars, masks);
  }
  const optimizer = makeOptimizer(options);
  return {
    step(grads) {
      const masked: Record<string, tf.Tensor> = {};
      vars.forEach((v, i) => {
        masked[v.name] = tf.mul(grads[v.name], masks[i]);
      });
      optimizer.applyGradients(masked);
      vars.forEach((v, i) => {
        v.assign(tf.mul(v, masks[i]));
      });
    },
    save: () => saveOptimizerState(optimizer, options.optimizer),
    restore: (state) =>
      restoreOptimizerState(
        optimizer,
        state,
        vars.map((v) => v.shape),
      ),
    dispose: () => disposeOptimizer(optimizer),
  };
}

function fusedUpdater(
  name: 'momentum' | 'sgd',
  learningRate: number,
  vars: tf.Variable[],
  masks: tf.Tensor[],
): Updater {
  // The accumulators, zero like tfjs's, written in place (they share their memory with nobody).
  let accumulators = name === 'momentum' ? vars.map((v) => tf.zeros(v.shape)) : [];
  let iterations = 0;
  return {
    step(grads) {
      vars.forEach((v, i) => {
        const accumulator = name === 'momentum' ? accumulators[i] : null;
        nativeMaskedStep(v, grads[v.name], masks[i], accumulator, learningRate, MOMENTUM);
      });
      iterations++;
    },
    async save() {
      const slots = await Promise.all(
        accumulators.map(async (a) => Float32Array.from((await a.data()) as Float32Array)),
      );
      return { optimizer: name, iterations, slots, scalars: [] };
    },
    async restore(state) {
      if (state.optimizer !== name || state.slots.length !== accumulators.length) {
        throw new Error(
          `optimizer state for ${state.optimizer} with ${state.slots.length} slots, ` +
            `expected ${name} with ${accumulators.length}`,
        );
      }
      tf.dispose(accumulators);
      accumulators = state.slots.map((slot, i) => tf.tensor(Float32Array.from(slot), vars[i].shape));
      iterations = state.iterations;
    },
    dispose: () => tf.dispose(accumulators),
  };
}

async function readParams(b: Bound): Promise<{ kernel: Float32Array; bias: Float32Array }[]> {
  return Promise.all(
    b.kernels.map(async (k, l) => ({
      kernel: (await k.data()) as Float32Array,
      bias: (await b.biases[l].data()) as Float32Array,
    })),
  );
}

/** Top-1 accuracy over a split, in large batches. */
export async function evaluate(net: Network, data: Split, batchSize = 1000): Promise<number> {
  if (data.count === 0) return NaN;
  const b = bind(net);
  let correct = 0;
  try {
    for (let start = 0; start < data.count; start += batchSize) {
      const end = Math.min(data.count, start + batchSize);
      const predicted = tf.tidy(() =>
        tf.argMax(forward(net, b.kernels, b.biases, imageBatch(data, null, start, end, net.arch.inputShape)), 1),
      );
      const p = await predicted.data();
      predicted.dispose();
      for (let i = start; i < end; i++) if (p[i - start] === data.labels[i]) correct++;
    }
  } finally {
    unbind(b);
  }
  return correct / data.count;
}
