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
import type { Split } from '../data/dataset';
import { lossAndGradients } from './backprop';
import type { OptimizerName } from './optimizer';
import type { OptimizerState } from './optimizerState';
import { type Bound, bind, unbind } from './network';
import { fusedTraining } from './fused';
import { augmentStream, imageBatch, oneHotBatch, shuffledIndices } from './batches';
import { type Updater, makeUpdater } from './updater';

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
  /**
   * false: train through tfjs ops even where the fused native step covers the network (it gives
   * the same floats; tests compare the two). Default true; `fusedUpdate: false` implies it.
   */
  fusedStep?: boolean;
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

/**
 * How one training takes its steps: the fused native step where it covers the network, else tfjs
 * ops over bound variables. Both give the same floats; the loop below cannot tell them apart.
 */
interface Stepper {
  /** One step on samples start..end of `order`; resolves to the batch's loss. */
  step(order: Uint32Array, start: number, end: number, augment?: Random): Promise<number>;
  params(): Promise<{ kernel: Float32Array; bias: Float32Array }[]>;
  optimizerState(): Promise<OptimizerState>;
  restore(state: OptimizerState): Promise<void>;
  dispose(): void;
}

function fusedStepper(net: Network, data: Split, options: TrainOptions): Stepper | null {
  if (options.fusedStep === false || options.fusedUpdate === false) return null;
  const f = fusedTraining(net, data, options);
  if (!f) return null;
  return {
    step: (order, start, end) => f.step(order, start, end),
    params: async () => f.params(),
    optimizerState: async () => f.optimizerState(),
    restore: async (state) => f.restore(state),
    dispose: () => f.close(),
  };
}

function tfjsStepper(net: Network, data: Split, options: TrainOptions): Stepper {
  const b = bind(net);
  const vars = [...b.kernels, ...b.biases];
  const updater = makeUpdater(options, vars, [...b.kernelMasks, ...b.biasMasks]);
  const training: Training = { net, bound: b, vars, data, updater, weightDecay: options.weightDecay };
  return {
    async step(order, start, end, augment) {
      const loss = trainStep(training, order, start, end, augment);
      const l = (await loss.data())[0];
      loss.dispose();
      return l;
    },
    params: () => readParams(b),
    optimizerState: () => updater.save(),
    restore: (state) => updater.restore(state),
    dispose() {
      unbind(b);
      updater.dispose();
    },
  };
}

/**
 * Milliseconds of training between turns of the event loop. A turn every batch cost 4-6% of a
 * small offspring's step (docs/results/performance-log.md); every 10 ms, a Ctrl-C still stops
 * the training at once.
 */
const TURN_MS = 10;

/**
 * Trains `net` in place for `options.epochs` epochs over `data`, batches drawn in an order set
 * by `rng`. Returns the mean loss of the last epoch.
 */
export async function trainNetwork(net: Network, data: Split, options: TrainOptions, rng: Random): Promise<number> {
  const batches = Math.ceil(data.count / options.batchSize);
  const first = firstEpoch(options);
  const stepper = fusedStepper(net, data, options) ?? tfjsStepper(net, data, options);
  let lastLoss = NaN;
  try {
    if (options.resume) await stepper.restore(options.resume.optimizer);
    for (let epoch = 0; epoch < options.epochs; epoch++) {
      const order = shuffledIndices(data.count, rng);
      const augment = augmentStream(data, rng);
      if (epoch < first) continue; // drawn as the uninterrupted training drew it, then skipped
      let sum = 0;
      let turned = performance.now();
      for (let batch = 0; batch < batches; batch++) {
        const start = batch * options.batchSize;
        const l = await stepper.step(order, start, Math.min(data.count, start + options.batchSize), augment);
        // A turn of the event loop every TURN_MS, so that a Ctrl-C is handled here.
        if (performance.now() - turned >= TURN_MS) {
          await new Promise(setImmediate);
          turned = performance.now();
        }
        sum += l;
        options.onBatch?.({ epoch, epochs: options.epochs, batch, batches, loss: l });
      }
      lastLoss = sum / batches;
      if (options.onEpochEnd && epoch < options.epochs - 1) {
        await options.onEpochEnd({
          epochsDone: epoch + 1,
          loss: lastLoss,
          params: await stepper.params(),
          optimizer: await stepper.optimizerState(),
        });
      }
    }
    (await stepper.params()).forEach((p, l) => {
      net.params[l].kernel = p.kernel;
      net.params[l].bias = p.bias;
    });
  } finally {
    stepper.dispose();
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

async function readParams(b: Bound): Promise<{ kernel: Float32Array; bias: Float32Array }[]> {
  return Promise.all(
    b.kernels.map(async (k, l) => ({
      kernel: (await k.data()) as Float32Array,
      bias: (await b.biases[l].data()) as Float32Array,
    })),
  );
}
