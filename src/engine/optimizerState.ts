/**
 * An optimizer's state as plain arrays, so a checkpoint can save it at an epoch's end and a
 * resumed run can restore it bit for bit.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { OptimizerName } from './optimizer';
import { adamBetaPowers } from './tfjsInternals';

export interface OptimizerState {
  optimizer: OptimizerName;
  /** Steps taken (tfjs's `iterations`). */
  iterations: number;
  /**
   * Per-variable slots in tfjs's getWeights order: none for sgd, one momentum accumulator per
   * variable, adam's first moments then its second moments. Variables are in training order.
   */
  slots: Float32Array[];
  /**
   * Adam's running beta1^t and beta2^t (float32). setWeights would recompute them with pow,
   * which rounds differently from the step-by-step products, so they are kept as they are.
   */
  scalars: number[];
}

/** Slots per variable for each optimizer. */
export function slotsPerVariable(name: OptimizerName): number {
  return name === 'sgd' ? 0 : name === 'momentum' ? 1 : 2;
}

export async function saveOptimizerState(optimizer: tf.Optimizer, name: OptimizerName): Promise<OptimizerState> {
  const weights = await optimizer.getWeights();
  try {
    const iterations = (await weights[0].tensor.data())[0];
    const slots = await Promise.all(
      weights.slice(1).map(async (w) => Float32Array.from((await w.tensor.data()) as Float32Array)),
    );
    const adam = name === 'adam' ? adamBetaPowers(optimizer) : undefined;
    const scalars = adam ? [(await adam.beta1.data())[0], (await adam.beta2.data())[0]] : [];
    return { optimizer: name, iterations, slots, scalars };
  } finally {
    weights[0].tensor.dispose(); // the 'iter' scalar is made for the call; the slots are the optimizer's own
  }
}

/**
 * Puts `state` into a fresh optimizer of the same kind. `shapes` are the trained variables'
 * shapes, in training order (kernels, then biases).
 */
export async function restoreOptimizerState(
  optimizer: tf.Optimizer,
  state: OptimizerState,
  shapes: number[][],
): Promise<void> {
  const per = slotsPerVariable(state.optimizer);
  if (state.slots.length !== per * shapes.length) {
    throw new Error(`optimizer state has ${state.slots.length} slots, expected ${per * shapes.length}`);
  }
  const tensors = [
    tf.scalar(state.iterations, 'int32'),
    ...state.slots.map((s, i) => tf.tensor(s, shapes[i % shapes.length])),
  ];
  try {
    // setWeights makes its own variables from these tensors (sharing their data, counted).
    await optimizer.setWeights(tensors.map((tensor, i) => ({ name: i === 0 ? 'iter' : `slot${i - 1}`, tensor })));
    const adam = state.optimizer === 'adam' ? adamBetaPowers(optimizer) : undefined;
    if (adam && state.scalars.length === 2) {
      const [b1, b2] = state.scalars;
      tf.tidy(() => {
        adam.beta1.assign(tf.scalar(b1));
        adam.beta2.assign(tf.scalar(b2));
      });
    }
  } finally {
    tf.dispose(tensors);
  }
}
